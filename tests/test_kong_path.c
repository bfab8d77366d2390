/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: Kong's request path normalization, the escaping of the
 * upstream path, and the v0 join on its own.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kong.h"


static void
normalized(const char *in, const char *want)
{
    char    out[512];
    size_t  n;

    n = kong_path_normalize(in, strlen(in), out);
    out[n] = '\0';

    if (strcmp(out, want) != 0) {
        print_error("normalize(%s) = %s, Kong: %s\n", in, out, want);
        fail();
    }
}


static void
escaped(const char *in, const char *want)
{
    char    out[512];
    size_t  n;

    n = kong_path_escape(in, strlen(in), out);
    out[n] = '\0';

    assert_string_equal(out, want);
}


static void
joined(const char *base, const char *req, size_t prefix, int strip,
    const char *want)
{
    char    out[512];
    size_t  n;

    n = kong_path_join(base, req, strlen(req), prefix, strip, out);
    out[n] = '\0';

    assert_string_equal(out, want);
}


static void
normalize_like_kong(void **state)
{
    (void) state;

    normalized("/", "/");
    normalized("/a/b", "/a/b");
    /* dot segments */
    normalized("/a/./b", "/a/b");
    normalized("/a/../b", "/b");
    normalized("/a/b/../../../c", "/c");
    normalized("/a/.", "/a/");
    normalized("/a/..", "/");
    normalized("/..", "/");
    normalized("/a/b/..", "/a/");
    normalized("/a./b", "/a./b");
    normalized("/..a/b", "/..a/b");
    /* merged slashes */
    normalized("//a///b//", "/a/b/");
    /* unreserved and other characters are decoded */
    normalized("/%61%62%63", "/abc");
    normalized("/%7e%2D%5F", "/~-_");
    normalized("/a%20b", "/a b");
    /* ... and then take part in dot segments: %2E%2E is .. */
    normalized("/a/%2e%2E/b", "/b");
    /* reserved characters stay escaped, in upper case */
    normalized("/a%2fb", "/a%2Fb");
    normalized("/a%3fb%23", "/a%3Fb%23");
    normalized("/%25", "/%25");
    /* broken escapes stay as they are */
    normalized("/a%zz", "/a%zz");
    normalized("/a%4", "/a%4");
    normalized("/a%", "/a%");
}


static void
escape_like_kong(void **state)
{
    (void) state;

    escaped("/a/b", "/a/b");
    escaped("/a b", "/a%20b");
    escaped("/~user/x-y_z.j", "/~user/x-y_z.j");
    escaped("/a%2Fb", "/a%2Fb");
    escaped("/!$&'()*+,;=:@[]", "/!$&'()*+,;=:@[]");
    escaped("/\"<>^`{|}", "/%22%3C%3E%5E%60%7B%7C%7D");
    escaped("/\xc3\xa9", "/%C3%A9");
}


static void
join_v0(void **state)
{
    (void) state;

    /* base ends with "/" */
    joined("/", "/", 1, 1, "/");
    joined("/s/", "/r", 2, 1, "/s");
    joined("/s/", "/r/", 2, 1, "/s/");
    joined("/s/", "/r/x", 2, 1, "/s/x");
    joined("/s/", "/rx", 2, 1, "/s/x");
    joined("/s/", "/r/x", 2, 0, "/s/r/x");
    /* base without "/" */
    joined("/s", "/r", 2, 1, "/s");
    joined("/s", "/r/", 2, 1, "/s/");
    joined("/s", "/r/x", 2, 1, "/s/x");
    joined("/s", "/rx", 2, 1, "/s/x");
    joined("/s", "/", 1, 0, "/s");
    joined("/s", "/r", 1, 0, "/s/r");
    /* no service path */
    joined(NULL, "/r/x", 2, 1, "/x");
    /* a leading "." or ".." segment after the prefix goes */
    joined("/s", "/r../x", 2, 1, "/s/x");
    joined("/s", "/r./x", 2, 1, "/s/x");
    joined("/s", "/r..", 2, 1, "/s");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(normalize_like_kong),
        cmocka_unit_test(escape_like_kong),
        cmocka_unit_test(join_v0),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
