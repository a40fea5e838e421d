
/*
 * Copyright (C) The tier router authors
 *
 * Answer checks: what a cheap model's own answer says of its chances of
 * being right, read from its text with no network call, as escalation
 * signals (tier_router_escalate math).  The math family: no number after
 * the answer marker, a decimal where a whole number is asked, an
 * "a op b = c" that is false, hedging words.  A logistic model weighs
 * them with the classifier's score; tools/tier_router_check_train.c fits
 * it.  Pure C.
 */


#ifndef _TR_CHECK_H_INCLUDED_
#define _TR_CHECK_H_INCLUDED_


#include <stddef.h>


/* the checks: indexes of the features */

#define TR_CHECK_NO_FINAL    0      /* no number after an answer marker */
#define TR_CHECK_DECIMAL     1      /* a decimal for "how many" */
#define TR_CHECK_FALSE_EQ    2      /* "a op b = c", and it is false */
#define TR_CHECK_HEDGE       3      /* "approximately", "I think", ... */
#define TR_CHECK_N           4


/* what the prompt asks for */

#define TR_CHECK_ASK_MATH     0x01  /* a word problem: two numbers or more */
#define TR_CHECK_ASK_INTEGER  0x02  /* "how many": a whole number */


typedef struct {
    double                       bias;
    double                       pre;           /* the classifier's score */
    double                       w[TR_CHECK_N];
    double                       threshold;     /* P(wrong) that escalates */
} tr_check_model_t;


/* the weights fitted on the project's corpus (t/data/checks/) */

extern const tr_check_model_t  tr_check_math_default;

/* "no_final", "decimal", "false_eq", "hedge" */

extern const char *const  tr_check_names[TR_CHECK_N];


/* TR_CHECK_ASK_* of a user turn; the first 64 KB are read */

unsigned tr_check_ask(const char *prompt, size_t len);

/*
 * The checks of an answer's text, each 0 or 1, into f[TR_CHECK_N]; all 0
 * unless ask has TR_CHECK_ASK_MATH.  Reads the first 64 KB, in one pass
 * each: linear in the text.
 */

void tr_check_math(const char *text, size_t len, unsigned ask, double *f);

/* the probability that the answer is wrong */

double tr_check_score(const tr_check_model_t *m, double pre,
    const double *f);

/*
 * A model file, as the trainer prints it:
 *   {"family":"math","bias":B,"pre":P,"threshold":T,
 *    "weights":{"no_final":W,"decimal":W,"false_eq":W,"hedge":W}}
 * every member required, no other, every number within 1e6 of 0 (so that
 * a score is never NaN); 0 on success, else -1 and err says why.
 */

int tr_check_load(const char *buf, size_t len, tr_check_model_t *m,
    char *err, size_t errlen);


#endif /* _TR_CHECK_H_INCLUDED_ */
