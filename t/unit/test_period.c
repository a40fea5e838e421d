
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the budget periods: the starts and ends of days, weeks
 * and months at the edges (a month's last second, a year's first, the
 * 29th of February, 2037 and after 2038), checked against timegm().
 */


#define _DEFAULT_SOURCE

#include <string.h>
#include <time.h>

#include "tr_period.h"
#include "unit.h"


static time_t at(int y, int m, int d, int hh, int mm, int ss);


/* a moment, and the year and month its month starts and ends in */

typedef struct {
    int          y, m, d, hh, mm, ss;
    int          sy, sm, ey, em;
    const char  *name;
} edge_t;


static const edge_t  edges[] = {
    { 2027, 4, 30, 23, 59, 59, 2027, 4, 2027, 5, "April's last second" },
    { 2027, 5, 1, 0, 0, 0, 2027, 5, 2027, 6, "May's first second" },
    { 2027, 12, 31, 23, 59, 59, 2027, 12, 2028, 1, "a year's last second" },
    { 2028, 1, 1, 0, 0, 0, 2028, 1, 2028, 2, "a year's first second" },
    { 2028, 2, 29, 12, 0, 0, 2028, 2, 2028, 3, "the 29th of February" },
    { 2100, 2, 28, 12, 0, 0, 2100, 2, 2100, 3, "2100 is no leap year" },
    { 2037, 7, 15, 6, 30, 0, 2037, 7, 2037, 8, "in 2037" },
    { 2040, 3, 3, 3, 3, 3, 2040, 3, 2040, 4, "after 2038" },
    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL }
};
static void test_month(void);
static void test_week_day(void);
static void test_names(void);


int
main(void)
{
    test_month();
    test_week_day();
    test_names();

    return unit_done();
}


static void
test_month(void)
{
    int            y, m, bad;
    time_t         t;
    const edge_t  *e;

    for (e = edges; e->name; e++) {
        t = at(e->y, e->m, e->d, e->hh, e->mm, e->ss);

        UNIT_IS_INT(tr_period_start(TR_PERIOD_MONTH, t),
                    at(e->sy, e->sm, 1, 0, 0, 0), "month start: %s", e->name);
        UNIT_IS_INT(tr_period_end(TR_PERIOD_MONTH, t),
                    at(e->ey, e->em, 1, 0, 0, 0), "month end: %s", e->name);
    }

    /* every month's first and last second from 1970 to 2100 */

    bad = 0;

    for (y = 1970; y <= 2100; y++) {
        for (m = 1; m <= 12; m++) {
            t = at(y, m, 1, 0, 0, 0);

            if (tr_period_start(TR_PERIOD_MONTH, t) != t
                || tr_period_end(TR_PERIOD_MONTH, t - 1) != t
                || (t > 0 && tr_period_start(TR_PERIOD_MONTH, t - 1)
                             != at(m == 1 ? y - 1 : y, m == 1 ? 12 : m - 1,
                                   1, 0, 0, 0)))
            {
                UNIT_DIAG("month %d-%02d", y, m);
                bad++;
            }
        }
    }

    UNIT_IS_INT(bad, 0, "month: every month from 1970 to 2100");
}


static void
test_week_day(void)
{
    /* 2027-12-31 is a Friday: its week began on Monday the 27th */

    UNIT_IS_INT(tr_period_start(TR_PERIOD_WEEK, at(2027, 12, 31, 23, 59, 59)),
                at(2027, 12, 27, 0, 0, 0), "week: from Monday");
    UNIT_IS_INT(tr_period_end(TR_PERIOD_WEEK, at(2027, 12, 31, 23, 59, 59)),
                at(2028, 1, 3, 0, 0, 0), "week: across a year's end");
    UNIT_IS_INT(tr_period_start(TR_PERIOD_WEEK, at(2027, 12, 27, 0, 0, 0)),
                at(2027, 12, 27, 0, 0, 0), "week: Monday's first second");
    UNIT_IS_INT(tr_period_start(TR_PERIOD_WEEK, at(2027, 12, 26, 23, 59, 59)),
                at(2027, 12, 20, 0, 0, 0), "week: Sunday's last second");
    UNIT_IS_INT(tr_period_start(TR_PERIOD_WEEK, 0), at(1969, 12, 29, 0, 0, 0),
                "week: of 1970-01-01, a Thursday");

    UNIT_IS_INT(tr_period_start(TR_PERIOD_DAY, at(2028, 2, 29, 12, 0, 0)),
                at(2028, 2, 29, 0, 0, 0), "day: start");
    UNIT_IS_INT(tr_period_end(TR_PERIOD_DAY, at(2028, 2, 29, 23, 59, 59)),
                at(2028, 3, 1, 0, 0, 0), "day: end");

    UNIT_IS_INT(tr_period_start(TR_PERIOD_TOTAL, at(2030, 1, 1, 0, 0, 0)), 0,
                "total: starts at 0");
    UNIT_IS_INT(tr_period_end(TR_PERIOD_TOTAL, at(2030, 1, 1, 0, 0, 0)), 0,
                "total: never ends");
}


static void
test_names(void)
{
    UNIT_IS_STR(tr_period_name(TR_PERIOD_MONTH), "month", "name: month");
    UNIT_IS_STR(tr_period_name(TR_PERIOD_TOTAL), "total", "name: total");
    UNIT_OK(tr_period_name(4) == NULL, "name: none for 4");
    UNIT_IS_INT(tr_period_parse("week", 4), TR_PERIOD_WEEK, "parse: week");
    UNIT_IS_INT(tr_period_parse("weeks", 5), -1, "parse: weeks is none");
    UNIT_IS_INT(tr_period_parse("day", 2), -1, "parse: a prefix is none");
    UNIT_IS_INT(tr_period_days(1970, 1, 1), 0, "days: the epoch");
    UNIT_IS_INT(tr_period_days(2000, 3, 1), 11017, "days: 2000-03-01");
}


static time_t
at(int y, int m, int d, int hh, int mm, int ss)
{
    struct tm  tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;

    return timegm(&tm);
}
