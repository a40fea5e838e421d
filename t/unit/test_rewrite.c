
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the rewriter's tier profiles (the thinking budget rule,
 * adaptive thinking and its effort merged into output_config, the
 * OpenAI effort words, reasoning.effort merged, members dropped or
 * renamed), on bodies read by the extractor, byte for byte.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_extract.h"
#include "tr_rewrite.h"
#include "unit.h"


static void thinking(int dialect, long max_tokens, long budget,
    unsigned *reasoning, long *out);
static const char *rw(int dialect, const char *body, tr_edit_t *edit);
static void profiles(void);
static void drops(void);


static tr_request_t  req;
static char          out[4096];


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

    profiles();
    drops();

    return unit_done();
}


/* the body rewritten with edit (model "m"), or an error's text */

static const char *
rw(int dialect, const char *body, tr_edit_t *edit)
{
    size_t  size, n;

    req.dialect = dialect;

    if (tr_extract((const unsigned char *) body, strlen(body), &req) != 0) {
        snprintf(out, sizeof(out), "error: %s", req.error);
        return out;
    }

    edit->model = (const unsigned char *) "m";
    edit->model_len = 1;

    tr_rewrite_thinking(&req, edit);

    size = tr_rewrite_size((const unsigned char *) body, strlen(body), &req,
                           edit);

    if (size >= sizeof(out)) {
        return "error: too long";
    }

    n = tr_rewrite((const unsigned char *) body, strlen(body), &req, edit,
                   (unsigned char *) out);
    out[n] = '\0';

    return (n == size) ? out : "error: size";
}


#define EDIT(e)  (memset(&(e), 0, sizeof(e)), (e).rename = -1)

#define MSG  "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"


static void
profiles(void)
{
    tr_edit_t  e;

    /* Anthropic adaptive thinking, the effort in output_config */

    EDIT(e);
    e.thinking = TR_THINKING_ADAPTIVE;
    e.effort = "high";
    UNIT_IS_STR(rw(TR_ANTHROPIC, "{\"model\":\"x\",\"max_tokens\":100,"
                   MSG "}", &e),
                "{\"thinking\":{\"type\":\"adaptive\"},"
                "\"output_config\":{\"effort\":\"high\"},\"model\":\"m\","
                "\"max_tokens\":100," MSG "}",
                "adaptive: thinking and output_config inserted, whatever "
                "max_tokens");

    EDIT(e);
    e.thinking = TR_THINKING_ADAPTIVE;
    e.effort = "max";
    UNIT_IS_STR(rw(TR_ANTHROPIC, "{\"model\":\"x\",\"thinking\":{\"type\":"
                   "\"enabled\",\"budget_tokens\":2048},\"output_config\":"
                   "{\"format\":{\"type\":\"json_schema\",\"schema\":{}}},"
                   MSG "}", &e),
                "{\"model\":\"m\",\"thinking\":{\"type\":\"adaptive\"},"
                "\"output_config\":{\"effort\":\"max\",\"format\":{\"type\":"
                "\"json_schema\",\"schema\":{}}}," MSG "}",
                "adaptive: the client's thinking replaced, the effort merged "
                "beside its format");
    UNIT_OK(req.features.json_schema, "output_config.format read: a "
            "json_schema ask");

    EDIT(e);
    e.thinking = TR_THINKING_ADAPTIVE;
    e.effort = "low";
    UNIT_IS_STR(rw(TR_ANTHROPIC, "{\"model\":\"x\",\"output_config\":"
                   "{\"effort\":\"max\"}," MSG "}", &e),
                "{\"thinking\":{\"type\":\"adaptive\"},\"model\":\"m\","
                "\"output_config\":{\"effort\":\"low\"}," MSG "}",
                "adaptive: the client's effort replaced, in place");

    EDIT(e);
    e.thinking = TR_THINKING_ADAPTIVE;
    e.effort = "low";
    UNIT_IS_STR(rw(TR_ANTHROPIC, "{\"model\":\"x\",\"output_config\":null,"
                   MSG "}", &e),
                "{\"thinking\":{\"type\":\"adaptive\"},\"model\":\"m\","
                "\"output_config\":{\"effort\":\"low\"}," MSG "}",
                "adaptive: a null output_config becomes the effort's");

    EDIT(e);
    e.thinking = TR_THINKING_ADAPTIVE;
    UNIT_IS_STR(rw(TR_ANTHROPIC, "{\"model\":\"x\",\"output_config\":{},"
                   MSG "}", &e),
                "{\"thinking\":{\"type\":\"adaptive\"},\"model\":\"m\","
                "\"output_config\":{}," MSG "}",
                "adaptive without an effort: output_config left alone");

    EDIT(e);
    e.thinking = TR_THINKING_ADAPTIVE;
    e.effort = "medium";
    UNIT_IS_STR(rw(TR_ANTHROPIC, "{\"model\":\"x\",\"output_config\":{},"
                   MSG "}", &e),
                "{\"thinking\":{\"type\":\"adaptive\"},\"model\":\"m\","
                "\"output_config\":{\"effort\":\"medium\"}," MSG "}",
                "adaptive: the effort into an empty output_config");

    EDIT(e);
    e.thinking = TR_THINKING_ENABLED;
    e.thinking_budget = 4096;
    UNIT_IS_STR(rw(TR_ANTHROPIC, "{\"model\":\"x\"," MSG "}", &e),
                "{\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":"
                "4096},\"model\":\"m\"," MSG "}",
                "enabled: the budget form");

    EDIT(e);
    e.thinking = TR_THINKING_ENABLED;
    e.thinking_budget = 4096;
    UNIT_IS_STR(rw(TR_ANTHROPIC, "{\"model\":\"x\",\"max_tokens\":1000,"
                   MSG "}", &e),
                "{\"model\":\"m\",\"max_tokens\":1000," MSG "}",
                "enabled: nothing added where no budget fits");

    EDIT(e);
    e.thinking = TR_THINKING_OFF;
    UNIT_IS_STR(rw(TR_ANTHROPIC, "{\"model\":\"x\",\"thinking\":{\"type\":"
                   "\"enabled\",\"budget_tokens\":2048}," MSG "}", &e),
                "{\"model\":\"m\"," MSG "}",
                "off: the client's thinking dropped");
    UNIT_IS_INT(tr_rewrite_dropped(&req, &e), 1u << TR_PARAM_THINKING,
                "off: and said to be");

    /* OpenAI: the effort words, reasoning.effort merged */

    EDIT(e);
    e.effort = "xhigh";
    UNIT_IS_STR(rw(TR_OPENAI_CHAT, "{\"model\":\"x\",\"reasoning_effort\":"
                   "\"low\"," MSG "}", &e),
                "{\"model\":\"m\",\"reasoning_effort\":\"xhigh\"," MSG "}",
                "chat: any effort word");

    EDIT(e);
    e.effort = "none";
    UNIT_IS_STR(rw(TR_OPENAI_CHAT, "{\"model\":\"x\"," MSG "}", &e),
                "{\"reasoning_effort\":\"none\",\"model\":\"m\"," MSG "}",
                "chat: none inserted");

    EDIT(e);
    e.effort = "minimal";
    UNIT_IS_STR(rw(TR_OPENAI_RESPONSES, "{\"model\":\"x\",\"input\":\"hi\","
                   "\"reasoning\":{\"summary\":\"auto\",\"effort\":\"high\","
                   "\"context\":\"keep\"}}", &e),
                "{\"model\":\"m\",\"input\":\"hi\",\"reasoning\":"
                "{\"summary\":\"auto\",\"effort\":\"minimal\",\"context\":"
                "\"keep\"}}",
                "responses: only reasoning.effort set, summary and context "
                "kept");

    EDIT(e);
    e.effort = "high";
    UNIT_IS_STR(rw(TR_OPENAI_RESPONSES, "{\"model\":\"x\",\"input\":\"hi\","
                   "\"reasoning\":{\"summary\":\"auto\"}}", &e),
                "{\"model\":\"m\",\"input\":\"hi\",\"reasoning\":"
                "{\"effort\":\"high\",\"summary\":\"auto\"}}",
                "responses: the effort added beside summary");

    EDIT(e);
    e.reasoning = 3;
    UNIT_IS_STR(rw(TR_OPENAI_RESPONSES, "{\"model\":\"x\",\"input\":\"hi\","
                   "\"reasoning\":null}", &e),
                "{\"model\":\"m\",\"input\":\"hi\",\"reasoning\":"
                "{\"effort\":\"high\"}}",
                "responses: a null reasoning becomes the effort's");
}


static void
drops(void)
{
    tr_edit_t  e;

    EDIT(e);
    e.drop = 1u << TR_PARAM_TEMPERATURE;
    UNIT_IS_STR(rw(TR_OPENAI_CHAT, "{\"model\":\"x\",\"temperature\":0.2,"
                   MSG "}", &e),
                "{\"model\":\"m\"," MSG "}", "drop: a middle member");

    EDIT(e);
    e.drop = 1u << TR_PARAM_TEMPERATURE;
    UNIT_IS_STR(rw(TR_OPENAI_CHAT, "{ \"temperature\" : 0.2 , \"model\":\"x\","
                   MSG "}", &e),
                "{ \"model\":\"m\"," MSG "}", "drop: the first member");

    EDIT(e);
    e.drop = 1u << TR_PARAM_TEMPERATURE;
    UNIT_IS_STR(rw(TR_OPENAI_CHAT, "{\"model\":\"x\"," MSG
                   ",\"temperature\":0.2}", &e),
                "{\"model\":\"m\"," MSG "}", "drop: the last member");

    EDIT(e);
    e.drop = (1u << TR_PARAM_TEMPERATURE) | (1u << TR_PARAM_TOP_P)
             | (1u << TR_PARAM_TOP_K);
    UNIT_IS_STR(rw(TR_ANTHROPIC, "{\"top_k\":5,\"model\":\"x\"," MSG
                   ",\"temperature\":0.2,\"top_p\":0.9}", &e),
                "{\"model\":\"m\"," MSG "}",
                "drop: the first and a run at the end");
    UNIT_IS_INT(tr_rewrite_dropped(&req, &e),
                (1u << TR_PARAM_TEMPERATURE) | (1u << TR_PARAM_TOP_P)
                | (1u << TR_PARAM_TOP_K), "drop: the three said");

    EDIT(e);
    e.drop = (1u << TR_PARAM_TEMPERATURE) | (1u << TR_PARAM_TOP_P);
    UNIT_IS_STR(rw(TR_OPENAI_CHAT, "{\"temperature\":1,\"top_p\":1," MSG "}",
                   &e),
                "{\"model\":\"m\"," MSG "}",
                "drop: two at the start, the model inserted");

    EDIT(e);
    e.drop = (1u << TR_PARAM_TEMPERATURE) | (1u << TR_PARAM_VERBOSITY);
    UNIT_IS_STR(rw(TR_OPENAI_CHAT, "{\"model\":\"x\",\"temperature\":1,"
                   MSG ",\"verbosity\":\"low\"}", &e),
                "{\"model\":\"m\"," MSG "}",
                "drop: one in the middle and one at the end");

    EDIT(e);
    e.drop = 1u << TR_PARAM_PROMPT_CACHE;
    UNIT_IS_STR(rw(TR_OPENAI_CHAT, "{\"model\":\"x\"," MSG "}", &e),
                "{\"model\":\"m\"," MSG "}",
                "drop: an absent member changes nothing");
    UNIT_IS_INT(tr_rewrite_dropped(&req, &e), 0, "drop: and none said");

    EDIT(e);
    e.rename = TR_PARAM_MAX_TOKENS;
    e.rename_to = "max_completion_tokens";
    UNIT_IS_STR(rw(TR_OPENAI_CHAT, "{\"model\":\"x\",\"max_tokens\" : 50,"
                   MSG "}", &e),
                "{\"model\":\"m\",\"max_completion_tokens\": 50," MSG "}",
                "rename: max_tokens to max_completion_tokens");
    UNIT_IS_INT(tr_rewrite_renamed(&req, &e), TR_PARAM_MAX_TOKENS,
                "rename: said");

    EDIT(e);
    e.rename = TR_PARAM_MAX_TOKENS;
    e.rename_to = "max_completion_tokens";
    e.drop = 1u << TR_PARAM_MAX_TOKENS;
    UNIT_IS_STR(rw(TR_OPENAI_CHAT, "{\"model\":\"x\",\"max_tokens\":50,"
                   MSG "}", &e),
                "{\"model\":\"m\"," MSG "}", "rename and drop: dropped");
    UNIT_IS_INT(tr_rewrite_renamed(&req, &e), -1, "... not renamed");

    EDIT(e);
    e.effort = "high";
    e.drop = 1u << TR_PARAM_TEMPERATURE;
    e.rename = TR_PARAM_MAX_TOKENS;
    e.rename_to = "max_completion_tokens";
    e.logprobs = 1;
    e.stream_usage = 1;
    UNIT_IS_STR(rw(TR_OPENAI_CHAT, "{\"temperature\":0,\"max_tokens\":9,"
                   "\"stream\":true," MSG "}", &e),
                "{\"model\":\"m\",\"reasoning_effort\":\"high\","
                "\"stream_options\":{\"include_usage\":true},"
                "\"logprobs\":true,\"max_completion_tokens\":9,"
                "\"stream\":true," MSG "}",
                "everything at once, in order");
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
