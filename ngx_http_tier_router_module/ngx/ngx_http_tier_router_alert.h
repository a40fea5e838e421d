
/*
 * Copyright (C) The tier router authors
 *
 * Alerts before the wall: a webhook per tenant, period and threshold of
 * its budget, sent once, retried with backoff.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_ALERT_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_ALERT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


char *ngx_http_tier_router_budget_alert(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* under the zone's lock, after a tenant's spend grew: alerts queued */
ngx_uint_t ngx_http_tier_router_alert_check(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t, time_t now, ngx_log_t *log);

/* without the lock: this worker sends what was queued, now */
void ngx_http_tier_router_alert_kick(ngx_http_tier_router_zone_t *zone);

ngx_int_t ngx_http_tier_router_alert_init_process(ngx_cycle_t *cycle);
void ngx_http_tier_router_alert_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_TIER_ROUTER_ALERT_H_INCLUDED_ */
