
/*
 * Copyright (C) The tier router authors
 *
 * Sessions: the tier a conversation is on, in a shared memory zone, so
 * that it only moves up, keeps its model under signed reasoning, and a
 * regenerate goes one tier up.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_SESSION_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_SESSION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"

#include "tr_extract.h"


char *ngx_http_tier_router_session_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_session(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_session_merge(ngx_conf_t *cf,
    ngx_http_tier_router_loc_conf_t *prev,
    ngx_http_tier_router_loc_conf_t *conf);
ngx_int_t ngx_http_tier_router_session_route(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body, tr_request_t *req,
    ngx_uint_t first, ngx_uint_t last, ngx_int_t *index, const char **why);
ngx_uint_t ngx_http_tier_router_session_strip(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, tr_request_t *req, ngx_uint_t tier);
void ngx_http_tier_router_session_answered(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, u_char *id, size_t len);


#endif /* _NGX_HTTP_TIER_ROUTER_SESSION_H_INCLUDED_ */
