
/*
 * Copyright (C) The tier router authors
 *
 * The status page of a budget zone: JSON (jansson), Prometheus text
 * (ngx_http_tier_router_prometheus.c) or a page for a browser
 * (status_html.c), with tenants sorted by spend and paged.  Tenants
 * appear by the hash of their key, or by the label the operator gave
 * them; never by their key.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_tier_router_status.h"
#include "ngx_http_tier_router_account.h"
#include "ngx_http_tier_router_budget.h"
#include "ngx_http_tier_router_histogram.h"
#include "ngx_http_tier_router_ledger.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_prometheus.h"
#include "ngx_http_tier_router_shares.h"
#include "ngx_http_tier_router_status_html.h"
#include "ngx_http_tier_router_util.h"
#include "ngx_http_tier_router_zone.h"

#include "tr_hash.h"
#include "tr_period.h"


#define NGX_HTTP_TIER_ROUTER_STATUS_LIMIT  100
#define NGX_HTTP_TIER_ROUTER_STATUS_MAX    10000

#define NGX_HTTP_TIER_ROUTER_STATUS_JSON        0
#define NGX_HTTP_TIER_ROUTER_STATUS_PROMETHEUS  1
#define NGX_HTTP_TIER_ROUTER_STATUS_HTML        2


static ngx_int_t ngx_http_tier_router_status_format(ngx_http_request_t *r);
static ngx_int_t ngx_http_tier_router_status_bad_format(
    ngx_http_request_t *r);
static int ngx_libc_cdecl ngx_http_tier_router_status_cmp(const void *a,
    const void *b);
static json_t *ngx_http_tier_router_status_alerts(
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh);
static json_t *ngx_http_tier_router_status_ledger(
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh);
static json_t *ngx_http_tier_router_status_state(
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh);
static ngx_int_t ngx_http_tier_router_status_arg(ngx_http_request_t *r,
    char *name, size_t len, ngx_int_t def);
static ngx_buf_t *ngx_http_tier_router_status_json(ngx_http_request_t *r,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh,
    ngx_http_tier_router_snapshot_t *s, ngx_uint_t n, ngx_uint_t offset,
    ngx_uint_t limit);


char *
ngx_http_tier_router_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    ngx_str_t                         *value;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    value = cf->args->elts;

    trlcf->status_zone = ngx_http_tier_router_budget_find_zone(cf,
                                                               &value[1]);

    trmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_tier_router_module);

    if (trlcf->status_zone == NULL && trmcf->shares
        && trmcf->shares->name.len == value[1].len
        && ngx_strncmp(trmcf->shares->name.data, value[1].data,
                       value[1].len) == 0)
    {
        trlcf->status_shares = trmcf->shares;
    }

    if (trlcf->status_zone == NULL && trlcf->status_shares == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no \"tier_router_budget_zone\" or "
                           "\"tier_router_shares\" zone \"%V\" is defined "
                           "before", &value[1]);
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_tier_router_status_handler;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_tier_router_status_handler(ngx_http_request_t *r)
{
    time_t                             now;
    ngx_int_t                          rc, limit, offset, format;
    ngx_str_t                          vary;
    ngx_buf_t                         *b;
    ngx_uint_t                         n, max;
    ngx_http_tier_router_zone_t       *zone;
    ngx_http_tier_router_snapshot_t   *s;
    ngx_http_tier_router_budget_sh_t  *sh;
    ngx_http_tier_router_loc_conf_t   *trlcf;

    /* JSON or a page, as the Accept header says: for caches too */

    ngx_str_set(&vary, "Accept");

    if (ngx_http_tier_router_add_header(r, "Vary", &vary) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_tier_router_get_only(r);

    if (rc != NGX_OK) {
        return rc;
    }

    format = ngx_http_tier_router_status_format(r);

    if (format == NGX_DECLINED) {
        return ngx_http_tier_router_status_bad_format(r);
    }

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);
    zone = trlcf->status_zone;

    if (zone == NULL) {
        b = ngx_http_tier_router_shares_status(r, trlcf->status_shares,
                             format == NGX_HTTP_TIER_ROUTER_STATUS_PROMETHEUS);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (b->last > b->pos && b->pos[0] == '#') {
            ngx_str_set(&r->headers_out.content_type,
                        "text/plain; version=0.0.4");

        } else {
            ngx_str_set(&r->headers_out.content_type, "application/json");
        }

        goto send;
    }

    limit = ngx_http_tier_router_status_arg(r, "limit", 5,
                                            NGX_HTTP_TIER_ROUTER_STATUS_LIMIT);
    offset = ngx_http_tier_router_status_arg(r, "offset", 6, 0);

    if (limit == NGX_ERROR || offset == NGX_ERROR
        || limit > NGX_HTTP_TIER_ROUTER_STATUS_MAX)
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    now = ngx_http_tier_router_clock(r);

    sh = ngx_palloc(r->pool, sizeof(ngx_http_tier_router_budget_sh_t));

    if (now == NGX_ERROR || sh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a copy under the lock; the work after it without */

    max = (ngx_uint_t) zone->sh->tenants + 64;

    s = ngx_alloc(max * sizeof(ngx_http_tier_router_snapshot_t),
                  r->connection->log);
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_tier_router_budget_roll(zone, NULL, now);

    ngx_memcpy(sh, zone->sh, sizeof(ngx_http_tier_router_budget_sh_t));
    n = ngx_http_tier_router_budget_snapshot(zone, s, max);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_qsort(s, n, sizeof(ngx_http_tier_router_snapshot_t),
              ngx_http_tier_router_status_cmp);

    if (format == NGX_HTTP_TIER_ROUTER_STATUS_PROMETHEUS) {
        b = ngx_http_tier_router_prometheus(r, zone, sh, s, n, offset,
                                            limit);
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4");

    } else {
        b = ngx_http_tier_router_status_json(r, zone, sh, s, n, offset,
                                             limit);
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    ngx_free(s);

    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

send:

    if (format == NGX_HTTP_TIER_ROUTER_STATUS_HTML) {
        b = ngx_http_tier_router_status_html(r, b);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    return ngx_http_tier_router_send(r, b);
}


/*
 * format=json, prometheus or html; without format=, a page when the
 * client prefers HTML, else JSON; NGX_DECLINED for any other format=
 */

static ngx_int_t
ngx_http_tier_router_status_format(ngx_http_request_t *r)
{
    ngx_str_t  format;

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) != NGX_OK) {
        return ngx_http_tier_router_status_html_wanted(r)
               ? NGX_HTTP_TIER_ROUTER_STATUS_HTML
               : NGX_HTTP_TIER_ROUTER_STATUS_JSON;
    }

    if (format.len == 4 && ngx_strncmp(format.data, "json", 4) == 0) {
        return NGX_HTTP_TIER_ROUTER_STATUS_JSON;
    }

    if (format.len == 4 && ngx_strncmp(format.data, "html", 4) == 0) {
        return NGX_HTTP_TIER_ROUTER_STATUS_HTML;
    }

    if (format.len == 10 && ngx_strncmp(format.data, "prometheus", 10) == 0)
    {
        return NGX_HTTP_TIER_ROUTER_STATUS_PROMETHEUS;
    }

    return NGX_DECLINED;
}


/* a format= of none of those: 400, and which there are */

static ngx_int_t
ngx_http_tier_router_status_bad_format(ngx_http_request_t *r)
{
    ngx_buf_t  *b;

    static u_char  text[] = "unknown format: format= takes json, html or "
                            "prometheus\n";

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = text;
    b->last = text + sizeof(text) - 1;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_BAD_REQUEST;
    r->headers_out.content_length_n = sizeof(text) - 1;
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    return ngx_http_tier_router_send(r, b);
}


static int ngx_libc_cdecl
ngx_http_tier_router_status_cmp(const void *a, const void *b)
{
    const ngx_http_tier_router_snapshot_t  *x = a, *y = b;

    if (x->spent != y->spent) {
        return (x->spent < y->spent) ? 1 : -1;
    }

    return ngx_memcmp(x->hash, y->hash, TR_HASH_LEN);
}


static ngx_int_t
ngx_http_tier_router_status_arg(ngx_http_request_t *r, char *name,
    size_t len, ngx_int_t def)
{
    ngx_str_t  value;

    if (ngx_http_arg(r, (u_char *) name, len, &value) != NGX_OK) {
        return def;
    }

    return ngx_atoi(value.data, value.len);
}


static ngx_buf_t *
ngx_http_tier_router_status_json(ngx_http_request_t *r,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh,
    ngx_http_tier_router_snapshot_t *s, ngx_uint_t n, ngx_uint_t offset,
    ngx_uint_t limit)
{
    int                                rc;
    u_char                             hex[33];
    json_t                            *tenants, *tiers, *t;
    ngx_buf_t                         *b;
    ngx_str_t                         *name;
    ngx_uint_t                         i;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_ladder_t     *ladder;
    ngx_http_tier_router_tier_stat_t  *st;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;
    ladder = trmcf->ladders.elts;

    t = NULL;
    tenants = json_array();
    tiers = json_array();

    rc = (tenants == NULL || tiers == NULL) ? -1 : 0;

    for (i = 0; rc == 0 && i < sh->ntiers; i++) {
        st = &sh->tiers[i];
        t = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                      "name", (char *) st->name,
                      "requests", (json_int_t) st->requests,
                      "input_tokens", (json_int_t) st->input_tokens,
                      "output_tokens", (json_int_t) st->output_tokens,
                      "cost_micro_usd", (json_int_t) st->cost,
                      "baseline_micro_usd", (json_int_t) st->baseline,
                      "estimated", (json_int_t) st->estimated,
                      "fell_back", (json_int_t) st->failed,
                      "escalated", (json_int_t) st->escalated);
        rc = (t == NULL) ? -1 : json_array_append_new(tiers, t);

        if (rc == 0) {
            rc = json_object_set_new(t, "cache_read_tokens",
                                     json_integer(st->cache_read_tokens));
            rc |= json_object_set_new(t, "cache_write_tokens",
                                      json_integer(st->cache_write_tokens));
            rc |= json_object_set_new(t, "reasoning_tokens",
                                      json_integer(st->reasoning_tokens));
            rc |= json_object_set_new(t, "time_to_first_token",
                              ngx_http_tier_router_histogram_json(&st->ttft,
                                  NGX_HTTP_TIER_ROUTER_HISTOGRAM_TTFT));
            rc |= json_object_set_new(t, "duration",
                          ngx_http_tier_router_histogram_json(&st->duration,
                              NGX_HTTP_TIER_ROUTER_HISTOGRAM_DURATION));
        }

        /* the ladder of the tier by that index, "" for the default */

        if (rc == 0 && i < trmcf->tiers.nelts) {
            name = &ladder[tier[i].ladder].name;
            rc = json_object_set_new(t, "ladder",
                                     name->len
                                     ? json_stringn((char *) name->data,
                                                    name->len)
                                     : json_string(""));

            /* its share= target, null without one */

            rc |= json_object_set_new(t, "target_share",
                                      tier[i].share >= 0
                                      ? json_real(tier[i].share)
                                      : json_null());
        }
    }

    for (i = offset; rc == 0 && i < n && i < offset + limit; i++) {
        ngx_hex_dump(hex, s[i].hash, 16);
        hex[32] = '\0';

        t = json_pack("{s:s, s:s%, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                      "s:I, s:I, s:I, s:I, s:I}",
                      "hash", (char *) hex,
                      "label", (char *) s[i].label, s[i].label_len,
                      "spent_micro_usd", (json_int_t) s[i].spent,
                      "baseline_micro_usd", (json_int_t) s[i].baseline,
                      "reserved_micro_usd", (json_int_t) s[i].reserved,
                      "limit_micro_usd", (json_int_t) s[i].limit,
                      "total_micro_usd", (json_int_t) s[i].total,
                      "requests", (json_int_t) s[i].requests,
                      "estimated", (json_int_t) s[i].estimated,
                      "in_flight", (json_int_t) s[i].inflight,
                      "refused", (json_int_t) s[i].refused,
                      "capped", (json_int_t) s[i].capped,
                      "input_tokens", (json_int_t) s[i].input_tokens,
                      "output_tokens", (json_int_t) s[i].output_tokens,
                      "last_seen", (json_int_t) s[i].last);

        if (t && s[i].limit < 0) {
            rc = json_object_set_new(t, "limit_micro_usd", json_null());
        }

        if (t && zone->alert) {
            rc |= json_object_set_new(t, "alerted_percent",
                                      json_integer(s[i].alerted));
        }

        if (t && zone->ledger) {
            rc |= json_object_set_new(t, "lease_micro_usd",
                                      json_integer(s[i].lease));
            rc |= json_object_set_new(t, "unsynced_micro_usd",
                                      json_integer(s[i].unsynced));
        }

        rc |= (t == NULL) ? -1 : json_array_append_new(tenants, t);
    }

    if (rc == 0) {
        t = json_pack("{s:s%, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                      "s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:O, s:O}",
                      "zone", (char *) zone->name.data, zone->name.len,
                      "period", tr_period_name(sh->period),
                      "period_start", (json_int_t) sh->period_start,
                      "period_end",
                      (json_int_t) tr_period_end(sh->period,
                                                 sh->period_start),
                      "spent_micro_usd", (json_int_t) sh->spent,
                      "reserved_micro_usd", (json_int_t) sh->reserved,
                      "total_micro_usd", (json_int_t) sh->total,
                      "limit_micro_usd", (json_int_t) zone->limit,
                      "tenants_total", (json_int_t) sh->tenants,
                      "requests", (json_int_t) sh->requests,
                      "refused", (json_int_t) sh->refused,
                      "capped", (json_int_t) sh->capped,
                      "estimated", (json_int_t) sh->estimated,
                      "full", (json_int_t) sh->full,
                      "estimated_share",
                      sh->requests ? (double) sh->estimated / sh->requests
                                   : 0.0,
                      "offset", (json_int_t) offset,
                      "limit", (json_int_t) limit,
                      "tiers", tiers,
                      "tenants", tenants);

        if (t && zone->limit < 0) {
            rc = json_object_set_new(t, "limit_micro_usd", json_null());
        }

        if (t) {
            rc |= json_object_set_new(t, "baseline_micro_usd",
                                      json_integer(sh->baseline));
            rc |= json_object_set_new(t, "evicted",
                                      json_integer(sh->evicted));
            rc |= json_object_set_new(t, "unaccounted",
                                      json_integer(sh->unaccounted));
            rc |= json_object_set_new(t, "unsettled",
                                      json_integer(sh->unsettled));
            rc |= json_object_set_new(t, "unsettled_micro_usd",
                                      json_integer(sh->unsettled_cost));
            rc |= json_object_set_new(t, "state",
                              ngx_http_tier_router_status_state(zone, sh));
            rc |= json_object_set_new(t, "alerts",
                              ngx_http_tier_router_status_alerts(zone, sh));
            rc |= json_object_set_new(t, "ledger",
                              ngx_http_tier_router_status_ledger(zone, sh));
        }

        rc |= (t == NULL) ? -1 : 0;
    }

    b = (rc == 0) ? ngx_http_tier_router_json_buf(r, t) : NULL;

    json_decref(t);
    json_decref(tiers);
    json_decref(tenants);

    return b;
}


/* the budget alerts' webhook, or null without one; never its url */

static json_t *
ngx_http_tier_router_status_alerts(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_budget_sh_t *sh)
{
    json_t      *at, *j;
    ngx_uint_t   i;

    if (zone->alert == NULL) {
        return json_null();
    }

    at = json_array();

    for (i = 0; at && i < zone->alert->nat; i++) {
        if (json_array_append_new(at, json_integer(zone->alert->at[i])) != 0)
        {
            json_decref(at);
            return NULL;
        }
    }

    j = json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                  "at_percent", at,
                  "queued", (json_int_t) sh->alerts_queued,
                  "sent", (json_int_t) sh->alerts_sent,
                  "failed", (json_int_t) sh->alerts_failed,
                  "retried", (json_int_t) sh->alerts_retried,
                  "dropped", (json_int_t) sh->alerts_dropped,
                  "pending", (json_int_t) sh->alerts_pending,
                  "last_sent", (json_int_t) sh->alert_last_sent,
                  "last_failure", (json_int_t) sh->alert_last_failure);

    return j;
}


/* the shared ledger, or null without one */

static json_t *
ngx_http_tier_router_status_ledger(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_budget_sh_t *sh)
{
    if (zone->ledger == NULL) {
        return json_null();
    }

    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                     "s:I, s:b}",
                     "node", (char *) zone->node,
                     "connection", ngx_http_tier_router_ledger_state(zone),
                     "heartbeat_ms", (json_int_t) sh->heartbeat,
                     "leases_asked", (json_int_t) sh->ledger_asks,
                     "leased_micro_usd", (json_int_t) sh->ledger_granted,
                     "batches", (json_int_t) sh->ledger_syncs,
                     "batch_seq", (json_int_t) sh->sync_seq,
                     "failures", (json_int_t) sh->ledger_failures,
                     "admitted_open", (json_int_t) sh->ledger_open,
                     "refused_closed", (json_int_t) sh->ledger_closed,
                     "commands", (json_int_t) sh->ledger_commands,
                     "batch_out", (int) (sh->sync_out != 0));
}


/* the state file's saves, or null without one */

static json_t *
ngx_http_tier_router_status_state(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_budget_sh_t *sh)
{
    json_t  *st;

    if (zone->state.len == 0) {
        return json_null();
    }

    st = json_pack("{s:s%, s:I, s:I, s:I, s:I}",
                   "file", (char *) zone->state.data, zone->state.len,
                   "saves", (json_int_t) sh->saves,
                   "save_failures", (json_int_t) sh->save_failures,
                   "last_save", (json_int_t) sh->last_save,
                   "last_failure", (json_int_t) sh->last_failure);

    if (st && sh->save_failures) {
        if (json_object_set_new(st, "last_error",
                                json_string((char *) sh->save_error))
            != 0)
        {
            json_decref(st);
            return NULL;
        }
    }

    return st;
}
