
/*
 * Copyright (C) The tier router authors
 *
 * A budget zone's status as Prometheus text: the zone's counters, each
 * tier's with the OpenTelemetry GenAI attributes as labels and its
 * latency histograms, and a page of tenants.  Metric names carry their
 * unit; counters end in _total.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_prometheus.h"
#include "ngx_http_tier_router_histogram.h"
#include "ngx_http_tier_router_module.h"

#include "tr_price.h"


/*
 * The buffer is sized from the longest line each part can have (every
 * label value escaped may double), and every write is bounded by its end
 * all the same: output that would not fit is an error.
 */

#define NGX_HTTP_TIER_ROUTER_PROM_HELP     256   /* a HELP and TYPE pair */
#define NGX_HTTP_TIER_ROUTER_PROM_LINE     128   /* a line but its labels */
#define NGX_HTTP_TIER_ROUTER_PROM_ZONE     28
#define NGX_HTTP_TIER_ROUTER_PROM_TIER     11    /* counters, histograms
                                                    apart */
#define NGX_HTTP_TIER_ROUTER_PROM_TENANT   5

/* a tier's labels but its values: zone, tier, the gen_ai_* names */
#define NGX_HTTP_TIER_ROUTER_PROM_LABELS   128


static ngx_int_t ngx_http_tier_router_prom_tier_labels(ngx_http_request_t *r,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh,
    ngx_str_t *labels);
static u_char *ngx_http_tier_router_prom_zone(u_char *p, u_char *last,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh);
static u_char *ngx_http_tier_router_prom_tiers(u_char *p, u_char *last,
    ngx_http_tier_router_budget_sh_t *sh, ngx_str_t *labels);
static u_char *ngx_http_tier_router_prom_tenants(u_char *p, u_char *last,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_snapshot_t *s,
    ngx_uint_t offset, ngx_uint_t shown);
static u_char *ngx_http_tier_router_prom_money(u_char *p, u_char *last,
    int64_t v);
static u_char *ngx_http_tier_router_prom_label(u_char *p, u_char *last,
    ngx_http_tier_router_snapshot_t *s);
static u_char *ngx_http_tier_router_prom_escape(u_char *p, u_char *last,
    u_char *src, size_t len);


static ngx_str_t  ngx_http_tier_router_prom_providers[] = {
    ngx_null_string,                /* any: not known */
    ngx_string("openai"),
    ngx_string("anthropic")
};


ngx_buf_t *
ngx_http_tier_router_prometheus(ngx_http_request_t *r,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh,
    ngx_http_tier_router_snapshot_t *s, ngx_uint_t n, ngx_uint_t offset,
    ngx_uint_t limit)
{
    u_char      *p, *last;
    size_t       len, zlen, tlen;
    ngx_buf_t   *b;
    ngx_str_t    labels[NGX_HTTP_TIER_ROUTER_MAX_TIERS];
    ngx_uint_t   shown, i, lines;

    shown = (offset < n) ? ngx_min(n - offset, limit) : 0;

    if (ngx_http_tier_router_prom_tier_labels(r, zone, sh, labels)
        != NGX_OK)
    {
        return NULL;
    }

    zlen = 2 * zone->name.len;

    lines = NGX_HTTP_TIER_ROUTER_PROM_TIER
            + ngx_http_tier_router_histogram_lines(
                                       NGX_HTTP_TIER_ROUTER_HISTOGRAM_TTFT)
            + ngx_http_tier_router_histogram_lines(
                                   NGX_HTTP_TIER_ROUTER_HISTOGRAM_DURATION);
    tlen = 0;

    for (i = 0; i < sh->ntiers; i++) {
        tlen += lines * (NGX_HTTP_TIER_ROUTER_PROM_LINE + labels[i].len);
    }

    len = (NGX_HTTP_TIER_ROUTER_PROM_ZONE + NGX_HTTP_TIER_ROUTER_PROM_TIER + 2
           + NGX_HTTP_TIER_ROUTER_PROM_TENANT) * NGX_HTTP_TIER_ROUTER_PROM_HELP
          + NGX_HTTP_TIER_ROUTER_PROM_ZONE
            * (NGX_HTTP_TIER_ROUTER_PROM_LINE + zlen)
          + tlen
          + NGX_HTTP_TIER_ROUTER_PROM_TENANT * shown
            * (NGX_HTTP_TIER_ROUTER_PROM_LINE + zlen
               + 2 * NGX_HTTP_TIER_ROUTER_LABEL_LEN);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;
    last = b->end;

    p = ngx_http_tier_router_prom_zone(p, last, zone, sh);
    p = ngx_http_tier_router_prom_tiers(p, last, sh, labels);
    p = ngx_http_tier_router_prom_tenants(p, last, zone, s, offset, shown);

    if (p == last) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "tier router: the status of zone \"%V\" does not fit "
                      "its %uz bytes", &zone->name, len);
        return NULL;
    }

    b->last = p;

    return b;
}


/*
 * Each tier's labels, once: zone and tier, and where the configuration
 * knows them the OpenTelemetry GenAI attributes, dots made underscores
 * as OpenTelemetry's Prometheus exporters do: gen_ai_operation_name,
 * gen_ai_provider_name (the tier's ladder's api=), gen_ai_request_model.
 */

static ngx_int_t
ngx_http_tier_router_prom_tier_labels(ngx_http_request_t *r,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh,
    ngx_str_t *labels)
{
    u_char                            *p, *last;
    size_t                             len, nlen;
    ngx_str_t                         *provider, *model;
    ngx_uint_t                         i;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_ladder_t     *ladder;
    ngx_http_tier_router_tier_stat_t  *st;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;
    ladder = trmcf->ladders.elts;

    for (i = 0; i < sh->ntiers; i++) {
        st = &sh->tiers[i];
        nlen = ngx_strlen(st->name);

        /* the tier of that index, if the zone's tier is still it */

        model = NULL;
        provider = NULL;

        if (i < trmcf->tiers.nelts && tier[i].name.len == nlen
            && ngx_strncmp(tier[i].name.data, st->name, nlen) == 0)
        {
            model = &tier[i].model;
            provider = &ngx_http_tier_router_prom_providers[
                                                ladder[tier[i].ladder].api];
        }

        len = NGX_HTTP_TIER_ROUTER_PROM_LABELS + 2 * zone->name.len
              + 2 * nlen + (model ? 2 * model->len : 0)
              + (provider ? provider->len : 0);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        labels[i].data = p;
        last = p + len;

        p = ngx_slprintf(p, last, "zone=\"");
        p = ngx_http_tier_router_prom_escape(p, last, zone->name.data,
                                             zone->name.len);
        p = ngx_slprintf(p, last, "\",tier=\"");
        p = ngx_http_tier_router_prom_escape(p, last, st->name, nlen);
        p = ngx_slprintf(p, last, "\",gen_ai_operation_name=\"chat\"");

        if (provider && provider->len) {
            p = ngx_slprintf(p, last, ",gen_ai_provider_name=\"%V\"",
                             provider);
        }

        if (model && model->len) {
            p = ngx_slprintf(p, last, ",gen_ai_request_model=\"");
            p = ngx_http_tier_router_prom_escape(p, last, model->data,
                                                 model->len);
            p = ngx_slprintf(p, last, "\"");
        }

        labels[i].len = p - labels[i].data;
    }

    return NGX_OK;
}


static u_char *
ngx_http_tier_router_prom_tiers(u_char *p, u_char *last,
    ngx_http_tier_router_budget_sh_t *sh, ngx_str_t *labels)
{
    int64_t                            v;
    ngx_uint_t                         i, k;
    ngx_http_tier_router_tier_stat_t  *st;

    static const struct {
        const char  *metric;
        const char  *help;
        ngx_uint_t   money;
    }  tiers[NGX_HTTP_TIER_ROUTER_PROM_TIER] = {
        { "requests_total", "Answers settled per tier.", 0 },
        { "input_tokens_total",
          "Input tokens per tier (gen_ai.usage.input_tokens).", 0 },
        { "output_tokens_total",
          "Output tokens per tier (gen_ai.usage.output_tokens).", 0 },
        { "cache_read_tokens_total",
          "Input tokens read from the prompt cache, of the input "
          "(gen_ai.usage.cache_read.input_tokens).", 0 },
        { "cache_write_tokens_total",
          "Input tokens written to the prompt cache, of the input "
          "(gen_ai.usage.cache_creation.input_tokens).", 0 },
        { "reasoning_tokens_total",
          "Output tokens spent reasoning, of the output "
          "(gen_ai.usage.reasoning.output_tokens).", 0 },
        { "spend_dollars_total", "Spend per tier.", 1 },
        { "estimated_total", "Answers per tier charged an estimate.", 0 },
        { "fell_back_total",
          "Attempts per tier that failed and went to another tier.", 0 },
        { "escalated_total",
          "Answers per tier not good enough, sent to a higher tier.", 0 },
        { "baseline_dollars_total",
          "What the tier's answers would have cost at the baseline.", 1 }
    };

    for (k = 0; k < NGX_HTTP_TIER_ROUTER_PROM_TIER; k++) {
        p = ngx_slprintf(p, last, "# HELP tier_router_tier_%s %s\n"
                         "# TYPE tier_router_tier_%s counter\n",
                         tiers[k].metric, tiers[k].help, tiers[k].metric);

        for (i = 0; i < sh->ntiers; i++) {
            st = &sh->tiers[i];

            switch (k) {
            case 0: v = st->requests; break;
            case 1: v = st->input_tokens; break;
            case 2: v = st->output_tokens; break;
            case 3: v = st->cache_read_tokens; break;
            case 4: v = st->cache_write_tokens; break;
            case 5: v = st->reasoning_tokens; break;
            case 6: v = st->cost; break;
            case 7: v = st->estimated; break;
            case 8: v = st->failed; break;
            case 9: v = st->escalated; break;
            default: v = st->baseline; break;
            }

            p = ngx_slprintf(p, last, "tier_router_tier_%s{%V} ",
                             tiers[k].metric, &labels[i]);

            if (tiers[k].money) {
                p = ngx_http_tier_router_prom_money(p, last, v);

            } else {
                p = ngx_slprintf(p, last, "%uL\n", (uint64_t) v);
            }
        }
    }

    p = ngx_slprintf(p, last,
                     "# HELP tier_router_tier_time_to_first_token_seconds "
                     "From sending a request to the tier to the first token "
                     "of its streamed answer.\n"
                     "# TYPE tier_router_tier_time_to_first_token_seconds "
                     "histogram\n");

    for (i = 0; i < sh->ntiers; i++) {
        p = ngx_http_tier_router_histogram_print(p, last, &sh->tiers[i].ttft,
                            NGX_HTTP_TIER_ROUTER_HISTOGRAM_TTFT,
                            "tier_router_tier_time_to_first_token_seconds",
                            labels[i].data, labels[i].len);
    }

    p = ngx_slprintf(p, last,
                     "# HELP tier_router_tier_duration_seconds "
                     "From sending a request to the tier to the end of its "
                     "successful answer.\n"
                     "# TYPE tier_router_tier_duration_seconds histogram\n");

    for (i = 0; i < sh->ntiers; i++) {
        p = ngx_http_tier_router_histogram_print(p, last,
                            &sh->tiers[i].duration,
                            NGX_HTTP_TIER_ROUTER_HISTOGRAM_DURATION,
                            "tier_router_tier_duration_seconds",
                            labels[i].data, labels[i].len);
    }

    return p;
}


static u_char *
ngx_http_tier_router_prom_zone(u_char *p, u_char *last,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_budget_sh_t *sh)
{
#define TR_ZONE(type, metric, help)                                           \
    p = ngx_slprintf(p, last, "# HELP tier_router_zone_" metric " " help "\n" \
                     "# TYPE tier_router_zone_" metric " " type "\n"         \
                     "tier_router_zone_" metric "{zone=\"");                  \
    p = ngx_http_tier_router_prom_escape(p, last, zone->name.data,         \
                                           zone->name.len);                  \
    p = ngx_slprintf(p, last, "\"} ")

    TR_ZONE("gauge", "spend_dollars", "Spend in the current period.");
    p = ngx_http_tier_router_prom_money(p, last, sh->spent);
    TR_ZONE("gauge", "reserved_dollars", "Reserved by requests in flight.");
    p = ngx_http_tier_router_prom_money(p, last, sh->reserved);
    TR_ZONE("counter", "spend_dollars_total", "Spend in all periods.");
    p = ngx_http_tier_router_prom_money(p, last, sh->total);
    TR_ZONE("gauge", "baseline_dollars",
            "What the period's answers would have cost at the baseline.");
    p = ngx_http_tier_router_prom_money(p, last, sh->baseline);
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
    p = ngx_http_tier_router_prom_money(p, last, sh->unsettled_cost);

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
        p = ngx_http_tier_router_prom_money(p, last, sh->ledger_granted);
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
ngx_http_tier_router_prom_tenants(u_char *p, u_char *last,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_snapshot_t *s,
    ngx_uint_t offset, ngx_uint_t shown)
{
    ngx_uint_t  i;

#define TR_TENANT(type, metric, help)                                         \
    p = ngx_slprintf(p, last, "# HELP tier_router_tenant_" metric " " help   \
                     "\n# TYPE tier_router_tenant_" metric " " type "\n")

#define TR_TENANT_LINE(metric)                                                \
    p = ngx_slprintf(p, last, "tier_router_tenant_" metric "{zone=\"");      \
    p = ngx_http_tier_router_prom_escape(p, last, zone->name.data,         \
                                           zone->name.len);                  \
    p = ngx_slprintf(p, last, "\",tenant=\"");                                \
    p = ngx_http_tier_router_prom_label(p, last, &s[i]);                    \
    p = ngx_slprintf(p, last, "\"} ")

    TR_TENANT("gauge", "spend_dollars", "Tenant spend in the period.");

    for (i = offset; i < offset + shown; i++) {
        TR_TENANT_LINE("spend_dollars");
        p = ngx_http_tier_router_prom_money(p, last, s[i].spent);
    }

    TR_TENANT("gauge", "baseline_dollars",
              "What the tenant's answers in the period would have cost at "
              "the baseline.");

    for (i = offset; i < offset + shown; i++) {
        TR_TENANT_LINE("baseline_dollars");
        p = ngx_http_tier_router_prom_money(p, last, s[i].baseline);
    }

    TR_TENANT("gauge", "limit_dollars", "Tenant budget for the period.");

    for (i = offset; i < offset + shown; i++) {
        if (s[i].limit >= 0) {
            TR_TENANT_LINE("limit_dollars");
            p = ngx_http_tier_router_prom_money(p, last, s[i].limit);
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
ngx_http_tier_router_prom_money(u_char *p, u_char *last, int64_t v)
{
    char  text[32];

    (void) tr_price_print(v, text);

    return ngx_slprintf(p, last, "%s\n", text);
}


static u_char *
ngx_http_tier_router_prom_label(u_char *p, u_char *last,
    ngx_http_tier_router_snapshot_t *s)
{
    if (s->label_len) {
        return ngx_http_tier_router_prom_escape(p, last, s->label,
                                                  s->label_len);
    }

    if (last - p < 32) {
        return last;
    }

    return ngx_hex_dump(p, s->hash, 16);
}


/* Prometheus label values: backslash, quote and newline escaped */

static u_char *
ngx_http_tier_router_prom_escape(u_char *p, u_char *last, u_char *src,
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
