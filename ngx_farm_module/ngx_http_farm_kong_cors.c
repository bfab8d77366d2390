
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's cors plugin on kong_cors.c's engine: in the rewrite phase a
 * preflight is answered 200 with an empty body and the engine's headers
 * (unless preflight_continue: then it is proxied untouched); any other
 * request is proxied, and the header filter gives its response, the
 * service's or an answer of the gateway (a 401 of key-auth, a 429), the
 * origin, credentials and exposed headers, and Vary.
 */


#include "ngx_http_farm_kong_engine.h"


static ngx_int_t ngx_http_farm_kong_cors_apply(ngx_http_request_t *r,
    kong_cors_result_t *res);
static ngx_table_elt_t *ngx_http_farm_kong_cors_out(ngx_http_request_t *r,
    const char *name, ngx_uint_t clear);
static ngx_int_t ngx_http_farm_kong_cors_request(ngx_http_request_t *r,
    kong_cors_request_t *req);


ngx_int_t
ngx_http_farm_kong_cors(ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx,
    const kong_plugin_t *p)
{
    ngx_str_t             empty;
    kong_cors_t          *cors;
    kong_cors_result_t    res;
    kong_cors_request_t   req;

    cors = ngx_http_farm_kong_engine(ctx->conf, p);

    if (cors == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_farm_kong_cors_request(r, &req) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (kong_cors_access(cors, &req, &res)) {

    case KONG_CORS_ANSWER:
        ctx->cors = NULL;

        if (ngx_http_farm_kong_cors_apply(r, &res) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_null(&empty);

        return ngx_http_farm_kong_exit(r, ctx, NGX_HTTP_OK, &empty, &empty);

    case KONG_CORS_CONTINUE:
        ctx->cors = NULL;
        return NGX_DECLINED;

    default:
        ctx->cors = cors;
        return NGX_DECLINED;
    }
}


/* the header filter's part, once per request */

ngx_int_t
ngx_http_farm_kong_cors_filter(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    kong_cors_t          *cors;
    kong_cors_result_t    res;
    kong_cors_request_t   req;

    cors = ctx->cors;

    if (cors == NULL) {
        return NGX_OK;
    }

    ctx->cors = NULL;

    if (ngx_http_farm_kong_cors_request(r, &req) != NGX_OK) {
        return NGX_ERROR;
    }

    kong_cors_header_filter(cors, &req, &res);

    return ngx_http_farm_kong_cors_apply(r, &res);
}


static ngx_int_t
ngx_http_farm_kong_cors_request(ngx_http_request_t *r,
    kong_cors_request_t *req)
{
    req->method = (const char *) r->method_name.data;
    req->method_len = r->method_name.len;

    req->headers = ngx_http_farm_kong_engine_headers(r, &req->nheaders);

    return req->headers ? NGX_OK : NGX_ERROR;
}


/* the engine's actions on the response headers, in order */

static ngx_int_t
ngx_http_farm_kong_cors_apply(ngx_http_request_t *r, kong_cors_result_t *res)
{
    u_char              *buf;
    size_t               i, len;
    ngx_str_t            value;
    ngx_table_elt_t     *h;
    kong_cors_header_t  *a;

    for (i = 0; i < res->n; i++) {
        a = &res->headers[i];

        switch (a->op) {

        case KONG_CORS_CLEAR:
            (void) ngx_http_farm_kong_cors_out(r, a->name, 1);
            break;

        case KONG_CORS_VARY:
            h = ngx_http_farm_kong_cors_out(r, "Vary", 0);

            len = (h ? h->value.len : 0) + sizeof(", Origin");

            buf = ngx_pnalloc(r->pool, len);
            if (buf == NULL) {
                return NGX_ERROR;
            }

            len = kong_cors_vary(h ? (const char *) h->value.data : NULL,
                                 h ? h->value.len : 0, (char *) buf, len);

            if (len == 0) {
                break;
            }

            value.data = buf;
            value.len = len;

            if (h != NULL) {
                h->value = value;
                break;
            }

            if (ngx_http_farm_kong_header(r, "Vary", &value) != NGX_OK) {
                return NGX_ERROR;
            }

            break;

        default: /* KONG_CORS_SET */
            (void) ngx_http_farm_kong_cors_out(r, a->name, 1);

            value.len = a->value_len;
            value.data = ngx_pnalloc(r->pool, value.len ? value.len : 1);
            if (value.data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(value.data, a->value, value.len);

            if (ngx_http_farm_kong_header(r, a->name, &value) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * The first response header of that name; with clear, every header of that
 * name is removed instead (NULL returned).
 */

static ngx_table_elt_t *
ngx_http_farm_kong_cors_out(ngx_http_request_t *r, const char *name,
    ngx_uint_t clear)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0 || h[i].key.len != len
                || ngx_strncasecmp(h[i].key.data, (u_char *) name, len) != 0)
            {
                continue;
            }

            if (!clear) {
                return &h[i];
            }

            h[i].hash = 0;
        }
    }

    return NULL;
}
