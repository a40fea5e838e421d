
/*
 * Copyright (C) The tier router authors
 *
 * The string scan: the first byte of a JSON string's text that is not
 * plain ASCII (a quote, a backslash, a control character or a byte >=
 * 0x80), many bytes at a time; or all of them in 64 bytes, as a
 * mask.  AVX-512, AVX2 and SSE2 versions and a scalar one, chosen once by
 * what the CPU has; each gives the same answer on every input
 * (t/unit/test_strscan.c, and fuzz/fuzz_extract.c against the scalar
 * one).  Pure C, no nginx.
 *
 * The vector versions test each byte b for b == '"', b == '\\' or, as a
 * signed byte, b < 0x20: bytes >= 0x80 are negative, so that one compare
 * finds both control characters and the start of a UTF-8 sequence.
 */


#include <stddef.h>

#if (defined __x86_64__ && (defined __GNUC__ || defined __clang__))
#define TR_X86  1
#include <immintrin.h>
#endif

#include "tr_strscan.h"


static const unsigned char *tr_strscan_scalar(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *tr_strscan_first(const unsigned char *p,
    const unsigned char *end);
static uint64_t tr_strscan_mask_scalar(const unsigned char *p);
static uint64_t tr_strscan_mask_first(const unsigned char *p);


tr_strscan_pt       tr_strscan = tr_strscan_first;
tr_strscan_mask_pt  tr_strscan_mask = tr_strscan_mask_first;


/* 1: ends the plain run */

static const unsigned char  tr_strscan_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
};


static const unsigned char *
tr_strscan_scalar(const unsigned char *p, const unsigned char *end)
{
    while (p < end && !tr_strscan_stop[*p]) {
        p++;
    }

    return p;
}


static uint64_t
tr_strscan_mask_scalar(const unsigned char *p)
{
    unsigned  i;
    uint64_t  mask;

    mask = 0;

    for (i = 0; i < 64; i++) {
        mask |= (uint64_t) tr_strscan_stop[p[i]] << i;
    }

    return mask;
}


#if (TR_X86)

__attribute__((target("sse2")))
static uint64_t
tr_strscan_mask_sse2(const unsigned char *p)
{
    unsigned  i;
    uint64_t  mask;
    __m128i   v, quote, slash, space, hit;

    quote = _mm_set1_epi8('"');
    slash = _mm_set1_epi8('\\');
    space = _mm_set1_epi8(0x20);
    mask = 0;

    for (i = 0; i < 64; i += 16) {
        v = _mm_loadu_si128((const __m128i *) (p + i));

        hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                        _mm_cmpeq_epi8(v, slash)),
                           _mm_cmplt_epi8(v, space));

        mask |= (uint64_t) (unsigned) _mm_movemask_epi8(hit) << i;
    }

    return mask;
}


__attribute__((target("avx2")))
static uint64_t
tr_strscan_mask_avx2(const unsigned char *p)
{
    __m256i  lo, hi, quote, slash, space;

    quote = _mm256_set1_epi8('"');
    slash = _mm256_set1_epi8('\\');
    space = _mm256_set1_epi8(0x20);

    lo = _mm256_loadu_si256((const __m256i *) p);
    hi = _mm256_loadu_si256((const __m256i *) (p + 32));

    lo = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(lo, quote),
                                         _mm256_cmpeq_epi8(lo, slash)),
                         _mm256_cmpgt_epi8(space, lo));
    hi = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(hi, quote),
                                         _mm256_cmpeq_epi8(hi, slash)),
                         _mm256_cmpgt_epi8(space, hi));

    return (uint64_t) (unsigned) _mm256_movemask_epi8(lo)
           | (uint64_t) (unsigned) _mm256_movemask_epi8(hi) << 32;
}


__attribute__((target("avx512f,avx512bw")))
static uint64_t
tr_strscan_mask_avx512(const unsigned char *p)
{
    __m512i  v;

    v = _mm512_loadu_si512((const void *) p);

    return _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('"'))
           | _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\\'))
           | _mm512_cmplt_epi8_mask(v, _mm512_set1_epi8(0x20));
}


__attribute__((target("sse2")))
static const unsigned char *
tr_strscan_sse2(const unsigned char *p, const unsigned char *end)
{
    int      mask;
    __m128i  v, quote, slash, space, hit;

    quote = _mm_set1_epi8('"');
    slash = _mm_set1_epi8('\\');
    space = _mm_set1_epi8(0x20);

    while (end - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);

        hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                        _mm_cmpeq_epi8(v, slash)),
                           _mm_cmplt_epi8(v, space));

        mask = _mm_movemask_epi8(hit);

        if (mask) {
            return p + __builtin_ctz((unsigned) mask);
        }

        p += 16;
    }

    return tr_strscan_scalar(p, end);
}


__attribute__((target("avx2")))
static const unsigned char *
tr_strscan_avx2(const unsigned char *p, const unsigned char *end)
{
    unsigned  mask;
    __m256i   v, quote, slash, space, hit;

    quote = _mm256_set1_epi8('"');
    slash = _mm256_set1_epi8('\\');
    space = _mm256_set1_epi8(0x20);

    while (end - p >= 32) {
        v = _mm256_loadu_si256((const __m256i *) p);

        hit = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, quote),
                                              _mm256_cmpeq_epi8(v, slash)),
                              _mm256_cmpgt_epi8(space, v));

        mask = (unsigned) _mm256_movemask_epi8(hit);

        if (mask) {
            return p + __builtin_ctz(mask);
        }

        p += 32;
    }

    return tr_strscan_sse2(p, end);
}


__attribute__((target("avx512f,avx512bw")))
static const unsigned char *
tr_strscan_avx512(const unsigned char *p, const unsigned char *end)
{
    __m512i             v, quote, slash, space;
    unsigned long long  mask;

    quote = _mm512_set1_epi8('"');
    slash = _mm512_set1_epi8('\\');
    space = _mm512_set1_epi8(0x20);

    while (end - p >= 64) {
        v = _mm512_loadu_si512((const void *) p);

        mask = _mm512_cmpeq_epi8_mask(v, quote)
               | _mm512_cmpeq_epi8_mask(v, slash)
               | _mm512_cmplt_epi8_mask(v, space);

        if (mask) {
            return p + __builtin_ctzll(mask);
        }

        p += 64;
    }

    return tr_strscan_avx2(p, end);
}

#endif


tr_strscan_pt
tr_strscan_at(int level)
{
    switch (level) {

    case TR_STRSCAN_SCALAR:
        return tr_strscan_scalar;

#if (TR_X86)

    case TR_STRSCAN_SSE2:
        return __builtin_cpu_supports("sse2") ? tr_strscan_sse2 : NULL;

    case TR_STRSCAN_AVX2:
        return __builtin_cpu_supports("avx2") ? tr_strscan_avx2 : NULL;

    case TR_STRSCAN_AVX512:
        return (__builtin_cpu_supports("avx512f")
                && __builtin_cpu_supports("avx512bw"))
               ? tr_strscan_avx512 : NULL;

#endif

    default:
        return NULL;
    }
}


tr_strscan_mask_pt
tr_strscan_mask_at(int level)
{
    if (tr_strscan_at(level) == NULL) {
        return NULL;
    }

    switch (level) {

#if (TR_X86)

    case TR_STRSCAN_SSE2:
        return tr_strscan_mask_sse2;

    case TR_STRSCAN_AVX2:
        return tr_strscan_mask_avx2;

    case TR_STRSCAN_AVX512:
        return tr_strscan_mask_avx512;

#endif

    default:
        return tr_strscan_mask_scalar;
    }
}


int
tr_strscan_best(void)
{
    int  level;

    for (level = TR_STRSCAN_AVX512; level > TR_STRSCAN_SCALAR; level--) {
        if (tr_strscan_at(level)) {
            break;
        }
    }

    return level;
}


int
tr_strscan_use(int level)
{
    while (level > TR_STRSCAN_SCALAR && tr_strscan_at(level) == NULL) {
        level--;
    }

    if (level < TR_STRSCAN_SCALAR) {
        level = TR_STRSCAN_SCALAR;
    }

    tr_strscan = tr_strscan_at(level);
    tr_strscan_mask = tr_strscan_mask_at(level);

    return level;
}


const char *
tr_strscan_name(int level)
{
    static const char  *names[] = { "scalar", "sse2", "avx2", "avx512" };

    return (level >= 0 && level <= TR_STRSCAN_AVX512) ? names[level] : "?";
}


/* the first call picks the best the CPU has, then scans */

static const unsigned char *
tr_strscan_first(const unsigned char *p, const unsigned char *end)
{
    (void) tr_strscan_use(tr_strscan_best());

    return tr_strscan(p, end);
}


static uint64_t
tr_strscan_mask_first(const unsigned char *p)
{
    (void) tr_strscan_use(tr_strscan_best());

    return tr_strscan_mask(p);
}
