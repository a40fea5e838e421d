
/*
 * Copyright (C) The tier router authors
 *
 * The answer judge of escalation: a complete non-streaming answer of a
 * dialect, read with jansson, against the signals the operator named
 * (tier_router_escalate).  Pure C.
 */


#ifndef _TR_JUDGE_H_INCLUDED_
#define _TR_JUDGE_H_INCLUDED_


#include <stddef.h>

#include "tr_check.h"


/* the signals, as bits */

#define TR_JUDGE_LENGTH    0x01     /* cut short by the output limit */
#define TR_JUDGE_EMPTY     0x02     /* no text but white space */
#define TR_JUDGE_REFUSAL   0x04     /* the model refused */
#define TR_JUDGE_JSON      0x08     /* JSON asked for, and not given */
#define TR_JUDGE_LOGPROB   0x10     /* chat: a low mean log-probability */
#define TR_JUDGE_MATH      0x20     /* the answer checks: likely wrong */


typedef enum {
    TR_ANSWER_GOOD = 0,             /* good enough: the client's */
    TR_ANSWER_LENGTH,
    TR_ANSWER_REFUSAL,
    TR_ANSWER_EMPTY,
    TR_ANSWER_JSON,
    TR_ANSWER_LOGPROB,
    TR_ANSWER_MATH,
    TR_ANSWER_INVALID,              /* not a JSON object */
    TR_ANSWER_ERROR                 /* out of memory: not judged */
} tr_answer_e;


typedef struct {
    int                          dialect;       /* TR_OPENAI_CHAT, ... */
    unsigned                     signals;       /* TR_JUDGE_* */
    unsigned                     json_output:1; /* the client asked JSON */
    double                       logprob;       /* a mean below is low */

    /* the answer checks (TR_JUDGE_MATH) */
    const tr_check_model_t      *math;
    double                       threshold;     /* P(wrong) that escalates */
    double                       pre;           /* the classifier's score */
    unsigned                     ask;           /* TR_CHECK_ASK_* */
} tr_judge_t;


/*
 * The first signal that holds, in the order length (Anthropic's
 * model_context_window_exceeded too), refusal (a tool call, or an
 * Anthropic pause_turn, is neither, and is never empty or checked as
 * JSON), empty, json, math (the answer checks of a word problem), then
 * logprob; TR_ANSWER_INVALID for a body that is not a JSON object.
 */

tr_answer_e tr_judge(const tr_judge_t *j, const char *body, size_t len);

/*
 * "length", "refusal", "empty", "json", "logprob", "math", "invalid"; NULL for
 * TR_ANSWER_GOOD and TR_ANSWER_ERROR.
 */

const char *tr_answer_name(tr_answer_e answer);

/*
 * A refusal's category (Anthropic stop_details.category), up to the
 * first character other than a-z, 0-9, "_" and "-", cut to size - 1;
 * returns its length, 0 for none.
 */

size_t tr_judge_category(const char *body, size_t len, char *out,
    size_t size);


#endif /* _TR_JUDGE_H_INCLUDED_ */
