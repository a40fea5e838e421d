
/*
 * Copyright (C) The tier router authors
 *
 * The learned scorer: a linear model over features of the request (the
 * classifier's own score and signals, and measures of the latest user
 * turn), squashed to [0,1].  Weights come from a JSON file (see
 * docs/classifier.md) that tier-router-train writes.  Pure C.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_MODEL_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_MODEL_H_INCLUDED_


#include <stddef.h>
#include "ngx_http_tier_router_classify.h"


#define NGX_HTTP_TIER_ROUTER_MODEL_VERSION  1
#define NGX_HTTP_TIER_ROUTER_MODEL_N        35


typedef struct {
    double       w[NGX_HTTP_TIER_ROUTER_MODEL_N];   /* w[0]: the bias */
    double       center;    /* score = 1 / (1 + e^(-(raw - center) scale)) */
    double       scale;
} ngx_http_tier_router_model_t;


extern const char  *ngx_http_tier_router_model_names[];


/* x[0 .. N) from what the extractor read and the classifier said */

void ngx_http_tier_router_model_features(
    const ngx_http_tier_router_features_t *f,
    const ngx_http_tier_router_verdict_t *v, double *x);

double ngx_http_tier_router_model_raw(const ngx_http_tier_router_model_t *m,
    const double *x);

double ngx_http_tier_router_model_score(
    const ngx_http_tier_router_model_t *m, const double *x);

/* 0, or -1 with a message for the operator in err */

int ngx_http_tier_router_model_load(const char *buf, size_t len,
    ngx_http_tier_router_model_t *m, char *err, size_t errlen);


#endif /* _NGX_HTTP_TIER_ROUTER_MODEL_H_INCLUDED_ */
