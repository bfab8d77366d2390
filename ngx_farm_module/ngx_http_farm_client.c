
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_client_limit: how many requests of one client (the key=) a farm
 * upstream takes at once.  The counts live in the zone, in a tree of
 * clients this file owns; ngx_http_farm_admit.c counts a request in when
 * admission starts and out from the request's cleanup.
 */


#include "ngx_http_farm_client.h"


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
 * Counts the request in for its client (ctx->client).  NGX_OK, NGX_BUSY
 * when the client is at its limit (the caller refuses), or an HTTP error.
 * Takes the lock.
 */

ngx_int_t
ngx_http_farm_client_enter(ngx_http_request_t *r, ngx_http_farm_ctx_t *ctx,
    ngx_http_farm_zone_t *z)
{
    size_t                   len;
    uint32_t                 hash;
    ngx_str_t                key;
    ngx_rbtree_node_t       *node, *sentinel;
    ngx_http_farm_client_t  *cl;

    if (ngx_http_complex_value(r, ctx->fcf->client.key, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (key.len == 0) {
        return NGX_OK;          /* no key, no limit */
    }

    len = ngx_min(key.len, 65535);
    hash = ngx_crc32_short(key.data, len);

    ngx_shmtx_lock(&z->shpool->mutex);

    node = z->sh->clients.root;
    sentinel = z->sh->clients.sentinel;
    cl = NULL;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        cl = (ngx_http_farm_client_t *) node;

        if (cl->len == len && ngx_memcmp(cl->data, key.data, len) == 0) {
            break;
        }

        node = (ngx_memn2cmp(key.data, cl->data, len, cl->len) < 0)
               ? node->left : node->right;
        cl = NULL;
    }

    if (cl && cl->count >= ctx->fcf->client.max) {
        z->sh->client_limited++;
        ngx_shmtx_unlock(&z->shpool->mutex);

        return NGX_BUSY;
    }

    if (cl == NULL) {
        cl = ngx_slab_alloc_locked(z->shpool,
                                   offsetof(ngx_http_farm_client_t, data)
                                   + len);

        if (cl == NULL) {

            /* no room to count: let it through, say so once */

            if (!z->sh->client_nomem_logged) {
                z->sh->client_nomem_logged = 1;
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "farm: no room to count clients%s; "
                              "farm_client_limit is not enforced for new "
                              "clients", z->shpool->log_ctx);
            }

            ngx_shmtx_unlock(&z->shpool->mutex);
            return NGX_OK;
        }

        cl->node.key = hash;
        cl->count = 0;
        cl->len = (u_short) len;
        ngx_memcpy(cl->data, key.data, len);

        ngx_rbtree_insert(&z->sh->clients, &cl->node);
    }

    cl->count++;
    ctx->client = cl;

    ngx_shmtx_unlock(&z->shpool->mutex);

    return NGX_OK;
}


/* Counts a request out; the client goes with its last one.  Takes the lock. */

void
ngx_http_farm_client_leave(ngx_http_farm_zone_t *z, ngx_http_farm_client_t *cl)
{
    ngx_shmtx_lock(&z->shpool->mutex);

    if (--cl->count == 0) {
        ngx_rbtree_delete(&z->sh->clients, &cl->node);
        ngx_slab_free_locked(z->shpool, cl);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}
