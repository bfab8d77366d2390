/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: validating kong.yml -- errors of services and routes in
 * Kong's words, the fields a route keeps, the file-level rules (format
 * version, top-level keys), how errors are sorted, capped and given
 * FILE:LINE:COLUMN, and YAML anchors, merge keys and alias bombs.
 */

#include "test_kong_load.h"


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


int
main(void)
{
    const struct CMUnitTest  tests[] = {
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
