/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: gzip bodies for response-transformer (kong_gzip.c): a round
 * trip, members back to back, and what is refused (not gzip, corrupt,
 * truncated, trailing bytes, over the size bound).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kong_gzip.h"


static void
round_trip(void **state)
{
    size_t          zlen, len, i;
    unsigned char  *z, *out, big[100000];
    const char     *json = "{\"a\":1,\"debug\":\"x\"}";

    (void) state;

    assert_int_equal(kong_gzip((const unsigned char *) json, strlen(json),
                               &z, &zlen), KONG_GZIP_OK);
    assert_true(zlen > 10 && z[0] == 0x1f && z[1] == 0x8b);
    assert_int_equal(kong_gunzip(z, zlen, 1024, &out, &len), KONG_GZIP_OK);
    assert_int_equal(len, strlen(json));
    assert_memory_equal(out, json, len);
    free(out);

    /* the bound: exactly len passes, one less is too big */
    assert_int_equal(kong_gunzip(z, zlen, strlen(json), &out, &len),
                     KONG_GZIP_OK);
    free(out);
    assert_int_equal(kong_gunzip(z, zlen, strlen(json) - 1, &out, &len),
                     KONG_GZIP_TOO_BIG);
    assert_null(out);

    /* truncated, corrupt, trailing bytes */
    assert_int_equal(kong_gunzip(z, zlen - 3, 1024, &out, &len),
                     KONG_GZIP_BAD);
    z[12] ^= 0xff;
    assert_int_equal(kong_gunzip(z, zlen, 1024, &out, &len), KONG_GZIP_BAD);
    z[12] ^= 0xff;
    free(z);

    assert_int_equal(kong_gunzip((const unsigned char *) json, strlen(json),
                                 1024, &out, &len), KONG_GZIP_BAD);
    assert_int_equal(kong_gunzip((const unsigned char *) "", 0, 1024, &out,
                                 &len), KONG_GZIP_BAD);

    /* a large, compressible body grows the buffer; a bomb stops at max */
    for (i = 0; i < sizeof(big); i++) {
        big[i] = (unsigned char) ('a' + i % 7);
    }
    assert_int_equal(kong_gzip(big, sizeof(big), &z, &zlen), KONG_GZIP_OK);
    assert_true(zlen < sizeof(big) / 10);
    assert_int_equal(kong_gunzip(z, zlen, sizeof(big), &out, &len),
                     KONG_GZIP_OK);
    assert_int_equal(len, sizeof(big));
    assert_memory_equal(out, big, len);
    free(out);
    assert_int_equal(kong_gunzip(z, zlen, 5000, &out, &len),
                     KONG_GZIP_TOO_BIG);
    free(z);
}


static void
members(void **state)
{
    size_t          l1, l2, len;
    unsigned char  *z1, *z2, *cat, *out;

    (void) state;

    assert_int_equal(kong_gzip((const unsigned char *) "{\"a\":", 5, &z1,
                               &l1), KONG_GZIP_OK);
    assert_int_equal(kong_gzip((const unsigned char *) "1}", 2, &z2, &l2),
                     KONG_GZIP_OK);
    cat = malloc(l1 + l2 + 1);
    assert_non_null(cat);
    memcpy(cat, z1, l1);
    memcpy(cat + l1, z2, l2);

    assert_int_equal(kong_gunzip(cat, l1 + l2, 100, &out, &len),
                     KONG_GZIP_OK);
    assert_int_equal(len, 7);
    assert_memory_equal(out, "{\"a\":1}", 7);
    free(out);

    /* one byte after the last member */
    cat[l1 + l2] = 'x';
    assert_int_equal(kong_gunzip(cat, l1 + l2 + 1, 100, &out, &len),
                     KONG_GZIP_BAD);

    free(cat);
    free(z1);
    free(z2);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(members),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
