
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 4, admission state: farm_queue, the requests waiting for an agent.
 * Three files: the wait lists in the zone and their dispatch
 * (ngx_http_farm_queue.c, owner of the zone's waiters and queue counters);
 * each worker's waiting requests, its wake-ups and their timeouts
 * (ngx_http_farm_queue_wait.c); the directive (ngx_http_farm_queue_conf.c).
 * A wait ends through the request's ctx->resume, never by a call into the
 * request path.
 */


#ifndef _NGX_HTTP_FARM_QUEUE_H_INCLUDED_
#define _NGX_HTTP_FARM_QUEUE_H_INCLUDED_


#include "ngx_http_farm_request.h"


/* a queue entry's state */
#define NGX_HTTP_FARM_WAITER_FREE      0
#define NGX_HTTP_FARM_WAITER_WAITING   1
#define NGX_HTTP_FARM_WAITER_GRANTED   2


/* ngx_http_farm_queue_conf.c */
char *ngx_http_farm_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_farm_queue_priority(ngx_http_request_t *r,
    ngx_http_farm_srv_conf_t *fcf, ngx_int_t *priority);

/* ngx_http_farm_queue.c: the wait lists, in the zone */
size_t ngx_http_farm_queue_size(ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_queue_zone(ngx_http_farm_zone_t *z);
ngx_int_t ngx_http_farm_queue_reuse(ngx_http_farm_zone_t *z,
    ngx_shm_zone_t *shm_zone);
uint32_t ngx_http_farm_queue_enter_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f, ngx_int_t priority, ngx_uint_t owner,
    ngx_msec_t timeout, void *data, uint64_t *seq);
void *ngx_http_farm_queue_grant_next_locked(ngx_http_farm_zone_t *z,
    ngx_uint_t owner, uint32_t *slot, uint32_t *gen);
ngx_uint_t ngx_http_farm_queue_leave_locked(ngx_http_farm_zone_t *z,
    uint32_t i, uint64_t seq, ngx_uint_t cancel, uint32_t *slot,
    uint32_t *gen);
void ngx_http_farm_queue_expire_locked(ngx_http_farm_zone_t *z);
void ngx_http_farm_queue_sweep_locked(ngx_http_farm_zone_t *z);
ngx_uint_t ngx_http_farm_queue_reclaim_locked(ngx_http_farm_zone_t *z,
    u_char *dead);
void ngx_http_farm_queue_dispatch_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a);
void ngx_http_farm_queue_dispatch(ngx_http_farm_zone_t *z, u_char *id,
    size_t len);
void ngx_http_farm_queue_release(ngx_http_farm_zone_t *z, uint32_t slot,
    uint32_t gen, ngx_uint_t owner);

/* ngx_http_farm_queue_wait.c: this worker's waiting requests */
ngx_int_t ngx_http_farm_queue_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_http_farm_queue_init_process(ngx_cycle_t *cycle);
void ngx_http_farm_queue_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_farm_queue_wait_locked(ngx_http_request_t *r,
    ngx_http_farm_ctx_t *ctx, ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f, ngx_int_t priority);
void ngx_http_farm_queue_cancel(ngx_http_farm_ctx_t *ctx);


#endif /* _NGX_HTTP_FARM_QUEUE_H_INCLUDED_ */
