/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * request-termination's echo body (kong_echo.h): a jansson tree in Kong's
 * shape, written out as lua-cjson writes it.
 */

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "kong_echo.h"
#include "kong_int.h"
#include "kong_json.h"
#include "kong_multipart.h"
#include "kong_xform_int.h"


typedef struct {
    char                   *p;
    size_t                  len;
    size_t                  cap;
    int                     failed;
} ke_buf_t;


static int ke_put(json_t *obj, const char *key, json_t *v);
static int ke_add(json_t *obj, const char *key, size_t klen, json_t *v);
static json_t *ke_str(const char *s, size_t len);
static json_t *ke_headers(const kong_echo_request_t *req);
static size_t ke_args_cap(const char *s, size_t len, size_t max);
static json_t *ke_args(const char *s, size_t len);
static const kong_header_t *ke_header(const kong_echo_request_t *req,
    const char *name);
static json_t *ke_body(const kong_echo_request_t *req);
static json_t *ke_multipart(const char *ct, size_t ctlen, const char *body,
    size_t len);
static size_t ke_depth(json_t *v);
static json_t *ke_captures(const kong_echo_request_t *req);
static json_t *ke_strings(const char *const *s, size_t n);
static json_t *ke_id(const char *id, const char *prefix, const char *key);
static json_t *ke_service_id(const kong_service_t *s);
static int ke_head(json_t *o, const kong_echo_request_t *req, json_t *id,
    int64_t created, int64_t updated, const char *name);
static json_t *ke_route(const kong_echo_request_t *req,
    const kong_route_t *r);
static json_t *ke_service(const kong_echo_request_t *req,
    const kong_service_t *s);
static void ke_write(ke_buf_t *b, const char *s, size_t len);
static void ke_dump(ke_buf_t *b, json_t *v);


/* RFC 4122's DNS namespace, 6ba7b810-9dad-11d1-80b4-00c04fd430c8 */
static const unsigned char  ke_ns_dns[16] = {
    0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8
};


int
kong_echo_node_id(const char *hostname, char out[37])
{
    return kong_uuid_sha1(NULL, ke_ns_dns, sizeof(ke_ns_dns), hostname,
                          strlen(hostname), out);
}


const char *
kong_echo_default_message(unsigned status)
{
    switch (status) {
    case 401: return "Unauthorized";
    case 404: return "Not found";
    case 405: return "Method not allowed";
    case 500: return "An unexpected error occurred";
    case 502: return "Bad Gateway";
    case 503: return "Service unavailable";
    }

    return NULL;
}


char *
kong_echo_body(const kong_echo_request_t *req, size_t *len)
{
    int        bad;
    json_t    *top, *kong, *r, *v;
    ke_buf_t   b;

    top = json_object();
    kong = json_object();
    r = json_object();

    if (top == NULL || kong == NULL || r == NULL) {
        json_decref(top);
        json_decref(kong);
        json_decref(r);
        return NULL;
    }

    bad = 0;

    if (req->message != NULL) {
        bad |= ke_put(top, "message",
                      ke_str(req->message, strlen(req->message)));
    }

    bad |= ke_put(kong, "node_id", ke_str(req->node_id,
                                          strlen(req->node_id)));
    bad |= ke_put(kong, "worker_pid", json_integer(req->worker_pid));
    bad |= ke_put(kong, "hostname", ke_str(req->hostname,
                                           strlen(req->hostname)));
    bad |= ke_put(top, "kong", kong);

    bad |= ke_put(r, "scheme", ke_str(req->scheme, strlen(req->scheme)));
    bad |= ke_put(r, "host", ke_str(req->host, req->host_len));
    bad |= ke_put(r, "port", json_integer(req->port));
    bad |= ke_put(r, "headers", ke_headers(req));
    bad |= ke_put(r, "query", ke_args(req->args, req->args_len));

    if (!req->body_unread) {
        v = ke_body(req);
        if (v != NULL) {
            bad |= ke_put(r, "body", v);
        }

        bad |= ke_put(r, "raw_body", ke_str(req->body ? req->body : "",
                                            req->body_len));
    }

    bad |= ke_put(r, "method", ke_str(req->method, req->method_len));
    bad |= ke_put(r, "path", ke_str(req->path, req->path_len));
    bad |= ke_put(r, "uri_captures", ke_captures(req));
    bad |= ke_put(top, "request", r);

    if (req->route != NULL) {
        bad |= ke_put(top, "matched_route", ke_route(req, req->route));
    }

    if (req->service != NULL) {
        bad |= ke_put(top, "matched_service", ke_service(req, req->service));
    }

    memset(&b, 0, sizeof(b));

    if (!bad) {
        ke_dump(&b, top);
    }

    json_decref(top);

    if (bad || b.failed) {
        free(b.p);
        return NULL;
    }

    *len = b.len;
    return b.p;
}


/* ---- building -------------------------------------------------------- */

/* Sets key to v (taking it); 1 when v is NULL (a failed allocation). */
static int
ke_put(json_t *obj, const char *key, json_t *v)
{
    if (v == NULL) {
        return 1;
    }

    return json_object_set_new_nocheck(obj, key, v) != 0;
}


/*
 * Adds v (taken) under key as Kong's tables collect repeated names: the
 * first value alone, then an array of them all, in order.
 */
static int
ke_add(json_t *obj, const char *key, size_t klen, json_t *v)
{
    json_t  *old, *a;

    if (v == NULL) {
        return 1;
    }

    old = json_object_getn(obj, key, klen);

    if (old == NULL) {
        return json_object_setn_new_nocheck(obj, key, klen, v) != 0;
    }

    if (json_is_array(old)) {
        return json_array_append_new(old, v) != 0;
    }

    a = json_array();
    if (a == NULL
        || json_array_append(a, old) != 0
        || json_array_append_new(a, v) != 0)
    {
        json_decref(a);
        return 1;
    }

    return json_object_setn_new_nocheck(obj, key, klen, a) != 0;
}


/* a string of any bytes: lua-cjson writes them as they are */
static json_t *
ke_str(const char *s, size_t len)
{
    return json_stringn_nocheck(s ? s : "", s ? len : 0);
}


static json_t *
ke_headers(const kong_echo_request_t *req)
{
    char                 *name;
    size_t                i, k, n;
    json_t               *h;
    const kong_header_t  *kh;

    h = json_object();
    if (h == NULL) {
        return NULL;
    }

    n = req->nheaders < KONG_ECHO_MAX_HEADERS ? req->nheaders
                                              : KONG_ECHO_MAX_HEADERS;

    for (i = 0; i < n; i++) {
        kh = &req->headers[i];

        name = malloc(kh->name_len + 1);
        if (name == NULL) {
            json_decref(h);
            return NULL;
        }

        for (k = 0; k < kh->name_len; k++) {
            name[k] = (char) tolower((unsigned char) kh->name[k]);
        }

        if (ke_add(h, name, kh->name_len, ke_str(kh->value, kh->value_len))
            != 0)
        {
            free(name);
            json_decref(h);
            return NULL;
        }

        free(name);
    }

    return h;
}


/* How much of s holds its first max arguments (named ones; the parser
 * skips the others). */
static size_t
ke_args_cap(const char *s, size_t len, size_t max)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (i == 0 || s[i - 1] == '&') {
            if (s[i] != '&' && s[i] != '=' && ++n > max) {
                return i - 1;
            }
        }
    }

    return len;
}


/* get_query() / get_post_args(): kong_xform's x-www-form-urlencoded
 * parser, the same decoding as request-transformer's */
static json_t *
ke_args(const char *s, size_t len)
{
    size_t             i, k;
    json_t            *o, *v;
    xf_table_t         t;
    xf_entry_t        *e;
    kong_xform_out_t   holder;

    o = json_object();
    if (o == NULL) {
        return NULL;
    }

    if (len == 0) {
        return o;
    }

    memset(&t, 0, sizeof(t));
    memset(&holder, 0, sizeof(holder));

    t.a = xf_arena_new(0);
    holder.arena = t.a;

    if (t.a == NULL
        || xf_args_parse(&t, s, ke_args_cap(s, len, KONG_ECHO_MAX_ARGS))
           != 0)
    {
        goto failed;
    }

    for (i = 0; i < t.n; i++) {
        e = &t.e[i];

        if (e->n == 1) {
            v = (e->vals[0].kind == XF_BARE)
                ? json_true()
                : ke_str(e->vals[0].s, e->vals[0].len);

        } else {
            v = json_array();

            for (k = 0; v != NULL && k < e->n; k++) {
                if (json_array_append_new(v, (e->vals[k].kind == XF_BARE)
                                             ? json_true()
                                             : ke_str(e->vals[k].s,
                                                      e->vals[k].len))
                    != 0)
                {
                    json_decref(v);
                    v = NULL;
                }
            }
        }

        if (v == NULL
            || json_object_setn_new_nocheck(o, e->key, e->key_len, v) != 0)
        {
            goto failed;
        }
    }

    kong_xform_out_free(&holder);

    return o;

failed:

    kong_xform_out_free(&holder);
    json_decref(o);

    return NULL;
}


/* the first header of that name (lower case), or NULL */
static const kong_header_t *
ke_header(const kong_echo_request_t *req, const char *name)
{
    size_t  i, len;

    len = strlen(name);

    for (i = 0; i < req->nheaders; i++) {
        if (req->headers[i].name_len == len
            && strncasecmp(req->headers[i].name, name, len) == 0)
        {
            return &req->headers[i];
        }
    }

    return NULL;
}


/* 1 if the media type (lower case, up to ";") starts with type */
static int
ke_type_is(const char *ct, size_t ctlen, const char *type)
{
    size_t  len;

    len = strlen(type);

    return ctlen >= len && strncasecmp(ct, type, len) == 0;
}


/*
 * kong.request.get_body(): by the Content-Type's media type, a form, a
 * JSON object or array, or a multipart body's fields; NULL (absent) for
 * anything else, or on failure.
 */
static json_t *
ke_body(const kong_echo_request_t *req)
{
    size_t                semi;
    json_t               *v;
    const char           *ct, *body;
    const kong_header_t  *h;

    h = ke_header(req, "content-type");
    if (h == NULL) {
        return NULL;                    /* "missing content type" */
    }

    ct = h->value;

    for (semi = 0; semi < h->value_len && ct[semi] != ';'; semi++) {
        /* void */
    }

    body = req->body ? req->body : "";

    if (ke_type_is(ct, semi, "application/x-www-form-urlencoded")) {
        return ke_args(body, req->body_len);
    }

    if (ke_type_is(ct, semi, "application/json")) {
        v = json_loadb(body, req->body_len,
                       JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, NULL);

        if (v == NULL) {
            return NULL;                /* "invalid json body" */
        }

        /* json_loadb takes objects and arrays only, as Kong's check for a
         * table does; lua-cjson nests 1000 deep at most */

        if (ke_depth(v) > KONG_ECHO_MAX_DEPTH) {
            json_decref(v);
            return NULL;
        }

        return v;
    }

    if (ke_type_is(ct, semi, "multipart/form-data")) {
        return ke_multipart(ct, h->value_len, body, req->body_len);
    }

    return NULL;                        /* "unsupported content type" */
}


/* lua-multipart's get_all_with_arrays(): name -> value, repeated names an
 * array */
static json_t *
ke_multipart(const char *ct, size_t ctlen, const char *body, size_t len)
{
    size_t        i, nlen, vlen, blen;
    json_t       *o;
    kong_mp_t    *mp;
    const char   *b, *name, *value;

    if (!kong_mp_boundary(ct, ctlen, &b, &blen)) {
        b = NULL;
        blen = 0;
    }

    mp = kong_mp_parse(body, len, b, blen);
    if (mp == NULL) {
        return NULL;
    }

    o = json_object();

    for (i = 0; o != NULL && i < kong_mp_nparts(mp); i++) {
        if (!kong_mp_part(mp, i, &name, &nlen, &value, &vlen)) {
            continue;
        }

        if (ke_add(o, name, nlen, ke_str(value, vlen)) != 0) {
            json_decref(o);
            o = NULL;
        }
    }

    kong_mp_free(mp);

    return o;
}


/* nesting depth of a JSON value: 1 for an empty object */
static size_t
ke_depth(json_t *v)
{
    size_t       i, d, max;
    json_t      *x;
    const char  *key;

    max = 0;

    if (json_is_object(v)) {
        json_object_foreach(v, key, x) {
            d = ke_depth(x);
            max = d > max ? d : max;
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            d = ke_depth(x);
            max = d > max ? d : max;
        }

    } else {
        return 0;
    }

    return max + 1;
}


/*
 * get_uri_captures(): unnamed, the numbered groups from 1 (lua-cjson
 * writes a Lua array from index 1, so the whole match, 0, is not there;
 * a group that took no part is null), and named.
 */
static json_t *
ke_captures(const kong_echo_request_t *req)
{
    int                          top;
    size_t                       i;
    json_t                      *o, *named, *unnamed;
    const kong_xform_capture_t  *c;

    o = json_object();
    named = json_object();
    unnamed = json_array();

    if (o == NULL || named == NULL || unnamed == NULL) {
        goto failed;
    }

    top = 0;

    for (i = 0; i < req->ncaptures; i++) {
        if (req->captures[i].index > top) {
            top = req->captures[i].index;
        }
    }

    for (i = 0; i < (size_t) top; i++) {
        if (json_array_append_new(unnamed, json_null()) != 0) {
            goto failed;
        }
    }

    for (i = 0; i < req->ncaptures; i++) {
        c = &req->captures[i];

        if (c->index > 0) {
            if (json_array_set_new(unnamed, c->index - 1,
                                   ke_str(c->value, c->value_len))
                != 0)
            {
                goto failed;
            }

        } else if (c->index < 0 && c->name != NULL) {
            if (json_object_set_new_nocheck(named, c->name,
                                            ke_str(c->value, c->value_len))
                != 0)
            {
                goto failed;
            }
        }
    }

    /* ke_put takes the value, failing or not */

    if (ke_put(o, "named", named) | ke_put(o, "unnamed", unnamed)) {
        json_decref(o);
        return NULL;
    }

    return o;

failed:

    json_decref(o);
    json_decref(named);
    json_decref(unnamed);

    return NULL;
}


/* ---- entities -------------------------------------------------------- */

static json_t *
ke_strings(const char *const *s, size_t n)
{
    size_t   i;
    json_t  *a;

    a = json_array();

    for (i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, ke_str(s[i], strlen(s[i]))) != 0) {
            json_decref(a);
            a = NULL;
        }
    }

    return a;
}


/* the entity's id, else one derived from prefix and key (kong_int.h) */
static json_t *
ke_id(const char *id, const char *prefix, const char *key)
{
    char  buf[37];

    if (id != NULL) {
        return ke_str(id, strlen(id));
    }

    if (kong_uuid_sha1(NULL, prefix, strlen(prefix), key, strlen(key), buf)
        != 0)
    {
        return NULL;
    }

    return ke_str(buf, 36);
}


/*
 * An entity's first members: id (taken), created_at and updated_at (the
 * load's time when the file gives none; updated_at defaults to created_at)
 * and the name when it has one.  1 on failure.
 */
static int
ke_head(json_t *o, const kong_echo_request_t *req, json_t *id,
    int64_t created, int64_t updated, const char *name)
{
    int  bad;

    created = created ? created : req->loaded;
    updated = updated ? updated : created;

    bad = ke_put(o, "id", id);
    bad |= ke_put(o, "created_at", json_integer(created));
    bad |= ke_put(o, "updated_at", json_integer(updated));

    if (name != NULL) {
        bad |= ke_put(o, "name", ke_str(name, strlen(name)));
    }

    return bad;
}


/* a service's id; one without id or name is known by its position */
static json_t *
ke_service_id(const kong_service_t *s)
{
    char  key[48];

    if (s->id != NULL || s->name != NULL) {
        return ke_id(s->id, "services:", s->name);
    }

    snprintf(key, sizeof(key), "services[%zu]", s->index);

    return ke_id(NULL, "services:", key);
}


static json_t *
ke_route(const kong_echo_request_t *req, const kong_route_t *r)
{
    int                        bad;
    char                      *s;
    size_t                     i, k, len;
    json_t                    *o, *a, *h, *sv;
    const kong_path_t         *p;
    const kong_header_value_t *hv;

    o = json_object();
    if (o == NULL) {
        return NULL;
    }

    bad = ke_head(o, req, ke_id(r->id, "routes:",
                                r->name ? r->name : r->path_in_file),
                  r->created_at, r->updated_at, r->name);

    a = json_array();
    for (i = 0; a != NULL && i < 8; i++) {
        if ((r->protocols & (1u << i))
            && json_array_append_new(a,
                   json_string(kong_protocol_name(1 << i))) != 0)
        {
            json_decref(a);
            a = NULL;
        }
    }
    bad |= ke_put(o, "protocols", a);

    if (r->nmethods) {
        bad |= ke_put(o, "methods", ke_strings(r->methods, r->nmethods));
    }

    if (r->nhosts) {
        a = json_array();
        for (i = 0; a != NULL && i < r->nhosts; i++) {
            if (json_array_append_new(a, ke_str(r->hosts[i].written,
                                        strlen(r->hosts[i].written))) != 0)
            {
                json_decref(a);
                a = NULL;
            }
        }
        bad |= ke_put(o, "hosts", a);
    }

    if (r->npaths) {
        a = json_array();
        for (i = 0; a != NULL && i < r->npaths; i++) {
            p = &r->paths[i];
            len = p->len + (p->regex ? 1 : 0);
            s = malloc(len + 1);
            if (s == NULL) {
                json_decref(a);
                a = NULL;
                break;
            }
            snprintf(s, len + 1, "%s%.*s", p->regex ? "~" : "",
                     (int) p->len, p->path);
            if (json_array_append_new(a, ke_str(s, len)) != 0) {
                json_decref(a);
                a = NULL;
            }
            free(s);
        }
        bad |= ke_put(o, "paths", a);
    }

    if (r->nheaders) {
        h = json_object();
        for (i = 0; h != NULL && i < r->nheaders; i++) {
            a = json_array();
            for (k = 0; a != NULL && k < r->headers[i].nvalues; k++) {
                hv = &r->headers[i].values[k];
                s = malloc(hv->len + 3);
                if (s == NULL) {
                    json_decref(a);
                    a = NULL;
                    break;
                }
                len = (size_t) snprintf(s, hv->len + 3, "%s%.*s",
                                        hv->re ? "~*" : "", (int) hv->len,
                                        hv->value);
                if (json_array_append_new(a, ke_str(s, len)) != 0) {
                    json_decref(a);
                    a = NULL;
                }
                free(s);
            }
            if (a == NULL
                || json_object_setn_new_nocheck(h, r->headers[i].name,
                                                r->headers[i].len, a) != 0)
            {
                json_decref(h);
                h = NULL;
            }
        }
        bad |= ke_put(o, "headers", h);
    }

    bad |= ke_put(o, "https_redirect_status_code",
                  json_integer(r->https_redirect_status_code));
    bad |= ke_put(o, "regex_priority", json_integer(r->regex_priority));
    bad |= ke_put(o, "strip_path", json_boolean(r->strip_path));
    bad |= ke_put(o, "path_handling",
                  json_string(r->path_handling ? "v1" : "v0"));
    bad |= ke_put(o, "preserve_host", json_boolean(r->preserve_host));
    bad |= ke_put(o, "request_buffering",
                  json_boolean(r->request_buffering));
    bad |= ke_put(o, "response_buffering",
                  json_boolean(r->response_buffering));

    if (r->nsnis) {
        bad |= ke_put(o, "snis", ke_strings(r->snis, r->nsnis));
    }

    if (r->ntags) {
        bad |= ke_put(o, "tags", ke_strings(r->tags, r->ntags));
    }

    if (r->service != NULL) {
        sv = json_object();
        if (sv != NULL
            && ke_put(sv, "id", ke_service_id(r->service)) != 0)
        {
            json_decref(sv);
            sv = NULL;
        }
        bad |= ke_put(o, "service", sv);
    }

    bad |= ke_put(o, "ws_id", ke_id(NULL, "workspaces:", "default"));

    if (bad) {
        json_decref(o);
        return NULL;
    }

    return o;
}


static json_t *
ke_service(const kong_echo_request_t *req, const kong_service_t *s)
{
    int      bad;
    json_t  *o;

    o = json_object();
    if (o == NULL) {
        return NULL;
    }

    bad = ke_head(o, req, ke_service_id(s), s->created_at, s->updated_at,
                  s->name);

    bad |= ke_put(o, "retries", json_integer(s->retries));
    bad |= ke_put(o, "protocol",
                  json_string(kong_protocol_name(s->protocol)));

    if (s->host != NULL) {
        bad |= ke_put(o, "host", ke_str(s->host, strlen(s->host)));
    }

    bad |= ke_put(o, "port", json_integer(s->port));

    if (s->path != NULL) {
        bad |= ke_put(o, "path", ke_str(s->path, strlen(s->path)));
    }

    bad |= ke_put(o, "connect_timeout", json_integer(s->connect_timeout));
    bad |= ke_put(o, "write_timeout", json_integer(s->write_timeout));
    bad |= ke_put(o, "read_timeout", json_integer(s->read_timeout));

    if (s->ntags) {
        bad |= ke_put(o, "tags", ke_strings(s->tags, s->ntags));
    }

    if (s->tls_verify >= 0) {
        bad |= ke_put(o, "tls_verify", json_boolean(s->tls_verify));
    }

    if (s->tls_verify_depth >= 0) {
        bad |= ke_put(o, "tls_verify_depth",
                      json_integer(s->tls_verify_depth));
    }

    bad |= ke_put(o, "enabled", json_boolean(s->enabled));
    bad |= ke_put(o, "ws_id", ke_id(NULL, "workspaces:", "default"));

    if (bad) {
        json_decref(o);
        return NULL;
    }

    return o;
}


/* ---- writing, as lua-cjson does ---------------------------------------- */

static void
ke_write(ke_buf_t *b, const char *s, size_t len)
{
    char    *p;
    size_t   cap;

    if (b->failed) {
        return;
    }

    if (b->len + len + 1 > b->cap) {
        cap = b->cap ? b->cap : 1024;

        while (cap < b->len + len + 1) {
            cap *= 2;
        }

        p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }

        b->p = p;
        b->cap = cap;
    }

    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}


static void
ke_string(ke_buf_t *b, const char *s, size_t len)
{
    char    *out;
    size_t   n;

    out = malloc(len * 6 + 1);
    if (out == NULL) {
        b->failed = 1;
        return;
    }

    n = kong_json_escape(s, len, out, len * 6 + 1);

    ke_write(b, "\"", 1);
    ke_write(b, out, n);
    ke_write(b, "\"", 1);

    free(out);
}


static void
ke_dump(ke_buf_t *b, json_t *v)
{
    int          n;
    char         num[40];
    size_t       i, klen;
    json_t      *x;
    const char  *key;

    switch (json_typeof(v)) {

    case JSON_OBJECT:
        ke_write(b, "{", 1);
        i = 0;
        json_object_keylen_foreach(v, key, klen, x) {
            if (i++) {
                ke_write(b, ",", 1);
            }
            ke_string(b, key, klen);
            ke_write(b, ":", 1);
            ke_dump(b, x);
        }
        ke_write(b, "}", 1);
        break;

    case JSON_ARRAY:
        ke_write(b, "[", 1);
        json_array_foreach(v, i, x) {
            if (i) {
                ke_write(b, ",", 1);
            }
            ke_dump(b, x);
        }
        ke_write(b, "]", 1);
        break;

    case JSON_STRING:
        ke_string(b, json_string_value(v), json_string_length(v));
        break;

    case JSON_INTEGER:
        n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        ke_write(b, num, (size_t) n);
        break;

    case JSON_REAL:
        /* Kong sets lua-cjson's precision to 16 digits */
        n = snprintf(num, sizeof(num), "%.16g", json_real_value(v));
        ke_write(b, num, (size_t) n);
        break;

    case JSON_TRUE:
        ke_write(b, "true", 4);
        break;

    case JSON_FALSE:
        ke_write(b, "false", 5);
        break;

    default:
        ke_write(b, "null", 4);
        break;
    }
}
