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
    kong_chunk_t     *chunks;
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

    c = pool->chunks;

    if (c == NULL || c->size - c->used < need) {
        csize = need > KONG_POOL_CHUNK / 4 ? need : KONG_POOL_CHUNK;
        c = malloc(KONG_CHUNK_HDR + csize);
        if (c == NULL) {
            return NULL;
        }

        c->size = csize;
        c->used = 0;

        if (need > KONG_POOL_CHUNK / 4 && pool->chunks != NULL) {
            /* a big block: keep filling the current chunk afterwards */
            c->next = pool->chunks->next;
            pool->chunks->next = c;

        } else {
            c->next = pool->chunks;
            pool->chunks = c;
        }

        pool->total += KONG_CHUNK_HDR + csize;
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


char *
kong_pstrndup(kong_pool_t *pool, const char *s, size_t len)
{
    char  *p;

    p = kong_palloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    if (len) {
        memcpy(p, s, len);
    }

    p[len] = '\0';

    return p;
}


size_t
kong_pool_size(const kong_pool_t *pool)
{
    return pool->total;
}


uint64_t
kong_hash(const char *s, size_t len)
{
    uint64_t  h;
    size_t    i;

    /* FNV-1a */
    h = 14695981039346656037ULL;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 1099511628211ULL;
    }

    return h;
}


void
kong_map_init(kong_map_t *m, kong_pool_t *pool)
{
    memset(m, 0, sizeof(kong_map_t));
    m->pool = pool;
}


static kong_map_slot_t *
kong_map_find(kong_map_slot_t *slots, size_t cap, const char *key,
    size_t len)
{
    size_t            i;
    kong_map_slot_t  *s;

    i = (size_t) kong_hash(key, len) & (cap - 1);

    for ( ;; ) {
        s = &slots[i];

        if (s->key == NULL
            || (s->len == len && memcmp(s->key, key, len) == 0))
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

    s = kong_map_find(m->slots, m->cap, key, len);

    return s->key ? s->value : NULL;
}


int
kong_map_put(kong_map_t *m, const char *key, size_t len, void *value)
{
    size_t            i, cap;
    kong_map_slot_t  *slots, *s, *d;

    if ((m->n + 1) * 4 > m->cap * 3) {
        cap = m->cap ? m->cap * 2 : 16;

        /* the pool keeps the old array until the configuration is freed */
        slots = kong_palloc(m->pool, cap * sizeof(kong_map_slot_t));
        if (slots == NULL) {
            return -1;
        }

        for (i = 0; i < m->cap; i++) {
            s = &m->slots[i];
            if (s->key) {
                d = kong_map_find(slots, cap, s->key, s->len);
                *d = *s;
            }
        }

        m->slots = slots;
        m->cap = cap;
    }

    s = kong_map_find(m->slots, m->cap, key, len);

    if (s->key) {
        return 1;
    }

    s->key = key;
    s->len = len;
    s->value = value;
    m->n++;

    return 0;
}
