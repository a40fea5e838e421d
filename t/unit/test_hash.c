
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the keyed hash: SipHash-2-4 against the 64 vectors of the
 * authors' reference implementation (vectors.h: key 00..0f, messages
 * 00, 00 01, ... of lengths 0 to 63), longer messages, and the 128-bit
 * hash() built from it.
 */


#include <stdint.h>
#include <string.h>

#include "tr_hash.h"
#include "unit.h"


#define L(s)  (const unsigned char *) (s), sizeof(s) - 1


typedef unsigned char  u_char;


/* vectors_sip64 of the reference, as little-endian 64-bit numbers */

static const uint64_t  vectors[64] = {
    0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL,
    0x85676696d7fb7e2dULL, 0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL,
    0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL, 0x93f5f5799a932462ULL,
    0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
    0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL,
    0xa129ca6149be45e5ULL, 0x3f2acc7f57c29bdbULL, 0x699ae9f52cbe4794ULL,
    0x4bc1b3f0968dd39cULL, 0xbb6dc91da77961bdULL, 0xbed65cf21aa2ee98ULL,
    0xd0f2cbb02e3b67c7ULL, 0x93536795e3a33e88ULL, 0xa80c038ccd5ccec8ULL,
    0xb8ad50c6f649af94ULL, 0xbce192de8a85b8eaULL, 0x17d835b85bbb15f3ULL,
    0x2f2e6163076bcfadULL, 0xde4daaaca71dc9a5ULL, 0xa6a2506687956571ULL,
    0xad87a3535c49ef28ULL, 0x32d892fad841c342ULL, 0x7127512f72f27cceULL,
    0xa7f32346f95978e3ULL, 0x12e0b01abb051238ULL, 0x15e034d40fa197aeULL,
    0x314dffbe0815a3b4ULL, 0x027990f029623981ULL, 0xcadcd4e59ef40c4dULL,
    0x9abfd8766a33735cULL, 0x0e3ea96b5304a7d0ULL, 0xad0c42d6fc585992ULL,
    0x187306c89bc215a9ULL, 0xd4a60abcf3792b95ULL, 0xf935451de4f21df2ULL,
    0xa9538f0419755787ULL, 0xdb9acddff56ca510ULL, 0xd06c98cd5c0975ebULL,
    0xe612a3cb9ecba951ULL, 0xc766e62cfcadaf96ULL, 0xee64435a9752fe72ULL,
    0xa192d576b245165aULL, 0x0a8787bf8ecb74b2ULL, 0x81b3e73d20b49b6fULL,
    0x7fa8220ba3b2eceaULL, 0x245731c13ca42499ULL, 0xb78dbfaf3a8d83bdULL,
    0xea1ad565322a1a0bULL, 0x60e61c23a3795013ULL, 0x6606d7e446282b93ULL,
    0x6ca4ecb15c5f91e1ULL, 0x9f626da15c9625f3ULL, 0xe51b38608ef25f57ULL,
    0x958a324ceb064572ULL,
};


static void test_vectors(void);
static void test_long(void);
static void test_hash(void);
static void hex(const u_char *p, size_t len, char *out);


int
main(void)
{
    test_vectors();
    test_long();
    test_hash();

    return unit_done();
}


static void
test_vectors(void)
{
    u_char    key[16], in[64], shifted[72];
    unsigned  i, bad;

    for (i = 0; i < 16; i++) {
        key[i] = (u_char) i;
    }

    for (i = 0; i < 64; i++) {
        in[i] = (u_char) i;
    }

    /* the paper's example (appendix A) and the two ends of the table */

    UNIT_OK(tr_siphash(key, in, 15) == 0xa129ca6149be45e5ULL,
            "siphash: the paper's vector, 15 bytes 00..0e");
    UNIT_OK(tr_siphash(key, in, 0) == 0x726fdb47dd0e0e31ULL,
            "siphash: the empty message");
    UNIT_OK(tr_siphash(key, in, 63) == 0x958a324ceb064572ULL,
            "siphash: the last vector, 63 bytes 00..3e");

    bad = 0;

    for (i = 0; i < 64; i++) {
        if (tr_siphash(key, in, i) != vectors[i]) {
            UNIT_DIAG("length %u: got %016llx, expected %016llx", i,
                      (unsigned long long)
                          tr_siphash(key, in, i),
                      (unsigned long long) vectors[i]);
            bad++;
        }
    }

    UNIT_IS_INT(bad, 0, "siphash: all 64 reference vectors");

    /* the input is read byte by byte: no alignment is assumed */

    memcpy(shifted + 3, in, 63);

    UNIT_OK(tr_siphash(key, shifted + 3, 63) == vectors[63],
            "siphash: an unaligned message");
}


static void
test_long(void)
{
    u_char    key[16], in[1000];
    unsigned  i;

    for (i = 0; i < 16; i++) {
        key[i] = (u_char) i;
    }

    for (i = 0; i < sizeof(in); i++) {
        in[i] = (u_char) i;
    }

    /* beyond the table: values of an independent implementation */

    UNIT_OK(tr_siphash(key, in, 64) == 0xacd2c40b8502cad8ULL,
            "siphash: 64 bytes 00..3f");
    UNIT_OK(tr_siphash(key, in, 100) == 0x096f3fec85c52a7eULL,
            "siphash: 100 bytes");
    UNIT_OK(tr_siphash(key, in, 1000)
            == 0xdb9b3ed69e31c9a6ULL, "siphash: 1000 bytes");
}


static void
test_hash(void)
{
    char      got[33];
    u_char    key[16], key2[16], x[16], out[16], out2[16], in[64];
    uint64_t  h;
    unsigned  i;

    for (i = 0; i < 16; i++) {
        key[i] = (u_char) i;
        x[i] = key[i] ^ 0x5c;
    }

    for (i = 0; i < 64; i++) {
        in[i] = (u_char) i;
    }

    tr_hash(key, in, 15, out);

    /* the first half is siphash under the key, little-endian */

    h = 0;

    for (i = 0; i < 8; i++) {
        h |= (uint64_t) out[i] << (8 * i);
    }

    UNIT_OK(h == 0xa129ca6149be45e5ULL, "hash: first half is siphash(key)");

    /* the second half is siphash under the key XOR 0x5c */

    h = 0;

    for (i = 0; i < 8; i++) {
        h |= (uint64_t) out[8 + i] << (8 * i);
    }

    UNIT_OK(h == tr_siphash(x, in, 15),
            "hash: second half is siphash(key ^ 0x5c)");

    tr_hash(key, L("sk-tenant-0001"), out);
    hex(out, 16, got);
    UNIT_IS_STR(got, "9ec37baa40bb4dc2de67b93baa67a627",
                "hash: a tenant's key, all 128 bits");

    tr_hash(key, in, 64, out);
    hex(out, 16, got);
    UNIT_IS_STR(got, "d8ca02850bc4d2aca8b23db505b90b7a",
                "hash: 64 bytes, all 128 bits");

    tr_hash((const u_char *) "0123456789abcdef",
            (const u_char *) "", 0, out);
    hex(out, 16, got);
    UNIT_IS_STR(got, "b89eddd48ac332aeb68f3364b6f6af05",
                "hash: the empty message under an ASCII key");

    /* deterministic; another key or message gives another hash */

    tr_hash(key, L("sk-tenant-0001"), out);
    tr_hash(key, L("sk-tenant-0001"), out2);
    UNIT_OK(memcmp(out, out2, 16) == 0, "hash: the same input, the same hash");

    memcpy(key2, key, 16);
    key2[15] ^= 0x01;

    tr_hash(key2, L("sk-tenant-0001"), out2);
    UNIT_OK(memcmp(out, out2, 8) != 0 && memcmp(out + 8, out2 + 8, 8) != 0,
            "hash: a key differing in one bit gives another hash, both "
            "halves");

    tr_hash(key, L("sk-tenant-0002"), out2);
    UNIT_OK(memcmp(out, out2, 16) != 0,
            "hash: another tenant's key gives another hash");

    /* the halves differ: the derived key is not the key */

    UNIT_OK(memcmp(out, out + 8, 8) != 0, "hash: the two halves differ");
}


static void
hex(const u_char *p, size_t len, char *out)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        sprintf(out + 2 * i, "%02x", p[i]);
    }

    out[2 * len] = '\0';
}
