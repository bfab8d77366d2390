/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Which configuration of a plugin applies to a request, by Kong's
 * precedence (kong/runloop/plugins_iterator.lua): the most specific scope
 * wins, route+service+consumer first and global last.  What applies
 * without a consumer is computed per route at load (route->run), so a
 * request pays one array read per plugin; consumer-scoped configurations
 * are looked up among the few naming that consumer once it is known.
 */

#include <stddef.h>

#include "kong_schema.h"
#include "kong_plugin.h"


/* Kong's order, highest first: R+S+C, R+C, S+C, R+S, C, R, S, global */
static int
kong_scope_rank(const kong_plugin_t *p)
{
    int  r, s, c;

    if (p == NULL) {
        return 0;
    }

    r = p->route != NULL;
    s = p->service != NULL;
    c = p->consumer != NULL;

    if (r && s && c) {
        return 8;
    }

    if (r && c) {
        return 7;
    }

    if (s && c) {
        return 6;
    }

    if (r && s) {
        return 5;
    }

    return c ? 4 : r ? 3 : s ? 2 : 1;
}


static int
kong_scope_matches(const kong_plugin_t *p, const kong_route_t *route)
{
    if (p->route && p->route != route) {
        return 0;
    }

    if (p->service && (route == NULL || p->service != route->service)) {
        return 0;
    }

    return 1;
}


static void
kong_scope_pick(const kong_plugins_t *list, const kong_route_t *route,
    const kong_plugin_t **run)
{
    size_t          i;
    kong_plugin_t  *p;

    for (i = 0; i < list->n; i++) {
        p = list->items[i];

        if (!p->enabled || p->type < 0 || p->consumer != NULL
            || !kong_scope_matches(p, route))
        {
            continue;
        }

        if (kong_scope_rank(p) > kong_scope_rank(run[p->type])) {
            run[p->type] = p;
        }
    }
}


int
kong_scope_build(kong_ctx_t *ctx)
{
    size_t          i, t;
    kong_route_t   *r;
    kong_config_t  *cfg;
    kong_plugin_t  *p;

    cfg = ctx->cfg;

    for (i = 0; i < cfg->plugins.n; i++) {
        p = cfg->plugins.items[i];

        if (!p->enabled || p->type < 0) {
            continue;
        }

        cfg->used |= 1u << p->type;

        if (p->consumer) {
            cfg->consumer_plugins = 1;
            kong_plugins_add(ctx, &p->consumer->scoped, p);
        }
    }

    kong_scope_pick(&cfg->global_plugins, NULL, cfg->global_run);

    for (i = 0; i < cfg->nroutes; i++) {
        r = cfg->routes[i];

        for (t = 0; t < KONG_PLUGIN_N; t++) {
            r->run[t] = cfg->global_run[t];
        }

        if (r->service) {
            kong_scope_pick(&r->service->plugins, r, r->run);
        }

        kong_scope_pick(&r->plugins, r, r->run);
    }

    return ctx->oom ? -1 : 0;
}


const kong_plugin_t *
kong_plugin_for(const kong_config_t *cfg, int type, const kong_route_t *route,
    const kong_consumer_t *consumer)
{
    size_t                i;
    const kong_plugin_t  *best, *p;

    best = route ? route->run[type] : cfg->global_run[type];

    if (consumer == NULL || !cfg->consumer_plugins) {
        return best;
    }

    for (i = 0; i < consumer->scoped.n; i++) {
        p = consumer->scoped.items[i];

        if (p->type == type && p->enabled && kong_scope_matches(p, route)
            && kong_scope_rank(p) > kong_scope_rank(best))
        {
            best = p;
        }
    }

    return best;
}
