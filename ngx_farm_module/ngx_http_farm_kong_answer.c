/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong, Kong's answers: the bodies of kong.response.error (404, 503,
 * 426, the redirects) in the type the client accepts, and the header and
 * body filters that add Kong's response headers to proxied responses and
 * put Kong's error-handler bodies in place of nginx's own error pages.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_farm_kong.h"
#include "ngx_http_farm_kong_engine.h"


/* the bodies of Kong's own answers, by negotiated type */
#define NGX_HTTP_FARM_KONG_JSON         0
#define NGX_HTTP_FARM_KONG_HTML         1
#define NGX_HTTP_FARM_KONG_XML          2
#define NGX_HTTP_FARM_KONG_PLAIN        3


typedef struct {
    ngx_str_t                  content_type;
    const char                *format;    /* message, then request id */
} ngx_http_farm_kong_body_t;


static ngx_uint_t ngx_http_farm_kong_accept(ngx_http_request_t *r,
    ngx_uint_t nginx_error);
static void ngx_http_farm_kong_accept_value(u_char *p, u_char *end,
    ngx_int_t *best, ngx_uint_t *type);
static ngx_uint_t ngx_http_farm_kong_media_type(u_char *p, size_t len);
static ngx_int_t ngx_http_farm_kong_via(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_kong_nginx_error(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);


ngx_http_output_header_filter_pt  ngx_http_farm_kong_next_header_filter;
ngx_http_output_body_filter_pt    ngx_http_farm_kong_next_body_filter;


/* the wire formats of Kong's error bodies (kong.response.error) */
static ngx_http_farm_kong_body_t  ngx_http_farm_kong_bodies[] = {

    { ngx_string("application/json; charset=utf-8"),
      "{\n  \"message\":\"%s\",\n  \"request_id\":\"%V\"\n}" },

    { ngx_string("text/html; charset=utf-8"),
      "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n"
      "    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n"
      "    <p>%s.</p>\n    <p>request_id: %V</p>\n  </body>\n</html>\n" },

    { ngx_string("application/xml; charset=utf-8"),
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n"
      "  <message>%s</message>\n  <requestid>%V</requestid>\n</error>\n" },

    { ngx_string("text/plain; charset=utf-8"),
      "%s\nrequest_id: %V\n" }
};


/*
 * Kong's kong.response.error(): the body in the type the client accepts,
 * with the request id (a redirect has none), and X-Kong-Request-Id.
 */

ngx_int_t
ngx_http_farm_kong_error(ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx,
    ngx_uint_t status, const char *message)
{
    size_t                      len;
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_chain_t                 out;
    ngx_http_farm_kong_body_t  *body;

    ctx->answered = 1;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_farm_kong_header(r, "X-Kong-Request-Id", &ctx->request_id)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;

    if (message == NULL) {
        r->headers_out.content_length_n = 0;
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    body = &ngx_http_farm_kong_bodies[ngx_http_farm_kong_accept(r, 0)];

    len = ngx_strlen(body->format) + ngx_strlen(message)
          + ctx->request_id.len;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->pos, body->format, message, &ctx->request_id);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.content_type = body->content_type;
    r->headers_out.content_type_len = body->content_type.len;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Kong's choice of the error body's type: of the Accept elements, the
 * first with the highest q (default 1) decides; JSON when there is no
 * Accept, for the wildcards "any" and "application", and for any type
 * without a body of its own.  "text" with a wildcard is text/plain.  For
 * nginx's own errors (nginx_error), a request without Accept is answered
 * in its Content-Type's type, else in text/plain, as Kong's error handler.
 */

static ngx_uint_t
ngx_http_farm_kong_accept(ngx_http_request_t *r, ngx_uint_t nginx_error)
{
    ngx_int_t         best;
    ngx_uint_t        i, type, seen;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    type = NGX_HTTP_FARM_KONG_JSON;
    best = 0;
    seen = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len != sizeof("Accept") - 1
                || ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                                   sizeof("Accept") - 1)
                   != 0)
            {
                continue;
            }

            seen = 1;
            ngx_http_farm_kong_accept_value(h[i].value.data,
                                            h[i].value.data
                                            + h[i].value.len,
                                            &best, &type);
        }
    }

    if (seen || !nginx_error) {
        return type;
    }

    if (r->headers_in.content_type == NULL) {
        return NGX_HTTP_FARM_KONG_PLAIN;
    }

    h = r->headers_in.content_type;
    ngx_http_farm_kong_accept_value(h->value.data,
                                    h->value.data + h->value.len,
                                    &best, &type);

    return type;
}


/* one Accept value: "type/subtype [; q=N] [; parameter]", ... */

static void
ngx_http_farm_kong_accept_value(u_char *p, u_char *end, ngx_int_t *best,
    ngx_uint_t *type)
{
    u_char     *elt, *semi, *q, *qend;
    ngx_int_t   quality;

    while (p < end) {
        elt = p;
        p = ngx_strlchr(elt, end, ',');
        if (p == NULL) {
            p = end;
        }

        semi = ngx_strlchr(elt, p, ';');
        quality = 1000;

        for (q = semi; q != NULL && q + 2 <= p; q++) {
            if (ngx_strncasecmp(q, (u_char *) "q=", 2) != 0
                || (q[-1] != ';' && q[-1] != ' '))
            {
                continue;
            }

            /* a q Kong's pattern refuses counts as a parameter */

            qend = ngx_strlchr(q + 2, p, ';');
            if (qend == NULL) {
                qend = p;
            }

            while (qend > q + 2 && qend[-1] == ' ') {
                qend--;
            }

            quality = ngx_atofp(q + 2, qend - q - 2, 3);

            if (quality == NGX_ERROR || quality > 1000) {
                quality = 1000;
            }

            break;
        }

        while (elt < p && (*elt == ' ' || *elt == '\t')) {
            elt++;
        }

        q = semi ? semi : p;

        while (q > elt && (q[-1] == ' ' || q[-1] == '\t')) {
            q--;
        }

        if (quality > *best && ngx_strlchr(elt, q, '/') != NULL) {
            *best = quality;
            *type = ngx_http_farm_kong_media_type(elt, q - elt);
        }

        p++;
    }
}


static ngx_uint_t
ngx_http_farm_kong_media_type(u_char *p, size_t len)
{
    ngx_str_t  s;

    s.data = p;
    s.len = len;

#define ngx_http_farm_kong_is(s, lit)                                       \
    ((s).len == sizeof(lit) - 1 && ngx_strncmp((s).data, lit, (s).len) == 0)

    if (ngx_http_farm_kong_is(s, "text/html")) {
        return NGX_HTTP_FARM_KONG_HTML;
    }

    if (ngx_http_farm_kong_is(s, "application/xml")) {
        return NGX_HTTP_FARM_KONG_XML;
    }

    if (ngx_http_farm_kong_is(s, "text/plain")
        || ngx_http_farm_kong_is(s, "text/*"))
    {
        return NGX_HTTP_FARM_KONG_PLAIN;
    }

#undef ngx_http_farm_kong_is

    return NGX_HTTP_FARM_KONG_JSON;
}


/* adds a response header; value NULL: Kong's "Upgrade" for a 426 */

ngx_int_t
ngx_http_farm_kong_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);

    if (value == NULL) {
        ngx_str_set(&h->value, "TLS/1.2, HTTP/1.1");

    } else {
        h->value = *value;
    }

    if (ngx_strcmp(name, "Location") == 0) {
        r->headers_out.location = h;
    }

    return NGX_OK;
}


/*
 * Kong's response headers on a proxied response: X-Kong-Request-Id,
 * X-Kong-Upstream-Latency (ms to the upstream's response header),
 * X-Kong-Proxy-Latency (ms before the upstream was contacted) and Via
 * (the upstream's, then this gateway, as Kong 3.8 does).  Kong's own
 * answers already carry their request id.
 */

ngx_int_t
ngx_http_farm_kong_header_filter(ngx_http_request_t *r)
{
    u_char                    *p;
    ngx_str_t                  value;
    ngx_msec_t                 ms;
    ngx_http_upstream_t       *u;
    ngx_http_farm_kong_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_kong_module);

    if (ctx == NULL || r != r->main) {
        return ngx_http_farm_kong_next_header_filter(r);
    }

    if (ngx_http_farm_kong_corrid_echo(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    /* hash_on cookie's new cookie, also on the gateway's own answers */

    if (ngx_http_farm_kong_cookie_set(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    /* cors: also on the gateway's own answers */

    if (ngx_http_farm_kong_cors_filter(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->answered) {
        return ngx_http_farm_kong_next_header_filter(r);
    }

    ngx_http_farm_kong_response_buffering(r, ctx);

    if (ngx_http_farm_kong_header(r, "X-Kong-Request-Id", &ctx->request_id)
        != NGX_OK
        || ngx_http_farm_kong_plugins_headers(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    u = r->upstream;

    if (u != NULL && r->err_status >= NGX_HTTP_INTERNAL_SERVER_ERROR
        && ngx_http_farm_kong_nginx_error(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (u == NULL || u->state == NULL
        || u->state->header_time == (ngx_msec_t) -1)
    {
        return ngx_http_farm_kong_next_header_filter(r);
    }

    p = ngx_pnalloc(r->pool, 2 * NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%M", u->state->header_time) - p;

    if (ngx_http_farm_kong_header(r, "X-Kong-Upstream-Latency", &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ms = ctx->before;

    if ((ngx_msec_int_t) (u->start_time - ctx->routed) > 0) {
        ms += u->start_time - ctx->routed;
    }

    value.data = p + NGX_INT_T_LEN;
    value.len = ngx_sprintf(value.data, "%M", ms) - value.data;

    if (ngx_http_farm_kong_header(r, "X-Kong-Proxy-Latency", &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_farm_kong_via(r) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_farm_kong_next_header_filter(r);
}


/* Via: "<upstream's>, 1.1 ngx_farm", or "1.1 ngx_farm" */

static ngx_int_t
ngx_http_farm_kong_via(ngx_http_request_t *r)
{
    u_char           *p;
    ngx_str_t         via;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_str_set(&via, NGX_HTTP_FARM_KONG_VIA);

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0 || h[i].key.len != sizeof("Via") - 1
                || ngx_strncasecmp(h[i].key.data, (u_char *) "Via",
                                   sizeof("Via") - 1)
                   != 0)
            {
                continue;
            }

            p = ngx_pnalloc(r->pool, h[i].value.len + 2 + via.len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            h[i].value.len = ngx_sprintf(p, "%V, %V", &h[i].value, &via) - p;
            h[i].value.data = p;

            return NGX_OK;
        }
    }

    return ngx_http_farm_kong_header(r, "Via", &via);
}


/*
 * nginx's own error page for a proxied request (the upstream refused,
 * failed or timed out) becomes Kong's error handler's answer: its message
 * for the status, in the negotiated type, with the request id.  The body
 * filter sends it in place of nginx's page.
 */

static ngx_int_t
ngx_http_farm_kong_nginx_error(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    size_t                      len;
    u_char                      msg[64];
    ngx_buf_t                  *b;
    ngx_http_farm_kong_body_t  *body;

    switch (r->headers_out.status) {

    case NGX_HTTP_INTERNAL_SERVER_ERROR:
        ngx_cpystrn(msg, (u_char *) "An unexpected error occurred",
                    sizeof(msg));
        break;

    case NGX_HTTP_BAD_GATEWAY:
        ngx_cpystrn(msg, (u_char *) "An invalid response was received from "
                    "the upstream server", sizeof(msg));
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        ngx_cpystrn(msg, (u_char *) "The upstream server is currently "
                    "unavailable", sizeof(msg));
        break;

    case NGX_HTTP_GATEWAY_TIME_OUT:
        ngx_cpystrn(msg, (u_char *) "The upstream server is timing out",
                    sizeof(msg));
        break;

    default:
        ngx_sprintf(msg, "The upstream server responded with %ui%Z",
                    r->headers_out.status);
    }

    body = &ngx_http_farm_kong_bodies[ngx_http_farm_kong_accept(r, 1)];

    len = ngx_strlen(body->format) + ngx_strlen(msg) + ctx->request_id.len;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_sprintf(b->pos, body->format, msg, &ctx->request_id);
    b->last_buf = 1;
    b->last_in_chain = 1;

    r->headers_out.content_type = body->content_type;
    r->headers_out.content_type_len = body->content_type.len;
    r->headers_out.content_length_n = b->last - b->pos;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ctx->error_body = b;

    return NGX_OK;
}


/* in place of nginx's error page: Kong's body, once */

ngx_int_t
ngx_http_farm_kong_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t                out, *cl;
    ngx_http_farm_kong_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_kong_module);

    if (ctx == NULL || ctx->error_body == NULL) {
        return ngx_http_farm_kong_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->error_sent || r->header_only) {
        return NGX_OK;
    }

    ctx->error_sent = 1;

    out.buf = ctx->error_body;
    out.next = NULL;

    return ngx_http_farm_kong_next_body_filter(r, &out);
}
