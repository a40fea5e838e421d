
/*
 * Copyright (C) The tier router authors
 *
 * The usage reader: token counts from an upstream's response as it passes,
 * in any pieces, without buffering it.  JSON bodies and server-sent event
 * streams of the three dialects.  Pure C, no nginx dependency, no
 * allocation: fixed memory per response whatever its size.
 */


#ifndef _TR_USAGE_H_INCLUDED_
#define _TR_USAGE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * Normalised counts (-1: not reported).  input counts every input token,
 * cached and cache_write are the parts of it read from and written to the
 * provider's prompt cache (cache_write_1h the part of the writes kept for
 * an hour); output counts every output token, reasoning is the part of it
 * spent thinking; web_search and web_fetch count the server tools' calls
 * (Anthropic's server_tool_use).  The last value of each field read wins:
 * Anthropic's message_delta repeats message_start's, cumulatively.
 */

typedef struct {
    int64_t                      input;
    int64_t                      output;
    int64_t                      cached;
    int64_t                      cache_write;
    int64_t                      cache_write_1h;  /* of cache_write: kept an
                                                     hour (Anthropic) */
    int64_t                      reasoning;
    int64_t                      web_search;      /* server tool requests */
    int64_t                      web_fetch;
    int                          service_tier;    /* TR_SERVICE_* */
} tr_usage_t;


/* the service tier an answer says it ran on */

#define TR_SERVICE_DEFAULT   0      /* default, standard, auto, absent */
#define TR_SERVICE_FLEX      1
#define TR_SERVICE_PRIORITY  2
#define TR_SERVICE_BATCH     3


/* a usage of nothing: every count -1, the default tier */

void tr_usage_none(tr_usage_t *u);


#define TR_USAGE_KEY_LEN    128
#define TR_USAGE_DEPTH      16


typedef struct {
    /* public, read after each feed() */
    uint64_t                     bytes;        /* body bytes fed */
    uint64_t                     text_bytes;   /* bytes of generated text */
    unsigned                     seen:1;       /* a usage object was read */
    unsigned                     event_end:1;  /* feed() stopped after the
                                                  end of an SSE event */
    unsigned                     usage_only:1; /* that event was OpenAI
                                                  chat's usage-only chunk */
    unsigned                     done:1;       /* a terminal event or the
                                                  end of a JSON body seen */
    unsigned char                model[TR_USAGE_KEY_LEN];
    size_t                       model_len;    /* the answer's "model", the
                                                  first seen; 0: none */
    unsigned char                id[TR_USAGE_KEY_LEN];
    size_t                       id_len;       /* its "id", the same way */
    unsigned                     usage_closed:1;  /* a usage object of the
                                                     answer ended in the
                                                     last feed() */
    unsigned                     usage_empty:1;   /* ... and had nothing */
    uint64_t                     usage_end;    /* the offset of its "}" in
                                                  the body (as bytes) */

    /* private */
    int                          dialect;
    unsigned                     sse:1;
    unsigned                     state;        /* of the JSON tokenizer */
    unsigned                     sse_state;    /* of the SSE line parser */
    unsigned                     depth;        /* containers open */
    unsigned                     skip;         /* ... and beyond ctx */
    unsigned char                ctx[TR_USAGE_DEPTH];
    unsigned char                key[TR_USAGE_KEY_LEN];
    size_t                       key_len;      /* > KEY_LEN: too long */
    unsigned                     key_id;       /* of the current member */
    unsigned                     flags;
    int64_t                      number;       /* a number, \u escape or */
    unsigned                     ndigits;      /* literal in progress */
    unsigned                     field;        /* "data" matched so far */
    unsigned                     done_pos;     /* "[DONE]" matched so far */
    int                          service_tier;
    const unsigned char         *feed_base;    /* of the current feed() */
    int64_t                      raw[12];
} tr_usage_parser_t;


/* dialect: TR_OPENAI_CHAT, _OPENAI_RESPONSES, _ANTHROPIC */

void tr_usage_init(tr_usage_parser_t *p,
    int dialect, int sse);

/*
 * Reads up to len bytes and returns how many it read.  In SSE mode it
 * stops right after the blank line that ends an event, with event_end
 * (and usage_only) set for that event; the caller feeds the rest again.
 */

size_t tr_usage_feed(tr_usage_parser_t *p,
    const unsigned char *data, size_t len);

/* the counts read so far, normalised; returns 0, or -1 if none were seen */

int tr_usage_result(
    const tr_usage_parser_t *p,
    tr_usage_t *u);


#endif /* _TR_USAGE_H_INCLUDED_ */
