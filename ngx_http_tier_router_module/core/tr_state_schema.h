
/*
 * Copyright (C) The tier router authors
 *
 * The state file's shape: the whole of a budget zone's state file is
 * checked with this before any of it goes into the zone.  Pure C and
 * jansson, no nginx dependency (fuzz/fuzz_state.c reads it directly).
 */


#ifndef _TR_STATE_SCHEMA_H_INCLUDED_
#define _TR_STATE_SCHEMA_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <jansson.h>


#define TR_STATE_VERSION  1

/*
 * a tenant's numbers, in this order (the second, "total", and on: >= 0);
 * the first STATE_COUNTS are 64-bit, the rest ("requests" on) 32-bit
 */
#define TR_STATE_FIELDS   11
#define TR_STATE_COUNTS   7

extern const char  *tr_state_fields[];


/*
 * 0 if root is a state file of this version that can be restored whole,
 * else -1 with *error set.  key_check: the "key_check" the file must carry
 * (the zone has a hash_key), or NULL: the file must carry its "hash_key".
 */

int tr_state_valid(json_t *root, const char *key_check,
    const char **error);

/* obj's integer member key into *value: 0, or -1 if it is not one */

int tr_state_number(json_t *obj, const char *key,
    int64_t *value);

/* exactly 2 * len hex digits into len bytes: 0, or -1 */

int tr_state_unhex(unsigned char *dst, const char *src,
    size_t len);


#endif /* _TR_STATE_SCHEMA_H_INCLUDED_ */
