
/*
 * Copyright (C) The tier router authors
 *
 * The string scan and walk at every level the CPU has (scalar, SSE2,
 * AVX2, AVX-512) against their definitions, from every start; and
 * the extractor run at each level against the scalar one on bodies made
 * to put escapes, multi-byte characters, control characters and quotes
 * at every position around the 16-, 32- and 64-byte blocks.
 */


#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "tr_extract.h"
#include "tr_strscan.h"


static int
stops(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}


/* the walk's definition: stops, less the escapes that stand for a byte */

static const unsigned char *
walk(const unsigned char *p, const unsigned char *end, size_t *escapes)
{
    for ( ;; ) {
        while (p < end && !stops(*p)) {
            p++;
        }

        if (end - p < 2 || *p != '\\' || strchr("\"\\/bfnrt", p[1]) == NULL
            || p[1] == '\0')
        {
            return p;
        }

        (*escapes)++;
        p += 2;
    }
}


/* every level: the first stop, from every start, for one odd byte */

static void
test_scan(void)
{
    int                   level, bad;
    size_t                len, at, from;
    unsigned              k;
    unsigned char         buf[200];
    tr_strscan_pt         scan;
    const unsigned char  *got, *expect;

    static const unsigned char  odd[] = {
        '"', '\\', 0x00, 0x09, 0x1f, 0x80, 0xc3, 0xff, 0x7f, 0x20, 'a'
    };

    UNIT_OK(tr_strscan_at(TR_STRSCAN_SCALAR) != NULL, "scalar is there");
    UNIT_DIAG("best level here: %s", tr_strscan_name(tr_strscan_best()));

    for (level = TR_STRSCAN_SCALAR; level <= TR_STRSCAN_AVX512; level++) {
        scan = tr_strscan_at(level);

        if (scan == NULL) {
            UNIT_DIAG("%s: not on this CPU", tr_strscan_name(level));
            continue;
        }

        bad = 0;

        for (k = 0; k < sizeof(odd); k++) {
            for (at = 0; at < 140; at++) {
                memset(buf, 'x', sizeof(buf));
                buf[at] = odd[k];
                len = 140;

                for (from = 0; from <= at + 1 && from < len; from++) {
                    got = scan(buf + from, buf + len);

                    expect = buf + from;

                    while (expect < buf + len && !stops(*expect)) {
                        expect++;
                    }

                    bad += (got != expect);
                }
            }
        }

        UNIT_IS_INT(bad, 0, "%s: the first stop, every start and byte",
                    tr_strscan_name(level));

        /* a scan never reads past end: an empty and a one-byte range */

        UNIT_OK(scan(buf, buf) == buf, "%s: an empty range",
                tr_strscan_name(level));
    }
}


/*
 * every level: the walk over two odd pieces at every pair of places
 * around the 64-byte blocks (an escape whose byte opens the next block,
 * an escaped backslash before a quote, a bad escape, a backslash last),
 * from every start, in ranges cut at every length
 */

static void
test_walk(void)
{
    int                   level, bad;
    size_t                len, at, at2, from, n, want;
    unsigned              k, k2;
    unsigned char         buf[300];
    tr_strscan_walk_pt    w;
    const unsigned char  *got, *expect;

    static const char  *odd[] = {
        "\\n", "\\\"", "\\\\", "\\/", "\\t", "\\u00e9", "\\x", "\\\\\"",
        "\"", "\xc3\xa9", "\x01", "\\"
    };

    for (level = TR_STRSCAN_SCALAR; level <= TR_STRSCAN_AVX512; level++) {
        w = tr_strscan_walk_at(level);

        if (w == NULL) {
            continue;
        }

        bad = 0;

        for (k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
            for (k2 = 0; k2 < sizeof(odd) / sizeof(odd[0]); k2 += 3) {
                for (at = 56; at < 72; at++) {
                    for (at2 = at + 8; at2 < 140; at2 += 5) {
                        memset(buf, 'x', sizeof(buf));
                        memcpy(buf + at, odd[k], strlen(odd[k]));
                        memcpy(buf + at2, odd[k2], strlen(odd[k2]));

                        for (len = at2; len <= at2 + 70; len += 7) {
                            for (from = 0; from < 20; from += 3) {
                                n = 0;
                                want = 0;
                                got = w(buf + from, buf + len, &n);
                                expect = walk(buf + from, buf + len, &want);
                                bad += (got != expect || n != want);
                            }
                        }
                    }
                }
            }
        }

        UNIT_IS_INT(bad, 0, "%s: the walk, escapes about the blocks",
                    tr_strscan_name(level));

        n = 0;
        UNIT_OK(w(buf, buf, &n) == buf && n == 0, "%s: an empty walk",
                tr_strscan_name(level));
    }
}


/* the extractor at a level, its result made comparable */

static int
extract_at(int level, const char *body, size_t len, tr_request_t *req)
{
    int  rc;

    (void) tr_strscan_use(level);

    memset(req, 0, sizeof(tr_request_t));
    req->dialect = TR_OPENAI_CHAT;

    rc = tr_extract((const unsigned char *) body, len, req);

    req->features.text = NULL;
    req->features.system = NULL;

    return rc;
}


static unsigned  diffs, cases;


static void
compare(const char *body, size_t len)
{
    int                  level, rc0, rc;
    static tr_request_t  r0, r;

    rc0 = extract_at(TR_STRSCAN_SCALAR, body, len, &r0);

    for (level = TR_STRSCAN_SSE2; level <= TR_STRSCAN_AVX512; level++) {
        if (tr_strscan_at(level) == NULL) {
            continue;
        }

        rc = extract_at(level, body, len, &r);
        cases++;

        if (rc != rc0 || memcmp(&r, &r0, sizeof(tr_request_t)) != 0) {
            if (diffs++ < 5) {
                UNIT_DIAG("%s differs from scalar (rc %d, %d; %s / %s) on "
                          "%.*s", tr_strscan_name(level), rc, rc0,
                          r.error ? r.error : "-",
                          r0.error ? r0.error : "-", (int) len, body);
            }
        }
    }
}


/* a chat body whose user text is pad, then ins, then pad again */

static size_t
body_with(char *out, size_t size, size_t before, const char *ins,
    size_t after)
{
    size_t  n;

    n = (size_t) snprintf(out, size,
                          "{\"model\":\"auto\",\"messages\":[{\"role\":"
                          "\"system\",\"content\":\"be brief\"},{\"role\":"
                          "\"user\",\"content\":\"");

    memset(out + n, 'a', before);
    n += before;
    n += (size_t) snprintf(out + n, size - n, "%s", ins);
    memset(out + n, 'b', after);
    n += after;
    n += (size_t) snprintf(out + n, size - n, "\"}]}");

    return n;
}


static void
test_extract_levels(void)
{
    char      body[1024];
    size_t    before, k, n;

    static const char  *ins[] = {
        "\\n", "\\\"", "\\\\", "\\/", "\\u00e9", "\\ud83d\\ude00",
        "\\ud83d", "\\x", "\\", "\xc3\xa9", "\xe2\x82\xac",
        "\xf0\x9f\x98\x80", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\x01",
        "\x1f", "\t", "\"", "\"}]}", "\\n\\n\\n\\n", "", "\x7f"
    };

    for (k = 0; k < sizeof(ins) / sizeof(ins[0]); k++) {
        for (before = 0; before < 140; before++) {
            n = body_with(body, sizeof(body), before, ins[k], 70);
            compare(body, n);

            /* the body cut short right after the odd bytes */

            n = body_with(body, sizeof(body), before, ins[k], 0);
            compare(body, n - 4);
        }
    }

    /* messages of the fast shape and of others, with and without spaces */

    compare("{\"model\":\"m\",\"messages\":[{\"role\": \"user\", \"content\": "
            "\"hi\\n there\"}, {\"content\":\"x\",\"role\":\"assistant\"},"
            "{\"role\":\"user\",\"content\":\"y\",\"name\":\"z\"},"
            "{\"role\":\"user\",\"content\":\"y\",\"role\":\"user\"}]}",
            sizeof("{\"model\":\"m\",\"messages\":[{\"role\": \"user\", "
                   "\"content\": \"hi\\n there\"}, {\"content\":\"x\","
                   "\"role\":\"assistant\"},{\"role\":\"user\",\"content\":"
                   "\"y\",\"name\":\"z\"},{\"role\":\"user\",\"content\":"
                   "\"y\",\"role\":\"user\"}]}") - 1);

    UNIT_IS_INT(diffs, 0, "every level reads %u bodies as the scalar scan "
                "does", cases);

    (void) tr_strscan_use(tr_strscan_best());
}


int
main(void)
{
    test_scan();
    test_walk();
    test_extract_levels();

    return unit_done();
}
