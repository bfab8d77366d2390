
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 7: the JSON writers of farm_status (ngx_http_farm_status.c), also
 * used by farm_admin (ngx_http_farm_admin.c): a chain of buffers grown as
 * text is written, the agent list with its filters and paging, one agent.
 */


#ifndef _NGX_HTTP_FARM_STATUS_H_INCLUDED_
#define _NGX_HTTP_FARM_STATUS_H_INCLUDED_


#include "ngx_http_farm_module.h"
#include "ngx_http_farm_zone.h"


/* the largest text one agent can need, meta aside */
#define NGX_HTTP_FARM_AGENT_JSON                                             \
    (2048 + FARM_ID_MAX + NGX_SOCKADDR_STRLEN + FARM_REGION_MAX              \
     + NGX_HTTP_FARM_MAX_CAPS * (FARM_CAP_MAX + 3))

/* the text written up to p into the last buffer counts */
#define ngx_http_farm_status_commit(out, p)                                  \
    do {                                                                     \
        (out)->total += (p) - (out)->last->buf->last;                        \
        (out)->last->buf->last = (p);                                        \
    } while (0)


typedef struct {
    ngx_http_request_t            *request;
    ngx_chain_t                   *first;
    ngx_chain_t                   *last;
    size_t                         total;
} ngx_http_farm_status_out_t;


/* which agents a list shows: ?state=&limit=&offset= */
typedef struct {
    ngx_str_t                      state;       /* empty: any */
    ngx_uint_t                     offset;
    ngx_uint_t                     limit;       /* 0: no limit */

    /* what a walk found, across the farms it walked */
    ngx_uint_t                     seen;        /* matching, so far */
    ngx_uint_t                     shown;
    ngx_uint_t                     busy;        /* with requests in flight */
    uint64_t                       active;
    uint64_t                       available;
} ngx_http_farm_status_list_t;


u_char *ngx_http_farm_status_reserve(ngx_http_farm_status_out_t *out,
    size_t len);
ngx_int_t ngx_http_farm_status_list_args(ngx_http_request_t *r,
    ngx_http_farm_status_list_t *list);
ngx_int_t ngx_http_farm_status_agents(ngx_http_farm_status_out_t *out,
    ngx_http_farm_srv_conf_t *fcf, ngx_http_farm_status_list_t *list);
u_char *ngx_http_farm_status_agent_locked(u_char *p,
    ngx_http_farm_srv_conf_t *fcf, ngx_http_farm_shctx_t *sh,
    ngx_http_farm_agent_t *a);
ngx_int_t ngx_http_farm_status_send(ngx_http_request_t *r,
    ngx_http_farm_status_out_t *out, ngx_uint_t status);


#endif /* _NGX_HTTP_FARM_STATUS_H_INCLUDED_ */
