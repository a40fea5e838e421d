
/*
 * Copyright (C) The tier router authors
 *
 * Spend accounting for a routed request: admission reserves its worst
 * case in the tenant's budget (and caps or refuses), the usage filters
 * (usage_filter.c) read the token usage the upstream reports, and the log
 * phase settles the reservation to the real cost, once, however the
 * request ended.  Unrouted calls under a budget are metered here too.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_account.h"
#include "ngx_http_tier_router_alert.h"
#include "ngx_http_tier_router_budget.h"
#include "ngx_http_tier_router_catalog.h"
#include "ngx_http_tier_router_histogram.h"
#include "ngx_http_tier_router_ladder.h"
#include "ngx_http_tier_router_ledger.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"
#include "ngx_http_tier_router_zone.h"

#include "tr_admit.h"
#include "tr_dialect.h"
#include "tr_extract.h"
#include "tr_hash.h"
#include "tr_period.h"
#include "tr_price.h"
#include "tr_usage.h"


/* seconds to wait before a retry when requests in flight hold the rest */
#define NGX_HTTP_TIER_ROUTER_RESERVED_RETRY   1


static int64_t ngx_http_tier_router_cost(tr_price_t *price, tr_usage_t *u);
static ngx_int_t ngx_http_tier_router_refuse(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_tenant_t *t,
    ngx_uint_t why);
static void ngx_http_tier_router_reserve(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t, int64_t worst);
static ngx_int_t ngx_http_tier_router_no_room(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_zone_t *zone);
static ngx_int_t ngx_http_tier_router_settle_later(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static void ngx_http_tier_router_balances(tr_admit_t *a,
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_tenant_t *t,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_main_conf_t *trmcf);
static ngx_http_tier_router_tenant_t *ngx_http_tier_router_enter(
    ngx_http_request_t *r, ngx_http_tier_router_ctx_t *ctx, ngx_int_t *rc);
static ngx_int_t ngx_http_tier_router_log_handler(ngx_http_request_t *r);
static void ngx_http_tier_router_cleanup(void *data);
static void ngx_http_tier_router_settle(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static void ngx_http_tier_router_charge(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static void ngx_http_tier_router_shadow(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static ngx_int_t ngx_http_tier_router_admit_ledger(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_tenant_t *t,
    tr_admit_t *a);
static ngx_int_t ngx_http_tier_router_ledger_refuse(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static tr_price_t *ngx_http_tier_router_baseline_price(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static int64_t ngx_http_tier_router_context(
    ngx_http_tier_router_main_conf_t *trmcf, ngx_uint_t index);
static tr_price_t *ngx_http_tier_router_answered(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_tier_t *tier);
static void ngx_http_tier_router_charge_metered(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);


/*
 * Runs once the classifier and the operator's floor and cap have chosen
 * ctx->tier.  Leaves ctx->tier (maybe lower), or an error in ctx.
 */

ngx_int_t
ngx_http_tier_router_admit(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, tr_request_t *req,
    size_t body_len)
{
    int64_t                            worst;
    ngx_int_t                          rc;
    tr_admit_t                         a;
    tr_admission_t                     res;
    ngx_http_tier_router_zone_t       *zone;
    ngx_http_tier_router_tenant_t     *t;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    zone = trlcf->budget_zone;

    if (zone == NULL) {
        return NGX_OK;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    /*
     * a background response is answered "queued", and billed when it is
     * done, out of the module's sight: refused, or charged its worst case
     */

    if (req->background) {
        if (trlcf->budget_background == NGX_HTTP_TIER_ROUTER_BACKGROUND_REFUSE)
        {
            ctx->rq->error_status = NGX_HTTP_BAD_REQUEST;
            ctx->rq->error = "background responses are not metered here: "
                             "send the request without \"background\"";
            ctx->rq->error_param = "background";
            return NGX_OK;
        }

        ctx->rq->background = 1;
    }

    /*
     * the worst case: every byte of the body a third of a token (JSON's
     * own bytes make real prompts cheaper), and every output token asked,
     * n times for n choices; an input kept elsewhere (a stored response,
     * a conversation, a prompt, a file by reference) fills the largest
     * context of the tiers
     */

    ctx->rq->input_estimate = (int64_t) (body_len / 3) + 1;
    ctx->rq->output_max = (req->features.max_tokens >= 0)
                          ? req->features.max_tokens
                          : (int64_t) trlcf->budget_max_output;

    if (req->stored) {
        ctx->rq->input_estimate = ngx_max(ctx->rq->input_estimate,
                                          ngx_http_tier_router_context(trmcf,
                                                                 ctx->tier));
    }

    if (req->n > 1) {
        ctx->rq->output_max = (ctx->rq->output_max > TR_AMOUNT_MAX / req->n)
                              ? TR_AMOUNT_MAX
                              : ctx->rq->output_max * req->n;
    }

    t = ngx_http_tier_router_enter(r, ctx, &rc);

    if (t == NULL) {
        return rc;
    }

    ngx_http_tier_router_balances(&a, zone, t, ctx, trmcf);

    a.floor = (unsigned) ctx->rq->floor;
    a.soft = trlcf->budget_rules;
    a.nsoft = trlcf->budget_soft ? trlcf->budget_soft->nelts : 0;
    a.reject = (trlcf->budget_fit == NGX_HTTP_TIER_ROUTER_FIT_REJECT);

    if (zone->ledger) {
        rc = ngx_http_tier_router_admit_ledger(r, ctx, t, &a);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    tr_admit(&a, &res);

    worst = res.worst;

    if (res.verdict != TR_ADMIT_OK) {
        if (ctx->rq->ledger_failed && a.lease.limit >= 0) {
            return ngx_http_tier_router_ledger_refuse(r, ctx);
        }

        return ngx_http_tier_router_refuse(r, ctx, t, res.verdict);
    }

    ngx_http_tier_router_reserve(zone, t, worst);

    if (a.lease.limit >= 0) {
        t->lease -= worst;
        ctx->run.leased = 1;
    }

    if (res.tier != (unsigned) ctx->tier) {
        ngx_http_tier_router_inc32(t->capped);
        ngx_http_tier_router_add(zone->sh->capped, 1);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tier router: reserved %L of limit %L, spent %L, "
                   "tier %ui of %ui", worst, ctx->rq->limit, ctx->spent,
                   (ngx_uint_t) res.tier, ctx->tier);

    ctx->tier = res.tier;
    ctx->run.reserved = worst;
    ctx->rq->stream_usage = (ctx->rq->dialect == TR_OPENAI_CHAT
                             && req->features.stream && !req->include_usage);

    if (ngx_http_tier_router_settle_later(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (res.soft
        && ngx_http_tier_router_append_reason(r, ctx, "budget_soft")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (res.fit
        && ngx_http_tier_router_append_reason(r, ctx, "budget_fit")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Under the zone's lock, with a shared ledger: the tenant's lease bounds
 * admission.  A request the lease does not cover asks Redis for more,
 * once: the lock is let go and NGX_AGAIN returned, and admission runs
 * again when Redis answered.  Redis out of reach: on_error=open admits
 * by this node's view alone, closed by the lease alone.
 */

static ngx_int_t
ngx_http_tier_router_admit_ledger(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_tenant_t *t,
    tr_admit_t *a)
{
    time_t                         start;
    int64_t                        lease, ask, keep, held;
    ngx_int_t                      rc;
    ngx_uint_t                     sync;
    tr_admission_t                 res;
    ngx_http_tier_router_zone_t   *zone;

    zone = ctx->rq->zone;

    if (ctx->rq->limit < 0) {

        /* no limit: nothing to lease, the spend is sent all the same */

        return NGX_OK;
    }

    lease = ngx_http_tier_router_ledger_lease(zone, t);

    if (!ctx->rq->ledger_asked && !ctx->rq->ledger_failed) {

        tr_admit(a, &res);

        if (res.verdict != TR_ADMIT_OK || res.worst <= lease) {
            a->lease.limit = lease;
            return NGX_OK;
        }

        sync = (t->unsynced != 0);
        start = t->period_start;

        ngx_shmtx_unlock(&zone->shpool->mutex);

        /*
         * the spend not sent goes first, on the same connection, so Redis
         * has it before the lease: a node never holds more than a lease
         * of spend that Redis has not seen
         */

        if (sync) {
            ngx_http_tier_router_ledger_send(zone);
        }

        ngx_shmtx_lock(&zone->shpool->mutex);

        t = ngx_http_tier_router_budget_lookup(zone, ctx->rq->hash);

        /*
         * the lock let go and the tenant gone, or Redis out of reach
         * below: NGX_AGAIN without waiting, and admission runs once more
         * as for a lease Redis did not answer
         */

        if (t == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            ctx->rq->ledger_failed = 1;
            return NGX_AGAIN;
        }

        ngx_http_tier_router_ledger_need(zone, t, ctx->rq->limit, res.worst,
                                         &ask, &keep, &held);

        ngx_shmtx_unlock(&zone->shpool->mutex);

        ctx->rq->ledger_asked = 1;

        rc = ngx_http_tier_router_ledger_ask(r, zone, start, ctx->rq->limit,
                                             ask, keep, held);
        if (rc == NGX_OK) {
            return NGX_AGAIN;
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        ctx->rq->ledger_failed = 1;

        return NGX_AGAIN;
    }

    if (ctx->rq->ledger_failed
        && zone->ledger->fail == NGX_HTTP_TIER_ROUTER_FAIL_OPEN)
    {
        /* this node's view of the tenant's spend, and nothing else */

        zone->sh->ledger_open++;

        if (zone->sh->ledger_logged != ngx_time()) {
            zone->sh->ledger_logged = ngx_time();

            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "tier router: zone \"%V\": redis out of reach: "
                          "admitted by this node's budgets alone",
                          &zone->name);
        }

        return NGX_OK;
    }

    a->lease.limit = lease;

    return NGX_OK;
}


/* closed, Redis out of reach, the lease short: a 503 to retry */

static ngx_int_t
ngx_http_tier_router_ledger_refuse(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    ngx_http_tier_router_zone_t  *zone;

    zone = ctx->rq->zone;

    zone->sh->ledger_closed++;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ctx->rq->error_status = NGX_HTTP_SERVICE_UNAVAILABLE;
    ctx->rq->error_type = (ctx->rq->dialect == TR_ANTHROPIC)
                          ? "api_error" : "server_error";
    ctx->rq->error = "the shared budget ledger is out of reach: retry "
                     "shortly";
    ctx->rq->error_code = "budget_unavailable";
    ctx->rq->retry_after = NGX_HTTP_TIER_ROUTER_RESERVED_RETRY;
    ctx->rq->retryable = 1;

    return ngx_http_tier_router_append_reason(r, ctx, "budget_unavailable");
}


/* a reservation of worst in the tenant's and the zone's balances */

static void
ngx_http_tier_router_reserve(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t, int64_t worst)
{
    ngx_http_tier_router_add(t->reserved, worst);
    t->inflight++;
    ngx_http_tier_router_budget_idle(zone, t);
    ngx_http_tier_router_add(zone->sh->reserved, worst);
    zone->sh->generation++;
}


/* what admission reads: the balances, the prices, the request's tier */

static void
ngx_http_tier_router_balances(tr_admit_t *a, ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t, ngx_http_tier_router_ctx_t *ctx,
    ngx_http_tier_router_main_conf_t *trmcf)
{
    ngx_memzero(a, sizeof(tr_admit_t));

    a->tenant.spent = t->spent;
    a->tenant.reserved = t->reserved;
    a->tenant.limit = ctx->rq->limit;
    a->zone.spent = zone->sh->spent;
    a->zone.reserved = zone->sh->reserved;
    a->zone.limit = zone->limit;
    a->lease.limit = -1;
    a->prices = trmcf->tier_prices;
    a->tier = (unsigned) ctx->tier;
    a->floor = a->tier;
    a->input = ctx->rq->input_estimate;
    a->output = ctx->rq->output_max;
}


/*
 * A request passed on unrouted (embeddings, legacy completions, count
 * tokens, batches) in a location with a budget: its tenant must be known
 * and not spent, and the usage its answer reports, if any, is charged at
 * the price of the model that answered.  Nothing is reserved: what it
 * may cost is not known before the answer.
 */

ngx_int_t
ngx_http_tier_router_meter(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    ngx_int_t                          rc;
    tr_admit_t                         a;
    ngx_http_tier_router_zone_t       *zone;
    ngx_http_tier_router_tenant_t     *t;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);
    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    zone = trlcf->budget_zone;

    ngx_str_set(&ctx->rq->reason, "passthrough");

    t = ngx_http_tier_router_enter(r, ctx, &rc);

    if (t == NULL) {
        return rc;
    }

    ngx_http_tier_router_balances(&a, zone, t, ctx, trmcf);

    if (tr_admit_spent(&a.tenant, &a.zone)) {
        return ngx_http_tier_router_refuse(r, ctx, t, TR_ADMIT_SPENT);
    }

    /* in flight, holding nothing */

    ngx_http_tier_router_reserve(zone, t, 0);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ctx->rq->metered = 1;

    return ngx_http_tier_router_settle_later(r, ctx);
}


/*
 * What was admitted is settled once: in the log phase, or when the
 * request's pool goes if the log phase never ran
 */

static ngx_int_t
ngx_http_tier_router_settle_later(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    ngx_pool_cleanup_t  *cln;

    ctx->run.accounted = 1;
    ctx->run.start = ngx_current_msec;
    ctx->run.timed = 1;
    ctx->request = r;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_http_tier_router_settle(r, ctx);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tier_router_cleanup;
    cln->data = ctx;

    return NGX_OK;
}


/*
 * The zone has no room for the tenant (called with the zone locked, which
 * it unlocks): served unaccounted and counted so, or refused, as
 * tier_router_budget_on_error says.
 */

static ngx_int_t
ngx_http_tier_router_no_room(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_zone_t *zone)
{
    ngx_http_tier_router_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (trlcf->budget_on_error == NGX_HTTP_TIER_ROUTER_FAIL_OPEN) {
        ngx_http_tier_router_add(zone->sh->unaccounted, 1);
        zone->sh->generation++;
        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (zone->unaccounted_logged != ngx_time()) {
            zone->unaccounted_logged = ngx_time();

            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "tier router: zone \"%V\" has no room for "
                          "the tenant: the request is served "
                          "unaccounted (tier_router_budget_on_error "
                          "open); counted in \"unaccounted\", logged "
                          "once a second", &zone->name);
        }

        return ngx_http_tier_router_append_reason(r, ctx,
                                                  "budget_unaccounted");
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ctx->rq->error_status = NGX_HTTP_SERVICE_UNAVAILABLE;
    ctx->rq->error = "spend accounting is unavailable: try again later";
    ctx->rq->error_type = (ctx->rq->dialect == TR_ANTHROPIC)
                          ? "overloaded_error" : "server_error";
    ctx->rq->retry_after = 60;

    return NGX_OK;
}


/* the tenant's hash, its limit and label, from the operator's variables */

ngx_int_t
ngx_http_tier_router_account_key(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *label)
{
    ngx_str_t                         key, limit;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (ngx_http_complex_value(r, trlcf->budget_key, &key) != NGX_OK) {
        return NGX_ERROR;
    }

    /* no key is no tenant: one shared empty-key tenant only if asked */

    if (key.len == 0
        && trlcf->budget_empty_key == NGX_HTTP_TIER_ROUTER_EMPTY_REFUSE)
    {
        ctx->rq->error_status = NGX_HTTP_UNAUTHORIZED;
        ctx->rq->error = "no API key: the request names no tenant";
        ctx->rq->error_type = (ctx->rq->dialect == TR_ANTHROPIC)
                              ? "authentication_error"
                              : "invalid_request_error";
        return NGX_ERROR;
    }

    tr_hash(trlcf->budget_zone->hash_key, key.data,
            key.len, ctx->rq->hash);

    ctx->rq->limit = -1;

    if (trlcf->budget_limit && trlcf->budget_limit->lengths == NULL) {
        ctx->rq->limit = trlcf->budget_limit_value;

    } else if (trlcf->budget_limit) {
        if (ngx_http_complex_value(r, trlcf->budget_limit, &limit)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (limit.len) {
            ctx->rq->limit = tr_price_parse(limit.data,
                                            limit.len);

            if (ctx->rq->limit < 0) {

                /* fail closed: a typo in a map must not lift a limit */

                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "tier router: invalid budget limit \"%V\": "
                              "dollars, as \"25\" or \"9.99\"", &limit);

                ctx->rq->error_status = NGX_HTTP_INTERNAL_SERVER_ERROR;
                ctx->rq->error = "the budget configuration is invalid";
                return NGX_ERROR;
            }
        }
    }

    label->len = 0;

    if (trlcf->budget_label
        && ngx_http_complex_value(r, trlcf->budget_label, label) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* input at the input price, all output at the dearer of output, thinking */

/*
 * The tenant's entry for a request, its period rolled and the zone left
 * locked; or NULL, the zone unlocked, with what the caller returns in rc:
 * NGX_OK with an error in ctx (or served unaccounted), or NGX_ERROR.
 */

static ngx_http_tier_router_tenant_t *
ngx_http_tier_router_enter(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_int_t *rc)
{
    time_t                            now;
    ngx_str_t                         label;
    ngx_http_tier_router_zone_t      *zone;
    ngx_http_tier_router_tenant_t    *t;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    zone = trlcf->budget_zone;

    if (ngx_http_tier_router_account_key(r, ctx, &label) != NGX_OK) {
        *rc = ctx->rq->error ? NGX_OK : NGX_ERROR;
        return NULL;
    }

    now = ngx_http_tier_router_clock(r);

    if (now == NGX_ERROR) {
        *rc = NGX_ERROR;
        return NULL;
    }

    ctx->rq->now = now;

    ngx_shmtx_lock(&zone->shpool->mutex);

    t = ngx_http_tier_router_budget_tenant(zone, ctx->rq->hash, now,
                                           r->connection->log);

    if (t == NULL) {
        *rc = ngx_http_tier_router_no_room(r, ctx, zone);
        return NULL;
    }

    ngx_http_tier_router_budget_roll(zone, t, now);

    t->last = now;
    t->limit = ctx->rq->limit;

    ctx->rq->zone = zone;
    ctx->spent = t->spent;

    if (label.len) {
        t->label_len = (u_char) ngx_min(label.len,
                                        NGX_HTTP_TIER_ROUTER_LABEL_LEN);
        ngx_memcpy(t->label, label.data, t->label_len);
    }

    return t;
}


static ngx_int_t
ngx_http_tier_router_refuse(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_tenant_t *t,
    ngx_uint_t why)
{
    time_t                            end;
    ngx_http_tier_router_zone_t      *zone;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    /* counted, with the zone still locked, which is then let go */

    zone = ctx->rq->zone;

    ngx_http_tier_router_inc32(t->refused);
    ngx_http_tier_router_add(zone->sh->refused, 1);
    zone->sh->generation++;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    ctx->rq->error_status = trlcf->budget_status;
    ctx->rq->error_type = (ctx->rq->dialect == TR_ANTHROPIC)
                          ? "rate_limit_error" : "insufficient_quota";

    /*
     * what requests in flight hold comes back in seconds, when they
     * settle: that refusal may be retried soon, the others not until the
     * period ends
     */

    if (why == TR_ADMIT_RESERVED) {
        ctx->rq->error = zone->ledger
                         ? "the budget left in this period is held by "
                           "requests in flight, here or on other nodes: "
                           "retry shortly"
                         : "the budget left in this period is held by "
                           "requests in flight: retry shortly";
        ctx->rq->error_code = "budget_reserved";
        ctx->rq->retry_after = NGX_HTTP_TIER_ROUTER_RESERVED_RETRY;
        ctx->rq->retryable = 1;

        return ngx_http_tier_router_append_reason(r, ctx, "budget_reserved");
    }

    ctx->rq->error = (why == TR_ADMIT_SPENT)
                     ? "the budget for this period is spent"
                     : "the budget left in this period cannot cover this "
                       "request";
    ctx->rq->error_code = "budget_exceeded";

    end = tr_period_end(trlcf->budget_zone->period, ctx->rq->now);

    ctx->rq->retry_after = end ? end - ctx->rq->now : 0;

    return ngx_http_tier_router_append_reason(r, ctx,
                              (why == TR_ADMIT_SPENT)
                              ? "budget_spent" : "budget_short");
}


/*
 * Another attempt of the request, at ctx->tier (which fallback or
 * escalation chose): its worst case is reserved as admission reserved
 * the first's, at exactly that tier.  NGX_DECLINED: the budget does not
 * cover it.
 */

ngx_int_t
ngx_http_tier_router_account_again(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    int64_t                            worst;
    tr_admit_t                         a;
    tr_admission_t                     res;
    ngx_pool_cleanup_t                *cln;
    ngx_http_tier_router_zone_t       *zone;
    ngx_http_tier_router_tenant_t     *t;
    ngx_http_tier_router_main_conf_t  *trmcf;

    zone = ctx->rq->zone;

    if (zone == NULL) {
        return NGX_OK;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    t = ngx_http_tier_router_budget_lookup(zone, ctx->rq->hash);

    ngx_http_tier_router_budget_roll(zone, t, ctx->rq->now);

    if (t == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    /* exactly this tier: no soft cap, nothing lower */

    ngx_http_tier_router_balances(&a, zone, t, ctx, trmcf);

    a.floor = (unsigned) ctx->tier;
    a.reject = 1;

    /* another attempt never waits for Redis: what the lease covers */

    if (zone->ledger && ctx->rq->limit >= 0
        && !(ctx->rq->ledger_failed
             && zone->ledger->fail == NGX_HTTP_TIER_ROUTER_FAIL_OPEN))
    {
        a.lease.limit = ngx_http_tier_router_ledger_lease(zone, t);
    }

    tr_admit(&a, &res);

    worst = res.worst;

    if (res.verdict != TR_ADMIT_OK) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_http_tier_router_reserve(zone, t, worst);

    if (a.lease.limit >= 0) {
        t->lease -= worst;
        ctx->run.leased = 1;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ctx->run.reserved = worst;
    ctx->run.accounted = 1;
    ctx->run.start = ngx_current_msec;
    ctx->run.timed = 1;
    ctx->request = r;

    cln->handler = ngx_http_tier_router_cleanup;
    cln->data = ctx;

    return NGX_OK;
}


/*
 * The first attempt takes over the reservation that admission made for
 * the main request (ctx); the main request then settles nothing itself
 * and adds up what its attempts cost.
 */

void
ngx_http_tier_router_account_hand_over(ngx_http_request_t *sr,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_ctx_t *actx)
{
    ngx_pool_cleanup_t  *cln;

    if (!ctx->run.accounted || ctx->run.settled) {
        return;
    }

    cln = ngx_pool_cleanup_add(sr->pool, 0);

    if (cln == NULL) {
        /* the main request keeps it and settles it as before */
        actx->run.accounted = 0;
        return;
    }

    actx->run.accounted = 1;
    actx->run.reserved = ctx->run.reserved;
    actx->run.leased = ctx->run.leased;
    actx->request = sr;

    cln->handler = ngx_http_tier_router_cleanup;
    cln->data = actx;

    ctx->run.settled = 1;
    ctx->run.reserved = 0;
    ctx->run.cost = 0;
    ctx->run.counts.input = 0;
    ctx->run.counts.output = 0;
    ctx->run.counts.cached = 0;
    ctx->run.counts.cache_write = 0;
    ctx->run.counts.reasoning = 0;
}


/* an attempt's end: its cost, once, however it ended */

void
ngx_http_tier_router_account_close(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    if (ctx->run.accounted && !ctx->run.settled) {
        ngx_http_tier_router_settle(r, ctx);
    }
}


static ngx_int_t
ngx_http_tier_router_log_handler(ngx_http_request_t *r)
{
    ngx_http_tier_router_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    if (ctx && ctx->run.accounted && !ctx->run.settled) {
        ngx_http_tier_router_settle(r, ctx);
    }

    if (ctx && ctx->rq->shadow && !ctx->run.settled) {
        ngx_http_tier_router_shadow(r, ctx);
    }

    return NGX_OK;
}


/*
 * A shadow request's answer, priced twice and charged nothing: at the
 * model that answered (what it cost) and at the tier the router chose
 * (what it would have)
 */

static void
ngx_http_tier_router_shadow(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    ngx_str_t                          model;
    tr_usage_t                        *u;
    tr_price_t                        *price;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_main_conf_t  *trmcf;

    ctx->run.settled = 1;
    ctx->run.baseline = -1;

    u = &ctx->run.counts;
    tr_usage_none(u);

    if (ctx->run.usage == NULL || ctx->run.opaque
        || tr_usage_result(ctx->run.usage, u) != 0)
    {
        return;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;

    model.data = ctx->run.usage->model;
    model.len = ctx->run.usage->model_len;

    price = ngx_http_tier_router_price_of(trmcf, &model, NULL);

    if (price == NULL) {
        price = ngx_http_tier_router_price_of(trmcf,
                                              &ctx->rq->requested_model,
                                              NULL);
    }

    if (price) {
        ctx->run.baseline = ngx_http_tier_router_cost(price, u);
    }

    if (tier[ctx->tier].priced) {
        ctx->rq->shadow_cost = ngx_http_tier_router_cost(
                                   &tier[ctx->tier].price, u);
    }
}


/*
 * If the log phase did not settle (it never ran, or an internal redirect
 * dropped the module's context), the end of the request's pool does: a
 * reservation is never left behind.
 */

static void
ngx_http_tier_router_cleanup(void *data)
{
    ngx_http_tier_router_ctx_t *ctx = data;

    if (ctx->run.accounted && !ctx->run.settled) {
        ngx_http_tier_router_settle(ctx->request, ctx);
    }
}


static void
ngx_http_tier_router_settle(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    int64_t                            baseline;
    ngx_msec_t                         now;
    ngx_uint_t                         i, alerts, ok, status;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_zone_t       *zone;
    ngx_http_tier_router_tenant_t     *t;
    ngx_http_tier_router_tier_stat_t  *st;
    ngx_http_tier_router_main_conf_t  *trmcf;

    ctx->run.settled = 1;

    ngx_http_tier_router_charge(r, ctx);

    /* what it replaced: only the answer the client got, once */

    baseline = ctx->run.discard ? 0 : ctx->run.baseline;

    /* timed: an answer of the upstream's, successful and whole */

    now = ngx_current_msec;
    status = (r->upstream) ? r->upstream->headers_in.status_n : 0;
    ok = ctx->run.timed && status >= 200 && status < 300
         && ctx->run.usage && (ctx->run.usage->done || ctx->run.opaque);

    zone = ctx->rq->zone;
    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;
    tier = &tier[ctx->tier];

    alerts = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    t = ngx_http_tier_router_budget_lookup(zone, ctx->rq->hash);

    /* the zone's period, and the tenant's if it is still there */

    ngx_http_tier_router_budget_roll(zone, t, ctx->rq->now);

    if (t) {
        t->reserved -= ngx_min(t->reserved, ctx->run.reserved);
        t->inflight -= (t->inflight > 0);

        /* with a ledger: what the lease did not spend goes back to it */

        if (ctx->run.leased) {
            t->lease += ctx->run.reserved - ctx->run.cost;
        }

        if (zone->ledger) {
            ngx_http_tier_router_add(t->unsynced, ctx->run.cost);
            ngx_http_tier_router_add(zone->sh->unsynced, ctx->run.cost);
        }

        ngx_http_tier_router_add(t->spent, ctx->run.cost);
        ngx_http_tier_router_add(t->total, ctx->run.cost);
        ngx_http_tier_router_add(t->baseline, baseline);

        ngx_http_tier_router_inc32(t->requests);

        if (ctx->run.estimated) {
            ngx_http_tier_router_inc32(t->estimated);
        }

        ngx_http_tier_router_add(t->input_tokens, ctx->run.counts.input);
        ngx_http_tier_router_add(t->output_tokens, ctx->run.counts.output);
        ngx_http_tier_router_budget_idle(zone, t);

        ctx->spent = t->spent;

        alerts = ngx_http_tier_router_alert_check(zone, t, ctx->rq->now,
                                                  r->connection->log);
    }

    zone->sh->reserved -= ngx_min(zone->sh->reserved, ctx->run.reserved);
    ngx_http_tier_router_add(zone->sh->spent, ctx->run.cost);
    ngx_http_tier_router_add(zone->sh->total, ctx->run.cost);

    ngx_http_tier_router_add(zone->sh->baseline, baseline);

    ngx_http_tier_router_add(zone->sh->requests, 1);
    ngx_http_tier_router_add(zone->sh->estimated, ctx->run.estimated);
    zone->sh->generation++;

    /* a request passed on unrouted belongs to no tier */

    for (i = 0; i < zone->sh->ntiers && !ctx->rq->metered; i++) {
        st = &zone->sh->tiers[i];

        if (ngx_strlen(st->name) == ngx_min(tier->name.len,
                                            NGX_HTTP_TIER_ROUTER_TIER_NAME - 1)
            && ngx_strncmp(st->name, tier->name.data,
                           ngx_strlen(st->name)) == 0)
        {
            ngx_http_tier_router_add(st->requests, 1);
            ngx_http_tier_router_add(st->input_tokens, ctx->run.counts.input);
            ngx_http_tier_router_add(st->output_tokens, ctx->run.counts.output);
            ngx_http_tier_router_add(st->cache_read_tokens,
                                     ngx_max(ctx->run.counts.cached, 0));
            ngx_http_tier_router_add(st->cache_write_tokens,
                                     ngx_max(ctx->run.counts.cache_write, 0));
            ngx_http_tier_router_add(st->reasoning_tokens,
                                     ngx_max(ctx->run.counts.reasoning, 0));
            ngx_http_tier_router_add(st->estimated, ctx->run.estimated);
            ngx_http_tier_router_add(st->failed,
                                     ctx->run.discard && !ctx->run.escalated);
            ngx_http_tier_router_add(st->escalated, ctx->run.escalated);
            ngx_http_tier_router_add(st->cost, ctx->run.cost);
            ngx_http_tier_router_add(st->baseline, baseline);

            if (ok) {
                ngx_http_tier_router_histogram_observe(&st->duration,
                                      NGX_HTTP_TIER_ROUTER_HISTOGRAM_DURATION,
                                      now - ctx->run.start);
            }

            if (ok && ctx->run.first_seen) {
                ngx_http_tier_router_histogram_observe(&st->ttft,
                                          NGX_HTTP_TIER_ROUTER_HISTOGRAM_TTFT,
                                          ctx->run.first - ctx->run.start);
            }

            break;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (alerts) {
        ngx_http_tier_router_alert_kick(zone);
    }

    if (t == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "tier router: a tenant with a reservation left zone "
                      "\"%V\": %L charged to the zone only",
                      &zone->name, ctx->run.cost);
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tier router: settled %L (reserved %L, estimated %ui), "
                   "spent %L", ctx->run.cost, ctx->run.reserved,
                   (ngx_uint_t) ctx->run.estimated, ctx->spent);
}


/*
 * The cost: from the usage the upstream reported, else an estimate from
 * what was seen, marked so.  Providers do not bill an error they answer;
 * a request sent and never answered is charged its input.
 */

static void
ngx_http_tier_router_charge(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    int64_t                            text;
    ngx_uint_t                         status, sent;
    ngx_http_tier_router_tier_t       *tier;
    tr_usage_t                        *u;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;
    tier = &tier[ctx->tier];

    u = &ctx->run.counts;

    tr_usage_none(u);

    status = r->upstream ? r->upstream->headers_in.status_n : 0;
    sent = r->upstream ? r->upstream->request_sent : 0;

    text = 0;

    if (ctx->run.usage) {
        text = ctx->run.opaque ? (int64_t) (ctx->run.usage->bytes + 2) / 3
                               : (int64_t) (ctx->run.usage->text_bytes + 2) / 3;
    }

    if (ctx->run.usage && !ctx->run.opaque
        && tr_usage_result(ctx->run.usage, u) == 0)
    {
        if (u->input < 0) {
            u->input = ctx->rq->input_estimate;
            ctx->run.estimated = 1;
        }

        /*
         * a response cut short (the client left, the upstream broke)
         * reported its output so far at best: Anthropic's message_start
         * says 1; the text seen may say more
         */

        if (u->output < 0 || (!ctx->run.usage->done && u->output < text)) {
            u->output = text;
            ctx->run.estimated = 1;

        } else if (!ctx->run.usage->done) {
            ctx->run.estimated = 1;
        }

    } else if (status >= 400) {
        u->input = 0;
        u->output = 0;

    } else if (status || sent) {
        u->input = ctx->rq->input_estimate;
        u->output = text;
        ctx->run.estimated = 1;

    } else {
        u->input = 0;
        u->output = 0;
    }

    if (ctx->rq->metered) {
        ngx_http_tier_router_charge_metered(r, ctx);
        ctx->run.baseline = ctx->run.cost;
        return;
    }

    ctx->run.baseline = ngx_http_tier_router_cost(
                            ngx_http_tier_router_baseline_price(r, ctx), u);

    ctx->run.cost = ngx_http_tier_router_cost(
                        ngx_http_tier_router_answered(r, ctx, tier), u);

    /*
     * an answer that could not be read (encoded although identity was
     * asked for): its bytes say nothing of its tokens, so never less
     * than the worst case reserved for it
     */

    if (ctx->run.opaque && status < 400 && ctx->run.cost < ctx->run.reserved) {
        ctx->run.cost = ctx->run.reserved;
    }

    /* a background response's bill comes later: its worst case now */

    if (ctx->rq->background && status < 400
        && ctx->run.cost < ctx->run.reserved)
    {
        ctx->run.cost = ctx->run.reserved;
        ctx->run.estimated = 1;
    }
}


/*
 * What the request has cost so far, for the client: the attempts before
 * this run, and this run's usage read up to now at the price of the model
 * that answers; -1 when nothing can be said.
 */

int64_t
ngx_http_tier_router_cost_now(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    int64_t                            cost;
    tr_usage_t                         u;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_main_conf_t  *trmcf;

    tr_usage_none(&u);

    if (ctx->run.usage == NULL || tr_usage_result(ctx->run.usage, &u) != 0) {
        return -1;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;

    cost = ngx_http_tier_router_cost(
               ngx_http_tier_router_answered(r, ctx, &tier[ctx->tier]), &u);

    if (ctx->parent) {
        cost = tr_amount_add(cost, ctx->parent->run.cost);
    }

    return cost;
}


/*
 * A usage at a price, capped at TR_AMOUNT_MAX: computed once, where
 * ngx_min() around the call computed it twice
 */

static int64_t
ngx_http_tier_router_cost(tr_price_t *price, tr_usage_t *u)
{
    int64_t  cost;

    cost = tr_price_cost(price, u);

    return ngx_min(cost, TR_AMOUNT_MAX);
}


/*
 * What a request is compared with, to show what routing saved: the price
 * of the model the client asked for, where it has one; else the
 * location's tier_router_baseline tier's; else the top tier's of the
 * request's ladder.
 */

static tr_price_t *
ngx_http_tier_router_baseline_price(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    ngx_int_t                          i;
    tr_price_t                        *price;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_ladder_t     *ladder;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    price = ngx_http_tier_router_price_of(trmcf, &ctx->rq->requested_model,
                                          NULL);
    if (price) {
        return price;
    }

    tier = trmcf->tiers.elts;
    ladder = trmcf->ladders.elts;
    ladder = &ladder[tier[ctx->tier].ladder];

    i = -1;

    if (trlcf->baseline.len) {
        i = ngx_http_tier_router_find_tier(trmcf, ladder,
                                           trlcf->baseline.data,
                                           trlcf->baseline.len);
    }

    if (i < 0) {
        i = ladder->first + ladder->n - 1;
    }

    return &tier[i].price;
}


/* the largest context window of the tiers of tier's ladder, in tokens */

static int64_t
ngx_http_tier_router_context(ngx_http_tier_router_main_conf_t *trmcf,
    ngx_uint_t index)
{
    int64_t                         max, context;
    ngx_uint_t                      i;
    ngx_http_tier_router_tier_t    *tier;
    ngx_http_tier_router_ladder_t  *ladder;

    tier = trmcf->tiers.elts;
    ladder = trmcf->ladders.elts;
    ladder = &ladder[tier[index].ladder];
    max = 0;

    for (i = ladder->first; i < ladder->first + ladder->n; i++) {
        context = tier[i].price.context;

        if (context <= 0) {
            context = TR_CONTEXT;
        }

        max = ngx_max(max, context);
    }

    return max;
}


/*
 * The price of the model that answered, as the answer names it, where it
 * is priced and not the tier's own; else the tier's.  A directive's price
 * wins over a catalog's: a tier priced by the operator is not charged a
 * catalog's list price for the dated name its answers give.
 */

static tr_price_t *
ngx_http_tier_router_answered(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_tier_t *tier)
{
    ngx_str_t                          model;
    ngx_uint_t                         here;
    tr_price_t                        *price;
    ngx_http_tier_router_main_conf_t  *trmcf;

    if (ctx->run.usage == NULL || ctx->run.usage->model_len == 0
        || (ctx->run.usage->model_len == tier->model.len
            && ngx_strncmp(ctx->run.usage->model, tier->model.data,
                           tier->model.len) == 0))
    {
        return &tier->price;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    model.data = ctx->run.usage->model;
    model.len = ctx->run.usage->model_len;

    here = 0;
    price = ngx_http_tier_router_price_of(trmcf, &model, &here);

    if (price == NULL || (tier->priced_here && !here)) {
        return &tier->price;
    }

    return price;
}


/*
 * A request passed on unrouted is charged what its answer reports and
 * nothing else: no usage (a file, a batch, count_tokens) is no charge.
 * The price is the answering model's; a model without one is charged at
 * the dearest tier's, never less, and logged once a second.
 */

static void
ngx_http_tier_router_charge_metered(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    int64_t                             cost;
    ngx_str_t                           model;
    ngx_uint_t                          i;
    ngx_http_tier_router_tier_t        *tier;
    tr_usage_t                         *u;
    tr_price_t                         *price;
    ngx_http_tier_router_main_conf_t   *trmcf;

    static time_t                       logged;

    u = &ctx->run.counts;

    if (ctx->run.usage == NULL || ctx->run.opaque
        || tr_usage_result(ctx->run.usage, u) != 0
        || (r->upstream && r->upstream->headers_in.status_n >= 400))
    {
        u->input = 0;
        u->output = 0;
        ctx->run.cost = 0;
        ctx->run.estimated = ctx->run.opaque;
        return;
    }

    if (!ctx->run.usage->done) {
        ctx->run.estimated = 1;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    model.data = ctx->run.usage->model;
    model.len = ctx->run.usage->model_len;

    price = ngx_http_tier_router_price_of(trmcf, &model, NULL);

    if (price) {
        ctx->run.cost = ngx_http_tier_router_cost(price, u);
        return;
    }

    ctx->run.cost = 0;
    tier = trmcf->tiers.elts;

    for (i = 0; i < trmcf->tiers.nelts; i++) {
        cost = tr_price_cost(&tier[i].price, u);
        ctx->run.cost = ngx_max(ctx->run.cost, cost);
    }

    ctx->run.cost = ngx_min(ctx->run.cost, TR_AMOUNT_MAX);

    if (logged != ngx_time()) {
        logged = ngx_time();

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "tier router: model \"%V\" that answered \"%V\" "
                      "has no price: charged at the dearest tier's (add "
                      "\"tier_router_price\"), logged once a second",
                      &model, &r->uri);
    }
}


ngx_int_t
ngx_http_tier_router_account_init(ngx_conf_t *cf)
{
    ngx_uint_t                  n;
    ngx_http_handler_pt        *h, *first;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    /*
     * first in the log phase, so that the access log already sees the
     * settled cost in $tier_router_cost and the like
     */

    first = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
    n = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.nelts;

    ngx_memmove(&first[1], &first[0], (n - 1) * sizeof(ngx_http_handler_pt));
    first[0] = ngx_http_tier_router_log_handler;

    return NGX_OK;
}


/* tier_router_budget zone=NAME key=VALUE [limit=VALUE] [label=VALUE] | off */

char *
ngx_http_tier_router_budget(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    ngx_str_t                  *value, name, v;
    ngx_uint_t                  i;
    ngx_http_complex_value_t  **cvp;

    if (trlcf->budget_zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        trlcf->budget_zone = NULL;
        return NGX_CONF_OK;
    }

    name.len = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            name.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            cvp = &trlcf->budget_key;
            v.data = value[i].data + 4;
            v.len = value[i].len - 4;

        } else if (ngx_strncmp(value[i].data, "limit=", 6) == 0) {
            cvp = &trlcf->budget_limit;
            v.data = value[i].data + 6;
            v.len = value[i].len - 6;

        } else if (ngx_strncmp(value[i].data, "label=", 6) == 0) {
            cvp = &trlcf->budget_label;
            v.data = value[i].data + 6;
            v.len = value[i].len - 6;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_tier_router_compile(cf, &v, cvp) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    /* a limit without variables: parsed here once, not per request */

    trlcf->budget_limit_value = -1;

    if (trlcf->budget_limit && trlcf->budget_limit->lengths == NULL
        && trlcf->budget_limit->value.len)
    {
        v = trlcf->budget_limit->value;
        trlcf->budget_limit_value = tr_price_parse(v.data, v.len);

        if (trlcf->budget_limit_value < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid budget limit \"%V\" in "
                               "\"tier_router_budget\": dollars, as "
                               "\"25\" or \"9.99\"", &v);
            return NGX_CONF_ERROR;
        }
    }

    if (name.len == 0 || trlcf->budget_key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_budget\" needs \"zone=\" and "
                           "\"key=\"");
        return NGX_CONF_ERROR;
    }

    trlcf->budget_zone = ngx_http_tier_router_budget_named_zone(cf, &name);

    if (trlcf->budget_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* tier_router_budget_soft PERCENT TIER: past PERCENT of the limit, TIER */

char *
ngx_http_tier_router_budget_soft(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    size_t                        len;
    ngx_int_t                     n;
    ngx_str_t                    *value;
    ngx_http_tier_router_soft_t  *sp;

    value = cf->args->elts;

    if (trlcf->budget_soft == NGX_CONF_UNSET_PTR) {
        trlcf->budget_soft = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_tier_router_soft_t));
        if (trlcf->budget_soft == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    len = value[1].len;

    if (len && value[1].data[len - 1] == '%') {
        len--;
    }

    n = ngx_atoi(value[1].data, len);

    if (n < 1 || n > 100) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid threshold \"%V\": a percentage of the "
                           "limit, 1%% to 100%%", &value[1]);
        return NGX_CONF_ERROR;
    }

    sp = ngx_array_push(trlcf->budget_soft);
    if (sp == NULL) {
        return NGX_CONF_ERROR;
    }

    sp->percent = (ngx_uint_t) n * 100;
    sp->tier = value[2];
    sp->index = -1;

    return NGX_CONF_OK;
}


char *
ngx_http_tier_router_budget_soft_merge(ngx_conf_t *cf,
    ngx_http_tier_router_loc_conf_t *conf)
{
    ngx_uint_t                         i;
    ngx_http_tier_router_soft_t       *sp;
    ngx_http_tier_router_main_conf_t  *trmcf;

    if (conf->budget_soft == NULL) {
        return NGX_CONF_OK;
    }

    trmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_tier_router_module);
    sp = conf->budget_soft->elts;

    for (i = 0; i < conf->budget_soft->nelts; i++) {
        sp[i].index = ngx_http_tier_router_find_tier(trmcf, conf->ladder,
                                                     sp[i].tier.data,
                                                     sp[i].tier.len);
        if (sp[i].index == NGX_ERROR) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"tier_router_budget_soft\": no tier \"%V\" is "
                          "defined in the location's ladder", &sp[i].tier);
            return NGX_CONF_ERROR;
        }
    }

    /* the thresholds as admission reads them */

    conf->budget_rules = ngx_palloc(cf->pool, conf->budget_soft->nelts
                                              * sizeof(tr_soft_t));
    if (conf->budget_rules == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < conf->budget_soft->nelts; i++) {
        conf->budget_rules[i].percent = (unsigned) sp[i].percent;
        conf->budget_rules[i].tier = (unsigned) sp[i].index;
    }

    return NGX_CONF_OK;
}


/*
 * The one clock of budget periods: admission, settlement (which keeps
 * admission's reading) and the status page all take "now" from here, so
 * that a test that sets tier_router_budget_clock sees one time end to end.
 */

time_t
ngx_http_tier_router_clock(ngx_http_request_t *r)
{
    time_t                            now;
    ngx_str_t                         value;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (trlcf->budget_clock == NULL) {
        return ngx_time();
    }

    if (ngx_http_complex_value(r, trlcf->budget_clock, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value.len == 0) {
        return ngx_time();
    }

    now = ngx_atotm(value.data, value.len);

    return (now == NGX_ERROR) ? ngx_time() : now;
}


char *
ngx_http_tier_router_budget_clock(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    ngx_str_t  *value;

    if (trlcf->budget_clock != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_tier_router_compile(cf, &value[1], &trlcf->budget_clock)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                       "\"tier_router_budget_clock\" is for tests: whoever "
                       "sets \"%V\" chooses the budget period", &value[1]);

    return NGX_CONF_OK;
}
