
/*
 * Copyright (C) The tier router authors
 *
 * Budget periods on the UTC calendar.
 */


#include <string.h>
#include "tr_period.h"


#define TR_DAY  86400


static const char  *tr_periods[TR_PERIOD_N] = {
    "day", "week", "month", "total"
};


static void tr_period_civil(time_t days, int *y, int *m);


/* the month's start of the last day asked for, and that day */

static time_t  tr_period_month_start;
static time_t  tr_period_month_day;
static int     tr_period_month_known;


time_t
tr_period_start(unsigned period, time_t now)
{
    int     y, m;
    time_t  days;

    days = now / TR_DAY - (now % TR_DAY < 0);

    switch (period) {

    case TR_PERIOD_DAY:
        return days * TR_DAY;

    case TR_PERIOD_WEEK:

        /* 1970-01-01 was a Thursday: Monday is 3 days before it */

        return (days - ((days + 3) % 7 + 7) % 7) * TR_DAY;

    case TR_PERIOD_MONTH:

        /*
         * the calendar's arithmetic, twice a budgeted request, for an
         * answer that changes once a day: the last day's is kept (per
         * process, a pure function of the day)
         */

        if (!tr_period_month_known || days != tr_period_month_day) {
            tr_period_civil(days, &y, &m);
            tr_period_month_start = tr_period_days(y, m, 1) * TR_DAY;
            tr_period_month_day = days;
            tr_period_month_known = 1;
        }

        return tr_period_month_start;

    default:
        return 0;
    }
}


time_t
tr_period_end(unsigned period, time_t now)
{
    int     y, m;
    time_t  days;

    switch (period) {

    case TR_PERIOD_DAY:
        return tr_period_start(period, now) + TR_DAY;

    case TR_PERIOD_WEEK:
        return tr_period_start(period, now) + 7 * TR_DAY;

    case TR_PERIOD_MONTH:
        days = now / TR_DAY - (now % TR_DAY < 0);
        tr_period_civil(days, &y, &m);

        return (m == 12) ? tr_period_days(y + 1, 1, 1) * TR_DAY
                         : tr_period_days(y, m + 1, 1) * TR_DAY;

    default:
        return 0;
    }
}


const char *
tr_period_name(unsigned period)
{
    return (period < TR_PERIOD_N) ? tr_periods[period] : NULL;
}


int
tr_period_parse(const char *s, size_t len)
{
    int  i;

    for (i = 0; i < TR_PERIOD_N; i++) {
        if (strlen(tr_periods[i]) == len
            && memcmp(s, tr_periods[i], len) == 0)
        {
            return i;
        }
    }

    return -1;
}


/* days from 1970-01-01 to a date of the proleptic Gregorian calendar */

time_t
tr_period_days(int y, int m, int d)
{
    long  era, yoe, doy, doe;

    y -= (m <= 2);
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return (time_t) (era * 146097 + doe - 719468);
}


/* the year and month of a day counted from 1970-01-01 */

static void
tr_period_civil(time_t days, int *y, int *m)
{
    long  z, era, doe, yoe, doy, mp;

    z = (long) days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = (int) (yoe + era * 400 + (*m <= 2));
}
