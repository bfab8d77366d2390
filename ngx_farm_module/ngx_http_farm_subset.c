
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Subsets: for each combination of (region or any, required capabilities)
 * that requests ask for, a selection tree over exactly the agents that
 * qualify, so a filtered request is answered in O(log n) like an unfiltered
 * one.  A subset is made on its first use (from the lists of the agents of
 * its region or of its capability sets, ngx_http_farm_lists.c), kept
 * current as agents start and end requests (their paths in the subsets they
 * belong to), rebuilt by the sync owner when the registry changes who
 * belongs, found by a hash of (region, capabilities), and evicted least
 * recently used when the table is full.
 */


#include "ngx_http_farm_subset.h"
#include "ngx_http_farm_lists.h"


static int ngx_http_farm_subset_cmp(const void *one, const void *two);
static ngx_int_t ngx_http_farm_subset_matches_locked(
    ngx_http_farm_subset_t *s, ngx_http_farm_agent_t *a);
static ngx_int_t ngx_http_farm_subset_fill_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_subset_t *s);
static void ngx_http_farm_subset_forget_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_subset_t *s);
static ngx_uint_t ngx_http_farm_subset_hash(ngx_uint_t region,
    uint64_t caps);
static void ngx_http_farm_subset_unhash_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_subset_t *s);
static void ngx_http_farm_subset_release_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_subset_t *s);


static int
ngx_http_farm_subset_cmp(const void *one, const void *two)
{
    uint32_t  a = *(const uint32_t *) one;
    uint32_t  b = *(const uint32_t *) two;

    return (a > b) - (a < b);
}


static ngx_int_t
ngx_http_farm_subset_matches_locked(ngx_http_farm_subset_t *s,
    ngx_http_farm_agent_t *a)
{
    return a->state == NGX_HTTP_FARM_SLOT_UP
           && (s->region == 0 || s->region == a->region)
           && (a->caps & s->caps) == s->caps;
}


/* Forgets the memberships of a subset's members in it.  Locked. */

static void
ngx_http_farm_subset_forget_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_subset_t *s)
{
    uint16_t                id;
    uint32_t                i, k;
    ngx_http_farm_agent_t  *a;

    id = (uint16_t) (s - z->sh->subsets);

    for (i = 0; i < s->nmembers; i++) {
        a = &z->sh->agents[s->members[i]];

        for (k = 0; k < a->nsubs; k++) {
            if (a->sub[k] == id) {
                a->nsubs--;
                a->sub[k] = a->sub[a->nsubs];
                a->sub_pos[k] = a->sub_pos[a->nsubs];
                break;
            }
        }
    }
}


static void
ngx_http_farm_subset_release_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_subset_t *s)
{
    ngx_http_farm_subset_forget_locked(z, s);

    if (s->members) {
        ngx_slab_free_locked(z->shpool, s->members);
    }

    if (s->tree.node) {
        ngx_slab_free_locked(z->shpool, s->tree.node);
    }

    s->members = NULL;
    s->tree.node = NULL;
    s->nmembers = 0;
}


/*
 * (Re)computes a subset's members and tree.  Under the lock.  Returns
 * NGX_ERROR when the zone has no room (the subset is then empty).
 */

static ngx_int_t
ngx_http_farm_subset_fill_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_subset_t *s)
{
    uint16_t                id;
    uint32_t                i, k, n, next, size, *members, *node;
    farm_peers_t            peers;
    ngx_http_farm_agent_t  *a;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;

    /*
     * A subset of one region walks that region's agents; one of any region
     * the agents of the capability sets that contain its capabilities
     * (ngx_http_farm_lists.c).  n: how many there may be.
     */

    if (s->region) {
        n = sh->region_refs[s->region - 1];

    } else {
        n = ngx_http_farm_capset_count_locked(sh, s->caps);
    }

    size = farm_tree_size(n ? n : 1);

    members = ngx_slab_alloc_locked(z->shpool,
                                    (n ? n : 1) * sizeof(uint32_t));
    node = ngx_slab_alloc_locked(z->shpool, 2 * size * sizeof(uint32_t));

    if (members == NULL || node == NULL) {
        if (members) {
            ngx_slab_free_locked(z->shpool, members);
        }

        if (node) {
            ngx_slab_free_locked(z->shpool, node);
        }

        ngx_http_farm_subset_release_locked(z, s);
        s->stale = 0;

        return NGX_ERROR;
    }

    ngx_http_farm_subset_release_locked(z, s);

    id = (uint16_t) (s - sh->subsets);

    /* k: the agents that may qualify, of which n do */

    if (s->region) {
        k = 0;

        for (next = sh->region_first[s->region - 1];
             next && k < n;
             next = a->region_next)
        {
            a = &sh->agents[next - 1];
            members[k++] = a->slot;
        }

    } else {
        k = ngx_http_farm_capset_collect_locked(sh, s->caps, members, n);
    }

    n = 0;

    for (i = 0; i < k; i++) {
        if (ngx_http_farm_subset_matches_locked(s, &sh->agents[members[i]])) {
            members[n++] = members[i];
        }
    }

    /* members are in slot order: farm_members_find() searches them */

    if (n > 1) {
        qsort(members, n, sizeof(uint32_t), ngx_http_farm_subset_cmp);
    }

    for (i = 0; i < n; i++) {
        a = &sh->agents[members[i]];

        if (a->nsubs < NGX_HTTP_FARM_AGENT_SUBSETS) {
            a->sub[a->nsubs] = id;
            a->sub_pos[a->nsubs] = i;
            a->nsubs++;

        } else {
            a->subs_overflow = 1;
        }
    }

    s->members = members;
    s->nmembers = n;
    s->stale = 0;

    farm_tree_init(&s->tree, node, size, sh->tree.method);

    ngx_http_farm_zone_peers(sh, &peers);
    farm_tree_build(&s->tree, &peers, members, n);

    return NGX_OK;
}


/*
 * The subset of agents in region (1 + index, or 0 for any) having every
 * capability bit of caps; made on first use.  Under the lock.  NULL if the
 * zone has no room for it.
 */

ngx_http_farm_subset_t *
ngx_http_farm_subset_get_locked(ngx_http_farm_zone_t *z, ngx_uint_t region,
    uint64_t caps)
{
    uint32_t                 i, *bucket;
    ngx_queue_t             *q;
    ngx_http_farm_subset_t  *s, *victim;
    ngx_http_farm_shctx_t   *sh;

    sh = z->sh;
    bucket = &sh->subset_hash[ngx_http_farm_subset_hash(region, caps)];

    for (i = *bucket; i != NGX_HTTP_FARM_NONE32; i = s->hnext) {
        s = &sh->subsets[i];

        if (s->region == region && s->caps == caps) {
            ngx_queue_remove(&s->lru);
            ngx_queue_insert_head(&sh->subset_lru, &s->lru);
            return s;
        }
    }

    /* a free entry, or the least recently used one: the last of the list */

    q = ngx_queue_last(&sh->subset_lru);
    victim = ngx_queue_data(q, ngx_http_farm_subset_t, lru);

    if (victim->used) {
        ngx_http_farm_subset_unhash_locked(z, victim);
        ngx_http_farm_subset_release_locked(z, victim);
    }

    victim->region = region;
    victim->caps = caps;
    victim->used = 1;

    ngx_queue_remove(&victim->lru);

    if (ngx_http_farm_subset_fill_locked(z, victim) != NGX_OK) {
        victim->used = 0;
        ngx_queue_insert_tail(&sh->subset_lru, &victim->lru);

        if (!sh->subset_nomem_logged) {
            sh->subset_nomem_logged = 1;
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "farm: no room for an agent subset%s; filtered "
                          "requests fall back to a scan", z->shpool->log_ctx);
        }

        return NULL;
    }

    ngx_queue_insert_head(&sh->subset_lru, &victim->lru);

    victim->hnext = *bucket;
    *bucket = (uint32_t) (victim - sh->subsets);

    return victim;
}


static ngx_uint_t
ngx_http_farm_subset_hash(ngx_uint_t region, uint64_t caps)
{
    uint64_t  h;

    h = (caps ^ ((uint64_t) region << 40)) * 0x9e3779b97f4a7c15ULL;

    return (ngx_uint_t) (h >> 32) & (NGX_HTTP_FARM_SUBSET_HASH - 1);
}


/* Takes a subset out of its hash bucket (it is about to be reused). */

static void
ngx_http_farm_subset_unhash_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_subset_t *s)
{
    uint32_t                id, *p;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;
    id = (uint32_t) (s - sh->subsets);
    p = &sh->subset_hash[ngx_http_farm_subset_hash(s->region, s->caps)];

    while (*p != NGX_HTTP_FARM_NONE32) {
        if (*p == id) {
            *p = s->hnext;
            break;
        }

        p = &sh->subsets[*p].hnext;
    }

    s->hnext = NGX_HTTP_FARM_NONE32;
}


/*
 * An agent's counters changed: refresh its leaf in every subset it is in,
 * straight from its membership list (a scan of the table only for an agent
 * in more subsets than the list holds).  Locked.
 */

void
ngx_http_farm_subsets_update_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a)
{
    uint32_t                 k, pos;
    ngx_uint_t               i;
    farm_peers_t             peers;
    ngx_http_farm_subset_t  *s;
    ngx_http_farm_shctx_t   *sh;

    sh = z->sh;

    if (a->nsubs == 0 && !a->subs_overflow) {
        return;
    }

    ngx_http_farm_zone_peers(sh, &peers);

    if (!a->subs_overflow) {
        for (k = 0; k < a->nsubs; k++) {
            s = &sh->subsets[a->sub[k]];
            farm_tree_update_at(&s->tree, &peers, a->sub_pos[k], a->slot);
        }

        return;
    }

    for (i = 0; i < NGX_HTTP_FARM_MAX_SUBSETS; i++) {
        s = &sh->subsets[i];

        if (!s->used
            || (s->region && s->region != a->region)
            || (a->caps & s->caps) != s->caps)
        {
            continue;
        }

        pos = farm_members_find(s->members, s->nmembers, a->slot);

        if (pos != FARM_SLOT_NONE) {
            farm_tree_update_at(&s->tree, &peers, pos, a->slot);
        }
    }
}


/*
 * The registry changed an agent (new, gone, or other region, capabilities
 * or backup flag): the subsets it was or will be in go stale.  Locked.
 */

void
ngx_http_farm_subsets_touch_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a)
{
    ngx_uint_t               i;
    ngx_http_farm_subset_t  *s;
    ngx_http_farm_shctx_t   *sh;

    sh = z->sh;

    for (i = 0; i < NGX_HTTP_FARM_MAX_SUBSETS; i++) {
        s = &sh->subsets[i];

        if (!s->used || s->stale) {
            continue;
        }

        if (ngx_http_farm_subset_matches_locked(s, a)
            || farm_members_find(s->members, s->nmembers, a->slot)
               != FARM_SLOT_NONE)
        {
            s->stale = 1;
            sh->subsets_stale = 1;
        }
    }
}


/* The sync owner rebuilds stale subsets (batched with the hash tables). */

void
ngx_http_farm_subsets_rebuild(ngx_http_farm_zone_t *z)
{
    ngx_uint_t               i, stale;
    ngx_http_farm_subset_t  *s;

    ngx_shmtx_lock(&z->shpool->mutex);

    stale = z->sh->subsets_stale;
    z->sh->subsets_stale = 0;

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (!stale) {
        return;
    }

    /* one subset per lock hold: requests wait for one fill at most */

    for (i = 0; i < NGX_HTTP_FARM_MAX_SUBSETS; i++) {
        s = &z->sh->subsets[i];

        ngx_shmtx_lock(&z->shpool->mutex);

        if (s->used && s->stale
            && ngx_http_farm_subset_fill_locked(z, s) != NGX_OK)
        {
            ngx_http_farm_subset_unhash_locked(z, s);
            s->used = 0;
            ngx_queue_remove(&s->lru);
            ngx_queue_insert_tail(&z->sh->subset_lru, &s->lru);
        }

        ngx_shmtx_unlock(&z->shpool->mutex);
    }
}


/* The tree order changed (a reload switched the method): rebuild all. */

void
ngx_http_farm_subsets_reorder_locked(ngx_http_farm_zone_t *z)
{
    ngx_uint_t               i;
    farm_peers_t             peers;
    ngx_http_farm_subset_t  *s;

    ngx_http_farm_zone_peers(z->sh, &peers);

    for (i = 0; i < NGX_HTTP_FARM_MAX_SUBSETS; i++) {
        s = &z->sh->subsets[i];

        if (s->used) {
            s->tree.method = z->sh->tree.method;
            farm_tree_build(&s->tree, &peers, s->members, s->nmembers);
        }
    }
}
