
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FARM_PICK_H_INCLUDED_
#define _NGX_HTTP_FARM_PICK_H_INCLUDED_


/*
 * Agent selection in O(log n), independent of nginx so the unit tests can
 * drive it directly.
 *
 * The tree is a tournament tree over agent slots: every inner node holds the
 * best slot of its subtree, the root the best slot overall.  "Best" is
 *
 *     available first (registered, healthy, below max_conns),
 *     primary before backup,
 *     least_conn only: lowest active / weight,
 *     lowest virtual time.
 *
 * Each pick adds FARM_VT_SCALE / weight to the picked slot's virtual time,
 * so among equals agents are picked in proportion to their weights (smooth
 * weighted round robin).  A change to one slot updates only its path to the
 * root: log2(capacity) nodes.
 *
 * The hash ring (consistent hashing) and the weight table (plain hashing)
 * are sorted arrays searched by bisection.
 */


#include <stddef.h>
#include <stdint.h>


#define FARM_PICK_RR            1
#define FARM_PICK_LEAST_CONN    2

#define FARM_SLOT_NONE          0xffffffff

#define FARM_VT_SCALE           (1u << 24)

#define FARM_PEER_ELIGIBLE      0x01    /* registered and not ejected */
#define FARM_PEER_BACKUP        0x02

#define FARM_RING_POINTS        100     /* ring points per unit of weight */
#define FARM_RING_MAX_POINTS    (1u << 20)


typedef struct {
    uint64_t        vt;
    uint32_t        active;
    uint32_t        weight;
    uint32_t        max_conns;          /* 0: unlimited */
    uint32_t        flags;
} farm_pick_peer_t;


/* Where the peers are: slot i lives at base + i * stride. */
typedef struct {
    unsigned char  *base;
    size_t          stride;
} farm_peers_t;


typedef struct {
    uint32_t       *node;               /* 2 * size entries, [0] unused */
    uint32_t        size;               /* leaves: a power of two */
    uint32_t        method;             /* FARM_PICK_RR, _LEAST_CONN */
    uint64_t        vt_now;             /* virtual time of the last pick */
} farm_tree_t;


typedef struct {
    uint32_t        hash;
    uint32_t        slot;
} farm_point_t;


typedef struct {
    uint64_t        end;                /* cumulative weight, exclusive */
    uint32_t        slot;
} farm_wpoint_t;


/* What the ring and table builders need to know about one agent. */
typedef struct {
    uint32_t        slot;
    uint32_t        weight;
    const char     *id;
    size_t          id_len;
} farm_ring_input_t;


#define farm_peer(peers, slot)                                               \
    ((farm_pick_peer_t *) ((peers)->base + (size_t) (slot) * (peers)->stride))


uint32_t farm_hash32(const void *data, size_t len);
uint32_t farm_hash_mix(uint32_t h, uint32_t n);

int farm_peer_available(const farm_pick_peer_t *p);

/* Smallest power of two >= capacity; the tree needs 2 * this nodes. */
uint32_t farm_tree_size(uint32_t capacity);
void farm_tree_init(farm_tree_t *t, uint32_t *node, uint32_t size,
    uint32_t method);
void farm_tree_update(farm_tree_t *t, farm_peers_t *peers, uint32_t slot);

/* The better of two slots (either may be FARM_SLOT_NONE) in t's order. */
uint32_t farm_tree_choose(farm_tree_t *t, farm_peers_t *peers, uint32_t a,
    uint32_t b);

/*
 * A tree over a subset of the slots: leaf pos holds slot members[pos].
 * farm_tree_build fills it from members (sorted, n <= size);
 * farm_tree_update_at refreshes one leaf; farm_members_find gives the
 * leaf of a slot, or FARM_SLOT_NONE.
 */
void farm_tree_update_at(farm_tree_t *t, farm_peers_t *peers, uint32_t pos,
    uint32_t slot);
void farm_tree_build(farm_tree_t *t, farm_peers_t *peers,
    const uint32_t *members, uint32_t n);
uint32_t farm_members_find(const uint32_t *members, uint32_t n,
    uint32_t slot);
void farm_tree_rebuild(farm_tree_t *t, farm_peers_t *peers,
    uint32_t nslots);

/*
 * The best available slot, skipping the nexclude slots in exclude (the ones
 * a request already tried), or FARM_SLOT_NONE.  Costs O(log n) plus
 * O(log n) per excluded slot that would otherwise have won.
 */
uint32_t farm_tree_best(farm_tree_t *t, farm_peers_t *peers,
    const uint32_t *exclude, uint32_t nexclude);

/* Accounts a request sent to slot (active + 1, virtual time advances). */
void farm_tree_acquire(farm_tree_t *t, farm_peers_t *peers, uint32_t slot);

/* Accounts the end of that request. */
void farm_tree_release(farm_tree_t *t, farm_peers_t *peers, uint32_t slot);

/*
 * A slot that becomes eligible again starts at the current virtual time,
 * so it takes its share from now on instead of a burst to catch up.
 */
void farm_tree_join(farm_tree_t *t, farm_peers_t *peers, uint32_t slot);

/*
 * Number of ring points for these agents, and in *scale the points per unit
 * of weight in 1/1024ths: FARM_RING_POINTS, scaled down so the ring stays
 * near FARM_RING_MAX_POINTS; at least one point per agent.
 */
uint32_t farm_ring_points(const farm_ring_input_t *in, uint32_t n,
    uint32_t *scale);

/* Fills and sorts the ring; returns the number of points written. */
uint32_t farm_ring_build(farm_point_t *points, uint32_t max,
    const farm_ring_input_t *in, uint32_t n, uint32_t scale);

/* Index of the first point at or after hash, wrapping to 0. */
uint32_t farm_ring_find(const farm_point_t *points, uint32_t npoints,
    uint32_t hash);

/* Fills the weight table; returns the total weight. */
uint64_t farm_wtable_build(farm_wpoint_t *table, const farm_ring_input_t *in,
    uint32_t n);

/* The slot owning position hash % total. */
uint32_t farm_wtable_find(const farm_wpoint_t *table, uint32_t n,
    uint64_t total, uint32_t hash);


#endif /* _NGX_HTTP_FARM_PICK_H_INCLUDED_ */
