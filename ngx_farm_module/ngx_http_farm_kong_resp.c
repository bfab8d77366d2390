
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's response-transformer: kong-compat/kong_xform.c's engine
 * bound to nginx's header and body filters.  At load, one engine per
 * enabled plugin (a bad item or template fails nginx -t naming it).  The
 * plugin step of the rewrite phase picks the configuration Kong's
 * precedence gives the request; the header filter then rewrites the
 * response headers (remove, rename, replace, add, append, in Kong's
 * order), and for a JSON response with json operations holds the header
 * back, buffers the body (in memory, at most NGX_HTTP_FARM_KONG_RESP_MAX
 * bytes), transforms it and sends the header with the new Content-Length
 * and the new body.  A gzip body is inflated first and compressed again
 * (kong-compat/kong_gzip.c), as Kong does.  A body over the bound, in
 * another encoding, or not a JSON object passes unchanged.
 */


#include "ngx_http_farm_kong.h"
#include "kong_gzip.h"

/*
 * kong_plugin.h (through ngx_http_farm_kong.h) names the plugin's parsed
 * configuration kong_xform_conf_t; the engine's header uses the same name
 * for its own input.  Here the engine's is seen under another name.
 */
#define kong_xform_conf_t  ngx_http_farm_kong_xform_in_t
#include <kong_xform.h>
#undef kong_xform_conf_t


/* the largest response body transformed; a larger one passes unchanged */
#define NGX_HTTP_FARM_KONG_RESP_MAX  (4 * 1024 * 1024)

/* response headers given to the engine */
#define NGX_HTTP_FARM_KONG_RESP_HEADERS  256


typedef struct {
    const kong_plugin_t       *plugin;
    kong_xform_t              *engine;
} ngx_http_farm_kong_xform_t;


struct ngx_http_farm_kong_xforms_s {
    ngx_http_farm_kong_xform_t  *elts;    /* by plugin address */
    ngx_uint_t                   nelts;
};


struct ngx_http_farm_kong_resp_s {
    kong_xform_t              *engine;
    ngx_chain_t               *bufs;      /* the body so far, copied */
    ngx_chain_t              **last;
    size_t                     size;
    unsigned                   buffering:1;
    unsigned                   gzip:1;    /* Content-Encoding: gzip */
};


static int ngx_libc_cdecl ngx_http_farm_kong_xform_cmp(const void *a,
    const void *b);
static void ngx_http_farm_kong_xform_cleanup(void *data);
static ngx_int_t ngx_http_farm_kong_resp_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_kong_resp_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_farm_kong_resp_headers(ngx_http_request_t *r,
    ngx_http_farm_kong_resp_t *rctx);
static void ngx_http_farm_kong_resp_apply(ngx_http_request_t *r,
    kong_header_t *in, ngx_uint_t nin, kong_header_t *out, ngx_uint_t nout);
static ngx_uint_t ngx_http_farm_kong_resp_same(kong_header_t *in,
    ngx_uint_t nin, kong_header_t *out, ngx_uint_t nout, kong_header_t *name);
static void ngx_http_farm_kong_resp_remove(ngx_http_request_t *r,
    kong_header_t *name);
static ngx_int_t ngx_http_farm_kong_resp_push(ngx_http_request_t *r,
    kong_header_t *h);
static ngx_int_t ngx_http_farm_kong_resp_body(ngx_http_request_t *r,
    ngx_http_farm_kong_resp_t *rctx);
static ngx_int_t ngx_http_farm_kong_resp_pass(ngx_http_request_t *r,
    ngx_http_farm_kong_resp_t *rctx, ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_farm_kong_resp_next_header;
static ngx_http_output_body_filter_pt    ngx_http_farm_kong_resp_next_body;


#define ngx_http_farm_kong_resp_is(h, lit)                                  \
    ((h)->name_len == sizeof(lit) - 1                                       \
     && ngx_strncasecmp((u_char *) (h)->name, (u_char *) lit,               \
                        sizeof(lit) - 1)                                    \
        == 0)


/*
 * At load: an engine for each enabled response-transformer plugin, kept
 * sorted by the plugin's address for the request's lookup.
 */

ngx_int_t
ngx_http_farm_kong_resp_conf(ngx_conf_t *cf, ngx_http_farm_kong_conf_t *kc)
{
    int                            op;
    char                           err[256];
    size_t                         i;
    kong_plugin_t                 *p;
    kong_config_t                 *kong;
    kong_xform_ops_t              *ops;
    ngx_pool_cleanup_t            *cln;
    const kong_xform_conf_t       *pc;
    ngx_http_farm_kong_xform_t    *xf;
    ngx_http_farm_kong_xforms_t   *xfs;
    ngx_http_farm_kong_xform_in_t  in;

    kong = kc->kong;

    if (!(kong->used & (1u << KONG_PLUGIN_RESPONSE_TRANSFORMER))) {
        return NGX_OK;
    }

    xfs = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_kong_xforms_t));
    if (xfs == NULL) {
        return NGX_ERROR;
    }

    xfs->elts = ngx_pcalloc(cf->pool, (kong->plugins.n + 1)
                                      * sizeof(ngx_http_farm_kong_xform_t));
    if (xfs->elts == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < kong->plugins.n; i++) {
        p = kong->plugins.items[i];

        if (!p->enabled || p->type != KONG_PLUGIN_RESPONSE_TRANSFORMER) {
            continue;
        }

        pc = p->conf;
        ngx_memzero(&in, sizeof(ngx_http_farm_kong_xform_in_t));

        for (op = 0; op < KONG_XFORM_NOPS; op++) {
            ops = op == KONG_XFORM_REMOVE ? (kong_xform_ops_t *) &pc->remove
                  : op == KONG_XFORM_RENAME ? (kong_xform_ops_t *) &pc->rename
                  : op == KONG_XFORM_REPLACE
                    ? (kong_xform_ops_t *) &pc->replace
                  : op == KONG_XFORM_ADD ? (kong_xform_ops_t *) &pc->add
                  : (kong_xform_ops_t *) &pc->append;

            in.items[op][KONG_XFORM_HEADERS].items = ops->headers.items;
            in.items[op][KONG_XFORM_HEADERS].n = ops->headers.n;
            in.items[op][KONG_XFORM_BODY].items = ops->json.items;
            in.items[op][KONG_XFORM_BODY].n = ops->json.n;
            in.json_types[op].items = ops->json_types.items;
            in.json_types[op].n = ops->json_types.n;
        }

        xf = &xfs->elts[xfs->nelts];

        xf->engine = kong_xform_create(&in, KONG_XFORM_RESPONSE, err,
                                       sizeof(err));
        if (xf->engine == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "farm_kong: %s:%ud:%ud: %s.config: %s",
                               kong->file, p->pos.line, p->pos.col, p->path,
                               err);
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            kong_xform_free(xf->engine);
            return NGX_ERROR;
        }

        cln->handler = ngx_http_farm_kong_xform_cleanup;
        cln->data = xf->engine;

        xf->plugin = p;
        xfs->nelts++;
    }

    ngx_qsort(xfs->elts, xfs->nelts, sizeof(ngx_http_farm_kong_xform_t),
              ngx_http_farm_kong_xform_cmp);

    kc->xforms = xfs;

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_farm_kong_xform_cmp(const void *a, const void *b)
{
    const ngx_http_farm_kong_xform_t  *x = a;
    const ngx_http_farm_kong_xform_t  *y = b;

    return (uintptr_t) x->plugin < (uintptr_t) y->plugin ? -1
           : (uintptr_t) x->plugin > (uintptr_t) y->plugin;
}


static void
ngx_http_farm_kong_xform_cleanup(void *data)
{
    kong_xform_free(data);
}


/* after the http{} block: the filters, run after farm_kong's own */

ngx_int_t
ngx_http_farm_kong_resp_init(ngx_conf_t *cf)
{
    ngx_http_farm_kong_resp_next_header = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_farm_kong_resp_header_filter;

    ngx_http_farm_kong_resp_next_body = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_farm_kong_resp_body_filter;

    return NGX_OK;
}


/*
 * The plugin's step in the rewrite phase (Kong's access): the
 * configuration chosen for the route, service and consumer is the one the
 * filters apply, as Kong's header_filter and body_filter use the plugin
 * configuration collected in access.
 */

ngx_int_t
ngx_http_farm_kong_response_transformer(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p)
{
    ngx_uint_t                    lo, hi, mid;
    ngx_http_farm_kong_xform_t   *xf;
    ngx_http_farm_kong_xforms_t  *xfs;

    xfs = ctx->conf->xforms;

    if (xfs == NULL) {
        return NGX_DECLINED;
    }

    xf = xfs->elts;
    lo = 0;
    hi = xfs->nelts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if ((uintptr_t) xf[mid].plugin < (uintptr_t) p) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    if (lo == xfs->nelts || xf[lo].plugin != p) {
        return NGX_DECLINED;
    }

    if (ctx->resp == NULL) {
        ctx->resp = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_kong_resp_t));
        if (ctx->resp == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ctx->resp->engine = xf[lo].engine;

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_farm_kong_resp_header_filter(ngx_http_request_t *r)
{
    ngx_table_elt_t            *ce;
    ngx_http_farm_kong_ctx_t   *ctx;
    ngx_http_farm_kong_resp_t  *rctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_kong_module);

    if (ctx == NULL || ctx->resp == NULL || ctx->resp->engine == NULL
        || ctx->error_body || r != r->main)
    {
        return ngx_http_farm_kong_resp_next_header(r);
    }

    rctx = ctx->resp;

    if (ngx_http_farm_kong_resp_headers(r, rctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!rctx->buffering) {
        return ngx_http_farm_kong_resp_next_header(r);
    }

    ce = r->headers_out.content_encoding;

    if (ce && ce->hash && ce->value.len == 4
        && ngx_strncasecmp(ce->value.data, (u_char *) "gzip", 4) == 0)
    {
        rctx->gzip = 1;
        ce = NULL;
    }

    if (r->header_only || r->headers_out.status == NGX_HTTP_NO_CONTENT
        || r->headers_out.status == NGX_HTTP_NOT_MODIFIED
        || (ce && ce->hash && ce->value.len
            && !(ce->value.len == 8
                 && ngx_strncasecmp(ce->value.data, (u_char *) "identity", 8)
                    == 0)))
    {
        /* no body, or one the engine cannot read: unchanged */
        rctx->buffering = 0;
        return ngx_http_farm_kong_resp_next_header(r);
    }

    /* the header waits for the body, which is wanted in memory */

    r->filter_need_in_memory = 1;
    rctx->last = &rctx->bufs;

    ngx_http_clear_accept_ranges(r);
    ngx_http_weak_etag(r);

    return NGX_OK;
}


/*
 * The response headers through the engine: the complete new list it
 * answers is compared name by name with the response's, and only the
 * names whose lines differ are rewritten.  Sets rctx->buffering when the
 * engine wants the body (then Content-Length is gone).
 */

static ngx_int_t
ngx_http_farm_kong_resp_headers(ngx_http_request_t *r,
    ngx_http_farm_kong_resp_t *rctx)
{
    u_char            *p;
    ngx_uint_t         i, n;
    kong_header_t     *in;
    ngx_list_part_t   *part;
    ngx_table_elt_t   *h;
    kong_xform_out_t   out;

    in = ngx_palloc(r->pool, NGX_HTTP_FARM_KONG_RESP_HEADERS
                             * sizeof(kong_header_t));
    if (in == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0 || n == NGX_HTTP_FARM_KONG_RESP_HEADERS - 2) {
                continue;
            }

            in[n].name = (char *) h[i].key.data;
            in[n].name_len = h[i].key.len;
            in[n].value = (char *) h[i].value.data;
            in[n].value_len = h[i].value.len;
            n++;
        }
    }

    if (r->headers_out.content_type.len) {
        in[n].name = "Content-Type";
        in[n].name_len = sizeof("Content-Type") - 1;
        in[n].value = (char *) r->headers_out.content_type.data;
        in[n].value_len = r->headers_out.content_type.len;
        n++;
    }

    if (r->headers_out.content_length == NULL
        && r->headers_out.content_length_n >= 0)
    {
        p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        in[n].name = "Content-Length";
        in[n].name_len = sizeof("Content-Length") - 1;
        in[n].value = (char *) p;
        in[n].value_len = ngx_sprintf(p, "%O",
                                      r->headers_out.content_length_n)
                          - p;
        n++;
    }

    if (kong_xform_response_headers(rctx->engine, in, n, &out) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "farm_kong: response-transformer: %s; the response "
                      "headers are left as they are", out.error);
        kong_xform_out_free(&out);
        return NGX_OK;
    }

    ngx_http_farm_kong_resp_apply(r, in, n, out.headers, out.nheaders);

    rctx->buffering = out.clear_content_length ? 1 : 0;

    kong_xform_out_free(&out);

    return NGX_OK;
}


/* rewrites the names whose lines changed; copies what it keeps */

static void
ngx_http_farm_kong_resp_apply(ngx_http_request_t *r, kong_header_t *in,
    ngx_uint_t nin, kong_header_t *out, ngx_uint_t nout)
{
    ngx_uint_t  i, j, done;

    /* a name the engine dropped altogether */

    for (i = 0; i < nin; i++) {
        for (j = 0; j < nout; j++) {
            if (in[i].name_len == out[j].name_len
                && ngx_strncasecmp((u_char *) in[i].name,
                                   (u_char *) out[j].name, in[i].name_len)
                   == 0)
            {
                break;
            }
        }

        if (j == nout) {
            ngx_http_farm_kong_resp_remove(r, &in[i]);
        }
    }

    /* a name whose lines differ: its old lines go, the new ones come */

    for (j = 0; j < nout; j++) {
        done = 0;

        for (i = 0; i < j; i++) {
            if (out[i].name_len == out[j].name_len
                && ngx_strncasecmp((u_char *) out[i].name,
                                   (u_char *) out[j].name, out[j].name_len)
                   == 0)
            {
                done = 1;
                break;
            }
        }

        if (done || ngx_http_farm_kong_resp_same(in, nin, out, nout, &out[j]))
        {
            continue;
        }

        ngx_http_farm_kong_resp_remove(r, &out[j]);

        for (i = j; i < nout; i++) {
            if (out[i].name_len == out[j].name_len
                && ngx_strncasecmp((u_char *) out[i].name,
                                   (u_char *) out[j].name, out[j].name_len)
                   == 0
                && ngx_http_farm_kong_resp_push(r, &out[i]) != NGX_OK)
            {
                return;
            }
        }
    }
}


/* 1 if the lines of name are the same, in the same order, before and after */

static ngx_uint_t
ngx_http_farm_kong_resp_same(kong_header_t *in, ngx_uint_t nin,
    kong_header_t *out, ngx_uint_t nout, kong_header_t *name)
{
    ngx_uint_t  i, j;

    i = 0;
    j = 0;

    for ( ;; ) {
        while (i < nin
               && !(in[i].name_len == name->name_len
                    && ngx_strncasecmp((u_char *) in[i].name,
                                       (u_char *) name->name, name->name_len)
                       == 0))
        {
            i++;
        }

        while (j < nout
               && !(out[j].name_len == name->name_len
                    && ngx_strncasecmp((u_char *) out[j].name,
                                       (u_char *) name->name, name->name_len)
                       == 0))
        {
            j++;
        }

        if (i == nin || j == nout) {
            return i == nin && j == nout;
        }

        if (in[i].name_len != out[j].name_len
            || ngx_strncmp(in[i].name, out[j].name, in[i].name_len) != 0
            || in[i].value_len != out[j].value_len
            || ngx_strncmp(in[i].value, out[j].value, in[i].value_len) != 0)
        {
            return 0;
        }

        i++;
        j++;
    }
}


/* every line of the response named as name, and nginx's pointers to them */

static void
ngx_http_farm_kong_resp_remove(ngx_http_request_t *r, kong_header_t *name)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (ngx_http_farm_kong_resp_is(name, "Content-Type")) {
        ngx_str_null(&r->headers_out.content_type);
        r->headers_out.content_type_len = 0;
        r->headers_out.content_type_lowcase = NULL;
        ngx_str_null(&r->headers_out.charset);
        return;
    }

    if (ngx_http_farm_kong_resp_is(name, "Content-Length")) {
        ngx_http_clear_content_length(r);
        return;
    }

    if (ngx_http_farm_kong_resp_is(name, "Last-Modified")) {
        r->headers_out.last_modified_time = -1;
    }

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0 || h[i].key.len != name->name_len
                || ngx_strncasecmp(h[i].key.data, (u_char *) name->name,
                                   name->name_len)
                   != 0)
            {
                continue;
            }

            h[i].hash = 0;

#define ngx_http_farm_kong_resp_unref(field)                                \
            if (r->headers_out.field == &h[i]) {                            \
                r->headers_out.field = NULL;                                \
            }

            ngx_http_farm_kong_resp_unref(server);
            ngx_http_farm_kong_resp_unref(date);
            ngx_http_farm_kong_resp_unref(content_encoding);
            ngx_http_farm_kong_resp_unref(location);
            ngx_http_farm_kong_resp_unref(refresh);
            ngx_http_farm_kong_resp_unref(last_modified);
            ngx_http_farm_kong_resp_unref(content_range);
            ngx_http_farm_kong_resp_unref(accept_ranges);
            ngx_http_farm_kong_resp_unref(www_authenticate);
            ngx_http_farm_kong_resp_unref(expires);
            ngx_http_farm_kong_resp_unref(etag);

#undef ngx_http_farm_kong_resp_unref
        }
    }
}


/* one line, copied from the engine's arena into the request's pool */

static ngx_int_t
ngx_http_farm_kong_resp_push(ngx_http_request_t *r, kong_header_t *h)
{
    u_char           *p;
    ngx_int_t         n;
    ngx_table_elt_t  *e;

    p = ngx_pnalloc(r->pool, h->name_len + h->value_len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, h->name, h->name_len);
    ngx_memcpy(p + h->name_len, h->value, h->value_len);

    if (ngx_http_farm_kong_resp_is(h, "Content-Type")) {
        r->headers_out.content_type.data = p + h->name_len;
        r->headers_out.content_type.len = h->value_len;
        r->headers_out.content_type_len = h->value_len;
        r->headers_out.content_type_lowcase = NULL;
        ngx_str_null(&r->headers_out.charset);
        return NGX_OK;
    }

    if (ngx_http_farm_kong_resp_is(h, "Content-Length")) {
        n = ngx_atoof(p + h->name_len, h->value_len);

        if (n >= 0) {
            ngx_http_clear_content_length(r);
            r->headers_out.content_length_n = n;
            return NGX_OK;
        }
    }

    e = ngx_list_push(&r->headers_out.headers);
    if (e == NULL) {
        return NGX_ERROR;
    }

    e->hash = 1;
    e->key.data = p;
    e->key.len = h->name_len;
    e->value.data = p + h->name_len;
    e->value.len = h->value_len;
    e->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    e->next = NULL;
#endif

    return NGX_OK;
}


/*
 * Collects the body (copies: the upstream reuses its buffers), then sends
 * the held header and the transformed body; past the bound, sends the
 * header and what it holds, and passes the rest through.
 */

static ngx_int_t
ngx_http_farm_kong_resp_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                      size;
    ngx_buf_t                  *b;
    ngx_uint_t                  last;
    ngx_chain_t                *cl, *nl;
    ngx_http_farm_kong_ctx_t   *ctx;
    ngx_http_farm_kong_resp_t  *rctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_kong_module);

    if (ctx == NULL || ctx->resp == NULL || !ctx->resp->buffering
        || r != r->main)
    {
        return ngx_http_farm_kong_resp_next_body(r, in);
    }

    rctx = ctx->resp;
    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file && !ngx_buf_in_memory(b)) {
            /* not in memory after all: the rest goes as it is */
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "farm_kong: response-transformer: the response "
                          "body is not in memory; sent unchanged");
            return ngx_http_farm_kong_resp_pass(r, rctx, cl);
        }

        size = b->last - b->pos;

        if (rctx->size + size > NGX_HTTP_FARM_KONG_RESP_MAX) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "farm_kong: response-transformer: the response "
                          "body is over %uz bytes; sent unchanged",
                          (size_t) NGX_HTTP_FARM_KONG_RESP_MAX);
            return ngx_http_farm_kong_resp_pass(r, rctx, cl);
        }

        if (size) {
            nl = ngx_alloc_chain_link(r->pool);
            if (nl == NULL) {
                return NGX_ERROR;
            }

            nl->buf = ngx_create_temp_buf(r->pool, size);
            if (nl->buf == NULL) {
                return NGX_ERROR;
            }

            nl->buf->last = ngx_cpymem(nl->buf->pos, b->pos, size);
            nl->next = NULL;

            *rctx->last = nl;
            rctx->last = &nl->next;
            rctx->size += size;
        }

        b->pos = b->last;

        if (b->last_buf) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    rctx->buffering = 0;

    return ngx_http_farm_kong_resp_body(r, rctx);
}


/* the whole body is here: transform, then header and body */

static ngx_int_t
ngx_http_farm_kong_resp_body(ngx_http_request_t *r,
    ngx_http_farm_kong_resp_t *rctx)
{
    int                rc2;
    size_t             len, plen;
    u_char            *body, *p, *plain;
    ngx_int_t          rc;
    ngx_buf_t         *b;
    ngx_chain_t        out, *cl;
    kong_xform_out_t   xo;

    body = ngx_pnalloc(r->pool, rctx->size + 1);
    if (body == NULL) {
        return NGX_ERROR;
    }

    p = body;

    for (cl = rctx->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    len = p - body;
    plain = body;
    plen = len;

    if (rctx->gzip) {
        rc2 = kong_gunzip(body, len, NGX_HTTP_FARM_KONG_RESP_MAX, &plain,
                          &plen);

        if (rc2 == KONG_GZIP_NOMEM) {
            return NGX_ERROR;
        }

        if (rc2 != KONG_GZIP_OK) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "farm_kong: response-transformer: the gzip body "
                          "%s; sent unchanged",
                          rc2 == KONG_GZIP_TOO_BIG
                          ? "inflates to over 4194304 bytes"
                          : "is not valid gzip");
            goto send;
        }
    }

    rc2 = kong_xform_response_body(rctx->engine, (char *) plain, plen, &xo);

    if (plain != body) {
        free(plain);
    }

    if (rc2 != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "farm_kong: response-transformer: %s; the response "
                      "body is sent unchanged", xo.error);

    } else if (xo.body && rctx->gzip) {
        if (kong_gzip((u_char *) xo.body, xo.body_len, &plain, &plen)
            != KONG_GZIP_OK)
        {
            kong_xform_out_free(&xo);
            return NGX_ERROR;
        }

        body = ngx_pnalloc(r->pool, plen + 1);
        if (body == NULL) {
            free(plain);
            kong_xform_out_free(&xo);
            return NGX_ERROR;
        }

        len = ngx_cpymem(body, plain, plen) - body;
        free(plain);

    } else if (xo.body) {
        body = ngx_pnalloc(r->pool, xo.body_len + 1);
        if (body == NULL) {
            kong_xform_out_free(&xo);
            return NGX_ERROR;
        }

        len = ngx_cpymem(body, xo.body, xo.body_len) - body;
    }

    kong_xform_out_free(&xo);

send:

    r->headers_out.content_length_n = len;

    rc = ngx_http_farm_kong_resp_next_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = len ? 1 : 0;
    b->sync = len ? 0 : 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_farm_kong_resp_next_body(r, &out);
}


/* over the bound: the held header, what was collected, then in onwards */

static ngx_int_t
ngx_http_farm_kong_resp_pass(ngx_http_request_t *r,
    ngx_http_farm_kong_resp_t *rctx, ngx_chain_t *in)
{
    ngx_int_t  rc;

    rctx->buffering = 0;

    rc = ngx_http_farm_kong_resp_next_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (rctx->bufs) {
        *rctx->last = in;
        in = rctx->bufs;
        rctx->bufs = NULL;
    }

    return ngx_http_farm_kong_resp_next_body(r, in);
}
