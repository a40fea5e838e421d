
/*
 * Copyright (C) The tier router authors
 *
 * Routes each LLM API request to the cheapest model tier able to do it:
 * reads the body in the precontent phase (after allow/deny, auth_basic
 * and auth_request have passed), extracts what routing needs in one
 * bounded pass, classifies it, picks a tier, splices the tier's model
 * into the body and leaves the choice in $tier_router_upstream for
 * proxy_pass.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_MODULE_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


extern ngx_module_t  ngx_http_tier_router_module;


#endif /* _NGX_HTTP_TIER_ROUTER_MODULE_H_INCLUDED_ */
