/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * gzip bodies for response-transformer (Kong inflates a gzip-encoded JSON
 * response, transforms it and compresses it again): plain C over zlib, no
 * nginx.  Both calls work on whole bodies in memory and return malloc'd
 * buffers the caller frees.
 */

#ifndef KONG_GZIP_H
#define KONG_GZIP_H

#include <stddef.h>


#define KONG_GZIP_OK        0
#define KONG_GZIP_BAD      -1     /* not gzip, corrupt, truncated */
#define KONG_GZIP_TOO_BIG  -2     /* inflates to more than max bytes */
#define KONG_GZIP_NOMEM    -3


/*
 * Inflates in[0..len), one gzip member or several back to back (RFC 1952),
 * into *out / *out_len, at most max bytes.  Anything after the last
 * member is KONG_GZIP_BAD.
 */
int kong_gunzip(const unsigned char *in, size_t len, size_t max,
    unsigned char **out, size_t *out_len);

/* Compresses in[0..len) as one gzip member (level 6). */
int kong_gzip(const unsigned char *in, size_t len, unsigned char **out,
    size_t *out_len);

#endif /* KONG_GZIP_H */
