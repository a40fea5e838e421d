
/*
 * Copyright (C) The tier router authors
 *
 * Two nginx that share a state file for a while, as in a binary upgrade
 * (USR2, WINCH, QUIT): the new one loads the file the old one last wrote
 * and serves while the old workers finish, and the old master saves at
 * exit.  Each zone has a random instance id, written in the file, and
 * keeps the id of the file it was loaded from.  Before each of its saves
 * the newer nginx reads the file, and if the zone it was loaded from wrote
 * it again, adds what each tenant spent there since the newer one last saw
 * it; the older one never merges, it overwrites.  So what the old workers
 * settled is kept and nothing is counted twice.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_HANDOVER_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_HANDOVER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


ngx_int_t ngx_http_tier_router_handover_merge(
    ngx_http_tier_router_zone_t *zone, ngx_log_t *log);
void ngx_http_tier_router_handover_seen(ngx_http_tier_router_zone_t *zone);
uint64_t ngx_http_tier_router_handover_instance(void *root);


#endif /* _NGX_HTTP_TIER_ROUTER_HANDOVER_H_INCLUDED_ */
