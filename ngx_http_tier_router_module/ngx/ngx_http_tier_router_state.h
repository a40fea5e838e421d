
/*
 * Copyright (C) The tier router authors
 *
 * The state file of a budget zone, so that spend survives a restart: JSON
 * written to a temporary file and renamed over the old one, read into a
 * fresh zone at start.  A missing or bad file is logged, never fatal.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_STATE_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_STATE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


ngx_int_t ngx_http_tier_router_state_save(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log);
ngx_int_t ngx_http_tier_router_state_load(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log);
ngx_int_t ngx_http_tier_router_state_dir(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log);


#endif /* _NGX_HTTP_TIER_ROUTER_STATE_H_INCLUDED_ */
