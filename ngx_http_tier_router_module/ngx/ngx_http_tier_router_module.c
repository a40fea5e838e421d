
/*
 * Copyright (C) The tier router authors
 *
 * Routes each LLM API request to the cheapest model tier able to do it:
 * reads the body in the precontent phase (after allow/deny, auth_basic
 * and auth_request have passed), extracts what routing needs in one
 * bounded pass, classifies it, picks a tier, splices the tier's model
 * into the body and leaves the choice in $tier_router_upstream for
 * proxy_pass.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_module.h"


typedef struct {
    ngx_chain_t                 *cl;
    off_t                        base;      /* body offset of cl's start */
} ngx_http_tier_router_cursor_t;


static ngx_int_t ngx_http_tier_router_handler(ngx_http_request_t *r);
static void ngx_http_tier_router_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tier_router_identity(ngx_http_request_t *r);
static ngx_int_t ngx_http_tier_router_unrouted(ngx_http_request_t *r);
static ngx_int_t ngx_http_tier_router_refuse_unread(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static ngx_int_t ngx_http_tier_router_upstream_known(ngx_conf_t *cf,
    ngx_str_t *name);
static ngx_int_t ngx_http_tier_router_route(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
static ngx_int_t ngx_http_tier_router_body(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body);
static ngx_int_t ngx_http_tier_router_choose(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, tr_request_t *req,
    tr_verdict_t *verdict);
static ngx_int_t ngx_http_tier_router_bound(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_complex_value_t *cv,
    ngx_int_t *index);
static ngx_int_t ngx_http_tier_router_replace(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body,
    tr_request_t *req, ngx_http_tier_router_tier_t *tier);
static ngx_int_t ngx_http_tier_router_slice(ngx_http_request_t *r,
    ngx_http_tier_router_cursor_t *cur, ngx_chain_t ***ll, size_t from,
    size_t to);
static ngx_int_t ngx_http_tier_router_header_filter(ngx_http_request_t *r);

static void *ngx_http_tier_router_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_tier_router_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_tier_router_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_tier_router_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_tier_router_tier(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tier_router_enable(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tier_router_override(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tier_router_no_signal(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tier_router_enum(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tier_router_auto_model(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tier_router_model_conf(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tier_router_bitmask(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tier_router_attempts(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_tier_router_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_tier_router_init(ngx_conf_t *cf);
static void ngx_http_tier_router_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_tier_router_dialects[] = {
    { ngx_string("auto"), TR_AUTO },
    { ngx_string("openai_chat"), TR_OPENAI_CHAT },
    { ngx_string("openai_responses"), TR_OPENAI_RESPONSES },
    { ngx_string("anthropic"), TR_ANTHROPIC },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_tier_router_unknown_models[] = {
    { ngx_string("route"), NGX_HTTP_TIER_ROUTER_ROUTE },
    { ngx_string("reject"), NGX_HTTP_TIER_ROUTER_REJECT },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_tier_router_fits[] = {
    { ngx_string("downgrade"), NGX_HTTP_TIER_ROUTER_FIT_DOWNGRADE },
    { ngx_string("reject"), NGX_HTTP_TIER_ROUTER_FIT_REJECT },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_tier_router_on_errors[] = {
    { ngx_string("closed"), NGX_HTTP_TIER_ROUTER_FAIL_CLOSED },
    { ngx_string("open"), NGX_HTTP_TIER_ROUTER_FAIL_OPEN },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_tier_router_empty_keys[] = {
    { ngx_string("refuse"), NGX_HTTP_TIER_ROUTER_EMPTY_REFUSE },
    { ngx_string("allow"), NGX_HTTP_TIER_ROUTER_EMPTY_ALLOW },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_tier_router_status_bounds = {
    ngx_conf_check_num_bounds, 400, 599
};


static ngx_conf_enum_t  ngx_http_tier_router_directions[] = {
    { ngx_string("up"), NGX_HTTP_TIER_ROUTER_UP },
    { ngx_string("down"), NGX_HTTP_TIER_ROUTER_DOWN },
    { ngx_null_string, 0 }
};




static ngx_command_t  ngx_http_tier_router_commands[] = {

    { ngx_string("tier_router_tier"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_tier_router_tier,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_tier_router_enable,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_dialect"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, dialect),
      &ngx_http_tier_router_dialects },

    { ngx_string("tier_router_auto_model"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tier_router_auto_model,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, auto_models),
      NULL },

    { ngx_string("tier_router_pin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, pin),
      NULL },

    { ngx_string("tier_router_unknown_model"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, unknown_model),
      &ngx_http_tier_router_unknown_models },

    { ngx_string("tier_router_max_tier"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, max_tier),
      NULL },

    { ngx_string("tier_router_min_tier"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, min_tier),
      NULL },

    { ngx_string("tier_router_override_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_override,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, headers),
      NULL },

    { ngx_string("tier_router_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, max_body_size),
      NULL },

    { ngx_string("tier_router_no_signal_tier"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_no_signal,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_price"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_tier_router_price,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_price_catalog"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tier_router_price_catalog_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_budget_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tier_router_budget_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_budget"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tier_router_budget,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_budget_soft"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_tier_router_budget_soft,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_budget_fit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, budget_fit),
      &ngx_http_tier_router_fits },

    { ngx_string("tier_router_budget_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, budget_status),
      &ngx_http_tier_router_status_bounds },

    { ngx_string("tier_router_budget_on_error"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, budget_on_error),
      &ngx_http_tier_router_on_errors },

    { ngx_string("tier_router_passthrough"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, passthrough),
      NULL },

    { ngx_string("tier_router_budget_empty_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, budget_empty_key),
      &ngx_http_tier_router_empty_keys },

    { ngx_string("tier_router_budget_max_output"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, budget_max_output),
      NULL },

    { ngx_string("tier_router_fallback"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tier_router_bitmask,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, fallback),
      &ngx_http_tier_router_fallback_masks },

    { ngx_string("tier_router_fallback_direction"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, fallback_direction),
      &ngx_http_tier_router_directions },

    { ngx_string("tier_router_attempts"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_attempts,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_escalate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tier_router_escalate,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_escalate_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, escalate_buffer),
      NULL },

    { ngx_string("tier_router_budget_clock"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_budget_clock,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_model"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_model_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_shares"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tier_router_shares,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_tier_router_module_ctx = {
    ngx_http_tier_router_preconfiguration,  /* preconfiguration */
    ngx_http_tier_router_init,              /* postconfiguration */

    ngx_http_tier_router_create_main_conf,  /* create main configuration */
    ngx_http_tier_router_init_main_conf,    /* init main configuration */

    NULL,                                   /* create server configuration */
    NULL,                                   /* merge server configuration */

    ngx_http_tier_router_create_loc_conf,   /* create location configuration */
    ngx_http_tier_router_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_tier_router_module = {
    NGX_MODULE_V1,
    &ngx_http_tier_router_module_ctx,       /* module context */
    ngx_http_tier_router_commands,          /* module directives */
    NGX_HTTP_MODULE,                        /* module type */
    NULL,                                   /* init master */
    NULL,                                   /* init module */
    ngx_http_tier_router_budget_init_process, /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    ngx_http_tier_router_exit_process,      /* exit process */
    ngx_http_tier_router_budget_exit,       /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/*
 * Per worker, not per request: routing runs start to end in one call on
 * one thread, and nothing keeps a pointer into either past that call.
 * The extractor's result (some 5 KB with its text windows) and, for a
 * body that came in several buffers or a file, one contiguous copy of it
 * (grown as needed up to tier_router_max_body_size, then kept) would
 * otherwise be a malloc() and its page faults on every request.
 */

static tr_request_t  ngx_http_tier_router_req;
static u_char       *ngx_http_tier_router_scratch;
static size_t        ngx_http_tier_router_scratch_size;


static ngx_int_t
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

            ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tier_router_ctx_t));
            if (ctx == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ctx->dialect = dialect;
            ctx->status = NGX_DECLINED;
            ctx->error_status = NGX_HTTP_BAD_REQUEST;
            ctx->error = "a request body is read with POST only: this "
                         "method must not carry one";

            ngx_http_set_ctx(r, ctx, ngx_http_tier_router_module);

            return ngx_http_tier_router_refuse_unread(r, ctx);
        }
    }

    if (ctx) {

        if (ctx->error) {
            rc = ngx_http_tier_router_send_error(r, ctx);
            ngx_http_finalize_request(r, rc);
            return NGX_DONE;
        }

        if (ctx->attempt) {
            return ngx_http_tier_router_attempt_wake(r, ctx);
        }

        return ctx->status;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tier_router_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->status = NGX_DONE;
    ctx->dialect = dialect;

    ngx_http_set_ctx(r, ctx, ngx_http_tier_router_module);

    if (r->headers_in.content_length_n > (off_t) trlcf->max_body_size) {

        /* refused before reading what we would not read anyway */

        ctx->error_status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        ctx->error = "request body is larger than the router reads";
        ctx->status = NGX_DECLINED;

        return ngx_http_tier_router_refuse_unread(r, ctx);
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_tier_router_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
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

static ngx_int_t
ngx_http_tier_router_unrouted(ngx_http_request_t *r)
{
    ngx_http_tier_router_ctx_t       *ctx;
    ngx_http_tier_router_loc_conf_t  *trlcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (trlcf->budget_zone == NULL || r->method != NGX_HTTP_POST) {
        return NGX_DECLINED;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tier_router_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->status = NGX_DECLINED;

    /* errors in Anthropic's shape for its calls (messages/count_tokens,
     * messages/batches), else in OpenAI's */

    ctx->dialect = ngx_strlcasestrn(r->uri.data, r->uri.data + r->uri.len,
                                    (u_char *) "/messages", 9 - 1)
                   ? TR_ANTHROPIC
                   : TR_AUTO;

    ngx_http_set_ctx(r, ctx, ngx_http_tier_router_module);

    if (ngx_http_tier_router_meter(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->error == NULL) {
        return (ngx_http_tier_router_identity(r) == NGX_OK)
               ? NGX_DECLINED : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_tier_router_refuse_unread(r, ctx);
}


/*
 * The error in ctx, before the body is read: it is discarded, and no
 * "100 Continue" invites the client to send it
 */

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


/* the worker's copy buffer goes with it (a clean exit for LeakSanitizer) */

static void
ngx_http_tier_router_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_tier_router_scratch) {
        ngx_free(ngx_http_tier_router_scratch);
        ngx_http_tier_router_scratch = NULL;
        ngx_http_tier_router_scratch_size = 0;
    }
}


static void
ngx_http_tier_router_body_handler(ngx_http_request_t *r)
{
    ngx_http_tier_router_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    if (ngx_http_tier_router_route(r, ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->status = NGX_DECLINED;

    r->preserve_body = 1;

    /* with fallback, each tier is tried in a subrequest of its own */

    if (ctx->routed && !ctx->error
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
    ngx_http_tier_router_tier_t       *tier;
    tr_request_t                      *req;
    double                             x[TR_MODEL_N];
    tr_verdict_t                       verdict;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    rc = ngx_http_tier_router_body(r, ctx, &body);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->error) {
        return NGX_OK;
    }

    req = &ngx_http_tier_router_req;

    req->dialect = (int) ctx->dialect;

    if (tr_extract(body.data, body.len, req) != 0) {
        ctx->error_status = NGX_HTTP_BAD_REQUEST;
        ctx->error = req->error;
        ctx->error_param = req->error_param;

        if (req->error_param
            && ngx_strncmp(req->error, "duplicate", 9) == 0)
        {
            ctx->error_detail.data = (u_char *) req->error_param;
            ctx->error_detail.len = ngx_strlen(req->error_param);
        }

        if (ctx->dialect == TR_AUTO) {
            ctx->dialect = req->dialect;
        }

        return NGX_OK;
    }

    ctx->dialect = req->dialect;

    ctx->requested_model.len = req->model_len;
    ctx->requested_model.data = ngx_pnalloc(r->pool, req->model_len + 1);
    if (ctx->requested_model.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->requested_model.data, req->model, req->model_len);

    req->features.count = (trmcf->model != NULL);

    tr_classify(&req->features, &verdict);

    if (trmcf->model) {
        tr_model_features(&req->features, &verdict, x);
        verdict.score = tr_model_score(trmcf->model, x);
    }

    ctx->score = verdict.score;

    rc = ngx_http_tier_router_choose(r, ctx, req, &verdict);

    if (rc != NGX_OK || ctx->error) {
        return rc;
    }

    /* the budget checks the tier actually chosen, and may lower it */

    rc = ngx_http_tier_router_admit(r, ctx, req, body.len);

    if (rc != NGX_OK || ctx->error) {
        return ctx->error ? NGX_OK : rc;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;
    tier = &tier[ctx->tier];

    ctx->body = r->request_body ? r->request_body->bufs : NULL;
    ctx->stream = req->features.stream;
    ctx->json_output = req->features.json_output || req->features.json_schema;

    if (ngx_http_tier_router_replace(r, ctx, &body, req, tier) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_tier_router_identity(r) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->routed = 1;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tier router: tier \"%V\" score %.3f reason \"%V\" "
                   "body %uz", &tier->name, ctx->score, &ctx->reason,
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
    ngx_uint_t        i, found;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    found = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("Accept-Encoding") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Accept-Encoding",
                               sizeof("Accept-Encoding") - 1)
               != 0)
        {
            continue;
        }

#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)

        if (r->headers_in.accept_encoding == &h[i]) {
            r->headers_in.accept_encoding = ngx_palloc(r->pool,
                                                    sizeof(ngx_table_elt_t));
            if (r->headers_in.accept_encoding == NULL) {
                return NGX_ERROR;
            }

            *r->headers_in.accept_encoding = h[i];
        }

#endif

        ngx_str_set(&h[i].value, "identity");
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

    ngx_str_set(&h->key, "Accept-Encoding");
    ngx_str_set(&h->value, "identity");
    h->lowcase_key = (u_char *) "accept-encoding";
    h->hash = ngx_hash_key(h->lowcase_key, h->key.len);

    return NGX_OK;
}


/* the whole body in one piece of memory, read from a temp file if needed */

static ngx_int_t
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

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;

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

    ctx->error_status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    ctx->error = "request body is larger than the router reads";

    return NGX_OK;
}


static ngx_int_t
ngx_http_tier_router_choose(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, tr_request_t *req,
    tr_verdict_t *verdict)
{
    u_char                            *p;
    size_t                             len;
    ngx_int_t                          index, floor, cap;
    ngx_str_t                         *am;
    ngx_uint_t                         i, n, auto_model, unknown;
    ngx_list_part_t                   *part;
    ngx_table_elt_t                   *h;
    const char                        *decision;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);
    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    tier = trmcf->tiers.elts;
    n = trmcf->tiers.nelts;
    index = -1;
    unknown = 0;
    decision = "classified";

    /* a client may force a tier only where the operator allows it */

    if (trlcf->override_header.len) {
        part = &r->headers_in.headers.part;
        h = part->elts;

        for (i = 0; /* void */; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                h = part->elts;
                i = 0;
            }

            if (h[i].key.len != trlcf->override_header.len
                || ngx_strncasecmp(h[i].key.data, trlcf->override_header.data,
                                   h[i].key.len) != 0)
            {
                continue;
            }

            index = ngx_http_tier_router_find_tier(trmcf, h[i].value.data,
                                              h[i].value.len);

            if (index == NGX_ERROR) {
                ctx->error_status = NGX_HTTP_BAD_REQUEST;
                ctx->error = "unknown tier in the override header";
                ctx->error_detail = h[i].value;
                return NGX_OK;
            }

            decision = "override";
            break;
        }
    }

    if (index < 0 && req->has_model) {

        auto_model = 0;
        am = trlcf->auto_models->elts;

        for (i = 0; i < trlcf->auto_models->nelts; i++) {
            if (am[i].len == req->model_len
                && ngx_strncmp(am[i].data, req->model, req->model_len) == 0)
            {
                auto_model = 1;
                break;
            }
        }

        if (!auto_model) {

            /* the tier whose model the client named, if any */

            for (i = 0; i < n; i++) {
                if (tier[i].model.len == req->model_len
                    && ngx_strncmp(tier[i].model.data, req->model,
                                   req->model_len) == 0)
                {
                    break;
                }
            }

            if (i < n && trlcf->pin) {
                index = i;
                decision = "pinned";

            } else if (i == n) {

                if (trlcf->unknown_model == NGX_HTTP_TIER_ROUTER_REJECT) {
                    ctx->error_status = NGX_HTTP_BAD_REQUEST;
                    ctx->error = "the model is not available here";
                    ctx->error_detail = ctx->requested_model;
                    ctx->error_param = "model";
                    return NGX_OK;
                }

                unknown = 1;
            }
        }
    }

    if (index < 0) {

        if (verdict->no_signal && trlcf->no_signal_index >= 0) {
            index = trlcf->no_signal_index;
            decision = "no_signal";

        } else if (trmcf->shares) {
            index = ngx_http_tier_router_shares_route(trmcf->shares,
                                                      verdict->score);

        } else {
            for (i = 0; i < n - 1; i++) {
                if (verdict->score <= tier[i].max_score) {
                    break;
                }
            }

            index = i;
        }
    }

    /* the operator's floor and cap, from variables; the cap wins */

    if (ngx_http_tier_router_bound(r, ctx, trlcf->min_tier, &floor)
        != NGX_OK
        || ngx_http_tier_router_bound(r, ctx, trlcf->max_tier, &cap)
           != NGX_OK)
    {
        return ctx->error ? NGX_OK : NGX_ERROR;
    }

    len = ngx_strlen(decision) + 1 + ngx_strlen(verdict->reasons)
          + sizeof(",unknown_model,min_tier,max_tier");

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->reason.data = p;

    p = ngx_sprintf(p, "%s", decision);

    if (unknown) {
        p = ngx_sprintf(p, ",unknown_model");
    }

    if (verdict->reasons[0]) {
        p = ngx_sprintf(p, ",%s", verdict->reasons);
    }

    if (floor >= 0 && index < floor) {
        index = floor;
        p = ngx_sprintf(p, ",min_tier");
    }

    if (cap >= 0 && index > cap) {
        index = cap;
        p = ngx_sprintf(p, ",max_tier");
    }

    ctx->reason.len = p - ctx->reason.data;
    ctx->tier = index;
    ctx->floor = (floor >= 0 && floor <= index) ? floor : 0;
    ctx->cap = (cap >= index) ? cap : -1;

    return NGX_OK;
}


/* a floor or cap from a complex value: -1 none, else a tier's index */

static ngx_int_t
ngx_http_tier_router_bound(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_complex_value_t *cv,
    ngx_int_t *index)
{
    ngx_str_t                          value;
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

    *index = ngx_http_tier_router_find_tier(trmcf, value.data, value.len);

    if (*index == NGX_ERROR) {

        /* an operator's mistake: fail closed, never route around it */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tier router: tier bound \"%V\" names no tier",
                      &value);

        ctx->error_status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        ctx->error = "the router is misconfigured";
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_tier_router_find_tier(ngx_http_tier_router_main_conf_t *trmcf,
    u_char *name, size_t len)
{
    ngx_uint_t                    i;
    ngx_http_tier_router_tier_t  *tier;

    tier = trmcf->tiers.elts;

    for (i = 0; i < trmcf->tiers.nelts; i++) {
        if (tier[i].name.len == len
            && ngx_strncmp(tier[i].name.data, name, len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


/*
 * Splice the tier's model into the body and hand it on to the proxy: the
 * new request body is the client's own buffers (memory or temp file),
 * sliced around the splices, with the splices' bytes between them.
 */

static ngx_int_t
ngx_http_tier_router_replace(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body,
    tr_request_t *req, ngx_http_tier_router_tier_t *tier)
{
    off_t                          len;
    u_char                        *p;
    size_t                         pos;
    ngx_uint_t                     i, nth;
    ngx_buf_t                     *b;
    ngx_chain_t                   *out, **ll, *cl;
    ngx_http_tier_router_cursor_t  cur;
    ngx_table_elt_t               *h;
    tr_plan_t                      plan;
    tr_edit_t                      edit;
    tr_splice_t                   *sp;

    nth = ctx->parent ? ctx->nth : 0;

    if (req->has_model && tier->reasoning == 0 && !ctx->stream_usage
        && !ngx_http_tier_router_attempt_logprobs(r, ctx, ctx->tier, nth)
        && req->model_len == tier->model.len
        && ngx_strncmp(req->model, tier->model.data, tier->model.len) == 0)
    {
        return NGX_OK;
    }

    edit.model = tier->model.data;
    edit.model_len = tier->model.len;
    edit.reasoning = tier->reasoning;
    edit.stream_usage = ctx->stream_usage;
    edit.logprobs = ngx_http_tier_router_attempt_logprobs(r, ctx, ctx->tier,
                                                          nth)
                    && !req->logprobs;

    ctx->logprobs = edit.logprobs;
    edit.thinking_budget = tier->thinking_budget;

    /*
     * Anthropic wants budget_tokens below max_tokens (and at least 1024):
     * shrink the budget to fit, or add no thinking where none fits
     */

    if (edit.reasoning && req->dialect == TR_ANTHROPIC
        && req->features.max_tokens >= 0
        && req->features.max_tokens <= edit.thinking_budget)
    {
        if (req->features.max_tokens > 1024) {
            edit.thinking_budget = req->features.max_tokens - 1;

        } else {
            edit.reasoning = 0;
        }
    }

    tr_rewrite_plan(req, &edit, &plan);

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
 * the attempt's tier, in the subrequest sr (which has its own copy of the
 * request body's description and of the headers' Content-Length).
 */

ngx_int_t
ngx_http_tier_router_retarget(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_tier_router_ctx_t *actx)
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
    rb->bufs = ctx->body;
    sr->request_body = rb;

    if (ngx_http_tier_router_body(sr, actx, &body) != NGX_OK
        || actx->error)
    {
        return NGX_ERROR;
    }

    /* replace() leaves a body that needs no splice as it is */

    sr->headers_in.content_length_n = (off_t) body.len;

    req = &ngx_http_tier_router_req;
    req->dialect = (int) ctx->dialect;

    /* the same bytes as the first time: this cannot fail but is checked */

    if (tr_extract(body.data, body.len, req) != 0) {
        return NGX_ERROR;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;

    return ngx_http_tier_router_replace(sr, actx, &body, req,
                                        &tier[actx->tier]);
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


static ngx_int_t
ngx_http_tier_router_header_filter(ngx_http_request_t *r)
{
    u_char                            *p;
    ngx_str_t                          score;
    ngx_http_tier_router_ctx_t        *ctx;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    if (ctx == NULL || !ctx->routed) {
        return ngx_http_next_header_filter(r);
    }

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (!trlcf->headers) {
        return ngx_http_next_header_filter(r);
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    tier = trmcf->tiers.elts;

    p = ngx_pnalloc(r->pool, sizeof("0.000") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    score.data = p;
    score.len = ngx_sprintf(p, "%.3f", ctx->score) - p;

    if (ngx_http_tier_router_add_header(r, "X-Tier-Router-Tier",
                                        &tier[ctx->tier].name)
        != NGX_OK
        || ngx_http_tier_router_add_header(r, "X-Tier-Router-Score", &score)
           != NGX_OK
        || ngx_http_tier_router_add_header(r, "X-Tier-Router-Reason",
                                           &ctx->reason)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


ngx_int_t
ngx_http_tier_router_add_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


static void *
ngx_http_tier_router_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_tier_router_main_conf_t  *trmcf;

    trmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tier_router_main_conf_t));
    if (trmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&trmcf->tiers, cf->pool, 4,
                       sizeof(ngx_http_tier_router_tier_t))
        != NGX_OK
        || ngx_array_init(&trmcf->zones, cf->pool, 1,
                          sizeof(ngx_http_tier_router_zone_t *))
           != NGX_OK
        || ngx_array_init(&trmcf->prices, cf->pool, 4,
                          sizeof(ngx_http_tier_router_model_price_t))
           != NGX_OK
        || ngx_array_init(&trmcf->catalog, cf->pool, 4,
                          sizeof(ngx_http_tier_router_model_price_t))
           != NGX_OK)
    {
        return NULL;
    }

    return trmcf;
}


/* an upstream{} block by that name, or an address with a port */

static ngx_int_t
ngx_http_tier_router_upstream_known(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                      i;
    ngx_http_upstream_srv_conf_t  **uscfp;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->host.len == name->len
            && ngx_strncasecmp(uscfp[i]->host.data, name->data, name->len)
               == 0)
        {
            return NGX_OK;
        }
    }

    return ngx_strlchr(name->data, name->data + name->len, ':')
           ? NGX_OK : NGX_DECLINED;
}


/* where a request the module does not route goes: the operator's, or
 * the first tier's upstream */

ngx_str_t *
ngx_http_tier_router_passthrough(ngx_http_request_t *r)
{
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (trlcf->passthrough.len) {
        return &trlcf->passthrough;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    if (trmcf->tiers.nelts == 0) {
        return NULL;
    }

    tier = trmcf->tiers.elts;

    return &tier[0].upstream;
}


static char *
ngx_http_tier_router_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_tier_router_main_conf_t *trmcf = conf;

    double                          prev;
    ngx_uint_t                      i, n;
    ngx_http_tier_router_tier_t    *tier;

    tier = trmcf->tiers.elts;
    n = trmcf->tiers.nelts;
    prev = -1;

    for (i = 0; i < n; i++) {

        if (!tier[i].max_score_set) {
            tier[i].max_score = (i == n - 1) ? 1.0 : (double) (i + 1) / n;
        }

        if (tier[i].max_score <= prev) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"tier_router_tier\" \"%V\": max_score must be "
                          "greater than the previous tier's in %V:%ui",
                          &tier[i].name, &tier[i].file, tier[i].line);
            return NGX_CONF_ERROR;
        }

        prev = tier[i].max_score;

        if (ngx_http_tier_router_upstream_known(cf, &tier[i].upstream)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"tier_router_tier\" \"%V\": no upstream \"%V\" "
                          "is defined (and it is not an address with a "
                          "port) in %V:%ui", &tier[i].name,
                          &tier[i].upstream, &tier[i].file, tier[i].line);
            return NGX_CONF_ERROR;
        }
    }

    if (n > NGX_HTTP_TIER_ROUTER_MAX_TIERS) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "at most %d \"tier_router_tier\" may be defined",
                      NGX_HTTP_TIER_ROUTER_MAX_TIERS);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tier_router_shares_check(cf, trmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_tier_router_price_tiers(cf, trmcf);
}


static void *
ngx_http_tier_router_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_tier_router_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tier_router_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->override_header = { 0, NULL };
     *     conf->no_signal_tier = { 0, NULL };
     *     conf->file = { 0, NULL };
     */

    conf->enable = NGX_CONF_UNSET;
    conf->dialect = NGX_CONF_UNSET_UINT;
    conf->auto_models = NGX_CONF_UNSET_PTR;
    conf->pin = NGX_CONF_UNSET;
    conf->unknown_model = NGX_CONF_UNSET_UINT;
    conf->max_tier = NGX_CONF_UNSET_PTR;
    conf->min_tier = NGX_CONF_UNSET_PTR;
    conf->headers = NGX_CONF_UNSET;
    conf->max_body_size = NGX_CONF_UNSET_SIZE;
    conf->no_signal_index = NGX_CONF_UNSET;
    conf->budget_zone = NGX_CONF_UNSET_PTR;
    conf->budget_clock = NGX_CONF_UNSET_PTR;
    conf->budget_soft = NGX_CONF_UNSET_PTR;
    conf->budget_fit = NGX_CONF_UNSET_UINT;
    conf->budget_status = NGX_CONF_UNSET_UINT;
    conf->budget_on_error = NGX_CONF_UNSET_UINT;
    conf->budget_empty_key = NGX_CONF_UNSET_UINT;
    conf->budget_max_output = NGX_CONF_UNSET_UINT;
    conf->fallback_direction = NGX_CONF_UNSET_UINT;
    conf->attempts = NGX_CONF_UNSET_UINT;
    conf->escalate_buffer = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_http_tier_router_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_tier_router_loc_conf_t *prev = parent;
    ngx_http_tier_router_loc_conf_t *conf = child;

    ngx_str_t                         *name;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_tier_router_module);

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_uint_value(conf->dialect, prev->dialect,
                              TR_AUTO);
    ngx_conf_merge_value(conf->pin, prev->pin, 1);
    ngx_conf_merge_uint_value(conf->unknown_model, prev->unknown_model,
                              NGX_HTTP_TIER_ROUTER_ROUTE);
    ngx_conf_merge_ptr_value(conf->max_tier, prev->max_tier, NULL);
    ngx_conf_merge_ptr_value(conf->min_tier, prev->min_tier, NULL);
    ngx_conf_merge_str_value(conf->override_header, prev->override_header,
                             "");
    ngx_conf_merge_value(conf->headers, prev->headers, 1);
    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              4 * 1024 * 1024);

    if (conf->budget_zone == NGX_CONF_UNSET_PTR) {
        conf->budget_zone = prev->budget_zone;
        conf->budget_key = prev->budget_key;
        conf->budget_limit = prev->budget_limit;
        conf->budget_label = prev->budget_label;
    }

    ngx_conf_merge_ptr_value(conf->budget_zone, prev->budget_zone, NULL);
    ngx_conf_merge_ptr_value(conf->budget_clock, prev->budget_clock, NULL);
    ngx_conf_merge_ptr_value(conf->budget_soft, prev->budget_soft, NULL);
    ngx_conf_merge_uint_value(conf->budget_fit, prev->budget_fit,
                              NGX_HTTP_TIER_ROUTER_FIT_DOWNGRADE);
    ngx_conf_merge_uint_value(conf->budget_status, prev->budget_status,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_uint_value(conf->budget_on_error, prev->budget_on_error,
                              NGX_HTTP_TIER_ROUTER_FAIL_CLOSED);
    ngx_conf_merge_uint_value(conf->budget_empty_key, prev->budget_empty_key,
                              NGX_HTTP_TIER_ROUTER_EMPTY_REFUSE);
    ngx_conf_merge_str_value(conf->passthrough, prev->passthrough, "");

    if (conf->passthrough.len
        && ngx_http_tier_router_upstream_known(cf, &conf->passthrough)
           != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_passthrough\": no upstream \"%V\" "
                           "is defined (and it is not an address with a "
                           "port)", &conf->passthrough);
        return NGX_CONF_ERROR;
    }
    ngx_conf_merge_uint_value(conf->budget_max_output,
                              prev->budget_max_output, 4096);

    ngx_conf_merge_bitmask_value(conf->fallback, prev->fallback,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_TIER_ROUTER_FB_OFF));

    if (conf->fallback & NGX_HTTP_TIER_ROUTER_FB_OFF) {
        conf->fallback = NGX_CONF_BITMASK_SET|NGX_HTTP_TIER_ROUTER_FB_OFF;
    }

    ngx_conf_merge_uint_value(conf->fallback_direction,
                              prev->fallback_direction,
                              NGX_HTTP_TIER_ROUTER_UP);
    ngx_conf_merge_uint_value(conf->attempts, prev->attempts, 2);

    if (conf->escalate == 0) {
        conf->escalate = prev->escalate;
        conf->escalate_logprob = prev->escalate_logprob;
    }

    if (conf->escalate == 0) {
        conf->escalate = NGX_CONF_BITMASK_SET|NGX_HTTP_TIER_ROUTER_FB_OFF;
    }

    if (conf->escalate & NGX_HTTP_TIER_ROUTER_FB_OFF) {
        conf->escalate = NGX_CONF_BITMASK_SET|NGX_HTTP_TIER_ROUTER_FB_OFF;
    }

    ngx_conf_merge_size_value(conf->escalate_buffer, prev->escalate_buffer,
                              64 * 1024);

    if (ngx_http_tier_router_budget_soft_merge(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->file.data == NULL) {
        conf->file = prev->file;
        conf->line = prev->line;
    }

    if (conf->auto_models == NGX_CONF_UNSET_PTR) {

        if (prev->auto_models == NGX_CONF_UNSET_PTR) {
            prev->auto_models = ngx_array_create(cf->pool, 1,
                                                 sizeof(ngx_str_t));
            if (prev->auto_models == NULL) {
                return NGX_CONF_ERROR;
            }

            name = ngx_array_push(prev->auto_models);
            if (name == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_str_set(name, "auto");
        }

        conf->auto_models = prev->auto_models;
    }

    if (conf->no_signal_tier.data == NULL) {
        conf->no_signal_tier = prev->no_signal_tier;
        conf->no_signal_file = prev->no_signal_file;
        conf->no_signal_line = prev->no_signal_line;
    }

    conf->no_signal_index = -1;

    if (conf->no_signal_tier.len) {
        conf->no_signal_index = ngx_http_tier_router_find_tier(trmcf,
                                                  conf->no_signal_tier.data,
                                                  conf->no_signal_tier.len);

        if (conf->no_signal_index == NGX_ERROR) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"tier_router_no_signal_tier\": no tier \"%V\" "
                          "is defined in %V:%ui", &conf->no_signal_tier,
                          &conf->no_signal_file, conf->no_signal_line);
            return NGX_CONF_ERROR;
        }
    }

    if (conf->enable && trmcf->tiers.nelts == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"tier_router\" is on but no \"tier_router_tier\" "
                      "is defined in %V:%ui", &conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* tier_router_tier NAME model=M upstream=U [max_score=F] [reasoning=E] */

static char *
ngx_http_tier_router_tier(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tier_router_main_conf_t *trmcf = conf;

    u_char                       *p, *last;
    ngx_str_t                    *value, v;
    ngx_int_t                     n;
    ngx_uint_t                    i;
    ngx_http_tier_router_tier_t  *tier;

    value = cf->args->elts;

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9')
              || *p == '_' || *p == '-' || *p == '.'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"tier_router_tier\": invalid name \"%V\", "
                               "use letters, "
                               "digits, \"_\", \"-\" and \".\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    /* budget zones keep each tier's counters under its name */

    if (value[1].len == 0
        || value[1].len >= NGX_HTTP_TIER_ROUTER_TIER_NAME)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_tier\": the name \"%V\" must have "
                           "1 to %d characters", &value[1],
                           NGX_HTTP_TIER_ROUTER_TIER_NAME - 1);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tier_router_find_tier(trmcf, value[1].data, value[1].len)
        != NGX_ERROR)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_tier\": duplicate tier \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    tier = ngx_array_push(&trmcf->tiers);
    if (tier == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(tier, sizeof(ngx_http_tier_router_tier_t));

    tier->name = value[1];
    tier->thinking_budget = 8192;
    tier->share = -1;
    tier->file = cf->conf_file->file.name;
    tier->line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "model=", 6) == 0) {
            tier->model.data = value[i].data + 6;
            tier->model.len = value[i].len - 6;

            last = tier->model.data + tier->model.len;

            for (p = tier->model.data; p < last; p++) {
                if (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) {
                    goto invalid;
                }
            }

            if (tier->model.len == 0
                || tier->model.len >= TR_MODEL_LEN)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "upstream=", 9) == 0) {
            tier->upstream.data = value[i].data + 9;
            tier->upstream.len = value[i].len - 9;

            if (tier->upstream.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_score=", 10) == 0) {
            v.data = value[i].data + 10;
            v.len = value[i].len - 10;

            n = ngx_atofp(v.data, v.len, 3);

            if (n == NGX_ERROR || n > 1000) {
                goto invalid;
            }

            tier->max_score = (double) n / 1000;
            tier->max_score_set = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "reasoning=", 10) == 0) {
            v.data = value[i].data + 10;
            v.len = value[i].len - 10;

            if (v.len == 3 && ngx_strncmp(v.data, "low", 3) == 0) {
                tier->reasoning = 1;

            } else if (v.len == 6 && ngx_strncmp(v.data, "medium", 6) == 0) {
                tier->reasoning = 2;

            } else if (v.len == 4 && ngx_strncmp(v.data, "high", 4) == 0) {
                tier->reasoning = 3;

            } else {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "share=", 6) == 0) {
            v.data = value[i].data + 6;
            v.len = value[i].len - 6;

            if (v.len && v.data[v.len - 1] == '%') {
                v.len--;
            }

            n = ngx_atofp(v.data, v.len, 2);

            if (n == NGX_ERROR || n > 10000) {
                goto invalid;
            }

            tier->share = (double) n / 10000;
            continue;
        }

        if (ngx_strncmp(value[i].data, "thinking_budget=", 16) == 0) {
            n = ngx_atoi(value[i].data + 16, value[i].len - 16);

            if (n == NGX_ERROR || n < 1024) {
                goto invalid;
            }

            tier->thinking_budget = n;
            continue;
        }

        goto invalid;
    }

    if (tier->model.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_tier\" \"%V\" has no \"model=\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (tier->upstream.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_tier\" \"%V\" has no "
                           "\"upstream=\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"tier_router_tier\": invalid parameter \"%V\"",
                       &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_tier_router_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        trlcf->file = cf->conf_file->file.name;
        trlcf->line = cf->conf_file->line;
    }

    return rv;
}


static char *
ngx_http_tier_router_override(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    ngx_str_t  *value;

    if (trlcf->override_header.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        ngx_str_set(&trlcf->override_header, "");
        return NGX_CONF_OK;
    }

    trlcf->override_header = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_tier_router_no_signal(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    ngx_str_t  *value;

    if (trlcf->no_signal_tier.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        ngx_str_set(&trlcf->no_signal_tier, "");

    } else {
        trlcf->no_signal_tier = value[1];
    }

    trlcf->no_signal_file = cf->conf_file->file.name;
    trlcf->no_signal_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* ngx_conf_set_enum_slot() with a message that names the directive */

static char *
ngx_http_tier_router_enum(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char           *p;
    size_t            len;
    ngx_str_t        *value, list;
    ngx_uint_t        i;
    ngx_conf_enum_t  *e;

    value = cf->args->elts;
    e = cmd->post;

    for (i = 0; e[i].name.len != 0; i++) {
        if (e[i].name.len == value[1].len
            && ngx_strcmp(e[i].name.data, value[1].data) == 0)
        {
            return ngx_conf_set_enum_slot(cf, cmd, conf);
        }
    }

    len = 0;

    for (i = 0; e[i].name.len != 0; i++) {
        len += e[i].name.len + sizeof(", \"\"") - 1;
    }

    p = ngx_pnalloc(cf->temp_pool, len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    list.data = p;

    for (i = 0; e[i].name.len != 0; i++) {
        p = ngx_sprintf(p, "%s\"%V\"", i ? ", " : "", &e[i].name);
    }

    list.len = p - list.data;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\": invalid value \"%V\", it must be %V",
                       &cmd->name, &value[1], &list);

    return NGX_CONF_ERROR;
}


/* ngx_conf_set_bitmask_slot() with a message that names the directive */

static char *
ngx_http_tier_router_bitmask(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t           *value;
    ngx_uint_t           i, m;
    ngx_conf_bitmask_t  *mask;

    value = cf->args->elts;
    mask = cmd->post;

    for (i = 1; i < cf->args->nelts; i++) {

        for (m = 0; mask[m].name.len; m++) {
            if (mask[m].name.len == value[i].len
                && ngx_strcmp(mask[m].name.data, value[i].data) == 0)
            {
                break;
            }
        }

        if (mask[m].name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": invalid value \"%V\"",
                               &cmd->name, &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return ngx_conf_set_bitmask_slot(cf, cmd, conf);
}


/* tier_router_attempts N, 1 .. NGX_HTTP_TIER_ROUTER_MAX_ATTEMPTS */

static char *
ngx_http_tier_router_attempts(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (trlcf->attempts != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    n = ngx_atoi(value[1].data, value[1].len);

    if (n < 1 || n > NGX_HTTP_TIER_ROUTER_MAX_ATTEMPTS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid value \"%V\", it must be a "
                           "number from 1 to %d", &cmd->name, &value[1],
                           NGX_HTTP_TIER_ROUTER_MAX_ATTEMPTS);
        return NGX_CONF_ERROR;
    }

    trlcf->attempts = (ngx_uint_t) n;

    return NGX_CONF_OK;
}


/* tier_router_auto_model NAME ...; every name routes, none pins */

static char *
ngx_http_tier_router_auto_model(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    u_char      *p;
    ngx_str_t   *value, *name;
    ngx_uint_t   i;

    /* several directives on one level add to one list */

    if (trlcf->auto_models == NGX_CONF_UNSET_PTR) {
        trlcf->auto_models = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (trlcf->auto_models == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0
            || value[i].len >= TR_MODEL_LEN)
        {
            goto invalid;
        }

        for (p = value[i].data; p < value[i].data + value[i].len; p++) {
            if (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) {
                goto invalid;
            }
        }

        name = ngx_array_push(trlcf->auto_models);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\": invalid model name \"%V\"",
                       &cmd->name, &value[i]);

    return NGX_CONF_ERROR;
}


/* tier_router_model FILE: the learned scorer's weights, read once here */

static char *
ngx_http_tier_router_model_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_main_conf_t *trmcf = conf;

    char         err[512];
    u_char      *buf;
    size_t       size;
    ngx_err_t    e;
    ngx_int_t    rc;
    ngx_str_t   *value, name;
    const char  *why;

    if (trmcf->model) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    trmcf->model = ngx_palloc(cf->pool,
                              sizeof(tr_model_t));
    if (trmcf->model == NULL) {
        return NGX_CONF_ERROR;
    }

    rc = ngx_http_tier_router_read_whole(&name, 16 * 1024 * 1024, 0,
                                         cf->log, &buf, &size, &e, &why);

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, e,
                           "model: " ngx_open_file_n " \"%V\" failed",
                           &name);
        return NGX_CONF_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "model \"%V\": %s",
                           &name, why);
        return NGX_CONF_ERROR;
    }

    rc = tr_model_load((char *) buf, size, trmcf->model,
                       err, sizeof(err));
    ngx_free(buf);

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "model \"%V\": %s",
                           &name, err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A whole regular file in memory from ngx_alloc() (the caller frees it),
 * at configuration time, through no symbolic link if nofollow: NGX_OK;
 * NGX_DECLINED if it cannot be opened (*e: the errno); NGX_ERROR (the
 * file is bad) or NGX_ABORT (no memory) with the reason in *why.
 */

ngx_int_t
ngx_http_tier_router_read_whole(ngx_str_t *path, size_t max,
    ngx_uint_t nofollow, ngx_log_t *log, u_char **buf, size_t *len,
    ngx_err_t *e, const char **why)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    /* non-blocking: a FIFO must not hang the start */

    fd = ngx_open_file(path->data,
                       NGX_FILE_RDONLY|NGX_FILE_NONBLOCK
                       |(nofollow ? O_NOFOLLOW : 0),
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        *e = ngx_errno;
        return NGX_DECLINED;
    }

    *buf = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        *why = "unreadable";
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        *why = "not a regular file";
        goto failed;
    }

    if (ngx_file_size(&fi) > (off_t) max) {
        *why = "too large";
        goto failed;
    }

    *len = (size_t) ngx_file_size(&fi);

    *buf = ngx_alloc(*len + 1, log);
    if (*buf == NULL) {
        *why = "no memory to read it";
        ngx_close_file(fd);
        return NGX_ABORT;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *path;
    file.log = log;

    n = ngx_read_file(&file, *buf, *len, 0);

    if (n != (ssize_t) *len) {
        *why = "short read";
        ngx_free(*buf);
        *buf = NULL;
        goto failed;
    }

    ngx_close_file(fd);

    return NGX_OK;

failed:

    ngx_close_file(fd);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_tier_router_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_tier_router_add_variables(cf);
}


static ngx_int_t
ngx_http_tier_router_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_tier_router_handler;

    /* below the others: attempts pass, or not, what they have seen */

    if (ngx_http_tier_router_attempt_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_tier_router_header_filter;

    if (ngx_http_tier_router_account_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the classifier's word index, built once and inherited by workers */

    tr_classify_init();

    return NGX_OK;
}
