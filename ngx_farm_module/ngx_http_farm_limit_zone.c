
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * policy=local: the counters of a farm_limit zone in shared memory, exact
 * across the workers of one gateway.  One node per key in a red-black tree
 * (by CRC32 of the key, then the key), all nodes in a queue from the most
 * to the least recently used, every access under the zone's slab mutex.
 *
 * Memory is bounded by the zone's size.  A new key first frees up to two
 * idle keys (no request in a running window) from the end of the queue;
 * when the zone is still full, the least recently used keys are evicted,
 * counts and all, until the new one fits.  Evictions are reported at most
 * once every NGX_HTTP_FARM_LIMIT_REPORT seconds per zone.
 */


#include "ngx_http_farm_limit.h"


#define NGX_HTTP_FARM_LIMIT_REPORT    10      /* s between "full" lines */
#define NGX_HTTP_FARM_LIMIT_EVICT     64      /* evictions per new key */


static ngx_http_farm_limit_node_t *ngx_http_farm_limit_lookup(
    ngx_http_farm_limit_zone_t *zone, ngx_str_t *key, uint32_t hash);
static ngx_http_farm_limit_node_t *ngx_http_farm_limit_create(
    ngx_http_farm_limit_zone_t *zone, ngx_str_t *key, uint32_t hash,
    time_t now);
static ngx_uint_t ngx_http_farm_limit_drop_last(
    ngx_http_farm_limit_zone_t *zone, time_t now, ngx_uint_t force);
static void ngx_http_farm_limit_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


ngx_int_t
ngx_http_farm_limit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_farm_limit_zone_t  *ozone = data;

    size_t                        len;
    ngx_http_farm_limit_zone_t   *zone;
    ngx_http_farm_limit_shctx_t  *sh;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload that keeps the zone: the counters carry over */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_farm_limit_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_farm_limit_shctx_t));

    zone->sh = sh;
    zone->shpool->data = sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_http_farm_limit_rbtree_insert_value);

    ngx_queue_init(&sh->queue);

    len = sizeof(" in farm_limit zone \"\"") + zone->name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in farm_limit zone \"%V\"%Z",
                &zone->name);

    /* a full zone is normal here: we evict and report it ourselves */

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * Counts one request for key in the windows of limit.  Returns NGX_OK
 * (admitted and counted), NGX_BUSY (rejected, nothing counted) or
 * NGX_DECLINED (admitted, but the zone had no room for a new key even
 * after evictions, so nothing was counted).  count receives the counts
 * of limit's windows afterwards, start the windows' starts.
 */

ngx_int_t
ngx_http_farm_limit_take(ngx_http_request_t *r, ngx_http_farm_limit_t *limit,
    ngx_str_t *key, time_t now, uint32_t *count, uint32_t *start)
{
    int                           admit;
    uint32_t                      hash;
    ngx_uint_t                    report, evicted, failed, keys;
    ngx_http_farm_limit_node_t   *lr;
    ngx_http_farm_limit_zone_t   *zone;
    ngx_http_farm_limit_shctx_t  *sh;

    zone = limit->zone;
    sh = zone->sh;

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    lr = ngx_http_farm_limit_lookup(zone, key, hash);

    if (lr) {
        ngx_queue_remove(&lr->queue);
        ngx_queue_insert_head(&sh->queue, &lr->queue);

    } else {
        lr = ngx_http_farm_limit_create(zone, key, hash, now);

        if (lr == NULL) {
            sh->failed++;
        }
    }

    admit = lr ? farm_limit_take(lr->counters, limit->limit, now, count,
                                 start)
               : 1;

    report = 0;
    evicted = 0;
    failed = 0;
    keys = 0;

    if ((sh->evicted || sh->failed)
        && now - sh->reported >= NGX_HTTP_FARM_LIMIT_REPORT)
    {
        report = 1;
        evicted = sh->evicted;
        failed = sh->failed;
        keys = sh->keys;

        sh->evicted = 0;
        sh->failed = 0;
        sh->reported = now;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (report) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "farm_limit zone \"%V\" is full with %ui keys: "
                      "%ui least recently used keys evicted, their counts "
                      "lost, and %ui requests not counted since the last "
                      "report; raise the zone's size",
                      &zone->name, keys, evicted, failed);
    }

    if (lr == NULL) {
        return NGX_DECLINED;
    }

    return admit ? NGX_OK : NGX_BUSY;
}


/* Gives back what ngx_http_farm_limit_take() counted in the windows start. */

void
ngx_http_farm_limit_untake(ngx_http_farm_limit_t *limit, ngx_str_t *key,
    uint32_t *start, uint32_t *count)
{
    uint32_t                     hash;
    ngx_http_farm_limit_node_t  *lr;
    ngx_http_farm_limit_zone_t  *zone;

    zone = limit->zone;

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* evicted in between: nothing left to give back */

    lr = ngx_http_farm_limit_lookup(zone, key, hash);

    if (lr) {
        farm_limit_untake(lr->counters, limit->limit, start, count);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


static ngx_http_farm_limit_node_t *
ngx_http_farm_limit_lookup(ngx_http_farm_limit_zone_t *zone, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                    rc;
    ngx_rbtree_node_t           *node, *sentinel;
    ngx_http_farm_limit_node_t  *lr;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        lr = (ngx_http_farm_limit_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, lr->data, key->len, (size_t) lr->len);

        if (rc == 0) {
            return lr;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static ngx_http_farm_limit_node_t *
ngx_http_farm_limit_create(ngx_http_farm_limit_zone_t *zone, ngx_str_t *key,
    uint32_t hash, time_t now)
{
    size_t                        size;
    ngx_uint_t                    i;
    ngx_rbtree_node_t            *node;
    ngx_http_farm_limit_node_t   *lr;
    ngx_http_farm_limit_shctx_t  *sh;

    sh = zone->sh;

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_farm_limit_node_t, data)
           + key->len;

    /* housekeeping: keys with nothing running go first */

    (void) ngx_http_farm_limit_drop_last(zone, now, 0);
    (void) ngx_http_farm_limit_drop_last(zone, now, 0);

    node = ngx_slab_alloc_locked(zone->shpool, size);

    for (i = 0; node == NULL && i < NGX_HTTP_FARM_LIMIT_EVICT; i++) {

        /*
         * Full: evict from the least recently used end until the new key
         * fits (a freed node of another size class may not make room).
         */

        if (!ngx_http_farm_limit_drop_last(zone, now, 1)) {
            break;
        }

        node = ngx_slab_alloc_locked(zone->shpool, size);
    }

    if (node == NULL) {
        return NULL;
    }

    node->key = hash;

    lr = (ngx_http_farm_limit_node_t *) &node->color;

    lr->len = (u_short) key->len;
    ngx_memzero(lr->counters, sizeof(lr->counters));
    ngx_memcpy(lr->data, key->data, key->len);

    ngx_rbtree_insert(&sh->rbtree, node);
    ngx_queue_insert_head(&sh->queue, &lr->queue);

    sh->keys++;

    return lr;
}


/*
 * Frees the least recently used key: only if it is idle, or in any case
 * with force (then counted as evicted if it was not).  Returns 0 when
 * nothing was freed.
 */

static ngx_uint_t
ngx_http_farm_limit_drop_last(ngx_http_farm_limit_zone_t *zone, time_t now,
    ngx_uint_t force)
{
    ngx_uint_t                    idle;
    ngx_queue_t                  *q;
    ngx_rbtree_node_t            *node;
    ngx_http_farm_limit_node_t   *lr;
    ngx_http_farm_limit_shctx_t  *sh;

    sh = zone->sh;

    if (ngx_queue_empty(&sh->queue)) {
        return 0;
    }

    q = ngx_queue_last(&sh->queue);
    lr = ngx_queue_data(q, ngx_http_farm_limit_node_t, queue);

    idle = farm_counters_idle(lr->counters, now);

    if (!idle && !force) {
        return 0;
    }

    if (!idle) {
        sh->evicted++;
    }

    ngx_queue_remove(q);

    node = (ngx_rbtree_node_t *)
               ((u_char *) lr - offsetof(ngx_rbtree_node_t, color));

    ngx_rbtree_delete(&sh->rbtree, node);

    ngx_slab_free_locked(zone->shpool, node);

    sh->keys--;

    return 1;
}


static void
ngx_http_farm_limit_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t           **p;
    ngx_http_farm_limit_node_t   *lr, *lrt;

    for ( ;; ) {

        if (node->key < temp->key) {

            p = &temp->left;

        } else if (node->key > temp->key) {

            p = &temp->right;

        } else { /* node->key == temp->key */

            lr = (ngx_http_farm_limit_node_t *) &node->color;
            lrt = (ngx_http_farm_limit_node_t *) &temp->color;

            p = (ngx_memn2cmp(lr->data, lrt->data, lr->len, lrt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}
