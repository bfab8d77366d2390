/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: the correlation-id plugin's engine against Kong 3.x's
 * behaviour (kong/plugins/correlation-id/handler.lua and its spec): the
 * uuid, uuid#counter and tracker formats, a request's own id kept, echo.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kong_corrid.h"


static void
is_uuid(const char *s)
{
    size_t  i;

    assert_int_equal(strlen(s), 36);
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            assert_int_equal(s[i], '-');
        } else {
            assert_non_null(strchr("0123456789abcdef", s[i]));
        }
    }
    assert_int_equal(s[14], '4');
    assert_non_null(strchr("89ab", s[19]));
}


static void
generators(void **state)
{
    char                   a[KONG_CORRID_MAX], b[KONG_CORRID_MAX];
    char                   want[KONG_CORRID_MAX];
    size_t                 n;
    kong_corrid_worker_t   w;
    kong_corrid_tracker_t  t;

    (void) state;
    kong_corrid_worker_init(&w, 0);
    is_uuid(w.uuid);

    n = kong_corrid_generate(&w, KONG_CORRID_UUID, NULL, a);
    assert_int_equal(n, 36);
    is_uuid(a);
    kong_corrid_generate(&w, KONG_CORRID_UUID, NULL, b);
    assert_string_not_equal(a, b);

    /* uuid#counter: the worker's uuid, "#", 1, 2, ... */
    kong_corrid_generate(&w, KONG_CORRID_UUID_COUNTER, NULL, a);
    snprintf(want, sizeof(want), "%s#1", w.uuid);
    assert_string_equal(a, want);
    n = kong_corrid_generate(&w, KONG_CORRID_UUID_COUNTER, NULL, a);
    snprintf(want, sizeof(want), "%s#2", w.uuid);
    assert_string_equal(a, want);
    assert_int_equal(n, 38);

    /* tracker */
    t.server_addr = "127.0.0.1";
    t.server_addr_len = 9;
    t.server_port = 8000;
    t.pid = 4242;
    t.connection = 17;
    t.connection_requests = 3;
    t.now = 1700000000.1234;
    kong_corrid_generate(&w, KONG_CORRID_TRACKER, &t, a);
    assert_string_equal(a, "127.0.0.1-8000-4242-17-3-1700000000.123");

    assert_int_equal(kong_corrid_generator("uuid"), KONG_CORRID_UUID);
    assert_int_equal(kong_corrid_generator("uuid#counter"),
                     KONG_CORRID_UUID_COUNTER);
    assert_int_equal(kong_corrid_generator("tracker"), KONG_CORRID_TRACKER);
    assert_int_equal(kong_corrid_generator("UUID"), -1);
}


static void
access_phase(void **state)
{
    char                  first[KONG_CORRID_MAX];
    kong_corrid_conf_t    conf;
    kong_corrid_worker_t  w1, w2;
    kong_corrid_result_t  res;

    (void) state;
    kong_corrid_conf_default(&conf);
    assert_string_equal(conf.header_name, "Kong-Request-ID");
    assert_int_equal(conf.generator, KONG_CORRID_UUID_COUNTER);
    assert_false(conf.echo_downstream);

    kong_corrid_worker_init(&w1, 1);
    kong_corrid_worker_init(&w2, 2);
    assert_string_not_equal(w1.uuid, w2.uuid);

    /* no header: generated, set upstream, not echoed by default */
    kong_corrid_access(&conf, &w1, NULL, 0, NULL, &res);
    assert_true(res.set_upstream);
    assert_false(res.echo);
    assert_int_equal(res.len, strlen(res.buf));
    memcpy(first, res.value, res.len + 1);

    /* the request's own id is kept, even empty */
    kong_corrid_access(&conf, &w1, "abc", 3, NULL, &res);
    assert_false(res.set_upstream);
    assert_int_equal(res.len, 3);
    assert_memory_equal(res.value, "abc", 3);
    kong_corrid_access(&conf, &w1, "", 0, NULL, &res);
    assert_false(res.set_upstream);
    assert_int_equal(res.len, 0);

    /* echo_downstream; the counter went on */
    conf.echo_downstream = 1;
    kong_corrid_access(&conf, &w1, NULL, 0, NULL, &res);
    assert_true(res.echo);
    assert_string_equal(res.value + 37, "2");
    assert_string_equal(first + 37, "1");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(generators),
        cmocka_unit_test(access_phase),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
