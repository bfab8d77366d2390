/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: request-transformer and response-transformer against Kong
 * 3.x's behaviour (kong/plugins/request-transformer/access.lua,
 * response-transformer/header_transformer.lua, body_transformer.lua and
 * their specs): each op on headers, query string, JSON and form bodies, in
 * Kong's order; templates; the schema's messages.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kong_xform.h"


#define H(n, v)  { n, sizeof(n) - 1, v, sizeof(v) - 1 }
#define L(...)   { (const char *const []) { __VA_ARGS__ },                  \
                   sizeof((const char *const []) { __VA_ARGS__ })           \
                   / sizeof(const char *) }


static kong_xform_t *
make(const kong_xform_conf_t *conf, int which)
{
    char           err[512];
    kong_xform_t  *x;

    x = kong_xform_create(conf, which, err, sizeof(err));
    if (x == NULL) {
        print_error("%s\n", err);
        fail();
    }
    return x;
}


static void
bad(const kong_xform_conf_t *conf, int which, const char *want)
{
    char  err[512];

    assert_null(kong_xform_create(conf, which, err, sizeof(err)));
    assert_string_equal(err, want);
}


/* The output headers as "name: value\n" lines. */
static const char *
lines(const kong_xform_out_t *out)
{
    static char  buf[4096];
    size_t       i, n;

    n = 0;
    buf[0] = '\0';
    for (i = 0; i < out->nheaders; i++) {
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%.*s: %.*s\n",
                               (int) out->headers[i].name_len,
                               out->headers[i].name,
                               (int) out->headers[i].value_len,
                               out->headers[i].value);
    }
    return buf;
}


static void
str_is(const char *s, size_t len, const char *want)
{
    if (want == NULL) {
        assert_null(s);
        return;
    }
    assert_non_null(s);
    if (len != strlen(want) || memcmp(s, want, len) != 0) {
        print_error("got '%.*s', want '%s'\n", (int) len, s, want);
        fail();
    }
}


static void
request_headers(void **state)
{
    kong_xform_conf_t     c;
    kong_xform_t         *x;
    kong_xform_out_t      out;
    kong_xform_request_t  r;
    kong_header_t         h[] = {
        H("Host", "a.test"), H("X-To-Remove", "1"), H("x-old", "o"),
        H("X-Case", "c"), H("X-Rep", "r"), H("X-Add", "keep"),
        H("X-App", "a1"), H("x-old2", "p"), H("X-Target", "t")
    };

    (void) state;
    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_REMOVE][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-to-REMOVE", "x-absent");
    c.items[KONG_XFORM_RENAME][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("X-Old:X-New", "x-case:X-CASE",
                              "x-old2:x-target", "x-none:x-other");
    c.items[KONG_XFORM_REPLACE][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-rep:R2", "x-missing:m", "host:b.test");
    c.items[KONG_XFORM_ADD][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-add:no", "X-Added:yes", "host:c.test",
                              "x-empty:");
    c.items[KONG_XFORM_APPEND][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-app:a2", "x-fresh:f1", "x-fresh:f2");
    x = make(&c, KONG_XFORM_REQUEST);

    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.method_len = 3;
    r.headers = h;
    r.nheaders = sizeof(h) / sizeof(h[0]);
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    assert_true(out.headers_changed);

    /* rename lower-cases the new name (Kong renames in its lower-case
     * table); a rename onto an existing header replaces it; a change of
     * case keeps the configured case; replace needs the header, except
     * Host; add never adds Host */
    assert_string_equal(lines(&out),
                        "Host: b.test\n"
                        "x-new: o\n"
                        "X-CASE: c\n"
                        "X-Rep: R2\n"
                        "X-Add: keep\n"
                        "X-App: a1\n"
                        "X-App: a2\n"
                        "x-target: p\n"
                        "X-Added: yes\n"
                        "x-fresh: f1\n"
                        "x-fresh: f2\n");
    assert_null(out.args);
    assert_null(out.body);
    assert_null(out.method);
    kong_xform_out_free(&out);
    kong_xform_free(x);
}


static void
request_query(void **state)
{
    kong_xform_conf_t     c;
    kong_xform_t         *x;
    kong_xform_out_t      out;
    kong_xform_request_t  r;

    (void) state;
    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_REMOVE][KONG_XFORM_QUERY] =
        (kong_xform_list_t) L("toremove");
    c.items[KONG_XFORM_RENAME][KONG_XFORM_QUERY] =
        (kong_xform_list_t) L("old:new");
    c.items[KONG_XFORM_REPLACE][KONG_XFORM_QUERY] =
        (kong_xform_list_t) L("rep:x y", "absent:z");
    c.items[KONG_XFORM_ADD][KONG_XFORM_QUERY] =
        (kong_xform_list_t) L("rep:no", "added:a&b");
    c.items[KONG_XFORM_APPEND][KONG_XFORM_QUERY] =
        (kong_xform_list_t) L("multi:3", "bare:v");
    x = make(&c, KONG_XFORM_REQUEST);

    memset(&r, 0, sizeof(r));
    r.args = "toremove=1&old=o%20o&rep=r&multi=1&multi=2&bare&keep=a+b";
    r.args_len = strlen(r.args);
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    str_is(out.args, out.args_len,
           "new=o%20o&rep=x%20y&multi=1&multi=2&multi=3&bare=v&keep=a%20b"
           "&added=a%26b");
    assert_false(out.headers_changed);
    kong_xform_out_free(&out);
    kong_xform_free(x);
}


static void
request_json(void **state)
{
    kong_xform_conf_t     c;
    kong_xform_t         *x;
    kong_xform_out_t      out;
    kong_xform_request_t  r;
    kong_header_t         h[] = { H("Content-Type",
                                    "application/JSON; charset=utf-8") };

    (void) state;
    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_REMOVE][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("gone");
    c.items[KONG_XFORM_RENAME][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("old:new", "f:g");
    c.items[KONG_XFORM_REPLACE][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("rep:R", "nope:x");
    c.items[KONG_XFORM_ADD][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("rep:no", "f:now", "added:a/b");
    c.items[KONG_XFORM_APPEND][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("s:2", "arr:x", "num:n", "fresh:1");
    x = make(&c, KONG_XFORM_REQUEST);

    memset(&r, 0, sizeof(r));
    r.headers = h;
    r.nheaders = 1;
    r.body = "{\"gone\":1, \"old\": {\"a\": [1, 2.50]}, \"rep\":\"r\","
             " \"f\":false, \"s\":\"1\", \"arr\":[ 1 ],"
             " \"num\":12345678901234567,"
             " \"k\":\"\\u00e9\"}";
    r.body_len = strlen(r.body);
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    /* untouched values are kept as written; false is not renamed and is
     * replaced by add; escaping of added strings is lua-cjson's */
    str_is(out.body, out.body_len,
           "{\"new\":{\"a\": [1, 2.50]},\"rep\":\"R\",\"f\":\"now\","
           "\"s\":[\"1\",\"2\"],\"arr\":[ 1,\"x\"],\"num\":[\"n\"],"
           "\"k\":\"\\u00e9\",\"added\":\"a\\/b\",\"fresh\":[\"1\"]}");
    kong_xform_out_free(&out);

    /* an empty body: only add and append */
    r.body = "";
    r.body_len = 0;
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    str_is(out.body, out.body_len,
           "{\"rep\":\"no\",\"f\":\"now\",\"added\":\"a\\/b\",\"s\":[\"2\"],"
           "\"arr\":[\"x\"],\"num\":[\"n\"],\"fresh\":[\"1\"]}");
    kong_xform_out_free(&out);

    /* invalid JSON or not an object: left alone */
    r.body = "{\"a\":";
    r.body_len = strlen(r.body);
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    assert_null(out.body);
    kong_xform_out_free(&out);
    r.body = "[1,2]";
    r.body_len = 5;
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    assert_null(out.body);
    kong_xform_out_free(&out);
    kong_xform_free(x);
}


static void
request_form_and_method(void **state)
{
    kong_xform_conf_t     c;
    kong_xform_t         *x;
    kong_xform_out_t      out;
    kong_xform_request_t  r;
    kong_header_t         h[] = { H("Content-Type",
                                    "application/x-www-form-urlencoded") };

    (void) state;
    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_REMOVE][KONG_XFORM_BODY] = (kong_xform_list_t) L("p");
    c.items[KONG_XFORM_ADD][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("q:new", "n:1");
    c.items[KONG_XFORM_APPEND][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("q:2");
    x = make(&c, KONG_XFORM_REQUEST);

    memset(&r, 0, sizeof(r));
    r.headers = h;
    r.nheaders = 1;
    r.body = "p=1&q=a+b&q=c";
    r.body_len = strlen(r.body);
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    str_is(out.body, out.body_len, "q=a%20b&q=c&q=2&n=1");
    kong_xform_out_free(&out);
    kong_xform_free(x);

    /* http_method GET: the form body joins the query string */
    memset(&c, 0, sizeof(c));
    c.http_method = "GET";
    x = make(&c, KONG_XFORM_REQUEST);
    r.method = "POST";
    r.method_len = 4;
    r.args = "q=0";
    r.args_len = 3;
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    assert_string_equal(out.method, "GET");
    str_is(out.args, out.args_len, "q=0&q=a%20b&q=c&p=1");
    kong_xform_out_free(&out);
    kong_xform_free(x);

    c.http_method = "get";
    bad(&c, KONG_XFORM_REQUEST, "config.http_method: invalid value: get");
}


static void
templates(void **state)
{
    kong_xform_conf_t     c;
    kong_xform_t         *x;
    kong_xform_out_t      out;
    kong_xform_request_t  r;
    kong_header_t         h[] = { H("Host", "h"), H("X-User", "bob"),
                                  H("X-Two", "1"), H("X-Two", "2") };
    kong_xform_capture_t  cap[] = { { 1, NULL, "42", 2 },
                                    { -1, "name", "ann", 3 } };

    (void) state;
    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_ADD][KONG_XFORM_HEADERS] = (kong_xform_list_t) L(
        "x-a:$(headers.x_user)",
        "x-b:user=$(headers[\"X-USER\"]) id=$(uri_captures[1])",
        "x-c:$(query_params.q)",
        "x-d:$(headers.missing or query_params['missing'] or \"none\")",
        "x-e:[$(headers.missing)]",
        "x-f:$(uri_captures.name)$(uri_captures[\"name\"])",
        "x-g:$(headers[\"x-two\"])",
        "x-h:$(query_params.flag)",
        "x-i:$(unbalanced");
    c.replace_uri = "/users/$(uri_captures[1])";
    x = make(&c, KONG_XFORM_REQUEST);

    memset(&r, 0, sizeof(r));
    r.headers = h;
    r.nheaders = 4;
    r.args = "q=a%2Fb&flag";
    r.args_len = strlen(r.args);
    r.captures = cap;
    r.ncaptures = 2;
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    str_is(out.path, out.path_len, "/users/42");
    assert_string_equal(lines(&out),
                        "Host: h\n"
                        "X-User: bob\n"
                        "X-Two: 1\n"
                        "X-Two: 2\n"
                        "x-a: bob\n"
                        "x-b: user=bob id=42\n"
                        "x-c: a/b\n"
                        "x-d: none\n"
                        "x-e: []\n"
                        "x-f: annann\n"
                        "x-g: 1\n"
                        "x-h: true\n"
                        "x-i: $(unbalanced\n");
    kong_xform_out_free(&out);
    kong_xform_free(x);

    /* a path that does not start with "/" */
    memset(&c, 0, sizeof(c));
    c.replace_uri = "$(query_params.q)";
    x = make(&c, KONG_XFORM_REQUEST);
    assert_int_equal(kong_xform_request(x, &r, &out), -1);
    assert_non_null(out.error);
    kong_xform_out_free(&out);
    kong_xform_free(x);

    /* Lua beyond lookups and literals is refused at load */
    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_ADD][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-a:$(os.getenv('HOME'))");
    bad(&c, KONG_XFORM_REQUEST,
        "value '$(os.getenv('HOME'))' is not in supported format, error: "
        "this gateway renders only headers.N, headers[\"N\"], "
        "query_params.N, query_params[\"N\"], uri_captures[I], "
        "uri_captures.N, uri_captures[\"N\"] and string literals, joined "
        "by 'or'");
}


static void
schema(void **state)
{
    kong_xform_conf_t  c;

    (void) state;
    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_ADD][KONG_XFORM_QUERY] = (kong_xform_list_t) L("q:");
    bad(&c, KONG_XFORM_REQUEST,
        "config.add.querystring: key 'q' has no value");

    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_ADD][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x y:1");
    bad(&c, KONG_XFORM_REQUEST,
        "config.add.headers: 'x y' is not a valid header");

    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_RENAME][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-a:b c");
    bad(&c, KONG_XFORM_REQUEST,
        "config.rename.headers: 'b c' is not a valid header");

    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_APPEND][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-a");
    bad(&c, KONG_XFORM_REQUEST, "config.append.headers: invalid value: x-a");

    memset(&c, 0, sizeof(c));
    c.json_types[KONG_XFORM_ADD] = (kong_xform_list_t) L("int");
    bad(&c, KONG_XFORM_RESPONSE,
        "config.add.json_types: expected one of: boolean, number, string");

    /* "name:::value": the first run of colons separates */
    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_ADD][KONG_XFORM_QUERY] =
        (kong_xform_list_t) L("q:::v:w");
    kong_xform_free(make(&c, KONG_XFORM_REQUEST));
}


static void
response(void **state)
{
    kong_xform_conf_t  c;
    kong_xform_t      *x;
    kong_xform_out_t   out;
    kong_header_t      h[] = {
        H("Content-Type", "application/json"), H("Content-Length", "99"),
        H("X-Remove", "1"), H("X-Old", "o"), H("X-Rep", "r"),
        H("X-Add", "keep")
    };
    const char        *body;

    (void) state;
    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_REMOVE][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-remove");
    c.items[KONG_XFORM_RENAME][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-old:X-New");
    c.items[KONG_XFORM_REPLACE][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-rep:R", "x-remove:back", "x-none:n");
    c.items[KONG_XFORM_ADD][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-add:no", "x-new2:yes");
    c.items[KONG_XFORM_APPEND][KONG_XFORM_HEADERS] =
        (kong_xform_list_t) L("x-add:more");
    c.items[KONG_XFORM_REMOVE][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("secret");
    c.items[KONG_XFORM_RENAME][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("a:b");
    c.items[KONG_XFORM_REPLACE][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("n:7", "t:true");
    c.json_types[KONG_XFORM_REPLACE] =
        (kong_xform_list_t) L("number", "boolean");
    c.items[KONG_XFORM_ADD][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("q:say \"hi\" a\\b/c", "n:no", "z:1.50");
    c.json_types[KONG_XFORM_ADD] =
        (kong_xform_list_t) L("string", "string", "number");
    c.items[KONG_XFORM_APPEND][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("list:3");
    x = make(&c, KONG_XFORM_RESPONSE);

    /* replace and rename test the headers as they came: a removed header
     * is replaced back */
    assert_int_equal(kong_xform_response_headers(x, h, 6, &out), 0);
    assert_true(out.clear_content_length);
    assert_string_equal(lines(&out),
                        "Content-Type: application/json\n"
                        "X-Rep: R\n"
                        "X-Add: keep\n"
                        "X-New: o\n"
                        "x-remove: back\n"
                        "x-new2: yes\n"
                        "x-add: more\n");
    kong_xform_out_free(&out);

    assert_true(kong_xform_response_wants_body(x, "Application/JSON", 16));
    assert_false(kong_xform_response_wants_body(x, "text/html", 9));

    body = "{\"secret\":1,\"a\":\"x\",\"n\":1,\"t\":0,\"list\":[1,2]}";
    assert_int_equal(kong_xform_response_body(x, body, strlen(body), &out),
                     0);
    str_is(out.body, out.body_len,
           "{\"b\":\"x\",\"n\":7,\"t\":true,\"list\":[1,2,\"3\"],"
           "\"q\":\"say \\\"hi\\\" a\\\\\\\\b\\/c\",\"z\":1.5}");
    kong_xform_out_free(&out);

    assert_int_equal(kong_xform_response_body(x, "oops", 4, &out), 0);
    assert_null(out.body);
    kong_xform_out_free(&out);
    kong_xform_free(x);
}


static void
codecs(void **state)
{
    char  out[64];

    (void) state;
    assert_int_equal(kong_xform_unescape("a%2Fb+c%zz%4", 12, out, 1), 10);
    assert_memory_equal(out, "a/b c%zz%4", 10);
    assert_int_equal(kong_xform_escape("a b/~", 5, out), 9);
    assert_memory_equal(out, "a%20b%2F~", 9);

    assert_true(kong_xform_json_valid("{\"a\":[1,-2.5e3,true,null]}", 26));
    assert_true(kong_xform_json_valid(" \"\\u00e9\" ", 10));
    assert_false(kong_xform_json_valid("{\"a\":01}", 8));
    assert_false(kong_xform_json_valid("{\"a\":1,}", 8));
    assert_false(kong_xform_json_valid("[1] [2]", 7));
    assert_false(kong_xform_json_valid("\"\x01\"", 3));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(request_headers),
        cmocka_unit_test(request_query),
        cmocka_unit_test(request_json),
        cmocka_unit_test(request_form_and_method),
        cmocka_unit_test(templates),
        cmocka_unit_test(schema),
        cmocka_unit_test(response),
        cmocka_unit_test(codecs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
