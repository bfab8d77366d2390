/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: the ring of a consistent-hashing upstream, laid out as
 * Kong 3.x lays out its continuum, so that a key goes to the target Kong
 * would choose for it.
 *
 * The ring has `slots` points (Kong clamps the size: below 1000 it uses
 * 1000).  Each target with a weight gets about 160 points per target of
 * equal weight, in proportion to its share of the total weight (at least
 * one); point i of a target sits at XXH32("<host>:<:port> <i>") modulo the
 * size, and a point already taken pushes the target's remaining points one
 * further name on.  Targets are placed in the order of their host, then
 * their port, so that collisions resolve the same way whatever the file's
 * order.  A key goes to the point XXH32(key) modulo the size; a request
 * walks from there towards lower points (wrapping around) to the first
 * point whose target can take it.  Changing one target's weight or
 * removing it moves only the keys of the points that change hands.
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "kong_int.h"


#define KONG_RING_MIN_SIZE      1000
#define KONG_RING_POINTS        160    /* per target when weights are equal */


static int kong_ring_order(const void *a, const void *b);


/*
 * XXH32, the hash of Kong's ring, from Debian's libxxhash (the reference
 * implementation) rather than a copy of our own
 */

uint32_t
kong_xxhash32(const void *data, size_t len, uint32_t seed)
{
    return XXH32(data, len, seed);
}


/* host, then port: the order Kong places the targets in */

static int
kong_ring_order(const void *a, const void *b)
{
    int                   c;
    const kong_target_t  *ta, *tb;

    ta = *(kong_target_t *const *) a;
    tb = *(kong_target_t *const *) b;

    c = strcmp(ta->host, tb->host);
    if (c != 0) {
        return c;
    }

    return (ta->port > tb->port) - (ta->port < tb->port);
}


/*
 * Lays out u->ring (u->ring_size points, each 0 for none or a target's
 * index in u->targets plus one) from the pool.  Returns 0, or -1 when out
 * of memory.  An upstream whose targets have no weight gets an empty ring.
 */

int
kong_ring_build(kong_pool_t *pool, kong_upstream_t *u)
{
    char             name[512];
    double           total, share;
    size_t           i, placed, entries, n, at;
    uint32_t        *ring, h;
    kong_target_t  **order;

    u->ring_size = (u->slots >= KONG_RING_MIN_SIZE) ? u->slots
                                                    : KONG_RING_MIN_SIZE;

    ring = kong_palloc(pool, u->ring_size * sizeof(uint32_t));
    if (ring == NULL) {
        return -1;
    }

    memset(ring, 0, u->ring_size * sizeof(uint32_t));
    u->ring = ring;

    if (u->ntargets == 0) {
        return 0;
    }

    order = malloc(u->ntargets * sizeof(kong_target_t *));
    if (order == NULL) {
        return -1;
    }

    memcpy(order, u->targets, u->ntargets * sizeof(kong_target_t *));
    qsort(order, u->ntargets, sizeof(kong_target_t *), kong_ring_order);

    total = 0;

    for (i = 0; i < u->ntargets; i++) {
        total += order[i]->weight;
    }

    placed = 0;

    for (i = 0; i < u->ntargets && total > 0; i++) {
        if (order[i]->weight == 0) {
            continue;
        }

        share = order[i]->weight / total;
        entries = (size_t) floor(share * (double) u->ntargets
                                 * KONG_RING_POINTS);
        if (entries == 0) {
            entries = 1;
        }

        /* the target's index in u->targets, as the glue counts them */

        for (at = 0; u->targets[at] != order[i]; at++) { /* void */ }

        for (n = 1; n <= entries && n <= u->ring_size
                    && placed < u->ring_size; n++)
        {
            snprintf(name, sizeof(name), "%s::%u %zu", order[i]->host,
                     order[i]->port, n);

            h = kong_xxhash32(name, strlen(name), 0) % u->ring_size;

            if (ring[h] != 0) {
                entries++;      /* taken: one more name for this target */
                continue;
            }

            ring[h] = (uint32_t) at + 1;
            placed++;
        }
    }

    free(order);

    return 0;
}


/* the point a key hashes to */

size_t
kong_ring_point(const kong_upstream_t *u, const char *key, size_t len)
{
    if (u->ring_size == 0) {
        return 0;
    }

    return kong_xxhash32(key, len, 0) % u->ring_size;
}


/*
 * The target (its index in u->targets) of the first point from `point`
 * towards lower points, wrapping around, whose target can(data, index)
 * accepts; -1 when none does.  Allocates nothing: it runs per request.
 */

long
kong_ring_pick(const kong_upstream_t *u, size_t point,
    int (*can)(void *data, size_t target), void *data)
{
    size_t    n;
    uint32_t  t;

    if (u->ring == NULL || u->ring_size == 0 || point >= u->ring_size) {
        return -1;
    }

    for (n = 0; n < u->ring_size; n++) {
        t = u->ring[point];

        if (t != 0 && can(data, t - 1)) {
            return (long) (t - 1);
        }

        point = (point == 0) ? u->ring_size - 1 : point - 1;
    }

    return -1;
}
