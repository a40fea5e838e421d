
/*
 * Copyright (C) The tier router authors
 *
 * Prices and costs.  Money is integer micro-dollars (1e-6 USD); a price is
 * micro-dollars per million tokens, so $2.50 per million is 2500000.  A
 * cost is rounded up once, never accumulated in floating point.  The
 * LiteLLM catalog (model_prices_and_context_window.json) is read with
 * jansson (tr_fetch.c fetches it), at configuration time only.
 * Pure C, no nginx dependency.
 */


#ifndef _TR_PRICE_H_INCLUDED_
#define _TR_PRICE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include "tr_usage.h"


/* the largest price accepted: $1,000,000 per million tokens */
#define TR_PRICE_MAX  1000000000000LL

/*
 * Every amount (micro-dollars) and count a budget zone keeps stays within
 * [0, 2^53 - 1]: exact as a JSON number, and three of them add up without
 * overflow.  Additions saturate there; a state file past it is refused.
 */
#define TR_AMOUNT_MAX  ((int64_t) 9007199254740991LL)


/*
 * A model's price: per million tokens, per thousand server tool calls,
 * and the multipliers of the service tiers and of a region (in millionths:
 * 500000 is 0.5x).  -1 is unset, and an unset part has the default in its
 * comment.
 */

typedef struct {
    int64_t                      input;        /* -1: unset */
    int64_t                      output;       /* -1: unset */
    int64_t                      cached;       /* -1: input's */
    int64_t                      cache_write;  /* -1: 1.25 x input's */
    int64_t                      cache_write_1h;  /* -1: 2 x input's */
    int64_t                      reasoning;    /* -1: output's */

    /* a request whose input is over above tokens: all of it at these */
    int64_t                      above;        /* -1: none */
    int64_t                      above_input;  /* -1: input's */
    int64_t                      above_output; /* -1: output's */
    int64_t                      above_cached; /* -1: cached's */

    /* per 1000 calls */
    int64_t                      web_search;   /* -1: $10 */
    int64_t                      web_fetch;    /* -1: $0 */

    /* multipliers, in millionths */
    int64_t                      flex;         /* -1: 0.5 */
    int64_t                      priority;     /* -1: 2 */
    int64_t                      batch;        /* -1: 0.5 */
    int64_t                      region;       /* -1: 1 */

    /* not a price: the most input the model takes, in tokens */
    int64_t                      context;      /* -1: TR_CONTEXT */
} tr_price_t;


/* a context window for a model of unknown size, in tokens */

#define TR_CONTEXT  200000


#define TR_PRICE_FACTOR_MAX  100000000     /* 100x */


/*
 * A plain decimal number of dollars per million tokens: digits, then
 * optionally '.' and 1 to 6 digits ("2.50", "0.075", "15"; not ".5", "5.",
 * "-1", "1e-2", "+1" or " 1"), converted exactly; returns micro-dollars
 * per million tokens (2500000 for "2.50"), or -1 if it is not such a
 * number or is above TR_PRICE_MAX.
 */

int64_t tr_price_parse(const unsigned char *s, size_t len);

/* every part unset */

void tr_price_init(tr_price_t *p);

/*
 * The cost of the usage at the price, in micro-dollars, rounded up once
 * at the end.  Counts of -1 are 0; cached and cache_write (its 1-hour
 * part at cache_write_1h) are charged at their prices and the rest of
 * input (at least 0) at input's; reasoning at its price and the rest of
 * output (at least 0) at output's; an input over "above" tokens puts the
 * whole request at the "above" prices; server tool calls per thousand;
 * then the service tier's multiplier and the region's.  An unset input or
 * output price is 0.  Saturates at INT64_MAX.
 */

int64_t tr_price_cost(const tr_price_t *p,
    const tr_usage_t *u);

/*
 * a + b within [0, TR_AMOUNT_MAX]; b <= 0 adds nothing.  Inline: a
 * settlement adds some twenty amounts.
 */

static inline int64_t
tr_amount_add(int64_t a, int64_t b)
{
    if (b <= 0) {
        return a;
    }

    if (a >= TR_AMOUNT_MAX || b >= TR_AMOUNT_MAX - a) {
        return TR_AMOUNT_MAX;
    }

    return a + b;
}

/*
 * Micro-dollars as dollars with 6 decimals and no '$' sign: "0.001234",
 * "-1.500000"; NUL-terminated, at most 32 bytes with the NUL.  Returns the
 * length without the NUL.
 */

size_t tr_price_print(int64_t micros, char *out);


typedef int (*tr_price_pt)(void *data,
    const char *model, size_t len, const tr_price_t *p);

/*
 * Reads a LiteLLM catalog (model_prices_and_context_window.json) and calls
 * cb for every model with both an input and an output price per token;
 * cb returns 0, or -1 to stop (an error).  "sample_spec", entries named
 * "", entries that are not objects and entries with a missing, negative
 * or too large price are skipped.  Returns the number of models, with a
 * summary ("N models, M skipped") in err, or -1 with a message in err.
 */

int tr_price_catalog(const char *buf, size_t len,
    tr_price_pt cb, void *data, char *err, size_t errlen);

/*
 * A message into err (errlen bytes, NUL-terminated); nothing if err is
 * NULL or errlen is 0.
 */

void tr_price_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


#endif /* _TR_PRICE_H_INCLUDED_ */
