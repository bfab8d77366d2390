
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_client_limit: how many requests of one client (the key=) a farm
 * upstream takes at once.  The counts live in the zone, in a tree of
 * clients this file owns: one entry per client key, with how many requests
 * it has in flight and who holds them, one share per worker (its owner
 * record, ngx_http_farm_zone.c), so that what a worker that died held is
 * given back.  ngx_http_farm_admit.c counts a request in when admission
 * starts and out from the request's cleanup.
 *
 * A key of up to NGX_HTTP_FARM_CLIENT_KEY bytes is kept as it is; a longer
 * one as its SHA-1, so an entry has a fixed, small size whatever a client
 * sends.  The tree is ordered by the CRC32 of the key and, for equal
 * hashes, by the key itself: insertion and lookup use the same order.
 */


#include "ngx_http_farm_client.h"
#include "ngx_sha1.h"


#define NGX_HTTP_FARM_CLIENT_KEY       64

#define NGX_HTTP_FARM_CLIENT_RAW       'k'
#define NGX_HTTP_FARM_CLIENT_DIGEST    'd'


typedef struct ngx_http_farm_share_s  ngx_http_farm_share_t;

struct ngx_http_farm_share_s {
    ngx_http_farm_share_t         *next;
    uint32_t                       owner;
    uint32_t                       count;
};


struct ngx_http_farm_client_s {
    ngx_rbtree_node_t              node;        /* key: CRC32 of the key */
    ngx_http_farm_share_t         *shares;      /* by owner */
    uint32_t                       count;       /* all owners' */
    u_char                         len;
    u_char                         data[1 + NGX_HTTP_FARM_CLIENT_KEY];
};


static size_t ngx_http_farm_client_key(ngx_str_t *key, u_char *buf,
    uint32_t *hash);
static ngx_int_t ngx_http_farm_client_cmp(ngx_http_farm_client_t *cl,
    u_char *data, size_t len);
static void ngx_http_farm_client_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_farm_client_enter_locked(ngx_http_farm_zone_t *z,
    u_char *data, size_t len, uint32_t hash, ngx_uint_t max,
    ngx_uint_t owner, ngx_http_farm_client_t **client);


char *
ngx_http_farm_client_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    ngx_int_t                          n;
    ngx_str_t                         *value, s;
    ngx_uint_t                         i;
    ngx_http_farm_main_conf_t         *fmcf;
    ngx_http_compile_complex_value_t   ccv;

    if (fcf->client.enabled) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            fcf->client.key = ngx_palloc(cf->pool,
                                         sizeof(ngx_http_complex_value_t));
            if (fcf->client.key == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = fcf->client.key;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            n = ngx_atoi(value[i].data + 4, value[i].len - 4);
            if (n < 1 || n > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"farm_client_limit\" parameter "
                                   "\"%V\": expected a number from 1 to "
                                   "1000000", &value[i]);
                return NGX_CONF_ERROR;
            }

            fcf->client.max = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown \"farm_client_limit\" parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (fcf->client.key == NULL || fcf->client.max == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_client_limit\" needs key= and max=, as in "
                           "\"farm_client_limit key=$remote_addr max=4\"");
        return NGX_CONF_ERROR;
    }

    fcf->client.enabled = 1;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_module);
    fmcf->admit = 1;

    return NGX_CONF_OK;
}


/*
 * Sets up the zone's client tree: a new zone (fresh, the master, before
 * any worker), or one a reload kept (the tree's insert function is the
 * new cycle's).  Takes the lock.
 */

void
ngx_http_farm_client_zone(ngx_http_farm_zone_t *z, ngx_uint_t fresh)
{
    ngx_shmtx_lock(&z->shpool->mutex);

    if (fresh) {
        ngx_rbtree_init(&z->sh->clients, &z->sh->clients_sentinel,
                        ngx_http_farm_client_insert_value);

    } else {
        z->sh->clients.insert = ngx_http_farm_client_insert_value;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


/*
 * Counts the request in for its client (ctx->client), for this worker's
 * owner record.  NGX_OK (also when there is no room to count: the request
 * goes through, said once), NGX_BUSY when the client is at its limit (the
 * caller refuses), or an HTTP error.  Takes the lock.
 */

ngx_int_t
ngx_http_farm_client_enter(ngx_http_request_t *r, ngx_http_farm_ctx_t *ctx,
    ngx_http_farm_zone_t *z)
{
    u_char     data[1 + NGX_HTTP_FARM_CLIENT_KEY];
    size_t     len;
    uint32_t   hash;
    ngx_int_t  rc;
    ngx_str_t  key;

    if (ngx_http_complex_value(r, ctx->fcf->client.key, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (key.len == 0) {
        return NGX_OK;          /* no key, no limit */
    }

    len = ngx_http_farm_client_key(&key, data, &hash);

    ngx_shmtx_lock(&z->shpool->mutex);

    rc = ngx_http_farm_client_enter_locked(z, data, len, hash,
                                           ctx->fcf->client.max,
                                           ctx->fcf->owner, &ctx->client);

    if (rc == NGX_BUSY) {
        z->sh->client_limited++;
        ngx_shmtx_unlock(&z->shpool->mutex);

        return NGX_BUSY;
    }

    if (rc == NGX_DECLINED && !z->sh->client_nomem_logged) {
        z->sh->client_nomem_logged = 1;
        ngx_shmtx_unlock(&z->shpool->mutex);

        /* no room to count: let it through, say so once */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "farm: no room to count clients%s; "
                      "farm_client_limit is not enforced for new "
                      "clients", z->shpool->log_ctx);
        return NGX_OK;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return NGX_OK;
}


/* Counts a request of owner out; the client goes with its last one. */

void
ngx_http_farm_client_leave(ngx_http_farm_zone_t *z,
    ngx_http_farm_client_t *cl, ngx_uint_t owner)
{
    ngx_shmtx_lock(&z->shpool->mutex);
    ngx_http_farm_client_leave_locked(z, cl, owner);
    ngx_shmtx_unlock(&z->shpool->mutex);
}


/*
 * The form a key is kept in, into buf (1 + NGX_HTTP_FARM_CLIENT_KEY
 * bytes): a tag byte, then the key or its digest.  Sets *hash; returns the
 * length.
 */

static size_t
ngx_http_farm_client_key(ngx_str_t *key, u_char *buf, uint32_t *hash)
{
    ngx_sha1_t  sha1;

    if (key->len <= NGX_HTTP_FARM_CLIENT_KEY) {
        buf[0] = NGX_HTTP_FARM_CLIENT_RAW;
        ngx_memcpy(buf + 1, key->data, key->len);
        *hash = ngx_crc32_short(key->data, key->len);

        return 1 + key->len;
    }

    buf[0] = NGX_HTTP_FARM_CLIENT_DIGEST;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->data, key->len);
    ngx_sha1_final(buf + 1, &sha1);

    *hash = ngx_crc32_short(buf + 1, 20);

    return 1 + 20;
}


static ngx_int_t
ngx_http_farm_client_cmp(ngx_http_farm_client_t *cl, u_char *data,
    size_t len)
{
    return ngx_memn2cmp(data, cl->data, len, cl->len);
}


/* The tree's insert: by hash, then by key, as the lookup goes. */

static void
ngx_http_farm_client_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t       **p;
    ngx_http_farm_client_t   *cl, *clt;

    cl = (ngx_http_farm_client_t *) node;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            clt = (ngx_http_farm_client_t *) temp;

            p = (ngx_http_farm_client_cmp(clt, cl->data, cl->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Counts one more request of a client for owner (NGX_HTTP_FARM_OWNER_NONE:
 * not counted per worker).  Locked.  NGX_OK: counted, *client set;
 * NGX_BUSY: the client is at max; NGX_DECLINED: no room to count (the
 * caller lets it through).
 */

static ngx_int_t
ngx_http_farm_client_enter_locked(ngx_http_farm_zone_t *z, u_char *data,
    size_t len, uint32_t hash, ngx_uint_t max, ngx_uint_t owner,
    ngx_http_farm_client_t **client)
{
    ngx_int_t                rc;
    ngx_rbtree_node_t       *node, *sentinel;
    ngx_http_farm_share_t   *s;
    ngx_http_farm_client_t  *cl;

    node = z->sh->clients.root;
    sentinel = z->sh->clients.sentinel;
    cl = NULL;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        cl = (ngx_http_farm_client_t *) node;

        rc = ngx_http_farm_client_cmp(cl, data, len);

        if (rc == 0) {
            break;
        }

        node = (rc < 0) ? node->left : node->right;
        cl = NULL;
    }

    if (cl && cl->count >= max) {
        return NGX_BUSY;
    }

    if (cl == NULL) {
        cl = ngx_slab_alloc_locked(z->shpool, sizeof(ngx_http_farm_client_t));
        if (cl == NULL) {
            return NGX_DECLINED;
        }

        cl->node.key = hash;
        cl->shares = NULL;
        cl->count = 0;
        cl->len = (u_char) len;
        ngx_memcpy(cl->data, data, len);

        ngx_rbtree_insert(&z->sh->clients, &cl->node);
    }

    if (owner < NGX_HTTP_FARM_OWNERS) {
        for (s = cl->shares; s; s = s->next) {
            if (s->owner == (uint32_t) owner) {
                break;
            }
        }

        if (s == NULL) {
            s = ngx_slab_alloc_locked(z->shpool,
                                      sizeof(ngx_http_farm_share_t));
            if (s == NULL) {
                if (cl->count == 0) {
                    ngx_rbtree_delete(&z->sh->clients, &cl->node);
                    ngx_slab_free_locked(z->shpool, cl);
                }

                return NGX_DECLINED;
            }

            s->owner = (uint32_t) owner;
            s->count = 0;
            s->next = cl->shares;
            cl->shares = s;
        }

        s->count++;
    }

    cl->count++;
    *client = cl;

    return NGX_OK;
}


/* One request of the client ended.  Locked. */

void
ngx_http_farm_client_leave_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_client_t *cl, ngx_uint_t owner)
{
    ngx_http_farm_share_t  *s, **ps;

    for (ps = &cl->shares; *ps; ps = &(*ps)->next) {
        s = *ps;

        if (s->owner != (uint32_t) owner) {
            continue;
        }

        if (--s->count == 0) {
            *ps = s->next;
            ngx_slab_free_locked(z->shpool, s);
        }

        break;
    }

    if (--cl->count == 0) {
        ngx_rbtree_delete(&z->sh->clients, &cl->node);

        for (s = cl->shares; s; s = cl->shares) {
            cl->shares = s->next;
            ngx_slab_free_locked(z->shpool, s);
        }

        ngx_slab_free_locked(z->shpool, cl);
    }
}


/*
 * Takes away the counts of the owners marked in dead (workers that are
 * gone).  Locked; a walk of the whole tree, at worker start only.
 */

void
ngx_http_farm_client_reclaim_locked(ngx_http_farm_zone_t *z, u_char *dead)
{
    ngx_rbtree_t            *tree;
    ngx_rbtree_node_t       *node, *next;
    ngx_http_farm_share_t   *s, **ps;
    ngx_http_farm_client_t  *cl;

    tree = &z->sh->clients;

    if (tree->root == tree->sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(tree->root, tree->sentinel);
         node;
         node = next)
    {
        next = ngx_rbtree_next(tree, node);
        cl = (ngx_http_farm_client_t *) node;

        for (ps = &cl->shares; *ps; /* void */) {
            s = *ps;

            if (dead[s->owner]) {
                cl->count -= ngx_min(cl->count, s->count);
                *ps = s->next;
                ngx_slab_free_locked(z->shpool, s);
                continue;
            }

            ps = &s->next;
        }

        if (cl->count == 0) {
            ngx_rbtree_delete(tree, node);

            for (s = cl->shares; s; s = cl->shares) {
                cl->shares = s->next;
                ngx_slab_free_locked(z->shpool, s);
            }

            ngx_slab_free_locked(z->shpool, cl);
        }
    }
}
