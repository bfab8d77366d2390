
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 5, registry: the built-in registry backend ("farm_registry
 * builtin") and static agents ("farm_agent"): ngx_http_farm_builtin.c,
 * and their configuration, ngx_http_farm_builtin_conf.c.
 * Registrations come from the API (farm_registry_api, the module glue's
 * ngx_http_farm_registry_api.c) in any worker; they become leases
 * (ngx_http_farm_lease.h) and agents through the sync layer.
 */


#ifndef _NGX_HTTP_FARM_BUILTIN_H_INCLUDED_
#define _NGX_HTTP_FARM_BUILTIN_H_INCLUDED_


#include "ngx_http_farm_zone.h"


#define NGX_HTTP_FARM_BUILTIN_TTL      30000     /* ms, ttl= */
#define NGX_HTTP_FARM_BUILTIN_MAX_TTL  300000    /* ms, max_ttl= */


struct ngx_http_farm_builtin_s {
    ngx_str_t                      token;       /* the token file's text */
    ngx_msec_t                     ttl;
    ngx_msec_t                     max_ttl;
    ngx_uint_t                     api;         /* 0: static agents only */

    /* the sync owner's */
    ngx_event_t                    tick;
    uint64_t                       saved_gen;
    uint64_t                       saved_renewed;
};


/* the module glue's parser of farm_registry's common parameters */
typedef char *(*ngx_http_farm_param_pt)(ngx_conf_t *cf,
    ngx_http_farm_srv_conf_t *fcf, ngx_str_t *value, ssize_t *size);

/* ngx_http_farm_builtin_conf.c */
char *ngx_http_farm_builtin_registry(ngx_conf_t *cf,
    ngx_http_farm_srv_conf_t *fcf, ssize_t *size,
    ngx_http_farm_param_pt param);
char *ngx_http_farm_agent(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* ngx_http_farm_builtin.c */

/* its backend table (start, stop, warm), as farm_registry builtin's */
extern const ngx_http_farm_registry_t  ngx_http_farm_builtin_backend;

void ngx_http_farm_builtin_statics(ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_builtin_restore(ngx_http_farm_srv_conf_t *fcf,
    farm_record_t *rec, int64_t expires_at);

ngx_int_t ngx_http_farm_builtin_auth(ngx_http_farm_srv_conf_t *fcf,
    ngx_str_t *given);
ngx_int_t ngx_http_farm_builtin_rate(ngx_http_farm_srv_conf_t *fcf,
    ngx_str_t *addr, ngx_uint_t rate);
ngx_int_t ngx_http_farm_builtin_put(ngx_http_farm_srv_conf_t *fcf,
    farm_record_t *rec, ngx_msec_t ttl, ngx_str_t *why, ngx_uint_t *fresh);
ngx_int_t ngx_http_farm_builtin_heartbeat(ngx_http_farm_srv_conf_t *fcf,
    u_char *id, size_t len, ngx_msec_t ttl);
ngx_int_t ngx_http_farm_builtin_delete(ngx_http_farm_srv_conf_t *fcf,
    u_char *id, size_t len);
ngx_int_t ngx_http_farm_builtin_list(ngx_http_farm_srv_conf_t *fcf,
    ngx_pool_t *pool, ngx_str_t *out);


#endif /* _NGX_HTTP_FARM_BUILTIN_H_INCLUDED_ */
