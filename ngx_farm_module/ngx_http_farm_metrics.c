
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_metrics: the farm upstreams in Prometheus' text format 0.0.4, and
 * the log-phase handler that counts each farm request's response class and
 * durations (the request's own counters, sh->stats).
 *
 * The output is a sequence of items (a family's HELP and TYPE lines, one
 * pool's samples of a family, one agent's sample of a family) written into
 * buffers of NGX_HTTP_FARM_METRICS_BUF bytes, each sent as soon as it is
 * full; when the client does not keep up, writing waits for the socket and
 * buffers already sent are reused, so the memory of a scrape does not grow
 * with the number of agents.  Per-agent families copy a page of agents
 * under the zone's lock and format them outside it.  A family's lines stay
 * together, as the format requires, so each per-agent family walks the
 * agents once; the counts by state walk them once more at the start.
 */


#include "ngx_http_farm_module.h"
#include "ngx_http_farm_request.h"
#include "ngx_http_farm_counters.h"
#include "ngx_http_farm_limit_window.h"


#define NGX_HTTP_FARM_METRICS_BUF     (32 * 1024)
#define NGX_HTTP_FARM_METRICS_PAGE    64        /* agents copied per lock */
#define NGX_HTTP_FARM_METRICS_BURST   8         /* buffers per event */

#define NGX_HTTP_FARM_AGENTS_NONE     0
#define NGX_HTTP_FARM_AGENTS_STATE    1
#define NGX_HTTP_FARM_AGENTS_ALL      2

#define NGX_HTTP_FARM_METRICS_SERIES  100000    /* max_agent_series= */

/* agent states, as ngx_http_farm_agent_state_locked() names them */
#define NGX_HTTP_FARM_STATES          8         /* the last: any other */


typedef struct {
    ngx_uint_t                     agents;      /* NGX_HTTP_FARM_AGENTS_* */
    ngx_uint_t                     max_series;
    ngx_shm_zone_t                *counters;    /* "farm_counters" */
} ngx_http_farm_metrics_loc_conf_t;


/* one agent, copied under the lock; its id escaped for a label value */
typedef struct {
    u_char                         id[2 * FARM_ID_MAX];
    size_t                         id_len;
    u_char                         name[NGX_SOCKADDR_STRLEN];
    size_t                         name_len;
    u_char                         region[FARM_REGION_MAX + 1];
    const char                    *state;
    uint32_t                       active;
    uint32_t                       weight;
    uint64_t                       requests;
    uint64_t                       failures;
    uint64_t                       checks;
    uint64_t                       checks_failed;
    ngx_uint_t                     health;
    ngx_uint_t                     breaker;
} ngx_http_farm_metrics_agent_t;


/* one pool: what the first walk over its agents counted */
typedef struct {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_str_t                      label;       /* pool="NAME", escaped */
    ngx_uint_t                     states[NGX_HTTP_FARM_STATES];
    ngx_uint_t                     breakers[3];
    uint64_t                       active;
    ngx_uint_t                     matched;     /* by ?state= */
    ngx_uint_t                     shown;       /* within the budget */
} ngx_http_farm_metrics_pool_t;


typedef struct ngx_http_farm_metrics_ctx_s  ngx_http_farm_metrics_ctx_t;

typedef u_char *(*ngx_http_farm_metrics_pool_pt)(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
typedef u_char *(*ngx_http_farm_metrics_agent_pt)(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a);
typedef u_char *(*ngx_http_farm_metrics_global_pt)(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p);


typedef struct {
    const char                    *name;
    const char                    *type;
    const char                    *help;
    ngx_uint_t                     level;       /* per agent: from this on */
    ngx_http_farm_metrics_pool_pt  pool;
    ngx_http_farm_metrics_agent_pt agent;
    ngx_http_farm_metrics_global_pt global;     /* once, not per pool */
} ngx_http_farm_metrics_family_t;


struct ngx_http_farm_metrics_ctx_s {
    ngx_http_request_t            *request;
    ngx_http_farm_counters_t      *counters;
    ngx_http_farm_metrics_pool_t  *pools;
    ngx_uint_t                     npools;
    ngx_uint_t                     level;
    ngx_str_t                      state;       /* ?state=, without "!" */
    ngx_uint_t                     state_not;
    size_t                         room;        /* the largest item */
    ngx_uint_t                     budget;      /* agents, not yet given */

    /* where the output is */
    ngx_uint_t                     family;
    ngx_uint_t                     pool;
    ngx_uint_t                     started;     /* the family's header */
    uint32_t                       slot;
    ngx_uint_t                     shown;
    ngx_http_farm_metrics_agent_t *page;
    ngx_uint_t                     npage;
    ngx_uint_t                     ipage;
    ngx_uint_t                     done;

    ngx_chain_t                   *free;
    ngx_chain_t                   *busy;
};


static void *ngx_http_farm_metrics_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_farm_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_farm_metrics_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_farm_metrics_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_metrics_args(ngx_http_request_t *r,
    ngx_http_farm_metrics_ctx_t *mc, ngx_http_farm_metrics_loc_conf_t *mlcf);
static void ngx_http_farm_metrics_count(ngx_http_farm_metrics_ctx_t *mc,
    ngx_http_farm_metrics_pool_t *pool);
static ngx_uint_t ngx_http_farm_metrics_match(ngx_http_farm_metrics_ctx_t *mc,
    const char *state);
static void ngx_http_farm_metrics_write(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_metrics_send(ngx_http_farm_metrics_ctx_t *mc);
static u_char *ngx_http_farm_metrics_item(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p);
static void ngx_http_farm_metrics_page(ngx_http_farm_metrics_ctx_t *mc,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_escape(u_char *p, u_char *s, size_t n);
static u_char *ngx_http_farm_metrics_pool_label(u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_sample(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, uint64_t value);
static u_char *ngx_http_farm_metrics_sample2(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, const char *label, const char *lv,
    uint64_t value);
static u_char *ngx_http_farm_metrics_labels(u_char *p, const char *name,
    const char *suffix, ngx_http_farm_metrics_pool_t *pool,
    ngx_uint_t registry);
static u_char *ngx_http_farm_metrics_pool_hist(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_hist_t *h,
    ngx_uint_t registry);
static ngx_http_farm_shctx_t *ngx_http_farm_metrics_sh(
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_registry(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, uint64_t value);
static u_char *ngx_http_farm_metrics_agent(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a,
    uint64_t value);

static u_char *ngx_http_farm_metrics_agents(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_active(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_requests(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_responses(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_retries(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_refusals(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_request_time(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_header_time(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_checks(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_check_time(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_breakers(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_transitions(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_ejections(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_registry_up(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_syncs(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_sync_errors(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_last_sync(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_sync_time(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_rejected(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_queue_depth(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_queue_wait(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_queue_rejected(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_client_rejected(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_shm_size(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_shm_used(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_omitted(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool);
static u_char *ngx_http_farm_metrics_limit_rejected(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p);
static u_char *ngx_http_farm_metrics_limit_failed(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p);

static u_char *ngx_http_farm_metrics_agent_up(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool,
    ngx_http_farm_metrics_agent_t *a);
static u_char *ngx_http_farm_metrics_agent_healthy(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a);
static u_char *ngx_http_farm_metrics_agent_open(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a);
static u_char *ngx_http_farm_metrics_agent_info(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a);
static u_char *ngx_http_farm_metrics_agent_active(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a);
static u_char *ngx_http_farm_metrics_agent_weight(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a);
static u_char *ngx_http_farm_metrics_agent_requests(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a);
static u_char *ngx_http_farm_metrics_agent_failures(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a);
static u_char *ngx_http_farm_metrics_agent_checks(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a);
static u_char *ngx_http_farm_metrics_agent_check_fails(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a);


static ngx_command_t  ngx_http_farm_metrics_commands[] = {

    { ngx_string("farm_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE12,
      ngx_http_farm_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_farm_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_farm_metrics_init,            /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_farm_metrics_create_loc_conf, /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_farm_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_farm_metrics_module_ctx,     /* module context */
    ngx_http_farm_metrics_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static const char  *ngx_http_farm_metrics_states[NGX_HTTP_FARM_STATES] = {
    "up", "half_open", "full", "open", "draining", "down", "checking", "other"
};

static const char  *ngx_http_farm_metrics_reasons[NGX_HTTP_FARM_REFUSALS] = {
    NULL, "no_agent", "no_capability", "bad_capability", "queue_full",
    "queue_timeout", "client_limit", "all_failed"
};

static const char  *ngx_http_farm_metrics_results[] = {
    "success", "timeout", "network_error", "http_status", "body_mismatch"
};


/* the families, in the order they are written */

static ngx_http_farm_metrics_family_t  ngx_http_farm_metrics_families[] = {

    { "farm_agents", "gauge",
      "Registered agents by state (up, half_open, full, open, draining, "
      "down, checking, other).", 0, ngx_http_farm_metrics_agents, NULL,
      NULL },

    { "farm_active_requests", "gauge",
      "Requests in flight to the pool's agents.", 0,
      ngx_http_farm_metrics_active, NULL, NULL },

    { "farm_requests_total", "counter",
      "Requests the balancer took for the pool (retries not counted).", 0,
      ngx_http_farm_metrics_requests, NULL, NULL },

    { "farm_responses_total", "counter",
      "Responses to the pool's requests, by status class.", 0,
      ngx_http_farm_metrics_responses, NULL, NULL },

    { "farm_retries_total", "counter",
      "Tries on another agent after a failed try.", 0,
      ngx_http_farm_metrics_retries, NULL, NULL },

    { "farm_refusals_total", "counter",
      "Requests refused with a JSON 503, 429 or 400, by reason.", 0,
      ngx_http_farm_metrics_refusals, NULL, NULL },

    { "farm_request_duration_seconds", "histogram",
      "Time from the request's first byte to its log phase.", 0,
      ngx_http_farm_metrics_request_time, NULL, NULL },

    { "farm_upstream_header_duration_seconds", "histogram",
      "Time until the answering agent's response header.", 0,
      ngx_http_farm_metrics_header_time, NULL, NULL },

    { "farm_health_checks_total", "counter",
      "Active health checks, by result.", 0,
      ngx_http_farm_metrics_checks, NULL, NULL },

    { "farm_health_check_duration_seconds", "histogram",
      "Duration of active health checks.", 0,
      ngx_http_farm_metrics_check_time, NULL, NULL },

    { "farm_breakers", "gauge",
      "Circuit breakers by state.", 0,
      ngx_http_farm_metrics_breakers, NULL, NULL },

    { "farm_breaker_transitions_total", "counter",
      "Circuit breaker state changes.", 0,
      ngx_http_farm_metrics_transitions, NULL, NULL },

    { "farm_ejections_total", "counter",
      "Agents taken out by their breaker opening.", 0,
      ngx_http_farm_metrics_ejections, NULL, NULL },

    { "farm_registry_up", "gauge",
      "1 when the registry answers the gateway's sync owner.", 0,
      ngx_http_farm_metrics_registry_up, NULL, NULL },

    { "farm_registry_syncs_total", "counter",
      "Full syncs with the registry.", 0,
      ngx_http_farm_metrics_syncs, NULL, NULL },

    { "farm_registry_sync_failures_total", "counter",
      "Times the registry failed or could not be reached.", 0,
      ngx_http_farm_metrics_sync_errors, NULL, NULL },

    { "farm_registry_last_sync_timestamp_seconds", "gauge",
      "Unix time of the last full sync; 0 before the first.", 0,
      ngx_http_farm_metrics_last_sync, NULL, NULL },

    { "farm_registry_sync_duration_seconds", "histogram",
      "Time from the start of a full sync to its records in shared memory.",
      0, ngx_http_farm_metrics_sync_time, NULL, NULL },

    { "farm_registry_records_rejected_total", "counter",
      "Registry records skipped as malformed or not allowed.", 0,
      ngx_http_farm_metrics_rejected, NULL, NULL },

    { "farm_queue_depth", "gauge",
      "Requests waiting in the queue for an agent.", 0,
      ngx_http_farm_metrics_queue_depth, NULL, NULL },

    { "farm_queue_wait_seconds", "histogram",
      "Time a queued request waited until it got an agent.", 0,
      ngx_http_farm_metrics_queue_wait, NULL, NULL },

    { "farm_queue_rejections_total", "counter",
      "Requests the queue refused, by reason (full, timeout).", 0,
      ngx_http_farm_metrics_queue_rejected, NULL, NULL },

    { "farm_client_limit_rejections_total", "counter",
      "Requests refused because their client held too many agents.", 0,
      ngx_http_farm_metrics_client_rejected, NULL, NULL },

    { "farm_shm_size_bytes", "gauge",
      "Size of the pool's shared memory zone.", 0,
      ngx_http_farm_metrics_shm_size, NULL, NULL },

    { "farm_shm_used_bytes", "gauge",
      "Pages of the pool's shared memory zone in use, in bytes.", 0,
      ngx_http_farm_metrics_shm_used, NULL, NULL },

    { "farm_metrics_agents_omitted", "gauge",
      "Agents this scrape left without per-agent series "
      "(max_agent_series).", 0, ngx_http_farm_metrics_omitted, NULL, NULL },

    { "farm_ratelimit_rejections_total", "counter",
      "Requests farm_limit refused, by the window whose limit was reached.",
      0, NULL, NULL, ngx_http_farm_metrics_limit_rejected },

    { "farm_ratelimit_backend_failures_total", "counter",
      "Requests whose rate-limit backend (Redis) failed, by what became of "
      "them (passed: fault_tolerant; refused: a 503).", 0, NULL, NULL,
      ngx_http_farm_metrics_limit_failed },

    { "farm_agent_up", "gauge",
      "1 when the agent takes new requests (state up or half_open).",
      NGX_HTTP_FARM_AGENTS_STATE, NULL, ngx_http_farm_metrics_agent_up,
      NULL },

    { "farm_agent_healthy", "gauge",
      "1 when the agent's active health check passes (or is off).",
      NGX_HTTP_FARM_AGENTS_STATE, NULL, ngx_http_farm_metrics_agent_healthy,
      NULL },

    { "farm_agent_breaker_open", "gauge",
      "1 when the agent's circuit breaker is open.",
      NGX_HTTP_FARM_AGENTS_STATE, NULL, ngx_http_farm_metrics_agent_open,
      NULL },

    { "farm_agent_info", "gauge",
      "Always 1: the agent's address and region, to join on.",
      NGX_HTTP_FARM_AGENTS_ALL, NULL, ngx_http_farm_metrics_agent_info,
      NULL },

    { "farm_agent_active_requests", "gauge",
      "Requests in flight to the agent.",
      NGX_HTTP_FARM_AGENTS_ALL, NULL, ngx_http_farm_metrics_agent_active,
      NULL },

    { "farm_agent_weight", "gauge",
      "The agent's effective weight.",
      NGX_HTTP_FARM_AGENTS_ALL, NULL, ngx_http_farm_metrics_agent_weight,
      NULL },

    { "farm_agent_requests_total", "counter",
      "Tries sent to the agent since it registered.",
      NGX_HTTP_FARM_AGENTS_ALL, NULL, ngx_http_farm_metrics_agent_requests,
      NULL },

    { "farm_agent_failures_total", "counter",
      "Tries to the agent that failed.",
      NGX_HTTP_FARM_AGENTS_ALL, NULL, ngx_http_farm_metrics_agent_failures,
      NULL },

    { "farm_agent_health_checks_total", "counter",
      "Active health checks of the agent.",
      NGX_HTTP_FARM_AGENTS_ALL, NULL, ngx_http_farm_metrics_agent_checks,
      NULL },

    { "farm_agent_health_check_failures_total", "counter",
      "Active health checks of the agent that failed.",
      NGX_HTTP_FARM_AGENTS_ALL, NULL,
      ngx_http_farm_metrics_agent_check_fails,
      NULL },
};

#define NGX_HTTP_FARM_FAMILIES                                               \
    (sizeof(ngx_http_farm_metrics_families)                                  \
     / sizeof(ngx_http_farm_metrics_family_t))


static void *
ngx_http_farm_metrics_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_farm_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_metrics_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    mlcf->agents = NGX_HTTP_FARM_AGENTS_STATE;
    mlcf->max_series = NGX_HTTP_FARM_METRICS_SERIES;

    /*
     * set by ngx_pcalloc():
     *
     *     mlcf->counters = NULL;
     */

    return mlcf;
}


/* farm_metrics [agents=none|state|all] [max_agent_series=N] */

static char *
ngx_http_farm_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_metrics_loc_conf_t *mlcf = conf;

    ngx_int_t                  n;
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "agents=none") == 0) {
            mlcf->agents = NGX_HTTP_FARM_AGENTS_NONE;
            continue;
        }

        if (ngx_strcmp(value[i].data, "agents=state") == 0) {
            mlcf->agents = NGX_HTTP_FARM_AGENTS_STATE;
            continue;
        }

        if (ngx_strcmp(value[i].data, "agents=all") == 0) {
            mlcf->agents = NGX_HTTP_FARM_AGENTS_ALL;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_agent_series=", 17) == 0) {
            n = ngx_atoi(value[i].data + 17, value[i].len - 17);
            if (n == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"max_agent_series\" value "
                                   "\"%V\": a number of series, 0 or more",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            mlcf->max_series = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of \"farm_metrics\": "
                           "expected agents=none|state|all or "
                           "max_agent_series=N", &value[i]);
        return NGX_CONF_ERROR;
    }

    mlcf->counters = ngx_http_farm_counters_zone(cf);
    if (mlcf->counters == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_farm_metrics_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_farm_metrics_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_farm_metrics_log;

    return NGX_OK;
}


/*
 * The log phase of every request: one that went through a farm upstream
 * (it has the farm's request context) counts its response class and its
 * durations, a few atomic adds.
 */

static ngx_int_t
ngx_http_farm_metrics_log(ngx_http_request_t *r)
{
    ngx_uint_t                  status, class;
    ngx_msec_int_t              ms;
    ngx_time_t                 *tp;
    ngx_http_farm_ctx_t        *ctx;
    ngx_http_farm_zone_t        z;
    ngx_http_farm_stats_t      *st;
    ngx_http_upstream_state_t  *us;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_module);

    if (ctx == NULL || ctx->fcf == NULL || ctx->fcf->shm_zone == NULL) {
        return NGX_OK;
    }

    ngx_http_farm_zone_get(ctx->fcf, &z);
    st = &z.sh->stats;

    status = r->err_status ? r->err_status : r->headers_out.status;
    class = (status >= 100 && status < 600) ? status / 100 - 1
                                             : NGX_HTTP_FARM_CLASSES - 1;

    ngx_http_farm_stats_inc(st->responses[class]);

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    ngx_http_farm_hist_observe(&st->request_time, ngx_max(ms, 0));

    if (r->upstream_states && r->upstream_states->nelts) {
        us = r->upstream_states->elts;
        us = &us[r->upstream_states->nelts - 1];

        if (us->header_time != (ngx_msec_t) -1) {
            ngx_http_farm_hist_observe(&st->header_time, us->header_time);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_str_t                          value;
    ngx_uint_t                         i;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_farm_metrics_ctx_t       *mc;
    ngx_http_farm_metrics_loc_conf_t  *mlcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_metrics_module);

    mc = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_metrics_ctx_t));
    if (mc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mc->request = r;
    mc->counters = ngx_http_farm_counters(mlcf->counters);

    rc = ngx_http_farm_metrics_args(r, mc, mlcf);
    if (rc != NGX_OK) {
        return rc;
    }

    mc->page = ngx_palloc(r->pool, NGX_HTTP_FARM_METRICS_PAGE
                                   * sizeof(ngx_http_farm_metrics_agent_t));
    if (mc->page == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, mc, ngx_http_farm_metrics_module);

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    ngx_str_set(&value, "no-store");

    if (ngx_http_farm_add_header(r, "Cache-Control", &value) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    /* the counts by state, before the first family needs them */

    for (i = 0; i < mc->npools; i++) {
        ngx_http_farm_metrics_count(mc, &mc->pools[i]);
    }

    rc = ngx_http_farm_metrics_send(mc);

    if (rc != NGX_AGAIN) {
        return rc;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    r->main->count++;
    r->write_event_handler = ngx_http_farm_metrics_write;

    if (!r->connection->write->ready) {
        ngx_add_timer(r->connection->write, clcf->send_timeout);
    }

    if (ngx_handle_write_event(r->connection->write, clcf->send_lowat)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_ERROR);
    }

    return NGX_DONE;
}


/* ?pool=NAME, ?state=[!]STATE, ?agents=none|state|all */

static ngx_int_t
ngx_http_farm_metrics_args(ngx_http_request_t *r,
    ngx_http_farm_metrics_ctx_t *mc, ngx_http_farm_metrics_loc_conf_t *mlcf)
{
    u_char                        *p;
    size_t                         len;
    ngx_str_t                      want, arg;
    ngx_uint_t                     i, n, per;
    ngx_http_farm_srv_conf_t     **farm;
    ngx_http_farm_main_conf_t     *fmcf;
    ngx_http_farm_metrics_pool_t  *pool;

    mc->level = mlcf->agents;

    if (ngx_http_arg(r, (u_char *) "agents", 6, &arg) == NGX_OK) {
        if (arg.len == 4 && ngx_strncmp(arg.data, "none", 4) == 0) {
            mc->level = NGX_HTTP_FARM_AGENTS_NONE;

        } else if (arg.len == 5 && ngx_strncmp(arg.data, "state", 5) == 0) {
            mc->level = NGX_HTTP_FARM_AGENTS_STATE;

        } else if (arg.len == 3 && ngx_strncmp(arg.data, "all", 3) == 0) {
            mc->level = NGX_HTTP_FARM_AGENTS_ALL;

        } else {
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    if (ngx_http_arg(r, (u_char *) "state", 5, &mc->state) == NGX_OK) {
        if (mc->state.len && mc->state.data[0] == '!') {
            mc->state_not = 1;
            mc->state.data++;
            mc->state.len--;

        } else if (mc->state.len >= 3
                   && ngx_strncasecmp(mc->state.data, (u_char *) "%21", 3)
                      == 0)
        {
            mc->state_not = 1;
            mc->state.data += 3;
            mc->state.len -= 3;
        }
    }

    if (ngx_http_arg(r, (u_char *) "pool", 4, &want) != NGX_OK) {
        want.len = 0;
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_module);
    farm = fmcf->farms.elts;

    mc->pools = ngx_pcalloc(r->pool, (fmcf->farms.nelts + 1)
                                     * sizeof(ngx_http_farm_metrics_pool_t));
    if (mc->pools == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (i = 0; i < fmcf->farms.nelts; i++) {
        if (farm[i]->shm_zone == NULL
            || (want.len
                && (want.len != farm[i]->uscf->host.len
                    || ngx_strncmp(want.data, farm[i]->uscf->host.data,
                                   want.len)
                       != 0)))
        {
            continue;
        }

        pool = &mc->pools[mc->npools++];
        pool->fcf = farm[i];
        len = ngx_max(len, farm[i]->uscf->host.len);

        pool->label.data = ngx_pnalloc(r->pool,
                                       2 * farm[i]->uscf->host.len + 8);
        if (pool->label.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(pool->label.data, "pool=\"", 6);
        p = ngx_http_farm_metrics_escape(p, farm[i]->uscf->host.data,
                                         farm[i]->uscf->host.len);
        *p++ = '"';
        pool->label.len = p - pool->label.data;
    }

    /* an item: a histogram of 15 lines with two escaped labels at most */

    mc->room = 2048 + 16 * 2 * (len + 64)
               + 2 * (FARM_ID_MAX + NGX_SOCKADDR_STRLEN + FARM_REGION_MAX);

    /* the budget, given to the pools in their order */

    per = 0;

    for (i = 0; i < NGX_HTTP_FARM_FAMILIES; i++) {
        n = ngx_http_farm_metrics_families[i].level;
        if (ngx_http_farm_metrics_families[i].agent && n <= mc->level) {
            per++;
        }
    }

    mc->budget = per ? mlcf->max_series / per : 0;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_farm_metrics_match(ngx_http_farm_metrics_ctx_t *mc,
    const char *state)
{
    ngx_uint_t  eq;

    if (mc->state.len == 0) {
        return 1;
    }

    eq = (ngx_strlen(state) == mc->state.len
          && ngx_strncmp(state, mc->state.data, mc->state.len) == 0);

    return mc->state_not ? !eq : eq;
}


/*
 * The first walk over a pool's agents: counts by state and breaker, the
 * requests in flight, the agents ?state= selects and, of them, those the
 * series budget (what is left of it) gives per-agent series.
 */

static void
ngx_http_farm_metrics_count(ngx_http_farm_metrics_ctx_t *mc,
    ngx_http_farm_metrics_pool_t *pool)
{
    uint32_t                i, end;
    ngx_uint_t              s;
    const char             *state;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_zone_get(pool->fcf, &z);

    for (i = 0; i < z.sh->nslots; i = end) {
        end = ngx_min(i + NGX_HTTP_FARM_METRICS_PAGE * 4, z.sh->nslots);

        ngx_shmtx_lock(&z.shpool->mutex);

        for ( /* void */ ; i < end; i++) {
            a = &z.sh->agents[i];

            if (a->state != NGX_HTTP_FARM_SLOT_UP) {
                continue;
            }

            state = ngx_http_farm_agent_state_locked(a);

            /* the candidate by its first letters, then checked */

            switch (state[0]) {
            case 'u':
                s = 0;
                break;
            case 'h':
                s = 1;
                break;
            case 'f':
                s = 2;
                break;
            case 'o':
                s = 3;
                break;
            case 'd':
                s = (state[1] == 'r') ? 4 : 5;
                break;
            case 'c':
                s = 6;
                break;
            default:
                s = NGX_HTTP_FARM_STATES - 1;
            }

            if (ngx_strcmp(state, ngx_http_farm_metrics_states[s]) != 0) {
                s = NGX_HTTP_FARM_STATES - 1;
            }

            pool->states[s]++;
            pool->breakers[ngx_min(a->breaker, 2)]++;
            pool->active += a->pick->active;

            if (ngx_http_farm_metrics_match(mc, state)) {
                pool->matched++;
            }
        }

        ngx_shmtx_unlock(&z.shpool->mutex);
    }

    pool->shown = ngx_min(pool->matched, mc->budget);
    mc->budget -= pool->shown;
}


static void
ngx_http_farm_metrics_write(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_event_t                  *wev;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_farm_metrics_ctx_t  *mc;

    wev = r->connection->write;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (wev->timedout) {
        r->connection->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    mc = ngx_http_get_module_ctx(r, ngx_http_farm_metrics_module);

    rc = ngx_http_farm_metrics_send(mc);

    if (rc == NGX_AGAIN) {
        if (!wev->ready && !wev->timer_set) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * Writes and sends buffers until the output is complete (NGX_OK: the rest
 * of it, if the socket has not taken it all yet, is for
 * ngx_http_finalize_request() to send), or the connection holds unsent
 * data (NGX_AGAIN: call again when the socket can take more), or
 * NGX_ERROR.
 */

static ngx_int_t
ngx_http_farm_metrics_send(ngx_http_farm_metrics_ctx_t *mc)
{
    u_char              *p;
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_uint_t           sent;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = mc->request;
    sent = 0;

    if (mc->busy || mc->done) {
        rc = ngx_http_output_filter(r, NULL);

        cl = NULL;
        ngx_chain_update_chains(r->pool, &mc->free, &mc->busy, &cl,
                                (ngx_buf_tag_t) &ngx_http_farm_metrics_module);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        /* finished: what is left to send is ngx_http_finalize_request()'s */

        if (mc->done) {
            return NGX_OK;
        }

        if (rc == NGX_AGAIN || r->connection->buffered) {
            return NGX_AGAIN;
        }
    }

    for ( ;; ) {
        if (mc->free) {
            cl = mc->free;
            mc->free = cl->next;
            cl->next = NULL;
            b = cl->buf;
            b->pos = b->start;
            b->last = b->start;

        } else {
            b = ngx_create_temp_buf(r->pool, ngx_max(mc->room * 2,
                                                NGX_HTTP_FARM_METRICS_BUF));
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->tag = (ngx_buf_tag_t) &ngx_http_farm_metrics_module;

            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf = b;
            cl->next = NULL;
        }

        p = b->last;

        while (!mc->done && (size_t) (b->end - p) >= mc->room) {
            p = ngx_http_farm_metrics_item(mc, p);
        }

        b->last = p;

        if (mc->done) {
            b->last_buf = (r == r->main) ? 1 : 0;
            b->last_in_chain = 1;
        }

        rc = ngx_http_output_filter(r, cl);

        ngx_chain_update_chains(r->pool, &mc->free, &mc->busy, &cl,
                                (ngx_buf_tag_t) &ngx_http_farm_metrics_module);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (mc->done) {
            return NGX_OK;
        }

        if (rc == NGX_AGAIN || r->connection->buffered) {
            return NGX_AGAIN;
        }

        /* the other connections of this worker get their turn */

        if (++sent == NGX_HTTP_FARM_METRICS_BURST) {
            ngx_post_event(r->connection->write, &ngx_posted_events);
            return NGX_AGAIN;
        }
    }
}


/* Writes the next item at p (room for mc->room bytes); sets mc->done. */

static u_char *
ngx_http_farm_metrics_item(ngx_http_farm_metrics_ctx_t *mc, u_char *p)
{
    ngx_http_farm_metrics_pool_t    *pool;
    ngx_http_farm_metrics_family_t  *f;

    for ( ;; ) {
        if (mc->family == NGX_HTTP_FARM_FAMILIES) {
            mc->done = 1;
            return p;
        }

        f = &ngx_http_farm_metrics_families[mc->family];

        if (!mc->started) {
            if (f->agent && f->level > mc->level) {
                mc->family++;
                continue;
            }

            mc->started = 1;
            mc->pool = 0;
            mc->slot = 0;
            mc->shown = 0;
            mc->npage = 0;
            mc->ipage = 0;

            return ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                               f->name, f->help, f->name, f->type);
        }

        if (f->global) {
            mc->family++;
            mc->started = 0;

            if (mc->counters == NULL) {
                continue;
            }

            return f->global(mc, p);
        }

        if (mc->pool == mc->npools) {
            mc->family++;
            mc->started = 0;
            continue;
        }

        pool = &mc->pools[mc->pool];

        if (f->pool) {
            mc->pool++;
            return f->pool(mc, p, pool);
        }

        if (mc->ipage == mc->npage) {
            if (mc->slot >= ngx_http_farm_metrics_sh(pool)->nslots
                || mc->shown >= pool->shown)
            {
                mc->pool++;
                mc->slot = 0;
                mc->shown = 0;
                continue;
            }

            /* a page may be empty: the loop goes on from mc->slot */

            ngx_http_farm_metrics_page(mc, pool);
            continue;
        }

        return f->agent(mc, p, pool, &mc->page[mc->ipage++]);
    }
}


/*
 * Copies the next page of the pool's agents that ?state= selects, from
 * mc->slot on, as long as the pool's budget lasts: under the lock for one
 * page at most.
 */

static void
ngx_http_farm_metrics_page(ngx_http_farm_metrics_ctx_t *mc,
    ngx_http_farm_metrics_pool_t *pool)
{
    uint32_t                        end;
    const char                     *state;
    ngx_http_farm_zone_t            z;
    ngx_http_farm_agent_t          *a;
    ngx_http_farm_metrics_agent_t  *m;

    mc->npage = 0;
    mc->ipage = 0;

    ngx_http_farm_zone_get(pool->fcf, &z);

    end = ngx_min(mc->slot + NGX_HTTP_FARM_METRICS_PAGE * 4, z.sh->nslots);

    ngx_shmtx_lock(&z.shpool->mutex);

    while (mc->slot < end
           && mc->npage < NGX_HTTP_FARM_METRICS_PAGE
           && mc->shown < pool->shown)
    {
        a = &z.sh->agents[mc->slot++];

        if (a->state != NGX_HTTP_FARM_SLOT_UP) {
            continue;
        }

        state = ngx_http_farm_agent_state_locked(a);

        if (!ngx_http_farm_metrics_match(mc, state)) {
            continue;
        }

        m = &mc->page[mc->npage++];
        mc->shown++;

        m->id_len = ngx_http_farm_metrics_escape(m->id, a->sn.str.data,
                                                 a->sn.str.len)
                    - m->id;
        m->name_len = a->name_len;
        ngx_memcpy(m->name, a->name, a->name_len);

        if (a->region) {
            ngx_cpystrn(m->region, z.sh->regions[a->region - 1],
                        FARM_REGION_MAX + 1);

        } else {
            m->region[0] = '\0';
        }

        m->state = state;
        m->active = a->pick->active;
        m->weight = a->pick->weight;
        m->requests = a->requests;
        m->failures = a->failures;
        m->checks = a->checks;
        m->checks_failed = a->checks_failed;
        m->health = a->health;
        m->breaker = a->breaker;
    }

    ngx_shmtx_unlock(&z.shpool->mutex);
}


/* a label value: backslash, double quote and newline escaped */

static u_char *
ngx_http_farm_metrics_escape(u_char *p, u_char *s, size_t n)
{
    while (n--) {
        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
            *p++ = *s++;

        } else if (*s == '\n') {
            *p++ = '\\';
            *p++ = 'n';
            s++;

        } else {
            *p++ = *s++;
        }
    }

    return p;
}


/* pool="NAME": the labels every pool sample starts with */

static u_char *
ngx_http_farm_metrics_pool_label(u_char *p, ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_cpymem(p, pool->label.data, pool->label.len);
}


/* name{pool="NAME"} value */

static u_char *
ngx_http_farm_metrics_sample(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, uint64_t value)
{
    p = ngx_sprintf(p, "%s{", name);
    p = ngx_http_farm_metrics_pool_label(p, pool);

    return ngx_sprintf(p, "} %uL\n", value);
}


/* name{pool="NAME",label="value"} value */

static u_char *
ngx_http_farm_metrics_sample2(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, const char *label, const char *lv,
    uint64_t value)
{
    p = ngx_sprintf(p, "%s{", name);
    p = ngx_http_farm_metrics_pool_label(p, pool);

    return ngx_sprintf(p, ",%s=\"%s\"} %uL\n", label, lv, value);
}


/* name_suffix{pool="NAME"[,registry="..."] */

static u_char *
ngx_http_farm_metrics_labels(u_char *p, const char *name, const char *suffix,
    ngx_http_farm_metrics_pool_t *pool, ngx_uint_t registry)
{
    p = ngx_sprintf(p, "%s%s{", name, suffix);
    p = ngx_http_farm_metrics_pool_label(p, pool);

    if (registry) {
        p = ngx_sprintf(p, ",registry=\"%s\"",
                        pool->fcf->url.type == FARM_URL_CONSUL ? "consul"
                                                               : "redis");
    }

    return p;
}


/*
 * A histogram: cumulative buckets with "le" in seconds, +Inf, sum and
 * count, each line with the pool's labels (and the registry's).
 */

static u_char *
ngx_http_farm_metrics_pool_hist(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_hist_t *h,
    ngx_uint_t registry)
{
    uint64_t    count, sum;
    ngx_uint_t  i;
    ngx_msec_t  bound;

    count = 0;

    for (i = 0; i < NGX_HTTP_FARM_HIST_N; i++) {
        count += h->bucket[i];
        bound = ngx_http_farm_hist_bound(i);

        p = ngx_http_farm_metrics_labels(p, name, "_bucket", pool, registry);

        if (bound) {
            p = ngx_sprintf(p, ",le=\"%ui.%03ui\"} %uL\n",
                            (ngx_uint_t) (bound / 1000),
                            (ngx_uint_t) (bound % 1000), count);

        } else {
            p = ngx_sprintf(p, ",le=\"+Inf\"} %uL\n", count);
        }
    }

    sum = h->sum;

    p = ngx_http_farm_metrics_labels(p, name, "_sum", pool, registry);
    p = ngx_sprintf(p, "} %uL.%03uL\n", sum / 1000, sum % 1000);

    p = ngx_http_farm_metrics_labels(p, name, "_count", pool, registry);

    return ngx_sprintf(p, "} %uL\n", count);
}


static ngx_http_farm_shctx_t *
ngx_http_farm_metrics_sh(ngx_http_farm_metrics_pool_t *pool)
{
    ngx_http_farm_zone_t  z;

    ngx_http_farm_zone_get(pool->fcf, &z);

    return z.sh;
}


static u_char *
ngx_http_farm_metrics_agents(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    ngx_uint_t  s;

    for (s = 0; s < NGX_HTTP_FARM_STATES; s++) {
        p = ngx_http_farm_metrics_sample2(p, "farm_agents", pool, "state",
                                          ngx_http_farm_metrics_states[s],
                                          pool->states[s]);
    }

    return p;
}


static u_char *
ngx_http_farm_metrics_active(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_sample(p, "farm_active_requests", pool,
                                        pool->active);
}


static u_char *
ngx_http_farm_metrics_requests(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_sample(p, "farm_requests_total", pool,
                                        ngx_http_farm_metrics_sh(pool)
                                        ->requests);
}


static u_char *
ngx_http_farm_metrics_responses(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    static const char      *codes[NGX_HTTP_FARM_CLASSES] = {
        "1xx", "2xx", "3xx", "4xx", "5xx", "other"
    };

    ngx_uint_t              i;
    ngx_http_farm_shctx_t  *sh;

    sh = ngx_http_farm_metrics_sh(pool);

    for (i = 0; i < NGX_HTTP_FARM_CLASSES; i++) {
        p = ngx_http_farm_metrics_sample2(p, "farm_responses_total", pool,
                                          "code", codes[i],
                                          sh->stats.responses[i]);
    }

    return p;
}


static u_char *
ngx_http_farm_metrics_retries(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_sample(p, "farm_retries_total", pool,
                                        ngx_http_farm_metrics_sh(pool)
                                        ->stats.retries);
}


static u_char *
ngx_http_farm_metrics_refusals(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    ngx_uint_t              i;
    ngx_http_farm_shctx_t  *sh;

    sh = ngx_http_farm_metrics_sh(pool);

    for (i = 1; i < NGX_HTTP_FARM_REFUSALS; i++) {
        p = ngx_http_farm_metrics_sample2(p, "farm_refusals_total", pool,
                                          "reason",
                                          ngx_http_farm_metrics_reasons[i],
                                          sh->stats.refusals[i]);
    }

    return p;
}


static u_char *
ngx_http_farm_metrics_request_time(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_pool_hist(p, "farm_request_duration_seconds",
                                           pool,
                                           &ngx_http_farm_metrics_sh(pool)
                                           ->stats.request_time, 0);
}


static u_char *
ngx_http_farm_metrics_header_time(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_pool_hist(p,
                                     "farm_upstream_header_duration_seconds",
                                     pool, &ngx_http_farm_metrics_sh(pool)
                                           ->stats.header_time, 0);
}


static u_char *
ngx_http_farm_metrics_checks(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    ngx_uint_t              i;
    ngx_http_farm_shctx_t  *sh;

    sh = ngx_http_farm_metrics_sh(pool);

    for (i = 0; i < NGX_HTTP_FARM_CHECK_RESULTS; i++) {
        p = ngx_http_farm_metrics_sample2(p, "farm_health_checks_total", pool,
                                          "result",
                                          ngx_http_farm_metrics_results[i],
                                          sh->stats.checks[i]);
    }

    return p;
}


static u_char *
ngx_http_farm_metrics_check_time(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_pool_hist(p,
                                        "farm_health_check_duration_seconds",
                                        pool, &ngx_http_farm_metrics_sh(pool)
                                              ->stats.check_time, 0);
}


static u_char *
ngx_http_farm_metrics_breakers(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    p = ngx_http_farm_metrics_sample2(p, "farm_breakers", pool, "state",
                                      "closed", pool->breakers[0]);
    p = ngx_http_farm_metrics_sample2(p, "farm_breakers", pool, "state",
                                      "open", pool->breakers[1]);

    return ngx_http_farm_metrics_sample2(p, "farm_breakers", pool, "state",
                                         "half_open", pool->breakers[2]);
}


static u_char *
ngx_http_farm_metrics_transitions(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    static const char      *from[NGX_HTTP_FARM_TRANSITIONS] = {
        "closed", "open", "half_open", "half_open"
    };
    static const char      *to[NGX_HTTP_FARM_TRANSITIONS] = {
        "open", "half_open", "closed", "open"
    };

    ngx_uint_t              i;
    ngx_http_farm_shctx_t  *sh;

    sh = ngx_http_farm_metrics_sh(pool);

    for (i = 0; i < NGX_HTTP_FARM_TRANSITIONS; i++) {
        p = ngx_sprintf(p, "farm_breaker_transitions_total{");
        p = ngx_http_farm_metrics_pool_label(p, pool);
        p = ngx_sprintf(p, ",from=\"%s\",to=\"%s\"} %uL\n", from[i], to[i],
                        (uint64_t) sh->stats.transitions[i]);
    }

    return p;
}


static u_char *
ngx_http_farm_metrics_ejections(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_sample(p, "farm_ejections_total", pool,
                                        ngx_http_farm_metrics_sh(pool)
                                        ->stats.ejections);
}


/* name{pool="NAME",registry="redis|consul"} value */

static u_char *
ngx_http_farm_metrics_registry(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, uint64_t value)
{
    return ngx_http_farm_metrics_sample2(p, name, pool, "registry",
                                         pool->fcf->url.type
                                         == FARM_URL_CONSUL ? "consul"
                                                            : "redis",
                                         value);
}


static u_char *
ngx_http_farm_metrics_registry_up(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_registry(p, "farm_registry_up", pool,
                                          ngx_http_farm_metrics_sh(pool)
                                          ->registry_up ? 1 : 0);
}


static u_char *
ngx_http_farm_metrics_syncs(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_registry(p, "farm_registry_syncs_total",
                                          pool, ngx_http_farm_metrics_sh(pool)
                                                ->syncs);
}


static u_char *
ngx_http_farm_metrics_sync_errors(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_registry(p,
                                          "farm_registry_sync_failures_total",
                                          pool, ngx_http_farm_metrics_sh(pool)
                                                ->sync_errors);
}


static u_char *
ngx_http_farm_metrics_last_sync(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_registry(p,
                                   "farm_registry_last_sync_timestamp_seconds",
                                   pool, (uint64_t)
                                         ngx_http_farm_metrics_sh(pool)
                                         ->last_sync);
}


static u_char *
ngx_http_farm_metrics_sync_time(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_pool_hist(p,
                                        "farm_registry_sync_duration_seconds",
                                        pool, &ngx_http_farm_metrics_sh(pool)
                                              ->stats.sync_time, 1);
}


static u_char *
ngx_http_farm_metrics_rejected(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_registry(p,
                                       "farm_registry_records_rejected_total",
                                       pool, ngx_http_farm_metrics_sh(pool)
                                             ->stats.records_rejected);
}


static u_char *
ngx_http_farm_metrics_queue_depth(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_sample(p, "farm_queue_depth", pool,
                                        ngx_http_farm_metrics_sh(pool)
                                        ->qlen);
}


static u_char *
ngx_http_farm_metrics_queue_wait(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_pool_hist(p, "farm_queue_wait_seconds", pool,
                                           &ngx_http_farm_metrics_sh(pool)
                                           ->stats.queue_wait, 0);
}


static u_char *
ngx_http_farm_metrics_queue_rejected(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool)
{
    ngx_http_farm_shctx_t  *sh;

    sh = ngx_http_farm_metrics_sh(pool);

    p = ngx_http_farm_metrics_sample2(p, "farm_queue_rejections_total", pool,
                                      "reason", "full", sh->queue_full);

    return ngx_http_farm_metrics_sample2(p, "farm_queue_rejections_total",
                                         pool, "reason", "timeout",
                                         sh->timed_out);
}


static u_char *
ngx_http_farm_metrics_client_rejected(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_sample(p,
                                        "farm_client_limit_rejections_total",
                                        pool, ngx_http_farm_metrics_sh(pool)
                                              ->client_limited);
}


static u_char *
ngx_http_farm_metrics_shm_size(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_sample(p, "farm_shm_size_bytes", pool,
                                        pool->fcf->shm_zone->shm.size);
}


static u_char *
ngx_http_farm_metrics_shm_used(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    ngx_uint_t             pages;
    ngx_http_farm_zone_t   z;

    ngx_http_farm_zone_get(pool->fcf, &z);

    pages = (z.shpool->end - z.shpool->start) / ngx_pagesize;

    return ngx_http_farm_metrics_sample(p, "farm_shm_used_bytes", pool,
                                        (uint64_t) (pages - z.shpool->pfree)
                                        * ngx_pagesize);
}


static u_char *
ngx_http_farm_metrics_omitted(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    ngx_uint_t  omitted;

    omitted = (mc->level == NGX_HTTP_FARM_AGENTS_NONE) ? 0
              : pool->matched - pool->shown;

    return ngx_http_farm_metrics_sample(p, "farm_metrics_agents_omitted", pool,
                                        omitted);
}


/* name{pool="NAME",agent="ID"} value */

static u_char *
ngx_http_farm_metrics_agent(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a,
    uint64_t value)
{
    u_char   digits[NGX_INT64_LEN], *d;

    /* ngx_sprintf() aside: these lines are most of a large scrape */

    while (*name) {
        *p++ = *name++;
    }

    *p++ = '{';
    p = ngx_cpymem(p, pool->label.data, pool->label.len);
    p = ngx_cpymem(p, ",agent=\"", 8);
    p = ngx_cpymem(p, a->id, a->id_len);
    p = ngx_cpymem(p, "\"} ", 3);

    d = digits + NGX_INT64_LEN;

    do {
        *--d = (u_char) ('0' + value % 10);
        value /= 10;
    } while (value);

    p = ngx_cpymem(p, d, digits + NGX_INT64_LEN - d);
    *p++ = '\n';

    return p;
}


static u_char *
ngx_http_farm_metrics_agent_up(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a)
{
    return ngx_http_farm_metrics_agent(p, "farm_agent_up", pool, a,
                                       ngx_strcmp(a->state, "up") == 0
                                       || ngx_strcmp(a->state, "half_open")
                                          == 0);
}


static u_char *
ngx_http_farm_metrics_agent_healthy(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool,
    ngx_http_farm_metrics_agent_t *a)
{
    return ngx_http_farm_metrics_agent(p, "farm_agent_healthy", pool, a,
                                       a->health == NGX_HTTP_FARM_HEALTH_UP);
}


static u_char *
ngx_http_farm_metrics_agent_open(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a)
{
    return ngx_http_farm_metrics_agent(p, "farm_agent_breaker_open", pool, a,
                                       a->breaker
                                       == NGX_HTTP_FARM_BREAKER_OPEN);
}


static u_char *
ngx_http_farm_metrics_agent_info(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a)
{
    p = ngx_cpymem(p, "farm_agent_info{", 16);
    p = ngx_http_farm_metrics_pool_label(p, pool);
    p = ngx_cpymem(p, ",agent=\"", 8);
    p = ngx_cpymem(p, a->id, a->id_len);
    p = ngx_cpymem(p, "\",address=\"", 11);
    p = ngx_http_farm_metrics_escape(p, a->name, a->name_len);
    p = ngx_cpymem(p, "\",region=\"", 10);
    p = ngx_http_farm_metrics_escape(p, a->region, ngx_strlen(a->region));

    return ngx_cpymem(p, "\"} 1\n", 5);
}


static u_char *
ngx_http_farm_metrics_agent_active(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool,
    ngx_http_farm_metrics_agent_t *a)
{
    return ngx_http_farm_metrics_agent(p, "farm_agent_active_requests", pool,
                                       a, a->active);
}


static u_char *
ngx_http_farm_metrics_agent_weight(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool,
    ngx_http_farm_metrics_agent_t *a)
{
    return ngx_http_farm_metrics_agent(p, "farm_agent_weight", pool, a,
                                       a->weight);
}


static u_char *
ngx_http_farm_metrics_agent_requests(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool,
    ngx_http_farm_metrics_agent_t *a)
{
    return ngx_http_farm_metrics_agent(p, "farm_agent_requests_total", pool,
                                       a, a->requests);
}


static u_char *
ngx_http_farm_metrics_agent_failures(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool,
    ngx_http_farm_metrics_agent_t *a)
{
    return ngx_http_farm_metrics_agent(p, "farm_agent_failures_total", pool,
                                       a, a->failures);
}


static u_char *
ngx_http_farm_metrics_agent_checks(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool,
    ngx_http_farm_metrics_agent_t *a)
{
    return ngx_http_farm_metrics_agent(p, "farm_agent_health_checks_total",
                                       pool, a, a->checks);
}


static u_char *
ngx_http_farm_metrics_agent_check_fails(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p, ngx_http_farm_metrics_pool_t *pool,
    ngx_http_farm_metrics_agent_t *a)
{
    return ngx_http_farm_metrics_agent(p,
                                      "farm_agent_health_check_failures_total",
                                      pool, a, a->checks_failed);
}


static u_char *
ngx_http_farm_metrics_limit_rejected(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p)
{
    ngx_uint_t  w;

    for (w = 0; w < NGX_HTTP_FARM_COUNTER_WINDOWS; w++) {
        p = ngx_sprintf(p, "farm_ratelimit_rejections_total{window=\"%s\"} "
                        "%uL\n",
                        w < FARM_WIN_N ? farm_window_name(w) : "other",
                        (uint64_t) mc->counters->limit_rejected[w]);
    }

    return p;
}


static u_char *
ngx_http_farm_metrics_limit_failed(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p)
{
    return ngx_sprintf(p, "farm_ratelimit_backend_failures_total"
                       "{result=\"passed\"} %uL\n"
                       "farm_ratelimit_backend_failures_total"
                       "{result=\"refused\"} %uL\n",
                       (uint64_t) mc->counters->limit_fail_open,
                       (uint64_t) mc->counters->limit_unavailable);
}
