
/*
 * Copyright (C) The tier router authors
 *
 * The request rewriter: splices the routed model (and a tier's reasoning
 * parameters) into a body the extractor has read; every other byte stays
 * as the client sent it.  Pure C, no nginx dependency.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_REWRITE_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_REWRITE_H_INCLUDED_


#include <stddef.h>
#include "ngx_http_tier_router_extract.h"


typedef struct {
    const unsigned char  *model;     /* plain name: no quote, backslash or */
    size_t                model_len; /* control character (checked at     */
                                     /* configuration time), <= MODEL_LEN */
    unsigned              reasoning; /* 0 keep the client's, 1..3 set it  */
    long                  thinking_budget;  /* Anthropic budget_tokens    */
} ngx_http_tier_router_edit_t;


/* the length of the rewritten body */

size_t ngx_http_tier_router_rewrite_size(const unsigned char *body,
    size_t len, const ngx_http_tier_router_request_t *req,
    const ngx_http_tier_router_edit_t *edit);

/* writes the rewritten body to out, which holds rewrite_size() bytes */

size_t ngx_http_tier_router_rewrite(const unsigned char *body, size_t len,
    const ngx_http_tier_router_request_t *req,
    const ngx_http_tier_router_edit_t *edit, unsigned char *out);


#endif /* _NGX_HTTP_TIER_ROUTER_REWRITE_H_INCLUDED_ */
