
/*
 * Copyright (C) The tier router authors
 *
 * Errors shaped like the dialect's own, so that SDKs show them as they
 * show the provider's: OpenAI {"error":{...}}, Anthropic
 * {"type":"error","error":{...}}.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_ERROR_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_ERROR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


ngx_int_t ngx_http_tier_router_send_error(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);


#endif /* _NGX_HTTP_TIER_ROUTER_ERROR_H_INCLUDED_ */
