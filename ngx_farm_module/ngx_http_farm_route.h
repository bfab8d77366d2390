
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 3, selection: farm_region, farm_region_fallback and farm_require,
 * and the choice of an agent for a filtered request (ngx_http_farm_route.c).
 * Reads the zone model; changes only the chosen agent's pick fields
 * through the subsets.
 */


#ifndef _NGX_HTTP_FARM_ROUTE_H_INCLUDED_
#define _NGX_HTTP_FARM_ROUTE_H_INCLUDED_


#include "ngx_http_farm_request.h"
#include "ngx_http_farm_subset.h"


char *ngx_http_farm_region(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_farm_region_fallback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_farm_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_farm_route_init(ngx_http_request_t *r,
    ngx_http_farm_srv_conf_t *fcf, ngx_http_farm_filter_t *f,
    ngx_http_farm_ctx_t *ctx);
ngx_int_t ngx_http_farm_route_prepare_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f, ngx_http_farm_ctx_t *ctx);
ngx_int_t ngx_http_farm_route_matches_locked(ngx_http_farm_filter_t *f,
    ngx_http_farm_agent_t *a);
uint32_t ngx_http_farm_route_choose_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f, const uint32_t *tried, uint32_t ntried,
    ngx_http_farm_ctx_t *ctx);


#endif /* _NGX_HTTP_FARM_ROUTE_H_INCLUDED_ */
