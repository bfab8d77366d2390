/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * multipart/form-data bodies (kong-compat/kong_multipart.c) on untrusted
 * input.
 *
 * Input: line 1 is the Content-Type (the boundary comes from it), the
 * rest is the body.
 *
 * Invariants: every part's name and value lie inside the body or the
 * values read; encoding writes exactly kong_mp_encoded_size bytes; what is
 * written parses back to the same parts (names and values, in order) and
 * writes the same bytes again; after deleting the first part's name no
 * part has it; a field set is found with its value.
 */

#include "fuzz.h"

#include "kong_multipart.h"


static char *
fz_encode(const kong_mp_t *mp, size_t *len)
{
    char    *out;
    size_t   size;

    size = kong_mp_encoded_size(mp);
    out = malloc(size + 1);
    FZ_CHECK(out != NULL);
    out[size] = '\x7f';                 /* a guard: must stay */
    kong_mp_encode(mp, out);
    FZ_CHECK(out[size] == '\x7f');
    *len = size;
    return out;
}


/* 1 if a and b have the same live parts, in order */
static int
fz_same(const kong_mp_t *a, const kong_mp_t *b)
{
    size_t       i, j, nl1, nl2, vl1, vl2;
    const char  *n1, *n2, *v1, *v2;

    for (i = 0, j = 0; ; i++, j++) {
        while (i < kong_mp_nparts(a)
               && !kong_mp_part(a, i, &n1, &nl1, &v1, &vl1))
        {
            i++;
        }
        while (j < kong_mp_nparts(b)
               && !kong_mp_part(b, j, &n2, &nl2, &v2, &vl2))
        {
            j++;
        }
        if (i >= kong_mp_nparts(a) || j >= kong_mp_nparts(b)) {
            return i >= kong_mp_nparts(a) && j >= kong_mp_nparts(b);
        }
        if (nl1 != nl2 || vl1 != vl2
            || (nl1 && memcmp(n1, n2, nl1) != 0)
            || (vl1 && memcmp(v1, v2, vl1) != 0))
        {
            return 0;
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          has;
    char        *in, *nl, *body, *enc, *enc2;
    size_t       ctlen, blen, len, elen, elen2, i, nlen, vlen, k;
    long         f;
    kong_mp_t   *mp, *mp2;
    const char  *b, *name, *value;

    in = fz_copy(data, size);
    nl = memchr(in, '\n', size);
    ctlen = nl ? (size_t) (nl - in) : size;
    body = nl ? nl + 1 : in + size;
    len = (size_t) (in + size - body);

    has = kong_mp_boundary(in, ctlen, &b, &blen);
    if (has) {
        FZ_CHECK(blen > 0 && b >= in && b + blen <= in + ctlen);
    } else {
        b = NULL;
        blen = 0;
    }

    mp = kong_mp_parse(body, len, b, blen);
    FZ_CHECK(mp != NULL);

    for (i = 0; i < kong_mp_nparts(mp); i++) {
        FZ_CHECK(kong_mp_part(mp, i, &name, &nlen, &value, &vlen));
        FZ_CHECK(nlen == 0 || (name >= body && name + nlen <= body + len));
        FZ_CHECK(vlen <= len);
        for (k = 0; k < vlen; k++) {
            (void) (volatile char) value[k];    /* ASan: inside */
        }
    }

    enc = fz_encode(mp, &elen);
    FZ_CHECK(elen > 0 || kong_mp_nparts(mp) == 0);

    /* what is written reads back the same */
    mp2 = kong_mp_parse(enc, elen, b, blen);
    FZ_CHECK(mp2 != NULL);
    if (has) {
        FZ_CHECK(fz_same(mp, mp2));
        enc2 = fz_encode(mp2, &elen2);
        FZ_CHECK(elen2 == elen && memcmp(enc, enc2, elen) == 0);
        free(enc2);
    }
    kong_mp_free(mp2);

    /* delete the first part's name, set a field */
    if (kong_mp_part(mp, 0, &name, &nlen, &value, &vlen)) {
        kong_mp_delete(mp, name, nlen);
        FZ_CHECK(kong_mp_count(mp, name, nlen) == 0);
        FZ_CHECK(kong_mp_find(mp, name, nlen) == -1);
    }
    FZ_CHECK(kong_mp_set(mp, "fz", 2, "value", 5) == 0);
    f = kong_mp_find(mp, "fz", 2);
    FZ_CHECK(f >= 0);
    FZ_CHECK(kong_mp_part(mp, (size_t) f, &name, &nlen, &value, &vlen));
    FZ_CHECK(vlen == 5 && memcmp(value, "value", 5) == 0);
    free(enc);
    enc = fz_encode(mp, &elen);
    FZ_CHECK(elen > 0);

    free(enc);
    kong_mp_free(mp);
    free(in);
    return 0;
}
