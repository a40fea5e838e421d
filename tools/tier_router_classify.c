
/*
 * Copyright (C) The tier router authors
 *
 * tier-router-classify: runs the module's classifier offline over JSON
 * lines (dataset rows, request bodies or logged requests) and prints one
 * verdict per line, so that decisions can be replayed and scored.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "tr_classify.h"
#include "tr_extract.h"
#include "tr_model.h"


#define TR_MAX_TIERS  16


typedef struct {
    const char  *name[TR_MAX_TIERS];
    double       max_score[TR_MAX_TIERS];
    unsigned     n;
} ngx_http_tier_router_tiers_t;


static void tr_usage(FILE *out);
static int ngx_http_tier_router_parse_tiers(char *arg,
    ngx_http_tier_router_tiers_t *tiers);
static int ngx_http_tier_router_parse_thresholds(char *arg,
    double *thr, unsigned *n);
static int ngx_http_tier_router_file(FILE *in, const char *name,
    const ngx_http_tier_router_tiers_t *tiers);
static int ngx_http_tier_router_line(const char *line, size_t len,
    const char *name, unsigned long lineno,
    const ngx_http_tier_router_tiers_t *tiers);
static int ngx_http_tier_router_body(const char *body, size_t len,
    int dialect, tr_verdict_t *v, const char **err);
static int ngx_http_tier_router_uri_dialect(const char *uri);
static void ngx_http_tier_router_emit(json_t *out);
static int ngx_http_tier_router_load_model(const char *name);
static void ngx_http_tier_router_rescore(
    const tr_features_t *f,
    tr_verdict_t *v);


static tr_request_t  ngx_http_tier_router_req;
static tr_model_t   *tr_cli_model;


static void
tr_usage(FILE *out)
{
    fputs(
"usage: tier-router-classify [--tiers T1,T2,...] [--thresholds F1,F2,...]\n"
"                            [FILE...]\n"
"\n"
"Classifies JSON lines with the tier router's classifier and prints one\n"
"JSON line per input line:\n"
"  {\"id\":...,\"score\":0.4321,\"tier\":\"mid\",\"reasons\":[...],"
"\"no_signal\":false}\n"
"\n"
"Input lines (FILE, or stdin when none or \"-\"), one JSON object each:\n"
"  {\"id\":...,\"prompt\":\"...\"}   a dataset row: the prompt is the user\n"
"                               turn (\"id\" is copied when present)\n"
"  {\"model\":...,\"messages\":[...]} or {...\"input\":...}\n"
"                               an LLM API request body (OpenAI chat or\n"
"                               responses, Anthropic messages)\n"
"  {\"body\":{...} or \"...\", \"uri\":\"/v1/messages\"}\n"
"                               a logged request; the optional \"uri\" picks\n"
"                               the dialect as the module does\n"
"Blank lines are skipped.  A line that cannot be read or classified\n"
"prints {\"error\":\"...\"} (with its \"id\" when known); the exit status\n"
"is then 1.\n"
"\n"
"Options:\n"
"  --model FILE             score with the learned model in FILE (see\n"
"                           tier-router-train) instead of the rules\n"
"  --tiers T1,T2,...        tier names, cheapest first\n"
"                           (default small,mid,frontier,thinking)\n"
"  --thresholds F1,F2,...   the highest score of each tier but the last,\n"
"                           ascending: a score <= Fi goes to tier i\n"
"                           (default 0.35,0.6,0.85 for the default tiers,\n"
"                           else (i+1)/n as the module's max_score)\n"
"  -h, --help               this text\n", out);
}


int
main(int argc, char **argv)
{
    int                           i, rc, files;
    FILE                         *in;
    double                        thr[TR_MAX_TIERS];
    unsigned                      n, j;
    const char                   *tiers_arg, *thr_arg;
    ngx_http_tier_router_tiers_t  tiers;

    tiers_arg = NULL;
    thr_arg = NULL;
    files = 0;

    for (i = 1; i < argc; i++) {

        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            tr_usage(stdout);
            return 0;
        }

        if (strcmp(argv[i], "--model") == 0) {
            if (i + 1 >= argc
                || ngx_http_tier_router_load_model(argv[i + 1]) != 0)
            {
                return 2;
            }

            i++;
            continue;
        }

        if (strcmp(argv[i], "--tiers") == 0
            || strcmp(argv[i], "--thresholds") == 0)
        {
            if (i + 1 >= argc) {
                fprintf(stderr, "tier-router-classify: %s needs a value\n",
                        argv[i]);
                return 2;
            }

            if (argv[i][2] == 't' && argv[i][3] == 'i') {
                tiers_arg = argv[++i];

            } else {
                thr_arg = argv[++i];
            }

            continue;
        }

        if (strncmp(argv[i], "--tiers=", 8) == 0) {
            tiers_arg = argv[i] + 8;
            continue;
        }

        if (strncmp(argv[i], "--thresholds=", 13) == 0) {
            thr_arg = argv[i] + 13;
            continue;
        }

        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "tier-router-classify: unknown option \"%s\" "
                    "(see --help)\n", argv[i]);
            return 2;
        }

        files++;
    }

    memset(&tiers, 0, sizeof(ngx_http_tier_router_tiers_t));

    if (ngx_http_tier_router_parse_tiers(
            strdup(tiers_arg ? tiers_arg : "small,mid,frontier,thinking"),
            &tiers)
        != 0)
    {
        return 2;
    }

    if (thr_arg) {
        if (ngx_http_tier_router_parse_thresholds(strdup(thr_arg), thr, &n)
            != 0)
        {
            return 2;
        }

        if (n != tiers.n - 1 && n != tiers.n) {
            fprintf(stderr, "tier-router-classify: %u tiers need %u "
                    "thresholds, got %u\n", tiers.n, tiers.n - 1, n);
            return 2;
        }

        for (j = 0; j < tiers.n - 1; j++) {
            tiers.max_score[j] = thr[j];
        }

    } else if (tiers_arg == NULL) {
        tiers.max_score[0] = 0.35;
        tiers.max_score[1] = 0.6;
        tiers.max_score[2] = 0.85;

    } else {
        for (j = 0; j < tiers.n - 1; j++) {
            tiers.max_score[j] = (j + 1.0) / tiers.n;
        }
    }

    tiers.max_score[tiers.n - 1] = 1.0;

    rc = 0;

    if (files == 0) {
        return ngx_http_tier_router_file(stdin, "-", &tiers);
    }

    for (i = 1; i < argc; i++) {

        if (strcmp(argv[i], "--tiers") == 0
            || strcmp(argv[i], "--thresholds") == 0
            || strcmp(argv[i], "--model") == 0)
        {
            i++;
            continue;
        }

        if (strncmp(argv[i], "--", 2) == 0) {
            continue;
        }

        if (strcmp(argv[i], "-") == 0) {
            rc |= ngx_http_tier_router_file(stdin, "-", &tiers);
            continue;
        }

        in = fopen(argv[i], "r");

        if (in == NULL) {
            fprintf(stderr, "tier-router-classify: cannot open \"%s\": %s\n",
                    argv[i], strerror(errno));
            rc = 1;
            continue;
        }

        rc |= ngx_http_tier_router_file(in, argv[i], &tiers);
        fclose(in);
    }

    return rc;
}


static int
ngx_http_tier_router_parse_tiers(char *arg,
    ngx_http_tier_router_tiers_t *tiers)
{
    char  *p, *save;

    tiers->n = 0;

    for (p = strtok_r(arg, ",", &save); p; p = strtok_r(NULL, ",", &save)) {

        if (tiers->n == TR_MAX_TIERS) {
            fprintf(stderr, "tier-router-classify: at most %d tiers\n",
                    TR_MAX_TIERS);
            return -1;
        }

        tiers->name[tiers->n++] = p;
    }

    if (tiers->n == 0) {
        fprintf(stderr, "tier-router-classify: --tiers needs a name\n");
        return -1;
    }

    return 0;
}


static int
ngx_http_tier_router_parse_thresholds(char *arg, double *thr, unsigned *n)
{
    char    *p, *end, *save;
    double   d;

    *n = 0;

    for (p = strtok_r(arg, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        errno = 0;
        d = strtod(p, &end);

        if (errno || end == p || *end != '\0' || d < 0.0 || d > 1.0
            || (*n > 0 && d < thr[*n - 1]) || *n == TR_MAX_TIERS)
        {
            fprintf(stderr, "tier-router-classify: bad threshold \"%s\" "
                    "(ascending numbers in [0,1])\n", p);
            return -1;
        }

        thr[(*n)++] = d;
    }

    return 0;
}


static int
ngx_http_tier_router_file(FILE *in, const char *name,
    const ngx_http_tier_router_tiers_t *tiers)
{
    int             rc;
    char           *line;
    size_t          size, n;
    ssize_t         len;
    unsigned long   lineno;

    line = NULL;
    size = 0;
    lineno = 0;
    rc = 0;

    while ((len = getline(&line, &size, in)) != -1) {
        lineno++;
        n = (size_t) len;

        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            n--;
        }

        if (strspn(line, " \t\r\n") >= n) {
            continue;
        }

        if (ngx_http_tier_router_line(line, n, name, lineno, tiers) != 0) {
            rc = 1;
        }
    }

    if (ferror(in)) {
        fprintf(stderr, "tier-router-classify: reading \"%s\": %s\n", name,
                strerror(errno));
        rc = 1;
    }

    free(line);

    return rc;
}


static int
ngx_http_tier_router_line(const char *line, size_t len, const char *name,
    unsigned long lineno, const ngx_http_tier_router_tiers_t *tiers)
{
    int             rc, dialect;
    char           *dump;
    size_t          plen, i;
    json_t         *root, *out, *id, *prompt, *body, *uri;
    json_t         *reasons;
    const char     *err, *p, *e;
    json_error_t    jerr;
    tr_verdict_t    v;
    tr_features_t   f;
    char            buf[256];

    err = NULL;
    id = NULL;
    rc = -1;
    dump = NULL;

    root = json_loadb(line, len, 0, &jerr);

    if (root == NULL) {
        snprintf(buf, sizeof(buf), "not valid JSON: %s (column %d)",
                 jerr.text, jerr.column);
        err = buf;
        goto done;
    }

    if (!json_is_object(root)) {
        err = "not a JSON object";
        goto done;
    }

    id = json_object_get(root, "id");
    prompt = json_object_get(root, "prompt");
    body = json_object_get(root, "body");

    if (prompt != NULL) {

        if (!json_is_string(prompt)) {
            err = "\"prompt\" is not a string";
            goto done;
        }

        plen = json_string_length(prompt);

        memset(&f, 0, sizeof(tr_features_t));
        f.text = (const unsigned char *) json_string_value(prompt);
        f.text_len = plen < TR_TEXT_LEN
                     ? plen : TR_TEXT_LEN;
        f.total_text = plen;
        f.messages = 1;
        f.user_turns = 1;
        f.max_tokens = -1;
        f.count = (tr_cli_model != NULL);

        tr_classify(&f, &v);
        ngx_http_tier_router_rescore(&f, &v);

    } else if (json_object_get(root, "messages") != NULL
               || json_object_get(root, "input") != NULL)
    {
        if (ngx_http_tier_router_body(line, len, TR_AUTO,
                                      &v, &err)
            != 0)
        {
            goto done;
        }

    } else if (body != NULL) {

        uri = json_object_get(root, "uri");
        dialect = json_is_string(uri)
                  ? ngx_http_tier_router_uri_dialect(json_string_value(uri))
                  : TR_AUTO;

        if (json_is_string(body)) {
            p = json_string_value(body);
            plen = json_string_length(body);

        } else if (json_is_object(body)) {
            dump = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);

            if (dump == NULL) {
                err = "cannot serialise \"body\"";
                goto done;
            }

            p = dump;
            plen = strlen(dump);

        } else {
            err = "\"body\" is neither an object nor a string";
            goto done;
        }

        if (ngx_http_tier_router_body(p, plen, dialect, &v, &err) != 0) {
            goto done;
        }

    } else {
        err = "expected an object with \"prompt\", \"messages\", \"input\" "
              "or \"body\"";
        goto done;
    }

    out = json_object();

    if (id != NULL) {
        json_object_set(out, "id", id);
    }

    json_object_set_new(out, "score",
                        json_real((double) (long) (v.score * 1e6 + 0.5)
                                  / 1e6));

    for (i = 0; i + 1 < tiers->n; i++) {
        if (v.score <= tiers->max_score[i]) {
            break;
        }
    }

    json_object_set_new(out, "tier", json_string(tiers->name[i]));

    reasons = json_array();

    for (p = v.reasons; *p; p = (*e == ',') ? e + 1 : e) {
        e = strchr(p, ',');

        if (e == NULL) {
            e = p + strlen(p);
        }

        if (e > p) {
            json_array_append_new(reasons, json_stringn(p, e - p));
        }
    }

    json_object_set_new(out, "reasons", reasons);
    json_object_set_new(out, "no_signal", json_boolean(v.no_signal));

    ngx_http_tier_router_emit(out);
    rc = 0;

done:

    if (err != NULL) {
        fprintf(stderr, "tier-router-classify: %s:%lu: %s\n", name, lineno,
                err);

        out = json_object();

        if (id != NULL) {
            json_object_set(out, "id", id);
        }

        json_object_set_new(out, "error", json_string(err));
        ngx_http_tier_router_emit(out);
    }

    free(dump);

    if (root) {
        json_decref(root);
    }

    return rc;
}


static int
ngx_http_tier_router_body(const char *body, size_t len, int dialect,
    tr_verdict_t *v, const char **err)
{
    tr_request_t  *req;

    req = &ngx_http_tier_router_req;
    memset(req, 0, sizeof(tr_request_t));
    req->dialect = dialect;

    if (tr_extract((const unsigned char *) body, len, req)
        != 0)
    {
        *err = req->error ? req->error : "cannot read the request body";
        return -1;
    }

    req->features.count = (tr_cli_model != NULL);

    tr_classify(&req->features, v);
    ngx_http_tier_router_rescore(&req->features, v);

    return 0;
}


/* as the module's "auto": by the URI's ending */

static int
ngx_http_tier_router_uri_dialect(const char *uri)
{
    size_t       n;
    const char  *q;

    q = strchr(uri, '?');
    n = q ? (size_t) (q - uri) : strlen(uri);

    while (n && uri[n - 1] == '/') {
        n--;
    }

    if (n >= 17 && memcmp(uri + n - 17, "/chat/completions", 17) == 0) {
        return TR_OPENAI_CHAT;
    }

    if (n >= 10 && memcmp(uri + n - 10, "/responses", 10) == 0) {
        return TR_OPENAI_RESPONSES;
    }

    if (n >= 9 && memcmp(uri + n - 9, "/messages", 9) == 0) {
        return TR_ANTHROPIC;
    }

    return TR_AUTO;
}


static void
ngx_http_tier_router_emit(json_t *out)
{
    json_dumpf(out, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER
                            | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);
    json_decref(out);
}


static int
ngx_http_tier_router_load_model(const char *name)
{
    char     err[256], *buf;
    long     size;
    FILE    *f;
    size_t   n;

    f = fopen(name, "r");

    if (f == NULL) {
        fprintf(stderr, "tier-router-classify: %s: %s\n", name,
                strerror(errno));
        return -1;
    }

    buf = NULL;
    n = 0;

    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0
        && fseek(f, 0, SEEK_SET) == 0)
    {
        buf = malloc((size_t) size + 1);
        n = buf ? fread(buf, 1, (size_t) size, f) : 0;
    }

    fclose(f);

    tr_cli_model = malloc(sizeof(tr_model_t));

    if (buf == NULL || tr_cli_model == NULL
        || tr_model_load(buf, n,
                         tr_cli_model, err,
                         sizeof(err))
           != 0)
    {
        fprintf(stderr, "tier-router-classify: model \"%s\": %s\n", name,
                buf ? err : "cannot read it");
        free(buf);
        return -1;
    }

    free(buf);

    return 0;
}


/* with --model, the learned scorer's score replaces the classifier's */

static void
ngx_http_tier_router_rescore(const tr_features_t *f,
    tr_verdict_t *v)
{
    double  x[TR_MODEL_N];

    if (tr_cli_model == NULL) {
        return;
    }

    tr_model_features(f, v, x);
    v->score = tr_model_score(tr_cli_model,
                              x);
}
