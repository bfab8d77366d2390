/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong: Kong's trusted_ips for the X-Forwarded-* headers.  Kong's
 * trusted_ips is, in its own nginx template, the realip module's
 * set_real_ip_from; here the farm_kong server writes set_real_ip_from
 * itself (docs/kong.md, "Behind a proxy").  A client whose own address
 * (before realip replaced it: $realip_remote_addr) is in that list is
 * trusted, as Kong's kong.ip.is_trusted(realip_remote_addr) decides: its
 * X-Forwarded-Proto, -Host, -Port, -Path and -Prefix are passed on to the
 * service, and its X-Forwarded-Proto and -Host count for the https-only
 * check and its redirect.  Any other client's are replaced by this
 * gateway's values.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_farm_kong.h"


static ngx_uint_t ngx_http_farm_kong_trusted(ngx_http_request_t *r);
static void ngx_http_farm_kong_client_value(ngx_http_request_t *r,
    char *name, ngx_str_t *value);


/*
 * The realip module, found by name rather than linked against: its
 * location configuration keeps the set_real_ip_from list (an array of
 * ngx_cidr_t) in its first field, where that directive's command writes
 * (its offset is 0): the one place this reads the realip module's layout.
 */

ngx_int_t
ngx_http_farm_kong_forwarded_init(ngx_conf_t *cf,
    ngx_http_farm_kong_main_conf_t *kmcf)
{
    ngx_uint_t      i;
    ngx_module_t   *m;
    ngx_command_t  *cmd;

    kmcf->realip_index = NGX_CONF_UNSET_UINT;

    for (i = 0; cf->cycle->modules[i]; i++) {
        m = cf->cycle->modules[i];

        if (m->type != NGX_HTTP_MODULE
            || ngx_strcmp(m->name, "ngx_http_realip_module") != 0)
        {
            continue;
        }

        for (cmd = m->commands; cmd != NULL && cmd->name.len; cmd++) {
            if (cmd->name.len == sizeof("set_real_ip_from") - 1
                && ngx_strncmp(cmd->name.data, "set_real_ip_from",
                               cmd->name.len)
                   == 0
                && cmd->conf == NGX_HTTP_LOC_CONF_OFFSET
                && cmd->offset == 0)
            {
                kmcf->realip_index = m->ctx_index;
            }
        }

        break;
    }

    return NGX_OK;
}


/* before routing: is the client trusted; its X-Forwarded-Proto: https */

void
ngx_http_farm_kong_forwarded_trust(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, kong_request_t *kr)
{
    ngx_str_t  proto;

    ctx->trusted = ngx_http_farm_kong_trusted(r);

    if (!ctx->trusted) {
        return;
    }

    ngx_str_null(&proto);
    ngx_http_farm_kong_client_value(r, "X-Forwarded-Proto", &proto);

    if (proto.len == sizeof("https") - 1
        && ngx_strncasecmp(proto.data, (u_char *) "https", proto.len) == 0)
    {
        kr->forwarded_https = 1;
    }
}


/* the host of the https redirect: the trusted client's X-Forwarded-Host */

void
ngx_http_farm_kong_forwarded_host(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *host)
{
    if (ctx->trusted) {
        ngx_http_farm_kong_client_value(r, "X-Forwarded-Host", host);
    }
}


/*
 * After the gateway's own values are set: a trusted client's replace
 * them, each only when the client sent it (Kong's "or" of the header and
 * the gateway's value).
 */

void
ngx_http_farm_kong_forwarded(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    if (!ctx->trusted) {
        return;
    }

    ngx_http_farm_kong_client_value(r, "X-Forwarded-Proto", &ctx->fwd_proto);
    ngx_http_farm_kong_client_value(r, "X-Forwarded-Host", &ctx->fwd_host);
    ngx_http_farm_kong_client_value(r, "X-Forwarded-Port", &ctx->fwd_port);
    ngx_http_farm_kong_client_value(r, "X-Forwarded-Path", &ctx->fwd_path);
    ngx_http_farm_kong_client_value(r, "X-Forwarded-Prefix",
                                    &ctx->fwd_prefix);
}


/* the client's own address (not realip's) in set_real_ip_from */

static ngx_uint_t
ngx_http_farm_kong_trusted(ngx_http_request_t *r)
{
    ngx_str_t                        name;
    ngx_addr_t                       addr;
    ngx_array_t                     *from;
    ngx_http_variable_value_t       *v;
    ngx_http_farm_kong_main_conf_t  *kmcf;

    kmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_kong_module);

    if (kmcf->realip_index == NGX_CONF_UNSET_UINT) {
        return 0;
    }

    from = *(ngx_array_t **) r->loc_conf[kmcf->realip_index];

    if (from == NULL) {
        return 0;
    }

    ngx_str_set(&name, "realip_remote_addr");

    v = ngx_http_get_variable(r, &name, ngx_hash_key(name.data, name.len));

    if (v == NULL || v->not_found || v->len == 0) {
        return 0;
    }

    if (ngx_parse_addr(r->pool, &addr, v->data, v->len) != NGX_OK) {
        return 0;
    }

    return ngx_cidr_match(addr.sockaddr, from) == NGX_OK;
}


/* the first of the client's headers of that name, when it sent one */

static void
ngx_http_farm_kong_client_value(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    ngx_str_t         key;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    key.data = (u_char *) name;
    key.len = ngx_strlen(name);

    h = ngx_http_farm_kong_in_header(r, &key, &n);

    if (h != NULL) {
        *value = h->value;
    }
}
