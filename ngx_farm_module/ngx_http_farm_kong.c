/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong, the module glue: the "farm_kong FILE [skip_invalid] | off"
 * directive (the file is loaded and validated at configuration time, so a
 * broken file fails nginx -t and a reload, naming FILE:LINE:COLUMN), the
 * $farm_kong_* variables, the rewrite phase handler's and the header
 * filter's registration, and the implicit "farm_kong" upstream.  A reload
 * loads the file into the new cycle; the old cycle's configuration is freed
 * with the old cycle's pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_farm_kong.h"


#define NGX_HTTP_FARM_KONG_ERR_LEN  1024


static ngx_int_t ngx_http_farm_kong_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_farm_kong_init(ngx_conf_t *cf);
static void *ngx_http_farm_kong_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_farm_kong_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_farm_kong_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_farm_kong(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_farm_kong_add_upstream(ngx_conf_t *cf,
    ngx_http_farm_kong_main_conf_t *kmcf);
static void ngx_http_farm_kong_cleanup(void *data);
static ngx_int_t ngx_http_farm_kong_init_process(ngx_cycle_t *cycle);
static void ngx_http_farm_kong_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_farm_kong_commands[] = {

    { ngx_string("farm_kong"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_farm_kong,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_kong_upstream"),
      NGX_HTTP_UPS_CONF|NGX_CONF_NOARGS,
      ngx_http_farm_kong_upstream,
      0,
      0,
      NULL },

    { ngx_string("farm_kong_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_farm_kong_prom_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_farm_kong_module_ctx = {
    ngx_http_farm_kong_add_variables,      /* preconfiguration */
    ngx_http_farm_kong_init,               /* postconfiguration */

    ngx_http_farm_kong_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_farm_kong_create_loc_conf,    /* create location configuration */
    ngx_http_farm_kong_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_farm_kong_module = {
    NGX_MODULE_V1,
    &ngx_http_farm_kong_module_ctx,        /* module context */
    ngx_http_farm_kong_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_farm_kong_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_farm_kong_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_farm_kong_vars[] = {

    { ngx_string("farm_kong_url"), NULL, ngx_http_farm_kong_variable,
      offsetof(ngx_http_farm_kong_ctx_t, url),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("farm_kong_host"), NULL, ngx_http_farm_kong_variable,
      offsetof(ngx_http_farm_kong_ctx_t, host),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("farm_kong_forwarded_proto"), NULL,
      ngx_http_farm_kong_variable,
      offsetof(ngx_http_farm_kong_ctx_t, fwd_proto),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("farm_kong_forwarded_host"), NULL,
      ngx_http_farm_kong_variable,
      offsetof(ngx_http_farm_kong_ctx_t, fwd_host),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("farm_kong_forwarded_port"), NULL,
      ngx_http_farm_kong_variable,
      offsetof(ngx_http_farm_kong_ctx_t, fwd_port),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("farm_kong_forwarded_path"), NULL,
      ngx_http_farm_kong_variable,
      offsetof(ngx_http_farm_kong_ctx_t, fwd_path),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("farm_kong_forwarded_prefix"), NULL,
      ngx_http_farm_kong_variable,
      offsetof(ngx_http_farm_kong_ctx_t, fwd_prefix),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("farm_kong_request_id"), NULL, ngx_http_farm_kong_variable,
      offsetof(ngx_http_farm_kong_ctx_t, request_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_farm_kong_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_farm_kong_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * After the http{} block: the rewrite phase handler, and which services
 * name an nginx upstream {} block (a farm) by their host.
 */

static ngx_int_t
ngx_http_farm_kong_init(ngx_conf_t *cf)
{
    size_t                            len;
    ngx_uint_t                        i, j, k;
    kong_config_t                    *kong;
    ngx_http_handler_pt              *h;
    const kong_service_t             *s;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_farm_kong_conf_t       **kc;
    ngx_http_upstream_srv_conf_t    **uscf;
    ngx_http_upstream_main_conf_t    *umcf;
    ngx_http_farm_kong_main_conf_t   *kmcf;

    kmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_kong_module);

    if (kmcf->confs.nelts == 0) {
        return NGX_OK;
    }

    if (ngx_http_farm_kong_buffering_init(cf, kmcf) != NGX_OK
        || ngx_http_farm_kong_forwarded_init(cf, kmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_farm_kong_handler;

    /* response-transformer's filters run after farm_kong's own */

    if (ngx_http_farm_kong_resp_init(cf) != NGX_OK
        || ngx_http_farm_kong_prom_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_farm_kong_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_farm_kong_header_filter;

    ngx_http_farm_kong_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_farm_kong_body_filter;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscf = umcf->upstreams.elts;
    kc = kmcf->confs.elts;

    for (i = 0; i < kmcf->confs.nelts; i++) {
        kong = kc[i]->kong;

        for (j = 0; j < kong->nservices; j++) {
            len = ngx_strlen(kong->services[j]->host);

            for (k = 0; k < umcf->upstreams.nelts; k++) {
                if (!(uscf[k]->flags & NGX_HTTP_UPSTREAM_CREATE)
                    || uscf[k]->peer.init_upstream
                       == ngx_http_farm_kong_init_upstream
                    || uscf[k]->host.len != len
                    || ngx_strncasecmp(uscf[k]->host.data,
                                       (u_char *) kong->services[j]->host,
                                       len)
                       != 0)
                {
                    continue;
                }

                kc[i]->farm[kong->services[j]->index] = 1;

                s = kong->services[j];

                if (s->protocol == KONG_PROTO_HTTPS
                    && (s->tls_verify != -1 || s->tls_verify_depth != -1
                        || s->nca_certificates))
                {
                    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                                       "farm_kong: %V:%ud:%ud: service "
                                       "\"%s\": tls_verify, tls_verify_depth "
                                       "and ca_certificates are not applied "
                                       "to the nginx upstream \"%V\": the "
                                       "location's proxy_ssl_* settings are",
                                       &kc[i]->file, s->pos.line, s->pos.col,
                                       s->name ? s->name : s->host,
                                       &uscf[k]->host);
                }
            }
        }
    }

    return NGX_OK;
}


static void *
ngx_http_farm_kong_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_farm_kong_main_conf_t  *kmcf;

    kmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_kong_main_conf_t));
    if (kmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&kmcf->confs, cf->pool, 2,
                       sizeof(ngx_http_farm_kong_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return kmcf;
}


static void *
ngx_http_farm_kong_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_farm_kong_loc_conf_t  *klcf;

    klcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_kong_loc_conf_t));
    if (klcf == NULL) {
        return NULL;
    }

    klcf->conf = NGX_CONF_UNSET_PTR;

    return klcf;
}


static char *
ngx_http_farm_kong_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_farm_kong_loc_conf_t  *prev = parent;
    ngx_http_farm_kong_loc_conf_t  *conf = child;

    ngx_conf_merge_ptr_value(conf->conf, prev->conf, NULL);

    return NGX_CONF_OK;
}


/*
 * farm_kong FILE [skip_invalid] | off.  Every error of the file is logged
 * as "farm_kong: FILE:LINE:COLUMN: entity path: message"; with
 * skip_invalid the valid entities load and each error is a warning.
 */

static char *
ngx_http_farm_kong(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_kong_loc_conf_t *klcf = conf;

    u_char                           err[NGX_HTTP_FARM_KONG_ERR_LEN];
    size_t                           i;
    unsigned                         flags;
    ngx_str_t                       *value, file;
    kong_errors_t                    errs;
    kong_config_t                   *kong;
    ngx_pool_cleanup_t              *cln;
    ngx_http_farm_kong_conf_t       *kc, **kcp;
    ngx_http_farm_kong_main_conf_t  *kmcf;

    if (klcf->conf != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameter after \"off\"";
        }

        klcf->conf = NULL;
        return NGX_CONF_OK;
    }

    flags = 0;

    if (cf->args->nelts == 3) {
        if (ngx_strcmp(value[2].data, "skip_invalid") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown \"farm_kong\" parameter \"%V\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        flags = KONG_LOAD_SKIP_INVALID;
    }

    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    kong = kong_load_file((char *) file.data, flags, &errs);

    for (i = 0; i < errs.n; i++) {
        kong_error_format(&errs, i, (char *) err, sizeof(err));
        ngx_conf_log_error(kong ? NGX_LOG_WARN : NGX_LOG_EMERG, cf, 0,
                           "farm_kong: %s", err);
    }

    if (errs.dropped) {
        ngx_conf_log_error(kong ? NGX_LOG_WARN : NGX_LOG_EMERG, cf, 0,
                           "farm_kong: %V: %uz more errors not shown",
                           &file, errs.dropped);
    }

    kong_errors_free(&errs);

    if (kong == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        kong_config_free(kong);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_farm_kong_cleanup;
    cln->data = kong;

    kc = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_kong_conf_t));
    if (kc == NULL) {
        return NGX_CONF_ERROR;
    }

    kc->file = file;
    kc->kong = kong;
    kc->rr = ngx_pcalloc(cf->pool, (kong->nupstreams + 1)
                                   * sizeof(ngx_uint_t));
    kc->farm = ngx_pcalloc(cf->pool, kong->nservices + 1);
    kc->cw_off = ngx_pcalloc(cf->pool, (kong->nupstreams + 1)
                                       * sizeof(ngx_uint_t));
    kc->cw = ngx_pcalloc(cf->pool, (kong->ntargets + 1) * sizeof(ngx_int_t));
    kc->active = ngx_pcalloc(cf->pool, (kong->ntargets + 1)
                                       * sizeof(ngx_uint_t));
    if (kc->rr == NULL || kc->farm == NULL || kc->cw_off == NULL
        || kc->cw == NULL || kc->active == NULL)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < kong->nupstreams; i++) {
        kc->cw_off[i] = kc->cw_off[i - 1] + kong->upstreams[i - 1]->ntargets;
    }

    if (ngx_http_farm_kong_plugins_conf(cf, kc, flags & KONG_LOAD_SKIP_INVALID)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    kmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_kong_module);

    if (ngx_http_farm_kong_health_conf(cf, kc, kmcf->confs.nelts) != NGX_OK
        || ngx_http_farm_kong_tls_conf(cf, kc) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    kcp = ngx_array_push(&kmcf->confs);
    if (kcp == NULL) {
        return NGX_CONF_ERROR;
    }

    *kcp = kc;

    if (ngx_http_farm_kong_add_upstream(cf, kmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    klcf->conf = kc;

    return NGX_CONF_OK;
}


/* the implicit upstream {} every farm_kong proxy_pass names, once */

static ngx_int_t
ngx_http_farm_kong_add_upstream(ngx_conf_t *cf,
    ngx_http_farm_kong_main_conf_t *kmcf)
{
    ngx_url_t                      u;
    ngx_http_upstream_srv_conf_t  *uscf;

    if (kmcf->upstream_added) {
        return NGX_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    ngx_str_set(&u.host, NGX_HTTP_FARM_KONG_UPSTREAM);
    u.no_resolve = 1;
    u.no_port = 1;

    uscf = ngx_http_upstream_add(cf, &u, NGX_HTTP_UPSTREAM_CREATE);
    if (uscf == NULL) {
        return NGX_ERROR;
    }

    uscf->peer.init_upstream = ngx_http_farm_kong_init_upstream;
    kmcf->upstream_added = 1;

    return NGX_OK;
}


static void
ngx_http_farm_kong_cleanup(void *data)
{
    kong_config_free(data);
}


/* the active health checks, and rate-limiting's sync_rate */

static ngx_int_t
ngx_http_farm_kong_init_process(ngx_cycle_t *cycle)
{
    if (ngx_http_farm_kong_health_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_farm_kong_rl_sync_init_process(cycle);
}


static void
ngx_http_farm_kong_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_farm_kong_health_exit_process(cycle);
    ngx_http_farm_kong_rl_sync_exit_process(cycle);
}
