
/*
 * Copyright (C) The tier router authors
 *
 * The string scan: the first byte of a JSON string's text that is not
 * plain ASCII (a quote, a backslash, a control character or a byte >=
 * 0x80), many bytes at a time; and the walk of a string's text that
 * passes the escapes standing for one byte and valid UTF-8 sequences as
 * well, 64 bytes a step.  AVX-512, AVX2 and SSE2 versions and a scalar
 * one, chosen once by what the CPU has; each gives the same answer on
 * every input (t/unit/test_strscan.c, and fuzz/fuzz_extract.c against
 * the scalar one).  Pure C, no nginx.
 *
 * The AVX2 and AVX-512 levels also need BMI1 and BMI2 (tzcnt, blsr and
 * shrx in the walk's step: 0.7k fewer instructions at 64 KB), which every
 * CPU with AVX2 has in practice; without them the SSE2 level is used.
 *
 * The vector versions test each byte b for b == '"', b == '\\' or, as a
 * signed byte, b < 0x20: bytes >= 0x80 are negative, so that one compare
 * finds both control characters and the start of a UTF-8 sequence.  The
 * walk's "wide" masks, for text that is not ASCII, compare unsigned:
 * control characters only.
 */


#include <stddef.h>

#if (defined __x86_64__ && (defined __GNUC__ || defined __clang__))
#define TR_X86  1
#include <immintrin.h>
#endif

#include "tr_strscan.h"
#include "tr_utf8.h"


static const unsigned char *tr_strscan_scalar(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *tr_strscan_first(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *tr_strscan_walk_scalar(const unsigned char *p,
    const unsigned char *end, size_t *escapes);
static const unsigned char *tr_strscan_walk_first(const unsigned char *p,
    const unsigned char *end, size_t *escapes);
static inline const unsigned char *tr_strscan_block(
    const unsigned char **at, const unsigned char *end, uint64_t mask,
    size_t *escapes, int dense);


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
    size_t  n;

    for ( ;; ) {
        p = tr_strscan_scalar(p, end);

        if (p == end) {
            return p;
        }

        if (*p == '\\') {
            if (end - p < 2 || !tr_strscan_escape[p[1]]) {
                return p;
            }

            (*escapes)++;
            p += 2;
            continue;
        }

        n = (*p >= 0x80) ? tr_utf8_seq(p, end) : 0;

        if (n == 0) {
            return p;
        }

        p += n;
    }
}


/*
 * The stops of the 64 bytes at *at (mask, not 0), in turn: an escape that
 * stands for one byte is counted and passed with what it escapes, a
 * UTF-8 sequence is passed, the first other stop is returned; NULL when
 * the block is passed, *at then where the walk goes on.  The caller has
 * more than 64 bytes from *at: the byte after a backslash is there to
 * read.  Every byte of a sequence is >= 0x80, a stop: its bits are
 * cleared together.  If dense, six such bytes in a row end the block's
 * walk there: text that is not ASCII is checked as a whole, faster.
 */

static inline __attribute__((always_inline)) const unsigned char *
tr_strscan_block(const unsigned char **at, const unsigned char *end,
    uint64_t mask, size_t *escapes, int dense)
{
    size_t                i, n;
    unsigned              e;
    const unsigned char  *p, *q;

    p = *at;

    do {
        q = p + __builtin_ctzll(mask);

        if (__builtin_expect(*q == '\\', 1)) {
            e = tr_strscan_escape[q[1]];
            mask &= mask - 1;

            if (__builtin_expect(e == 1, 1)) {
                (*escapes)++;
                continue;
            }

            if (e == 0) {
                return q;
            }

            /* \" or \\: what it escapes is a stop of its own */

            (*escapes)++;

            if (q - p == 63) {
                *at = p + 65;   /* and it opens the next block */
                return NULL;
            }

            mask &= mask - 1;
            continue;
        }

        i = (size_t) (q - p);

        if (*q < 0x80) {
            return q;           /* the quote, or a control character */
        }

        if (dense && ((mask >> i) & 0x3f) == 0x3f) {
            return q;           /* six bytes >= 0x80 in a row: no ASCII */
        }

        n = tr_utf8_seq(q, end);

        if (n == 0) {
            return q;           /* a byte to refuse */
        }

        if (i + n >= 64) {
            *at = q + n;        /* the block ends with it, or in it */
            return NULL;
        }

        /* no stop is below this one: all under its end are cleared */

        mask &= ~(uint64_t) 0 << (i + n);

    } while (mask);

    *at = p + 64;

    return NULL;
}


/*
 * The walk, 64 bytes a step by mask_of, the rest scalar: inlined into
 * each level's own, its mask computed in place.  With dense, it may stop
 * at a byte >= 0x80 that starts a valid sequence (tr_strscan_block).
 */

static inline __attribute__((always_inline)) const unsigned char *
tr_strscan_walk_by(const unsigned char *p, const unsigned char *end,
    size_t *escapes, tr_strscan_mask_pt mask_of, int dense)
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

        q = tr_strscan_block(&p, end, mask, &n, dense);

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


/* '"' and '\\' by the table at their low four bits, 0xff elsewhere */

static inline __attribute__((always_inline, target("avx2"))) __m256i
tr_strscan_quotes_avx2(__m256i v)
{
    __m256i  table;

    table = _mm256_setr_epi8(-1, -1, '"', -1, -1, -1, -1, -1,
                             -1, -1, -1, -1, '\\', -1, -1, -1,
                             -1, -1, '"', -1, -1, -1, -1, -1,
                             -1, -1, -1, -1, '\\', -1, -1, -1);

    return _mm256_cmpeq_epi8(_mm256_shuffle_epi8(table, v), v);
}


/* the 64 bits of the bytes that are not plain, from two halves' plain */

static inline __attribute__((always_inline, target("avx2"))) uint64_t
tr_strscan_stops_avx2(__m256i lo, __m256i hi)
{
    return ~((uint64_t) (unsigned) _mm256_movemask_epi8(lo)
             | (uint64_t) (unsigned) _mm256_movemask_epi8(hi) << 32);
}


/*
 * a byte is plain if it is over 0x1f as a signed byte (no control
 * character, no byte >= 0x80) and not '"' or '\\'
 */

static inline __attribute__((always_inline, target("avx2"))) uint64_t
tr_strscan_mask_avx2(const unsigned char *p)
{
    __m256i  lo, hi, low;

    low = _mm256_set1_epi8(0x1f);

    lo = _mm256_loadu_si256((const __m256i *) p);
    hi = _mm256_loadu_si256((const __m256i *) (p + 32));

    return tr_strscan_stops_avx2(
               _mm256_andnot_si256(tr_strscan_quotes_avx2(lo),
                                   _mm256_cmpgt_epi8(lo, low)),
               _mm256_andnot_si256(tr_strscan_quotes_avx2(hi),
                                   _mm256_cmpgt_epi8(hi, low)));
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


/* the same, bytes >= 0x80 plain: '"', '\\' and control characters */

static inline __attribute__((always_inline, target("avx2"))) uint64_t
tr_strscan_wide_avx2(const unsigned char *p)
{
    __m256i  lo, hi, space;

    space = _mm256_set1_epi8(0x20);

    lo = _mm256_loadu_si256((const __m256i *) p);
    hi = _mm256_loadu_si256((const __m256i *) (p + 32));

    return tr_strscan_stops_avx2(
               _mm256_andnot_si256(tr_strscan_quotes_avx2(lo),
                          _mm256_cmpeq_epi8(_mm256_max_epu8(lo, space), lo)),
               _mm256_andnot_si256(tr_strscan_quotes_avx2(hi),
                          _mm256_cmpeq_epi8(_mm256_max_epu8(hi, space), hi)));
}


static inline __attribute__((always_inline,
    target("avx512f,avx512bw"))) uint64_t
tr_strscan_wide_avx512(const unsigned char *p)
{
    __m512i  v;

    v = _mm512_loadu_si512((const void *) p);

    return _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('"'))
           | _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('\\'))
           | _mm512_cmplt_epu8_mask(v, _mm512_set1_epi8(0x20));
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
    uint64_t  mask;

    while (end - p >= 64) {
        mask = tr_strscan_mask_avx512(p);

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
    return tr_strscan_walk_by(p, end, escapes, tr_strscan_mask_sse2, 0);
}


/*
 * The walk of a level that checks UTF-8 32 bytes a step: text that is not
 * ASCII (tr_strscan_block's dense) is walked to the string's end with
 * bytes >= 0x80 as plain (wide_of), then checked as UTF-8 at once; where
 * it is not, walked again a sequence at a time to find the byte to refuse
 */

static inline __attribute__((always_inline)) const unsigned char *
tr_strscan_walk_text(const unsigned char *p, const unsigned char *end,
    size_t *escapes, tr_strscan_mask_pt mask_of, tr_strscan_mask_pt wide_of)
{
    size_t                n;
    const unsigned char  *q, *r;

    q = tr_strscan_walk_by(p, end, escapes, mask_of, 1);

    if (q == end || *q < 0x80) {
        return q;
    }

    n = *escapes;
    r = tr_strscan_walk_by(q, end, escapes, wide_of, 0);

    if (tr_utf8_valid_avx2(q, r)) {
        return r;
    }

    *escapes = n;

    return tr_strscan_walk_scalar(q, end, escapes);
}


__attribute__((target("avx2,bmi,bmi2")))
static const unsigned char *
tr_strscan_walk_avx2(const unsigned char *p, const unsigned char *end,
    size_t *escapes)
{
    return tr_strscan_walk_text(p, end, escapes, tr_strscan_mask_avx2,
                                tr_strscan_wide_avx2);
}


__attribute__((target("avx512f,avx512bw,bmi,bmi2")))
static const unsigned char *
tr_strscan_walk_avx512(const unsigned char *p, const unsigned char *end,
    size_t *escapes)
{
    return tr_strscan_walk_text(p, end, escapes, tr_strscan_mask_avx512,
                                tr_strscan_wide_avx512);
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
        return (__builtin_cpu_supports("avx2")
                && __builtin_cpu_supports("bmi")
                && __builtin_cpu_supports("bmi2"))
               ? tr_strscan_avx2 : NULL;

    case TR_STRSCAN_AVX512:
        return (__builtin_cpu_supports("avx512f")
                && __builtin_cpu_supports("avx512bw")
                && __builtin_cpu_supports("bmi")
                && __builtin_cpu_supports("bmi2"))
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
