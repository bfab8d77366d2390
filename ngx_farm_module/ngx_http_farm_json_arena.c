
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Memory of its own for one big JSON parse (a Consul answer of up to
 * 100,000 entries) on a thread of nginx's pool, so that the parse never
 * takes a lock of glibc's heaps that the event loop may be waiting for.
 *
 * jansson's allocation hooks are the process's (set once); they look at
 * the calling thread's arena: with one entered (only during a parse),
 * jansson's blocks come out of chunks mapped for it, one after the other,
 * and jansson's frees are no-ops; without one, malloc() and free() as if
 * no hook were set.  ngx_http_farm_json_arena_leave() unmaps the whole
 * parse at once: nothing to trim, no heap left to the thread.
 *
 * Nothing jansson allocated during the parse may outlive it: the caller
 * copies what it keeps (registry/ code copies the strings jansson gives
 * it, and frees them with jansson's free function).
 */


#include "ngx_http_farm_json_arena.h"

#include <jansson.h>
#include <sys/mman.h>


#define NGX_HTTP_FARM_JSON_CHUNK  (16 * 1024 * 1024)


typedef struct ngx_http_farm_json_chunk_s  ngx_http_farm_json_chunk_t;

struct ngx_http_farm_json_chunk_s {
    ngx_http_farm_json_chunk_t    *next;
    size_t                         size;        /* all of it, mapped */
    u_char                        *pos;         /* the next free byte */
    u_char                        *last;
};


struct ngx_http_farm_json_arena_s {
    ngx_http_farm_json_chunk_t    *chunks;      /* the current one first */
};


static void *ngx_http_farm_json_malloc(size_t size);
static void ngx_http_farm_json_free(void *p);
static ngx_http_farm_json_chunk_t *ngx_http_farm_json_chunk(size_t size);


static ngx_http_farm_json_arena_t *ngx_http_farm_json_get(void);
static void ngx_http_farm_json_set(ngx_http_farm_json_arena_t *arena);


/*
 * The calling thread's arena: a pthread key rather than __thread, which
 * tcc (make demo's compiler without gcc) does not have.
 */

#if (NGX_THREADS)
static pthread_key_t                ngx_http_farm_json_key;
#else
static ngx_http_farm_json_arena_t  *ngx_http_farm_json_current;
#endif

static ngx_uint_t  ngx_http_farm_json_hooked;


/* Sets jansson's hooks, once, before any thread parses. */

void
ngx_http_farm_json_arena_init(void)
{
    if (ngx_http_farm_json_hooked) {
        return;
    }

#if (NGX_THREADS)
    if (pthread_key_create(&ngx_http_farm_json_key, NULL) != 0) {
        return;                     /* no arenas: jansson keeps malloc() */
    }
#endif

    json_set_alloc_funcs(ngx_http_farm_json_malloc, ngx_http_farm_json_free);
    ngx_http_farm_json_hooked = 1;
}


/*
 * Gives the calling thread an arena: jansson allocates there until
 * ngx_http_farm_json_arena_leave().  NULL when no memory could be mapped
 * (jansson then uses malloc(), as without an arena).
 */

ngx_http_farm_json_arena_t *
ngx_http_farm_json_arena_enter(void)
{
    ngx_http_farm_json_chunk_t  *c;
    ngx_http_farm_json_arena_t  *arena;

    if (!ngx_http_farm_json_hooked) {
        return NULL;
    }

    c = ngx_http_farm_json_chunk(0);
    if (c == NULL) {
        return NULL;
    }

    /* the arena's own header is the first block of its first chunk */

    arena = (ngx_http_farm_json_arena_t *) c->pos;
    c->pos += ngx_align(sizeof(ngx_http_farm_json_arena_t), 16);

    arena->chunks = c;
    ngx_http_farm_json_set(arena);

    return arena;
}


/* Unmaps all that jansson allocated in the arena. */

void
ngx_http_farm_json_arena_leave(ngx_http_farm_json_arena_t *arena)
{
    ngx_http_farm_json_chunk_t  *c, *next;

    if (arena == NULL) {
        return;
    }

    ngx_http_farm_json_set(NULL);

    for (c = arena->chunks; c; c = next) {
        next = c->next;
        (void) munmap(c, c->size);
    }
}


/*
 * Makes arena (NULL: none) the calling thread's, for a while, and returns
 * the one it had: a parse's callback that keeps what jansson gives it
 * runs without the parse's arena, then switches it back.
 */

ngx_http_farm_json_arena_t *
ngx_http_farm_json_arena_switch(ngx_http_farm_json_arena_t *arena)
{
    ngx_http_farm_json_arena_t  *was;

    was = ngx_http_farm_json_get();
    ngx_http_farm_json_set(arena);

    return was;
}


static ngx_http_farm_json_arena_t *
ngx_http_farm_json_get(void)
{
#if (NGX_THREADS)
    if (!ngx_http_farm_json_hooked) {
        return NULL;
    }

    return pthread_getspecific(ngx_http_farm_json_key);
#else
    return ngx_http_farm_json_current;
#endif
}


static void
ngx_http_farm_json_set(ngx_http_farm_json_arena_t *arena)
{
#if (NGX_THREADS)
    if (ngx_http_farm_json_hooked) {
        (void) pthread_setspecific(ngx_http_farm_json_key, arena);
    }
#else
    ngx_http_farm_json_current = arena;
#endif
}


static void *
ngx_http_farm_json_malloc(size_t size)
{
    u_char                      *p;
    ngx_http_farm_json_chunk_t  *c;
    ngx_http_farm_json_arena_t  *arena;

    arena = ngx_http_farm_json_get();

    if (arena == NULL) {
        return malloc(size);
    }

    size = ngx_align(size ? size : 1, 16);
    c = arena->chunks;

    if ((size_t) (c->last - c->pos) < size) {

        /* a block bigger than a quarter of a chunk gets its own */

        c = ngx_http_farm_json_chunk(size > NGX_HTTP_FARM_JSON_CHUNK / 4
                                     ? size : 0);
        if (c == NULL) {
            return NULL;
        }

        if (size > NGX_HTTP_FARM_JSON_CHUNK / 4) {
            c->next = arena->chunks->next;
            arena->chunks->next = c;

        } else {
            c->next = arena->chunks;
            arena->chunks = c;
        }
    }

    p = c->pos;
    c->pos += size;

    return p;
}


/* In an arena, a block goes with the whole arena. */

static void
ngx_http_farm_json_free(void *p)
{
    if (ngx_http_farm_json_get() == NULL) {
        free(p);
    }
}


/* A chunk for at least size bytes (0: a usual one), or NULL. */

static ngx_http_farm_json_chunk_t *
ngx_http_farm_json_chunk(size_t size)
{
    size_t                       hdr, all;
    u_char                      *p;
    ngx_http_farm_json_chunk_t  *c;

    hdr = ngx_align(sizeof(ngx_http_farm_json_chunk_t), 16);
    all = ngx_max(hdr + size, NGX_HTTP_FARM_JSON_CHUNK);
    all = ngx_align(all, 4096);

    p = mmap(NULL, all, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }

    c = (ngx_http_farm_json_chunk_t *) p;
    c->next = NULL;
    c->size = all;
    c->pos = p + hdr;
    c->last = p + all;

    return c;
}
