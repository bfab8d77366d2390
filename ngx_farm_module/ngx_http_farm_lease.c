
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The built-in registry's leases, in the farm upstream's zone: who is
 * registered, with which record, until when.  A tree by id answers
 * heartbeats and deregistrations, a tree by expiry gives the sync owner
 * what ran out without looking at the others, and a small direct-mapped
 * table counts each client address's requests per second for the API's
 * rate=.  Everything is in the zone's slab, under its lock, so any worker
 * can take a registration and a reload keeps them all.
 */


#include "ngx_http_farm_lease.h"


static ngx_int_t ngx_http_farm_lease_cmp(uint32_t hash, u_char *id,
    size_t len, ngx_str_node_t *sn);


/*
 * What the leases need in the zone: their table, entries and records; 0
 * for an upstream without "farm_registry builtin".
 */

size_t
ngx_http_farm_leases_size(ngx_http_farm_srv_conf_t *fcf)
{
    if (fcf->builtin == NULL) {
        return 0;
    }

    return sizeof(ngx_http_farm_leases_t)
           + fcf->max_agents * (sizeof(ngx_http_farm_lease_t) + 1024);
}


/*
 * Sets up the leases of a zone of "farm_registry builtin" that has none (a
 * new zone, or a reload that made the upstream builtin).
 */

ngx_int_t
ngx_http_farm_leases_init(ngx_http_farm_zone_t *z)
{
    ngx_http_farm_leases_t  *ls;

    if (z->fcf->builtin == NULL) {
        return NGX_OK;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    if (z->sh->leases) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_OK;
    }

    ls = ngx_slab_calloc_locked(z->shpool, sizeof(ngx_http_farm_leases_t));
    if (ls == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        ngx_log_error(NGX_LOG_EMERG, z->fcf->log, 0,
                      "farm zone of upstream \"%V\" has no room for the "
                      "built-in registry; raise zone=", &z->fcf->uscf->host);
        return NGX_ERROR;
    }

    ngx_rbtree_init(&ls->ids, &ls->ids_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&ls->expiry, &ls->expiry_sentinel,
                    ngx_rbtree_insert_timer_value);

    z->sh->leases = ls;

    ngx_shmtx_unlock(&z->shpool->mutex);

    return NGX_OK;
}


ngx_http_farm_lease_t *
ngx_http_farm_lease_find_locked(ngx_http_farm_zone_t *z, u_char *id,
    size_t len)
{
    ngx_str_t  key;

    key.data = id;
    key.len = len;

    return (ngx_http_farm_lease_t *)
               ngx_str_rbtree_lookup(&z->sh->leases->ids, &key,
                                     ngx_crc32_short(id, len));
}


/*
 * Registers id for ttl ms from now with the record json, or replaces its
 * record and renews it.  *gen tells this put from a later one, *fresh
 * whether the id was new.  NGX_ERROR when the zone has no room.
 */

ngx_int_t
ngx_http_farm_lease_put_locked(ngx_http_farm_zone_t *z, u_char *id,
    size_t len, u_char *json, size_t json_len, ngx_msec_t ttl,
    ngx_msec_t now, uint64_t *gen, ngx_uint_t *fresh)
{
    u_char                  *copy;
    ngx_http_farm_lease_t   *l;
    ngx_http_farm_leases_t  *ls;

    ls = z->sh->leases;

    l = ngx_http_farm_lease_find_locked(z, id, len);

    copy = NULL;

    if (l == NULL || l->json_len != json_len
        || ngx_memcmp(l->json, json, json_len) != 0)
    {
        copy = ngx_slab_alloc_locked(z->shpool, json_len);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(copy, json, json_len);
    }

    *fresh = (l == NULL);

    if (l == NULL) {
        l = ngx_slab_calloc_locked(z->shpool, sizeof(ngx_http_farm_lease_t));
        if (l == NULL) {
            ngx_slab_free_locked(z->shpool, copy);
            return NGX_ERROR;
        }

        ngx_memcpy(l->id, id, len);
        l->sn.str.data = l->id;
        l->sn.str.len = len;
        l->sn.node.key = ngx_crc32_short(id, len);

        ngx_rbtree_insert(&ls->ids, &l->sn.node);
        ls->n++;

    } else {
        ngx_rbtree_delete(&ls->expiry, &l->exp);
    }

    if (copy) {
        if (l->json) {
            ngx_slab_free_locked(z->shpool, l->json);
        }

        l->json = copy;
        l->json_len = json_len;
    }

    l->ttl = ttl;
    l->exp.key = now + ttl;
    ngx_rbtree_insert(&ls->expiry, &l->exp);

    l->gen = ++ls->gen;
    *gen = l->gen;

    return NGX_OK;
}


/* A heartbeat: the lease runs for ttl ms from now. */

ngx_int_t
ngx_http_farm_lease_renew_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_lease_t *l, ngx_msec_t ttl, ngx_msec_t now)
{
    ngx_http_farm_leases_t  *ls;

    ls = z->sh->leases;

    ngx_rbtree_delete(&ls->expiry, &l->exp);

    l->ttl = ttl;
    l->exp.key = now + ttl;
    ngx_rbtree_insert(&ls->expiry, &l->exp);

    ls->renewed++;

    return NGX_OK;
}


/*
 * Ends the lease of id; with gen not 0, only if no put came after the one
 * that returned gen.  NGX_DECLINED when there is none to end.
 */

ngx_int_t
ngx_http_farm_lease_remove_locked(ngx_http_farm_zone_t *z, u_char *id,
    size_t len, uint64_t gen)
{
    ngx_http_farm_lease_t   *l;
    ngx_http_farm_leases_t  *ls;

    ls = z->sh->leases;

    l = ngx_http_farm_lease_find_locked(z, id, len);

    if (l == NULL || (gen && l->gen != gen)) {
        return NGX_DECLINED;
    }

    ngx_rbtree_delete(&ls->ids, &l->sn.node);
    ngx_rbtree_delete(&ls->expiry, &l->exp);

    if (l->json) {
        ngx_slab_free_locked(z->shpool, l->json);
    }

    ngx_slab_free_locked(z->shpool, l);

    ls->n--;
    ls->gen++;

    return NGX_OK;
}


/* The lease that runs out first, if it has run out by now; else NULL. */

ngx_http_farm_lease_t *
ngx_http_farm_lease_expired_locked(ngx_http_farm_zone_t *z, ngx_msec_t now)
{
    ngx_rbtree_node_t       *node;
    ngx_http_farm_leases_t  *ls;

    ls = z->sh->leases;

    if (ls->expiry.root == ls->expiry.sentinel) {
        return NULL;
    }

    node = ngx_rbtree_min(ls->expiry.root, ls->expiry.sentinel);

    if ((ngx_msec_int_t) (node->key - now) > 0) {
        return NULL;
    }

    return (ngx_http_farm_lease_t *)
               ((u_char *) node - offsetof(ngx_http_farm_lease_t, exp));
}


/* Orders (hash, id) against a node of the id tree, as the tree does. */

static ngx_int_t
ngx_http_farm_lease_cmp(uint32_t hash, u_char *id, size_t len,
    ngx_str_node_t *sn)
{
    if (hash != sn->node.key) {
        return (hash < sn->node.key) ? -1 : 1;
    }

    return ngx_memn2cmp(id, sn->str.data, len, sn->str.len);
}


/*
 * The lease after id in the id tree's order (the first with len 0), so
 * that a listing can go on in steps, the lock taken for a few leases at a
 * time, even when the lease it stopped at has gone meanwhile.
 */

ngx_http_farm_lease_t *
ngx_http_farm_lease_after_locked(ngx_http_farm_zone_t *z, u_char *id,
    size_t len)
{
    uint32_t            hash;
    ngx_rbtree_node_t  *node, *sentinel, *best;

    node = z->sh->leases->ids.root;
    sentinel = z->sh->leases->ids.sentinel;

    if (node == sentinel) {
        return NULL;
    }

    if (len == 0) {
        return (ngx_http_farm_lease_t *) ngx_rbtree_min(node, sentinel);
    }

    hash = ngx_crc32_short(id, len);
    best = NULL;

    while (node != sentinel) {
        if (ngx_http_farm_lease_cmp(hash, id, len, (ngx_str_node_t *) node)
            < 0)
        {
            best = node;
            node = node->left;

        } else {
            node = node->right;
        }
    }

    return (ngx_http_farm_lease_t *) best;
}


ngx_msec_t
ngx_http_farm_lease_left_locked(ngx_http_farm_lease_t *l, ngx_msec_t now)
{
    ngx_msec_int_t  left;

    left = (ngx_msec_int_t) (l->exp.key - now);

    return (left > 0) ? (ngx_msec_t) left : 0;
}


/*
 * For the state= file: ',"expires_at":<Unix time in ms>' of the lease of
 * id, written at p, or nothing when id has none (a static agent).
 */

u_char *
ngx_http_farm_lease_state_locked(ngx_http_farm_zone_t *z, u_char *id,
    size_t len, u_char *p)
{
    uint64_t                wall;
    ngx_time_t             *tp;
    ngx_http_farm_lease_t  *l;

    if (z->sh->leases == NULL) {
        return p;
    }

    l = ngx_http_farm_lease_find_locked(z, id, len);
    if (l == NULL) {
        return p;
    }

    tp = ngx_timeofday();

    wall = (uint64_t) tp->sec * 1000 + tp->msec
           + ngx_http_farm_lease_left_locked(l, ngx_current_msec);

    return ngx_sprintf(p, ",\"expires_at\":%uL", wall);
}


/*
 * Counts a request of the client address addr: NGX_BUSY when it is over
 * rate a second.  A leaky bucket, as limit_req's, holding one second's
 * worth (a burst of rate requests, then one every 1/rate s), so that two
 * requests in a row at rate=1r/s are refused whatever the clock says.
 * Addresses that share a slot of the table share a bucket (a stricter
 * limit, never a looser one).
 */

ngx_int_t
ngx_http_farm_lease_rate_locked(ngx_http_farm_zone_t *z, ngx_str_t *addr,
    ngx_uint_t rate, ngx_msec_t now)
{
    uint64_t                    excess, leaked;
    ngx_msec_int_t              elapsed;
    ngx_http_farm_rate_slot_t  *s;

    s = &z->sh->leases->rate[ngx_crc32_short(addr->data, addr->len)
                             % NGX_HTTP_FARM_RATE_SLOTS];

    elapsed = (ngx_msec_int_t) (now - s->last);

    if (s->last == 0 || elapsed < 0) {
        elapsed = 0;
        s->excess = 0;
    }

    leaked = (uint64_t) rate * elapsed;
    excess = (s->excess > leaked) ? s->excess - leaked : 0;

    if (excess + 1000 > (uint64_t) rate * 1000) {
        return NGX_BUSY;
    }

    s->excess = excess + 1000;
    s->last = now;

    return NGX_OK;
}
