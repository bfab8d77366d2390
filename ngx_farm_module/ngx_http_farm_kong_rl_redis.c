
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's rate-limiting with policy redis: counted by farm_limit's
 * Redis backend (ngx_http_farm_limit_redis.c: one EVALSHA per request,
 * the same script and keys as "farm_limit ... policy=redis"), so the
 * counts are shared by every worker and every gateway on that Redis.  The
 * rewrite phase waits for the reply (NGX_DONE) with redis.timeout as its
 * limit; a failure is Kong's fault_tolerant: proxied with a log line, or
 * 500.  With sync_rate (ngx_http_farm_kong_rl_sync.c) a request comes here
 * only for the windows the gateway does not know yet.
 */


#include "ngx_http_farm_kong.h"


static void ngx_http_farm_kong_rl_resume(ngx_http_farm_limit_ctx_t *lctx);
static void ngx_http_farm_kong_rl_timeout(ngx_event_t *ev);
static void ngx_http_farm_kong_rl_cleanup(void *data);


/* At load: the backend of a plugin's redis record. */

ngx_int_t
ngx_http_farm_kong_rl_redis_conf(ngx_conf_t *cf, ngx_http_farm_kong_conf_t *kc,
    const kong_plugin_t *p)
{
    u_char                           *u;
    ngx_str_t                         text;
    const kong_redis_conf_t          *rc;
    ngx_http_farm_kong_rl_redis_t    *rr;
    ngx_http_farm_limit_zone_t       *zone;
    const kong_rate_limiting_conf_t  *conf;

    conf = p->conf;
    rc = &conf->redis;

    if (kc->rl_redis.elts == NULL
        && ngx_array_init(&kc->rl_redis, cf->pool, 2,
                          sizeof(ngx_http_farm_kong_rl_redis_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * redis://[user:password@]host:port/db, farm_limit's form; with ssl,
     * rediss://...?ssl_verify=on|off[&server_name=NAME] (Kong verifies
     * only when ssl_verify is true; the CA file is
     * farm_limit_redis_trusted_certificate, else the system's)
     */

    text.len = sizeof("rediss://:@:65535/4294967295?ssl_verify=off"
                      "&server_name=") - 1
               + ngx_strlen(rc->host)
               + (rc->username ? ngx_strlen(rc->username) : 0)
               + (rc->password ? ngx_strlen(rc->password) : 0)
               + (rc->server_name ? ngx_strlen(rc->server_name) : 0);

    text.data = ngx_pnalloc(cf->pool, text.len);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    u = rc->ssl ? ngx_cpymem(text.data, "rediss://", sizeof("rediss://") - 1)
                : ngx_cpymem(text.data, "redis://", sizeof("redis://") - 1);

    if (rc->username || rc->password) {
        u = ngx_sprintf(u, "%s:%s@", rc->username ? rc->username : "",
                        rc->password ? rc->password : "");
    }

    u = ngx_sprintf(u, "%s:%ud/%ud", rc->host, rc->port, rc->database);

    if (rc->ssl) {
        u = ngx_sprintf(u, "?ssl_verify=%s", rc->ssl_verify ? "on" : "off");

        if (rc->server_name) {
            u = ngx_sprintf(u, "&server_name=%s", rc->server_name);
        }
    }

    text.len = u - text.data;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_limit_zone_t));
    if (zone == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&zone->name, "farm_kong");
    zone->policy = NGX_HTTP_FARM_LIMIT_REDIS;
    zone->file = cf->conf_file->file.name.data;
    zone->line = cf->conf_file->line;

    zone->backend = ngx_http_farm_limit_backend(cf, &text);
    if (zone->backend == NULL) {
        return NGX_ERROR;
    }

    if (zone->backend->timeout < rc->timeout) {
        zone->backend->timeout = rc->timeout;
    }

    rr = ngx_array_push(&kc->rl_redis);
    if (rr == NULL) {
        return NGX_ERROR;
    }

    rr->plugin = p;
    rr->zone = zone;
    rr->sync = NULL;

    if (conf->sync_rate >= 0) {
        return ngx_http_farm_kong_rl_sync_conf(cf, rr);
    }

    return NGX_OK;
}


/*
 * Sends the count to Redis: NGX_AGAIN (the handler returns NGX_DONE and
 * the request resumes when the reply, a failure or the timeout comes),
 * NGX_DECLINED (failed at once: decide now), NGX_ERROR.
 */

ngx_int_t
ngx_http_farm_kong_rl_redis(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p,
    ngx_http_farm_limit_t *limit, ngx_str_t *key)
{
    ngx_int_t                         rc;
    ngx_uint_t                        i;
    ngx_array_t                      *limits;
    ngx_pool_cleanup_t               *cln;
    ngx_http_farm_limit_ctx_t        *lctx;
    ngx_http_farm_kong_rl_redis_t    *rr;
    ngx_http_farm_limit_loc_conf_t   *lcf;
    const kong_rate_limiting_conf_t  *conf;

    conf = p->conf;
    rr = ctx->conf->rl_redis.elts;

    for (i = 0; i < ctx->conf->rl_redis.nelts; i++) {
        if (rr[i].plugin == p) {
            break;
        }
    }

    if (i == ctx->conf->rl_redis.nelts) {
        return NGX_DECLINED;
    }

    limit->zone = rr[i].zone;
    limit->timeout = conf->redis.timeout ? conf->redis.timeout : 1;
    limit->fault_tolerant = conf->fault_tolerant;

    /* farm_limit's request context, with this one limit */

    lctx = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_limit_ctx_t));
    lcf = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_limit_loc_conf_t));
    limits = ngx_array_create(r->pool, 1, sizeof(ngx_http_farm_limit_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (lctx == NULL || lcf == NULL || limits == NULL || cln == NULL) {
        return NGX_ERROR;
    }

    lctx->counts = ngx_pcalloc(r->pool, FARM_WIN_N * sizeof(uint32_t));
    if (lctx->counts == NULL) {
        return NGX_ERROR;
    }

    *(ngx_http_farm_limit_t *) ngx_array_push(limits) = *limit;

    lcf->limits = limits;
    lcf->redis = 1;

    lctx->request = r;
    lctx->lcf = lcf;
    lctx->now = ngx_time();
    lctx->resume = ngx_http_farm_kong_rl_resume;

    cln->handler = ngx_http_farm_kong_rl_cleanup;
    cln->data = lctx;

    rc = ngx_http_farm_limit_redis_send(r, lctx, limits->elts, key);

    if (rc != NGX_AGAIN) {
        if (rc == NGX_DECLINED) {
            return ngx_http_farm_kong_rl_decide(r, ctx, p, limits->elts,
                                                NULL,
                                                NGX_HTTP_FARM_LIMIT_FAILED,
                                                lctx->redis_err);
        }

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->rl_waiting = 1;
    ctx->rl_plugin = p;

    lctx->waiting = 1;
    lctx->timer.handler = ngx_http_farm_kong_rl_timeout;
    lctx->timer.data = lctx;
    lctx->timer.log = r->connection->log;

    ngx_add_timer(&lctx->timer, limit->timeout);

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_AGAIN;
}


/* the reply, a failure or the timeout: back to the rewrite phase */

static void
ngx_http_farm_kong_rl_resume(ngx_http_farm_limit_ctx_t *lctx)
{
    ngx_http_request_t        *r;
    ngx_http_farm_kong_ctx_t  *ctx;

    r = lctx->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_kong_module);

    lctx->waiting = 0;

    if (lctx->timer.timer_set) {
        ngx_del_timer(&lctx->timer);
    }

    ctx->rl_waiting = 0;
    ctx->rl_ctx = lctx;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    /* from the event loop, not from inside hiredis' callback */

    ngx_post_event(r->connection->write, &ngx_posted_events);
}


static void
ngx_http_farm_kong_rl_timeout(ngx_event_t *ev)
{
    ngx_http_farm_limit_ctx_t  *lctx = ev->data;

    ngx_http_farm_limit_redis_cancel(lctx, 1);

    lctx->redis_rc = NGX_HTTP_FARM_LIMIT_FAILED;
    lctx->redis_err = "timed out";

    ngx_http_farm_kong_rl_resume(lctx);
}


static void
ngx_http_farm_kong_rl_cleanup(void *data)
{
    ngx_http_farm_limit_ctx_t  *lctx = data;

    if (lctx->pending) {
        ngx_http_farm_limit_redis_cancel(lctx, 0);
    }

    if (lctx->timer.timer_set) {
        ngx_del_timer(&lctx->timer);
    }
}
