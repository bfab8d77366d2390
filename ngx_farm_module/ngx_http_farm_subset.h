
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 2, the zone model: subsets, the agents of one (region,
 * capabilities) filter with a selection tree of their own, kept by the zone
 * model as agents change (ngx_http_farm_subset.c).
 */


#ifndef _NGX_HTTP_FARM_SUBSET_H_INCLUDED_
#define _NGX_HTTP_FARM_SUBSET_H_INCLUDED_


#include "ngx_http_farm_zone.h"


ngx_http_farm_subset_t *ngx_http_farm_subset_get_locked(
    ngx_http_farm_zone_t *z, ngx_uint_t region, uint64_t caps);
void ngx_http_farm_subsets_update_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a);
void ngx_http_farm_subsets_touch_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a);
void ngx_http_farm_subsets_rebuild(ngx_http_farm_zone_t *z);
void ngx_http_farm_subsets_reorder_locked(ngx_http_farm_zone_t *z);


#endif /* _NGX_HTTP_FARM_SUBSET_H_INCLUDED_ */
