
/*
 * Copyright (C) The tier router authors
 *
 * libFuzzer target: the price catalog loader (a LiteLLM
 * model_prices_and_context_window.json).  Whatever the input, it returns
 * a count or -1 with a message, and every price it hands on is within
 * the documented bounds.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tr_usage.h"
#include "tr_price.h"


static int
ngx_http_tier_router_fuzz_model(void *data, const char *model, size_t len,
    const tr_price_t *p)
{
    size_t  *n = data;

    if (model == NULL || len == 0 || p->input < 0 || p->output < 0
        || p->input > TR_PRICE_MAX
        || p->output > TR_PRICE_MAX)
    {
        abort();
    }

    (*n)++;

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int     rc;
    char    err[256];
    size_t  n;

    n = 0;
    err[0] = '\0';

    rc = tr_price_catalog((const char *) data, size,
                          ngx_http_tier_router_fuzz_model,
                          &n, err, sizeof(err));

    if ((rc >= 0 && (size_t) rc != n) || (rc < 0 && err[0] == '\0')
        || memchr(err, '\0', sizeof(err)) == NULL)
    {
        abort();
    }

    return 0;
}
