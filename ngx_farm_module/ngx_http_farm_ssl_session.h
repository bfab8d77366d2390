
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 1, nginx utilities: TLS client contexts, and TLS sessions to
 * upstream peers kept for reuse per worker (ngx_http_farm_ssl_session.c),
 * for a balancer's set_session and save_session hooks.
 */


#ifndef _NGX_HTTP_FARM_SSL_SESSION_H_INCLUDED_
#define _NGX_HTTP_FARM_SSL_SESSION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_http.h>


#if (NGX_SSL)
ngx_ssl_t *ngx_http_farm_ssl_client(ngx_conf_t *cf);
#endif

#if (NGX_HTTP_SSL)
ngx_int_t ngx_http_farm_ssl_session_set(ngx_peer_connection_t *pc);
void ngx_http_farm_ssl_session_save(ngx_peer_connection_t *pc);
#endif


#endif /* _NGX_HTTP_FARM_SSL_SESSION_H_INCLUDED_ */
