
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


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_tier_router_handover.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"
#include "ngx_http_tier_router_zone.h"

#include "tr_state_schema.h"


#define NGX_HTTP_TIER_ROUTER_HANDOVER_MAX   (256 * 1024 * 1024)


static ngx_uint_t ngx_http_tier_router_handover_older(
    ngx_http_tier_router_zone_t *zone, json_t *root);
static int64_t ngx_http_tier_router_handover_tenant(
    ngx_http_tier_router_zone_t *zone, json_t *t, ngx_log_t *log);


/* what was written or read last: a file unchanged since is not read again */

void
ngx_http_tier_router_handover_seen(ngx_http_tier_router_zone_t *zone)
{
    ngx_file_info_t  fi;

    if (ngx_link_info(zone->state.data, &fi) == 0) {
        zone->written_uniq = ngx_file_uniq(&fi);
        zone->written_mtime = ngx_file_mtime(&fi);
        zone->written_size = ngx_file_size(&fi);
    }
}


ngx_int_t
ngx_http_tier_router_handover_merge(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log)
{
    u_char           *buf, check[33];
    size_t            i, size;
    json_t           *root, *tenants;
    int64_t           merged;
    ngx_err_t         err;
    ngx_file_info_t   fi;
    const char       *error;

    if (ngx_link_info(zone->state.data, &fi) != 0 || !ngx_is_file(&fi)
        || (ngx_file_uniq(&fi) == zone->written_uniq
            && ngx_file_mtime(&fi) == zone->written_mtime
            && ngx_file_size(&fi) == zone->written_size))
    {
        return NGX_OK;
    }

    if (ngx_http_tier_router_read_whole(&zone->state,
                                        NGX_HTTP_TIER_ROUTER_HANDOVER_MAX, 1,
                                        log, &buf, &size, &err, &error)
        != NGX_OK)
    {
        return NGX_OK;
    }

    root = json_loadb((char *) buf, size, JSON_REJECT_DUPLICATES, NULL);
    ngx_free(buf);

    if (zone->hash_key_set) {
        ngx_http_tier_router_zone_key_check(zone, check);
    }

    error = NULL;

    if (root == NULL
        || tr_state_valid(root,
                                   zone->hash_key_set ? (char *) check : NULL,
                                   &error)
           != 0
        || !ngx_http_tier_router_handover_older(zone, root))
    {
        json_decref(root);
        ngx_http_tier_router_handover_seen(zone);
        return NGX_OK;
    }

    tenants = json_object_get(root, "tenants");
    merged = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < json_array_size(tenants); i++) {
        merged += ngx_http_tier_router_handover_tenant(zone,
                                             json_array_get(tenants, i), log);
    }

    if (merged) {
        ngx_http_tier_router_add(zone->sh->spent, merged);
        ngx_http_tier_router_add(zone->sh->total, merged);
        zone->sh->generation++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    json_decref(root);

    ngx_http_tier_router_handover_seen(zone);

    if (merged) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "tier router: zone \"%V\": %L micro-dollars that an "
                      "older nginx settled merged from \"%V\"",
                      &zone->name, merged, &zone->state);
    }

    return NGX_OK;
}


/* a state file's "instance", or 0 for a file of a module without ids */

uint64_t
ngx_http_tier_router_handover_instance(void *root)
{
    u_char       id[8];
    uint64_t     instance;
    ngx_uint_t   k;
    const char  *s;

    s = json_string_value(json_object_get((json_t *) root, "instance"));

    if (s == NULL || tr_state_unhex(id, s, 8) != 0) {
        return 0;
    }

    instance = 0;

    for (k = 0; k < 8; k++) {
        instance = instance << 8 | id[k];
    }

    return instance;
}


/*
 * The file is merged if the zone it comes from is the one this zone was
 * loaded from (its parent, the older nginx of an upgrade), or both have
 * no id (a module without them); not by time, which two masters need not
 * agree on.  The older nginx's own parent is older still: it never merges
 * the newer one's file, it overwrites it.
 */

static ngx_uint_t
ngx_http_tier_router_handover_older(ngx_http_tier_router_zone_t *zone,
    json_t *root)
{
    uint64_t  instance;

    instance = ngx_http_tier_router_handover_instance(root);

    return instance != zone->sh->instance && instance == zone->sh->parent;
}


/*
 * One tenant of the older file: what it spent there since it was last
 * seen (loaded or merged) is added, in the same period; a period that
 * the older nginx has rolled into and this one not yet is rolled here.
 */

static int64_t
ngx_http_tier_router_handover_tenant(ngx_http_tier_router_zone_t *zone,
    json_t *t, ngx_log_t *log)
{
    u_char                          hash[16];
    int64_t                         spent, start, last, delta;
    ngx_http_tier_router_tenant_t  *tn;

    if (tr_state_unhex(hash,
                       json_string_value(json_object_get(t, "hash")), 16)
        != 0
        || tr_state_number(t, "spent", &spent) != 0
        || tr_state_number(t, "period_start", &start)
           != 0
        || tr_state_number(t, "last", &last) != 0)
    {
        return 0;
    }

    tn = ngx_http_tier_router_budget_lookup(zone, hash);

    if (tn == NULL) {
        tn = ngx_http_tier_router_budget_tenant(zone, hash, (time_t) last,
                                                log);
        if (tn == NULL) {
            return 0;
        }

        tn->period_start = (time_t) start;
        tn->last = (time_t) last;
    }

    if ((time_t) start > tn->period_start) {
        ngx_http_tier_router_budget_roll(zone, tn, (time_t) start);
        tn->older = 0;
    }

    delta = 0;

    if ((time_t) start == tn->period_start && spent > tn->older) {
        delta = spent - tn->older;
        ngx_http_tier_router_add(tn->spent, delta);
        ngx_http_tier_router_add(tn->total, delta);
    }

    tn->older = spent;

    ngx_http_tier_router_budget_idle(zone, tn);

    return delta;
}
