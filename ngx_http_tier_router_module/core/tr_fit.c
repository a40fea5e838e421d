
/*
 * Copyright (C) The tier router authors
 *
 * What the trainers share.
 */


#include <math.h>

#include "tr_fit.h"


int
tr_fit_solve(double *m, size_t n, double *x)
{
    double  t, f;
    size_t  i, j, k, piv, w;

    w = n + 1;

    for (i = 0; i < n; i++) {
        piv = i;

        for (k = i + 1; k < n; k++) {
            if (fabs(m[k * w + i]) > fabs(m[piv * w + i])) {
                piv = k;
            }
        }

        if (fabs(m[piv * w + i]) < 1e-12) {
            return -1;
        }

        for (j = 0; j <= n; j++) {
            t = m[i * w + j];
            m[i * w + j] = m[piv * w + j];
            m[piv * w + j] = t;
        }

        f = m[i * w + i];

        for (j = 0; j <= n; j++) {
            m[i * w + j] /= f;
        }

        for (k = 0; k < n; k++) {
            if (k == i || m[k * w + i] == 0) {
                continue;
            }

            f = m[k * w + i];

            for (j = 0; j <= n; j++) {
                m[k * w + j] -= f * m[i * w + j];
            }
        }
    }

    for (i = 0; i < n; i++) {
        x[i] = m[i * w + n];
    }

    return 0;
}


unsigned long
tr_fit_hash(const char *s)
{
    unsigned long  h;

    h = 2166136261UL;

    while (*s) {
        h ^= (unsigned char) *s++;
        h = (h * 16777619UL) & 0xffffffffUL;
    }

    return h;
}
