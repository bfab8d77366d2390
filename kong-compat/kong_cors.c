/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The cors plugin's engine: Kong 3.x's preflight answer and response
 * headers (kong_cors.h).
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "kong_cors.h"


typedef struct {
    char               *text;       /* literal: normalized; regex: source */
    size_t              len;
    pcre2_code         *re;         /* NULL: a literal, or a bad regex */
    int                 regex;
    int                 by_host;    /* the entry has no ":" */
} cors_origin_t;


struct kong_cors_s {
    cors_origin_t      *origins;
    size_t              n_origins;
    int                 allow_all;     /* no origins or exactly ["*"] */
    char               *single;        /* the one literal origin, or NULL */
    char               *allow_headers; /* joined by ",", NULL if none */
    char               *expose_headers;
    char               *allow_methods;
    char                max_age[32];   /* "" if none */
    int                 credentials;
    int                 private_network;
    int                 preflight_continue;
    int                 allow_origin_absent;
    pcre2_match_data   *md;
};


static const char *const  cors_methods[] = {
    "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE",
    "CONNECT"
};

#define CORS_NMETHODS  (sizeof(cors_methods) / sizeof(cors_methods[0]))


static char *cors_join(const char *const *a, size_t n);
static const kong_header_t *cors_header(const kong_cors_request_t *req,
    const char *name);
static void cors_add(kong_cors_result_t *res, const char *name,
    const char *value, size_t len, int op);
static int cors_origin(kong_cors_t *cors, const kong_cors_request_t *req,
    kong_cors_result_t *res);
static void cors_credentials(kong_cors_t *cors,
    const kong_cors_request_t *req, kong_cors_result_t *res, int all);


void
kong_cors_conf_default(kong_cors_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->methods = cors_methods;
    conf->n_methods = CORS_NMETHODS;
    conf->allow_origin_absent = 1;
}


static char *
cors_join(const char *const *a, size_t n)
{
    char    *s;
    size_t   i, len;

    if (n == 0) {
        return NULL;
    }

    len = 0;
    for (i = 0; i < n; i++) {
        len += strlen(a[i]) + 1;
    }

    s = malloc(len);
    if (s == NULL) {
        return NULL;
    }

    len = 0;
    for (i = 0; i < n; i++) {
        if (i) {
            s[len++] = ',';
        }
        memcpy(s + len, a[i], strlen(a[i]));
        len += strlen(a[i]);
    }
    s[len] = '\0';
    return s;
}


/* [A-Za-z0-9.:/-] */
static int
cors_plain(int c)
{
    return isalnum(c) || c == '.' || c == ':' || c == '/' || c == '-';
}


size_t
kong_cors_normalize(const char *o, size_t len, char *out, const char **host,
    size_t *host_len)
{
    size_t       i, n, scheme_len, a, b, h, he, pb;
    const char  *port;
    size_t       port_len;

    /* scheme: [%w][%w+-.]*: */
    scheme_len = 0;
    if (len > 0 && isalnum((unsigned char) o[0])) {
        for (i = 1; i < len && (isalnum((unsigned char) o[i]) || o[i] == '+'
                                || o[i] == '-' || o[i] == '.'); i++)
        {
            /* void */
        }
        if (i < len && o[i] == ':') {
            scheme_len = i;
        }
    }

    i = scheme_len ? scheme_len + 1 : 0;

    if (len - i < 2 || o[i] != '/' || o[i + 1] != '/') {
        goto whole;
    }

    /* authority: //[^/?#]* */
    a = i + 2;
    for (b = a; b < len && o[b] != '/' && o[b] != '?' && o[b] != '#'; b++) {
        /* void */
    }

    /* userinfo: up to the first "@" */
    for (h = a; h < b && o[h] != '@'; h++) { /* void */ }
    h = (h < b) ? h + 1 : a;

    /* port: the last ":" with no ":" or "]" after it */
    port = NULL;
    port_len = 0;
    he = b;
    for (pb = b; pb > h; pb--) {
        if (o[pb - 1] == ']') {
            break;
        }
        if (o[pb - 1] == ':') {
            port = o + pb;
            port_len = b - pb;
            he = pb - 1;
            break;
        }
    }

    if (he == h) {
        goto whole;             /* no host: url.parse leaves it nil */
    }

    if (he - h >= 3 && o[h] == '[' && o[he - 1] == ']') {
        h++;
        he--;
    }

    if (port != NULL && scheme_len == 4 && memcmp(o, "http", 4) == 0
        && port_len == 2 && memcmp(port, "80", 2) == 0)
    {
        port = NULL;
    }
    if (port != NULL && scheme_len == 5 && memcmp(o, "https", 5) == 0
        && port_len == 3 && memcmp(port, "443", 3) == 0)
    {
        port = NULL;
    }

    n = 0;
    if (scheme_len) {
        memcpy(out, o, scheme_len);
        memcpy(out + scheme_len, "://", 3);
        n = scheme_len + 3;
    }
    *host = out + n;
    *host_len = he - h;
    memcpy(out + n, o + h, he - h);
    n += he - h;
    if (port != NULL) {
        out[n++] = ':';
        memcpy(out + n, port, port_len);
        n += port_len;
    }
    out[n] = '\0';
    return n;

whole:

    memcpy(out, o, len);
    out[len] = '\0';
    *host = out;
    *host_len = len;
    return len;
}


kong_cors_t *
kong_cors_create(const kong_cors_conf_t *conf, char *err, size_t err_size)
{
    int               ec;
    char             *src;
    size_t            i, k, len, hl, eo;
    const char       *e, *host;
    kong_cors_t      *cors;
    cors_origin_t    *o;
    pcre2_code       *re;

    for (i = 0; i < conf->n_origins; i++) {
        e = conf->origins[i];
        if (strcmp(e, "*") == 0) {
            continue;
        }
        re = pcre2_compile((PCRE2_SPTR) e, strlen(e), 0, &ec, &eo, NULL);
        if (re == NULL) {
            snprintf(err, err_size, "config.origins: '%s' is not a valid "
                     "regex", e);
            return NULL;
        }
        pcre2_code_free(re);
    }

    for (i = 0; i < conf->n_methods; i++) {
        for (k = 0; k < CORS_NMETHODS; k++) {
            if (strcmp(conf->methods[i], cors_methods[k]) == 0) {
                break;
            }
        }
        if (k == CORS_NMETHODS) {
            snprintf(err, err_size, "config.methods: expected one of: GET, "
                     "HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, "
                     "CONNECT");
            return NULL;
        }
    }

    cors = calloc(1, sizeof(*cors));
    if (cors == NULL) {
        goto nomem;
    }

    cors->credentials = conf->credentials;
    cors->private_network = conf->private_network;
    cors->preflight_continue = conf->preflight_continue;
    cors->allow_origin_absent = conf->allow_origin_absent;
    cors->allow_all = conf->n_origins == 0
                      || (conf->n_origins == 1
                          && strcmp(conf->origins[0], "*") == 0);

    if (conf->has_max_age) {
        snprintf(cors->max_age, sizeof(cors->max_age), "%.14g",
                 conf->max_age);
    }

    cors->allow_headers = cors_join(conf->headers, conf->n_headers);
    cors->expose_headers = cors_join(conf->exposed_headers,
                                     conf->n_exposed_headers);
    /* methods: [] gives an empty header, as concat({}, ",") does */
    cors->allow_methods = conf->n_methods ? cors_join(conf->methods,
                                                      conf->n_methods)
                                          : calloc(1, 1);
    if ((conf->n_headers && cors->allow_headers == NULL)
        || (conf->n_exposed_headers && cors->expose_headers == NULL)
        || cors->allow_methods == NULL)
    {
        goto nomem;
    }

    if (cors->allow_all) {
        return cors;
    }

    if (conf->n_origins == 1) {
        for (e = conf->origins[0]; *e && cors_plain((unsigned char) *e); e++)
        {
            /* void */
        }
        if (*e == '\0' && e != conf->origins[0]) {
            cors->single = strdup(conf->origins[0]);
            if (cors->single == NULL) {
                goto nomem;
            }
            return cors;
        }
    }

    cors->origins = calloc(conf->n_origins, sizeof(cors_origin_t));
    cors->md = pcre2_match_data_create(1, NULL);
    if (cors->origins == NULL || cors->md == NULL) {
        goto nomem;
    }
    cors->n_origins = conf->n_origins;

    for (i = 0; i < conf->n_origins; i++) {
        o = &cors->origins[i];
        e = conf->origins[i];
        len = strlen(e);
        o->by_host = strchr(e, ':') == NULL;

        for (k = 0; k < len && cors_plain((unsigned char) e[k]); k++) {
            /* void */
        }

        if (k == len) {
            o->text = malloc(len + 1);
            if (o->text == NULL) {
                goto nomem;
            }
            o->len = kong_cors_normalize(e, len, o->text, &host, &hl);
            continue;
        }

        /* a regex: "$" appended unless there, a leading "^" dropped */
        src = malloc(len + 2);
        if (src == NULL) {
            goto nomem;
        }
        if (e[0] == '^') {
            memcpy(src, e + 1, len - 1);
            len--;
        } else {
            memcpy(src, e, len);
        }
        if (len == 0 || src[len - 1] != '$') {
            src[len++] = '$';
        }
        src[len] = '\0';
        o->text = src;
        o->len = len;
        o->regex = 1;

        /* one that no longer compiles matches nothing, as in Kong */
        o->re = pcre2_compile((PCRE2_SPTR) src, len, PCRE2_ANCHORED, &ec,
                              &eo, NULL);
        if (o->re != NULL) {
            (void) pcre2_jit_compile(o->re, PCRE2_JIT_COMPLETE);
        }
    }

    return cors;

nomem:

    snprintf(err, err_size, "out of memory");
    kong_cors_free(cors);
    return NULL;
}


void
kong_cors_free(kong_cors_t *cors)
{
    size_t  i;

    if (cors == NULL) {
        return;
    }

    for (i = 0; i < cors->n_origins; i++) {
        free(cors->origins[i].text);
        pcre2_code_free(cors->origins[i].re);
    }
    free(cors->origins);
    pcre2_match_data_free(cors->md);
    free(cors->single);
    free(cors->allow_headers);
    free(cors->expose_headers);
    free(cors->allow_methods);
    free(cors);
}


static const kong_header_t *
cors_header(const kong_cors_request_t *req, const char *name)
{
    size_t  i;

    for (i = 0; i < req->nheaders; i++) {
        if (req->headers[i].name_len == strlen(name)
            && strncasecmp(req->headers[i].name, name,
                           req->headers[i].name_len) == 0)
        {
            return &req->headers[i];
        }
    }

    return NULL;
}


static void
cors_add(kong_cors_result_t *res, const char *name, const char *value,
    size_t len, int op)
{
    size_t  i;

    /* a later set of the same header replaces the earlier action */
    for (i = 0; i < res->n; i++) {
        if (strcmp(res->headers[i].name, name) == 0 && op != KONG_CORS_VARY
            && res->headers[i].op != KONG_CORS_VARY)
        {
            break;
        }
    }

    if (i == res->n) {
        if (res->n == sizeof(res->headers) / sizeof(res->headers[0])) {
            return;
        }
        res->n++;
    }

    res->headers[i].name = name;
    res->headers[i].value = value;
    res->headers[i].value_len = len;
    res->headers[i].op = op;
}


/* Kong's configure_origin; returns 1 when ACAO is "*". */
static int
cors_origin(kong_cors_t *cors, const kong_cors_request_t *req,
    kong_cors_result_t *res)
{
    int                   rc;
    size_t                i, dlen, hlen;
    const char           *host, *subject;
    cors_origin_t        *o;
    const kong_header_t  *origin;

    if (cors->allow_all) {
        cors_add(res, "Access-Control-Allow-Origin", "*", 1, KONG_CORS_SET);
        return 1;
    }

    cors_add(res, "Vary", NULL, 0, KONG_CORS_VARY);

    if (cors->single != NULL) {
        cors_add(res, "Access-Control-Allow-Origin", cors->single,
                 strlen(cors->single), KONG_CORS_SET);
        return 0;
    }

    origin = cors_header(req, "origin");
    if (origin != NULL && origin->value_len > 0
        && origin->value_len <= KONG_CORS_MAX_ORIGIN)
    {
        dlen = kong_cors_normalize(origin->value, origin->value_len,
                                   res->buf, &host, &hlen);

        for (i = 0; i < cors->n_origins; i++) {
            o = &cors->origins[i];

            if (o->regex && o->re == NULL) {
                continue;
            }

            if (o->re == NULL) {
                if (o->text == NULL || o->len != dlen
                    || memcmp(o->text, res->buf, dlen) != 0)
                {
                    continue;
                }

            } else {
                subject = o->by_host ? host : res->buf;
                rc = pcre2_match(o->re, (PCRE2_SPTR) subject,
                                 o->by_host ? hlen : dlen, 0, PCRE2_ANCHORED,
                                 cors->md, NULL);
                if (rc < 0) {
                    continue;
                }
            }

            cors_add(res, "Access-Control-Allow-Origin", res->buf, dlen,
                     KONG_CORS_SET);
            return 0;
        }
    }

    cors_add(res, "Access-Control-Allow-Origin", NULL, 0, KONG_CORS_CLEAR);
    return 0;
}


/* Kong's configure_credentials */
static void
cors_credentials(kong_cors_t *cors, const kong_cors_request_t *req,
    kong_cors_result_t *res, int all)
{
    const kong_header_t  *origin;

    if (!cors->credentials) {
        return;
    }

    if (!all) {
        cors_add(res, "Access-Control-Allow-Credentials", "true", 4,
                 KONG_CORS_SET);
        return;
    }

    /* ACAO "*" cannot go with credentials: echo the request's origin */
    origin = cors_header(req, "origin");
    if (origin != NULL) {
        cors_add(res, "Vary", NULL, 0, KONG_CORS_VARY);
        cors_add(res, "Access-Control-Allow-Origin", origin->value,
                 origin->value_len, KONG_CORS_SET);
        cors_add(res, "Access-Control-Allow-Credentials", "true", 4,
                 KONG_CORS_SET);
    }
}


int
kong_cors_access(kong_cors_t *cors, const kong_cors_request_t *req,
    kong_cors_result_t *res)
{
    int                   all;
    const kong_header_t  *h;

    res->n = 0;

    if (req->method_len != 7 || memcmp(req->method, "OPTIONS", 7) != 0
        || cors_header(req, "origin") == NULL
        || cors_header(req, "access-control-request-method") == NULL)
    {
        return KONG_CORS_PASS;
    }

    if (cors->preflight_continue) {
        return KONG_CORS_CONTINUE;
    }

    all = cors_origin(cors, req, res);
    cors_credentials(cors, req, res, all);

    if (cors->allow_headers != NULL) {
        cors_add(res, "Access-Control-Allow-Headers", cors->allow_headers,
                 strlen(cors->allow_headers), KONG_CORS_SET);

    } else {
        h = cors_header(req, "access-control-request-headers");
        if (h != NULL) {
            cors_add(res, "Access-Control-Allow-Headers", h->value,
                     h->value_len, KONG_CORS_SET);
        } else {
            cors_add(res, "Access-Control-Allow-Headers", NULL, 0,
                     KONG_CORS_CLEAR);
        }
    }

    cors_add(res, "Access-Control-Allow-Methods", cors->allow_methods,
             strlen(cors->allow_methods), KONG_CORS_SET);

    if (cors->max_age[0] != '\0') {
        cors_add(res, "Access-Control-Max-Age", cors->max_age,
                 strlen(cors->max_age), KONG_CORS_SET);
    }

    h = cors_header(req, "access-control-request-private-network");
    if (cors->private_network && h != NULL && h->value_len == 4
        && memcmp(h->value, "true", 4) == 0)
    {
        cors_add(res, "Access-Control-Allow-Private-Network", "true", 4,
                 KONG_CORS_SET);
    }

    return KONG_CORS_ANSWER;
}


void
kong_cors_header_filter(kong_cors_t *cors, const kong_cors_request_t *req,
    kong_cors_result_t *res)
{
    int  all;

    res->n = 0;

    if (!cors->allow_origin_absent && cors_header(req, "origin") == NULL) {
        return;
    }

    all = cors_origin(cors, req, res);
    cors_credentials(cors, req, res, all);

    if (cors->expose_headers != NULL) {
        cors_add(res, "Access-Control-Expose-Headers", cors->expose_headers,
                 strlen(cors->expose_headers), KONG_CORS_SET);
    }
}


size_t
kong_cors_vary(const char *old, size_t old_len, char *out, size_t size)
{
    size_t  i, s, e;

    if (old == NULL || old_len == 0) {
        if (size < 7) {
            return 0;
        }
        memcpy(out, "Origin", 7);
        return 6;
    }

    /* is "*" or "origin" one of the comma-separated tokens? */
    for (i = 0; i <= old_len; i = e + 1) {
        for (e = i; e < old_len && old[e] != ','; e++) { /* void */ }
        for (s = i; s < e && (old[s] == ' ' || old[s] == '\t'); s++) { }
        while (e > s && (old[e - 1] == ' ' || old[e - 1] == '\t')) {
            e--;
        }
        if ((e - s == 1 && old[s] == '*')
            || (e - s == 6 && strncasecmp(old + s, "origin", 6) == 0))
        {
            if (old_len + 1 > size) {
                return 0;
            }
            memcpy(out, old, old_len);
            out[old_len] = '\0';
            return old_len;
        }
        for (e = s; e < old_len && old[e] != ','; e++) { /* void */ }
    }

    if (old_len + 9 > size) {
        return 0;
    }
    memcpy(out, old, old_len);
    memcpy(out + old_len, ", Origin", 9);
    return old_len + 8;
}
