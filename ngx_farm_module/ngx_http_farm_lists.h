
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 2, the zone model: the agents of each region and of each
 * capability set, kept in lists (ngx_http_farm_lists.c) by the registry
 * changes that set them, so that a subset is filled from the agents that
 * may qualify, never from every slot.
 */


#ifndef _NGX_HTTP_FARM_LISTS_H_INCLUDED_
#define _NGX_HTTP_FARM_LISTS_H_INCLUDED_


#include "ngx_http_farm_zone.h"


#define NGX_HTTP_FARM_MAX_CAPSETS      4096 /* distinct sets listed */
#define NGX_HTTP_FARM_CAPSET_HASH      1024 /* buckets, a power of 2 */


/* the agents having exactly one set of capabilities */
typedef struct {
    uint64_t                       caps;
    uint32_t                       refs;        /* its agents; 0: free */
    uint32_t                       first;       /* 1 + slot; 0: none */
    uint32_t                       hnext;       /* in its bucket; NONE */
    uint32_t                       next;        /* 1 + index, in the used */
    uint32_t                       prev;        /* list (next: free list) */
} ngx_http_farm_capset_t;


struct ngx_http_farm_capsets_s {
    uint32_t                       nsets;       /* entries in set[] */
    uint32_t                       used;        /* 1 + index; 0: none */
    uint32_t                       free;        /* 1 + index; 0: none */
    uint32_t                       nused;
    uint32_t                       others;      /* 1 + slot: agents whose */
    uint32_t                       nothers;     /* set found no entry */
    uint32_t                       hash[NGX_HTTP_FARM_CAPSET_HASH];
    ngx_http_farm_capset_t         set[1];
};


size_t ngx_http_farm_capsets_size(ngx_uint_t max_agents);
ngx_http_farm_capsets_t *ngx_http_farm_capsets_init(ngx_slab_pool_t *shpool,
    ngx_uint_t max_agents);
void ngx_http_farm_region_link_locked(ngx_http_farm_shctx_t *sh,
    ngx_http_farm_agent_t *a);
void ngx_http_farm_region_unlink_locked(ngx_http_farm_shctx_t *sh,
    ngx_http_farm_agent_t *a);
void ngx_http_farm_capset_link_locked(ngx_http_farm_shctx_t *sh,
    ngx_http_farm_agent_t *a);
void ngx_http_farm_capset_unlink_locked(ngx_http_farm_shctx_t *sh,
    ngx_http_farm_agent_t *a);
uint32_t ngx_http_farm_capset_count_locked(ngx_http_farm_shctx_t *sh,
    uint64_t caps);
uint32_t ngx_http_farm_capset_collect_locked(ngx_http_farm_shctx_t *sh,
    uint64_t caps, uint32_t *slots, uint32_t max);


#endif /* _NGX_HTTP_FARM_LISTS_H_INCLUDED_ */
