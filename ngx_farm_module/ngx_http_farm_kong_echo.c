
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * request-termination with echo: true.  The request body is read first;
 * then the engine (kong-compat/kong_echo.c) writes what the gateway saw of
 * the request as Kong's JSON, answered with the configured status.
 */


#include "ngx_http_farm_kong.h"
#include "ngx_http_farm_kong_engine.h"
#include "kong_echo.h"


static ngx_uint_t ngx_http_farm_kong_echo_in_file(ngx_http_request_t *r);


ngx_int_t
ngx_http_farm_kong_echo(ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx,
    const kong_request_termination_conf_t *conf)
{
    char                       node_id[37], *out;
    u_char                    *host, *q;
    size_t                     len;
    ngx_str_t                  type, body, raw;
    kong_echo_request_t        req;
    kong_xform_request_t       caps;
    ngx_http_core_srv_conf_t  *cscf;

    if (!ctx->body_read) {
        return ngx_http_farm_kong_read_body(r, ctx,
                                            KONG_PLUGIN_REQUEST_TERMINATION);
    }

    ngx_memzero(&req, sizeof(kong_echo_request_t));
    ngx_memzero(&caps, sizeof(kong_xform_request_t));

    req.message = conf->message ? conf->message
                  : kong_echo_default_message(conf->status_code);

    /* kong.node.get_id(): see kong_echo_node_id() and docs/kong.md */

    host = ngx_pnalloc(r->pool, ngx_cycle->hostname.len + 1);
    if (host == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cpystrn(host, ngx_cycle->hostname.data, ngx_cycle->hostname.len + 1);

    if (kong_echo_node_id((char *) host, node_id) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    req.node_id = node_id;
    req.worker_pid = (long) ngx_pid;
    req.hostname = (const char *) host;

#if (NGX_HTTP_SSL)
    req.scheme = r->connection->ssl ? "https" : "http";
#else
    req.scheme = "http";
#endif

    /* $host: the request's host without its port, else the server name */

    if (r->headers_in.server.len) {
        req.host = (const char *) r->headers_in.server.data;
        req.host_len = r->headers_in.server.len;

    } else {
        cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
        req.host = (const char *) cscf->server_name.data;
        req.host_len = cscf->server_name.len;
    }

    if (ngx_connection_local_sockaddr(r->connection, NULL, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    req.port = ngx_inet_get_port(r->connection->local_sockaddr);

    req.headers = ngx_http_farm_kong_engine_headers(r, &req.nheaders);
    if (req.headers == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the arguments as earlier plugins left them (hide_credentials,
     * request-transformer), as request-transformer reads them; a route
     * without a service has no upstream URI: the client's */

    if (ctx->match.upstream_uri == NULL) {
        req.args = (const char *) r->args.data;
        req.args_len = r->args.len;

    } else {
        q = ngx_strlchr((u_char *) ctx->match.upstream_uri,
                        (u_char *) ctx->match.upstream_uri
                        + ctx->match.upstream_uri_len, '?');

        if (q != NULL) {
            req.args = (const char *) q + 1;
            req.args_len = (u_char *) ctx->match.upstream_uri
                           + ctx->match.upstream_uri_len - (q + 1);
        }
    }

    req.method = (const char *) r->method_name.data;
    req.method_len = r->method_name.len;
    req.path = ctx->match.path;
    req.path_len = ctx->match.path_len;

    /* get_raw_body(): a body past client_body_buffer_size, in a temporary
     * file, is not read (Kong: nil and an error), so neither raw_body nor
     * body is there */

    if (ngx_http_farm_kong_echo_in_file(r)) {
        req.body_unread = 1;

    } else if (r->request_body != NULL && r->request_body->bufs != NULL) {
        if (ngx_http_farm_kong_xform_body(r, &raw) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        req.body = (const char *) raw.data;
        req.body_len = raw.len;
    }

    if (ngx_http_farm_kong_xform_captures(r, ctx, &caps) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    req.captures = caps.captures;
    req.ncaptures = caps.ncaptures;
    req.route = ctx->match.route;
    req.service = ctx->match.service;
    req.loaded = (int64_t) ctx->conf->loaded;

    out = kong_echo_body(&req, &len);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        free(out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body.data, out, len);
    body.len = len;
    free(out);

    ngx_str_set(&type, KONG_ECHO_CONTENT_TYPE);

    return ngx_http_farm_kong_exit(r, ctx, conf->status_code, &type, &body);
}


static ngx_uint_t
ngx_http_farm_kong_echo_in_file(ngx_http_request_t *r)
{
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        return 0;
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            return 1;
        }
    }

    return 0;
}
