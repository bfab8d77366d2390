/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong, kept-alive connections to the services and targets: the
 * implicit "farm_kong" upstream every farm_kong proxy_pass names can be
 * written as a block, so that nginx's own keepalive module keeps the
 * connections:
 *
 *     upstream farm_kong {
 *         farm_kong_upstream;       first: the balancer of the Kong routes
 *         keepalive 32;             then nginx's keepalive over it
 *     }
 *
 * (before the servers that use farm_kong).  nginx's keepalive asks this
 * balancer for the request's address, then reuses an idle connection to
 * that same address if it has one, and keeps the connection after the
 * response; the locations need `proxy_http_version 1.1;` and
 * `proxy_set_header Connection "";` for it, as for any nginx upstream.
 */


#include "ngx_http_farm_kong.h"


char *
ngx_http_farm_kong_upstream(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_upstream_server_t      *us;
    ngx_http_upstream_srv_conf_t    *uscf;
    ngx_http_farm_kong_main_conf_t  *kmcf;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);
    kmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_kong_module);

    if (uscf->host.len != sizeof(NGX_HTTP_FARM_KONG_UPSTREAM) - 1
        || ngx_strncasecmp(uscf->host.data,
                           (u_char *) NGX_HTTP_FARM_KONG_UPSTREAM,
                           uscf->host.len)
           != 0)
    {
        return "is allowed only in \"upstream " NGX_HTTP_FARM_KONG_UPSTREAM
               " { }\"";
    }

    if (kmcf->upstream_added) {
        return "is duplicate";
    }

    if (uscf->peer.init_upstream != NULL) {
        return "must come before the block's other balancing directives "
               "(keepalive, ...)";
    }

    /*
     * nginx wants a server in every upstream block; the addresses are the
     * request's, so this one has none and is never used
     */

    us = ngx_array_push(uscf->servers);
    if (us == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(us, sizeof(ngx_http_upstream_server_t));
    ngx_str_set(&us->name, NGX_HTTP_FARM_KONG_UPSTREAM);
    us->weight = 1;

    uscf->peer.init_upstream = ngx_http_farm_kong_init_upstream;
    kmcf->upstream_added = 1;

    return NGX_CONF_OK;
}
