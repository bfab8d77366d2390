
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The built-in registry: agents register with the gateway itself
 * ("farm_registry builtin service=... token_file=..."), through the API
 * of farm_registry_api, in whichever worker takes the request.  A
 * registration is a lease in the upstream's zone (ngx_http_farm_lease.c)
 * and an agent applied through the sync layer (ngx_http_farm_sync_push()),
 * the same way as a Redis record: health checks, breakers, regions,
 * capabilities, the queue and status see no difference.
 *
 * Order against races between workers: a put takes the lease first, then
 * applies the agent, then looks whether a deregistration took the lease
 * meanwhile (and removes the agent if so); a deregistration and an expiry
 * take the lease first, then remove the agent.  A worker that dies between
 * the two steps leaves at worst a lease without an agent, which runs out.
 *
 * The sync owner's tick (every NGX_HTTP_FARM_BUILTIN_TICK ms) takes the
 * leases that ran out from the expiry tree, at most a batch per step,
 * rebuilds the hash tables and subsets after changes made by any worker,
 * and has the state= file saved (with each lease's expiry) when the leases
 * changed.  Static agents ("farm_agent") are applied by the master at
 * start and by each new sync owner, which also takes out the agents that
 * have neither a lease nor a farm_agent line any more (after a reload).
 */


#include "ngx_http_farm_builtin.h"
#include "ngx_http_farm_lease.h"
#include "ngx_http_farm_sync.h"
#include "ngx_http_farm_state.h"
#include "ngx_http_farm_subset.h"


#define NGX_HTTP_FARM_BUILTIN_TICK    100    /* ms */
#define NGX_HTTP_FARM_BUILTIN_BATCH   64     /* expiries per step */
#define NGX_HTTP_FARM_BUILTIN_RENEWED 5000   /* ms, saves for heartbeats */


static ngx_int_t ngx_http_farm_builtin_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle);
static void ngx_http_farm_builtin_stop(ngx_http_farm_srv_conf_t *fcf);
static ngx_int_t ngx_http_farm_builtin_warm(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log);
static void ngx_http_farm_builtin_tick(ngx_event_t *ev);
static void ngx_http_farm_builtin_tidy(ngx_http_farm_srv_conf_t *fcf);
static void ngx_http_farm_builtin_reapply(ngx_http_farm_srv_conf_t *fcf,
    u_char *id, size_t len);
static ngx_int_t ngx_http_farm_builtin_is_static(
    ngx_http_farm_srv_conf_t *fcf, u_char *id, size_t len);


/* the backend, as the module glue drives it (ngx_http_farm_conf.h) */

const ngx_http_farm_registry_t  ngx_http_farm_builtin_backend = {
    ngx_http_farm_builtin_start,
    ngx_http_farm_builtin_stop,
    ngx_http_farm_builtin_warm
};


/*
 * The master, for a new zone.  At a reload that gave the upstream a new
 * zone (another size: max_agents=, zone=, the balancing method), the old
 * zone is still mapped, and its leases are carried over, with what is
 * left of their TTLs, before the new workers start: NGX_OK.  At start
 * there is nothing to read but the state file: NGX_DECLINED, and the
 * module glue loads it.
 */

static ngx_int_t
ngx_http_farm_builtin_warm(ngx_http_farm_srv_conf_t *fcf, ngx_log_t *log)
{
    u_char                  *json, last[FARM_ID_MAX];
    size_t                   len, last_len;
    uint64_t                 gen;
    ngx_str_t                why;
    ngx_msec_t               left;
    ngx_uint_t               i, n, fresh, done;
    ngx_list_part_t         *part;
    ngx_shm_zone_t          *shm;
    farm_record_t            rec;
    ngx_http_farm_zone_t     z, old;
    ngx_http_farm_lease_t   *l;
    char                     err[FARM_ERR_MAX];

    if (!fcf->builtin->api || ngx_cycle == NULL) {
        return NGX_DECLINED;
    }

    /* ngx_cycle is still the old cycle while the new one is set up */

    old.sh = NULL;
    part = &((ngx_cycle_t *) ngx_cycle)->shared_memory.part;
    shm = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm = part->elts;
            i = 0;
        }

        if (shm[i].tag == &ngx_http_farm_module
            && shm[i].shm.addr
            && shm[i].shm.addr != fcf->shm_zone->shm.addr
            && shm[i].shm.name.len == fcf->shm_zone->shm.name.len
            && ngx_strncmp(shm[i].shm.name.data, fcf->shm_zone->shm.name.data,
                           shm[i].shm.name.len) == 0)
        {
            old.shpool = (ngx_slab_pool_t *) shm[i].shm.addr;
            old.sh = old.shpool->data;
            old.fcf = fcf;
            break;
        }
    }

    if (old.sh == NULL || old.sh->leases == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_farm_zone_get(fcf, &z);

    /* a lease's record is canonical JSON of a valid record: below 64k */

    json = ngx_alloc(FARM_RECORD_MAX, log);
    if (json == NULL) {
        return NGX_DECLINED;
    }

    last_len = 0;
    done = 0;
    n = 0;

    while (!done) {

        /* one lease at a time out of the old zone, which old workers use */

        ngx_shmtx_lock(&old.shpool->mutex);

        l = ngx_http_farm_lease_after_locked(&old, last, last_len);

        if (l == NULL) {
            ngx_shmtx_unlock(&old.shpool->mutex);
            break;
        }

        last_len = l->sn.str.len;
        ngx_memcpy(last, l->id, last_len);
        left = ngx_http_farm_lease_left_locked(l, ngx_current_msec);

        len = ngx_min(l->json_len, (size_t) FARM_RECORD_MAX);
        ngx_memcpy(json, l->json, len);

        ngx_shmtx_unlock(&old.shpool->mutex);

        if (left > 0
            && farm_record_parse(&rec, (char *) json, len, err) == 0)
        {
            ngx_shmtx_lock(&z.shpool->mutex);
            done = (ngx_http_farm_lease_put_locked(&z, last, last_len, json,
                                                   len, left,
                                                   ngx_current_msec, &gen,
                                                   &fresh)
                    != NGX_OK);
            ngx_shmtx_unlock(&z.shpool->mutex);

            if (!done && ngx_http_farm_sync_push(fcf, &rec, &why) == NGX_OK) {
                n++;
            }

            farm_record_free(&rec);
        }
    }

    ngx_free(json);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "farm: upstream \"%V\" has a new zone; %ui registrations "
                  "of the built-in registry carried over", &fcf->uscf->host,
                  n);

    return NGX_OK;
}


/* Applies the farm_agent lines (any process; the zone's lock is free). */

void
ngx_http_farm_builtin_statics(ngx_http_farm_srv_conf_t *fcf)
{
    ngx_str_t       why;
    ngx_uint_t      i;
    farm_record_t  *rec;

    if (fcf->statics == NULL) {
        return;
    }

    rec = fcf->statics->elts;

    for (i = 0; i < fcf->statics->nelts; i++) {
        *ngx_cpymem(rec[i].service, fcf->service.data, fcf->service.len)
            = '\0';

        if (ngx_http_farm_sync_push(fcf, &rec[i], &why) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, fcf->log, 0,
                          "farm: static agent \"%s\" of upstream \"%V\" is "
                          "not used: %V", rec[i].id, &fcf->uscf->host, &why);
        }
    }
}


/*
 * A record of the state file, before it is applied: its lease runs until
 * expires_at (Unix time in ms) as it did before the restart.  NGX_DECLINED
 * when that has passed: the record is not applied.
 */

ngx_int_t
ngx_http_farm_builtin_restore(ngx_http_farm_srv_conf_t *fcf,
    farm_record_t *rec, int64_t expires_at)
{
    char                  *json;
    int64_t                now;
    uint64_t               gen;
    ngx_int_t              rc;
    ngx_uint_t             fresh;
    ngx_time_t            *tp;
    ngx_http_farm_zone_t   z;

    if (fcf->builtin == NULL || !fcf->builtin->api || expires_at <= 0) {
        return NGX_OK;
    }

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;

    if (expires_at <= now) {
        return NGX_DECLINED;
    }

    json = farm_record_to_json(rec);
    if (json == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_farm_zone_get(fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);

    rc = ngx_http_farm_lease_put_locked(&z, (u_char *) rec->id,
                                        ngx_strlen(rec->id), (u_char *) json,
                                        ngx_strlen(json),
                                        (ngx_msec_t) (expires_at - now),
                                        ngx_current_msec, &gen, &fresh);

    ngx_shmtx_unlock(&z.shpool->mutex);

    free(json);

    return (rc == NGX_OK) ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_farm_builtin_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_cycle_t *cycle)
{
    ngx_event_t  *ev;

    ngx_http_farm_sync_registry_state(fcf, 1, "");

    ngx_http_farm_builtin_statics(fcf);
    ngx_http_farm_builtin_tidy(fcf);

    ev = &fcf->builtin->tick;
    ev->handler = ngx_http_farm_builtin_tick;
    ev->data = fcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_HTTP_FARM_BUILTIN_TICK);

    return NGX_OK;
}


static void
ngx_http_farm_builtin_stop(ngx_http_farm_srv_conf_t *fcf)
{
    if (fcf->builtin && fcf->builtin->tick.timer_set) {
        ngx_del_timer(&fcf->builtin->tick);
    }
}


/*
 * A new sync owner: agents with neither a lease nor a farm_agent line (the
 * line went at a reload, or the upstream had another registry before) go.
 * One pass over the slots, the lock taken for one slot at a time.
 */

static void
ngx_http_farm_builtin_tidy(ngx_http_farm_srv_conf_t *fcf)
{
    u_char                  id[FARM_ID_MAX];
    size_t                  len;
    uint32_t                i;
    ngx_uint_t              keep;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_zone_get(fcf, &z);

    for (i = 0; i < z.sh->nslots; i++) {
        a = &z.sh->agents[i];

        ngx_shmtx_lock(&z.shpool->mutex);

        if (a->state != NGX_HTTP_FARM_SLOT_UP) {
            ngx_shmtx_unlock(&z.shpool->mutex);
            continue;
        }

        len = a->sn.str.len;
        ngx_memcpy(id, a->id, len);

        keep = z.sh->leases
               && ngx_http_farm_lease_find_locked(&z, id, len) != NULL;

        ngx_shmtx_unlock(&z.shpool->mutex);

        if (keep || ngx_http_farm_builtin_is_static(fcf, id, len)) {
            continue;
        }

        ngx_http_farm_sync_drop(fcf, id, len,
                                "neither registered nor a farm_agent");
    }
}


static ngx_int_t
ngx_http_farm_builtin_is_static(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len)
{
    ngx_uint_t      i;
    farm_record_t  *rec;

    if (fcf->statics == NULL) {
        return 0;
    }

    rec = fcf->statics->elts;

    for (i = 0; i < fcf->statics->nelts; i++) {
        if (ngx_strlen(rec[i].id) == len
            && ngx_strncmp(rec[i].id, id, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* The sync owner's tick: expiries, rebuilds, the state file. */

static void
ngx_http_farm_builtin_tick(ngx_event_t *ev)
{
    ngx_http_farm_srv_conf_t  *fcf = ev->data;

    u_char                   ids[NGX_HTTP_FARM_BUILTIN_BATCH][FARM_ID_MAX];
    size_t                   lens[NGX_HTTP_FARM_BUILTIN_BATCH];
    uint64_t                 gen, renewed;
    ngx_uint_t               i, n;
    ngx_http_farm_zone_t     z;
    ngx_http_farm_lease_t   *l;
    ngx_http_farm_builtin_t *bt;

    if (ngx_exiting) {
        return;
    }

    bt = fcf->builtin;

    ngx_http_farm_zone_get(fcf, &z);

    if (z.sh->owner_epoch != fcf->owner_epoch) {
        return;         /* a newer sync owner took over */
    }

    n = 0;
    gen = 0;
    renewed = 0;

    ngx_shmtx_lock(&z.shpool->mutex);

    if (z.sh->leases) {
        while (n < NGX_HTTP_FARM_BUILTIN_BATCH) {
            l = ngx_http_farm_lease_expired_locked(&z, ngx_current_msec);
            if (l == NULL) {
                break;
            }

            lens[n] = l->sn.str.len;
            ngx_memcpy(ids[n], l->id, lens[n]);

            (void) ngx_http_farm_lease_remove_locked(&z, ids[n], lens[n], 0);

            z.sh->leases->expired++;
            n++;
        }

        gen = z.sh->leases->gen;
        renewed = z.sh->leases->renewed;
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    for (i = 0; i < n; i++) {
        ngx_http_farm_sync_drop(fcf, ids[i], lens[i], "its TTL ran out");
        ngx_http_farm_builtin_reapply(fcf, ids[i], lens[i]);
    }

    /* what any worker changed: the hash tables, the subsets */

    (void) ngx_http_farm_zone_rebuild_hash(&z);
    ngx_http_farm_subsets_rebuild(&z);

    /*
     * the state file follows registrations at once (at most once a
     * second), heartbeats every NGX_HTTP_FARM_BUILTIN_RENEWED ms: a
     * restarted gateway then knows each lease's expiry to within that
     */

    if (gen != bt->saved_gen
        || (renewed != bt->saved_renewed
            && ngx_current_msec - fcf->state_saved
               >= NGX_HTTP_FARM_BUILTIN_RENEWED))
    {
        bt->saved_gen = gen;
        bt->saved_renewed = renewed;
        fcf->state_dirty = 1;
    }

    ngx_http_farm_state_sync_end(fcf);

    ngx_add_timer(ev, (n == NGX_HTTP_FARM_BUILTIN_BATCH)
                      ? 1 : NGX_HTTP_FARM_BUILTIN_TICK);
}


/*
 * After an expiry took an agent out: a registration of the same id that
 * came in between (its lease put before the removal of the agent) is
 * applied again, so that no lease is left without its agent.
 */

static void
ngx_http_farm_builtin_reapply(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len)
{
    u_char                 *json;
    size_t                  json_len;
    ngx_str_t               why;
    farm_record_t           rec;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_lease_t  *l;
    char                    err[FARM_ERR_MAX];

    ngx_http_farm_zone_get(fcf, &z);

    /* the record's copy is allocated outside the lock: its size first */

    json = NULL;
    json_len = 0;

    for ( ;; ) {
        ngx_shmtx_lock(&z.shpool->mutex);

        l = ngx_http_farm_lease_find_locked(&z, id, len);

        if (l == NULL || ngx_http_farm_agent_lookup_locked(&z, id, len)) {
            ngx_shmtx_unlock(&z.shpool->mutex);
            ngx_free(json);
            return;
        }

        if (json && l->json_len == json_len) {
            ngx_memcpy(json, l->json, json_len);
            ngx_shmtx_unlock(&z.shpool->mutex);
            break;
        }

        json_len = l->json_len;

        ngx_shmtx_unlock(&z.shpool->mutex);

        ngx_free(json);

        json = ngx_alloc(json_len, fcf->log);
        if (json == NULL) {
            return;
        }
    }

    if (farm_record_parse(&rec, (char *) json, json_len, err) == 0) {
        (void) ngx_http_farm_sync_push(fcf, &rec, &why);
        farm_record_free(&rec);
    }

    ngx_free(json);
}


/* The request's token against the service's, in constant time. */

ngx_int_t
ngx_http_farm_builtin_auth(ngx_http_farm_srv_conf_t *fcf, ngx_str_t *given)
{
    u_char      diff, c;
    ngx_str_t  *token;
    ngx_uint_t  i;

    token = &fcf->builtin->token;

    diff = (given->len != token->len);

    for (i = 0; i < token->len; i++) {
        c = (i < given->len) ? given->data[i] : 0;
        diff |= token->data[i] ^ c;
    }

    return diff ? NGX_DECLINED : NGX_OK;
}


/* One more API request of client address addr: NGX_BUSY over rate/s. */

ngx_int_t
ngx_http_farm_builtin_rate(ngx_http_farm_srv_conf_t *fcf, ngx_str_t *addr,
    ngx_uint_t rate)
{
    ngx_int_t             rc;
    ngx_http_farm_zone_t  z;

    ngx_http_farm_zone_get(fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);
    rc = ngx_http_farm_lease_rate_locked(&z, addr, rate, ngx_current_msec);
    ngx_shmtx_unlock(&z.shpool->mutex);

    return rc;
}


/*
 * Registers rec (parsed and validated) for ttl ms.  NGX_OK with *fresh;
 * NGX_DECLINED with why when the zone refuses the record (answered 400);
 * NGX_ERROR when the zone has no room for the lease.
 */

ngx_int_t
ngx_http_farm_builtin_put(ngx_http_farm_srv_conf_t *fcf, farm_record_t *rec,
    ngx_msec_t ttl, ngx_str_t *why, ngx_uint_t *fresh)
{
    char                   *json;
    size_t                  len;
    uint64_t                gen;
    ngx_int_t               rc;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_lease_t  *l;

    json = farm_record_to_json(rec);
    if (json == NULL) {
        ngx_str_set(why, "out of memory");
        return NGX_ERROR;
    }

    len = ngx_strlen(rec->id);

    ngx_http_farm_zone_get(fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);

    rc = ngx_http_farm_lease_put_locked(&z, (u_char *) rec->id, len,
                                        (u_char *) json, ngx_strlen(json),
                                        ttl, ngx_current_msec, &gen, fresh);

    ngx_shmtx_unlock(&z.shpool->mutex);

    free(json);

    if (rc != NGX_OK) {
        ngx_str_set(why, "the registry's zone is full: raise max_agents= "
                    "or zone= of farm_registry");
        return NGX_ERROR;
    }

    if (ngx_http_farm_sync_push(fcf, rec, why) != NGX_OK) {
        if (*fresh) {
            ngx_shmtx_lock(&z.shpool->mutex);
            (void) ngx_http_farm_lease_remove_locked(&z, (u_char *) rec->id,
                                                     len, gen);
            ngx_shmtx_unlock(&z.shpool->mutex);
        }

        return NGX_DECLINED;
    }

    /* a deregistration that came in between wins */

    ngx_shmtx_lock(&z.shpool->mutex);
    l = ngx_http_farm_lease_find_locked(&z, (u_char *) rec->id, len);
    ngx_shmtx_unlock(&z.shpool->mutex);

    if (l == NULL) {
        ngx_http_farm_sync_drop(fcf, (u_char *) rec->id, len,
                                "deregistered");
    }

    return NGX_OK;
}


/*
 * A heartbeat: NGX_OK, or NGX_DECLINED when the id has no lease or no
 * agent (expired, deregistered, lost): the agent registers again.
 */

ngx_int_t
ngx_http_farm_builtin_heartbeat(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len, ngx_msec_t ttl)
{
    ngx_http_farm_zone_t    z;
    ngx_http_farm_lease_t  *l;

    ngx_http_farm_zone_get(fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);

    l = ngx_http_farm_lease_find_locked(&z, id, len);

    if (l == NULL || ngx_http_farm_agent_lookup_locked(&z, id, len) == NULL) {
        ngx_shmtx_unlock(&z.shpool->mutex);
        return NGX_DECLINED;
    }

    (void) ngx_http_farm_lease_renew_locked(&z, l, ttl, ngx_current_msec);

    ngx_shmtx_unlock(&z.shpool->mutex);

    return NGX_OK;
}


/* A deregistration: NGX_OK, or NGX_DECLINED for an unknown id. */

ngx_int_t
ngx_http_farm_builtin_delete(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len)
{
    ngx_int_t             rc;
    ngx_http_farm_zone_t  z;

    ngx_http_farm_zone_get(fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);
    rc = ngx_http_farm_lease_remove_locked(&z, id, len, 0);
    ngx_shmtx_unlock(&z.shpool->mutex);

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_http_farm_sync_drop(fcf, id, len, "deregistered");

    return NGX_OK;
}


/*
 * The registered agents as the API's JSON, in pool memory: the lock is
 * taken for NGX_HTTP_FARM_BUILTIN_BATCH leases at a time, and the walk
 * goes on after the last id written.
 */

ngx_int_t
ngx_http_farm_builtin_list(ngx_http_farm_srv_conf_t *fcf, ngx_pool_t *pool,
    ngx_str_t *out)
{
    u_char                 *buf, *p, *end, *nbuf;
    u_char                  last[FARM_ID_MAX];
    size_t                  last_len, need, size;
    ngx_uint_t              i, n, done;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_lease_t  *l;

    ngx_http_farm_zone_get(fcf, &z);

    size = 4096 + fcf->service.len;

    buf = ngx_pnalloc(pool, size);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    end = buf + size;
    p = ngx_sprintf(buf, "{\"service\":\"%V\",\"agents\":[", &fcf->service);

    last_len = 0;
    n = 0;
    done = 0;

    while (!done) {
        need = 0;

        ngx_shmtx_lock(&z.shpool->mutex);

        for (i = 0; i < NGX_HTTP_FARM_BUILTIN_BATCH; i++) {
            l = ngx_http_farm_lease_after_locked(&z, last, last_len);
            if (l == NULL) {
                done = 1;
                break;
            }

            if ((size_t) (end - p) < l->json_len + FARM_ID_MAX + 64) {
                need = l->json_len + FARM_ID_MAX + 64;
                break;
            }

            p = ngx_sprintf(p, "%s{\"id\":\"%V\",\"ttl_ms_left\":%M,"
                            "\"record\":%*s}", n++ ? "," : "",
                            &l->sn.str,
                            ngx_http_farm_lease_left_locked(l,
                                                            ngx_current_msec),
                            l->json_len, l->json);

            last_len = l->sn.str.len;
            ngx_memcpy(last, l->id, last_len);
        }

        ngx_shmtx_unlock(&z.shpool->mutex);

        if (need || (!done && (size_t) (end - p) < 64)) {
            size = 2 * size + need;

            nbuf = ngx_pnalloc(pool, size);
            if (nbuf == NULL) {
                return NGX_ERROR;
            }

            p = ngx_cpymem(nbuf, buf, p - buf);
            buf = nbuf;
            end = buf + size;
        }
    }

    if (end - p < 3) {
        nbuf = ngx_pnalloc(pool, (p - buf) + 3);
        if (nbuf == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(nbuf, buf, p - buf);
        buf = nbuf;
    }

    p = ngx_cpymem(p, "]}", 2);

    out->data = buf;
    out->len = p - buf;

    return NGX_OK;
}
