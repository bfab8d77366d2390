
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FARM_CONSUMERS_SHM_H_INCLUDED_
#define _NGX_HTTP_FARM_CONSUMERS_SHM_H_INCLUDED_


/*
 * The consumers of farm_consumers redis://... in shared memory: one table
 * for every worker, written by one process (ngx_http_farm_consumers_shm.c).
 */


#include "ngx_http_farm_limit.h"


#define NGX_HTTP_FARM_CONSUMERS_SHM_SIZE   (32 * 1024 * 1024)


typedef struct ngx_http_farm_consumers_sh_s  ngx_http_farm_consumers_sh_t;


/* this configuration's handle on the zone */
typedef struct {
    ngx_shm_zone_t                 *zone;
    ngx_slab_pool_t                *shpool;
    ngx_http_farm_consumers_sh_t   *sh;
    ngx_uint_t                      cycle;      /* which load of the zone */

    /* the master's read at start, published by init_zone */
    ngx_http_farm_key_table_t      *warm;
    ngx_http_farm_consumer_t       *warm_consumers;
    ngx_uint_t                      warm_nconsumers;
    u_char                          warm_digest[32];
} ngx_http_farm_consumers_shm_t;


/* a table being built, in a block of the zone no reader sees yet */
typedef struct {
    void                           *block;
    ngx_http_farm_key_table_t      *table;
    ngx_http_farm_consumer_t       *consumers;
    ngx_uint_t                      nconsumers;
    u_char                         *strings;    /* the next free byte */

    /* the layout, from reserve() */
    ngx_uint_t                      nbuckets;
    size_t                          head;
    size_t                          buckets;
    size_t                          keys;
    size_t                          consumers_size;
} ngx_http_farm_consumers_build_t;


ngx_int_t ngx_http_farm_consumers_shm_add(ngx_conf_t *cf,
    ngx_http_farm_consumers_shm_t *cs, ngx_str_t *name, size_t size);
ngx_uint_t ngx_http_farm_consumers_shm_kept(ngx_str_t *name, size_t size);

/*
 * The writer: claim (0: a process of an older configuration may not), then
 * build, fill, publish (or abandon).
 */
ngx_uint_t ngx_http_farm_consumers_shm_claim(
    ngx_http_farm_consumers_shm_t *cs);
ngx_int_t ngx_http_farm_consumers_shm_build(
    ngx_http_farm_consumers_shm_t *cs, ngx_http_farm_consumers_build_t *b,
    ngx_uint_t nkeys, ngx_uint_t nconsumers, size_t strings,
    ngx_uint_t epoch);
/* build() in two steps: reserve() on the loop, layout() on any thread */
ngx_int_t ngx_http_farm_consumers_shm_reserve(
    ngx_http_farm_consumers_shm_t *cs, ngx_http_farm_consumers_build_t *b,
    ngx_uint_t nkeys, ngx_uint_t nconsumers, size_t strings,
    ngx_uint_t epoch);
void ngx_http_farm_consumers_shm_layout(ngx_http_farm_consumers_build_t *b);
void ngx_http_farm_consumers_shm_consumer(ngx_http_farm_consumers_build_t *b,
    ngx_uint_t i, u_char *name, size_t name_len, u_char *tier,
    size_t tier_len);
ngx_int_t ngx_http_farm_consumers_shm_publish(
    ngx_http_farm_consumers_shm_t *cs, ngx_http_farm_consumers_build_t *b,
    ngx_uint_t epoch, u_char *digest);
void ngx_http_farm_consumers_shm_abandon(ngx_http_farm_consumers_shm_t *cs,
    ngx_http_farm_consumers_build_t *b);

/* What is published: 1, its counts and digest (32 bytes), or 0: none. */
ngx_uint_t ngx_http_farm_consumers_shm_current(
    ngx_http_farm_consumers_shm_t *cs, ngx_uint_t *nkeys,
    ngx_uint_t *nconsumers, u_char *digest);
ngx_uint_t ngx_http_farm_consumers_shm_superseded(
    ngx_http_farm_consumers_shm_t *cs, ngx_uint_t epoch);

/* The readers: NGX_OK (copied into pool), NGX_DECLINED, NGX_ERROR. */
ngx_int_t ngx_http_farm_consumers_shm_lookup(
    ngx_http_farm_consumers_shm_t *cs, u_char *digest, ngx_pool_t *pool,
    ngx_http_farm_consumer_t *out);


#endif /* _NGX_HTTP_FARM_CONSUMERS_SHM_H_INCLUDED_ */
