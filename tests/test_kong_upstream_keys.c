/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: what the glue reads of a Kong upstream beyond the schema --
 * the captures of the regex path a request matched (hash_on: uri_capture)
 * and the headers of an active health check.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kong.h"


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


static void
match(kong_config_t *cfg, const char *uri, kong_match_t *m, char *buf,
    size_t size)
{
    kong_request_t  r;

    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.method_len = 3;
    r.uri = uri;
    r.uri_len = strlen(uri);
    r.port = 80;

    assert_int_equal(kong_match(cfg, &r, m, buf, size), 0);
    assert_int_equal(m->status, 0);
}


static void
capture_is(const kong_match_t *m, const char *name, const char *want)
{
    size_t       len;
    const char  *v;

    if (want == NULL) {
        assert_int_equal(kong_match_capture(m, name, &v, &len), 0);
        return;
    }

    assert_int_equal(kong_match_capture(m, name, &v, &len), 1);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(v, want, len);
}


static void
uri_captures_by_name_and_number(void **state)
{
    char            buf[4096];
    kong_match_t    m;
    kong_config_t  *cfg;

    (void) state;

    cfg = load("_format_version: \"3.0\"\n"
               "services:\n"
               "- name: s\n"
               "  url: http://127.0.0.1:8000\n"
               "  routes:\n"
               "  - paths: [\"~/u/(?<user>[a-z0-9]+)(/(?<rest>x+))?\"]\n"
               "  - paths: [/plain]\n");

    match(cfg, "/u/ann42/item", &m, buf, sizeof(buf));
    capture_is(&m, "user", "ann42");
    capture_is(&m, "1", "ann42");
    capture_is(&m, "0", "/u/ann42");
    capture_is(&m, "rest", NULL);      /* did not take part */
    capture_is(&m, "nosuch", NULL);
    capture_is(&m, "9", NULL);

    match(cfg, "/u/bob/xx", &m, buf, sizeof(buf));
    capture_is(&m, "user", "bob");
    capture_is(&m, "rest", "xx");

    match(cfg, "/plain/y", &m, buf, sizeof(buf));
    capture_is(&m, "user", NULL);      /* a prefix match has none */

    kong_config_free(cfg);
}


static void
active_check_headers(void **state)
{
    const char                 *name, *value;
    kong_config_t              *cfg;
    const kong_active_check_t  *ac;

    (void) state;

    cfg = load("_format_version: \"3.0\"\n"
               "upstreams:\n"
               "- name: pool\n"
               "  healthchecks:\n"
               "    active:\n"
               "      headers:\n"
               "        x-one: [a, b]\n"
               "        x-two: c\n");

    ac = &cfg->upstreams[0]->healthchecks.active;

    assert_int_equal(kong_check_header(ac->headers, 0, 0, &name, &value), 1);
    assert_string_equal(name, "x-one");
    assert_string_equal(value, "a");
    assert_int_equal(kong_check_header(ac->headers, 0, 1, &name, &value), 1);
    assert_string_equal(value, "b");
    assert_int_equal(kong_check_header(ac->headers, 0, 2, &name, &value), 0);

    assert_int_equal(kong_check_header(ac->headers, 1, 0, &name, &value), 1);
    assert_string_equal(name, "x-two");
    assert_string_equal(value, "c");
    assert_int_equal(kong_check_header(ac->headers, 1, 1, &name, &value), 0);

    assert_int_equal(kong_check_header(ac->headers, 2, 0, &name, &value), -1);
    assert_int_equal(kong_check_header(NULL, 0, 0, &name, &value), -1);

    kong_config_free(cfg);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uri_captures_by_name_and_number),
        cmocka_unit_test(active_check_headers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
