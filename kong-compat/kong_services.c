/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The service and route schemas of a Kong declarative configuration:
 * services (and their url shorthand) and routes (paths, hosts, headers,
 * methods, snis); Kong's fields, defaults, entity checks and messages.
 * docs/kong.md has the matrix.
 */

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "kong_schema.h"


/* ---- services ------------------------------------------------------------ */

/*
 * The url shorthand, "scheme://host[:port][/path]": its parts overwrite the
 * explicit protocol, host, port and path, as in Kong.
 */
static void
kong_service_url(kong_ctx_t *ctx, const kong_node_t *v, kong_service_t *s,
    const char **proto)
{
    const char  *u, *p, *h, *hend, *path, *colon;
    size_t       hlen;
    unsigned     port;
    int          has_port;

    u = v->str;
    p = strstr(u, "://");

    *proto = NULL;

    if (p) {
        *proto = kong_pstrndup(ctx->pool, u, (size_t) (p - u));
        h = p + 3;

    } else {
        h = u;
    }

    /* drop user info */
    hend = h + strcspn(h, "/?#");
    p = memchr(h, '@', (size_t) (hend - h));
    if (p) {
        h = p + 1;
    }

    path = hend;
    has_port = 0;
    port = 0;

    if (*h == '[') {
        p = memchr(h, ']', (size_t) (hend - h));
        colon = p && p + 1 < hend && p[1] == ':' ? p + 1 : NULL;
        hlen = p ? (size_t) (p - h - 1) : 0;
        h = p ? h + 1 : h;

    } else {
        colon = memchr(h, ':', (size_t) (hend - h));
        hlen = colon ? (size_t) (colon - h) : (size_t) (hend - h);
    }

    if (colon) {
        has_port = 1;
        for (p = colon + 1; p < hend; p++) {
            if (*p < '0' || *p > '9' || port > 65535) {
                break;
            }

            port = port * 10 + (unsigned) (*p - '0');
        }

        if (p < hend || port > 65535) {
            kong_ferr(ctx, v, "port", "value should be between 0 and 65535");
            return;
        }

        if (colon + 1 == hend) {
            has_port = 0;
        }
    }

    s->host = hlen ? kong_pstrndup(ctx->pool, h, hlen) : NULL;

    if (!has_port) {
        port = (*proto && strcmp(*proto, "https") == 0) ? 443 : 80;
    }

    s->port = port;

    if (*proto == NULL) {
        *proto = port == 443 ? "https" : "http";
    }

    hlen = strcspn(path, "?#");
    s->path = hlen ? kong_pstrndup(ctx->pool, path, hlen) : NULL;
}


/* typedefs.path: a service path, an active health check's http_path */
void
kong_check_path(kong_ctx_t *ctx, const kong_node_t *at, const char *field,
    const char *p)
{
    const char  *c;

    if (p[0] != '/') {
        kong_ferr(ctx, at, field, "should start with: /");
        return;
    }

    if (strstr(p, "//")) {
        kong_ferr(ctx, at, field, "must not have empty segments");
        return;
    }

    for (c = p; *c; c++) {
        if (isalnum((unsigned char) *c)
            || strchr("-._~!*'();:@&=+$,/?#[]", *c))
        {
            continue;
        }

        if (*c == '%') {
            if (!isxdigit((unsigned char) c[1])
                || !isxdigit((unsigned char) c[2]))
            {
                kong_ferr(ctx, at, field, "invalid url-encoded value: "
                          "'%.3s'", c);
                return;
            }

            c += 2;
            continue;
        }

        kong_ferr(ctx, at, field, "invalid path: '%s' (characters outside "
                  "of the reserved list of RFC 3986 found)", p);
        return;
    }
}



void
kong_service(kong_ctx_t *ctx, const kong_node_t *map)
{
    static const char *const  fields[] = {
        "id", "name", "retries", "protocol", "host", "port", "path",
        "connect_timeout", "write_timeout", "read_timeout", "tags",
        "client_certificate", "tls_verify", "tls_verify_depth",
        "ca_certificates", "enabled", "url", "routes", "plugins",
        "created_at", "updated_at", NULL
    };

    int              k, proto;
    char             buf[256];
    size_t           i, mark, mark2, self;
    const char      *url_proto, *pname;
    kong_node_t     *v, *url, *a;
    kong_service_t  *s;

    s = kong_palloc(ctx->pool, sizeof(kong_service_t));
    if (s == NULL) {
        kong_oom(ctx);
        return;
    }

    self = kong_ent_add(ctx, KONG_ENT_SERVICE, s, 0, map);
    if (self == 0) {
        return;
    }

    ctx->cur = self;

    s->pos.line = map->line;
    s->pos.col = map->col;
    s->index = ctx->cfg->nservices;
    s->retries = 5;
    s->port = 80;
    s->connect_timeout = 60000;
    s->write_timeout = 60000;
    s->read_timeout = 60000;
    s->enabled = 1;
    s->tls_verify = -1;
    s->tls_verify_depth = -1;

    kong_check_fields(ctx, map, fields);
    kong_check_id_name(ctx, map, KONG_ENT_SERVICE, s, "name", &s->id,
                       &s->name, 1);
    s->tags = kong_tags(ctx, map, &s->ntags);
    s->created_at = kong_timestamp(map, "created_at");
    s->updated_at = kong_timestamp(map, "updated_at");

    kong_get_uint(ctx, map, "retries", 0, 32767, &s->retries);
    kong_get_uint(ctx, map, "connect_timeout", 1, KONG_TIMEOUT_MAX,
                  &s->connect_timeout);
    kong_get_uint(ctx, map, "write_timeout", 1, KONG_TIMEOUT_MAX,
                  &s->write_timeout);
    kong_get_uint(ctx, map, "read_timeout", 1, KONG_TIMEOUT_MAX,
                  &s->read_timeout);
    kong_get_bool(ctx, map, "enabled", &s->enabled);

    pname = "http";
    kong_get_str(ctx, map, "protocol", 0, &pname);
    kong_get_str(ctx, map, "host", 0, &s->host);
    kong_get_uint(ctx, map, "port", 0, 65535, &s->port);
    kong_get_str(ctx, map, "path", 0, &s->path);

    url = kong_node_get(map, "url");

    if (!kong_node_is_null(url)) {
        if (!kong_is_str(url)) {
            kong_ferr(ctx, url, "url", "expected a string");

        } else {
            kong_service_url(ctx, url, s, &url_proto);
            if (url_proto) {
                pname = url_proto;
            }
        }
    }

    /* the url's parts are reported at the url */
    v = kong_node_is_null(url) ? NULL : url;

    k = kong_in_list(pname, strlen(pname), kong_protocols);
    proto = 0;

    if (k < 0) {
        kong_ferr(ctx, v ? v : kong_node_get(map, "protocol"), "protocol",
                  "expected one of: %s",
                  kong_join(buf, sizeof(buf), kong_protocols));

    } else {
        proto = kong_protocol_bits[k];

        if (proto != KONG_PROTO_HTTP && proto != KONG_PROTO_HTTPS) {
            kong_ferr(ctx, v ? v : kong_node_get(map, "protocol"),
                      "protocol", "protocol '%s' is not supported by this "
                      "gateway (http and https only)", pname);
        }
    }

    s->protocol = proto;

    if (s->host == NULL) {
        kong_ferr(ctx, v ? v : map, "host", "required field missing");

    } else {
        kong_check_host(ctx, v ? v : kong_node_get(map, "host"), "host",
                        s->host);
    }

    if (s->path) {
        if (proto != KONG_PROTO_HTTP && proto != KONG_PROTO_HTTPS && proto) {
            kong_ferr(ctx, v ? v : kong_node_get(map, "path"), "path",
                      "value must be null");
            kong_err(ctx, map, "failed conditional validation given value "
                     "of field 'protocol'");

        } else {
            kong_check_path(ctx, v ? v : kong_node_get(map, "path"), "path",
                            s->path);
        }

        if (strlen(s->path) > ctx->cfg->max_service_path) {
            ctx->cfg->max_service_path = strlen(s->path);
        }
    }

    if (kong_get_bool(ctx, map, "tls_verify", &k) == 1) {
        s->tls_verify = k;
    }

    {
        unsigned  depth;

        if (kong_get_uint(ctx, map, "tls_verify_depth", 0, 64, &depth) == 1)
        {
            s->tls_verify_depth = (int) depth;
        }
    }

    if (proto != KONG_PROTO_HTTPS && proto != KONG_PROTO_TLS
        && (s->tls_verify != -1 || s->tls_verify_depth != -1))
    {
        kong_ferr(ctx, kong_node_get(map, s->tls_verify != -1
                                          ? "tls_verify"
                                          : "tls_verify_depth"),
                  s->tls_verify != -1 ? "tls_verify" : "tls_verify_depth",
                  "value must be null");
        kong_err(ctx, map, "failed conditional validation given value of "
                 "field 'protocol'");
    }

    v = kong_node_get(map, "client_certificate");
    if (!kong_node_is_null(v)) {
        kong_ferr(ctx, v, "client_certificate", "not supported by this "
                  "gateway: certificates entities are not loaded (use "
                  "nginx's proxy_ssl_certificate)");
    }

    kong_service_cas(ctx, map, s,
                     proto == KONG_PROTO_HTTPS || proto == KONG_PROTO_TLS);

    kong_nested_plugins(ctx, map, KONG_ENT_SERVICE, s);

    mark = kong_push(ctx, "routes");
    a = kong_records(ctx, kong_node_get(map, "routes"));

    for (i = 0; a && i < a->n; i++) {
        mark2 = kong_push_index(ctx, i);
        ctx->cur = self;

        if (kong_record(ctx, a->items[i]) == 0) {
            kong_route(ctx, a->items[i], s);
        }

        kong_pop(ctx, mark2);
    }

    kong_pop(ctx, mark);
    ctx->cur = 0;
}


/* ---- routes -------------------------------------------------------------- */

/*
 * Migrates a format 1.1/2.1 route path: a path of plain characters stays a
 * prefix (normalized), anything else becomes a "~" regex with its
 * percent-escapes decoded.
 */
static const char *
kong_migrate_path(kong_ctx_t *ctx, const char *p)
{
    size_t       len, i, o;
    const char  *c;
    char        *out;
    int          hi, lo;

    len = strlen(p);

    for (c = p; *c; c++) {
        if (!isalnum((unsigned char) *c) && !strchr(".-_~/%", *c)) {
            break;
        }
    }

    if (*c == '\0') {
        out = kong_palloc(ctx->pool, len + 1);
        if (out == NULL) {
            kong_oom(ctx);
            return p;
        }

        out[kong_path_normalize(p, len, out)] = '\0';
        return out;
    }

    out = kong_palloc(ctx->pool, len + 2);
    if (out == NULL) {
        kong_oom(ctx);
        return p;
    }

    out[0] = '~';
    o = 1;

    for (i = 0; i < len; i++) {
        if (p[i] == '%' && i + 2 < len) {
            hi = isxdigit((unsigned char) p[i + 1]);
            lo = isxdigit((unsigned char) p[i + 2]);

            if (hi && lo) {
                char  hex[3] = { p[i + 1], p[i + 2], '\0' };

                out[o++] = (char) strtol(hex, NULL, 16);
                i += 2;
                continue;
            }
        }

        out[o++] = p[i];
    }

    out[o] = '\0';

    return out;
}


static void
kong_regex_free(void *re)
{
    pcre2_code_free(re);
}


static void *
kong_compile(kong_ctx_t *ctx, const kong_node_t *at, const char *re,
    uint32_t options)
{
    int          code;
    PCRE2_SIZE   off;
    pcre2_code  *c;
    char         msg[256];

    c = pcre2_compile((PCRE2_SPTR) re, PCRE2_ZERO_TERMINATED,
                      options | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                      &code, &off, NULL);

    if (c == NULL) {
        pcre2_get_error_message(code, (PCRE2_UCHAR *) msg, sizeof(msg));
        kong_err(ctx, at, "invalid regex: '%s' (PCRE returned: %s)", re,
                 msg);
        return NULL;
    }

    if (kong_pool_cleanup(ctx->pool, kong_regex_free, c) != 0) {
        pcre2_code_free(c);
        kong_oom(ctx);
        return NULL;
    }

    (void) pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);

    return c;
}


static void
kong_route_paths(kong_ctx_t *ctx, const kong_node_t *map, kong_route_t *r)
{
    size_t        i, mark, m2, len, nlen;
    const char   *p;
    char         *norm;
    kong_node_t  *a, *v;
    kong_path_t  *kp;

    a = kong_get_array(ctx, map, "paths", 0);
    if (a == NULL || a->n == 0) {
        return;
    }

    r->paths = kong_palloc(ctx->pool, a->n * sizeof(kong_path_t));
    if (r->paths == NULL) {
        kong_oom(ctx);
        return;
    }

    mark = kong_push(ctx, "paths");

    for (i = 0; i < a->n; i++) {
        v = a->items[i];
        m2 = kong_push_index(ctx, i);

        if (!kong_is_str(v)) {
            kong_err(ctx, v, "expected a string");
            goto next;
        }

        p = v->str;

        if (ctx->legacy) {
            p = kong_migrate_path(ctx, p);
        }

        if (!(p[0] == '/' || (p[0] == '~' && p[1] == '/'))) {
            kong_err(ctx, v, "should start with: / (fixed path) or ~/ "
                     "(regex path)");
            goto next;
        }

        if (strstr(p, "//")) {
            kong_err(ctx, v, "must not have empty segments");
            goto next;
        }

        kp = &r->paths[r->npaths];

        if (p[0] == '~') {
            kp->regex = 1;
            kp->path = p + 1;
            kp->len = strlen(p + 1);
            kp->re = kong_compile(ctx, v, kp->path, PCRE2_ANCHORED);
            if (kp->re == NULL) {
                goto next;
            }

        } else {
            len = strlen(p);
            norm = kong_palloc(ctx->pool, len + 1);
            if (norm == NULL) {
                kong_oom(ctx);
                goto next;
            }

            nlen = kong_path_normalize(p, len, norm);
            norm[nlen] = '\0';

            if (nlen != len || memcmp(norm, p, len) != 0) {
                kong_err(ctx, v, "non-normalized path, consider use '%s' "
                         "instead", norm);
                goto next;
            }

            kp->path = p;
            kp->len = len;
        }

        r->npaths++;

    next:

        kong_pop(ctx, m2);
    }

    kong_pop(ctx, mark);
}


static void
kong_route_hosts(kong_ctx_t *ctx, const kong_node_t *map, kong_route_t *r)
{
    size_t        i, mark, m2, len, hlen;
    const char   *s, *star, *h;
    unsigned      port;
    int           rc, wild;
    char         *tmp;
    kong_node_t  *a, *v;
    kong_host_t  *kh;

    a = kong_get_array(ctx, map, "hosts", 0);
    if (a == NULL || a->n == 0) {
        return;
    }

    r->hosts = kong_palloc(ctx->pool, a->n * sizeof(kong_host_t));
    if (r->hosts == NULL) {
        kong_oom(ctx);
        return;
    }

    mark = kong_push(ctx, "hosts");

    for (i = 0; i < a->n; i++) {
        v = a->items[i];
        m2 = kong_push_index(ctx, i);

        if (!kong_is_str(v)) {
            kong_err(ctx, v, "expected a string");
            goto next;
        }

        s = v->str;
        wild = KONG_HOST_PLAIN;
        star = strchr(s, '*');

        if (star) {
            if (strchr(star + 1, '*')) {
                kong_err(ctx, v, "invalid wildcard: must have at most one "
                         "wildcard");
                goto next;
            }

            if (star == s && s[1] == '.') {
                wild = KONG_HOST_WILD_LEFT;

            } else if (star[1] == '\0' || star[1] == ':') {
                if (star == s || star[-1] != '.') {
                    kong_err(ctx, v, "invalid wildcard: must be placed at "
                             "leftmost or rightmost label");
                    goto next;
                }

                wild = KONG_HOST_WILD_RIGHT;

            } else {
                kong_err(ctx, v, "invalid wildcard: must be placed at "
                         "leftmost or rightmost label");
                goto next;
            }
        }

        /* validate with the wildcard label replaced by a plain one */
        len = strlen(s);
        tmp = kong_pstrndup(ctx->pool, s, len);
        if (tmp == NULL) {
            kong_oom(ctx);
            goto next;
        }

        if (star) {
            tmp[star - s] = 'x';
        }

        rc = kong_split_host(tmp, &h, &hlen, &port);

        if (rc == -2) {
            kong_err(ctx, v, "invalid port number");
            goto next;
        }

        if (rc != 0 || !kong_is_host(h, hlen)) {
            kong_err(ctx, v, "invalid hostname: %s", s);
            goto next;
        }

        kh = &r->hosts[r->nhosts];
        kh->wildcard = wild;
        kh->port = port;
        kh->written = s;

        /* keep "*.example.com" as ".example.com", "example.*" as
         * "example." (what the request host must end / start with) */
        if (wild == KONG_HOST_WILD_LEFT) {
            kh->name = s + 1;
            kh->len = hlen - 1;

        } else if (wild == KONG_HOST_WILD_RIGHT) {
            kh->name = s + (h - tmp);
            kh->len = hlen - 1;

        } else {
            kh->name = s + (h - tmp);
            kh->len = hlen;
        }

        kh->name = kong_pstrndup(ctx->pool, kh->name, kh->len);
        if (kh->name == NULL) {
            kong_oom(ctx);
            goto next;
        }

        r->nhosts++;

    next:

        kong_pop(ctx, m2);
    }

    kong_pop(ctx, mark);
}


static void
kong_route_headers(kong_ctx_t *ctx, const kong_node_t *map, kong_route_t *r)
{
    size_t                i, j, mark, mark2, hmark;
    char                 *s;
    const char           *c;
    kong_node_t          *m, *k, *a, *v;
    kong_route_header_t  *h;
    kong_header_value_t  *hv;

    m = kong_node_get(map, "headers");
    if (kong_node_is_null(m)) {
        return;
    }

    if (m->type != KONG_NODE_MAP) {
        kong_ferr(ctx, m, "headers", "expected a map");
        return;
    }

    if (m->n == 0) {
        return;
    }

    r->headers = kong_palloc(ctx->pool, m->n * sizeof(kong_route_header_t));
    if (r->headers == NULL) {
        kong_oom(ctx);
        return;
    }

    hmark = kong_push(ctx, "headers");

    for (i = 0; i < m->n; i++) {
        k = m->keys[i];
        a = m->items[i];
        mark = kong_push(ctx, k->str);

        for (c = k->str; *c; c++) {
            if (!isalnum((unsigned char) *c) && *c != '-' && *c != '_') {
                break;
            }
        }

        if (*c || k->len == 0) {
            kong_err(ctx, k, "bad header name '%s', allowed characters are "
                     "A-Z, a-z, 0-9, '_', and '-'", k->str);
            goto next;
        }

        if (strcasecmp(k->str, "host") == 0) {
            kong_err(ctx, k, "cannot contain 'host' header, which must be "
                     "specified in the 'hosts' attribute");
            goto next;
        }

        if (a->type != KONG_NODE_SEQ) {
            kong_err(ctx, a, "expected an array");
            goto next;
        }

        if (a->n == 0) {
            kong_err(ctx, a, "length must be at least 1");
            goto next;
        }

        h = &r->headers[r->nheaders];
        h->len = k->len;
        s = kong_pstrndup(ctx->pool, k->str, k->len);
        h->values = kong_palloc(ctx->pool, a->n * sizeof(*h->values));

        if (s == NULL || h->values == NULL) {
            kong_oom(ctx);
            goto next;
        }

        for (j = 0; j < k->len; j++) {
            s[j] = (char) tolower((unsigned char) s[j]);
        }

        h->name = s;

        for (j = 0; j < a->n; j++) {
            v = a->items[j];
            mark2 = kong_push_index(ctx, j);

            if (!kong_is_str(v)) {
                kong_err(ctx, v, "expected a string");
                kong_pop(ctx, mark2);
                continue;
            }

            hv = &h->values[h->nvalues];

            if (v->len >= 2 && v->str[0] == '~' && v->str[1] == '*') {
                hv->value = v->str + 2;
                hv->len = v->len - 2;
                hv->re = kong_compile(ctx, v, hv->value, PCRE2_CASELESS);
                if (hv->re == NULL) {
                    kong_pop(ctx, mark2);
                    continue;
                }

            } else {
                s = kong_pstrndup(ctx->pool, v->str, v->len);
                if (s == NULL) {
                    kong_oom(ctx);
                    kong_pop(ctx, mark2);
                    continue;
                }

                for (c = s; *c; c++) {
                    *(char *) c = (char) tolower((unsigned char) *c);
                }

                hv->value = s;
                hv->len = v->len;
            }

            h->nvalues++;
            kong_pop(ctx, mark2);
        }

        r->nheaders++;

    next:

        kong_pop(ctx, mark);
    }

    kong_pop(ctx, hmark);
}


static const char **
kong_strings(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    size_t *n, int (*check)(kong_ctx_t *, const kong_node_t *))
{
    size_t         i, mark, m2;
    kong_node_t   *a, *v;
    const char   **out;

    *n = 0;

    a = kong_get_array(ctx, map, key, 1);
    if (a == NULL || a->n == 0) {
        return NULL;
    }

    out = kong_palloc(ctx->pool, a->n * sizeof(char *));
    if (out == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    mark = kong_push(ctx, key);

    for (i = 0; i < a->n; i++) {
        v = a->items[i];
        m2 = kong_push_index(ctx, i);

        if (!kong_is_str(v)) {
            kong_err(ctx, v, "expected a string");

        } else if (check == NULL || check(ctx, v) == 0) {
            out[(*n)++] = v->str;
        }

        kong_pop(ctx, m2);
    }

    kong_pop(ctx, mark);

    return out;
}


static int
kong_check_method(kong_ctx_t *ctx, const kong_node_t *v)
{
    const char  *c;

    for (c = v->str; *c; c++) {
        if (*c < 'A' || *c > 'Z') {
            break;
        }
    }

    if (*c || v->len == 0) {
        kong_err(ctx, v, "invalid value: %s", v->str);
        return -1;
    }

    return 0;
}


static int
kong_check_sni(kong_ctx_t *ctx, const kong_node_t *v)
{
    const char  *s, *star;
    char        *tmp;

    s = v->str;
    star = strchr(s, '*');

    if (star && (strchr(star + 1, '*')
                 || !((star == s && s[1] == '.')
                      || (star[1] == '\0' && star > s && star[-1] == '.'))))
    {
        kong_err(ctx, v, "invalid wildcard: must be placed at leftmost or "
                 "rightmost label");
        return -1;
    }

    if (strchr(s, ':')) {
        kong_err(ctx, v, "must not have a port");
        return -1;
    }

    tmp = kong_pstrndup(ctx->pool, s, v->len);
    if (tmp == NULL) {
        kong_oom(ctx);
        return -1;
    }

    if (star) {
        tmp[star - s] = 'x';
    }

    if (kong_is_ip(tmp, v->len)) {
        kong_err(ctx, v, "must not be an IP");
        return -1;
    }

    if (!kong_is_hostname(tmp, v->len)) {
        kong_err(ctx, v, "invalid hostname: %s", s);
        return -1;
    }

    return 0;
}


void
kong_route(kong_ctx_t *ctx, const kong_node_t *map, kong_service_t *service)
{
    static const char *const  fields[] = {
        "id", "name", "protocols", "methods", "hosts", "paths", "headers",
        "https_redirect_status_code", "regex_priority", "strip_path",
        "path_handling", "preserve_host", "request_buffering",
        "response_buffering", "snis", "sources", "destinations", "tags",
        "service", "created_at", "updated_at", "plugins", NULL
    };
    static const char *const  handling[] = { "v0", "v1", NULL };
    static const char *const  flavors_msg =
        "'methods', 'hosts', 'headers', 'paths'";

    int            given, k, field_errors;
    double         d;
    unsigned       code;
    size_t         self, i, nerr;
    kong_node_t   *v;
    kong_route_t  *r;

    r = kong_palloc(ctx->pool, sizeof(kong_route_t));
    if (r == NULL) {
        kong_oom(ctx);
        return;
    }

    self = kong_ent_add(ctx, KONG_ENT_ROUTE, r, ctx->cur, map);
    if (self == 0) {
        return;
    }

    ctx->cur = self;

    r->pos.line = map->line;
    r->pos.col = map->col;
    r->path_in_file = kong_path_dup(ctx);
    r->strip_path = 1;
    r->request_buffering = 1;
    r->response_buffering = 1;
    r->https_redirect_status_code = 426;
    r->service = service;

    kong_check_fields(ctx, map, fields);
    kong_check_id_name(ctx, map, KONG_ENT_ROUTE, r, "name", &r->id,
                       &r->name, 1);
    r->tags = kong_tags(ctx, map, &r->ntags);
    r->created_at = kong_timestamp(map, "created_at");
    r->updated_at = kong_timestamp(map, "updated_at");

    r->protocols = kong_get_protocols(ctx, map,
                                      KONG_PROTO_HTTP | KONG_PROTO_HTTPS,
                                      &given);

    if (r->protocols & ~(unsigned) (KONG_PROTO_HTTP | KONG_PROTO_HTTPS)) {
        for (i = 0; i < 8; i++) {
            if (r->protocols & (1u << i)
                && (1u << i) != KONG_PROTO_HTTP
                && (1u << i) != KONG_PROTO_HTTPS)
            {
                kong_ferr(ctx, kong_node_get(map, "protocols"), "protocols",
                          "protocol '%s' is not supported by this gateway "
                          "(http and https routes only)",
                          kong_protocol_name((int) (1u << i)));
                break;
            }
        }
    }

    nerr = ctx->errs->n + ctx->errs->dropped;

    r->methods = kong_strings(ctx, map, "methods", &r->nmethods,
                              kong_check_method);
    kong_route_hosts(ctx, map, r);
    kong_route_paths(ctx, map, r);
    kong_route_headers(ctx, map, r);
    r->snis = kong_strings(ctx, map, "snis", &r->nsnis, kong_check_sni);
    field_errors = ctx->errs->n + ctx->errs->dropped != nerr;

    if (kong_get_num(ctx, map, "https_redirect_status_code", 1, 0, 999, &d)
        == 1)
    {
        code = (unsigned) d;

        if (code != 426 && code != 301 && code != 302 && code != 307
            && code != 308)
        {
            kong_ferr(ctx, kong_node_get(map, "https_redirect_status_code"),
                      "https_redirect_status_code",
                      "expected one of: 426, 301, 302, 307, 308");

        } else {
            r->https_redirect_status_code = code;
        }

    } else if (kong_node_get(map, "https_redirect_status_code")
               && kong_node_is_null(kong_node_get(map,
                                           "https_redirect_status_code")))
    {
        kong_ferr(ctx, map, "https_redirect_status_code",
                  "required field missing");
    }

    if (kong_get_num(ctx, map, "regex_priority", 1, -9.007e15, 9.007e15, &d)
        == 1)
    {
        r->regex_priority = (int64_t) d;
    }

    kong_get_bool(ctx, map, "strip_path", &r->strip_path);
    kong_get_bool(ctx, map, "preserve_host", &r->preserve_host);
    kong_get_bool(ctx, map, "request_buffering", &r->request_buffering);
    kong_get_bool(ctx, map, "response_buffering", &r->response_buffering);

    k = 0;
    if (kong_get_enum(ctx, map, "path_handling", handling, &k) == 1) {
        r->path_handling = k;
    }

    for (i = 0; i < 2; i++) {
        const char  *f = i ? "destinations" : "sources";

        v = kong_node_get(map, f);

        if (!kong_node_is_null(v)) {
            kong_ferr(ctx, v, f, "cannot set '%s' when 'protocols' is "
                      "'http' or 'https'", f);
        }
    }

    if (r->nsnis && !(r->protocols & KONG_PROTO_HTTPS)) {
        kong_ferr(ctx, kong_node_get(map, "snis"), "snis", "'snis' can only "
                  "be set when 'protocols' is 'grpcs', 'https', 'tls' or "
                  "'tls_passthrough'");
    }

    /*
     * empty lists count as unset: such a route would match everything;
     * a field already reported as wrong is not reported twice
     */
    if (r->nmethods == 0 && r->nhosts == 0 && r->nheaders == 0
        && r->npaths == 0 && r->nsnis == 0 && !field_errors)
    {
        if (r->protocols & KONG_PROTO_HTTPS) {
            kong_err(ctx, map, "must set one of %s, 'snis' when "
                     "'protocols' is 'https'", flavors_msg);

        } else {
            kong_err(ctx, map, "must set one of %s when 'protocols' is "
                     "'http'", flavors_msg);
        }
    }

    kong_foreign(ctx, map, "service", service != NULL, 0,
                 KONG_REF_ROUTE_SERVICE, r);

    kong_nested_plugins(ctx, map, KONG_ENT_ROUTE, r);

    ctx->cur = 0;
}
