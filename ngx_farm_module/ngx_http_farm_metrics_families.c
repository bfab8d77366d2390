
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The families of farm_metrics (docs/observability.md): their names, types
 * and help texts, in the order a scrape writes them, and the functions that
 * write one pool's samples of a family, one agent's, or the gateway's.
 * Each writes at most mc->room bytes (ngx_http_farm_metrics.c).
 */


#include "ngx_http_farm_metrics.h"
#include "ngx_http_farm_limit_window.h"

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
static u_char *ngx_http_farm_metrics_registry(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, uint64_t value);
static const char *ngx_http_farm_metrics_registry_name(
    ngx_http_farm_srv_conf_t *fcf);
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
static u_char *ngx_http_farm_metrics_propagation(
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


const char  *ngx_http_farm_metrics_states[NGX_HTTP_FARM_STATES] = {
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

ngx_http_farm_metrics_family_t  ngx_http_farm_metrics_families[] = {

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

    { "farm_registry_propagation_seconds", "histogram",
      "Time from the ts an agent wrote in its record to the record in "
      "shared memory.", 0,
      ngx_http_farm_metrics_propagation, NULL, NULL },

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

ngx_uint_t  ngx_http_farm_metrics_nfamilies =
    sizeof(ngx_http_farm_metrics_families)
    / sizeof(ngx_http_farm_metrics_family_t);


/* a label value: backslash, double quote and newline escaped */

u_char *
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
                        ngx_http_farm_metrics_registry_name(pool->fcf));
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


ngx_http_farm_shctx_t *
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


/* name{pool="NAME",registry="redis|consul|builtin"} value */

static u_char *
ngx_http_farm_metrics_registry(u_char *p, const char *name,
    ngx_http_farm_metrics_pool_t *pool, uint64_t value)
{
    return ngx_http_farm_metrics_sample2(p, name, pool, "registry",
                              ngx_http_farm_metrics_registry_name(pool->fcf),
                              value);
}


/* the registry label: the built-in one also for farm_agent lines alone */

static const char *
ngx_http_farm_metrics_registry_name(ngx_http_farm_srv_conf_t *fcf)
{
    if (fcf->builtin) {
        return "builtin";
    }

    return (fcf->url.type == FARM_URL_CONSUL) ? "consul" : "redis";
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
ngx_http_farm_metrics_propagation(ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool)
{
    return ngx_http_farm_metrics_pool_hist(p,
                                        "farm_registry_propagation_seconds",
                                        pool, &ngx_http_farm_metrics_sh(pool)
                                              ->stats.propagation, 1);
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
