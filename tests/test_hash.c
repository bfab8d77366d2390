/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Agent selection by key: the consistent hash ring (keys stay put; an agent
 * leaving moves only its own keys), the weight table of plain hashing, and
 * the hash function itself.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ngx_http_farm_pick.h"



typedef struct {
    farm_ring_input_t   in[16];
    char                id[16][16];
    farm_point_t       *points;
    uint32_t            npoints;
} ring_t;


/* Builds the ring from the agents whose bit is set in members. */
static void
ring_build(ring_t *r, uint32_t nagents, uint32_t members,
    const uint32_t *weights)
{
    uint32_t  i, n, max, per_weight;

    n = 0;

    for (i = 0; i < nagents; i++) {
        if (!(members & (1u << i))) {
            continue;
        }

        snprintf(r->id[i], sizeof(r->id[i]), "agent-%u", i);
        r->in[n].slot = i;
        r->in[n].weight = weights ? weights[i] : 1;
        r->in[n].id = r->id[i];
        r->in[n].id_len = strlen(r->id[i]);
        n++;
    }

    max = farm_ring_points(r->in, n, &per_weight);
    assert_int_equal(per_weight, FARM_RING_POINTS << 10);

    free(r->points);
    r->points = calloc(max, sizeof(farm_point_t));
    assert_non_null(r->points);

    r->npoints = farm_ring_build(r->points, max, r->in, n, per_weight);
    assert_int_equal(r->npoints, max);

    for (i = 1; i < r->npoints; i++) {
        assert_true(r->points[i - 1].hash <= r->points[i].hash);
    }
}


#define NKEYS  100000

static uint32_t
key_hash(uint32_t i)
{
    char  key[32];
    int   len;

    len = snprintf(key, sizeof(key), "key-%u", i);

    return farm_hash32(key, len);
}


static void
ring_map(ring_t *r, uint8_t *owner)
{
    uint32_t  i;

    for (i = 0; i < NKEYS; i++) {
        owner[i] = (uint8_t) r->points[farm_ring_find(r->points, r->npoints,
                                                      key_hash(i))].slot;
    }
}


static void
consistent_hash_moves_only_the_removed_agents_keys(void **state)
{
    uint8_t   *before, *after;
    uint32_t   i, moved, count[10], all, gone;
    double     mean;
    ring_t     r;

    (void) state;

    memset(&r, 0, sizeof(r));
    before = malloc(NKEYS);
    after = malloc(NKEYS);
    assert_non_null(before);
    assert_non_null(after);

    all = (1u << 10) - 1;
    gone = 6;

    ring_build(&r, 10, all, NULL);
    assert_int_equal(r.npoints, 10 * FARM_RING_POINTS);
    ring_map(&r, before);

    /* every agent holds its fair share, within 30% */

    memset(count, 0, sizeof(count));

    for (i = 0; i < NKEYS; i++) {
        assert_true(before[i] < 10);
        count[before[i]]++;
    }

    mean = NKEYS / 10.0;

    for (i = 0; i < 10; i++) {
        if (count[i] < mean * 0.7 || count[i] > mean * 1.3) {
            print_error("agent-%u holds %u keys, mean %.0f\n", i, count[i],
                        mean);
            fail();
        }
    }

    /* agent-6 leaves: its keys move, no other key does */

    ring_build(&r, 10, all & ~(1u << gone), NULL);
    ring_map(&r, after);

    moved = 0;

    for (i = 0; i < NKEYS; i++) {
        if (before[i] == after[i]) {
            assert_int_not_equal(before[i], gone);
            continue;
        }

        moved++;

        if (before[i] != gone) {
            print_error("key-%u moved from agent-%u to agent-%u\n", i,
                        before[i], after[i]);
            fail();
        }

        assert_int_not_equal(after[i], gone);
    }

    assert_int_equal(moved, count[gone]);
    assert_in_range(moved, NKEYS / 10 / 2, NKEYS * 16 / 10 / 10);

    /* agent-6 comes back: every key is where it was */

    ring_build(&r, 10, all, NULL);
    ring_map(&r, after);
    assert_memory_equal(before, after, NKEYS);

    free(r.points);
    free(before);
    free(after);
}


static void
consistent_hash_follows_weight(void **state)
{
    static const uint32_t  w[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 2 };
    uint8_t               *owner;
    uint32_t               i, count[10];
    double                 others, ratio;
    ring_t                 r;

    (void) state;

    memset(&r, 0, sizeof(r));
    owner = malloc(NKEYS);
    assert_non_null(owner);

    ring_build(&r, 10, (1u << 10) - 1, w);
    assert_int_equal(r.npoints, 11 * FARM_RING_POINTS);
    ring_map(&r, owner);

    memset(count, 0, sizeof(count));

    for (i = 0; i < NKEYS; i++) {
        count[owner[i]]++;
    }

    others = 0;

    for (i = 0; i < 9; i++) {
        others += count[i];
    }

    ratio = count[9] / (others / 9);

    if (ratio < 1.6 || ratio > 2.4) {
        print_error("weight 2 holds %.2f times the keys of weight 1\n",
                    ratio);
        fail();
    }

    free(r.points);
    free(owner);
}


static void
ring_find_wraps_around(void **state)
{
    farm_point_t  points[3] = { { 100, 0 }, { 200, 1 }, { 300, 2 } };

    (void) state;

    assert_int_equal(farm_ring_find(points, 3, 0), 0);
    assert_int_equal(farm_ring_find(points, 3, 100), 0);
    assert_int_equal(farm_ring_find(points, 3, 101), 1);
    assert_int_equal(farm_ring_find(points, 3, 200), 1);
    assert_int_equal(farm_ring_find(points, 3, 300), 2);
    assert_int_equal(farm_ring_find(points, 3, 301), 0);
    assert_int_equal(farm_ring_find(points, 3, 0xffffffff), 0);
}


static void
ring_points_are_capped_for_large_farms(void **state)
{
    uint32_t            i, n, per_weight, npoints;
    farm_ring_input_t  *in;

    (void) state;

    n = 20000;
    in = calloc(n, sizeof(farm_ring_input_t));
    assert_non_null(in);

    for (i = 0; i < n; i++) {
        in[i].slot = i;
        in[i].weight = 1 + i % 2;
        in[i].id = "x";
        in[i].id_len = 1;
    }

    /* 30,000 units of weight: fewer points per unit, still at least one */

    npoints = farm_ring_points(in, n, &per_weight);
    assert_true(npoints <= FARM_RING_MAX_POINTS);
    assert_int_equal(per_weight, ((uint64_t) FARM_RING_MAX_POINTS << 10) / 30000);
    assert_int_equal(npoints, (n / 2) * (per_weight >> 10)
                              + (n / 2) * ((2ull * per_weight) >> 10));

    /* 10,000 agents of weight 1000: the ring stays near the cap */

    for (i = 0; i < 10000; i++) {
        in[i].weight = 1000;
    }

    npoints = farm_ring_points(in, 10000, &per_weight);
    assert_true(npoints <= FARM_RING_MAX_POINTS);
    assert_true(npoints >= FARM_RING_MAX_POINTS / 2);

    /* no agents, no points */

    assert_int_equal(farm_ring_points(in, 0, &per_weight), 0);

    free(in);
}


static void
weight_table_is_exact_over_all_positions(void **state)
{
    static const uint32_t  slot[] = { 7, 3, 9, 0 };
    static const uint32_t  w[] = { 1, 2, 3, 4 };
    uint32_t               i, k, count[10];
    uint64_t               total;
    farm_wpoint_t          table[4];
    farm_ring_input_t      in[4];

    (void) state;

    memset(in, 0, sizeof(in));

    for (i = 0; i < 4; i++) {
        in[i].slot = slot[i];
        in[i].weight = w[i];
        in[i].id = "unused";
        in[i].id_len = 6;
    }

    total = farm_wtable_build(table, in, 4);
    assert_int_equal(total, 10);

    /* positions 0..9, then every hash in 0..99,999 */

    memset(count, 0, sizeof(count));

    for (i = 0; i < total; i++) {
        count[farm_wtable_find(table, 4, total, i)]++;
    }

    for (i = 0; i < 4; i++) {
        assert_int_equal(count[slot[i]], w[i]);
    }

    memset(count, 0, sizeof(count));

    for (i = 0; i < 100000; i++) {
        k = farm_wtable_find(table, 4, total, i);
        assert_true(k < 10);
        count[k]++;
    }

    for (i = 0; i < 4; i++) {
        assert_int_equal(count[slot[i]], 10000 * w[i]);
    }

    /* the position is hash % total, up to the largest hash */

    assert_int_equal(farm_wtable_find(table, 4, total, 0xffffffff),
                     slot[2]);                  /* 4294967295 % 10 = 5 */
    assert_int_equal(farm_wtable_find(table, 4, total, 12), slot[1]);

    assert_int_equal(farm_wtable_find(table, 0, 0, 5), FARM_SLOT_NONE);
}


static int
cmp_u32(const void *one, const void *two)
{
    uint32_t  a = *(const uint32_t *) one, b = *(const uint32_t *) two;

    return a < b ? -1 : a > b;
}


static void
hash32_is_deterministic_and_spreads_keys(void **state)
{
    uint32_t   i, *h, buckets[16];

    (void) state;

    assert_int_equal(farm_hash32("agent-1", 7), farm_hash32("agent-1", 7));
    assert_int_not_equal(farm_hash32("agent-1", 7),
                         farm_hash32("agent-2", 7));
    assert_int_not_equal(farm_hash32("", 0), farm_hash32("\0", 1));
    assert_int_not_equal(farm_hash32("ab", 2), farm_hash32("ba", 2));

    /* only len bytes count */

    assert_int_equal(farm_hash32("agent-1xyz", 7), farm_hash32("agent-1", 7));

    /* 10,000 near keys: no two alike, the top bits evenly used */

    h = malloc(10000 * sizeof(uint32_t));
    assert_non_null(h);
    memset(buckets, 0, sizeof(buckets));

    for (i = 0; i < 10000; i++) {
        h[i] = key_hash(i);
        buckets[h[i] >> 28]++;
    }

    for (i = 0; i < 16; i++) {
        assert_in_range(buckets[i], 625 * 8 / 10, 625 * 12 / 10);
    }

    qsort(h, 10000, sizeof(uint32_t), cmp_u32);

    for (i = 1; i < 10000; i++) {
        assert_int_not_equal(h[i - 1], h[i]);
    }

    free(h);

    for (i = 1; i < 1000; i++) {
        assert_int_not_equal(farm_hash_mix(12345, i - 1),
                             farm_hash_mix(12345, i));
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(consistent_hash_moves_only_the_removed_agents_keys),
        cmocka_unit_test(consistent_hash_follows_weight),
        cmocka_unit_test(ring_find_wraps_around),
        cmocka_unit_test(ring_points_are_capped_for_large_farms),
        cmocka_unit_test(weight_table_is_exact_over_all_positions),
        cmocka_unit_test(hash32_is_deterministic_and_spreads_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
