
/*
 * Copyright (C) The tier router authors
 *
 * The string scan: the first byte of a JSON string's text that is not
 * plain ASCII (a quote, a backslash, a control character or a byte >=
 * 0x80), many bytes at a time; and the walk of a string's text that
 * passes the escapes standing for one byte as well.  AVX-512, AVX2 and
 * SSE2 versions and a scalar one, chosen once by what the CPU has; each
 * gives the same answer on every input
 * (t/unit/test_strscan.c, and fuzz/fuzz_extract.c against the scalar
 * one).  Pure C, no nginx.
 */


#ifndef _TR_STRSCAN_H_INCLUDED_
#define _TR_STRSCAN_H_INCLUDED_


#define TR_STRSCAN_SCALAR   0
#define TR_STRSCAN_SSE2     1
#define TR_STRSCAN_AVX2     2
#define TR_STRSCAN_AVX512   3


#include <stddef.h>
#include <stdint.h>


typedef const unsigned char *(*tr_strscan_pt)(const unsigned char *p,
    const unsigned char *end);

/*
 * From p in a string's text: passes plain bytes, valid UTF-8 sequences
 * and the escapes that stand for one byte (\" \\ \/ \b \f \n \r \t),
 * adding one to *escapes for each of those; returns the first other stop
 * (the closing quote, any other backslash, a control character, a byte
 * >= 0x80 that does not start a valid sequence) or end
 */
typedef const unsigned char *(*tr_strscan_walk_pt)(const unsigned char *p,
    const unsigned char *end, size_t *escapes);


/* the scan in use: the best the CPU has, until tr_strscan_use() */

extern tr_strscan_pt       tr_strscan;
extern tr_strscan_walk_pt  tr_strscan_walk;

/* the best level the CPU (and the build) has */
int tr_strscan_best(void);

/* use that level (or the best one under it); returns the level used */
int tr_strscan_use(int level);

/* a level's scan, or NULL if the CPU or the build has not got it */
tr_strscan_pt tr_strscan_at(int level);
tr_strscan_walk_pt tr_strscan_walk_at(int level);

const char *tr_strscan_name(int level);


#endif /* _TR_STRSCAN_H_INCLUDED_ */
