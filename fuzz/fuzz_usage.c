
/*
 * Copyright (C) The tier router authors
 *
 * libFuzzer target: the usage reader.  The input is an upstream's answer;
 * its first byte picks the dialect and JSON or SSE, its second the sizes
 * of the pieces it is fed in.  Checked on every input:
 *
 *   - fed whole or in pieces, the reader says the same (counts, text
 *     bytes, done), and it reads every byte it is given;
 *   - for an OpenAI chat JSON answer that jansson reads without
 *     duplicate keys, the counts are the root usage's.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "tr_extract.h"
#include "tr_usage.h"


static void
ngx_http_tier_router_fuzz_feed(tr_usage_parser_t *p,
    const uint8_t *data, size_t len, unsigned piece)
{
    size_t  n, k, step;

    for (k = 0; k < len; /* void */) {
        step = piece ? 1 + (k * 7 + piece) % (piece + 1) : len - k;
        step = step > len - k ? len - k : step;

        for (n = 0; n < step; /* void */) {
            n += tr_usage_feed(p, data + k + n, step - n);
        }

        k += step;
    }
}


/*
 * What the reader must report for a count that two keys name (OpenAI's
 * and Anthropic's, read in every dialect): the value of the last of them
 * in the usage object that is a count, an integer from 0 to 15 digits,
 * as the reader keeps the last count it reads; -1 if there is none.
 * jansson keeps an object's members in their order.
 */

static json_int_t
ngx_http_tier_router_fuzz_count(json_t *usage, const char *name,
    const char *alias)
{
    json_t      *v;
    json_int_t   n, last;
    const char  *key;

    last = -1;

    json_object_foreach(usage, key, v) {
        if (strcmp(key, name) != 0 && strcmp(key, alias) != 0) {
            continue;
        }

        n = json_is_integer(v) ? json_integer_value(v) : -1;

        if (n >= 0 && n < 1000000000000000LL) {
            last = n;
        }
    }

    return last;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                dialect, sse, r1, r2;
    json_t            *root, *u;
    json_int_t         n;
    tr_usage_t         a, b;
    tr_usage_parser_t  whole, parts;

    if (size < 2) {
        return 0;
    }

    dialect = 1 + data[0] % 3;
    sse = (data[0] & 0x10) != 0;

    tr_usage_init(&whole, dialect, sse);
    tr_usage_init(&parts, dialect, sse);

    ngx_http_tier_router_fuzz_feed(&whole, data + 2, size - 2, 0);
    ngx_http_tier_router_fuzz_feed(&parts, data + 2, size - 2, data[1]);

    /* the padding too: the results are compared as bytes */

    memset(&a, 0, sizeof(tr_usage_t));
    memset(&b, 0, sizeof(tr_usage_t));

    r1 = tr_usage_result(&whole, &a);
    r2 = tr_usage_result(&parts, &b);

    if (r1 != r2 || whole.bytes != size - 2 || parts.bytes != size - 2
        || whole.text_bytes != parts.text_bytes || whole.done != parts.done
        || (r1 == 0 && memcmp(&a, &b, sizeof(a)) != 0))
    {
        abort();
    }

    /*
     * jansson is the oracle of valid JSON only: it reads a NUL byte
     * between tokens as the end of a number and goes on, where JSON (and
     * the reader) stop; such a body is no answer to compare
     */

    if (sse || dialect != TR_OPENAI_CHAT || memchr(data + 2, 0, size - 2)) {
        return 0;
    }

    root = json_loadb((const char *) data + 2, size - 2,
                      JSON_REJECT_DUPLICATES, NULL);
    u = json_object_get(root, "usage");

    if (json_is_object(u)) {
        n = ngx_http_tier_router_fuzz_count(u, "prompt_tokens",
                                            "input_tokens");

        if (n >= 0 && n < 1000000000 && (r1 != 0 || a.input != n)) {
            abort();
        }

        n = ngx_http_tier_router_fuzz_count(u, "completion_tokens",
                                            "output_tokens");

        if (n >= 0 && n < 1000000000 && (r1 != 0 || a.output != n)) {
            abort();
        }
    }

    json_decref(root);

    return 0;
}
