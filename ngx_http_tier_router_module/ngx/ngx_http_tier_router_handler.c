
/*
 * Copyright (C) The tier router authors
 *
 * The request path: the precontent phase handler reads the body of a
 * routed API request (after allow/deny, auth_basic and auth_request have
 * passed), extracts what routing needs in one bounded pass, classifies
 * it, picks a tier within the operator's floor and cap and the budget,
 * and leaves the choice in $tier_router_upstream for proxy_pass.  What is
 * not routed passes on (metered under a budget).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_handler.h"
#include "ngx_http_tier_router_account.h"
#include "ngx_http_tier_router_attempt.h"
#include "ngx_http_tier_router_body.h"
#include "ngx_http_tier_router_error.h"
#include "ngx_http_tier_router_ladder.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_session.h"
#include "ngx_http_tier_router_shares.h"
#include "ngx_http_tier_router_util.h"

#include "tr_check.h"
#include "tr_classify.h"
#include "tr_dialect.h"
#include "tr_extract.h"
#include "tr_model.h"


static void ngx_http_tier_router_body_handler(ngx_http_request_t *r);
static void ngx_http_tier_router_resume(ngx_http_request_t *r);
static void ngx_http_tier_router_routed(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_tier_router_route_admit(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *bodyp, tr_request_t *req);
static ngx_http_tier_router_ctx_t *ngx_http_tier_router_ctx_new(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_tier_router_unrouted(ngx_http_request_t *r);
static ngx_int_t ngx_http_tier_router_refuse_early(ngx_http_request_t *r,
    ngx_int_t dialect, const char *error);
static ngx_int_t ngx_http_tier_router_refuse_unread(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static ngx_int_t ngx_http_tier_router_route(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static ngx_int_t ngx_http_tier_router_identity(ngx_http_request_t *r);
static ngx_int_t ngx_http_tier_router_choose(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body, tr_request_t *req,
    tr_verdict_t *verdict);
static ngx_int_t ngx_http_tier_router_forced(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static ngx_int_t ngx_http_tier_router_named(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, tr_request_t *req, ngx_uint_t *unknown);
static ngx_int_t ngx_http_tier_router_bound(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_complex_value_t *cv,
    ngx_int_t *index);


ngx_int_t
ngx_http_tier_router_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc, dialect;
    ngx_http_tier_router_ctx_t       *ctx;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (!trlcf->enable) {
        return NGX_DECLINED;
    }

    dialect = TR_AUTO;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    /*
     * Only the APIs the module understands are routed: a POST to chat
     * completions, responses or messages (by URI, or every POST where
     * tier_router_dialect names the API).  The rest, GET /v1/models,
     * embeddings, count_tokens, batches, retrieving a response, goes
     * untouched to tier_router_passthrough; another method carrying a
     * body to a routed API is refused, not passed on unread.
     */

    if (ctx == NULL) {
        dialect = (trlcf->dialect != TR_AUTO)
                  ? (ngx_int_t) trlcf->dialect
                  : tr_dialect_by_uri(r->uri.data, r->uri.len);

        if (dialect == TR_AUTO) {
            return ngx_http_tier_router_unrouted(r);
        }

        if (r->method != NGX_HTTP_POST) {

            if (r->headers_in.content_length_n <= 0
                && !r->headers_in.chunked)
            {
                return NGX_DECLINED;
            }

            return ngx_http_tier_router_refuse_early(r, dialect,
                             "a request body is read with POST only: this "
                             "method must not carry one");
        }

        /* a location whose ladder speaks the other provider's API */

        if (ngx_http_tier_router_ladder_speaks(trlcf, dialect) != NGX_OK) {
            return ngx_http_tier_router_refuse_early(r, dialect,
                             "this API is not served here: the models of "
                             "this endpoint speak another provider's API");
        }
    }

    if (ctx) {

        if (ctx->rq->error) {
            rc = ngx_http_tier_router_send_error(r, ctx);
            ngx_http_finalize_request(r, rc);
            return NGX_DONE;
        }

        if (ctx->rq->attempt) {
            return ngx_http_tier_router_attempt_wake(r, ctx);
        }

        return ctx->rq->status;
    }

    ctx = ngx_http_tier_router_ctx_new(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->rq->status = NGX_DONE;
    ctx->rq->dialect = dialect;

    ngx_http_set_ctx(r, ctx, ngx_http_tier_router_module);

    if (r->headers_in.content_length_n > (off_t) trlcf->max_body_size) {

        /* refused before reading what we would not read anyway */

        ctx->rq->error_status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        ctx->rq->error = "request body is larger than the router reads";
        ctx->rq->status = NGX_DECLINED;

        return ngx_http_tier_router_refuse_unread(r, ctx);
    }

    if (ngx_http_tier_router_body_in_one(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_tier_router_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_http_tier_router_body_read(r, ctx);
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


/*
 * What is not routed goes on untouched; under a budget a POST (the calls
 * that may cost: embeddings, legacy completions, batches) is metered: its
 * tenant checked now, its answer's usage charged when it ends.  GET and
 * the other methods read, list or delete, and cost nothing.
 */

static ngx_http_tier_router_ctx_t *
ngx_http_tier_router_ctx_new(ngx_http_request_t *r)
{
    ngx_http_tier_router_ctx_t  *ctx;

    /* the request's part right after its run's: one allocation */

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tier_router_ctx_t)
                               + sizeof(ngx_http_tier_router_rq_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->rq = (ngx_http_tier_router_rq_t *) (ctx + 1);

    return ctx;
}


static ngx_int_t
ngx_http_tier_router_unrouted(ngx_http_request_t *r)
{
    ngx_http_tier_router_ctx_t       *ctx;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (trlcf->budget_zone == NULL || r->method != NGX_HTTP_POST) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_tier_router_ctx_new(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->rq->status = NGX_DECLINED;

    /* errors in Anthropic's shape for its calls (messages/count_tokens,
     * messages/batches), else in OpenAI's */

    ctx->rq->dialect = ngx_strlcasestrn(r->uri.data, r->uri.data + r->uri.len,
                                        (u_char *) "/messages", 9 - 1)
                       ? TR_ANTHROPIC
                       : TR_AUTO;

    ngx_http_set_ctx(r, ctx, ngx_http_tier_router_module);

    if (ngx_http_tier_router_meter(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->rq->error == NULL) {
        return (ngx_http_tier_router_identity(r) == NGX_OK)
               ? NGX_DECLINED : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_tier_router_refuse_unread(r, ctx);
}


/*
 * The error in ctx, before the body is read: it is discarded, and no
 * "100 Continue" invites the client to send it
 */

/* a 400 before the body is read: the method, or the API, is wrong here */

static ngx_int_t
ngx_http_tier_router_refuse_early(ngx_http_request_t *r, ngx_int_t dialect,
    const char *error)
{
    ngx_http_tier_router_ctx_t  *ctx;

    ctx = ngx_http_tier_router_ctx_new(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->rq->dialect = dialect;
    ctx->rq->status = NGX_DECLINED;
    ctx->rq->error_status = NGX_HTTP_BAD_REQUEST;
    ctx->rq->error = error;

    ngx_http_set_ctx(r, ctx, ngx_http_tier_router_module);

    return ngx_http_tier_router_refuse_unread(r, ctx);
}


static ngx_int_t
ngx_http_tier_router_refuse_unread(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    ngx_int_t  rc;

    r->expect_tested = 1;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_tier_router_send_error(r, ctx);
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static void
ngx_http_tier_router_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_tier_router_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    ngx_http_tier_router_body_read(r, ctx);

    rc = ngx_http_tier_router_route(r, ctx);

    if (rc == NGX_AGAIN) {

        /*
         * the shared ledger answers, then ngx_http_tier_router_resume;
         * out of reach, admission goes on at once without it
         */

        r->write_event_handler = ngx_http_tier_router_resume;

        if (!ctx->rq->ledger_waiting) {
            ngx_http_tier_router_resume(r);
        }

        return;
    }

    ngx_http_tier_router_routed(r, ctx, rc);
}


/*
 * The shared ledger answered a lease (or did not in time): admission
 * again, with the body read again into memory and extracted again (the
 * worker's buffers served other requests meanwhile), then on as routed.
 */

static void
ngx_http_tier_router_resume(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    body;
    tr_request_t                *req;
    ngx_http_tier_router_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    if (ctx == NULL || ctx->rq->ledger_waiting) {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    req = &ngx_http_tier_router_req;
    req->dialect = (int) ctx->rq->dialect;

    rc = ngx_http_tier_router_body(r, ctx, &body);

    if (rc == NGX_OK && tr_extract(body.data, body.len, req) != 0) {
        rc = NGX_ERROR;
    }

    if (rc == NGX_OK) {
        rc = ngx_http_tier_router_route_admit(r, ctx, &body, req);
    }

    if (rc == NGX_AGAIN) {

        /* asked once only: admission does not ask again */

        rc = NGX_ERROR;
    }

    ngx_http_tier_router_routed(r, ctx, rc);
}


/* the decision made: on to the upstream, or the error */

static void
ngx_http_tier_router_routed(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_int_t rc)
{
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->rq->status = NGX_DECLINED;

    r->preserve_body = 1;

    /* with fallback, each tier is tried in a subrequest of its own */

    if (ctx->rq->routed && !ctx->rq->error
        && ngx_http_tier_router_attempt_first(r, ctx) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * Reads the decision into ctx: a tier, or an error for the client.
 * NGX_ERROR only when the worker itself failed (memory, file read).
 */

static ngx_int_t
ngx_http_tier_router_route(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    ngx_int_t                          rc;
    ngx_str_t                          body;
    tr_request_t                      *req;
    double                             x[TR_MODEL_N];
    tr_verdict_t                       verdict;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    rc = ngx_http_tier_router_body(r, ctx, &body);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->rq->error) {
        return NGX_OK;
    }

    req = &ngx_http_tier_router_req;

    req->dialect = (int) ctx->rq->dialect;

    if (tr_extract(body.data, body.len, req) != 0) {
        ctx->rq->error_status = NGX_HTTP_BAD_REQUEST;
        ctx->rq->error = req->error;
        ctx->rq->error_param = req->error_param;

        if (req->error_param
            && ngx_strncmp(req->error, "duplicate", 9) == 0)
        {
            ctx->rq->error_detail.data = (u_char *) req->error_param;
            ctx->rq->error_detail.len = ngx_strlen(req->error_param);
        }

        if (ctx->rq->dialect == TR_AUTO) {
            ctx->rq->dialect = req->dialect;
        }

        return NGX_OK;
    }

    ctx->rq->dialect = req->dialect;

    ctx->rq->requested_model.len = req->model_len;
    ctx->rq->requested_model.data = ngx_pnalloc(r->pool, req->model_len + 1);
    if (ctx->rq->requested_model.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->rq->requested_model.data, req->model, req->model_len);

    req->features.count = (trmcf->model != NULL);

    tr_classify(&req->features, &verdict);

    if (trmcf->model) {
        tr_model_features(&req->features, &verdict, x);
        verdict.score = tr_model_score(trmcf->model, x);
    }

    ctx->rq->score = verdict.score;

    rc = ngx_http_tier_router_choose(r, ctx, &body, req, &verdict);

    if (rc != NGX_OK || ctx->rq->error) {
        return rc;
    }

    /*
     * shadow: the decision is logged, and nothing is done: no reservation,
     * no rewrite, the request goes where it would without the router;
     * its answer is read to price it at the chosen tier
     */

    if (trlcf->shadow) {
        ctx->rq->shadow = 1;
        ctx->rq->shadow_cost = -1;

        if (ngx_http_tier_router_append_reason(r, ctx, "shadow") != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_tier_router_identity(r);
    }

    return ngx_http_tier_router_route_admit(r, ctx, &body, req);
}


/*
 * The budget checks the tier actually chosen, and may lower it; then the
 * body for that tier.  NGX_AGAIN: admission waits for the shared ledger,
 * and ngx_http_tier_router_resume() comes back here.
 */

static ngx_int_t
ngx_http_tier_router_route_admit(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *bodyp, tr_request_t *req)
{
    ngx_int_t                          rc;
    ngx_uint_t                         logprobs;
    ngx_str_t                          body;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);
    body = *bodyp;

    rc = ngx_http_tier_router_admit(r, ctx, req, body.len);

    if (rc != NGX_OK || ctx->rq->error) {
        return ctx->rq->error ? NGX_OK : rc;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;
    tier = &tier[ctx->tier];

    /* a switch away from the model that signed the history */

    if (ngx_http_tier_router_session_strip(r, ctx, req, ctx->tier)) {
        rc = ngx_http_tier_router_unsign(r, ctx, &body, req);

        if (rc == NGX_ERROR
            || (rc == NGX_OK
                && ngx_http_tier_router_append_reason(r, ctx,
                                                      "session_stripped")
                   != NGX_OK))
        {
            return NGX_ERROR;
        }

        ctx->rq->unthink = ctx->unthink;
    }

    ctx->rq->body = r->request_body ? r->request_body->bufs : NULL;
    ctx->rq->stream = req->features.stream;
    ctx->rq->json_output = req->features.json_output
                           || req->features.json_schema;

    /* what the answer checks need of the prompt: is it a word problem */

    if (trlcf->escalate & NGX_HTTP_TIER_ROUTER_ESC_MATH) {
        ctx->rq->ask = tr_check_ask((char *) req->features.text,
                                    req->features.text_len);
    }

    /* the first attempt's logprobs, if the judge reads them */

    logprobs = ngx_http_tier_router_attempt_logprobs(r, ctx, ctx->tier, 0);

    if (ngx_http_tier_router_replace(r, ctx, &body, req, tier, logprobs)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_tier_router_identity(r) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->rq->routed = 1;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tier router: tier \"%V\" score %.3f reason \"%V\" "
                   "body %uz", &tier->name, ctx->rq->score, &ctx->rq->reason,
                   body.len);

    return NGX_OK;
}


/*
 * The answer of a routed request is read (usage, the stream's usage chunk
 * the module asked for, the escalation's judge): the upstream is asked
 * for it uncompressed, whatever the client accepts and whether or not the
 * operator clears Accept-Encoding.  Only what goes upstream changes:
 * nginx's own gzip filter still sees what the client sent.
 */

static ngx_int_t
ngx_http_tier_router_identity(ngx_http_request_t *r)
{
    static ngx_uint_t  hash;

    ngx_str_t         name;
    ngx_uint_t        i, found;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_str_set(&name, "Accept-Encoding");

    found = 0;
    part = &r->headers_in.headers.part;
    i = 0;

    while ((h = ngx_http_tier_router_next_header(&part, &i, &name)) != NULL) {

#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)

        if (r->headers_in.accept_encoding == h) {
            r->headers_in.accept_encoding = ngx_palloc(r->pool,
                                                    sizeof(ngx_table_elt_t));
            if (r->headers_in.accept_encoding == NULL) {
                return NGX_ERROR;
            }

            *r->headers_in.accept_encoding = *h;
        }

#endif

        ngx_str_set(&h->value, "identity");
        found = 1;
    }

    if (found) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(h, sizeof(ngx_table_elt_t));

    /* the name's hash is the same for every request: computed once */

    if (hash == 0) {
        hash = ngx_hash_key((u_char *) "accept-encoding",
                            sizeof("accept-encoding") - 1);
    }

    ngx_str_set(&h->key, "Accept-Encoding");
    ngx_str_set(&h->value, "identity");
    h->lowcase_key = (u_char *) "accept-encoding";
    h->hash = hash;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tier_router_choose(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body, tr_request_t *req,
    tr_verdict_t *verdict)
{
    u_char                            *p;
    size_t                             len;
    ngx_int_t                          index, floor, cap, chosen;
    ngx_uint_t                         i, n, unknown;
    const char                        *decision, *session;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_ladder_t     *ladder;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);
    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    tier = trmcf->tiers.elts;
    ladder = trlcf->ladder;
    n = ladder->first + ladder->n;
    unknown = 0;

    /* forced by the client's header, pinned by its model, or classified */

    index = ngx_http_tier_router_forced(r, ctx);
    decision = "override";

    if (index < 0 && !ctx->rq->error && req->has_model) {
        index = ngx_http_tier_router_named(r, ctx, req, &unknown);
        decision = "pinned";
    }

    if (ctx->rq->error) {
        return NGX_OK;
    }

    if (index < 0) {
        decision = "classified";

        if (verdict->no_signal && trlcf->no_signal_index >= 0) {
            index = trlcf->no_signal_index;
            decision = "no_signal";

        } else if (trmcf->shares && trmcf->shares->ladder == ladder) {
            index = ngx_http_tier_router_shares_route(trmcf->shares,
                                                      verdict->score);

        } else {
            for (i = ladder->first; i < n - 1; i++) {
                if (verdict->score <= tier[i].max_score) {
                    break;
                }
            }

            index = i;
        }
    }

    /* a conversation's tier only moves up; the client's own choice stays */

    chosen = index;

    if (ngx_http_tier_router_session_route(r, ctx, body, req, ladder->first,
                                           n - 1, &index, &session)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (decision[0] == 'o' || decision[0] == 'p') {
        index = chosen;
        session = NULL;
    }

    /* the operator's floor and cap, from variables; the cap wins */

    if (ngx_http_tier_router_bound(r, ctx, trlcf->min_tier, &floor)
        != NGX_OK
        || ngx_http_tier_router_bound(r, ctx, trlcf->max_tier, &cap)
           != NGX_OK)
    {
        return ctx->rq->error ? NGX_OK : NGX_ERROR;
    }

    len = ngx_strlen(decision) + 1 + ngx_strlen(verdict->reasons)
          + sizeof(",unknown_model,min_tier,max_tier")
          + (session ? 1 + ngx_strlen(session) : 0);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->rq->reason.data = p;

    /* copied, not printed: it is built for every routed request */

    p = ngx_cpymem(p, decision, ngx_strlen(decision));

    if (unknown) {
        p = ngx_cpymem(p, ",unknown_model", sizeof(",unknown_model") - 1);
    }

    if (verdict->reasons[0]) {
        *p++ = ',';
        p = ngx_cpymem(p, verdict->reasons, ngx_strlen(verdict->reasons));
    }

    if (session) {
        *p++ = ',';
        p = ngx_cpymem(p, session, ngx_strlen(session));
    }

    if (floor >= 0 && index < floor) {
        index = floor;
        p = ngx_sprintf(p, ",min_tier");
    }

    if (cap >= 0 && index > cap) {
        index = cap;
        p = ngx_sprintf(p, ",max_tier");
    }

    ctx->rq->reason.len = p - ctx->rq->reason.data;
    ctx->tier = index;
    ctx->rq->floor = (floor >= 0 && floor <= index) ? (ngx_uint_t) floor
                                                     : ladder->first;
    ctx->rq->cap = (cap >= index) ? cap : -1;

    return NGX_OK;
}


/*
 * The tier a client forces in the operator's override header, where the
 * operator allows it: its index, -1 for none, or an error in ctx.
 */

static ngx_int_t
ngx_http_tier_router_forced(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    ngx_int_t                          index;
    ngx_uint_t                         i;
    ngx_list_part_t                   *part;
    ngx_table_elt_t                   *h;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (trlcf->override_header.len == 0) {
        return -1;
    }

    part = &r->headers_in.headers.part;
    i = 0;

    h = ngx_http_tier_router_next_header(&part, &i, &trlcf->override_header);

    if (h == NULL) {
        return -1;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    index = ngx_http_tier_router_find_tier(trmcf, trlcf->ladder,
                                           h->value.data, h->value.len);

    if (index == NGX_ERROR) {
        ctx->rq->error_status = NGX_HTTP_BAD_REQUEST;
        ctx->rq->error = "unknown tier in the override header";
        ctx->rq->error_detail = h->value;
    }

    return index;
}


/*
 * The tier whose model the client named, where tier_router_pin is on: its
 * index, or -1 (an "auto" model, or another); a model no tier has is
 * refused (an error in ctx) or marked unknown, as tier_router_unknown_model
 * says.
 */

static ngx_int_t
ngx_http_tier_router_named(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, tr_request_t *req, ngx_uint_t *unknown)
{
    ngx_str_t                         *am;
    ngx_uint_t                         i, n;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);
    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    am = trlcf->auto_models->elts;

    for (i = 0; i < trlcf->auto_models->nelts; i++) {
        if (am[i].len == req->model_len
            && ngx_strncmp(am[i].data, req->model, req->model_len) == 0)
        {
            return -1;
        }
    }

    tier = trmcf->tiers.elts;
    n = trlcf->ladder->first + trlcf->ladder->n;

    for (i = trlcf->ladder->first; i < n; i++) {
        if (tier[i].model.len == req->model_len
            && ngx_strncmp(tier[i].model.data, req->model, req->model_len)
               == 0)
        {
            return trlcf->pin ? (ngx_int_t) i : -1;
        }
    }

    if (trlcf->unknown_model == NGX_HTTP_TIER_ROUTER_REJECT) {
        ctx->rq->error_status = NGX_HTTP_BAD_REQUEST;
        ctx->rq->error = "the model is not available here";
        ctx->rq->error_detail = ctx->rq->requested_model;
        ctx->rq->error_param = "model";
        return -1;
    }

    *unknown = 1;

    return -1;
}


/* a floor or cap from a complex value: -1 none, else a tier's index */

static ngx_int_t
ngx_http_tier_router_bound(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_complex_value_t *cv,
    ngx_int_t *index)
{
    ngx_str_t                          value;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    *index = -1;

    if (cv == NULL) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, cv, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value.len == 0) {
        return NGX_OK;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    *index = ngx_http_tier_router_find_tier(trmcf, trlcf->ladder, value.data,
                                            value.len);

    if (*index == NGX_ERROR) {

        /* an operator's mistake: fail closed, never route around it */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tier router: tier bound \"%V\" names no tier",
                      &value);

        ctx->rq->error_status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ctx->rq->error = "the router is misconfigured";
        return NGX_ERROR;
    }

    return NGX_OK;
}
