
/*
 * Copyright (C) The tier router authors
 *
 * The status page of a budget zone: JSON (jansson), Prometheus text or
 * a page for a browser (status_html.c), with tenants sorted by spend and
 * paged.  Tenants appear by the hash of their key, or by the label the
 * operator gave them; never by their key.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_tier_router_status.h"
#include "ngx_http_tier_router_account.h"
#include "ngx_http_tier_router_budget.h"
#include "ngx_http_tier_router_ledger.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_shares.h"
#include "ngx_http_tier_router_status_html.h"
#include "ngx_http_tier_router_util.h"
#include "ngx_http_tier_router_zone.h"

#include "tr_hash.h"
#include "tr_period.h"
#include "tr_price.h"


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
static ngx_buf_t *ngx_http_tier_router_status_prometheus(
    ngx_http_request_t *r, ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_budget_sh_t *sh, ngx_http_tier_router_snapshot_t *s,
    ngx_uint_t n, ngx_uint_t offset, ngx_uint_t limit);
static u_char *ngx_http_tier_router_status_prom_zone(u_char *p,
    u_char *last, ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_budget_sh_t *sh);
static u_char *ngx_http_tier_router_status_prom_tiers(u_char *p,
    u_char *last, ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_budget_sh_t *sh);
static u_char *ngx_http_tier_router_status_prom_tenants(u_char *p,
    u_char *last, ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_snapshot_t *s, ngx_uint_t offset, ngx_uint_t shown);
static u_char *ngx_http_tier_router_status_money(u_char *p, u_char *last,
    int64_t v);
static u_char *ngx_http_tier_router_status_label(u_char *p, u_char *last,
    ngx_http_tier_router_snapshot_t *s);
static u_char *ngx_http_tier_router_status_escape(u_char *p, u_char *last,
    u_char *src, size_t len);


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
        b = ngx_http_tier_router_status_prometheus(r, zone, sh, s, n,
                                                   offset, limit);
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


/*
 * Prometheus text.  The buffer is sized from the longest line each part
 * can have (every label value escaped may double), and every write is
 * bounded by its end all the same: output that would not fit is an error.
 */

#define NGX_HTTP_TIER_ROUTER_PROM_HELP     256   /* a HELP and TYPE pair */
#define NGX_HTTP_TIER_ROUTER_PROM_LINE     128   /* a line but its labels */
#define NGX_HTTP_TIER_ROUTER_PROM_ZONE     28
#define NGX_HTTP_TIER_ROUTER_PROM_TIER     8
#define NGX_HTTP_TIER_ROUTER_PROM_TENANT   5


static ngx_buf_t *
ngx_http_tier_router_status_prometheus(ngx_http_request_t *r,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh,
    ngx_http_tier_router_snapshot_t *s, ngx_uint_t n, ngx_uint_t offset,
    ngx_uint_t limit)
{
    u_char                            *p, *last;
    size_t                             len, zlen;
    ngx_buf_t                         *b;
    ngx_uint_t                         shown;

    shown = (offset < n) ? ngx_min(n - offset, limit) : 0;

    zlen = 2 * zone->name.len;

    len = (NGX_HTTP_TIER_ROUTER_PROM_ZONE + NGX_HTTP_TIER_ROUTER_PROM_TIER
           + NGX_HTTP_TIER_ROUTER_PROM_TENANT) * NGX_HTTP_TIER_ROUTER_PROM_HELP
          + NGX_HTTP_TIER_ROUTER_PROM_ZONE
            * (NGX_HTTP_TIER_ROUTER_PROM_LINE + zlen)
          + NGX_HTTP_TIER_ROUTER_PROM_TIER * sh->ntiers
            * (NGX_HTTP_TIER_ROUTER_PROM_LINE + zlen
               + 2 * NGX_HTTP_TIER_ROUTER_TIER_NAME)
          + NGX_HTTP_TIER_ROUTER_PROM_TENANT * shown
            * (NGX_HTTP_TIER_ROUTER_PROM_LINE + zlen
               + 2 * NGX_HTTP_TIER_ROUTER_LABEL_LEN);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;
    last = b->end;

    p = ngx_http_tier_router_status_prom_zone(p, last, zone, sh);
    p = ngx_http_tier_router_status_prom_tiers(p, last, zone, sh);
    p = ngx_http_tier_router_status_prom_tenants(p, last, zone, s, offset,
                                                 shown);

    if (p == last) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "tier router: the status of zone \"%V\" does not fit "
                      "its %uz bytes", &zone->name, len);
        return NULL;
    }

    b->last = p;

    return b;
}


static u_char *
ngx_http_tier_router_status_prom_zone(u_char *p, u_char *last,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh)
{
#define TR_ZONE(type, metric, help)                                           \
    p = ngx_slprintf(p, last, "# HELP tier_router_zone_" metric " " help "\n" \
                     "# TYPE tier_router_zone_" metric " " type "\n"         \
                     "tier_router_zone_" metric "{zone=\"");                  \
    p = ngx_http_tier_router_status_escape(p, last, zone->name.data,         \
                                           zone->name.len);                  \
    p = ngx_slprintf(p, last, "\"} ")

    TR_ZONE("gauge", "spend_dollars", "Spend in the current period.");
    p = ngx_http_tier_router_status_money(p, last, sh->spent);
    TR_ZONE("gauge", "reserved_dollars", "Reserved by requests in flight.");
    p = ngx_http_tier_router_status_money(p, last, sh->reserved);
    TR_ZONE("counter", "spend_dollars_total", "Spend in all periods.");
    p = ngx_http_tier_router_status_money(p, last, sh->total);
    TR_ZONE("gauge", "baseline_dollars",
            "What the period's answers would have cost at the baseline.");
    p = ngx_http_tier_router_status_money(p, last, sh->baseline);
    TR_ZONE("gauge", "tenants", "Tenants in the zone.");
    p = ngx_slprintf(p, last, "%uL\n", sh->tenants);
    TR_ZONE("counter", "requests_total", "Requests settled.");
    p = ngx_slprintf(p, last, "%uL\n", sh->requests);
    TR_ZONE("counter", "refused_total", "Requests refused by a budget.");
    p = ngx_slprintf(p, last, "%uL\n", sh->refused);
    TR_ZONE("counter", "capped_total", "Requests sent to a lower tier.");
    p = ngx_slprintf(p, last, "%uL\n", sh->capped);
    TR_ZONE("counter", "estimated_total", "Requests charged an estimate.");
    p = ngx_slprintf(p, last, "%uL\n", sh->estimated);
    TR_ZONE("counter", "full_total", "New tenants the full zone refused.");
    p = ngx_slprintf(p, last, "%uL\n", sh->full);
    TR_ZONE("counter", "evicted_total", "Idle tenants evicted for new ones.");
    p = ngx_slprintf(p, last, "%uL\n", sh->evicted);
    TR_ZONE("counter", "unaccounted_total",
            "Requests served with no tenant to charge (on_error open).");
    p = ngx_slprintf(p, last, "%uL\n", sh->unaccounted);
    TR_ZONE("counter", "unsettled_total",
            "Requests in flight at a stop, charged their worst case.");
    p = ngx_slprintf(p, last, "%uL\n", sh->unsettled);
    TR_ZONE("counter", "unsettled_dollars_total",
            "The worst cases charged for requests in flight at a stop.");
    p = ngx_http_tier_router_status_money(p, last, sh->unsettled_cost);

    if (zone->state.len) {
        TR_ZONE("counter", "state_saves_total", "State file saves.");
        p = ngx_slprintf(p, last, "%uL\n", sh->saves);
        TR_ZONE("counter", "state_save_failures_total",
                "State file saves that failed.");
        p = ngx_slprintf(p, last, "%uL\n", sh->save_failures);
        TR_ZONE("gauge", "state_last_save_timestamp_seconds",
                "When the state file was last saved.");
        p = ngx_slprintf(p, last, "%T\n", sh->last_save);
    }

    if (zone->alert) {
        TR_ZONE("counter", "alerts_sent_total",
                "Budget alerts the webhook took.");
        p = ngx_slprintf(p, last, "%uL\n", sh->alerts_sent);
        TR_ZONE("counter", "alerts_failed_total",
                "Budget alerts given up after their retries.");
        p = ngx_slprintf(p, last, "%uL\n", sh->alerts_failed);
        TR_ZONE("counter", "alerts_retried_total",
                "Budget alert tries that failed and were tried again.");
        p = ngx_slprintf(p, last, "%uL\n", sh->alerts_retried);
        TR_ZONE("counter", "alerts_dropped_total",
                "Budget alerts dropped, the queue full.");
        p = ngx_slprintf(p, last, "%uL\n", sh->alerts_dropped);
        TR_ZONE("gauge", "alerts_pending",
                "Budget alerts queued and not sent yet.");
        p = ngx_slprintf(p, last, "%uL\n", (uint64_t) sh->alerts_pending);
    }

    if (zone->ledger) {
        TR_ZONE("counter", "ledger_leases_total",
                "Leases this node asked the shared ledger for.");
        p = ngx_slprintf(p, last, "%uL\n", sh->ledger_asks);
        TR_ZONE("counter", "ledger_leased_dollars_total",
                "What the shared ledger leased this node.");
        p = ngx_http_tier_router_status_money(p, last, sh->ledger_granted);
        TR_ZONE("counter", "ledger_batches_total",
                "Batches of spend the shared ledger took.");
        p = ngx_slprintf(p, last, "%uL\n", sh->ledger_syncs);
        TR_ZONE("counter", "ledger_failures_total",
                "Shared ledger commands that failed or timed out.");
        p = ngx_slprintf(p, last, "%uL\n", sh->ledger_failures);
        TR_ZONE("counter", "ledger_open_total",
                "Requests admitted without the shared ledger (on_error open).");
        p = ngx_slprintf(p, last, "%uL\n", sh->ledger_open);
        TR_ZONE("counter", "ledger_commands_total",
                "Round trips to the shared ledger.");
        p = ngx_slprintf(p, last, "%uL\n", sh->ledger_commands);
    }

#undef TR_ZONE

    return p;
}


static u_char *
ngx_http_tier_router_status_prom_tiers(u_char *p, u_char *last,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh)
{
    ngx_uint_t                         i, k;
    ngx_http_tier_router_tier_stat_t  *st;

    static const struct {
        const char  *metric;
        const char  *type;
        const char  *help;
    }  tiers[NGX_HTTP_TIER_ROUTER_PROM_TIER] = {
        { "requests_total", "counter", "Requests settled per tier." },
        { "input_tokens_total", "counter", "Input tokens per tier." },
        { "output_tokens_total", "counter", "Output tokens per tier." },
        { "spend_dollars_total", "counter", "Spend per tier." },
        { "estimated_total", "counter", "Estimated requests per tier." },
        { "fell_back_total", "counter",
          "Attempts per tier that failed and went to another tier." },
        { "escalated_total", "counter",
          "Answers per tier not good enough, sent to a higher tier." },
        { "baseline_dollars_total", "counter",
          "What the tier's answers would have cost at the baseline." }
    };

    for (k = 0; k < NGX_HTTP_TIER_ROUTER_PROM_TIER; k++) {
        p = ngx_slprintf(p, last, "# HELP tier_router_tier_%s %s\n"
                         "# TYPE tier_router_tier_%s %s\n",
                         tiers[k].metric, tiers[k].help,
                         tiers[k].metric, tiers[k].type);

        for (i = 0; i < sh->ntiers; i++) {
            st = &sh->tiers[i];

            p = ngx_slprintf(p, last, "tier_router_tier_%s{zone=\"",
                             tiers[k].metric);
            p = ngx_http_tier_router_status_escape(p, last, zone->name.data,
                                                   zone->name.len);
            p = ngx_slprintf(p, last, "\",tier=\"");
            p = ngx_http_tier_router_status_escape(p, last, st->name,
                                                   ngx_strlen(st->name));
            p = ngx_slprintf(p, last, "\"} ");

            switch (k) {
            case 0:
                p = ngx_slprintf(p, last, "%uL\n", st->requests);
                break;
            case 1:
                p = ngx_slprintf(p, last, "%uL\n", st->input_tokens);
                break;
            case 2:
                p = ngx_slprintf(p, last, "%uL\n", st->output_tokens);
                break;
            case 3:
                p = ngx_http_tier_router_status_money(p, last, st->cost);
                break;
            case 4:
                p = ngx_slprintf(p, last, "%uL\n", st->estimated);
                break;
            case 5:
                p = ngx_slprintf(p, last, "%uL\n", st->failed);
                break;
            case 7:
                p = ngx_http_tier_router_status_money(p, last, st->baseline);
                break;
            default:
                p = ngx_slprintf(p, last, "%uL\n", st->escalated);
                break;
            }
        }
    }

    return p;
}


static u_char *
ngx_http_tier_router_status_prom_tenants(u_char *p, u_char *last,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_snapshot_t *s,
    ngx_uint_t offset, ngx_uint_t shown)
{
    ngx_uint_t  i;

#define TR_TENANT(type, metric, help)                                         \
    p = ngx_slprintf(p, last, "# HELP tier_router_tenant_" metric " " help   \
                     "\n# TYPE tier_router_tenant_" metric " " type "\n")

#define TR_TENANT_LINE(metric)                                                \
    p = ngx_slprintf(p, last, "tier_router_tenant_" metric "{zone=\"");      \
    p = ngx_http_tier_router_status_escape(p, last, zone->name.data,         \
                                           zone->name.len);                  \
    p = ngx_slprintf(p, last, "\",tenant=\"");                                \
    p = ngx_http_tier_router_status_label(p, last, &s[i]);                    \
    p = ngx_slprintf(p, last, "\"} ")

    TR_TENANT("gauge", "spend_dollars", "Tenant spend in the period.");

    for (i = offset; i < offset + shown; i++) {
        TR_TENANT_LINE("spend_dollars");
        p = ngx_http_tier_router_status_money(p, last, s[i].spent);
    }

    TR_TENANT("gauge", "baseline_dollars",
              "What the tenant's answers in the period would have cost at "
              "the baseline.");

    for (i = offset; i < offset + shown; i++) {
        TR_TENANT_LINE("baseline_dollars");
        p = ngx_http_tier_router_status_money(p, last, s[i].baseline);
    }

    TR_TENANT("gauge", "limit_dollars", "Tenant budget for the period.");

    for (i = offset; i < offset + shown; i++) {
        if (s[i].limit >= 0) {
            TR_TENANT_LINE("limit_dollars");
            p = ngx_http_tier_router_status_money(p, last, s[i].limit);
        }
    }

    TR_TENANT("gauge", "requests", "Tenant requests in the period.");

    for (i = offset; i < offset + shown; i++) {
        TR_TENANT_LINE("requests");
        p = ngx_slprintf(p, last, "%uD\n", s[i].requests);
    }

    TR_TENANT("gauge", "refused", "Tenant refusals in the period.");

    for (i = offset; i < offset + shown; i++) {
        TR_TENANT_LINE("refused");
        p = ngx_slprintf(p, last, "%uD\n", s[i].refused);
    }

#undef TR_TENANT_LINE
#undef TR_TENANT

    return p;
}


static u_char *
ngx_http_tier_router_status_money(u_char *p, u_char *last, int64_t v)
{
    char  text[32];

    (void) tr_price_print(v, text);

    return ngx_slprintf(p, last, "%s\n", text);
}


static u_char *
ngx_http_tier_router_status_label(u_char *p, u_char *last,
    ngx_http_tier_router_snapshot_t *s)
{
    if (s->label_len) {
        return ngx_http_tier_router_status_escape(p, last, s->label,
                                                  s->label_len);
    }

    if (last - p < 32) {
        return last;
    }

    return ngx_hex_dump(p, s->hash, 16);
}


/* Prometheus label values: backslash, quote and newline escaped */

static u_char *
ngx_http_tier_router_status_escape(u_char *p, u_char *last, u_char *src,
    size_t len)
{
    while (len--) {

        if (last - p < 2) {
            return last;
        }

        switch (*src) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = *src;
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            if (*src < 0x20 || *src == 0x7f) {
                *p++ = '?';

            } else {
                *p++ = *src;
            }
        }

        src++;
    }

    return p;
}
