/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong: hash_on cookie.  A request to a consistent-hashing upstream
 * that hashes on a cookie and does not send it gets a new value, a random
 * uuid, which it is balanced by; the response then sets the cookie
 *
 *     Set-Cookie: <hash_on_cookie>=<uuid>; Path=<hash_on_cookie_path>;
 *                 Same-Site=Lax; HttpOnly
 *
 * (Kong's attributes, as Kong writes them), replacing a Set-Cookie of the
 * same name from the service, so the client's next requests go to the
 * same target.
 */


#include "ngx_http_farm_kong.h"


/*
 * The key of a request without the cookie: the uuid drawn for it (the
 * same one if the balancer asks again).  NGX_ERROR without memory.
 */

ngx_int_t
ngx_http_farm_kong_cookie_new(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *key)
{
    u_char  *p;

    if (ctx->hash_cookie.len == 0) {
        p = ngx_pnalloc(r->pool, NGX_HTTP_FARM_KONG_UUID_LEN + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_http_farm_kong_uuid(p);

        ctx->hash_cookie.data = p;
        ctx->hash_cookie.len = NGX_HTTP_FARM_KONG_UUID_LEN;
    }

    *key = ctx->hash_cookie;

    return NGX_OK;
}


/* the header filter's part: the Set-Cookie of a new cookie */

ngx_int_t
ngx_http_farm_kong_cookie_set(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    u_char                 *p;
    size_t                  len, name_len;
    ngx_str_t               value;
    ngx_uint_t              i;
    const char             *name, *path;
    ngx_list_part_t        *part;
    ngx_table_elt_t        *h;
    const kong_upstream_t  *u;

    if (ctx->hash_cookie.len == 0 || ctx->match.service == NULL
        || ctx->match.service->upstream == NULL)
    {
        return NGX_OK;
    }

    u = ctx->match.service->upstream;
    name = u->hash_on_cookie;
    path = (u->hash_on_cookie_path != NULL) ? u->hash_on_cookie_path : "/";
    name_len = ngx_strlen(name);

    len = name_len + 1 + ctx->hash_cookie.len + sizeof("; Path=") - 1
          + ngx_strlen(path) + sizeof("; Same-Site=Lax; HttpOnly") - 1;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%s=%V; Path=%s; Same-Site=Lax; HttpOnly",
                            name, &ctx->hash_cookie, path)
                - p;

    ctx->hash_cookie.len = 0;    /* once */

    /* the service's cookie of that name gives way */

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash != 0
                && h[i].key.len == sizeof("Set-Cookie") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Set-Cookie",
                                   h[i].key.len)
                   == 0
                && h[i].value.len > name_len
                && h[i].value.data[name_len] == '='
                && ngx_strncmp(h[i].value.data, name, name_len) == 0)
            {
                h[i].value = value;
                return NGX_OK;
            }
        }
    }

    return ngx_http_farm_kong_header(r, "Set-Cookie", &value);
}
