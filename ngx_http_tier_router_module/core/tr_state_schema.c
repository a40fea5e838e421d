
/*
 * Copyright (C) The tier router authors
 *
 * The state file's shape, checked whole before any of it is used: a file
 * that is truncated, foreign, of another version or another hash key, or
 * that holds a negative or non-integer count, is refused whole.
 */


#include <string.h>

#include "tr_price.h"
#include "tr_state_schema.h"


const char  *tr_state_fields[] = {
    "spent", "total", "limit", "input_tokens", "output_tokens",
    "period_start", "last", "requests", "estimated", "refused", "capped"
};


/* the zone's counts past "total" came with later saves: each optional */

static const char  *tr_state_zone_fields[] = {
    "period_start", "spent", "total", "requests", "refused", "capped",
    "estimated", "full", "evicted", "unaccounted", "unsettled",
    "unsettled_micro_usd", "baseline", NULL
};


/* a tenant's counts that came with later saves */

static const char  *tr_state_tenant_optional[] = {
    "baseline", "alerted", NULL
};


static const char  *tr_state_tier_fields[] = {
    "requests", "input_tokens", "output_tokens", "estimated", "fell_back",
    "escalated", "cost", "baseline", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", NULL
};


static int tr_state_counts(json_t *obj,
    const char **fields);


int
tr_state_valid(json_t *root, const char *key_check,
    const char **error)
{
    size_t          i, j;
    json_t         *tenants, *tiers, *t, *v;
    int64_t         n[TR_STATE_FIELDS];
    const char     *s;
    unsigned char   bytes[16];

    if (!json_is_object(root)
        || !json_is_integer(json_object_get(root, "version"))
        || json_integer_value(json_object_get(root, "version"))
           != TR_STATE_VERSION)
    {
        *error = "not a state file of this version";
        return -1;
    }

    tenants = json_object_get(root, "tenants");

    if (!json_is_array(tenants)) {
        *error = "no \"tenants\" array";
        return -1;
    }

    if (key_check) {
        s = json_string_value(json_object_get(root, "key_check"));

        if (s == NULL || strcmp(s, key_check) != 0) {
            *error = "written under another hash_key";
            return -1;
        }

    } else {
        s = json_string_value(json_object_get(root, "hash_key"));

        if (s == NULL || tr_state_unhex(bytes, s, 16) != 0)
        {
            *error = "no valid \"hash_key\"";
            return -1;
        }
    }

    if (tr_state_counts(root,
                tr_state_zone_fields)
        != 0)
    {
        *error = "a negative, invalid or too large count for the zone";
        return -1;
    }

    v = json_object_get(root, "period");

    if (v && !json_is_string(v)) {
        *error = "a \"period\" that is not a string";
        return -1;
    }

    v = json_object_get(root, "instance");

    if (v && (!json_is_string(v)
              || tr_state_unhex(bytes,
                                json_string_value(v), 8)
                 != 0))
    {
        *error = "an \"instance\" that is not 16 hex digits";
        return -1;
    }

    tiers = json_object_get(root, "tiers");

    if (tiers && !json_is_array(tiers)) {
        *error = "a \"tiers\" that is not an array";
        return -1;
    }

    for (i = 0; i < json_array_size(tiers); i++) {
        t = json_array_get(tiers, i);

        if (!json_is_object(t) || !json_is_string(json_object_get(t, "name"))
            || tr_state_counts(t,
                                   tr_state_tier_fields)
               != 0)
        {
            *error = "a tier without a name, or with a negative, invalid "
                     "or too large count";
            return -1;
        }
    }

    for (i = 0; i < json_array_size(tenants); i++) {
        t = json_array_get(tenants, i);
        s = json_string_value(json_object_get(t, "hash"));

        if (!json_is_object(t) || s == NULL
            || tr_state_unhex(bytes, s, 16) != 0)
        {
            *error = "a tenant without a valid \"hash\"";
            return -1;
        }

        for (j = 0; j < TR_STATE_FIELDS; j++) {
            if (tr_state_number(t,
                      tr_state_fields[j],
                      &n[j])
                != 0)
            {
                *error = "a tenant with a missing or invalid number";
                return -1;
            }
        }

        /*
         * the limit may be -1 (none), nothing else is negative; amounts
         * stay below TR_AMOUNT_MAX, and the counts from
         * "requests" on are 32-bit in the zone
         */

        for (j = 0; j < TR_STATE_FIELDS; j++) {
            if (n[j] < (j == 2 ? -1 : 0)) {
                *error = "a tenant with a negative amount";
                return -1;
            }

            if (n[j] > (j < TR_STATE_COUNTS
                        ? TR_AMOUNT_MAX : 0xffffffff))
            {
                *error = "a tenant with an amount or count out of range";
                return -1;
            }
        }

        v = json_object_get(t, "label");

        if (v && !json_is_string(v)) {
            *error = "a tenant with a \"label\" that is not a string";
            return -1;
        }

        if (tr_state_counts(t, tr_state_tenant_optional) != 0) {
            *error = "a tenant with a negative, invalid or too large count";
            return -1;
        }
    }

    return 0;
}


/* the members of fields that obj has: integers in [0, AMOUNT_MAX] */

static int
tr_state_counts(json_t *obj, const char **fields)
{
    json_t  *v;

    for ( /* void */ ; *fields; fields++) {
        v = json_object_get(obj, *fields);

        if (v && (!json_is_integer(v) || json_integer_value(v) < 0
                  || json_integer_value(v) > TR_AMOUNT_MAX))
        {
            return -1;
        }
    }

    return 0;
}


int
tr_state_number(json_t *obj, const char *key,
    int64_t *value)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (!json_is_integer(v)) {
        return -1;
    }

    *value = (int64_t) json_integer_value(v);

    return 0;
}


int
tr_state_unhex(unsigned char *dst, const char *src,
    size_t len)
{
    size_t    i;
    unsigned  c, d, k;

    if (strlen(src) != 2 * len) {
        return -1;
    }

    for (i = 0; i < 2 * len; i++) {
        c = (unsigned char) src[i];

        if (c >= '0' && c <= '9') {
            d = c - '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            d = (c | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        k = i / 2;
        dst[k] = (i % 2) ? (unsigned char) (dst[k] << 4 | d)
                         : (unsigned char) d;
    }

    return 0;
}
