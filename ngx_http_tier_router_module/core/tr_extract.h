
/*
 * Copyright (C) The tier router authors
 *
 * The request extractor: one bounded pass over an LLM API request body
 * that validates it as JSON and pulls out only what routing needs.
 * Pure C, no nginx dependency, no allocation: the caller owns the
 * request structure.
 */


#ifndef _TR_EXTRACT_H_INCLUDED_
#define _TR_EXTRACT_H_INCLUDED_


#include <stddef.h>
#include "tr_classify.h"
#include "tr_dialect.h"


#define TR_MODEL_LEN         128
#define TR_TEXT_LEN          4096
#define TR_SYSTEM_LEN        1024
#define TR_MAX_DEPTH         128


/* a value in the body: offsets of its first and one past its last byte */

typedef struct {
    size_t                           start;
    size_t                           end;
} tr_span_t;


/* root members a tier's profile may drop or rename (tr_param_names) */

#define TR_PARAM_TEMPERATURE         0
#define TR_PARAM_TOP_P               1
#define TR_PARAM_TOP_K               2
#define TR_PARAM_MAX_TOKENS          3
#define TR_PARAM_VERBOSITY           4
#define TR_PARAM_PROMPT_CACHE        5   /* prompt_cache_options */
#define TR_PARAM_THINKING            6
#define TR_PARAMS                    7

extern const char  *tr_param_names[TR_PARAMS];


/* a root member: offsets of its key, its value's end, its neighbours */

typedef struct {
    size_t                           key;       /* its key's '"' */
    size_t                           value;     /* after its ':' */
    size_t                           end;       /* after its value */
    size_t                           prev_end;  /* after the previous
                                                   member's value; 0: none */
    size_t                           next;      /* the next member's key;
                                                   0: it is the last */
    unsigned                         nth;       /* among the root's */
} tr_member_t;


/* an object a tier's effort merges into: reasoning, output_config */

typedef struct {
    size_t                           start;     /* its '{' */
    unsigned                         members;
    unsigned                         object:1;  /* not null */
    unsigned                         has_effort:1;
    tr_span_t                        effort;    /* its "effort" value */
} tr_object_t;


typedef struct {
    int                              dialect;     /* in: hint; out: used */

    tr_span_t      root;        /* the root object */
    unsigned       root_members;
    unsigned       stream_options_members;

    unsigned                         has_model:1;
    unsigned                         has_reasoning_effort:1;
    unsigned                         has_reasoning:1;
    unsigned                         has_thinking:1;
    unsigned                         has_messages:1;
    unsigned                         has_input:1;
    unsigned                         has_stream_options:1;
    unsigned                         has_include_usage:1;
    unsigned                         include_usage:1;  /* true asked */
    unsigned                         has_logprobs:1;
    unsigned                         logprobs:1;       /* asked (chat) */

    tr_span_t          model_span;  /* with the quotes */
    unsigned char      model[TR_MODEL_LEN];
    size_t             model_len;   /* decoded */

    tr_span_t      reasoning_effort_span; /* chat */
    tr_span_t      reasoning_span;        /* responses */
    tr_span_t      thinking_span;         /* anthropic */
    tr_span_t      stream_options_span;   /* chat */
    tr_span_t      include_usage_span;    /* its value */
    tr_span_t      logprobs_span;         /* chat */
    tr_span_t      output_config_span;    /* anthropic */
    tr_object_t    reasoning_obj;         /* responses */
    tr_object_t    output_config;         /* anthropic */
    unsigned       has_output_config:1;

    unsigned       params;                /* 1 << TR_PARAM_*: present */
    tr_member_t    param[TR_PARAMS];

    /* what names the conversation, and what ties it to one model */
    tr_span_t      cache_key_span;        /* prompt_cache_key, quoted */
    tr_span_t      user_id_span;          /* metadata.user_id, as sent */
    tr_span_t      previous_span;         /* previous_response_id */
    tr_span_t      first_user_span;       /* the first user turn */
    tr_span_t      last_user_span;        /* the last user turn */
    unsigned       has_first_user:1;
    unsigned       signed_reasoning:1;    /* thinking blocks, reasoning
                                             items: one model's own */

    /* what the body's size does not bound */
    long           n;                     /* chat "n", 0: absent */
    unsigned       background:1;          /* responses "background" */
    unsigned       stored:1;              /* input kept elsewhere: a
                                             previous_response_id, a
                                             conversation, a stored
                                             prompt, a file or image by
                                             reference */

    tr_features_t  features;    /* text points below */

    const char                      *error;       /* NULL: no error */
    const char                      *error_param; /* field, or NULL */
    size_t                           error_offset;

    /* the windows last: the extractor clears only what comes before */
    unsigned char                    text[TR_TEXT_LEN];
    unsigned char                    system[TR_SYSTEM_LEN];
} tr_request_t;


/*
 * Returns 0 and fills req, or -1 with req->error set to a message fit for
 * the client.  req->dialect is read as a hint (AUTO: detect by shape).
 */

int tr_extract(const unsigned char *body, size_t len,
    tr_request_t *req);


#endif /* _TR_EXTRACT_H_INCLUDED_ */
