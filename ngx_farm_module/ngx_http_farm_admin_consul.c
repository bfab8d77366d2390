
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_admin write=registry on a Consul pool: the change goes to the
 * agent's key in Consul's KV store (ngx_http_farm_consul_kv.c writes it on
 * nginx's event loop, bounded by the upstream's timeout=), and is applied
 * here only when Consul took it; a refusal, a failed connection or a
 * timeout is a 502 naming it, and changes nothing.  As with Redis
 * (ngx_http_farm_admin_write.c), the request waits for the answer.
 */


#include "ngx_http_farm_consul.h"
#include "ngx_http_farm_admin.h"


static void ngx_http_farm_admin_consul_done(void *data, const char *error,
    const char *detail);


/* a write in flight; in the request's pool */
typedef struct {
    ngx_http_request_t            *request;
    ngx_http_farm_admin_path_t    *path;
} ngx_http_farm_admin_consul_t;


/*
 * NGX_DONE: the answer, or its failure, ends the request later through
 * ngx_http_farm_admin_written(); NGX_ERROR (logged): nothing was sent.
 */

ngx_int_t
ngx_http_farm_admin_write_consul(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path)
{
    ngx_http_farm_admin_consul_t  *w;
    ngx_http_farm_override_rec_t   rec, *value;

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_admin_consul_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->request = r;
    w->path = path;

    /* back to the defaults: the key goes */

    value = NULL;

    if (path->mode != NGX_HTTP_FARM_MODE_ACTIVE || path->weight
        || path->until)
    {
        rec.id = path->id.data;
        rec.id_len = path->id.len;
        rec.mode = path->mode;
        rec.weight = path->weight;
        rec.until = ngx_http_farm_override_unix(path->until);
        value = &rec;
    }

    if (ngx_http_farm_consul_kv_write(path->fcf, r->pool, r->connection->log,
                                      &path->id, value,
                                      ngx_http_farm_admin_consul_done, w)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_http_farm_admin_consul_done(void *data, const char *error,
    const char *detail)
{
    ngx_http_farm_admin_consul_t  *w = data;

    ngx_http_farm_admin_written(w->request, w->path, error, detail);
}
