
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

/* agent slot states */
#define NGX_HTTP_FARM_SLOT_FREE        0
#define NGX_HTTP_FARM_SLOT_UP          1

/* why a request got no agent (ngx_http_farm_reject.c) */
#define NGX_HTTP_FARM_REJECT_NONE      0
#define NGX_HTTP_FARM_REJECT_NO_AGENT  1


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

    farm_pick_peer_t               pick;

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

    uint64_t                       requests;
    uint64_t                       failures;
} ngx_http_farm_agent_t;


typedef struct {
    ngx_rbtree_t                   ids;
    ngx_rbtree_node_t              sentinel;

    uint32_t                       capacity;
    uint32_t                       nslots;      /* slots ever used */
    uint32_t                       nagents;     /* registered now */
    uint32_t                       free_head;
    ngx_http_farm_agent_t         *agents;

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

    uint64_t                       requests;
    uint64_t                       no_agent;    /* requests with no agent */
} ngx_http_farm_shctx_t;


typedef struct {
    ngx_http_farm_shctx_t         *sh;
    ngx_slab_pool_t               *shpool;
    ngx_http_farm_srv_conf_t      *fcf;
} ngx_http_farm_zone_t;


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
    ngx_log_t                     *log;
};


typedef struct {
    ngx_array_t                    farms;       /* ngx_http_farm_srv_conf_t * */
} ngx_http_farm_main_conf_t;


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
    ngx_str_t                      body;        /* of a refusal */
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
ngx_int_t ngx_http_farm_zone_rebuild_hash(ngx_http_farm_zone_t *z);
size_t ngx_http_farm_caps_text(ngx_http_farm_shctx_t *sh, uint64_t caps,
    u_char *buf, size_t size, ngx_uint_t json);

/* ngx_http_farm_module.c */
ngx_int_t ngx_http_farm_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);

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


#endif /* _NGX_HTTP_FARM_MODULE_H_INCLUDED_ */
