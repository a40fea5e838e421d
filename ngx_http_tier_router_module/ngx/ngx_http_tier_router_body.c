
/*
 * Copyright (C) The tier router authors
 *
 * The request body: one contiguous view of what the client sent (memory
 * or temp file), and the body sent upstream, the client's own buffers
 * sliced around the splices that put the tier's model in it (a small
 * body: one buffer of the edited bytes).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_body.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_session.h"
#include "ngx_http_tier_router_util.h"

#include "tr_extract.h"
#include "tr_rewrite.h"
#include "tr_signed.h"


/* a body up to one page goes upstream as one buffer of its own */
#define NGX_HTTP_TIER_ROUTER_ONE_BUFFER  4096


typedef struct {
    ngx_chain_t                 *cl;
    off_t                        base;      /* body offset of cl's start */
} ngx_http_tier_router_cursor_t;


static ngx_int_t ngx_http_tier_router_replace_small(ngx_http_request_t *r,
    ngx_str_t *body, tr_plan_t *plan);
static ngx_int_t ngx_http_tier_router_profile_reason(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, tr_request_t *req, tr_edit_t *edit);
static ngx_int_t ngx_http_tier_router_length(ngx_http_request_t *r,
    off_t len);
static ngx_int_t ngx_http_tier_router_slice(ngx_http_request_t *r,
    ngx_http_tier_router_cursor_t *cur, ngx_chain_t ***ll, size_t from,
    size_t to);


/*
 * Per worker, not per request: routing runs start to end in one call on
 * one thread, and nothing keeps a pointer into either past that call.
 * The extractor's result (some 5 KB with its text windows) and, for a
 * body that came in several buffers or a file, one contiguous copy of it
 * (grown as needed up to tier_router_max_body_size, then kept) would
 * otherwise be a malloc() and its page faults on every request.
 */

tr_request_t         ngx_http_tier_router_req;
static u_char       *ngx_http_tier_router_scratch;
static size_t        ngx_http_tier_router_scratch_size;


/* the worker's copy buffer goes with it (a clean exit for LeakSanitizer) */

void
ngx_http_tier_router_body_exit(ngx_cycle_t *cycle)
{
    if (ngx_http_tier_router_scratch) {
        ngx_free(ngx_http_tier_router_scratch);
        ngx_http_tier_router_scratch = NULL;
        ngx_http_tier_router_scratch_size = 0;
    }
}


/*
 * Before nginx reads the body.  A client that sends the headers and the
 * start of the body in one packet leaves that start in the header buffer,
 * and nginx reads the rest into a buffer of its own: two pieces, which
 * the extractor could only read as a copy.  A body that nginx would keep
 * in memory anyway (its Content-Length within client_body_buffer_size)
 * gets one buffer of its length instead, the part already read copied
 * into its start: nginx reads the rest right after it (its "the whole
 * request body may be placed in r->header_in" case), and the body is one
 * piece where it lies.  HTTP/1 only: HTTP/2 and HTTP/3 bodies come in
 * frames of their own.
 *
 * The buffer is the request's (its pool's) and stands in for the header
 * buffer only while the body is read: nginx looks at r->header_in once
 * more after the request is freed (for a pipelined request, in
 * ngx_http_set_keepalive()), so the header buffer, which is the
 * connection's, is put back as soon as the body is in
 * (ngx_http_tier_router_body_read()).
 */

ngx_int_t
ngx_http_tier_router_body_in_one(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    off_t                      len;
    size_t                     preread;
    ngx_buf_t                 *b, *h;
    ngx_http_core_loc_conf_t  *clcf;

    h = r->header_in;
    len = r->headers_in.content_length_n;

    if (r != r->main || r->request_body || r->discard_body
        || r->http_version >= NGX_HTTP_VERSION_20
        || r->headers_in.chunked || len <= 0 || h == NULL)
    {
        return NGX_OK;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        return NGX_OK;
    }
#endif

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    preread = h->last - h->pos;

    if (preread == 0 || (off_t) preread >= len
        || len > (off_t) clcf->client_body_buffer_size
        || clcf->client_body_in_file_only)
    {
        return NGX_OK;
    }

    b = ngx_create_temp_buf(r->pool, (size_t) len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->pos, h->pos, preread);

    /* what was read is consumed from the header buffer, as nginx would */

    h->pos = h->last;

    ctx->rq->header_in = h;
    r->header_in = b;

    return NGX_OK;
}


/* the body is in, or will not be: the connection's header buffer back */

void
ngx_http_tier_router_body_read(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    if (ctx && ctx->rq->header_in) {
        r->header_in = ctx->rq->header_in;
        ctx->rq->header_in = NULL;
    }
}


/*
 * The whole body in one piece of memory: where it lies if its buffers are
 * one after another in memory, else a copy, read from a temp file if
 * needed
 */

ngx_int_t
ngx_http_tier_router_body(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body)
{
    off_t                             len;
    u_char                           *p;
    size_t                            size;
    ssize_t                           n;
    ngx_buf_t                        *b;
    ngx_chain_t                      *cl;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    body->data = (u_char *) "";
    body->len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    /* in memory, each buffer where the one before it ends */

    p = r->request_body->bufs->buf->pos;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file || cl->buf->pos != p) {
            break;
        }

        p = cl->buf->last;
    }

    if (cl == NULL) {
        body->data = r->request_body->bufs->buf->pos;
        body->len = p - body->data;

        if (body->len > trlcf->max_body_size) {
            goto too_large;
        }

        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    if (len > (off_t) trlcf->max_body_size) {
        goto too_large;
    }

    if ((size_t) len > ngx_http_tier_router_scratch_size) {
        size = ngx_align((size_t) len, 64 * 1024);

        p = ngx_alloc(size, r->connection->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_tier_router_scratch) {
            ngx_free(ngx_http_tier_router_scratch);
        }

        ngx_http_tier_router_scratch = p;
        ngx_http_tier_router_scratch_size = size;
    }

    p = ngx_http_tier_router_scratch;

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        /*
         * a temp file nginx has just written: read back from the page
         * cache, bounded by tier_router_max_body_size, as nginx itself
         * does when it sends such a body to an upstream
         */

        size = (size_t) (b->file_last - b->file_pos);

        n = ngx_read_file(b->file, p, size, b->file_pos);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if ((size_t) n != size) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "tier router: read only %z of %uz bytes from "
                          "\"%V\"", n, size, &b->file->name);
            return NGX_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;

    return NGX_OK;

too_large:

    ctx->rq->error_status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    ctx->rq->error = "request body is larger than the router reads";

    return NGX_OK;
}


/*
 * Splice the tier's model into the body and hand it on to the proxy: the
 * new request body is the client's own buffers (memory or temp file),
 * sliced around the splices, with the splices' bytes between them; a
 * body of up to a page, one new buffer (replace_small()).
 */

ngx_int_t
ngx_http_tier_router_replace(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body, tr_request_t *req,
    ngx_http_tier_router_tier_t *tier, ngx_uint_t logprobs)
{
    off_t                          len;
    u_char                        *p;
    size_t                         pos;
    ngx_uint_t                     i;
    ngx_buf_t                     *b;
    ngx_chain_t                   *out, **ll, *cl;
    ngx_http_tier_router_cursor_t  cur;
    tr_plan_t                      plan;
    tr_edit_t                      edit;
    tr_splice_t                   *sp;

    if (req->has_model && tier->reasoning == 0 && !ctx->rq->stream_usage
        && !logprobs && tier->effort == NULL && tier->thinking == 0
        && !ctx->unthink && !ctx->rq->unthink
        && !(tier->drop & req->params)
        && (tier->rename < 0 || !(req->params & (1u << tier->rename)))
        && req->model_len == tier->model.len
        && ngx_strncmp(req->model, tier->model.data, tier->model.len) == 0)
    {
        return NGX_OK;
    }

    edit.model = tier->model.data;
    edit.model_len = tier->model.len;
    edit.reasoning = tier->reasoning;
    edit.effort = tier->effort;
    edit.thinking = (ctx->unthink || ctx->rq->unthink) ? TR_THINKING_OFF
                                                       : tier->thinking;
    edit.drop = tier->drop;
    edit.rename = tier->rename;
    edit.rename_to = (const char *) tier->rename_to;
    edit.stream_usage = ctx->rq->stream_usage;
    edit.logprobs = logprobs && !req->logprobs;

    ctx->logprobs = edit.logprobs;
    edit.thinking_budget = tier->thinking_budget;

    tr_rewrite_thinking(req, &edit);

    if (ngx_http_tier_router_profile_reason(r, ctx, req, &edit) != NGX_OK) {
        return NGX_ERROR;
    }

    tr_rewrite_plan(req, &edit, &plan);

    if (body->len <= NGX_HTTP_TIER_ROUTER_ONE_BUFFER) {
        return ngx_http_tier_router_replace_small(r, body, &plan);
    }

    cur.cl = r->request_body->bufs;
    cur.base = 0;
    out = NULL;
    ll = &out;
    pos = 0;
    len = 0;

    for (i = 0; i <= plan.n; i++) {

        sp = (i < plan.n) ? &plan.splice[i] : NULL;

        /* the client's bytes up to the splice, or to the end */

        if (ngx_http_tier_router_slice(r, &cur, &ll, pos,
                                       sp ? sp->start : body->len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (sp == NULL) {
            break;
        }

        if (sp->len) {
            p = ngx_pnalloc(r->pool, sp->len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            b = ngx_calloc_buf(r->pool);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->pos = p;
            b->last = ngx_cpymem(p, sp->data, sp->len);
            b->start = b->pos;
            b->end = b->last;
            b->memory = 1;

            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf = b;
            *ll = cl;
            ll = &cl->next;
        }

        pos = sp->end;
    }

    *ll = NULL;

    if (out == NULL) {
        return NGX_ERROR;
    }

    for (cl = out; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;

        if (cl->next == NULL) {
            b->last_buf = 1;
        }
    }

    r->request_body->bufs = out;

    return ngx_http_tier_router_length(r, len);
}


/*
 * A small body is sent as one buffer of the edited bytes: copying a few
 * kilobytes costs less than the chain links, buffers and iovecs of its
 * pieces on the way upstream (callgrind: some 1,800 instructions at
 * 1 KB).
 * body is the client's bytes, in one piece of memory; the client's own
 * buffers are left for the attempts on other tiers.
 */

static ngx_int_t
ngx_http_tier_router_replace_small(ngx_http_request_t *r, ngx_str_t *body,
    tr_plan_t *plan)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    size = tr_plan_size(body->len, plan);

    b = ngx_create_temp_buf(r->pool, size ? size : 1);
    if (b == NULL) {
        return NGX_ERROR;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b->last = b->pos + tr_plan_apply(body->data, body->len, plan, b->pos);
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;

    return ngx_http_tier_router_length(r, (off_t) size);
}


/*
 * The body for another model than the one that signed its history: a
 * copy in the request's pool without the signed reasoning
 * (core/tr_signed.c), read again by the extractor, and sent instead of
 * the client's.  Thinking goes off if its last turn lost blocks: the API
 * wants a tool loop's last assistant turn to open with one.  NGX_DECLINED:
 * nothing was stripped, the client's body stays.
 */

ngx_int_t
ngx_http_tier_router_unsign(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body, tr_request_t *req)
{
    u_char       *p;
    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;
    tr_signed_t   st;

    n = tr_signed_strip(body->data, body->len, req->dialect, NULL, &st);

    if (n == TR_SIGNED_FAILED || st.stripped == 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "tier router: the signed reasoning of a body cannot "
                      "be stripped: it is sent as it is");
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, n);
    if (p == NULL) {
        return NGX_ERROR;
    }

    (void) tr_signed_strip(body->data, body->len, req->dialect, p, &st);

    if (tr_extract(p, n, req) != 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "tier router: a body without its signed reasoning "
                      "cannot be read: the client's is sent");
        return NGX_DECLINED;
    }

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = p;
    b->last = p + n;
    b->start = p;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;

    body->data = p;
    body->len = n;

    ctx->unthink = (req->dialect == TR_ANTHROPIC && st.last_turn);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tier router: %ui signed blocks stripped, %ui kept as "
                   "text, thinking %s", (ngx_uint_t) st.stripped,
                   (ngx_uint_t) st.kept, ctx->unthink ? "off" : "as asked");

    return ngx_http_tier_router_length(r, n);
}


/* the Content-Length of the body sent upstream */

static ngx_int_t
ngx_http_tier_router_length(ngx_http_request_t *r, off_t len)
{
    ngx_table_elt_t  *h;

    r->headers_in.content_length_n = len;

    h = r->headers_in.content_length;

    if (h) {
        h->value.data = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
        if (h->value.data == NULL) {
            return NGX_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%O", len)
                       - h->value.data;
    }

    return NGX_OK;
}


/*
 * Another attempt's body: the client's body as it came, spliced again for
 * the attempt's tier (asking for logprobs if the judge needs them), in
 * the subrequest sr (which has its own copy of the
 * request body's description and of the headers' Content-Length).
 */

ngx_int_t
ngx_http_tier_router_retarget(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_tier_router_ctx_t *actx, ngx_uint_t logprobs)
{
    ngx_str_t                          body;
    ngx_http_request_body_t           *rb;
    ngx_http_tier_router_ctx_t        *ctx;
    ngx_http_tier_router_tier_t       *tier;
    tr_request_t                      *req;
    ngx_http_tier_router_main_conf_t  *trmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    rb = ngx_palloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    *rb = *r->request_body;
    rb->bufs = ctx->rq->body;
    sr->request_body = rb;

    if (ngx_http_tier_router_body(sr, actx, &body) != NGX_OK
        || actx->rq->error)
    {
        return NGX_ERROR;
    }

    /* replace() leaves a body that needs no splice as it is */

    sr->headers_in.content_length_n = (off_t) body.len;

    req = &ngx_http_tier_router_req;
    req->dialect = (int) ctx->rq->dialect;

    /*
     * the same bytes as the first time: what the extractor read then,
     * without the text windows, which the rewrite does not read (else
     * read again: this cannot fail but is checked)
     */

    if (ctx->rq->extracted) {
        ngx_memcpy(req, ctx->rq->extracted, offsetof(tr_request_t, text));

        req->features.text = req->text;
        req->features.text_len = 0;
        req->features.system = req->system;
        req->features.system_len = 0;

    } else if (tr_extract(body.data, body.len, req) != 0) {
        return NGX_ERROR;
    }

    if (ngx_http_tier_router_session_strip(r, ctx, req, actx->tier)
        && ngx_http_tier_router_unsign(sr, actx, &body, req) == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;

    return ngx_http_tier_router_replace(sr, actx, &body, req,
                                        &tier[actx->tier], logprobs);
}


/*
 * Appends to *ll buffers that cover the bytes [from, to) of the body,
 * sliced from the client's chain; the cursor (a link and the body offset
 * where it starts) only moves forward.
 */

static ngx_int_t
ngx_http_tier_router_slice(ngx_http_request_t *r,
    ngx_http_tier_router_cursor_t *cur, ngx_chain_t ***ll, size_t from,
    size_t to)
{
    off_t         size, skip, take;
    ngx_buf_t    *b, *src;
    ngx_chain_t  *cl;

    while (from < to && cur->cl) {

        src = cur->cl->buf;
        size = src->in_file ? src->file_last - src->file_pos
                            : src->last - src->pos;

        skip = (off_t) from - cur->base;

        if (skip >= size) {
            cur->base += size;
            cur->cl = cur->cl->next;
            continue;
        }

        take = ngx_min(size - skip, (off_t) (to - from));

        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        if (src->in_file) {
            b->in_file = 1;
            b->file = src->file;
            b->file_pos = src->file_pos + skip;
            b->file_last = b->file_pos + take;

        } else {
            b->memory = 1;
            b->pos = src->pos + skip;
            b->last = b->pos + take;
            b->start = b->pos;
            b->end = b->last;
        }

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        **ll = cl;
        *ll = &cl->next;

        from += (size_t) take;
    }

    return (from == to) ? NGX_OK : NGX_ERROR;
}


/*
 * What the tier's profile took out of the body or renamed, in the
 * reason: param_dropped:NAME, param_renamed:NAME (once each, whichever
 * attempt did it).
 */

static ngx_int_t
ngx_http_tier_router_profile_reason(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, tr_request_t *req, tr_edit_t *edit)
{
    int         renamed;
    u_char      buf[64], *p;
    unsigned    dropped;
    ngx_uint_t  k;

    dropped = tr_rewrite_dropped(req, edit);
    renamed = tr_rewrite_renamed(req, edit);

    for (k = 0; k < TR_PARAMS; k++) {

        if (dropped & (1u << k)) {
            p = ngx_snprintf(buf, sizeof(buf) - 1, "param_dropped:%s",
                             tr_param_names[k]);

        } else if (renamed == (int) k) {
            p = ngx_snprintf(buf, sizeof(buf) - 1, "param_renamed:%s",
                             tr_param_names[k]);

        } else {
            continue;
        }

        *p = '\0';

        if (ngx_strnstr(ctx->rq->reason.data, (char *) buf,
                        ctx->rq->reason.len)
            != NULL)
        {
            continue;
        }

        if (ngx_http_tier_router_append_reason(r, ctx, (char *) buf)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
