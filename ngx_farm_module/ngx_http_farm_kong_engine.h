
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's plugins whose decisions are made by a kong-compat engine
 * built once per plugin at load: cors (kong_cors.c) and request-transformer
 * (kong_xform.c).  ngx_http_farm_kong_engine.c keeps the engines of a
 * loaded file (built, looked up, freed with the cycle);
 * ngx_http_farm_kong_cors.c and ngx_http_farm_kong_xform.c bind them to
 * the rewrite phase and the header filter.
 */


#ifndef _NGX_HTTP_FARM_KONG_ENGINE_H_INCLUDED_
#define _NGX_HTTP_FARM_KONG_ENGINE_H_INCLUDED_


#include "ngx_http_farm_kong.h"

/*
 * kong_plugin.h (the loader's validated configuration) and the engines'
 * headers both name a kong_cors_conf_t and a kong_xform_conf_t: here, where
 * both are needed, the engines' are called kong_cors_engine_conf_t and
 * kong_xform_engine_conf_t.
 */
#define kong_cors_conf_t   kong_cors_engine_conf_t
#define kong_xform_conf_t  kong_xform_engine_conf_t
#include <kong_cors.h>
#include <kong_xform.h>
#undef kong_cors_conf_t
#undef kong_xform_conf_t


typedef struct {
    const kong_plugin_t        *plugin;
    void                       *engine;   /* kong_cors_t, kong_xform_t */
    ngx_uint_t                  type;     /* KONG_PLUGIN_* */
} ngx_http_farm_kong_engine_t;


/* ngx_http_farm_kong_engine.c */
ngx_int_t ngx_http_farm_kong_engines_conf(ngx_conf_t *cf,
    ngx_http_farm_kong_conf_t *kc, ngx_uint_t skip);
void *ngx_http_farm_kong_engine(ngx_http_farm_kong_conf_t *kc,
    const kong_plugin_t *p);
kong_header_t *ngx_http_farm_kong_engine_headers(ngx_http_request_t *r,
    size_t *n);

/* ngx_http_farm_kong_cors.c */
ngx_int_t ngx_http_farm_kong_cors(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p);
ngx_int_t ngx_http_farm_kong_cors_filter(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);

/* ngx_http_farm_kong_xform.c */
ngx_int_t ngx_http_farm_kong_request_transformer(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p);
/* the request body as one string; the route's regex captures into req */
ngx_int_t ngx_http_farm_kong_xform_body(ngx_http_request_t *r,
    ngx_str_t *body);
ngx_int_t ngx_http_farm_kong_xform_captures(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, kong_xform_request_t *req);

/* ngx_http_farm_kong_echo.c: request-termination's echo */
ngx_int_t ngx_http_farm_kong_echo(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_request_termination_conf_t *conf);


#endif /* _NGX_HTTP_FARM_KONG_ENGINE_H_INCLUDED_ */
