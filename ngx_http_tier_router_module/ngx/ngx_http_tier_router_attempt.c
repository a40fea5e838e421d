
/*
 * Copyright (C) The tier router authors
 *
 * Attempts across tiers: with tier_router_fallback, each tier is tried in
 * a subrequest that clones the main request where the router left it (so
 * it runs the location's own proxy_pass, to $tier_router_upstream).  An
 * attempt's response header decides: a failure the operator named goes
 * no further (its body is dropped as it comes) and the next tier is
 * tried, if there is one, attempts are left and the tenant's budget
 * covers it; anything else becomes the client's answer, whose header the
 * main request sends then and whose body streams on as it arrives.  So
 * nothing reaches the client before the final attempt is chosen, and no
 * attempt is held in memory.  Each attempt is charged on its own.
 *
 * With tier_router_escalate, a non-streaming answer of status 200 from a
 * tier below the request's cap is held instead (up to
 * tier_router_escalate_buffer), and judged with jansson once complete: an
 * answer cut short, empty, refused or not the JSON asked for is dropped
 * and the next tier up is tried; a good one is sent by the main request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_tier_router_attempt.h"
#include "ngx_http_tier_router_account.h"
#include "ngx_http_tier_router_body.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"

#include "tr_dialect.h"
#include "tr_judge.h"


static ngx_http_tier_router_ctx_t *ngx_http_tier_router_attempt_new(
    ngx_http_request_t *r, ngx_http_tier_router_ctx_t *ctx, ngx_uint_t tier);
static ngx_int_t ngx_http_tier_router_attempt_start(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_ctx_t *actx);
static ngx_int_t ngx_http_tier_router_attempt_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static ngx_uint_t ngx_http_tier_router_attempt_failed(ngx_http_request_t *r,
    ngx_http_tier_router_loc_conf_t *trlcf, ngx_uint_t status);
static ngx_uint_t ngx_http_tier_router_attempt_room(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_uint_t tier, ngx_uint_t nth);
static ngx_int_t ngx_http_tier_router_attempt_top(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static ngx_http_tier_router_ctx_t *ngx_http_tier_router_attempt_next(
    ngx_http_request_t *r, ngx_http_tier_router_ctx_t *actx, ngx_uint_t up);
static const char *ngx_http_tier_router_attempt_judge(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *actx);
static ngx_int_t ngx_http_tier_router_attempt_deliver(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *actx);
static ngx_int_t ngx_http_tier_router_attempt_commit(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *actx);
static ngx_int_t ngx_http_tier_router_attempt_header_filter(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_tier_router_attempt_body_filter(
    ngx_http_request_t *r, ngx_chain_t *in);
static ngx_int_t ngx_http_tier_router_attempt_sniff(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *actx, ngx_chain_t *in, ngx_chain_t *rest);


ngx_conf_bitmask_t  ngx_http_tier_router_fallback_masks[] = {
    { ngx_string("error"), NGX_HTTP_TIER_ROUTER_FB_ERROR },
    { ngx_string("timeout"), NGX_HTTP_TIER_ROUTER_FB_TIMEOUT },
    { ngx_string("http_404"), NGX_HTTP_TIER_ROUTER_FB_404 },
    { ngx_string("http_429"), NGX_HTTP_TIER_ROUTER_FB_429 },
    { ngx_string("http_500"), NGX_HTTP_TIER_ROUTER_FB_500 },
    { ngx_string("http_502"), NGX_HTTP_TIER_ROUTER_FB_502 },
    { ngx_string("http_503"), NGX_HTTP_TIER_ROUTER_FB_503 },
    { ngx_string("http_504"), NGX_HTTP_TIER_ROUTER_FB_504 },
    { ngx_string("stream_error"), NGX_HTTP_TIER_ROUTER_FB_STREAM },
    { ngx_string("off"), NGX_HTTP_TIER_ROUTER_FB_OFF },
    { ngx_null_string, 0 }
};


static ngx_conf_bitmask_t  ngx_http_tier_router_escalate_masks[] = {
    { ngx_string("length"), NGX_HTTP_TIER_ROUTER_ESC_LENGTH },
    { ngx_string("empty"), NGX_HTTP_TIER_ROUTER_ESC_EMPTY },
    { ngx_string("refusal"), NGX_HTTP_TIER_ROUTER_ESC_REFUSAL },
    { ngx_string("json"), NGX_HTTP_TIER_ROUTER_ESC_JSON },
    { ngx_string("off"), NGX_HTTP_TIER_ROUTER_FB_OFF },
    { ngx_null_string, 0 }
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/*
 * Called once the router has chosen (and admitted) the first tier: with
 * fallback on (or escalation, for a request that is not streamed), the
 * first attempt starts and the main request waits for it.
 */

ngx_int_t
ngx_http_tier_router_attempt_first(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    ngx_http_tier_router_ctx_t       *actx;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if ((trlcf->fallback & NGX_HTTP_TIER_ROUTER_FB_OFF)
        && ((trlcf->escalate & NGX_HTTP_TIER_ROUTER_FB_OFF) || ctx->rq->stream))
    {
        return NGX_OK;
    }

    /*
     * what the extractor read of the body (routing has just read it):
     * each attempt after the first rewrites the same bytes, and reads
     * them from this copy instead of again
     */

    ctx->rq->extracted = ngx_palloc(r->pool, offsetof(tr_request_t, text));
    if (ctx->rq->extracted == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->rq->extracted, &ngx_http_tier_router_req,
               offsetof(tr_request_t, text));

    actx = ngx_http_tier_router_attempt_new(r, ctx, ctx->tier);
    if (actx == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_tier_router_attempt_start(r, ctx, actx) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->rq->status = NGX_AGAIN;

    return NGX_OK;
}


/*
 * An attempt's context: the main request's (what the router read and
 * decided, the tenant) at tier, with nothing of any attempt's answer,
 * reservation or cost yet.
 */

static ngx_http_tier_router_ctx_t *
ngx_http_tier_router_attempt_new(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_uint_t tier)
{
    ngx_http_tier_router_ctx_t  *actx;

    actx = ngx_pcalloc(r->pool, sizeof(ngx_http_tier_router_ctx_t));
    if (actx == NULL) {
        return NULL;
    }

    actx->rq = ctx->rq;
    actx->tier = tier;
    actx->parent = ctx;

    /* the main request's, until the attempt has its own: the spend seen
     * at admission, and whether the first body asked for logprobs */

    actx->spent = ctx->spent;
    actx->logprobs = ctx->logprobs;

    return actx;
}


static ngx_int_t
ngx_http_tier_router_attempt_start(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_ctx_t *actx)
{
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_tier_router_attempt_done;
    ps->data = actx;

    if (ngx_http_subrequest(r, &r->uri, &r->args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_CLONE
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* an error_page would take the attempt's context away: none here */

    sr->error_page = 1;

    actx->sr = sr;
    actx->nth = ctx->rq->ntries;

    /* its answer's time runs from here */

    actx->run.start = ngx_current_msec;
    actx->run.timed = 1;

    ngx_http_set_ctx(sr, actx, ngx_http_tier_router_module);

    if (ctx->rq->ntries == 0) {
        /* the main request's body and reservation are the first's */
        ngx_http_tier_router_account_hand_over(sr, ctx, actx);

    } else if (ngx_http_tier_router_retarget(r, sr, actx,
                   ngx_http_tier_router_attempt_logprobs(sr, actx, actx->tier,
                                                         actx->nth))
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->rq->tries[ctx->rq->ntries].tier = actx->tier;
    ctx->rq->tries[ctx->rq->ntries].status = 0;
    ctx->rq->tries[ctx->rq->ntries].cost = 0;
    ctx->rq->tries[ctx->rq->ntries].why = NULL;
    ctx->rq->ntries++;

    ctx->rq->attempt = actx;
    ctx->tier = actx->tier;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tier router: attempt %ui at tier %ui",
                   ctx->rq->ntries, actx->tier);

    return NGX_OK;
}


/*
 * The main request's phase handler, woken when an attempt ends: the next
 * attempt, or the end of the client's answer.
 */

ngx_int_t
ngx_http_tier_router_attempt_wake(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_http_tier_router_ctx_t  *actx;

    actx = ctx->rq->attempt;

    if (!actx->sr->done) {
        return NGX_AGAIN;
    }

    if (actx->run.held && !actx->run.commit && !actx->run.discard) {
        rc = ngx_http_tier_router_attempt_deliver(r, actx);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    if (actx->run.discard && ctx->rq->pending) {
        actx = ctx->rq->pending;
        ctx->rq->pending = NULL;

        if (ngx_http_tier_router_attempt_start(r, ctx, actx) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }

        return NGX_AGAIN;
    }

    if (!actx->run.commit) {
        /* no answer reached us (cannot happen): say so, not hang */
        ngx_http_finalize_request(r, NGX_HTTP_BAD_GATEWAY);
        return NGX_DONE;
    }

    if (!actx->complete) {

        /*
         * the upstream broke the answer off after its header: the client
         * must see it broken (the connection or the HTTP/2 stream reset,
         * no last chunk), as it would without attempts, not a clean end
         * of a text cut short
         */

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tier router: the answer was broken off by its "
                      "upstream: the client's response is closed as broken");

        r->keepalive = 0;
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_DONE;
    }

    rc = ngx_http_send_special(r, NGX_HTTP_LAST);
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * A subrequest's finalization (maybe more than once): the attempt is
 * charged the first time, and added to the main request's totals.
 */

static ngx_int_t
ngx_http_tier_router_attempt_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_tier_router_ctx_t *actx = data;

    ngx_http_request_t          *mr;
    ngx_http_upstream_state_t   *us;
    ngx_http_tier_router_ctx_t  *ctx;
    ngx_http_tier_router_try_t  *t;

    if (actx->run.closed || rc == NGX_AGAIN) {
        return rc;
    }

    /* nginx's own 50x for the attempt: its header decides, then close */

    if (rc >= NGX_HTTP_INTERNAL_SERVER_ERROR
        && rc <= NGX_HTTP_GATEWAY_TIME_OUT && !r->header_sent)
    {
        return rc;
    }

    actx->run.closed = 1;

    ctx = actx->parent;

    if (rc == NGX_ERROR && !actx->run.commit && !r->connection->error) {

        /*
         * an upstream that broke off an answer the client has not seen
         * (held, or dropped anyway): not the client's error; a held one
         * goes to the next tier if it can, else nothing is sent of it
         */

        if (actx->run.held && !actx->run.discard) {
            actx->run.held = NULL;
            ctx->rq->pending = ngx_http_tier_router_attempt_next(r, actx, 1);
            actx->run.discard = (ctx->rq->pending != NULL);
        }

        rc = NGX_OK;

    } else if (actx->run.held && !actx->run.commit && !actx->run.discard) {

        actx->run.why = ngx_http_tier_router_attempt_judge(r, actx);

        if (actx->run.why) {
            ctx->rq->pending = ngx_http_tier_router_attempt_next(r, actx, 1);

            if (ctx->rq->pending) {
                actx->run.discard = 1;
                actx->run.escalated = 1;
                ctx->rq->tries[actx->nth].why = actx->run.why;

                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "tier router: escalating an answer: %s",
                              actx->run.why);
            }
        }
    }

    ngx_http_tier_router_account_close(r, actx);

    if (actx->run.accounted) {
        ngx_http_tier_router_add(ctx->run.cost, actx->run.cost);

        if (!actx->run.discard) {
            ctx->run.baseline = actx->run.baseline;
        }

        ngx_http_tier_router_add(ctx->run.counts.input,
                                 actx->run.counts.input);
        ngx_http_tier_router_add(ctx->run.counts.output,
                                 actx->run.counts.output);
        ngx_http_tier_router_add(ctx->run.counts.cached,
                                 ngx_max(actx->run.counts.cached, 0));
        ngx_http_tier_router_add(ctx->run.counts.cache_write,
                                 ngx_max(actx->run.counts.cache_write, 0));
        ngx_http_tier_router_add(ctx->run.counts.reasoning,
                                 ngx_max(actx->run.counts.reasoning, 0));
        ctx->run.estimated |= actx->run.estimated;
        ctx->spent = actx->spent;
    }

    t = &ctx->rq->tries[actx->nth];

    t->status = actx->run.answered;

    if (t->status == 0 && rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        t->status = (ngx_uint_t) rc;
    }

    t->cost = actx->run.cost;

    /* $upstream_addr, $upstream_status, ...: every attempt's, in order */

    if (r->upstream_states && r->upstream_states->nelts) {
        mr = r->main;

        if (mr->upstream_states == NULL) {
            mr->upstream_states = ngx_array_create(mr->pool,
                                           r->upstream_states->nelts,
                                           sizeof(ngx_http_upstream_state_t));
        }

        if (mr->upstream_states) {
            us = ngx_array_push_n(mr->upstream_states,
                                  r->upstream_states->nelts);

            if (us) {
                ngx_memcpy(us, r->upstream_states->elts,
                           r->upstream_states->nelts
                           * sizeof(ngx_http_upstream_state_t));
            }
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tier router: attempt at tier %ui done: rc %i, cost %L",
                   actx->tier, rc, actx->run.cost);

    return rc;
}


/* does the operator want another tier after this answer? */

static ngx_uint_t
ngx_http_tier_router_attempt_failed(ngx_http_request_t *r,
    ngx_http_tier_router_loc_conf_t *trlcf, ngx_uint_t status)
{
    ngx_uint_t  mask, answered;

    answered = (r->upstream && r->upstream->headers_in.status_n);

    switch (status) {

    case NGX_HTTP_NOT_FOUND:
        /* the model's own 404 (model_not_found, not_found_error): the
         * tier's model is retired or renamed; the next tier's is not */
        mask = answered ? NGX_HTTP_TIER_ROUTER_FB_404 : 0;
        break;

    case NGX_HTTP_TOO_MANY_REQUESTS:
        mask = NGX_HTTP_TIER_ROUTER_FB_429;
        break;

    case NGX_HTTP_INTERNAL_SERVER_ERROR:
        mask = NGX_HTTP_TIER_ROUTER_FB_500;
        break;

    case NGX_HTTP_BAD_GATEWAY:
        /* nginx's own 502: no connection, or no valid answer */
        mask = answered ? NGX_HTTP_TIER_ROUTER_FB_502
                        : NGX_HTTP_TIER_ROUTER_FB_ERROR;
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        mask = answered ? NGX_HTTP_TIER_ROUTER_FB_503
                        : NGX_HTTP_TIER_ROUTER_FB_ERROR;
        break;

    case NGX_HTTP_GATEWAY_TIME_OUT:
        mask = answered ? NGX_HTTP_TIER_ROUTER_FB_504
                        : NGX_HTTP_TIER_ROUTER_FB_TIMEOUT;
        break;

    default:
        return 0;
    }

    return (trlcf->fallback & mask) != 0;
}


/*
 * The tier after actx's in the operator's direction, within the request's
 * floor and cap, if attempts are left and the budget covers its worst
 * case (reserved now).
 */

/*
 * Should the nth attempt, at tier, ask for its tokens' logprobs?  When a
 * low mean is a signal, for chat answers that may be held and judged.
 */

ngx_uint_t
ngx_http_tier_router_attempt_logprobs(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_uint_t tier, ngx_uint_t nth)
{
    ngx_http_tier_router_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (!(trlcf->escalate & NGX_HTTP_TIER_ROUTER_ESC_LOGPROB)
        || (trlcf->escalate & NGX_HTTP_TIER_ROUTER_FB_OFF)
        || ctx->rq->dialect != TR_OPENAI_CHAT || ctx->rq->stream)
    {
        return 0;
    }

    return ngx_http_tier_router_attempt_room(r, ctx, tier, nth);
}


/* tier_router_escalate_weights FILE: the answer checks' model, read here */

char *
ngx_http_tier_router_escalate_weights(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    char               err[256];
    u_char            *buf;
    size_t             size;
    ngx_int_t          rc;
    ngx_str_t         *value, name;
    tr_check_model_t  *m;

    if (trlcf->escalate_weights != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    m = ngx_palloc(cf->pool, sizeof(tr_check_model_t));
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tier_router_conf_file(cf, &name, 1024 * 1024, "weights",
                                       &buf, &size)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rc = tr_check_load((char *) buf, size, m, err, sizeof(err));
    ngx_free(buf);

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "weights \"%V\": %s",
                           &name, err);
        return NGX_CONF_ERROR;
    }

    trlcf->escalate_weights = m;

    return NGX_CONF_OK;
}


/* tier_router_escalate signal ... [math[=P]] [logprob=F] | off */

char *
ngx_http_tier_router_escalate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    double               d;
    u_char              *p, *end;
    ngx_str_t           *value;
    ngx_uint_t           i, m, logprob;
    ngx_conf_bitmask_t  *mask;

    if (trlcf->escalate) {
        return "is duplicate";
    }

    value = cf->args->elts;
    mask = ngx_http_tier_router_escalate_masks;

    for (i = 1; i < cf->args->nelts; i++) {

        /* logprob=F, math and math=P: a signal with its number */

        if (ngx_strncmp(value[i].data, "logprob=", 8) == 0
            || (ngx_strncmp(value[i].data, "math", 4) == 0
                && (value[i].len == 4 || value[i].data[4] == '=')))
        {
            d = -1;
            logprob = (value[i].data[0] == 'l');
            p = ngx_strlchr(value[i].data, value[i].data + value[i].len,
                            '=');

            if (p) {
                p++;
                d = strtod((char *) p, (char **) &end);

                if (end == p || end != value[i].data + value[i].len
                    || (logprob ? (d > 0 || d < -100) : !(d > 0 && d < 1)))
                {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "\"tier_router_escalate\": invalid "
                                       "\"%V\": %s", &value[i],
                                       logprob ? "the mean log-probability "
                                                 "is a number from -100 to 0"
                                               : "the probability is a "
                                                 "number between 0 and 1");
                    return NGX_CONF_ERROR;
                }
            }

            if (logprob) {
                trlcf->escalate |= NGX_HTTP_TIER_ROUTER_ESC_LOGPROB;
                trlcf->escalate_logprob = d;

            } else {
                trlcf->escalate |= NGX_HTTP_TIER_ROUTER_ESC_MATH;
                trlcf->escalate_math = d;
            }

            continue;
        }

        for (m = 0; mask[m].name.len; m++) {
            if (mask[m].name.len == value[i].len
                && ngx_strcmp(mask[m].name.data, value[i].data) == 0)
            {
                break;
            }
        }

        if (mask[m].name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"tier_router_escalate\": invalid value "
                               "\"%V\", it must be \"length\", \"empty\", "
                               "\"refusal\", \"json\", \"math\", "
                               "\"logprob=F\" or "
                               "\"off\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        trlcf->escalate |= mask[m].mask;
    }

    if ((trlcf->escalate & NGX_HTTP_TIER_ROUTER_FB_OFF)
        && trlcf->escalate != NGX_HTTP_TIER_ROUTER_FB_OFF)
    {
        return "takes \"off\" alone";
    }

    trlcf->escalate |= NGX_CONF_BITMASK_SET;

    return NGX_CONF_OK;
}


/*
 * Could the nth attempt (from 0), at tier, be followed by one at a higher
 * tier?  Escalation goes up only, within the attempts and the cap.
 */

static ngx_uint_t
ngx_http_tier_router_attempt_room(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_uint_t tier, ngx_uint_t nth)
{
    ngx_http_tier_router_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    return nth + 1 < trlcf->attempts
           && (ngx_int_t) tier < ngx_http_tier_router_attempt_top(r, ctx);
}


/* the highest tier the request may go to: its cap, else the top tier */

static ngx_int_t
ngx_http_tier_router_attempt_top(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    ngx_http_tier_router_loc_conf_t  *trlcf;

    if (ctx->rq->cap >= 0) {
        return ctx->rq->cap;
    }

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    return (ngx_int_t) (trlcf->ladder->first + trlcf->ladder->n) - 1;
}


static ngx_http_tier_router_ctx_t *
ngx_http_tier_router_attempt_next(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *actx, ngx_uint_t up)
{
    ngx_int_t                          next;
    ngx_int_t                          rc;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_ctx_t        *ctx, *nctx;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    ctx = actx->parent;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (ctx->rq->ntries >= trlcf->attempts) {
        return NULL;
    }

    if (up || trlcf->fallback_direction == NGX_HTTP_TIER_ROUTER_UP) {
        next = (ngx_int_t) actx->tier + 1;

        if (next > ngx_http_tier_router_attempt_top(r, ctx)) {
            return NULL;
        }

    } else {
        next = (ngx_int_t) actx->tier - 1;

        if (next < (ngx_int_t) ctx->rq->floor) {
            return NULL;
        }
    }

    nctx = ngx_http_tier_router_attempt_new(r, ctx, (ngx_uint_t) next);
    if (nctx == NULL) {
        return NULL;
    }

    rc = ngx_http_tier_router_account_again(r, nctx);

    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            trmcf = ngx_http_get_module_main_conf(r,
                                                 ngx_http_tier_router_module);
            tier = trmcf->tiers.elts;
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "tier router: no fallback to tier \"%V\": the "
                          "tenant's budget does not cover it",
                          &tier[next].name);
        }

        return NULL;
    }

    return nctx;
}


/*
 * The client's answer: the attempt's status and headers become the main
 * request's, which sends them now; the body follows through the
 * subrequest as it arrives.
 */

static ngx_int_t
ngx_http_tier_router_attempt_commit(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *actx)
{
    u_char                            *p;
    ngx_str_t                          path;
    ngx_uint_t                         i;
    ngx_http_request_t                *mr;
    ngx_http_tier_router_ctx_t        *ctx;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    mr = r->main;
    ctx = actx->parent;

    actx->run.commit = 1;
    ctx->tier = actx->tier;

    /* the lists' first parts are inside the structure: relink them */

    mr->headers_out = r->headers_out;

    if (r->headers_out.headers.last == &r->headers_out.headers.part) {
        mr->headers_out.headers.last = &mr->headers_out.headers.part;
    }

    if (r->headers_out.trailers.last == &r->headers_out.trailers.part) {
        mr->headers_out.trailers.last = &mr->headers_out.trailers.part;
    }

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (ctx->rq->ntries > 1 && trlcf->headers) {

        /*
         * "small:503 mid", "small:200:length mid": each tier tried, and
         * what the others answered (and why it was not enough)
         */

        trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
        tier = trmcf->tiers.elts;

        path.len = 0;

        for (i = 0; i < ctx->rq->ntries; i++) {
            path.len += tier[ctx->rq->tries[i].tier].name.len + 2
                        + NGX_INT_T_LEN
                        + (ctx->rq->tries[i].why
                           ? ngx_strlen(ctx->rq->tries[i].why) : 0);
        }

        p = ngx_pnalloc(r->pool, path.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        path.data = p;

        for (i = 0; i < ctx->rq->ntries; i++) {
            p = ngx_sprintf(p, "%s%V", i ? " " : "",
                            &tier[ctx->rq->tries[i].tier].name);

            if (i < ctx->rq->ntries - 1) {
                p = ngx_sprintf(p, ":%ui", ctx->rq->tries[i].status);
            }

            if (ctx->rq->tries[i].why) {
                p = ngx_sprintf(p, ":%s", ctx->rq->tries[i].why);
            }
        }

        path.len = p - path.data;

        if (ngx_http_tier_router_add_header(mr, "X-Tier-Router-Path", &path)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_send_header(mr);
}


static ngx_int_t
ngx_http_tier_router_attempt_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                         status;
    ngx_http_tier_router_ctx_t        *actx, *ctx, *next;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    if (r == r->main) {
        return ngx_http_next_header_filter(r);
    }

    actx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    if (actx == NULL || actx->parent == NULL) {
        return ngx_http_next_header_filter(r);
    }

    ctx = actx->parent;
    status = r->headers_out.status;

    actx->run.answered = status;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (ngx_http_tier_router_attempt_failed(r, trlcf, status)) {

        next = ngx_http_tier_router_attempt_next(r, actx, 0);

        if (next) {
            trmcf = ngx_http_get_module_main_conf(r,
                                                 ngx_http_tier_router_module);
            tier = trmcf->tiers.elts;

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "tier router: tier \"%V\" answered %ui, trying "
                          "tier \"%V\"", &tier[actx->tier].name, status,
                          &tier[next->tier].name);

            actx->run.discard = 1;
            ctx->rq->pending = next;

            return NGX_OK;
        }
    }

    /*
     * an Anthropic stream may answer 200 and then an error event (an
     * overloaded model) before any content: held until its first content
     */

    if ((trlcf->fallback & NGX_HTTP_TIER_ROUTER_FB_STREAM)
        && !(trlcf->fallback & NGX_HTTP_TIER_ROUTER_FB_OFF)
        && ctx->rq->stream && ctx->rq->dialect == TR_ANTHROPIC
        && status == NGX_HTTP_OK
        && ngx_http_tier_router_attempt_room(r, ctx, actx->tier, actx->nth))
    {
        actx->run.held = ngx_create_temp_buf(r->pool, trlcf->escalate_buffer);
        if (actx->run.held == NULL) {
            return NGX_ERROR;
        }

        actx->run.sniff = 1;
        r->filter_need_in_memory = 1;

        return NGX_OK;
    }

    /* a complete answer that a higher tier may improve on: held */

    if (!(trlcf->escalate & NGX_HTTP_TIER_ROUTER_FB_OFF) && !ctx->rq->stream
        && status == NGX_HTTP_OK
        && r->headers_out.content_length_n
           <= (off_t) trlcf->escalate_buffer
        && ngx_http_tier_router_attempt_room(r, ctx, actx->tier, actx->nth))
    {
        actx->run.held = ngx_create_temp_buf(r->pool,
                                   r->headers_out.content_length_n >= 0
                                   ? (size_t) r->headers_out.content_length_n
                                   : trlcf->escalate_buffer);
        if (actx->run.held == NULL) {
            return NGX_ERROR;
        }

        r->filter_need_in_memory = 1;

        return NGX_OK;
    }

    return ngx_http_tier_router_attempt_commit(r, actx);
}


static ngx_int_t
ngx_http_tier_router_attempt_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in)
{
    size_t                       size;
    ngx_int_t                    rc;
    ngx_buf_t                   *b, *held;
    ngx_chain_t                 *cl, *out;
    ngx_http_tier_router_ctx_t  *actx;

    if (r == r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    actx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    if (actx == NULL || actx->parent == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    /* an answer ends with its last buffer; one broken off ends without */

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_in_chain || cl->buf->last_buf) {
            actx->complete = 1;
        }
    }

    if (!actx->run.discard && (actx->run.held == NULL || actx->run.commit)) {
        return ngx_http_next_body_filter(r, in);
    }

    if (!actx->run.discard) {

        /* held for inspection, up to tier_router_escalate_buffer */

        held = actx->run.held;

        for (cl = in; cl; cl = cl->next) {
            b = cl->buf;
            size = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos) : 0;

            if (size > (size_t) (held->end - held->last)
                || (!ngx_buf_in_memory(b) && ngx_buf_size(b)))
            {
                break;
            }

            held->last = ngx_cpymem(held->last, b->pos, size);
            b->pos = b->last;
        }

        if (actx->run.sniff) {
            rc = ngx_http_tier_router_attempt_sniff(r, actx, in, cl);

            if (rc != NGX_AGAIN) {
                return rc;
            }
        }

        if (cl == NULL) {
            return NGX_OK;
        }

        /* too large to judge: it is the client's, as it comes */

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tier router: an answer larger than "
                      "tier_router_escalate_buffer is not judged");

        rc = ngx_http_tier_router_attempt_commit(r, actx);

        if (rc == NGX_ERROR || rc > NGX_OK) {
            return NGX_ERROR;
        }

        actx->run.held = NULL;

        out = ngx_alloc_chain_link(r->pool);
        if (out == NULL) {
            return NGX_ERROR;
        }

        out->buf = held;
        out->next = cl;

        return ngx_http_next_body_filter(r, out);
    }

    /* a failure that another tier answers: taken, and dropped */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_OK;
}


/*
 * A held Anthropic stream: an error event before any content block, or
 * an end with neither content nor message_stop (broken off), is a
 * failure (the next tier is asked, if the budget covers it); a content
 * block, a whole stream, or a full buffer releases what was held to the
 * client.  NGX_AGAIN: undecided, go on holding.
 */

static ngx_int_t
ngx_http_tier_router_attempt_sniff(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *actx, ngx_chain_t *in, ngx_chain_t *rest)
{
    u_char                      *p, *last, *eol;
    ngx_int_t                    rc;
    ngx_uint_t                   error, content, stop;
    ngx_chain_t                 *out, *cl;
    ngx_http_tier_router_ctx_t  *ctx, *next;

    ctx = actx->parent;
    error = 0;
    content = 0;
    stop = 0;

    p = actx->run.held->pos;
    last = actx->run.held->last;

    /* complete lines only; the first "event:" of note decides */

    while (p < last && !error && !content) {
        eol = ngx_strlchr(p, last, '\n');

        if (eol == NULL) {
            break;
        }

        if (eol - p >= 6 && ngx_strncmp(p, "event:", 6) == 0) {
            p += 6;

            while (p < eol && *p == ' ') {
                p++;
            }

            if (eol - p >= 5 && ngx_strncmp(p, "error", 5) == 0
                && (eol - p == 5 || p[5] == '\r'))
            {
                error = 1;

            } else if (eol - p >= 13
                       && ngx_strncmp(p, "content_block", 13) == 0)
            {
                content = 1;

            } else if (eol - p >= 12
                       && ngx_strncmp(p, "message_stop", 12) == 0)
            {
                stop = 1;
            }
        }

        p = eol + 1;
    }

    /* ended with neither content nor message_stop: broken off */

    if (actx->complete && !content && !stop) {
        error = 1;
    }

    if (error) {
        next = ngx_http_tier_router_attempt_next(r, actx, 0);

        if (next) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "tier router: a stream answered an error event "
                          "before any content, trying the next tier");

            actx->run.discard = 1;
            actx->run.held = NULL;
            actx->run.why = "stream_error";
            ctx->rq->pending = next;
            ctx->rq->tries[actx->nth].why = actx->run.why;

            for (cl = rest; cl; cl = cl->next) {
                cl->buf->pos = cl->buf->last;
            }

            return NGX_OK;
        }
    }

    if (!error && !content && !actx->complete && rest == NULL) {
        return NGX_AGAIN;
    }

    /* the client's: what was held, then the rest as it comes */

    actx->run.sniff = 0;

    rc = ngx_http_tier_router_attempt_commit(r, actx);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    out = ngx_alloc_chain_link(r->pool);
    if (out == NULL) {
        return NGX_ERROR;
    }

    out->buf = actx->run.held;
    out->next = rest;

    /* the held bytes go now; the end of the stream, if it came, with them */

    out->buf->flush = 1;

    for (cl = in; rest == NULL && cl; cl = cl->next) {
        out->buf->last_buf |= cl->buf->last_buf;
        out->buf->last_in_chain |= cl->buf->last_in_chain;
    }

    actx->run.held = NULL;

    return ngx_http_next_body_filter(r, out);
}


/*
 * A held answer, judged by the signals the operator named (core/tr_judge.c):
 * the first that holds, or NULL for an answer good enough.
 */

static const char *
ngx_http_tier_router_attempt_judge(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *actx)
{
    u_char                            category[32], *why;
    ngx_uint_t                        esc;
    tr_judge_t                        j;
    tr_answer_e                       answer;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);
    esc = trlcf->escalate;

    j.dialect = (int) actx->rq->dialect;
    j.signals = ((esc & NGX_HTTP_TIER_ROUTER_ESC_LENGTH) ? TR_JUDGE_LENGTH : 0)
                | ((esc & NGX_HTTP_TIER_ROUTER_ESC_EMPTY) ? TR_JUDGE_EMPTY : 0)
                | ((esc & NGX_HTTP_TIER_ROUTER_ESC_REFUSAL)
                   ? TR_JUDGE_REFUSAL : 0)
                | ((esc & NGX_HTTP_TIER_ROUTER_ESC_JSON) ? TR_JUDGE_JSON : 0)
                | ((esc & NGX_HTTP_TIER_ROUTER_ESC_LOGPROB)
                   ? TR_JUDGE_LOGPROB : 0)
                | ((esc & NGX_HTTP_TIER_ROUTER_ESC_MATH) ? TR_JUDGE_MATH : 0);
    j.json_output = actx->rq->json_output;
    j.logprob = trlcf->escalate_logprob;
    j.math = trlcf->escalate_weights;
    j.threshold = (trlcf->escalate_math > 0) ? trlcf->escalate_math
                                             : j.math->threshold;
    j.pre = actx->rq->score;
    j.ask = actx->rq->ask;

    answer = tr_judge(&j, (char *) actx->run.held->pos,
                      actx->run.held->last - actx->run.held->pos);

    if (answer == TR_ANSWER_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "tier router: out of memory judging an answer: it "
                      "is passed on unjudged");
    }

    /* a refusal keeps its category: "refusal:cyber" */

    if (answer == TR_ANSWER_REFUSAL
        && tr_judge_category((char *) actx->run.held->pos,
                             actx->run.held->last - actx->run.held->pos,
                             (char *) category, sizeof(category))
        && (why = ngx_pnalloc(r->pool, sizeof("refusal:") + sizeof(category)))
           != NULL)
    {
        ngx_sprintf(why, "refusal:%s%Z", category);
        return (const char *) why;
    }

    return tr_answer_name(answer);
}


/* a held answer that is good enough (or the last): the client's */

static ngx_int_t
ngx_http_tier_router_attempt_deliver(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *actx)
{
    size_t        i, len;
    json_t       *root, *choices;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    /* logprobs the client did not ask for: taken out as the API would */

    b = actx->run.held;

    if (actx->logprobs) {
        root = json_loadb((char *) b->pos, b->last - b->pos, 0, NULL);
        choices = json_object_get(root, "choices");

        for (i = 0; i < json_array_size(choices); i++) {
            if (json_object_get(json_array_get(choices, i), "logprobs")) {
                json_object_set_new(json_array_get(choices, i), "logprobs",
                                    json_null());
            }
        }

        len = root ? json_dumpb(root, NULL, 0, JSON_COMPACT) : 0;

        if (len) {
            b = ngx_create_temp_buf(r->pool, len);

            if (b == NULL) {
                json_decref(root);
                return NGX_ERROR;
            }

            b->last += json_dumpb(root, (char *) b->pos, len, JSON_COMPACT);

            actx->run.held = b;
            actx->sr->headers_out.content_length_n = b->last - b->pos;

            if (actx->sr->headers_out.content_length) {
                actx->sr->headers_out.content_length->hash = 0;
                actx->sr->headers_out.content_length = NULL;
            }
        }

        json_decref(root);
    }

    rc = ngx_http_tier_router_attempt_commit(actx->sr, actx);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = actx->run.held;

    if (b->last == b->pos) {
        return ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_tier_router_attempt_init(ngx_conf_t *cf)
{
    /*
     * jansson seeds its hash function from /dev/urandom on first use: do
     * it here, in the master, rather than with a file read in a worker
     * judging its first answer
     */

    json_object_seed(0);

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_tier_router_attempt_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_tier_router_attempt_body_filter;

    return NGX_OK;
}
