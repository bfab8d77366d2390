
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 3: what one request carries through the farm layers: its
 * filter (region order, required capabilities) and its context.  The
 * context is made and owned by the request path (ngx_http_farm_get_ctx(),
 * ngx_http_farm_balancer.c); the layers below only fill in their fields.
 */


#ifndef _NGX_HTTP_FARM_REQUEST_H_INCLUDED_
#define _NGX_HTTP_FARM_REQUEST_H_INCLUDED_


#include "ngx_http_farm_zone.h"


/* why a request got no agent (ngx_http_farm_reject.c) */
#define NGX_HTTP_FARM_REJECT_NONE      0
#define NGX_HTTP_FARM_REJECT_NO_AGENT  1
#define NGX_HTTP_FARM_REJECT_NO_CAPS   2    /* no agent has them at all */
#define NGX_HTTP_FARM_REJECT_BAD_CAPS  3    /* an invalid capability name */
#define NGX_HTTP_FARM_REJECT_QUEUE_FULL     4
#define NGX_HTTP_FARM_REJECT_QUEUE_TIMEOUT  5
#define NGX_HTTP_FARM_REJECT_CLIENT_LIMIT   6
#define NGX_HTTP_FARM_REJECT_ALL_FAILED     7    /* every try failed */


/*
 * Ends a queued request's wait: reject is NGX_HTTP_FARM_REJECT_NONE when
 * it got its agent (ctx->reserved), else why not.  Set by the request path
 * before it queues the request (ngx_http_farm_admit.c).
 */
typedef void (*ngx_http_farm_resume_pt)(ngx_http_request_t *r,
    ngx_uint_t reject);


/* one request's region order and required capabilities */
typedef struct {
    ngx_uint_t                     on;
    ngx_str_t                      names[NGX_HTTP_FARM_MAX_ORDER];
    ngx_uint_t                     nnames;
    ngx_str_t                      caps[FARM_CAPS_MAX];
    ngx_uint_t                     ncaps;

    /* resolved against the zone's dictionaries, under the lock */
    ngx_uint_t                     resolved;
    ngx_uint_t                     order[NGX_HTTP_FARM_MAX_ORDER];
    ngx_uint_t                     norder;
    uint64_t                       mask;
} ngx_http_farm_filter_t;


/* per request */
typedef struct {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_uint_t                     reject;
    ngx_uint_t                     tries;       /* agents tried */
    ngx_str_t                      agent;       /* $farm_agent */
    ngx_str_t                      region;      /* $farm_region */
    ngx_str_t                      required;    /* farm_require's value */
    ngx_str_t                      missing;     /* caps no agent has */
    ngx_str_t                      body;        /* of a refusal */
    ngx_str_t                      retry_after;

    /* admission: ngx_http_farm_admit.c, ngx_http_farm_queue.c */
    ngx_http_request_t            *request;
    uint32_t                       reserved;    /* slot taken for us */
    uint32_t                       reserved_gen;
    uint32_t                       waiter;      /* our queue entry */
    uint64_t                       waiter_seq;
    ngx_event_t                    timeout;
    ngx_queue_t                    link;        /* in fcf->waiting */
    ngx_http_farm_resume_pt        resume;      /* when the wait ends */
    ngx_http_farm_client_t        *client;
    ngx_msec_t                     queued_at;
    ngx_msec_t                     waited;      /* in the queue, once out */

    unsigned                       admitted:1;
    unsigned                       waiting:1;
    unsigned                       replacing:1;
    unsigned                       body_sent:1;
    unsigned                       was_queued:1;
} ngx_http_farm_ctx_t;


#endif /* _NGX_HTTP_FARM_REQUEST_H_INCLUDED_ */
