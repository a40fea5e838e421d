
/*
 * Copyright (C) The tier router authors
 *
 * The usage filters: the response of a request with spend to settle (a
 * routed one, an attempt, a metered passthrough) is read for the token
 * usage the upstream reports, as its buffers pass on untouched; a chat
 * stream whose client did not ask for the usage chunk has it dropped.
 * What was read is settled in account.c.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_USAGE_FILTER_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_USAGE_FILTER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


ngx_int_t ngx_http_tier_router_usage_filter_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_TIER_ROUTER_USAGE_FILTER_H_INCLUDED_ */
