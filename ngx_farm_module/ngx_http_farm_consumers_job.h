
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FARM_CONSUMERS_JOB_H_INCLUDED_
#define _NGX_HTTP_FARM_CONSUMERS_JOB_H_INCLUDED_


/*
 * A refresh of farm_consumers redis://... once both replies are in: the
 * work that is O(consumers), done off the event loop (on a thread of
 * nginx's pool) in two steps, each followed by one O(1) step on the loop
 * (ngx_http_farm_consumers_redis.c):
 *
 *   read: the replies as read digested first: the same as the last read's
 *         that this process applied, with that table still in use, ends
 *         it there; otherwise validated, sorted, digested again by what
 *         they hold; when that digest is the table's in use, nothing is
 *         built;
 *   (loop: a block of the zone reserved, under the lock)
 *   fill: the table written into the block (no reader sees it yet), the
 *         replies freed;
 *   (loop: the block published, under the lock).
 *
 * The replies' elements were allocated by hiredis on the loop's thread, in
 * glibc's main heap: freeing them on the job's thread would take that
 * heap's lock hundreds of thousands of times while the loop allocates, so
 * the loop frees them, a batch a turn.  What the steps allocate themselves
 * they free.  Nothing here takes the zone's lock or calls nginx's event or
 * log code.
 */


#include "ngx_http_farm_consumers_reply.h"
#include "ngx_http_farm_consumers_shm.h"


#define NGX_HTTP_FARM_CONSUMERS_READ  1
#define NGX_HTTP_FARM_CONSUMERS_FILL  2


typedef struct {
    /* the replies' elements (redisReply *), taken from hiredis */
    void                            **tiers;
    size_t                            ntiers;
    void                            **keys;
    size_t                            nkeys;
    size_t                            freed;    /* of ntiers + nkeys */

    /* the table in use when the read was handed over */
    ngx_uint_t                        found;
    ngx_uint_t                        current_nkeys;
    ngx_uint_t                        current_nconsumers;
    u_char                            current[32];

    /* the last read this process applied or found unchanged */
    ngx_uint_t                        have_last;
    u_char                            last_raw[32];
    u_char                            last_digest[32];

    /* what the read gives */
    farm_consumer_t                  *tier_list;
    size_t                            ntier_list;
    farm_reply_keys_t                 out;
    u_char                            raw[32];  /* of the replies as read */
    u_char                            digest[32];
    size_t                            strings;
    size_t                            skipped;

    ngx_http_farm_consumers_build_t   b;        /* b.block: reserved */
    ngx_uint_t                        step;
    unsigned                          failed:1;
    unsigned                          unchanged:1;
    unsigned                          same_raw:1;   /* so not even checked */
} ngx_http_farm_consumers_job_t;


/* On any thread: the steps; what they allocated freed. */
void ngx_http_farm_consumers_job_read(ngx_http_farm_consumers_job_t *job);
void ngx_http_farm_consumers_job_fill(ngx_http_farm_consumers_job_t *job);
void ngx_http_farm_consumers_job_free_work(
    ngx_http_farm_consumers_job_t *job);

/* On the loop: up to n elements of the replies freed; 1: none is left. */
ngx_uint_t ngx_http_farm_consumers_job_free_replies(
    ngx_http_farm_consumers_job_t *job, size_t n);

/* Everything but b.block (both of the above, whole). */
void ngx_http_farm_consumers_job_free(ngx_http_farm_consumers_job_t *job);

/* The master's read at start: a table in pool, not in the zone. */
ngx_http_farm_key_table_t *ngx_http_farm_consumers_job_table(
    ngx_pool_t *pool, farm_reply_keys_t *out,
    ngx_http_farm_consumer_t **consumers);


#endif /* _NGX_HTTP_FARM_CONSUMERS_JOB_H_INCLUDED_ */
