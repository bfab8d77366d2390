
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FARM_JSON_ARENA_H_INCLUDED_
#define _NGX_HTTP_FARM_JSON_ARENA_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct ngx_http_farm_json_arena_s  ngx_http_farm_json_arena_t;


void ngx_http_farm_json_arena_init(void);
ngx_http_farm_json_arena_t *ngx_http_farm_json_arena_enter(void);
void ngx_http_farm_json_arena_leave(ngx_http_farm_json_arena_t *arena);
ngx_http_farm_json_arena_t *ngx_http_farm_json_arena_switch(
    ngx_http_farm_json_arena_t *arena);


#endif /* _NGX_HTTP_FARM_JSON_ARENA_H_INCLUDED_ */
