
/*
 * Copyright (C) The tier router authors
 *
 * The prices the configuration gives: tier_router_price directives and
 * LiteLLM catalogs, from a file or fetched from a URL when the
 * configuration loads, and the price of each tier's model.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_CATALOG_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_CATALOG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"

#include "tr_price.h"


char *ngx_http_tier_router_price(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_price_catalog_conf(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_tier_router_price_tiers(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf);
tr_price_t *ngx_http_tier_router_price_of(
    ngx_http_tier_router_main_conf_t *trmcf, ngx_str_t *model,
    ngx_uint_t *here);


#endif /* _NGX_HTTP_TIER_ROUTER_CATALOG_H_INCLUDED_ */
