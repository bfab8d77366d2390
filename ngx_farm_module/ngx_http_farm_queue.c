
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_queue: when every agent a request may use is at its max_conns, the
 * request waits instead of failing.  Waiters live in the zone, in order of
 * priority (highest first) and arrival; when an agent frees up, whichever
 * worker freed it grants it to the first waiter that may use it (taking the
 * agent on the waiter's behalf, so nobody else can) and wakes the waiter's
 * worker through that worker's eventfd.  A waiter that times out, or whose
 * client leaves, gives up its place (and its grant, if one came).
 */


#include "ngx_http_farm_queue.h"
#include "ngx_http_farm_route.h"

#include <sys/eventfd.h>


#define NGX_HTTP_FARM_QUEUE_POLL    20      /* ms, the safety net */


static void ngx_http_farm_queue_cleanup_fds(void *data);
static void ngx_http_farm_queue_wake_handler(ngx_event_t *ev);
static void ngx_http_farm_queue_poll_handler(ngx_event_t *ev);
static void ngx_http_farm_queue_check(ngx_http_farm_srv_conf_t *fcf);
static void ngx_http_farm_queue_timeout_handler(ngx_event_t *ev);
static void ngx_http_farm_queue_unlink_locked(ngx_http_farm_shctx_t *sh,
    uint32_t i);
static void ngx_http_farm_queue_free_entry_locked(
    ngx_http_farm_shctx_t *sh, uint32_t i);
static void ngx_http_farm_queue_forget(ngx_http_farm_ctx_t *ctx);


char *
ngx_http_farm_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    ngx_int_t                          n;
    ngx_str_t                         *value, s;
    ngx_uint_t                         i;
    const char                        *why;
    ngx_http_farm_main_conf_t         *fmcf;
    ngx_http_farm_queue_conf_t        *qcf;
    ngx_http_compile_complex_value_t   ccv;

    qcf = &fcf->queue;

    if (qcf->enabled) {
        return "is duplicate";
    }

    qcf->enabled = 1;
    qcf->max = 1000;
    qcf->timeout = 30000;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_module);
    fmcf->admit = 1;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            why = "a number from 1 to 100000";
            n = ngx_atoi(value[i].data + 4, value[i].len - 4);
            if (n < 1 || n > 100000) {
                goto invalid;
            }

            qcf->max = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            why = "a time of at least 1ms";
            if (ngx_http_farm_conf_msec(&value[i], 8, 1, &qcf->timeout)
                != NGX_OK)
            {
                goto invalid;
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "priority=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            qcf->priority = ngx_palloc(cf->pool,
                                       sizeof(ngx_http_complex_value_t));
            if (qcf->priority == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = qcf->priority;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown \"farm_queue\" parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"farm_queue\" parameter \"%V\": expected %s",
                       &value[i], why);

    return NGX_CONF_ERROR;
}


/*
 * In the master, once per configuration: an eventfd per worker, inherited
 * by all of them, so any worker can wake any other.  Closed with the cycle.
 */

ngx_int_t
ngx_http_farm_queue_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i, n;
    ngx_core_conf_t            *ccf;
    ngx_pool_cleanup_t         *cln;
    ngx_http_farm_main_conf_t  *fmcf;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    fmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_farm_module);

    if (!fmcf->admit) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    n = ccf->master ? (ngx_uint_t) ccf->worker_processes : 1;

    fmcf->wake = ngx_pcalloc(cycle->pool, n * sizeof(int));
    if (fmcf->wake == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        fmcf->wake[i] = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);

        if (fmcf->wake[i] == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "farm: eventfd() for the queue failed");
            fmcf->nwake = i;
            cln->handler = ngx_http_farm_queue_cleanup_fds;
            cln->data = fmcf;
            return NGX_ERROR;
        }
    }

    fmcf->nwake = n;
    fmcf->tag = ((uint64_t) ngx_random() << 32) ^ (uint64_t) ngx_random()
                ^ (uint64_t) ngx_current_msec;

    cln->handler = ngx_http_farm_queue_cleanup_fds;
    cln->data = fmcf;

    return NGX_OK;
}


static void
ngx_http_farm_queue_cleanup_fds(void *data)
{
    ngx_http_farm_main_conf_t  *fmcf = data;

    ngx_uint_t  i;

    for (i = 0; i < fmcf->nwake; i++) {
        if (fmcf->wake_conn && fmcf->wake_conn->fd == fmcf->wake[i]) {
            continue;   /* closed with its connection */
        }

        (void) close(fmcf->wake[i]);
    }

    fmcf->nwake = 0;
}


/* In each worker: listen on its own eventfd; set up the farms' lists. */

ngx_int_t
ngx_http_farm_queue_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i, me;
    ngx_connection_t           *c;
    ngx_http_farm_srv_conf_t  **farm;
    ngx_http_farm_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_farm_module);

    farm = fmcf->farms.elts;

    for (i = 0; i < fmcf->farms.nelts; i++) {
        ngx_queue_init(&farm[i]->waiting);

        farm[i]->poll_ev.handler = ngx_http_farm_queue_poll_handler;
        farm[i]->poll_ev.data = farm[i];
        farm[i]->poll_ev.log = cycle->log;
        farm[i]->poll_ev.cancelable = 1;
    }

    if (fmcf->nwake == 0) {
        return NGX_OK;
    }

    me = (ngx_process == NGX_PROCESS_WORKER) ? ngx_worker : 0;

    if (me >= fmcf->nwake) {
        return NGX_OK;
    }

    c = ngx_get_connection(fmcf->wake[me], cycle->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = fmcf;
    c->read->handler = ngx_http_farm_queue_wake_handler;
    c->read->log = cycle->log;
    c->log = cycle->log;

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_free_connection(c);
        return NGX_ERROR;
    }

    fmcf->wake_conn = c;

    return NGX_OK;
}


static void
ngx_http_farm_queue_wake_handler(ngx_event_t *ev)
{
    ngx_connection_t           *c = ev->data;
    ngx_http_farm_main_conf_t  *fmcf = c->data;

    uint64_t                    n;
    ngx_uint_t                  i;
    ngx_http_farm_srv_conf_t  **farm;

    while (read(c->fd, &n, sizeof(uint64_t)) == sizeof(uint64_t)) {
        /* drain */
    }

    farm = fmcf->farms.elts;

    for (i = 0; i < fmcf->farms.nelts; i++) {
        if (farm[i]->queue.enabled) {
            ngx_http_farm_queue_check(farm[i]);
        }
    }
}


static void
ngx_http_farm_queue_poll_handler(ngx_event_t *ev)
{
    ngx_http_farm_srv_conf_t  *fcf = ev->data;

    ngx_http_farm_queue_check(fcf);
}


/*
 * Sets up the zone's queue: a new zone (the master), or a zone that had no
 * queue before a reload.  Takes the lock (allocates first, then publishes),
 * so it must not be called with the lock held.
 */

ngx_int_t
ngx_http_farm_queue_zone(ngx_http_farm_zone_t *z)
{
    uint32_t                 i, n;
    ngx_http_farm_shctx_t   *sh;
    ngx_http_farm_waiter_t  *waiters;

    sh = z->sh;
    n = z->fcf->queue.enabled ? z->fcf->queue.max : 0;
    waiters = NULL;

    if (n) {
        waiters = ngx_slab_calloc(z->shpool,
                                  n * sizeof(ngx_http_farm_waiter_t));
        if (waiters == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < n; i++) {
            waiters[i].next = (i + 1 < n) ? i + 1 : NGX_HTTP_FARM_NONE32;
        }
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    sh->qmax = n;
    sh->qlen = 0;
    sh->qhead = NGX_HTTP_FARM_NONE32;
    sh->qtail = NGX_HTTP_FARM_NONE32;
    sh->qfree = n ? 0 : NGX_HTTP_FARM_NONE32;

    if (n) {
        sh->waiters = waiters;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return NGX_OK;
}


/*
 * A reload kept the zone: a queue added now gets its waiters; a queue's
 * size cannot change under the old workers.  Not locked.
 */

ngx_int_t
ngx_http_farm_queue_reuse(ngx_http_farm_zone_t *z, ngx_shm_zone_t *shm_zone)
{
    ngx_http_farm_shctx_t     *sh;
    ngx_http_farm_srv_conf_t  *fcf;

    sh = z->sh;
    fcf = z->fcf;

    if (!fcf->queue.enabled || sh->qmax == fcf->queue.max) {
        return NGX_OK;
    }

    if (sh->qmax) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "farm zone \"%V\": farm_queue max= cannot change from "
                      "%uD to %ui in a live zone; keep max=%uD, change the "
                      "zone= size, or restart nginx",
                      &shm_zone->shm.name, sh->qmax, fcf->queue.max,
                      sh->qmax);
        return NGX_ERROR;
    }

    if (ngx_http_farm_queue_zone(z) != NGX_OK) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "farm zone \"%V\" has no room for a queue of "
                      "%ui; raise zone= or restart",
                      &shm_zone->shm.name, fcf->queue.max);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_farm_queue_unlink_locked(ngx_http_farm_shctx_t *sh, uint32_t i)
{
    ngx_http_farm_waiter_t  *w;

    w = &sh->waiters[i];

    if (w->prev != NGX_HTTP_FARM_NONE32) {
        sh->waiters[w->prev].next = w->next;

    } else {
        sh->qhead = w->next;
    }

    if (w->next != NGX_HTTP_FARM_NONE32) {
        sh->waiters[w->next].prev = w->prev;

    } else {
        sh->qtail = w->prev;
    }

    sh->qlen--;
}


static void
ngx_http_farm_queue_free_entry_locked(ngx_http_farm_shctx_t *sh, uint32_t i)
{
    sh->waiters[i].state = NGX_HTTP_FARM_WAITER_FREE;
    sh->waiters[i].next = sh->qfree;
    sh->qfree = i;
}


/*
 * Puts a request that found every agent full in the queue.  Called
 * locked, from the admission handler; unlocks.  Returns NGX_AGAIN when the
 * request now waits (its wait ends through ctx->resume), NGX_DECLINED when
 * the queue is full (the caller refuses), or an HTTP error.
 */

ngx_int_t
ngx_http_farm_queue_wait_locked(ngx_http_request_t *r, ngx_http_farm_ctx_t *ctx,
    ngx_http_farm_zone_t *z, ngx_http_farm_filter_t *f)
{
    uint32_t                    i, at;
    ngx_int_t                   priority, sign;
    ngx_str_t                   v;
    ngx_http_farm_waiter_t     *w;
    ngx_http_farm_shctx_t      *sh;
    ngx_http_farm_srv_conf_t   *fcf;

    sh = z->sh;
    fcf = ctx->fcf;

    if (sh->qfree == NGX_HTTP_FARM_NONE32) {
        sh->queue_full++;
        ngx_shmtx_unlock(&z->shpool->mutex);

        return NGX_DECLINED;
    }

    priority = 0;

    if (fcf->queue.priority) {
        ngx_shmtx_unlock(&z->shpool->mutex);

        if (ngx_http_complex_value(r, fcf->queue.priority, &v) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        sign = 1;

        if (v.len > 1 && v.data[0] == '-') {
            sign = -1;
            v.data++;
            v.len--;
        }

        priority = ngx_atoi(v.data, v.len);
        priority = (priority == NGX_ERROR) ? 0 : sign * priority;

        ngx_shmtx_lock(&z->shpool->mutex);

        if (sh->qfree == NGX_HTTP_FARM_NONE32) {
            sh->queue_full++;
            ngx_shmtx_unlock(&z->shpool->mutex);

            return NGX_DECLINED;
        }
    }

    i = sh->qfree;
    w = &sh->waiters[i];
    sh->qfree = w->next;

    w->state = NGX_HTTP_FARM_WAITER_WAITING;
    w->priority = priority;
    w->seq = ++sh->qseq;
    w->tag = fcf->fmcf->tag;
    w->worker = (ngx_process == NGX_PROCESS_WORKER) ? ngx_worker : 0;
    w->since = ngx_current_msec;
    w->filtered = f->on;
    w->norder = f->norder;
    ngx_memcpy(w->order, f->order, f->norder * sizeof(ngx_uint_t));
    w->mask = f->mask;
    w->slot = FARM_SLOT_NONE;

    /* after the last waiter of the same or a higher priority */

    for (at = sh->qtail;
         at != NGX_HTTP_FARM_NONE32 && sh->waiters[at].priority < priority;
         at = sh->waiters[at].prev)
    {
        /* void */
    }

    w->prev = at;
    w->next = (at == NGX_HTTP_FARM_NONE32) ? sh->qhead : sh->waiters[at].next;

    if (w->next != NGX_HTTP_FARM_NONE32) {
        sh->waiters[w->next].prev = i;

    } else {
        sh->qtail = i;
    }

    if (at != NGX_HTTP_FARM_NONE32) {
        sh->waiters[at].next = i;

    } else {
        sh->qhead = i;
    }

    sh->qlen++;
    sh->queued++;

    ngx_shmtx_unlock(&z->shpool->mutex);

    ctx->waiter = i;
    ctx->waiter_seq = w->seq;
    ctx->waiting = 1;
    ctx->queued_at = ngx_current_msec;

    ngx_queue_insert_tail(&fcf->waiting, &ctx->link);

    ctx->timeout.handler = ngx_http_farm_queue_timeout_handler;
    ctx->timeout.data = ctx;
    ctx->timeout.log = r->connection->log;

    ngx_add_timer(&ctx->timeout, fcf->queue.timeout);

    if (!fcf->poll_ev.timer_set) {
        ngx_add_timer(&fcf->poll_ev, NGX_HTTP_FARM_QUEUE_POLL);
    }

    /* a client that leaves while waiting is noticed */

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "farm: queued, priority %i, %uD waiting", priority,
                   sh->qlen);

    return NGX_AGAIN;
}


/* Serves waiters, for a caller that does not hold the lock. */

void
ngx_http_farm_queue_dispatch(ngx_http_farm_zone_t *z)
{
    ngx_shmtx_lock(&z->shpool->mutex);
    ngx_http_farm_queue_dispatch_locked(z);
    ngx_shmtx_unlock(&z->shpool->mutex);
}


/*
 * Grants freed capacity to waiters, first to last, as long as some agent is
 * available at all.
 */

void
ngx_http_farm_queue_dispatch_locked(ngx_http_farm_zone_t *z)
{
    uint32_t                    i, next, slot;
    ngx_msec_t                  waited;
    farm_peers_t                peers;
    ngx_http_farm_ctx_t         scratch;
    ngx_http_farm_filter_t      f;
    ngx_http_farm_waiter_t     *w;
    ngx_http_farm_agent_t      *a;
    ngx_http_farm_shctx_t      *sh;
    ngx_http_farm_main_conf_t  *fmcf;
    uint64_t                    one;

    sh = z->sh;

    if (sh->qlen == 0) {
        return;
    }

    ngx_http_farm_zone_peers(sh, &peers);
    fmcf = z->fcf->fmcf;

    for (i = sh->qhead; i != NGX_HTTP_FARM_NONE32; i = next) {
        w = &sh->waiters[i];
        next = w->next;

        if (farm_tree_best(&sh->tree, &peers, NULL, 0) == FARM_SLOT_NONE) {
            return;
        }

        if (w->filtered) {
            ngx_memzero(&f, sizeof(ngx_http_farm_filter_t));
            f.on = 1;
            f.resolved = 1;
            f.norder = w->norder;
            ngx_memcpy(f.order, w->order, w->norder * sizeof(ngx_uint_t));
            f.mask = w->mask;

            ngx_memzero(&scratch, sizeof(ngx_http_farm_ctx_t));

            slot = ngx_http_farm_route_choose_locked(z, &f, NULL, 0, &scratch);

        } else {
            slot = farm_tree_best(&sh->tree, &peers, NULL, 0);
        }

        if (slot == FARM_SLOT_NONE) {
            continue;
        }

        a = &sh->agents[slot];

        farm_tree_acquire(&sh->tree, &peers, slot);
        ngx_http_farm_subsets_update_locked(z, a);

        w->state = NGX_HTTP_FARM_WAITER_GRANTED;
        w->slot = slot;
        w->gen = a->gen;

        ngx_http_farm_queue_unlink_locked(sh, i);

        waited = ngx_current_msec - w->since;
        sh->dispatched++;
        sh->wait_total += waited;

        if (waited > sh->wait_max) {
            sh->wait_max = waited;
        }

        /* wake its worker; a worker of another cycle polls instead */

        if (fmcf && w->tag == fmcf->tag && w->worker < fmcf->nwake) {
            one = 1;

            if (write(fmcf->wake[w->worker], &one, sizeof(uint64_t)) == -1) {
                /* a full counter wakes it anyway; the poll covers the rest */
            }
        }
    }
}


/* This worker's waiters: resume the granted ones. */

static void
ngx_http_farm_queue_check(ngx_http_farm_srv_conf_t *fcf)
{
    ngx_queue_t             *q, *next;
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_farm_ctx_t     *ctx;
    ngx_http_farm_zone_t     z;
    ngx_http_farm_waiter_t  *w;

    ngx_http_farm_zone_get(fcf, &z);

    for (q = ngx_queue_head(&fcf->waiting);
         q != ngx_queue_sentinel(&fcf->waiting);
         q = next)
    {
        next = ngx_queue_next(q);
        ctx = ngx_queue_data(q, ngx_http_farm_ctx_t, link);

        ngx_shmtx_lock(&z.shpool->mutex);

        w = &z.sh->waiters[ctx->waiter];

        if (w->seq != ctx->waiter_seq
            || w->state != NGX_HTTP_FARM_WAITER_GRANTED)
        {
            ngx_shmtx_unlock(&z.shpool->mutex);
            continue;
        }

        ctx->reserved = w->slot;
        ctx->reserved_gen = w->gen;

        ngx_http_farm_queue_free_entry_locked(z.sh, ctx->waiter);

        ngx_shmtx_unlock(&z.shpool->mutex);

        ngx_http_farm_queue_forget(ctx);

        r = ctx->request;
        c = r->connection;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "farm: dequeued after %M ms",
                       ngx_current_msec - ctx->queued_at);

        ctx->resume(r, NGX_HTTP_FARM_REJECT_NONE);
        ngx_http_run_posted_requests(c);
    }

    if (!ngx_queue_empty(&fcf->waiting) && !fcf->poll_ev.timer_set) {
        ngx_add_timer(&fcf->poll_ev, NGX_HTTP_FARM_QUEUE_POLL);
    }
}


/* The request no longer waits here: off the worker's list, no timer. */

static void
ngx_http_farm_queue_forget(ngx_http_farm_ctx_t *ctx)
{
    ctx->waiting = 0;

    ngx_queue_remove(&ctx->link);

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }
}


static void
ngx_http_farm_queue_timeout_handler(ngx_event_t *ev)
{
    ngx_http_farm_ctx_t  *ctx = ev->data;

    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_farm_zone_t     z;
    ngx_http_farm_waiter_t  *w;

    r = ctx->request;
    c = r->connection;

    ngx_http_farm_zone_get(ctx->fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);

    w = &z.sh->waiters[ctx->waiter];

    if (w->seq == ctx->waiter_seq
        && w->state == NGX_HTTP_FARM_WAITER_GRANTED)
    {
        /* granted just now: take it */

        ngx_shmtx_unlock(&z.shpool->mutex);
        ngx_http_farm_queue_check(ctx->fcf);
        return;
    }

    if (w->seq == ctx->waiter_seq
        && w->state == NGX_HTTP_FARM_WAITER_WAITING)
    {
        ngx_http_farm_queue_unlink_locked(z.sh, ctx->waiter);
        ngx_http_farm_queue_free_entry_locked(z.sh, ctx->waiter);
        z.sh->timed_out++;
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    ngx_http_farm_queue_forget(ctx);

    ctx->resume(r, NGX_HTTP_FARM_REJECT_QUEUE_TIMEOUT);
    ngx_http_run_posted_requests(c);
}


/*
 * The request ends while it waits (its client left): give up the place,
 * and a grant that came meanwhile.  From the request's cleanup.
 */

void
ngx_http_farm_queue_cancel(ngx_http_farm_ctx_t *ctx)
{
    uint32_t                 slot, gen;
    ngx_http_farm_zone_t     z;
    ngx_http_farm_waiter_t  *w;

    if (!ctx->waiting) {
        return;
    }

    ngx_http_farm_zone_get(ctx->fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);

    w = &z.sh->waiters[ctx->waiter];

    if (w->seq == ctx->waiter_seq) {
        if (w->state == NGX_HTTP_FARM_WAITER_WAITING) {
            ngx_http_farm_queue_unlink_locked(z.sh, ctx->waiter);
            ngx_http_farm_queue_free_entry_locked(z.sh, ctx->waiter);

        } else if (w->state == NGX_HTTP_FARM_WAITER_GRANTED) {
            slot = w->slot;
            gen = w->gen;

            ngx_http_farm_queue_free_entry_locked(z.sh, ctx->waiter);
            ngx_shmtx_unlock(&z.shpool->mutex);

            ngx_http_farm_queue_forget(ctx);
            ngx_http_farm_queue_release(&z, slot, gen);
            return;
        }
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    ngx_http_farm_queue_forget(ctx);
}


/*
 * Gives back an agent taken for a request that did not use it, and serves
 * the waiters with it.  Takes the lock.
 */

void
ngx_http_farm_queue_release(ngx_http_farm_zone_t *z, uint32_t slot,
    uint32_t gen)
{
    farm_peers_t            peers;
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_zone_peers(z->sh, &peers);

    ngx_shmtx_lock(&z->shpool->mutex);

    a = &z->sh->agents[slot];

    if (a->gen == gen) {
        farm_tree_release(&z->sh->tree, &peers, slot);
        ngx_http_farm_subsets_update_locked(z, a);
        ngx_http_farm_queue_dispatch_locked(z);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}
