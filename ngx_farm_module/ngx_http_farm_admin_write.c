
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_admin's changes once checked (ngx_http_farm_admin.c parses and
 * checks them): put in the zone, answered with the agent and logged, and,
 * with write=registry, written to the registry first, so that every
 * gateway in front of it applies them at its next full sync
 * (ngx_http_farm_override_sync.c has the form).
 *
 * Redis: HSET <prefix>:<service>:overrides <id> <JSON> (HDEL when the
 * change brings the agent back to the defaults), on a connection of its
 * own that the worker which took the request opens for it on nginx's
 * event loop (hiredis' async API, ngx_http_farm_hiredis.c), with AUTH and
 * SELECT as farm_registry's URL says, bounded by the upstream's timeout=.
 * Only the sync owner holds the registry connections, and an admin change
 * is rare: a connection per change costs one connect, and no worker keeps
 * one idle.  The request waits for the reply; the change is applied here
 * only when Redis took it.  A refusal, a lost connection or a timeout is a
 * 502 to the client and an error line, and changes nothing.
 */


#include "ngx_http_farm_override_sync.h"
#include "ngx_http_farm_queue.h"
#include "ngx_http_farm_status.h"
#include "ngx_http_farm_admin.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


/* a write in flight; in the request's pool, which outlives it */
typedef struct {
    ngx_http_request_t            *request;
    ngx_http_farm_admin_path_t    *path;
    redisAsyncContext             *ac;
    ngx_event_t                    timer;
    ngx_uint_t                     done;
} ngx_http_farm_admin_redis_t;


static void ngx_http_farm_admin_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_farm_admin_redis_closed(const redisAsyncContext *ac,
    int status);
static void ngx_http_farm_admin_redis_reply(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_farm_admin_redis_timeout(ngx_event_t *ev);
static void ngx_http_farm_admin_redis_end(ngx_http_farm_admin_redis_t *w,
    const char *error, const char *detail);


/*
 * Puts the change of path in the zone, as origin's: NGX_OK, NGX_DECLINED
 * (the agent is not registered now; its entry is set all the same) or
 * NGX_BUSY (the table of overrides is full).
 */

ngx_int_t
ngx_http_farm_admin_apply(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, ngx_uint_t origin)
{
    ngx_int_t               rc;
    ngx_uint_t              changed;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_zone_get(path->fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);

    rc = ngx_http_farm_override_put_locked(&z, path->id.data, path->id.len,
                                           path->mode, path->weight,
                                           path->until, origin, 0,
                                           &changed, &a);

    if (a && (changed & NGX_HTTP_FARM_CHANGED_CAPACITY)) {
        ngx_http_farm_queue_dispatch_locked(&z, a);
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    if (rc == NGX_DECLINED) {
        return NGX_BUSY;
    }

    return a ? NGX_OK : NGX_DECLINED;
}


/* Answers a change that apply() returned rc for: the agent, and a log line */

ngx_int_t
ngx_http_farm_admin_answer(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, ngx_int_t rc)
{
    u_char                      *p;
    ngx_str_t                    addr;
    const char                  *where;
    ngx_http_farm_zone_t         z;
    ngx_http_farm_agent_t       *a;
    ngx_http_farm_status_out_t   out;

    if (rc == NGX_BUSY) {
        return ngx_http_farm_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "the pool's table of overrides "
                                         "is full (1024 agents)");
    }

    out.request = r;
    out.first = NULL;
    out.last = NULL;
    out.total = 0;

    p = ngx_http_farm_status_reserve(&out, NGX_HTTP_FARM_AGENT_JSON
                                           + FARM_META_MAX + 2);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_farm_zone_get(path->fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);

    a = ngx_http_farm_agent_lookup_locked(&z, path->id.data, path->id.len);

    if (a) {
        p = ngx_http_farm_status_agent_locked(p, path->fcf, z.sh, a);
        *p++ = '\n';
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    if (a == NULL) {
        return ngx_http_farm_admin_error(r, NGX_HTTP_NOT_FOUND,
                                         "agent: not registered in this pool");
    }

    ngx_http_farm_status_commit(&out, p);

    addr = r->connection->addr_text;

    where = path->registry ? ", written to the registry" : "";

    if (path->what == NGX_HTTP_FARM_ADMIN_AGENT) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "farm admin: client %V set agent \"%V\" of pool \"%V\":"
                      " mode %s -> %s, weight %uD -> %uD%s",
                      &addr, &path->id, &path->pool,
                      ngx_http_farm_mode_name(path->old_mode),
                      ngx_http_farm_mode_name(path->mode),
                      path->old_weight, path->weight, where);

    } else if (path->seconds > 0) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "farm admin: client %V ejected agent \"%V\" of pool "
                      "\"%V\" for %i s (was %s)%s", &addr, &path->id,
                      &path->pool, path->seconds,
                      path->old_until ? "ejected" : "not ejected", where);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "farm admin: client %V ended the ejection of agent "
                      "\"%V\" of pool \"%V\" (was %s)%s", &addr, &path->id,
                      &path->pool, path->old_until ? "ejected" : "not ejected",
                      where);
    }

    return ngx_http_farm_status_send(r, &out, NGX_HTTP_OK);
}


ngx_int_t
ngx_http_farm_admin_commit(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, ngx_uint_t origin)
{
    return ngx_http_farm_admin_answer(r, path,
                               ngx_http_farm_admin_apply(r, path, origin));
}


/*
 * A change write=registry could not write: nothing changed, the client
 * gets a 502 naming what failed (why is in the error log).
 */

ngx_int_t
ngx_http_farm_admin_failed(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, const char *what)
{
    u_char  *text;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "farm admin: client %V: the change of agent \"%V\" of pool "
                  "\"%V\" was not written to registry %V (%s): nothing "
                  "changed", &r->connection->addr_text, &path->id,
                  &path->pool, &path->fcf->url_display, what);

    text = ngx_pnalloc(r->pool, ngx_strlen(what) + 64);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(text, "registry: %s; nothing changed%Z", what);

    return ngx_http_farm_admin_error(r, NGX_HTTP_BAD_GATEWAY,
                                     (const char *) text);
}


/*
 * The end of a registry write (Redis here, Consul in
 * ngx_http_farm_admin_consul.c), from the event loop: error is NULL when
 * the registry took it, else what failed (a short fixed text), and detail
 * the registry's or the library's own words, logged.  Applies the change
 * here and answers.
 */

void
ngx_http_farm_admin_written(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, const char *error, const char *detail)
{
    u_char             text[256], *p;
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = r->connection;

    if (error) {
        p = ngx_http_farm_log_escape(text, text + sizeof(text) - 1,
                                     (u_char *) detail, ngx_strlen(detail));
        *p = '\0';

        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "farm admin: registry %V: %s: %s",
                      &path->fcf->url_display, error, text);

        rc = ngx_http_farm_admin_failed(r, path, error);

    } else {
        rc = ngx_http_farm_admin_commit(r, path, NGX_HTTP_FARM_OV_REGISTRY);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * Starts the write of path's change to its pool's Redis: NGX_DONE (the
 * reply, or its failure, ends the request later through
 * ngx_http_farm_admin_written()), or NGX_ERROR (logged): nothing was sent.
 */

ngx_int_t
ngx_http_farm_admin_write_redis(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path)
{
    u_char                        json[NGX_HTTP_FARM_OVERRIDE_JSON], *p;
    farm_url_t                   *url;
    redisAsyncContext            *ac;
    ngx_http_farm_srv_conf_t     *fcf;
    ngx_http_farm_admin_redis_t  *w;
    ngx_http_farm_override_rec_t  rec;

    fcf = path->fcf;
    url = &fcf->url;

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_admin_redis_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->request = r;
    w->path = path;

    ac = redisAsyncConnect((char *) fcf->addr_text.data, (int) url->port);

    if (ac == NULL || ac->err) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "farm admin: cannot connect to registry %V: %s",
                      &fcf->url_display, ac ? ac->errstr : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }

        return NGX_ERROR;
    }

    if (ngx_http_farm_hiredis_attach(ac, ngx_cycle->log) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "farm admin: cannot connect to registry %V: no free "
                      "connection (worker_connections)", &fcf->url_display);
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    w->ac = ac;
    ac->data = w;

    redisAsyncSetConnectCallback(ac, ngx_http_farm_admin_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_farm_admin_redis_closed);

    /*
     * queued now, sent once connected, in order; the callbacks find the
     * write through ac->data, which is NULL once it ended
     */

    if (url->password[0] && url->user[0]) {
        redisAsyncCommand(ac, ngx_http_farm_admin_redis_reply, NULL,
                          "AUTH %s %s", url->user, url->password);

    } else if (url->password[0]) {
        redisAsyncCommand(ac, ngx_http_farm_admin_redis_reply, NULL,
                          "AUTH %s", url->password);
    }

    if (url->db) {
        redisAsyncCommand(ac, ngx_http_farm_admin_redis_reply, NULL,
                          "SELECT %u", url->db);
    }

    if (path->mode == NGX_HTTP_FARM_MODE_ACTIVE && path->weight == 0
        && path->until == 0)
    {
        redisAsyncCommand(ac, ngx_http_farm_admin_redis_reply, (void *) 1,
                          "HDEL %b:%b:overrides %b",
                          fcf->prefix.data, fcf->prefix.len,
                          fcf->service.data, fcf->service.len,
                          path->id.data, path->id.len);

    } else {
        rec.mode = path->mode;
        rec.weight = path->weight;
        rec.until = ngx_http_farm_override_unix(path->until);

        p = ngx_http_farm_override_json(json, &rec);

        redisAsyncCommand(ac, ngx_http_farm_admin_redis_reply, (void *) 1,
                          "HSET %b:%b:overrides %b %b",
                          fcf->prefix.data, fcf->prefix.len,
                          fcf->service.data, fcf->service.len,
                          path->id.data, path->id.len,
                          json, (size_t) (p - json));
    }

    w->timer.handler = ngx_http_farm_admin_redis_timeout;
    w->timer.data = w;
    w->timer.log = r->connection->log;

    ngx_add_timer(&w->timer, fcf->timeout);

    return NGX_DONE;
}


static void
ngx_http_farm_admin_redis_connected(const redisAsyncContext *cac, int status)
{
    redisAsyncContext            *ac = (redisAsyncContext *) cac;
    ngx_http_farm_admin_redis_t  *w;

    w = ac->data;

    if (w == NULL || status == REDIS_OK) {
        return;
    }

    /* hiredis frees a context that failed to connect by itself */

    w->ac = NULL;
    ac->data = NULL;

    ngx_http_farm_admin_redis_end(w, "cannot connect", ac->errstr);
}


static void
ngx_http_farm_admin_redis_closed(const redisAsyncContext *cac, int status)
{
    redisAsyncContext            *ac = (redisAsyncContext *) cac;
    ngx_http_farm_admin_redis_t  *w;

    w = ac->data;

    /* NULL: the write ended, and the context is freed for it */

    if (w == NULL) {
        return;
    }

    w->ac = NULL;
    ac->data = NULL;

    ngx_http_farm_admin_redis_end(w, "the connection was lost",
                                  ac->errstr[0] ? ac->errstr : "closed");
}


/* data: NULL for AUTH and SELECT, 1 for the write */

static void
ngx_http_farm_admin_redis_reply(redisAsyncContext *ac, void *reply,
    void *data)
{
    redisReply                   *rr = reply;
    ngx_http_farm_admin_redis_t  *w;

    w = ac->data;

    if (w == NULL) {
        return;
    }

    if (rr == NULL) {
        ngx_http_farm_admin_redis_end(w, "the connection was lost",
                                      ac->errstr[0] ? ac->errstr : "no reply");
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_http_farm_admin_redis_end(w, "the registry refused the write",
                                      rr->str);
        return;
    }

    if (data != NULL) {
        ngx_http_farm_admin_redis_end(w, NULL, NULL);
    }
}


static void
ngx_http_farm_admin_redis_timeout(ngx_event_t *ev)
{
    ngx_http_farm_admin_redis_end(ev->data, "timed out",
                                  "no reply within timeout=");
}


/*
 * Ends the write: the connection goes (hiredis frees it once out of its
 * callbacks, when called from one), then the request is applied and
 * answered, or answered with error.
 */

static void
ngx_http_farm_admin_redis_end(ngx_http_farm_admin_redis_t *w,
    const char *error, const char *detail)
{
    redisAsyncContext  *ac;

    if (w->done) {
        return;
    }

    w->done = 1;

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    ac = w->ac;
    w->ac = NULL;

    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }

    ngx_http_farm_admin_written(w->request, w->path, error, detail);
}
