
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 4, admission state: farm_client_limit, the concurrent requests of
 * each client (ngx_http_farm_client.c).  Owns the zone's client tree and its
 * counters.
 */


#ifndef _NGX_HTTP_FARM_CLIENT_H_INCLUDED_
#define _NGX_HTTP_FARM_CLIENT_H_INCLUDED_


#include "ngx_http_farm_request.h"


char *ngx_http_farm_client_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_farm_client_enter(ngx_http_request_t *r,
    ngx_http_farm_ctx_t *ctx, ngx_http_farm_zone_t *z);
void ngx_http_farm_client_leave(ngx_http_farm_zone_t *z,
    ngx_http_farm_client_t *cl);


#endif /* _NGX_HTTP_FARM_CLIENT_H_INCLUDED_ */
