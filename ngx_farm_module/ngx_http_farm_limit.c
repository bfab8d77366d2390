
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * ngx_http_farm_limit_module: farm_limit, per-client rate limits over fixed
 * windows (second to year), several windows enforced together, with Kong's
 * response headers.  Counters live in shared memory (policy=local,
 * ngx_http_farm_limit_zone.c) or in Redis, shared by every gateway pointed
 * at it (policy=redis, ngx_http_farm_limit_redis.c).
 *
 * The access phase handler counts the request once per main request: in
 * every local limit of its location first, then in at most one Redis
 * limit, for which the request is suspended until Redis answers (or the
 * timeout).  A limit that rejects the request gives back what the earlier
 * limits counted, so a rejected request counts nowhere.  The headers are
 * added by a header filter, to whatever response the request gets.
 */


#include "ngx_http_farm_limit.h"


/* ngx_http_farm_limit_ctx_t.taken[] */
#define NGX_HTTP_FARM_LIMIT_SKIPPED   0       /* empty key, or not counted */
#define NGX_HTTP_FARM_LIMIT_COUNTED   1
#define NGX_HTTP_FARM_LIMIT_GIVEN     2       /* counted, then given back */
#define NGX_HTTP_FARM_LIMIT_FULL      3       /* this one rejected */


static ngx_int_t ngx_http_farm_limit_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_limit_finish(ngx_http_request_t *r,
    ngx_http_farm_limit_ctx_t *ctx);
static ngx_int_t ngx_http_farm_limit_reject(ngx_http_request_t *r,
    ngx_http_farm_limit_ctx_t *ctx, ngx_uint_t n);
static ngx_int_t ngx_http_farm_limit_unavailable(ngx_http_request_t *r,
    ngx_http_farm_limit_ctx_t *ctx);
static void ngx_http_farm_limit_give_back(ngx_http_farm_limit_ctx_t *ctx);
static void ngx_http_farm_limit_view(ngx_http_farm_limit_ctx_t *ctx,
    ngx_uint_t admitted);
static void ngx_http_farm_limit_timeout(ngx_event_t *ev);
static void ngx_http_farm_limit_resume(ngx_http_farm_limit_ctx_t *ctx);
static ngx_http_farm_limit_ctx_t *ngx_http_farm_limit_get_ctx(
    ngx_http_request_t *r);
static ngx_http_farm_limit_ctx_t *ngx_http_farm_limit_create_ctx(
    ngx_http_request_t *r, ngx_http_farm_limit_loc_conf_t *lcf);
static void ngx_http_farm_limit_cleanup(void *data);
static ngx_int_t ngx_http_farm_limit_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_limit_add_header(ngx_http_request_t *r,
    const char *name, const char *title, int64_t value);

static void *ngx_http_farm_limit_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_farm_limit_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_farm_limit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_farm_limit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_farm_limit_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_farm_limit_init_process(ngx_cycle_t *cycle);
static void ngx_http_farm_limit_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_farm_limit_commands[] = {

    { ngx_string("farm_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_farm_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_limit_redis_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_farm_limit_main_conf_t, redis_trusted),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_farm_limit_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_farm_limit_postconfiguration, /* postconfiguration */

    ngx_http_farm_limit_create_main_conf,  /* create main configuration */
    ngx_http_farm_limit_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_farm_limit_create_loc_conf,   /* create location configuration */
    ngx_http_farm_limit_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_farm_limit_module = {
    NGX_MODULE_V1,
    &ngx_http_farm_limit_module_ctx,       /* module context */
    ngx_http_farm_limit_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_farm_limit_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_farm_limit_exit_process,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_farm_limit_exceeded =
    ngx_string("{\"message\":\"API rate limit exceeded\"}");

static ngx_str_t  ngx_http_farm_limit_down =
    ngx_string("{\"message\":\"API rate limiting is unavailable\"}");


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static ngx_int_t
ngx_http_farm_limit_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                       *key;
    ngx_uint_t                       i, n;
    ngx_http_farm_limit_t           *limits, *limit;
    ngx_http_farm_limit_ctx_t       *ctx;
    ngx_http_farm_limit_loc_conf_t  *lcf;

    ctx = ngx_http_farm_limit_get_ctx(r);

    if (ctx) {
        if (ctx->waiting) {
            return NGX_AGAIN;
        }

        if (ctx->done) {
            /* counted once per request, whatever the redirects */
            return NGX_DECLINED;
        }

        /* Redis has answered, failed or timed out */

        return ngx_http_farm_limit_finish(r, ctx);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_limit_module);

    if (lcf->limits == NULL || lcf->limits->nelts == 0) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_farm_limit_create_ctx(r, lcf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    limits = lcf->limits->elts;
    n = lcf->limits->nelts;

    for (i = 0; i < n; i++) {
        limit = &limits[i];

        if (i + 1 == lcf->redis) {
            continue;
        }

        if (ngx_http_farm_limit_key(r, limit, &ctx->keys[i]) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->keys[i].len == 0) {
            continue;
        }

        rc = ngx_http_farm_limit_take(r, limit, &ctx->keys[i], ctx->now,
                                      &ctx->counts[i * FARM_WIN_N],
                                      &ctx->starts[i * FARM_WIN_N]);

        if (rc == NGX_BUSY) {
            ctx->taken[i] = NGX_HTTP_FARM_LIMIT_FULL;
            return ngx_http_farm_limit_reject(r, ctx, i);
        }

        if (rc == NGX_OK) {
            ctx->taken[i] = NGX_HTTP_FARM_LIMIT_COUNTED;
        }
    }

    if (lcf->redis == 0) {
        return ngx_http_farm_limit_finish(r, ctx);
    }

    limit = &limits[lcf->redis - 1];
    key = &ctx->keys[lcf->redis - 1];

    if (ngx_http_farm_limit_key(r, limit, key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (key->len == 0) {
        return ngx_http_farm_limit_finish(r, ctx);
    }

    ctx->resume = ngx_http_farm_limit_resume;

    rc = ngx_http_farm_limit_redis_send(r, ctx, limit, key);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        /* no connection to Redis now: decide at once */
        ctx->redis_rc = NGX_HTTP_FARM_LIMIT_FAILED;
        return ngx_http_farm_limit_finish(r, ctx);
    }

    /* wait for the reply; a closed client connection ends the wait */

    ctx->waiting = 1;

    ctx->timer.handler = ngx_http_farm_limit_timeout;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;

    ngx_add_timer(&ctx->timer, limit->timeout);

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_AGAIN;
}


/* All limits have answered: admit the request, or reject it. */

static ngx_int_t
ngx_http_farm_limit_finish(ngx_http_request_t *r,
    ngx_http_farm_limit_ctx_t *ctx)
{
    ngx_uint_t              n;
    ngx_http_farm_limit_t  *limits, *limit;

    if (ctx->lcf->redis && ctx->redis_rc) {
        n = ctx->lcf->redis - 1;
        limits = ctx->lcf->limits->elts;
        limit = &limits[n];

        switch (ctx->redis_rc) {

        case NGX_HTTP_FARM_LIMIT_ADMITTED:
            ctx->taken[n] = NGX_HTTP_FARM_LIMIT_COUNTED;
            break;

        case NGX_HTTP_FARM_LIMIT_REJECTED:
            ctx->taken[n] = NGX_HTTP_FARM_LIMIT_FULL;
            return ngx_http_farm_limit_reject(r, ctx, n);

        default: /* NGX_HTTP_FARM_LIMIT_FAILED */

            ngx_http_farm_limit_redis_fault(limit->zone->backend,
                                            ctx->redis_err,
                                            limit->fault_tolerant);
            ngx_http_farm_counters_failed(ngx_http_farm_limit_counters(r),
                                          limit->fault_tolerant);

            if (!limit->fault_tolerant) {
                return ngx_http_farm_limit_unavailable(r, ctx);
            }

            /* fault tolerant: admitted, this limit reports nothing */
            break;
        }
    }

    ctx->done = 1;

    ngx_http_farm_limit_view(ctx, 1);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_farm_limit_reject(ngx_http_request_t *r,
    ngx_http_farm_limit_ctx_t *ctx, ngx_uint_t n)
{
    int64_t                 retry;
    ngx_str_t               value;
    farm_limit_view_t       full;
    ngx_http_farm_limit_t  *limits, *limit;

    ctx->done = 1;

    limits = ctx->lcf->limits->elts;
    limit = &limits[n];

    ngx_http_farm_limit_give_back(ctx);
    ngx_http_farm_limit_view(ctx, 0);

    /* Retry-After: until every full window of the rejecting limit ends */

    farm_limit_view_init(&full);
    farm_limit_view_add(&full, limit->limit, &ctx->counts[n * FARM_WIN_N],
                        ctx->now, 0);
    farm_limit_view_done(&full);

    retry = full.retry_after > 0 ? full.retry_after : 1;

    ngx_http_farm_counters_rejected(ngx_http_farm_limit_counters(r),
                                    full.window);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "farm_limit: zone \"%V\" rejected the request: "
                  "%s limit %uD reached, retry after %L s",
                  &limit->zone->name,
                  full.window >= 0 ? farm_window_name(full.window) : "a",
                  full.window >= 0 ? full.limit[full.window] : 0, retry);

    value.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.len = ngx_sprintf(value.data, "%L", retry) - value.data;

    if (ngx_http_farm_add_header(r, "Retry-After", &value) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_farm_send_json(r, limit->status,
                                   &ngx_http_farm_limit_exceeded);
}


/* Redis failed and the limit is not fault tolerant: 503, nothing counted */

static ngx_int_t
ngx_http_farm_limit_unavailable(ngx_http_request_t *r,
    ngx_http_farm_limit_ctx_t *ctx)
{
    ctx->done = 1;

    ngx_http_farm_limit_give_back(ctx);
    ngx_http_farm_limit_view(ctx, 0);

    return ngx_http_farm_send_json(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   &ngx_http_farm_limit_down);
}


/* The request is not admitted: what the local limits counted goes back. */

static void
ngx_http_farm_limit_give_back(ngx_http_farm_limit_ctx_t *ctx)
{
    ngx_uint_t              i;
    ngx_http_farm_limit_t  *limits;

    limits = ctx->lcf->limits->elts;

    for (i = 0; i < ctx->lcf->limits->nelts; i++) {
        if (ctx->taken[i] != NGX_HTTP_FARM_LIMIT_COUNTED
            || limits[i].zone->policy != NGX_HTTP_FARM_LIMIT_LOCAL)
        {
            continue;
        }

        ngx_http_farm_limit_untake(&limits[i], &ctx->keys[i],
                                   &ctx->starts[i * FARM_WIN_N],
                                   &ctx->counts[i * FARM_WIN_N]);

        ctx->taken[i] = NGX_HTTP_FARM_LIMIT_GIVEN;
    }
}


static void
ngx_http_farm_limit_view(ngx_http_farm_limit_ctx_t *ctx, ngx_uint_t admitted)
{
    ngx_uint_t              i;
    ngx_http_farm_limit_t  *limits;

    farm_limit_view_init(&ctx->view);

    limits = ctx->lcf->limits->elts;

    for (i = 0; i < ctx->lcf->limits->nelts; i++) {
        if (ctx->taken[i] == NGX_HTTP_FARM_LIMIT_SKIPPED
            || !limits[i].headers)
        {
            continue;
        }

        farm_limit_view_add(&ctx->view, limits[i].limit,
                            &ctx->counts[i * FARM_WIN_N], ctx->now,
                            (int) admitted);
    }

    farm_limit_view_done(&ctx->view);
}


static void
ngx_http_farm_limit_timeout(ngx_event_t *ev)
{
    ngx_http_farm_limit_ctx_t  *ctx = ev->data;

    ngx_http_farm_limit_redis_cancel(ctx, 1);

    ctx->redis_rc = NGX_HTTP_FARM_LIMIT_FAILED;
    ctx->redis_err = "timed out";

    ngx_http_farm_limit_resume(ctx);
}


/*
 * Called once the Redis exchange of a waiting request has an outcome
 * (ctx->redis_rc), as ctx->resume from ngx_http_farm_limit_redis.c: the
 * phases run again and the handler finishes.
 */

static void
ngx_http_farm_limit_resume(ngx_http_farm_limit_ctx_t *ctx)
{
    ngx_http_request_t  *r;

    r = ctx->request;

    ctx->waiting = 0;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    /* from the event loop, not from inside hiredis' callback */

    ngx_post_event(r->connection->write, &ngx_posted_events);
}


ngx_int_t
ngx_http_farm_limit_key(ngx_http_request_t *r, ngx_http_farm_limit_t *limit,
    ngx_str_t *key)
{
    u_char        *p;
    u_char         digest[20];
    ngx_sha1_t     sha1;

    if (ngx_http_complex_value(r, &limit->key, key) != NGX_OK) {
        return NGX_ERROR;
    }

    if (key->len <= NGX_HTTP_FARM_LIMIT_KEY_MAX) {
        return NGX_OK;
    }

    /* bound the memory a client-chosen key can take */

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->data, key->len);
    ngx_sha1_final(digest, &sha1);

    p = ngx_pnalloc(r->pool, sizeof("sha1:") - 1 + 40);
    if (p == NULL) {
        return NGX_ERROR;
    }

    key->data = p;
    p = ngx_cpymem(p, "sha1:", sizeof("sha1:") - 1);
    p = ngx_hex_dump(p, digest, 20);
    key->len = p - key->data;

    return NGX_OK;
}


static ngx_http_farm_limit_ctx_t *
ngx_http_farm_limit_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_farm_limit_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_limit_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {

        /* an internal redirect cleared the context; its cleanup has it */

        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_farm_limit_cleanup) {
                ctx = cln->data;
                ngx_http_set_ctx(r, ctx, ngx_http_farm_limit_module);
                break;
            }
        }
    }

    return ctx;
}


static ngx_http_farm_limit_ctx_t *
ngx_http_farm_limit_create_ctx(ngx_http_request_t *r,
    ngx_http_farm_limit_loc_conf_t *lcf)
{
    ngx_uint_t                  n;
    ngx_pool_cleanup_t         *cln;
    ngx_http_farm_limit_ctx_t  *ctx;

    n = lcf->limits->nelts;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_limit_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->keys = ngx_pcalloc(r->pool, n * sizeof(ngx_str_t));
    ctx->counts = ngx_pcalloc(r->pool, n * FARM_WIN_N * sizeof(uint32_t));
    ctx->starts = ngx_pcalloc(r->pool, n * FARM_WIN_N * sizeof(uint32_t));
    ctx->taken = ngx_pcalloc(r->pool, n);

    if (ctx->keys == NULL || ctx->counts == NULL || ctx->starts == NULL
        || ctx->taken == NULL)
    {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_farm_limit_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ctx->lcf = lcf;
    ctx->now = ngx_time();
    ctx->view.window = -1;

    ngx_http_set_ctx(r, ctx, ngx_http_farm_limit_module);

    return ctx;
}


/* The request goes away: a Redis reply still due must not find it. */

static void
ngx_http_farm_limit_cleanup(void *data)
{
    ngx_http_farm_limit_ctx_t  *ctx = data;

    if (ctx->pending) {
        ngx_http_farm_limit_redis_cancel(ctx, 0);
    }

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}


static ngx_int_t
ngx_http_farm_limit_header_filter(ngx_http_request_t *r)
{
    unsigned                    w;
    farm_limit_view_t          *v;
    ngx_http_farm_limit_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_farm_limit_get_ctx(r);

    if (ctx == NULL || !ctx->done || ctx->reported || ctx->view.window < 0) {
        return ngx_http_next_header_filter(r);
    }

    /* once: a filter-finalized response passes here again */

    ctx->reported = 1;

    v = &ctx->view;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (v->limit[w] == 0) {
            continue;
        }

        if (ngx_http_farm_limit_add_header(r, "X-RateLimit-Limit-",
                                           farm_window_title(w),
                                           v->limit[w])
            != NGX_OK
            || ngx_http_farm_limit_add_header(r, "X-RateLimit-Remaining-",
                                              farm_window_title(w),
                                              v->remaining[w])
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    w = v->window;

    if (ngx_http_farm_limit_add_header(r, "RateLimit-Limit", "",
                                       v->limit[w])
        != NGX_OK
        || ngx_http_farm_limit_add_header(r, "RateLimit-Remaining", "",
                                          v->remaining[w])
           != NGX_OK
        || ngx_http_farm_limit_add_header(r, "RateLimit-Reset", "",
                                          v->reset[w])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_farm_limit_add_header(ngx_http_request_t *r, const char *name,
    const char *title, int64_t value)
{
    u_char           *p;
    size_t            nlen, tlen;
    ngx_table_elt_t  *h;

    nlen = ngx_strlen(name);
    tlen = ngx_strlen(title);

    p = ngx_pnalloc(r->pool, nlen + tlen + NGX_INT64_LEN);
    h = ngx_list_push(&r->headers_out.headers);

    if (p == NULL || h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    h->key.data = p;
    p = ngx_cpymem(p, name, nlen);
    p = ngx_cpymem(p, title, tlen);
    h->key.len = p - h->key.data;

    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%L", value) - p;

    return NGX_OK;
}


static void *
ngx_http_farm_limit_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_farm_limit_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_limit_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mcf->zones, cf->pool, 4,
                       sizeof(ngx_http_farm_limit_zone_t *))
        != NGX_OK
        || ngx_array_init(&mcf->backends, cf->pool, 1,
                          sizeof(ngx_http_farm_limit_backend_t *))
           != NGX_OK)
    {
        return NULL;
    }

    return mcf;
}


static char *
ngx_http_farm_limit_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_farm_limit_main_conf_t  *mcf = conf;

    ngx_uint_t                    i;
    ngx_http_farm_limit_zone_t  **zone;

    zone = mcf->zones.elts;

    for (i = 0; i < mcf->zones.nelts; i++) {
        if (zone[i]->policy == NGX_HTTP_FARM_LIMIT_LOCAL
            && zone[i]->size == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "farm_limit zone \"%V\" is used in %s:%ui but "
                          "never given a size: write \"zone=%V:10m\" (or "
                          "another size) where it is first used",
                          &zone[i]->name, zone[i]->file, zone[i]->line,
                          &zone[i]->name);
            return NGX_CONF_ERROR;
        }
    }

    /* the refusals farm_metrics shows */

    if (mcf->used) {
        mcf->counters = ngx_http_farm_counters_zone(cf);
        if (mcf->counters == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_farm_limit_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_farm_limit_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_limit_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->limits = NULL;
     *     lcf->redis = 0;
     */

    return lcf;
}


static char *
ngx_http_farm_limit_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_farm_limit_loc_conf_t  *prev = parent;
    ngx_http_farm_limit_loc_conf_t  *conf = child;

    /* as limit_req: a block with its own farm_limit lines inherits none */

    if (conf->limits == NULL) {
        conf->limits = prev->limits;
        conf->redis = prev->redis;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_farm_limit_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt              *h;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_farm_limit_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_limit_module);

    /* rediss:// backends, farm_limit's and farm_kong's */

    if (ngx_http_farm_limit_redis_tls(cf, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!mcf->used) {
        return NGX_OK;
    }

    /*
     * Handlers of one phase run in the reverse order of registration:
     * ngx_http_farm_key_auth_module comes after this module (see config),
     * so farm_key_auth runs before farm_limit and $farm_consumer is known.
     */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_farm_limit_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_farm_limit_header_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_limit_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i;
    ngx_http_farm_limit_backend_t   **b;
    ngx_http_farm_limit_main_conf_t  *mcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_farm_limit_module);

    b = mcf->backends.elts;

    /*
     * A worker that fails init_process exits with code 2 and is never
     * respawned (review finding A25): a backend that cannot start is
     * logged, and the worker serves on without its connection.
     */

    for (i = 0; i < mcf->backends.nelts; i++) {
        if (ngx_http_farm_limit_redis_start(cycle, b[i]) != NGX_OK) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                          "farm_limit: a Redis backend failed to start in "
                          "this worker");
        }
    }

    return NGX_OK;
}


static void
ngx_http_farm_limit_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i;
    ngx_http_farm_limit_backend_t   **b;
    ngx_http_farm_limit_main_conf_t  *mcf;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_farm_limit_module);

    b = mcf->backends.elts;

    for (i = 0; i < mcf->backends.nelts; i++) {
        ngx_http_farm_limit_redis_stop(b[i]);
    }
}
