
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's prometheus plugin: the log phase counts each request of a
 * route (or of no route) whose prometheus configuration (Kong's
 * precedence, at the end of the request) asks for it, and the
 * "farm_kong_metrics" location (ngx_http_farm_kong_prom_out.c) answers
 * Kong's families in Prometheus' text format.
 *
 * The counts live in one shared zone, "farm_kong_prometheus", of
 * NGX_HTTP_FARM_KONG_PROM_ENTRIES fixed entries: one per label set
 * (service and route names, and the consumer with per_consumer), found by
 * a 64-bit hash of the labels with linear probing.  An entry is claimed
 * with a compare-and-swap and published when its labels are written, so
 * workers create consumers' entries without a lock; the routes' entries
 * are found (or created) when the zone is set up, in the master, and each
 * route's entry index kept in the loaded file's configuration, so a
 * request costs a few atomic adds.  The zone survives a reload and the
 * entries are found by their names again: a route that keeps its service
 * and route names keeps its counts.  When no entry or no code cell is
 * left, the request's count is lost and kong_nginx_metric_errors_total
 * counts it.
 */


#include "ngx_http_farm_kong_prom.h"


static ngx_int_t ngx_http_farm_kong_prom_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_farm_kong_prom_label(ngx_pool_t *pool,
    ngx_http_farm_kong_prom_route_t *pr, const char *service,
    const char *route);
static uint64_t ngx_http_farm_kong_prom_hash(uint64_t h, const u_char *p,
    size_t n);
static ngx_int_t ngx_http_farm_kong_prom_slot(ngx_http_farm_kong_prom_sh_t *sh,
    uint64_t hash, ngx_str_t *labels, const u_char *consumer, size_t clen);
static ngx_int_t ngx_http_farm_kong_prom_log(ngx_http_request_t *r);
static void ngx_http_farm_kong_prom_code(ngx_http_farm_kong_prom_sh_t *sh,
    ngx_http_farm_kong_prom_entry_t *e, ngx_uint_t code, ngx_uint_t source);
static void ngx_http_farm_kong_prom_observe(ngx_http_farm_kong_prom_entry_t *e,
    ngx_uint_t h, ngx_msec_int_t ms);


/* Kong's buckets (ms): kong latency; upstream and request latency */
const ngx_uint_t  ngx_http_farm_kong_prom_kong_le[] = {
    1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000,
    6000, 0
};

const ngx_uint_t  ngx_http_farm_kong_prom_le[] = {
    25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000, 0
};


/*
 * At load, for a file with an enabled prometheus plugin: each route's
 * labels and their hash, and the shared zone (one for every file).
 */

ngx_int_t
ngx_http_farm_kong_prom_conf(ngx_conf_t *cf, ngx_http_farm_kong_conf_t *kc)
{
    size_t                           i, size;
    ngx_str_t                        name;
    kong_route_t                    *route;
    kong_config_t                   *kong;
    kong_plugin_t                   *p;
    ngx_http_farm_kong_prom_t       *prom;
    ngx_http_farm_kong_conf_t      **kcp;
    ngx_http_farm_kong_prom_zone_t  *zctx;

    kong = kc->kong;

    if (!(kong->used & (1u << KONG_PLUGIN_PROMETHEUS))) {
        return NGX_OK;
    }

    prom = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_kong_prom_t));
    if (prom == NULL) {
        return NGX_ERROR;
    }

    prom->routes = ngx_pcalloc(cf->pool, (kong->nroutes + 1)
                                   * sizeof(ngx_http_farm_kong_prom_route_t));
    prom->slot = ngx_pcalloc(cf->pool, (kong->nroutes + 1)
                                       * sizeof(ngx_int_t));
    if (prom->routes == NULL || prom->slot == NULL) {
        return NGX_ERROR;
    }

    /* Kong's labels: the service's name (else host), the route's name
     * (else id); empty without them */

    for (i = 0; i < kong->nroutes; i++) {
        route = kong->routes[i];

        if (ngx_http_farm_kong_prom_label(cf->pool,
                &prom->routes[route->index],
                route->service ? (route->service->name
                                  ? route->service->name
                                  : route->service->host)
                               : NULL,
                route->name ? route->name : route->id)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_farm_kong_prom_label(cf->pool, &prom->routes[kong->nroutes],
                                      NULL, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < kong->plugins.n; i++) {
        p = kong->plugins.items[i];

        if (p->enabled && p->type == KONG_PLUGIN_PROMETHEUS
            && ((kong_prometheus_conf_t *) p->conf)->upstream_health_metrics)
        {
            prom->health = 1;
        }
    }

    ngx_str_set(&name, NGX_HTTP_FARM_KONG_PROM_ZONE);

    size = sizeof(ngx_http_farm_kong_prom_sh_t) + 64 * ngx_pagesize;

    prom->zone = ngx_shared_memory_add(cf, &name, size,
                                       &ngx_http_farm_kong_module);
    if (prom->zone == NULL) {
        return NGX_ERROR;
    }

    zctx = prom->zone->data;

    if (zctx == NULL) {
        zctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_kong_prom_zone_t));
        if (zctx == NULL) {
            return NGX_ERROR;
        }

        if (ngx_array_init(&zctx->confs, cf->pool, 2,
                           sizeof(ngx_http_farm_kong_conf_t *))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        prom->zone->init = ngx_http_farm_kong_prom_init_zone;
        prom->zone->data = zctx;
    }

    kcp = ngx_array_push(&zctx->confs);
    if (kcp == NULL) {
        return NGX_ERROR;
    }

    *kcp = kc;
    kc->prom = prom;

    return NGX_OK;
}


/* service="S",route="R" escaped, and its hash */

static ngx_int_t
ngx_http_farm_kong_prom_label(ngx_pool_t *pool,
    ngx_http_farm_kong_prom_route_t *pr, const char *service,
    const char *route)
{
    size_t   slen, rlen;
    u_char  *p;

    slen = service ? ngx_strlen(service) : 0;
    rlen = route ? ngx_strlen(route) : 0;

    p = ngx_pnalloc(pool, sizeof("service=\"\",route=\"\"") + 2 * slen
                          + 2 * rlen);
    if (p == NULL) {
        return NGX_ERROR;
    }

    pr->labels.data = p;

    p = ngx_cpymem(p, "service=\"", sizeof("service=\"") - 1);
    p = ngx_http_farm_kong_prom_escape(p, (u_char *) service, slen);
    p = ngx_cpymem(p, "\",route=\"", sizeof("\",route=\"") - 1);
    p = ngx_http_farm_kong_prom_escape(p, (u_char *) route, rlen);
    *p++ = '"';

    pr->labels.len = p - pr->labels.data;
    pr->hash = ngx_http_farm_kong_prom_hash(14695981039346656037ULL,
                                            pr->labels.data,
                                            pr->labels.len + 1);

    /* the NUL hashed after the labels separates them from a consumer */
    *p = '\0';

    return NGX_OK;
}


/* FNV-1a, 64 bits */

static uint64_t
ngx_http_farm_kong_prom_hash(uint64_t h, const u_char *p, size_t n)
{
    while (n--) {
        h ^= *p++;
        h *= 1099511628211ULL;
    }

    return h;
}


/*
 * In the master, after the configuration: the zone's entries (kept from
 * the previous cycle on a reload), and each route's entry found or made.
 */

static ngx_int_t
ngx_http_farm_kong_prom_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_farm_kong_prom_zone_t  *octx = data;

    size_t                            len;
    ngx_uint_t                        i, j;
    kong_config_t                    *kong;
    ngx_http_farm_kong_prom_t        *prom;
    ngx_http_farm_kong_conf_t       **kc;
    ngx_http_farm_kong_prom_zone_t   *zctx;

    zctx = shm_zone->data;

    if (octx) {
        zctx->sh = octx->sh;
        zctx->shpool = octx->shpool;

    } else {
        zctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        if (shm_zone->shm.exists) {
            zctx->sh = zctx->shpool->data;

        } else {
            zctx->sh = ngx_slab_calloc(zctx->shpool,
                                       sizeof(ngx_http_farm_kong_prom_sh_t));
            if (zctx->sh == NULL) {
                return NGX_ERROR;
            }

            zctx->shpool->data = zctx->sh;

            len = sizeof(" in farm_kong zone \"\"") + shm_zone->shm.name.len;

            zctx->shpool->log_ctx = ngx_slab_alloc(zctx->shpool, len);
            if (zctx->shpool->log_ctx == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(zctx->shpool->log_ctx, " in farm_kong zone \"%V\"%Z",
                        &shm_zone->shm.name);
        }
    }

    kc = zctx->confs.elts;

    for (i = 0; i < zctx->confs.nelts; i++) {
        prom = kc[i]->prom;
        kong = kc[i]->kong;

        for (j = 0; j <= kong->nroutes; j++) {
            prom->slot[j] = ngx_http_farm_kong_prom_slot(zctx->sh,
                                                         prom->routes[j].hash,
                                                         &prom->routes[j]
                                                             .labels,
                                                         NULL, 0);
        }
    }

    return NGX_OK;
}


/*
 * The entry of the labels (and consumer), found or claimed: -1 when the
 * probes found neither, or the labels do not fit.
 */

static ngx_int_t
ngx_http_farm_kong_prom_slot(ngx_http_farm_kong_prom_sh_t *sh, uint64_t hash,
    ngx_str_t *labels, const u_char *consumer, size_t clen)
{
    ngx_uint_t                        i, n, spin;
    ngx_atomic_uint_t                 key;
    ngx_http_farm_kong_prom_entry_t  *e;

    if (labels->len > NGX_HTTP_FARM_KONG_PROM_LABELS
        || clen > NGX_HTTP_FARM_KONG_PROM_CONSUMER)
    {
        return -1;
    }

    key = (ngx_atomic_uint_t) (hash ? hash : 1);

    for (i = 0; i < NGX_HTTP_FARM_KONG_PROM_PROBES; i++) {
        n = (key + i) % NGX_HTTP_FARM_KONG_PROM_ENTRIES;
        e = &sh->entries[n];

        if (e->key == 0) {
            if (!ngx_atomic_cmp_set(&e->key, 0, key)) {
                i--;            /* taken meanwhile: look at it again */
                continue;
            }

            ngx_memcpy(e->labels, labels->data, labels->len);
            e->labels_len = labels->len;

            if (clen) {
                ngx_memcpy(e->consumer, consumer, clen);
            }

            e->consumer_len = clen;

            ngx_memory_barrier();
            e->ready = 1;

            (void) ngx_atomic_fetch_add(&sh->used, 1);

            return n;
        }

        if (e->key != key) {
            continue;
        }

        for (spin = 0; !e->ready && spin < 4096; spin++) {
            ngx_cpu_pause();
        }

        if (!e->ready) {
            return -1;
        }

        if (e->labels_len == labels->len && e->consumer_len == clen
            && ngx_memcmp(e->labels, labels->data, labels->len) == 0
            && (clen == 0 || ngx_memcmp(e->consumer, consumer, clen) == 0))
        {
            return n;
        }
    }

    return -1;
}


/* after the http{} block: the log phase handler */

ngx_int_t
ngx_http_farm_kong_prom_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_farm_kong_prom_log;

    return NGX_OK;
}


/*
 * The log phase of a farm_kong request: the prometheus configuration for
 * its route and consumer (Kong runs the plugin's log phase even when an
 * earlier plugin answered), then its counts.
 */

static ngx_int_t
ngx_http_farm_kong_prom_log(ngx_http_request_t *r)
{
    size_t                            clen;
    uint64_t                          hash;
    ngx_int_t                         slot;
    ngx_uint_t                        status, source;
    ngx_str_t                        *labels;
    ngx_time_t                       *tp;
    const u_char                     *cname;
    ngx_msec_int_t                    ms, kong_ms;
    kong_config_t                    *kong;
    ngx_http_upstream_t              *u;
    const kong_plugin_t              *p;
    ngx_http_farm_kong_ctx_t         *ctx;
    ngx_http_farm_kong_prom_t        *prom;
    const kong_prometheus_conf_t     *conf;
    ngx_http_farm_kong_prom_sh_t     *sh;
    ngx_http_farm_kong_prom_zone_t   *zctx;
    ngx_http_farm_kong_prom_entry_t  *e, *ce;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_kong_module);

    if (ctx == NULL || ctx->conf == NULL || ctx->conf->prom == NULL
        || r != r->main)
    {
        return NGX_OK;
    }

    kong = ctx->conf->kong;
    prom = ctx->conf->prom;

    if (!(kong->used & (1u << KONG_PLUGIN_PROMETHEUS))) {
        return NGX_OK;
    }

    p = kong_plugin_for(kong, KONG_PLUGIN_PROMETHEUS, ctx->match.route,
                        ctx->consumer);

    if (p == NULL
        || !(p->protocols & (r->connection->ssl ? KONG_PROTO_HTTPS
                                                : KONG_PROTO_HTTP)))
    {
        return NGX_OK;
    }

    conf = p->conf;
    zctx = prom->zone->data;
    sh = zctx->sh;

    slot = prom->slot[ctx->match.route ? ctx->match.route->index
                                       : kong->nroutes];
    if (slot < 0) {
        (void) ngx_atomic_fetch_add(&sh->errors, 1);
        return NGX_OK;
    }

    e = &sh->entries[slot];

    /* per_consumer: the status and bandwidth go to the consumer's entry */

    ce = e;

    if (conf->per_consumer && ctx->consumer && ctx->consumer->username
        && (conf->status_code_metrics || conf->bandwidth_metrics))
    {
        labels = &prom->routes[ctx->match.route ? ctx->match.route->index
                                                : kong->nroutes].labels;
        cname = (const u_char *) ctx->consumer->username;
        clen = ngx_strlen(cname);

        hash = ngx_http_farm_kong_prom_hash(
                   prom->routes[ctx->match.route ? ctx->match.route->index
                                                 : kong->nroutes].hash,
                   cname, clen);

        slot = ngx_http_farm_kong_prom_slot(sh, hash, labels, cname, clen);

        if (slot < 0) {
            (void) ngx_atomic_fetch_add(&sh->errors, 1);
            ce = NULL;

        } else {
            ce = &sh->entries[slot];
        }
    }

    u = r->upstream;

    status = r->err_status ? r->err_status : r->headers_out.status;

    if (ctx->error_body) {
        source = NGX_HTTP_FARM_KONG_PROM_ERROR;

    } else if (ctx->answered) {
        source = NGX_HTTP_FARM_KONG_PROM_EXIT;

    } else if (u && u->state && u->state->status) {
        source = NGX_HTTP_FARM_KONG_PROM_SERVICE;

    } else {
        source = NGX_HTTP_FARM_KONG_PROM_ERROR;
    }

    if (conf->status_code_metrics && ce) {
        ngx_http_farm_kong_prom_code(sh, ce, status, source);
    }

    if (conf->bandwidth_metrics && ce) {
        if (r->request_length > 0) {
            (void) ngx_atomic_fetch_add(&ce->bytes[0], r->request_length);
        }

        if (r->connection->sent > 0) {
            (void) ngx_atomic_fetch_add(&ce->bytes[1], r->connection->sent);
        }
    }

    if (!conf->latency_metrics) {
        return NGX_OK;
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    ngx_http_farm_kong_prom_observe(e, NGX_HTTP_FARM_KONG_PROM_REQUEST, ms);

    kong_ms = ms;

    if (u && u->state && u->state->header_time != (ngx_msec_t) -1
        && source == NGX_HTTP_FARM_KONG_PROM_SERVICE)
    {
        ngx_http_farm_kong_prom_observe(e, NGX_HTTP_FARM_KONG_PROM_UPSTREAM,
                                        u->state->header_time);

        /* as X-Kong-Proxy-Latency: until the upstream was contacted */

        kong_ms = ctx->before;

        if ((ngx_msec_int_t) (u->start_time - ctx->routed) > 0) {
            kong_ms += u->start_time - ctx->routed;
        }
    }

    ngx_http_farm_kong_prom_observe(e, NGX_HTTP_FARM_KONG_PROM_KONG, kong_ms);

    return NGX_OK;
}


/* one more response of code from source: its cell, claimed if new */

static void
ngx_http_farm_kong_prom_code(ngx_http_farm_kong_prom_sh_t *sh,
    ngx_http_farm_kong_prom_entry_t *e, ngx_uint_t code, ngx_uint_t source)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  key;

    if (code > 999) {
        code = 0;
    }

    key = (code << 2 | source) + 1;

    for (i = 0; i < NGX_HTTP_FARM_KONG_PROM_CODES; i++) {

        if (e->code[i] == 0 && !ngx_atomic_cmp_set(&e->code[i], 0, key)) {
            i--;                /* taken meanwhile: look at it again */
            continue;
        }

        if (e->code[i] == key) {
            (void) ngx_atomic_fetch_add(&e->count[i], 1);
            return;
        }
    }

    (void) ngx_atomic_fetch_add(&sh->errors, 1);
}


static void
ngx_http_farm_kong_prom_observe(ngx_http_farm_kong_prom_entry_t *e,
    ngx_uint_t h, ngx_msec_int_t ms)
{
    ngx_uint_t         i;
    const ngx_uint_t  *le;

    le = (h == NGX_HTTP_FARM_KONG_PROM_KONG) ? ngx_http_farm_kong_prom_kong_le
                                             : ngx_http_farm_kong_prom_le;

    for (i = 0; le[i] && (ngx_uint_t) ms > le[i]; i++) { /* void */ }

    (void) ngx_atomic_fetch_add(&e->bucket[h][i], 1);
    (void) ngx_atomic_fetch_add(&e->sum[h], ms);
}
