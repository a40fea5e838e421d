
/*
 * Copyright (C) The tier router authors
 *
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012), 64 bits of output; key and message are read as little-endian
 * 64-bit words whatever the machine's byte order.
 */


#include "tr_hash.h"


#define tr_rotl(x, b)                                      \
    (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

#define tr_sipround(v0, v1, v2, v3)                        \
    do {                                                                     \
        v0 += v1;                                                            \
        v1 = tr_rotl(v1, 13);                              \
        v1 ^= v0;                                                            \
        v0 = tr_rotl(v0, 32);                              \
        v2 += v3;                                                            \
        v3 = tr_rotl(v3, 16);                              \
        v3 ^= v2;                                                            \
        v0 += v3;                                                            \
        v3 = tr_rotl(v3, 21);                              \
        v3 ^= v0;                                                            \
        v2 += v1;                                                            \
        v1 = tr_rotl(v1, 17);                              \
        v1 ^= v2;                                                            \
        v2 = tr_rotl(v2, 32);                              \
    } while (0)


static uint64_t tr_le64(const unsigned char *p);
static void tr_put_le64(unsigned char *p, uint64_t v);


uint64_t
tr_siphash(const unsigned char key[16],
    const unsigned char *in, size_t len)
{
    size_t                i, left;
    uint64_t              k0, k1, v0, v1, v2, v3, m, b;
    const unsigned char  *end;

    k0 = tr_le64(key);
    k1 = tr_le64(key + 8);

    v0 = k0 ^ 0x736f6d6570736575ULL;
    v1 = k1 ^ 0x646f72616e646f6dULL;
    v2 = k0 ^ 0x6c7967656e657261ULL;
    v3 = k1 ^ 0x7465646279746573ULL;

    left = len & 7;
    end = in + (len - left);

    for ( /* void */ ; in != end; in += 8) {
        m = tr_le64(in);

        v3 ^= m;
        tr_sipround(v0, v1, v2, v3);
        tr_sipround(v0, v1, v2, v3);
        v0 ^= m;
    }

    /* the last word: the remaining bytes, and the length's low byte on top */

    b = (uint64_t) (len & 0xff) << 56;

    for (i = 0; i < left; i++) {
        b |= (uint64_t) in[i] << (8 * i);
    }

    v3 ^= b;
    tr_sipround(v0, v1, v2, v3);
    tr_sipround(v0, v1, v2, v3);
    v0 ^= b;

    v2 ^= 0xff;

    for (i = 0; i < 4; i++) {
        tr_sipround(v0, v1, v2, v3);
    }

    return v0 ^ v1 ^ v2 ^ v3;
}


/*
 * 128 bits: SipHash-2-4 under the key, then under the key with every byte
 * XORed with 0x5c, each written little-endian.
 */

void
tr_hash(const unsigned char key[16],
    const unsigned char *in, size_t len, unsigned char out[16])
{
    unsigned       i;
    uint64_t       h;
    unsigned char  key2[16];

    for (i = 0; i < 16; i++) {
        key2[i] = key[i] ^ 0x5c;
    }

    h = tr_siphash(key, in, len);
    tr_put_le64(out, h);

    h = tr_siphash(key2, in, len);
    tr_put_le64(out + 8, h);
}


static uint64_t
tr_le64(const unsigned char *p)
{
    return (uint64_t) p[0]
           | (uint64_t) p[1] << 8
           | (uint64_t) p[2] << 16
           | (uint64_t) p[3] << 24
           | (uint64_t) p[4] << 32
           | (uint64_t) p[5] << 40
           | (uint64_t) p[6] << 48
           | (uint64_t) p[7] << 56;
}


static void
tr_put_le64(unsigned char *p, uint64_t v)
{
    unsigned  i;

    for (i = 0; i < 8; i++) {
        p[i] = (unsigned char) (v >> (8 * i));
    }
}
