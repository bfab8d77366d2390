
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The agents of each region, and the agents of each capability set (the
 * exact set of capabilities an agent has), each in a doubly linked list of
 * slots.  The zone model links an agent when the registry gives it a
 * region or a set and unlinks it when they change or the agent leaves, in
 * O(1).  A subset of one region walks that region's list; a subset of
 * capabilities alone walks the lists of the sets that contain them: the
 * agents that qualify, not every slot.
 *
 * Sets are found by a hash of their bits.  At most NGX_HTTP_FARM_MAX_CAPSETS
 * distinct sets have an entry (fewer in a zone for fewer agents); the
 * agents of a set that found none share one list of "others", which every
 * capabilities-only fill walks too, so they are never missed.
 */


#include "ngx_http_farm_lists.h"


static ngx_uint_t ngx_http_farm_capset_hash(uint64_t caps);
static ngx_http_farm_capset_t *ngx_http_farm_capset_get_locked(
    ngx_http_farm_capsets_t *cs, uint64_t caps);
static void ngx_http_farm_capset_free_locked(ngx_http_farm_capsets_t *cs,
    ngx_http_farm_capset_t *c);
static void ngx_http_farm_list_push_locked(ngx_http_farm_shctx_t *sh,
    uint32_t *first, ngx_http_farm_agent_t *a);
static void ngx_http_farm_list_pull_locked(ngx_http_farm_shctx_t *sh,
    uint32_t *first, ngx_http_farm_agent_t *a);


size_t
ngx_http_farm_capsets_size(ngx_uint_t max_agents)
{
    ngx_uint_t  n;

    n = ngx_min(max_agents, NGX_HTTP_FARM_MAX_CAPSETS);

    return sizeof(ngx_http_farm_capsets_t)
           + n * sizeof(ngx_http_farm_capset_t);
}


/* Lays out the table in a new zone (the master).  Not locked. */

ngx_http_farm_capsets_t *
ngx_http_farm_capsets_init(ngx_slab_pool_t *shpool, ngx_uint_t max_agents)
{
    uint32_t                  i;
    ngx_http_farm_capsets_t  *cs;

    cs = ngx_slab_calloc(shpool, ngx_http_farm_capsets_size(max_agents));
    if (cs == NULL) {
        return NULL;
    }

    cs->nsets = (uint32_t) ngx_min(max_agents, NGX_HTTP_FARM_MAX_CAPSETS);

    for (i = 0; i < NGX_HTTP_FARM_CAPSET_HASH; i++) {
        cs->hash[i] = NGX_HTTP_FARM_NONE32;
    }

    /* every entry on the free list, in order */

    for (i = 0; i < cs->nsets; i++) {
        cs->set[i].hnext = NGX_HTTP_FARM_NONE32;
        cs->set[i].next = (i + 1 < cs->nsets) ? i + 2 : 0;
    }

    cs->free = cs->nsets ? 1 : 0;

    return cs;
}


/* Puts an agent at the head of a list of slots (first: 1 + slot). */

static void
ngx_http_farm_list_push_locked(ngx_http_farm_shctx_t *sh, uint32_t *first,
    ngx_http_farm_agent_t *a)
{
    a->list_prev = 0;
    a->list_next = *first;

    if (*first) {
        sh->agents[*first - 1].list_prev = a->slot + 1;
    }

    *first = a->slot + 1;
}


static void
ngx_http_farm_list_pull_locked(ngx_http_farm_shctx_t *sh, uint32_t *first,
    ngx_http_farm_agent_t *a)
{
    if (a->list_prev) {
        sh->agents[a->list_prev - 1].list_next = a->list_next;

    } else {
        *first = a->list_next;
    }

    if (a->list_next) {
        sh->agents[a->list_next - 1].list_prev = a->list_prev;
    }

    a->list_next = 0;
    a->list_prev = 0;
}


/* Links an agent into its region's list (a->region set; 0: none). */

void
ngx_http_farm_region_link_locked(ngx_http_farm_shctx_t *sh,
    ngx_http_farm_agent_t *a)
{
    uint32_t  first;

    if (a->region == 0) {
        return;
    }

    first = sh->region_first[a->region - 1];

    a->region_prev = 0;
    a->region_next = first;

    if (first) {
        sh->agents[first - 1].region_prev = a->slot + 1;
    }

    sh->region_first[a->region - 1] = a->slot + 1;
}


void
ngx_http_farm_region_unlink_locked(ngx_http_farm_shctx_t *sh,
    ngx_http_farm_agent_t *a)
{
    if (a->region == 0) {
        return;
    }

    if (a->region_prev) {
        sh->agents[a->region_prev - 1].region_next = a->region_next;

    } else {
        sh->region_first[a->region - 1] = a->region_next;
    }

    if (a->region_next) {
        sh->agents[a->region_next - 1].region_prev = a->region_prev;
    }

    a->region_next = 0;
    a->region_prev = 0;
}


static ngx_uint_t
ngx_http_farm_capset_hash(uint64_t caps)
{
    return (ngx_uint_t) ((caps * 0x9e3779b97f4a7c15ULL) >> 40)
           & (NGX_HTTP_FARM_CAPSET_HASH - 1);
}


/* The entry of a set, made when the set is new; NULL: no entry left. */

static ngx_http_farm_capset_t *
ngx_http_farm_capset_get_locked(ngx_http_farm_capsets_t *cs, uint64_t caps)
{
    uint32_t                i, *bucket;
    ngx_http_farm_capset_t  *c;

    bucket = &cs->hash[ngx_http_farm_capset_hash(caps)];

    for (i = *bucket; i != NGX_HTTP_FARM_NONE32; i = c->hnext) {
        c = &cs->set[i];

        if (c->caps == caps) {
            return c;
        }
    }

    if (cs->free == 0) {
        return NULL;
    }

    i = cs->free - 1;
    c = &cs->set[i];
    cs->free = c->next;

    c->caps = caps;
    c->refs = 0;
    c->first = 0;

    c->hnext = *bucket;
    *bucket = i;

    /* at the head of the used list */

    c->prev = 0;
    c->next = cs->used;

    if (cs->used) {
        cs->set[cs->used - 1].prev = i + 1;
    }

    cs->used = i + 1;
    cs->nused++;

    return c;
}


/* A set no agent has any more: out of its bucket and the used list. */

static void
ngx_http_farm_capset_free_locked(ngx_http_farm_capsets_t *cs,
    ngx_http_farm_capset_t *c)
{
    uint32_t  id, *p;

    id = (uint32_t) (c - cs->set);

    for (p = &cs->hash[ngx_http_farm_capset_hash(c->caps)];
         *p != NGX_HTTP_FARM_NONE32;
         p = &cs->set[*p].hnext)
    {
        if (*p == id) {
            *p = c->hnext;
            break;
        }
    }

    c->hnext = NGX_HTTP_FARM_NONE32;

    if (c->prev) {
        cs->set[c->prev - 1].next = c->next;

    } else {
        cs->used = c->next;
    }

    if (c->next) {
        cs->set[c->next - 1].prev = c->prev;
    }

    cs->nused--;

    c->prev = 0;
    c->next = cs->free;
    cs->free = id + 1;
}


/* Links a registered agent into the list of its set (a->caps set). */

void
ngx_http_farm_capset_link_locked(ngx_http_farm_shctx_t *sh,
    ngx_http_farm_agent_t *a)
{
    ngx_http_farm_capset_t   *c;
    ngx_http_farm_capsets_t  *cs;

    cs = sh->capsets;

    c = ngx_http_farm_capset_get_locked(cs, a->caps);

    if (c == NULL) {
        a->capset = NGX_HTTP_FARM_NONE32;
        ngx_http_farm_list_push_locked(sh, &cs->others, a);
        cs->nothers++;
        return;
    }

    a->capset = (uint32_t) (c - cs->set);
    ngx_http_farm_list_push_locked(sh, &c->first, a);
    c->refs++;
}


/* Unlinks an agent from its set's list (before a->caps changes). */

void
ngx_http_farm_capset_unlink_locked(ngx_http_farm_shctx_t *sh,
    ngx_http_farm_agent_t *a)
{
    ngx_http_farm_capset_t   *c;
    ngx_http_farm_capsets_t  *cs;

    cs = sh->capsets;

    if (a->capset == NGX_HTTP_FARM_NONE32) {
        ngx_http_farm_list_pull_locked(sh, &cs->others, a);
        cs->nothers--;
        return;
    }

    c = &cs->set[a->capset];
    a->capset = NGX_HTTP_FARM_NONE32;

    ngx_http_farm_list_pull_locked(sh, &c->first, a);

    if (--c->refs == 0) {
        ngx_http_farm_capset_free_locked(cs, c);
    }
}


/*
 * How many agents may have every capability of caps: those of the sets
 * containing it, and the others.  O(sets in use).
 */

uint32_t
ngx_http_farm_capset_count_locked(ngx_http_farm_shctx_t *sh, uint64_t caps)
{
    uint32_t                  i, n;
    ngx_http_farm_capset_t   *c;
    ngx_http_farm_capsets_t  *cs;

    cs = sh->capsets;
    n = cs->nothers;

    for (i = cs->used; i; i = c->next) {
        c = &cs->set[i - 1];

        if ((c->caps & caps) == caps) {
            n += c->refs;
        }
    }

    return n;
}


/*
 * Writes to slots[] (room for max) the agents having every capability of
 * caps, in no order; returns how many.  O(sets in use + the agents of the
 * matching sets + the others).
 */

uint32_t
ngx_http_farm_capset_collect_locked(ngx_http_farm_shctx_t *sh, uint64_t caps,
    uint32_t *slots, uint32_t max)
{
    uint32_t                  i, n, next;
    ngx_http_farm_agent_t    *a;
    ngx_http_farm_capset_t   *c;
    ngx_http_farm_capsets_t  *cs;

    cs = sh->capsets;
    n = 0;

    for (i = cs->used; i; i = c->next) {
        c = &cs->set[i - 1];

        if ((c->caps & caps) != caps) {
            continue;
        }

        for (next = c->first; next && n < max; next = a->list_next) {
            a = &sh->agents[next - 1];
            slots[n++] = a->slot;
        }
    }

    for (next = cs->others; next && n < max; next = a->list_next) {
        a = &sh->agents[next - 1];

        if ((a->caps & caps) == caps) {
            slots[n++] = a->slot;
        }
    }

    return n;
}
