
/*
 * Copyright (C) The tier router authors
 *
 * A budget zone's tenant table in shared memory: tenants by key hash in a
 * red-black tree, created on first sight (the least recently seen evicted
 * when the zone is full, idle ones first), their periods rolled on the
 * UTC calendar, and a snapshot of them for the state file and the status
 * page.  Called with the zone's mutex held.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_ZONE_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


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


#endif /* _NGX_HTTP_TIER_ROUTER_ZONE_H_INCLUDED_ */
