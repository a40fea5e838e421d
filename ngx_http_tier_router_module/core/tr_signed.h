
/*
 * Copyright (C) The tier router authors
 *
 * Signed reasoning out of a history: for a request that goes to another
 * model than the one that thought it, Anthropic thinking blocks become
 * text blocks with their readable text, redacted_thinking blocks go, and
 * OpenAI reasoning items become assistant messages with their readable
 * summary (or go, with none).  Every other byte stays as the client sent
 * it.  Pure C, no allocation: the caller counts, allocates, then writes.
 */


#ifndef _TR_SIGNED_H_INCLUDED_
#define _TR_SIGNED_H_INCLUDED_


#include <stddef.h>


#define TR_SIGNED_FAILED  ((size_t) -1)


typedef struct {
    unsigned                     stripped;      /* blocks or items */
    unsigned                     kept;          /* ... kept as text */
    unsigned                     last_turn:1;   /* Anthropic: the last
                                                   assistant message had
                                                   some: thinking must be
                                                   off for this request */
} tr_signed_t;


/*
 * The body without its signed reasoning: its length, written to out
 * unless out is NULL (a count); TR_SIGNED_FAILED if the body is not a
 * JSON object of the dialect's shape (the extractor has read it first,
 * so that is a bug, and the body is left as it is).
 */

size_t tr_signed_strip(const unsigned char *in, size_t len, int dialect,
    unsigned char *out, tr_signed_t *st);


#endif /* _TR_SIGNED_H_INCLUDED_ */
