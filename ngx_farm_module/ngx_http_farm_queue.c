
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_queue: when every agent a request may use is at its max_conns, the
 * request waits instead of failing.
 *
 * Waiters live in the zone, grouped in classes: one class per distinct
 * filter (region order and required capabilities; unfiltered requests form
 * one class), each an ordered list, highest priority first, then arrival.
 * Each class is also linked into the list of every region it may use
 * (region 0: any).  When an agent frees up, whoever freed it looks only at
 * the classes of that agent's region and of "any" whose capabilities the
 * agent has, and grants the agent to the best head among them (taking it
 * on the waiter's behalf, so nobody else can).  Within a class the head is
 * the only candidate: if it cannot be served, nobody behind it can.
 *
 * Every worker holds an owner entry in the zone: its waiters' grants are
 * linked to it, so a worker picks up its grants without looking at its
 * other waiters, and what a worker that died held (waiters, grants, client
 * counts: ngx_http_farm_client.c) is found and given back when a worker
 * next starts.  Waiters also expire on their own a little after their
 * timeout, in arrival order, in case nobody is left to end them.
 *
 * A waiter's worker is woken through its eventfd, written after the zone
 * lock is released (a posted event), or finds its grant by polling.
 */


#include "ngx_http_farm_module.h"

#include <sys/eventfd.h>


#define NGX_HTTP_FARM_QUEUE_POLL       20      /* ms, the safety net */
#define NGX_HTTP_FARM_QUEUE_GRACE      2000    /* ms after a timeout */
#define NGX_HTTP_FARM_QUEUE_CLASSES    4096    /* filters waiting at once */
#define NGX_HTTP_FARM_QUEUE_CANDIDATES 64      /* classes per dispatch */
#define NGX_HTTP_FARM_QUEUE_SWEEP      100     /* ms between sweeps */
#define NGX_HTTP_FARM_QUEUE_SWEPT      16      /* classes per sweep */
#define NGX_HTTP_FARM_QUEUE_LEVELS     8       /* priorities tracked */
#define NGX_HTTP_FARM_OWNERS           256     /* workers per zone */
#define NGX_HTTP_FARM_NONE32           0xffffffff

#define NGX_HTTP_FARM_WAITER_FREE      0
#define NGX_HTTP_FARM_WAITER_WAITING   1
#define NGX_HTTP_FARM_WAITER_GRANTED   2

/* a class's place in a region list: (class, index in its order) */
#define ngx_http_farm_link(c, k)       ((c) * NGX_HTTP_FARM_MAX_ORDER + (k))
#define ngx_http_farm_link_class(l)    ((l) / NGX_HTTP_FARM_MAX_ORDER)
#define ngx_http_farm_link_index(l)    ((l) % NGX_HTTP_FARM_MAX_ORDER)


/* a worker process using the zone */
typedef struct {
    ngx_pid_t                      pid;         /* 0: free */
    ngx_uint_t                     worker;
    uint64_t                       tag;         /* its cycle's */
    uint32_t                       granted;     /* its grants, to pick up */
} ngx_http_farm_owner_t;


/* a request waiting for an agent */
typedef struct {
    ngx_uint_t                     state;       /* NGX_HTTP_FARM_WAITER_* */
    uint32_t                       cls;
    uint32_t                       prev;        /* in its class; granted: */
    uint32_t                       next;        /* in its owner's grants */
    uint32_t                       aprev;       /* in arrival order */
    uint32_t                       anext;
    uint32_t                       owner;
    uint32_t                       slot;        /* the agent it got */
    uint32_t                       gen;
    ngx_int_t                      priority;
    uint64_t                       seq;
    ngx_msec_t                     since;
    ngx_msec_t                     expires;     /* nobody takes it after */
    void                          *ctx;         /* for its owner only */
} ngx_http_farm_waiter_t;


/* the waiters of one filter */
typedef struct {
    uint32_t                       hnext;       /* in its bucket; free list */
    uint32_t                       hash;
    uint32_t                       head;        /* best first */
    uint32_t                       tail;
    uint32_t                       nwaiting;
    uint16_t                       linked;      /* order entries in lists */
    uint8_t                        nlevels;
    uint8_t                        untracked;   /* more priorities seen */
    ngx_int_t                      level[NGX_HTTP_FARM_QUEUE_LEVELS];
    uint32_t                       level_tail[NGX_HTTP_FARM_QUEUE_LEVELS];
    uint8_t                        filtered;
    uint8_t                        norder;
    uint8_t                        order[NGX_HTTP_FARM_MAX_ORDER];
    uint64_t                       mask;
    uint32_t                       rprev[NGX_HTTP_FARM_MAX_ORDER];
    uint32_t                       rnext[NGX_HTTP_FARM_MAX_ORDER];
} ngx_http_farm_wclass_t;


struct ngx_http_farm_admit_sh_s {
    ngx_http_farm_owner_t          owners[NGX_HTTP_FARM_OWNERS];
    ngx_http_farm_waiter_t        *waiters;     /* sh->qmax */
    ngx_http_farm_wclass_t        *classes;     /* nclasses */
    uint32_t                      *buckets;     /* nclasses */
    uint32_t                       nclasses;    /* a power of two */
    uint32_t                       free;        /* waiters */
    uint32_t                       cfree;       /* classes */
    uint32_t                       ahead;       /* oldest waiting */
    uint32_t                       atail;
    uint64_t                       seq;
    uint32_t                       cursor;      /* of the sweep */
    ngx_msec_t                     swept;
    uint32_t                       rhead[NGX_HTTP_FARM_MAX_REGIONS + 1];
};


static void ngx_http_farm_queue_cleanup_fds(void *data);
static void ngx_http_farm_queue_wake_handler(ngx_event_t *ev);
static void ngx_http_farm_queue_wake_flush(ngx_event_t *ev);
static void ngx_http_farm_queue_poll_handler(ngx_event_t *ev);
static void ngx_http_farm_queue_claim(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle);
static ngx_uint_t ngx_http_farm_queue_reclaim_locked(ngx_http_farm_zone_t *z,
    u_char *dead);
static uint32_t ngx_http_farm_queue_classes(uint32_t max);
static uint32_t ngx_http_farm_queue_class_locked(ngx_http_farm_admit_sh_t *qs,
    ngx_http_farm_wclass_t *key);
static void ngx_http_farm_queue_class_free_locked(
    ngx_http_farm_admit_sh_t *qs, uint32_t c);
static void ngx_http_farm_queue_link_locked(ngx_http_farm_admit_sh_t *qs,
    uint32_t i);
static void ngx_http_farm_queue_unlink_locked(ngx_http_farm_shctx_t *sh,
    uint32_t i);
static void ngx_http_farm_queue_ungrant_locked(ngx_http_farm_admit_sh_t *qs,
    uint32_t i);
static void ngx_http_farm_queue_free_locked(ngx_http_farm_admit_sh_t *qs,
    uint32_t i);
static void ngx_http_farm_queue_expire_locked(ngx_http_farm_zone_t *z);
static void ngx_http_farm_queue_sweep_locked(ngx_http_farm_zone_t *z);
static uint32_t ngx_http_farm_queue_serve_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_wclass_t *cl);
static void ngx_http_farm_queue_grant_locked(ngx_http_farm_zone_t *z,
    uint32_t i, uint32_t slot);
static void ngx_http_farm_queue_check(ngx_http_farm_srv_conf_t *fcf);
static void ngx_http_farm_queue_timeout_handler(ngx_event_t *ev);
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
        if (fmcf->wake[i] == -1
            || (fmcf->wake_conn && fmcf->wake_conn->fd == fmcf->wake[i]))
        {
            continue;   /* closed with its connection */
        }

        (void) close(fmcf->wake[i]);
    }

    fmcf->nwake = 0;
}


/*
 * In each worker: listen on its own eventfd; set up the farms' lists; take
 * an owner entry in each farm's zone, giving back first what dead workers
 * left there.
 */

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

        farm[i]->admit_owner = NGX_HTTP_FARM_NONE32;

        if (farm[i]->queue.enabled || farm[i]->client.enabled) {
            ngx_http_farm_queue_claim(farm[i], cycle);
        }
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
 * At worker exit: close the wake-up connection (nginx counts a connection
 * left open as a leak) and give up the owner entries.
 */

void
ngx_http_farm_queue_exit_process(ngx_cycle_t *cycle)
{
    u_char                      dead[NGX_HTTP_FARM_OWNERS];
    ngx_uint_t                  i, k;
    ngx_http_farm_zone_t        z;
    ngx_http_farm_owner_t      *ow;
    ngx_http_farm_srv_conf_t  **farm;
    ngx_http_farm_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_farm_module);

    if (fmcf->wake_conn) {
        for (k = 0; k < fmcf->nwake; k++) {
            if (fmcf->wake[k] == fmcf->wake_conn->fd) {
                fmcf->wake[k] = -1;
            }
        }

        ngx_close_connection(fmcf->wake_conn);
        fmcf->wake_conn = NULL;
    }

    if (fmcf->wake_ev.posted) {
        ngx_delete_posted_event(&fmcf->wake_ev);
    }

    farm = fmcf->farms.elts;

    for (i = 0; i < fmcf->farms.nelts; i++) {
        if (farm[i]->admit_owner == NGX_HTTP_FARM_NONE32) {
            continue;
        }

        /* normally nothing is left: every request has ended */

        ngx_memzero(dead, sizeof(dead));
        dead[farm[i]->admit_owner] = 1;

        ngx_http_farm_zone_get(farm[i], &z);

        ngx_shmtx_lock(&z.shpool->mutex);

        ow = &z.sh->admit->owners[farm[i]->admit_owner];

        if (ow->pid == ngx_pid) {
            (void) ngx_http_farm_queue_reclaim_locked(&z, dead);
        }

        ngx_shmtx_unlock(&z.shpool->mutex);

        farm[i]->admit_owner = NGX_HTTP_FARM_NONE32;
    }
}


/*
 * Takes an owner entry in the farm's zone.  First gives back what workers
 * that are gone left behind: the former holder of this worker's slot in
 * this cycle (the master starts a slot again only after it died), and any
 * process that no longer exists.
 */

static void
ngx_http_farm_queue_claim(ngx_http_farm_srv_conf_t *fcf, ngx_cycle_t *cycle)
{
    u_char                      dead[NGX_HTTP_FARM_OWNERS];
    uint32_t                    o, mine;
    ngx_pid_t                   pid[NGX_HTTP_FARM_OWNERS];
    ngx_uint_t                  me, ndead, nfreed;
    ngx_http_farm_zone_t        z;
    ngx_http_farm_owner_t      *ow;
    ngx_http_farm_admit_sh_t   *qs;

    ngx_http_farm_zone_get(fcf, &z);

    me = (ngx_process == NGX_PROCESS_WORKER) ? ngx_worker : 0;
    ndead = 0;
    nfreed = 0;
    mine = NGX_HTTP_FARM_NONE32;

    ngx_memzero(dead, sizeof(dead));

    qs = z.sh->admit;

    if (qs == NULL) {
        return;
    }

    /* who is gone: decided from a copy, the system calls unlocked */

    ngx_shmtx_lock(&z.shpool->mutex);

    for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
        ow = &qs->owners[o];
        pid[o] = ow->pid;

        if (ow->pid && ow->tag == fcf->fmcf->tag && ow->worker == me) {
            dead[o] = 1;
        }
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
        if (pid[o]
            && (pid[o] == ngx_pid
                || (kill(pid[o], 0) == -1 && ngx_errno == NGX_ESRCH)))
        {
            dead[o] = 1;
        }
    }

    ngx_shmtx_lock(&z.shpool->mutex);

    for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
        if (dead[o] && (pid[o] == 0 || qs->owners[o].pid != pid[o])) {
            dead[o] = 0;        /* changed hands meanwhile */
        }

        ndead += dead[o];
    }

    if (ndead) {
        nfreed = ngx_http_farm_queue_reclaim_locked(&z, dead);
    }

    for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
        ow = &qs->owners[o];

        if (ow->pid == 0) {
            ow->pid = ngx_pid;
            ow->worker = me;
            ow->tag = fcf->fmcf->tag;
            ow->granted = NGX_HTTP_FARM_NONE32;
            mine = o;
            break;
        }
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    fcf->admit_owner = mine;

    if (ndead) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "farm: %ui worker(s) gone from upstream \"%V\"; "
                      "gave back %ui queue entries and their clients' counts",
                      ndead, &fcf->uscf->host, nfreed);
    }

    if (mine == NGX_HTTP_FARM_NONE32) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "farm: more than %d workers use upstream \"%V\"; "
                      "this one cannot queue requests",
                      NGX_HTTP_FARM_OWNERS, &fcf->uscf->host);
    }
}


/*
 * Frees everything the owners marked in dead held: waiters (an agent
 * granted to one is given back), client counts, the entries themselves.
 * Locked.  Returns the number of waiters freed.
 */

static ngx_uint_t
ngx_http_farm_queue_reclaim_locked(ngx_http_farm_zone_t *z, u_char *dead)
{
    uint32_t                   i, o;
    ngx_uint_t                 n;
    farm_peers_t               peers;
    ngx_http_farm_agent_t     *a;
    ngx_http_farm_waiter_t    *w;
    ngx_http_farm_shctx_t     *sh;
    ngx_http_farm_admit_sh_t  *qs;

    sh = z->sh;
    qs = sh->admit;
    n = 0;

    ngx_http_farm_zone_peers(sh, &peers);

    for (i = 0; i < sh->qmax; i++) {
        w = &qs->waiters[i];

        if (w->state == NGX_HTTP_FARM_WAITER_FREE
            || w->owner == NGX_HTTP_FARM_NONE32
            || !dead[w->owner])
        {
            continue;
        }

        if (w->state == NGX_HTTP_FARM_WAITER_WAITING) {
            ngx_http_farm_queue_unlink_locked(sh, i);

        } else {
            a = &sh->agents[w->slot];

            if (a->gen == w->gen) {
                farm_tree_release(&sh->tree, &peers, w->slot);
                ngx_http_farm_subsets_update(z, a);
            }
        }

        ngx_http_farm_queue_free_locked(qs, i);
        n++;
    }

    ngx_http_farm_clients_reclaim_locked(z, dead);

    for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
        if (dead[o]) {
            qs->owners[o].pid = 0;
            qs->owners[o].granted = NGX_HTTP_FARM_NONE32;
        }
    }

    /* agents given back may serve others now */

    for (i = 0; n && i < sh->nslots && sh->qlen; i++) {
        if (farm_peer_available(sh->agents[i].pick)) {
            ngx_http_farm_queue_dispatch_locked(z, &sh->agents[i]);
        }
    }

    return n;
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


/* Classes for a queue of max: a power of two, at most ..._CLASSES. */

static uint32_t
ngx_http_farm_queue_classes(uint32_t max)
{
    uint32_t  n;

    max = ngx_min(max, NGX_HTTP_FARM_QUEUE_CLASSES);

    for (n = 1; n < max; n <<= 1) {
        /* void */
    }

    return n;
}


/* What the admission state takes in a zone (ngx_http_farm_zone_size). */

size_t
ngx_http_farm_queue_size(ngx_http_farm_srv_conf_t *fcf)
{
    size_t    size;
    uint32_t  c;

    size = sizeof(ngx_http_farm_admit_sh_t) + ngx_pagesize;

    if (fcf->queue.enabled) {
        c = ngx_http_farm_queue_classes(fcf->queue.max);

        size += fcf->queue.max * sizeof(ngx_http_farm_waiter_t)
                + c * (sizeof(ngx_http_farm_wclass_t) + sizeof(uint32_t))
                + 3 * ngx_pagesize;
    }

    return size;
}


/*
 * Sets up the zone's admission state: the owner table always, the queue
 * when farm_queue is on and the zone has none yet.  Called on a new zone
 * (the master, nobody else sees it yet) or with the lock held (a reload
 * that adds farm_queue), hence the _locked slab calls.
 */

ngx_int_t
ngx_http_farm_queue_zone(ngx_http_farm_zone_t *z)
{
    uint32_t                   i, n, c;
    ngx_http_farm_shctx_t     *sh;
    ngx_http_farm_admit_sh_t  *qs;

    sh = z->sh;

    if (sh->admit == NULL) {
        qs = ngx_slab_calloc_locked(z->shpool,
                                    sizeof(ngx_http_farm_admit_sh_t));
        if (qs == NULL) {
            return NGX_ERROR;
        }

        qs->free = NGX_HTTP_FARM_NONE32;
        qs->cfree = NGX_HTTP_FARM_NONE32;
        qs->ahead = NGX_HTTP_FARM_NONE32;
        qs->atail = NGX_HTTP_FARM_NONE32;

        for (i = 0; i <= NGX_HTTP_FARM_MAX_REGIONS; i++) {
            qs->rhead[i] = NGX_HTTP_FARM_NONE32;
        }

        sh->admit = qs;
        sh->qmax = 0;
        sh->qlen = 0;
    }

    qs = sh->admit;
    n = z->fcf->queue.enabled ? z->fcf->queue.max : 0;

    if (n == 0 || sh->qmax != 0) {
        return NGX_OK;
    }

    c = ngx_http_farm_queue_classes(n);

    qs->waiters = ngx_slab_calloc_locked(z->shpool,
                                         n * sizeof(ngx_http_farm_waiter_t));
    qs->classes = ngx_slab_calloc_locked(z->shpool,
                                         c * sizeof(ngx_http_farm_wclass_t));
    qs->buckets = ngx_slab_alloc_locked(z->shpool, c * sizeof(uint32_t));

    if (qs->waiters == NULL || qs->classes == NULL || qs->buckets == NULL) {
        if (qs->waiters) {
            ngx_slab_free_locked(z->shpool, qs->waiters);
        }

        if (qs->classes) {
            ngx_slab_free_locked(z->shpool, qs->classes);
        }

        if (qs->buckets) {
            ngx_slab_free_locked(z->shpool, qs->buckets);
        }

        qs->waiters = NULL;
        qs->classes = NULL;
        qs->buckets = NULL;

        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        qs->waiters[i].next = (i + 1 < n) ? i + 1 : NGX_HTTP_FARM_NONE32;
        qs->waiters[i].owner = NGX_HTTP_FARM_NONE32;
    }

    for (i = 0; i < c; i++) {
        qs->classes[i].hnext = (i + 1 < c) ? i + 1 : NGX_HTTP_FARM_NONE32;
        qs->buckets[i] = NGX_HTTP_FARM_NONE32;
    }

    qs->nclasses = c;
    qs->free = 0;
    qs->cfree = 0;

    sh->qmax = n;
    sh->qlen = 0;

    return NGX_OK;
}


/*
 * The class of key (its filter; key->hash set), made if new.  Locked.
 * NGX_HTTP_FARM_NONE32 when every class is in use.
 */

static uint32_t
ngx_http_farm_queue_class_locked(ngx_http_farm_admit_sh_t *qs,
    ngx_http_farm_wclass_t *key)
{
    uint32_t                 b, c, k, j, l, r;
    ngx_http_farm_wclass_t  *cl;

    b = key->hash & (qs->nclasses - 1);

    for (c = qs->buckets[b]; c != NGX_HTTP_FARM_NONE32; c = cl->hnext) {
        cl = &qs->classes[c];

        if (cl->hash == key->hash
            && cl->filtered == key->filtered
            && cl->norder == key->norder
            && cl->mask == key->mask
            && ngx_memcmp(cl->order, key->order, key->norder) == 0)
        {
            return c;
        }
    }

    c = qs->cfree;

    if (c == NGX_HTTP_FARM_NONE32) {
        return c;
    }

    cl = &qs->classes[c];
    qs->cfree = cl->hnext;

    cl->hash = key->hash;
    cl->filtered = key->filtered;
    cl->norder = key->norder;
    cl->mask = key->mask;
    ngx_memcpy(cl->order, key->order, key->norder);
    cl->head = NGX_HTTP_FARM_NONE32;
    cl->tail = NGX_HTTP_FARM_NONE32;
    cl->nwaiting = 0;
    cl->linked = 0;
    cl->nlevels = 0;
    cl->untracked = 0;

    cl->hnext = qs->buckets[b];
    qs->buckets[b] = c;

    /* into the list of each region it may use, once */

    for (k = 0; k < cl->norder; k++) {

        for (j = 0; j < k; j++) {
            if (cl->order[j] == cl->order[k]) {
                break;
            }
        }

        if (j < k) {
            continue;
        }

        r = cl->order[k];
        l = ngx_http_farm_link(c, k);

        cl->rprev[k] = NGX_HTTP_FARM_NONE32;
        cl->rnext[k] = qs->rhead[r];

        if (qs->rhead[r] != NGX_HTTP_FARM_NONE32) {
            j = qs->rhead[r];
            qs->classes[ngx_http_farm_link_class(j)]
                .rprev[ngx_http_farm_link_index(j)] = l;
        }

        qs->rhead[r] = l;
        cl->linked |= (uint16_t) (1 << k);
    }

    return c;
}


/* A class whose last waiter left.  Locked. */

static void
ngx_http_farm_queue_class_free_locked(ngx_http_farm_admit_sh_t *qs,
    uint32_t c)
{
    uint32_t                *p, k, l, r;
    ngx_http_farm_wclass_t  *cl;

    cl = &qs->classes[c];

    for (p = &qs->buckets[cl->hash & (qs->nclasses - 1)];
         *p != NGX_HTTP_FARM_NONE32;
         p = &qs->classes[*p].hnext)
    {
        if (*p == c) {
            *p = cl->hnext;
            break;
        }
    }

    for (k = 0; k < cl->norder; k++) {
        if (!(cl->linked & (1 << k))) {
            continue;
        }

        r = cl->order[k];

        if (cl->rprev[k] == NGX_HTTP_FARM_NONE32) {
            qs->rhead[r] = cl->rnext[k];

        } else {
            l = cl->rprev[k];
            qs->classes[ngx_http_farm_link_class(l)]
                .rnext[ngx_http_farm_link_index(l)] = cl->rnext[k];
        }

        if (cl->rnext[k] != NGX_HTTP_FARM_NONE32) {
            l = cl->rnext[k];
            qs->classes[ngx_http_farm_link_class(l)]
                .rprev[ngx_http_farm_link_index(l)] = cl->rprev[k];
        }
    }

    cl->linked = 0;
    cl->hnext = qs->cfree;
    qs->cfree = c;
}


/*
 * Puts waiter i into its class after the last one of the same or a higher
 * priority, and at the end of the arrival order.  The last waiter of each
 * priority present is kept for up to NGX_HTTP_FARM_QUEUE_LEVELS of them,
 * so that with that many priorities or fewer this is O(1); beyond, a new
 * priority walks the list.  Locked.
 */

static void
ngx_http_farm_queue_link_locked(ngx_http_farm_admit_sh_t *qs, uint32_t i)
{
    uint32_t                 at, k, above;
    ngx_http_farm_waiter_t  *w, *wa;
    ngx_http_farm_wclass_t  *cl;

    w = &qs->waiters[i];
    cl = &qs->classes[w->cls];

    for (k = 0; k < cl->nlevels; k++) {
        if (cl->level[k] == w->priority) {
            break;
        }
    }

    if (k < cl->nlevels) {
        at = cl->level_tail[k];         /* after its own priority's last */
        cl->level_tail[k] = i;

    } else if (!cl->untracked && cl->nlevels < NGX_HTTP_FARM_QUEUE_LEVELS) {

        /* after the last of the lowest priority above it, or first */

        above = NGX_HTTP_FARM_NONE32;

        for (k = 0; k < cl->nlevels; k++) {
            if (cl->level[k] > w->priority
                && (above == NGX_HTTP_FARM_NONE32
                    || cl->level[k] < cl->level[above]))
            {
                above = k;
            }
        }

        at = (above == NGX_HTTP_FARM_NONE32) ? NGX_HTTP_FARM_NONE32
                                             : cl->level_tail[above];

        cl->level[cl->nlevels] = w->priority;
        cl->level_tail[cl->nlevels] = i;
        cl->nlevels++;

    } else {
        cl->untracked = 1;

        for (at = cl->tail;
             at != NGX_HTTP_FARM_NONE32
             && qs->waiters[at].priority < w->priority;
             at = qs->waiters[at].prev)
        {
            /* void */
        }
    }

    w->prev = at;
    w->next = (at == NGX_HTTP_FARM_NONE32) ? cl->head : qs->waiters[at].next;

    if (w->next != NGX_HTTP_FARM_NONE32) {
        qs->waiters[w->next].prev = i;

    } else {
        cl->tail = i;
    }

    if (at != NGX_HTTP_FARM_NONE32) {
        qs->waiters[at].next = i;

    } else {
        cl->head = i;
    }

    cl->nwaiting++;

    w->anext = NGX_HTTP_FARM_NONE32;
    w->aprev = qs->atail;

    if (qs->atail != NGX_HTTP_FARM_NONE32) {
        wa = &qs->waiters[qs->atail];
        wa->anext = i;

    } else {
        qs->ahead = i;
    }

    qs->atail = i;
}


/* Takes a waiting waiter out of its class and the arrival order.  Locked. */

static void
ngx_http_farm_queue_unlink_locked(ngx_http_farm_shctx_t *sh, uint32_t i)
{
    uint32_t                   k;
    ngx_http_farm_waiter_t    *w;
    ngx_http_farm_wclass_t    *cl;
    ngx_http_farm_admit_sh_t  *qs;

    qs = sh->admit;
    w = &qs->waiters[i];
    cl = &qs->classes[w->cls];

    for (k = 0; k < cl->nlevels; k++) {
        if (cl->level_tail[k] != i) {
            continue;
        }

        if (w->prev != NGX_HTTP_FARM_NONE32
            && qs->waiters[w->prev].priority == w->priority)
        {
            cl->level_tail[k] = w->prev;

        } else {
            cl->nlevels--;
            cl->level[k] = cl->level[cl->nlevels];
            cl->level_tail[k] = cl->level_tail[cl->nlevels];
        }

        break;
    }

    if (w->prev != NGX_HTTP_FARM_NONE32) {
        qs->waiters[w->prev].next = w->next;

    } else {
        cl->head = w->next;
    }

    if (w->next != NGX_HTTP_FARM_NONE32) {
        qs->waiters[w->next].prev = w->prev;

    } else {
        cl->tail = w->prev;
    }

    if (--cl->nwaiting == 0) {
        ngx_http_farm_queue_class_free_locked(qs, w->cls);
    }

    if (w->aprev != NGX_HTTP_FARM_NONE32) {
        qs->waiters[w->aprev].anext = w->anext;

    } else {
        qs->ahead = w->anext;
    }

    if (w->anext != NGX_HTTP_FARM_NONE32) {
        qs->waiters[w->anext].aprev = w->aprev;

    } else {
        qs->atail = w->aprev;
    }

    w->cls = NGX_HTTP_FARM_NONE32;

    sh->qlen--;
}


/* Takes a granted waiter off its owner's grants.  Locked. */

static void
ngx_http_farm_queue_ungrant_locked(ngx_http_farm_admit_sh_t *qs, uint32_t i)
{
    ngx_http_farm_waiter_t  *w;

    w = &qs->waiters[i];

    if (w->owner == NGX_HTTP_FARM_NONE32) {
        return;
    }

    if (w->prev != NGX_HTTP_FARM_NONE32) {
        qs->waiters[w->prev].next = w->next;

    } else {
        qs->owners[w->owner].granted = w->next;
    }

    if (w->next != NGX_HTTP_FARM_NONE32) {
        qs->waiters[w->next].prev = w->prev;
    }
}


static void
ngx_http_farm_queue_free_locked(ngx_http_farm_admit_sh_t *qs, uint32_t i)
{
    ngx_http_farm_waiter_t  *w;

    w = &qs->waiters[i];

    w->state = NGX_HTTP_FARM_WAITER_FREE;
    w->owner = NGX_HTTP_FARM_NONE32;
    w->ctx = NULL;
    w->next = qs->free;
    qs->free = i;
}


/*
 * Waiters past their timeout and a grace period: their worker would have
 * ended them; it is gone.  The oldest first, so this is O(1) when there
 * are none.  Locked.
 */

static void
ngx_http_farm_queue_expire_locked(ngx_http_farm_zone_t *z)
{
    uint32_t                   i;
    ngx_http_farm_admit_sh_t  *qs;

    qs = z->sh->admit;

    if (qs == NULL || z->sh->qmax == 0) {
        return;
    }

    while (qs->ahead != NGX_HTTP_FARM_NONE32) {
        i = qs->ahead;

        if ((ngx_msec_int_t) (ngx_current_msec - qs->waiters[i].expires) < 0)
        {
            return;
        }

        ngx_http_farm_queue_unlink_locked(z->sh, i);
        ngx_http_farm_queue_free_locked(qs, i);
        z->sh->timed_out++;
    }
}


/*
 * The safety net for an agent that became usable without a dispatch for it
 * (a subset the sync owner had not rebuilt yet when it joined): every
 * NGX_HTTP_FARM_QUEUE_SWEEP ms, a few classes in turn try their heads.
 * Locked.
 */

static void
ngx_http_farm_queue_sweep_locked(ngx_http_farm_zone_t *z)
{
    uint32_t                   n, c, tried, slot;
    ngx_http_farm_wclass_t    *cl;
    ngx_http_farm_admit_sh_t  *qs;

    qs = z->sh->admit;

    if (qs == NULL || z->sh->qlen == 0
        || (ngx_msec_int_t) (ngx_current_msec - qs->swept)
           < NGX_HTTP_FARM_QUEUE_SWEEP)
    {
        return;
    }

    qs->swept = ngx_current_msec;
    tried = 0;

    for (n = 0; n < qs->nclasses && tried < NGX_HTTP_FARM_QUEUE_SWEPT; n++) {
        c = qs->cursor++ & (qs->nclasses - 1);
        cl = &qs->classes[c];

        if (cl->nwaiting == 0) {
            continue;
        }

        tried++;

        while (cl->nwaiting) {
            slot = ngx_http_farm_queue_serve_locked(z, cl);

            if (slot == FARM_SLOT_NONE) {
                break;
            }

            ngx_http_farm_queue_grant_locked(z, cl->head, slot);
        }
    }
}


/* The priority= of a request, evaluated before any lock. */

ngx_int_t
ngx_http_farm_queue_priority(ngx_http_request_t *r,
    ngx_http_farm_srv_conf_t *fcf, ngx_int_t *priority)
{
    ngx_int_t  n, sign;
    ngx_str_t  v;

    *priority = 0;

    if (fcf->queue.priority == NULL) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, fcf->queue.priority, &v) != NGX_OK) {
        return NGX_ERROR;
    }

    sign = 1;

    if (v.len > 1 && v.data[0] == '-') {
        sign = -1;
        v.data++;
        v.len--;
    }

    n = ngx_atoi(v.data, v.len);
    *priority = (n == NGX_ERROR) ? 0 : sign * n;

    return NGX_OK;
}


/*
 * Puts a request that found every agent it may use full in the queue, or
 * refuses it (queue full).  Called locked, from the admission handler,
 * right after it looked for an agent under the same lock, so no agent can
 * have freed up unseen in between; unlocks.  Returns NGX_AGAIN when the
 * request now waits, or the refusal's code.
 */

ngx_int_t
ngx_http_farm_queue_wait_locked(ngx_http_request_t *r,
    ngx_http_farm_ctx_t *ctx, ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f, ngx_int_t priority)
{
    uint32_t                    i, c, k;
    ngx_http_farm_waiter_t     *w;
    ngx_http_farm_wclass_t      key;
    ngx_http_farm_shctx_t      *sh;
    ngx_http_farm_admit_sh_t   *qs;
    ngx_http_farm_srv_conf_t   *fcf;

    sh = z->sh;
    qs = sh->admit;
    fcf = ctx->fcf;

    ngx_http_farm_queue_expire_locked(z);

    c = NGX_HTTP_FARM_NONE32;

    if (qs && sh->qmax && qs->free != NGX_HTTP_FARM_NONE32
        && fcf->admit_owner != NGX_HTTP_FARM_NONE32)
    {
        ngx_memzero(&key, sizeof(ngx_http_farm_wclass_t));

        if (f->on) {
            key.filtered = 1;
            key.norder = (uint8_t) f->norder;

            for (k = 0; k < f->norder; k++) {
                key.order[k] = (uint8_t) f->order[k];
            }

            key.mask = f->mask;

        } else {
            key.norder = 1;         /* any region */
        }

        key.hash = ngx_crc32_short((u_char *) &key.filtered,
                                   2 + NGX_HTTP_FARM_MAX_ORDER);
        key.hash ^= (uint32_t) (key.mask ^ (key.mask >> 32));

        c = ngx_http_farm_queue_class_locked(qs, &key);
    }

    if (c == NGX_HTTP_FARM_NONE32) {
        sh->queue_full++;
        ngx_shmtx_unlock(&z->shpool->mutex);

        return ngx_http_farm_refuse(r, ctx, NGX_HTTP_FARM_REJECT_QUEUE_FULL);
    }

    i = qs->free;
    w = &qs->waiters[i];
    qs->free = w->next;

    w->state = NGX_HTTP_FARM_WAITER_WAITING;
    w->cls = c;
    w->owner = fcf->admit_owner;
    w->priority = priority;
    w->seq = ++qs->seq;
    w->since = ngx_current_msec;
    w->expires = ngx_current_msec + fcf->queue.timeout
                 + NGX_HTTP_FARM_QUEUE_GRACE;
    w->slot = FARM_SLOT_NONE;
    w->ctx = ctx;

    ngx_http_farm_queue_link_locked(qs, i);

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

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "farm: queued, priority %i", priority);

    return NGX_AGAIN;
}


/*
 * Agent a may have capacity again (a request on it ended, or it came back):
 * grants it, and whatever else frees up with it, to the waiters that may
 * use it.  Only the classes listed under a's region or under "any" are
 * looked at, and of each only its head; among the heads the highest
 * priority, then the oldest, goes first.  Locked.
 */

void
ngx_http_farm_queue_dispatch_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a)
{
    uint32_t                   cand[NGX_HTTP_FARM_QUEUE_CANDIDATES];
    uint32_t                   l, c, n, k, best, slot, r, region[2];
    ngx_http_farm_waiter_t    *w, *wb;
    ngx_http_farm_wclass_t    *cl;
    ngx_http_farm_shctx_t     *sh;
    ngx_http_farm_admit_sh_t  *qs;

    sh = z->sh;
    qs = sh->admit;

    if (sh->qlen == 0 || qs == NULL) {
        return;
    }

    ngx_http_farm_queue_expire_locked(z);

    if (sh->qlen == 0 || a == NULL || !farm_peer_available(a->pick)) {
        return;
    }

    region[0] = (uint32_t) a->region;
    region[1] = 0;
    n = 0;

    for (r = (a->region ? 0 : 1); r < 2; r++) {

        for (l = qs->rhead[region[r]];
             l != NGX_HTTP_FARM_NONE32 && n < NGX_HTTP_FARM_QUEUE_CANDIDATES;
             l = cl->rnext[ngx_http_farm_link_index(l)])
        {
            c = ngx_http_farm_link_class(l);
            cl = &qs->classes[c];

            if ((a->caps & cl->mask) != cl->mask) {
                continue;
            }

            for (k = 0; k < n; k++) {
                if (cand[k] == c) {
                    break;
                }
            }

            if (k == n) {
                cand[n++] = c;
            }
        }
    }

    while (n) {
        best = 0;

        for (k = 1; k < n; k++) {
            w = &qs->waiters[qs->classes[cand[k]].head];
            wb = &qs->waiters[qs->classes[cand[best]].head];

            if (w->priority > wb->priority
                || (w->priority == wb->priority && w->seq < wb->seq))
            {
                best = k;
            }
        }

        cl = &qs->classes[cand[best]];

        slot = ngx_http_farm_queue_serve_locked(z, cl);

        /* the class is done when it cannot be served or has no one left */

        if (slot == FARM_SLOT_NONE || cl->nwaiting == 1) {
            cand[best] = cand[--n];
        }

        if (slot != FARM_SLOT_NONE) {
            ngx_http_farm_queue_grant_locked(z, cl->head, slot);
        }
    }
}


/* The agent for the first waiter of a class, or FARM_SLOT_NONE.  Locked. */

static uint32_t
ngx_http_farm_queue_serve_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_wclass_t *cl)
{
    uint32_t                none[1];
    ngx_uint_t              k;
    farm_peers_t            peers;
    ngx_http_farm_ctx_t     scratch;
    ngx_http_farm_filter_t  f;

    if (!cl->filtered) {
        ngx_http_farm_zone_peers(z->sh, &peers);
        return farm_tree_best(&z->sh->tree, &peers, NULL, 0);
    }

    /*
     * A filter already resolved: only what route_choose reads; nothing
     * tried (an empty list, not NULL: route_best copies it).
     */

    f.on = 1;
    f.resolved = 1;
    f.nnames = 0;
    f.ncaps = 0;
    f.norder = cl->norder;
    f.mask = cl->mask;

    for (k = 0; k < cl->norder; k++) {
        f.order[k] = cl->order[k];
    }

    scratch.reject = NGX_HTTP_FARM_REJECT_NONE;
    none[0] = FARM_SLOT_NONE;

    return ngx_http_farm_route_choose(z, &f, none, 0, &scratch);
}


/*
 * Gives agent slot to waiter i: takes the agent on its behalf, moves the
 * waiter to its owner's grants and notes its worker for a wake-up, which
 * is written once the lock is released (a posted event).  Locked.
 */

static void
ngx_http_farm_queue_grant_locked(ngx_http_farm_zone_t *z, uint32_t i,
    uint32_t slot)
{
    ngx_msec_t                  waited;
    farm_peers_t                peers;
    ngx_http_farm_agent_t      *a;
    ngx_http_farm_owner_t      *ow;
    ngx_http_farm_waiter_t     *w;
    ngx_http_farm_shctx_t      *sh;
    ngx_http_farm_admit_sh_t   *qs;
    ngx_http_farm_main_conf_t  *fmcf;

    sh = z->sh;
    qs = sh->admit;
    w = &qs->waiters[i];
    a = &sh->agents[slot];

    ngx_http_farm_zone_peers(sh, &peers);

    farm_tree_acquire(&sh->tree, &peers, slot);
    ngx_http_farm_subsets_update(z, a);

    ngx_http_farm_queue_unlink_locked(sh, i);

    w->state = NGX_HTTP_FARM_WAITER_GRANTED;
    w->slot = slot;
    w->gen = a->gen;

    waited = ngx_current_msec - w->since;
    sh->dispatched++;
    sh->wait_total += waited;

    if (waited > sh->wait_max) {
        sh->wait_max = waited;
    }

    ow = &qs->owners[w->owner];

    w->prev = NGX_HTTP_FARM_NONE32;
    w->next = ow->granted;

    if (ow->granted != NGX_HTTP_FARM_NONE32) {
        qs->waiters[ow->granted].prev = i;
    }

    ow->granted = i;

    /* wake its worker; a worker of another cycle polls instead */

    fmcf = z->fcf->fmcf;

    if (fmcf == NULL || ow->tag != fmcf->tag || ow->worker >= fmcf->nwake
        || fmcf->wake_pending == NULL)
    {
        return;
    }

    fmcf->wake_pending[ow->worker] = 1;

    if (fmcf->wake_conn && !fmcf->wake_ev.posted) {
        ngx_post_event(&fmcf->wake_ev, &ngx_posted_events);
    }
}


/* This worker's grants: resume their requests, one at a time, unlocked. */

static void
ngx_http_farm_queue_check(ngx_http_farm_srv_conf_t *fcf)
{
    uint32_t                    i;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_farm_ctx_t        *ctx;
    ngx_http_farm_zone_t        z;
    ngx_http_farm_owner_t      *ow;
    ngx_http_farm_waiter_t     *w;
    ngx_http_farm_admit_sh_t   *qs;

    if (fcf->admit_owner == NGX_HTTP_FARM_NONE32) {
        return;
    }

    ngx_http_farm_zone_get(fcf, &z);

    while (!ngx_queue_empty(&fcf->waiting)) {

        ngx_shmtx_lock(&z.shpool->mutex);

        qs = z.sh->admit;
        ow = &qs->owners[fcf->admit_owner];
        i = ow->granted;

        if (i == NGX_HTTP_FARM_NONE32) {
            ngx_shmtx_unlock(&z.shpool->mutex);
            break;
        }

        w = &qs->waiters[i];
        ctx = w->ctx;

        ngx_http_farm_queue_ungrant_locked(qs, i);

        ctx->reserved = w->slot;
        ctx->reserved_gen = w->gen;

        ngx_http_farm_queue_free_locked(qs, i);

        ngx_shmtx_unlock(&z.shpool->mutex);

        ngx_http_farm_queue_forget(ctx);

        r = ctx->request;
        c = r->connection;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "farm: dequeued after %M ms",
                       ngx_current_msec - ctx->queued_at);

        ngx_http_farm_admit_resume(r);
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

    w = &z.sh->admit->waiters[ctx->waiter];

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
        ngx_http_farm_queue_free_locked(z.sh->admit, ctx->waiter);
        z.sh->timed_out++;
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    ngx_http_farm_queue_forget(ctx);

    ngx_http_finalize_request(r, ngx_http_farm_refuse(r, ctx,
                                         NGX_HTTP_FARM_REJECT_QUEUE_TIMEOUT));
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

    w = &z.sh->admit->waiters[ctx->waiter];

    if (w->seq == ctx->waiter_seq) {
        if (w->state == NGX_HTTP_FARM_WAITER_WAITING) {
            ngx_http_farm_queue_unlink_locked(z.sh, ctx->waiter);
            ngx_http_farm_queue_free_locked(z.sh->admit, ctx->waiter);

        } else if (w->state == NGX_HTTP_FARM_WAITER_GRANTED) {
            slot = w->slot;
            gen = w->gen;

            ngx_http_farm_queue_ungrant_locked(z.sh->admit, ctx->waiter);
            ngx_http_farm_queue_free_locked(z.sh->admit, ctx->waiter);
            ngx_shmtx_unlock(&z.shpool->mutex);

            ngx_http_farm_queue_forget(ctx);
            ngx_http_farm_release(&z, slot, gen);
            return;
        }
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    ngx_http_farm_queue_forget(ctx);
}
