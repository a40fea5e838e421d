
/*
 * Copyright (C) The tier router authors
 *
 * Answer checks: the math family.
 */


#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tr_check.h"


#define TR_CHECK_MAX      65536     /* bytes of a text that are read */
#define TR_CHECK_WINDOW   48        /* from a marker to its number */
#define TR_CHECK_TOKEN    32        /* the longest number read */


/*
 * Fitted by tools/tier_router_fit.c on t/data/checks/math.jsonl (make
 * check-weights), the threshold its default: a false equation or a
 * decimal count escalates alone, hedging or no final number only with
 * another sign or a hard prompt.
 */

const tr_check_model_t  tr_check_math_default = {
    -2.0374, 0.5171, { 1.216, 3.1629, 3.9979, 1.5607 }, 0.5
};

const char *const  tr_check_names[TR_CHECK_N] = {
    "no_final", "decimal", "false_eq", "hedge"
};


static const char  *tr_check_markers[] = {
    "####", "answer is", "answer:", "\\boxed{", "final answer", "answer =",
    NULL
};

static const char  *tr_check_hedges[] = {
    "approximately", "i think", "i believe", "not sure", "probably",
    "it seems", "assuming", "roughly", "unclear", "not certain", "i guess",
    "maybe", "estimate", NULL
};


static const char *tr_check_last(const char *s, const char *end,
    const char *needle);
static const char *tr_check_final(const char *s, const char *end,
    double *v, int *decimals);
static const char *tr_check_number(const char *p, const char *end,
    double *v, int *decimals);
static const char *tr_check_back(const char *start, const char *p,
    double *v);
static int tr_check_false(const char *s, const char *end, const char *eq);
static const char *tr_check_op(const char *start, const char *p, int *op);
static int tr_check_digit(int c);


unsigned
tr_check_ask(const char *prompt, size_t len)
{
    unsigned     ask, nums;
    const char  *p, *end;

    end = prompt + (len > TR_CHECK_MAX ? TR_CHECK_MAX : len);
    ask = 0;
    nums = 0;

    for (p = prompt; p < end; p++) {
        if (tr_check_digit(*p)
            && (p == prompt || !(tr_check_digit(p[-1]) || p[-1] == '.'
                                 || p[-1] == ',')))
        {
            nums++;
        }
    }

    if (nums >= 2) {
        ask |= TR_CHECK_ASK_MATH;
    }

    if (tr_check_last(prompt, end, "how many")) {
        ask |= TR_CHECK_ASK_INTEGER;
    }

    return ask;
}


void
tr_check_math(const char *text, size_t len, unsigned ask, double *f)
{
    int          i, decimals;
    double       v;
    const char  *p, *end, *final;

    for (i = 0; i < TR_CHECK_N; i++) {
        f[i] = 0;
    }

    if (!(ask & TR_CHECK_ASK_MATH)) {
        return;
    }

    end = text + (len > TR_CHECK_MAX ? TR_CHECK_MAX : len);
    v = 0;
    decimals = 0;

    /* the number after the last answer marker */

    final = tr_check_final(text, end, &v, &decimals);

    if (final == NULL) {
        f[TR_CHECK_NO_FINAL] = 1;

        /* else the last number said is the one read as the answer */

        for (p = end; p > text; p--) {
            if (tr_check_digit(p[-1])) {
                tr_check_back(text, p, &v);
                break;
            }
        }

        decimals = (p > text && v != floor(v));
    }

    if ((ask & TR_CHECK_ASK_INTEGER) && decimals && v != floor(v)) {
        f[TR_CHECK_DECIMAL] = 1;
    }

    for (p = text; p < end; p++) {
        if (*p == '=' && tr_check_false(text, end, p)) {
            f[TR_CHECK_FALSE_EQ] = 1;
            break;
        }
    }

    for (i = 0; tr_check_hedges[i]; i++) {
        if (tr_check_last(text, end, tr_check_hedges[i])) {
            f[TR_CHECK_HEDGE] = 1;
            break;
        }
    }
}


double
tr_check_score(const tr_check_model_t *m, double pre, const double *f)
{
    int     i;
    double  z;

    z = m->bias + m->pre * pre;

    for (i = 0; i < TR_CHECK_N; i++) {
        z += m->w[i] * f[i];
    }

    return 1 / (1 + exp(-z));
}


int
tr_check_load(const char *buf, size_t len, tr_check_model_t *m, char *err,
    size_t errlen)
{
    int           i;
    json_t       *root, *w, *v;
    const char   *key, *family;
    json_error_t  e;

    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);

    if (root == NULL) {
        snprintf(err, errlen, "invalid JSON at line %d: %s", e.line, e.text);
        return -1;
    }

    family = json_string_value(json_object_get(root, "family"));
    w = json_object_get(root, "weights");

    if (family == NULL || strcmp(family, "math") != 0) {
        snprintf(err, errlen, "\"family\" is not \"math\"");
        goto failed;
    }

    if (!json_is_object(w) || json_object_size(w) != TR_CHECK_N
        || json_object_size(root) != 5)
    {
        snprintf(err, errlen, "it must have \"family\", \"bias\", \"pre\", "
                 "\"threshold\" and \"weights\" with the %d checks, and "
                 "nothing else", TR_CHECK_N);
        goto failed;
    }

    json_object_foreach(root, key, v) {
        if (strcmp(key, "family") == 0 || strcmp(key, "weights") == 0) {
            continue;
        }

        if (!json_is_number(v) || !(fabs(json_number_value(v)) <= 1e6)) {
            snprintf(err, errlen, "\"%s\" is not a number from -1e6 to "
                     "1e6", key);
            goto failed;
        }

        if (strcmp(key, "bias") == 0) {
            m->bias = json_number_value(v);

        } else if (strcmp(key, "pre") == 0) {
            m->pre = json_number_value(v);

        } else if (strcmp(key, "threshold") == 0) {
            m->threshold = json_number_value(v);

        } else {
            snprintf(err, errlen, "unknown member \"%s\"", key);
            goto failed;
        }
    }

    if (!(m->threshold > 0 && m->threshold < 1)) {
        snprintf(err, errlen, "\"threshold\" is not between 0 and 1");
        goto failed;
    }

    for (i = 0; i < TR_CHECK_N; i++) {
        v = json_object_get(w, tr_check_names[i]);

        if (!json_is_number(v) || !(fabs(json_number_value(v)) <= 1e6)) {
            snprintf(err, errlen, "weight \"%s\" is missing or not a "
                     "number from -1e6 to 1e6", tr_check_names[i]);
            goto failed;
        }

        m->w[i] = json_number_value(v);
    }

    json_decref(root);
    return 0;

failed:

    json_decref(root);
    return -1;
}


/* the last occurrence of needle (lower case) in s, ignoring case */

static const char *
tr_check_last(const char *s, const char *end, const char *needle)
{
    size_t       n, i;
    const char  *p, *found;

    n = strlen(needle);
    found = NULL;

    for (p = s; (size_t) (end - p) >= n; p++) {
        for (i = 0; i < n; i++) {
            if ((p[i] >= 'A' && p[i] <= 'Z' ? p[i] | 0x20 : p[i])
                != needle[i])
            {
                break;
            }
        }

        if (i == n) {
            found = p;
        }
    }

    return found;
}


/* the number after the last answer marker, within a few bytes of it */

static const char *
tr_check_final(const char *s, const char *end, double *v, int *decimals)
{
    int          i;
    const char  *p, *q, *m, *last;

    last = NULL;

    for (i = 0; tr_check_markers[i]; i++) {
        m = tr_check_last(s, end, tr_check_markers[i]);

        if (m && (last == NULL || m > last)) {
            last = m + strlen(tr_check_markers[i]);
        }
    }

    if (last == NULL) {
        return NULL;
    }

    q = (end - last > TR_CHECK_WINDOW) ? last + TR_CHECK_WINDOW : end;

    for (p = last; p < q; p++) {
        if (tr_check_digit(*p)) {
            if (tr_check_number(p, end, v, decimals) == NULL) {
                return NULL;
            }

            if (p > s && p[-1] == '-') {
                *v = -*v;
            }

            return p;
        }
    }

    return NULL;
}


/*
 * A number at p: digits, thousands separated by commas, and decimals;
 * the end of it, or NULL if it is longer than a number is.
 */

static const char *
tr_check_number(const char *p, const char *end, double *v, int *decimals)
{
    char         buf[TR_CHECK_TOKEN + 1];
    size_t       n;
    const char  *q;

    n = 0;
    *decimals = 0;

    for (q = p; q < end; q++) {

        if (tr_check_digit(*q)) {
            if (*decimals) {
                (*decimals)++;
            }

        } else if (*q == ',' && end - q > 3 && tr_check_digit(q[1])
                   && tr_check_digit(q[2]) && tr_check_digit(q[3])
                   && (end - q == 4 || !tr_check_digit(q[4]))
                   && !*decimals)
        {
            continue;

        } else if (*q == '.' && !*decimals && end - q > 1
                   && tr_check_digit(q[1]))
        {
            *decimals = 1;

        } else {
            break;
        }

        if (n == TR_CHECK_TOKEN) {
            return NULL;
        }

        buf[n++] = *q;
    }

    if (*decimals) {
        (*decimals)--;
    }

    buf[n] = '\0';
    *v = strtod(buf, NULL);

    return q;
}


/* the number that ends at p (p[-1] a digit): its start, or NULL */

static const char *
tr_check_back(const char *start, const char *p, double *v)
{
    int          decimals;
    const char  *q;

    for (q = p; q > start && p - q < TR_CHECK_TOKEN; q--) {
        if (!(tr_check_digit(q[-1]) || q[-1] == '.' || q[-1] == ',')) {
            break;
        }
    }

    while (q < p && !tr_check_digit(*q)) {
        q++;
    }

    if (q == p || tr_check_number(q, p, v, &decimals) != p) {
        return NULL;
    }

    return q;
}


/*
 * Is the "=" at eq the end of a false "a op b = c"?  Only a bare binary
 * operation counts (nothing operates on a, nothing follows c); "$" signs
 * and spaces are allowed around the numbers.
 */

static int
tr_check_false(const char *s, const char *end, const char *eq)
{
    int          op, decimals;
    double       a, b, c, r, tol;
    const char  *p;

    if ((eq > s && eq[-1] && strchr("=<>!", eq[-1]))
        || (end - eq > 1 && eq[1] == '='))
    {
        return 0;
    }

    /* c */

    for (p = eq + 1; p < end && (*p == ' ' || *p == '$'); p++) {
        /* void */
    }

    if (p == end || !tr_check_digit(*p)) {
        return 0;
    }

    p = tr_check_number(p, end, &c, &decimals);

    if (p == NULL) {
        return 0;
    }

    while (p < end && *p == ' ') {
        p++;
    }

    if (p < end && ((*p && strchr("+-*/^x(", *p))
                    || (unsigned char) *p == 0xc3))
    {
        return 0;
    }

    /* b, the operator, a */

    for (p = eq; p > s && (p[-1] == ' ' || p[-1] == '$'); p--) {
        /* void */
    }

    if (p == s || !tr_check_digit(p[-1])) {
        return 0;
    }

    p = tr_check_back(s, p, &b);

    if (p == NULL) {
        return 0;
    }

    p = tr_check_op(s, p, &op);

    if (p == NULL) {
        return 0;
    }

    p = tr_check_back(s, p, &a);

    if (p == NULL) {
        return 0;
    }

    while (p > s && p[-1] == ' ') {
        p--;
    }

    if (p > s && ((p[-1] && strchr("+-*/^)x.,", p[-1]))
                  || tr_check_digit(p[-1])
                  || (unsigned char) p[-1] >= 0x80))
    {
        return 0;
    }

    switch (op) {
    case '+':
        r = a + b;
        break;
    case '-':
        r = a - b;
        break;
    case '*':
        r = a * b;
        break;
    default:  /* '/' */
        if (b == 0) {
            return 0;
        }
        r = a / b;
    }

    if (decimals > 6) {
        decimals = 6;
    }

    tol = 0.5 * pow(10, -decimals) + 1e-9 * fabs(r);

    return fabs(r - c) > tol;
}


/*
 * The operator before the number at p: "+", "-", "*", "/", " x ", "×",
 * "÷"; the end of the number before it (spaces and "$" skipped), or NULL.
 */

static const char *
tr_check_op(const char *start, const char *p, int *op)
{
    const unsigned char  *u;

    while (p > start && (p[-1] == ' ' || p[-1] == '$')) {
        p--;
    }

    if (p - start >= 2) {
        u = (const unsigned char *) p - 2;

        if (u[0] == 0xc3 && (u[1] == 0x97 || u[1] == 0xb7)) {
            *op = (u[1] == 0x97) ? '*' : '/';
            p -= 2;
            goto number;
        }
    }

    if (p == start) {
        return NULL;
    }

    switch (p[-1]) {
    case '+':
    case '-':
    case '*':
    case '/':
        *op = p[-1];
        break;
    case 'x':
    case 'X':
        if (p - start < 2 || p[-2] != ' ' || *p != ' ') {
            return NULL;
        }
        *op = '*';
        break;
    default:
        return NULL;
    }

    p--;

number:

    while (p > start && (p[-1] == ' ' || p[-1] == '$')) {
        p--;
    }

    if (p == start || !tr_check_digit(p[-1])) {
        return NULL;
    }

    return p;
}


static int
tr_check_digit(int c)
{
    return c >= '0' && c <= '9';
}
