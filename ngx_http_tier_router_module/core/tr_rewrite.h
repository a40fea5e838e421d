
/*
 * Copyright (C) The tier router authors
 *
 * The request rewriter: splices the routed model (and a tier's reasoning
 * parameters) into a body the extractor has read; every other byte stays
 * as the client sent it.  Pure C, no nginx dependency.
 */


#ifndef _TR_REWRITE_H_INCLUDED_
#define _TR_REWRITE_H_INCLUDED_


#include <stddef.h>
#include "tr_extract.h"


/* Anthropic thinking, as a tier sends it */

#define TR_THINKING_AUTO      0    /* enabled where reasoning is set */
#define TR_THINKING_ENABLED   1    /* {"type":"enabled","budget_tokens"} */
#define TR_THINKING_ADAPTIVE  2    /* {"type":"adaptive"}, effort in     */
                                   /* output_config                      */
#define TR_THINKING_OFF       3    /* the client's thinking dropped      */


typedef struct {
    const unsigned char  *model;     /* plain name: no quote, backslash or */
    size_t                model_len; /* control character (checked at     */
                                     /* configuration time), < MODEL_LEN  */
    unsigned              reasoning; /* 0 keep the client's, 1..3 set it  */
    const char           *effort;    /* set it, any of the APIs' words    */
                                     /* (overrides reasoning's); NULL: by */
                                     /* reasoning                         */
    unsigned              thinking;  /* TR_THINKING_*                     */
    long                  thinking_budget;  /* Anthropic budget_tokens    */
    unsigned              drop;      /* 1 << TR_PARAM_*: members removed  */
    int                   rename;    /* TR_PARAM_* renamed; -1: none      */
    const char           *rename_to; /* its new key: a plain name         */
    unsigned              stream_usage;     /* make a chat stream report  */
                                            /* its usage (include_usage)  */
    unsigned              logprobs;         /* make a chat answer carry   */
                                            /* its tokens' logprobs       */
} tr_edit_t;


/*
 * The rewrite as at most 16 splices, ordered by position: replace the
 * body's bytes [start, end) by data[0 .. len).  The module hands them on
 * as buffers between slices of the client's own buffers (no copy of the
 * body); rewrite() below writes the same result to one piece of memory.
 */

#define TR_SPLICES     16
#define TR_SPLICE_LEN  (TR_MODEL_LEN + 192)


typedef struct {
    size_t                           start;
    size_t                           end;
    size_t                           len;
    unsigned char                    data[TR_SPLICE_LEN];
} tr_splice_t;


typedef struct {
    tr_splice_t    splice[TR_SPLICES];
    unsigned       n;
} tr_plan_t;


void tr_rewrite_plan(const tr_request_t *req, const tr_edit_t *edit,
    tr_plan_t *pl);

/* the members of the plan's drop and rename that the body has */

unsigned tr_rewrite_dropped(const tr_request_t *req, const tr_edit_t *edit);
int tr_rewrite_renamed(const tr_request_t *req, const tr_edit_t *edit);

/* the length of the rewritten body */

size_t tr_rewrite_size(const unsigned char *body, size_t len,
    const tr_request_t *req, const tr_edit_t *edit);

/* writes the rewritten body to out, which holds rewrite_size() bytes */

size_t tr_rewrite(const unsigned char *body, size_t len,
    const tr_request_t *req, const tr_edit_t *edit, unsigned char *out);

/* the same two for a plan made already: the body's length after it */

size_t tr_plan_size(size_t len, const tr_plan_t *pl);

/* the body with the plan's splices, to out (tr_plan_size() bytes) */

size_t tr_plan_apply(const unsigned char *body, size_t len,
    const tr_plan_t *pl, unsigned char *out);

/*
 * Anthropic wants budget_tokens below max_tokens (and at least 1024): a
 * tier's thinking budget shrinks to fit the request's max_tokens, or no
 * thinking is added where none fits.  Adaptive thinking has no budget and
 * always fits.  Other dialects are left as they are.
 */

void tr_rewrite_thinking(const tr_request_t *req, tr_edit_t *edit);


#endif /* _TR_REWRITE_H_INCLUDED_ */
