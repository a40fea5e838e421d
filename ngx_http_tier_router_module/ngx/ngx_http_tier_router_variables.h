
/*
 * Copyright (C) The tier router authors
 *
 * The $tier_router_* variables: what the router decided, for proxy_pass
 * and for access logs.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_VARIABLES_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_VARIABLES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


ngx_int_t ngx_http_tier_router_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_TIER_ROUTER_VARIABLES_H_INCLUDED_ */
