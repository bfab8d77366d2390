
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Admission, for farm upstreams with farm_queue or farm_client_limit: in
 * the precontent phase, before proxy_pass starts the upstream request,
 *
 *   - a client over its farm_client_limit gets 429;
 *   - with farm_queue, the request takes its agent now (the balancer then
 *     uses that one: nobody can take it in between), or, when every agent
 *     it may use is full, waits in the queue (ngx_http_farm_queue.c).
 *
 * Everything taken is given back by the request's cleanup if the upstream
 * never used it.
 */


#include "ngx_http_farm_admit.h"
#include "ngx_http_farm_balancer.h"
#include "ngx_http_farm_client.h"
#include "ngx_http_farm_queue.h"
#include "ngx_http_farm_reject.h"
#include "ngx_http_farm_route.h"


static ngx_int_t ngx_http_farm_admit_handler(ngx_http_request_t *r);
static ngx_http_farm_srv_conf_t *ngx_http_farm_admit_farm(
    ngx_http_request_t *r);
static void ngx_http_farm_admit_resume(ngx_http_request_t *r,
    ngx_uint_t reject);
static void ngx_http_farm_admit_cleanup(void *data);
static ngx_http_farm_ctx_t *ngx_http_farm_admit_ctx(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_admit_eligible_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f);


ngx_int_t
ngx_http_farm_admit_init(ngx_conf_t *cf)
{
    ngx_uint_t                  i;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_farm_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_module);

    fmcf->proxy_index = NGX_HTTP_FARM_NO_PROXY;

    if (!fmcf->admit) {
        return NGX_OK;
    }

    /*
     * The proxy module, found by name rather than linked against, so the
     * module also loads into an nginx built without it (there, admission
     * has nothing to act on).
     */

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (cf->cycle->modules[i]->type == NGX_HTTP_MODULE
            && ngx_strcmp(cf->cycle->modules[i]->name,
                          "ngx_http_proxy_module") == 0)
        {
            fmcf->proxy_index = cf->cycle->modules[i]->ctx_index;
            break;
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_farm_admit_handler;

    return NGX_OK;
}


/*
 * The farm a location proxies to, or NULL.  proxy_pass keeps its upstream
 * first thing in the proxy module's location configuration (its
 * ngx_http_upstream_conf_t comes first, and the upstream is that one's
 * first field): the one place this reads another module's layout.
 */

static ngx_http_farm_srv_conf_t *
ngx_http_farm_admit_farm(ngx_http_request_t *r)
{
    void                          *plcf;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_http_farm_main_conf_t     *fmcf;
    ngx_http_upstream_srv_conf_t  *uscf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->handler == NULL) {
        return NULL;
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_module);

    if (fmcf->proxy_index == NGX_HTTP_FARM_NO_PROXY) {
        return NULL;
    }

    plcf = r->loc_conf[fmcf->proxy_index];
    if (plcf == NULL) {
        return NULL;
    }

    uscf = ((ngx_http_upstream_conf_t *) plcf)->upstream;

    if (uscf == NULL || uscf->srv_conf == NULL) {
        return NULL;
    }

    fcf = ngx_http_conf_upstream_srv_conf(uscf, ngx_http_farm_module);

    if (fcf == NULL || fcf->uscf != uscf) {
        return NULL;
    }

    return fcf;
}


static ngx_int_t
ngx_http_farm_admit_handler(ngx_http_request_t *r)
{
    uint32_t                   slot;
    ngx_int_t                  rc, priority;
    farm_peers_t               peers;
    ngx_pool_cleanup_t        *cln;
    ngx_http_farm_ctx_t       *ctx;
    ngx_http_farm_zone_t       z;
    ngx_http_farm_agent_t     *a;
    ngx_http_farm_filter_t     f;
    ngx_http_farm_srv_conf_t  *fcf;

    /*
     * Once per request: after an internal redirect (error_page, a named
     * location) the context is found again through its cleanup, and what
     * the request holds (its client count, an agent) stays counted once.
     */

    ctx = ngx_http_farm_admit_ctx(r);

    if (ctx && (ctx->admitted || ctx->waiting)) {
        return ctx->waiting ? NGX_AGAIN : NGX_DECLINED;
    }

    fcf = ngx_http_farm_admit_farm(r);

    if (fcf == NULL || (!fcf->queue.enabled && !fcf->client.enabled)) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_farm_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->fcf = fcf;
    ctx->request = r;
    ctx->reserved = FARM_SLOT_NONE;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_farm_admit_cleanup;
    cln->data = ctx;

    ngx_http_farm_zone_get(fcf, &z);

    if (fcf->client.enabled) {
        rc = ngx_http_farm_client_enter(r, ctx, &z);

        if (rc == NGX_BUSY) {
            ctx->admitted = 1;

            ngx_http_finalize_request(r, ngx_http_farm_refuse(r, ctx,
                                         NGX_HTTP_FARM_REJECT_CLIENT_LIMIT));
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    ctx->admitted = 1;

    if (!fcf->queue.enabled) {
        return NGX_DECLINED;
    }

    /* an agent now, or a place in the queue */

    rc = ngx_http_farm_route_init(r, fcf, &f, ctx);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return NGX_DECLINED;    /* the balancer answers 400 */
    }

    if (f.ncaps) {
        ctx->missing.data = ngx_pnalloc(r->pool, ctx->required.len * 3 + 8);
        if (ctx->missing.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* before the lock: nothing may free up unseen while it is evaluated */

    if (ngx_http_farm_queue_priority(r, fcf, &priority) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_farm_zone_peers(z.sh, &peers);

    ngx_shmtx_lock(&z.shpool->mutex);

    if (f.on && ngx_http_farm_route_prepare_locked(&z, &f, ctx) != NGX_OK) {
        ngx_shmtx_unlock(&z.shpool->mutex);
        ctx->reject = NGX_HTTP_FARM_REJECT_NONE;
        return NGX_DECLINED;    /* the balancer names what is missing */
    }

    slot = f.on ? ngx_http_farm_route_choose_locked(&z, &f, NULL, 0, ctx)
                : farm_tree_best(&z.sh->tree, &peers, NULL, 0);

    if (slot != FARM_SLOT_NONE) {
        a = &z.sh->agents[slot];

        farm_tree_acquire(&z.sh->tree, &peers, slot);
        ngx_http_farm_owner_hold_locked(&z, slot, fcf->owner, 1);
        ngx_http_farm_subsets_update_locked(&z, a);

        ctx->reserved = slot;
        ctx->reserved_gen = a->gen;

        ngx_shmtx_unlock(&z.shpool->mutex);

        return NGX_DECLINED;
    }

    /*
     * No agent now.  Wait only if some agent this request may use can take
     * requests at all (is just full); when they are all down or none has
     * what it needs, the balancer refuses at once.
     */

    if (ctx->reject != NGX_HTTP_FARM_REJECT_NONE
        || !ngx_http_farm_admit_eligible_locked(&z, &f))
    {
        ngx_shmtx_unlock(&z.shpool->mutex);
        ctx->reject = NGX_HTTP_FARM_REJECT_NONE;
        return NGX_DECLINED;
    }

    ctx->admitted = 0;
    ctx->resume = ngx_http_farm_admit_resume;

    rc = ngx_http_farm_queue_wait_locked(r, ctx, &z, &f, priority);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_farm_refuse(r, ctx, NGX_HTTP_FARM_REJECT_QUEUE_FULL);
    }

    ctx->admitted = 1;

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * Is some agent the request may use eligible (up, healthy, not ejected),
 * if full?  Stops at the first one; all the members are looked at only
 * when none is (then the request is refused at once).  Locked.
 */

static ngx_int_t
ngx_http_farm_admit_eligible_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f)
{
    uint32_t                 k;
    ngx_uint_t               i;
    ngx_http_farm_agent_t   *a;
    ngx_http_farm_subset_t  *s;

    if (z->sh->eligible == 0) {
        return 0;
    }

    if (!f->on) {
        return 1;
    }

    for (i = 0; i < f->norder; i++) {
        s = ngx_http_farm_subset_get_locked(z, f->order[i], f->mask);

        if (s == NULL) {
            return 1;           /* cannot tell: let it wait */
        }

        for (k = 0; k < s->nmembers; k++) {
            a = &z->sh->agents[s->members[k]];

            if ((a->pick->flags & FARM_PEER_ELIGIBLE)
                && ngx_http_farm_route_matches_locked(f, a))
            {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * A queued request's wait ended (ctx->resume, from the queue): with its
 * agent, run the phases on from here; without, refuse it (reject says why).
 */

static void
ngx_http_farm_admit_resume(ngx_http_request_t *r, ngx_uint_t reject)
{
    ngx_http_farm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_module);

    /* $farm_queue_wait_ms */
    ctx->waited = ngx_current_msec - ctx->queued_at;
    ctx->was_queued = 1;

    if (reject != NGX_HTTP_FARM_REJECT_NONE) {
        ngx_http_finalize_request(r, ngx_http_farm_refuse(r, ctx, reject));
        return;
    }

    ctx->admitted = 1;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


static void
ngx_http_farm_admit_cleanup(void *data)
{
    ngx_http_farm_ctx_t  *ctx = data;

    ngx_http_farm_zone_t  z;

    ngx_http_farm_zone_get(ctx->fcf, &z);

    ngx_http_farm_queue_cancel(ctx);

    if (ctx->reserved != FARM_SLOT_NONE) {
        ngx_http_farm_queue_release(&z, ctx->reserved, ctx->reserved_gen,
                                    ctx->fcf->owner);
        ctx->reserved = FARM_SLOT_NONE;
    }

    if (ctx->client) {
        ngx_http_farm_client_leave(&z, ctx->client, ctx->fcf->owner);
        ctx->client = NULL;
    }
}


/*
 * The request's admission context, also after an internal redirect has
 * cleared the module's contexts (its cleanup still has it).
 */

static ngx_http_farm_ctx_t *
ngx_http_farm_admit_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_farm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {

        /* subrequests share the pool: only this request's own */

        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_farm_admit_cleanup
                && ((ngx_http_farm_ctx_t *) cln->data)->request == r)
            {
                ctx = cln->data;
                ngx_http_set_ctx(r, ctx, ngx_http_farm_module);
                break;
            }
        }
    }

    return ctx;
}
