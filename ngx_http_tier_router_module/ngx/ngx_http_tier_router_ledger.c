
/*
 * Copyright (C) The tier router authors
 *
 * The shared ledger (tier_router_budget_redis).  Redis keeps, for each
 * tenant and period, the spend every node has settled ("spent") and the
 * lease each node holds ("L:<node>"), in one hash.  Admission stays in
 * shared memory: a node reserves from its lease of the tenant's budget,
 * and asks Redis for more (a Lua script: what the limit leaves after the
 * spend and the other nodes' leases, atomically) only when the lease
 * does not cover a request; the request waits for that answer, not for
 * a blocking call.  Settled spend is sent by worker 0 in batches, each
 * with a sequence number that Redis remembers per node, so a batch sent
 * again (its answer lost, Redis restarted) is never counted twice.  A
 * node's leases last while its heartbeat key does (refreshed every sync
 * interval, dropped after ttl): another node takes back a dead node's
 * leases, and a node that has not reached Redis for half the ttl stops
 * using its own.  Without Redis, tier_router_budget_redis on_error=open
 * admits by this node's view alone (counted, logged), closed refuses
 * what the lease does not cover.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_ledger.h"
#include "ngx_http_tier_router_budget.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_redis.h"
#include "ngx_http_tier_router_zone.h"

#include "tr_hash.h"
#include "tr_period.h"
#include "tr_price.h"


/* tenants in one batch */
#define NGX_HTTP_TIER_ROUTER_LEDGER_BATCH  64

/* a key: prefix:zone:period:hash */
#define NGX_HTTP_TIER_ROUTER_LEDGER_KEY    320


/*
 * KEYS[1] the tenant's hash; ARGV: node, ask, limit (-1: none), what the
 * node holds besides its lease (reservations, spend not sent), the key's
 * lifetime in seconds (0: none), the heartbeats' prefix, the heartbeat's
 * lifetime in ms, the node's lease.  The other nodes' leases count while
 * their heartbeat lives; a lapsed one is taken back.  The node's own is
 * what Redis has (so two of its asks that cross each other add up, and
 * spend a batch has just taken is not counted twice); what the node says
 * it holds if Redis lost the tenant (a restart without persistence); and
 * only what it spends, not its lease, if its own heartbeat had lapsed,
 * since its leases were then given back.  A node holds at most the cap
 * (ARGV[9]), so that asks that cross each other do not pile leases on
 * one node.  Returns {granted, spent, alive}.
 */

static const char  ngx_http_tier_router_ledger_lease_lua[] =
    "local k, node = KEYS[1], ARGV[1]\n"
    "local ask, limit = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local held = tonumber(ARGV[4])\n"
    "local alive = redis.call('SET', ARGV[6] .. node, '1', 'PX', ARGV[7],\n"
    "                         'GET')\n"
    "local hold = held\n"
    "if alive and redis.call('EXISTS', k) == 1 then\n"
    "  hold = tonumber(redis.call('HGET', k, 'L:' .. node) or '0')\n"
    "elseif alive then\n"
    "  hold = held + tonumber(ARGV[8])\n"
    "end\n"
    "local spent = tonumber(redis.call('HGET', k, 'spent') or '0')\n"
    "local h = redis.call('HGETALL', k)\n"
    "local others = 0\n"
    "for i = 1, #h, 2 do\n"
    "  local f = h[i]\n"
    "  if string.sub(f, 1, 2) == 'L:' and string.sub(f, 3) ~= node then\n"
    "    if redis.call('EXISTS', ARGV[6] .. string.sub(f, 3)) == 1 then\n"
    "      others = others + tonumber(h[i + 1])\n"
    "    else\n"
    "      redis.call('HDEL', k, f)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local grant = math.min(ask, math.max(0, tonumber(ARGV[9]) - hold))\n"
    "if limit >= 0 then\n"
    "  grant = math.min(grant, math.max(0, limit - spent - others - hold))\n"
    "end\n"
    "redis.call('HSET', k, 'L:' .. node, string.format('%d', hold + grant))\n"
    "if tonumber(ARGV[5]) > 0 then redis.call('EXPIRE', k, ARGV[5]) end\n"
    "return {grant, spent, alive and 1 or 0}\n";


/*
 * KEYS[1] the nodes' last batches; KEYS[2..] tenants' hashes; ARGV:
 * node, the batch's sequence number, the keys' lifetime in seconds (0:
 * none), then each tenant's amount.  A batch seen already changes
 * nothing.  Returns each tenant's spend.
 */

static const char  ngx_http_tier_router_ledger_settle_lua[] =
    "local node, seq = ARGV[1], tonumber(ARGV[2])\n"
    "local last = tonumber(redis.call('HGET', KEYS[1], node) or '0')\n"
    "local out = {}\n"
    "for i = 2, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  if seq > last then\n"
    "    local amt = tonumber(ARGV[i + 2])\n"
    "    redis.call('HINCRBY', k, 'spent', ARGV[i + 2])\n"
    "    local l = tonumber(redis.call('HGET', k, 'L:' .. node) or '0')\n"
    "    redis.call('HSET', k, 'L:' .. node,\n"
    "               string.format('%d', math.max(0, l - amt)))\n"
    "    if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', k, ARGV[3]) end\n"
    "  end\n"
    "  out[#out + 1] = tonumber(redis.call('HGET', k, 'spent') or '0')\n"
    "end\n"
    "if seq > last then redis.call('HSET', KEYS[1], node, ARGV[2]) end\n"
    "return out\n";


typedef struct {
    ngx_http_request_t             *r;
    ngx_http_tier_router_zone_t    *zone;
    u_char                          hash[TR_HASH_LEN];
    time_t                          period_start;
} ngx_http_tier_router_ledger_ask_t;


typedef struct {
    ngx_http_tier_router_zone_t    *zone;
    ngx_uint_t                      n;
    uint64_t                        seq;
    u_char                          hash[NGX_HTTP_TIER_ROUTER_LEDGER_BATCH]
                                        [TR_HASH_LEN];
    time_t                          period[NGX_HTTP_TIER_ROUTER_LEDGER_BATCH];
    int64_t                         amount[NGX_HTTP_TIER_ROUTER_LEDGER_BATCH];
} ngx_http_tier_router_ledger_batch_t;


static u_char *ngx_http_tier_router_ledger_key(u_char *p,
    ngx_http_tier_router_zone_t *zone, time_t period_start, u_char *hash);
static time_t ngx_http_tier_router_ledger_ttl(
    ngx_http_tier_router_zone_t *zone, time_t period_start);
static void ngx_http_tier_router_ledger_granted(void *data,
    redisReply *reply);
static void ngx_http_tier_router_ledger_sync_handler(ngx_event_t *ev);
static void ngx_http_tier_router_ledger_heartbeat(void *data,
    redisReply *reply);
static void ngx_http_tier_router_ledger_settled(void *data,
    redisReply *reply);
static void ngx_http_tier_router_ledger_up(void *data);
static void ngx_http_tier_router_ledger_lapsed(
    ngx_http_tier_router_zone_t *zone);
static int64_t ngx_http_tier_router_ledger_now(void);


/* the worker is going: an answer no longer resumes a request */
static ngx_uint_t  ngx_http_tier_router_ledger_leaving;


/*
 * tier_router_budget_redis zone=NAME server=ADDR [server=ADDR ...]
 *     [lease=PERCENT%] [min_lease=DOLLARS] [timeout=TIME] [sync=TIME]
 *     [ttl=TIME] [on_error=open|closed] [prefix=STRING]
 */

char *
ngx_http_tier_router_budget_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    int64_t                               amount;
    ngx_str_t                            *value, name, v;
    ngx_int_t                             n;
    ngx_uint_t                            i;
    ngx_http_tier_router_zone_t          *zone;
    ngx_http_tier_router_ledger_conf_t   *lc;

    value = cf->args->elts;

    lc = ngx_pcalloc(cf->pool, sizeof(ngx_http_tier_router_ledger_conf_t));
    if (lc == NULL) {
        return NGX_CONF_ERROR;
    }

    lc->timeout = 250;
    lc->sync = 1000;
    lc->ttl = 30000;
    lc->lease = 1000;
    lc->min_lease = 10000;
    lc->fail = NGX_HTTP_TIER_ROUTER_FAIL_CLOSED;
    ngx_str_set(&lc->prefix, "tier-router");

    name.len = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        v = value[i];

        if (ngx_strncmp(v.data, "zone=", 5) == 0) {
            name.data = v.data + 5;
            name.len = v.len - 5;
            continue;
        }

        if (ngx_strncmp(v.data, "server=", 7) == 0) {
            v.data += 7;
            v.len -= 7;

            if (lc->nservers == NGX_HTTP_TIER_ROUTER_LEDGER_SERVERS
                || ngx_http_tier_router_redis_server(&v,
                                             &lc->servers[lc->nservers])
                   != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid server \"%V\": at most %d, each "
                                   "an IP address and a port", &v,
                                   NGX_HTTP_TIER_ROUTER_LEDGER_SERVERS);
                return NGX_CONF_ERROR;
            }

            lc->nservers++;
            continue;
        }

        if (ngx_strncmp(v.data, "lease=", 6) == 0) {
            if (v.len < 8 || v.data[v.len - 1] != '%') {
                goto invalid;
            }

            amount = tr_price_parse(v.data + 6, v.len - 7);

            /* micro-units of a percent: 10% is 10000000; hundredths */

            if (amount < 10000 || amount > 100000000) {
                goto invalid;
            }

            lc->lease = (ngx_uint_t) (amount / 10000);
            continue;
        }

        if (ngx_strncmp(v.data, "min_lease=", 10) == 0) {
            amount = tr_price_parse(v.data + 10, v.len - 10);

            if (amount < 0) {
                goto invalid;
            }

            lc->min_lease = amount;
            continue;
        }

        if (ngx_strncmp(v.data, "timeout=", 8) == 0
            || ngx_strncmp(v.data, "sync=", 5) == 0
            || ngx_strncmp(v.data, "ttl=", 4) == 0)
        {
            v.data = (u_char *) ngx_strlchr(v.data, v.data + v.len, '=') + 1;
            v.len = value[i].data + value[i].len - v.data;

            n = ngx_parse_time(&v, 0);

            if (n == NGX_ERROR || n < 10 || n > 3600000) {
                goto invalid;
            }

            if (value[i].data[0] == 't' && value[i].data[1] == 'i') {
                lc->timeout = (ngx_msec_t) n;

            } else if (value[i].data[0] == 's') {
                lc->sync = (ngx_msec_t) n;

            } else {
                lc->ttl = (ngx_msec_t) n;
            }

            continue;
        }

        if (ngx_strcmp(v.data, "on_error=open") == 0) {
            lc->fail = NGX_HTTP_TIER_ROUTER_FAIL_OPEN;
            continue;
        }

        if (ngx_strcmp(v.data, "on_error=closed") == 0) {
            lc->fail = NGX_HTTP_TIER_ROUTER_FAIL_CLOSED;
            continue;
        }

        if (ngx_strncmp(v.data, "prefix=", 7) == 0 && v.len > 7
            && v.len < 64)
        {
            lc->prefix.data = v.data + 7;
            lc->prefix.len = v.len - 7;
            continue;
        }

        goto invalid;
    }

    if (name.len == 0 || lc->nservers == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_budget_redis\" needs \"zone=\" "
                           "and \"server=\"");
        return NGX_CONF_ERROR;
    }

    if (lc->ttl < 4 * lc->sync) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ttl\" must be at least 4 times \"sync\"");
        return NGX_CONF_ERROR;
    }

    zone = ngx_http_tier_router_budget_named_zone(cf, &name);

    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->ledger) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" has its redis already", &name);
        return NGX_CONF_ERROR;
    }

    if (!zone->hash_key_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" needs \"hash_key=\" for redis: "
                           "every node must name a tenant alike", &name);
        return NGX_CONF_ERROR;
    }

    if (zone->limit >= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\": a zone-wide \"limit=\" is this "
                           "node's only, and is not shared in redis",
                           &name);
        return NGX_CONF_ERROR;
    }

    zone->ledger = lc;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


int64_t
ngx_http_tier_router_ledger_lease(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t)
{
    int64_t  now;

    now = ngx_http_tier_router_ledger_now();

    /*
     * out of touch for half the ttl: not used until Redis says this
     * node's heartbeat lived on (else its leases are gone, see lapsed)
     */

    if (zone->sh->heartbeat == 0
        || now - zone->sh->heartbeat >= (int64_t) zone->ledger->ttl / 2)
    {
        return 0;
    }

    return ngx_max(t->lease, 0);
}


void
ngx_http_tier_router_ledger_need(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t, int64_t limit, int64_t worst,
    int64_t *ask, int64_t *keep, int64_t *lease)
{
    *lease = ngx_max(t->lease, 0);

    /* a share of the limit at a time, and at least this request */

    *ask = ngx_max(limit / 10000 * (int64_t) zone->ledger->lease,
                   zone->ledger->min_lease);
    *ask = ngx_max(*ask, worst - *lease);

    *keep = tr_amount_add(t->reserved,
                          tr_amount_add(t->unsynced, t->syncing));
}


ngx_int_t
ngx_http_tier_router_ledger_ask(ngx_http_request_t *r,
    ngx_http_tier_router_zone_t *zone, time_t period_start, int64_t limit,
    int64_t ask, int64_t keep, int64_t lease)
{
    u_char                             *p;
    size_t                              len[13];
    ngx_int_t                           rc;
    ngx_http_tier_router_ctx_t         *ctx;
    ngx_http_tier_router_redis_t       *rd;
    ngx_http_tier_router_ledger_ask_t  *a;
    const char                         *argv[13];
    u_char                              key[NGX_HTTP_TIER_ROUTER_LEDGER_KEY];
    u_char                              hb[NGX_HTTP_TIER_ROUTER_LEDGER_KEY];
    u_char                              num[7][NGX_INT64_LEN + 1];

    rd = zone->redis;

    if (rd == NULL || rd->ac == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    a = ngx_palloc(r->pool, sizeof(ngx_http_tier_router_ledger_ask_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    a->r = r;
    a->zone = zone;
    a->period_start = period_start;
    ngx_memcpy(a->hash, ctx->rq->hash, TR_HASH_LEN);

    /*
     * EVAL script 1 key node ask limit keep ttl hb-prefix hb-ttl lease
     * cap
     */

    argv[0] = "EVAL";
    len[0] = 4;
    argv[1] = ngx_http_tier_router_ledger_lease_lua;
    len[1] = sizeof(ngx_http_tier_router_ledger_lease_lua) - 1;
    argv[2] = "1";
    len[2] = 1;

    p = ngx_http_tier_router_ledger_key(key, zone, period_start, a->hash);
    argv[3] = (char *) key;
    len[3] = p - key;

    argv[4] = (char *) zone->node;
    len[4] = ngx_strlen(zone->node);

    p = ngx_sprintf(num[0], "%L", ask);
    argv[5] = (char *) num[0];
    len[5] = p - num[0];

    p = ngx_sprintf(num[1], "%L", limit);
    argv[6] = (char *) num[1];
    len[6] = p - num[1];

    p = ngx_sprintf(num[2], "%L", keep);
    argv[7] = (char *) num[2];
    len[7] = p - num[2];

    p = ngx_sprintf(num[3], "%T",
                    ngx_http_tier_router_ledger_ttl(zone, period_start));
    argv[8] = (char *) num[3];
    len[8] = p - num[3];

    p = ngx_sprintf(hb, "%V:%V:hb:", &zone->ledger->prefix, &zone->name);
    argv[9] = (char *) hb;
    len[9] = p - hb;

    p = ngx_sprintf(num[4], "%M", zone->ledger->ttl);
    argv[10] = (char *) num[4];
    len[10] = p - num[4];

    p = ngx_sprintf(num[5], "%L", lease);
    argv[11] = (char *) num[5];
    len[11] = p - num[5];

    /* at most two leases, or what the request needs and one more */

    p = ngx_sprintf(num[6], "%L",
                    tr_amount_add(tr_amount_add(keep, lease),
                                  tr_amount_add(ask, ask)));
    argv[12] = (char *) num[6];
    len[12] = p - num[6];

    rc = ngx_http_tier_router_redis_command(rd,
                                        ngx_http_tier_router_ledger_granted,
                                        a, 13, argv, len);
    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);
    zone->sh->ledger_asks++;
    zone->sh->ledger_commands++;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ctx->rq->ledger_waiting = 1;

    return NGX_OK;
}


static void
ngx_http_tier_router_ledger_granted(void *data, redisReply *reply)
{
    ngx_http_tier_router_ledger_ask_t *a = data;

    int64_t                         grant, spent;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_tier_router_ctx_t     *ctx;
    ngx_http_tier_router_zone_t    *zone;
    ngx_http_tier_router_tenant_t  *t;

    if (ngx_http_tier_router_ledger_leaving) {
        return;
    }

    r = a->r;
    zone = a->zone;
    ctx = ngx_http_get_module_ctx(r, ngx_http_tier_router_module);

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3
        && reply->element[0]->type == REDIS_REPLY_INTEGER
        && reply->element[1]->type == REDIS_REPLY_INTEGER
        && reply->element[2]->type == REDIS_REPLY_INTEGER
        && reply->element[0]->integer >= 0
        && reply->element[1]->integer >= 0)
    {
        grant = ngx_min(reply->element[0]->integer, TR_AMOUNT_MAX);
        spent = ngx_min(reply->element[1]->integer, TR_AMOUNT_MAX);

        ngx_shmtx_lock(&zone->shpool->mutex);

        if (reply->element[2]->integer == 0) {
            ngx_http_tier_router_ledger_lapsed(zone);
        }

        zone->sh->heartbeat = ngx_http_tier_router_ledger_now();
        zone->sh->ledger_granted = tr_amount_add(zone->sh->ledger_granted,
                                                 grant);

        t = ngx_http_tier_router_budget_lookup(zone, a->hash);

        if (t && t->period_start == a->period_start) {
            t->lease = tr_amount_add(t->lease, grant);
            t->spent = ngx_max(t->spent,
                               tr_amount_add(spent,
                                             tr_amount_add(t->unsynced,
                                                           t->syncing)));
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

    } else {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "tier router: zone \"%V\": redis: %*s",
                          &zone->name, (size_t) reply->len, reply->str);
        }

        ctx->rq->ledger_failed = 1;

        ngx_shmtx_lock(&zone->shpool->mutex);
        zone->sh->ledger_failures++;
        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    /* the request goes on where it waited (handler.c) */

    ctx->rq->ledger_waiting = 0;

    c = r->connection;

    r->write_event_handler(r);
    ngx_http_run_posted_requests(c);
}


const char *
ngx_http_tier_router_ledger_state(ngx_http_tier_router_zone_t *zone)
{
    ngx_http_tier_router_redis_t  *rd = zone->redis;

    if (rd == NULL) {
        return "none";
    }

    switch (rd->state) {
    case NGX_HTTP_TIER_ROUTER_REDIS_UP:
        return "up";
    case NGX_HTTP_TIER_ROUTER_REDIS_CONNECTING:
        return "connecting";
    default:
        return "down";
    }
}


ngx_int_t
ngx_http_tier_router_ledger_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                           i;
    ngx_array_t                         *zones;
    ngx_http_tier_router_zone_t        **zp, *zone;
    ngx_http_tier_router_redis_t        *rd;
    ngx_http_tier_router_ledger_conf_t  *lc;

    if (ngx_process != NGX_PROCESS_WORKER) {
        return NGX_OK;
    }

    zones = ngx_http_tier_router_budget_zones(cycle);

    if (zones == NULL) {
        return NGX_OK;
    }

    zp = zones->elts;

    for (i = 0; i < zones->nelts; i++) {
        zone = zp[i];
        lc = zone->ledger;

        if (lc == NULL) {
            continue;
        }

        rd = ngx_pcalloc(cycle->pool, sizeof(ngx_http_tier_router_redis_t));
        if (rd == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(rd->servers, lc->servers, sizeof(lc->servers));
        rd->nservers = lc->nservers;
        rd->timeout = lc->timeout;
        rd->log = cycle->log;
        rd->name = zone->name;
        rd->data = zone;
        rd->up = ngx_http_tier_router_ledger_up;

        (void) ngx_sprintf(zone->node, "%016uxL%Z", zone->sh->instance);

        zone->redis = rd;

        ngx_http_tier_router_redis_start(rd);

        /*
         * worker 0 syncs; every worker, leaving, sends what is left (not
         * cancelable: a worker leaving waits for it, a few syncs at most)
         */

        zone->sync_event.handler = ngx_http_tier_router_ledger_sync_handler;
        zone->sync_event.data = zone;
        zone->sync_event.log = cycle->log;

        ngx_add_timer(&zone->sync_event, lc->sync);
    }

    return NGX_OK;
}


/* worker 0, connected: the heartbeat and what waits, at once */

static void
ngx_http_tier_router_ledger_up(void *data)
{
    ngx_http_tier_router_zone_t *zone = data;

    if (ngx_worker == 0 && zone->sync_event.handler && !ngx_exiting
        && !zone->sync_event.posted)
    {
        ngx_post_event(&zone->sync_event, &ngx_posted_events);
    }
}


void
ngx_http_tier_router_ledger_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_array_t                   *zones;
    ngx_http_tier_router_zone_t  **zp;

    ngx_http_tier_router_ledger_leaving = 1;

    zones = ngx_http_tier_router_budget_zones(cycle);

    if (zones == NULL) {
        return;
    }

    zp = zones->elts;

    for (i = 0; i < zones->nelts; i++) {
        if (zp[i]->redis) {
            ngx_http_tier_router_redis_stop(zp[i]->redis);
        }
    }
}


/*
 * Worker 0, every sync interval: the heartbeat, then the spend not sent
 * yet.  Any worker leaving: the spend not sent yet.
 */

static void
ngx_http_tier_router_ledger_sync_handler(ngx_event_t *ev)
{
    u_char                         *p;
    size_t                          len[6];
    const char                     *argv[6];
    ngx_http_tier_router_zone_t    *zone;
    ngx_http_tier_router_redis_t   *rd;
    u_char                          hb[NGX_HTTP_TIER_ROUTER_LEDGER_KEY];
    u_char                          ttl[NGX_INT64_LEN];

    zone = ev->data;
    rd = zone->redis;

    if (ngx_worker != 0 && !ngx_exiting) {
        ngx_add_timer(ev, zone->ledger->sync);
        return;
    }

    if (rd && rd->state == NGX_HTTP_TIER_ROUTER_REDIS_UP) {

        p = ngx_sprintf(hb, "%V:%V:hb:%s", &zone->ledger->prefix,
                        &zone->name, zone->node);

        argv[0] = "SET";
        len[0] = 3;
        argv[1] = (char *) hb;
        len[1] = p - hb;
        argv[2] = "1";
        len[2] = 1;
        argv[3] = "PX";
        len[3] = 2;

        p = ngx_sprintf(ttl, "%M", zone->ledger->ttl);
        argv[4] = (char *) ttl;
        len[4] = p - ttl;

        /* GET: whether it had lapsed, and the leases with it */

        argv[5] = "GET";
        len[5] = 3;

        if (ngx_http_tier_router_redis_command(rd,
                                       ngx_http_tier_router_ledger_heartbeat,
                                       zone, 6, argv, len)
            == NGX_OK)
        {
            ngx_shmtx_lock(&zone->shpool->mutex);
            zone->sh->ledger_commands++;
            ngx_shmtx_unlock(&zone->shpool->mutex);
        }

        ngx_http_tier_router_ledger_send(zone);
    }

    if (ev->timer_set || ngx_terminate) {
        return;
    }

    /* leaving: again while spend is left to send, five times at most */

    if (ngx_exiting
        && (zone->final++ >= 5
            || (zone->sh->unsynced == 0 && zone->sh->sync_out == 0)))
    {
        return;
    }

    ngx_add_timer(ev, zone->ledger->sync);
}


static void
ngx_http_tier_router_ledger_heartbeat(void *data, redisReply *reply)
{
    ngx_http_tier_router_zone_t *zone = data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (reply && (reply->type == REDIS_REPLY_STRING
                  || reply->type == REDIS_REPLY_NIL))
    {
        if (reply->type == REDIS_REPLY_NIL) {
            ngx_http_tier_router_ledger_lapsed(zone);
        }

        zone->sh->heartbeat = ngx_http_tier_router_ledger_now();

    } else {
        zone->sh->ledger_failures++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * The batch: the one out, again, if Redis has not taken it (the same
 * tenants, amounts and number, so Redis counts it once), else the spend
 * not sent, which becomes the batch out.  Any worker sends one: worker 0
 * every sync interval, a worker about to ask for a lease at once (so
 * that a node never holds more than a lease of spend Redis has not
 * seen); one batch out at a time, and one whose worker got no answer,
 * or went away, is sent again by the next after twice the timeout.
 */

void
ngx_http_tier_router_ledger_send(ngx_http_tier_router_zone_t *zone)
{
    u_char                               *p, *b, *buf;
    size_t                                size;
    int64_t                               now;
    ngx_int_t                             rc;
    ngx_uint_t                            i, n, argc;
    ngx_queue_t                          *q;
    ngx_http_tier_router_tenant_t        *t;
    ngx_http_tier_router_budget_sh_t     *sh;
    ngx_http_tier_router_ledger_batch_t  *batch;
    const char                          **argv;
    size_t                               *len;

    if (zone->batch_out || zone->redis == NULL
        || ((ngx_http_tier_router_redis_t *) zone->redis)->ac == NULL)
    {
        return;
    }

    batch = ngx_alloc(sizeof(ngx_http_tier_router_ledger_batch_t),
                      ngx_cycle->log);
    if (batch == NULL) {
        return;
    }

    sh = zone->sh;
    n = 0;
    now = ngx_http_tier_router_ledger_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    /*
     * nothing to send (no tenant is looked at then), or another worker's
     * batch out and not timed out: its own
     */

    if ((!sh->sync_out && sh->unsynced == 0)
        || (sh->sync_out
            && now - sh->sync_sent < 2 * (int64_t) zone->ledger->timeout))
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_free(batch);
        return;
    }

    for (q = ngx_queue_head(&sh->queue);
         q != ngx_queue_sentinel(&sh->queue)
         && n < NGX_HTTP_TIER_ROUTER_LEDGER_BATCH;
         q = ngx_queue_next(q))
    {
        t = ngx_queue_data(q, ngx_http_tier_router_tenant_t, queue);

        if (sh->sync_out ? (t->syncing == 0) : (t->unsynced == 0)) {
            continue;
        }

        if (!sh->sync_out) {
            t->syncing = t->unsynced;
            t->unsynced = 0;
            sh->unsynced -= ngx_min(sh->unsynced, t->syncing);
        }

        ngx_memcpy(batch->hash[n], t->hash, TR_HASH_LEN);
        batch->period[n] = t->period_start;
        batch->amount[n] = t->syncing;
        n++;
    }

    if (n && !sh->sync_out) {
        sh->sync_seq++;
        sh->sync_out = 1;
    }

    batch->seq = sh->sync_seq;
    batch->n = n;
    batch->zone = zone;

    if (n) {
        sh->ledger_commands++;
        sh->sync_sent = now;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (n == 0) {
        ngx_free(batch);
        return;
    }

    /* EVAL script 1+n applied key... node seq ttl amount... */

    argc = 7 + 2 * n;
    size = argc * (sizeof(char *) + sizeof(size_t))
           + (n + 1) * NGX_HTTP_TIER_ROUTER_LEDGER_KEY
           + (n + 3) * (NGX_INT64_LEN + 1);

    buf = ngx_alloc(size, ngx_cycle->log);
    if (buf == NULL) {
        ngx_free(batch);
        return;
    }

    argv = (const char **) buf;
    len = (size_t *) (buf + argc * sizeof(char *));
    b = buf + argc * (sizeof(char *) + sizeof(size_t));

    argv[0] = "EVAL";
    len[0] = 4;
    argv[1] = ngx_http_tier_router_ledger_settle_lua;
    len[1] = sizeof(ngx_http_tier_router_ledger_settle_lua) - 1;

    argv[2] = (char *) b;
    p = ngx_sprintf(b, "%ui", n + 1);
    len[2] = p - b;
    b = p;

    argv[3] = (char *) b;
    p = ngx_sprintf(b, "%V:%V:applied", &zone->ledger->prefix, &zone->name);
    len[3] = p - b;
    b = p;

    for (i = 0; i < n; i++) {
        argv[4 + i] = (char *) b;
        p = ngx_http_tier_router_ledger_key(b, zone, batch->period[i],
                                            batch->hash[i]);
        len[4 + i] = p - b;
        b = p;
    }

    argv[4 + n] = (char *) zone->node;
    len[4 + n] = ngx_strlen(zone->node);

    argv[5 + n] = (char *) b;
    p = ngx_sprintf(b, "%uL", batch->seq);
    len[5 + n] = p - b;
    b = p;

    argv[6 + n] = (char *) b;
    p = ngx_sprintf(b, "%T",
                    ngx_http_tier_router_ledger_ttl(zone, batch->period[0]));
    len[6 + n] = p - b;
    b = p;

    for (i = 0; i < n; i++) {
        argv[7 + n + i] = (char *) b;
        p = ngx_sprintf(b, "%L", batch->amount[i]);
        len[7 + n + i] = p - b;
        b = p;
    }

    rc = ngx_http_tier_router_redis_command(zone->redis,
                                        ngx_http_tier_router_ledger_settled,
                                        batch, (int) argc, argv, len);

    ngx_free(buf);

    if (rc != NGX_OK) {
        ngx_free(batch);
        return;
    }

    zone->batch_out = 1;
}


static void
ngx_http_tier_router_ledger_settled(void *data, redisReply *reply)
{
    ngx_http_tier_router_ledger_batch_t *batch = data;

    ngx_uint_t                      i, ok, more;
    ngx_http_tier_router_zone_t    *zone;
    ngx_http_tier_router_tenant_t  *t;

    zone = batch->zone;
    zone->batch_out = 0;

    ok = (reply && reply->type == REDIS_REPLY_ARRAY
          && reply->elements == batch->n);

    for (i = 0; ok && i < batch->n; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER
            || reply->element[i]->integer < 0)
        {
            ok = 0;
        }
    }

    if (!ok && reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tier router: zone \"%V\": redis: %*s",
                      &zone->name, (size_t) reply->len, reply->str);
    }

    more = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (!ok) {

        /* out still: sent again, as it is, at the next sync */

        zone->sh->ledger_failures++;
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_free(batch);
        return;
    }

    for (i = 0; i < batch->n; i++) {
        t = ngx_http_tier_router_budget_lookup(zone, batch->hash[i]);

        if (t == NULL) {
            continue;
        }

        t->syncing = 0;

        if (t->period_start == batch->period[i]) {
            t->spent = tr_amount_add(ngx_min(reply->element[i]->integer,
                                             TR_AMOUNT_MAX),
                                     t->unsynced);
        }

        ngx_http_tier_router_budget_idle(zone, t);
    }

    zone->sh->sync_out = 0;
    zone->sh->ledger_syncs++;
    zone->sh->heartbeat = ngx_http_tier_router_ledger_now();
    zone->sh->generation++;

    more = (zone->sh->unsynced != 0);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_free(batch);

    /* a full batch: the rest now, not a sync interval later */

    if (more && i == NGX_HTTP_TIER_ROUTER_LEDGER_BATCH) {
        ngx_http_tier_router_ledger_send(zone);
    }
}


/*
 * Under the lock: the node's heartbeat had lapsed (or never was), so
 * other nodes may have taken its leases back: none is used again.
 */

static void
ngx_http_tier_router_ledger_lapsed(ngx_http_tier_router_zone_t *zone)
{
    ngx_queue_t                    *q;
    ngx_http_tier_router_tenant_t  *t;

    for (q = ngx_queue_head(&zone->sh->queue);
         q != ngx_queue_sentinel(&zone->sh->queue);
         q = ngx_queue_next(q))
    {
        t = ngx_queue_data(q, ngx_http_tier_router_tenant_t, queue);

        if (t->lease > 0) {
            t->lease = 0;
        }
    }
}


static u_char *
ngx_http_tier_router_ledger_key(u_char *p, ngx_http_tier_router_zone_t *zone,
    time_t period_start, u_char *hash)
{
    p = ngx_sprintf(p, "%V:%V:%T:", &zone->ledger->prefix, &zone->name,
                    period_start);

    return ngx_hex_dump(p, hash, TR_HASH_LEN);
}


/* a tenant's key lives a day past its period's end; "total" forever */

static time_t
ngx_http_tier_router_ledger_ttl(ngx_http_tier_router_zone_t *zone,
    time_t period_start)
{
    time_t  end;

    end = tr_period_end(zone->sh->period, period_start);

    if (end == 0) {
        return 0;
    }

    return ngx_max(end - ngx_time(), 0) + 86400;
}


static int64_t
ngx_http_tier_router_ledger_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + (int64_t) tp->msec;
}
