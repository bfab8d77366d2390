
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_farm_pick.h"


static uint32_t farm_tree_best_at(farm_tree_t *t, farm_peers_t *peers,
    uint32_t i, const uint32_t *exclude, uint32_t nexclude);
static uint32_t farm_ring_count(uint32_t weight, uint32_t scale);
static int farm_point_cmp(const void *one, const void *two);


static uint32_t
farm_fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;

    return h;
}


uint32_t
farm_hash32(const void *data, size_t len)
{
    size_t                i;
    uint32_t              h;
    const unsigned char  *p;

    /* FNV-1a, then a finalizer so that near keys land far apart */

    p = data;
    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }

    return farm_fmix32(h);
}


uint32_t
farm_hash_mix(uint32_t h, uint32_t n)
{
    return farm_fmix32(h + (n + 1) * 0x9e3779b9u);
}


int
farm_peer_available(const farm_pick_peer_t *p)
{
    return (p->flags & FARM_PEER_ELIGIBLE)
           && (p->max_conns == 0 || p->active < p->max_conns);
}


uint32_t
farm_tree_size(uint32_t capacity)
{
    uint32_t  size;

    size = 1;

    while (size < capacity) {
        size <<= 1;
    }

    return size;
}


void
farm_tree_init(farm_tree_t *t, uint32_t *node, uint32_t size,
    uint32_t method)
{
    uint32_t  i;

    t->node = node;
    t->size = size;
    t->method = method;
    t->vt_now = 0;

    for (i = 0; i < 2 * size; i++) {
        node[i] = FARM_SLOT_NONE;
    }
}


uint32_t
farm_tree_choose(farm_tree_t *t, farm_peers_t *peers, uint32_t a, uint32_t b)
{
    uint64_t           l, r;
    farm_pick_peer_t  *pa, *pb;

    if (a == FARM_SLOT_NONE) {
        return b;
    }

    if (b == FARM_SLOT_NONE) {
        return a;
    }

    pa = farm_peer(peers, a);
    pb = farm_peer(peers, b);

    if ((pa->flags ^ pb->flags) & FARM_PEER_BACKUP) {
        return (pa->flags & FARM_PEER_BACKUP) ? b : a;
    }

    if (t->method == FARM_PICK_LEAST_CONN) {
        l = (uint64_t) pa->active * pb->weight;
        r = (uint64_t) pb->active * pa->weight;

        if (l != r) {
            return l < r ? a : b;
        }
    }

    if (pa->vt != pb->vt) {
        return pa->vt < pb->vt ? a : b;
    }

    return a < b ? a : b;
}


void
farm_tree_update(farm_tree_t *t, farm_peers_t *peers, uint32_t slot)
{
    farm_tree_update_at(t, peers, slot, slot);
}


void
farm_tree_update_at(farm_tree_t *t, farm_peers_t *peers, uint32_t pos,
    uint32_t slot)
{
    uint32_t  i;

    i = t->size + pos;

    t->node[i] = farm_peer_available(farm_peer(peers, slot))
                 ? slot : FARM_SLOT_NONE;

    for (i >>= 1; i; i >>= 1) {
        t->node[i] = farm_tree_choose(t, peers, t->node[2 * i],
                                      t->node[2 * i + 1]);
    }
}


void
farm_tree_build(farm_tree_t *t, farm_peers_t *peers, const uint32_t *members,
    uint32_t n)
{
    uint32_t  i;

    for (i = 0; i < t->size; i++) {
        t->node[t->size + i] = (i < n
                                && farm_peer_available(farm_peer(peers,
                                                                 members[i])))
                               ? members[i] : FARM_SLOT_NONE;
    }

    for (i = t->size - 1; i; i--) {
        t->node[i] = farm_tree_choose(t, peers, t->node[2 * i],
                                      t->node[2 * i + 1]);
    }
}


uint32_t
farm_members_find(const uint32_t *members, uint32_t n, uint32_t slot)
{
    uint32_t  lo, hi, mid;

    lo = 0;
    hi = n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (members[mid] < slot) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return (lo < n && members[lo] == slot) ? lo : FARM_SLOT_NONE;
}


void
farm_tree_rebuild(farm_tree_t *t, farm_peers_t *peers, uint32_t nslots)
{
    uint32_t  i;

    for (i = 0; i < t->size; i++) {
        t->node[t->size + i] = (i < nslots
                                && farm_peer_available(farm_peer(peers, i)))
                               ? i : FARM_SLOT_NONE;
    }

    for (i = t->size - 1; i; i--) {
        t->node[i] = farm_tree_choose(t, peers, t->node[2 * i],
                                      t->node[2 * i + 1]);
    }
}


static uint32_t
farm_tree_best_at(farm_tree_t *t, farm_peers_t *peers, uint32_t i,
    const uint32_t *exclude, uint32_t nexclude)
{
    uint32_t  k, slot;

    slot = t->node[i];

    if (slot == FARM_SLOT_NONE) {
        return FARM_SLOT_NONE;
    }

    for (k = 0; k < nexclude; k++) {
        if (exclude[k] == slot) {
            break;
        }
    }

    if (k == nexclude) {
        return slot;
    }

    if (i >= t->size) {
        return FARM_SLOT_NONE;
    }

    return farm_tree_choose(t, peers,
                            farm_tree_best_at(t, peers, 2 * i, exclude,
                                              nexclude),
                            farm_tree_best_at(t, peers, 2 * i + 1, exclude,
                                              nexclude));
}


uint32_t
farm_tree_best(farm_tree_t *t, farm_peers_t *peers, const uint32_t *exclude,
    uint32_t nexclude)
{
    return farm_tree_best_at(t, peers, 1, exclude, nexclude);
}


void
farm_tree_acquire(farm_tree_t *t, farm_peers_t *peers, uint32_t slot)
{
    farm_pick_peer_t  *p;

    p = farm_peer(peers, slot);

    if (p->vt > t->vt_now) {
        t->vt_now = p->vt;
    }

    p->active++;
    p->vt += FARM_VT_SCALE / (p->weight ? p->weight : 1);

    farm_tree_update(t, peers, slot);
}


void
farm_tree_release(farm_tree_t *t, farm_peers_t *peers, uint32_t slot)
{
    farm_pick_peer_t  *p;

    p = farm_peer(peers, slot);

    if (p->active) {
        p->active--;
    }

    farm_tree_update(t, peers, slot);
}


void
farm_tree_join(farm_tree_t *t, farm_peers_t *peers, uint32_t slot)
{
    farm_pick_peer_t  *p;

    p = farm_peer(peers, slot);

    if (p->vt < t->vt_now) {
        p->vt = t->vt_now;
    }

    farm_tree_update(t, peers, slot);
}


/*
 * Ring points per unit of weight, in 1/1024ths: FARM_RING_POINTS, or fewer
 * when the ring would outgrow FARM_RING_MAX_POINTS.  Every agent keeps at
 * least one point.
 */

uint32_t
farm_ring_points(const farm_ring_input_t *in, uint32_t n, uint32_t *scale)
{
    uint32_t  i;
    uint64_t  weight, total;

    weight = 0;

    for (i = 0; i < n; i++) {
        weight += in[i].weight;
    }

    *scale = FARM_RING_POINTS << 10;

    if (weight * FARM_RING_POINTS > FARM_RING_MAX_POINTS) {
        *scale = (uint32_t) (((uint64_t) FARM_RING_MAX_POINTS << 10) / weight);
    }

    total = 0;

    for (i = 0; i < n; i++) {
        total += farm_ring_count(in[i].weight, *scale);
    }

    return (uint32_t) total;
}


static uint32_t
farm_ring_count(uint32_t weight, uint32_t scale)
{
    uint64_t  count;

    count = ((uint64_t) weight * scale) >> 10;

    return count ? (uint32_t) count : 1;
}


static int
farm_point_cmp(const void *one, const void *two)
{
    const farm_point_t  *a = one, *b = two;

    if (a->hash != b->hash) {
        return a->hash < b->hash ? -1 : 1;
    }

    if (a->slot != b->slot) {
        return a->slot < b->slot ? -1 : 1;
    }

    return 0;
}


uint32_t
farm_ring_build(farm_point_t *points, uint32_t max,
    const farm_ring_input_t *in, uint32_t n, uint32_t scale)
{
    uint32_t  i, j, k, base, count;

    k = 0;

    for (i = 0; i < n; i++) {
        base = farm_hash32(in[i].id, in[i].id_len);
        count = farm_ring_count(in[i].weight, scale);

        for (j = 0; j < count && k < max; j++) {
            points[k].hash = farm_hash_mix(base, j);
            points[k].slot = in[i].slot;
            k++;
        }
    }

    qsort(points, k, sizeof(farm_point_t), farm_point_cmp);

    return k;
}


uint32_t
farm_ring_find(const farm_point_t *points, uint32_t npoints, uint32_t hash)
{
    uint32_t  lo, hi, mid;

    lo = 0;
    hi = npoints;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (points[mid].hash < hash) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return lo == npoints ? 0 : lo;
}


uint64_t
farm_wtable_build(farm_wpoint_t *table, const farm_ring_input_t *in,
    uint32_t n)
{
    uint32_t  i;
    uint64_t  total;

    total = 0;

    for (i = 0; i < n; i++) {
        total += in[i].weight;
        table[i].end = total;
        table[i].slot = in[i].slot;
    }

    return total;
}


uint32_t
farm_wtable_find(const farm_wpoint_t *table, uint32_t n, uint64_t total,
    uint32_t hash)
{
    uint32_t  lo, hi, mid;
    uint64_t  pos;

    if (n == 0 || total == 0) {
        return FARM_SLOT_NONE;
    }

    pos = hash % total;
    lo = 0;
    hi = n - 1;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (table[mid].end <= pos) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return table[lo].slot;
}
