/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: what links the entities of kong.yml -- references by name or
 * id, uniqueness, invalid references, plugins per scope and their rules,
 * format 1.1/2.1 migration, a service host naming an upstream, skip mode
 * and a missing file.
 */

#include "test_kong_load.h"


/* ---- references and uniqueness ------------------------------------------- */

static void
references_by_name_or_id(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "routes:\n"
                  "- name: by-name\n"
                  "  service: s1\n"
                  "  paths: [/a]\n"
                  "- name: by-id\n"
                  "  service: 0b6a0c6e-0000-4000-8000-000000000002\n"
                  "  paths: [/b]\n"
                  "services:\n"
                  "- name: s1\n"
                  "  host: a.test\n"
                  "- id: 0b6a0c6e-0000-4000-8000-000000000002\n"
                  "  host: b.test\n");

    assert_ptr_equal(route_named(cfg, "by-name")->service,
                     service_named(cfg, "s1"));
    assert_string_equal(route_named(cfg, "by-id")->service->host, "b.test");

    kong_config_free(cfg);
}


static void
uniqueness_violations(void **state)
{
    (void) state;

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- name: foo\n"
             "  host: a.test\n"
             "- name: foo\n"
             "  host: b.test\n",
             "kong.yml:5:3: services[1]: uniqueness violation: 'services' "
             "entity with name set to 'foo' already declared");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  routes:\n"
             "  - name: r1\n"
             "    paths: [/a]\n"
             "- host: b.test\n"
             "  routes:\n"
             "  - name: r1\n"
             "    paths: [/b]\n",
             "kong.yml:9:5: services[1].routes[0]: uniqueness violation: "
             "'routes' entity with name set to 'r1' already declared");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- id: 0b6a0c6e-0000-4000-8000-000000000002\n"
             "  host: a.test\n"
             "- id: 0b6a0c6e-0000-4000-8000-000000000002\n"
             "  host: b.test\n",
             "kong.yml:5:3: services[1]: uniqueness violation: 'services' "
             "entity with primary key set to "
             "'0b6a0c6e-0000-4000-8000-000000000002' already declared");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- id: not-a-uuid\n"
             "  host: a.test\n",
             "kong.yml:3:7: services[0].id: expected a valid UUID");

    load_err("_format_version: \"3.0\"\n"
             "consumers:\n"
             "- username: a\n"
             "  custom_id: conflict\n"
             "- username: b\n"
             "  custom_id: conflict\n",
             "kong.yml:5:3: consumers[1]: uniqueness violation: 'consumers' "
             "entity with custom_id set to 'conflict' already declared");

    load_err("_format_version: \"3.0\"\n"
             "consumers:\n"
             "- tags: [a]\n",
             "kong.yml:3:3: consumers[0]: at least one of these fields must be "
             "non-empty: 'custom_id', 'username'");
}


static void
invalid_references(void **state)
{
    (void) state;

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- name: r1\n"
             "  service: nope\n"
             "  paths: [/]\n",
             "kong.yml:4:12: routes[0].service: invalid reference 'service: "
             "nope' (no such entry in 'services')");

    load_err("_format_version: \"3.0\"\n"
             "targets:\n"
             "- target: 10.0.0.1\n"
             "  upstream: ghost\n",
             "kong.yml:4:13: targets[0].upstream: invalid reference "
             "'upstream: ghost' (no such entry in 'upstreams')");

    load_err("_format_version: \"3.0\"\n"
             "plugins:\n"
             "- name: cors\n"
             "  consumer: nobody\n",
             "kong.yml:4:13: plugins[0].consumer: invalid reference "
             "'consumer: nobody' (no such entry in 'consumers')");
}


/* ---- plugins, consumers: kept for part 2 --------------------------------- */

static void
plugins_are_kept_per_scope(void **state)
{
    kong_config_t    *cfg;
    kong_route_t     *r;
    kong_service_t   *s;
    kong_plugin_t    *p;
    kong_consumer_t  *c;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "services:\n"
                  "- name: s\n"
                  "  host: a.test\n"
                  "  plugins:\n"
                  "  - name: rate-limiting\n"
                  "    config: {minute: 5, policy: local}\n"
                  "  routes:\n"
                  "  - name: r\n"
                  "    paths: [/]\n"
                  "    plugins:\n"
                  "    - name: key-auth\n"
                  "      enabled: false\n"
                  "consumers:\n"
                  "- username: alice\n"
                  "  plugins:\n"
                  "  - name: rate-limiting\n"
                  "    config: {minute: 50}\n"
                  "  keyauth_credentials:\n"
                  "  - key: secret\n"
                  "plugins:\n"
                  "- name: prometheus\n"
                  "- name: cors\n"
                  "  route: r\n"
                  "  protocols: [https]\n"
                  "- name: request-termination\n"
                  "  service: s\n"
                  "  consumer: alice\n"
                  "acls:\n"
                  "- consumer: alice\n"
                  "  group: admins\n");

    s = service_named(cfg, "s");
    r = route_named(cfg, "r");
    c = cfg->consumers[0];

    assert_int_equal(cfg->plugins.n, 6);
    assert_int_equal(cfg->global_plugins.n, 1);
    assert_string_equal(cfg->global_plugins.items[0]->name, "prometheus");

    /* the service's list: its plugins with no route, whatever consumer */
    assert_int_equal(s->plugins.n, 2);
    p = s->plugins.items[0];
    assert_string_equal(p->name, "rate-limiting");
    assert_ptr_equal(p->service, s);
    assert_non_null(p->config);
    assert_non_null(kong_node_get(p->config, "minute"));
    assert_string_equal(p->path, "services[0].plugins[0]");

    assert_int_equal(r->plugins.n, 2);
    assert_string_equal(r->plugins.items[0]->name, "key-auth");
    assert_int_equal(r->plugins.items[0]->enabled, 0);
    assert_string_equal(r->plugins.items[1]->name, "cors");
    assert_int_equal(r->plugins.items[1]->protocols, KONG_PROTO_HTTPS);

    assert_string_equal(c->username, "alice");
    assert_int_equal(c->plugins.n, 1);

    /* two scopes: kept in the overall list with both */
    p = cfg->plugins.items[5];
    assert_string_equal(p->name, "request-termination");
    assert_ptr_equal(p->service, s);
    assert_ptr_equal(p->consumer, c);

    assert_int_equal(cfg->ncredentials, 2);
    assert_string_equal(cfg->credentials[0]->entity, "keyauth_credentials");
    assert_ptr_equal(cfg->credentials[0]->consumer, c);
    assert_string_equal(cfg->credentials[1]->entity, "acls");
    assert_ptr_equal(cfg->credentials[1]->consumer, c);

    kong_config_free(cfg);
}


static void
plugin_rules(void **state)
{
    (void) state;

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  plugins:\n"
             "  - name: cors\n"
             "    service: x\n",
             "kong.yml:6:14: services[0].plugins[0].service: value must be "
             "null");

    load_err("_format_version: \"3.0\"\n"
             "plugins:\n"
             "- config: {}\n",
             "kong.yml:3:3: plugins[0].name: required field missing");

    load_err("_format_version: \"3.0\"\n"
             "plugins:\n"
             "- name: cors\n"
             "  config: [1]\n",
             "kong.yml:4:11: plugins[0].config: expected a record");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- name: s\n"
             "  host: a.test\n"
             "  plugins:\n"
             "  - name: cors\n"
             "plugins:\n"
             "- name: cors\n"
             "  service: s\n",
             "kong.yml:8:3: plugins[0]: uniqueness violation: 'plugins' "
             "entity with name set to 'cors' already declared for the same "
             "route, service and consumer");
}


/* ---- format 1.1 / 2.1 ---------------------------------------------------- */

static void
legacy_formats_migrate_paths(void **state)
{
    kong_config_t  *cfg;
    kong_route_t   *r;

    (void) state;

    cfg = load_ok("_format_version: \"2.1\"\n"
                  "routes:\n"
                  "- name: r\n"
                  "  paths:\n"
                  "  - /plain/path\n"
                  "  - /items/\\d+\n"
                  "  - /a%2Fb(x)\n"
                  "  - /x/./y\n");

    r = route_named(cfg, "r");
    assert_int_equal(r->npaths, 4);
    assert_int_equal(r->paths[0].regex, 0);
    assert_string_equal(r->paths[0].path, "/plain/path");
    assert_int_equal(r->paths[1].regex, 1);
    assert_string_equal(r->paths[1].path, "/items/\\d+");
    assert_int_equal(r->paths[2].regex, 1);
    assert_string_equal(r->paths[2].path, "/a/b(x)");
    assert_int_equal(r->paths[3].regex, 0);
    assert_string_equal(r->paths[3].path, "/x/y");

    kong_config_free(cfg);

    /* 3.0: only "~" makes a regex; the same path is a plain prefix */
    cfg = load_ok("_format_version: \"3.0\"\n"
                  "routes:\n"
                  "- name: r\n"
                  "  paths: [/items/\\d+]\n");

    r = route_named(cfg, "r");
    assert_int_equal(r->paths[0].regex, 0);
    assert_string_equal(r->paths[0].path, "/items/\\d+");

    kong_config_free(cfg);
}


/* ---- links and skip mode ------------------------------------------------- */

static void
service_host_naming_an_upstream_uses_it(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "services:\n"
                  "- name: s\n"
                  "  host: backend\n"
                  "- name: t\n"
                  "  host: other.test\n"
                  "upstreams:\n"
                  "- name: backend\n"
                  "  targets: [{target: 127.0.0.1:9001}]\n");

    assert_ptr_equal(service_named(cfg, "s")->upstream, cfg->upstreams[0]);
    assert_null(service_named(cfg, "t")->upstream);

    kong_config_free(cfg);
}


static void
skip_invalid_loads_the_rest(void **state)
{
    const char     *yaml;
    kong_config_t  *cfg;
    kong_errors_t   errs;

    (void) state;

    yaml = "_format_version: \"3.0\"\n"
           "services:\n"
           "- name: bad\n"
           "  host: a.test\n"
           "  port: 99999\n"
           "  routes:\n"
           "  - name: child-of-bad\n"
           "    paths: [/bad]\n"
           "- name: good\n"
           "  host: b.test\n"
           "  routes:\n"
           "  - name: ok\n"
           "    paths: [/ok]\n"
           "routes:\n"
           "- name: refers-to-bad\n"
           "  service: bad\n"
           "  paths: [/x]\n"
           "- name: broken\n"
           "  paths: [nope]\n";

    load_err(yaml, "kong.yml:5:9: services[0].port: value should be between "
                   "0 and 65535");

    cfg = kong_load_string("kong.yml", yaml, strlen(yaml),
                           KONG_LOAD_SKIP_INVALID, &errs);
    assert_non_null(cfg);
    assert_int_equal(errs.n, 2);
    assert_int_equal(cfg->nservices, 1);
    assert_string_equal(cfg->services[0]->name, "good");
    assert_int_equal(cfg->nroutes, 1);
    assert_string_equal(cfg->routes[0]->name, "ok");

    kong_errors_free(&errs);
    kong_config_free(cfg);
}


static void
load_file_reports_missing_file(void **state)
{
    char            line[512];
    kong_config_t  *cfg;
    kong_errors_t   errs;

    (void) state;

    cfg = kong_load_file("/nonexistent/kong.yml", 0, &errs);
    assert_null(cfg);
    assert_int_equal(errs.n, 1);
    kong_error_format(&errs, 0, line, sizeof(line));
    assert_string_equal(line, "/nonexistent/kong.yml: cannot open: No such "
                              "file or directory");
    kong_errors_free(&errs);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(references_by_name_or_id),
        cmocka_unit_test(uniqueness_violations),
        cmocka_unit_test(invalid_references),
        cmocka_unit_test(plugins_are_kept_per_scope),
        cmocka_unit_test(plugin_rules),
        cmocka_unit_test(legacy_formats_migrate_paths),
        cmocka_unit_test(service_host_naming_an_upstream_uses_it),
        cmocka_unit_test(skip_invalid_loads_the_rest),
        cmocka_unit_test(load_file_reports_missing_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
