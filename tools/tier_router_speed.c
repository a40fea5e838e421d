
/*
 * Copyright (C) The tier router authors
 *
 * tier-router-speed: times the classifier, alone and with a learned
 * model, against a jansson parse of the same request bodies, in one run.
 *
 *   tier-router-speed --model FILE DATA.jsonl...
 *
 * Each row's prompt is wrapped in an OpenAI chat body.  The classifier
 * reads the prompt as the module does (the first 4 KB of the latest user
 * turn), so its cost is per KB of that text; jansson reads the whole
 * body, so its cost is per KB of body.  Each figure is the best of five
 * rounds over all rows; the scores are summed so that no work can be
 * left out by the compiler.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "tr_classify.h"
#include "tr_extract.h"
#include "tr_model.h"


#define TR_ROUNDS     5
#define TR_MIN_TIME   0.2


typedef struct {
    char          *prompt;
    size_t         prompt_len;
    char          *body;
    size_t         body_len;
} ngx_http_tier_router_row_t;


static double ngx_http_tier_router_now(void);
static int ngx_http_tier_router_read(const char *name);
static double ngx_http_tier_router_time(int what, double *sink);


static ngx_http_tier_router_row_t  *ngx_http_tier_router_rows;
static size_t                       ngx_http_tier_router_nrows;
static size_t                       ngx_http_tier_router_text;
static size_t                       ngx_http_tier_router_bodies;
static tr_model_t                   tr_cli_model;


int
main(int argc, char **argv)
{
    int        i;
    char      *buf, err[256];
    long       size;
    FILE      *f;
    size_t     n;
    double     sink, rules, model, jansson;
    const char *mfile;

    mfile = NULL;

    for (i = 1; i < argc; i++) {

        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
            mfile = argv[++i];
            continue;
        }

        if (argv[i][0] == '-') {
            fprintf(stderr, "usage: tier-router-speed --model FILE "
                    "DATA.jsonl...\n");
            return 2;
        }

        if (ngx_http_tier_router_read(argv[i]) != 0) {
            return 1;
        }
    }

    if (mfile == NULL || ngx_http_tier_router_nrows == 0) {
        fprintf(stderr, "usage: tier-router-speed --model FILE "
                "DATA.jsonl...\n");
        return 2;
    }

    f = fopen(mfile, "r");
    buf = NULL;
    n = 0;

    if (f != NULL) {
        if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0
            && fseek(f, 0, SEEK_SET) == 0)
        {
            buf = malloc((size_t) size + 1);
            n = buf ? fread(buf, 1, (size_t) size, f) : 0;
        }

        fclose(f);
    }

    if (buf == NULL
        || tr_model_load(buf, n, &tr_cli_model,
                         err, sizeof(err))
           != 0)
    {
        fprintf(stderr, "tier-router-speed: model \"%s\": %s\n", mfile,
                buf ? err : strerror(errno));
        return 1;
    }

    free(buf);

    tr_classify_init();

    sink = 0;
    rules = ngx_http_tier_router_time(0, &sink);
    model = ngx_http_tier_router_time(1, &sink);
    jansson = ngx_http_tier_router_time(2, &sink);

    printf("rows %zu, text classified %.1f KB, bodies %.1f KB "
           "(checksum %.3f)\n", ngx_http_tier_router_nrows,
           ngx_http_tier_router_text / 1024.0,
           ngx_http_tier_router_bodies / 1024.0, sink);
    printf("rules                %6.2f us per KB of text\n",
           rules / (ngx_http_tier_router_text / 1024.0) * 1e6);
    printf("rules + model        %6.2f us per KB of text\n",
           model / (ngx_http_tier_router_text / 1024.0) * 1e6);
    printf("model adds           %6.2f us per KB of text\n",
           (model - rules) / (ngx_http_tier_router_text / 1024.0) * 1e6);
    printf("jansson json_loadb   %6.2f us per KB of body\n",
           jansson / (ngx_http_tier_router_bodies / 1024.0) * 1e6);

    return 0;
}


static double
ngx_http_tier_router_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* the best time of one pass over all rows */

static double
ngx_http_tier_router_time(int what, double *sink)
{
    int                           round;
    double                        t, best, x[TR_MODEL_N];
    size_t                        i, passes, p;
    json_t                       *root;
    ngx_http_tier_router_row_t   *r;
    tr_verdict_t                  v;
    tr_features_t                 f;

    best = 1e30;

    for (round = 0; round < TR_ROUNDS; round++) {
        passes = 0;
        t = ngx_http_tier_router_now();

        do {
            for (i = 0; i < ngx_http_tier_router_nrows; i++) {
                r = &ngx_http_tier_router_rows[i];

                if (what == 2) {
                    root = json_loadb(r->body, r->body_len, 0, NULL);
                    *sink += json_object_size(root);
                    json_decref(root);
                    continue;
                }

                memset(&f, 0, sizeof(tr_features_t));
                f.text = (const unsigned char *) r->prompt;
                f.text_len = r->prompt_len < TR_TEXT_LEN
                             ? r->prompt_len : TR_TEXT_LEN;
                f.total_text = r->prompt_len;
                f.messages = 1;
                f.user_turns = 1;
                f.max_tokens = -1;
                f.count = what;

                tr_classify(&f, &v);

                if (what == 1) {
                    tr_model_features(&f, &v, x);
                    v.score = tr_model_score(
                                  &tr_cli_model, x);
                }

                *sink += v.score;
            }

            passes++;
            p = passes;

        } while (ngx_http_tier_router_now() - t < TR_MIN_TIME);

        t = (ngx_http_tier_router_now() - t) / p;

        if (t < best) {
            best = t;
        }
    }

    return best;
}


static int
ngx_http_tier_router_read(const char *name)
{
    FILE                        *in;
    char                        *line;
    size_t                       size, len;
    ssize_t                      n;
    json_t                      *row, *prompt, *body;
    ngx_http_tier_router_row_t  *r;

    in = fopen(name, "r");

    if (in == NULL) {
        fprintf(stderr, "tier-router-speed: %s: %s\n", name, strerror(errno));
        return -1;
    }

    line = NULL;
    size = 0;

    while ((n = getline(&line, &size, in)) != -1) {
        row = json_loadb(line, (size_t) n, 0, NULL);
        prompt = row ? json_object_get(row, "prompt") : NULL;

        if (!json_is_string(prompt)) {
            json_decref(row);
            continue;
        }

        r = realloc(ngx_http_tier_router_rows,
                    (ngx_http_tier_router_nrows + 1)
                    * sizeof(ngx_http_tier_router_row_t));

        if (r == NULL) {
            fclose(in);
            return -1;
        }

        ngx_http_tier_router_rows = r;
        r = &ngx_http_tier_router_rows[ngx_http_tier_router_nrows++];

        len = json_string_length(prompt);
        r->prompt = malloc(len + 1);

        if (r->prompt == NULL) {
            fclose(in);
            return -1;
        }

        memcpy(r->prompt, json_string_value(prompt), len + 1);
        r->prompt_len = len;

        body = json_pack("{s:s, s:[{s:s, s:O}]}", "model", "auto",
                         "messages", "role", "user", "content", prompt);
        r->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        r->body_len = r->body ? strlen(r->body) : 0;
        json_decref(body);
        json_decref(row);

        if (r->body == NULL) {
            fclose(in);
            return -1;
        }

        ngx_http_tier_router_text += len < TR_TEXT_LEN
                                     ? len : TR_TEXT_LEN;
        ngx_http_tier_router_bodies += r->body_len;
    }

    free(line);
    fclose(in);

    return 0;
}
