
/*
 * Copyright (C) The tier router authors
 *
 * The learned scorer: features of known text, inference with fixed
 * weights, and the loader's refusals (each with its message).
 */


#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_model.h"
#include "unit.h"


#define N  TR_MODEL_N


typedef tr_model_t     model_t;
typedef tr_features_t  features_t;
typedef tr_verdict_t   verdict_t;


/* a model file with these weights, center and scale; names as given */

static char *
model_json(const double *w, double center, double scale, int bad_name)
{
    char      *buf, *p;
    unsigned   i;

    buf = malloc(16384);
    p = buf;

    p += sprintf(p, "{\"format\":\"tier-router-model\",\"version\":1,"
                 "\"features\":[");

    for (i = 0; i < N; i++) {
        p += sprintf(p, "%s\"%s\"", i ? "," : "",
                     (bad_name && i == 5) ? "r_other"
                     : tr_model_names[i]);
    }

    p += sprintf(p, "],\"weights\":[");

    for (i = 0; i < N; i++) {
        p += sprintf(p, "%s%.17g", i ? "," : "", w[i]);
    }

    sprintf(p, "],\"center\":%.17g,\"scale\":%.17g}", center, scale);

    return buf;
}


static int
load(const char *json, model_t *m, char *err)
{
    return tr_model_load(json, strlen(json), m, err, 256);
}


int
main(void)
{
    int          rc;
    char        *json, err[256], big[64];
    double       w[N], x[N], y[N], s;
    model_t      m;
    unsigned     i;
    features_t   f;
    verdict_t    v;

    static const char  *text =
        "If each box holds 12 apples and 3.5 boxes are NOT full, what is\n"
        "the total? Explain, step by step, why x = 2 * y.";

    /* features of a known text */

    memset(&f, 0, sizeof(features_t));
    memset(&v, 0, sizeof(verdict_t));
    f.text = (const unsigned char *) text;
    f.text_len = strlen(text);
    f.max_tokens = -1;
    f.count = 1;

    /* the classifier counts; the signals and score are set by hand */

    tr_classify(&f, &v);
    v.score = 0.5;
    strcpy(v.reasons, "math,multi_step,nonsense");

    tr_model_features(&f, &v, x);

    UNIT_OK(x[0] == 1 && x[1] == 0.5 && x[2] == 0.25,
            "features: bias, score, score squared");
    UNIT_OK(x[9] == 1 && x[7] == 1 && x[3] == 0 && x[4] == 0,
            "features: the classifier's signals (math, multi_step), an "
            "unknown one ignored");
    UNIT_OK(fabs(x[23] - log1p(3) / 3) < 1e-12,
            "features: 3 numbers (12, 3.5 and 2; 3.5 is one) (%.0f)",
            expm1(x[23] * 3));
    UNIT_OK(x[30] == 1, "features: a negation (NOT)");
    UNIT_OK(x[32] == 0, "features: the first line has no question mark");
    UNIT_OK(fabs(x[25] - log1p(1) / 3) < 1e-12, "features: one line break");
    UNIT_OK(fabs(x[33] - log1p(3) / 3) < 1e-12,
            "features: 3 step words (If, each, total) (%.0f)",
            expm1(x[33] * 3));

    /* the answer options' overlap, for a multiple-choice prompt only */

    UNIT_OK(x[34] == 0, "features: no options, no overlap");

    {
        static const char  *same =
            "Which is right?\nA. the cell wall is thick\n"
            "B. the cell wall is thin\nC. the cell wall is thick\n"
            "Answer:";
        static const char  *apart =
            "Which is right?\nA. red apples\nB) seven rivers\n"
            "C. quantum fields\nAnswer:";

        f.text = (const unsigned char *) same;
        f.text_len = strlen(same);
        tr_classify(&f, &v);
        strcpy(v.reasons, "choices");
        tr_model_features(&f, &v, y);

        /* A~B 4 of 6 words, A~C all 5, B~C 4 of 6: (2/3 + 1 + 2/3) / 3 */

        UNIT_OK(fabs(y[34] - 7.0 / 9) < 0.05,
                "features: options that differ by a word overlap %.3f "
                "(7/9 with exact sets)", y[34]);

        f.text = (const unsigned char *) apart;
        f.text_len = strlen(apart);
        tr_classify(&f, &v);
        strcpy(v.reasons, "choices");
        tr_model_features(&f, &v, y);

        UNIT_OK(y[34] < 0.05, "features: options apart overlap %.3f",
                y[34]);

        /* numbers count as words: "12" and "12" are the same option */

        f.text = (const unsigned char *) "Pick:\nA. 12\nB. 12\nc) 12\n";
        f.text_len = strlen((const char *) f.text);
        tr_classify(&f, &v);
        UNIT_OK(v.counts.overlap == 1, "counts: numeric options that are "
                "the same overlap %.3f", v.counts.overlap);

        /* more options than are kept: the first 10, no overrun */

        f.text = (const unsigned char *)
            "A. x\nB. x\nC. x\nD. x\nE. x\nA. x\nB. x\nC. x\n"
            "D. x\nE. x\nA. y\nB. y\nC. y\nD. y\n";
        f.text_len = strlen((const char *) f.text);
        tr_classify(&f, &v);
        UNIT_OK(v.counts.overlap == 1, "counts: 14 options, the first 10 "
                "kept (overlap %.3f)", v.counts.overlap);

        /* the rules alone count no options */

        f.count = 0;
        tr_classify(&f, &v);
        UNIT_OK(v.counts.overlap == 0, "counts: without count, no overlap");
        f.count = 1;
        f.text = (const unsigned char *) apart;
        f.text_len = strlen(apart);
        tr_classify(&f, &v);

        strcpy(v.reasons, "math");
        tr_model_features(&f, &v, y);

        UNIT_OK(y[34] == 0, "features: without the classifier's choices "
                "signal it is not computed");

        strcpy(v.reasons, "math,multi_step,nonsense");
    }

    /* no text, no crash, zeros */

    f.text = NULL;
    f.text_len = 0;
    tr_classify(&f, &v);
    tr_model_features(&f, &v, y);
    UNIT_OK(y[21] == 0 && y[22] == 0 && y[28] == 0,
            "features: an empty text gives zeros");

    /* inference with fixed weights */

    memset(w, 0, sizeof(w));
    w[0] = 1;
    json = model_json(w, 1, 1, 0);
    rc = load(json, &m, err);
    free(json);

    UNIT_OK(rc == 0, "load: a bias-only model (%s)", rc ? err : "ok");
    UNIT_OK(tr_model_score(&m, x) == 0.5,
            "score: raw at the center gives 0.5");

    w[1] = 2;
    w[9] = -0.5;
    json = model_json(w, 0.25, 3, 0);
    rc = load(json, &m, err);
    free(json);

    s = 1 / (1 + exp(-((1 + 2 * 0.5 - 0.5) - 0.25) * 3));
    UNIT_OK(rc == 0 && fabs(tr_model_score(&m, x) - s)
                       < 1e-12,
            "score: 1/(1+e^-((w.x - center) scale)) = %.6f", s);
    UNIT_OK(fabs(tr_model_raw(&m, x) - 1.5) < 1e-12,
            "raw: the dot product");

    w[1] = 1e6;
    json = model_json(w, 0, 1, 0);
    load(json, &m, err);
    free(json);
    UNIT_OK(tr_model_score(&m, x) == 1,
            "score: saturates at 1 without overflow");

    /* the loader's refusals */

    UNIT_OK(load("{", &m, err) != 0 && strstr(err, "not valid JSON"),
            "load: not JSON (%s)", err);
    UNIT_OK(load("{\"format\":\"other\"}", &m, err) != 0
            && strstr(err, "not a tier router model"),
            "load: another format (%s)", err);
    UNIT_OK(load("{\"format\":\"tier-router-model\",\"version\":2}", &m, err)
            != 0 && strstr(err, "version 2"),
            "load: another version (%s)", err);
    UNIT_OK(load("{\"format\":\"tier-router-model\",\"version\":1,"
                 "\"features\":[\"bias\"],\"weights\":[1]}", &m, err) != 0
            && strstr(err, "features"),
            "load: a truncated model (%s)", err);

    json = model_json(w, 0, 1, 1);
    UNIT_OK(load(json, &m, err) != 0 && strstr(err, "r_other")
            && strstr(err, "another version"),
            "load: a mismatched feature (%s)", err);
    free(json);

    json = model_json(w, 0, 0, 0);
    UNIT_OK(load(json, &m, err) != 0 && strstr(err, "scale"),
            "load: a zero scale (%s)", err);
    free(json);

    json = model_json(w, 0, 1, 0);
    json[strlen(json) - 1] = '\0';
    strcat(json, ",\"scale\":2}");
    UNIT_OK(load(json, &m, err) != 0 && strstr(err, "not valid JSON"),
            "load: a duplicate key (%s)", err);
    free(json);

    json = model_json(w, 0, 1, 0);
    strcpy(big, "\"oops\"");
    {
        char  *p = strstr(json, "\"weights\":[") + 11;
        char  *rest = strdup(strchr(p, ','));

        strcpy(p, big);
        strcat(p, rest);
        free(rest);
    }
    UNIT_OK(load(json, &m, err) != 0 && strstr(err, "weight 0"),
            "load: a weight that is not a number (%s)", err);
    free(json);

    /* every name is there, in order, and as many as weights */

    for (i = 0; tr_model_names[i]; i++) {
        /* void */
    }

    UNIT_IS_INT(i, N, "the feature names: %d", N);

    return unit_done();
}
