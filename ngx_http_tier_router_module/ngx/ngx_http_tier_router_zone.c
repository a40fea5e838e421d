
/*
 * Copyright (C) The tier router authors
 *
 * A budget zone's tenant table in shared memory: tenants by key hash in a
 * red-black tree, created on first sight (the least recently seen evicted
 * when the zone is full, idle ones first), their periods rolled on the
 * UTC calendar, and a snapshot of them for the state file and the status
 * page.  Called with the zone's mutex held.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_zone.h"
#include "ngx_http_tier_router_module.h"

#include "tr_hash.h"
#include "tr_period.h"


/* stale tenants looked at from the tail when no idle one is left */
#define NGX_HTTP_TIER_ROUTER_EVICT_SCAN  64


static ngx_uint_t ngx_http_tier_router_budget_evict(
    ngx_http_tier_router_zone_t *zone, time_t now);
static void ngx_http_tier_router_budget_free(
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_tenant_t *t);


void
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
    t->alerted = 0;
    t->limit = -1;
    t->period_start = tr_period_start(zone->sh->period, now);
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

    start = tr_period_start(zone->sh->period, now);
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

        if (t->inflight == 0 && t->reserved == 0 && t->unsynced == 0
            && t->syncing == 0 && (t->spent == 0 || t->period_start < start))
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

    if (t->spent == 0 && t->reserved == 0 && t->inflight == 0
        && t->unsynced == 0 && t->syncing == 0)
    {
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

    start = tr_period_start(zone->sh->period, now);

    if (zone->sh->period_start < start) {
        zone->sh->period_start = start;
        zone->sh->spent = 0;
        zone->sh->baseline = 0;
        zone->sh->generation++;
    }

    if (t == NULL || t->period_start >= start) {
        return;
    }

    t->period_start = start;
    t->spent = 0;
    t->baseline = 0;
    t->requests = 0;
    t->estimated = 0;
    t->refused = 0;
    t->capped = 0;
    t->input_tokens = 0;
    t->output_tokens = 0;
    t->alerted = 0;

    /* a lease is of a period; what is not sent yet goes all the same */

    t->lease = 0;

    ngx_http_tier_router_budget_idle(zone, t);

    zone->sh->generation++;
}


/* every tenant and the zone start a new period when next seen */

void
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
        s[n].baseline = t->baseline;
        s[n].input_tokens = t->input_tokens;
        s[n].output_tokens = t->output_tokens;
        s[n].period_start = t->period_start;
        s[n].last = t->last;
        s[n].requests = t->requests;
        s[n].estimated = t->estimated;
        s[n].inflight = t->inflight;
        s[n].refused = t->refused;
        s[n].capped = t->capped;
        s[n].alerted = t->alerted;
        s[n].lease = t->lease;
        s[n].unsynced = t->unsynced + t->syncing;
        n++;
    }

    return n;
}


/* proves the key a file was written under without telling it */

void
ngx_http_tier_router_zone_key_check(ngx_http_tier_router_zone_t *zone,
    u_char *out)
{
    u_char  h[16];

    tr_hash(zone->hash_key,
            (u_char *) "tier-router-key-check", 21, h);
    out = ngx_hex_dump(out, h, 16);
    *out = '\0';
}
