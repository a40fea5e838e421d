
/*
 * Copyright (C) The tier router authors
 *
 * libFuzzer target: the request extractor and the rewriter, against
 * jansson.  The input is a request body; its first byte picks the dialect
 * hint.  Checked on every input:
 *
 *   - a body jansson reads as an object (no number out of its range) is
 *     not refused by the extractor as invalid JSON, and a body jansson
 *     refuses is never accepted;
 *   - an accepted body's "model" and "stream" are jansson's;
 *   - the string scan at every level the CPU has (SSE2, AVX2, AVX-512)
 *     finds what the scalar one finds, and the extractor reads the body
 *     the same at each level;
 *   - the rewritten body of an accepted one is valid JSON (without
 *     duplicate keys if the client's had none: members the router does
 *     not read pass on as they came), with the tier's model, and is as
 *     long as rewrite_size() said.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "tr_dialect.h"
#include "tr_extract.h"
#include "tr_signed.h"
#include "tr_strscan.h"
#include "tr_rewrite.h"


static tr_request_t  req;


static int
ngx_http_tier_router_fuzz_range(const json_error_t *err)
{
    /*
     * jansson's limits, not JSON's: 1e999, 99999999999999999999, nesting,
     * "\u0000" in a key (which the extractor refuses where it reads keys)
     */

    return strstr(err->text, "overflow") != NULL
           || strstr(err->text, "NUL") != NULL
           || strstr(err->text, "too big") != NULL
           || strstr(err->text, "maximum parsing depth") != NULL;
}


/*
 * The string scan at every level the CPU has against the scalar one:
 * the same first stop and walk from every start, and the
 * extractor's whole result (windows included) the same at each level
 */

static tr_request_t  req_level[2];

static void
ngx_http_tier_router_fuzz_levels(const unsigned char *body, size_t len,
    int hint, int rc)
{
    int                   level, r0, r;
    size_t                i, n, n0;
    tr_strscan_pt         scan, scalar;
    tr_strscan_walk_pt    walk, walk0;

    scalar = tr_strscan_at(TR_STRSCAN_SCALAR);
    walk0 = tr_strscan_walk_at(TR_STRSCAN_SCALAR);

    (void) tr_strscan_use(TR_STRSCAN_SCALAR);

    memset(&req_level[0], 0, sizeof(tr_request_t));
    req_level[0].dialect = hint;
    r0 = tr_extract(body, len, &req_level[0]);
    req_level[0].features.text = NULL;
    req_level[0].features.system = NULL;

    if ((r0 == 0) != (rc == 0)) {
        abort();    /* the scalar scan and the best disagree */
    }

    for (level = TR_STRSCAN_SSE2; level <= TR_STRSCAN_AVX512; level++) {
        scan = tr_strscan_at(level);
        walk = tr_strscan_walk_at(level);

        if (scan == NULL) {
            continue;
        }

        for (i = 0; i < len && i < 256; i++) {
            if (scan(body + i, body + len) != scalar(body + i, body + len)) {
                abort();
            }

            n = 0;
            n0 = 0;

            if (walk(body + i, body + len, &n)
                != walk0(body + i, body + len, &n0)
                || n != n0)
            {
                abort();
            }
        }

        (void) tr_strscan_use(level);

        memset(&req_level[1], 0, sizeof(tr_request_t));
        req_level[1].dialect = hint;
        r = tr_extract(body, len, &req_level[1]);
        req_level[1].features.text = NULL;
        req_level[1].features.system = NULL;

        if (r != r0
            || memcmp(&req_level[0], &req_level[1], sizeof(tr_request_t))
               != 0)
        {
            abort();
        }
    }

    (void) tr_strscan_use(tr_strscan_best());
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc, hint, dups;
    unsigned              k;
    size_t                len, w;
    json_t               *root, *out, *v;
    unsigned char        *buf;
    const unsigned char  *body;
    json_error_t          err;
    tr_edit_t             edit;
    tr_signed_t           st;

    if (size == 0) {
        return 0;
    }

    hint = data[0] % 4;
    body = data + 1;
    len = size - 1;

    memset(&req, 0, offsetof(tr_request_t, text));
    req.dialect = hint;

    rc = tr_extract(body, len, &req);

    ngx_http_tier_router_fuzz_levels(body, len, hint, rc);

    root = json_loadb((const char *) body, len, JSON_ALLOW_NUL, &err);

    if (root == NULL) {
        if (rc == 0 && !ngx_http_tier_router_fuzz_range(&err)) {
            abort();    /* accepted what is not JSON */
        }

        return 0;
    }

    if (!json_is_object(root)) {
        if (rc == 0) {
            abort();    /* accepted a body that is not an object */
        }

        json_decref(root);
        return 0;
    }

    if (rc != 0) {

        /*
         * a raw NUL byte is never valid JSON, but jansson's reader of a
         * buffer may stop at one and return what came before it
         */

        if (strstr(req.error, "not valid JSON") != NULL
            && memchr(body, '\0', len) == NULL)
        {
            abort();    /* refused valid JSON as invalid */
        }

        json_decref(root);
        return 0;
    }

    /* what the extractor reported is what jansson read */

    v = json_object_get(root, "model");

    if (json_is_string(v)
        && (!req.has_model || req.model_len != json_string_length(v)
            || (req.model_len <= TR_MODEL_LEN
                && memcmp(req.model, json_string_value(v), req.model_len)
                   != 0)))
    {
        abort();
    }

    v = json_object_get(root, "stream");

    if (json_is_boolean(v) && req.features.stream != json_is_true(v)) {
        abort();
    }

    json_decref(root);

    root = json_loadb((const char *) body, len,
                      JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    dups = (root == NULL);
    json_decref(root);

    /* the rewrite of an accepted body */

    memset(&edit, 0, sizeof(tr_edit_t));
    edit.model = (const unsigned char *) "tier-model";
    edit.model_len = 10;
    edit.reasoning = data[0] % 3 ? (data[0] / 4) % 4 : 0;
    edit.thinking_budget = 2048;
    edit.stream_usage = (data[0] & 0x40) && req.features.stream;
    edit.logprobs = (data[0] & 0x80) != 0;

    /* a tier's profile: thinking mode, effort word, drops, a rename */

    k = (unsigned) (len * 31 + (len ? body[len - 1] : 0)) & 0xff;
    edit.thinking = k & 3;
    edit.drop = (k >> 2) & ((1u << TR_PARAMS) - 1);
    edit.effort = (data[0] & 0x20) ? "xhigh" : NULL;
    edit.rename = (data[0] & 0x10) ? TR_PARAM_MAX_TOKENS : -1;
    edit.rename_to = "max_completion_tokens";

    tr_rewrite_thinking(&req, &edit);

    w = tr_rewrite_size(body, len, &req, &edit);

    buf = malloc(w + 1);
    if (buf == NULL) {
        return 0;
    }

    if (tr_rewrite(body, len, &req, &edit, buf) != w) {
        abort();
    }

    out = json_loadb((const char *) buf, w,
                     (dups ? 0 : JSON_REJECT_DUPLICATES) | JSON_ALLOW_NUL,
                     &err);

    if (out == NULL && !ngx_http_tier_router_fuzz_range(&err)) {
        abort();    /* the rewrite broke the body */
    }

    if (out) {
        v = json_object_get(out, "model");

        if (!json_is_string(v) || strcmp(json_string_value(v), "tier-model")) {
            abort();
        }

        json_decref(out);
    }

    free(buf);

    /* the signed reasoning stripped: counted as written, still JSON */

    if (req.dialect == TR_ANTHROPIC || req.dialect == TR_OPENAI_RESPONSES) {
        w = tr_signed_strip(body, len, req.dialect, NULL, &st);

        if (w == TR_SIGNED_FAILED) {
            abort();    /* refused a body the extractor read */
        }

        buf = malloc(w + 1);
        if (buf == NULL) {
            return 0;
        }

        if (tr_signed_strip(body, len, req.dialect, buf, &st) != w) {
            abort();
        }

        out = json_loadb((const char *) buf, w, JSON_ALLOW_NUL, &err);

        if (out == NULL && !ngx_http_tier_router_fuzz_range(&err)) {
            abort();    /* the strip broke the body */
        }

        json_decref(out);
        free(buf);
    }

    return 0;
}
