
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's prometheus plugin, what its two files share: the shared
 * zone's entries (ngx_http_farm_kong_prom.c counts into them,
 * ngx_http_farm_kong_prom_out.c writes them out for farm_kong_metrics).
 */


#ifndef _NGX_HTTP_FARM_KONG_PROM_H_INCLUDED_
#define _NGX_HTTP_FARM_KONG_PROM_H_INCLUDED_


#include "ngx_http_farm_kong.h"


#define NGX_HTTP_FARM_KONG_PROM_ZONE      "farm_kong_prometheus"
#define NGX_HTTP_FARM_KONG_PROM_ENTRIES   4096
#define NGX_HTTP_FARM_KONG_PROM_PROBES    64
#define NGX_HTTP_FARM_KONG_PROM_LABELS    384     /* service=..,route=.. */
#define NGX_HTTP_FARM_KONG_PROM_CONSUMER  128
#define NGX_HTTP_FARM_KONG_PROM_CODES     16      /* per entry */
#define NGX_HTTP_FARM_KONG_PROM_BUCKETS   18      /* +Inf included */
#define NGX_HTTP_FARM_KONG_PROM_BUF       (64 * 1024)

/* the histograms, in Kong's output order */
#define NGX_HTTP_FARM_KONG_PROM_KONG      0
#define NGX_HTTP_FARM_KONG_PROM_UPSTREAM  1
#define NGX_HTTP_FARM_KONG_PROM_REQUEST   2

/* the source label: kong.response.get_source() */
#define NGX_HTTP_FARM_KONG_PROM_SERVICE   0
#define NGX_HTTP_FARM_KONG_PROM_EXIT      1
#define NGX_HTTP_FARM_KONG_PROM_ERROR     2


typedef struct {
    ngx_atomic_t               key;       /* the hash; 0: free */
    ngx_atomic_t               ready;     /* the labels are written */
    u_char                     labels[NGX_HTTP_FARM_KONG_PROM_LABELS];
    u_char                     consumer[NGX_HTTP_FARM_KONG_PROM_CONSUMER];
    uint32_t                   labels_len;
    uint32_t                   consumer_len;
    ngx_atomic_t               code[NGX_HTTP_FARM_KONG_PROM_CODES];
    ngx_atomic_t               count[NGX_HTTP_FARM_KONG_PROM_CODES];
    ngx_atomic_t               bytes[2];  /* ingress, egress */
    ngx_atomic_t               bucket[3][NGX_HTTP_FARM_KONG_PROM_BUCKETS];
    ngx_atomic_t               sum[3];    /* ms */
} ngx_http_farm_kong_prom_entry_t;


typedef struct {
    ngx_atomic_t               errors;    /* counts lost for want of room */
    ngx_atomic_t               used;      /* entries taken */
    ngx_http_farm_kong_prom_entry_t  entries[NGX_HTTP_FARM_KONG_PROM_ENTRIES];
} ngx_http_farm_kong_prom_sh_t;


/* the zone's data: shared by every farm_kong file of the configuration */
typedef struct {
    ngx_http_farm_kong_prom_sh_t  *sh;
    ngx_slab_pool_t               *shpool;
    ngx_array_t                    confs;     /* ngx_http_farm_kong_conf_t * */
} ngx_http_farm_kong_prom_zone_t;


/* a route's labels, computed at load */
typedef struct {
    ngx_str_t                  labels;    /* service="..",route="..", escaped */
    uint64_t                   hash;      /* of the labels and a NUL */
} ngx_http_farm_kong_prom_route_t;


struct ngx_http_farm_kong_prom_s {
    ngx_shm_zone_t                   *zone;
    ngx_http_farm_kong_prom_route_t  *routes;    /* nroutes + 1: no route */
    ngx_int_t                        *slot;      /* entry of each, or -1 */
    ngx_uint_t                        health;    /* upstream_health_metrics */
};


/* Kong's buckets (ms), 0-terminated: kong latency; upstream and request */
extern const ngx_uint_t  ngx_http_farm_kong_prom_kong_le[];
extern const ngx_uint_t  ngx_http_farm_kong_prom_le[];

/* ngx_http_farm_kong_prom_out.c: a label value as the text format wants
 * it (\\, \", \n escaped); p has room for 2 * n bytes */
u_char *ngx_http_farm_kong_prom_escape(u_char *p, const u_char *s, size_t n);


#endif /* _NGX_HTTP_FARM_KONG_PROM_H_INCLUDED_ */
