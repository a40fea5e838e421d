
/*
 * Copyright (C) The tier router authors
 *
 * Tier ladders: the tiers a location climbs, cheapest first; the
 * tier_router_tier, tier_router_ladder and tier_router_use directives.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_LADDER_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_LADDER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


char *ngx_http_tier_router_tier(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_ladder(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_use(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_tier_router_ladder_t *ngx_http_tier_router_ladder_add(
    ngx_conf_t *cf, ngx_http_tier_router_main_conf_t *trmcf,
    ngx_str_t *name);
char *ngx_http_tier_router_ladders_init(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf);
char *ngx_http_tier_router_ladder_merge(ngx_conf_t *cf,
    ngx_http_tier_router_loc_conf_t *prev,
    ngx_http_tier_router_loc_conf_t *conf);
ngx_int_t ngx_http_tier_router_ladder_speaks(
    ngx_http_tier_router_loc_conf_t *trlcf, ngx_int_t dialect);
ngx_int_t ngx_http_tier_router_find_tier(
    ngx_http_tier_router_main_conf_t *trmcf,
    ngx_http_tier_router_ladder_t *ladder, u_char *name, size_t len);


#endif /* _NGX_HTTP_TIER_ROUTER_LADDER_H_INCLUDED_ */
