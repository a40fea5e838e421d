
/*
 * Copyright (C) The tier router authors
 *
 * tier-router-fit: fits the answer checks' weights (core/tr_check.c) on
 * answers of the cheap model, deterministically, and prints the model
 * file that tier_router_escalate_weights reads.
 *
 *   tier-router-fit [--lambda L] [--threshold T] FILE... > WEIGHTS
 *
 * Rows {"id","prompt","answer","weak_correct","strong_correct"} and
 * optionally "score": the classifier's score of the request as the
 * module logged it ($tier_router_score); without it the score is the
 * rules' own, read as the module reads a chat request.  The target is
 * 1 - weak_correct: the chance that the cheap answer is wrong.  Logistic
 * regression, L2 on every weight but the bias, by Newton's method: the
 * same data gives the same bytes.
 *
 * On stderr: how often each check fires on right and on wrong answers,
 * and the held-out APGR (2 folds by the id's FNV-1a hash, each fitted on
 * one half and scored on the other) of the classifier's score alone and
 * of the fitted probability, with RouteLLM's definition (ties count as a
 * random pick among them).
 */


#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "tr_check.h"
#include "tr_classify.h"
#include "tr_dialect.h"
#include "tr_extract.h"
#include "tr_fit.h"


#define K  (2 + TR_CHECK_N)         /* bias, score, the checks */


typedef struct {
    double        x[K];
    double        weak;
    double        strong;
    unsigned      fold:1;
    double        s;                /* the score being evaluated */
} ngx_http_tier_router_row_t;


typedef struct {
    ngx_http_tier_router_row_t  *rows;
    size_t                       n;
    size_t                       size;
} ngx_http_tier_router_rows_t;


static int ngx_http_tier_router_fit_file(const char *name,
    ngx_http_tier_router_rows_t *rows);
static int ngx_http_tier_router_fit_solve(ngx_http_tier_router_rows_t *rows,
    int fold, double lambda, double *b);
static double ngx_http_tier_router_fit_apgr(ngx_http_tier_router_row_t **v,
    size_t n);
static int ngx_http_tier_router_fit_cmp(const void *a, const void *b);


static tr_request_t  ngx_http_tier_router_req;


int
main(int argc, char **argv)
{
    int                           i, files, fold;
    char                         *end;
    double                        lambda, threshold, b[K], apgr[2][2],
                                  fires[TR_CHECK_N][2], wrong;
    size_t                        k, j, n;
    json_t                       *out, *w;
    ngx_http_tier_router_row_t  **v;
    ngx_http_tier_router_rows_t   rows;

    lambda = 1;
    threshold = 0.5;
    files = 0;
    memset(&rows, 0, sizeof(rows));

    tr_classify_init();

    for (i = 1; i < argc; i++) {

        if ((strcmp(argv[i], "--lambda") == 0
             || strcmp(argv[i], "--threshold") == 0)
            && i + 1 < argc)
        {
            if (argv[i][2] == 'l') {
                lambda = strtod(argv[++i], &end);

                if (*end != '\0' || !(lambda >= 0)) {
                    fprintf(stderr, "tier-router-fit: bad --lambda\n");
                    return 2;
                }

            } else {
                threshold = strtod(argv[++i], &end);

                if (*end != '\0' || !(threshold > 0 && threshold < 1)) {
                    fprintf(stderr, "tier-router-fit: --threshold is "
                            "between 0 and 1\n");
                    return 2;
                }
            }

            continue;
        }

        if (argv[i][0] == '-') {
            fprintf(stderr, "usage: tier-router-fit [--lambda L] "
                    "[--threshold T] FILE...\n");
            return 2;
        }

        if (ngx_http_tier_router_fit_file(argv[i], &rows) != 0) {
            return 1;
        }

        files++;
    }

    if (files == 0 || rows.n < 4 * K) {
        fprintf(stderr, "tier-router-fit: too few rows (%zu)\n", rows.n);
        return 1;
    }

    /* what each check says of right and of wrong answers */

    memset(fires, 0, sizeof(fires));
    wrong = 0;

    for (k = 0; k < rows.n; k++) {
        wrong += 1 - rows.rows[k].weak;

        for (j = 0; j < TR_CHECK_N; j++) {
            fires[j][rows.rows[k].weak > 0] += rows.rows[k].x[2 + j];
        }
    }

    fprintf(stderr, "rows: %zu, the cheap model wrong on %.0f\n", rows.n,
            wrong);

    for (j = 0; j < TR_CHECK_N; j++) {
        fprintf(stderr, "  %-9s fires on %5.1f%% of wrong answers, "
                "%5.1f%% of right ones\n", tr_check_names[j],
                wrong ? 100 * fires[j][0] / wrong : 0,
                rows.n > wrong ? 100 * fires[j][1] / (rows.n - wrong) : 0);
    }

    /* held out: each fold scored by the fit on the other */

    v = malloc(rows.n * sizeof(ngx_http_tier_router_row_t *));
    if (v == NULL) {
        return 2;
    }

    for (fold = 0; fold < 2; fold++) {
        if (ngx_http_tier_router_fit_solve(&rows, fold, lambda, b) != 0) {
            fprintf(stderr, "tier-router-fit: the system is singular\n");
            return 1;
        }

        n = 0;

        for (k = 0; k < rows.n; k++) {
            if (rows.rows[k].fold == fold) {
                v[n++] = &rows.rows[k];
            }
        }

        for (k = 0; k < n; k++) {
            v[k]->s = v[k]->x[1];
        }

        apgr[fold][0] = ngx_http_tier_router_fit_apgr(v, n);

        for (k = 0; k < n; k++) {
            v[k]->s = 0;

            for (j = 0; j < K; j++) {
                v[k]->s += b[j] * v[k]->x[j];
            }
        }

        apgr[fold][1] = ngx_http_tier_router_fit_apgr(v, n);
    }

    fprintf(stderr, "held-out APGR: score alone %.3f, score and checks "
            "%.3f (folds %.3f/%.3f and %.3f/%.3f)\n",
            (apgr[0][0] + apgr[1][0]) / 2, (apgr[0][1] + apgr[1][1]) / 2,
            apgr[0][0], apgr[1][0], apgr[0][1], apgr[1][1]);

    free(v);

    /* the weights: fitted on every row */

    if (ngx_http_tier_router_fit_solve(&rows, -1, lambda, b) != 0) {
        fprintf(stderr, "tier-router-fit: the system is singular\n");
        return 1;
    }

    out = json_object();
    w = json_object();

    for (j = 0; j < TR_CHECK_N; j++) {
        json_object_set_new(w, tr_check_names[j],
                            json_real(round(b[2 + j] * 1e4) / 1e4));
    }

    json_object_set_new(out, "family", json_string("math"));
    json_object_set_new(out, "bias", json_real(round(b[0] * 1e4) / 1e4));
    json_object_set_new(out, "pre", json_real(round(b[1] * 1e4) / 1e4));
    json_object_set_new(out, "threshold", json_real(threshold));
    json_object_set_new(out, "weights", w);

    json_dumpf(out, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER
                            | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);

    json_decref(out);
    free(rows.rows);

    return 0;
}


static int
ngx_http_tier_router_fit_file(const char *name,
    ngx_http_tier_router_rows_t *rows)
{
    char                        *line, *body;
    size_t                       size;
    ssize_t                      len;
    FILE                        *in;
    json_t                      *row, *req, *score;
    unsigned                     ask;
    const char                  *id, *prompt, *answer;
    json_error_t                 err;
    tr_verdict_t                 verdict;
    tr_request_t                *r;
    unsigned long                lineno;
    ngx_http_tier_router_row_t  *p, *x;

    in = fopen(name, "r");
    if (in == NULL) {
        fprintf(stderr, "tier-router-fit: %s: %s\n", name, strerror(errno));
        return -1;
    }

    line = NULL;
    size = 0;
    lineno = 0;
    r = &ngx_http_tier_router_req;

    while ((len = getline(&line, &size, in)) != -1) {
        lineno++;

        row = json_loadb(line, (size_t) len, 0, &err);
        id = json_string_value(json_object_get(row, "id"));
        prompt = json_string_value(json_object_get(row, "prompt"));
        answer = json_string_value(json_object_get(row, "answer"));
        score = json_object_get(row, "score");

        if (row == NULL || id == NULL || prompt == NULL || answer == NULL
            || !json_is_integer(json_object_get(row, "weak_correct"))
            || !json_is_integer(json_object_get(row, "strong_correct"))
            || (score && !json_is_number(score)))
        {
            fprintf(stderr, "tier-router-fit: %s:%lu: not a row with id, "
                    "prompt, answer, weak_correct and strong_correct\n",
                    name, lineno);
            json_decref(row);
            fclose(in);
            free(line);
            return -1;
        }

        if (rows->n == rows->size) {
            rows->size = rows->size ? 2 * rows->size : 1024;
            p = realloc(rows->rows,
                        rows->size * sizeof(ngx_http_tier_router_row_t));
            if (p == NULL) {
                fclose(in);
                free(line);
                return -1;
            }

            rows->rows = p;
        }

        x = &rows->rows[rows->n];
        memset(x, 0, sizeof(ngx_http_tier_router_row_t));

        x->weak = (double) json_integer_value(json_object_get(row,
                                                      "weak_correct"));
        x->strong = (double) json_integer_value(json_object_get(row,
                                                        "strong_correct"));
        x->fold = tr_fit_hash(id) & 1;
        x->x[0] = 1;

        if (score) {
            x->x[1] = json_number_value(score);

        } else {

            /* the prompt as a chat request, read as the module reads it */

            req = json_pack("{s:s, s:[{s:s, s:s}]}", "model", "auto",
                            "messages", "role", "user", "content", prompt);
            body = json_dumps(req, JSON_COMPACT);
            json_decref(req);

            memset(r, 0, sizeof(tr_request_t));
            r->dialect = TR_OPENAI_CHAT;

            if (body == NULL
                || tr_extract((unsigned char *) body, strlen(body), r) != 0)
            {
                fprintf(stderr, "tier-router-fit: %s:%lu: the prompt cannot "
                        "be read\n", name, lineno);
                free(body);
                json_decref(row);
                continue;
            }

            tr_classify(&r->features, &verdict);
            x->x[1] = verdict.score;
            free(body);
        }

        ask = tr_check_ask(prompt, strlen(prompt));
        tr_check_math(answer, strlen(answer), ask, &x->x[2]);

        json_decref(row);
        rows->n++;
    }

    fclose(in);
    free(line);

    return 0;
}


/*
 * The logistic regression of 1 - weak on the rows not of fold (fold -1:
 * all), L2 lambda on all but the bias: 50 Newton steps, each solved by
 * Gaussian elimination with partial pivoting.
 */

static int
ngx_http_tier_router_fit_solve(ngx_http_tier_router_rows_t *rows, int fold,
    double lambda, double *b)
{
    int                          it;
    size_t                       i, j, k;
    double                       a[K][K + 1], step[K], z, p, y, wt;
    ngx_http_tier_router_row_t  *x;

    memset(b, 0, K * sizeof(double));

    for (it = 0; it < 50; it++) {
        memset(a, 0, sizeof(a));

        for (i = 1; i < K; i++) {
            a[i][i] = lambda;
            a[i][K] = lambda * b[i];
        }

        for (k = 0; k < rows->n; k++) {
            x = &rows->rows[k];

            if ((int) x->fold == fold) {
                continue;
            }

            for (z = 0, i = 0; i < K; i++) {
                z += b[i] * x->x[i];
            }

            p = 1 / (1 + exp(-z));
            y = 1 - x->weak;
            wt = p * (1 - p);

            for (i = 0; i < K; i++) {
                a[i][K] += (p - y) * x->x[i];

                for (j = 0; j < K; j++) {
                    a[i][j] += wt * x->x[i] * x->x[j];
                }
            }
        }

        /* a check that never fires has no say: its row is the identity */

        for (i = 0; i < K; i++) {
            if (a[i][i] == 0) {
                a[i][i] = 1;
            }
        }

        if (tr_fit_solve(&a[0][0], K, step) != 0) {
            return -1;
        }

        for (i = 0; i < K; i++) {
            b[i] -= step[i];
        }
    }

    return 0;
}


/*
 * RouteLLM's APGR of the rows' scores: the top c% to the strong model,
 * c = 0, 10%, ..., 100%; rows of equal score share their gain.
 */

static double
ngx_http_tier_router_fit_apgr(ngx_http_tier_router_row_t **v, size_t n)
{
    int      c;
    double   qw, qs, pgr[11], apgr, gain, want, got, take;
    size_t   i, g, e;

    qsort(v, n, sizeof(ngx_http_tier_router_row_t *),
          ngx_http_tier_router_fit_cmp);

    qw = 0;
    qs = 0;

    for (i = 0; i < n; i++) {
        qw += v[i]->weak;
        qs += v[i]->strong;
    }

    if (qs == qw) {
        return 0;
    }

    for (c = 0; c <= 10; c++) {
        want = round(c * (double) n / 10);
        got = 0;
        gain = 0;

        for (i = 0; i < n && got < want; i = e) {
            g = 0;
            take = 0;

            for (e = i; e < n && v[e]->s == v[i]->s; e++) {
                take += v[e]->strong - v[e]->weak;
                g++;
            }

            if (got + g <= want) {
                gain += take;
                got += g;

            } else {
                gain += take * (want - got) / g;
                got = want;
            }
        }

        pgr[c] = gain / (qs - qw);
    }

    apgr = 0;

    for (c = 0; c < 10; c++) {
        apgr += 0.1 * (pgr[c] + pgr[c + 1]) / 2;
    }

    return apgr;
}


/* by score, highest first; the row's place breaks ties */

static int
ngx_http_tier_router_fit_cmp(const void *a, const void *b)
{
    const ngx_http_tier_router_row_t  *x, *y;

    x = *(ngx_http_tier_router_row_t *const *) a;
    y = *(ngx_http_tier_router_row_t *const *) b;

    if (x->s != y->s) {
        return x->s < y->s ? 1 : -1;
    }

    return x < y ? -1 : x > y;
}
