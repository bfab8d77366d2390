/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The health check's answer as the module reads it (farm_check_parse).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ngx_http_farm_check_parse.h"


/* parses s[0..len) from an exact-size copy, so a read past it is caught */
static int
parse(farm_check_answer_t *a, const char *s, size_t len, uint8_t **copy)
{
    *copy = malloc(len ? len : 1);
    assert_non_null(*copy);
    memcpy(*copy, s, len);

    return farm_check_parse(a, *copy, len);
}


#define PARSE(a, lit, copy)  parse(a, lit, sizeof(lit) - 1, copy)


static void
status_and_body_are_found(void **state)
{
    uint8_t              *c;
    farm_check_answer_t   a;

    (void) state;

    assert_int_equal(PARSE(&a, "HTTP/1.1 204 No Content\r\nX: y\r\n\r\nok",
                           &c), 0);
    assert_int_equal(a.status, 204);
    assert_int_equal(a.body_len, 2);
    assert_memory_equal(a.body, "ok", 2);
    assert_int_equal(a.draining, -1);
    assert_int_equal(a.weight, 0);
    assert_int_equal(a.inflight, 0);
    free(c);

    /* no empty line: no body */

    assert_int_equal(PARSE(&a, "HTTP/1.0 503 x\r\n", &c), 0);
    assert_int_equal(a.status, 503);
    assert_int_equal(a.body_len, 0);
    assert_ptr_equal(a.body, c + sizeof("HTTP/1.0 503 x\r\n") - 1);
    free(c);

    /* the shortest answer */

    assert_int_equal(PARSE(&a, "HTTP/1.1 200", &c), 0);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.body_len, 0);
    free(c);
}


static void
not_an_http_answer(void **state)
{
    size_t                i;
    uint8_t              *c;
    farm_check_answer_t   a;
    static const char    *bad[] = {
        "", "HTTP/1.1 20", "HTTP/2 200 OK\r\n\r\n", "http/1.1 200 OK",
        "HTTP/1.1\t200 OK", "SSH-2.0-OpenSSH_9.2\r\n"
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(&a, bad[i], strlen(bad[i]), &c), -1);
        free(c);
    }
}


static void
a_status_that_is_not_three_digits(void **state)
{
    uint8_t              *c;
    farm_check_answer_t   a;

    (void) state;

    assert_int_equal(PARSE(&a, "HTTP/1.1 2x0 OK\r\n\r\n", &c), 0);
    assert_int_equal(a.status, -1);
    free(c);

    assert_int_equal(PARSE(&a, "HTTP/1.1 -20 OK\r\n\r\n", &c), 0);
    assert_int_equal(a.status, -1);
    free(c);

    assert_int_equal(PARSE(&a, "HTTP/1.1 099 OK\r\n\r\n", &c), 0);
    assert_int_equal(a.status, 99);
    free(c);
}


static void
farm_agent_report_is_read(void **state)
{
    uint8_t              *c;
    farm_check_answer_t   a;

    (void) state;

    assert_int_equal(PARSE(&a, "HTTP/1.1 200 OK\r\n\r\n"
                           "{\"status\":\"up\",\"weight\":7,\"inflight\":3}",
                           &c), 0);
    assert_int_equal(a.draining, 0);
    assert_int_equal(a.weight, 7);
    assert_int_equal(a.inflight, 3);
    free(c);

    assert_int_equal(PARSE(&a, "HTTP/1.1 503 x\r\n\r\n \r\n"
                           "{\"status\":\"draining\"}", &c), 0);
    assert_int_equal(a.draining, 1);
    free(c);

    /* "draining" wins over "status" */

    assert_int_equal(PARSE(&a, "HTTP/1.1 200 x\r\n\r\n"
                           "{\"status\":\"draining\",\"draining\":false}",
                           &c), 0);
    assert_int_equal(a.draining, 0);
    free(c);

    /* out of range: not said; inflight capped */

    assert_int_equal(PARSE(&a, "HTTP/1.1 200 x\r\n\r\n"
                           "{\"weight\":1001,\"inflight\":99999999999}", &c),
                     0);
    assert_int_equal(a.weight, 0);
    assert_int_equal(a.inflight, INT32_MAX);
    free(c);

    assert_int_equal(PARSE(&a, "HTTP/1.1 200 x\r\n\r\n"
                           "{\"weight\":0,\"inflight\":-1,\"status\":1}", &c),
                     0);
    assert_int_equal(a.weight, 0);
    assert_int_equal(a.inflight, 0);
    assert_int_equal(a.draining, -1);
    free(c);

    /* not JSON, or not an object: nothing said */

    assert_int_equal(PARSE(&a, "HTTP/1.1 200 x\r\n\r\n{\"weight\":5",
                           &c), 0);
    assert_int_equal(a.weight, 0);
    free(c);

    assert_int_equal(PARSE(&a, "HTTP/1.1 200 x\r\n\r\n[{\"weight\":5}]",
                           &c), 0);
    assert_int_equal(a.weight, 0);
    free(c);
}


/* the answer's length counts, not a NUL in it */

static void
nul_bytes_do_not_end_the_answer(void **state)
{
    uint8_t              *c;
    farm_check_answer_t   a;

    (void) state;

    assert_int_equal(PARSE(&a, "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"
                           "{\"weight\":9}", &c), 0);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.weight, 9);
    assert_int_equal(a.body_len, sizeof("{\"weight\":9}") - 1);
    free(c);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_and_body_are_found),
        cmocka_unit_test(not_an_http_answer),
        cmocka_unit_test(a_status_that_is_not_three_digits),
        cmocka_unit_test(farm_agent_report_is_read),
        cmocka_unit_test(nul_bytes_do_not_end_the_answer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
