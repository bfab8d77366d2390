
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 2, the zone model: the counters and fixed-bucket histograms of one
 * farm upstream that farm_metrics exposes (ngx_http_farm_metrics.c), kept
 * in its shared zone (sh->stats).  Each counter is written by the file that
 * owns the state it counts (docs/design.md, "Layers and ownership"), with
 * one atomic add per event: no lock, O(1).  A reader may see one histogram
 * a few events apart from another; each histogram's count is the sum of
 * its buckets, so its +Inf bucket always equals its count.
 */


#ifndef _NGX_HTTP_FARM_STATS_H_INCLUDED_
#define _NGX_HTTP_FARM_STATS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* buckets: 11 upper bounds (ms, below) and +Inf */
#define NGX_HTTP_FARM_HIST_N           12

/* responses by status class: 1xx..5xx, then any other */
#define NGX_HTTP_FARM_CLASSES          6

/* refusals, by their NGX_HTTP_FARM_REJECT_* reason (request.h) */
#define NGX_HTTP_FARM_REFUSALS         8

/* health check results */
#define NGX_HTTP_FARM_CHECK_SUCCESS    0
#define NGX_HTTP_FARM_CHECK_TIMEOUT    1
#define NGX_HTTP_FARM_CHECK_NETWORK    2    /* connect, send, recv, not HTTP */
#define NGX_HTTP_FARM_CHECK_STATUS     3    /* status not in status= */
#define NGX_HTTP_FARM_CHECK_BODY       4    /* body does not match body= */
#define NGX_HTTP_FARM_CHECK_RESULTS    5

/* breaker transitions */
#define NGX_HTTP_FARM_TO_OPEN          0    /* closed -> open */
#define NGX_HTTP_FARM_TO_HALF          1    /* open -> half_open */
#define NGX_HTTP_FARM_TO_CLOSED        2    /* half_open -> closed */
#define NGX_HTTP_FARM_TO_REOPEN        3    /* half_open -> open */
#define NGX_HTTP_FARM_TRANSITIONS      4


typedef struct {
    ngx_atomic_t                   bucket[NGX_HTTP_FARM_HIST_N];
    ngx_atomic_t                   sum;         /* ms */
} ngx_http_farm_hist_t;


typedef struct {
    /* the request path: balancer.c, reject.c, metrics.c (log phase) */
    ngx_atomic_t                   responses[NGX_HTTP_FARM_CLASSES];
    ngx_atomic_t                   retries;
    ngx_atomic_t                   refusals[NGX_HTTP_FARM_REFUSALS];
    ngx_http_farm_hist_t           request_time;
    ngx_http_farm_hist_t           header_time;

    /* health.c, check.c */
    ngx_atomic_t                   checks[NGX_HTTP_FARM_CHECK_RESULTS];
    ngx_http_farm_hist_t           check_time;

    /* breaker.c */
    ngx_atomic_t                   transitions[NGX_HTTP_FARM_TRANSITIONS];
    ngx_atomic_t                   ejections;

    /* sync.c */
    ngx_atomic_t                   records_rejected;
    ngx_atomic_t                   sync_started;  /* ms, of the one running */
    ngx_http_farm_hist_t           sync_time;
    ngx_http_farm_hist_t           propagation; /* record "ts" to zone */

    /* queue.c */
    ngx_http_farm_hist_t           queue_wait;
} ngx_http_farm_stats_t;


/* the upper bound of bucket i in ms; 0 for the last (+Inf) */

static ngx_inline ngx_msec_t
ngx_http_farm_hist_bound(ngx_uint_t i)
{
    static const ngx_msec_t  bounds[NGX_HTTP_FARM_HIST_N] = {
        5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 0
    };

    return bounds[i];
}


static ngx_inline void
ngx_http_farm_hist_observe(ngx_http_farm_hist_t *h, ngx_msec_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_FARM_HIST_N - 1; i++) {
        if (ms <= ngx_http_farm_hist_bound(i)) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&h->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&h->sum, (ngx_atomic_int_t) ms);
}


#define ngx_http_farm_stats_inc(counter)                                     \
    (void) ngx_atomic_fetch_add(&(counter), 1)


#endif /* _NGX_HTTP_FARM_STATS_H_INCLUDED_ */
