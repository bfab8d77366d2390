
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Redis consumer source's replies without nginx;
 * ngx_http_farm_consumers_redis.c copies the result into its table.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_farm_consumers_reply.h"


/* one valid entry of consumer-keys, before grouping */
typedef struct {
    uint8_t         digest[FARM_DIGEST_LEN];
    const char     *name;
    size_t          name_len;
} farm_reply_entry_t;


static int farm_reply_name(const char *s, size_t len);
static int farm_reply_tier(const char *s, size_t len);
static int farm_reply_digest(const char *hex, size_t len, uint8_t *digest);
static int farm_reply_cmp(const char *a, size_t alen, const char *b,
    size_t blen);
static int farm_reply_cmp_tier(const void *one, const void *two);
static int farm_reply_cmp_entry(const void *one, const void *two);
static const farm_consumer_t *farm_reply_find_tier(
    const farm_consumer_t *tiers, size_t ntiers, const char *name,
    size_t len);


int
farm_reply_tiers(const farm_reply_elt_t *elts, size_t n,
    farm_consumer_t **tiers, size_t *ntiers, size_t *skipped)
{
    size_t            i, m;
    farm_consumer_t  *t;

    t = malloc((n / 2 + 1) * sizeof(farm_consumer_t));
    if (t == NULL) {
        return -1;
    }

    m = 0;

    for (i = 0; i + 1 < n; i += 2) {
        if (elts[i].data == NULL || elts[i + 1].data == NULL
            || !farm_reply_name(elts[i].data, elts[i].len)
            || !farm_reply_tier(elts[i + 1].data, elts[i + 1].len))
        {
            (*skipped)++;
            continue;
        }

        t[m].name = elts[i].data;
        t[m].name_len = elts[i].len;
        t[m].tier = elts[i + 1].data;
        t[m].tier_len = elts[i + 1].len;
        m++;
    }

    qsort(t, m, sizeof(farm_consumer_t), farm_reply_cmp_tier);

    *tiers = t;
    *ntiers = m;

    return 0;
}


int
farm_reply_keys(const farm_reply_elt_t *elts, size_t n,
    const farm_consumer_t *tiers, size_t ntiers, farm_reply_keys_t *out,
    size_t *skipped)
{
    size_t                  i, m;
    farm_consumer_t        *c;
    farm_reply_entry_t     *e;
    const farm_consumer_t  *t;

    memset(out, 0, sizeof(farm_reply_keys_t));

    e = malloc((n / 2 + 1) * sizeof(farm_reply_entry_t));
    out->consumers = malloc((n / 2 + 1) * sizeof(farm_consumer_t));
    out->keys = malloc((n / 2 + 1) * sizeof(farm_reply_key_t));

    if (e == NULL || out->consumers == NULL || out->keys == NULL) {
        free(e);
        farm_reply_keys_free(out);
        return -1;
    }

    m = 0;

    for (i = 0; i + 1 < n; i += 2) {
        if (elts[i].data == NULL || elts[i + 1].data == NULL
            || farm_reply_digest(elts[i].data, elts[i].len, e[m].digest) != 0
            || !farm_reply_name(elts[i + 1].data, elts[i + 1].len))
        {
            (*skipped)++;
            continue;
        }

        e[m].name = elts[i + 1].data;
        e[m].name_len = elts[i + 1].len;
        m++;
    }

    /* by name: one consumer for all of its keys */

    qsort(e, m, sizeof(farm_reply_entry_t), farm_reply_cmp_entry);

    c = NULL;

    for (i = 0; i < m; i++) {

        if (c == NULL
            || farm_reply_cmp(c->name, c->name_len, e[i].name,
                              e[i].name_len) != 0)
        {
            c = &out->consumers[out->nconsumers++];

            c->name = e[i].name;
            c->name_len = e[i].name_len;
            c->tier = "";
            c->tier_len = 0;

            t = farm_reply_find_tier(tiers, ntiers, c->name, c->name_len);

            if (t) {
                c->tier = t->tier;
                c->tier_len = t->tier_len;
            }
        }

        memcpy(out->keys[out->nkeys].digest, e[i].digest, FARM_DIGEST_LEN);
        out->keys[out->nkeys].consumer = (uint32_t) (out->nconsumers - 1);
        out->nkeys++;
    }

    free(e);

    return 0;
}


void
farm_reply_keys_free(farm_reply_keys_t *out)
{
    free(out->consumers);
    free(out->keys);
    memset(out, 0, sizeof(farm_reply_keys_t));
}


/* as in the consumers file: 1-128 bytes, no control characters */

static int
farm_reply_name(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > FARM_CONSUMER_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* as in the consumers file: 1-64 of A-Z a-z 0-9 . _ - */

static int
farm_reply_tier(const char *s, size_t len)
{
    size_t  i;
    char    c;

    if (len == 0 || len > FARM_CONSUMER_TIER_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
farm_reply_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static int
farm_reply_digest(const char *hex, size_t len, uint8_t *digest)
{
    int     hi, lo;
    size_t  i;

    if (len != 2 * FARM_DIGEST_LEN) {
        return -1;
    }

    for (i = 0; i < FARM_DIGEST_LEN; i++) {
        hi = farm_reply_hex(hex[2 * i]);
        lo = farm_reply_hex(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        digest[i] = (uint8_t) (hi * 16 + lo);
    }

    return 0;
}


/* bytes, then length: the order of nginx's ngx_memn2cmp() */

static int
farm_reply_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);

    if (rc != 0) {
        return rc;
    }

    return alen < blen ? -1 : alen > blen ? 1 : 0;
}


static int
farm_reply_cmp_tier(const void *one, const void *two)
{
    const farm_consumer_t  *a = one, *b = two;

    return farm_reply_cmp(a->name, a->name_len, b->name, b->name_len);
}


static int
farm_reply_cmp_entry(const void *one, const void *two)
{
    const farm_reply_entry_t  *a = one, *b = two;

    return farm_reply_cmp(a->name, a->name_len, b->name, b->name_len);
}


static const farm_consumer_t *
farm_reply_find_tier(const farm_consumer_t *tiers, size_t ntiers,
    const char *name, size_t len)
{
    int     rc;
    size_t  lo, hi, mid;

    lo = 0;
    hi = ntiers;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        rc = farm_reply_cmp(tiers[mid].name, tiers[mid].name_len, name, len);

        if (rc == 0) {
            return &tiers[mid];
        }

        if (rc < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}
