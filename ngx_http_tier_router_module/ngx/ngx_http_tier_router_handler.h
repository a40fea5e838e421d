
/*
 * Copyright (C) The tier router authors
 *
 * The request path: the precontent phase handler reads the body of a
 * routed API request (after allow/deny, auth_basic and auth_request have
 * passed), extracts what routing needs in one bounded pass, classifies
 * it, picks a tier within the operator's floor and cap and the budget,
 * and leaves the choice in $tier_router_upstream for proxy_pass.  What is
 * not routed passes on (metered under a budget).
 */


#ifndef _NGX_HTTP_TIER_ROUTER_HANDLER_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_HANDLER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


ngx_int_t ngx_http_tier_router_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TIER_ROUTER_HANDLER_H_INCLUDED_ */
