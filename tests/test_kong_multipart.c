/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: multipart/form-data bodies (kong_multipart.c) against
 * Kong's lua-multipart (reading, set_simple, delete, writing), and
 * request-transformer's body operations on them (Kong's
 * transform_multipart_body: rename, remove, replace, add; no append).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kong_multipart.h"
#include "kong_xform.h"


#define CRLF  "\r\n"
#define CT    "multipart/form-data; boundary=XyZ"
#define CD    "Content-Disposition: form-data; name="

#define L(...)   { (const char *const []) { __VA_ARGS__ },                  \
                   sizeof((const char *const []) { __VA_ARGS__ })           \
                   / sizeof(const char *) }


/* a form with a field a, a file f and a field b */
static const char  form[] =
    "--XyZ" CRLF
    CD "\"a\"" CRLF
    CRLF
    "one" CRLF
    "--XyZ" CRLF
    CD "\"f\"; filename=\"x.bin\"" CRLF
    "Content-Type: application/octet-stream" CRLF
    CRLF
    "\x01\r\n--Xy\r\n\r" CRLF
    "--XyZ" CRLF
    CD "\"b\"" CRLF
    CRLF
    "two" CRLF
    "--XyZ--" CRLF;


static void
str_is(const char *s, size_t len, const char *want)
{
    assert_non_null(s);
    if (len != strlen(want) || memcmp(s, want, len) != 0) {
        print_error("got  [%.*s]\nwant [%s]\n", (int) len, s, want);
        fail();
    }
}


static char *
encode(const kong_mp_t *mp, size_t *len)
{
    char  *out;

    *len = kong_mp_encoded_size(mp);
    out = malloc(*len + 1);
    assert_non_null(out);
    kong_mp_encode(mp, out);
    out[*len] = '\0';
    return out;
}


static void
value_is(const kong_mp_t *mp, const char *name, const char *want)
{
    long         i;
    size_t       nl, vl;
    const char  *n, *v;

    i = kong_mp_find(mp, name, strlen(name));
    assert_true(i >= 0);
    assert_true(kong_mp_part(mp, (size_t) i, &n, &nl, &v, &vl));
    str_is(v, vl, want);
}


static void
boundary(void **state)
{
    size_t       len;
    const char  *b;

    (void) state;

    assert_true(kong_mp_boundary(CT, strlen(CT), &b, &len));
    str_is(b, len, "XyZ");

    /* quotes go; the run ends at white space, not at ";" (lua-multipart) */
    assert_true(kong_mp_boundary("multipart/form-data;boundary=\"a b\"",
                                 34, &b, &len));
    str_is(b, len, "\"a");
    assert_true(kong_mp_boundary("multipart/form-data; boundary='q' ; x=1",
                                 39, &b, &len));
    str_is(b, len, "q");
    assert_true(kong_mp_boundary("multipart/form-data; boundary=q;x=1",
                                 35, &b, &len));
    str_is(b, len, "q;x=1");

    /* no ";" before it, empty, or no boundary at all */
    assert_false(kong_mp_boundary("boundary=q", 10, &b, &len));
    assert_false(kong_mp_boundary("multipart/form-data; boundary=\"\"",
                                  32, &b, &len));
    assert_false(kong_mp_boundary("multipart/form-data", 19, &b, &len));
}


static void
parse_and_write(void **state)
{
    char        *out;
    size_t       len, nl, vl;
    kong_mp_t   *mp;
    const char  *n, *v;

    (void) state;

    mp = kong_mp_parse(form, sizeof(form) - 1, "XyZ", 3);
    assert_non_null(mp);
    assert_int_equal(kong_mp_nparts(mp), 3);
    value_is(mp, "a", "one");
    value_is(mp, "f", "\x01\r\n--Xy\r\n\r");
    value_is(mp, "b", "two");
    assert_true(kong_mp_part(mp, 1, &n, &nl, &v, &vl));
    str_is(n, nl, "f");

    /* untouched, every part goes out byte for byte */
    out = encode(mp, &len);
    str_is(out, len, form);
    free(out);

    /* remove the field a: the file stays as it came */
    kong_mp_delete(mp, "a", 1);
    out = encode(mp, &len);
    str_is(out, len, form + strlen("--XyZ" CRLF CD "\"a\"" CRLF CRLF
                                   "one" CRLF));
    free(out);

    /* set_simple: an existing name is replaced in place as a plain field,
     * a new one goes at the end */
    assert_int_equal(kong_mp_set(mp, "f", 1, "F", 1), 0);
    assert_int_equal(kong_mp_set(mp, "c", 1, "3", 1), 0);
    out = encode(mp, &len);
    str_is(out, len,
           "--XyZ" CRLF CD "\"f\"" CRLF CRLF "F" CRLF
           "--XyZ" CRLF CD "\"b\"" CRLF CRLF "two" CRLF
           "--XyZ" CRLF CD "\"c\"" CRLF CRLF "3" CRLF
           "--XyZ--" CRLF);
    free(out);

    /* nothing left: an empty body */
    kong_mp_delete(mp, "f", 1);
    kong_mp_delete(mp, "b", 1);
    kong_mp_delete(mp, "c", 1);
    assert_int_equal(kong_mp_encoded_size(mp), 0);
    kong_mp_free(mp);
}


static void
lenient(void **state)
{
    char        *out;
    size_t       len;
    kong_mp_t   *mp;
    const char  *body;

    (void) state;

    /* LF line ends; unquoted and odd names; a name repeated */
    body = "--B\n" CD "x\n\nv1\n--B\n" CD "\"r\"\r\n\r\n1\r\n"
           "--B\r\n" CD "\"r\"\r\n\r\n2\r\n--B--\r\n";
    mp = kong_mp_parse(body, strlen(body), "B", 1);
    assert_non_null(mp);
    assert_int_equal(kong_mp_nparts(mp), 3);
    value_is(mp, "", "v1");             /* name=x: its quotes cut "x" */
    value_is(mp, "r", "1");
    assert_int_equal(kong_mp_count(mp, "r", 1), 2);
    kong_mp_delete(mp, "r", 1);
    assert_int_equal(kong_mp_count(mp, "r", 1), 0);
    kong_mp_free(mp);

    /* text before the first part joins the first value, as in Kong; a
     * last part with no closing boundary is kept as read */
    body = "pre\r\n--B\r\n" CD "\"a\"\r\n\r\nv\r\n";
    mp = kong_mp_parse(body, strlen(body), "B", 1);
    assert_int_equal(kong_mp_nparts(mp), 1);
    value_is(mp, "a", "pre\r\nv\r\n");
    kong_mp_free(mp);

    /* a part without a name is not a part; garbage has no part */
    body = "--B\r\nX-A: 1\r\n\r\nzz\r\n--B--\r\n";
    mp = kong_mp_parse(body, strlen(body), "B", 1);
    assert_int_equal(kong_mp_nparts(mp), 0);
    assert_int_equal(kong_mp_encoded_size(mp), 0);
    kong_mp_free(mp);

    mp = kong_mp_parse("\r\r\n\n--", 7, "B", 1);
    assert_int_equal(kong_mp_nparts(mp), 0);
    kong_mp_free(mp);

    /* no boundary: no part; what is set is written with our own */
    mp = kong_mp_parse(form, sizeof(form) - 1, NULL, 0);
    assert_int_equal(kong_mp_nparts(mp), 0);
    assert_int_equal(kong_mp_set(mp, "k", 1, "v", 1), 0);
    out = encode(mp, &len);
    str_is(out, len, "--" KONG_MP_DEFAULT_BOUNDARY CRLF CD "\"k\"" CRLF CRLF
                     "v" CRLF "--" KONG_MP_DEFAULT_BOUNDARY "--" CRLF);
    free(out);
    kong_mp_free(mp);
}


static void
transformer(void **state)
{
    kong_header_t         h[2];
    kong_xform_t         *x;
    kong_xform_conf_t     c;
    kong_xform_out_t      out;
    kong_xform_request_t  r;
    char                  err[256];

    (void) state;

    h[0].name = "Content-Type";
    h[0].name_len = 12;
    h[0].value = CT;
    h[0].value_len = strlen(CT);
    h[1].name = "X-Who";
    h[1].name_len = 5;
    h[1].value = "me";
    h[1].value_len = 2;

    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_RENAME][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("a:alpha");
    c.items[KONG_XFORM_REMOVE][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("nope");
    c.items[KONG_XFORM_REPLACE][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("b:$(headers[\"x-who\"])");
    c.items[KONG_XFORM_ADD][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("f:not-added", "n:new");
    c.items[KONG_XFORM_APPEND][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("f:ignored");
    x = kong_xform_create(&c, KONG_XFORM_REQUEST, err, sizeof(err));
    assert_non_null(x);

    memset(&r, 0, sizeof(r));
    r.method = "POST";
    r.method_len = 4;
    r.headers = h;
    r.nheaders = 2;
    r.body = form;
    r.body_len = sizeof(form) - 1;

    /* rename makes a plain part at the end, replace moves to the end,
     * add skips a present name, the file is untouched, append ignored */
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    str_is(out.body, out.body_len,
           "--XyZ" CRLF
           CD "\"f\"; filename=\"x.bin\"" CRLF
           "Content-Type: application/octet-stream" CRLF
           CRLF
           "\x01\r\n--Xy\r\n\r" CRLF
           "--XyZ" CRLF CD "\"alpha\"" CRLF CRLF "one" CRLF
           "--XyZ" CRLF CD "\"b\"" CRLF CRLF "me" CRLF
           "--XyZ" CRLF CD "\"n\"" CRLF CRLF "new" CRLF
           "--XyZ--" CRLF);
    kong_xform_out_free(&out);

    /* an empty body: only add applies */
    r.body = "";
    r.body_len = 0;
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    str_is(out.body, out.body_len,
           "--XyZ" CRLF CD "\"f\"" CRLF CRLF "not-added" CRLF
           "--XyZ" CRLF CD "\"n\"" CRLF CRLF "new" CRLF
           "--XyZ--" CRLF);
    kong_xform_out_free(&out);
    kong_xform_free(x);

    /* remove alone rewrites the body even when nothing matched: a body
     * Kong cannot read (no boundary) becomes empty, as in Kong */
    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_REMOVE][KONG_XFORM_BODY] =
        (kong_xform_list_t) L("a");
    x = kong_xform_create(&c, KONG_XFORM_REQUEST, err, sizeof(err));
    assert_non_null(x);
    r.body = form;
    r.body_len = sizeof(form) - 1;
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    str_is(out.body, out.body_len,
           form + strlen("--XyZ" CRLF CD "\"a\"" CRLF CRLF "one" CRLF));
    kong_xform_out_free(&out);

    h[0].value = "multipart/form-data";
    h[0].value_len = 19;
    assert_int_equal(kong_xform_request(x, &r, &out), 0);
    assert_non_null(out.body);
    assert_int_equal(out.body_len, 0);
    kong_xform_out_free(&out);
    kong_xform_free(x);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(boundary),
        cmocka_unit_test(parse_and_write),
        cmocka_unit_test(lenient),
        cmocka_unit_test(transformer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
