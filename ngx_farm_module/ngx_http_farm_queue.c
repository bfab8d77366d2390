
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_queue's wait lists, in the zone: when every agent a request may use
 * is at its max_conns, the request waits instead of failing.
 *
 * Waiters are grouped in classes: one class per distinct filter (region
 * order and required capabilities; unfiltered requests form one class),
 * each an ordered list, highest priority first, then arrival.  Each class
 * is also linked into the list of every region it may use (region 0: any).
 * When an agent frees up, whoever freed it looks only at the classes of
 * that agent's region and of "any" whose capabilities the agent has, and
 * grants the agent to the best head among them (taking it on the waiter's
 * behalf, so nobody else can, and counting it in held[] for the waiter's
 * owner, ngx_http_farm_zone.c).  Within a class the head is the only
 * candidate: if it cannot be served, nobody behind it can.
 *
 * A grant is linked to its waiter's owner (the worker that queued it), so
 * a worker picks up its grants without looking at its other waiters
 * (ngx_http_farm_queue_wait.c), and what a worker that died left here is
 * found by its owner index when a worker next starts.  Waiters also expire
 * on their own a little after their timeout, in arrival order, in case
 * nobody is left to end them.  A grant's worker is woken through its
 * eventfd, written after the zone lock is released (a posted event).
 */


#include "ngx_http_farm_queue.h"
#include "ngx_http_farm_route.h"


#define NGX_HTTP_FARM_QUEUE_GRACE      2000    /* ms after a timeout */
#define NGX_HTTP_FARM_QUEUE_CLASSES    4096    /* filters waiting at once */
#define NGX_HTTP_FARM_QUEUE_CANDIDATES 64      /* classes per dispatch */
#define NGX_HTTP_FARM_QUEUE_SWEEP      100     /* ms between sweeps */
#define NGX_HTTP_FARM_QUEUE_SWEPT      16      /* classes per sweep */
#define NGX_HTTP_FARM_QUEUE_LEVELS     8       /* priorities tracked */

/* a class's place in a region list: (class, index in its order) */
#define ngx_http_farm_link(c, k)       ((c) * NGX_HTTP_FARM_MAX_ORDER + (k))
#define ngx_http_farm_link_class(l)    ((l) / NGX_HTTP_FARM_MAX_ORDER)
#define ngx_http_farm_link_index(l)    ((l) % NGX_HTTP_FARM_MAX_ORDER)


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


struct ngx_http_farm_queue_sh_s {
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
    uint32_t                       granted[NGX_HTTP_FARM_OWNERS]; /* by owner */
    uint32_t                       rhead[NGX_HTTP_FARM_MAX_REGIONS + 1];
};


static uint32_t ngx_http_farm_queue_classes(uint32_t max);
static uint32_t ngx_http_farm_queue_class_locked(ngx_http_farm_queue_sh_t *qs,
    ngx_http_farm_wclass_t *key);
static void ngx_http_farm_queue_class_free_locked(
    ngx_http_farm_queue_sh_t *qs, uint32_t c);
static void ngx_http_farm_queue_link_locked(ngx_http_farm_queue_sh_t *qs,
    uint32_t i);
static void ngx_http_farm_queue_unlink_locked(ngx_http_farm_shctx_t *sh,
    uint32_t i);
static void ngx_http_farm_queue_ungrant_locked(ngx_http_farm_queue_sh_t *qs,
    uint32_t i);
static void ngx_http_farm_queue_free_locked(ngx_http_farm_queue_sh_t *qs,
    uint32_t i);
static uint32_t ngx_http_farm_queue_serve_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_wclass_t *cl);
static void ngx_http_farm_queue_grant_locked(ngx_http_farm_zone_t *z,
    uint32_t i, uint32_t slot);


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


/* What the queue takes in a zone, beyond ngx_http_farm_zone_size(). */

size_t
ngx_http_farm_queue_size(ngx_http_farm_srv_conf_t *fcf)
{
    uint32_t  c;

    if (!fcf->queue.enabled) {
        return 0;
    }

    c = ngx_http_farm_queue_classes(fcf->queue.max);

    return sizeof(ngx_http_farm_queue_sh_t)
           + fcf->queue.max * sizeof(ngx_http_farm_waiter_t)
           + c * (sizeof(ngx_http_farm_wclass_t) + sizeof(uint32_t))
           + 4 * ngx_pagesize;
}


/*
 * Sets up the zone's queue: a new zone (the master), or a zone that had no
 * queue before a reload.  Takes the lock (allocates first, then publishes),
 * so it must not be called with the lock held.
 */

ngx_int_t
ngx_http_farm_queue_zone(ngx_http_farm_zone_t *z)
{
    uint32_t                   i, n, c;
    ngx_http_farm_shctx_t     *sh;
    ngx_http_farm_queue_sh_t  *qs;

    sh = z->sh;
    n = z->fcf->queue.enabled ? z->fcf->queue.max : 0;

    if (n == 0) {
        ngx_shmtx_lock(&z->shpool->mutex);
        sh->qmax = 0;
        sh->qlen = 0;
        ngx_shmtx_unlock(&z->shpool->mutex);

        return NGX_OK;
    }

    c = ngx_http_farm_queue_classes(n);

    qs = ngx_slab_calloc(z->shpool, sizeof(ngx_http_farm_queue_sh_t));
    if (qs == NULL) {
        return NGX_ERROR;
    }

    qs->waiters = ngx_slab_calloc(z->shpool,
                                  n * sizeof(ngx_http_farm_waiter_t));
    qs->classes = ngx_slab_calloc(z->shpool,
                                  c * sizeof(ngx_http_farm_wclass_t));
    qs->buckets = ngx_slab_alloc(z->shpool, c * sizeof(uint32_t));

    if (qs->waiters == NULL || qs->classes == NULL || qs->buckets == NULL) {
        if (qs->waiters) {
            ngx_slab_free(z->shpool, qs->waiters);
        }

        if (qs->classes) {
            ngx_slab_free(z->shpool, qs->classes);
        }

        if (qs->buckets) {
            ngx_slab_free(z->shpool, qs->buckets);
        }

        ngx_slab_free(z->shpool, qs);

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

    for (i = 0; i < NGX_HTTP_FARM_OWNERS; i++) {
        qs->granted[i] = NGX_HTTP_FARM_NONE32;
    }

    for (i = 0; i <= NGX_HTTP_FARM_MAX_REGIONS; i++) {
        qs->rhead[i] = NGX_HTTP_FARM_NONE32;
    }

    qs->nclasses = c;
    qs->free = 0;
    qs->cfree = 0;
    qs->ahead = NGX_HTTP_FARM_NONE32;
    qs->atail = NGX_HTTP_FARM_NONE32;

    ngx_shmtx_lock(&z->shpool->mutex);

    sh->queue = qs;
    sh->qmax = n;
    sh->qlen = 0;

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


/*
 * The class of key (its filter; key->hash set), made if new.  Locked.
 * NGX_HTTP_FARM_NONE32 when every class is in use.
 */

static uint32_t
ngx_http_farm_queue_class_locked(ngx_http_farm_queue_sh_t *qs,
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
ngx_http_farm_queue_class_free_locked(ngx_http_farm_queue_sh_t *qs,
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
ngx_http_farm_queue_link_locked(ngx_http_farm_queue_sh_t *qs, uint32_t i)
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
    ngx_http_farm_queue_sh_t  *qs;

    qs = sh->queue;
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
ngx_http_farm_queue_ungrant_locked(ngx_http_farm_queue_sh_t *qs, uint32_t i)
{
    ngx_http_farm_waiter_t  *w;

    w = &qs->waiters[i];

    if (w->owner == NGX_HTTP_FARM_NONE32) {
        return;
    }

    if (w->prev != NGX_HTTP_FARM_NONE32) {
        qs->waiters[w->prev].next = w->next;

    } else {
        qs->granted[w->owner] = w->next;
    }

    if (w->next != NGX_HTTP_FARM_NONE32) {
        qs->waiters[w->next].prev = w->prev;
    }
}


static void
ngx_http_farm_queue_free_locked(ngx_http_farm_queue_sh_t *qs, uint32_t i)
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

void
ngx_http_farm_queue_expire_locked(ngx_http_farm_zone_t *z)
{
    uint32_t                   i;
    ngx_http_farm_queue_sh_t  *qs;

    qs = z->sh->queue;

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

void
ngx_http_farm_queue_sweep_locked(ngx_http_farm_zone_t *z)
{
    uint32_t                   n, c, tried, slot;
    ngx_http_farm_wclass_t    *cl;
    ngx_http_farm_queue_sh_t  *qs;

    qs = z->sh->queue;

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


/*
 * Puts a request in the wait list of its filter f, for owner (the worker
 * that queues it), with its priority and its timeout (ms).  data is the
 * owner's, handed back with the grant.  Locked.  Returns the entry (its
 * *seq set), or NGX_HTTP_FARM_NONE32 when the queue is full, every class
 * is in use, or the worker has no owner record (the caller refuses).
 */

uint32_t
ngx_http_farm_queue_enter_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f, ngx_int_t priority, ngx_uint_t owner,
    ngx_msec_t timeout, void *data, uint64_t *seq)
{
    uint32_t                   i, c, k;
    ngx_http_farm_waiter_t    *w;
    ngx_http_farm_wclass_t     key;
    ngx_http_farm_shctx_t     *sh;
    ngx_http_farm_queue_sh_t  *qs;

    sh = z->sh;
    qs = sh->queue;

    ngx_http_farm_queue_expire_locked(z);

    if (qs == NULL || sh->qmax == 0 || qs->free == NGX_HTTP_FARM_NONE32
        || owner >= NGX_HTTP_FARM_OWNERS)
    {
        sh->queue_full++;
        return NGX_HTTP_FARM_NONE32;
    }

    ngx_memzero(&key, sizeof(ngx_http_farm_wclass_t));

    if (f->on) {
        key.filtered = 1;
        key.norder = (uint8_t) f->norder;

        for (k = 0; k < f->norder; k++) {
            key.order[k] = (uint8_t) f->order[k];
        }

        key.mask = f->mask;

    } else {
        key.norder = 1;             /* any region */
    }

    key.hash = ngx_crc32_short((u_char *) &key.filtered,
                               2 + NGX_HTTP_FARM_MAX_ORDER);
    key.hash ^= (uint32_t) (key.mask ^ (key.mask >> 32));

    c = ngx_http_farm_queue_class_locked(qs, &key);

    if (c == NGX_HTTP_FARM_NONE32) {
        sh->queue_full++;
        return NGX_HTTP_FARM_NONE32;
    }

    i = qs->free;
    w = &qs->waiters[i];
    qs->free = w->next;

    w->state = NGX_HTTP_FARM_WAITER_WAITING;
    w->cls = c;
    w->owner = (uint32_t) owner;
    w->priority = priority;
    w->seq = ++qs->seq;
    w->since = ngx_current_msec;
    w->expires = ngx_current_msec + timeout + NGX_HTTP_FARM_QUEUE_GRACE;
    w->slot = FARM_SLOT_NONE;
    w->ctx = data;

    ngx_http_farm_queue_link_locked(qs, i);

    sh->qlen++;
    sh->queued++;

    *seq = w->seq;

    return i;
}


/*
 * The next grant of owner, taken off its grants and freed: returns its
 * data (as given to ngx_http_farm_queue_enter_locked()) and the agent it
 * got, already counted for owner; NULL when there is none.  Locked.
 */

void *
ngx_http_farm_queue_grant_next_locked(ngx_http_farm_zone_t *z,
    ngx_uint_t owner, uint32_t *slot, uint32_t *gen)
{
    void                      *data;
    uint32_t                   i;
    ngx_http_farm_waiter_t    *w;
    ngx_http_farm_queue_sh_t  *qs;

    qs = z->sh->queue;

    if (qs == NULL || owner >= NGX_HTTP_FARM_OWNERS) {
        return NULL;
    }

    i = qs->granted[owner];

    if (i == NGX_HTTP_FARM_NONE32) {
        return NULL;
    }

    w = &qs->waiters[i];
    data = w->ctx;
    *slot = w->slot;
    *gen = w->gen;

    ngx_http_farm_queue_ungrant_locked(qs, i);
    ngx_http_farm_queue_free_locked(qs, i);

    return data;
}


/*
 * Entry i (if still the one of seq) leaves the queue: a waiting one for
 * good (counted as timed out unless cancel); a granted one only if cancel,
 * its agent then in *slot and *gen for the caller to give back.  Locked.
 * Returns the entry's state before (NGX_HTTP_FARM_WAITER_FREE: not ours
 * any more).
 */

ngx_uint_t
ngx_http_farm_queue_leave_locked(ngx_http_farm_zone_t *z, uint32_t i,
    uint64_t seq, ngx_uint_t cancel, uint32_t *slot, uint32_t *gen)
{
    ngx_uint_t                 state;
    ngx_http_farm_waiter_t    *w;
    ngx_http_farm_queue_sh_t  *qs;

    qs = z->sh->queue;

    if (qs == NULL || i >= z->sh->qmax) {
        return NGX_HTTP_FARM_WAITER_FREE;
    }

    w = &qs->waiters[i];

    if (w->seq != seq) {
        return NGX_HTTP_FARM_WAITER_FREE;
    }

    state = w->state;

    if (state == NGX_HTTP_FARM_WAITER_WAITING) {
        ngx_http_farm_queue_unlink_locked(z->sh, i);
        ngx_http_farm_queue_free_locked(qs, i);

        if (!cancel) {
            z->sh->timed_out++;
        }

    } else if (state == NGX_HTTP_FARM_WAITER_GRANTED && cancel) {
        *slot = w->slot;
        *gen = w->gen;

        ngx_http_farm_queue_ungrant_locked(qs, i);
        ngx_http_farm_queue_free_locked(qs, i);
    }

    return state;
}


/*
 * Frees the entries of the owners marked in dead (workers that are gone):
 * their waiters leave the lists; their grants are freed too, the agents'
 * counts of those being given back with the rest of the owners' held[]
 * (ngx_http_farm_owner_attach()).  Locked; a pass over the entries, at a
 * worker's start only.  Returns the number of entries freed.
 */

ngx_uint_t
ngx_http_farm_queue_reclaim_locked(ngx_http_farm_zone_t *z, u_char *dead)
{
    uint32_t                   i, o;
    ngx_uint_t                 n;
    ngx_http_farm_waiter_t    *w;
    ngx_http_farm_shctx_t     *sh;
    ngx_http_farm_queue_sh_t  *qs;

    sh = z->sh;
    qs = sh->queue;
    n = 0;

    if (qs == NULL) {
        return 0;
    }

    for (i = 0; i < sh->qmax; i++) {
        w = &qs->waiters[i];

        if (w->state == NGX_HTTP_FARM_WAITER_FREE
            || w->owner >= NGX_HTTP_FARM_OWNERS
            || !dead[w->owner])
        {
            continue;
        }

        if (w->state == NGX_HTTP_FARM_WAITER_WAITING) {
            ngx_http_farm_queue_unlink_locked(sh, i);
        }

        ngx_http_farm_queue_free_locked(qs, i);
        n++;
    }

    for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
        if (dead[o]) {
            qs->granted[o] = NGX_HTTP_FARM_NONE32;
        }
    }

    return n;
}


/*
 * Agent a may have capacity again (a request on it ended, or it came back):
 * grants it, and whatever else frees up with it, to the waiters that may
 * use it.  Only the classes listed under a's region or under "any" are
 * looked at, and of each only its head; among the heads the highest
 * priority, then the oldest, goes first.  a NULL: every agent, an
 * O(agents) pass for rare events only.  Locked.
 */

void
ngx_http_farm_queue_dispatch_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a)
{
    uint32_t                   cand[NGX_HTTP_FARM_QUEUE_CANDIDATES];
    uint32_t                   i, l, c, n, k, best, slot, r, region[2];
    ngx_http_farm_waiter_t    *w, *wb;
    ngx_http_farm_wclass_t    *cl;
    ngx_http_farm_shctx_t     *sh;
    ngx_http_farm_queue_sh_t  *qs;

    sh = z->sh;
    qs = sh->queue;

    if (sh->qlen == 0 || qs == NULL) {
        return;
    }

    ngx_http_farm_queue_expire_locked(z);

    if (a == NULL) {

        /* every agent: once, at a worker's start after a crash */

        for (i = 0; i < sh->nslots && sh->qlen; i++) {
            if (sh->agents[i].state == NGX_HTTP_FARM_SLOT_UP) {
                ngx_http_farm_queue_dispatch_locked(z, &sh->agents[i]);
            }
        }

        return;
    }

    if (sh->qlen == 0 || !farm_peer_available(a->pick)) {
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
    ngx_uint_t              k;
    farm_peers_t            peers;
    ngx_http_farm_ctx_t     scratch;
    ngx_http_farm_filter_t  f;

    if (!cl->filtered) {
        ngx_http_farm_zone_peers(z->sh, &peers);
        return farm_tree_best(&z->sh->tree, &peers, NULL, 0);
    }

    /* a filter already resolved: only what route_choose reads */

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

    return ngx_http_farm_route_choose_locked(z, &f, NULL, 0, &scratch);
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
    ngx_http_farm_queue_sh_t   *qs;
    ngx_http_farm_main_conf_t  *fmcf;

    sh = z->sh;
    qs = sh->queue;
    w = &qs->waiters[i];
    a = &sh->agents[slot];

    ngx_http_farm_zone_peers(sh, &peers);

    farm_tree_acquire(&sh->tree, &peers, slot);
    ngx_http_farm_owner_hold_locked(z, slot, w->owner, 1);
    ngx_http_farm_subsets_update_locked(z, a);

    ngx_http_farm_queue_unlink_locked(sh, i);

    w->state = NGX_HTTP_FARM_WAITER_GRANTED;
    w->slot = slot;
    w->gen = a->gen;

    waited = ngx_current_msec - w->since;
    sh->dispatched++;
    sh->wait_total += waited;
    ngx_http_farm_hist_observe(&sh->stats.queue_wait, waited);

    if (waited > sh->wait_max) {
        sh->wait_max = waited;
    }

    w->prev = NGX_HTTP_FARM_NONE32;
    w->next = qs->granted[w->owner];

    if (w->next != NGX_HTTP_FARM_NONE32) {
        qs->waiters[w->next].prev = i;
    }

    qs->granted[w->owner] = i;

    /* wake its worker; a worker of another cycle polls instead */

    ow = &sh->owners[w->owner];
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
