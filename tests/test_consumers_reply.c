/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Redis consumer source's replies (farm_reply_tiers, farm_reply_keys):
 * what reaches the key table, and what is skipped.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ngx_http_farm_consumers_reply.h"


/* sha256("k-1"), as sha256sum writes it */
#define K1  "7c35f6b0d4fd3ea9c1b3bba0a1fa6d2e7b6b19b7d3c0e3bb3b66d4fc1a5b078b"
#define K1U "7C35F6B0D4FD3EA9C1B3BBA0A1FA6D2E7B6B19B7D3C0E3BB3B66D4FC1A5B078B"
#define K2  "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


static void
elts(farm_reply_elt_t *e, const char **s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        e[i].data = s[i];
        e[i].len = s[i] ? strlen(s[i]) : 0;
    }
}


static void
keys_are_grouped_by_consumer_with_tiers(void **state)
{
    size_t              nt, skipped;
    farm_consumer_t    *tiers;
    farm_reply_elt_t    e[8];
    farm_reply_keys_t   out;
    const char         *t[] = { "zed", "silver", "alice", "gold" };
    const char         *k[] = { K2, "zed", K1, "alice" };

    (void) state;

    skipped = 0;
    elts(e, t, 4);
    assert_int_equal(farm_reply_tiers(e, 4, &tiers, &nt, &skipped), 0);
    assert_int_equal(nt, 2);
    assert_memory_equal(tiers[0].name, "alice", 5);

    elts(e, k, 4);
    assert_int_equal(farm_reply_keys(e, 4, tiers, nt, &out, &skipped), 0);
    assert_int_equal(skipped, 0);
    assert_int_equal(out.nconsumers, 2);
    assert_int_equal(out.nkeys, 2);

    assert_int_equal(out.consumers[0].name_len, 5);
    assert_memory_equal(out.consumers[0].name, "alice", 5);
    assert_memory_equal(out.consumers[0].tier, "gold", 4);
    assert_memory_equal(out.consumers[1].tier, "silver", 6);

    assert_int_equal(out.keys[0].consumer, 0);
    assert_int_equal(out.keys[0].digest[0], 0x7c);
    assert_int_equal(out.keys[0].digest[31], 0x8b);
    assert_int_equal(out.keys[1].consumer, 1);

    farm_reply_keys_free(&out);
    free(tiers);
}


static void
bad_entries_are_skipped_and_counted(void **state)
{
    size_t              nt, skipped;
    farm_consumer_t    *tiers;
    farm_reply_elt_t    e[12];
    farm_reply_keys_t   out;
    const char         *t[] = { "a", "bad tier", NULL, "x", "b", "ok", "odd" };
    const char         *k[] = { "plain-text-key", "mallory",
                                K1, "",
                                K2, NULL,
                                K1, "bob\n",
                                K2, "b" };

    (void) state;

    skipped = 0;
    elts(e, t, 7);
    assert_int_equal(farm_reply_tiers(e, 7, &tiers, &nt, &skipped), 0);
    assert_int_equal(nt, 1);
    assert_int_equal(skipped, 2);

    skipped = 0;
    elts(e, k, 10);
    assert_int_equal(farm_reply_keys(e, 10, tiers, nt, &out, &skipped), 0);
    assert_int_equal(skipped, 4);
    assert_int_equal(out.nkeys, 1);
    assert_memory_equal(out.consumers[0].tier, "ok", 2);

    farm_reply_keys_free(&out);
    free(tiers);
}


/*
 * F6: the same key in upper- and lower-case hex under two consumers.  Only
 * lower-case hex is a digest: the upper-case entry is skipped and counted,
 * so the key stays with one consumer.
 */
static void
upper_case_hex_is_skipped(void **state)
{
    size_t              skipped;
    farm_reply_elt_t    e[4];
    farm_reply_keys_t   out;
    const char         *k[] = { K1, "zed", K1U, "alice" };

    (void) state;

    skipped = 0;
    elts(e, k, 4);
    assert_int_equal(farm_reply_keys(e, 4, NULL, 0, &out, &skipped), 0);

    assert_int_equal(out.nkeys, 1);
    assert_int_equal(out.nconsumers, 1);
    assert_int_equal(skipped, 1);
    assert_memory_equal(out.consumers[0].name, "zed", 3);

    farm_reply_keys_free(&out);
}


static void
empty_replies(void **state)
{
    size_t              nt, skipped;
    farm_consumer_t    *tiers;
    farm_reply_keys_t   out;

    (void) state;

    skipped = 0;
    assert_int_equal(farm_reply_tiers(NULL, 0, &tiers, &nt, &skipped), 0);
    assert_int_equal(nt, 0);
    assert_int_equal(farm_reply_keys(NULL, 0, tiers, nt, &out, &skipped), 0);
    assert_int_equal(out.nkeys, 0);
    assert_int_equal(skipped, 0);

    farm_reply_keys_free(&out);
    free(tiers);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_are_grouped_by_consumer_with_tiers),
        cmocka_unit_test(bad_entries_are_skipped_and_counted),
        cmocka_unit_test(upper_case_hex_is_skipped),
        cmocka_unit_test(empty_replies),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
