
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Choosing the right agent, not just a live one:
 *
 *   farm_region $var;              prefer agents of the request's region
 *   farm_region_fallback a b *;    then these regions, in order ("*": any)
 *   farm_require $var;             the agent must have all these caps
 *
 * Values are evaluated per request; empty means no preference or no
 * requirement.  Each (region, capabilities) pair is answered from a subset
 * tree (ngx_http_farm_subset.c).  Primary agents of every allowed region
 * come before any backup agent.
 */


#include "ngx_http_farm_route.h"


static char *ngx_http_farm_route_value(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_complex_value_t **cv);
static uint32_t ngx_http_farm_route_best_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_subset_t *s, ngx_http_farm_filter_t *f,
    const uint32_t *tried, uint32_t ntried);
static uint32_t ngx_http_farm_route_scan_locked(ngx_http_farm_zone_t *z,
    ngx_uint_t region, ngx_http_farm_filter_t *f, const uint32_t *tried,
    uint32_t ntried);


static char *
ngx_http_farm_route_value(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_complex_value_t **cv)
{
    ngx_http_compile_complex_value_t  ccv;

    if (*cv) {
        return "is duplicate";
    }

    *cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (*cv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = *cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_farm_region(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    ngx_str_t  *value;

    value = cf->args->elts;

    return ngx_http_farm_route_value(cf, &value[1], &fcf->route.region);
}


char *
ngx_http_farm_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    ngx_str_t  *value;

    value = cf->args->elts;

    return ngx_http_farm_route_value(cf, &value[1], &fcf->route.require);
}


char *
ngx_http_farm_region_fallback(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    ngx_str_t   *value, *name;
    ngx_uint_t   i, j;

    if (fcf->route.fallback) {
        return "is duplicate";
    }

    if (cf->args->nelts - 1 > NGX_HTTP_FARM_MAX_ORDER - 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_region_fallback\" takes at most %d "
                           "regions", NGX_HTTP_FARM_MAX_ORDER - 1);
        return NGX_CONF_ERROR;
    }

    fcf->route.fallback = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                           sizeof(ngx_str_t));
    if (fcf->route.fallback == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (!(value[i].len == 1 && value[i].data[0] == '*')
            && !farm_valid_name((char *) value[i].data, value[i].len,
                                FARM_REGION_MAX))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid region \"%V\" in "
                               "\"farm_region_fallback\": expected \"*\" or "
                               "1-64 of A-Z a-z 0-9 . _ -", &value[i]);
            return NGX_CONF_ERROR;
        }

        for (j = 1; j < i; j++) {
            if (value[j].len == value[i].len
                && ngx_strncmp(value[j].data, value[i].data, value[i].len)
                   == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "region \"%V\" is listed twice in "
                                   "\"farm_region_fallback\"", &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        name = ngx_array_push(fcf->route.fallback);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * Evaluates the request's region and required capabilities (no lock).
 * Returns NGX_OK, NGX_DECLINED when the capability list is invalid (the
 * request gets 400), NGX_ERROR on memory errors.
 */

ngx_int_t
ngx_http_farm_route_init(ngx_http_request_t *r, ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_filter_t *f, ngx_http_farm_ctx_t *ctx)
{
    u_char                      *p, *last, *comma, *start, *end;
    ngx_str_t                    v, *fb;
    ngx_uint_t                   i, j, dup;
    ngx_http_farm_route_conf_t  *rcf;

    rcf = &fcf->route;

    ngx_memzero(f, sizeof(ngx_http_farm_filter_t));

    if (rcf->region == NULL && rcf->fallback == NULL && rcf->require == NULL)
    {
        return NGX_OK;
    }

    /* the region order: the request's, the fallbacks, else any */

    if (rcf->region) {
        if (ngx_http_complex_value(r, rcf->region, &v) != NGX_OK) {
            return NGX_ERROR;
        }

        if (v.len) {
            f->names[f->nnames++] = v;
        }
    }

    if (rcf->fallback) {
        fb = rcf->fallback->elts;

        for (i = 0; i < rcf->fallback->nelts; i++) {
            dup = 0;

            for (j = 0; j < f->nnames; j++) {
                if (f->names[j].len == fb[i].len
                    && ngx_strncmp(f->names[j].data, fb[i].data, fb[i].len)
                       == 0)
                {
                    dup = 1;
                }
            }

            if (!dup) {
                f->names[f->nnames++] = fb[i];
            }
        }

    } else {
        ngx_str_set(&f->names[f->nnames], "*");
        f->nnames++;
    }

    /* the required capabilities, checked here: they may come from a header */

    if (rcf->require) {
        if (ngx_http_complex_value(r, rcf->require, &v) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->required = v;

        p = v.data;
        last = v.data + v.len;

        while (p < last) {
            comma = ngx_strlchr(p, last, ',');
            if (comma == NULL) {
                comma = last;
            }

            for (start = p; start < comma && *start == ' '; start++) {
                /* void */
            }

            for (end = comma; end > start && end[-1] == ' '; end--) {
                /* void */
            }

            p = comma + 1;

            if (start == end) {
                continue;
            }

            if (f->ncaps == FARM_CAPS_MAX
                || !farm_valid_name((char *) start, end - start,
                                    FARM_CAP_MAX))
            {
                ctx->reject = NGX_HTTP_FARM_REJECT_BAD_CAPS;
                return NGX_DECLINED;
            }

            f->caps[f->ncaps].data = start;
            f->caps[f->ncaps].len = end - start;
            f->ncaps++;
        }
    }

    f->on = 1;

    return NGX_OK;
}


/*
 * Turns names into dictionary indexes, once per request.  Locked.
 * NGX_DECLINED when a required capability is unknown to every agent
 * (ctx->reject and ctx->missing say so).
 */

ngx_int_t
ngx_http_farm_route_prepare_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f, ngx_http_farm_ctx_t *ctx)
{
    u_char                 *p;
    ngx_uint_t              i, j;
    ngx_http_farm_shctx_t  *sh;

    if (f->resolved) {
        return f->resolved == 1 ? NGX_OK : NGX_DECLINED;
    }

    sh = z->sh;

    f->resolved = 1;
    f->norder = 0;
    f->mask = 0;

    for (i = 0; i < f->nnames; i++) {

        if (f->names[i].len == 1 && f->names[i].data[0] == '*') {
            f->order[f->norder++] = 0;
            continue;
        }

        for (j = 0; j < sh->nregions; j++) {
            if (ngx_strlen(sh->regions[j]) == f->names[i].len
                && ngx_strncmp(sh->regions[j], f->names[i].data,
                               f->names[i].len) == 0)
            {
                f->order[f->norder++] = j + 1;
                break;
            }
        }

        /* a region no agent is in: nothing to try there */
    }

    p = ctx->missing.data;

    for (i = 0; i < f->ncaps; i++) {

        for (j = 0; j < sh->ncaps; j++) {
            if (ngx_strlen(sh->caps[j]) == f->caps[i].len
                && ngx_strncmp(sh->caps[j], f->caps[i].data,
                               f->caps[i].len) == 0)
            {
                f->mask |= (uint64_t) 1 << j;
                break;
            }
        }

        if (j == sh->ncaps && p) {
            p = ngx_sprintf(p, "%s\"%V\"", p == ctx->missing.data ? "" : ",",
                            &f->caps[i]);
        }
    }

    if (p && p != ctx->missing.data) {
        ctx->missing.len = p - ctx->missing.data;
        ctx->reject = NGX_HTTP_FARM_REJECT_NO_CAPS;
        f->resolved = 2;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_farm_route_matches_locked(ngx_http_farm_filter_t *f,
    ngx_http_farm_agent_t *a)
{
    ngx_uint_t  i;

    if ((a->caps & f->mask) != f->mask) {
        return 0;
    }

    for (i = 0; i < f->norder; i++) {
        if (f->order[i] == 0 || f->order[i] == a->region) {
            return 1;
        }
    }

    return 0;
}


/*
 * The agent for a filtered request, or FARM_SLOT_NONE (then ctx->reject
 * says why when it is not just "none available").  Locked.
 */

uint32_t
ngx_http_farm_route_choose_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_filter_t *f, const uint32_t *tried, uint32_t ntried,
    ngx_http_farm_ctx_t *ctx)
{
    uint32_t                 slot, backup;
    ngx_uint_t               i;
    ngx_http_farm_subset_t  *s;

    if (ngx_http_farm_route_prepare_locked(z, f, ctx) != NGX_OK) {
        return FARM_SLOT_NONE;
    }

    backup = FARM_SLOT_NONE;

    for (i = 0; i < f->norder; i++) {
        s = ngx_http_farm_subset_get_locked(z, f->order[i], f->mask);

        slot = s ? ngx_http_farm_route_best_locked(z, s, f, tried, ntried)
                 : ngx_http_farm_route_scan_locked(z, f->order[i], f, tried,
                                                   ntried);

        if (slot == FARM_SLOT_NONE) {
            continue;
        }

        if (!(z->sh->agents[slot].pick->flags & FARM_PEER_BACKUP)) {
            return slot;
        }

        if (backup == FARM_SLOT_NONE) {
            backup = slot;
        }
    }

    if (backup != FARM_SLOT_NONE) {
        return backup;
    }

    /* nothing: because no agent has these capabilities at all? */

    if (f->mask) {
        s = ngx_http_farm_subset_get_locked(z, 0, f->mask);

        if (s && s->nmembers == 0) {
            ctx->reject = NGX_HTTP_FARM_REJECT_NO_CAPS;
        }
    }

    return FARM_SLOT_NONE;
}


/*
 * The best of a subset, skipping tried slots; a subset the registry has
 * changed but the owner not yet rebuilt may hold a slot that no longer
 * qualifies: skip it too.
 */

static uint32_t
ngx_http_farm_route_best_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_subset_t *s, ngx_http_farm_filter_t *f,
    const uint32_t *tried, uint32_t ntried)
{
    uint32_t      slot, n, skip[NGX_HTTP_FARM_MAX_TRIES + 8];
    farm_peers_t  peers;

    ngx_http_farm_zone_peers(z->sh, &peers);

    n = ngx_min(ntried, NGX_HTTP_FARM_MAX_TRIES);
    ngx_memcpy(skip, tried, n * sizeof(uint32_t));

    for ( ;; ) {
        slot = farm_tree_best(&s->tree, &peers, skip, n);

        if (slot == FARM_SLOT_NONE
            || ngx_http_farm_route_matches_locked(f, &z->sh->agents[slot]))
        {
            return slot;
        }

        if (n == NGX_HTTP_FARM_MAX_TRIES + 8) {
            return FARM_SLOT_NONE;
        }

        skip[n++] = slot;
    }
}


/* Without a subset (no room): the best qualifying agent by a scan. */

static uint32_t
ngx_http_farm_route_scan_locked(ngx_http_farm_zone_t *z, ngx_uint_t region,
    ngx_http_farm_filter_t *f, const uint32_t *tried, uint32_t ntried)
{
    uint32_t                i, k, best;
    farm_peers_t            peers;
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_zone_peers(z->sh, &peers);

    best = FARM_SLOT_NONE;

    for (i = 0; i < z->sh->nslots; i++) {
        a = &z->sh->agents[i];

        if (a->state != NGX_HTTP_FARM_SLOT_UP
            || !farm_peer_available(a->pick)
            || (region && a->region != region)
            || (a->caps & f->mask) != f->mask)
        {
            continue;
        }

        for (k = 0; k < ntried; k++) {
            if (tried[k] == i) {
                break;
            }
        }

        if (k == ntried) {
            best = farm_tree_choose(&z->sh->tree, &peers, best, i);
        }
    }

    return best;
}
