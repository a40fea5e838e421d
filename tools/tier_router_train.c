
/*
 * Copyright (C) The tier router authors
 *
 * tier-router-train: fits the learned scorer's weights on routing data,
 * deterministically, and prints the model file.
 *
 *   tier-router-train [--lambda L] [--holdout even|odd] FILE... > MODEL
 *
 * Rows {"id","prompt","weak_correct","strong_correct"}: each prompt is
 * read as the module reads a chat request (extractor, classifier, model
 * features); the target is strong_correct - weak_correct, what sending
 * the row to the strong model gains.  Each file weighs as much as 1000
 * rows.  Ridge regression (the bias is not shrunk), solved exactly by
 * Gaussian elimination with partial pivoting over the rows in file
 * order: the same data gives the same bytes.  The
 * raw scores are then squashed so that the training rows' median maps to
 * 0.5 and their 10th to 90th percentiles to about 0.12 to 0.88.
 *
 * --holdout even|odd leaves out the rows whose id hashes (FNV-1a) to an
 * even or odd number, for validation with tier-router-classify --model
 * and tier-router-score on the rows left out.
 */


#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "tr_extract.h"
#include "tr_classify.h"
#include "tr_model.h"
#include "tr_fit.h"


#define N  TR_MODEL_N


typedef struct {
    double       a[N][N];
    double       b[N];
    double       fa[N][N];  /* one file's, weighed into a and b */
    double       fb[N];
    double      *raw;       /* features of every row, for the squash */
    size_t       rows;
    size_t       size;
} ngx_http_tier_router_fit_t;


static int ngx_http_tier_router_train_file(const char *name, int holdout,
    ngx_http_tier_router_fit_t *fit);
static int ngx_http_tier_router_train_solve(ngx_http_tier_router_fit_t *fit,
    double lambda, double *w);
static int ngx_http_tier_router_train_cmp(const void *a, const void *b);


static tr_request_t  ngx_http_tier_router_req;


int
main(int argc, char **argv)
{
    int                          i, holdout, files;
    char                        *end;
    double                       lambda, w[N], *raw, *rules, s, p10, p50,
                                 p90, l10, l50, l90, center, scale;
    size_t                       k, j;
    json_t                      *out, *names, *weights;
    ngx_http_tier_router_fit_t  *fit;

    lambda = 100;
    holdout = -1;
    files = 0;

    fit = calloc(1, sizeof(ngx_http_tier_router_fit_t));
    if (fit == NULL) {
        return 2;
    }

    tr_classify_init();

    for (i = 1; i < argc; i++) {

        if (strcmp(argv[i], "--lambda") == 0 && i + 1 < argc) {
            lambda = strtod(argv[++i], &end);

            if (*end != '\0' || !(lambda >= 0)) {
                fprintf(stderr, "tier-router-train: bad --lambda\n");
                return 2;
            }

            continue;
        }

        if (strcmp(argv[i], "--holdout") == 0 && i + 1 < argc) {
            i++;
            holdout = strcmp(argv[i], "even") == 0 ? 0
                      : strcmp(argv[i], "odd") == 0 ? 1 : -2;

            if (holdout == -2) {
                fprintf(stderr, "tier-router-train: --holdout even|odd\n");
                return 2;
            }

            continue;
        }

        if (argv[i][0] == '-') {
            fprintf(stderr, "usage: tier-router-train [--lambda L] "
                    "[--holdout even|odd] FILE...\n");
            return 2;
        }

        if (ngx_http_tier_router_train_file(argv[i], holdout, fit) != 0) {
            return 1;
        }

        files++;
    }

    if (files == 0 || fit->rows < 2 * N) {
        fprintf(stderr, "tier-router-train: too few rows (%zu)\n",
                fit->rows);
        return 1;
    }

    if (ngx_http_tier_router_train_solve(fit, lambda, w) != 0) {
        fprintf(stderr, "tier-router-train: the system is singular\n");
        return 1;
    }

    /*
     * the squash: the training rows' raw scores are mapped so that their
     * 10th, 50th and 90th percentiles fall where the rules' scores of the
     * same rows do (in logit units), so that tier thresholds mean the
     * same with and without the model
     */

    raw = malloc(2 * fit->rows * sizeof(double));
    if (raw == NULL) {
        return 2;
    }

    rules = raw + fit->rows;

    for (k = 0; k < fit->rows; k++) {
        raw[k] = 0;

        for (j = 0; j < N; j++) {
            raw[k] += w[j] * fit->raw[k * N + j];
        }

        s = fit->raw[k * N + 1];
        s = s < 1e-6 ? 1e-6 : s > 1 - 1e-6 ? 1 - 1e-6 : s;
        rules[k] = log(s / (1 - s));
    }

    qsort(raw, fit->rows, sizeof(double), ngx_http_tier_router_train_cmp);
    qsort(rules, fit->rows, sizeof(double), ngx_http_tier_router_train_cmp);

    p10 = raw[fit->rows / 10];
    p50 = raw[fit->rows / 2];
    p90 = raw[fit->rows * 9 / 10];

    l10 = rules[fit->rows / 10];
    l50 = rules[fit->rows / 2];
    l90 = rules[fit->rows * 9 / 10];

    scale = (p90 > p10 && l90 > l10) ? (l90 - l10) / (p90 - p10) : 1;
    center = p50 - l50 / scale;

    out = json_object();
    names = json_array();
    weights = json_array();

    for (j = 0; j < N; j++) {
        json_array_append_new(names,
                              json_string(tr_model_names[j]));
        json_array_append_new(weights, json_real(w[j]));
    }

    json_object_set_new(out, "format", json_string("tier-router-model"));
    json_object_set_new(out, "version",
                        json_integer(TR_MODEL_VERSION));
    json_object_set_new(out, "features", names);
    json_object_set_new(out, "weights", weights);
    json_object_set_new(out, "center", json_real(center));
    json_object_set_new(out, "scale", json_real(scale));
    json_object_set_new(out, "trained_rows", json_integer(fit->rows));
    json_object_set_new(out, "lambda", json_real(lambda));
    json_object_set_new(out, "holdout",
                        holdout < 0 ? json_null()
                        : json_string(holdout ? "odd" : "even"));

    json_dumpf(out, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER
                            | JSON_REAL_PRECISION(17));
    fputc('\n', stdout);

    json_decref(out);
    free(raw);
    free(fit->raw);
    free(fit);

    return 0;
}


static int
ngx_http_tier_router_train_file(const char *name, int holdout,
    ngx_http_tier_router_fit_t *fit)
{
    char          *line, *body;
    double         x[N], y, *p, f;
    size_t         size, i, j, frows;
    ssize_t        len;
    FILE          *in;
    json_t        *row, *req;
    const char    *id, *prompt;
    json_error_t   err;
    unsigned long  lineno;
    tr_verdict_t   v;
    tr_request_t  *r;

    in = fopen(name, "r");
    if (in == NULL) {
        fprintf(stderr, "tier-router-train: %s: %s\n", name,
                strerror(errno));
        return -1;
    }

    line = NULL;
    size = 0;
    lineno = 0;
    frows = 0;
    r = &ngx_http_tier_router_req;

    while ((len = getline(&line, &size, in)) != -1) {
        lineno++;

        row = json_loadb(line, (size_t) len, 0, &err);
        id = json_string_value(json_object_get(row, "id"));
        prompt = json_string_value(json_object_get(row, "prompt"));

        if (row == NULL || id == NULL || prompt == NULL
            || !json_is_integer(json_object_get(row, "weak_correct"))
            || !json_is_integer(json_object_get(row, "strong_correct")))
        {
            fprintf(stderr, "tier-router-train: %s:%lu: not a row with "
                    "id, prompt, weak_correct and strong_correct\n", name,
                    lineno);
            json_decref(row);
            fclose(in);
            free(line);
            return -1;
        }

        if (holdout >= 0
            && (int) (tr_fit_hash(id) & 1) == holdout)
        {
            json_decref(row);
            continue;
        }

        y = (double) (json_integer_value(json_object_get(row,
                                                         "strong_correct"))
                      - json_integer_value(json_object_get(row,
                                                           "weak_correct")));

        /* the prompt as a chat request, read as the module reads it */

        req = json_pack("{s:s, s:[{s:s, s:s}]}", "model", "auto",
                        "messages", "role", "user", "content", prompt);
        body = json_dumps(req, JSON_COMPACT);
        json_decref(req);

        memset(r, 0, sizeof(tr_request_t));
        r->dialect = TR_OPENAI_CHAT;

        if (body == NULL
            || tr_extract((unsigned char *) body,
                          strlen(body), r)
               != 0)
        {
            fprintf(stderr, "tier-router-train: %s:%lu: the prompt cannot "
                    "be read\n", name, lineno);
            free(body);
            json_decref(row);
            continue;
        }

        r->features.count = 1;
        tr_classify(&r->features, &v);
        tr_model_features(&r->features, &v, x);

        free(body);
        json_decref(row);

        for (i = 0; i < N; i++) {
            fit->fb[i] += x[i] * y;

            for (j = 0; j < N; j++) {
                fit->fa[i][j] += x[i] * x[j];
            }
        }

        frows++;

        if (fit->rows == fit->size) {
            fit->size = fit->size ? 2 * fit->size : 1024;
            p = realloc(fit->raw, fit->size * N * sizeof(double));
            if (p == NULL) {
                fclose(in);
                free(line);
                return -1;
            }

            fit->raw = p;
        }

        memcpy(&fit->raw[fit->rows * N], x, sizeof(x));
        fit->rows++;
    }

    fclose(in);
    free(line);

    /*
     * every file weighs as much as 1000 rows: a large set (MMLU) must
     * not drown a small one (GSM8K), nor a task type the other
     */

    f = frows ? 1000.0 / frows : 0;

    for (i = 0; i < N; i++) {
        fit->b[i] += f * fit->fb[i];
        fit->fb[i] = 0;

        for (j = 0; j < N; j++) {
            fit->a[i][j] += f * fit->fa[i][j];
            fit->fa[i][j] = 0;
        }
    }

    return 0;
}


/* (A + lambda I') w = b, I' without the bias; Gauss-Jordan, pivoting */

static int
ngx_http_tier_router_train_solve(ngx_http_tier_router_fit_t *fit,
    double lambda, double *w)
{
    double  m[N][N + 1];
    size_t  i, j;

    for (i = 0; i < N; i++) {
        for (j = 0; j < N; j++) {
            m[i][j] = fit->a[i][j] + ((i == j && i > 0) ? lambda : 0);
        }

        m[i][N] = fit->b[i];
    }

    return tr_fit_solve(&m[0][0], N, w);
}


static int
ngx_http_tier_router_train_cmp(const void *a, const void *b)
{
    double  x, y;

    x = *(const double *) a;
    y = *(const double *) b;

    return (x > y) - (x < y);
}


/* FNV-1a: the split, the same on every machine */
