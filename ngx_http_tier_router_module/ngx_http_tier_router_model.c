
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


static int ngx_http_tier_router_model_word(const unsigned char *w,
    size_t len);
static double ngx_http_tier_router_model_overlap(const unsigned char *t,
    size_t n);
static void ngx_http_tier_router_model_end(const unsigned char *w,
    size_t len, unsigned *neg, size_t *steps);


#define TR_WORD   1
#define TR_DIGIT  2
#define TR_UPPER  4
#define TR_MARK   8
#define TR_CAND   16    /* starts a word model_word() may count */
#define TR_STOP   32    /* ". ?" */
#define TR_RARE   (TR_CAND|TR_STOP)


static void ngx_http_tier_router_model_tables(void);


/*
 * Indexed by (the class bits WORD and DIGIT of the byte before) << 8 |
 * the byte: the increments of wbytes | digits << 16 | upper << 32 |
 * word starts << 48, and of digit-run starts | lines << 16 | commas << 32
 * | math signs << 48.  Counts stay below 65536: the text is at most 4 KB.
 */

static uint64_t  ngx_http_tier_router_model_t1[1024];
static uint64_t  ngx_http_tier_router_model_t2[1024];
static unsigned  ngx_http_tier_router_model_ready;


/* 1 ". ?", 2 a line feed, 3 a comma, 4 a math sign "= + ^ * / % $" */

static const unsigned char  ngx_http_tier_router_model_mark[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 4, 4, 0, 0, 0, 0, 4, 4, 3, 0, 1, 4,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0
};


/* what each byte is to the features: one lookup instead of ranges */

static const unsigned char  ngx_http_tier_router_model_class[256] = {
    /* 1 word, 2 digit, 4 upper, 8 mark, 16 candidate, 32 ". ?" */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  8,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  8,  8,  0,  0,  0,  0,  8,  8,  8,  0, 40,  8,
     3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  0,  0,  0,  8,  0, 40,
     0,  5,  5,  5,  5, 21,  5,  5, 21, 21,  5,  5, 21,  5, 21,  5,
    21,  5, 21,  5, 21,  5,  5,  5,  5,  5,  5,  0,  0,  0,  8,  0,
     0,  1,  1,  1,  1, 17,  1,  1, 17, 17,  1,  1, 17,  1, 17,  1,
    17,  1, 17,  1, 17,  1,  1,  1,  1,  1,  1,  0,  0,  0,  0,  0,
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1
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
    size_t                i, n, words, wbytes, digits, upper, numbers,
                          sentences, lines, signs, commas, steps;
    size_t                joins;
    uint64_t              a1, a2;
    unsigned              k, c, pc, neg, question;
    const char           *p, *e;
    const unsigned char  *t, *w;

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

    /*
     * one pass over the latest user turn: per byte, two table lookups by
     * the byte and the class of the one before add 16-bit counters packed
     * in two words; only the rare bytes (". ?" and the starts and ends of
     * words that may be counted ones) take a branch
     */

    if (!ngx_http_tier_router_model_ready) {
        ngx_http_tier_router_model_tables();
    }

    t = f->text;
    n = f->text_len;

    a1 = 0;
    a2 = 0;
    sentences = 0;
    steps = 0;
    neg = 0;
    question = 0;
    joins = 0;
    w = NULL;
    pc = 0;

    for (i = 0; i < n; i++) {
        c = ngx_http_tier_router_model_class[t[i]];
        k = ((pc & (TR_WORD|TR_DIGIT)) << 8) | t[i];

        a1 += ngx_http_tier_router_model_t1[k];
        a2 += ngx_http_tier_router_model_t2[k];

        if (c & TR_RARE) {

            if ((c & TR_CAND) && !(pc & TR_WORD)) {
                w = &t[i];
            }

            if (c & TR_STOP) {
                sentences += (i + 1 < n && t[i + 1] == ' ');
                question |= (t[i] == '?' && (a2 >> 16 & 0xffff) == 0);

                /* "3.5" is one number: its second run starts none */

                joins += (t[i] == '.' && (pc & TR_DIGIT) && i + 1 < n
                          && (ngx_http_tier_router_model_class[t[i + 1]]
                              & TR_DIGIT));
            }
        }

        if (w && !(c & TR_WORD)) {
            ngx_http_tier_router_model_end(w, &t[i] - w, &neg, &steps);
            w = NULL;
        }

        pc = c;
    }

    if (w) {
        ngx_http_tier_router_model_end(w, &t[n] - w, &neg, &steps);
    }

    wbytes = a1 & 0xffff;
    digits = a1 >> 16 & 0xffff;
    upper = a1 >> 32 & 0xffff;
    words = a1 >> 48 & 0xffff;
    numbers = (a2 & 0xffff) - joins;
    lines = a2 >> 16 & 0xffff;
    commas = a2 >> 32 & 0xffff;
    signs = a2 >> 48 & 0xffff;

    x[21] = log1p((double) n) / 8;
    x[22] = log1p((double) words) / 6;
    x[23] = log1p((double) numbers) / 3;
    x[24] = log1p((double) sentences) / 3;
    x[25] = log1p((double) lines) / 3;
    x[26] = n ? (double) digits / n * 5 : 0;
    x[27] = n ? (double) upper / n * 10 : 0;
    x[28] = words ? (double) wbytes / words / 6 : 0;
    x[29] = log1p((double) signs) / 3;
    x[30] = neg;
    x[31] = log1p((double) commas) / 3;
    x[32] = question;
    x[33] = log1p((double) steps) / 3;

    /* answer options that differ by little are harder to tell apart */

    if (x[3] != 0) {
        x[34] = ngx_http_tier_router_model_overlap(t, n);
    }
}


static void
ngx_http_tier_router_model_end(const unsigned char *w, size_t len,
    unsigned *neg, size_t *steps)
{
    switch (ngx_http_tier_router_model_word(w, len)) {
    case 1:
        *neg = 1;
        break;
    case 2:
        (*steps)++;
        break;
    }
}


static void
ngx_http_tier_router_model_tables(void)
{
    unsigned  p, b, c, m;
    uint64_t  v1, v2;

    for (p = 0; p < 4; p++) {
        for (b = 0; b < 256; b++) {
            c = ngx_http_tier_router_model_class[b];
            m = ngx_http_tier_router_model_mark[b];

            v1 = (uint64_t) ((c & TR_WORD) != 0)
                 | (uint64_t) ((c & TR_DIGIT) != 0) << 16
                 | (uint64_t) ((c & TR_UPPER) != 0) << 32
                 | (uint64_t) ((c & TR_WORD) && !(p & TR_WORD)) << 48;

            v2 = (uint64_t) ((c & TR_DIGIT) && !(p & TR_DIGIT))
                 | (uint64_t) (m == 2) << 16
                 | (uint64_t) (m == 3) << 32
                 | (uint64_t) (m == 4) << 48;

            ngx_http_tier_router_model_t1[p << 8 | b] = v1;
            ngx_http_tier_router_model_t2[p << 8 | b] = v2;
        }
    }

    ngx_http_tier_router_model_ready = 1;
}


/*
 * 1: a negation (not, except, least), 2: a step of a word problem (if,
 * then, each, every, per, total, remaining, times, twice, half, percent),
 * 0: another word; ASCII case-insensitively, by length first
 */

static int
ngx_http_tier_router_model_word(const unsigned char *w, size_t len)
{
    size_t         i;
    unsigned char  b[9];

    /* by length first */

    if (len < 2 || len > 9) {
        return 0;
    }


    for (i = 0; i < len; i++) {
        b[i] = w[i] | 0x20;
    }

#define TR_IS(s)  (memcmp(b, s, sizeof(s) - 1) == 0)

    switch (len) {
    case 2:
        return TR_IS("if") ? 2 : 0;
    case 3:
        return TR_IS("not") ? 1 : TR_IS("per") ? 2 : 0;
    case 4:
        return (TR_IS("then") || TR_IS("each") || TR_IS("half")) ? 2 : 0;
    case 5:
        return TR_IS("least") ? 1
               : (TR_IS("every") || TR_IS("total") || TR_IS("times")
                  || TR_IS("twice")) ? 2 : 0;
    case 6:
        return TR_IS("except") ? 1 : 0;
    case 7:
        return TR_IS("percent") ? 2 : 0;
    case 9:
        return TR_IS("remaining") ? 2 : 0;
    default:
        return 0;
    }

#undef TR_IS
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
