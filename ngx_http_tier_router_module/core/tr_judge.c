
/*
 * Copyright (C) The tier router authors
 *
 * The answer judge of escalation.
 */


#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tr_dialect.h"
#include "tr_judge.h"


/* what an answer says of itself, besides its text */

#define TR_SAYS_TEXT     0
#define TR_SAYS_TOOL     -1


static const char  *tr_answers[] = {
    NULL, "length", "refusal", "empty", "json", "logprob", "math", "invalid",
    NULL
};


static int tr_judge_low(const tr_judge_t *j, json_t *root);
static int tr_judge_says(json_t *root, int dialect, json_t *text);
static tr_answer_e tr_judge_text(const tr_judge_t *j, json_t *text,
    size_t max);


tr_answer_e
tr_judge(const tr_judge_t *j, const char *body, size_t len)
{
    int          low, says;
    json_t      *root, *text;
    tr_answer_e  answer;

    root = json_loadb(body, len, 0, NULL);

    if (!json_is_object(root)) {
        json_decref(root);
        return TR_ANSWER_INVALID;
    }

    low = tr_judge_low(j, root);

    text = json_array();

    if (text == NULL) {
        json_decref(root);
        return TR_ANSWER_ERROR;
    }

    says = tr_judge_says(root, j->dialect, text);

    if (says == TR_SAYS_TEXT) {
        answer = tr_judge_text(j, text, len);

    } else if ((says == TR_ANSWER_LENGTH && (j->signals & TR_JUDGE_LENGTH))
               || (says == TR_ANSWER_REFUSAL
                   && (j->signals & TR_JUDGE_REFUSAL)))
    {
        answer = (tr_answer_e) says;

    } else {

        /* a tool call: neither empty nor a JSON document to check */

        answer = TR_ANSWER_GOOD;
    }

    json_decref(text);
    json_decref(root);

    /* an empty answer is judged empty or good, never by its logprobs */

    if (answer == TR_ANSWER_EMPTY) {
        return (j->signals & TR_JUDGE_EMPTY) ? TR_ANSWER_EMPTY
                                             : TR_ANSWER_GOOD;
    }

    if (answer == TR_ANSWER_GOOD && low) {
        return TR_ANSWER_LOGPROB;
    }

    return answer;
}


const char *
tr_answer_name(tr_answer_e answer)
{
    if ((unsigned) answer >= sizeof(tr_answers) / sizeof(tr_answers[0])) {
        return NULL;
    }

    return tr_answers[answer];
}


/* chat: the mean log-probability of the answer's tokens, below the bar */

static int
tr_judge_low(const tr_judge_t *j, json_t *root)
{
    size_t   i, n;
    double   sum;
    json_t  *lp, *v;

    if (!(j->signals & TR_JUDGE_LOGPROB) || j->dialect != TR_OPENAI_CHAT) {
        return 0;
    }

    lp = json_object_get(json_object_get(json_array_get(
                 json_object_get(root, "choices"), 0), "logprobs"),
                 "content");
    sum = 0;
    n = 0;

    for (i = 0; i < json_array_size(lp); i++) {
        v = json_object_get(json_array_get(lp, i), "logprob");

        if (json_is_number(v)) {
            sum += json_number_value(v);
            n++;
        }
    }

    return n && sum / n < j->logprob;
}


/* the answer's text parts joined: empty, or not the JSON asked for */

static tr_answer_e
tr_judge_text(const tr_judge_t *j, json_t *text, size_t max)
{
    char    *buf;
    double   f[TR_CHECK_N];
    size_t   i, k, len;
    json_t  *doc;

    buf = malloc(max + 1);

    if (buf == NULL) {
        return TR_ANSWER_ERROR;
    }

    len = 0;

    for (i = 0; i < json_array_size(text); i++) {
        k = json_string_length(json_array_get(text, i));

        if (k > max - len) {
            k = max - len;
        }

        memcpy(buf + len, json_string_value(json_array_get(text, i)), k);
        len += k;
    }

    for (i = 0; i < len; i++) {
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r'
            && buf[i] != '\n')
        {
            break;
        }
    }

    if (i == len) {
        free(buf);
        return TR_ANSWER_EMPTY;
    }

    if ((j->signals & TR_JUDGE_JSON) && j->json_output) {
        doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);

        if (doc == NULL) {
            free(buf);
            return TR_ANSWER_JSON;
        }

        json_decref(doc);
    }

    /* a word problem's answer that its own text says is likely wrong */

    if ((j->signals & TR_JUDGE_MATH) && j->math
        && (j->ask & TR_CHECK_ASK_MATH))
    {
        tr_check_math(buf, len, j->ask, f);

        if (tr_check_score(j->math, j->pre, f) >= j->threshold) {
            free(buf);
            return TR_ANSWER_MATH;
        }
    }

    free(buf);

    return TR_ANSWER_GOOD;
}


/*
 * What the dialect's answer says of itself: TR_ANSWER_LENGTH (cut short
 * by the output limit), TR_ANSWER_REFUSAL, TR_SAYS_TOOL (a tool call);
 * else TR_SAYS_TEXT, with the answer's text parts appended to text.
 */

static int
tr_judge_says(json_t *root, int dialect, json_t *text)
{
    size_t       i, k;
    json_t      *parts, *part, *item, *msg, *v;
    const char  *s, *type;

    if (dialect == TR_OPENAI_CHAT) {
        item = json_array_get(json_object_get(root, "choices"), 0);
        msg = json_object_get(item, "message");
        s = json_string_value(json_object_get(item, "finish_reason"));

        if (s && strcmp(s, "length") == 0) {
            return TR_ANSWER_LENGTH;
        }

        v = json_object_get(msg, "refusal");

        if ((s && strcmp(s, "content_filter") == 0)
            || (json_is_string(v) && json_string_length(v)))
        {
            return TR_ANSWER_REFUSAL;
        }

        if (json_array_size(json_object_get(msg, "tool_calls"))
            || json_is_object(json_object_get(msg, "function_call")))
        {
            return TR_SAYS_TOOL;
        }

        v = json_object_get(msg, "content");

        if (json_is_string(v)) {
            json_array_append(text, v);
        }

        return TR_SAYS_TEXT;
    }

    if (dialect == TR_ANTHROPIC) {
        s = json_string_value(json_object_get(root, "stop_reason"));

        /* out of room: the output limit, or the model's context */

        if (s && (strcmp(s, "max_tokens") == 0
                  || strcmp(s, "model_context_window_exceeded") == 0))
        {
            return TR_ANSWER_LENGTH;
        }

        if (s && strcmp(s, "refusal") == 0) {
            return TR_ANSWER_REFUSAL;
        }

        /* a long turn paused (server tools): to be continued, not empty */

        if (s && strcmp(s, "pause_turn") == 0) {
            return TR_SAYS_TOOL;
        }

        parts = json_object_get(root, "content");

        for (i = 0; i < json_array_size(parts); i++) {
            part = json_array_get(parts, i);
            type = json_string_value(json_object_get(part, "type"));

            if (type && strcmp(type, "tool_use") == 0) {
                return TR_SAYS_TOOL;
            }

            v = json_object_get(part, "text");

            if (type && strcmp(type, "text") == 0 && json_is_string(v)) {
                json_array_append(text, v);
            }
        }

        return TR_SAYS_TEXT;
    }

    /* OpenAI responses */

    s = json_string_value(json_object_get(root, "status"));

    if (s && strcmp(s, "incomplete") == 0) {
        s = json_string_value(json_object_get(
                    json_object_get(root, "incomplete_details"), "reason"));

        return (s && strcmp(s, "content_filter") == 0) ? TR_ANSWER_REFUSAL
                                                       : TR_ANSWER_LENGTH;
    }

    parts = json_object_get(root, "output");

    for (i = 0; i < json_array_size(parts); i++) {
        item = json_array_get(parts, i);
        type = json_string_value(json_object_get(item, "type"));

        if (type == NULL || strcmp(type, "reasoning") == 0) {
            continue;
        }

        if (strcmp(type, "message") != 0) {
            return TR_SAYS_TOOL;
        }

        msg = json_object_get(item, "content");

        for (k = 0; k < json_array_size(msg); k++) {
            part = json_array_get(msg, k);
            type = json_string_value(json_object_get(part, "type"));

            if (type && strcmp(type, "refusal") == 0) {
                return TR_ANSWER_REFUSAL;
            }

            v = json_object_get(part, "text");

            if (type && strcmp(type, "output_text") == 0
                && json_is_string(v))
            {
                json_array_append(text, v);
            }
        }
    }

    return TR_SAYS_TEXT;
}


size_t
tr_judge_category(const char *body, size_t len, char *out, size_t size)
{
    size_t       n;
    json_t      *root;
    const char  *s;

    if (size == 0) {
        return 0;
    }

    root = json_loadb(body, len, 0, NULL);

    s = json_string_value(json_object_get(json_object_get(root,
                                                          "stop_details"),
                                          "category"));
    n = 0;

    while (s && s[n] && n < size - 1
           && ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9')
               || s[n] == '_' || s[n] == '-'))
    {
        out[n] = s[n];
        n++;
    }

    out[n] = '\0';

    json_decref(root);

    return n;
}
