
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * One answer of Consul's /v1/health/service, from its body to the zone,
 * without holding the sync owner's event loop (which serves requests too)
 * for long, whatever the number of entries.
 *
 * The parse (registry/farm_consul.c: jansson's json_loadb() of one entry
 * at a time, each to a record) is the costly part, O(n) in the answer's
 * bytes: with nginx threads it runs on a thread of the pool that
 * farm_registry's thread_pool= names ("default"), and writes each entry,
 * in order, into one packed buffer (about a hundred bytes an entry, not a
 * farm_record_t's 2.5k).  The thread touches neither the zone nor nginx's
 * pools and logs nothing; jansson's blocks, one entry's tree at a time,
 * are reused in the thread's own heap.  The packed entries are a mapping
 * of their own and the body's buffer is kept for the next answer
 * (ngx_http_farm_consul_answer_spare()), both from one answer to the next:
 * mapping, faulting in and unmapping some 100 MB per answer cost the event
 * loop tens of ms each time.  Without threads (or when the post fails)
 * the same function runs on the event loop.
 *
 * Back on the event loop, the entries go into the zone as a full sync
 * (ngx_http_farm_sync_begin(), one ngx_http_farm_sync_parsed() per entry,
 * ngx_http_farm_sync_end()) NGX_HTTP_FARM_CONSUL_BATCH entries per turn
 * of the loop (a posted event on ngx_posted_next_events), so requests run
 * between batches.  An unchanged entry costs a hash and one O(log n)
 * lookup under the zone lock; a changed one the usual apply.  An answer
 * the same as the last one applied (its CRC32, taken on the thread) is
 * not parsed at all, for a minute after that apply.
 *
 * A worker that dies during a parse or between batches leaves nothing in
 * the zone but a sync begun and not ended, which the respawned owner's
 * first full sync (a new owner epoch, a new sync epoch) replaces; the
 * buffers were the dead process's own memory.
 */


#include "ngx_http_farm_consul.h"
#include "ngx_http_farm_sync.h"

#include <farm_consul.h>

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif

#include <sys/mman.h>


#define NGX_HTTP_FARM_CONSUL_BATCH  256         /* entries per loop turn */
#define NGX_HTTP_FARM_CONSUL_BAD    255         /* a malformed entry */
#define NGX_HTTP_FARM_CONSUL_AGAIN  60000       /* ms, a same answer again */
#define NGX_HTTP_FARM_CONSUL_SPARE  1048576     /* kept whatever its use */


/* the header of one packed entry; its strings follow, NUL-terminated */
typedef struct {
    uint32_t                       size;        /* all of it, 8-aligned */
    uint32_t                       health;      /* FARM_CONSUL_*, BAD */
    uint64_t                       version;     /* Service.ModifyIndex */
    int64_t                        ts;
    uint32_t                       port;
    uint32_t                       weight;
    uint32_t                       max_conns;
    uint16_t                       ncaps;
    uint8_t                        backup;
    uint8_t                        meta;        /* 1: a meta string */
} ngx_http_farm_consul_packed_t;


struct ngx_http_farm_consul_answer_s {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_log_t                     *log;

    ngx_http_farm_consul_answer_pt done;
    void                          *data;

    /* the thread's, from the post to the task's event */
    u_char                        *body;        /* malloc'd */
    size_t                         len;
    size_t                         size;        /* allocated */

    u_char                        *spare;       /* the last body's buffer */
    size_t                         spare_size;

    u_char                        *out;         /* packed, mmap'd */
    size_t                         out_len;
    size_t                         out_size;
    ngx_uint_t                     entries;
    ngx_int_t                      rc;
    char                           err[FARM_ERR_MAX];
    uint32_t                       crc;         /* of this body */
    uint32_t                       last_crc;    /* of the last applied */
    ngx_msec_t                     last_applied;
    unsigned                       same:1;      /* the thread skipped it */
    unsigned                       may_skip:1;

    size_t                         pos;         /* the next to apply */
    ngx_event_t                    apply;       /* the next batch */
    ngx_event_t                    parsed;      /* without a thread */

#if (NGX_THREADS)
    ngx_thread_task_t             *task;
#endif

    unsigned                       parsing:1;   /* the thread has it */
    unsigned                       applying:1;
    unsigned                       cancelled:1;
};


static void ngx_http_farm_consul_answer_parse(void *data, ngx_log_t *log);
static void ngx_http_farm_consul_answer_pack(void *data, const char *label,
    uint64_t version, farm_record_t *r, int health, const char *err);
static u_char *ngx_http_farm_consul_answer_put(u_char *p, const char *s);
static void ngx_http_farm_consul_answer_parsed(ngx_event_t *ev);
static void ngx_http_farm_consul_answer_batch(ngx_event_t *ev);
static void ngx_http_farm_consul_answer_entry(
    ngx_http_farm_consul_answer_t *ans, ngx_http_farm_consul_packed_t *e);
static const char *ngx_http_farm_consul_answer_get(const char **p);
static void ngx_http_farm_consul_answer_free(
    ngx_http_farm_consul_answer_t *ans);
static void ngx_http_farm_consul_answer_unmap(
    ngx_http_farm_consul_answer_t *ans);


/*
 * The answers of the sync owner's watch: one at a time, each ending in
 * done(data, rc, err) on the event loop; NULL on failure.
 */

ngx_http_farm_consul_answer_t *
ngx_http_farm_consul_answer_create(ngx_http_farm_srv_conf_t *fcf,
    ngx_pool_t *pool, ngx_log_t *log, ngx_http_farm_consul_answer_pt done,
    void *data)
{
    ngx_http_farm_consul_answer_t  *ans;

    ans = ngx_pcalloc(pool, sizeof(ngx_http_farm_consul_answer_t));
    if (ans == NULL) {
        return NULL;
    }

    ans->fcf = fcf;
    ans->log = log;
    ans->done = done;
    ans->data = data;

    ans->apply.handler = ngx_http_farm_consul_answer_batch;
    ans->apply.data = ans;
    ans->apply.log = log;

    ans->parsed.handler = ngx_http_farm_consul_answer_parsed;
    ans->parsed.data = ans;
    ans->parsed.log = log;

#if (NGX_THREADS)

    if (fcf->parse_pool) {
        ans->task = ngx_thread_task_alloc(pool, 0);
        if (ans->task == NULL) {
            return NULL;
        }

        ans->task->ctx = ans;
        ans->task->handler = ngx_http_farm_consul_answer_parse;
        ans->task->event.handler = ngx_http_farm_consul_answer_parsed;
        ans->task->event.data = ans;
        ans->task->event.log = log;
    }

#endif

    return ans;
}


/*
 * Takes body (malloc'd, len bytes, the answer's now) and starts its way
 * to the zone: NGX_OK, and done() follows; NGX_BUSY while the last answer
 * is still on its way.
 */

ngx_int_t
ngx_http_farm_consul_answer_start(ngx_http_farm_consul_answer_t *ans,
    u_char *body, size_t len, size_t size)
{
    if (ans->parsing || ans->applying) {
        return NGX_BUSY;
    }

    ans->cancelled = 0;
    ans->body = body;
    ans->len = len;
    ans->size = size;
    ans->out_len = 0;
    ans->entries = 0;
    ans->pos = 0;
    ans->rc = NGX_OK;
    ans->err[0] = '\0';
    ans->same = 0;
    ans->parsing = 1;

    /*
     * An answer the same as the last one applied, byte for byte (a blocking
     * query that ran out of wait= without news), changes nothing: its parse
     * is skipped, but not for NGX_HTTP_FARM_CONSUL_AGAIN after that apply,
     * so that an entry the zone refused then (no room) is tried again.
     */

    ans->may_skip = (ans->last_crc != 0
                     && ngx_current_msec - ans->last_applied
                        < NGX_HTTP_FARM_CONSUL_AGAIN);

#if (NGX_THREADS)

    if (ans->task
        && ngx_thread_task_post(ans->fcf->parse_pool, ans->task) == NGX_OK)
    {
        return NGX_OK;
    }

#endif

    /* on the event loop: the parse now, the rest from the next turn */

    ngx_http_farm_consul_answer_parse(ans, ans->log);
    ngx_post_event(&ans->parsed, &ngx_posted_next_events);

    return NGX_OK;
}


/*
 * The buffer of the last answer parsed, for the next one to be read into
 * (its pages are mapped already: reading 100 MB into new memory costs the
 * event loop tens of ms of page faults, and freeing it as much again); NULL
 * when there is none, or the thread still reads it.  The caller owns it.
 */

u_char *
ngx_http_farm_consul_answer_spare(ngx_http_farm_consul_answer_t *ans,
    size_t *size)
{
    u_char  *p;

    p = ans->spare;

    if (p == NULL) {
        return NULL;
    }

    *size = ans->spare_size;

    ans->spare = NULL;
    ans->spare_size = 0;

    return p;
}


/*
 * Drops the answer on its way (the watch stops): what was applied stays,
 * done() is not called.  A thread still parsing finishes, and its event
 * frees what it made.
 */

void
ngx_http_farm_consul_answer_cancel(ngx_http_farm_consul_answer_t *ans)
{
    ans->cancelled = 1;

    if (ans->apply.posted) {
        ngx_delete_posted_event(&ans->apply);
    }

    ans->applying = 0;

    if (ans->parsing) {
        if (ans->parsed.posted) {
            ngx_delete_posted_event(&ans->parsed);
            ans->parsing = 0;
            ngx_http_farm_consul_answer_free(ans);
            ngx_http_farm_consul_answer_unmap(ans);
        }

        return;
    }

    ngx_http_farm_consul_answer_free(ans);
    ngx_http_farm_consul_answer_unmap(ans);
}


/*
 * On a pool thread (or the loop): the body to packed entries.  The parse
 * reads one entry at a time, so jansson's blocks (one entry's tree) are
 * freed and reused in the thread's own heap; the body stays for the loop
 * to free.  No nginx call that is not thread-safe.
 */

static void
ngx_http_farm_consul_answer_parse(void *data, ngx_log_t *log)
{
    ngx_http_farm_consul_answer_t  *ans = data;

    int  n;

    ans->crc = ngx_crc32_long(ans->body, ans->len) | 1;

    if (ans->may_skip && ans->crc == ans->last_crc) {
        ans->same = 1;
        return;
    }

    n = farm_consul_health_parse((char *) ans->body, ans->len,
                                 (char *) ans->fcf->service.data,
                                 ngx_http_farm_consul_answer_pack, ans,
                                 ans->err);

    if (n < 0) {
        ans->rc = NGX_ERROR;

    } else if (ans->rc == NGX_ERROR) {
        snprintf(ans->err, sizeof(ans->err), "out of memory for %d entries",
                 n);
    }
}


static void
ngx_http_farm_consul_answer_pack(void *data, const char *label,
    uint64_t version, farm_record_t *r, int health, const char *err)
{
    ngx_http_farm_consul_answer_t  *ans = data;

    u_char                         *p;
    size_t                          need, size;
    ngx_uint_t                      i;
    ngx_http_farm_consul_packed_t  *e;

    if (ans->rc == NGX_ERROR) {
        return;
    }

    need = sizeof(ngx_http_farm_consul_packed_t) + strlen(label) + 1;

    if (r) {
        need += strlen(r->id) + strlen(r->service) + strlen(r->address)
                + strlen(r->region) + 4;

        for (i = 0; i < r->ncaps; i++) {
            need += strlen(r->caps[i]) + 1;
        }

        need += r->meta ? strlen(r->meta) + 1 : 0;

    } else {
        need += strlen(err) + 1;
    }

    need = ngx_align(need, 8);

    if (ans->out_len + need > ans->out_size) {
        size = ngx_max(ans->out_size * 2, ans->out_len + need);
        size = ngx_max(size, 64 * 1024);

        size = ngx_align(size, 4096);

        /* a mapping, not malloc(): the loop unmaps it without a heap lock */

        p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            ans->rc = NGX_ERROR;
            return;
        }

        if (ans->out) {
            ngx_memcpy(p, ans->out, ans->out_len);
            (void) munmap(ans->out, ans->out_size);
        }

        ans->out = p;
        ans->out_size = size;
    }

    e = (ngx_http_farm_consul_packed_t *) (ans->out + ans->out_len);
    memset(e, 0, sizeof(ngx_http_farm_consul_packed_t));

    e->size = (uint32_t) need;
    e->version = version;

    p = (u_char *) (e + 1);
    p = ngx_http_farm_consul_answer_put(p, label);

    if (r == NULL) {
        e->health = NGX_HTTP_FARM_CONSUL_BAD;
        (void) ngx_http_farm_consul_answer_put(p, err);

    } else {
        e->health = (uint32_t) health;
        e->ts = r->ts;
        e->port = r->port;
        e->weight = r->weight;
        e->max_conns = r->max_conns;
        e->ncaps = (uint16_t) r->ncaps;
        e->backup = r->backup ? 1 : 0;
        e->meta = r->meta ? 1 : 0;

        p = ngx_http_farm_consul_answer_put(p, r->id);
        p = ngx_http_farm_consul_answer_put(p, r->service);
        p = ngx_http_farm_consul_answer_put(p, r->address);
        p = ngx_http_farm_consul_answer_put(p, r->region);

        for (i = 0; i < r->ncaps; i++) {
            p = ngx_http_farm_consul_answer_put(p, r->caps[i]);
        }

        if (r->meta) {
            (void) ngx_http_farm_consul_answer_put(p, r->meta);
        }
    }

    ans->out_len += need;
    ans->entries++;
}


static u_char *
ngx_http_farm_consul_answer_put(u_char *p, const char *s)
{
    size_t  n;

    n = strlen(s) + 1;
    memcpy(p, s, n);

    return p + n;
}


/* The parse is over (a thread's event, or the loop's): apply, or fail. */

static void
ngx_http_farm_consul_answer_parsed(ngx_event_t *ev)
{
    ngx_http_farm_consul_answer_t  *ans = ev->data;

    ans->parsing = 0;

    /*
     * the body's buffer stays for the next answer, unless it is much
     * larger than this one (the farm shrank) or the watch stopped
     */

    if (!ans->cancelled
        && (ans->size <= NGX_HTTP_FARM_CONSUL_SPARE
            || ans->size / 4 <= ans->len))
    {
        free(ans->spare);
        ans->spare = ans->body;
        ans->spare_size = ans->size;

    } else {
        free(ans->body);
    }

    ans->body = NULL;

    if (ans->cancelled) {
        ngx_http_farm_consul_answer_free(ans);
        ngx_http_farm_consul_answer_unmap(ans);
        return;
    }

    if (ans->rc != NGX_OK) {
        ans->last_crc = 0;
        ngx_http_farm_consul_answer_free(ans);
        ans->done(ans->data, NGX_ERROR, ans->err);
        return;
    }

    if (ans->same) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ans->log, 0,
                       "farm: consul answer unchanged, not applied again");

        ans->done(ans->data, NGX_OK, NULL);
        return;
    }

    /* until this apply ends, no answer is skipped as the same as it */

    ans->last_crc = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ans->log, 0,
                   "farm: consul answer parsed: %ui entries, %uz bytes",
                   ans->entries, ans->out_len);

    ans->applying = 1;

    ngx_http_farm_sync_begin(ans->fcf);

    ngx_http_farm_consul_answer_batch(&ans->apply);
}


/* Up to NGX_HTTP_FARM_CONSUL_BATCH entries; the next on the next turn. */

static void
ngx_http_farm_consul_answer_batch(ngx_event_t *ev)
{
    ngx_http_farm_consul_answer_t  *ans = ev->data;

    ngx_uint_t                      n;
    ngx_http_farm_consul_packed_t  *e;

    if (!ans->applying) {
        return;
    }

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_http_farm_consul_answer_cancel(ans);
        return;
    }

    for (n = 0;
         n < NGX_HTTP_FARM_CONSUL_BATCH && ans->pos < ans->out_len;
         n++)
    {
        e = (ngx_http_farm_consul_packed_t *) (ans->out + ans->pos);
        ans->pos += e->size;

        ngx_http_farm_consul_answer_entry(ans, e);
    }

    if (ans->pos < ans->out_len) {
        ngx_post_event(&ans->apply, &ngx_posted_next_events);
        return;
    }

    ngx_http_farm_sync_end(ans->fcf);

    ans->applying = 0;

    /* a sync under hold= removed nothing: the same answer must come again */

    if (ans->fcf->hold_until == 0) {
        ans->last_crc = ans->crc;
        ans->last_applied = ngx_current_msec;
    }

    ngx_http_farm_consul_answer_free(ans);

    ans->done(ans->data, NGX_OK, NULL);
}


/*
 * The warm start's answer (in the master, before any worker): parsed and
 * applied as a full sync at once, all of it or nothing.  The body stays
 * the caller's.  NGX_OK, or NGX_ERROR with the reason in err (FARM_ERR_MAX
 * bytes).
 */

ngx_int_t
ngx_http_farm_consul_answer_apply(ngx_http_farm_srv_conf_t *fcf, u_char *body,
    size_t len, char *err)
{
    size_t                          pos;
    ngx_http_farm_consul_answer_t   ans;
    ngx_http_farm_consul_packed_t  *e;

    ngx_memzero(&ans, sizeof(ngx_http_farm_consul_answer_t));

    ans.fcf = fcf;
    ans.body = body;
    ans.len = len;
    ans.rc = NGX_OK;

    ngx_http_farm_consul_answer_parse(&ans, NULL);

    if (ans.rc == NGX_OK) {
        ngx_http_farm_sync_begin(fcf);

        for (pos = 0; pos < ans.out_len; pos += e->size) {
            e = (ngx_http_farm_consul_packed_t *) (ans.out + pos);
            ngx_http_farm_consul_answer_entry(&ans, e);
        }

        ngx_http_farm_sync_end(fcf);

    } else {
        ngx_cpystrn((u_char *) err, (u_char *) ans.err, FARM_ERR_MAX);
    }

    ngx_http_farm_consul_answer_unmap(&ans);

    return ans.rc;
}


/* One packed entry to the zone. */

static void
ngx_http_farm_consul_answer_entry(ngx_http_farm_consul_answer_t *ans,
    ngx_http_farm_consul_packed_t *e)
{
    size_t          len;
    uint32_t        h;
    ngx_uint_t      i;
    const char     *p, *label, *s;
    farm_record_t   r;

    p = (const char *) (e + 1);
    label = ngx_http_farm_consul_answer_get(&p);
    len = ngx_strlen(label);

    if (e->health == NGX_HTTP_FARM_CONSUL_BAD) {
        s = ngx_http_farm_consul_answer_get(&p);

        h = farm_hash32(s, ngx_strlen(s));
        h = farm_hash_mix(h, (uint32_t) (e->version ^ (e->version >> 32)))
            | 1;

        ngx_http_farm_sync_reject(ans->fcf, (u_char *) label, len, h, 1, "%s",
                                  s);
        return;
    }

    farm_record_init(&r);

    /* the thread packed what farm_consul_entry() validated: it all fits */

    ngx_cpystrn((u_char *) r.id, (u_char *) ngx_http_farm_consul_answer_get(&p),
                sizeof(r.id));
    ngx_cpystrn((u_char *) r.service,
                (u_char *) ngx_http_farm_consul_answer_get(&p),
                sizeof(r.service));
    ngx_cpystrn((u_char *) r.address,
                (u_char *) ngx_http_farm_consul_answer_get(&p),
                sizeof(r.address));
    ngx_cpystrn((u_char *) r.region,
                (u_char *) ngx_http_farm_consul_answer_get(&p),
                sizeof(r.region));

    r.ncaps = ngx_min(e->ncaps, FARM_CAPS_MAX);

    for (i = 0; i < e->ncaps; i++) {
        s = ngx_http_farm_consul_answer_get(&p);

        if (i < FARM_CAPS_MAX) {
            ngx_cpystrn((u_char *) r.caps[i], (u_char *) s,
                        sizeof(r.caps[i]));
        }
    }

    /* meta points into the buffer: r is not farm_record_free()'d */

    r.meta = e->meta ? (char *) ngx_http_farm_consul_answer_get(&p) : NULL;
    r.ts = e->ts;
    r.port = e->port;
    r.weight = e->weight;
    r.max_conns = e->max_conns;
    r.backup = e->backup;

    if (e->health == FARM_CONSUL_CRITICAL) {
        ngx_http_farm_sync_unhealthy(ans->fcf, (u_char *) r.id,
                                     ngx_strlen(r.id),
                                     "its Consul checks are critical");
        return;
    }

    (void) ngx_http_farm_sync_parsed(ans->fcf, (u_char *) label, len, &r, 1);
}


static const char *
ngx_http_farm_consul_answer_get(const char **p)
{
    const char  *s;

    s = *p;
    *p += ngx_strlen(s) + 1;

    return s;
}


static void
ngx_http_farm_consul_answer_free(ngx_http_farm_consul_answer_t *ans)
{
    free(ans->body);
    ans->body = NULL;

    if (ans->cancelled) {
        free(ans->spare);
        ans->spare = NULL;
        ans->spare_size = 0;
    }

    /* the packed entries' mapping stays for the next answer */

    ans->out_len = 0;
    ans->pos = 0;
}


/* The watch stopped: the packed entries' mapping goes too. */

static void
ngx_http_farm_consul_answer_unmap(ngx_http_farm_consul_answer_t *ans)
{
    if (ans->out) {
        (void) munmap(ans->out, ans->out_size);
        ans->out = NULL;
        ans->out_size = 0;
    }
}
