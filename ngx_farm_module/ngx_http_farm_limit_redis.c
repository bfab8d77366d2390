
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * policy=redis: farm_limit counters in Redis, shared by every gateway that
 * points at the same server, on nginx's event loop: an nginx connection of
 * its own, plain (redis://) or TLS (rediss://), ngx_http_farm_rconn.c;
 * hiredis only encodes the commands and parses the replies.  Each worker
 * keeps one connection per Redis server, opened in init_process and
 * reopened with jittered exponential backoff when it fails.
 *
 * One round trip per request: a Lua script (EVALSHA, and EVAL once when
 * the server answers NOSCRIPT) reads every window's counter, and only if
 * each has room increments them all, atomically, so that a rejected
 * request counts in no window on any gateway.  Keys:
 *
 *   farm:limit:{<zone>:<key>}:<window>:<start>      an integer, with a TTL
 *
 * <window> is second ... year, <start> the Unix time the window began; the
 * braces are a Redis Cluster hash tag, keeping one client's windows in one
 * slot.
 *
 * A request waits at most the limit's timeout=.  A reply that is overdue
 * drops the connection (it is the oldest in a pipeline: everything behind
 * it is late too); while there is no connection, requests do not wait:
 * fault_tolerant=on lets them through, off answers 503.  Failures are
 * logged at most once every NGX_HTTP_FARM_LIMIT_FAULT_REPORT seconds.
 */


#include "ngx_http_farm_limit.h"

#include <hiredis/hiredis.h>


#define NGX_HTTP_FARM_LIMIT_BACKOFF_MIN   100     /* ms */
#define NGX_HTTP_FARM_LIMIT_BACKOFF_MAX   5000    /* ms */
#define NGX_HTTP_FARM_LIMIT_FAULT_REPORT  10      /* s */
#define NGX_HTTP_FARM_LIMIT_CONNECT       2000    /* ms, and TLS */

/* a counter outlives its window by this much, for gateways' clock skew */
#define NGX_HTTP_FARM_LIMIT_TTL_SLACK     60      /* s */


/* one command in flight; outlives its request if the request goes first */
struct ngx_http_farm_limit_pending_s {
    ngx_http_farm_limit_backend_t  *backend;
    ngx_http_farm_limit_ctx_t      *ctx;        /* NULL: nobody waits */
    ngx_http_farm_limit_t          *limit;
    ngx_http_farm_limit_pending_t  *next;       /* in the free list */
    ngx_uint_t                      eval;       /* resent as EVAL */
};


static void ngx_http_farm_limit_redis_connect(
    ngx_http_farm_limit_backend_t *b);
static void ngx_http_farm_limit_redis_drop(ngx_http_farm_limit_backend_t *b,
    const char *reason);
static void ngx_http_farm_limit_redis_retry(ngx_event_t *ev);
static void ngx_http_farm_limit_redis_closed(ngx_http_farm_rconn_t *rc,
    const char *reason);
static void ngx_http_farm_limit_redis_setup(ngx_http_farm_limit_backend_t *b,
    int argc, const char **argv, const size_t *argvlen);
static void ngx_http_farm_limit_redis_setup_cb(void *data, void *reply);
static void ngx_http_farm_limit_redis_reply(void *data, void *reply);
static ngx_int_t ngx_http_farm_limit_redis_parse(
    ngx_http_farm_limit_pending_t *p, redisReply *reply);
static void ngx_http_farm_limit_redis_failed(ngx_http_farm_limit_pending_t *p,
    const char *reason);
static void ngx_http_farm_limit_redis_release(
    ngx_http_farm_limit_pending_t *p);
static void ngx_http_farm_limit_redis_report(ngx_http_farm_limit_backend_t *b,
    const char *reason);
static void ngx_http_farm_limit_redis_healthy(
    ngx_http_farm_limit_backend_t *b);


/*
 * KEYS: one counter per window.  ARGV: the limits, then the TTLs, in the
 * same order.  Returns {admitted (1 or 0), count, count, ...}: the counts
 * after the request if it was admitted, as they stand if it was not.
 */

static const char  ngx_http_farm_limit_script[] =
    "local n = #KEYS\n"
    "local counts = redis.call('MGET', unpack(KEYS))\n"
    "local admit = 1\n"
    "for i = 1, n do\n"
    "  counts[i] = tonumber(counts[i]) or 0\n"
    "  if counts[i] >= tonumber(ARGV[i]) then admit = 0 end\n"
    "end\n"
    "if admit == 1 then\n"
    "  for i = 1, n do\n"
    "    counts[i] = redis.call('INCR', KEYS[i])\n"
    "    if counts[i] == 1 then\n"
    "      redis.call('EXPIRE', KEYS[i], ARGV[n + i])\n"
    "    end\n"
    "  end\n"
    "end\n"
    "table.insert(counts, 1, admit)\n"
    "return counts\n";


/* The SHA-1 of the script, as EVALSHA wants it: 40 lowercase hex digits. */

void
ngx_http_farm_limit_redis_sha(u_char *sha)
{
    u_char      digest[20];
    ngx_sha1_t  sha1;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, ngx_http_farm_limit_script,
                    sizeof(ngx_http_farm_limit_script) - 1);
    ngx_sha1_final(digest, &sha1);

    *ngx_hex_dump(sha, digest, 20) = '\0';
}


ngx_int_t
ngx_http_farm_limit_redis_start(ngx_cycle_t *cycle,
    ngx_http_farm_limit_backend_t *b)
{
    ngx_http_farm_rconn_t  *rc;

    b->log = cycle->log;
    b->backoff = NGX_HTTP_FARM_LIMIT_BACKOFF_MIN;

    b->retry.handler = ngx_http_farm_limit_redis_retry;
    b->retry.data = b;
    b->retry.log = cycle->log;

    /* an exiting worker does not wait for a reconnection */
    b->retry.cancelable = 1;

    rc = &b->conn;

    rc->sockaddr = b->sockaddr;
    rc->socklen = b->socklen;
    rc->name = b->name;
    rc->ssl = b->ssl;
    rc->server_name = b->server_name;
    rc->verify = b->ssl_verify;
    rc->connect_timeout = NGX_HTTP_FARM_LIMIT_CONNECT;
    rc->reply_timeout = b->timeout ? b->timeout : NGX_HTTP_FARM_LIMIT_CONNECT;
    rc->log = cycle->log;
    rc->closed = ngx_http_farm_limit_redis_closed;
    rc->data = b;

    ngx_http_farm_limit_redis_connect(b);

    return NGX_OK;
}


void
ngx_http_farm_limit_redis_stop(ngx_http_farm_limit_backend_t *b)
{
    ngx_http_farm_limit_pending_t  *p;

    b->stopped = 1;

    if (b->retry.timer_set) {
        ngx_del_timer(&b->retry);
    }

    /* the pending commands' callbacks free their slots */

    ngx_http_farm_rconn_free(&b->conn);

    while (b->free) {
        p = b->free;
        b->free = p->next;
        ngx_free(p);
    }
}


/*
 * Opens the connection and queues its setup, sent once connected, ahead
 * of any request: AUTH and SELECT as the URL says, and SCRIPT LOAD.
 */

static void
ngx_http_farm_limit_redis_connect(ngx_http_farm_limit_backend_t *b)
{
    u_char       db[NGX_INT_T_LEN];
    size_t       argvlen[3];
    const char  *argv[3];

    if (ngx_http_farm_rconn_open(&b->conn) != NGX_OK) {
        ngx_http_farm_limit_redis_drop(b, b->conn.err);
        return;
    }

    if (b->url.password[0]) {
        argv[0] = "AUTH";
        argvlen[0] = sizeof("AUTH") - 1;

        if (b->url.user[0]) {
            argv[1] = b->url.user;
            argvlen[1] = ngx_strlen(b->url.user);
            argv[2] = b->url.password;
            argvlen[2] = ngx_strlen(b->url.password);

            ngx_http_farm_limit_redis_setup(b, 3, argv, argvlen);

        } else {
            argv[1] = b->url.password;
            argvlen[1] = ngx_strlen(b->url.password);

            ngx_http_farm_limit_redis_setup(b, 2, argv, argvlen);
        }
    }

    if (b->url.db) {
        argv[0] = "SELECT";
        argvlen[0] = sizeof("SELECT") - 1;
        argv[1] = (char *) db;
        argvlen[1] = ngx_sprintf(db, "%ui", (ngx_uint_t) b->url.db) - db;

        ngx_http_farm_limit_redis_setup(b, 2, argv, argvlen);
    }

    argv[0] = "SCRIPT";
    argvlen[0] = sizeof("SCRIPT") - 1;
    argv[1] = "LOAD";
    argvlen[1] = sizeof("LOAD") - 1;
    argv[2] = ngx_http_farm_limit_script;
    argvlen[2] = sizeof(ngx_http_farm_limit_script) - 1;

    ngx_http_farm_limit_redis_setup(b, 3, argv, argvlen);
}


static void
ngx_http_farm_limit_redis_setup(ngx_http_farm_limit_backend_t *b, int argc,
    const char **argv, const size_t *argvlen)
{
    if (b->conn.connection == NULL) {
        return;
    }

    if (ngx_http_farm_rconn_command(&b->conn, argc, argv, argvlen,
                                    ngx_http_farm_limit_redis_setup_cb, b)
        != NGX_OK)
    {
        ngx_http_farm_limit_redis_drop(b, "out of memory");
    }
}


/*
 * Closes the connection (its commands' callbacks run with no reply, so
 * their requests go on without waiting) and schedules the next attempt.
 */

static void
ngx_http_farm_limit_redis_drop(ngx_http_farm_limit_backend_t *b,
    const char *reason)
{
    ngx_http_farm_rconn_close(&b->conn, reason);

    if (reason) {
        ngx_http_farm_limit_redis_report(b, reason);
    }

    b->up = 0;

    if (b->stopped || b->retry.timer_set || ngx_exiting) {
        return;
    }

    ngx_add_timer(&b->retry,
                  b->backoff + ngx_random() % (b->backoff / 4 + 1));

    b->backoff = ngx_min(b->backoff * 2, NGX_HTTP_FARM_LIMIT_BACKOFF_MAX);
}


static void
ngx_http_farm_limit_redis_retry(ngx_event_t *ev)
{
    ngx_http_farm_limit_backend_t  *b;

    b = ev->data;

    if (b->stopped || b->conn.connection || ngx_exiting) {
        return;
    }

    ngx_http_farm_limit_redis_connect(b);
}


/*
 * The connection failed by itself: connect, TLS, a read, a write, a reply
 * too large or overdue.
 */

static void
ngx_http_farm_limit_redis_closed(ngx_http_farm_rconn_t *rc,
    const char *reason)
{
    ngx_http_farm_limit_backend_t  *b;

    b = rc->data;

    if (b->stopped) {
        return;
    }

    ngx_http_farm_limit_redis_drop(b, reason);
}


static void
ngx_http_farm_limit_redis_setup_cb(void *data, void *reply)
{
    redisReply                     *rr;
    ngx_http_farm_limit_backend_t  *b;

    rr = reply;
    b = data;

    if (rr == NULL || b->stopped) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, b->log, 0,
                      "farm_limit: redis %V refused the connection's "
                      "setup: %*s", &b->display,
                      (size_t) ngx_min(rr->len, 200), rr->str);

        ngx_http_farm_limit_redis_drop(b, "setup refused (AUTH, SELECT "
                                          "or SCRIPT LOAD)");
        return;
    }

    /* the server answers: the next failure waits from the least again */

    b->backoff = NGX_HTTP_FARM_LIMIT_BACKOFF_MIN;

    if (rr->type == REDIS_REPLY_STRING && rr->len == 40
        && ngx_strncmp(rr->str, b->sha, 40) != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, b->log, 0,
                      "farm_limit: redis %V loaded the script as %*s, "
                      "expected %s", &b->display, (size_t) 40, rr->str,
                      b->sha);
    }
}


/*
 * Sends the script for one request.  Returns NGX_AGAIN (the reply, or its
 * failure, resumes the request later), NGX_DECLINED (no connection now:
 * decide without Redis) or NGX_ERROR.
 */

ngx_int_t
ngx_http_farm_limit_redis_send(ngx_http_request_t *r,
    ngx_http_farm_limit_ctx_t *ctx, ngx_http_farm_limit_t *limit,
    ngx_str_t *key)
{
    int                             argc;
    u_char                         *buf, *p;
    size_t                         *argvlen, len;
    int64_t                         start, ttl;
    unsigned                        w;
    ngx_uint_t                      n, i;
    const char                    **argv;
    ngx_http_farm_limit_zone_t     *zone;
    ngx_http_farm_limit_pending_t  *pending;
    ngx_http_farm_limit_backend_t  *b;

    zone = limit->zone;
    b = zone->backend;

    if (b->conn.connection == NULL) {
        ctx->redis_err = "no connection";
        return NGX_DECLINED;
    }

    n = limit->nwindows;
    argc = (int) (3 + 3 * n);

    argv = ngx_palloc(r->pool, argc * sizeof(char *));
    argvlen = ngx_palloc(r->pool, argc * sizeof(size_t));

    len = n * (sizeof("farm:limit:{:}:second:") - 1 + zone->name.len
               + key->len + 3 * NGX_INT64_LEN)
          + NGX_INT_T_LEN;

    buf = ngx_pnalloc(r->pool, len);

    if (argv == NULL || argvlen == NULL || buf == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "EVALSHA";
    argvlen[0] = sizeof("EVALSHA") - 1;
    argv[1] = (char *) b->sha;
    argvlen[1] = 40;

    p = buf;

    argv[2] = (char *) p;
    p = ngx_sprintf(p, "%ui", n);
    argvlen[2] = p - (u_char *) argv[2];

    i = 0;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (limit->limit[w] == 0) {
            continue;
        }

        start = farm_window_start(w, ctx->now);
        ttl = farm_window_next(w, start) - ctx->now
              + NGX_HTTP_FARM_LIMIT_TTL_SLACK;

        argv[3 + i] = (char *) p;
        p = ngx_sprintf(p, "farm:limit:{%V:%V}:%s:%L", &zone->name, key,
                        farm_window_name(w), start);
        argvlen[3 + i] = p - (u_char *) argv[3 + i];

        argv[3 + n + i] = (char *) p;
        p = ngx_sprintf(p, "%uD", limit->limit[w]);
        argvlen[3 + n + i] = p - (u_char *) argv[3 + n + i];

        argv[3 + 2 * n + i] = (char *) p;
        p = ngx_sprintf(p, "%L", ttl);
        argvlen[3 + 2 * n + i] = p - (u_char *) argv[3 + 2 * n + i];

        i++;
    }

    pending = b->free;

    if (pending) {
        b->free = pending->next;

    } else {
        pending = ngx_alloc(sizeof(ngx_http_farm_limit_pending_t), b->log);
        if (pending == NULL) {
            return NGX_ERROR;
        }
    }

    pending->backend = b;
    pending->ctx = ctx;
    pending->limit = limit;
    pending->next = NULL;
    pending->eval = 0;

    if (ngx_http_farm_rconn_command(&b->conn, argc, argv, argvlen,
                                    ngx_http_farm_limit_redis_reply, pending)
        != NGX_OK)
    {
        pending->ctx = NULL;
        ngx_http_farm_limit_redis_release(pending);
        ctx->redis_err = "cannot send";
        return NGX_DECLINED;
    }

    ctx->pending = pending;
    ctx->argc = argc;
    ctx->argv = argv;
    ctx->argvlen = argvlen;

    return NGX_AGAIN;
}


/*
 * The request stops waiting: it timed out (then the connection, too slow,
 * is dropped) or it is going away.  The reply, when it comes, is ignored.
 */

void
ngx_http_farm_limit_redis_cancel(ngx_http_farm_limit_ctx_t *ctx,
    ngx_uint_t timed_out)
{
    ngx_http_farm_limit_pending_t  *p;
    ngx_http_farm_limit_backend_t  *b;

    p = ctx->pending;

    if (p == NULL) {
        return;
    }

    ctx->pending = NULL;
    p->ctx = NULL;

    b = p->backend;

    if (timed_out && b->conn.connection) {
        ngx_http_farm_limit_redis_drop(b, "a reply timed out");
    }
}


static void
ngx_http_farm_limit_redis_reply(void *data, void *reply)
{
    u_char                         *err;
    size_t                          len;
    redisReply                     *rr;
    ngx_http_farm_limit_ctx_t      *ctx;
    ngx_http_farm_limit_pending_t  *p;
    ngx_http_farm_limit_backend_t  *b;

    p = data;
    rr = reply;
    ctx = p->ctx;
    b = p->backend;

    if (ctx == NULL || b->stopped) {
        ngx_http_farm_limit_redis_release(p);
        return;
    }

    if (rr == NULL) {

        /* the request reads it later, after the next failure maybe */

        err = NULL;

        if (b->conn.err[0]) {
            len = ngx_strlen(b->conn.err);

            err = ngx_pnalloc(ctx->request->pool, len + 1);
            if (err) {
                *ngx_cpymem(err, b->conn.err, len) = '\0';
            }
        }

        ngx_http_farm_limit_redis_failed(p, err ? (char *) err
                                                : "connection lost");
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {

        if (!p->eval && rr->len >= 8
            && ngx_strncmp(rr->str, "NOSCRIPT", 8) == 0)
        {
            /* flushed or restarted: EVAL loads the script again */

            p->eval = 1;

            ctx->argv[0] = "EVAL";
            ctx->argvlen[0] = sizeof("EVAL") - 1;
            ctx->argv[1] = ngx_http_farm_limit_script;
            ctx->argvlen[1] = sizeof(ngx_http_farm_limit_script) - 1;

            if (ngx_http_farm_rconn_command(&b->conn, ctx->argc, ctx->argv,
                                            ctx->argvlen,
                                            ngx_http_farm_limit_redis_reply,
                                            p)
                == NGX_OK)
            {
                return;
            }
        }

        len = ngx_min(rr->len, 200);

        err = ngx_pnalloc(ctx->request->pool, len + 1);
        if (err) {
            *ngx_cpymem(err, rr->str, len) = '\0';
        }

        ngx_http_farm_limit_redis_failed(p, err ? (char *) err
                                                : "an error reply");
        return;
    }

    if (ngx_http_farm_limit_redis_parse(p, rr) != NGX_OK) {
        ngx_http_farm_limit_redis_failed(p, "an unexpected reply");
        return;
    }

    ngx_http_farm_limit_redis_healthy(p->backend);

    ctx->pending = NULL;
    ngx_http_farm_limit_redis_release(p);

    ctx->resume(ctx);
}


/* {admitted, count...}: the counts go to ctx->counts of this limit */

static ngx_int_t
ngx_http_farm_limit_redis_parse(ngx_http_farm_limit_pending_t *p,
    redisReply *rr)
{
    unsigned                    w;
    uint32_t                   *count;
    ngx_uint_t                  i, n;
    redisReply                 *e;
    ngx_http_farm_limit_t      *limit, *limits;
    ngx_http_farm_limit_ctx_t  *ctx;

    ctx = p->ctx;
    limit = p->limit;

    if (rr->type != REDIS_REPLY_ARRAY
        || rr->elements != limit->nwindows + 1)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < rr->elements; i++) {
        if (rr->element[i]->type != REDIS_REPLY_INTEGER
            || rr->element[i]->integer < 0)
        {
            return NGX_ERROR;
        }
    }

    limits = ctx->lcf->limits->elts;
    n = limit - limits;
    count = &ctx->counts[n * FARM_WIN_N];

    i = 1;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (limit->limit[w] == 0) {
            continue;
        }

        e = rr->element[i++];
        count[w] = (uint32_t) ngx_min(e->integer, (long long) FARM_LIMIT_MAX);
    }

    ctx->redis_rc = rr->element[0]->integer == 1
                    ? NGX_HTTP_FARM_LIMIT_ADMITTED
                    : NGX_HTTP_FARM_LIMIT_REJECTED;

    return NGX_OK;
}


static void
ngx_http_farm_limit_redis_failed(ngx_http_farm_limit_pending_t *p,
    const char *reason)
{
    ngx_http_farm_limit_ctx_t  *ctx;

    ctx = p->ctx;

    ctx->pending = NULL;
    ctx->redis_rc = NGX_HTTP_FARM_LIMIT_FAILED;
    ctx->redis_err = reason;

    ngx_http_farm_limit_redis_release(p);

    ctx->resume(ctx);
}


static void
ngx_http_farm_limit_redis_release(ngx_http_farm_limit_pending_t *p)
{
    ngx_http_farm_limit_backend_t  *b;

    b = p->backend;

    if (b->stopped) {
        ngx_free(p);
        return;
    }

    p->ctx = NULL;
    p->next = b->free;
    b->free = p;
}


/*
 * A request could not use Redis: counted for the report, which goes to
 * the error log at most once per interval.
 */

void
ngx_http_farm_limit_redis_fault(ngx_http_farm_limit_backend_t *b,
    const char *reason, ngx_flag_t tolerant)
{
    if (tolerant) {
        b->passed++;

    } else {
        b->refused++;
    }

    ngx_http_farm_limit_redis_report(b, reason ? reason : "unavailable");
}


static void
ngx_http_farm_limit_redis_report(ngx_http_farm_limit_backend_t *b,
    const char *reason)
{
    time_t  now;

    b->failing = 1;

    now = ngx_time();

    if (b->reported && now - b->reported < NGX_HTTP_FARM_LIMIT_FAULT_REPORT) {
        return;
    }

    b->reported = now;

    if (b->passed == 0 && b->refused == 0) {
        ngx_log_error(NGX_LOG_ERR, b->log, 0,
                      "farm_limit: redis %V is unavailable (%s)",
                      &b->display, reason);

    } else {
        ngx_log_error(NGX_LOG_ERR, b->log, 0,
                      "farm_limit: redis %V is unavailable (%s); since "
                      "the last report %ui requests passed without its "
                      "limits (fault_tolerant=on) and %ui were refused "
                      "with 503 (fault_tolerant=off)", &b->display, reason,
                      b->passed, b->refused);
    }

    b->passed = 0;
    b->refused = 0;
}


static void
ngx_http_farm_limit_redis_healthy(ngx_http_farm_limit_backend_t *b)
{
    b->up = 1;
    b->backoff = NGX_HTTP_FARM_LIMIT_BACKOFF_MIN;

    if (!b->failing) {
        return;
    }

    b->failing = 0;
    b->reported = 0;

    ngx_log_error(NGX_LOG_NOTICE, b->log, 0,
                  "farm_limit: redis %V is reachable again", &b->display);
}


/*
 * A command of another user of this backend's connection (CONTRACTS.md
 * 5): NGX_OK, cb will be called exactly once, with the reply or NULL;
 * NGX_DECLINED, no connection now; NGX_ERROR.  argv is copied.
 */

ngx_int_t
ngx_http_farm_limit_redis_command(ngx_http_farm_limit_backend_t *b,
    int argc, const char **argv, const size_t *argvlen,
    ngx_http_farm_limit_redis_cb_pt cb, void *data)
{
    if (b->stopped) {
        return NGX_DECLINED;
    }

    return ngx_http_farm_rconn_command(&b->conn, argc, argv, argvlen, cb,
                                       data);
}
