
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 1: the counters of the modules that are no farm upstream (the
 * rate limits), in one small shared zone, "farm_counters", that each
 * module writing or reading them adds at configuration
 * (ngx_http_farm_counters_zone()): farm_metrics reads them without the
 * layers of one module depending on another's.  One atomic add per event.
 */


#ifndef _NGX_HTTP_FARM_COUNTERS_H_INCLUDED_
#define _NGX_HTTP_FARM_COUNTERS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* rate-limit windows: second .. year (farm_window_name()), then any other */
#define NGX_HTTP_FARM_COUNTER_WINDOWS  7


typedef struct {
    ngx_atomic_t                   limit_rejected
                                       [NGX_HTTP_FARM_COUNTER_WINDOWS];
    ngx_atomic_t                   limit_unavailable;  /* backend failed */
    ngx_atomic_t                   limit_fail_open;    /* passed, unchecked */
} ngx_http_farm_counters_t;


ngx_shm_zone_t *ngx_http_farm_counters_zone(ngx_conf_t *cf);


/* the counters, or NULL before the zone is set up */

static ngx_inline ngx_http_farm_counters_t *
ngx_http_farm_counters(ngx_shm_zone_t *zone)
{
    return zone ? zone->data : NULL;
}


/* a request a rate limit refused: window is its FARM_WIN_*, or -1 */

static ngx_inline void
ngx_http_farm_counters_rejected(ngx_shm_zone_t *zone, ngx_int_t window)
{
    ngx_http_farm_counters_t  *c;

    c = ngx_http_farm_counters(zone);
    if (c == NULL) {
        return;
    }

    if (window < 0 || window >= NGX_HTTP_FARM_COUNTER_WINDOWS - 1) {
        window = NGX_HTTP_FARM_COUNTER_WINDOWS - 1;
    }

    (void) ngx_atomic_fetch_add(&c->limit_rejected[window], 1);
}


/* the rate limits' backend failed: the request passed, or got a 503 */

static ngx_inline void
ngx_http_farm_counters_failed(ngx_shm_zone_t *zone, ngx_flag_t passed)
{
    ngx_http_farm_counters_t  *c;

    c = ngx_http_farm_counters(zone);
    if (c == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(passed ? &c->limit_fail_open
                                       : &c->limit_unavailable, 1);
}


#endif /* _NGX_HTTP_FARM_COUNTERS_H_INCLUDED_ */
