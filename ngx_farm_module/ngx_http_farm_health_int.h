
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 4, per-agent state machine: what the files of the active health
 * checks share (ngx_http_farm_health.c, the scheduling: each worker's heap
 * of next checks, the joined ring, the tick, the concurrency; and
 * ngx_http_farm_check.c, one check's connection, I/O and evaluation).
 * Not for the rest of the module: ngx_http_farm_health.h is.
 */


#ifndef _NGX_HTTP_FARM_HEALTH_INT_H_INCLUDED_
#define _NGX_HTTP_FARM_HEALTH_INT_H_INCLUDED_


#include "ngx_http_farm_health.h"


typedef struct ngx_http_farm_check_s  ngx_http_farm_check_t;


/* one slot this worker checks, in its own memory */
typedef struct {
    ngx_msec_t                     due;
    uint32_t                       heap;        /* 1 + index in heap; 0: out */
    ngx_http_farm_check_t         *ck;          /* in flight, or NULL */
} ngx_http_farm_hslot_t;


struct ngx_http_farm_health_s {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_event_t                    tick;
    ngx_uint_t                     worker;
    ngx_uint_t                     workers;

    /* slot worker + i * workers is slots[i] */
    ngx_http_farm_hslot_t         *slots;
    uint32_t                       nslots;
    uint32_t                      *heap;        /* i, earliest due first */
    uint32_t                       nheap;
    ngx_uint_t                     joined;      /* of sh->joined_seq, seen */

    ngx_queue_t                    busy;        /* checks in flight */
    ngx_queue_t                    idle;        /* their memory, for reuse */
    ngx_uint_t                     nbusy;
    size_t                         out_size;    /* a request's room */

    ngx_msec_t                     late_logged; /* "checks run late", when */
    ngx_uint_t                     late_said;
};


struct ngx_http_farm_check_s {
    ngx_http_farm_health_t        *hc;
    ngx_queue_t                    queue;       /* in busy or idle */
    uint32_t                       slot;
    uint32_t                       gen;
    ngx_connection_t              *c;
    ngx_event_t                    timeout;

    ngx_sockaddr_t                 sockaddr;
    socklen_t                      socklen;
    u_char                         name[NGX_SOCKADDR_STRLEN];
    size_t                         name_len;

    u_char                        *out;
    size_t                         out_len;
    size_t                         sent;

    u_char                        *in;
    size_t                         in_len;

    ngx_msec_t                     started;     /* for its duration */
};


void ngx_http_farm_health_schedule(ngx_http_farm_health_t *hc,
    ngx_http_farm_shctx_t *sh, uint32_t i);
void ngx_http_farm_heap_up(ngx_http_farm_health_t *hc, uint32_t k);
void ngx_http_farm_heap_remove(ngx_http_farm_health_t *hc, uint32_t i);
ngx_int_t ngx_http_farm_check_begin(ngx_http_farm_health_t *hc,
    ngx_http_farm_zone_t *z, uint32_t i);


#endif /* _NGX_HTTP_FARM_HEALTH_INT_H_INCLUDED_ */
