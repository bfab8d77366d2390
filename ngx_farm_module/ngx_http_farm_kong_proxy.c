/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong, the request path: the rewrite phase handler that routes a
 * request by the Kong file (kong_match), Kong's own answers (404, 503, 426,
 * the https redirects), the resolution of the service's or the targets'
 * host names on nginx's resolver, the $farm_kong_* variables the proxy_pass
 * reads, and the balancer of the implicit "farm_kong" upstream.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include "ngx_http_farm_kong.h"


#define NGX_HTTP_FARM_KONG_MAX_HEADERS  100

/* the bodies of Kong's own answers, by negotiated type */
#define NGX_HTTP_FARM_KONG_JSON         0
#define NGX_HTTP_FARM_KONG_HTML         1
#define NGX_HTTP_FARM_KONG_XML          2
#define NGX_HTTP_FARM_KONG_PLAIN        3


typedef struct {
    ngx_http_farm_kong_ctx_t     *ctx;
    ngx_http_request_t           *request;
    ngx_uint_t                   *active;    /* the count this try holds */
    ngx_http_farm_kong_health_t  *health;    /* this try's target */
    const kong_target_t          *target;
} ngx_http_farm_kong_peer_data_t;


typedef struct {
    ngx_str_t                  content_type;
    const char                *format;    /* message, then request id */
} ngx_http_farm_kong_body_t;


static ngx_int_t ngx_http_farm_kong_route(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
static ngx_int_t ngx_http_farm_kong_request(ngx_http_request_t *r,
    kong_request_t *kr);
static ngx_int_t ngx_http_farm_kong_proxy(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, kong_request_t *kr);
static ngx_int_t ngx_http_farm_kong_set_host(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *host, in_port_t port);
static ngx_int_t ngx_http_farm_kong_add_addr(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, struct sockaddr *sa, socklen_t len,
    in_port_t port, ngx_str_t *host, ngx_uint_t weight, ngx_uint_t target);
static ngx_int_t ngx_http_farm_kong_resolve_next(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
static void ngx_http_farm_kong_resolved(ngx_resolver_ctx_t *rctx);
static void ngx_http_farm_kong_cleanup(void *data);
static ngx_int_t ngx_http_farm_kong_finish(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
static ngx_int_t ngx_http_farm_kong_error(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_uint_t status, const char *message);
static ngx_uint_t ngx_http_farm_kong_pick_hash(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
static ngx_int_t ngx_http_farm_kong_hash_key(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, int on, const char *name, ngx_str_t *key);
static ngx_uint_t ngx_http_farm_kong_accept(ngx_http_request_t *r,
    ngx_uint_t nginx_error);
static void ngx_http_farm_kong_accept_value(u_char *p, u_char *end,
    ngx_int_t *best, ngx_uint_t *type);
static ngx_int_t ngx_http_farm_kong_nginx_error(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
static ngx_uint_t ngx_http_farm_kong_media_type(u_char *p, size_t len);
static ngx_int_t ngx_http_farm_kong_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_farm_kong_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_farm_kong_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_farm_kong_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_farm_kong_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_farm_kong_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif
static ngx_int_t ngx_http_farm_kong_via(ngx_http_request_t *r);
static void ngx_http_farm_kong_passive(ngx_http_farm_kong_peer_data_t *pd,
    ngx_peer_connection_t *pc, ngx_uint_t state);
static ngx_uint_t ngx_http_farm_kong_in(const kong_statuses_t *st,
    ngx_uint_t status);


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
 * The rewrite phase: route once (the request as received: not again after
 * an internal redirect), wait for the resolver if names are to be
 * resolved (NGX_DONE, the request held by a count), then let the proxy_pass
 * run or answer as Kong does.
 */

ngx_int_t
ngx_http_farm_kong_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_http_farm_kong_ctx_t       *ctx;
    ngx_http_farm_kong_loc_conf_t  *klcf;

    if (r != r->main || r->internal) {
        return NGX_DECLINED;
    }

    klcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_kong_module);

    if (klcf->conf == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_kong_module);

    if (ctx != NULL) {
        if (ctx->pending) {
            return NGX_DONE;
        }

        return ngx_http_farm_kong_finish(r, ctx);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_kong_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->conf = klcf->conf;
    ngx_http_set_ctx(r, ctx, ngx_http_farm_kong_module);

    rc = ngx_http_farm_kong_route(r, ctx);

    if (rc == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    if (rc != NGX_OK || ctx->answered) {
        return rc;
    }

    return ngx_http_farm_kong_finish(r, ctx);
}


/*
 * Matches the request and prepares the proxying.  Returns NGX_OK (the
 * addresses are known), NGX_AGAIN (the resolver will call back), or an
 * HTTP status or the rc of an answer already sent.
 */

static ngx_int_t
ngx_http_farm_kong_route(ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx)
{
    u_char                *buf, *p;
    size_t                 size;
    uint32_t               id[4];
    ngx_str_t              location;
    ngx_uint_t             i;
    ngx_time_t            *tp;
    kong_config_t         *kong;
    kong_request_t         kr;
    ngx_msec_int_t         ms;
    ngx_pool_cleanup_t    *cln;

    kong = ctx->conf->kong;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_farm_kong_cleanup;
    cln->data = ctx;

    /* the time spent before the rewrite phase, for X-Kong-Proxy-Latency */

    tp = ngx_timeofday();
    ctx->routed = ngx_current_msec;
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ctx->before = ms > 0 ? (ngx_msec_t) ms : 0;

    for (i = 0; i < 4; i++) {
        id[i] = (uint32_t) ngx_random();
    }

    ctx->request_id.data = ngx_pnalloc(r->pool, 32);
    if (ctx->request_id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_hex_dump(ctx->request_id.data, (u_char *) id, 16);
    ctx->request_id.len = 32;

    if (ngx_http_farm_kong_request(r, &kr) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    size = KONG_MATCH_BUF(kong, kr.uri_len);

    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (kong_match(kong, &kr, &ctx->match, (char *) buf, size) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (ctx->match.status) {

    case 0:
        return ngx_http_farm_kong_proxy(r, ctx, &kr);

    case NGX_HTTP_NOT_FOUND:
        return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                        "no Route matched with those values");

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "no Service found with those values");

    case 426:
        if (ngx_http_farm_kong_header(r, "Upgrade", NULL) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_farm_kong_error(r, ctx, 426,
                                        "Please use HTTPS protocol");

    default:
        /* 301, 302, 307, 308: to https on the same host and target */
        location.len = sizeof("https://") - 1 + r->headers_in.server.len
                       + r->unparsed_uri.len;
        location.data = ngx_pnalloc(r->pool, location.len);
        if (location.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(location.data, "https://", sizeof("https://") - 1);
        p = ngx_cpymem(p, r->headers_in.server.data,
                       r->headers_in.server.len);
        ngx_memcpy(p, r->unparsed_uri.data, r->unparsed_uri.len);

        if (ngx_http_farm_kong_header(r, "Location", &location) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_farm_kong_error(r, ctx, ctx->match.status, NULL);
    }
}


/* the request as kong_match sees it */

static ngx_int_t
ngx_http_farm_kong_request(ngx_http_request_t *r, kong_request_t *kr)
{
    ngx_uint_t        i, n;
    kong_header_t    *kh;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_memzero(kr, sizeof(kong_request_t));

    kr->method = (const char *) r->method_name.data;
    kr->method_len = r->method_name.len;

    if (r->headers_in.host != NULL) {
        kr->host = (const char *) r->headers_in.host->value.data;
        kr->host_len = r->headers_in.host->value.len;

    } else if (r->headers_in.server.len) {
        /* HTTP/2 :authority without a Host header */
        kr->host = (const char *) r->headers_in.server.data;
        kr->host_len = r->headers_in.server.len;
    }

    kr->uri = (const char *) r->unparsed_uri.data;
    kr->uri_len = r->unparsed_uri.len;

    if (ngx_connection_local_sockaddr(r->connection, NULL, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    kr->port = ngx_inet_get_port(r->connection->local_sockaddr);

#if (NGX_HTTP_SSL)
    if (r->connection->ssl != NULL) {
        kr->https = 1;
    }
#endif

    n = 0;
    part = &r->headers_in.headers.part;

    while (part != NULL) {
        n += part->nelts;
        part = part->next;
    }

    if (n > NGX_HTTP_FARM_KONG_MAX_HEADERS) {
        n = NGX_HTTP_FARM_KONG_MAX_HEADERS;
    }

    kh = ngx_palloc(r->pool, (n ? n : 1) * sizeof(kong_header_t));
    if (kh == NULL) {
        return NGX_ERROR;
    }

    kr->headers = kh;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts && kr->nheaders < n; i++) {
            kh[kr->nheaders].name = (const char *) h[i].key.data;
            kh[kr->nheaders].name_len = h[i].key.len;
            kh[kr->nheaders].value = (const char *) h[i].value.data;
            kh[kr->nheaders].value_len = h[i].value.len;
            kr->nheaders++;
        }
    }

    return NGX_OK;
}


/*
 * A matched route with a service: the variables, then the addresses: a
 * Kong upstream's targets (weight 0 left out), an nginx upstream {} block
 * named by the service's host (nginx balances it), or the service's host.
 */

static ngx_int_t
ngx_http_farm_kong_proxy(ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx,
    kong_request_t *kr)
{
    u_char                     *p, *q;
    size_t                      len;
    in_port_t                   port;
    ngx_str_t                   host;
    ngx_uint_t                  i;
    ngx_addr_t                  addr;
    const kong_target_t        *t;
    const kong_service_t       *s;
    const kong_upstream_t      *u;
    ngx_http_farm_kong_name_t  *name;

    s = ctx->match.service;
    u = s->upstream;

    if (ngx_array_init(&ctx->peers, r->pool, 4,
                       sizeof(ngx_http_farm_kong_peer_t))
        != NGX_OK
        || ngx_array_init(&ctx->names, r->pool, 2,
                          sizeof(ngx_http_farm_kong_name_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* $farm_kong_url: scheme://farm_kong or the nginx upstream, then URI */

    if (u == NULL && ctx->conf->farm[s->index]) {
        ctx->farm = 1;
        host.data = (u_char *) s->host;
        host.len = ngx_strlen(s->host);

    } else {
        ngx_str_set(&host, NGX_HTTP_FARM_KONG_UPSTREAM);
    }

    len = sizeof("https://") - 1 + host.len + ctx->match.upstream_uri_len;

    ctx->url.data = ngx_pnalloc(r->pool, len);
    if (ctx->url.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ctx->url.data;

    if (s->protocol == KONG_PROTO_HTTPS) {
        p = ngx_cpymem(p, "https://", sizeof("https://") - 1);

    } else {
        p = ngx_cpymem(p, "http://", sizeof("http://") - 1);
    }

    p = ngx_cpymem(p, host.data, host.len);
    p = ngx_cpymem(p, ctx->match.upstream_uri, ctx->match.upstream_uri_len);
    ctx->url.len = p - ctx->url.data;

    /* X-Forwarded-*: this request's, as Kong does without trusted_ips */

#if (NGX_HTTP_SSL)
    if (r->connection->ssl != NULL) {
        ngx_str_set(&ctx->fwd_proto, "https");

    } else
#endif
    {
        ngx_str_set(&ctx->fwd_proto, "http");
    }

    ctx->fwd_host = r->headers_in.server;

    ctx->fwd_port.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (ctx->fwd_port.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->fwd_port.len = ngx_sprintf(ctx->fwd_port.data, "%ui",
                                    (ngx_uint_t) kr->port)
                        - ctx->fwd_port.data;

    q = ngx_strlchr(r->unparsed_uri.data,
                    r->unparsed_uri.data + r->unparsed_uri.len, '?');
    ctx->fwd_path.data = r->unparsed_uri.data;
    ctx->fwd_path.len = q ? (size_t) (q - r->unparsed_uri.data)
                          : r->unparsed_uri.len;

    if (ctx->match.prefix != NULL) {
        ctx->fwd_prefix.data = (u_char *) ctx->match.prefix;
        ctx->fwd_prefix.len = ctx->match.prefix_len;
    }

    if (ctx->farm) {
        ctx->resolved = 1;
        return NGX_OK;
    }

    /* the addresses, or the names to resolve */

    if (u != NULL) {
        for (i = 0; i < u->ntargets; i++) {
            t = u->targets[i];

            if (t->weight == 0) {
                continue;
            }

            host.data = (u_char *) t->host;
            host.len = ngx_strlen(t->host);
            port = (in_port_t) t->port;

            if (ngx_parse_addr(r->pool, &addr, host.data, host.len)
                == NGX_OK)
            {
                if (ngx_http_farm_kong_add_addr(r, ctx, addr.sockaddr,
                                                addr.socklen, port, &host,
                                                t->weight, i)
                    != NGX_OK)
                {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                continue;
            }

            name = ngx_array_push(&ctx->names);
            if (name == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            name->host = host;
            name->port = port;
            name->weight = t->weight;
            name->target = i;
        }

    } else {
        host.data = (u_char *) s->host;
        host.len = ngx_strlen(s->host);
        port = (in_port_t) s->port;

        if (ngx_parse_addr(r->pool, &addr, host.data, host.len) == NGX_OK) {
            if (ngx_http_farm_kong_add_addr(r, ctx, addr.sockaddr,
                                            addr.socklen, port, &host, 1, 0)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

        } else {
            name = ngx_array_push(&ctx->names);
            if (name == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            name->host = host;
            name->port = port;
            name->weight = 1;
            name->target = 0;
        }
    }

    /* Host: the client's, or the upstream's host_header, or the service's */

    if (ctx->match.route->preserve_host && r->headers_in.host != NULL) {
        ctx->host = r->headers_in.host->value;
        return ngx_http_farm_kong_resolve_next(r, ctx);
    }

    if (u != NULL && u->host_header != NULL) {
        host.data = (u_char *) u->host_header;
        host.len = ngx_strlen(u->host_header);
        port = 0;

    } else {
        host.data = (u_char *) s->host;
        host.len = ngx_strlen(s->host);
        port = (in_port_t) s->port;
    }

    if (ngx_http_farm_kong_set_host(r, ctx, &host, port) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_farm_kong_resolve_next(r, ctx);
}


/* Host: the name, with ":port" when the port is not the scheme's default */

static ngx_int_t
ngx_http_farm_kong_set_host(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *host, in_port_t port)
{
    in_port_t  dflt;

    dflt = (ctx->match.service->protocol == KONG_PROTO_HTTPS) ? 443 : 80;

    if (port == 0 || port == dflt) {
        ctx->host = *host;
        return NGX_OK;
    }

    ctx->host.data = ngx_pnalloc(r->pool, host->len + NGX_INT_T_LEN + 1);
    if (ctx->host.data == NULL) {
        return NGX_ERROR;
    }

    ctx->host.len = ngx_sprintf(ctx->host.data, "%V:%ui", host,
                                (ngx_uint_t) port)
                    - ctx->host.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_add_addr(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, struct sockaddr *sa, socklen_t len,
    in_port_t port, ngx_str_t *host, ngx_uint_t weight, ngx_uint_t target)
{
    u_char                     *p;
    struct sockaddr            *copy;
    ngx_http_farm_kong_peer_t  *peer;

    copy = ngx_palloc(r->pool, len);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(copy, sa, len);
    ngx_inet_set_port(copy, port);

    p = ngx_pnalloc(r->pool, NGX_SOCKADDR_STRLEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    peer = ngx_array_push(&ctx->peers);
    if (peer == NULL) {
        return NGX_ERROR;
    }

    peer->sockaddr = copy;
    peer->socklen = len;
    peer->name.data = p;
    peer->name.len = ngx_sock_ntop(copy, len, p, NGX_SOCKADDR_STRLEN, 1);
    peer->host = *host;
    peer->weight = weight;
    peer->target = target;

    return NGX_OK;
}


/*
 * Resolves the names left, one after the other, on the location's
 * resolver.  Returns NGX_OK when every name is done (resolved or failed),
 * NGX_AGAIN when the resolver will call back.  A cached answer calls back
 * at once, inside ngx_resolve_name: ctx->sync tells the callback so.
 */

static ngx_int_t
ngx_http_farm_kong_resolve_next(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    ngx_resolver_ctx_t         *rctx;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_farm_kong_name_t  *name;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    while (ctx->next_name < ctx->names.nelts) {
        name = (ngx_http_farm_kong_name_t *) ctx->names.elts
               + ctx->next_name;

        rctx = ngx_resolve_start(clcf->resolver, NULL);
        if (rctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rctx == NGX_NO_RESOLVER) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "farm_kong: no resolver defined to resolve %V",
                          &name->host);
            ctx->next_name++;
            continue;
        }

        rctx->name = name->host;
        rctx->handler = ngx_http_farm_kong_resolved;
        rctx->data = r;
        rctx->timeout = clcf->resolver_timeout;

        ctx->rctx = rctx;
        ctx->pending = 1;
        ctx->sync = 1;

        if (ngx_resolve_name(rctx) != NGX_OK) {
            ctx->rctx = NULL;
            ctx->pending = 0;
            ctx->sync = 0;
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->sync = 0;

        if (ctx->pending) {
            return NGX_AGAIN;
        }
    }

    ctx->resolved = 1;

    return NGX_OK;
}


static void
ngx_http_farm_kong_resolved(ngx_resolver_ctx_t *rctx)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_farm_kong_ctx_t   *ctx;
    ngx_http_farm_kong_name_t  *name;

    r = rctx->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_kong_module);

    name = (ngx_http_farm_kong_name_t *) ctx->names.elts + ctx->next_name;

    if (rctx->state) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "farm_kong: %V could not be resolved (%i: %s)",
                      &name->host, rctx->state,
                      ngx_resolver_strerror(rctx->state));

    } else {
        for (i = 0; i < rctx->naddrs; i++) {
            if (ngx_http_farm_kong_add_addr(r, ctx, rctx->addrs[i].sockaddr,
                                            rctx->addrs[i].socklen,
                                            name->port, &name->host,
                                            name->weight, name->target)
                != NGX_OK)
            {
                break;
            }
        }
    }

    ngx_resolve_name_done(rctx);

    ctx->rctx = NULL;
    ctx->next_name++;
    ctx->pending = 0;

    if (ctx->sync) {
        return;
    }

    rc = ngx_http_farm_kong_resolve_next(r, ctx);

    if (rc == NGX_AGAIN) {
        return;
    }

    r->main->count--;

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);

    } else {
        ngx_http_core_run_phases(r);
    }

    ngx_http_run_posted_requests(c);
}


/*
 * consistent-hashing: the key from hash_on, else from hash_fallback; then
 * the target by weighted rendezvous hashing (each target scores
 * -ln(hash(key, target)) / weight, the lowest wins), so a key keeps its
 * target while the targets stay, and a removed target's keys spread over
 * the others.  Kong uses a ring of slots instead: the same stickiness, a
 * different mapping.  Returns the peer, or NGX_CONF_UNSET_UINT when there
 * is no key (the caller balances by round robin).
 */

static ngx_uint_t
ngx_http_farm_kong_pick_hash(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    double                      score, low;
    uint32_t                    crc, h;
    ngx_str_t                   key;
    ngx_uint_t                  i, n, best;
    const kong_target_t        *t;
    const kong_upstream_t      *u;
    ngx_http_farm_kong_peer_t  *peer;

    u = ctx->match.service->upstream;

    if (ngx_http_farm_kong_hash_key(r, ctx, u->hash_on, NULL, &key) != NGX_OK
        && ngx_http_farm_kong_hash_key(r, ctx, u->hash_fallback, "fallback",
                                       &key)
           != NGX_OK)
    {
        return NGX_CONF_UNSET_UINT;
    }

    peer = ctx->peers.elts;
    best = NGX_CONF_UNSET_UINT;
    low = 0;

    for (i = 0; i < ctx->peers.nelts; i++) {
        if (i > 0 && peer[i - 1].target == peer[i].target) {
            continue;
        }

        t = u->targets[peer[i].target];

        ngx_crc32_init(crc);
        ngx_crc32_update(&crc, key.data, key.len);
        ngx_crc32_update(&crc, (u_char *) "\n", 1);
        ngx_crc32_update(&crc, (u_char *) t->target, ngx_strlen(t->target));
        ngx_crc32_final(crc);

        score = -log((crc + 1.0) / 4294967297.0) / (double) peer[i].weight;

        if (best == NGX_CONF_UNSET_UINT || score < low) {
            best = i;
            low = score;
        }
    }

    for (n = 1; best + n < ctx->peers.nelts; n++) {
        if (peer[best + n].target != peer[best].target) {
            break;
        }
    }

    h = ngx_crc32_short(key.data, key.len);

    return best + h % n;
}


/*
 * The hash key of a hash_on or hash_fallback choice: the client address,
 * a header, a cookie, a query argument, or the normalized path.  A
 * consumer or a URI capture is not available yet.  NGX_DECLINED when
 * the request has no such value.
 */

static ngx_int_t
ngx_http_farm_kong_hash_key(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, int on, const char *fallback,
    ngx_str_t *key)
{
    ngx_str_t               name;
    ngx_uint_t              i;
    const char             *field;
    ngx_list_part_t        *part;
    ngx_table_elt_t        *h;
    const kong_upstream_t  *u;

    u = ctx->match.service->upstream;
    key->len = 0;

    switch (on) {

    case KONG_HASH_IP:
        *key = r->connection->addr_text;
        break;

    case KONG_HASH_PATH:
        key->data = (u_char *) ctx->match.path;
        key->len = ctx->match.path_len;
        break;

    case KONG_HASH_HEADER:
        field = fallback ? u->hash_fallback_header : u->hash_on_header;
        if (field == NULL) {
            return NGX_DECLINED;
        }

        for (part = &r->headers_in.headers.part; part; part = part->next) {
            h = part->elts;

            for (i = 0; i < part->nelts; i++) {
                if (h[i].key.len == ngx_strlen(field)
                    && ngx_strncasecmp(h[i].key.data, (u_char *) field,
                                       h[i].key.len)
                       == 0)
                {
                    *key = h[i].value;
                    goto done;
                }
            }
        }

        break;

    case KONG_HASH_QUERY_ARG:
        field = fallback ? u->hash_fallback_query_arg : u->hash_on_query_arg;
        if (field == NULL
            || ngx_http_arg(r, (u_char *) field, ngx_strlen(field), key)
               != NGX_OK)
        {
            return NGX_DECLINED;
        }

        break;

    case KONG_HASH_COOKIE:
        if (u->hash_on_cookie == NULL) {
            return NGX_DECLINED;
        }

        name.data = (u_char *) u->hash_on_cookie;
        name.len = ngx_strlen(u->hash_on_cookie);

#if (nginx_version >= 1023000)
        if (ngx_http_parse_multi_header_lines(r, r->headers_in.cookie, &name,
                                              key)
            == NULL)
        {
            return NGX_DECLINED;
        }
#else
        if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &name,
                                              key)
            == NGX_DECLINED)
        {
            return NGX_DECLINED;
        }
#endif

        break;

    default:
        return NGX_DECLINED;
    }

done:

    return key->len ? NGX_OK : NGX_DECLINED;
}


/* the request ends while the resolver works for it */

static void
ngx_http_farm_kong_cleanup(void *data)
{
    ngx_http_farm_kong_ctx_t  *ctx = data;

    if (ctx->rctx != NULL) {
        ngx_resolve_name_done(ctx->rctx);
        ctx->rctx = NULL;
    }
}


/*
 * The addresses are known: pick the first by weighted round robin (its
 * host is the Host of a Kong upstream without host_header), or answer
 * Kong's 503s.
 */

static ngx_int_t
ngx_http_farm_kong_finish(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    ngx_int_t                    *cw, total;
    ngx_uint_t                    i, n, best, least, *active;
    const kong_upstream_t        *u;
    ngx_http_farm_kong_peer_t    *peer;
    ngx_http_farm_kong_health_t  *health;

    if (ctx->farm) {
        return NGX_DECLINED;
    }

    u = ctx->match.service->upstream;
    peer = ctx->peers.elts;

    if (ctx->peers.nelts == 0) {
        if (ctx->names.nelts > 0) {
            return ngx_http_farm_kong_error(r, ctx,
                                            NGX_HTTP_SERVICE_UNAVAILABLE,
                                            "name resolution failed");
        }

        return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "failure to get a peer from the ring-balancer");
    }

    if (u == NULL) {
        ctx->start = 0;
        return NGX_DECLINED;
    }

    /* passive health: the targets marked down leave this request's list */

    health = ctx->conf->health + ctx->conf->cw_off[u->index];

    for (i = 0, n = 0; i < ctx->peers.nelts; i++) {
        if (!health[peer[i].target].down) {
            peer[n++] = peer[i];
        }
    }

    ctx->peers.nelts = n;

    if (n == 0) {
        return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "failure to get a peer from the ring-balancer");
    }

    /*
     * Smooth weighted round robin over the targets (nginx's), each
     * target's weight kept per worker; least-connections first keeps the
     * targets with the fewest connections of this worker per weight.
     * Then the chosen target's addresses in turn.
     */

    if (u->algorithm == KONG_ALG_CONSISTENT_HASHING) {
        i = ngx_http_farm_kong_pick_hash(r, ctx);

        if (i != NGX_CONF_UNSET_UINT) {
            goto found;
        }
    }

    cw = ctx->conf->cw + ctx->conf->cw_off[u->index];
    active = ctx->conf->active + ctx->conf->cw_off[u->index];
    least = NGX_CONF_UNSET_UINT;

    if (u->algorithm == KONG_ALG_LEAST_CONNECTIONS) {
        for (i = 0; i < ctx->peers.nelts; i++) {
            if (least == NGX_CONF_UNSET_UINT
                || active[peer[i].target] * peer[least].weight
                   < active[peer[least].target] * peer[i].weight)
            {
                least = i;
            }
        }
    }

    best = NGX_CONF_UNSET_UINT;
    total = 0;

    for (i = 0; i < ctx->peers.nelts; i++) {
        if (i > 0 && peer[i - 1].target == peer[i].target) {
            continue;
        }

        if (least != NGX_CONF_UNSET_UINT
            && active[peer[i].target] * peer[least].weight
               != active[peer[least].target] * peer[i].weight)
        {
            continue;
        }

        cw[peer[i].target] += peer[i].weight;
        total += peer[i].weight;

        if (best == NGX_CONF_UNSET_UINT
            || cw[peer[i].target] > cw[peer[best].target])
        {
            best = i;
        }
    }

    cw[peer[best].target] -= total;

    for (n = 1; best + n < ctx->peers.nelts; n++) {
        if (peer[best + n].target != peer[best].target) {
            break;
        }
    }

    i = best + ctx->conf->rr[u->index]++ % n;

found:

    ctx->start = i;

    if (!ctx->match.route->preserve_host && u->host_header == NULL
        && ngx_http_farm_kong_set_host(r, ctx, &peer[i].host,
                                       ngx_inet_get_port(peer[i].sockaddr))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * Kong's kong.response.error(): the body in the type the client accepts,
 * with the request id (a redirect has none), and X-Kong-Request-Id.
 */

static ngx_int_t
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

static ngx_int_t
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


/* $farm_kong_url, $farm_kong_host, ...: data is the field's offset */

ngx_int_t
ngx_http_farm_kong_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 *s;
    ngx_http_farm_kong_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_farm_kong_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) ctx + data);

    if (s->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* ---- the implicit "farm_kong" upstream ---------------------------------- */

ngx_int_t
ngx_http_farm_kong_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    us->peer.init = ngx_http_farm_kong_init_peer;

    return NGX_OK;
}


/*
 * Per request: the addresses found by the rewrite phase, the service's
 * retries and timeouts (on a copy of the location's upstream settings),
 * the service host as the TLS server name.
 */

static ngx_int_t
ngx_http_farm_kong_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_t             *u;
    const kong_service_t            *s;
    ngx_http_farm_kong_ctx_t        *ctx;
    ngx_http_upstream_conf_t        *conf;
    ngx_http_farm_kong_peer_data_t  *pd;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_farm_kong_module);

    if (ctx == NULL || !ctx->resolved || ctx->peers.nelts == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "farm_kong: upstream \"%s\" used without a farm_kong "
                      "route", NGX_HTTP_FARM_KONG_UPSTREAM);
        return NGX_ERROR;
    }

    u = r->upstream;
    s = ctx->match.service;

    pd = ngx_palloc(r->pool, sizeof(ngx_http_farm_kong_peer_data_t));
    conf = ngx_palloc(r->pool, sizeof(ngx_http_upstream_conf_t));
    if (pd == NULL || conf == NULL) {
        return NGX_ERROR;
    }

    *conf = *u->conf;
    conf->connect_timeout = s->connect_timeout;
    conf->send_timeout = s->write_timeout;
    conf->read_timeout = s->read_timeout;
    conf->next_upstream_tries = s->retries + 1;
    u->conf = conf;

#if (NGX_HTTP_SSL)
    u->ssl_name.data = (u_char *) s->host;
    u->ssl_name.len = ngx_strlen(s->host);
#endif

    pd->ctx = ctx;
    pd->request = r;
    pd->active = NULL;
    pd->health = NULL;
    pd->target = NULL;

    u->peer.data = pd;
    u->peer.get = ngx_http_farm_kong_get_peer;
    u->peer.free = ngx_http_farm_kong_free_peer;
#if (NGX_HTTP_SSL)
    u->peer.set_session = ngx_http_farm_kong_set_session;
    u->peer.save_session = ngx_http_farm_kong_save_session;
#endif
    u->peer.tries = s->retries + 1;

    return NGX_OK;
}


/* the first pick, then the next address at each retry */

static ngx_int_t
ngx_http_farm_kong_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_farm_kong_peer_data_t  *pd = data;

    ngx_uint_t                  i;
    const kong_upstream_t      *u;
    ngx_http_farm_kong_ctx_t   *ctx;
    ngx_http_farm_kong_peer_t  *peer;

    ctx = pd->ctx;
    peer = ctx->peers.elts;

    i = (ctx->start + ctx->tried) % ctx->peers.nelts;

    pc->sockaddr = peer[i].sockaddr;
    pc->socklen = peer[i].socklen;
    pc->name = &peer[i].name;
    pc->cached = 0;
    pc->connection = NULL;

    u = ctx->match.service->upstream;

    if (u != NULL) {
        pd->active = ctx->conf->active + ctx->conf->cw_off[u->index]
                     + peer[i].target;
        pd->health = ctx->conf->health + ctx->conf->cw_off[u->index]
                     + peer[i].target;
        pd->target = u->targets[peer[i].target];
        (*pd->active)++;
    }

    return NGX_OK;
}


static void
ngx_http_farm_kong_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_farm_kong_peer_data_t  *pd = data;

    if (pd->active != NULL) {
        (*pd->active)--;
        pd->active = NULL;
    }

    if (pd->health != NULL) {
        ngx_http_farm_kong_passive(pd, pc, state);
        pd->health = NULL;
    }

    pd->ctx->tried++;

    if (pc->tries) {
        pc->tries--;
    }
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

    if (ctx == NULL || ctx->answered || r != r->main) {
        return ngx_http_farm_kong_next_header_filter(r);
    }

    if (ngx_http_farm_kong_header(r, "X-Kong-Request-Id", &ctx->request_id)
        != NGX_OK)
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


#if (NGX_HTTP_SSL)

/*
 * TLS to a service: nginx asks the balancer for a session to reuse and
 * hands it the new one; the addresses are per request, so there is none
 * to keep (each connection makes a full handshake).
 */

static ngx_int_t
ngx_http_farm_kong_set_session(ngx_peer_connection_t *pc, void *data)
{
    return NGX_OK;
}


static void
ngx_http_farm_kong_save_session(ngx_peer_connection_t *pc, void *data)
{
    return;
}

#endif


/*
 * healthchecks.passive, per worker: consecutive TCP failures, timeouts
 * and unhealthy statuses of the proxied traffic mark a target down once a
 * threshold (0 = off) is reached; a healthy status resets the counts.  As
 * in Kong without active checks, a down target stays down (here: until the
 * next reload).
 */

static void
ngx_http_farm_kong_passive(ngx_http_farm_kong_peer_data_t *pd,
    ngx_peer_connection_t *pc, ngx_uint_t state)
{
    ngx_uint_t                    status, *count, limit;
    const char                   *what;
    ngx_connection_t             *c;
    ngx_http_upstream_t          *u;
    const kong_upstream_t        *ku;
    const kong_passive_check_t   *pc_;
    ngx_http_farm_kong_health_t  *hp;

    ku = pd->ctx->match.service->upstream;
    pc_ = &ku->healthchecks.passive;
    hp = pd->health;
    u = pd->request->upstream;

    status = (u != NULL) ? u->headers_in.status_n : 0;

    if (status != 0) {
        if (pc_->type == KONG_PROTO_TCP) {
            return;
        }

        if (ngx_http_farm_kong_in(&pc_->unhealthy_http_statuses, status)) {
            count = &hp->http_failures;
            limit = pc_->unhealthy_http_failures;
            what = "HTTP failures";

        } else {
            if (ngx_http_farm_kong_in(&pc_->healthy_http_statuses, status)) {
                hp->tcp_failures = 0;
                hp->timeouts = 0;
                hp->http_failures = 0;
            }

            return;
        }

    } else if (state & NGX_PEER_FAILED) {
        c = pc->connection;

        if (c != NULL && (c->read->timedout || c->write->timedout)) {
            count = &hp->timeouts;
            limit = pc_->unhealthy_timeouts;
            what = "timeouts";

        } else {
            count = &hp->tcp_failures;
            limit = pc_->unhealthy_tcp_failures;
            what = "TCP failures";
        }

    } else {
        return;
    }

    (*count)++;

    if (limit == 0 || *count < limit || hp->down) {
        return;
    }

    hp->down = 1;

    ngx_log_error(NGX_LOG_WARN, pd->request->connection->log, 0,
                  "farm_kong: upstream \"%s\" target \"%s\" is unhealthy "
                  "after %ui %s (passive health check)",
                  ku->name, pd->target->target, *count, what);
}


static ngx_uint_t
ngx_http_farm_kong_in(const kong_statuses_t *st, ngx_uint_t status)
{
    size_t  i;

    for (i = 0; i < st->n; i++) {
        if (st->items[i] == status) {
            return 1;
        }
    }

    return 0;
}
