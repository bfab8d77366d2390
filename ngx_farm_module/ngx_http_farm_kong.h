/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong: the nginx glue of kong-compat/.  A server (or location) with
 * "farm_kong FILE;" routes every request by a Kong declarative file: the
 * rewrite phase matches the request (kong_match), answers Kong's 404, 503,
 * 426 and redirects itself, resolves the service's or the Kong upstream's
 * host names on nginx's resolver, and leaves the rest to a proxy_pass that
 * reads $farm_kong_url and the other $farm_kong_* variables.  That
 * proxy_pass names the implicit upstream "farm_kong", whose balancer walks
 * the addresses found for the request.  Files: ngx_http_farm_kong.c (the
 * directive), ngx_http_farm_kong_proxy.c (the rewrite phase, resolver,
 * variables), ngx_http_farm_kong_answer.c (Kong's answers and response
 * headers), ngx_http_farm_kong_balancer.c (targets, the upstream),
 * ngx_http_farm_kong_health.c (the targets' shared health),
 * ngx_http_farm_kong_check.c (active health checks).
 * docs/kong.md.
 */


#ifndef _NGX_HTTP_FARM_KONG_H_INCLUDED_
#define _NGX_HTTP_FARM_KONG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <kong.h>
#include <kong_plugin.h>

#include "ngx_http_farm_limit.h"


/* the implicit upstream a farm_kong proxy_pass names */
#define NGX_HTTP_FARM_KONG_UPSTREAM  "farm_kong"

/* this gateway in Via */
#define NGX_HTTP_FARM_KONG_VIA       "1.1 ngx_farm"


/* ngx_http_farm_kong_resp.c: response-transformer's engines, per file,
 * and one request's state */
typedef struct ngx_http_farm_kong_xforms_s  ngx_http_farm_kong_xforms_t;
typedef struct ngx_http_farm_kong_resp_s    ngx_http_farm_kong_resp_t;

/* ngx_http_farm_kong_prom.c: the prometheus plugin's part of a file */
typedef struct ngx_http_farm_kong_prom_s    ngx_http_farm_kong_prom_t;


/* what a health check or a proxied request said of a target */
#define NGX_HTTP_FARM_KONG_HC_SUCCESS   0
#define NGX_HTTP_FARM_KONG_HC_TCP       1
#define NGX_HTTP_FARM_KONG_HC_TIMEOUT   2
#define NGX_HTTP_FARM_KONG_HC_HTTP      3


typedef struct ngx_http_farm_kong_health_s  ngx_http_farm_kong_health_t;

/*
 * A target's health (healthchecks.active and .passive), in the file's
 * shared zone: every worker sees it, and an unchanged target (same
 * upstream name, host and port) keeps it over a reload.  Fields are
 * written under the zone's mutex; the balancer reads down unlocked.
 */
struct ngx_http_farm_kong_health_s {
    ngx_http_farm_kong_health_t  *next;        /* in its hash bucket */
    uint32_t                   hash;
    ngx_uint_t                 gen;            /* last configuration */
    ngx_uint_t                 tcp_failures;   /* consecutive */
    ngx_uint_t                 timeouts;
    ngx_uint_t                 http_failures;
    ngx_uint_t                 successes;
    ngx_uint_t                 checks;         /* active checks done */
    ngx_uint_t                 down;
    double                     ewma;           /* ms, algorithm: latency */
    ngx_msec_t                 ewma_at;        /* its last update, or 0 */
    ngx_uint_t                 named;          /* a host name, checked per
                                                  address */
    ngx_http_farm_kong_health_t  *addrs;       /* named: the records of its
                                                  addresses (next links them,
                                                  key is the sockaddr) */
    ngx_uint_t                 gone;           /* an address no longer
                                                  resolved */
    size_t                     len;
    u_char                     key[1];         /* "upstream\nhost:port" */
};


/* one loaded file; shared by the locations that inherit it */
typedef struct {
    ngx_str_t                  file;
    kong_config_t             *kong;
    ngx_uint_t                *rr;        /* per Kong upstream, per worker */
    ngx_uint_t                *cw_off;    /* per Kong upstream: its first
                                             target's slot in cw */
    ngx_int_t                 *cw;        /* per target, per worker: the
                                             smooth round robin's weight */
    ngx_uint_t                *active;    /* per target, per worker:
                                             connections, least-connections */
    ngx_http_farm_kong_health_t **health; /* per target, in hc_zone */
    ngx_shm_zone_t            *hc_zone;   /* the targets' health */
    ngx_queue_t                hc_queue;  /* this worker's checks */
    ngx_queue_t                hc_names;  /* this worker's host-name
                                             targets (_check_name.c) */
    ngx_http_core_loc_conf_t  *hc_clcf;   /* its resolver resolves them */
    ngx_uint_t                *hc_busy;   /* per Kong upstream, per worker:
                                             active checks in flight */
#if (NGX_HTTP_SSL)
    ngx_ssl_t                 *hc_ssl;    /* active checks of type https */
    ngx_ssl_t                **tls;       /* per service: its tls_verify
                                             context, or NULL */
#endif
    u_char                    *farm;      /* per service: host names an
                                             nginx upstream {} block */
    ngx_http_farm_key_table_t  keys;      /* keyauth_credentials, by the
                                             SHA-256 of the key */
    ngx_http_farm_limit_zone_t *rl_zone;  /* rate-limiting, policy local */
    ngx_array_t                rl_redis;  /* ngx_http_farm_kong_rl_redis_t:
                                             policy redis, per plugin */
    time_t                     loaded;    /* for keyauth ttl */
    ngx_array_t                jwt_secrets;   /* kong_jwt_secret_t, sorted
                                                 by key */
    ngx_array_t                engines;   /* ngx_http_farm_kong_engine_t:
                                             the engines of cors and
                                             request-transformer plugins,
                                             by plugin address */
    ngx_http_farm_kong_xforms_t *xforms;  /* response-transformer */
    ngx_http_farm_kong_prom_t  *prom;     /* prometheus, or NULL */
} ngx_http_farm_kong_conf_t;


typedef struct ngx_http_farm_kong_rl_sync_s  ngx_http_farm_kong_rl_sync_t;


/* a rate-limiting plugin with policy redis, and its farm_limit zone */
typedef struct {
    const kong_plugin_t       *plugin;
    ngx_http_farm_limit_zone_t *zone;     /* policy=redis, its backend */
    ngx_http_farm_kong_rl_sync_t *sync;   /* sync_rate >= 0, or NULL */
} ngx_http_farm_kong_rl_redis_t;


/* a keyauth credential in conf->keys (farm_key_auth's table) */
typedef struct {
    ngx_http_farm_consumer_t   consumer;  /* name: the username */
    const kong_credential_t   *cred;
} ngx_http_farm_kong_key_t;


typedef struct {
    ngx_http_farm_kong_conf_t  *conf;     /* NULL: farm_kong off */
    ngx_uint_t                  prom_names;   /* farm_kong_metrics
                                                 names=prometheus */
} ngx_http_farm_kong_loc_conf_t;


typedef struct {
    ngx_uint_t                  index;    /* ngx_http_proxy_module's
                                             ctx_index, or UNSET */
    ngx_uint_t                  version;  /* offsets in its loc conf:
                                             proxy_http_version, */
    ngx_uint_t                  body;     /* proxy_set_body, */
    ngx_uint_t                  pass_body;    /* proxy_pass_request_body */
} ngx_http_farm_kong_proxy_conf_t;


typedef struct {
    ngx_array_t                 confs;    /* ngx_http_farm_kong_conf_t * */
    ngx_flag_t                  upstream_added;
    ngx_http_farm_kong_proxy_conf_t  proxy;   /* request_buffering */
    ngx_uint_t                  realip_index;     /* trusted_ips, or UNSET */
} ngx_http_farm_kong_main_conf_t;


typedef struct {
    struct sockaddr            *sockaddr;
    socklen_t                   socklen;
    ngx_str_t                   name;     /* "addr:port" */
    ngx_str_t                   host;     /* the target's host, for Host */
    ngx_uint_t                  weight;
    ngx_uint_t                  target;   /* in the Kong upstream's list */
} ngx_http_farm_kong_peer_t;


typedef struct {
    ngx_str_t                   host;
    in_port_t                   port;
    ngx_uint_t                  weight;
    ngx_uint_t                  target;
} ngx_http_farm_kong_name_t;


typedef struct {
    kong_match_t                match;
    ngx_http_farm_kong_conf_t  *conf;

    /* the $farm_kong_* variables */
    ngx_str_t                   url;
    ngx_str_t                   host;
    ngx_str_t                   fwd_proto;
    ngx_str_t                   fwd_host;
    ngx_str_t                   fwd_port;
    ngx_str_t                   fwd_path;
    ngx_str_t                   fwd_prefix;
    ngx_str_t                   request_id;

    /* addresses of the service or of the Kong upstream's targets */
    ngx_array_t                 peers;    /* ngx_http_farm_kong_peer_t */
    ngx_array_t                 names;    /* ngx_http_farm_kong_name_t */
    ngx_msec_t                  routed;   /* ngx_current_msec then */
    ngx_msec_t                  before;   /* ms from the request's start */
    ngx_uint_t                  next_name;
    ngx_resolver_ctx_t         *rctx;     /* the name being resolved */
    ngx_buf_t                  *error_body;   /* Kong's, for nginx's */
    ngx_uint_t                  start;    /* first peer tried */
    ngx_uint_t                  tried;

    /* plugins (ngx_http_farm_kong_plugins.c, _auth.c) */
    const kong_consumer_t      *consumer;
    const kong_credential_t    *credential;
    farm_limit_view_t          *rl_view;  /* headers to send, or NULL */
    ngx_http_farm_limit_ctx_t  *rl_ctx;   /* Redis has answered for it */
    const kong_plugin_t        *rl_plugin;
    ngx_str_t                   rl_key;   /* sync_rate: the key asked */
    ngx_uint_t                  plugin_next;  /* the plugin type waiting */
    void                       *cors;     /* kong_cors_t: the header
                                             filter adds its headers */
    ngx_str_t                   xform_host;   /* Host set by
                                                 request-transformer */
    ngx_http_farm_kong_resp_t  *resp;     /* response-transformer's */

    unsigned                    anonymous:1;
    unsigned                    rl_waiting:1;  /* for Redis */
    unsigned                    body_waiting:1;    /* for the body */
    unsigned                    body_read:1;
    unsigned                    resume_plugins:1;  /* at plugin_next */
    unsigned                    rl_reported:1;
    unsigned                    pending:1;
    unsigned                    sync:1;
    unsigned                    resolved:1;
    unsigned                    farm:1;   /* to an nginx upstream {} */
    unsigned                    answered:1;
    unsigned                    error_sent:1;
    unsigned                    corrid_echo:1;    /* on the response */
    unsigned                    trusted:1;    /* trusted_ips: the client's
                                                 X-Forwarded-* pass */

    /* correlation-id (ngx_http_farm_kong_corrid.c) */
    ngx_str_t                   corrid_name;
    ngx_str_t                   corrid_value;

    /* hash_on cookie: the new cookie's value (ngx_http_farm_kong_cookie.c) */
    ngx_str_t                   hash_cookie;
} ngx_http_farm_kong_ctx_t;


extern ngx_module_t                      ngx_http_farm_kong_module;
extern ngx_http_output_header_filter_pt  ngx_http_farm_kong_next_header_filter;
extern ngx_http_output_body_filter_pt    ngx_http_farm_kong_next_body_filter;


/* ngx_http_farm_kong_proxy.c: the rewrite phase, the variables */
ngx_int_t ngx_http_farm_kong_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_farm_kong_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
ngx_int_t ngx_http_farm_kong_set_host(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *host, in_port_t port);

/* ngx_http_farm_kong_answer.c: Kong's answers and response headers */
ngx_int_t ngx_http_farm_kong_header_filter(ngx_http_request_t *r);
ngx_int_t ngx_http_farm_kong_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
ngx_int_t ngx_http_farm_kong_error(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_uint_t status, const char *message);
ngx_int_t ngx_http_farm_kong_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);

/* ngx_http_farm_kong_plugins.c: the plugins, in Kong's order */
ngx_int_t ngx_http_farm_kong_plugins(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
ngx_int_t ngx_http_farm_kong_read_body(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_uint_t t);
ngx_int_t ngx_http_farm_kong_plugins_headers(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
ngx_int_t ngx_http_farm_kong_plugins_conf(ngx_conf_t *cf,
    ngx_http_farm_kong_conf_t *kc, ngx_uint_t skip);
ngx_int_t ngx_http_farm_kong_exit(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_uint_t status, ngx_str_t *type,
    ngx_str_t *body);
ngx_int_t ngx_http_farm_kong_set_upstream(ngx_http_request_t *r,
    ngx_str_t *names, ngx_str_t *values, ngx_uint_t n);

/* ngx_http_farm_kong_body.c: a parameter of the request body */
ngx_int_t ngx_http_farm_kong_body_param(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value, ngx_uint_t hide);

/* ngx_http_farm_kong_rl_redis.c: rate-limiting with policy redis */
ngx_int_t ngx_http_farm_kong_rl_redis_conf(ngx_conf_t *cf,
    ngx_http_farm_kong_conf_t *kc, const kong_plugin_t *p);
ngx_int_t ngx_http_farm_kong_rl_redis(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p,
    ngx_http_farm_limit_t *limit, ngx_str_t *key);
ngx_int_t ngx_http_farm_kong_rl_decide(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p,
    ngx_http_farm_limit_t *limit, uint32_t *count, ngx_uint_t outcome,
    const char *err);

/* ngx_http_farm_kong_rl_sync.c: rate-limiting with sync_rate >= 0 */
ngx_int_t ngx_http_farm_kong_rl_sync_conf(ngx_conf_t *cf,
    ngx_http_farm_kong_rl_redis_t *rr);
ngx_int_t ngx_http_farm_kong_rl_sync(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p,
    ngx_http_farm_limit_t *limit, ngx_str_t *key);
void ngx_http_farm_kong_rl_sync_learn(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p,
    ngx_http_farm_limit_ctx_t *lctx);
ngx_int_t ngx_http_farm_kong_rl_sync_init_process(ngx_cycle_t *cycle);
void ngx_http_farm_kong_rl_sync_exit_process(ngx_cycle_t *cycle);

/* ngx_http_farm_kong_auth.c: key-auth, basic-auth, the consumer */
ngx_int_t ngx_http_farm_kong_keys(ngx_conf_t *cf,
    ngx_http_farm_kong_conf_t *kc);
ngx_int_t ngx_http_farm_kong_key_auth(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_key_auth_conf_t *conf);
ngx_int_t ngx_http_farm_kong_basic_auth(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_basic_auth_conf_t *conf);
ngx_table_elt_t *ngx_http_farm_kong_in_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_uint_t *count);
ngx_int_t ngx_http_farm_kong_anonymous(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const char *anonymous);
ngx_int_t ngx_http_farm_kong_consumer_headers(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *hide);

/* ngx_http_farm_kong_jwt.c: the jwt plugin */
ngx_int_t ngx_http_farm_kong_jwt_conf(ngx_conf_t *cf,
    ngx_http_farm_kong_conf_t *kc, ngx_uint_t skip);
ngx_int_t ngx_http_farm_kong_jwt(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_jwt_plugin_conf_t *conf);

/* ngx_http_farm_kong_corrid.c: the correlation-id plugin */
ngx_int_t ngx_http_farm_kong_corrid(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_correlation_id_conf_t *conf);
ngx_int_t ngx_http_farm_kong_corrid_echo(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
void ngx_http_farm_kong_uuid(u_char *out);

/* ngx_http_farm_kong_keepalive.c: the farm_kong_upstream directive */
char *ngx_http_farm_kong_upstream(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_farm_kong_cookie.c: hash_on cookie's new cookie */
#define NGX_HTTP_FARM_KONG_UUID_LEN  36
ngx_int_t ngx_http_farm_kong_cookie_new(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *key);
ngx_int_t ngx_http_farm_kong_cookie_set(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);

/* ngx_http_farm_kong_health.c: targets' shared health, latency */
ngx_int_t ngx_http_farm_kong_health_conf(ngx_conf_t *cf,
    ngx_http_farm_kong_conf_t *kc, ngx_uint_t n);
void ngx_http_farm_kong_health_report(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target, ngx_uint_t what,
    ngx_uint_t active, ngx_log_t *log);
ngx_uint_t ngx_http_farm_kong_health_below(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u);
ngx_uint_t ngx_http_farm_kong_health_active(const kong_upstream_t *u);
ngx_uint_t ngx_http_farm_kong_health_count_locked(const kong_upstream_t *u,
    ngx_http_farm_kong_health_t *h, ngx_uint_t what, ngx_uint_t active,
    ngx_uint_t *limit, const char **kind);
ngx_uint_t ngx_http_farm_kong_status_in(const kong_statuses_t *st,
    ngx_uint_t status);
void ngx_http_farm_kong_latency_observe(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target, ngx_msec_t ms);
double ngx_http_farm_kong_latency_score(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target);

/* ngx_http_farm_kong_health_addr.c: a host-name target's addresses */
ngx_int_t ngx_http_farm_kong_health_addrs_sync(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target, ngx_addr_t *addrs,
    ngx_uint_t n);
void ngx_http_farm_kong_health_addrs_reset_locked(
    ngx_http_farm_kong_health_t *h);
void ngx_http_farm_kong_health_addrs_free_locked(ngx_slab_pool_t *shpool,
    ngx_http_farm_kong_health_t *h);
ngx_uint_t ngx_http_farm_kong_health_addr_down(ngx_http_farm_kong_health_t *h,
    struct sockaddr *sockaddr, socklen_t socklen);
ngx_uint_t ngx_http_farm_kong_health_addrs_up(ngx_http_farm_kong_health_t *h);
void ngx_http_farm_kong_health_report_addr(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target, struct sockaddr *sockaddr,
    socklen_t socklen, ngx_uint_t what, ngx_uint_t active, ngx_log_t *log);

/* ngx_http_farm_kong_check.c: active health checks */
ngx_int_t ngx_http_farm_kong_health_init_process(ngx_cycle_t *cycle);
void ngx_http_farm_kong_health_exit_process(ngx_cycle_t *cycle);
void *ngx_http_farm_kong_hc_probe(ngx_cycle_t *cycle,
    ngx_http_farm_kong_conf_t *kc, const kong_upstream_t *u,
    ngx_uint_t target, ngx_addr_t *addr);
void ngx_http_farm_kong_hc_probe_stop(void *probe);

/* ngx_http_farm_kong_check_grpc.c: checks of type grpc and grpcs */
typedef struct ngx_http_farm_kong_grpc_s  ngx_http_farm_kong_grpc_t;

ngx_http_farm_kong_grpc_t *ngx_http_farm_kong_grpc_start(ngx_pool_t *pool,
    const kong_upstream_t *u, ngx_str_t *authority, ngx_uint_t tls,
    ngx_log_t *log);
void ngx_http_farm_kong_grpc_free(ngx_http_farm_kong_grpc_t *g);
ngx_int_t ngx_http_farm_kong_grpc_output(ngx_http_farm_kong_grpc_t *g,
    ngx_str_t *out);
ngx_int_t ngx_http_farm_kong_grpc_input(ngx_http_farm_kong_grpc_t *g,
    u_char *data, size_t len);

/* ngx_http_farm_kong_check_name.c: checks of host-name targets */
ngx_int_t ngx_http_farm_kong_name_add(ngx_cycle_t *cycle,
    ngx_http_farm_kong_conf_t *kc, const kong_upstream_t *u,
    ngx_uint_t target);
void ngx_http_farm_kong_names_exit(ngx_http_farm_kong_conf_t *kc);

/* ngx_http_farm_kong_resp.c: response-transformer */
ngx_int_t ngx_http_farm_kong_resp_conf(ngx_conf_t *cf,
    ngx_http_farm_kong_conf_t *kc);
ngx_int_t ngx_http_farm_kong_resp_init(ngx_conf_t *cf);
ngx_int_t ngx_http_farm_kong_response_transformer(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p);

/* ngx_http_farm_kong_prom.c: prometheus, farm_kong_metrics */
ngx_int_t ngx_http_farm_kong_prom_conf(ngx_conf_t *cf,
    ngx_http_farm_kong_conf_t *kc);
ngx_int_t ngx_http_farm_kong_prom_init(ngx_conf_t *cf);
char *ngx_http_farm_kong_prom_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_farm_kong_buffering.c: request_buffering, response_buffering */
ngx_int_t ngx_http_farm_kong_buffering_init(ngx_conf_t *cf,
    ngx_http_farm_kong_main_conf_t *kmcf);
void ngx_http_farm_kong_request_buffering(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
void ngx_http_farm_kong_response_buffering(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);

/* ngx_http_farm_kong_forwarded.c: trusted_ips and X-Forwarded-* */
ngx_int_t ngx_http_farm_kong_forwarded_init(ngx_conf_t *cf,
    ngx_http_farm_kong_main_conf_t *kmcf);
void ngx_http_farm_kong_forwarded_trust(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, kong_request_t *kr);
void ngx_http_farm_kong_forwarded_host(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *host);
void ngx_http_farm_kong_forwarded(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);

/* ngx_http_farm_kong_tls.c: services' tls_verify, ca_certificates */
ngx_int_t ngx_http_farm_kong_tls_conf(ngx_conf_t *cf,
    ngx_http_farm_kong_conf_t *kc);
#if (NGX_HTTP_SSL)
void ngx_http_farm_kong_tls_apply(ngx_http_farm_kong_conf_t *kc,
    const kong_service_t *s, ngx_http_upstream_conf_t *conf);
#endif

/* ngx_http_farm_kong_balancer.c: the target, the implicit upstream */
ngx_uint_t ngx_http_farm_kong_pick(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
ngx_int_t ngx_http_farm_kong_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);


#endif /* _NGX_HTTP_FARM_KONG_H_INCLUDED_ */
