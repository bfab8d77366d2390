
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 7: farm_admin (ngx_http_farm_admin.c, its own nginx module in the
 * object) and the access log variables it registers
 * (ngx_http_farm_logvar.c).
 */


#ifndef _NGX_HTTP_FARM_ADMIN_H_INCLUDED_
#define _NGX_HTTP_FARM_ADMIN_H_INCLUDED_


#include "ngx_http_farm_module.h"


/* ngx_http_farm_logvar.c: $farm_tries, $farm_queue_wait_ms, $farm_refusal */
ngx_int_t ngx_http_farm_logvar_add(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_farm_admin_module;


#endif /* _NGX_HTTP_FARM_ADMIN_H_INCLUDED_ */
