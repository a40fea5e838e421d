
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the request extractor and the rewriter:
 *
 *   1. a differential test against jansson: bodies of the three dialects
 *      generated from a seeded PRNG (random key order, white space,
 *      escapes, multi-byte text, long texts) and the development prompts
 *      wrapped in bodies; every field the extractor reports is computed
 *      again from jansson's tree by a reference model of its rules;
 *   2. invalid bodies: every prefix, single-byte corruptions (verdict
 *      against jansson's), invalid UTF-8, lone surrogates, control
 *      characters, nesting, duplicate keys, wrong types, dialect shape;
 *   3. the rewriter: the output parses, carries the tier's model and
 *      reasoning parameter, keeps every other member and every byte
 *      outside the edited spans, and reads back without error;
 *   4. a speed note (TAP comment) of the extractor against json_loadb.
 *
 *     build/test_extract [DATA_DIR]       (else $TIER_ROUTER_DATA; the
 *                                          routing prompts part is skipped
 *                                          without either)
 *
 * $TEST_EXTRACT_DUMP=DIR writes each mismatching body to DIR.
 */


#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "tr_extract.h"
#include "tr_rewrite.h"
#include "unit.h"


#define AUTO        TR_AUTO
#define CHAT        TR_OPENAI_CHAT
#define RESPONSES   TR_OPENAI_RESPONSES
#define ANTHROPIC   TR_ANTHROPIC
#define TEXT_LEN    TR_TEXT_LEN
#define SYSTEM_LEN  TR_SYSTEM_LEN
#define MODEL_LEN   TR_MODEL_LEN
#define MAX_DEPTH   TR_MAX_DEPTH

/* the reference parse: \u0000 allowed (as the extractor does), and
 * duplicate keys reported, as a tree cannot say which one would win */
#define JFLAGS      (JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES)

#define L(s)        (const unsigned char *) (s), sizeof(s) - 1

#define DIAG_BUDGET  40


typedef tr_request_t   req_t;
typedef tr_edit_t      edit_t;
typedef unsigned char  u_char;


typedef struct {
    char        *d;
    size_t       len;
    size_t       cap;
} buf_t;


/* what the extractor should report, computed from jansson's tree */

typedef struct {
    int          ok;
    char         why[160];
    int          dialect;
    int          has_model;
    int          has_re;
    int          has_reasoning;
    int          has_thinking;
    int          has_messages;
    int          has_input;
    int          stored_input;      /* a stored response, conversation,
                                       prompt */
    int          has_system;
    json_t      *model;
    json_t      *re;
    json_t      *reasoning;
    json_t      *thinking;
    json_t      *user;
    json_t      *system;
    size_t       root_members;
    size_t       total_text;
    unsigned     messages;
    unsigned     user_turns;
    unsigned     tools;
    unsigned     tool_results;
    unsigned     images;
    unsigned     marks;
    long         max_tokens;
    long         limits[3];     /* max_tokens, _completion_, _output_ */
    unsigned     level;
    unsigned     json_output;
    unsigned     json_schema;
    unsigned     stream;
} ref_t;


/* a group of bodies checked against the reference */

typedef struct {
    const char  *name;
    unsigned     bodies;
    unsigned     accepted;      /* both accepted, all fields equal */
    unsigned     rejected;      /* both rejected */
    unsigned     mismatches;
    unsigned     duplicates;    /* jansson saw a duplicate key: verdict */
                                /* not predicted, only "accept => valid" */
    unsigned     known_nul;     /* accepted, jansson (flags 0) refuses */
                                /* the \u0000 escape */
    unsigned     known_nul_key; /* \u0000 in a key: jansson refuses */
    unsigned     known_number;  /* a number overflowing jansson */
    unsigned     known_root;    /* root array: jansson accepts */
    unsigned     jansson_nul;   /* raw NUL byte jansson let through */
} group_t;


/* a splice the rewriter makes: replaced bytes, and the new ones if known */

typedef struct {
    size_t            start;
    size_t            end;
    const u_char     *data;
    size_t            len;
    int               known;
} cut_t;


/* object members, set in random order */

#define MEMBERS  48

typedef struct {
    const char  *key[MEMBERS];
    json_t      *value[MEMBERS];
    unsigned     n;
} members_t;


static uint64_t  rng_state = 0x9e3779b97f4a7c15ULL;
static int       gen_small;
static int       gen_ascii;
static unsigned  diag_budget = DIAG_BUDGET;
static unsigned  dump_seq;
static char      mm_buf[8192];
static size_t    mm_len;
static unsigned  mm_count;

static unsigned  cover_no_model, cover_re, cover_reasoning, cover_thinking;
static unsigned  cover_long_text, cover_nul;
static unsigned  note_reasoning_kept;


static uint64_t rng(void);
static unsigned rnd(unsigned n);
static int chance(unsigned pct);
static void buf_put(buf_t *b, const void *p, size_t n);
static void buf_puts(buf_t *b, const char *s);
static void buf_putc(buf_t *b, int c);

static void mm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag_body(const u_char *body, size_t len, size_t at);
static void dump_body(const u_char *body, size_t len);

static int key_is(const char *key, size_t len, const char *lit);
static int str_is(json_t *v, const char *lit);
static int ref_fail(ref_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static unsigned json_depth(json_t *v);
static unsigned effort_level(json_t *v);
static int ref_content(ref_t *r, json_t *v);
static int ref_part(ref_t *r, json_t *v);
static json_t *last_content(json_t *m);
static int ref_message(ref_t *r, json_t *m);
static int ref_messages(ref_t *r, json_t *v);
static int ref_uint(ref_t *r, json_t *v, long *n, const char *name);
static int ref_format(ref_t *r, json_t *v, int nested);
static int ref_root(ref_t *r, json_t *root, int hint);
static void ref_collect(json_t *v, buf_t *out);

static int extract(const u_char *body, size_t len, int hint, req_t *req);
static int check_span(const u_char *body, size_t len,
    tr_span_t *span, json_t *want, const char *name);
static int check_body(group_t *g, const u_char *body, size_t len, int hint,
    req_t *out);
static void group_report(group_t *g);

static void gen_text(buf_t *b, size_t target);
static size_t text_size(void);
static json_t *text(void);
static json_t *gen_model(void);
static json_t *gen_any(unsigned depth);
static json_t *gen_chat(void);
static json_t *gen_responses(void);
static json_t *gen_anthropic(void);
static json_t *gen_body(int dialect);
static char *serialise(json_t *root, size_t *len);

static void add(members_t *ms, const char *key, json_t *value);
static json_t *build(members_t *ms);
static json_t *short_text(void);
static json_t *text_part(const char *type);
static void cmp_window(const char *name, const u_char *got, size_t got_len,
    const u_char *buf, json_t *v, size_t size);
static void expect(int accept, int jansson, const u_char *body, size_t len,
    int hint, const char *name);
static void expect_text(int accept, int jansson, const char *raw, size_t n,
    const char *name);
static int extract_ok(buf_t *b);
static void nest(buf_t *b, const char *head, size_t levels, int objects,
    int close, const char *tail);
static int splice_match(const u_char *body, size_t len, const u_char *out,
    size_t olen, const cut_t *cut, unsigned n, unsigned k, size_t bpos,
    size_t opos);
static unsigned check_rewrite(group_t *g, const u_char *body, size_t len,
    int hint, const req_t *req, const edit_t *edit);
static int plain(const u_char *p, size_t len);

static void test_generated(void);
static void test_prompts(const char *dir);
static void test_truncations(void);
static void test_corruptions(void);
static void test_invalid(void);
static void test_depth(void);
static void test_rewrite(void);
static void test_rewrite_null_thinking(void);
static void test_rewrite_stream_usage(void);
static void test_rewrite_logprobs(void);
static void test_nul_key(void);
static void test_limits(void);
static void test_speed(void);


/* -- small tools ---------------------------------------------------------- */


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


static unsigned
rnd(unsigned n)
{
    return n ? (unsigned) (rng() % n) : 0;
}


static int
chance(unsigned pct)
{
    return rnd(100) < pct;
}


static void
buf_put(buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->d = realloc(b->d, b->cap);

        if (b->d == NULL) {
            abort();
        }
    }

    memcpy(b->d + b->len, p, n);
    b->len += n;
    b->d[b->len] = '\0';
}


static void
buf_puts(buf_t *b, const char *s)
{
    buf_put(b, s, strlen(s));
}


static void
buf_putc(buf_t *b, int c)
{
    char  ch;

    ch = (char) c;
    buf_put(b, &ch, 1);
}


/* a mismatch line, collected per body and printed if the budget allows */

static void
mm(const char *fmt, ...)
{
    int      n;
    va_list  args;

    mm_count++;

    if (mm_len >= sizeof(mm_buf) - 2) {
        return;
    }

    va_start(args, fmt);
    n = vsnprintf(mm_buf + mm_len, sizeof(mm_buf) - mm_len - 1, fmt, args);
    va_end(args);

    if (n < 0) {
        return;
    }

    mm_len += (size_t) n;

    if (mm_len > sizeof(mm_buf) - 2) {
        mm_len = sizeof(mm_buf) - 2;
    }

    mm_buf[mm_len++] = '\n';
    mm_buf[mm_len] = '\0';
}


static void
diag_body(const u_char *body, size_t len, size_t at)
{
    size_t  i, start, end;
    buf_t   b = { NULL, 0, 0 };
    char    hex[8];

    start = at > 150 ? at - 150 : 0;
    end = start + 300 < len ? start + 300 : len;

    for (i = start; i < end; i++) {
        if (body[i] >= 0x20 && body[i] < 0x7f && body[i] != '#') {
            buf_putc(&b, body[i]);

        } else {
            snprintf(hex, sizeof(hex), "\\x%02x", body[i]);
            buf_puts(&b, hex);
        }
    }

    UNIT_DIAG("  body (%zu bytes), bytes %zu..%zu: %s", len, start, end,
              b.d ? b.d : "");
    free(b.d);
}


static void
dump_body(const u_char *body, size_t len)
{
    char        path[1024];
    FILE       *f;
    const char *dir;

    dir = getenv("TEST_EXTRACT_DUMP");

    if (dir == NULL || *dir == '\0') {
        return;
    }

    snprintf(path, sizeof(path), "%s/mismatch-%u.json", dir, ++dump_seq);

    f = fopen(path, "wb");

    if (f == NULL) {
        return;
    }

    if (fwrite(body, 1, len, f) != len) {
        UNIT_DIAG("  short write to %s", path);
    }

    fclose(f);
    UNIT_DIAG("  written to %s", path);
}


/* -- the reference: the extractor's rules over jansson's tree ------------- */


static int
key_is(const char *key, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(key, lit, len) == 0;
}


static int
str_is(json_t *v, const char *lit)
{
    return json_is_string(v)
           && key_is(json_string_value(v), json_string_length(v), lit);
}


static int
ref_fail(ref_t *r, const char *fmt, ...)
{
    va_list  args;

    if (r->ok) {
        r->ok = 0;
        va_start(args, fmt);
        vsnprintf(r->why, sizeof(r->why), fmt, args);
        va_end(args);
    }

    return -1;
}


/* the root object is 1 deep, {"a":[1]} is 2 */

static unsigned
json_depth(json_t *v)
{
    size_t     i;
    unsigned   d, max;
    void      *it;
    json_t    *e;

    max = 0;

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            d = json_depth(e);
            max = d > max ? d : max;
        }

        return max + 1;
    }

    if (json_is_object(v)) {
        for (it = json_object_iter(v); it; it = json_object_iter_next(v, it))
        {
            d = json_depth(json_object_iter_value(it));
            max = d > max ? d : max;
        }

        return max + 1;
    }

    return 0;
}


static unsigned
effort_level(json_t *v)
{
    if (str_is(v, "high") || str_is(v, "xhigh")) {
        return 3;
    }

    if (str_is(v, "medium")) {
        return 2;
    }

    if (str_is(v, "low") || str_is(v, "minimal")) {
        return 1;
    }

    return 0;
}


/* message content: a string, null or an array of parts */

static int
ref_content(ref_t *r, json_t *v)
{
    size_t   i;
    json_t  *e;

    if (json_is_string(v)) {
        r->total_text += json_string_length(v);
        return 0;
    }

    if (json_is_null(v)) {
        return 0;
    }

    if (!json_is_array(v)) {
        return ref_fail(r, "content is neither string, null nor array");
    }

    json_array_foreach(v, i, e) {
        if (ref_part(r, e) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
ref_part(ref_t *r, json_t *v)
{
    json_t  *type, *text, *content;

    if (json_is_string(v)) {
        r->total_text += json_string_length(v);
        return 0;
    }

    if (!json_is_object(v)) {
        return ref_fail(r, "a part is not an object");
    }

    type = json_object_get(v, "type");
    text = json_object_get(v, "text");
    content = json_object_get(v, "content");

    if (type && !json_is_string(type) && !json_is_null(type)) {
        return ref_fail(r, "a part's type is not a string");
    }

    if (json_is_string(text)) {
        r->total_text += json_string_length(text);
    }

    if (json_is_string(content) || json_is_array(content)) {
        if (ref_content(r, content) != 0) {
            return -1;
        }
    }

    if (str_is(type, "image_url") || str_is(type, "input_image")
        || str_is(type, "input_file") || str_is(type, "file")
        || str_is(type, "input_audio"))
    {
        r->images++;

    } else if (str_is(type, "image") || str_is(type, "document")) {
        r->images++;
        r->marks++;

    } else if (str_is(type, "tool_result")) {
        r->tool_results++;
        r->marks++;

    } else if (str_is(type, "tool_use") || str_is(type, "thinking")
               || str_is(type, "redacted_thinking"))
    {
        r->marks++;
    }

    return 0;
}


/* the later of a message's "content" and "output" members */

static json_t *
last_content(json_t *m)
{
    void        *it;
    size_t       len;
    json_t      *last;
    const char  *key;

    last = NULL;

    for (it = json_object_iter(m); it; it = json_object_iter_next(m, it)) {
        key = json_object_iter_key(it);
        len = json_object_iter_key_len(it);

        if (key_is(key, len, "content") || key_is(key, len, "output")) {
            last = json_object_iter_value(it);
        }
    }

    return last;
}


static int
ref_message(ref_t *r, json_t *m)
{
    json_t  *role, *type, *content, *output;

    if (!json_is_object(m)) {
        return ref_fail(r, "a message is not an object");
    }

    role = json_object_get(m, "role");
    type = json_object_get(m, "type");
    content = json_object_get(m, "content");
    output = json_object_get(m, "output");

    if (role && !json_is_string(role)) {
        return ref_fail(r, "a role is not a string");
    }

    if (type && !json_is_string(type) && !json_is_null(type)) {
        return ref_fail(r, "a message's type is not a string");
    }

    if (content && ref_content(r, content) != 0) {
        return -1;
    }

    if (output && ref_content(r, output) != 0) {
        return -1;
    }

    r->messages++;

    if (str_is(type, "function_call_output")
        || str_is(type, "custom_tool_call_output"))
    {
        r->tool_results++;
        return 0;
    }

    if (role == NULL) {
        if (type == NULL || json_is_null(type) || str_is(type, "")
            || str_is(type, "message"))
        {
            return ref_fail(r, "a message has no role");
        }

        return 0;
    }

    if (str_is(role, "user")) {
        r->user_turns++;

        if (content || output) {
            r->user = last_content(m);
        }

    } else if (str_is(role, "system") || str_is(role, "developer")) {
        if (!r->has_system && (content || output)) {
            r->system = last_content(m);
            r->has_system = 1;
        }

    } else if (str_is(role, "tool") || str_is(role, "function")) {
        r->tool_results++;
    }

    return 0;
}


static int
ref_messages(ref_t *r, json_t *v)
{
    size_t   i;
    json_t  *e;

    if (!json_is_array(v)) {
        return ref_fail(r, "messages is not an array");
    }

    if (json_array_size(v) == 0) {
        return ref_fail(r, "empty conversation");
    }

    json_array_foreach(v, i, e) {
        if (ref_message(r, e) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
ref_uint(ref_t *r, json_t *v, long *n, const char *name)
{
    json_int_t  i;

    if (json_is_null(v)) {
        return 0;
    }

    if (!json_is_integer(v)) {
        return ref_fail(r, "%s is not an integer", name);
    }

    i = json_integer_value(v);

    if (i < 0 || i > INT_MAX) {
        return ref_fail(r, "%s is out of range", name);
    }

    *n = (long) i;

    return 0;
}


static int
ref_format(ref_t *r, json_t *v, int nested)
{
    json_t  *t;

    if (json_is_null(v)) {
        return 0;
    }

    if (!json_is_object(v)) {
        return ref_fail(r, "a format is not an object");
    }

    if (nested) {
        t = json_object_get(v, "format");
        return t ? ref_format(r, t, 0) : 0;
    }

    t = json_object_get(v, "type");

    if (t && !json_is_string(t) && !json_is_null(t)) {
        return ref_fail(r, "a format's type is not a string");
    }

    if (str_is(t, "json_schema")) {
        r->json_output = 1;
        r->json_schema = 1;

    } else if (str_is(t, "json_object")) {
        r->json_output = 1;
    }

    return 0;
}


static int
ref_root(ref_t *r, json_t *root, int hint)
{
    long         n;
    void        *it;
    size_t       len;
    json_t      *v, *t;
    const char  *key;
    long        *l;
    int          text_not_object;

    memset(r, 0, sizeof(ref_t));
    r->ok = 1;
    r->max_tokens = -1;
    r->limits[0] = r->limits[1] = r->limits[2] = -1;
    l = r->limits;
    text_not_object = 0;

    if (!json_is_object(root)) {
        return ref_fail(r, "the root is not an object");
    }

    if (json_depth(root) > MAX_DEPTH) {
        return ref_fail(r, "nested too deeply (%u)", json_depth(root));
    }

    r->root_members = json_object_size(root);

    for (it = json_object_iter(root);
         it;
         it = json_object_iter_next(root, it))
    {
        key = json_object_iter_key(it);
        len = json_object_iter_key_len(it);
        v = json_object_iter_value(it);

        if (key_is(key, len, "model")) {
            if (!json_is_string(v)) {
                return ref_fail(r, "model is not a string");
            }

            if (json_string_length(v) >= MODEL_LEN) {
                return ref_fail(r, "model is too long");
            }

            r->has_model = 1;
            r->model = v;

        } else if (key_is(key, len, "messages")) {
            if (ref_messages(r, v) != 0) {
                return -1;
            }

            r->has_messages = 1;

        } else if (key_is(key, len, "input")) {
            if (json_is_string(v)) {
                r->total_text += json_string_length(v);
                r->messages++;
                r->user_turns++;
                r->user = v;

            } else if (json_is_array(v)) {
                if (ref_messages(r, v) != 0) {
                    return -1;
                }

            } else {
                return ref_fail(r, "input is neither string nor array");
            }

            r->has_input = 1;

        } else if (key_is(key, len, "system")
                   || key_is(key, len, "instructions"))
        {
            if (json_is_null(v)) {
                continue;
            }

            if (!json_is_string(v)
                && !(json_is_array(v) && key_is(key, len, "system")))
            {
                return ref_fail(r, "%s has the wrong type", key);
            }

            if (key_is(key, len, "system")) {
                r->marks++;
            }

            if (ref_content(r, v) != 0) {
                return -1;
            }

            r->system = v;
            r->has_system = 1;

        } else if (key_is(key, len, "stream")) {
            if (json_is_boolean(v)) {
                r->stream = json_is_true(v);

            } else if (!json_is_null(v)) {
                return ref_fail(r, "stream is not a boolean");
            }

        } else if (key_is(key, len, "background")) {
            if (!json_is_boolean(v) && !json_is_null(v)) {
                return ref_fail(r, "background is not a boolean");
            }

        } else if (key_is(key, len, "n")) {
            n = -1;

            if (ref_uint(r, v, &n, key) != 0) {
                return -1;
            }

        } else if (key_is(key, len, "previous_response_id")
                   || key_is(key, len, "conversation")
                   || key_is(key, len, "prompt"))
        {
            /* a stored input: the responses API needs no other */

            r->stored_input |= key_is(key, len, "previous_response_id")
                               ? json_is_string(v) : !json_is_null(v);

        } else if (key_is(key, len, "max_tokens")
                   || key_is(key, len, "max_completion_tokens")
                   || key_is(key, len, "max_output_tokens"))
        {
            n = -1;

            if (ref_uint(r, v, &n, key) != 0) {
                return -1;
            }

            l[key_is(key, len, "max_tokens") ? 0
              : key_is(key, len, "max_completion_tokens") ? 1 : 2] = n;

        } else if (key_is(key, len, "reasoning_effort")) {
            if (!json_is_string(v) && !json_is_null(v)) {
                return ref_fail(r, "reasoning_effort is not a string");
            }

            r->has_re = 1;
            r->re = v;
            r->level = effort_level(v);

        } else if (key_is(key, len, "reasoning")) {
            if (json_is_object(v)) {
                t = json_object_get(v, "effort");

                if (t && !json_is_string(t) && !json_is_null(t)) {
                    return ref_fail(r, "effort is not a string");
                }

                if (t) {
                    r->level = effort_level(t);
                }

            } else if (!json_is_null(v)) {
                return ref_fail(r, "reasoning is not an object");
            }

            r->has_reasoning = 1;
            r->reasoning = v;

        } else if (key_is(key, len, "thinking") && json_is_null(v)) {
            r->has_thinking = 1;
            r->thinking = v;

        } else if (key_is(key, len, "thinking")) {
            if (!json_is_object(v)) {
                return ref_fail(r, "thinking is not an object");
            }

            t = json_object_get(v, "type");

            if (t && !json_is_string(t) && !json_is_null(t)) {
                return ref_fail(r, "thinking type is not a string");
            }

            n = 0;

            if (json_object_get(v, "budget_tokens")
                && ref_uint(r, json_object_get(v, "budget_tokens"), &n,
                            "budget_tokens")
                   != 0)
            {
                return -1;
            }

            if (str_is(t, "enabled")) {
                r->level = n >= 16384 ? 3 : n >= 4096 ? 2 : 1;
            }

            r->has_thinking = 1;
            r->thinking = v;
            r->marks++;

        } else if (key_is(key, len, "tools")) {
            if (json_is_array(v)) {
                r->tools += json_array_size(v);

            } else if (!json_is_null(v)) {
                return ref_fail(r, "tools is not an array");
            }

        } else if (key_is(key, len, "response_format")) {
            if (ref_format(r, v, 0) != 0) {
                return -1;
            }

        } else if (key_is(key, len, "text")
                   && hint != RESPONSES && !json_is_object(v)
                   && !json_is_null(v))
        {
            text_not_object = 1;

        } else if (key_is(key, len, "text")) {
            if (ref_format(r, v, 1) != 0) {
                return -1;
            }
        }
    }

    if (hint == AUTO) {
        if (r->has_messages && r->has_input) {
            return ref_fail(r, "both messages and input");
        }

        if (r->has_input) {
            r->dialect = RESPONSES;

        } else if (r->has_messages) {
            r->dialect = r->marks ? ANTHROPIC : CHAT;

        } else {
            return ref_fail(r, "neither messages nor input");
        }

    } else {
        r->dialect = hint;
    }

    if (r->dialect == RESPONSES && text_not_object) {
        return ref_fail(r, "text is not an object");
    }

    if (r->dialect == RESPONSES ? !r->has_input && !r->stored_input
                                : !r->has_messages)
    {
        return ref_fail(r, "missing messages or input for the dialect");
    }

    /* each API's own output limit; another API's, or two that disagree */

    if (r->dialect == RESPONSES) {
        if (l[0] >= 0 || l[1] >= 0) {
            return ref_fail(r, "a chat limit on responses");
        }

        r->max_tokens = l[2];

    } else if (r->dialect == ANTHROPIC) {
        if (l[1] >= 0 || l[2] >= 0) {
            return ref_fail(r, "an OpenAI limit on messages");
        }

        r->max_tokens = l[0];

    } else {
        if (l[2] >= 0) {
            return ref_fail(r, "max_output_tokens on chat");
        }

        if (l[0] >= 0 && l[1] >= 0 && l[0] != l[1]) {
            return ref_fail(r, "max_tokens and max_completion_tokens "
                            "disagree");
        }

        r->max_tokens = (l[1] >= 0) ? l[1] : l[0];
    }

    return 0;
}


/*
 * The window text: a string, or the strings and the "text" strings of an
 * array's elements, a new line before each one once anything was written
 * (so leading empty parts leave no new line, later ones do).
 */

static void
ref_collect(json_t *v, buf_t *out)
{
    size_t   i;
    json_t  *e, *t;

    if (json_is_string(v)) {
        buf_put(out, json_string_value(v), json_string_length(v));
        return;
    }

    if (!json_is_array(v)) {
        return;
    }

    json_array_foreach(v, i, e) {
        t = json_is_string(e) ? e
            : json_is_object(e) ? json_object_get(e, "text") : NULL;

        if (!json_is_string(t)) {
            continue;
        }

        if (out->len) {
            buf_putc(out, '\n');
        }

        buf_put(out, json_string_value(t), json_string_length(t));
    }
}


/* -- the comparison ------------------------------------------------------- */


/* the extractor over an exactly sized copy, so ASan sees any overread */

static int
extract(const u_char *body, size_t len, int hint, req_t *req)
{
    int      rc;
    u_char  *copy;

    copy = malloc(len ? len : 1);

    if (copy == NULL) {
        abort();
    }

    memcpy(copy, body, len);

    req->dialect = hint;
    rc = tr_extract(copy, len, req);

    free(copy);

    return rc;
}


/* a span holds exactly the JSON text of the value */

static int
check_span(const u_char *body, size_t len, tr_span_t *span,
    json_t *want, const char *name)
{
    json_t        *got;
    json_error_t   err;

    if (span->start >= span->end || span->end > len) {
        mm("%s span %zu..%zu is out of the body", name, span->start,
           span->end);
        return -1;
    }

    got = json_loadb((const char *) body + span->start,
                     span->end - span->start,
                     JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

    if (got == NULL || !json_equal(got, want)) {
        mm("%s span %zu..%zu does not hold the value (%s)", name,
           span->start, span->end, got ? "other value" : err.text);
        json_decref(got);
        return -1;
    }

    json_decref(got);

    return 0;
}


static void
cmp_window(const char *name, const u_char *got, size_t got_len,
    const u_char *buf, json_t *v, size_t size)
{
    size_t  i, n;
    buf_t   want = { NULL, 0, 0 };

    if (v) {
        ref_collect(v, &want);
    }

    n = want.len < size ? want.len : size;

    if (got != buf) {
        mm("%s window does not point at the request's buffer", name);
    }

    if (got_len != n || (n && memcmp(got, want.d, n) != 0)) {
        for (i = 0; i < n && i < got_len && got[i] == (u_char) want.d[i];
             i++)
        {
            /* void */
        }

        mm("%s window: got %zu bytes, expected %zu (of %zu decoded), "
           "first difference at %zu", name, got_len, n, want.len, i);
    }

    free(want.d);
}


#define CMP(field, want)                                                      \
    if ((long) (req->field) != (long) (want)) {                               \
        mm("%s: got %ld, expected %ld", #field, (long) (req->field),          \
           (long) (want));                                                    \
    }


/*
 * One body: the extractor's verdict and fields against the reference's.
 * Returns 0 when they agree; out (if not NULL) receives the extraction.
 */

static int
check_body(group_t *g, const u_char *body, size_t len, int hint, req_t *out)
{
    int             rc;
    size_t          s, e;
    req_t           local, *req;
    ref_t           ref;
    json_t         *root, *plain;
    json_error_t    err, err0;
    enum json_error_code  code;

    req = out ? out : &local;
    mm_len = 0;
    mm_count = 0;
    g->bodies++;

    rc = extract(body, len, hint, req);

    if (rc != 0 && rc != -1) {
        mm("extract returned %d", rc);
    }

    if (rc == 0 && req->error != NULL) {
        mm("accepted with an error set: %s", req->error);
    }

    if (rc != 0 && req->error == NULL) {
        mm("rejected without an error");
    }

    if (rc != 0 && req->error_offset > len) {
        mm("error offset %zu beyond the body", req->error_offset);
    }

    root = json_loadb((const char *) body, len, JFLAGS, &err);

    /*
     * jansson 2.14 steps over a raw NUL byte right after a number or a
     * literal ({"a":1\0} reads as {"a":1}); JSON allows no raw NUL byte
     * anywhere, so such a body is invalid whatever jansson says
     */

    if (root != NULL && memchr(body, '\0', len) != NULL) {
        json_decref(root);
        root = NULL;
        g->jansson_nul++;

        if (rc == 0) {
            mm("accepted a body with a raw NUL byte");

        } else if (mm_count == 0) {
            g->rejected++;
        }

        goto done;
    }

    if (root == NULL) {
        code = json_error_code(&err);

        if (code == json_error_duplicate_key) {
            g->duplicates++;

            if (rc == 0) {
                plain = json_loadb((const char *) body, len, JSON_ALLOW_NUL,
                                   &err0);

                if (plain == NULL) {
                    mm("accepted a body jansson rejects: %s", err0.text);
                }

                json_decref(plain);
            }

        } else if (code == json_error_numeric_overflow && rc == 0) {
            g->known_number++;

        } else if (code == json_error_null_byte_in_key && rc == 0) {
            g->known_nul_key++;

        } else if (rc == 0) {
            mm("accepted a body jansson rejects: %s (line %d col %d)",
               err.text, err.line, err.column);

        } else if (mm_count == 0) {
            g->rejected++;
        }

        goto done;
    }

    if (ref_root(&ref, root, hint) != 0) {
        if (rc == 0) {
            mm("accepted, the reference rejects: %s", ref.why);

        } else if (mm_count == 0) {
            if (json_is_array(root)) {
                g->known_root++;
            }

            g->rejected++;
        }

        goto done;
    }

    if (rc != 0) {
        mm("rejected (%s, param %s, at %zu), the reference accepts",
           req->error ? req->error : "?",
           req->error_param ? req->error_param : "-", req->error_offset);
        goto done;
    }

    plain = json_loadb((const char *) body, len, 0, &err0);

    if (plain == NULL && json_error_code(&err0) == json_error_null_character)
    {
        g->known_nul++;
    }

    json_decref(plain);

    /* the root span and the model */

    for (s = 0; s < len && strchr(" \t\r\n", body[s]) && body[s]; s++) {
        /* void */
    }

    for (e = len; e > s && strchr(" \t\r\n", body[e - 1]) && body[e - 1];
         e--)
    {
        /* void */
    }

    CMP(root.start, s);
    CMP(root.end, e);
    CMP(root_members, ref.root_members);
    CMP(dialect, ref.dialect);

    CMP(has_model, ref.has_model);
    CMP(has_reasoning_effort, ref.has_re);
    CMP(has_reasoning, ref.has_reasoning);
    CMP(has_thinking, ref.has_thinking);
    CMP(has_messages, ref.has_messages);
    CMP(has_input, ref.has_input);

    if (req->has_model && ref.has_model) {
        if (req->model_len != json_string_length(ref.model)
            || memcmp(req->model, json_string_value(ref.model),
                      req->model_len) != 0)
        {
            mm("model: got \"%.*s\" (%zu bytes), expected \"%s\"",
               (int) req->model_len, req->model, req->model_len,
               json_string_value(ref.model));
        }

        if (check_span(body, len, &req->model_span, ref.model, "model") == 0
            && (body[req->model_span.start] != '"'
                || body[req->model_span.end - 1] != '"'))
        {
            mm("model span is not the quoted string");
        }
    }

    if (req->has_reasoning_effort && ref.has_re) {
        (void) check_span(body, len, &req->reasoning_effort_span, ref.re,
                          "reasoning_effort");
    }

    if (req->has_reasoning && ref.has_reasoning) {
        (void) check_span(body, len, &req->reasoning_span, ref.reasoning,
                          "reasoning");
    }

    if (req->has_thinking && ref.has_thinking) {
        (void) check_span(body, len, &req->thinking_span, ref.thinking,
                          "thinking");
    }

    /* the features */

    CMP(features.total_text, ref.total_text);
    CMP(features.messages, ref.messages);
    CMP(features.user_turns, ref.user_turns);
    CMP(features.tools, ref.tools);
    CMP(features.tool_results, ref.tool_results);
    CMP(features.images, ref.images);
    CMP(features.max_tokens, ref.max_tokens);
    CMP(features.reasoning, ref.level);
    CMP(features.json_output, ref.json_output);
    CMP(features.json_schema, ref.json_schema);
    CMP(features.stream, ref.stream);

    cmp_window("text", req->features.text, req->features.text_len,
               req->text, ref.user, TEXT_LEN);
    cmp_window("system", req->features.system, req->features.system_len,
               req->system, ref.system, SYSTEM_LEN);

    if (mm_count == 0) {
        g->accepted++;
    }

done:

    json_decref(root);

    if (mm_count == 0) {
        return 0;
    }

    g->mismatches++;

    if (diag_budget) {
        diag_budget--;
        UNIT_DIAG("%s: mismatch (hint %s, extract %s%s%s):", g->name,
                  tr_dialect_name(hint),
                  rc == 0 ? "accepted" : "rejected",
                  rc == 0 ? "" : ": ",
                  rc == 0 ? "" : (req->error ? req->error : "?"));
        fputs(mm_buf, stdout);
        diag_body(body, len, rc == 0 ? 0 : req->error_offset);
        dump_body(body, len);
    }

    return -1;
}


static void
group_report(group_t *g)
{
    UNIT_OK(g->mismatches == 0,
            "%s: %u bodies, %u accepted and %u rejected as the reference, "
            "%u mismatches", g->name, g->bodies, g->accepted, g->rejected,
            g->mismatches);

    if (g->jansson_nul) {
        UNIT_DIAG("%s: %u bodies with a raw NUL byte that jansson accepted "
                  "(jansson skips a NUL after a number or literal); all "
                  "rejected by the extractor as they must be", g->name,
                  g->jansson_nul);
    }

    if (g->duplicates || g->known_nul || g->known_nul_key || g->known_number
        || g->known_root)
    {
        UNIT_DIAG("%s: not compared or known differences: %u with a "
                  "duplicate key (only accept => jansson accepts checked), "
                  "%u accepted with \\u0000 (jansson without "
                  "JSON_ALLOW_NUL refuses), %u accepted with \\u0000 in a "
                  "key (jansson refuses), %u accepted with a number "
                  "jansson refuses (overflow), %u root arrays (jansson "
                  "accepts)", g->name, g->duplicates, g->known_nul,
                  g->known_nul_key, g->known_number, g->known_root);
    }
}


/* -- the generator -------------------------------------------------------- */


static const char  *ascii_words[] = {
    "the", "a", "of", "function", "prove", "that", "explain", "write",
    "code", "python", "algorithm", "translate", "summarize", "step", "by",
    "please", "Why", "is", "sky", "blue?", "list", "JSON", "table",
    "def f(x):\n    return x * 2\n", "SELECT * FROM t WHERE a > 1;",
    "{\"json\": [1, 2, {\"k\": null}]}", "C:\\path\\to\\file",
    "\"quoted\"", "a/b/c", "</script>", "https://example.com/?q=1&r=2",
    "x", "42", "3.14", "-1e9", "null", "true", "[", "]", "{", "}", ":", ","
};


static const char  *unicode_words[] = {
    "r\xc3\xa9sum\xc3\xa9", "na\xc3\xafve", "caf\xc3\xa9",
    "Stra\xc3\x9f" "e", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
    "\xe4\xb8\xad\xe6\x96\x87", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5"
    "\xd1\x82", "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7",
    "\xf0\x9f\x98\x80", "\xf0\x9d\x84\x9e", "\xf0\x9f\x9a\x80\xf0\x9f\x94"
    "\xa5", "\xef\xbf\xbd", "\xe2\x80\xa8", "\xe2\x80\xa9",
    "\xf4\x8f\xbf\xbf", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80",
    "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
    "\xe2\x82\xac", "\xc2\xa0"
};


static const char  *special_words[] = {
    "\"", "\\", "\\\\", "\\\"", "\\n", "\\u0041", "\\ud83d", "/", "\t",
    "\n", "\r\n", "\r", "\x01", "\x08", "\x0c", "\x1f", "\x7f", "'"
};


#define NELTS(a)  (sizeof(a) / sizeof((a)[0]))


static void
gen_text(buf_t *b, size_t target)
{
    unsigned  r;

    while (b->len < target) {
        r = rnd(100);

        if (r < 72 || gen_ascii) {
            buf_puts(b, ascii_words[rnd(NELTS(ascii_words))]);

        } else if (r < 88) {
            buf_puts(b, unicode_words[rnd(NELTS(unicode_words))]);

        } else {
            buf_puts(b, special_words[rnd(NELTS(special_words))]);
        }

        r = rnd(100);
        buf_puts(b, r < 85 ? " " : r < 95 ? "\n" : r < 98 ? ", " : "");
    }
}


static size_t
text_size(void)
{
    unsigned  r;

    if (gen_small) {
        return rnd(40);
    }

    r = rnd(100);

    if (r < 40) {
        return rnd(80);
    }

    if (r < 70) {
        return 80 + rnd(600);
    }

    if (r < 85) {
        return 600 + rnd(3000);
    }

    if (r < 92) {
        return 1000 + rnd(3200);    /* several parts cross the window */
    }

    cover_long_text++;

    return 3500 + rnd(14000);
}


static json_t *
text(void)
{
    json_t  *s;
    buf_t    b = { NULL, 0, 0 };

    gen_text(&b, text_size());

    if (!gen_ascii && chance(2)) {
        buf_putc(&b, '\0');                 /* \u0000 once serialised */
        buf_puts(&b, "after NUL");
        cover_nul++;
    }

    s = json_stringn(b.d ? b.d : "", b.len);

    if (s == NULL) {
        UNIT_DIAG("the generator made invalid UTF-8");
        abort();
    }

    free(b.d);

    return s;
}


static json_t *
short_text(void)
{
    int      small;
    json_t  *s;

    small = gen_small;
    gen_small = 1;
    s = text();
    gen_small = small;

    return s;
}


static const char  *model_names[] = {
    "auto", "gpt-4o", "gpt-4o-mini", "o3", "claude-sonnet-4-5",
    "claude-3-5-haiku-latest", "", "x", "router/auto",
    "mod\xc3\xa8le-\xc3\xbc", "model \"quoted\"", "back\\slash",
    "tab\tname", "emoji-\xf0\x9f\x98\x80", "llama-3.1-405b-instruct"
};


static json_t *
gen_model(void)
{
    size_t  i, n;
    char    name[200];

    if (!chance(12)) {
        return json_string(model_names[rnd(NELTS(model_names))]);
    }

    /* long names about the limit (128 and more are refused) */

    n = chance(70) ? 100 + rnd(28) : 126 + rnd(10);

    for (i = 0; i < n; i++) {
        name[i] = "abcdefghijklmnopqrstuvwxyz0123456789-._"[rnd(39)];
    }

    return json_stringn(name, n);
}


static const char  *any_keys[] = {
    "model", "messages", "role", "content", "type", "text", "input",
    "system", "stream", "max_tokens", "thinking", "tools", "effort",
    "format", "k", "", "a_key_that_is_longer_than_thirty_two_bytes"
};


/* any value: tracked key names inside untracked members must not count */

static json_t *
gen_any(unsigned depth)
{
    unsigned  i, n, r;
    json_t   *v;

    r = rnd(depth ? 10 : 6);

    switch (r) {
    case 0:
        return json_integer((json_int_t) (rng() % 2000000000000ULL)
                            - (chance(30) ? 1000000000000LL : 0));
    case 1:
        return json_real((double) (int) rnd(100000) / (1 + rnd(1000))
                         * (chance(30) ? -1e-3 : 1e3));
    case 2:
        return short_text();
    case 3:
        return json_boolean(chance(50));
    case 4:
        return json_null();
    case 5:
        return json_string(any_keys[rnd(NELTS(any_keys))]);
    case 6:
    case 7:
        v = json_array();
        n = rnd(4);

        for (i = 0; i < n; i++) {
            json_array_append_new(v, gen_any(depth - 1));
        }

        return v;
    default:
        v = json_object();
        n = rnd(4);

        for (i = 0; i < n; i++) {
            json_object_set_new(v, any_keys[rnd(NELTS(any_keys))],
                                gen_any(depth - 1));
        }

        return v;
    }
}


static void
add(members_t *ms, const char *key, json_t *value)
{
    if (ms->n == MEMBERS) {
        abort();
    }

    ms->key[ms->n] = key;
    ms->value[ms->n++] = value;
}


static json_t *
build(members_t *ms)
{
    unsigned     i, j;
    json_t      *o, *v;
    const char  *k;

    if (chance(75)) {
        for (i = ms->n; i > 1; i--) {
            j = rnd(i);
            k = ms->key[i - 1];
            ms->key[i - 1] = ms->key[j];
            ms->key[j] = k;
            v = ms->value[i - 1];
            ms->value[i - 1] = ms->value[j];
            ms->value[j] = v;
        }
    }

    o = json_object();

    for (i = 0; i < ms->n; i++) {
        json_object_set_new(o, ms->key[i], ms->value[i]);
    }

    ms->n = 0;

    return o;
}


static json_t *
text_part(const char *type)
{
    members_t  ms = { .n = 0 };

    add(&ms, "type", json_string(type));
    add(&ms, "text", text());

    if (chance(10)) {
        add(&ms, "cache_control", json_pack("{s:s}", "type", "ephemeral"));
    }

    if (chance(5)) {
        add(&ms, "annotations", json_array());
    }

    return build(&ms);
}


static json_t *
gen_schema(void)
{
    return json_pack("{s:s, s:{s:{s:s}, s:{s:s, s:o}}, s:[s]}",
                     "type", "object", "properties", "answer", "type",
                     "string", "score", "type", "number", "description",
                     short_text(), "required", "answer");
}


static json_t *
chat_part(void)
{
    unsigned   r;
    members_t  ms = { .n = 0 };

    r = rnd(12);

    if (r < 7) {
        return text_part("text");
    }

    if (r < 9) {
        add(&ms, "type", json_string("image_url"));
        add(&ms, "image_url", json_pack("{s:s, s:s}", "url",
                                        "data:image/png;base64,iVBORw0KGgo=",
                                        "detail", chance(50) ? "low"
                                                             : "auto"));

    } else if (r == 9) {
        add(&ms, "type", json_string("input_audio"));
        add(&ms, "input_audio", json_pack("{s:s, s:s}", "data", "UklGRg==",
                                          "format", "wav"));

    } else if (r == 10) {
        add(&ms, "type", json_string("file"));
        add(&ms, "file", json_pack("{s:s}", "file_id", "file-abc123"));

    } else {
        return chance(50) ? text() : json_pack("{s:s, s:s}", "type",
                                               "refusal", "refusal", "no");
    }

    return build(&ms);
}


static json_t *
parts(json_t *(*part)(void), unsigned max)
{
    unsigned  i, n;
    json_t   *a;

    a = json_array();
    n = chance(5) ? 0 : 1 + rnd(max);

    for (i = 0; i < n; i++) {
        json_array_append_new(a, part());
    }

    return a;
}


static json_t *
system_part(void)
{
    return text_part("text");
}


static json_t *
tool_calls(void)
{
    unsigned  i, n;
    json_t   *a;

    a = json_array();
    n = 1 + rnd(3);

    for (i = 0; i < n; i++) {
        json_array_append_new(a,
            json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", "call_1", "type",
                      "function", "function", "name", "get_weather",
                      "arguments", "{\"city\":\"Par\\u00eds\",\"n\":[1,2]}"));
    }

    return a;
}


static json_t *
chat_message(const char *role)
{
    unsigned   r;
    members_t  ms = { .n = 0 };

    add(&ms, "role", json_string(role));

    if (strcmp(role, "user") == 0) {
        add(&ms, "content", chance(55) ? text() : parts(chat_part, 4));

        if (chance(10)) {
            add(&ms, "name", json_string("alice"));
        }

    } else if (strcmp(role, "assistant") == 0) {
        r = rnd(10);

        if (r < 5) {
            add(&ms, "content", text());

        } else if (r < 8) {
            if (chance(70)) {
                add(&ms, "content", json_null());
            }

            add(&ms, "tool_calls", tool_calls());

        } else {
            add(&ms, "content", parts(chat_part, 3));
        }

        if (chance(5)) {
            add(&ms, "refusal", json_null());
        }

    } else if (strcmp(role, "tool") == 0) {
        add(&ms, "tool_call_id", json_string("call_1"));
        add(&ms, "content", chance(80) ? text() : parts(system_part, 2));

    } else if (strcmp(role, "function") == 0) {
        add(&ms, "name", json_string("get_weather"));
        add(&ms, "content", text());

    } else {
        add(&ms, "content", chance(80) ? text() : parts(system_part, 3));
    }

    return build(&ms);
}


static json_t *
chat_tools(void)
{
    unsigned  i, n;
    json_t   *a;

    a = json_array();
    n = rnd(6);

    for (i = 0; i < n; i++) {
        json_array_append_new(a,
            json_pack("{s:s, s:{s:s, s:o, s:o}}", "type", "function",
                      "function", "name", "get_weather", "description",
                      short_text(), "parameters", gen_schema()));
    }

    return a;
}


static const char  *efforts[] = {
    "low", "medium", "high", "minimal", "xhigh", "none", "HIGH", "",
    "a-very-long-effort-value-that-exceeds-the-key-buffer"
};


static void
add_common(members_t *ms)
{
    unsigned  i, n;

    if (chance(40)) {
        add(ms, "temperature", json_real(rnd(200) / 100.0));
    }

    if (chance(15)) {
        add(ms, "top_p", json_real(0.9));
    }

    if (chance(15)) {
        add(ms, "metadata", gen_any(1 + rnd(8)));
    }

    if (chance(10)) {
        add(ms, "user", json_string("user-1234"));
    }

    if (chance(8)) {
        add(ms, "seed", json_integer(-42));
    }

    if (chance(8)) {
        add(ms, "a_parameter_with_a_name_longer_than_32_bytes",
            gen_any(3));
    }

    if (chance(8)) {
        add(ms, chance(50) ? "modelx" : "Model", json_integer(1));
    }

    n = chance(10) ? 1 + rnd(3) : 0;

    for (i = 0; i < n; i++) {
        add(ms, i == 0 ? "x_extra" : i == 1 ? "y_extra" : "z_extra",
            gen_any(4));
    }
}


static json_t *
gen_chat(void)
{
    unsigned   i, turns;
    json_t    *msgs, *v;
    members_t  ms = { .n = 0 };

    msgs = json_array();

    if (chance(40)) {
        json_array_append_new(msgs,
                              chat_message(chance(70) ? "system"
                                                      : "developer"));
    }

    turns = gen_small ? 1 + rnd(2) : 1 + rnd(6);

    for (i = 0; i < turns; i++) {
        json_array_append_new(msgs, chat_message("user"));

        if (i + 1 < turns || chance(20)) {
            if (chance(25)) {
                json_array_append_new(msgs, chat_message("assistant"));
                json_array_append_new(msgs,
                                      chat_message(chance(90) ? "tool"
                                                              : "function"));
            }

            json_array_append_new(msgs, chat_message("assistant"));
        }

        if (chance(5)) {
            json_array_append_new(msgs, chat_message("system"));
        }
    }

    if (chance(92)) {
        add(&ms, "model", gen_model());
    }

    add(&ms, "messages", msgs);

    if (chance(35)) {
        add(&ms, "tools", chance(90) ? chat_tools() : json_null());
    }

    if (chance(15)) {
        add(&ms, "tool_choice", chance(50) ? json_string("auto")
                 : json_pack("{s:s, s:{s:s}}", "type", "function",
                             "function", "name", "get_weather"));
    }

    if (chance(25)) {
        switch (rnd(5)) {
        case 0:
        case 1:
            v = json_pack("{s:s, s:{s:s, s:b, s:o}}", "type", "json_schema",
                          "json_schema", "name", "answer", "strict", 1,
                          "schema", gen_schema());
            break;
        case 2:
            v = json_pack("{s:s}", "type", "json_object");
            break;
        case 3:
            v = json_pack("{s:s}", "type", "text");
            break;
        default:
            v = json_null();
        }

        add(&ms, "response_format", v);
    }

    if (chance(30)) {
        add(&ms, "max_tokens",
            chance(90) ? json_integer(rnd(70000)) : json_null());
    }

    if (chance(25)) {
        add(&ms, "max_completion_tokens",
            chance(90) ? json_integer(rnd(70000)) : json_null());
    }

    if (chance(40)) {
        add(&ms, "stream", chance(90) ? json_boolean(chance(50))
                                      : json_null());

        if (chance(50)) {
            add(&ms, "stream_options", json_pack("{s:b}", "include_usage",
                                                 1));
        }
    }

    if (chance(25)) {
        add(&ms, "reasoning_effort",
            chance(90) ? json_string(efforts[rnd(NELTS(efforts))])
                       : json_null());
    }

    if (chance(10)) {
        add(&ms, "n", json_integer(1));
    }

    if (chance(10)) {
        add(&ms, "stop", chance(50) ? json_string("\n\n")
                                    : json_pack("[s, s]", "END", "###"));
    }

    if (chance(8)) {
        add(&ms, "logit_bias", json_pack("{s:i, s:i}", "50256", -100, "1",
                                         5));
    }

    if (chance(10)) {
        add(&ms, "parallel_tool_calls", json_boolean(chance(50)));
    }

    add_common(&ms);

    return build(&ms);
}


static json_t *
responses_part(void)
{
    unsigned   r;
    members_t  ms = { .n = 0 };

    r = rnd(10);

    if (r < 7) {
        return text_part("input_text");
    }

    if (r < 9) {
        add(&ms, "type", json_string("input_image"));
        add(&ms, "image_url", json_string("https://example.com/a.png"));

        if (chance(50)) {
            add(&ms, "detail", json_string("high"));
        }

    } else {
        add(&ms, "type", json_string("input_file"));
        add(&ms, "file_id", json_string("file-abc"));
    }

    return build(&ms);
}


static json_t *
output_part(void)
{
    return text_part("output_text");
}


static json_t *
responses_item(const char *kind)
{
    members_t  ms = { .n = 0 };

    if (strcmp(kind, "user") == 0 || strcmp(kind, "system") == 0
        || strcmp(kind, "developer") == 0)
    {
        if (chance(50)) {
            add(&ms, "type", json_string("message"));
        }

        add(&ms, "role", json_string(kind));
        add(&ms, "content", chance(50) ? text() : parts(responses_part, 4));

    } else if (strcmp(kind, "assistant") == 0) {
        add(&ms, "type", json_string("message"));
        add(&ms, "role", json_string("assistant"));
        add(&ms, "content", parts(output_part, 2));

        if (chance(50)) {
            add(&ms, "id", json_string("msg_1"));
            add(&ms, "status", json_string("completed"));
        }

    } else if (strcmp(kind, "function_call") == 0) {
        add(&ms, "type", json_string("function_call"));
        add(&ms, "call_id", json_string("call_1"));
        add(&ms, "name", json_string("get_weather"));
        add(&ms, "arguments", json_string("{\"city\":\"Paris\"}"));

    } else if (strcmp(kind, "function_call_output") == 0) {
        add(&ms, "type", json_string(chance(90) ? "function_call_output"
                                                : "custom_tool_call_output"));
        add(&ms, "call_id", json_string("call_1"));
        add(&ms, "output", chance(85) ? text() : parts(responses_part, 2));

    } else {
        add(&ms, "type", json_string("reasoning"));
        add(&ms, "id", json_string("rs_1"));
        add(&ms, "summary", json_pack("[{s:s, s:o}]", "type", "summary_text",
                                      "text", short_text()));
    }

    return build(&ms);
}


static json_t *
gen_responses(void)
{
    unsigned   i, n;
    json_t    *items, *v;
    members_t  ms = { .n = 0 };

    if (chance(35)) {
        add(&ms, "input", text());

    } else {
        items = json_array();

        if (chance(30)) {
            json_array_append_new(items,
                                  responses_item(chance(50) ? "system"
                                                            : "developer"));
        }

        n = gen_small ? 1 + rnd(2) : 1 + rnd(6);

        for (i = 0; i < n; i++) {
            json_array_append_new(items, responses_item("user"));

            if (i + 1 < n || chance(20)) {
                if (chance(20)) {
                    json_array_append_new(items, responses_item("reasoning"));
                }

                if (chance(30)) {
                    json_array_append_new(items,
                                          responses_item("function_call"));
                    json_array_append_new(items,
                                   responses_item("function_call_output"));
                }

                json_array_append_new(items, responses_item("assistant"));
            }
        }

        add(&ms, "input", items);
    }

    if (chance(92)) {
        add(&ms, "model", gen_model());
    }

    if (chance(30)) {
        add(&ms, "instructions", chance(85) ? text() : json_null());
    }

    if (chance(30)) {
        switch (rnd(5)) {
        case 0:
        case 1:
            v = json_pack("{s:s, s:s}", "effort",
                          efforts[rnd(NELTS(efforts))], "summary", "auto");
            break;
        case 2:
            v = json_pack("{s:s}", "summary", "detailed");
            break;
        case 3:
            v = json_pack("{s:n}", "effort");
            break;
        default:
            v = chance(50) ? json_object() : json_null();
        }

        add(&ms, "reasoning", v);
    }

    if (chance(25)) {
        switch (rnd(5)) {
        case 0:
        case 1:
            v = json_pack("{s:{s:s, s:s, s:o, s:b}}", "format", "type",
                          "json_schema", "name", "answer", "schema",
                          gen_schema(), "strict", 1);
            break;
        case 2:
            v = json_pack("{s:{s:s}}", "format", "type", "json_object");
            break;
        case 3:
            v = json_pack("{s:{s:s}, s:s}", "format", "type", "text",
                          "verbosity", "low");
            break;
        default:
            v = chance(50) ? json_pack("{s:s}", "verbosity", "high")
                           : json_null();
        }

        add(&ms, "text", v);
    }

    if (chance(30)) {
        add(&ms, "max_output_tokens",
            chance(90) ? json_integer(rnd(70000)) : json_null());
    }

    if (chance(30)) {
        add(&ms, "stream", json_boolean(chance(50)));
    }

    if (chance(30)) {
        add(&ms, "tools", json_pack("[{s:s}, {s:s, s:s, s:o}]", "type",
                                    "web_search", "type", "function",
                                    "name", "f", "parameters",
                                    gen_schema()));
    }

    if (chance(15)) {
        add(&ms, "store", json_false());
    }

    /* what the body's size does not bound, valid and not */

    if (chance(8)) {
        add(&ms, "background", chance(80) ? json_boolean(chance(50))
                                          : json_string("yes"));
    }

    if (chance(8)) {
        add(&ms, "conversation", chance(80) ? json_string("conv_1")
                                            : json_null());
    }

    if (chance(5)) {
        add(&ms, "prompt", json_pack("{s:s}", "id", "pmpt_1"));
    }

    if (chance(8)) {
        add(&ms, "n", chance(80) ? json_integer(rnd(4)) : json_real(1.5));
    }

    if (chance(10)) {
        add(&ms, "previous_response_id", json_string("resp_123"));
    }

    if (chance(10)) {
        add(&ms, "include", json_pack("[s]", "reasoning.encrypted_content"));
    }

    add_common(&ms);

    return build(&ms);
}


static json_t *
anthropic_image(void)
{
    return json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "image", "source",
                     "type", "base64", "media_type", "image/png", "data",
                     "iVBORw0KGgoAAAANSUhEUg==");
}


static json_t *
tool_result_part(void)
{
    return chance(70) ? text_part("text") : anthropic_image();
}


static json_t *
anthropic_block(int user)
{
    unsigned   r;
    members_t  ms = { .n = 0 };

    r = rnd(10);

    if (r < 5) {
        return text_part("text");
    }

    if (user) {
        if (r < 7) {
            add(&ms, "type", json_string("tool_result"));
            add(&ms, "tool_use_id", json_string("toolu_1"));

            if (chance(90)) {
                add(&ms, "content", chance(50) ? text()
                                               : parts(tool_result_part, 3));
            }

            if (chance(30)) {
                add(&ms, "is_error", json_boolean(chance(50)));
            }

            return build(&ms);
        }

        if (r < 9) {
            return anthropic_image();
        }

        return json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "document",
                         "source", "type", "text", "media_type",
                         "text/plain", "data", short_text());
    }

    if (r < 8) {
        return json_pack("{s:s, s:s, s:s, s:o}", "type", "tool_use", "id",
                         "toolu_1", "name", "get_weather", "input",
                         gen_any(3));
    }

    if (r < 9) {
        return json_pack("{s:s, s:o, s:s}", "type", "thinking", "thinking",
                         short_text(), "signature", "EqQBCgIYAhIM");
    }

    return json_pack("{s:s, s:s}", "type", "redacted_thinking", "data",
                     "EmwKAhgBEgy3va3pzix");
}


static json_t *
anthropic_message(int user)
{
    unsigned   i, n;
    json_t    *a;
    members_t  ms = { .n = 0 };

    add(&ms, "role", json_string(user ? "user" : "assistant"));

    if (chance(40)) {
        add(&ms, "content", text());

    } else {
        a = json_array();
        n = 1 + rnd(gen_small ? 2 : 4);

        for (i = 0; i < n; i++) {
            json_array_append_new(a, anthropic_block(user));
        }

        add(&ms, "content", a);
    }

    return build(&ms);
}


static json_t *
gen_anthropic(void)
{
    unsigned   i, n;
    json_t    *msgs;
    members_t  ms = { .n = 0 };
    static const long  budgets[] = { 0, 1024, 4095, 4096, 10000, 16383,
                                     16384, 32000 };

    msgs = json_array();
    n = gen_small ? 1 + rnd(2) : 1 + rnd(5);

    for (i = 0; i < n; i++) {
        json_array_append_new(msgs, anthropic_message(1));

        if (i + 1 < n || chance(15)) {
            json_array_append_new(msgs, anthropic_message(0));
        }
    }

    if (chance(92)) {
        add(&ms, "model", gen_model());
    }

    add(&ms, "messages", msgs);

    if (chance(95)) {
        add(&ms, "max_tokens", json_integer(1 + rnd(64000)));
    }

    if (chance(40)) {
        add(&ms, "system", chance(50) ? text() : parts(system_part, 3));
    }

    if (chance(30)) {
        switch (rnd(4)) {
        case 0:
        case 1:
            add(&ms, "thinking", json_pack("{s:s, s:I}", "type", "enabled",
                                     "budget_tokens",
                                     (json_int_t) budgets[rnd(8)]));
            break;
        case 2:
            add(&ms, "thinking", json_pack("{s:s}", "type", "disabled"));
            break;
        default:
            add(&ms, "thinking", json_pack("{s:I, s:s}", "budget_tokens",
                                           (json_int_t) budgets[rnd(8)],
                                           "type", "enabled"));
        }
    }

    if (chance(30)) {
        add(&ms, "tools", json_pack("[{s:s, s:o, s:o}]", "name", "get_weather",
                                    "description", short_text(),
                                    "input_schema", gen_schema()));
    }

    if (chance(15)) {
        add(&ms, "tool_choice", json_pack("{s:s}", "type", "auto"));
    }

    if (chance(30)) {
        add(&ms, "stream", json_boolean(chance(50)));
    }

    if (chance(10)) {
        add(&ms, "stop_sequences", json_pack("[s]", "\n\nHuman:"));
    }

    if (chance(10)) {
        add(&ms, "top_k", json_integer(40));
    }

    add_common(&ms);

    return build(&ms);
}


static json_t *
gen_body(int dialect)
{
    switch (dialect) {
    case RESPONSES:
        return gen_responses();
    case ANTHROPIC:
        return gen_anthropic();
    default:
        return gen_chat();
    }
}


/*
 * jansson's text with random flags, then, on the side, white space
 * between tokens and \u00XX or \/ escapes for plain string bytes
 */

static char *
serialise(json_t *root, size_t *len)
{
    int       in_string, ws, esc;
    char      hex[8];
    char     *s;
    size_t    i, j, n, flags;
    buf_t     b = { NULL, 0, 0 };
    unsigned  c;

    static const size_t  layouts[] = {
        JSON_COMPACT, JSON_INDENT(2), 0, JSON_INDENT(1) | JSON_COMPACT,
        JSON_INDENT(4)
    };

    flags = layouts[rnd(NELTS(layouts))];

    if (chance(30)) {
        flags |= JSON_ENSURE_ASCII;
    }

    if (chance(15)) {
        flags |= JSON_ESCAPE_SLASH;
    }

    if (chance(50)) {
        flags |= JSON_PRESERVE_ORDER;
    }

    if (chance(5)) {
        flags |= JSON_SORT_KEYS;
    }

    s = json_dumps(root, flags);

    if (s == NULL) {
        abort();
    }

    n = strlen(s);

    if (chance(50)) {
        *len = n;
        return s;
    }

    ws = rnd(4) == 0 ? 30 : 5;
    esc = chance(50) ? 3 : 0;
    in_string = 0;

    if (chance(20)) {
        buf_puts(&b, &" \n\t\r"[rnd(4)]);
    }

    for (i = 0; i < n; i++) {
        c = (u_char) s[i];

        if (in_string) {
            if (c == '\\') {
                j = (s[i + 1] == 'u') ? 6 : 2;
                buf_put(&b, s + i, j);
                i += j - 1;
                continue;
            }

            if (c == '"') {
                in_string = 0;

            } else if (c < 0x80 && c > 0x20 && (c | 0x20) >= 'a'
                       && (c | 0x20) <= 'z' && rnd(100) < (unsigned) esc)
            {
                snprintf(hex, sizeof(hex),
                         chance(50) ? "\\u%04x" : "\\u%04X", c);
                buf_puts(&b, hex);
                continue;

            } else if (c == '/' && rnd(100) < (unsigned) esc * 10) {
                buf_puts(&b, "\\/");
                continue;
            }

            buf_putc(&b, c);
            continue;
        }

        if (c == '"') {
            in_string = 1;
        }

        if ((c == '}' || c == ']' || c == ',' || c == ':')
            && rnd(100) < (unsigned) ws)
        {
            buf_puts(&b, &" \n\t\r  \n"[rnd(7)]);
        }

        buf_putc(&b, c);

        if ((c == '{' || c == '[' || c == ',' || c == ':')
            && rnd(100) < (unsigned) ws)
        {
            buf_puts(&b, &"\r\n\t  "[rnd(5)]);
        }
    }

    if (chance(20)) {
        buf_puts(&b, "\n");
    }

    free(s);

    *len = b.len;

    return b.d;
}


/* -- 1. the differential test --------------------------------------------- */


static void
test_generated(void)
{
    int           hint, dialect, bad;
    char         *s;
    size_t        len;
    json_t       *dom, *back;
    unsigned      i, n;
    req_t         req;
    group_t       g[4];
    json_error_t  err;

    static const char  *names[] = {
        NULL, "generated openai_chat", "generated openai_responses",
        "generated anthropic"
    };

    memset(g, 0, sizeof(g));
    bad = 0;
    n = 300;

    for (dialect = CHAT; dialect <= ANTHROPIC; dialect++) {
        g[dialect].name = names[dialect];

        for (i = 0; i < n; i++) {
            dom = gen_body(dialect);
            s = serialise(dom, &len);

            /* the harness itself: the text is the tree */

            back = json_loadb(s, len, JSON_ALLOW_NUL, &err);

            if (back == NULL || !json_equal(back, dom)) {
                bad++;
            }

            json_decref(back);

            hint = chance(60) ? AUTO : chance(92) ? dialect : 1 + (int) rnd(3);

            (void) check_body(&g[dialect], (u_char *) s, len, hint, &req);

            json_decref(dom);
            free(s);
        }
    }

    UNIT_OK(bad == 0, "generator: the serialised text reads back as the "
            "generated tree (%d differ)", bad);

    for (dialect = CHAT; dialect <= ANTHROPIC; dialect++) {
        group_report(&g[dialect]);
    }

    UNIT_DIAG("coverage: %u long texts (>3.5 KB), %u NUL bytes in texts",
              cover_long_text, cover_nul);
}


static void
test_prompts(const char *dir)
{
    DIR            *d;
    char            path[2048];
    char           *line, *s;
    FILE           *f;
    size_t          cap, len, n;
    ssize_t         got;
    json_t         *row, *prompt, *body;
    unsigned        files, prompts, variant;
    group_t         g;
    json_error_t    err;
    struct dirent  *de;

    memset(&g, 0, sizeof(g));
    g.name = "routing prompts";

    d = dir ? opendir(dir) : NULL;

    if (d == NULL) {
        printf("ok %u # SKIP no routing data (pass DATA_DIR or set "
               "TIER_ROUTER_DATA)\n", ++unit_tests);
        return;
    }

    files = 0;
    prompts = 0;
    line = NULL;
    cap = 0;

    while ((de = readdir(d)) != NULL) {
        n = strlen(de->d_name);

        if (n < 7 || strcmp(de->d_name + n - 6, ".jsonl") != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);

        f = fopen(path, "r");

        if (f == NULL) {
            continue;
        }

        files++;

        while ((got = getline(&line, &cap, f)) > 0) {
            row = json_loadb(line, (size_t) got, 0, &err);
            prompt = json_object_get(row, "prompt");

            if (!json_is_string(prompt)) {
                json_decref(row);
                continue;
            }

            prompts++;

            for (variant = 0; variant < 5; variant++) {
                switch (variant) {
                case 0:
                    body = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:O}], "
                                     "s:i}", "model", "auto", "messages",
                                     "role", "system", "content",
                                     "You are a helpful assistant.", "role",
                                     "user", "content", prompt, "max_tokens",
                                     512);
                    break;
                case 1:
                    body = json_pack("{s:[{s:s, s:[{s:s, s:O}]}], s:s, "
                                     "s:b}", "messages", "role", "user",
                                     "content", "type", "text", "text",
                                     prompt, "model", "gpt-4o", "stream", 1);
                    break;
                case 2:
                    body = json_pack("{s:s, s:O, s:s}", "model", "auto",
                                     "input", prompt, "instructions",
                                     "Answer briefly.");
                    break;
                case 3:
                    body = json_pack("{s:s, s:[{s:s, s:[{s:s, s:O}]}], "
                                     "s:{s:s}}", "model", "auto", "input",
                                     "role", "user", "content", "type",
                                     "input_text", "text", prompt,
                                     "reasoning", "effort", "medium");
                    break;
                default:
                    body = json_pack("{s:s, s:i, s:s, s:[{s:s, s:[{s:s, "
                                     "s:O}]}]}", "model", "auto",
                                     "max_tokens", 1024, "system",
                                     "Be concise.", "messages", "role",
                                     "user", "content", "type", "text",
                                     "text", prompt);
                }

                s = serialise(body, &len);

                (void) check_body(&g, (u_char *) s, len,
                                  chance(70) ? AUTO
                                  : variant < 2 ? CHAT
                                  : variant < 4 ? RESPONSES : ANTHROPIC,
                                  NULL);

                free(s);
                json_decref(body);
            }

            json_decref(row);
        }

        fclose(f);
    }

    free(line);
    closedir(d);

    if (prompts == 0) {
        printf("ok %u # SKIP no prompts in %s\n", ++unit_tests, dir);
        return;
    }

    UNIT_DIAG("%u prompts from %u files in %s, 5 bodies each", prompts,
              files, dir);
    group_report(&g);
}


/* -- 2. invalid bodies ---------------------------------------------------- */


static void
test_truncations(void)
{
    int           rc;
    char         *s;
    size_t        len, end, i, bad, jbad;
    json_t       *dom, *j;
    req_t         req;
    unsigned      k;
    json_error_t  err;

    gen_small = 1;

    for (k = 0; k < 6; k++) {
        dom = gen_body(1 + k % 3);
        s = serialise(dom, &len);
        json_decref(dom);

        /* the body must be valid in full */

        rc = extract((u_char *) s, len, AUTO, &req);

        for (end = len; end && s[end - 1] != '}'; end--) {
            /* void */
        }

        bad = 0;
        jbad = 0;

        for (i = 0; i < end; i++) {
            rc = extract((u_char *) s, i, AUTO, &req);

            if (rc != -1 || req.error == NULL || req.error_offset > i) {
                if (bad++ < 3) {
                    UNIT_DIAG("prefix of %zu bytes: rc %d, error %s", i, rc,
                              req.error ? req.error : "(null)");
                }
            }

            j = json_loadb(s, i, JFLAGS, &err);

            if (j != NULL) {
                jbad++;
                json_decref(j);
            }
        }

        UNIT_OK(bad == 0 && jbad == 0,
                "truncations: all %zu prefixes of a %zu-byte %s body are "
                "rejected (%zu accepted, jansson accepted %zu)", end, len,
                tr_dialect_name(1 + k % 3), bad, jbad);

        free(s);
    }

    gen_small = 0;
}


static void
test_corruptions(void)
{
    char         *s;
    size_t        len, pos;
    u_char       *body;
    json_t       *dom;
    group_t       g;
    unsigned      k, i, op;

    static const u_char  bytes[] = {
        '{', '}', '[', ']', '"', '\\', ',', ':', ' ', '\n', '0', '1', '-',
        '.', 'e', 'E', '+', 't', 'f', 'n', 'u', 'a', 'x', 'D', 0x00, 0x01,
        0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xf5,
        0xff
    };

    memset(&g, 0, sizeof(g));
    g.name = "corruptions";
    gen_small = 1;

    for (k = 0; k < 80; k++) {
        dom = gen_body(1 + k % 3);
        s = serialise(dom, &len);
        json_decref(dom);

        body = malloc(len + 1);

        for (i = 0; i < 250; i++) {
            memcpy(body, s, len);
            pos = rnd((unsigned) len);
            op = rnd(10);

            if (op < 6) {
                body[pos] = bytes[rnd(sizeof(bytes))];
                (void) check_body(&g, body, len, AUTO, NULL);

            } else if (op < 8) {
                body[pos] ^= (u_char) (1 << rnd(8));
                (void) check_body(&g, body, len, AUTO, NULL);

            } else if (op < 9) {
                memmove(body + pos, body + pos + 1, len - pos - 1);
                (void) check_body(&g, body, len - 1, AUTO, NULL);

            } else {
                memmove(body + pos + 1, body + pos, len - pos);
                body[pos] = bytes[rnd(sizeof(bytes))];
                (void) check_body(&g, body, len + 1, AUTO, NULL);
            }
        }

        free(body);
        free(s);
    }

    gen_small = 0;

    group_report(&g);
}


/* one hand-written body: verdict, and jansson's (1, 0, or -1: not asked) */

static void
expect(int accept, int jansson, const u_char *body, size_t len, int hint,
    const char *name)
{
    int           rc, jok;
    req_t         req;
    json_t       *j;
    group_t       g;
    json_error_t  err;

    rc = extract(body, len, hint, &req);

    j = json_loadb((const char *) body, len, 0, &err);
    jok = j != NULL;
    json_decref(j);

    if (accept) {
        UNIT_OK(rc == 0 && req.error == NULL, "accept: %s", name);

    } else {
        UNIT_OK(rc == -1 && req.error != NULL && req.error_offset <= len,
                "reject: %s", name);
    }

    if (rc != (accept ? 0 : -1)) {
        UNIT_DIAG("  -> %s (param %s, at %zu)",
                  req.error ? req.error : "no error",
                  req.error_param ? req.error_param : "-", req.error_offset);
        diag_body(body, len, rc ? req.error_offset : 0);
    }

    if (jansson != -1 && jok != jansson) {
        UNIT_OK(0, "  jansson %s it as expected", jansson ? "accepts"
                                                          : "rejects");
        UNIT_DIAG("  jansson: %s", jok ? "accepted" : err.text);
    }

    /* whatever the verdict, the reference agrees */

    memset(&g, 0, sizeof(g));
    g.name = name;

    if (check_body(&g, body, len, hint, NULL) != 0) {
        UNIT_OK(0, "  the reference agrees on: %s", name);
    }
}


/* a chat body around one raw piece of user text */

static void
expect_text(int accept, int jansson, const char *raw, size_t n,
    const char *name)
{
    buf_t  b = { NULL, 0, 0 };

    buf_puts(&b, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                 "\"content\":\"");
    buf_put(&b, raw, n);
    buf_puts(&b, "\"}]}");

    expect(accept, jansson, (u_char *) b.d, b.len, AUTO, name);

    free(b.d);
}


#define M1  "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"


static void
test_invalid(void)
{
    int           ok;
    char          name[160], raw[64];
    size_t        i, k, n;
    buf_t         b;
    unsigned      c;

    static const char  *bad_numbers[] = {
        "01", "-", "+1", ".5", "1.", "1e", "1e+", "-01", "0x1", "1.e5",
        "NaN", "Infinity", "-Infinity", "1_000", "--1", "0.5.5"
    };

    static const char  *bad_literals[] = {
        "tru", "truex", "True", "nul", "nulll", "fals", "undefined", "'a'",
        "\"a\"\"b\"", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{,}",
        "{\"a\":1,}", "{\"a\" 1}", "{1:1}", "[1 2]", "\"a"
    };

    static const struct {
        const char  *s;
        size_t       n;
        int          ok;
    }  utf8[] = {
        { "\xc0\x80", 2, 0 }, { "\xc1\xbf", 2, 0 }, { "\xe0\x80\x80", 3, 0 },
        { "\xe0\x9f\xbf", 3, 0 }, { "\xed\xa0\x80", 3, 0 },
        { "\xed\xbf\xbf", 3, 0 }, { "\xed\xa0\x80\xed\xb0\x80", 6, 0 },
        { "\xf0\x80\x80\x80", 4, 0 }, { "\xf0\x8f\xbf\xbf", 4, 0 },
        { "\xf4\x90\x80\x80", 4, 0 }, { "\xf5\x80\x80\x80", 4, 0 },
        { "\xf8\x88\x80\x80\x80", 5, 0 }, { "\xfc\x84\x80\x80\x80\x80", 6, 0 },
        { "\xfe", 1, 0 }, { "\xff", 1, 0 }, { "\x80", 1, 0 },
        { "\xbf", 1, 0 }, { "\xc3", 1, 0 }, { "\xe2\x82", 2, 0 },
        { "\xf0\x9f\x98", 3, 0 }, { "\xc3\x28", 2, 0 },
        { "\xe2\x28\xa1", 3, 0 }, { "\xf0\x28\x8c\xbc", 4, 0 },
        { "\xc2\x80", 2, 1 }, { "\xdf\xbf", 2, 1 }, { "\xe0\xa0\x80", 3, 1 },
        { "\xed\x9f\xbf", 3, 1 }, { "\xee\x80\x80", 3, 1 },
        { "\xef\xbf\xbf", 3, 1 }, { "\xf0\x90\x80\x80", 4, 1 },
        { "\xf4\x8f\xbf\xbf", 4, 1 }, { "\x7f", 1, 1 }
    };

    static const struct {
        const char  *s;
        int          ok;
    }  escapes[] = {
        { "\\uD800", 0 }, { "\\uDBFF", 0 }, { "\\uDC00", 0 },
        { "\\uDFFF", 0 }, { "\\uD800\\u0041", 0 }, { "\\uD800x", 0 },
        { "\\uD800\\uD800", 0 }, { "\\uDC00\\uD800", 0 },
        { "\\uD800\\\\", 0 }, { "\\uD800\\n", 0 },
        { "\\uD83D\\uDE0", 0 }, { "\\uD83D\\uDE0G", 0 },
        { "\\x41", 0 }, { "\\U0041", 0 }, { "\\u00G1", 0 }, { "\\u12", 0 },
        { "\\'", 0 }, { "\\a", 0 }, { "\\0", 0 }, { "\\", 0 },
        { "\\uD83D\\uDE00", 1 }, { "\\ud83d\\ude00", 1 },
        { "\\uDBFF\\uDFFF", 1 }, { "\\uD800\\uDC00", 1 },
        { "\\u00e9\\u20AC\\uFFFF\\u0001\\u001f", 1 },
        { "\\\"\\\\\\/\\b\\f\\n\\r\\t", 1 }
    };

    /* invalid UTF-8, at every offset of a 16-byte step */

    for (i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++) {
        ok = 1;

        for (k = 0; k < 34; k++) {
            b.d = NULL;
            b.len = 0;
            b.cap = 0;

            buf_puts(&b, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                         "\"content\":\"");

            for (n = 0; n < k; n++) {
                buf_putc(&b, 'a');
            }

            buf_put(&b, utf8[i].s, utf8[i].n);
            buf_puts(&b, "tail text, long enough for a 16-byte step\"}]}");

            if (extract_ok(&b) != utf8[i].ok) {
                ok = 0;
            }

            free(b.d);
        }

        for (k = 0; k < utf8[i].n; k++) {
            snprintf(raw + 3 * k, 4, "%02x ", (u_char) utf8[i].s[k]);
        }

        snprintf(name, sizeof(name), "UTF-8 %s in text, at 34 offsets", raw);
        expect_text(utf8[i].ok, utf8[i].ok, utf8[i].s, utf8[i].n, name);
        UNIT_OK(ok, "UTF-8 %s: same verdict at 34 offsets", raw);
    }

    /* invalid UTF-8 elsewhere, and cut at the end of the buffer */

    expect(0, 0, L("{\"mod\xc3\":\"m\"," M1 "}"), AUTO, "bad UTF-8 in a key");
    expect(0, 0, L("{\"model\":\"m\xff\"," M1 "}"), AUTO,
           "bad UTF-8 in the model");
    expect(0, 0, L("{\"model\":\"m\"," M1 ",\"metadata\":{\"k\":\"\xed\xa0"
                   "\x80\"}}"), AUTO, "surrogate in UTF-8 in a skipped value");
    expect(0, 0, L("{\"model\":\"m\"," M1 ",\"tools\":[\"\xc0\xaf\"]}"),
           AUTO, "overlong in tools");
    expect(0, 0, L("{\"model\":\"m\"," M1 ",\xc3\xa9:1}"), AUTO,
           "UTF-8 outside a string");
    expect(0, 0, L("{\"model\":\"m\"," M1 ",\"x\":\"\xe2\x82"), AUTO,
           "UTF-8 sequence cut by the end of the body");
    expect(0, 0, L("{\"model\":\"m\"," M1 ",\"x\":\"\xf0"), AUTO,
           "UTF-8 lead byte at the end of the body");
    expect(0, 0, L("\xef\xbb\xbf{\"model\":\"m\"," M1 "}"), AUTO,
           "byte order mark");

    /* escapes */

    for (i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        snprintf(name, sizeof(name), "escape %s in text", escapes[i].s);
        expect_text(escapes[i].ok, escapes[i].ok, escapes[i].s,
                    strlen(escapes[i].s), name);
    }

    expect(0, 0, L("{\"model\":\"\\uD800\"," M1 "}"), AUTO,
           "lone surrogate in the model");
    expect(0, 0, L("{\"model\":\"m\"," M1 ",\"k\\uDC00\":1}"), AUTO,
           "lone surrogate in a key");
    expect(0, 0, L("{\"model\":\"m\"," M1 ",\"x\":\"\\uD83D"), AUTO,
           "surrogate escape cut by the end of the body");
    expect(0, 0, L("{\"model\":\"m\"," M1 ",\"x\":\"\\u00"), AUTO,
           "\\u escape cut by the end of the body");

    /* control characters */

    ok = 1;

    for (c = 0; c < 0x20; c++) {
        raw[0] = 'a';
        raw[1] = (char) c;
        raw[2] = 'b';

        b.d = NULL;
        b.len = 0;
        b.cap = 0;
        buf_puts(&b, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"");
        buf_put(&b, raw, 3);
        buf_puts(&b, "\"}]}");

        if (extract_ok(&b) != 0) {
            ok = 0;
            UNIT_DIAG("control character 0x%02x accepted", c);
        }

        free(b.d);
    }

    UNIT_OK(ok, "reject: raw control characters 0x00..0x1f in a string");
    expect_text(0, 0, "a\nb", 3, "raw new line in text");
    expect_text(0, 0, "a\0b", 3, "raw NUL in text");
    expect_text(1, 1, "a\x7f" "b", 3, "DEL (0x7f) in text");
    expect(0, 0, L("{\"model\":\"m\"," M1 ",\"k\x01\":1}"), AUTO,
           "control character in a key");
    expect(0, 0, L("{\"model\":\"m\",\0" M1 "}"), AUTO,
           "NUL byte between members");

    /* \u0000: accepted, jansson refuses it without JSON_ALLOW_NUL */

    expect_text(1, 0, "a\\u0000b", 8,
                "\\u0000 in text (known difference: jansson needs "
                "JSON_ALLOW_NUL)");
    expect(1, 0, L("{\"model\":\"m\\u0000x\"," M1 "}"), AUTO,
           "\\u0000 in the model (known difference)");

    /* numbers jansson cannot hold */

    expect(1, 0, L("{\"model\":\"m\"," M1 ",\"temperature\":1e999}"), AUTO,
           "1e999 in a skipped member (known difference: jansson overflow)");
    expect(1, 0, L("{\"model\":\"m\"," M1 ",\"seed\":"
                   "99999999999999999999}"), AUTO,
           "20-digit integer in a skipped member (known difference)");
    expect(1, 1, L("{\"model\":\"m\"," M1 ",\"t\":[0,-0,0.5,-1.5e-3,1E+2,"
                   "1e-999]}"), AUTO, "number forms");

    for (i = 0; i < sizeof(bad_numbers) / sizeof(bad_numbers[0]); i++) {
        b.d = NULL;
        b.len = 0;
        b.cap = 0;
        buf_puts(&b, "{\"model\":\"m\"," M1 ",\"t\":");
        buf_puts(&b, bad_numbers[i]);
        buf_puts(&b, "}");
        snprintf(name, sizeof(name), "bad number %s", bad_numbers[i]);
        expect(0, 0, (u_char *) b.d, b.len, AUTO, name);
        free(b.d);
    }

    for (i = 0; i < sizeof(bad_literals) / sizeof(bad_literals[0]); i++) {
        b.d = NULL;
        b.len = 0;
        b.cap = 0;
        buf_puts(&b, "{\"model\":\"m\"," M1 ",\"t\":");
        buf_puts(&b, bad_literals[i]);
        buf_puts(&b, "}");
        snprintf(name, sizeof(name), "bad value %s", bad_literals[i]);
        expect(0, 0, (u_char *) b.d, b.len, AUTO, name);
        free(b.d);
    }

    /* duplicate keys: jansson (flags 0) takes the last one */

    expect(0, 1, L("{\"model\":\"a\",\"model\":\"b\"," M1 "}"), AUTO,
           "duplicate model");
    expect(0, 1, L("{\"model\":\"a\"," M1 ",\"mod\\u0065l\":\"b\"}"), AUTO,
           "duplicate model spelt mod\\u0065l");
    expect(0, 1, L("{\"\\u006d\\u006F\\u0064\\u0065\\u006c\":\"a\"," M1
                   ",\"model\":\"b\"}"), AUTO,
           "duplicate model, the first one all escapes");
    expect(0, 1, L("{\"model\":\"a\"," M1 "," M1 "}"), AUTO,
           "duplicate messages");
    expect(0, 1, L("{\"model\":\"a\",\"input\":\"x\",\"input\":\"y\"}"),
           AUTO, "duplicate input");
    expect(0, 1, L("{" M1 ",\"system\":\"a\",\"system\":\"b\"}"), AUTO,
           "duplicate system");
    expect(0, 1, L("{" M1 ",\"stream\":true,\"stream\":false}"), AUTO,
           "duplicate stream");
    expect(0, 1, L("{" M1 ",\"max_tokens\":1,\"max_tokens\":2}"), AUTO,
           "duplicate max_tokens");
    expect(0, 1, L("{" M1 ",\"reasoning_effort\":\"low\","
                   "\"reasoning_effort\":\"high\"}"), AUTO,
           "duplicate reasoning_effort");
    expect(0, 1, L("{" M1 ",\"tools\":[],\"tools\":[1]}"), AUTO,
           "duplicate tools");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"role\":\"system\","
                   "\"content\":\"x\"}]}"), AUTO, "duplicate role");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"r\\u006fle\":"
                   "\"system\",\"content\":\"x\"}]}"), AUTO,
           "duplicate role spelt r\\u006fle");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":\"x\","
                   "\"content\":\"y\"}]}"), AUTO, "duplicate content");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":[{"
                   "\"type\":\"text\",\"text\":\"a\",\"text\":\"b\"}]}]}"),
           AUTO, "duplicate text in a part");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":[{"
                   "\"type\":\"text\",\"type\":\"image\",\"text\":\"b\"}]}]}"),
           AUTO, "duplicate type in a part");
    expect(0, 1, L("{\"input\":\"x\",\"reasoning\":{\"effort\":\"low\","
                   "\"effort\":\"high\"}}"), AUTO,
           "duplicate effort in reasoning");
    expect(0, 1, L("{" M1 ",\"response_format\":{\"type\":\"text\","
                   "\"type\":\"json_object\"}}"), AUTO,
           "duplicate type in response_format");
    expect(0, 1, L("{" M1 ",\"thinking\":{\"type\":\"enabled\","
                   "\"budget_tokens\":1024,\"budget_tokens\":20000}}"), AUTO,
           "duplicate budget_tokens in thinking");
    expect(1, 1, L("{" M1 ",\"seed\":1,\"seed\":0}"), AUTO,
           "duplicate untracked key (seed) is accepted");
    expect(0, 1, L("{" M1 ",\"temperature\":1,\"temperature\":0}"), AUTO,
           "duplicate temperature, a key a tier may drop, is refused");
    expect(0, 1, L("{" M1 ",\"output_config\":{\"effort\":\"low\","
                   "\"effort\":\"max\"}}"), AUTO,
           "duplicate effort in output_config");
    expect(0, 1, L("{" M1 ",\"output_config\":{\"format\":{},"
                   "\"format\":{}}}"), AUTO,
           "duplicate format in output_config");
    expect(1, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":\"x\","
                   "\"name\":\"a\",\"name\":\"b\"}]}"), AUTO,
           "duplicate untracked message key (name) is accepted");

    /* wrong types */

    expect(0, 1, L("{\"model\":1," M1 "}"), AUTO, "model is a number");
    expect(0, 1, L("{\"model\":null," M1 "}"), AUTO, "model is null");
    expect(0, 1, L("{\"model\":[\"a\"]," M1 "}"), AUTO, "model is an array");
    expect(0, 1, L("{\"messages\":\"hi\"}"), AUTO, "messages is a string");
    expect(0, 1, L("{\"messages\":{}}"), AUTO, "messages is an object");
    expect(0, 1, L("{\"messages\":null}"), AUTO, "messages is null");
    expect(0, 1, L("{\"messages\":[1]}"), AUTO, "a message is a number");
    expect(0, 1, L("{\"messages\":[\"hi\"]}"), AUTO, "a message is a string");
    expect(0, 1, L("{\"messages\":[null]}"), AUTO, "a message is null");
    expect(0, 1, L("{" M1 ",\"stream\":\"yes\"}"), AUTO, "stream \"yes\"");
    expect(0, 1, L("{" M1 ",\"stream\":1}"), AUTO, "stream 1");
    expect(0, 1, L("{" M1 ",\"max_tokens\":-1}"), AUTO, "max_tokens -1");
    expect(0, 1, L("{" M1 ",\"max_tokens\":1.5}"), AUTO, "max_tokens 1.5");
    expect(0, 1, L("{" M1 ",\"max_tokens\":1e3}"), AUTO, "max_tokens 1e3");
    expect(0, 1, L("{" M1 ",\"max_tokens\":1.0}"), AUTO, "max_tokens 1.0");
    expect(0, 1, L("{" M1 ",\"max_tokens\":\"100\"}"), AUTO,
           "max_tokens \"100\"");
    expect(0, 1, L("{" M1 ",\"max_tokens\":true}"), AUTO, "max_tokens true");
    expect(0, 1, L("{" M1 ",\"max_tokens\":2147483648}"), AUTO,
           "max_tokens 2^31");
    expect(0, 0, L("{" M1 ",\"max_tokens\":99999999999999999999}"), AUTO,
           "max_tokens 20 digits");
    expect(0, 1, L("{" M1 ",\"max_completion_tokens\":-5}"), AUTO,
           "max_completion_tokens -5");
    expect(0, 1, L("{\"input\":\"x\",\"max_output_tokens\":0.5}"), AUTO,
           "max_output_tokens 0.5");
    expect(1, 1, L("{" M1 ",\"max_tokens\":2147483647}"), AUTO,
           "max_tokens 2^31-1");
    expect(1, 1, L("{" M1 ",\"max_tokens\":0}"), AUTO, "max_tokens 0");
    expect(1, 1, L("{" M1 ",\"max_tokens\":-0}"), AUTO, "max_tokens -0");
    expect(1, 1, L("{" M1 ",\"max_tokens\":null,\"stream\":null}"), AUTO,
           "max_tokens and stream null");

    /* each API's own output limit, and no other's (a reservation bound) */

    expect(0, 1, L("{" M1 ",\"max_tokens\":2000,"
                   "\"max_completion_tokens\":1}"), CHAT,
           "chat: max_tokens and max_completion_tokens disagree");
    expect(1, 1, L("{" M1 ",\"max_tokens\":7,"
                   "\"max_completion_tokens\":7}"), CHAT,
           "chat: max_tokens and max_completion_tokens agree");
    expect(0, 1, L("{" M1 ",\"max_output_tokens\":1}"), CHAT,
           "chat: max_output_tokens");
    expect(0, 1, L("{" M1 ",\"max_tokens\":2000,"
                   "\"max_completion_tokens\":1}"), ANTHROPIC,
           "messages: max_completion_tokens beside max_tokens");
    expect(0, 1, L("{" M1 ",\"max_tokens\":2000,"
                   "\"max_output_tokens\":1}"), ANTHROPIC,
           "messages: max_output_tokens beside max_tokens");
    expect(0, 1, L("{\"input\":\"x\",\"max_output_tokens\":5,"
                   "\"max_tokens\":1}"), AUTO,
           "responses: max_tokens beside max_output_tokens");
    expect(1, 1, L("{" M1 ",\"max_tokens\":null,"
                   "\"max_completion_tokens\":1}"), CHAT,
           "chat: a null max_tokens beside max_completion_tokens");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":5}]}"),
           AUTO, "content is a number");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":true}]}"),
           AUTO, "content is true");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":"
                   "{\"text\":\"x\"}}]}"), AUTO, "content is an object");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":[5]}]}"),
           AUTO, "a part is a number");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":[null]}]}"),
           AUTO, "a part is null");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":[[]]}]}"),
           AUTO, "a part is an array");
    expect(0, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":[{"
                   "\"type\":5}]}]}"), AUTO, "a part's type is a number");
    expect(1, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":[{"
                   "\"type\":\"text\",\"text\":{\"a\":1}}]}]}"), AUTO,
           "a part's text is an object (skipped)");
    expect(0, 1, L("{\"messages\":[{\"role\":5,\"content\":\"x\"}]}"), AUTO,
           "role is a number");
    expect(0, 1, L("{\"messages\":[{\"role\":null,\"content\":\"x\"}]}"),
           AUTO, "role is null");
    expect(0, 1, L("{\"messages\":[{\"content\":\"x\"}]}"), AUTO,
           "a message without role or type");
    expect(0, 1, L("{\"input\":[{\"type\":\"message\",\"content\":\"x\"}]}"),
           AUTO, "an input message without role");
    expect(1, 1, L("{\"input\":[{\"type\":\"function_call\",\"name\":\"f\","
                   "\"arguments\":\"{}\"}]}"), AUTO,
           "a function_call item without role");
    expect(1, 1, L("{\"messages\":[{\"role\":\"user\",\"content\":null}]}"),
           AUTO, "content null");
    expect(0, 1, L("{\"input\":5}"), AUTO, "input is a number");
    expect(0, 1, L("{\"input\":{}}"), AUTO, "input is an object");
    expect(0, 1, L("{\"input\":null}"), AUTO, "input is null");
    expect(0, 1, L("{" M1 ",\"system\":5}"), AUTO, "system is a number");
    expect(0, 1, L("{" M1 ",\"system\":{}}"), AUTO, "system is an object");
    expect(0, 1, L("{\"input\":\"x\",\"instructions\":[]}"), AUTO,
           "instructions is an array");
    expect(1, 1, L("{\"input\":\"x\",\"instructions\":null,\"system\":null}"),
           AUTO, "instructions and system null");
    expect(1, 1, L("{" M1 ",\"thinking\":null}"), AUTO, "thinking is null");
    expect(0, 1, L("{" M1 ",\"thinking\":\"enabled\"}"), AUTO,
           "thinking is a string");
    expect(0, 1, L("{" M1 ",\"thinking\":{\"type\":\"enabled\","
                   "\"budget_tokens\":-1}}"), AUTO, "budget_tokens -1");
    expect(0, 1, L("{" M1 ",\"thinking\":{\"type\":1}}"), AUTO,
           "thinking type is a number");
    expect(0, 1, L("{\"input\":\"x\",\"reasoning\":\"high\"}"), AUTO,
           "reasoning is a string");
    expect(0, 1, L("{\"input\":\"x\",\"reasoning\":{\"effort\":5}}"), AUTO,
           "reasoning effort is a number");
    expect(0, 1, L("{" M1 ",\"reasoning_effort\":3}"), AUTO,
           "reasoning_effort is a number");
    expect(0, 1, L("{" M1 ",\"tools\":{}}"), AUTO, "tools is an object");
    expect(0, 1, L("{" M1 ",\"tools\":\"x\"}"), AUTO, "tools is a string");
    expect(0, 1, L("{" M1 ",\"response_format\":\"json\"}"), AUTO,
           "response_format is a string");
    expect(0, 1, L("{" M1 ",\"response_format\":{\"type\":[]}}"), AUTO,
           "response_format type is an array");
    expect(0, 1, L("{\"input\":\"x\",\"text\":\"plain\"}"), AUTO,
           "text is a string");
    expect(0, 1, L("{\"text\":\"plain\",\"input\":\"x\"}"), AUTO,
           "text is a string before the input");
    expect(0, 1, L("{\"text\":\"plain\",\"input\":\"x\"}"), RESPONSES,
           "text is a string where the dialect is responses");
    expect(1, 1, L("{" M1 ",\"text\":\"hello\"}"), AUTO,
           "a chat body's own \"text\" string is no format");
    expect(1, 1, L("{\"input\":\"x\",\"text\":null}"), AUTO,
           "text null in responses");
    expect(0, 1, L("{\"input\":\"x\",\"text\":{\"format\":\"json\"}}"),
           AUTO, "text.format is a string");
    expect(1, 1, L("{" M1 ",\"tools\":null,\"response_format\":null,"
                   "\"reasoning_effort\":null,\"text\":null}"), AUTO,
           "nulls where allowed");

    /* the shape of the body */

    expect(0, 0, L(""), AUTO, "empty body");
    expect(0, 0, L(" \n\t\r "), AUTO, "white space only");
    expect(0, 1, L("[]"), AUTO, "root array");
    expect(0, 1, L("[{\"messages\":[]}]"), AUTO, "root array of an object");
    expect(0, 0, L("\"x\""), AUTO, "root string");
    expect(0, 0, L("1"), AUTO, "root number");
    expect(0, 0, L("null"), AUTO, "root null");
    expect(0, 0, L("true"), AUTO, "root true");
    expect(0, 0, L("{"), AUTO, "open brace only");
    expect(0, 0, L("{" M1 "} {}"), AUTO, "a second object after the root");
    expect(0, 0, L("{" M1 "}x"), AUTO, "a letter after the root");
    expect(0, 0, L("{" M1 "},"), AUTO, "a comma after the root");
    expect(0, 0, L("{" M1 "}\0"), AUTO, "a NUL byte after the root");
    expect(1, 1, L("\r\n {" M1 "} \n\t"), AUTO,
           "white space around the root");
    expect(0, 1, L("{}"), AUTO, "empty root object");
    expect(0, 1, L("{\"messages\":[]}"), AUTO, "empty messages");
    expect(0, 1, L("{\"input\":[]}"), AUTO, "empty input array");
    expect(1, 1, L("{\"input\":\"\"}"), AUTO, "empty input string");
    expect(0, 1, L("{\"model\":\"m\"}"), AUTO, "neither messages nor input");
    expect(0, 1, L("{" M1 ",\"input\":\"x\"}"), AUTO,
           "both messages and input (auto)");
    expect(1, 1, L("{" M1 ",\"input\":\"x\"}"), CHAT,
           "both messages and input (openai_chat)");
    expect(0, 1, L("{" M1 "}"), RESPONSES,
           "openai_responses without input");
    expect(0, 1, L("{\"input\":\"x\"}"), CHAT, "openai_chat without messages");
    expect(0, 1, L("{\"input\":\"x\"}"), ANTHROPIC,
           "anthropic without messages");
    expect(1, 1, L("{\"input\":\"x\"}"), RESPONSES, "openai_responses input");

    /* the model's length: 127 decoded bytes fit, 128 do not */

    for (n = 126; n <= 129; n++) {
        b.d = NULL;
        b.len = 0;
        b.cap = 0;
        buf_puts(&b, "{" M1 ",\"model\":\"");

        for (i = 0; i < n; i++) {
            buf_puts(&b, i % 2 ? "\\u0041" : "b");
        }

        buf_puts(&b, "\"}");
        snprintf(name, sizeof(name), "a model of %zu bytes (half escaped)", n);
        expect(n < MODEL_LEN, 1, (u_char *) b.d, b.len, AUTO, name);
        free(b.d);
    }

    /* keys of 32 and 33 bytes match nothing, and do not break reading */

    expect(1, 1, L("{" M1 ",\"model_model_model_model_model_mo\":1,"
                   "\"model_model_model_model_model_mod\":1,"
                   "\"messages_messages_messages_messages\":{}}"), AUTO,
           "long keys are skipped");
}


/* the verdict only, for loops */

static int
extract_ok(buf_t *b)
{
    req_t  req;

    return extract((u_char *) b->d, b->len, AUTO, &req) == 0;
}


/* -- nesting -------------------------------------------------------------- */


/* {...M1..., "x": <depth - 1 arrays or objects>} */

static void
nest(buf_t *b, const char *head, size_t levels, int objects, int close,
    const char *tail)
{
    size_t  i;

    b->d = NULL;
    b->len = 0;
    b->cap = 0;

    buf_puts(b, head);

    for (i = 0; i < levels; i++) {
        buf_puts(b, objects ? "{\"a\":" : "[");
    }

    buf_puts(b, "1");

    if (close) {
        for (i = 0; i < levels; i++) {
            buf_puts(b, objects ? "}" : "]");
        }

        buf_puts(b, tail);
    }
}


static void
test_depth(void)
{
    int         rc, want, k;
    char        name[200];
    double      t, worst;
    size_t      depth, i, path;
    buf_t       b;
    req_t       req;
    group_t     g;

    static const struct {
        const char  *head;
        const char  *tail;
        size_t       base;      /* depth of the innermost container */
    }  paths[] = {
        { "{" M1 ",\"x\":", "}", 1 },
        { "{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"x\":",
          "}]}", 3 },
        { "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
          "\"tool_result\",\"content\":[{\"type\":\"text\",\"x\":", "}]}]}]}",
          7 },
        { "{" M1 ",\"tools\":[", "]}", 2 },
        { "{" M1 ",\"response_format\":{\"type\":\"text\",\"x\":", "}}", 2 },
        { "{\"input\":\"x\",\"text\":{\"format\":{\"x\":", "}}}", 3 },
        { "{\"input\":\"x\",\"reasoning\":{\"x\":", "}}", 2 },
        { "{" M1 ",\"thinking\":{\"x\":", "}}", 2 },
        { "{\"system\":[{\"type\":\"text\",\"text\":\"s\",\"x\":", "}]," M1
          "}", 3 }
    };

    memset(&g, 0, sizeof(g));
    g.name = "nesting";

    for (path = 0; path < sizeof(paths) / sizeof(paths[0]); path++) {
        for (k = 0; k < 2; k++) {
            for (depth = MAX_DEPTH - 1; depth <= MAX_DEPTH + 2; depth++) {
                nest(&b, paths[path].head, depth - paths[path].base, k, 1,
                     paths[path].tail);

                rc = extract((u_char *) b.d, b.len, AUTO, &req);
                want = depth <= MAX_DEPTH ? 0 : -1;

                snprintf(name, sizeof(name), "%s %zu deep via %.40s...",
                         want == 0 ? "accept:" : "reject:", depth,
                         paths[path].head);

                if (rc != want) {
                    UNIT_OK(0, "%s (%s)", name, k ? "objects" : "arrays");
                    UNIT_DIAG("  error: %s", req.error ? req.error : "-");

                } else if (path == 0 && (depth == MAX_DEPTH
                                         || depth == MAX_DEPTH + 1))
                {
                    UNIT_OK(1, "%s (%s)", name, k ? "objects" : "arrays");
                }

                (void) check_body(&g, (u_char *) b.d, b.len, AUTO, NULL);
                free(b.d);
            }
        }
    }

    UNIT_OK(g.mismatches == 0, "nesting: 64 deep accepted, 65 rejected on "
            "%zu paths through the extractor (%u bodies, reference agrees)",
            sizeof(paths) / sizeof(paths[0]), g.bodies);

    UNIT_DIAG("known difference: jansson accepts nesting up to 2048 deep, "
              "the extractor refuses more than %d", MAX_DEPTH);

    /* very deep: rejected without crashing, quickly */

    worst = 0;

    for (path = 0; path < sizeof(paths) / sizeof(paths[0]); path++) {
        for (k = 0; k < 4; k++) {
            nest(&b, paths[path].head, 100000, k & 1, k & 2,
                 paths[path].tail);

            t = unit_now();
            rc = extract((u_char *) b.d, b.len, AUTO, &req);
            t = unit_now() - t;
            worst = t > worst ? t : worst;

            UNIT_OK(rc == -1 && req.error != NULL,
                    "reject: 100000 deep %s%s via %.40s...",
                    k & 1 ? "objects" : "arrays", k & 2 ? "" : " (unclosed)",
                    paths[path].head);

            free(b.d);
        }
    }

    b.d = NULL;
    b.len = 0;
    b.cap = 0;

    for (i = 0; i < 100000; i++) {
        buf_putc(&b, '[');
    }

    rc = extract((u_char *) b.d, b.len, AUTO, &req);
    UNIT_OK(rc == -1, "reject: 100000 '[' as the root");
    free(b.d);

    /* a content part nesting tool results 100000 deep */

    b.d = NULL;
    b.len = 0;
    b.cap = 0;
    buf_puts(&b, "{\"messages\":[{\"role\":\"user\",\"content\":");

    for (i = 0; i < 100000; i++) {
        buf_puts(&b, "[{\"type\":\"tool_result\",\"content\":");
    }

    buf_puts(&b, "\"x\"");

    for (i = 0; i < 100000; i++) {
        buf_puts(&b, "}]");
    }

    buf_puts(&b, "}]}");

    t = unit_now();
    rc = extract((u_char *) b.d, b.len, AUTO, &req);
    t = unit_now() - t;
    worst = t > worst ? t : worst;

    UNIT_OK(rc == -1 && req.error != NULL,
            "reject: tool results nested 100000 deep");
    free(b.d);

    UNIT_OK(worst < 1.0, "deep bodies are rejected fast (slowest %.6f s)",
            worst);
}


/* -- 3. the rewriter ------------------------------------------------------ */


static int
splice_match(const u_char *body, size_t len, const u_char *out, size_t olen,
    const cut_t *cut, unsigned n, unsigned k, size_t bpos, size_t opos)
{
    size_t  seg, end, r;

    end = k < n ? cut[k].start : len;
    seg = end - bpos;

    if (opos + seg > olen || memcmp(out + opos, body + bpos, seg) != 0) {
        return 0;
    }

    opos += seg;

    if (k == n) {
        return opos == olen;
    }

    if (cut[k].known) {
        if (opos + cut[k].len > olen
            || memcmp(out + opos, cut[k].data, cut[k].len) != 0)
        {
            return 0;
        }

        return splice_match(body, len, out, olen, cut, n, k + 1, cut[k].end,
                            opos + cut[k].len);
    }

    for (r = 0; opos + r <= olen; r++) {
        if (splice_match(body, len, out, olen, cut, n, k + 1, cut[k].end,
                         opos + r))
        {
            return 1;
        }
    }

    return 0;
}


static const char  *param_names[] = {
    NULL, "reasoning_effort", "reasoning", "thinking"
};


static const char  *edit_efforts[] = { "", "low", "medium", "high" };


/* one edit of one extracted body; returns the number of failed checks */

static unsigned
check_rewrite(group_t *g, const u_char *body, size_t len, int hint,
    const req_t *req, const edit_t *edit)
{
    int                           rc;
    u_char                        quoted[MODEL_LEN + 3];
    size_t                        size, written;
    u_char                       *out;
    json_t                       *in, *res, *v, *want;
    cut_t                         cut[3], tmp;
    req_t                         again;
    unsigned                      n, fails;
    json_error_t                  err;
    const char                   *param;
    const tr_span_t  *span;

    fails = 0;
    mm_len = 0;
    mm_count = 0;

    size = tr_rewrite_size(body, len, req, edit);
    out = malloc(size ? size : 1);
    written = tr_rewrite(body, len, req, edit, out);

    if (written != size) {
        mm("rewrite wrote %zu bytes, rewrite_size said %zu", written, size);
        goto done;
    }

    res = json_loadb((const char *) out, size, JFLAGS, &err);

    if (res == NULL) {
        mm("the rewritten body does not parse: %s (col %d)", err.text,
           err.column);
        goto done;
    }

    /* the model */

    v = json_object_get(res, "model");

    if (!json_is_string(v) || json_string_length(v) != edit->model_len
        || memcmp(json_string_value(v), edit->model, edit->model_len) != 0)
    {
        mm("the rewritten model is not \"%.*s\"", (int) edit->model_len,
           edit->model);
    }

    in = json_loadb((const char *) body, len, JFLAGS, &err);

    /* the reasoning parameter */

    param = param_names[req->dialect];

    if (edit->reasoning) {
        v = json_object_get(res, param);

        switch (req->dialect) {
        case RESPONSES:

            /* the effort merged: the client's other members stay */

            want = json_is_object(json_object_get(in, "reasoning"))
                   ? json_deep_copy(json_object_get(in, "reasoning"))
                   : json_object();
            json_object_set_new(want, "effort",
                                json_string(edit_efforts[edit->reasoning]));

            if (json_object_size(want) > 1) {
                note_reasoning_kept++;
            }

            break;
        case ANTHROPIC:
            want = json_pack("{s:s, s:I}", "type", "enabled",
                             "budget_tokens",
                             (json_int_t) edit->thinking_budget);
            break;
        default:
            want = json_string(edit_efforts[edit->reasoning]);
        }

        if (v == NULL || !json_equal(v, want)) {
            mm("%s is not the tier's value", param);
        }

        json_decref(want);
    }

    /* every other member */

    if (in == NULL) {
        mm("the original body does not parse: %s", err.text);

    } else {
        json_object_del(in, "model");
        json_object_del(res, "model");

        if (edit->reasoning) {
            json_object_del(in, param);
            json_object_del(res, param);
        }

        if (!json_equal(in, res)) {
            mm("the members other than model and %s changed", param);
        }

        json_decref(in);
    }

    json_decref(res);

    /* the bytes: only the spans change, new members go after '{' */

    n = 0;
    cut[n].start = req->root.start + 1;
    cut[n].end = cut[n].start;
    cut[n].known = 0;
    n++;

    if (req->has_model) {
        quoted[0] = '"';
        memcpy(quoted + 1, edit->model, edit->model_len);
        quoted[edit->model_len + 1] = '"';

        cut[n].start = req->model_span.start;
        cut[n].end = req->model_span.end;
        cut[n].data = quoted;
        cut[n].len = edit->model_len + 2;
        cut[n].known = 1;
        n++;
    }

    span = NULL;

    if (edit->reasoning) {
        switch (req->dialect) {
        case RESPONSES:
            span = req->has_reasoning ? &req->reasoning_span : NULL;
            break;
        case ANTHROPIC:
            span = req->has_thinking ? &req->thinking_span : NULL;
            break;
        default:
            span = req->has_reasoning_effort ? &req->reasoning_effort_span
                                             : NULL;
        }
    }

    if (span) {
        cut[n].start = span->start;
        cut[n].end = span->end;
        cut[n].known = 0;
        n++;
    }

    if (n == 3 && cut[2].start < cut[1].start) {
        tmp = cut[1];
        cut[1] = cut[2];
        cut[2] = tmp;
    }

    if (!splice_match(body, len, out, size, cut, n, 0, 0, 0)) {
        mm("bytes outside the edited spans changed");
    }

    /* the extractor reads the result back, and finds the same request */

    rc = extract(out, size, hint, &again);

    if (rc != 0) {
        mm("the rewritten body is rejected: %s", again.error);
        goto done;
    }

    if (check_body(g, out, size, hint, NULL) != 0) {
        mm("the rewritten body: extractor and reference disagree");
    }

    if (again.model_len != edit->model_len
        || memcmp(again.model, edit->model, edit->model_len) != 0)
    {
        mm("the rewritten body's model reads back differently");
    }

    if (again.dialect != req->dialect
        || again.features.total_text != req->features.total_text
        || again.features.messages != req->features.messages
        || again.features.user_turns != req->features.user_turns
        || again.features.tools != req->features.tools
        || again.features.tool_results != req->features.tool_results
        || again.features.images != req->features.images
        || again.features.max_tokens != req->features.max_tokens
        || again.features.stream != req->features.stream
        || again.features.json_output != req->features.json_output
        || again.features.text_len != req->features.text_len
        || again.features.system_len != req->features.system_len
        || memcmp(again.text, req->text, req->features.text_len) != 0
        || memcmp(again.system, req->system, req->features.system_len) != 0)
    {
        mm("the rewritten body's features differ from the original's");
    }

    if (edit->reasoning && req->dialect != ANTHROPIC
        && again.features.reasoning != edit->reasoning
        && !(req->dialect == CHAT && (again.has_reasoning
                                      || again.has_thinking))
        && !(req->dialect == RESPONSES && (again.has_reasoning_effort
                                           || again.has_thinking)))
    {
        mm("the rewritten body's reasoning level is %u, not %u",
           again.features.reasoning, edit->reasoning);
    }

done:

    fails = mm_count;

    if (fails && diag_budget) {
        diag_budget--;
        UNIT_DIAG("rewrite: model \"%.*s\", reasoning %u, dialect %s:",
                  (int) edit->model_len, edit->model, edit->reasoning,
                  tr_dialect_name(req->dialect));
        fputs(mm_buf, stdout);
        diag_body(body, len, req->has_model ? req->model_span.start : 0);
        diag_body(out, size, req->has_model ? req->model_span.start : 0);
        dump_body(body, len);
    }

    free(out);

    return fails;
}


/* a model name as the configuration allows it: no quote, backslash or
 * control character */

static int
plain(const u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == '"' || p[i] == '\\' || p[i] == 0x7f) {
            return 0;
        }
    }

    return len > 0;
}


static void
test_rewrite(void)
{
    int            hint, dialect;
    char          *s;
    size_t         len, i, n, size, w;
    u_char         model[MODEL_LEN], *out;
    const char    *b;
    json_t        *dom, *res, *want;
    req_t          req;
    edit_t         edit;
    group_t        g;
    unsigned       k, bodies, edits, failed, r, empty_bad;
    json_error_t   err;

    memset(&edit, 0, sizeof(edit));
    edit.rename = -1;

    static const char  *chars = "abcdefghijklmnopqrstuvwxyz0123456789-._:/";
    static const size_t  lengths[] = { 1, 2, 5, 12, 31, 64, 100, 127 };

    static const struct {
        const char  *s;
    }  empties[] = {
        { "{}" }, { "{ }" }, { " {\n} " }, { "{\"a\":1}" }, { "{ \"a\" : 1 }" }
    };

    memset(&g, 0, sizeof(g));
    g.name = "rewritten bodies";
    bodies = 0;
    edits = 0;
    failed = 0;

    for (i = 0; i < 450; i++) {
        dialect = 1 + i % 3;
        dom = gen_body(dialect);
        s = serialise(dom, &len);
        json_decref(dom);

        hint = chance(50) ? AUTO : dialect;

        if (extract((u_char *) s, len, hint, &req) != 0) {
            free(s);
            continue;
        }

        bodies++;
        cover_no_model += !req.has_model;
        cover_re += req.has_reasoning_effort;
        cover_reasoning += req.has_reasoning;
        cover_thinking += req.has_thinking;

        for (k = 0; k < 4; k++) {
            n = chance(50) ? lengths[rnd(NELTS(lengths))] : 1 + rnd(127);

            for (r = 0; r < n; r++) {
                model[r] = chars[rnd(strlen(chars))];
            }

            if (n >= 2 && chance(10)) {
                model[0] = 0xc3;            /* e acute, UTF-8 */
                model[1] = 0xa9;
            }

            edit.model = model;
            edit.model_len = n;
            edit.stream_usage = 0;
            edit.logprobs = 0;
            edit.reasoning = k == 0 ? 0 : rnd(4);
            edit.thinking_budget = 1024 + rnd(64000);

            if (k == 3 && req.has_model && plain(req.model, req.model_len)) {
                edit.model = req.model;     /* the same model */
                edit.model_len = req.model_len;
            }

            edits++;

            if (check_rewrite(&g, (u_char *) s, len, hint, &req, &edit)) {
                failed++;
            }
        }

        free(s);
    }

    UNIT_OK(failed == 0, "rewrite: %u edits of %u bodies keep the bytes "
            "outside the spans and every other member, set the model and "
            "the reasoning parameter, and read back (%u failed)", edits,
            bodies, failed);
    UNIT_OK(g.mismatches == 0, "rewrite: the extractor agrees with the "
            "reference on all %u rewritten bodies (%u mismatches)", g.bodies,
            g.mismatches);
    UNIT_DIAG("rewrite coverage: %u bodies without a model, %u with "
              "reasoning_effort, %u with reasoning, %u with thinking",
              cover_no_model, cover_re, cover_reasoning, cover_thinking);

    UNIT_OK(note_reasoning_kept > 0, "rewrite: %u times the client's "
            "other \"reasoning\" members (e.g. \"summary\") were kept "
            "beside the tier's effort", note_reasoning_kept);

    /* an empty root, and roots without a model, built by hand: the
     * extractor refuses them (no messages), the rewriter must not care */

    empty_bad = 0;

    for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
        for (dialect = CHAT; dialect <= ANTHROPIC; dialect++) {
            for (r = 0; r <= 3; r++) {
                b = empties[i].s;
                len = strlen(b);

                memset(&req, 0, sizeof(req));
                req.dialect = dialect;
                req.root.start = strchr(b, '{') - b;
                req.root.end = strrchr(b, '}') - b + 1;
                req.root_members = strchr(b, ':') ? 1 : 0;

                edit.model = (const u_char *) "tier-model";
                edit.model_len = 10;
                edit.stream_usage = 0;
                edit.logprobs = 0;
                edit.reasoning = r;
                edit.thinking_budget = 8192;

                size = tr_rewrite_size((const u_char *) b,
                                       len, &req, &edit);
                out = malloc(size);
                w = tr_rewrite((const u_char *) b, len,
                               &req, &edit, out);

                res = json_loadb((const char *) out, w, JFLAGS, &err);
                want = json_loadb(b, len, 0, &err);
                json_object_set_new(want, "model", json_string("tier-model"));

                if (r) {
                    json_object_set_new(want, param_names[dialect],
                        dialect == RESPONSES
                        ? json_pack("{s:s}", "effort", edit_efforts[r])
                        : dialect == ANTHROPIC
                        ? json_pack("{s:s, s:i}", "type", "enabled",
                                    "budget_tokens", 8192)
                        : json_string(edit_efforts[r]));
                }

                if (w != size || res == NULL || !json_equal(res, want)
                    || memcmp(out, b, req.root.start + 1) != 0
                    || memcmp(out + w - (len - req.root.start - 1),
                              b + req.root.start + 1,
                              len - req.root.start - 1) != 0)
                {
                    if (empty_bad++ < 3) {
                        UNIT_DIAG("rewrite of '%s' (%s, reasoning %u): "
                                  "'%.*s'", b,
                                  tr_dialect_name(dialect),
                                  r, (int) w, out);
                    }
                }

                json_decref(res);
                json_decref(want);
                free(out);
            }
        }
    }

    UNIT_OK(empty_bad == 0, "rewrite: {} and roots without a model get the "
            "model (and reasoning) inserted after '{' (%u failed)",
            empty_bad);
}


/* "thinking": null is replaced by a tier's block, never doubled */

static void
test_rewrite_null_thinking(void)
{
    int           rc;
    size_t        size, w;
    u_char       *out;
    json_t       *res, *th;
    req_t         req;
    json_error_t  err;
    edit_t        edit;
    const char   *b;

    memset(&edit, 0, sizeof(edit));
    edit.rename = -1;

    b = "{\"model\":\"auto\",\"thinking\":null,\"max_tokens\":20000,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    req.dialect = ANTHROPIC;
    rc = tr_extract((const u_char *) b, strlen(b), &req);

    UNIT_OK(rc == 0 && req.has_thinking,
            "rewrite: \"thinking\": null is accepted and its span kept");

    memset(&edit, 0, sizeof(edit_t));
    edit.model = (const u_char *) "big";
    edit.model_len = 3;
    edit.reasoning = 3;
    edit.thinking_budget = 8192;

    size = tr_rewrite_size((const u_char *) b, strlen(b),
                           &req, &edit);
    out = malloc(size);
    w = tr_rewrite((const u_char *) b, strlen(b), &req,
                   &edit, out);

    res = json_loadb((const char *) out, w,
                     JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    th = res ? json_object_get(res, "thinking") : NULL;

    UNIT_OK(res != NULL && json_is_object(th)
            && json_integer_value(json_object_get(th, "budget_tokens"))
               == 8192,
            "rewrite: a null \"thinking\" becomes the tier's block, once "
            "('%.*s')", (int) w, out);

    json_decref(res);
    free(out);
}


/*
 * accounting asks a chat stream for its usage chunk: include_usage ends up
 * true exactly once, and every other member of stream_options is kept
 */

static void
test_rewrite_stream_usage(void)
{
    int           rc, ok;
    size_t        size, w, i;
    u_char       *out;
    json_t       *res, *so;
    req_t         req;
    json_error_t  err;
    edit_t        edit;
    const char   *b;

    memset(&edit, 0, sizeof(edit));
    edit.rename = -1;

#define TR_MSGS  "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

    static const char  *cases[][2] = {
        { "{\"model\":\"a\",\"stream\":true," TR_MSGS "}", "0" },
        { "{\"model\":\"a\",\"stream_options\":{\"include_usage\":false},"
          TR_MSGS "}", "0" },
        { "{\"model\":\"a\",\"stream_options\":{ }," TR_MSGS "}", "0" },
        { "{\"model\":\"a\",\"stream_options\":null," TR_MSGS "}", "0" },
        { "{\"model\":\"a\",\"stream_options\":{\"x\":false},"
          TR_MSGS "}", "x" },
        { "{\"model\":\"a\",\"stream_options\":{\"x\":1,"
          "\"include_usage\":null}," TR_MSGS "}", "x" },
        { "{\"model\":\"a\",\"stream_options\":{\"include_usage\":true},"
          TR_MSGS "}", "0" },
        { "{" TR_MSGS "}", "0" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&req, 0, sizeof(req_t));
        req.dialect = CHAT;
        rc = tr_extract((const u_char *) cases[i][0],
                        strlen(cases[i][0]), &req);

        memset(&edit, 0, sizeof(edit_t));
        edit.model = (const u_char *) "small";
        edit.model_len = 5;
        edit.stream_usage = 1;

        size = tr_rewrite_size((const u_char *) cases[i][0],
                               strlen(cases[i][0]), &req,
                               &edit);
        out = malloc(size);
        w = tr_rewrite((const u_char *) cases[i][0],
                       strlen(cases[i][0]), &req, &edit,
                       out);

        res = json_loadb((const char *) out, w, JSON_REJECT_DUPLICATES, &err);
        so = res ? json_object_get(res, "stream_options") : NULL;

        ok = rc == 0 && w == size && json_is_object(so)
             && json_is_true(json_object_get(so, "include_usage"))
             && json_object_size(so) == (cases[i][1][0] == 'x' ? 2u : 1u)
             && json_is_string(json_object_get(res, "model"));

        UNIT_OK(ok, "rewrite: stream usage asked for in '%s': '%.*s'",
                cases[i][0], (int) w, out);

        json_decref(res);
        free(out);
    }

    b = "{\"stream_options\":{\"include_usage\":1}}";
    rc = tr_extract((const u_char *) b, strlen(b), &req);

    UNIT_OK(rc != 0 && strstr(req.error, "include_usage") != NULL,
            "extract: a non-boolean include_usage is refused (%s)",
            rc ? req.error : "accepted");

    b = "{\"stream_options\":{\"include_usage\":true,"
        "\"include_usage\":true}}";
    rc = tr_extract((const u_char *) b, strlen(b), &req);

    UNIT_OK(rc != 0, "extract: a duplicate include_usage is refused");
}


/*
 * escalation asks a chat answer for its logprobs: "logprobs" ends up true
 * exactly once; a client's own non-boolean value is left for the upstream
 */

static void
test_rewrite_logprobs(void)
{
    int           rc, ok;
    size_t        size, w, i;
    u_char       *out;
    json_t       *res;
    req_t         req;
    edit_t        edit;
    const char   *b;

    memset(&edit, 0, sizeof(edit));
    edit.rename = -1;

    static const char  *cases[][2] = {
        { "{\"model\":\"a\"," TR_MSGS "}", "t" },
        { "{\"model\":\"a\",\"logprobs\":false," TR_MSGS "}", "t" },
        { "{\"logprobs\":null,\"model\":\"a\"," TR_MSGS "}", "t" },
        { "{\"model\":\"a\",\"logprobs\":true," TR_MSGS "}", "t" },
        { "{\"model\":\"a\",\"logprobs\":1," TR_MSGS "}", "1" },
        { "{" TR_MSGS "}", "t" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&req, 0, sizeof(req_t));
        req.dialect = CHAT;
        rc = tr_extract((const u_char *) cases[i][0],
                        strlen(cases[i][0]), &req);

        memset(&edit, 0, sizeof(edit_t));
        edit.model = (const u_char *) "small";
        edit.model_len = 5;
        edit.logprobs = !req.logprobs;

        size = tr_rewrite_size((const u_char *) cases[i][0],
                               strlen(cases[i][0]), &req,
                               &edit);
        out = malloc(size);
        w = tr_rewrite((const u_char *) cases[i][0],
                       strlen(cases[i][0]), &req, &edit,
                       out);

        res = json_loadb((const char *) out, w, JSON_REJECT_DUPLICATES, NULL);

        ok = rc == 0 && w == size && res != NULL
             && (cases[i][1][0] == 't'
                 ? json_is_true(json_object_get(res, "logprobs"))
                 : json_integer_value(json_object_get(res, "logprobs")) == 1)
             && json_is_string(json_object_get(res, "model"));

        UNIT_OK(ok, "rewrite: logprobs asked for in '%s': '%.*s'",
                cases[i][0], (int) w, out);

        json_decref(res);
        free(out);
    }

    b = "{\"logprobs\":true,\"logprobs\":false}";
    rc = tr_extract((const u_char *) b, strlen(b), &req);

    UNIT_OK(rc != 0, "extract: a duplicate logprobs is refused");
}


/*
 * a key with an escaped NUL, which a reader that stops at the NUL would
 * take for another (found by fuzz/fuzz_extract.c, where jansson refuses
 * such keys): refused where the extractor reads keys
 */

static void
test_nul_key(void)
{
    int          rc;
    size_t       i;
    req_t        req;

    static const char  *bodies[] = {
        "{\"model\\u0000x\":\"a\",\"messages\":[]}",
        "{\"model\":\"a\",\"messages\":[{\"role\":\"user\","
        "\"content\":\"hi\",\"role\\u0000\":\"system\"}]}",
        "{\"\\u0000\":1,\"messages\":[]}",
    };

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        memset(&req, 0, sizeof(req_t));
        rc = tr_extract((const u_char *) bodies[i],
                        strlen(bodies[i]), &req);

        UNIT_OK(rc != 0 && strstr(req.error, "NUL") != NULL,
                "extract: a key with \\u0000 is refused in '%s' (%s)",
                bodies[i], rc ? req.error : "accepted");
    }
}


/* the output limit each dialect reads, as admission reserves it */

static void
test_limits(void)
{
    int     rc;
    size_t  i;
    req_t   req;

    static const struct {
        int          hint;
        const char  *body;
        long         want;
    } cases[] = {
        { CHAT, "{" M1 ",\"max_tokens\":9}", 9 },
        { CHAT, "{" M1 ",\"max_completion_tokens\":5}", 5 },
        { CHAT, "{" M1 ",\"max_tokens\":null,\"max_completion_tokens\":5}",
          5 },
        { CHAT, "{" M1 "}", -1 },
        { ANTHROPIC, "{" M1 ",\"max_tokens\":1000}", 1000 },
        { RESPONSES, "{\"input\":\"x\",\"max_output_tokens\":42}", 42 },
        { AUTO, "{\"input\":\"x\"}", -1 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = extract((const u_char *) cases[i].body, strlen(cases[i].body),
                     cases[i].hint, &req);

        UNIT_OK(rc == 0 && req.features.max_tokens == cases[i].want,
                "limits: %s reads %ld (%ld)", cases[i].body, cases[i].want,
                req.features.max_tokens);
    }
}


/* -- 4. speed ------------------------------------------------------------- */


static void
test_speed(void)
{
    int           rc;
    char         *s;
    size_t        len, iters, i;
    double        t, ext_mbs, jan_mbs;
    json_t       *dom, *j;
    req_t         req;
    buf_t         b;
    json_error_t  err;

    gen_ascii = 1;

    b.d = NULL;
    b.len = 0;
    b.cap = 0;
    gen_text(&b, 1000);
    dom = json_pack("{s:s, s:[{s:s, s:s%}], s:i, s:f}", "model", "auto",
                    "messages", "role", "system", "content", b.d, b.len,
                    "max_tokens", 1024, "temperature", 0.2);
    free(b.d);

    for (i = 0; i < 3; i++) {
        b.d = NULL;
        b.len = 0;
        b.cap = 0;
        gen_text(&b, 2600);
        json_array_append_new(json_object_get(dom, "messages"),
                              json_pack("{s:s, s:s%}", "role",
                                        i == 1 ? "assistant" : "user",
                                        "content", b.d, b.len));
        free(b.d);
    }

    gen_ascii = 0;

    s = json_dumps(dom, JSON_COMPACT);
    len = strlen(s);
    json_decref(dom);

    rc = extract((u_char *) s, len, AUTO, &req);
    UNIT_OK(rc == 0, "speed: the %zu-byte chat body is accepted", len);

    iters = 0;
    t = unit_now();

    do {
        for (i = 0; i < 1000; i++) {
            req.dialect = AUTO;
            rc |= tr_extract((u_char *) s, len, &req);
        }

        iters += 1000;

    } while (unit_now() - t < 0.5);

    t = unit_now() - t;
    ext_mbs = iters * len / t / 1e6;

    iters = 0;
    t = unit_now();

    do {
        for (i = 0; i < 100; i++) {
            j = json_loadb(s, len, 0, &err);
            json_decref(j);
        }

        iters += 100;

    } while (unit_now() - t < 0.5);

    t = unit_now() - t;
    jan_mbs = iters * len / t / 1e6;

    UNIT_DIAG("speed on a %zu-byte chat body: extractor %.0f MB/s, jansson "
              "json_loadb %.0f MB/s, ratio %.1fx", len, ext_mbs, jan_mbs,
              ext_mbs / jan_mbs);

    free(s);
}


int
main(int argc, char **argv)
{
    const char  *dir;

    dir = argc > 1 ? argv[1] : getenv("TIER_ROUTER_DATA");

    if (dir && *dir == '\0') {
        dir = NULL;
    }

    test_generated();
    test_prompts(dir);
    test_truncations();
    test_corruptions();
    test_invalid();
    test_depth();
    test_rewrite();
    test_rewrite_null_thinking();
    test_rewrite_stream_usage();
    test_rewrite_logprobs();
    test_nul_key();
    test_limits();
    test_speed();

    return unit_done();
}
