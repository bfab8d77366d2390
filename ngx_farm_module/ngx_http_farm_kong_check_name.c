
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong, the active health checks of a target named by a host name:
 * as Kong does, each address the name resolves to is checked and counted
 * on its own (ngx_http_farm_kong_health_addr.c).  The worker that checks
 * the target resolves its name on nginx's resolver (the one of the
 * farm_kong directive's block) every check interval; an address that goes
 * away stops being checked, a new one starts, healthy.  A failed lookup
 * keeps the addresses known; a name that does not exist has none.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_farm_kong.h"


#define NGX_HTTP_FARM_KONG_NAME_ADDRS  32     /* checked per name, at most */


typedef struct {
    ngx_http_farm_kong_conf_t    *kc;
    const kong_upstream_t        *u;
    ngx_uint_t                    target;
    ngx_cycle_t                  *cycle;
    ngx_queue_t                   queue;      /* in kc->hc_names */
    ngx_event_t                   due;
    ngx_resolver_ctx_t           *rctx;       /* the lookup in flight */
    ngx_uint_t                    n;
    void                         *probe[NGX_HTTP_FARM_KONG_NAME_ADDRS];
    ngx_addr_t                    addr[NGX_HTTP_FARM_KONG_NAME_ADDRS];
    ngx_sockaddr_t                sa[NGX_HTTP_FARM_KONG_NAME_ADDRS];
} ngx_http_farm_kong_hc_name_t;


static void ngx_http_farm_kong_name_resolve(ngx_event_t *ev);
static void ngx_http_farm_kong_name_resolved(ngx_resolver_ctx_t *rctx);
static void ngx_http_farm_kong_name_update(ngx_http_farm_kong_hc_name_t *nm,
    ngx_addr_t *addrs, ngx_uint_t n);
static ngx_uint_t ngx_http_farm_kong_name_find(ngx_addr_t *addrs,
    ngx_uint_t n, ngx_addr_t *addr);
static void ngx_http_farm_kong_name_again(ngx_http_farm_kong_hc_name_t *nm);


/* in the worker that checks target: its name, looked up soon */

ngx_int_t
ngx_http_farm_kong_name_add(ngx_cycle_t *cycle, ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target)
{
    ngx_http_farm_kong_hc_name_t  *nm;

    nm = ngx_pcalloc(cycle->pool, sizeof(ngx_http_farm_kong_hc_name_t));
    if (nm == NULL) {
        return NGX_ERROR;
    }

    nm->kc = kc;
    nm->u = u;
    nm->target = target;
    nm->cycle = cycle;

    nm->due.handler = ngx_http_farm_kong_name_resolve;
    nm->due.data = nm;
    nm->due.log = cycle->log;
    nm->due.cancelable = 1;

    ngx_queue_insert_tail(&kc->hc_names, &nm->queue);

    ngx_add_timer(&nm->due, 1 + ngx_random() % 50);

    return NGX_OK;
}


/*
 * exit_process: no lookup left in flight, and the probes' pools freed
 * (a probe whose check is in flight is freed when the caller ends it).
 */

void
ngx_http_farm_kong_names_exit(ngx_http_farm_kong_conf_t *kc)
{
    ngx_uint_t                     i;
    ngx_queue_t                   *q;
    ngx_http_farm_kong_hc_name_t  *nm;

    for (q = ngx_queue_head(&kc->hc_names);
         q != ngx_queue_sentinel(&kc->hc_names);
         q = ngx_queue_next(q))
    {
        nm = ngx_queue_data(q, ngx_http_farm_kong_hc_name_t, queue);

        if (nm->due.timer_set) {
            ngx_del_timer(&nm->due);
        }

        if (nm->rctx != NULL) {
            ngx_resolve_name_done(nm->rctx);
            nm->rctx = NULL;
        }

        for (i = 0; i < nm->n; i++) {
            ngx_http_farm_kong_hc_probe_stop(nm->probe[i]);
        }

        nm->n = 0;
    }
}


static void
ngx_http_farm_kong_name_resolve(ngx_event_t *ev)
{
    ngx_resolver_ctx_t            *rctx;
    const kong_target_t           *t;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_farm_kong_hc_name_t  *nm;

    nm = ev->data;
    t = nm->u->targets[nm->target];
    clcf = nm->kc->hc_clcf;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    rctx = ngx_resolve_start(clcf->resolver, NULL);

    if (rctx == NGX_NO_RESOLVER) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "farm_kong: upstream \"%s\" target \"%s\": no "
                      "resolver defined to resolve it, no active health "
                      "checks for it", nm->u->name, t->target);
        return;
    }

    if (rctx == NULL) {
        ngx_http_farm_kong_name_again(nm);
        return;
    }

    rctx->name.data = (u_char *) t->host;
    rctx->name.len = ngx_strlen(t->host);
    rctx->handler = ngx_http_farm_kong_name_resolved;
    rctx->data = nm;
    rctx->timeout = clcf->resolver_timeout;

    nm->rctx = rctx;

    /* a cached answer calls the handler before this returns */

    if (ngx_resolve_name(rctx) != NGX_OK) {
        nm->rctx = NULL;
        ngx_http_farm_kong_name_again(nm);
    }
}


static void
ngx_http_farm_kong_name_resolved(ngx_resolver_ctx_t *rctx)
{
    ngx_uint_t                     i, n;
    ngx_addr_t                     addrs[NGX_HTTP_FARM_KONG_NAME_ADDRS];
    ngx_sockaddr_t                 sa[NGX_HTTP_FARM_KONG_NAME_ADDRS];
    ngx_http_farm_kong_hc_name_t  *nm;

    nm = rctx->data;
    n = 0;

    if (rctx->state != NGX_OK && rctx->state != NGX_RESOLVE_NXDOMAIN) {
        ngx_log_error(NGX_LOG_INFO, nm->cycle->log, 0,
                      "farm_kong: upstream \"%s\" target \"%s\" could not "
                      "be resolved (%i: %s), its addresses are kept",
                      nm->u->name, nm->u->targets[nm->target]->target,
                      rctx->state, ngx_resolver_strerror(rctx->state));
        goto done;
    }

    for (i = 0; rctx->state == NGX_OK && i < rctx->naddrs; i++) {
        if (n == NGX_HTTP_FARM_KONG_NAME_ADDRS
            || rctx->addrs[i].socklen > sizeof(ngx_sockaddr_t))
        {
            break;
        }

        ngx_memcpy(&sa[n], rctx->addrs[i].sockaddr, rctx->addrs[i].socklen);
        addrs[n].sockaddr = &sa[n].sockaddr;
        addrs[n].socklen = rctx->addrs[i].socklen;
        ngx_inet_set_port(addrs[n].sockaddr,
                          (in_port_t) nm->u->targets[nm->target]->port);

        if (ngx_http_farm_kong_name_find(addrs, n, &addrs[n])
            == NGX_CONF_UNSET_UINT)
        {
            n++;
        }
    }

    ngx_http_farm_kong_name_update(nm, addrs, n);

done:

    ngx_resolve_name_done(rctx);
    nm->rctx = NULL;

    ngx_http_farm_kong_name_again(nm);
}


/*
 * The name's addresses are addrs now: the shared records follow, the
 * probes of the addresses gone stop, the new addresses get one.
 */

static void
ngx_http_farm_kong_name_update(ngx_http_farm_kong_hc_name_t *nm,
    ngx_addr_t *addrs, ngx_uint_t n)
{
    u_char      text[NGX_SOCKADDR_STRLEN];
    size_t      len;
    ngx_uint_t  i, k;

    if (ngx_http_farm_kong_health_addrs_sync(nm->kc, nm->u, nm->target, addrs,
                                             n)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, nm->cycle->log, 0,
                      "farm_kong: upstream \"%s\" target \"%s\": no room "
                      "in the health zone for its addresses",
                      nm->u->name, nm->u->targets[nm->target]->target);
    }

    for (i = 0; i < nm->n; /* void */) {
        if (ngx_http_farm_kong_name_find(addrs, n, &nm->addr[i])
            != NGX_CONF_UNSET_UINT)
        {
            i++;
            continue;
        }

        len = ngx_sock_ntop(nm->addr[i].sockaddr, nm->addr[i].socklen, text,
                            NGX_SOCKADDR_STRLEN, 1);

        ngx_log_error(NGX_LOG_NOTICE, nm->cycle->log, 0,
                      "farm_kong: upstream \"%s\" target \"%s\": address %*s "
                      "is no longer checked", nm->u->name,
                      nm->u->targets[nm->target]->target, len, text);

        ngx_http_farm_kong_hc_probe_stop(nm->probe[i]);

        /* the last one takes its place */

        nm->n--;
        nm->probe[i] = nm->probe[nm->n];
        nm->sa[i] = nm->sa[nm->n];
        nm->addr[i].sockaddr = &nm->sa[i].sockaddr;
        nm->addr[i].socklen = nm->addr[nm->n].socklen;
    }

    for (k = 0; k < n; k++) {
        if (ngx_http_farm_kong_name_find(nm->addr, nm->n, &addrs[k])
            != NGX_CONF_UNSET_UINT)
        {
            continue;
        }

        i = nm->n;

        nm->probe[i] = ngx_http_farm_kong_hc_probe(nm->cycle, nm->kc, nm->u,
                                                   nm->target, &addrs[k]);
        if (nm->probe[i] == NULL) {
            continue;
        }

        ngx_memcpy(&nm->sa[i], addrs[k].sockaddr, addrs[k].socklen);
        nm->addr[i].sockaddr = &nm->sa[i].sockaddr;
        nm->addr[i].socklen = addrs[k].socklen;
        nm->n++;

        len = ngx_sock_ntop(addrs[k].sockaddr, addrs[k].socklen, text,
                            NGX_SOCKADDR_STRLEN, 1);

        ngx_log_error(NGX_LOG_NOTICE, nm->cycle->log, 0,
                      "farm_kong: upstream \"%s\" target \"%s\": address %*s "
                      "is checked", nm->u->name,
                      nm->u->targets[nm->target]->target, len, text);
    }
}


/* the index of addr in addrs, or NGX_CONF_UNSET_UINT */

static ngx_uint_t
ngx_http_farm_kong_name_find(ngx_addr_t *addrs, ngx_uint_t n,
    ngx_addr_t *addr)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (ngx_cmp_sockaddr(addrs[i].sockaddr, addrs[i].socklen,
                             addr->sockaddr, addr->socklen, 1)
            == NGX_OK)
        {
            return i;
        }
    }

    return NGX_CONF_UNSET_UINT;
}


/* the next lookup: at the shorter check interval (the resolver caches) */

static void
ngx_http_farm_kong_name_again(ngx_http_farm_kong_hc_name_t *nm)
{
    double                      s;
    const kong_active_check_t  *ac;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ac = &nm->u->healthchecks.active;

    s = ac->healthy_interval;

    if (s <= 0 || (ac->unhealthy_interval > 0 && ac->unhealthy_interval < s))
    {
        s = ac->unhealthy_interval;
    }

    ngx_add_timer(&nm->due, (s > 0.1) ? (ngx_msec_t) (s * 1000) : 100);
}
