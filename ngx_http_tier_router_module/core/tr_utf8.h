
/*
 * Copyright (C) The tier router authors
 *
 * UTF-8 as RFC 3629 allows it (no overlong forms, no UTF-16 surrogates,
 * nothing over U+10FFFF): one sequence at a time, inline, for text that
 * is mostly ASCII; or a whole range at once, 32 bytes a step with AVX2
 * (the lookup algorithm of Keiser and Lemire), for text that is not.
 * Pure C, no nginx.
 */


#ifndef _TR_UTF8_H_INCLUDED_
#define _TR_UTF8_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * a byte >= 0x80 as a sequence's first, by the byte less 0x80: the
 * sequence's length, and the range of its second byte at bits 8 and 16;
 * 0: it starts none
 */

extern const uint32_t  tr_utf8_lead[128];


/* the length of the sequence at p (2 to 4; *p >= 0x80), 0 if not one */

static inline size_t
tr_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    size_t    n;
    uint32_t  v;

    v = tr_utf8_lead[*p - 0x80];
    n = v & 0xff;

    if (n == 0 || (size_t) (end - p) < n
        || p[1] < ((v >> 8) & 0xff) || p[1] > (v >> 16))
    {
        return 0;
    }

    if (n > 2 && ((p[2] & 0xc0) != 0x80
                  || (n > 3 && (p[3] & 0xc0) != 0x80)))
    {
        return 0;
    }

    return n;
}


/* 1: [p, end) is valid UTF-8, 0: it is not; one sequence at a time */
int tr_utf8_valid(const unsigned char *p, const unsigned char *end);

#if (defined __x86_64__ && (defined __GNUC__ || defined __clang__))

/* the same, 32 bytes a step: only where the CPU has AVX2 */
int tr_utf8_valid_avx2(const unsigned char *p, const unsigned char *end);

#endif


#endif /* _TR_UTF8_H_INCLUDED_ */
