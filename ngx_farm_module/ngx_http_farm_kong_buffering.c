/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong: a route's request_buffering and response_buffering (Kong's
 * route fields, default true).  false turns nginx's buffering off for the
 * requests of that route only: the request body is streamed to the service
 * as it arrives (as proxy_request_buffering off does), the response is
 * sent to the client as it arrives (as proxy_buffering off does).  true
 * leaves the location's proxy_request_buffering and proxy_buffering (on
 * by default, as in Kong's template).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_farm_kong.h"


static ngx_int_t ngx_http_farm_kong_proxy_offset(ngx_module_t *m,
    const char *name, ngx_uint_t *offset);


/*
 * The proxy module, found by name rather than linked against, and where
 * its location configuration keeps proxy_http_version, proxy_set_body and
 * proxy_pass_request_body: the offsets its own directives write to, read
 * from its command table.  Without them request_buffering: false is not
 * applied (the body is buffered).
 */

ngx_int_t
ngx_http_farm_kong_buffering_init(ngx_conf_t *cf,
    ngx_http_farm_kong_main_conf_t *kmcf)
{
    ngx_uint_t     i;
    ngx_module_t  *m;

    kmcf->proxy.index = NGX_CONF_UNSET_UINT;

    for (i = 0; cf->cycle->modules[i]; i++) {
        m = cf->cycle->modules[i];

        if (m->type != NGX_HTTP_MODULE
            || ngx_strcmp(m->name, "ngx_http_proxy_module") != 0)
        {
            continue;
        }

        if (ngx_http_farm_kong_proxy_offset(m, "proxy_http_version",
                                            &kmcf->proxy.version)
               == NGX_OK
            && ngx_http_farm_kong_proxy_offset(m, "proxy_set_body",
                                               &kmcf->proxy.body)
               == NGX_OK
            && ngx_http_farm_kong_proxy_offset(m, "proxy_pass_request_body",
                                               &kmcf->proxy.pass_body)
               == NGX_OK)
        {
            kmcf->proxy.index = m->ctx_index;
        }

        break;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_proxy_offset(ngx_module_t *m, const char *name,
    ngx_uint_t *offset)
{
    size_t          len;
    ngx_command_t  *cmd;

    len = ngx_strlen(name);

    for (cmd = m->commands; cmd != NULL && cmd->name.len; cmd++) {
        if (cmd->name.len == len
            && ngx_strncmp(cmd->name.data, name, len) == 0
            && cmd->conf == NGX_HTTP_LOC_CONF_OFFSET)
        {
            *offset = cmd->offset;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * request_buffering: false, once the plugins are done with the request
 * (a plugin that read the body has buffered it: nginx then ignores the
 * flag).  Under the proxy module's own conditions for
 * proxy_request_buffering off: no proxy_set_body, the body passed on, and
 * a chunked body only with proxy_http_version 1.1 (an HTTP/1.0 request
 * cannot carry it chunked).
 */

void
ngx_http_farm_kong_request_buffering(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    u_char                          *plcf;
    ngx_str_t                       *body;
    ngx_flag_t                      *pass;
    ngx_uint_t                      *version;
    ngx_http_farm_kong_main_conf_t  *kmcf;

    if (ctx->match.route == NULL || ctx->match.route->request_buffering
        || r != r->main || r->request_body != NULL || r->discard_body)
    {
        return;
    }

    kmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_kong_module);

    if (kmcf->proxy.index == NGX_CONF_UNSET_UINT) {
        return;
    }

    plcf = r->loc_conf[kmcf->proxy.index];
    version = (ngx_uint_t *) (plcf + kmcf->proxy.version);
    body = (ngx_str_t *) (plcf + kmcf->proxy.body);
    pass = (ngx_flag_t *) (plcf + kmcf->proxy.pass_body);

    if (body->data != NULL || !*pass
        || (r->headers_in.chunked && *version != NGX_HTTP_VERSION_11))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "farm_kong: request_buffering false not applied");
        return;
    }

    r->request_body_no_buffering = 1;
}


/*
 * response_buffering: false, from the header filter: nginx reads
 * u->buffering just after sending the response header, to choose between
 * the buffered and the unbuffered way of passing the body on.  Here rather
 * than in the balancer's init so that it also holds for a service proxied
 * to an nginx upstream {} block.
 */

void
ngx_http_farm_kong_response_buffering(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    if (ctx->match.route != NULL && !ctx->match.route->response_buffering
        && r->upstream != NULL && !r->upstream->header_sent)
    {
        r->upstream->buffering = 0;
    }
}
