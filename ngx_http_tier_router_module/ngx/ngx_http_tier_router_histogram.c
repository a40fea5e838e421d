
/*
 * Copyright (C) The tier router authors
 *
 * The latency histograms of a tier: time to the first token of a streamed
 * answer and the duration of an answer, with the bucket bounds of the
 * OpenTelemetry GenAI conventions, written as Prometheus histograms.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tier_router_histogram.h"


static u_char *ngx_http_tier_router_histogram_seconds(u_char *p,
    u_char *last, uint64_t ms);


/* gen_ai.server.time_to_first_token's bounds, in milliseconds */

static ngx_msec_t  ngx_http_tier_router_ttft_bounds[] = {
    1, 5, 10, 20, 40, 60, 80, 100, 250, 500, 750, 1000, 2500, 5000, 7500,
    10000
};


/* gen_ai.client.operation.duration's */

static ngx_msec_t  ngx_http_tier_router_duration_bounds[] = {
    10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 20480, 40960,
    81920
};


static struct {
    ngx_msec_t  *bounds;
    ngx_uint_t   n;
}  ngx_http_tier_router_histograms[] = {
    { ngx_http_tier_router_ttft_bounds,
      sizeof(ngx_http_tier_router_ttft_bounds) / sizeof(ngx_msec_t) },
    { ngx_http_tier_router_duration_bounds,
      sizeof(ngx_http_tier_router_duration_bounds) / sizeof(ngx_msec_t) }
};


void
ngx_http_tier_router_histogram_observe(ngx_http_tier_router_histogram_t *h,
    ngx_uint_t kind, ngx_msec_t ms)
{
    ngx_uint_t   i, n;
    ngx_msec_t  *bounds;

    bounds = ngx_http_tier_router_histograms[kind].bounds;
    n = ngx_http_tier_router_histograms[kind].n;

    for (i = 0; i < n && ms > bounds[i]; i++) { /* void */ }

    ngx_http_tier_router_add(h->count[i], 1);
    ngx_http_tier_router_add(h->sum, ms);
}


/* the lines a histogram takes: its buckets, +Inf, _sum and _count */

ngx_uint_t
ngx_http_tier_router_histogram_lines(ngx_uint_t kind)
{
    return ngx_http_tier_router_histograms[kind].n + 3;
}


/*
 * name_bucket{labels,le="..."} cumulative, name_sum{labels} in seconds,
 * name_count{labels}; labels: what goes inside the braces, escaped
 */

u_char *
ngx_http_tier_router_histogram_print(u_char *p, u_char *last,
    ngx_http_tier_router_histogram_t *h, ngx_uint_t kind, const char *name,
    u_char *labels, size_t len)
{
    uint64_t     total;
    ngx_uint_t   i, n;
    ngx_msec_t  *bounds;

    bounds = ngx_http_tier_router_histograms[kind].bounds;
    n = ngx_http_tier_router_histograms[kind].n;

    total = 0;

    for (i = 0; i <= n; i++) {
        total += h->count[i];

        p = ngx_slprintf(p, last, "%s_bucket{%*s,le=\"", name, len, labels);

        if (i < n) {
            p = ngx_http_tier_router_histogram_seconds(p, last, bounds[i]);

        } else {
            p = ngx_slprintf(p, last, "+Inf");
        }

        p = ngx_slprintf(p, last, "\"} %uL\n", total);
    }

    p = ngx_slprintf(p, last, "%s_sum{%*s} ", name, len, labels);
    p = ngx_http_tier_router_histogram_seconds(p, last, h->sum);

    return ngx_slprintf(p, last, "\n%s_count{%*s} %uL\n", name, len, labels,
                        total);
}


/* milliseconds as seconds, without trailing zeros: 0.25, 1, 81.92 */

static u_char *
ngx_http_tier_router_histogram_seconds(u_char *p, u_char *last, uint64_t ms)
{
    uint64_t  frac;

    frac = ms % 1000;

    if (frac == 0) {
        return ngx_slprintf(p, last, "%uL", ms / 1000);
    }

    if (frac % 100 == 0) {
        return ngx_slprintf(p, last, "%uL.%uL", ms / 1000, frac / 100);
    }

    if (frac % 10 == 0) {
        return ngx_slprintf(p, last, "%uL.%02uL", ms / 1000, frac / 10);
    }

    return ngx_slprintf(p, last, "%uL.%03uL", ms / 1000, frac);
}


/*
 * For the JSON status: {"count": n, "sum_ms": ms, "buckets": [[le_ms, n],
 * ...]}, cumulative as Prometheus has them, the last le null (+Inf)
 */

json_t *
ngx_http_tier_router_histogram_json(ngx_http_tier_router_histogram_t *h,
    ngx_uint_t kind)
{
    int          rc;
    json_t      *j, *buckets;
    uint64_t     total;
    ngx_uint_t   i, n;
    ngx_msec_t  *bounds;

    bounds = ngx_http_tier_router_histograms[kind].bounds;
    n = ngx_http_tier_router_histograms[kind].n;

    buckets = json_array();
    rc = (buckets == NULL) ? -1 : 0;
    total = 0;

    for (i = 0; rc == 0 && i <= n; i++) {
        total += h->count[i];
        rc = json_array_append_new(buckets,
                                   json_pack("[o, I]",
                                             (i < n)
                                             ? json_integer(bounds[i])
                                             : json_null(),
                                             (json_int_t) total));
    }

    j = (rc == 0) ? json_pack("{s:I, s:I, s:o}", "count", (json_int_t) total,
                              "sum_ms", (json_int_t) h->sum, "buckets",
                              buckets)
                  : NULL;

    if (j == NULL) {
        json_decref(buckets);
    }

    return j;
}
