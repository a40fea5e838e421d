
/*
 * Copyright (C) The tier router authors
 *
 * A tiny TAP producer for the C unit tests (run by prove via t/unit.t).
 * Include it once per test program:
 *
 *     UNIT_OK(cond, "name %d", i);
 *     UNIT_IS_INT(got, want, "name");
 *     UNIT_IS_STR(got, want, "name");          (NULL is allowed)
 *     UNIT_LT(a, b, "name");  UNIT_GT(a, b, "name");   (doubles)
 *     UNIT_DIAG("note %s", s);
 *     unit_now()                    a monotonic clock, in seconds
 *     return unit_done();           prints the plan "1..N" (at the end,
 *                                   valid TAP); 1 if any test failed
 */


#ifndef _UNIT_H_INCLUDED_
#define _UNIT_H_INCLUDED_


#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


static unsigned  unit_tests;
static unsigned  unit_failures;


static void unit_vname(const char *fmt, va_list args);
static int unit_ok(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), unused));
static void unit_diag(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), unused));
static int unit_done(void) __attribute__((unused));
static double unit_now(void) __attribute__((unused));


#define UNIT_OK(cond, ...)                                                   \
    unit_ok((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

#define UNIT_IS_INT(got, want, ...)                                          \
    do {                                                                     \
        long  unit_g_ = (long) (got), unit_w_ = (long) (want);               \
                                                                             \
        if (!unit_ok(unit_g_ == unit_w_, __FILE__, __LINE__, __VA_ARGS__)) { \
            unit_diag("     got: %ld", unit_g_);                             \
            unit_diag("expected: %ld", unit_w_);                             \
        }                                                                    \
    } while (0)

#define UNIT_IS_STR(got, want, ...)                                          \
    do {                                                                     \
        const char  *unit_g_ = (got), *unit_w_ = (want);                     \
        int          unit_e_;                                                \
                                                                             \
        unit_e_ = (unit_g_ == NULL || unit_w_ == NULL)                       \
                  ? unit_g_ == unit_w_ : strcmp(unit_g_, unit_w_) == 0;      \
                                                                             \
        if (!unit_ok(unit_e_, __FILE__, __LINE__, __VA_ARGS__)) {            \
            unit_diag("     got: \"%s\"", unit_g_ ? unit_g_ : "(null)");     \
            unit_diag("expected: \"%s\"", unit_w_ ? unit_w_ : "(null)");     \
        }                                                                    \
    } while (0)

#define UNIT_CMP(a, op, b, ...)                                              \
    do {                                                                     \
        double  unit_a_ = (a), unit_b_ = (b);                                \
                                                                             \
        if (!unit_ok(unit_a_ op unit_b_, __FILE__, __LINE__, __VA_ARGS__)) { \
            unit_diag("    %.6f", unit_a_);                                  \
            unit_diag("        %s", #op);                                    \
            unit_diag("    %.6f", unit_b_);                                  \
        }                                                                    \
    } while (0)

#define UNIT_LT(a, b, ...)  UNIT_CMP(a, <, b, __VA_ARGS__)
#define UNIT_GT(a, b, ...)  UNIT_CMP(a, >, b, __VA_ARGS__)

#define UNIT_DIAG(...)  unit_diag(__VA_ARGS__)


static void
unit_vname(const char *fmt, va_list args)
{
    char    name[512];
    char   *p;

    vsnprintf(name, sizeof(name), fmt, args);

    /* a test name is one line, and "#" would start a TAP directive */

    for (p = name; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '#') {
            *p = ' ';
        }
    }

    fputs(name, stdout);
}


static int
unit_ok(int ok, const char *file, int line, const char *fmt, ...)
{
    va_list  args;

    unit_tests++;

    printf("%sok %u - ", ok ? "" : "not ", unit_tests);

    va_start(args, fmt);
    unit_vname(fmt, args);
    va_end(args);

    putchar('\n');

    if (!ok) {
        unit_failures++;
        printf("#   Failed test at %s line %d.\n", file, line);
    }

    fflush(stdout);

    return ok;
}


static void
unit_diag(const char *fmt, ...)
{
    va_list  args;

    fputs("# ", stdout);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    putchar('\n');
}


static int
unit_done(void)
{
    printf("1..%u\n", unit_tests);

    if (unit_failures) {
        printf("# Looks like you failed %u test%s of %u.\n", unit_failures,
               unit_failures == 1 ? "" : "s", unit_tests);
    }

    fflush(stdout);

    return unit_failures ? 1 : 0;
}


/* a monotonic clock, in seconds */

static double
unit_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


#endif /* _UNIT_H_INCLUDED_ */
