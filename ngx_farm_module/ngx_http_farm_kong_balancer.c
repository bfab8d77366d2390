/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong, the balancer: the choice of a Kong upstream's target (round
 * robin, least-connections, consistent hashing, passive health) and the
 * implicit "farm_kong" upstream whose peers are the addresses the rewrite
 * phase found, with the service's timeouts and retries.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include "ngx_http_farm_kong.h"


typedef struct {
    ngx_http_farm_kong_ctx_t     *ctx;
    ngx_http_request_t           *request;
    ngx_uint_t                   *active;    /* the count this try holds */
    ngx_http_farm_kong_health_t  *health;    /* this try's target */
    const kong_target_t          *target;
} ngx_http_farm_kong_peer_data_t;


static ngx_uint_t ngx_http_farm_kong_pick_hash(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
static ngx_int_t ngx_http_farm_kong_hash_key(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, int on, const char *name, ngx_str_t *key);
static ngx_int_t ngx_http_farm_kong_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_farm_kong_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_farm_kong_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_farm_kong_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_farm_kong_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif
static void ngx_http_farm_kong_passive(ngx_http_farm_kong_peer_data_t *pd,
    ngx_peer_connection_t *pc, ngx_uint_t state);
static ngx_uint_t ngx_http_farm_kong_in(const kong_statuses_t *st,
    ngx_uint_t status);


/*
 * The first target and address of a request to a Kong upstream.  The
 * targets passive health took out leave the request's list first.  Then:
 * consistent-hashing by its key (when the request has one); else smooth
 * weighted round robin over the targets (nginx's), each target's weight
 * kept per worker, least-connections first keeping the targets with the
 * fewest connections of this worker per weight.  Then the chosen target's
 * addresses in turn.  Returns the peer, or NGX_CONF_UNSET_UINT when no
 * target is left.
 */

ngx_uint_t
ngx_http_farm_kong_pick(ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx)
{
    ngx_int_t                    *cw, total;
    ngx_uint_t                    i, n, best, least, *active;
    const kong_upstream_t        *u;
    ngx_http_farm_kong_peer_t    *peer;
    ngx_http_farm_kong_health_t  *health;

    u = ctx->match.service->upstream;
    peer = ctx->peers.elts;

    health = ctx->conf->health + ctx->conf->cw_off[u->index];

    for (i = 0, n = 0; i < ctx->peers.nelts; i++) {
        if (!health[peer[i].target].down) {
            peer[n++] = peer[i];
        }
    }

    ctx->peers.nelts = n;

    if (n == 0) {
        return NGX_CONF_UNSET_UINT;
    }

    if (u->algorithm == KONG_ALG_CONSISTENT_HASHING) {
        i = ngx_http_farm_kong_pick_hash(r, ctx);

        if (i != NGX_CONF_UNSET_UINT) {
            return i;
        }
    }

    cw = ctx->conf->cw + ctx->conf->cw_off[u->index];
    active = ctx->conf->active + ctx->conf->cw_off[u->index];
    least = NGX_CONF_UNSET_UINT;

    if (u->algorithm == KONG_ALG_LEAST_CONNECTIONS) {
        for (i = 0; i < ctx->peers.nelts; i++) {
            if (least == NGX_CONF_UNSET_UINT
                || active[peer[i].target] * peer[least].weight
                   < active[peer[least].target] * peer[i].weight)
            {
                least = i;
            }
        }
    }

    best = NGX_CONF_UNSET_UINT;
    total = 0;

    for (i = 0; i < ctx->peers.nelts; i++) {
        if (i > 0 && peer[i - 1].target == peer[i].target) {
            continue;
        }

        if (least != NGX_CONF_UNSET_UINT
            && active[peer[i].target] * peer[least].weight
               != active[peer[least].target] * peer[i].weight)
        {
            continue;
        }

        cw[peer[i].target] += peer[i].weight;
        total += peer[i].weight;

        if (best == NGX_CONF_UNSET_UINT
            || cw[peer[i].target] > cw[peer[best].target])
        {
            best = i;
        }
    }

    cw[peer[best].target] -= total;

    for (n = 1; best + n < ctx->peers.nelts; n++) {
        if (peer[best + n].target != peer[best].target) {
            break;
        }
    }

    return best + ctx->conf->rr[u->index]++ % n;
}


/*
 * consistent-hashing: the key from hash_on, else from hash_fallback; then
 * the target by weighted rendezvous hashing (each target scores
 * -ln(hash(key, target)) / weight, the lowest wins), so a key keeps its
 * target while the targets stay, and a removed target's keys spread over
 * the others.  Kong uses a ring of slots instead: the same stickiness, a
 * different mapping.  Returns the peer, or NGX_CONF_UNSET_UINT when there
 * is no key (the caller balances by round robin).
 */

static ngx_uint_t
ngx_http_farm_kong_pick_hash(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    double                      score, low;
    uint32_t                    crc, h;
    ngx_str_t                   key;
    ngx_uint_t                  i, n, best;
    const kong_target_t        *t;
    const kong_upstream_t      *u;
    ngx_http_farm_kong_peer_t  *peer;

    u = ctx->match.service->upstream;

    if (ngx_http_farm_kong_hash_key(r, ctx, u->hash_on, NULL, &key) != NGX_OK
        && ngx_http_farm_kong_hash_key(r, ctx, u->hash_fallback, "fallback",
                                       &key)
           != NGX_OK)
    {
        return NGX_CONF_UNSET_UINT;
    }

    peer = ctx->peers.elts;
    best = NGX_CONF_UNSET_UINT;
    low = 0;

    for (i = 0; i < ctx->peers.nelts; i++) {
        if (i > 0 && peer[i - 1].target == peer[i].target) {
            continue;
        }

        t = u->targets[peer[i].target];

        ngx_crc32_init(crc);
        ngx_crc32_update(&crc, key.data, key.len);
        ngx_crc32_update(&crc, (u_char *) "\n", 1);
        ngx_crc32_update(&crc, (u_char *) t->target, ngx_strlen(t->target));
        ngx_crc32_final(crc);

        score = -log((crc + 1.0) / 4294967297.0) / (double) peer[i].weight;

        if (best == NGX_CONF_UNSET_UINT || score < low) {
            best = i;
            low = score;
        }
    }

    for (n = 1; best + n < ctx->peers.nelts; n++) {
        if (peer[best + n].target != peer[best].target) {
            break;
        }
    }

    h = ngx_crc32_short(key.data, key.len);

    return best + h % n;
}


/*
 * The hash key of a hash_on or hash_fallback choice: the client address,
 * a header, a cookie, a query argument, or the normalized path.  A
 * consumer or a URI capture is not available yet.  NGX_DECLINED when
 * the request has no such value.
 */

static ngx_int_t
ngx_http_farm_kong_hash_key(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, int on, const char *fallback,
    ngx_str_t *key)
{
    ngx_str_t               name;
    ngx_uint_t              i;
    const char             *field;
    ngx_list_part_t        *part;
    ngx_table_elt_t        *h;
    const kong_upstream_t  *u;

    u = ctx->match.service->upstream;
    key->len = 0;

    switch (on) {

    case KONG_HASH_IP:
        *key = r->connection->addr_text;
        break;

    case KONG_HASH_PATH:
        key->data = (u_char *) ctx->match.path;
        key->len = ctx->match.path_len;
        break;

    case KONG_HASH_HEADER:
        field = fallback ? u->hash_fallback_header : u->hash_on_header;
        if (field == NULL) {
            return NGX_DECLINED;
        }

        for (part = &r->headers_in.headers.part; part; part = part->next) {
            h = part->elts;

            for (i = 0; i < part->nelts; i++) {
                if (h[i].key.len == ngx_strlen(field)
                    && ngx_strncasecmp(h[i].key.data, (u_char *) field,
                                       h[i].key.len)
                       == 0)
                {
                    *key = h[i].value;
                    goto done;
                }
            }
        }

        break;

    case KONG_HASH_QUERY_ARG:
        field = fallback ? u->hash_fallback_query_arg : u->hash_on_query_arg;
        if (field == NULL
            || ngx_http_arg(r, (u_char *) field, ngx_strlen(field), key)
               != NGX_OK)
        {
            return NGX_DECLINED;
        }

        break;

    case KONG_HASH_COOKIE:
        if (u->hash_on_cookie == NULL) {
            return NGX_DECLINED;
        }

        name.data = (u_char *) u->hash_on_cookie;
        name.len = ngx_strlen(u->hash_on_cookie);

#if (nginx_version >= 1023000)
        if (ngx_http_parse_multi_header_lines(r, r->headers_in.cookie, &name,
                                              key)
            == NULL)
        {
            return NGX_DECLINED;
        }
#else
        if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &name,
                                              key)
            == NGX_DECLINED)
        {
            return NGX_DECLINED;
        }
#endif

        break;

    default:
        return NGX_DECLINED;
    }

done:

    return key->len ? NGX_OK : NGX_DECLINED;
}


/* ---- the implicit "farm_kong" upstream ---------------------------------- */

ngx_int_t
ngx_http_farm_kong_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    us->peer.init = ngx_http_farm_kong_init_peer;

    return NGX_OK;
}


/*
 * Per request: the addresses found by the rewrite phase, the service's
 * retries and timeouts (on a copy of the location's upstream settings),
 * the service host as the TLS server name.
 */

static ngx_int_t
ngx_http_farm_kong_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_t             *u;
    const kong_service_t            *s;
    ngx_http_farm_kong_ctx_t        *ctx;
    ngx_http_upstream_conf_t        *conf;
    ngx_http_farm_kong_peer_data_t  *pd;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_farm_kong_module);

    if (ctx == NULL || !ctx->resolved || ctx->peers.nelts == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "farm_kong: upstream \"%s\" used without a farm_kong "
                      "route", NGX_HTTP_FARM_KONG_UPSTREAM);
        return NGX_ERROR;
    }

    u = r->upstream;
    s = ctx->match.service;

    pd = ngx_palloc(r->pool, sizeof(ngx_http_farm_kong_peer_data_t));
    conf = ngx_palloc(r->pool, sizeof(ngx_http_upstream_conf_t));
    if (pd == NULL || conf == NULL) {
        return NGX_ERROR;
    }

    *conf = *u->conf;
    conf->connect_timeout = s->connect_timeout;
    conf->send_timeout = s->write_timeout;
    conf->read_timeout = s->read_timeout;
    conf->next_upstream_tries = s->retries + 1;
    u->conf = conf;

#if (NGX_HTTP_SSL)
    u->ssl_name.data = (u_char *) s->host;
    u->ssl_name.len = ngx_strlen(s->host);
#endif

    pd->ctx = ctx;
    pd->request = r;
    pd->active = NULL;
    pd->health = NULL;
    pd->target = NULL;

    u->peer.data = pd;
    u->peer.get = ngx_http_farm_kong_get_peer;
    u->peer.free = ngx_http_farm_kong_free_peer;
#if (NGX_HTTP_SSL)
    u->peer.set_session = ngx_http_farm_kong_set_session;
    u->peer.save_session = ngx_http_farm_kong_save_session;
#endif
    u->peer.tries = s->retries + 1;

    return NGX_OK;
}


/* the first pick, then the next address at each retry */

static ngx_int_t
ngx_http_farm_kong_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_farm_kong_peer_data_t  *pd = data;

    ngx_uint_t                  i;
    const kong_upstream_t      *u;
    ngx_http_farm_kong_ctx_t   *ctx;
    ngx_http_farm_kong_peer_t  *peer;

    ctx = pd->ctx;
    peer = ctx->peers.elts;

    i = (ctx->start + ctx->tried) % ctx->peers.nelts;

    pc->sockaddr = peer[i].sockaddr;
    pc->socklen = peer[i].socklen;
    pc->name = &peer[i].name;
    pc->cached = 0;
    pc->connection = NULL;

    u = ctx->match.service->upstream;

    if (u != NULL) {
        pd->active = ctx->conf->active + ctx->conf->cw_off[u->index]
                     + peer[i].target;
        pd->health = ctx->conf->health + ctx->conf->cw_off[u->index]
                     + peer[i].target;
        pd->target = u->targets[peer[i].target];
        (*pd->active)++;
    }

    return NGX_OK;
}


static void
ngx_http_farm_kong_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_farm_kong_peer_data_t  *pd = data;

    if (pd->active != NULL) {
        (*pd->active)--;
        pd->active = NULL;
    }

    if (pd->health != NULL) {
        ngx_http_farm_kong_passive(pd, pc, state);
        pd->health = NULL;
    }

    pd->ctx->tried++;

    if (pc->tries) {
        pc->tries--;
    }
}


#if (NGX_HTTP_SSL)

/*
 * TLS to a service: nginx asks the balancer for a session to reuse and
 * hands it the new one; the addresses are per request, so there is none
 * to keep (each connection makes a full handshake).
 */

static ngx_int_t
ngx_http_farm_kong_set_session(ngx_peer_connection_t *pc, void *data)
{
    return NGX_OK;
}


static void
ngx_http_farm_kong_save_session(ngx_peer_connection_t *pc, void *data)
{
    return;
}

#endif


/*
 * healthchecks.passive, per worker: consecutive TCP failures, timeouts
 * and unhealthy statuses of the proxied traffic mark a target down once a
 * threshold (0 = off) is reached; a healthy status resets the counts.  As
 * in Kong without active checks, a down target stays down (here: until the
 * next reload).
 */

static void
ngx_http_farm_kong_passive(ngx_http_farm_kong_peer_data_t *pd,
    ngx_peer_connection_t *pc, ngx_uint_t state)
{
    ngx_uint_t                    status, *count, limit;
    const char                   *what;
    ngx_connection_t             *c;
    ngx_http_upstream_t          *u;
    const kong_upstream_t        *ku;
    const kong_passive_check_t   *pc_;
    ngx_http_farm_kong_health_t  *hp;

    ku = pd->ctx->match.service->upstream;
    pc_ = &ku->healthchecks.passive;
    hp = pd->health;
    u = pd->request->upstream;

    status = (u != NULL) ? u->headers_in.status_n : 0;

    if (status != 0) {
        if (pc_->type == KONG_PROTO_TCP) {
            return;
        }

        if (ngx_http_farm_kong_in(&pc_->unhealthy_http_statuses, status)) {
            count = &hp->http_failures;
            limit = pc_->unhealthy_http_failures;
            what = "HTTP failures";

        } else {
            if (ngx_http_farm_kong_in(&pc_->healthy_http_statuses, status)) {
                hp->tcp_failures = 0;
                hp->timeouts = 0;
                hp->http_failures = 0;
            }

            return;
        }

    } else if (state & NGX_PEER_FAILED) {
        c = pc->connection;

        if (c != NULL && (c->read->timedout || c->write->timedout)) {
            count = &hp->timeouts;
            limit = pc_->unhealthy_timeouts;
            what = "timeouts";

        } else {
            count = &hp->tcp_failures;
            limit = pc_->unhealthy_tcp_failures;
            what = "TCP failures";
        }

    } else {
        return;
    }

    (*count)++;

    if (limit == 0 || *count < limit || hp->down) {
        return;
    }

    hp->down = 1;

    ngx_log_error(NGX_LOG_WARN, pd->request->connection->log, 0,
                  "farm_kong: upstream \"%s\" target \"%s\" is unhealthy "
                  "after %ui %s (passive health check)",
                  ku->name, pd->target->target, *count, what);
}


static ngx_uint_t
ngx_http_farm_kong_in(const kong_statuses_t *st, ngx_uint_t status)
{
    size_t  i;

    for (i = 0; i < st->n; i++) {
        if (st->items[i] == status) {
            return 1;
        }
    }

    return 0;
}
