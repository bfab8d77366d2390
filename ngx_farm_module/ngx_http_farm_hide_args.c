
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_key_auth hide=on without nginx; ngx_http_farm_key_auth.c applies
 * the result to the request.
 */


#include <string.h>

#include "ngx_http_farm_hide_args.h"


static int farm_hide_args_named(const uint8_t *p, size_t len,
    const farm_span_t *names, size_t nnames);


size_t
farm_hide_args(uint8_t *out, const farm_span_t *args,
    const farm_span_t *names, size_t nnames, size_t *removed)
{
    uint8_t        *q;
    const uint8_t  *p, *end, *amp, *eq;

    *removed = 0;

    if (args->len == 0) {
        return 0;
    }

    q = out;
    p = args->data;
    end = args->data + args->len;

    while (p < end) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(p, '=', amp - p);
        if (eq == NULL) {
            eq = amp;
        }

        if (farm_hide_args_named(p, eq - p, names, nnames)) {
            (*removed)++;

        } else if (amp > p) {
            if (q > out) {
                *q++ = '&';
            }

            memcpy(q, p, amp - p);
            q += amp - p;
        }

        p = amp + 1;
    }

    return q - out;
}


/* every byte counts, NUL included: no str*() here */

static int
farm_hide_args_named(const uint8_t *p, size_t len, const farm_span_t *names,
    size_t nnames)
{
    size_t   i, k;
    uint8_t  a, b;

    for (k = 0; k < nnames; k++) {
        if (len != names[k].len) {
            continue;
        }

        for (i = 0; i < len; i++) {
            a = p[i];
            b = names[k].data[i];

            if (a >= 'A' && a <= 'Z') {
                a |= 0x20;
            }

            if (b >= 'A' && b <= 'Z') {
                b |= 0x20;
            }

            if (a != b) {
                break;
            }
        }

        if (i == len) {
            return 1;
        }
    }

    return 0;
}


size_t
farm_request_line(uint8_t *line, const farm_span_t *method,
    const farm_span_t *uri, const farm_span_t *args,
    const farm_span_t *proto, size_t *uri_start, size_t *uri_len)
{
    size_t          path;
    uint8_t        *p;
    const uint8_t  *q;

    q = uri->len ? memchr(uri->data, '?', uri->len) : NULL;
    path = q ? (size_t) (q - uri->data) : uri->len;

    p = line;

    memcpy(p, method->data, method->len);
    p += method->len;
    *p++ = ' ';

    *uri_start = p - line;

    memcpy(p, uri->data, path);
    p += path;

    if (args->len) {
        *p++ = '?';
        memcpy(p, args->data, args->len);
        p += args->len;
    }

    *uri_len = p - line - *uri_start;

    if (proto->len) {
        *p++ = ' ';
        memcpy(p, proto->data, proto->len);
        p += proto->len;
    }

    return p - line;
}
