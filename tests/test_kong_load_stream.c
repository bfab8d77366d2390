/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat's loader on big files: the entities of a top-level list are
 * checked as the parser finishes each and their YAML nodes freed, so a
 * configuration's memory is that of what it keeps (issue 11: a million
 * credentials).  What a streamed item must still give: anchors used by
 * later items, plugin configurations, errors with their positions, file
 * order; and the consumer index the plugins look consumers up in.
 */

#include "test_kong_load.h"

#include <unistd.h>


/* n consumers, each with a keyauth credential; the text is malloc()ed */
static char *
consumers_yaml(size_t n)
{
    char    *p, *s;
    size_t   i, size;

    size = 64 + n * 96;
    s = malloc(size);
    assert_non_null(s);

    p = s + sprintf(s, "_format_version: \"3.0\"\nconsumers:\n");

    for (i = 0; i < n; i++) {
        p += sprintf(p, "- username: user-%zu\n"
                        "  keyauth_credentials:\n"
                        "  - key: key-%08zx-0123456789abcdef\n", i, i);
    }

    return s;
}


/*
 * The regression: the whole YAML tree stayed in the configuration's pool,
 * about 1.5 KB a consumer with one key; what is kept now is the consumer,
 * the credential, their strings and the index.
 */
static void
memory_is_what_the_configuration_keeps(void **state)
{
    char           *yaml;
    size_t          per;
    kong_config_t  *cfg;

    (void) state;

    yaml = consumers_yaml(20000);
    cfg = load_ok(yaml);
    free(yaml);

    assert_int_equal(cfg->nconsumers, 20000);
    assert_int_equal(cfg->ncredentials, 20000);

    per = kong_pool_size(cfg->pool) / 20000;
    print_message("pool: %zu bytes a consumer\n", per);
    assert_true(per < 512);

    kong_config_free(cfg);
}


/* kong_load_file() parses as it reads; the same result as from a string */
static void
a_file_loads_as_its_text_does(void **state)
{
    int                       fd;
    char                     *yaml, name[] = "/tmp/test_kong_stream.XXXXXX";
    size_t                    len;
    kong_config_t            *cfg;
    kong_errors_t             errs;
    const kong_consumer_t    *c;

    (void) state;

    yaml = consumers_yaml(3000);
    len = strlen(yaml);

    fd = mkstemp(name);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, len), (ssize_t) len);
    close(fd);
    free(yaml);

    cfg = kong_load_file(name, 0, &errs);
    unlink(name);

    assert_non_null(cfg);
    assert_int_equal(errs.n, 0);
    kong_errors_free(&errs);

    assert_int_equal(cfg->nconsumers, 3000);
    assert_int_equal(cfg->ncredentials, 3000);
    assert_string_equal(cfg->credentials[2999]->key,
                        "key-00000bb7-0123456789abcdef");

    c = kong_consumer_find(cfg, "user-2999", 9);
    assert_ptr_equal(c, cfg->credentials[2999]->consumer);

    kong_config_free(cfg);
}


/* an anchor in one consumer, used by the next ones */
static void
anchors_outlive_their_item(void **state)
{
    size_t          i;
    kong_config_t  *cfg;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "consumers:\n"
                  "- username: alice\n"
                  "  custom_id: &cid shared-custom-id\n"
                  "  tags: &tags [a, b]\n"
                  "- username: bob\n"
                  "  custom_id: bob-id\n"
                  "  tags: *tags\n"
                  "- username: carol\n"
                  "  tags: [c, d, e, f, g, h, i, j, k, l, m, n, o, p]\n"
                  "- username: *cid\n"
                  "  tags: *tags\n");

    assert_int_equal(cfg->nconsumers, 4);

    for (i = 0; i < cfg->nconsumers; i++) {
        assert_non_null(cfg->consumers[i]->username);
    }

    assert_ptr_equal(kong_consumer_find(cfg, "shared-custom-id", 16),
                     cfg->consumers[3]);

    kong_config_free(cfg);

    /* the same custom_id twice is an error at the alias's position */
    load_err("_format_version: \"3.0\"\n"
             "consumers:\n"
             "- username: alice\n"
             "  custom_id: &cid x\n"
             "- username: bob\n"
             "  custom_id: *cid\n",
             "kong.yml:5:3: consumers[1]: uniqueness violation: "
             "'consumers' entity with custom_id set to 'x' already "
             "declared");
}


/* a plugin's config node is kept with the configuration */
static void
plugin_configs_in_items_are_kept(void **state)
{
    size_t                i, n;
    kong_config_t        *cfg;
    const kong_node_t    *v;
    const kong_plugin_t  *p;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "consumers:\n"
                  "- username: alice\n"
                  "  plugins:\n"
                  "  - name: rate-limiting\n"
                  "    config: {minute: 5, hour: 100}\n"
                  "- username: bob\n"
                  "  tags: [a, b, c, d, e, f, g, h, i, j, k, l, m, n]\n"
                  "- username: carol\n"
                  "  tags: [o, p, q, r, s, t, u, v, w, x, y, z]\n"
                  "services:\n"
                  "- name: s\n"
                  "  host: s.test\n"
                  "  plugins:\n"
                  "  - name: rate-limiting\n"
                  "    config: {second: 7}\n"
                  "  routes:\n"
                  "  - name: r\n"
                  "    paths: [/r]\n"
                  "upstreams:\n"
                  "- name: u\n"
                  "  healthchecks:\n"
                  "    active:\n"
                  "      headers: {x-probe: [yes]}\n"
                  "- name: v\n"
                  "  tags: [a, b, c, d, e, f, g, h, i, j, k, l, m, n]\n");

    n = 0;

    for (i = 0; i < cfg->plugins.n; i++) {
        p = cfg->plugins.items[i];
        assert_non_null(p->config);

        if (p->consumer) {
            v = kong_node_get(p->config, "minute");
            assert_non_null(v);
            assert_string_equal(v->str, "5");
            n++;

        } else {
            v = kong_node_get(p->config, "second");
            assert_non_null(v);
            assert_string_equal(v->str, "7");
            n++;
        }
    }

    assert_int_equal(n, 2);

    assert_int_equal(cfg->nupstreams, 2);
    v = cfg->upstreams[0]->healthchecks.active.headers;
    assert_non_null(v);
    assert_non_null(kong_node_get(v, "x-probe"));

    assert_ptr_equal(route_named(cfg, "r")->service, service_named(cfg, "s"));

    kong_config_free(cfg);
}


/* a list before "_format_version" is checked after the parse, and the
 * lists after it too, so that entities stay in file order */
static void
format_version_after_the_lists(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = load_ok("services:\n"
                  "- name: b\n"
                  "  host: b.test\n"
                  "routes:\n"
                  "- name: rb\n"
                  "  service: b\n"
                  "  paths: [/b]\n"
                  "_format_version: \"3.0\"\n"
                  "consumers:\n"
                  "- username: a\n");

    assert_int_equal(cfg->nconsumers, 1);
    assert_ptr_equal(route_named(cfg, "rb")->service,
                     service_named(cfg, "b"));

    kong_config_free(cfg);
}


static void
format_version_between_the_lists(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = load_ok("services:\n"
                  "- name: b\n"
                  "  host: b.test\n"
                  "_format_version: \"3.0\"\n"
                  "routes:\n"
                  "- name: rb\n"
                  "  service: b\n"
                  "  paths: [/b]\n"
                  "upstreams:\n"
                  "- name: u\n");

    assert_int_equal(cfg->nservices, 1);
    assert_ptr_equal(route_named(cfg, "rb")->service,
                     service_named(cfg, "b"));
    assert_int_equal(cfg->nupstreams, 1);

    kong_config_free(cfg);

    /* without a version, only that error (the lists are not checked) */
    load_err("consumers:\n"
             "- username: 5\n"
             "services: []\n",
             "kong.yml:1:1: _format_version: required field missing");

    /* a legacy version given first: its rules apply to streamed lists */
    load_err("_format_version: \"4.0\"\n"
             "consumers:\n"
             "- username: a\n",
             "kong.yml:1:18: _format_version: expected one of: 1.1, 2.1, "
             "3.0");
}


/* errors found in items before a YAML error are not reported with it */
static void
a_yaml_error_is_alone(void **state)
{
    char            line[1024];
    const char     *yaml;
    kong_config_t  *cfg;
    kong_errors_t   errs;

    (void) state;

    yaml = "_format_version: \"3.0\"\n"
           "services:\n"
           "- name: s\n"
           "  host: s.test\n"
           "  port: x\n"
           "- name: t\n"
           "  nope: 1\n"
           "routes: [a, b\n";

    cfg = kong_load_string("kong.yml", yaml, strlen(yaml), 0, &errs);

    assert_null(cfg);
    assert_int_equal(errs.n, 1);
    assert_int_equal(errs.dropped, 0);
    kong_error_format(&errs, 0, line, sizeof(line));
    assert_true(strncmp(line, "kong.yml:9:1: invalid YAML:", 27) == 0);

    kong_errors_free(&errs);

    /* and without the YAML error, the items' errors, sorted */
    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- name: s\n"
             "  host: s.test\n"
             "  port: x\n"
             "- name: t\n"
             "  host: t.test\n"
             "  nope: 1\n",
             "kong.yml:8:3: services[1].nope: unknown field");

    load_err_flags("_format_version: \"3.0\"\n"
                   "services:\n"
                   "- name: s\n"
                   "  host: s.test\n"
                   "  port: x\n"
                   "- name: t\n"
                   "  host: t.test\n",
                   KONG_LOAD_SKIP_INVALID,
                   "kong.yml:5:9: services[0].port: expected an integer");
}


/* by id or by username; a name claimed by an earlier consumer stays its
 * (as when the index was a kong_map_t, which kept the first) */
static void
consumer_index(void **state)
{
    kong_config_t          *cfg;
    const kong_consumer_t  *a, *b, *c;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "consumers:\n"
                  "- username: 2f4b3a1e-0000-4000-8000-000000000002\n"
                  "  id: 2f4b3a1e-0000-4000-8000-000000000001\n"
                  "- username: bob\n"
                  "  id: 2f4b3a1e-0000-4000-8000-000000000002\n"
                  "- custom_id: carol\n");

    a = cfg->consumers[0];
    b = cfg->consumers[1];
    c = cfg->consumers[2];

    assert_ptr_equal(kong_consumer_find(cfg, "bob", 3), b);
    assert_ptr_equal(kong_consumer_find(cfg, a->id, strlen(a->id)), a);

    /* b's id is a's username too: a, first in the file, keeps it */
    assert_ptr_equal(kong_consumer_find(cfg, b->id, strlen(b->id)), a);

    /* a generated id; a custom_id is not a name to find */
    assert_non_null(c->id);
    assert_ptr_equal(kong_consumer_find(cfg, c->id, strlen(c->id)), c);
    assert_null(kong_consumer_find(cfg, "carol", 5));

    /* a prefix, or a name with a NUL in it, is not a name */
    assert_null(kong_consumer_find(cfg, "bo", 2));
    assert_null(kong_consumer_find(cfg, "bob\0x", 5));
    assert_null(kong_consumer_find(cfg, "", 0));

    kong_config_free(cfg);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(memory_is_what_the_configuration_keeps),
        cmocka_unit_test(a_file_loads_as_its_text_does),
        cmocka_unit_test(anchors_outlive_their_item),
        cmocka_unit_test(plugin_configs_in_items_are_kept),
        cmocka_unit_test(format_version_after_the_lists),
        cmocka_unit_test(format_version_between_the_lists),
        cmocka_unit_test(a_yaml_error_is_alone),
        cmocka_unit_test(consumer_index),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
