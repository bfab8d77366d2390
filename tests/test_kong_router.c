/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: the router -- Kong's traditional_compatible priority rules,
 * host, header, method and path matching, request path normalization, the
 * answers without a proxy (404, 503, 426 and redirects), and every v0 row
 * of Kong's path-joining table (spec/fixtures/router_path_handling_tests).
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
cfg_of(const char *yaml)
{
    kong_config_t  *cfg;
    kong_errors_t   errs;

    cfg = kong_load_string("kong.yml", yaml, strlen(yaml), 0, &errs);

    if (cfg == NULL) {
        kong_errors_print(&errs, stderr);
        print_error("rejected:\n%s\n", yaml);
        kong_errors_free(&errs);
        fail();
    }

    kong_errors_free(&errs);

    return cfg;
}


typedef struct {
    kong_match_t    m;
    char            buf[4096];
    kong_header_t   headers[8];
} result_t;


/*
 * Matches a request; headers is a NULL-terminated list of "Name: value"
 * strings (or NULL).  flags: 1 = https.
 */
static kong_match_t *
req(kong_config_t *cfg, result_t *res, const char *method, const char *host,
    const char *uri, const char *const *headers, int https)
{
    size_t           n;
    const char      *c;
    kong_request_t   r;

    memset(&r, 0, sizeof(r));
    r.method = method;
    r.method_len = strlen(method);
    r.host = host;
    r.host_len = host ? strlen(host) : 0;
    r.uri = uri;
    r.uri_len = strlen(uri);
    r.port = https ? 443 : 80;
    r.https = https;
    r.sni = https ? host : NULL;
    r.sni_len = https && host ? strlen(host) : 0;

    n = 0;
    while (headers && headers[n]) {
        c = strchr(headers[n], ':');
        assert_non_null(c);
        res->headers[n].name = headers[n];
        res->headers[n].name_len = (size_t) (c - headers[n]);
        res->headers[n].value = c + 2;
        res->headers[n].value_len = strlen(c + 2);
        n++;
    }

    r.headers = res->headers;
    r.nheaders = n;

    assert_true(KONG_MATCH_BUF(cfg, r.uri_len) <= sizeof(res->buf));
    assert_int_equal(kong_match(cfg, &r, &res->m, res->buf,
                                sizeof(res->buf)), 0);

    return &res->m;
}


/* The name of the route a request takes, or "404". */
static const char *
route_of(kong_config_t *cfg, const char *method, const char *host,
    const char *uri, const char *const *headers)
{
    static result_t  res;
    kong_match_t    *m;

    m = req(cfg, &res, method, host, uri, headers, 0);

    if (m->route == NULL) {
        assert_int_equal(m->status, 404);
        return "404";
    }

    return m->route->name;
}


static const char *
uri_of(kong_config_t *cfg, const char *host, const char *uri)
{
    static result_t  res;
    static char      out[4096];
    kong_match_t    *m;

    m = req(cfg, &res, "GET", host, uri, NULL, 0);

    if (m->upstream_uri == NULL) {
        snprintf(out, sizeof(out), "status %u", m->status);
        return out;
    }

    snprintf(out, sizeof(out), "%.*s", (int) m->upstream_uri_len,
             m->upstream_uri);

    return out;
}


/* ---- priority ------------------------------------------------------------ */

static void
more_attributes_win(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- name: path-only\n"
                 "  paths: [/api]\n"
                 "- name: path-and-method\n"
                 "  paths: [/api]\n"
                 "  methods: [GET]\n"
                 "- name: host-path-method\n"
                 "  paths: [/]\n"
                 "  methods: [GET]\n"
                 "  hosts: [h.test]\n");

    assert_string_equal(route_of(cfg, "GET", "x.test", "/api", NULL),
                        "path-and-method");
    assert_string_equal(route_of(cfg, "POST", "x.test", "/api", NULL),
                        "path-only");
    /* three attributes beat a longer path with two */
    assert_string_equal(route_of(cfg, "GET", "h.test", "/api", NULL),
                        "host-path-method");
    assert_string_equal(route_of(cfg, "POST", "x.test", "/", NULL), "404");

    kong_config_free(cfg);
}


/* Kong leaves the routes of a disabled service out of the router */
static void
disabled_service_not_routed(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "services:\n"
                 "- name: disabled\n"
                 "  url: http://127.0.0.1:9001\n"
                 "  enabled: false\n"
                 "  routes:\n"
                 "  - name: off-api\n"
                 "    paths: [/api/v2]\n"
                 "- name: live\n"
                 "  url: http://127.0.0.1:9002\n"
                 "  routes:\n"
                 "  - name: on-api\n"
                 "    paths: [/api]\n");

    /* the longer path of the disabled service is passed over */
    assert_string_equal(route_of(cfg, "GET", "x.test", "/api/v2/x", NULL),
                        "on-api");
    assert_string_equal(route_of(cfg, "GET", "x.test", "/api", NULL),
                        "on-api");
    assert_string_equal(route_of(cfg, "GET", "x.test", "/other", NULL),
                        "404");

    kong_config_free(cfg);
}


static void
plain_hosts_beat_wildcards(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- name: wild\n"
                 "  hosts: [\"*.example.com\"]\n"
                 "  paths: [/long/path]\n"
                 "- name: plain\n"
                 "  hosts: [a.example.com]\n"
                 "  paths: [/]\n"
                 "- name: right-wild\n"
                 "  hosts: [\"example.*\"]\n");

    /* same attribute count: a plain host wins over a longer path */
    assert_string_equal(route_of(cfg, "GET", "a.example.com", "/long/path",
                                 NULL), "plain");
    assert_string_equal(route_of(cfg, "GET", "b.example.com", "/long/path",
                                 NULL), "wild");
    assert_string_equal(route_of(cfg, "GET", "x.y.example.com", "/long/path",
                                 NULL), "wild");
    /* "*.example.com" needs a label before it */
    assert_string_equal(route_of(cfg, "GET", "example.com", "/long/path",
                                 NULL), "right-wild");
    assert_string_equal(route_of(cfg, "GET", "example.org", "/", NULL),
                        "right-wild");
    assert_string_equal(route_of(cfg, "GET", "b.example.com", "/", NULL),
                        "404");
    /* hosts are compared as Kong does: case-sensitively */
    assert_string_equal(route_of(cfg, "GET", "A.example.com", "/", NULL),
                        "404");

    kong_config_free(cfg);
}


static void
hosts_with_ports(void **state)
{
    kong_config_t  *cfg;
    result_t        res;
    kong_match_t   *m;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- name: on-8080\n"
                 "  hosts: [\"h.test:8080\"]\n"
                 "- name: any-port\n"
                 "  hosts: [h.test]\n"
                 "  paths: [/any]\n"
                 "- name: ipv6\n"
                 "  hosts: [\"[::1]:8443\", \"10.0.0.1\"]\n");

    assert_string_equal(route_of(cfg, "GET", "h.test:8080", "/", NULL),
                        "on-8080");
    assert_string_equal(route_of(cfg, "GET", "h.test", "/", NULL), "404");
    assert_string_equal(route_of(cfg, "GET", "h.test:8080", "/any", NULL),
                        "any-port");
    assert_string_equal(route_of(cfg, "GET", "h.test:81", "/any", NULL),
                        "any-port");

    assert_string_equal(route_of(cfg, "GET", "[::1]:8443", "/", NULL),
                        "ipv6");
    assert_string_equal(route_of(cfg, "GET", "[::1]", "/", NULL), "404");
    assert_string_equal(route_of(cfg, "GET", "10.0.0.1:1234", "/", NULL),
                        "ipv6");

    /* no port in Host: the listener's port counts */
    m = req(cfg, &res, "GET", "h.test", "/", NULL, 0);
    assert_null(m->route);

    kong_config_free(cfg);
}


static void
more_headers_win(void **state)
{
    kong_config_t  *cfg;

    static const char *const  both[] = { "X-A: 1", "x-b: 2", NULL };
    static const char *const  one[] = { "X-A: 1", NULL };

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- name: one-header\n"
                 "  headers: {x-a: [\"1\"]}\n"
                 "  paths: [/long/long/long]\n"
                 "- name: two-headers\n"
                 "  headers: {x-a: [\"1\"], x-b: [\"2\"]}\n"
                 "  paths: [/]\n");

    assert_string_equal(route_of(cfg, "GET", "h", "/long/long/long", both),
                        "two-headers");
    assert_string_equal(route_of(cfg, "GET", "h", "/long/long/long", one),
                        "one-header");
    assert_string_equal(route_of(cfg, "GET", "h", "/", NULL), "404");

    kong_config_free(cfg);
}


static void
header_values(void **state)
{
    kong_config_t  *cfg;

    static const char *const  v1[] = { "x-version: V1", NULL };
    static const char *const  v3[] = { "X_VERSION: v3", NULL };
    static const char *const  v9[] = { "x-version: v9", NULL };
    static const char *const  two[] = { "x-version: v9", "x-version: v2",
                                        NULL };
    static const char *const  partial[] = { "x-version: xv3y", NULL };

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- name: versioned\n"
                 "  headers:\n"
                 "    X-Version: [v1, v2, \"~*^V3$\"]\n"
                 "- name: unanchored\n"
                 "  headers:\n"
                 "    X-Version: [\"~*v3\"]\n"
                 "  paths: [/u]\n");

    /* values compare case-insensitively, and so do names */
    assert_string_equal(route_of(cfg, "GET", "h", "/", v1), "versioned");
    assert_string_equal(route_of(cfg, "GET", "h", "/", v3), "versioned");
    assert_string_equal(route_of(cfg, "GET", "h", "/", v9), "404");
    /* any value of a repeated header */
    assert_string_equal(route_of(cfg, "GET", "h", "/", two), "versioned");
    /* "~*" regexes are not anchored */
    assert_string_equal(route_of(cfg, "GET", "h", "/u", partial),
                        "unanchored");
    assert_string_equal(route_of(cfg, "GET", "h", "/", partial), "404");

    kong_config_free(cfg);
}


/*
 * The router skips a regex whose literal prefix the request path lacks;
 * a quantifier, an alternation, a group or an escape must not make it
 * skip one that matches.
 */
static void
regex_literal_prefixes_never_hide_a_match(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- name: optional-char\n"
                 "  paths: [\"~/ab?c/x$\"]\n"
                 "- name: star\n"
                 "  paths: [\"~/qr*s$\"]\n"
                 "- name: brace\n"
                 "  paths: [\"~/mn{0,2}o$\"]\n"
                 "- name: alternation\n"
                 "  paths: [\"~/alt1|/other\"]\n"
                 "- name: group\n"
                 "  paths: [\"~/g(roup)?/z$\"]\n"
                 "- name: escape\n"
                 "  paths: [\"~/e\\\\.x$\"]\n"
                 "- name: caseless\n"
                 "  paths: [\"~/(?i)case$\"]\n"
                 "- name: two-paths\n"
                 "  paths: [\"~/two/a$\", \"~/tw/b$\"]\n"
                 "- name: fallback\n"
                 "  paths: [/]\n");

    assert_string_equal(route_of(cfg, "GET", "h", "/ac/x", NULL),
                        "optional-char");
    assert_string_equal(route_of(cfg, "GET", "h", "/abc/x", NULL),
                        "optional-char");
    assert_string_equal(route_of(cfg, "GET", "h", "/qs", NULL), "star");
    assert_string_equal(route_of(cfg, "GET", "h", "/qrrs", NULL), "star");
    assert_string_equal(route_of(cfg, "GET", "h", "/mo", NULL), "brace");
    assert_string_equal(route_of(cfg, "GET", "h", "/other", NULL),
                        "alternation");
    assert_string_equal(route_of(cfg, "GET", "h", "/alt1", NULL),
                        "alternation");
    assert_string_equal(route_of(cfg, "GET", "h", "/g/z", NULL), "group");
    assert_string_equal(route_of(cfg, "GET", "h", "/group/z", NULL),
                        "group");
    assert_string_equal(route_of(cfg, "GET", "h", "/e.x", NULL), "escape");
    assert_string_equal(route_of(cfg, "GET", "h", "/eXx", NULL),
                        "fallback");
    assert_string_equal(route_of(cfg, "GET", "h", "/CASE", NULL),
                        "caseless");
    assert_string_equal(route_of(cfg, "GET", "h", "/two/a", NULL),
                        "two-paths");
    assert_string_equal(route_of(cfg, "GET", "h", "/tw/b", NULL),
                        "two-paths");
    assert_string_equal(route_of(cfg, "GET", "h", "/tw/a", NULL),
                        "fallback");
    assert_string_equal(route_of(cfg, "GET", "h", "/a", NULL), "fallback");

    kong_config_free(cfg);
}


static void
regex_beats_prefix_then_regex_priority(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- name: long-prefix\n"
                 "  paths: [/users/123/profile]\n"
                 "- name: regex-low\n"
                 "  paths: [\"~/users/\\\\d+\"]\n"
                 "- name: regex-high\n"
                 "  paths: [\"~/users/12\"]\n"
                 "  regex_priority: 10\n"
                 "- name: regex-negative\n"
                 "  paths: [\"~/users/1\"]\n"
                 "  regex_priority: -5\n"
                 "- name: regex-other\n"
                 "  paths: [\"~/users/x\"]\n"
                 "  regex_priority: -5\n");

    assert_string_equal(route_of(cfg, "GET", "h", "/users/123/profile",
                                 NULL), "regex-high");
    assert_string_equal(route_of(cfg, "GET", "h", "/users/456", NULL),
                        "regex-low");
    /* a negative regex_priority ranks below the default 0 */
    assert_string_equal(route_of(cfg, "GET", "h", "/users/1a", NULL),
                        "regex-low");
    assert_string_equal(route_of(cfg, "GET", "h", "/users/1", NULL),
                        "regex-low");
    assert_string_equal(route_of(cfg, "GET", "h", "/users/xy", NULL),
                        "regex-other");
    /* anchored at the start only */
    assert_string_equal(route_of(cfg, "GET", "h", "/v1/users/456", NULL),
                        "404");

    kong_config_free(cfg);
}


static void
longest_prefix_and_byte_prefixes(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- name: root\n"
                 "  paths: [/]\n"
                 "- name: a\n"
                 "  paths: [/a]\n"
                 "- name: a-b\n"
                 "  paths: [/a/b]\n"
                 "- name: foo\n"
                 "  paths: [/foo]\n");

    assert_string_equal(route_of(cfg, "GET", "h", "/a/b/c", NULL), "a-b");
    assert_string_equal(route_of(cfg, "GET", "h", "/a/x", NULL), "a");
    assert_string_equal(route_of(cfg, "GET", "h", "/a", NULL), "a");
    assert_string_equal(route_of(cfg, "GET", "h", "/ab", NULL), "a");
    /* a byte prefix, not a segment prefix */
    assert_string_equal(route_of(cfg, "GET", "h", "/foobar", NULL), "foo");
    assert_string_equal(route_of(cfg, "GET", "h", "/fo", NULL), "root");
    assert_string_equal(route_of(cfg, "GET", "h", "/", NULL), "root");

    kong_config_free(cfg);
}


static void
path_groups_of_one_route(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    /* a route's paths are grouped by length, each with its own priority */
    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- name: short-and-long\n"
                 "  paths: [/a, /abc]\n"
                 "- name: middle\n"
                 "  paths: [/ab]\n");

    assert_string_equal(route_of(cfg, "GET", "h", "/abcd", NULL),
                        "short-and-long");
    assert_string_equal(route_of(cfg, "GET", "h", "/abx", NULL), "middle");
    assert_string_equal(route_of(cfg, "GET", "h", "/ax", NULL),
                        "short-and-long");

    kong_config_free(cfg);
}


static void
ties_go_to_the_first_declared(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "services:\n"
                 "- host: s.test\n"
                 "  routes:\n"
                 "  - name: nested-first\n"
                 "    paths: [/same]\n"
                 "routes:\n"
                 "- name: top-second\n"
                 "  paths: [/same]\n"
                 "- name: top-third\n"
                 "  paths: [/same]\n");

    assert_string_equal(route_of(cfg, "GET", "h", "/same", NULL),
                        "nested-first");

    kong_config_free(cfg);
}


static void
methods_and_snis(void **state)
{
    kong_config_t  *cfg;
    result_t        res;
    kong_match_t   *m;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- name: get-only\n"
                 "  methods: [GET, HEAD]\n"
                 "  paths: [/m]\n"
                 "- name: sni\n"
                 "  snis: [secure.test]\n"
                 "  paths: [/s]\n");

    assert_string_equal(route_of(cfg, "HEAD", "h", "/m", NULL), "get-only");
    assert_string_equal(route_of(cfg, "get", "h", "/m", NULL), "404");

    /* the SNI counts over TLS only */
    m = req(cfg, &res, "GET", "secure.test", "/s", NULL, 1);
    assert_string_equal(m->route->name, "sni");
    m = req(cfg, &res, "GET", "other.test", "/s", NULL, 1);
    assert_null(m->route);
    m = req(cfg, &res, "GET", "other.test", "/s", NULL, 0);
    assert_string_equal(m->route->name, "sni");

    kong_config_free(cfg);
}


static void
request_path_is_normalized(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- name: b\n"
                 "  paths: [/b]\n"
                 "- name: tilde\n"
                 "  paths: [/~user]\n"
                 "- name: encoded-slash\n"
                 "  paths: [/x%2Fy]\n");

    assert_string_equal(route_of(cfg, "GET", "h", "/a/../b", NULL), "b");
    assert_string_equal(route_of(cfg, "GET", "h", "/a/%2E%2E/b", NULL), "b");
    assert_string_equal(route_of(cfg, "GET", "h", "//b", NULL), "b");
    assert_string_equal(route_of(cfg, "GET", "h", "/./b?x=/c", NULL), "b");
    assert_string_equal(route_of(cfg, "GET", "h", "/%62", NULL), "b");
    assert_string_equal(route_of(cfg, "GET", "h", "/%7Euser", NULL),
                        "tilde");
    /* reserved characters stay escaped, their hex upper-cased */
    assert_string_equal(route_of(cfg, "GET", "h", "/x%2fy", NULL),
                        "encoded-slash");
    assert_string_equal(route_of(cfg, "GET", "h", "/x/y", NULL), "404");

    kong_config_free(cfg);
}


/* ---- answers ------------------------------------------------------------- */

static void
answers_without_a_proxy(void **state)
{
    kong_config_t  *cfg;
    result_t        res;
    kong_match_t   *m;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "services:\n"
                 "- name: s\n"
                 "  host: s.test\n"
                 "  routes:\n"
                 "  - name: tls-only\n"
                 "    protocols: [https]\n"
                 "    paths: [/secure]\n"
                 "  - name: tls-redirect\n"
                 "    protocols: [https]\n"
                 "    https_redirect_status_code: 301\n"
                 "    paths: [/moved]\n"
                 "routes:\n"
                 "- name: no-service\n"
                 "  paths: [/orphan]\n");

    m = req(cfg, &res, "GET", "h", "/secure", NULL, 0);
    assert_string_equal(m->route->name, "tls-only");
    assert_int_equal(m->status, 426);
    assert_null(m->upstream_uri);

    m = req(cfg, &res, "GET", "h", "/secure/x", NULL, 1);
    assert_int_equal(m->status, 0);
    assert_string_equal(m->service->name, "s");
    assert_string_equal(m->upstream_uri, "/x");

    m = req(cfg, &res, "GET", "h", "/moved", NULL, 0);
    assert_int_equal(m->status, 301);

    m = req(cfg, &res, "GET", "h", "/orphan", NULL, 0);
    assert_string_equal(m->route->name, "no-service");
    assert_null(m->service);
    assert_int_equal(m->status, 503);

    m = req(cfg, &res, "GET", "h", "/nothing", NULL, 0);
    assert_null(m->route);
    assert_int_equal(m->status, 404);

    kong_config_free(cfg);
}


static void
upstream_uri_query_prefix_and_escaping(void **state)
{
    kong_config_t  *cfg;
    result_t        res;
    kong_match_t   *m;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "services:\n"
                 "- host: s.test\n"
                 "  path: /base\n"
                 "  routes:\n"
                 "  - name: api\n"
                 "    paths: [/api]\n"
                 "  - name: versioned\n"
                 "    paths: [\"~/v\\\\d+/\"]\n"
                 "  - name: keep\n"
                 "    paths: [/keep]\n"
                 "    strip_path: false\n");

    m = req(cfg, &res, "GET", "h", "/api/items?q=1&r=%20", NULL, 0);
    assert_string_equal(m->upstream_uri, "/base/items?q=1&r=%20");
    assert_int_equal(m->prefix_len, 4);
    assert_memory_equal(m->prefix, "/api", 4);

    /* a bare "?" is kept */
    m = req(cfg, &res, "GET", "h", "/api/items?", NULL, 0);
    assert_string_equal(m->upstream_uri, "/base/items?");

    /* decoded for matching, escaped again for the upstream */
    m = req(cfg, &res, "GET", "h", "/api/a%20b%7Ec", NULL, 0);
    assert_string_equal(m->upstream_uri, "/base/a%20b~c");

    assert_null(m->regex);

    /* a regex strips what it matched, and is there for its captures */
    m = req(cfg, &res, "GET", "h", "/v2/users", NULL, 0);
    assert_string_equal(m->route->name, "versioned");
    assert_ptr_equal(m->regex, m->route->paths[0].re);
    assert_string_equal(m->upstream_uri, "/base/users");
    assert_int_equal(m->prefix_len, 4);

    m = req(cfg, &res, "GET", "h", "/keep/x", NULL, 0);
    assert_string_equal(m->upstream_uri, "/base/keep/x");
    assert_null(m->prefix);

    kong_config_free(cfg);
}


/* ---- Kong's path-joining table (v0) -------------------------------------- */

typedef struct {
    const char  *service_path;      /* NULL: none */
    const char  *route_path;        /* NULL: a host-only route */
    int          strip;             /* 0, 1, or 2 for both */
    const char  *request;
    const char  *expected;
} path_row_t;


static const path_row_t  path_table[] = {
    { "/", "/", 2, "/", "/" },
    { "/", "/", 2, "/route", "/route" },
    { "/", "/", 2, "/route/", "/route/" },
    { "/", "/", 2, "/routereq", "/routereq" },
    { "/", "/route", 0, "/route", "/route" },
    { "/", "/route", 0, "/route/", "/route/" },
    { "/", "/route", 0, "/routereq", "/routereq" },
    { "/", "/route", 1, "/route", "/" },
    { "/", "/route", 1, "/route/", "/" },
    { "/", "/route", 1, "/routereq", "/req" },
    { "/", "/route/", 0, "/route/", "/route/" },
    { "/", "/route/", 0, "/route/req", "/route/req" },
    { "/", "/route/", 1, "/route/", "/" },
    { "/", "/route/", 1, "/route/req", "/req" },
    { "/srv", "/rou", 0, "/roureq", "/srv/roureq" },
    { "/srv", "/rou", 1, "/roureq", "/srv/req" },
    { "/srv/", "/rou", 0, "/rou", "/srv/rou" },
    { "/srv/", "/rou", 1, "/rou", "/srv" },
    { "/service", "/", 2, "/", "/service" },
    { "/service", "/", 2, "/route", "/service/route" },
    { "/service", "/", 2, "/route/", "/service/route/" },
    { "/service", "/", 2, "/routereq", "/service/routereq" },
    { "/service", "/", 2, "/route/req", "/service/route/req" },
    { "/service", "/route", 0, "/route", "/service/route" },
    { "/service", "/route", 0, "/route/", "/service/route/" },
    { "/service", "/route", 0, "/routereq", "/service/routereq" },
    { "/service", "/route", 1, "/route", "/service" },
    { "/service", "/route", 1, "/route/", "/service/" },
    { "/service", "/route", 1, "/routereq", "/service/req" },
    { "/service", "/route/", 0, "/route/", "/service/route/" },
    { "/service", "/route/", 0, "/route/req", "/service/route/req" },
    { "/service", "/route/", 1, "/route/", "/service/" },
    { "/service", "/route/", 1, "/route/req", "/service/req" },
    { "/service/", "/", 2, "/", "/service/" },
    { "/service/", "/", 2, "/route", "/service/route" },
    { "/service/", "/", 2, "/route/", "/service/route/" },
    { "/service/", "/", 2, "/routereq", "/service/routereq" },
    { "/service/", "/route", 0, "/route", "/service/route" },
    { "/service/", "/route", 0, "/route/", "/service/route/" },
    { "/service/", "/route", 0, "/routereq", "/service/routereq" },
    { "/service/", "/route", 1, "/route", "/service" },
    { "/service/", "/route", 1, "/route/", "/service/" },
    { "/service/", "/route", 1, "/routereq", "/service/req" },
    { "/service/", "/route/", 1, "/route/", "/service/" },
    { "/service/", "/route/", 1, "/route/req", "/service/req" },
    { "/service/", "/route/", 0, "/route/", "/service/route/" },
    { "/service/", "/route/", 0, "/route/req", "/service/route/req" },
    /* host-only routes */
    { "/", NULL, 2, "/", "/" },
    { "/", NULL, 2, "/route", "/route" },
    { "/service", NULL, 2, "/", "/service" },
    { "/service", NULL, 2, "/route", "/service/route" },
    { "/service", NULL, 2, "/route/", "/service/route/" },
    { "/service/", NULL, 2, "/", "/service/" },
    { "/service/", NULL, 2, "/route", "/service/route" },
    { NULL, NULL, 2, "/route/x", "/route/x" },
    { NULL, "/route", 1, "/route/x", "/x" },
    /* dot segments after the prefix */
    { "/service", "/route", 1, "/route./req", "/service/req" },
    { "/service", "/route", 1, "/route%2E/req", "/service/req" },
    { "/service", "/route", 1, "/route../req", "/service/req" },
    { "/service", "/route", 1, "/route%2E%2E/req", "/service/req" },
    { "/service", "/route", 0, "/route%2E/req", "/service/route./req" },
    { "/service", "/route", 0, "/route%2e%2E/req", "/service/route../req" },
};


static void
kongs_path_joining_table(void **state)
{
    int              strip;
    char             yaml[1024];
    size_t           i, checked;
    const char      *got;
    kong_config_t   *cfg;
    const path_row_t *row;

    (void) state;

    checked = 0;

    for (i = 0; i < sizeof(path_table) / sizeof(path_table[0]); i++) {
        row = &path_table[i];

        for (strip = 0; strip < 2; strip++) {
            if (row->strip != 2 && row->strip != strip) {
                continue;
            }

            snprintf(yaml, sizeof(yaml),
                     "_format_version: \"3.0\"\n"
                     "services:\n"
                     "- host: up.test\n"
                     "%s%s%s"
                     "  routes:\n"
                     "  - name: r\n"
                     "    strip_path: %s\n"
                     "    %s%s%s\n",
                     row->service_path ? "  path: \"" : "",
                     row->service_path ? row->service_path : "",
                     row->service_path ? "\"\n" : "",
                     strip ? "true" : "false",
                     row->route_path ? "paths: [\"" : "hosts: [h.test",
                     row->route_path ? row->route_path : "",
                     row->route_path ? "\"]" : "]");

            cfg = cfg_of(yaml);
            got = uri_of(cfg, "h.test", row->request);

            if (strcmp(got, row->expected) != 0) {
                print_error("service %s, route %s, strip_path %d: %s -> %s, "
                            "Kong: %s\n",
                            row->service_path ? row->service_path : "(none)",
                            row->route_path ? row->route_path : "(hosts)",
                            strip, row->request, got, row->expected);
                kong_config_free(cfg);
                fail();
            }

            kong_config_free(cfg);
            checked++;
        }
    }

    assert_true(checked >= 80);
}


/* ---- the beamline seed's kong.yml, as written ------------------------- */

static void
the_beamline_kong_yml(void **state)
{
    kong_config_t   *cfg;
    result_t         res;
    kong_match_t    *m;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "\n"
                 "services:\n"
                 "  # Beamline 5.3.1 Agent\n"
                 "  - name: beamline-531-service\n"
                 "    url: http://beamline-531-agent:8053\n"
                 "    routes:\n"
                 "      - name: beamline-531-route\n"
                 "        paths:\n"
                 "          - /agents/beamline-531\n"
                 "        strip_path: true\n"
                 "    plugins:\n"
                 "      - name: rate-limiting\n"
                 "        config:\n"
                 "          minute: 100\n"
                 "          policy: local\n"
                 "      - name: request-transformer\n"
                 "        config:\n"
                 "          add:\n"
                 "            headers:\n"
                 "              - X-Agent-Name:beamline_531\n"
                 "\n"
                 "  # Add more beamline agents here...\n");

    m = req(cfg, &res, "POST", "gateway:8080",
            "/agents/beamline-531/run?scan=7", NULL, 0);
    assert_int_equal(m->status, 0);
    assert_string_equal(m->route->name, "beamline-531-route");
    assert_string_equal(m->service->host, "beamline-531-agent");
    assert_int_equal(m->service->port, 8053);
    assert_string_equal(m->upstream_uri, "/run?scan=7");
    assert_memory_equal(m->prefix, "/agents/beamline-531", m->prefix_len);

    /* the plugins wait for part 2, kept on the service */
    assert_int_equal(m->service->plugins.n, 2);
    assert_string_equal(m->service->plugins.items[1]->name,
                        "request-transformer");

    m = req(cfg, &res, "GET", "gateway", "/agents/other", NULL, 0);
    assert_int_equal(m->status, 404);

    kong_config_free(cfg);
}


static void
small_buffer_is_refused(void **state)
{
    char             buf[8];
    kong_match_t     m;
    kong_config_t   *cfg;
    kong_request_t   r;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "routes:\n"
                 "- paths: [/]\n");

    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.method_len = 3;
    r.uri = "/a/long/path";
    r.uri_len = strlen(r.uri);

    assert_int_equal(kong_match(cfg, &r, &m, buf, sizeof(buf)), -1);

    kong_config_free(cfg);
}


/*
 * A trusted proxy's X-Forwarded-Proto: https (the glue sets
 * forwarded_https) satisfies an https-only route, as Kong's forwarded_proto
 * does; the route's snis still need the connection's own TLS.
 */
static void
forwarded_https_satisfies_an_https_only_route(void **state)
{
    char             buf[256];
    kong_match_t     m;
    kong_config_t   *cfg;
    kong_request_t   r;

    (void) state;

    cfg = cfg_of("_format_version: \"3.0\"\n"
                 "services:\n"
                 "- name: s\n"
                 "  host: s.test\n"
                 "  routes:\n"
                 "  - protocols: [https]\n"
                 "    paths: [/secure]\n");

    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.method_len = 3;
    r.uri = "/secure/x";
    r.uri_len = strlen(r.uri);
    r.port = 80;

    assert_int_equal(kong_match(cfg, &r, &m, buf, sizeof(buf)), 0);
    assert_int_equal(m.status, 426);

    r.forwarded_https = 1;

    assert_int_equal(kong_match(cfg, &r, &m, buf, sizeof(buf)), 0);
    assert_int_equal(m.status, 0);
    assert_string_equal(m.upstream_uri, "/x");

    kong_config_free(cfg);
}


/* ---- scale: the index, not a scan ---------------------------------------- */

static void
ten_thousand_routes(void **state)
{
    char           *yaml, *p, *end;
    char            host[64], path[128];
    size_t          i, size;
    kong_config_t  *cfg;
    kong_errors_t   errs;

    (void) state;

    size = 10000 * 160 + 1024;
    yaml = malloc(size);
    assert_non_null(yaml);

    p = yaml;
    end = yaml + size;
    p += snprintf(p, (size_t) (end - p),
                  "_format_version: \"3.0\"\nservices:\n");

    for (i = 0; i < 1000; i++) {
        p += snprintf(p, (size_t) (end - p),
                      "- name: s%zu\n  host: up%zu.test\n  routes:\n", i, i);
    }

    p += snprintf(p, (size_t) (end - p), "routes:\n");

    for (i = 0; i < 10000; i++) {
        p += snprintf(p, (size_t) (end - p),
                      "- name: r%zu\n  service: s%zu\n"
                      "  hosts: [h%zu.test]\n  paths: [/api/v%zu/items]\n",
                      i, i % 1000, i % 100, i);
    }

    cfg = kong_load_string("big.yml", yaml, (size_t) (p - yaml), 0, &errs);
    if (cfg == NULL) {
        kong_errors_print(&errs, stderr);
    }

    kong_errors_free(&errs);
    free(yaml);
    assert_non_null(cfg);
    assert_int_equal(cfg->nroutes, 10000);

    for (i = 0; i < 10000; i += 997) {
        snprintf(host, sizeof(host), "h%zu.test", i % 100);
        snprintf(path, sizeof(path), "/api/v%zu/items/1", i);
        assert_int_equal(atoi(route_of(cfg, "GET", host, path, NULL) + 1),
                         (int) i);
    }

    assert_string_equal(route_of(cfg, "GET", "h1.test", "/api/v2/items",
                                 NULL), "404");

    kong_config_free(cfg);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(more_attributes_win),
        cmocka_unit_test(disabled_service_not_routed),
        cmocka_unit_test(plain_hosts_beat_wildcards),
        cmocka_unit_test(hosts_with_ports),
        cmocka_unit_test(more_headers_win),
        cmocka_unit_test(header_values),
        cmocka_unit_test(regex_beats_prefix_then_regex_priority),
        cmocka_unit_test(regex_literal_prefixes_never_hide_a_match),
        cmocka_unit_test(longest_prefix_and_byte_prefixes),
        cmocka_unit_test(path_groups_of_one_route),
        cmocka_unit_test(ties_go_to_the_first_declared),
        cmocka_unit_test(methods_and_snis),
        cmocka_unit_test(request_path_is_normalized),
        cmocka_unit_test(answers_without_a_proxy),
        cmocka_unit_test(forwarded_https_satisfies_an_https_only_route),
        cmocka_unit_test(upstream_uri_query_prefix_and_escaping),
        cmocka_unit_test(kongs_path_joining_table),
        cmocka_unit_test(the_beamline_kong_yml),
        cmocka_unit_test(small_buffer_is_refused),
        cmocka_unit_test(ten_thousand_routes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
