/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * gzip bodies (kong_gzip.h).
 */

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "kong_gzip.h"


/* zlib's windowBits for the gzip wrapper only */
#define KG_WBITS  (16 + MAX_WBITS)

/* zlib counts in uInt: larger bodies are refused (ours are 4 MiB at most) */
#define KG_LIMIT  ((size_t) 1 << 30)


int
kong_gunzip(const unsigned char *in, size_t len, size_t max,
    unsigned char **out, size_t *out_len)
{
    int             rc;
    size_t          cap, n;
    z_stream        zs;
    unsigned char  *buf, *nb;

    *out = NULL;
    *out_len = 0;

    if (len < 2 || in[0] != 0x1f || in[1] != 0x8b) {
        return KONG_GZIP_BAD;
    }
    if (len > KG_LIMIT || max > KG_LIMIT) {
        return KONG_GZIP_TOO_BIG;
    }

    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, KG_WBITS) != Z_OK) {
        return KONG_GZIP_NOMEM;
    }

    cap = len * 4 < 4096 ? 4096 : len * 4;
    if (cap > max + 1) {
        cap = max + 1;
    }
    buf = malloc(cap);
    if (buf == NULL) {
        inflateEnd(&zs);
        return KONG_GZIP_NOMEM;
    }

    n = 0;
    zs.next_in = (unsigned char *) in;
    zs.avail_in = (uInt) len;

    for ( ;; ) {
        if (n == cap) {
            if (cap > max) {
                rc = KONG_GZIP_TOO_BIG;
                goto failed;
            }
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                rc = KONG_GZIP_NOMEM;
                goto failed;
            }
            buf = nb;
        }

        zs.next_out = buf + n;
        zs.avail_out = (uInt) (cap - n);

        rc = inflate(&zs, Z_NO_FLUSH);
        n = (size_t) (zs.next_out - buf);

        if (rc == Z_STREAM_END) {
            if (zs.avail_in == 0) {
                break;
            }
            /* another member must follow */
            if (zs.avail_in < 2 || zs.next_in[0] != 0x1f
                || zs.next_in[1] != 0x8b || inflateReset(&zs) != Z_OK)
            {
                rc = KONG_GZIP_BAD;
                goto failed;
            }
            continue;
        }

        if (rc == Z_MEM_ERROR) {
            rc = KONG_GZIP_NOMEM;
            goto failed;
        }

        if ((rc != Z_OK && rc != Z_BUF_ERROR)
            || (zs.avail_in == 0 && zs.avail_out > 0))
        {
            rc = KONG_GZIP_BAD;         /* corrupt, or truncated */
            goto failed;
        }
    }

    if (n > max) {
        rc = KONG_GZIP_TOO_BIG;
        goto failed;
    }

    inflateEnd(&zs);
    *out = buf;
    *out_len = n;
    return KONG_GZIP_OK;

failed:

    inflateEnd(&zs);
    free(buf);
    return rc;
}


int
kong_gzip(const unsigned char *in, size_t len, unsigned char **out,
    size_t *out_len)
{
    int             rc;
    size_t          cap;
    z_stream        zs;
    unsigned char  *buf;

    *out = NULL;
    *out_len = 0;

    if (len > KG_LIMIT) {
        return KONG_GZIP_TOO_BIG;
    }

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 6, Z_DEFLATED, KG_WBITS, 8, Z_DEFAULT_STRATEGY)
        != Z_OK)
    {
        return KONG_GZIP_NOMEM;
    }

    cap = deflateBound(&zs, (uLong) len);
    buf = malloc(cap);
    if (buf == NULL) {
        deflateEnd(&zs);
        return KONG_GZIP_NOMEM;
    }

    zs.next_in = (unsigned char *) in;
    zs.avail_in = (uInt) len;
    zs.next_out = buf;
    zs.avail_out = (uInt) cap;

    rc = deflate(&zs, Z_FINISH);
    if (rc != Z_STREAM_END) {
        deflateEnd(&zs);
        free(buf);
        return KONG_GZIP_NOMEM;
    }

    *out_len = (size_t) (zs.next_out - buf);
    *out = buf;
    deflateEnd(&zs);
    return KONG_GZIP_OK;
}
