
/*
 * Copyright (C) The tier router authors
 *
 * Spend accounting for a routed request: admission reserves its worst
 * case in the tenant's budget (and caps or refuses), the usage filters
 * (usage_filter.c) read the token usage the upstream reports, and the log
 * phase settles the reservation to the real cost, once, however the
 * request ended.  Unrouted calls under a budget are metered here too.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_ACCOUNT_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_ACCOUNT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"

#include "tr_extract.h"


ngx_int_t ngx_http_tier_router_admit(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, tr_request_t *req,
    size_t body_len);
ngx_int_t ngx_http_tier_router_meter(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
ngx_int_t ngx_http_tier_router_account_init(ngx_conf_t *cf);
char *ngx_http_tier_router_budget(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_budget_soft(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_budget_soft_merge(ngx_conf_t *cf,
    ngx_http_tier_router_loc_conf_t *conf);
char *ngx_http_tier_router_budget_clock(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
time_t ngx_http_tier_router_clock(ngx_http_request_t *r);
int64_t ngx_http_tier_router_cost_now(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
ngx_int_t ngx_http_tier_router_account_key(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *label);
ngx_int_t ngx_http_tier_router_account_again(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
void ngx_http_tier_router_account_hand_over(ngx_http_request_t *sr,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_ctx_t *actx);
void ngx_http_tier_router_account_close(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);


#endif /* _NGX_HTTP_TIER_ROUTER_ACCOUNT_H_INCLUDED_ */
