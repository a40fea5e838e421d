
/*
 * Copyright (C) The tier router authors
 *
 * The types the glue shares, and nothing else: the configuration,
 * the budget zone and its tenants, the per-request context.  Each
 * file's functions are declared in its own header.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_TYPES_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_TYPES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "tr_admit.h"
#include "tr_calibrate.h"
#include "tr_check.h"
#include "tr_hash.h"
#include "tr_model.h"
#include "tr_price.h"
#include "tr_usage.h"


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

/* tier_router_budget_background */
#define NGX_HTTP_TIER_ROUTER_BACKGROUND_REFUSE   0
#define NGX_HTTP_TIER_ROUTER_BACKGROUND_WORST    1

/* tier_router_fallback: what sends a request on to the next tier */
#define NGX_HTTP_TIER_ROUTER_FB_ERROR       0x0002
#define NGX_HTTP_TIER_ROUTER_FB_TIMEOUT     0x0004
#define NGX_HTTP_TIER_ROUTER_FB_429         0x0008
#define NGX_HTTP_TIER_ROUTER_FB_500         0x0010
#define NGX_HTTP_TIER_ROUTER_FB_502         0x0020
#define NGX_HTTP_TIER_ROUTER_FB_503         0x0040
#define NGX_HTTP_TIER_ROUTER_FB_504         0x0080
#define NGX_HTTP_TIER_ROUTER_FB_OFF         0x0100
#define NGX_HTTP_TIER_ROUTER_FB_404         0x0200  /* a model retired */
#define NGX_HTTP_TIER_ROUTER_FB_STREAM      0x0400  /* an error event */
#define NGX_HTTP_TIER_ROUTER_FB_ANY         0x00fe

#define NGX_HTTP_TIER_ROUTER_UP             0
#define NGX_HTTP_TIER_ROUTER_DOWN           1

/* tier_router_escalate: what makes an answer not good enough */
#define NGX_HTTP_TIER_ROUTER_ESC_LENGTH     0x0002
#define NGX_HTTP_TIER_ROUTER_ESC_EMPTY      0x0004
#define NGX_HTTP_TIER_ROUTER_ESC_REFUSAL    0x0008
#define NGX_HTTP_TIER_ROUTER_ESC_JSON       0x0010
#define NGX_HTTP_TIER_ROUTER_ESC_LOGPROB    0x0020
#define NGX_HTTP_TIER_ROUTER_ESC_MATH       0x0040

/* attempts of one request, the first included */
#define NGX_HTTP_TIER_ROUTER_MAX_ATTEMPTS   4


#define NGX_HTTP_TIER_ROUTER_MAX_TIERS     16
#define NGX_HTTP_TIER_ROUTER_LABEL_LEN     48
#define NGX_HTTP_TIER_ROUTER_TIER_NAME     32
#define NGX_HTTP_TIER_ROUTER_SAVE_ERROR    96

/* saturating: see TR_AMOUNT_MAX */

#define ngx_http_tier_router_add(a, b)                                       \
    ((a) = tr_amount_add((a), (b)))

#define ngx_http_tier_router_inc32(a)                                        \
    ((a) += ((a) < 0xffffffff))


/* tier_router_budget_alert: at most this many thresholds */
#define NGX_HTTP_TIER_ROUTER_ALERT_AT      8

#define NGX_HTTP_TIER_ROUTER_ALERT_FREE     0
#define NGX_HTTP_TIER_ROUTER_ALERT_PENDING  1
#define NGX_HTTP_TIER_ROUTER_ALERT_SENDING  2


/*
 * A threshold alert waiting for its webhook, in the zone's queue: any
 * worker sends it; one that is sending holds it until "next" (its lease),
 * so the alert of a worker that died is sent by another.
 */

typedef struct {
    u_char                       state;
    u_char                       percent;
    u_char                       label_len;
    u_char                       attempts;
    uint32_t                     seq;            /* tells a reused slot */
    u_char                       hash[TR_HASH_LEN];
    u_char                       label[NGX_HTTP_TIER_ROUTER_LABEL_LEN];
    int64_t                      spent;
    int64_t                      limit;
    time_t                       period_start;
    time_t                       at;             /* crossed, by the clock
                                                    of the request */
    int64_t                      next;           /* ms since the epoch */
} ngx_http_tier_router_alert_t;


/* tier_router_budget_redis */

#define NGX_HTTP_TIER_ROUTER_LEDGER_SERVERS  4

typedef struct {
    u_char                       host[NGX_SOCKADDR_STRLEN];   /* an IP */
    int                          port;
} ngx_http_tier_router_redis_server_t;

typedef struct {
    ngx_uint_t                   nservers;
    ngx_http_tier_router_redis_server_t
                                 servers[NGX_HTTP_TIER_ROUTER_LEDGER_SERVERS];
    ngx_msec_t                   timeout;
    ngx_msec_t                   sync;
    ngx_msec_t                   ttl;            /* a node's leases */
    ngx_uint_t                   lease;          /* hundredths of a percent
                                                    of the limit */
    int64_t                      min_lease;      /* micro-dollars */
    ngx_uint_t                   fail;           /* .._FAIL_OPEN, CLOSED */
    ngx_str_t                    prefix;
} ngx_http_tier_router_ledger_conf_t;


/* tier_router_budget_alert */

typedef struct {
    ngx_str_t                    url;            /* null-terminated */
    ngx_uint_t                   at[NGX_HTTP_TIER_ROUTER_ALERT_AT];
    ngx_uint_t                   nat;            /* ascending */
    ngx_msec_t                   timeout;
    ngx_msec_t                   backoff;
    ngx_uint_t                   retries;
    ngx_uint_t                   queue;
} ngx_http_tier_router_alert_conf_t;


/*
 * A tenant, from the rbtree node's color byte on (as limit_req's nodes):
 * 32 + 224 bytes, one 256-byte slab chunk.  Money in micro-dollars.  A
 * tenant with nothing to lose (no spend in the period, nothing reserved)
 * is also in the zone's idle queue, where eviction finds it at once.
 */

typedef struct {
    u_char                       color;
    u_char                       alerted;        /* the highest threshold
                                                    alerted in the period,
                                                    a percentage */
    u_char                       label_len;
    u_char                       idle;           /* in the idle queue */
    uint32_t                     requests;       /* in the period */
    ngx_queue_t                  queue;          /* least recently used */
    ngx_queue_t                  idle_queue;     /* the same, idle only */
    u_char                       hash[TR_HASH_LEN];
    int64_t                      spent;          /* in the period */
    int64_t                      reserved;       /* admitted, not settled */
    int64_t                      limit;          /* last seen; -1: none */
    int64_t                      total;          /* all periods */
    int64_t                      baseline;       /* in the period, at the
                                                    baseline's price */
    int64_t                      input_tokens;   /* in the period */
    int64_t                      output_tokens;  /* in the period */
    time_t                       period_start;
    time_t                       last;
    int64_t                      older;          /* spent, in the file of
                                                    an older nginx, as
                                                    last merged */
    uint32_t                     estimated;      /* in the period */
    uint32_t                     inflight;
    uint32_t                     refused;        /* in the period */
    uint32_t                     capped;         /* in the period */
    u_char                       label[NGX_HTTP_TIER_ROUTER_LABEL_LEN];

    /* with a shared ledger: this node's lease, and spend not sent yet */
    int64_t                      lease;          /* left to reserve */
    int64_t                      unsynced;       /* settled, not sent */
    int64_t                      syncing;        /* in the batch out */
} ngx_http_tier_router_tenant_t;


/*
 * A latency histogram: the count of each bucket (not cumulative; the last
 * is +Inf) and the sum, in milliseconds.  The bounds of each kind are in
 * ngx_http_tier_router_histogram.c.
 */

#define NGX_HTTP_TIER_ROUTER_BUCKETS       17    /* the most bounds, +Inf */

typedef struct {
    uint64_t                     count[NGX_HTTP_TIER_ROUTER_BUCKETS];
    uint64_t                     sum;            /* ms */
} ngx_http_tier_router_histogram_t;


typedef struct {
    u_char                       name[NGX_HTTP_TIER_ROUTER_TIER_NAME];
    uint64_t                     requests;
    uint64_t                     input_tokens;
    uint64_t                     output_tokens;
    uint64_t                     cache_read_tokens;   /* of the input */
    uint64_t                     cache_write_tokens;  /* of the input */
    uint64_t                     reasoning_tokens;    /* of the output */
    uint64_t                     estimated;
    uint64_t                     failed;         /* and fell back */
    uint64_t                     escalated;      /* answered, not enough */
    int64_t                      cost;
    int64_t                      baseline;       /* what it replaced */

    /* successful answers: streamed ones' first token, and all of them */
    ngx_http_tier_router_histogram_t  ttft;
    ngx_http_tier_router_histogram_t  duration;
} ngx_http_tier_router_tier_stat_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;
    ngx_queue_t                  idle;           /* tenants to let go */
    u_char                       hash_key[16];
    ngx_uint_t                   period;
    time_t                       period_start;   /* the zone's own */
    int64_t                      spent;          /* zone, in the period */
    int64_t                      reserved;
    int64_t                      total;
    int64_t                      baseline;       /* in the period */
    uint64_t                     tenants;
    uint64_t                     requests;
    uint64_t                     refused;
    uint64_t                     capped;
    uint64_t                     estimated;
    uint64_t                     full;
    uint64_t                     evicted;
    uint64_t                     unaccounted;    /* served, no tenant */
    uint64_t                     unsettled;      /* in flight at a stop */
    int64_t                      unsettled_cost; /* their worst cases */
    uint64_t                     generation;     /* bumped on a change */
    uint64_t                     instance;       /* this zone's, random */
    uint64_t                     parent;         /* whose file it loaded */
    uint64_t                     saves;          /* of the state file */
    uint64_t                     save_failures;
    time_t                       last_save;
    time_t                       last_failure;
    u_char                       save_error[NGX_HTTP_TIER_ROUTER_SAVE_ERROR];
    ngx_uint_t                   ntiers;
    ngx_http_tier_router_tier_stat_t  tiers[NGX_HTTP_TIER_ROUTER_MAX_TIERS];
    ngx_http_tier_router_alert_t *alerts;        /* the webhook queue, or
                                                    NULL until the first */
    ngx_uint_t                   nalerts;
    ngx_uint_t                   alerts_pending; /* queued, not ended */
    uint32_t                     alert_seq;
    uint64_t                     alerts_queued;
    uint64_t                     alerts_sent;
    uint64_t                     alerts_failed;  /* retries exhausted */
    uint64_t                     alerts_retried;
    uint64_t                     alerts_dropped; /* the queue was full */
    time_t                       alert_last_sent;
    time_t                       alert_last_failure;

    /* the shared ledger (tier_router_budget_redis) */
    uint64_t                     sync_seq;       /* the batch out, or the
                                                    last one taken */
    ngx_uint_t                   sync_out;       /* a batch not taken yet */
    int64_t                      sync_sent;      /* ms: when it went */
    int64_t                      unsynced;       /* the tenants' sum */
    int64_t                      heartbeat;      /* ms: the last one taken */
    uint64_t                     ledger_asks;    /* leases asked */
    int64_t                      ledger_granted; /* micro-dollars leased */
    uint64_t                     ledger_syncs;   /* batches taken */
    uint64_t                     ledger_failures;   /* commands failed */
    uint64_t                     ledger_open;    /* admitted, the ledger
                                                    out of reach */
    uint64_t                     ledger_closed;  /* refused, likewise */
    uint64_t                     ledger_commands;   /* round trips */
    time_t                       ledger_logged;  /* the last "open" line */
} ngx_http_tier_router_budget_sh_t;


typedef struct {
    ngx_http_tier_router_budget_sh_t  *sh;
    ngx_slab_pool_t             *shpool;
    ngx_shm_zone_t              *shm_zone;
    ngx_str_t                    name;
    ngx_uint_t                   period;
    int64_t                      limit;          /* zone-wide; -1: none */
    ngx_str_t                    state;          /* file, or empty */
    ngx_cycle_t                 *cycle;          /* configured in */
    ngx_msec_t                   state_interval;
    u_char                       hash_key[16];
    ngx_str_t                    hash_key_file;
    ngx_array_t                 *tiers;          /* the main conf's */
    uint64_t                     saved;          /* generation on disk */
    ngx_file_uniq_t              written_uniq;   /* our last state file */
    time_t                       written_mtime;
    off_t                        written_size;
    time_t                       full_logged;    /* this worker's last */
    time_t                       unaccounted_logged;
    ngx_event_t                  save_event;
    ngx_http_tier_router_alert_conf_t  *alert;   /* NULL: none */
    ngx_http_tier_router_ledger_conf_t *ledger;  /* NULL: none */
    void                        *redis;          /* this worker's */
    ngx_event_t                  sync_event;     /* worker 0's */
    ngx_uint_t                   batch_out;      /* this worker's, sent */
    ngx_uint_t                   final;          /* syncs while leaving */
    u_char                       node[17];       /* the instance, hex */
    ngx_event_t                  alert_event;    /* this worker's sender */
    time_t                       dropped_logged; /* this worker's last */
    unsigned                     hash_key_set:1;
} ngx_http_tier_router_zone_t;


typedef struct {
    ngx_uint_t                   percent;        /* in hundredths */
    ngx_str_t                    tier;
    ngx_int_t                    index;
} ngx_http_tier_router_soft_t;


/* a snapshot of one tenant, taken under the lock, for status and state */

typedef struct {
    u_char                       hash[TR_HASH_LEN];
    u_char                       label[NGX_HTTP_TIER_ROUTER_LABEL_LEN];
    size_t                       label_len;
    int64_t                      spent;
    int64_t                      reserved;
    int64_t                      limit;
    int64_t                      total;
    int64_t                      baseline;
    int64_t                      input_tokens;
    int64_t                      output_tokens;
    time_t                       period_start;
    time_t                       last;
    uint32_t                     requests;
    uint32_t                     estimated;
    uint32_t                     inflight;
    uint32_t                     refused;
    uint32_t                     capped;
    ngx_uint_t                   alerted;
    int64_t                      lease;
    int64_t                      unsynced;       /* and syncing */
} ngx_http_tier_router_snapshot_t;


typedef struct {
    ngx_str_t  name;
    ngx_str_t  model;
    ngx_str_t  upstream;
    double     max_score;
    ngx_uint_t reasoning;
    ngx_int_t  thinking_budget;
    const char *effort;   /* any API's effort word; NULL: by reasoning */
    ngx_uint_t thinking;  /* TR_THINKING_* */
    ngx_uint_t drop;      /* 1 << TR_PARAM_*: removed from the body */
    ngx_int_t  rename;    /* TR_PARAM_*; -1: none */
    u_char    *rename_to; /* null-terminated */
    ngx_str_t  file;
    ngx_uint_t line;
    tr_price_t price;
    double     share;     /* target, 0..1; -1: none */
    ngx_uint_t ladder;    /* in the main conf's ladders */
    unsigned   max_score_set:1;
    unsigned   priced:1;
    unsigned   priced_here:1;       /* by a directive, not a catalog */
} ngx_http_tier_router_tier_t;


#define NGX_HTTP_TIER_ROUTER_API_ANY        0
#define NGX_HTTP_TIER_ROUTER_API_OPENAI     1
#define NGX_HTTP_TIER_ROUTER_API_ANTHROPIC  2


/* a ladder: its tiers are tiers[first .. first + n) of the main conf */

typedef struct {
    ngx_str_t                    name;      /* "": the http block's own */
    ngx_uint_t                   api;       /* .._API_* its models speak */
    ngx_uint_t                   first;
    ngx_uint_t                   n;
    ngx_array_t                  parsed;    /* .._tier_t, as configured */
    ngx_str_t                    file;
    ngx_uint_t                   line;
} ngx_http_tier_router_ladder_t;


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
    ngx_http_tier_router_ladder_t  *ladder;   /* whose tiers it routes */
} ngx_http_tier_router_shares_t;


typedef struct {
    ngx_array_t                  tiers;     /* ngx_http_tier_router_tier_t */
    ngx_array_t                  ladders;   /* .._ladder_t, default first */
    ngx_http_tier_router_shares_t  *shares;
    tr_model_t                     *model;
    ngx_array_t                  zones;     /* ngx_http_tier_router_zone_t * */
    ngx_array_t                  prices;    /* .._model_price_t, directives */
    tr_price_t                  *tier_prices;       /* each tier's */
    ngx_array_t                  catalog;   /* .._model_price_t, catalogs */
    ngx_hash_t                   price_hash;    /* both, by name */
} ngx_http_tier_router_main_conf_t;


typedef struct {
    ngx_flag_t                   enable;
    ngx_uint_t                   dialect;
    ngx_http_tier_router_ladder_t  *ladder;
    ngx_str_t                    ladder_name;       /* tier_router_use */
    ngx_flag_t                   translate;
    ngx_str_t                    ladder_file;
    ngx_uint_t                   ladder_line;
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
    int64_t                      budget_limit_value;  /* a constant limit,
                                                         parsed once; -1:
                                                         none */
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
    ngx_str_t                    baseline;          /* a tier's name */
    ngx_uint_t                   budget_background; /* .._BACKGROUND_* */
    ngx_http_tier_router_zone_t *status_zone;
    ngx_flag_t                   balance;           /* tier_router_balance */
    ngx_flag_t                   shadow;            /* tier_router_shadow */
    ngx_flag_t                   report_cost;       /* .._report_cost */
    ngx_flag_t                   cost_header;       /* .._cost_header */
    size_t                       cost_header_buffer;

    ngx_uint_t                   fallback;          /* .._FB_* bits */
    ngx_uint_t                   fallback_direction;
    ngx_uint_t                   attempts;
    ngx_uint_t                   escalate;          /* .._ESC_* bits */
    double                       escalate_logprob;  /* mean below: low */
    double                       escalate_math;     /* -1: the model's */
    const tr_check_model_t      *escalate_weights;
    size_t                       escalate_buffer;
    ngx_http_tier_router_shares_t  *status_shares;

    ngx_shm_zone_t              *session_zone;      /* NULL: off */
    ngx_http_complex_value_t    *session_key;
    ngx_uint_t                   session_strip;     /* signed=strip */

    ngx_str_t                    file;              /* where "tier_router" */
    ngx_uint_t                   line;              /* was switched on */
    ngx_str_t                    no_signal_file;
    ngx_uint_t                   no_signal_line;
} ngx_http_tier_router_loc_conf_t;


typedef struct ngx_http_tier_router_ctx_s  ngx_http_tier_router_ctx_t;
typedef struct ngx_http_tier_router_session_zone_s
    ngx_http_tier_router_session_zone_t;

/* a session that has no tier yet */
#define NGX_HTTP_TIER_ROUTER_SESSION_NONE   0xffff


/* one attempt, as the access log shows it */

typedef struct {
    ngx_uint_t                   tier;
    ngx_uint_t                   status;
    int64_t                      cost;
    const char                  *why;               /* escalated: signal */
} ngx_http_tier_router_try_t;


/*
 * A request's context is in two parts.  What the request owns (its
 * dialect, tenant, estimates, body, error, its attempts) is in
 * ngx_http_tier_router_rq_t, one per client request.  What one run owns
 * (the main request's, or an attempt's: a subrequest's context, see
 * attempt.c) is in the context itself: its tier, its request, its
 * reservation, usage reader and answer.  An attempt points at the
 * request's part and starts with its own zeroed: it copies nothing.
 */

typedef struct {
    ngx_int_t                    status;    /* NGX_DONE, NGX_DECLINED */
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

    /* spend accounting */
    ngx_http_tier_router_zone_t *zone;
    u_char                       hash[TR_HASH_LEN];
    int64_t                      limit;             /* -1: none */
    int64_t                      input_estimate;    /* tokens */
    int64_t                      output_max;        /* tokens */
    time_t                       now;               /* admission's clock */
    ngx_uint_t                   floor;             /* lowest tier allowed */

    unsigned                     routed:1;
    unsigned                     ledger_asked:1;    /* a lease, once */
    unsigned                     ledger_failed:1;   /* ... and no answer */
    unsigned                     ledger_waiting:1;  /* ... for the answer */
    unsigned                     stream_usage:1;    /* we asked for it */
    unsigned                     metered:1;         /* unrouted, charged */
    unsigned                     background:1;      /* charged its worst */
    unsigned                     shadow:1;          /* only what it would
                                                       do, nothing done */
    int64_t                      shadow_cost;       /* at the chosen tier;
                                                       -1: not known */

    /* attempts across tiers */
    ngx_int_t                    cap;               /* highest; -1: none */
    unsigned                     stream:1;          /* the client's ask */
    unsigned                     json_output:1;     /* response_format */
    unsigned                     ask:2;             /* TR_CHECK_ASK_* */
    unsigned                     session_answer:1;  /* keep its id */
    unsigned                     unthink:1;         /* its body stripped:
                                                       see the run's */
    ngx_uint_t                   signer;            /* the tier whose
                                                       model signed the
                                                       history, + 1 */
    ngx_chain_t                 *body;              /* the client's body */
    ngx_buf_t                   *header_in;         /* the header buffer,
                                                       while the body is
                                                       read into its own */
    void                        *extracted;         /* the extractor's
                                                       reading of it, but
                                                       its text windows:
                                                       for the attempts */
    ngx_http_tier_router_ctx_t  *attempt;           /* running or last */
    ngx_http_tier_router_ctx_t  *pending;           /* the next, reserved */
    ngx_uint_t                   ntries;
    ngx_http_tier_router_try_t   tries[NGX_HTTP_TIER_ROUTER_MAX_ATTEMPTS];
} ngx_http_tier_router_rq_t;


typedef struct {
    int64_t                      reserved;
    int64_t                      cost;
    int64_t                      baseline;          /* the same usage at
                                                       the baseline price */
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
    unsigned                     passthrough:1;     /* the held event */
    unsigned                     id_kept:1;         /* in the sessions */
    unsigned                     report:1;          /* usage.cost added */
    unsigned                     leased:1;          /* from the lease */
    void                        *cost_held;         /* the answer held for
                                                       its cost header */

    /* an attempt's answer */
    ngx_uint_t                   answered;          /* status, 0: none */
    ngx_buf_t                   *held;              /* under inspection */
    const char                  *why;               /* escalated: signal */
    unsigned                     closed:1;          /* settled, counted */
    unsigned                     discard:1;         /* a failure passed on */
    unsigned                     commit:1;          /* the client's answer */
    unsigned                     escalated:1;       /* not good enough */
    unsigned                     sniff:1;           /* a stream held to
                                                       its first content */

    /* its timing: sent to the upstream, and its first token streamed */
    ngx_msec_t                   start;
    ngx_msec_t                   first;
    unsigned                     timed:1;           /* start is set */
    unsigned                     first_seen:1;
} ngx_http_tier_router_run_t;


struct ngx_http_tier_router_ctx_s {
    ngx_http_tier_router_rq_t   *rq;                /* the request's */
    ngx_http_request_t          *request;           /* this run's */
    ngx_uint_t                   tier;
    int64_t                      spent;             /* after settling */

    /* an attempt's (a subrequest's context) */
    ngx_http_tier_router_ctx_t  *parent;            /* the main request's */
    ngx_http_request_t          *sr;
    ngx_uint_t                   nth;               /* in tries[] */
    unsigned                     complete:1;        /* and all of it came */
    unsigned                     logprobs:1;        /* we asked for them */
    unsigned                     unthink:1;         /* Anthropic thinking
                                                       off: its last turn's
                                                       blocks were stripped */

    ngx_http_tier_router_run_t   run;
};


#endif /* _NGX_HTTP_TIER_ROUTER_TYPES_H_INCLUDED_ */
