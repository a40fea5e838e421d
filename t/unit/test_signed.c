
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the signed reasoning stripper: each kind of block and
 * item, what is kept readable, the last turn, bodies with nothing to
 * strip, and what is not a body; every output is parsed with jansson and
 * compared with what it must be.
 */


#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tr_dialect.h"
#include "tr_signed.h"
#include "unit.h"


#define A  TR_ANTHROPIC
#define R  TR_OPENAI_RESPONSES


typedef struct {
    int          dialect;
    const char  *in;
    const char  *want;          /* NULL: the same bytes */
    unsigned     stripped;
    unsigned     kept;
    unsigned     last_turn;
    const char  *name;
} signed_case_t;


static const signed_case_t  cases[] = {

    { A, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
      "\"content\":\"Go\"},"
      "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\","
      "\"thinking\":\"Read a.go.\",\"signature\":\"EqQB\"},{\"type\":"
      "\"tool_use\",\"id\":\"t1\",\"name\":\"read\",\"input\":{}}]},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
      "\"tool_use_id\":\"t1\",\"content\":\"ok\"}]}],\"thinking\":"
      "{\"type\":\"enabled\",\"budget_tokens\":2048}}",
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Go\"},"
      "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
      "\"text\":\"Read a.go.\"},{\"type\":"
      "\"tool_use\",\"id\":\"t1\",\"name\":\"read\",\"input\":{}}]},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
      "\"tool_use_id\":\"t1\",\"content\":\"ok\"}]}],\"thinking\":"
      "{\"type\":\"enabled\",\"budget_tokens\":2048}}",
      1, 1, 1, "a tool loop: thinking kept as text, in the last turn" },

    { A, "{\"messages\":[{\"content\":[{\"signature\":\"S\",\"thinking\":"
      "\"He said \\\"no\\\".\",\"type\":\"thinking\"},{\"type\":\"text\","
      "\"text\":\"Done.\"}],\"role\":\"assistant\"},{\"role\":\"user\","
      "\"content\":\"Next.\"},{\"role\":\"assistant\",\"content\":\"Ok.\"},"
      "{\"role\":\"user\",\"content\":\"More.\"}]}",
      "{\"messages\":[{\"content\":[{\"type\":\"text\",\"text\":"
      "\"He said \\\"no\\\".\"},{\"type\":\"text\","
      "\"text\":\"Done.\"}],\"role\":\"assistant\"},{\"role\":\"user\","
      "\"content\":\"Next.\"},{\"role\":\"assistant\",\"content\":\"Ok.\"},"
      "{\"role\":\"user\",\"content\":\"More.\"}]}",
      1, 1, 0, "members in any order, escapes kept, an earlier turn" },

    { A, "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
      "\"redacted_thinking\",\"data\":\"EmwKAhgB\"},{\"type\":\"text\","
      "\"text\":\"Hi\"}]}]}",
      "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
      "\"text\",\"text\":\"Hi\"}]}]}",
      1, 0, 1, "redacted: dropped" },

    { A, "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
      "\"text\",\"text\":\"A\"},{\"type\":\"redacted_thinking\",\"data\":"
      "\"x\"},{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"s\"},"
      "{\"type\":\"text\",\"text\":\"B\"}]}]}",
      "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
      "\"text\",\"text\":\"A\"},{\"type\":\"text\",\"text\":\"B\"}]}]}",
      2, 0, 1, "dropped in the middle, an empty thinking too" },

    { A, "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
      "\"redacted_thinking\",\"data\":\"x\"}]}]}",
      "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
      "\"text\",\"text\":\"(reasoning redacted)\"}]}]}",
      1, 0, 1, "a message left with nothing says so" },

    { A, " {\n  \"messages\" : [ { \"role\" : \"assistant\" , \"content\" :"
      " [ { \"type\" : \"thinking\" , \"thinking\" : \"T\" , \"signature\""
      " : \"S\" } , { \"type\" : \"text\" , \"text\" : \"X\" } ] } ]\n}\n",
      " {\n  \"messages\" : [{ \"role\" : \"assistant\" , \"content\" :"
      " [{\"type\":\"text\",\"text\":\"T\"},{ \"type\" : \"text\" , \"text\" :"
      " \"X\" }] }]\n}\n",
      1, 1, 1, "white space anywhere" },

    { A, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
      "\"max_tokens\":5}", NULL, 0, 0, 0, "nothing signed: the same" },

    { A, "{\"max_tokens\":5,\"messages\":\"odd\"}", NULL, 0, 0, 0,
      "messages not an array: as it is" },

    { R, "{\"model\":\"o4\",\"input\":[{\"role\":\"user\",\"content\":\"Go\"},"
      "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":"
      "\"summary_text\",\"text\":\"First.\"},{\"type\":\"summary_text\","
      "\"text\":\"Then.\"}],\"encrypted_content\":\"gAAAAB\"},"
      "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\","
      "\"arguments\":\"{}\"},{\"type\":\"function_call_output\","
      "\"call_id\":\"c\",\"output\":\"ok\"}],\"include\":"
      "[\"reasoning.encrypted_content\"]}",
      "{\"model\":\"o4\",\"input\":[{\"role\":\"user\",\"content\":\"Go\"},"
      "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
      "\"output_text\",\"text\":\"First.\\n\\nThen.\"}]},"
      "{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\","
      "\"arguments\":\"{}\"},{\"type\":\"function_call_output\","
      "\"call_id\":\"c\",\"output\":\"ok\"}],\"include\":"
      "[\"reasoning.encrypted_content\"]}",
      1, 1, 0, "a reasoning item: its summary as the assistant's" },

    { R, "{\"input\":[{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[],"
      "\"encrypted_content\":\"e\"},{\"role\":\"user\",\"content\":\"A\"},"
      "{\"type\":\"reasoning\",\"id\":\"rs_2\",\"summary\":[]}]}",
      "{\"input\":[{\"role\":\"user\",\"content\":\"A\"}]}",
      2, 0, 0, "no summary: dropped, first and last" },

    { R, "{\"input\":\"Hello\",\"previous_response_id\":\"resp_1\"}", NULL,
      0, 0, 0, "a string input: the same" },

    { 0, NULL, NULL, 0, 0, 0, NULL }
};


static const char  *bad[] = {
    "", "{", "[1]", "{\"messages\":[{\"role\":\"assistant\",\"content\":[{",
    "{\"messages\":[{\"content\":[{\"type\":\"thinking\",\"thinking\":\"x}]}]}",
    "{\"messages\" [] }", "{\"messages\":[}]}", "{\"messages\":[1 2]",
    NULL
};


int
main(void)
{
    size_t                n, m, i, len;
    json_t               *got, *want;
    unsigned char        *out;
    tr_signed_t           st;
    const signed_case_t  *c;

    for (c = cases; c->name; c++) {
        len = strlen(c->in);
        n = tr_signed_strip((const unsigned char *) c->in, len, c->dialect,
                            NULL, &st);

        out = malloc(n + 1);
        m = tr_signed_strip((const unsigned char *) c->in, len, c->dialect,
                            out, &st);

        UNIT_OK(n != TR_SIGNED_FAILED && m == n,
                "%s: counted as written (%zu, %zu)", c->name, n, m);

        if (n == TR_SIGNED_FAILED) {
            free(out);
            continue;
        }

        out[n] = '\0';

        UNIT_IS_STR((char *) out, c->want ? c->want : c->in, "%s: the body",
                    c->name);

        got = json_loadb((char *) out, n, JSON_REJECT_DUPLICATES, NULL);
        want = json_loads(c->want ? c->want : c->in, 0, NULL);
        UNIT_OK(got && want && json_equal(got, want), "%s: valid JSON",
                c->name);
        json_decref(got);
        json_decref(want);

        UNIT_IS_INT(st.stripped, c->stripped, "%s: stripped", c->name);
        UNIT_IS_INT(st.kept, c->kept, "%s: kept", c->name);
        UNIT_IS_INT(st.last_turn, c->last_turn, "%s: the last turn",
                    c->name);

        free(out);
    }

    for (i = 0; bad[i]; i++) {
        UNIT_IS_INT(tr_signed_strip((const unsigned char *) bad[i],
                                    strlen(bad[i]), A, NULL, &st)
                    == TR_SIGNED_FAILED, 1, "not a body: \"%s\"", bad[i]);
    }

    UNIT_OK(tr_signed_strip((const unsigned char *) "{}", 2, TR_OPENAI_CHAT,
                            NULL, &st) == TR_SIGNED_FAILED,
            "chat has nothing signed: refused");

    /* every prefix of a body: an answer, never a read beyond it */

    c = &cases[0];
    len = strlen(c->in);

    for (i = 0; i < len; i++) {
        out = malloc(i ? i : 1);
        memcpy(out, c->in, i);
        n = tr_signed_strip(out, i, A, NULL, &st);
        free(out);

        if (n != TR_SIGNED_FAILED) {
            break;
        }
    }

    UNIT_IS_INT(i, len, "every prefix of a body is refused");

    return unit_done();
}
