
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * policy=redis: farm_limit counters in Redis, shared by every gateway that
 * points at the same server, on nginx's event loop (hiredis' async API
 * through ngx_http_farm_hiredis.c).  Each worker keeps one connection per
 * Redis server, opened in init_process and reopened with jittered
 * exponential backoff when it fails.
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
#include <hiredis/async.h>


#define NGX_HTTP_FARM_LIMIT_BACKOFF_MIN   100     /* ms */
#define NGX_HTTP_FARM_LIMIT_BACKOFF_MAX   5000    /* ms */
#define NGX_HTTP_FARM_LIMIT_FAULT_REPORT  10      /* s */

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
static void ngx_http_farm_limit_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_farm_limit_redis_on_disconnect(
    const redisAsyncContext *ac, int status);
static void ngx_http_farm_limit_redis_setup_cb(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_farm_limit_redis_reply(redisAsyncContext *ac,
    void *reply, void *data);
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
    b->log = cycle->log;
    b->backoff = NGX_HTTP_FARM_LIMIT_BACKOFF_MIN;

    b->retry.handler = ngx_http_farm_limit_redis_retry;
    b->retry.data = b;
    b->retry.log = cycle->log;

    /* an exiting worker does not wait for a reconnection */
    b->retry.cancelable = 1;

    ngx_http_farm_limit_redis_connect(b);

    return NGX_OK;
}


void
ngx_http_farm_limit_redis_stop(ngx_http_farm_limit_backend_t *b)
{
    redisAsyncContext              *ac;
    ngx_http_farm_limit_pending_t  *p;

    b->stopped = 1;

    if (b->retry.timer_set) {
        ngx_del_timer(&b->retry);
    }

    ac = b->ac;

    if (ac) {
        b->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }

    while (b->free) {
        p = b->free;
        b->free = p->next;
        ngx_free(p);
    }
}


static void
ngx_http_farm_limit_redis_connect(ngx_http_farm_limit_backend_t *b)
{
    redisAsyncContext  *ac;

    ac = redisAsyncConnect((char *) b->addr, (int) b->url.port);

    if (ac == NULL) {
        ngx_http_farm_limit_redis_drop(b, "out of memory");
        return;
    }

    if (ac->err) {
        ngx_http_farm_limit_redis_report(b, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_farm_limit_redis_drop(b, NULL);
        return;
    }

    if (ngx_http_farm_hiredis_attach(ac, b->log) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_farm_limit_redis_drop(b, "no free connection "
                                          "(worker_connections)");
        return;
    }

    ac->data = b;
    b->ac = ac;

    redisAsyncSetConnectCallback(ac, ngx_http_farm_limit_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac,
                                    ngx_http_farm_limit_redis_on_disconnect);

    /* queued now, sent once connected, ahead of any request */

    if (b->url.password[0] && b->url.user[0]) {
        redisAsyncCommand(ac, ngx_http_farm_limit_redis_setup_cb, b,
                          "AUTH %s %s", b->url.user, b->url.password);

    } else if (b->url.password[0]) {
        redisAsyncCommand(ac, ngx_http_farm_limit_redis_setup_cb, b,
                          "AUTH %s", b->url.password);
    }

    if (b->url.db) {
        redisAsyncCommand(ac, ngx_http_farm_limit_redis_setup_cb, b,
                          "SELECT %u", b->url.db);
    }

    redisAsyncCommand(ac, ngx_http_farm_limit_redis_setup_cb, b,
                      "SCRIPT LOAD %s", ngx_http_farm_limit_script);
}


/*
 * Closes the connection (its commands' callbacks run with no reply, so
 * their requests go on without waiting) and schedules the next attempt.
 */

static void
ngx_http_farm_limit_redis_drop(ngx_http_farm_limit_backend_t *b,
    const char *reason)
{
    redisAsyncContext  *ac;

    ac = b->ac;

    if (ac) {
        b->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }

    if (reason) {
        ngx_http_farm_limit_redis_report(b, reason);
    }

    b->up = 0;

    if (b->stopped || b->retry.timer_set) {
        return;
    }

    ngx_add_timer(&b->retry,
                  b->backoff + ngx_random() % (b->backoff / 4 + 1));

    b->backoff = ngx_min(b->backoff * 2, NGX_HTTP_FARM_LIMIT_BACKOFF_MAX);
}


static void
ngx_http_farm_limit_redis_retry(ngx_event_t *ev)
{
    ngx_http_farm_limit_backend_t  *b = ev->data;

    if (b->stopped || b->ac) {
        return;
    }

    ngx_http_farm_limit_redis_connect(b);
}


static void
ngx_http_farm_limit_redis_on_connect(const redisAsyncContext *cac,
    int status)
{
    redisAsyncContext              *ac = (redisAsyncContext *) cac;
    ngx_http_farm_limit_backend_t  *b;

    b = ac->data;

    if (b == NULL || status == REDIS_OK) {
        return;
    }

    /* hiredis frees a context that failed to connect by itself */

    b->ac = NULL;
    ac->data = NULL;

    ngx_http_farm_limit_redis_drop(b, ac->errstr[0] ? ac->errstr
                                                    : "connection refused");
}


static void
ngx_http_farm_limit_redis_on_disconnect(const redisAsyncContext *cac,
    int status)
{
    redisAsyncContext              *ac = (redisAsyncContext *) cac;
    ngx_http_farm_limit_backend_t  *b;

    b = ac->data;

    /* NULL: we closed it */

    if (b == NULL) {
        return;
    }

    b->ac = NULL;
    ac->data = NULL;

    ngx_http_farm_limit_redis_drop(b, ac->errstr[0] ? ac->errstr
                                                    : "connection closed");
}


static void
ngx_http_farm_limit_redis_setup_cb(redisAsyncContext *ac, void *reply,
    void *data)
{
    redisReply                     *rr = reply;
    ngx_http_farm_limit_backend_t  *b;

    b = ac->data;

    if (b == NULL || rr == NULL) {
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

    if (b->ac == NULL) {
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

    if (redisAsyncCommandArgv(b->ac, ngx_http_farm_limit_redis_reply,
                              pending, argc, argv, argvlen)
        != REDIS_OK)
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

    if (timed_out && b->ac) {
        ngx_http_farm_limit_redis_drop(b, "a reply timed out");
    }
}


static void
ngx_http_farm_limit_redis_reply(redisAsyncContext *ac, void *reply,
    void *data)
{
    ngx_http_farm_limit_pending_t  *p = data;

    u_char                         *err;
    size_t                          len;
    redisReply                     *rr;
    ngx_http_farm_limit_ctx_t      *ctx;

    rr = reply;
    ctx = p->ctx;

    if (ctx == NULL || p->backend->stopped) {
        ngx_http_farm_limit_redis_release(p);
        return;
    }

    if (rr == NULL) {
        ngx_http_farm_limit_redis_failed(p, ac->errstr[0] ? ac->errstr
                                                          : "connection "
                                                            "lost");
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

            if (redisAsyncCommandArgv(ac, ngx_http_farm_limit_redis_reply, p,
                                      ctx->argc, ctx->argv, ctx->argvlen)
                == REDIS_OK)
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
 * Any command on the backend's connection, for other users of the same
 * Redis (Kong rate-limiting's sync_rate): the reply goes to cb through a
 * small record freed before cb runs, so cb may send again.
 */

typedef struct {
    ngx_http_farm_limit_redis_cb_pt  cb;
    void                            *data;
} ngx_http_farm_limit_redis_call_t;


static void ngx_http_farm_limit_redis_call_reply(redisAsyncContext *ac,
    void *reply, void *data);


ngx_int_t
ngx_http_farm_limit_redis_command(ngx_http_farm_limit_backend_t *b,
    int argc, const char **argv, const size_t *argvlen,
    ngx_http_farm_limit_redis_cb_pt cb, void *data)
{
    ngx_http_farm_limit_redis_call_t  *call;

    if (b->ac == NULL || b->stopped) {
        return NGX_DECLINED;
    }

    call = ngx_alloc(sizeof(ngx_http_farm_limit_redis_call_t), b->log);
    if (call == NULL) {
        return NGX_ERROR;
    }

    call->cb = cb;
    call->data = data;

    /* hiredis formats the command into its output buffer at once */

    if (redisAsyncCommandArgv(b->ac, ngx_http_farm_limit_redis_call_reply,
                              call, argc, argv, argvlen)
        != REDIS_OK)
    {
        ngx_free(call);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_farm_limit_redis_call_reply(redisAsyncContext *ac, void *reply,
    void *data)
{
    ngx_http_farm_limit_redis_call_t  *call = data;

    void                             *cdata;
    ngx_http_farm_limit_redis_cb_pt   cb;

    cb = call->cb;
    cdata = call->data;

    ngx_free(call);

    cb(cdata, reply);
}
