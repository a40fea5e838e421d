
/*
 * Copyright (C) The tier router authors
 *
 * The usage filters: the response of a request with spend to settle (a
 * routed one, an attempt, a metered passthrough) is read for the token
 * usage the upstream reports, as its buffers pass on untouched; a chat
 * stream whose client did not ask for the usage chunk has it dropped.
 * What was read is settled in account.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_usage_filter.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_account.h"
#include "ngx_http_tier_router_session.h"

#include "tr_price.h"
#include "tr_usage.h"


#define NGX_HTTP_TIER_ROUTER_HOLD  16384

/* our copies a slow client has not taken yet, before we stop copying */
#define NGX_HTTP_TIER_ROUTER_BUSY  (256 * 1024)


static ngx_int_t ngx_http_tier_router_account_header_filter(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_tier_router_account_body_filter(
    ngx_http_request_t *r, ngx_chain_t *in);
static ngx_int_t ngx_http_tier_router_report(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *text);
static ngx_buf_t *ngx_http_tier_router_splice(ngx_http_request_t *r,
    ngx_buf_t *b, u_char **at, ngx_str_t *text, ngx_uint_t n);
static ngx_int_t ngx_http_tier_router_observe(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_tier_router_strip(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_tier_router_unstrip(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_chain_t *in);


/* the most usage objects that one buffer reports the cost in */
#define NGX_HTTP_TIER_ROUTER_REPORTS  8


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/*
 * The main request's answer, or an attempt's (a subrequest with a context
 * of its own, see ngx_http_tier_router_attempt.c); other subrequests have
 * no context.
 */

static ngx_int_t
ngx_http_tier_router_account_header_filter(ngx_http_request_t *r)
{
    ngx_http_upstream_t              *u;
    ngx_http_tier_router_ctx_t       *ctx;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    /* read for its spend, or for its id (a session's stored response) */

    if (ctx == NULL
        || (!ctx->run.accounted && !ctx->rq->session_answer
            && !ctx->rq->shadow)
        || ctx->run.settled || ctx->run.usage)
    {
        return ngx_http_next_header_filter(r);
    }

    u = r->upstream;

    /* only what a model answered is read; nginx's own pages are not */

    if (u == NULL || u->headers_in.status_n == 0) {
        return ngx_http_next_header_filter(r);
    }

    ctx->run.usage = ngx_palloc(r->pool,
                                sizeof(tr_usage_parser_t));
    if (ctx->run.usage == NULL) {
        return NGX_ERROR;
    }

    tr_usage_init(ctx->run.usage, (int) ctx->rq->dialect,
                        r->headers_out.content_type.len >= 17
                        && ngx_strncasecmp(r->headers_out.content_type.data,
                                           (u_char *) "text/event-stream",
                                           17) == 0);

    if (r->headers_out.content_encoding
        && r->headers_out.content_encoding->value.len
        && ngx_strcasecmp(r->headers_out.content_encoding->value.data,
                          (u_char *) "identity") != 0)
    {
        ctx->run.opaque = 1;
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "tier router: the upstream answered \"%V\" encoded "
                      "although identity was asked for: its usage cannot "
                      "be read, it is charged its worst case",
                      &r->headers_out.content_encoding->value);
    }

    /* the cost in the answer's usage: the body's length changes */

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (trlcf->report_cost && ctx->run.accounted && !ctx->run.opaque
        && !ctx->rq->metered && u->headers_in.status_n >= 200
        && u->headers_in.status_n < 300)
    {
        ctx->run.report = 1;

        ngx_http_clear_content_length(r);
        ngx_http_clear_accept_ranges(r);
        ngx_http_weak_etag(r);
    }

    if (ctx->rq->stream_usage && ctx->run.usage->sse && !ctx->run.opaque) {
        ctx->run.strip = 1;

        ctx->run.hold = ngx_create_temp_buf(r->pool, NGX_HTTP_TIER_ROUTER_HOLD);
        if (ctx->run.hold == NULL) {
            return NGX_ERROR;
        }

        ngx_http_clear_content_length(r);
        ngx_http_clear_accept_ranges(r);
        ngx_http_weak_etag(r);
    }

    r->filter_need_in_memory = 1;

    return ngx_http_next_header_filter(r);
}

static ngx_int_t
ngx_http_tier_router_account_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in)
{
    off_t                        size;
    ngx_int_t                    rc;
    ngx_chain_t                 *cl;
    ngx_http_tier_router_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    if (ctx == NULL || ctx->run.usage == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->run.strip) {
        size = 0;

        for (cl = ctx->run.busy; cl; cl = cl->next) {
            size += ngx_buf_size(cl->buf);
        }

        if (size > NGX_HTTP_TIER_ROUTER_BUSY) {
            rc = ngx_http_tier_router_unstrip(r, ctx, in);

        } else {
            rc = ngx_http_tier_router_strip(r, ctx, in);
        }

    } else {
        rc = ngx_http_tier_router_observe(r, ctx, in);
    }

    /* a stream's first token: the first byte of text, thinking or a
     * tool call's arguments that the reader counted */

    if (!ctx->run.first_seen && ctx->run.usage->sse
        && ctx->run.usage->text_bytes)
    {
        ctx->run.first_seen = 1;
        ctx->run.first = ngx_current_msec;
    }

    return rc;
}

/*
 * The usage is read as the buffers pass on untouched; with
 * tier_router_report_cost, a buffer where a usage object ends passes on
 * as a copy with "cost" in it (and the client's buffer is consumed).
 */

static ngx_int_t
ngx_http_tier_router_observe(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_chain_t *in)
{
    u_char       *p, *at[NGX_HTTP_TIER_ROUTER_REPORTS];
    uint64_t      base;
    ngx_buf_t    *b, *nb;
    ngx_uint_t    n;
    ngx_chain_t  *cl, *out, **ll;
    ngx_str_t     text[NGX_HTTP_TIER_ROUTER_REPORTS];

    out = NULL;
    ll = &out;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        nb = NULL;

        if (!ngx_buf_in_memory(b) || ctx->run.opaque) {
            ctx->run.usage->bytes += ngx_buf_size(b);
            goto next;
        }

        base = ctx->run.usage->bytes;
        n = 0;

        for (p = b->pos; p < b->last; /* void */) {
            ctx->run.usage->usage_closed = 0;

            p += tr_usage_feed(ctx->run.usage, p, b->last - p);

            if (ctx->run.report && ctx->run.usage->usage_closed
                && n < NGX_HTTP_TIER_ROUTER_REPORTS)
            {
                at[n] = b->pos + (ctx->run.usage->usage_end - base);

                if (ngx_http_tier_router_report(r, ctx, &text[n]) != NGX_OK)
                {
                    return NGX_ERROR;
                }

                n++;
            }
        }

        if (n) {
            nb = ngx_http_tier_router_splice(r, b, at, text, n);
            if (nb == NULL) {
                return NGX_ERROR;
            }
        }

    next:

        if (ctx->run.report) {
            *ll = ngx_alloc_chain_link(r->pool);
            if (*ll == NULL) {
                return NGX_ERROR;
            }

            (*ll)->buf = nb ? nb : b;
            ll = &(*ll)->next;
        }
    }

    if (ctx->run.report) {
        *ll = NULL;
        in = out;
    }

    if (ctx->rq->session_answer && !ctx->run.id_kept
        && ctx->run.usage->id_len)
    {
        ctx->run.id_kept = 1;
        ngx_http_tier_router_session_answered(r, ctx, ctx->run.usage->id,
                                              ctx->run.usage->id_len);
    }

    return ngx_http_next_body_filter(r, in);
}

/*
 * The cost so far, as the members of a usage object end: ,"cost":0.001234
 * (dollars, as OpenRouter's usage.cost), without the comma in an empty one
 */

static ngx_int_t
ngx_http_tier_router_report(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *text)
{
    u_char   *p;
    int64_t   cost;

    cost = ngx_http_tier_router_cost_now(r, ctx);

    p = ngx_pnalloc(r->pool, sizeof(",\"cost\":") + 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;

    if (!ctx->run.usage->usage_empty) {
        *p++ = ',';
    }

    p = ngx_cpymem(p, "\"cost\":", sizeof("\"cost\":") - 1);

    if (cost < 0) {
        p = ngx_cpymem(p, "null", 4);

    } else {
        p += tr_price_print(cost, (char *) p);
    }

    text->len = p - text->data;

    return NGX_OK;
}


/* a copy of b with text[i] before at[i], in order; b is consumed */

static ngx_buf_t *
ngx_http_tier_router_splice(ngx_http_request_t *r, ngx_buf_t *b, u_char **at,
    ngx_str_t *text, ngx_uint_t n)
{
    u_char     *p, *from;
    size_t      size;
    ngx_buf_t  *nb;
    ngx_uint_t  i;

    size = b->last - b->pos;

    for (i = 0; i < n; i++) {
        size += text[i].len;
    }

    nb = ngx_create_temp_buf(r->pool, size);
    if (nb == NULL) {
        return NULL;
    }

    p = nb->pos;
    from = b->pos;

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, from, at[i] - from);
        p = ngx_cpymem(p, text[i].data, text[i].len);
        from = at[i];
    }

    nb->last = ngx_cpymem(p, from, b->last - from);

    nb->last_buf = b->last_buf;
    nb->last_in_chain = b->last_in_chain;
    nb->flush = b->flush;
    nb->sync = b->sync;

    b->pos = b->last;

    return nb;
}


/*
 * A chat stream whose client did not ask for the usage chunk: events pass
 * on whole, copied into our own buffers, and the usage-only one is read
 * and dropped.  Only the event in progress is held (up to 16 KB; a longer
 * one passes on as it comes and is never dropped).
 */

static ngx_int_t
ngx_http_tier_router_strip(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_chain_t *in)
{
    u_char             *p;
    size_t              n, size;
    ngx_int_t           rc;
    ngx_buf_t          *b, *ob, *hold;
    ngx_chain_t        *cl, *out;
    tr_usage_parser_t  *up;

    up = ctx->run.usage;
    hold = ctx->run.hold;

    size = hold->last - hold->pos;

    for (cl = in; cl; cl = cl->next) {
        if (ngx_buf_in_memory(cl->buf)) {
            size += cl->buf->last - cl->buf->pos;
        }
    }

    out = ngx_chain_get_free_buf(r->pool, &ctx->run.free);
    if (out == NULL) {
        return NGX_ERROR;
    }

    ob = out->buf;

    if (ob->start == NULL || (size_t) (ob->end - ob->start) < size) {
        n = ngx_max(size, 4096);

        ob->start = ngx_palloc(r->pool, n);
        if (ob->start == NULL) {
            return NGX_ERROR;
        }

        ob->end = ob->start + n;
    }

    /* a reused buffer keeps its flags: clear them */

    ob->pos = ob->start;
    ob->last = ob->start;
    ob->temporary = 1;
    ob->flush = 0;
    ob->sync = 0;
    ob->last_buf = 0;
    ob->last_in_chain = 0;
    ob->tag = (ngx_buf_tag_t) &ngx_http_tier_router_module;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b)) {
            if (ngx_buf_size(b)) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "tier router: a response buffer not in "
                              "memory: %O bytes not passed on",
                              ngx_buf_size(b));
                return NGX_ERROR;
            }

        } else {
            for (p = b->pos; p < b->last; p += n) {
                n = tr_usage_feed(up, p, b->last - p);

                if (up->event_end) {
                    if (!(up->usage_only && !ctx->run.passthrough)) {
                        ob->last = ngx_cpymem(ob->last, hold->pos,
                                              hold->last - hold->pos);
                        ob->last = ngx_cpymem(ob->last, p, n);
                    }

                    hold->pos = hold->start;
                    hold->last = hold->start;
                    ctx->run.passthrough = 0;
                    continue;
                }

                if (!ctx->run.passthrough
                    && (size_t) (hold->end - hold->last) >= n)
                {
                    hold->last = ngx_cpymem(hold->last, p, n);
                    continue;
                }

                ob->last = ngx_cpymem(ob->last, hold->pos,
                                      hold->last - hold->pos);
                ob->last = ngx_cpymem(ob->last, p, n);
                hold->pos = hold->start;
                hold->last = hold->start;
                ctx->run.passthrough = 1;
            }

            b->pos = b->last;
        }

        if (b->last_buf) {

            /* an unfinished last event goes out as it is */

            ob->last = ngx_cpymem(ob->last, hold->pos,
                                  hold->last - hold->pos);
            hold->pos = hold->start;
            hold->last = hold->start;
            ob->last_buf = 1;
        }

        if (b->flush) {
            ob->flush = 1;
        }

        /* a subrequest's end (an attempt's) is a sync buffer, last in chain */

        if (b->sync) {
            ob->sync = 1;
        }

        if (b->last_in_chain) {
            ob->last_in_chain = 1;
        }
    }

    if (ob->last == ob->pos) {

        if (!ob->last_buf && !ob->flush && !ob->sync) {
            out->next = ctx->run.free;
            ctx->run.free = out;
            out = NULL;

        } else {
            /* an empty buffer is a special one, or nginx complains */
            ob->temporary = 0;
        }
    }

    rc = ngx_http_next_body_filter(r, out);

    ngx_chain_update_chains(r->pool, &ctx->run.free, &ctx->run.busy, &out,
                            (ngx_buf_tag_t) &ngx_http_tier_router_module);

    return rc;
}

/*
 * A client that does not read: our copies would grow with the stream
 * while the upstream's buffers are freed at once.  Stop copying, so the
 * upstream waits for the client again; the usage chunk then reaches the
 * client (it is still read and charged).
 */

static ngx_int_t
ngx_http_tier_router_unstrip(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_chain_t *in)
{
    size_t        n;
    ngx_int_t     rc;
    ngx_buf_t    *b, *hold;
    ngx_chain_t   out;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "tier router: the client reads slowly: the stream passes "
                  "on as it is, its usage chunk too");

    ctx->run.strip = 0;
    hold = ctx->run.hold;

    n = hold->last - hold->pos;

    /* the event held so far goes first, then the rest as it comes */

    if (n) {
        b = ngx_create_temp_buf(r->pool, n);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->last = ngx_cpymem(b->last, hold->pos, n);
        hold->last = hold->pos;

        out.buf = b;
        out.next = NULL;

        rc = ngx_http_next_body_filter(r, &out);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    return ngx_http_tier_router_observe(r, ctx, in);
}


ngx_int_t
ngx_http_tier_router_usage_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_tier_router_account_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_tier_router_account_body_filter;

    return NGX_OK;
}
