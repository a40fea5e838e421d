
/*
 * Copyright (C) The tier router authors
 *
 * Tier shares in shared memory: one calibration (calibrate.c) for all
 * workers, so that the observed shares track the targets across them;
 * the tier_router_shares directive, routing by it, and its status.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_SHARES_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_SHARES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


char *ngx_http_tier_router_shares(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_shares_check(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf);
ngx_uint_t ngx_http_tier_router_shares_route(
    ngx_http_tier_router_shares_t *shares, double score);
ngx_buf_t *ngx_http_tier_router_shares_status(ngx_http_request_t *r,
    ngx_http_tier_router_shares_t *shares, ngx_uint_t prometheus);


#endif /* _NGX_HTTP_TIER_ROUTER_SHARES_H_INCLUDED_ */
