/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Kong's path rules: request path normalization, the escaping of the
 * upstream path, and the v0 joining of the service path with the request
 * path (the only mode of the traditional_compatible router; see
 * docs/kong.md, "Upstream path").
 */

#include <string.h>

#include "kong_int.h"


/* RFC 3986 reserved characters: their escapes are kept (upper-cased). */
static int
kong_path_reserved(int c)
{
    return c != '\0' && strchr("!*'();:@&=+$,/?%#[]", c) != NULL;
}


static int
kong_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


/*
 * Drops the last output segment: every segment but the first starts with
 * "/" and holds no other "/".
 */
static size_t
kong_path_pop(const char *p, size_t o)
{
    while (o > 0) {
        if (p[--o] == '/') {
            break;
        }
    }

    return o;
}


/*
 * Removes dot segments and merges slashes in place, the way Kong's
 * normalize(path, true) walks its input: "/./" and "/../" collapse (".."
 * drops the last output segment), "//" becomes "/", leading "./" and "../"
 * disappear, and a final "/." or "/.." leaves "/".
 */
static size_t
kong_path_dots(char *p, size_t len)
{
    size_t   i, o, seg;
    char    *in;

    in = p;
    i = 0;
    o = 0;

#define REST(s)  (len - i == sizeof(s) - 1 && memcmp(in + i, s, len - i) == 0)
#define HAS(s)   (len - i >= sizeof(s) - 1                                   \
                  && memcmp(in + i, s, sizeof(s) - 1) == 0)

    while (i < len) {

        if (REST("/.")) {
            i += 1;
            in[i] = '/';            /* "/." -> "/" */
            len = i + 1;

        } else if (REST("/..")) {
            i += 2;
            in[i] = '/';
            len = i + 1;
            o = kong_path_pop(p, o);

        } else if (REST(".") || REST("..")) {
            i = len;

        } else if (HAS("../")) {
            i += 3;

        } else if (HAS("./")) {
            i += 2;

        } else if (HAS("/./")) {
            i += 2;

        } else if (HAS("/../")) {
            i += 3;
            o = kong_path_pop(p, o);

        } else if (HAS("//")) {
            i += 1;

        } else {
            /* one segment: up to (not including) the next "/" after i */
            seg = i + 1;
            while (seg < len && in[seg] != '/') {
                seg++;
            }

            memmove(p + o, in + i, seg - i);
            o += seg - i;
            i = seg;
        }
    }

#undef REST
#undef HAS

    return o;
}


size_t
kong_path_normalize(const char *in, size_t len, char *out)
{
    int      hi, lo, c;
    size_t   i, o;

    if (len == 0 || (len == 1 && in[0] == '/')) {
        if (len) {
            out[0] = '/';
        }

        return len;
    }

    o = 0;

    for (i = 0; i < len; i++) {
        if (in[i] == '%' && i + 2 < len) {
            hi = kong_hexval((unsigned char) in[i + 1]);
            lo = kong_hexval((unsigned char) in[i + 2]);

            if (hi >= 0 && lo >= 0) {
                c = hi * 16 + lo;

                if (kong_path_reserved(c)) {
                    out[o++] = '%';
                    out[o++] = "0123456789ABCDEF"[hi];
                    out[o++] = "0123456789ABCDEF"[lo];

                } else {
                    out[o++] = (char) c;
                }

                i += 2;
                continue;
            }
        }

        out[o++] = in[i];
    }

    return kong_path_dots(out, o);
}


size_t
kong_path_escape(const char *in, size_t len, char *out)
{
    size_t          i, o;
    unsigned char   c;

    o = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || (c != '\0' && strchr("!#$&'()*+,/:;=?@[\\]-_.~%", c)))
        {
            out[o++] = (char) c;
            continue;
        }

        out[o++] = '%';
        out[o++] = "0123456789ABCDEF"[c >> 4];
        out[o++] = "0123456789ABCDEF"[c & 0xf];
    }

    return o;
}


/*
 * The part of the request path after the matched prefix, with a leading
 * "." or ".." segment dropped as Kong does.
 */
static void
kong_path_postfix(const char *s, size_t len, const char **post,
    size_t *post_len)
{
    if ((len == 1 && s[0] == '.') || (len == 2 && memcmp(s, "..", 2) == 0)) {
        len = 0;

    } else if (len >= 2 && memcmp(s, "./", 2) == 0) {
        s += 2;
        len -= 2;

    } else if (len >= 3 && memcmp(s, "../", 3) == 0) {
        s += 3;
        len -= 3;
    }

    *post = s;
    *post_len = len;
}


size_t
kong_path_join(const char *base, const char *req, size_t len,
    size_t prefix_len, int strip_path, char *out)
{
    size_t       blen, plen, o;
    const char  *post;

    if (base == NULL) {
        base = "/";
    }

    blen = strlen(base);
    o = 0;

    if (len == 0) {
        req = "/";
        len = 1;
    }

    if (prefix_len > len) {
        prefix_len = len;
    }

    kong_path_postfix(req + prefix_len, len - prefix_len, &post, &plen);

#define PUT(s, n)  do { memcpy(out + o, s, n); o += n; } while (0)

    if (base[blen - 1] == '/') {

        if (!strip_path) {
            PUT(base, blen);
            PUT(req + 1, len - 1);

        } else if (plen == 0) {
            if (blen == 1) {
                PUT("/", 1);

            } else if (req[len - 1] == '/') {
                PUT(base, blen);

            } else {
                PUT(base, blen - 1);
            }

        } else if (post[0] == '/') {
            PUT(base, blen - 1);
            PUT(post, plen);

        } else {
            PUT(base, blen);
            PUT(post, plen);
        }

    } else {

        if (!strip_path) {
            PUT(base, blen);
            if (!(len == 1 && req[0] == '/')) {
                PUT(req, len);
            }

        } else if (plen == 0) {
            PUT(base, blen);
            if (len > 1 && req[len - 1] == '/') {
                PUT("/", 1);
            }

        } else if (post[0] == '/') {
            PUT(base, blen);
            PUT(post, plen);

        } else {
            PUT(base, blen);
            PUT("/", 1);
            PUT(post, plen);
        }
    }

#undef PUT

    return o;
}


const char *
kong_protocol_name(int proto)
{
    switch (proto) {
    case KONG_PROTO_HTTP:
        return "http";
    case KONG_PROTO_HTTPS:
        return "https";
    case KONG_PROTO_GRPC:
        return "grpc";
    case KONG_PROTO_GRPCS:
        return "grpcs";
    case KONG_PROTO_TCP:
        return "tcp";
    case KONG_PROTO_TLS:
        return "tls";
    case KONG_PROTO_TLS_PASSTHROUGH:
        return "tls_passthrough";
    case KONG_PROTO_UDP:
        return "udp";
    }

    return "?";
}
