
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong, the targets' health: one shared zone per loaded file holding
 * each target's counters and verdict (healthchecks.passive reports from
 * the proxied traffic, healthchecks.active probes), found again by
 * upstream name, host and port after a reload (the active checks that
 * report here: ngx_http_farm_kong_check.c).  Kong's rules: a healthy
 * answer counts a success and clears the failures, a failure of one kind
 * counts it and clears the successes, a count reaching its threshold (0 =
 * off) changes the verdict.  threshold: the upstream fails when the weight
 * of its healthy targets is below that share of the weight of all of
 * them.  A target named by a host name is checked per address: its
 * addresses' records hang from its own (ngx_http_farm_kong_health_addr.c).
 * Also each target's latency, for algorithm: latency.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <math.h>

#include "ngx_http_farm_kong.h"


#define NGX_HTTP_FARM_KONG_HC_BUCKETS  256
#define NGX_HTTP_FARM_KONG_DECAY       10000.0    /* ms, latency's EWMA */
#define NGX_HTTP_FARM_KONG_HC_KEY      600    /* name, host (<= 253), port */


/* the zone's header */
typedef struct {
    ngx_http_farm_kong_health_t  *bucket[NGX_HTTP_FARM_KONG_HC_BUCKETS];
    ngx_uint_t                    gen;
} ngx_http_farm_kong_hc_sh_t;




static ngx_int_t ngx_http_farm_kong_hc_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_farm_kong_health_t *ngx_http_farm_kong_hc_record(
    ngx_slab_pool_t *shpool, ngx_http_farm_kong_hc_sh_t *sh, ngx_str_t *key);
static void ngx_http_farm_kong_hc_key(const kong_upstream_t *u,
    const kong_target_t *t, ngx_str_t *key);


/*
 * At the farm_kong directive: the file's health zone (the n-th file of
 * the configuration; sized in powers of two so that a reload adding a few
 * targets finds the same zone), and the TLS context of https checks.
 */

ngx_int_t
ngx_http_farm_kong_health_conf(ngx_conf_t *cf, ngx_http_farm_kong_conf_t *kc,
    ngx_uint_t n)
{
    size_t                      size, need;
    ngx_str_t                   name;
    ngx_uint_t                  i, k, https;
#if (NGX_HTTP_SSL)
    ngx_pool_cleanup_t         *cln;
#endif
    const kong_config_t        *kong;
    const kong_upstream_t      *u;
    const kong_active_check_t  *ac;

    kong = kc->kong;
    https = 0;

    for (i = 0; i < kong->nupstreams; i++) {
        u = kong->upstreams[i];
        ac = &u->healthchecks.active;

        if (ac->healthy_interval <= 0 && ac->unhealthy_interval <= 0) {
            continue;
        }

        if (ac->type & (KONG_PROTO_HTTPS|KONG_PROTO_GRPCS)) {
            https = 1;
        }
    }

    ngx_queue_init(&kc->hc_queue);
    ngx_queue_init(&kc->hc_names);
    kc->hc_clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    kc->health = ngx_pcalloc(cf->pool, (kong->ntargets + 1)
                                       * sizeof(ngx_http_farm_kong_health_t *));
    kc->hc_busy = ngx_pcalloc(cf->pool, (kong->nupstreams + 1)
                                        * sizeof(ngx_uint_t));
    if (kc->health == NULL || kc->hc_busy == NULL) {
        return NGX_ERROR;
    }

#if (NGX_HTTP_SSL)
    if (https) {
        kc->hc_ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
        if (kc->hc_ssl == NULL) {
            return NGX_ERROR;
        }

        kc->hc_ssl->log = cf->log;

        if (ngx_ssl_create(kc->hc_ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            ngx_ssl_cleanup_ctx(kc->hc_ssl);
            return NGX_ERROR;
        }

        cln->handler = ngx_ssl_cleanup_ctx;
        cln->data = kc->hc_ssl;

        if (SSL_CTX_set_default_verify_paths(kc->hc_ssl->ctx) != 1) {
            ngx_ssl_error(NGX_LOG_WARN, cf->log, 0,
                          "farm_kong: no default CA paths for the https "
                          "health checks");
        }
    }
#else
    if (https) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "farm_kong: %V: active health checks of type "
                           "https or grpcs need nginx built with SSL",
                           &kc->file);
        return NGX_ERROR;
    }
#endif

    /* a record is rounded up to a power of two; room for twice them all */

    need = 8 * ngx_pagesize;

    for (i = 0; i < kong->nupstreams; i++) {
        u = kong->upstreams[i];

        for (k = 0; k < u->ntargets; k++) {
            need += 4 * (sizeof(ngx_http_farm_kong_health_t)
                         + ngx_strlen(u->name)
                         + ngx_strlen(u->targets[k]->host) + NGX_INT_T_LEN);
        }
    }

    for (size = 128 * 1024; size < need; size *= 2) { /* void */ }

    name.len = sizeof("farm_kong_health:#") - 1 + kc->file.len + NGX_INT_T_LEN;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    name.len = ngx_sprintf(name.data, "farm_kong_health:%V#%ui", &kc->file, n)
               - name.data;

    kc->hc_zone = ngx_shared_memory_add(cf, &name, size,
                                        &ngx_http_farm_kong_module);
    if (kc->hc_zone == NULL) {
        return NGX_ERROR;
    }

    if (kc->hc_zone->data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "farm_kong: \"%V\" is loaded twice", &kc->file);
        return NGX_ERROR;
    }

    kc->hc_zone->init = ngx_http_farm_kong_hc_init_zone;
    kc->hc_zone->data = kc;

    return NGX_OK;
}


/*
 * In the master, at each configuration: the zone's records of this
 * file's targets, found again (an unchanged target keeps its health) or
 * made.  A target of an upstream without active checks starts healthy:
 * nothing else could bring it back.  Records no configuration has used
 * for two reloads are reused when the zone is full.
 */

static ngx_int_t
ngx_http_farm_kong_hc_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                        len;
    u_char                        buf[NGX_HTTP_FARM_KONG_HC_KEY];
    ngx_str_t                     key;
    ngx_uint_t                    i, j, k, active;
    ngx_slab_pool_t              *shpool;
    const kong_upstream_t        *u;
    ngx_http_farm_kong_conf_t    *kc;
    ngx_http_farm_kong_hc_sh_t   *sh;
    ngx_http_farm_kong_health_t  *h;

    kc = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    sh = (data != NULL || shm_zone->shm.exists) ? shpool->data : NULL;

    if (sh == NULL) {
        sh = ngx_slab_alloc(shpool, sizeof(ngx_http_farm_kong_hc_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(sh, sizeof(ngx_http_farm_kong_hc_sh_t));
        shpool->data = sh;

        len = sizeof(" in farm_kong health zone \"\"") + shm_zone->shm.name.len;

        shpool->log_ctx = ngx_slab_alloc(shpool, len);
        if (shpool->log_ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(shpool->log_ctx, " in farm_kong health zone \"%V\"%Z",
                    &shm_zone->shm.name);
    }

    ngx_shmtx_lock(&shpool->mutex);

    sh->gen++;

    for (i = 0, k = 0; i < kc->kong->nupstreams; i++) {
        u = kc->kong->upstreams[i];
        active = ngx_http_farm_kong_health_active(u);

        for (j = 0; j < u->ntargets; j++, k++) {
            key.data = buf;
            ngx_http_farm_kong_hc_key(u, u->targets[j], &key);

            h = ngx_http_farm_kong_hc_record(shpool, sh, &key);

            if (h == NULL) {
                ngx_shmtx_unlock(&shpool->mutex);
                ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                              "farm_kong: no room for the health of target "
                              "\"%s\" of upstream \"%s\"",
                              u->targets[j]->target, u->name);
                return NGX_ERROR;
            }

            if (!active || h->gen + 1 < sh->gen) {
                h->tcp_failures = 0;
                h->timeouts = 0;
                h->http_failures = 0;
                h->successes = 0;
                h->down = 0;
                ngx_http_farm_kong_health_addrs_reset_locked(h);
            }

            /* a host name (an IPv6 address has a colon) */

            h->named = active
                       && ngx_inet_addr((u_char *) u->targets[j]->host,
                                        ngx_strlen(u->targets[j]->host))
                          == INADDR_NONE
                       && ngx_strchr(u->targets[j]->host, ':') == NULL;
            h->gen = sh->gen;
            kc->health[k] = h;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/* the record of key, found or made; under the lock */

static ngx_http_farm_kong_health_t *
ngx_http_farm_kong_hc_record(ngx_slab_pool_t *shpool,
    ngx_http_farm_kong_hc_sh_t *sh, ngx_str_t *key)
{
    uint32_t                       hash;
    ngx_uint_t                     b, i;
    ngx_http_farm_kong_health_t   *h, **hp;

    hash = ngx_crc32_short(key->data, key->len);
    b = hash % NGX_HTTP_FARM_KONG_HC_BUCKETS;

    for (h = sh->bucket[b]; h; h = h->next) {
        if (h->hash == hash && h->len == key->len
            && ngx_memcmp(h->key, key->data, key->len) == 0)
        {
            return h;
        }
    }

    h = ngx_slab_alloc_locked(shpool, sizeof(ngx_http_farm_kong_health_t)
                                      + key->len);

    /* full: free the records of targets gone for two reloads, then retry */

    for (i = 0; h == NULL && i < NGX_HTTP_FARM_KONG_HC_BUCKETS; i++) {
        for (hp = &sh->bucket[i]; *hp; /* void */) {
            if ((*hp)->gen + 2 <= sh->gen) {
                h = *hp;
                *hp = h->next;
                ngx_http_farm_kong_health_addrs_free_locked(shpool, h);
                ngx_slab_free_locked(shpool, h);
                continue;
            }

            hp = &(*hp)->next;
        }

        if (i == NGX_HTTP_FARM_KONG_HC_BUCKETS - 1) {
            h = ngx_slab_alloc_locked(shpool,
                                      sizeof(ngx_http_farm_kong_health_t)
                                      + key->len);
            break;
        }

        h = NULL;
    }

    if (h == NULL) {
        return NULL;
    }

    ngx_memzero(h, sizeof(ngx_http_farm_kong_health_t));
    h->hash = hash;
    h->len = key->len;
    ngx_memcpy(h->key, key->data, key->len);

    h->next = sh->bucket[b];
    sh->bucket[b] = h;

    return h;
}


/* "upstream\nhost:port", a target's identity over reloads */

static void
ngx_http_farm_kong_hc_key(const kong_upstream_t *u, const kong_target_t *t,
    ngx_str_t *key)
{
    key->len = ngx_snprintf(key->data, NGX_HTTP_FARM_KONG_HC_KEY,
                            "%s\n%s:%ui", u->name, t->host,
                            (ngx_uint_t) t->port)
               - key->data;
}


/* does u probe its targets (an interval set, of a type run here)? */

ngx_uint_t
ngx_http_farm_kong_health_active(const kong_upstream_t *u)
{
    const kong_active_check_t  *ac;

    ac = &u->healthchecks.active;

    if (ac->healthy_interval <= 0 && ac->unhealthy_interval <= 0) {
        return 0;
    }

    return (ac->type & (KONG_PROTO_HTTP|KONG_PROTO_HTTPS|KONG_PROTO_TCP
                        |KONG_PROTO_GRPC|KONG_PROTO_GRPCS))
           ? 1 : 0;
}


/*
 * What a check (active) or a proxied request (passive) said of target
 * number target of u: counted by Kong's rules, and the verdict changed
 * (with a log line) when a count reaches its threshold.  A passive
 * success only clears the failures: passive checks never bring a target
 * back, as in Kong.
 */

void
ngx_http_farm_kong_health_report(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target, ngx_uint_t what,
    ngx_uint_t active, ngx_log_t *log)
{
    ngx_uint_t                    limit, changed;
    const char                   *kind;
    ngx_slab_pool_t              *shpool;
    ngx_http_farm_kong_health_t  *h;

    h = kc->health[kc->cw_off[u->index] + target];
    shpool = (ngx_slab_pool_t *) kc->hc_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    changed = ngx_http_farm_kong_health_count_locked(u, h, what, active,
                                                     &limit, &kind);

    ngx_shmtx_unlock(&shpool->mutex);

    if (!changed) {
        return;
    }

    if (kind == NULL) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "farm_kong: upstream \"%s\" target \"%s\" is healthy "
                      "after %ui successes (active health check)",
                      u->name, u->targets[target]->target, limit);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "farm_kong: upstream \"%s\" target \"%s\" is unhealthy "
                  "after %ui %s (%s health check)",
                  u->name, u->targets[target]->target, limit, kind,
                  active ? "active" : "passive");
}


/*
 * Kong's counting on the record h (a target's, or one address's of a
 * host-name target), under the lock.  Returns 1 when the verdict changed:
 * *kind is then NULL (healthy again) or the kind of failure, *limit the
 * threshold reached.
 */

ngx_uint_t
ngx_http_farm_kong_health_count_locked(const kong_upstream_t *u,
    ngx_http_farm_kong_health_t *h, ngx_uint_t what, ngx_uint_t active,
    ngx_uint_t *limit, const char **kind)
{
    ngx_uint_t                    *count, changed;
    const kong_active_check_t     *ac;
    const kong_passive_check_t    *pc;

    ac = &u->healthchecks.active;
    pc = &u->healthchecks.passive;
    changed = 0;
    count = NULL;
    *limit = 0;
    *kind = NULL;

    if (active) {
        h->checks++;
    }

    switch (what) {

    case NGX_HTTP_FARM_KONG_HC_SUCCESS:
        h->tcp_failures = 0;
        h->timeouts = 0;
        h->http_failures = 0;

        if (!active) {
            break;
        }

        h->successes++;

        if (h->down && ac->healthy_successes
            && h->successes >= ac->healthy_successes)
        {
            h->down = 0;
            changed = 1;
            *limit = ac->healthy_successes;
        }

        break;

    case NGX_HTTP_FARM_KONG_HC_TCP:
        count = &h->tcp_failures;
        *limit = active ? ac->unhealthy_tcp_failures
                        : pc->unhealthy_tcp_failures;
        *kind = "TCP failures";
        break;

    case NGX_HTTP_FARM_KONG_HC_TIMEOUT:
        count = &h->timeouts;
        *limit = active ? ac->unhealthy_timeouts : pc->unhealthy_timeouts;
        *kind = "timeouts";
        break;

    default: /* NGX_HTTP_FARM_KONG_HC_HTTP */
        count = &h->http_failures;
        *limit = active ? ac->unhealthy_http_failures
                        : pc->unhealthy_http_failures;
        *kind = "HTTP failures";
        break;
    }

    if (count != NULL) {
        (*count)++;
        h->successes = 0;

        if (!h->down && *limit && *count >= *limit) {
            h->down = 1;
            changed = 1;
        }
    }

    return changed;
}


/*
 * healthchecks.threshold: is the weight of u's healthy targets below
 * threshold % of the weight of all of them (weight 0 not counted)?
 */

ngx_uint_t
ngx_http_farm_kong_health_below(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u)
{
    ngx_uint_t                     i, total, healthy;
    ngx_http_farm_kong_health_t  **h;

    if (u->healthchecks.threshold <= 0) {
        return 0;
    }

    h = kc->health + kc->cw_off[u->index];
    total = 0;
    healthy = 0;

    for (i = 0; i < u->ntargets; i++) {
        total += u->targets[i]->weight;

        if (!h[i]->down
            && (!h[i]->named || ngx_http_farm_kong_health_addrs_up(h[i])))
        {
            healthy += u->targets[i]->weight;
        }
    }

    return (double) healthy * 100 < u->healthchecks.threshold * total;
}


/*
 * algorithm: latency.  Each target's latency is an exponentially weighted
 * moving average over time (the weight of the past decays with the time
 * since the last update, NGX_HTTP_FARM_KONG_DECAY ms), shared by the
 * workers; an unmeasured target scores 0, and a score decays the same way
 * while the target gets no traffic, so a slow target is tried again later.
 * Written without the lock: a lost update only delays the average.
 */

void
ngx_http_farm_kong_latency_observe(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target, ngx_msec_t ms)
{
    double                        w;
    ngx_msec_t                    now;
    ngx_http_farm_kong_health_t  *h;

    h = kc->health[kc->cw_off[u->index] + target];
    now = ngx_current_msec;

    if (h->ewma_at == 0) {
        h->ewma = (double) ms;

    } else {
        w = exp(-(double) (now - h->ewma_at) / NGX_HTTP_FARM_KONG_DECAY);
        h->ewma = h->ewma * w + (double) ms * (1 - w);
    }

    h->ewma_at = now ? now : 1;
}


double
ngx_http_farm_kong_latency_score(ngx_http_farm_kong_conf_t *kc,
    const kong_upstream_t *u, ngx_uint_t target)
{
    ngx_http_farm_kong_health_t  *h;

    h = kc->health[kc->cw_off[u->index] + target];

    if (h->ewma_at == 0) {
        return 0;
    }

    return h->ewma * exp(-(double) (ngx_current_msec - h->ewma_at)
                         / NGX_HTTP_FARM_KONG_DECAY);
}


/* is status one of st? */

ngx_uint_t
ngx_http_farm_kong_status_in(const kong_statuses_t *st, ngx_uint_t status)
{
    size_t  i;

    for (i = 0; i < st->n; i++) {
        if (st->items[i] == status) {
            return 1;
        }
    }

    return 0;
}
