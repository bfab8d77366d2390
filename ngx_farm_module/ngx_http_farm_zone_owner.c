
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The worker processes as owners of what they hold in the zone: each
 * attaches at its start and counts, per agent, the requests, reservations
 * and grants it holds, so that what a worker that died still held is
 * given back by the next one to start (docs/design.md, "What a dead worker
 * leaves behind").
 */


#include "ngx_http_farm_zone.h"
#include "ngx_http_farm_subset.h"


static uint64_t ngx_http_farm_owner_reclaim_locked(ngx_http_farm_zone_t *z,
    u_char *dead, ngx_http_farm_owner_gone_pt gone, void *data);


/*
 * Gives back, locked, what the owners marked in dead held: first what the
 * layers above keep for them (gone()), then their agents' counts, and
 * frees their records.  One pass over the agents per call.  Returns the
 * number of agents' counts given back.
 */

static uint64_t
ngx_http_farm_owner_reclaim_locked(ngx_http_farm_zone_t *z, u_char *dead,
    ngx_http_farm_owner_gone_pt gone, void *data)
{
    uint32_t                slot, *h;
    uint64_t                n;
    ngx_uint_t              o;
    farm_peers_t            peers;
    ngx_http_farm_agent_t  *a;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;
    n = 0;

    if (gone) {
        gone(z, dead, data);
    }

    ngx_http_farm_zone_peers(sh, &peers);

    for (slot = 0; slot < sh->nslots; slot++) {
        h = &sh->held[(size_t) slot * NGX_HTTP_FARM_OWNERS];
        a = NULL;

        for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
            if (!dead[o] || h[o] == 0) {
                continue;
            }

            a = &sh->agents[slot];

            a->pick->active -= ngx_min(h[o], a->pick->active);
            n += h[o];
            h[o] = 0;
        }

        if (a) {
            farm_tree_update(&sh->tree, &peers, slot);
            ngx_http_farm_subsets_update_locked(z, a);
        }
    }

    for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
        if (dead[o]) {
            ngx_memzero(&sh->owners[o], sizeof(ngx_http_farm_owner_t));
        }
    }

    sh->reclaimed += n;

    return n;
}


/*
 * A worker process becomes an owner in the zone.  First it gives back
 * what owners that are gone held: a worker that crashed or was killed
 * never ended its requests, so their counts would keep agents "full" for
 * good, and its waiters and client counts would stay.  Gone are the
 * former holder of this worker's number in this cycle (the master starts
 * a number again only after its process died) and any process that no
 * longer exists; that is decided from a copy of the table, the system
 * calls made without the lock.  Then it takes a free record.  Returns the
 * record, or NGX_HTTP_FARM_OWNER_NONE when all are taken (that worker's
 * holdings are then not tracked); *reclaimed (agents' counts) and *dead
 * (owners) say what was given back, for the caller to log, and to wake the
 * queue.  Takes the lock.
 */

ngx_uint_t
ngx_http_farm_owner_attach(ngx_http_farm_zone_t *z, ngx_pid_t pid,
    ngx_uint_t worker, uint64_t tag, ngx_http_farm_owner_gone_pt gone,
    void *data, uint64_t *reclaimed, ngx_uint_t *dead)
{
    u_char                  gone_now[NGX_HTTP_FARM_OWNERS];
    ngx_pid_t               pids[NGX_HTTP_FARM_OWNERS];
    ngx_uint_t              o, owner;
    ngx_http_farm_owner_t  *ow;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;
    *reclaimed = 0;
    *dead = 0;
    owner = NGX_HTTP_FARM_OWNER_NONE;

    ngx_memzero(gone_now, sizeof(gone_now));

    ngx_shmtx_lock(&z->shpool->mutex);

    for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
        ow = &sh->owners[o];
        pids[o] = ow->pid;

        if (ow->pid && tag && ow->tag == tag && ow->worker == worker) {
            gone_now[o] = 1;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
        if (pids[o]
            && (pids[o] == pid
                || (kill(pids[o], 0) == -1 && ngx_errno == NGX_ESRCH)))
        {
            gone_now[o] = 1;
        }
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
        if (gone_now[o] && sh->owners[o].pid != pids[o]) {
            gone_now[o] = 0;        /* changed hands meanwhile */
        }

        *dead += gone_now[o];
    }

    if (*dead) {
        *reclaimed = ngx_http_farm_owner_reclaim_locked(z, gone_now, gone,
                                                        data);
    }

    for (o = 0; o < NGX_HTTP_FARM_OWNERS; o++) {
        ow = &sh->owners[o];

        if (ow->pid == 0) {
            ow->pid = pid;
            ow->worker = worker;
            ow->tag = tag;
            owner = o;
            break;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return owner;
}


/*
 * A worker exits: nginx has waited for its requests, and each one gave
 * back what it held, so normally nothing is left; whatever is (a count
 * that went astray) is given back with the record, so the next owner of
 * the record starts from nothing.  Takes the lock.
 */

void
ngx_http_farm_owner_detach(ngx_http_farm_zone_t *z, ngx_uint_t owner,
    ngx_http_farm_owner_gone_pt gone, void *data)
{
    u_char  dead[NGX_HTTP_FARM_OWNERS];

    if (owner >= NGX_HTTP_FARM_OWNERS) {
        return;
    }

    ngx_memzero(dead, sizeof(dead));
    dead[owner] = 1;

    ngx_shmtx_lock(&z->shpool->mutex);

    if (z->sh->owners[owner].pid == ngx_pid) {
        (void) ngx_http_farm_owner_reclaim_locked(z, dead, gone, data);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


/* Counts a request its owner starts (delta 1) or ends (-1) on an agent. */

void
ngx_http_farm_owner_hold_locked(ngx_http_farm_zone_t *z, uint32_t slot,
    ngx_uint_t owner, ngx_int_t delta)
{
    uint32_t  *h;

    if (owner >= NGX_HTTP_FARM_OWNERS) {
        return;
    }

    h = &z->sh->held[(size_t) slot * NGX_HTTP_FARM_OWNERS + owner];

    if (delta > 0) {
        (*h)++;

    } else if (*h) {
        (*h)--;
    }
}
