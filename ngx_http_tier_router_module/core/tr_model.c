
/*
 * Copyright (C) The tier router authors
 *
 * The learned scorer's features, inference and weights loader.  Bounded
 * work: the text is read only by the classifier's scan (at most 4 KB),
 * which counts what the features need when features.count is set; here
 * a dot product of TR_MODEL_N terms; no allocation.
 */


#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "tr_model.h"



/* the order of the weights in a model file */

const char  *tr_model_names[] = {
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


static const char  *tr_model_reasons[] = {
    "choices", "legal", "ethics", "multi_part", "multi_step", "medical",
    "math", "task_code", "task_debug", "short_output", "proof", "creative",
    "short_simple", "long_output", "fixed_output", "code_block", "systems",
    "task_analysis", NULL
};


void
tr_model_features(const tr_features_t *f,
    const tr_verdict_t *v, double *x)
{
    unsigned            k;
    const char         *p, *e;
    const tr_counts_t  *c;

    memset(x, 0, TR_MODEL_N * sizeof(double));

    x[0] = 1;
    x[1] = v->score;
    x[2] = v->score * v->score;

    /* the classifier's signals, one feature each */

    for (p = v->reasons; *p; p = (*e == ',') ? e + 1 : e) {
        e = strchr(p, ',');

        if (e == NULL) {
            e = p + strlen(p);
        }

        for (k = 0; tr_model_reasons[k]; k++) {
            if (strlen(tr_model_reasons[k])
                == (size_t) (e - p)
                && memcmp(tr_model_reasons[k], p, e - p)
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
        x[34] = c->overlap;
    }
}


double
tr_model_raw(const tr_model_t *m,
    const double *x)
{
    double    r;
    unsigned  i;

    r = 0;

    for (i = 0; i < TR_MODEL_N; i++) {
        r += m->w[i] * x[i];
    }

    return r;
}


double
tr_model_score(const tr_model_t *m,
    const double *x)
{
    double  z;

    z = (tr_model_raw(m, x) - m->center) * m->scale;

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
tr_model_load(const char *buf, size_t len,
    tr_model_t *m, char *err, size_t errlen)
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
        != TR_MODEL_VERSION)
    {
        snprintf(err, errlen, "model version %lld, this module reads %d",
                 (long long) json_integer_value(json_object_get(root,
                                                                "version")),
                 TR_MODEL_VERSION);
        goto failed;
    }

    names = json_object_get(root, "features");
    weights = json_object_get(root, "weights");

    if (!json_is_array(names) || !json_is_array(weights)
        || json_array_size(names) != TR_MODEL_N
        || json_array_size(weights) != TR_MODEL_N)
    {
        snprintf(err, errlen, "the model needs %d features and as many "
                 "weights", TR_MODEL_N);
        goto failed;
    }

    for (i = 0; i < TR_MODEL_N; i++) {
        s = json_string_value(json_array_get(names, i));

        if (s == NULL || strcmp(s, tr_model_names[i]) != 0)
        {
            snprintf(err, errlen, "feature %zu is \"%s\", this module's is "
                     "\"%s\": the model was trained for another version",
                     i, s ? s : "(not a string)",
                     tr_model_names[i]);
            goto failed;
        }

        v = json_array_get(weights, i);

        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            snprintf(err, errlen, "weight %zu (\"%s\") is not a finite "
                     "number", i, tr_model_names[i]);
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
