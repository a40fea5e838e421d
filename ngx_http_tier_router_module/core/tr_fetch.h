
/*
 * Copyright (C) The tier router authors
 *
 * Fetching a price catalog with libcurl, at configuration time only.
 */


#ifndef _TR_FETCH_H_INCLUDED_
#define _TR_FETCH_H_INCLUDED_


#include <stddef.h>


/*
 * Fetches an http:// or https:// url with libcurl (blocking: for
 * configuration time; timeout in milliseconds, at most 3 redirects, HTTP
 * status 200 only, at most max bytes) into path, through a temporary file
 * renamed over it once it reads as a catalog, so path keeps the last good
 * copy.  0, or -1 with err set.
 */

int tr_fetch_catalog(const char *url, const char *path, long timeout_ms,
    size_t max, char *err, size_t errlen);


#endif /* _TR_FETCH_H_INCLUDED_ */
