
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's rate-limiting with policy redis and sync_rate >= 0.02: the
 * counts are kept here and sent to Redis every sync_rate seconds, as
 * Kong's policies/init.lua does, on farm_limit's Redis backend and with
 * the keys of the synchronous path (sync_rate -1), so gateways with and
 * without sync_rate on one Redis count together.
 *
 * One shared-memory zone per (Redis, sync_rate): a node per Redis key
 * (farm:limit:{farm_kong:<key>}:<window>:<start>), in a red-black tree by
 * CRC32 and key, in an LRU queue, and in the "dirty" queue while it holds
 * counts not yet sent.  A node holds
 *
 *   usage     the count Redis gave back last (the script's reply, or the
 *             INCRBY's reply of the last sync)
 *   inflight  counts sent by a sync whose reply has not come yet
 *   delta     counts taken here since
 *
 * and a request's count in a window is their sum.  Unlike Kong, whose
 * deltas and cache are per worker, they are shared by the gateway's
 * workers: a limit holds across workers between two syncs.
 *
 * A request whose windows are all known takes its counts here (O(log n)
 * under the zone's mutex, nothing else); if one is not known (a new key
 * or window, or after a failed sync) it goes to Redis the synchronous way
 * (one EVALSHA, like Kong's INCR on a cache miss), and the counts of the
 * reply become the node's usage (ngx_http_farm_kong_rl_sync_learn).
 *
 * Worker 0 syncs (a worker killed is respawned with its number, and goes
 * on): every sync_rate seconds it takes at most
 * NGX_HTTP_FARM_KONG_RL_SYNC_BATCH dirty nodes and pipelines "INCRBY key
 * delta" and "EXPIRE key ttl" for each; the INCRBY's reply is the key's
 * new count over every gateway, the node's usage from then on.  When a
 * sync cannot be sent, or fails, every node of the zone becomes unknown
 * (an epoch counter, O(1)), as Kong clears its cache: the next requests
 * ask Redis, and fault_tolerant decides while Redis is down.  Counts that
 * could not be sent stay in their node and go with the next sync (Kong
 * drops them); counts sent when a connection broke are dropped, as Kong
 * does.
 */


#include "ngx_http_farm_kong.h"

#include <hiredis/hiredis.h>


#define NGX_HTTP_FARM_KONG_RL_SYNC_SIZE   (8 * 1024 * 1024)
#define NGX_HTTP_FARM_KONG_RL_SYNC_BATCH  1000    /* keys per sync */
#define NGX_HTTP_FARM_KONG_RL_SYNC_EVICT  8       /* tries per new key */

/* a usage older than sync_rate and this is read from Redis again */
#define NGX_HTTP_FARM_KONG_RL_SYNC_GRACE  1000    /* ms */

/* as farm_limit's Redis backend: a key outlives its window by this much */
#define NGX_HTTP_FARM_KONG_RL_TTL_SLACK   60      /* s */


/* sn: the key's CRC32 and the key (data), for nginx's string rbtree */
typedef struct {
    ngx_str_node_t                  sn;
    ngx_uint_t                      dirty;      /* in sh->dirty */
    ngx_queue_t                     lru;
    ngx_queue_t                     queue;      /* in sh->dirty */
    uint32_t                        usage;
    uint32_t                        inflight;
    uint32_t                        delta;
    ngx_pid_t                       owner;      /* of the inflight sync */
    uint64_t                        pass;       /* that sync */
    uint64_t                        epoch;      /* usage valid if current */
    uint64_t                        fresh;      /* ms: usage read then */
    time_t                          end;        /* of the window */
    u_char                          data[1];    /* the Redis key */
} ngx_http_farm_kong_rl_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     lru;        /* most recent first */
    ngx_queue_t                     dirty;      /* oldest first */
    uint64_t                        epoch;
    uint64_t                        passes;
    ngx_uint_t                      keys;
} ngx_http_farm_kong_rl_sh_t;


struct ngx_http_farm_kong_rl_sync_s {
    ngx_str_t                       name;       /* of the zone */
    ngx_msec_t                      interval;
    ngx_http_farm_limit_backend_t  *backend;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_farm_kong_rl_sh_t     *sh;
    ngx_slab_pool_t                *shpool;

    /* per worker */
    ngx_event_t                     timer;
    ngx_uint_t                      started;
    ngx_uint_t                      failing;    /* logged */
    time_t                          full;       /* "full" logged then */
    ngx_log_t                      *log;
};


/* one sync's commands in flight */
typedef struct {
    ngx_http_farm_kong_rl_sync_t   *sync;
    ngx_pool_t                     *pool;
    ngx_uint_t                      replies;    /* still to come */
} ngx_http_farm_kong_rl_pass_t;


typedef struct {
    ngx_http_farm_kong_rl_pass_t   *pass;
    ngx_http_farm_kong_rl_node_t   *node;
    uint64_t                        id;         /* node->pass when sent */
    uint32_t                        delta;
    ngx_str_t                       key;
    int64_t                         ttl;
} ngx_http_farm_kong_rl_entry_t;


static ngx_int_t ngx_http_farm_kong_rl_sync_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_int_t ngx_http_farm_kong_rl_sync_keys(ngx_http_request_t *r,
    ngx_http_farm_limit_t *limit, ngx_str_t *key, time_t now,
    ngx_str_t *keys, uint32_t *hashes);
static ngx_http_farm_kong_rl_redis_t *ngx_http_farm_kong_rl_find(
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p);
static ngx_http_farm_kong_rl_node_t *ngx_http_farm_kong_rl_create_locked(
    ngx_http_farm_kong_rl_sync_t *sync, ngx_str_t *key, uint32_t hash,
    time_t now);
static void ngx_http_farm_kong_rl_dirty_locked(
    ngx_http_farm_kong_rl_sh_t *sh, ngx_http_farm_kong_rl_node_t *node);
static void ngx_http_farm_kong_rl_sync_start(ngx_cycle_t *cycle,
    ngx_http_farm_kong_rl_sync_t *sync);
static void ngx_http_farm_kong_rl_recover(ngx_http_farm_kong_rl_sync_t *sync);
static void ngx_http_farm_kong_rl_pass(ngx_event_t *ev);
static void ngx_http_farm_kong_rl_unsent(ngx_http_farm_kong_rl_sync_t *sync,
    ngx_http_farm_kong_rl_entry_t *e, ngx_uint_t n);
static void ngx_http_farm_kong_rl_incrby_reply(void *data, void *reply);
static void ngx_http_farm_kong_rl_expire_reply(void *data, void *reply);
static void ngx_http_farm_kong_rl_pass_done(ngx_http_farm_kong_rl_pass_t *p);
static void ngx_http_farm_kong_rl_failing(ngx_http_farm_kong_rl_sync_t *sync,
    const char *reason);
static uint64_t ngx_http_farm_kong_rl_now_ms(void);


/*
 * At load: the zone of a plugin with sync_rate, one per Redis server and
 * sync_rate, shared by the plugins and farm_kong files using both.
 */

ngx_int_t
ngx_http_farm_kong_rl_sync_conf(ngx_conf_t *cf,
    ngx_http_farm_kong_rl_redis_t *rr)
{
    double                             rate;
    uint32_t                           crc;
    ngx_str_t                          name;
    ngx_msec_t                         interval;
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_farm_limit_backend_t     *b;
    ngx_http_farm_kong_rl_sync_t      *sync;
    const kong_rate_limiting_conf_t   *conf;

    conf = rr->plugin->conf;
    b = rr->zone->backend;

    /* the loader allows 0.02 s and up (Kong's bound) */

    rate = conf->sync_rate * 1000;
    interval = rate >= (double) NGX_MAX_INT32_VALUE
               ? (ngx_msec_t) NGX_MAX_INT32_VALUE
               : (ngx_msec_t) rate;

    if (interval == 0) {
        interval = 1;
    }

    crc = ngx_crc32_short(b->text.data, b->text.len);

    name.data = ngx_pnalloc(cf->pool, sizeof("farm_kong_rl_sync__")
                                      + 8 + NGX_INT_T_LEN);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    name.len = ngx_sprintf(name.data, "farm_kong_rl_sync_%08xD_%M", crc,
                           interval)
               - name.data;

    shm_zone = ngx_shared_memory_add(cf, &name,
                                     NGX_HTTP_FARM_KONG_RL_SYNC_SIZE,
                                     &ngx_http_farm_kong_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        /* another plugin with the same Redis and sync_rate */
        rr->sync = shm_zone->data;
        return NGX_OK;
    }

    sync = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_kong_rl_sync_t));
    if (sync == NULL) {
        return NGX_ERROR;
    }

    sync->name = name;
    sync->interval = interval;
    sync->backend = b;
    sync->shm_zone = shm_zone;

    shm_zone->init = ngx_http_farm_kong_rl_sync_init_zone;
    shm_zone->data = sync;

    rr->sync = sync;

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_rl_sync_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_farm_kong_rl_sync_t  *osync = data;

    size_t                         len;
    ngx_http_farm_kong_rl_sh_t    *sh;
    ngx_http_farm_kong_rl_sync_t  *sync;

    sync = shm_zone->data;

    if (osync) {
        /* a reload that keeps the zone: the counts carry over */
        sync->sh = osync->sh;
        sync->shpool = osync->shpool;
        return NGX_OK;
    }

    sync->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        sync->sh = sync->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(sync->shpool, sizeof(ngx_http_farm_kong_rl_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_farm_kong_rl_sh_t));

    sync->sh = sh;
    sync->shpool->data = sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_str_rbtree_insert_value);

    ngx_queue_init(&sh->lru);
    ngx_queue_init(&sh->dirty);

    /* 0 is never current: a new node is unknown */
    sh->epoch = 1;

    len = sizeof(" in farm_kong rate-limiting zone \"\"") + sync->name.len;

    sync->shpool->log_ctx = ngx_slab_alloc(sync->shpool, len);
    if (sync->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(sync->shpool->log_ctx,
                " in farm_kong rate-limiting zone \"%V\"%Z", &sync->name);

    /* a full zone evicts (or asks Redis), it is not an error */
    sync->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * A request of a plugin with sync_rate: NGX_BUSY when a window is not
 * known here (the caller asks Redis, then calls _learn), else the outcome
 * of ngx_http_farm_kong_rl_decide() with the counts kept here.
 */

ngx_int_t
ngx_http_farm_kong_rl_sync(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p,
    ngx_http_farm_limit_t *limit, ngx_str_t *key)
{
    time_t                           now;
    uint32_t                         count[FARM_WIN_N], hashes[FARM_WIN_N];
    uint64_t                         ms;
    ngx_str_t                        keys[FARM_WIN_N];
    ngx_uint_t                       w, n, admit;
    ngx_http_farm_kong_rl_sh_t      *sh;
    ngx_http_farm_kong_rl_node_t    *nodes[FARM_WIN_N];
    ngx_http_farm_kong_rl_sync_t    *sync;
    ngx_http_farm_kong_rl_redis_t   *rr;

    rr = ngx_http_farm_kong_rl_find(ctx, p);

    if (rr == NULL) {
        return NGX_BUSY;
    }

    sync = rr->sync;
    sh = sync->sh;
    limit->zone = rr->zone;

    /* for _learn, if Redis is asked */
    ctx->rl_key = *key;

    now = ngx_time();

    if (ngx_http_farm_kong_rl_sync_keys(r, limit, key, now, keys, hashes)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(count, sizeof(count));
    ms = ngx_http_farm_kong_rl_now_ms();
    admit = 1;
    n = 0;

    ngx_shmtx_lock(&sync->shpool->mutex);

    for (w = 0; w < FARM_WIN_N; w++) {
        if (limit->limit[w] == 0) {
            continue;
        }

        nodes[n] = (ngx_http_farm_kong_rl_node_t *)
                       ngx_str_rbtree_lookup(&sh->rbtree, &keys[w],
                                             hashes[w]);

        /* unknown, or not refreshed by the last syncs (no count of this
         * gateway to send): read from Redis again, as Kong does after each
         * sync */

        if (nodes[n] == NULL || nodes[n]->epoch != sh->epoch
            || nodes[n]->fresh + sync->interval
               + NGX_HTTP_FARM_KONG_RL_SYNC_GRACE < ms)
        {
            ngx_shmtx_unlock(&sync->shpool->mutex);
            return NGX_BUSY;
        }

        count[w] = (uint32_t) ngx_min((uint64_t) nodes[n]->usage
                                      + nodes[n]->inflight
                                      + nodes[n]->delta,
                                      (uint64_t) FARM_LIMIT_MAX);

        if (count[w] >= limit->limit[w]) {
            admit = 0;
        }

        n++;
    }

    n = 0;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (limit->limit[w] == 0) {
            continue;
        }

        ngx_queue_remove(&nodes[n]->lru);
        ngx_queue_insert_head(&sh->lru, &nodes[n]->lru);

        if (admit && nodes[n]->delta < FARM_LIMIT_MAX) {
            nodes[n]->delta++;
            count[w]++;
            ngx_http_farm_kong_rl_dirty_locked(sh, nodes[n]);
        }

        n++;
    }

    ngx_shmtx_unlock(&sync->shpool->mutex);

    return ngx_http_farm_kong_rl_decide(r, ctx, p, limit, count,
                                        admit ? NGX_HTTP_FARM_LIMIT_ADMITTED
                                              : NGX_HTTP_FARM_LIMIT_REJECTED,
                                        NULL);
}


/*
 * Redis answered the synchronous script for a request of a plugin with
 * sync_rate: its counts (after the request, if admitted) become the
 * windows' usage here.  A full zone only means they are asked again.
 */

void
ngx_http_farm_kong_rl_sync_learn(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p,
    ngx_http_farm_limit_ctx_t *lctx)
{
    uint32_t                         hashes[FARM_WIN_N];
    ngx_str_t                        keys[FARM_WIN_N];
    ngx_uint_t                       w, full;
    ngx_http_farm_limit_t           *limit;
    ngx_http_farm_kong_rl_sh_t      *sh;
    ngx_http_farm_kong_rl_node_t    *node;
    ngx_http_farm_kong_rl_sync_t    *sync;
    ngx_http_farm_kong_rl_redis_t   *rr;

    if (lctx->redis_rc != NGX_HTTP_FARM_LIMIT_ADMITTED
        && lctx->redis_rc != NGX_HTTP_FARM_LIMIT_REJECTED)
    {
        return;
    }

    rr = ngx_http_farm_kong_rl_find(ctx, p);

    if (rr == NULL || ctx->rl_key.len == 0) {
        return;
    }

    sync = rr->sync;
    sh = sync->sh;
    limit = lctx->lcf->limits->elts;

    if (ngx_http_farm_kong_rl_sync_keys(r, limit, &ctx->rl_key, lctx->now,
                                        keys, hashes)
        != NGX_OK)
    {
        return;
    }

    full = 0;

    ngx_shmtx_lock(&sync->shpool->mutex);

    for (w = 0; w < FARM_WIN_N; w++) {
        if (limit->limit[w] == 0) {
            continue;
        }

        node = (ngx_http_farm_kong_rl_node_t *)
                   ngx_str_rbtree_lookup(&sh->rbtree, &keys[w], hashes[w]);

        if (node == NULL) {
            node = ngx_http_farm_kong_rl_create_locked(sync, &keys[w],
                                                       hashes[w], lctx->now);
            if (node == NULL) {
                full = 1;
                continue;
            }

            node->end = (time_t) farm_window_next(w,
                                             farm_window_start(w, lctx->now));
        }

        node->usage = lctx->counts[w];
        node->epoch = sh->epoch;
        node->fresh = ngx_http_farm_kong_rl_now_ms();
    }

    ngx_shmtx_unlock(&sync->shpool->mutex);

    if (full && lctx->now - sync->full >= 60) {
        sync->full = lctx->now;
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "farm_kong: rate-limiting: the zone \"%V\" is full of "
                      "counts still to be sent; new keys are counted in "
                      "redis on every request meanwhile", &sync->name);
    }
}


/* the plugin's entry, if it has sync_rate */

static ngx_http_farm_kong_rl_redis_t *
ngx_http_farm_kong_rl_find(ngx_http_farm_kong_ctx_t *ctx,
    const kong_plugin_t *p)
{
    ngx_uint_t                      i;
    ngx_http_farm_kong_rl_redis_t  *rr;

    rr = ctx->conf->rl_redis.elts;

    for (i = 0; i < ctx->conf->rl_redis.nelts; i++) {
        if (rr[i].plugin == p) {
            return rr[i].sync ? &rr[i] : NULL;
        }
    }

    return NULL;
}


/* The Redis keys of a limit's windows, as farm_limit's backend makes them */

static ngx_int_t
ngx_http_farm_kong_rl_sync_keys(ngx_http_request_t *r,
    ngx_http_farm_limit_t *limit, ngx_str_t *key, time_t now,
    ngx_str_t *keys, uint32_t *hashes)
{
    u_char                      *p;
    size_t                       len;
    unsigned                     w;
    ngx_http_farm_limit_zone_t  *zone;

    zone = limit->zone;

    len = sizeof("farm:limit:{:}:second:") - 1 + zone->name.len + key->len
          + NGX_INT64_LEN;

    p = ngx_pnalloc(r->pool, len * limit->nwindows);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (w = 0; w < FARM_WIN_N; w++) {
        if (limit->limit[w] == 0) {
            continue;
        }

        keys[w].data = p;
        p = ngx_sprintf(p, "farm:limit:{%V:%V}:%s:%L", &zone->name, key,
                        farm_window_name(w), farm_window_start(w, now));
        keys[w].len = p - keys[w].data;

        hashes[w] = ngx_crc32_short(keys[w].data, keys[w].len);
    }

    return NGX_OK;
}


/*
 * A new node, unknown (epoch 0).  When the zone is full, up to
 * NGX_HTTP_FARM_KONG_RL_SYNC_EVICT of the least recently used nodes that
 * hold nothing to send (or only counts of a window Redis has forgotten)
 * make room; NULL if none does.
 */

static ngx_http_farm_kong_rl_node_t *
ngx_http_farm_kong_rl_create_locked(ngx_http_farm_kong_rl_sync_t *sync,
    ngx_str_t *key, uint32_t hash, time_t now)
{
    size_t                         size;
    ngx_uint_t                     tries;
    ngx_queue_t                   *q;
    ngx_http_farm_kong_rl_sh_t    *sh;
    ngx_http_farm_kong_rl_node_t  *n, *node;

    sh = sync->sh;

    size = offsetof(ngx_http_farm_kong_rl_node_t, data) + key->len;

    node = ngx_slab_alloc_locked(sync->shpool, size);

    for (tries = 0;
         node == NULL && tries < NGX_HTTP_FARM_KONG_RL_SYNC_EVICT
         && !ngx_queue_empty(&sh->lru);
         tries++)
    {
        q = ngx_queue_last(&sh->lru);
        n = ngx_queue_data(q, ngx_http_farm_kong_rl_node_t, lru);

        ngx_queue_remove(q);

        if (n->inflight
            || (n->delta && n->end + NGX_HTTP_FARM_KONG_RL_TTL_SLACK > now))
        {
            /* still to be sent: to the front, the next one is tried */
            ngx_queue_insert_head(&sh->lru, q);
            continue;
        }

        if (n->dirty) {
            ngx_queue_remove(&n->queue);
        }

        ngx_rbtree_delete(&sh->rbtree, &n->sn.node);
        ngx_slab_free_locked(sync->shpool, n);
        sh->keys--;

        node = ngx_slab_alloc_locked(sync->shpool, size);
    }

    if (node == NULL) {
        return NULL;
    }

    ngx_memzero(node, offsetof(ngx_http_farm_kong_rl_node_t, data));

    node->sn.node.key = hash;
    node->sn.str.len = key->len;
    node->sn.str.data = node->data;
    ngx_memcpy(node->data, key->data, key->len);

    ngx_rbtree_insert(&sh->rbtree, &node->sn.node);
    ngx_queue_insert_head(&sh->lru, &node->lru);
    sh->keys++;

    return node;
}


static void
ngx_http_farm_kong_rl_dirty_locked(ngx_http_farm_kong_rl_sh_t *sh,
    ngx_http_farm_kong_rl_node_t *node)
{
    if (!node->dirty) {
        node->dirty = 1;
        ngx_queue_insert_tail(&sh->dirty, &node->queue);
    }
}


/* ---- the sync, in worker 0 ---------------------------------------------- */

ngx_int_t
ngx_http_farm_kong_rl_sync_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i, j;
    ngx_http_farm_kong_conf_t       **kcp;
    ngx_http_farm_kong_rl_redis_t    *rr;
    ngx_http_farm_kong_main_conf_t   *kmcf;

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    kmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_farm_kong_module);
    if (kmcf == NULL) {
        return NGX_OK;
    }

    kcp = kmcf->confs.elts;

    for (i = 0; i < kmcf->confs.nelts; i++) {
        rr = kcp[i]->rl_redis.elts;

        for (j = 0; j < kcp[i]->rl_redis.nelts; j++) {
            if (rr[j].sync) {
                ngx_http_farm_kong_rl_sync_start(cycle, rr[j].sync);
            }
        }
    }

    return NGX_OK;
}


void
ngx_http_farm_kong_rl_sync_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i, j;
    ngx_http_farm_kong_conf_t       **kcp;
    ngx_http_farm_kong_rl_redis_t    *rr;
    ngx_http_farm_kong_main_conf_t   *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_farm_kong_module);
    if (kmcf == NULL) {
        return;
    }

    kcp = kmcf->confs.elts;

    for (i = 0; i < kmcf->confs.nelts; i++) {
        rr = kcp[i]->rl_redis.elts;

        for (j = 0; j < kcp[i]->rl_redis.nelts; j++) {
            if (rr[j].sync && rr[j].sync->timer.timer_set) {
                ngx_del_timer(&rr[j].sync->timer);
            }
        }
    }
}


static void
ngx_http_farm_kong_rl_sync_start(ngx_cycle_t *cycle,
    ngx_http_farm_kong_rl_sync_t *sync)
{
    if (sync->started || sync->sh == NULL) {
        return;
    }

    sync->started = 1;
    sync->log = cycle->log;

    if (ngx_worker != 0) {
        return;
    }

    sync->timer.handler = ngx_http_farm_kong_rl_pass;
    sync->timer.data = sync;
    sync->timer.log = cycle->log;

    /* an exiting worker leaves the counts to the next worker 0 */
    sync->timer.cancelable = 1;

    ngx_http_farm_kong_rl_recover(sync);

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "farm_kong: rate-limiting: worker %P sends the counts to "
                  "redis %V every %Mms", ngx_pid, &sync->backend->display,
                  sync->interval);

    ngx_add_timer(&sync->timer, sync->interval);
}


/*
 * A new worker 0: counts that a killed predecessor had sent and never saw
 * answered are dropped (Redis may or may not have them), and every count
 * asked again.  Once per start, over every node: not on the request path.
 */

static void
ngx_http_farm_kong_rl_recover(ngx_http_farm_kong_rl_sync_t *sync)
{
    ngx_uint_t                     lost;
    ngx_queue_t                   *q;
    ngx_http_farm_kong_rl_sh_t    *sh;
    ngx_http_farm_kong_rl_node_t  *n;

    sh = sync->sh;
    lost = 0;

    ngx_shmtx_lock(&sync->shpool->mutex);

    for (q = ngx_queue_head(&sh->lru);
         q != ngx_queue_sentinel(&sh->lru);
         q = ngx_queue_next(q))
    {
        n = ngx_queue_data(q, ngx_http_farm_kong_rl_node_t, lru);

        if (n->inflight == 0 || n->owner == ngx_pid) {
            continue;
        }

        if (kill(n->owner, 0) == 0 || ngx_errno != NGX_ESRCH) {
            /* a worker of the old cycle, still waiting for its replies */
            continue;
        }

        n->inflight = 0;
        n->pass = 0;
        lost++;
    }

    if (lost) {
        sh->epoch++;
    }

    ngx_shmtx_unlock(&sync->shpool->mutex);

    if (lost) {
        ngx_log_error(NGX_LOG_WARN, sync->log, 0,
                      "farm_kong: rate-limiting: %ui keys' counts were "
                      "being sent to redis %V by a worker that is gone; "
                      "they are read from redis again", lost,
                      &sync->backend->display);
    }
}


static void
ngx_http_farm_kong_rl_pass(ngx_event_t *ev)
{
    ngx_http_farm_kong_rl_sync_t  *sync = ev->data;

    u_char                         *p;
    size_t                          argvlen[3];
    time_t                          now;
    uint64_t                        id;
    ngx_int_t                       rc;
    ngx_uint_t                      i, n, visits, more;
    const char                     *argv[3];
    ngx_pool_t                     *pool;
    ngx_queue_t                    *q;
    ngx_http_farm_kong_rl_sh_t     *sh;
    ngx_http_farm_kong_rl_node_t   *node;
    ngx_http_farm_kong_rl_pass_t   *pass;
    ngx_http_farm_kong_rl_entry_t  *e;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    sh = sync->sh;
    now = ngx_time();
    more = 0;

    /* read without the lock: a node queued meanwhile waits for the next */

    if (ngx_queue_empty(&sh->dirty)) {
        goto next;
    }

    pool = ngx_create_pool(4096, sync->log);
    if (pool == NULL) {
        goto next;
    }

    pass = ngx_palloc(pool, sizeof(ngx_http_farm_kong_rl_pass_t));
    e = ngx_palloc(pool, NGX_HTTP_FARM_KONG_RL_SYNC_BATCH
                         * sizeof(ngx_http_farm_kong_rl_entry_t));

    if (pass == NULL || e == NULL) {
        ngx_destroy_pool(pool);
        goto next;
    }

    pass->sync = sync;
    pass->pool = pool;
    pass->replies = 0;

    /* at most a batch of dirty nodes: their deltas become in flight */

    n = 0;
    visits = 0;

    ngx_shmtx_lock(&sync->shpool->mutex);

    id = ++sh->passes;

    while (!ngx_queue_empty(&sh->dirty)
           && n < NGX_HTTP_FARM_KONG_RL_SYNC_BATCH
           && visits++ < 2 * NGX_HTTP_FARM_KONG_RL_SYNC_BATCH)
    {
        q = ngx_queue_head(&sh->dirty);
        node = ngx_queue_data(q, ngx_http_farm_kong_rl_node_t, queue);

        ngx_queue_remove(q);

        if (node->inflight) {
            /* the previous sync's reply is still to come */
            ngx_queue_insert_tail(&sh->dirty, q);
            continue;
        }

        node->dirty = 0;

        if (node->delta == 0) {
            continue;
        }

        if (node->end + NGX_HTTP_FARM_KONG_RL_TTL_SLACK <= now) {
            /* Redis has forgotten that window */
            node->delta = 0;
            continue;
        }

        p = ngx_pnalloc(pool, node->sn.str.len);
        if (p == NULL) {
            ngx_http_farm_kong_rl_dirty_locked(sh, node);
            break;
        }

        e[n].pass = pass;
        e[n].node = node;
        e[n].id = id;
        e[n].delta = node->delta;
        e[n].key.data = p;
        e[n].key.len = node->sn.str.len;
        e[n].ttl = node->end - now + NGX_HTTP_FARM_KONG_RL_TTL_SLACK;
        ngx_memcpy(p, node->data, node->sn.str.len);

        node->inflight = node->delta;
        node->delta = 0;
        node->owner = ngx_pid;
        node->pass = id;

        n++;
    }

    /* a full batch with more behind it: the next one at once */
    more = (n == NGX_HTTP_FARM_KONG_RL_SYNC_BATCH
            && !ngx_queue_empty(&sh->dirty));

    ngx_shmtx_unlock(&sync->shpool->mutex);

    if (n == 0) {
        ngx_destroy_pool(pool);
        goto next;
    }

    /* pipelined: hiredis writes them all when the socket is writable */

    rc = NGX_OK;

    for (i = 0; i < n; i++) {
        p = ngx_pnalloc(pool, 2 * NGX_INT64_LEN);
        if (p == NULL) {
            rc = NGX_ERROR;
            break;
        }

        argv[0] = "INCRBY";
        argvlen[0] = sizeof("INCRBY") - 1;
        argv[1] = (const char *) e[i].key.data;
        argvlen[1] = e[i].key.len;
        argv[2] = (const char *) p;
        argvlen[2] = ngx_sprintf(p, "%uD", e[i].delta) - p;

        rc = ngx_http_farm_limit_redis_command(sync->backend, 3, argv,
                                  argvlen, ngx_http_farm_kong_rl_incrby_reply,
                                  &e[i]);
        if (rc != NGX_OK) {
            break;
        }

        pass->replies++;

        argv[0] = "EXPIRE";
        argvlen[0] = sizeof("EXPIRE") - 1;
        argv[2] = (const char *) p + NGX_INT64_LEN;
        argvlen[2] = ngx_sprintf(p + NGX_INT64_LEN, "%L", e[i].ttl)
                     - (p + NGX_INT64_LEN);

        if (ngx_http_farm_limit_redis_command(sync->backend, 3, argv,
                                    argvlen, ngx_http_farm_kong_rl_expire_reply,
                                    pass)
            == NGX_OK)
        {
            pass->replies++;
        }
    }

    if (i < n) {
        /* kept for the next sync */
        ngx_http_farm_kong_rl_unsent(sync, &e[i], n - i);
        ngx_http_farm_kong_rl_failing(sync, rc == NGX_DECLINED
                                            ? "no connection"
                                            : "cannot send");
        more = 0;
    }

    if (pass->replies == 0) {
        ngx_destroy_pool(pool);
    }

next:

    if (!ngx_exiting) {
        /* a backlog goes on at once, in batches */
        ngx_add_timer(&sync->timer, more ? 1 : sync->interval);
    }
}


/* Counts that could not be sent: back to their nodes, all asked again */

static void
ngx_http_farm_kong_rl_unsent(ngx_http_farm_kong_rl_sync_t *sync,
    ngx_http_farm_kong_rl_entry_t *e, ngx_uint_t n)
{
    ngx_uint_t                     i;
    ngx_http_farm_kong_rl_sh_t    *sh;
    ngx_http_farm_kong_rl_node_t  *node;

    sh = sync->sh;

    ngx_shmtx_lock(&sync->shpool->mutex);

    for (i = 0; i < n; i++) {
        node = e[i].node;

        if (node->pass != e[i].id) {
            continue;
        }

        node->delta += node->inflight;
        node->inflight = 0;
        node->pass = 0;

        ngx_http_farm_kong_rl_dirty_locked(sh, node);
    }

    sh->epoch++;

    ngx_shmtx_unlock(&sync->shpool->mutex);
}


/*
 * The reply of an INCRBY: the key's count over every gateway, the node's
 * usage from now on; a failure makes every node unknown, as Kong clears its
 * cache (the counts sent are dropped: Redis may have them).
 */

static void
ngx_http_farm_kong_rl_incrby_reply(void *data, void *reply)
{
    ngx_http_farm_kong_rl_entry_t  *e = data;

    redisReply                     *rr;
    const char                     *err;
    ngx_http_farm_kong_rl_sh_t     *sh;
    ngx_http_farm_kong_rl_node_t   *node;
    ngx_http_farm_kong_rl_sync_t   *sync;

    rr = reply;
    sync = e->pass->sync;
    sh = sync->sh;
    node = e->node;
    err = NULL;

    if (rr == NULL) {
        err = "no reply";

    } else if (rr->type != REDIS_REPLY_INTEGER || rr->integer < 0) {
        err = rr->type == REDIS_REPLY_ERROR ? "an error reply"
                                            : "an unexpected reply";
    }

    ngx_shmtx_lock(&sync->shpool->mutex);

    /* the node is still the one sent (not evicted and reused) */

    if (node->pass == e->id && node->sn.str.len == e->key.len
        && ngx_memcmp(node->data, e->key.data, e->key.len) == 0)
    {
        node->inflight = 0;
        node->pass = 0;

        if (err == NULL) {
            node->usage = (uint32_t) ngx_min(rr->integer,
                                             (long long) FARM_LIMIT_MAX);
            node->epoch = sh->epoch;
            node->fresh = ngx_http_farm_kong_rl_now_ms();
        }
    }

    if (err) {
        sh->epoch++;
    }

    ngx_shmtx_unlock(&sync->shpool->mutex);

    if (err) {
        ngx_http_farm_kong_rl_failing(sync, err);

    } else if (sync->failing) {
        sync->failing = 0;
        ngx_log_error(NGX_LOG_NOTICE, sync->log, 0,
                      "farm_kong: rate-limiting: the counts reach redis %V "
                      "again", &sync->backend->display);
    }

    ngx_http_farm_kong_rl_pass_done(e->pass);
}


static void
ngx_http_farm_kong_rl_expire_reply(void *data, void *reply)
{
    ngx_http_farm_kong_rl_pass_done(data);
}


static void
ngx_http_farm_kong_rl_pass_done(ngx_http_farm_kong_rl_pass_t *pass)
{
    if (--pass->replies == 0) {
        ngx_destroy_pool(pass->pool);
    }
}


/* Kong logs each failed sync; here once until a sync succeeds again */

static void
ngx_http_farm_kong_rl_failing(ngx_http_farm_kong_rl_sync_t *sync,
    const char *reason)
{
    if (sync->failing) {
        return;
    }

    sync->failing = 1;

    ngx_log_error(NGX_LOG_ERR, sync->log, 0,
                  "farm_kong: rate-limiting: failed to sync the counts to "
                  "redis %V (%s); the next requests read them from redis",
                  &sync->backend->display, reason);
}


static uint64_t
ngx_http_farm_kong_rl_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}
