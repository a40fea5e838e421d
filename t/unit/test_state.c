
/*
 * Copyright (C) The tier router authors
 *
 * Unit tests of the state file's check: a file the module wrote passes;
 * each way a file can be truncated, foreign, of another version or key,
 * or hold a count that is negative, not an integer or out of range, is
 * refused with a message that says which.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "tr_state_schema.h"
#include "unit.h"


#define TR_TENANT                                                             \
    "{\"hash\":\"abababababababababababababababab\",\"label\":\"pro\","     \
    "\"spent\":1,\"total\":2,\"limit\":-1,\"input_tokens\":3,"               \
    "\"output_tokens\":4,\"period_start\":5,\"last\":6,\"requests\":7,"      \
    "\"estimated\":0,\"refused\":0,\"capped\":0}"

#define TR_KEY  "\"hash_key\":\"00112233445566778899aabbccddeeff\""


static int
check(const char *text, const char *key_check, const char **error)
{
    int      rc;
    json_t  *root;

    *error = NULL;
    root = json_loads(text, 0, NULL);
    rc = tr_state_valid(root, key_check, error);
    json_decref(root);

    return rc;
}


int
main(void)
{
    int             rc;
    char            text[1024];
    size_t          i;
    const char     *error;
    unsigned char   b[16];

    static const char  *huge[] = {
        "\"spent\":9223372036854775807,\"requests\":0",
        "\"spent\":9007199254740992,\"requests\":0",
        "\"spent\":0,\"requests\":4294967296"
    };

    static const struct {
        const char  *name;
        const char  *text;
        const char  *want;
    } bad[] = {
        { "not an object", "[1]", "version" },
        { "another version", "{\"version\":2,\"tenants\":[]}", "version" },
        { "a version as a string", "{\"version\":\"1\",\"tenants\":[]}",
          "version" },
        { "no tenants", "{\"version\":1," TR_KEY "}", "tenants" },
        { "no hash_key", "{\"version\":1,\"tenants\":[]}", "hash_key" },
        { "a short hash_key",
          "{\"version\":1,\"hash_key\":\"0011\",\"tenants\":[]}",
          "hash_key" },
        { "a negative zone spend",
          "{\"version\":1," TR_KEY ",\"spent\":-1,\"tenants\":[]}", "zone" },
        { "a zone total as a real",
          "{\"version\":1," TR_KEY ",\"total\":1.5,\"tenants\":[]}", "zone" },
        { "a tier without a name",
          "{\"version\":1," TR_KEY ",\"tiers\":[{\"cost\":1}],"
          "\"tenants\":[]}", "tier" },
        { "a tier with a negative cost",
          "{\"version\":1," TR_KEY ",\"tiers\":[{\"name\":\"s\","
          "\"cost\":-1}],\"tenants\":[]}", "tier" },
        { "a tenant hash of 31 digits",
          "{\"version\":1," TR_KEY ",\"tenants\":[{\"hash\":"
          "\"abababababababababababababababa\"}]}", "hash" },
        { "a tenant hash not hex",
          "{\"version\":1," TR_KEY ",\"tenants\":[{\"hash\":"
          "\"zzababababababababababababababab\"}]}", "hash" },
        { "a zone spend past 2^53 - 1",
          "{\"version\":1," TR_KEY ",\"spent\":9007199254740992,"
          "\"tenants\":[]}", "too large" },
        { "a zone request count of 2^63 - 1",
          "{\"version\":1," TR_KEY ",\"requests\":9223372036854775807,"
          "\"tenants\":[]}", "too large" },
        { "a tier cost of 2^63 - 1",
          "{\"version\":1," TR_KEY ",\"tiers\":[{\"name\":\"s\","
          "\"cost\":9223372036854775807}],\"tenants\":[]}", "too large" },
        { "a tenant without its numbers",
          "{\"version\":1," TR_KEY ",\"tenants\":[{\"hash\":"
          "\"abababababababababababababababab\",\"spent\":1}]}",
          "missing or invalid" },
    };

    rc = check("{\"version\":1," TR_KEY ",\"period\":\"month\","
               "\"spent\":3,\"tiers\":[{\"name\":\"small\",\"cost\":3}],"
               "\"tenants\":[" TR_TENANT "]}", NULL, &error);
    UNIT_OK(rc == 0,
            "state: a file as the module writes it passes (%s)",
            error ? error : "ok");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = check(bad[i].text, NULL, &error);
        UNIT_OK(rc != 0 && error
                && strstr(error, bad[i].want) != NULL,
                "state: %s is refused (%s)", bad[i].name,
                error ? error : "accepted");
    }

    rc = check("{\"version\":1," TR_KEY ",\"tenants\":["
               "{\"hash\":\"abababababababababababababababab\","
               "\"spent\":-5,\"total\":0,\"limit\":0,\"input_tokens\":0,"
               "\"output_tokens\":0,\"period_start\":0,\"last\":0,"
               "\"requests\":0,\"estimated\":0,\"refused\":0,"
               "\"capped\":0}]}", NULL, &error);
    UNIT_OK(rc != 0
            && strstr(error, "negative") != NULL,
            "state: a negative spend is refused (%s)",
            error ? error : "accepted");

    for (i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"version\":1," TR_KEY ",\"tenants\":["
                 "{\"hash\":\"abababababababababababababababab\","
                 "%s,\"total\":0,\"limit\":0,\"input_tokens\":0,"
                 "\"output_tokens\":0,\"period_start\":0,\"last\":0,"
                 "\"estimated\":0,\"refused\":0,\"capped\":0}]}",
                 huge[i]);

        rc = check(text, NULL, &error);
        UNIT_OK(rc != 0 && strstr(error, "out of range") != NULL,
                "state: a tenant with %s is refused (%s)", huge[i],
                error ? error : "accepted");
    }

    rc = check("{\"version\":1," TR_KEY ",\"spent\":9007199254740991,"
               "\"requests\":9007199254740991,\"tenants\":["
               "{\"hash\":\"abababababababababababababababab\","
               "\"spent\":9007199254740991,\"total\":9007199254740991,"
               "\"limit\":-1,\"input_tokens\":0,\"output_tokens\":0,"
               "\"period_start\":0,\"last\":0,\"requests\":4294967295,"
               "\"estimated\":0,\"refused\":0,\"capped\":0}]}",
               NULL, &error);
    UNIT_OK(rc == 0, "state: amounts of 2^53 - 1 and counts of 2^32 - 1 "
            "pass (%s)", error ? error : "ok");

    rc = check("{\"version\":1,\"key_check\":\"aa\",\"tenants\":[]}",
               "bb", &error);
    UNIT_OK(rc != 0 && strstr(error, "another hash_key"),
            "state: another key_check is refused (%s)",
            error ? error : "accepted");

    UNIT_OK(check("{\"version\":1,\"key_check\":\"aa\",\"tenants\":[]}",
                  "aa", &error) == 0,
            "state: the same key_check passes");

    UNIT_OK(tr_state_unhex(b, "00fF10", 3) == 0
            && b[0] == 0 && b[1] == 0xff && b[2] == 0x10,
            "unhex: digits of both cases");
    UNIT_OK(tr_state_unhex(b, "00f", 2) != 0,
            "unhex: too few digits");
    UNIT_OK(tr_state_unhex(b, "00ff0", 2) != 0,
            "unhex: too many digits");

    return unit_done();
}
