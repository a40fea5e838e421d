
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the admission policy: a budget that covers the chosen
 * tier, soft thresholds that cap it, a fit that lowers it down to the
 * floor, reject, and the three refusals (spent, short, reserved), for
 * the tenant's limit and the zone's.
 */


#include <string.h>

#include "tr_admit.h"
#include "unit.h"


/* a price of input, output and reasoning, every other part unset */

#define PRICE(in, out, reasoning)                                            \
    { in, out, -1, -1, -1, reasoning, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  \
      -1 }


/* three tiers at $1/$2, $10/$20 and $100/$200 per million tokens */

static tr_price_t  prices[3] = {
    PRICE(1000000, 2000000, -1),
    PRICE(10000000, 20000000, -1),
    PRICE(100000000, 200000000, 400000000)
};


static void setup(tr_admit_t *a, int64_t spent, int64_t reserved,
    int64_t limit);
static void with_soft(tr_admit_t *a, tr_soft_t *soft);
static void test_fit(void);
static void test_soft(void);
static void test_refusals(void);
static void test_worst(void);
static void test_lease(void);


int
main(void)
{
    test_fit();
    test_soft();
    test_refusals();
    test_worst();
    test_lease();

    return unit_done();
}


/* 1000 input and 1000 output tokens at tier 2: 100000 + 400000 */

static void
setup(tr_admit_t *a, int64_t spent, int64_t reserved, int64_t limit)
{
    memset(a, 0, sizeof(tr_admit_t));

    a->tenant.spent = spent;
    a->tenant.reserved = reserved;
    a->tenant.limit = limit;
    a->zone.limit = -1;
    a->lease.limit = -1;
    a->prices = prices;
    a->tier = 2;
    a->input = 1000;
    a->output = 1000;
}


static void
with_soft(tr_admit_t *a, tr_soft_t *soft)
{
    a->soft = soft;
    a->nsoft = 2;
}


static void
test_fit(void)
{
    tr_admit_t      a;
    tr_admission_t  res;

    setup(&a, 0, 0, -1);
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_OK, "no limit: admitted");
    UNIT_IS_INT(res.tier, 2, "no limit: the tier chosen");
    UNIT_IS_INT(res.worst, 500000, "worst: output at the reasoning price");
    UNIT_OK(!res.soft && !res.fit, "no limit: neither capped nor lowered");

    setup(&a, 0, 0, 500000);
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_OK, "exactly the limit: admitted");
    UNIT_IS_INT(res.tier, 2, "exactly the limit: the tier chosen");

    setup(&a, 1, 0, 500000);
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_OK, "1 over: a lower tier fits");
    UNIT_IS_INT(res.tier, 1, "1 over: tier 1");
    UNIT_IS_INT(res.worst, 30000, "tier 1's worst case");
    UNIT_OK(res.fit && !res.soft, "1 over: lowered to fit");

    setup(&a, 480000, 0, 500000);
    tr_admit(&a, &res);
    UNIT_IS_INT(res.tier, 0, "20000 left: down to tier 0");
    UNIT_IS_INT(res.worst, 3000, "tier 0's worst case");

    setup(&a, 480000, 0, 500000);
    a.floor = 1;
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_SHORT, "the floor stops the fit");
    UNIT_IS_INT(res.tier, 1, "... at the floor");

    setup(&a, 1, 0, 500000);
    a.reject = 1;
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_SHORT, "reject: never lowered");
    UNIT_IS_INT(res.tier, 2, "reject: at the tier chosen");

    /* the zone's limit counts as the tenant's does */

    setup(&a, 0, 0, -1);
    a.zone.spent = 490000;
    a.zone.limit = 500000;
    tr_admit(&a, &res);
    UNIT_IS_INT(res.tier, 0, "the zone's limit lowers it too");

    /* a free tier always fits */

    setup(&a, 600000, 0, 500000);
    a.prices = (tr_price_t[]) { PRICE(0, 0, -1), prices[1], prices[2] };
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_OK, "a spent tenant: the free tier");
    UNIT_IS_INT(res.tier, 0, "... tier 0");
    UNIT_IS_INT(res.worst, 0, "... reserving nothing");
}


static void
test_soft(void)
{
    tr_admit_t      a;
    tr_soft_t       soft[2] = { { 2000, 1 }, { 9000, 0 } };
    tr_admission_t  res;

    setup(&a, 199999, 0, 1000000);
    with_soft(&a, soft);
    tr_admit(&a, &res);
    UNIT_IS_INT(res.tier, 2, "soft: under 20%%: the tier chosen");

    setup(&a, 150000, 50000, 1000000);
    with_soft(&a, soft);
    tr_admit(&a, &res);
    UNIT_IS_INT(res.tier, 1, "soft: 20%% spent and held: at most tier 1");
    UNIT_OK(res.soft && !res.fit, "soft: capped, not lowered");

    setup(&a, 900000, 0, 1000000);
    with_soft(&a, soft);
    tr_admit(&a, &res);
    UNIT_IS_INT(res.tier, 0, "soft: 90%%: tier 0");

    setup(&a, 900000, 0, 1000000);
    with_soft(&a, soft);
    a.tier = 0;
    tr_admit(&a, &res);
    UNIT_OK(!res.soft, "soft: no cap above what routing chose");

    setup(&a, 900000, 0, -1);
    with_soft(&a, soft);
    tr_admit(&a, &res);
    UNIT_IS_INT(res.tier, 2, "soft: no limit, no threshold");
}


static void
test_refusals(void)
{
    tr_admit_t      a;
    tr_admission_t  res;

    setup(&a, 500000, 0, 500000);
    a.floor = 2;
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_SPENT, "at the limit: spent");

    setup(&a, 0, 0, 0);
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_SPENT, "a limit of 0: spent");

    setup(&a, 100000, 0, 500000);
    a.floor = 2;
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_SHORT, "too little left: short");

    setup(&a, 0, 100000, 500000);
    a.floor = 2;
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_RESERVED,
                "enough but held in flight: reserved");

    setup(&a, 0, 0, -1);
    a.zone.spent = 0;
    a.zone.reserved = 100000;
    a.zone.limit = 500000;
    a.floor = 2;
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_RESERVED,
                "the zone's reserve holds it: reserved");

    setup(&a, 0, 0, -1);
    a.zone.spent = 500000;
    a.zone.limit = 500000;
    UNIT_OK(tr_admit_spent(&a.tenant, &a.zone), "spent: the zone's");
    a.zone.limit = -1;
    UNIT_OK(!tr_admit_spent(&a.tenant, &a.zone), "spent: no limit, never");
}


/* a node's lease of a shared budget: one more bound, fitting down */

static void
test_lease(void)
{
    tr_admit_t      a;
    tr_admission_t  res;

    setup(&a, 0, 0, 10000000);
    a.lease.limit = 500000;
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_OK, "lease: covers the worst case");
    UNIT_IS_INT(res.tier, 2, "lease: at the tier chosen");

    setup(&a, 0, 0, 10000000);
    a.lease.limit = 499999;
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_OK, "lease: a micro-dollar short, fits");
    UNIT_OK(res.tier < 2 && res.fit, "lease: ... lower");

    setup(&a, 0, 0, 10000000);
    a.lease.limit = 0;
    a.floor = 2;
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_RESERVED,
                "lease: none, the tenant's budget not spent: held elsewhere");

    setup(&a, 0, 0, 10000000);
    a.lease.limit = 0;
    a.prices = (tr_price_t[]) { PRICE(0, 0, -1), prices[1], prices[2] };
    tr_admit(&a, &res);
    UNIT_IS_INT(res.verdict, TR_ADMIT_OK, "lease: none, a free tier fits");
}


static void
test_worst(void)
{
    tr_price_t  p = PRICE(1000000, 2000000, 1000000);

    UNIT_IS_INT(tr_admit_worst(&p, 1000, 1000), 3000,
                "worst: a cheaper reasoning price is not used");
    UNIT_IS_INT(tr_admit_worst(&prices[2], 0, 0), 0, "worst: no tokens");
    UNIT_IS_INT(tr_admit_worst(&prices[2], INT64_MAX / 2, INT64_MAX / 2),
                TR_AMOUNT_MAX, "worst: saturates");
}
