
/*
 * Copyright (C) The tier router authors
 *
 * tier_router_cost_header: what an answer cost, in its header.  The
 * usage of a JSON answer is at its end, after the header has gone; so a
 * non-streamed answer of status 2xx, no larger than the buffer, is held
 * (as the image filter holds an image): its header waits, its body is
 * copied as it comes and the upstream's buffers are freed, and once the
 * last buffer is in (the usage filters, before this one, have read the
 * usage), the header goes with X-Tier-Router-Cost and an exact
 * Content-Length, then the body.  A stream is never held; an answer
 * larger than the buffer, or that comes in a file, is sent as it comes,
 * without the header.  An attempt's answer (tier_router_fallback,
 * tier_router_escalate) is held in the attempt, so the cost includes the
 * attempts before it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_cost_header.h"
#include "ngx_http_tier_router_account.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"

#include "tr_price.h"


typedef struct {
    ngx_chain_t                 *out;
    ngx_chain_t                **last;
    size_t                       size;
} ngx_http_tier_router_cost_held_t;


static ngx_int_t ngx_http_tier_router_cost_header_filter(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_tier_router_cost_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_tier_router_cost_release(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_chain_t *rest, ngx_uint_t priced);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* tier_router_cost_header on [buffer=SIZE] | off */

char *
ngx_http_tier_router_cost_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    ssize_t     size;
    ngx_str_t  *value, v;

    if (trlcf->cost_header != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0 && cf->args->nelts == 2) {
        trlcf->cost_header = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "on") != 0) {
        return "takes \"on\" or \"off\"";
    }

    trlcf->cost_header = 1;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "buffer=", 7) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        v.data = value[2].data + 7;
        v.len = value[2].len - 7;

        size = ngx_parse_size(&v);

        if (size == NGX_ERROR || size < 1024 || size > 64 * 1024 * 1024) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid buffer size \"%V\": from 1k to 64m",
                               &v);
            return NGX_CONF_ERROR;
        }

        trlcf->cost_header_buffer = (size_t) size;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_tier_router_cost_header_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_tier_router_cost_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_tier_router_cost_body_filter;

    return NGX_OK;
}


/* the answer of a run whose usage is read (usage_filter.c, before this) */

static ngx_int_t
ngx_http_tier_router_cost_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                         status;
    ngx_http_tier_router_ctx_t        *ctx;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_cost_held_t  *held;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);
    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (ctx == NULL || !trlcf->cost_header || ctx->run.usage == NULL
        || !ctx->run.accounted || ctx->rq->metered || ctx->run.opaque
        || ctx->run.usage->sse || r->header_only || r->upstream == NULL)
    {
        return ngx_http_next_header_filter(r);
    }

    status = r->upstream->headers_in.status_n;

    if (status < 200 || status >= 300
        || r->headers_out.content_length_n > (off_t) trlcf->cost_header_buffer)
    {
        return ngx_http_next_header_filter(r);
    }

    held = ngx_pcalloc(r->pool, sizeof(ngx_http_tier_router_cost_held_t));
    if (held == NULL) {
        return NGX_ERROR;
    }

    held->last = &held->out;
    ctx->run.cost_held = held;

    r->filter_need_in_memory = 1;

    /* the header goes with the last of the body */

    return NGX_OK;
}


static ngx_int_t
ngx_http_tier_router_cost_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in)
{
    size_t                             size;
    ngx_buf_t                         *b, *nb;
    ngx_chain_t                       *cl, *ncl;
    ngx_http_tier_router_ctx_t        *ctx;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_cost_held_t  *held;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    if (ctx == NULL || ctx->run.cost_held == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    held = ctx->run.cost_held;
    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b) && ngx_buf_size(b)) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "tier router: an answer in a file is sent "
                          "without its cost header");
            return ngx_http_tier_router_cost_release(r, ctx, cl, 0);
        }

        size = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos) : 0;

        if (held->size + size > trlcf->cost_header_buffer) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "tier router: an answer larger than the "
                          "tier_router_cost_header buffer is sent "
                          "without its cost header");
            return ngx_http_tier_router_cost_release(r, ctx, cl, 0);
        }

        if (size) {
            nb = ngx_create_temp_buf(r->pool, size);
            ncl = ngx_alloc_chain_link(r->pool);

            if (nb == NULL || ncl == NULL) {
                return NGX_ERROR;
            }

            nb->last = ngx_cpymem(nb->pos, b->pos, size);
            b->pos = b->last;

            ncl->buf = nb;
            ncl->next = NULL;
            *held->last = ncl;
            held->last = &ncl->next;
            held->size += size;
        }

        if (b->last_buf || b->last_in_chain) {
            return ngx_http_tier_router_cost_release(r, ctx, cl, 1);
        }
    }

    return NGX_OK;
}


/*
 * The header, with the cost if the whole answer is in (priced), then
 * what was held, then the rest of the chain from where it stopped.
 */

static ngx_int_t
ngx_http_tier_router_cost_release(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_chain_t *rest, ngx_uint_t priced)
{
    u_char                            *p;
    int64_t                            cost;
    ngx_int_t                          rc;
    ngx_str_t                          v;
    ngx_buf_t                         *b;
    ngx_chain_t                       *cl;
    ngx_http_tier_router_cost_held_t  *held;

    held = ctx->run.cost_held;
    ctx->run.cost_held = NULL;

    cost = priced ? ngx_http_tier_router_cost_now(r, ctx) : -1;

    if (cost >= 0) {
        p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 2);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v.data = p;
        v.len = tr_price_print(cost, (char *) p);

        if (ngx_http_tier_router_add_header(r, "X-Tier-Router-Cost", &v)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* all of it is here: its length is known */

        ngx_http_clear_content_length(r);
        r->headers_out.content_length_n = held->size;
    }

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (priced) {

        /* the last buffer's flags go with the last byte held */

        b = rest->buf;

        if (held->out == NULL) {
            return ngx_http_next_body_filter(r, rest);
        }

        cl = (ngx_chain_t *) ((u_char *) held->last
                              - offsetof(ngx_chain_t, next));

        cl->buf->last_buf = b->last_buf;
        cl->buf->last_in_chain = b->last_in_chain;
        cl->buf->flush = 1;
        cl->next = rest->next;

        return ngx_http_next_body_filter(r, held->out);
    }

    *held->last = rest;

    return ngx_http_next_body_filter(r, held->out);
}
