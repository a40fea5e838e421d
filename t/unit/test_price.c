
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of prices and costs:
 *
 *   1. price_parse(): what a price directive accepts, exactly converted;
 *   2. price_cost(): OpenAI-like and Anthropic-like usages, the one
 *      rounding up, counts that do not add up, unset prices, saturation;
 *   3. price_print(), and amount_add() that saturates, never wraps;
 *   4. price_catalog(): a LiteLLM-style sample, converted integers, the
 *      entries skipped, and the errors;
 *   5. price_fetch() without the network: refused schemes, a closed port,
 *      and a one-shot HTTP server on the loopback (forked) for a good
 *      catalog, an error status, a body too large, a body that is not a
 *      catalog, a redirect to file:// and a timeout; a failed fetch leaves
 *      the target file as it was and no temporary file behind.
 */


#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tr_price.h"
#include "tr_fetch.h"
#include "unit.h"


#define L(s)        (const unsigned char *) (s), sizeof(s) - 1
#define MAXP        TR_PRICE_MAX

#define MODELS_MAX  16


typedef tr_price_t  price_t;
typedef tr_usage_t  usage_t;


typedef struct {
    const char  *in;
    int64_t      want;
} parse_case_t;


typedef struct {
    char         name[128];
    price_t      p;
} model_t;


typedef struct {
    model_t      m[MODELS_MAX];
    int          n;
    int          stop_at;    /* -1: never */
} models_t;


static void test_parse(void);
static void test_cost(void);
static void test_print(void);
static void test_add(void);
static void test_catalog(void);
static void test_catalog_errors(void);
static void test_invoice(void);
static void test_invoice_catalog(void);
static void test_fetch(void);
static int collect(void *data, const char *model, size_t len,
    const price_t *p);
static const model_t *find(const models_t *ms, const char *name);
static int is_price(const model_t *m, int64_t input, int64_t output,
    int64_t cached, int64_t cache_write, int64_t reasoning);
static int64_t cost(int64_t in_price, int64_t out_price, int64_t cached_price,
    int64_t write_price, int64_t reasoning_price, int64_t input,
    int64_t output, int64_t cached, int64_t cache_write, int64_t reasoning);
static int fetch_case(const char *name, const char *response, int hang,
    long timeout_ms, size_t max, char *err, size_t errlen);
static int serve(const char *response, int hang, pid_t *pid);
static void write_file(const char *path, const char *data);
static char *read_all(const char *path);
static int no_temp(const char *path);


static char  dir[] = "/tmp/test_price.XXXXXX";
static char  target[256];


/* a LiteLLM model_prices_and_context_window.json in small */

static const char  sample[] =
    "{\n"
    "    \"sample_spec\": {\n"
    "        \"max_tokens\": \"LEGACY parameter. set to max_output_tokens\",\n"
    "        \"max_input_tokens\": \"max input tokens, if the provider "
                                                       "specifies it\",\n"
    "        \"input_cost_per_token\": 0.0000,\n"
    "        \"output_cost_per_token\": 0.000,\n"
    "        \"output_cost_per_reasoning_token\": 0.000,\n"
    "        \"litellm_provider\": \"one of https://docs.litellm.ai/docs/"
                                                       "providers\",\n"
    "        \"mode\": \"one of: chat, embedding, completion\",\n"
    "        \"supports_function_calling\": true\n"
    "    },\n"
    "    \"gpt-4o\": {\n"
    "        \"max_tokens\": 16384,\n"
    "        \"max_input_tokens\": 128000,\n"
    "        \"max_output_tokens\": 16384,\n"
    "        \"input_cost_per_token\": 2.5e-06,\n"
    "        \"output_cost_per_token\": 1e-05,\n"
    "        \"input_cost_per_token_batches\": 1.25e-06,\n"
    "        \"cache_read_input_token_cost\": 1.25e-06,\n"
    "        \"litellm_provider\": \"openai\",\n"
    "        \"mode\": \"chat\",\n"
    "        \"supports_prompt_caching\": true\n"
    "    },\n"
    "    \"gpt-4o-mini\": {\n"
    "        \"input_cost_per_token\": 1.5e-07,\n"
    "        \"output_cost_per_token\": 6e-07,\n"
    "        \"cache_read_input_token_cost\": 7.5e-08,\n"
    "        \"litellm_provider\": \"openai\",\n"
    "        \"mode\": \"chat\"\n"
    "    },\n"
    "    \"text-embedding-3-large\": {\n"
    "        \"max_tokens\": 8191,\n"
    "        \"input_cost_per_token\": 1.3e-07,\n"
    "        \"output_vector_size\": 3072,\n"
    "        \"litellm_provider\": \"openai\",\n"
    "        \"mode\": \"embedding\"\n"
    "    },\n"
    "    \"claude-3-7-sonnet-20250219\": {\n"
    "        \"input_cost_per_token\": 3e-06,\n"
    "        \"output_cost_per_token\": 1.5e-05,\n"
    "        \"cache_creation_input_token_cost\": 3.75e-06,\n"
    "        \"cache_read_input_token_cost\": 3e-07,\n"
    "        \"litellm_provider\": \"anthropic\",\n"
    "        \"mode\": \"chat\"\n"
    "    },\n"
    "    \"gemini/gemini-2.5-flash-preview-04-17\": {\n"
    "        \"input_cost_per_token\": 1.5e-07,\n"
    "        \"output_cost_per_token\": 6e-07,\n"
    "        \"output_cost_per_reasoning_token\": 3.5e-06,\n"
    "        \"cache_read_input_token_cost\": 3.75e-08,\n"
    "        \"litellm_provider\": \"gemini\",\n"
    "        \"mode\": \"chat\"\n"
    "    },\n"
    "    \"bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0\": {\n"
    "        \"input_cost_per_token\": 8e-07,\n"
    "        \"output_cost_per_token\": 4e-06,\n"
    "        \"cache_read_input_token_cost\": null,\n"
    "        \"litellm_provider\": \"bedrock\",\n"
    "        \"mode\": \"chat\"\n"
    "    },\n"
    "    \"free/model\": {\n"
    "        \"input_cost_per_token\": 0,\n"
    "        \"output_cost_per_token\": 0\n"
    "    },\n"
    "    \"broken/negative\": {\n"
    "        \"input_cost_per_token\": -1e-06,\n"
    "        \"output_cost_per_token\": 1e-06\n"
    "    },\n"
    "    \"broken/too-dear\": {\n"
    "        \"input_cost_per_token\": 2,\n"
    "        \"output_cost_per_token\": 1e-06\n"
    "    },\n"
    "    \"broken/string\": {\n"
    "        \"input_cost_per_token\": \"1e-06\",\n"
    "        \"output_cost_per_token\": 1e-06\n"
    "    },\n"
    "    \"a-note\": \"not a model\"\n"
    "}\n";


int
main(int argc, char **argv)
{
    /* the fetches go to the loopback, never through a proxy */

    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");

    signal(SIGPIPE, SIG_IGN);

    test_parse();
    test_cost();
    test_print();
    test_add();
    test_catalog();
    test_catalog_errors();
    test_invoice();
    test_invoice_catalog();
    test_fetch();

    return unit_done();
}


static void
test_parse(void)
{
    size_t                     i;
    static const parse_case_t  cases[] = {
        { "2.50", 2500000 },
        { "2.5", 2500000 },
        { "0.075", 75000 },
        { "15", 15000000 },
        { "0.000001", 1 },
        { "0", 0 },
        { "0.0", 0 },
        { "000", 0 },
        { "007.5", 7500000 },
        { "1.000000", 1000000 },
        { "0.15", 150000 },
        { "999999.999999", 999999999999LL },
        { "1000000", MAXP },
        { "1000000.000000", MAXP },
        { "00000000000000000000001", 1000000 },

        { "", -1 },
        { "1.0000001", -1 },
        { "0.0000001", -1 },
        { "1.0000000", -1 },
        { "-1", -1 },
        { "+1", -1 },
        { "1e3", -1 },
        { "1E3", -1 },
        { "1e-2", -1 },
        { ".5", -1 },
        { "5.", -1 },
        { ".", -1 },
        { "1..2", -1 },
        { "1.2.3", -1 },
        { " 1", -1 },
        { "1 ", -1 },
        { "1,5", -1 },
        { "$1", -1 },
        { "0x10", -1 },
        { "inf", -1 },
        { "nan", -1 },
        { "1000000.000001", -1 },
        { "1000001", -1 },
        { "9223372036854775807", -1 },
        { "99999999999999999999999999999999", -1 },
        { "18446744073709551616.5", -1 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        UNIT_IS_INT(tr_price_parse(
                        (const unsigned char *) cases[i].in,
                        strlen(cases[i].in)),
                    cases[i].want, "price_parse(\"%s\") is %lld",
                    cases[i].in, (long long) cases[i].want);
    }

    /* the length bounds the number; a NUL is not a digit */

    UNIT_IS_INT(tr_price_parse(
                    (const unsigned char *) "2.50xyz", 4),
                2500000, "price_parse() reads len bytes only");
    UNIT_IS_INT(tr_price_parse(L("1\0")), -1,
                "price_parse() refuses a NUL");
    UNIT_IS_INT(tr_price_parse(NULL, 0), -1,
                "price_parse(NULL)");
}


static void
test_cost(void)
{
    int                bad;
    int64_t            c;
    price_t            p;
    usage_t            u;
    unsigned           i;
    unsigned __int128  sum, want;

    /*
     * OpenAI-like: gpt-4o at $2.50 in, $1.25 cached, $10 out; 1000 input
     * tokens of which 400 cached, 500 output of which 200 reasoning at the
     * output price: 400 * 1.25 + 600 * 2.50 + 500 * 10 = 7000 micro-dollars
     */

    UNIT_IS_INT(cost(2500000, 10000000, 1250000, -1, -1,
                     1000, 500, 400, -1, 200),
                7000, "cost: OpenAI-like, cached and reasoning tokens");

    /* OpenAI responses without details: counts of -1 */

    UNIT_IS_INT(cost(2500000, 10000000, 1250000, -1, -1,
                     1000, 500, -1, -1, -1),
                7500, "cost: OpenAI-like, no details");

    /*
     * Anthropic-like: $3 in, $15 out, $0.30 cache read, $3.75 cache write;
     * 10000 input of which 6000 read from and 2000 written to the cache,
     * 700 output: 1800 + 7500 + 6000 + 10500 = 25800 micro-dollars
     */

    UNIT_IS_INT(cost(3000000, 15000000, 300000, 3750000, -1,
                     10000, 700, 6000, 2000, -1),
                25800, "cost: Anthropic-like, cache reads and writes");

    /*
     * cache prices unset: reads at the input price (never less than the
     * provider's), writes at 1.25 times it (its 5-minute write):
     * 18000 + 7500 + 6000 + 10500
     */

    UNIT_IS_INT(cost(3000000, 15000000, -1, -1, -1,
                     10000, 700, 6000, 2000, -1),
                42000, "cost: cache prices unset: reads at input's, "
                "writes at 1.25x");

    /* a reasoning price of its own: 300 * 3.50 + 700 * 0.60 + 0 input */

    UNIT_IS_INT(cost(150000, 600000, -1, -1, 3500000,
                     0, 1000, -1, -1, 300),
                1470, "cost: reasoning at its own price");

    /* rounding up, once */

    UNIT_IS_INT(cost(150000, 600000, -1, -1, -1, 1, 0, -1, -1, -1),
                1, "cost: 1 token at $0.15/M is 1 micro-dollar (rounded up)");
    UNIT_IS_INT(cost(1, 1, -1, -1, -1, 1, 0, -1, -1, -1),
                1, "cost: 1 token at $0.000001/M is 1 micro-dollar");
    UNIT_IS_INT(cost(400000, 400000, 400000, 400000, 400000,
                     2, 1, 1, -1, -1),
                2, "cost: three parts of 0.4 are rounded once, to 2");
    UNIT_IS_INT(cost(2500000, -1, -1, -1, -1, 1000000, 0, -1, -1, -1),
                2500000, "cost: an exact amount is not rounded up");
    UNIT_IS_INT(cost(2500000, -1, -1, -1, -1, 1000001, 0, -1, -1, -1),
                2500003, "cost: 1000001 tokens at $2.50/M, rounded up");
    UNIT_IS_INT(cost(0, 0, -1, -1, -1, 1000, 1000, -1, -1, -1),
                0, "cost: free");

    /* counts that do not add up do not go negative */

    UNIT_IS_INT(cost(2500000, 10000000, 1250000, -1, -1,
                     1000, 0, 5000, -1, -1),
                6250, "cost: cached > input is charged as cached only");
    UNIT_IS_INT(cost(3000000, 15000000, 300000, 3750000, -1,
                     1000, 0, 800, 800, -1),
                3240, "cost: cached + cache_write > input");
    UNIT_IS_INT(cost(2500000, 10000000, -1, -1, 20000000,
                     0, 100, -1, -1, 300),
                6000, "cost: reasoning > output is charged as reasoning");

    /* unset prices and counts */

    UNIT_IS_INT(cost(-1, 10000000, -1, -1, -1, 1000, 500, -1, -1, -1),
                5000, "cost: an unset input price is 0");
    UNIT_IS_INT(cost(2500000, -1, -1, -1, -1, 1000, 500, -1, -1, -1),
                2500, "cost: an unset output price is 0");
    UNIT_IS_INT(cost(2500000, 10000000, 1, 1, 1, -1, -1, -1, -1, -1),
                0, "cost: no counts");

    /* large and saturating */

    UNIT_IS_INT(cost(MAXP, MAXP, -1, -1, -1, 1000000000000LL, 0,
                     -1, -1, -1),
                1000000000000000000LL, "cost: 1e12 tokens at the largest "
                "price, exact");
    UNIT_IS_INT(cost(MAXP, MAXP, -1, -1, -1, INT64_MAX, 0, -1, -1, -1),
                INT64_MAX, "cost: saturates at INT64_MAX");
    UNIT_IS_INT(cost(MAXP, MAXP, -1, -1, -1, INT64_MAX / 2, INT64_MAX / 2,
                     -1, -1, -1),
                INT64_MAX, "cost: a sum above INT64_MAX saturates");

    /* prices set directly, beyond price_parse()'s: the 128-bit sum */

    c = cost(INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX,
             INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX);
    UNIT_IS_INT(c, INT64_MAX, "cost: every part at its largest saturates");

    /* the structures as the module fills them */

    tr_price_init(&p);
    tr_usage_none(&u);

    p.input = 2500000;
    p.output = 10000000;

    u.input = 123;
    u.output = 45;

    /* 123 * 2.5 + 45 * 10 = 307.5 + 450 = 757.5 -> 758 */

    UNIT_IS_INT(tr_price_cost(&p, &u), 758,
                "cost: 123 in, 45 out at gpt-4o's prices");

    /*
     * the rounding up of a sum under 2^64 (divided in 64 bits) and of one
     * over it (in 128): the same as the quotient computed here, on each
     * side of 2^64 and of each multiple of a million near it
     */

    bad = 0;

    for (i = 0; i < 4000; i++) {
        tr_price_init(&p);
        tr_usage_none(&u);

        p.input = 1000003;
        u.input = (int64_t) ((((unsigned __int128) 1 << 64) / 1000003)
                             - 2000 + i);

        sum = (unsigned __int128) u.input * 1000003;
        want = sum / 1000000 + (sum % 1000000 != 0);

        if (tr_price_cost(&p, &u) != (int64_t) want) {
            bad++;
        }
    }

    UNIT_IS_INT(bad, 0, "cost: rounded up the same on each side of 2^64");
}


static void
test_add(void)
{
    int64_t  max;

    max = TR_AMOUNT_MAX;

    UNIT_IS_INT(tr_amount_add(1, 2), 3, "add: 1 + 2");
    UNIT_IS_INT(tr_amount_add(5, 0), 5, "add: + 0");
    UNIT_IS_INT(tr_amount_add(5, -3), 5,
                "add: a negative adds nothing");
    UNIT_IS_INT(tr_amount_add(-1, 1), 0,
                "add: to -1 (unknown)");
    UNIT_IS_INT(tr_amount_add(max - 1, 1), max,
                "add: up to the bound exactly");
    UNIT_IS_INT(tr_amount_add(max - 1, 2), max,
                "add: past the bound saturates");
    UNIT_IS_INT(tr_amount_add(max, 1), max,
                "add: at the bound stays");
    UNIT_IS_INT(tr_amount_add(max, INT64_MAX), max,
                "add: INT64_MAX to the bound");
    UNIT_IS_INT(tr_amount_add(INT64_MAX, INT64_MAX), max,
                "add: INT64_MAX + INT64_MAX does not wrap");
    UNIT_IS_INT(tr_amount_add(0, INT64_MAX), max,
                "add: a cost of INT64_MAX is held at the bound");
}


static void
test_print(void)
{
    char    out[32];
    size_t  n;

    n = tr_price_print(0, out);
    UNIT_IS_STR(out, "0.000000", "print: 0");
    UNIT_IS_INT(n, 8, "print: returns the length");

    tr_price_print(1234, out);
    UNIT_IS_STR(out, "0.001234", "print: 1234");

    tr_price_print(1, out);
    UNIT_IS_STR(out, "0.000001", "print: 1");

    tr_price_print(1500000, out);
    UNIT_IS_STR(out, "1.500000", "print: 1500000");

    tr_price_print(25000000123LL, out);
    UNIT_IS_STR(out, "25000.000123", "print: 25000000123");

    n = tr_price_print(-1500000, out);
    UNIT_IS_STR(out, "-1.500000", "print: -1500000");
    UNIT_IS_INT(n, 9, "print: the length of a negative amount");

    tr_price_print(-1, out);
    UNIT_IS_STR(out, "-0.000001", "print: -1");

    n = tr_price_print(INT64_MAX, out);
    UNIT_IS_STR(out, "9223372036854.775807", "print: INT64_MAX");
    UNIT_IS_INT(n, strlen(out), "print: INT64_MAX's length");

    n = tr_price_print(INT64_MIN, out);
    UNIT_IS_STR(out, "-9223372036854.775808", "print: INT64_MIN");
    UNIT_IS_INT(n, 21, "print: INT64_MIN's length");
}


/* every part of the invoice, to the micro-dollar */

static void
test_invoice(void)
{
    price_t  p;
    usage_t  u;

    /*
     * OpenAI: $2.50 in, $1.25 cached, $10 out; 5000 input of which 1000
     * cached and 3000 written (at 1.25 x 2.50 = 3.125): 1250 + 9375 +
     * 2500 + 200 out
     */

    tr_price_init(&p);
    tr_usage_none(&u);
    p.input = 2500000;
    p.cached = 1250000;
    p.output = 10000000;
    u.input = 5000;
    u.cached = 1000;
    u.cache_write = 3000;
    u.output = 20;
    UNIT_IS_INT(tr_price_cost(&p, &u), 13325,
                "invoice: OpenAI cache writes at 1.25x input");

    u.service_tier = TR_SERVICE_FLEX;
    UNIT_IS_INT(tr_price_cost(&p, &u), 6663,
                "invoice: flex at 0.5x, rounded up (6662.5)");

    p.flex = 600000;
    UNIT_IS_INT(tr_price_cost(&p, &u), 7995, "invoice: flex=0.6");

    /*
     * Anthropic: $3 in, $0.30 read, $15 out; 3510 input: 500 read, 3000
     * written of which 2000 for an hour (2 x 3 = 6): 150 + 3750 + 12000 +
     * 30 + 1200 out = 17130; 3 web searches at $10 per 1000: 30000; 2
     * fetches free
     */

    tr_price_init(&p);
    tr_usage_none(&u);
    p.input = 3000000;
    p.cached = 300000;
    p.output = 15000000;
    u.input = 3510;
    u.cached = 500;
    u.cache_write = 3000;
    u.cache_write_1h = 2000;
    u.output = 80;
    UNIT_IS_INT(tr_price_cost(&p, &u), 17130,
                "invoice: 5-minute writes at 1.25x, 1-hour at 2x");

    u.web_search = 3;
    u.web_fetch = 2;
    UNIT_IS_INT(tr_price_cost(&p, &u), 47130,
                "invoice: web searches at $10 per 1000, fetches free");

    p.web_fetch = 5000000;
    UNIT_IS_INT(tr_price_cost(&p, &u), 57130,
                "invoice: web_fetch=5 per 1000");

    u.service_tier = TR_SERVICE_PRIORITY;
    UNIT_IS_INT(tr_price_cost(&p, &u), 114260, "invoice: priority at 2x");

    u.service_tier = TR_SERVICE_BATCH;
    UNIT_IS_INT(tr_price_cost(&p, &u), 28565, "invoice: batch at 0.5x");

    p.cache_write = 4000000;
    p.cache_write_1h = 7000000;
    u.service_tier = TR_SERVICE_DEFAULT;
    u.web_search = -1;
    u.web_fetch = -1;
    UNIT_IS_INT(tr_price_cost(&p, &u), 19380,
                "invoice: cache_write=4 and cache_write_1h=7 as set");

    /* more hours than writes: no more than the writes */

    u.cache_write_1h = 9999;
    UNIT_IS_INT(tr_price_cost(&p, &u), 22380,
                "invoice: 1-hour writes are at most the writes");

    /*
     * a long context: over 200000 input the whole request at $6 / $22.50
     * (reads at $0.60)
     */

    tr_price_init(&p);
    tr_usage_none(&u);
    p.input = 3000000;
    p.output = 15000000;
    p.cached = 300000;
    p.above = 200000;
    p.above_input = 6000000;
    p.above_output = 22500000;
    p.above_cached = 600000;
    u.input = 200000;
    u.output = 1000;
    UNIT_IS_INT(tr_price_cost(&p, &u), 615000,
                "invoice: 200000 input is not over 200000");

    u.input = 250000;
    u.cached = 50000;
    UNIT_IS_INT(tr_price_cost(&p, &u), 1252500,
                "invoice: 250000 input: all of it at the long prices");

    p.above_cached = -1;
    p.cached = -1;
    UNIT_IS_INT(tr_price_cost(&p, &u), 1522500,
                "invoice: no cached price: reads at the long input price");

    /* a region's uplift, after the tier's */

    tr_price_init(&p);
    tr_usage_none(&u);
    p.input = 1000000;
    p.output = 2000000;
    p.region = 1100000;
    u.input = 1000;
    u.output = 1000;
    UNIT_IS_INT(tr_price_cost(&p, &u), 3300, "invoice: region=1.1");

    u.service_tier = TR_SERVICE_FLEX;
    UNIT_IS_INT(tr_price_cost(&p, &u), 1650, "invoice: flex, then region");

    /* the one rounding stays up through the multipliers */

    p.input = 500000;
    p.region = -1;
    u.input = 1;
    u.output = 0;
    UNIT_IS_INT(tr_price_cost(&p, &u), 1, "invoice: 0.25 rounds up to 1");

    /* saturation through a multiplier */

    p.input = TR_PRICE_MAX;
    p.output = TR_PRICE_MAX;
    p.priority = TR_PRICE_FACTOR_MAX;
    u.input = INT64_MAX;
    u.output = INT64_MAX;
    u.web_search = INT64_MAX;
    u.service_tier = TR_SERVICE_PRIORITY;
    UNIT_IS_INT(tr_price_cost(&p, &u), INT64_MAX,
                "invoice: everything at its largest saturates");
}


/* LiteLLM's names for the invoice's parts */

static void
test_invoice_catalog(void)
{
    int             n;
    char            err[256];
    models_t        ms;
    const model_t  *m;

    static const char  catalog[] =
        "{\"claude-sonnet-4-5\":{\"input_cost_per_token\":3e-06,"
        "\"output_cost_per_token\":1.5e-05,"
        "\"cache_read_input_token_cost\":3e-07,"
        "\"cache_creation_input_token_cost\":3.75e-06,"
        "\"cache_creation_input_token_cost_above_1hr\":6e-06,"
        "\"input_cost_per_token_above_200k_tokens\":6e-06,"
        "\"output_cost_per_token_above_200k_tokens\":2.25e-05,"
        "\"cache_read_input_token_cost_above_200k_tokens\":6e-07,"
        "\"search_context_cost_per_query\":{"
        "\"search_context_size_low\":0.01,"
        "\"search_context_size_medium\":0.01,"
        "\"search_context_size_high\":0.01},"
        "\"input_cost_per_token_priority\":5.25e-06},"
        "\"gpt-5\":{\"input_cost_per_token\":1.25e-06,"
        "\"output_cost_per_token\":1e-05,"
        "\"input_cost_per_token_flex\":6.25e-07,"
        "\"output_cost_per_token_flex\":5e-06,"
        "\"input_cost_per_token_priority\":2.5e-06,"
        "\"output_cost_per_token_priority\":2e-05,"
        "\"input_cost_per_token_batches\":6.25e-07,"
        "\"search_context_cost_per_query\":{"
        "\"search_context_size_low\":0.025,"
        "\"search_context_size_high\":0.05}},"
        "\"bad-search\":{\"input_cost_per_token\":1e-06,"
        "\"output_cost_per_token\":1e-06,"
        "\"search_context_cost_per_query\":{\"x\":\"a\"}}}";

    memset(&ms, 0, sizeof(models_t));
    ms.stop_at = -1;

    n = tr_price_catalog(catalog, sizeof(catalog) - 1, collect, &ms, err,
                         sizeof(err));
    UNIT_IS_INT(n, 2, "invoice catalog: 2 models, a bad one skipped");

    m = find(&ms, "claude-sonnet-4-5");
    UNIT_OK(m && m->p.cache_write == 3750000 && m->p.cache_write_1h == 6000000
            && m->p.above == 200000 && m->p.above_input == 6000000
            && m->p.above_output == 22500000 && m->p.above_cached == 600000
            && m->p.web_search == 10000000 && m->p.priority == 1750000
            && m->p.flex == -1 && m->p.batch == -1 && m->p.region == -1,
            "invoice catalog: Sonnet's 1-hour writes, long context, web "
            "search and priority (1.75x)");

    m = find(&ms, "gpt-5");
    UNIT_OK(m && m->p.flex == 500000 && m->p.priority == 2000000
            && m->p.batch == 500000 && m->p.web_search == 50000000
            && m->p.above == -1,
            "invoice catalog: GPT-5's flex, priority, batch and its "
            "dearest search");
}


static void
test_catalog(void)
{
    int             n;
    char            err[256];
    models_t        ms;
    const model_t  *m;

    memset(&ms, 0, sizeof(models_t));
    ms.stop_at = -1;

    n = tr_price_catalog(sample, sizeof(sample) - 1,
                         collect, &ms, err, sizeof(err));

    UNIT_IS_INT(n, 6, "catalog: 6 models");
    UNIT_IS_INT(ms.n, 6, "catalog: 6 calls");
    UNIT_IS_STR(err, "6 models, 5 skipped", "catalog: the summary");

    m = find(&ms, "gpt-4o");
    UNIT_OK(is_price(m, 2500000, 10000000, 1250000, -1, -1),
            "catalog: gpt-4o");

    m = find(&ms, "gpt-4o-mini");
    UNIT_OK(is_price(m, 150000, 600000, 75000, -1, -1),
            "catalog: gpt-4o-mini");

    m = find(&ms, "claude-3-7-sonnet-20250219");
    UNIT_OK(is_price(m, 3000000, 15000000, 300000, 3750000, -1),
            "catalog: claude-3-7-sonnet, cache reads and writes");

    m = find(&ms, "gemini/gemini-2.5-flash-preview-04-17");
    UNIT_OK(is_price(m, 150000, 600000, 37500, -1, 3500000),
            "catalog: gemini-2.5-flash, cache and reasoning");

    m = find(&ms, "bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0");
    UNIT_OK(is_price(m, 800000, 4000000, -1, -1, -1),
            "catalog: a name with '/', '.' and ':'; a null cache price");

    m = find(&ms, "free/model");
    UNIT_OK(is_price(m, 0, 0, -1, -1, -1), "catalog: integer prices");

    UNIT_OK(find(&ms, "sample_spec") == NULL, "catalog: no sample_spec");
    UNIT_OK(find(&ms, "text-embedding-3-large") == NULL,
            "catalog: an embedding model without output cost is skipped");
    UNIT_OK(find(&ms, "broken/negative") == NULL,
            "catalog: a negative price is skipped");
    UNIT_OK(find(&ms, "broken/too-dear") == NULL,
            "catalog: a price above the largest is skipped");
    UNIT_OK(find(&ms, "broken/string") == NULL,
            "catalog: a price as a string is skipped");
    UNIT_OK(find(&ms, "a-note") == NULL,
            "catalog: a value that is not an object is skipped");

    /* a catalog price costs as a directive's would */

    m = find(&ms, "gpt-4o");
    UNIT_OK(m && m->p.input == tr_price_parse(L("2.50")),
            "catalog: gpt-4o's input price is price_parse(\"2.50\")");

    /* the callback stops it */

    memset(&ms, 0, sizeof(models_t));
    ms.stop_at = 2;

    n = tr_price_catalog(sample, sizeof(sample) - 1,
                         collect, &ms, err, sizeof(err));

    UNIT_IS_INT(n, -1, "catalog: a callback's -1 stops it");
    UNIT_IS_INT(ms.n, 2, "catalog: after the callback's -1, no more calls");
    UNIT_OK(strstr(err, "stopped") != NULL, "catalog: stopped: %s", err);

    /* an empty catalog is no error */

    memset(&ms, 0, sizeof(models_t));
    ms.stop_at = -1;

    n = tr_price_catalog("{}", 2, collect, &ms, err,
                         sizeof(err));
    UNIT_IS_INT(n, 0, "catalog: {} has no models");

    /* a model without a name is skipped (found by fuzz/fuzz_catalog.c) */

    memset(&ms, 0, sizeof(models_t));
    ms.stop_at = -1;

    n = tr_price_catalog(
            "{\"\":{\"input_cost_per_token\":1e-06,"
            "\"output_cost_per_token\":2e-06}}", 65, collect, &ms, err,
            sizeof(err));
    UNIT_IS_INT(n, 0, "catalog: a model named \"\" is no model");
    UNIT_OK(strstr(err, "1 skipped") != NULL, "catalog: and it is counted "
            "as skipped: %s", err);
}


static void
test_catalog_errors(void)
{
    int         n;
    size_t      i;
    char        err[256];
    models_t    ms;

    static const struct {
        const char  *name;
        const char  *json;
        const char  *want;
    } cases[] = {
        { "not JSON", "model prices", "line 1" },
        { "empty", "", "invalid JSON" },
        { "truncated", "{\n  \"gpt-4o\": {\n    \"input_cost_per_token\": ",
          "line 3" },
        { "a bad line", "{\n  \"a\": {},\n  \"b\": ,\n  \"c\": {}\n}",
          "line 3, column" },
        { "duplicate keys",
          "{\"gpt-4o\": {\"input_cost_per_token\": 1e-06, "
          "\"output_cost_per_token\": 1e-06}, \"gpt-4o\": {}}",
          "duplicate" },
        { "duplicate keys inside an entry",
          "{\"gpt-4o\": {\"input_cost_per_token\": 1e-06, "
          "\"input_cost_per_token\": 2e-06, "
          "\"output_cost_per_token\": 1e-06}}",
          "duplicate" },
        { "top-level array", "[{\"input_cost_per_token\": 1e-06}]",
          "array" },
        { "top-level string", "\"gpt-4o\"", "invalid JSON" },
        { "trailing garbage", "{} {}", "invalid JSON" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&ms, 0, sizeof(models_t));
        ms.stop_at = -1;
        err[0] = '\0';

        n = tr_price_catalog(cases[i].json,
                             strlen(cases[i].json),
                             collect, &ms, err,
                             sizeof(err));

        UNIT_IS_INT(n, -1, "catalog error: %s", cases[i].name);
        UNIT_OK(strstr(err, cases[i].want) != NULL,
                "catalog error: %s: \"%s\" says \"%s\"", cases[i].name, err,
                cases[i].want);
        UNIT_IS_INT(ms.n, 0, "catalog error: %s: no model added",
                    cases[i].name);
    }
}


static void
test_fetch(void)
{
    int          rc;
    char         err[512], *s;
    double       t;
    static char  big[4096], response[8192];

    if (mkdtemp(dir) == NULL) {
        UNIT_OK(0, "mkdtemp: %s", strerror(errno));
        return;
    }

    snprintf(target, sizeof(target), "%s/catalog.json", dir);

    write_file(target, "last good copy");

    /* schemes other than http and https */

    rc = tr_fetch_catalog("file:///etc/passwd", target, 1000,
                          1 << 20, err, sizeof(err));
    UNIT_IS_INT(rc, -1, "fetch: file:// is refused");
    UNIT_OK(strstr(err, "fetching \"file:///etc/passwd\": ") == err,
            "fetch: file://: %s", err);

    rc = tr_fetch_catalog("ftp://127.0.0.1/x", target, 1000,
                          1 << 20, err, sizeof(err));
    UNIT_IS_INT(rc, -1, "fetch: ftp:// is refused");

    rc = tr_fetch_catalog("/etc/passwd", target, 1000,
                          1 << 20, err, sizeof(err));
    UNIT_IS_INT(rc, -1, "fetch: a path is refused");

    /* nothing listens on port 1 */

    t = unit_now();
    rc = tr_fetch_catalog("http://127.0.0.1:1/x", target,
                          5000, 1 << 20, err, sizeof(err));
    t = unit_now() - t;

    UNIT_IS_INT(rc, -1, "fetch: a closed port fails");
    UNIT_LT(t, 2.0, "fetch: a closed port fails fast");
    UNIT_OK(strstr(err, "fetching \"http://127.0.0.1:1/x\": ") == err,
            "fetch: a closed port: %s", err);

    s = read_all(target);
    UNIT_IS_STR(s, "last good copy", "fetch: the target is untouched");
    free(s);
    UNIT_OK(no_temp(target), "fetch: no temporary file is left");

    /* a directory that does not exist */

    snprintf(big, sizeof(big), "%s/no/such/dir/catalog.json", dir);

    rc = tr_fetch_catalog("http://127.0.0.1:1/x", big,
                          5000, 1 << 20, err, sizeof(err));
    UNIT_IS_INT(rc, -1, "fetch: into a missing directory fails");

    /* a one-shot server on the loopback */

    snprintf(response, sizeof(response),
             "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n"
             "Connection: close\r\n\r\nnot found");

    rc = fetch_case("404", response, 0, 5000, 1 << 20, err, sizeof(err));
    UNIT_IS_INT(rc, -1, "fetch: HTTP 404 fails");
    UNIT_OK(strstr(err, "HTTP status 404") != NULL, "fetch: 404: %s", err);

    snprintf(response, sizeof(response),
             "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n"
             "Connection: close\r\n\r\nmodel price");

    rc = fetch_case("not JSON", response, 0, 5000, 1 << 20, err,
                    sizeof(err));
    UNIT_IS_INT(rc, -1, "fetch: a body that is not a catalog fails");
    UNIT_OK(strstr(err, "not a price catalog") != NULL,
            "fetch: not JSON: %s", err);

    snprintf(response, sizeof(response),
             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
             "Connection: close\r\n\r\n{}");

    rc = fetch_case("no models", response, 0, 5000, 1 << 20, err,
                    sizeof(err));
    UNIT_IS_INT(rc, -1, "fetch: a catalog without models fails");

    snprintf(response, sizeof(response),
             "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n");

    rc = fetch_case("empty", response, 0, 5000, 1 << 20, err, sizeof(err));
    UNIT_IS_INT(rc, -1, "fetch: an empty body fails");

    memset(big, ' ', sizeof(big) - 1);
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    big[sizeof(big) - 1] = '\0';

    snprintf(response, sizeof(response),
             "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s", strlen(big), big);

    rc = fetch_case("too large, with a length", response, 0, 5000, 1000,
                    err, sizeof(err));
    UNIT_IS_INT(rc, -1, "fetch: a body larger than max fails (length)");
    UNIT_OK(strstr(err, "larger than 1000 bytes") != NULL,
            "fetch: too large: %s", err);

    snprintf(response, sizeof(response),
             "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n%s", big);

    rc = fetch_case("too large, no length", response, 0, 5000, 1000,
                    err, sizeof(err));
    UNIT_IS_INT(rc, -1, "fetch: a body larger than max fails (no length)");
    UNIT_OK(strstr(err, "larger than 1000 bytes") != NULL,
            "fetch: too large: %s", err);

    snprintf(response, sizeof(response),
             "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n");

    rc = fetch_case("redirect to file://", response, 0, 5000, 1 << 20,
                    err, sizeof(err));
    UNIT_IS_INT(rc, -1, "fetch: a redirect to file:// is refused");
    UNIT_OK(strstr(err, "fetching \"http://127.0.0.1:") == err,
            "fetch: a redirect to file://: %s", err);

    snprintf(response, sizeof(response),
             "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{");

    t = unit_now();
    rc = fetch_case("timeout", response, 1, 300, 1 << 20, err, sizeof(err));
    t = unit_now() - t;

    UNIT_IS_INT(rc, -1, "fetch: a server that stalls times out");
    UNIT_LT(t, 3.0, "fetch: the timeout is kept (%.2f s)", t);
    UNIT_OK(strstr(err, "timed out") != NULL, "fetch: timeout: %s", err);

    /* and a good one replaces the target */

    snprintf(response, sizeof(response),
             "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
             "Content-Type: application/json\r\n"
             "Connection: close\r\n\r\n%s", sizeof(sample) - 1, sample);

    rc = fetch_case("a catalog", response, 0, 5000, 1 << 20, err,
                    sizeof(err));
    UNIT_IS_INT(rc, 0, "fetch: a catalog is fetched");

    if (rc != 0) {
        UNIT_DIAG("%s", err);
    }

    s = read_all(target);
    UNIT_IS_STR(s, sample, "fetch: the target is the catalog");
    free(s);
    UNIT_OK(no_temp(target), "fetch: no temporary file is left");

    snprintf(big, sizeof(big), "rm -rf '%s'", dir);

    if (system(big) != 0) {
        UNIT_DIAG("could not remove %s", dir);
    }
}


static int
collect(void *data, const char *model, size_t len, const price_t *p)
{
    models_t  *ms = data;

    if (ms->n == ms->stop_at) {
        return -1;
    }

    if (ms->n == MODELS_MAX || len >= sizeof(ms->m[0].name)) {
        return -1;
    }

    memcpy(ms->m[ms->n].name, model, len);
    ms->m[ms->n].name[len] = '\0';
    ms->m[ms->n].p = *p;
    ms->n++;

    return 0;
}


static const model_t *
find(const models_t *ms, const char *name)
{
    int  i;

    for (i = 0; i < ms->n; i++) {
        if (strcmp(ms->m[i].name, name) == 0) {
            return &ms->m[i];
        }
    }

    return NULL;
}


static int
is_price(const model_t *m, int64_t input, int64_t output, int64_t cached,
    int64_t cache_write, int64_t reasoning)
{
    if (m == NULL) {
        UNIT_DIAG("model not found");
        return 0;
    }

    if (m->p.input == input && m->p.output == output
        && m->p.cached == cached && m->p.cache_write == cache_write
        && m->p.reasoning == reasoning)
    {
        return 1;
    }

    UNIT_DIAG("%s: got %lld %lld %lld %lld %lld", m->name,
              (long long) m->p.input, (long long) m->p.output,
              (long long) m->p.cached, (long long) m->p.cache_write,
              (long long) m->p.reasoning);
    UNIT_DIAG("expected %lld %lld %lld %lld %lld",
              (long long) input, (long long) output, (long long) cached,
              (long long) cache_write, (long long) reasoning);

    return 0;
}


static int64_t
cost(int64_t in_price, int64_t out_price, int64_t cached_price,
    int64_t write_price, int64_t reasoning_price, int64_t input,
    int64_t output, int64_t cached, int64_t cache_write, int64_t reasoning)
{
    price_t  p;
    usage_t  u;

    tr_price_init(&p);
    tr_usage_none(&u);

    p.input = in_price;
    p.output = out_price;
    p.cached = cached_price;
    p.cache_write = write_price;
    p.reasoning = reasoning_price;

    u.input = input;
    u.output = output;
    u.cached = cached;
    u.cache_write = cache_write;
    u.reasoning = reasoning;

    return tr_price_cost(&p, &u);
}


/*
 * Fetches from a one-shot server answering response (and then stalling if
 * hang) into the target, which holds "last good copy" before; a failure
 * must leave it so, and no temporary file.
 */

static int
fetch_case(const char *name, const char *response, int hang,
    long timeout_ms, size_t max, char *err, size_t errlen)
{
    int    rc, port;
    char   url[64], *s;
    pid_t  pid;

    write_file(target, "last good copy");

    port = serve(response, hang, &pid);

    if (port < 0) {
        snprintf(err, errlen, "no server");
        return -2;
    }

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/catalog.json", port);

    rc = tr_fetch_catalog(url, target, timeout_ms, max, err,
                          errlen);

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    if (rc != 0) {
        s = read_all(target);
        UNIT_IS_STR(s, "last good copy",
                    "fetch: %s: the target is untouched", name);
        free(s);
        UNIT_OK(no_temp(target), "fetch: %s: no temporary file is left",
                name);
    }

    return rc;
}


/* a child answering one connection on an ephemeral loopback port */

static int
serve(const char *response, int hang, pid_t *pid)
{
    int                 s, c, one;
    char                buf[4096];
    size_t              len, sent;
    ssize_t             n;
    socklen_t           slen;
    struct sockaddr_in  sin;

    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s == -1) {
        return -1;
    }

    one = 1;
    (void) setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = 0;

    slen = sizeof(sin);

    if (bind(s, (struct sockaddr *) &sin, sizeof(sin)) == -1
        || listen(s, 4) == -1
        || getsockname(s, (struct sockaddr *) &sin, &slen) == -1)
    {
        close(s);
        return -1;
    }

    fflush(stdout);

    *pid = fork();

    if (*pid == -1) {
        close(s);
        return -1;
    }

    if (*pid == 0) {
        alarm(10);

        c = accept(s, NULL, NULL);
        if (c == -1) {
            _exit(1);
        }

        /* the request's head */

        len = 0;

        while (len < sizeof(buf) - 1) {
            n = read(c, buf + len, sizeof(buf) - 1 - len);
            if (n <= 0) {
                break;
            }

            len += (size_t) n;
            buf[len] = '\0';

            if (strstr(buf, "\r\n\r\n")) {
                break;
            }
        }

        len = strlen(response);

        for (sent = 0; sent < len; sent += (size_t) n) {
            n = write(c, response + sent, len - sent);
            if (n <= 0) {
                _exit(1);
            }
        }

        if (hang) {
            pause();
        }

        close(c);
        _exit(0);
    }

    close(s);

    return ntohs(sin.sin_port);
}


static void
write_file(const char *path, const char *data)
{
    FILE  *f;

    f = fopen(path, "w");
    if (f == NULL) {
        UNIT_DIAG("fopen(\"%s\"): %s", path, strerror(errno));
        return;
    }

    fputs(data, f);
    fclose(f);
}


static char *
read_all(const char *path)
{
    char   *buf;
    long    size;
    FILE   *f;

    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = calloc(1, (size_t) size + 1);

    if (buf && fread(buf, 1, (size_t) size, f) != (size_t) size) {
        buf[0] = '\0';
    }

    fclose(f);

    return buf;
}


/* the fetch's temporary file is "<path>.tmp.<pid>" */

static int
no_temp(const char *path)
{
    char         tmp[512];
    struct stat  st;

    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long) getpid());

    return stat(tmp, &st) == -1 && errno == ENOENT;
}
