
/*
 * Copyright (C) The tier router authors
 *
 * The status page for a browser: whether the client prefers HTML (its
 * Accept header), and the page, one self-contained HTML document around
 * the status JSON, with the headers it is served with.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_STATUS_HTML_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_STATUS_HTML_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


ngx_uint_t ngx_http_tier_router_status_html_wanted(ngx_http_request_t *r);
ngx_buf_t *ngx_http_tier_router_status_html(ngx_http_request_t *r,
    ngx_buf_t *json);


#endif /* _NGX_HTTP_TIER_ROUTER_STATUS_HTML_H_INCLUDED_ */
