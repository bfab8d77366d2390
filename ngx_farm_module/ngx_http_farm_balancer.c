
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The upstream balancer: init_peer, get and free, in the shape of nginx's
 * own balancers, over the agents of the shared zone.  Every pick costs
 * O(log n) in the number of agents (ngx_http_farm_pick.c).
 */


#include "ngx_http_farm_balancer.h"
#include "ngx_http_farm_breaker.h"
#include "ngx_http_farm_queue.h"
#include "ngx_http_farm_route.h"
#include "ngx_http_farm_ssl_session.h"


typedef struct {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_http_request_t            *request;
    ngx_http_farm_ctx_t           *ctx;
    uint32_t                       hash;
    uint32_t                       current;     /* slot in use, or NONE */
    uint32_t                       gen;
    uint32_t                       ntried;
    uint32_t                       tried[NGX_HTTP_FARM_MAX_TRIES];
    ngx_msec_t                     started;     /* this try's */
    ngx_http_farm_filter_t         filter;
} ngx_http_farm_peer_data_t;


/* what one try needs to outlive a change of the agent in the zone */
typedef struct {
    ngx_str_t                      name;
    ngx_sockaddr_t                 sockaddr;
    u_char                         text[NGX_SOCKADDR_STRLEN];
    u_char                         id[FARM_ID_MAX];
} ngx_http_farm_try_t;


static ngx_int_t ngx_http_farm_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_farm_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state);
static uint32_t ngx_http_farm_choose_locked(ngx_http_farm_peer_data_t *fp,
    ngx_http_farm_zone_t *z, farm_peers_t *peers);
static ngx_int_t ngx_http_farm_usable_locked(ngx_http_farm_peer_data_t *fp,
    ngx_http_farm_shctx_t *sh, uint32_t slot);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_farm_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_farm_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif
static ngx_int_t ngx_http_farm_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_farm_vars[] = {

    { ngx_string("farm_agent"), NULL, ngx_http_farm_ctx_variable,
      offsetof(ngx_http_farm_ctx_t, agent), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("farm_region"), NULL, ngx_http_farm_ctx_variable,
      offsetof(ngx_http_farm_ctx_t, region), NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_farm_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    uint32_t                    n;
    ngx_str_t                   key;
    ngx_http_farm_zone_t        z;
    ngx_http_upstream_t        *u;
    ngx_http_farm_srv_conf_t   *fcf;
    ngx_http_farm_peer_data_t  *fp;

    fcf = ngx_http_conf_upstream_srv_conf(us, ngx_http_farm_module);

    fp = ngx_palloc(r->pool, sizeof(ngx_http_farm_peer_data_t));
    if (fp == NULL) {
        return NGX_ERROR;
    }

    fp->ctx = ngx_http_farm_get_ctx(r);
    if (fp->ctx == NULL) {
        return NGX_ERROR;
    }

    fp->ctx->fcf = fcf;
    fp->fcf = fcf;
    fp->request = r;
    fp->hash = 0;
    fp->current = FARM_SLOT_NONE;
    fp->gen = 0;
    fp->ntried = 0;

    if (fcf->hash_key) {
        if (ngx_http_complex_value(r, fcf->hash_key, &key) != NGX_OK) {
            return NGX_ERROR;
        }

        fp->hash = farm_hash32(key.data, key.len);
    }

    if (ngx_http_farm_route_init(r, fcf, &fp->filter, fp->ctx) == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    if (fp->filter.ncaps) {

        /* room to name the capabilities no agent has */

        fp->ctx->missing.data = ngx_pnalloc(r->pool,
                                            fp->ctx->required.len * 3 + 8);
        if (fp->ctx->missing.data == NULL) {
            return NGX_ERROR;
        }

        /* admission may have named some in its own buffer */

        fp->ctx->missing.len = 0;
    }

    u = r->upstream;

    u->peer.data = fp;
    u->peer.get = ngx_http_farm_get_peer;
    u->peer.free = ngx_http_farm_free_peer;

#if (NGX_HTTP_SSL)
    u->peer.set_session = ngx_http_farm_set_session;
    u->peer.save_session = ngx_http_farm_save_session;
#endif

    /*
     * One try per agent, and one more: when every agent has failed, that
     * last get finds none left and the client gets the JSON refusal rather
     * than nginx's 502 page.  At most NGX_HTTP_FARM_MAX_TRIES agents: when
     * they all fail, free_peer marks the request for the same refusal.
     * nagents is a word read without the lock: at worst one try more or
     * less.
     */

    ngx_http_farm_zone_get(fcf, &z);
    n = z.sh->nagents;

    u->peer.tries = (n < NGX_HTTP_FARM_MAX_TRIES) ? n + 1
                                                   : NGX_HTTP_FARM_MAX_TRIES;

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_farm_peer_data_t  *fp = data;

    uint32_t                slot;
    ngx_uint_t              taken;
    farm_peers_t            peers;
    ngx_http_farm_try_t    *try;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a;

    pc->cached = 0;
    pc->connection = NULL;

    try = ngx_palloc(fp->request->pool, sizeof(ngx_http_farm_try_t));
    if (try == NULL) {
        return NGX_ERROR;
    }

    ngx_http_farm_zone_get(fp->fcf, &z);
    ngx_http_farm_zone_peers(z.sh, &peers);

    ngx_shmtx_lock(&z.shpool->mutex);

    if (fp->ntried == 0) {
        z.sh->requests++;

    } else {
        ngx_http_farm_stats_inc(z.sh->stats.retries);
    }

    /* an agent taken for this request at admission (farm_queue) */

    slot = FARM_SLOT_NONE;
    taken = 0;

    if (fp->ctx->reserved != FARM_SLOT_NONE) {
        a = &z.sh->agents[fp->ctx->reserved];

        if (a->gen == fp->ctx->reserved_gen
            && a->state == NGX_HTTP_FARM_SLOT_UP)
        {
            slot = fp->ctx->reserved;
            taken = 1;
        }

        fp->ctx->reserved = FARM_SLOT_NONE;
    }

    if (slot == FARM_SLOT_NONE
        && fp->ctx->reject == NGX_HTTP_FARM_REJECT_NONE)
    {
        slot = ngx_http_farm_choose_locked(fp, &z, &peers);
    }

    if (slot == FARM_SLOT_NONE) {
        z.sh->no_agent++;
        ngx_shmtx_unlock(&z.shpool->mutex);

        if (fp->ctx->reject == NGX_HTTP_FARM_REJECT_NONE) {
            fp->ctx->reject = NGX_HTTP_FARM_REJECT_NO_AGENT;
        }

        pc->name = &fp->fcf->uscf->host;

        return NGX_BUSY;
    }

    a = &z.sh->agents[slot];

    if (!taken) {
        farm_tree_acquire(&z.sh->tree, &peers, slot);
        ngx_http_farm_owner_hold_locked(&z, slot, fp->fcf->owner, 1);
        ngx_http_farm_subsets_update_locked(&z, a);
    }

    a->requests++;

    if (a->region) {
        fp->ctx->region.data = z.sh->regions[a->region - 1];
        fp->ctx->region.len = ngx_strlen(fp->ctx->region.data);

    } else {
        fp->ctx->region.len = 0;
    }

    ngx_memcpy(&try->sockaddr, &a->sockaddr, a->socklen);
    pc->socklen = a->socklen;

    ngx_memcpy(try->text, a->name, a->name_len);
    try->name.len = a->name_len;

    ngx_memcpy(try->id, a->id, a->sn.str.len);
    fp->ctx->agent.len = a->sn.str.len;

    fp->current = slot;
    fp->gen = a->gen;
    fp->started = ngx_current_msec;

    ngx_shmtx_unlock(&z.shpool->mutex);

    try->name.data = try->text;
    fp->ctx->agent.data = try->id;

    if (fp->ntried < NGX_HTTP_FARM_MAX_TRIES) {
        fp->tried[fp->ntried++] = slot;
    }

    fp->ctx->tries = fp->ntried;            /* $farm_tries */

    pc->sockaddr = &try->sockaddr.sockaddr;
    pc->name = &try->name;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "farm: agent \"%V\" at %V, try %uD",
                   &fp->ctx->agent, pc->name, fp->ntried);

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_usable_locked(ngx_http_farm_peer_data_t *fp,
    ngx_http_farm_shctx_t *sh, uint32_t slot)
{
    uint32_t                i;
    ngx_http_farm_agent_t  *a;

    if (slot == FARM_SLOT_NONE) {
        return 0;
    }

    a = &sh->agents[slot];

    if (a->state != NGX_HTTP_FARM_SLOT_UP || !farm_peer_available(a->pick)
        || (fp->filter.on
            && !ngx_http_farm_route_matches_locked(&fp->filter, a)))
    {
        return 0;
    }

    for (i = 0; i < fp->ntried; i++) {
        if (fp->tried[i] == slot) {
            return 0;
        }
    }

    return 1;
}


static uint32_t
ngx_http_farm_choose_locked(ngx_http_farm_peer_data_t *fp,
    ngx_http_farm_zone_t *z, farm_peers_t *peers)
{
    uint32_t                i, h, idx, slot, prev, distinct;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;

    if (fp->filter.on
        && ngx_http_farm_route_prepare_locked(z, &fp->filter, fp->ctx)
           != NGX_OK)
    {
        return FARM_SLOT_NONE;
    }

    switch (sh->method) {

    case NGX_HTTP_FARM_HASH:

        h = fp->hash;

        for (i = 0; i < NGX_HTTP_FARM_HASH_TRIES; i++) {
            slot = farm_wtable_find(sh->wtable, sh->nwtable, sh->wtotal, h);

            if (ngx_http_farm_usable_locked(fp, sh, slot)) {
                return slot;
            }

            h = farm_hash_mix(fp->hash, i);
        }

        break;

    case NGX_HTTP_FARM_CHASH:

        if (sh->nring == 0) {
            break;
        }

        idx = farm_ring_find(sh->ring, sh->nring, fp->hash);
        prev = FARM_SLOT_NONE;
        distinct = 0;

        for (i = 0; i < sh->nring && distinct < NGX_HTTP_FARM_HASH_TRIES; i++)
        {
            slot = sh->ring[(idx + i) % sh->nring].slot;

            if (slot == prev) {
                continue;
            }

            prev = slot;
            distinct++;

            if (ngx_http_farm_usable_locked(fp, sh, slot)) {
                return slot;
            }
        }

        break;
    }

    /* round robin, least_conn, and hashing's fallback */

    if (fp->filter.on) {
        return ngx_http_farm_route_choose_locked(z, &fp->filter, fp->tried,
                                                 fp->ntried, fp->ctx);
    }

    return farm_tree_best(&sh->tree, peers, fp->tried, fp->ntried);
}


static void
ngx_http_farm_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_farm_peer_data_t  *fp = data;

    uint32_t                ms;
    ngx_int_t               failed;
    ngx_uint_t              changed, error;
    farm_peers_t            peers;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_note_t    note;
    ngx_http_farm_agent_t  *a;

    if (fp->current != FARM_SLOT_NONE) {
        failed = ngx_http_farm_breaker_failed(fp->fcf, fp->request, state);
        note.level = 0;

        /* for farm_status: 5xx answers and failed connections */
        error = (state & NGX_PEER_FAILED)
                || (fp->request->upstream
                    && fp->request->upstream->headers_in.status_n >= 500);
        ms = (uint32_t) ngx_min(ngx_current_msec - fp->started, 3600000);

        ngx_http_farm_zone_get(fp->fcf, &z);
        ngx_http_farm_zone_peers(z.sh, &peers);

        ngx_shmtx_lock(&z.shpool->mutex);

        a = &z.sh->agents[fp->current];

        /* the slot may have gone to another agent meanwhile */

        if (a->gen == fp->gen) {
            farm_tree_release(&z.sh->tree, &peers, fp->current);
            ngx_http_farm_owner_hold_locked(&z, fp->current, fp->fcf->owner,
                                            -1);
            ngx_http_farm_subsets_update_locked(&z, a);
            ngx_http_farm_queue_dispatch_locked(&z, a);

            if (failed == 1) {
                a->failures++;
            }

            a->errors += error;
            a->latency = a->latency ? a->latency - a->latency / 8 + ms * 2
                                    : ms * 16;

            if (fp->fcf->breaker.enabled && failed != -1) {
                changed = ngx_http_farm_breaker_outcome_locked(&z, a, !failed,
                                                               &note);

                if (changed & NGX_HTTP_FARM_CHANGED_CAPACITY) {
                    ngx_http_farm_queue_dispatch_locked(&z, a);
                }
            }
        }

        if (error) {
            z.sh->failed++;

        } else {
            z.sh->completed++;
        }

        ngx_shmtx_unlock(&z.shpool->mutex);

        if (note.level) {
            ngx_log_error(note.level, pc->log, 0, "%s", note.text);
        }

        fp->current = FARM_SLOT_NONE;
    }

    if (pc->tries) {
        pc->tries--;
    }

    /*
     * The last try failed too: nginx answers 502 next, which the filters
     * turn into the JSON refusal, saying that no agent could take it.
     */

    if (pc->tries == 0 && (state & NGX_PEER_FAILED)
        && fp->ctx->reject == NGX_HTTP_FARM_REJECT_NONE)
    {
        fp->ctx->reject = NGX_HTTP_FARM_REJECT_ALL_FAILED;
        fp->ctx->tries = fp->ntried;
    }
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_farm_set_session(ngx_peer_connection_t *pc, void *data)
{
    /* kept per worker by the agent's address and the server name */

    return ngx_http_farm_ssl_session_set(pc);
}


static void
ngx_http_farm_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_farm_ssl_session_save(pc);
}

#endif


ngx_int_t
ngx_http_farm_add_variables(ngx_conf_t *cf)
{
    return ngx_http_farm_variables_add(cf, ngx_http_farm_vars);
}


static ngx_int_t
ngx_http_farm_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t            *value;
    ngx_http_farm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = (ngx_str_t *) ((u_char *) ctx + data);

    if (value->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = value->data;

    return NGX_OK;
}


/*
 * The request's farm context, made on first use (admission or init_peer):
 * the request path owns it.
 */

ngx_http_farm_ctx_t *
ngx_http_farm_get_ctx(ngx_http_request_t *r)
{
    ngx_http_farm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ctx->reserved = FARM_SLOT_NONE;

        ngx_http_set_ctx(r, ctx, ngx_http_farm_module);
    }

    return ctx;
}
