
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

#include "ngx_http_tier_router_module.h"


#define NGX_HTTP_TIER_ROUTER_EVICT_SCAN  64


static ngx_int_t ngx_http_tier_router_budget_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_tier_router_budget_tiers(
    ngx_http_tier_router_zone_t *zone);
static void ngx_http_tier_router_budget_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_uint_t ngx_http_tier_router_budget_evict(
    ngx_http_tier_router_zone_t *zone, time_t now);
static void ngx_http_tier_router_budget_free(
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_tenant_t *t);
static void ngx_http_tier_router_budget_save_handler(ngx_event_t *ev);
static void ngx_http_tier_router_budget_restart(
    ngx_http_tier_router_zone_t *zone);
static ngx_int_t ngx_http_tier_router_budget_key_file(ngx_conf_t *cf,
    ngx_http_tier_router_zone_t *zone);
static time_t ngx_http_tier_router_days(ngx_int_t y, ngx_int_t m,
    ngx_int_t d);


static const char  *ngx_http_tier_router_periods[] = {
    "day", "week", "month", "total"
};


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
    ngx_str_t                     *value, name, s;
    ngx_int_t                      ms;
    ngx_uint_t                     i, j;
    ngx_shm_zone_t                *shm_zone;
    ngx_http_tier_router_zone_t   *zone, **zp;

    value = cf->args->elts;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_tier_router_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->period = NGX_HTTP_TIER_ROUTER_PERIOD_MONTH;
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

        if (ngx_strncmp(value[i].data, "period=", 7) == 0) {

            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            for (j = 0; j < 4; j++) {
                if (s.len == ngx_strlen(ngx_http_tier_router_periods[j])
                    && ngx_strncmp(s.data, ngx_http_tier_router_periods[j],
                                   s.len) == 0)
                {
                    break;
                }
            }

            if (j == 4) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid period \"%V\": day, week, month "
                                   "or total", &s);
                return NGX_CONF_ERROR;
            }

            zone->period = j;
            continue;
        }

        if (ngx_strncmp(value[i].data, "limit=", 6) == 0) {

            zone->limit = tr_price_parse(value[i].data + 6,
                                        value[i].len - 6);
            if (zone->limit < 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid limit \"%V\": dollars, as "
                                   "\"250\" or \"99.95\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "state=", 6) == 0) {

            zone->state.data = value[i].data + 6;
            zone->state.len = value[i].len - 6;

            if (zone->state.len == 0
                || ngx_conf_full_name(cf->cycle, &zone->state, 0) != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid state file \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "state_interval=", 15) == 0) {

            s.data = value[i].data + 15;
            s.len = value[i].len - 15;

            ms = ngx_parse_time(&s, 0);

            if (ms == NGX_ERROR || ms < 1000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": at least 1s",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->state_interval = (ngx_msec_t) ms;
            continue;
        }

        if (ngx_strncmp(value[i].data, "hash_key=", 9) == 0) {

            zone->hash_key_file.data = value[i].data + 9;
            zone->hash_key_file.len = value[i].len - 9;

            if (ngx_conf_full_name(cf->cycle, &zone->hash_key_file, 1)
                != NGX_OK
                || ngx_http_tier_router_budget_key_file(cf, zone) != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
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

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_tier_router_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used by another module",
                           &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_tier_router_budget_init_zone;
    shm_zone->data = zone;
    zone->shm_zone = shm_zone;
    zone->cycle = cf->cycle;

    zp = ngx_array_push(&trmcf->zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = zone;

    return NGX_CONF_OK;
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
    ssize_t                        n;
    ngx_fd_t                       fd;
    ngx_uint_t                     i;
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
                          ngx_http_tier_router_periods[zone->sh->period],
                          ngx_http_tier_router_periods[zone->period]);
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

        n = 0;
        fd = ngx_open_file("/dev/urandom", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

        if (fd != NGX_INVALID_FILE) {
            n = read(fd, zone->hash_key, 16);
            ngx_close_file(fd);
        }

        if (n != 16) {
            for (i = 0; i < 16; i++) {
                zone->hash_key[i] = (u_char) ngx_random();
            }
        }
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


static void
ngx_http_tier_router_budget_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t              **p;
    ngx_http_tier_router_tenant_t   *t, *tt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            t = (ngx_http_tier_router_tenant_t *) &node->color;
            tt = (ngx_http_tier_router_tenant_t *) &temp->color;

            p = (ngx_memcmp(t->hash, tt->hash, TR_HASH_LEN)
                 < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


ngx_http_tier_router_tenant_t *
ngx_http_tier_router_budget_lookup(ngx_http_tier_router_zone_t *zone,
    u_char *hash)
{
    ngx_int_t                       rc;
    ngx_rbtree_key_t                key;
    ngx_rbtree_node_t              *node, *sentinel;
    ngx_http_tier_router_tenant_t  *t;

    ngx_memcpy(&key, hash, sizeof(ngx_rbtree_key_t));

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        t = (ngx_http_tier_router_tenant_t *) &node->color;

        rc = ngx_memcmp(hash, t->hash, TR_HASH_LEN);

        if (rc == 0) {
            return t;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * The tenant, created if new (its period from now); NULL when the zone is
 * full.  The caller rolls a found tenant's period.
 */

ngx_http_tier_router_tenant_t *
ngx_http_tier_router_budget_tenant(ngx_http_tier_router_zone_t *zone,
    u_char *hash, time_t now, ngx_log_t *log)
{
    size_t                           size;
    ngx_rbtree_node_t               *node;
    ngx_http_tier_router_tenant_t   *t;

    t = ngx_http_tier_router_budget_lookup(zone, hash);

    if (t) {
        ngx_queue_remove(&t->queue);
        ngx_queue_insert_head(&zone->sh->queue, &t->queue);
        ngx_http_tier_router_budget_idle(zone, t);
        return t;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + sizeof(ngx_http_tier_router_tenant_t);

    node = ngx_slab_alloc_locked(zone->shpool, size);

    if (node == NULL
        && ngx_http_tier_router_budget_evict(zone, now) > 0)
    {
        node = ngx_slab_alloc_locked(zone->shpool, size);
    }

    if (node == NULL) {
        zone->sh->full++;

        /* once a second at most: a flood of new keys must not flood logs */

        if (zone->full_logged != ngx_time()) {
            zone->full_logged = ngx_time();

            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "tier router: zone \"%V\" is full: no room for "
                          "a new tenant, and every tenant in it has spend "
                          "in its current period or a request in flight",
                          &zone->name);
        }

        return NULL;
    }

    ngx_memcpy(&node->key, hash, sizeof(ngx_rbtree_key_t));

    t = (ngx_http_tier_router_tenant_t *) &node->color;

    ngx_memzero(&t->label_len,
                sizeof(ngx_http_tier_router_tenant_t)
                - offsetof(ngx_http_tier_router_tenant_t, label_len));

    ngx_memcpy(t->hash, hash, TR_HASH_LEN);
    t->limit = -1;
    t->period_start = ngx_http_tier_router_period_start(zone->sh->period,
                                                        now);
    t->last = now;

    ngx_rbtree_insert(&zone->sh->rbtree, node);
    ngx_queue_insert_head(&zone->sh->queue, &t->queue);
    ngx_http_tier_router_budget_idle(zone, t);

    zone->sh->tenants++;
    zone->sh->generation++;

    return t;
}


/*
 * Frees the least recently seen tenants that have nothing to lose: no
 * request in flight and no spend in the current period.  Those with no
 * spend are in the idle queue, its tail the oldest; those whose spend is
 * of a past period were all seen before any tenant of this one, so they
 * are at the tail of the zone's queue.  Bounded: a few of each.
 */

static ngx_uint_t
ngx_http_tier_router_budget_evict(ngx_http_tier_router_zone_t *zone,
    time_t now)
{
    time_t                          start;
    ngx_uint_t                      n, freed;
    ngx_queue_t                    *q, *prev;
    ngx_http_tier_router_tenant_t  *t;

    start = ngx_http_tier_router_period_start(zone->sh->period, now);
    freed = 0;

    while (freed < 4 && !ngx_queue_empty(&zone->sh->idle)) {
        q = ngx_queue_last(&zone->sh->idle);
        t = ngx_queue_data(q, ngx_http_tier_router_tenant_t, idle_queue);

        ngx_http_tier_router_budget_free(zone, t);
        freed++;
    }

    q = ngx_queue_last(&zone->sh->queue);

    for (n = 0; freed < 4 && n < NGX_HTTP_TIER_ROUTER_EVICT_SCAN; n++) {

        if (q == ngx_queue_sentinel(&zone->sh->queue)) {
            break;
        }

        prev = ngx_queue_prev(q);
        t = ngx_queue_data(q, ngx_http_tier_router_tenant_t, queue);

        if (t->inflight == 0 && t->reserved == 0
            && (t->spent == 0 || t->period_start < start))
        {
            ngx_http_tier_router_budget_free(zone, t);
            freed++;
        }

        q = prev;
    }

    return freed;
}


static void
ngx_http_tier_router_budget_free(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t)
{
    ngx_rbtree_node_t  *node;

    node = (ngx_rbtree_node_t *)
               ((u_char *) t - offsetof(ngx_rbtree_node_t, color));

    if (t->idle) {
        ngx_queue_remove(&t->idle_queue);
    }

    ngx_queue_remove(&t->queue);
    ngx_rbtree_delete(&zone->sh->rbtree, node);
    ngx_slab_free_locked(zone->shpool, node);

    zone->sh->tenants--;
    zone->sh->evicted++;
}


/*
 * Keeps a tenant in the idle queue, as the most recently seen there, while
 * it has nothing to lose, and out of it otherwise.  Called under the lock
 * wherever its spend, reservation or requests in flight change.
 */

void
ngx_http_tier_router_budget_idle(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t)
{
    if (t->idle) {
        ngx_queue_remove(&t->idle_queue);
        t->idle = 0;
    }

    if (t->spent == 0 && t->reserved == 0 && t->inflight == 0) {
        ngx_queue_insert_head(&zone->sh->idle, &t->idle_queue);
        t->idle = 1;
    }
}


/*
 * A new period starts from nothing; what is in flight stays reserved.
 * Only forward: a request admitted before midnight and settled after it
 * must not take its tenant back to the period that has ended.
 */

void
ngx_http_tier_router_budget_roll(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t, time_t now)
{
    time_t  start;

    start = ngx_http_tier_router_period_start(zone->sh->period, now);

    if (zone->sh->period_start < start) {
        zone->sh->period_start = start;
        zone->sh->spent = 0;
        zone->sh->generation++;
    }

    if (t == NULL || t->period_start >= start) {
        return;
    }

    t->period_start = start;
    t->spent = 0;
    t->requests = 0;
    t->estimated = 0;
    t->refused = 0;
    t->capped = 0;
    t->input_tokens = 0;
    t->output_tokens = 0;

    ngx_http_tier_router_budget_idle(zone, t);

    zone->sh->generation++;
}


/* every tenant and the zone start a new period when next seen */

static void
ngx_http_tier_router_budget_restart(ngx_http_tier_router_zone_t *zone)
{
    ngx_queue_t                    *q;
    ngx_http_tier_router_tenant_t  *t;

    zone->sh->period_start = 0;

    for (q = ngx_queue_head(&zone->sh->queue);
         q != ngx_queue_sentinel(&zone->sh->queue);
         q = ngx_queue_next(q))
    {
        t = ngx_queue_data(q, ngx_http_tier_router_tenant_t, queue);
        t->period_start = 0;
    }

    zone->sh->generation++;
}


/* copies at most max tenants, most recently seen first */

ngx_uint_t
ngx_http_tier_router_budget_snapshot(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_snapshot_t *s, ngx_uint_t max)
{
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_http_tier_router_tenant_t  *t;

    n = 0;

    for (q = ngx_queue_head(&zone->sh->queue);
         q != ngx_queue_sentinel(&zone->sh->queue) && n < max;
         q = ngx_queue_next(q))
    {
        t = ngx_queue_data(q, ngx_http_tier_router_tenant_t, queue);

        ngx_memcpy(s[n].hash, t->hash, TR_HASH_LEN);
        ngx_memcpy(s[n].label, t->label, t->label_len);
        s[n].label_len = t->label_len;
        s[n].spent = t->spent;
        s[n].reserved = t->reserved;
        s[n].limit = t->limit;
        s[n].total = t->total;
        s[n].input_tokens = t->input_tokens;
        s[n].output_tokens = t->output_tokens;
        s[n].period_start = t->period_start;
        s[n].last = t->last;
        s[n].requests = t->requests;
        s[n].estimated = t->estimated;
        s[n].inflight = t->inflight;
        s[n].refused = t->refused;
        s[n].capped = t->capped;
        n++;
    }

    return n;
}


/* the state file: written by worker 0 now and then, by the master at exit */

ngx_int_t
ngx_http_tier_router_budget_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                         i;
    ngx_http_tier_router_zone_t      **zp;
    ngx_http_tier_router_main_conf_t  *trmcf;

    if (ngx_process != NGX_PROCESS_WORKER || ngx_worker != 0
        || cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NGX_OK;
    }

    trmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_tier_router_module);
    if (trmcf == NULL) {
        return NGX_OK;
    }

    zp = trmcf->zones.elts;

    for (i = 0; i < trmcf->zones.nelts; i++) {

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
    ngx_uint_t                         i;
    ngx_http_tier_router_zone_t      **zp;
    ngx_http_tier_router_main_conf_t  *trmcf;

    if (cycle->conf_ctx == NULL
        || cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return;
    }

    trmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                                ngx_http_tier_router_module);
    if (trmcf == NULL) {
        return;
    }

    zp = trmcf->zones.elts;

    for (i = 0; i < trmcf->zones.nelts; i++) {
        if (zp[i]->state.len && zp[i]->sh) {
            (void) ngx_http_tier_router_handover_merge(zp[i], cycle->log);
            (void) ngx_http_tier_router_state_save(zp[i], cycle->log);
        }
    }
}


/* UTC calendar periods: days from Monday, months from the 1st */

time_t
ngx_http_tier_router_period_start(ngx_uint_t period, time_t now)
{
    time_t     days;
    ngx_tm_t   tm;

    switch (period) {

    case NGX_HTTP_TIER_ROUTER_PERIOD_DAY:
        return now - now % 86400;

    case NGX_HTTP_TIER_ROUTER_PERIOD_WEEK:
        days = now / 86400;

        /* 1970-01-01 was a Thursday */

        return (days - (days + 3) % 7) * 86400;

    case NGX_HTTP_TIER_ROUTER_PERIOD_MONTH:
        ngx_gmtime(now, &tm);
        return ngx_http_tier_router_days(tm.ngx_tm_year, tm.ngx_tm_mon, 1)
               * 86400;

    default:
        return 0;
    }
}


/* when the period that holds now ends; 0 for "total", which never does */

time_t
ngx_http_tier_router_period_end(ngx_uint_t period, time_t now)
{
    ngx_tm_t  tm;

    switch (period) {

    case NGX_HTTP_TIER_ROUTER_PERIOD_DAY:
        return ngx_http_tier_router_period_start(period, now) + 86400;

    case NGX_HTTP_TIER_ROUTER_PERIOD_WEEK:
        return ngx_http_tier_router_period_start(period, now) + 7 * 86400;

    case NGX_HTTP_TIER_ROUTER_PERIOD_MONTH:
        ngx_gmtime(now, &tm);

        if (tm.ngx_tm_mon == 12) {
            return ngx_http_tier_router_days(tm.ngx_tm_year + 1, 1, 1)
                   * 86400;
        }

        return ngx_http_tier_router_days(tm.ngx_tm_year, tm.ngx_tm_mon + 1, 1)
               * 86400;

    default:
        return 0;
    }
}


const char *
ngx_http_tier_router_period_name(ngx_uint_t period)
{
    return ngx_http_tier_router_periods[period & 3];
}


/* days from 1970-01-01 to a date of the proleptic Gregorian calendar */

static time_t
ngx_http_tier_router_days(ngx_int_t y, ngx_int_t m, ngx_int_t d)
{
    ngx_int_t   era, yoe, doy, doe;

    y -= (m <= 2);
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return (time_t) (era * 146097 + doe - 719468);
}
