
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 5, registry backend: Consul (ngx_http_farm_consul.c, the sync
 * owner's blocking queries through libcurl's multi interface on nginx's
 * event loop; ngx_http_farm_consul_warm.c, the master's startup read;
 * ngx_http_farm_consul_answer.c, an answer parsed on a thread and applied
 * in batches; ngx_http_farm_consul_kv.c, the operators' overrides in
 * Consul's KV store: their watch, their startup read and farm_admin's
 * writes).
 */


#ifndef _NGX_HTTP_FARM_CONSUL_H_INCLUDED_
#define _NGX_HTTP_FARM_CONSUL_H_INCLUDED_


#include "ngx_http_farm_override_sync.h"


/* a libcurl answer's body, in process memory */
typedef struct {
    u_char                        *data;        /* malloc'd, NUL-terminated */
    size_t                         len;
    size_t                         size;
    size_t                         max;
    size_t                         budget;      /* bytes a turn, 0: all */
    size_t                         turn;        /* taken this turn */
    unsigned                       too_big:1;
    unsigned                       paused:1;    /* over budget this turn */
} ngx_http_farm_consul_body_t;


typedef struct ngx_http_farm_consul_kv_s    ngx_http_farm_consul_kv_t;
typedef struct ngx_http_farm_consul_answer_s
    ngx_http_farm_consul_answer_t;

/* an answer applied (rc NGX_OK), or not (NGX_ERROR, err: why) */
typedef void (*ngx_http_farm_consul_answer_pt)(void *data, ngx_int_t rc,
    const char *err);
typedef struct ngx_http_farm_consul_xfer_s  ngx_http_farm_consul_xfer_t;

/* a transfer on a multi handle other than the query; result: CURLcode */
struct ngx_http_farm_consul_xfer_s {
    void                         (*handler)(ngx_http_farm_consul_xfer_t *x,
                                            ngx_int_t result);
    void                          *data;
};

/* the end of a write to the KV store: error NULL, or what failed */
typedef void (*ngx_http_farm_consul_kv_done_pt)(void *data,
    const char *error, const char *detail);


/* ngx_http_farm_consul.c */
ngx_int_t ngx_http_farm_consul_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle);
void ngx_http_farm_consul_stop(ngx_http_farm_srv_conf_t *fcf);
void ngx_http_farm_consul_global_init(ngx_log_t *log);
u_char *ngx_http_farm_consul_url(ngx_http_farm_srv_conf_t *fcf, u_char *buf,
    size_t size, uint64_t index, ngx_msec_t wait);
ngx_int_t ngx_http_farm_consul_easy(ngx_http_farm_srv_conf_t *fcf,
    void *easy, ngx_http_farm_consul_body_t *body, ngx_msec_t timeout,
    ngx_msec_t connect_timeout, void **headers, void **resolve, char *error);
void ngx_http_farm_consul_body_text(ngx_http_farm_consul_body_t *b,
    u_char *buf, size_t size);
size_t ngx_http_farm_consul_body_max(ngx_http_farm_srv_conf_t *fcf);
ngx_http_farm_consul_t *ngx_http_farm_consul_create(
    ngx_http_farm_srv_conf_t *fcf, ngx_pool_t *pool, ngx_log_t *log);
void ngx_http_farm_consul_close(ngx_http_farm_consul_t *cs);
ngx_int_t ngx_http_farm_consul_add(ngx_http_farm_consul_t *cs, void *easy,
    ngx_http_farm_consul_xfer_t *x);
void ngx_http_farm_consul_remove(ngx_http_farm_consul_t *cs, void *easy);

/* ngx_http_farm_consul_answer.c */
ngx_http_farm_consul_answer_t *ngx_http_farm_consul_answer_create(
    ngx_http_farm_srv_conf_t *fcf, ngx_pool_t *pool, ngx_log_t *log,
    ngx_http_farm_consul_answer_pt done, void *data);
ngx_int_t ngx_http_farm_consul_answer_start(
    ngx_http_farm_consul_answer_t *ans, u_char *body, size_t len,
    size_t size);
u_char *ngx_http_farm_consul_answer_spare(ngx_http_farm_consul_answer_t *ans,
    size_t *size);
void ngx_http_farm_consul_answer_cancel(ngx_http_farm_consul_answer_t *ans);
ngx_int_t ngx_http_farm_consul_answer_apply(ngx_http_farm_srv_conf_t *fcf,
    u_char *body, size_t len, char *err);

/* ngx_http_farm_consul_kv.c */
ngx_http_farm_consul_kv_t *ngx_http_farm_consul_kv_start(
    ngx_http_farm_srv_conf_t *fcf, ngx_http_farm_consul_t *cs,
    ngx_pool_t *pool, ngx_log_t *log);
void ngx_http_farm_consul_kv_stop(ngx_http_farm_consul_kv_t *kv);
void ngx_http_farm_consul_kv_warm(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log, ngx_msec_t ms);
ngx_int_t ngx_http_farm_consul_kv_write(ngx_http_farm_srv_conf_t *fcf,
    ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *id,
    ngx_http_farm_override_rec_t *rec, ngx_http_farm_consul_kv_done_pt done,
    void *data);

/* ngx_http_farm_consul_warm.c */
ngx_int_t ngx_http_farm_consul_warm(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log);


#endif /* _NGX_HTTP_FARM_CONSUL_H_INCLUDED_ */
