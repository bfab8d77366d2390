/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The pool that owns one loaded configuration, and a string hash map.
 */

#include <stdlib.h>
#include <string.h>

#include "kong_int.h"


#define KONG_POOL_CHUNK  (64 * 1024)
#define KONG_ALIGN       16


typedef struct kong_chunk_s  kong_chunk_t;

struct kong_chunk_s {
    kong_chunk_t   *next;
    size_t          size;
    size_t          used;
    /* data follows, aligned */
};

typedef struct kong_cleanup_s  kong_cleanup_t;

struct kong_cleanup_s {
    kong_cleanup_t   *next;
    void            (*handler)(void *data);
    void             *data;
};

struct kong_pool_s {
    kong_chunk_t     *chunks;     /* all of them */
    kong_chunk_t     *cur;        /* where kong_palloc() allocates */
    kong_chunk_t     *text;       /* where kong_pstrndup() copies to */
    kong_cleanup_t   *cleanups;
    size_t            total;
};


#define KONG_CHUNK_HDR                                                     \
    ((sizeof(kong_chunk_t) + KONG_ALIGN - 1) & ~(size_t) (KONG_ALIGN - 1))


kong_pool_t *
kong_pool_create(void)
{
    return calloc(1, sizeof(kong_pool_t));
}


void
kong_pool_destroy(kong_pool_t *pool)
{
    kong_chunk_t    *c, *next;
    kong_cleanup_t  *cl;

    if (pool == NULL) {
        return;
    }

    for (cl = pool->cleanups; cl != NULL; cl = cl->next) {
        cl->handler(cl->data);
    }

    for (c = pool->chunks; c != NULL; c = next) {
        next = c->next;
        free(c);
    }

    free(pool);
}


void *
kong_palloc(kong_pool_t *pool, size_t size)
{
    size_t         need, csize;
    kong_chunk_t  *c;
    char          *p;

    need = (size + KONG_ALIGN - 1) & ~(size_t) (KONG_ALIGN - 1);
    if (need < size) {
        return NULL;
    }

    c = pool->cur;

    if (c == NULL || c->size - c->used < need) {
        csize = need > KONG_POOL_CHUNK / 4 ? need : KONG_POOL_CHUNK;
        c = malloc(KONG_CHUNK_HDR + csize);
        if (c == NULL) {
            return NULL;
        }

        c->size = csize;
        c->used = 0;
        c->next = pool->chunks;
        pool->chunks = c;
        pool->total += KONG_CHUNK_HDR + csize;

        /* a big block: keep filling the current chunk afterwards */
        if (need <= KONG_POOL_CHUNK / 4 || pool->cur == NULL) {
            pool->cur = c;
        }
    }

    p = (char *) c + KONG_CHUNK_HDR + c->used;
    c->used += need;
    memset(p, 0, size);

    return p;
}


int
kong_pool_cleanup(kong_pool_t *pool, void (*handler)(void *data),
    void *data)
{
    kong_cleanup_t  *cl;

    cl = kong_palloc(pool, sizeof(kong_cleanup_t));
    if (cl == NULL) {
        return -1;
    }

    cl->handler = handler;
    cl->data = data;
    cl->next = pool->cleanups;
    pool->cleanups = cl;

    return 0;
}


/*
 * Strings need no alignment: they are packed into chunks of their own, so
 * that a million short keys do not each take a 16-byte slot.
 */
char *
kong_pstrndup(kong_pool_t *pool, const char *s, size_t len)
{
    char          *p;
    kong_chunk_t  *c;

    if (len + 1 > KONG_POOL_CHUNK / 4) {
        p = kong_palloc(pool, len + 1);
        if (p == NULL) {
            return NULL;
        }

    } else {
        c = pool->text;

        if (c == NULL || c->size - c->used < len + 1) {
            c = malloc(KONG_CHUNK_HDR + KONG_POOL_CHUNK);
            if (c == NULL) {
                return NULL;
            }

            c->size = KONG_POOL_CHUNK;
            c->used = 0;
            c->next = pool->chunks;
            pool->chunks = c;
            pool->text = c;
            pool->total += KONG_CHUNK_HDR + KONG_POOL_CHUNK;
        }

        p = (char *) c + KONG_CHUNK_HDR + c->used;
        c->used += len + 1;
    }

    if (len) {
        memcpy(p, s, len);
    }

    p[len] = '\0';

    return p;
}


/*
 * Frees everything allocated from the pool but its first chunk, which is
 * kept for what comes next.  The pool must have no cleanups.
 */
void
kong_pool_reset(kong_pool_t *pool)
{
    kong_chunk_t  *c, *next, *keep;

    keep = NULL;

    for (c = pool->chunks; c != NULL; c = next) {
        next = c->next;

        if (keep == NULL && c == pool->cur && c->size == KONG_POOL_CHUNK) {
            keep = c;
            continue;
        }

        free(c);
    }

    pool->chunks = keep;
    pool->cur = keep;
    pool->text = NULL;
    pool->total = 0;

    if (keep) {
        keep->next = NULL;
        keep->used = 0;
        pool->total = KONG_CHUNK_HDR + KONG_POOL_CHUNK;
    }
}


size_t
kong_pool_size(const kong_pool_t *pool)
{
    return pool->total;
}


/*
 * Eight bytes at a time, each word folded in with a multiply and a shift,
 * and a final mix so that the low bits (the map's index) depend on every
 * byte.
 */
uint64_t
kong_hash(const char *s, size_t len)
{
    uint64_t  h, w;

    h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t) len * 0xff51afd7ed558ccdULL);

    while (len >= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 29;
        s += 8;
        len -= 8;
    }

    w = 0;
    if (len) {
        memcpy(&w, s, len);
    }

    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 29;

    return h;
}


void
kong_map_init(kong_map_t *m, kong_pool_t *pool)
{
    memset(m, 0, sizeof(kong_map_t));
    m->pool = pool;
}


static kong_map_slot_t *
kong_map_find(kong_map_slot_t *slots, size_t cap, uint32_t hash,
    const char *key, size_t len)
{
    size_t            i;
    kong_map_slot_t  *s;

    i = hash & (cap - 1);

    for ( ;; ) {
        s = &slots[i];

        if (s->key == NULL
            || (s->hash == hash && s->len == len
                && memcmp(s->key, key, len) == 0))
        {
            return s;
        }

        i = (i + 1) & (cap - 1);
    }
}


void *
kong_map_get(const kong_map_t *m, const char *key, size_t len)
{
    kong_map_slot_t  *s;

    if (m->cap == 0) {
        return NULL;
    }

    s = kong_map_find(m->slots, m->cap, (uint32_t) kong_hash(key, len), key,
                      len);

    return s->key ? s->value : NULL;
}


/* Room for n keys in all without growing; -1 on allocation failure. */
int
kong_map_reserve(kong_map_t *m, size_t n)
{
    size_t            i, cap;
    kong_map_slot_t  *slots, *s, *d;

    for (cap = m->cap ? m->cap : 16; n * 4 > cap * 3; cap *= 2) {
        /* void */
    }

    if (cap == m->cap) {
        return 0;
    }

    /* a pool keeps the old array until the configuration is freed */
    slots = m->pool ? kong_palloc(m->pool, cap * sizeof(kong_map_slot_t))
                    : calloc(cap, sizeof(kong_map_slot_t));
    if (slots == NULL) {
        return -1;
    }

    for (i = 0; i < m->cap; i++) {
        s = &m->slots[i];
        if (s->key) {
            d = kong_map_find(slots, cap, s->hash, s->key, s->len);
            *d = *s;
        }
    }

    if (m->pool == NULL) {
        free(m->slots);
    }

    m->slots = slots;
    m->cap = cap;

    return 0;
}


void
kong_map_free(kong_map_t *m)
{
    if (m->pool == NULL) {
        free(m->slots);
    }

    m->slots = NULL;
    m->n = 0;
    m->cap = 0;
}


int
kong_map_put(kong_map_t *m, const char *key, size_t len, void *value)
{
    uint32_t          hash;
    kong_map_slot_t  *s;

    if (len > UINT32_MAX) {
        return -1;
    }

    if ((m->n + 1) * 4 > m->cap * 3
        && kong_map_reserve(m, m->cap ? m->cap : 12) != 0)
    {
        return -1;
    }

    hash = (uint32_t) kong_hash(key, len);
    s = kong_map_find(m->slots, m->cap, hash, key, len);

    if (s->key) {
        return 1;
    }

    s->key = key;
    s->len = (uint32_t) len;
    s->hash = hash;
    s->value = value;
    m->n++;

    return 0;
}
