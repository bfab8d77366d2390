
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong, the health of a target named by a host name, per address as
 * Kong keeps it (one healthchecker entry per address, port and name): the
 * records of the addresses its name resolves to hang from the target's
 * record in the file's health zone (ngx_http_farm_kong_health.c), so that
 * an unchanged target keeps them over a reload.  The worker that checks
 * the target (ngx_http_farm_kong_check_name.c) says which addresses the
 * name has now: a new one starts healthy, one no longer resolved is
 * marked gone (its record is kept for reuse, never freed while workers
 * read it).  The balancer skips an address that is down.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_farm_kong.h"


static ngx_http_farm_kong_health_t *ngx_http_farm_kong_addr_find(
    ngx_http_farm_kong_health_t *h, struct sockaddr *sockaddr,
    socklen_t socklen, ngx_uint_t gone);
static ngx_uint_t ngx_http_farm_kong_addr_is(ngx_http_farm_kong_health_t *a,
    struct sockaddr *sockaddr, socklen_t socklen);
static void ngx_http_farm_kong_addr_clear(ngx_http_farm_kong_health_t *a);


/*
 * The checking worker's answer from the resolver: addrs (with the
 * target's port) are target's addresses now.  Returns NGX_ERROR when the
 * zone has no room for a new address (it is then not checked).
 */

ngx_int_t
ngx_http_farm_kong_health_addrs_sync(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target, ngx_addr_t *addrs,
    ngx_uint_t n)
{
    ngx_int_t                     rc;
    ngx_uint_t                    i, seen;
    ngx_slab_pool_t              *shpool;
    ngx_http_farm_kong_health_t  *h, *a;

    h = kc->health[kc->cw_off[u->index] + target];
    shpool = (ngx_slab_pool_t *) kc->hc_zone->shm.addr;
    rc = NGX_OK;

    ngx_shmtx_lock(&shpool->mutex);

    /* the addresses no longer resolved are gone */

    for (a = h->addrs; a; a = a->next) {
        if (a->gone) {
            continue;
        }

        for (seen = 0, i = 0; i < n && !seen; i++) {
            seen = ngx_http_farm_kong_addr_is(a, addrs[i].sockaddr,
                                              addrs[i].socklen);
        }

        if (!seen) {
            ngx_http_farm_kong_addr_clear(a);
            a->gone = 1;
        }
    }

    /* a new one (or one back) starts healthy, in a free record if any */

    for (i = 0; i < n; i++) {
        if (ngx_http_farm_kong_addr_find(h, addrs[i].sockaddr,
                                         addrs[i].socklen, 0)
            != NULL)
        {
            continue;
        }

        a = ngx_http_farm_kong_addr_find(h, NULL, 0, 1);

        if (a == NULL) {
            a = ngx_slab_calloc_locked(shpool,
                                       sizeof(ngx_http_farm_kong_health_t)
                                       + sizeof(ngx_sockaddr_t));
            if (a == NULL) {
                rc = NGX_ERROR;
                break;
            }

            a->next = h->addrs;
            h->addrs = a;
        }

        ngx_http_farm_kong_addr_clear(a);
        ngx_memcpy(a->key, addrs[i].sockaddr, addrs[i].socklen);
        a->len = addrs[i].socklen;
        ngx_memory_barrier();
        a->gone = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/* a target reset at a reload: its addresses start again */

void
ngx_http_farm_kong_health_addrs_reset_locked(ngx_http_farm_kong_health_t *h)
{
    ngx_http_farm_kong_health_t  *a;

    for (a = h->addrs; a; a = a->next) {
        ngx_http_farm_kong_addr_clear(a);
        a->gone = 1;
    }
}


/* a target's record freed: its addresses' too */

void
ngx_http_farm_kong_health_addrs_free_locked(ngx_slab_pool_t *shpool,
    ngx_http_farm_kong_health_t *h)
{
    ngx_http_farm_kong_health_t  *a, *next;

    for (a = h->addrs; a; a = next) {
        next = a->next;
        ngx_slab_free_locked(shpool, a);
    }

    h->addrs = NULL;
}


/* is this address of the target down?  Unlocked, for the balancer */

ngx_uint_t
ngx_http_farm_kong_health_addr_down(ngx_http_farm_kong_health_t *h,
    struct sockaddr *sockaddr, socklen_t socklen)
{
    ngx_http_farm_kong_health_t  *a;

    a = ngx_http_farm_kong_addr_find(h, sockaddr, socklen, 0);

    return (a != NULL) ? a->down : 0;
}


/* has the target an address up (or none known yet)? */

ngx_uint_t
ngx_http_farm_kong_health_addrs_up(ngx_http_farm_kong_health_t *h)
{
    ngx_uint_t                    known;
    ngx_http_farm_kong_health_t  *a;

    known = 0;

    for (a = h->addrs; a; a = a->next) {
        if (a->gone) {
            continue;
        }

        if (!a->down) {
            return 1;
        }

        known = 1;
    }

    return !known;
}


/*
 * What a check of one address, or a request proxied to it, said: counted
 * on that address's record by Kong's rules.  An address the checks do
 * not know (not resolved by them yet) is not counted.
 */

void
ngx_http_farm_kong_health_report_addr(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target, struct sockaddr *sockaddr,
    socklen_t socklen, ngx_uint_t what, ngx_uint_t active, ngx_log_t *log)
{
    u_char                        text[NGX_SOCKADDR_STRLEN];
    size_t                        len;
    ngx_uint_t                    limit, changed;
    const char                   *kind;
    ngx_slab_pool_t              *shpool;
    ngx_http_farm_kong_health_t  *h, *a;

    h = kc->health[kc->cw_off[u->index] + target];
    shpool = (ngx_slab_pool_t *) kc->hc_zone->shm.addr;
    changed = 0;
    limit = 0;
    kind = NULL;

    ngx_shmtx_lock(&shpool->mutex);

    a = ngx_http_farm_kong_addr_find(h, sockaddr, socklen, 0);

    if (a != NULL) {
        changed = ngx_http_farm_kong_health_count_locked(u, a, what, active,
                                                         &limit, &kind);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (!changed) {
        return;
    }

    len = ngx_sock_ntop(sockaddr, socklen, text, NGX_SOCKADDR_STRLEN, 1);

    if (kind == NULL) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "farm_kong: upstream \"%s\" target \"%s\" address "
                      "%*s is healthy after %ui successes (active health "
                      "check)", u->name, u->targets[target]->target,
                      len, text, limit);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "farm_kong: upstream \"%s\" target \"%s\" address %*s is "
                  "unhealthy after %ui %s (%s health check)",
                  u->name, u->targets[target]->target, len, text, limit,
                  kind, active ? "active" : "passive");
}


/* the record of an address of h (gone: a free record, any address) */

static ngx_http_farm_kong_health_t *
ngx_http_farm_kong_addr_find(ngx_http_farm_kong_health_t *h,
    struct sockaddr *sockaddr, socklen_t socklen, ngx_uint_t gone)
{
    ngx_http_farm_kong_health_t  *a;

    for (a = h->addrs; a; a = a->next) {
        if (gone) {
            if (a->gone) {
                return a;
            }

            continue;
        }

        if (!a->gone && ngx_http_farm_kong_addr_is(a, sockaddr, socklen)) {
            return a;
        }
    }

    return NULL;
}


static ngx_uint_t
ngx_http_farm_kong_addr_is(ngx_http_farm_kong_health_t *a,
    struct sockaddr *sockaddr, socklen_t socklen)
{
    ngx_sockaddr_t  sa;

    if (a->len != (size_t) socklen || a->len > sizeof(ngx_sockaddr_t)) {
        return 0;
    }

    ngx_memcpy(&sa, a->key, a->len);

    return ngx_cmp_sockaddr(&sa.sockaddr, a->len, sockaddr, socklen, 1)
           == NGX_OK;
}


static void
ngx_http_farm_kong_addr_clear(ngx_http_farm_kong_health_t *a)
{
    a->tcp_failures = 0;
    a->timeouts = 0;
    a->http_failures = 0;
    a->successes = 0;
    a->checks = 0;
    a->down = 0;
}
