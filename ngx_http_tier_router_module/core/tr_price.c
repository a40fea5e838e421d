
/*
 * Copyright (C) The tier router authors
 *
 * Prices and costs in integers: a price is micro-dollars per million
 * tokens, a cost micro-dollars.  Floating point is used only to read the
 * LiteLLM catalog's dollars per token, at configuration time.
 */


#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tr_price.h"


#define TR_PRICE_DECIMALS  6
#define TR_PRICE_MILLION   1000000


typedef unsigned __int128  tr_u128_t;


static tr_u128_t tr_price_add(
    tr_u128_t sum, int64_t tokens, int64_t price);
static tr_u128_t tr_price_scale(tr_u128_t sum, int64_t factor);
static int tr_price_entry(json_t *entry,
    tr_price_t *p);
static int tr_price_field(json_t *entry, const char *name,
    int64_t *price);
static int64_t tr_price_ratio(const tr_price_t *p, const int64_t *tier);


int64_t
tr_price_parse(const unsigned char *s, size_t len)
{
    size_t   i, digits, decimals;
    int64_t  v;
    int      dot;

    if (s == NULL || len == 0) {
        return -1;
    }

    v = 0;
    dot = 0;
    digits = 0;
    decimals = 0;

    for (i = 0; i < len; i++) {

        if (s[i] == '.') {

            /* one dot, after a digit: not ".5", "1..2" or "1.2.3" */

            if (dot || digits == 0) {
                return -1;
            }

            dot = 1;
            continue;
        }

        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        if (dot && ++decimals > TR_PRICE_DECIMALS) {
            return -1;
        }

        /* v <= PRICE_MAX before, so this cannot overflow */

        v = v * 10 + (s[i] - '0');
        digits++;

        if (v > TR_PRICE_MAX) {
            return -1;
        }
    }

    /* "5." */

    if (dot && decimals == 0) {
        return -1;
    }

    for ( /* void */ ; decimals < TR_PRICE_DECIMALS;
         decimals++)
    {
        v *= 10;

        if (v > TR_PRICE_MAX) {
            return -1;
        }
    }

    return v;
}


void
tr_price_init(tr_price_t *p)
{
    p->input = -1;
    p->output = -1;
    p->cached = -1;
    p->cache_write = -1;
    p->cache_write_1h = -1;
    p->reasoning = -1;
    p->above = -1;
    p->above_input = -1;
    p->above_output = -1;
    p->above_cached = -1;
    p->web_search = -1;
    p->web_fetch = -1;
    p->flex = -1;
    p->priority = -1;
    p->batch = -1;
    p->region = -1;
    p->context = -1;
}


int64_t
tr_price_cost(const tr_price_t *p,
    const tr_usage_t *u)
{
    int64_t    input, output, cached, cache_write, write_1h, factor;
    int64_t    reasoning, rest, in_price, out_price, cached_price;
    uint64_t   s;
    tr_u128_t  sum, q;

    input = u->input > 0 ? u->input : 0;
    output = u->output > 0 ? u->output : 0;
    cached = u->cached > 0 ? u->cached : 0;
    cache_write = u->cache_write > 0 ? u->cache_write : 0;
    write_1h = u->cache_write_1h > 0 ? u->cache_write_1h : 0;
    reasoning = u->reasoning > 0 ? u->reasoning : 0;

    write_1h = (write_1h < cache_write) ? write_1h : cache_write;

    in_price = p->input >= 0 ? p->input : 0;
    out_price = p->output >= 0 ? p->output : 0;
    cached_price = p->cached >= 0 ? p->cached : in_price;

    /* a long context: the whole request at its prices */

    if (p->above >= 0 && input > p->above) {
        if (p->above_cached >= 0) {
            cached_price = p->above_cached;

        } else if (p->cached < 0 && p->above_input >= 0) {
            cached_price = p->above_input;
        }

        in_price = p->above_input >= 0 ? p->above_input : in_price;
        out_price = p->above_output >= 0 ? p->above_output : out_price;
    }

    sum = 0;

    sum = tr_price_add(sum, cached, cached_price);

    /* writes: for 5 minutes at 1.25x input, for an hour at 2x */

    sum = tr_price_add(sum, cache_write - write_1h,
                       p->cache_write >= 0 ? p->cache_write
                                           : in_price + in_price / 4
                                             + (in_price % 4 != 0));
    sum = tr_price_add(sum, write_1h,
                       p->cache_write_1h >= 0 ? p->cache_write_1h
                                              : 2 * in_price);

    /* input - cached - cache_write, floored at 0 without overflowing */

    rest = (input > cached) ? input - cached : 0;
    rest = (rest > cache_write) ? rest - cache_write : 0;

    sum = tr_price_add(sum, rest, in_price);

    sum = tr_price_add(sum, reasoning,
                             p->reasoning >= 0 ? p->reasoning : out_price);

    rest = (output > reasoning) ? output - reasoning : 0;

    sum = tr_price_add(sum, rest, out_price);

    /* server tools: a price per thousand calls is a thousandth each */

    sum = tr_price_add(sum, u->web_search > 0 ? u->web_search : 0,
                       1000 * (p->web_search >= 0 ? p->web_search
                                                  : 10 * TR_PRICE_MILLION));
    sum = tr_price_add(sum, u->web_fetch > 0 ? u->web_fetch : 0,
                       1000 * (p->web_fetch >= 0 ? p->web_fetch : 0));

    /* the service tier, then the region: rounded up, never down */

    switch (u->service_tier) {
    case TR_SERVICE_FLEX:
        factor = p->flex >= 0 ? p->flex : TR_PRICE_MILLION / 2;
        break;
    case TR_SERVICE_PRIORITY:
        factor = p->priority >= 0 ? p->priority : 2 * TR_PRICE_MILLION;
        break;
    case TR_SERVICE_BATCH:
        factor = p->batch >= 0 ? p->batch : TR_PRICE_MILLION / 2;
        break;
    default:
        factor = TR_PRICE_MILLION;
    }

    sum = tr_price_scale(sum, factor);
    sum = tr_price_scale(sum, p->region >= 0 ? p->region : TR_PRICE_MILLION);

    /*
     * the one rounding, up; a sum under 2^64, as all but absurd ones are,
     * is divided in 64 bits (a multiplication, not __udivti3's loop)
     */

    if ((sum >> 64) == 0) {
        s = (uint64_t) sum;
        q = s / TR_PRICE_MILLION + (s % TR_PRICE_MILLION != 0);

    } else {
        q = sum / TR_PRICE_MILLION + (sum % TR_PRICE_MILLION != 0);
    }

    return (q > (tr_u128_t) INT64_MAX) ? INT64_MAX
                                       : (int64_t) q;
}


static tr_u128_t
tr_price_add(tr_u128_t sum,
    int64_t tokens, int64_t price)
{
    tr_u128_t  term, max;

    /* both below 2^63: the product is below 2^126 */

    term = (tr_u128_t) tokens
           * (tr_u128_t) price;

    max = ~(tr_u128_t) 0;

    return (sum > max - term) ? max : sum + term;
}


/* sum times factor millionths, rounded up, saturated */

static tr_u128_t
tr_price_scale(tr_u128_t sum, int64_t factor)
{
    tr_u128_t  max, q;

    if (factor == TR_PRICE_MILLION) {
        return sum;
    }

    max = ~(tr_u128_t) 0;

    if (factor > 0 && sum > max / (tr_u128_t) factor) {
        return max;
    }

    q = sum * (tr_u128_t) factor;

    return q / TR_PRICE_MILLION + (q % TR_PRICE_MILLION != 0);
}


size_t
tr_price_print(int64_t micros, char *out)
{
    int       n;
    uint64_t  m;

    m = (micros < 0) ? (uint64_t) 0 - (uint64_t) micros : (uint64_t) micros;

    n = snprintf(out, 32, "%s%llu.%06llu", (micros < 0) ? "-" : "",
                 (unsigned long long) (m / TR_PRICE_MILLION),
                 (unsigned long long) (m % TR_PRICE_MILLION));

    return (n > 0) ? (size_t) n : 0;
}


int
tr_price_catalog(const char *buf, size_t len,
    tr_price_pt cb, void *data, char *err, size_t errlen)
{
    int           n, skipped;
    json_t       *root, *entry;
    const char   *name;
    json_error_t  error;
    tr_price_t    p;

    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &error);

    if (root == NULL) {
        tr_price_error(err, errlen,
                       "invalid JSON at line %d, column "
                       "%d: %s", error.line, error.column,
                       error.text);
        return -1;
    }

    if (!json_is_object(root)) {
        tr_price_error(err, errlen,
                       "the top level is %s, not an "
                       "object of models",
                       json_is_array(root) ? "an array"
                                           : "a scalar");
        json_decref(root);
        return -1;
    }

    n = 0;
    skipped = 0;

    json_object_foreach(root, name, entry) {

        /* LiteLLM's documentation of the format, not a model */

        if (strcmp(name, "sample_spec") == 0) {
            continue;
        }

        /* a model has a name (the fuzzer found "" taken as one) */

        if (name[0] == '\0'
            || tr_price_entry(entry, &p) != 0)
        {
            skipped++;
            continue;
        }

        /* jansson refuses NUL in keys: strlen() is the key's length */

        if (cb(data, name, strlen(name), &p) != 0) {
            tr_price_error(err, errlen,
                           "stopped at model \"%s\"",
                           name);
            json_decref(root);
            return -1;
        }

        n++;
    }

    json_decref(root);

    tr_price_error(err, errlen, "%d models, %d skipped",
                   n, skipped);

    return n;
}


/*
 * 0 for an object with valid input and output prices per token (and valid
 * optional ones), -1 for an entry to skip.  LiteLLM's names: the long
 * context prices are those above 200k tokens; a service tier's multiplier
 * is the larger of its input and output prices over the standard ones;
 * a web search, its dearest search context size.
 */

static int
tr_price_entry(json_t *entry,
    tr_price_t *p)
{
    int          i;
    int64_t      v, flex[2], priority[2], batch[2];
    const char  *key;
    json_t      *search, *x;

    static const struct {
        const char  *name;
        size_t       offset;
    } optional[] = {
        { "cache_read_input_token_cost", offsetof(tr_price_t, cached) },
        { "cache_creation_input_token_cost",
          offsetof(tr_price_t, cache_write) },
        { "cache_creation_input_token_cost_above_1hr",
          offsetof(tr_price_t, cache_write_1h) },
        { "output_cost_per_reasoning_token", offsetof(tr_price_t, reasoning) },
        { "input_cost_per_token_above_200k_tokens",
          offsetof(tr_price_t, above_input) },
        { "output_cost_per_token_above_200k_tokens",
          offsetof(tr_price_t, above_output) },
        { "cache_read_input_token_cost_above_200k_tokens",
          offsetof(tr_price_t, above_cached) },
        { NULL, 0 }
    };

    tr_price_init(p);

    if (!json_is_object(entry)) {
        return -1;
    }

    /* both required */

    if (tr_price_field(entry, "input_cost_per_token", &p->input) != 1
        || tr_price_field(entry, "output_cost_per_token", &p->output) != 1)
    {
        return -1;
    }

    /* optional, but not invalid */

    for (i = 0; optional[i].name; i++) {
        if (tr_price_field(entry, optional[i].name,
                           (int64_t *) ((char *) p + optional[i].offset))
            < 0)
        {
            return -1;
        }
    }

    if (p->above_input >= 0 || p->above_output >= 0) {
        p->above = 200000;
    }

    if (tr_price_field(entry, "input_cost_per_token_flex", &flex[0]) < 0
        || tr_price_field(entry, "output_cost_per_token_flex", &flex[1]) < 0
        || tr_price_field(entry, "input_cost_per_token_priority",
                          &priority[0]) < 0
        || tr_price_field(entry, "output_cost_per_token_priority",
                          &priority[1]) < 0
        || tr_price_field(entry, "input_cost_per_token_batches",
                          &batch[0]) < 0
        || tr_price_field(entry, "output_cost_per_token_batches",
                          &batch[1]) < 0)
    {
        return -1;
    }

    p->flex = tr_price_ratio(p, flex);
    p->priority = tr_price_ratio(p, priority);
    p->batch = tr_price_ratio(p, batch);

    x = json_object_get(entry, "max_input_tokens");

    if (json_is_integer(x) && json_integer_value(x) > 0) {
        p->context = json_integer_value(x);
    }

    /* dollars per query: 1000 of them a price per thousand calls */

    search = json_object_get(entry, "search_context_cost_per_query");

    json_object_foreach(search, key, x) {
        if (!json_is_number(x) || !(json_number_value(x) >= 0)
            || json_number_value(x) > 1000)
        {
            return -1;
        }

        v = (int64_t) llround(json_number_value(x) * 1000
                              * TR_PRICE_MILLION);
        p->web_search = (v > p->web_search) ? v : p->web_search;
    }

    return 0;
}


/*
 * A tier's prices per token, as a multiplier of the standard ones (in
 * millionths): the larger of input's and output's, rounded up; -1 for
 * none, or beyond 100x
 */

static int64_t
tr_price_ratio(const tr_price_t *p, const int64_t *tier)
{
    int      i;
    int64_t  r, best, base;

    best = -1;

    for (i = 0; i < 2; i++) {
        base = (i == 0) ? p->input : p->output;

        if (tier[i] < 0 || base <= 0) {
            continue;
        }

        r = (int64_t) (((tr_u128_t) tier[i] * TR_PRICE_MILLION + base - 1)
                       / (tr_u128_t) base);

        if (r > TR_PRICE_FACTOR_MAX) {
            return -1;
        }

        best = (r > best) ? r : best;
    }

    return best;
}


/*
 * Dollars per token to micro-dollars per million tokens (v * 1e12),
 * rounded to the nearest.  1: read; 0: absent or not a number, *price is
 * -1; -1: negative, not finite or above the largest price.
 */

static int
tr_price_field(json_t *entry, const char *name,
    int64_t *price)
{
    double   v;
    json_t  *value;

    *price = -1;

    value = json_object_get(entry, name);

    if (value == NULL || !json_is_number(value)) {
        return 0;
    }

    v = json_number_value(value);

    if (!isfinite(v) || v < 0) {
        return -1;
    }

    v *= 1e12;

    if (v > (double) TR_PRICE_MAX) {
        return -1;
    }

    *price = (int64_t) llround(v);

    return 1;
}


void
tr_price_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
}
