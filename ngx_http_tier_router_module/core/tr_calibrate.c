
/*
 * Copyright (C) The tier router authors
 *
 * Self-calibrating tier boundaries.  Decay without touching every bin:
 * each new sample weighs growth = 1 / (1 - 1/window) times the previous
 * one, and the whole histogram is scaled down once the weights grow
 * large.  Every few samples each calibrated boundary moves towards the
 * quantile that leaves its tiers their target share, by at most step.
 */


#include <string.h>
#include "tr_calibrate.h"


#define TR_CAL_RESCALE  1e12


static void tr_cal_rescale(tr_cal_t *cal);
static void tr_cal_update(tr_cal_t *cal);
static double tr_cal_quantile(
    const tr_cal_t *cal, double p);


void
tr_cal_init(tr_cal_t *cal,
    unsigned ntiers, const double *max_score, const double *share,
    unsigned window, double step)
{
    unsigned  i;

    memset(cal, 0, sizeof(tr_cal_t));

    if (ntiers > TR_CAL_TIERS) {
        ntiers = TR_CAL_TIERS;
    }

    if (window < 2) {
        window = 2;
    }

    cal->ntiers = ntiers;
    cal->window = window;
    cal->step = step;
    cal->weight = 1.0;
    cal->growth = 1.0 / (1.0 - 1.0 / window);

    for (i = 0; i < ntiers; i++) {
        cal->target[i] = share[i];
        cal->fixed[i] = (i == ntiers - 1) ? 1.0 : max_score[i];
        cal->bound[i] = cal->fixed[i];
    }
}


unsigned
tr_cal_route(tr_cal_t *cal, double score)
{
    unsigned  i, bin;

    if (score < 0) {
        score = 0;

    } else if (score > 1) {
        score = 1;
    }

    for (i = 0; i + 1 < cal->ntiers; i++) {
        if (score <= cal->bound[i]) {
            break;
        }
    }

    bin = (unsigned) (score * TR_CAL_BINS);

    if (bin >= TR_CAL_BINS) {
        bin = TR_CAL_BINS - 1;
    }

    cal->bins[bin] += cal->weight;
    cal->routed[i] += cal->weight;
    cal->total += cal->weight;
    cal->samples++;

    cal->weight *= cal->growth;

    if (cal->weight > TR_CAL_RESCALE) {
        tr_cal_rescale(cal);
    }

    if (cal->samples % TR_CAL_EVERY == 0) {
        tr_cal_update(cal);
    }

    return i;
}


double
tr_cal_observed(const tr_cal_t *cal,
    unsigned i)
{
    if (i >= cal->ntiers || cal->total <= 0) {
        return 0;
    }

    return cal->routed[i] / cal->total;
}


static void
tr_cal_rescale(tr_cal_t *cal)
{
    double    f;
    unsigned  i;

    f = 1.0 / cal->weight;

    for (i = 0; i < TR_CAL_BINS; i++) {
        cal->bins[i] *= f;
    }

    for (i = 0; i < cal->ntiers; i++) {
        cal->routed[i] *= f;
    }

    cal->total *= f;
    cal->weight = 1.0;
}


/*
 * From the most expensive tier down, as long as tiers have a target: the
 * boundary under tier i leaves tiers i..n-1 their shares together
 */

static void
tr_cal_update(tr_cal_t *cal)
{
    double    above, q, d;
    unsigned  i;

    if (cal->ntiers < 2) {
        return;
    }

    above = 0;

    for (i = cal->ntiers - 1; i >= 1; i--) {

        if (cal->target[i] < 0) {
            break;
        }

        above += cal->target[i];

        if (above > 1) {
            above = 1;
        }

        q = tr_cal_quantile(cal, 1 - above);
        d = q - cal->bound[i - 1];

        if (d > cal->step) {
            d = cal->step;

        } else if (d < -cal->step) {
            d = -cal->step;
        }

        cal->bound[i - 1] += d;

        /* boundaries stay ordered: a tier never has a negative range */

        if (cal->bound[i - 1] > cal->bound[i]) {
            cal->bound[i - 1] = cal->bound[i];
        }
    }

    for (/* void */; i >= 1; i--) {
        if (cal->bound[i - 1] > cal->bound[i]) {
            cal->bound[i - 1] = cal->bound[i];
        }
    }
}


/* the score under which a share p of the recent samples lies */

static double
tr_cal_quantile(const tr_cal_t *cal,
    double p)
{
    double    want, sum;
    unsigned  i;

    if (cal->total <= 0 || p <= 0) {
        return 0;
    }

    want = p * cal->total;
    sum = 0;

    for (i = 0; i < TR_CAL_BINS; i++) {
        sum += cal->bins[i];

        if (sum >= want) {
            break;
        }
    }

    if (i == TR_CAL_BINS) {
        return 1;
    }

    /* the bin's upper edge: scores up to it stay below the boundary */

    return (double) (i + 1) / TR_CAL_BINS;
}
