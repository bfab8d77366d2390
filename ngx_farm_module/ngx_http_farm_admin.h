
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


/* what a path names */
#define NGX_HTTP_FARM_ADMIN_POOLS      1
#define NGX_HTTP_FARM_ADMIN_AGENTS     2
#define NGX_HTTP_FARM_ADMIN_AGENT      3
#define NGX_HTTP_FARM_ADMIN_EJECT      4


/* what an admin path names, and the change a mutation asks for */
typedef struct {
    ngx_uint_t                     what;        /* NGX_HTTP_FARM_ADMIN_* */
    ngx_str_t                      pool;
    ngx_str_t                      id;
    ngx_http_farm_srv_conf_t      *fcf;

    /* the agent's override before the change and after it */
    ngx_uint_t                     old_mode;
    uint32_t                       old_weight;
    ngx_msec_t                     old_until;
    ngx_uint_t                     mode;
    uint32_t                       weight;
    ngx_msec_t                     until;       /* ngx_current_msec's */
    ngx_int_t                      seconds;     /* eject: N, 0 end, -1 */
    ngx_uint_t                     registry;    /* write=registry */
} ngx_http_farm_admin_path_t;


/* ngx_http_farm_admin.c */
ngx_int_t ngx_http_farm_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *text);

/* ngx_http_farm_admin_write.c: a change applied, answered, or written */
ngx_int_t ngx_http_farm_admin_apply(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, ngx_uint_t origin);
ngx_int_t ngx_http_farm_admin_answer(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, ngx_int_t rc);
ngx_int_t ngx_http_farm_admin_commit(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, ngx_uint_t origin);
ngx_int_t ngx_http_farm_admin_failed(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, const char *what);
void ngx_http_farm_admin_written(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, const char *error, const char *detail);
ngx_int_t ngx_http_farm_admin_write_redis(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path);

/* ngx_http_farm_admin_consul.c: the change in Consul's KV store */
ngx_int_t ngx_http_farm_admin_write_consul(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path);

/* ngx_http_farm_logvar.c: $farm_tries, $farm_queue_wait_ms, $farm_refusal */
ngx_int_t ngx_http_farm_logvar_add(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_farm_admin_module;


#endif /* _NGX_HTTP_FARM_ADMIN_H_INCLUDED_ */
