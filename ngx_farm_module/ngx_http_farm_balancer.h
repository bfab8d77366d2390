
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 6, request path: the balancer (init_peer, get, free) and the
 * per-request context it owns (ngx_http_farm_balancer.c).
 */


#ifndef _NGX_HTTP_FARM_BALANCER_H_INCLUDED_
#define _NGX_HTTP_FARM_BALANCER_H_INCLUDED_


#include "ngx_http_farm_request.h"


ngx_int_t ngx_http_farm_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
ngx_int_t ngx_http_farm_add_variables(ngx_conf_t *cf);
ngx_http_farm_ctx_t *ngx_http_farm_get_ctx(ngx_http_request_t *r);


#endif /* _NGX_HTTP_FARM_BALANCER_H_INCLUDED_ */
