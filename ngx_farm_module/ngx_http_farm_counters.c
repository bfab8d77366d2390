
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The "farm_counters" shared zone (ngx_http_farm_counters.h): added by
 * every module that uses it, the same zone for all of them (one name, one
 * tag); kept across reloads, so the counters are too.
 */


#include "ngx_http_farm_counters.h"


#define NGX_HTTP_FARM_COUNTERS_PAGES  8


static ngx_int_t ngx_http_farm_counters_init(ngx_shm_zone_t *shm_zone,
    void *data);


/* the zone's tag: the same for every module that adds it */
static u_char  ngx_http_farm_counters_tag;


ngx_shm_zone_t *
ngx_http_farm_counters_zone(ngx_conf_t *cf)
{
    ngx_str_t        name;
    ngx_shm_zone_t  *zone;

    ngx_str_set(&name, "farm_counters");

    zone = ngx_shared_memory_add(cf, &name,
                                 NGX_HTTP_FARM_COUNTERS_PAGES * ngx_pagesize,
                                 &ngx_http_farm_counters_tag);
    if (zone == NULL) {
        return NULL;
    }

    zone->init = ngx_http_farm_counters_init;

    return zone;
}


static ngx_int_t
ngx_http_farm_counters_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t           *shpool;
    ngx_http_farm_counters_t  *counters;

    if (data) {
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    counters = ngx_slab_calloc(shpool, sizeof(ngx_http_farm_counters_t));
    if (counters == NULL) {
        return NGX_ERROR;
    }

    shpool->data = counters;
    shm_zone->data = counters;

    return NGX_OK;
}
