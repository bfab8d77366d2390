
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Redis registry backend, run by the sync owner on nginx's event loop
 * with hiredis' async API (ngx_http_farm_hiredis.c).  Two connections:
 *
 *   sub   SUBSCRIBE <prefix>:<service>:events         "register <id>",
 *                                                     "deregister <id>"
 *         PSUBSCRIBE __keyspace@<db>__:<agent keys>   set/expired/del, when
 *                                                     the server has
 *                                                     keyspace events on
 *   cmd   a full sync once subscribed and every resync= interval:
 *         SMEMBERS <index>, then MGET of the agent keys in chunks;
 *         GET <key> for each change notification
 *
 * Every exchange is watched by a timer (timeout=); a lost connection or an
 * overdue reply drops both connections and reconnects with backoff, while
 * the zone keeps the last known agents.  The master's startup read is in
 * ngx_http_farm_redis_warm.c.
 */


#include "ngx_http_farm_redis.h"

#include <farm_keys.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_FARM_REDIS_BACKOFF_MIN  100     /* ms */
#define NGX_HTTP_FARM_REDIS_BACKOFF_MAX  5000    /* ms */


struct ngx_http_farm_redis_s {
    ngx_http_farm_srv_conf_t      *fcf;
    redisAsyncContext             *cmd;
    redisAsyncContext             *sub;

    ngx_event_t                    retry;       /* reconnect */
    ngx_event_t                    resync;      /* next full sync */
    ngx_event_t                    watchdog;    /* a reply is overdue */

    ngx_msec_t                     backoff;
    uintptr_t                      generation;  /* bumps on every drop */

    u_char                         run_id[41];  /* of the Redis server */

    unsigned                       subscribed:1;
    unsigned                       syncing:1;
    unsigned                       stopped:1;

    /* the full sync in flight */
    char                         **ids;
    ngx_uint_t                     nids;
    ngx_uint_t                     pending;     /* MGET replies awaited */
};


/* what a GET or an MGET reply needs to know about its command */
typedef struct {
    uintptr_t                      generation;
    ngx_uint_t                     first;       /* MGET: r->ids[first...] */
    ngx_uint_t                     count;
    size_t                         key_len;     /* GET: the key */
    u_char                         key[FARM_KEY_MAX];
} ngx_http_farm_redis_req_t;


static ngx_int_t ngx_http_farm_redis_connect(ngx_http_farm_redis_t *r);
static redisAsyncContext *ngx_http_farm_redis_open(ngx_http_farm_redis_t *r,
    const char **err);
static void ngx_http_farm_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_farm_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_farm_redis_drop(ngx_http_farm_redis_t *r,
    const char *reason);
static void ngx_http_farm_redis_close(ngx_http_farm_redis_t *r);
static void ngx_http_farm_redis_free_ids(ngx_http_farm_redis_t *r);
static void ngx_http_farm_redis_auth_cb(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_farm_redis_info_cb(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_farm_redis_sub_cb(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_farm_redis_event(ngx_http_farm_redis_t *r,
    redisReply *payload);
static void ngx_http_farm_redis_keyspace(ngx_http_farm_redis_t *r,
    redisReply *channel, redisReply *payload);
static void ngx_http_farm_redis_fetch(ngx_http_farm_redis_t *r, u_char *id,
    size_t len);
static void ngx_http_farm_redis_get_cb(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_farm_redis_full_sync(ngx_http_farm_redis_t *r);
static void ngx_http_farm_redis_members_cb(redisAsyncContext *ac,
    void *reply, void *data);
static ngx_int_t ngx_http_farm_redis_mget(ngx_http_farm_redis_t *r,
    ngx_uint_t first, ngx_uint_t count);
static void ngx_http_farm_redis_mget_cb(redisAsyncContext *ac, void *reply,
    void *data);
static ngx_int_t ngx_http_farm_redis_type(ngx_http_farm_redis_t *r,
    u_char *key, size_t len);
static void ngx_http_farm_redis_type_cb(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_farm_redis_sync_done(ngx_http_farm_redis_t *r);
static void ngx_http_farm_redis_retry_handler(ngx_event_t *ev);
static void ngx_http_farm_redis_resync_handler(ngx_event_t *ev);
static void ngx_http_farm_redis_watchdog_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_farm_redis_current(redisAsyncContext *ac,
    void *data, ngx_http_farm_redis_t **rp);


ngx_int_t
ngx_http_farm_redis_start(ngx_http_farm_srv_conf_t *fcf, ngx_cycle_t *cycle)
{
    ngx_http_farm_redis_t  *r;

    r = ngx_pcalloc(cycle->pool, sizeof(ngx_http_farm_redis_t));
    if (r == NULL) {
        return NGX_ERROR;
    }

    r->fcf = fcf;
    r->backoff = NGX_HTTP_FARM_REDIS_BACKOFF_MIN;
    r->generation = 1;

    r->retry.handler = ngx_http_farm_redis_retry_handler;
    r->resync.handler = ngx_http_farm_redis_resync_handler;
    r->watchdog.handler = ngx_http_farm_redis_watchdog_handler;

    r->retry.data = r;
    r->resync.data = r;
    r->watchdog.data = r;

    r->retry.log = cycle->log;
    r->resync.log = cycle->log;
    r->watchdog.log = cycle->log;

    /* an exiting worker must not wait for these */

    r->retry.cancelable = 1;
    r->resync.cancelable = 1;
    r->watchdog.cancelable = 1;

    fcf->redis = r;

    if (ngx_http_farm_redis_connect(r) != NGX_OK) {
        ngx_add_timer(&r->retry, r->backoff);
    }

    return NGX_OK;
}


void
ngx_http_farm_redis_stop(ngx_http_farm_srv_conf_t *fcf)
{
    ngx_http_farm_redis_t  *r;

    r = fcf->redis;

    if (r == NULL || r->stopped) {
        return;
    }

    r->stopped = 1;

    ngx_http_farm_redis_close(r);

    if (r->retry.timer_set) {
        ngx_del_timer(&r->retry);
    }
}


static redisAsyncContext *
ngx_http_farm_redis_open(ngx_http_farm_redis_t *r, const char **err)
{
    redisAsyncContext         *ac;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = r->fcf;

    /* an IP address resolved at configuration time: no DNS here */

    ac = redisAsyncConnect((char *) fcf->addr_text.data, (int) fcf->url.port);

    if (ac == NULL) {
        *err = "out of memory";
        return NULL;
    }

    if (ac->err) {
        *err = ac->errstr[0] ? ac->errstr : "cannot connect";
        redisAsyncFree(ac);
        return NULL;
    }

    if (ngx_http_farm_hiredis_attach(ac, ngx_cycle->log) != NGX_OK) {
        *err = "no free connection (worker_connections)";
        redisAsyncFree(ac);
        return NULL;
    }

    ac->data = r;

    redisAsyncSetConnectCallback(ac, ngx_http_farm_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_farm_redis_on_disconnect);

    if (fcf->url.password[0] && fcf->url.user[0]) {
        redisAsyncCommand(ac, ngx_http_farm_redis_auth_cb,
                          (void *) r->generation, "AUTH %s %s",
                          fcf->url.user, fcf->url.password);

    } else if (fcf->url.password[0]) {
        redisAsyncCommand(ac, ngx_http_farm_redis_auth_cb,
                          (void *) r->generation, "AUTH %s",
                          fcf->url.password);
    }

    return ac;
}


static ngx_int_t
ngx_http_farm_redis_connect(ngx_http_farm_redis_t *r)
{
    u_char                     pattern[FARM_KEY_MAX + 32];
    const char                *err;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = r->fcf;
    r->subscribed = 0;

    r->cmd = ngx_http_farm_redis_open(r, &err);
    if (r->cmd == NULL) {
        goto failed;
    }

    if (fcf->url.db) {
        redisAsyncCommand(r->cmd, ngx_http_farm_redis_auth_cb,
                          (void *) r->generation, "SELECT %u", fcf->url.db);
    }

    redisAsyncCommand(r->cmd, ngx_http_farm_redis_info_cb,
                      (void *) r->generation, "INFO server");

    r->sub = ngx_http_farm_redis_open(r, &err);
    if (r->sub == NULL) {
        goto failed;
    }

    /* the full sync starts once the subscription is confirmed */

    redisAsyncCommand(r->sub, ngx_http_farm_redis_sub_cb,
                      (void *) r->generation, "SUBSCRIBE %s",
                      fcf->key_events);

    ngx_sprintf(pattern, "__keyspace@%ud__:%s*%Z", fcf->url.db,
                fcf->key_agent_prefix);

    redisAsyncCommand(r->sub, ngx_http_farm_redis_sub_cb,
                      (void *) r->generation, "PSUBSCRIBE %s", pattern);

    ngx_add_timer(&r->watchdog, fcf->timeout);

    return NGX_OK;

failed:

    ngx_http_farm_redis_drop(r, err);

    return NGX_ERROR;
}


/*
 * Checks that a callback belongs to the live connection of this generation
 * and the process is not shutting down.
 */

static ngx_int_t
ngx_http_farm_redis_current(redisAsyncContext *ac, void *data,
    ngx_http_farm_redis_t **rp)
{
    ngx_http_farm_redis_t  *r;

    r = ac->data;

    if (r == NULL || (uintptr_t) data != r->generation || r->stopped) {
        return 0;
    }

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_http_farm_redis_stop(r->fcf);
        return 0;
    }

    *rp = r;

    return 1;
}


static void
ngx_http_farm_redis_on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext      *ac = (redisAsyncContext *) cac;
    ngx_http_farm_redis_t  *r;

    r = ac->data;

    if (r == NULL || status == REDIS_OK) {
        return;
    }

    /* hiredis frees this context itself after a failed connect */

    if (ac == r->cmd) {
        r->cmd = NULL;

    } else if (ac == r->sub) {
        r->sub = NULL;
    }

    ac->data = NULL;

    ngx_http_farm_redis_drop(r, ac->errstr[0] ? ac->errstr
                                              : "connection refused");
}


static void
ngx_http_farm_redis_on_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext      *ac = (redisAsyncContext *) cac;
    ngx_http_farm_redis_t  *r;

    r = ac->data;

    /* NULL: we closed it ourselves */

    if (r == NULL) {
        return;
    }

    if (ac == r->cmd) {
        r->cmd = NULL;

    } else if (ac == r->sub) {
        r->sub = NULL;
    }

    ac->data = NULL;

    ngx_http_farm_redis_drop(r, ac->errstr[0] ? ac->errstr
                                              : "connection closed");
}


/* Closes both connections; callbacks still queued see a new generation. */

static void
ngx_http_farm_redis_close(ngx_http_farm_redis_t *r)
{
    redisAsyncContext  *ac;

    r->generation++;
    r->subscribed = 0;
    r->syncing = 0;
    r->pending = 0;

    ngx_http_farm_redis_free_ids(r);

    if (r->cmd) {
        ac = r->cmd;
        r->cmd = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }

    if (r->sub) {
        ac = r->sub;
        r->sub = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }

    if (r->watchdog.timer_set) {
        ngx_del_timer(&r->watchdog);
    }

    if (r->resync.timer_set) {
        ngx_del_timer(&r->resync);
    }
}


static void
ngx_http_farm_redis_drop(ngx_http_farm_redis_t *r, const char *reason)
{
    ngx_http_farm_redis_close(r);

    if (r->stopped) {
        return;
    }

    ngx_http_farm_sync_registry_state(r->fcf, 0, reason);

    if (!r->retry.timer_set) {
        ngx_add_timer(&r->retry, r->backoff + ngx_random() % (r->backoff / 4
                                                                + 1));
    }

    r->backoff = ngx_min(r->backoff * 2, NGX_HTTP_FARM_REDIS_BACKOFF_MAX);
}


static void
ngx_http_farm_redis_free_ids(ngx_http_farm_redis_t *r)
{
    ngx_uint_t  i;

    if (r->ids == NULL) {
        return;
    }

    for (i = 0; i < r->nids; i++) {
        ngx_free(r->ids[i]);
    }

    ngx_free(r->ids);

    r->ids = NULL;
    r->nids = 0;
}


static void
ngx_http_farm_redis_auth_cb(redisAsyncContext *ac, void *reply, void *data)
{
    redisReply             *rr = reply;
    ngx_http_farm_redis_t  *r;

    if (rr == NULL || !ngx_http_farm_redis_current(ac, data, &r)) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "farm: registry %V refused AUTH or SELECT: %s",
                      &r->fcf->url_display, rr->str);

        ngx_http_farm_redis_drop(r, rr->str);
    }
}


/*
 * A new run_id means the Redis server restarted since the last connection:
 * it may have lost the agents, which register again within a heartbeat.
 */

static void
ngx_http_farm_redis_info_cb(redisAsyncContext *ac, void *reply, void *data)
{
    u_char                 *p, *end;
    size_t                  len;
    redisReply             *rr = reply;
    ngx_http_farm_redis_t  *r;

    if (rr == NULL || !ngx_http_farm_redis_current(ac, data, &r)
        || rr->type != REDIS_REPLY_STRING)
    {
        return;
    }

    p = (u_char *) ngx_strstr(rr->str, "run_id:");
    if (p == NULL) {
        return;
    }

    p += sizeof("run_id:") - 1;

    for (end = p; end < p + 40 && *end && *end != '\r' && *end != '\n';
         end++)
    {
        /* void */
    }

    len = end - p;

    if (r->run_id[0]
        && (ngx_strlen(r->run_id) != len
            || ngx_strncmp(r->run_id, p, len) != 0))
    {
        ngx_http_farm_sync_hold(r->fcf, "restarted");
    }

    ngx_memcpy(r->run_id, p, len);
    r->run_id[len] = '\0';
}


static void
ngx_http_farm_redis_sub_cb(redisAsyncContext *ac, void *reply, void *data)
{
    redisReply             *rr = reply, **e;
    ngx_http_farm_redis_t  *r;

    if (rr == NULL || !ngx_http_farm_redis_current(ac, data, &r)) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_http_farm_redis_drop(r, rr->str);
        return;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements < 3) {
        return;
    }

    e = rr->element;

    if (e[0]->type != REDIS_REPLY_STRING) {
        return;
    }

    if (ngx_strcmp(e[0]->str, "subscribe") == 0) {
        r->subscribed = 1;
        ngx_http_farm_redis_full_sync(r);
        return;
    }

    if (ngx_strcmp(e[0]->str, "message") == 0
        && e[2]->type == REDIS_REPLY_STRING)
    {
        ngx_http_farm_redis_event(r, e[2]);
        return;
    }

    if (ngx_strcmp(e[0]->str, "pmessage") == 0 && rr->elements == 4
        && e[2]->type == REDIS_REPLY_STRING
        && e[3]->type == REDIS_REPLY_STRING)
    {
        ngx_http_farm_redis_keyspace(r, e[2], e[3]);
    }
}


static void
ngx_http_farm_redis_event(ngx_http_farm_redis_t *r, redisReply *payload)
{
    int   type;
    char  id[FARM_ID_MAX + 1];

    if (farm_event_parse(payload->str, payload->len, &type, id) != 0) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "farm: ignoring message \"%*s\" on %s: expected "
                      "\"register <id>\" or \"deregister <id>\"",
                      ngx_min(payload->len, 128), payload->str,
                      r->fcf->key_events);
        return;
    }

    if (type == FARM_EVENT_REGISTER) {
        ngx_http_farm_redis_fetch(r, (u_char *) id, ngx_strlen(id));

    } else {
        ngx_http_farm_sync_delete(r->fcf, (u_char *) id, ngx_strlen(id));
    }
}


/* "__keyspace@0__:farm:agents:agent:a1" with "set", "expired", "del" */

static void
ngx_http_farm_redis_keyspace(ngx_http_farm_redis_t *r, redisReply *channel,
    redisReply *payload)
{
    u_char                    *key, *id;
    size_t                     len;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = r->fcf;

    key = (u_char *) ngx_strchr(channel->str, ':');
    if (key == NULL) {
        return;
    }

    key++;
    len = channel->len - (key - (u_char *) channel->str);

    if (len <= fcf->key_agent_prefix_len
        || ngx_strncmp(key, fcf->key_agent_prefix, fcf->key_agent_prefix_len)
           != 0)
    {
        return;
    }

    id = key + fcf->key_agent_prefix_len;
    len -= fcf->key_agent_prefix_len;

    if (!farm_valid_id((char *) id, len)) {
        return;
    }

    if (ngx_strcmp(payload->str, "set") == 0) {
        ngx_http_farm_redis_fetch(r, id, len);

    } else if (ngx_strcmp(payload->str, "expired") == 0
               || ngx_strcmp(payload->str, "del") == 0
               || ngx_strcmp(payload->str, "evicted") == 0)
    {
        ngx_http_farm_sync_delete(fcf, id, len);
    }
}


static void
ngx_http_farm_redis_fetch(ngx_http_farm_redis_t *r, u_char *id, size_t len)
{
    ngx_http_farm_redis_req_t  *req;

    if (r->cmd == NULL) {
        return;
    }

    req = ngx_alloc(sizeof(ngx_http_farm_redis_req_t), ngx_cycle->log);
    if (req == NULL) {
        return;
    }

    req->generation = r->generation;
    req->key_len = ngx_snprintf(req->key, FARM_KEY_MAX, "%s%*s",
                                r->fcf->key_agent_prefix, len, id)
                   - req->key;

    if (redisAsyncCommand(r->cmd, ngx_http_farm_redis_get_cb, req, "GET %b",
                          req->key, req->key_len)
        != REDIS_OK)
    {
        ngx_free(req);
    }
}


static void
ngx_http_farm_redis_get_cb(redisAsyncContext *ac, void *reply, void *data)
{
    redisReply                 *rr = reply;
    ngx_http_farm_redis_t      *r;
    ngx_http_farm_redis_req_t  *req = data;

    if (rr != NULL
        && ngx_http_farm_redis_current(ac, (void *) req->generation, &r)
        && rr->type == REDIS_REPLY_STRING)
    {
        (void) ngx_http_farm_sync_record(r->fcf, req->key, req->key_len,
                                         (u_char *) rr->str, rr->len, 0);
    }

    ngx_free(req);
}


static void
ngx_http_farm_redis_full_sync(ngx_http_farm_redis_t *r)
{
    if (r->syncing || r->cmd == NULL || !r->subscribed) {
        return;
    }

    r->syncing = 1;

    if (redisAsyncCommand(r->cmd, ngx_http_farm_redis_members_cb,
                          (void *) r->generation, "SMEMBERS %s",
                          r->fcf->key_index)
        != REDIS_OK)
    {
        ngx_http_farm_redis_drop(r, "cannot send SMEMBERS");
        return;
    }

    if (r->watchdog.timer_set) {
        ngx_del_timer(&r->watchdog);
    }

    ngx_add_timer(&r->watchdog, r->fcf->timeout);
}


static void
ngx_http_farm_redis_members_cb(redisAsyncContext *ac, void *reply,
    void *data)
{
    size_t                  i, n;
    redisReply             *rr = reply, *e;
    ngx_http_farm_redis_t  *r;

    if (rr == NULL || !ngx_http_farm_redis_current(ac, data, &r)) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_http_farm_redis_drop(r, rr->str);
        return;
    }

    if (rr->type != REDIS_REPLY_ARRAY) {
        ngx_http_farm_redis_drop(r, "the agent index is not a set");
        return;
    }

    ngx_http_farm_redis_free_ids(r);

    r->ids = ngx_alloc((rr->elements + 1) * sizeof(char *), ngx_cycle->log);
    if (r->ids == NULL) {
        ngx_http_farm_redis_drop(r, "out of memory");
        return;
    }

    n = 0;

    for (i = 0; i < rr->elements; i++) {
        e = rr->element[i];

        if (e->type != REDIS_REPLY_STRING
            || !farm_valid_id(e->str, e->len))
        {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "farm: skipping member \"%*s\" of %s: not a "
                          "valid agent id", ngx_min(e->len, 128),
                          e->str ? e->str : "", r->fcf->key_index);
            continue;
        }

        r->ids[n] = ngx_alloc(e->len + 1, ngx_cycle->log);
        if (r->ids[n] == NULL) {
            r->nids = n;
            ngx_http_farm_redis_drop(r, "out of memory");
            return;
        }

        ngx_memcpy(r->ids[n], e->str, e->len + 1);
        n++;
    }

    r->nids = n;

    ngx_http_farm_sync_begin(r->fcf);

    if (n == 0) {
        ngx_http_farm_redis_sync_done(r);
        return;
    }

    for (i = 0; i < n; i += NGX_HTTP_FARM_REDIS_CHUNK) {
        if (ngx_http_farm_redis_mget(r, i,
                                     ngx_min(n - i,
                                             NGX_HTTP_FARM_REDIS_CHUNK))
            != NGX_OK)
        {
            ngx_http_farm_redis_drop(r, "cannot send MGET");
            return;
        }
    }
}


static ngx_int_t
ngx_http_farm_redis_mget(ngx_http_farm_redis_t *r, ngx_uint_t first,
    ngx_uint_t count)
{
    int                           rc;
    char                        **argv;
    size_t                       *argvlen, plen;
    ngx_uint_t                    i;
    ngx_http_farm_redis_req_t  *req;

    req = ngx_alloc(sizeof(ngx_http_farm_redis_req_t), ngx_cycle->log);
    argv = ngx_alloc((count + 1) * sizeof(char *), ngx_cycle->log);
    argvlen = ngx_alloc((count + 1) * sizeof(size_t), ngx_cycle->log);

    if (req == NULL || argv == NULL || argvlen == NULL) {
        goto failed;
    }

    ngx_memzero(argv, (count + 1) * sizeof(char *));

    plen = r->fcf->key_agent_prefix_len;

    argv[0] = "MGET";
    argvlen[0] = 4;

    for (i = 0; i < count; i++) {
        argvlen[i + 1] = plen + ngx_strlen(r->ids[first + i]);

        argv[i + 1] = ngx_alloc(argvlen[i + 1] + 1, ngx_cycle->log);
        if (argv[i + 1] == NULL) {
            goto failed;
        }

        ngx_sprintf((u_char *) argv[i + 1], "%s%s%Z",
                    r->fcf->key_agent_prefix, r->ids[first + i]);
    }

    req->generation = r->generation;
    req->first = first;
    req->count = count;

    /* hiredis copies the command into its output buffer right away */

    rc = redisAsyncCommandArgv(r->cmd, ngx_http_farm_redis_mget_cb, req,
                               (int) count + 1, (const char **) argv,
                               argvlen);

    for (i = 1; i <= count; i++) {
        ngx_free(argv[i]);
    }

    ngx_free(argv);
    ngx_free(argvlen);

    if (rc != REDIS_OK) {
        ngx_free(req);
        return NGX_ERROR;
    }

    r->pending++;

    return NGX_OK;

failed:

    if (argv) {
        for (i = 1; i <= count; i++) {
            ngx_free(argv[i]);
        }
    }

    ngx_free(argv);
    ngx_free(argvlen);
    ngx_free(req);

    return NGX_ERROR;
}


static void
ngx_http_farm_redis_mget_cb(redisAsyncContext *ac, void *reply, void *data)
{
    char                         *id;
    u_char                        key[FARM_KEY_MAX];
    size_t                        len;
    uintptr_t                     generation;
    ngx_uint_t                    i, first, count;
    redisReply                   *rr = reply, *e;
    ngx_http_farm_redis_t        *r;
    ngx_http_farm_redis_req_t  *req = data;

    generation = req->generation;
    first = req->first;
    count = req->count;

    ngx_free(req);

    if (rr == NULL || !ngx_http_farm_redis_current(ac, (void *) generation,
                                                   &r))
    {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_http_farm_redis_drop(r, rr->str);
        return;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != count) {
        ngx_http_farm_redis_drop(r, "unexpected MGET reply");
        return;
    }

    for (i = 0; i < count; i++) {
        e = rr->element[i];
        id = r->ids[first + i];

        len = ngx_sprintf(key, "%s%s", r->fcf->key_agent_prefix, id) - key;

        if (e->type == REDIS_REPLY_NIL) {

            /*
             * MGET answers nil for a missing key and for a key that holds
             * something other than a string: TYPE tells them apart
             */

            if (ngx_http_farm_redis_type(r, key, len) != NGX_OK) {
                ngx_http_farm_redis_drop(r, "cannot send TYPE");
                return;
            }

            continue;
        }

        if (e->type != REDIS_REPLY_STRING) {
            continue;
        }

        (void) ngx_http_farm_sync_record(r->fcf, key, len, (u_char *) e->str,
                                         e->len, 1);
    }

    if (--r->pending == 0) {
        ngx_http_farm_redis_sync_done(r);
    }
}


static ngx_int_t
ngx_http_farm_redis_type(ngx_http_farm_redis_t *r, u_char *key, size_t len)
{
    ngx_http_farm_redis_req_t  *req;

    req = ngx_alloc(sizeof(ngx_http_farm_redis_req_t), ngx_cycle->log);
    if (req == NULL) {
        return NGX_ERROR;
    }

    req->generation = r->generation;
    req->key_len = ngx_min(len, FARM_KEY_MAX);
    ngx_memcpy(req->key, key, req->key_len);

    if (redisAsyncCommand(r->cmd, ngx_http_farm_redis_type_cb, req,
                          "TYPE %b", req->key, req->key_len)
        != REDIS_OK)
    {
        ngx_free(req);
        return NGX_ERROR;
    }

    /* part of the full sync: it ends after this reply */

    r->pending++;

    return NGX_OK;
}


static void
ngx_http_farm_redis_type_cb(redisAsyncContext *ac, void *reply, void *data)
{
    u_char                     *id;
    redisReply                 *rr = reply;
    ngx_http_farm_redis_t      *r;
    ngx_http_farm_redis_req_t  *req = data;

    if (rr == NULL
        || !ngx_http_farm_redis_current(ac, (void *) req->generation, &r))
    {
        ngx_free(req);
        return;
    }

    if (rr->type == REDIS_REPLY_STATUS && ngx_strcmp(rr->str, "none") == 0) {

        /* expired (a killed agent): tidy the index */

        id = req->key + r->fcf->key_agent_prefix_len;

        redisAsyncCommand(r->cmd, NULL, NULL, "SREM %s %b",
                          r->fcf->key_index, id,
                          req->key_len - r->fcf->key_agent_prefix_len);

    } else {
        ngx_http_farm_sync_reject(r->fcf, req->key, req->key_len,
                                  farm_hash32(rr->str, rr->len), 1,
                                  "record: a Redis %s, not a string",
                                  rr->type == REDIS_REPLY_STATUS
                                  ? rr->str : "value");
    }

    ngx_free(req);

    if (--r->pending == 0) {
        ngx_http_farm_redis_sync_done(r);
    }
}


static void
ngx_http_farm_redis_sync_done(ngx_http_farm_redis_t *r)
{
    ngx_http_farm_sync_end(r->fcf);
    ngx_http_farm_sync_registry_state(r->fcf, 1, NULL);

    ngx_http_farm_redis_free_ids(r);

    r->syncing = 0;
    r->backoff = NGX_HTTP_FARM_REDIS_BACKOFF_MIN;

    if (r->watchdog.timer_set) {
        ngx_del_timer(&r->watchdog);
    }

    ngx_add_timer(&r->resync, r->fcf->resync);
}


static void
ngx_http_farm_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_farm_redis_t  *r = ev->data;

    if (ngx_exiting || r->stopped) {
        return;
    }

    (void) ngx_http_farm_redis_connect(r);
}


static void
ngx_http_farm_redis_resync_handler(ngx_event_t *ev)
{
    ngx_http_farm_redis_t  *r = ev->data;

    if (ngx_exiting || r->stopped) {
        ngx_http_farm_redis_stop(r->fcf);
        return;
    }

    ngx_http_farm_redis_full_sync(r);
}


static void
ngx_http_farm_redis_watchdog_handler(ngx_event_t *ev)
{
    ngx_http_farm_redis_t  *r = ev->data;

    if (ngx_exiting || r->stopped) {
        ngx_http_farm_redis_stop(r->fcf);
        return;
    }

    ngx_http_farm_redis_drop(r, r->subscribed ? "no reply within timeout="
                                              : "connect timed out");
}
