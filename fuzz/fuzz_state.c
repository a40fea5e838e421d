
/*
 * Copyright (C) The tier router authors
 *
 * libFuzzer target: the state file's check (the part of the loader that
 * reads outside input; what it lets through is then copied into the zone
 * field by field).  Whatever the input, it is refused with a message or
 * accepted, and an accepted file holds only what the zone can take: each
 * tenant a 32-digit hash and its numbers, none negative but a limit of
 * -1, none past TR_AMOUNT_MAX (the 32-bit counts past
 * 2^32 - 1), so that nothing added to them can wrap.  The first byte
 * picks whether a key_check is expected.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "tr_price.h"
#include "tr_state_schema.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc;
    size_t          i, j;
    json_t         *root, *tenants, *t;
    int64_t         n;
    const char     *error, *check;
    unsigned char   hash[16];

    if (size == 0) {
        return 0;
    }

    check = (data[0] & 1) ? "0123456789abcdef0123456789abcdef" : NULL;

    root = json_loadb((const char *) data + 1, size - 1, 0, NULL);

    if (root == NULL) {
        return 0;
    }

    error = NULL;
    rc = tr_state_valid(root, check, &error);

    if (rc != 0) {
        if (error == NULL) {
            abort();
        }

        json_decref(root);
        return 0;
    }

    tenants = json_object_get(root, "tenants");

    for (i = 0; i < json_array_size(tenants); i++) {
        t = json_array_get(tenants, i);

        if (tr_state_unhex(hash,
                       json_string_value(json_object_get(t, "hash")), 16)
            != 0)
        {
            abort();
        }

        for (j = 0; j < TR_STATE_FIELDS; j++) {
            if (tr_state_number(t,
                                        tr_state_fields[j],
                                        &n)
                != 0
                || n < (j == 2 ? -1 : 0)
                || n > (j < TR_STATE_COUNTS
                        ? TR_AMOUNT_MAX : 0xffffffff))
            {
                abort();
            }
        }
    }

    json_decref(root);

    return 0;
}
