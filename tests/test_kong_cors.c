/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: the cors plugin's engine against Kong 3.x's behaviour
 * (kong/plugins/cors/handler.lua and its access spec): preflight answers,
 * origins literal, "*" and regex, normalization, credentials, private
 * network, preflight_continue, allow_origin_absent, Vary.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kong_cors.h"


#define H(n, v)  { n, sizeof(n) - 1, v, sizeof(v) - 1 }


/* The value res gives header name: its text, "(clear)", "(vary)" or NULL */
static const char *
got(const kong_cors_result_t *res, const char *name)
{
    static char  buf[2048];
    size_t       i;

    for (i = 0; i < res->n; i++) {
        if (strcmp(res->headers[i].name, name) != 0) {
            continue;
        }
        if (res->headers[i].op == KONG_CORS_CLEAR) {
            return "(clear)";
        }
        if (res->headers[i].op == KONG_CORS_VARY) {
            return "(vary)";
        }
        memcpy(buf, res->headers[i].value, res->headers[i].value_len);
        buf[res->headers[i].value_len] = '\0';
        return buf;
    }
    return NULL;
}


static void
header_is(const kong_cors_result_t *res, const char *name, const char *want)
{
    const char  *v;

    v = got(res, name);
    if (want == NULL) {
        if (v != NULL) {
            print_error("%s: %s, want none\n", name, v);
            fail();
        }
        return;
    }
    if (v == NULL) {
        print_error("%s missing, want %s\n", name, want);
        fail();
    }
    assert_string_equal(v, want);
}


static kong_cors_t *
make(const kong_cors_conf_t *conf)
{
    char          err[256];
    kong_cors_t  *c;

    c = kong_cors_create(conf, err, sizeof(err));
    if (c == NULL) {
        print_error("%s\n", err);
        fail();
    }
    return c;
}


static int
preflight(kong_cors_t *c, const kong_header_t *h, size_t n,
    kong_cors_result_t *res)
{
    kong_cors_request_t  req;

    req.method = "OPTIONS";
    req.method_len = 7;
    req.headers = h;
    req.nheaders = n;
    return kong_cors_access(c, &req, res);
}


static void
actual(kong_cors_t *c, const kong_header_t *h, size_t n,
    kong_cors_result_t *res)
{
    kong_cors_request_t  req;

    req.method = "GET";
    req.method_len = 3;
    req.headers = h;
    req.nheaders = n;
    assert_int_equal(kong_cors_access(c, &req, res), KONG_CORS_PASS);
    kong_cors_header_filter(c, &req, res);
}


static void
defaults(void **state)
{
    kong_cors_conf_t    conf;
    kong_cors_t        *c;
    kong_cors_result_t  res;
    kong_header_t       pf[] = { H("Origin", "http://a.test"),
                                 H("Access-Control-Request-Method", "GET") };
    kong_header_t       pf2[] = { H("origin", "http://a.test"),
                                  H("access-control-request-method", "PUT"),
                                  H("Access-Control-Request-Headers",
                                    "X-One, X-Two") };
    kong_header_t       plain[] = { H("Origin", "http://a.test") };

    (void) state;
    kong_cors_conf_default(&conf);
    c = make(&conf);

    assert_int_equal(preflight(c, pf, 2, &res), KONG_CORS_ANSWER);
    header_is(&res, "Access-Control-Allow-Origin", "*");
    header_is(&res, "Access-Control-Allow-Methods",
              "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT");
    header_is(&res, "Access-Control-Allow-Headers", "(clear)");
    header_is(&res, "Access-Control-Max-Age", NULL);
    header_is(&res, "Access-Control-Allow-Credentials", NULL);
    header_is(&res, "Vary", NULL);

    /* no Access-Control-Allow-Headers configured: the request's echoed */
    assert_int_equal(preflight(c, pf2, 3, &res), KONG_CORS_ANSWER);
    header_is(&res, "Access-Control-Allow-Headers", "X-One, X-Two");

    /* an OPTIONS without Access-Control-Request-Method is no preflight */
    assert_int_equal(preflight(c, plain, 1, &res), KONG_CORS_PASS);

    /* an actual request, with and without Origin (allow_origin_absent) */
    actual(c, plain, 1, &res);
    header_is(&res, "Access-Control-Allow-Origin", "*");
    header_is(&res, "Access-Control-Expose-Headers", NULL);
    actual(c, NULL, 0, &res);
    header_is(&res, "Access-Control-Allow-Origin", "*");
    kong_cors_free(c);

    conf.allow_origin_absent = 0;
    c = make(&conf);
    actual(c, NULL, 0, &res);
    assert_int_equal(res.n, 0);
    actual(c, plain, 1, &res);
    header_is(&res, "Access-Control-Allow-Origin", "*");
    kong_cors_free(c);
}


static void
configured(void **state)
{
    kong_cors_conf_t          conf;
    kong_cors_t              *c;
    kong_cors_result_t        res;
    static const char *const  origins[] = { "example.com" };
    static const char *const  methods[] = { "GET" };
    static const char *const  headers[] = { "origin", "type", "accepts" };
    static const char *const  exposed[] = { "x-auth-token", "x-b" };
    kong_header_t             pf[] = {
        H("Origin", "http://elsewhere.test"),
        H("Access-Control-Request-Method", "GET"),
        H("Access-Control-Request-Private-Network", "true") };

    (void) state;
    kong_cors_conf_default(&conf);
    conf.origins = origins;
    conf.n_origins = 1;
    conf.methods = methods;
    conf.n_methods = 1;
    conf.headers = headers;
    conf.n_headers = 3;
    conf.exposed_headers = exposed;
    conf.n_exposed_headers = 2;
    conf.max_age = 23;
    conf.has_max_age = 1;
    conf.credentials = 1;
    c = make(&conf);

    /* one literal origin is sent whatever the request's Origin */
    assert_int_equal(preflight(c, pf, 3, &res), KONG_CORS_ANSWER);
    header_is(&res, "Access-Control-Allow-Origin", "example.com");
    header_is(&res, "Vary", "(vary)");
    header_is(&res, "Access-Control-Allow-Methods", "GET");
    header_is(&res, "Access-Control-Allow-Headers", "origin,type,accepts");
    header_is(&res, "Access-Control-Max-Age", "23");
    header_is(&res, "Access-Control-Allow-Credentials", "true");
    header_is(&res, "Access-Control-Allow-Private-Network", NULL);

    actual(c, pf, 1, &res);
    header_is(&res, "Access-Control-Allow-Origin", "example.com");
    header_is(&res, "Access-Control-Allow-Credentials", "true");
    header_is(&res, "Access-Control-Expose-Headers", "x-auth-token,x-b");
    header_is(&res, "Access-Control-Allow-Methods", NULL);
    kong_cors_free(c);

    /* private_network answers only "true" */
    conf.private_network = 1;
    conf.max_age = 3600.5;
    c = make(&conf);
    assert_int_equal(preflight(c, pf, 3, &res), KONG_CORS_ANSWER);
    header_is(&res, "Access-Control-Allow-Private-Network", "true");
    header_is(&res, "Access-Control-Max-Age", "3600.5");
    pf[2].value = "yes";
    pf[2].value_len = 3;
    assert_int_equal(preflight(c, pf, 3, &res), KONG_CORS_ANSWER);
    header_is(&res, "Access-Control-Allow-Private-Network", NULL);
    kong_cors_free(c);

    /* preflight_continue: proxied, no headers */
    conf.preflight_continue = 1;
    c = make(&conf);
    assert_int_equal(preflight(c, pf, 3, &res), KONG_CORS_CONTINUE);
    assert_int_equal(res.n, 0);
    kong_cors_free(c);
}


static void
origin_is(kong_cors_t *c, const char *origin, const char *want)
{
    kong_cors_result_t  res;
    kong_header_t       h[1];

    h[0].name = "Origin";
    h[0].name_len = 6;
    h[0].value = origin;
    h[0].value_len = strlen(origin);
    actual(c, h, 1, &res);
    header_is(&res, "Access-Control-Allow-Origin", want ? want : "(clear)");
    header_is(&res, "Vary", "(vary)");
}


static void
origins(void **state)
{
    kong_cors_conf_t          conf;
    kong_cors_t              *c;
    static const char *const  lit[] = { "http://my-site.test",
                                        "http://my-other-site.test",
                                        "https://secure.test:8443" };
    static const char *const  re[] = { "http://www.example.com",
                                       "(.*[.])?example-foo\\.test" };
    static const char *const  re2[] = { "^https://[a-z]+\\.ex\\.test:8000$",
                                        "*" };
    static const char *const  one[] = { "(.*[.])?example\\.test" };

    (void) state;
    kong_cors_conf_default(&conf);

    conf.origins = lit;
    conf.n_origins = 3;
    c = make(&conf);
    origin_is(c, "http://my-site.test", "http://my-site.test");
    origin_is(c, "http://my-site.test:80", "http://my-site.test");
    origin_is(c, "http://user@my-other-site.test/x?y",
              "http://my-other-site.test");
    origin_is(c, "http://my-site.test:8000", NULL);
    origin_is(c, "https://my-site.test", NULL);
    origin_is(c, "https://secure.test:8443", "https://secure.test:8443");
    origin_is(c, "https://secure.test", NULL);
    origin_is(c, "", NULL);
    kong_cors_free(c);

    /* a regex without ":" is matched against the host only, anchored */
    conf.origins = re;
    conf.n_origins = 2;
    c = make(&conf);
    origin_is(c, "http://www.example-foo.test", "http://www.example-foo.test");
    origin_is(c, "https://example-foo.test:443", "https://example-foo.test");
    origin_is(c, "http://www.example-foo.test.evil", NULL);
    origin_is(c, "http://www.example.com", "http://www.example.com");
    kong_cors_free(c);

    /* with ":" against scheme://host:port; a leading "^" is dropped; a
     * "*" among others is a regex that does not compile: no match */
    conf.origins = re2;
    c = make(&conf);
    origin_is(c, "https://abc.ex.test:8000", "https://abc.ex.test:8000");
    origin_is(c, "https://abc.ex.test", NULL);
    origin_is(c, "*", NULL);
    kong_cors_free(c);

    /* one regex origin is matched too */
    conf.origins = one;
    conf.n_origins = 1;
    c = make(&conf);
    origin_is(c, "https://a.example.test", "https://a.example.test");
    origin_is(c, "https://a.example.tester", NULL);
    kong_cors_free(c);
}


static void
credentials_star(void **state)
{
    kong_cors_conf_t          conf;
    kong_cors_t              *c;
    kong_cors_result_t        res;
    static const char *const  star[] = { "*" };
    kong_header_t             h[] = { H("Origin", "http://x.test:81") };

    (void) state;
    kong_cors_conf_default(&conf);
    conf.origins = star;
    conf.n_origins = 1;
    conf.credentials = 1;
    c = make(&conf);

    /* "*" cannot go with credentials: the origin is echoed as sent */
    actual(c, h, 1, &res);
    header_is(&res, "Access-Control-Allow-Origin", "http://x.test:81");
    header_is(&res, "Access-Control-Allow-Credentials", "true");
    header_is(&res, "Vary", "(vary)");

    /* no Origin: "*" and no credentials header */
    actual(c, NULL, 0, &res);
    header_is(&res, "Access-Control-Allow-Origin", "*");
    header_is(&res, "Access-Control-Allow-Credentials", NULL);
    kong_cors_free(c);
}


static void
schema(void **state)
{
    char                      err[256];
    kong_cors_conf_t          conf;
    static const char *const  bad_re[] = { "http://a.test", "(" };
    static const char *const  bad_m[] = { "GET", "FETCH" };

    (void) state;
    kong_cors_conf_default(&conf);
    conf.origins = bad_re;
    conf.n_origins = 2;
    assert_null(kong_cors_create(&conf, err, sizeof(err)));
    assert_string_equal(err, "config.origins: '(' is not a valid regex");

    kong_cors_conf_default(&conf);
    conf.methods = bad_m;
    conf.n_methods = 2;
    assert_null(kong_cors_create(&conf, err, sizeof(err)));
    assert_string_equal(err, "config.methods: expected one of: GET, HEAD, "
                        "PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT");
}


static void
vary_and_normalize(void **state)
{
    char         out[64];
    const char  *host;
    size_t       n, hl;

    (void) state;

    assert_int_equal(kong_cors_vary(NULL, 0, out, sizeof(out)), 6);
    assert_string_equal(out, "Origin");
    n = kong_cors_vary("Accept-Encoding", 15, out, sizeof(out));
    assert_int_equal(n, 23);
    assert_string_equal(out, "Accept-Encoding, Origin");
    kong_cors_vary("accept, ORIGIN", 14, out, sizeof(out));
    assert_string_equal(out, "accept, ORIGIN");
    kong_cors_vary("*", 1, out, sizeof(out));
    assert_string_equal(out, "*");
    assert_int_equal(kong_cors_vary("Accept", 6, out, 10), 0);

    kong_cors_normalize("HTTP://A.test:80", 16, out, &host, &hl);
    assert_string_equal(out, "HTTP://A.test:80");   /* scheme compared as is */
    kong_cors_normalize("https://[::1]:443/p", 19, out, &host, &hl);
    assert_string_equal(out, "https://::1");
    assert_int_equal(hl, 3);
    kong_cors_normalize("null", 4, out, &host, &hl);
    assert_string_equal(out, "null");
    kong_cors_normalize("http://", 7, out, &host, &hl);
    assert_string_equal(out, "http://");
    kong_cors_normalize("http://a:", 9, out, &host, &hl);
    assert_string_equal(out, "http://a:");
    kong_cors_normalize("//h:1", 5, out, &host, &hl);
    assert_string_equal(out, "h:1");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(configured),
        cmocka_unit_test(origins),
        cmocka_unit_test(credentials_star),
        cmocka_unit_test(schema),
        cmocka_unit_test(vary_and_normalize),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
