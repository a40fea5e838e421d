
/*
 * Copyright (C) The tier router authors
 *
 * The latency histograms of a tier: time to the first token of a streamed
 * answer and the duration of an answer, with the bucket bounds of the
 * OpenTelemetry GenAI conventions, written as Prometheus histograms.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_HISTOGRAM_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_HISTOGRAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <jansson.h>

#include "ngx_http_tier_router_types.h"


#define NGX_HTTP_TIER_ROUTER_HISTOGRAM_TTFT      0
#define NGX_HTTP_TIER_ROUTER_HISTOGRAM_DURATION  1


void ngx_http_tier_router_histogram_observe(
    ngx_http_tier_router_histogram_t *h, ngx_uint_t kind, ngx_msec_t ms);
ngx_uint_t ngx_http_tier_router_histogram_lines(ngx_uint_t kind);
u_char *ngx_http_tier_router_histogram_print(u_char *p, u_char *last,
    ngx_http_tier_router_histogram_t *h, ngx_uint_t kind, const char *name,
    u_char *labels, size_t len);
json_t *ngx_http_tier_router_histogram_json(
    ngx_http_tier_router_histogram_t *h, ngx_uint_t kind);


#endif /* _NGX_HTTP_TIER_ROUTER_HISTOGRAM_H_INCLUDED_ */
