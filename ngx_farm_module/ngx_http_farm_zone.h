
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 2, the zone model: the shared memory of one farm upstream (every
 * struct that lives in it) and the API of ngx_http_farm_zone.c: agent
 * slots, the id index, the region and capability dictionaries, the
 * selection tree and the hash tables.  The subsets of agents by filter are
 * ngx_http_farm_subset.h.
 *
 * Who writes what (see docs/design.md, "Layers and ownership"): the zone
 * model the agents' registry fields, dictionaries, trees, ring and subsets;
 * ngx_http_farm_health.c and ngx_http_farm_breaker.c their fields of an
 * agent; ngx_http_farm_queue.c the waiters and queue counters;
 * ngx_http_farm_client.c the client-limit tree; ngx_http_farm_sync.c the
 * sync fields.  Everything under the zone's slab mutex.  A function that
 * expects the mutex held is named ..._locked; the others take it
 * themselves and must not be called with it held.
 */


#ifndef _NGX_HTTP_FARM_ZONE_H_INCLUDED_
#define _NGX_HTTP_FARM_ZONE_H_INCLUDED_


#include "ngx_http_farm_conf.h"
#include "ngx_http_farm_stats.h"

#include <farm_record.h>


#define NGX_HTTP_FARM_MAX_REGIONS      255
#define NGX_HTTP_FARM_MAX_CAPS         64   /* distinct caps per service */
#define NGX_HTTP_FARM_MAX_SUBSETS      512  /* (region, caps) trees */
#define NGX_HTTP_FARM_SUBSET_HASH      1024 /* buckets, a power of 2 */
#define NGX_HTTP_FARM_MAX_ORDER        16   /* regions tried per request */
#define NGX_HTTP_FARM_AGENT_SUBSETS    8    /* memberships kept per agent */
#define NGX_HTTP_FARM_ERROR_LEN        64
#define NGX_HTTP_FARM_OWNERS           32   /* worker processes tracked */
#define NGX_HTTP_FARM_OWNER_NONE       NGX_HTTP_FARM_OWNERS

#define NGX_HTTP_FARM_NONE32           0xffffffff

/* agent slot states */
#define NGX_HTTP_FARM_SLOT_FREE        0
#define NGX_HTTP_FARM_SLOT_UP          1

/* active health (ngx_http_farm_health.c) */
#define NGX_HTTP_FARM_HEALTH_UP        0    /* also: not checked */
#define NGX_HTTP_FARM_HEALTH_DOWN      1
#define NGX_HTTP_FARM_HEALTH_CHECKING  2    /* new, waits for a first check */
#define NGX_HTTP_FARM_JOINED           1024 /* slots that joined, kept */

/* passive circuit breaker (ngx_http_farm_breaker.c) */
#define NGX_HTTP_FARM_BREAKER_CLOSED   0
#define NGX_HTTP_FARM_BREAKER_OPEN     1
#define NGX_HTTP_FARM_BREAKER_HALF     2

/* operator overrides (ngx_http_farm_override.c, farm_admin) */
#define NGX_HTTP_FARM_MODE_ACTIVE      0
#define NGX_HTTP_FARM_MODE_DRAINING    1    /* no new requests */
#define NGX_HTTP_FARM_MODE_MAINTENANCE 2    /* out, and not checked */

/* where an override came from (farm_admin write=registry) */
#define NGX_HTTP_FARM_OV_LOCAL         0    /* this gateway's only */
#define NGX_HTTP_FARM_OV_REGISTRY      1    /* the registry's */
#define NGX_HTTP_FARM_OV_SWEEP         2    /* the registry's, not seen yet */
#define NGX_HTTP_FARM_MAX_OVERRIDES    1024 /* agents with one, per farm */

/*
 * What a mutator changed, for its caller to act on (the zone model never
 * calls up): CAPACITY, an agent may take requests it could not take before,
 * so waiters may be served (ngx_http_farm_queue_dispatch_locked()).
 */
#define NGX_HTTP_FARM_CHANGED_CAPACITY    0x01
#define NGX_HTTP_FARM_CHANGED_ELIGIBLE    0x02
#define NGX_HTTP_FARM_CHANGED_OVERRIDE    0x80 /* put_locked: a new value */


/*
 * One agent, in shared memory.  The registry fields are written only by
 * the sync owner; the pick fields by every worker.  All under the zone's
 * slab mutex.
 */
typedef struct {
    ngx_str_node_t                 sn;          /* by id, in sh->ids */
    u_char                         id[FARM_ID_MAX];

    farm_pick_peer_t              *pick;        /* &sh->picks[slot] */

    uint32_t                       slot;
    uint32_t                       gen;         /* bumps on slot reuse */
    uint32_t                       next_free;
    ngx_uint_t                     state;

    uint32_t                       rec_hash;    /* of the record's JSON */
    ngx_uint_t                     seen;        /* full sync epoch */
    time_t                         since;       /* registered at */
    int64_t                        ts;          /* record's "ts", sync.c */

    ngx_sockaddr_t                 sockaddr;
    socklen_t                      socklen;
    u_char                         name[NGX_SOCKADDR_STRLEN];
    size_t                         name_len;

    uint64_t                       caps;        /* bits of sh->caps */
    ngx_uint_t                     region;      /* 1 + index in sh->regions */
    uint32_t                       region_next; /* 1 + slot, in the list */
    uint32_t                       region_prev; /* of its region; 0: none */
    uint32_t                       capset;      /* its caps' set, or NONE */
    uint32_t                       list_next;   /* 1 + slot, in the list */
    uint32_t                       list_prev;   /* of its caps' set */

    u_char                        *meta;        /* slab, JSON object */
    size_t                         meta_len;

    /* the subsets it is in, and its leaf in each (ngx_http_farm_subset.c) */
    uint16_t                       nsubs;
    uint16_t                       subs_overflow;
    uint16_t                       sub[NGX_HTTP_FARM_AGENT_SUBSETS];
    uint32_t                       sub_pos[NGX_HTTP_FARM_AGENT_SUBSETS];

    /* the record's values; pick holds the effective ones */
    uint32_t                       rec_weight;
    uint32_t                       rec_max_conns;
    ngx_uint_t                     rec_backup;

    uint64_t                       requests;
    uint64_t                       failures;
    uint64_t                       errors;      /* 5xx, connect failures */
    uint32_t                       latency;     /* moving average, ms * 16 */
    uint32_t                       override;    /* in sh->overrides, or NONE */
    uint8_t                        mode;        /* the override's, mirrored */
    uint8_t                        ejected;     /* by an operator, likewise */
    ngx_msec_t                     heard;       /* the registry showed it */

    /* active health checks */
    uint8_t                        health;      /* NGX_HTTP_FARM_HEALTH_* */
    uint8_t                        draining;    /* the agent says so */
    uint16_t                       passes;      /* in a row */
    uint16_t                       fails;       /* in a row */
    uint32_t                       rep_weight;  /* reported; 0: none */
    uint32_t                       rep_inflight;
    ngx_msec_t                     next_check;
    uint64_t                       checks;
    uint64_t                       checks_failed;
    time_t                         last_check;
    u_char                         check_error[NGX_HTTP_FARM_ERROR_LEN];

    /* passive circuit breaker */
    uint8_t                        breaker;     /* NGX_HTTP_FARM_BREAKER_* */
    uint32_t                       bfails;      /* failures in a row */
    uint32_t                       ejections;   /* in a row, for cooldown */
    ngx_msec_t                     reopen_at;   /* open until */
    time_t                         reopen_time; /* the same, wall clock */
    ngx_msec_t                     closed_at;
    uint32_t                       reopen_pos;  /* in sh->reopen, or NONE */
} ngx_http_farm_agent_t;


/* the agents of one (region, capabilities) filter: ngx_http_farm_subset.c */
typedef struct {
    ngx_uint_t                     used;        /* 0: free */
    ngx_queue_t                    lru;         /* in sh->subset_lru */
    uint32_t                       hnext;       /* in its hash bucket */
    ngx_uint_t                     region;      /* 1 + index; 0: any */
    uint64_t                       caps;
    ngx_uint_t                     stale;
    uint32_t                      *members;     /* slots, sorted */
    uint32_t                       nmembers;
    farm_tree_t                    tree;
} ngx_http_farm_subset_t;


/*
 * What an operator set for one agent id (farm_admin): kept by id, so that
 * an agent that leaves the registry and comes back finds it again.  Owned
 * by ngx_http_farm_override.c; an agent points at its entry (O(1) on the
 * request path).  An entry back at the defaults is freed.
 */
typedef struct {
    u_char                         id[FARM_ID_MAX];
    uint16_t                       id_len;      /* 0: free */
    uint8_t                        mode;        /* NGX_HTTP_FARM_MODE_* */
    uint8_t                        origin;      /* NGX_HTTP_FARM_OV_* */
    uint32_t                       weight;      /* 0: the agent's own */
    ngx_msec_t                     ejected_until; /* 0: not ejected */
    uint32_t                       slot;        /* its agent, or NONE */
    uint32_t                       stamp;       /* set here (ms), 0: read */
} ngx_http_farm_override_t;


/* the queue's shared part (ngx_http_farm_queue.c) */
typedef struct ngx_http_farm_queue_sh_s  ngx_http_farm_queue_sh_t;

/* the concurrent requests of one client (ngx_http_farm_client.c) */
typedef struct ngx_http_farm_client_s    ngx_http_farm_client_t;

/* the built-in registry's leases (ngx_http_farm_lease.c) */
typedef struct ngx_http_farm_leases_s    ngx_http_farm_leases_t;

/* the agents of each capability set (ngx_http_farm_lists.c) */
typedef struct ngx_http_farm_capsets_s   ngx_http_farm_capsets_t;


/*
 * A worker process using the zone (ngx_http_farm_zone.c): what it holds is
 * counted under its index, so that what a worker that died held is given
 * back when a worker next starts.
 */
typedef struct {
    ngx_pid_t                      pid;         /* 0: free */
    ngx_uint_t                     worker;      /* its ngx_worker */
    uint64_t                       tag;         /* its cycle's (fmcf->tag) */
} ngx_http_farm_owner_t;


typedef struct {
    ngx_rbtree_t                   ids;
    ngx_rbtree_node_t              sentinel;

    uint32_t                       capacity;
    uint32_t                       nslots;      /* slots ever used */
    uint32_t                       nagents;     /* registered now */
    uint32_t                       free_head;
    ngx_http_farm_agent_t         *agents;

    /*
     * What selection compares, apart from the agents: 24 bytes per agent,
     * so the tree's walks stay in the cache even for 10,000 agents.
     */
    farm_pick_peer_t              *picks;

    farm_tree_t                    tree;
    ngx_uint_t                     method;

    /* hash balancing, rebuilt by the sync owner */
    farm_point_t                  *ring;
    uint32_t                       nring;
    farm_wpoint_t                 *wtable;
    uint32_t                       nwtable;
    uint64_t                       wtotal;
    ngx_uint_t                     hash_dirty;

    /*
     * The names agents use, each counted by the agents using it: a name
     * no agent uses any more leaves its entry to the next new name.
     */
    u_char                         regions[NGX_HTTP_FARM_MAX_REGIONS]
                                          [FARM_REGION_MAX + 1];
    uint32_t                       region_refs[NGX_HTTP_FARM_MAX_REGIONS];
    uint32_t                       region_first[NGX_HTTP_FARM_MAX_REGIONS];
                                                /* 1 + slot; 0: none */
    ngx_uint_t                     nregions;    /* entries ever used */
    u_char                         caps[NGX_HTTP_FARM_MAX_CAPS]
                                       [FARM_CAP_MAX + 1];
    uint32_t                       cap_refs[NGX_HTTP_FARM_MAX_CAPS];
    ngx_uint_t                     ncaps;       /* entries ever used */
    ngx_http_farm_capsets_t       *capsets;     /* agents by set, listed */

    /* sync */
    u_char                         source[FARM_HOST_MAX + 2 * FARM_ID_MAX];
    ngx_uint_t                     owner_epoch;
    ngx_uint_t                     sync_epoch;
    ngx_uint_t                     registry_up;
    time_t                         last_sync;   /* last full sync */
    uint64_t                       syncs;
    uint64_t                       sync_errors;
    ngx_uint_t                     bad_records; /* in the last full sync */
    ngx_uint_t                     bad_now;     /* in the one running */
    ngx_uint_t                     seen_now;    /* good records, likewise */

    /* filtered selection */
    ngx_http_farm_subset_t        *subsets;     /* NGX_HTTP_FARM_MAX_SUBSETS */
    uint32_t                       subset_hash[NGX_HTTP_FARM_SUBSET_HASH];
    ngx_queue_t                    subset_lru;  /* most recent first */
    ngx_uint_t                     subsets_stale;
    ngx_uint_t                     subset_nomem_logged;

    /* the queue */
    ngx_http_farm_queue_sh_t      *queue;       /* its lists, qmax waiters */
    uint32_t                       qmax;
    uint32_t                       qlen;        /* waiting now */
    uint64_t                       queued;
    uint64_t                       dispatched;
    uint64_t                       timed_out;
    uint64_t                       queue_full;
    uint64_t                       wait_total;  /* ms, of the dispatched */
    ngx_msec_t                     wait_max;

    /* farm_client_limit */
    ngx_rbtree_t                   clients;
    ngx_rbtree_node_t              clients_sentinel;
    uint64_t                       client_limited;
    ngx_uint_t                     client_nomem_logged;

    /* health and breakers */
    ngx_uint_t                     eligible;    /* agents not out */
    ngx_uint_t                     unchecked;   /* agents in CHECKING */
    ngx_uint_t                     ejected;     /* breakers open */
    ngx_msec_t                     next_reopen; /* earliest reopen_at */

    /* the slots that got a new agent, the last NGX_HTTP_FARM_JOINED */
    uint32_t                       joined[NGX_HTTP_FARM_JOINED];
    ngx_uint_t                     joined_seq;  /* how many ever */

    uint64_t                       requests;
    uint64_t                       no_agent;    /* requests with no agent */

    /* open breakers by reopen_at, a binary heap of slots (breaker.c) */
    uint32_t                      *reopen;
    uint32_t                       nreopen;

    /*
     * Who holds what: each worker process attaches as an owner and counts,
     * per agent, the agents it holds for requests (held[slot *
     * NGX_HTTP_FARM_OWNERS + owner]: in flight, reserved at admission,
     * granted to a waiter); its waiters and client counts carry its index
     * too.  What a worker that died held is given back when a worker next
     * attaches.
     */
    ngx_http_farm_owner_t          owners[NGX_HTTP_FARM_OWNERS];
    uint32_t                      *held;
    uint64_t                       reclaimed;   /* given back, in all */

    /* operator overrides (ngx_http_farm_override.c) */
    ngx_http_farm_override_t      *overrides;   /* MAX_OVERRIDES */
    uint32_t                       noverrides;  /* entries in use */
    ngx_msec_t                     next_expire; /* earliest ejection end */

    /* tries that ended, for farm_status's summary (balancer) */
    uint64_t                       completed;
    uint64_t                       failed;
    /* farm_registry builtin: its leases (ngx_http_farm_lease.c), or NULL */
    ngx_http_farm_leases_t        *leases;
    /* what farm_metrics exposes, each written by its owner (stats.h) */
    ngx_http_farm_stats_t          stats;
} ngx_http_farm_shctx_t;


typedef struct {
    ngx_http_farm_shctx_t         *sh;
    ngx_slab_pool_t               *shpool;
    ngx_http_farm_srv_conf_t      *fcf;
} ngx_http_farm_zone_t;


/* ngx_http_farm_zone.c */
size_t ngx_http_farm_zone_size(ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_zone_init(ngx_shm_zone_t *shm_zone,
    ngx_http_farm_srv_conf_t *fcf);
ngx_int_t ngx_http_farm_zone_reuse(ngx_shm_zone_t *shm_zone,
    ngx_http_farm_srv_conf_t *fcf);
void ngx_http_farm_zone_get(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_zone_t *z);
ngx_http_farm_agent_t *ngx_http_farm_agent_lookup_locked(
    ngx_http_farm_zone_t *z, u_char *id, size_t len);
ngx_int_t ngx_http_farm_agent_apply(ngx_http_farm_zone_t *z,
    farm_record_t *rec, uint32_t rec_hash, ngx_str_t *why);
ngx_int_t ngx_http_farm_agent_remove(ngx_http_farm_zone_t *z,
    u_char *id, size_t len);
ngx_uint_t ngx_http_farm_agent_refresh_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a);
const char *ngx_http_farm_agent_state_locked(ngx_http_farm_agent_t *a);
ngx_int_t ngx_http_farm_zone_rebuild_hash(ngx_http_farm_zone_t *z);
size_t ngx_http_farm_caps_text_locked(ngx_http_farm_shctx_t *sh,
    uint64_t caps, u_char *buf, size_t size, ngx_uint_t json);


/* The selection tree's view of the agents: their pick fields. */

static ngx_inline void
ngx_http_farm_zone_peers(ngx_http_farm_shctx_t *sh, farm_peers_t *peers)
{
    peers->base = (unsigned char *) sh->picks;
    peers->stride = sizeof(farm_pick_peer_t);
}


/*
 * Gives back, locked, what the owners marked in dead[NGX_HTTP_FARM_OWNERS]
 * left in the layers above (waiters, client counts), for
 * ngx_http_farm_owner_attach() and _detach(); their agents' counts are
 * given back by the zone itself, after it.
 */
typedef void (*ngx_http_farm_owner_gone_pt)(ngx_http_farm_zone_t *z,
    u_char *dead, void *data);

ngx_uint_t ngx_http_farm_owner_attach(ngx_http_farm_zone_t *z, ngx_pid_t pid,
    ngx_uint_t worker, uint64_t tag, ngx_http_farm_owner_gone_pt gone,
    void *data, uint64_t *reclaimed, ngx_uint_t *dead);
void ngx_http_farm_owner_detach(ngx_http_farm_zone_t *z, ngx_uint_t owner,
    ngx_http_farm_owner_gone_pt gone, void *data);
void ngx_http_farm_owner_hold_locked(ngx_http_farm_zone_t *z, uint32_t slot,
    ngx_uint_t owner, ngx_int_t delta);


/* ngx_http_farm_override.c */
ngx_http_farm_override_t *ngx_http_farm_override_find_locked(
    ngx_http_farm_zone_t *z, u_char *id, size_t len);
ngx_http_farm_override_t *ngx_http_farm_override_get_locked(
    ngx_http_farm_zone_t *z, u_char *id, size_t len);
ngx_uint_t ngx_http_farm_override_set_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_override_t *ov, ngx_uint_t old_mode, uint32_t old_weight);
void ngx_http_farm_override_link_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a);
ngx_uint_t ngx_http_farm_override_expire_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t **changed, ngx_uint_t max);
ngx_int_t ngx_http_farm_override_put_locked(ngx_http_farm_zone_t *z,
    u_char *id, size_t len, ngx_uint_t mode, uint32_t weight,
    ngx_msec_t until, ngx_uint_t origin, ngx_msec_t read_at,
    ngx_uint_t *changed, ngx_http_farm_agent_t **agent);
void ngx_http_farm_override_sweep_begin_locked(ngx_http_farm_zone_t *z);
ngx_uint_t ngx_http_farm_override_sweep_end_locked(ngx_http_farm_zone_t *z,
    ngx_msec_t read_at, ngx_http_farm_agent_t **changed, ngx_uint_t max);
ngx_http_farm_override_t *ngx_http_farm_override_next_locked(
    ngx_http_farm_shctx_t *sh, uint32_t *i);
const char *ngx_http_farm_mode_name(ngx_uint_t mode);


void ngx_http_farm_reopen_add_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a);
void ngx_http_farm_reopen_del_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a);
ngx_http_farm_agent_t *ngx_http_farm_reopen_first_locked(
    ngx_http_farm_zone_t *z);


#endif /* _NGX_HTTP_FARM_ZONE_H_INCLUDED_ */
