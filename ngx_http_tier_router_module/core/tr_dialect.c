
/*
 * Copyright (C) The tier router authors
 *
 * The dialect table: names and URI suffixes.
 */


#include <string.h>
#include <strings.h>
#include "tr_dialect.h"


const tr_dialect_t  tr_dialects[] = {
    { TR_OPENAI_CHAT, "openai_chat", "/chat/completions" },
    { TR_OPENAI_RESPONSES, "openai_responses", "/responses" },
    { TR_ANTHROPIC, "anthropic", "/messages" },
    { TR_AUTO, NULL, NULL }
};


/* case-insensitive, as nginx's ngx_strlcasestrn() */

static int tr_dialect_contains(const unsigned char *s, size_t len,
    const char *what);


const char *
tr_dialect_name(int dialect)
{
    const tr_dialect_t  *d;

    for (d = tr_dialects; d->name; d++) {
        if (d->dialect == dialect) {
            return d->name;
        }
    }

    return "auto";
}


int
tr_dialect_by_uri(const unsigned char *uri, size_t len)
{
    size_t               n;
    const tr_dialect_t  *d;

    for (d = tr_dialects; d->name; d++) {
        n = strlen(d->suffix);

        if (len < n || memcmp(uri + len - n, d->suffix, n) != 0) {
            continue;
        }

        /* OpenAI's /v1/threads/ID/messages is no Anthropic API */

        if (d->dialect == TR_ANTHROPIC
            && tr_dialect_contains(uri, len, "/threads/"))
        {
            return TR_AUTO;
        }

        return d->dialect;
    }

    return TR_AUTO;
}


static int
tr_dialect_contains(const unsigned char *s, size_t len, const char *what)
{
    size_t  i, n;

    n = strlen(what);

    for (i = 0; i + n <= len; i++) {
        if (strncasecmp((const char *) s + i, what, n) == 0) {
            return 1;
        }
    }

    return 0;
}
