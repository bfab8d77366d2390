
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 4, per-agent state machine: farm_health_check, active health
 * checks (ngx_http_farm_health_conf.c, the directive; ngx_http_farm_health.c,
 * the scheduling; ngx_http_farm_check.c, one check).  Owns the health fields
 * of the agents and each worker's checks in flight.
 */


#ifndef _NGX_HTTP_FARM_HEALTH_H_INCLUDED_
#define _NGX_HTTP_FARM_HEALTH_H_INCLUDED_


#include "ngx_http_farm_zone.h"


char *ngx_http_farm_health_check(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_farm_health_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle);
void ngx_http_farm_health_stop(ngx_http_farm_srv_conf_t *fcf);


#endif /* _NGX_HTTP_FARM_HEALTH_H_INCLUDED_ */
