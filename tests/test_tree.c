/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Agent selection by the tree: which agent a request goes to under round
 * robin, least_conn, backup agents, retries (proxy_next_upstream), agents
 * joining, and at 10,000 agents.  Hashing is in test_hash.c.
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


/*
 * The module keeps farm_pick_peer_t inside a larger agent struct; so do
 * the tests, so that every access goes through the stride.
 */
typedef struct {
    char              name[20];
    farm_pick_peer_t  pick;
    uint32_t          picks;                /* counted by the tests */
} agent_t;


typedef struct {
    agent_t          *agent;
    uint32_t         *node;
    uint32_t          n;
    farm_peers_t      peers;
    farm_tree_t       tree;
} farm_t;


/* Deterministic pseudo-random numbers (a 64-bit LCG). */
static uint64_t  rng_state;

static uint32_t
rng(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (rng_state >> 33);
}


/* n eligible agents with the given weights (NULL: all 1), tree built. */
static farm_t *
farm_new(uint32_t n, uint32_t capacity, uint32_t method,
    const uint32_t *weights)
{
    uint32_t  i, size;
    farm_t   *f;

    f = calloc(1, sizeof(farm_t));
    assert_non_null(f);

    size = farm_tree_size(capacity);

    f->agent = calloc(capacity, sizeof(agent_t));
    f->node = calloc(2 * size, sizeof(uint32_t));
    assert_non_null(f->agent);
    assert_non_null(f->node);

    f->n = n;
    f->peers.base = (unsigned char *) &f->agent[0].pick;
    f->peers.stride = sizeof(agent_t);

    for (i = 0; i < capacity; i++) {
        snprintf(f->agent[i].name, sizeof(f->agent[i].name), "agent-%u", i);
        memset(&f->agent[i].pick, 0, sizeof(farm_pick_peer_t));
        f->agent[i].pick.weight = weights ? weights[i % n] : 1;
        f->agent[i].pick.flags = i < n ? FARM_PEER_ELIGIBLE : 0;
    }

    farm_tree_init(&f->tree, f->node, size, method);
    farm_tree_rebuild(&f->tree, &f->peers, n);

    return f;
}


static void
farm_delete(farm_t *f)
{
    free(f->agent);
    free(f->node);
    free(f);
}


static farm_pick_peer_t *
peer(farm_t *f, uint32_t slot)
{
    return farm_peer(&f->peers, slot);
}


/* One request from start to end: the agent it went to, or NONE. */
static uint32_t
request(farm_t *f)
{
    uint32_t  slot;

    slot = farm_tree_best(&f->tree, &f->peers, NULL, 0);

    if (slot != FARM_SLOT_NONE) {
        assert_true(slot < f->n);
        farm_tree_acquire(&f->tree, &f->peers, slot);
        farm_tree_release(&f->tree, &f->peers, slot);
        f->agent[slot].picks++;
    }

    return slot;
}


/* A request that starts and stays in flight. */
static uint32_t
request_start(farm_t *f)
{
    uint32_t  slot;

    slot = farm_tree_best(&f->tree, &f->peers, NULL, 0);

    if (slot != FARM_SLOT_NONE) {
        farm_tree_acquire(&f->tree, &f->peers, slot);
        f->agent[slot].picks++;
    }

    return slot;
}


static void
set_flags(farm_t *f, uint32_t slot, uint32_t flags)
{
    peer(f, slot)->flags = flags;
    farm_tree_update(&f->tree, &f->peers, slot);
}


static void
reset_picks(farm_t *f)
{
    uint32_t  i;

    for (i = 0; i < f->n; i++) {
        f->agent[i].picks = 0;
    }
}


static void
assert_shares(farm_t *f, const uint32_t *weights, uint32_t requests)
{
    double    total, expected, got;
    uint32_t  i;

    total = 0;

    for (i = 0; i < f->n; i++) {
        total += weights[i];
    }

    for (i = 0; i < f->n; i++) {
        expected = weights[i] / total;
        got = (double) f->agent[i].picks / requests;

        if (got < expected * 0.98 || got > expected * 1.02) {
            print_error("agent %u (weight %u): share %.5f, expected %.5f\n",
                        i, weights[i], got, expected);
            fail();
        }
    }
}


static void
stride_reaches_every_agent(void **state)
{
    farm_t  *f;

    (void) state;

    f = farm_new(3, 3, FARM_PICK_RR, NULL);

    assert_ptr_equal(peer(f, 0), &f->agent[0].pick);
    assert_ptr_equal(peer(f, 2), &f->agent[2].pick);

    assert_int_equal(farm_tree_size(1), 1);
    assert_int_equal(farm_tree_size(3), 4);
    assert_int_equal(farm_tree_size(8), 8);
    assert_int_equal(farm_tree_size(10000), 16384);

    farm_delete(f);
}


static void
single_agent_gets_every_request(void **state)
{
    uint32_t  i;
    farm_t   *f;

    (void) state;

    f = farm_new(1, 1, FARM_PICK_RR, NULL);

    for (i = 0; i < 100; i++) {
        assert_int_equal(request(f), 0);
    }

    set_flags(f, 0, 0);
    assert_int_equal(request(f), FARM_SLOT_NONE);

    farm_delete(f);
}


static void
round_robin_shares_follow_weights(void **state)
{
    static const uint32_t  w[] = { 1, 2, 3, 4 };
    uint32_t               i;
    farm_t                *f;

    (void) state;

    f = farm_new(4, 4, FARM_PICK_RR, w);

    for (i = 0; i < 100000; i++) {
        assert_int_not_equal(request(f), FARM_SLOT_NONE);
    }

    assert_shares(f, w, 100000);
    farm_delete(f);
}


static void
round_robin_shares_follow_skewed_weights(void **state)
{
    static const uint32_t  w[] = { 1, 10, 100 };
    uint32_t               i;
    farm_t                *f;

    (void) state;

    f = farm_new(3, 3, FARM_PICK_RR, w);

    for (i = 0; i < 100000; i++) {
        assert_int_not_equal(request(f), FARM_SLOT_NONE);
    }

    assert_shares(f, w, 100000);
    assert_true(f->agent[0].picks > 0);
    farm_delete(f);
}


/*
 * Smoothness.  Each pick goes to the lowest virtual time and moves it on by
 * 1/weight, so every agent's virtual time stays within one step of the
 * lowest.  It follows that after any n requests, agent i has had its exact
 * share n * w_i / W, plus at most 1, minus at most (k - 1) * w_i / W for k
 * agents: requests are interleaved, never sent in blocks.
 */
static void
assert_smooth(const uint32_t *w, uint32_t k, uint32_t heavy, uint32_t max_run)
{
    double    W, lag, lo;
    uint32_t  i, n, slot, run, longest;
    farm_t   *f;

    f = farm_new(k, k, FARM_PICK_RR, w);

    W = 0;
    for (i = 0; i < k; i++) {
        W += w[i];
    }

    run = 0;
    longest = 0;

    for (n = 1; n <= 20000; n++) {
        slot = request(f);

        run = (slot == heavy) ? run + 1 : 0;
        if (run > longest) {
            longest = run;
        }

        for (i = 0; i < k; i++) {
            lag = f->agent[i].picks - n * w[i] / W;
            lo = -((double) k - 1) * w[i] / W;

            if (lag > 1.01 || lag < lo - 0.01) {
                print_error("after %u requests agent %u (weight %u) has %u, "
                            "%.2f from its share\n", n, i, w[i],
                            f->agent[i].picks, lag);
                fail();
            }
        }
    }

    if (longest > max_run) {
        print_error("agent %u picked %u times in a row\n", heavy, longest);
        fail();
    }

    farm_delete(f);
}


/*
 * While the heaviest agent h runs, the others stand still, and the lowest
 * of them is at most one of its own steps ahead; so h runs at most
 * w_h / (heaviest other weight) + 1 times in a row.
 */
static void
round_robin_interleaves_a_heavy_agent(void **state)
{
    static const uint32_t  first[] = { 5, 1, 1 };
    static const uint32_t  last[] = { 1, 1, 5 };

    (void) state;

    /* whether the heavy agent wins ties (slot 0) or loses them (slot 2) */

    assert_smooth(first, 3, 0, 6);
    assert_smooth(last, 3, 2, 6);
}


static void
round_robin_is_smooth_for_any_weights(void **state)
{
    static const uint32_t  equal[] = { 10, 10, 10 };
    static const uint32_t  ramp[] = { 1, 2, 3, 4 };
    static const uint32_t  skew[] = { 1, 10, 100 };
    static const uint32_t  two[] = { 50, 50 };

    (void) state;

    /* equal weights strictly take turns */

    assert_smooth(equal, 3, 0, 1);
    assert_smooth(two, 2, 1, 1);

    assert_smooth(ramp, 4, 3, 2);
    assert_smooth(skew, 3, 2, 11);
}


static void
least_conn_picks_the_least_busy_agent(void **state)
{
    static const uint32_t  active[] = { 3, 1, 2, 4 };
    uint32_t               i;
    farm_t                *f;

    (void) state;

    f = farm_new(4, 4, FARM_PICK_LEAST_CONN, NULL);

    for (i = 0; i < 4; i++) {
        peer(f, i)->active = active[i];
    }

    farm_tree_rebuild(&f->tree, &f->peers, 4);
    assert_int_equal(farm_tree_best(&f->tree, &f->peers, NULL, 0), 1);

    /* a request that ends makes its agent the least busy again */

    assert_int_equal(request_start(f), 1);      /* 3 2 2 4 */
    farm_tree_release(&f->tree, &f->peers, 3);  /* 3 2 2 3 */
    farm_tree_release(&f->tree, &f->peers, 3);  /* 3 2 2 2 */
    farm_tree_release(&f->tree, &f->peers, 3);  /* 3 2 2 1 */
    assert_int_equal(farm_tree_best(&f->tree, &f->peers, NULL, 0), 3);

    farm_delete(f);
}


static void
least_conn_divides_active_by_weight(void **state)
{
    static const uint32_t  w[] = { 1, 2 };
    farm_t                *f;

    (void) state;

    f = farm_new(2, 2, FARM_PICK_LEAST_CONN, w);

    /* 2/1 against 2/2: the heavier agent is less loaded */

    peer(f, 0)->active = 2;
    peer(f, 1)->active = 2;
    farm_tree_rebuild(&f->tree, &f->peers, 2);
    assert_int_equal(farm_tree_best(&f->tree, &f->peers, NULL, 0), 1);

    /* 1/1 against 3/2 */

    peer(f, 0)->active = 1;
    peer(f, 1)->active = 3;
    farm_tree_rebuild(&f->tree, &f->peers, 2);
    assert_int_equal(farm_tree_best(&f->tree, &f->peers, NULL, 0), 0);

    farm_delete(f);
}


static void
least_conn_fills_agents_in_proportion_to_weight(void **state)
{
    static const uint32_t  w[] = { 1, 3, 2 };
    uint32_t               i;
    farm_t                *f;

    (void) state;

    f = farm_new(3, 3, FARM_PICK_LEAST_CONN, w);

    /* 60 long requests in flight at once */

    for (i = 0; i < 60; i++) {
        assert_int_not_equal(request_start(f), FARM_SLOT_NONE);
    }

    assert_int_equal(peer(f, 0)->active, 10);
    assert_int_equal(peer(f, 1)->active, 30);
    assert_int_equal(peer(f, 2)->active, 20);

    farm_delete(f);
}


static void
least_conn_spreads_ties_among_idle_agents(void **state)
{
    uint32_t  i;
    farm_t   *f;

    (void) state;

    f = farm_new(4, 4, FARM_PICK_LEAST_CONN, NULL);

    /* short requests one after the other: every agent is idle each time */

    for (i = 0; i < 1000; i++) {
        assert_int_not_equal(request(f), FARM_SLOT_NONE);
    }

    for (i = 0; i < 4; i++) {
        assert_int_equal(f->agent[i].picks, 250);
    }

    farm_delete(f);
}


static void
full_agent_is_skipped_until_a_request_ends(void **state)
{
    uint32_t  i, method;
    farm_t   *f;

    (void) state;

    for (method = FARM_PICK_RR; method <= FARM_PICK_LEAST_CONN; method++) {
        f = farm_new(2, 2, method, NULL);

        peer(f, 0)->max_conns = 1;
        farm_tree_rebuild(&f->tree, &f->peers, 2);

        assert_int_equal(request_start(f), 0);
        assert_false(farm_peer_available(peer(f, 0)));

        for (i = 0; i < 10; i++) {
            assert_int_equal(request_start(f), 1);
        }

        farm_tree_release(&f->tree, &f->peers, 0);
        assert_true(farm_peer_available(peer(f, 0)));
        assert_int_equal(farm_tree_best(&f->tree, &f->peers, NULL, 0), 0);

        farm_delete(f);
    }
}


static void
ineligible_agent_is_never_picked(void **state)
{
    uint32_t  i;
    farm_t   *f;

    (void) state;

    f = farm_new(3, 3, FARM_PICK_RR, NULL);

    set_flags(f, 1, 0);

    for (i = 0; i < 300; i++) {
        assert_int_not_equal(request(f), 1);
    }

    assert_int_equal(f->agent[0].picks, 150);
    assert_int_equal(f->agent[1].picks, 0);
    assert_int_equal(f->agent[2].picks, 150);

    /* a backup flag alone does not make an agent eligible */

    set_flags(f, 1, FARM_PEER_BACKUP);
    set_flags(f, 0, 0);
    set_flags(f, 2, 0);
    assert_int_equal(request(f), FARM_SLOT_NONE);

    farm_delete(f);
}


static void
no_available_agent_gives_none(void **state)
{
    uint32_t  i;
    farm_t   *f;

    (void) state;

    f = farm_new(4, 8, FARM_PICK_LEAST_CONN, NULL);

    for (i = 0; i < 4; i++) {
        set_flags(f, i, 0);
    }

    assert_int_equal(farm_tree_best(&f->tree, &f->peers, NULL, 0),
                     FARM_SLOT_NONE);

    /* all eligible but all full */

    for (i = 0; i < 4; i++) {
        peer(f, i)->max_conns = 2;
        set_flags(f, i, FARM_PEER_ELIGIBLE);
    }

    for (i = 0; i < 8; i++) {
        assert_int_not_equal(request_start(f), FARM_SLOT_NONE);
    }

    assert_int_equal(request_start(f), FARM_SLOT_NONE);

    farm_tree_release(&f->tree, &f->peers, 2);
    assert_int_equal(request_start(f), 2);
    assert_int_equal(request_start(f), FARM_SLOT_NONE);

    farm_delete(f);
}


static void
backup_is_used_only_without_a_primary(void **state)
{
    static const uint32_t  w[] = { 1, 1, 100 };
    uint32_t               i;
    farm_t                *f;

    (void) state;

    f = farm_new(3, 4, FARM_PICK_RR, w);
    set_flags(f, 2, FARM_PEER_ELIGIBLE | FARM_PEER_BACKUP);

    for (i = 0; i < 1000; i++) {
        assert_int_not_equal(request(f), 2);
    }

    /* one primary down: the other takes everything */

    set_flags(f, 0, 0);

    for (i = 0; i < 100; i++) {
        assert_int_equal(request(f), 1);
    }

    /* both down: the backup */

    set_flags(f, 1, 0);

    for (i = 0; i < 100; i++) {
        assert_int_equal(request(f), 2);
    }

    /* a primary comes back: the backup stops at once */

    peer(f, 0)->flags = FARM_PEER_ELIGIBLE;
    farm_tree_join(&f->tree, &f->peers, 0);

    for (i = 0; i < 100; i++) {
        assert_int_equal(request(f), 0);
    }

    farm_delete(f);
}


static void
least_conn_prefers_a_busy_primary_to_an_idle_backup(void **state)
{
    uint32_t  i;
    farm_t   *f;

    (void) state;

    f = farm_new(3, 4, FARM_PICK_LEAST_CONN, NULL);
    set_flags(f, 0, FARM_PEER_ELIGIBLE | FARM_PEER_BACKUP);
    peer(f, 1)->max_conns = 50;
    peer(f, 2)->max_conns = 50;
    farm_tree_rebuild(&f->tree, &f->peers, 3);

    for (i = 0; i < 100; i++) {
        assert_int_not_equal(request_start(f), 0);
    }

    assert_int_equal(peer(f, 1)->active, 50);
    assert_int_equal(peer(f, 2)->active, 50);

    /* the primaries are full: now the backup */

    assert_int_equal(request_start(f), 0);
    assert_int_equal(request_start(f), 0);

    farm_tree_release(&f->tree, &f->peers, 1);
    assert_int_equal(request_start(f), 1);

    farm_delete(f);
}


static void
retry_goes_to_the_next_least_busy_agent(void **state)
{
    /* active[i] = 5i mod 8: each load 0..7 once */
    static const uint32_t  order[] = { 0, 5, 2, 7, 4, 1, 6, 3 };
    uint32_t               i, tried[8];
    farm_t                *f;

    (void) state;

    f = farm_new(8, 8, FARM_PICK_LEAST_CONN, NULL);

    for (i = 0; i < 8; i++) {
        peer(f, i)->active = (5 * i) % 8;
    }

    farm_tree_rebuild(&f->tree, &f->peers, 8);

    /* proxy_next_upstream: each attempt excludes the agents tried so far */

    for (i = 0; i < 8; i++) {
        tried[i] = farm_tree_best(&f->tree, &f->peers, tried, i);
        assert_int_equal(tried[i], order[i]);
    }

    assert_int_equal(farm_tree_best(&f->tree, &f->peers, tried, 8),
                     FARM_SLOT_NONE);

    farm_delete(f);
}


static void
retry_falls_back_to_backup_after_every_primary(void **state)
{
    uint32_t  tried[3];
    farm_t   *f;

    (void) state;

    f = farm_new(3, 4, FARM_PICK_RR, NULL);
    set_flags(f, 1, FARM_PEER_ELIGIBLE | FARM_PEER_BACKUP);

    tried[0] = farm_tree_best(&f->tree, &f->peers, NULL, 0);
    assert_int_equal(tried[0], 0);
    tried[1] = farm_tree_best(&f->tree, &f->peers, tried, 1);
    assert_int_equal(tried[1], 2);
    tried[2] = farm_tree_best(&f->tree, &f->peers, tried, 2);
    assert_int_equal(tried[2], 1);
    assert_int_equal(farm_tree_best(&f->tree, &f->peers, tried, 3),
                     FARM_SLOT_NONE);

    farm_delete(f);
}


/*
 * The order the header promises, checked the slow way: available first,
 * primary before backup, (least_conn) lowest active / weight, lowest
 * virtual time, lowest slot.
 */
static int
reference_better(farm_t *f, uint32_t a, uint32_t b)
{
    uint64_t           l, r;
    farm_pick_peer_t  *pa, *pb;

    pa = peer(f, a);
    pb = peer(f, b);

    if ((pa->flags & FARM_PEER_BACKUP) != (pb->flags & FARM_PEER_BACKUP)) {
        return !(pa->flags & FARM_PEER_BACKUP);
    }

    if (f->tree.method == FARM_PICK_LEAST_CONN) {
        l = (uint64_t) pa->active * pb->weight;
        r = (uint64_t) pb->active * pa->weight;

        if (l != r) {
            return l < r;
        }
    }

    if (pa->vt != pb->vt) {
        return pa->vt < pb->vt;
    }

    return a < b;
}


static uint32_t
reference_best(farm_t *f, const uint32_t *exclude, uint32_t nexclude)
{
    uint32_t  i, k, best;

    best = FARM_SLOT_NONE;

    for (i = 0; i < f->n; i++) {
        if (!farm_peer_available(peer(f, i))) {
            continue;
        }

        for (k = 0; k < nexclude; k++) {
            if (exclude[k] == i) {
                break;
            }
        }

        if (k < nexclude) {
            continue;
        }

        if (best == FARM_SLOT_NONE || reference_better(f, i, best)) {
            best = i;
        }
    }

    return best;
}


static void
random_peer(farm_t *f, uint32_t slot)
{
    farm_pick_peer_t  *p;

    p = peer(f, slot);

    p->weight = 1 + rng() % 5;
    p->active = rng() % 5;
    p->max_conns = (rng() % 3 == 0) ? 1 + rng() % 4 : 0;
    p->vt = (uint64_t) (rng() % 8) * (FARM_VT_SCALE / 4);
    p->flags = (rng() % 8 ? FARM_PEER_ELIGIBLE : 0)
               | (rng() % 5 ? 0 : FARM_PEER_BACKUP);
}


static void
tree_matches_the_documented_order(void **state)
{
    uint32_t  round, i, k, slot, nexclude, exclude[40], got, want;
    uint32_t  method;
    farm_t   *f;

    (void) state;

    rng_state = 42;

    for (method = FARM_PICK_RR; method <= FARM_PICK_LEAST_CONN; method++) {
        f = farm_new(37, 64, method, NULL);

        for (i = 0; i < f->n; i++) {
            random_peer(f, i);
        }

        farm_tree_rebuild(&f->tree, &f->peers, f->n);

        for (round = 0; round < 3000; round++) {

            /* change the farm a little, the way the module does */

            slot = rng() % f->n;

            switch (rng() % 4) {
            case 0:
                random_peer(f, slot);
                farm_tree_update(&f->tree, &f->peers, slot);
                break;

            case 1:
                slot = farm_tree_best(&f->tree, &f->peers, NULL, 0);
                if (slot != FARM_SLOT_NONE) {
                    farm_tree_acquire(&f->tree, &f->peers, slot);
                }
                break;

            case 2:
                farm_tree_release(&f->tree, &f->peers, slot);
                break;

            default:
                peer(f, slot)->flags ^= FARM_PEER_ELIGIBLE;
                farm_tree_join(&f->tree, &f->peers, slot);
                break;
            }

            nexclude = rng() % 8 == 0 ? f->n : rng() % 6;

            for (k = 0; k < nexclude; k++) {
                exclude[k] = (k < f->n && nexclude == f->n) ? k
                                                            : rng() % f->n;
            }

            got = farm_tree_best(&f->tree, &f->peers, exclude, nexclude);
            want = reference_best(f, exclude, nexclude);

            if (got != want) {
                print_error("round %u method %u: tree picked %u, "
                            "expected %u\n", round, method, got, want);
                fail();
            }
        }

        farm_delete(f);
    }
}


static void
joining_agent_takes_its_share_without_a_burst(void **state)
{
    uint32_t  i, slot, first;
    farm_t   *f;

    (void) state;

    f = farm_new(4, 4, FARM_PICK_RR, NULL);
    set_flags(f, 3, 0);

    for (i = 0; i < 3000; i++) {
        assert_int_not_equal(request(f), 3);
    }

    /* agent 3 comes up after 3000 requests went elsewhere */

    peer(f, 3)->flags = FARM_PEER_ELIGIBLE;
    farm_tree_join(&f->tree, &f->peers, 3);
    reset_picks(f);

    first = 0;

    for (i = 0; i < 400; i++) {
        slot = request(f);

        if (i < 8 && slot == 3) {
            first++;
        }
    }

    /* a quarter of what follows, and no more than 3 of the first 8 */

    assert_in_range(f->agent[3].picks, 95, 105);
    assert_in_range(first, 1, 3);

    for (i = 0; i < 3; i++) {
        assert_in_range(f->agent[i].picks, 95, 105);
    }

    farm_delete(f);
}


static void
joining_agent_under_least_conn_takes_its_share(void **state)
{
    uint32_t  i;
    farm_t   *f;

    (void) state;

    f = farm_new(3, 4, FARM_PICK_LEAST_CONN, NULL);

    for (i = 0; i < 3000; i++) {
        request(f);
    }

    /* a new agent in a slot that was never used */

    f->n = 4;
    peer(f, 3)->flags = FARM_PEER_ELIGIBLE;
    farm_tree_join(&f->tree, &f->peers, 3);
    reset_picks(f);

    for (i = 0; i < 400; i++) {
        request(f);
    }

    assert_in_range(f->agent[3].picks, 95, 105);

    farm_delete(f);
}


static void
ten_thousand_agents(void **state)
{
    uint32_t  i, slot, tried[100];
    farm_t   *f;

    (void) state;

    /* round robin: 30,000 short requests, three each */

    f = farm_new(10000, 16384, FARM_PICK_RR, NULL);
    assert_int_equal(f->tree.size, 16384);

    for (i = 0; i < 30000; i++) {
        assert_int_not_equal(request(f), FARM_SLOT_NONE);
    }

    for (i = 0; i < 10000; i++) {
        assert_int_equal(f->agent[i].picks, 3);
    }

    farm_delete(f);

    /* least_conn: the one idle agent among busy ones */

    f = farm_new(10000, 16384, FARM_PICK_LEAST_CONN, NULL);

    for (i = 0; i < 10000; i++) {
        peer(f, i)->active = 2;
    }

    peer(f, 7777)->active = 0;
    farm_tree_rebuild(&f->tree, &f->peers, 10000);

    assert_int_equal(request_start(f), 7777);
    assert_int_equal(request_start(f), 7777);
    assert_int_equal(request_start(f), 0);      /* all at 2 now */

    /* retries skip what was tried, even a hundred of them */

    for (i = 0; i < 100; i++) {
        peer(f, 100 * i + 50)->active = 1;
        farm_tree_update(&f->tree, &f->peers, 100 * i + 50);
    }

    for (i = 0; i < 100; i++) {
        tried[i] = farm_tree_best(&f->tree, &f->peers, tried, i);
        assert_int_equal(tried[i], 100 * i + 50);
    }

    slot = farm_tree_best(&f->tree, &f->peers, tried, 100);
    assert_int_equal(peer(f, slot)->active, 2);

    /* every agent but one goes away */

    for (i = 0; i < 10000; i++) {
        if (i != 4242) {
            set_flags(f, i, 0);
        }
    }

    assert_int_equal(farm_tree_best(&f->tree, &f->peers, NULL, 0), 4242);

    set_flags(f, 4242, 0);
    assert_int_equal(farm_tree_best(&f->tree, &f->peers, NULL, 0),
                     FARM_SLOT_NONE);

    /* and one comes back in a new slot */

    f->n = 10001;
    peer(f, 10000)->flags = FARM_PEER_ELIGIBLE;
    farm_tree_join(&f->tree, &f->peers, 10000);
    assert_int_equal(farm_tree_best(&f->tree, &f->peers, NULL, 0), 10000);

    farm_delete(f);
}


/* The consistent-hash ring over agents "agent-<i>". */


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stride_reaches_every_agent),
        cmocka_unit_test(single_agent_gets_every_request),
        cmocka_unit_test(round_robin_shares_follow_weights),
        cmocka_unit_test(round_robin_shares_follow_skewed_weights),
        cmocka_unit_test(round_robin_interleaves_a_heavy_agent),
        cmocka_unit_test(round_robin_is_smooth_for_any_weights),
        cmocka_unit_test(least_conn_picks_the_least_busy_agent),
        cmocka_unit_test(least_conn_divides_active_by_weight),
        cmocka_unit_test(least_conn_fills_agents_in_proportion_to_weight),
        cmocka_unit_test(least_conn_spreads_ties_among_idle_agents),
        cmocka_unit_test(full_agent_is_skipped_until_a_request_ends),
        cmocka_unit_test(ineligible_agent_is_never_picked),
        cmocka_unit_test(no_available_agent_gives_none),
        cmocka_unit_test(backup_is_used_only_without_a_primary),
        cmocka_unit_test(least_conn_prefers_a_busy_primary_to_an_idle_backup),
        cmocka_unit_test(retry_goes_to_the_next_least_busy_agent),
        cmocka_unit_test(retry_falls_back_to_backup_after_every_primary),
        cmocka_unit_test(tree_matches_the_documented_order),
        cmocka_unit_test(joining_agent_takes_its_share_without_a_burst),
        cmocka_unit_test(joining_agent_under_least_conn_takes_its_share),
        cmocka_unit_test(ten_thousand_agents),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
