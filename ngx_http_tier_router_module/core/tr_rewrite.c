
/*
 * Copyright (C) The tier router authors
 *
 * The body rewriter: the tier's model (and reasoning parameters) as
 * splices at the spans the extractor found; every other byte is kept.
 */


#include <string.h>
#include "tr_rewrite.h"


static size_t tr_print(unsigned char *out, size_t size,
    const char *fmt, const char *effort, long budget);
static void tr_value(tr_plan_t *pl, tr_splice_t *ins, const tr_span_t *span,
    const char *key, const char *fmt, const char *effort, long budget);
static void tr_effort_into(tr_plan_t *pl, tr_splice_t *ins,
    const tr_object_t *obj, const tr_span_t *span, const char *key,
    const char *effort);
static unsigned tr_drop(const tr_request_t *req, unsigned removed,
    tr_plan_t *pl);


static const char  *tr_efforts[] = {
    "", "low", "medium", "high"
};


/* the longest effort word a tier may set ("minimal") */

#define TR_EFFORT_LEN  16


void
tr_rewrite_plan(const tr_request_t *req, const tr_edit_t *edit,
    tr_plan_t *pl)
{
    unsigned       i, j, drop, removed, thinking;
    const char    *effort;
    tr_splice_t   *s, *ins, tmp;
    const tr_member_t  *m;

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

    effort = edit->effort;

    if (effort == NULL && edit->reasoning > 0 && edit->reasoning <= 3) {
        effort = tr_efforts[edit->reasoning];
    }

    if (effort && strlen(effort) >= TR_EFFORT_LEN) {
        effort = NULL;
    }

    drop = edit->drop;

    switch (req->dialect) {

    case TR_OPENAI_RESPONSES:

        /* reasoning.effort only: summary and the rest stay */

        if (effort) {
            tr_effort_into(pl, ins, &req->reasoning_obj,
                           req->has_reasoning ? &req->reasoning_span : NULL,
                           "reasoning", effort);
        }

        break;

    case TR_ANTHROPIC:
        thinking = edit->thinking;

        if (thinking == TR_THINKING_AUTO && effort) {
            thinking = TR_THINKING_ENABLED;
        }

        if (thinking == TR_THINKING_ENABLED
            || thinking == TR_THINKING_ADAPTIVE)
        {
            /* the thinking written is never dropped too */

            drop &= ~(1u << TR_PARAM_THINKING);
        }

        if (thinking == TR_THINKING_ENABLED) {
            tr_value(pl, ins, req->has_thinking ? &req->thinking_span : NULL,
                     "thinking",
                     "{\"type\":\"enabled\",\"budget_tokens\":%ld}", "",
                     edit->thinking_budget);

        } else if (thinking == TR_THINKING_ADAPTIVE) {
            tr_value(pl, ins, req->has_thinking ? &req->thinking_span : NULL,
                     "thinking", "{\"type\":\"adaptive\"}", NULL, 0);

            if (effort) {
                tr_effort_into(pl, ins, &req->output_config,
                               req->has_output_config
                               ? &req->output_config_span : NULL,
                               "output_config", effort);
            }

        } else if (thinking == TR_THINKING_OFF) {
            drop |= 1u << TR_PARAM_THINKING;
        }

        break;

    default:
        if (effort) {
            tr_value(pl, ins, req->has_reasoning_effort
                              ? &req->reasoning_effort_span : NULL,
                     "reasoning_effort", "\"%s\"", effort, 0);
        }

        break;
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

    /* a member renamed, unless it is dropped */

    removed = drop & req->params;

    if (edit->rename >= 0 && edit->rename < TR_PARAMS && edit->rename_to
        && (req->params & (1u << edit->rename))
        && !(removed & (1u << edit->rename))
        && strlen(edit->rename_to) + 3 < TR_SPLICE_LEN)
    {
        m = &req->param[edit->rename];
        s = &pl->splice[pl->n++];
        s->start = m->key;
        s->end = m->value;
        s->len = tr_print(s->data, TR_SPLICE_LEN, "\"%s\":",
                          edit->rename_to, 0);
    }

    i = removed ? tr_drop(req, removed, pl) : 0;

    if (ins->len && req->root_members > i) {
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


/* a root member's new value: in place of the client's, or inserted */

static void
tr_value(tr_plan_t *pl, tr_splice_t *ins, const tr_span_t *span,
    const char *key, const char *fmt, const char *effort, long budget)
{
    tr_splice_t  *s;

    if (span) {
        s = &pl->splice[pl->n++];
        s->start = span->start;
        s->end = span->end;
        s->len = tr_print(s->data, TR_SPLICE_LEN, fmt, effort, budget);
        return;
    }

    if (ins->len) {
        ins->data[ins->len++] = ',';
    }

    ins->len += tr_print(ins->data + ins->len, TR_SPLICE_LEN - ins->len,
                         "\"%s\":", key, 0);
    ins->len += tr_print(ins->data + ins->len, TR_SPLICE_LEN - ins->len,
                         fmt, effort, budget);
}


/*
 * An effort merged into the object the client sent (its other members,
 * such as summary or format, stay), written into a null, or the object
 * inserted.
 */

static void
tr_effort_into(tr_plan_t *pl, tr_splice_t *ins, const tr_object_t *obj,
    const tr_span_t *span, const char *key, const char *effort)
{
    tr_splice_t  *s;

    if (obj->object && obj->has_effort) {
        s = &pl->splice[pl->n++];
        s->start = obj->effort.start;
        s->end = obj->effort.end;
        s->len = tr_print(s->data, TR_SPLICE_LEN, "\"%s\"", effort, 0);
        return;
    }

    if (obj->object) {
        s = &pl->splice[pl->n++];
        s->start = obj->start + 1;
        s->end = s->start;
        s->len = tr_print(s->data, TR_SPLICE_LEN,
                          obj->members ? "\"effort\":\"%s\","
                                       : "\"effort\":\"%s\"", effort, 0);
        return;
    }

    tr_value(pl, ins, span, key, "{\"effort\":\"%s\"}", effort, 0);
}


/*
 * Removed members: each with the comma after it, but a run of them at
 * the end of the root with the comma before it.  Returns how many.
 */

static unsigned
tr_drop(const tr_request_t *req, unsigned removed, tr_plan_t *pl)
{
    int                 run, lastp;
    unsigned            i, k, n, nth;
    tr_splice_t        *s;
    const tr_member_t  *m;

    n = 0;
    run = -1;
    lastp = -1;

    /* the run at the end: members nth, nth - 1, ... that are removed */

    nth = req->root_members - 1;

    for ( ;; ) {
        for (k = 0; k < TR_PARAMS; k++) {
            if ((removed & (1u << k)) && req->param[k].nth == nth) {
                break;
            }
        }

        if (k == TR_PARAMS) {
            break;
        }

        if (lastp < 0) {
            lastp = (int) k;
        }

        run = (int) k;

        if (nth == 0) {
            break;
        }

        nth--;
    }

    for (i = 0; i < TR_PARAMS; i++) {
        if (!(removed & (1u << i))) {
            continue;
        }

        n++;
        m = &req->param[i];

        if (run >= 0 && m->nth >= req->param[run].nth) {
            continue;
        }

        s = &pl->splice[pl->n++];
        s->start = m->key;
        s->end = m->next;
        s->len = 0;
    }

    if (run >= 0) {
        m = &req->param[run];
        s = &pl->splice[pl->n++];
        s->start = m->prev_end ? m->prev_end : m->key;
        s->end = req->param[lastp].end;
        s->len = 0;
    }

    return n;
}


unsigned
tr_rewrite_dropped(const tr_request_t *req, const tr_edit_t *edit)
{
    unsigned  drop;

    drop = edit->drop;

    if (req->dialect == TR_ANTHROPIC) {
        if (edit->thinking == TR_THINKING_OFF) {
            drop |= 1u << TR_PARAM_THINKING;

        } else if (edit->thinking != TR_THINKING_AUTO
                   || edit->effort || edit->reasoning)
        {
            drop &= ~(1u << TR_PARAM_THINKING);
        }
    }

    return drop & req->params;
}


int
tr_rewrite_renamed(const tr_request_t *req, const tr_edit_t *edit)
{
    if (edit->rename < 0 || edit->rename >= TR_PARAMS
        || edit->rename_to == NULL
        || !(req->params & (1u << edit->rename))
        || (tr_rewrite_dropped(req, edit) & (1u << edit->rename)))
    {
        return -1;
    }

    return edit->rename;
}


/*
 * fmt with "%s" as effort and "%ld" as budget; without an effort, fmt as
 * it is.  Returns the length, or 0 if it does not fit in size with a NUL.
 * By hand, not by snprintf(): about 700 instructions a call there.
 */

static size_t
tr_print(unsigned char *out, size_t size, const char *fmt,
    const char *effort, long budget)
{
    char           *d, num[24];
    size_t          n, len, skip;
    const char     *s, *piece;
    unsigned long   v;

    n = 0;

    for (s = fmt; *s; s += skip) {
        piece = s;
        len = 1;
        skip = 1;

        if (effort != NULL && s[0] == '%' && s[1] == 's') {
            piece = effort;
            len = strlen(effort);
            skip = 2;

        } else if (effort != NULL && s[0] == '%' && s[1] == 'l'
                   && s[2] == 'd')
        {
            v = (budget < 0) ? 0 - (unsigned long) budget
                             : (unsigned long) budget;
            d = num + sizeof(num);

            do {
                *--d = (char) ('0' + v % 10);
                v /= 10;
            } while (v);

            if (budget < 0) {
                *--d = '-';
            }

            piece = d;
            len = (size_t) (num + sizeof(num) - d);
            skip = 3;
        }

        if (n + len >= size) {
            return 0;
        }

        memcpy(out + n, piece, len);
        n += len;
    }

    out[n] = '\0';

    return n;
}


size_t
tr_rewrite_size(const unsigned char *body, size_t len,
    const tr_request_t *req, const tr_edit_t *edit)
{
    tr_plan_t  pl;

    tr_rewrite_plan(req, edit, &pl);

    return tr_plan_size(len, &pl);
}


size_t
tr_rewrite(const unsigned char *body, size_t len,
    const tr_request_t *req, const tr_edit_t *edit, unsigned char *out)
{
    tr_plan_t  pl;

    tr_rewrite_plan(req, edit, &pl);

    return tr_plan_apply(body, len, &pl, out);
}


size_t
tr_plan_size(size_t len, const tr_plan_t *pl)
{
    size_t    size;
    unsigned  i;

    size = len;

    for (i = 0; i < pl->n; i++) {
        size = size - (pl->splice[i].end - pl->splice[i].start)
               + pl->splice[i].len;
    }

    return size;
}


size_t
tr_plan_apply(const unsigned char *body, size_t len, const tr_plan_t *pl,
    unsigned char *out)
{
    size_t               pos;
    unsigned             i;
    unsigned char       *p;
    const tr_splice_t   *s;

    p = out;
    pos = 0;

    for (i = 0; i < pl->n; i++) {
        s = &pl->splice[i];

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
    unsigned  enabled;

    enabled = (edit->thinking == TR_THINKING_ENABLED)
              || (edit->thinking == TR_THINKING_AUTO
                  && (edit->reasoning || edit->effort));

    if (enabled && req->dialect == TR_ANTHROPIC
        && req->features.max_tokens >= 0
        && req->features.max_tokens <= edit->thinking_budget)
    {
        if (req->features.max_tokens > 1024) {
            edit->thinking_budget = req->features.max_tokens - 1;

        } else {
            edit->reasoning = 0;
            edit->effort = NULL;
            edit->thinking = TR_THINKING_AUTO;
        }
    }
}
