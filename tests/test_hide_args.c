/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_key_auth hide=on: the key's query arguments leave the arguments and
 * the request line (farm_hide_args, farm_request_line).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ngx_http_farm_hide_args.h"


static farm_span_t
span(const char *s)
{
    farm_span_t  sp;

    sp.data = (const uint8_t *) s;
    sp.len = strlen(s);

    return sp;
}


/* hides names (NULL-terminated) from args; returns removed, result in out */
static size_t
hide(const char *args, const char **names, char *out)
{
    size_t        n, removed, len;
    uint8_t      *buf;
    farm_span_t   in, sp[8];

    for (n = 0; names[n]; n++) {
        sp[n] = span(names[n]);
    }

    in = span(args);
    buf = malloc(in.len + 1);
    assert_non_null(buf);

    len = farm_hide_args(buf, &in, sp, n, &removed);
    assert_true(len <= in.len);

    memcpy(out, buf, len);
    out[len] = '\0';
    free(buf);

    return removed;
}


static void
named_arguments_are_removed(void **state)
{
    char         out[256];
    const char  *names[] = { "apikey", "token", NULL };

    (void) state;

    assert_int_equal(hide("apikey=k1&a=1&b=2", names, out), 1);
    assert_string_equal(out, "a=1&b=2");

    assert_int_equal(hide("a=1&APIKEY=k1&b=2&Token", names, out), 2);
    assert_string_equal(out, "a=1&b=2");

    assert_int_equal(hide("apikey=k1", names, out), 1);
    assert_string_equal(out, "");

    /* empty arguments go once something is removed */

    assert_int_equal(hide("&&a=1&&apikey=x&&", names, out), 1);
    assert_string_equal(out, "a=1");

    /* the name is what comes before the first "=" */

    assert_int_equal(hide("apikey==x&x=apikey&apikeys=1&apike=2", names,
                          out), 1);
    assert_string_equal(out, "x=apikey&apikeys=1&apike=2");
}


static void
nothing_named_nothing_removed(void **state)
{
    char         out[256];
    const char  *names[] = { "apikey", NULL };

    (void) state;

    assert_int_equal(hide("a=1&&b", names, out), 0);
    assert_int_equal(hide("", names, out), 0);
}


/* a NUL in an argument's name is a byte like any other */

static void
names_compare_every_byte(void **state)
{
    size_t        len, removed;
    uint8_t       out[16];
    farm_span_t   in, name;

    (void) state;

    name = span("ab");
    in.data = (const uint8_t *) "a\0=1&ab=2";
    in.len = 9;

    len = farm_hide_args(out, &in, &name, 1, &removed);
    assert_int_equal(removed, 1);
    assert_int_equal(len, 4);
    assert_memory_equal(out, "a\0=1", 4);
}


static void
request_line_is_rebuilt(void **state)
{
    char          line[256];
    size_t        len, start, ulen;
    farm_span_t   m, u, a, p;

    (void) state;

    m = span("GET");
    u = span("/v1/x?apikey=k&a=1");
    a = span("a=1");
    p = span("HTTP/1.1");

    assert_true(farm_request_line_size(&m, &u, &a, &p) < sizeof(line));
    len = farm_request_line((uint8_t *) line, &m, &u, &a, &p, &start, &ulen);
    assert_int_equal(len, strlen("GET /v1/x?a=1 HTTP/1.1"));
    assert_memory_equal(line, "GET /v1/x?a=1 HTTP/1.1", len);
    assert_int_equal(start, 4);
    assert_int_equal(ulen, strlen("/v1/x?a=1"));

    /* nothing left: no "?"; HTTP/0.9: no protocol */

    a = span("");
    p = span("");
    len = farm_request_line((uint8_t *) line, &m, &u, &a, &p, &start, &ulen);
    assert_int_equal(len, strlen("GET /v1/x"));
    assert_memory_equal(line, "GET /v1/x", len);
    assert_int_equal(ulen, strlen("/v1/x"));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(named_arguments_are_removed),
        cmocka_unit_test(nothing_named_nothing_removed),
        cmocka_unit_test(names_compare_every_byte),
        cmocka_unit_test(request_line_is_rebuilt),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
