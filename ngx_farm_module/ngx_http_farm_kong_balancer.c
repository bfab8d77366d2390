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

#include "ngx_http_farm_kong.h"
#include "ngx_http_farm_ssl_session.h"


typedef struct {
    ngx_http_farm_kong_ctx_t     *ctx;
    ngx_http_request_t           *request;
    ngx_uint_t                   *active;    /* the count this try holds */
    const kong_upstream_t        *upstream;  /* this try's target's */
    ngx_uint_t                    target;    /* NGX_CONF_UNSET_UINT: none */
    ngx_msec_t                    started;   /* this try's */
} ngx_http_farm_kong_peer_data_t;


static ngx_uint_t ngx_http_farm_kong_pick_hash(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx);
static int ngx_http_farm_kong_ring_can(void *data, size_t target);
static ngx_int_t ngx_http_farm_kong_hash_key(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, int on, const char *name, ngx_str_t *key);
static ngx_int_t ngx_http_farm_kong_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_farm_kong_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_farm_kong_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static ngx_int_t ngx_http_farm_kong_retry_host(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_http_farm_kong_peer_t *peer);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_farm_kong_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_farm_kong_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif
static void ngx_http_farm_kong_passive(ngx_http_farm_kong_peer_data_t *pd,
    ngx_peer_connection_t *pc, ngx_uint_t state);


/*
 * The first target and address of a request to a Kong upstream.  The
 * targets (and the addresses of host-name targets) health checks took out
 * leave the request's list first.  Then:
 * consistent-hashing by its key (when the request has one); else smooth
 * weighted round robin over the targets (nginx's), each target's weight
 * kept per worker, least-connections first keeping the targets with the
 * fewest connections of this worker per weight.  Then the chosen target's
 * addresses in turn.  latency keeps the targets of the lowest latency
 * score (ngx_http_farm_kong_health.c) before round robin.  Returns the
 * peer, or NGX_CONF_UNSET_UINT when no target is left.
 */

ngx_uint_t
ngx_http_farm_kong_pick(ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx)
{
    double                         low, score;
    ngx_int_t                     *cw, total;
    ngx_uint_t                     i, n, best, least, *active;
    const kong_upstream_t         *u;
    ngx_http_farm_kong_peer_t     *peer;
    ngx_http_farm_kong_health_t  **health;

    u = ctx->match.service->upstream;
    peer = ctx->peers.elts;

    if (ngx_http_farm_kong_health_below(ctx->conf, u)) {
        ctx->peers.nelts = 0;
        return NGX_CONF_UNSET_UINT;
    }

    health = ctx->conf->health + ctx->conf->cw_off[u->index];

    for (i = 0, n = 0; i < ctx->peers.nelts; i++) {
        if (!health[peer[i].target]->down
            && !(health[peer[i].target]->named
                 && ngx_http_farm_kong_health_addr_down(
                        health[peer[i].target], peer[i].sockaddr,
                        peer[i].socklen)))
        {
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

    /* latency: the targets of the lowest latency score */

    low = 0;

    if (u->algorithm == KONG_ALG_LATENCY) {
        for (i = 0; i < ctx->peers.nelts; i++) {
            score = ngx_http_farm_kong_latency_score(ctx->conf, u,
                                                     peer[i].target);

            if (i == 0 || score < low) {
                low = score;
            }
        }
    }

    best = NGX_CONF_UNSET_UINT;
    total = 0;

    for (i = 0; i < ctx->peers.nelts; i++) {
        if (i > 0 && peer[i - 1].target == peer[i].target) {
            continue;
        }

        if (u->algorithm == KONG_ALG_LATENCY
            && ngx_http_farm_kong_latency_score(ctx->conf, u, peer[i].target)
               > low)
        {
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
 * consistent-hashing: the key from hash_on, else from hash_fallback (a
 * request without the hash_on cookie gets a new one instead); then the
 * target on the upstream's ring of `slots` points, laid out as Kong lays
 * it out (kong-compat/kong_ring.c), so a key goes where Kong sends it: the
 * first point at or below the key's whose target is still in the
 * request's list (not down, resolved).  Then one of that target's
 * addresses by the key.  Returns the peer, or NGX_CONF_UNSET_UINT when
 * there is no key (the caller balances by round robin).
 */

static ngx_uint_t
ngx_http_farm_kong_pick_hash(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    long                        t;
    uint32_t                    h;
    ngx_str_t                   key;
    ngx_uint_t                  i, n, best, *first;
    const kong_upstream_t      *u;
    ngx_http_farm_kong_peer_t  *peer;

    u = ctx->match.service->upstream;

    if (ngx_http_farm_kong_hash_key(r, ctx, u->hash_on, NULL, &key) != NGX_OK)
    {
        if (u->hash_on == KONG_HASH_COOKIE) {
            if (ngx_http_farm_kong_cookie_new(r, ctx, &key) != NGX_OK) {
                return NGX_CONF_UNSET_UINT;
            }

        } else if (ngx_http_farm_kong_hash_key(r, ctx, u->hash_fallback,
                                               "fallback", &key)
                   != NGX_OK)
        {
            return NGX_CONF_UNSET_UINT;
        }
    }

    /* each target's first address in the request's list */

    first = ngx_palloc(r->pool, (u->ntargets + 1) * sizeof(ngx_uint_t));
    if (first == NULL) {
        return NGX_CONF_UNSET_UINT;
    }

    for (i = 0; i < u->ntargets; i++) {
        first[i] = NGX_CONF_UNSET_UINT;
    }

    peer = ctx->peers.elts;

    for (i = ctx->peers.nelts; i > 0; i--) {
        first[peer[i - 1].target] = i - 1;
    }

    t = kong_ring_pick(u, kong_ring_point(u, (char *) key.data, key.len),
                       ngx_http_farm_kong_ring_can, first);
    if (t < 0) {
        return NGX_CONF_UNSET_UINT;
    }

    best = first[t];

    for (n = 1; best + n < ctx->peers.nelts; n++) {
        if (peer[best + n].target != peer[best].target) {
            break;
        }
    }

    h = ngx_crc32_short(key.data, key.len);

    return best + h % n;
}


/* kong_ring_pick's question: is the target in the request's list */

static int
ngx_http_farm_kong_ring_can(void *data, size_t target)
{
    ngx_uint_t  *first = data;

    return first[target] != NGX_CONF_UNSET_UINT;
}


/*
 * The hash key of a hash_on or hash_fallback choice: the consumer the
 * auth plugins found (its id, else the credential's), the client address,
 * a header, a cookie, a query argument, the normalized path, or a capture
 * of the route's regex path.  NGX_DECLINED when the request has no such
 * value.
 */

static ngx_int_t
ngx_http_farm_kong_hash_key(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, int on, const char *fallback,
    ngx_str_t *key)
{
    size_t                  len;
    ngx_str_t               name;
    ngx_uint_t              i;
    const char             *field, *value;
    ngx_list_part_t        *part;
    ngx_table_elt_t        *h;
    const kong_upstream_t  *u;

    u = ctx->match.service->upstream;
    key->len = 0;

    switch (on) {

    case KONG_HASH_CONSUMER:
        value = (ctx->consumer != NULL) ? ctx->consumer->id
                : (ctx->credential != NULL) ? ctx->credential->id : NULL;

        if (value != NULL) {
            key->data = (u_char *) value;
            key->len = ngx_strlen(value);
        }

        break;

    case KONG_HASH_URI_CAPTURE:
        field = fallback ? u->hash_fallback_uri_capture
                         : u->hash_on_uri_capture;

        if (field == NULL
            || kong_match_capture(&ctx->match, field, &value, &len) != 1)
        {
            return NGX_DECLINED;
        }

        key->data = (u_char *) value;
        key->len = len;
        break;

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
    ngx_http_farm_kong_tls_apply(ctx->conf, s, conf);
#endif

    pd->ctx = ctx;
    pd->request = r;
    pd->active = NULL;
    pd->upstream = NULL;
    pd->target = NGX_CONF_UNSET_UINT;

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
        pd->upstream = u;
        pd->target = peer[i].target;
        pd->started = ngx_current_msec;
        (*pd->active)++;

        if (ctx->tried > 0 && !ctx->match.route->preserve_host
            && u->host_header == NULL
            && ngx_http_farm_kong_retry_host(pd->request, ctx, &peer[i])
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A retry to another target: the Host it gets is its own, as Kong sets it
 * at each try.  The request is already written (proxy_set_header Host
 * $farm_kong_host), so its "Host: " line, when it holds the previous
 * try's host, is rewritten into a new first buffer; nginx sends that one
 * again from its start.
 */

static ngx_int_t
ngx_http_farm_kong_retry_host(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_http_farm_kong_peer_t *peer)
{
    u_char     *p, *end, *v;
    size_t      size;
    ngx_buf_t  *b, *nb;
    ngx_str_t   old;

    if (r->upstream == NULL || r->upstream->request_bufs == NULL) {
        return NGX_OK;
    }

    old = ctx->host;

    if (ngx_http_farm_kong_set_host(r, ctx, &peer->host,
                                    ngx_inet_get_port(peer->sockaddr))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    b = r->upstream->request_bufs->buf;

    if (b->in_file || !ngx_buf_in_memory(b)
        || (old.len == ctx->host.len
            && ngx_strncmp(old.data, ctx->host.data, old.len) == 0))
    {
        return NGX_OK;
    }

    /* the header line, before the blank line that ends the headers */

    end = ngx_strlcasestrn(b->start, b->last, (u_char *) "\r\n\r\n", 4 - 1);
    if (end == NULL) {
        return NGX_OK;
    }

    for (p = b->start; /* void */; p = v) {
        p = ngx_strlcasestrn(p, end, (u_char *) "\nhost: ", 7 - 1);
        if (p == NULL) {
            return NGX_OK;
        }

        v = p + 7;

        if ((size_t) (end - v) >= old.len
            && ngx_strncmp(v, old.data, old.len) == 0
            && v[old.len] == CR)
        {
            break;
        }
    }

    size = (b->last - b->start) - old.len + ctx->host.len;

    nb = ngx_alloc_buf(r->pool);
    p = ngx_pnalloc(r->pool, size);
    if (nb == NULL || p == NULL) {
        return NGX_ERROR;
    }

    *nb = *b;
    nb->start = p;
    nb->pos = p;

    p = ngx_cpymem(p, b->start, v - b->start);
    p = ngx_cpymem(p, ctx->host.data, ctx->host.len);
    p = ngx_cpymem(p, v + old.len, b->last - (v + old.len));

    nb->last = p;
    nb->end = p;
    nb->temporary = 1;
    nb->memory = 0;
    nb->mmap = 0;
    nb->shadow = NULL;

    r->upstream->request_bufs->buf = nb;

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

    if (pd->target != NGX_CONF_UNSET_UINT) {
        if (pd->upstream->algorithm == KONG_ALG_LATENCY
            && !(state & NGX_PEER_FAILED))
        {
            ngx_http_farm_kong_latency_observe(pd->ctx->conf, pd->upstream,
                                               pd->target,
                                               ngx_current_msec - pd->started);
        }

        ngx_http_farm_kong_passive(pd, pc, state);
        pd->target = NGX_CONF_UNSET_UINT;
    }

    pd->ctx->tried++;

    if (pc->tries) {
        pc->tries--;
    }
}


#if (NGX_HTTP_SSL)

/*
 * TLS to a service: the sessions are kept per worker by address and
 * server name (ngx_http_farm_ssl_session.c), the request's addresses
 * being its own.
 */

static ngx_int_t
ngx_http_farm_kong_set_session(ngx_peer_connection_t *pc, void *data)
{
    return ngx_http_farm_ssl_session_set(pc);
}


static void
ngx_http_farm_kong_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_farm_ssl_session_save(pc);
}

#endif


/*
 * healthchecks.passive: TCP failures, timeouts and unhealthy statuses of
 * the proxied traffic are counted in the targets' shared health
 * (ngx_http_farm_kong_health.c), a healthy status clears them.  As in
 * Kong, passive checks never bring a target back: active checks do, or
 * (without them) the next reload.
 */

static void
ngx_http_farm_kong_passive(ngx_http_farm_kong_peer_data_t *pd,
    ngx_peer_connection_t *pc, ngx_uint_t state)
{
    ngx_uint_t                   status, what;
    ngx_connection_t            *c;
    ngx_http_upstream_t         *u;
    const kong_passive_check_t  *pc_;

    pc_ = &pd->upstream->healthchecks.passive;
    u = pd->request->upstream;

    status = (u != NULL) ? u->headers_in.status_n : 0;

    if (status != 0) {
        if (pc_->type == KONG_PROTO_TCP) {
            return;
        }

        if (ngx_http_farm_kong_status_in(&pc_->unhealthy_http_statuses,
                                         status))
        {
            what = NGX_HTTP_FARM_KONG_HC_HTTP;

        } else if (ngx_http_farm_kong_status_in(&pc_->healthy_http_statuses,
                                                status))
        {
            what = NGX_HTTP_FARM_KONG_HC_SUCCESS;

        } else {
            return;
        }

    } else if (state & NGX_PEER_FAILED) {
        c = pc->connection;

        what = (c != NULL && (c->read->timedout || c->write->timedout))
               ? NGX_HTTP_FARM_KONG_HC_TIMEOUT : NGX_HTTP_FARM_KONG_HC_TCP;

    } else {
        return;
    }

    /* a host-name target checked per address: that address's health */

    if (pd->ctx->conf->health[pd->ctx->conf->cw_off[pd->upstream->index]
                              + pd->target]->named)
    {
        ngx_http_farm_kong_health_report_addr(pd->ctx->conf, pd->upstream,
                                              pd->target, pc->sockaddr,
                                              pc->socklen, what, 0,
                                              pd->request->connection->log);
        return;
    }

    ngx_http_farm_kong_health_report(pd->ctx->conf, pd->upstream, pd->target,
                                     what, 0, pd->request->connection->log);
}
