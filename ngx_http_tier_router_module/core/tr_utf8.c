
/*
 * Copyright (C) The tier router authors
 *
 * UTF-8 validation: one sequence at a time (tr_utf8_seq, in the header,
 * inlined where text is mostly ASCII), a range that way, and a range 32
 * bytes a step with AVX2.  t/unit/test_strscan.c checks both against a
 * decoder on every sequence cut at every place; fuzz/fuzz_extract.c
 * compares the walks that use them.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if (defined __x86_64__ && (defined __GNUC__ || defined __clang__))
#define TR_X86  1
#include <immintrin.h>
#endif

#include "tr_utf8.h"


const uint32_t  tr_utf8_lead[128] = {
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0xbf8002, 0xbf8002,
    0xbf8002, 0xbf8002, 0xbf8002, 0xbf8002,
    0xbf8002, 0xbf8002, 0xbf8002, 0xbf8002,
    0xbf8002, 0xbf8002, 0xbf8002, 0xbf8002,
    0xbf8002, 0xbf8002, 0xbf8002, 0xbf8002,
    0xbf8002, 0xbf8002, 0xbf8002, 0xbf8002,
    0xbf8002, 0xbf8002, 0xbf8002, 0xbf8002,
    0xbf8002, 0xbf8002, 0xbf8002, 0xbf8002,
    0xbfa003, 0xbf8003, 0xbf8003, 0xbf8003,
    0xbf8003, 0xbf8003, 0xbf8003, 0xbf8003,
    0xbf8003, 0xbf8003, 0xbf8003, 0xbf8003,
    0xbf8003, 0x9f8003, 0xbf8003, 0xbf8003,
    0xbf9004, 0xbf8004, 0xbf8004, 0xbf8004,
    0x8f8004, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000,
    0x000000, 0x000000, 0x000000, 0x000000
};


int
tr_utf8_valid(const unsigned char *p, const unsigned char *end)
{
    size_t  n;

    while (p < end) {

        if (*p < 0x80) {
            p++;
            continue;
        }

        n = tr_utf8_seq(p, end);

        if (n == 0) {
            return 0;
        }

        p += n;
    }

    return 1;
}


#if (TR_X86)

/*
 * Keiser and Lemire, "Validating UTF-8 in less than one instruction per
 * byte" (2021): each byte with the one before it classified by three
 * nibble lookups whose AND is the error of that pair; the third and
 * fourth bytes of a sequence by saturating subtractions two and three
 * bytes back.  The error classes, a bit each:
 */

#define TR_U_TOO_SHORT    0x01  /* a lead, then no continuation */
#define TR_U_TOO_LONG     0x02  /* ASCII, then a continuation */
#define TR_U_OVERLONG_3   0x04  /* e0, then 80 .. 9f */
#define TR_U_TOO_LARGE    0x08  /* f4, then 90 .. bf; f5 .. ff */
#define TR_U_SURROGATE    0x10  /* ed, then a0 .. bf */
#define TR_U_OVERLONG_2   0x20  /* c0, c1 */
#define TR_U_TOO_LARGE_1000  0x40  /* f5 .. ff, then 80 .. 8f */
#define TR_U_OVERLONG_4   0x40  /* f0, then 80 .. 8f */
#define TR_U_TWO_CONTS    0x80  /* a continuation after a continuation */
#define TR_U_CARRY        (TR_U_TOO_SHORT | TR_U_TOO_LONG | TR_U_TWO_CONTS)

/* the classes of a lead's low nibble, of a continuation's high one */

#define TR_U_CARRY_LARGE  (TR_U_CARRY | TR_U_TOO_LARGE | TR_U_TOO_LARGE_1000)
#define TR_U_CONT_1000    (TR_U_TOO_LONG | TR_U_OVERLONG_2 | TR_U_TWO_CONTS   \
                           | TR_U_OVERLONG_3 | TR_U_TOO_LARGE_1000            \
                           | TR_U_OVERLONG_4)
#define TR_U_CONT_1001    (TR_U_TOO_LONG | TR_U_OVERLONG_2 | TR_U_TWO_CONTS   \
                           | TR_U_OVERLONG_3 | TR_U_TOO_LARGE)
#define TR_U_CONT_101     (TR_U_TOO_LONG | TR_U_OVERLONG_2 | TR_U_TWO_CONTS   \
                           | TR_U_SURROGATE | TR_U_TOO_LARGE)


/* a table of 16 bytes for a nibble's lookup, in both 16-byte lanes */

#define tr_utf8_table(...)                                                   \
    _mm256_broadcastsi128_si256(_mm_setr_epi8(__VA_ARGS__))


/* the 32 bytes before v and v, as the bytes n back from each of v's */

#define tr_utf8_prev(v, prev, n)                                             \
    _mm256_alignr_epi8(v, _mm256_permute2x128_si256(prev, v, 0x21), 16 - n)


static inline __attribute__((always_inline, target("avx2"))) __m256i
tr_utf8_check(__m256i v, __m256i prev)
{
    __m256i  prev1, prev2, prev3, low, b1h, b1l, b2h, must23;

    low = _mm256_set1_epi8(0x0f);

    prev1 = tr_utf8_prev(v, prev, 1);

    b1h = _mm256_shuffle_epi8(tr_utf8_table(
        TR_U_TOO_LONG, TR_U_TOO_LONG, TR_U_TOO_LONG, TR_U_TOO_LONG,
        TR_U_TOO_LONG, TR_U_TOO_LONG, TR_U_TOO_LONG, TR_U_TOO_LONG,
        (char) TR_U_TWO_CONTS, (char) TR_U_TWO_CONTS,
        (char) TR_U_TWO_CONTS, (char) TR_U_TWO_CONTS,
        TR_U_TOO_SHORT | TR_U_OVERLONG_2,
        TR_U_TOO_SHORT,
        TR_U_TOO_SHORT | TR_U_OVERLONG_3 | TR_U_SURROGATE,
        TR_U_TOO_SHORT | TR_U_TOO_LARGE | TR_U_TOO_LARGE_1000
        | TR_U_OVERLONG_4),
        _mm256_and_si256(_mm256_srli_epi16(prev1, 4), low));

    b1l = _mm256_shuffle_epi8(tr_utf8_table(
        (char) (TR_U_CARRY | TR_U_OVERLONG_3 | TR_U_OVERLONG_2
                | TR_U_OVERLONG_4),
        (char) (TR_U_CARRY | TR_U_OVERLONG_2),
        (char) TR_U_CARRY, (char) TR_U_CARRY,
        (char) (TR_U_CARRY | TR_U_TOO_LARGE),
        (char) TR_U_CARRY_LARGE, (char) TR_U_CARRY_LARGE,
        (char) TR_U_CARRY_LARGE, (char) TR_U_CARRY_LARGE,
        (char) TR_U_CARRY_LARGE, (char) TR_U_CARRY_LARGE,
        (char) TR_U_CARRY_LARGE, (char) TR_U_CARRY_LARGE,
        (char) (TR_U_CARRY_LARGE | TR_U_SURROGATE),
        (char) TR_U_CARRY_LARGE, (char) TR_U_CARRY_LARGE),
        _mm256_and_si256(prev1, low));

    b2h = _mm256_shuffle_epi8(tr_utf8_table(
        TR_U_TOO_SHORT, TR_U_TOO_SHORT, TR_U_TOO_SHORT, TR_U_TOO_SHORT,
        TR_U_TOO_SHORT, TR_U_TOO_SHORT, TR_U_TOO_SHORT, TR_U_TOO_SHORT,
        (char) TR_U_CONT_1000, (char) TR_U_CONT_1001,
        (char) TR_U_CONT_101, (char) TR_U_CONT_101,
        TR_U_TOO_SHORT, TR_U_TOO_SHORT, TR_U_TOO_SHORT, TR_U_TOO_SHORT),
        _mm256_and_si256(_mm256_srli_epi16(v, 4), low));

    /*
     * a third or fourth byte: e0 .. ff two back, f0 .. ff three back;
     * their high bit, less the pairs' own verdict, is the error
     */

    prev2 = tr_utf8_prev(v, prev, 2);
    prev3 = tr_utf8_prev(v, prev, 3);

    must23 = _mm256_or_si256(
                 _mm256_subs_epu8(prev2, _mm256_set1_epi8(0x60)),
                 _mm256_subs_epu8(prev3, _mm256_set1_epi8(0x70)));

    return _mm256_xor_si256(
               _mm256_and_si256(must23, _mm256_set1_epi8((char) 0x80)),
               _mm256_and_si256(_mm256_and_si256(b1h, b1l), b2h));
}


__attribute__((target("avx2")))
int
tr_utf8_valid_avx2(const unsigned char *p, const unsigned char *end)
{
    size_t         n;
    __m256i        v, prev, error;
    unsigned char  tail[32];

    prev = _mm256_setzero_si256();
    error = _mm256_setzero_si256();

    while (end - p >= 32) {
        v = _mm256_loadu_si256((const __m256i *) p);

        /* an ASCII step after a complete one has nothing to check */

        if (_mm256_movemask_epi8(_mm256_or_si256(v, prev)) != 0) {
            error = _mm256_or_si256(error, tr_utf8_check(v, prev));
        }

        prev = v;
        p += 32;
    }

    /* the rest, then spaces: a sequence cut short by the end is one */

    n = (size_t) (end - p);

    memset(tail, ' ', sizeof(tail));

    if (n) {
        memcpy(tail, p, n);
    }

    v = _mm256_loadu_si256((const __m256i *) tail);
    error = _mm256_or_si256(error, tr_utf8_check(v, prev));

    return _mm256_testz_si256(error, error);
}

#endif
