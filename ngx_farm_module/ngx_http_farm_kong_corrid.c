
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's correlation-id plugin: the nginx side of
 * kong-compat/kong_corrid.c.  It runs first of the plugins (Kong's
 * priority 100001): a request that has header_name keeps it, else the
 * engine's generator makes one and it is set on the request to the
 * service; with echo_downstream the header filter sets the same value on
 * the response, Kong's own answers (401, 429, ...) included.  The
 * generators' state (random source, the worker's uuid, the uuid#counter
 * count) is per worker process, drawn in the worker on first use, as
 * Kong's is per nginx worker.
 */


#include "ngx_http_farm_kong.h"

#include <kong_corrid.h>


static kong_corrid_worker_t *ngx_http_farm_kong_corrid_worker(void);
static ngx_int_t ngx_http_farm_kong_corrid_tracker(ngx_http_request_t *r,
    kong_corrid_tracker_t *t);


/* the generators' state of this worker, and the process that drew it */
static kong_corrid_worker_t  ngx_http_farm_kong_corrid_state;
static ngx_pid_t             ngx_http_farm_kong_corrid_pid = NGX_INVALID_PID;


ngx_int_t
ngx_http_farm_kong_corrid(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_correlation_id_conf_t *conf)
{
    u_char                 *p;
    ngx_str_t               name, value;
    ngx_uint_t              count;
    ngx_table_elt_t        *h;
    kong_corrid_conf_t      ec;
    kong_corrid_result_t   *res;
    kong_corrid_tracker_t   t;

    ec.header_name = conf->header_name;
    ec.generator = conf->generator;
    ec.echo_downstream = conf->echo_downstream;

    name.data = (u_char *) conf->header_name;
    name.len = ngx_strlen(conf->header_name);

    h = ngx_http_farm_kong_in_header(r, &name, &count);

    ngx_memzero(&t, sizeof(kong_corrid_tracker_t));

    if (h == NULL && ec.generator == KONG_CORRID_TRACKER
        && ngx_http_farm_kong_corrid_tracker(r, &t) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res = ngx_palloc(r->pool, sizeof(kong_corrid_result_t));
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kong_corrid_access(&ec, ngx_http_farm_kong_corrid_worker(),
                       h ? (const char *) h->value.data : NULL,
                       h ? h->value.len : 0, &t, res);

    value.data = (u_char *) res->value;
    value.len = res->len;

    if (res->set_upstream) {
        p = ngx_pnalloc(r->pool, res->len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(p, res->value, res->len);
        value.data = p;

        if (ngx_http_farm_kong_set_upstream(r, &name, &value, 1) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (res->echo) {
        ctx->corrid_name = name;
        ctx->corrid_value = value;
        ctx->corrid_echo = 1;
    }

    return NGX_DECLINED;
}


/*
 * The header filter's part (echo_downstream): the response's header_name
 * set to the request's id, replacing the service's, as
 * kong.response.set_header does.
 */

ngx_int_t
ngx_http_farm_kong_corrid_echo(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (!ctx->corrid_echo) {
        return NGX_OK;
    }

    ctx->corrid_echo = 0;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash != 0 && h[i].key.len == ctx->corrid_name.len
                && ngx_strncasecmp(h[i].key.data, ctx->corrid_name.data,
                                   ctx->corrid_name.len)
                   == 0)
            {
                h[i].hash = 0;
            }
        }
    }

    if (ctx->corrid_value.len == 0) {
        /* an empty id kept from the request: nginx sends no empty header */
        return NGX_OK;
    }

    return ngx_http_farm_kong_header(r, (const char *) ctx->corrid_name.data,
                                     &ctx->corrid_value);
}


static kong_corrid_worker_t *
ngx_http_farm_kong_corrid_worker(void)
{
    if (ngx_http_farm_kong_corrid_pid != ngx_pid) {
        kong_corrid_worker_init(&ngx_http_farm_kong_corrid_state, 0);
        ngx_http_farm_kong_corrid_pid = ngx_pid;
    }

    return &ngx_http_farm_kong_corrid_state;
}


/* a random version-4 uuid from this worker's generator: 36 bytes + NUL */

void
ngx_http_farm_kong_uuid(u_char *out)
{
    kong_corrid_uuid(ngx_http_farm_kong_corrid_worker(), (char *) out);
}


/* what the tracker generator reads: nginx's variables of the same names */

static ngx_int_t
ngx_http_farm_kong_corrid_tracker(ngx_http_request_t *r,
    kong_corrid_tracker_t *t)
{
    u_char            *addr;
    ngx_str_t          s;
    ngx_time_t        *tp;
    ngx_connection_t  *c;

    c = r->connection;

    addr = ngx_pnalloc(r->pool, NGX_SOCKADDR_STRLEN + 1);
    if (addr == NULL) {
        return NGX_ERROR;
    }

    s.data = addr;
    s.len = NGX_SOCKADDR_STRLEN;

    if (ngx_connection_local_sockaddr(c, &s, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    addr[s.len] = '\0';

    tp = ngx_timeofday();

    t->server_addr = (const char *) addr;
    t->server_addr_len = s.len;
    t->server_port = ngx_inet_get_port(c->local_sockaddr);
    t->pid = (long) ngx_pid;
    t->connection = c->number;
    t->connection_requests = c->requests;
    t->now = (double) tp->sec + (double) tp->msec / 1000;

    return NGX_OK;
}
