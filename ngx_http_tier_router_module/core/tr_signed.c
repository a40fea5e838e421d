
/*
 * Copyright (C) The tier router authors
 *
 * Signed reasoning out of a history.
 */


#include <string.h>

#include "tr_dialect.h"
#include "tr_signed.h"


#define TR_SIGNED_KEYS  2


typedef struct {
    size_t                       start;
    size_t                       end;           /* 0: absent */
} tr_span_t;


typedef struct {
    const unsigned char         *in;
    size_t                       len;
    unsigned char               *out;
    size_t                       olen;
    tr_signed_t                 *st;
} tr_signed_ctx_t;


static int tr_signed_history(tr_signed_ctx_t *s, size_t pos, size_t end);
static int tr_signed_message(tr_signed_ctx_t *s, size_t pos, size_t end,
    unsigned *signed_blocks, unsigned *assistant);
static int tr_signed_content(tr_signed_ctx_t *s, size_t pos, size_t end);
static int tr_signed_item(tr_signed_ctx_t *s, size_t pos, size_t end,
    unsigned *written);
static size_t tr_signed_object(tr_signed_ctx_t *s, size_t pos,
    const char **names, tr_span_t *vals);
static size_t tr_signed_skip(tr_signed_ctx_t *s, size_t pos);
static size_t tr_signed_ws(tr_signed_ctx_t *s, size_t pos);
static int tr_signed_is(tr_signed_ctx_t *s, tr_span_t *v, const char *str);
static void tr_signed_emit(tr_signed_ctx_t *s, const void *p, size_t n);
static void tr_signed_str(tr_signed_ctx_t *s, const char *str);


size_t
tr_signed_strip(const unsigned char *in, size_t len, int dialect,
    unsigned char *out, tr_signed_t *st)
{
    size_t            end;
    tr_span_t         v[TR_SIGNED_KEYS];
    const char       *names[TR_SIGNED_KEYS + 1];
    tr_signed_ctx_t   s;

    memset(st, 0, sizeof(tr_signed_t));

    s.in = in;
    s.len = len;
    s.out = out;
    s.olen = 0;
    s.st = st;

    names[0] = (dialect == TR_ANTHROPIC) ? "messages" : "input";
    names[1] = NULL;

    end = tr_signed_object(&s, tr_signed_ws(&s, 0), names, v);

    if (end == TR_SIGNED_FAILED
        || (dialect != TR_ANTHROPIC && dialect != TR_OPENAI_RESPONSES))
    {
        return TR_SIGNED_FAILED;
    }

    if (v[0].end == 0 || in[v[0].start] != '[') {
        tr_signed_emit(&s, in, len);
        return s.olen;
    }

    tr_signed_emit(&s, in, v[0].start);

    if (dialect == TR_ANTHROPIC) {
        if (tr_signed_history(&s, v[0].start, v[0].end) != 0) {
            return TR_SIGNED_FAILED;
        }

    } else {
        if (tr_signed_content(&s, v[0].start, v[0].end) != 0) {
            return TR_SIGNED_FAILED;
        }
    }

    tr_signed_emit(&s, in + v[0].end, len - v[0].end);

    return s.olen;
}


/* Anthropic's messages[]: each message's content, and the last turn's */

static int
tr_signed_history(tr_signed_ctx_t *s, size_t pos, size_t end)
{
    size_t    next;
    unsigned  blocks, assistant;

    tr_signed_emit(s, "[", 1);
    pos = tr_signed_ws(s, pos + 1);

    while (pos < end && s->in[pos] != ']') {

        if (s->in[pos] == '{') {
            next = tr_signed_skip(s, pos);

            if (next == TR_SIGNED_FAILED
                || tr_signed_message(s, pos, next, &blocks, &assistant)
                   != 0)
            {
                return -1;
            }

            if (assistant) {
                s->st->last_turn = (blocks != 0);
            }

        } else {
            next = tr_signed_skip(s, pos);

            if (next == TR_SIGNED_FAILED) {
                return -1;
            }

            tr_signed_emit(s, s->in + pos, next - pos);
        }

        pos = tr_signed_ws(s, next);

        if (pos < end && s->in[pos] == ',') {
            tr_signed_emit(s, ",", 1);
            pos = tr_signed_ws(s, pos + 1);
        }
    }

    tr_signed_emit(s, "]", 1);

    return 0;
}


/* one message: its bytes, with its content array stripped */

static int
tr_signed_message(tr_signed_ctx_t *s, size_t pos, size_t end,
    unsigned *signed_blocks, unsigned *assistant)
{
    unsigned     before;
    tr_span_t    v[TR_SIGNED_KEYS];
    const char  *names[] = { "content", "role", NULL };

    if (tr_signed_object(s, pos, names, v) != end) {
        return -1;
    }

    *assistant = tr_signed_is(s, &v[1], "assistant");
    before = s->st->stripped;

    if (v[0].end == 0 || s->in[v[0].start] != '[') {
        tr_signed_emit(s, s->in + pos, end - pos);
        *signed_blocks = 0;
        return 0;
    }

    tr_signed_emit(s, s->in + pos, v[0].start - pos);

    if (tr_signed_content(s, v[0].start, v[0].end) != 0) {
        return -1;
    }

    tr_signed_emit(s, s->in + v[0].end, end - v[0].end);

    *signed_blocks = s->st->stripped - before;

    return 0;
}


/*
 * An array of content blocks (Anthropic) or of input items (OpenAI
 * Responses), the signed ones replaced or dropped.  A message left with
 * nothing (only redacted blocks) keeps a text block saying so: the API
 * wants no empty message.
 */

static int
tr_signed_content(tr_signed_ctx_t *s, size_t pos, size_t end)
{
    size_t    next;
    unsigned  written, had;

    tr_signed_emit(s, "[", 1);
    pos = tr_signed_ws(s, pos + 1);
    written = 0;
    had = 0;

    while (pos < end && s->in[pos] != ']') {
        next = tr_signed_skip(s, pos);

        if (next == TR_SIGNED_FAILED) {
            return -1;
        }

        had++;

        if (s->in[pos] == '{') {
            if (tr_signed_item(s, pos, next, &written) != 0) {
                return -1;
            }

        } else {
            tr_signed_emit(s, ",", written ? 1 : 0);
            tr_signed_emit(s, s->in + pos, next - pos);
            written++;
        }

        pos = tr_signed_ws(s, next);

        if (pos < end && s->in[pos] == ',') {
            pos = tr_signed_ws(s, pos + 1);
        }
    }

    if (had && written == 0) {
        tr_signed_str(s, "{\"type\":\"text\",\"text\":"
                      "\"(reasoning redacted)\"}");
    }

    tr_signed_emit(s, "]", 1);

    return 0;
}


/* one block or item: as it is, as readable text, or nothing */

static int
tr_signed_item(tr_signed_ctx_t *s, size_t pos, size_t end, unsigned *written)
{
    size_t       p, next, q;
    unsigned     parts;
    tr_span_t    v[TR_SIGNED_KEYS], t[TR_SIGNED_KEYS];
    const char  *names[] = { "type", "thinking", NULL };
    const char  *summary[] = { "type", "summary", NULL };
    const char  *text[] = { "text", NULL };

    if (tr_signed_object(s, pos, names, v) != end) {
        return -1;
    }

    /* Anthropic: a thinking block's text, a redacted one's nothing */

    if (tr_signed_is(s, &v[0], "thinking")
        || tr_signed_is(s, &v[0], "redacted_thinking"))
    {
        s->st->stripped++;

        if (v[1].end > v[1].start + 2 && s->in[v[1].start] == '"') {
            tr_signed_emit(s, ",", *written ? 1 : 0);
            tr_signed_str(s, "{\"type\":\"text\",\"text\":");
            tr_signed_emit(s, s->in + v[1].start, v[1].end - v[1].start);
            tr_signed_emit(s, "}", 1);
            (*written)++;
            s->st->kept++;
        }

        return 0;
    }

    if (!tr_signed_is(s, &v[0], "reasoning")) {
        tr_signed_emit(s, ",", *written ? 1 : 0);
        tr_signed_emit(s, s->in + pos, end - pos);
        (*written)++;
        return 0;
    }

    /* OpenAI: a reasoning item's summary, as the assistant's words */

    s->st->stripped++;

    (void) tr_signed_object(s, pos, summary, v);

    if (v[1].end == 0 || s->in[v[1].start] != '[') {
        return 0;
    }

    parts = 0;
    p = tr_signed_ws(s, v[1].start + 1);

    while (p < v[1].end && s->in[p] != ']') {
        next = tr_signed_skip(s, p);

        if (next == TR_SIGNED_FAILED) {
            return -1;
        }

        if (s->in[p] == '{'
            && tr_signed_object(s, p, text, t) == next
            && t[0].end > t[0].start + 2 && s->in[t[0].start] == '"')
        {
            if (parts++ == 0) {
                tr_signed_emit(s, ",", *written ? 1 : 0);
                tr_signed_str(s, "{\"type\":\"message\",\"role\":"
                              "\"assistant\",\"content\":[{\"type\":"
                              "\"output_text\",\"text\":\"");

            } else {
                tr_signed_str(s, "\\n\\n");
            }

            q = t[0].start + 1;
            tr_signed_emit(s, s->in + q, t[0].end - 1 - q);
        }

        p = tr_signed_ws(s, next);

        if (p < v[1].end && s->in[p] == ',') {
            p = tr_signed_ws(s, p + 1);
        }
    }

    if (parts) {
        tr_signed_str(s, "\"}]}");
        (*written)++;
        s->st->kept++;
    }

    return 0;
}


/*
 * The object at pos: the value spans of the members named (the first of
 * each name), and the position after it; TR_SIGNED_FAILED if it is not
 * an object.
 */

static size_t
tr_signed_object(tr_signed_ctx_t *s, size_t pos, const char **names,
    tr_span_t *vals)
{
    size_t  i, k, ks, ke;

    for (i = 0; names[i]; i++) {
        vals[i].start = 0;
        vals[i].end = 0;
    }

    if (pos >= s->len || s->in[pos] != '{') {
        return TR_SIGNED_FAILED;
    }

    pos = tr_signed_ws(s, pos + 1);

    while (pos < s->len && s->in[pos] != '}') {

        if (s->in[pos] != '"') {
            return TR_SIGNED_FAILED;
        }

        ks = pos + 1;
        pos = tr_signed_skip(s, pos);

        if (pos == TR_SIGNED_FAILED) {
            return TR_SIGNED_FAILED;
        }

        ke = pos - 1;
        pos = tr_signed_ws(s, pos);

        if (pos >= s->len || s->in[pos] != ':') {
            return TR_SIGNED_FAILED;
        }

        pos = tr_signed_ws(s, pos + 1);

        for (k = 0; names[k]; k++) {
            if (vals[k].end == 0 && strlen(names[k]) == ke - ks
                && memcmp(names[k], s->in + ks, ke - ks) == 0)
            {
                break;
            }
        }

        i = pos;
        pos = tr_signed_skip(s, pos);

        if (pos == TR_SIGNED_FAILED) {
            return TR_SIGNED_FAILED;
        }

        if (names[k]) {
            vals[k].start = i;
            vals[k].end = pos;
        }

        pos = tr_signed_ws(s, pos);

        if (pos < s->len && s->in[pos] == ',') {
            pos = tr_signed_ws(s, pos + 1);
        }
    }

    if (pos >= s->len) {
        return TR_SIGNED_FAILED;
    }

    return pos + 1;
}


/*
 * The position after the value at pos (containers and strings skipped
 * whole, iteratively); TR_SIGNED_FAILED for no value there.
 */

static size_t
tr_signed_skip(tr_signed_ctx_t *s, size_t pos)
{
    size_t         start, depth;
    unsigned char  c;

    start = pos;
    depth = 0;

    while (pos < s->len) {
        c = s->in[pos];

        if (c == '"') {
            for (pos++; pos < s->len && s->in[pos] != '"'; pos++) {
                if (s->in[pos] == '\\') {
                    pos++;
                }
            }

            if (pos >= s->len) {
                return TR_SIGNED_FAILED;
            }

            pos++;

            if (depth == 0) {
                return pos;
            }

        } else if (c == '{' || c == '[') {
            depth++;
            pos++;

        } else if (c == '}' || c == ']') {
            if (depth == 0) {
                break;              /* the end of a number or literal */
            }

            pos++;

            if (--depth == 0) {
                return pos;
            }

        } else if (depth == 0
                   && (c == ',' || c == ':' || c == ' ' || c == '\t'
                       || c == '\r' || c == '\n'))
        {
            break;

        } else {
            pos++;
        }
    }

    if (depth || pos == start) {
        return TR_SIGNED_FAILED;
    }

    return pos;
}


static size_t
tr_signed_ws(tr_signed_ctx_t *s, size_t pos)
{
    while (pos < s->len
           && (s->in[pos] == ' ' || s->in[pos] == '\t' || s->in[pos] == '\r'
               || s->in[pos] == '\n'))
    {
        pos++;
    }

    return pos;
}


/* is the value v the string str (as written, no escapes)? */

static int
tr_signed_is(tr_signed_ctx_t *s, tr_span_t *v, const char *str)
{
    size_t  n;

    n = strlen(str);

    return v->end == v->start + n + 2 && s->in[v->start] == '"'
           && memcmp(s->in + v->start + 1, str, n) == 0;
}


static void
tr_signed_emit(tr_signed_ctx_t *s, const void *p, size_t n)
{
    if (s->out && n) {
        memcpy(s->out + s->olen, p, n);
    }

    s->olen += n;
}


static void
tr_signed_str(tr_signed_ctx_t *s, const char *str)
{
    tr_signed_emit(s, str, strlen(str));
}
