
/*
 * Copyright (C) The tier router authors
 *
 * The calling tenant's own budget (tier_router_balance): its spend,
 * reservations, limit, what is left and when the period resets, as the
 * location's tier_router_budget names the tenant; never another's.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_tier_router_balance.h"
#include "ngx_http_tier_router_account.h"
#include "ngx_http_tier_router_error.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"
#include "ngx_http_tier_router_zone.h"

#include "tr_dialect.h"
#include "tr_period.h"


static ngx_int_t ngx_http_tier_router_balance_handler(ngx_http_request_t *r);
static json_t *ngx_http_tier_router_balance_amount(int64_t micros);


/* tier_router_balance */

char *
ngx_http_tier_router_balance(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (trlcf->balance) {
        return "is duplicate";
    }

    trlcf->balance = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_tier_router_balance_handler;

    return NGX_CONF_OK;
}


/* a balance location names its tenants as a budget does */

char *
ngx_http_tier_router_balance_merge(ngx_conf_t *cf,
    ngx_http_tier_router_loc_conf_t *conf)
{
    if (conf->balance && conf->budget_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_balance\" needs a "
                           "\"tier_router_budget\" for its location: the "
                           "zone and the key that name the tenant");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tier_router_balance_handler(ngx_http_request_t *r)
{
    time_t                            now, start, end;
    int64_t                           spent, reserved, limit, left;
    json_t                           *o;
    uint32_t                          requests;
    ngx_int_t                         rc;
    ngx_str_t                         label;
    ngx_buf_t                        *b;
    ngx_uint_t                        period;
    ngx_table_elt_t                  *h;
    ngx_http_tier_router_rq_t         rq;
    ngx_http_tier_router_ctx_t        ctx;
    ngx_http_tier_router_zone_t      *zone;
    ngx_http_tier_router_tenant_t    *t;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    rc = ngx_http_tier_router_get_only(r);

    if (rc != NGX_OK) {
        return rc;
    }

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);
    zone = trlcf->budget_zone;

    ngx_memzero(&rq, sizeof(ngx_http_tier_router_rq_t));
    ngx_memzero(&ctx, sizeof(ngx_http_tier_router_ctx_t));

    ctx.rq = &rq;
    ctx.request = r;
    rq.dialect = TR_OPENAI_CHAT;

    /* no key: the 401 of any budgeted request, in OpenAI's shape */

    if (ngx_http_tier_router_account_key(r, &ctx, &label) != NGX_OK) {
        return rq.error ? ngx_http_tier_router_send_error(r, &ctx)
                        : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    now = ngx_http_tier_router_clock(r);

    if (now == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    t = ngx_http_tier_router_budget_lookup(zone, rq.hash);

    ngx_http_tier_router_budget_roll(zone, t, now);

    period = zone->sh->period;
    start = zone->sh->period_start;
    spent = t ? t->spent : 0;
    reserved = t ? t->reserved : 0;
    requests = t ? t->requests : 0;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    /* the tenant's limit as this location sets it, or the zone's */

    limit = (rq.limit >= 0) ? rq.limit : zone->limit;
    left = (limit < 0) ? -1
           : (limit > spent + reserved) ? limit - spent - reserved : 0;
    end = (period == TR_PERIOD_TOTAL) ? 0 : tr_period_end(period, start);

    o = json_pack("{s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:I}",
                  "object", "budget",
                  "period", tr_period_name(period),
                  "period_start", (json_int_t) start,
                  "resets_at", end ? json_integer(end) : json_null(),
                  "spent_micro_usd",
                  ngx_http_tier_router_balance_amount(spent),
                  "reserved_micro_usd",
                  ngx_http_tier_router_balance_amount(reserved),
                  "limit_micro_usd",
                  ngx_http_tier_router_balance_amount(limit),
                  "remaining_micro_usd",
                  ngx_http_tier_router_balance_amount(left),
                  "requests", (json_int_t) requests);

    if (o) {
        rc = json_object_set_new(o, "currency", json_string("USD"));

        if (rc != 0) {
            json_decref(o);
            o = NULL;
        }
    }

    b = o ? ngx_http_tier_router_json_buf(r, o) : NULL;

    json_decref(o);

    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* one tenant's own numbers: no cache between it and its client */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    b->last_buf = 1;
    b->last_in_chain = 1;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    return ngx_http_tier_router_send(r, b);
}


/* micro-dollars, exact as a JSON integer; null for none */

static json_t *
ngx_http_tier_router_balance_amount(int64_t micros)
{
    return (micros < 0) ? json_null() : json_integer((json_int_t) micros);
}
