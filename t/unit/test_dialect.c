
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the dialect table: names, and the dialect of a URI.
 */


#include <string.h>

#include "tr_dialect.h"
#include "unit.h"


static int by_uri(const char *uri);


typedef struct {
    const char  *uri;
    int          dialect;
    const char  *name;
} uri_case_t;


static const uri_case_t  cases[] = {
    { "/v1/chat/completions", TR_OPENAI_CHAT, "/v1/chat/completions" },
    { "/openai/v1/chat/completions", TR_OPENAI_CHAT, "behind a prefix" },
    { "/v1/responses", TR_OPENAI_RESPONSES, "/v1/responses" },
    { "/v1/messages", TR_ANTHROPIC, "/v1/messages" },
    { "/v1/threads/thread_1/messages", TR_AUTO,
      "an assistant thread's messages are not Anthropic's" },
    { "/v1/THREADS/thread_1/messages", TR_AUTO,
      "... whatever the case of /threads/" },
    { "/v1/messages/count_tokens", TR_AUTO, "count_tokens is not routed" },
    { "/v1/responses/resp_1", TR_AUTO, "a stored response is not routed" },
    { "/v1/embeddings", TR_AUTO, "embeddings" },
    { "/v1/chat/completions/", TR_AUTO, "a trailing slash is another URI" },
    { "/v1/Chat/Completions", TR_AUTO, "suffixes are matched as written" },
    { "", TR_AUTO, "empty" },
    { "s", TR_AUTO, "shorter than any suffix" },
    { NULL, 0, NULL }
};


int
main(void)
{
    const uri_case_t    *c;
    const tr_dialect_t  *d;

    UNIT_IS_STR(tr_dialect_name(TR_OPENAI_CHAT), "openai_chat",
                "name: openai_chat");
    UNIT_IS_STR(tr_dialect_name(TR_OPENAI_RESPONSES), "openai_responses",
                "name: openai_responses");
    UNIT_IS_STR(tr_dialect_name(TR_ANTHROPIC), "anthropic",
                "name: anthropic");
    UNIT_IS_STR(tr_dialect_name(TR_AUTO), "auto", "name: auto");
    UNIT_IS_STR(tr_dialect_name(42), "auto", "name: an unknown number");

    for (d = tr_dialects; d->name; d++) {
        UNIT_IS_INT(by_uri(d->suffix), d->dialect,
                    "table: %s is routed by its own suffix", d->name);
    }

    for (c = cases; c->uri; c++) {
        UNIT_IS_INT(by_uri(c->uri), c->dialect, "uri: %s", c->name);
    }

    return unit_done();
}


static int
by_uri(const char *uri)
{
    return tr_dialect_by_uri((const unsigned char *) uri, strlen(uri));
}
