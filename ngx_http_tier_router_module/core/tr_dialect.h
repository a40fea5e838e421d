
/*
 * Copyright (C) The tier router authors
 *
 * The APIs the router speaks, in one place: each dialect's number, its
 * name (as tier_router_dialect and $tier_router_dialect spell it) and the
 * URI suffix it is recognised by.  Pure C.
 */


#ifndef _TR_DIALECT_H_INCLUDED_
#define _TR_DIALECT_H_INCLUDED_


#include <stddef.h>


#define TR_AUTO              0
#define TR_OPENAI_CHAT       1
#define TR_OPENAI_RESPONSES  2
#define TR_ANTHROPIC         3


typedef struct {
    int                          dialect;
    const char                  *name;
    const char                  *suffix;    /* of the URI that routes it */
} tr_dialect_t;


/* the dialects, TR_OPENAI_CHAT first, ended by one with a NULL name */

extern const tr_dialect_t  tr_dialects[];

/* "openai_chat", "openai_responses", "anthropic"; "auto" for the rest */

const char *tr_dialect_name(int dialect);

/*
 * The dialect of a POST by its URI's end: "/chat/completions",
 * "/responses", "/messages" (but not OpenAI's "/threads/ID/messages");
 * TR_AUTO for any other URI, which is not routed.
 */

int tr_dialect_by_uri(const unsigned char *uri, size_t len);


#endif /* _TR_DIALECT_H_INCLUDED_ */
