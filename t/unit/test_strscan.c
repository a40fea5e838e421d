
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
#include "tr_utf8.h"


static int
stops(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}


/* a UTF-8 sequence's length by decoding it, 0 if it is not one */

static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t    n, i;
    unsigned  cp, min;

    if (*p >= 0xc0 && *p <= 0xdf) {
        n = 2;
        cp = *p & 0x1f;
        min = 0x80;

    } else if (*p >= 0xe0 && *p <= 0xef) {
        n = 3;
        cp = *p & 0x0f;
        min = 0x800;

    } else if (*p >= 0xf0 && *p <= 0xf7) {
        n = 4;
        cp = *p & 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if ((size_t) (end - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }

    return n;
}


/*
 * the walk's definition: stops, less the escapes that stand for a byte
 * and the valid UTF-8 sequences
 */

static const unsigned char *
walk(const unsigned char *p, const unsigned char *end, size_t *escapes)
{
    size_t  n;

    for ( ;; ) {
        while (p < end && !stops(*p)) {
            p++;
        }

        if (p == end) {
            return p;
        }

        if (*p == '\\') {
            if (end - p < 2 || p[1] == '\0'
                || strchr("\"\\/bfnrt", p[1]) == NULL)
            {
                return p;
            }

            (*escapes)++;
            p += 2;
            continue;
        }

        n = utf8_len(p, end);

        if (n == 0) {
            return p;
        }

        p += n;
    }
}


/* 1: a level's walk stops elsewhere than the definition, or counts */

static int
walk_differs(tr_strscan_walk_pt w, const unsigned char *p,
    const unsigned char *end)
{
    size_t  n, want;

    n = 0;
    want = 0;

    return w(p, end, &n) != walk(p, end, &want) || n != want;
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
 * an escaped backslash before a quote, a bad escape, a backslash last,
 * UTF-8 sequences across a block's end, overlong, surrogate, too high
 * and cut short ones),
 * from every start, in ranges cut at every length
 */

static void
test_walk(void)
{
    int                   level, bad;
    size_t                len, at, at2, from, n;
    unsigned              k, k2;
    unsigned char         buf[300];
    tr_strscan_walk_pt    w;

    static const char  *odd[] = {
        "\\n", "\\\"", "\\\\", "\\/", "\\t", "\\u00e9", "\\x", "\\\\\"",
        "\"", "\x01", "\\", "\xc3\xa9", "\xe2\x82\xac",
        "\xf0\x9f\x98\x80", "\xc3\xa9\xe2\x82\xac\xf4\x8f\xbf\xbf", "\xc3",
        "\xe2\x82", "\xe0\x80\x80", "\xc0\xaf", "\xed\xa0\x80",
        "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xff", "\x80"
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
                                bad += walk_differs(w, buf + from,
                                                    buf + len);
                            }
                        }
                    }
                }
            }
        }

        UNIT_IS_INT(bad, 0, "%s: the walk, escapes and UTF-8 about the blocks",
                    tr_strscan_name(level));

        n = 0;
        UNIT_OK(w(buf, buf, &n) == buf && n == 0, "%s: an empty walk",
                tr_strscan_name(level));
    }
}


/*
 * every level: text that is not ASCII (the walk checks it as a whole
 * where the CPU can), with one byte changed at every place: a byte that
 * starts nothing, a stray continuation, a sequence cut by a quote, an
 * overlong form, a surrogate; from several starts, cut at several ends
 */

static void
test_walk_dense(void)
{
    int                   level, bad;
    size_t                len, at, from, n, k, cut;
    unsigned char         buf[400], text[400];
    tr_strscan_walk_pt    w;

    static const char  *chars[] = {
        "\xe4\xb8\xad", "\xe6\x96\x87", "\xd0\xb4", "\xf0\x9f\x98\x80",
        "a", "\\n", "\xe3\x80\x82", " "
    };

    static const char  *harm[] = {
        "\xff", "\x80", "\"", "\xe0\x80\x80", "\xed\xa0\x80", "\x01",
        "\\x", "\xc3"
    };

    len = 0;
    k = 0;

    while (len < 300) {
        n = strlen(chars[k % 8]);
        memcpy(text + len, chars[k % 8], n);
        len += n;
        k += (k % 3 == 0) ? 5 : 1;
    }

    for (level = TR_STRSCAN_SCALAR; level <= TR_STRSCAN_AVX512; level++) {
        w = tr_strscan_walk_at(level);

        if (w == NULL) {
            continue;
        }

        bad = 0;

        for (k = 0; k <= sizeof(harm) / sizeof(harm[0]); k++) {
            for (at = 0; at < 300; at += (k ? 1 : 300)) {
                memcpy(buf, text, 300);
                buf[300] = '"';
                memset(buf + 301, 'x', sizeof(buf) - 301);

                if (k) {
                    memcpy(buf + at, harm[k - 1], strlen(harm[k - 1]));
                }

                for (cut = 280; cut <= 340; cut += 20) {
                    for (from = 0; from < 8; from += 3) {
                        bad += walk_differs(w, buf + from, buf + cut);
                    }
                }
            }
        }

        UNIT_IS_INT(bad, 0, "%s: the walk over text that is not ASCII, "
                    "harmed at every place", tr_strscan_name(level));
    }
}


/* a range's validity by the decoder, a sequence at a time */

static int
utf8_ok(const unsigned char *p, const unsigned char *end)
{
    size_t  n;

    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }

        n = utf8_len(p, end);

        if (n == 0) {
            return 0;
        }

        p += n;
    }

    return 1;
}


/*
 * the range checks against the decoder: every pair of bytes, and three
 * and four byte sequences over every second byte, at places that put
 * them across the 32-byte steps, with ASCII or more text around
 */

static void
test_utf8(void)
{
    int             want, bad, bad2, avx2;
    size_t          at, len;
    unsigned        a, b, c, d;
    unsigned char   buf[80];

    static const unsigned char  thirds[] = { 0x80, 0xbf, 0x41, 0xc0, 0x9f };
    static const size_t         places[] = { 0, 5, 29, 30, 31, 32, 62 };

    avx2 = (tr_strscan_at(TR_STRSCAN_AVX2) != NULL);
    bad = 0;
    bad2 = 0;

    for (at = 0; at < sizeof(places) / sizeof(places[0]); at++) {
        for (a = 0x80; a < 0x100; a++) {
            for (b = 0; b < 0x100; b++) {
                for (c = 0; c < sizeof(thirds); c++) {
                    for (d = 0; d < 3; d++) {
                        memset(buf, d == 2 ? 0xa9 : 'x', sizeof(buf));

                        if (d == 2) {
                            /* the text around: c3 a9, many times */
                            for (len = 0; len + 1 < sizeof(buf); len += 2) {
                                buf[len] = 0xc3;
                            }
                        }

                        buf[places[at]] = (unsigned char) a;
                        buf[places[at] + 1] = (unsigned char) b;
                        buf[places[at] + 2] = thirds[c];
                        buf[places[at] + 3] = thirds[(c + d) % 5];

                        len = places[at] + 4 + d * 5;

                        want = utf8_ok(buf, buf + len);
                        bad += (tr_utf8_valid(buf, buf + len) != want);

#if (defined __x86_64__ && (defined __GNUC__ || defined __clang__))
                        if (avx2) {
                            bad2 += (tr_utf8_valid_avx2(buf, buf + len)
                                     != want);
                        }
#endif
                    }
                }
            }
        }
    }

    UNIT_IS_INT(bad, 0, "UTF-8 a sequence at a time, as the decoder");
    UNIT_IS_INT(bad2, 0, "UTF-8 32 bytes a step, as the decoder%s",
                avx2 ? "" : " (no AVX2 here)");
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
    test_walk_dense();
    test_utf8();
    test_extract_levels();

    return unit_done();
}
