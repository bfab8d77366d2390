/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong, the request path: the rewrite phase handler that routes a
 * request by the Kong file (kong_match), the resolution of the service's or
 * the targets' host names on nginx's resolver, and the $farm_kong_*
 * variables the proxy_pass reads.  Kong's answers are in
 * ngx_http_farm_kong_answer.c, the balancer in ngx_http_farm_kong_balancer.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_farm_kong.h"


#define NGX_HTTP_FARM_KONG_MAX_HEADERS  100


static ngx_int_t ngx_http_farm_kong_route(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
static ngx_int_t ngx_http_farm_kong_request(ngx_http_request_t *r,
    kong_request_t *kr);
static ngx_int_t ngx_http_farm_kong_proxy(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, kong_request_t *kr);
static ngx_int_t ngx_http_farm_kong_add_addr(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, struct sockaddr *sa, socklen_t len,
    in_port_t port, ngx_str_t *host, ngx_uint_t weight, ngx_uint_t target);
static ngx_int_t ngx_http_farm_kong_resolve_next(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
static void ngx_http_farm_kong_resolved(ngx_resolver_ctx_t *rctx);
static void ngx_http_farm_kong_cleanup(void *data);
static ngx_int_t ngx_http_farm_kong_finish(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);


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
    kong_request_t                  kr;
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
        if (ctx->pending || ctx->rl_waiting || ctx->body_waiting) {
            return NGX_DONE;
        }

        if (ctx->rl_ctx || ctx->resume_plugins) {
            /* Redis answered for rate-limiting, or the body is read: the
             * plugins go on */

            rc = ngx_http_farm_kong_plugins(r, ctx);

            if (rc == NGX_DECLINED) {
                rc = (ngx_http_farm_kong_request(r, &kr) == NGX_OK)
                     ? ngx_http_farm_kong_proxy(r, ctx, &kr)
                     : NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (rc == NGX_AGAIN) {
                r->main->count++;
                return NGX_DONE;
            }

            if (rc != NGX_OK || ctx->answered) {
                return rc;
            }
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
    ngx_int_t              rc;
    ngx_str_t              host, location;
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

    ngx_http_farm_kong_forwarded_trust(r, ctx, &kr);

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
        rc = ngx_http_farm_kong_plugins(r, ctx);

        if (rc != NGX_DECLINED) {
            return rc;
        }

        return ngx_http_farm_kong_proxy(r, ctx, &kr);

    case NGX_HTTP_NOT_FOUND:
        return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                        "no Route matched with those values");

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        /* as in Kong, the plugins run first: request-termination answers
         * on a route without a service */
        rc = ngx_http_farm_kong_plugins(r, ctx);

        if (rc != NGX_DECLINED) {
            return rc;
        }

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
        host = r->headers_in.server;
        ngx_http_farm_kong_forwarded_host(r, ctx, &host);

        location.len = sizeof("https://") - 1 + host.len
                       + r->unparsed_uri.len;
        location.data = ngx_pnalloc(r->pool, location.len);
        if (location.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(location.data, "https://", sizeof("https://") - 1);
        p = ngx_cpymem(p, host.data, host.len);
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

    /* X-Forwarded-*: this request's, or a trusted client's (trusted_ips) */

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

    ngx_http_farm_kong_forwarded(r, ctx);

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

    /* Host: request-transformer's, the client's, or the upstream's
     * host_header, or the service's */

    if (ctx->xform_host.len) {
        ctx->host = ctx->xform_host;
        return ngx_http_farm_kong_resolve_next(r, ctx);
    }

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

ngx_int_t
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
 * The addresses are known: the balancer picks the first (its host is the
 * Host of a Kong upstream without host_header), or Kong's 503s.
 */

static ngx_int_t
ngx_http_farm_kong_finish(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    ngx_uint_t                  i;
    const kong_upstream_t      *u;
    ngx_http_farm_kong_peer_t  *peer;

    if (ctx->farm) {
        ngx_http_farm_kong_request_buffering(r, ctx);
        return NGX_DECLINED;
    }

    u = ctx->match.service->upstream;

    if (ctx->peers.nelts == 0 && ctx->names.nelts > 0) {
        return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "name resolution failed");
    }

    if (u == NULL && ctx->peers.nelts > 0) {
        ctx->start = 0;
        ngx_http_farm_kong_request_buffering(r, ctx);
        return NGX_DECLINED;
    }

    i = (u != NULL) ? ngx_http_farm_kong_pick(r, ctx) : NGX_CONF_UNSET_UINT;

    if (i == NGX_CONF_UNSET_UINT) {
        return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                "failure to get a peer from the ring-balancer");
    }

    ctx->start = i;
    peer = ctx->peers.elts;

    if (!ctx->match.route->preserve_host && u->host_header == NULL
        && ngx_http_farm_kong_set_host(r, ctx, &peer[i].host,
                                       ngx_inet_get_port(peer[i].sockaddr))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_farm_kong_request_buffering(r, ctx);

    return NGX_DECLINED;
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
