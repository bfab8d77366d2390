/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Internals shared by the kong-compat sources: the memory pool that owns a
 * configuration, a string hash map, the YAML node tree and the router's
 * entry points.  Not part of the public API (kong.h).
 */

#ifndef KONG_INT_H
#define KONG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kong.h"


/* ---- pool: a bump allocator; everything is freed at once ------------- */

typedef struct kong_pool_s  kong_pool_t;

kong_pool_t *kong_pool_create(void);
void kong_pool_destroy(kong_pool_t *pool);

/* Zeroed memory, aligned for any type; NULL on allocation failure. */
void *kong_palloc(kong_pool_t *pool, size_t size);

/* Runs handler(data) when the pool is destroyed; -1 on allocation failure. */
int kong_pool_cleanup(kong_pool_t *pool, void (*handler)(void *data),
    void *data);

/* A NUL-terminated copy of s[0..len), not aligned. */
char *kong_pstrndup(kong_pool_t *pool, const char *s, size_t len);

/* Frees all but the first chunk; for a pool without cleanups. */
void kong_pool_reset(kong_pool_t *pool);

/* Bytes allocated so far (for memory reports). */
size_t kong_pool_size(const kong_pool_t *pool);


/* ---- string map: open addressing, keys are not copied ---------------- */

typedef struct {
    const char     *key;
    uint32_t        len;
    uint32_t        hash;       /* the low bits of kong_hash() */
    void           *value;
} kong_map_slot_t;

typedef struct {
    kong_map_slot_t    *slots;
    size_t              n;          /* used */
    size_t              cap;        /* power of two */
    kong_pool_t        *pool;
} kong_map_t;

/* With pool NULL, the map's array is malloc()ed: kong_map_free() frees
 * it, and growing frees the old one. */
void kong_map_init(kong_map_t *m, kong_pool_t *pool);
void kong_map_free(kong_map_t *m);
void *kong_map_get(const kong_map_t *m, const char *key, size_t len);

/* Returns 0, 1 if the key was already there (value untouched), -1 on
 * allocation failure. */
int kong_map_put(kong_map_t *m, const char *key, size_t len, void *value);

/* Room for n keys without growing; -1 on allocation failure. */
int kong_map_reserve(kong_map_t *m, size_t n);

uint64_t kong_hash(const char *s, size_t len);

/* d[0..n) as 2n lower-case hex digits and a NUL into out (kong_uuid.c) */
void kong_hex(const unsigned char *d, size_t n, char *out);

/*
 * A uuid in version-5 form (lower case, 36 bytes + NUL into out) from
 * sha1(a[0..alen) b[0..blen)): with a = a namespace uuid's 16 bytes, RFC
 * 4122's name-based uuid.  mdc: an EVP_MD_CTX * to reuse, or NULL.  0, or
 * -1 when OpenSSL fails (kong_uuid.c).
 */
int kong_uuid_sha1(void *mdc, const void *a, size_t alen, const char *b,
    size_t blen, char out[37]);


/* ---- YAML tree (kong_yaml.c) ----------------------------------------- */

#define KONG_NODE_SCALAR  1
#define KONG_NODE_SEQ     2
#define KONG_NODE_MAP     3

/* resolved type of a scalar */
#define KONG_SCALAR_STR    0
#define KONG_SCALAR_NULL   1
#define KONG_SCALAR_BOOL   2
#define KONG_SCALAR_INT    3
#define KONG_SCALAR_FLOAT  4

struct kong_node_s {
    int             type;
    unsigned        line;
    unsigned        col;
    /* scalar */
    const char     *str;
    size_t          len;
    int             scalar;     /* KONG_SCALAR_*; quoted ones are strings */
    int             boolean;
    double          number;
    /* sequence: items[0..n); mapping: keys[i] -> items[i] */
    kong_node_t   **keys;
    kong_node_t   **items;
    size_t          n;
    int             streamed;   /* a sequence whose items went to the
                                   stream (n is 0) */
};

/*
 * Streaming: the items of a sequence under a key of the root mapping can be
 * handed over one by one as soon as each is parsed, and freed after, so
 * that a file of a million consumers never exists whole as a tree.
 * want() is asked when such a sequence starts (root: the mapping so far;
 * streamable: 0 when the sequence has an anchor, since an alias may use it
 * whole later) and says 1 to stream it.  item() returns 0 to free the item, 1 to
 * keep its nodes as long as the tree's pool, -1 when out of memory.
 */
typedef struct {
    int           (*want)(void *data, const kong_node_t *root,
                          const kong_node_t *key, int streamable);
    int           (*item)(void *data, const kong_node_t *key, size_t index,
                          const kong_node_t *item);
    void           *data;
} kong_yaml_stream_t;

/*
 * Parses YAML text (or, when text is NULL, the file f, read a piece at a
 * time) into a tree allocated from pool, the scalars' text from strs (or
 * pool when NULL).  Aliases share the anchored node; merge
 * keys ("<<") are expanded.  stream may be NULL.  Returns the root node
 * (NULL for an empty document: *root = NULL and 0), or -1 with a message
 * and its position in err / *line / *col.
 */
int kong_yaml_parse(kong_pool_t *pool, kong_pool_t *strs,
    const kong_yaml_stream_t *stream, const char *text, size_t len, FILE *f,
    kong_node_t **root, char *err, size_t err_size, unsigned *line,
    unsigned *col);

/* The value of key in a mapping, or NULL. */
kong_node_t *kong_node_get(const kong_node_t *map, const char *key);

int kong_node_is_null(const kong_node_t *n);

/* The name of a node's type, "a string", for messages. */
const char *kong_node_kind(const kong_node_t *n);


/* ---- router (kong_router.c) ------------------------------------------ */

/* Builds cfg->router from cfg->routes; -1 on allocation failure. */
int kong_router_build(kong_config_t *cfg, kong_pool_t *pool);
void kong_router_free(kong_router_t *router);

/* ---- regex paths (kong_regex.c) ------------------------------------- */

size_t kong_regex_literal(const char *re, size_t len);

/* kong_ring.c: lays out a consistent-hashing upstream's ring; 0, or -1 */
int kong_ring_build(kong_pool_t *pool, kong_upstream_t *u);

#endif /* KONG_INT_H */
