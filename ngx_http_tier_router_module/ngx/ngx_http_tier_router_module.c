
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
#include "ngx_http_tier_router_account.h"
#include "ngx_http_tier_router_alert.h"
#include "ngx_http_tier_router_attempt.h"
#include "ngx_http_tier_router_balance.h"
#include "ngx_http_tier_router_body.h"
#include "ngx_http_tier_router_budget.h"
#include "ngx_http_tier_router_catalog.h"
#include "ngx_http_tier_router_cost_header.h"
#include "ngx_http_tier_router_handler.h"
#include "ngx_http_tier_router_ladder.h"
#include "ngx_http_tier_router_ledger.h"
#include "ngx_http_tier_router_session.h"
#include "ngx_http_tier_router_shares.h"
#include "ngx_http_tier_router_status.h"
#include "ngx_http_tier_router_usage_filter.h"
#include "ngx_http_tier_router_util.h"
#include "ngx_http_tier_router_variables.h"

#include "tr_classify.h"
#include "tr_dialect.h"
#include "tr_extract.h"
#include "tr_model.h"


static ngx_int_t ngx_http_tier_router_header_filter(ngx_http_request_t *r);

static void *ngx_http_tier_router_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_tier_router_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_tier_router_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_tier_router_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
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
static ngx_int_t ngx_http_tier_router_init_process(ngx_cycle_t *cycle);
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


static ngx_conf_enum_t  ngx_http_tier_router_backgrounds[] = {
    { ngx_string("refuse"), NGX_HTTP_TIER_ROUTER_BACKGROUND_REFUSE },
    { ngx_string("worst"), NGX_HTTP_TIER_ROUTER_BACKGROUND_WORST },
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

    { ngx_string("tier_router_ladder"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE12,
      ngx_http_tier_router_ladder,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_session_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tier_router_session_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_session"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tier_router_session,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_use"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_tier_router_use,
      NGX_HTTP_LOC_CONF_OFFSET,
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

    { ngx_string("tier_router_budget_alert"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_tier_router_budget_alert,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_budget_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_tier_router_budget_redis,
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

    { ngx_string("tier_router_report_cost"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, report_cost),
      NULL },

    { ngx_string("tier_router_cost_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_tier_router_cost_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_shadow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, shadow),
      NULL },

    { ngx_string("tier_router_baseline"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, baseline),
      NULL },

    { ngx_string("tier_router_balance"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tier_router_balance,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tier_router_budget_background"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tier_router_loc_conf_t, budget_background),
      &ngx_http_tier_router_backgrounds },

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

    { ngx_string("tier_router_escalate_weights"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tier_router_escalate_weights,
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
    ngx_http_tier_router_init_process,      /* init process */
    NULL,                                   /* init thread */
    NULL,                                   /* exit thread */
    ngx_http_tier_router_exit_process,      /* exit process */
    ngx_http_tier_router_budget_exit,       /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


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

    if (ctx == NULL || !ctx->rq->routed) {
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
    score.len = ngx_http_tier_router_score_text(p, ctx->rq->score) - p;

    if (ngx_http_tier_router_add_header(r, "X-Tier-Router-Tier",
                                        &tier[ctx->tier].name)
        != NGX_OK
        || ngx_http_tier_router_add_header(r, "X-Tier-Router-Score", &score)
           != NGX_OK
        || ngx_http_tier_router_add_header(r, "X-Tier-Router-Reason",
                                           &ctx->rq->reason)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static void *
ngx_http_tier_router_create_main_conf(ngx_conf_t *cf)
{
    ngx_str_t                          name;
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
           != NGX_OK
        || ngx_array_init(&trmcf->ladders, cf->pool, 2,
                          sizeof(ngx_http_tier_router_ladder_t))
           != NGX_OK)
    {
        return NULL;
    }

    /* the default ladder: the http block's own tier_router_tier lines */

    ngx_str_null(&name);

    if (ngx_http_tier_router_ladder_add(cf, trmcf, &name) == NULL) {
        return NULL;
    }

    return trmcf;
}


static char *
ngx_http_tier_router_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_tier_router_main_conf_t *trmcf = conf;

    if (ngx_http_tier_router_ladders_init(cf, trmcf) != NGX_CONF_OK) {
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
    conf->session_zone = NGX_CONF_UNSET_PTR;
    conf->budget_fit = NGX_CONF_UNSET_UINT;
    conf->budget_status = NGX_CONF_UNSET_UINT;
    conf->budget_on_error = NGX_CONF_UNSET_UINT;
    conf->budget_empty_key = NGX_CONF_UNSET_UINT;
    conf->budget_max_output = NGX_CONF_UNSET_UINT;
    conf->budget_background = NGX_CONF_UNSET_UINT;
    conf->shadow = NGX_CONF_UNSET;
    conf->report_cost = NGX_CONF_UNSET;
    conf->cost_header = NGX_CONF_UNSET;
    conf->cost_header_buffer = NGX_CONF_UNSET_SIZE;
    conf->fallback_direction = NGX_CONF_UNSET_UINT;
    conf->attempts = NGX_CONF_UNSET_UINT;
    conf->escalate_buffer = NGX_CONF_UNSET_SIZE;
    conf->escalate_weights = NGX_CONF_UNSET_PTR;

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
        conf->budget_limit_value = prev->budget_limit_value;
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
    ngx_conf_merge_str_value(conf->baseline, prev->baseline, "");
    ngx_conf_merge_value(conf->shadow, prev->shadow, 0);
    ngx_conf_merge_value(conf->report_cost, prev->report_cost, 0);
    ngx_conf_merge_value(conf->cost_header, prev->cost_header, 0);
    ngx_conf_merge_size_value(conf->cost_header_buffer,
                              prev->cost_header_buffer, 256 * 1024);
    ngx_conf_merge_uint_value(conf->budget_background,
                              prev->budget_background,
                              NGX_HTTP_TIER_ROUTER_BACKGROUND_REFUSE);

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
        conf->escalate_math = prev->escalate_math;
    }

    ngx_conf_merge_ptr_value(conf->escalate_weights, prev->escalate_weights,
                             &tr_check_math_default);

    if (conf->escalate == 0) {
        conf->escalate = NGX_CONF_BITMASK_SET|NGX_HTTP_TIER_ROUTER_FB_OFF;
    }

    if (conf->escalate & NGX_HTTP_TIER_ROUTER_FB_OFF) {
        conf->escalate = NGX_CONF_BITMASK_SET|NGX_HTTP_TIER_ROUTER_FB_OFF;
    }

    ngx_conf_merge_size_value(conf->escalate_buffer, prev->escalate_buffer,
                              64 * 1024);

    if (conf->file.data == NULL) {
        conf->file = prev->file;
        conf->line = prev->line;
    }

    if (ngx_http_tier_router_ladder_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /* a baseline is one of the tiers the location routes to */

    if (conf->enable && conf->baseline.len
        && ngx_http_tier_router_find_tier(
               ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_tier_router_module),
               conf->ladder, conf->baseline.data, conf->baseline.len)
           < 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_baseline\": no tier \"%V\" in "
                           "the ladder this location routes with",
                           &conf->baseline);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tier_router_budget_soft_merge(cf, conf) != NGX_CONF_OK
        || ngx_http_tier_router_session_merge(cf, prev, conf) != NGX_CONF_OK
        || ngx_http_tier_router_balance_merge(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
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
                                                  conf->ladder,
                                                  conf->no_signal_tier.data,
                                                  conf->no_signal_tier.len);

        if (conf->no_signal_index == NGX_ERROR) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"tier_router_no_signal_tier\": no tier \"%V\" "
                          "is defined in the location's ladder in %V:%ui",
                          &conf->no_signal_tier, &conf->no_signal_file,
                          conf->no_signal_line);
            return NGX_CONF_ERROR;
        }
    }

    if (conf->enable && conf->ladder->n == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"tier_router\" is on but no \"tier_router_tier\" "
                      "is defined in %V:%ui", &conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
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
    ngx_int_t    rc;
    ngx_str_t   *value, name;

    if (trmcf->model) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    trmcf->model = ngx_palloc(cf->pool,
                              sizeof(tr_model_t));
    if (trmcf->model == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tier_router_conf_file(cf, &name, 16 * 1024 * 1024, "model",
                                       &buf, &size)
        != NGX_OK)
    {
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

    /*
     * The filters, in the order a response meets them (the last pushed
     * runs first): the accounting filters read the usage of what the
     * upstream sent (account.c), the routing headers are added
     * (below), and the attempts' filters, nearest the output, pass on or
     * hold what each attempt answered (attempt.c).  Between the first
     * two, an answer waits for its cost header (cost_header.c).  The log phase
     * handler that settles spend runs first of the log phase.
     */

    if (ngx_http_tier_router_attempt_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_tier_router_header_filter;

    if (ngx_http_tier_router_cost_header_init(cf) != NGX_OK
        || ngx_http_tier_router_usage_filter_init(cf) != NGX_OK
        || ngx_http_tier_router_account_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the classifier's word index, built once and inherited by workers */

    tr_classify_init();

    return NGX_OK;
}


/* a worker's start: the state file's saver, Redis, the alerts' sender */

static ngx_int_t
ngx_http_tier_router_init_process(ngx_cycle_t *cycle)
{
    if (ngx_http_tier_router_budget_init_process(cycle) != NGX_OK
        || ngx_http_tier_router_ledger_init_process(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_tier_router_alert_init_process(cycle);
}


/* a worker's end: alerts in flight back to the queue, buffers freed */

static void
ngx_http_tier_router_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_tier_router_alert_exit_process(cycle);
    ngx_http_tier_router_ledger_exit_process(cycle);
    ngx_http_tier_router_body_exit(cycle);
}
