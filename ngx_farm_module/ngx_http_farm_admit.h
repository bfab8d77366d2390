
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 6, request path: admission in the precontent phase, for farm
 * upstreams with farm_queue or farm_client_limit (ngx_http_farm_admit.c).
 */


#ifndef _NGX_HTTP_FARM_ADMIT_H_INCLUDED_
#define _NGX_HTTP_FARM_ADMIT_H_INCLUDED_


#include "ngx_http_farm_request.h"


ngx_int_t ngx_http_farm_admit_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_FARM_ADMIT_H_INCLUDED_ */
