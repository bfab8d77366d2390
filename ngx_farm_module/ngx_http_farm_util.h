
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 1, nginx utilities: helpers every nginx module of the shared object
 * may use (the balancer, farm_limit, farm_key_auth).  Nothing here knows a
 * farm upstream, its configuration or its shared zone.
 *
 *   ngx_http_farm_util.c      headers, JSON replies, directive parameters,
 *                             status lists, notes
 *   ngx_http_farm_rconn.c     a Redis connection of nginx's own, plain or
 *                             TLS, hiredis only encoding and parsing
 *   ngx_http_farm_hiredis.c   hiredis on nginx's event loop, and the
 *                             master's blocking Redis connection
 */


#ifndef _NGX_HTTP_FARM_UTIL_H_INCLUDED_
#define _NGX_HTTP_FARM_UTIL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <farm_url.h>


/* a set of HTTP status codes, 100 to 599: ngx_http_farm_parse_statuses() */
#define NGX_HTTP_FARM_STATUS_BITS      ((600 + 7) / 8)

#define ngx_http_farm_status_in(bits, code)                                   \
    ((code) < 600 && ((bits)[(code) >> 3] & (1 << ((code) & 7))))


/*
 * A log line noted while a lock is held and logged after it is released:
 * no logging (and so no I/O) under a shared memory mutex.
 */
typedef struct {
    ngx_uint_t                     level;       /* 0: nothing to log */
    u_char                         text[256];
} ngx_http_farm_note_t;


/* ngx_http_farm_util.c */
ngx_table_elt_t *ngx_http_farm_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value);
ngx_int_t ngx_http_farm_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body);
ngx_int_t ngx_http_farm_headers_in_remove(ngx_http_request_t *r,
    ngx_str_t *names, ngx_uint_t n, ngx_uint_t extra);
ngx_int_t ngx_http_farm_conf_msec(ngx_str_t *value, size_t skip,
    ngx_msec_t min, ngx_msec_t *ms);
char *ngx_http_farm_parse_statuses(ngx_conf_t *cf, ngx_str_t *value,
    u_char *bits);
void ngx_http_farm_note(ngx_http_farm_note_t *note, ngx_uint_t level,
    const char *fmt, ...);
ngx_int_t ngx_http_farm_variables_add(ngx_conf_t *cf,
    ngx_http_variable_t *vars);

/* ngx_http_farm_hiredis.c */

/*
 * The bound of one Redis reply: pending bytes, and elements of all its
 * arrays together (nested ones too).
 */
#define NGX_HTTP_FARM_REDIS_MAX_PENDING   (4 * 1024 * 1024)
#define NGX_HTTP_FARM_REDIS_MAX_ELEMENTS  (4 * 1024 * 1024)

/* a reader's count of the elements of the reply it reads */
typedef struct {
    ngx_uint_t   elements;
    ngx_uint_t   max;
    ngx_log_t   *log;       /* where to say a reply passed max; NULL: not */
} ngx_http_farm_hiredis_count_t;

struct redisAsyncContext;
struct redisContext;
ngx_int_t ngx_http_farm_hiredis_attach(struct redisAsyncContext *ac,
    ngx_log_t *log);
void ngx_http_farm_hiredis_bound(struct redisContext *rc);
void ngx_http_farm_hiredis_reader_bound(void *reader,
    ngx_http_farm_hiredis_count_t *count);
void *ngx_http_farm_redis_connect_sync(farm_url_t *url, u_char *addr,
    ngx_msec_t ms, const char **reason);
ngx_msec_t ngx_http_farm_redis_clock(void);
ngx_int_t ngx_http_farm_redis_sync_timeout(void *ctx, ngx_msec_t deadline);
u_char *ngx_http_farm_log_escape(u_char *dst, u_char *last, u_char *src,
    size_t len);


#endif /* _NGX_HTTP_FARM_UTIL_H_INCLUDED_ */
