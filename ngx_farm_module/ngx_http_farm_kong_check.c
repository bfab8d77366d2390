
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong, the active health checks of Kong upstreams' targets
 * (healthchecks.active, type http, https or tcp) on nginx's event loop:
 * each target is probed by one worker of the gateway, every
 * healthy.interval seconds while healthy and every unhealthy.interval
 * while unhealthy (0 = not probed in that state), and the outcome is
 * counted in the shared health (ngx_http_farm_kong_health.c).  A target
 * named by a host name is probed at each address its name resolves to
 * (ngx_http_farm_kong_check_name.c), each counted on its own.  Types
 * grpc and grpcs speak the gRPC health checking protocol over HTTP/2
 * (ngx_http_farm_kong_check_grpc.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_farm_kong.h"


#define NGX_HTTP_FARM_KONG_HC_IN       1024   /* answer bytes looked at */
#define NGX_HTTP_FARM_KONG_HC_IGNORE   ((ngx_uint_t) -1)
#define NGX_HTTP_FARM_KONG_HC_UA       "User-Agent: ngx_farm healthcheck\r\n"
#define NGX_HTTP_FARM_KONG_HC_TLS      (KONG_PROTO_HTTPS|KONG_PROTO_GRPCS)
#define NGX_HTTP_FARM_KONG_HC_GRPC     (KONG_PROTO_GRPC|KONG_PROTO_GRPCS)


/* one target this worker probes */
typedef struct {
    ngx_http_farm_kong_conf_t    *kc;
    const kong_upstream_t        *u;
    ngx_uint_t                    target;
    ngx_pool_t                   *pool;       /* its own, or NULL */
    ngx_queue_t                   queue;      /* in the worker's list */
    ngx_event_t                   due;
    ngx_event_t                   timeout;
    ngx_peer_connection_t         pc;
    ngx_log_t                     log;        /* the cycle's, quieter */
    ngx_addr_t                    addr;
    ngx_str_t                     request;    /* http, https */
    ngx_str_t                     authority;  /* grpc, grpcs */
    ngx_http_farm_kong_grpc_t    *grpc;       /* this check's session */
    ngx_str_t                     out;        /* the bytes to send */
    size_t                        sent;
    u_char                       *in;
    size_t                        in_len;
    unsigned                      busy:1;
    unsigned                      connected:1;
    unsigned                      named:1;    /* one address of a name */
    unsigned                      stop:1;     /* freed when done */
} ngx_http_farm_kong_hc_t;


static ngx_int_t ngx_http_farm_kong_hc_add(ngx_cycle_t *cycle,
    ngx_http_farm_kong_conf_t *kc, const kong_upstream_t *u,
    ngx_uint_t target);
static ngx_http_farm_kong_hc_t *ngx_http_farm_kong_hc_new(ngx_pool_t *pool,
    ngx_log_t *log, ngx_http_farm_kong_conf_t *kc, const kong_upstream_t *u,
    ngx_uint_t target, ngx_addr_t *addr);
static ngx_uint_t ngx_http_farm_kong_hc_down(ngx_http_farm_kong_hc_t *hc);
static ngx_msec_t ngx_http_farm_kong_hc_interval(ngx_http_farm_kong_hc_t *hc);
static void ngx_http_farm_kong_hc_tick(ngx_event_t *ev);
static void ngx_http_farm_kong_hc_write(ngx_event_t *wev);
static ngx_int_t ngx_http_farm_kong_hc_send(ngx_http_farm_kong_hc_t *hc,
    ngx_connection_t *c);
static void ngx_http_farm_kong_hc_read(ngx_event_t *rev);
static void ngx_http_farm_kong_hc_read_grpc(ngx_http_farm_kong_hc_t *hc,
    ngx_connection_t *c);
static ngx_int_t ngx_http_farm_kong_hc_connected(ngx_http_farm_kong_hc_t *hc,
    ngx_connection_t *c);
#if (NGX_HTTP_SSL)
static void ngx_http_farm_kong_hc_handshake(ngx_connection_t *c);
#endif
static void ngx_http_farm_kong_hc_timeout(ngx_event_t *ev);
static void ngx_http_farm_kong_hc_judge(ngx_http_farm_kong_hc_t *hc);
static void ngx_http_farm_kong_hc_done(ngx_http_farm_kong_hc_t *hc,
    ngx_uint_t what);


/*
 * In each worker: the targets of upstreams with active checks that this
 * worker probes (a target's record hash picks one worker of the
 * gateway).
 */

ngx_int_t
ngx_http_farm_kong_health_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                       i, j, k, workers;
    ngx_core_conf_t                 *ccf;
    const kong_upstream_t           *u;
    ngx_http_farm_kong_conf_t      **kcp, *kc;
    ngx_http_farm_kong_main_conf_t  *kmcf;

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    kmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_farm_kong_module);
    if (kmcf == NULL) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);
    workers = (ngx_process == NGX_PROCESS_WORKER && ccf->worker_processes > 0)
              ? (ngx_uint_t) ccf->worker_processes : 1;

    kcp = kmcf->confs.elts;

    for (i = 0; i < kmcf->confs.nelts; i++) {
        kc = kcp[i];

        for (j = 0; j < kc->kong->nupstreams; j++) {
            u = kc->kong->upstreams[j];

            if (!ngx_http_farm_kong_health_active(u)) {
                continue;
            }

            for (k = 0; k < u->ntargets; k++) {
                if (u->targets[k]->weight == 0
                    || kc->health[kc->cw_off[j] + k]->hash % workers
                       != (workers == 1 ? 0 : ngx_worker))
                {
                    continue;
                }

                if (ngx_http_farm_kong_hc_add(cycle, kc, u, k) != NGX_OK) {
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_hc_add(ngx_cycle_t *cycle, ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target)
{
    ngx_addr_t                addr;
    const kong_target_t      *t;
    ngx_http_farm_kong_hc_t  *hc;

    t = u->targets[target];

    if (kc->health[kc->cw_off[u->index] + target]->named) {
        return ngx_http_farm_kong_name_add(cycle, kc, u, target);
    }

    if (ngx_parse_addr(cycle->pool, &addr, (u_char *) t->host,
                       ngx_strlen(t->host))
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "farm_kong: upstream \"%s\" target \"%s\": no "
                      "active health checks for this address", u->name,
                      t->target);
        return NGX_OK;
    }

    ngx_inet_set_port(addr.sockaddr, (in_port_t) t->port);

    hc = ngx_http_farm_kong_hc_new(cycle->pool, cycle->log, kc, u, target,
                                   &addr);

    return (hc != NULL) ? NGX_OK : NGX_ERROR;
}


/*
 * One address of a host-name target (ngx_http_farm_kong_check_name.c):
 * probed from now on, in a pool of its own that
 * ngx_http_farm_kong_hc_probe_stop() frees.  NULL on error.
 */

void *
ngx_http_farm_kong_hc_probe(ngx_cycle_t *cycle, ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target, ngx_addr_t *addr)
{
    ngx_pool_t               *pool;
    ngx_http_farm_kong_hc_t  *hc;

    pool = ngx_create_pool(2048, cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    hc = ngx_http_farm_kong_hc_new(pool, cycle->log, kc, u, target, addr);
    if (hc == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    hc->pool = pool;
    hc->named = 1;

    return hc;
}


/* the address is gone: its probe ends now, or when its check ends */

void
ngx_http_farm_kong_hc_probe_stop(void *probe)
{
    ngx_http_farm_kong_hc_t  *hc = probe;

    if (hc->due.timer_set) {
        ngx_del_timer(&hc->due);
    }

    if (hc->busy) {
        hc->stop = 1;
        return;
    }

    ngx_queue_remove(&hc->queue);
    ngx_destroy_pool(hc->pool);
}


/* the probe of addr (with its port) for target */

static ngx_http_farm_kong_hc_t *
ngx_http_farm_kong_hc_new(ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_farm_kong_conf_t *kc, const kong_upstream_t *u,
    ngx_uint_t target, ngx_addr_t *addr)
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                    host, path;
    ngx_uint_t                   i, j, port;
    const char                  *name, *value;
    const kong_target_t         *t;
    ngx_http_farm_kong_hc_t     *hc;
    const kong_active_check_t   *ac;

    t = u->targets[target];
    ac = &u->healthchecks.active;

    hc = ngx_pcalloc(pool, sizeof(ngx_http_farm_kong_hc_t));
    if (hc == NULL) {
        return NULL;
    }

    host.data = (u_char *) t->host;
    host.len = ngx_strlen(t->host);

    hc->addr.sockaddr = ngx_palloc(pool, addr->socklen);
    hc->addr.name.data = ngx_pnalloc(pool, NGX_SOCKADDR_STRLEN);
    if (hc->addr.sockaddr == NULL || hc->addr.name.data == NULL) {
        return NULL;
    }

    ngx_memcpy(hc->addr.sockaddr, addr->sockaddr, addr->socklen);
    hc->addr.socklen = addr->socklen;

    hc->addr.name.len = ngx_sock_ntop(hc->addr.sockaddr, hc->addr.socklen,
                                      hc->addr.name.data, NGX_SOCKADDR_STRLEN,
                                      1);

    hc->kc = kc;
    hc->u = u;
    hc->target = target;

    /* a refused connection is a check's usual failure: no error line */

    hc->log = *log;
    hc->log.log_level = ngx_min(hc->log.log_level, NGX_LOG_CRIT);

    /* the request: GET http_path, Host the target's, then headers */

    path.data = (u_char *) (ac->http_path ? ac->http_path : "/");
    path.len = ngx_strlen(path.data);
    port = t->port;

    len = sizeof("GET  HTTP/1.0\r\nHost: []:\r\n" NGX_HTTP_FARM_KONG_HC_UA
                 "Connection: close\r\n\r\n")
          + path.len + host.len + NGX_INT_T_LEN + 2;

    for (i = 0; /* void */; i++) {
        if (kong_check_header(ac->headers, i, 0, &name, &value) < 0) {
            break;
        }

        for (j = 0; kong_check_header(ac->headers, i, j, &name, &value) == 1;
             j++)
        {
            len += ngx_strlen(name) + ngx_strlen(value) + sizeof(": \r\n");
        }
    }

    hc->request.data = ngx_pnalloc(pool, len);
    hc->in = ngx_pnalloc(pool, NGX_HTTP_FARM_KONG_HC_IN);
    if (hc->request.data == NULL || hc->in == NULL) {
        return NULL;
    }

    /* Host (and :authority): the target's host, its port if not the
     * scheme's */

    p = ngx_sprintf(hc->request.data, "GET %V HTTP/1.0\r\nHost: ", &path);
    hc->authority.data = p;

    if (ngx_strlchr(host.data, host.data + host.len, ':') != NULL) {
        p = ngx_sprintf(p, "[%V]", &host);

    } else {
        p = ngx_cpymem(p, host.data, host.len);
    }

    if (port != ((ac->type & NGX_HTTP_FARM_KONG_HC_TLS) ? 443 : 80)) {
        p = ngx_sprintf(p, ":%ui", port);
    }

    hc->authority.len = p - hc->authority.data;

    p = ngx_cpymem(p, "\r\n" NGX_HTTP_FARM_KONG_HC_UA,
                   sizeof("\r\n" NGX_HTTP_FARM_KONG_HC_UA) - 1);

    for (i = 0; kong_check_header(ac->headers, i, 0, &name, &value) >= 0;
         i++)
    {
        for (j = 0; kong_check_header(ac->headers, i, j, &name, &value) == 1;
             j++)
        {
            p = ngx_sprintf(p, "%s: %s\r\n", name, value);
        }
    }

    p = ngx_cpymem(p, "Connection: close\r\n\r\n",
                   sizeof("Connection: close\r\n\r\n") - 1);

    hc->request.len = p - hc->request.data;

    hc->due.handler = ngx_http_farm_kong_hc_tick;
    hc->due.data = hc;
    hc->due.log = log;
    hc->due.cancelable = 1;

    hc->timeout.handler = ngx_http_farm_kong_hc_timeout;
    hc->timeout.data = hc;
    hc->timeout.log = log;
    hc->timeout.cancelable = 1;

    ngx_queue_insert_tail(&kc->hc_queue, &hc->queue);

    /* the first check soon, spread over a few milliseconds */

    ngx_add_timer(&hc->due, 1 + ngx_random() % 50);

    return hc;
}


/*
 * exit_process: the checks in flight end here, uncounted, so that no
 * socket is left open when the worker exits; the probes of host-name
 * targets' addresses are freed.
 */

void
ngx_http_farm_kong_health_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                       i;
    ngx_queue_t                     *q, *next;
    ngx_http_farm_kong_hc_t         *hc;
    ngx_http_farm_kong_conf_t      **kcp;
    ngx_http_farm_kong_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_farm_kong_module);
    if (kmcf == NULL) {
        return;
    }

    kcp = kmcf->confs.elts;

    for (i = 0; i < kmcf->confs.nelts; i++) {
        ngx_http_farm_kong_names_exit(kcp[i]);

        for (q = ngx_queue_head(&kcp[i]->hc_queue);
             q != ngx_queue_sentinel(&kcp[i]->hc_queue);
             q = next)
        {
            next = ngx_queue_next(q);
            hc = ngx_queue_data(q, ngx_http_farm_kong_hc_t, queue);

            if (hc->due.timer_set) {
                ngx_del_timer(&hc->due);
            }

            if (hc->busy) {
                ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_IGNORE);
            }
        }
    }
}


/* the interval of the target's state; the other one when that is 0 */

static ngx_msec_t
ngx_http_farm_kong_hc_interval(ngx_http_farm_kong_hc_t *hc)
{
    double                      s;
    const kong_active_check_t  *ac;

    ac = &hc->u->healthchecks.active;

    s = ngx_http_farm_kong_hc_down(hc) ? ac->unhealthy_interval
                                       : ac->healthy_interval;

    return (s > 0) ? (ngx_msec_t) (s * 1000) : 0;
}


/* is the target (or the probed address of a host-name target) down? */

static ngx_uint_t
ngx_http_farm_kong_hc_down(ngx_http_farm_kong_hc_t *hc)
{
    ngx_http_farm_kong_health_t  *h;

    h = hc->kc->health[hc->kc->cw_off[hc->u->index] + hc->target];

    if (hc->named) {
        return ngx_http_farm_kong_health_addr_down(h, hc->addr.sockaddr,
                                                   hc->addr.socklen);
    }

    return h->down;
}


static void
ngx_http_farm_kong_hc_tick(ngx_event_t *ev)
{
    ngx_int_t                   rc;
    ngx_msec_t                  interval, timeout;
    ngx_connection_t           *c;
    ngx_http_farm_kong_hc_t    *hc;
    const kong_active_check_t  *ac;

    hc = ev->data;
    ac = &hc->u->healthchecks.active;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    interval = ngx_http_farm_kong_hc_interval(hc);

    if (interval == 0) {

        /* not probed in this state: look again in the other's interval */

        interval = (ngx_msec_t) (1000 * (ac->healthy_interval > 0
                                         ? ac->healthy_interval
                                         : ac->unhealthy_interval));
        ngx_add_timer(&hc->due, interval ? interval : 1000);
        return;
    }

    if (hc->busy || hc->kc->hc_busy[hc->u->index] >= ac->concurrency) {
        ngx_add_timer(&hc->due, ngx_min(interval, 100));
        return;
    }

    ngx_add_timer(&hc->due, interval);

    ngx_memzero(&hc->pc, sizeof(ngx_peer_connection_t));
    hc->pc.sockaddr = hc->addr.sockaddr;
    hc->pc.socklen = hc->addr.socklen;
    hc->pc.name = &hc->addr.name;
    hc->pc.get = ngx_event_get_peer;
    hc->pc.log = &hc->log;
    hc->pc.log_error = NGX_ERROR_INFO;

    rc = ngx_event_connect_peer(&hc->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY) {
        return;                     /* not the target's failure */
    }

    hc->busy = 1;
    hc->connected = 0;
    hc->out = hc->request;
    hc->sent = 0;
    hc->in_len = 0;
    hc->kc->hc_busy[hc->u->index]++;

    if (rc == NGX_DECLINED) {
        ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_TCP);
        return;
    }

    c = hc->pc.connection;

    if (ac->type & (NGX_HTTP_FARM_KONG_HC_TLS|NGX_HTTP_FARM_KONG_HC_GRPC)) {
        c->pool = ngx_create_pool(1024, &hc->log);     /* TLS allocates */
        if (c->pool == NULL) {
            ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_IGNORE);
            return;
        }
    }

    if (ac->type & NGX_HTTP_FARM_KONG_HC_GRPC) {
        hc->out.len = 0;
        hc->grpc = ngx_http_farm_kong_grpc_start(c->pool, hc->u,
                                                 &hc->authority,
                                                 ac->type == KONG_PROTO_GRPCS,
                                                 &hc->log);
        if (hc->grpc == NULL) {
            ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_IGNORE);
            return;
        }
    }

    c->data = hc;
    c->log = &hc->log;
    c->read->log = c->log;
    c->write->log = c->log;
    c->read->handler = ngx_http_farm_kong_hc_read;
    c->write->handler = ngx_http_farm_kong_hc_write;

    timeout = (ngx_msec_t) (ac->timeout * 1000);
    ngx_add_timer(&hc->timeout, timeout ? timeout : 1);

    if (rc == NGX_OK) {
        ngx_post_event(c->write, &ngx_posted_events);
    }
}


/* the connection is up (or failed): tcp succeeds, https shakes hands */

static ngx_int_t
ngx_http_farm_kong_hc_connected(ngx_http_farm_kong_hc_t *hc,
    ngx_connection_t *c)
{
    int          err;
    socklen_t    len;
#if (NGX_HTTP_SSL)
    const char  *sni;
#endif

    if (hc->connected) {
        return NGX_OK;
    }

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_TCP);
        return NGX_ERROR;
    }

    hc->connected = 1;

    if (hc->u->healthchecks.active.type == KONG_PROTO_TCP) {
        ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_SUCCESS);
        return NGX_ERROR;
    }

#if (NGX_HTTP_SSL)
    if (hc->u->healthchecks.active.type & NGX_HTTP_FARM_KONG_HC_TLS) {
        if (ngx_ssl_create_connection(hc->kc->hc_ssl, c, NGX_SSL_CLIENT)
            != NGX_OK)
        {
            ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_IGNORE);
            return NGX_ERROR;
        }

        /* grpcs: HTTP/2, chosen by ALPN */

        if (hc->grpc != NULL
            && SSL_set_alpn_protos(c->ssl->connection,
                                   (u_char *) "\x02h2", 3)
               != 0)
        {
            ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_IGNORE);
            return NGX_ERROR;
        }

        sni = hc->u->healthchecks.active.https_sni;

        if (sni == NULL && hc->named) {
            sni = hc->u->targets[hc->target]->host;
        }

        if (sni != NULL
            && SSL_set_tlsext_host_name(c->ssl->connection, (char *) sni)
               != 1)
        {
            ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_IGNORE);
            return NGX_ERROR;
        }

        if (ngx_ssl_handshake(c) == NGX_AGAIN) {
            c->ssl->handler = ngx_http_farm_kong_hc_handshake;
            return NGX_AGAIN;
        }

        ngx_http_farm_kong_hc_handshake(c);
        return NGX_AGAIN;
    }
#endif

    return NGX_OK;
}


#if (NGX_HTTP_SSL)

/*
 * The TLS handshake's end: a failed one, or a certificate that does not
 * verify when https_verify_certificate is on (the CA of the system; the
 * name https_sni, else the target's host), is a TCP failure, as in Kong.
 */

static void
ngx_http_farm_kong_hc_handshake(ngx_connection_t *c)
{
    long                        rc;
    ngx_str_t                   name;
    ngx_http_farm_kong_hc_t    *hc;
    const kong_active_check_t  *ac;

    hc = c->data;
    ac = &hc->u->healthchecks.active;

    if (!c->ssl->handshaked) {
        ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_TCP);
        return;
    }

    if (ac->https_verify_certificate) {
        rc = SSL_get_verify_result(c->ssl->connection);

        name.data = (u_char *) (ac->https_sni
                                ? ac->https_sni
                                : hc->u->targets[hc->target]->host);
        name.len = ngx_strlen(name.data);

        if (rc != X509_V_OK || ngx_ssl_check_host(c, &name) != NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                          "farm_kong: upstream \"%s\" target \"%s\": the "
                          "certificate does not verify (%l)", hc->u->name,
                          hc->u->targets[hc->target]->target, rc);
            ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_TCP);
            return;
        }
    }

    c->read->handler = ngx_http_farm_kong_hc_read;
    c->write->handler = ngx_http_farm_kong_hc_write;

    ngx_http_farm_kong_hc_write(c->write);
}

#endif


static void
ngx_http_farm_kong_hc_write(ngx_event_t *wev)
{
    ngx_connection_t         *c;
    ngx_http_farm_kong_hc_t  *hc;

    c = wev->data;
    hc = c->data;

    if (ngx_http_farm_kong_hc_connected(hc, c) != NGX_OK) {
        return;
    }

    if (ngx_http_farm_kong_hc_send(hc, c) != NGX_OK) {
        return;
    }

    if (c->read->ready) {
        ngx_http_farm_kong_hc_read(c->read);
    }
}


/*
 * Sends what is left of the request (grpc: and what the HTTP/2 session
 * has to send).  NGX_OK: all sent; NGX_AGAIN: the rest at the next write
 * event; NGX_ERROR: the check is done.
 */

static ngx_int_t
ngx_http_farm_kong_hc_send(ngx_http_farm_kong_hc_t *hc, ngx_connection_t *c)
{
    ssize_t  n;

    for ( ;; ) {
        if (hc->sent == hc->out.len) {
            if (hc->grpc == NULL) {
                return NGX_OK;
            }

            if (ngx_http_farm_kong_grpc_output(hc->grpc, &hc->out) != NGX_OK)
            {
                ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_HTTP);
                return NGX_ERROR;
            }

            hc->sent = 0;

            if (hc->out.len == 0) {
                return NGX_OK;
            }
        }

        n = c->send(c, hc->out.data + hc->sent, hc->out.len - hc->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_TCP);
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_TCP);
            return NGX_ERROR;
        }

        hc->sent += n;
    }
}


/* the answer's status line is all a check looks at */

static void
ngx_http_farm_kong_hc_read(ngx_event_t *rev)
{
    ssize_t                   n;
    ngx_connection_t         *c;
    ngx_http_farm_kong_hc_t  *hc;

    c = rev->data;
    hc = c->data;

    if (ngx_http_farm_kong_hc_connected(hc, c) != NGX_OK) {
        return;
    }

    if (hc->grpc != NULL) {
        ngx_http_farm_kong_hc_read_grpc(hc, c);
        return;
    }

    if (hc->sent < hc->out.len) {
        return;
    }

    for ( ;; ) {
        n = c->recv(c, hc->in + hc->in_len,
                    NGX_HTTP_FARM_KONG_HC_IN - hc->in_len);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_TCP);
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_TCP);
            return;
        }

        hc->in_len += n;

        if (n == 0 || hc->in_len == NGX_HTTP_FARM_KONG_HC_IN
            || ngx_strlchr(hc->in, hc->in + hc->in_len, '\n') != NULL)
        {
            ngx_http_farm_kong_hc_judge(hc);
            return;
        }
    }
}


/*
 * grpc: what arrives goes to the HTTP/2 session until the answer is
 * complete; what the session then has to send (acknowledgements, window
 * updates) is sent.  A connection closed before the answer is a TCP
 * failure, as a missing status line is in Kong.
 */

static void
ngx_http_farm_kong_hc_read_grpc(ngx_http_farm_kong_hc_t *hc,
    ngx_connection_t *c)
{
    ssize_t    n;
    ngx_int_t  rc;

    for ( ;; ) {
        n = c->recv(c, hc->in, NGX_HTTP_FARM_KONG_HC_IN);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_TCP);
                return;
            }

            break;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_TCP);
            return;
        }

        rc = ngx_http_farm_kong_grpc_input(hc->grpc, hc->in, n);

        if (rc != NGX_AGAIN) {
            ngx_http_farm_kong_hc_done(hc, (ngx_uint_t) rc);
            return;
        }
    }

    (void) ngx_http_farm_kong_hc_send(hc, c);
}


static void
ngx_http_farm_kong_hc_timeout(ngx_event_t *ev)
{
    ngx_http_farm_kong_hc_done(ev->data, NGX_HTTP_FARM_KONG_HC_TIMEOUT);
}


/*
 * "HTTP/1.x NNN": a status in healthy.http_statuses is a success, one in
 * unhealthy.http_statuses an HTTP failure, any other is not counted; no
 * status line is an HTTP failure.
 */

static void
ngx_http_farm_kong_hc_judge(ngx_http_farm_kong_hc_t *hc)
{
    u_char                     *p;
    ngx_uint_t                  status;
    const kong_active_check_t  *ac;

    ac = &hc->u->healthchecks.active;
    p = hc->in;

    if (hc->in_len < sizeof("HTTP/1.x NNN") - 1
        || ngx_strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' '
        || p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9'
        || p[11] < '0' || p[11] > '9')
    {
        ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_HTTP);
        return;
    }

    status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

    if (ngx_http_farm_kong_status_in(&ac->healthy_http_statuses, status)) {
        ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_SUCCESS);

    } else if (ngx_http_farm_kong_status_in(&ac->unhealthy_http_statuses,
                                            status))
    {
        ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_HTTP);

    } else {
        ngx_http_farm_kong_hc_done(hc, NGX_HTTP_FARM_KONG_HC_IGNORE);
    }
}


/* the check's end: the connection closed, the outcome counted */

static void
ngx_http_farm_kong_hc_done(ngx_http_farm_kong_hc_t *hc, ngx_uint_t what)
{
    ngx_pool_t        *pool;
    ngx_connection_t  *c;

    if (hc->timeout.timer_set) {
        ngx_del_timer(&hc->timeout);
    }

    c = hc->pc.connection;

    if (c != NULL) {
        pool = c->pool;

#if (NGX_HTTP_SSL)
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif
        ngx_close_connection(c);
        hc->pc.connection = NULL;

        if (pool != NULL) {
            ngx_destroy_pool(pool);
        }
    }

    if (hc->grpc != NULL) {
        ngx_http_farm_kong_grpc_free(hc->grpc);
        hc->grpc = NULL;
    }

    hc->busy = 0;
    hc->kc->hc_busy[hc->u->index]--;

    if (hc->stop) {
        ngx_queue_remove(&hc->queue);
        ngx_destroy_pool(hc->pool);
        return;
    }

    if (what == NGX_HTTP_FARM_KONG_HC_IGNORE) {
        return;
    }

    if (hc->named) {
        ngx_http_farm_kong_health_report_addr(hc->kc, hc->u, hc->target,
                                              hc->addr.sockaddr,
                                              hc->addr.socklen, what, 1,
                                              ngx_cycle->log);
        return;
    }

    ngx_http_farm_kong_health_report(hc->kc, hc->u, hc->target, what, 1,
                                     ngx_cycle->log);
}
