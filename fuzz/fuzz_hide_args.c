/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_hide_args and farm_request_line
 * (ngx_farm_module/ngx_http_farm_hide_args.c): farm_key_auth hide=on.
 *
 * Input: "NAMES\nMETHOD\nURI\nPROTO", NAMES separated by ","; the
 * arguments are what follows the URI's first "?".  Each part gets its own
 * exact-size buffer.
 *
 * Invariants: no argument named in NAMES (ASCII case aside) survives;
 * every other non-empty argument survives, in order, joined by "&"; the
 * count removed is right; nothing removed, nothing to apply; the request
 * line is METHOD SP PATH[?ARGS][ SP PROTO] and the URI it points at is
 * PATH[?ARGS].
 */

#include "fuzz.h"

#include "ngx_http_farm_hide_args.h"


#define FZ_NAMES  16


static int
fz_named(const uint8_t *p, size_t len, const farm_span_t *names, size_t n)
{
    size_t  i, k;

    for (k = 0; k < n; k++) {
        if (names[k].len != len) {
            continue;
        }

        for (i = 0; i < len; i++) {
            if ((p[i] | ((p[i] >= 'A' && p[i] <= 'Z') ? 0x20 : 0))
                != (names[k].data[i]
                    | ((names[k].data[i] >= 'A' && names[k].data[i] <= 'Z')
                       ? 0x20 : 0)))
            {
                break;
            }
        }

        if (i == len) {
            return 1;
        }
    }

    return 0;
}


/* splits s[0..len) at the first c: the part before, and *rest after */
static size_t
fz_split(const uint8_t **s, size_t *len, uint8_t c, const uint8_t **part)
{
    size_t          n;
    const uint8_t  *p;

    *part = *s;
    p = memchr(*s, c, *len);

    if (p == NULL) {
        n = *len;
        *s += n;
        *len = 0;
        return n;
    }

    n = p - *s;
    *s = p + 1;
    *len -= n + 1;

    return n;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          nn, nlen, i, removed, len, start, ulen, want_removed;
    size_t          q, elen, amp, plen;
    uint8_t        *out, *line, *exp;
    const uint8_t  *s, *names_s, *part, *qm;
    farm_span_t     names[FZ_NAMES], method, uri, args, proto, outs;
    char           *m, *u, *pr;

    s = data;
    len = size;

    nlen = fz_split(&s, &len, '\n', &names_s);

    method.len = fz_split(&s, &len, '\n', &method.data);
    uri.len = fz_split(&s, &len, '\n', &uri.data);
    proto.data = s;
    proto.len = len;

    /* each part in its own exact-size buffer */

    m = fz_copy(method.data, method.len);
    u = fz_copy(uri.data, uri.len);
    pr = fz_copy(proto.data, proto.len);
    method.data = (uint8_t *) m;
    uri.data = (uint8_t *) u;
    proto.data = (uint8_t *) pr;

    nn = 0;

    while (nlen && nn < FZ_NAMES) {
        names[nn].len = fz_split(&names_s, &nlen, ',', &part);
        names[nn].data = (const uint8_t *) fz_copy(part, names[nn].len);
        nn++;
    }

    qm = uri.len ? memchr(uri.data, '?', uri.len) : NULL;
    args.data = qm ? qm + 1 : uri.data + uri.len;
    args.len = qm ? uri.data + uri.len - args.data : 0;

    out = malloc(args.len ? args.len : 1);
    exp = malloc(args.len ? args.len : 1);
    FZ_CHECK(out != NULL && exp != NULL);

    len = farm_hide_args(out, &args, names, nn, &removed);

    /* what should remain, worked out here on its own */

    elen = 0;
    want_removed = 0;

    for (i = 0; i < args.len; i = amp + 1) {
        for (amp = i; amp < args.len && args.data[amp] != '&'; amp++) {
            /* void */
        }

        for (q = i; q < amp && args.data[q] != '='; q++) {
            /* void */
        }

        if (fz_named(args.data + i, q - i, names, nn)) {
            want_removed++;
            continue;
        }

        if (amp > i) {
            if (elen) {
                exp[elen++] = '&';
            }

            memcpy(exp + elen, args.data + i, amp - i);
            elen += amp - i;
        }
    }

    FZ_CHECK(removed == want_removed);

    if (removed) {
        FZ_CHECK(len == elen);
        FZ_CHECK(len == 0 || memcmp(out, exp, len) == 0);
    }

    /* the request line, as the module rebuilds it */

    outs.data = out;
    outs.len = removed ? len : args.len;

    if (!removed) {
        outs.data = args.data;
    }

    line = malloc(farm_request_line_size(&method, &uri, &outs, &proto));
    FZ_CHECK(line != NULL);

    len = farm_request_line(line, &method, &uri, &outs, &proto, &start,
                            &ulen);

    FZ_CHECK(len <= farm_request_line_size(&method, &uri, &outs, &proto));

    plen = qm ? (size_t) (qm - uri.data) : uri.len;

    FZ_CHECK(start == method.len + 1);
    FZ_CHECK(memcmp(line, method.data, method.len) == 0);
    FZ_CHECK(line[method.len] == ' ');
    FZ_CHECK(memcmp(line + start, uri.data, plen) == 0);
    FZ_CHECK(ulen == plen + (outs.len ? 1 + outs.len : 0));

    if (outs.len) {
        FZ_CHECK(line[start + plen] == '?');
        FZ_CHECK(memcmp(line + start + plen + 1, outs.data, outs.len) == 0);
    }

    if (proto.len) {
        FZ_CHECK(len == start + ulen + 1 + proto.len);
        FZ_CHECK(line[start + ulen] == ' ');
        FZ_CHECK(memcmp(line + start + ulen + 1, proto.data, proto.len)
                 == 0);

    } else {
        FZ_CHECK(len == start + ulen);
    }

    for (i = 0; i < nn; i++) {
        free((void *) names[i].data);
    }

    free(line);
    free(out);
    free(exp);
    free(m);
    free(u);
    free(pr);

    return 0;
}
