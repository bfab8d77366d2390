
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_client_limit's counts, in the zone: one entry per client key in a
 * red-black tree, with how many requests it has in flight, and who holds
 * them: one share per worker (owner entry, ngx_http_farm_queue.c), so that
 * what a worker that died held can be given back.
 *
 * A key of up to NGX_HTTP_FARM_CLIENT_KEY bytes is kept as it is; a longer
 * one as its SHA-1, so an entry has a fixed, small size whatever a client
 * sends.  The tree is ordered by the CRC32 of the key and, for equal
 * hashes, by the key itself: insertion and lookup use the same order.
 */


#include "ngx_http_farm_module.h"
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


static ngx_int_t ngx_http_farm_client_cmp(ngx_http_farm_client_t *cl,
    u_char *data, size_t len);


/*
 * The form a key is kept in, into buf (1 + NGX_HTTP_FARM_CLIENT_KEY
 * bytes): a tag byte, then the key or its digest.  Sets *hash; returns the
 * length.
 */

size_t
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

void
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
 * Counts one more request of a client for owner (NGX_HTTP_FARM_NO_OWNER:
 * uncounted per worker).  Locked.  NGX_OK: counted, *client set;
 * NGX_BUSY: the client is at max; NGX_DECLINED: no room to count (the
 * caller lets it through).
 */

ngx_int_t
ngx_http_farm_client_enter_locked(ngx_http_farm_zone_t *z, u_char *data,
    size_t len, uint32_t hash, ngx_uint_t max, uint32_t owner,
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

    if (owner != NGX_HTTP_FARM_NO_OWNER) {
        for (s = cl->shares; s; s = s->next) {
            if (s->owner == owner) {
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

            s->owner = owner;
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
    ngx_http_farm_client_t *cl, uint32_t owner)
{
    ngx_http_farm_share_t  *s, **ps;

    for (ps = &cl->shares; *ps; ps = &(*ps)->next) {
        s = *ps;

        if (s->owner != owner) {
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
ngx_http_farm_clients_reclaim_locked(ngx_http_farm_zone_t *z, u_char *dead)
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
