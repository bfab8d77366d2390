
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's request-transformer plugin on kong_xform.c's engine, in the
 * rewrite phase: the body is read first when a body operation (or
 * http_method GET, HEAD or TRACE, which moves a form body into the query
 * string) may need it; the engine then decides, in Kong's order, and the
 * result is applied to what goes upstream: the method, the path of
 * $farm_kong_url (replace.uri, rendered with the route's regex captures)
 * and its query string, the request headers (Host through
 * $farm_kong_host), the body and its Content-Length.
 */


#include "ngx_http_farm_kong_engine.h"

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH  8
#endif
#include <pcre2.h>


static ngx_uint_t ngx_http_farm_kong_xform_wants_body(ngx_http_request_t *r,
    const kong_xform_conf_t *conf);
static ngx_int_t ngx_http_farm_kong_xform_apply(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_xform_conf_t *conf,
    kong_xform_out_t *out);
static ngx_int_t ngx_http_farm_kong_xform_uri(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, kong_xform_out_t *out);
static ngx_int_t ngx_http_farm_kong_xform_headers(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_xform_conf_t *conf,
    kong_xform_out_t *out);
static ngx_uint_t ngx_http_farm_kong_xform_replaces_host(
    const kong_xform_conf_t *conf);
#if (NGX_HTTP_X_FORWARDED_FOR)
static ngx_int_t ngx_http_farm_kong_xform_xff(ngx_http_request_t *r);
#endif
static ngx_int_t ngx_http_farm_kong_xform_set_body(ngx_http_request_t *r,
    kong_xform_out_t *out);
static ngx_int_t ngx_http_farm_kong_xform_copy(ngx_http_request_t *r,
    ngx_str_t *dst, const char *src, size_t len);


/* the methods nginx has a flag for, as ngx.req.set_method sets them */
static ngx_str_t  ngx_http_farm_kong_xform_methods[] = {
    ngx_string("GET"), ngx_string("HEAD"), ngx_string("POST"),
    ngx_string("PUT"), ngx_string("DELETE"), ngx_string("MKCOL"),
    ngx_string("COPY"), ngx_string("MOVE"), ngx_string("OPTIONS"),
    ngx_string("PROPFIND"), ngx_string("PROPPATCH"), ngx_string("LOCK"),
    ngx_string("UNLOCK"), ngx_string("PATCH"), ngx_string("TRACE"),
    ngx_string("CONNECT"), ngx_null_string
};

static ngx_uint_t  ngx_http_farm_kong_xform_flags[] = {
    NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_POST, NGX_HTTP_PUT,
    NGX_HTTP_DELETE, NGX_HTTP_MKCOL, NGX_HTTP_COPY, NGX_HTTP_MOVE,
    NGX_HTTP_OPTIONS, NGX_HTTP_PROPFIND, NGX_HTTP_PROPPATCH, NGX_HTTP_LOCK,
    NGX_HTTP_UNLOCK, NGX_HTTP_PATCH, NGX_HTTP_TRACE, NGX_HTTP_CONNECT
};


ngx_int_t
ngx_http_farm_kong_request_transformer(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p)
{
    u_char                *uri, *q;
    ngx_int_t              rc;
    ngx_str_t              body;
    kong_xform_t          *x;
    kong_xform_out_t       out;
    kong_xform_request_t   req;

    x = ngx_http_farm_kong_engine(ctx->conf, p);

    if (x == NULL) {
        return NGX_DECLINED;
    }

    if (!ctx->body_read && ngx_http_farm_kong_xform_wants_body(r, p->conf)) {
        return ngx_http_farm_kong_read_body(r, ctx,
                                            KONG_PLUGIN_REQUEST_TRANSFORMER);
    }

    ngx_memzero(&req, sizeof(kong_xform_request_t));

    req.method = (const char *) r->method_name.data;
    req.method_len = r->method_name.len;

    /* the arguments as they go upstream: key-auth's hide_credentials may
     * have taken one out */

    uri = (u_char *) ctx->match.upstream_uri;
    q = ngx_strlchr(uri, uri + ctx->match.upstream_uri_len, '?');

    if (q != NULL) {
        req.args = (const char *) q + 1;
        req.args_len = uri + ctx->match.upstream_uri_len - (q + 1);
    }

    req.headers = ngx_http_farm_kong_engine_headers(r, &req.nheaders);
    if (req.headers == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->request_body != NULL && r->request_body->bufs != NULL) {
        if (ngx_http_farm_kong_xform_body(r, &body) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        req.body = (const char *) body.data;
        req.body_len = body.len;
    }

    if (ngx_http_farm_kong_xform_captures(r, ctx, &req) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (kong_xform_request(x, &req, &out) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "farm_kong: %s: request-transformer: %s", p->path,
                      out.error ? out.error : "failed");

        kong_xform_out_free(&out);

        return ngx_http_farm_kong_error(r, ctx,
                                        NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        "An unexpected error occurred");
    }

    rc = ngx_http_farm_kong_xform_apply(r, ctx, p->conf, &out);

    kong_xform_out_free(&out);

    return (rc == NGX_OK) ? NGX_DECLINED : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * The body is needed when a body operation is configured or http_method
 * may move a form body into the query string, and the request says what
 * type of body it has.
 */

static ngx_uint_t
ngx_http_farm_kong_xform_wants_body(ngx_http_request_t *r,
    const kong_xform_conf_t *conf)
{
    const char  *m;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    if (conf->remove.body.n || conf->rename.body.n || conf->replace.body.n
        || conf->add.body.n || conf->append.body.n)
    {
        return 1;
    }

    m = conf->http_method;

    return m != NULL
           && (ngx_strcmp(m, "GET") == 0 || ngx_strcmp(m, "HEAD") == 0
               || ngx_strcmp(m, "TRACE") == 0);
}


/* the body read, as one string: memory buffers or the temporary file */

ngx_int_t
ngx_http_farm_kong_xform_body(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t         size;
    u_char       *p;
    ssize_t       n;
    ngx_chain_t  *cl;

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    body->data = ngx_pnalloc(r->pool, (size_t) size + 1);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {

        if (ngx_buf_size(cl->buf) == 0) {
            /* the end of a chunked body: a buffer with no memory */
            continue;
        }

        if (!cl->buf->in_file) {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
            continue;
        }

        n = ngx_read_file(cl->buf->file, p,
                          (size_t) (cl->buf->file_last - cl->buf->file_pos),
                          cl->buf->file_pos);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * uri_captures: the route's regex path run again on the normalized path,
 * the numbered groups (0: the whole match) then the named ones.
 */

ngx_int_t
ngx_http_farm_kong_xform_captures(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, kong_xform_request_t *req)
{
    int                    rc;
    size_t                 i, n;
    uint32_t               count, size;
    PCRE2_SIZE            *ov;
    PCRE2_SPTR             table;
    ngx_uint_t             group;
    pcre2_match_data      *md;
    const pcre2_code      *re;
    kong_xform_capture_t  *c;

    re = ctx->match.regex;

    if (re == NULL || ctx->match.path == NULL) {
        return NGX_OK;
    }

    md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md == NULL) {
        return NGX_ERROR;
    }

    rc = pcre2_match(re, (PCRE2_SPTR) ctx->match.path, ctx->match.path_len,
                     0, 0, md, NULL);

    if (rc <= 0) {
        pcre2_match_data_free(md);
        return NGX_OK;
    }

    count = 0;
    size = 0;
    table = NULL;

    if (pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &count) != 0
        || (count
            && (pcre2_pattern_info(re, PCRE2_INFO_NAMEENTRYSIZE, &size) != 0
                || pcre2_pattern_info(re, PCRE2_INFO_NAMETABLE, &table)
                   != 0)))
    {
        count = 0;
    }

    c = ngx_pcalloc(r->pool, (rc + count) * sizeof(kong_xform_capture_t));
    if (c == NULL) {
        pcre2_match_data_free(md);
        return NGX_ERROR;
    }

    ov = pcre2_get_ovector_pointer(md);
    n = 0;

    for (i = 0; i < (size_t) rc; i++) {
        if (ov[2 * i] == PCRE2_UNSET) {
            continue;
        }

        c[n].index = (int) i;
        c[n].value = ctx->match.path + ov[2 * i];
        c[n].value_len = ov[2 * i + 1] - ov[2 * i];
        n++;
    }

    for (i = 0; i < count; i++) {
        /* an entry: the group number (2 bytes, big endian), the name */
        group = (table[i * size] << 8) | table[i * size + 1];

        if (group >= (ngx_uint_t) rc || ov[2 * group] == PCRE2_UNSET) {
            continue;
        }

        c[n].index = -1;
        c[n].name = (const char *) &table[i * size + 2];
        c[n].value = ctx->match.path + ov[2 * group];
        c[n].value_len = ov[2 * group + 1] - ov[2 * group];
        n++;
    }

    pcre2_match_data_free(md);

    req->captures = c;
    req->ncaptures = n;

    return NGX_OK;
}


/* the engine's result onto the request: everything copied to r->pool */

static ngx_int_t
ngx_http_farm_kong_xform_apply(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_xform_conf_t *conf,
    kong_xform_out_t *out)
{
    size_t      len;
    ngx_str_t   method;
    ngx_uint_t  i;

    if (out->method != NULL) {
        len = ngx_strlen(out->method);

        if (ngx_http_farm_kong_xform_copy(r, &method, out->method, len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        r->method_name = method;
        r->method = NGX_HTTP_UNKNOWN;

        for (i = 0; ngx_http_farm_kong_xform_methods[i].len; i++) {
            if (ngx_http_farm_kong_xform_methods[i].len == len
                && ngx_strncmp(ngx_http_farm_kong_xform_methods[i].data,
                               method.data, len)
                   == 0)
            {
                r->method = ngx_http_farm_kong_xform_flags[i];
                break;
            }
        }
    }

    if (ngx_http_farm_kong_xform_uri(r, ctx, out) != NGX_OK) {
        return NGX_ERROR;
    }

    if (out->headers_changed
        && ngx_http_farm_kong_xform_headers(r, ctx, conf, out) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (out->body != NULL
        && ngx_http_farm_kong_xform_set_body(r, out) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The upstream URI ($farm_kong_url's path and arguments): replace.uri's
 * path, escaped as kong.service.request.set_path escapes a normalized
 * path, and the new query string.
 */

static ngx_int_t
ngx_http_farm_kong_xform_uri(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, kong_xform_out_t *out)
{
    u_char      *uri, *p, *q;
    size_t       len;
    ngx_str_t    path, args;
    ngx_uint_t   escape;

    if (out->path == NULL && out->args == NULL) {
        return NGX_OK;
    }

    p = (u_char *) ctx->match.upstream_uri;
    q = ngx_strlchr(p, p + ctx->match.upstream_uri_len, '?');

    if (out->path != NULL) {
        path.data = (u_char *) out->path;
        path.len = out->path_len;
        escape = ngx_escape_uri(NULL, path.data, path.len, NGX_ESCAPE_URI);

    } else {
        path.data = p;
        path.len = q ? (size_t) (q - p) : ctx->match.upstream_uri_len;
        escape = 0;
    }

    if (out->args != NULL) {
        args.data = (u_char *) out->args;
        args.len = out->args_len;

    } else if (q != NULL) {
        args.data = q + 1;
        args.len = p + ctx->match.upstream_uri_len - (q + 1);

    } else {
        ngx_str_null(&args);
    }

    len = path.len + 2 * escape + 1 + args.len;

    uri = ngx_pnalloc(r->pool, len);
    if (uri == NULL) {
        return NGX_ERROR;
    }

    if (escape) {
        p = (u_char *) ngx_escape_uri(uri, path.data, path.len,
                                      NGX_ESCAPE_URI);

    } else {
        p = ngx_cpymem(uri, path.data, path.len);
    }

    if (args.len) {
        *p++ = '?';
        p = ngx_cpymem(p, args.data, args.len);
    }

    ctx->match.upstream_uri = (const char *) uri;
    ctx->match.upstream_uri_len = p - uri;

    return NGX_OK;
}


/*
 * The complete new header list replaces the request's.  A Host that
 * replace.headers set, or that differs from the client's, goes upstream
 * through $farm_kong_host.
 */

static ngx_int_t
ngx_http_farm_kong_xform_headers(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_xform_conf_t *conf,
    kong_xform_out_t *out)
{
    size_t            i;
    ngx_str_t         host;
    ngx_list_t        list;
    kong_header_t    *kh;
    ngx_table_elt_t  *h, *ct, *cl;

    if (ngx_list_init(&list, r->pool, out->nheaders ? out->nheaders : 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_null(&host);
    ct = NULL;
    cl = NULL;

    for (i = 0; i < out->nheaders; i++) {
        kh = &out->headers[i];

        h = ngx_list_push(&list);
        if (h == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_farm_kong_xform_copy(r, &h->key, kh->name, kh->name_len)
               != NGX_OK
            || ngx_http_farm_kong_xform_copy(r, &h->value, kh->value,
                                             kh->value_len)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        h->lowcase_key = ngx_pnalloc(r->pool, kh->name_len ? kh->name_len
                                                           : 1);
        if (h->lowcase_key == NULL) {
            return NGX_ERROR;
        }

        ngx_strlow(h->lowcase_key, h->key.data, h->key.len);
        h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        if (h->key.len == 4
            && ngx_strncmp(h->lowcase_key, "host", 4) == 0
            && host.data == NULL)
        {
            host = h->value;

        } else if (h->key.len == sizeof("content-type") - 1
                   && ngx_strncmp(h->lowcase_key, "content-type",
                                  sizeof("content-type") - 1)
                      == 0
                   && ct == NULL)
        {
            ct = h;

        } else if (h->key.len == sizeof("content-length") - 1
                   && ngx_strncmp(h->lowcase_key, "content-length",
                                  sizeof("content-length") - 1)
                      == 0
                   && cl == NULL)
        {
            cl = h;
        }
    }

    if (host.data != NULL
        && (ngx_http_farm_kong_xform_replaces_host(conf)
            || r->headers_in.host == NULL
            || host.len != r->headers_in.host->value.len
            || ngx_strncmp(host.data, r->headers_in.host->value.data,
                           host.len)
               != 0))
    {
        ctx->xform_host = host;
    }

    r->headers_in.headers = list;
    r->headers_in.content_type = ct;
    r->headers_in.content_length = cl;

#if (NGX_HTTP_X_FORWARDED_FOR)
    if (ngx_http_farm_kong_xform_xff(r) != NGX_OK) {
        return NGX_ERROR;
    }
#endif

    return NGX_OK;
}


/* whether replace.headers has an item "host:..." (any case) */

static ngx_uint_t
ngx_http_farm_kong_xform_replaces_host(const kong_xform_conf_t *conf)
{
    size_t  i;

    for (i = 0; i < conf->replace.headers.n; i++) {
        if (ngx_strncasecmp((u_char *) conf->replace.headers.items[i],
                            (u_char *) "host:", 5)
            == 0)
        {
            return 1;
        }
    }

    return 0;
}


#if (NGX_HTTP_X_FORWARDED_FOR)

/* $proxy_add_x_forwarded_for reads the X-Forwarded-For of the new list */

static ngx_int_t
ngx_http_farm_kong_xform_xff(ngx_http_request_t *r)
{
    ngx_uint_t         i;
    ngx_list_part_t   *part;
    ngx_table_elt_t   *h;
#if (nginx_version >= 1023000)
    ngx_table_elt_t  **next;

    r->headers_in.x_forwarded_for = NULL;
    next = &r->headers_in.x_forwarded_for;
#else
    ngx_table_elt_t  **ph;

    if (ngx_array_init(&r->headers_in.x_forwarded_for, r->pool, 1,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }
#endif

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len != sizeof("x-forwarded-for") - 1
                || ngx_strncmp(h[i].lowcase_key, "x-forwarded-for",
                               sizeof("x-forwarded-for") - 1)
                   != 0)
            {
                continue;
            }

#if (nginx_version >= 1023000)
            *next = &h[i];
            next = &h[i].next;
#else
            ph = ngx_array_push(&r->headers_in.x_forwarded_for);
            if (ph == NULL) {
                return NGX_ERROR;
            }

            *ph = &h[i];
#endif
        }
    }

    return NGX_OK;
}

#endif


/* the new body, in memory, and its length for the proxy's Content-Length */

static ngx_int_t
ngx_http_farm_kong_xform_set_body(ngx_http_request_t *r,
    kong_xform_out_t *out)
{
    u_char       *p;
    ngx_buf_t    *b;
    ngx_str_t     body;
    ngx_chain_t  *cl;

    if (ngx_http_farm_kong_xform_copy(r, &body, out->body, out->body_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (r->request_body == NULL) {
        r->request_body = ngx_pcalloc(r->pool,
                                      sizeof(ngx_http_request_body_t));
        if (r->request_body == NULL) {
            return NGX_ERROR;
        }
    }

    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = body.data;
    b->last = body.data + body.len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl->buf = b;
    cl->next = NULL;

    r->request_body->bufs = cl;
    r->request_body->temp_file = NULL;
    r->headers_in.content_length_n = body.len;

    /* the header line, for what reads it rather than content_length_n */

    if (r->headers_in.content_length != NULL) {
        p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        r->headers_in.content_length->value.data = p;
        r->headers_in.content_length->value.len =
                                       ngx_sprintf(p, "%uz", body.len) - p;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_xform_copy(ngx_http_request_t *r, ngx_str_t *dst,
    const char *src, size_t len)
{
    dst->data = ngx_pnalloc(r->pool, len ? len : 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, len);
    dst->len = len;

    return NGX_OK;
}
