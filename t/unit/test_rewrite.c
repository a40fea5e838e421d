
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the thinking budget rule: Anthropic's budget_tokens must
 * stay below max_tokens and at least 1024.
 */


#include <string.h>

#include "tr_rewrite.h"
#include "unit.h"


static void thinking(int dialect, long max_tokens, long budget,
    unsigned *reasoning, long *out);


int
main(void)
{
    long      budget;
    unsigned  reasoning;

    thinking(TR_ANTHROPIC, -1, 8000, &reasoning, &budget);
    UNIT_OK(reasoning == 2 && budget == 8000, "no max_tokens: as the tier");

    thinking(TR_ANTHROPIC, 16000, 8000, &reasoning, &budget);
    UNIT_OK(reasoning == 2 && budget == 8000, "room: as the tier");

    thinking(TR_ANTHROPIC, 8001, 8000, &reasoning, &budget);
    UNIT_OK(reasoning == 2 && budget == 8000, "one above: as the tier");

    thinking(TR_ANTHROPIC, 8000, 8000, &reasoning, &budget);
    UNIT_OK(reasoning == 2 && budget == 7999, "equal: one below max_tokens");

    thinking(TR_ANTHROPIC, 1025, 8000, &reasoning, &budget);
    UNIT_OK(reasoning == 2 && budget == 1024, "1025: the least budget");

    thinking(TR_ANTHROPIC, 1024, 8000, &reasoning, &budget);
    UNIT_IS_INT(reasoning, 0, "1024: no thinking fits");

    thinking(TR_ANTHROPIC, 0, 8000, &reasoning, &budget);
    UNIT_IS_INT(reasoning, 0, "0: no thinking fits");

    thinking(TR_OPENAI_CHAT, 100, 8000, &reasoning, &budget);
    UNIT_OK(reasoning == 2 && budget == 8000, "chat: left as it is");

    return unit_done();
}


static void
thinking(int dialect, long max_tokens, long budget, unsigned *reasoning,
    long *out)
{
    tr_edit_t     edit;
    tr_request_t  req;

    memset(&edit, 0, sizeof(edit));
    memset(&req, 0, sizeof(req));

    req.dialect = dialect;
    req.features.max_tokens = max_tokens;
    edit.reasoning = 2;
    edit.thinking_budget = budget;

    tr_rewrite_thinking(&req, &edit);

    *reasoning = edit.reasoning;
    *out = edit.thinking_budget;
}
