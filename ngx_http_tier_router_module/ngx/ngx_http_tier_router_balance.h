
/*
 * Copyright (C) The tier router authors
 *
 * The calling tenant's own budget: a location that answers it.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_BALANCE_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_BALANCE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


char *ngx_http_tier_router_balance(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_balance_merge(ngx_conf_t *cf,
    ngx_http_tier_router_loc_conf_t *conf);


#endif /* _NGX_HTTP_TIER_ROUTER_BALANCE_H_INCLUDED_ */
