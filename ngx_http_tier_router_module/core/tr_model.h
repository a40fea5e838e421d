
/*
 * Copyright (C) The tier router authors
 *
 * The learned scorer: a linear model over features of the request (the
 * classifier's own score and signals, and measures of the latest user
 * turn), squashed to [0,1].  Weights come from a JSON file (see
 * docs/classifier.md) that tier-router-train writes.  Pure C.
 */


#ifndef _TR_MODEL_H_INCLUDED_
#define _TR_MODEL_H_INCLUDED_


#include <stddef.h>
#include "tr_classify.h"


#define TR_MODEL_VERSION  1
#define TR_MODEL_N        35


typedef struct {
    double       w[TR_MODEL_N];   /* w[0]: the bias */
    double       center;    /* score = 1 / (1 + e^(-(raw - center) scale)) */
    double       scale;
} tr_model_t;


extern const char  *tr_model_names[];


/* x[0 .. N) from what the extractor read and the classifier said */

void tr_model_features(
    const tr_features_t *f,
    const tr_verdict_t *v, double *x);

double tr_model_raw(const tr_model_t *m,
    const double *x);

double tr_model_score(
    const tr_model_t *m, const double *x);

/* 0, or -1 with a message for the operator in err */

int tr_model_load(const char *buf, size_t len,
    tr_model_t *m, char *err, size_t errlen);


#endif /* _TR_MODEL_H_INCLUDED_ */
