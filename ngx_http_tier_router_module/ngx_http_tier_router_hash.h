
/*
 * Copyright (C) The tier router authors
 *
 * The keyed hash of a tenant's key: SipHash-2-4 under a 128-bit secret,
 * run twice under two derived keys for 128 bits of output.  Only this
 * hash of a tenant's key is ever stored or shown.  Pure C.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_HASH_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_HASH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_TIER_ROUTER_HASH_LEN  16


uint64_t ngx_http_tier_router_siphash(const unsigned char key[16],
    const unsigned char *in, size_t len);

void ngx_http_tier_router_hash(const unsigned char key[16],
    const unsigned char *in, size_t len, unsigned char out[16]);


#endif /* _NGX_HTTP_TIER_ROUTER_HASH_H_INCLUDED_ */
