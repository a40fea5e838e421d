
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the answer checks: each check on answers that have it
 * and on near misses that do not, what the prompt asks, the score, and
 * model files good and bad.
 */


#include <math.h>
#include <string.h>

#include "tr_check.h"
#include "unit.h"


#define MATH  TR_CHECK_ASK_MATH
#define INT   (TR_CHECK_ASK_MATH | TR_CHECK_ASK_INTEGER)


typedef struct {
    unsigned     ask;
    const char  *text;
    int          want[TR_CHECK_N];   /* no_final, decimal, false_eq, hedge */
    const char  *name;
} check_case_t;


static const check_case_t  cases[] = {

    { INT, "3 * 4 = 12. 12 + 5 = 17. The answer is 17.", { 0, 0, 0, 0 },
      "a right answer" },
    { INT, "3 * 4 = 12\n#### 17", { 0, 0, 0, 0 }, "GSM8K's marker" },
    { INT, "So the final answer is: **$1,250**", { 0, 0, 0, 0 },
      "bold, dollars, thousands" },
    { INT, "\\boxed{42}", { 0, 0, 0, 0 }, "boxed" },
    { INT, "3 * 4 = 12, so she has 12 apples.", { 1, 0, 0, 0 },
      "no marker" },
    { INT, "The answer is unknown.", { 1, 0, 0, 0 },
      "a marker and no number" },
    { INT, "The answer is 12.5 apples.", { 0, 1, 0, 0 },
      "a decimal for how many" },
    { MATH, "The answer is 12.5 dollars.", { 0, 0, 0, 0 },
      "a decimal where one may be" },
    { INT, "The answer is 12.00.", { 0, 0, 0, 0 }, "12.00 is whole" },
    { INT, "It is 7.5 in all.", { 1, 1, 0, 0 },
      "no marker: the last number is read" },
    { INT, "3 + 4 = 8. The answer is 8.", { 0, 0, 1, 0 }, "3 + 4 = 8" },
    { INT, "$5 x 3 = $16. The answer is 16.", { 0, 0, 1, 0 },
      "$5 x 3 = $16" },
    { INT, "20 / 4 = 6. The answer is 6.", { 0, 0, 1, 0 }, "20 / 4 = 6" },
    { INT, "10 - 3 = 7 and 2 \xc3\x97 3 = 5. The answer is 5.",
      { 0, 0, 1, 0 }, "2 × 3 = 5" },
    { INT, "1,200 + 300 = 1,500. The answer is 1500.", { 0, 0, 0, 0 },
      "thousands separators" },
    { INT, "10 / 3 = 3.33. The answer is 3.", { 0, 0, 0, 0 },
      "rounded to its decimals" },
    { INT, "3 * 4 + 5 = 17. The answer is 17.", { 0, 0, 0, 0 },
      "not a bare binary operation" },
    { INT, "3 * 4 = 12 + 5 = 17. The answer is 17.", { 0, 0, 0, 0 },
      "a chain" },
    { INT, "3 * 4 = 12 + 5 = 18. The answer is 18.", { 0, 0, 1, 0 },
      "a chain, false at its end" },
    { INT, "x = 5 and a == b; 3 <= 4. The answer is 5.", { 0, 0, 0, 0 },
      "no operation" },
    { INT, "20% of 50 = 10. The answer is 10.", { 0, 0, 0, 0 },
      "words are no operator" },
    { INT, "10 / 0 = 5. The answer is 5.", { 0, 0, 0, 0 },
      "a division by zero is not judged" },
    { INT, "I think it is about 12. The answer is 12.", { 0, 0, 0, 1 },
      "hedging" },
    { INT, "It costs APPROXIMATELY $12. The answer is 12.", { 0, 0, 0, 1 },
      "hedging in capitals" },
    { 0, "I think 3 + 4 = 8.", { 0, 0, 0, 0 }, "not a word problem" },
    { INT, "", { 1, 0, 0, 0 }, "empty" },
    { INT, "= = = 1 = 2 + = 3 - - 4 = . The answer is -5.", { 0, 0, 0, 0 },
      "junk" },
};


static const char  *good_model =
    "{\"family\":\"math\",\"bias\":-1.5,\"pre\":2,\"threshold\":0.4,"
    "\"weights\":{\"no_final\":1,\"decimal\":2,\"false_eq\":3,"
    "\"hedge\":0.5}}";

static const char  *bad_models[] = {
    "{",
    "{\"family\":\"code\",\"bias\":0,\"pre\":0,\"threshold\":0.5,"
    "\"weights\":{\"no_final\":1,\"decimal\":2,\"false_eq\":3,\"hedge\":0}}",
    "{\"family\":\"math\",\"bias\":0,\"pre\":0,\"threshold\":1.5,"
    "\"weights\":{\"no_final\":1,\"decimal\":2,\"false_eq\":3,\"hedge\":0}}",
    "{\"family\":\"math\",\"bias\":\"0\",\"pre\":0,\"threshold\":0.5,"
    "\"weights\":{\"no_final\":1,\"decimal\":2,\"false_eq\":3,\"hedge\":0}}",
    "{\"family\":\"math\",\"bias\":0,\"pre\":0,\"threshold\":0.5,"
    "\"weights\":{\"no_final\":1,\"decimal\":2,\"false_eq\":3}}",
    "{\"family\":\"math\",\"bias\":0,\"pre\":0,\"threshold\":0.5,"
    "\"weights\":{\"no_final\":1,\"decimal\":2,\"false_eq\":3,\"hedg\":0}}",
    "{\"family\":\"math\",\"bias\":0,\"bias\":1,\"pre\":0,\"threshold\":0.5,"
    "\"weights\":{\"no_final\":1,\"decimal\":2,\"false_eq\":3,\"hedge\":0}}",
    "{\"family\":\"math\",\"bias\":1e300,\"pre\":1e300,\"threshold\":0.5,"
    "\"weights\":{\"no_final\":-1e300,\"decimal\":2,\"false_eq\":3,"
    "\"hedge\":0}}",
    "{\"family\":\"math\",\"bias\":0,\"pre\":0,\"threshold\":0.5,"
    "\"extra\":1,"
    "\"weights\":{\"no_final\":1,\"decimal\":2,\"false_eq\":3,\"hedge\":0}}",
    NULL
};


int
main(void)
{
    int                i, k;
    char               err[256], big[70000];
    double             f[TR_CHECK_N], z;
    size_t             n;
    tr_check_model_t   m;
    const char        *s;

    for (i = 0; i < (int) (sizeof(cases) / sizeof(cases[0])); i++) {
        tr_check_math(cases[i].text, strlen(cases[i].text), cases[i].ask, f);

        for (k = 0; k < TR_CHECK_N; k++) {
            UNIT_IS_INT((int) f[k], cases[i].want[k], "%s: %s",
                        cases[i].name, tr_check_names[k]);
        }
    }

    /* what the prompt asks */

    s = "Tom has 3 apples and buys 4. How many does he have?";
    UNIT_IS_INT(tr_check_ask(s, strlen(s)), INT, "ask: how many");
    s = "A shirt costs $12.50 and a hat $4. How much in all?";
    UNIT_IS_INT(tr_check_ask(s, strlen(s)), MATH, "ask: how much");
    s = "Write a haiku about 1 tree.";
    UNIT_IS_INT(tr_check_ask(s, strlen(s)), 0, "ask: one number");
    s = "1,000.50 is one number. How many?";
    UNIT_IS_INT(tr_check_ask(s, strlen(s)), TR_CHECK_ASK_INTEGER,
                "ask: a number with separators is one");

    /* a long text is read in its first 64 KB only, and in time */

    memset(big, '=', sizeof(big));
    n = sizeof(big);

    for (i = 0; i + 8 < (int) n; i += 8) {
        memcpy(big + i, "1 + 1 = ", 8);
    }

    tr_check_math(big, n, INT, f);
    UNIT_IS_INT((int) f[TR_CHECK_FALSE_EQ], 0, "long: 1 + 1 = 1 + ...");
    UNIT_IS_INT((int) f[TR_CHECK_NO_FINAL], 1, "long: no marker");

    memset(big, '9', sizeof(big));
    tr_check_math(big, n, INT, f);
    UNIT_IS_INT((int) f[TR_CHECK_DECIMAL], 0, "long: one long number");

    /* the score */

    UNIT_IS_INT(tr_check_load(good_model, strlen(good_model), &m, err,
                              sizeof(err)), 0, "load: good");
    UNIT_OK(m.bias == -1.5 && m.pre == 2 && m.threshold == 0.4
            && m.w[TR_CHECK_NO_FINAL] == 1 && m.w[TR_CHECK_DECIMAL] == 2
            && m.w[TR_CHECK_FALSE_EQ] == 3 && m.w[TR_CHECK_HEDGE] == 0.5,
            "load: the weights");

    f[0] = 1; f[1] = 0; f[2] = 1; f[3] = 0;
    z = -1.5 + 2 * 0.25 + 1 + 3;
    UNIT_OK(fabs(tr_check_score(&m, 0.25, f) - 1 / (1 + exp(-z))) < 1e-12,
            "score: the logistic of the weighed sum");

    f[0] = 0; f[2] = 0;
    UNIT_LT(tr_check_score(&m, 0, f), 0.5, "score: nothing found, low");

    UNIT_OK(tr_check_math_default.threshold > 0
            && tr_check_math_default.threshold < 1
            && tr_check_math_default.w[TR_CHECK_FALSE_EQ] > 0,
            "default: a false equation counts against the answer");

    for (i = 0; bad_models[i]; i++) {
        err[0] = '\0';
        UNIT_IS_INT(tr_check_load(bad_models[i], strlen(bad_models[i]), &m,
                                  err, sizeof(err)), -1, "load: bad %d", i);
        UNIT_OK(err[0] != '\0', "load: bad %d says why: %s", i, err);
    }

    return unit_done();
}
