
/*
 * Copyright (C) The tier router authors
 *
 * libFuzzer target: the learned scorer's weights loader.  Whatever the
 * input, it loads or says why not; a loaded model scores every input in
 * [0,1].
 */


#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tr_model.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int         rc;
    char        err[256];
    double      x[TR_MODEL_N], s;
    unsigned    i;
    tr_model_t  m;

    err[0] = '\0';

    rc = tr_model_load((const char *) data, size, &m, err,
                       sizeof(err));

    if (rc != 0) {
        if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL) {
            abort();
        }

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
