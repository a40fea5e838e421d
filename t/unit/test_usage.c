
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the usage reader:
 *
 *   1. realistic responses of the three dialects, JSON and SSE: the
 *      normalised counts, text_bytes, done, and the events (where each
 *      ends, which is usage-only); every result is the same whether the
 *      response is fed whole, split at any single point, or byte by byte;
 *   2. SSE details: CRLF, comments and other fields, joined data lines,
 *      [DONE], non-JSON data, the usage-only chunk's variants;
 *   3. where usage counts: only the root's "usage", or "usage" in the
 *      root's "response" or "message"; nulls, numbers that are not counts,
 *      later values, escaped and long keys, deep nesting;
 *   4. robustness: every prefix of every stream reports no value that
 *      the whole stream did not; random bytes and corrupted streams.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tr_extract.h"
#include "tr_usage.h"
#include "unit.h"


#define CHAT        TR_OPENAI_CHAT
#define RESPONSES   TR_OPENAI_RESPONSES
#define ANTHROPIC   TR_ANTHROPIC

#define MAX_EVENTS  64


typedef tr_usage_parser_t  parser_t;
typedef tr_usage_t         usage_t;
typedef unsigned char      u_char;


/* what a run reports */

typedef struct {
    int          rc;
    usage_t      u;
    unsigned     seen;
    unsigned     done;
    uint64_t     bytes;
    uint64_t     text_bytes;
    unsigned     events;
    unsigned     usage_only;           /* events that were usage-only */
    unsigned     usage_only_at;        /* the last of them, 1-based */
    unsigned     done_at;              /* events before done was set, +1 */
    unsigned     bad_feed;             /* feed() broke its contract */
    size_t       ends[MAX_EVENTS];     /* offsets after each event */
} run_t;


/* a realistic response and what it must report */

typedef struct {
    const char  *name;
    int          dialect;
    int          sse;
    const char  *body;
    int64_t      input, output, cached, cache_write, reasoning;
    uint64_t     text_bytes;
    unsigned     events;
    unsigned     usage_only_at;        /* 0: none */
    unsigned     done_at;
} case_t;


static uint64_t  rng_state = 0x243f6a8885a308d3ULL;


static uint64_t rng(void);
static void feed(parser_t *p, run_t *r, const u_char *data, size_t off,
    size_t len);
static void run(run_t *r, int dialect, int sse, const u_char *data,
    size_t len, size_t step, size_t split);
static int same(const run_t *a, const run_t *b, int exact_ends);
static void run_str(run_t *r, int dialect, int sse, const char *s);
static char *crlf(const char *s);
static int in_set(int64_t v, const int64_t *set, unsigned n);

static void test_case(const case_t *c);
static void test_cases(void);
static void test_sse(void);
static void test_usage_only(void);
static void test_placement(void);
static void test_numbers(void);
static void test_keys(void);
static void test_keys_in_place(void);
static void test_text(void);
static void test_json_mode(void);
static void test_model(void);
static void test_id(void);
static void test_invoice(void);
static void feed_pieces(parser_t *p, int dialect, int sse, const char *body,
    size_t piece);
static void test_prefixes(const case_t *c);
static void test_random(void);
static void test_corrupt(const case_t *c);


/* -- the realistic responses ---------------------------------------------- */


static const char  chat_json[] =
    "{\n"
    "  \"id\": \"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\n"
    "  \"object\": \"chat.completion\",\n"
    "  \"created\": 1741569952,\n"
    "  \"model\": \"gpt-4o-2024-08-06\",\n"
    "  \"choices\": [\n"
    "    {\n"
    "      \"index\": 0,\n"
    "      \"message\": {\n"
    "        \"role\": \"assistant\",\n"
    "        \"content\": \"The answer is 42.\",\n"
    "        \"refusal\": null,\n"
    "        \"annotations\": []\n"
    "      },\n"
    "      \"logprobs\": null,\n"
    "      \"finish_reason\": \"stop\"\n"
    "    }\n"
    "  ],\n"
    "  \"usage\": {\n"
    "    \"prompt_tokens\": 1200,\n"
    "    \"completion_tokens\": 300,\n"
    "    \"total_tokens\": 1500,\n"
    "    \"prompt_tokens_details\": {\n"
    "      \"cached_tokens\": 1024,\n"
    "      \"audio_tokens\": 0\n"
    "    },\n"
    "    \"completion_tokens_details\": {\n"
    "      \"reasoning_tokens\": 100,\n"
    "      \"audio_tokens\": 0,\n"
    "      \"accepted_prediction_tokens\": 0,\n"
    "      \"rejected_prediction_tokens\": 0\n"
    "    }\n"
    "  },\n"
    "  \"service_tier\": \"default\"\n"
    "}\n";

#define CHUNK  "{\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\"," \
               "\"created\":1718000000,\"model\":\"gpt-4o-mini\","           \
               "\"system_fingerprint\":\"fp_06737a9306\","

static const char  chat_sse[] =
    "data: " CHUNK "\"choices\":[{\"index\":0,\"delta\":{\"role\":"
    "\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: " CHUNK "\"choices\":[{\"index\":0,\"delta\":{\"content\":"
    "\"Hello\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: " CHUNK "\"choices\":[{\"index\":0,\"delta\":{\"content\":"
    "\" there, \\\"friend\\\"\"},\"logprobs\":null,\"finish_reason\":null}],"
    "\"usage\":null}\n\n"
    "data: " CHUNK "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
    "data: " CHUNK "\"choices\":[],\"usage\":{\"prompt_tokens\":1200,"
    "\"completion_tokens\":300,\"total_tokens\":1500,"
    "\"prompt_tokens_details\":{\"cached_tokens\":1024,\"audio_tokens\":0},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":100,"
    "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
    "\"rejected_prediction_tokens\":0}}}\n\n"
    "data: [DONE]\n\n";

static const char  responses_json[] =
    "{\"id\":\"resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41\","
    "\"object\":\"response\",\"created_at\":1741476777,\"status\":"
    "\"completed\",\"error\":null,\"model\":\"o4-mini-2025-04-16\","
    "\"output\":[{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]},"
    "{\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"completed\","
    "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
    "\"text\":\"Done.\",\"annotations\":[]}]}],\"parallel_tool_calls\":true,"
    "\"reasoning\":{\"effort\":\"medium\",\"summary\":null},"
    "\"usage\":{\"input_tokens\":900,\"input_tokens_details\":"
    "{\"cached_tokens\":0},\"output_tokens\":450,\"output_tokens_details\":"
    "{\"reasoning_tokens\":384},\"total_tokens\":1350},\"user\":null,"
    "\"metadata\":{}}";

static const char  responses_sse[] =
    "event: response.created\n"
    "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
    "{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1741290958,"
    "\"status\":\"in_progress\",\"model\":\"o4-mini\",\"output\":[],"
    "\"usage\":null,\"metadata\":{}}}\n\n"
    "event: response.in_progress\n"
    "data: {\"type\":\"response.in_progress\",\"sequence_number\":1,"
    "\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\","
    "\"output\":[],\"usage\":null}}\n\n"
    "event: response.output_item.added\n"
    "data: {\"type\":\"response.output_item.added\",\"sequence_number\":2,"
    "\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\","
    "\"status\":\"in_progress\",\"content\":[],\"role\":\"assistant\"}}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":3,"
    "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"
    "\"delta\":\"Hi\"}\n\n"
    "event: response.output_text.delta\n"
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,"
    "\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,"
    "\"delta\":\" there\"}\n\n"
    "event: response.completed\n"
    "data: {\"type\":\"response.completed\",\"sequence_number\":5,"
    "\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":"
    "\"completed\",\"model\":\"o4-mini\",\"output\":[{\"id\":\"msg_1\","
    "\"type\":\"message\",\"status\":\"completed\",\"content\":[{\"type\":"
    "\"output_text\",\"annotations\":[],\"text\":\"Hi there\"}],\"role\":"
    "\"assistant\"}],\"usage\":{\"input_tokens\":500,"
    "\"input_tokens_details\":{\"cached_tokens\":256},\"output_tokens\":120,"
    "\"output_tokens_details\":{\"reasoning_tokens\":64},"
    "\"total_tokens\":620}}}\n\n";

static const char  anthropic_json[] =
    "{\"id\":\"msg_013Zva2CMHLNnXjNJJKqJ2EF\",\"type\":\"message\","
    "\"role\":\"assistant\",\"model\":\"claude-opus-4-20250514\","
    "\"content\":[{\"type\":\"thinking\",\"thinking\":\"Let me think.\","
    "\"signature\":\"EqQBCgIYAhIM\"},{\"type\":\"text\",\"text\":"
    "\"Answer.\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":200,"
    "\"cache_read_input_tokens\":0,\"output_tokens\":80,"
    "\"service_tier\":\"standard\"}}";

static const char  anthropic_sse[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1nZdL29x\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":"
    "\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
    "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":100,"
    "\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
    "{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\", world\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":57}}"
    "\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";


static const case_t  cases[] = {
    { "chat json", CHAT, 0, chat_json,
      1200, 300, 1024, -1, 100, 17, 0, 0, 0 },
    { "chat sse", CHAT, 1, chat_sse,
      1200, 300, 1024, -1, 100, 23, 6, 5, 6 },
    { "responses json", RESPONSES, 0, responses_json,
      900, 450, 0, -1, 384, 5, 0, 0, 0 },
    { "responses sse", RESPONSES, 1, responses_sse,
      500, 120, 256, -1, 64, 16, 6, 0, 6 },
    { "anthropic json", ANTHROPIC, 0, anthropic_json,
      210, 80, 0, 200, -1, 20, 0, 0, 0 },
    { "anthropic sse", ANTHROPIC, 1, anthropic_sse,
      125, 57, 100, 0, -1, 12, 8, 0, 8 },
};


int
main(void)
{
    unsigned  i;

    test_cases();
    test_sse();
    test_usage_only();
    test_placement();
    test_numbers();
    test_keys();
    test_keys_in_place();
    test_text();
    test_json_mode();
    test_model();
    test_id();
    test_invoice();

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        test_prefixes(&cases[i]);
        test_corrupt(&cases[i]);
    }

    test_random();

    return unit_done();
}


/* the model that answered, as the answer names it, split anywhere */

static void
test_model(void)
{
    size_t    i, j, len;
    parser_t  p;

    static const struct {
        int          dialect;
        int          sse;
        const char  *body;
        const char  *model;
    } cases[] = {
        { CHAT, 0, "{\"id\":\"x\",\"model\":\"gpt-4.1-nano-2025\","
          "\"choices\":[{\"message\":{\"content\":\"hi\",\"model\":"
          "\"no\"}}],\"usage\":{\"prompt_tokens\":1}}",
          "gpt-4.1-nano-2025" },
        { CHAT, 0, "{\"object\":\"list\",\"model\":"
          "\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":2,"
          "\"total_tokens\":2}}", "text-embedding-3-small" },
        { ANTHROPIC, 1, "event: message_start\ndata: {\"type\":"
          "\"message_start\",\"message\":{\"id\":\"m\",\"model\":"
          "\"claude-haiku-4-5\",\"usage\":{\"input_tokens\":3}}}\n\n",
          "claude-haiku-4-5" },
        { CHAT, 0, "{\"usage\":{\"prompt_tokens\":1}}", "" },
        { CHAT, 0, "{\"model\":\"m\\u0031\"}", "m1" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = strlen(cases[i].body);

        for (j = 1; j <= len; j++) {
            feed_pieces(&p, cases[i].dialect, cases[i].sse, cases[i].body, j);

            if (p.model_len != strlen(cases[i].model)
                || memcmp(p.model, cases[i].model, p.model_len) != 0)
            {
                break;
            }
        }

        UNIT_OK(j > len, "model: \"%s\" in pieces of every size (%.*s)",
                cases[i].model, (int) p.model_len, p.model);
    }
}


/* the answer's own id (a response's, a message's), in pieces of any size */

static void
test_id(void)
{
    size_t    i, j, len;
    parser_t  p;

    static const struct {
        int          dialect;
        int          sse;
        const char  *body;
        const char  *id;
    } cases[] = {
        { RESPONSES, 0, responses_json,
          "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41" },
        { RESPONSES, 1, responses_sse, "resp_1" },
        { ANTHROPIC, 0, anthropic_json, "msg_013Zva2CMHLNnXjNJJKqJ2EF" },
        { ANTHROPIC, 1, anthropic_sse, "msg_1nZdL29x" },
        { RESPONSES, 0, "{\"output\":[{\"id\":\"msg_1\"}],\"usage\":"
          "{\"input_tokens\":1}}", "" },
        { RESPONSES, 0, "{\"error\":{\"id\":\"e\",\"message\":\"x\"}}", "" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = strlen(cases[i].body);

        for (j = 1; j <= len; j++) {
            feed_pieces(&p, cases[i].dialect, cases[i].sse, cases[i].body, j);

            if (p.id_len != strlen(cases[i].id)
                || memcmp(p.id, cases[i].id, p.id_len) != 0)
            {
                break;
            }
        }

        UNIT_OK(j > len, "id: \"%s\" in pieces of every size (%.*s)",
                cases[i].id, (int) p.id_len, p.id);
    }
}


/*
 * The invoice's parts: cache writes (OpenAI's, in its input; Anthropic's
 * 5-minute and 1-hour), server tool calls, the service tier; and
 * Anthropic's message_delta, whose cumulative counts win over
 * message_start's.  In JSON and in every stream format, in pieces of any
 * size.
 */

static void
test_invoice(void)
{
    size_t      i, j, n, k, len, ends, bad;
    parser_t    p;
    usage_t     u;
    int         rc;

    static const struct {
        int          dialect;
        int          sse;
        const char  *body;
        int64_t      want[8];   /* input, output, cached, cache_write,
                                   cache_write_1h, web_search, web_fetch,
                                   service tier */
        const char  *name;
        unsigned     usage_objects;
    } cases[] = {
        { CHAT, 0, "{\"service_tier\":\"flex\",\"usage\":{"
          "\"prompt_tokens\":5000,\"completion_tokens\":20,"
          "\"prompt_tokens_details\":{\"cached_tokens\":1000,"
          "\"cache_write_tokens\":3000}}}",
          { 5000, 20, 1000, 3000, -1, -1, -1, TR_SERVICE_FLEX },
          "chat JSON: cache writes in the input, flex", 1 },
        { CHAT, 1, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],"
          "\"service_tier\":\"priority\"}\n\n"
          "data: {\"choices\":[],\"service_tier\":\"priority\","
          "\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":7,"
          "\"prompt_tokens_details\":{\"cache_write_tokens\":64}}}\n\n"
          "data: [DONE]\n\n",
          { 100, 7, -1, 64, -1, -1, -1, TR_SERVICE_PRIORITY },
          "chat stream: priority", 1 },
        { RESPONSES, 1, "event: response.completed\ndata: {\"type\":"
          "\"response.completed\",\"response\":{\"service_tier\":"
          "\"flex\",\"usage\":{\"input_tokens\":900,"
          "\"input_tokens_details\":{\"cached_tokens\":100,"
          "\"cache_write_tokens\":200},\"output_tokens\":50}}}\n\n",
          { 900, 50, 100, 200, -1, -1, -1, TR_SERVICE_FLEX },
          "responses stream: in the wrapper", 1 },
        { ANTHROPIC, 0, "{\"usage\":{\"input_tokens\":10,"
          "\"cache_creation_input_tokens\":3000,"
          "\"cache_read_input_tokens\":500,\"cache_creation\":{"
          "\"ephemeral_5m_input_tokens\":1000,"
          "\"ephemeral_1h_input_tokens\":2000},\"output_tokens\":80,"
          "\"server_tool_use\":{\"web_search_requests\":3,"
          "\"web_fetch_requests\":2},\"service_tier\":\"priority\"}}",
          { 3510, 80, 500, 3000, 2000, 3, 2, TR_SERVICE_PRIORITY },
          "Anthropic JSON: 1-hour writes, server tools, priority", 1 },
        { ANTHROPIC, 0, "{\"usage\":{\"input_tokens\":10,"
          "\"cache_creation\":{\"ephemeral_5m_input_tokens\":100,"
          "\"ephemeral_1h_input_tokens\":20},\"output_tokens\":1,"
          "\"service_tier\":\"standard\"}}",
          { 130, 1, -1, 120, 20, -1, -1, TR_SERVICE_DEFAULT },
          "Anthropic JSON: writes as their parts only", 1 },
        { ANTHROPIC, 1, "event: message_start\ndata: {\"type\":"
          "\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,"
          "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
          "\"output_tokens\":1,\"service_tier\":\"batch\"}}}\n\n"
          "event: message_delta\ndata: {\"type\":\"message_delta\","
          "\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{"
          "\"input_tokens\":30,\"cache_creation_input_tokens\":400,"
          "\"cache_read_input_tokens\":50,\"output_tokens\":90,"
          "\"server_tool_use\":{\"web_search_requests\":1}}}\n\n"
          "event: message_delta\ndata: {\"type\":\"message_delta\","
          "\"delta\":{},\"usage\":{\"output_tokens\":120,"
          "\"server_tool_use\":{\"web_search_requests\":2}}}\n\n"
          "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
          { 480, 120, 50, 400, -1, 2, -1, TR_SERVICE_BATCH },
          "Anthropic stream: the last value of each field wins", 3 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        len = strlen(cases[i].body);

        for (j = 1; j <= len; j++) {
            feed_pieces(&p, cases[i].dialect, cases[i].sse, cases[i].body, j);

            rc = tr_usage_result(&p, &u);

            if (rc != 0 || u.input != cases[i].want[0]
                || u.output != cases[i].want[1]
                || u.cached != cases[i].want[2]
                || u.cache_write != cases[i].want[3]
                || u.cache_write_1h != cases[i].want[4]
                || u.web_search != cases[i].want[5]
                || u.web_fetch != cases[i].want[6]
                || u.service_tier != cases[i].want[7])
            {
                break;
            }
        }

        UNIT_OK(j > len, "invoice: %s, in pieces of every size", cases[i].name);

        /* where each usage object ends, for a cost report: a "}" */

        for (j = 1; j <= len; j += (j < 16) ? 1 : 37) {
            tr_usage_init(&p, cases[i].dialect, cases[i].sse);
            ends = 0;
            bad = 0;

            for (n = 0; n < len; n += k) {
                p.usage_closed = 0;
                k = tr_usage_feed(&p, (const u_char *) cases[i].body + n,
                                  (len - n < j) ? len - n : j);

                if (p.usage_closed) {
                    ends++;
                    bad += (p.usage_end >= len
                            || cases[i].body[p.usage_end] != '}');
                }
            }

            if (bad || ends != cases[i].usage_objects) {
                break;
            }
        }

        UNIT_OK(j > len, "invoice: %s: its %u usage objects end where the "
                "reader says", cases[i].name, cases[i].usage_objects);

        if (j <= len) {
            UNIT_DIAG("pieces of %zu: rc %d in %lld out %lld cached %lld "
                      "write %lld 1h %lld search %lld fetch %lld tier %d",
                      j, rc, (long long) u.input, (long long) u.output,
                      (long long) u.cached, (long long) u.cache_write,
                      (long long) u.cache_write_1h,
                      (long long) u.web_search, (long long) u.web_fetch,
                      u.service_tier);
        }
    }
}


/* -- small tools ---------------------------------------------------------- */


/* a body fed in pieces of at most piece bytes, each fed again from where
 * the reader stopped (the end of an event) */

static void
feed_pieces(parser_t *p, int dialect, int sse, const char *body,
    size_t piece)
{
    size_t  n, k, len;

    len = strlen(body);
    tr_usage_init(p, dialect, sse);

    for (n = 0; n < len; n += k) {
        k = tr_usage_feed(p, (const u_char *) body + n,
                          (len - n < piece) ? len - n : piece);
    }
}


static uint64_t
rng(void)
{
    uint64_t  z;

    /* splitmix64 */

    z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


/* feeds one piece as the module does: again and again until all is read */

static void
feed(parser_t *p, run_t *r, const u_char *data, size_t off, size_t len)
{
    size_t  n;

    while (len) {
        n = tr_usage_feed(p, data + off, len);

        if (n == 0 || n > len || (n < len && !p->event_end)
            || (!p->sse && n != len) || (p->usage_only && !p->event_end))
        {
            r->bad_feed++;
            return;
        }

        off += n;
        len -= n;

        if (p->event_end) {
            if (r->events < MAX_EVENTS) {
                r->ends[r->events] = off;
            }

            r->events++;

            if (p->usage_only) {
                r->usage_only++;
                r->usage_only_at = r->events;
            }
        }

        /* the event (1-based) that was being read when done was set */

        if (p->done && r->done_at == 0) {
            r->done_at = p->event_end ? r->events : r->events + 1;
        }
    }
}


/* step 0: two pieces split at split; else pieces of step bytes */

static void
run(run_t *r, int dialect, int sse, const u_char *data, size_t len,
    size_t step, size_t split)
{
    size_t    off, n;
    parser_t  p;

    memset(r, 0, sizeof(run_t));

    tr_usage_init(&p, dialect, sse);

    if (step == 0) {
        feed(&p, r, data, 0, split);
        feed(&p, r, data, split, len - split);

    } else {
        for (off = 0; off < len; off += n) {
            n = (len - off < step) ? len - off : step;
            feed(&p, r, data, off, n);
        }
    }

    r->rc = tr_usage_result(&p, &r->u);
    r->seen = p.seen;
    r->done = p.done;
    r->bytes = p.bytes;
    r->text_bytes = p.text_bytes;

    if (r->rc != 0) {
        memset(&r->u, 0xff, sizeof(usage_t));    /* -1 everywhere */
    }
}


static void
run_str(run_t *r, int dialect, int sse, const char *s)
{
    run(r, dialect, sse, (const u_char *) s, strlen(s), 0, 0);
}


static int
same(const run_t *a, const run_t *b, int exact_ends)
{
    unsigned  i;

    if (a->rc != b->rc || a->seen != b->seen || a->done != b->done
        || a->bytes != b->bytes || a->text_bytes != b->text_bytes
        || a->events != b->events || a->usage_only != b->usage_only
        || a->usage_only_at != b->usage_only_at || a->done_at != b->done_at
        || a->bad_feed || b->bad_feed
        || memcmp(&a->u, &b->u, sizeof(usage_t)) != 0)
    {
        return 0;
    }

    for (i = 0; exact_ends && i < a->events && i < MAX_EVENTS; i++) {
        if (a->ends[i] != b->ends[i]) {
            return 0;
        }
    }

    return 1;
}


/* LF line ends to CRLF (malloc'ed) */

static char *
crlf(const char *s)
{
    char  *out, *o;

    out = malloc(strlen(s) * 2 + 1);
    if (out == NULL) {
        abort();
    }

    for (o = out; *s; s++) {
        if (*s == '\n') {
            *o++ = '\r';
        }

        *o++ = *s;
    }

    *o = '\0';

    return out;
}


static int
in_set(int64_t v, const int64_t *set, unsigned n)
{
    unsigned  i;

    for (i = 0; i < n; i++) {
        if (set[i] == v) {
            return 1;
        }
    }

    return 0;
}


/* -- 1. realistic responses ----------------------------------------------- */


static void
test_case(const case_t *c)
{
    char          *alt;
    size_t         len, i, k;
    run_t          whole, r;
    unsigned       bad, events;
    const u_char  *body;

    body = (const u_char *) c->body;
    len = strlen(c->body);

    run(&whole, c->dialect, c->sse, body, len, 0, len);

    UNIT_IS_INT(whole.rc, 0, "%s: usage read", c->name);
    UNIT_IS_INT(whole.u.input, c->input, "%s: input", c->name);
    UNIT_IS_INT(whole.u.output, c->output, "%s: output", c->name);
    UNIT_IS_INT(whole.u.cached, c->cached, "%s: cached", c->name);
    UNIT_IS_INT(whole.u.cache_write, c->cache_write, "%s: cache_write",
                c->name);
    UNIT_IS_INT(whole.u.reasoning, c->reasoning, "%s: reasoning", c->name);
    UNIT_IS_INT(whole.text_bytes, c->text_bytes, "%s: text_bytes", c->name);
    UNIT_IS_INT(whole.bytes, len, "%s: bytes", c->name);
    UNIT_IS_INT(whole.done, 1, "%s: done", c->name);
    UNIT_IS_INT(whole.bad_feed, 0, "%s: feed() keeps its contract", c->name);
    UNIT_IS_INT(whole.events, c->events, "%s: events", c->name);
    UNIT_IS_INT(whole.usage_only, c->usage_only_at ? 1 : 0,
                "%s: usage-only events", c->name);
    UNIT_IS_INT(whole.usage_only_at, c->usage_only_at,
                "%s: the usage-only event", c->name);
    UNIT_IS_INT(whole.done_at, c->sse ? c->done_at : 1,
                "%s: done on the right event", c->name);

    /* every event ends right after a blank line */

    if (c->sse) {
        bad = 0;
        events = 0;

        for (i = 1; i < len; i++) {
            if (body[i] == '\n' && body[i - 1] == '\n') {
                if (events >= whole.events || whole.ends[events] != i + 1) {
                    bad++;
                }

                events++;
            }
        }

        UNIT_OK(bad == 0 && events == whole.events,
                "%s: each event ends right after its blank line", c->name);
    }

    /* any single split, and byte by byte, and odd pieces */

    bad = 0;

    for (i = 0; i <= len; i++) {
        run(&r, c->dialect, c->sse, body, len, 0, i);

        if (!same(&whole, &r, 1)) {
            if (bad++ == 0) {
                UNIT_DIAG("split at %zu differs", i);
            }
        }
    }

    UNIT_IS_INT(bad, 0, "%s: the same at each of %zu split points",
                c->name, len + 1);

    for (k = 1; k <= 7; k += 2) {
        run(&r, c->dialect, c->sse, body, len, k, 0);
        UNIT_OK(same(&whole, &r, 1), "%s: the same in pieces of %zu byte%s",
                c->name, k, k == 1 ? "" : "s");
    }

    /* CRLF line ends: the same, the events end after each "\r\n\r\n" */

    alt = crlf(c->body);
    len = strlen(alt);
    body = (const u_char *) alt;

    run(&r, c->dialect, c->sse, body, len, 0, len);

    whole.bytes = len;
    UNIT_OK(same(&whole, &r, 0), "%s: the same with CRLF line ends",
            c->name);

    if (c->sse) {
        bad = 0;
        events = 0;

        for (i = 3; i < len; i++) {
            if (memcmp(body + i - 3, "\r\n\r\n", 4) == 0) {
                if (events >= r.events || r.ends[events] != i + 1) {
                    bad++;
                }

                events++;
            }
        }

        UNIT_OK(bad == 0 && events == r.events,
                "%s: CRLF: each event ends after its \\r\\n\\r\\n", c->name);
    }

    bad = 0;

    for (i = 0; i <= len; i++) {
        run(&r, c->dialect, c->sse, body, len, 0, i);

        if (!same(&whole, &r, 0)) {
            if (bad++ == 0) {
                UNIT_DIAG("CRLF split at %zu differs", i);
            }
        }
    }

    run(&r, c->dialect, c->sse, body, len, 1, 0);

    UNIT_OK(bad == 0 && same(&whole, &r, 0),
            "%s: CRLF: the same at every split and byte by byte", c->name);

    free(alt);
}


static void
test_cases(void)
{
    unsigned  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        test_case(&cases[i]);
    }
}


/* -- 2. SSE details ------------------------------------------------------- */


static void
test_sse(void)
{
    run_t        r;
    size_t       n;
    parser_t     p;
    const char  *two;

    two = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n"
          "data: [DONE]\n\n";

    /* comments, id, retry, event and unknown fields; no space after ':' */

    run_str(&r, CHAT, 1,
            ": keep-alive\n"
            "id: 7\n"
            "retry: 3000\n"
            "event: chunk\n"
            "database: {\"usage\":{\"prompt_tokens\":99}}\n"
            "dat: {\"usage\":{\"prompt_tokens\":98}}\n"
            ":data: {\"usage\":{\"prompt_tokens\":97}}\n"
            "data:{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n"
            "\n");
    UNIT_OK(r.rc == 0 && r.u.input == 3 && r.u.output == 4 && r.events == 1,
            "sse: only data fields are read, with or without the space");

    /* data lines joined with "\n", an empty "data" line among them */

    run_str(&r, CHAT, 1,
            "data: {\"choices\":[],\n"
            "data\n"
            "data:  \"usage\":{\"prompt_tokens\":3,\n"
            "data: \"completion_tokens\":4}}\n\n");
    UNIT_OK(r.rc == 0 && r.u.input == 3 && r.u.output == 4
            && r.usage_only == 1, "sse: data lines are joined");

    /* a number is not joined across lines */

    run_str(&r, CHAT, 1,
            "data: {\"usage\":{\"prompt_tokens\":1\ndata: 2}}\n\n");
    UNIT_OK(r.u.input == 1, "sse: joined with a line feed, not glued");

    /* each event its own document: a truncated one does not run on */

    run_str(&r, CHAT, 1,
            "data: {\"usage\":{\"prompt_tokens\":\n\n"
            "data: 5}}\n\n"
            "data: {\"usage\":{\"completion_tokens\":6}}\n\n");
    UNIT_OK(r.rc == 0 && r.u.input == -1 && r.u.output == 6
            && r.events == 3, "sse: each event is a document of its own");

    /* [DONE] and non-JSON data */

    run_str(&r, CHAT, 1, "data: [DONE]\n\n");
    UNIT_OK(r.done && r.rc == -1 && r.events == 1, "sse: [DONE] is done");

    run_str(&r, CHAT, 1, "data: [DONE]x\n\ndata: [DON\n\ndata: x[DONE]\n\n"
            "data\ndata: [DONE]\n\n");
    UNIT_OK(!r.done && r.events == 4, "sse: only [DONE] exactly is done");

    run_str(&r, CHAT, 1,
            "data: hello world\n\n"
            "data: {\"usage\": {\"prompt_tokens\": 8} garbage\n\n"
            "data: {\"usage\":{\"completion_tokens\":9}}\n\n"
            "data: [DONE]\n\n");
    UNIT_OK(r.rc == 0 && r.u.input == 8 && r.u.output == 9 && r.done
            && r.events == 4,
            "sse: non-JSON data is tolerated, what was read stays");

    /* done: only the terminal types, only at the root */

    run_str(&r, RESPONSES, 1,
            "data: {\"x\":{\"type\":\"response.completed\"}}\n\n"
            "data: {\"type\":\"response.output_text.done\"}\n\n"
            "data: {\"item\":{\"type\":\"message_stop\"}}\n\n");
    UNIT_OK(!r.done, "sse: no terminal type at the root, not done");

    run_str(&r, RESPONSES, 1,
            "data: {\"type\":\"response.incomplete\",\"response\":{}}\n\n");
    UNIT_OK(r.done, "sse: response.incomplete is done");

    run_str(&r, RESPONSES, 1,
            "event: response.failed\n"
            "data: {\"type\":\"response.failed\",\"response\":{\"usage\":"
            "{\"input_tokens\":11,\"output_tokens\":0}}}\n\n");
    UNIT_OK(r.done && r.u.input == 11 && r.u.output == 0,
            "sse: response.failed is done, its usage read");

    /* blank lines, CR alone, a stream that does not end its event */

    run_str(&r, ANTHROPIC, 1,
            "\n\n: ping\n\n"
            "data: {\"type\":\"message_delta\",\"usage\":"
            "{\"output_tokens\":5}}\r\r"
            "data: {\"type\":\"message_stop\"}");
    UNIT_OK(r.events == 4 && r.u.output == 5 && r.done,
            "sse: blank lines end events; CR alone ends a line");

    /* feed() returns through the blank line; the flags clear next call */

    tr_usage_init(&p, CHAT, 1);

    n = tr_usage_feed(&p, (const u_char *) two,
                      strlen(two));
    UNIT_OK(n == strlen(two) - 14 && p.event_end && p.usage_only && !p.done,
            "sse: feed() stops after the event's blank line");

    n = tr_usage_feed(&p, (const u_char *) "", 0);
    UNIT_OK(n == 0 && !p.event_end && !p.usage_only,
            "sse: event_end and usage_only clear on the next call");

    n = tr_usage_feed(&p, (const u_char *) "data: [DO", 9);
    UNIT_OK(n == 9 && !p.event_end && !p.done && p.bytes == strlen(two) - 5,
            "sse: no event end: all of it read");
}


static void
test_usage_only(void)
{
    unsigned     i;
    run_t        r;
    static const struct {
        const char  *data;
        unsigned     usage_only;
    } t[] = {
        { "{\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":1}}", 1 },
        { "{\"usage\":{\"prompt_tokens\":1},\"choices\":[ \t ]}", 1 },
        { "{\"choices\":[],\"usage\":{}}", 1 },
        { "{\"choices\":[{\"index\":0}],\"usage\":{\"prompt_tokens\":1}}", 0 },
        { "{\"choices\":[],\"usage\":null}", 0 },
        { "{\"choices\":[]}", 0 },
        { "{\"usage\":{\"prompt_tokens\":1}}", 0 },
        { "{\"choices\":[[]],\"usage\":{\"prompt_tokens\":1}}", 0 },
        { "{\"choices\":{},\"usage\":{\"prompt_tokens\":1}}", 0 },
        { "{\"x\":{\"choices\":[],\"usage\":{}},\"usage\":{}}", 0 },
        { "{\"choices\":[],\"x\":{\"usage\":{}}}", 0 },
        { "{\"choices\":[],\"message\":{\"usage\":{}}}", 0 },
        { "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}", 0 },
        { "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}} x", 1 },
        { "[{\"choices\":[],\"usage\":{}}]", 0 },
    };
    char         buf[256];

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(buf, sizeof(buf), "data: %s\n\ndata: [DONE]\n\n", t[i].data);
        run_str(&r, CHAT, 1, buf);

        UNIT_OK(r.events == 2 && r.usage_only == t[i].usage_only
                && (!t[i].usage_only || r.usage_only_at == 1),
                "usage-only %s: %s", t[i].usage_only ? "yes" : "no",
                t[i].data);
    }
}


/* -- 3. where usage counts ------------------------------------------------ */


static void
test_placement(void)
{
    unsigned     i;
    run_t        r;
    static const struct {
        const char  *body;
        int64_t      input;         /* -1: no usage read */
    } t[] = {
        { "{\"usage\":{\"input_tokens\":5}}", 5 },
        { "{\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":5}}}", 5 },
        { "{\"message\":{\"usage\":{\"input_tokens\":5}}}", 5 },
        { "{\"metadata\":{\"usage\":{\"input_tokens\":5}}}", -1 },
        { "{\"response\":{\"x\":{\"usage\":{\"input_tokens\":5}}}}", -1 },
        { "{\"response\":{\"response\":{\"usage\":{\"input_tokens\":5}}}}",
          -1 },
        { "{\"choices\":[{\"usage\":{\"input_tokens\":5}}]}", -1 },
        { "{\"response\":[{\"usage\":{\"input_tokens\":5}}]}", -1 },
        { "{\"usage\":[{\"input_tokens\":5}]}", -1 },
        { "[{\"usage\":{\"input_tokens\":5}}]", -1 },
        { "{\"usage\":{\"x\":{\"input_tokens\":5}}}", -1 },
        { "{\"usage\":{\"input_tokens_details\":{\"input_tokens\":5}}}", -1 },
        { "{\"usage\":{\"cached_tokens\":5}}", -1 },
        { "{\"usage\":{\"output_tokens_details\":{\"cached_tokens\":5}}}",
          -1 },
        { "{\"x\":\"\\\"usage\\\":{\\\"input_tokens\\\":5}\"}", -1 },
        { "{\"usage\":null}", -1 },
        { "{\"usage\":{\"input_tokens\":null,\"output_tokens\":\"7\"}}", -1 },
        { "{\"usage\":{\"input_tokens\":true}}", -1 },
        { "{\"usage\":{\"total_tokens\":5}}", -1 },
        { "{\"usage\":{}}", -1 },
        { "{\"a\":{\"usage\":{\"input_tokens\":9}},\"usage\":"
          "{\"input_tokens\":5},\"b\":[{\"usage\":{\"input_tokens\":9}}]}", 5 },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        run_str(&r, RESPONSES, 0, t[i].body);

        UNIT_OK(r.done && r.rc == (t[i].input < 0 ? -1 : 0)
                && r.seen == (t[i].input >= 0)
                && r.u.input == t[i].input,
                "placement: %s", t[i].body);
    }

    /* details objects count only in a usage object */

    run_str(&r, CHAT, 0,
            "{\"prompt_tokens_details\":{\"cached_tokens\":5},\"x\":"
            "{\"completion_tokens_details\":{\"reasoning_tokens\":5}},"
            "\"usage\":{\"prompt_tokens\":1,\"x\":{\"prompt_tokens_details\":"
            "{\"cached_tokens\":5}}}}");
    UNIT_OK(r.u.input == 1 && r.u.cached == -1 && r.u.reasoning == -1,
            "placement: details objects outside usage do not count");

    /* later values win, field by field; null does not erase */

    run_str(&r, CHAT, 0,
            "{\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6,"
            "\"prompt_tokens\":9},\"usage\":null,\"usage\":"
            "{\"completion_tokens\":7}}");
    UNIT_OK(r.u.input == 9 && r.u.output == 7, "later values win (JSON)");

    run_str(&r, ANTHROPIC, 1,
            "data: {\"type\":\"message_start\",\"message\":{\"usage\":"
            "{\"input_tokens\":25,\"cache_read_input_tokens\":100,"
            "\"output_tokens\":1}}}\n\n"
            "data: {\"type\":\"message_delta\",\"usage\":{\"input_tokens\":30,"
            "\"cache_creation_input_tokens\":7,\"output_tokens\":57}}\n\n"
            "data: {\"type\":\"message_delta\",\"usage\":null}\n\n");
    UNIT_OK(r.u.input == 137 && r.u.output == 57 && r.u.cached == 100
            && r.u.cache_write == 7, "later values win (SSE events)");

    /* Anthropic: missing cache fields count 0, missing input is -1 */

    run_str(&r, ANTHROPIC, 0, "{\"usage\":{\"input_tokens\":12}}");
    UNIT_OK(r.u.input == 12 && r.u.cached == -1 && r.u.cache_write == -1
            && r.u.output == -1 && r.u.reasoning == -1,
            "anthropic: input without cache fields");

    run_str(&r, ANTHROPIC, 0,
            "{\"usage\":{\"cache_read_input_tokens\":12,"
            "\"output_tokens\":3}}");
    UNIT_OK(r.rc == 0 && r.u.input == -1 && r.u.cached == 12
            && r.u.output == 3, "anthropic: no input_tokens, input unknown");

    /* OpenAI reads a proxy's Anthropic names, but counts input as given */

    run_str(&r, CHAT, 0,
            "{\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":4}}");
    UNIT_OK(r.u.input == 12 && r.u.cached == 4,
            "openai: input as reported, cache_read_input_tokens as cached");

    run_str(&r, ANTHROPIC, 0,
            "{\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4,"
            "\"completion_tokens_details\":{\"reasoning_tokens\":2}}}");
    UNIT_OK(r.u.input == 12 && r.u.output == 4 && r.u.reasoning == 2,
            "anthropic: OpenAI names read too");
}


static void
test_numbers(void)
{
    unsigned     i;
    run_t        r;
    char         buf[128];
    static const struct {
        const char  *number;
        int64_t      value;         /* -1: ignored */
    } t[] = {
        { "0", 0 },
        { "7", 7 },
        { "123456789012345", 123456789012345LL },
        { "1234567890123456", -1 },
        { "99999999999999999999999999999", -1 },
        { "-5", -1 },
        { "-0", 0 },            /* JSON's integer zero, as jansson reads it */
        { "1.5", -1 },
        { "10.0", -1 },
        { "1e3", -1 },
        { "1E3", -1 },
        { "2e+2", -1 },
        { "3e-1", -1 },
        { "+4", -1 },
        { "\"12\"", -1 },
        { "[12]", -1 },
        { "{\"v\":12}", -1 },
        { "false", -1 },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        snprintf(buf, sizeof(buf),
                 "{\"usage\":{\"completion_tokens\":%s}}", t[i].number);
        run_str(&r, CHAT, 0, buf);

        UNIT_OK(r.u.output == t[i].value && r.seen == (t[i].value >= 0),
                "number %s: %s", t[i].number,
                t[i].value >= 0 ? "read" : "ignored");
    }

    /* an ignored number leaves the previous value */

    run_str(&r, CHAT, 0,
            "{\"usage\":{\"completion_tokens\":8,\"completion_tokens\":-1,"
            "\"completion_tokens\":2.5}}");
    UNIT_OK(r.u.output == 8, "an ignored number keeps the earlier value");
}


static void
test_keys(void)
{
    run_t   r;
    char    buf[512];
    size_t  n;

    run_str(&r, CHAT, 0,
            "{\"\\u0075sage\":{\"prompt\\u005ftokens\":5,"
            "\"completion\\u005Ftokens\":6,\"prompt_tokens_details\":"
            "{\"cached\\/tokens\":1,\"cached_tokens\":2}}}");
    UNIT_OK(r.u.input == 5 && r.u.output == 6 && r.u.cached == 2,
            "keys: escapes decoded");

    run_str(&r, CHAT, 0,
            "{\"usage\":{\"prompt_tokens\\u00e9\":5,\"prompt_tokens \":5,"
            "\"Prompt_tokens\":5,\"prompt_token\":5,\"\":5,"
            "\"\\u0000prompt_tokens\":5,\"prompt_tokens\\n\":5}}");
    UNIT_OK(r.rc == -1, "keys: near misses do not match");

    /* long keys: 32 bytes the most kept, longer ones never match */

    n = snprintf(buf, sizeof(buf),
                 "{\"usage\":{\"%s\":1,\"%s\":2,\"%s\":3,\"output_tokens\":4}}",
                 "cache_creation_input_tokens_____",
                 "cache_creation_input_tokens_______________________"
                 "________________________________________________",
                 "cache_creation_input_tokens\\u0000\\u0000\\u0000\\u0000"
                 "\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000");
    run(&r, ANTHROPIC, 0, (const u_char *) buf, n, 1, 0);
    UNIT_OK(r.rc == 0 && r.u.cache_write == -1 && r.u.output == 4,
            "keys: long keys do not match, the next one does");

    run_str(&r, ANTHROPIC, 0,
            "{\"usage\":{\"cache_creation_input_tokens\":31}}");
    UNIT_OK(r.u.cache_write == 31, "keys: the longest key matches");

    /* root keys in a string value, "usage" as a value */

    run_str(&r, CHAT, 0,
            "{\"type\":\"usage\",\"content\":\"usage\",\"x\":[\"usage\","
            "{\"prompt_tokens\":4}]}");
    UNIT_OK(r.rc == -1, "keys: strings that are not keys do not count");
}


/*
 * A key is looked up where it lies in the buffer when it ends there (by
 * words, two that overlap), else copied first: every count key, and each
 * with one byte changed at each place, after a padding of 0 to 15 bytes,
 * whole and split at every byte.  A changed byte must never match, in
 * the first word, the last, or between them.
 */

static void
test_keys_in_place(void)
{
    int             bad;
    run_t           r;
    char            body[256], key[64];
    size_t          i, k, pad, split, n, len;
    static const struct {
        const char  *key;
        int          dialect;
        size_t       field;         /* offsetof(usage_t, ...) */
        const char  *in;            /* the object around it */
    } keys[] = {
        { "prompt_tokens", CHAT, offsetof(usage_t, input), "" },
        { "completion_tokens", CHAT, offsetof(usage_t, output), "" },
        { "input_tokens", ANTHROPIC, offsetof(usage_t, input), "" },
        { "output_tokens", ANTHROPIC, offsetof(usage_t, output), "" },
        { "cache_read_input_tokens", ANTHROPIC, offsetof(usage_t, cached),
          "" },
        { "cache_creation_input_tokens", ANTHROPIC,
          offsetof(usage_t, cache_write), "" },
        { "cached_tokens", CHAT, offsetof(usage_t, cached),
          "prompt_tokens_details" },
        { "reasoning_tokens", CHAT, offsetof(usage_t, reasoning),
          "completion_tokens_details" },
        { "web_search_requests", ANTHROPIC, offsetof(usage_t, web_search),
          "server_tool_use" }
    };

    bad = 0;

    for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        len = strlen(keys[k].key);

        for (i = 0; i <= len; i++) {

            /* i == len: the key itself; else byte i changed */

            memcpy(key, keys[k].key, len + 1);

            if (i < len) {
                key[i] = (key[i] == 'x') ? 'y' : 'x';
            }

            for (pad = 0; pad < 16; pad++) {
                if (keys[k].in[0]) {
                    n = snprintf(body, sizeof(body),
                                 "{\"%.*s\":1,\"usage\":"
                                 "{\"%s\":{\"%s\":77}}}",
                                 (int) pad, "ppppppppppppppp", keys[k].in,
                                 key);
                } else {
                    n = snprintf(body, sizeof(body),
                                 "{\"%.*s\":1,\"usage\":{\"%s\":77}}",
                                 (int) pad, "ppppppppppppppp", key);
                }

                for (split = 0; split <= n; split++) {
                    run(&r, keys[k].dialect, 0, (const u_char *) body, n, 0,
                        split);

                    if (i == len) {
                        bad += (r.rc != 0
                                || *(int64_t *) ((u_char *) &r.u
                                                 + keys[k].field) != 77);
                    } else {
                        bad += (r.rc != -1);
                    }
                }
            }
        }
    }

    UNIT_IS_INT(bad, 0, "keys in place: each count key matches, whole and "
                "split anywhere; one byte changed anywhere never does");
}


static void
test_text(void)
{
    run_t     r;
    unsigned  i;
    static const struct {
        const char  *body;
        uint64_t     text_bytes;
    } t[] = {
        { "{\"content\":\"Hello\"}", 5 },
        { "{\"content\":\"a\\nb\"}", 4 },
        { "{\"content\":\"\\u00e9t\\u00e9\"}", 13 },
        { "{\"contents\":\"xx\",\"Text\":\"xx\",\"x\":\"text\"}", 0 },
        { "{\"text\":[\"ab\"],\"text\":7,\"delta\":{\"type\":\"xx\"}}", 0 },
        { "{\"a\":[{\"b\":{\"thinking\":\"abc\",\"partial_json\":"
          "\"{\\\"a\\\":1}\",\"arguments\":\"{}\",\"refusal\":\"no\","
          "\"output_text\":\"z\",\"delta\":\"d\",\"text\":\"\"}}]}", 18 },
        { "[\"content\",{\"content\":\"ab\"},\"cd\"]", 2 },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        run_str(&r, ANTHROPIC, 0, t[i].body);
        UNIT_IS_INT(r.text_bytes, t[i].text_bytes, "text_bytes: %s",
                    t[i].body);
    }
}


static void
test_json_mode(void)
{
    run_t   r;
    char    buf[4096];
    size_t  n, i, depth;

    /* done only once the root value completes; what follows is ignored */

    run_str(&r, CHAT, 0, "  {\"usage\":{\"prompt_tokens\":5}");
    UNIT_OK(!r.done && r.u.input == 5, "json: not done before the end");

    run_str(&r, CHAT, 0,
            "{\"usage\":{\"prompt_tokens\":5}} {\"usage\":"
            "{\"prompt_tokens\":6}}");
    UNIT_OK(r.done && r.u.input == 5, "json: data after the root ignored");

    run_str(&r, CHAT, 0, "data: {\"usage\":{\"prompt_tokens\":5}}\n\n");
    UNIT_OK(!r.done && r.rc == -1 && r.events == 0,
            "json: an SSE body read as JSON yields nothing");

    run_str(&r, CHAT, 1, "{\"usage\":{\"prompt_tokens\":5}}");
    UNIT_OK(!r.done && r.rc == -1, "sse: a JSON body read as SSE: nothing");

    /* text as deep as the levels kept */

    n = 0;

    for (i = 0; i < TR_USAGE_DEPTH - 1; i++) {
        n += snprintf(buf + n, sizeof(buf) - n, "{\"a\":");
    }

    n += snprintf(buf + n, sizeof(buf) - n, "{\"content\":\"abc\"}");

    for (i = 0; i < TR_USAGE_DEPTH - 1; i++) {
        buf[n++] = '}';
    }

    run(&r, CHAT, 0, (const u_char *) buf, n, 0, n / 2);
    UNIT_OK(r.done && r.text_bytes == 3, "json: text at the deepest level");

    /* deep nesting: the levels beyond are skipped, strings and all */

    for (depth = 10; depth <= 60; depth += 5) {
        n = snprintf(buf, sizeof(buf), "{\"a\":");

        for (i = 0; i < depth; i++) {
            n += snprintf(buf + n, sizeof(buf) - n,
                          (i & 1) ? "[\"]}\\\"\"," : "{\"k]\":");
        }

        n += snprintf(buf + n, sizeof(buf) - n,
                      "{\"usage\":{\"prompt_tokens\":9}}");

        for (i = depth; i > 0; i--) {
            n += snprintf(buf + n, sizeof(buf) - n,
                          ((i - 1) & 1) ? "]" : "}");
        }

        n += snprintf(buf + n, sizeof(buf) - n,
                      ",\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":"
                      "3},\"choices\":[{\"message\":{\"content\":\"ok\"}}]}");

        run(&r, CHAT, 0, (const u_char *) buf, n, 1, 0);

        UNIT_OK(r.done && r.u.input == 7 && r.u.output == 3
                && r.text_bytes == 2,
                "json: %zu levels of nesting, then the usage", depth);
    }
}


/* -- 4. robustness -------------------------------------------------------- */


/*
 * every prefix of a response: each count reported is one the whole
 * response reported at some event's end (or -1); never a partial number.
 * Read as chat, whose normalised counts are the raw ones.
 */

static void
test_prefixes(const case_t *c)
{
    size_t         len, cut, off, n;
    run_t          r;
    int64_t        seen[5][MAX_EVENTS + 2];
    unsigned       nseen[5], bad, k, i;
    parser_t       p;
    usage_t        u;
    const u_char  *body;
    const int64_t *v;

    body = (const u_char *) c->body;
    len = strlen(c->body);

    /* the values at each event's end */

    memset(nseen, 0, sizeof(nseen));
    memset(&r, 0, sizeof(run_t));
    tr_usage_init(&p, CHAT, c->sse);

    for (off = 0; off < len; off += n) {
        n = tr_usage_feed(&p, body + off, len - off);

        if (tr_usage_result(&p, &u) == 0) {
            v = &u.input;

            for (k = 0; k < 5; k++) {
                if (nseen[k] < MAX_EVENTS + 2) {
                    seen[k][nseen[k]++] = v[k];
                }
            }
        }
    }

    bad = 0;

    for (cut = 0; cut <= len; cut++) {
        run(&r, CHAT, c->sse, body, cut, 0, cut / 2);

        if (r.bad_feed) {
            bad++;
            continue;
        }

        v = &r.u.input;

        for (k = 0; k < 5; k++) {
            if (v[k] != -1 && !in_set(v[k], seen[k], nseen[k])) {
                if (bad++ == 0) {
                    UNIT_DIAG("cut at %zu: field %u is %lld", cut, k,
                              (long long) v[k]);
                }
            }
        }

        /* a JSON body is done only when complete */

        if (!c->sse && r.done) {
            for (i = cut; i < len && body[i] == '\n'; i++) { /* void */ }

            if (i != len) {
                bad++;
            }
        }
    }

    UNIT_IS_INT(bad, 0, "%s: no bogus count at any of %zu cuts", c->name,
                len + 1);
}


static void
test_random(void)
{
    static const char  alphabet[] = "{}[]\":,\\ \n\r0123456789-.eEtrufalsn"
                                    "u_okenpimdat:[DONE]";
    u_char             buf[600];
    size_t             len, i, step;
    run_t              r;
    unsigned           iter, bad, mode;

    bad = 0;

    for (iter = 0; iter < 20000; iter++) {
        len = rng() % sizeof(buf);
        mode = rng() % 3;

        for (i = 0; i < len; i++) {
            buf[i] = mode == 0 ? (u_char) rng()
                               : (u_char) alphabet[rng() % (sizeof(alphabet)
                                                           - 1)];
        }

        step = 1 + rng() % 16;

        run(&r, 1 + iter % 3, iter & 1, buf, len, step, 0);

        if (r.bad_feed || r.seen || r.rc != -1 || r.bytes != len) {
            bad++;
        }
    }

    UNIT_IS_INT(bad, 0, "random bytes: no crash, no counts, feed() keeps "
                "its contract");
}


/* corrupted responses: a byte changed, dropped or doubled; no crash */

static void
test_corrupt(const case_t *c)
{
    u_char    *buf;
    size_t     len, i, j;
    run_t      r;
    unsigned   bad, iter;

    len = strlen(c->body);
    buf = malloc(len + 1);

    if (buf == NULL) {
        abort();
    }

    bad = 0;

    for (iter = 0; iter < 3000; iter++) {
        memcpy(buf, c->body, len);
        i = rng() % len;

        switch (iter % 3) {
        case 0:
            buf[i] = (u_char) rng();
            j = len;
            break;
        case 1:
            memmove(buf + i, buf + i + 1, len - i - 1);
            j = len - 1;
            break;
        default:
            memmove(buf + i + 1, buf + i, len - i);
            j = len + 1;
        }

        run(&r, c->dialect, c->sse, buf, j, 1 + rng() % 9, 0);

        if (r.bad_feed || r.bytes != j
            || (r.rc == 0 && r.u.input < -1))
        {
            bad++;
        }
    }

    UNIT_IS_INT(bad, 0, "%s: corrupted copies read safely", c->name);

    free(buf);
}
