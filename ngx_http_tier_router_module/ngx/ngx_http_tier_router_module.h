
/*
 * Copyright (C) The tier router authors
 */


#ifndef _NGX_HTTP_TIER_ROUTER_MODULE_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "tr_extract.h"
#include "tr_admit.h"
#include "tr_judge.h"
#include "tr_classify.h"
#include "tr_rewrite.h"
#include "tr_usage.h"
#include "tr_price.h"
#include "tr_hash.h"
#include "ngx_http_tier_router_budget.h"
#include "tr_calibrate.h"
#include "tr_model.h"


#define NGX_HTTP_TIER_ROUTER_ROUTE   0
#define NGX_HTTP_TIER_ROUTER_REJECT  1

/* at most this much of a client's own words in an error message */
#define NGX_HTTP_TIER_ROUTER_DETAIL_LEN  256

#define NGX_HTTP_TIER_ROUTER_FIT_DOWNGRADE  0
#define NGX_HTTP_TIER_ROUTER_FIT_REJECT     1

#define NGX_HTTP_TIER_ROUTER_FAIL_CLOSED    0
#define NGX_HTTP_TIER_ROUTER_FAIL_OPEN      1

#define NGX_HTTP_TIER_ROUTER_EMPTY_REFUSE   0
#define NGX_HTTP_TIER_ROUTER_EMPTY_ALLOW    1

/* tier_router_fallback: what sends a request on to the next tier */
#define NGX_HTTP_TIER_ROUTER_FB_ERROR       0x0002
#define NGX_HTTP_TIER_ROUTER_FB_TIMEOUT     0x0004
#define NGX_HTTP_TIER_ROUTER_FB_429         0x0008
#define NGX_HTTP_TIER_ROUTER_FB_500         0x0010
#define NGX_HTTP_TIER_ROUTER_FB_502         0x0020
#define NGX_HTTP_TIER_ROUTER_FB_503         0x0040
#define NGX_HTTP_TIER_ROUTER_FB_504         0x0080
#define NGX_HTTP_TIER_ROUTER_FB_OFF         0x0100
#define NGX_HTTP_TIER_ROUTER_FB_ANY         0x00fe

#define NGX_HTTP_TIER_ROUTER_UP             0
#define NGX_HTTP_TIER_ROUTER_DOWN           1

/* tier_router_escalate: what makes an answer not good enough */
#define NGX_HTTP_TIER_ROUTER_ESC_LENGTH     0x0002
#define NGX_HTTP_TIER_ROUTER_ESC_EMPTY      0x0004
#define NGX_HTTP_TIER_ROUTER_ESC_REFUSAL    0x0008
#define NGX_HTTP_TIER_ROUTER_ESC_JSON       0x0010
#define NGX_HTTP_TIER_ROUTER_ESC_LOGPROB    0x0020

/* attempts of one request, the first included */
#define NGX_HTTP_TIER_ROUTER_MAX_ATTEMPTS   4


typedef struct {
    ngx_str_t  name;
    ngx_str_t  model;
    ngx_str_t  upstream;
    double     max_score;
    ngx_uint_t reasoning;
    ngx_int_t  thinking_budget;
    ngx_str_t  file;
    ngx_uint_t line;
    tr_price_t price;
    double     share;     /* target, 0..1; -1: none */
    unsigned   max_score_set:1;
    unsigned   priced:1;
} ngx_http_tier_router_tier_t;


typedef struct {
    ngx_str_t  model;
    tr_price_t price;
} ngx_http_tier_router_model_price_t;


typedef struct {
    ngx_str_t         name;
    ngx_shm_zone_t   *shm_zone;
    ngx_slab_pool_t  *shpool;
    tr_cal_t         *cal;
    ngx_uint_t        window;
    double            step;
    ngx_array_t      *tiers;
} ngx_http_tier_router_shares_t;


typedef struct {
    ngx_array_t                  tiers;     /* ngx_http_tier_router_tier_t */
    ngx_http_tier_router_shares_t  *shares;
    tr_model_t                     *model;
    ngx_array_t                  zones;     /* ngx_http_tier_router_zone_t * */
    ngx_array_t                  prices;    /* .._model_price_t, directives */
    tr_price_t                  *tier_prices;       /* each tier's */
    ngx_array_t                  catalog;   /* .._model_price_t, catalogs */
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

    ngx_http_tier_router_zone_t *budget_zone;
    ngx_http_complex_value_t    *budget_key;
    ngx_http_complex_value_t    *budget_limit;
    ngx_http_complex_value_t    *budget_label;
    ngx_http_complex_value_t    *budget_clock;      /* tests only */
    ngx_array_t                 *budget_soft;       /* .._soft_t */
    tr_soft_t                   *budget_rules;      /* ... for tr_admit */
    ngx_uint_t                   budget_fit;
    ngx_uint_t                   budget_status;
    ngx_uint_t                   budget_on_error;
    ngx_uint_t                   budget_empty_key;
    ngx_str_t                    passthrough;       /* empty: tier 0's */
    ngx_uint_t                   budget_max_output;
    ngx_http_tier_router_zone_t *status_zone;

    ngx_uint_t                   fallback;          /* .._FB_* bits */
    ngx_uint_t                   fallback_direction;
    ngx_uint_t                   attempts;
    ngx_uint_t                   escalate;          /* .._ESC_* bits */
    double                       escalate_logprob;  /* mean below: low */
    size_t                       escalate_buffer;
    ngx_http_tier_router_shares_t  *status_shares;

    ngx_str_t                    file;              /* where "tier_router" */
    ngx_uint_t                   line;              /* was switched on */
    ngx_str_t                    no_signal_file;
    ngx_uint_t                   no_signal_line;
} ngx_http_tier_router_loc_conf_t;


typedef struct ngx_http_tier_router_ctx_s  ngx_http_tier_router_ctx_t;


/* one attempt, as the access log shows it */

typedef struct {
    ngx_uint_t                   tier;
    ngx_uint_t                   status;
    int64_t                      cost;
    const char                  *why;               /* escalated: signal */
} ngx_http_tier_router_try_t;


/*
 * What one run of a request owns: the main request's, or an attempt's (a
 * subrequest's context, see attempt.c).  An attempt starts with it
 * zeroed; everything else in the context it copies from the main
 * request's.
 */

typedef struct {
    int64_t                      reserved;
    int64_t                      cost;
    tr_usage_parser_t           *usage;
    tr_usage_t                   counts;            /* what was charged */
    ngx_buf_t                   *hold;              /* a partial event */
    ngx_chain_t                 *free;
    ngx_chain_t                 *busy;

    unsigned                     accounted:1;       /* reserved: settle */
    unsigned                     settled:1;
    unsigned                     estimated:1;
    unsigned                     strip:1;           /* drop its chunk */
    unsigned                     opaque:1;          /* encoded response */

    /* an attempt's answer */
    ngx_uint_t                   answered;          /* status, 0: none */
    ngx_buf_t                   *held;              /* under inspection */
    const char                  *why;               /* escalated: signal */
    unsigned                     closed:1;          /* settled, counted */
    unsigned                     discard:1;         /* a failure passed on */
    unsigned                     commit:1;          /* the client's answer */
    unsigned                     escalated:1;       /* not good enough */
} ngx_http_tier_router_run_t;


struct ngx_http_tier_router_ctx_s {
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
    const char                  *error_type;        /* NULL: by status */
    const char                  *error_code;
    time_t                       retry_after;       /* seconds; 0: none */
    unsigned                     retryable:1;       /* x-should-retry */

    /* spend accounting: the request's */
    ngx_http_request_t          *request;
    ngx_http_tier_router_zone_t *zone;
    u_char                       hash[TR_HASH_LEN];
    int64_t                      limit;             /* -1: none */
    int64_t                      spent;             /* after settling */
    int64_t                      input_estimate;    /* tokens */
    int64_t                      output_max;        /* tokens */
    time_t                       now;               /* admission's clock */
    ngx_uint_t                   floor;             /* lowest tier allowed */

    unsigned                     routed:1;
    unsigned                     stream_usage:1;    /* we asked for it */
    unsigned                     passthrough:1;     /* the held event */
    unsigned                     metered:1;         /* unrouted, charged */

    /* attempts across tiers: the main request's side */
    ngx_int_t                    cap;               /* highest; -1: none */
    unsigned                     stream:1;          /* the client's ask */
    unsigned                     json_output:1;     /* response_format */
    ngx_chain_t                 *body;              /* the client's body */
    ngx_http_tier_router_ctx_t  *attempt;           /* running or last */
    ngx_http_tier_router_ctx_t  *pending;           /* the next, reserved */
    ngx_uint_t                   ntries;
    ngx_http_tier_router_try_t   tries[NGX_HTTP_TIER_ROUTER_MAX_ATTEMPTS];

    /* an attempt's side (a subrequest's context) */
    ngx_http_tier_router_ctx_t  *parent;            /* the main request's */
    ngx_http_request_t          *sr;
    ngx_uint_t                   nth;               /* in tries[] */
    unsigned                     complete:1;        /* and all of it came */
    unsigned                     logprobs:1;        /* we asked for them */

    ngx_http_tier_router_run_t   run;
};


ngx_int_t ngx_http_tier_router_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_tier_router_send_error(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
ngx_int_t ngx_http_tier_router_add_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value);
ngx_table_elt_t *ngx_http_tier_router_next_header(ngx_list_part_t **part,
    ngx_uint_t *i, ngx_str_t *name);

ngx_int_t ngx_http_tier_router_admit(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, tr_request_t *req,
    size_t body_len);
ngx_int_t ngx_http_tier_router_meter(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
ngx_int_t ngx_http_tier_router_account_init(ngx_conf_t *cf);
ngx_int_t ngx_http_tier_router_usage_filter_init(ngx_conf_t *cf);
char *ngx_http_tier_router_budget(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_budget_soft(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_budget_soft_merge(ngx_conf_t *cf,
    ngx_http_tier_router_loc_conf_t *conf);
char *ngx_http_tier_router_budget_clock(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
time_t ngx_http_tier_router_clock(ngx_http_request_t *r);
ngx_str_t *ngx_http_tier_router_passthrough(ngx_http_request_t *r);
char *ngx_http_tier_router_price(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_price_catalog_conf(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_tier_router_price_tiers(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf);
tr_price_t *ngx_http_tier_router_price_of(
    ngx_http_tier_router_main_conf_t *trmcf, ngx_str_t *model);
char *ngx_http_tier_router_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_shares(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tier_router_shares_check(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf);
ngx_uint_t ngx_http_tier_router_shares_route(
    ngx_http_tier_router_shares_t *shares, double score);
ngx_buf_t *ngx_http_tier_router_shares_status(ngx_http_request_t *r,
    ngx_http_tier_router_shares_t *shares, ngx_uint_t prometheus);
ngx_int_t ngx_http_tier_router_read_whole(ngx_str_t *path, size_t max,
    ngx_uint_t nofollow, ngx_log_t *log, u_char **buf, size_t *len,
    ngx_err_t *e, const char **why);
ngx_buf_t *ngx_http_tier_router_json_buf(ngx_http_request_t *r,
    void *json);
ngx_int_t ngx_http_tier_router_find_tier(
    ngx_http_tier_router_main_conf_t *trmcf, u_char *name, size_t len);
ngx_int_t ngx_http_tier_router_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_tier_router_append_reason(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, const char *reason);

ngx_int_t ngx_http_tier_router_account_again(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
void ngx_http_tier_router_account_hand_over(ngx_http_request_t *sr,
    ngx_http_tier_router_ctx_t *ctx, ngx_http_tier_router_ctx_t *actx);
void ngx_http_tier_router_account_close(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
ngx_int_t ngx_http_tier_router_retarget(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_tier_router_ctx_t *actx,
    ngx_uint_t logprobs);

/* the request path (handler.c) and the request body (body.c) */

ngx_int_t ngx_http_tier_router_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_tier_router_body(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body);
ngx_int_t ngx_http_tier_router_replace(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body, tr_request_t *req,
    ngx_http_tier_router_tier_t *tier, ngx_uint_t logprobs);
void ngx_http_tier_router_exit_process(ngx_cycle_t *cycle);

extern tr_request_t  ngx_http_tier_router_req;
ngx_int_t ngx_http_tier_router_attempt_first(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
ngx_int_t ngx_http_tier_router_attempt_wake(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx);
ngx_int_t ngx_http_tier_router_attempt_init(ngx_conf_t *cf);

ngx_uint_t ngx_http_tier_router_attempt_logprobs(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_uint_t tier, ngx_uint_t nth);
char *ngx_http_tier_router_escalate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

extern ngx_conf_bitmask_t  ngx_http_tier_router_fallback_masks[];


extern ngx_module_t  ngx_http_tier_router_module;


#endif /* _NGX_HTTP_TIER_ROUTER_MODULE_H_INCLUDED_ */
