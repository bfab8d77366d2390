
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_dashboard: the live dashboard, one self-contained HTML page
 * (html/farm-dashboard.html, made a C string at build time by
 * scripts/dashboard-html.pl) that polls the farm_status JSON and, when
 * admin= is given, acts through farm_admin.  The page is served as it is
 * but for two <meta> tags naming those two locations; it runs under a
 * Content-Security-Policy that allows nothing but its own inline script
 * and style and requests to its own origin.
 *
 *     location = /farm/dashboard {
 *         farm_dashboard [status=/farm] [admin=/farm/admin/];
 *     }
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_farm_util.h"
#include "ngx_http_farm_dashboard_html.h"


typedef struct {
    ngx_str_t  config;          /* the <meta> tags, escaped; empty: unset */
} ngx_http_farm_dashboard_loc_conf_t;


static char *ngx_http_farm_dashboard(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_farm_dashboard_uri(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *value, ngx_str_t *uri);
static void *ngx_http_farm_dashboard_create_loc_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_farm_dashboard_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_dashboard_headers(ngx_http_request_t *r);


static ngx_command_t  ngx_http_farm_dashboard_commands[] = {

    { ngx_string("farm_dashboard"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE12,
      ngx_http_farm_dashboard,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_farm_dashboard_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_farm_dashboard_create_loc_conf, /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_farm_dashboard_module = {
    NGX_MODULE_V1,
    &ngx_http_farm_dashboard_module_ctx,   /* module context */
    ngx_http_farm_dashboard_commands,      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_farm_dashboard_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_farm_dashboard_loc_conf_t  *dlcf;

    dlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_dashboard_loc_conf_t));
    if (dlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     dlcf->config = { 0, NULL };
     */

    return dlcf;
}


/*
 * farm_dashboard [status=URI] [admin=URI]: the page in this location.
 * The tags it carries are built here, once: <meta name="farm-status"> is
 * always there (default /farm), <meta name="farm-admin"> only with admin=
 * (the page shows no action without it).
 */

static char *
ngx_http_farm_dashboard(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_dashboard_loc_conf_t  *dlcf = conf;

    u_char                    *p;
    size_t                     len;
    uintptr_t                  esc_status, esc_admin;
    ngx_str_t                 *value, status, admin, name[2], *uri[2];
    ngx_uint_t                 i, k;
    ngx_http_core_loc_conf_t  *clcf;

    if (dlcf->config.data) {
        return "is duplicate";
    }

    ngx_str_set(&status, "/farm");
    ngx_str_null(&admin);

    ngx_str_set(&name[0], "status");
    uri[0] = &status;
    ngx_str_set(&name[1], "admin");
    uri[1] = &admin;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (k = 0; k < 2; k++) {
            if (value[i].len > name[k].len
                && value[i].data[name[k].len] == '='
                && ngx_strncmp(value[i].data, name[k].data, name[k].len) == 0)
            {
                break;
            }
        }

        if (k == 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "farm_dashboard: invalid parameter \"%V\" "
                               "(takes status=URI and admin=URI)", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_farm_dashboard_uri(cf, &name[k], &value[i], uri[k])
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    esc_status = ngx_escape_html(NULL, status.data, status.len);
    esc_admin = ngx_escape_html(NULL, admin.data, admin.len);

    len = sizeof("<meta name=\"farm-status\" content=\"\">\n") - 1
          + status.len + esc_status;

    if (admin.len) {
        len += sizeof("<meta name=\"farm-admin\" content=\"\">\n") - 1
               + admin.len + esc_admin;
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    dlcf->config.data = p;

    p = ngx_cpymem(p, "<meta name=\"farm-status\" content=\"",
                   sizeof("<meta name=\"farm-status\" content=\"") - 1);
    p = (u_char *) ngx_escape_html(p, status.data, status.len);
    p = ngx_cpymem(p, "\">\n", 3);

    if (admin.len) {
        p = ngx_cpymem(p, "<meta name=\"farm-admin\" content=\"",
                       sizeof("<meta name=\"farm-admin\" content=\"") - 1);
        p = (u_char *) ngx_escape_html(p, admin.data, admin.len);
        p = ngx_cpymem(p, "\">\n", 3);
    }

    dlcf->config.len = p - dlcf->config.data;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_farm_dashboard_handler;

    return NGX_CONF_OK;
}


/*
 * The URI of a "name=URI" parameter: a path on this server, because the
 * page's Content-Security-Policy lets it talk to its own origin only.
 */

static char *
ngx_http_farm_dashboard_uri(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *value, ngx_str_t *uri)
{
    u_char  *p;

    uri->data = value->data + name->len + 1;
    uri->len = value->len - name->len - 1;

    if (uri->len == 0 || uri->data[0] != '/'
        || (uri->len > 1 && uri->data[1] == '/'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "farm_dashboard: %V= must be a path on this "
                           "server starting with a single \"/\", not \"%V\" "
                           "(the page may only talk to its own origin)",
                           name, uri);
        return NGX_CONF_ERROR;
    }

    for (p = uri->data; p < uri->data + uri->len; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '\\') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "farm_dashboard: %V= has a space, a control "
                               "character or a backslash: \"%V\"", name, uri);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_farm_dashboard_handler(ngx_http_request_t *r)
{
    ngx_int_t                            rc;
    ngx_buf_t                           *b;
    ngx_str_t                            part[3];
    ngx_uint_t                           i;
    ngx_chain_t                          out[3];
    ngx_http_farm_dashboard_loc_conf_t  *dlcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_dashboard_module);

    part[0].data = ngx_http_farm_dashboard_head;
    part[0].len = sizeof(ngx_http_farm_dashboard_head) - 1;
    part[1] = dlcf->config;
    part[2].data = ngx_http_farm_dashboard_tail;
    part[2].len = sizeof(ngx_http_farm_dashboard_tail) - 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = part[0].len + part[1].len + part[2].len;

    if (ngx_http_farm_dashboard_headers(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    /* the page is static memory: three buffers point into it, no copy */

    for (i = 0; i < 3; i++) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b->pos = part[i].data;
        b->last = part[i].data + part[i].len;
        b->memory = 1;

        out[i].buf = b;
        out[i].next = (i < 2) ? &out[i + 1] : NULL;
    }

    out[2].buf->last_buf = (r == r->main) ? 1 : 0;
    out[2].buf->last_in_chain = 1;

    return ngx_http_output_filter(r, &out[0]);
}


/*
 * The page's headers: its type, its Content-Security-Policy (the build's
 * hashes of its script and style), no sniffing, no framing, no referrer,
 * and no caching: the page names the locations of this configuration.
 */

static ngx_int_t
ngx_http_farm_dashboard_headers(ngx_http_request_t *r)
{
    ngx_str_t   value;
    ngx_uint_t  i;

    static char  *headers[][2] = {
        { "Content-Security-Policy", NGX_HTTP_FARM_DASHBOARD_CSP },
        { "X-Content-Type-Options", "nosniff" },
        { "X-Frame-Options", "DENY" },
        { "Referrer-Policy", "no-referrer" },
        { "Cache-Control", "no-store" }
    };

    ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.charset.len = 0;

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        value.data = (u_char *) headers[i][1];
        value.len = ngx_strlen(headers[i][1]);

        if (ngx_http_farm_add_header(r, headers[i][0], &value) == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
