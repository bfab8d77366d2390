
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_status: a JSON snapshot of every farm upstream, its registry and its
 * agents.  "?upstream=NAME" limits it to one upstream.
 */


#include "ngx_http_farm_module.h"
#include "ngx_http_farm_zone.h"


#define NGX_HTTP_FARM_STATUS_BUF   (64 * 1024)

/* the largest text one agent can need, meta aside */
#define NGX_HTTP_FARM_AGENT_JSON                                             \
    (2048 + FARM_ID_MAX + NGX_SOCKADDR_STRLEN + FARM_REGION_MAX              \
     + NGX_HTTP_FARM_MAX_CAPS * (FARM_CAP_MAX + 3))

/* the text written up to p into the last buffer counts */
#define ngx_http_farm_status_commit(out, p)                                  \
    do {                                                                     \
        (out)->total += (p) - (out)->last->buf->last;                        \
        (out)->last->buf->last = (p);                                        \
    } while (0)


typedef struct {
    ngx_http_request_t   *request;
    ngx_chain_t          *first;
    ngx_chain_t          *last;
    size_t                total;
} ngx_http_farm_status_out_t;


static ngx_int_t ngx_http_farm_status_handler(ngx_http_request_t *r);
static u_char *ngx_http_farm_status_reserve(ngx_http_farm_status_out_t *out,
    size_t len);
static ngx_int_t ngx_http_farm_status_farm(ngx_http_farm_status_out_t *out,
    ngx_http_farm_srv_conf_t *fcf, ngx_uint_t first);
static u_char *ngx_http_farm_status_agent_locked(u_char *p,
    ngx_http_farm_srv_conf_t *fcf, ngx_http_farm_shctx_t *sh,
    ngx_http_farm_agent_t *a);
static const char *ngx_http_farm_balance_name(ngx_uint_t method);


char *
ngx_http_farm_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_farm_status_handler;

    return NGX_CONF_OK;
}


static const char *
ngx_http_farm_balance_name(ngx_uint_t method)
{
    switch (method) {
    case NGX_HTTP_FARM_LEAST_CONN:
        return "least_conn";
    case NGX_HTTP_FARM_HASH:
        return "hash";
    case NGX_HTTP_FARM_CHASH:
        return "hash consistent";
    default:
        return "round_robin";
    }
}


/* Space for len more bytes at the end of the output; NULL on no memory. */

static u_char *
ngx_http_farm_status_reserve(ngx_http_farm_status_out_t *out, size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (out->last && (size_t) (out->last->buf->end - out->last->buf->last)
                     >= len)
    {
        return out->last->buf->last;
    }

    b = ngx_create_temp_buf(out->request->pool,
                            ngx_max(len, NGX_HTTP_FARM_STATUS_BUF));
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(out->request->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    if (out->last) {
        out->last->next = cl;

    } else {
        out->first = cl;
    }

    out->last = cl;

    return b->last;
}


static ngx_int_t
ngx_http_farm_status_handler(ngx_http_request_t *r)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_str_t                    want, value;
    ngx_uint_t                   i, n;
    ngx_http_farm_srv_conf_t   **farm;
    ngx_http_farm_main_conf_t   *fmcf;
    ngx_http_farm_status_out_t   out;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_arg(r, (u_char *) "upstream", 8, &want) != NGX_OK) {
        want.len = 0;
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_module);

    out.request = r;
    out.first = NULL;
    out.last = NULL;
    out.total = 0;

    p = ngx_http_farm_status_reserve(&out, 128);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(p, "{\"version\":\"%s\",\"time\":%T,\"farms\":[",
                    NGX_HTTP_FARM_VERSION, ngx_time());
    ngx_http_farm_status_commit(&out, p);

    farm = fmcf->farms.elts;

    for (i = 0, n = 0; i < fmcf->farms.nelts; i++) {
        if (want.len
            && (want.len != farm[i]->uscf->host.len
                || ngx_strncmp(want.data, farm[i]->uscf->host.data, want.len)
                   != 0))
        {
            continue;
        }

        if (ngx_http_farm_status_farm(&out, farm[i], n++ == 0) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    p = ngx_http_farm_status_reserve(&out, 8);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(p, "]}\n");
    ngx_http_farm_status_commit(&out, p);

    out.last->buf->last_buf = (r == r->main) ? 1 : 0;
    out.last->buf->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = out.total;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    ngx_str_set(&value, "no-store");

    if (ngx_http_farm_add_header(r, "Cache-Control", &value) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out.first);
}


static ngx_int_t
ngx_http_farm_status_farm(ngx_http_farm_status_out_t *out,
    ngx_http_farm_srv_conf_t *fcf, ngx_uint_t first)
{
    char                    url[FARM_HOST_MAX + 64];
    u_char                 *p;
    uint32_t                i;
    uint64_t                active, available;
    ngx_uint_t              nagent;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a;
    ngx_http_farm_shctx_t  *sh;

    ngx_http_farm_zone_get(fcf, &z);
    sh = z.sh;

    farm_url_display(&fcf->url, url, sizeof(url));

    if (fcf->builtin) {
        /* "builtin" or "static", NUL-terminated in the configuration */
        ngx_cpystrn((u_char *) url, fcf->url_display.data, sizeof(url));
    }

    active = 0;
    available = 0;
    nagent = 0;

    p = ngx_http_farm_status_reserve(out, 1024 + fcf->uscf->host.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(p, "%s{\"upstream\":\"%V\",\"service\":\"%V\","
                    "\"registry\":\"%s\",\"balance\":\"%s\",\"agents\":[",
                    first ? "" : ",", &fcf->uscf->host, &fcf->service, url,
                    ngx_http_farm_balance_name(fcf->method));
    ngx_http_farm_status_commit(out, p);

    for (i = 0; i < sh->nslots; i++) {
        a = &sh->agents[i];

        /* an unlocked peek to skip free slots; checked again locked */

        if (a->state != NGX_HTTP_FARM_SLOT_UP) {
            continue;
        }

        p = ngx_http_farm_status_reserve(out, NGX_HTTP_FARM_AGENT_JSON
                                              + FARM_META_MAX);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_shmtx_lock(&z.shpool->mutex);

        if (a->state == NGX_HTTP_FARM_SLOT_UP) {
            if (nagent++) {
                *p++ = ',';
            }

            p = ngx_http_farm_status_agent_locked(p, fcf, sh, a);

            active += a->pick->active;
            available += farm_peer_available(a->pick);
        }

        ngx_shmtx_unlock(&z.shpool->mutex);

        ngx_http_farm_status_commit(out, p);
    }

    p = ngx_http_farm_status_reserve(out, 2048);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&z.shpool->mutex);

    p = ngx_sprintf(p, "],\"totals\":{\"agents\":%ui,\"available\":%uL,"
                    "\"active\":%uL,\"requests\":%uL,\"no_agent\":%uL,"
                    "\"reclaimed\":%uL},"
                    "\"zone\":{\"pages\":%ui,\"free_pages\":%ui},"
                    "\"sync\":{\"registry_up\":%s,\"last_full_sync\":%T,"
                    "\"full_syncs\":%uL,\"errors\":%uL,"
                    "\"bad_records\":%ui}}",
                    nagent, available, active, sh->requests, sh->no_agent,
                    sh->reclaimed,
                    (ngx_uint_t) (z.shpool->end - z.shpool->start)
                    / ngx_pagesize, z.shpool->pfree,
                    sh->registry_up ? "true" : "false", sh->last_sync,
                    sh->syncs, sh->sync_errors, sh->bad_records);

    if (fcf->queue.enabled) {
        p--;
        p = ngx_sprintf(p, ",\"queue\":{\"waiting\":%uD,\"max\":%uD,"
                        "\"timeout_ms\":%M,\"queued\":%uL,"
                        "\"dispatched\":%uL,\"timed_out\":%uL,"
                        "\"full\":%uL,\"avg_wait_ms\":%uL,"
                        "\"max_wait_ms\":%M}}",
                        sh->qlen, sh->qmax, fcf->queue.timeout, sh->queued,
                        sh->dispatched, sh->timed_out, sh->queue_full,
                        sh->dispatched ? sh->wait_total / sh->dispatched : 0,
                        sh->wait_max);
    }

    if (fcf->client.enabled) {
        p--;
        p = ngx_sprintf(p, ",\"client_limit\":{\"max\":%ui,"
                        "\"limited\":%uL}}", fcf->client.max,
                        sh->client_limited);
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    ngx_http_farm_status_commit(out, p);

    return NGX_OK;
}


static u_char *
ngx_http_farm_status_agent_locked(u_char *p, ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_shctx_t *sh, ngx_http_farm_agent_t *a)
{
    u_char  *e;

    p = ngx_sprintf(p, "{\"id\":\"%V\",\"address\":\"%*s\",\"region\":\"%s\","
                    "\"caps\":[",
                    &a->sn.str, a->name_len, a->name,
                    a->region ? sh->regions[a->region - 1] : (u_char *) "");

    p += ngx_http_farm_caps_text_locked(sh, a->caps, p,
                                 NGX_HTTP_FARM_MAX_CAPS * (FARM_CAP_MAX + 3),
                                 1);

    p = ngx_sprintf(p, "],\"weight\":%uD,\"registered_weight\":%uD,"
                    "\"max_conns\":%uD,\"backup\":%s,\"state\":\"%s\","
                    "\"active\":%uD,\"requests\":%uL,\"failures\":%uL,"
                    "\"since\":%T",
                    a->pick->weight, a->rec_weight, a->rec_max_conns,
                    a->rec_backup ? "true" : "false",
                    ngx_http_farm_agent_state_locked(a), a->pick->active,
                    a->requests, a->failures, a->since);

    if (fcf->health.enabled) {
        p = ngx_sprintf(p, ",\"health\":{\"checks\":%uL,\"failed\":%uL,"
                        "\"passes\":%uD,\"fails\":%uD,\"last_check\":%T,"
                        "\"last_error\":\"",
                        a->checks, a->checks_failed, (uint32_t) a->passes,
                        (uint32_t) a->fails, a->last_check);

        /* our own fixed messages: nothing to escape */

        e = a->check_error;
        while (*e && e < a->check_error + NGX_HTTP_FARM_ERROR_LEN) {
            *p++ = (*e == '"' || *e == '\\') ? '\'' : *e;
            e++;
        }

        p = ngx_sprintf(p, "\",\"reported\":{\"draining\":%s,"
                        "\"weight\":%uD,\"inflight\":%uD}}",
                        a->draining ? "true" : "false", a->rep_weight,
                        a->rep_inflight);
    }

    if (fcf->breaker.enabled) {
        p = ngx_sprintf(p, ",\"breaker\":{\"state\":\"%s\","
                        "\"failures_in_a_row\":%uD,\"ejections\":%uD",
                        a->breaker == NGX_HTTP_FARM_BREAKER_OPEN ? "open"
                        : a->breaker == NGX_HTTP_FARM_BREAKER_HALF
                          ? "half_open" : "closed",
                        a->bfails, a->ejections);

        if (a->breaker == NGX_HTTP_FARM_BREAKER_OPEN) {
            p = ngx_sprintf(p, ",\"half_open_at\":%T", a->reopen_time);
        }

        *p++ = '}';
    }

    if (a->meta_len) {
        p = ngx_sprintf(p, ",\"meta\":%*s", a->meta_len, a->meta);
    }

    *p++ = '}';

    return p;
}
