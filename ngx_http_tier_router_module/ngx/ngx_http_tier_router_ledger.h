
/*
 * Copyright (C) The tier router authors
 *
 * Budgets across a fleet (tier_router_budget_redis): Redis keeps each
 * tenant's spend for every node; a node spends a lease of it, taken
 * atomically, and settles to Redis in batches.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_LEDGER_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_LEDGER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


char *ngx_http_tier_router_budget_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* under the lock: what the tenant's lease lets this node reserve */
int64_t ngx_http_tier_router_ledger_lease(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t);

/* under the lock: how much to ask for, what this node holds, its lease */
void ngx_http_tier_router_ledger_need(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t, int64_t limit, int64_t worst,
    int64_t *ask, int64_t *keep, int64_t *lease);

/*
 * Without the lock: asks Redis for a lease.  NGX_OK: the request is
 * resumed (r->write_event_handler) once Redis answered, or did not in
 * time (ctx->rq->ledger_failed); else Redis is out of reach now.
 */
ngx_int_t ngx_http_tier_router_ledger_ask(ngx_http_request_t *r,
    ngx_http_tier_router_zone_t *zone, time_t period_start, int64_t limit,
    int64_t ask, int64_t keep, int64_t lease);

/* sends the spend not sent yet (or the batch out, again), if any */
void ngx_http_tier_router_ledger_send(ngx_http_tier_router_zone_t *zone);

/* this worker's connection, for the status page */
const char *ngx_http_tier_router_ledger_state(
    ngx_http_tier_router_zone_t *zone);

ngx_int_t ngx_http_tier_router_ledger_init_process(ngx_cycle_t *cycle);
void ngx_http_tier_router_ledger_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_TIER_ROUTER_LEDGER_H_INCLUDED_ */
