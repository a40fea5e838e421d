
/*
 * Copyright (C) The tier router authors
 *
 * Tier ladders: the tiers a location climbs, cheapest first.  The http
 * block's own tier_router_tier lines are the default ladder; each
 * tier_router_ladder NAME { tier ...; } block is another, and
 * tier_router_use NAME picks one per location.  At the end of the http
 * block all tiers go in one array, each ladder a run of it, so that the
 * zones, prices and variables keep indexing tiers as before and a
 * request's tiers are the run [first, first + n) of its ladder.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_ladder.h"
#include "ngx_http_tier_router_module.h"
#include "ngx_http_tier_router_util.h"

#include "tr_dialect.h"
#include "tr_extract.h"
#include "tr_rewrite.h"


static char *ngx_http_tier_router_ladder_line(ngx_conf_t *cf,
    ngx_command_t *dummy, void *conf);
static char *ngx_http_tier_router_tier_add(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf,
    ngx_http_tier_router_ladder_t *ladder, ngx_str_t *value,
    ngx_uint_t nvalues);
static ngx_int_t ngx_http_tier_router_tier_name(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf, ngx_str_t *name);
static ngx_int_t ngx_http_tier_router_tier_param(
    ngx_http_tier_router_tier_t *tier, ngx_str_t *arg);
static ngx_int_t ngx_http_tier_router_word(ngx_str_t *v,
    ngx_conf_enum_t *words, ngx_uint_t *value);
static ngx_int_t ngx_http_tier_router_params(ngx_str_t *list,
    ngx_uint_t *bits);
static ngx_int_t ngx_http_tier_router_rename(
    ngx_http_tier_router_tier_t *tier, ngx_str_t *arg);
static char *ngx_http_tier_router_ladder_check(ngx_conf_t *cf,
    ngx_http_tier_router_ladder_t *ladder, ngx_http_tier_router_tier_t *tier);
static ngx_uint_t ngx_http_tier_router_api_of(ngx_int_t dialect);


/* the words of a tier's parameters, and what each stands for */

static ngx_conf_enum_t  ngx_http_tier_router_levels[] = {
    { ngx_string("low"), 1 },
    { ngx_string("medium"), 2 },
    { ngx_string("high"), 3 },
    { ngx_null_string, 0 }
};


/* the effort words of the APIs: OpenAI's, and Anthropic's "max" */

static ngx_conf_enum_t  ngx_http_tier_router_efforts[] = {
    { ngx_string("none"), 0 },
    { ngx_string("minimal"), 1 },
    { ngx_string("low"), 2 },
    { ngx_string("medium"), 3 },
    { ngx_string("high"), 4 },
    { ngx_string("xhigh"), 5 },
    { ngx_string("max"), 6 },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_tier_router_thinking[] = {
    { ngx_string("enabled"), TR_THINKING_ENABLED },
    { ngx_string("adaptive"), TR_THINKING_ADAPTIVE },
    { ngx_string("off"), TR_THINKING_OFF },
    { ngx_null_string, 0 }
};


static ngx_str_t  ngx_http_tier_router_apis[] = {
    ngx_string("any"),
    ngx_string("openai"),
    ngx_string("anthropic")
};


/* tier_router_tier NAME model=M upstream=U [...]: the default ladder's */

char *
ngx_http_tier_router_tier(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tier_router_main_conf_t *trmcf = conf;

    ngx_http_tier_router_ladder_t  *ladder;

    ladder = trmcf->ladders.elts;

    return ngx_http_tier_router_tier_add(cf, trmcf, &ladder[0],
                                         cf->args->elts, cf->args->nelts);
}


/* tier_router_ladder NAME [api=openai|anthropic] { tier NAME ...; ... } */

char *
ngx_http_tier_router_ladder(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tier_router_main_conf_t *trmcf = conf;

    char                           *rv;
    ngx_str_t                      *value;
    ngx_uint_t                      i, k;
    ngx_conf_t                      save;
    ngx_http_tier_router_ladder_t  *ladder;

    value = cf->args->elts;

    ladder = ngx_http_tier_router_ladder_add(cf, trmcf, &value[1]);
    if (ladder == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "api=", 4) != 0) {
            goto invalid;
        }

        for (k = 1; k < sizeof(ngx_http_tier_router_apis)
                        / sizeof(ngx_str_t); k++)
        {
            if (value[i].len - 4 == ngx_http_tier_router_apis[k].len
                && ngx_strncmp(value[i].data + 4,
                               ngx_http_tier_router_apis[k].data,
                               ngx_http_tier_router_apis[k].len) == 0)
            {
                ladder->api = k;
                break;
            }
        }

        if (ladder->api == NGX_HTTP_TIER_ROUTER_API_ANY) {
            goto invalid;
        }
    }

    save = *cf;
    cf->handler = ngx_http_tier_router_ladder_line;
    cf->handler_conf = (char *) ladder;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (ladder->parsed.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_ladder\" \"%V\" has no tier",
                           &ladder->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"tier_router_ladder\": invalid parameter \"%V\", "
                       "use api=openai or api=anthropic", &value[i]);
    return NGX_CONF_ERROR;
}


/* a new ladder; the default one, the first, has no name */

ngx_http_tier_router_ladder_t *
ngx_http_tier_router_ladder_add(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf, ngx_str_t *name)
{
    ngx_uint_t                      i;
    ngx_http_tier_router_ladder_t  *ladder;

    ladder = trmcf->ladders.elts;

    for (i = 0; name->len && i < trmcf->ladders.nelts; i++) {
        if (ladder[i].name.len == name->len
            && ngx_strncmp(ladder[i].name.data, name->data, name->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate \"tier_router_ladder\" \"%V\"",
                               name);
            return NULL;
        }
    }

    if ((name->len == 0 && trmcf->ladders.nelts)
        || name->len >= NGX_HTTP_TIER_ROUTER_TIER_NAME)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_ladder\": the name \"%V\" must "
                           "have 1 to %d characters", name,
                           NGX_HTTP_TIER_ROUTER_TIER_NAME - 1);
        return NULL;
    }

    ladder = ngx_array_push(&trmcf->ladders);
    if (ladder == NULL) {
        return NULL;
    }

    ngx_memzero(ladder, sizeof(ngx_http_tier_router_ladder_t));

    ladder->name = *name;
    ladder->api = NGX_HTTP_TIER_ROUTER_API_ANY;
    ladder->file = cf->conf_file->file.name;
    ladder->line = cf->conf_file->line;

    if (ngx_array_init(&ladder->parsed, cf->pool, 4,
                       sizeof(ngx_http_tier_router_tier_t))
        != NGX_OK)
    {
        return NULL;
    }

    return ladder;
}


/* a line of a tier_router_ladder block: tier NAME model=M upstream=U ... */

static char *
ngx_http_tier_router_ladder_line(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf)
{
    ngx_http_tier_router_ladder_t *ladder = conf;

    ngx_str_t                         *value;
    ngx_http_tier_router_main_conf_t  *trmcf;

    value = cf->args->elts;

    if (value[0].len != 4 || ngx_strncmp(value[0].data, "tier", 4) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown directive \"%V\" in "
                           "\"tier_router_ladder\", only \"tier\" is",
                           &value[0]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts < 3) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"tier\"");
        return NGX_CONF_ERROR;
    }

    trmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_tier_router_module);

    return ngx_http_tier_router_tier_add(cf, trmcf, ladder, value,
                                         cf->args->nelts);
}


static char *
ngx_http_tier_router_tier_add(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf,
    ngx_http_tier_router_ladder_t *ladder, ngx_str_t *value,
    ngx_uint_t nvalues)
{
    ngx_uint_t                    i;
    ngx_http_tier_router_tier_t  *tier;

    if (ngx_http_tier_router_tier_name(cf, trmcf, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    tier = ngx_array_push(&ladder->parsed);
    if (tier == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(tier, sizeof(ngx_http_tier_router_tier_t));

    tier->name = value[1];
    tier->thinking_budget = 8192;
    tier->share = -1;
    tier->rename = -1;
    tier->file = cf->conf_file->file.name;
    tier->line = cf->conf_file->line;

    for (i = 2; i < nvalues; i++) {
        if (ngx_http_tier_router_tier_param(tier, &value[i]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"tier_router_tier\": invalid parameter "
                               "\"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (tier->model.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_tier\" \"%V\" has no \"model=\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (tier->upstream.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_tier\" \"%V\" has no "
                           "\"upstream=\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * a tier's name: 1 to 31 letters, digits, "_", "-" and ".", and new in
 * every ladder (budget zones, the status page and $tier_router_tier know
 * a tier by its name alone)
 */

static ngx_int_t
ngx_http_tier_router_tier_name(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf, ngx_str_t *name)
{
    u_char                         *p;
    ngx_uint_t                      i, k;
    ngx_http_tier_router_tier_t    *tier;
    ngx_http_tier_router_ladder_t  *ladder;

    for (p = name->data; p < name->data + name->len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9')
              || *p == '_' || *p == '-' || *p == '.'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"tier_router_tier\": invalid name \"%V\", "
                               "use letters, "
                               "digits, \"_\", \"-\" and \".\"", name);
            return NGX_ERROR;
        }
    }

    if (name->len == 0 || name->len >= NGX_HTTP_TIER_ROUTER_TIER_NAME) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tier_router_tier\": the name \"%V\" must have "
                           "1 to %d characters", name,
                           NGX_HTTP_TIER_ROUTER_TIER_NAME - 1);
        return NGX_ERROR;
    }

    ladder = trmcf->ladders.elts;

    for (k = 0; k < trmcf->ladders.nelts; k++) {
        tier = ladder[k].parsed.elts;

        for (i = 0; i < ladder[k].parsed.nelts; i++) {
            if (tier[i].name.len == name->len
                && ngx_strncmp(tier[i].name.data, name->data, name->len)
                   == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"tier_router_tier\": duplicate tier "
                                   "\"%V\"", name);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* one NAME=VALUE parameter of a tier; NGX_ERROR: invalid */

static ngx_int_t
ngx_http_tier_router_tier_param(ngx_http_tier_router_tier_t *tier,
    ngx_str_t *arg)
{
    u_char      *p, *last;
    ngx_str_t    v;
    ngx_int_t    n;
    ngx_uint_t   k;

    if (ngx_strncmp(arg->data, "model=", 6) == 0) {
        tier->model.data = arg->data + 6;
        tier->model.len = arg->len - 6;

        last = tier->model.data + tier->model.len;

        for (p = tier->model.data; p < last; p++) {
            if (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) {
                return NGX_ERROR;
            }
        }

        return (tier->model.len == 0 || tier->model.len >= TR_MODEL_LEN)
               ? NGX_ERROR : NGX_OK;
    }

    if (ngx_strncmp(arg->data, "upstream=", 9) == 0) {
        tier->upstream.data = arg->data + 9;
        tier->upstream.len = arg->len - 9;

        return tier->upstream.len ? NGX_OK : NGX_ERROR;
    }

    if (ngx_strncmp(arg->data, "max_score=", 10) == 0) {
        n = ngx_atofp(arg->data + 10, arg->len - 10, 3);

        if (n == NGX_ERROR || n > 1000) {
            return NGX_ERROR;
        }

        tier->max_score = (double) n / 1000;
        tier->max_score_set = 1;
        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "reasoning=", 10) == 0) {
        v.data = arg->data + 10;
        v.len = arg->len - 10;

        return ngx_http_tier_router_word(&v, ngx_http_tier_router_levels,
                                         &tier->reasoning);
    }

    if (ngx_strncmp(arg->data, "share=", 6) == 0) {
        v.data = arg->data + 6;
        v.len = arg->len - 6;

        if (v.len && v.data[v.len - 1] == '%') {
            v.len--;
        }

        n = ngx_atofp(v.data, v.len, 2);

        if (n == NGX_ERROR || n > 10000) {
            return NGX_ERROR;
        }

        tier->share = (double) n / 10000;
        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "effort=", 7) == 0) {
        v.data = arg->data + 7;
        v.len = arg->len - 7;

        if (ngx_http_tier_router_word(&v, ngx_http_tier_router_efforts, &k)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        tier->effort = (const char *)
                           ngx_http_tier_router_efforts[k].name.data;
        return NGX_OK;
    }

    if (ngx_strncmp(arg->data, "thinking=", 9) == 0) {
        v.data = arg->data + 9;
        v.len = arg->len - 9;

        return ngx_http_tier_router_word(&v, ngx_http_tier_router_thinking,
                                         &tier->thinking);
    }

    if (ngx_strncmp(arg->data, "drop=", 5) == 0) {
        v.data = arg->data + 5;
        v.len = arg->len - 5;

        return ngx_http_tier_router_params(&v, &tier->drop);
    }

    if (ngx_strncmp(arg->data, "rename=", 7) == 0) {
        return ngx_http_tier_router_rename(tier, arg);
    }

    if (ngx_strncmp(arg->data, "thinking_budget=", 16) == 0) {
        n = ngx_atoi(arg->data + 16, arg->len - 16);

        if (n == NGX_ERROR || n < 1024) {
            return NGX_ERROR;
        }

        tier->thinking_budget = n;
        return NGX_OK;
    }

    return NGX_ERROR;
}


/* one of a table's words: its value */

static ngx_int_t
ngx_http_tier_router_word(ngx_str_t *v, ngx_conf_enum_t *words,
    ngx_uint_t *value)
{
    ngx_uint_t  i;

    for (i = 0; words[i].name.len; i++) {
        if (words[i].name.len == v->len
            && ngx_strncmp(words[i].name.data, v->data, v->len) == 0)
        {
            *value = words[i].value;
            return NGX_OK;
        }
    }

    return NGX_ERROR;
}


/* P[,P...]: request members by name (tr_param_names), as bits */

static ngx_int_t
ngx_http_tier_router_params(ngx_str_t *list, ngx_uint_t *bits)
{
    u_char      *p, *last, *comma;
    size_t       len;
    ngx_uint_t   k;

    p = list->data;
    last = list->data + list->len;

    if (p == last) {
        return NGX_ERROR;
    }

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        len = (comma ? comma : last) - p;

        for (k = 0; k < TR_PARAMS; k++) {
            if (ngx_strlen(tr_param_names[k]) == len
                && ngx_strncmp(tr_param_names[k], p, len) == 0)
            {
                break;
            }
        }

        if (k == TR_PARAMS) {
            return NGX_ERROR;
        }

        *bits |= (ngx_uint_t) 1 << k;

        if (comma == NULL) {
            break;
        }

        p = comma + 1;

        if (p == last) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* rename=FROM:TO: FROM a member the profile knows, TO a plain key */

static ngx_int_t
ngx_http_tier_router_rename(ngx_http_tier_router_tier_t *tier,
    ngx_str_t *arg)
{
    u_char      *p, *colon, *last;
    ngx_str_t    from;
    ngx_uint_t   bits;

    p = arg->data + 7;
    last = arg->data + arg->len;

    colon = ngx_strlchr(p, last, ':');

    if (colon == NULL || colon + 1 == last || last - colon > 64) {
        return NGX_ERROR;
    }

    from.data = p;
    from.len = colon - p;
    bits = 0;

    if (ngx_http_tier_router_params(&from, &bits) != NGX_OK
        || bits == ((ngx_uint_t) 1 << TR_PARAM_THINKING)
        || (bits & (bits - 1)))
    {
        return NGX_ERROR;
    }

    for (p = colon + 1; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '_'))
        {
            return NGX_ERROR;
        }
    }

    tier->rename = 0;

    while (!(bits & 1)) {
        bits >>= 1;
        tier->rename++;
    }

    tier->rename_to = colon + 1;

    return NGX_OK;
}


/*
 * At the end of the http block: every ladder's tiers in one array, the
 * default ladder's first, each ladder checked on its own.
 */

char *
ngx_http_tier_router_ladders_init(ngx_conf_t *cf,
    ngx_http_tier_router_main_conf_t *trmcf)
{
    ngx_uint_t                      i, k;
    ngx_http_tier_router_tier_t    *tier, *t;
    ngx_http_tier_router_ladder_t  *ladder;

    ladder = trmcf->ladders.elts;

    for (k = 0; k < trmcf->ladders.nelts; k++) {
        ladder[k].first = trmcf->tiers.nelts;
        ladder[k].n = ladder[k].parsed.nelts;

        if (trmcf->tiers.nelts + ladder[k].n
            > NGX_HTTP_TIER_ROUTER_MAX_TIERS)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "at most %d tiers may be defined, in all ladders",
                          NGX_HTTP_TIER_ROUTER_MAX_TIERS);
            return NGX_CONF_ERROR;
        }

        t = ladder[k].parsed.elts;

        for (i = 0; i < ladder[k].n; i++) {
            tier = ngx_array_push(&trmcf->tiers);
            if (tier == NULL) {
                return NGX_CONF_ERROR;
            }

            *tier = t[i];
            tier->ladder = k;
        }
    }

    tier = trmcf->tiers.elts;

    for (k = 0; k < trmcf->ladders.nelts; k++) {
        if (ngx_http_tier_router_ladder_check(cf, &ladder[k],
                                              &tier[ladder[k].first])
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_tier_router_ladder_check(ngx_conf_t *cf,
    ngx_http_tier_router_ladder_t *ladder, ngx_http_tier_router_tier_t *tier)
{
    double      prev;
    ngx_uint_t  i, n;

    n = ladder->n;
    prev = -1;

    for (i = 0; i < n; i++) {

        if (!tier[i].max_score_set) {
            tier[i].max_score = (i == n - 1) ? 1.0 : (double) (i + 1) / n;
        }

        if (tier[i].max_score <= prev) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"tier_router_tier\" \"%V\": max_score must be "
                          "greater than the previous tier's in %V:%ui",
                          &tier[i].name, &tier[i].file, tier[i].line);
            return NGX_CONF_ERROR;
        }

        prev = tier[i].max_score;

        if (ngx_http_tier_router_upstream_known(cf, &tier[i].upstream)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"tier_router_tier\" \"%V\": no upstream \"%V\" "
                          "is defined (and it is not an address with a "
                          "port) in %V:%ui", &tier[i].name,
                          &tier[i].upstream, &tier[i].file, tier[i].line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* tier_router_use NAME [translate]: the ladder of this location */

char *
ngx_http_tier_router_use(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tier_router_loc_conf_t *trlcf = conf;

    ngx_str_t  *value;

    if (trlcf->ladder_name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    trlcf->ladder_name = value[1];
    trlcf->translate = 0;

    if (cf->args->nelts == 3) {
        if (value[2].len != 9
            || ngx_strncmp(value[2].data, "translate", 9) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"tier_router_use\": invalid parameter "
                               "\"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        trlcf->translate = 1;
    }

    trlcf->ladder_file = cf->conf_file->file.name;
    trlcf->ladder_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/*
 * The location's ladder, inherited or named; where tier_router is on and
 * the location's API is known (tier_router_dialect, or a location named
 * for it), a ladder of the other provider's API is refused unless the
 * operator said translate.
 */

char *
ngx_http_tier_router_ladder_merge(ngx_conf_t *cf,
    ngx_http_tier_router_loc_conf_t *prev,
    ngx_http_tier_router_loc_conf_t *conf)
{
    ngx_int_t                          dialect;
    ngx_uint_t                         i;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_tier_router_ladder_t     *ladder;
    ngx_http_tier_router_main_conf_t  *trmcf;

    if (conf->ladder_name.data == NULL) {
        conf->ladder_name = prev->ladder_name;
        conf->translate = prev->translate;
        conf->ladder_file = prev->ladder_file;
        conf->ladder_line = prev->ladder_line;
    }

    trmcf = ngx_http_conf_get_module_main_conf(cf,
                                               ngx_http_tier_router_module);

    ladder = trmcf->ladders.elts;
    conf->ladder = &ladder[0];

    if (conf->ladder_name.data) {

        for (i = 1; i < trmcf->ladders.nelts; i++) {
            if (ladder[i].name.len == conf->ladder_name.len
                && ngx_strncmp(ladder[i].name.data, conf->ladder_name.data,
                               conf->ladder_name.len) == 0)
            {
                break;
            }
        }

        if (i == trmcf->ladders.nelts) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"tier_router_use\": no \"tier_router_ladder\" "
                          "\"%V\" is defined in %V:%ui", &conf->ladder_name,
                          &conf->ladder_file, conf->ladder_line);
            return NGX_CONF_ERROR;
        }

        conf->ladder = &ladder[i];
    }

    if (!conf->enable || conf->translate
        || conf->ladder->api == NGX_HTTP_TIER_ROUTER_API_ANY)
    {
        return NGX_CONF_OK;
    }

    dialect = (ngx_int_t) conf->dialect;

    if (dialect == TR_AUTO) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
        dialect = tr_dialect_by_uri(clcf->name.data, clcf->name.len);
    }

    if (dialect != TR_AUTO
        && ngx_http_tier_router_api_of(dialect) != conf->ladder->api)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"tier_router_ladder\" \"%V\" speaks the %V API, "
                      "not the %s API of the location routed in %V:%ui "
                      "(\"tier_router_use %V translate\" if its upstreams "
                      "translate)", &conf->ladder->name,
                      &ngx_http_tier_router_apis[conf->ladder->api],
                      tr_dialect_name((int) dialect), &conf->file, conf->line,
                      &conf->ladder->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* NGX_OK: the ladder speaks the request's API (or any, or translates) */

ngx_int_t
ngx_http_tier_router_ladder_speaks(ngx_http_tier_router_loc_conf_t *trlcf,
    ngx_int_t dialect)
{
    if (trlcf->translate
        || trlcf->ladder->api == NGX_HTTP_TIER_ROUTER_API_ANY)
    {
        return NGX_OK;
    }

    return (ngx_http_tier_router_api_of(dialect) == trlcf->ladder->api)
           ? NGX_OK : NGX_DECLINED;
}


static ngx_uint_t
ngx_http_tier_router_api_of(ngx_int_t dialect)
{
    return (dialect == TR_ANTHROPIC) ? NGX_HTTP_TIER_ROUTER_API_ANTHROPIC
                                     : NGX_HTTP_TIER_ROUTER_API_OPENAI;
}


/* a tier by name, in the ladder (NULL: in any): its index, or NGX_ERROR */

ngx_int_t
ngx_http_tier_router_find_tier(ngx_http_tier_router_main_conf_t *trmcf,
    ngx_http_tier_router_ladder_t *ladder, u_char *name, size_t len)
{
    ngx_uint_t                    i, first, last;
    ngx_http_tier_router_tier_t  *tier;

    tier = trmcf->tiers.elts;

    first = ladder ? ladder->first : 0;
    last = ladder ? ladder->first + ladder->n : trmcf->tiers.nelts;

    for (i = first; i < last; i++) {
        if (tier[i].name.len == len
            && ngx_strncmp(tier[i].name.data, name, len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}
