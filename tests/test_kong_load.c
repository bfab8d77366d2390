/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: loading kong.yml -- Kong's defaults for services, routes,
 * upstreams, health checks and targets, the url shorthand, and the rules
 * of upstreams and targets.  Errors of services, routes and the file are in
 * test_kong_load_errors.c; references, plugins and migration in
 * test_kong_load_refs.c.
 */

#include "test_kong_load.h"


/* ---- defaults ------------------------------------------------------------ */

static void
service_defaults_are_kongs(void **state)
{
    kong_config_t   *cfg;
    kong_service_t  *s;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "services:\n"
                  "- name: s\n"
                  "  host: example.com\n");

    assert_int_equal(cfg->nservices, 1);
    s = cfg->services[0];
    assert_int_equal(s->protocol, KONG_PROTO_HTTP);
    assert_string_equal(s->host, "example.com");
    assert_int_equal(s->port, 80);
    assert_null(s->path);
    assert_int_equal(s->retries, 5);
    assert_int_equal(s->connect_timeout, 60000);
    assert_int_equal(s->write_timeout, 60000);
    assert_int_equal(s->read_timeout, 60000);
    assert_int_equal(s->enabled, 1);
    assert_int_equal(s->tls_verify, -1);
    assert_null(s->upstream);
    assert_int_equal(s->pos.line, 3);
    assert_int_equal(s->pos.col, 3);
    assert_int_equal(cfg->transform, 1);

    kong_config_free(cfg);
}


static void
url_shorthand_fills_and_wins(void **state)
{
    kong_config_t   *cfg;
    kong_service_t  *s;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "services:\n"
                  "- name: a\n"
                  "  url: https://example.com:8000/hello/world\n"
                  "- name: b\n"
                  "  url: http://x\n"
                  "- name: c\n"
                  "  url: http://x/\n"
                  "- name: d\n"
                  "  url: https://secure.test\n"
                  "- name: e\n"
                  "  url: http://real.test:81/p\n"
                  "  host: ignored.test\n"
                  "  port: 9999\n"
                  "  path: /ignored\n"
                  "  protocol: https\n");

    s = service_named(cfg, "a");
    assert_int_equal(s->protocol, KONG_PROTO_HTTPS);
    assert_string_equal(s->host, "example.com");
    assert_int_equal(s->port, 8000);
    assert_string_equal(s->path, "/hello/world");

    s = service_named(cfg, "b");
    assert_null(s->path);
    assert_int_equal(s->port, 80);

    s = service_named(cfg, "c");
    assert_string_equal(s->path, "/");

    s = service_named(cfg, "d");
    assert_int_equal(s->protocol, KONG_PROTO_HTTPS);
    assert_int_equal(s->port, 443);

    s = service_named(cfg, "e");
    assert_int_equal(s->protocol, KONG_PROTO_HTTP);
    assert_string_equal(s->host, "real.test");
    assert_int_equal(s->port, 81);
    assert_string_equal(s->path, "/p");

    kong_config_free(cfg);
}


static void
route_defaults_are_kongs(void **state)
{
    kong_config_t  *cfg;
    kong_route_t   *r;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "routes:\n"
                  "- name: r\n"
                  "  paths: [/]\n");

    r = route_named(cfg, "r");
    assert_int_equal(r->protocols, KONG_PROTO_HTTP | KONG_PROTO_HTTPS);
    assert_int_equal(r->strip_path, 1);
    assert_int_equal(r->preserve_host, 0);
    assert_int_equal(r->regex_priority, 0);
    assert_int_equal(r->path_handling, 0);
    assert_int_equal(r->https_redirect_status_code, 426);
    assert_int_equal(r->request_buffering, 1);
    assert_int_equal(r->response_buffering, 1);
    assert_null(r->service);
    assert_string_equal(r->path_in_file, "routes[0]");

    kong_config_free(cfg);
}


static void
upstream_defaults_and_healthchecks(void **state)
{
    kong_config_t        *cfg;
    kong_upstream_t      *u;
    kong_active_check_t  *a;
    kong_passive_check_t *p;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "upstreams:\n"
                  "- name: backend\n");

    u = cfg->upstreams[0];
    assert_int_equal(u->algorithm, KONG_ALG_ROUND_ROBIN);
    assert_int_equal(u->hash_on, KONG_HASH_NONE);
    assert_int_equal(u->hash_fallback, KONG_HASH_NONE);
    assert_int_equal(u->slots, 10000);
    assert_string_equal(u->hash_on_cookie_path, "/");
    assert_int_equal(u->use_srv_name, 0);
    assert_true(u->healthchecks.threshold == 0);

    a = &u->healthchecks.active;
    assert_int_equal(a->type, KONG_PROTO_HTTP);
    assert_true(a->timeout == 1);
    assert_int_equal(a->concurrency, 10);
    assert_string_equal(a->http_path, "/");
    assert_int_equal(a->https_verify_certificate, 1);
    assert_true(a->healthy_interval == 0);
    assert_true(a->unhealthy_interval == 0);
    assert_int_equal(a->healthy_successes, 0);
    assert_int_equal(a->unhealthy_http_failures, 0);
    assert_int_equal(a->healthy_http_statuses.n, 2);
    assert_int_equal(a->healthy_http_statuses.items[1], 302);
    assert_int_equal(a->unhealthy_http_statuses.n, 8);
    assert_int_equal(a->unhealthy_http_statuses.items[0], 429);
    assert_int_equal(a->unhealthy_http_statuses.items[7], 505);

    p = &u->healthchecks.passive;
    assert_int_equal(p->healthy_http_statuses.n, 19);
    assert_int_equal(p->healthy_http_statuses.items[9], 226);
    assert_int_equal(p->unhealthy_http_statuses.n, 3);
    assert_int_equal(p->unhealthy_http_statuses.items[2], 503);

    kong_config_free(cfg);
}


static void
healthchecks_every_field(void **state)
{
    kong_config_t        *cfg;
    kong_upstream_t      *u;
    kong_active_check_t  *a;
    kong_passive_check_t *p;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "upstreams:\n"
                  "- name: backend\n"
                  "  healthchecks:\n"
                  "    threshold: 55\n"
                  "    active:\n"
                  "      type: https\n"
                  "      timeout: 0.5\n"
                  "      concurrency: 4\n"
                  "      http_path: /status\n"
                  "      https_sni: check.test\n"
                  "      https_verify_certificate: false\n"
                  "      headers: {x-probe: [yes]}\n"
                  "      healthy:\n"
                  "        interval: 2\n"
                  "        http_statuses: [200]\n"
                  "        successes: 3\n"
                  "      unhealthy:\n"
                  "        interval: 1\n"
                  "        http_statuses: [500]\n"
                  "        tcp_failures: 4\n"
                  "        timeouts: 5\n"
                  "        http_failures: 6\n"
                  "    passive:\n"
                  "      type: tcp\n"
                  "      healthy: {successes: 7, http_statuses: [201]}\n"
                  "      unhealthy: {tcp_failures: 8, timeouts: 9,\n"
                  "                  http_failures: 10,\n"
                  "                  http_statuses: [502]}\n");

    u = cfg->upstreams[0];
    a = &u->healthchecks.active;
    p = &u->healthchecks.passive;

    assert_true(u->healthchecks.threshold == 55);
    assert_int_equal(a->type, KONG_PROTO_HTTPS);
    assert_true(a->timeout == 0.5);
    assert_int_equal(a->concurrency, 4);
    assert_string_equal(a->http_path, "/status");
    assert_string_equal(a->https_sni, "check.test");
    assert_int_equal(a->https_verify_certificate, 0);
    assert_non_null(a->headers);
    assert_true(a->healthy_interval == 2);
    assert_int_equal(a->healthy_http_statuses.n, 1);
    assert_int_equal(a->healthy_successes, 3);
    assert_true(a->unhealthy_interval == 1);
    assert_int_equal(a->unhealthy_http_statuses.items[0], 500);
    assert_int_equal(a->unhealthy_tcp_failures, 4);
    assert_int_equal(a->unhealthy_timeouts, 5);
    assert_int_equal(a->unhealthy_http_failures, 6);
    assert_int_equal(p->type, KONG_PROTO_TCP);
    assert_int_equal(p->healthy_successes, 7);
    assert_int_equal(p->healthy_http_statuses.items[0], 201);
    assert_int_equal(p->unhealthy_tcp_failures, 8);
    assert_int_equal(p->unhealthy_timeouts, 9);
    assert_int_equal(p->unhealthy_http_failures, 10);
    assert_int_equal(p->unhealthy_http_statuses.items[0], 502);

    kong_config_free(cfg);
}


static void
healthcheck_errors_name_the_nested_field(void **state)
{
    (void) state;

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: backend\n"
             "  healthchecks:\n"
             "    active:\n"
             "      unhealthy:\n"
             "        http_statuses: [500, 99]\n",
             "kong.yml:7:30: upstreams[0].healthchecks.active.unhealthy."
             "http_statuses[1]: value should be between 100 and 999");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: backend\n"
             "  healthchecks:\n"
             "    passive:\n"
             "      healthy: {successes: 256}\n",
             "kong.yml:6:28: upstreams[0].healthchecks.passive.healthy."
             "successes: value should be between 0 and 255");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: backend\n"
             "  healthchecks:\n"
             "    active:\n"
             "      http_path: health\n",
             "kong.yml:6:18: upstreams[0].healthchecks.active.http_path: "
             "should start with: /");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: backend\n"
             "  healthchecks:\n"
             "    active:\n"
             "      interval: 5\n",
             "kong.yml:6:7: upstreams[0].healthchecks.active.interval: "
             "unknown field");
}


static void
upstream_shorthands_follow_kong(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "upstreams:\n"
                  "- name: a\n"
                  "  hash_on: header\n"
                  "  hash_on_header: x-user\n"
                  "- name: b\n"
                  "  algorithm: consistent-hashing\n"
                  "  hash_on: none\n"
                  "- name: c\n"
                  "  algorithm: least-connections\n"
                  "  hash_on: ip\n"
                  "- name: d\n"
                  "  algorithm: latency\n"
                  "- name: e\n"
                  "  algorithm: consistent-hashing\n"
                  "  hash_on: cookie\n"
                  "  hash_on_cookie: sid\n"
                  "  hash_on_cookie_path: /app\n"
                  "  slots: 100\n");

    assert_int_equal(cfg->upstreams[0]->algorithm,
                     KONG_ALG_CONSISTENT_HASHING);
    assert_int_equal(cfg->upstreams[0]->hash_on, KONG_HASH_HEADER);
    assert_string_equal(cfg->upstreams[0]->hash_on_header, "x-user");
    assert_int_equal(cfg->upstreams[1]->algorithm, KONG_ALG_ROUND_ROBIN);
    assert_int_equal(cfg->upstreams[2]->algorithm,
                     KONG_ALG_LEAST_CONNECTIONS);
    assert_int_equal(cfg->upstreams[2]->hash_on, KONG_HASH_NONE);
    assert_int_equal(cfg->upstreams[3]->algorithm, KONG_ALG_LATENCY);
    assert_int_equal(cfg->upstreams[4]->hash_on, KONG_HASH_COOKIE);
    assert_string_equal(cfg->upstreams[4]->hash_on_cookie_path, "/app");
    assert_int_equal(cfg->upstreams[4]->slots, 100);

    kong_config_free(cfg);
}


static void
upstream_hash_rules(void **state)
{
    (void) state;

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: a\n"
             "  hash_on: header\n",
             "kong.yml:3:3: upstreams[0].hash_on_header: required field "
             "missing");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: a\n"
             "  hash_on: ip\n"
             "  hash_fallback: ip\n",
             "kong.yml:3:3: upstreams[0]: values of these fields must be "
             "distinct: 'hash_on', 'hash_fallback'");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: a\n"
             "  hash_on: cookie\n"
             "  hash_on_cookie: c\n"
             "  hash_fallback: ip\n",
             "kong.yml:6:18: upstreams[0].hash_fallback: expected one of: "
             "none");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: a\n"
             "  hash_on: header\n"
             "  hash_on_header: X-A\n"
             "  hash_fallback: header\n"
             "  hash_fallback_header: x-a\n",
             "kong.yml:3:3: upstreams[0]: values of these fields must be "
             "distinct: 'hash_on_header', 'hash_fallback_header'");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: a\n"
             "  slots: 5\n",
             "kong.yml:4:10: upstreams[0].slots: value should be between 10 "
             "and 65536");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: a\n"
             "  algorithm: random\n",
             "kong.yml:4:14: upstreams[0].algorithm: expected one of: "
             "round-robin, consistent-hashing, least-connections, latency");
}


static void
upstream_names_must_be_hostnames(void **state)
{
    (void) state;

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: 10.0.0.1\n",
             "kong.yml:3:9: upstreams[0].name: Invalid name ('10.0.0.1'); "
             "no ip addresses allowed");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: a.test:80\n",
             "kong.yml:3:9: upstreams[0].name: Invalid name ('a.test:80'); "
             "no port allowed");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: \"bad name\"\n",
             "kong.yml:3:9: upstreams[0].name: Invalid name ('bad name'); "
             "must be a valid hostname");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- slots: 100\n",
             "kong.yml:3:3: upstreams[0].name: required field missing");
}


static void
targets_default_port_and_weight(void **state)
{
    kong_config_t    *cfg;
    kong_upstream_t  *u;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "upstreams:\n"
                  "- name: u1\n"
                  "  id: 6f0d1e1c-1111-4b4b-8c8c-000000000001\n"
                  "  targets:\n"
                  "  - target: 10.20.30.40\n"
                  "  - target: backend.test:9000\n"
                  "    weight: 0\n"
                  "  - target: \"[::1]:8080\"\n"
                  "    weight: 65535\n"
                  "targets:\n"
                  "- target: 10.0.0.9\n"
                  "  upstream: u1\n"
                  "- target: 10.0.0.10\n"
                  "  upstream: 6f0d1e1c-1111-4b4b-8c8c-000000000001\n");

    u = cfg->upstreams[0];
    assert_int_equal(u->ntargets, 5);
    assert_string_equal(u->targets[0]->host, "10.20.30.40");
    assert_int_equal(u->targets[0]->port, 8000);
    assert_int_equal(u->targets[0]->weight, 100);
    assert_string_equal(u->targets[1]->host, "backend.test");
    assert_int_equal(u->targets[1]->port, 9000);
    assert_int_equal(u->targets[1]->weight, 0);
    assert_string_equal(u->targets[2]->host, "::1");
    assert_int_equal(u->targets[2]->port, 8080);
    assert_int_equal(u->targets[2]->weight, 65535);
    assert_string_equal(u->targets[3]->host, "10.0.0.9");
    assert_ptr_equal(u->targets[4]->upstream, u);

    kong_config_free(cfg);
}


static void
target_errors(void **state)
{
    (void) state;

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: u1\n"
             "  targets:\n"
             "  - target: \"not a host\"\n",
             "kong.yml:5:13: upstreams[0].targets[0].target: Invalid target "
             "('not a host'); not a valid hostname or ip address");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: u1\n"
             "  targets:\n"
             "  - target: a.test\n"
             "    weight: 65536\n",
             "kong.yml:6:13: upstreams[0].targets[0].weight: value should be "
             "between 0 and 65535");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: u1\n"
             "  targets:\n"
             "  - target: 10.0.0.1\n"
             "  - target: 10.0.0.1:8000\n",
             "kong.yml:6:5: upstreams[0].targets[1]: uniqueness violation: "
             "'targets' entity with target set to '10.0.0.1:8000' already "
             "declared in upstream 'u1'");

    load_err("_format_version: \"3.0\"\n"
             "targets:\n"
             "- target: 10.0.0.1\n",
             "kong.yml:3:3: targets[0].upstream: required field missing");

    load_err("_format_version: \"3.0\"\n"
             "upstreams:\n"
             "- name: u1\n"
             "  targets:\n"
             "  - target: 10.0.0.1\n"
             "    upstream: u1\n",
             "kong.yml:6:15: upstreams[0].targets[0].upstream: value must be "
             "null");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(service_defaults_are_kongs),
        cmocka_unit_test(url_shorthand_fills_and_wins),
        cmocka_unit_test(route_defaults_are_kongs),
        cmocka_unit_test(upstream_defaults_and_healthchecks),
        cmocka_unit_test(healthchecks_every_field),
        cmocka_unit_test(healthcheck_errors_name_the_nested_field),
        cmocka_unit_test(upstream_shorthands_follow_kong),
        cmocka_unit_test(upstream_hash_rules),
        cmocka_unit_test(upstream_names_must_be_hostnames),
        cmocka_unit_test(targets_default_port_and_weight),
        cmocka_unit_test(target_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
