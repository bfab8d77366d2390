
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The shared zone of one farm upstream: agent slots, the id index, the
 * region and capability dictionaries, the selection tree and the hash
 * tables.  Everything here runs under the zone's slab mutex.
 */


#include "ngx_http_farm_zone.h"
#include "ngx_http_farm_subset.h"
#include "ngx_http_farm_lists.h"


static void ngx_http_farm_zone_source(ngx_http_farm_srv_conf_t *fcf,
    u_char *buf, size_t size);
static ngx_int_t ngx_http_farm_record_sockaddr(farm_record_t *rec,
    ngx_sockaddr_t *sa, socklen_t *socklen);
static ngx_int_t ngx_http_farm_reopen_before(ngx_http_farm_shctx_t *sh,
    uint32_t i, uint32_t j);
static void ngx_http_farm_reopen_swap(ngx_http_farm_shctx_t *sh, uint32_t i,
    uint32_t j);
static void ngx_http_farm_reopen_fix(ngx_http_farm_shctx_t *sh, uint32_t i);
static ngx_int_t ngx_http_farm_dict_caps_locked(ngx_http_farm_shctx_t *sh,
    farm_record_t *rec, uint64_t *caps);
static ngx_int_t ngx_http_farm_dict_region_locked(ngx_http_farm_shctx_t *sh,
    farm_record_t *rec, ngx_uint_t *region);
static void ngx_http_farm_dict_use_locked(ngx_http_farm_shctx_t *sh,
    uint64_t caps, ngx_uint_t region, ngx_int_t delta);
static void ngx_http_farm_agent_free_meta_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a);


size_t
ngx_http_farm_zone_size(ngx_http_farm_srv_conf_t *fcf)
{
    size_t  size, points;

    size = sizeof(ngx_http_farm_shctx_t)
           + fcf->max_agents * (sizeof(ngx_http_farm_agent_t)
                                + sizeof(farm_pick_peer_t) + 256)
           + 2 * farm_tree_size(fcf->max_agents) * sizeof(uint32_t);

    /* the queue's part: ngx_http_farm_queue_size() */

    if (fcf->client.enabled) {
        size += 2 * 1024 * 1024;
    }

    size += fcf->max_agents * (NGX_HTTP_FARM_OWNERS + 1) * sizeof(uint32_t);

    size += NGX_HTTP_FARM_MAX_OVERRIDES * sizeof(ngx_http_farm_override_t);

    size += ngx_http_farm_capsets_size(fcf->max_agents);

    /* subsets: their table, and their trees for the agents they hold */

    size += NGX_HTTP_FARM_MAX_SUBSETS * (sizeof(ngx_http_farm_subset_t) + 64)
            + fcf->max_agents * 16 * sizeof(uint32_t);

    if (fcf->method == NGX_HTTP_FARM_CHASH) {
        points = ngx_min(fcf->max_agents * FARM_RING_POINTS,
                         FARM_RING_MAX_POINTS);

        /* the old ring lives on while the new one is built */
        size += 2 * points * sizeof(farm_point_t);

    } else if (fcf->method == NGX_HTTP_FARM_HASH) {
        size += 2 * fcf->max_agents * sizeof(farm_wpoint_t);
    }

    /* slab bookkeeping and page rounding */
    size += size / 4 + 64 * 1024;

    return ngx_align(size, ngx_pagesize);
}


void
ngx_http_farm_zone_get(ngx_http_farm_srv_conf_t *fcf, ngx_http_farm_zone_t *z)
{
    z->shpool = (ngx_slab_pool_t *) fcf->shm_zone->shm.addr;
    z->sh = z->shpool->data;
    z->fcf = fcf;
}


static void
ngx_http_farm_zone_source(ngx_http_farm_srv_conf_t *fcf, u_char *buf,
    size_t size)
{
    char  url[FARM_HOST_MAX + 64];

    farm_url_display(&fcf->url, url, sizeof(url));

    *ngx_snprintf(buf, size - 1, "%s service=%V prefix=%V",
                  url, &fcf->service, &fcf->prefix) = '\0';
}


/*
 * Lays out a new zone (the master, before any worker exists): everything
 * but the queue's lists (ngx_http_farm_queue_zone()) and the client tree
 * (ngx_http_farm_client_zone()).  Not locked.
 */

ngx_int_t
ngx_http_farm_zone_init(ngx_shm_zone_t *shm_zone,
    ngx_http_farm_srv_conf_t *fcf)
{
    size_t                  len;
    uint32_t                i, tsize;
    uint32_t               *nodes;
    ngx_slab_pool_t        *shpool;
    ngx_http_farm_shctx_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_farm_shctx_t));
    if (sh == NULL) {
        goto nomem;
    }

    shpool->data = sh;

    ngx_rbtree_init(&sh->ids, &sh->sentinel, ngx_str_rbtree_insert_value);

    sh->capacity = fcf->max_agents;

    sh->agents = ngx_slab_calloc(shpool,
                                 sh->capacity * sizeof(ngx_http_farm_agent_t));
    if (sh->agents == NULL) {
        goto nomem;
    }

    sh->picks = ngx_slab_calloc(shpool,
                                sh->capacity * sizeof(farm_pick_peer_t));
    if (sh->picks == NULL) {
        goto nomem;
    }

    for (i = 0; i < sh->capacity; i++) {
        sh->agents[i].pick = &sh->picks[i];
        sh->agents[i].slot = i;
        sh->agents[i].reopen_pos = NGX_HTTP_FARM_NONE32;
        sh->agents[i].override = NGX_HTTP_FARM_NONE32;
        sh->agents[i].next_free = (i + 1 < sh->capacity) ? i + 1
                                                         : FARM_SLOT_NONE;
    }

    sh->free_head = 0;

    tsize = farm_tree_size(sh->capacity);

    nodes = ngx_slab_alloc(shpool, 2 * tsize * sizeof(uint32_t));
    if (nodes == NULL) {
        goto nomem;
    }

    sh->subsets = ngx_slab_calloc(shpool, NGX_HTTP_FARM_MAX_SUBSETS
                                          * sizeof(ngx_http_farm_subset_t));
    if (sh->subsets == NULL) {
        goto nomem;
    }

    ngx_queue_init(&sh->subset_lru);

    for (i = 0; i < NGX_HTTP_FARM_SUBSET_HASH; i++) {
        sh->subset_hash[i] = NGX_HTTP_FARM_NONE32;
    }

    for (i = 0; i < NGX_HTTP_FARM_MAX_SUBSETS; i++) {
        ngx_queue_insert_tail(&sh->subset_lru, &sh->subsets[i].lru);
    }

    sh->capsets = ngx_http_farm_capsets_init(shpool, sh->capacity);
    if (sh->capsets == NULL) {
        goto nomem;
    }

    sh->reopen = ngx_slab_alloc(shpool, sh->capacity * sizeof(uint32_t));
    if (sh->reopen == NULL) {
        goto nomem;
    }

    sh->held = ngx_slab_calloc(shpool, (size_t) sh->capacity
                                       * NGX_HTTP_FARM_OWNERS
                                       * sizeof(uint32_t));
    if (sh->held == NULL) {
        goto nomem;
    }

    sh->overrides = ngx_slab_calloc(shpool, NGX_HTTP_FARM_MAX_OVERRIDES
                                    * sizeof(ngx_http_farm_override_t));
    if (sh->overrides == NULL) {
        goto nomem;
    }

    sh->method = fcf->method;
    farm_tree_init(&sh->tree, nodes, tsize,
                   fcf->method == NGX_HTTP_FARM_LEAST_CONN
                   ? FARM_PICK_LEAST_CONN : FARM_PICK_RR);

    ngx_http_farm_zone_source(fcf, sh->source, sizeof(sh->source));

    len = sizeof(" in farm zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        goto nomem;
    }

    ngx_sprintf(shpool->log_ctx, " in farm zone \"%V\"%Z",
                &shm_zone->shm.name);

    shpool->log_nomem = 0;

    return NGX_OK;

nomem:

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "farm zone \"%V\" of %uz bytes is too small for "
                  "max_agents=%ui", &shm_zone->shm.name, shm_zone->shm.size,
                  fcf->max_agents);

    return NGX_ERROR;
}


/*
 * After "nginx -s reload" the zone and its agents live on; the old workers
 * keep using it until they exit, so its layout must not change under them.
 * The queue's part is ngx_http_farm_queue_reuse().  Takes the lock.
 */

ngx_int_t
ngx_http_farm_zone_reuse(ngx_shm_zone_t *shm_zone,
    ngx_http_farm_srv_conf_t *fcf)
{
    u_char                  source[FARM_HOST_MAX + 2 * FARM_ID_MAX];
    ngx_uint_t              method;
    farm_peers_t            peers;
    ngx_slab_pool_t        *shpool;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_shctx_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    sh = shpool->data;

    if (sh->capacity != fcf->max_agents) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "farm zone \"%V\": max_agents changed from %uD to %ui "
                      "while the zone size stayed the same; change the "
                      "zone= size too, or restart nginx",
                      &shm_zone->shm.name, sh->capacity, fcf->max_agents);
        return NGX_ERROR;
    }

    ngx_http_farm_zone_source(fcf, source, sizeof(source));

    ngx_shmtx_lock(&shpool->mutex);

    if (ngx_strcmp(source, sh->source) != 0) {
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "farm zone \"%V\": registry changed from \"%s\" to "
                      "\"%s\"; the next sync replaces the agents",
                      &shm_zone->shm.name, sh->source, source);
        ngx_memcpy(sh->source, source, sizeof(source));
    }

    if (sh->method != fcf->method) {
        method = (fcf->method == NGX_HTTP_FARM_LEAST_CONN)
                 ? FARM_PICK_LEAST_CONN : FARM_PICK_RR;

        sh->method = fcf->method;
        sh->tree.method = method;

        ngx_http_farm_zone_peers(sh, &peers);
        farm_tree_rebuild(&sh->tree, &peers, sh->nslots);

        z.sh = sh;
        z.shpool = shpool;
        z.fcf = fcf;
        ngx_http_farm_subsets_reorder_locked(&z);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


ngx_http_farm_agent_t *
ngx_http_farm_agent_lookup_locked(ngx_http_farm_zone_t *z, u_char *id,
    size_t len)
{
    ngx_str_t        key;
    ngx_str_node_t  *sn;

    key.data = id;
    key.len = len;

    sn = ngx_str_rbtree_lookup(&z->sh->ids, &key, ngx_crc32_short(id, len));

    return (ngx_http_farm_agent_t *) sn;
}


static ngx_int_t
ngx_http_farm_record_sockaddr(farm_record_t *rec, ngx_sockaddr_t *sa,
    socklen_t *socklen)
{
    size_t     len;
    in_addr_t  addr;

    ngx_memzero(sa, sizeof(ngx_sockaddr_t));

    len = ngx_strlen(rec->address);

    addr = ngx_inet_addr((u_char *) rec->address, len);

    if (addr != INADDR_NONE) {
        sa->sockaddr_in.sin_family = AF_INET;
        sa->sockaddr_in.sin_port = htons((in_port_t) rec->port);
        sa->sockaddr_in.sin_addr.s_addr = addr;
        *socklen = sizeof(struct sockaddr_in);

        return NGX_OK;
    }

#if (NGX_HAVE_INET6)

    if (ngx_inet6_addr((u_char *) rec->address, len,
                       sa->sockaddr_in6.sin6_addr.s6_addr)
        == NGX_OK)
    {
        sa->sockaddr_in6.sin6_family = AF_INET6;
        sa->sockaddr_in6.sin6_port = htons((in_port_t) rec->port);
        *socklen = sizeof(struct sockaddr_in6);

        return NGX_OK;
    }

#endif

    return NGX_ERROR;
}


/*
 * The capability bits of a record's names, finding each name or taking a
 * free entry for it (one no agent uses); the caller counts the agent in
 * with ngx_http_farm_dict_use_locked().  NGX_DECLINED when every entry
 * is in use.
 */

static ngx_int_t
ngx_http_farm_dict_caps_locked(ngx_http_farm_shctx_t *sh, farm_record_t *rec,
    uint64_t *caps)
{
    size_t      len;
    uint64_t    bit;
    ngx_uint_t  i, j, spare;

    *caps = 0;

    for (i = 0; i < rec->ncaps; i++) {
        len = ngx_strlen(rec->caps[i]) + 1;
        spare = NGX_HTTP_FARM_MAX_CAPS;

        for (j = 0; j < sh->ncaps; j++) {
            if (ngx_memcmp(sh->caps[j], rec->caps[i], len) == 0) {
                break;
            }

            bit = (uint64_t) 1 << j;

            if (spare == NGX_HTTP_FARM_MAX_CAPS && sh->cap_refs[j] == 0
                && !(*caps & bit))
            {
                spare = j;
            }
        }

        if (j == sh->ncaps) {
            if (spare != NGX_HTTP_FARM_MAX_CAPS) {
                j = spare;

            } else if (sh->ncaps == NGX_HTTP_FARM_MAX_CAPS) {
                return NGX_DECLINED;

            } else {
                sh->ncaps++;
            }

            ngx_memcpy(sh->caps[j], rec->caps[i], len);
        }

        *caps |= (uint64_t) 1 << j;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_dict_region_locked(ngx_http_farm_shctx_t *sh, farm_record_t *rec,
    ngx_uint_t *region)
{
    size_t      len;
    ngx_uint_t  i, spare;

    if (rec->region[0] == '\0') {
        *region = 0;
        return NGX_OK;
    }

    len = ngx_strlen(rec->region) + 1;
    spare = NGX_HTTP_FARM_MAX_REGIONS;

    for (i = 0; i < sh->nregions; i++) {
        if (ngx_memcmp(sh->regions[i], rec->region, len) == 0) {
            *region = i + 1;
            return NGX_OK;
        }

        if (spare == NGX_HTTP_FARM_MAX_REGIONS && sh->region_refs[i] == 0) {
            spare = i;
        }
    }

    if (spare != NGX_HTTP_FARM_MAX_REGIONS) {
        i = spare;

    } else if (sh->nregions == NGX_HTTP_FARM_MAX_REGIONS) {
        return NGX_DECLINED;

    } else {
        sh->nregions++;
    }

    ngx_memcpy(sh->regions[i], rec->region, len);
    *region = i + 1;

    return NGX_OK;
}


/*
 * Counts an agent in (delta 1) or out (delta -1) of the names it uses.
 * A name whose count falls to 0 keeps its entry until a new name takes it.
 */

static void
ngx_http_farm_dict_use_locked(ngx_http_farm_shctx_t *sh, uint64_t caps,
    ngx_uint_t region, ngx_int_t delta)
{
    ngx_uint_t  j;

    for (j = 0; caps; j++, caps >>= 1) {
        if (caps & 1) {
            sh->cap_refs[j] += delta;
        }
    }

    if (region) {
        sh->region_refs[region - 1] += delta;
    }
}


static void
ngx_http_farm_agent_free_meta_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a)
{
    if (a->meta) {
        ngx_slab_free_locked(z->shpool, a->meta);
        a->meta = NULL;
        a->meta_len = 0;
    }
}


/*
 * Adds or updates the agent of a parsed record.  Returns NGX_OK when the
 * agent was added, NGX_AGAIN when it changed, NGX_DONE when the record was
 * unchanged, and
 * NGX_DECLINED with *why set when the record cannot be stored.
 */

ngx_int_t
ngx_http_farm_agent_apply(ngx_http_farm_zone_t *z, farm_record_t *rec,
    uint32_t rec_hash, ngx_str_t *why)
{
    size_t                  id_len, meta_len;
    u_char                  name[NGX_SOCKADDR_STRLEN];
    uint32_t                slot;
    uint64_t                caps;
    socklen_t               socklen;
    ngx_uint_t              region, fresh;
    ngx_sockaddr_t          sa;
    ngx_http_farm_agent_t  *a;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;

    if (ngx_http_farm_record_sockaddr(rec, &sa, &socklen) != NGX_OK) {
        ngx_str_set(why, "address: not an IP address");
        return NGX_DECLINED;
    }

    id_len = ngx_strlen(rec->id);
    meta_len = rec->meta ? ngx_strlen(rec->meta) : 0;

    ngx_shmtx_lock(&z->shpool->mutex);

    a = ngx_http_farm_agent_lookup_locked(z, (u_char *) rec->id, id_len);

    if (a && a->rec_hash == rec_hash) {
        a->seen = sh->sync_epoch;
        a->heard = ngx_current_msec;
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_DONE;
    }

    if (ngx_http_farm_dict_caps_locked(sh, rec, &caps) != NGX_OK) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        ngx_str_set(why, "caps: the service's agents already use 64 "
                    "distinct capabilities");
        return NGX_DECLINED;
    }

    if (ngx_http_farm_dict_region_locked(sh, rec, &region) != NGX_OK) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        ngx_str_set(why, "region: the service's agents already use 255 "
                    "distinct regions");
        return NGX_DECLINED;
    }

    fresh = (a == NULL);

    if (fresh) {
        if (sh->free_head == FARM_SLOT_NONE) {
            ngx_shmtx_unlock(&z->shpool->mutex);
            ngx_str_set(why, "the farm is full (raise max_agents= of "
                        "farm_registry)");
            return NGX_DECLINED;
        }

        slot = sh->free_head;
        a = &sh->agents[slot];
        sh->free_head = a->next_free;

        a->next_free = FARM_SLOT_NONE;
        a->gen++;
        a->state = NGX_HTTP_FARM_SLOT_UP;
        a->since = ngx_time();
        a->requests = 0;
        a->failures = 0;
        a->errors = 0;
        a->latency = 0;

        a->pick->active = 0;
        a->nsubs = 0;
        a->subs_overflow = 0;
        ngx_memzero(&sh->held[(size_t) slot * NGX_HTTP_FARM_OWNERS],
                    NGX_HTTP_FARM_OWNERS * sizeof(uint32_t));
        a->pick->vt = 0;
        a->pick->flags = 0;

        /* the old agent's subset leaves stay until the owner rebuilds them */

        /*
         * A new agent waits for its first passed check when checks are
         * mandatory; not during the master's startup read: those agents
         * were serving before this nginx started.
         */

        a->health = (z->fcf->health.enabled && z->fcf->health.mandatory
                     && !z->fcf->warming)
                    ? NGX_HTTP_FARM_HEALTH_CHECKING : NGX_HTTP_FARM_HEALTH_UP;

        sh->unchecked += (a->health == NGX_HTTP_FARM_HEALTH_CHECKING);

        a->draining = 0;
        a->passes = 0;
        a->fails = 0;
        a->rep_weight = 0;
        a->rep_inflight = 0;
        a->next_check = 0;

        /* where the workers' health checkers learn of new agents */
        sh->joined[sh->joined_seq++ % NGX_HTTP_FARM_JOINED] = slot;

        a->checks = 0;
        a->checks_failed = 0;
        a->last_check = 0;
        a->check_error[0] = '\0';

        a->breaker = NGX_HTTP_FARM_BREAKER_CLOSED;
        a->bfails = 0;
        a->ejections = 0;
        a->reopen_at = 0;
        a->reopen_time = 0;
        a->closed_at = ngx_current_msec;

        ngx_memcpy(a->id, rec->id, id_len);
        a->sn.str.data = a->id;
        a->sn.str.len = id_len;
        a->sn.node.key = ngx_crc32_short(a->id, id_len);

        ngx_rbtree_insert(&sh->ids, &a->sn.node);

        /* what an operator set for this id before it left, if anything */
        ngx_http_farm_override_link_locked(z, a);

        sh->nagents++;

        if (slot >= sh->nslots) {
            sh->nslots = slot + 1;
        }
    }

    a->rec_hash = rec_hash;
    a->seen = sh->sync_epoch;
    a->heard = ngx_current_msec;

    a->sockaddr = sa;
    a->socklen = socklen;
    a->name_len = ngx_sock_ntop(&sa.sockaddr, socklen, name,
                                NGX_SOCKADDR_STRLEN, 1);
    ngx_memcpy(a->name, name, a->name_len);

    ngx_http_farm_dict_use_locked(sh, caps, region, 1);

    if (!fresh) {
        ngx_http_farm_dict_use_locked(sh, a->caps, a->region, -1);
    }

    if (fresh || a->region != region) {
        if (!fresh) {
            ngx_http_farm_region_unlink_locked(sh, a);
        }

        a->region = region;
        ngx_http_farm_region_link_locked(sh, a);
    }

    if (fresh || a->caps != caps) {
        if (!fresh) {
            ngx_http_farm_capset_unlink_locked(sh, a);
        }

        a->caps = caps;
        ngx_http_farm_capset_link_locked(sh, a);
    }

    a->rec_weight = rec->weight;
    a->rec_max_conns = rec->max_conns;
    a->rec_backup = rec->backup;

    ngx_http_farm_agent_free_meta_locked(z, a);

    if (meta_len) {
        a->meta = ngx_slab_alloc_locked(z->shpool, meta_len);

        if (a->meta) {
            ngx_memcpy(a->meta, rec->meta, meta_len);
            a->meta_len = meta_len;

        } else {
            ngx_log_error(NGX_LOG_WARN, z->fcf->log, 0,
                          "farm: no room for the meta of agent \"%s\"%s",
                          rec->id, z->shpool->log_ctx);
        }
    }

    (void) ngx_http_farm_agent_refresh_locked(z, a);
    ngx_http_farm_subsets_touch_locked(z, a);

    sh->hash_dirty = 1;

    ngx_shmtx_unlock(&z->shpool->mutex);

    return fresh ? NGX_OK : NGX_AGAIN;
}


/*
 * Recomputes what the selection tree sees of an agent from its registry
 * record, its health, what it reports and its breaker: whether it can be
 * chosen, its weight, and how many requests it may have at once.  Returns
 * what changed (NGX_HTTP_FARM_CHANGED_*): with CAPACITY, the caller
 * dispatches the queue.
 */

ngx_uint_t
ngx_http_farm_agent_refresh_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a)
{
    uint32_t                   cap;
    ngx_uint_t                 was, eligible;
    farm_peers_t               peers;
    ngx_http_farm_override_t  *ov;
    ngx_http_farm_breaker_conf_t  *bcf;

    bcf = &z->fcf->breaker;

    ov = (a->override != NGX_HTTP_FARM_NONE32)
         ? &z->sh->overrides[a->override] : NULL;

    a->mode = ov ? ov->mode : NGX_HTTP_FARM_MODE_ACTIVE;
    a->ejected = (ov && ov->ejected_until);

    was = a->pick->flags & FARM_PEER_ELIGIBLE;

    eligible = a->state == NGX_HTTP_FARM_SLOT_UP
               && a->health == NGX_HTTP_FARM_HEALTH_UP
               && !a->draining
               && a->breaker != NGX_HTTP_FARM_BREAKER_OPEN
               && (ov == NULL
                   || (ov->mode == NGX_HTTP_FARM_MODE_ACTIVE
                       && ov->ejected_until == 0));

    a->pick->flags = (eligible ? FARM_PEER_ELIGIBLE : 0)
                    | (a->rec_backup ? FARM_PEER_BACKUP : 0);

    if (eligible && !was) {
        z->sh->eligible++;

    } else if (!eligible && was) {
        z->sh->eligible--;
    }

    a->pick->weight = (ov && ov->weight) ? ov->weight
                      : a->rep_weight ? a->rep_weight : a->rec_weight;

    cap = a->rec_max_conns;

    if (a->breaker == NGX_HTTP_FARM_BREAKER_HALF) {
        cap = cap ? ngx_min(cap, bcf->half_open) : bcf->half_open;
    }

    a->pick->max_conns = cap;

    ngx_http_farm_zone_peers(z->sh, &peers);

    if (eligible && !was) {
        farm_tree_join(&z->sh->tree, &peers, a->slot);

    } else {
        farm_tree_update(&z->sh->tree, &peers, a->slot);
    }

    ngx_http_farm_subsets_update_locked(z, a);

    /* capacity may have come back: the caller serves waiters first */

    return (eligible ? NGX_HTTP_FARM_CHANGED_CAPACITY : 0)
           | (!eligible != !was ? NGX_HTTP_FARM_CHANGED_ELIGIBLE : 0);
}


/* One word for an agent's state, as farm_status shows it. */

const char *
ngx_http_farm_agent_state_locked(ngx_http_farm_agent_t *a)
{
    if (a->mode == NGX_HTTP_FARM_MODE_MAINTENANCE) {
        return "maintenance";
    }

    if (a->health == NGX_HTTP_FARM_HEALTH_CHECKING) {
        return "checking";
    }

    if (a->health == NGX_HTTP_FARM_HEALTH_DOWN) {
        return "down";
    }

    if (a->draining || a->mode == NGX_HTTP_FARM_MODE_DRAINING) {
        return "draining";
    }

    if (a->ejected) {
        return "ejected";
    }

    if (a->breaker == NGX_HTTP_FARM_BREAKER_OPEN) {
        return "open";
    }

    if (!farm_peer_available(a->pick)) {
        return "full";
    }

    return a->breaker == NGX_HTTP_FARM_BREAKER_HALF ? "half_open" : "up";
}


/* Removes an agent; NGX_DECLINED if there is none with that id. */

ngx_int_t
ngx_http_farm_agent_remove(ngx_http_farm_zone_t *z, u_char *id, size_t len)
{
    farm_peers_t            peers;
    ngx_http_farm_agent_t  *a;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;

    ngx_shmtx_lock(&z->shpool->mutex);

    a = ngx_http_farm_agent_lookup_locked(z, id, len);

    if (a == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_rbtree_delete(&sh->ids, &a->sn.node);

    /* the override stays, by id, for when the agent comes back */

    if (a->override != NGX_HTTP_FARM_NONE32) {
        sh->overrides[a->override].slot = NGX_HTTP_FARM_NONE32;
        a->override = NGX_HTTP_FARM_NONE32;
    }

    a->mode = NGX_HTTP_FARM_MODE_ACTIVE;
    a->ejected = 0;
    ngx_http_farm_agent_free_meta_locked(z, a);
    ngx_http_farm_dict_use_locked(sh, a->caps, a->region, -1);
    ngx_http_farm_region_unlink_locked(sh, a);
    a->region = 0;
    ngx_http_farm_capset_unlink_locked(sh, a);

    a->state = NGX_HTTP_FARM_SLOT_FREE;

    /*
     * Requests, reservations, grants and checks still holding the slot
     * see another generation: their outcomes no longer land on it.
     */

    a->gen++;

    if (a->pick->flags & FARM_PEER_ELIGIBLE) {
        sh->eligible--;
    }

    a->pick->flags = 0;
    a->rec_hash = 0;

    if (a->health == NGX_HTTP_FARM_HEALTH_CHECKING) {
        sh->unchecked--;
    }

    if (a->breaker == NGX_HTTP_FARM_BREAKER_OPEN) {
        sh->ejected--;
        ngx_http_farm_reopen_del_locked(z, a);
    }

    ngx_http_farm_zone_peers(sh, &peers);
    farm_tree_update(&sh->tree, &peers, a->slot);
    ngx_http_farm_subsets_update_locked(z, a);
    ngx_http_farm_subsets_touch_locked(z, a);

    a->next_free = sh->free_head;
    sh->free_head = a->slot;
    sh->nagents--;
    sh->hash_dirty = 1;

    ngx_shmtx_unlock(&z->shpool->mutex);

    return NGX_OK;
}


/*
 * Rebuilds the hash ring or the weight table from the primary agents.  Only
 * the sync owner changes registry fields, so it reads them without the
 * lock, builds the new table in fresh memory, and takes the lock only to
 * swap it in.
 */

ngx_int_t
ngx_http_farm_zone_rebuild_hash(ngx_http_farm_zone_t *z)
{
    void                   *old, *table;
    uint32_t                i, n, npoints, scale;
    uint64_t                total;
    farm_ring_input_t      *in;
    ngx_http_farm_agent_t  *a;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;

    if (!sh->hash_dirty) {
        return NGX_OK;
    }

    sh->hash_dirty = 0;

    if (sh->method != NGX_HTTP_FARM_HASH
        && sh->method != NGX_HTTP_FARM_CHASH)
    {
        return NGX_OK;
    }

    in = ngx_alloc((sh->nslots + 1) * sizeof(farm_ring_input_t),
                   z->fcf->log);
    if (in == NULL) {
        sh->hash_dirty = 1;
        return NGX_ERROR;
    }

    n = 0;

    for (i = 0; i < sh->nslots; i++) {
        a = &sh->agents[i];

        if (a->state != NGX_HTTP_FARM_SLOT_UP
            || a->rec_backup)
        {
            continue;
        }

        in[n].slot = i;
        /* an operator's weight, read unlocked: a word, at worst stale */
        in[n].weight = (a->override != NGX_HTTP_FARM_NONE32
                        && sh->overrides[a->override].weight)
                       ? sh->overrides[a->override].weight : a->rec_weight;
        in[n].id = (const char *) a->id;
        in[n].id_len = a->sn.str.len;
        n++;
    }

    table = NULL;
    npoints = 0;
    total = 0;

    if (sh->method == NGX_HTTP_FARM_CHASH) {
        npoints = farm_ring_points(in, n, &scale);

        if (npoints) {
            table = ngx_slab_alloc(z->shpool, npoints * sizeof(farm_point_t));
            if (table == NULL) {
                goto nomem;
            }

            npoints = farm_ring_build(table, npoints, in, n, scale);
        }

    } else if (n) {
        table = ngx_slab_alloc(z->shpool, n * sizeof(farm_wpoint_t));
        if (table == NULL) {
            goto nomem;
        }

        total = farm_wtable_build(table, in, n);
        npoints = n;
    }

    ngx_free(in);

    ngx_shmtx_lock(&z->shpool->mutex);

    if (sh->method == NGX_HTTP_FARM_CHASH) {
        old = sh->ring;
        sh->ring = table;
        sh->nring = npoints;

    } else {
        old = sh->wtable;
        sh->wtable = table;
        sh->nwtable = npoints;
        sh->wtotal = total;
    }

    if (old) {
        ngx_slab_free_locked(z->shpool, old);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return NGX_OK;

nomem:

    ngx_free(in);
    sh->hash_dirty = 1;

    ngx_log_error(NGX_LOG_ERR, z->fcf->log, 0,
                  "farm: no room for the hash table of %uD agents%s; "
                  "keeping the previous one", n, z->shpool->log_ctx);

    return NGX_ERROR;
}


/*
 * Writes the names of the capability bits, comma-separated or as JSON
 * strings.  Returns the length written.
 */

size_t
ngx_http_farm_caps_text_locked(ngx_http_farm_shctx_t *sh, uint64_t caps,
    u_char *buf, size_t size, ngx_uint_t json)
{
    u_char      *p, *last;
    ngx_uint_t   i, first;

    p = buf;
    last = buf + size;
    first = 1;

    for (i = 0; i < sh->ncaps; i++) {
        if (!(caps & ((uint64_t) 1 << i))) {
            continue;
        }

        if (!first) {
            p = ngx_slprintf(p, last, ",");
        }

        p = ngx_slprintf(p, last, json ? "\"%s\"" : "%s", sh->caps[i]);
        first = 0;
    }

    return p - buf;
}


/*
 * The open breakers, ordered by when they half-open: a binary heap of
 * slots on agents' reopen_at, so the breaker's tick finds the due ones in
 * O(log n) each instead of scanning every agent under the lock.
 * sh->next_reopen follows its first entry.
 */

static ngx_int_t
ngx_http_farm_reopen_before(ngx_http_farm_shctx_t *sh, uint32_t i, uint32_t j)
{
    return (ngx_msec_int_t) (sh->agents[sh->reopen[i]].reopen_at
                             - sh->agents[sh->reopen[j]].reopen_at) < 0;
}


static void
ngx_http_farm_reopen_swap(ngx_http_farm_shctx_t *sh, uint32_t i, uint32_t j)
{
    uint32_t  t;

    t = sh->reopen[i];
    sh->reopen[i] = sh->reopen[j];
    sh->reopen[j] = t;

    sh->agents[sh->reopen[i]].reopen_pos = i;
    sh->agents[sh->reopen[j]].reopen_pos = j;
}


static void
ngx_http_farm_reopen_fix(ngx_http_farm_shctx_t *sh, uint32_t i)
{
    uint32_t  l, r, m;

    while (i > 0 && ngx_http_farm_reopen_before(sh, i, (i - 1) / 2)) {
        ngx_http_farm_reopen_swap(sh, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }

    for ( ;; ) {
        l = 2 * i + 1;
        r = l + 1;
        m = i;

        if (l < sh->nreopen && ngx_http_farm_reopen_before(sh, l, m)) {
            m = l;
        }

        if (r < sh->nreopen && ngx_http_farm_reopen_before(sh, r, m)) {
            m = r;
        }

        if (m == i) {
            break;
        }

        ngx_http_farm_reopen_swap(sh, i, m);
        i = m;
    }

    sh->next_reopen = sh->nreopen
                      ? sh->agents[sh->reopen[0]].reopen_at : 0;
}


void
ngx_http_farm_reopen_add_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a)
{
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;

    if (a->reopen_pos == NGX_HTTP_FARM_NONE32) {
        a->reopen_pos = sh->nreopen;
        sh->reopen[sh->nreopen++] = a->slot;
    }

    ngx_http_farm_reopen_fix(sh, a->reopen_pos);
}


void
ngx_http_farm_reopen_del_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a)
{
    uint32_t                i;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;
    i = a->reopen_pos;

    if (i == NGX_HTTP_FARM_NONE32) {
        return;
    }

    a->reopen_pos = NGX_HTTP_FARM_NONE32;
    sh->nreopen--;

    if (i != sh->nreopen) {
        sh->reopen[i] = sh->reopen[sh->nreopen];
        sh->agents[sh->reopen[i]].reopen_pos = i;
        ngx_http_farm_reopen_fix(sh, i);

    } else {
        sh->next_reopen = sh->nreopen
                          ? sh->agents[sh->reopen[0]].reopen_at : 0;
    }
}


ngx_http_farm_agent_t *
ngx_http_farm_reopen_first_locked(ngx_http_farm_zone_t *z)
{
    return z->sh->nreopen ? &z->sh->agents[z->sh->reopen[0]] : NULL;
}

