/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: the consistent-hashing ring (kong_ring.c) -- XXH32, the
 * ring's size from `slots`, points in proportion to the weights, and how
 * few keys move when a target's weight changes, a target goes or cannot
 * take a request.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kong.h"


#define KEYS  20000


static kong_config_t *
load(const char *yaml)
{
    kong_config_t  *cfg;
    kong_errors_t   errs;

    cfg = kong_load_string("kong.yml", yaml, strlen(yaml), 0, &errs);

    if (cfg == NULL || errs.n) {
        kong_errors_print(&errs, stderr);
        kong_errors_free(&errs);
        fail_msg("rejected:\n%s", yaml);
    }

    kong_errors_free(&errs);

    return cfg;
}


/* an upstream of three targets with these weights and slots */

static kong_config_t *
three(unsigned wa, unsigned wb, unsigned wc, unsigned slots)
{
    char  yaml[1024];

    snprintf(yaml, sizeof(yaml),
             "_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: pool\n"
             "  hash_on: ip\n"
             "  slots: %u\n"
             "  targets:\n"
             "  - { target: 10.0.0.3:80, weight: %u }\n"
             "  - { target: 10.0.0.1:80, weight: %u }\n"
             "  - { target: 10.0.0.2:80, weight: %u }\n",
             slots, wc, wa, wb);

    return load(yaml);
}


static int
can_all(void *data, size_t target)
{
    (void) data;
    (void) target;

    return 1;
}


static int
can_but(void *data, size_t target)
{
    return target != *(size_t *) data;
}


/* the target host each of KEYS keys goes to */

static void
map_keys(const kong_upstream_t *u, int (*can)(void *, size_t), void *data,
    const char **host)
{
    int    i;
    long   t;
    char   key[32];

    for (i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "user-%d", i);
        t = kong_ring_pick(u, kong_ring_point(u, key, strlen(key)), can,
                           data);
        assert_true(t >= 0);
        host[i] = u->targets[t]->host;
    }
}


static void
test_xxhash32(void **state)
{
    (void) state;

    /* the reference implementation's values (xxhsum -H0) */
    assert_int_equal(kong_xxhash32("", 0, 0), 0x02cc5d05);
    assert_int_equal(kong_xxhash32("a", 1, 0), 0x550d7456);
    assert_int_equal(kong_xxhash32("abc", 3, 0), 0x32d153ff);
    assert_int_equal(kong_xxhash32("Nobody inspects the spammish repetition",
                                   39, 0), 0xe2293b2f);
    assert_int_equal(kong_xxhash32("127.0.0.1::8000 1", 17, 0), 0xddc6df53);
}


static void
test_size_and_points(void **state)
{
    size_t          i, count[3];
    kong_config_t  *cfg;
    kong_upstream_t *u;

    (void) state;

    cfg = three(100, 100, 100, 10);
    assert_int_equal(cfg->upstreams[0]->ring_size, 1000);   /* Kong's floor */
    kong_config_free(cfg);

    cfg = three(100, 100, 200, 10000);
    u = cfg->upstreams[0];
    assert_int_equal(u->slots, 10000);
    assert_int_equal(u->ring_size, 10000);

    memset(count, 0, sizeof(count));

    for (i = 0; i < u->ring_size; i++) {
        if (u->ring[i]) {
            assert_true(u->ring[i] <= 3);
            count[u->ring[i] - 1]++;
        }
    }

    /* 3 targets x 160 points, shared by weight: 240, 120, 120 */
    assert_int_equal(count[0], 240);
    assert_int_equal(count[1], 120);
    assert_int_equal(count[2], 120);

    kong_config_free(cfg);
}


static void
test_weight_change_moves_few(void **state)
{
    int              i, moved, from_c;
    const char      *before[KEYS], *after[KEYS];
    kong_config_t   *c1, *c2;

    (void) state;

    c1 = three(100, 100, 100, 10000);
    c2 = three(100, 100, 50, 10000);

    map_keys(c1->upstreams[0], can_all, NULL, before);
    map_keys(c2->upstreams[0], can_all, NULL, after);

    moved = 0;
    from_c = 0;

    for (i = 0; i < KEYS; i++) {
        if (strcmp(before[i], after[i]) != 0) {
            moved++;
            from_c += (strcmp(before[i], "10.0.0.3") == 0);
        }
    }

    /*
     * C's share falls from 1/3 to 1/5, so at least 13% of the keys must
     * move.  On Kong's ring A and B also gain points, which take some
     * keys from each other: 18% move (3613 of 20000), most of them C's.
     * A modulo mapping would move about two thirds.
     */
    assert_true(moved > KEYS * 13 / 100);
    assert_true(moved < KEYS / 4);
    assert_true(from_c * 100 >= moved * 60);

    kong_config_free(c1);
    kong_config_free(c2);
}


static void
test_removed_or_refused_target(void **state)
{
    int              i, kept, of_others;
    size_t           c;
    const char      *before[KEYS], *after[KEYS];
    kong_config_t   *c1, *c2;

    (void) state;

    c1 = three(100, 100, 100, 10000);
    map_keys(c1->upstreams[0], can_all, NULL, before);

    /* a target that cannot take requests (down): only its keys move */

    for (c = 0; strcmp(c1->upstreams[0]->targets[c]->host, "10.0.0.3"); c++) {
        /* void */
    }

    map_keys(c1->upstreams[0], can_but, &c, after);

    for (i = 0; i < KEYS; i++) {
        if (strcmp(before[i], "10.0.0.3") == 0) {
            assert_string_not_equal(after[i], "10.0.0.3");

        } else {
            assert_string_equal(after[i], before[i]);
        }
    }

    /* weight 0 (disabled): A and B get C's points' share of new points,
     * so they keep most of their keys, not all (12262 of 14012) */

    c2 = three(100, 100, 0, 10000);
    map_keys(c2->upstreams[0], can_all, NULL, after);

    kept = 0;
    of_others = 0;

    for (i = 0; i < KEYS; i++) {
        assert_string_not_equal(after[i], "10.0.0.3");

        if (strcmp(before[i], "10.0.0.3") != 0) {
            of_others++;
            kept += (strcmp(before[i], after[i]) == 0);
        }
    }

    assert_true(kept * 100 >= of_others * 80);

    kong_config_free(c1);
    kong_config_free(c2);
}


static void
test_no_ring_without_hashing(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = load("_format_version: \"3.0\"\n"
               "upstreams:\n"
               "- name: pool\n"
               "  targets:\n"
               "  - target: 10.0.0.1:80\n");

    assert_null(cfg->upstreams[0]->ring);
    assert_int_equal(kong_ring_pick(cfg->upstreams[0], 0, can_all, NULL), -1);

    kong_config_free(cfg);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_xxhash32),
        cmocka_unit_test(test_size_and_points),
        cmocka_unit_test(test_weight_change_moves_few),
        cmocka_unit_test(test_removed_or_refused_target),
        cmocka_unit_test(test_no_ring_without_hashing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
