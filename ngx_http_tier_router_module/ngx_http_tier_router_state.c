
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

#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_state_schema.h"


#define NGX_HTTP_TIER_ROUTER_STATE_MAX      (256 * 1024 * 1024)


static json_t *ngx_http_tier_router_state_tenant(
    ngx_http_tier_router_snapshot_t *s, ngx_uint_t final);
static ngx_int_t ngx_http_tier_router_state_read(
    ngx_http_tier_router_zone_t *zone, json_t *root, ngx_log_t *log,
    const char **error);
static void ngx_http_tier_router_state_check(
    ngx_http_tier_router_zone_t *zone, u_char *out);
static void ngx_http_tier_router_state_hex(u_char *dst, u_char *src,
    size_t len);


ngx_int_t
ngx_http_tier_router_state_save(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log)
{
    int                                rc;
    FILE                              *f;
    u_char                            *tmp, hex[33];
    json_t                            *root, *tenants, *tiers, *t;
    uint64_t                           generation;
    ngx_uint_t                         i, n, max, final;
    ngx_http_tier_router_snapshot_t   *s;
    ngx_http_tier_router_budget_sh_t   sh;

    /* in the master at exit nothing is in flight: charge what was kept */

    final = (ngx_process == NGX_PROCESS_MASTER
             || ngx_process == NGX_PROCESS_SINGLE);

    max = (ngx_uint_t) zone->sh->tenants + 64;

    s = ngx_alloc(max * sizeof(ngx_http_tier_router_snapshot_t), log);
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_memcpy(&sh, zone->sh, sizeof(ngx_http_tier_router_budget_sh_t));
    n = ngx_http_tier_router_budget_snapshot(zone, s, max);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    generation = sh.generation;

    root = json_object();
    tenants = json_array();
    tiers = json_array();

    if (root == NULL || tenants == NULL || tiers == NULL) {
        goto failed;
    }

    rc = json_object_set_new(root, "version",
                             json_integer(NGX_HTTP_TIER_ROUTER_STATE_VERSION));
    rc |= json_object_set_new(root, "zone",
                              json_stringn((char *) zone->name.data,
                                           zone->name.len));
    rc |= json_object_set_new(root, "period",
                   json_string(ngx_http_tier_router_period_name(sh.period)));
    rc |= json_object_set_new(root, "saved", json_integer(ngx_time()));

    if (zone->hash_key_set) {
        ngx_http_tier_router_state_check(zone, hex);
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
                              json_integer(sh.spent
                                           + (final ? sh.reserved : 0)));
    rc |= json_object_set_new(root, "total",
                              json_integer(sh.total
                                           + (final ? sh.reserved : 0)));

    /* least recently seen first: loading them in turn keeps the order */

    for (i = n; i-- > 0; /* void */) {
        t = ngx_http_tier_router_state_tenant(&s[i], final);
        rc |= (t == NULL) ? -1 : json_array_append_new(tenants, t);
    }

    for (i = 0; i < sh.ntiers; i++) {
        t = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                      "name", (char *) sh.tiers[i].name,
                      "requests", (json_int_t) sh.tiers[i].requests,
                      "input_tokens", (json_int_t) sh.tiers[i].input_tokens,
                      "output_tokens",
                      (json_int_t) sh.tiers[i].output_tokens,
                      "estimated", (json_int_t) sh.tiers[i].estimated,
                      "fell_back", (json_int_t) sh.tiers[i].failed,
                      "escalated", (json_int_t) sh.tiers[i].escalated,
                      "cost", (json_int_t) sh.tiers[i].cost);
        rc |= (t == NULL) ? -1 : json_array_append_new(tiers, t);
    }

    rc |= json_object_set(root, "tiers", tiers);
    rc |= json_object_set(root, "tenants", tenants);

    if (rc != 0) {
        goto failed;
    }

    tmp = ngx_alloc(zone->state.len + sizeof(".tmp.") + NGX_INT_T_LEN, log);
    if (tmp == NULL) {
        goto failed;
    }

    ngx_sprintf(tmp, "%V.tmp.%P%Z", &zone->state, ngx_pid);

    f = fopen((char *) tmp, "w");

    if (f == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "tier router: cannot write the state of zone \"%V\" "
                      "to \"%s\"", &zone->name, tmp);
        ngx_free(tmp);
        goto failed;
    }

    rc = json_dumpf(root, f, JSON_COMPACT);

    if (fflush(f) != 0) {
        rc = -1;
    }

    if (rc == 0 && final && fsync(fileno(f)) != 0) {
        rc = -1;
    }

    if (fclose(f) != 0) {
        rc = -1;
    }

    if (rc != 0 || rename((char *) tmp, (char *) zone->state.data) != 0) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "tier router: cannot write the state of zone \"%V\" "
                      "to \"%V\"", &zone->name, &zone->state);
        (void) unlink((char *) tmp);
        ngx_free(tmp);
        goto failed;
    }

    ngx_free(tmp);

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

    json_decref(tiers);
    json_decref(tenants);
    json_decref(root);
    ngx_free(s);

    return NGX_ERROR;
}


static json_t *
ngx_http_tier_router_state_tenant(ngx_http_tier_router_snapshot_t *s,
    ngx_uint_t final)
{
    u_char   hex[33];
    json_t  *t;

    ngx_http_tier_router_state_hex(hex, s->hash, 16);

    t = json_pack("{s:s, s:s%, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                  "s:I, s:I, s:I}",
                  "hash", (char *) hex,
                  "label", (char *) s->label, s->label_len,
                  "spent", (json_int_t) (s->spent
                                         + (final ? s->reserved : 0)),
                  "total", (json_int_t) (s->total
                                         + (final ? s->reserved : 0)),
                  "limit", (json_int_t) s->limit,
                  "input_tokens", (json_int_t) s->input_tokens,
                  "output_tokens", (json_int_t) s->output_tokens,
                  "period_start", (json_int_t) s->period_start,
                  "last", (json_int_t) s->last,
                  "requests", (json_int_t) s->requests,
                  "estimated", (json_int_t) (s->estimated
                                    + (final && s->reserved ? 1 : 0)),
                  "refused", (json_int_t) s->refused,
                  "capped", (json_int_t) s->capped);

    return t;
}


ngx_int_t
ngx_http_tier_router_state_load(ngx_http_tier_router_zone_t *zone,
    ngx_log_t *log)
{
    u_char        *buf, *bad;
    size_t         size;
    json_t        *root;
    ngx_err_t      err;
    ngx_int_t      rc;
    ngx_uint_t     level;
    const char    *error;
    json_error_t   jerr;

    buf = NULL;
    root = NULL;
    error = NULL;

    rc = ngx_http_tier_router_read_whole(&zone->state,
                                         NGX_HTTP_TIER_ROUTER_STATE_MAX, log,
                                         &buf, &size, &err, &error);

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
    size_t                          i, len;
    u_char                          hash[16], check[33];
    int64_t                         v[12];
    json_t                         *tenants, *t, *tiers;
    ngx_uint_t                      j, k, other;
    const char                     *s;
    ngx_http_tier_router_tenant_t  *tn;
    ngx_http_tier_router_budget_sh_t  *sh;

    sh = zone->sh;

    if (zone->hash_key_set) {
        ngx_http_tier_router_state_check(zone, check);
    }

    if (ngx_http_tier_router_state_valid(root,
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
        || ngx_strcmp(s, ngx_http_tier_router_period_name(sh->period)) != 0)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "tier router: state file \"%V\" was written with "
                      "period %s, zone \"%V\" has %s: every tenant starts "
                      "a new period", &zone->state, s ? s : "(none)",
                      &zone->name, ngx_http_tier_router_period_name(
                                                            sh->period));
        other = 1;

    } else {
        other = 0;
    }

    if (!zone->hash_key_set) {
        s = json_string_value(json_object_get(root, "hash_key"));
        (void) ngx_http_tier_router_state_unhex(sh->hash_key, s, 16);
    }

    (void) ngx_http_tier_router_state_number(root, "period_start",
                                          &v[0]);
    sh->period_start = other ? 0 : (time_t) v[0];
    (void) ngx_http_tier_router_state_number(root, "spent", &sh->spent);
    (void) ngx_http_tier_router_state_number(root, "total", &sh->total);

    tiers = json_object_get(root, "tiers");

    for (i = 0; i < json_array_size(tiers); i++) {
        t = json_array_get(tiers, i);
        s = json_string_value(json_object_get(t, "name"));

        for (k = 0; s && k < sh->ntiers; k++) {
            if (ngx_strcmp(sh->tiers[k].name, s) != 0) {
                continue;
            }

            (void) ngx_http_tier_router_state_number(t, "cost",
                                                  &sh->tiers[k].cost);
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
        }
    }

    for (i = 0; i < json_array_size(tenants); i++) {
        t = json_array_get(tenants, i);
        s = json_string_value(json_object_get(t, "hash"));
        (void) ngx_http_tier_router_state_unhex(hash, s, 16);

        for (j = 0; j < NGX_HTTP_TIER_ROUTER_STATE_FIELDS; j++) {
            (void) ngx_http_tier_router_state_number(t,
                                        ngx_http_tier_router_state_fields[j],
                                        &v[j]);
        }

        tn = ngx_http_tier_router_budget_tenant(zone, hash, (time_t) v[6],
                                                log);
        if (tn == NULL) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "tier router: zone \"%V\" is too small for its "
                          "state file: %uz of %uz tenants restored",
                          &zone->name, i, json_array_size(tenants));
            break;
        }

        tn->spent = v[0];
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

        s = json_string_value(json_object_get(t, "label"));
        len = s ? ngx_min(ngx_strlen(s), NGX_HTTP_TIER_ROUTER_LABEL_LEN) : 0;
        ngx_memcpy(tn->label, s, len);
        tn->label_len = (u_char) len;
    }

    sh->generation = 1;

    return NGX_OK;
}


/* proves the key a file was written under without telling it */

static void
ngx_http_tier_router_state_check(ngx_http_tier_router_zone_t *zone,
    u_char *out)
{
    u_char  h[16];

    ngx_http_tier_router_hash(zone->hash_key,
                              (u_char *) "tier-router-key-check", 21, h);
    ngx_http_tier_router_state_hex(out, h, 16);
}


static void
ngx_http_tier_router_state_hex(u_char *dst, u_char *src, size_t len)
{
    dst = ngx_hex_dump(dst, src, len);
    *dst = '\0';
}
