
/*
 * Copyright (C) The tier router authors
 *
 * The admission policy of a budget.
 */


#include "tr_admit.h"


static int tr_admit_fits(const tr_balance_t *b, int64_t worst);


void
tr_admit(const tr_admit_t *a, tr_admission_t *res)
{
    size_t    i;
    int64_t   used, worst;
    unsigned  index, cap;

    index = a->tier;

    res->soft = 0;
    res->fit = 0;

    /* past a soft threshold, a lower cap */

    if (a->tenant.limit > 0 && a->nsoft) {
        used = a->tenant.spent + a->tenant.reserved;
        cap = index;

        for (i = 0; i < a->nsoft; i++) {
            if ((double) used * 10000
                >= (double) a->tenant.limit * a->soft[i].percent
                && a->soft[i].tier < cap)
            {
                cap = a->soft[i].tier;
            }
        }

        if (cap < index) {
            index = cap;
            res->soft = 1;
        }
    }

    /* the best tier whose worst case the budget still covers */

    for ( ;; ) {
        worst = tr_admit_worst(&a->prices[index], a->input, a->output);

        res->tier = index;
        res->worst = worst;

        if (worst == 0
            || (tr_admit_fits(&a->tenant, worst)
                && tr_admit_fits(&a->zone, worst)
                && tr_admit_fits(&a->lease, worst)))
        {
            res->verdict = TR_ADMIT_OK;
            return;
        }

        if (a->reject || index == 0 || index <= a->floor) {
            break;
        }

        index--;
        res->fit = 1;
    }

    /* spent, too large for what is left, or only held back */

    if (tr_admit_spent(&a->tenant, &a->zone)) {
        res->verdict = TR_ADMIT_SPENT;

    } else if ((a->tenant.limit < 0
                || a->tenant.spent + worst <= a->tenant.limit)
               && (a->zone.limit < 0
                   || a->zone.spent + worst <= a->zone.limit))
    {
        res->verdict = TR_ADMIT_RESERVED;

    } else {
        res->verdict = TR_ADMIT_SHORT;
    }
}


int
tr_admit_spent(const tr_balance_t *tenant, const tr_balance_t *zone)
{
    return (tenant->limit >= 0 && tenant->spent >= tenant->limit)
           || (zone->limit >= 0 && zone->spent >= zone->limit);
}


int64_t
tr_admit_worst(const tr_price_t *p, int64_t input, int64_t output)
{
    int64_t     cost;
    tr_usage_t  u;
    tr_price_t  q;

    q = *p;

    if (q.reasoning > q.output) {
        q.output = q.reasoning;
    }

    q.reasoning = -1;

    tr_usage_none(&u);

    u.input = input;
    u.output = output;

    cost = tr_price_cost(&q, &u);

    return (cost < TR_AMOUNT_MAX) ? cost : TR_AMOUNT_MAX;
}


static int
tr_admit_fits(const tr_balance_t *b, int64_t worst)
{
    return b->limit < 0 || b->spent + b->reserved + worst <= b->limit;
}
