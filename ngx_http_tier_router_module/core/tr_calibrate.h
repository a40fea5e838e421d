
/*
 * Copyright (C) The tier router authors
 *
 * Tier shares that calibrate themselves: a histogram of recent scores
 * (each sample weighs e times more than one a window of samples earlier)
 * and tier boundaries that move, by a bounded step, towards the score
 * quantiles that give each tier its target share.  Pure C, no nginx
 * dependency, no allocation: the caller owns the structure (in shared
 * memory, under a lock, in the module).
 */


#ifndef _TR_CALIBRATE_H_INCLUDED_
#define _TR_CALIBRATE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define TR_CAL_BINS   1000
#define TR_CAL_TIERS  16
#define TR_CAL_EVERY  8


typedef struct {
    uint32_t     ntiers;
    uint32_t     window;       /* samples: the histogram's time constant */
    double       step;         /* the most a boundary moves per update */
    double       target[TR_CAL_TIERS]; /* < 0: none */
    double       fixed[TR_CAL_TIERS];  /* configured */
    double       bound[TR_CAL_TIERS];  /* tier i's max */
    double       routed[TR_CAL_TIERS]; /* decayed */
    double       weight;       /* of the next sample */
    double       growth;       /* of the weight, per sample */
    double       total;        /* decayed samples */
    uint64_t     samples;
    double       bins[TR_CAL_BINS];
} tr_cal_t;


/*
 * max_score[i]: tier i's configured boundary (the last tier's is 1);
 * share[i]: its target share in 0..1, or -1.  The tiers with a share must
 * be the most expensive ones, above every tier without one.
 */

void tr_cal_init(tr_cal_t *cal,
    unsigned ntiers, const double *max_score, const double *share,
    unsigned window, double step);

/* records a classified request's score; returns its tier */

unsigned tr_cal_route(tr_cal_t *cal,
    double score);

/* the share of recent classified requests that went to tier i */

double tr_cal_observed(const tr_cal_t *cal,
    unsigned i);


#endif /* _TR_CALIBRATE_H_INCLUDED_ */
