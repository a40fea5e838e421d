
/*
 * Copyright (C) The tier router authors
 *
 * Attempts across tiers: with tier_router_fallback, each tier is tried in
 * a subrequest that clones the main request where the router left it (so
 * it runs the location's own proxy_pass, to $tier_router_upstream).  An
 * attempt's response header decides: a failure the operator named goes
 * no further (its body is dropped as it comes) and the next tier is
 * tried, if there is one, attempts are left and the tenant's budget
 * covers it; anything else becomes the client's answer, whose header the
 * main request sends then and whose body streams on as it arrives.  So
 * nothing reaches the client before the final attempt is chosen, and no
 * attempt is held in memory.  Each attempt is charged on its own.
 *
 * With tier_router_escalate, a non-streaming answer of status 200 from a
 * tier below the request's cap is held instead (up to
 * tier_router_escalate_buffer), and judged with jansson once complete: an
 * answer cut short, empty, refused or not the JSON asked for is dropped
 * and the next tier up is tried; a good one is sent by the main request.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_ATTEMPT_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_ATTEMPT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


ngx_int_t ngx_http_tier_router_attempt_first(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
ngx_int_t ngx_http_tier_router_attempt_wake(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
ngx_int_t ngx_http_tier_router_attempt_init(ngx_conf_t *cf);
ngx_uint_t ngx_http_tier_router_attempt_logprobs(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_uint_t tier, ngx_uint_t nth);
char *ngx_http_tier_router_escalate_weights(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_tier_router_escalate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
extern ngx_conf_bitmask_t  ngx_http_tier_router_fallback_masks[];


#endif /* _NGX_HTTP_TIER_ROUTER_ATTEMPT_H_INCLUDED_ */
