
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 4, per-agent state machine: farm_breaker, the passive circuit
 * breaker (ngx_http_farm_breaker.c).  Owns the breaker fields of the agents
 * and the zone's ejected count and next reopening.
 */


#ifndef _NGX_HTTP_FARM_BREAKER_H_INCLUDED_
#define _NGX_HTTP_FARM_BREAKER_H_INCLUDED_


#include "ngx_http_farm_zone.h"


char *ngx_http_farm_breaker(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_farm_breaker_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle);
ngx_uint_t ngx_http_farm_breaker_outcome_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a, ngx_int_t ok, ngx_http_farm_note_t *note);
ngx_int_t ngx_http_farm_breaker_failed(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_request_t *r, ngx_uint_t state);


#endif /* _NGX_HTTP_FARM_BREAKER_H_INCLUDED_ */
