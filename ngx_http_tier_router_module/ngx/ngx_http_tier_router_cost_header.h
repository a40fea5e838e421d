
/*
 * Copyright (C) The tier router authors
 *
 * The cost in a response header: a non-streamed answer is held until
 * its usage is read, and sent with X-Tier-Router-Cost.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_COST_HEADER_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_COST_HEADER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


char *ngx_http_tier_router_cost_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_tier_router_cost_header_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_TIER_ROUTER_COST_HEADER_H_INCLUDED_ */
