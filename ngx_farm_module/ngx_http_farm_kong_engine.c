
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The engines of a loaded kong.yml's cors and request-transformer plugins:
 * built at load from the loader's validated configuration (the engine
 * checks what the loader leaves to it: regex origins, templates), kept
 * sorted by plugin address for the requests' lookups, freed when the
 * configuration's pool goes.
 */


#include "ngx_http_farm_kong_engine.h"


static void *ngx_http_farm_kong_cors_create(const kong_plugin_t *p,
    char *err, size_t size);
static void *ngx_http_farm_kong_xform_create(const kong_plugin_t *p,
    char *err, size_t size);
static void ngx_http_farm_kong_xform_list(kong_xform_engine_conf_t *xc,
    ngx_uint_t op, const kong_xform_ops_t *ops);
static int ngx_libc_cdecl ngx_http_farm_kong_engine_cmp(const void *a,
    const void *b);
static void ngx_http_farm_kong_engines_free(void *data);


ngx_int_t
ngx_http_farm_kong_engines_conf(ngx_conf_t *cf, ngx_http_farm_kong_conf_t *kc,
    ngx_uint_t skip)
{
    char                          err[512];
    void                         *e;
    size_t                        i;
    kong_plugin_t                *p;
    kong_config_t                *kong;
    ngx_pool_cleanup_t           *cln;
    ngx_http_farm_kong_engine_t  *ke;

    kong = kc->kong;

    if (!(kong->used & ((1u << KONG_PLUGIN_CORS)
                        | (1u << KONG_PLUGIN_REQUEST_TRANSFORMER))))
    {
        return NGX_OK;
    }

    if (ngx_array_init(&kc->engines, cf->pool, 4,
                       sizeof(ngx_http_farm_kong_engine_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_farm_kong_engines_free;
    cln->data = &kc->engines;

    for (i = 0; i < kong->plugins.n; i++) {
        p = kong->plugins.items[i];

        if (!p->enabled) {
            continue;
        }

        err[0] = '\0';

        switch (p->type) {

        case KONG_PLUGIN_CORS:
            e = ngx_http_farm_kong_cors_create(p, err, sizeof(err));
            break;

        case KONG_PLUGIN_REQUEST_TRANSFORMER:
            e = ngx_http_farm_kong_xform_create(p, err, sizeof(err));
            break;

        default:
            continue;
        }

        if (e == NULL) {
            /* with skip_invalid the plugin has no engine and does not
             * run (ngx_http_farm_kong_engine returns NULL) */

            ngx_conf_log_error(skip ? NGX_LOG_WARN : NGX_LOG_EMERG, cf, 0,
                               "farm_kong: %s:%ud:%ud: %s: %s%s",
                               kong->file, p->pos.line, p->pos.col, p->path,
                               err[0] ? err : "out of memory",
                               skip ? "; skipped" : "");

            if (skip && err[0]) {
                continue;
            }

            return NGX_ERROR;
        }

        ke = ngx_array_push(&kc->engines);
        if (ke == NULL) {
            if (p->type == KONG_PLUGIN_CORS) {
                kong_cors_free(e);

            } else {
                kong_xform_free(e);
            }

            return NGX_ERROR;
        }

        ke->plugin = p;
        ke->engine = e;
        ke->type = p->type;
    }

    ngx_qsort(kc->engines.elts, kc->engines.nelts,
              sizeof(ngx_http_farm_kong_engine_t),
              ngx_http_farm_kong_engine_cmp);

    return NGX_OK;
}


/* the engine built for p, or NULL (none: the plugin does not run) */

void *
ngx_http_farm_kong_engine(ngx_http_farm_kong_conf_t *kc,
    const kong_plugin_t *p)
{
    ngx_uint_t                    lo, hi, mid;
    ngx_http_farm_kong_engine_t  *ke;

    ke = kc->engines.elts;
    lo = 0;
    hi = kc->engines.nelts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (ke[mid].plugin == p) {
            return ke[mid].engine;
        }

        if ((uintptr_t) ke[mid].plugin < (uintptr_t) p) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


/* every request header as the engines take them, in order */

kong_header_t *
ngx_http_farm_kong_engine_headers(ngx_http_request_t *r, size_t *n)
{
    size_t            count;
    ngx_uint_t        i;
    kong_header_t    *kh;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    count = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        count += part->nelts;
    }

    kh = ngx_palloc(r->pool, (count ? count : 1) * sizeof(kong_header_t));
    if (kh == NULL) {
        return NULL;
    }

    *n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0) {
                continue;
            }

            kh[*n].name = (const char *) h[i].key.data;
            kh[*n].name_len = h[i].key.len;
            kh[*n].value = (const char *) h[i].value.data;
            kh[*n].value_len = h[i].value.len;
            (*n)++;
        }
    }

    return kh;
}


static void *
ngx_http_farm_kong_cors_create(const kong_plugin_t *p, char *err,
    size_t size)
{
    const kong_cors_conf_t   *conf;
    kong_cors_engine_conf_t   cc;

    conf = p->conf;

    kong_cors_conf_default(&cc);

    cc.origins = (const char *const *) conf->origins.items;
    cc.n_origins = conf->origins.n;
    cc.headers = (const char *const *) conf->headers.items;
    cc.n_headers = conf->headers.n;
    cc.exposed_headers = (const char *const *) conf->exposed_headers.items;
    cc.n_exposed_headers = conf->exposed_headers.n;

    if (conf->methods.n) {
        cc.methods = (const char *const *) conf->methods.items;
        cc.n_methods = conf->methods.n;
    }

    cc.has_max_age = (conf->max_age >= 0);
    cc.max_age = cc.has_max_age ? conf->max_age : 0;
    cc.credentials = conf->credentials;
    cc.private_network = conf->private_network;
    cc.preflight_continue = conf->preflight_continue;
    cc.allow_origin_absent = conf->allow_origin_absent;

    return kong_cors_create(&cc, err, size);
}


static void *
ngx_http_farm_kong_xform_create(const kong_plugin_t *p, char *err,
    size_t size)
{
    const kong_xform_conf_t   *conf;
    kong_xform_engine_conf_t   xc;

    conf = p->conf;

    ngx_memzero(&xc, sizeof(kong_xform_engine_conf_t));

    ngx_http_farm_kong_xform_list(&xc, KONG_XFORM_REMOVE, &conf->remove);
    ngx_http_farm_kong_xform_list(&xc, KONG_XFORM_RENAME, &conf->rename);
    ngx_http_farm_kong_xform_list(&xc, KONG_XFORM_REPLACE, &conf->replace);
    ngx_http_farm_kong_xform_list(&xc, KONG_XFORM_ADD, &conf->add);
    ngx_http_farm_kong_xform_list(&xc, KONG_XFORM_APPEND, &conf->append);

    xc.http_method = conf->http_method;
    xc.replace_uri = conf->replace.uri;

    return kong_xform_create(&xc, KONG_XFORM_REQUEST, err, size);
}


static void
ngx_http_farm_kong_xform_list(kong_xform_engine_conf_t *xc, ngx_uint_t op,
    const kong_xform_ops_t *ops)
{
    kong_xform_list_t  *l;

    l = xc->items[op];

    l[KONG_XFORM_HEADERS].items = (const char *const *) ops->headers.items;
    l[KONG_XFORM_HEADERS].n = ops->headers.n;
    l[KONG_XFORM_QUERY].items = (const char *const *) ops->querystring.items;
    l[KONG_XFORM_QUERY].n = ops->querystring.n;
    l[KONG_XFORM_BODY].items = (const char *const *) ops->body.items;
    l[KONG_XFORM_BODY].n = ops->body.n;
}


static int ngx_libc_cdecl
ngx_http_farm_kong_engine_cmp(const void *a, const void *b)
{
    uintptr_t  pa, pb;

    pa = (uintptr_t) ((const ngx_http_farm_kong_engine_t *) a)->plugin;
    pb = (uintptr_t) ((const ngx_http_farm_kong_engine_t *) b)->plugin;

    return (pa > pb) - (pa < pb);
}


static void
ngx_http_farm_kong_engines_free(void *data)
{
    ngx_array_t                  *engines = data;

    ngx_uint_t                    i;
    ngx_http_farm_kong_engine_t  *ke;

    ke = engines->elts;

    for (i = 0; i < engines->nelts; i++) {
        if (ke[i].type == KONG_PLUGIN_CORS) {
            kong_cors_free(ke[i].engine);

        } else {
            kong_xform_free(ke[i].engine);
        }
    }

    engines->nelts = 0;
}
