
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * An nginx event adapter for hiredis' async API: the hiredis socket becomes
 * an nginx connection, and hiredis' add/del read/write hooks become level
 * triggered nginx events, so hiredis reads and writes only when the event
 * loop says the socket is ready.  Timeouts are the caller's (nginx timers).
 *
 * Also the one blocking Redis connection of the module, for the master's
 * startup reads (registry warm start, consumers in Redis).
 *
 * Every reply is bounded (A21): hiredis keeps reading a bulk string until
 * all of it is buffered and builds arrays of any length, so a value or a
 * hash grown huge in Redis would grow the worker with it.  A reply whose
 * pending bytes pass NGX_HTTP_FARM_REDIS_MAX_PENDING, or whose arrays
 * together (nested ones too: an array of arrays of small integers is parsed
 * a few bytes at a time, never pending much, yet costs a redisReply per
 * element) have more than NGX_HTTP_FARM_REDIS_MAX_ELEMENTS elements, ends
 * the connection through
 * hiredis' own error path: every pending callback gets a NULL reply and
 * the disconnect callback the error, as when the server hangs up.
 */


#include "ngx_http_farm_util.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


static void ngx_http_farm_hiredis_read(ngx_event_t *ev);
static void ngx_http_farm_hiredis_write(ngx_event_t *ev);
static void ngx_http_farm_hiredis_add_read(void *data);
static void ngx_http_farm_hiredis_del_read(void *data);
static void ngx_http_farm_hiredis_add_write(void *data);
static void ngx_http_farm_hiredis_del_write(void *data);
static void ngx_http_farm_hiredis_cleanup(void *data);
static void *ngx_http_farm_hiredis_create_array(const redisReadTask *task,
    int elements);


static redisReplyObjectFunctions  ngx_http_farm_hiredis_fn;
static void                    *(*ngx_http_farm_hiredis_array)(
                                     const redisReadTask *task, int elements);


/*
 * Attaches a fresh redisAsyncContext to nginx's event loop.  The adapter
 * owns the nginx connection it makes; hiredis owns the socket and calls
 * the cleanup hook, which frees the connection, when the context goes.
 */

ngx_int_t
ngx_http_farm_hiredis_attach(redisAsyncContext *ac, ngx_log_t *log)
{
    ngx_connection_t               *c;
    ngx_http_farm_hiredis_count_t  *count;

    if (ac->ev.data != NULL || ac->c.fd < 0) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    count = ngx_alloc(sizeof(ngx_http_farm_hiredis_count_t), log);
    if (count == NULL) {
        ngx_free_connection(c);
        return NGX_ERROR;
    }

    count->elements = 0;
    count->max = NGX_HTTP_FARM_REDIS_MAX_ELEMENTS;
    count->log = log;

    c->data = ac;
    c->log = log;

    ngx_http_farm_hiredis_reader_bound(ac->c.reader, count);

    c->read->handler = ngx_http_farm_hiredis_read;
    c->read->log = log;
    c->write->handler = ngx_http_farm_hiredis_write;
    c->write->log = log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_farm_hiredis_add_read;
    ac->ev.delRead = ngx_http_farm_hiredis_del_read;
    ac->ev.addWrite = ngx_http_farm_hiredis_add_write;
    ac->ev.delWrite = ngx_http_farm_hiredis_del_write;
    ac->ev.cleanup = ngx_http_farm_hiredis_cleanup;

    return NGX_OK;
}


/*
 * Gives a blocking context's reader the element bound.  The master reads
 * one blocking reply at a time: one count serves them all.
 */

void
ngx_http_farm_hiredis_bound(struct redisContext *rc)
{
    static ngx_http_farm_hiredis_count_t  count;

    count.max = NGX_HTTP_FARM_REDIS_MAX_ELEMENTS;
    count.log = ngx_cycle->log;

    ngx_http_farm_hiredis_reader_bound(rc->reader, &count);
}


/*
 * Gives a reader the element bound: count (kept by the caller as long as
 * the reader) counts the elements of the reply being read.  The reader's
 * functions are hiredis' defaults, the same for every reader: they are
 * copied once, and only createArray is wrapped.
 */

void
ngx_http_farm_hiredis_reader_bound(void *reader,
    ngx_http_farm_hiredis_count_t *count)
{
    redisReader  *r;

    r = reader;

    if (r == NULL || r->fn == NULL) {
        return;
    }

    if (ngx_http_farm_hiredis_array == NULL) {
        ngx_http_farm_hiredis_fn = *r->fn;
        ngx_http_farm_hiredis_array = ngx_http_farm_hiredis_fn.createArray;
        ngx_http_farm_hiredis_fn.createArray =
                                      ngx_http_farm_hiredis_create_array;
    }

    if (r->fn->createArray == ngx_http_farm_hiredis_array) {
        r->fn = &ngx_http_farm_hiredis_fn;
    }

    count->elements = 0;
    r->privdata = count;
}


/*
 * Every array of a reply adds its elements to the reader's count, which
 * its top-level array (no parent) starts again.
 */

static void *
ngx_http_farm_hiredis_create_array(const redisReadTask *task, int elements)
{
    ngx_http_farm_hiredis_count_t  *count;

    count = task->privdata;

    if (count == NULL) {
        return ngx_http_farm_hiredis_array(task, elements);
    }

    if (task->parent == NULL) {
        count->elements = 0;
    }

    count->elements += elements;

    if (count->elements > count->max) {
        if (count->log) {
            ngx_log_error(NGX_LOG_ERR, count->log, 0,
                          "farm: a Redis reply has more than %ui elements: "
                          "closing the connection", count->max);
        }

        /* the reader fails the reply as out of memory */

        return NULL;
    }

    return ngx_http_farm_hiredis_array(task, elements);
}


static void
ngx_http_farm_hiredis_read(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisReader        *r;
    redisAsyncContext  *ac;

    ac = c->data;
    r = ac->c.reader;

    /*
     * hiredis reads at most 16k a call, so the pending part of a reply
     * never passes the bound by more than that.  Failing the reader makes
     * the read below end the connection with this error.
     */

    if (r != NULL && r->err == 0
        && r->len - r->pos > NGX_HTTP_FARM_REDIS_MAX_PENDING)
    {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "farm: a Redis reply is larger than %d bytes: "
                      "closing the connection",
                      NGX_HTTP_FARM_REDIS_MAX_PENDING);

        r->err = REDIS_ERR_PROTOCOL;
        (void) ngx_cpystrn((u_char *) r->errstr,
                           (u_char *) "reply too large",
                           sizeof(r->errstr));
    }

    /* may free c through the cleanup hook: nothing touches c after this */

    redisAsyncHandleRead(ac);
}


static void
ngx_http_farm_hiredis_write(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


static void
ngx_http_farm_hiredis_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "farm: cannot watch the redis socket for reading");
        }
    }
}


static void
ngx_http_farm_hiredis_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_farm_hiredis_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "farm: cannot watch the redis socket for writing");
        }
    }
}


static void
ngx_http_farm_hiredis_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_http_farm_hiredis_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    redisAsyncContext  *ac;

    ac = c->data;

    /* hiredis closes the socket right after; the kernel drops it from epoll */

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (ac->c.reader && ac->c.reader->privdata) {
        ngx_free(ac->c.reader->privdata);
        ac->c.reader->privdata = NULL;
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);

    ac->ev.data = NULL;
}


/*
 * A blocking connection for the master's startup reads, bounded by ms for
 * the connection and for every reply: connects, then AUTH and SELECT as the
 * URL says.  Returns the context (the caller frees it with redisFree), or
 * NULL with *reason set (valid until the next call).
 */

void *
ngx_http_farm_redis_connect_sync(farm_url_t *url, u_char *addr, ngx_msec_t ms,
    const char **reason)
{
    redisReply      *e;
    redisContext    *c;
    struct timeval   tv;
    static char      error[128];

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    c = redisConnectWithTimeout((char *) addr, (int) url->port, tv);

    if (c == NULL || c->err) {
        if (c) {
            ngx_cpystrn((u_char *) error, (u_char *) c->errstr,
                        sizeof(error));
            redisFree(c);
            *reason = error;

        } else {
            *reason = "out of memory";
        }

        return NULL;
    }

    ngx_http_farm_hiredis_bound(c);

    (void) redisSetTimeout(c, tv);

    if (url->password[0]) {
        e = url->user[0]
            ? redisCommand(c, "AUTH %s %s", url->user, url->password)
            : redisCommand(c, "AUTH %s", url->password);

        if (e == NULL || e->type == REDIS_REPLY_ERROR) {
            *reason = "AUTH failed";
            goto failed;
        }

        freeReplyObject(e);
    }

    if (url->db) {
        e = redisCommand(c, "SELECT %u", url->db);

        if (e == NULL || e->type == REDIS_REPLY_ERROR) {
            *reason = "SELECT failed";
            goto failed;
        }

        freeReplyObject(e);
    }

    return c;

failed:

    if (e) {
        freeReplyObject(e);
    }

    redisFree(c);

    return NULL;
}


/*
 * The wall clock in ms, for the deadlines of blocking reads: the master's
 * cached time is not updated while it parses the configuration.
 */

ngx_msec_t
ngx_http_farm_redis_clock(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (ngx_msec_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}


/*
 * Bounds the next blocking read of c by what is left until deadline:
 * NGX_OK, or NGX_ERROR when nothing is left.
 */

ngx_int_t
ngx_http_farm_redis_sync_timeout(void *ctx, ngx_msec_t deadline)
{
    ngx_msec_t       now, left;
    redisContext    *c = ctx;
    struct timeval   tv;

    now = ngx_http_farm_redis_clock();
    if (now >= deadline) {
        return NGX_ERROR;
    }

    left = deadline - now;

    tv.tv_sec = left / 1000;
    tv.tv_usec = (left % 1000) * 1000;

    return redisSetTimeout(c, tv) == REDIS_OK ? NGX_OK : NGX_ERROR;
}
