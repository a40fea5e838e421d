
/*
 * Copyright (C) The tier router authors
 *
 * The prices the configuration gives: tier_router_price directives and
 * LiteLLM catalogs, from a file or fetched from a URL when the
 * configuration loads, and the price of each tier's model.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_catalog.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"

#include "tr_fetch.h"
#include "tr_price.h"


#define NGX_HTTP_TIER_ROUTER_CATALOG_MAX  (64 * 1024 * 1024)


static ngx_int_t ngx_http_tier_router_price_hash(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf);
static ngx_http_tier_router_model_price_t *ngx_http_tier_router_price_find(
    ngx_array_t *a, ngx_str_t *model);
static int ngx_http_tier_router_catalog_add(void *data, const char *model,
    size_t len, const tr_price_t *p);
static ngx_int_t ngx_http_tier_router_catalog_read(ngx_conf_t *cf,
    ngx_str_t *path, ngx_array_t *catalog);


/*
 * tier_router_price MODEL input=D output=D [cached_input=D]
 *     [cache_write=D] [cache_write_1h=D] [reasoning=D]
 *     [above=TOKENS [above_input=D] [above_output=D] [above_cached=D]]
 *     [web_search=D] [web_fetch=D]             (dollars per thousand calls)
 *     [flex=X] [priority=X] [batch=X] [region=X]          (multipliers)
 *     [context=TOKENS]
 */

#define NGX_HTTP_TIER_ROUTER_PER_M    0       /* dollars per million */
#define NGX_HTTP_TIER_ROUTER_PER_K    1       /* dollars per thousand */
#define NGX_HTTP_TIER_ROUTER_TIMES    2       /* a multiplier */
#define NGX_HTTP_TIER_ROUTER_TOKENS   3

static struct {
    ngx_str_t     name;
    size_t        offset;
    ngx_uint_t    unit;
} ngx_http_tier_router_price_parts[] = {
    { ngx_string("input="), offsetof(tr_price_t, input),
      NGX_HTTP_TIER_ROUTER_PER_M },
    { ngx_string("output="), offsetof(tr_price_t, output),
      NGX_HTTP_TIER_ROUTER_PER_M },
    { ngx_string("cached_input="), offsetof(tr_price_t, cached),
      NGX_HTTP_TIER_ROUTER_PER_M },
    { ngx_string("cache_write="), offsetof(tr_price_t, cache_write),
      NGX_HTTP_TIER_ROUTER_PER_M },
    { ngx_string("cache_write_1h="), offsetof(tr_price_t, cache_write_1h),
      NGX_HTTP_TIER_ROUTER_PER_M },
    { ngx_string("reasoning="), offsetof(tr_price_t, reasoning),
      NGX_HTTP_TIER_ROUTER_PER_M },
    { ngx_string("above="), offsetof(tr_price_t, above),
      NGX_HTTP_TIER_ROUTER_TOKENS },
    { ngx_string("above_input="), offsetof(tr_price_t, above_input),
      NGX_HTTP_TIER_ROUTER_PER_M },
    { ngx_string("above_output="), offsetof(tr_price_t, above_output),
      NGX_HTTP_TIER_ROUTER_PER_M },
    { ngx_string("above_cached="), offsetof(tr_price_t, above_cached),
      NGX_HTTP_TIER_ROUTER_PER_M },
    { ngx_string("web_search="), offsetof(tr_price_t, web_search),
      NGX_HTTP_TIER_ROUTER_PER_K },
    { ngx_string("web_fetch="), offsetof(tr_price_t, web_fetch),
      NGX_HTTP_TIER_ROUTER_PER_K },
    { ngx_string("flex="), offsetof(tr_price_t, flex),
      NGX_HTTP_TIER_ROUTER_TIMES },
    { ngx_string("priority="), offsetof(tr_price_t, priority),
      NGX_HTTP_TIER_ROUTER_TIMES },
    { ngx_string("batch="), offsetof(tr_price_t, batch),
      NGX_HTTP_TIER_ROUTER_TIMES },
    { ngx_string("region="), offsetof(tr_price_t, region),
      NGX_HTTP_TIER_ROUTER_TIMES },
    { ngx_string("context="), offsetof(tr_price_t, context),
      NGX_HTTP_TIER_ROUTER_TOKENS },
    { ngx_null_string, 0, 0 }
};


char *
ngx_http_tier_router_price(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tier_router_main_conf_t *trmcf = conf;

    u_char                             *p;
    size_t                              n;
    int64_t                             v;
    ngx_str_t                          *value;
    ngx_uint_t                          i, k, unit;
    ngx_http_tier_router_model_price_t *mp;

    static const char  *why[] = {
        "dollars per million tokens, as \"2.50\"",
        "dollars per thousand calls, as \"10\"",
        "a multiplier up to 100, as \"0.5\"",
        "a number of input tokens, as \"200000\""
    };

    value = cf->args->elts;

    if (ngx_http_tier_router_price_find(&trmcf->prices, &value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate price for model \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    mp = ngx_array_push(&trmcf->prices);
    if (mp == NULL) {
        return NGX_CONF_ERROR;
    }

    mp->model = value[1];
    tr_price_init(&mp->price);

    for (i = 2; i < cf->args->nelts; i++) {

        n = 0;

        for (k = 0; ngx_http_tier_router_price_parts[k].name.len; k++) {
            n = ngx_http_tier_router_price_parts[k].name.len;

            if (value[i].len >= n
                && ngx_strncmp(value[i].data,
                               ngx_http_tier_router_price_parts[k].name.data,
                               n) == 0)
            {
                break;
            }
        }

        if (ngx_http_tier_router_price_parts[k].name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        unit = ngx_http_tier_router_price_parts[k].unit;
        p = value[i].data + n;

        if (unit == NGX_HTTP_TIER_ROUTER_TOKENS) {
            v = ngx_atoof(p, value[i].len - n);
            v = (v > 0) ? v : -1;

        } else {
            v = tr_price_parse(p, value[i].len - n);

            if (unit == NGX_HTTP_TIER_ROUTER_TIMES && v > TR_PRICE_FACTOR_MAX)
            {
                v = -1;
            }
        }

        if (v < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid price \"%V\": %s", &value[i],
                               why[unit]);
            return NGX_CONF_ERROR;
        }

        *(int64_t *) ((u_char *) &mp->price
                      + ngx_http_tier_router_price_parts[k].offset) = v;
    }

    if (mp->price.input < 0 || mp->price.output < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the price of \"%V\" needs \"input=\" and "
                           "\"output=\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (mp->price.above < 0
        && (mp->price.above_input >= 0 || mp->price.above_output >= 0
            || mp->price.above_cached >= 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the long context prices of \"%V\" need "
                           "\"above=\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * tier_router_price_catalog FILE | URL [cache=FILE] [timeout=TIME]
 *
 * A URL is fetched into its cache file when the configuration loads; if
 * the fetch fails, the last good copy there is used, with a warning.
 */

char *
ngx_http_tier_router_price_catalog_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tier_router_main_conf_t *trmcf = conf;

    char             err[512];
    ngx_str_t       *value, source, cache, s;
    ngx_int_t        timeout;
    ngx_uint_t       i, url;
    ngx_file_info_t  fi;

    value = cf->args->elts;

    source = value[1];
    cache.len = 0;
    timeout = 10000;

    url = (source.len > 7 && ngx_strncmp(source.data, "http://", 7) == 0)
          || (source.len > 8 && ngx_strncmp(source.data, "https://", 8) == 0);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "cache=", 6) == 0) {
            cache.data = value[i].data + 6;
            cache.len = value[i].len - 6;

            if (cache.len == 0
                || ngx_conf_full_name(cf->cycle, &cache, 0) != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            timeout = ngx_parse_time(&s, 0);

            if (timeout == NGX_ERROR || timeout == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (!url) {
        if (cache.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"cache=\" is for a catalog from a URL");
            return NGX_CONF_ERROR;
        }

        if (ngx_conf_full_name(cf->cycle, &source, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_tier_router_catalog_read(cf, &source, &trmcf->catalog)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (cache.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "a catalog from a URL needs \"cache=FILE\" for "
                           "its last good copy");
        return NGX_CONF_ERROR;
    }

    /* NUL-terminated copies for libcurl */

    source.data = ngx_pstrdup(cf->pool, &source);
    if (source.data == NULL) {
        return NGX_CONF_ERROR;
    }

    s.len = source.len;
    s.data = ngx_pnalloc(cf->pool, source.len + 1);
    if (s.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(s.data, source.data, source.len);
    s.data[s.len] = '\0';

    if (tr_fetch_catalog((char *) s.data,
                         (char *) cache.data, timeout,
                         NGX_HTTP_TIER_ROUTER_CATALOG_MAX,
                         err, sizeof(err))
        != 0)
    {
        if (ngx_file_info(cache.data, &fi) == NGX_FILE_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "price catalog: %s, and no last good copy "
                               "in \"%V\"", err, &cache);
            return NGX_CONF_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "price catalog: %s: using the last good copy "
                           "in \"%V\"", err, &cache);
    }

    if (ngx_http_tier_router_catalog_read(cf, &cache, &trmcf->catalog)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tier_router_catalog_read(ngx_conf_t *cf, ngx_str_t *path,
    ngx_array_t *catalog)
{
    int          n;
    char         err[512];
    u_char      *buf;
    size_t       size;
    ngx_err_t    e;
    ngx_int_t    rc;
    const char  *why;

    rc = ngx_http_tier_router_read_whole(path, NGX_HTTP_TIER_ROUTER_CATALOG_MAX,
                                         0, cf->log, &buf, &size, &e, &why);

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, e,
                           "price catalog: " ngx_open_file_n " \"%V\" "
                           "failed", path);
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "price catalog \"%V\": %s (at most 64 MB)",
                           path, why);
        return NGX_ERROR;
    }

    n = tr_price_catalog((char *) buf, size,
                         ngx_http_tier_router_catalog_add,
                         cf, err, sizeof(err));
    ngx_free(buf);

    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "price catalog \"%V\": %s", path, err);
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "tier router: %d prices from \"%V\"", n, path);

    return NGX_OK;
}


static int
ngx_http_tier_router_catalog_add(void *data, const char *model, size_t len,
    const tr_price_t *p)
{
    ngx_conf_t *cf = data;

    ngx_str_t                           name;
    ngx_http_tier_router_model_price_t *mp;
    ngx_http_tier_router_main_conf_t   *trmcf;

    trmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_tier_router_module);

    name.len = len;
    name.data = ngx_pnalloc(cf->pool, len);
    if (name.data == NULL) {
        return -1;
    }

    ngx_memcpy(name.data, model, len);

    /* a later catalog's price wins */

    mp = ngx_http_tier_router_price_find(&trmcf->catalog, &name);

    if (mp == NULL) {
        mp = ngx_array_push(&trmcf->catalog);
        if (mp == NULL) {
            return -1;
        }

        mp->model = name;
    }

    mp->price = *p;

    return 0;
}


static ngx_http_tier_router_model_price_t *
ngx_http_tier_router_price_find(ngx_array_t *a, ngx_str_t *model)
{
    ngx_uint_t                           i;
    ngx_http_tier_router_model_price_t  *mp;

    mp = a->elts;

    for (i = 0; i < a->nelts; i++) {
        if (mp[i].model.len == model->len
            && ngx_strncmp(mp[i].model.data, model->data, model->len) == 0)
        {
            return &mp[i];
        }
    }

    return NULL;
}


/*
 * The price of a model by name, as an answer names it: a directive's,
 * else a catalog's; NULL if neither has it.  One hash lookup (the hash is
 * built once the configuration is read).
 */

tr_price_t *
ngx_http_tier_router_price_of(ngx_http_tier_router_main_conf_t *trmcf,
    ngx_str_t *model, ngx_uint_t *here)
{
    ngx_http_tier_router_model_price_t  *mp;

    if (model->len == 0 || trmcf->price_hash.buckets == NULL) {
        return NULL;
    }

    mp = ngx_hash_find(&trmcf->price_hash,
                       ngx_hash_key(model->data, model->len), model->data,
                       model->len);

    if (here && mp) {
        *here = (mp >= (ngx_http_tier_router_model_price_t *) trmcf->prices.elts
                 && mp < (ngx_http_tier_router_model_price_t *)
                         trmcf->prices.elts + trmcf->prices.nelts);
    }

    return mp ? &mp->price : NULL;
}


/* every priced model by name: the directives' first, then the catalogs' */

static ngx_int_t
ngx_http_tier_router_price_hash(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf)
{
    ngx_int_t                            rc;
    ngx_uint_t                           i, k;
    ngx_array_t                         *a[2];
    ngx_hash_init_t                      hinit;
    ngx_hash_keys_arrays_t               ha;
    ngx_http_tier_router_model_price_t  *mp;

    ngx_memzero(&ha, sizeof(ngx_hash_keys_arrays_t));

    ha.pool = cf->pool;
    ha.temp_pool = cf->temp_pool;

    if (ngx_hash_keys_array_init(&ha, NGX_HASH_LARGE) != NGX_OK) {
        return NGX_ERROR;
    }

    a[0] = &trmcf->prices;
    a[1] = &trmcf->catalog;

    for (k = 0; k < 2; k++) {
        mp = a[k]->elts;

        for (i = 0; i < a[k]->nelts; i++) {
            rc = ngx_hash_add_key(&ha, &mp[i].model, &mp[i],
                                  NGX_HASH_READONLY_KEY);

            /* NGX_BUSY: a directive's name, or a catalog's again */

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }
        }
    }

    hinit.hash = &trmcf->price_hash;
    hinit.key = ngx_hash_key;
    hinit.max_size = 65536;
    hinit.bucket_size = ngx_align(256, ngx_cacheline_size);
    hinit.name = "tier_router_price_hash";
    hinit.pool = cf->pool;
    hinit.temp_pool = NULL;

    return ngx_hash_init(&hinit, ha.keys.elts, ha.keys.nelts);
}


/*
 * Each tier's price: a directive's, else a catalog's.  With a budget zone
 * every tier needs one: an unpriced tier would be spend nobody counts.
 */

char *
ngx_http_tier_router_price_tiers(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf)
{
    ngx_uint_t                           i;
    ngx_http_tier_router_tier_t         *tier;
    ngx_http_tier_router_model_price_t  *mp;

    tier = trmcf->tiers.elts;

    for (i = 0; i < trmcf->tiers.nelts; i++) {

        mp = ngx_http_tier_router_price_find(&trmcf->prices, &tier[i].model);

        tier[i].priced_here = (mp != NULL);

        if (mp == NULL) {
            mp = ngx_http_tier_router_price_find(&trmcf->catalog,
                                                 &tier[i].model);
        }

        if (mp) {
            tier[i].price = mp->price;
            tier[i].priced = 1;
            continue;
        }

        tr_price_init(&tier[i].price);

        if (trmcf->zones.nelts) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"tier_router_tier\" \"%V\": no price for model "
                          "\"%V\" (add \"tier_router_price\" or a catalog "
                          "that has it) in %V:%ui", &tier[i].name,
                          &tier[i].model, &tier[i].file, tier[i].line);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_tier_router_price_hash(cf, trmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* by index, as admission reads them */

    trmcf->tier_prices = ngx_palloc(cf->pool, (trmcf->tiers.nelts + 1)
                                              * sizeof(tr_price_t));
    if (trmcf->tier_prices == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < trmcf->tiers.nelts; i++) {
        trmcf->tier_prices[i] = tier[i].price;
    }

    return NGX_CONF_OK;
}
