
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's prometheus plugin, the exposition: "farm_kong_metrics
 * [names=kong|prometheus]" answers the shared zone's entries
 * (ngx_http_farm_kong_prom.h) in Prometheus' text format, Kong's families
 * under Kong's names (or lint-clean ones), read without a lock, into 64 KB
 * buffers.
 */


#include "ngx_http_farm_kong_prom.h"


typedef struct {
    ngx_http_request_t        *request;
    ngx_chain_t               *out;
    ngx_chain_t              **last;
    ngx_buf_t                 *buf;
    ngx_uint_t                 seconds;   /* names=prometheus */
} ngx_http_farm_kong_prom_write_t;


static ngx_int_t ngx_http_farm_kong_prom_handler(ngx_http_request_t *r);
static u_char *ngx_http_farm_kong_prom_room(
    ngx_http_farm_kong_prom_write_t *w, size_t len);
static ngx_int_t ngx_http_farm_kong_prom_family(
    ngx_http_farm_kong_prom_write_t *w, const char *name, const char *type,
    const char *help);
static ngx_int_t ngx_http_farm_kong_prom_requests(
    ngx_http_farm_kong_prom_write_t *w, ngx_http_farm_kong_prom_sh_t *sh);
static ngx_int_t ngx_http_farm_kong_prom_histogram(
    ngx_http_farm_kong_prom_write_t *w, ngx_http_farm_kong_prom_sh_t *sh,
    ngx_uint_t h);
static ngx_int_t ngx_http_farm_kong_prom_bandwidth(
    ngx_http_farm_kong_prom_write_t *w, ngx_http_farm_kong_prom_sh_t *sh);
static ngx_int_t ngx_http_farm_kong_prom_health(
    ngx_http_farm_kong_prom_write_t *w, ngx_array_t *confs);
static u_char *ngx_http_farm_kong_prom_ms(u_char *p, uint64_t ms,
    ngx_uint_t seconds);
static ngx_http_farm_kong_prom_zone_t *ngx_http_farm_kong_prom_find(
    ngx_http_request_t *r);


static const char  *ngx_http_farm_kong_prom_sources[] = {
    "service", "exit", "error"
};

/* names=kong (Kong's own), names=prometheus (promtool's lint clean) */
static const char  *ngx_http_farm_kong_prom_hist_names[2][3] = {
    { "kong_kong_latency_ms", "kong_upstream_latency_ms",
      "kong_request_latency_ms" },
    { "kong_kong_latency_seconds", "kong_upstream_latency_seconds",
      "kong_request_latency_seconds" }
};

static const char  *ngx_http_farm_kong_prom_hist_help[3] = {
    "Latency added by this gateway and its plugins for each service/route",
    "Latency of the upstream's response header for each service/route",
    "Total latency of the requests for each service/route"
};


/* farm_kong_metrics [names=kong|prometheus] */

char *
ngx_http_farm_kong_prom_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_farm_kong_loc_conf_t *klcf = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "names=kong") == 0) {
            klcf->prom_names = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "names=prometheus") == 0) {
            klcf->prom_names = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of "
                           "\"farm_kong_metrics\": expected names=kong or "
                           "names=prometheus", &value[i]);
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_farm_kong_prom_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_farm_kong_prom_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_str_t                         value;
    ngx_chain_t                      *cl;
    ngx_http_farm_kong_prom_sh_t     *sh;
    ngx_http_farm_kong_loc_conf_t    *klcf;
    ngx_http_farm_kong_prom_zone_t   *zctx;
    ngx_http_farm_kong_prom_write_t   w;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&w, sizeof(ngx_http_farm_kong_prom_write_t));
    w.request = r;
    w.last = &w.out;
    klcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_kong_module);
    w.seconds = klcf->prom_names;

    zctx = ngx_http_farm_kong_prom_find(r);
    sh = zctx ? zctx->sh : NULL;

    if (ngx_http_farm_kong_prom_family(&w,
                                       "kong_datastore_reachable", "gauge",
                                       "Datastore reachable from this "
                                       "gateway, 0 is unreachable (DB-less: "
                                       "the file loaded)")
        != NGX_OK
        || ngx_http_farm_kong_prom_room(&w, 32) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w.buf->last = ngx_sprintf(w.buf->last, "kong_datastore_reachable 1\n");

#if (NGX_STAT_STUB)

    if (ngx_http_farm_kong_prom_family(&w, "kong_nginx_requests_total",
                                       "counter", "Number of requests total")
        != NGX_OK
        || ngx_http_farm_kong_prom_room(&w, 128) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w.buf->last = ngx_sprintf(w.buf->last,
                              "kong_nginx_requests_total{node_id=\"%V\","
                              "subsystem=\"http\"} %uA\n",
                              &ngx_cycle->hostname, *ngx_stat_requests);

#endif

    if (ngx_http_farm_kong_prom_family(&w, "kong_nginx_metric_errors_total",
                                       "counter",
                                       "Number of requests whose metrics "
                                       "found no room (see "
                                       "docs/observability.md)")
        != NGX_OK
        || ngx_http_farm_kong_prom_room(&w, 64) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w.buf->last = ngx_sprintf(w.buf->last,
                              "kong_nginx_metric_errors_total %uA\n",
                              sh ? sh->errors : 0);

    if (sh
        && (ngx_http_farm_kong_prom_requests(&w, sh) != NGX_OK
            || ngx_http_farm_kong_prom_histogram(&w, sh,
                   NGX_HTTP_FARM_KONG_PROM_KONG) != NGX_OK
            || ngx_http_farm_kong_prom_histogram(&w, sh,
                   NGX_HTTP_FARM_KONG_PROM_UPSTREAM) != NGX_OK
            || ngx_http_farm_kong_prom_histogram(&w, sh,
                   NGX_HTTP_FARM_KONG_PROM_REQUEST) != NGX_OK
            || ngx_http_farm_kong_prom_bandwidth(&w, sh) != NGX_OK
            || ngx_http_farm_kong_prom_health(&w, &zctx->confs) != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_length_n = 0;

    for (cl = w.out; cl; cl = cl->next) {
        r->headers_out.content_length_n += cl->buf->last - cl->buf->pos;

        if (cl->next == NULL) {
            cl->buf->last_buf = (r == r->main) ? 1 : 0;
            cl->buf->last_in_chain = 1;
        }
    }

    ngx_str_set(&value, "no-store");

    if (ngx_http_farm_add_header(r, "Cache-Control", &value) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, w.out);
}


/* the zone, from any loaded file that has it */

static ngx_http_farm_kong_prom_zone_t *
ngx_http_farm_kong_prom_find(ngx_http_request_t *r)
{
    ngx_uint_t                        i;
    ngx_http_farm_kong_conf_t       **kc;
    ngx_http_farm_kong_main_conf_t   *kmcf;

    kmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_kong_module);

    if (kmcf == NULL) {
        return NULL;
    }

    kc = kmcf->confs.elts;

    for (i = 0; i < kmcf->confs.nelts; i++) {
        if (kc[i]->prom && kc[i]->prom->zone->data) {
            return kc[i]->prom->zone->data;
        }
    }

    return NULL;
}


/* len bytes of room in the output, a new buffer when needed */

static u_char *
ngx_http_farm_kong_prom_room(ngx_http_farm_kong_prom_write_t *w, size_t len)
{
    ngx_chain_t  *cl;

    if (w->buf && (size_t) (w->buf->end - w->buf->last) >= len) {
        return w->buf->last;
    }

    w->buf = ngx_create_temp_buf(w->request->pool,
                                 ngx_max(len, NGX_HTTP_FARM_KONG_PROM_BUF));
    if (w->buf == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(w->request->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = w->buf;
    cl->next = NULL;

    *w->last = cl;
    w->last = &cl->next;

    return w->buf->last;
}


static ngx_int_t
ngx_http_farm_kong_prom_family(ngx_http_farm_kong_prom_write_t *w,
    const char *name, const char *type, const char *help)
{
    if (ngx_http_farm_kong_prom_room(w, 2 * ngx_strlen(name)
                                        + ngx_strlen(help) + 32)
        == NULL)
    {
        return NGX_ERROR;
    }

    w->buf->last = ngx_sprintf(w->buf->last, "# HELP %s %s\n# TYPE %s %s\n",
                               name, help, name, type);

    return NGX_OK;
}


/* the room one sample of an entry needs, its labels and 128 more */
#define ngx_http_farm_kong_prom_need(e)                                     \
    ((e)->labels_len + 2 * (e)->consumer_len + 160)


static ngx_int_t
ngx_http_farm_kong_prom_requests(ngx_http_farm_kong_prom_write_t *w,
    ngx_http_farm_kong_prom_sh_t *sh)
{
    u_char                           *p;
    ngx_uint_t                        i, c, key, count;
    ngx_http_farm_kong_prom_entry_t  *e;

    if (ngx_http_farm_kong_prom_family(w, "kong_http_requests_total",
                                       "counter",
                                       "HTTP status codes per consumer/"
                                       "service/route")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_FARM_KONG_PROM_ENTRIES; i++) {
        e = &sh->entries[i];

        if (!e->ready) {
            continue;
        }

        for (c = 0; c < NGX_HTTP_FARM_KONG_PROM_CODES; c++) {
            key = e->code[c];
            count = e->count[c];

            if (key == 0 || count == 0) {
                continue;
            }

            key--;

            p = ngx_http_farm_kong_prom_room(w,
                                          ngx_http_farm_kong_prom_need(e));
            if (p == NULL) {
                return NGX_ERROR;
            }

            p = ngx_sprintf(p, "kong_http_requests_total{%*s,code=\"%ui\","
                            "source=\"%s\",consumer=\"",
                            (size_t) e->labels_len, e->labels, key >> 2,
                            ngx_http_farm_kong_prom_sources[key & 3]);
            p = ngx_http_farm_kong_prom_escape(p, e->consumer,
                                               e->consumer_len);
            w->buf->last = ngx_sprintf(p, "\"} %ui\n", count);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_prom_histogram(ngx_http_farm_kong_prom_write_t *w,
    ngx_http_farm_kong_prom_sh_t *sh, ngx_uint_t h)
{
    u_char                           *p;
    uint64_t                          n[NGX_HTTP_FARM_KONG_PROM_BUCKETS];
    uint64_t                          total;
    ngx_uint_t                        i, b, nb;
    const char                       *name;
    const ngx_uint_t                 *le;
    ngx_http_farm_kong_prom_entry_t  *e;

    name = ngx_http_farm_kong_prom_hist_names[w->seconds][h];
    le = (h == NGX_HTTP_FARM_KONG_PROM_KONG) ? ngx_http_farm_kong_prom_kong_le
                                             : ngx_http_farm_kong_prom_le;

    for (nb = 0; le[nb]; nb++) { /* void */ }

    if (ngx_http_farm_kong_prom_family(w, name, "histogram",
                                       ngx_http_farm_kong_prom_hist_help[h])
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_FARM_KONG_PROM_ENTRIES; i++) {
        e = &sh->entries[i];

        if (!e->ready || e->consumer_len) {
            continue;
        }

        /* the count is the buckets' sum, so that +Inf equals it */

        total = 0;

        for (b = 0; b <= nb; b++) {
            total += e->bucket[h][b];
            n[b] = total;
        }

        if (total == 0) {
            continue;
        }

        p = ngx_http_farm_kong_prom_room(w, (nb + 3)
                                            * (e->labels_len + 96));
        if (p == NULL) {
            return NGX_ERROR;
        }

        for (b = 0; b <= nb; b++) {
            p = ngx_sprintf(p, "%s_bucket{%*s,le=\"", name,
                            (size_t) e->labels_len, e->labels);

            if (b == nb) {
                p = ngx_cpymem(p, "+Inf", 4);

            } else {
                p = ngx_http_farm_kong_prom_ms(p, le[b], w->seconds);
            }

            p = ngx_sprintf(p, "\"} %uL\n", n[b]);
        }

        p = ngx_sprintf(p, "%s_sum{%*s} ", name, (size_t) e->labels_len,
                        e->labels);
        p = ngx_http_farm_kong_prom_ms(p, e->sum[h], w->seconds);
        p = ngx_sprintf(p, "\n%s_count{%*s} %uL\n", name,
                        (size_t) e->labels_len, e->labels, total);

        w->buf->last = p;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_prom_bandwidth(ngx_http_farm_kong_prom_write_t *w,
    ngx_http_farm_kong_prom_sh_t *sh)
{
    u_char                           *p;
    ngx_uint_t                        i, d;
    const char                       *name;
    ngx_atomic_uint_t                 bytes;
    ngx_http_farm_kong_prom_entry_t  *e;

    name = w->seconds ? "kong_bandwidth_bytes_total" : "kong_bandwidth_bytes";

    if (ngx_http_farm_kong_prom_family(w, name, "counter",
                                       "Total bandwidth (ingress/egress) "
                                       "in bytes for each consumer/service/"
                                       "route")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_FARM_KONG_PROM_ENTRIES; i++) {
        e = &sh->entries[i];

        if (!e->ready) {
            continue;
        }

        for (d = 0; d < 2; d++) {
            bytes = e->bytes[d];

            if (bytes == 0) {
                continue;
            }

            p = ngx_http_farm_kong_prom_room(w,
                                          ngx_http_farm_kong_prom_need(e));
            if (p == NULL) {
                return NGX_ERROR;
            }

            p = ngx_sprintf(p, "%s{%*s,direction=\"%s\",consumer=\"", name,
                            (size_t) e->labels_len, e->labels,
                            d ? "egress" : "ingress");
            p = ngx_http_farm_kong_prom_escape(p, e->consumer,
                                               e->consumer_len);
            w->buf->last = ngx_sprintf(p, "\"} %uA\n", bytes);
        }
    }

    return NGX_OK;
}


/*
 * kong_upstream_target_health: each target of each Kong upstream (once per
 * upstream name), in the four states of Kong, 1 for its own.  The passive
 * health is this worker's; a target given by host name has no address
 * (its names are resolved per request).
 */

static ngx_int_t
ngx_http_farm_kong_prom_health(ngx_http_farm_kong_prom_write_t *w,
    ngx_array_t *confs)
{
    u_char                           *p;
    ngx_str_t                         host;
    ngx_uint_t                        i, j, k, t, s, state, seen, ip;
    const char                       *states[4];
    kong_target_t                    *tg;
    kong_config_t                    *kong;
    kong_upstream_t                  *up;
    ngx_http_farm_kong_conf_t       **kc;
    const kong_passive_check_t       *pc;

    states[0] = "healthchecks_off";
    states[1] = "healthy";
    states[2] = "unhealthy";
    states[3] = "dns_error";

    if (ngx_http_farm_kong_prom_family(w, "kong_upstream_target_health",
                                       "gauge",
                                       "Health status of targets of "
                                       "upstream. States = healthchecks_off|"
                                       "healthy|unhealthy|dns_error, value "
                                       "is 1 when state is populated.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    kc = confs->elts;

    for (i = 0; i < confs->nelts; i++) {
        if (!kc[i]->prom->health) {
            continue;
        }

        kong = kc[i]->kong;

        for (j = 0; j < kong->nupstreams; j++) {
            up = kong->upstreams[j];

            /* an upstream name an earlier file exported */

            seen = 0;

            for (k = 0; k < i && !seen; k++) {
                for (t = 0; kc[k]->prom->health
                            && t < kc[k]->kong->nupstreams; t++)
                {
                    if (ngx_strcmp(kc[k]->kong->upstreams[t]->name,
                                   up->name)
                        == 0)
                    {
                        seen = 1;
                        break;
                    }
                }
            }

            if (seen) {
                continue;
            }

            pc = &up->healthchecks.passive;

            for (t = 0; t < up->ntargets; t++) {
                tg = up->targets[t];

                if (pc->unhealthy_tcp_failures == 0
                    && pc->unhealthy_timeouts == 0
                    && pc->unhealthy_http_failures == 0
                    && up->healthchecks.active.healthy_interval == 0
                    && up->healthchecks.active.unhealthy_interval == 0)
                {
                    state = 0;

                } else if (kc[i]->health[kc[i]->cw_off[up->index] + t]->down
                           || !ngx_http_farm_kong_health_addrs_up(
                                  kc[i]->health[kc[i]->cw_off[up->index] + t]))
                {
                    /* a host-name target: down when all its addresses are */

                    state = 2;

                } else {
                    state = 1;
                }

                host.data = (u_char *) tg->host;
                host.len = ngx_strlen(tg->host);
                ip = (ngx_inet_addr(host.data, host.len) != INADDR_NONE
                      || ngx_strlchr(host.data, host.data + host.len, ':')
                         != NULL);

                for (s = 0; s < 4; s++) {
                    p = ngx_http_farm_kong_prom_room(w,
                            4 * ngx_strlen(up->name) + 6 * host.len + 256);
                    if (p == NULL) {
                        return NGX_ERROR;
                    }

                    p = ngx_cpymem(p, "kong_upstream_target_health{upstream=\"",
                                   sizeof("kong_upstream_target_health{"
                                          "upstream=\"") - 1);
                    p = ngx_http_farm_kong_prom_escape(p, (u_char *) up->name,
                                                      ngx_strlen(up->name));
                    p = ngx_cpymem(p, "\",target=\"", 10);

                    if (ip && ngx_strlchr(host.data, host.data + host.len,
                                          ':'))
                    {
                        p = ngx_sprintf(p, "[%V]:%ud", &host, tg->port);

                    } else {
                        p = ngx_http_farm_kong_prom_escape(p, host.data,
                                                          host.len);
                        p = ngx_sprintf(p, ":%ud", tg->port);
                    }

                    p = ngx_cpymem(p, "\",address=\"", 11);

                    if (ip && ngx_strlchr(host.data, host.data + host.len,
                                          ':'))
                    {
                        p = ngx_sprintf(p, "[%V]:%ud", &host, tg->port);

                    } else if (ip) {
                        p = ngx_sprintf(p, "%V:%ud", &host, tg->port);
                    }

                    w->buf->last = ngx_sprintf(p, "\",state=\"%s\","
                                               "subsystem=\"http\"} %ui\n",
                                               states[s], s == state ? 1 : 0);
                }
            }
        }
    }

    return NGX_OK;
}


/* a label value as the text format wants it */

u_char *
ngx_http_farm_kong_prom_escape(u_char *p, const u_char *s, size_t n)
{
    while (n--) {
        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
            *p++ = *s++;

        } else if (*s == '\n') {
            *p++ = '\\';
            *p++ = 'n';
            s++;

        } else {
            *p++ = *s++;
        }
    }

    return p;
}


/* milliseconds, or seconds with up to three decimals */

static u_char *
ngx_http_farm_kong_prom_ms(u_char *p, uint64_t ms, ngx_uint_t seconds)
{
    uint64_t  frac;

    if (!seconds) {
        return ngx_sprintf(p, "%uL", ms);
    }

    p = ngx_sprintf(p, "%uL", ms / 1000);
    frac = ms % 1000;

    if (frac == 0) {
        return p;
    }

    p = ngx_sprintf(p, ".%03uL", frac);

    while (p[-1] == '0') {
        p--;
    }

    return p;
}
