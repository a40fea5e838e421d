
/*
 * Copyright (C) The tier router authors
 *
 * Tier shares that calibrate themselves: fixed boundaries without
 * targets, convergence on a skewed stream, tracking of a shifting one,
 * the bounded step, ordered boundaries, and the rescaling of weights.
 */


#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tr_calibrate.h"
#include "unit.h"


typedef tr_cal_t  cal_t;


static uint64_t  rng = 88172645463325252ULL;


/* xorshift64: deterministic, the same stream on every machine */

static double
uniform(double lo, double hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;

    return lo + (hi - lo) * (double) (rng >> 11) / (double) (1ULL << 53);
}


/* routes n samples from U[lo, hi]; returns the share that went to tier */

static double
feed(cal_t *cal, unsigned n, double lo, double hi, unsigned tier,
    double *max_step)
{
    double    before[TR_CAL_TIERS], d;
    unsigned  i, j, hits;

    hits = 0;

    for (i = 0; i < n; i++) {
        memcpy(before, cal->bound, sizeof(before));

        if (tr_cal_route(cal, uniform(lo, hi)) == tier) {
            hits++;
        }

        for (j = 0; max_step && j < cal->ntiers; j++) {
            d = fabs(cal->bound[j] - before[j]);
            if (d > *max_step) {
                *max_step = d;
            }
        }
    }

    return (double) hits / n;
}


static int
ordered(const cal_t *cal)
{
    unsigned  i;

    for (i = 1; i < cal->ntiers; i++) {
        if (cal->bound[i - 1] > cal->bound[i]) {
            return 0;
        }
    }

    return 1;
}


int
main(void)
{
    int      ok;
    double   got, step, mid, front, shares;
    cal_t   *cal;
    unsigned i;

    static const double  max_score[] = { 0.333, 0.667, 1.0 };
    static const double  none[] = { -1, -1, -1 };
    static const double  targets[] = { -1, 0.3, 0.2 };

    cal = malloc(sizeof(cal_t));

    /* without targets the configured boundaries stay */

    tr_cal_init(cal, 3, max_score, none, 100, 0.05);

    got = feed(cal, 5000, 0, 0.3, 2, NULL);
    UNIT_OK(got == 0 && cal->bound[0] == 0.333 && cal->bound[1] == 0.667,
            "no targets: fixed boundaries, easy traffic never on frontier");
    UNIT_OK(tr_cal_route(cal, 0.5) == 1
            && tr_cal_route(cal, 0.9) == 2
            && tr_cal_route(cal, 0.333) == 0,
            "no targets: scores route by max_score");

    /* a skewed stream: every score under 0.4; frontier 20%, mid 30% */

    tr_cal_init(cal, 3, max_score, targets, 500, 0.01);

    step = 0;
    feed(cal, 5000, 0, 0.4, 2, &step);
    front = feed(cal, 5000, 0, 0.4, 2, &step);

    UNIT_OK(fabs(front - 0.2) < 0.03,
            "skewed stream: frontier gets %.3f of it (target 0.20)", front);
    UNIT_OK(fabs(tr_cal_observed(cal, 2) - 0.2) < 0.03
            && fabs(tr_cal_observed(cal, 1) - 0.3) < 0.03,
            "skewed stream: observed shares %.3f mid, %.3f frontier",
            tr_cal_observed(cal, 1),
            tr_cal_observed(cal, 2));
    UNIT_OK(fabs(cal->bound[1] - 0.32) < 0.02 && fabs(cal->bound[0] - 0.2)
                                                 < 0.02,
            "skewed stream: boundaries at the quantiles (%.3f, %.3f; "
            "want 0.200, 0.320)", cal->bound[0], cal->bound[1]);
    UNIT_OK(step <= 0.01 + 1e-12,
            "a boundary never moves more than the step (%.4f)", step);

    /* a shift: now every score is above 0.5 */

    got = feed(cal, 50, 0.5, 1.0, 2, NULL);
    UNIT_OK(got > 0.9, "right after a shift frontier takes almost all "
            "(%.2f): the boundary moves by steps", got);

    feed(cal, 5000, 0.5, 1.0, 2, &step);
    front = feed(cal, 5000, 0.5, 1.0, 2, &step);
    mid = feed(cal, 5000, 0.5, 1.0, 1, &step);

    UNIT_OK(fabs(front - 0.2) < 0.03 && fabs(mid - 0.3) < 0.03,
            "shifted stream: back to the targets (%.3f mid, %.3f frontier)",
            mid, front);
    UNIT_OK(fabs(cal->bound[1] - 0.9) < 0.02
            && fabs(cal->bound[0] - 0.75) < 0.02,
            "shifted stream: boundaries follow (%.3f, %.3f; want 0.750, "
            "0.900)", cal->bound[0], cal->bound[1]);
    UNIT_OK(step <= 0.01 + 1e-12 && ordered(cal),
            "the step still holds, boundaries ordered");

    /* the time constant: half a window after a shift most of it is old */

    tr_cal_init(cal, 3, max_score, targets, 1000, 0.5);
    feed(cal, 20000, 0, 0.4, 2, NULL);
    feed(cal, 500, 0.6, 1.0, 2, NULL);

    shares = 0;
    for (i = 0; i < 400; i++) {
        shares += cal->bins[i];
    }

    got = shares / cal->total;
    UNIT_OK(fabs(got - exp(-0.5)) < 0.03,
            "half a window after a shift the old scores weigh %.3f of the "
            "histogram (e^-1/2 = %.3f)", got, exp(-0.5));

    /* weights rescale: a million samples, a small window */

    tr_cal_init(cal, 3, max_score, targets, 50, 0.02);
    feed(cal, 1000000, 0.2, 0.6, 2, NULL);

    ok = isfinite(cal->total) && cal->weight <= 1e12 && cal->total > 0;
    front = tr_cal_observed(cal, 2);
    UNIT_OK(ok && fabs(front - 0.2) < 0.08,
            "a million samples with window 50: finite weights, frontier "
            "%.3f", front);

    /* a target of 100% leaves nothing below */

    {
        static const double  all[] = { -1, -1, 1.0 };

        tr_cal_init(cal, 3, max_score, all, 100, 0.05);
        feed(cal, 3000, 0.2, 0.8, 2, NULL);
        got = feed(cal, 1000, 0.2, 0.8, 2, NULL);

        UNIT_OK(got > 0.97 && ordered(cal),
                "a 100%% target: frontier takes %.3f, boundaries ordered",
                got);
    }

    /* one tier: nothing to calibrate */

    {
        static const double  one[] = { 1.0 };
        static const double  onet[] = { -1 };

        tr_cal_init(cal, 1, one, onet, 100, 0.05);
        UNIT_OK(tr_cal_route(cal, 0.7) == 0
                && feed(cal, 100, 0, 1, 0, NULL) == 1.0,
                "one tier takes everything");
    }

    free(cal);

    return unit_done();
}
