
/*
 * Copyright (C) The tier router authors
 *
 * The state file of a budget zone, so that spend survives a restart: JSON
 * written to a temporary file and renamed over the old one, read into a
 * fresh zone at start.  A missing or bad file is logged, never fatal.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_tier_router_state.h"
#include "ngx_http_tier_router_handover.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"
#include "ngx_http_tier_router_zone.h"

#include "tr_period.h"
#include "tr_price.h"
#include "tr_state_schema.h"


#define NGX_HTTP_TIER_ROUTER_STATE_MAX      (256 * 1024 * 1024)


static const char  *ngx_http_tier_router_state_zone_counts[] = {
    "requests", "refused", "capped", "estimated", "full", "evicted",
    "unaccounted", "unsettled", "unsettled_micro_usd"
};


static json_t *ngx_http_tier_router_state_tenant(
    ngx_http_tier_router_snapshot_t *s, ngx_uint_t final);
static ngx_int_t ngx_http_tier_router_state_read(
    ngx_http_tier_router_zone_t *zone, json_t *root, ngx_log_t *log,
    const char **error);
static void ngx_http_tier_router_state_hex(u_char *dst, u_char *src,
    size_t len);
static ngx_int_t ngx_http_tier_router_state_write(
    ngx_http_tier_router_zone_t *zone, json_t *root, ngx_uint_t final,
    ngx_log_t *log);
static void ngx_http_tier_router_state_saved(
    ngx_http_tier_router_zone_t *zone, const char *op, ngx_err_t err);


ngx_int_t
ngx_http_tier_router_state_save(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log)
{
    int                                rc;
    u_char                             hex[33];
    json_t                            *root, *tenants, *tiers, *t;
    uint64_t                           generation, unsettled;
    ngx_uint_t                         i, n, max, final, written;
    ngx_http_tier_router_snapshot_t   *s;
    ngx_http_tier_router_budget_sh_t   sh;

    written = 0;

    /* in the master at exit nothing is in flight: charge what was kept */

    final = (ngx_process == NGX_PROCESS_MASTER
             || ngx_process == NGX_PROCESS_SINGLE);

    max = (ngx_uint_t) zone->sh->tenants + 64;

    s = ngx_alloc(max * sizeof(ngx_http_tier_router_snapshot_t), log);
    if (s == NULL) {
        ngx_http_tier_router_state_saved(zone, "no memory", 0);
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_memcpy(&sh, zone->sh, sizeof(ngx_http_tier_router_budget_sh_t));
    n = ngx_http_tier_router_budget_snapshot(zone, s, max);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    generation = sh.generation;

    /*
     * at exit, what is still reserved was in flight in a worker that did
     * not finish it (killed, or stopped at once): charged at its worst
     * case, never under-counted, and said so, to be reconciled
     */

    if (final && sh.reserved > 0) {
        unsettled = 0;

        for (i = 0; i < n; i++) {
            if (s[i].reserved > 0) {
                unsettled += ngx_max(s[i].inflight, 1);
            }
        }

        ngx_http_tier_router_add(sh.unsettled, unsettled);
        ngx_http_tier_router_add(sh.unsettled_cost, sh.reserved);

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "tier router: zone \"%V\": %uL requests in flight "
                      "when nginx stopped are charged their worst case, "
                      "%L micro-dollars in all (unsettled: %uL requests, "
                      "%L micro-dollars so far)", &zone->name, unsettled,
                      sh.reserved, sh.unsettled, sh.unsettled_cost);
    }

    root = json_object();
    tenants = json_array();
    tiers = json_array();

    if (root == NULL || tenants == NULL || tiers == NULL) {
        goto failed;
    }

    rc = json_object_set_new(root, "version",
                             json_integer(TR_STATE_VERSION));
    rc |= json_object_set_new(root, "zone",
                              json_stringn((char *) zone->name.data,
                                           zone->name.len));
    rc |= json_object_set_new(root, "period",
                   json_string(tr_period_name(sh.period)));
    rc |= json_object_set_new(root, "saved", json_integer(ngx_time()));

    (void) ngx_sprintf(hex, "%016uxL%Z", sh.instance);
    rc |= json_object_set_new(root, "instance", json_string((char *) hex));

    if (zone->hash_key_set) {
        ngx_http_tier_router_zone_key_check(zone, hex);
        rc |= json_object_set_new(root, "key_check",
                                  json_string((char *) hex));

    } else {
        ngx_http_tier_router_state_hex(hex, sh.hash_key, 16);
        rc |= json_object_set_new(root, "hash_key",
                                  json_string((char *) hex));
    }

    rc |= json_object_set_new(root, "period_start",
                              json_integer(sh.period_start));
    rc |= json_object_set_new(root, "spent",
                  json_integer(tr_amount_add(sh.spent,
                                                final ? sh.reserved : 0)));
    rc |= json_object_set_new(root, "total",
                  json_integer(tr_amount_add(sh.total,
                                                final ? sh.reserved : 0)));
    rc |= json_object_set_new(root, "baseline", json_integer(sh.baseline));
    rc |= json_object_set_new(root, "requests", json_integer(sh.requests));
    rc |= json_object_set_new(root, "refused", json_integer(sh.refused));
    rc |= json_object_set_new(root, "capped", json_integer(sh.capped));
    rc |= json_object_set_new(root, "estimated",
                              json_integer(sh.estimated));
    rc |= json_object_set_new(root, "full", json_integer(sh.full));
    rc |= json_object_set_new(root, "evicted", json_integer(sh.evicted));
    rc |= json_object_set_new(root, "unaccounted",
                              json_integer(sh.unaccounted));
    rc |= json_object_set_new(root, "unsettled", json_integer(sh.unsettled));
    rc |= json_object_set_new(root, "unsettled_micro_usd",
                              json_integer(sh.unsettled_cost));

    /* least recently seen first: loading them in turn keeps the order */

    for (i = n; i-- > 0; /* void */) {
        t = ngx_http_tier_router_state_tenant(&s[i], final);
        rc |= (t == NULL) ? -1 : json_array_append_new(tenants, t);
    }

    for (i = 0; i < sh.ntiers; i++) {
        t = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                      "name", (char *) sh.tiers[i].name,
                      "baseline", (json_int_t) sh.tiers[i].baseline,
                      "requests", (json_int_t) sh.tiers[i].requests,
                      "input_tokens", (json_int_t) sh.tiers[i].input_tokens,
                      "output_tokens",
                      (json_int_t) sh.tiers[i].output_tokens,
                      "estimated", (json_int_t) sh.tiers[i].estimated,
                      "fell_back", (json_int_t) sh.tiers[i].failed,
                      "escalated", (json_int_t) sh.tiers[i].escalated,
                      "cost", (json_int_t) sh.tiers[i].cost);
        rc |= (t == NULL) ? -1 : json_array_append_new(tiers, t);

        if (t) {
            rc |= json_object_set_new(t, "cache_read_tokens",
                           json_integer(sh.tiers[i].cache_read_tokens));
            rc |= json_object_set_new(t, "cache_write_tokens",
                           json_integer(sh.tiers[i].cache_write_tokens));
            rc |= json_object_set_new(t, "reasoning_tokens",
                           json_integer(sh.tiers[i].reasoning_tokens));
        }
    }

    rc |= json_object_set(root, "tiers", tiers);
    rc |= json_object_set(root, "tenants", tenants);

    if (rc != 0) {
        goto failed;
    }

    written = 1;

    if (ngx_http_tier_router_state_write(zone, root, final, log)
        != NGX_OK)
    {
        goto failed;
    }

    zone->saved = generation;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "tier router: zone \"%V\" saved, %ui tenants, to \"%V\"",
                   &zone->name, n, &zone->state);

    json_decref(tiers);
    json_decref(tenants);
    json_decref(root);
    ngx_free(s);

    return NGX_OK;

failed:

    if (!written) {
        ngx_http_tier_router_state_saved(zone, "no memory", 0);
    }

    json_decref(tiers);
    json_decref(tenants);
    json_decref(root);
    ngx_free(s);

    return NGX_ERROR;
}


/*
 * The file itself: a temporary file of our own (0600, O_EXCL, never
 * through a symbolic link) beside it, renamed over it unless what is
 * there is not a regular file.  As root (the master at exit) the file is
 * given to the workers' user, who writes it every other time.
 */

static ngx_int_t
ngx_http_tier_router_state_write(ngx_http_tier_router_zone_t *zone,
    json_t *root, ngx_uint_t final, ngx_log_t *log)
{
    int               rc;
    u_char           *tmp;
    ngx_fd_t          fd;
    ngx_err_t         err;
    ngx_uint_t        retry;
    const char       *op;
    ngx_file_info_t   fi;
    ngx_core_conf_t  *ccf;

    tmp = ngx_alloc(zone->state.len + sizeof(".tmp.") + NGX_INT_T_LEN, log);
    if (tmp == NULL) {
        ngx_http_tier_router_state_saved(zone, "no memory", 0);
        return NGX_ERROR;
    }

    ngx_sprintf(tmp, "%V.tmp.%P%Z", &zone->state, ngx_pid);

    for (retry = 0; /* void */; retry++) {
        fd = open((char *) tmp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC,
                  0600);

        if (fd != NGX_INVALID_FILE || ngx_errno != NGX_EEXIST || retry) {
            break;
        }

        /* left by a process of the same pid, or planted: not followed */

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "tier router: removing \"%s\" before writing the "
                      "state of zone \"%V\"", tmp, &zone->name);

        if (unlink((char *) tmp) != 0) {
            break;
        }
    }

    if (fd == NGX_INVALID_FILE) {
        op = "cannot create the temporary file";
        goto failed;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    if (geteuid() == 0 && ccf && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
        && ccf->user != 0
        && fchown(fd, ccf->user, ccf->group) != 0)
    {
        op = "cannot give the file to the workers' user";
        goto close;
    }

    rc = json_dumpfd(root, fd, JSON_COMPACT);

    if (rc != 0) {
        op = "cannot write";
        goto close;
    }

    if (final && fsync(fd) != 0) {
        op = "cannot sync";
        goto close;
    }

    if (close(fd) != 0) {
        fd = NGX_INVALID_FILE;
        op = "cannot write";
        goto unlink;
    }

    fd = NGX_INVALID_FILE;

    /* what is at the path is replaced only if it is a file */

    if (ngx_link_info(zone->state.data, &fi) == 0 && !ngx_is_file(&fi)) {
        ngx_set_errno(0);
        op = "not a regular file, not replaced";
        goto unlink;
    }

    if (rename((char *) tmp, (char *) zone->state.data) != 0) {
        op = "cannot rename the temporary file over it";
        goto unlink;
    }

    ngx_free(tmp);

    ngx_http_tier_router_handover_seen(zone);

    ngx_http_tier_router_state_saved(zone, NULL, 0);

    return NGX_OK;

close:

    err = ngx_errno;
    (void) close(fd);
    ngx_set_errno(err);

unlink:

    err = ngx_errno;
    (void) unlink((char *) tmp);
    ngx_set_errno(err);

failed:

    err = ngx_errno;

    ngx_log_error(NGX_LOG_ERR, log, err,
                  "tier router: cannot save the state of zone \"%V\" to "
                  "\"%V\": %s", &zone->name, &zone->state, op);

    ngx_free(tmp);

    ngx_http_tier_router_state_saved(zone, op, err);

    return NGX_ERROR;
}


/* the outcome of a save, for the status page: op is NULL on success */

static void
ngx_http_tier_router_state_saved(ngx_http_tier_router_zone_t *zone,
    const char *op, ngx_err_t err)
{
    u_char                            *p, *last;
    ngx_http_tier_router_budget_sh_t  *sh;

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (op == NULL) {
        ngx_http_tier_router_add(sh->saves, 1);
        sh->last_save = ngx_time();

    } else {
        ngx_http_tier_router_add(sh->save_failures, 1);
        sh->last_failure = ngx_time();

        p = sh->save_error;
        last = p + NGX_HTTP_TIER_ROUTER_SAVE_ERROR - 1;

        p = ngx_slprintf(p, last, "%s", op);

        if (err) {
            p = ngx_slprintf(p, last, ": ");
            p = ngx_strerror(err, p, last - p);
        }

        *p = '\0';
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * The state file's directory, checked where nginx starts: a directory
 * that only its owner, root or the workers' user, may write, so that no
 * one else can put a file or a link where the state is read or written.
 * Workers that cannot write it are warned of: only the exit save works.
 */

ngx_int_t
ngx_http_tier_router_state_dir(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log)
{
    u_char           *dir, *p;
    ngx_uid_t         user;
    ngx_file_info_t   fi;
    ngx_core_conf_t  *ccf;

    dir = ngx_pnalloc(zone->cycle->pool, zone->state.len + 1);
    if (dir == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(dir, zone->state.data, zone->state.len);
    *p = '\0';

    while (p > dir && *p != '/') {
        p--;
    }

    if (p == dir) {
        p++;                                /* the root directory */
    }

    *p = '\0';

    ccf = (ngx_core_conf_t *) ngx_get_conf(zone->cycle->conf_ctx,
                                           ngx_core_module);

    user = (ccf && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT)
           ? ccf->user : geteuid();

    if (ngx_file_info(dir, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "tier router: the directory \"%s\" of the state "
                      "file of zone \"%V\" cannot be used", dir,
                      &zone->name);
        return NGX_ERROR;
    }

    if (!ngx_is_dir(&fi)
        || (fi.st_mode & (S_IWGRP|S_IWOTH))
        || (fi.st_uid != 0 && fi.st_uid != user))
    {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "tier router: the state file of zone \"%V\" must be "
                      "in a directory that only its owner (root or the "
                      "workers' user) may write: \"%s\" is %s",
                      &zone->name, dir,
                      !ngx_is_dir(&fi) ? "not a directory"
                      : (fi.st_mode & (S_IWGRP|S_IWOTH))
                        ? "writable by its group or others"
                        : "owned by another user");
        return NGX_ERROR;
    }

    if (user != 0 && !(fi.st_uid == user && (fi.st_mode & S_IWUSR))) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "tier router: the workers' user cannot write "
                      "\"%s\": the state of zone \"%V\" is saved only "
                      "when nginx stops; give the directory to that user",
                      dir, &zone->name);
    }

    return NGX_OK;
}


static json_t *
ngx_http_tier_router_state_tenant(ngx_http_tier_router_snapshot_t *s,
    ngx_uint_t final)
{
    u_char   hex[33];
    json_t  *t;

    ngx_http_tier_router_state_hex(hex, s->hash, 16);

    t = json_pack("{s:s, s:s%, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                  "s:I, s:I, s:I, s:I}",
                  "hash", (char *) hex,
                  "label", (char *) s->label, s->label_len,
                  "baseline", (json_int_t) s->baseline,
                  "spent", (json_int_t) tr_amount_add(
                                       s->spent, final ? s->reserved : 0),
                  "total", (json_int_t) tr_amount_add(
                                       s->total, final ? s->reserved : 0),
                  "limit", (json_int_t) s->limit,
                  "input_tokens", (json_int_t) s->input_tokens,
                  "output_tokens", (json_int_t) s->output_tokens,
                  "period_start", (json_int_t) s->period_start,
                  "last", (json_int_t) s->last,
                  "requests", (json_int_t) s->requests,
                  "estimated", (json_int_t) s->estimated
                                + (final && s->reserved
                                   && s->estimated < 0xffffffff),
                  "refused", (json_int_t) s->refused,
                  "capped", (json_int_t) s->capped);

    /* the thresholds alerted in the period: not alerted again */

    if (t && s->alerted
        && json_object_set_new(t, "alerted", json_integer(s->alerted)) != 0)
    {
        json_decref(t);
        return NULL;
    }

    return t;
}


ngx_int_t
ngx_http_tier_router_state_load(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log)
{
    u_char           *buf, *bad;
    size_t            size;
    json_t           *root;
    ngx_err_t         err;
    ngx_int_t         rc;
    ngx_uint_t        level;
    const char       *error;
    json_error_t      jerr;
    ngx_file_info_t   fi;

    buf = NULL;
    root = NULL;
    error = NULL;

    /* a link, a FIFO, a directory: not ours to read, rename or replace */

    if (ngx_link_info(zone->state.data, &fi) == 0 && !ngx_is_file(&fi)) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "tier router: state file \"%V\" is not a regular "
                      "file: zone \"%V\" starts empty, and is not saved "
                      "until it is removed", &zone->state, &zone->name);
        return NGX_DECLINED;
    }

    rc = ngx_http_tier_router_read_whole(&zone->state,
                                         NGX_HTTP_TIER_ROUTER_STATE_MAX, 1,
                                         log, &buf, &size, &err, &error);

    if (rc == NGX_DECLINED) {
        level = (err == NGX_ENOENT) ? NGX_LOG_NOTICE : NGX_LOG_ERR;

        ngx_log_error(level, log, err, "tier router: zone \"%V\" starts "
                      "empty: no state file \"%V\"", &zone->name,
                      &zone->state);
        return NGX_OK;
    }

    if (rc == NGX_ABORT) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        goto bad;
    }

    root = json_loadb((char *) buf, size, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "tier router: state file \"%V\": %s at line %d",
                      &zone->state, jerr.text, jerr.line);
        error = "not valid JSON";
        goto bad;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);
    rc = ngx_http_tier_router_state_read(zone, root, log, &error);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (rc != NGX_OK) {
        goto bad;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "tier router: zone \"%V\" restored %uL tenants from \"%V\"",
                  &zone->name, zone->sh->tenants, &zone->state);

    json_decref(root);
    ngx_free(buf);

    return NGX_OK;

bad:

    /* keep the evidence aside; the next save must not overwrite it */

    bad = ngx_alloc(zone->state.len + sizeof(".bad"), log);

    if (bad && !ngx_test_config) {
        ngx_sprintf(bad, "%V.bad%Z", &zone->state);

        if (rename((char *) zone->state.data, (char *) bad) != 0) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "tier router: rename \"%V\" failed",
                          &zone->state);
        }
    }

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "tier router: state file \"%V\" is bad (%s): zone \"%V\" "
                  "starts empty%s", &zone->state, error, &zone->name,
                  ngx_test_config ? ""
                                  : "; the file is kept with \".bad\" added");

    if (bad) {
        ngx_free(bad);
    }

    json_decref(root);

    if (buf) {
        ngx_free(buf);
    }

    return NGX_DECLINED;
}


/* all of the file is checked before any of it goes into the zone */

static ngx_int_t
ngx_http_tier_router_state_read(ngx_http_tier_router_zone_t *zone,
    json_t *root, ngx_log_t *log, const char **error)
{
    size_t                          i, n, len;
    u_char                          hash[16], check[33];
    int64_t                         v[12], alerted;
    json_t                         *tenants, *t, *tiers;
    ngx_uint_t                      j, k, other;
    const char                     *s;
    ngx_http_tier_router_tenant_t  *tn;
    ngx_http_tier_router_budget_sh_t  *sh;

    sh = zone->sh;

    if (zone->hash_key_set) {
        ngx_http_tier_router_zone_key_check(zone, check);
    }

    if (tr_state_valid(root,
                                  zone->hash_key_set ? (char *) check : NULL,
                                  error)
        != 0)
    {
        return NGX_ERROR;
    }

    tenants = json_object_get(root, "tenants");

    /* valid: restore; a file of another period starts new periods */

    s = json_string_value(json_object_get(root, "period"));

    if (s == NULL
        || ngx_strcmp(s, tr_period_name(sh->period)) != 0)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "tier router: state file \"%V\" was written with "
                      "period %s, zone \"%V\" has %s: every tenant starts "
                      "a new period", &zone->state, s ? s : "(none)",
                      &zone->name, tr_period_name(sh->period));
        other = 1;

    } else {
        other = 0;
    }

    if (!zone->hash_key_set) {
        s = json_string_value(json_object_get(root, "hash_key"));
        (void) tr_state_unhex(sh->hash_key, s, 16);
    }

    /* the zone whose file this is: its later saves are merged */

    sh->parent = ngx_http_tier_router_handover_instance(root);

    (void) tr_state_number(root, "period_start",
                                          &v[0]);
    sh->period_start = other ? 0 : (time_t) v[0];
    (void) tr_state_number(root, "spent", &sh->spent);
    (void) tr_state_number(root, "total", &sh->total);

    sh->baseline = 0;

    if (!other) {
        (void) tr_state_number(root, "baseline", &sh->baseline);
    }

    /* the zone's counters: checked, and absent from older files */

    for (j = 0; j < 9; j++) {
        v[j] = 0;
        (void) tr_state_number(root,
                                 ngx_http_tier_router_state_zone_counts[j],
                                 &v[j]);
    }

    sh->requests = (uint64_t) v[0];
    sh->refused = (uint64_t) v[1];
    sh->capped = (uint64_t) v[2];
    sh->estimated = (uint64_t) v[3];
    sh->full = (uint64_t) v[4];
    sh->evicted = (uint64_t) v[5];
    sh->unaccounted = (uint64_t) v[6];
    sh->unsettled = (uint64_t) v[7];
    sh->unsettled_cost = v[8];

    tiers = json_object_get(root, "tiers");

    for (i = 0; i < json_array_size(tiers); i++) {
        t = json_array_get(tiers, i);
        s = json_string_value(json_object_get(t, "name"));

        for (k = 0; s && k < sh->ntiers; k++) {
            if (ngx_strcmp(sh->tiers[k].name, s) != 0) {
                continue;
            }

            (void) tr_state_number(t, "cost",
                                                  &sh->tiers[k].cost);
            (void) tr_state_number(t, "baseline", &sh->tiers[k].baseline);
            sh->tiers[k].requests =
                       (uint64_t) json_integer_value(json_object_get(t,
                                                             "requests"));
            sh->tiers[k].input_tokens =
                       (uint64_t) json_integer_value(json_object_get(t,
                                                         "input_tokens"));
            sh->tiers[k].output_tokens =
                       (uint64_t) json_integer_value(json_object_get(t,
                                                        "output_tokens"));
            sh->tiers[k].estimated =
                       (uint64_t) json_integer_value(json_object_get(t,
                                                            "estimated"));
            sh->tiers[k].failed =
                       (uint64_t) json_integer_value(json_object_get(t,
                                                            "fell_back"));
            sh->tiers[k].escalated =
                       (uint64_t) json_integer_value(json_object_get(t,
                                                            "escalated"));

            /* later saves' counts: 0 without them */

            sh->tiers[k].cache_read_tokens =
                       (uint64_t) json_integer_value(json_object_get(t,
                                                    "cache_read_tokens"));
            sh->tiers[k].cache_write_tokens =
                       (uint64_t) json_integer_value(json_object_get(t,
                                                   "cache_write_tokens"));
            sh->tiers[k].reasoning_tokens =
                       (uint64_t) json_integer_value(json_object_get(t,
                                                     "reasoning_tokens"));
        }
    }

    /*
     * the file lists the least recently seen first: read from its end, so
     * that a zone too small for it keeps the most recent, each put behind
     * those already read to keep the order
     */

    n = json_array_size(tenants);

    for (i = n; i-- > 0; /* void */) {
        t = json_array_get(tenants, i);
        s = json_string_value(json_object_get(t, "hash"));
        (void) tr_state_unhex(hash, s, 16);

        for (j = 0; j < TR_STATE_FIELDS; j++) {
            (void) tr_state_number(t,
                                        tr_state_fields[j],
                                        &v[j]);
        }

        tn = ngx_http_tier_router_budget_tenant(zone, hash, (time_t) v[6],
                                                log);
        if (tn == NULL) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "tier router: zone \"%V\" is too small for its "
                          "state file: the %uz most recently seen of %uz "
                          "tenants restored", &zone->name,
                          (size_t) zone->sh->tenants, n);
            break;
        }

        ngx_queue_remove(&tn->queue);
        ngx_queue_insert_tail(&zone->sh->queue, &tn->queue);

        tn->spent = v[0];
        tn->older = v[0];
        tn->total = v[1];
        tn->limit = v[2];
        tn->input_tokens = v[3];
        tn->output_tokens = v[4];
        tn->period_start = other ? 0 : (time_t) v[5];
        tn->last = (time_t) v[6];
        tn->requests = (uint32_t) v[7];
        tn->estimated = (uint32_t) v[8];
        tn->refused = (uint32_t) v[9];
        tn->capped = (uint32_t) v[10];

        /* the period's, so only from a file of this period */

        tn->baseline = 0;
        tn->alerted = 0;

        if (!other) {
            (void) tr_state_number(t, "baseline", &tn->baseline);

            if (tr_state_number(t, "alerted", &alerted) == 0) {
                tn->alerted = (u_char) ngx_min(alerted, 255);
            }
        }

        s = json_string_value(json_object_get(t, "label"));
        len = s ? ngx_min(ngx_strlen(s), NGX_HTTP_TIER_ROUTER_LABEL_LEN) : 0;
        ngx_memcpy(tn->label, s, len);
        tn->label_len = (u_char) len;

        ngx_http_tier_router_budget_idle(zone, tn);

        if (tn->idle) {
            ngx_queue_remove(&tn->idle_queue);
            ngx_queue_insert_tail(&zone->sh->idle, &tn->idle_queue);
        }
    }

    sh->generation = 1;

    return NGX_OK;
}


static void
ngx_http_tier_router_state_hex(u_char *dst, u_char *src, size_t len)
{
    dst = ngx_hex_dump(dst, src, len);
    *dst = '\0';
}
