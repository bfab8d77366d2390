
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The state= file of farm_registry: the last known agents of an upstream,
 * whatever the registry, as a JSON array of records (registry/
 * farm_record.c's form).  The sync owner writes it after a full sync that
 * changed the agents, at most once per NGX_HTTP_FARM_STATE_EVERY (a burst
 * of changes, which with Consul is a burst of full syncs, costs one write).
 *
 * A save never holds the event loop for long, whatever the number of
 * agents: it is a small state machine driven by a timer, and each step
 * does a bounded amount of work.  It serializes NGX_HTTP_FARM_STATE_SLICE
 * slots per step straight from the zone into one buffer, then writes
 * NGX_HTTP_FARM_STATE_CHUNK bytes per step to a new temporary file
 * (O_EXCL, O_NOFOLLOW: never through a planted link), asking the kernel
 * to start writing each chunk back at once; NGX_HTTP_FARM_STATE_SETTLE ms
 * after the last, when the writeback is done, fsync() has little left to
 * do; then it renames the file over the old one, so a reader never sees
 * half a file.  fsync() waits for the file system's journal, which a busy
 * disk can make hundreds of ms: when nginx has threads, state= adds
 * nginx's "default" thread pool (sized with "thread_pool default
 * threads=N;", 32 threads otherwise), and fsync() and rename() run there.
 * The master reads the file at start
 * when the registry cannot be read, so a gateway restarted during a
 * registry outage still routes.
 */


#include "ngx_http_farm_state.h"
#include "ngx_http_farm_lease.h"

#include <jansson.h>

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif


#define NGX_HTTP_FARM_STATE_MAX    (256 * 1024 * 1024)
#define NGX_HTTP_FARM_STATE_EVERY  1000      /* ms between saves */
#define NGX_HTTP_FARM_STATE_SLICE  500       /* slots serialized per step */
#define NGX_HTTP_FARM_STATE_CHUNK  (256 * 1024)  /* bytes written per step */
#define NGX_HTTP_FARM_STATE_SETTLE 200       /* ms, last write to fsync */

/* the most one record takes in the file: fields, 32 caps, meta */
#define NGX_HTTP_FARM_STATE_RECORD                                           \
    (256 + FARM_ID_MAX + FARM_SERVICE_MAX + NGX_SOCKADDR_STRLEN              \
     + FARM_REGION_MAX + FARM_CAPS_MAX * (FARM_CAP_MAX + 3) + FARM_META_MAX)


/* a save in progress, in the sync owner's memory */
typedef struct {
    ngx_http_farm_srv_conf_t      *fcf;
    u_char                        *buf;
    u_char                        *pos;         /* serialized up to */
    u_char                        *last;
    u_char                        *written;     /* written up to */
    u_char                        *tmp;         /* "<state>.<pid>.tmp" */
    uint32_t                       slot;        /* the next to serialize */
    ngx_uint_t                     n;           /* records serialized */
    ngx_fd_t                       fd;
    off_t                          offset;
    ngx_uint_t                     settled;     /* waited before fsync */
#if (NGX_THREADS)
    ngx_thread_task_t             *task;        /* fsync, rename */
    ngx_err_t                      err;         /* the thread's */
#endif
} ngx_http_farm_state_save_t;


static void ngx_http_farm_state_start(ngx_http_farm_srv_conf_t *fcf);
static void ngx_http_farm_state_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_farm_state_serialize(
    ngx_http_farm_state_save_t *sv);
static u_char *ngx_http_farm_state_record_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a, u_char *p);
static ngx_int_t ngx_http_farm_state_open(ngx_http_farm_state_save_t *sv);
static ngx_int_t ngx_http_farm_state_write(ngx_http_farm_state_save_t *sv);
static void ngx_http_farm_state_done(ngx_http_farm_state_save_t *sv,
    ngx_int_t rc, ngx_err_t err);
#if (NGX_THREADS)
static ngx_int_t ngx_http_farm_state_post(ngx_http_farm_state_save_t *sv);
static void ngx_http_farm_state_thread(void *data, ngx_log_t *log);
static void ngx_http_farm_state_posted(ngx_event_t *ev);

#endif


/*
 * Configuration time, for state=: the thread pool the file is flushed on.
 */

ngx_int_t
ngx_http_farm_state_conf(ngx_conf_t *cf)
{
#if (NGX_THREADS)

    if (ngx_thread_pool_add(cf, NULL) == NULL) {
        return NGX_ERROR;
    }

#endif

    return NGX_OK;
}


/*
 * End of a full sync: save the agents if they changed since the last save
 * began, now or, within NGX_HTTP_FARM_STATE_EVERY of it, when that has
 * passed.  A save in progress finishes first.
 */

void
ngx_http_farm_state_sync_end(ngx_http_farm_srv_conf_t *fcf)
{
    ngx_msec_t                   elapsed;
    ngx_event_t                 *ev;
    ngx_http_farm_state_save_t  *sv;

    if (fcf->state.len == 0 || !fcf->state_dirty) {
        return;
    }

    /* only the sync owner writes; the master's startup read leaves it */

    if (fcf->warming) {
        return;
    }

    ev = &fcf->state_ev;

    if (ev->data == NULL) {
        sv = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_http_farm_state_save_t));
        if (sv == NULL) {
            return;
        }

        sv->fcf = fcf;
        sv->fd = NGX_INVALID_FILE;

        ev->handler = ngx_http_farm_state_handler;
        ev->data = sv;
        ev->log = fcf->log;
        ev->cancelable = 1;
    }

    sv = ev->data;

    if (ev->timer_set || sv->buf) {
        return;
    }

    elapsed = ngx_current_msec - fcf->state_saved;

    if (fcf->state_saved && elapsed < NGX_HTTP_FARM_STATE_EVERY) {
        ngx_add_timer(ev, NGX_HTTP_FARM_STATE_EVERY - elapsed);
        return;
    }

    ngx_http_farm_state_start(fcf);
}


static void
ngx_http_farm_state_start(ngx_http_farm_srv_conf_t *fcf)
{
    size_t                       size;
    ngx_http_farm_zone_t         z;
    ngx_http_farm_state_save_t  *sv;

    sv = fcf->state_ev.data;

    ngx_http_farm_zone_get(fcf, &z);

    size = (z.sh->nagents + 1) * 256 + NGX_HTTP_FARM_STATE_RECORD;

    sv->buf = ngx_alloc(size, fcf->log);
    if (sv->buf == NULL) {
        return;
    }

    /* a change from now on makes the next save */

    fcf->state_dirty = 0;
    fcf->state_saved = ngx_current_msec;

    sv->last = sv->buf + size;
    sv->pos = ngx_cpymem(sv->buf, "[", 1);
    sv->slot = 0;
    sv->n = 0;

    ngx_http_farm_state_handler(&fcf->state_ev);
}


/* One step of a save, or the start of a save that waited. */

static void
ngx_http_farm_state_handler(ngx_event_t *ev)
{
    ngx_http_farm_state_save_t  *sv = ev->data;

    ngx_http_farm_srv_conf_t  *fcf;

    fcf = sv->fcf;

    if (fcf->superseded || ngx_exiting) {
        ngx_http_farm_state_done(sv, NGX_DECLINED, 0);
        return;
    }

    if (sv->buf == NULL) {
        if (fcf->state_dirty) {
            ngx_http_farm_state_start(fcf);
        }

        return;
    }

    if (sv->fd == NGX_INVALID_FILE) {
        if (ngx_http_farm_state_serialize(sv) == NGX_AGAIN) {
            ngx_add_timer(ev, 1);
            return;
        }

        if (ngx_http_farm_state_open(sv) != NGX_OK) {
            return;
        }
    }

    if (ngx_http_farm_state_write(sv) == NGX_AGAIN) {
        ngx_add_timer(ev, 1);
    }
}


/*
 * Serializes the next NGX_HTTP_FARM_STATE_SLICE slots.  Returns NGX_AGAIN
 * while slots are left, NGX_OK when the array is complete.
 */

static ngx_int_t
ngx_http_farm_state_serialize(ngx_http_farm_state_save_t *sv)
{
    u_char                 *p, *nbuf;
    size_t                  size;
    uint32_t                end;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_zone_get(sv->fcf, &z);

    end = ngx_min(z.sh->nslots, sv->slot + NGX_HTTP_FARM_STATE_SLICE);

    for ( /* void */ ; sv->slot < end; sv->slot++) {
        a = &z.sh->agents[sv->slot];

        if (a->state != NGX_HTTP_FARM_SLOT_UP) {
            continue;
        }

        /* room for one more record and the end, outside the lock */

        if ((size_t) (sv->last - sv->pos) < NGX_HTTP_FARM_STATE_RECORD + 8) {
            size = 2 * (sv->last - sv->buf);

            nbuf = ngx_alloc(size, sv->fcf->log);
            if (nbuf == NULL) {
                return NGX_AGAIN;
            }

            sv->pos = ngx_cpymem(nbuf, sv->buf, sv->pos - sv->buf);
            sv->last = nbuf + size;
            ngx_free(sv->buf);
            sv->buf = nbuf;
        }

        ngx_shmtx_lock(&z.shpool->mutex);

        p = NULL;

        if (a->state == NGX_HTTP_FARM_SLOT_UP) {
            p = ngx_http_farm_state_record_locked(&z, a,
                                                  sv->pos + (sv->n ? 2 : 1));
        }

        ngx_shmtx_unlock(&z.shpool->mutex);

        if (p == NULL) {
            continue;
        }

        if (sv->n) {
            *sv->pos++ = ',';
        }

        *sv->pos = '\n';
        sv->pos = p;
        sv->n++;
    }

    if (sv->slot < z.sh->nslots) {
        return NGX_AGAIN;
    }

    sv->pos = ngx_cpymem(sv->pos, "\n]\n", 3);

    return NGX_OK;
}


/*
 * Writes the record of an agent slot, as farm_record_to_json() would, at
 * p: every string in it is a validated name or an address literal, and
 * meta is already JSON, so nothing needs escaping.  Called with the zone
 * locked; p has NGX_HTTP_FARM_STATE_RECORD bytes.  Returns the end.
 */

static u_char *
ngx_http_farm_state_record_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a, u_char *p)
{
    u_char                 *start;
    ngx_uint_t              i, n;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;

    p = ngx_sprintf(p, "{\"id\":\"%*s\",\"service\":\"%V\",\"address\":\"",
                    (size_t) a->sn.str.len, a->id, &z->fcf->service);

    start = p;
    p += ngx_sock_ntop(&a->sockaddr.sockaddr, a->socklen, p,
                       NGX_SOCKADDR_STRLEN, 0);

    if (p == start) {
        return NULL;
    }

    p = ngx_sprintf(p, "\",\"port\":%ui,\"weight\":%uD,\"region\":\"%s\","
                    "\"caps\":[",
                    (ngx_uint_t) ngx_inet_get_port(&a->sockaddr.sockaddr),
                    a->rec_weight,
                    a->region ? sh->regions[a->region - 1] : (u_char *) "");

    n = 0;

    for (i = 0; i < sh->ncaps && n < FARM_CAPS_MAX; i++) {
        if (a->caps & ((uint64_t) 1 << i)) {
            p = ngx_sprintf(p, "%s\"%s\"", n++ ? "," : "", sh->caps[i]);
        }
    }

    p = ngx_sprintf(p, "],\"max_conns\":%uD,\"backup\":%s",
                    a->rec_max_conns, a->rec_backup ? "true" : "false");

    if (a->meta_len) {
        p = ngx_sprintf(p, ",\"meta\":%*s",
                        ngx_min(a->meta_len, (size_t) FARM_META_MAX),
                        a->meta);
    }

    /* a built-in registry's agent: when its lease runs out */

    p = ngx_http_farm_lease_state_locked(z, a->id, a->sn.str.len, p);

    *p++ = '}';

    return p;
}


/*
 * A new "<state>.<pid>.tmp": O_EXCL and O_NOFOLLOW, so a file or link
 * planted there is removed, never followed or truncated.
 */

static ngx_int_t
ngx_http_farm_state_open(ngx_http_farm_state_save_t *sv)
{
    ngx_err_t                  err;
    ngx_uint_t                 tries;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = sv->fcf;

    if (sv->tmp == NULL) {
        sv->tmp = ngx_pnalloc(ngx_cycle->pool, fcf->state.len + 32);
        if (sv->tmp == NULL) {
            ngx_http_farm_state_done(sv, NGX_ERROR, 0);
            return NGX_ERROR;
        }

        ngx_sprintf(sv->tmp, "%V.%P.tmp%Z", &fcf->state, ngx_pid);
    }

    for (tries = 0; /* void */; tries++) {
        sv->fd = open((char *) sv->tmp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW,
                      NGX_FILE_DEFAULT_ACCESS);

        if (sv->fd != NGX_INVALID_FILE) {
            break;
        }

        err = ngx_errno;

        /*
         * left by a process with our pid, or planted: removed (unlink()
         * follows no link), and tried once more
         */

        if (err != NGX_EEXIST || tries > 0
            || ngx_delete_file(sv->tmp) == NGX_FILE_ERROR)
        {
            ngx_http_farm_state_done(sv, NGX_ERROR, err);
            return NGX_ERROR;
        }
    }

    sv->written = sv->buf;
    sv->offset = 0;
    sv->settled = 0;

    return NGX_OK;
}


/*
 * Writes the next NGX_HTTP_FARM_STATE_CHUNK bytes and starts their
 * writeback: NGX_AGAIN while bytes are left.  After the last, NGX_DONE
 * and a wait of NGX_HTTP_FARM_STATE_SETTLE; then fsync() and rename().
 */

static ngx_int_t
ngx_http_farm_state_write(ngx_http_farm_state_save_t *sv)
{
    size_t   len;
    ssize_t  n;

    len = ngx_min((size_t) (sv->pos - sv->written),
                  (size_t) NGX_HTTP_FARM_STATE_CHUNK);

    while (len) {
        n = ngx_write_fd(sv->fd, sv->written, len);

        if (n <= 0) {
            ngx_http_farm_state_done(sv, NGX_ERROR,
                                     (n == 0) ? NGX_ENOSPC : ngx_errno);
            return NGX_ERROR;
        }

#if (NGX_LINUX)
        (void) sync_file_range(sv->fd, sv->offset, n,
                               SYNC_FILE_RANGE_WRITE);
#endif

        sv->written += n;
        sv->offset += n;
        len -= n;
    }

    if (sv->written < sv->pos) {
        return NGX_AGAIN;
    }

    if (!sv->settled) {
        sv->settled = 1;
        ngx_add_timer(&sv->fcf->state_ev, NGX_HTTP_FARM_STATE_SETTLE);
        return NGX_DONE;
    }

#if (NGX_THREADS)
    if (ngx_http_farm_state_post(sv) == NGX_OK) {
        return NGX_DONE;
    }
#endif

    if (fsync(sv->fd) == -1) {
        ngx_http_farm_state_done(sv, NGX_ERROR, ngx_errno);
        return NGX_ERROR;
    }

    if (ngx_close_file(sv->fd) == NGX_FILE_ERROR) {
        sv->fd = NGX_INVALID_FILE;
        ngx_http_farm_state_done(sv, NGX_ERROR, ngx_errno);
        return NGX_ERROR;
    }

    sv->fd = NGX_INVALID_FILE;

    if (ngx_rename_file(sv->tmp, sv->fcf->state.data) == NGX_FILE_ERROR) {
        ngx_http_farm_state_done(sv, NGX_ERROR, ngx_errno);
        return NGX_ERROR;
    }

    ngx_http_farm_state_done(sv, NGX_OK, 0);

    return NGX_OK;
}


#if (NGX_THREADS)

/*
 * fsync() and rename() on nginx's default thread pool: NGX_OK when posted
 * (ngx_http_farm_state_posted() ends the save), NGX_DECLINED to do them on
 * the event loop.
 */

static ngx_int_t
ngx_http_farm_state_post(ngx_http_farm_state_save_t *sv)
{
    ngx_str_t           name;
    ngx_thread_pool_t  *tp;

    ngx_str_set(&name, "default");

    tp = ngx_thread_pool_get((ngx_cycle_t *) ngx_cycle, &name);
    if (tp == NULL) {
        return NGX_DECLINED;
    }

    if (sv->task == NULL) {
        sv->task = ngx_thread_task_alloc(ngx_cycle->pool, 0);
        if (sv->task == NULL) {
            return NGX_DECLINED;
        }

        sv->task->ctx = sv;
        sv->task->handler = ngx_http_farm_state_thread;
        sv->task->event.handler = ngx_http_farm_state_posted;
        sv->task->event.data = sv;
        sv->task->event.log = sv->fcf->log;
    }

    if (ngx_thread_task_post(tp, sv->task) != NGX_OK) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* On the pool's thread: system calls only, no logging, no allocation. */

static void
ngx_http_farm_state_thread(void *data, ngx_log_t *log)
{
    ngx_http_farm_state_save_t  *sv = data;

    sv->err = 0;

    if (fsync(sv->fd) == -1) {
        sv->err = ngx_errno;
        return;
    }

    if (close(sv->fd) == -1) {
        sv->err = ngx_errno;
    }

    sv->fd = NGX_INVALID_FILE;

    if (sv->err == 0
        && rename((char *) sv->tmp, (char *) sv->fcf->state.data) == -1)
    {
        sv->err = ngx_errno;
    }
}


static void
ngx_http_farm_state_posted(ngx_event_t *ev)
{
    ngx_http_farm_state_save_t  *sv = ev->data;

    ngx_http_farm_state_done(sv, sv->err ? NGX_ERROR : NGX_OK, sv->err);
}

#endif


/*
 * Ends a save: logs how it went, frees the buffer, removes a temporary file
 * left over, and starts the next save if something changed meanwhile.
 */

static void
ngx_http_farm_state_done(ngx_http_farm_state_save_t *sv, ngx_int_t rc,
    ngx_err_t err)
{
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = sv->fcf;

    if (sv->fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(sv->fd);
        sv->fd = NGX_INVALID_FILE;
    }

    if (rc != NGX_OK && sv->tmp && sv->written) {
        (void) ngx_delete_file(sv->tmp);
    }

    if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, fcf->log, 0,
                      "farm: saved %ui agents of upstream \"%V\" to \"%V\"",
                      sv->n, &fcf->uscf->host, &fcf->state);

    } else if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, fcf->log, err,
                      "farm: cannot save the agents of upstream \"%V\" to "
                      "\"%V\"", &fcf->uscf->host, &fcf->state);

        /* tried again after the next full sync */

        fcf->state_dirty = 1;
    }

    if (sv->buf) {
        ngx_free(sv->buf);
        sv->buf = NULL;
    }

    sv->written = NULL;

    if (rc == NGX_OK && fcf->state_dirty) {
        ngx_http_farm_state_sync_end(fcf);
    }
}


/*
 * The master, at start, when the registry cannot be read: the agents of
 * the state file, as a full sync into sink (the module glue passes the
 * sync layer's).  A bad record in the file is skipped like a bad registry
 * record.  Returns NGX_OK, or NGX_DECLINED when there is no usable file.
 */

ngx_int_t
ngx_http_farm_state_load(ngx_http_farm_srv_conf_t *fcf, ngx_log_t *log,
    const ngx_http_farm_state_sink_t *sink)
{
    char                  *text, err[FARM_ERR_MAX];
    u_char                 label[FARM_ID_MAX + 16];
    size_t                 i, len;
    json_t                *list, *item, *value;
    ssize_t                n;
    ngx_fd_t               fd;
    ngx_uint_t             good, bad, expired;
    ngx_file_info_t        fi;
    json_error_t           jerr;
    farm_record_t          rec;
    ngx_http_farm_zone_t   z;

    fd = ngx_open_file(fcf->state.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "farm: no state file \"%V\" for upstream \"%V\"",
                      &fcf->state, &fcf->uscf->host);
        return NGX_DECLINED;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_FARM_STATE_MAX)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "farm: state file \"%V\" is unreadable or larger than "
                      "256M; ignored", &fcf->state);
        (void) ngx_close_file(fd);
        return NGX_DECLINED;
    }

    len = (size_t) ngx_file_size(&fi);

    text = ngx_alloc(len + 1, log);
    if (text == NULL) {
        (void) ngx_close_file(fd);
        return NGX_DECLINED;
    }

    n = ngx_read_fd(fd, text, len);
    (void) ngx_close_file(fd);

    if (n != (ssize_t) len) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "farm: cannot read state file \"%V\"", &fcf->state);
        ngx_free(text);
        return NGX_DECLINED;
    }

    list = json_loadb(text, len, 0, &jerr);
    ngx_free(text);

    if (!json_is_array(list)) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "farm: state file \"%V\" is not a JSON array of "
                      "records%s%s; ignored", &fcf->state,
                      list ? "" : ": ", list ? "" : jerr.text);
        json_decref(list);
        return NGX_DECLINED;
    }

    good = 0;
    bad = 0;
    expired = 0;

    sink->begin(fcf);

    json_array_foreach(list, i, item) {
        text = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);

        if (text == NULL
            || farm_record_parse(&rec, text, ngx_strlen(text), err) != 0)
        {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "farm: skipping record %uz of state file \"%V\": "
                          "%s", i, &fcf->state,
                          text ? err : "out of memory");
            free(text);
            bad++;
            continue;
        }

        free(text);

        if (sink->restore) {
            value = json_object_get(item, "expires_at");

            if (sink->restore(fcf, &rec, json_is_integer(value)
                                         ? json_integer_value(value) : 0)
                != NGX_OK)
            {
                expired++;
                farm_record_free(&rec);
                continue;
            }
        }

        len = ngx_sprintf(label, "state:%s", rec.id) - label;

        if (sink->parsed(fcf, label, len, &rec, 1) == NGX_OK) {
            good++;

        } else {
            bad++;
        }

        farm_record_free(&rec);
    }

    json_decref(list);

    sink->end(fcf);

    ngx_http_farm_zone_get(fcf, &z);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "farm: upstream \"%V\" starts with %uD agents from the "
                  "state file \"%V\" (%ui skipped) until registry %V answers",
                  &fcf->uscf->host, z.sh->nagents, &fcf->state, bad,
                  &fcf->url_display);

    if (expired) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "farm: upstream \"%V\": the TTL of %ui agents of the "
                      "state file \"%V\" ran out while nginx was stopped",
                      &fcf->uscf->host, expired, &fcf->state);
    }

    return good ? NGX_OK : NGX_DECLINED;
}
