
/*
 * Copyright (C) The tier router authors
 */


#ifndef _NGX_HTTP_TIER_ROUTER_MODULE_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_extract.h"
#include "ngx_http_tier_router_classify.h"
#include "ngx_http_tier_router_rewrite.h"


#define NGX_HTTP_TIER_ROUTER_ROUTE   0
#define NGX_HTTP_TIER_ROUTER_REJECT  1

/* at most this much of a client's own words in an error message */
#define NGX_HTTP_TIER_ROUTER_DETAIL_LEN  256


typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    model;
    ngx_str_t                    upstream;
    double                       max_score;
    ngx_uint_t                   reasoning;
    ngx_int_t                    thinking_budget;
    ngx_str_t                    file;
    ngx_uint_t                   line;
    unsigned                     max_score_set:1;
} ngx_http_tier_router_tier_t;


typedef struct {
    ngx_array_t                  tiers;     /* ngx_http_tier_router_tier_t */
} ngx_http_tier_router_main_conf_t;


typedef struct {
    ngx_flag_t                   enable;
    ngx_uint_t                   dialect;
    ngx_array_t                 *auto_models;       /* ngx_str_t */
    ngx_flag_t                   pin;
    ngx_uint_t                   unknown_model;
    ngx_http_complex_value_t    *max_tier;
    ngx_http_complex_value_t    *min_tier;
    ngx_str_t                    override_header;   /* lowercased */
    ngx_flag_t                   headers;
    size_t                       max_body_size;
    ngx_str_t                    no_signal_tier;
    ngx_int_t                    no_signal_index;

    ngx_str_t                    file;              /* where "tier_router" */
    ngx_uint_t                   line;              /* was switched on */
    ngx_str_t                    no_signal_file;
    ngx_uint_t                   no_signal_line;
} ngx_http_tier_router_loc_conf_t;


typedef struct {
    ngx_int_t                    status;    /* NGX_DONE, NGX_DECLINED */
    ngx_uint_t                   tier;
    ngx_int_t                    dialect;
    double                       score;
    ngx_str_t                    reason;
    ngx_str_t                    requested_model;

    ngx_uint_t                   error_status;
    const char                  *error;
    ngx_str_t                    error_detail;
    const char                  *error_param;

    unsigned                     routed:1;
} ngx_http_tier_router_ctx_t;


ngx_int_t ngx_http_tier_router_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_tier_router_send_error(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);


extern ngx_module_t  ngx_http_tier_router_module;


#endif /* _NGX_HTTP_TIER_ROUTER_MODULE_H_INCLUDED_ */
