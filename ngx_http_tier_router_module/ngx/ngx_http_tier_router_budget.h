
/*
 * Copyright (C) The tier router authors
 *
 * Spend per tenant in a shared memory zone: tenants by the keyed hash of
 * their key, budgets per calendar period, reservations at admission and
 * settlement at the end of each request.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_BUDGET_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_BUDGET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "tr_hash.h"
#include "tr_period.h"
#include "tr_price.h"


#define NGX_HTTP_TIER_ROUTER_MAX_TIERS     16
#define NGX_HTTP_TIER_ROUTER_LABEL_LEN     48
#define NGX_HTTP_TIER_ROUTER_TIER_NAME     32
#define NGX_HTTP_TIER_ROUTER_SAVE_ERROR    96

/* saturating: see TR_AMOUNT_MAX */

#define ngx_http_tier_router_add(a, b)                                       \
    ((a) = tr_amount_add((a), (b)))

#define ngx_http_tier_router_inc32(a)                                        \
    ((a) += ((a) < 0xffffffff))


/*
 * A tenant, from the rbtree node's color byte on (as limit_req's nodes):
 * 32 + 192 bytes, one 256-byte slab chunk.  Money in micro-dollars.  A
 * tenant with nothing to lose (no spend in the period, nothing reserved)
 * is also in the zone's idle queue, where eviction finds it at once.
 */

typedef struct {
    u_char                       color;
    u_char                       dummy;
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
} ngx_http_tier_router_tenant_t;


typedef struct {
    u_char                       name[NGX_HTTP_TIER_ROUTER_TIER_NAME];
    uint64_t                     requests;
    uint64_t                     input_tokens;
    uint64_t                     output_tokens;
    uint64_t                     estimated;
    uint64_t                     failed;         /* and fell back */
    uint64_t                     escalated;      /* answered, not enough */
    int64_t                      cost;
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
    int64_t                      input_tokens;
    int64_t                      output_tokens;
    time_t                       period_start;
    time_t                       last;
    uint32_t                     requests;
    uint32_t                     estimated;
    uint32_t                     inflight;
    uint32_t                     refused;
    uint32_t                     capped;
} ngx_http_tier_router_snapshot_t;



char *ngx_http_tier_router_budget_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_tier_router_zone_arg(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_str_t *name, ssize_t *size);
ngx_http_tier_router_zone_t *ngx_http_tier_router_budget_find_zone(
    ngx_conf_t *cf, ngx_str_t *name);
ngx_int_t ngx_http_tier_router_budget_init_process(ngx_cycle_t *cycle);
void ngx_http_tier_router_budget_exit(ngx_cycle_t *cycle);

/* the tenant table (zone.c), the zone's mutex held */

ngx_http_tier_router_tenant_t *ngx_http_tier_router_budget_tenant(
    ngx_http_tier_router_zone_t *zone, u_char *hash, time_t now,
    ngx_log_t *log);
void ngx_http_tier_router_budget_roll(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t, time_t now);
void ngx_http_tier_router_budget_idle(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t);
ngx_http_tier_router_tenant_t *ngx_http_tier_router_budget_lookup(
    ngx_http_tier_router_zone_t *zone, u_char *hash);
ngx_uint_t ngx_http_tier_router_budget_snapshot(
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_snapshot_t *s,
    ngx_uint_t max);
void ngx_http_tier_router_budget_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
void ngx_http_tier_router_budget_restart(ngx_http_tier_router_zone_t *zone);
void ngx_http_tier_router_zone_key_check(ngx_http_tier_router_zone_t *zone,
    u_char *out);

ngx_int_t ngx_http_tier_router_state_save(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log);
ngx_int_t ngx_http_tier_router_state_load(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log);
ngx_int_t ngx_http_tier_router_state_dir(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log);

ngx_int_t ngx_http_tier_router_handover_merge(
    ngx_http_tier_router_zone_t *zone, ngx_log_t *log);
void ngx_http_tier_router_handover_seen(ngx_http_tier_router_zone_t *zone);
uint64_t ngx_http_tier_router_handover_instance(void *root);


#endif /* _NGX_HTTP_TIER_ROUTER_BUDGET_H_INCLUDED_ */
