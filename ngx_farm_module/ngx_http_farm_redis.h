
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 5, registry backend: Redis (ngx_http_farm_redis.c, the sync
 * owner's connection; ngx_http_farm_redis_full_sync.c, its full sync,
 * behind ngx_http_farm_redis_conn.h; ngx_http_farm_redis_warm.c, the
 * master's startup read).
 */


#ifndef _NGX_HTTP_FARM_REDIS_H_INCLUDED_
#define _NGX_HTTP_FARM_REDIS_H_INCLUDED_


#include "ngx_http_farm_sync.h"


/* ngx_http_farm_redis.c */
ngx_int_t ngx_http_farm_redis_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle);
void ngx_http_farm_redis_stop(ngx_http_farm_srv_conf_t *fcf);

/* ngx_http_farm_redis_warm.c */
ngx_int_t ngx_http_farm_redis_warm(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log);


#endif /* _NGX_HTTP_FARM_REDIS_H_INCLUDED_ */
