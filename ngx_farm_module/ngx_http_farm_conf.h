
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 2, configuration: the farm upstream's server configuration (one per
 * upstream with farm_registry) and the module's main configuration.  Plain
 * data, read by every layer above; written while nginx reads its
 * configuration, apart from the process state marked below.
 */


#ifndef _NGX_HTTP_FARM_CONF_H_INCLUDED_
#define _NGX_HTTP_FARM_CONF_H_INCLUDED_


#include "ngx_http_farm_util.h"
#include "ngx_http_farm_pick.h"


#define NGX_HTTP_FARM_VERSION          "0.1.0"

#define NGX_HTTP_FARM_RR               FARM_PICK_RR
#define NGX_HTTP_FARM_LEAST_CONN       FARM_PICK_LEAST_CONN
#define NGX_HTTP_FARM_HASH             3
#define NGX_HTTP_FARM_CHASH            4

#define NGX_HTTP_FARM_MAX_TRIES        64   /* distinct agents per request */
#define NGX_HTTP_FARM_REDIS_CHUNK      256  /* keys per MGET */
#define NGX_HTTP_FARM_HASH_TRIES       20   /* hash probes before fallback */
#define NGX_HTTP_FARM_REPORTED         1024 /* bad records remembered */

/* fmcf->proxy_index without the proxy module (ngx_http_farm_admit.c) */
#define NGX_HTTP_FARM_NO_PROXY         ((ngx_uint_t) -1)


typedef struct ngx_http_farm_srv_conf_s   ngx_http_farm_srv_conf_t;
typedef struct ngx_http_farm_main_conf_s  ngx_http_farm_main_conf_t;

/* process state of other layers, opaque here */
typedef struct ngx_http_farm_redis_s      ngx_http_farm_redis_t;
typedef struct ngx_http_farm_consul_s     ngx_http_farm_consul_t;
typedef struct ngx_http_farm_health_s     ngx_http_farm_health_t;
typedef struct ngx_http_farm_builtin_s    ngx_http_farm_builtin_t;


/*
 * A registry backend (ngx_http_farm_redis.c, ngx_http_farm_consul.c), as
 * the module glue drives it: chosen by farm_registry's URL, started and
 * stopped by the sync owner, warm() is the master's startup read.
 */
typedef struct {
    ngx_int_t                    (*start)(ngx_http_farm_srv_conf_t *fcf,
                                          ngx_cycle_t *cycle);
    void                         (*stop)(ngx_http_farm_srv_conf_t *fcf);
    ngx_int_t                    (*warm)(ngx_http_farm_srv_conf_t *fcf,
                                         ngx_log_t *log);
} ngx_http_farm_registry_t;


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


typedef struct {
    ngx_http_complex_value_t      *region;      /* farm_region */
    ngx_array_t                   *fallback;    /* ngx_str_t; "*": any */
    ngx_http_complex_value_t      *require;     /* farm_require */
} ngx_http_farm_route_conf_t;


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


struct ngx_http_farm_srv_conf_s {
    ngx_http_upstream_srv_conf_t  *uscf;
    ngx_uint_t                     index;       /* among farm upstreams */

    ngx_str_t                      url_display; /* without the password */
    farm_url_t                     url;
    const ngx_http_farm_registry_t *registry;   /* by url.type */
    ngx_str_t                      addr_text;   /* resolved "ip" for hiredis */
    ngx_str_t                      service;
    ngx_str_t                      prefix;

    /* Consul: dc=, tag=, token= (never logged), ca=; NUL-terminated */
    ngx_str_t                      dc;
    ngx_str_t                      tag;
    ngx_str_t                      token;
    ngx_str_t                      ca;
    size_t                         max_answer;  /* max_answer=, 0: default */
    ngx_str_t                      thread_pool; /* thread_pool=, the parse's */
    void                          *parse_pool;  /* its ngx_thread_pool_t */

    ngx_http_farm_builtin_t       *builtin;     /* farm_registry builtin */
    ngx_array_t                   *statics;     /* farm_agent, records */

    ngx_str_t                      state;       /* state=, full path */
    ngx_array_t                   *allow;       /* allow=, ngx_cidr_t */

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
    ngx_event_t                    state_ev;    /* its next write */
    ngx_msec_t                     state_saved; /* its last write */
    ngx_uint_t                     warming;     /* the master's read */
    ngx_uint_t                     owner_epoch;
    ngx_uint_t                     superseded;
    ngx_event_t                    rebuild_ev;
    ngx_msec_t                     rebuilt;     /* last hash rebuild */
    ngx_msec_t                     hold_until;  /* no sweeps before */
    ngx_event_t                    sweep_ev;    /* the sweep's next step */
    ngx_uint_t                     sweep_epoch; /* remove the unseen in it */
    uint32_t                       sweep_next;  /* 1 + slot; 0: no sweep */
    uint32_t                       sweep_left;  /* slots it has to look at */
    time_t                         down_logged;
    uint64_t                      *reported;    /* NGX_HTTP_FARM_REPORTED */
    ngx_event_t                    breaker_ev;  /* half-opens breakers */

    /* every worker's */
    ngx_uint_t                     owner;       /* its record in the zone */
    ngx_http_farm_health_t        *checker;
    ngx_queue_t                    waiting;     /* this worker's waiters */
    ngx_event_t                    poll_ev;     /* looks for grants */
    ngx_http_farm_main_conf_t     *fmcf;
    ngx_log_t                     *log;
};


struct ngx_http_farm_main_conf_s {
    ngx_array_t                    farms;       /* ngx_http_farm_srv_conf_t * */
    ngx_uint_t                     admit;       /* a queue or client limit */
    ngx_uint_t                     proxy_index; /* the proxy module's ctx */

    /* queue wake-ups: one eventfd per worker, made by the master */
    int                           *wake;
    ngx_uint_t                     nwake;
    uint64_t                       tag;         /* of this cycle */
    ngx_connection_t              *wake_conn;   /* this worker's */
    u_char                        *wake_pending; /* granted, not yet woken */
    ngx_event_t                    wake_ev;     /* wakes them, unlocked */
};


extern ngx_module_t  ngx_http_farm_module;


#endif /* _NGX_HTTP_FARM_CONF_H_INCLUDED_ */
