
/*
 * Copyright (C) The tier router authors
 *
 * libcurl's multi interface, driven by the worker's event loop: the
 * sockets libcurl opens are watched as nginx connections, its timeouts
 * are nginx timers, and no call ever waits.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_CURL_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <curl/curl.h>


/*
 * Called once per transfer when it ends: its result, and the HTTP status
 * it got (0 for none).  The easy handle is cleaned up after it returns.
 * At a worker's exit, transfers in flight end with CURLE_ABORTED_BY_CALLBACK.
 */

typedef void (*ngx_http_tier_router_curl_done_pt)(void *data,
    CURLcode result, long status);


/* the process's libcurl, once, before any worker starts */
ngx_int_t ngx_http_tier_router_curl_global(ngx_log_t *log);

/* starts a transfer on an easy handle set up by the caller */
ngx_int_t ngx_http_tier_router_curl_start(CURL *easy,
    ngx_http_tier_router_curl_done_pt done, void *data, ngx_log_t *log);

/* transfers in flight in this worker */
ngx_uint_t ngx_http_tier_router_curl_running(void);

/* ends every transfer (each told), frees libcurl's state: worker exit */
void ngx_http_tier_router_curl_exit(void);


#endif /* _NGX_HTTP_TIER_ROUTER_CURL_H_INCLUDED_ */
