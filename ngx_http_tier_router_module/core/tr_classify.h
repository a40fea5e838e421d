
/*
 * Copyright (C) The tier router authors
 *
 * The request classifier: pure C, no nginx dependency, so that the module,
 * the tier-router-classify CLI and the unit tests link the same code.
 */


#ifndef _TR_CLASSIFY_H_INCLUDED_
#define _TR_CLASSIFY_H_INCLUDED_


#include <stddef.h>


#define TR_REASONS_LEN  160


/* what the extractor (or the CLI) learned of a request */

typedef struct {
    const unsigned char  *text;         /* latest user turn, decoded */
    size_t                text_len;     /* bounded by the extractor */
    const unsigned char  *system;       /* system / instructions, decoded */
    size_t                system_len;   /* bounded by the extractor */

    size_t                total_text;   /* bytes of all message text */
    unsigned              messages;     /* messages or input items */
    unsigned              user_turns;
    unsigned              tools;        /* tool definitions offered */
    unsigned              tool_results; /* tool results in the history */
    unsigned              images;       /* image or file parts */

    long                  max_tokens;   /* requested output, -1: absent */
    unsigned              reasoning;    /* 0 none, 1 low, 2 medium, 3 high */

    unsigned              count:1;       /* fill the verdict's counts */
    unsigned              json_output:1; /* response_format json_* */
    unsigned              json_schema:1; /* response_format json_schema */
    unsigned              stream:1;
} tr_features_t;


/* what the scan of the latest user turn counted (the learned scorer's) */

typedef struct {
    unsigned              bytes;
    unsigned              words;
    unsigned              wbytes;       /* letters in words */
    unsigned              nums;
    unsigned              digits;
    unsigned              upper;
    unsigned              sentences;
    unsigned              lines;
    unsigned              commas;
    unsigned              signs;        /* = + ^ * / % $ */
    unsigned              steps;        /* if, each, total, percent, ... */
    double                overlap;      /* of the answer options' words */
    unsigned              negation:1;   /* not, except, least */
    unsigned              question:1;   /* '?' on the first line */
} tr_counts_t;


typedef struct {
    double                score;        /* difficulty in [0,1] */
    unsigned              no_signal:1;  /* nothing pointed either way */
    char                  reasons[TR_REASONS_LEN];
                                        /* "code,long_output", NUL ended */
    tr_counts_t  counts;
} tr_verdict_t;


void tr_classify_init(void);
void tr_classify(const tr_features_t *f,
    tr_verdict_t *v);


#endif /* _TR_CLASSIFY_H_INCLUDED_ */
