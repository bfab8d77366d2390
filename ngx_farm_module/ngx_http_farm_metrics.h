
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 7: what the two files of farm_metrics share: ngx_http_farm_metrics.c
 * (the directive, the handler, the streaming, the walks over the agents)
 * and ngx_http_farm_metrics_families.c (the families and their lines).
 */


#ifndef _NGX_HTTP_FARM_METRICS_H_INCLUDED_
#define _NGX_HTTP_FARM_METRICS_H_INCLUDED_


#include "ngx_http_farm_module.h"
#include "ngx_http_farm_request.h"
#include "ngx_http_farm_counters.h"


#define NGX_HTTP_FARM_METRICS_BUF     (32 * 1024)
#define NGX_HTTP_FARM_METRICS_PAGE    64        /* agents copied per lock */
#define NGX_HTTP_FARM_METRICS_BURST   4         /* buffers per event */

#define NGX_HTTP_FARM_AGENTS_NONE     0
#define NGX_HTTP_FARM_AGENTS_STATE    1
#define NGX_HTTP_FARM_AGENTS_ALL      2

#define NGX_HTTP_FARM_METRICS_SERIES  100000    /* max_agent_series= */

/* agent states, as ngx_http_farm_agent_state_locked() names them */
#define NGX_HTTP_FARM_STATES          8         /* the last: any other */


typedef struct {
    ngx_uint_t                     agents;      /* NGX_HTTP_FARM_AGENTS_* */
    ngx_uint_t                     max_series;
    ngx_shm_zone_t                *counters;    /* "farm_counters" */
} ngx_http_farm_metrics_loc_conf_t;


/* one agent, copied under the lock; its id escaped for a label value */
typedef struct {
    u_char                         id[2 * FARM_ID_MAX];
    size_t                         id_len;
    u_char                         name[NGX_SOCKADDR_STRLEN];
    size_t                         name_len;
    u_char                         region[FARM_REGION_MAX + 1];
    const char                    *state;
    uint32_t                       active;
    uint32_t                       weight;
    uint64_t                       requests;
    uint64_t                       failures;
    uint64_t                       checks;
    uint64_t                       checks_failed;
    ngx_uint_t                     health;
    ngx_uint_t                     breaker;
} ngx_http_farm_metrics_agent_t;


/* one pool: what the first walk over its agents counted */
typedef struct {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_str_t                      label;       /* pool="NAME", escaped */
    ngx_uint_t                     states[NGX_HTTP_FARM_STATES];
    ngx_uint_t                     breakers[3];
    uint64_t                       active;
    ngx_uint_t                     matched;     /* by ?state= */
    ngx_uint_t                     shown;       /* within the budget */
} ngx_http_farm_metrics_pool_t;


typedef struct ngx_http_farm_metrics_ctx_s  ngx_http_farm_metrics_ctx_t;

typedef u_char *(*ngx_http_farm_metrics_pool_pt)(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool);
typedef u_char *(*ngx_http_farm_metrics_agent_pt)(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p,
    ngx_http_farm_metrics_pool_t *pool, ngx_http_farm_metrics_agent_t *a);
typedef u_char *(*ngx_http_farm_metrics_global_pt)(
    ngx_http_farm_metrics_ctx_t *mc, u_char *p);


typedef struct {
    const char                    *name;
    const char                    *type;
    const char                    *help;
    ngx_uint_t                     level;       /* per agent: from this on */
    ngx_http_farm_metrics_pool_pt  pool;
    ngx_http_farm_metrics_agent_pt agent;
    ngx_http_farm_metrics_global_pt global;     /* once, not per pool */
} ngx_http_farm_metrics_family_t;


struct ngx_http_farm_metrics_ctx_s {
    ngx_http_request_t            *request;
    ngx_http_farm_counters_t      *counters;
    ngx_http_farm_metrics_pool_t  *pools;
    ngx_uint_t                     npools;
    ngx_uint_t                     level;
    ngx_str_t                      state;       /* ?state=, without "!" */
    ngx_uint_t                     state_not;
    size_t                         room;        /* the largest item */
    ngx_uint_t                     budget;      /* agents, not yet given */

    /* where the output is */
    ngx_uint_t                     family;
    ngx_uint_t                     pool;
    ngx_uint_t                     started;     /* the family's header */
    uint32_t                       slot;
    ngx_uint_t                     shown;
    ngx_http_farm_metrics_agent_t *page;
    ngx_uint_t                     npage;
    ngx_uint_t                     ipage;
    ngx_uint_t                     done;

    ngx_chain_t                   *free;
    ngx_chain_t                   *busy;
};


/* ngx_http_farm_metrics_families.c */
extern ngx_http_farm_metrics_family_t  ngx_http_farm_metrics_families[];
extern ngx_uint_t                      ngx_http_farm_metrics_nfamilies;
extern const char                     *ngx_http_farm_metrics_states[];

u_char *ngx_http_farm_metrics_escape(u_char *p, u_char *s, size_t n);
ngx_http_farm_shctx_t *ngx_http_farm_metrics_sh(
    ngx_http_farm_metrics_pool_t *pool);


#endif /* _NGX_HTTP_FARM_METRICS_H_INCLUDED_ */
