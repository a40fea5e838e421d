
/*
 * Copyright (C) The tier router authors
 *
 * The admission policy of a budget, as a pure function: given what a
 * tenant and its zone have spent and hold, the tier routing chose, the
 * soft thresholds and the request's worst case, which tier is admitted
 * (maybe a lower one), or why it is refused.  The glue takes the zone's
 * lock, fills the balances and applies the answer.  Pure C.
 */


#ifndef _TR_ADMIT_H_INCLUDED_
#define _TR_ADMIT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include "tr_price.h"


#define TR_ADMIT_OK        0
#define TR_ADMIT_SPENT     1    /* the period's budget is spent */
#define TR_ADMIT_SHORT     2    /* what is left cannot cover it */
#define TR_ADMIT_RESERVED  3    /* what is left is held by requests */


typedef struct {
    int64_t                      spent;      /* micro-dollars */
    int64_t                      reserved;
    int64_t                      limit;      /* -1: none */
} tr_balance_t;


/* past percent (hundredths of a percent) of the limit, at most tier */

typedef struct {
    unsigned                     percent;
    unsigned                     tier;
} tr_soft_t;


typedef struct {
    tr_balance_t                 tenant;
    tr_balance_t                 zone;
    tr_balance_t                 lease;      /* what this node holds of
                                                the tenant's budget, with
                                                a shared ledger; limit -1:
                                                none */
    const tr_price_t            *prices;     /* each tier's, by index */
    unsigned                     tier;       /* what routing chose */
    unsigned                     floor;      /* the lowest allowed */
    const tr_soft_t             *soft;
    size_t                       nsoft;
    int64_t                      input;      /* tokens, at most */
    int64_t                      output;     /* tokens, at most */
    unsigned                     reject:1;   /* refuse, never fit lower */
} tr_admit_t;


typedef struct {
    int                          verdict;    /* TR_ADMIT_* */
    unsigned                     tier;       /* admitted, or tried last */
    int64_t                      worst;      /* to reserve at that tier */
    unsigned                     soft:1;     /* a soft threshold capped */
    unsigned                     fit:1;      /* lowered to fit */
} tr_admission_t;


/*
 * Past a soft threshold the tier is capped; then the best tier from there
 * down to the floor whose worst case the tenant's and the zone's budgets
 * still cover (a free tier always fits), unless reject refuses at once.
 */

void tr_admit(const tr_admit_t *a, tr_admission_t *res);

/* spent: the tenant or the zone at its limit */

int tr_admit_spent(const tr_balance_t *tenant, const tr_balance_t *zone);

/*
 * The worst case of input and output tokens at a price: every output
 * token at the dearer of the output and reasoning prices; at most
 * TR_AMOUNT_MAX.
 */

int64_t tr_admit_worst(const tr_price_t *p, int64_t input, int64_t output);


#endif /* _TR_ADMIT_H_INCLUDED_ */
