
/*
 * Copyright (C) The tier router authors
 *
 * The string scan: the first byte of a JSON string's text that is not
 * plain ASCII (a quote, a backslash, a control character or a byte >=
 * 0x80), many bytes at a time; and the walk of a string's text that
 * passes the escapes standing for one byte as well, 64 bytes a step.
 * AVX-512, AVX2 and SSE2 versions and a scalar one, chosen once by what
 * the CPU has; each gives the same answer on every input
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
static const unsigned char *tr_strscan_walk_scalar(const unsigned char *p,
    const unsigned char *end, size_t *escapes);
static const unsigned char *tr_strscan_walk_first(const unsigned char *p,
    const unsigned char *end, size_t *escapes);
static inline const unsigned char *tr_strscan_block(
    const unsigned char **at, uint64_t mask, size_t *escapes);


/* bit i set: p[i] ends a plain run; reads p[0] to p[63] */
typedef uint64_t (*tr_strscan_mask_pt)(const unsigned char *p);


tr_strscan_pt       tr_strscan = tr_strscan_first;
tr_strscan_walk_pt  tr_strscan_walk = tr_strscan_walk_first;


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


/*
 * the escapes that stand for one byte: \" \\ \/ \b \f \n \r \t; 2 where
 * the escaped byte ends a plain run too
 */

static const unsigned char  tr_strscan_escape[256] = {
    ['"'] = 2, ['\\'] = 2, ['/'] = 1, ['b'] = 1, ['f'] = 1, ['n'] = 1,
    ['r'] = 1, ['t'] = 1
};


static const unsigned char *
tr_strscan_scalar(const unsigned char *p, const unsigned char *end)
{
    while (p < end && !tr_strscan_stop[*p]) {
        p++;
    }

    return p;
}


static const unsigned char *
tr_strscan_walk_scalar(const unsigned char *p, const unsigned char *end,
    size_t *escapes)
{
    for ( ;; ) {
        while (p < end && !tr_strscan_stop[*p]) {
            p++;
        }

        if (end - p < 2 || *p != '\\' || !tr_strscan_escape[p[1]]) {
            return p;
        }

        (*escapes)++;
        p += 2;
    }
}


/*
 * The stops of the 64 bytes at *at (mask, not 0), in turn: an escape that
 * stands for one byte is counted and passed with what it escapes, the
 * first other stop is returned; NULL when the block is passed, *at then
 * where the walk goes on.  The caller has more than 64 bytes from *at:
 * the byte after a backslash is there to read.
 */

static inline __attribute__((always_inline)) const unsigned char *
tr_strscan_block(const unsigned char **at, uint64_t mask, size_t *escapes)
{
    unsigned              i, e;
    const unsigned char  *p, *q;

    p = *at;

    do {
        i = (unsigned) __builtin_ctzll(mask);
        q = p + i;

        if (*q != '\\') {
            return q;
        }

        e = tr_strscan_escape[q[1]];

        if (e == 0) {
            return q;
        }

        (*escapes)++;
        mask &= mask - 1;

        if (e == 2) {
            /* \" or \\: what it escapes is a stop of its own */

            if (i == 63) {
                *at = p + 65;   /* and it opens the next block */
                return NULL;
            }

            mask &= mask - 1;
        }

    } while (mask);

    *at = p + 64;

    return NULL;
}


/*
 * The walk, 64 bytes a step by mask_of, the rest scalar: inlined into
 * each level's own, its mask computed in place
 */

static inline __attribute__((always_inline)) const unsigned char *
tr_strscan_walk_by(const unsigned char *p, const unsigned char *end,
    size_t *escapes, tr_strscan_mask_pt mask_of)
{
    size_t                n;
    uint64_t              mask;
    const unsigned char  *q;

    n = *escapes;
    q = NULL;

    while (end - p > 64) {
        mask = mask_of(p);

        if (mask == 0) {
            p += 64;
            continue;
        }

        q = tr_strscan_block(&p, mask, &n);

        if (q) {
            break;
        }
    }

    *escapes = n;

    return q ? q : tr_strscan_walk_scalar(p, end, escapes);
}


#if (TR_X86)

static inline __attribute__((always_inline, target("sse2"))) uint64_t
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


/*
 * a byte is plain if it is over 0x1f as a signed byte (no control
 * character, no byte >= 0x80) and not what the table holds at its low
 * four bits: '"' at 2, '\\' at 12, and 0xff (no ASCII byte) elsewhere
 */

static inline __attribute__((always_inline, target("avx2"))) uint64_t
tr_strscan_mask_avx2(const unsigned char *p)
{
    __m256i  lo, hi, table, low;

    table = _mm256_setr_epi8(-1, -1, '"', -1, -1, -1, -1, -1,
                             -1, -1, -1, -1, '\\', -1, -1, -1,
                             -1, -1, '"', -1, -1, -1, -1, -1,
                             -1, -1, -1, -1, '\\', -1, -1, -1);
    low = _mm256_set1_epi8(0x1f);

    lo = _mm256_loadu_si256((const __m256i *) p);
    hi = _mm256_loadu_si256((const __m256i *) (p + 32));

    lo = _mm256_andnot_si256(
             _mm256_cmpeq_epi8(_mm256_shuffle_epi8(table, lo), lo),
             _mm256_cmpgt_epi8(lo, low));
    hi = _mm256_andnot_si256(
             _mm256_cmpeq_epi8(_mm256_shuffle_epi8(table, hi), hi),
             _mm256_cmpgt_epi8(hi, low));

    return ~((uint64_t) (unsigned) _mm256_movemask_epi8(lo)
             | (uint64_t) (unsigned) _mm256_movemask_epi8(hi) << 32);
}


static inline __attribute__((always_inline,
    target("avx512f,avx512bw"))) uint64_t
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


__attribute__((target("sse2")))
static const unsigned char *
tr_strscan_walk_sse2(const unsigned char *p, const unsigned char *end,
    size_t *escapes)
{
    return tr_strscan_walk_by(p, end, escapes, tr_strscan_mask_sse2);
}


__attribute__((target("avx2")))
static const unsigned char *
tr_strscan_walk_avx2(const unsigned char *p, const unsigned char *end,
    size_t *escapes)
{
    return tr_strscan_walk_by(p, end, escapes, tr_strscan_mask_avx2);
}


__attribute__((target("avx512f,avx512bw")))
static const unsigned char *
tr_strscan_walk_avx512(const unsigned char *p, const unsigned char *end,
    size_t *escapes)
{
    return tr_strscan_walk_by(p, end, escapes, tr_strscan_mask_avx512);
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


tr_strscan_walk_pt
tr_strscan_walk_at(int level)
{
    if (tr_strscan_at(level) == NULL) {
        return NULL;
    }

    switch (level) {

#if (TR_X86)

    case TR_STRSCAN_SSE2:
        return tr_strscan_walk_sse2;

    case TR_STRSCAN_AVX2:
        return tr_strscan_walk_avx2;

    case TR_STRSCAN_AVX512:
        return tr_strscan_walk_avx512;

#endif

    default:
        return tr_strscan_walk_scalar;
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
    tr_strscan_walk = tr_strscan_walk_at(level);

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


static const unsigned char *
tr_strscan_walk_first(const unsigned char *p, const unsigned char *end,
    size_t *escapes)
{
    (void) tr_strscan_use(tr_strscan_best());

    return tr_strscan_walk(p, end, escapes);
}
