
/*
 * Copyright (C) The tier router authors
 *
 * The budget zone: tenants in shared memory, in an rbtree keyed by the
 * keyed hash of their key, with a queue from most to least recently seen.
 * Callers hold the slab pool's mutex around every function here that
 * reads or writes tenants.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_BUDGET_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_BUDGET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


char *ngx_http_tier_router_budget_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_tier_router_zone_arg(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_str_t *name, ssize_t *size);
ngx_http_tier_router_zone_t *ngx_http_tier_router_budget_find_zone(
    ngx_conf_t *cf, ngx_str_t *name);
ngx_http_tier_router_zone_t *ngx_http_tier_router_budget_named_zone(
    ngx_conf_t *cf, ngx_str_t *name);
ngx_array_t *ngx_http_tier_router_budget_zones(ngx_cycle_t *cycle);
ngx_int_t ngx_http_tier_router_budget_init_process(ngx_cycle_t *cycle);
void ngx_http_tier_router_budget_exit(ngx_cycle_t *cycle);

ngx_shm_zone_t *ngx_http_tier_router_shm_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_str_t *name, ssize_t size,
    ngx_shm_zone_init_pt init, void *data);


#endif /* _NGX_HTTP_TIER_ROUTER_BUDGET_H_INCLUDED_ */
