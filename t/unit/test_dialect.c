
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the dialect table: names, and the dialect of a URI.
 */


#include <string.h>

#include "tr_dialect.h"
#include "unit.h"


static int by_uri(const char *uri);


int
main(void)
{
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

    UNIT_IS_INT(by_uri("/v1/chat/completions"), TR_OPENAI_CHAT,
                "uri: /v1/chat/completions");
    UNIT_IS_INT(by_uri("/openai/v1/chat/completions"), TR_OPENAI_CHAT,
                "uri: behind a prefix");
    UNIT_IS_INT(by_uri("/v1/responses"), TR_OPENAI_RESPONSES,
                "uri: /v1/responses");
    UNIT_IS_INT(by_uri("/v1/messages"), TR_ANTHROPIC, "uri: /v1/messages");

    UNIT_IS_INT(by_uri("/v1/threads/thread_1/messages"), TR_AUTO,
                "uri: an assistant thread's messages are not Anthropic's");
    UNIT_IS_INT(by_uri("/v1/THREADS/thread_1/messages"), TR_AUTO,
                "uri: ... whatever the case of /threads/");
    UNIT_IS_INT(by_uri("/v1/messages/count_tokens"), TR_AUTO,
                "uri: count_tokens is not routed");
    UNIT_IS_INT(by_uri("/v1/responses/resp_1"), TR_AUTO,
                "uri: a stored response is not routed");
    UNIT_IS_INT(by_uri("/v1/embeddings"), TR_AUTO, "uri: embeddings");
    UNIT_IS_INT(by_uri("/v1/chat/completions/"), TR_AUTO,
                "uri: a trailing slash is another URI");
    UNIT_IS_INT(by_uri("/v1/Chat/Completions"), TR_AUTO,
                "uri: suffixes are matched as written");
    UNIT_IS_INT(by_uri(""), TR_AUTO, "uri: empty");
    UNIT_IS_INT(by_uri("s"), TR_AUTO, "uri: shorter than any suffix");

    return unit_done();
}


static int
by_uri(const char *uri)
{
    return tr_dialect_by_uri((const unsigned char *) uri, strlen(uri));
}
