
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * ngx_http_farm_module: one gateway endpoint in front of a changing farm of
 * agents.  This file is the module glue, the top layer (see
 * ngx_http_farm_module.h and docs/design.md): the directives, the
 * configuration, the zone's init (the zone model, the queue's part of it,
 * the master's startup read), the registry backends and the process hooks.
 * Each concern has its own file (zone, subset, pick, route, queue, client,
 * health, breaker, sync, state, redis, consul, balancer, admit, reject,
 * status).
 */


#include "ngx_http_farm_module.h"
#include "ngx_http_farm_zone.h"
#include "ngx_http_farm_route.h"
#include "ngx_http_farm_queue.h"
#include "ngx_http_farm_client.h"
#include "ngx_http_farm_health.h"
#include "ngx_http_farm_breaker.h"
#include "ngx_http_farm_sync.h"
#include "ngx_http_farm_state.h"
#include "ngx_http_farm_override_sync.h"
#include "ngx_http_farm_redis.h"
#include "ngx_http_farm_consul.h"
#include "ngx_http_farm_builtin.h"
#include "ngx_http_farm_lease.h"
#include "ngx_http_farm_balancer.h"
#include "ngx_http_farm_admit.h"
#include "ngx_http_farm_reject.h"

#include <farm_keys.h>


#define NGX_HTTP_FARM_DEFAULT_RESYNC      5000
#define NGX_HTTP_FARM_DEFAULT_TIMEOUT     3000
#define NGX_HTTP_FARM_DEFAULT_HOLD        10000
#define NGX_HTTP_FARM_DEFAULT_MAX_AGENTS  1024


static void *ngx_http_farm_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_farm_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_farm_registry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_farm_balance(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_farm_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_farm_registry_warm(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log);
static ngx_int_t ngx_http_farm_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_farm_init_process(ngx_cycle_t *cycle);
static void ngx_http_farm_exit_process(ngx_cycle_t *cycle);
static void ngx_http_farm_owner_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle);
static void ngx_http_farm_owner_gone(ngx_http_farm_zone_t *z, u_char *dead,
    void *data);


static ngx_command_t  ngx_http_farm_commands[] = {

    { ngx_string("farm_registry"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_farm_registry,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_agent"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_farm_agent,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      (void *) ngx_http_farm_registry },

    { ngx_string("farm_balance"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE123,
      ngx_http_farm_balance,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_region"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_http_farm_region,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_region_fallback"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_farm_region_fallback,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_require"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_http_farm_require,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_queue"),
      NGX_HTTP_UPS_CONF|NGX_CONF_ANY,
      ngx_http_farm_queue,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_client_limit"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE2,
      ngx_http_farm_client_limit,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_health_check"),
      NGX_HTTP_UPS_CONF|NGX_CONF_ANY,
      ngx_http_farm_health_check,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_breaker"),
      NGX_HTTP_UPS_CONF|NGX_CONF_ANY,
      ngx_http_farm_breaker,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_farm_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_farm_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_farm_postconfiguration,       /* postconfiguration */

    ngx_http_farm_create_main_conf,        /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_farm_create_srv_conf,         /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_farm_module = {
    NGX_MODULE_V1,
    &ngx_http_farm_module_ctx,             /* module context */
    ngx_http_farm_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_farm_queue_init_module,       /* init module */
    ngx_http_farm_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_farm_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the registry backends, by farm_registry's URL */

static const ngx_http_farm_registry_t  ngx_http_farm_redis_registry = {
    ngx_http_farm_redis_start,
    ngx_http_farm_redis_stop,
    ngx_http_farm_redis_warm
};


static const ngx_http_farm_registry_t  ngx_http_farm_consul_registry = {
    ngx_http_farm_consul_start,
    ngx_http_farm_consul_stop,
    ngx_http_farm_consul_warm
};


/* where the state= file's records go: a full sync (and builtin leases) */

static const ngx_http_farm_state_sink_t  ngx_http_farm_state_sink = {
    ngx_http_farm_sync_begin,
    ngx_http_farm_sync_parsed,
    ngx_http_farm_sync_end,
    ngx_http_farm_builtin_restore
};


static void *
ngx_http_farm_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_farm_main_conf_t  *fmcf;

    fmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_main_conf_t));
    if (fmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&fmcf->farms, cf->pool, 4,
                       sizeof(ngx_http_farm_srv_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return fmcf;
}


static void *
ngx_http_farm_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_srv_conf_t));
    if (fcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     fcf->uscf = NULL;
     *     fcf->method = 0;
     *     fcf->hash_key = NULL;
     *     fcf->shm_zone = NULL;
     */

    fcf->resync = NGX_CONF_UNSET_MSEC;
    fcf->timeout = NGX_CONF_UNSET_MSEC;
    fcf->hold = NGX_CONF_UNSET_MSEC;
    fcf->max_agents = NGX_CONF_UNSET_UINT;

    return fcf;
}


static char *
ngx_http_farm_registry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    char                          *rv;
    u_char                         err[FARM_ERR_MAX];
    ssize_t                        size;
    ngx_str_t                     *value, name;
    ngx_url_t                      u;
    ngx_uint_t                     i;
    ngx_http_farm_srv_conf_t     **farm;
    ngx_http_farm_main_conf_t     *fmcf;
    struct sockaddr_in            *sin;
    ngx_http_upstream_server_t    *us;
    ngx_http_upstream_srv_conf_t  *uscf;

    if (fcf->uscf) {
        return "is duplicate";
    }

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_registry\" must come before \"keepalive\" "
                           "and instead of other balancing directives "
                           "(\"hash\", \"least_conn\", \"random\") in "
                           "upstream \"%V\"", &uscf->host);
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    size = NGX_CONF_UNSET;

    if (ngx_strcmp(value[1].data, "builtin") == 0
        || ngx_strcmp(value[1].data, "static") == 0)
    {
        rv = ngx_http_farm_builtin_registry(cf, fcf, &size,
                                            ngx_http_farm_registry_param);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        goto zone;
    }

    if (farm_url_parse(&fcf->url, (char *) value[1].data, value[1].len,
                       (char *) err)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    if (fcf->url.type == FARM_URL_API) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_registry\": an http(s):// URL with a path "
                           "is a gateway's registry API, for farm-agent's "
                           "--registry; a gateway watches Redis or Consul, "
                           "or keeps its own registry: \"farm_registry "
                           "builtin\"");
        return NGX_CONF_ERROR;
    }

    fcf->registry = (fcf->url.type == FARM_URL_CONSUL)
                    ? &ngx_http_farm_consul_registry
                    : &ngx_http_farm_redis_registry;

    /* the URL without its password, for logs and status */

    fcf->url_display.data = ngx_pnalloc(cf->pool, FARM_HOST_MAX + 64);
    if (fcf->url_display.data == NULL) {
        return NGX_CONF_ERROR;
    }

    farm_url_display(&fcf->url, (char *) fcf->url_display.data,
                     FARM_HOST_MAX + 64);
    fcf->url_display.len = ngx_strlen(fcf->url_display.data);

    for (i = 2; i < cf->args->nelts; i++) {
        rv = ngx_http_farm_registry_param(cf, fcf, &value[i], &size);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    if (fcf->service.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_registry\" needs \"service=NAME\"");
        return NGX_CONF_ERROR;
    }

    if (fcf->url.type == FARM_URL_REDIS
        && (fcf->dc.len || fcf->tag.len || fcf->token.len || fcf->ca.len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_registry\" parameters dc=, tag=, token= "
                           "and ca= are for Consul registries, not %V",
                           &fcf->url_display);
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_farm_registry_consul_conf(cf, fcf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (fcf->ca.len && !fcf->url.tls) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_registry\" parameter ca= needs an "
                           "https:// registry URL");
        return NGX_CONF_ERROR;
    }

    /*
     * Resolve the registry host now, as nginx does for upstream servers:
     * hiredis then connects to an address and never blocks on DNS.
     */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = (u_char *) fcf->url.host;
    u.url.len = ngx_strlen(fcf->url.host);
    u.default_port = (in_port_t) fcf->url.port;
    u.no_resolve = 0;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "registry host \"%s\" cannot be resolved%s%s",
                           fcf->url.host, u.err ? ": " : "",
                           u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    fcf->addr_text.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (fcf->addr_text.data == NULL) {
        return NGX_CONF_ERROR;
    }

    fcf->addr_text.len = ngx_sock_ntop(u.addrs[0].sockaddr,
                                       u.addrs[0].socklen,
                                       fcf->addr_text.data,
                                       NGX_SOCKADDR_STRLEN, 0);
    fcf->addr_text.data[fcf->addr_text.len] = '\0';

zone:

    /* the zone: sized in ngx_http_farm_init_upstream() unless zone= */

    name.len = sizeof("farm:") - 1 + uscf->host.len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(name.data, "farm:%V", &uscf->host);

    fcf->shm_zone = ngx_shared_memory_add(cf, &name,
                                          size == NGX_CONF_UNSET ? 0 : size,
                                          &ngx_http_farm_module);
    if (fcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (fcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    fcf->shm_zone->init = ngx_http_farm_init_zone;
    fcf->shm_zone->data = fcf;

    /*
     * nginx insists on at least one "server" in an upstream block; the
     * agents come from the registry, so a placeholder stands in for them.
     * ngx_http_farm_init_upstream() ignores it.  It has an address, marked
     * down, only so that a balancer directive wrongly added after us (which
     * would build round robin peers from it) gets as far as our clear error
     * in ngx_http_farm_postconfiguration().
     */

    fcf->placeholder = uscf->servers->nelts;

    us = ngx_array_push(uscf->servers);
    if (us == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(us, sizeof(ngx_http_upstream_server_t));

    sin = ngx_pcalloc(cf->pool, sizeof(struct sockaddr_in));
    us->addrs = ngx_pcalloc(cf->pool, sizeof(ngx_addr_t));
    if (sin == NULL || us->addrs == NULL) {
        return NGX_CONF_ERROR;
    }

    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    us->addrs->sockaddr = (struct sockaddr *) sin;
    us->addrs->socklen = sizeof(struct sockaddr_in);
    us->addrs->name = fcf->url_display;
    us->naddrs = 1;
    us->name = fcf->url_display;
    us->weight = 1;
    us->down = 1;

    fcf->reported = ngx_pcalloc(cf->pool,
                                NGX_HTTP_FARM_REPORTED * sizeof(uint64_t));
    if (fcf->reported == NULL) {
        return NGX_CONF_ERROR;
    }

    fcf->uscf = uscf;
    fcf->fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_module);
    uscf->peer.init_upstream = ngx_http_farm_init_upstream;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_module);

    fcf->index = fmcf->farms.nelts;

    farm = ngx_array_push(&fmcf->farms);
    if (farm == NULL) {
        return NGX_CONF_ERROR;
    }

    *farm = fcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_farm_balance(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (fcf->method) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "round_robin") == 0
        && cf->args->nelts == 2)
    {
        fcf->method = NGX_HTTP_FARM_RR;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "least_conn") == 0
        && cf->args->nelts == 2)
    {
        fcf->method = NGX_HTTP_FARM_LEAST_CONN;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "hash") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"farm_balance\" method \"%V\": use "
                           "round_robin, least_conn or hash <key> "
                           "[consistent]", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts < 3) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_balance hash\" needs a key, "
                           "as in \"farm_balance hash $cookie_session\"");
        return NGX_CONF_ERROR;
    }

    fcf->method = NGX_HTTP_FARM_HASH;

    if (cf->args->nelts == 4) {
        if (ngx_strcmp(value[3].data, "consistent") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"farm_balance hash\" parameter "
                               "\"%V\": only \"consistent\" is allowed",
                               &value[3]);
            return NGX_CONF_ERROR;
        }

        fcf->method = NGX_HTTP_FARM_CHASH;
    }

    fcf->hash_key = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (fcf->hash_key == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = fcf->hash_key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The shared zone of a farm upstream (its ngx_shm_zone_t init): the zone
 * model, then the queue's and the client limit's parts of it, then, for a
 * new zone, the master's startup read.  None of them is called with the
 * lock held.
 */

static ngx_int_t
ngx_http_farm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_farm_srv_conf_t  *fcf = shm_zone->data;

    ngx_http_farm_zone_t  z;

    fcf->log = shm_zone->shm.log;

    if (data) {

        /* the queue first: a refused queue change leaves the zone as it was */

        ngx_http_farm_zone_get(fcf, &z);

        if (ngx_http_farm_queue_reuse(&z, shm_zone) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_http_farm_client_zone(&z, 0);

        if (ngx_http_farm_zone_reuse(shm_zone, fcf) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_farm_leases_init(&z);
    }

    if (shm_zone->shm.exists) {
        /* Windows: another process already set it up */
        return NGX_OK;
    }

    if (ngx_http_farm_zone_init(shm_zone, fcf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_farm_zone_get(fcf, &z);

    ngx_http_farm_client_zone(&z, 1);

    if (ngx_http_farm_queue_zone(&z) != NGX_OK) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "farm zone \"%V\" has no room for a queue of %ui; "
                      "raise zone=", &shm_zone->shm.name, fcf->queue.max);
        return NGX_ERROR;
    }

    if (ngx_http_farm_leases_init(&z) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * A warm start: the master fills the zone from the registry before any
     * worker exists, so the first request after "nginx" finds the agents.
     * Bounded by the registry timeout; workers then take over.
     */

    if (!ngx_test_config && ngx_process != NGX_PROCESS_SIGNALLER) {
        (void) ngx_http_farm_registry_warm(fcf, shm_zone->shm.log);
    }

    return NGX_OK;
}


/*
 * The master's startup read: the registry, or, when it cannot be read, the
 * agents last saved to the state= file.
 */

static ngx_int_t
ngx_http_farm_registry_warm(ngx_http_farm_srv_conf_t *fcf, ngx_log_t *log)
{
    ngx_int_t  rc;

    fcf->log = log;
    fcf->warming = 1;

    rc = fcf->registry->warm(fcf, log);

    if (rc != NGX_OK && fcf->state.len) {
        (void) ngx_http_farm_state_load(fcf, log, &ngx_http_farm_state_sink);
    }

    ngx_http_farm_builtin_statics(fcf);    /* after the file's full sync */

    if (fcf->builtin && fcf->state.len) {
        ngx_http_farm_override_file_load(fcf, log);     /* write=registry */
    }

    fcf->warming = 0;

    /*
     * the read may have taken up to a few seconds: the workers inherit the
     * master's cached clock, and timers they arm at start would be due at
     * once if it were left behind
     */

    ngx_time_update();

    return rc;
}


ngx_int_t
ngx_http_farm_init_upstream(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us)
{
    size_t                     need;
    u_char                    *p;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = ngx_http_conf_upstream_srv_conf(us, ngx_http_farm_module);

    if (us->servers && us->servers->nelts > 1) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" in %s:%ui takes its agents from "
                      "\"farm_registry\" and cannot have \"server\" lines",
                      &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    /*
     * nginx's "zone" would copy round robin peers the farm does not have;
     * the farm's agents live in its own zone (farm_registry zone=).
     */

    if (us->shm_zone) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "upstream \"%V\" in %s:%ui cannot have a \"zone\" "
                      "directive: its agents live in the farm's own shared "
                      "zone; size it with \"farm_registry ... zone=\"",
                      &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    if (fcf->method == 0) {
        fcf->method = NGX_HTTP_FARM_RR;
    }

    ngx_conf_init_msec_value(fcf->resync, NGX_HTTP_FARM_DEFAULT_RESYNC);
    ngx_conf_init_msec_value(fcf->timeout, NGX_HTTP_FARM_DEFAULT_TIMEOUT);
    ngx_conf_init_msec_value(fcf->hold, NGX_HTTP_FARM_DEFAULT_HOLD);
    ngx_conf_init_uint_value(fcf->max_agents,
                             NGX_HTTP_FARM_DEFAULT_MAX_AGENTS);

    if (fcf->prefix.len == 0) {
        ngx_str_set(&fcf->prefix, FARM_PREFIX_DEFAULT);
    }

    need = ngx_align(ngx_http_farm_zone_size(fcf)
                     + ngx_http_farm_queue_size(fcf)
                     + ngx_http_farm_leases_size(fcf), ngx_pagesize);

    if (fcf->shm_zone->shm.size == 0) {
        fcf->shm_zone->shm.size = need;

    } else if (fcf->shm_zone->shm.size < need) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "farm_registry zone=%uzk of upstream \"%V\" in %s:%ui "
                      "is too small for max_agents=%ui: it needs at least "
                      "%uzk", fcf->shm_zone->shm.size / 1024, &us->host,
                      us->file_name, us->line, fcf->max_agents, need / 1024);
        return NGX_ERROR;
    }

    /* the Redis keys of this service, NUL-terminated for hiredis */

    p = ngx_pnalloc(cf->pool, 3 * FARM_KEY_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    fcf->key_index = p;
    fcf->key_events = p + FARM_KEY_MAX;
    fcf->key_agent_prefix = p + 2 * FARM_KEY_MAX;

    ngx_snprintf(fcf->key_index, FARM_KEY_MAX, "%V:%V:agents%Z",
                 &fcf->prefix, &fcf->service);
    ngx_snprintf(fcf->key_events, FARM_KEY_MAX, "%V:%V:events%Z",
                 &fcf->prefix, &fcf->service);
    p = ngx_snprintf(fcf->key_agent_prefix, FARM_KEY_MAX, "%V:%V:agent:",
                     &fcf->prefix, &fcf->service);
    fcf->key_agent_prefix_len = p - fcf->key_agent_prefix;
    *p = '\0';

    us->peer.init = ngx_http_farm_init_peer;
    fcf->initialized = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                  i;
    ngx_http_farm_srv_conf_t  **farm;
    ngx_http_farm_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_module);

    farm = fmcf->farms.elts;

    for (i = 0; i < fmcf->farms.nelts; i++) {
        if (!farm[i]->initialized) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "another balancing directive (\"hash\", "
                          "\"least_conn\", \"random\", ...) replaced "
                          "\"farm_registry\" in upstream \"%V\" in %s:%ui; "
                          "use \"farm_balance\" instead",
                          &farm[i]->uscf->host, farm[i]->uscf->file_name,
                          farm[i]->uscf->line);
            return NGX_ERROR;
        }
    }

    if (ngx_http_farm_add_variables(cf) != NGX_OK
        || ngx_http_farm_admit_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_farm_reject_init(cf);
}


static ngx_int_t
ngx_http_farm_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_http_farm_srv_conf_t  **farm;
    ngx_http_farm_main_conf_t  *fmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    fmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_farm_module);

    /*
     * A failure here is logged, and the worker serves without what failed:
     * a worker that exits from init_process with an error is never
     * respawned, which would leave the gateway a worker short for good.
     */

    if (ngx_http_farm_queue_init_process(cycle) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "farm: this worker's queue wake-ups failed to start; "
                      "its queued requests wait for their timeout");
    }

    farm = fmcf->farms.elts;

    for (i = 0; i < fmcf->farms.nelts; i++) {
        ngx_http_farm_owner_start(farm[i], cycle);

        if (ngx_http_farm_health_start(farm[i], cycle) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "farm: health checks of upstream \"%V\" failed "
                          "to start in this worker", &farm[i]->uscf->host);
        }

        if (!ngx_http_farm_sync_is_owner(farm[i])) {
            continue;
        }

        if (ngx_http_farm_sync_owner_start(farm[i]) != NGX_OK
            || ngx_http_farm_breaker_start(farm[i], cycle) != NGX_OK
            || farm[i]->registry->start(farm[i], cycle) != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "farm: the registry sync of upstream \"%V\" "
                          "failed to start in this worker; it routes to the "
                          "agents it knows", &farm[i]->uscf->host);
        }
    }

    return NGX_OK;
}


static void
ngx_http_farm_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_http_farm_zone_t        z;
    ngx_http_farm_srv_conf_t  **farm;
    ngx_http_farm_main_conf_t  *fmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return;
    }

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return;
    }

    fmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_farm_module);

    farm = fmcf->farms.elts;

    for (i = 0; i < fmcf->farms.nelts; i++) {
        ngx_http_farm_health_stop(farm[i]);
        farm[i]->registry->stop(farm[i]);

        ngx_http_farm_zone_get(farm[i], &z);
        ngx_http_farm_owner_detach(&z, farm[i]->owner,
                                   ngx_http_farm_owner_gone, NULL);
        farm[i]->owner = NGX_HTTP_FARM_OWNER_NONE;
    }

    ngx_http_farm_queue_exit_process(cycle);
}


/*
 * This worker becomes an owner in the farm's zone, giving back first what
 * dead workers held there (their requests' agents, waiters and client
 * counts), and wakes the waiters that capacity may serve.
 */

static void
ngx_http_farm_owner_start(ngx_http_farm_srv_conf_t *fcf, ngx_cycle_t *cycle)
{
    uint64_t              reclaimed;
    ngx_uint_t            dead, worker, waiters;
    ngx_http_farm_zone_t  z;

    ngx_http_farm_zone_get(fcf, &z);

    worker = (ngx_process == NGX_PROCESS_WORKER) ? ngx_worker : 0;
    waiters = 0;

    fcf->owner = ngx_http_farm_owner_attach(&z, ngx_pid, worker,
                                            fcf->fmcf->tag,
                                            ngx_http_farm_owner_gone,
                                            &waiters, &reclaimed, &dead);

    if (reclaimed) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "farm: upstream \"%V\": gave back %uL request(s) "
                      "held on agents by %ui worker process(es) that "
                      "exited without ending them",
                      &fcf->uscf->host, reclaimed, dead);
    }

    if (dead && (waiters || fcf->client.enabled)) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "farm: upstream \"%V\": gave back %ui queue "
                      "entries and the client counts of %ui worker "
                      "process(es) that exited",
                      &fcf->uscf->host, waiters, dead);
    }

    if (reclaimed || waiters) {
        ngx_http_farm_queue_dispatch(&z, NULL, 0);
    }

    if (fcf->owner == NGX_HTTP_FARM_OWNER_NONE) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "farm: upstream \"%V\": more than %d worker "
                      "processes share the zone; this one queues no "
                      "requests, and what it holds is not given back if it "
                      "crashes", &fcf->uscf->host, NGX_HTTP_FARM_OWNERS);
    }
}


/*
 * What owners that are gone left in the admission state: their waiters
 * (data counts them) and their client counts.  Locked, from
 * ngx_http_farm_owner_attach() and _detach().
 */

static void
ngx_http_farm_owner_gone(ngx_http_farm_zone_t *z, u_char *dead, void *data)
{
    ngx_uint_t  *waiters = data;

    ngx_uint_t  n;

    n = ngx_http_farm_queue_reclaim_locked(z, dead);
    ngx_http_farm_client_reclaim_locked(z, dead);

    if (waiters) {
        *waiters += n;
    }
}
