
/*
 * Copyright (C) The tier router authors
 *
 * Budget alerts (tier_router_budget_alert).  When a settlement takes a
 * tenant's spend to one of the operator's thresholds (80%, 90%, 100% of
 * its limit), the threshold is marked in the tenant, under the zone's
 * lock, so it is alerted once per period whatever the worker, and an
 * alert is put in the zone's queue in shared memory.  The worker that
 * settled sends it at once; every worker looks at the queue each second,
 * for alerts due for a retry and for those whose sender died.  The POST
 * goes through libcurl's multi interface in the event loop (curl.c): no
 * worker ever waits for the receiver.  A failure is retried with
 * exponential backoff; an alert that never got a 2xx is given up after
 * its retries, and counted.  Delivery is at least once: the alert's id
 * (also its Idempotency-Key) lets a receiver drop a second copy.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_tier_router_alert.h"
#include "ngx_http_tier_router_budget.h"
#include "ngx_http_tier_router_curl.h"
#include "ngx_http_tier_router_module.h"

#include "tr_hash.h"
#include "tr_period.h"


/* how often a worker looks at the queue; alerts one worker sends at once */
#define NGX_HTTP_TIER_ROUTER_ALERT_TICK      1000
#define NGX_HTTP_TIER_ROUTER_ALERT_BATCH     16

/* a sender's lease beyond its timeout; the longest wait between tries */
#define NGX_HTTP_TIER_ROUTER_ALERT_LEASE     5000
#define NGX_HTTP_TIER_ROUTER_ALERT_MAX_WAIT  3600000


typedef struct {
    ngx_http_tier_router_zone_t   *zone;
    ngx_uint_t                     index;
    uint32_t                       seq;
    char                          *body;
    struct curl_slist             *headers;
} ngx_http_tier_router_alert_send_t;


static ngx_int_t ngx_http_tier_router_alert_at(ngx_conf_t *cf,
    ngx_http_tier_router_alert_conf_t *ac, ngx_str_t *v);
static ngx_int_t ngx_http_tier_router_alert_queue(
    ngx_http_tier_router_zone_t *zone, ngx_http_tier_router_tenant_t *t,
    ngx_uint_t percent, time_t now, ngx_log_t *log);
static void ngx_http_tier_router_alert_handler(ngx_event_t *ev);
static void ngx_http_tier_router_alert_send(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_alert_t *a, ngx_uint_t index);
static char *ngx_http_tier_router_alert_body(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_alert_t *a, u_char *id);
static void ngx_http_tier_router_alert_done(void *data, CURLcode result,
    long status);
static void ngx_http_tier_router_alert_wake(ngx_http_tier_router_zone_t *zone,
    ngx_msec_t delay);
static int64_t ngx_http_tier_router_alert_now(void);


/*
 * tier_router_budget_alert zone=NAME url=URL [at=P[,P...]] [timeout=TIME]
 *     [retries=N] [backoff=TIME] [queue=N]
 */

char *
ngx_http_tier_router_budget_alert(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t                          *value, name, v;
    ngx_int_t                           n;
    ngx_uint_t                          i;
    ngx_http_tier_router_zone_t        *zone;
    ngx_http_tier_router_alert_conf_t  *ac;

    value = cf->args->elts;

    ac = ngx_pcalloc(cf->pool, sizeof(ngx_http_tier_router_alert_conf_t));
    if (ac == NULL) {
        return NGX_CONF_ERROR;
    }

    ac->at[0] = 80;
    ac->at[1] = 90;
    ac->at[2] = 100;
    ac->nat = 3;
    ac->timeout = 5000;
    ac->backoff = 1000;
    ac->retries = 5;
    ac->queue = 64;

    name.len = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            name.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "url=", 4) == 0) {
            v.data = value[i].data + 4;
            v.len = value[i].len - 4;

            if ((v.len <= 7 || ngx_strncasecmp(v.data, (u_char *) "http://", 7)
                               != 0)
                && (v.len <= 8
                    || ngx_strncasecmp(v.data, (u_char *) "https://", 8)
                       != 0))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid url \"%V\": an http:// or "
                                   "https:// url is needed", &v);
                return NGX_CONF_ERROR;
            }

            /* the argument is null-terminated, as libcurl takes it */

            ac->url = v;
            continue;
        }

        if (ngx_strncmp(value[i].data, "at=", 3) == 0) {
            v.data = value[i].data + 3;
            v.len = value[i].len - 3;

            if (ngx_http_tier_router_alert_at(cf, ac, &v) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0
            || ngx_strncmp(value[i].data, "backoff=", 8) == 0)
        {
            v.data = value[i].data + 8;
            v.len = value[i].len - 8;

            n = ngx_parse_time(&v, 0);

            if (n == NGX_ERROR || n < 10 || n > 600000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid time \"%V\": from 10ms to 10m",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            if (value[i].data[0] == 't') {
                ac->timeout = (ngx_msec_t) n;

            } else {
                ac->backoff = (ngx_msec_t) n;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "retries=", 8) == 0) {
            n = ngx_atoi(value[i].data + 8, value[i].len - 8);

            if (n == NGX_ERROR || n > 20) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": from 0 to 20",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            ac->retries = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "queue=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (n == NGX_ERROR || n < 1 || n > 4096) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": from 1 to 4096",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            ac->queue = (ngx_uint_t) n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0 || ac->url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_budget_alert\" needs \"zone=\" "
                           "and \"url=\"");
        return NGX_CONF_ERROR;
    }

    zone = ngx_http_tier_router_budget_named_zone(cf, &name);

    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->alert) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" has its alerts already", &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tier_router_curl_global(cf->log) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    zone->alert = ac;

    return NGX_CONF_OK;
}


/* at=80,90,100: percentages of the limit, ascending */

static ngx_int_t
ngx_http_tier_router_alert_at(ngx_conf_t *cf,
    ngx_http_tier_router_alert_conf_t *ac, ngx_str_t *v)
{
    u_char     *p, *last, *comma;
    ngx_int_t   n;

    ac->nat = 0;

    p = v->data;
    last = v->data + v->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');

        if (comma == NULL) {
            comma = last;
        }

        n = ngx_atoi(p, comma - p);

        if (n == NGX_ERROR || n < 1 || n > 250
            || ac->nat == NGX_HTTP_TIER_ROUTER_ALERT_AT
            || (ac->nat && (ngx_uint_t) n <= ac->at[ac->nat - 1]))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"at=%V\": at most %d ascending "
                               "percentages of the limit, from 1 to 250",
                               v, NGX_HTTP_TIER_ROUTER_ALERT_AT);
            return NGX_ERROR;
        }

        ac->at[ac->nat++] = (ngx_uint_t) n;

        p = comma + 1;
    }

    if (ac->nat == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty \"at=\"");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Under the lock, after a settlement: the thresholds the tenant's spend
 * has reached in its period and that were not alerted yet.  Marked in the
 * tenant whether or not the queue had room, so never alerted twice.
 */

ngx_uint_t
ngx_http_tier_router_alert_check(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t, time_t now, ngx_log_t *log)
{
    int64_t                             due;
    ngx_uint_t                          i, queued, reached;
    ngx_http_tier_router_alert_conf_t  *ac;

    ac = zone->alert;

    if (ac == NULL || t->limit <= 0) {
        return 0;
    }

    queued = 0;
    reached = t->alerted;

    for (i = 0; i < ac->nat; i++) {

        if (ac->at[i] <= t->alerted) {
            continue;
        }

        /* the limit is at most $10^6, 10^12 micro-dollars: no overflow */

        due = (t->limit * (int64_t) ac->at[i] + 99) / 100;

        if (t->spent < due) {
            break;
        }

        reached = ac->at[i];

        if (ngx_http_tier_router_alert_queue(zone, t, ac->at[i], now, log)
            == NGX_OK)
        {
            queued++;
        }
    }

    t->alerted = (u_char) reached;

    return queued;
}


static ngx_int_t
ngx_http_tier_router_alert_queue(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_tenant_t *t, ngx_uint_t percent, time_t now,
    ngx_log_t *log)
{
    ngx_uint_t                         i;
    ngx_http_tier_router_alert_t      *a;
    ngx_http_tier_router_budget_sh_t  *sh;

    sh = zone->sh;

    /* the queue is made when first needed: a reload may add alerts */

    if (sh->alerts == NULL) {
        sh->alerts = ngx_slab_calloc_locked(zone->shpool,
                                zone->alert->queue
                                * sizeof(ngx_http_tier_router_alert_t));
        if (sh->alerts == NULL) {
            sh->alerts_dropped++;
            goto dropped;
        }

        sh->nalerts = zone->alert->queue;
    }

    for (i = 0; i < sh->nalerts; i++) {
        if (sh->alerts[i].state == NGX_HTTP_TIER_ROUTER_ALERT_FREE) {
            break;
        }
    }

    if (i == sh->nalerts) {
        sh->alerts_dropped++;
        goto dropped;
    }

    a = &sh->alerts[i];

    ngx_memzero(a, sizeof(ngx_http_tier_router_alert_t));

    a->state = NGX_HTTP_TIER_ROUTER_ALERT_PENDING;
    a->percent = (u_char) percent;
    a->seq = ++sh->alert_seq;
    ngx_memcpy(a->hash, t->hash, TR_HASH_LEN);
    ngx_memcpy(a->label, t->label, t->label_len);
    a->label_len = t->label_len;
    a->spent = t->spent;
    a->limit = t->limit;
    a->period_start = t->period_start;
    a->at = now;
    a->next = 0;

    sh->alerts_pending++;
    sh->alerts_queued++;
    sh->generation++;

    return NGX_OK;

dropped:

    if (zone->dropped_logged != ngx_time()) {
        zone->dropped_logged = ngx_time();

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "tier router: the alert queue of zone \"%V\" is "
                      "full: an alert at %ui%% is dropped", &zone->name,
                      percent);
    }

    return NGX_DECLINED;
}


void
ngx_http_tier_router_alert_kick(ngx_http_tier_router_zone_t *zone)
{
    if (zone->alert && zone->alert_event.handler && !ngx_exiting) {
        ngx_post_event(&zone->alert_event, &ngx_posted_events);
    }
}


ngx_int_t
ngx_http_tier_router_alert_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i;
    ngx_event_t                  *ev;
    ngx_array_t                  *zones;
    ngx_http_tier_router_zone_t **zp;

    zones = ngx_http_tier_router_budget_zones(cycle);

    if (ngx_process != NGX_PROCESS_WORKER || zones == NULL) {
        return NGX_OK;
    }

    zp = zones->elts;

    for (i = 0; i < zones->nelts; i++) {

        if (zp[i]->alert == NULL) {
            continue;
        }

        ev = &zp[i]->alert_event;

        ev->handler = ngx_http_tier_router_alert_handler;
        ev->data = zp[i];
        ev->log = cycle->log;

        /* what is queued outlives the worker: another sends it */

        ev->cancelable = 1;

        ngx_add_timer(ev, NGX_HTTP_TIER_ROUTER_ALERT_TICK);
    }

    return NGX_OK;
}


/* a worker leaving puts what it was sending back in the queue */

void
ngx_http_tier_router_alert_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_tier_router_curl_exit();
}


/* the queue's due alerts, claimed under the lock and sent without it */

static void
ngx_http_tier_router_alert_handler(ngx_event_t *ev)
{
    int64_t                            now;
    ngx_uint_t                         i, n;
    ngx_http_tier_router_zone_t       *zone;
    ngx_http_tier_router_alert_t      *a;
    ngx_http_tier_router_budget_sh_t  *sh;
    ngx_uint_t                         index[NGX_HTTP_TIER_ROUTER_ALERT_BATCH];
    ngx_http_tier_router_alert_t       claimed[
                                       NGX_HTTP_TIER_ROUTER_ALERT_BATCH];

    zone = ev->data;
    sh = zone->sh;
    n = 0;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    /* a read without the lock: only a hint */

    if (sh->alerts_pending == 0) {
        goto next;
    }

    now = ngx_http_tier_router_alert_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < sh->nalerts && sh->alerts; i++) {
        a = &sh->alerts[i];

        if (a->state == NGX_HTTP_TIER_ROUTER_ALERT_FREE || a->next > now) {
            continue;
        }

        if (n == NGX_HTTP_TIER_ROUTER_ALERT_BATCH
            || ngx_http_tier_router_curl_running() + n
               >= NGX_HTTP_TIER_ROUTER_ALERT_BATCH)
        {
            break;
        }

        if (a->state == NGX_HTTP_TIER_ROUTER_ALERT_SENDING) {
            ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                          "tier router: an alert of zone \"%V\" was being "
                          "sent by a worker that is gone: sent again",
                          &zone->name);
        }

        a->state = NGX_HTTP_TIER_ROUTER_ALERT_SENDING;
        a->attempts += (a->attempts < 255);
        a->next = now + zone->alert->timeout
                  + NGX_HTTP_TIER_ROUTER_ALERT_LEASE;

        claimed[n] = *a;
        index[n] = i;
        n++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    for (i = 0; i < n; i++) {
        ngx_http_tier_router_alert_send(zone, &claimed[i], index[i]);
    }

next:

    ngx_add_timer(ev, NGX_HTTP_TIER_ROUTER_ALERT_TICK);
}


static void
ngx_http_tier_router_alert_send(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_alert_t *a, ngx_uint_t index)
{
    u_char                              id[2 * TR_HASH_LEN + 1];
    u_char                              line[64 + 2 * TR_HASH_LEN];
    CURL                               *easy;
    struct curl_slist                  *h;
    ngx_http_tier_router_alert_send_t  *s;
    ngx_http_tier_router_alert_conf_t  *ac;

    ac = zone->alert;

    s = ngx_calloc(sizeof(ngx_http_tier_router_alert_send_t),
                   ngx_cycle->log);
    if (s == NULL) {
        goto failed;
    }

    s->zone = zone;
    s->index = index;
    s->seq = a->seq;

    s->body = ngx_http_tier_router_alert_body(zone, a, id);
    if (s->body == NULL) {
        goto failed;
    }

    ngx_sprintf(line, "Idempotency-Key: %s%Z", id);

    h = curl_slist_append(NULL, "Content-Type: application/json");
    s->headers = h;

    h = h ? curl_slist_append(h, (char *) line) : NULL;
    s->headers = h ? h : s->headers;

    h = h ? curl_slist_append(h, "Expect:") : NULL;
    s->headers = h ? h : s->headers;

    easy = (h == NULL) ? NULL : curl_easy_init();

    if (easy == NULL) {
        goto failed;
    }

    (void) curl_easy_setopt(easy, CURLOPT_URL, (char *) ac->url.data);
    (void) curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    (void) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, s->headers);
    (void) curl_easy_setopt(easy, CURLOPT_POSTFIELDS, s->body);
    (void) curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE,
                            (long) ngx_strlen(s->body));
    (void) curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) ac->timeout);
    (void) curl_easy_setopt(easy, CURLOPT_USERAGENT, "nginx-tier-router");

    if (ngx_http_tier_router_curl_start(easy,
                                        ngx_http_tier_router_alert_done, s,
                                        ngx_cycle->log)
        != NGX_OK)
    {
        curl_easy_cleanup(easy);
        goto failed;
    }

    return;

failed:

    if (s == NULL) {

        /* no memory to tell it: the lease runs out, another try takes it */

        return;
    }

    ngx_http_tier_router_alert_done(s, CURLE_FAILED_INIT, 0);
}


static char *
ngx_http_tier_router_alert_body(ngx_http_tier_router_zone_t *zone,
    ngx_http_tier_router_alert_t *a, u_char *id)
{
    char     *body;
    u_char    hash[2 * TR_HASH_LEN + 1], key[TR_HASH_LEN];
    u_char    buf[TR_HASH_LEN + 64];
    u_char   *p;
    json_t   *j;

    ngx_hex_dump(hash, a->hash, TR_HASH_LEN);
    hash[2 * TR_HASH_LEN] = '\0';

    /* the same alert has the same id, whoever sends it, however often */

    p = ngx_cpymem(buf, a->hash, TR_HASH_LEN);
    p = ngx_sprintf(p, "%T:%ud", a->period_start, (unsigned) a->percent);

    tr_hash(zone->hash_key, buf, p - buf, key);
    ngx_hex_dump(id, key, TR_HASH_LEN);
    id[2 * TR_HASH_LEN] = '\0';

    j = json_pack("{s:s, s:s, s:s%, s:s%, s:s, s:s%, s:i, s:I, s:I, s:f, "
                  "s:f, s:s, s:I, s:I, s:I, s:i}",
                  "type", "budget.threshold",
                  "id", (char *) id,
                  "zone", (char *) zone->name.data, zone->name.len,
                  "tenant", a->label_len ? (char *) a->label : (char *) hash,
                  a->label_len ? (size_t) a->label_len : 2 * TR_HASH_LEN,
                  "hash", (char *) hash,
                  "label", (char *) a->label, (size_t) a->label_len,
                  "threshold_percent", (int) a->percent,
                  "spent_micro_usd", (json_int_t) a->spent,
                  "limit_micro_usd", (json_int_t) a->limit,
                  "spent_usd", (double) a->spent / 1000000,
                  "limit_usd", (double) a->limit / 1000000,
                  "period", tr_period_name(zone->sh->period),
                  "period_start", (json_int_t) a->period_start,
                  "period_end",
                  (json_int_t) tr_period_end(zone->sh->period,
                                             a->period_start),
                  "crossed_at", (json_int_t) a->at,
                  "attempt", (int) a->attempts);

    if (j == NULL) {
        return NULL;
    }

    body = json_dumps(j, JSON_COMPACT);
    json_decref(j);

    return body;
}


/* a try's end: sent, another try later, or given up */

static void
ngx_http_tier_router_alert_done(void *data, CURLcode result, long status)
{
    ngx_http_tier_router_alert_send_t *s = data;

    int64_t                             now;
    ngx_msec_t                          wait;
    ngx_uint_t                          attempts, percent, outcome;
    ngx_http_tier_router_zone_t        *zone;
    ngx_http_tier_router_alert_t       *a;
    ngx_http_tier_router_budget_sh_t   *sh;
    ngx_http_tier_router_alert_conf_t  *ac;

    enum { ALERT_GONE, ALERT_SENT, ALERT_AGAIN, ALERT_FAILED, ALERT_BACK };

    zone = s->zone;
    sh = zone->sh;
    ac = zone->alert;

    now = ngx_http_tier_router_alert_now();
    wait = 0;
    attempts = 0;
    percent = 0;
    outcome = ALERT_GONE;

    ngx_shmtx_lock(&zone->shpool->mutex);

    a = &sh->alerts[s->index];

    if (a->seq == s->seq && a->state == NGX_HTTP_TIER_ROUTER_ALERT_SENDING) {

        attempts = a->attempts;
        percent = a->percent;

        if (result == CURLE_ABORTED_BY_CALLBACK) {

            /* this worker leaves: the next one sends it, not a failure */

            a->state = NGX_HTTP_TIER_ROUTER_ALERT_PENDING;
            a->attempts--;
            a->next = 0;
            outcome = ALERT_BACK;

        } else if (result == CURLE_OK && status >= 200 && status < 300) {
            a->state = NGX_HTTP_TIER_ROUTER_ALERT_FREE;
            sh->alerts_pending--;
            sh->alerts_sent++;
            sh->alert_last_sent = ngx_time();
            outcome = ALERT_SENT;

        } else if (a->attempts > ac->retries) {
            a->state = NGX_HTTP_TIER_ROUTER_ALERT_FREE;
            sh->alerts_pending--;
            sh->alerts_failed++;
            sh->alert_last_failure = ngx_time();
            outcome = ALERT_FAILED;

        } else {
            wait = ac->backoff;

            while (--attempts > 0
                   && wait < NGX_HTTP_TIER_ROUTER_ALERT_MAX_WAIT)
            {
                wait *= 2;
            }

            wait = ngx_min(wait, NGX_HTTP_TIER_ROUTER_ALERT_MAX_WAIT);
            attempts = a->attempts;

            a->state = NGX_HTTP_TIER_ROUTER_ALERT_PENDING;
            a->next = now + wait;
            sh->alerts_retried++;
            outcome = ALERT_AGAIN;
        }

        sh->generation++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    switch (outcome) {

    case ALERT_SENT:
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "tier router: alert at %ui%% of zone \"%V\" sent",
                      percent, &zone->name);
        break;

    case ALERT_AGAIN:
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "tier router: alert at %ui%% of zone \"%V\" not "
                      "taken (%s, HTTP %l), try %ui: again in %Mms",
                      percent, &zone->name, curl_easy_strerror(result),
                      status, attempts, wait);
        ngx_http_tier_router_alert_wake(zone, wait);
        break;

    case ALERT_FAILED:
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tier router: alert at %ui%% of zone \"%V\" not "
                      "taken (%s, HTTP %l) after %ui tries: given up",
                      percent, &zone->name, curl_easy_strerror(result),
                      status, attempts);
        break;

    default:
        break;
    }

    if (s->headers) {
        curl_slist_free_all(s->headers);
    }

    if (s->body) {
        free(s->body);      /* jansson's, with its default allocator */
    }

    ngx_free(s);
}


/* this worker looks at the queue again in delay, if not before */

static void
ngx_http_tier_router_alert_wake(ngx_http_tier_router_zone_t *zone,
    ngx_msec_t delay)
{
    ngx_event_t  *ev;

    ev = &zone->alert_event;

    if (ev->handler == NULL || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (!ev->timer_set
        || (ngx_msec_int_t) (ev->timer.key - (ngx_current_msec + delay)) > 0)
    {
        ngx_add_timer(ev, delay);
    }
}


static int64_t
ngx_http_tier_router_alert_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + (int64_t) tp->msec;
}
