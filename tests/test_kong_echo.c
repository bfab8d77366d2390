/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: request-termination's echo body against Kong 3.x's
 * behaviour (kong/plugins/request-termination/handler.lua over
 * kong.request.get_headers, get_query, get_body, get_raw_body and
 * get_uri_captures, written by lua-cjson): the exact bytes for each part.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kong_echo.h"


#define KONG_PART  "\"kong\":{\"node_id\":\"n\",\"worker_pid\":7," \
                   "\"hostname\":\"h\"}"
#define NO_CAPS    "\"uri_captures\":{\"named\":{},\"unnamed\":[]}"


static kong_header_t  hdrs[128];


static void
base(kong_echo_request_t *r)
{
    memset(r, 0, sizeof(*r));
    r->node_id = "n";
    r->worker_pid = 7;
    r->hostname = "h";
    r->scheme = "http";
    r->host = "localhost";
    r->host_len = 9;
    r->port = 8000;
    r->method = "GET";
    r->method_len = 3;
    r->path = "/p";
    r->path_len = 2;
    r->headers = hdrs;
}


static void
header(kong_echo_request_t *r, const char *name, const char *value)
{
    hdrs[r->nheaders].name = name;
    hdrs[r->nheaders].name_len = strlen(name);
    hdrs[r->nheaders].value = value;
    hdrs[r->nheaders].value_len = strlen(value);
    r->nheaders++;
}


/* the body for r must be exactly want */
static void
expect(const kong_echo_request_t *r, const char *want)
{
    char    *out;
    size_t   len;

    out = kong_echo_body(r, &len);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    assert_string_equal(out, want);
    free(out);
}


/* the request member's body/raw_body part, for a POST of body as ct */
static void
expect_body(const char *ct, const char *body, const char *want)
{
    char                 buf[4096], esc[256], *e;
    const char          *c;
    kong_echo_request_t  r;

    /* the Content-Type as lua-cjson writes it: '/' escaped */
    for (c = ct, e = esc; *c; c++) {
        if (*c == '/') {
            *e++ = '\\';
        }
        *e++ = *c;
    }
    *e = '\0';

    base(&r);
    header(&r, "Content-Type", ct);
    r.body = body;
    r.body_len = strlen(body);

    snprintf(buf, sizeof(buf),
             "{" KONG_PART ",\"request\":{\"scheme\":\"http\","
             "\"host\":\"localhost\",\"port\":8000,\"headers\":"
             "{\"content-type\":\"%s\"},\"query\":{},%s,\"method\":\"GET\","
             "\"path\":\"\\/p\"," NO_CAPS "}}", esc, want);

    expect(&r, buf);
}


static void
node_id(void **state)
{
    char  id[37];

    (void) state;

    /* Python: uuid.uuid5(uuid.NAMESPACE_DNS, "example.com") */
    assert_int_equal(kong_echo_node_id("example.com", id), 0);
    assert_string_equal(id, "cfbff0d1-9375-5685-968c-48ce8b15ae17");
}


static void
default_messages(void **state)
{
    (void) state;

    assert_string_equal(kong_echo_default_message(503),
                        "Service unavailable");
    assert_string_equal(kong_echo_default_message(502), "Bad Gateway");
    assert_string_equal(kong_echo_default_message(404), "Not found");
    assert_null(kong_echo_default_message(200));
    assert_null(kong_echo_default_message(418));
}


static void
headers_and_query(void **state)
{
    kong_echo_request_t  r;

    (void) state;

    base(&r);
    r.message = "a/\"b\"\x7f";
    header(&r, "Host", "localhost");
    header(&r, "X-Multi", "one");
    header(&r, "x-MULTI", "two");
    header(&r, "X-Multi", "three");
    header(&r, "Accept", "*/*");
    r.args = "a=1&a=2&flag&empty=&sp=x%20y+z&%2F=s&=novalue&&a";
    r.args_len = strlen(r.args);

    expect(&r, "{\"message\":\"a\\/\\\"b\\\"\\u007f\"," KONG_PART ","
           "\"request\":{\"scheme\":\"http\",\"host\":\"localhost\","
           "\"port\":8000,\"headers\":{\"host\":\"localhost\","
           "\"x-multi\":[\"one\",\"two\",\"three\"],\"accept\":\"*\\/*\"},"
           "\"query\":{\"a\":[\"1\",\"2\",true],\"flag\":true,\"empty\":\"\","
           "\"sp\":\"x y z\",\"\\/\":\"s\"},\"raw_body\":\"\","
           "\"method\":\"GET\",\"path\":\"\\/p\"," NO_CAPS "}}");
}


/* at most 100 headers and 100 arguments, as Kong's defaults */
static void
limits(void **state)
{
    char                 *out, args[1024], *p;
    size_t                i, len;
    kong_echo_request_t   r;

    (void) state;

    base(&r);

    for (i = 0; i < 101; i++) {
        header(&r, "X", "v");
    }

    p = args;
    for (i = 0; i < 101; i++) {
        p += sprintf(p, "%sk%zu", i ? "&" : "", i);
    }
    r.args = args;
    r.args_len = strlen(args);

    out = kong_echo_body(&r, &len);
    assert_non_null(out);

    /* 100 "v" values, and k0 .. k99 but not k100 */
    for (i = 0, p = out; (p = strstr(p, "\"v\"")) != NULL; p++) {
        i++;
    }
    assert_int_equal(i, 100);
    assert_non_null(strstr(out, "\"k99\":true}"));
    assert_null(strstr(out, "k100"));

    free(out);
}


static void
bodies(void **state)
{
    (void) state;

    /* JSON: numbers with 16 digits, null kept, arrays and empty ones */
    expect_body("application/json",
                "{\"s\":\"x/y\",\"n\":1,\"f\":2.5,\"big\":12345678901234567890,"
                "\"e\":1e2,\"neg\":-0.0,\"nul\":null,\"a\":[[],{}]}",
                "\"body\":{\"s\":\"x\\/y\",\"n\":1,\"f\":2.5,"
                "\"big\":1.234567890123457e+19,\"e\":100,\"neg\":-0,"
                "\"nul\":null,\"a\":[[],{}]},"
                "\"raw_body\":\"{\\\"s\\\":\\\"x\\/y\\\",\\\"n\\\":1,"
                "\\\"f\\\":2.5,\\\"big\\\":12345678901234567890,"
                "\\\"e\\\":1e2,\\\"neg\\\":-0.0,\\\"nul\\\":null,"
                "\\\"a\\\":[[],{}]}\"");

    /* a JSON array is a table too; a scalar or broken JSON is not */
    expect_body("application/json; charset=utf-8", "[1,\"a\"]",
                "\"body\":[1,\"a\"],\"raw_body\":\"[1,\\\"a\\\"]\"");
    expect_body("application/json", "\"x\"", "\"raw_body\":\"\\\"x\\\"\"");
    expect_body("application/json", "{\"a\":", "\"raw_body\":\"{\\\"a\\\":\"");

    /* the media type by prefix, without case, up to ";" */
    expect_body("Application/JSONx", "{}", "\"body\":{},\"raw_body\":\"{}\"");

    /* forms */
    expect_body("application/x-www-form-urlencoded; charset=utf-8",
                "a=1&a=2&b&c=x%2Fy+z&=skip",
                "\"body\":{\"a\":[\"1\",\"2\"],\"b\":true,\"c\":\"x\\/y z\"},"
                "\"raw_body\":\"a=1&a=2&b&c=x%2Fy+z&=skip\"");
    expect_body("application/x-www-form-urlencoded", "",
                "\"body\":{},\"raw_body\":\"\"");

    /* multipart: a repeated name is an array, a file its content */
    expect_body("multipart/form-data; boundary=B",
                "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
                "--B\r\nContent-Disposition: form-data; name=\"f\"; "
                "filename=\"x\"\r\n\r\nl1\r\nl2\r\n"
                "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n2\r\n"
                "--B--\r\n",
                "\"body\":{\"a\":[\"1\",\"2\"],\"f\":\"l1\\r\\nl2\"},"
                "\"raw_body\":\"--B\\r\\nContent-Disposition: form-data; "
                "name=\\\"a\\\"\\r\\n\\r\\n1\\r\\n--B\\r\\nContent-Disposition: "
                "form-data; name=\\\"f\\\"; filename=\\\"x\\\"\\r\\n\\r\\n"
                "l1\\r\\nl2\\r\\n--B\\r\\nContent-Disposition: form-data; "
                "name=\\\"a\\\"\\r\\n\\r\\n2\\r\\n--B--\\r\\n\"");
    expect_body("multipart/form-data", "x", "\"body\":{},\"raw_body\":\"x\"");

    /* a type Kong does not parse */
    expect_body("text/plain", "a=b", "\"raw_body\":\"a=b\"");
}


static void
no_body(void **state)
{
    char                 *out, *deep;
    size_t                len, i;
    kong_echo_request_t   r;

    (void) state;

    /* not kept in memory: neither body nor raw_body */
    base(&r);
    header(&r, "Content-Type", "application/json");
    r.body_unread = 1;
    expect(&r, "{" KONG_PART ",\"request\":{\"scheme\":\"http\","
           "\"host\":\"localhost\",\"port\":8000,\"headers\":"
           "{\"content-type\":\"application\\/json\"},\"query\":{},"
           "\"method\":\"GET\",\"path\":\"\\/p\"," NO_CAPS "}}");

    /* JSON nested deeper than lua-cjson decodes: no body */
    deep = malloc(2 * 1001 + 1);
    assert_non_null(deep);
    for (i = 0; i < 1001; i++) {
        deep[i] = '[';
        deep[1001 + i] = ']';
    }
    deep[2002] = '\0';

    base(&r);
    header(&r, "Content-Type", "application/json");
    r.body = deep;
    r.body_len = 2002;
    out = kong_echo_body(&r, &len);
    assert_non_null(out);
    assert_null(strstr(out, "\"body\""));
    free(out);

    r.body = deep + 1;
    r.body_len = 2000;
    out = kong_echo_body(&r, &len);
    assert_non_null(out);
    assert_non_null(strstr(out, "\"body\":[[["));
    free(out);

    free(deep);
}


static void
captures(void **state)
{
    kong_echo_request_t   r;
    kong_xform_capture_t  c[4];

    (void) state;

    /* (?<id>\d+)/(x)?(\w+) on "/42/ab": 0, 1, 3 and the name */
    memset(c, 0, sizeof(c));
    c[0].index = 0;
    c[0].value = "/42/ab";
    c[0].value_len = 6;
    c[1].index = 1;
    c[1].value = "42";
    c[1].value_len = 2;
    c[2].index = 3;
    c[2].value = "ab";
    c[2].value_len = 2;
    c[3].index = -1;
    c[3].name = "id";
    c[3].value = "42";
    c[3].value_len = 2;

    base(&r);
    r.captures = c;
    r.ncaptures = 4;

    expect(&r, "{" KONG_PART ",\"request\":{\"scheme\":\"http\","
           "\"host\":\"localhost\",\"port\":8000,\"headers\":{},\"query\":{},"
           "\"raw_body\":\"\",\"method\":\"GET\",\"path\":\"\\/p\","
           "\"uri_captures\":{\"named\":{\"id\":\"42\"},"
           "\"unnamed\":[\"42\",null,\"ab\"]}}}");
}


static void
entities(void **state)
{
    char                 *out, want[2048];
    size_t                len;
    kong_errors_t         errs;
    kong_config_t        *cfg;
    kong_echo_request_t   r;

    static const char  yml[] =
        "_format_version: \"3.0\"\n"
        "services:\n"
        "- name: s\n"
        "  url: https://example.com:8443/base\n"
        "  tags: [a]\n"
        "  routes:\n"
        "  - name: r\n"
        "    paths: [\"~/x/(\\\\d+)$\", /y]\n"
        "    hosts: [\"*.example.com\"]\n"
        "    headers: {x-v: [\"a\", \"~*^b\"]}\n"
        "    created_at: 1600000000\n";

    (void) state;

    cfg = kong_load_string("t.yml", yml, sizeof(yml) - 1, 0, &errs);
    assert_non_null(cfg);
    kong_errors_free(&errs);

    base(&r);
    r.route = cfg->routes[0];
    r.service = cfg->services[0];
    r.loaded = 1700000000;

    out = kong_echo_body(&r, &len);
    assert_non_null(out);

    /* ids derived from the names: sha1("routes:r"), sha1("services:s") */
    snprintf(want, sizeof(want),
             "\"matched_route\":{\"id\":\"%s\",\"created_at\":1600000000,"
             "\"updated_at\":1600000000,\"name\":\"r\","
             "\"protocols\":[\"http\",\"https\"],"
             "\"hosts\":[\"*.example.com\"],"
             "\"paths\":[\"~\\/x\\/(\\\\d+)$\",\"\\/y\"],"
             "\"headers\":{\"x-v\":[\"a\",\"~*^b\"]},"
             "\"https_redirect_status_code\":426,\"regex_priority\":0,"
             "\"strip_path\":true,\"path_handling\":\"v0\","
             "\"preserve_host\":false,\"request_buffering\":true,"
             "\"response_buffering\":true,\"service\":{\"id\":\"%s\"},"
             "\"ws_id\":\"%s\"},"
             "\"matched_service\":{\"id\":\"%s\",\"created_at\":1700000000,"
             "\"updated_at\":1700000000,\"name\":\"s\",\"retries\":5,"
             "\"protocol\":\"https\",\"host\":\"example.com\",\"port\":8443,"
             "\"path\":\"\\/base\",\"connect_timeout\":60000,"
             "\"write_timeout\":60000,\"read_timeout\":60000,"
             "\"tags\":[\"a\"],\"enabled\":true,\"ws_id\":\"%s\"}}",
             "8b3c72b8-8fc8-5e10-95ad-a331143fb002",
             "e551c72a-16e3-52f5-9859-f34bc14e9fa3",
             "c27261ae-79fe-551c-b021-8e7ff28277af",
             "e551c72a-16e3-52f5-9859-f34bc14e9fa3",
             "c27261ae-79fe-551c-b021-8e7ff28277af");

    assert_non_null(strstr(out, want));
    assert_string_equal(strstr(out, want), want);

    free(out);
    kong_config_free(cfg);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(node_id),
        cmocka_unit_test(default_messages),
        cmocka_unit_test(headers_and_query),
        cmocka_unit_test(limits),
        cmocka_unit_test(bodies),
        cmocka_unit_test(no_body),
        cmocka_unit_test(captures),
        cmocka_unit_test(entities),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
