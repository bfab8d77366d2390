
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 5, registry backend: Redis, the sync owner's side.  The state of
 * its two connections, and what the files of that side share
 * (ngx_http_farm_redis.c, the connections, subscriptions, change
 * notifications and fetches; ngx_http_farm_redis_full_sync.c, the full
 * sync; ngx_http_farm_redis_warm.c reads the overrides as it does).  Not
 * for the rest of the module: ngx_http_farm_redis.h is.
 */


#ifndef _NGX_HTTP_FARM_REDIS_CONN_H_INCLUDED_
#define _NGX_HTTP_FARM_REDIS_CONN_H_INCLUDED_


#include "ngx_http_farm_redis.h"

#include <farm_keys.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_FARM_REDIS_BACKOFF_MIN  100     /* ms */
#define NGX_HTTP_FARM_REDIS_BACKOFF_MAX  5000    /* ms */
#define NGX_HTTP_FARM_REDIS_MEMBERS      256     /* bad members remembered */


struct ngx_http_farm_redis_s {
    ngx_http_farm_srv_conf_t      *fcf;
    redisAsyncContext             *cmd;
    redisAsyncContext             *sub;

    ngx_event_t                    retry;       /* reconnect, resubscribe */
    ngx_event_t                    resync;      /* next full sync */
    ngx_event_t                    watchdog;    /* a reply is overdue */

    ngx_msec_t                     backoff;
    uintptr_t                      generation;  /* bumps on every drop */

    u_char                         run_id[41];  /* of the Redis server */

    unsigned                       subscribed:1; /* full syncs may start */
    unsigned                       events:1;    /* SUBSCRIBE confirmed */
    unsigned                       no_events:1; /* SUBSCRIBE refused */
    unsigned                       no_keyspace:1; /* PSUBSCRIBE refused */
    unsigned                       syncing:1;
    unsigned                       stopped:1;

    /* the full sync in flight */
    ngx_uint_t                     pending;     /* pages, chunks, TYPEs */
    unsigned                       begun:1;     /* the first page came */
    unsigned                       scanned:1;   /* the last page came */

    /* deletions a fetch in flight may not undo (ngx_http_farm_redis.c) */
    uint64_t                       seq;         /* of the last deletion */
    ngx_uint_t                     fetching;    /* fetches in flight */
    ngx_rbtree_t                   gone;
    ngx_rbtree_node_t              gone_sentinel;
    ngx_queue_t                    gone_order;  /* oldest first */

    time_t                         index_logged;
    time_t                         overrides_logged;
    ngx_msec_t                     overrides_read_at; /* HGETALL sent */
    uint64_t                       members[NGX_HTTP_FARM_REDIS_MEMBERS];
};


/*
 * A fetch: GETRANGE of one key (a change notification, or TYPE), or of a
 * chunk of ids of the full sync (one reply per id, in order; the ids
 * follow the struct, NUL-terminated, and id is the next reply's).
 */
typedef struct {
    uintptr_t                      generation;
    uint64_t                       seq;         /* r->seq when sent */
    ngx_uint_t                     count;       /* chunk: its ids */
    ngx_uint_t                     done;        /* replies seen */
    u_char                        *id;
    size_t                         key_len;     /* one key: the key */
    u_char                         key[FARM_KEY_MAX];
} ngx_http_farm_redis_req_t;


/* ngx_http_farm_redis.c */
void ngx_http_farm_redis_drop(ngx_http_farm_redis_t *r,
    const char *reason);
ngx_int_t ngx_http_farm_redis_gone(ngx_http_farm_redis_t *r,
    u_char *id, size_t len, uint64_t seq);
void ngx_http_farm_redis_fetched(ngx_http_farm_redis_t *r,
    uint64_t seq);
ngx_int_t ngx_http_farm_redis_getrange(ngx_http_farm_redis_t *r,
    redisCallbackFn *fn, ngx_http_farm_redis_req_t *req, u_char *key,
    size_t len);
ngx_int_t ngx_http_farm_redis_current(redisAsyncContext *ac,
    void *data, ngx_http_farm_redis_t **rp);

/* ngx_http_farm_redis_full_sync.c (the overrides: also the master's read) */
void ngx_http_farm_redis_full_sync(ngx_http_farm_redis_t *r);
void ngx_http_farm_redis_overrides(ngx_http_farm_srv_conf_t *fcf,
    redisReply *rr, ngx_msec_t read_at);


#endif /* _NGX_HTTP_FARM_REDIS_CONN_H_INCLUDED_ */
