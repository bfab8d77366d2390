
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Protecting the farm from any single client: per-client rate limits
 * (ngx_http_farm_limit_module: farm_limit) and API keys tied to consumers
 * (ngx_http_farm_key_auth_module: farm_consumers, farm_key_auth).  Both are
 * nginx modules of their own in the same shared object as
 * ngx_http_farm_module, with their own directives, configurations, access
 * phase handlers and variables.
 *
 *   ngx_http_farm_limit.c          the access handler, headers
 *   ngx_http_farm_limit_conf.c     the farm_limit directive
 *   ngx_http_farm_limit_zone.c     policy=local: counters in shared memory
 *   ngx_http_farm_limit_redis.c    policy=redis: counters in Redis
 *   ngx_http_farm_limit_window.c   windows and counting, free of nginx
 *   ngx_http_farm_key_auth.c       farm_consumers, farm_key_auth
 *   ngx_http_farm_key_table.c      keys' digests, the consumers file
 *   ngx_http_farm_consumers.c      the consumers file, free of nginx
 *   ngx_http_farm_consumers_redis.c  consumers kept in Redis
 *   ngx_http_farm_consumers_shm.c    their table, shared by the workers
 */


#ifndef _NGX_HTTP_FARM_LIMIT_H_INCLUDED_
#define _NGX_HTTP_FARM_LIMIT_H_INCLUDED_


#include <ngx_sha1.h>

#include "ngx_http_farm_util.h"
#include "ngx_http_farm_rconn.h"
#include "ngx_http_farm_counters.h"
#include "ngx_http_farm_limit_window.h"

#include <farm_record.h>


#define NGX_HTTP_FARM_LIMIT_LOCAL      1
#define NGX_HTTP_FARM_LIMIT_REDIS      2

/* a longer key is replaced by its SHA-1 ("sha1:" and 40 hex digits) */
#define NGX_HTTP_FARM_LIMIT_KEY_MAX    256

/* what a Redis exchange came to (ngx_http_farm_limit_ctx_t.redis_rc) */
#define NGX_HTTP_FARM_LIMIT_ADMITTED   1
#define NGX_HTTP_FARM_LIMIT_REJECTED   2
#define NGX_HTTP_FARM_LIMIT_FAILED     3


typedef struct ngx_http_farm_limit_backend_s  ngx_http_farm_limit_backend_t;
typedef struct ngx_http_farm_limit_pending_s  ngx_http_farm_limit_pending_t;
typedef struct ngx_http_farm_limit_ctx_s      ngx_http_farm_limit_ctx_t;


/* the end of a request's wait for Redis (set by ngx_http_farm_limit.c) */
typedef void (*ngx_http_farm_limit_resume_pt)(ngx_http_farm_limit_ctx_t *ctx);


/* policy=local: one key, in the zone's rbtree and LRU queue */
typedef struct {
    u_char                          color;
    u_char                          dummy;
    u_short                         len;
    ngx_queue_t                     queue;
    farm_counter_t                  counters[FARM_WIN_SLOTS];
    u_char                          data[1];
} ngx_http_farm_limit_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     queue;      /* most recent first */
    ngx_uint_t                      keys;
    ngx_uint_t                      evicted;    /* since the last report */
    ngx_uint_t                      failed;     /* likewise: not counted */
    time_t                          reported;
} ngx_http_farm_limit_shctx_t;


/* one zone= name, whatever the number of farm_limit lines using it */
typedef struct {
    ngx_str_t                       name;
    ssize_t                         size;       /* 0: not given yet */
    ngx_uint_t                      policy;
    ngx_http_farm_limit_backend_t  *backend;    /* policy=redis */

    u_char                         *file;       /* where first used */
    ngx_uint_t                      line;
    u_char                         *size_file;  /* where sized */
    ngx_uint_t                      size_line;

    ngx_shm_zone_t                 *shm_zone;   /* policy=local */
    ngx_http_farm_limit_shctx_t    *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_farm_limit_zone_t;


/* one farm_limit directive */
typedef struct {
    ngx_http_farm_limit_zone_t     *zone;
    ngx_http_complex_value_t        key;
    uint32_t                        limit[FARM_WIN_N];   /* 0: none */
    ngx_uint_t                      nwindows;
    ngx_uint_t                      status;
    ngx_msec_t                      timeout;    /* policy=redis */
    ngx_flag_t                      fault_tolerant;
    ngx_flag_t                      headers;
} ngx_http_farm_limit_t;


/* a Redis server used by policy=redis zones; the runtime part per worker */
struct ngx_http_farm_limit_backend_s {
    ngx_str_t                       text;       /* as written */
    ngx_str_t                       display;    /* without the password */
    farm_url_t                      url;
    u_char                          addr[NGX_SOCKADDR_STRLEN + 1];
    u_char                          sha[41];    /* of the Lua script */
    struct sockaddr                *sockaddr;
    socklen_t                       socklen;
    ngx_str_t                       name;       /* "addr:port" */
    ngx_uint_t                      tls;        /* rediss:// */
    ngx_flag_t                      ssl_verify;
    u_char                         *server_name;    /* SNI, verified */
    ngx_str_t                       trusted;    /* CA file, "": default */
    void                           *ssl;        /* ngx_ssl_t */
    ngx_msec_t                      timeout;    /* the longest wait */

    /* per worker */
    ngx_http_farm_rconn_t           conn;
    ngx_uint_t                      up;         /* a reply came back */
    ngx_uint_t                      stopped;
    ngx_event_t                     retry;
    ngx_msec_t                      backoff;
    ngx_http_farm_limit_pending_t  *free;       /* reusable pending slots */
    time_t                          reported;   /* last fault log line */
    ngx_uint_t                      passed;     /* since then */
    ngx_uint_t                      refused;
    ngx_uint_t                      failing;
    ngx_log_t                      *log;
};


typedef struct {
    ngx_array_t                     zones;      /* of zone pointers */
    ngx_array_t                     backends;   /* of backend pointers */
    ngx_str_t                       redis_trusted;  /* CA file for TLS */
    ngx_flag_t                      used;       /* any farm_limit at all */
    ngx_shm_zone_t                 *counters;   /* farm_metrics reads */
} ngx_http_farm_limit_main_conf_t;


/* the "farm_counters" zone of a request's configuration, or NULL */
#define ngx_http_farm_limit_counters(r)                                      \
    ((ngx_http_farm_limit_main_conf_t *)                                     \
     ngx_http_get_module_main_conf(r, ngx_http_farm_limit_module))->counters


typedef struct {
    ngx_array_t                    *limits;     /* NULL: inherit */
    ngx_uint_t                      redis;      /* 1 + index, 0: none */
    ngx_flag_t                      off;        /* "farm_limit off" */
} ngx_http_farm_limit_loc_conf_t;


/* per request; survives internal redirects (found through its cleanup) */
struct ngx_http_farm_limit_ctx_s {
    ngx_http_request_t             *request;
    ngx_http_farm_limit_loc_conf_t *lcf;
    time_t                          now;

    ngx_str_t                      *keys;       /* per limit */
    uint32_t                       *counts;     /* FARM_WIN_N per limit */
    uint32_t                       *starts;     /* the windows counted in */
    u_char                         *taken;      /* per limit: counted */
    ngx_uint_t                      done;       /* decided */
    ngx_uint_t                      waiting;    /* for Redis */
    ngx_uint_t                      reported;   /* headers added */
    ngx_uint_t                      redis_rc;
    const char                     *redis_err;
    ngx_http_farm_limit_resume_pt   resume;     /* when redis_rc is set */

    ngx_http_farm_limit_pending_t  *pending;
    ngx_event_t                     timer;
    int                             argc;
    const char                    **argv;
    size_t                         *argvlen;

    farm_limit_view_t               view;
};


/* a consumer of farm_consumers */
typedef struct {
    ngx_str_t                       name;
    ngx_str_t                       tier;
} ngx_http_farm_consumer_t;


/* a key, as its SHA-256 digest, in a bucket chain */
typedef struct {
    u_char                          digest[32];
    ngx_http_farm_consumer_t       *consumer;
    ngx_uint_t                      next;       /* 1 + index, 0: end */
} ngx_http_farm_key_t;


/* keys by digest: from the consumers file, or from Redis */
typedef struct {
    ngx_http_farm_key_t            *keys;
    ngx_uint_t                      nkeys;
    ngx_uint_t                     *buckets;    /* 1 + index, 0: empty */
    ngx_uint_t                      mask;
} ngx_http_farm_key_table_t;


typedef struct ngx_http_farm_consumers_redis_s
    ngx_http_farm_consumers_redis_t;


extern ngx_module_t  ngx_http_farm_limit_module;
extern ngx_module_t  ngx_http_farm_key_auth_module;


/* ngx_http_farm_limit.c */
ngx_int_t ngx_http_farm_limit_key(ngx_http_request_t *r,
    ngx_http_farm_limit_t *limit, ngx_str_t *key);

/* ngx_http_farm_limit_conf.c */
char *ngx_http_farm_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_http_farm_limit_backend_t *ngx_http_farm_limit_backend(ngx_conf_t *cf,
    ngx_str_t *text);

/* ngx_http_farm_limit_zone.c */
ngx_int_t ngx_http_farm_limit_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
ngx_int_t ngx_http_farm_limit_take(ngx_http_request_t *r,
    ngx_http_farm_limit_t *limit, ngx_str_t *key, time_t now,
    uint32_t *count, uint32_t *start);
void ngx_http_farm_limit_untake(ngx_http_farm_limit_t *limit, ngx_str_t *key,
    uint32_t *start, uint32_t *count);

/* ngx_http_farm_key_table.c */
char *ngx_http_farm_consumers_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_farm_key_table_t *keys);
ngx_int_t ngx_http_farm_key_table_init(ngx_http_farm_key_table_t *t,
    ngx_pool_t *pool, ngx_uint_t nkeys);
void ngx_http_farm_key_table_add(ngx_http_farm_key_table_t *t,
    u_char *digest, ngx_http_farm_consumer_t *consumer);
ngx_http_farm_consumer_t *ngx_http_farm_key_table_lookup(
    ngx_http_farm_key_table_t *t, u_char *digest);

/* ngx_http_farm_consumers_redis.c */
char *ngx_http_farm_consumers_redis(ngx_conf_t *cf, ngx_str_t *value,
    ngx_uint_t n, ngx_http_farm_consumers_redis_t **crp);
ngx_int_t ngx_http_farm_consumers_redis_lookup(
    ngx_http_farm_consumers_redis_t *cr, u_char *digest, ngx_pool_t *pool,
    ngx_http_farm_consumer_t *out);
ngx_int_t ngx_http_farm_consumers_redis_start(ngx_cycle_t *cycle,
    ngx_http_farm_consumers_redis_t *cr);
void ngx_http_farm_consumers_redis_stop(ngx_http_farm_consumers_redis_t *cr);

/* ngx_http_farm_limit_conf.c */
ngx_int_t ngx_http_farm_limit_redis_tls(ngx_conf_t *cf,
    ngx_http_farm_limit_main_conf_t *mcf);

/* ngx_http_farm_limit_redis.c */

/* reply is the parsed reply (a hiredis redisReply *, read-only, valid only
   during the call) or NULL when the command failed (no connection,
   dropped, timed out) */
typedef void (*ngx_http_farm_limit_redis_cb_pt)(void *data, void *reply);

void ngx_http_farm_limit_redis_sha(u_char *sha);
ngx_int_t ngx_http_farm_limit_redis_start(ngx_cycle_t *cycle,
    ngx_http_farm_limit_backend_t *b);
void ngx_http_farm_limit_redis_stop(ngx_http_farm_limit_backend_t *b);
ngx_int_t ngx_http_farm_limit_redis_send(ngx_http_request_t *r,
    ngx_http_farm_limit_ctx_t *ctx, ngx_http_farm_limit_t *limit,
    ngx_str_t *key);
void ngx_http_farm_limit_redis_cancel(ngx_http_farm_limit_ctx_t *ctx,
    ngx_uint_t timed_out);
void ngx_http_farm_limit_redis_fault(ngx_http_farm_limit_backend_t *b,
    const char *reason, ngx_flag_t tolerant);
ngx_int_t ngx_http_farm_limit_redis_command(ngx_http_farm_limit_backend_t *b,
    int argc, const char **argv, const size_t *argvlen,
    ngx_http_farm_limit_redis_cb_pt cb, void *data);
/* NGX_OK: sent, cb will be called exactly once; NGX_DECLINED: no connection
   now, cb will not be called; NGX_ERROR.  argv is copied before return. */

/*
 * Any command on a backend's connection (CONTRACTS.md section 5): reply is
 * the parsed reply (a hiredis redisReply *, read-only, valid only during
 * the call) or NULL when the command failed (no connection, dropped, timed
 * out).  Returns NGX_OK: sent, cb will be called exactly once;
 * NGX_DECLINED: no connection now, cb will not be called; NGX_ERROR.
 * argv is copied before return.
 */
typedef void (*ngx_http_farm_limit_redis_cb_pt)(void *data, void *reply);

ngx_int_t ngx_http_farm_limit_redis_command(ngx_http_farm_limit_backend_t *b,
    int argc, const char **argv, const size_t *argvlen,
    ngx_http_farm_limit_redis_cb_pt cb, void *data);


#endif /* _NGX_HTTP_FARM_LIMIT_H_INCLUDED_ */
