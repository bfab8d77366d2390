/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: loading and validating kong.yml -- Kong's defaults, the url
 * shorthand, nested and top-level forms, references, uniqueness, format
 * 1.1/2.1 migration, and errors that name FILE:LINE:COLUMN, the entity
 * path and the field in Kong's words.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kong.h"
#include "kong_int.h"


static kong_config_t *
load_ok(const char *yaml)
{
    kong_config_t  *cfg;
    kong_errors_t   errs;

    cfg = kong_load_string("kong.yml", yaml, strlen(yaml), 0, &errs);

    if (cfg == NULL || errs.n) {
        kong_errors_print(&errs, stderr);
        print_error("rejected:\n%s\n", yaml);
        kong_errors_free(&errs);
        fail();
    }

    kong_errors_free(&errs);

    return cfg;
}


/*
 * Loads yaml, which must fail, and checks that one of the errors reads
 * exactly `want` ("kong.yml:LINE:COL: path: message").
 */
static void
load_err_flags(const char *yaml, unsigned flags, const char *want)
{
    size_t          i;
    char            line[2048];
    kong_config_t  *cfg;
    kong_errors_t   errs;

    cfg = kong_load_string("kong.yml", yaml, strlen(yaml), flags, &errs);

    for (i = 0; i < errs.n; i++) {
        kong_error_format(&errs, i, line, sizeof(line));
        if (strcmp(line, want) == 0) {
            break;
        }
    }

    if (i == errs.n) {
        print_error("wanted: %s\ngot:\n", want);
        kong_errors_print(&errs, stderr);
        kong_errors_free(&errs);
        kong_config_free(cfg);
        fail();
    }

    kong_errors_free(&errs);

    if (!(flags & KONG_LOAD_SKIP_INVALID)) {
        assert_null(cfg);
    }

    kong_config_free(cfg);
}


static void
load_err(const char *yaml, const char *want)
{
    load_err_flags(yaml, 0, want);
}


static kong_service_t *
service_named(kong_config_t *cfg, const char *name)
{
    size_t  i;

    for (i = 0; i < cfg->nservices; i++) {
        if (cfg->services[i]->name
            && strcmp(cfg->services[i]->name, name) == 0)
        {
            return cfg->services[i];
        }
    }

    fail_msg("no service %s", name);
    return NULL;
}


static kong_route_t *
route_named(kong_config_t *cfg, const char *name)
{
    size_t  i;

    for (i = 0; i < cfg->nroutes; i++) {
        if (cfg->routes[i]->name && strcmp(cfg->routes[i]->name, name) == 0)
        {
            return cfg->routes[i];
        }
    }

    fail_msg("no route %s", name);
    return NULL;
}


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


/* ---- services and routes: errors ----------------------------------------- */

static void
service_errors_in_kongs_words(void **state)
{
    (void) state;

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- name: s\n",
             "kong.yml:3:3: services[0].host: required field missing");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: []\n"
             "  port: -23\n"
             "  routes: 123\n",
             "kong.yml:3:9: services[0].host: expected a string");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: []\n"
             "  port: -23\n"
             "  routes: 123\n",
             "kong.yml:4:9: services[0].port: value should be between 0 and "
             "65535");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  routes: 123\n",
             "kong.yml:4:11: services[0].routes: expected an array");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  protocol: ws\n",
             "kong.yml:4:13: services[0].protocol: expected one of: grpc, "
             "grpcs, http, https, tcp, tls, tls_passthrough, udp");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  protocol: grpc\n",
             "kong.yml:4:13: services[0].protocol: protocol 'grpc' is not "
             "supported by this gateway (http and https only)");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- name: \"@gobo\"\n"
             "  host: a.test\n",
             "kong.yml:3:9: services[0].name: invalid value '@gobo': the only "
             "accepted ascii characters are alphanumerics or ., -, _, and ~");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test:80\n",
             "kong.yml:3:9: services[0].host: must not have a port");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: \"a b\"\n",
             "kong.yml:3:9: services[0].host: invalid value: a b");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  connect_timeout: 0\n",
             "kong.yml:4:20: services[0].connect_timeout: value should be "
             "between 1 and 2147483646");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  retries: 32768\n",
             "kong.yml:4:12: services[0].retries: value should be between 0 "
             "and 32767");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  path: api\n",
             "kong.yml:4:9: services[0].path: should start with: /");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  path: /a//b\n",
             "kong.yml:4:9: services[0].path: must not have empty segments");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  path: /a b\n",
             "kong.yml:4:9: services[0].path: invalid path: '/a b' "
             "(characters outside of the reserved list of RFC 3986 found)");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  path: /a%zz\n",
             "kong.yml:4:9: services[0].path: invalid url-encoded value: "
             "'%zz'");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  tls_verify: true\n",
             "kong.yml:4:15: services[0].tls_verify: value must be null");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- url: http://a.test:99999/\n",
             "kong.yml:3:8: services[0].port: value should be between 0 and "
             "65535");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- url: http:///nohost\n",
             "kong.yml:3:8: services[0].host: required field missing");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  foo: 1\n",
             "kong.yml:4:3: services[0].foo: unknown field");
}


static void
route_errors_in_kongs_words(void **state)
{
    (void) state;

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- name: bare\n",
             "kong.yml:3:3: routes[0]: must set one of 'methods', 'hosts', "
             "'headers', 'paths', 'snis' when 'protocols' is 'https'");

    /* empty lists are no matching fields: such a route would match all */
    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- name: empty\n"
             "  paths: []\n"
             "  headers: {}\n",
             "kong.yml:3:3: routes[0]: must set one of 'methods', 'hosts', "
             "'headers', 'paths', 'snis' when 'protocols' is 'https'");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- name: bare\n"
             "  protocols: [http]\n",
             "kong.yml:3:3: routes[0]: must set one of 'methods', 'hosts', "
             "'headers', 'paths' when 'protocols' is 'http'");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  routes:\n"
             "  - paths: [/ok, route]\n",
             "kong.yml:5:18: services[0].routes[0].paths[1]: should start "
             "with: / (fixed path) or ~/ (regex path)");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- paths: [/a/../b]\n",
             "kong.yml:3:11: routes[0].paths[0]: non-normalized path, "
             "consider use '/b' instead");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- paths: [\"~/(a\"]\n",
             "kong.yml:3:11: routes[0].paths[0]: invalid regex: '/(a' (PCRE "
             "returned: missing closing parenthesis)");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- hosts: [\"a.*.test\"]\n",
             "kong.yml:3:11: routes[0].hosts[0]: invalid wildcard: must be "
             "placed at leftmost or rightmost label");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- hosts: [\"*.a.*\"]\n",
             "kong.yml:3:11: routes[0].hosts[0]: invalid wildcard: must have "
             "at most one wildcard");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- hosts: [good.test, \"\\\\99\"]\n",
             "kong.yml:3:22: routes[0].hosts[1]: invalid hostname: \\99");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- methods: [get]\n",
             "kong.yml:3:13: routes[0].methods[0]: invalid value: get");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- headers:\n"
             "    Host: [a.test]\n",
             "kong.yml:4:5: routes[0].headers.Host: cannot contain 'host' "
             "header, which must be specified in the 'hosts' attribute");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- headers:\n"
             "    x.y: [a]\n",
             "kong.yml:4:5: routes[0].headers.x.y: bad header name 'x.y', "
             "allowed characters are A-Z, a-z, 0-9, '_', and '-'");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- paths: [/]\n"
             "  https_redirect_status_code: 303\n",
             "kong.yml:4:31: routes[0].https_redirect_status_code: expected "
             "one of: 426, 301, 302, 307, 308");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- paths: [/]\n"
             "  protocols: [http, ws]\n",
             "kong.yml:4:21: routes[0].protocols[1]: expected one of: grpc, "
             "grpcs, http, https, tcp, tls, tls_passthrough, udp");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- paths: [/]\n"
             "  protocols: [grpc]\n",
             "kong.yml:4:14: routes[0].protocols: protocol 'grpc' is not "
             "supported by this gateway (http and https routes only)");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- paths: [/]\n"
             "  path_handling: v2\n",
             "kong.yml:4:18: routes[0].path_handling: expected one of: v0, "
             "v1");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- paths: [/]\n"
             "  snis: [a.test]\n"
             "  protocols: [http]\n",
             "kong.yml:4:9: routes[0].snis: 'snis' can only be set when "
             "'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- paths: [/]\n"
             "  sources: [{ip: 10.0.0.1}]\n",
             "kong.yml:4:12: routes[0].sources: cannot set 'sources' when "
             "'protocols' is 'http' or 'https'");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- paths: [/]\n"
             "  expression: 'http.path == \"/\"'\n",
             "kong.yml:4:3: routes[0].expression: unknown field");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  routes:\n"
             "  - paths: [/]\n"
             "    service: other\n",
             "kong.yml:6:14: services[0].routes[0].service: value must be "
             "null");

    load_err("_format_version: \"3.0\"\n"
             "routes:\n"
             "- paths: [/]\n"
             "  service: {id: 6f0d1e1c-1111-4b4b-8c8c-000000000001}\n",
             "kong.yml:4:12: routes[0].service: expected a string");
}


static void
route_fields_are_kept(void **state)
{
    kong_config_t  *cfg;
    kong_route_t   *r;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "routes:\n"
                  "- name: r\n"
                  "  methods: [GET, POST]\n"
                  "  hosts: [a.test, \"*.b.test\", \"c.*\", \"d.test:8080\"]\n"
                  "  paths: [/x, \"~/y/\\\\d+$\"]\n"
                  "  headers:\n"
                  "    X-Version: [V1, \"~*^v[23]$\"]\n"
                  "  snis: [a.test]\n"
                  "  protocols: [https]\n"
                  "  strip_path: false\n"
                  "  preserve_host: true\n"
                  "  regex_priority: -3\n"
                  "  path_handling: v1\n"
                  "  https_redirect_status_code: 308\n"
                  "  request_buffering: false\n"
                  "  tags: [team-a]\n");

    r = route_named(cfg, "r");
    assert_int_equal(r->nmethods, 2);
    assert_int_equal(r->nhosts, 4);
    assert_string_equal(r->hosts[1].name, ".b.test");
    assert_int_equal(r->hosts[1].wildcard, KONG_HOST_WILD_LEFT);
    assert_string_equal(r->hosts[2].name, "c.");
    assert_int_equal(r->hosts[2].wildcard, KONG_HOST_WILD_RIGHT);
    assert_string_equal(r->hosts[3].name, "d.test");
    assert_int_equal(r->hosts[3].port, 8080);
    assert_int_equal(r->npaths, 2);
    assert_int_equal(r->paths[1].regex, 1);
    assert_string_equal(r->paths[1].path, "/y/\\d+$");
    assert_int_equal(r->nheaders, 1);
    assert_string_equal(r->headers[0].name, "x-version");
    assert_string_equal(r->headers[0].values[0].value, "v1");
    assert_non_null(r->headers[0].values[1].re);
    assert_int_equal(r->protocols, KONG_PROTO_HTTPS);
    assert_int_equal(r->strip_path, 0);
    assert_int_equal(r->preserve_host, 1);
    assert_int_equal(r->regex_priority, -3);
    assert_int_equal(r->path_handling, 1);
    assert_int_equal(r->https_redirect_status_code, 308);
    assert_int_equal(r->request_buffering, 0);

    kong_config_free(cfg);
}


/* ---- file-level rules ---------------------------------------------------- */

static void
format_version_rules(void **state)
{
    (void) state;

    load_err("services: []\n",
             "kong.yml:1:1: _format_version: required field missing");

    load_err("_format_version: 1.1\n",
             "kong.yml:1:18: _format_version: expected a string");

    load_err("_format_version: \"foobar\"\n",
             "kong.yml:1:18: _format_version: expected one of: 1.1, 2.1, "
             "3.0");

    load_err("- a\n- b\n",
             "kong.yml:1:1: (root): failed parsing declarative "
             "configuration: expected an object");

    load_err("",
             "kong.yml:1:1: (root): failed parsing declarative "
             "configuration: expected an object");
}


static void
unknown_and_rejected_top_level_keys(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    load_err("_format_version: \"3.0\"\n"
             "servics: []\n",
             "kong.yml:2:1: servics: unknown field");

    load_err("_format_version: \"3.0\"\n"
             "_info: {select_tags: [a]}\n",
             "kong.yml:2:1: _info: unknown field");

    load_err("_format_version: \"3.0\"\n"
             "certificates:\n"
             "- cert: x\n"
             "  key: y\n",
             "kong.yml:2:1: certificates: 'certificates' entities are not "
             "supported by this gateway: TLS certificates and keys are "
             "configured in nginx (ssl_certificate)");

    load_err("_format_version: \"3.0\"\n"
             "vaults:\n"
             "- name: env\n",
             "kong.yml:2:1: vaults: 'vaults' entities are not supported by "
             "this gateway: secret references are not supported");

    /* an empty list of an unsupported entity is harmless, and _comment,
     * _ignore are allowed at the top and in every entity */
    cfg = load_ok("_format_version: \"3.0\"\n"
                  "_comment: hello\n"
                  "_ignore: [1, {a: b}]\n"
                  "_transform: false\n"
                  "certificates: []\n"
                  "services:\n"
                  "- host: a.test\n"
                  "  _comment: the api\n"
                  "  _ignore: [x]\n");

    assert_int_equal(cfg->transform, 0);
    kong_config_free(cfg);
}


static void
errors_are_sorted_and_formatted(void **state)
{
    size_t          i;
    char            line[512];
    kong_config_t  *cfg;
    kong_errors_t   errs;
    const char     *yaml;

    static const char *const  want[] = {
        "kong.yml:3:3: services[0].host: required field missing",
        "kong.yml:4:3: services[0].foo: unknown field",
        "kong.yml:7:12: routes[0].service: invalid reference 'service: nope' "
        "(no such entry in 'services')",
        "kong.yml:9:3: routes[0].bogus: unknown field",
    };

    (void) state;

    yaml = "_format_version: \"3.0\"\n"
           "services:\n"
           "- name: s\n"
           "  foo: 1\n"
           "routes:\n"
           "- paths: [/]\n"
           "  service: nope\n"
           "\n"
           "  bogus: 1\n";

    cfg = kong_load_string("kong.yml", yaml, strlen(yaml), 0, &errs);
    assert_null(cfg);
    assert_int_equal(errs.n, 4);

    for (i = 0; i < errs.n; i++) {
        kong_error_format(&errs, i, line, sizeof(line));
        assert_string_equal(line, want[i]);
    }

    kong_errors_free(&errs);
}


static void
errors_beyond_the_cap_are_counted(void **state)
{
    char            *yaml, *p, *end;
    size_t           i, size;
    kong_config_t   *cfg;
    kong_errors_t    errs;

    (void) state;

    size = 300 * 32 + 64;
    yaml = malloc(size);
    assert_non_null(yaml);

    p = yaml;
    end = yaml + size;
    p += snprintf(p, (size_t) (end - p), "_format_version: \"3.0\"\n"
                                         "services:\n");

    for (i = 0; i < 300; i++) {
        p += snprintf(p, (size_t) (end - p), "- port: 1\n");
    }

    cfg = kong_load_string("kong.yml", yaml, (size_t) (p - yaml), 0, &errs);
    free(yaml);

    assert_null(cfg);
    assert_int_equal(errs.n, KONG_ERRORS_MAX);
    assert_int_equal(errs.dropped, 100);

    kong_errors_free(&errs);
}


static void
yaml_errors_have_positions(void **state)
{
    (void) state;

    load_err("_format_version: \"3.0\"\nservices: [a\n",
             "kong.yml:3:1: invalid YAML: did not find expected ',' or ']' "
             "while parsing a flow sequence");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: a.test\n"
             "  host: b.test\n",
             "kong.yml:4:3: duplicate key 'host'");

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- host: \"a.test\\0.evil\"\n",
             "kong.yml:3:9: invalid YAML: a NUL character in a scalar");

    load_err("_format_version: \"3.0\"\n"
             "services: *nope\n",
             "kong.yml:2:11: invalid YAML: unknown anchor 'nope'");

    load_err("_format_version: \"3.0\"\n---\n_format_version: \"3.0\"\n",
             "kong.yml:2:1: invalid YAML: more than one document in the "
             "file");
}


static void
yaml_anchors_and_merge_keys(void **state)
{
    kong_config_t   *cfg;
    kong_service_t  *s;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "_ignore:\n"
                  "- &defaults\n"
                  "  retries: 3\n"
                  "  read_timeout: 1000\n"
                  "services:\n"
                  "- <<: *defaults\n"
                  "  name: a\n"
                  "  host: a.test\n"
                  "- <<: *defaults\n"
                  "  name: b\n"
                  "  host: b.test\n"
                  "  retries: 1\n");

    s = service_named(cfg, "a");
    assert_int_equal(s->retries, 3);
    assert_int_equal(s->read_timeout, 1000);

    s = service_named(cfg, "b");
    assert_int_equal(s->retries, 1);
    assert_int_equal(s->read_timeout, 1000);

    kong_config_free(cfg);
}


static void
yaml_alias_bomb_is_refused(void **state)
{
    (void) state;

    load_err("_format_version: \"3.0\"\n"
             "_ignore:\n"
             "- &a [x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x]\n"
             "- &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, "
             "*a, *a]\n"
             "- &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, "
             "*b, *b]\n"
             "- &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, "
             "*c, *c]\n"
             "- &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, "
             "*d, *d]\n"
             "- &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, *e, "
             "*e, *e]\n"
             "- &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, *f, "
             "*f, *f]\n",
             "kong.yml:7:3: invalid YAML: the document expands to more than "
             "16777216 nodes (aliases)");
}


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
        cmocka_unit_test(service_errors_in_kongs_words),
        cmocka_unit_test(route_errors_in_kongs_words),
        cmocka_unit_test(route_fields_are_kept),
        cmocka_unit_test(format_version_rules),
        cmocka_unit_test(unknown_and_rejected_top_level_keys),
        cmocka_unit_test(errors_are_sorted_and_formatted),
        cmocka_unit_test(errors_beyond_the_cap_are_counted),
        cmocka_unit_test(yaml_errors_have_positions),
        cmocka_unit_test(yaml_anchors_and_merge_keys),
        cmocka_unit_test(yaml_alias_bomb_is_refused),
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
