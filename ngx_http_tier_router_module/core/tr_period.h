
/*
 * Copyright (C) The tier router authors
 *
 * Budget periods on the UTC calendar: a day, a week from Monday, a month
 * from the 1st, or the total, which never ends.  Pure C: the calendar is
 * computed from days since 1970-01-01 (proleptic Gregorian), without
 * gmtime() or the local time zone.
 */


#ifndef _TR_PERIOD_H_INCLUDED_
#define _TR_PERIOD_H_INCLUDED_


#include <stddef.h>
#include <time.h>


#define TR_PERIOD_DAY    0
#define TR_PERIOD_WEEK   1
#define TR_PERIOD_MONTH  2
#define TR_PERIOD_TOTAL  3
#define TR_PERIOD_N      4


/* when the period that holds now began; 0 for the total */

time_t tr_period_start(unsigned period, time_t now);

/* when it ends (the next one's start); 0 for the total, which never does */

time_t tr_period_end(unsigned period, time_t now);

/* "day", "week", "month", "total"; NULL for another number */

const char *tr_period_name(unsigned period);

/* the period named by len bytes of s, or -1 */

int tr_period_parse(const char *s, size_t len);

/* days from 1970-01-01 to y-m-d (m 1 to 12, d from 1) */

time_t tr_period_days(int y, int m, int d);


#endif /* _TR_PERIOD_H_INCLUDED_ */
