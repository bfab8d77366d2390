
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Operator overrides of the zone model (farm_admin sets them): an agent's
 * mode (active, draining, maintenance), its weight, and an ejection until
 * a given time.  They are kept by agent id in a table of the zone, apart
 * from the agent slots, so that they survive "nginx -s reload" (the zone
 * does) and an agent that leaves the registry and registers again (its new
 * slot finds the entry by id).  An agent points at its entry, so the
 * request path reads an override in O(1); only the selection tree's flags
 * are read there, which ngx_http_farm_agent_refresh_locked() computes.
 *
 * This file is the only writer of the table (docs/design.md, "Layers and
 * ownership"), always under the zone's slab mutex.
 */


#include "ngx_http_farm_zone.h"


static void ngx_http_farm_override_free_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_override_t *ov);
static void ngx_http_farm_override_next_expire_locked(
    ngx_http_farm_zone_t *z);
static ngx_uint_t ngx_http_farm_override_fresh(ngx_http_farm_override_t *ov,
    ngx_msec_t read_at);


const char *
ngx_http_farm_mode_name(ngx_uint_t mode)
{
    switch (mode) {
    case NGX_HTTP_FARM_MODE_DRAINING:
        return "draining";
    case NGX_HTTP_FARM_MODE_MAINTENANCE:
        return "maintenance";
    default:
        return "active";
    }
}


/*
 * The walk of the entries in use: the one at or after *i, *i moved past
 * it; NULL at the end.  A walk costs NGX_HTTP_FARM_MAX_OVERRIDES steps and
 * happens only when an agent joins (and some entry is in use), when an
 * operator changes something and when an ejection is due, never per
 * request.
 */

ngx_http_farm_override_t *
ngx_http_farm_override_next_locked(ngx_http_farm_shctx_t *sh, uint32_t *i)
{
    ngx_http_farm_override_t  *ov;

    while (*i < NGX_HTTP_FARM_MAX_OVERRIDES) {
        ov = &sh->overrides[(*i)++];

        if (ov->id_len) {
            return ov;
        }
    }

    return NULL;
}


/* The entry of an agent id, or NULL. */

ngx_http_farm_override_t *
ngx_http_farm_override_find_locked(ngx_http_farm_zone_t *z, u_char *id,
    size_t len)
{
    uint32_t                   i;
    ngx_http_farm_override_t  *ov;

    if (z->sh->overrides == NULL || z->sh->noverrides == 0) {
        return NULL;
    }

    i = 0;

    while ((ov = ngx_http_farm_override_next_locked(z->sh, &i)) != NULL) {
        if (ov->id_len == len && ngx_memcmp(ov->id, id, len) == 0) {
            return ov;
        }
    }

    return NULL;
}


/* The entry of an agent id, made at the defaults if there is none. */

ngx_http_farm_override_t *
ngx_http_farm_override_get_locked(ngx_http_farm_zone_t *z, u_char *id,
    size_t len)
{
    uint32_t                   i;
    ngx_http_farm_agent_t     *a;
    ngx_http_farm_shctx_t     *sh;
    ngx_http_farm_override_t  *ov;

    sh = z->sh;

    if (len == 0 || len > FARM_ID_MAX || sh->overrides == NULL) {
        return NULL;
    }

    ov = ngx_http_farm_override_find_locked(z, id, len);
    if (ov) {
        return ov;
    }

    for (i = 0; i < NGX_HTTP_FARM_MAX_OVERRIDES; i++) {
        ov = &sh->overrides[i];

        if (ov->id_len) {
            continue;
        }

        ngx_memcpy(ov->id, id, len);
        ov->id_len = (uint16_t) len;
        ov->mode = NGX_HTTP_FARM_MODE_ACTIVE;
        ov->weight = 0;
        ov->ejected_until = 0;
        ov->origin = NGX_HTTP_FARM_OV_LOCAL;
        ov->stamp = 0;
        ov->slot = NGX_HTTP_FARM_NONE32;
        sh->noverrides++;

        a = ngx_http_farm_agent_lookup_locked(z, id, len);

        if (a) {
            ov->slot = a->slot;
            a->override = i;
        }

        return ov;
    }

    return NULL;
}


/*
 * Makes what the caller changed in an entry count: the agent's place in
 * the selection tree, its health checks when it leaves maintenance (it
 * comes back like a new agent: no requests before a check passes, when
 * checks are mandatory), and the hash tables when its weight changed.  old_mode
 * and old_weight are the entry's values before the change.  An entry back
 * at the defaults is freed.  Returns what
 * ngx_http_farm_agent_refresh_locked() returns (0 with no agent).
 */

ngx_uint_t
ngx_http_farm_override_set_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_override_t *ov, ngx_uint_t old_mode, uint32_t old_weight)
{
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_override_next_expire_locked(z);

    a = (ov->slot != NGX_HTTP_FARM_NONE32) ? &z->sh->agents[ov->slot] : NULL;

    if (a && old_mode == NGX_HTTP_FARM_MODE_MAINTENANCE
        && ov->mode != NGX_HTTP_FARM_MODE_MAINTENANCE
        && z->fcf->health.enabled && z->fcf->health.mandatory)
    {
        if (a->health != NGX_HTTP_FARM_HEALTH_CHECKING) {
            a->health = NGX_HTTP_FARM_HEALTH_CHECKING;
            z->sh->unchecked++;
        }

        a->passes = 0;
        a->fails = 0;
        a->next_check = ngx_current_msec;
    }

    if (ov->weight != old_weight) {
        z->sh->hash_dirty = 1;
    }

    if (ov->mode == NGX_HTTP_FARM_MODE_ACTIVE && ov->weight == 0
        && ov->ejected_until == 0)
    {
        ngx_http_farm_override_free_locked(z, ov);
    }

    if (a == NULL) {
        return 0;
    }

    return ngx_http_farm_agent_refresh_locked(z, a);
}


static void
ngx_http_farm_override_free_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_override_t *ov)
{
    if (ov->slot != NGX_HTTP_FARM_NONE32) {
        z->sh->agents[ov->slot].override = NGX_HTTP_FARM_NONE32;
    }

    ov->id_len = 0;
    ov->slot = NGX_HTTP_FARM_NONE32;
    z->sh->noverrides--;
}


/* A new agent finds the entry of its id, if there is one. */

void
ngx_http_farm_override_link_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a)
{
    ngx_http_farm_override_t  *ov;

    ov = ngx_http_farm_override_find_locked(z, a->id, a->sn.str.len);

    if (ov == NULL) {
        a->override = NGX_HTTP_FARM_NONE32;
        return;
    }

    ov->slot = a->slot;
    a->override = ov - z->sh->overrides;
}


static void
ngx_http_farm_override_next_expire_locked(ngx_http_farm_zone_t *z)
{
    uint32_t                   i;
    ngx_msec_t                 next;
    ngx_http_farm_shctx_t     *sh;
    ngx_http_farm_override_t  *ov;

    sh = z->sh;
    next = 0;
    i = 0;

    while ((ov = ngx_http_farm_override_next_locked(sh, &i)) != NULL) {

        if (ov->ejected_until
            && (next == 0 || (ngx_msec_int_t) (ov->ejected_until - next) < 0))
        {
            next = ov->ejected_until;
        }
    }

    sh->next_expire = next;
}


/*
 * Ends the ejections that are due.  O(1) when none is (the common case,
 * checked on sh->next_expire); else a walk of the table.  The agents whose
 * ejection ended and that can take requests again go to changed[] (at most
 * max of them), for the caller to serve waiters; returns how many ended.
 */

ngx_uint_t
ngx_http_farm_override_expire_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t **changed, ngx_uint_t max)
{
    uint32_t                   i, n;
    ngx_uint_t                 nchanged, rc;
    ngx_msec_t                 now;
    ngx_http_farm_agent_t     *a;
    ngx_http_farm_shctx_t     *sh;
    ngx_http_farm_override_t  *ov;

    sh = z->sh;
    now = ngx_current_msec;

    if (sh->next_expire == 0
        || (ngx_msec_int_t) (sh->next_expire - now) > 0)
    {
        return 0;
    }

    n = 0;
    nchanged = 0;
    i = 0;

    while ((ov = ngx_http_farm_override_next_locked(sh, &i)) != NULL) {

        if (ov->ejected_until == 0
            || (ngx_msec_int_t) (ov->ejected_until - now) > 0)
        {
            continue;
        }

        ov->ejected_until = 0;
        n++;

        a = (ov->slot != NGX_HTTP_FARM_NONE32) ? &sh->agents[ov->slot]
                                               : NULL;

        if (ov->mode == NGX_HTTP_FARM_MODE_ACTIVE && ov->weight == 0) {
            ngx_http_farm_override_free_locked(z, ov);
        }

        if (a == NULL) {
            continue;
        }

        rc = ngx_http_farm_agent_refresh_locked(z, a);

        if ((rc & NGX_HTTP_FARM_CHANGED_CAPACITY) && nchanged < max) {
            changed[nchanged++] = a;
        }
    }

    ngx_http_farm_override_next_expire_locked(z);

    while (nchanged < max) {
        changed[nchanged++] = NULL;
    }

    return n;
}


/*
 * Sets the entry of an agent id to mode, weight and until (on
 * ngx_current_msec's clock, 0: not ejected), as farm_admin write=registry
 * and the registry's overrides do; origin says whose it is.  Values at the
 * defaults free the entry (none is made for them).  *changed gets what
 * ngx_http_farm_override_set_locked() returns (0 when nothing changed),
 * *agent the agent with that id or NULL.  NGX_DECLINED: the table is full.
 *
 * read_at is 0 for a change made here (farm_admin), which stamps the
 * entry; for values read from the registry, when the read was sent: an
 * entry changed here since then is left alone (the read may predate the
 * change; the next read has it).
 */

ngx_int_t
ngx_http_farm_override_put_locked(ngx_http_farm_zone_t *z, u_char *id,
    size_t len, ngx_uint_t mode, uint32_t weight, ngx_msec_t until,
    ngx_uint_t origin, ngx_msec_t read_at, ngx_uint_t *changed,
    ngx_http_farm_agent_t **agent)
{
    uint32_t                   old_weight;
    ngx_uint_t                 old_mode;
    ngx_http_farm_override_t  *ov;

    *changed = 0;
    *agent = ngx_http_farm_agent_lookup_locked(z, id, len);

    if (z->sh->overrides == NULL) {
        return NGX_DECLINED;
    }

    if (mode == NGX_HTTP_FARM_MODE_ACTIVE && weight == 0 && until == 0) {
        ov = ngx_http_farm_override_find_locked(z, id, len);

        if (ov == NULL) {
            return NGX_OK;
        }

    } else {
        ov = ngx_http_farm_override_get_locked(z, id, len);

        if (ov == NULL) {
            return NGX_DECLINED;
        }
    }

    ov->origin = (uint8_t) origin;

    if (read_at == 0) {
        ov->stamp = (uint32_t) ngx_current_msec | 1;

    } else if (ngx_http_farm_override_fresh(ov, read_at)) {
        return NGX_OK;

    } else {
        ov->stamp = 0;
    }

    if (ov->mode == mode && ov->weight == weight
        && ov->ejected_until == until)
    {
        return NGX_OK;
    }

    old_mode = ov->mode;
    old_weight = ov->weight;

    ov->mode = (uint8_t) mode;
    ov->weight = weight;
    ov->ejected_until = until;

    *changed = ngx_http_farm_override_set_locked(z, ov, old_mode, old_weight)
               | NGX_HTTP_FARM_CHANGED_OVERRIDE;

    return NGX_OK;
}


/*
 * A full read of the registry's overrides is put between these two: the
 * entries that came from the registry and were not put again meanwhile
 * (an operator removed them through another gateway) go back to the
 * defaults.  The agents that can take requests again go to changed[] (at
 * most max); returns how many entries went.
 */

void
ngx_http_farm_override_sweep_begin_locked(ngx_http_farm_zone_t *z)
{
    uint32_t                   i;
    ngx_http_farm_override_t  *ov;

    if (z->sh->overrides == NULL) {
        return;
    }

    i = 0;

    while ((ov = ngx_http_farm_override_next_locked(z->sh, &i)) != NULL) {
        if (ov->origin == NGX_HTTP_FARM_OV_REGISTRY) {
            ov->origin = NGX_HTTP_FARM_OV_SWEEP;
        }
    }
}


ngx_uint_t
ngx_http_farm_override_sweep_end_locked(ngx_http_farm_zone_t *z,
    ngx_msec_t read_at, ngx_http_farm_agent_t **changed, ngx_uint_t max)
{
    uint32_t                   i, old_weight;
    ngx_uint_t                 n, nchanged, old_mode, rc;
    ngx_http_farm_agent_t     *a;
    ngx_http_farm_override_t  *ov;

    n = 0;
    nchanged = 0;

    if (z->sh->overrides != NULL) {
        i = 0;

        while ((ov = ngx_http_farm_override_next_locked(z->sh, &i)) != NULL) {

            if (ov->origin != NGX_HTTP_FARM_OV_SWEEP) {
                continue;
            }

            ov->origin = NGX_HTTP_FARM_OV_REGISTRY;

            if (ngx_http_farm_override_fresh(ov, read_at)) {
                continue;               /* set here after the read */
            }

            a = (ov->slot != NGX_HTTP_FARM_NONE32)
                ? &z->sh->agents[ov->slot] : NULL;

            old_mode = ov->mode;
            old_weight = ov->weight;

            ov->mode = NGX_HTTP_FARM_MODE_ACTIVE;
            ov->weight = 0;
            ov->ejected_until = 0;

            rc = ngx_http_farm_override_set_locked(z, ov, old_mode,
                                                   old_weight);
            n++;

            if (a && (rc & NGX_HTTP_FARM_CHANGED_CAPACITY) && nchanged < max)
            {
                changed[nchanged++] = a;
            }
        }
    }

    while (nchanged < max) {
        changed[nchanged++] = NULL;
    }

    return n;
}


/* Was the entry changed here (farm_admin) at or after read_at? */

static ngx_uint_t
ngx_http_farm_override_fresh(ngx_http_farm_override_t *ov, ngx_msec_t read_at)
{
    return ov->stamp != 0
           && (int32_t) (ov->stamp - (uint32_t) read_at) >= 0;
}
