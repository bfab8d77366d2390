
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 5, registry: the state= file of farm_registry
 * (ngx_http_farm_state.c).  File I/O only: it saves the zone's agents and
 * hands the records it loads to a sink; it never calls the sync layer.
 */


#ifndef _NGX_HTTP_FARM_STATE_H_INCLUDED_
#define _NGX_HTTP_FARM_STATE_H_INCLUDED_


#include "ngx_http_farm_zone.h"


/*
 * Where loaded records go: a full sync, as ngx_http_farm_sync.c takes it
 * (the module glue passes sync_begin, sync_parsed and sync_end).
 */
typedef struct {
    void                         (*begin)(ngx_http_farm_srv_conf_t *fcf);
    ngx_int_t                    (*parsed)(ngx_http_farm_srv_conf_t *fcf,
                                           u_char *label, size_t label_len,
                                           farm_record_t *rec,
                                           ngx_uint_t full);
    void                         (*end)(ngx_http_farm_srv_conf_t *fcf);

    /*
     * Optional (the built-in registry's leases): called before parsed with
     * the record's "expires_at" (Unix time in ms, 0 when absent); a record
     * it declines is left out.
     */
    ngx_int_t                    (*restore)(ngx_http_farm_srv_conf_t *fcf,
                                            farm_record_t *rec,
                                            int64_t expires_at);
} ngx_http_farm_state_sink_t;


void ngx_http_farm_state_sync_end(ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_state_conf(ngx_conf_t *cf);
ngx_int_t ngx_http_farm_state_load(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log, const ngx_http_farm_state_sink_t *sink);


#endif /* _NGX_HTTP_FARM_STATE_H_INCLUDED_ */
