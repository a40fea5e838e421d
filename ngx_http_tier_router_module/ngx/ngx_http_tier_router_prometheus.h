
/*
 * Copyright (C) The tier router authors
 *
 * A budget zone's status as Prometheus text: the zone's counters, each
 * tier's with the OpenTelemetry GenAI attributes as labels and its
 * latency histograms, and a page of tenants.  Metric names carry their
 * unit; counters end in _total.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_PROMETHEUS_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_PROMETHEUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


ngx_buf_t *ngx_http_tier_router_prometheus(ngx_http_request_t *r,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh,
    ngx_http_tier_router_snapshot_t *s, ngx_uint_t n, ngx_uint_t offset,
    ngx_uint_t limit);


#endif /* _NGX_HTTP_TIER_ROUTER_PROMETHEUS_H_INCLUDED_ */
