
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Access log variables from the request's farm context (ngx_http_farm_ctx_t,
 * filled by the request path): $farm_tries (agents tried), $farm_queue_wait_ms
 * (time in farm_queue, empty when not queued) and $farm_refusal (why the
 * gateway refused the request, empty when it did not).  $farm_agent and
 * $farm_region are the balancer's (ngx_http_farm_balancer.c).
 */


#include "ngx_http_farm_admin.h"
#include "ngx_http_farm_request.h"


static ngx_int_t ngx_http_farm_logvar_number(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uint64_t n);
static ngx_int_t ngx_http_farm_logvar_tries(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_farm_logvar_queue_wait(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_farm_logvar_refusal(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_farm_logvars[] = {

    { ngx_string("farm_tries"), NULL, ngx_http_farm_logvar_tries,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("farm_queue_wait_ms"), NULL,
      ngx_http_farm_logvar_queue_wait, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("farm_refusal"), NULL, ngx_http_farm_logvar_refusal,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* the names of NGX_HTTP_FARM_REJECT_*, as $farm_refusal gives them */
static const char  *ngx_http_farm_refusals[] = {
    "",
    "no_agent",
    "no_caps",
    "bad_caps",
    "queue_full",
    "queue_timeout",
    "client_limit",
    "all_failed"
};


ngx_int_t
ngx_http_farm_logvar_add(ngx_conf_t *cf)
{
    return ngx_http_farm_variables_add(cf, ngx_http_farm_logvars);
}


static ngx_int_t
ngx_http_farm_logvar_number(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uint64_t n)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%uL", n) - p;
    v->data = p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_logvar_tries(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_farm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_farm_logvar_number(r, v, ctx->tries);
}


static ngx_int_t
ngx_http_farm_logvar_queue_wait(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_farm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_module);

    if (ctx == NULL || !(ctx->was_queued || ctx->waiting)) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_farm_logvar_number(r, v, ctx->was_queued
                                             ? ctx->waited
                                             : ngx_current_msec
                                               - ctx->queued_at);
}


static ngx_int_t
ngx_http_farm_logvar_refusal(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char           *name;
    ngx_http_farm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_module);

    if (ctx == NULL || ctx->reject == NGX_HTTP_FARM_REJECT_NONE
        || ctx->reject >= sizeof(ngx_http_farm_refusals) / sizeof(char *))
    {
        v->not_found = 1;
        return NGX_OK;
    }

    name = ngx_http_farm_refusals[ctx->reject];

    v->len = ngx_strlen(name);
    v->data = (u_char *) name;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
