
/*
 * Copyright (C) The tier router authors
 *
 * The budget zone: tenants in shared memory, in an rbtree keyed by the
 * keyed hash of their key, with a queue from most to least recently seen.
 * Callers hold the slab pool's mutex around every function here that
 * reads or writes tenants.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_budget.h"
#include "ngx_http_tier_router_handover.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_state.h"
#include "ngx_http_tier_router_util.h"
#include "ngx_http_tier_router_zone.h"

#include "tr_hash.h"
#include "tr_period.h"
#include "tr_price.h"


static ngx_int_t ngx_http_tier_router_budget_param(ngx_conf_t *cf,
    ngx_http_tier_router_zone_t *zone, ngx_str_t *arg);
static ngx_int_t ngx_http_tier_router_budget_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_tier_router_budget_tiers(
    ngx_http_tier_router_zone_t *zone);
static void ngx_http_tier_router_budget_save_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_tier_router_budget_key_file(ngx_conf_t *cf,
    ngx_http_tier_router_zone_t *zone);


/*
 * tier_router_budget_zone zone=NAME:SIZE [period=day|week|month|total]
 *     [limit=DOLLARS] [state=FILE] [state_interval=TIME] [hash_key=FILE]
 */

char *
ngx_http_tier_router_budget_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_main_conf_t *trmcf = conf;

    ssize_t                        size;
    ngx_str_t                     *value, name;
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_shm_zone_t                *shm_zone;
    ngx_http_tier_router_zone_t   *zone, **zp;

    value = cf->args->elts;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_tier_router_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->period = TR_PERIOD_MONTH;
    zone->limit = -1;
    zone->state_interval = 10000;
    zone->tiers = &trmcf->tiers;

    size = 0;
    name.len = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            if (ngx_http_tier_router_zone_arg(cf, &value[i], &name, &size)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        rc = ngx_http_tier_router_budget_param(cf, zone, &value[i]);

        if (rc == NGX_OK) {
            continue;
        }

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    zone->name = name;

    zp = trmcf->zones.elts;

    for (i = 0; i < trmcf->zones.nelts; i++) {
        if (zp[i]->name.len == name.len
            && ngx_strncmp(zp[i]->name.data, name.data, name.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate budget zone \"%V\"", &name);
            return NGX_CONF_ERROR;
        }
    }

    shm_zone = ngx_http_tier_router_shm_zone(cf, cmd, &name, size,
                                     ngx_http_tier_router_budget_init_zone,
                                     zone);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = shm_zone;
    zone->cycle = cf->cycle;

    zp = ngx_array_push(&trmcf->zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = zone;

    return NGX_CONF_OK;
}


/*
 * A parameter of tier_router_budget_zone besides zone=: NGX_OK, NGX_ERROR
 * (logged), or NGX_DECLINED for none such.
 */

static ngx_int_t
ngx_http_tier_router_budget_param(ngx_conf_t *cf,
    ngx_http_tier_router_zone_t *zone, ngx_str_t *arg)
{
    ngx_str_t  s;
    ngx_int_t  ms, rc;

    if (ngx_strncmp(arg->data, "period=", 7) == 0) {

        s.data = arg->data + 7;
        s.len = arg->len - 7;

        rc = tr_period_parse((char *) s.data, s.len);

        if (rc < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid period \"%V\": day, week, month "
                               "or total", &s);
            return NGX_ERROR;
        }

        zone->period = (ngx_uint_t) rc;
        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "limit=", 6) == 0) {

        zone->limit = tr_price_parse(arg->data + 6, arg->len - 6);

        if (zone->limit < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid limit \"%V\": dollars, as "
                               "\"250\" or \"99.95\"", arg);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "state=", 6) == 0) {

        zone->state.data = arg->data + 6;
        zone->state.len = arg->len - 6;

        if (zone->state.len == 0
            || ngx_conf_full_name(cf->cycle, &zone->state, 0) != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid state file \"%V\"", arg);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "state_interval=", 15) == 0) {

        s.data = arg->data + 15;
        s.len = arg->len - 15;

        ms = ngx_parse_time(&s, 0);

        if (ms == NGX_ERROR || ms < 1000) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\": at least 1s", arg);
            return NGX_ERROR;
        }

        zone->state_interval = (ngx_msec_t) ms;
        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "hash_key=", 9) == 0) {

        zone->hash_key_file.data = arg->data + 9;
        zone->hash_key_file.len = arg->len - 9;

        if (ngx_conf_full_name(cf->cycle, &zone->hash_key_file, 1)
            != NGX_OK
            || ngx_http_tier_router_budget_key_file(cf, zone) != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* zone=NAME:SIZE, as limit_req_zone takes it; at least 8 pages */

ngx_int_t
ngx_http_tier_router_zone_arg(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_str_t *name, ssize_t *size)
{
    u_char     *p;
    ngx_str_t   s;

    name->data = arg->data + 5;

    p = (u_char *) ngx_strlchr(name->data, arg->data + arg->len, ':');

    if (p == NULL || p == name->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", arg);
        return NGX_ERROR;
    }

    name->len = p - name->data;

    s.data = p + 1;
    s.len = arg->data + arg->len - s.data;

    *size = ngx_parse_size(&s);

    if (*size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", arg);
        return NGX_ERROR;
    }

    if (*size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", arg);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A new shared memory zone NAME of SIZE for the directive cmd, with its
 * init and data; NULL, logged: no name, or the zone is used already.
 */

ngx_shm_zone_t *
ngx_http_tier_router_shm_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name, ssize_t size, ngx_shm_zone_init_pt init, void *data)
{
    ngx_shm_zone_t  *shm_zone;

    if (name->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NULL;
    }

    shm_zone = ngx_shared_memory_add(cf, name, size,
                                     &ngx_http_tier_router_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", name);
        return NULL;
    }

    shm_zone->init = init;
    shm_zone->data = data;

    return shm_zone;
}


ngx_http_tier_router_zone_t *
ngx_http_tier_router_budget_find_zone(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                         i;
    ngx_http_tier_router_zone_t      **zp;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_tier_router_module);
    zp = trmcf->zones.elts;

    for (i = 0; i < trmcf->zones.nelts; i++) {
        if (zp[i]->name.len == name->len
            && ngx_strncmp(zp[i]->name.data, name->data, name->len) == 0)
        {
            return zp[i];
        }
    }

    return NULL;
}


/* the zone a directive names, or NULL and the configuration's error */

ngx_http_tier_router_zone_t *
ngx_http_tier_router_budget_named_zone(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_http_tier_router_zone_t  *zone;

    zone = ngx_http_tier_router_budget_find_zone(cf, name);

    if (zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no \"tier_router_budget_zone\" \"%V\" is "
                           "defined before", name);
    }

    return zone;
}


/* the secret comes from a file: its keyed hash under a fixed key */

static ngx_int_t
ngx_http_tier_router_budget_key_file(ngx_conf_t *cf,
    ngx_http_tier_router_zone_t *zone)
{
    u_char            buf[4096];
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_file_t        file;
    static u_char     fixed[16] = "tier-router-key";

    fd = ngx_open_file(zone->hash_key_file.data, NGX_FILE_RDONLY,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed",
                           &zone->hash_key_file);
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = zone->hash_key_file;
    file.log = cf->log;

    n = ngx_read_file(&file, buf, sizeof(buf), 0);

    ngx_close_file(fd);

    if (n < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hash key file \"%V\" must hold at least "
                           "16 bytes of secret", &zone->hash_key_file);
        return NGX_ERROR;
    }

    tr_hash(fixed, buf, n, zone->hash_key);
    ngx_explicit_memzero(buf, sizeof(buf));

    zone->hash_key_set = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tier_router_budget_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_tier_router_zone_t *ozone = data;

    size_t                         len;
    ngx_time_t                    *tp;
    ngx_slab_pool_t               *shpool;
    ngx_http_tier_router_zone_t   *zone;

    zone = shm_zone->data;

    if (zone->state.len
        && ngx_http_tier_router_state_dir(zone, shm_zone->shm.log) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ozone) {

        /* a reload: the zone and its tenants live on */

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        ngx_shmtx_lock(&zone->shpool->mutex);

        if (zone->sh->period != zone->period) {
            ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                          "tier router: zone \"%V\" changes its period "
                          "from %s to %s: every tenant starts a new period",
                          &zone->name,
                          tr_period_name(zone->sh->period),
                          tr_period_name(zone->period));
            zone->sh->period = zone->period;
            ngx_http_tier_router_budget_restart(zone);
        }

        if (zone->hash_key_set) {
            if (ngx_memcmp(zone->sh->hash_key, zone->hash_key, 16) != 0) {
                ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                              "tier router: zone \"%V\" has a new hash "
                              "key: its tenants will not be recognised "
                              "again", &zone->name);
                ngx_memcpy(zone->sh->hash_key, zone->hash_key, 16);
            }

        } else {
            ngx_memcpy(zone->hash_key, zone->sh->hash_key, 16);
        }

        ngx_http_tier_router_budget_tiers(zone);

        ngx_shmtx_unlock(&zone->shpool->mutex);

        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    zone->shpool = shpool;

    if (shm_zone->shm.exists) {
        zone->sh = shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(shpool,
                              sizeof(ngx_http_tier_router_budget_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(zone->sh, sizeof(ngx_http_tier_router_budget_sh_t));

    shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_tier_router_budget_insert);
    ngx_queue_init(&zone->sh->queue);
    ngx_queue_init(&zone->sh->idle);

    zone->sh->period = zone->period;

    len = sizeof(" in tier router zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in tier router zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* "zone full" is logged once, by the module, with what it did */

    shpool->log_nomem = 0;

    if (!zone->hash_key_set) {

        /* a random secret, kept in the state file (if any) */

        ngx_http_tier_router_random(zone->hash_key, 16);
    }

    ngx_memcpy(zone->sh->hash_key, zone->hash_key, 16);

    /* who writes the state file: an older nginx's is merged, see state.c */

    tp = ngx_timeofday();

    zone->sh->instance = ((uint64_t) ngx_random() << 32)
                         ^ (uint64_t) ngx_random() ^ (uint64_t) ngx_pid
                         ^ ((uint64_t) tp->msec << 48);

    if (zone->sh->instance == 0) {
        zone->sh->instance = 1;
    }

    ngx_http_tier_router_budget_tiers(zone);

    if (zone->state.len) {
        (void) ngx_http_tier_router_state_load(zone, shm_zone->shm.log);
        ngx_memcpy(zone->hash_key, zone->sh->hash_key, 16);
        zone->saved = zone->sh->generation;
        ngx_http_tier_router_handover_seen(zone);
    }

    return NGX_OK;
}


/* the per-tier counters follow the tiers by name across reloads */

static void
ngx_http_tier_router_budget_tiers(ngx_http_tier_router_zone_t *zone)
{
    size_t                             len;
    ngx_uint_t                         i, j, n;
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_tier_stat_t   old[NGX_HTTP_TIER_ROUTER_MAX_TIERS];
    ngx_http_tier_router_tier_stat_t  *st;

    ngx_memcpy(old, zone->sh->tiers, sizeof(old));
    ngx_memzero(zone->sh->tiers, sizeof(old));

    tier = zone->tiers->elts;
    n = ngx_min(zone->tiers->nelts, NGX_HTTP_TIER_ROUTER_MAX_TIERS);

    for (i = 0; i < n; i++) {
        st = &zone->sh->tiers[i];
        len = ngx_min(tier[i].name.len, NGX_HTTP_TIER_ROUTER_TIER_NAME - 1);

        for (j = 0; j < zone->sh->ntiers; j++) {
            if (ngx_strlen(old[j].name) == len
                && ngx_strncmp(old[j].name, tier[i].name.data, len) == 0)
            {
                *st = old[j];
                break;
            }
        }

        ngx_memcpy(st->name, tier[i].name.data, len);
        st->name[len] = '\0';
    }

    zone->sh->ntiers = n;
}


/* the budget zones of a cycle's configuration, or NULL for none */

ngx_array_t *
ngx_http_tier_router_budget_zones(ngx_cycle_t *cycle)
{
    ngx_http_tier_router_main_conf_t  *trmcf;

    if (cycle->conf_ctx == NULL
        || cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NULL;
    }

    trmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_tier_router_module);

    return trmcf ? &trmcf->zones : NULL;
}


/* the state file: written by worker 0 now and then, by the master at exit */

ngx_int_t
ngx_http_tier_router_budget_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i;
    ngx_array_t                  *zones;
    ngx_http_tier_router_zone_t **zp;

    zones = ngx_http_tier_router_budget_zones(cycle);

    if (ngx_process != NGX_PROCESS_WORKER || ngx_worker != 0
        || zones == NULL)
    {
        return NGX_OK;
    }

    zp = zones->elts;

    for (i = 0; i < zones->nelts; i++) {

        if (zp[i]->state.len == 0) {
            continue;
        }

        zp[i]->save_event.handler = ngx_http_tier_router_budget_save_handler;
        zp[i]->save_event.data = zp[i];
        zp[i]->save_event.log = cycle->log;
        zp[i]->save_event.cancelable = 1;

        ngx_add_timer(&zp[i]->save_event, zp[i]->state_interval);
    }

    return NGX_OK;
}


static void
ngx_http_tier_router_budget_save_handler(ngx_event_t *ev)
{
    ngx_http_tier_router_zone_t  *zone;

    zone = ev->data;

    (void) ngx_http_tier_router_handover_merge(zone, ev->log);

    if (zone->sh->generation != zone->saved) {
        (void) ngx_http_tier_router_state_save(zone, ev->log);
    }

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, zone->state_interval);
}


/* the master, after its workers are gone: nothing is in flight any more */

void
ngx_http_tier_router_budget_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i;
    ngx_array_t                  *zones;
    ngx_http_tier_router_zone_t **zp;

    zones = ngx_http_tier_router_budget_zones(cycle);

    if (zones == NULL) {
        return;
    }

    zp = zones->elts;

    for (i = 0; i < zones->nelts; i++) {
        if (zp[i]->state.len && zp[i]->sh) {
            (void) ngx_http_tier_router_handover_merge(zp[i], cycle->log);
            (void) ngx_http_tier_router_state_save(zp[i], cycle->log);
        }
    }
}
