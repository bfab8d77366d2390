
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 1, nginx utilities: the module's TLS client contexts, and TLS
 * sessions to upstream peers, kept for reuse (proxy_ssl_session_reuse, on by default).  nginx's round robin
 * keeps one session in each peer of a configured upstream; the farm's
 * agents and Kong's targets are not such peers (they come and go, and a
 * Kong request carries its own addresses), so the two balancers keep
 * their sessions here instead: one small cache per worker process, keyed
 * by the TLS context (a session made under one verification policy is
 * never offered under another), the peer's address and port, and the
 * server name sent (SNI), at most NGX_HTTP_FARM_SSL_SESSIONS entries,
 * the least recently used going first.
 *
 * A session that no longer resumes costs nothing more than a full
 * handshake: the server refuses it and the new session replaces it.
 */


#include "ngx_http_farm_ssl_session.h"


#if (NGX_SSL)

/*
 * At configuration: a TLS client context (TLS 1.2 and 1.3) for connections
 * the module makes itself or per service, freed with the configuration's
 * pool; its trust store is the caller's to fill.  NULL on failure (logged
 * by nginx).
 */

ngx_ssl_t *
ngx_http_farm_ssl_client(ngx_conf_t *cf)
{
    ngx_ssl_t           *ssl;
    ngx_pool_cleanup_t  *cln;

    ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (ssl == NULL) {
        return NULL;
    }

    ssl->log = cf->log;

    if (ngx_ssl_create(ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(ssl);
        return NULL;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = ssl;

    return ssl;
}

#endif


#if (NGX_HTTP_SSL)

#define NGX_HTTP_FARM_SSL_SESSIONS  1024
#define NGX_HTTP_FARM_SSL_KEY       (sizeof(void *) + NGX_SOCKADDRLEN + 256)


typedef struct {
    ngx_str_node_t         sn;          /* a hash of key[], then key[] */
    ngx_queue_t            queue;       /* most recently used first */
    ngx_ssl_session_t     *session;
    u_char                 key[1];
} ngx_http_farm_ssl_entry_t;


static size_t ngx_http_farm_ssl_key(ngx_peer_connection_t *pc, u_char *key);
static ngx_http_farm_ssl_entry_t *ngx_http_farm_ssl_find(u_char *key,
    size_t len, uint32_t hash);
static void ngx_http_farm_ssl_evict(void);


static ngx_rbtree_t        ngx_http_farm_ssl_tree;
static ngx_rbtree_node_t   ngx_http_farm_ssl_sentinel;
static ngx_queue_t         ngx_http_farm_ssl_lru;
static ngx_uint_t          ngx_http_farm_ssl_count;
static ngx_uint_t          ngx_http_farm_ssl_ready;


/*
 * Offers the session kept for this peer, if any, to the connection
 * nginx is about to handshake on.
 */

ngx_int_t
ngx_http_farm_ssl_session_set(ngx_peer_connection_t *pc)
{
    size_t                      len;
    uint32_t                    hash;
    ngx_connection_t           *c;
    ngx_http_farm_ssl_entry_t  *e;
    u_char                      key[NGX_HTTP_FARM_SSL_KEY];

    c = pc->connection;

    if (!ngx_http_farm_ssl_ready || c == NULL || c->ssl == NULL) {
        return NGX_OK;
    }

    len = ngx_http_farm_ssl_key(pc, key);
    hash = ngx_murmur_hash2(key, len);

    e = ngx_http_farm_ssl_find(key, len, hash);
    if (e == NULL) {
        return NGX_OK;
    }

    ngx_queue_remove(&e->queue);
    ngx_queue_insert_head(&ngx_http_farm_ssl_lru, &e->queue);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "farm ssl session %p offered to %V", e->session,
                   pc->name);

    return ngx_ssl_set_session(c, e->session);
}


/* Keeps the connection's session, replacing the one kept for the peer. */

void
ngx_http_farm_ssl_session_save(ngx_peer_connection_t *pc)
{
    size_t                      len;
    uint32_t                    hash;
    ngx_connection_t           *c;
    ngx_ssl_session_t          *session;
    ngx_http_farm_ssl_entry_t  *e;
    u_char                      key[NGX_HTTP_FARM_SSL_KEY];

    c = pc->connection;

    if (c == NULL || c->ssl == NULL) {
        return;
    }

    if (!ngx_http_farm_ssl_ready) {
        ngx_rbtree_init(&ngx_http_farm_ssl_tree, &ngx_http_farm_ssl_sentinel,
                        ngx_str_rbtree_insert_value);
        ngx_queue_init(&ngx_http_farm_ssl_lru);
        ngx_http_farm_ssl_ready = 1;
    }

    len = ngx_http_farm_ssl_key(pc, key);
    hash = ngx_murmur_hash2(key, len);

    e = ngx_http_farm_ssl_find(key, len, hash);

    if (e == NULL) {
        if (ngx_http_farm_ssl_count >= NGX_HTTP_FARM_SSL_SESSIONS) {
            ngx_http_farm_ssl_evict();
        }

        e = ngx_alloc(offsetof(ngx_http_farm_ssl_entry_t, key) + len,
                      pc->log);
        if (e == NULL) {
            return;
        }

        session = ngx_ssl_get_session(c);
        if (session == NULL) {
            ngx_free(e);
            return;
        }

        e->sn.node.key = hash;
        e->sn.str.len = len;
        e->sn.str.data = e->key;
        e->session = session;
        ngx_memcpy(e->key, key, len);

        ngx_rbtree_insert(&ngx_http_farm_ssl_tree, &e->sn.node);
        ngx_queue_insert_head(&ngx_http_farm_ssl_lru, &e->queue);
        ngx_http_farm_ssl_count++;

    } else {
        session = ngx_ssl_get_session(c);
        if (session == NULL) {
            return;
        }

        ngx_ssl_free_session(e->session);
        e->session = session;

        ngx_queue_remove(&e->queue);
        ngx_queue_insert_head(&ngx_http_farm_ssl_lru, &e->queue);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "farm ssl session %p kept for %V", session, pc->name);
}


/* The TLS context, the address with its port, and the server name. */

static size_t
ngx_http_farm_ssl_key(ngx_peer_connection_t *pc, u_char *key)
{
    u_char      *p;
    size_t       n;
    SSL_CTX     *ctx;
    socklen_t    socklen;
    const char  *name;

    ctx = SSL_get_SSL_CTX(pc->connection->ssl->connection);

    p = ngx_cpymem(key, &ctx, sizeof(void *));

    socklen = pc->socklen;
    if (socklen > NGX_SOCKADDRLEN) {
        socklen = NGX_SOCKADDRLEN;
    }

    p = ngx_cpymem(p, pc->sockaddr, socklen);

    name = SSL_get_servername(pc->connection->ssl->connection,
                              TLSEXT_NAMETYPE_host_name);

    if (name != NULL) {
        n = ngx_strnlen((u_char *) name, 255);
        p = ngx_cpymem(p, name, n);
    }

    return p - key;
}


static ngx_http_farm_ssl_entry_t *
ngx_http_farm_ssl_find(u_char *key, size_t len, uint32_t hash)
{
    ngx_str_t  name;

    name.len = len;
    name.data = key;

    /* the entry begins with its ngx_str_node_t */

    return (ngx_http_farm_ssl_entry_t *)
               ngx_str_rbtree_lookup(&ngx_http_farm_ssl_tree, &name, hash);
}


/* Forgets the least recently used session. */

static void
ngx_http_farm_ssl_evict(void)
{
    ngx_queue_t                *q;
    ngx_http_farm_ssl_entry_t  *e;

    if (ngx_queue_empty(&ngx_http_farm_ssl_lru)) {
        return;
    }

    q = ngx_queue_last(&ngx_http_farm_ssl_lru);
    e = ngx_queue_data(q, ngx_http_farm_ssl_entry_t, queue);

    ngx_queue_remove(q);
    ngx_rbtree_delete(&ngx_http_farm_ssl_tree, &e->sn.node);
    ngx_ssl_free_session(e->session);
    ngx_free(e);

    ngx_http_farm_ssl_count--;
}

#endif
