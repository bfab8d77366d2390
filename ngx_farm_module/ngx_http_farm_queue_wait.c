
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_queue, each worker's side: its waiting requests (fcf->waiting), the
 * wake-ups between workers, the requests' timeouts and cancellations.
 *
 * The master makes one eventfd per worker; any worker that grants an agent
 * to a waiter of another (ngx_http_farm_queue.c) notes it, and the note is
 * written to that worker's eventfd once the zone lock is released (a
 * posted event).  A woken worker takes its grants, one at a time, and
 * resumes their requests through ctx->resume; a poll timer is the safety
 * net, and also expires waiters nobody is left to end and sweeps a few
 * wait lists.  At exit the worker closes its eventfd's connection.
 */


#include "ngx_http_farm_queue.h"
#include "ngx_http_farm_subset.h"

#include <sys/eventfd.h>


#define NGX_HTTP_FARM_QUEUE_POLL       20      /* ms, the safety net */


static void ngx_http_farm_queue_cleanup_fds(void *data);
static void ngx_http_farm_queue_wake_handler(ngx_event_t *ev);
static void ngx_http_farm_queue_wake_flush(ngx_event_t *ev);
static void ngx_http_farm_queue_poll_handler(ngx_event_t *ev);
static void ngx_http_farm_queue_check(ngx_http_farm_srv_conf_t *fcf);
static void ngx_http_farm_queue_timeout_handler(ngx_event_t *ev);
static void ngx_http_farm_queue_forget(ngx_http_farm_ctx_t *ctx);


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

    /* the cycle's tag: its workers' owner records carry it */

    fmcf->tag = ((uint64_t) ngx_random() << 32) ^ (uint64_t) ngx_random()
                ^ (uint64_t) ngx_current_msec;

    if (fmcf->tag == 0) {
        fmcf->tag = 1;
    }

    if (!fmcf->admit) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    n = ccf->master ? (ngx_uint_t) ccf->worker_processes : 1;

    fmcf->wake = ngx_pcalloc(cycle->pool, n * sizeof(int));
    if (fmcf->wake == NULL) {
        return NGX_ERROR;
    }

    fmcf->wake_pending = ngx_pcalloc(cycle->pool, n);
    if (fmcf->wake_pending == NULL) {
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
        if (fmcf->wake[i] == -1
            || (fmcf->wake_conn && fmcf->wake_conn->fd == fmcf->wake[i]))
        {
            continue;   /* closed with its connection */
        }

        (void) close(fmcf->wake[i]);
    }

    fmcf->nwake = 0;
}


/* In each worker: set up the farms' lists; listen on its own eventfd. */

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

    fmcf->wake_ev.handler = ngx_http_farm_queue_wake_flush;
    fmcf->wake_ev.data = fmcf;
    fmcf->wake_ev.log = cycle->log;

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


/*
 * At worker exit: closes the wake-up connection (nginx counts a connection
 * left open as a leak).  The owner record goes with the module's exit.
 */

void
ngx_http_farm_queue_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  k;
    ngx_http_farm_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_farm_module);

    if (fmcf->wake_ev.posted) {
        ngx_delete_posted_event(&fmcf->wake_ev);
    }

    if (fmcf->wake_conn == NULL) {
        return;
    }

    for (k = 0; k < fmcf->nwake; k++) {
        if (fmcf->wake[k] == fmcf->wake_conn->fd) {
            fmcf->wake[k] = -1;
        }
    }

    ngx_close_connection(fmcf->wake_conn);
    fmcf->wake_conn = NULL;
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


/* Posted by a dispatch: wakes the workers it granted to, now unlocked. */

static void
ngx_http_farm_queue_wake_flush(ngx_event_t *ev)
{
    ngx_http_farm_main_conf_t  *fmcf = ev->data;

    uint64_t    one;
    ngx_uint_t  i;

    for (i = 0; i < fmcf->nwake; i++) {
        if (!fmcf->wake_pending[i]) {
            continue;
        }

        fmcf->wake_pending[i] = 0;

        if (fmcf->wake[i] == -1) {
            continue;
        }

        one = 1;

        if (write(fmcf->wake[i], &one, sizeof(uint64_t)) == -1) {
            /* a full counter wakes it anyway; the poll covers the rest */
        }
    }
}


static void
ngx_http_farm_queue_poll_handler(ngx_event_t *ev)
{
    ngx_http_farm_srv_conf_t  *fcf = ev->data;

    ngx_http_farm_zone_t  z;

    /* waiters nobody will end any more go; a few classes are retried */

    ngx_http_farm_zone_get(fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);
    ngx_http_farm_queue_expire_locked(&z);
    ngx_http_farm_queue_sweep_locked(&z);
    ngx_shmtx_unlock(&z.shpool->mutex);

    ngx_http_farm_queue_check(fcf);
}


/*
 * Puts a request that found every agent it may use full in the queue.
 * Called locked, from the admission handler, right after it looked for an
 * agent under the same lock, so no agent can have freed up unseen in
 * between; unlocks.  Returns NGX_AGAIN when the request now waits (its
 * wait ends through ctx->resume), or NGX_DECLINED when the queue is full
 * (the caller refuses).
 */

ngx_int_t
ngx_http_farm_queue_wait_locked(ngx_http_request_t *r,
    ngx_http_farm_ctx_t *ctx, ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f, ngx_int_t priority)
{
    uint32_t                   i;
    uint64_t                   seq;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = ctx->fcf;

    i = ngx_http_farm_queue_enter_locked(z, f, priority, fcf->owner,
                                         fcf->queue.timeout, ctx, &seq);

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (i == NGX_HTTP_FARM_NONE32) {
        return NGX_DECLINED;
    }

    ctx->waiter = i;
    ctx->waiter_seq = seq;
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

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "farm: queued, priority %i", priority);

    return NGX_AGAIN;
}


/* This worker's grants: resume their requests, one at a time, unlocked. */

static void
ngx_http_farm_queue_check(ngx_http_farm_srv_conf_t *fcf)
{
    uint32_t               slot, gen;
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_http_farm_ctx_t   *ctx;
    ngx_http_farm_zone_t   z;

    if (fcf->owner >= NGX_HTTP_FARM_OWNERS) {
        return;
    }

    ngx_http_farm_zone_get(fcf, &z);

    while (!ngx_queue_empty(&fcf->waiting)) {

        ngx_shmtx_lock(&z.shpool->mutex);
        ctx = ngx_http_farm_queue_grant_next_locked(&z, fcf->owner, &slot,
                                                    &gen);
        ngx_shmtx_unlock(&z.shpool->mutex);

        if (ctx == NULL) {
            break;
        }

        ctx->reserved = slot;
        ctx->reserved_gen = gen;

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

    uint32_t              slot, gen;
    ngx_uint_t            state;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_farm_zone_t  z;

    r = ctx->request;
    c = r->connection;

    ngx_http_farm_zone_get(ctx->fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);
    state = ngx_http_farm_queue_leave_locked(&z, ctx->waiter,
                                             ctx->waiter_seq, 0, &slot, &gen);
    ngx_shmtx_unlock(&z.shpool->mutex);

    if (state == NGX_HTTP_FARM_WAITER_GRANTED) {

        /* granted just now: take it */

        ngx_http_farm_queue_check(ctx->fcf);
        return;
    }

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
    uint32_t              slot, gen;
    ngx_uint_t            state;
    ngx_http_farm_zone_t  z;

    if (!ctx->waiting) {
        return;
    }

    ngx_http_farm_zone_get(ctx->fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);
    state = ngx_http_farm_queue_leave_locked(&z, ctx->waiter,
                                             ctx->waiter_seq, 1, &slot, &gen);
    ngx_shmtx_unlock(&z.shpool->mutex);

    ngx_http_farm_queue_forget(ctx);

    if (state == NGX_HTTP_FARM_WAITER_GRANTED) {
        ngx_http_farm_queue_release(&z, slot, gen, ctx->fcf->owner);
    }
}


/*
 * Serves waiters, for a caller that does not hold the lock: with the agent
 * of id that joined or changed (the sync layer), or, id NULL, with every
 * agent (a worker's start, after a dead worker's agents were given back).
 */

void
ngx_http_farm_queue_dispatch(ngx_http_farm_zone_t *z, u_char *id,
    size_t len)
{
    ngx_http_farm_agent_t  *a;

    ngx_shmtx_lock(&z->shpool->mutex);

    if (z->sh->qlen) {
        a = id ? ngx_http_farm_agent_lookup_locked(z, id, len) : NULL;

        if (id == NULL || a) {
            ngx_http_farm_queue_dispatch_locked(z, a);
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


/*
 * Gives back an agent taken for a request that did not use it (reserved at
 * admission or granted, counted for owner), and serves the waiters with
 * it.  Takes the lock.
 */

void
ngx_http_farm_queue_release(ngx_http_farm_zone_t *z, uint32_t slot,
    uint32_t gen, ngx_uint_t owner)
{
    farm_peers_t            peers;
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_zone_peers(z->sh, &peers);

    ngx_shmtx_lock(&z->shpool->mutex);

    a = &z->sh->agents[slot];

    if (a->gen == gen) {
        farm_tree_release(&z->sh->tree, &peers, slot);
        ngx_http_farm_owner_hold_locked(z, slot, owner, -1);
        ngx_http_farm_subsets_update_locked(z, a);
        ngx_http_farm_queue_dispatch_locked(z, a);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}
