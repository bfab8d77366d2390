
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 5, registry: records to agents, whatever the registry
 * (ngx_http_farm_sync.c).  The backends (ngx_http_farm_redis.h,
 * ngx_http_farm_consul.h) call it; it never calls a backend.
 */


#ifndef _NGX_HTTP_FARM_SYNC_H_INCLUDED_
#define _NGX_HTTP_FARM_SYNC_H_INCLUDED_


#include "ngx_http_farm_zone.h"


ngx_int_t ngx_http_farm_sync_owner_start(ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_sync_is_owner(ngx_http_farm_srv_conf_t *fcf);
void ngx_http_farm_sync_begin(ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_sync_record(ngx_http_farm_srv_conf_t *fcf,
    u_char *key, size_t key_len, u_char *json, size_t json_len,
    ngx_uint_t full);
void ngx_http_farm_sync_reject(ngx_http_farm_srv_conf_t *fcf, u_char *key,
    size_t key_len, uint32_t rec_hash, ngx_uint_t full, const char *fmt,
    const char *reason);
ngx_int_t ngx_http_farm_sync_parsed(ngx_http_farm_srv_conf_t *fcf,
    u_char *label, size_t label_len, farm_record_t *rec, ngx_uint_t full);
ngx_int_t ngx_http_farm_sync_push(ngx_http_farm_srv_conf_t *fcf,
    farm_record_t *rec, ngx_str_t *why);
void ngx_http_farm_sync_drop(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len, const char *why);
void ngx_http_farm_sync_delete(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len);
void ngx_http_farm_sync_unhealthy(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len, const char *why);
void ngx_http_farm_sync_end(ngx_http_farm_srv_conf_t *fcf);
void ngx_http_farm_sync_registry_state(ngx_http_farm_srv_conf_t *fcf,
    ngx_uint_t up, const char *reason);
void ngx_http_farm_sync_hold(ngx_http_farm_srv_conf_t *fcf,
    const char *why);


#endif /* _NGX_HTTP_FARM_SYNC_H_INCLUDED_ */
