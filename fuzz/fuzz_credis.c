/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_reply_tiers and farm_reply_keys
 * (ngx_farm_module/ngx_http_farm_consumers_reply.c): the Redis consumer
 * source's two HGETALL replies.
 *
 * Input: elements separated by "\n"; an empty line ends the tiers reply,
 * the rest is the keys reply.  An element "\x01" is not a string (nil or a
 * number).  Each element gets its own exact-size buffer.
 *
 * Invariants, against rules worked out here on their own: every valid
 * (lower-case hex digest, name) pair is in the result exactly once, under
 * its name; no digest twice (F6); consumers are unique, sorted by name and
 * carry the tier the tiers reply gave that name, or ""; skipped + kept ==
 * the pairs given.  Inputs that list a field twice in one reply are
 * skipped: Redis never does.
 */

#include "fuzz.h"

#include "ngx_http_farm_consumers_reply.h"


#define FZ_ELTS  256


static int
fz_name_ok(const farm_reply_elt_t *e)
{
    size_t  i;

    if (e->data == NULL || e->len == 0 || e->len > FARM_CONSUMER_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < e->len; i++) {
        if ((unsigned char) e->data[i] < 0x20 || e->data[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


static int
fz_tier_ok(const farm_reply_elt_t *e)
{
    size_t  i;
    char    c;

    if (e->data == NULL || e->len == 0 || e->len > FARM_CONSUMER_TIER_MAX) {
        return 0;
    }

    for (i = 0; i < e->len; i++) {
        c = e->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
fz_digest(const farm_reply_elt_t *e, uint8_t *d)
{
    size_t  i;
    int     v;
    char    c;

    if (e->data == NULL || e->len != 64) {
        return 0;
    }

    memset(d, 0, 32);

    for (i = 0; i < 64; i++) {
        c = e->data[i];

        if (c >= '0' && c <= '9') {
            v = c - '0';

        } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;

        } else {
            return 0;
        }

        d[i / 2] |= (uint8_t) (i % 2 ? v : v << 4);
    }

    return 1;
}


static int
fz_same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}


/* splits data into elements; returns the number, copies in bufs */
static size_t
fz_elements(const uint8_t **data, size_t *size, farm_reply_elt_t *e,
    char **bufs, size_t *nbufs)
{
    size_t          n, len;
    const uint8_t  *p, *nl;

    n = 0;
    p = *data;

    while (*size && n < FZ_ELTS / 2) {
        nl = memchr(p, '\n', *size);
        len = nl ? (size_t) (nl - p) : *size;

        *size -= nl ? len + 1 : len;
        *data = nl ? nl + 1 : p + len;

        if (len == 0) {
            break;      /* the end of this reply */
        }

        if (len == 1 && p[0] == '\x01') {
            e[n].data = NULL;
            e[n].len = 0;

        } else {
            bufs[*nbufs] = fz_copy(p, len);
            e[n].data = bufs[(*nbufs)++];
            e[n].len = len;
        }

        n++;
        p = *data;
    }

    return n;
}


/* Redis gives a hash's fields once each: 1 if e[0..n) keeps to that */
static int
fz_fields_unique(const farm_reply_elt_t *e, size_t n)
{
    size_t  i, j;

    for (i = 0; i + 1 < n; i += 2) {
        for (j = 0; j < i; j += 2) {
            if (e[i].data && e[j].data
                && fz_same(e[i].data, e[i].len, e[j].data, e[j].len))
            {
                return 0;
            }
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 found;
    char               *bufs[FZ_ELTS];
    size_t              nt, nk, ntiers, skipped, good, i, j, nbufs;
    uint8_t             d[32];
    farm_consumer_t    *tiers;
    farm_reply_elt_t    te[FZ_ELTS / 2], ke[FZ_ELTS / 2];
    farm_reply_keys_t   out;
    const char         *tier;
    size_t              tier_len;

    nbufs = 0;
    nt = fz_elements(&data, &size, te, bufs, &nbufs);
    nk = fz_elements(&data, &size, ke, bufs, &nbufs);

    if (!fz_fields_unique(te, nt) || !fz_fields_unique(ke, nk)) {
        goto done;
    }

    skipped = 0;
    FZ_CHECK(farm_reply_tiers(te, nt, &tiers, &ntiers, &skipped) == 0);

    good = 0;

    for (i = 0; i + 1 < nt; i += 2) {
        good += fz_name_ok(&te[i]) && fz_tier_ok(&te[i + 1]);
    }

    FZ_CHECK(ntiers == good && skipped == nt / 2 - good);

    for (i = 1; i < ntiers; i++) {
        FZ_CHECK(!fz_same(tiers[i].name, tiers[i].name_len,
                          tiers[i - 1].name, tiers[i - 1].name_len));
    }

    skipped = 0;
    FZ_CHECK(farm_reply_keys(ke, nk, tiers, ntiers, &out, &skipped) == 0);

    FZ_CHECK(out.nkeys + skipped == nk / 2);
    FZ_CHECK(out.nconsumers <= out.nkeys);

    /* each valid pair is there, once, under its name */

    good = 0;

    for (i = 0; i + 1 < nk; i += 2) {
        if (!fz_digest(&ke[i], d) || !fz_name_ok(&ke[i + 1])) {
            continue;
        }

        good++;
        found = 0;

        for (j = 0; j < out.nkeys; j++) {
            if (memcmp(out.keys[j].digest, d, 32) != 0) {
                continue;
            }

            found++;
            FZ_CHECK(out.keys[j].consumer < out.nconsumers);
            FZ_CHECK(fz_same(out.consumers[out.keys[j].consumer].name,
                             out.consumers[out.keys[j].consumer].name_len,
                             ke[i + 1].data, ke[i + 1].len));
        }

        FZ_CHECK(found == 1);
    }

    FZ_CHECK(good == out.nkeys);

    /* consumers: unique, with the tier given for their name, or "" */

    for (i = 0; i < out.nconsumers; i++) {
        tier = "";
        tier_len = 0;

        for (j = 0; j + 1 < nt; j += 2) {
            if (fz_name_ok(&te[j]) && fz_tier_ok(&te[j + 1])
                && fz_same(te[j].data, te[j].len, out.consumers[i].name,
                           out.consumers[i].name_len))
            {
                tier = te[j + 1].data;
                tier_len = te[j + 1].len;
            }
        }

        FZ_CHECK(fz_same(out.consumers[i].tier, out.consumers[i].tier_len,
                         tier, tier_len));

        for (j = 0; j < i; j++) {
            FZ_CHECK(!fz_same(out.consumers[i].name,
                              out.consumers[i].name_len,
                              out.consumers[j].name,
                              out.consumers[j].name_len));
        }
    }

    farm_reply_keys_free(&out);
    free(tiers);

done:

    for (i = 0; i < nbufs; i++) {
        free(bufs[i]);
    }

    return 0;
}
