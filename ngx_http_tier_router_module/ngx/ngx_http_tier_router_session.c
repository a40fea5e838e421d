
/*
 * Copyright (C) The tier router authors
 *
 * Sessions: the tier a conversation is on, in a shared memory zone
 * (an rbtree keyed by a keyed hash, least recently used first out, as
 * limit_req's), so that an agent loop never changes model under its
 * signed reasoning, keeps its prompt cache warm, and does not ping-pong:
 * within a session the tier only moves up until the session is idle.
 * A stored response's id is a session of its own, so that a
 * previous_response_id chain stays on the tier that made the response.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_session.h"
#include "ngx_http_tier_router_account.h"
#include "ngx_http_tier_router_budget.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"

#include "tr_dialect.h"
#include "tr_extract.h"
#include "tr_hash.h"
#include "tr_usage.h"


/* a session: 104 bytes with its rbtree node, one 128-byte slab chunk */

typedef struct {
    ngx_rbtree_node_t            node;          /* key: the hash's first 8 */
    ngx_queue_t                  queue;         /* least recently used */
    u_char                       hash[TR_HASH_LEN];
    u_char                       last_user[8];  /* its last user turn */
    time_t                       last;
    uint32_t                     turns;
    uint32_t                     messages;      /* in its last turn */
    uint16_t                     tier;          /* the highest so far */
} ngx_http_tier_router_session_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;
    u_char                       key[16];       /* of the hash */
    uint64_t                     sessions;
    uint64_t                     evicted;
} ngx_http_tier_router_session_sh_t;


struct ngx_http_tier_router_session_zone_s {
    ngx_http_tier_router_session_sh_t  *sh;
    ngx_slab_pool_t                    *shpool;
    ngx_shm_zone_t                     *shm_zone;
    ngx_str_t                           name;
    time_t                              idle;
    time_t                              regenerate;
};


static ngx_int_t ngx_http_tier_router_session_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_http_tier_router_session_t *ngx_http_tier_router_session_find(
    ngx_http_tier_router_session_zone_t *zone, u_char *hash, time_t now,
    ngx_uint_t create);
static ngx_int_t ngx_http_tier_router_session_chain(ngx_http_request_t *r,
    ngx_http_tier_router_session_zone_t *zone, ngx_str_t *body,
    tr_request_t *req, ngx_uint_t first, ngx_uint_t last, ngx_int_t *index);
static void ngx_http_tier_router_session_id(
    ngx_http_tier_router_session_zone_t *zone, u_char *id, size_t len,
    u_char *hash);
static ngx_int_t ngx_http_tier_router_session_key(ngx_http_request_t *r,
    ngx_http_tier_router_session_zone_t *zone, ngx_str_t *body,
    tr_request_t *req, u_char *hash);


static ngx_str_t  ngx_http_tier_router_session_headers[] = {
    ngx_string("x-claude-code-session-id"),
    ngx_string("session_id"),
    ngx_string("session-id"),
    ngx_null_string
};


/*
 * tier_router_session_zone zone=NAME:SIZE [idle=TIME] [regenerate=TIME]
 */

char *
ngx_http_tier_router_session_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ssize_t                               size;
    ngx_str_t                            *value, name, v;
    ngx_int_t                             t;
    ngx_uint_t                            i;
    ngx_shm_zone_t                       *shm_zone;
    ngx_http_tier_router_session_zone_t  *zone;

    value = cf->args->elts;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_tier_router_session_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->idle = 1800;
    zone->regenerate = 120;

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

        if (ngx_strncmp(value[i].data, "idle=", 5) == 0
            || ngx_strncmp(value[i].data, "regenerate=", 11) == 0)
        {
            v.data = ngx_strlchr(value[i].data,
                                 value[i].data + value[i].len, '=') + 1;
            v.len = value[i].data + value[i].len - v.data;

            t = ngx_parse_time(&v, 1);

            if (t == NGX_ERROR) {
                goto invalid;
            }

            if (value[i].data[0] == 'i') {
                zone->idle = t;

            } else {
                zone->regenerate = t;
            }

            continue;
        }

        goto invalid;
    }

    shm_zone = ngx_http_tier_router_shm_zone(cf, cmd, &name, size,
                                     ngx_http_tier_router_session_init_zone,
                                     zone);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = shm_zone;
    zone->name = name;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/* tier_router_session zone=NAME [key=STRING] [signed=pin|strip] | off */

char *
ngx_http_tier_router_session(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    ngx_str_t       *value, name;
    ngx_uint_t       i;
    ngx_shm_zone_t  *shm_zone;

    if (trlcf->session_zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        trlcf->session_zone = NULL;
        return NGX_CONF_OK;
    }

    name.len = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            name.len = value[i].len - 5;
            continue;
        }

        if (ngx_strcmp(value[i].data, "signed=pin") == 0
            || ngx_strcmp(value[i].data, "signed=strip") == 0)
        {
            trlcf->session_strip = (value[i].data[7] == 's');
            continue;
        }

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            value[i].data += 4;
            value[i].len -= 4;

            if (ngx_http_tier_router_compile(cf, &value[i],
                                             &trlcf->session_key)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, 0,
                                     &ngx_http_tier_router_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    trlcf->session_zone = shm_zone;

    return NGX_CONF_OK;
}


/* every tier_router_session names a tier_router_session_zone */

char *
ngx_http_tier_router_session_merge(ngx_conf_t *cf,
    ngx_http_tier_router_loc_conf_t *prev,
    ngx_http_tier_router_loc_conf_t *conf)
{
    ngx_shm_zone_t  *shm_zone;

    if (conf->session_zone == NGX_CONF_UNSET_PTR) {
        conf->session_zone = prev->session_zone;
        conf->session_key = prev->session_key;
        conf->session_strip = prev->session_strip;
    }

    if (conf->session_zone == NGX_CONF_UNSET_PTR) {
        conf->session_zone = NULL;
    }

    shm_zone = conf->session_zone;

    if (shm_zone
        && (shm_zone->data == NULL
            || shm_zone->init != ngx_http_tier_router_session_init_zone))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"tier_router_session\": no "
                      "\"tier_router_session_zone\" \"%V\" is defined",
                      &shm_zone->shm.name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tier_router_session_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_tier_router_session_zone_t  *ozone = data;

    size_t                                len;
    ngx_http_tier_router_session_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool,
                              sizeof(ngx_http_tier_router_session_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    /* by the hash's first 64 bits: two sessions that share them (one in
     * about 2^64 / n^2) are looked up as one */

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&zone->sh->queue);

    /* the hash key: this zone's own, never written anywhere */

    ngx_http_tier_router_random(zone->sh->key, sizeof(zone->sh->key));

    len = sizeof(" in tier router session zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in tier router session zone \"%V\"%Z",
                &shm_zone->shm.name);

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


/* the session by its hash, created if new; NULL: the zone is full */

static ngx_http_tier_router_session_t *
ngx_http_tier_router_session_find(ngx_http_tier_router_session_zone_t *zone,
    u_char *hash, time_t now, ngx_uint_t create)
{
    uint64_t                         key;
    ngx_uint_t                       tries;
    ngx_queue_t                     *q;
    ngx_rbtree_node_t               *node, *sentinel;
    ngx_http_tier_router_session_t  *s, *old;

    ngx_memcpy(&key, hash, sizeof(key));

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        s = (ngx_http_tier_router_session_t *) node;

        if (ngx_memcmp(hash, s->hash, TR_HASH_LEN) == 0) {
            ngx_queue_remove(&s->queue);
            ngx_queue_insert_head(&zone->sh->queue, &s->queue);
            return s;
        }

        node = node->right;
    }

    if (!create) {
        return NULL;
    }

    /* full: the least recently used sessions make room, a few at most */

    s = NULL;

    for (tries = 0; tries < 3; tries++) {
        s = ngx_slab_alloc_locked(zone->shpool,
                                  sizeof(ngx_http_tier_router_session_t));

        if (s) {
            break;
        }

        if (ngx_queue_empty(&zone->sh->queue)) {
            return NULL;
        }

        q = ngx_queue_last(&zone->sh->queue);
        old = ngx_queue_data(q, ngx_http_tier_router_session_t, queue);

        ngx_queue_remove(q);
        ngx_rbtree_delete(&zone->sh->rbtree, &old->node);
        ngx_slab_free_locked(zone->shpool, old);

        zone->sh->sessions--;
        zone->sh->evicted++;
    }

    if (s == NULL) {
        return NULL;
    }

    ngx_memzero(s, sizeof(ngx_http_tier_router_session_t));

    s->node.key = key;
    ngx_memcpy(s->hash, hash, TR_HASH_LEN);
    s->tier = NGX_HTTP_TIER_ROUTER_SESSION_NONE;
    s->last = now;

    ngx_rbtree_insert(&zone->sh->rbtree, &s->node);
    ngx_queue_insert_head(&zone->sh->queue, &s->queue);

    zone->sh->sessions++;

    return s;
}


/*
 * The session's say in the tier routing chose (*index, in the ladder
 * [first, last]): its tier, where the history is signed by its model or
 * continues a stored response, or a pre-warm; one up for the same last
 * user turn again soon (a regenerate); else never below its tier.  The
 * session then remembers the result.  *why: what the reason says, or
 * NULL.
 */

ngx_int_t
ngx_http_tier_router_session_route(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, ngx_str_t *body, tr_request_t *req,
    ngx_uint_t first, ngx_uint_t last, ngx_int_t *index, const char **why)
{
    u_char                                hash[TR_HASH_LEN], user[TR_HASH_LEN];
    time_t                                now;
    ngx_int_t                             tier;
    ngx_uint_t                            live, prewarm;
    ngx_http_tier_router_session_t       *s;
    ngx_http_tier_router_loc_conf_t      *trlcf;
    ngx_http_tier_router_session_zone_t  *zone;

    *why = NULL;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (trlcf->session_zone == NULL) {
        return NGX_OK;
    }

    zone = trlcf->session_zone->data;

    /* a stored response's id, kept as the answer passes */

    ctx->rq->session_answer = (req->dialect == TR_OPENAI_RESPONSES);

    if (ngx_http_tier_router_session_chain(r, zone, body, req, first, last,
                                           index)
        == NGX_OK)
    {
        *why = "session_pinned";
        return NGX_OK;
    }

    if (ngx_http_tier_router_session_key(r, zone, body, req, hash)
        != NGX_OK)
    {
        return NGX_OK;          /* nothing names the conversation */
    }

    if (req->last_user_span.end) {
        tr_hash(zone->sh->key, body->data + req->last_user_span.start,
                req->last_user_span.end - req->last_user_span.start, user);

    } else {
        ngx_memzero(user, sizeof(user));
    }

    now = ngx_http_tier_router_clock(r);
    prewarm = (req->dialect == TR_ANTHROPIC && req->features.max_tokens == 0);

    ngx_shmtx_lock(&zone->shpool->mutex);

    s = ngx_http_tier_router_session_find(zone, hash, now, 1);

    if (s == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "tier router: session zone \"%V\" is full",
                      &zone->name);
        return NGX_OK;
    }

    tier = (s->tier == NGX_HTTP_TIER_ROUTER_SESSION_NONE) ? -1 : s->tier;

    live = (tier >= (ngx_int_t) first && tier <= (ngx_int_t) last
            && now - s->last <= zone->idle && s->turns > 0);

    if (live && req->signed_reasoning) {
        ctx->rq->signer = tier + 1;         /* its model signed them */
    }

    if (live) {

        if (prewarm || req->previous_span.end
            || (req->signed_reasoning && !trlcf->session_strip))
        {
            *index = tier;
            *why = prewarm ? "session_prewarm" : "session_pinned";

        } else if (ngx_memcmp(user, s->last_user, sizeof(s->last_user)) == 0
                   && req->features.messages <= s->messages
                   && now - s->last <= zone->regenerate)
        {
            *index = ngx_max(*index, ngx_min(tier + 1, (ngx_int_t) last));
            *why = "session_regenerate";

        } else if (*index < tier) {
            *index = tier;
            *why = "session";
        }

    } else if (tier >= 0) {
        tier = -1;              /* idle, or another ladder's: anew */
    }

    s->tier = (uint16_t) ngx_max(*index, tier);
    s->last = now;

    if (!prewarm) {
        ngx_memcpy(s->last_user, user, sizeof(s->last_user));
        s->messages = req->features.messages;
        s->turns++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tier router: session tier %i, turn %uD, %s", *index,
                   s->turns, *why ? *why : "");

    return NGX_OK;
}


/*
 * Must the body to tier lose its signed reasoning?  With signed=strip,
 * when the session knows the model that signed it, and tier's is
 * another: the cap, a regenerate, a harder turn or a fallback moved it.
 */

ngx_uint_t
ngx_http_tier_router_session_strip(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, tr_request_t *req, ngx_uint_t tier)
{
    ngx_http_tier_router_tier_t       *t;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (!trlcf->session_strip || ctx->rq->signer == 0
        || !req->signed_reasoning || tier == ctx->rq->signer - 1)
    {
        return 0;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);
    t = trmcf->tiers.elts;

    return t[tier].model.len != t[ctx->rq->signer - 1].model.len
           || ngx_strncmp(t[tier].model.data, t[ctx->rq->signer - 1].model.data,
                          t[tier].model.len) != 0;
}


/*
 * A previous_response_id whose response the zone has seen, on a tier of
 * this ladder, not idle: *index is that tier.  NGX_DECLINED: none.
 */

static ngx_int_t
ngx_http_tier_router_session_chain(ngx_http_request_t *r,
    ngx_http_tier_router_session_zone_t *zone, ngx_str_t *body,
    tr_request_t *req, ngx_uint_t first, ngx_uint_t last, ngx_int_t *index)
{
    u_char                          hash[TR_HASH_LEN];
    time_t                          now;
    ngx_int_t                       rc;
    ngx_http_tier_router_session_t *s;

    if (req->previous_span.end < req->previous_span.start + 3) {
        return NGX_DECLINED;
    }

    /* the id, without its quotes */

    ngx_http_tier_router_session_id(zone,
                                    body->data + req->previous_span.start + 1,
                                    req->previous_span.end
                                    - req->previous_span.start - 2, hash);

    now = ngx_http_tier_router_clock(r);
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    s = ngx_http_tier_router_session_find(zone, hash, now, 0);

    if (s && s->tier >= first && s->tier <= last
        && now - s->last <= zone->idle)
    {
        *index = s->tier;
        s->last = now;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/*
 * A response the client may continue with previous_response_id: its id
 * is kept, with the tier that made it.
 */

void
ngx_http_tier_router_session_answered(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, u_char *id, size_t len)
{
    u_char                                hash[TR_HASH_LEN];
    time_t                                now;
    ngx_http_tier_router_session_t       *s;
    ngx_http_tier_router_loc_conf_t      *trlcf;
    ngx_http_tier_router_session_zone_t  *zone;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (trlcf->session_zone == NULL || len == 0) {
        return;
    }

    zone = trlcf->session_zone->data;
    now = ngx_http_tier_router_clock(r);

    ngx_http_tier_router_session_id(zone, id, len, hash);

    ngx_shmtx_lock(&zone->shpool->mutex);

    s = ngx_http_tier_router_session_find(zone, hash, now, 1);

    if (s) {
        s->tier = (uint16_t) ctx->tier;
        s->last = now;
        s->turns = 1;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "tier router: response \"%*s\" kept", len, id);

    if (s == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "tier router: session zone \"%V\" is full",
                      &zone->name);
    }
}


/* a response id's hash: "r:" before it, so that it names no conversation */

static void
ngx_http_tier_router_session_id(ngx_http_tier_router_session_zone_t *zone,
    u_char *id, size_t len, u_char *hash)
{
    u_char  buf[2 + TR_USAGE_KEY_LEN];

    len = ngx_min(len, TR_USAGE_KEY_LEN);

    buf[0] = 'r';
    buf[1] = ':';
    ngx_memcpy(buf + 2, id, len);

    tr_hash(zone->sh->key, buf, 2 + len, hash);
}


/*
 * What names the conversation, first found: the operator's key, the
 * agent's session header (Claude Code, Codex), prompt_cache_key,
 * metadata.user_id, else the system prompt and the first user turn;
 * as this zone's keyed hash.  NGX_DECLINED: nothing.
 */

static ngx_int_t
ngx_http_tier_router_session_key(ngx_http_request_t *r,
    ngx_http_tier_router_session_zone_t *zone, ngx_str_t *body,
    tr_request_t *req, u_char *hash)
{
    u_char                           *p;
    size_t                            len;
    ngx_str_t                         v;
    ngx_uint_t                        i, k;
    ngx_list_part_t                  *part;
    ngx_table_elt_t                  *h;
    ngx_http_tier_router_loc_conf_t  *trlcf;
    u_char                            buf[2 * TR_HASH_LEN];

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (trlcf->session_key) {
        if (ngx_http_complex_value(r, trlcf->session_key, &v) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (v.len) {
            tr_hash(zone->sh->key, v.data, v.len, hash);
            return NGX_OK;
        }
    }

    for (k = 0; ngx_http_tier_router_session_headers[k].len; k++) {
        part = &r->headers_in.headers.part;
        i = 0;

        h = ngx_http_tier_router_next_header(&part, &i,
                                     &ngx_http_tier_router_session_headers[k]);

        if (h && h->value.len) {
            tr_hash(zone->sh->key, h->value.data, h->value.len, hash);
            return NGX_OK;
        }
    }

    if (req->cache_key_span.end > req->cache_key_span.start + 2) {
        tr_hash(zone->sh->key, body->data + req->cache_key_span.start,
                req->cache_key_span.end - req->cache_key_span.start, hash);
        return NGX_OK;
    }

    if (req->user_id_span.end > req->user_id_span.start + 2) {
        tr_hash(zone->sh->key, body->data + req->user_id_span.start,
                req->user_id_span.end - req->user_id_span.start, hash);
        return NGX_OK;
    }

    if (!req->has_first_user) {
        return NGX_DECLINED;
    }

    /* the conversation's opening: its system prompt and first user turn */

    p = body->data + req->first_user_span.start;
    len = req->first_user_span.end - req->first_user_span.start;

    tr_hash(zone->sh->key, p, len, buf);
    tr_hash(zone->sh->key, req->features.system, req->features.system_len,
            buf + TR_HASH_LEN);
    tr_hash(zone->sh->key, buf, sizeof(buf), hash);

    return NGX_OK;
}
