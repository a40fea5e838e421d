
/*
 * Copyright (C) The tier router authors
 *
 * Prices and costs.  Money is integer micro-dollars (1e-6 USD); a price is
 * micro-dollars per million tokens, so $2.50 per million is 2500000.  A
 * cost is rounded up once, never accumulated in floating point.  The
 * LiteLLM catalog (model_prices_and_context_window.json) is read with
 * jansson and may be fetched with libcurl, at configuration time only.
 * Pure C, no nginx dependency.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_PRICE_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_PRICE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include "ngx_http_tier_router_usage.h"


/* the largest price accepted: $1,000,000 per million tokens */
#define NGX_HTTP_TIER_ROUTER_PRICE_MAX  1000000000000LL


typedef struct {
    int64_t                      input;        /* -1: unset */
    int64_t                      output;       /* -1: unset */
    int64_t                      cached;       /* -1: input's */
    int64_t                      cache_write;  /* -1: input's */
    int64_t                      reasoning;    /* -1: output's */
} ngx_http_tier_router_price_t;


/*
 * "2.50", "0.075", "3", "1e-2" are not all accepted: a plain decimal
 * number of dollars per million tokens, at most 6 decimals, exactly
 * converted; returns micro-dollars per million tokens, or -1.
 */

int64_t ngx_http_tier_router_price_parse(const unsigned char *s, size_t len);

/*
 * The cost of the usage at the price, in micro-dollars, rounded up.
 * Counts of -1 are 0; cached and cache_write are charged at their prices
 * and the rest of input at input's; reasoning at its price and the rest of
 * output at output's.  Saturates at INT64_MAX instead of overflowing.
 */

int64_t ngx_http_tier_router_price_cost(const ngx_http_tier_router_price_t *p,
    const ngx_http_tier_router_usage_t *u);

/* "$1.234567" style text of micro-dollars: writes at most 32 bytes */

size_t ngx_http_tier_router_price_print(int64_t micros, char *out);


typedef int (*ngx_http_tier_router_price_pt)(void *data,
    const char *model, size_t len, const ngx_http_tier_router_price_t *p);

/*
 * Reads a LiteLLM catalog and calls cb for every model with both an input
 * and an output price per token; cb returns 0, or -1 to stop.  Returns the
 * number of models, or -1 with a message in err.
 */

int ngx_http_tier_router_price_catalog(const char *buf, size_t len,
    ngx_http_tier_router_price_pt cb, void *data, char *err, size_t errlen);

/*
 * Fetches url with libcurl (timeout in milliseconds, HTTP status 200
 * only, at most max bytes) into path, through a temporary file renamed
 * over it, so path keeps the last good copy.  0, or -1 with err set.
 */

int ngx_http_tier_router_price_fetch(const char *url, const char *path,
    long timeout_ms, size_t max, char *err, size_t errlen);


#endif /* _NGX_HTTP_TIER_ROUTER_PRICE_H_INCLUDED_ */
