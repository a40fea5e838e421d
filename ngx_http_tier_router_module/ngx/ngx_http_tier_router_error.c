
/*
 * Copyright (C) The tier router authors
 *
 * Errors shaped like the dialect's own, so that SDKs show them as they
 * show the provider's: OpenAI {"error":{...}}, Anthropic
 * {"type":"error","error":{...}}.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_error.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"

#include "tr_dialect.h"


static u_char *ngx_http_tier_router_json_escape(u_char *dst, u_char *src,
    size_t len);
static size_t ngx_http_tier_router_json_escape_len(u_char *src, size_t len);
static ngx_int_t ngx_http_tier_router_error_header(ngx_http_request_t *r,
    char *name, time_t value);


ngx_int_t
ngx_http_tier_router_send_error(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx)
{
    size_t        len, mlen;
    u_char       *p, *msg;
    ngx_buf_t    *b;
    ngx_str_t     message, detail;
    const char   *type, *otype, *param;

    /*
     * the message, with the client's own words (a model name, a header)
     * if any: cut to a bounded length and escaped once, so that neither
     * the JSON body nor the error log line can be forged by them
     */

    detail = ctx->rq->error_detail;

    if (detail.len > NGX_HTTP_TIER_ROUTER_DETAIL_LEN) {
        detail.len = NGX_HTTP_TIER_ROUTER_DETAIL_LEN;
    }

    mlen = ngx_http_tier_router_json_escape_len((u_char *) ctx->rq->error,
                                                ngx_strlen(ctx->rq->error));

    if (detail.len) {
        mlen += sizeof(": ''") - 1
                + ngx_http_tier_router_json_escape_len(detail.data,
                                                       detail.len);
    }

    msg = ngx_pnalloc(r->pool, mlen);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_tier_router_json_escape(msg, (u_char *) ctx->rq->error,
                                         ngx_strlen(ctx->rq->error));

    if (detail.len) {
        p = ngx_cpymem(p, ": '", 3);
        p = ngx_http_tier_router_json_escape(p, detail.data, detail.len);
        *p++ = '\'';
    }

    message.data = msg;
    message.len = p - msg;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "tier router: %ui %V", ctx->rq->error_status, &message);

    switch (ctx->rq->error_status) {
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        type = "request_too_large";
        break;
    case NGX_HTTP_INTERNAL_SERVER_ERROR:
        type = (ctx->rq->dialect == TR_ANTHROPIC)
               ? "api_error" : "server_error";
        break;
    default:
        type = "invalid_request_error";
    }

    if (ctx->rq->error_type) {
        type = ctx->rq->error_type;
    }

    param = ctx->rq->error_param;

    len = message.len;

    if (ctx->rq->dialect == TR_ANTHROPIC) {
        len += sizeof("{\"type\":\"error\",\"error\":{\"type\":\"\","
                      "\"message\":\"\"}}\n") - 1
               + ngx_strlen(type);

    } else {
        len += sizeof("{\"error\":{\"message\":\"\",\"type\":\"\","
                      "\"param\":\"\",\"code\":\"\"}}\n") - 1
               + sizeof("invalid_request_error") - 1
               + (param ? ngx_strlen(param) : 4)
               + ngx_strlen(type)
               + (ctx->rq->error_code ? ngx_strlen(ctx->rq->error_code) : 0);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = b->last;

    if (ctx->rq->dialect == TR_ANTHROPIC) {
        p = ngx_sprintf(p, "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
                        "\"message\":\"", type);
        p = ngx_cpymem(p, message.data, message.len);
        p = ngx_cpymem(p, "\"}}\n", 4);

    } else {
        p = ngx_cpymem(p, "{\"error\":{\"message\":\"",
                       sizeof("{\"error\":{\"message\":\"") - 1);
        p = ngx_cpymem(p, message.data, message.len);
        otype = ctx->rq->error_type;

        if (otype == NULL) {
            otype = (ctx->rq->error_status == NGX_HTTP_INTERNAL_SERVER_ERROR)
                    ? "server_error" : "invalid_request_error";
        }

        p = ngx_sprintf(p, "\",\"type\":\"%s\",\"param\":", otype);

        if (param) {
            p = ngx_sprintf(p, "\"%s\"", param);

        } else {
            p = ngx_cpymem(p, "null", 4);
        }

        if (ctx->rq->error_code) {
            p = ngx_sprintf(p, ",\"code\":\"%s\"}}\n", ctx->rq->error_code);

        } else if (ctx->rq->error_status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
            p = ngx_sprintf(p, ",\"code\":\"%s\"}}\n", type);

        } else {
            p = ngx_cpymem(p, ",\"code\":null}}\n",
                           sizeof(",\"code\":null}}\n") - 1);
        }
    }

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = ctx->rq->error_status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    /*
     * a spent budget is no rate limit: the SDKs' automatic retries would
     * only hammer the edge until the period ends
     */

    if (ctx->rq->retry_after
        && ngx_http_tier_router_error_header(r, "Retry-After",
                                             ctx->rq->retry_after)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->rq->error_code
        && ngx_http_tier_router_error_header(r, "x-should-retry",
                                             ctx->rq->retryable ? -2 : -1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_tier_router_send(r, b);
}


/*
 * JSON string escaping that also keeps the text printable ASCII or valid
 * UTF-8: DEL and bytes that do not start a valid UTF-8 sequence become
 * \ufffd, so a header's raw bytes can neither break the JSON nor the log
 */

static size_t
ngx_http_tier_router_json_escape_len(u_char *src, size_t len)
{
    size_t   n, k;
    u_char  *p, *last;

    n = 0;
    last = src + len;

    while (src < last) {

        if (*src >= 0x80) {
            p = src;

            if (ngx_utf8_decode(&p, last - src) > 0x10ffff) {
                n += 6;
                src++;

            } else {
                k = p - src;
                n += k;
                src = p;
            }

            continue;
        }

        if (*src == '"' || *src == '\\') {
            n += 2;

        } else if (*src < 0x20 || *src == 0x7f) {
            n += 6;

        } else {
            n++;
        }

        src++;
    }

    return n;
}


static u_char *
ngx_http_tier_router_json_escape(u_char *dst, u_char *src, size_t len)
{
    u_char  *p, *last;

    last = src + len;

    while (src < last) {

        if (*src >= 0x80) {
            p = src;

            if (ngx_utf8_decode(&p, last - src) > 0x10ffff) {
                dst = ngx_cpymem(dst, "\\ufffd", 6);
                src++;

            } else {
                while (src < p) {
                    *dst++ = *src++;
                }
            }

            continue;
        }

        if (*src == '"' || *src == '\\') {
            *dst++ = '\\';
            *dst++ = *src;

        } else if (*src < 0x20 || *src == 0x7f) {
            dst = ngx_sprintf(dst, "\\u%04xd", (ngx_uint_t) *src);

        } else {
            *dst++ = *src;
        }

        src++;
    }

    return dst;
}


/* a header with a number of seconds, or "false" for -1, "true" for -2 */

static ngx_int_t
ngx_http_tier_router_error_header(ngx_http_request_t *r, char *name,
    time_t value)
{
    u_char     *p;
    ngx_str_t   v;

    if (value < 0) {
        if (value == -1) {
            ngx_str_set(&v, "false");

        } else {
            ngx_str_set(&v, "true");
        }

        return ngx_http_tier_router_add_header(r, name, &v);
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%T", value) - p;

    return ngx_http_tier_router_add_header(r, name, &v);
}
