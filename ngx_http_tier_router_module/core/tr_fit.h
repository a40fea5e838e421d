
/*
 * Copyright (C) The tier router authors
 *
 * What the trainers in tools/ share: an exact linear solve and the split
 * of rows into folds.  Pure C.
 */


#ifndef _TR_FIT_H_INCLUDED_
#define _TR_FIT_H_INCLUDED_


#include <stddef.h>


/*
 * Solves the n equations of m, n rows of n + 1 (the last column the right
 * hand side), by Gauss-Jordan elimination with partial pivoting, in the
 * rows' order: the same system gives the same bits.  The solution into x;
 * -1 if the system is singular.  m is overwritten.
 */

int tr_fit_solve(double *m, size_t n, double *x);

/* FNV-1a (32 bits) of a row's id: its fold is the lowest bit */

unsigned long tr_fit_hash(const char *s);


#endif /* _TR_FIT_H_INCLUDED_ */
