
/*
 * Copyright (C) The tier router authors
 *
 * The request body: one contiguous view of what the client sent (memory
 * or temp file), and the body sent upstream, the client's own buffers
 * sliced around the splices that put the tier's model in it; or, for
 * another model than the one that signed its history, a copy without
 * its signed reasoning.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_BODY_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_BODY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"

#include "tr_extract.h"


ngx_int_t ngx_http_tier_router_retarget(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_tier_router_ctx_t *actx,
    ngx_uint_t logprobs);
ngx_int_t ngx_http_tier_router_body_in_one(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
void ngx_http_tier_router_body_read(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
ngx_int_t ngx_http_tier_router_body(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body);
ngx_int_t ngx_http_tier_router_replace(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body, tr_request_t *req,
    ngx_http_tier_router_tier_t *tier, ngx_uint_t logprobs);
ngx_int_t ngx_http_tier_router_unsign(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body, tr_request_t *req);
void ngx_http_tier_router_body_exit(ngx_cycle_t *cycle);
extern tr_request_t  ngx_http_tier_router_req;


#endif /* _NGX_HTTP_TIER_ROUTER_BODY_H_INCLUDED_ */
