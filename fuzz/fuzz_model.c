
/*
 * Copyright (C) The tier router authors
 *
 * libFuzzer target: the weights loaders, of the learned scorer and of
 * the answer checks.  Whatever the input, each loads or says why not; a
 * loaded model scores every input in [0,1].  The same input, read as an
 * answer and as a prompt, gives checks that are each 0 or 1.
 */


#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tr_check.h"
#include "tr_model.h"


static void fuzz_check(const uint8_t *data, size_t size);
static void fuzz_said_why(const char *err, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int         rc;
    char        err[256];
    double      x[TR_MODEL_N], s;
    unsigned    i;
    tr_model_t  m;

    fuzz_check(data, size);

    err[0] = '\0';

    rc = tr_model_load((const char *) data, size, &m, err,
                       sizeof(err));

    if (rc != 0) {
        fuzz_said_why(err, sizeof(err));
        return 0;
    }

    for (i = 0; i < TR_MODEL_N; i++) {
        if (!isfinite(m.w[i])) {
            abort();
        }

        x[i] = (i % 3) ? 1.0 : 0.5;
    }

    s = tr_model_score(&m, x);

    if (!(s >= 0 && s <= 1)) {
        abort();
    }

    return 0;
}


static void
fuzz_check(const uint8_t *data, size_t size)
{
    int               i;
    char              err[256];
    double            f[TR_CHECK_N], p;
    unsigned          ask;
    tr_check_model_t  m;

    ask = tr_check_ask((const char *) data, size) | TR_CHECK_ASK_MATH;

    tr_check_math((const char *) data, size, ask, f);

    for (i = 0; i < TR_CHECK_N; i++) {
        if (f[i] != 0 && f[i] != 1) {
            abort();
        }
    }

    err[0] = '\0';

    if (tr_check_load((const char *) data, size, &m, err, sizeof(err))
        != 0)
    {
        fuzz_said_why(err, sizeof(err));
        m = tr_check_math_default;
    }

    p = tr_check_score(&m, 0.5, f);

    if (!(p >= 0 && p <= 1) || !(m.threshold > 0 && m.threshold < 1)) {
        abort();
    }
}


/* a loader that refused says why, in a NUL-terminated message */

static void
fuzz_said_why(const char *err, size_t size)
{
    if (err[0] == '\0' || memchr(err, '\0', size) == NULL) {
        abort();
    }
}
