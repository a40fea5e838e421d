
/*
 * Copyright (C) The tier router authors
 *
 * Tier shares in shared memory: one calibration (calibrate.c) for all
 * workers, so that the observed shares track the targets across them;
 * the tier_router_shares directive, routing by it, and its status.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_tier_router_shares.h"
#include "ngx_http_tier_router_budget.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"

#include "tr_calibrate.h"


static char *ngx_http_tier_router_shares_ladder(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf,
    ngx_http_tier_router_ladder_t *ladder, ngx_uint_t *seen);
static ngx_int_t ngx_http_tier_router_shares_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_tier_router_shares_setup(
    ngx_http_tier_router_shares_t *shares, tr_cal_t *cal);


/* tier_router_shares zone=NAME:SIZE [window=N] [step=F] */

char *
ngx_http_tier_router_shares(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tier_router_main_conf_t *trmcf = conf;

    ssize_t                         size;
    ngx_int_t                       n;
    ngx_str_t                      *value, name;
    ngx_uint_t                      i;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_tier_router_shares_t  *shares;

    if (trmcf->shares) {
        return "is duplicate";
    }

    value = cf->args->elts;

    shares = ngx_pcalloc(cf->pool, sizeof(ngx_http_tier_router_shares_t));
    if (shares == NULL) {
        return NGX_CONF_ERROR;
    }

    shares->window = 10000;
    shares->step = 0.01;
    shares->tiers = &trmcf->tiers;

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

        if (ngx_strncmp(value[i].data, "window=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);

            if (n < 10 || n > 100000000) {
                goto invalid;
            }

            shares->window = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "step=", 5) == 0) {
            n = ngx_atofp(value[i].data + 5, value[i].len - 5, 4);

            if (n <= 0 || n > 10000) {
                goto invalid;
            }

            shares->step = (double) n / 10000;
            continue;
        }

        goto invalid;
    }

    shm_zone = ngx_http_tier_router_shm_zone(cf, cmd, &name, size,
                                     ngx_http_tier_router_shares_init_zone,
                                     shares);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shares->shm_zone = shm_zone;
    shares->name = name;
    trmcf->shares = shares;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * Shares belong to the most expensive tiers: each tier with share= has
 * only tiers with share= above it, the cheapest tier takes what the
 * others leave, and the shares add up to at most 100%.
 */

char *
ngx_http_tier_router_shares_check(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf)
{
    ngx_uint_t                      k, seen;
    ngx_http_tier_router_ladder_t  *ladder, *found;

    ladder = trmcf->ladders.elts;
    found = NULL;

    for (k = 0; k < trmcf->ladders.nelts; k++) {

        if (ngx_http_tier_router_shares_ladder(cf, trmcf, &ladder[k], &seen)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (!seen) {
            continue;
        }

        if (found) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"share=\" is set in the tiers of two ladders: "
                          "one \"tier_router_shares\" zone calibrates one "
                          "ladder");
            return NGX_CONF_ERROR;
        }

        found = &ladder[k];
    }

    if (found && trmcf->shares == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"share=\" needs \"tier_router_shares\", the zone "
                      "where the workers calibrate together");
        return NGX_CONF_ERROR;
    }

    if (trmcf->shares) {
        trmcf->shares->ladder = found ? found : &ladder[0];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_tier_router_shares_ladder(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf,
    ngx_http_tier_router_ladder_t *ladder, ngx_uint_t *seen)
{
    double                        sum;
    ngx_uint_t                    i;
    ngx_http_tier_router_tier_t  *tier;

    tier = trmcf->tiers.elts;
    tier += ladder->first;
    sum = 0;
    *seen = 0;

    for (i = 0; i < ladder->n; i++) {

        if (tier[i].share < 0) {
            if (*seen) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"tier_router_tier\" \"%V\" needs "
                              "\"share=\": every tier above one with a "
                              "share has one in %V:%ui", &tier[i].name,
                              &tier[i].file, tier[i].line);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (i == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"tier_router_tier\" \"%V\": the cheapest tier "
                          "takes what the others leave, it has no "
                          "\"share=\" in %V:%ui", &tier[i].name,
                          &tier[i].file, tier[i].line);
            return NGX_CONF_ERROR;
        }

        *seen = 1;
        sum += tier[i].share;
    }

    if (sum > 1.0 + 1e-9) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "the tiers' shares add up to more than 100%%");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tier_router_shares_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_tier_router_shares_t *oshares = data;

    ngx_slab_pool_t                *shpool;
    tr_cal_t                        cal;
    ngx_http_tier_router_shares_t  *shares;

    shares = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    shares->shpool = shpool;

    if (oshares) {

        /*
         * a reload: the recent scores live on; the boundaries start again
         * from the configuration and move back by steps
         */

        shares->cal = oshares->cal;

        ngx_shmtx_lock(&shpool->mutex);

        ngx_http_tier_router_shares_setup(shares, &cal);

        cal.weight = shares->cal->weight;
        cal.total = shares->cal->total;
        cal.samples = shares->cal->samples;
        ngx_memcpy(cal.bins, shares->cal->bins, sizeof(cal.bins));

        if (cal.ntiers == shares->cal->ntiers) {
            ngx_memcpy(cal.routed, shares->cal->routed, sizeof(cal.routed));
        }

        ngx_memcpy(shares->cal, &cal, sizeof(tr_cal_t));

        ngx_shmtx_unlock(&shpool->mutex);

        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        shares->cal = shpool->data;
        return NGX_OK;
    }

    shares->cal = ngx_slab_alloc(shpool, sizeof(tr_cal_t));
    if (shares->cal == NULL) {
        return NGX_ERROR;
    }

    shpool->data = shares->cal;

    ngx_http_tier_router_shares_setup(shares, shares->cal);

    return NGX_OK;
}


static void
ngx_http_tier_router_shares_setup(ngx_http_tier_router_shares_t *shares,
    tr_cal_t *cal)
{
    double                        max[TR_CAL_TIERS];
    double                        share[TR_CAL_TIERS];
    ngx_uint_t                    i, n;
    ngx_http_tier_router_tier_t  *tier;

    tier = shares->tiers->elts;
    tier += shares->ladder->first;
    n = ngx_min(shares->ladder->n, TR_CAL_TIERS);

    for (i = 0; i < n; i++) {
        max[i] = tier[i].max_score;
        share[i] = tier[i].share;
    }

    tr_cal_init(cal, n, max, share, shares->window,
                shares->step);
}


ngx_uint_t
ngx_http_tier_router_shares_route(ngx_http_tier_router_shares_t *shares,
    double score)
{
    ngx_uint_t  index;

    ngx_shmtx_lock(&shares->shpool->mutex);
    index = tr_cal_route(shares->cal, score);
    ngx_shmtx_unlock(&shares->shpool->mutex);

    return shares->ladder->first + index;
}


/* the status: targets, observed shares and boundaries, JSON or text */

ngx_buf_t *
ngx_http_tier_router_shares_status(ngx_http_request_t *r,
    ngx_http_tier_router_shares_t *shares, ngx_uint_t prometheus)
{
    u_char                        *p;
    size_t                         len;
    json_t                        *root, *tiers, *t;
    ngx_buf_t                     *b;
    ngx_uint_t                     i;
    tr_cal_t                       cal;
    ngx_http_tier_router_tier_t   *tier;

    ngx_shmtx_lock(&shares->shpool->mutex);
    ngx_memcpy(&cal, shares->cal, sizeof(tr_cal_t));
    ngx_shmtx_unlock(&shares->shpool->mutex);

    tier = shares->tiers->elts;
    tier += shares->ladder->first;

    if (prometheus) {
        len = 512 + cal.ntiers * 3 * (128 + shares->name.len
                                      + NGX_HTTP_TIER_ROUTER_TIER_NAME);

        b = ngx_create_temp_buf(r->pool, len);
        if (b == NULL) {
            return NULL;
        }

        p = ngx_sprintf(b->last,
                        "# HELP tier_router_share_target_ratio Target share "
                        "of classified requests.\n"
                        "# TYPE tier_router_share_target_ratio gauge\n");

        for (i = 0; i < cal.ntiers; i++) {
            if (cal.target[i] >= 0) {
                p = ngx_sprintf(p, "tier_router_share_target_ratio{zone="
                                "\"%V\",tier=\"%V\"} %.4f\n", &shares->name,
                                &tier[i].name, cal.target[i]);
            }
        }

        p = ngx_sprintf(p, "# HELP tier_router_share_observed_ratio Recent "
                        "share of classified requests.\n"
                        "# TYPE tier_router_share_observed_ratio gauge\n");

        for (i = 0; i < cal.ntiers; i++) {
            p = ngx_sprintf(p, "tier_router_share_observed_ratio{zone="
                            "\"%V\",tier=\"%V\"} %.4f\n", &shares->name,
                            &tier[i].name,
                            tr_cal_observed(&cal, i));
        }

        p = ngx_sprintf(p, "# HELP tier_router_share_max_score The tier's "
                        "current upper score boundary.\n"
                        "# TYPE tier_router_share_max_score gauge\n");

        for (i = 0; i < cal.ntiers; i++) {
            p = ngx_sprintf(p, "tier_router_share_max_score{zone=\"%V\","
                            "tier=\"%V\"} %.4f\n", &shares->name,
                            &tier[i].name, cal.bound[i]);
        }

        b->last = p;

        return b;
    }

    root = json_pack("{s:s%, s:I, s:f, s:I}",
                     "zone", (char *) shares->name.data, shares->name.len,
                     "window", (json_int_t) cal.window,
                     "step", cal.step,
                     "samples", (json_int_t) cal.samples);
    tiers = json_array();

    if (root == NULL || tiers == NULL
        || json_object_set_new(root, "tiers", tiers) != 0)
    {
        json_decref(root);
        return NULL;
    }

    for (i = 0; i < cal.ntiers; i++) {
        t = json_pack("{s:s%, s:o, s:f, s:f, s:f}",
                      "name", (char *) tier[i].name.data, tier[i].name.len,
                      "target_share", cal.target[i] >= 0
                                      ? json_real(cal.target[i])
                                      : json_null(),
                      "observed_share",
                      tr_cal_observed(&cal, i),
                      "max_score", cal.bound[i],
                      "configured_max_score", cal.fixed[i]);

        if (t == NULL || json_array_append_new(tiers, t) != 0) {
            json_decref(root);
            return NULL;
        }
    }

    b = ngx_http_tier_router_json_buf(r, root);
    json_decref(root);

    return b;
}
