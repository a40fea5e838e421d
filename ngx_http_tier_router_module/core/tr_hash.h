
/*
 * Copyright (C) The tier router authors
 *
 * The keyed hash of a tenant's key: SipHash-2-4 under a 128-bit secret,
 * run twice under two derived keys for 128 bits of output.  Only this
 * hash of a tenant's key is ever stored or shown.  Pure C.
 */


#ifndef _TR_HASH_H_INCLUDED_
#define _TR_HASH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define TR_HASH_LEN  16


uint64_t tr_siphash(const unsigned char key[16],
    const unsigned char *in, size_t len);

void tr_hash(const unsigned char key[16],
    const unsigned char *in, size_t len, unsigned char out[16]);


#endif /* _TR_HASH_H_INCLUDED_ */
