
/*
 * Copyright (C) The tier router authors
 *
 * The $tier_router_* variables: what the router decided, for proxy_pass
 * and for access logs.
 */


#include "ngx_http_tier_router_module.h"


#define NGX_HTTP_TIER_ROUTER_VAR_TIER       0
#define NGX_HTTP_TIER_ROUTER_VAR_UPSTREAM   1
#define NGX_HTTP_TIER_ROUTER_VAR_MODEL      2
#define NGX_HTTP_TIER_ROUTER_VAR_SCORE      3
#define NGX_HTTP_TIER_ROUTER_VAR_REASON     4
#define NGX_HTTP_TIER_ROUTER_VAR_DIALECT    5
#define NGX_HTTP_TIER_ROUTER_VAR_REQUESTED  6


static ngx_int_t ngx_http_tier_router_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


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

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_tier_router_module);

    if (ctx == NULL || (!ctx->routed
                        && data != NGX_HTTP_TIER_ROUTER_VAR_DIALECT
                        && data != NGX_HTTP_TIER_ROUTER_VAR_REQUESTED))
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
        s = &ctx->reason;
        break;

    case NGX_HTTP_TIER_ROUTER_VAR_REQUESTED:
        s = &ctx->requested_model;
        break;

    case NGX_HTTP_TIER_ROUTER_VAR_DIALECT:
        if (ctx->dialect == NGX_HTTP_TIER_ROUTER_AUTO) {
            v->not_found = 1;
            return NGX_OK;
        }

        name = ngx_http_tier_router_dialect_name(ctx->dialect);

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

        v->len = ngx_sprintf(p, "%.3f", ctx->score) - p;
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
