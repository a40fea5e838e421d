
/*
 * Copyright (C) The tier router authors
 *
 * The learned scorer's features, inference and weights loader.  Bounded
 * work: one pass over the classifier's text window (at most 4 KB), a dot
 * product of NGX_HTTP_TIER_ROUTER_MODEL_N terms; no allocation.
 */


#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "ngx_http_tier_router_model.h"


static double ngx_http_tier_router_model_overlap(const unsigned char *t,
    size_t n);


#define TR_WORD   1


/* the bytes of words: letters, digits and the bytes of UTF-8 letters */

static const unsigned char  ngx_http_tier_router_model_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
};


/* the order of the weights in a model file */

const char  *ngx_http_tier_router_model_names[] = {
    "bias", "score", "score_sq",
    "r_choices", "r_legal", "r_ethics", "r_multi_part", "r_multi_step",
    "r_medical", "r_math", "r_task_code", "r_task_debug", "r_short_output",
    "r_proof", "r_creative", "r_short_simple", "r_long_output",
    "r_fixed_output", "r_code_block", "r_systems", "r_task_analysis",
    "log_bytes", "log_words", "log_numbers", "log_sentences", "log_lines",
    "digit_share", "upper_share", "word_length", "log_math_signs",
    "negation", "log_commas", "question_first_line", "log_step_words",
    "choice_overlap",
    NULL
};


static const char  *ngx_http_tier_router_model_reasons[] = {
    "choices", "legal", "ethics", "multi_part", "multi_step", "medical",
    "math", "task_code", "task_debug", "short_output", "proof", "creative",
    "short_simple", "long_output", "fixed_output", "code_block", "systems",
    "task_analysis", NULL
};


void
ngx_http_tier_router_model_features(const ngx_http_tier_router_features_t *f,
    const ngx_http_tier_router_verdict_t *v, double *x)
{
    unsigned                              k;
    const char                           *p, *e;
    const ngx_http_tier_router_counts_t  *c;

    memset(x, 0, NGX_HTTP_TIER_ROUTER_MODEL_N * sizeof(double));

    x[0] = 1;
    x[1] = v->score;
    x[2] = v->score * v->score;

    /* the classifier's signals, one feature each */

    for (p = v->reasons; *p; p = (*e == ',') ? e + 1 : e) {
        e = strchr(p, ',');

        if (e == NULL) {
            e = p + strlen(p);
        }

        for (k = 0; ngx_http_tier_router_model_reasons[k]; k++) {
            if (strlen(ngx_http_tier_router_model_reasons[k])
                == (size_t) (e - p)
                && memcmp(ngx_http_tier_router_model_reasons[k], p, e - p)
                   == 0)
            {
                x[3 + k] = 1;
                break;
            }
        }
    }

    /* what the classifier's scan of the latest user turn counted */

    c = &v->counts;

    x[21] = log1p((double) c->bytes) / 8;
    x[22] = log1p((double) c->words) / 6;
    x[23] = log1p((double) c->nums) / 3;
    x[24] = log1p((double) c->sentences) / 3;
    x[25] = log1p((double) c->lines) / 3;
    x[26] = c->bytes ? (double) c->digits / c->bytes * 5 : 0;
    x[27] = c->bytes ? (double) c->upper / c->bytes * 10 : 0;
    x[28] = c->words ? (double) c->wbytes / c->words / 6 : 0;
    x[29] = log1p((double) c->signs) / 3;
    x[30] = c->negation;
    x[31] = log1p((double) c->commas) / 3;
    x[32] = c->question;
    x[33] = log1p((double) c->steps) / 3;

    /* answer options that differ by little are harder to tell apart */

    if (x[3] != 0) {
        x[34] = ngx_http_tier_router_model_overlap(f->text, f->text_len);
    }
}


/*
 * The mean Jaccard similarity of the words of each pair of answer
 * options (lines "A. ", "B) ", ... up to J), each option's words as a
 * 256-bit set of hashes; 0 with fewer than two options.
 */

#define TR_OPTIONS  10

static double
ngx_http_tier_router_model_overlap(const unsigned char *t, size_t n)
{
    double     sum;
    size_t     i;
    uint32_t   h;
    uint64_t   set[TR_OPTIONS][4], *cur;
    unsigned   k, a, b, j, both, either, pairs, inword;

    k = 0;
    cur = NULL;
    h = 0;
    inword = 0;

    for (i = 0; i <= n; i++) {

        /* an option starts a line: a capital A-J, then ". " or ") " */

        if (i + 2 < n && (i == 0 || t[i - 1] == '\n')
            && t[i] >= 'A' && t[i] <= 'J'
            && (t[i + 1] == '.' || t[i + 1] == ')') && t[i + 2] == ' ')
        {
            if (k == TR_OPTIONS) {
                break;
            }

            cur = set[k++];
            cur[0] = cur[1] = cur[2] = cur[3] = 0;
            inword = 0;
            i += 2;
            continue;
        }

        if (cur == NULL) {
            continue;
        }

        if (i < n && (ngx_http_tier_router_model_class[t[i]] & TR_WORD)) {
            h = inword ? (h ^ (t[i] | 0x20)) * 16777619
                       : (2166136261u ^ (t[i] | 0x20)) * 16777619;
            inword = 1;
            continue;
        }

        if (inword) {
            h &= 255;
            cur[h >> 6] |= (uint64_t) 1 << (h & 63);
            inword = 0;
        }

        if (i < n && t[i] == '\n') {
            cur = NULL;
        }
    }

    if (k < 2) {
        return 0;
    }

    sum = 0;
    pairs = 0;

    for (a = 0; a < k; a++) {
        for (b = a + 1; b < k; b++) {
            both = 0;
            either = 0;

            for (j = 0; j < 4; j++) {
                both += __builtin_popcountll(set[a][j] & set[b][j]);
                either += __builtin_popcountll(set[a][j] | set[b][j]);
            }

            sum += either ? (double) both / either : 0;
            pairs++;
        }
    }

    return sum / pairs;
}


double
ngx_http_tier_router_model_raw(const ngx_http_tier_router_model_t *m,
    const double *x)
{
    double    r;
    unsigned  i;

    r = 0;

    for (i = 0; i < NGX_HTTP_TIER_ROUTER_MODEL_N; i++) {
        r += m->w[i] * x[i];
    }

    return r;
}


double
ngx_http_tier_router_model_score(const ngx_http_tier_router_model_t *m,
    const double *x)
{
    double  z;

    z = (ngx_http_tier_router_model_raw(m, x) - m->center) * m->scale;

    if (z > 40) {
        return 1;
    }

    if (z < -40) {
        return 0;
    }

    return 1 / (1 + exp(-z));
}


/*
 * {"format":"tier-router-model","version":1,"features":[names...],
 *  "weights":[numbers...],"center":number,"scale":number, ...}
 * The features must be these, in this order: a model trained for another
 * build of the module is refused, never misread.
 */

int
ngx_http_tier_router_model_load(const char *buf, size_t len,
    ngx_http_tier_router_model_t *m, char *err, size_t errlen)
{
    size_t         i;
    json_t        *root, *names, *weights, *v;
    const char    *s;
    json_error_t   jerr;

    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        snprintf(err, errlen, "not valid JSON: %s at line %d", jerr.text,
                 jerr.line);
        return -1;
    }

    s = json_string_value(json_object_get(root, "format"));

    if (!json_is_object(root) || s == NULL
        || strcmp(s, "tier-router-model") != 0)
    {
        snprintf(err, errlen, "not a tier router model (no \"format\": "
                 "\"tier-router-model\")");
        goto failed;
    }

    if (json_integer_value(json_object_get(root, "version"))
        != NGX_HTTP_TIER_ROUTER_MODEL_VERSION)
    {
        snprintf(err, errlen, "model version %lld, this module reads %d",
                 (long long) json_integer_value(json_object_get(root,
                                                                "version")),
                 NGX_HTTP_TIER_ROUTER_MODEL_VERSION);
        goto failed;
    }

    names = json_object_get(root, "features");
    weights = json_object_get(root, "weights");

    if (!json_is_array(names) || !json_is_array(weights)
        || json_array_size(names) != NGX_HTTP_TIER_ROUTER_MODEL_N
        || json_array_size(weights) != NGX_HTTP_TIER_ROUTER_MODEL_N)
    {
        snprintf(err, errlen, "the model needs %d features and as many "
                 "weights", NGX_HTTP_TIER_ROUTER_MODEL_N);
        goto failed;
    }

    for (i = 0; i < NGX_HTTP_TIER_ROUTER_MODEL_N; i++) {
        s = json_string_value(json_array_get(names, i));

        if (s == NULL || strcmp(s, ngx_http_tier_router_model_names[i]) != 0)
        {
            snprintf(err, errlen, "feature %zu is \"%s\", this module's is "
                     "\"%s\": the model was trained for another version",
                     i, s ? s : "(not a string)",
                     ngx_http_tier_router_model_names[i]);
            goto failed;
        }

        v = json_array_get(weights, i);

        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            snprintf(err, errlen, "weight %zu (\"%s\") is not a finite "
                     "number", i, ngx_http_tier_router_model_names[i]);
            goto failed;
        }

        m->w[i] = json_number_value(v);
    }

    v = json_object_get(root, "center");

    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        snprintf(err, errlen, "\"center\" is not a finite number");
        goto failed;
    }

    m->center = json_number_value(v);

    v = json_object_get(root, "scale");

    if (!json_is_number(v) || !(json_number_value(v) > 0)
        || !isfinite(json_number_value(v)))
    {
        snprintf(err, errlen, "\"scale\" is not a positive number");
        goto failed;
    }

    m->scale = json_number_value(v);

    json_decref(root);

    return 0;

failed:

    json_decref(root);

    return -1;
}
