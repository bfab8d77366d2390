/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * request-transformer and response-transformer: configuration, templates,
 * headers and query string (kong_xform.h).  Bodies: kong_xform_body.c.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kong_xform_int.h"


typedef struct xf_chunk_s  xf_chunk_t;

struct xf_chunk_s {
    xf_chunk_t             *next;
    size_t                  size;
    size_t                  used;
};

struct kong_xform_arena_s {
    xf_chunk_t             *head;
    size_t                  total;
    size_t                  limit;
};


/* ---- arena ----------------------------------------------------------- */

kong_xform_arena_t *
xf_arena_new(size_t limit)
{
    kong_xform_arena_t  *a;

    a = calloc(1, sizeof(*a));
    if (a != NULL) {
        a->limit = limit ? limit : KONG_XFORM_MAX_MEM;
    }
    return a;
}


void *
xf_alloc(kong_xform_arena_t *a, size_t size)
{
    size_t       want;
    xf_chunk_t  *c;
    char        *p;

    size = (size + 15) & ~(size_t) 15;
    c = a->head;

    if (c == NULL || c->size - c->used < size) {
        want = size > 8192 ? size : 8192;
        if (a->total + want > a->limit) {
            return NULL;
        }
        c = malloc(sizeof(xf_chunk_t) + 16 + want);
        if (c == NULL) {
            return NULL;
        }
        c->next = a->head;
        c->size = want;
        c->used = 0;
        a->head = c;
        a->total += want;
    }

    p = (char *) c + ((sizeof(xf_chunk_t) + 15) & ~(size_t) 15) + c->used;
    c->used += size;
    return p;
}


char *
xf_dup(kong_xform_arena_t *a, const char *s, size_t len)
{
    char  *p;

    p = xf_alloc(a, len + 1);
    if (p != NULL) {
        if (len) {
            memcpy(p, s, len);
        }
        p[len] = '\0';
    }
    return p;
}


kong_xform_arena_t *
xf_out_init(const kong_xform_t *x, kong_xform_out_t *out)
{
    memset(out, 0, sizeof(*out));
    out->arena = xf_arena_new(x->max_mem);
    if (out->arena == NULL) {
        out->error = "out of memory";
    }
    return out->arena;
}


void
kong_xform_out_free(kong_xform_out_t *out)
{
    xf_chunk_t  *c, *next;

    if (out->arena == NULL) {
        return;
    }

    for (c = out->arena->head; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(out->arena);
    out->arena = NULL;
}


/* ---- tables ---------------------------------------------------------- */

static int
xf_key_eq(const char *a, size_t alen, const char *b, size_t blen,
    int headers, int dash)
{
    size_t  i;
    int     x, y;

    if (alen != blen) {
        return 0;
    }

    if (!headers) {
        return memcmp(a, b, alen) == 0;
    }

    for (i = 0; i < alen; i++) {
        x = tolower((unsigned char) a[i]);
        y = tolower((unsigned char) b[i]);
        if (dash && y == '_') {
            y = '-';
        }
        if (x != y) {
            return 0;
        }
    }
    return 1;
}


/*
 * The live entry named key.  Header names compare without case and, as
 * OpenResty's header table does, a name not found is looked up again with
 * "_" read as "-".
 */
xf_entry_t *
xf_find(xf_table_t *t, const char *key, size_t len)
{
    size_t  i;
    int     pass;

    for (pass = 0; pass < (t->headers ? 2 : 1); pass++) {
        for (i = t->n; i-- > 0; ) {
            if (!t->e[i].dead
                && xf_key_eq(t->e[i].key, t->e[i].key_len, key, len,
                             t->headers, pass))
            {
                return &t->e[i];
            }
        }
    }

    return NULL;
}


xf_entry_t *
xf_add(xf_table_t *t, const char *key, size_t len)
{
    size_t       cap;
    xf_entry_t  *e;

    if (t->n == t->cap) {
        cap = t->cap ? t->cap * 2 : 16;
        e = xf_alloc(t->a, cap * sizeof(xf_entry_t));
        if (e == NULL) {
            return NULL;
        }
        if (t->n) {
            memcpy(e, t->e, t->n * sizeof(xf_entry_t));
        }
        t->e = e;
        t->cap = cap;
    }

    e = &t->e[t->n++];
    memset(e, 0, sizeof(*e));
    e->key = key;
    e->key_len = len;
    return e;
}


int
xf_push(xf_table_t *t, xf_entry_t *e, const char *s, size_t len, int kind)
{
    size_t     cap;
    xf_val_t  *v;

    if (e->n == e->cap) {
        cap = e->cap ? e->cap * 2 : 2;
        v = xf_alloc(t->a, cap * sizeof(xf_val_t));
        if (v == NULL) {
            return -1;
        }
        if (e->n) {
            memcpy(v, e->vals, e->n * sizeof(xf_val_t));
        }
        e->vals = v;
        e->cap = cap;
    }

    e->vals[e->n].s = s;
    e->vals[e->n].len = len;
    e->vals[e->n].kind = kind;
    e->n++;
    return 0;
}


int
xf_set(xf_table_t *t, xf_entry_t *e, const char *s, size_t len, int kind)
{
    e->n = 0;
    e->array = 0;
    return xf_push(t, e, s, len, kind);
}


/* Kong's append_value: a string becomes {old, v}, a list grows, anything
 * else (absent, a bare argument) becomes {v}. */
int
xf_append(xf_table_t *t, xf_entry_t *e, const char *s, size_t len)
{
    if (e->n == 1 && e->vals[0].kind == XF_BARE) {
        e->n = 0;
    }
    e->array = 1;
    return xf_push(t, e, s, len, XF_STR);
}


/* ---- query strings --------------------------------------------------- */

static int
xf_hex(int c)
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


size_t
kong_xform_unescape(const char *s, size_t len, char *out, int plus)
{
    size_t  i, n;
    int     h, l;

    n = 0;
    for (i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len
            && (h = xf_hex((unsigned char) s[i + 1])) >= 0
            && (l = xf_hex((unsigned char) s[i + 2])) >= 0)
        {
            out[n++] = (char) (h * 16 + l);
            i += 2;

        } else if (plus && s[i] == '+') {
            out[n++] = ' ';

        } else {
            out[n++] = s[i];
        }
    }
    return n;
}


size_t
kong_xform_escape(const char *s, size_t len, char *out)
{
    static const char  hex[] = "0123456789ABCDEF";
    size_t             i, n;
    int                c;

    n = 0;
    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out[n++] = (char) c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    return n;
}


int
xf_args_parse(xf_table_t *t, const char *s, size_t len)
{
    size_t       i, j, eq;
    char        *k, *v;
    size_t       kl, vl;
    xf_entry_t  *e;

    for (i = 0; i < len; i = j + 1) {
        for (j = i; j < len && s[j] != '&'; j++) { /* void */ }
        for (eq = i; eq < j && s[eq] != '='; eq++) { /* void */ }

        if (eq == i) {
            continue;                   /* "", "=v": no name */
        }

        k = xf_alloc(t->a, eq - i + 1);
        if (k == NULL) {
            return -1;
        }
        kl = kong_xform_unescape(s + i, eq - i, k, 1);

        e = xf_find(t, k, kl);
        if (e == NULL && (e = xf_add(t, k, kl)) == NULL) {
            return -1;
        }

        if (eq == j) {
            if (xf_push(t, e, NULL, 0, XF_BARE) != 0) {
                return -1;
            }
            continue;
        }

        v = xf_alloc(t->a, j - eq);
        if (v == NULL) {
            return -1;
        }
        vl = kong_xform_unescape(s + eq + 1, j - eq - 1, v, 1);
        if (xf_push(t, e, v, vl, XF_STR) != 0) {
            return -1;
        }
    }

    return 0;
}


char *
xf_args_encode(xf_table_t *t, size_t *len)
{
    size_t       i, k, size, n;
    char        *out;
    xf_entry_t  *e;

    size = 1;
    for (i = 0; i < t->n; i++) {
        e = &t->e[i];
        for (k = 0; !e->dead && k < e->n; k++) {
            size += 3 * (e->key_len + e->vals[k].len) + 2;
        }
    }

    out = xf_alloc(t->a, size);
    if (out == NULL) {
        return NULL;
    }

    n = 0;
    for (i = 0; i < t->n; i++) {
        e = &t->e[i];
        for (k = 0; !e->dead && k < e->n; k++) {
            if (n) {
                out[n++] = '&';
            }
            n += kong_xform_escape(e->key, e->key_len, out + n);
            if (e->vals[k].kind != XF_BARE) {
                out[n++] = '=';
                n += kong_xform_escape(e->vals[k].s, e->vals[k].len, out + n);
            }
        }
    }

    out[n] = '\0';
    *len = n;
    return out;
}


/* ---- request-transformer --------------------------------------------- */

static int
xf_headers_table(xf_table_t *t, const kong_header_t *h, size_t n)
{
    size_t       i;
    xf_entry_t  *e;

    for (i = 0; i < n; i++) {
        e = xf_find(t, h[i].name, h[i].name_len);
        if (e == NULL && (e = xf_add(t, h[i].name, h[i].name_len)) == NULL) {
            return -1;
        }
        if (xf_push(t, e, h[i].value, h[i].value_len, XF_STR) != 0) {
            return -1;
        }
    }

    return 0;
}


static char *
xf_lower(kong_xform_arena_t *a, const char *s, size_t len)
{
    size_t  i;
    char   *p;

    p = xf_dup(a, s, len);
    for (i = 0; p != NULL && i < len; i++) {
        p[i] = (char) tolower((unsigned char) p[i]);
    }
    return p;
}



/* transform_headers: remove, rename, replace, add, append */
static int
xf_request_headers(const kong_xform_t *x, const xf_env_t *env,
    kong_xform_arena_t *a, xf_table_t *h)
{
    int               rc;
    size_t            i, vl;
    char             *lc;
    const char       *v;
    xf_entry_t       *e, *ne;
    const xf_item_t  *it;

    for (i = 0; i < x->ops[KONG_XFORM_REMOVE][KONG_XFORM_HEADERS].n; i++) {
        it = &x->ops[KONG_XFORM_REMOVE][KONG_XFORM_HEADERS].items[i];
        XF_RENDER(it);
        e = xf_find(h, it->name, it->name_len);
        if (e != NULL && !(it->name_len == 4
                           && strncasecmp(it->name, "host", 4) == 0))
        {
            e->dead = 1;
        }
    }

    for (i = 0; i < x->ops[KONG_XFORM_RENAME][KONG_XFORM_HEADERS].n; i++) {
        it = &x->ops[KONG_XFORM_RENAME][KONG_XFORM_HEADERS].items[i];
        XF_RENDER(it);
        if (rc == 0 || (it->name_len == 4
                        && strncasecmp(it->name, "host", 4) == 0))
        {
            continue;
        }
        e = xf_find(h, it->name, it->name_len);
        if (e == NULL) {
            continue;
        }
        if (vl == it->name_len && strncasecmp(v, it->name, vl) == 0) {
            /* a change of case only: the configured case is kept */
            if (vl != e->key_len || memcmp(v, e->key, vl) != 0) {
                e->key = v;
            }
            continue;
        }
        lc = xf_lower(a, v, vl);
        if (lc == NULL) {
            return -1;
        }
        ne = xf_find(h, lc, vl);
        if (ne != NULL && ne != e) {
            ne->dead = 1;               /* overwritten */
        }
        e->key = lc;
        e->key_len = vl;
    }

    for (i = 0; i < x->ops[KONG_XFORM_REPLACE][KONG_XFORM_HEADERS].n; i++) {
        it = &x->ops[KONG_XFORM_REPLACE][KONG_XFORM_HEADERS].items[i];
        XF_RENDER(it);
        if (rc == 0) {
            continue;
        }
        e = xf_find(h, it->name, it->name_len);
        if (e == NULL && it->name_len == 4
            && strncasecmp(it->name, "host", 4) == 0)
        {
            e = xf_add(h, "host", 4);
            if (e == NULL) {
                return -1;
            }
        }
        if (e != NULL && xf_set(h, e, v, vl, XF_STR) != 0) {
            return -1;
        }
    }

    for (i = 0; i < x->ops[KONG_XFORM_ADD][KONG_XFORM_HEADERS].n; i++) {
        it = &x->ops[KONG_XFORM_ADD][KONG_XFORM_HEADERS].items[i];
        XF_RENDER(it);
        if (rc == 0 || xf_find(h, it->name, it->name_len) != NULL
            || (it->name_len == 4 && strncasecmp(it->name, "host", 4) == 0))
        {
            continue;
        }
        e = xf_add(h, it->name, it->name_len);
        if (e == NULL || xf_push(h, e, v, vl, XF_STR) != 0) {
            return -1;
        }
    }

    for (i = 0; i < x->ops[KONG_XFORM_APPEND][KONG_XFORM_HEADERS].n; i++) {
        it = &x->ops[KONG_XFORM_APPEND][KONG_XFORM_HEADERS].items[i];
        XF_RENDER(it);
        if (rc == 0 || (it->name_len == 4
                        && strncasecmp(it->name, "host", 4) == 0))
        {
            continue;
        }
        e = xf_find(h, it->name, it->name_len);
        if (e == NULL && (e = xf_add(h, it->name, it->name_len)) == NULL) {
            return -1;
        }
        if (xf_push(h, e, v, vl, XF_STR) != 0) {
            return -1;
        }
    }

    return 0;
}


/* transform_querystrings */
static int
xf_request_query(const kong_xform_t *x, const xf_env_t *env,
    kong_xform_arena_t *a, xf_table_t *q)
{
    int               rc;
    size_t            i, vl;
    const char       *v;
    xf_entry_t       *e, *ne;
    const xf_item_t  *it;

    for (i = 0; i < x->ops[KONG_XFORM_REMOVE][KONG_XFORM_QUERY].n; i++) {
        it = &x->ops[KONG_XFORM_REMOVE][KONG_XFORM_QUERY].items[i];
        XF_RENDER(it);
        e = xf_find(q, it->name, it->name_len);
        if (e != NULL) {
            e->dead = 1;
        }
    }

    for (i = 0; i < x->ops[KONG_XFORM_RENAME][KONG_XFORM_QUERY].n; i++) {
        it = &x->ops[KONG_XFORM_RENAME][KONG_XFORM_QUERY].items[i];
        XF_RENDER(it);
        if (rc == 0 || (vl == it->name_len && memcmp(v, it->name, vl) == 0))
        {
            continue;
        }
        e = xf_find(q, it->name, it->name_len);
        if (e == NULL) {
            continue;
        }
        ne = xf_find(q, v, vl);
        if (ne != NULL) {
            ne->dead = 1;
        }
        e->key = v;
        e->key_len = vl;
    }

    for (i = 0; i < x->ops[KONG_XFORM_REPLACE][KONG_XFORM_QUERY].n; i++) {
        it = &x->ops[KONG_XFORM_REPLACE][KONG_XFORM_QUERY].items[i];
        XF_RENDER(it);
        e = xf_find(q, it->name, it->name_len);
        if (e != NULL) {
            if (rc == 0) {
                e->dead = 1;            /* set to nil */
            } else if (xf_set(q, e, v, vl, XF_STR) != 0) {
                return -1;
            }
        }
    }

    for (i = 0; i < x->ops[KONG_XFORM_ADD][KONG_XFORM_QUERY].n; i++) {
        it = &x->ops[KONG_XFORM_ADD][KONG_XFORM_QUERY].items[i];
        XF_RENDER(it);
        if (rc == 0 || xf_find(q, it->name, it->name_len) != NULL) {
            continue;
        }
        e = xf_add(q, it->name, it->name_len);
        if (e == NULL || xf_push(q, e, v, vl, XF_STR) != 0) {
            return -1;
        }
    }

    for (i = 0; i < x->ops[KONG_XFORM_APPEND][KONG_XFORM_QUERY].n; i++) {
        it = &x->ops[KONG_XFORM_APPEND][KONG_XFORM_QUERY].items[i];
        XF_RENDER(it);
        if (rc == 0) {
            continue;
        }
        e = xf_find(q, it->name, it->name_len);
        if (e == NULL && (e = xf_add(q, it->name, it->name_len)) == NULL) {
            return -1;
        }
        if (xf_append(q, e, v, vl) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
xf_any(const kong_xform_t *x, int target)
{
    int  op;

    for (op = 0; op < KONG_XFORM_NOPS; op++) {
        if (x->ops[op][target].n) {
            return 1;
        }
    }
    return 0;
}


static const kong_header_t *
xf_header(const kong_header_t *h, size_t n, const char *name)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (h[i].name_len == strlen(name)
            && strncasecmp(h[i].name, name, h[i].name_len) == 0)
        {
            return &h[i];
        }
    }
    return NULL;
}


/* The table as a header list, Host first. */
static int
xf_header_list(kong_xform_arena_t *a, xf_table_t *h, kong_xform_out_t *out)
{
    size_t          i, k, n;
    xf_entry_t     *e;
    kong_header_t  *l;

    n = 0;
    for (i = 0; i < h->n; i++) {
        n += h->e[i].dead ? 0 : h->e[i].n;
    }

    l = xf_alloc(a, (n + 1) * sizeof(kong_header_t));
    if (l == NULL) {
        return -1;
    }

    n = 0;
    for (k = 0; k < 2; k++) {
        for (i = 0; i < h->n; i++) {
            e = &h->e[i];
            if (e->dead || (k == 0) != (e->key_len == 4
                                       && strncasecmp(e->key, "host", 4) == 0))
            {
                continue;
            }
            for (size_t j = 0; j < e->n; j++) {
                l[n].name = e->key;
                l[n].name_len = e->key_len;
                l[n].value = e->vals[j].s;
                l[n].value_len = e->vals[j].len;
                n++;
            }
        }
    }

    out->headers = l;
    out->nheaders = n;
    out->headers_changed = 1;
    return 0;
}


int
kong_xform_request(const kong_xform_t *x, const kong_xform_request_t *req,
    kong_xform_out_t *out)
{
    int                   rc;
    size_t                vl, i, alen;
    char                 *args;
    const char           *v, *body;
    xf_env_t              env;
    xf_table_t            hin, qin, h, q, form;
    xf_entry_t           *e, *qe;
    kong_xform_arena_t   *a;
    const kong_header_t  *ct;

    a = xf_out_init(x, out);
    if (a == NULL) {
        return -1;
    }

    /* the template environment: the request as it arrived */
    memset(&hin, 0, sizeof(hin));
    hin.headers = 1;
    hin.a = a;
    memset(&qin, 0, sizeof(qin));
    qin.a = a;
    if (xf_headers_table(&hin, req->headers, req->nheaders) != 0
        || xf_args_parse(&qin, req->args, req->args_len) != 0)
    {
        goto nomem;
    }
    env.headers = &hin;
    env.query = &qin;
    env.captures = req->captures;
    env.ncaptures = req->ncaptures;

    /* replace.uri */
    if (x->uri != NULL) {
        rc = xf_render(a, &env, x->uri, &v, &vl);
        if (rc < 0) {
            goto nomem;
        }
        if (rc > 0 && vl > 0) {
            if (v[0] != '/') {
                out->error = "[request-transformer] the rendered "
                             "replace.uri does not start with \"/\"";
                return -1;
            }
            out->path = v;
            out->path_len = vl;
        }
    }

    ct = xf_header(req->headers, req->nheaders, "content-type");
    memset(&q, 0, sizeof(q));
    q.a = a;
    if (xf_args_parse(&q, req->args, req->args_len) != 0) {
        goto nomem;
    }

    /* http_method; GET, HEAD, TRACE take a form body into the args */
    if (x->http_method != NULL) {
        out->method = x->http_method;

        if ((strcmp(x->http_method, "GET") == 0
             || strcmp(x->http_method, "HEAD") == 0
             || strcmp(x->http_method, "TRACE") == 0)
            && ct != NULL && req->body != NULL && req->body_len > 0)
        {
            char  *lct = xf_lower(a, ct->value, ct->value_len);

            if (lct == NULL) {
                goto nomem;
            }
            if (strstr(lct, "application/json") == NULL
                && strstr(lct, "multipart/form-data") == NULL
                && strstr(lct, "application/x-www-form-urlencoded") != NULL)
            {
                memset(&form, 0, sizeof(form));
                form.a = a;
                if (xf_args_parse(&form, req->body, req->body_len) != 0) {
                    goto nomem;
                }
                for (i = 0; i < form.n; i++) {
                    e = &form.e[i];
                    qe = xf_find(&q, e->key, e->key_len);
                    if (qe == NULL
                        && (qe = xf_add(&q, e->key, e->key_len)) == NULL)
                    {
                        goto nomem;
                    }
                    for (size_t k = 0; k < e->n; k++) {
                        if (xf_push(&q, qe, e->vals[k].s, e->vals[k].len,
                                    e->vals[k].kind) != 0)
                        {
                            goto nomem;
                        }
                    }
                }
                if (form.n) {
                    args = xf_args_encode(&q, &alen);
                    if (args == NULL) {
                        goto nomem;
                    }
                    out->args = args;
                    out->args_len = alen;
                }
            }
        }
    }

    /* headers */
    if (xf_any(x, KONG_XFORM_HEADERS)) {
        memset(&h, 0, sizeof(h));
        h.headers = 1;
        h.a = a;
        if (xf_headers_table(&h, req->headers, req->nheaders) != 0
            || xf_request_headers(x, &env, a, &h) != 0
            || xf_header_list(a, &h, out) != 0)
        {
            goto nomem;
        }
    }

    /* body */
    if (xf_any(x, KONG_XFORM_BODY) && ct != NULL) {
        rc = xf_request_body(x, &env, a, ct->value, ct->value_len, req->body,
                             req->body ? req->body_len : 0, &body, &vl);
        if (rc < 0) {
            goto nomem;
        }
        if (rc > 0) {
            out->body = body;
            out->body_len = vl;
        }
    }

    /* querystring: re-encoded whenever an op is configured, as Kong */
    if (xf_any(x, KONG_XFORM_QUERY)) {
        if (xf_request_query(x, &env, a, &q) != 0) {
            goto nomem;
        }
        args = xf_args_encode(&q, &alen);
        if (args == NULL) {
            goto nomem;
        }
        out->args = args;
        out->args_len = alen;
    }

    return 0;

nomem:

    out->error = "too large";
    return -1;
}


/* ---- response-transformer: headers ----------------------------------- */

int
kong_xform_response_wants_body(const kong_xform_t *x, const char *ct,
    size_t len)
{
    size_t  i;

    if (ct == NULL || !xf_any(x, KONG_XFORM_BODY)) {
        return 0;
    }

    for (i = 0; i + 16 <= len; i++) {
        if (strncasecmp(ct + i, "application/json", 16) == 0) {
            return 1;
        }
    }
    return 0;
}


int
kong_xform_response_headers(const kong_xform_t *x,
    const kong_header_t *headers, size_t nheaders, kong_xform_out_t *out)
{
    int                   rc, op;
    size_t                i, vl;
    const char           *v;
    xf_env_t              env;
    xf_table_t            snap, h;
    xf_entry_t           *e, *se;
    kong_xform_arena_t   *a;
    const xf_item_t      *it;
    const kong_header_t  *ct;

    a = xf_out_init(x, out);
    if (a == NULL) {
        return -1;
    }
    memset(&env, 0, sizeof(env));

    /* existence is tested on the headers as they came (Kong's snapshot) */
    memset(&snap, 0, sizeof(snap));
    snap.headers = 1;
    snap.a = a;
    memset(&h, 0, sizeof(h));
    h.headers = 1;
    h.a = a;
    if (xf_headers_table(&snap, headers, nheaders) != 0
        || xf_headers_table(&h, headers, nheaders) != 0)
    {
        goto nomem;
    }

    for (i = 0; i < x->ops[KONG_XFORM_REMOVE][KONG_XFORM_HEADERS].n; i++) {
        it = &x->ops[KONG_XFORM_REMOVE][KONG_XFORM_HEADERS].items[i];
        while ((e = xf_find(&h, it->name, it->name_len)) != NULL) {
            e->dead = 1;
        }
    }

    for (i = 0; i < x->ops[KONG_XFORM_RENAME][KONG_XFORM_HEADERS].n; i++) {
        it = &x->ops[KONG_XFORM_RENAME][KONG_XFORM_HEADERS].items[i];
        rc = xf_render(a, &env, it, &v, &vl);
        se = xf_find(&snap, it->name, it->name_len);
        if (rc <= 0 || se == NULL) {
            continue;
        }
        /* set_header(new, value), then clear_header(old) */
        while ((e = xf_find(&h, v, vl)) != NULL) {
            e->dead = 1;
        }
        e = xf_add(&h, v, vl);
        if (e == NULL) {
            goto nomem;
        }
        e->vals = se->vals;
        e->n = se->n;
        e->cap = se->n;
        while ((e = xf_find(&h, it->name, it->name_len)) != NULL) {
            e->dead = 1;
        }
    }

    /* replace what was there, add what was not */
    for (op = KONG_XFORM_REPLACE; op <= KONG_XFORM_ADD; op++) {
        for (i = 0; i < x->ops[op][KONG_XFORM_HEADERS].n; i++) {
            it = &x->ops[op][KONG_XFORM_HEADERS].items[i];
            rc = xf_render(a, &env, it, &v, &vl);
            if (rc <= 0 || (xf_find(&snap, it->name, it->name_len) != NULL)
                           != (op == KONG_XFORM_REPLACE))
            {
                continue;
            }
            e = xf_find(&h, it->name, it->name_len);
            if (e == NULL
                && (e = xf_add(&h, it->name, it->name_len)) == NULL)
            {
                goto nomem;
            }
            if (xf_set(&h, e, v, vl, XF_STR) != 0) {
                goto nomem;
            }
        }
    }

    for (i = 0; i < x->ops[KONG_XFORM_APPEND][KONG_XFORM_HEADERS].n; i++) {
        it = &x->ops[KONG_XFORM_APPEND][KONG_XFORM_HEADERS].items[i];
        rc = xf_render(a, &env, it, &v, &vl);
        if (rc <= 0) {
            continue;
        }
        e = xf_add(&h, it->name, it->name_len);
        if (e == NULL || xf_push(&h, e, v, vl, XF_STR) != 0) {
            goto nomem;
        }
    }

    ct = xf_header(headers, nheaders, "content-type");
    if (ct != NULL
        && kong_xform_response_wants_body(x, ct->value, ct->value_len))
    {
        out->clear_content_length = 1;
        while ((e = xf_find(&h, "content-length", 14)) != NULL) {
            e->dead = 1;
        }
    }

    if (xf_header_list(a, &h, out) != 0) {
        goto nomem;
    }

    return 0;

nomem:

    out->error = "too large";
    return -1;
}
