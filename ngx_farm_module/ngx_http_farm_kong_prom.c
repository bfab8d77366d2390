
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's prometheus plugin: the log phase counts each request of a
 * route (or of no route) whose prometheus configuration (Kong's
 * precedence, at the end of the request) asks for it, and the
 * "farm_kong_metrics" location answers Kong's families in Prometheus'
 * text format.
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


#include "ngx_http_farm_kong.h"


#define NGX_HTTP_FARM_KONG_PROM_ZONE      "farm_kong_prometheus"
#define NGX_HTTP_FARM_KONG_PROM_ENTRIES   4096
#define NGX_HTTP_FARM_KONG_PROM_PROBES    64
#define NGX_HTTP_FARM_KONG_PROM_LABELS    384     /* service=..,route=.. */
#define NGX_HTTP_FARM_KONG_PROM_CONSUMER  128
#define NGX_HTTP_FARM_KONG_PROM_CODES     16      /* per entry */
#define NGX_HTTP_FARM_KONG_PROM_BUCKETS   18      /* +Inf included */
#define NGX_HTTP_FARM_KONG_PROM_BUF       (64 * 1024)

/* the histograms, in Kong's output order */
#define NGX_HTTP_FARM_KONG_PROM_KONG      0
#define NGX_HTTP_FARM_KONG_PROM_UPSTREAM  1
#define NGX_HTTP_FARM_KONG_PROM_REQUEST   2

/* the source label: kong.response.get_source() */
#define NGX_HTTP_FARM_KONG_PROM_SERVICE   0
#define NGX_HTTP_FARM_KONG_PROM_EXIT      1
#define NGX_HTTP_FARM_KONG_PROM_ERROR     2


typedef struct {
    ngx_atomic_t               key;       /* the hash; 0: free */
    ngx_atomic_t               ready;     /* the labels are written */
    u_char                     labels[NGX_HTTP_FARM_KONG_PROM_LABELS];
    u_char                     consumer[NGX_HTTP_FARM_KONG_PROM_CONSUMER];
    uint32_t                   labels_len;
    uint32_t                   consumer_len;
    ngx_atomic_t               code[NGX_HTTP_FARM_KONG_PROM_CODES];
    ngx_atomic_t               count[NGX_HTTP_FARM_KONG_PROM_CODES];
    ngx_atomic_t               bytes[2];  /* ingress, egress */
    ngx_atomic_t               bucket[3][NGX_HTTP_FARM_KONG_PROM_BUCKETS];
    ngx_atomic_t               sum[3];    /* ms */
} ngx_http_farm_kong_prom_entry_t;


typedef struct {
    ngx_atomic_t               errors;    /* counts lost for want of room */
    ngx_atomic_t               used;      /* entries taken */
    ngx_http_farm_kong_prom_entry_t  entries[NGX_HTTP_FARM_KONG_PROM_ENTRIES];
} ngx_http_farm_kong_prom_sh_t;


/* the zone's data: shared by every farm_kong file of the configuration */
typedef struct {
    ngx_http_farm_kong_prom_sh_t  *sh;
    ngx_slab_pool_t               *shpool;
    ngx_array_t                    confs;     /* ngx_http_farm_kong_conf_t * */
} ngx_http_farm_kong_prom_zone_t;


/* a route's labels, computed at load */
typedef struct {
    ngx_str_t                  labels;    /* service="..",route="..", escaped */
    uint64_t                   hash;      /* of the labels and a NUL */
} ngx_http_farm_kong_prom_route_t;


struct ngx_http_farm_kong_prom_s {
    ngx_shm_zone_t                   *zone;
    ngx_http_farm_kong_prom_route_t  *routes;    /* nroutes + 1: no route */
    ngx_int_t                        *slot;      /* entry of each, or -1 */
    ngx_uint_t                        health;    /* upstream_health_metrics */
};


typedef struct {
    ngx_http_request_t        *request;
    ngx_chain_t               *out;
    ngx_chain_t              **last;
    ngx_buf_t                 *buf;
    ngx_uint_t                 seconds;   /* names=prometheus */
} ngx_http_farm_kong_prom_write_t;


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
static ngx_int_t ngx_http_farm_kong_prom_handler(ngx_http_request_t *r);
static u_char *ngx_http_farm_kong_prom_room(
    ngx_http_farm_kong_prom_write_t *w, size_t len);
static ngx_int_t ngx_http_farm_kong_prom_family(
    ngx_http_farm_kong_prom_write_t *w, const char *name, const char *type,
    const char *help);
static ngx_int_t ngx_http_farm_kong_prom_requests(
    ngx_http_farm_kong_prom_write_t *w, ngx_http_farm_kong_prom_sh_t *sh);
static ngx_int_t ngx_http_farm_kong_prom_histogram(
    ngx_http_farm_kong_prom_write_t *w, ngx_http_farm_kong_prom_sh_t *sh,
    ngx_uint_t h);
static ngx_int_t ngx_http_farm_kong_prom_bandwidth(
    ngx_http_farm_kong_prom_write_t *w, ngx_http_farm_kong_prom_sh_t *sh);
static ngx_int_t ngx_http_farm_kong_prom_health(
    ngx_http_farm_kong_prom_write_t *w, ngx_array_t *confs);
static u_char *ngx_http_farm_kong_prom_escape(u_char *p, const u_char *s,
    size_t n);
static u_char *ngx_http_farm_kong_prom_ms(u_char *p, uint64_t ms,
    ngx_uint_t seconds);
static ngx_http_farm_kong_prom_zone_t *ngx_http_farm_kong_prom_find(
    ngx_http_request_t *r);


/* Kong's buckets (ms): kong latency; upstream and request latency */
static const ngx_uint_t  ngx_http_farm_kong_prom_kong_le[] = {
    1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000,
    6000, 0
};

static const ngx_uint_t  ngx_http_farm_kong_prom_le[] = {
    25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000, 0
};

static const char  *ngx_http_farm_kong_prom_sources[] = {
    "service", "exit", "error"
};

/* names=kong (Kong's own), names=prometheus (promtool's lint clean) */
static const char  *ngx_http_farm_kong_prom_hist_names[2][3] = {
    { "kong_kong_latency_ms", "kong_upstream_latency_ms",
      "kong_request_latency_ms" },
    { "kong_kong_latency_seconds", "kong_upstream_latency_seconds",
      "kong_request_latency_seconds" }
};

static const char  *ngx_http_farm_kong_prom_hist_help[3] = {
    "Latency added by this gateway and its plugins for each service/route",
    "Latency of the upstream's response header for each service/route",
    "Total latency of the requests for each service/route"
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


/* farm_kong_metrics [names=kong|prometheus] */

char *
ngx_http_farm_kong_prom_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_farm_kong_loc_conf_t *klcf = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "names=kong") == 0) {
            klcf->prom_names = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "names=prometheus") == 0) {
            klcf->prom_names = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of "
                           "\"farm_kong_metrics\": expected names=kong or "
                           "names=prometheus", &value[i]);
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_farm_kong_prom_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_farm_kong_prom_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         value;
    ngx_chain_t                      *cl;
    ngx_http_farm_kong_prom_sh_t     *sh;
    ngx_http_farm_kong_loc_conf_t    *klcf;
    ngx_http_farm_kong_prom_zone_t   *zctx;
    ngx_http_farm_kong_prom_write_t   w;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&w, sizeof(ngx_http_farm_kong_prom_write_t));
    w.request = r;
    w.last = &w.out;
    klcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_kong_module);
    w.seconds = klcf->prom_names;

    zctx = ngx_http_farm_kong_prom_find(r);
    sh = zctx ? zctx->sh : NULL;

    if (ngx_http_farm_kong_prom_family(&w,
                                       "kong_datastore_reachable", "gauge",
                                       "Datastore reachable from this "
                                       "gateway, 0 is unreachable (DB-less: "
                                       "the file loaded)")
        != NGX_OK
        || ngx_http_farm_kong_prom_room(&w, 32) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w.buf->last = ngx_sprintf(w.buf->last, "kong_datastore_reachable 1\n");

#if (NGX_STAT_STUB)

    if (ngx_http_farm_kong_prom_family(&w, "kong_nginx_requests_total",
                                       "counter", "Number of requests total")
        != NGX_OK
        || ngx_http_farm_kong_prom_room(&w, 128) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w.buf->last = ngx_sprintf(w.buf->last,
                              "kong_nginx_requests_total{node_id=\"%V\","
                              "subsystem=\"http\"} %uA\n",
                              &ngx_cycle->hostname, *ngx_stat_requests);

#endif

    if (ngx_http_farm_kong_prom_family(&w, "kong_nginx_metric_errors_total",
                                       "counter",
                                       "Number of requests whose metrics "
                                       "found no room (see "
                                       "docs/observability.md)")
        != NGX_OK
        || ngx_http_farm_kong_prom_room(&w, 64) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w.buf->last = ngx_sprintf(w.buf->last,
                              "kong_nginx_metric_errors_total %uA\n",
                              sh ? sh->errors : 0);

    if (sh
        && (ngx_http_farm_kong_prom_requests(&w, sh) != NGX_OK
            || ngx_http_farm_kong_prom_histogram(&w, sh,
                   NGX_HTTP_FARM_KONG_PROM_KONG) != NGX_OK
            || ngx_http_farm_kong_prom_histogram(&w, sh,
                   NGX_HTTP_FARM_KONG_PROM_UPSTREAM) != NGX_OK
            || ngx_http_farm_kong_prom_histogram(&w, sh,
                   NGX_HTTP_FARM_KONG_PROM_REQUEST) != NGX_OK
            || ngx_http_farm_kong_prom_bandwidth(&w, sh) != NGX_OK
            || ngx_http_farm_kong_prom_health(&w, &zctx->confs) != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_length_n = 0;

    for (cl = w.out; cl; cl = cl->next) {
        r->headers_out.content_length_n += cl->buf->last - cl->buf->pos;

        if (cl->next == NULL) {
            cl->buf->last_buf = (r == r->main) ? 1 : 0;
            cl->buf->last_in_chain = 1;
        }
    }

    ngx_str_set(&value, "no-store");

    if (ngx_http_farm_add_header(r, "Cache-Control", &value) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, w.out);
}


/* the zone, from any loaded file that has it */

static ngx_http_farm_kong_prom_zone_t *
ngx_http_farm_kong_prom_find(ngx_http_request_t *r)
{
    ngx_uint_t                        i;
    ngx_http_farm_kong_conf_t       **kc;
    ngx_http_farm_kong_main_conf_t   *kmcf;

    kmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_kong_module);

    if (kmcf == NULL) {
        return NULL;
    }

    kc = kmcf->confs.elts;

    for (i = 0; i < kmcf->confs.nelts; i++) {
        if (kc[i]->prom && kc[i]->prom->zone->data) {
            return kc[i]->prom->zone->data;
        }
    }

    return NULL;
}


/* len bytes of room in the output, a new buffer when needed */

static u_char *
ngx_http_farm_kong_prom_room(ngx_http_farm_kong_prom_write_t *w, size_t len)
{
    ngx_chain_t  *cl;

    if (w->buf && (size_t) (w->buf->end - w->buf->last) >= len) {
        return w->buf->last;
    }

    w->buf = ngx_create_temp_buf(w->request->pool,
                                 ngx_max(len, NGX_HTTP_FARM_KONG_PROM_BUF));
    if (w->buf == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(w->request->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = w->buf;
    cl->next = NULL;

    *w->last = cl;
    w->last = &cl->next;

    return w->buf->last;
}


static ngx_int_t
ngx_http_farm_kong_prom_family(ngx_http_farm_kong_prom_write_t *w,
    const char *name, const char *type, const char *help)
{
    if (ngx_http_farm_kong_prom_room(w, 2 * ngx_strlen(name)
                                        + ngx_strlen(help) + 32)
        == NULL)
    {
        return NGX_ERROR;
    }

    w->buf->last = ngx_sprintf(w->buf->last, "# HELP %s %s\n# TYPE %s %s\n",
                               name, help, name, type);

    return NGX_OK;
}


/* the room one sample of an entry needs, its labels and 128 more */
#define ngx_http_farm_kong_prom_need(e)                                     \
    ((e)->labels_len + 2 * (e)->consumer_len + 160)


static ngx_int_t
ngx_http_farm_kong_prom_requests(ngx_http_farm_kong_prom_write_t *w,
    ngx_http_farm_kong_prom_sh_t *sh)
{
    u_char                           *p;
    ngx_uint_t                        i, c, key, count;
    ngx_http_farm_kong_prom_entry_t  *e;

    if (ngx_http_farm_kong_prom_family(w, "kong_http_requests_total",
                                       "counter",
                                       "HTTP status codes per consumer/"
                                       "service/route")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_FARM_KONG_PROM_ENTRIES; i++) {
        e = &sh->entries[i];

        if (!e->ready) {
            continue;
        }

        for (c = 0; c < NGX_HTTP_FARM_KONG_PROM_CODES; c++) {
            key = e->code[c];
            count = e->count[c];

            if (key == 0 || count == 0) {
                continue;
            }

            key--;

            p = ngx_http_farm_kong_prom_room(w,
                                          ngx_http_farm_kong_prom_need(e));
            if (p == NULL) {
                return NGX_ERROR;
            }

            p = ngx_sprintf(p, "kong_http_requests_total{%*s,code=\"%ui\","
                            "source=\"%s\",consumer=\"",
                            (size_t) e->labels_len, e->labels, key >> 2,
                            ngx_http_farm_kong_prom_sources[key & 3]);
            p = ngx_http_farm_kong_prom_escape(p, e->consumer,
                                               e->consumer_len);
            w->buf->last = ngx_sprintf(p, "\"} %ui\n", count);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_prom_histogram(ngx_http_farm_kong_prom_write_t *w,
    ngx_http_farm_kong_prom_sh_t *sh, ngx_uint_t h)
{
    u_char                           *p;
    uint64_t                          n[NGX_HTTP_FARM_KONG_PROM_BUCKETS];
    uint64_t                          total;
    ngx_uint_t                        i, b, nb;
    const char                       *name;
    const ngx_uint_t                 *le;
    ngx_http_farm_kong_prom_entry_t  *e;

    name = ngx_http_farm_kong_prom_hist_names[w->seconds][h];
    le = (h == NGX_HTTP_FARM_KONG_PROM_KONG) ? ngx_http_farm_kong_prom_kong_le
                                             : ngx_http_farm_kong_prom_le;

    for (nb = 0; le[nb]; nb++) { /* void */ }

    if (ngx_http_farm_kong_prom_family(w, name, "histogram",
                                       ngx_http_farm_kong_prom_hist_help[h])
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_FARM_KONG_PROM_ENTRIES; i++) {
        e = &sh->entries[i];

        if (!e->ready || e->consumer_len) {
            continue;
        }

        /* the count is the buckets' sum, so that +Inf equals it */

        total = 0;

        for (b = 0; b <= nb; b++) {
            total += e->bucket[h][b];
            n[b] = total;
        }

        if (total == 0) {
            continue;
        }

        p = ngx_http_farm_kong_prom_room(w, (nb + 3)
                                            * (e->labels_len + 96));
        if (p == NULL) {
            return NGX_ERROR;
        }

        for (b = 0; b <= nb; b++) {
            p = ngx_sprintf(p, "%s_bucket{%*s,le=\"", name,
                            (size_t) e->labels_len, e->labels);

            if (b == nb) {
                p = ngx_cpymem(p, "+Inf", 4);

            } else {
                p = ngx_http_farm_kong_prom_ms(p, le[b], w->seconds);
            }

            p = ngx_sprintf(p, "\"} %uL\n", n[b]);
        }

        p = ngx_sprintf(p, "%s_sum{%*s} ", name, (size_t) e->labels_len,
                        e->labels);
        p = ngx_http_farm_kong_prom_ms(p, e->sum[h], w->seconds);
        p = ngx_sprintf(p, "\n%s_count{%*s} %uL\n", name,
                        (size_t) e->labels_len, e->labels, total);

        w->buf->last = p;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_prom_bandwidth(ngx_http_farm_kong_prom_write_t *w,
    ngx_http_farm_kong_prom_sh_t *sh)
{
    u_char                           *p;
    ngx_uint_t                        i, d;
    const char                       *name;
    ngx_atomic_uint_t                 bytes;
    ngx_http_farm_kong_prom_entry_t  *e;

    name = w->seconds ? "kong_bandwidth_bytes_total" : "kong_bandwidth_bytes";

    if (ngx_http_farm_kong_prom_family(w, name, "counter",
                                       "Total bandwidth (ingress/egress) "
                                       "in bytes for each consumer/service/"
                                       "route")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_FARM_KONG_PROM_ENTRIES; i++) {
        e = &sh->entries[i];

        if (!e->ready) {
            continue;
        }

        for (d = 0; d < 2; d++) {
            bytes = e->bytes[d];

            if (bytes == 0) {
                continue;
            }

            p = ngx_http_farm_kong_prom_room(w,
                                          ngx_http_farm_kong_prom_need(e));
            if (p == NULL) {
                return NGX_ERROR;
            }

            p = ngx_sprintf(p, "%s{%*s,direction=\"%s\",consumer=\"", name,
                            (size_t) e->labels_len, e->labels,
                            d ? "egress" : "ingress");
            p = ngx_http_farm_kong_prom_escape(p, e->consumer,
                                               e->consumer_len);
            w->buf->last = ngx_sprintf(p, "\"} %uA\n", bytes);
        }
    }

    return NGX_OK;
}


/*
 * kong_upstream_target_health: each target of each Kong upstream (once per
 * upstream name), in the four states of Kong, 1 for its own.  The passive
 * health is this worker's; a target given by host name has no address
 * (its names are resolved per request).
 */

static ngx_int_t
ngx_http_farm_kong_prom_health(ngx_http_farm_kong_prom_write_t *w,
    ngx_array_t *confs)
{
    u_char                           *p;
    ngx_str_t                         host;
    ngx_uint_t                        i, j, k, t, s, state, seen, ip;
    const char                       *states[4];
    kong_target_t                    *tg;
    kong_config_t                    *kong;
    kong_upstream_t                  *up;
    ngx_http_farm_kong_conf_t       **kc;
    const kong_passive_check_t       *pc;

    states[0] = "healthchecks_off";
    states[1] = "healthy";
    states[2] = "unhealthy";
    states[3] = "dns_error";

    if (ngx_http_farm_kong_prom_family(w, "kong_upstream_target_health",
                                       "gauge",
                                       "Health status of targets of "
                                       "upstream. States = healthchecks_off|"
                                       "healthy|unhealthy|dns_error, value "
                                       "is 1 when state is populated.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    kc = confs->elts;

    for (i = 0; i < confs->nelts; i++) {
        if (!kc[i]->prom->health) {
            continue;
        }

        kong = kc[i]->kong;

        for (j = 0; j < kong->nupstreams; j++) {
            up = kong->upstreams[j];

            /* an upstream name an earlier file exported */

            seen = 0;

            for (k = 0; k < i && !seen; k++) {
                for (t = 0; kc[k]->prom->health
                            && t < kc[k]->kong->nupstreams; t++)
                {
                    if (ngx_strcmp(kc[k]->kong->upstreams[t]->name,
                                   up->name)
                        == 0)
                    {
                        seen = 1;
                        break;
                    }
                }
            }

            if (seen) {
                continue;
            }

            pc = &up->healthchecks.passive;

            for (t = 0; t < up->ntargets; t++) {
                tg = up->targets[t];

                if (pc->unhealthy_tcp_failures == 0
                    && pc->unhealthy_timeouts == 0
                    && pc->unhealthy_http_failures == 0)
                {
                    state = 0;

                } else if (kc[i]->health[kc[i]->cw_off[up->index] + t].down) {
                    state = 2;

                } else {
                    state = 1;
                }

                host.data = (u_char *) tg->host;
                host.len = ngx_strlen(tg->host);
                ip = (ngx_inet_addr(host.data, host.len) != INADDR_NONE
                      || ngx_strlchr(host.data, host.data + host.len, ':')
                         != NULL);

                for (s = 0; s < 4; s++) {
                    p = ngx_http_farm_kong_prom_room(w,
                            4 * ngx_strlen(up->name) + 6 * host.len + 256);
                    if (p == NULL) {
                        return NGX_ERROR;
                    }

                    p = ngx_cpymem(p, "kong_upstream_target_health{upstream=\"",
                                   sizeof("kong_upstream_target_health{"
                                          "upstream=\"") - 1);
                    p = ngx_http_farm_kong_prom_escape(p, (u_char *) up->name,
                                                      ngx_strlen(up->name));
                    p = ngx_cpymem(p, "\",target=\"", 10);

                    if (ip && ngx_strlchr(host.data, host.data + host.len,
                                          ':'))
                    {
                        p = ngx_sprintf(p, "[%V]:%ud", &host, tg->port);

                    } else {
                        p = ngx_http_farm_kong_prom_escape(p, host.data,
                                                          host.len);
                        p = ngx_sprintf(p, ":%ud", tg->port);
                    }

                    p = ngx_cpymem(p, "\",address=\"", 11);

                    if (ip && ngx_strlchr(host.data, host.data + host.len,
                                          ':'))
                    {
                        p = ngx_sprintf(p, "[%V]:%ud", &host, tg->port);

                    } else if (ip) {
                        p = ngx_sprintf(p, "%V:%ud", &host, tg->port);
                    }

                    w->buf->last = ngx_sprintf(p, "\",state=\"%s\","
                                               "subsystem=\"http\"} %ui\n",
                                               states[s], s == state ? 1 : 0);
                }
            }
        }
    }

    return NGX_OK;
}


/* a label value as the text format wants it */

static u_char *
ngx_http_farm_kong_prom_escape(u_char *p, const u_char *s, size_t n)
{
    while (n--) {
        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
            *p++ = *s++;

        } else if (*s == '\n') {
            *p++ = '\\';
            *p++ = 'n';
            s++;

        } else {
            *p++ = *s++;
        }
    }

    return p;
}


/* milliseconds, or seconds with up to three decimals */

static u_char *
ngx_http_farm_kong_prom_ms(u_char *p, uint64_t ms, ngx_uint_t seconds)
{
    uint64_t  frac;

    if (!seconds) {
        return ngx_sprintf(p, "%uL", ms);
    }

    p = ngx_sprintf(p, "%uL", ms / 1000);
    frac = ms % 1000;

    if (frac == 0) {
        return p;
    }

    p = ngx_sprintf(p, ".%03uL", frac);

    while (p[-1] == '0') {
        p--;
    }

    return p;
}
