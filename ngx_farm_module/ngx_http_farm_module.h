
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 7, the module glue: ngx_http_farm_module.c (directives, the zone's
 * init, the registry backends, process hooks) and ngx_http_farm_status.c
 * (farm_status).  The layers below, lowest first (docs/design.md):
 *
 *   0  pure         ngx_http_farm_pick.h, registry/
 *   1  nginx utils  ngx_http_farm_util.h
 *   2  zone model   ngx_http_farm_conf.h, ngx_http_farm_zone.h,
 *                   ngx_http_farm_subset.h
 *   3  selection    ngx_http_farm_request.h, ngx_http_farm_route.h
 *   4  agent state  ngx_http_farm_health.h, ngx_http_farm_breaker.h,
 *      admission    ngx_http_farm_queue.h, ngx_http_farm_client.h
 *   5  registry     ngx_http_farm_state.h, ngx_http_farm_sync.h,
 *                   ngx_http_farm_redis.h, ngx_http_farm_consul.h
 *   6  request path ngx_http_farm_balancer.h, ngx_http_farm_admit.h,
 *                   ngx_http_farm_reject.h
 *
 * scripts/check-layers.pl (make check-layers) enforces it.
 */


#ifndef _NGX_HTTP_FARM_MODULE_H_INCLUDED_
#define _NGX_HTTP_FARM_MODULE_H_INCLUDED_


#include "ngx_http_farm_conf.h"


/* ngx_http_farm_module.c */
ngx_int_t ngx_http_farm_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);

/* ngx_http_farm_registry_conf.c */
char *ngx_http_farm_registry_param(ngx_conf_t *cf,
    ngx_http_farm_srv_conf_t *fcf, ngx_str_t *value, ssize_t *size);
char *ngx_http_farm_registry_consul_conf(ngx_conf_t *cf,
    ngx_http_farm_srv_conf_t *fcf);

/* ngx_http_farm_status.c */
char *ngx_http_farm_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


#endif /* _NGX_HTTP_FARM_MODULE_H_INCLUDED_ */
