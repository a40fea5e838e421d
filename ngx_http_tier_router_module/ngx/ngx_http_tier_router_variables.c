
/*
 * Copyright (C) The tier router authors
 *
 * The $tier_router_* variables: what the router decided, for proxy_pass
 * and for access logs.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_variables.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"

#include "tr_dialect.h"
#include "tr_hash.h"
#include "tr_price.h"


#define NGX_HTTP_TIER_ROUTER_VAR_TIER       0
#define NGX_HTTP_TIER_ROUTER_VAR_UPSTREAM   1
#define NGX_HTTP_TIER_ROUTER_VAR_MODEL      2
#define NGX_HTTP_TIER_ROUTER_VAR_SCORE      3
#define NGX_HTTP_TIER_ROUTER_VAR_REASON     4
#define NGX_HTTP_TIER_ROUTER_VAR_DIALECT    5
#define NGX_HTTP_TIER_ROUTER_VAR_REQUESTED  6

#define NGX_HTTP_TIER_ROUTER_VAR_COST       0
#define NGX_HTTP_TIER_ROUTER_VAR_INPUT      1
#define NGX_HTTP_TIER_ROUTER_VAR_OUTPUT     2
#define NGX_HTTP_TIER_ROUTER_VAR_SPEND      3
#define NGX_HTTP_TIER_ROUTER_VAR_REMAINING  4
#define NGX_HTTP_TIER_ROUTER_VAR_BASELINE   8
#define NGX_HTTP_TIER_ROUTER_VAR_SHADOW     9
#define NGX_HTTP_TIER_ROUTER_VAR_ESTIMATED  5
#define NGX_HTTP_TIER_ROUTER_VAR_TENANT     6
#define NGX_HTTP_TIER_ROUTER_VAR_CACHE_READ 10
#define NGX_HTTP_TIER_ROUTER_VAR_CACHE_WRITE 11
#define NGX_HTTP_TIER_ROUTER_VAR_REASONING  12

#define NGX_HTTP_TIER_ROUTER_VAR_RESPONSE_MODEL  0
#define NGX_HTTP_TIER_ROUTER_VAR_TTFT            1


static ngx_int_t ngx_http_tier_router_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_tier_router_shadow_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_http_tier_router_ctx_t *ctx,
    uintptr_t data);
static ngx_int_t ngx_http_tier_router_spend_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_tier_router_attempts_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_tier_router_answer_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static int64_t ngx_http_tier_router_count(tr_usage_t *u, uintptr_t data);


static ngx_http_variable_t  ngx_http_tier_router_vars[] = {

    { ngx_string("tier_router_tier"), NULL,
      ngx_http_tier_router_variable, NGX_HTTP_TIER_ROUTER_VAR_TIER,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_upstream"), NULL,
      ngx_http_tier_router_variable, NGX_HTTP_TIER_ROUTER_VAR_UPSTREAM,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_model"), NULL,
      ngx_http_tier_router_variable, NGX_HTTP_TIER_ROUTER_VAR_MODEL,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_score"), NULL,
      ngx_http_tier_router_variable, NGX_HTTP_TIER_ROUTER_VAR_SCORE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_reason"), NULL,
      ngx_http_tier_router_variable, NGX_HTTP_TIER_ROUTER_VAR_REASON,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_dialect"), NULL,
      ngx_http_tier_router_variable, NGX_HTTP_TIER_ROUTER_VAR_DIALECT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_requested_model"), NULL,
      ngx_http_tier_router_variable, NGX_HTTP_TIER_ROUTER_VAR_REQUESTED,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_cost"), NULL,
      ngx_http_tier_router_spend_variable, NGX_HTTP_TIER_ROUTER_VAR_COST,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_shadow_cost"), NULL,
      ngx_http_tier_router_spend_variable, NGX_HTTP_TIER_ROUTER_VAR_SHADOW,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_baseline_cost"), NULL,
      ngx_http_tier_router_spend_variable, NGX_HTTP_TIER_ROUTER_VAR_BASELINE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_input_tokens"), NULL,
      ngx_http_tier_router_spend_variable, NGX_HTTP_TIER_ROUTER_VAR_INPUT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_output_tokens"), NULL,
      ngx_http_tier_router_spend_variable, NGX_HTTP_TIER_ROUTER_VAR_OUTPUT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_cache_read_tokens"), NULL,
      ngx_http_tier_router_spend_variable,
      NGX_HTTP_TIER_ROUTER_VAR_CACHE_READ,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_cache_write_tokens"), NULL,
      ngx_http_tier_router_spend_variable,
      NGX_HTTP_TIER_ROUTER_VAR_CACHE_WRITE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_reasoning_tokens"), NULL,
      ngx_http_tier_router_spend_variable,
      NGX_HTTP_TIER_ROUTER_VAR_REASONING,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_response_model"), NULL,
      ngx_http_tier_router_answer_variable,
      NGX_HTTP_TIER_ROUTER_VAR_RESPONSE_MODEL,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_time_to_first_token"), NULL,
      ngx_http_tier_router_answer_variable, NGX_HTTP_TIER_ROUTER_VAR_TTFT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_tenant_spend"), NULL,
      ngx_http_tier_router_spend_variable, NGX_HTTP_TIER_ROUTER_VAR_SPEND,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_budget_remaining"), NULL,
      ngx_http_tier_router_spend_variable,
      NGX_HTTP_TIER_ROUTER_VAR_REMAINING,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_cost_estimated"), NULL,
      ngx_http_tier_router_spend_variable,
      NGX_HTTP_TIER_ROUTER_VAR_ESTIMATED,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_tenant"), NULL,
      ngx_http_tier_router_spend_variable, NGX_HTTP_TIER_ROUTER_VAR_TENANT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_attempts"), NULL,
      ngx_http_tier_router_attempts_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tier_router_attempt_log"), NULL,
      ngx_http_tier_router_attempts_variable, 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_tier_router_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_tier_router_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tier_router_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                            *p;
    const char                        *name;
    ngx_str_t                         *s;
    ngx_http_tier_router_ctx_t        *ctx;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_main_conf_t  *trmcf;

    /* an attempt's subrequest has its own tier; others see the main's */

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    if (ctx == NULL) {
        ctx = ngx_http_get_module_ctx(r->main, ngx_http_tier_router_module);
    }

    /* what is not routed goes, untouched, where the operator says */

    if (data == NGX_HTTP_TIER_ROUTER_VAR_UPSTREAM
        && (ctx == NULL || !ctx->rq->routed))
    {
        s = ngx_http_tier_router_passthrough(r);

        if (s == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = s->data;
        v->len = s->len;
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;

        return NGX_OK;
    }

    /*
     * a request the budget refused keeps its reason, and says why; a
     * shadow one what it would have been routed to
     */

    if (ctx == NULL || (!ctx->rq->routed && !ctx->rq->shadow
                        && data != NGX_HTTP_TIER_ROUTER_VAR_DIALECT
                        && data != NGX_HTTP_TIER_ROUTER_VAR_REQUESTED
                        && (data != NGX_HTTP_TIER_ROUTER_VAR_REASON
                            || ctx->rq->reason.len == 0)))
    {
        v->not_found = 1;
        return NGX_OK;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;
    tier = &tier[ctx->tier];

    s = NULL;

    switch (data) {

    case NGX_HTTP_TIER_ROUTER_VAR_TIER:
        s = &tier->name;
        break;

    case NGX_HTTP_TIER_ROUTER_VAR_UPSTREAM:
        s = &tier->upstream;
        break;

    case NGX_HTTP_TIER_ROUTER_VAR_MODEL:
        s = &tier->model;
        break;

    case NGX_HTTP_TIER_ROUTER_VAR_REASON:
        s = &ctx->rq->reason;
        break;

    case NGX_HTTP_TIER_ROUTER_VAR_REQUESTED:
        s = &ctx->rq->requested_model;
        break;

    case NGX_HTTP_TIER_ROUTER_VAR_DIALECT:
        if (ctx->rq->dialect == TR_AUTO) {
            v->not_found = 1;
            return NGX_OK;
        }

        name = tr_dialect_name(ctx->rq->dialect);

        v->data = (u_char *) name;
        v->len = ngx_strlen(name);
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;
        return NGX_OK;

    default: /* NGX_HTTP_TIER_ROUTER_VAR_SCORE */
        p = ngx_pnalloc(r->pool, sizeof("0.000") - 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->len = ngx_http_tier_router_score_text(p, ctx->rq->score) - p;
        v->data = p;
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;
        return NGX_OK;
    }

    v->data = s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * What accounting knows: the tenant (by hash) and its budget from
 * admission on; the cost and tokens once settled, in the log phase.
 * Money in dollars with six decimals.
 */

static ngx_int_t
ngx_http_tier_router_spend_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                      *p;
    int64_t                      n;
    ngx_http_tier_router_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_tier_router_module);

    v->not_found = 1;

    if (ctx == NULL) {
        return NGX_OK;
    }

    if (ctx->rq->shadow) {
        return ngx_http_tier_router_shadow_variable(r, v, ctx, data);
    }

    if (ctx->rq->zone == NULL) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, 2 * TR_HASH_LEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    switch (data) {

    case NGX_HTTP_TIER_ROUTER_VAR_TENANT:
        p = ngx_hex_dump(p, ctx->rq->hash, TR_HASH_LEN);
        break;

    case NGX_HTTP_TIER_ROUTER_VAR_SPEND:
        p += tr_price_print(ctx->spent, (char *) p);
        break;

    case NGX_HTTP_TIER_ROUTER_VAR_REMAINING:
        if (ctx->rq->limit < 0) {
            return NGX_OK;
        }

        p += tr_price_print(ctx->rq->limit - ctx->spent,
                            (char *) p);
        break;

    default:
        if (!ctx->run.settled) {
            return NGX_OK;
        }

        switch (data) {

        case NGX_HTTP_TIER_ROUTER_VAR_COST:
            p += tr_price_print(ctx->run.cost, (char *) p);
            break;

        case NGX_HTTP_TIER_ROUTER_VAR_BASELINE:
            p += tr_price_print(ctx->run.baseline, (char *) p);
            break;

        case NGX_HTTP_TIER_ROUTER_VAR_INPUT:
        case NGX_HTTP_TIER_ROUTER_VAR_OUTPUT:
        case NGX_HTTP_TIER_ROUTER_VAR_CACHE_READ:
        case NGX_HTTP_TIER_ROUTER_VAR_CACHE_WRITE:
        case NGX_HTTP_TIER_ROUTER_VAR_REASONING:
            n = ngx_http_tier_router_count(&ctx->run.counts, data);
            p = ngx_sprintf(p, "%L", ngx_max(n, 0));
            break;

        default: /* NGX_HTTP_TIER_ROUTER_VAR_ESTIMATED */
            *p++ = ctx->run.estimated ? '1' : '0';
        }
    }

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * Under tier_router_shadow nothing is charged: $tier_router_baseline_cost
 * is what the answer cost at the model that answered,
 * $tier_router_shadow_cost what it would have at the tier chosen, and
 * the token counts are the answer's; empty where not known.
 */

static ngx_int_t
ngx_http_tier_router_shadow_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_http_tier_router_ctx_t *ctx,
    uintptr_t data)
{
    u_char   *p;
    int64_t   n;

    if (!ctx->run.settled) {
        return NGX_OK;
    }

    switch (data) {
    case NGX_HTTP_TIER_ROUTER_VAR_BASELINE:
        n = ctx->run.baseline;
        break;
    case NGX_HTTP_TIER_ROUTER_VAR_SHADOW:
        n = ctx->rq->shadow_cost;
        break;
    case NGX_HTTP_TIER_ROUTER_VAR_INPUT:
    case NGX_HTTP_TIER_ROUTER_VAR_OUTPUT:
    case NGX_HTTP_TIER_ROUTER_VAR_CACHE_READ:
    case NGX_HTTP_TIER_ROUTER_VAR_CACHE_WRITE:
    case NGX_HTTP_TIER_ROUTER_VAR_REASONING:
        n = ngx_http_tier_router_count(&ctx->run.counts, data);
        break;
    default:
        return NGX_OK;
    }

    if (n < 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    if (data == NGX_HTTP_TIER_ROUTER_VAR_BASELINE
        || data == NGX_HTTP_TIER_ROUTER_VAR_SHADOW)
    {
        p += tr_price_print(n, (char *) p);

    } else {
        p = ngx_sprintf(p, "%L", n);
    }

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * With tier_router_fallback: how many tiers were tried (0 data), and each
 * attempt as "tier:status:cost[:signal]" (1 data), "small:503:0.000000
 * mid:200:0.000410:length frontier:200:0.003120"; status 0 when nothing
 * answered.
 */

static ngx_int_t
ngx_http_tier_router_attempts_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                            *p;
    size_t                             len;
    ngx_uint_t                         i;
    ngx_http_tier_router_ctx_t        *ctx;
    ngx_http_tier_router_try_t        *t;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_main_conf_t  *trmcf;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_tier_router_module);

    if (ctx == NULL || ctx->rq->ntries == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;

    len = NGX_INT_T_LEN;

    for (i = 0; data && i < ctx->rq->ntries; i++) {
        len += tier[ctx->rq->tries[i].tier].name.len + 2 * NGX_INT_T_LEN + 16
               + (ctx->rq->tries[i].why ? ngx_strlen(ctx->rq->tries[i].why)
                                        : 0);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    if (data == 0) {
        p = ngx_sprintf(p, "%ui", ctx->rq->ntries);

    } else {
        for (i = 0; i < ctx->rq->ntries; i++) {
            t = &ctx->rq->tries[i];

            p = ngx_sprintf(p, "%s%V:%ui:", i ? " " : "",
                            &tier[t->tier].name, t->status);
            p += tr_price_print(t->cost, (char *) p);

            if (t->why) {
                p = ngx_sprintf(p, ":%s", t->why);
            }
        }
    }

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static int64_t
ngx_http_tier_router_count(tr_usage_t *u, uintptr_t data)
{
    switch (data) {
    case NGX_HTTP_TIER_ROUTER_VAR_INPUT:
        return u->input;
    case NGX_HTTP_TIER_ROUTER_VAR_OUTPUT:
        return u->output;
    case NGX_HTTP_TIER_ROUTER_VAR_CACHE_READ:
        return u->cached;
    case NGX_HTTP_TIER_ROUTER_VAR_CACHE_WRITE:
        return u->cache_write;
    default: /* NGX_HTTP_TIER_ROUTER_VAR_REASONING */
        return u->reasoning;
    }
}


/*
 * Of the answer the client got (the last attempt's, with attempts): the
 * model it named, and for a stream the seconds from sending the request
 * to its first token.  Not found before there is one.
 */

static ngx_int_t
ngx_http_tier_router_answer_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                      *p;
    ngx_msec_t                   ms;
    ngx_http_tier_router_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_tier_router_module);

    v->not_found = 1;

    if (ctx == NULL) {
        return NGX_OK;
    }

    if (ctx->rq->attempt) {
        ctx = ctx->rq->attempt;
    }

    if (data == NGX_HTTP_TIER_ROUTER_VAR_RESPONSE_MODEL) {
        if (ctx->run.usage == NULL || ctx->run.usage->model_len == 0) {
            return NGX_OK;
        }

        v->data = ctx->run.usage->model;
        v->len = ctx->run.usage->model_len;

    } else {
        if (!ctx->run.first_seen || !ctx->run.timed) {
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 5);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ms = ctx->run.first - ctx->run.start;

        v->data = p;
        v->len = ngx_sprintf(p, "%M.%03M", ms / 1000, ms % 1000) - p;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
