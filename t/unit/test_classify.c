
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the request classifier: hand-written chat-style prompts
 * (routine tasks low, hard ones high), the request parameters' direction,
 * and edge cases of the text window.
 */


#include <stdlib.h>
#include <string.h>

#include "tr_classify.h"
#include "unit.h"


#define TEXT_LEN  4096


static void features(tr_features_t *f, const char *text);
static double score(const char *text);
static double classify(const tr_features_t *f,
    tr_verdict_t *v);
static int has_reason(const tr_verdict_t *v,
    const char *token);
static int reasons_sane(const tr_verdict_t *v);
static void test_easy(void);
static void test_hard(void);
static void test_pairs(void);
static void test_request(void);
static void test_signals(void);
static void test_edges(void);
static void test_word_read(void);


static const char  *easy[] = {
    "Translate 'good morning' to French",
    "Translate the following paragraph into Spanish: Our office will be "
    "closed on Monday for the public holiday. Please contact "
    "support@example.com for urgent requests.",
    "Classify the sentiment of this review as positive, negative or "
    "neutral: The battery life is great but the screen scratches easily.",
    "Extract the names, email addresses and phone numbers from the "
    "following text and return them as JSON: Hi, I'm Jane Doe "
    "(jane@acme.com, +1 555 0100). Please cc Bob Smith at bob@acme.com.",
    "Summarize this in two sentences: The city council voted on Tuesday "
    "to approve a new bike lane network spanning 40 miles, funded by a "
    "state grant. Construction begins in spring and is expected to finish "
    "by late next year.",
    "Convert this date to ISO 8601: March 5th, 2023 at 4pm",
    "Format this list as a markdown table: apples 3, pears 5, plums 2",
    "Rewrite this email to sound more polite: Send me the report now.",
    "Fill in the template: Dear {name}, your order {order_id} has "
    "shipped. Name: Ana, order: 1234",
    "Can you please categorize these expenses into travel, meals or "
    "office: taxi 23, lunch 12, printer paper 8",
    "What is the capital of Australia?",
    "Write a haiku about autumn leaves.",
    "hi",
    NULL
};


static const char  *hard[] = {
    "Design a distributed system for processing payments across three "
    "regions with exactly-once semantics, and write the code for the "
    "ledger, the API gateway and the reconciliation services.",
    "Prove that there are infinitely many primes p such that p = 4k + 3, "
    "and explain each step rigorously.",
    "Review this contract clause for risks to the licensee and propose "
    "alternative language: 'Licensor may terminate this Agreement at any "
    "time without notice, and Licensee shall indemnify Licensor against "
    "all claims arising from use of the Software, including claims caused "
    "by Licensor's negligence.' Consider enforceability under New York law "
    "and the limitation of liability.",
    "Our Go service deadlocks intermittently under load. Here is the "
    "code:\n```go\nfunc (s *Server) Handle(w http.ResponseWriter, "
    "r *http.Request) {\n    s.mu.Lock()\n    defer s.mu.Unlock()\n"
    "    s.cache.Refresh(r.Context())\n}\n```\nThe cache refresh calls "
    "back into the server to read config, which also takes s.mu. Also the "
    "worker pool occasionally leaks goroutines and the Postgres connection "
    "pool is exhausted. Debug this and explain the root causes across the "
    "three components.",
    "Write a 5000-word short story in three chapters about a lighthouse "
    "keeper who discovers a time loop, with detailed worldbuilding and "
    "well-developed characters.",
    "Here are three studies with conflicting results on intermittent "
    "fasting and muscle retention. Synthesize them, reconcile the "
    "discrepancies, and assess which conclusions the evidence supports.",
    "Implement a lock-free concurrent hash map in Rust with resize "
    "support, and write tests that demonstrate linearizability under "
    "contention.",
    "Analyze whether the defendant can be held liable for negligence when "
    "the plaintiff was injured on the defendant's property by a third "
    "party's criminal act, citing the relevant tort doctrines.",
    "Is it morally permissible to lie to protect a friend's feelings? "
    "Discuss from utilitarian and deontological perspectives and reach a "
    "nuanced conclusion.",
    NULL
};


static const char  *tokens[] = {
    "task_translate", "task_classify", "task_extract", "task_format",
    "task_lookup", "task_summary", "task_rewrite", "task_template", "proof",
    "task_design", "task_code", "task_debug", "task_analysis", "synthesis",
    "systems", "code_block", "math", "multi_step", "legal", "medical",
    "ethics", "multi_part", "choices", "creative", "long_output",
    "short_output", "fixed_output", "json_schema", "json_output",
    "reasoning_low", "reasoning_medium", "reasoning_high", "multi_turn",
    "tools", "tool_results", "images", "long_input", "short_simple", NULL
};


static void
features(tr_features_t *f, const char *text)
{
    memset(f, 0, sizeof(tr_features_t));

    f->text = (const unsigned char *) text;
    f->text_len = text ? strlen(text) : 0;
    f->total_text = f->text_len;
    f->messages = 1;
    f->user_turns = 1;
    f->max_tokens = -1;
}


static double
classify(const tr_features_t *f,
    tr_verdict_t *v)
{
    memset(v, 0x5a, sizeof(tr_verdict_t));
    tr_classify(f, v);

    return v->score;
}


static double
score(const char *text)
{
    tr_verdict_t   v;
    tr_features_t  f;

    features(&f, text);

    return classify(&f, &v);
}


static int
has_reason(const tr_verdict_t *v, const char *token)
{
    size_t       n;
    const char  *p;

    n = strlen(token);

    for (p = v->reasons; (p = strstr(p, token)) != NULL; p += n) {
        if ((p == v->reasons || p[-1] == ',')
            && (p[n] == '\0' || p[n] == ','))
        {
            return 1;
        }
    }

    return 0;
}


/* NUL inside the buffer, known tokens only, each once, score in [0,1] */

static int
reasons_sane(const tr_verdict_t *v)
{
    char         buf[TR_REASONS_LEN];
    char        *p, *save;
    size_t       i, n;
    const char  *seen[64];
    unsigned     nseen, j;

    if (!(v->score >= 0.0 && v->score <= 1.0)) {
        return 0;
    }

    if (memchr(v->reasons, '\0', sizeof(v->reasons)) == NULL) {
        return 0;
    }

    n = strlen(v->reasons);
    memcpy(buf, v->reasons, n + 1);
    nseen = 0;

    if (n && (buf[0] == ',' || buf[n - 1] == ',' || strstr(buf, ",,"))) {
        return 0;
    }

    for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {

        for (i = 0; tokens[i]; i++) {
            if (strcmp(p, tokens[i]) == 0) {
                break;
            }
        }

        if (tokens[i] == NULL || nseen == 64) {
            return 0;
        }

        for (j = 0; j < nseen; j++) {
            if (seen[j] == tokens[i]) {
                return 0;
            }
        }

        seen[nseen++] = tokens[i];
    }

    return 1;
}


static void
test_easy(void)
{
    unsigned       i;
    tr_verdict_t   v;
    tr_features_t  f;

    UNIT_LT(score("Translate 'good morning' to French"), 0.3,
            "translate 'good morning' scores below 0.3");

    features(&f, "Translate 'good morning' to French");
    classify(&f, &v);
    UNIT_OK(has_reason(&v, "task_translate"), "translate: task_translate "
            "(reasons \"%s\")", v.reasons);

    for (i = 0; easy[i]; i++) {
        UNIT_LT(score(easy[i]), 0.35, "routine task scores small: %.50s",
                easy[i]);
    }

    features(&f, easy[3]);
    classify(&f, &v);
    UNIT_OK(has_reason(&v, "task_extract"), "extraction: task_extract "
            "(reasons \"%s\")", v.reasons);

    features(&f, easy[2]);
    classify(&f, &v);
    UNIT_OK(has_reason(&v, "task_classify"), "sentiment: task_classify "
            "(reasons \"%s\")", v.reasons);
}


static void
test_hard(void)
{
    unsigned       i;
    tr_verdict_t   v;
    tr_features_t  f;

    UNIT_GT(score(hard[0]), 0.6, "distributed system design with code "
            "scores above 0.6");

    for (i = 0; hard[i]; i++) {
        UNIT_GT(score(hard[i]), 0.55, "hard task scores high: %.50s",
                hard[i]);
    }

    for (i = 0; hard[i]; i++) {
        features(&f, hard[i]);
        classify(&f, &v);

        if (!UNIT_OK(v.no_signal == 0 && v.reasons[0] != '\0',
                     "hard task has a reason: %.40s", hard[i]))
        {
            UNIT_DIAG("reasons \"%s\"", v.reasons);
        }
    }

    features(&f, hard[0]);
    classify(&f, &v);
    UNIT_OK(has_reason(&v, "task_design") && has_reason(&v, "systems"),
            "design: task_design and systems (reasons \"%s\")", v.reasons);

    features(&f, hard[1]);
    classify(&f, &v);
    UNIT_OK(has_reason(&v, "proof"), "proof: proof (reasons \"%s\")",
            v.reasons);

    features(&f, hard[2]);
    classify(&f, &v);
    UNIT_OK(has_reason(&v, "legal"), "contract review: legal "
            "(reasons \"%s\")", v.reasons);

    features(&f, hard[3]);
    classify(&f, &v);
    UNIT_OK(has_reason(&v, "code_block") && has_reason(&v, "task_debug"),
            "debugging: code_block and task_debug (reasons \"%s\")",
            v.reasons);

    features(&f, hard[4]);
    classify(&f, &v);
    UNIT_OK(has_reason(&v, "creative") && has_reason(&v, "long_output")
            && !has_reason(&v, "short_output"),
            "5000-word story: creative, long_output, not short_output "
            "(reasons \"%s\")", v.reasons);

    /* every hard prompt above every routine one */

    UNIT_LT(score(easy[0]), score(hard[0]), "translate < design");
    UNIT_LT(score(easy[3]), score(hard[2]), "extraction < contract review");
    UNIT_LT(score(easy[4]), score(hard[5]), "summary < synthesis");
}


static void
test_pairs(void)
{
    double  a, b;

    /* multi-step arithmetic outranks one step */

    a = score("A shirt costs $20. How much do 3 shirts cost?");
    b = score("A farmer has 3 fields. The first yields twice as much wheat "
              "as the second, and the third yields 40% less than the first. "
              "If the total is 1,530 kg and the farmer sells half of the "
              "remaining wheat after keeping a third of the total for seed, "
              "how much does he sell?");
    UNIT_LT(a, b, "one-step arithmetic < multi-step word problem");

    a = score("Write a Python function that reverses a string.");
    b = score("Write a Python function that reverses a string, then "
              "design the microservices, the database schema and the "
              "deployment on Kubernetes for a distributed, scalable "
              "version of it.");
    UNIT_LT(a, b, "one function < a system spanning services");

    a = score("Write a short poem about the sea.");
    b = score("Write a detailed, comprehensive 3000-word essay on the "
              "history of the sea in literature.");
    UNIT_LT(a, b, "short poem < 3000-word essay");

    a = score("Tell me about honesty.");
    b = score("Tell me about honesty. Is it morally wrong to lie?");
    UNIT_LT(a, b, "a moral judgement raises the score");

    a = score("Is the following statement true? Statement 1: every group "
              "of prime order is cyclic.");
    b = score("Are the following statements true? Statement 1: every group "
              "of prime order is cyclic. Statement 2: every abelian group "
              "is cyclic.");
    UNIT_LT(a, b, "two statements to judge > one");

    a = score("List the planets of the solar system, briefly.");
    b = score("List the planets of the solar system, in order.");
    UNIT_LT(a, b, "asking for a brief answer lowers the score");

    a = score("Reply with the label spam or ham for this: Win a free "
              "cruise now!");
    b = score("Reply with your honest view about this message: Win a free "
              "cruise now!");
    UNIT_LT(a, b, "fixed labels lower the score");
}


static void
test_request(void)
{
    double         base, s, prev;
    unsigned       r;
    const char    *text;
    tr_verdict_t   v;
    tr_features_t  f;

    text = "Extract the company name and the total amount from this "
           "invoice: ACME Corp, invoice 2231, total due $1,234.00 by May 1.";

    features(&f, text);
    base = classify(&f, &v);

    f.json_schema = 1;
    f.json_output = 1;
    s = classify(&f, &v);
    UNIT_LT(s, base, "a JSON schema lowers the score");
    UNIT_OK(has_reason(&v, "json_schema"), "json_schema reason");

    features(&f, text);
    f.json_output = 1;
    s = classify(&f, &v);
    UNIT_LT(s, base, "JSON output lowers the score");
    UNIT_OK(has_reason(&v, "json_output"), "json_output reason");

    prev = base;

    for (r = 1; r <= 3; r++) {
        features(&f, text);
        f.reasoning = r;
        s = classify(&f, &v);
        UNIT_GT(s, prev, "reasoning %u raises the score", r);
        prev = s;
    }

    UNIT_OK(has_reason(&v, "reasoning_high"), "reasoning_high reason");

    features(&f, text);
    f.max_tokens = 64;
    s = classify(&f, &v);
    UNIT_LT(s, base, "max_tokens 64 lowers the score");
    UNIT_OK(has_reason(&v, "short_output"), "short_output reason");

    features(&f, text);
    f.max_tokens = 32000;
    s = classify(&f, &v);
    UNIT_GT(s, base, "max_tokens 32000 raises the score");
    UNIT_OK(has_reason(&v, "long_output"), "long_output reason");

    features(&f, text);
    f.tools = 5;
    s = classify(&f, &v);
    UNIT_GT(s, base, "tools raise the score");
    UNIT_OK(has_reason(&v, "tools"), "tools reason");

    features(&f, text);
    f.messages = 9;
    f.user_turns = 5;
    f.total_text = 6000;
    s = classify(&f, &v);
    UNIT_GT(s, base, "a long conversation raises the score");
    UNIT_OK(has_reason(&v, "multi_turn"), "multi_turn reason");

    features(&f, text);
    f.images = 2;
    s = classify(&f, &v);
    UNIT_GT(s, base, "images raise the score");

    features(&f, text);
    f.total_text = 200000;
    s = classify(&f, &v);
    UNIT_GT(s, base, "a long history raises the score");
    UNIT_OK(has_reason(&v, "long_input"), "long_input reason");

    text = "The meeting has been moved to Thursday afternoon because the "
           "client is travelling.";
    features(&f, text);
    base = classify(&f, &v);
    f.system = (const unsigned char *) "Translate the user's message into "
                                       "German. Reply with the translation "
                                       "only.";
    f.system_len = strlen((const char *) f.system);
    s = classify(&f, &v);
    UNIT_LT(s, base, "a translating system prompt lowers the score");
    UNIT_OK(has_reason(&v, "task_translate"), "task_translate from the "
            "system prompt (reasons \"%s\")", v.reasons);

    f.system = (const unsigned char *) "You are a helpful assistant.";
    f.system_len = strlen((const char *) f.system);
    s = classify(&f, &v);
    UNIT_OK(s == base, "a generic system prompt changes nothing");
}


static void
test_signals(void)
{
    char           text[256];
    double         scores[40];
    unsigned       i, j, ties;
    tr_verdict_t   v;
    tr_features_t  f;

    features(&f, "The weather has been unusually warm this autumn and the "
                 "leaves are still on the trees in our street.");
    classify(&f, &v);
    UNIT_OK(v.no_signal == 1 && v.reasons[0] == '\0',
            "plain statement: no_signal (reasons \"%s\")", v.reasons);

    features(&f, "hi");
    classify(&f, &v);
    UNIT_OK(v.no_signal == 0 && has_reason(&v, "short_simple"),
            "\"hi\": short_simple");

    features(&f, "hi");
    f.reasoning = 3;
    classify(&f, &v);
    UNIT_OK(!has_reason(&v, "short_simple"), "short_simple not with "
            "reasoning_high");

    /* continuous: prompts of different length do not tie */

    for (i = 0; i < 40; i++) {
        snprintf(text, sizeof(text), "Tom has %u apples and buys %u more",
                 i + 2, i + 3);

        for (j = 0; j < i; j++) {
            strcat(text, " red");
        }

        strcat(text, ". How many now?");
        scores[i] = score(text);
    }

    ties = 0;

    for (i = 0; i < 40; i++) {
        for (j = i + 1; j < 40; j++) {
            ties += (scores[i] == scores[j]);
        }
    }

    UNIT_OK(ties == 0, "scores do not tie (%u tied pairs of 780)", ties);

    /* same input, same verdict */

    UNIT_OK(score(hard[3]) == score(hard[3]), "deterministic");
}


static void
test_edges(void)
{
    size_t          i, n;
    unsigned char  *buf, *copy;
    tr_verdict_t    v, w;
    tr_features_t   f;

    features(&f, NULL);
    classify(&f, &v);
    UNIT_OK(reasons_sane(&v), "NULL text: sane verdict (%.3f \"%s\")",
            v.score, v.reasons);

    features(&f, "");
    classify(&f, &v);
    UNIT_OK(reasons_sane(&v), "empty text: sane verdict (%.3f \"%s\")",
            v.score, v.reasons);

    memset(&f, 0, sizeof(tr_features_t));
    classify(&f, &v);
    UNIT_OK(reasons_sane(&v), "all-zero features: sane verdict");

    buf = malloc(TEXT_LEN + 64);
    copy = malloc(TEXT_LEN);

    if (buf == NULL || copy == NULL) {
        UNIT_OK(0, "malloc");
        return;
    }

    /* 4096 bytes of one character, for a few characters */

    for (i = 0; i < 8; i++) {
        memset(buf, "a1 .(`\n{"[i], TEXT_LEN);
        f.text = buf;
        f.text_len = TEXT_LEN;
        f.total_text = TEXT_LEN;
        f.messages = 1;
        f.user_turns = 1;
        f.max_tokens = -1;
        classify(&f, &v);
        UNIT_OK(reasons_sane(&v), "4096 x '%c': sane verdict (%.3f \"%s\")",
                "a1 .(`N{"[i], v.score, v.reasons);
    }

    /* binary bytes */

    for (i = 0; i < TEXT_LEN; i++) {
        buf[i] = (unsigned char) (i * 7 + (i >> 8));
    }

    classify(&f, &v);
    UNIT_OK(reasons_sane(&v), "4096 binary bytes: sane verdict (%.3f)",
            v.score);

    /* the window is text_len bytes: what follows it is not read */

    n = strlen(hard[2]);
    memcpy(copy, hard[2], n);
    memcpy(buf, hard[2], n);
    memset(buf + n, 'x', 64);

    features(&f, NULL);
    f.text = copy;
    f.text_len = n;
    classify(&f, &v);
    f.text = buf;
    classify(&f, &w);
    UNIT_OK(v.score == w.score && strcmp(v.reasons, w.reasons) == 0,
            "text need not be NUL terminated");

    /* every signal at once: the reasons fit and stay well formed */

    features(&f, "Translate, classify and extract: prove the theorem, "
                 "design the distributed microservices, debug the crash, "
                 "review the contract for liability, is it morally wrong, "
                 "synthesize conflicting sources, write a detailed "
                 "3000-word story.\nStatement 1 | x. Statement 2 | y.\n"
                 "A. one\nB. two\nC. three\nD. four\n```c\nint x;\n```\n"
                 "Solve the equation. Half of the remaining 30 and then 2 "
                 "more than twice 7. Return JSON labels. The patient's "
                 "diagnosis and clinical symptoms. Keep it brief.\n"
                 "- a\n- b\n- c\n");
    f.tools = 3;
    f.tool_results = 4;
    f.images = 1;
    f.messages = 12;
    f.user_turns = 6;
    f.total_text = 100000;
    f.max_tokens = 50000;
    f.reasoning = 3;
    f.json_schema = 1;
    f.json_output = 1;
    f.system = (const unsigned char *) "Summarize. Output csv only.";
    f.system_len = strlen((const char *) f.system);
    classify(&f, &v);
    UNIT_OK(reasons_sane(&v), "every signal: sane reasons \"%s\"",
            v.reasons);
    UNIT_OK(strlen(v.reasons) < TR_REASONS_LEN,
            "every signal: reasons fit (%zu bytes)", strlen(v.reasons));

    free(buf);
    free(copy);
}


/*
 * the scans of system prompts are kept by text: the same verdicts again,
 * whatever came between; a prompt one byte away from a kept one, of the
 * same length, is scanned on its own
 */

static void
test_system_memo(void)
{
    int            bad;
    size_t         i, k;
    char           sys[40][64];
    tr_verdict_t   first[40], v;
    tr_features_t  f;

    static const char  *words[] = {
        "Translate", "Summarise", "Write code", "Prove", "Classify",
        "Extract", "Debug", "Design"
    };

    for (i = 0; i < 40; i++) {
        snprintf(sys[i], sizeof(sys[i]), "%s the text. Rule %zu.",
                 words[i % 8], i);
    }

    for (i = 0; i < 40; i++) {
        features(&f, "Here is the text: the meeting moved to Thursday.");
        f.system = (const unsigned char *) sys[i];
        f.system_len = strlen(sys[i]);
        classify(&f, &first[i]);
    }

    bad = 0;

    for (k = 0; k < 3; k++) {
        for (i = 0; i < 40; i++) {
            features(&f, "Here is the text: the meeting moved to Thursday.");
            f.system = (const unsigned char *) sys[(i * 7 + k) % 40];
            f.system_len = strlen(sys[(i * 7 + k) % 40]);
            classify(&f, &v);
            bad += (memcmp(&v, &first[(i * 7 + k) % 40], sizeof(v)) != 0);
        }
    }

    UNIT_IS_INT(bad, 0, "system prompts scanned again or kept: the same "
                "verdicts, in any order");

    /* one byte away, the same length: "Translate" and "Translatf" */

    features(&f, "Here is the text: the meeting moved to Thursday.");
    f.system = (const unsigned char *) "Translate it.";
    f.system_len = 13;
    classify(&f, &first[0]);

    f.system = (const unsigned char *) "Translatf it.";
    classify(&f, &v);

    UNIT_OK(has_reason(&first[0], "task_translate")
            && !has_reason(&v, "task_translate"),
            "a system prompt one byte from a kept one is its own "
            "(\"%s\", \"%s\")", first[0].reasons, v.reasons);
}


/*
 * Words are read 8 bytes at a time: every byte value at every place of
 * the first three 8-byte steps is a letter, a capital or a word's end as
 * the byte-wise definition says; a keyword is found at every place of a
 * step and ending at the text's end, and a word one letter longer or
 * shorter is not it.
 */

static void
test_word_read(void)
{
    int            bad, letter;
    size_t         j, n;
    unsigned       b, upper, wbytes;
    tr_verdict_t   v, at;
    tr_features_t  f;
    char           text[64], ref[64];

    static const char  letters[] = "abcdefghijklmnopqrstuvwxyz";

    bad = 0;

    for (j = 0; j < 26; j++) {
        for (b = 1; b < 256; b++) {

            /* j letters, the byte, then "Kq": 1 or 2 capitals */

            memcpy(text, letters, j);
            text[j] = (char) b;
            memcpy(text + j + 1, "Kq", 3);

            letter = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
            wbytes = (unsigned) j + 2 + (letter ? 1 : 0);
            upper = 1 + ((b >= 'A' && b <= 'Z') ? 1 : 0);

            features(&f, text);
            f.text_len = j + 3;
            f.count = 1;
            classify(&f, &v);

            if (v.counts.wbytes != wbytes || v.counts.upper != upper) {
                if (bad++ < 5) {
                    UNIT_DIAG("byte 0x%02x after %zu letters: %u letters, "
                              "%u capitals", b, j, v.counts.wbytes,
                              v.counts.upper);
                }
            }
        }
    }

    UNIT_IS_INT(bad, 0, "each byte at each place of a word's first 8-byte "
                "steps: letters and capitals as byte by byte");

    /* "summarize" opens a sentence: task_summary, wherever it falls */

    bad = 0;

    for (j = 0; j < 20; j++) {
        n = (size_t) snprintf(text, sizeof(text), "%.*s. Summarize",
                              (int) j, "...................");
        features(&f, text);
        classify(&f, &at);

        if (!has_reason(&at, "task_summary")) {
            bad++;
            UNIT_DIAG("\"%s\" (%zu bytes): %s", text, n, at.reasons);
        }

        /* one letter more, one less: another word */

        memcpy(ref, text, n + 1);
        ref[n - 1] = '\0';
        features(&f, ref);
        classify(&f, &v);
        bad += has_reason(&v, "task_summary");

        memcpy(ref, text, n);
        memcpy(ref + n, "s", 2);
        features(&f, ref);
        classify(&f, &v);
        bad += has_reason(&v, "task_summary");
    }

    UNIT_IS_INT(bad, 0, "a keyword is found at every place of the 8-byte "
                "steps, and only whole");
}


int
main(void)
{
    test_easy();
    test_hard();
    test_pairs();
    test_request();
    test_signals();
    test_edges();
    test_system_memo();
    test_word_read();

    return unit_done();
}
