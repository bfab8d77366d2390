
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 5.1: operator overrides kept in the registry (farm_admin
 * write=registry), ngx_http_farm_override_sync.c.  Their JSON form, what a
 * registry backend calls with the overrides it read, and the overrides
 * file of the built-in registry ("<state>.overrides").
 */


#ifndef _NGX_HTTP_FARM_OVERRIDE_SYNC_H_INCLUDED_
#define _NGX_HTTP_FARM_OVERRIDE_SYNC_H_INCLUDED_


#include "ngx_http_farm_sync.h"


/* the most the JSON of one override takes, without its id */
#define NGX_HTTP_FARM_OVERRIDE_JSON    96


/* one override as the registry keeps it */
typedef struct {
    u_char                        *id;
    size_t                         id_len;
    ngx_uint_t                     mode;        /* NGX_HTTP_FARM_MODE_* */
    uint32_t                       weight;      /* 0: the agent's own */
    uint64_t                       until;       /* Unix ms, 0: not ejected */
} ngx_http_farm_override_rec_t;


u_char *ngx_http_farm_override_json(u_char *p,
    ngx_http_farm_override_rec_t *rec);
ngx_int_t ngx_http_farm_override_parse(ngx_http_farm_override_rec_t *rec,
    u_char *text, size_t len, const char **err);
uint64_t ngx_http_farm_override_unix(ngx_msec_t until);
ngx_msec_t ngx_http_farm_override_msec(uint64_t until);

ngx_uint_t ngx_http_farm_override_sync(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_override_rec_t *recs, ngx_uint_t n, ngx_msec_t read_at);
ngx_int_t ngx_http_farm_override_apply(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_override_rec_t *rec, ngx_uint_t origin);

ngx_int_t ngx_http_farm_override_file_save(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log);
void ngx_http_farm_override_file_load(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log);


#endif /* _NGX_HTTP_FARM_OVERRIDE_SYNC_H_INCLUDED_ */
