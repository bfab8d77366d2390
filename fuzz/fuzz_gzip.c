/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * gzip bodies (kong-compat/kong_gzip.c) on untrusted input: what a
 * service sends with Content-Encoding: gzip.
 *
 * Invariants: an inflated body is at most the bound; compressing it again
 * and inflating gives it back; a failure returns no buffer.
 */

#include "fuzz.h"

#include "kong_gzip.h"


#define FZ_MAX  (1024 * 1024)


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc;
    char           *in;
    size_t          len, zlen, len2;
    unsigned char  *out, *z, *back;

    in = fz_copy(data, size);

    rc = kong_gunzip((const unsigned char *) in, size, FZ_MAX, &out, &len);
    if (rc != KONG_GZIP_OK) {
        FZ_CHECK(out == NULL && len == 0);
        FZ_CHECK(rc == KONG_GZIP_BAD || rc == KONG_GZIP_TOO_BIG);
        free(in);
        return 0;
    }

    FZ_CHECK(len <= FZ_MAX);
    FZ_CHECK(kong_gzip(out, len, &z, &zlen) == KONG_GZIP_OK);
    FZ_CHECK(kong_gunzip(z, zlen, FZ_MAX, &back, &len2) == KONG_GZIP_OK);
    FZ_CHECK(len2 == len && (len == 0 || memcmp(back, out, len) == 0));

    free(back);
    free(z);
    free(out);
    free(in);
    return 0;
}
