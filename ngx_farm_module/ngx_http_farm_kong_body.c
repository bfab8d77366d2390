
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * A parameter of the request body, as Kong's kong.request.get_body() sees
 * it, for key-auth's key_in_body: application/x-www-form-urlencoded,
 * application/json (a top-level member) and multipart/form-data (a part's
 * name).  With hide, the parameter leaves the body sent upstream
 * (Content-Length follows).
 */


#include "ngx_http_farm_kong.h"
#include "ngx_http_farm_hide_args.h"
#include "kong_multipart.h"

#include <jansson.h>


#define NGX_HTTP_FARM_KONG_FORM       1
#define NGX_HTTP_FARM_KONG_JSON       2
#define NGX_HTTP_FARM_KONG_MULTIPART  3


static ngx_int_t ngx_http_farm_kong_body_text(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_farm_kong_body_form(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *name, ngx_str_t *value, ngx_uint_t hide);
static ngx_int_t ngx_http_farm_kong_body_json(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *name, ngx_str_t *value, ngx_uint_t hide);
static ngx_int_t ngx_http_farm_kong_body_multipart(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *name, ngx_str_t *value, ngx_uint_t hide);
static ngx_int_t ngx_http_farm_kong_body_replace(ngx_http_request_t *r,
    u_char *data, size_t len);


/*
 * NGX_OK with *value set, NGX_DECLINED (absent, or a body of another type),
 * NGX_BUSY (given more than once: Kong's "table" value), NGX_ERROR.
 */

ngx_int_t
ngx_http_farm_kong_body_param(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value, ngx_uint_t hide)
{
    ngx_str_t         body, *ct;
    ngx_uint_t        type;

    if (r->headers_in.content_type == NULL || r->request_body == NULL) {
        return NGX_DECLINED;
    }

    ct = &r->headers_in.content_type->value;

    if (ct->len >= sizeof("application/x-www-form-urlencoded") - 1
        && ngx_strncasecmp(ct->data,
                           (u_char *) "application/x-www-form-urlencoded",
                           sizeof("application/x-www-form-urlencoded") - 1)
           == 0)
    {
        type = NGX_HTTP_FARM_KONG_FORM;

    } else if (ct->len >= sizeof("application/json") - 1
               && ngx_strncasecmp(ct->data, (u_char *) "application/json",
                                  sizeof("application/json") - 1)
                  == 0)
    {
        type = NGX_HTTP_FARM_KONG_JSON;

    } else if (ct->len >= sizeof("multipart/form-data") - 1
               && ngx_strncasecmp(ct->data, (u_char *) "multipart/form-data",
                                  sizeof("multipart/form-data") - 1)
                  == 0)
    {
        type = NGX_HTTP_FARM_KONG_MULTIPART;

    } else {
        return NGX_DECLINED;
    }

    if (ngx_http_farm_kong_body_text(r, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    if (body.len == 0) {
        return NGX_DECLINED;
    }

    switch (type) {

    case NGX_HTTP_FARM_KONG_FORM:
        return ngx_http_farm_kong_body_form(r, &body, name, value, hide);

    case NGX_HTTP_FARM_KONG_JSON:
        return ngx_http_farm_kong_body_json(r, &body, name, value, hide);

    default:
        return ngx_http_farm_kong_body_multipart(r, &body, name, value,
                                                 hide);
    }
}


/* the body as one string, from memory buffers or the temporary file */

static ngx_int_t
ngx_http_farm_kong_body_text(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    body->len = (size_t) len;
    body->data = ngx_pnalloc(r->pool, body->len + 1);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, (size_t) (b->file_last
                                                    - b->file_pos),
                              b->file_pos);
            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }

            p += n;

        } else {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    body->len = p - body->data;
    *p = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_body_form(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *name, ngx_str_t *value, ngx_uint_t hide)
{
    u_char       *p, *end, *amp, *eq, *dst, *src, *out;
    size_t        len, removed;
    ngx_str_t     n, v;
    ngx_uint_t    count;
    farm_span_t   args, names;

    count = 0;
    p = body->data;
    end = p + body->len;

    while (p < end) {
        amp = ngx_strlchr(p, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        eq = ngx_strlchr(p, amp, '=');

        n.data = ngx_pnalloc(r->pool, (eq ? eq : amp) - p + 1);
        if (n.data == NULL) {
            return NGX_ERROR;
        }

        dst = n.data;
        src = p;
        ngx_unescape_uri(&dst, &src, (eq ? eq : amp) - p, NGX_UNESCAPE_URI);
        n.len = dst - n.data;

        if (n.len == name->len
            && ngx_strncmp(n.data, name->data, name->len) == 0)
        {
            count++;

            v.data = eq ? eq + 1 : amp;
            v.len = amp - v.data;

            value->data = ngx_pnalloc(r->pool, v.len + 1);
            if (value->data == NULL) {
                return NGX_ERROR;
            }

            /* "+" is a space in forms */
            for (len = 0; len < v.len; len++) {
                if (v.data[len] == '+') {
                    v.data[len] = ' ';
                }
            }

            dst = value->data;
            src = v.data;
            ngx_unescape_uri(&dst, &src, v.len, NGX_UNESCAPE_URI);
            value->len = dst - value->data;
        }

        p = amp + 1;
    }

    if (count == 0) {
        return NGX_DECLINED;
    }

    if (count > 1) {
        return NGX_BUSY;
    }

    if (hide) {
        out = ngx_pnalloc(r->pool, body->len);
        if (out == NULL) {
            return NGX_ERROR;
        }

        args.data = body->data;
        args.len = body->len;
        names.data = name->data;
        names.len = name->len;

        len = farm_hide_args(out, &args, &names, 1, &removed);

        if (removed
            && ngx_http_farm_kong_body_replace(r, out, len) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_body_json(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *name, ngx_str_t *value, ngx_uint_t hide)
{
    char         *key, *text;
    size_t        len;
    json_t       *root, *v;
    ngx_int_t     rc;
    json_error_t  err;

    root = json_loadb((char *) body->data, body->len, 0, &err);

    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return NGX_DECLINED;
    }

    key = (char *) ngx_pnalloc(r->pool, name->len + 1);
    if (key == NULL) {
        json_decref(root);
        return NGX_ERROR;
    }

    ngx_memcpy(key, name->data, name->len);
    key[name->len] = '\0';

    v = json_object_get(root, key);
    rc = NGX_DECLINED;

    if (json_is_string(v)) {
        len = json_string_length(v);

        value->data = ngx_pnalloc(r->pool, len + 1);
        if (value->data == NULL) {
            json_decref(root);
            return NGX_ERROR;
        }

        ngx_memcpy(value->data, json_string_value(v), len);
        value->len = len;
        rc = NGX_OK;

    } else if (json_is_array(v) || json_is_object(v)) {
        rc = NGX_BUSY;
    }

    if (rc == NGX_OK && hide) {
        json_object_del(root, key);

        text = json_dumps(root, JSON_COMPACT);
        if (text == NULL) {
            json_decref(root);
            return NGX_ERROR;
        }

        len = ngx_strlen(text);

        if (ngx_http_farm_kong_body_replace(r, (u_char *) text, len)
            != NGX_OK)
        {
            free(text);
            json_decref(root);
            return NGX_ERROR;
        }

        free(text);
    }

    json_decref(root);

    return rc;
}


/*
 * multipart/form-data, read as Kong reads it (kong_multipart.c): the part
 * whose Content-Disposition names it; two parts of that name are Kong's
 * table.  With hide, every part of that name leaves the body and the
 * others go upstream as they came (Kong rebuilds the body from the field
 * values instead, which loses file names: docs/kong.md).
 */

static ngx_int_t
ngx_http_farm_kong_body_multipart(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *name, ngx_str_t *value, ngx_uint_t hide)
{
    long         i;
    size_t       blen, nlen, vlen, size;
    u_char      *out;
    ngx_int_t    rc;
    ngx_str_t   *ct;
    kong_mp_t   *mp;
    const char  *b, *n, *v;

    ct = &r->headers_in.content_type->value;

    if (!kong_mp_boundary((const char *) ct->data, ct->len, &b, &blen)) {
        return NGX_DECLINED;
    }

    mp = kong_mp_parse((const char *) body->data, body->len, b, blen);
    if (mp == NULL) {
        return NGX_ERROR;
    }

    switch (kong_mp_count(mp, (const char *) name->data, name->len)) {

    case 0:
        rc = NGX_DECLINED;
        goto done;

    case 1:
        break;

    default:
        rc = NGX_BUSY;
        goto done;
    }

    i = kong_mp_find(mp, (const char *) name->data, name->len);
    (void) kong_mp_part(mp, (size_t) i, &n, &nlen, &v, &vlen);

    value->len = vlen;
    value->data = ngx_pnalloc(r->pool, vlen + 1);
    if (value->data == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(value->data, v, vlen);
    rc = NGX_OK;

    if (hide && vlen) {
        kong_mp_delete(mp, (const char *) name->data, name->len);

        size = kong_mp_encoded_size(mp);
        out = ngx_pnalloc(r->pool, size + 1);
        if (out == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        kong_mp_encode(mp, (char *) out);

        if (ngx_http_farm_kong_body_replace(r, out, size) != NGX_OK) {
            rc = NGX_ERROR;
        }
    }

done:

    kong_mp_free(mp);

    return rc;
}


/* the body sent upstream becomes data[0..len) */

static ngx_int_t
ngx_http_farm_kong_body_replace(ngx_http_request_t *r, u_char *data,
    size_t len)
{
    u_char       *copy;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    copy = ngx_pnalloc(r->pool, len ? len : 1);
    cl = ngx_alloc_chain_link(r->pool);
    b = ngx_calloc_buf(r->pool);

    if (copy == NULL || cl == NULL || b == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(copy, data, len);

    b->pos = copy;
    b->last = copy + len;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;
    r->request_body->temp_file = NULL;
    r->headers_in.content_length_n = len;

    return NGX_OK;
}
