
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The consumers of farm_consumers redis://... in shared memory, one table
 * for every worker.  One process writes it (the consumers' sync owner,
 * ngx_http_farm_consumers_redis.c; the master at start); requests of every
 * worker read it.
 *
 * The generation switch: the writer builds the next table in a block of
 * the zone that no reader sees (allocated under the zone's lock, filled
 * without it), then, under the lock, points the zone at it and frees the
 * previous block.  Under the lock a request does one hash lookup, O(1),
 * and copies the consumer it found into its own pool; no O(n) work is
 * ever done under it.
 *
 * A writer claims the zone with a new epoch (a reload's new worker, a
 * respawned one): an older writer sees that and stops, freeing its block.
 * Each configuration that loads the zone gets the next load number, and a
 * process of an older one never claims it from a newer one's (an old
 * worker that starts late, during a reload).
 * A block being built is noted in the zone with its writer's pid, so that
 * a writer killed while building does not leak it: the next one frees it.
 */


#include "ngx_http_farm_consumers_shm.h"


struct ngx_http_farm_consumers_sh_s {
    ngx_http_farm_key_table_t      *table;      /* published; NULL: none */
    ngx_uint_t                      nconsumers; /* in table */
    u_char                          digest[32]; /* of what table holds */
    ngx_uint_t                      generation; /* publications */
    ngx_uint_t                      epoch;      /* the writer's claim */
    ngx_uint_t                      cycles;     /* loads of the zone */
    ngx_uint_t                      owner_cycle;    /* the writer's */
    void                           *building;   /* a block not published */
    ngx_pid_t                       building_pid;
};


static ngx_int_t ngx_http_farm_consumers_shm_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_farm_consumers_shm_publish_warm(
    ngx_http_farm_consumers_shm_t *cs, size_t size);


/*
 * The zone, named after the source (the URL without its password, and the
 * keys' hash), so that a reload that changes the source starts afresh.
 */

ngx_int_t
ngx_http_farm_consumers_shm_add(ngx_conf_t *cf,
    ngx_http_farm_consumers_shm_t *cs, ngx_str_t *name, size_t size)
{
    ngx_shm_zone_t  *zone;

    zone = ngx_shared_memory_add(cf, name, size,
                                 &ngx_http_farm_key_auth_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_consumers\" zone is duplicate");
        return NGX_ERROR;
    }

    zone->init = ngx_http_farm_consumers_shm_init;
    zone->data = cs;

    cs->zone = zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_consumers_shm_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_farm_consumers_shm_t  *ocs = data;

    size_t                          len;
    ngx_http_farm_consumers_sh_t   *sh;
    ngx_http_farm_consumers_shm_t  *cs;

    cs = shm_zone->data;

    if (ocs) {
        /* a reload that keeps the zone: the table stays in use */
        cs->sh = ocs->sh;
        cs->shpool = ocs->shpool;
        goto warm;
    }

    cs->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cs->sh = cs->shpool->data;
        goto warm;
    }

    sh = ngx_slab_calloc(cs->shpool, sizeof(ngx_http_farm_consumers_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    cs->sh = sh;
    cs->shpool->data = sh;

    len = sizeof(" in farm_consumers zone");

    cs->shpool->log_ctx = ngx_slab_alloc(cs->shpool, len);
    if (cs->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(cs->shpool->log_ctx, " in farm_consumers zone", len);

    /* a full zone is reported by the writer, naming size= */

    cs->shpool->log_nomem = 0;

warm:

    ngx_shmtx_lock(&cs->shpool->mutex);
    cs->cycle = ++cs->sh->cycles;
    ngx_shmtx_unlock(&cs->shpool->mutex);

    /*
     * The master's read at start is fresher than what the zone holds.  When
     * it does not fit, the start or the reload fails (the running
     * configuration keeps serving): refusing every key would be worse.
     */

    if (cs->warm) {
        return ngx_http_farm_consumers_shm_publish_warm(cs,
                                                        shm_zone->shm.size);
    }

    return NGX_OK;
}


/* The master's read (a table in the configuration's pool), published. */

static ngx_int_t
ngx_http_farm_consumers_shm_publish_warm(ngx_http_farm_consumers_shm_t *cs,
    size_t size)
{
    size_t                            strings;
    ngx_uint_t                        i, epoch;
    ngx_http_farm_key_t              *k;
    ngx_http_farm_consumer_t         *c;
    ngx_http_farm_consumers_build_t   b;

    strings = 0;

    for (i = 0; i < cs->warm_nconsumers; i++) {
        strings += cs->warm_consumers[i].name.len
                   + cs->warm_consumers[i].tier.len + 1;
    }

    ngx_shmtx_lock(&cs->shpool->mutex);
    epoch = cs->sh->epoch;
    ngx_shmtx_unlock(&cs->shpool->mutex);

    if (ngx_http_farm_consumers_shm_build(cs, &b, cs->warm->nkeys,
                                          cs->warm_nconsumers, strings,
                                          epoch)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, ngx_cycle->log, 0,
                      "farm_consumers: %ui keys of %ui consumers do not fit "
                      "in size=%uz; raise size=", cs->warm->nkeys,
                      cs->warm_nconsumers, size);
        return NGX_ERROR;
    }

    for (i = 0; i < cs->warm_nconsumers; i++) {
        c = &cs->warm_consumers[i];
        ngx_http_farm_consumers_shm_consumer(&b, i, c->name.data, c->name.len,
                                             c->tier.data, c->tier.len);
    }

    for (i = 0; i < cs->warm->nkeys; i++) {
        k = &cs->warm->keys[i];
        ngx_http_farm_key_table_add(b.table, k->digest,
                                    &b.consumers[k->consumer
                                                 - cs->warm_consumers]);
    }

    (void) ngx_http_farm_consumers_shm_publish(cs, &b, epoch,
                                               cs->warm_digest);

    return NGX_OK;
}


/*
 * A new writer (this process): returns its epoch, or 0 when a process of
 * a newer configuration writes already.  A block left by a writer that
 * died while building is freed.
 */

ngx_uint_t
ngx_http_farm_consumers_shm_claim(ngx_http_farm_consumers_shm_t *cs)
{
    ngx_uint_t                     epoch;
    ngx_http_farm_consumers_sh_t  *sh;

    sh = cs->sh;

    ngx_shmtx_lock(&cs->shpool->mutex);

    if (cs->cycle < sh->owner_cycle) {
        ngx_shmtx_unlock(&cs->shpool->mutex);
        return 0;
    }

    sh->owner_cycle = cs->cycle;
    epoch = ++sh->epoch;

    if (sh->building
        && (sh->building_pid == ngx_pid
            || (kill(sh->building_pid, 0) == -1 && ngx_errno == NGX_ESRCH)))
    {
        ngx_slab_free_locked(cs->shpool, sh->building);
        sh->building = NULL;
    }

    ngx_shmtx_unlock(&cs->shpool->mutex);

    return epoch;
}


ngx_uint_t
ngx_http_farm_consumers_shm_superseded(ngx_http_farm_consumers_shm_t *cs,
    ngx_uint_t epoch)
{
    ngx_uint_t  superseded;

    ngx_shmtx_lock(&cs->shpool->mutex);
    superseded = (cs->sh->epoch != epoch);
    ngx_shmtx_unlock(&cs->shpool->mutex);

    return superseded;
}


/*
 * Room for a table of nkeys keys of nconsumers consumers whose names and
 * tiers take strings bytes (a NUL after each tier included).  Returns
 * NGX_OK with b laid out (fill it with ngx_http_farm_consumers_shm_consumer()
 * and ngx_http_farm_key_table_add(), then publish or abandon it),
 * NGX_DECLINED when a newer writer has claimed the zone, or NGX_ERROR when
 * the zone has no room.
 */

ngx_int_t
ngx_http_farm_consumers_shm_build(ngx_http_farm_consumers_shm_t *cs,
    ngx_http_farm_consumers_build_t *b, ngx_uint_t nkeys,
    ngx_uint_t nconsumers, size_t strings, ngx_uint_t epoch)
{
    ngx_int_t  rc;

    rc = ngx_http_farm_consumers_shm_reserve(cs, b, nkeys, nconsumers,
                                             strings, epoch);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_farm_consumers_shm_layout(b);

    return NGX_OK;
}


/*
 * The block of ngx_http_farm_consumers_shm_build(), only allocated (under
 * the lock, O(1) in keys): b->block, the sizes that layout() needs.
 */

ngx_int_t
ngx_http_farm_consumers_shm_reserve(ngx_http_farm_consumers_shm_t *cs,
    ngx_http_farm_consumers_build_t *b, ngx_uint_t nkeys,
    ngx_uint_t nconsumers, size_t strings, ngx_uint_t epoch)
{
    u_char                        *p;
    size_t                         size;
    ngx_uint_t                     nbuckets;
    ngx_http_farm_consumers_sh_t  *sh;

    for (nbuckets = 16; nbuckets < nkeys; nbuckets *= 2) {
        /* void */
    }

    b->nbuckets = nbuckets;
    b->nconsumers = nconsumers;
    b->head = ngx_align(sizeof(ngx_http_farm_key_table_t), sizeof(void *));
    b->buckets = ngx_align(nbuckets * sizeof(ngx_uint_t), sizeof(void *));
    b->keys = ngx_align((nkeys + 1) * sizeof(ngx_http_farm_key_t),
                        sizeof(void *));
    b->consumers_size = ngx_align((nconsumers + 1)
                                  * sizeof(ngx_http_farm_consumer_t),
                                  sizeof(void *));

    size = b->head + b->buckets + b->keys + b->consumers_size + strings + 1;

    sh = cs->sh;

    ngx_shmtx_lock(&cs->shpool->mutex);

    if (sh->epoch != epoch) {
        ngx_shmtx_unlock(&cs->shpool->mutex);
        return NGX_DECLINED;
    }

    p = ngx_slab_alloc_locked(cs->shpool, size);

    if (p) {
        sh->building = p;
        sh->building_pid = ngx_pid;
    }

    ngx_shmtx_unlock(&cs->shpool->mutex);

    if (p == NULL) {
        return NGX_ERROR;
    }

    b->block = p;

    return NGX_OK;
}


/*
 * A reserved block zeroed and laid out: O(keys), without the lock (nobody
 * reads the block yet), on any thread.
 */

void
ngx_http_farm_consumers_shm_layout(ngx_http_farm_consumers_build_t *b)
{
    u_char  *p;

    p = b->block;

    ngx_memzero(p, b->head + b->buckets + b->keys + b->consumers_size);

    b->table = (ngx_http_farm_key_table_t *) p;
    b->table->buckets = (ngx_uint_t *) (p + b->head);
    b->table->keys = (ngx_http_farm_key_t *) (p + b->head + b->buckets);
    b->table->mask = b->nbuckets - 1;
    b->table->nkeys = 0;
    b->consumers = (ngx_http_farm_consumer_t *)
                       (p + b->head + b->buckets + b->keys);
    b->strings = p + b->head + b->buckets + b->keys + b->consumers_size;
}


/* Consumer i of a table being built: its name and tier copied in. */

void
ngx_http_farm_consumers_shm_consumer(ngx_http_farm_consumers_build_t *b,
    ngx_uint_t i, u_char *name, size_t name_len, u_char *tier,
    size_t tier_len)
{
    ngx_http_farm_consumer_t  *c;

    c = &b->consumers[i];

    c->name.data = b->strings;
    c->name.len = name_len;
    b->strings = ngx_cpymem(b->strings, name, name_len);

    c->tier.data = b->strings;
    c->tier.len = tier_len;
    b->strings = ngx_cpymem(b->strings, tier, tier_len);
    *b->strings++ = '\0';
}


/*
 * The switch: the table built becomes the one every worker reads, and the
 * previous one is freed.  Returns NGX_OK, or NGX_DECLINED (the block
 * freed) when a newer writer has claimed the zone.
 */

ngx_int_t
ngx_http_farm_consumers_shm_publish(ngx_http_farm_consumers_shm_t *cs,
    ngx_http_farm_consumers_build_t *b, ngx_uint_t epoch, u_char *digest)
{
    ngx_http_farm_key_table_t     *old;
    ngx_http_farm_consumers_sh_t  *sh;

    sh = cs->sh;

    ngx_shmtx_lock(&cs->shpool->mutex);

    if (sh->building == b->block) {
        sh->building = NULL;
    }

    if (sh->epoch != epoch) {
        ngx_slab_free_locked(cs->shpool, b->block);
        ngx_shmtx_unlock(&cs->shpool->mutex);
        return NGX_DECLINED;
    }

    old = sh->table;

    sh->table = b->table;
    sh->nconsumers = b->nconsumers;
    ngx_memcpy(sh->digest, digest, sizeof(sh->digest));
    sh->generation++;

    if (old) {
        ngx_slab_free_locked(cs->shpool, old);
    }

    ngx_shmtx_unlock(&cs->shpool->mutex);

    return NGX_OK;
}


void
ngx_http_farm_consumers_shm_abandon(ngx_http_farm_consumers_shm_t *cs,
    ngx_http_farm_consumers_build_t *b)
{
    ngx_shmtx_lock(&cs->shpool->mutex);

    if (cs->sh->building == b->block) {
        cs->sh->building = NULL;
    }

    ngx_slab_free_locked(cs->shpool, b->block);

    ngx_shmtx_unlock(&cs->shpool->mutex);
}


ngx_uint_t
ngx_http_farm_consumers_shm_current(ngx_http_farm_consumers_shm_t *cs,
    ngx_uint_t *nkeys, ngx_uint_t *nconsumers, u_char *digest)
{
    ngx_uint_t                     found;
    ngx_http_farm_consumers_sh_t  *sh;

    sh = cs->sh;

    ngx_shmtx_lock(&cs->shpool->mutex);

    found = (sh->table != NULL);

    *nkeys = found ? sh->table->nkeys : 0;
    *nconsumers = sh->nconsumers;
    ngx_memcpy(digest, sh->digest, sizeof(sh->digest));

    ngx_shmtx_unlock(&cs->shpool->mutex);

    return found;
}


/*
 * A request's key (its SHA-256 digest) looked up: one bucket, under the
 * lock; the consumer found is copied into pool, so that the table may be
 * switched while the request runs.
 */

ngx_int_t
ngx_http_farm_consumers_shm_lookup(ngx_http_farm_consumers_shm_t *cs,
    u_char *digest, ngx_pool_t *pool, ngx_http_farm_consumer_t *out)
{
    ngx_int_t                  rc;
    ngx_http_farm_consumer_t  *c;

    if (cs->sh == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cs->shpool->mutex);

    c = cs->sh->table ? ngx_http_farm_key_table_lookup(cs->sh->table, digest)
                      : NULL;

    if (c) {
        out->name.data = ngx_pnalloc(pool, c->name.len);
        out->tier.data = ngx_pnalloc(pool, c->tier.len + 1);

        if (out->name.data == NULL || out->tier.data == NULL) {
            rc = NGX_ERROR;

        } else {
            ngx_memcpy(out->name.data, c->name.data, c->name.len);
            ngx_memcpy(out->tier.data, c->tier.data, c->tier.len + 1);
            out->name.len = c->name.len;
            out->tier.len = c->tier.len;
            rc = NGX_OK;
        }
    }

    ngx_shmtx_unlock(&cs->shpool->mutex);

    return rc;
}


/*
 * At configuration time: will this configuration's zone be the running
 * one's, kept through the reload (same name, so the same source, and the
 * same size), with a table in it?  Then the master need not read Redis.
 */

ngx_uint_t
ngx_http_farm_consumers_shm_kept(ngx_str_t *name, size_t size)
{
    ngx_uint_t                      i, kept;
    ngx_list_part_t                *part;
    ngx_shm_zone_t                 *zone;
    ngx_http_farm_consumers_shm_t  *ocs;

    if (ngx_cycle == NULL || ngx_cycle->shared_memory.part.elts == NULL) {
        return 0;
    }

    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag != &ngx_http_farm_key_auth_module
            || zone[i].shm.size != size
            || zone[i].shm.name.len != name->len
            || ngx_strncmp(zone[i].shm.name.data, name->data, name->len)
               != 0)
        {
            continue;
        }

        ocs = zone[i].data;

        if (ocs == NULL || ocs->sh == NULL) {
            return 0;
        }

        ngx_shmtx_lock(&ocs->shpool->mutex);
        kept = (ocs->sh->table != NULL);
        ngx_shmtx_unlock(&ocs->shpool->mutex);

        return kept;
    }
}
