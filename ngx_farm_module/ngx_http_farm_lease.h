
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 2, the zone model: the built-in registry's leases
 * (ngx_http_farm_lease.c), in the farm upstream's own zone and under its
 * lock.  A lease is a registration: the agent's id, the record as it was
 * registered, and when it runs out.  Two trees: by id, and by expiry, so
 * that finding what ran out costs O(log n) whatever the number of agents.
 * Every function here expects the zone's lock held (..._locked), apart
 * from ngx_http_farm_leases_init().
 */


#ifndef _NGX_HTTP_FARM_LEASE_H_INCLUDED_
#define _NGX_HTTP_FARM_LEASE_H_INCLUDED_


#include "ngx_http_farm_zone.h"


#define NGX_HTTP_FARM_RATE_SLOTS  1024   /* client addresses, direct-mapped */


typedef struct {
    ngx_str_node_t                 sn;          /* by id, in ls->ids */
    ngx_rbtree_node_t              exp;         /* key: expiry, msec */
    ngx_msec_t                     ttl;
    uint64_t                       gen;         /* of the last put */
    u_char                        *json;        /* the record, slab */
    size_t                         json_len;
    u_char                         id[FARM_ID_MAX];
} ngx_http_farm_lease_t;


/* one client address's requests: a leaky bucket, in 1/1000 requests */
typedef struct {
    ngx_msec_t                     last;
    uint64_t                       excess;
} ngx_http_farm_rate_slot_t;


struct ngx_http_farm_leases_s {
    ngx_rbtree_t                   ids;
    ngx_rbtree_node_t              ids_sentinel;
    ngx_rbtree_t                   expiry;
    ngx_rbtree_node_t              expiry_sentinel;
    uint32_t                       n;
    uint64_t                       gen;         /* bumps on put, remove */
    uint64_t                       renewed;     /* heartbeats */
    uint64_t                       expired;
    ngx_http_farm_rate_slot_t      rate[NGX_HTTP_FARM_RATE_SLOTS];
};


size_t ngx_http_farm_leases_size(ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_leases_init(ngx_http_farm_zone_t *z);
ngx_http_farm_lease_t *ngx_http_farm_lease_find_locked(
    ngx_http_farm_zone_t *z, u_char *id, size_t len);
ngx_int_t ngx_http_farm_lease_put_locked(ngx_http_farm_zone_t *z,
    u_char *id, size_t len, u_char *json, size_t json_len, ngx_msec_t ttl,
    ngx_msec_t now, uint64_t *gen, ngx_uint_t *fresh);
ngx_int_t ngx_http_farm_lease_renew_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_lease_t *l, ngx_msec_t ttl, ngx_msec_t now);
ngx_int_t ngx_http_farm_lease_remove_locked(ngx_http_farm_zone_t *z,
    u_char *id, size_t len, uint64_t gen);
ngx_http_farm_lease_t *ngx_http_farm_lease_expired_locked(
    ngx_http_farm_zone_t *z, ngx_msec_t now);
ngx_http_farm_lease_t *ngx_http_farm_lease_after_locked(
    ngx_http_farm_zone_t *z, u_char *id, size_t len);
ngx_msec_t ngx_http_farm_lease_left_locked(ngx_http_farm_lease_t *l,
    ngx_msec_t now);
u_char *ngx_http_farm_lease_state_locked(ngx_http_farm_zone_t *z,
    u_char *id, size_t len, u_char *p);
ngx_int_t ngx_http_farm_lease_rate_locked(ngx_http_farm_zone_t *z,
    ngx_str_t *addr, ngx_uint_t rate, ngx_msec_t now);


#endif /* _NGX_HTTP_FARM_LEASE_H_INCLUDED_ */
