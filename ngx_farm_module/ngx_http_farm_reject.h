
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 6, request path: what a client gets when no agent can take its
 * request, and the response filters that say so (ngx_http_farm_reject.c).
 */


#ifndef _NGX_HTTP_FARM_REJECT_H_INCLUDED_
#define _NGX_HTTP_FARM_REJECT_H_INCLUDED_


#include "ngx_http_farm_request.h"


ngx_int_t ngx_http_farm_reject_init(ngx_conf_t *cf);
ngx_int_t ngx_http_farm_refuse(ngx_http_request_t *r, ngx_http_farm_ctx_t *ctx,
    ngx_uint_t reason);


#endif /* _NGX_HTTP_FARM_REJECT_H_INCLUDED_ */
