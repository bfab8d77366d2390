
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FARM_MODULE_H_INCLUDED_
#define _NGX_HTTP_FARM_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <farm_record.h>
#include <farm_url.h>
#include <farm_keys.h>
#include <farm_consul.h>

#include "ngx_http_farm_pick.h"


#define NGX_HTTP_FARM_VERSION          "0.1.0"

#define NGX_HTTP_FARM_RR               FARM_PICK_RR
#define NGX_HTTP_FARM_LEAST_CONN       FARM_PICK_LEAST_CONN
#define NGX_HTTP_FARM_HASH             3
#define NGX_HTTP_FARM_CHASH            4

#define NGX_HTTP_FARM_MAX_TRIES        20   /* distinct agents per request */
#define NGX_HTTP_FARM_REDIS_CHUNK      256  /* keys per MGET */
#define NGX_HTTP_FARM_HASH_TRIES       20   /* hash probes before fallback */

#define NGX_HTTP_FARM_MAX_REGIONS      255
#define NGX_HTTP_FARM_MAX_CAPS         64   /* distinct caps per service */
#define NGX_HTTP_FARM_REPORTED         1024 /* bad records remembered */
#define NGX_HTTP_FARM_MAX_SUBSETS      512  /* (region, caps) trees */
#define NGX_HTTP_FARM_MAX_ORDER        16   /* regions tried per request */
#define NGX_HTTP_FARM_AGENT_SUBSETS    8    /* memberships kept per agent */

/* agent slot states */
#define NGX_HTTP_FARM_SLOT_FREE        0
#define NGX_HTTP_FARM_SLOT_UP          1

/* active health (ngx_http_farm_health.c) */
#define NGX_HTTP_FARM_HEALTH_UP        0    /* also: not checked */
#define NGX_HTTP_FARM_HEALTH_DOWN      1
#define NGX_HTTP_FARM_HEALTH_CHECKING  2    /* new, waits for a first check */
#define NGX_HTTP_FARM_JOINED           1024 /* slots that joined, kept */

/* passive circuit breaker (ngx_http_farm_breaker.c) */
#define NGX_HTTP_FARM_BREAKER_CLOSED   0
#define NGX_HTTP_FARM_BREAKER_OPEN     1
#define NGX_HTTP_FARM_BREAKER_HALF     2

#define NGX_HTTP_FARM_STATUS_BITS      ((600 + 7) / 8)
#define NGX_HTTP_FARM_ERROR_LEN        64

/* why a request got no agent (ngx_http_farm_reject.c) */
#define NGX_HTTP_FARM_REJECT_NONE      0
#define NGX_HTTP_FARM_REJECT_NO_AGENT  1
#define NGX_HTTP_FARM_REJECT_NO_CAPS   2    /* no agent has them at all */
#define NGX_HTTP_FARM_REJECT_BAD_CAPS  3    /* an invalid capability name */
#define NGX_HTTP_FARM_REJECT_QUEUE_FULL     4
#define NGX_HTTP_FARM_REJECT_QUEUE_TIMEOUT  5
#define NGX_HTTP_FARM_REJECT_CLIENT_LIMIT   6

/* queue entries (ngx_http_farm_queue.c) */
#define NGX_HTTP_FARM_WAITER_FREE      0
#define NGX_HTTP_FARM_WAITER_WAITING   1
#define NGX_HTTP_FARM_WAITER_GRANTED   2


typedef struct ngx_http_farm_srv_conf_s  ngx_http_farm_srv_conf_t;
typedef struct ngx_http_farm_redis_s     ngx_http_farm_redis_t;
typedef struct ngx_http_farm_consul_s    ngx_http_farm_consul_t;


/*
 * One agent, in shared memory.  The registry fields are written only by
 * the sync owner; the pick fields by every worker.  All under the zone's
 * slab mutex.
 */
typedef struct {
    ngx_str_node_t                 sn;          /* by id, in sh->ids */
    u_char                         id[FARM_ID_MAX];

    farm_pick_peer_t              *pick;        /* &sh->picks[slot] */

    uint32_t                       slot;
    uint32_t                       gen;         /* bumps on slot reuse */
    uint32_t                       next_free;
    ngx_uint_t                     state;

    uint32_t                       rec_hash;    /* of the record's JSON */
    ngx_uint_t                     seen;        /* full sync epoch */
    time_t                         since;       /* registered at */

    ngx_sockaddr_t                 sockaddr;
    socklen_t                      socklen;
    u_char                         name[NGX_SOCKADDR_STRLEN];
    size_t                         name_len;

    uint64_t                       caps;        /* bits of sh->caps */
    ngx_uint_t                     region;      /* 1 + index in sh->regions */

    u_char                        *meta;        /* slab, JSON object */
    size_t                         meta_len;

    /* the subsets it is in, and its leaf in each (ngx_http_farm_subset.c) */
    uint16_t                       nsubs;
    uint16_t                       subs_overflow;
    uint16_t                       sub[NGX_HTTP_FARM_AGENT_SUBSETS];
    uint32_t                       sub_pos[NGX_HTTP_FARM_AGENT_SUBSETS];

    /* the record's values; pick holds the effective ones */
    uint32_t                       rec_weight;
    uint32_t                       rec_max_conns;
    ngx_uint_t                     rec_backup;

    uint64_t                       requests;
    uint64_t                       failures;

    /* active health checks */
    uint8_t                        health;      /* NGX_HTTP_FARM_HEALTH_* */
    uint8_t                        draining;    /* the agent says so */
    uint16_t                       passes;      /* in a row */
    uint16_t                       fails;       /* in a row */
    uint32_t                       rep_weight;  /* reported; 0: none */
    uint32_t                       rep_inflight;
    ngx_msec_t                     next_check;
    uint64_t                       checks;
    uint64_t                       checks_failed;
    time_t                         last_check;
    u_char                         check_error[NGX_HTTP_FARM_ERROR_LEN];

    /* passive circuit breaker */
    uint8_t                        breaker;     /* NGX_HTTP_FARM_BREAKER_* */
    uint32_t                       bfails;      /* failures in a row */
    uint32_t                       ejections;   /* in a row, for cooldown */
    ngx_msec_t                     reopen_at;   /* open until */
    time_t                         reopen_time; /* the same, wall clock */
    ngx_msec_t                     closed_at;
} ngx_http_farm_agent_t;


/* the agents of one (region, capabilities) filter: ngx_http_farm_subset.c */
typedef struct {
    ngx_uint_t                     used;        /* LRU clock; 0: free */
    ngx_uint_t                     region;      /* 1 + index; 0: any */
    uint64_t                       caps;
    ngx_uint_t                     stale;
    uint32_t                      *members;     /* slots, sorted */
    uint32_t                       nmembers;
    farm_tree_t                    tree;
} ngx_http_farm_subset_t;


/* a request waiting for an agent, in shared memory */
typedef struct {
    ngx_uint_t                     state;       /* NGX_HTTP_FARM_WAITER_* */
    uint32_t                       prev;        /* in the waiting order */
    uint32_t                       next;
    ngx_int_t                      priority;
    uint64_t                       seq;
    uint64_t                       tag;         /* its cycle's wake-up tag */
    ngx_uint_t                     worker;
    ngx_msec_t                     since;

    /* its filter, resolved */
    ngx_uint_t                     filtered;
    ngx_uint_t                     order[NGX_HTTP_FARM_MAX_ORDER];
    ngx_uint_t                     norder;
    uint64_t                       mask;

    /* the agent it got */
    uint32_t                       slot;
    uint32_t                       gen;
} ngx_http_farm_waiter_t;


/* the concurrent requests of one client (farm_client_limit) */
typedef struct {
    ngx_rbtree_node_t              node;        /* key: hash of the key */
    ngx_uint_t                     count;
    u_short                        len;
    u_char                         data[1];
} ngx_http_farm_client_t;


typedef struct {
    ngx_rbtree_t                   ids;
    ngx_rbtree_node_t              sentinel;

    uint32_t                       capacity;
    uint32_t                       nslots;      /* slots ever used */
    uint32_t                       nagents;     /* registered now */
    uint32_t                       free_head;
    ngx_http_farm_agent_t         *agents;

    /*
     * What selection compares, apart from the agents: 24 bytes per agent,
     * so the tree's walks stay in the cache even for 10,000 agents.
     */
    farm_pick_peer_t              *picks;

    farm_tree_t                    tree;
    ngx_uint_t                     method;

    /* hash balancing, rebuilt by the sync owner */
    farm_point_t                  *ring;
    uint32_t                       nring;
    farm_wpoint_t                 *wtable;
    uint32_t                       nwtable;
    uint64_t                       wtotal;
    ngx_uint_t                     hash_dirty;

    u_char                         regions[NGX_HTTP_FARM_MAX_REGIONS]
                                          [FARM_REGION_MAX + 1];
    ngx_uint_t                     nregions;
    u_char                         caps[NGX_HTTP_FARM_MAX_CAPS]
                                       [FARM_CAP_MAX + 1];
    ngx_uint_t                     ncaps;

    /* sync */
    u_char                         source[FARM_HOST_MAX + 2 * FARM_ID_MAX];
    ngx_uint_t                     owner_epoch;
    ngx_uint_t                     sync_epoch;
    ngx_uint_t                     registry_up;
    time_t                         last_sync;   /* last full sync */
    uint64_t                       syncs;
    uint64_t                       sync_errors;
    ngx_uint_t                     bad_records; /* in the last full sync */
    ngx_uint_t                     bad_now;     /* in the one running */
    ngx_uint_t                     seen_now;    /* good records, likewise */

    /* filtered selection */
    ngx_http_farm_subset_t        *subsets;     /* NGX_HTTP_FARM_MAX_SUBSETS */
    ngx_uint_t                     subset_clock;
    ngx_uint_t                     subsets_stale;
    ngx_uint_t                     subset_nomem_logged;

    /* the queue */
    ngx_http_farm_waiter_t        *waiters;     /* qmax entries */
    uint32_t                       qmax;
    uint32_t                       qlen;        /* waiting now */
    uint32_t                       qhead;       /* highest priority */
    uint32_t                       qtail;
    uint32_t                       qfree;
    uint64_t                       qseq;
    uint64_t                       queued;
    uint64_t                       dispatched;
    uint64_t                       timed_out;
    uint64_t                       queue_full;
    uint64_t                       wait_total;  /* ms, of the dispatched */
    ngx_msec_t                     wait_max;

    /* farm_client_limit */
    ngx_rbtree_t                   clients;
    ngx_rbtree_node_t              clients_sentinel;
    uint64_t                       client_limited;
    ngx_uint_t                     client_nomem_logged;

    /* health and breakers */
    ngx_uint_t                     eligible;    /* agents not out */
    ngx_uint_t                     unchecked;   /* agents in CHECKING */
    ngx_uint_t                     ejected;     /* breakers open */
    ngx_msec_t                     next_reopen; /* earliest reopen_at */

    /* the slots that got a new agent, the last NGX_HTTP_FARM_JOINED */
    uint32_t                       joined[NGX_HTTP_FARM_JOINED];
    ngx_uint_t                     joined_seq;  /* how many ever */

    uint64_t                       requests;
    uint64_t                       no_agent;    /* requests with no agent */
} ngx_http_farm_shctx_t;


typedef struct {
    ngx_http_farm_shctx_t         *sh;
    ngx_slab_pool_t               *shpool;
    ngx_http_farm_srv_conf_t      *fcf;
} ngx_http_farm_zone_t;


typedef struct {
    ngx_uint_t                     enabled;
    ngx_str_t                      uri;
    ngx_msec_t                     interval;
    ngx_msec_t                     timeout;
    ngx_msec_t                     jitter;
    ngx_uint_t                     rise;
    ngx_uint_t                     fall;
    ngx_uint_t                     concurrency; /* per worker */
    ngx_uint_t                     mandatory;
    u_char                         status[NGX_HTTP_FARM_STATUS_BITS];
    ngx_regex_t                   *body;
    ngx_str_t                      body_source;
} ngx_http_farm_health_conf_t;


typedef struct {
    ngx_uint_t                     enabled;
    ngx_uint_t                     failures;
    ngx_msec_t                     cooldown;
    ngx_msec_t                     max_cooldown;
    ngx_uint_t                     half_open;
    ngx_uint_t                     max_eject;   /* percent */
    u_char                         status[NGX_HTTP_FARM_STATUS_BITS];
} ngx_http_farm_breaker_conf_t;


/* a change of an agent's state, noted under the lock, logged after */
typedef struct {
    ngx_uint_t                     level;       /* 0: nothing to log */
    u_char                         text[256];
} ngx_http_farm_note_t;


typedef struct {
    ngx_http_complex_value_t      *region;      /* farm_region */
    ngx_array_t                   *fallback;    /* ngx_str_t; "*": any */
    ngx_http_complex_value_t      *require;     /* farm_require */
} ngx_http_farm_route_conf_t;


/* one request's region order and required capabilities */
typedef struct {
    ngx_uint_t                     on;
    ngx_str_t                      names[NGX_HTTP_FARM_MAX_ORDER];
    ngx_uint_t                     nnames;
    ngx_str_t                      caps[FARM_CAPS_MAX];
    ngx_uint_t                     ncaps;

    /* resolved against the zone's dictionaries, under the lock */
    ngx_uint_t                     resolved;
    ngx_uint_t                     order[NGX_HTTP_FARM_MAX_ORDER];
    ngx_uint_t                     norder;
    uint64_t                       mask;
} ngx_http_farm_filter_t;


typedef struct {
    ngx_uint_t                     enabled;
    ngx_uint_t                     max;
    ngx_msec_t                     timeout;
    ngx_http_complex_value_t      *priority;
} ngx_http_farm_queue_conf_t;


typedef struct {
    ngx_uint_t                     enabled;
    ngx_http_complex_value_t      *key;
    ngx_uint_t                     max;
} ngx_http_farm_client_conf_t;


typedef struct ngx_http_farm_main_conf_s  ngx_http_farm_main_conf_t;
typedef struct ngx_http_farm_health_s  ngx_http_farm_health_t;


struct ngx_http_farm_srv_conf_s {
    ngx_http_upstream_srv_conf_t  *uscf;
    ngx_uint_t                     index;       /* among farm upstreams */

    ngx_str_t                      url_display; /* without the password */
    farm_url_t                     url;
    ngx_str_t                      addr_text;   /* resolved "ip" for hiredis */
    ngx_str_t                      service;
    ngx_str_t                      prefix;

    /* Consul: dc=, tag=, token= (never logged), ca=; NUL-terminated */
    ngx_str_t                      dc;
    ngx_str_t                      tag;
    ngx_str_t                      token;
    ngx_str_t                      ca;

    ngx_str_t                      state;       /* state=, full path */

    ngx_msec_t                     resync;
    ngx_msec_t                     timeout;
    ngx_msec_t                     hold;
    ngx_uint_t                     max_agents;

    ngx_uint_t                     method;
    ngx_http_complex_value_t      *hash_key;

    ngx_http_farm_route_conf_t     route;
    ngx_http_farm_queue_conf_t     queue;
    ngx_http_farm_client_conf_t    client;
    ngx_http_farm_health_conf_t    health;
    ngx_http_farm_breaker_conf_t   breaker;

    ngx_shm_zone_t                *shm_zone;
    ngx_uint_t                     placeholder; /* our entry in servers */
    ngx_uint_t                     initialized; /* init_upstream ran */

    /* keys, NUL-terminated, for hiredis */
    u_char                        *key_index;
    u_char                        *key_events;
    u_char                        *key_agent_prefix;
    size_t                         key_agent_prefix_len;

    /* the sync owner's, in its own process memory */
    ngx_http_farm_redis_t         *redis;
    ngx_http_farm_consul_t        *consul;
    ngx_uint_t                     listed;      /* unhealthy, this sync */
    ngx_uint_t                     state_dirty; /* the state file is old */
    ngx_uint_t                     warming;     /* the master's read */
    ngx_uint_t                     owner_epoch;
    ngx_uint_t                     superseded;
    ngx_event_t                    rebuild_ev;
    ngx_msec_t                     rebuilt;     /* last hash rebuild */
    ngx_msec_t                     hold_until;  /* no sweeps before */
    time_t                         down_logged;
    uint64_t                      *reported;    /* NGX_HTTP_FARM_REPORTED */
    ngx_event_t                    breaker_ev;  /* half-opens breakers */

    /* every worker's */
    ngx_http_farm_health_t        *checker;
    ngx_queue_t                    waiting;     /* this worker's waiters */
    ngx_event_t                    poll_ev;     /* looks for grants */
    ngx_http_farm_main_conf_t     *fmcf;
    ngx_log_t                     *log;
};


struct ngx_http_farm_main_conf_s {
    ngx_array_t                    farms;       /* ngx_http_farm_srv_conf_t * */
    ngx_uint_t                     admit;       /* a queue or client limit */

    /* queue wake-ups: one eventfd per worker, made by the master */
    int                           *wake;
    ngx_uint_t                     nwake;
    uint64_t                       tag;         /* of this cycle */
    ngx_connection_t              *wake_conn;   /* this worker's */
};


/* a libcurl answer's body, in process memory */
typedef struct {
    u_char                        *data;        /* malloc'd, NUL-terminated */
    size_t                         len;
    size_t                         size;
    size_t                         max;
    unsigned                       too_big:1;
} ngx_http_farm_consul_body_t;


/* per request */
typedef struct {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_uint_t                     reject;
    ngx_str_t                      agent;       /* $farm_agent */
    ngx_str_t                      region;      /* $farm_region */
    ngx_str_t                      required;    /* farm_require's value */
    ngx_str_t                      missing;     /* caps no agent has */
    ngx_str_t                      body;        /* of a refusal */
    ngx_str_t                      retry_after;

    /* admission: ngx_http_farm_admit.c, ngx_http_farm_queue.c */
    ngx_http_request_t            *request;
    uint32_t                       reserved;    /* slot taken for us */
    uint32_t                       reserved_gen;
    uint32_t                       waiter;      /* our queue entry */
    uint64_t                       waiter_seq;
    ngx_event_t                    timeout;
    ngx_queue_t                    link;        /* in fcf->waiting */
    ngx_http_farm_client_t        *client;
    ngx_msec_t                     queued_at;

    unsigned                       admitted:1;
    unsigned                       waiting:1;
    unsigned                       replacing:1;
    unsigned                       body_sent:1;
} ngx_http_farm_ctx_t;


extern ngx_module_t  ngx_http_farm_module;


/* ngx_http_farm_zone.c */
ngx_int_t ngx_http_farm_init_zone(ngx_shm_zone_t *shm_zone, void *data);
size_t ngx_http_farm_zone_size(ngx_http_farm_srv_conf_t *fcf);
ngx_http_farm_agent_t *ngx_http_farm_agent_lookup(ngx_http_farm_zone_t *z,
    u_char *id, size_t len);
ngx_int_t ngx_http_farm_agent_apply(ngx_http_farm_zone_t *z,
    farm_record_t *rec, uint32_t rec_hash, ngx_str_t *why);
ngx_int_t ngx_http_farm_agent_remove(ngx_http_farm_zone_t *z,
    u_char *id, size_t len);
void ngx_http_farm_zone_peers(ngx_http_farm_shctx_t *sh, farm_peers_t *peers);
void ngx_http_farm_agent_refresh(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a);
const char *ngx_http_farm_agent_state(ngx_http_farm_agent_t *a);
void ngx_http_farm_note(ngx_http_farm_note_t *note, ngx_uint_t level,
    const char *fmt, ...);
ngx_int_t ngx_http_farm_zone_rebuild_hash(ngx_http_farm_zone_t *z);
size_t ngx_http_farm_caps_text(ngx_http_farm_shctx_t *sh, uint64_t caps,
    u_char *buf, size_t size, ngx_uint_t json);

/* ngx_http_farm_module.c */
ngx_int_t ngx_http_farm_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
ngx_int_t ngx_http_farm_conf_msec(ngx_str_t *value, size_t skip,
    ngx_msec_t min, ngx_msec_t *ms);

/* ngx_http_farm_balancer.c */
ngx_int_t ngx_http_farm_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
ngx_int_t ngx_http_farm_add_variables(ngx_conf_t *cf);

/* ngx_http_farm_sync.c */
void ngx_http_farm_zone_get(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_zone_t *z);
ngx_int_t ngx_http_farm_sync_owner_start(ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_sync_is_owner(ngx_http_farm_srv_conf_t *fcf);
void ngx_http_farm_sync_begin(ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_sync_record(ngx_http_farm_srv_conf_t *fcf,
    u_char *key, size_t key_len, u_char *json, size_t json_len,
    ngx_uint_t full);
void ngx_http_farm_sync_reject(ngx_http_farm_srv_conf_t *fcf, u_char *key,
    size_t key_len, uint32_t rec_hash, ngx_uint_t full, const char *fmt,
    const char *reason);
ngx_int_t ngx_http_farm_sync_parsed(ngx_http_farm_srv_conf_t *fcf,
    u_char *label, size_t label_len, farm_record_t *rec, ngx_uint_t full);
void ngx_http_farm_sync_delete(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len);
void ngx_http_farm_sync_unhealthy(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len, const char *why);
void ngx_http_farm_sync_end(ngx_http_farm_srv_conf_t *fcf);
void ngx_http_farm_sync_registry_state(ngx_http_farm_srv_conf_t *fcf,
    ngx_uint_t up, const char *reason);
void ngx_http_farm_sync_hold(ngx_http_farm_srv_conf_t *fcf,
    const char *why);
ngx_int_t ngx_http_farm_sync_warm(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log);

/* ngx_http_farm_hiredis.c */
struct redisAsyncContext;
ngx_int_t ngx_http_farm_hiredis_attach(struct redisAsyncContext *ac,
    ngx_log_t *log);

/* ngx_http_farm_redis.c */
ngx_int_t ngx_http_farm_redis_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle);
void ngx_http_farm_redis_stop(ngx_http_farm_srv_conf_t *fcf);

/* ngx_http_farm_redis_warm.c */
ngx_int_t ngx_http_farm_redis_warm(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log);
void *ngx_http_farm_redis_connect_sync(farm_url_t *url, u_char *addr,
    ngx_msec_t ms, const char **reason);

/* ngx_http_farm_subset.c */
ngx_http_farm_subset_t *ngx_http_farm_subset_get(ngx_http_farm_zone_t *z,
    ngx_uint_t region, uint64_t caps);
void ngx_http_farm_subsets_update(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a);
void ngx_http_farm_subsets_touch(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a);
void ngx_http_farm_subsets_rebuild(ngx_http_farm_zone_t *z);
void ngx_http_farm_subsets_reorder(ngx_http_farm_zone_t *z);

/* ngx_http_farm_route.c */
char *ngx_http_farm_region(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_farm_region_fallback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_farm_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_farm_route_init(ngx_http_request_t *r,
    ngx_http_farm_srv_conf_t *fcf, ngx_http_farm_filter_t *f,
    ngx_http_farm_ctx_t *ctx);
ngx_int_t ngx_http_farm_route_prepare(ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f, ngx_http_farm_ctx_t *ctx);
ngx_int_t ngx_http_farm_route_matches(ngx_http_farm_filter_t *f,
    ngx_http_farm_agent_t *a);
uint32_t ngx_http_farm_route_choose(ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f, const uint32_t *tried, uint32_t ntried,
    ngx_http_farm_ctx_t *ctx);

/* ngx_http_farm_queue.c */
char *ngx_http_farm_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_farm_queue_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_http_farm_queue_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_farm_queue_zone(ngx_http_farm_zone_t *z);
ngx_int_t ngx_http_farm_queue_wait(ngx_http_request_t *r,
    ngx_http_farm_ctx_t *ctx, ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f);
void ngx_http_farm_queue_dispatch(ngx_http_farm_zone_t *z);
void ngx_http_farm_queue_cancel(ngx_http_farm_ctx_t *ctx);

/* ngx_http_farm_admit.c */
char *ngx_http_farm_client_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_farm_admit_init(ngx_conf_t *cf);
void ngx_http_farm_release(ngx_http_farm_zone_t *z, uint32_t slot,
    uint32_t gen);
void ngx_http_farm_admit_resume(ngx_http_request_t *r);

/* ngx_http_farm_health.c */
char *ngx_http_farm_health_check(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_farm_health_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle);
void ngx_http_farm_health_stop(ngx_http_farm_srv_conf_t *fcf);

/* ngx_http_farm_breaker.c */
char *ngx_http_farm_breaker(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_farm_parse_statuses(ngx_conf_t *cf, ngx_str_t *value,
    u_char *bits);
ngx_int_t ngx_http_farm_breaker_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle);
void ngx_http_farm_breaker_outcome(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a, ngx_int_t ok, ngx_http_farm_note_t *note);
ngx_int_t ngx_http_farm_breaker_failed(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_request_t *r, ngx_uint_t state);

#define ngx_http_farm_status_in(bits, code)                                   \
    ((code) < 600 && ((bits)[(code) >> 3] & (1 << ((code) & 7))))

/* ngx_http_farm_consul.c */
ngx_int_t ngx_http_farm_consul_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle);
void ngx_http_farm_consul_stop(ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_consul_apply(ngx_http_farm_srv_conf_t *fcf,
    u_char *body, size_t len, char *err);
void ngx_http_farm_consul_global_init(ngx_log_t *log);
u_char *ngx_http_farm_consul_url(ngx_http_farm_srv_conf_t *fcf, u_char *buf,
    size_t size, uint64_t index, ngx_msec_t wait);
ngx_int_t ngx_http_farm_consul_easy(ngx_http_farm_srv_conf_t *fcf,
    void *easy, ngx_http_farm_consul_body_t *body, ngx_msec_t timeout,
    ngx_msec_t connect_timeout, void **headers, void **resolve, char *error);
void ngx_http_farm_consul_body_text(ngx_http_farm_consul_body_t *b,
    u_char *buf, size_t size);

/* ngx_http_farm_consul_warm.c */
ngx_int_t ngx_http_farm_consul_warm(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log);

/* ngx_http_farm_state.c */
void ngx_http_farm_state_sync_end(ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_state_load(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log);

/* ngx_http_farm_status.c */
char *ngx_http_farm_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* ngx_http_farm_reject.c */
ngx_int_t ngx_http_farm_reject_init(ngx_conf_t *cf);
ngx_http_farm_ctx_t *ngx_http_farm_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_farm_refuse(ngx_http_request_t *r, ngx_http_farm_ctx_t *ctx,
    ngx_uint_t reason);
ngx_table_elt_t *ngx_http_farm_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value);


#endif /* _NGX_HTTP_FARM_MODULE_H_INCLUDED_ */
