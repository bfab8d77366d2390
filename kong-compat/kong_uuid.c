/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Hex digits and SHA-1 name-based uuids (kong_int.h): the ids this
 * gateway derives for consumers, routes, services and its node.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "kong_int.h"


void
kong_hex(const unsigned char *d, size_t n, char *out)
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 0xf];
    }

    out[2 * n] = '\0';
}


int
kong_uuid_sha1(void *mdc, const void *a, size_t alen, const char *b,
    size_t blen, char out[37])
{
    int             ok;
    char            hex[41];
    unsigned int    len;
    EVP_MD_CTX     *c;
    unsigned char   md[EVP_MAX_MD_SIZE];

    c = mdc ? mdc : EVP_MD_CTX_new();
    if (c == NULL) {
        return -1;
    }

    ok = EVP_DigestInit_ex(c, EVP_sha1(), NULL)
         && EVP_DigestUpdate(c, a, alen)
         && EVP_DigestUpdate(c, b, blen)
         && EVP_DigestFinal_ex(c, md, &len);

    if (mdc == NULL) {
        EVP_MD_CTX_free(c);
    }

    if (!ok) {
        return -1;
    }

    md[6] = (md[6] & 0x0f) | 0x50;
    md[8] = (md[8] & 0x3f) | 0x80;
    kong_hex(md, 16, hex);

    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
             hex + 16, hex + 20);

    return 0;
}

