
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the answer judge: each signal in each dialect, a signal
 * not named, tool calls, logprobs, and what is not an answer.
 */


#include <string.h>

#include "tr_dialect.h"
#include "tr_judge.h"
#include "unit.h"


#define ALL  (TR_JUDGE_LENGTH | TR_JUDGE_EMPTY | TR_JUDGE_REFUSAL          \
              | TR_JUDGE_JSON | TR_JUDGE_LOGPROB)


typedef struct {
    int          dialect;
    unsigned     signals;
    unsigned     json_output;
    const char  *body;
    tr_answer_e  want;
    const char  *name;
} judge_case_t;


static const judge_case_t  cases[] = {

    /* chat */

    { TR_OPENAI_CHAT, ALL, 0,
      "{\"choices\":[{\"message\":{\"content\":\"Paris.\"},"
      "\"finish_reason\":\"stop\"}]}", TR_ANSWER_GOOD, "chat: good" },
    { TR_OPENAI_CHAT, ALL, 0,
      "{\"choices\":[{\"message\":{\"content\":\"Par\"},"
      "\"finish_reason\":\"length\"}]}", TR_ANSWER_LENGTH, "chat: length" },
    { TR_OPENAI_CHAT, TR_JUDGE_EMPTY, 0,
      "{\"choices\":[{\"message\":{\"content\":\"Par\"},"
      "\"finish_reason\":\"length\"}]}", TR_ANSWER_GOOD,
      "chat: length not named" },
    { TR_OPENAI_CHAT, ALL, 0,
      "{\"choices\":[{\"message\":{\"content\":null,\"refusal\":\"No.\"},"
      "\"finish_reason\":\"stop\"}]}", TR_ANSWER_REFUSAL,
      "chat: refusal" },
    { TR_OPENAI_CHAT, ALL, 0,
      "{\"choices\":[{\"message\":{\"content\":\"\"},"
      "\"finish_reason\":\"content_filter\"}]}", TR_ANSWER_REFUSAL,
      "chat: content_filter" },
    { TR_OPENAI_CHAT, ALL, 0,
      "{\"choices\":[{\"message\":{\"content\":\" \\n\\t\"},"
      "\"finish_reason\":\"stop\"}]}", TR_ANSWER_EMPTY, "chat: empty" },
    { TR_OPENAI_CHAT, ALL, 0,
      "{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":"
      "[{\"id\":\"c\"}]},\"finish_reason\":\"tool_calls\"}]}",
      TR_ANSWER_GOOD, "chat: a tool call is neither empty nor short" },
    { TR_OPENAI_CHAT, ALL, 1,
      "{\"choices\":[{\"message\":{\"content\":\"{\\\"a\\\":1\"},"
      "\"finish_reason\":\"stop\"}]}", TR_ANSWER_JSON, "chat: bad JSON" },
    { TR_OPENAI_CHAT, ALL, 1,
      "{\"choices\":[{\"message\":{\"content\":\"{\\\"a\\\":1,\\\"a\\\":2}\"},"
      "\"finish_reason\":\"stop\"}]}", TR_ANSWER_JSON,
      "chat: duplicate keys are no JSON answer" },
    { TR_OPENAI_CHAT, ALL, 1,
      "{\"choices\":[{\"message\":{\"content\":\"{\\\"a\\\":1}\"},"
      "\"finish_reason\":\"stop\"}]}", TR_ANSWER_GOOD, "chat: JSON" },
    { TR_OPENAI_CHAT, ALL, 0,
      "{\"choices\":[{\"message\":{\"content\":\"{\\\"a\\\":1\"},"
      "\"finish_reason\":\"stop\"}]}", TR_ANSWER_GOOD,
      "chat: JSON not asked for" },
    { TR_OPENAI_CHAT, ALL, 0,
      "{\"choices\":[{\"message\":{\"content\":\"Maybe.\"},"
      "\"logprobs\":{\"content\":[{\"logprob\":-3},{\"logprob\":-2}]},"
      "\"finish_reason\":\"stop\"}]}", TR_ANSWER_LOGPROB,
      "chat: a low mean logprob" },
    { TR_OPENAI_CHAT, ALL, 0,
      "{\"choices\":[{\"message\":{\"content\":\"Yes.\"},"
      "\"logprobs\":{\"content\":[{\"logprob\":-0.1}]},"
      "\"finish_reason\":\"stop\"}]}", TR_ANSWER_GOOD,
      "chat: a high mean logprob" },
    { TR_OPENAI_CHAT, ALL, 0,
      "{\"choices\":[{\"message\":{\"content\":\"\"},"
      "\"logprobs\":{\"content\":[{\"logprob\":-3}]},"
      "\"finish_reason\":\"stop\"}]}", TR_ANSWER_EMPTY,
      "chat: empty before logprob" },
    { TR_OPENAI_CHAT, ALL & ~TR_JUDGE_EMPTY, 0,
      "{\"choices\":[{\"message\":{\"content\":\"\"},"
      "\"logprobs\":{\"content\":[{\"logprob\":-3}]},"
      "\"finish_reason\":\"stop\"}]}", TR_ANSWER_GOOD,
      "chat: an empty answer is not judged by logprobs" },

    /* Anthropic */

    { TR_ANTHROPIC, ALL, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":"
      "\"Hi\"}],\"stop_reason\":\"end_turn\"}", TR_ANSWER_GOOD,
      "anthropic: good" },
    { TR_ANTHROPIC, ALL, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":"
      "\"H\"}],\"stop_reason\":\"max_tokens\"}", TR_ANSWER_LENGTH,
      "anthropic: max_tokens" },
    { TR_ANTHROPIC, ALL, 0,
      "{\"type\":\"message\",\"content\":[],\"stop_reason\":\"refusal\"}",
      TR_ANSWER_REFUSAL, "anthropic: refusal" },
    { TR_ANTHROPIC, ALL, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":"
      "\"H\"}],\"stop_reason\":\"model_context_window_exceeded\"}",
      TR_ANSWER_LENGTH, "anthropic: the context window, like length" },
    { TR_ANTHROPIC, ALL, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"server_tool_use\","
      "\"id\":\"s\"}],\"stop_reason\":\"pause_turn\"}", TR_ANSWER_GOOD,
      "anthropic: pause_turn is not empty" },
    { TR_ANTHROPIC, ALL, 1,
      "{\"type\":\"message\",\"content\":[],\"stop_reason\":"
      "\"pause_turn\"}", TR_ANSWER_GOOD,
      "anthropic: pause_turn with nothing yet, JSON asked: kept" },
    { TR_ANTHROPIC, ALL & ~TR_JUDGE_LENGTH, 0,
      "{\"type\":\"message\",\"content\":[],\"stop_reason\":"
      "\"model_context_window_exceeded\"}", TR_ANSWER_GOOD,
      "anthropic: the context window, length not named: kept" },
    { TR_ANTHROPIC, ALL, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"thinking\","
      "\"thinking\":\"hm\"}],\"stop_reason\":\"end_turn\"}",
      TR_ANSWER_EMPTY, "anthropic: thinking only is empty" },
    { TR_ANTHROPIC, ALL, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"tool_use\","
      "\"id\":\"t\"}],\"stop_reason\":\"tool_use\"}", TR_ANSWER_GOOD,
      "anthropic: tool_use" },
    { TR_ANTHROPIC, ALL, 0,
      "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":"
      "\"Maybe\"}],\"logprobs\":{\"content\":[{\"logprob\":-9}]}}",
      TR_ANSWER_GOOD, "anthropic: logprobs are chat's only" },

    /* responses */

    { TR_OPENAI_RESPONSES, ALL, 0,
      "{\"status\":\"completed\",\"output\":[{\"type\":\"reasoning\"},"
      "{\"type\":\"message\",\"content\":[{\"type\":\"output_text\","
      "\"text\":\"Hi\"}]}]}", TR_ANSWER_GOOD, "responses: good" },
    { TR_OPENAI_RESPONSES, ALL, 0,
      "{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":"
      "\"max_output_tokens\"}}", TR_ANSWER_LENGTH, "responses: incomplete" },
    { TR_OPENAI_RESPONSES, ALL, 0,
      "{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":"
      "\"content_filter\"}}", TR_ANSWER_REFUSAL,
      "responses: content_filter" },
    { TR_OPENAI_RESPONSES, ALL, 0,
      "{\"status\":\"completed\",\"output\":[{\"type\":\"message\","
      "\"content\":[{\"type\":\"refusal\",\"refusal\":\"No\"}]}]}",
      TR_ANSWER_REFUSAL, "responses: a refusal part" },
    { TR_OPENAI_RESPONSES, ALL, 0,
      "{\"status\":\"completed\",\"output\":[{\"type\":\"function_call\"}]}",
      TR_ANSWER_GOOD, "responses: a function call" },
    { TR_OPENAI_RESPONSES, ALL, 0,
      "{\"status\":\"completed\",\"output\":[]}", TR_ANSWER_EMPTY,
      "responses: no output" },

    /* not an answer */

    { TR_OPENAI_CHAT, ALL, 0, "[1,2]", TR_ANSWER_INVALID, "an array" },
    { TR_OPENAI_CHAT, ALL, 0, "{\"choices\":", TR_ANSWER_INVALID,
      "cut short" },
    { TR_OPENAI_CHAT, ALL, 0, "", TR_ANSWER_INVALID, "nothing" },

    { 0, 0, 0, NULL, TR_ANSWER_GOOD, NULL }
};


/* json_output is "the prompt asks how many" here */

#define FALSE_CHAT                                                           \
    "{\"choices\":[{\"message\":{\"content\":\"3 + 4 = 8.\\nThe answer "   \
    "is 8.\"},\"finish_reason\":\"stop\"}]}"
#define RIGHT_CHAT                                                           \
    "{\"choices\":[{\"message\":{\"content\":\"3 + 4 = 7.\\nThe answer "   \
    "is 7.\"},\"finish_reason\":\"stop\"}]}"

static const judge_case_t  math_cases[] = {
    { TR_OPENAI_CHAT, TR_JUDGE_MATH, 1, FALSE_CHAT, TR_ANSWER_MATH,
      "math: chat, a false equation" },
    { TR_OPENAI_CHAT, TR_JUDGE_MATH, 1, RIGHT_CHAT, TR_ANSWER_GOOD,
      "math: chat, a right answer" },
    { TR_OPENAI_CHAT, TR_JUDGE_MATH, 0, FALSE_CHAT, TR_ANSWER_GOOD,
      "math: chat, not a word problem" },
    { TR_OPENAI_CHAT, TR_JUDGE_EMPTY, 1, FALSE_CHAT, TR_ANSWER_GOOD,
      "math: chat, not named" },
    { TR_OPENAI_CHAT, TR_JUDGE_MATH, 1,
      "{\"choices\":[{\"message\":{\"content\":\"It is 12.5 in all. "
      "The answer is 12.5\"},\"finish_reason\":\"stop\"}]}",
      TR_ANSWER_MATH, "math: chat, a decimal for how many" },
    { TR_ANTHROPIC, TR_JUDGE_MATH, 1,
      "{\"content\":[{\"type\":\"text\",\"text\":\"6 x 7 = 41\\n\"},"
      "{\"type\":\"text\",\"text\":\"The answer is 41.\"}],"
      "\"stop_reason\":\"end_turn\"}", TR_ANSWER_MATH,
      "math: Anthropic, text blocks joined" },
    { TR_OPENAI_RESPONSES, TR_JUDGE_MATH, 1,
      "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":"
      "\"output_text\",\"text\":\"6 x 7 = 42. The answer is 42.\"}]}],"
      "\"status\":\"completed\"}", TR_ANSWER_GOOD,
      "math: responses, a right answer" },
    { TR_OPENAI_RESPONSES, TR_JUDGE_MATH, 1,
      "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":"
      "\"output_text\",\"text\":\"6 x 7 = 43. The answer is 43.\"}]}],"
      "\"status\":\"completed\"}", TR_ANSWER_MATH,
      "math: responses, a false equation" },
    { 0, 0, 0, NULL, 0, NULL }
};


static void
category(const char *body, size_t size, const char *want, const char *name)
{
    char    out[64];
    size_t  n;

    n = tr_judge_category(body, strlen(body), out, size);

    UNIT_OK(n == strlen(want) && strcmp(out, want) == 0, "%s ('%s')", name,
            out);
}


int
main(void)
{
    tr_judge_t           j;
    const judge_case_t  *c;

    memset(&j, 0, sizeof(j));

    for (c = cases; c->name; c++) {
        j.dialect = c->dialect;
        j.signals = c->signals;
        j.json_output = c->json_output;
        j.logprob = -1.0;

        UNIT_IS_INT(tr_judge(&j, c->body, strlen(c->body)), c->want,
                    "%s", c->name);
    }

    /* the answer checks, with the project's weights */

    for (c = math_cases; c->name; c++) {
        j.dialect = c->dialect;
        j.signals = c->signals;
        j.json_output = 0;
        j.math = &tr_check_math_default;
        j.threshold = tr_check_math_default.threshold;
        j.pre = 0.3;
        j.ask = c->json_output ? TR_CHECK_ASK_MATH | TR_CHECK_ASK_INTEGER
                               : 0;

        UNIT_IS_INT(tr_judge(&j, c->body, strlen(c->body)), c->want,
                    "%s", c->name);
    }

    j.dialect = TR_OPENAI_CHAT;
    j.signals = TR_JUDGE_MATH;
    j.ask = TR_CHECK_ASK_MATH;
    j.threshold = 0.999;
    UNIT_IS_INT(tr_judge(&j, FALSE_CHAT, strlen(FALSE_CHAT)), TR_ANSWER_GOOD,
                "math: under the operator's threshold");
    j.threshold = 0.01;
    UNIT_IS_INT(tr_judge(&j, RIGHT_CHAT, strlen(RIGHT_CHAT)), TR_ANSWER_MATH,
                "math: a threshold low enough escalates anything");
    j.math = NULL;
    UNIT_IS_INT(tr_judge(&j, FALSE_CHAT, strlen(FALSE_CHAT)), TR_ANSWER_GOOD,
                "math: no model, no check");

    UNIT_IS_STR(tr_answer_name(TR_ANSWER_MATH), "math", "name: math");
    UNIT_IS_STR(tr_answer_name(TR_ANSWER_LENGTH), "length", "name: length");
    UNIT_IS_STR(tr_answer_name(TR_ANSWER_INVALID), "invalid",
                "name: invalid");
    UNIT_OK(tr_answer_name(TR_ANSWER_GOOD) == NULL, "name: none if good");
    UNIT_OK(tr_answer_name(TR_ANSWER_ERROR) == NULL, "name: none if error");
    UNIT_OK(tr_answer_name((tr_answer_e) 99) == NULL, "name: out of range");

    category(" {\"stop_reason\":\"refusal\",\"stop_details\":{\"type\":"
             "\"refusal\",\"category\":\"cyber\"}}", 32, "cyber",
             "category: Anthropic stop_details.category");
    category("{\"stop_details\":{\"category\":\"reasoning_extraction\"}}",
             10, "reasoning", "category: cut to the room");
    category("{\"stop_details\":{\"category\":\"bio\\\"; x=1\"}}", 32,
             "bio", "category: up to the first other character");
    category("{\"stop_details\":null}", 32, "", "category: none");
    category("{\"stop_details\":{\"category\":7}}", 32, "",
             "category: not a string");
    category("not json", 32, "", "category: not JSON");

    return unit_done();
}
