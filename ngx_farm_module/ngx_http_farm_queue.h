
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 4, admission state: farm_queue, the requests waiting for an agent
 * (ngx_http_farm_queue.c).  Owns the waiters and the queue counters of the
 * zone, and each worker's list of its waiting requests.  A wait ends through
 * the request's ctx->resume, never by a call into the request path.
 */


#ifndef _NGX_HTTP_FARM_QUEUE_H_INCLUDED_
#define _NGX_HTTP_FARM_QUEUE_H_INCLUDED_


#include "ngx_http_farm_request.h"


char *ngx_http_farm_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_farm_queue_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_http_farm_queue_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_farm_queue_zone(ngx_http_farm_zone_t *z);
ngx_int_t ngx_http_farm_queue_reuse(ngx_http_farm_zone_t *z,
    ngx_shm_zone_t *shm_zone);
ngx_int_t ngx_http_farm_queue_wait_locked(ngx_http_request_t *r,
    ngx_http_farm_ctx_t *ctx, ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f);
void ngx_http_farm_queue_dispatch_locked(ngx_http_farm_zone_t *z);
void ngx_http_farm_queue_dispatch(ngx_http_farm_zone_t *z);
void ngx_http_farm_queue_release(ngx_http_farm_zone_t *z, uint32_t slot,
    uint32_t gen);
void ngx_http_farm_queue_cancel(ngx_http_farm_ctx_t *ctx);


#endif /* _NGX_HTTP_FARM_QUEUE_H_INCLUDED_ */
