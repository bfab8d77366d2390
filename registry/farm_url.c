/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "farm_record.h"
#include "farm_url.h"


static int
farm_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * Length of the "scheme://" at the start of s[0..len), or 0 when there is
 * none: a letter, then up to 15 letters, digits, "+", "-" or ".", then
 * "://".  Only this part of an unknown URL is quoted in errors: the rest
 * may hold a password.
 */
static size_t
farm_url_scheme_len(const char *s, size_t len)
{
    size_t  i;
    int     c;

    for (i = 0; i < len && i < 16; i++) {
        c = (unsigned char) s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (i > 0 && ((c >= '0' && c <= '9')
                          || c == '+' || c == '-' || c == '.')))
        {
            continue;
        }

        break;
    }

    if (i > 0 && len - i >= 3 && memcmp(s + i, "://", 3) == 0) {
        return i + 3;
    }

    return 0;
}


/* Percent-decodes s[0..len) into dst (max bytes + NUL); -1 if malformed. */
static int
farm_unescape(char *dst, size_t max, const char *s, size_t len)
{
    size_t  i, n;
    int     hi, lo;

    for (i = 0, n = 0; i < len; i++) {
        if (n == max) {
            return -1;
        }

        if (s[i] == '%') {
            if (i + 2 >= len) {
                return -1;
            }

            hi = farm_hex((unsigned char) s[i + 1]);
            lo = farm_hex((unsigned char) s[i + 2]);

            if (hi < 0 || lo < 0 || hi * 16 + lo == 0) {
                return -1;
            }

            dst[n++] = (char) (hi * 16 + lo);
            i += 2;
            continue;
        }

        dst[n++] = s[i];
    }

    dst[n] = '\0';

    return 0;
}


static int
farm_parse_uint(const char *s, size_t len, unsigned max, unsigned *out)
{
    size_t    i;
    unsigned  n;

    if (len == 0 || len > 10) {
        return -1;
    }

    for (i = 0, n = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        n = n * 10 + (unsigned) (s[i] - '0');

        if (n > max) {
            return -1;
        }
    }

    *out = n;

    return 0;
}


/*
 * The path of a gateway's registry API, s[0..len) from its first "/":
 * segments of RFC 3986 path characters and percent-escapes, no query, no
 * fragment, no "." or ".." segment.  Trailing slashes are dropped.
 * Returns 0 with u->path set, or -1 with the reason in err.
 */
static int
farm_url_path(farm_url_t *u, const char *s, size_t len, char *err)
{
    size_t  i, seg;
    int     c;

    while (len > 1 && s[len - 1] == '/') {
        len--;
    }

    if (len == 1) {
        if (err) {
            snprintf(err, FARM_ERR_MAX, "registry URL: a gateway URL's path "
                     "names its farm_registry_api location, not \"/\"");
        }

        return -1;
    }

    if (len > FARM_URL_PATH_MAX) {
        if (err) {
            snprintf(err, FARM_ERR_MAX, "registry URL: path longer than %d "
                     "bytes", FARM_URL_PATH_MAX);
        }

        return -1;
    }

    seg = 0;

    for (i = 0; i <= len; i++) {
        c = i < len ? (unsigned char) s[i] : '/';

        if (c == '/') {
            if (i > 0 && ((i - seg == 2 && s[seg + 1] == '.')
                          || (i - seg == 3 && s[seg + 1] == '.'
                              && s[seg + 2] == '.')))
            {
                if (err) {
                    snprintf(err, FARM_ERR_MAX, "registry URL: no \".\" or "
                             "\"..\" segment in the path");
                }

                return -1;
            }

            seg = i;
            continue;
        }

        if (c == '%' && i + 2 < len && farm_hex((unsigned char) s[i + 1]) >= 0
            && farm_hex((unsigned char) s[i + 2]) >= 0)
        {
            i += 2;
            continue;
        }

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || (c != 0 && strchr("-._~!$&'()*+,;=:@", c)))
        {
            continue;
        }

        if (err) {
            if (c == '?' || c == '#') {
                snprintf(err, FARM_ERR_MAX, "registry URL: a gateway URL "
                         "takes no query or fragment");

            } else {
                snprintf(err, FARM_ERR_MAX, "registry URL: invalid character "
                         "in the path");
            }
        }

        return -1;
    }

    memcpy(u->path, s, len);
    u->path[len] = '\0';

    return 0;
}


int
farm_url_parse(farm_url_t *u, const char *s, size_t len, char *err)
{
    const char     *p, *end, *at, *colon, *host, *host_end, *slash;
    int             bracketed, web;
    size_t          n, i;
    unsigned char   c, addr[16];

    memset(u, 0, sizeof(farm_url_t));
    end = s + len;
    web = 0;

#define FARM_URL_ERR(...)                                                     \
    do {                                                                      \
        if (err) snprintf(err, FARM_ERR_MAX, __VA_ARGS__);                    \
        return -1;                                                            \
    } while (0)

#define FARM_URL_SCHEME(name)                                                 \
    (len >= sizeof(name) - 1 && memcmp(s, name, sizeof(name) - 1) == 0)

    if (FARM_URL_SCHEME("rediss://")) {
        /* TLS to Redis is farm_limit's and Kong rate-limiting's only */
        FARM_URL_ERR("registry URL: rediss:// (Redis over TLS) is not "
                     "supported for a registry or consumers (only by "
                     "farm_limit's redis= and Kong rate-limiting): scheme "
                     "must be redis://, consul://, http:// or https://");
    }

    if (FARM_URL_SCHEME("redis://")) {
        u->type = FARM_URL_REDIS;
        u->port = 6379;
        p = s + sizeof("redis://") - 1;

    } else if (FARM_URL_SCHEME("consul://")) {
        u->type = FARM_URL_CONSUL;
        u->port = 8500;
        p = s + sizeof("consul://") - 1;

    } else if (FARM_URL_SCHEME("http://")) {
        u->type = FARM_URL_CONSUL;
        u->port = 8500;
        p = s + sizeof("http://") - 1;
        web = 1;

    } else if (FARM_URL_SCHEME("https://")) {
        u->type = FARM_URL_CONSUL;
        u->tls = 1;
        u->port = 8501;
        p = s + sizeof("https://") - 1;
        web = 1;

    } else if (FARM_URL_SCHEME("consuls://")) {
        u->type = FARM_URL_CONSUL;
        u->tls = 1;
        u->port = 8501;
        p = s + sizeof("consuls://") - 1;

    } else {
        n = farm_url_scheme_len(s, len);

        if (n == 0) {
            FARM_URL_ERR("registry URL: no \"scheme://\" at the start: "
                         "scheme must be redis://, consul://, http:// or "
                         "https://");
        }

        FARM_URL_ERR("registry URL: unknown scheme \"%.*s\": scheme must be "
                     "redis://, consul://, http:// or https://", (int) n, s);
    }

    slash = memchr(p, '/', end - p);
    if (slash == NULL) {
        slash = end;
    }

    /* http(s):// with a path: a gateway's registry API, not Consul */

    if (web && slash < end && slash + 1 < end) {
        u->type = FARM_URL_API;
        u->port = u->tls ? 443 : 80;
    }

    /* userinfo: the last '@' before the path */

    at = NULL;
    for (host = p; host < slash; host++) {
        if (*host == '@') {
            at = host;
        }
    }

    if (at) {
        if (u->type == FARM_URL_API) {
            FARM_URL_ERR("registry URL: credentials in a gateway URL are "
                         "not supported, use --token-file");
        }

        if (u->type != FARM_URL_REDIS) {
            FARM_URL_ERR("registry URL: credentials in a Consul URL are not "
                         "supported, use token=");
        }

        colon = memchr(p, ':', at - p);

        if (colon == NULL) {
            FARM_URL_ERR("registry URL: credentials must be "
                         "\":password@\" or \"user:password@\"");
        }

        if (farm_unescape(u->user, FARM_SECRET_MAX, p, colon - p) != 0
            || farm_unescape(u->password, FARM_SECRET_MAX, colon + 1,
                             at - colon - 1) != 0)
        {
            FARM_URL_ERR("registry URL: malformed or too long user or "
                         "password");
        }

        p = at + 1;
    }

    /* host and port */

    bracketed = (p < slash && *p == '[');

    if (bracketed) {
        host = p + 1;
        host_end = memchr(host, ']', slash - host);

        if (host_end == NULL) {
            FARM_URL_ERR("registry URL: missing \"]\" after IPv6 address");
        }

        colon = (host_end + 1 < slash && host_end[1] == ':') ? host_end + 1
                                                             : NULL;

        if (colon == NULL && host_end + 1 != slash) {
            FARM_URL_ERR("registry URL: unexpected text after \"]\"");
        }

    } else {
        host = p;
        colon = memchr(p, ':', slash - p);
        host_end = colon ? colon : slash;
    }

    n = host_end - host;

    if (n == 0) {
        FARM_URL_ERR("registry URL: missing host");
    }

    if (n > FARM_HOST_MAX) {
        FARM_URL_ERR("registry URL: host longer than %d bytes",
                     FARM_HOST_MAX);
    }

    memcpy(u->host, host, n);
    u->host[n] = '\0';

    /* every byte copied: a NUL must not hide what follows it */

    for (i = 0; i < n; i++) {
        c = (unsigned char) u->host[i];

        if (c < 0x20 || c == 0x7f) {
            FARM_URL_ERR("registry URL: control character or NUL in host");
        }
    }

    if (bracketed) {
        if (inet_pton(AF_INET6, u->host, addr) != 1) {
            FARM_URL_ERR("registry URL: \"[...]\" must hold an IPv6 "
                         "address");
        }

    } else if (strpbrk(u->host, " \"'\\%?#@[]") != NULL) {
        FARM_URL_ERR("registry URL: invalid character in host \"%.64s\"",
                     u->host);
    }

    if (colon) {
        if (farm_parse_uint(colon + 1, slash - colon - 1, 65535, &u->port)
            != 0 || u->port == 0)
        {
            FARM_URL_ERR("registry URL: port must be a number from 1 to "
                         "65535");
        }
    }

    /* path: the API's location; the Redis database number; Consul none */

    if (u->type == FARM_URL_API) {
        return farm_url_path(u, slash, end - slash, err);
    }

    if (slash < end && slash + 1 < end) {
        if (u->type != FARM_URL_REDIS) {
            FARM_URL_ERR("registry URL: a Consul URL takes no path");
        }

        if (farm_parse_uint(slash + 1, end - slash - 1, 65535, &u->db) != 0) {
            FARM_URL_ERR("registry URL: database must be a number, "
                         "as in redis://host:6379/0");
        }
    }

#undef FARM_URL_ERR
#undef FARM_URL_SCHEME

    return 0;
}


char *
farm_url_display(const farm_url_t *u, char *buf, size_t size)
{
    const char  *scheme, *lb, *rb;

    if (u->type == FARM_URL_REDIS) {
        scheme = "redis";

    } else if (u->type == FARM_URL_API) {
        scheme = u->tls ? "https" : "http";

    } else {
        scheme = u->tls ? "https" : "consul";
    }

    lb = strchr(u->host, ':') ? "[" : "";
    rb = *lb ? "]" : "";

    if (u->type == FARM_URL_REDIS) {
        snprintf(buf, size, "%s://%s%s%s:%u/%u", scheme, lb, u->host, rb,
                 u->port, u->db);

    } else if (u->type == FARM_URL_API) {
        snprintf(buf, size, "%s://%s%s%s:%u%s", scheme, lb, u->host, rb,
                 u->port, u->path);

    } else {
        snprintf(buf, size, "%s://%s%s%s:%u", scheme, lb, u->host, rb,
                 u->port);
    }

    return buf;
}
