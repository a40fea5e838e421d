
/*
 * Copyright (C) The tier router authors
 *
 * The body rewriter: the tier's model (and reasoning parameters) as
 * splices at the spans the extractor found; every other byte is kept.
 */


#include <stdio.h>
#include <string.h>
#include "tr_rewrite.h"


static size_t tr_print(unsigned char *out, size_t size,
    const char *fmt, const char *effort, long budget);


static const char  *tr_efforts[] = {
    "", "low", "medium", "high"
};


void
tr_rewrite_plan(const tr_request_t *req, const tr_edit_t *edit,
    tr_plan_t *pl)
{
    size_t         n;
    unsigned       i, j;
    const char    *effort, *fmt;
    unsigned char  param[TR_SPLICE_LEN];
    tr_splice_t   *s, *ins, tmp;
    const tr_span_t  *span;

    pl->n = 0;

    /* new members go right after the root's '{', as one splice */

    ins = &pl->splice[pl->n++];
    ins->start = req->root.start + 1;
    ins->end = ins->start;
    ins->len = 0;

    if (req->has_model) {
        s = &pl->splice[pl->n++];
        s->start = req->model_span.start;
        s->end = req->model_span.end;
        s->data[0] = '"';
        memcpy(s->data + 1, edit->model, edit->model_len);
        s->data[edit->model_len + 1] = '"';
        s->len = edit->model_len + 2;

    } else {
        ins->data[0] = '"';
        memcpy(ins->data + 1, "model\":\"", 8);
        memcpy(ins->data + 9, edit->model, edit->model_len);
        ins->data[edit->model_len + 9] = '"';
        ins->len = edit->model_len + 10;
    }

    if (edit->reasoning > 0 && edit->reasoning <= 3) {
        effort = tr_efforts[edit->reasoning];
        span = NULL;

        switch (req->dialect) {

        case TR_OPENAI_RESPONSES:
            fmt = "{\"effort\":\"%s\"}";
            span = req->has_reasoning ? &req->reasoning_span : NULL;
            n = tr_print(param, sizeof(param),
                         "\"reasoning\":", NULL, 0);
            break;

        case TR_ANTHROPIC:
            fmt = "{\"type\":\"enabled\",\"budget_tokens\":%ld}";
            span = req->has_thinking ? &req->thinking_span : NULL;
            n = tr_print(param, sizeof(param),
                         "\"thinking\":", NULL, 0);
            break;

        default:
            fmt = "\"%s\"";
            span = req->has_reasoning_effort ? &req->reasoning_effort_span
                                             : NULL;
            n = tr_print(param, sizeof(param),
                         "\"reasoning_effort\":", NULL, 0);
            break;
        }

        if (span) {
            s = &pl->splice[pl->n++];
            s->start = span->start;
            s->end = span->end;
            s->len = tr_print(s->data,
                          TR_SPLICE_LEN,
                          fmt, effort,
                          edit->thinking_budget);

        } else {
            if (ins->len) {
                ins->data[ins->len++] = ',';
            }

            memcpy(ins->data + ins->len, param, n);
            ins->len += n;
            ins->len += tr_print(ins->data + ins->len,
                                    TR_SPLICE_LEN - ins->len,
                                    fmt, effort, edit->thinking_budget);
        }
    }

    if (edit->stream_usage && !req->include_usage) {

        if (req->has_include_usage) {
            s = &pl->splice[pl->n++];
            s->start = req->include_usage_span.start;
            s->end = req->include_usage_span.end;
            memcpy(s->data, "true", 4);
            s->len = 4;

        } else if (req->has_stream_options
                   && req->stream_options_members > 0)
        {
            s = &pl->splice[pl->n++];
            s->start = req->stream_options_span.start + 1;
            s->end = s->start;
            memcpy(s->data, "\"include_usage\":true,", 21);
            s->len = 21;

        } else if (req->has_stream_options) {

            /* {} or null */

            s = &pl->splice[pl->n++];
            s->start = req->stream_options_span.start;
            s->end = req->stream_options_span.end;
            memcpy(s->data, "{\"include_usage\":true}", 22);
            s->len = 22;

        } else {
            if (ins->len) {
                ins->data[ins->len++] = ',';
            }

            memcpy(ins->data + ins->len,
                   "\"stream_options\":{\"include_usage\":true}", 39);
            ins->len += 39;
        }
    }

    if (edit->logprobs && !req->logprobs) {

        if (req->has_logprobs) {
            s = &pl->splice[pl->n++];
            s->start = req->logprobs_span.start;
            s->end = req->logprobs_span.end;
            memcpy(s->data, "true", 4);
            s->len = 4;

        } else {
            if (ins->len) {
                ins->data[ins->len++] = ',';
            }

            memcpy(ins->data + ins->len, "\"logprobs\":true", 15);
            ins->len += 15;
        }
    }

    if (ins->len && req->root_members > 0) {
        ins->data[ins->len++] = ',';
    }

    /* order by position; the insertion is first already, spans are few */

    for (i = 1; i < pl->n; i++) {
        for (j = i; j > 1 && pl->splice[j].start < pl->splice[j - 1].start;
             j--)
        {
            tmp = pl->splice[j];
            pl->splice[j] = pl->splice[j - 1];
            pl->splice[j - 1] = tmp;
        }
    }
}


static size_t
tr_print(unsigned char *out, size_t size, const char *fmt,
    const char *effort, long budget)
{
    int  n;

    if (effort == NULL) {
        n = snprintf((char *) out, size, "%s", fmt);

    } else if (strstr(fmt, "%ld")) {
        n = snprintf((char *) out, size, fmt, budget);

    } else {
        n = snprintf((char *) out, size, fmt, effort);
    }

    return (n < 0 || (size_t) n >= size) ? 0 : (size_t) n;
}


size_t
tr_rewrite_size(const unsigned char *body, size_t len,
    const tr_request_t *req, const tr_edit_t *edit)
{
    size_t     size;
    unsigned   i;
    tr_plan_t  pl;

    tr_rewrite_plan(req, edit, &pl);

    size = len;

    for (i = 0; i < pl.n; i++) {
        size = size - (pl.splice[i].end - pl.splice[i].start)
               + pl.splice[i].len;
    }

    return size;
}


size_t
tr_rewrite(const unsigned char *body, size_t len,
    const tr_request_t *req, const tr_edit_t *edit, unsigned char *out)
{
    size_t          pos;
    unsigned        i;
    unsigned char  *p;
    tr_plan_t       pl;
    tr_splice_t    *s;

    tr_rewrite_plan(req, edit, &pl);

    p = out;
    pos = 0;

    for (i = 0; i < pl.n; i++) {
        s = &pl.splice[i];

        memcpy(p, body + pos, s->start - pos);
        p += s->start - pos;

        memcpy(p, s->data, s->len);
        p += s->len;

        pos = s->end;
    }

    memcpy(p, body + pos, len - pos);
    p += len - pos;

    return p - out;
}


void
tr_rewrite_thinking(const tr_request_t *req, tr_edit_t *edit)
{
    if (edit->reasoning && req->dialect == TR_ANTHROPIC
        && req->features.max_tokens >= 0
        && req->features.max_tokens <= edit->thinking_budget)
    {
        if (req->features.max_tokens > 1024) {
            edit->thinking_budget = req->features.max_tokens - 1;

        } else {
            edit->reasoning = 0;
        }
    }
}
