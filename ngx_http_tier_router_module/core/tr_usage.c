
/*
 * Copyright (C) The tier router authors
 *
 * The usage reader.  An incremental JSON tokenizer that keeps, per open
 * container up to TR_USAGE_DEPTH, only the role of that
 * container (the root, a "response" or "message" wrapper, a usage object,
 * its details objects, the root's "choices" array), and deeper containers
 * are only counted over.  In SSE mode a line parser in front of it feeds
 * it the data of each event as a document of its own.  Malformed JSON
 * stops the document where it breaks; what it had read stays.
 */


#include <string.h>
#include "tr_dialect.h"
#include "tr_strscan.h"
#include "tr_usage.h"


/* a key or a value this long is looked for by words first */

#define TR_USAGE_SHORT    32

#define TR_USAGE_BYTES(c)  (0x0101010101010101ULL * (c))


/* JSON tokenizer states */

#define TR_J_VALUE        0
#define TR_J_KEY          1     /* a key or '}' */
#define TR_J_COLON        2
#define TR_J_AFTER        3     /* ',' or the container's end */
#define TR_J_STRING       4
#define TR_J_ESC          5
#define TR_J_UNICODE      6
#define TR_J_NUMBER       7
#define TR_J_LITERAL      8
#define TR_J_SKIP         9     /* inside containers beyond ctx */
#define TR_J_END          10    /* the top-level value is complete */
#define TR_J_ERROR        11

/* SSE line parser states */

#define TR_S_START        0     /* at the start of a line */
#define TR_S_FIELD        1     /* in a field name */
#define TR_S_SPACE        2     /* right after "data:" */
#define TR_S_DATA         3
#define TR_S_IGNORE       4     /* a comment or another field */
#define TR_S_CR           5     /* a line ended with '\r': skip a '\n' */

/* flags: the string in progress, the number, and the document */

#define TR_F_KEY          0x0001
#define TR_F_CAPTURE      0x0002    /* into key[] */
#define TR_F_TEXT         0x0004    /* counted as generated text */
#define TR_F_BAD_NUMBER   0x0008
#define TR_F_TERMINAL     0x0010    /* a terminal root "type" */
#define TR_F_USAGE_OBJECT 0x0020    /* a root "usage" object */
#define TR_F_CHOICES_NEW  0x0040    /* the root "choices" array just began */
#define TR_F_CHOICES_NONE 0x0080    /* ... and ended empty */
#define TR_F_DATA         0x0100    /* the event has had a data line */
#define TR_F_MODEL        0x0200    /* the captured string is the model */
#define TR_F_ID           0x0400    /* ... the answer's id */
#define TR_F_TIER         0x0800    /* ... its service tier */
#define TR_F_MINUS        0x1000    /* a number with a sign: only -0 */

/* roles of the containers in ctx[] */

#define TR_R_NONE         0
#define TR_R_ROOT         1
#define TR_R_WRAP         2     /* root "response" or "message" */
#define TR_R_USAGE        3
#define TR_R_IN_DETAILS   4
#define TR_R_OUT_DETAILS  5
#define TR_R_CHOICES      6
#define TR_R_CACHE_CREATE 7     /* usage.cache_creation */
#define TR_R_SERVER_TOOLS 8     /* usage.server_tool_use */
#define TR_R_ARRAY        0x80

/* raw counts */

#define TR_IN             0
#define TR_OUT            1
#define TR_CACHED         2
#define TR_CACHE_READ     3
#define TR_CACHE_WRITE    4
#define TR_REASONING      5
#define TR_CACHE_5M       6
#define TR_CACHE_1H       7
#define TR_WEB_SEARCH     8
#define TR_WEB_FETCH      9
#define TR_CACHE_WRITE_OA 10    /* OpenAI's cache_write_tokens: in input */
#define TR_RAW            11

/* keys: the index in tr_usage_keys[] plus 1 */

#define TR_K_USAGE        1
#define TR_K_RESPONSE     2
#define TR_K_MESSAGE      3
#define TR_K_CHOICES      4
#define TR_K_TYPE         5
#define TR_K_PROMPT_DET   14
#define TR_K_INPUT_DET    15
#define TR_K_COMPL_DET    16
#define TR_K_OUTPUT_DET   17
#define TR_K_CACHE_CREATE 23
#define TR_K_SERVER_TOOLS 24
#define TR_K_SERVICE_TIER 25
#define TR_K_MODEL        26
#define TR_K_ID           27
#define TR_K_TEXT         28    /* and all after it */


static void tr_usage_json(
    tr_usage_parser_t *p, const unsigned char *data,
    size_t len);
static void tr_usage_value(
    tr_usage_parser_t *p, unsigned char c);
static void tr_usage_push(
    tr_usage_parser_t *p, unsigned char c);
static void tr_usage_pop(
    tr_usage_parser_t *p, unsigned char c);
static void tr_usage_string_end(
    tr_usage_parser_t *p);
static void tr_usage_number_end(
    tr_usage_parser_t *p);
static void tr_usage_value_end(
    tr_usage_parser_t *p);
static void tr_usage_capture(
    tr_usage_parser_t *p, const unsigned char *s,
    size_t n);
static unsigned tr_usage_hash(const unsigned char *key, size_t len);
static void tr_usage_index_init(void);
static inline unsigned tr_usage_key(const unsigned char *key,
    size_t len);
static int tr_usage_hex(unsigned char c);
static int tr_usage_tier(const unsigned char *s, size_t len);
static void tr_usage_data(
    tr_usage_parser_t *p, const unsigned char *data,
    size_t len);
static void tr_usage_data_line(
    tr_usage_parser_t *p);
static void tr_usage_event_end(
    tr_usage_parser_t *p);
static const unsigned char *tr_usage_scan(
    const unsigned char *p, const unsigned char *end, unsigned char a,
    unsigned char b);
static const unsigned char *tr_usage_string_stop(const unsigned char *p,
    const unsigned char *end, const unsigned char **quote);
static inline const unsigned char *tr_usage_quote(const unsigned char *p,
    const unsigned char *end, size_t n);
static inline int tr_usage_same(const unsigned char *a,
    const unsigned char *b, size_t len);


/* the keys, and for a count, the object it is in and where it goes */

typedef struct {
    const char                  *name;
    unsigned char                role;
    unsigned char                slot;
} tr_usage_key_t;


static tr_usage_key_t  tr_usage_keys[] = {
    { "usage", 0, 0 },
    { "response", 0, 0 },
    { "message", 0, 0 },
    { "choices", 0, 0 },
    { "type", 0, 0 },
    { "prompt_tokens", TR_R_USAGE, TR_IN },
    { "input_tokens", TR_R_USAGE, TR_IN },
    { "completion_tokens", TR_R_USAGE, TR_OUT },
    { "output_tokens", TR_R_USAGE, TR_OUT },
    { "cache_read_input_tokens", TR_R_USAGE, TR_CACHE_READ },
    { "cache_creation_input_tokens", TR_R_USAGE, TR_CACHE_WRITE },
    { "cached_tokens", TR_R_IN_DETAILS, TR_CACHED },
    { "reasoning_tokens", TR_R_OUT_DETAILS, TR_REASONING },
    { "prompt_tokens_details", 0, 0 },
    { "input_tokens_details", 0, 0 },
    { "completion_tokens_details", 0, 0 },
    { "output_tokens_details", 0, 0 },
    { "cache_write_tokens", TR_R_IN_DETAILS, TR_CACHE_WRITE_OA },
    { "ephemeral_5m_input_tokens", TR_R_CACHE_CREATE, TR_CACHE_5M },
    { "ephemeral_1h_input_tokens", TR_R_CACHE_CREATE, TR_CACHE_1H },
    { "web_search_requests", TR_R_SERVER_TOOLS, TR_WEB_SEARCH },
    { "web_fetch_requests", TR_R_SERVER_TOOLS, TR_WEB_FETCH },
    { "cache_creation", 0, 0 },
    { "server_tool_use", 0, 0 },
    { "service_tier", 0, 0 },
    { "model", 0, 0 },
    { "id", 0, 0 },
    { "content", 0, 0 },
    { "text", 0, 0 },
    { "delta", 0, 0 },
    { "thinking", 0, 0 },
    { "partial_json", 0, 0 },
    { "arguments", 0, 0 },
    { "refusal", 0, 0 },
    { "output_text", 0, 0 },
    { NULL, 0, 0 }
};


static const char  *tr_usage_terminal[] = {
    "response.completed", "response.incomplete", "response.failed",
    "message_stop", NULL
};


static const char  *tr_usage_literals[] = {
    "true", "false", "null"
};


/* pairs: an escape's letter and the character it stands for */

static const char  tr_usage_escapes[] =
    "\"\"\\\\//b\bf\fn\nr\rt\t";


void
tr_usage_init(tr_usage_parser_t *p,
    int dialect, int sse)
{
    int  i;

    memset(p, 0, sizeof(tr_usage_parser_t));

    p->dialect = dialect;
    p->sse = sse ? 1 : 0;

    for (i = 0; i < TR_RAW; i++) {
        p->raw[i] = -1;
    }
}


void
tr_usage_none(tr_usage_t *u)
{
    u->input = -1;
    u->output = -1;
    u->cached = -1;
    u->cache_write = -1;
    u->cache_write_1h = -1;
    u->reasoning = -1;
    u->web_search = -1;
    u->web_fetch = -1;
    u->service_tier = TR_SERVICE_DEFAULT;
}


size_t
tr_usage_feed(tr_usage_parser_t *p,
    const unsigned char *data, size_t len)
{
    unsigned char         c;
    const unsigned char  *pos, *end, *q;

    p->event_end = 0;
    p->usage_only = 0;
    p->feed_base = data;

    if (!p->sse) {
        tr_usage_json(p, data, len);
        p->bytes += len;
        return len;
    }

    pos = data;
    end = data + len;

    while (pos < end) {
        c = *pos;

        switch (p->sse_state) {

        case TR_S_CR:
            if (c == '\n') {
                pos++;
            }

            p->sse_state = TR_S_START;
            continue;

        case TR_S_START:
            if (c == '\r' || c == '\n') {

                /* a blank line: the event ends after it */

                pos++;
                p->sse_state = TR_S_START;

                if (c == '\r') {
                    if (pos == end) {
                        p->sse_state = TR_S_CR;

                    } else if (*pos == '\n') {
                        pos++;
                    }
                }

                tr_usage_event_end(p);
                p->bytes += pos - data;
                return pos - data;
            }

            if (c == ':') {
                p->sse_state = TR_S_IGNORE;
                pos++;
                continue;
            }

            p->field = 0;
            p->sse_state = TR_S_FIELD;
            continue;

        case TR_S_FIELD:
            if (c == '\r' || c == '\n') {
                if (p->field == 4) {
                    tr_usage_data_line(p);
                }

                break;
            }

            pos++;

            if (c == ':') {
                if (p->field == 4) {
                    tr_usage_data_line(p);
                    p->sse_state = TR_S_SPACE;

                } else {
                    p->sse_state = TR_S_IGNORE;
                }

            } else if (p->field < 4 && c == "data"[p->field]) {
                p->field++;

            } else {
                p->field = 5;
            }

            continue;

        case TR_S_SPACE:
            p->sse_state = TR_S_DATA;

            if (c == ' ') {
                pos++;
            }

            continue;

        default: /* TR_S_DATA, TR_S_IGNORE */
            q = tr_usage_scan(pos, end, '\n', '\r');

            if (p->sse_state == TR_S_DATA) {
                tr_usage_data(p, pos, q - pos);
            }

            pos = q;

            if (pos == end) {
                continue;
            }

            c = *pos;
            break;
        }

        /* the end of a non-blank line */

        pos++;
        p->sse_state = (c == '\r') ? TR_S_CR : TR_S_START;
    }

    p->bytes += len;

    return len;
}


int
tr_usage_result(
    const tr_usage_parser_t *p,
    tr_usage_t *u)
{
    int             anthropic;
    const int64_t  *raw;

    if (!p->seen) {
        return -1;
    }

    raw = p->raw;

    /* without a dialect, Anthropic's cache fields tell its counting */

    anthropic = (p->dialect == TR_ANTHROPIC)
                || (p->dialect != TR_OPENAI_CHAT
                    && p->dialect != TR_OPENAI_RESPONSES
                    && (raw[TR_CACHE_READ] >= 0 || raw[TR_CACHE_WRITE] >= 0));

    u->output = raw[TR_OUT];
    u->reasoning = raw[TR_REASONING];
    u->cache_write = raw[TR_CACHE_WRITE];
    u->cache_write_1h = raw[TR_CACHE_1H];
    u->web_search = raw[TR_WEB_SEARCH];
    u->web_fetch = raw[TR_WEB_FETCH];
    u->service_tier = p->service_tier;

    /* the writes as a total, or only as their 5-minute and 1-hour parts */

    if (u->cache_write < 0 && (raw[TR_CACHE_5M] >= 0 || raw[TR_CACHE_1H] >= 0))
    {
        u->cache_write = (raw[TR_CACHE_5M] > 0 ? raw[TR_CACHE_5M] : 0)
                         + (raw[TR_CACHE_1H] > 0 ? raw[TR_CACHE_1H] : 0);
    }

    if (anthropic) {
        /* Anthropic's input_tokens leaves out cache reads and writes */

        u->input = raw[TR_IN];

        if (u->input >= 0) {
            u->input += (raw[TR_CACHE_READ] > 0 ? raw[TR_CACHE_READ] : 0)
                        + (u->cache_write > 0 ? u->cache_write : 0);
        }

        u->cached = raw[TR_CACHE_READ] >= 0 ? raw[TR_CACHE_READ]
                                            : raw[TR_CACHED];

    } else {
        u->input = raw[TR_IN];
        u->cached = raw[TR_CACHED] >= 0 ? raw[TR_CACHED]
                                        : raw[TR_CACHE_READ];

        /* OpenAI's cache writes are a part of its input count */

        u->cache_write = raw[TR_CACHE_WRITE_OA];
    }

    return 0;
}


static void
tr_usage_json(tr_usage_parser_t *p,
    const unsigned char *data, size_t len)
{
    int                   v;
    size_t                i;
    unsigned char         c;
    const char           *lit;
    const unsigned char  *pos, *end, *q, *quote;

    pos = data;
    end = data + len;
    quote = data;

    while (pos < end) {

        if (p->state == TR_J_STRING) {

            q = tr_usage_string_stop(pos, end, &quote);

            if (p->flags & TR_F_TEXT) {
                p->text_bytes += q - pos;
            }

            if (p->flags & TR_F_CAPTURE) {
                tr_usage_capture(p, pos, q - pos);
            }

            if (q == end) {
                return;
            }

            pos = q + 1;

            if (*q == '"') {
                tr_usage_string_end(p);

                /* a key's colon, as written without white space */

                if (p->state == TR_J_COLON && pos < end && *pos == ':') {
                    p->state = TR_J_VALUE;
                    pos++;
                }

            } else {
                p->state = TR_J_ESC;
                p->text_bytes += (p->flags & TR_F_TEXT) ? 1 : 0;
            }

            continue;
        }

        c = *pos;

        switch (p->state) {

        case TR_J_VALUE:
        case TR_J_KEY:
        case TR_J_COLON:
        case TR_J_AFTER:
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                break;
            }

            if (p->state == TR_J_VALUE) {
                tr_usage_value(p, c);

            } else if (p->state == TR_J_KEY && c == '"') {
                p->flags = (p->flags & ~TR_F_TEXT) | TR_F_KEY | TR_F_CAPTURE;
                p->key_len = 0;
                p->state = TR_J_STRING;

                /*
                 * A short key without escapes that ends in this buffer,
                 * as nearly all do, is looked up where it is, not copied;
                 * nothing reads the key's copy after the lookup.
                 */

                q = tr_usage_quote(pos + 1, end, TR_USAGE_SHORT);

                if (q == NULL || q == end || *q != '"') {
                    break;
                }

                p->key_len = q - (pos + 1);
                p->key_id = tr_usage_key(pos + 1, p->key_len);
                p->state = TR_J_COLON;

                pos = q + 1;

                if (pos < end && *pos == ':') {
                    p->state = TR_J_VALUE;
                    pos++;
                }

                continue;

            } else if (p->state == TR_J_COLON && c == ':') {
                p->state = TR_J_VALUE;

            } else if (p->state == TR_J_AFTER && c == ',') {
                p->state = (p->ctx[p->depth - 1] & TR_R_ARRAY) ? TR_J_VALUE
                                                                : TR_J_KEY;

            } else if ((p->state == TR_J_KEY && c == '}')
                       || (p->state == TR_J_AFTER && (c == '}' || c == ']')))
            {
                /* where the answer's usage object ends, for a report */

                if (c == '}' && p->ctx[p->depth - 1] == TR_R_USAGE) {
                    p->usage_closed = 1;
                    p->usage_empty = (p->state == TR_J_KEY);
                    p->usage_end = p->bytes + (pos - p->feed_base);
                }

                tr_usage_pop(p, c);

            } else {
                p->state = TR_J_ERROR;
            }

            break;

        case TR_J_ESC:
            p->text_bytes += (p->flags & TR_F_TEXT) ? 1 : 0;
            p->state = TR_J_STRING;

            if (c == 'u') {
                p->number = 0;
                p->ndigits = 0;
                p->state = TR_J_UNICODE;
                break;
            }

            for (i = 0; tr_usage_escapes[i]; i += 2) {
                if (c == (unsigned char) tr_usage_escapes[i])
                {
                    break;
                }
            }

            if (tr_usage_escapes[i] == '\0') {
                p->state = TR_J_ERROR;
                break;
            }

            if (p->flags & TR_F_CAPTURE) {
                c = tr_usage_escapes[i + 1];
                tr_usage_capture(p, &c, 1);
            }

            break;

        case TR_J_UNICODE:
            v = tr_usage_hex(c);

            if (v < 0) {
                p->state = TR_J_ERROR;
                break;
            }

            p->text_bytes += (p->flags & TR_F_TEXT) ? 1 : 0;
            p->number = p->number * 16 + v;

            if (++p->ndigits < 4) {
                break;
            }

            p->state = TR_J_STRING;

            if (p->flags & TR_F_CAPTURE) {
                /* no key we look for has a character beyond ASCII */
                c = (p->number < 0x80) ? (unsigned char) p->number : 0xff;
                tr_usage_capture(p, &c, 1);
            }

            break;

        case TR_J_NUMBER:
            if (c >= '0' && c <= '9') {

                /* the digits in this buffer, in one loop */

                do {
                    if (p->ndigits < 16) {
                        p->number = p->number * 10 + (c - '0');
                        p->ndigits++;
                    }

                    if (++pos == end) {
                        break;
                    }

                    c = *pos;

                } while (c >= '0' && c <= '9');

                continue;

            } else if (c == '.' || c == 'e' || c == 'E' || c == '+'
                       || c == '-')
            {
                p->flags |= TR_F_BAD_NUMBER;

            } else {
                /* the byte after the number is read again */
                tr_usage_number_end(p);
                continue;
            }

            break;

        case TR_J_LITERAL:
            lit = tr_usage_literals[p->number];

            if (c != (unsigned char) lit[p->ndigits]) {
                p->state = TR_J_ERROR;

            } else if (lit[++p->ndigits] == '\0') {
                tr_usage_value_end(p);
            }

            break;

        case TR_J_SKIP:
            if (c == '"') {
                p->flags &= ~(TR_F_KEY | TR_F_CAPTURE | TR_F_TEXT);
                p->state = TR_J_STRING;

            } else if (c == '{' || c == '[') {
                if (++p->skip == 0) {
                    p->state = TR_J_ERROR;
                }

            } else if ((c == '}' || c == ']') && --p->skip == 0) {
                tr_usage_value_end(p);
            }

            break;

        default: /* TR_J_END, TR_J_ERROR: the rest is ignored */
            return;
        }

        pos++;
    }
}


/* the first byte of a value, or ']' after '[' or a trailing ',' */

static void
tr_usage_value(tr_usage_parser_t *p,
    unsigned char c)
{
    if (c == ']' && p->depth && (p->ctx[p->depth - 1] & TR_R_ARRAY)) {
        tr_usage_pop(p, c);
        return;
    }

    p->flags &= ~TR_F_CHOICES_NEW;

    switch (c) {

    case '"':
        p->flags &= ~(TR_F_KEY | TR_F_CAPTURE | TR_F_TEXT | TR_F_MODEL
                      | TR_F_ID | TR_F_TIER);

        if (p->key_id >= TR_K_TEXT) {
            p->flags |= TR_F_TEXT;

        } else if (p->key_id == TR_K_TYPE && p->depth == 1) {
            p->flags |= TR_F_CAPTURE;
            p->key_len = 0;

        } else if (p->key_id == TR_K_MODEL && p->model_len == 0
                   && (p->depth == 1
                       || (p->depth == 2
                           && (p->ctx[1] & ~TR_R_ARRAY) == TR_R_WRAP)))
        {
            /* the model that answered: the root's, or its wrapper's */
            p->flags |= TR_F_CAPTURE | TR_F_MODEL;
            p->key_len = 0;

        } else if (p->key_id == TR_K_ID && p->id_len == 0
                   && (p->depth == 1
                       || (p->depth == 2
                           && (p->ctx[1] & ~TR_R_ARRAY) == TR_R_WRAP)))
        {
            /* the answer's id (resp_..., msg_...), as the model's */
            p->flags |= TR_F_CAPTURE | TR_F_ID;
            p->key_len = 0;

        } else if (p->key_id == TR_K_SERVICE_TIER
                   && (p->depth == 1
                       || (p->depth && (p->ctx[p->depth - 1] == TR_R_USAGE
                                        || p->ctx[p->depth - 1]
                                           == TR_R_WRAP))))
        {
            /* the tier it ran on: the root's, the wrapper's, the usage's */
            p->flags |= TR_F_CAPTURE | TR_F_TIER;
            p->key_len = 0;
        }

        p->state = TR_J_STRING;
        return;

    case '{':
    case '[':
        tr_usage_push(p, c);
        return;

    case 't':
    case 'f':
    case 'n':
        p->number = (c == 't') ? 0 : (c == 'f') ? 1 : 2;
        p->ndigits = 1;
        p->state = TR_J_LITERAL;
        return;

    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            p->flags &= ~(TR_F_BAD_NUMBER | TR_F_MINUS);
            p->flags |= (c == '-') ? TR_F_MINUS : 0;
            p->number = (c == '-') ? 0 : c - '0';
            p->ndigits = (c == '-') ? 0 : 1;
            p->state = TR_J_NUMBER;
            return;
        }

        p->state = TR_J_ERROR;
    }
}


static void
tr_usage_push(tr_usage_parser_t *p,
    unsigned char c)
{
    unsigned  parent, role;

    if (p->depth == TR_USAGE_DEPTH) {
        p->skip = 1;
        p->state = TR_J_SKIP;
        return;
    }

    role = TR_R_NONE;
    parent = p->depth ? p->ctx[p->depth - 1] : TR_R_NONE;

    if (p->depth == 0) {
        role = TR_R_ROOT;

    } else if (c == '[') {
        if (parent == TR_R_ROOT && p->key_id == TR_K_CHOICES) {
            role = TR_R_CHOICES;
            p->flags |= TR_F_CHOICES_NEW;
        }

    } else if (parent == TR_R_ROOT || parent == TR_R_WRAP) {
        if (p->key_id == TR_K_USAGE) {
            role = TR_R_USAGE;

            if (parent == TR_R_ROOT) {
                p->flags |= TR_F_USAGE_OBJECT;
            }

        } else if (parent == TR_R_ROOT
                   && (p->key_id == TR_K_RESPONSE
                       || p->key_id == TR_K_MESSAGE))
        {
            role = TR_R_WRAP;
        }

    } else if (parent == TR_R_USAGE) {
        if (p->key_id == TR_K_PROMPT_DET || p->key_id == TR_K_INPUT_DET) {
            role = TR_R_IN_DETAILS;

        } else if (p->key_id == TR_K_CACHE_CREATE) {
            role = TR_R_CACHE_CREATE;

        } else if (p->key_id == TR_K_SERVER_TOOLS) {
            role = TR_R_SERVER_TOOLS;

        } else if (p->key_id == TR_K_COMPL_DET
                   || p->key_id == TR_K_OUTPUT_DET)
        {
            role = TR_R_OUT_DETAILS;
        }
    }

    p->ctx[p->depth++] = role | ((c == '[') ? TR_R_ARRAY : 0);
    p->key_id = 0;
    p->state = (c == '[') ? TR_J_VALUE : TR_J_KEY;
}


static void
tr_usage_pop(tr_usage_parser_t *p,
    unsigned char c)
{
    unsigned  top;

    top = p->ctx[p->depth - 1];

    if (((top & TR_R_ARRAY) != 0) != (c == ']')) {
        p->state = TR_J_ERROR;
        return;
    }

    if (top == (TR_R_CHOICES | TR_R_ARRAY)
        && (p->flags & TR_F_CHOICES_NEW))
    {
        p->flags |= TR_F_CHOICES_NONE;
    }

    p->depth--;
    p->key_id = 0;

    tr_usage_value_end(p);
}


static void
tr_usage_string_end(tr_usage_parser_t *p)
{
    size_t       n;
    const char  *s;
    unsigned     i;

    if (p->skip) {
        p->state = TR_J_SKIP;
        return;
    }

    if (p->flags & TR_F_KEY) {
        p->key_id = tr_usage_key(p->key, p->key_len);
        p->state = TR_J_COLON;
        return;
    }

    if ((p->flags & TR_F_MODEL)
        && p->key_len <= TR_USAGE_KEY_LEN)
    {
        memcpy(p->model, p->key, p->key_len);
        p->model_len = p->key_len;

    } else if ((p->flags & TR_F_ID) && p->key_len <= TR_USAGE_KEY_LEN) {
        memcpy(p->id, p->key, p->key_len);
        p->id_len = p->key_len;

    } else if (p->flags & TR_F_TIER) {
        p->service_tier = tr_usage_tier(p->key, p->key_len);

    } else if (p->flags & TR_F_CAPTURE) {
        for (i = 0; tr_usage_terminal[i]; i++) {
            s = tr_usage_terminal[i];
            n = strlen(s);

            if (p->key_len == n && memcmp(p->key, s, n) == 0) {
                p->flags |= TR_F_TERMINAL;
            }
        }
    }

    tr_usage_value_end(p);
}


static void
tr_usage_number_end(tr_usage_parser_t *p)
{
    tr_usage_key_t  *k;

    k = &tr_usage_keys[p->key_id ? p->key_id - 1 : 0];

    if (p->key_id && k->role && p->depth
        && k->role == p->ctx[p->depth - 1]
        && !(p->flags & TR_F_BAD_NUMBER) && p->ndigits && p->ndigits <= 15
        && (!(p->flags & TR_F_MINUS) || p->number == 0))
    {
        p->raw[k->slot] = p->number;
        p->seen = 1;
    }

    tr_usage_value_end(p);
}


static void
tr_usage_value_end(tr_usage_parser_t *p)
{
    if (p->depth) {
        p->state = TR_J_AFTER;
        return;
    }

    p->state = TR_J_END;

    if (!p->sse || (p->flags & TR_F_TERMINAL)) {
        p->done = 1;
    }
}


static void
tr_usage_capture(tr_usage_parser_t *p,
    const unsigned char *s, size_t n)
{
    if (p->key_len + n > TR_USAGE_KEY_LEN) {
        p->key_len = TR_USAGE_KEY_LEN + 1;
        return;
    }

    memcpy(p->key + p->key_len, s, n);
    p->key_len += n;
}


/*
 * The keys by a hash of their length and their first and last bytes:
 * built on the first lookup, open addressing, each slot the index in
 * tr_usage_keys[] plus 1
 */

#define TR_USAGE_HASH  128      /* a power of two, > 3 x the keys */

static unsigned char  tr_usage_index[TR_USAGE_HASH];
static unsigned char  tr_usage_lens[sizeof(tr_usage_keys)
                                    / sizeof(tr_usage_key_t)];
static unsigned       tr_usage_indexed;


static unsigned
tr_usage_hash(const unsigned char *key, size_t len)
{
    return ((unsigned) len * 7 + key[0] * 3 + key[len - 1])
           & (TR_USAGE_HASH - 1);
}


static void
tr_usage_index_init(void)
{
    size_t    n;
    unsigned  h, i;

    for (i = 0; tr_usage_keys[i].name; i++) {
        n = strlen(tr_usage_keys[i].name);
        tr_usage_lens[i] = (unsigned char) n;

        h = tr_usage_hash((const unsigned char *) tr_usage_keys[i].name, n);

        while (tr_usage_index[h]) {
            h = (h + 1) & (TR_USAGE_HASH - 1);
        }

        tr_usage_index[h] = (unsigned char) (i + 1);
    }

    tr_usage_indexed = 1;
}


/* inlined: a key's lookup is the most of the cost of reading it */

static inline __attribute__((always_inline)) unsigned
tr_usage_key(const unsigned char *key, size_t len)
{
    unsigned  h, k;

    if (len == 0 || len > TR_USAGE_KEY_LEN) {
        return 0;
    }

    if (!tr_usage_indexed) {
        tr_usage_index_init();
    }

    for (h = tr_usage_hash(key, len);
         (k = tr_usage_index[h]) != 0;
         h = (h + 1) & (TR_USAGE_HASH - 1))
    {
        if (tr_usage_lens[k - 1] == len
            && tr_usage_same((const unsigned char *) tr_usage_keys[k - 1].name,
                             key, len))
        {
            return k;
        }
    }

    return 0;
}


/*
 * Whether len bytes at a and b are the same: by two words that overlap
 * where they can, instead of a call of memcmp() per key
 */

static inline int
tr_usage_same(const unsigned char *a, const unsigned char *b, size_t len)
{
    uint32_t  w, x, y, z;
    uint64_t  u, v, s, t;

    if (len >= 8) {
        memcpy(&u, a, 8);
        memcpy(&v, b, 8);
        memcpy(&s, a + len - 8, 8);
        memcpy(&t, b + len - 8, 8);

        return u == v && s == t
               && (len <= 16 || memcmp(a + 8, b + 8, len - 16) == 0);
    }

    if (len >= 4) {
        memcpy(&w, a, 4);
        memcpy(&x, b, 4);
        memcpy(&y, a + len - 4, 4);
        memcpy(&z, b + len - 4, 4);

        return w == x && y == z;
    }

    while (len--) {
        if (a[len] != b[len]) {
            return 0;
        }
    }

    return 1;
}


/* "flex", "priority", "batch"; anything else is the default */

static int
tr_usage_tier(const unsigned char *s, size_t len)
{
    if (len == 4 && memcmp(s, "flex", 4) == 0) {
        return TR_SERVICE_FLEX;
    }

    if (len == 8 && memcmp(s, "priority", 8) == 0) {
        return TR_SERVICE_PRIORITY;
    }

    if (len == 5 && memcmp(s, "batch", 5) == 0) {
        return TR_SERVICE_BATCH;
    }

    return TR_SERVICE_DEFAULT;
}


static int
tr_usage_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


/* a run of an event's data: to the tokenizer, and matched to "[DONE]" */

static void
tr_usage_data(tr_usage_parser_t *p,
    const unsigned char *data, size_t len)
{
    size_t  i;

    for (i = 0; i < len && p->done_pos < 7; i++) {
        p->done_pos = (p->done_pos < 6 && data[i] == "[DONE]"[p->done_pos])
                      ? p->done_pos + 1 : 7;
    }

    tr_usage_json(p, data, len);
}


/* a data field begins: lines after the first are joined with "\n" */

static void
tr_usage_data_line(tr_usage_parser_t *p)
{
    if (p->flags & TR_F_DATA) {
        tr_usage_data(p, (const unsigned char *) "\n", 1);
    }

    p->flags |= TR_F_DATA;
}


static void
tr_usage_event_end(tr_usage_parser_t *p)
{
    p->event_end = 1;

    if (p->flags & TR_F_DATA) {
        if (p->done_pos == 6) {
            p->done = 1;
        }

        if (p->state == TR_J_END
            && (p->flags & TR_F_CHOICES_NONE)
            && (p->flags & TR_F_USAGE_OBJECT))
        {
            p->usage_only = 1;
        }
    }

    p->state = TR_J_VALUE;
    p->depth = 0;
    p->skip = 0;
    p->key_len = 0;
    p->key_id = 0;
    p->flags = 0;
    p->done_pos = 0;
}


/*
 * In a string's text: the first '"' or '\\' in [p, end), or end.  Most
 * strings of an answer are short keys and values, whose end is in their
 * first TR_USAGE_SHORT bytes: found there by words, without a call.  Past
 * them the string scan goes 16 to 64 bytes a step; it also stops at
 * control characters, passed here, and at bytes >= 0x80: text that is not
 * ASCII is searched by memchr(), its next quote (*quote) once per buffer,
 * not once per escape.
 */

static const unsigned char *
tr_usage_string_stop(const unsigned char *p, const unsigned char *end,
    const unsigned char **quote)
{
    const unsigned char  *q, *r;

    /* most end in their first bytes: looked for by words, inline */

    q = tr_usage_quote(p, end, TR_USAGE_SHORT);

    if (q != NULL) {
        return q;
    }

    p += TR_USAGE_SHORT;

    for ( ;; ) {
        q = tr_strscan(p, end);

        if (q == end || *q == '"' || *q == '\\') {
            return q;
        }

        if (*q >= 0x80) {
            if (*quote <= q) {
                *quote = memchr(q, '"', end - q);

                if (*quote == NULL) {
                    *quote = end;
                }
            }

            r = memchr(q, '\\', *quote - q);

            return r ? r : *quote;
        }

        p = q + 1;
    }
}


/*
 * The first '"' or '\\' in the n bytes from p (n a multiple of 8), or
 * in [p, end) when end is nearer: end if none is there; NULL if none is
 * in the n bytes and end is further.  Eight bytes a step in a word: a
 * byte b of x ^ c is 0 where x has c, and then sets bit 7 of
 * (b - 1) & ~b; a borrow from a lower such byte may set it higher up,
 * so the lowest bit set is exact.
 */

static inline const unsigned char *
tr_usage_quote(const unsigned char *p, const unsigned char *end, size_t n)
{
    uint64_t              x, a, b, hit;
    const unsigned char  *last;

    last = ((size_t) (end - p) > n) ? p + n : end;

    while (last - p >= 8) {
        memcpy(&x, p, 8);

#if (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
        x = __builtin_bswap64(x);
#endif

        a = x ^ TR_USAGE_BYTES('"');
        b = x ^ TR_USAGE_BYTES('\\');

        hit = (((a - TR_USAGE_BYTES(1)) & ~a) | ((b - TR_USAGE_BYTES(1)) & ~b))
              & TR_USAGE_BYTES(0x80);

        if (hit) {
            return p + (__builtin_ctzll(hit) >> 3);
        }

        p += 8;
    }

    if (last != end) {
        return NULL;
    }

    while (p < end && *p != '"' && *p != '\\') {
        p++;
    }

    return p;
}


/* the first of two bytes in [p, end), or end */

static const unsigned char *
tr_usage_scan(const unsigned char *p,
    const unsigned char *end, unsigned char a, unsigned char b)
{
    const unsigned char  *q, *r;

    q = memchr(p, a, end - p);
    if (q == NULL) {
        q = end;
    }

    r = memchr(p, b, q - p);

    return r ? r : q;
}
