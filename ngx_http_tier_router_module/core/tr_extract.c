
/*
 * Copyright (C) The tier router authors
 *
 * The request extractor.  A recursive descent over one contiguous body,
 * bounded in depth (TR_MAX_DEPTH), that validates the
 * whole body as JSON (grammar, escapes, UTF-8) so that the module never
 * routes a body the upstream would read differently, and records only
 * what routing needs: the model and where its bytes are, flags, counts,
 * and the spans of the latest user turn and of the system prompt, which
 * are decoded into bounded windows once the pass is over.  No allocation.
 */


#include <string.h>
#include <limits.h>
#include "tr_extract.h"
#include "tr_strscan.h"
#include "tr_utf8.h"


#define TR_KEY_LEN  32

/* the output limits of the three APIs, as the parser keeps them */
#define TR_LIMIT_MAX_TOKENS       0
#define TR_LIMIT_MAX_COMPLETION   1
#define TR_LIMIT_MAX_OUTPUT       2


typedef struct {
    const unsigned char  *start;
    const unsigned char  *p;
    const unsigned char  *end;
    tr_request_t         *req;
    unsigned              depth;
    unsigned              anthropic_marks;
    tr_span_t             user_span;
    tr_span_t             system_span;
    long                  limits[3];  /* TR_LIMIT_*, -1: none */
    unsigned              has_user:1;
    unsigned              has_system:1;
    unsigned              text_not_object:1;
    unsigned              stored_input:1;   /* the responses API's input
                                               may be stored */
} tr_parser_t;


/* decoded text sink: a bounded window that still counts what overflows */

typedef struct {
    unsigned char                   *buf;
    size_t                           size;
    size_t                           len;      /* bytes kept */
    size_t                           total;    /* bytes seen */
} tr_sink_t;


static int tr_fail(tr_parser_t *ps,
    const char *error, const char *param);
static int tr_limit(tr_parser_t *ps);
static inline void tr_ws(tr_parser_t *ps);
static int tr_expect(tr_parser_t *ps,
    unsigned char c);
static int tr_string(tr_parser_t *ps,
    tr_sink_t *sink);
static int tr_string_count(tr_parser_t *ps,
    tr_sink_t *sink);
static int tr_string_rest(tr_parser_t *ps,
    const unsigned char *q, size_t *extra, tr_sink_t *sink);
static inline int tr_string_stop(tr_parser_t *ps,
    const unsigned char **at, size_t *extra);
static const unsigned char *tr_ws_at(const unsigned char *p,
    const unsigned char *end);
static int tr_message_fast(tr_parser_t *ps);
static inline const unsigned char *tr_fast_member(
    const unsigned char *p, const unsigned char *end, const char *key,
    size_t len);
static unsigned tr_role(const unsigned char *role, size_t len);
static inline void tr_message_turn(tr_parser_t *ps, unsigned role,
    tr_span_t *span);
static int tr_utf8(tr_parser_t *ps);
static int tr_escape(tr_parser_t *ps,
    tr_sink_t *sink);
static void tr_sink_put(tr_sink_t *sink,
    const unsigned char *data, size_t len);
static int tr_short_plain(tr_parser_t *ps,
    unsigned char *out, size_t size, size_t *len);
static int tr_key(tr_parser_t *ps,
    unsigned char *key, size_t *key_len);
static int tr_number(tr_parser_t *ps,
    long *value, int *integer);
static int tr_literal(tr_parser_t *ps,
    const char *word, size_t len);
static int tr_skip(tr_parser_t *ps);
static int tr_type(tr_parser_t *ps);
static int tr_next(tr_parser_t *ps,
    unsigned char close, int *more);
static int tr_short_string(
    tr_parser_t *ps, unsigned char *out, size_t size,
    size_t *len, const char *param);
static int tr_uint(tr_parser_t *ps,
    long *value, const char *param);
static int tr_bool(tr_parser_t *ps,
    unsigned *value, const char *param);
static int tr_root(tr_parser_t *ps);
static int tr_messages(tr_parser_t *ps,
    const char *param);
static int tr_message(tr_parser_t *ps,
    const char *param);
static int tr_content(tr_parser_t *ps,
    const char *param);
static int tr_part(tr_parser_t *ps,
    const char *param);
static int tr_count(tr_parser_t *ps,
    unsigned *n, const char *param);
static int tr_format(tr_parser_t *ps,
    int nested, const char *param);
static int tr_effort(tr_parser_t *ps, tr_object_t *obj, int anthropic,
    const char *param);
static int tr_thinking(tr_parser_t *ps);
static int tr_metadata(tr_parser_t *ps, const char *param);
static int tr_stream_options(
    tr_parser_t *ps);
static unsigned tr_effort_level(const unsigned char *s,
    size_t len);
static void tr_collect(tr_parser_t *ps,
    tr_span_t *span, tr_sink_t *sink);
static inline int tr_is(const unsigned char *s, size_t len,
    const char *lit);


/*
 * byte classes inside a string: 0 plain ASCII, 1 quote, 2 backslash,
 * 3 control character, 4 start of a UTF-8 sequence (or an invalid byte)
 */

static const unsigned char  tr_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4
};


/* the escapes that stand for one byte: " \\ / b f n r t */

static const unsigned char  tr_simple_escape[256] = {
    ['"'] = 1, ['\\'] = 1, ['/'] = 1, ['b'] = 1, ['f'] = 1, ['n'] = 1,
    ['r'] = 1, ['t'] = 1
};


/* root keys the extractor reads; a second one of any is refused */

#define TR_ROOT_MODEL             0x0001
#define TR_ROOT_MESSAGES          0x0002
#define TR_ROOT_INPUT             0x0004
#define TR_ROOT_SYSTEM            0x0008
#define TR_ROOT_INSTRUCTIONS      0x0010
#define TR_ROOT_STREAM            0x0020
#define TR_ROOT_MAX_TOKENS        0x0040
#define TR_ROOT_MAX_COMPLETION    0x0080
#define TR_ROOT_MAX_OUTPUT        0x0100
#define TR_ROOT_REASONING_EFFORT  0x0200
#define TR_ROOT_REASONING         0x0400
#define TR_ROOT_THINKING          0x0800
#define TR_ROOT_TOOLS             0x1000
#define TR_ROOT_RESPONSE_FORMAT   0x2000
#define TR_ROOT_TEXT              0x4000
#define TR_ROOT_STREAM_OPTIONS    0x8000
#define TR_ROOT_LOGPROBS          0x10000
#define TR_ROOT_TEMPERATURE       0x20000
#define TR_ROOT_TOP_P             0x40000
#define TR_ROOT_TOP_K             0x80000
#define TR_ROOT_VERBOSITY         0x100000
#define TR_ROOT_PROMPT_CACHE      0x200000
#define TR_ROOT_OUTPUT_CONFIG     0x400000
#define TR_ROOT_OUTPUT_FORMAT     0x800000
#define TR_ROOT_CACHE_KEY         0x1000000
#define TR_ROOT_METADATA          0x2000000
#define TR_ROOT_PREVIOUS          0x4000000
#define TR_ROOT_CONVERSATION      0x8000000
#define TR_ROOT_PROMPT            0x10000000
#define TR_ROOT_N                 0x20000000
#define TR_ROOT_BACKGROUND        0x40000000


/* the root keys a tier's profile may drop or rename, by TR_PARAM_* */

const char  *tr_param_names[TR_PARAMS] = {
    "temperature", "top_p", "top_k", "max_tokens", "verbosity",
    "prompt_cache_options", "thinking"
};

static const unsigned  tr_param_bits[TR_PARAMS] = {
    TR_ROOT_TEMPERATURE, TR_ROOT_TOP_P, TR_ROOT_TOP_K, TR_ROOT_MAX_TOKENS,
    TR_ROOT_VERBOSITY, TR_ROOT_PROMPT_CACHE, TR_ROOT_THINKING
};

/* the bits above together, derived from them once (tr_root()) */
static unsigned  tr_param_any;


int
tr_extract(const unsigned char *body, size_t len,
    tr_request_t *req)
{
    int           dialect;
    tr_sink_t     sink;
    tr_parser_t   ps;

    dialect = req->dialect;

    memset(req, 0, offsetof(tr_request_t, text));
    memset(&ps, 0, sizeof(tr_parser_t));

    req->dialect = dialect;
    req->features.max_tokens = -1;

    ps.limits[TR_LIMIT_MAX_TOKENS] = -1;
    ps.limits[TR_LIMIT_MAX_COMPLETION] = -1;
    ps.limits[TR_LIMIT_MAX_OUTPUT] = -1;

    ps.start = body;
    ps.p = body;
    ps.end = body + len;
    ps.req = req;

    tr_ws(&ps);

    if (ps.p == ps.end) {
        return tr_fail(&ps, "request body is empty", NULL);
    }

    if (*ps.p != '{') {
        return tr_fail(&ps,
                    "request body must be a JSON object",
                    NULL);
    }

    if (tr_root(&ps) != 0) {
        return -1;
    }

    tr_ws(&ps);

    if (ps.p != ps.end) {
        return tr_fail(&ps,
                             "request body is not valid JSON: data after "
                             "the top-level object", NULL);
    }

    /* the dialect: the operator's or URI's word, else the shape */

    if (req->dialect == TR_AUTO) {

        if (req->has_messages && req->has_input) {
            return tr_fail(&ps,
                             "cannot tell the API: the request has both "
                             "'messages' and 'input'", NULL);
        }

        if (req->has_input) {
            req->dialect = TR_OPENAI_RESPONSES;

        } else if (req->has_messages) {
            req->dialect = ps.anthropic_marks
                           ? TR_ANTHROPIC
                           : TR_OPENAI_CHAT;

        } else {
            return tr_fail(&ps,
                             "cannot tell the API: the request has neither "
                             "'messages' nor 'input'", NULL);
        }
    }

    if (req->dialect == TR_OPENAI_RESPONSES) {
        if (ps.text_not_object) {
            return tr_fail(&ps,
                                      "a format must be an object", "text");
        }

        /* a stored prompt or conversation may be the whole input */

        if (!req->has_input && !ps.stored_input) {
            return tr_fail(&ps,
                             "missing required parameter: 'input'", "input");
        }

    } else if (!req->has_messages) {
        return tr_fail(&ps,
                       "missing required parameter: 'messages'", "messages");
    }

    if (tr_limit(&ps) != 0) {
        return -1;
    }

    /* decode the windows the classifier reads */

    sink.buf = req->text;
    sink.size = TR_TEXT_LEN;
    sink.len = 0;
    sink.total = 0;

    if (ps.has_user) {
        tr_collect(&ps, &ps.user_span, &sink);
    }

    req->features.text = req->text;
    req->features.text_len = sink.len;

    sink.buf = req->system;
    sink.size = TR_SYSTEM_LEN;
    sink.len = 0;
    sink.total = 0;

    if (ps.has_system) {
        tr_collect(&ps, &ps.system_span, &sink);
    }

    req->features.system = req->system;
    req->features.system_len = sink.len;

    /* the spans were validated: nothing the windows met is an error */

    req->error = NULL;
    req->error_param = NULL;

    return 0;
}


/*
 * The output limit the dialect's API reads, and no other: chat reads
 * max_completion_tokens, else max_tokens; responses max_output_tokens;
 * Anthropic max_tokens.  A limit field of another API, or chat's two
 * with different values, would let the router reserve for one limit
 * while the upstream obeys another: refused.
 */

static int
tr_limit(tr_parser_t *ps)
{
    long  *l;

    l = ps->limits;

    switch (ps->req->dialect) {

    case TR_OPENAI_RESPONSES:
        if (l[TR_LIMIT_MAX_TOKENS] >= 0 || l[TR_LIMIT_MAX_COMPLETION] >= 0) {
            return tr_fail(ps,
                             "the responses API limits output with "
                             "'max_output_tokens' only",
                             l[TR_LIMIT_MAX_TOKENS] >= 0
                             ? "max_tokens" : "max_completion_tokens");
        }

        ps->req->features.max_tokens = l[TR_LIMIT_MAX_OUTPUT];
        break;

    case TR_ANTHROPIC:
        if (l[TR_LIMIT_MAX_COMPLETION] >= 0 || l[TR_LIMIT_MAX_OUTPUT] >= 0) {
            return tr_fail(ps,
                             "the messages API limits output with "
                             "'max_tokens' only",
                             l[TR_LIMIT_MAX_COMPLETION] >= 0
                             ? "max_completion_tokens" : "max_output_tokens");
        }

        ps->req->features.max_tokens = l[TR_LIMIT_MAX_TOKENS];
        break;

    default:
        if (l[TR_LIMIT_MAX_OUTPUT] >= 0) {
            return tr_fail(ps,
                             "the chat completions API limits output with "
                             "'max_completion_tokens' or 'max_tokens'",
                             "max_output_tokens");
        }

        if (l[TR_LIMIT_MAX_COMPLETION] >= 0 && l[TR_LIMIT_MAX_TOKENS] >= 0
            && l[TR_LIMIT_MAX_COMPLETION] != l[TR_LIMIT_MAX_TOKENS])
        {
            return tr_fail(ps,
                             "'max_tokens' and 'max_completion_tokens' "
                             "disagree: send one of them",
                             "max_completion_tokens");
        }

        ps->req->features.max_tokens = (l[TR_LIMIT_MAX_COMPLETION] >= 0)
                                       ? l[TR_LIMIT_MAX_COMPLETION]
                                       : l[TR_LIMIT_MAX_TOKENS];
        break;
    }

    return 0;
}


static int
tr_fail(tr_parser_t *ps,
    const char *error, const char *param)
{
    if (ps->req->error == NULL) {
        ps->req->error = error;
        ps->req->error_param = param;
        ps->req->error_offset = ps->p - ps->start;
    }

    return -1;
}


/* inlined: a request without white space costs a compare per call */

static inline __attribute__((always_inline)) void
tr_ws(tr_parser_t *ps)
{
    if (ps->p < ps->end && *ps->p > ' ') {
        return;                 /* white space is ' ' or under it */
    }

    ps->p = tr_ws_at(ps->p, ps->end);
}


static const unsigned char *
tr_ws_at(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    {
        p++;
    }

    return p;
}


static int
tr_expect(tr_parser_t *ps,
    unsigned char c)
{
    tr_ws(ps);

    if (ps->p == ps->end) {
        return tr_fail(ps,
                      "request body is not valid JSON: unexpected end", NULL);
    }

    if (*ps->p != c) {
        return tr_fail(ps,
                      "request body is not valid JSON: unexpected character",
                      NULL);
    }

    ps->p++;

    return 0;
}


/* after a member or an element: ',' means more, the closer means done */

static int
tr_next(tr_parser_t *ps,
    unsigned char close, int *more)
{
    tr_ws(ps);

    if (ps->p < ps->end) {

        if (*ps->p == ',') {
            ps->p++;
            *more = 1;
            return 0;
        }

        if (*ps->p == close) {
            ps->p++;
            *more = 0;
            return 0;
        }
    }

    return tr_fail(ps,
              ps->p == ps->end
              ? "request body is not valid JSON: unexpected end"
              : "request body is not valid JSON: expected ',' or a closing "
                "bracket", NULL);
}


static void
tr_sink_put(tr_sink_t *sink,
    const unsigned char *data, size_t len)
{
    size_t  n;

    sink->total += len;

    if (sink->buf == NULL || sink->len >= sink->size) {
        return;
    }

    n = sink->size - sink->len;

    if (n > len) {
        n = len;
    }

    memcpy(sink->buf + sink->len, data, n);
    sink->len += n;
}


/* a string at ps->p (the opening quote); decoded bytes go to the sink */

static int
tr_string(tr_parser_t *ps,
    tr_sink_t *sink)
{
    size_t                  n;
    unsigned                c;
    const unsigned char    *run;

    if (ps->p == ps->end || *ps->p != '"') {
        return tr_fail(ps,
                          "request body is not valid JSON: expected a string",
                          NULL);
    }

    ps->p++;

    if (sink == NULL || sink->buf == NULL) {
        return tr_string_count(ps, sink);
    }

    for ( ;; ) {

        /* a run of plain bytes and valid UTF-8 sequences goes in whole */

        run = ps->p;

        for ( ;; ) {
            ps->p = tr_strscan(ps->p, ps->end);

            if (ps->p == ps->end || *ps->p < 0x80) {
                break;
            }

            n = tr_utf8_seq(ps->p, ps->end);

            if (n == 0) {
                break;
            }

            ps->p += n;
        }

        if (ps->p > run) {
            tr_sink_put(sink, run, ps->p - run);
        }

        if (ps->p == ps->end) {
            return tr_fail(ps,
                             "request body is not valid JSON: unterminated "
                             "string", NULL);
        }

        c = tr_class[*ps->p];

        switch (c) {

        case 1:
            ps->p++;
            return 0;

        case 2:
            if (tr_escape(ps, sink) != 0) {
                return -1;
            }
            break;

        case 3:
            return tr_fail(ps,
                             "request body is not valid JSON: control "
                             "character in a string", NULL);

        default: /* 4: the run above passed the valid sequences */
            run = ps->p;

            if (tr_utf8(ps) != 0) {
                return -1;
            }

            tr_sink_put(sink, run, ps->p - run);
            break;
        }
    }
}


/*
 * A string whose text is only counted, the most of a body: in place, the
 * escapes that stand for one byte passed over by the walk, the decoded
 * length the bytes between the quotes less what the escapes take more
 */

static int
tr_string_count(tr_parser_t *ps,
    tr_sink_t *sink)
{
    size_t                 extra;
    const unsigned char   *q;

    extra = 0;
    q = tr_strscan_walk(ps->p, ps->end, &extra);

    return tr_string_rest(ps, q, &extra, sink);
}


/*
 * The rest of a counted string whose text began at ps->p, from q, the
 * first stop the walk left (extra: what its escapes took more): on to
 * the closing quote, ps->p then after it and the decoded length added to
 * the sink's total
 */

static int
tr_string_rest(tr_parser_t *ps, const unsigned char *q, size_t *extra,
    tr_sink_t *sink)
{
    int                    rc;
    const unsigned char   *start, *end;

    start = ps->p;
    end = ps->end;

    for ( ;; ) {

        if (q == end) {
            ps->p = q;
            return tr_fail(ps,
                             "request body is not valid JSON: unterminated "
                             "string", NULL);
        }

        rc = tr_string_stop(ps, &q, extra);

        if (rc <= 0) {
            break;
        }

        q = tr_strscan_walk(q, end, extra);
    }

    if (rc == 0) {
        ps->p = q;

        if (sink) {
            sink->total += (size_t) (q - 1 - start) - *extra;
        }
    }

    return rc;
}


/*
 * The byte at *at that ends a plain run of a counted string: its closing
 * quote (0), an escape or a multi-byte character (1, and *extra grown by
 * what an escape takes more than the bytes it stands for), or an error
 * (-1); *at moves past it
 */

static inline int
tr_string_stop(tr_parser_t *ps, const unsigned char **at, size_t *extra)
{
    tr_sink_t             one;
    const unsigned char  *q;

    q = *at;

    switch (tr_class[*q]) {

    case 1:
        *at = q + 1;
        return 0;

    case 2:
        if (q + 1 < ps->end && tr_simple_escape[q[1]]) {
            *at = q + 2;
            (*extra)++;
            return 1;
        }

        /* \uXXXX, or not an escape: counted, or refused, there */

        ps->p = q;

        one.buf = NULL;
        one.size = 0;
        one.len = 0;
        one.total = 0;

        if (tr_escape(ps, &one) != 0) {
            return -1;
        }

        *extra += (size_t) (ps->p - q) - one.total;
        *at = ps->p;
        return 1;

    case 3:
        ps->p = q;
        return tr_fail(ps,
                         "request body is not valid JSON: control "
                         "character in a string", NULL);

    default: /* 4 */
        ps->p = q;

        if (tr_utf8(ps) != 0) {
            return -1;
        }

        *at = ps->p;
        return 1;
    }
}


/* one UTF-8 sequence of two to four bytes, as RFC 3629 allows */

static int
tr_utf8(tr_parser_t *ps)
{
    size_t  n;

    n = (*ps->p >= 0x80) ? tr_utf8_seq(ps->p, ps->end) : 0;

    if (n == 0) {
        return tr_fail(ps, "request body is not valid UTF-8",
                       NULL);
    }

    ps->p += n;

    return 0;
}


static int
tr_hex4(const unsigned char *p, unsigned *value)
{
    unsigned  i, c, v;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c = (c | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        v = (v << 4) | c;
    }

    *value = v;

    return 0;
}


static int
tr_escape(tr_parser_t *ps,
    tr_sink_t *sink)
{
    size_t          n;
    unsigned        cp, lo;
    unsigned char   out[4];

    /* ps->p is at the backslash */

    if (ps->end - ps->p < 2) {
        goto invalid;
    }

    switch (ps->p[1]) {
    case '"':  out[0] = '"';  break;
    case '\\': out[0] = '\\'; break;
    case '/':  out[0] = '/';  break;
    case 'b':  out[0] = '\b'; break;
    case 'f':  out[0] = '\f'; break;
    case 'n':  out[0] = '\n'; break;
    case 'r':  out[0] = '\r'; break;
    case 't':  out[0] = '\t'; break;

    case 'u':
        if (ps->end - ps->p < 6
            || tr_hex4(ps->p + 2, &cp) != 0)
        {
            goto invalid;
        }

        ps->p += 6;

        if (cp >= 0xdc00 && cp <= 0xdfff) {
            goto surrogate;
        }

        if (cp >= 0xd800 && cp <= 0xdbff) {

            if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u'
                || tr_hex4(ps->p + 2, &lo) != 0
                || lo < 0xdc00 || lo > 0xdfff)
            {
                goto surrogate;
            }

            ps->p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }

        if (cp < 0x80) {
            out[0] = (unsigned char) cp;
            n = 1;

        } else if (cp < 0x800) {
            out[0] = (unsigned char) (0xc0 | (cp >> 6));
            out[1] = (unsigned char) (0x80 | (cp & 0x3f));
            n = 2;

        } else if (cp < 0x10000) {
            out[0] = (unsigned char) (0xe0 | (cp >> 12));
            out[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            out[2] = (unsigned char) (0x80 | (cp & 0x3f));
            n = 3;

        } else {
            out[0] = (unsigned char) (0xf0 | (cp >> 18));
            out[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
            out[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            out[3] = (unsigned char) (0x80 | (cp & 0x3f));
            n = 4;
        }

        if (sink) {
            tr_sink_put(sink, out, n);
        }

        return 0;

    default:
        goto invalid;
    }

    ps->p += 2;

    if (sink) {
        tr_sink_put(sink, out, 1);
    }

    return 0;

invalid:

    return tr_fail(ps,
                  "request body is not valid JSON: invalid escape in a "
                  "string", NULL);

surrogate:

    return tr_fail(ps,
                  "request body is not valid JSON: unpaired UTF-16 "
                  "surrogate in a string", NULL);
}


/*
 * The common case of a key or a short value: plain ASCII, no escape,
 * shorter than size.  At the opening quote: copies the text to out and
 * moves past the closing quote (returns 1), or leaves everything to the
 * general string() path (returns 0).
 */

static int
tr_short_plain(tr_parser_t *ps,
    unsigned char *out, size_t size, size_t *len)
{
    size_t                n;
    const unsigned char  *p;

    p = ps->p + 1;

    for (n = 0; n < size && p + n < ps->end; n++) {

        if (tr_class[p[n]] != 0) {

            if (p[n] != '"') {
                return 0;
            }

            *len = n;
            ps->p = p + n + 1;
            return 1;
        }

        out[n] = p[n];
    }

    return 0;
}


/* an object key, decoded; keys longer than the buffer match nothing */

static int
tr_key(tr_parser_t *ps,
    unsigned char *key, size_t *key_len)
{
    tr_sink_t  sink;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == '"'
        && tr_short_plain(ps, key, TR_KEY_LEN, key_len))
    {
        return tr_expect(ps, ':');
    }

    sink.buf = key;
    sink.size = TR_KEY_LEN;
    sink.len = 0;
    sink.total = 0;

    if (ps->p == ps->end || *ps->p != '"') {
        return tr_fail(ps,
                   "request body is not valid JSON: expected a key", NULL);
    }

    if (tr_string(ps, &sink) != 0) {
        return -1;
    }

    /*
     * "model\u0000x" is no key of the API, but a reader that stops at the
     * NUL would take it for "model": refused, as a duplicate key is
     */

    if (memchr(key, '\0', sink.len) != NULL) {
        return tr_fail(ps,
                   "a key with a NUL character: the request is ambiguous",
                   NULL);
    }

    *key_len = (sink.total > TR_KEY_LEN) ? 0 : sink.len;

    return tr_expect(ps, ':');
}


static int
tr_number(tr_parser_t *ps, long *value,
    int *integer)
{
    int             neg, overflow;
    long            v;
    const unsigned char  *p;

    p = ps->p;
    neg = 0;
    overflow = 0;
    v = 0;
    *integer = 1;

    if (p < ps->end && *p == '-') {
        neg = 1;
        p++;
    }

    if (p == ps->end || *p < '0' || *p > '9') {
        goto invalid;
    }

    if (*p == '0') {
        p++;

    } else {
        while (p < ps->end && *p >= '0' && *p <= '9') {
            if (v > (LONG_MAX - (*p - '0')) / 10) {
                overflow = 1;

            } else {
                v = v * 10 + (*p - '0');
            }

            p++;
        }
    }

    if (p < ps->end && *p == '.') {
        *integer = 0;
        p++;

        if (p == ps->end || *p < '0' || *p > '9') {
            goto invalid;
        }

        while (p < ps->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        *integer = 0;
        p++;

        if (p < ps->end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == ps->end || *p < '0' || *p > '9') {
            goto invalid;
        }

        while (p < ps->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    ps->p = p;

    if (overflow) {
        *integer = 0;
    }

    *value = neg ? -v : v;

    return 0;

invalid:

    ps->p = p;

    return tr_fail(ps,
                   "request body is not valid JSON: invalid number", NULL);
}


static int
tr_literal(tr_parser_t *ps,
    const char *word, size_t len)
{
    if ((size_t) (ps->end - ps->p) < len || memcmp(ps->p, word, len) != 0) {
        return tr_fail(ps,
                 "request body is not valid JSON: unexpected character",
                 NULL);
    }

    ps->p += len;

    return 0;
}


/* the JSON type of the value at ps->p, after white space */

#define TR_T_END     0
#define TR_T_OBJECT  1
#define TR_T_ARRAY   2
#define TR_T_STRING  3
#define TR_T_NUMBER  4
#define TR_T_BOOL    5
#define TR_T_NULL    6
#define TR_T_BAD     7


static int
tr_type(tr_parser_t *ps)
{
    tr_ws(ps);

    if (ps->p == ps->end) {
        return TR_T_END;
    }

    switch (*ps->p) {
    case '{':
        return TR_T_OBJECT;
    case '[':
        return TR_T_ARRAY;
    case '"':
        return TR_T_STRING;
    case 't':
    case 'f':
        return TR_T_BOOL;
    case 'n':
        return TR_T_NULL;
    case '-':
        return TR_T_NUMBER;
    default:
        return (*ps->p >= '0' && *ps->p <= '9') ? TR_T_NUMBER : TR_T_BAD;
    }
}


/* validate and step over any value */

static int
tr_skip(tr_parser_t *ps)
{
    int       more, integer;
    long      n;
    size_t    key_len;
    unsigned char  key[TR_KEY_LEN];

    switch (tr_type(ps)) {

    case TR_T_STRING:
        return tr_string(ps, NULL);

    case TR_T_NUMBER:
        return tr_number(ps, &n, &integer);

    case TR_T_BOOL:
        return (*ps->p == 't') ? tr_literal(ps, "true", 4)
                               : tr_literal(ps, "false", 5);

    case TR_T_NULL:
        return tr_literal(ps, "null", 4);

    case TR_T_OBJECT:
    case TR_T_ARRAY:
        break;

    case TR_T_END:
        return tr_fail(ps,
                    "request body is not valid JSON: unexpected end", NULL);

    default:
        return tr_fail(ps,
                 "request body is not valid JSON: unexpected character",
                 NULL);
    }

    if (++ps->depth > TR_MAX_DEPTH) {
        return tr_fail(ps,
                    "request body is nested too deeply", NULL);
    }

    if (*ps->p++ == '{') {

        tr_ws(ps);

        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            ps->depth--;
            return 0;
        }

        do {
            if (tr_key(ps, key, &key_len) != 0
                || tr_skip(ps) != 0
                || tr_next(ps, '}', &more) != 0)
            {
                return -1;
            }

        } while (more);

    } else {

        tr_ws(ps);

        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            ps->depth--;
            return 0;
        }

        do {
            if (tr_skip(ps) != 0
                || tr_next(ps, ']', &more) != 0)
            {
                return -1;
            }

        } while (more);
    }

    ps->depth--;

    return 0;
}


/* a short string value, such as a role or a type, or null (len 0) */

static int
tr_short_string(tr_parser_t *ps,
    unsigned char *out, size_t size, size_t *len, const char *param)
{
    int        t;
    tr_sink_t  sink;

    t = tr_type(ps);

    if (t == TR_T_NULL) {
        *len = 0;
        return tr_literal(ps, "null", 4);
    }

    if (t != TR_T_STRING) {
        return tr_fail(ps, "a parameter must be a string",
                       param);
    }

    if (tr_short_plain(ps, out, size, len)) {
        return 0;
    }

    sink.buf = out;
    sink.size = size;
    sink.len = 0;
    sink.total = 0;

    if (tr_string(ps, &sink) != 0) {
        return -1;
    }

    *len = (sink.total > size) ? size : sink.len;

    return 0;
}


static int
tr_uint(tr_parser_t *ps, long *value,
    const char *param)
{
    int   t, integer;
    long  n;

    t = tr_type(ps);

    if (t == TR_T_NULL) {
        return tr_literal(ps, "null", 4);
    }

    if (t != TR_T_NUMBER) {
        return tr_fail(ps, param[1] == '\0'
                           ? "'n' must be a non-negative integer"
                           : "a token limit must be a non-negative integer",
                       param);
    }

    if (tr_number(ps, &n, &integer) != 0) {
        return -1;
    }

    if (!integer || n < 0 || n > INT_MAX) {
        return tr_fail(ps, param[1] == '\0'
                           ? "'n' must be a non-negative integer"
                           : "a token limit must be a non-negative integer",
                       param);
    }

    *value = n;

    return 0;
}


static int
tr_bool(tr_parser_t *ps,
    unsigned *value, const char *param)
{
    switch (tr_type(ps)) {

    case TR_T_BOOL:
        *value = (*ps->p == 't');
        return *value ? tr_literal(ps, "true", 4)
                      : tr_literal(ps, "false", 5);

    case TR_T_NULL:
        *value = 0;
        return tr_literal(ps, "null", 4);

    default:
        return tr_fail(ps, strcmp(param, "stream") == 0
                           ? "'stream' must be a boolean"
                           : strcmp(param, "background") == 0
                             ? "'background' must be a boolean"
                             : "'stream_options.include_usage' must be "
                               "a boolean", param);
    }
}


/* inlined: strlen() of the literal is a constant, compared first */

static inline __attribute__((always_inline)) int
tr_is(const unsigned char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}


static int
tr_root(tr_parser_t *ps)
{
    int            more, t, last;
    long           n;
    size_t         key_len, len, key_start, value_start, prev_end;
    unsigned       seen, bit, stream, i;
    tr_span_t     *span;
    tr_member_t   *m;
    const char    *param;
    unsigned char  key[TR_KEY_LEN];
    tr_request_t  *req;

    req = ps->req;
    seen = 0;

    if (tr_param_any == 0) {
        for (i = 0; i < TR_PARAMS; i++) {
            tr_param_any |= tr_param_bits[i];
        }
    }

    req->root.start = ps->p - ps->start;
    ps->p++;
    ps->depth = 1;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        req->root.end = ps->p - ps->start;
        return 0;
    }

    last = -1;
    prev_end = 0;

    do {
        tr_ws(ps);

        key_start = ps->p - ps->start;

        if (last >= 0) {
            req->param[last].next = key_start;
            last = -1;
        }

        if (tr_key(ps, key, &key_len) != 0) {
            return -1;
        }

        value_start = ps->p - ps->start;
        req->root_members++;

        bit = 0;
        param = NULL;

#define TR_KEY(name, flag)                                                    \
        if (bit == 0 && tr_is(key, key_len, name)) {        \
            bit = flag;                                                       \
            param = name;                                                     \
        }

        TR_KEY("model", TR_ROOT_MODEL)
        TR_KEY("messages", TR_ROOT_MESSAGES)
        TR_KEY("input", TR_ROOT_INPUT)
        TR_KEY("system", TR_ROOT_SYSTEM)
        TR_KEY("instructions", TR_ROOT_INSTRUCTIONS)
        TR_KEY("stream", TR_ROOT_STREAM)
        TR_KEY("max_tokens", TR_ROOT_MAX_TOKENS)
        TR_KEY("max_completion_tokens", TR_ROOT_MAX_COMPLETION)
        TR_KEY("max_output_tokens", TR_ROOT_MAX_OUTPUT)
        TR_KEY("reasoning_effort", TR_ROOT_REASONING_EFFORT)
        TR_KEY("reasoning", TR_ROOT_REASONING)
        TR_KEY("thinking", TR_ROOT_THINKING)
        TR_KEY("tools", TR_ROOT_TOOLS)
        TR_KEY("response_format", TR_ROOT_RESPONSE_FORMAT)
        TR_KEY("text", TR_ROOT_TEXT)
        TR_KEY("stream_options", TR_ROOT_STREAM_OPTIONS)
        TR_KEY("logprobs", TR_ROOT_LOGPROBS)
        TR_KEY("temperature", TR_ROOT_TEMPERATURE)
        TR_KEY("top_p", TR_ROOT_TOP_P)
        TR_KEY("top_k", TR_ROOT_TOP_K)
        TR_KEY("verbosity", TR_ROOT_VERBOSITY)
        TR_KEY("prompt_cache_options", TR_ROOT_PROMPT_CACHE)
        TR_KEY("output_config", TR_ROOT_OUTPUT_CONFIG)
        TR_KEY("output_format", TR_ROOT_OUTPUT_FORMAT)
        TR_KEY("prompt_cache_key", TR_ROOT_CACHE_KEY)
        TR_KEY("metadata", TR_ROOT_METADATA)
        TR_KEY("previous_response_id", TR_ROOT_PREVIOUS)
        TR_KEY("conversation", TR_ROOT_CONVERSATION)
        TR_KEY("prompt", TR_ROOT_PROMPT)
        TR_KEY("n", TR_ROOT_N)
        TR_KEY("background", TR_ROOT_BACKGROUND)

#undef TR_KEY

        if (bit & seen) {
            return tr_fail(ps,
                             "duplicate key in the request body: the "
                             "request is ambiguous", param);
        }

        seen |= bit;

        tr_ws(ps);

        switch (bit) {

        case TR_ROOT_MODEL:
            t = tr_type(ps);

            if (t != TR_T_STRING) {
                return tr_fail(ps,
                                      "'model' must be a string", "model");
            }

            req->model_span.start = ps->p - ps->start;

            if (tr_short_string(ps, req->model,
                          TR_MODEL_LEN,
                          &len, "model")
                != 0)
            {
                return -1;
            }

            req->model_span.end = ps->p - ps->start;

            if (len == TR_MODEL_LEN) {
                return tr_fail(ps,
                                      "'model' is too long", "model");
            }

            req->model_len = len;
            req->has_model = 1;
            break;

        case TR_ROOT_MESSAGES:
            if (tr_messages(ps, "messages") != 0) {
                return -1;
            }

            req->has_messages = 1;
            break;

        case TR_ROOT_INPUT:
            t = tr_type(ps);

            if (t == TR_T_STRING) {
                ps->user_span.start = ps->p - ps->start;

                if (tr_content(ps, "input") != 0) {
                    return -1;
                }

                ps->user_span.end = ps->p - ps->start;
                ps->has_user = 1;
                req->first_user_span = ps->user_span;
                req->last_user_span = ps->user_span;
                req->has_first_user = 1;
                req->features.messages++;
                req->features.user_turns++;

            } else if (t == TR_T_ARRAY) {
                if (tr_messages(ps, "input") != 0) {
                    return -1;
                }

            } else {
                return tr_fail(ps,
                             "'input' must be a string or an array", "input");
            }

            req->has_input = 1;
            break;

        case TR_ROOT_SYSTEM:
        case TR_ROOT_INSTRUCTIONS:
            t = tr_type(ps);

            if (t == TR_T_NULL) {
                if (tr_literal(ps, "null", 4) != 0) {
                    return -1;
                }

                break;
            }

            if (t != TR_T_STRING
                && !(t == TR_T_ARRAY && bit == TR_ROOT_SYSTEM))
            {
                return tr_fail(ps,
                             bit == TR_ROOT_SYSTEM
                             ? "'system' must be a string or an array"
                             : "'instructions' must be a string", param);
            }

            if (bit == TR_ROOT_SYSTEM) {
                ps->anthropic_marks++;
            }

            ps->system_span.start = ps->p - ps->start;

            if (tr_content(ps, param) != 0) {
                return -1;
            }

            ps->system_span.end = ps->p - ps->start;
            ps->has_system = 1;
            break;

        case TR_ROOT_STREAM:
            if (tr_bool(ps, &stream, "stream") != 0) {
                return -1;
            }

            req->features.stream = stream;
            break;

        case TR_ROOT_MAX_TOKENS:
        case TR_ROOT_MAX_COMPLETION:
        case TR_ROOT_MAX_OUTPUT:
            n = -1;

            if (tr_uint(ps, &n, param) != 0) {
                return -1;
            }

            ps->limits[bit == TR_ROOT_MAX_TOKENS ? TR_LIMIT_MAX_TOKENS
                       : bit == TR_ROOT_MAX_COMPLETION
                         ? TR_LIMIT_MAX_COMPLETION : TR_LIMIT_MAX_OUTPUT] = n;
            break;

        case TR_ROOT_REASONING_EFFORT:
            req->reasoning_effort_span.start = ps->p - ps->start;

            if (tr_short_string(ps, key, TR_KEY_LEN, &len,
                                param)
                != 0)
            {
                return -1;
            }

            req->reasoning_effort_span.end = ps->p - ps->start;
            req->has_reasoning_effort = 1;
            req->features.reasoning =
                              tr_effort_level(key, len);
            break;

        case TR_ROOT_REASONING:
            req->reasoning_span.start = ps->p - ps->start;

            if (tr_effort(ps, &req->reasoning_obj, 0, param) != 0) {
                return -1;
            }

            req->reasoning_span.end = ps->p - ps->start;
            req->has_reasoning = 1;
            break;

        case TR_ROOT_THINKING:
            req->thinking_span.start = ps->p - ps->start;

            /*
             * "thinking": null asks for nothing, but its span is kept so
             * that a tier's thinking block replaces it, never doubles it
             */

            if (tr_type(ps) == TR_T_NULL) {
                if (tr_literal(ps, "null", 4) != 0) {
                    return -1;
                }

            } else {
                if (tr_thinking(ps) != 0) {
                    return -1;
                }

                ps->anthropic_marks++;
            }

            req->thinking_span.end = ps->p - ps->start;
            req->has_thinking = 1;
            break;

        case TR_ROOT_STREAM_OPTIONS:
            req->stream_options_span.start = ps->p - ps->start;

            if (tr_type(ps) == TR_T_NULL) {
                if (tr_literal(ps, "null", 4) != 0) {
                    return -1;
                }

            } else if (tr_stream_options(ps) != 0) {
                return -1;
            }

            req->stream_options_span.end = ps->p - ps->start;
            req->has_stream_options = 1;
            break;

        case TR_ROOT_LOGPROBS:

            /*
             * chat's: true asks for them; false or null does not, and is
             * where the router's own ask goes; anything else is passed on
             * for the upstream to judge, and counts as an ask
             */

            req->logprobs_span.start = ps->p - ps->start;
            t = tr_type(ps);

            if (t == TR_T_BOOL || t == TR_T_NULL) {
                req->logprobs = (*ps->p == 't');

                if (tr_skip(ps) != 0) {
                    return -1;
                }

            } else {
                req->logprobs = 1;

                if (tr_skip(ps) != 0) {
                    return -1;
                }
            }

            req->logprobs_span.end = ps->p - ps->start;
            req->has_logprobs = 1;
            break;

        case TR_ROOT_OUTPUT_CONFIG:

            /* Anthropic's output settings: "effort", "format" */

            req->output_config_span.start = ps->p - ps->start;

            if (tr_effort(ps, &req->output_config, 1, param) != 0) {
                return -1;
            }

            req->output_config_span.end = ps->p - ps->start;
            req->has_output_config = 1;
            break;

        case TR_ROOT_OUTPUT_FORMAT:

            /* Anthropic's older name of output_config.format */

            if (tr_format(ps, 0, param) != 0) {
                return -1;
            }

            break;

        case TR_ROOT_CACHE_KEY:
        case TR_ROOT_PREVIOUS:

            /* what names a conversation: its bytes as sent, quoted */

            if (tr_type(ps) != TR_T_STRING) {
                if (tr_skip(ps) != 0) {
                    return -1;
                }

                break;
            }

            span = (bit == TR_ROOT_CACHE_KEY) ? &req->cache_key_span
                                              : &req->previous_span;
            span->start = ps->p - ps->start;
            req->stored |= (bit == TR_ROOT_PREVIOUS);
            ps->stored_input |= (bit == TR_ROOT_PREVIOUS);

            if (tr_skip(ps) != 0) {
                return -1;
            }

            span->end = ps->p - ps->start;
            break;

        case TR_ROOT_METADATA:
            if (tr_metadata(ps, param) != 0) {
                return -1;
            }

            break;

        case TR_ROOT_CONVERSATION:
        case TR_ROOT_PROMPT:

            /* the input of a stored conversation or prompt, not here */

            req->stored |= (tr_type(ps) != TR_T_NULL);
            ps->stored_input |= (tr_type(ps) != TR_T_NULL);

            if (tr_skip(ps) != 0) {
                return -1;
            }

            break;

        case TR_ROOT_N:
            n = -1;

            if (tr_uint(ps, &n, param) != 0) {
                return -1;
            }

            req->n = (n > 0) ? n : 0;
            break;

        case TR_ROOT_BACKGROUND:
            if (tr_bool(ps, &stream, param) != 0) {
                return -1;
            }

            req->background = stream;
            break;

        case TR_ROOT_TOOLS:
            if (tr_count(ps, &req->features.tools, param)
                != 0)
            {
                return -1;
            }

            break;

        case TR_ROOT_RESPONSE_FORMAT:
            if (tr_format(ps, 0, param) != 0) {
                return -1;
            }

            break;

        case TR_ROOT_TEXT:

            /*
             * the responses API's output settings; elsewhere "text" is
             * no field of the API and is passed on unread, like any other
             */

            t = tr_type(ps);

            if (req->dialect != TR_OPENAI_RESPONSES
                && t != TR_T_OBJECT && t != TR_T_NULL)
            {
                if (tr_skip(ps) != 0) {
                    return -1;
                }

                /* refused below if the shape says responses after all */

                ps->text_not_object = 1;
                break;
            }

            if (tr_format(ps, 1, param) != 0) {
                return -1;
            }

            break;

        default:
            if (tr_skip(ps) != 0) {
                return -1;
            }
        }

        /* where a member the profile may drop or rename is */

        for (i = 0; (bit & tr_param_any) && i < TR_PARAMS; i++) {
            if (tr_param_bits[i] == bit) {
                m = &req->param[i];
                m->key = key_start;
                m->value = value_start;
                m->end = ps->p - ps->start;
                m->prev_end = prev_end;
                m->next = 0;
                m->nth = req->root_members - 1;
                req->params |= 1u << i;
                last = (int) i;
                break;
            }
        }

        prev_end = ps->p - ps->start;

        if (tr_next(ps, '}', &more) != 0) {
            return -1;
        }

    } while (more);

    req->root.end = ps->p - ps->start;

    return 0;
}


/* "messages" (chat, Anthropic) or "input" items (responses) */

static int
tr_messages(tr_parser_t *ps,
    const char *param)
{
    int  more, t;

    if (tr_type(ps) != TR_T_ARRAY) {
        return tr_fail(ps, "'messages' must be an array",
                       param);
    }

    ps->p++;
    ps->depth++;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == ']') {
        return tr_fail(ps,
                      "the conversation must not be empty", param);
    }

    do {
        tr_ws(ps);

        t = (ps->p < ps->end && *ps->p == '{') ? tr_message_fast(ps) : 1;

        if (t < 0 || (t > 0 && tr_message(ps, param) != 0)) {
            return -1;
        }

        /* the comma right after a message, as the SDKs write it */

        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            more = 1;
            continue;
        }

        if (tr_next(ps, ']', &more) != 0) {
            return -1;
        }

    } while (more);

    ps->depth--;

    return 0;
}


#define TR_MSG_ROLE     0x01
#define TR_MSG_CONTENT  0x02
#define TR_MSG_TYPE     0x04
#define TR_MSG_OUTPUT   0x08


static int
tr_message(tr_parser_t *ps,
    const char *param)
{
    int            more, t;
    size_t         key_len, role_len, type_len;
    unsigned       seen, bit;
    unsigned char  key[TR_KEY_LEN], role[TR_KEY_LEN];
    unsigned char  type[TR_KEY_LEN];
    tr_span_t      content;

    if (tr_type(ps) != TR_T_OBJECT) {
        return tr_fail(ps,
                      "each message must be an object", param);
    }

    if (++ps->depth > TR_MAX_DEPTH) {
        return tr_fail(ps,
                      "request body is nested too deeply", NULL);
    }

    ps->p++;
    seen = 0;
    role_len = 0;
    type_len = 0;
    content.start = 0;
    content.end = 0;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        more = 0;

    } else {
        more = 1;
    }

    while (more) {

        if (tr_key(ps, key, &key_len) != 0) {
            return -1;
        }

        if (tr_is(key, key_len, "role")) {
            bit = TR_MSG_ROLE;

        } else if (tr_is(key, key_len, "content")) {
            bit = TR_MSG_CONTENT;

        } else if (tr_is(key, key_len, "type")) {
            bit = TR_MSG_TYPE;

        } else if (tr_is(key, key_len, "output")) {
            bit = TR_MSG_OUTPUT;

        } else {
            bit = 0;
        }

        if (bit & seen) {
            return tr_fail(ps,
                             "duplicate key in a message: the request is "
                             "ambiguous", param);
        }

        seen |= bit;

        switch (bit) {

        case TR_MSG_ROLE:
            t = tr_type(ps);

            if (t != TR_T_STRING) {
                return tr_fail(ps,
                                   "a message's 'role' must be a string",
                                   param);
            }

            if (tr_short_string(ps, role, TR_KEY_LEN,
                                &role_len, param)
                != 0)
            {
                return -1;
            }

            break;

        case TR_MSG_TYPE:
            if (tr_short_string(ps, type, TR_KEY_LEN,
                                &type_len, param)
                != 0)
            {
                return -1;
            }

            break;

        case TR_MSG_CONTENT:
        case TR_MSG_OUTPUT:
            content.start = ps->p - ps->start;

            if (tr_content(ps, param) != 0) {
                return -1;
            }

            content.end = ps->p - ps->start;
            break;

        default:
            if (tr_skip(ps) != 0) {
                return -1;
            }
        }

        if (tr_next(ps, '}', &more) != 0) {
            return -1;
        }
    }

    ps->depth--;
    ps->req->features.messages++;

    if (type_len
        && (tr_is(type, type_len, "function_call_output")
            || tr_is(type, type_len,
                     "custom_tool_call_output")))
    {
        ps->req->features.tool_results++;
        return 0;
    }

    if (!(seen & TR_MSG_ROLE)) {

        if (type_len == 0 || tr_is(type, type_len,
                                   "message"))
        {
            return tr_fail(ps,
                                      "a message has no 'role'", param);
        }

        /* responses items such as function_call or reasoning; a
         * reasoning item (its id, its encrypted_content) is the model's */

        if (type_len && tr_is(type, type_len, "reasoning")) {
            ps->req->signed_reasoning = 1;
        }

        return 0;
    }

    tr_message_turn(ps, tr_role(role, role_len), &content);

    return 0;
}


/* the roles whose turns count for something */

#define TR_ROLE_OTHER   0
#define TR_ROLE_USER    1
#define TR_ROLE_SYSTEM  2       /* system, developer */
#define TR_ROLE_TOOL    3       /* tool, function */


static unsigned
tr_role(const unsigned char *role, size_t len)
{
    if (tr_is(role, len, "user")) {
        return TR_ROLE_USER;
    }

    if (tr_is(role, len, "system") || tr_is(role, len, "developer")) {
        return TR_ROLE_SYSTEM;
    }

    if (tr_is(role, len, "tool") || tr_is(role, len, "function")) {
        return TR_ROLE_TOOL;
    }

    return TR_ROLE_OTHER;
}


/* what a turn of a role counts for: the user's, the system prompt */

static inline void
tr_message_turn(tr_parser_t *ps, unsigned role, tr_span_t *span)
{
    tr_span_t  content;

    content = *span;

    switch (role) {

    case TR_ROLE_USER:
        ps->req->features.user_turns++;

        if (content.end) {
            ps->user_span = content;
            ps->has_user = 1;

            if (!ps->req->has_first_user) {
                ps->req->first_user_span = content;
                ps->req->has_first_user = 1;
            }

            ps->req->last_user_span = content;
        }

        break;

    case TR_ROLE_SYSTEM:
        if (!ps->has_system && content.end) {
            ps->system_span = content;
            ps->has_system = 1;
        }

        break;

    case TR_ROLE_TOOL:
        ps->req->features.tool_results++;
        break;

    default:
        break;
    }
}


/*
 * The shape nearly every message has, as the SDKs write it, with or
 * without spaces: {"role":"user","content":"..."}, the role one of user,
 * assistant, system and developer.  Read without the general path's key
 * buffers and lookups, with the same effects.  Returns 0 (read), 1
 * (another shape: nothing consumed, nothing counted) or -1 (an error in
 * its content, the general path's own).
 */

static int
tr_message_fast(tr_parser_t *ps)
{
    size_t                 extra;
    unsigned               role;
    tr_sink_t              sink;
    tr_span_t              content;
    const unsigned char   *p, *q, *end, *msg;

    msg = ps->p;
    p = msg + 1;
    end = ps->end;

    if (ps->depth + 1 > TR_MAX_DEPTH) {
        return 1;
    }

    /* {"role":" as the SDKs write it, else with white space */

    if (end - p >= 8 && memcmp(p, "\"role\":\"", 8) == 0) {
        p += 8;

    } else {
        p = tr_fast_member(p, end, "role", 4);

        if (p == NULL) {
            return 1;
        }
    }

    if (end - p >= 10 && memcmp(p, "assistant\"", 10) == 0) {
        role = TR_ROLE_OTHER;
        p += 10;

    } else if (end - p >= 5 && memcmp(p, "user\"", 5) == 0) {
        role = TR_ROLE_USER;
        p += 5;

    } else if (end - p >= 7 && memcmp(p, "system\"", 7) == 0) {
        role = TR_ROLE_SYSTEM;
        p += 7;

    } else if (end - p >= 10 && memcmp(p, "developer\"", 10) == 0) {
        role = TR_ROLE_SYSTEM;
        p += 10;

    } else {
        return 1;
    }

    if (end - p >= 12 && memcmp(p, ",\"content\":\"", 12) == 0) {
        p += 12;

    } else {
        p = tr_ws_at(p, end);

        if (p == end || *p != ',') {
            return 1;
        }

        p = tr_fast_member(p + 1, end, "content", 7);

        if (p == NULL) {
            return 1;
        }
    }

    /* the content, a string, then the end of the message */

    content.start = (p - 1) - ps->start;

    extra = 0;
    q = tr_strscan_walk(p, end, &extra);

    if (q < end && *q == '"') {
        sink.total = (size_t) (q - p) - extra;
        q++;

    } else {
        /* a multi-byte character, a \u escape, or an error */

        sink.buf = NULL;
        sink.total = 0;

        ps->p = p;

        if (tr_string_rest(ps, q, &extra, &sink) != 0) {
            return -1;
        }

        q = ps->p;
    }

    content.end = q - ps->start;

    if (q == end || *q != '}') {
        q = tr_ws_at(q, end);

        if (q == end || *q != '}') {
            ps->p = msg;        /* another shape: read it again */
            return 1;
        }
    }

    ps->p = q + 1;
    ps->req->features.total_text += sink.total;
    ps->req->features.messages++;

    tr_message_turn(ps, role, &content);

    return 0;
}


/*
 * At p, after any white space: "key", a colon and a string's opening
 * quote, with any white space between; what follows that quote, or NULL
 */

static inline const unsigned char *
tr_fast_member(const unsigned char *p, const unsigned char *end,
    const char *key, size_t len)
{
    p = tr_ws_at(p, end);

    if ((size_t) (end - p) < len + 2 || p[0] != '"'
        || memcmp(p + 1, key, len) != 0 || p[len + 1] != '"')
    {
        return NULL;
    }

    p = tr_ws_at(p + len + 2, end);

    if (p == end || *p != ':') {
        return NULL;
    }

    p = tr_ws_at(p + 1, end);

    if (p == end || *p != '"') {
        return NULL;
    }

    return p + 1;
}


/* message content: a string, null, or an array of parts */

static int
tr_content(tr_parser_t *ps,
    const char *param)
{
    int        more;
    tr_sink_t  sink;

    switch (tr_type(ps)) {

    case TR_T_STRING:
        sink.buf = NULL;
        sink.size = 0;
        sink.len = 0;
        sink.total = 0;

        if (tr_string(ps, &sink) != 0) {
            return -1;
        }

        ps->req->features.total_text += sink.total;
        return 0;

    case TR_T_NULL:
        return tr_literal(ps, "null", 4);

    case TR_T_ARRAY:
        break;

    default:
        return tr_fail(ps,
                 "message content must be a string or an array", param);
    }

    if (++ps->depth > TR_MAX_DEPTH) {
        return tr_fail(ps,
                      "request body is nested too deeply", NULL);
    }

    ps->p++;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        ps->depth--;
        return 0;
    }

    do {
        if (tr_part(ps, param) != 0
            || tr_next(ps, ']', &more) != 0)
        {
            return -1;
        }

    } while (more);

    ps->depth--;

    return 0;
}


#define TR_PART_TYPE     0x01
#define TR_PART_TEXT     0x02
#define TR_PART_CONTENT  0x04

/*
 * an image, a file or a document part shorter than this names its data
 * (a URL, a file id) rather than carrying it: its tokens are not in the
 * body's size
 */
#define TR_PART_INLINE   1024


static int
tr_part(tr_parser_t *ps,
    const char *param)
{
    int                   more, t;
    size_t                key_len, type_len;
    unsigned              seen, bit;
    unsigned char         key[TR_KEY_LEN], type[TR_KEY_LEN];
    tr_sink_t             sink;
    const unsigned char  *start;

    t = tr_type(ps);

    if (t == TR_T_STRING) {
        return tr_content(ps, param);
    }

    if (t != TR_T_OBJECT) {
        return tr_fail(ps,
                 "each content part must be an object", param);
    }

    if (++ps->depth > TR_MAX_DEPTH) {
        return tr_fail(ps,
                      "request body is nested too deeply", NULL);
    }

    start = ps->p;
    ps->p++;
    seen = 0;
    type_len = 0;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        more = 0;

    } else {
        more = 1;
    }

    while (more) {

        if (tr_key(ps, key, &key_len) != 0) {
            return -1;
        }

        if (tr_is(key, key_len, "type")) {
            bit = TR_PART_TYPE;

        } else if (tr_is(key, key_len, "text")) {
            bit = TR_PART_TEXT;

        } else if (tr_is(key, key_len, "content")) {
            bit = TR_PART_CONTENT;

        } else {
            bit = 0;
        }

        if (bit & seen) {
            return tr_fail(ps,
                             "duplicate key in a content part: the request "
                             "is ambiguous", param);
        }

        seen |= bit;

        switch (bit) {

        case TR_PART_TYPE:
            if (tr_short_string(ps, type, TR_KEY_LEN,
                                &type_len, param)
                != 0)
            {
                return -1;
            }

            break;

        case TR_PART_TEXT:
            if (tr_type(ps) != TR_T_STRING) {
                /* e.g. the responses API's "text" format object */

                if (tr_skip(ps) != 0) {
                    return -1;
                }

                break;
            }

            sink.buf = NULL;
            sink.size = 0;
            sink.len = 0;
            sink.total = 0;

            if (tr_string(ps, &sink) != 0) {
                return -1;
            }

            ps->req->features.total_text += sink.total;
            break;

        case TR_PART_CONTENT:
            /* Anthropic tool_result blocks nest content */

            t = tr_type(ps);

            if (t == TR_T_STRING || t == TR_T_ARRAY) {
                if (tr_content(ps, param) != 0) {
                    return -1;
                }

            } else if (tr_skip(ps) != 0) {
                return -1;
            }

            break;

        default:
            if (tr_skip(ps) != 0) {
                return -1;
            }
        }

        if (tr_next(ps, '}', &more) != 0) {
            return -1;
        }
    }

    ps->depth--;

    if (type_len == 0) {
        return 0;
    }

    if (tr_is(type, type_len, "image_url")
        || tr_is(type, type_len, "input_image")
        || tr_is(type, type_len, "input_file")
        || tr_is(type, type_len, "file")
        || tr_is(type, type_len, "input_audio"))
    {
        ps->req->features.images++;
        ps->req->stored |= (ps->p - start < TR_PART_INLINE);

    } else if (tr_is(type, type_len, "image")
               || tr_is(type, type_len, "document"))
    {
        ps->req->features.images++;
        ps->req->stored |= (ps->p - start < TR_PART_INLINE);
        ps->anthropic_marks++;

    } else if (tr_is(type, type_len, "tool_result")) {
        ps->req->features.tool_results++;
        ps->anthropic_marks++;

    } else if (tr_is(type, type_len, "thinking")
               || tr_is(type, type_len, "redacted_thinking"))
    {
        /* signed by the model that thought it: valid for that model only */

        ps->req->signed_reasoning = 1;
        ps->anthropic_marks++;

    } else if (tr_is(type, type_len, "tool_use")) {
        ps->anthropic_marks++;
    }

    return 0;
}


static int
tr_count(tr_parser_t *ps, unsigned *n,
    const char *param)
{
    int  more, t;

    t = tr_type(ps);

    if (t == TR_T_NULL) {
        return tr_literal(ps, "null", 4);
    }

    if (t != TR_T_ARRAY) {
        return tr_fail(ps, "'tools' must be an array",
                       param);
    }

    ps->p++;
    ps->depth++;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        ps->depth--;
        return 0;
    }

    do {
        if (tr_skip(ps) != 0
            || tr_next(ps, ']', &more) != 0)
        {
            return -1;
        }

        (*n)++;

    } while (more);

    ps->depth--;

    return 0;
}


/*
 * chat "response_format": {"type": ...}, or, nested, the responses API's
 * "text": {"format": {"type": ...}}
 */

static int
tr_format(tr_parser_t *ps, int nested,
    const char *param)
{
    int            more, t;
    size_t         key_len, len;
    unsigned       seen;
    unsigned char  key[TR_KEY_LEN], type[TR_KEY_LEN];

    t = tr_type(ps);

    if (t == TR_T_NULL) {
        return tr_literal(ps, "null", 4);
    }

    if (t != TR_T_OBJECT) {
        return tr_fail(ps, "a format must be an object",
                       param);
    }

    if (++ps->depth > TR_MAX_DEPTH) {
        return tr_fail(ps,
                      "request body is nested too deeply", NULL);
    }

    ps->p++;
    seen = 0;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ps->depth--;
        return 0;
    }

    do {
        if (tr_key(ps, key, &key_len) != 0) {
            return -1;
        }

        if (nested && tr_is(key, key_len, "format")) {

            if (seen) {
                goto duplicate;
            }

            seen = 1;

            if (tr_format(ps, 0, param) != 0) {
                return -1;
            }

        } else if (!nested && tr_is(key, key_len, "type")) {

            if (seen) {
                goto duplicate;
            }

            seen = 1;

            if (tr_short_string(ps, type, TR_KEY_LEN, &len,
                                param)
                != 0)
            {
                return -1;
            }

            if (tr_is(type, len, "json_schema")) {
                ps->req->features.json_output = 1;
                ps->req->features.json_schema = 1;

            } else if (tr_is(type, len, "json_object")) {
                ps->req->features.json_output = 1;
            }

        } else if (tr_skip(ps) != 0) {
            return -1;
        }

        if (tr_next(ps, '}', &more) != 0) {
            return -1;
        }

    } while (more);

    ps->depth--;

    return 0;

duplicate:

    return tr_fail(ps,
                  "duplicate key in a format: the request is ambiguous",
                  param);
}


/*
 * The responses API's "reasoning": {"effort": ...}, or Anthropic's
 * "output_config": {"effort": ..., "format": {...}}: the effort read,
 * and where the object and its effort are, for a tier's effort to merge
 * into rather than replace.
 */

static int
tr_effort(tr_parser_t *ps, tr_object_t *obj, int anthropic,
    const char *param)
{
    int            more, t;
    size_t         key_len, len;
    unsigned       seen, formats;
    unsigned char  key[TR_KEY_LEN], effort[TR_KEY_LEN];

    t = tr_type(ps);

    if (t == TR_T_NULL) {
        return tr_literal(ps, "null", 4);
    }

    if (t != TR_T_OBJECT) {
        return tr_fail(ps, anthropic ? "'output_config' must be an object"
                                     : "'reasoning' must be an object",
                       param);
    }

    if (++ps->depth > TR_MAX_DEPTH) {
        return tr_fail(ps,
                      "request body is nested too deeply", NULL);
    }

    obj->object = 1;
    obj->start = ps->p - ps->start;

    ps->p++;
    seen = 0;
    formats = 0;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ps->depth--;
        return 0;
    }

    do {
        if (tr_key(ps, key, &key_len) != 0) {
            return -1;
        }

        obj->members++;

        if (tr_is(key, key_len, "effort")) {

            if (seen) {
                return tr_fail(ps,
                             "duplicate key in an object with an effort: "
                             "the request is ambiguous", param);
            }

            seen = 1;
            obj->effort.start = ps->p - ps->start;

            if (tr_short_string(ps, effort, TR_KEY_LEN,
                                &len, param)
                != 0)
            {
                return -1;
            }

            obj->effort.end = ps->p - ps->start;
            obj->has_effort = 1;

            ps->req->features.reasoning =
                              tr_effort_level(effort, len);

        } else if (anthropic && tr_is(key, key_len, "format")) {

            if (formats++) {
                return tr_fail(ps,
                             "duplicate key in 'output_config': the request "
                             "is ambiguous", param);
            }

            if (tr_format(ps, 0, param) != 0) {
                return -1;
            }

        } else if (tr_skip(ps) != 0) {
            return -1;
        }

        if (tr_next(ps, '}', &more) != 0) {
            return -1;
        }

    } while (more);

    ps->depth--;

    return 0;
}


/* Anthropic "metadata": {"user_id": ...}: where the user's id is */

static int
tr_metadata(tr_parser_t *ps, const char *param)
{
    int            more;
    size_t         key_len;
    unsigned char  key[TR_KEY_LEN];

    if (tr_type(ps) != TR_T_OBJECT) {
        return tr_skip(ps);
    }

    if (++ps->depth > TR_MAX_DEPTH) {
        return tr_fail(ps,
                      "request body is nested too deeply", NULL);
    }

    ps->p++;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ps->depth--;
        return 0;
    }

    do {
        if (tr_key(ps, key, &key_len) != 0) {
            return -1;
        }

        if (tr_is(key, key_len, "user_id")) {

            if (ps->req->user_id_span.end) {
                return tr_fail(ps,
                             "duplicate key in 'metadata': the request is "
                             "ambiguous", param);
            }

            tr_ws(ps);
            ps->req->user_id_span.start = ps->p - ps->start;

            if (tr_skip(ps) != 0) {
                return -1;
            }

            ps->req->user_id_span.end = ps->p - ps->start;

        } else if (tr_skip(ps) != 0) {
            return -1;
        }

        if (tr_next(ps, '}', &more) != 0) {
            return -1;
        }

    } while (more);

    ps->depth--;

    return 0;
}


/* Anthropic "thinking": {"type": "enabled", "budget_tokens": N} */

static int
tr_thinking(tr_parser_t *ps)
{
    int            more, enabled;
    long           budget;
    size_t         key_len, len;
    unsigned       seen;
    unsigned char  key[TR_KEY_LEN], type[TR_KEY_LEN];

    if (tr_type(ps) != TR_T_OBJECT) {
        return tr_fail(ps, "'thinking' must be an object",
                       "thinking");
    }

    ps->p++;
    ps->depth++;
    seen = 0;
    enabled = 0;
    budget = 0;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ps->depth--;
        return 0;
    }

    do {
        if (tr_key(ps, key, &key_len) != 0) {
            return -1;
        }

        if (tr_is(key, key_len, "type")) {

            if (seen & 1) {
                goto duplicate;
            }

            seen |= 1;

            if (tr_short_string(ps, type, TR_KEY_LEN, &len,
                                "thinking")
                != 0)
            {
                return -1;
            }

            enabled = tr_is(type, len, "enabled");

        } else if (tr_is(key, key_len, "budget_tokens")) {

            if (seen & 2) {
                goto duplicate;
            }

            seen |= 2;

            if (tr_uint(ps, &budget, "thinking") != 0) {
                return -1;
            }

        } else if (tr_skip(ps) != 0) {
            return -1;
        }

        if (tr_next(ps, '}', &more) != 0) {
            return -1;
        }

    } while (more);

    ps->depth--;

    if (enabled) {
        ps->req->features.reasoning = (budget >= 16384) ? 3
                                      : (budget >= 4096) ? 2 : 1;
    }

    return 0;

duplicate:

    return tr_fail(ps,
                  "duplicate key in 'thinking': the request is ambiguous",
                  "thinking");
}


/*
 * chat's "stream_options": whether the client asked for the usage chunk,
 * and where its answer is, so that accounting can ask for it instead
 */

static int
tr_stream_options(tr_parser_t *ps)
{
    int            more;
    size_t         key_len;
    unsigned       value;
    unsigned char  key[TR_KEY_LEN];
    tr_request_t  *req;

    req = ps->req;

    if (tr_type(ps) != TR_T_OBJECT) {
        return tr_fail(ps,
                       "'stream_options' must be an object",
                       "stream_options");
    }

    ps->p++;
    ps->depth++;

    tr_ws(ps);

    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        ps->depth--;
        return 0;
    }

    do {
        if (tr_key(ps, key, &key_len) != 0) {
            return -1;
        }

        req->stream_options_members++;

        if (tr_is(key, key_len, "include_usage")) {

            if (req->has_include_usage) {
                return tr_fail(ps,
                             "duplicate key in 'stream_options': the "
                             "request is ambiguous", "stream_options");
            }

            tr_ws(ps);

            req->include_usage_span.start = ps->p - ps->start;

            if (tr_bool(ps, &value,
                        "stream_options.include_usage")
                != 0)
            {
                return -1;
            }

            req->include_usage_span.end = ps->p - ps->start;
            req->has_include_usage = 1;
            req->include_usage = value;

        } else if (tr_skip(ps) != 0) {
            return -1;
        }

        if (tr_next(ps, '}', &more) != 0) {
            return -1;
        }

    } while (more);

    ps->depth--;

    return 0;
}


static unsigned
tr_effort_level(const unsigned char *s, size_t len)
{
    if (tr_is(s, len, "high")
        || tr_is(s, len, "xhigh")
        || tr_is(s, len, "max"))
    {
        return 3;
    }

    if (tr_is(s, len, "medium")) {
        return 2;
    }

    if (tr_is(s, len, "low")
        || tr_is(s, len, "minimal"))
    {
        return 1;
    }

    return 0;
}


/*
 * Decode the text of an already validated content value into a window:
 * a string, or the "text" strings of an array of parts (string parts
 * too), joined by new lines.  Tool results nested in parts are left out:
 * they are data, not the user's words.
 */

static void
tr_collect(tr_parser_t *ps,
    tr_span_t *span, tr_sink_t *sink)
{
    int            more;
    size_t         key_len;
    unsigned char  key[TR_KEY_LEN];
    tr_parser_t    sub;

    sub = *ps;
    sub.p = ps->start + span->start;
    sub.end = ps->start + span->end;
    sub.req = ps->req;

    /* errors cannot happen on a validated span; bail out quietly if so */

    switch (tr_type(&sub)) {

    case TR_T_STRING:
        (void) tr_string(&sub, sink);
        return;

    case TR_T_ARRAY:
        break;

    default:
        return;
    }

    sub.p++;
    tr_ws(&sub);

    if (sub.p < sub.end && *sub.p == ']') {
        return;
    }

    do {
        switch (tr_type(&sub)) {

        case TR_T_STRING:
            if (sink->total) {
                tr_sink_put(sink,
                          (const unsigned char *) "\n", 1);
            }

            if (tr_string(&sub, sink) != 0) {
                return;
            }

            break;

        case TR_T_OBJECT:
            sub.p++;
            tr_ws(&sub);

            if (sub.p < sub.end && *sub.p == '}') {
                sub.p++;
                break;
            }

            do {
                if (tr_key(&sub, key, &key_len) != 0) {
                    return;
                }

                if (tr_is(key, key_len, "text")
                    && tr_type(&sub) == TR_T_STRING)
                {
                    if (sink->total) {
                        tr_sink_put(sink,
                                            (const unsigned char *) "\n", 1);
                    }

                    if (tr_string(&sub, sink) != 0) {
                        return;
                    }

                } else if (tr_skip(&sub) != 0) {
                    return;
                }

                if (tr_next(&sub, '}', &more) != 0) {
                    return;
                }

            } while (more);

            break;

        default:
            if (tr_skip(&sub) != 0) {
                return;
            }
        }

        if (tr_next(&sub, ']', &more) != 0) {
            return;
        }

    } while (more);
}
