
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
 *         SSCAN <index> in pages, each page followed by GETRANGE <key> 0
 *         65536 of its agent keys; GETRANGE <key> 0 65536 for each change
 *         notification
 *
 * GETRANGE, not GET or MGET: a record is read at most one byte past
 * FARM_RECORD_MAX, so a huge value in the registry costs 64k, not its size.
 *
 * Ghosts: a fetch sent for "register X" may be answered (Redis read the key
 * before it was deleted) after "deregister X" arrived on the other
 * connection.  Every deletion gets a sequence number and is remembered
 * while a fetch sent before it is in flight; such a late reply is dropped
 * (ngx_http_farm_redis_forget(), ngx_http_farm_redis_gone()).
 *
 * Without channel permissions (Redis 7 ACL users have none by default),
 * SUBSCRIBE or PSUBSCRIBE is refused: the backend says which permission is
 * missing and carries on with what it has (full syncs every resync=).
 *
 * Every exchange is watched by a timer (timeout=), each chunk of a full sync
 * by its own; a lost connection or an overdue reply drops both connections
 * and reconnects with backoff, while the zone keeps the last known agents.
 * The full sync is in ngx_http_farm_redis_full_sync.c, the master's startup
 * read in ngx_http_farm_redis_warm.c.
 */


#include "ngx_http_farm_redis_conn.h"


/* an agent deleted while fetches were in flight */
typedef struct {
    ngx_str_node_t                 sn;
    ngx_queue_t                    queue;
    uint64_t                       seq;
    u_char                         id[FARM_ID_MAX];
} ngx_http_farm_redis_gone_t;


static ngx_int_t ngx_http_farm_redis_connect(ngx_http_farm_redis_t *r);
static ngx_int_t ngx_http_farm_redis_subscribe(ngx_http_farm_redis_t *r,
    const char **err);
static redisAsyncContext *ngx_http_farm_redis_open(ngx_http_farm_redis_t *r,
    const char **err);
static void ngx_http_farm_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_farm_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static ngx_int_t ngx_http_farm_redis_refused(ngx_http_farm_redis_t *r,
    redisAsyncContext *ac);
static void ngx_http_farm_redis_close(ngx_http_farm_redis_t *r);
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
static void ngx_http_farm_redis_deleted(ngx_http_farm_redis_t *r, u_char *id,
    size_t len);
static void ngx_http_farm_redis_forget(ngx_http_farm_redis_t *r, u_char *id,
    size_t len);
static void ngx_http_farm_redis_forget_all(ngx_http_farm_redis_t *r);
static void ngx_http_farm_redis_fetch(ngx_http_farm_redis_t *r, u_char *id,
    size_t len);
static void ngx_http_farm_redis_get_cb(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_farm_redis_retry_handler(ngx_event_t *ev);
static void ngx_http_farm_redis_resync_handler(ngx_event_t *ev);
static void ngx_http_farm_redis_watchdog_handler(ngx_event_t *ev);


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

    ngx_rbtree_init(&r->gone, &r->gone_sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&r->gone_order);

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
    const char                *err;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = r->fcf;
    r->subscribed = 0;
    r->events = 0;

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

    ngx_add_timer(&r->watchdog, fcf->timeout);

    if (r->no_events) {

        /* no channel permission: full syncs only, from now on */

        r->subscribed = 1;
        ngx_http_farm_redis_full_sync(r);
        return NGX_OK;
    }

    if (ngx_http_farm_redis_subscribe(r, &err) != NGX_OK) {
        goto failed;
    }

    return NGX_OK;

failed:

    ngx_http_farm_redis_drop(r, err);

    return NGX_ERROR;
}


/*
 * The subscriber connection: SUBSCRIBE to the events channel; the full sync
 * starts, and PSUBSCRIBE to keyspace events is sent, once it is confirmed
 * (so that a refusal tells which of the two lacks a permission).
 */

static ngx_int_t
ngx_http_farm_redis_subscribe(ngx_http_farm_redis_t *r, const char **err)
{
    r->sub = ngx_http_farm_redis_open(r, err);
    if (r->sub == NULL) {
        return NGX_ERROR;
    }

    redisAsyncCommand(r->sub, ngx_http_farm_redis_sub_cb,
                      (void *) r->generation, "SUBSCRIBE %s",
                      r->fcf->key_events);

    return NGX_OK;
}


/*
 * Checks that a callback belongs to the live connection of this generation
 * and the process is not shutting down.
 */

ngx_int_t
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

    if (ac == r->sub && ngx_http_farm_redis_refused(r, ac) == NGX_OK) {
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


/*
 * hiredis closes a subscriber connection on an error reply, so a refused
 * SUBSCRIBE or PSUBSCRIBE (a Redis ACL user without channel permissions)
 * ends here.  Says which permission is missing, and carries on without it:
 * NGX_OK.  NGX_DECLINED: another error.
 */

static ngx_int_t
ngx_http_farm_redis_refused(ngx_http_farm_redis_t *r, redisAsyncContext *ac)
{
    u_char                     channel[FARM_KEY_MAX + 32];
    u_char                     text[256], *p;
    ngx_http_farm_srv_conf_t  *fcf;

    if (ngx_strncmp(ac->errstr, "NOPERM", 6) != 0) {
        return NGX_DECLINED;
    }

    fcf = r->fcf;

    r->sub = NULL;
    ac->data = NULL;

    p = ngx_http_farm_log_escape(text, text + sizeof(text) - 1,
                                 (u_char *) ac->errstr,
                                 ngx_strlen(ac->errstr));
    *p = '\0';

    if (!r->events) {
        r->no_events = 1;
        r->subscribed = 1;

        ngx_log_error(NGX_LOG_WARN, fcf->log, 0,
                      "farm: registry %V of upstream \"%V\" refused "
                      "SUBSCRIBE %s (%s): its user needs the channel "
                      "permission \"&%s\"; until then changes are seen only "
                      "at the full syncs, every %M ms (resync=)",
                      &fcf->url_display, &fcf->uscf->host, fcf->key_events,
                      text, fcf->key_events, fcf->resync);

        if (!r->syncing) {
            if (r->resync.timer_set) {
                ngx_del_timer(&r->resync);
            }

            ngx_add_timer(&r->resync, 1);
        }

        return NGX_OK;
    }

    r->no_keyspace = 1;
    r->events = 0;

    ngx_sprintf(channel, "__keyspace@%ud__:%s*%Z", fcf->url.db,
                fcf->key_agent_prefix);

    ngx_log_error(NGX_LOG_WARN, fcf->log, 0,
                  "farm: registry %V of upstream \"%V\" refused PSUBSCRIBE "
                  "%s (%s): its user needs the channel permission \"&%s\" "
                  "for keyspace events; until then an agent whose record "
                  "expires leaves at the next full sync",
                  &fcf->url_display, &fcf->uscf->host, channel, text,
                  channel);

    /* subscribe again, to the events channel only, from the event loop */

    if (!r->retry.timer_set) {
        ngx_add_timer(&r->retry, 1);
    }

    return NGX_OK;
}


/* Closes both connections; callbacks still queued see a new generation. */

static void
ngx_http_farm_redis_close(ngx_http_farm_redis_t *r)
{
    redisAsyncContext  *ac;

    r->generation++;
    r->subscribed = 0;
    r->events = 0;
    r->syncing = 0;
    r->pending = 0;
    r->fetching = 0;

    ngx_http_farm_redis_forget_all(r);

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


void
ngx_http_farm_redis_drop(ngx_http_farm_redis_t *r, const char *reason)
{
    ngx_http_farm_redis_close(r);

    if (r->stopped) {
        return;
    }

    /* a new connection tries the channels again: the ACL may have changed */

    r->no_events = 0;
    r->no_keyspace = 0;

    ngx_http_farm_sync_registry_state(r->fcf, 0, reason);

    if (!r->retry.timer_set) {
        ngx_add_timer(&r->retry, r->backoff + ngx_random() % (r->backoff / 4
                                                                + 1));
    }

    r->backoff = ngx_min(r->backoff * 2, NGX_HTTP_FARM_REDIS_BACKOFF_MAX);
}


static void
ngx_http_farm_redis_auth_cb(redisAsyncContext *ac, void *reply, void *data)
{
    u_char                  text[256], *p;
    redisReply             *rr = reply;
    ngx_http_farm_redis_t  *r;

    if (rr == NULL || !ngx_http_farm_redis_current(ac, data, &r)) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        p = ngx_http_farm_log_escape(text, text + sizeof(text) - 1,
                                     (u_char *) rr->str, rr->len);
        *p = '\0';

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "farm: registry %V refused AUTH or SELECT: %s",
                      &r->fcf->url_display, text);

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
    u_char                  pattern[FARM_KEY_MAX + 32];
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
        r->events = 1;
        r->subscribed = 1;

        if (!r->no_keyspace) {
            ngx_sprintf(pattern, "__keyspace@%ud__:%s*%Z", r->fcf->url.db,
                        r->fcf->key_agent_prefix);

            redisAsyncCommand(r->sub, ngx_http_farm_redis_sub_cb,
                              (void *) r->generation, "PSUBSCRIBE %s",
                              pattern);
        }

        /* events may have been missed while unsubscribed */

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
    int      type;
    char     id[FARM_ID_MAX + 1];
    u_char   text[4 * 128], *p;

    if (farm_event_parse(payload->str, payload->len, &type, id) != 0) {
        p = ngx_http_farm_log_escape(text, text + sizeof(text),
                                     (u_char *) payload->str,
                                     ngx_min(payload->len, 128));

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "farm: ignoring message \"%*s\" on %s: expected "
                      "\"register <id>\" or \"deregister <id>\"",
                      p - text, text, r->fcf->key_events);
        return;
    }

    if (type == FARM_EVENT_REGISTER) {
        ngx_http_farm_redis_fetch(r, (u_char *) id, ngx_strlen(id));

    } else {
        ngx_http_farm_redis_deleted(r, (u_char *) id, ngx_strlen(id));
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
        ngx_http_farm_redis_deleted(r, id, len);
    }
}


/* An agent left the registry: take it out, and keep late replies out. */

static void
ngx_http_farm_redis_deleted(ngx_http_farm_redis_t *r, u_char *id, size_t len)
{
    ngx_http_farm_redis_forget(r, id, len);
    ngx_http_farm_sync_delete(r->fcf, id, len);
}


/*
 * Remembers that the agent was deleted now, with a new sequence number, as
 * long as a fetch sent before it may still answer.  With nothing in flight
 * no reply can be late, and nothing is kept.
 */

static void
ngx_http_farm_redis_forget(ngx_http_farm_redis_t *r, u_char *id, size_t len)
{
    uint32_t                     hash;
    ngx_str_t                    s;
    ngx_http_farm_redis_gone_t  *g;

    r->seq++;

    if (r->fetching == 0) {
        return;
    }

    s.data = id;
    s.len = len;
    hash = ngx_crc32_short(id, len);

    g = (ngx_http_farm_redis_gone_t *)
            ngx_str_rbtree_lookup(&r->gone, &s, hash);

    if (g) {
        ngx_queue_remove(&g->queue);

    } else {
        g = ngx_alloc(sizeof(ngx_http_farm_redis_gone_t), ngx_cycle->log);
        if (g == NULL) {
            return;
        }

        len = ngx_min(len, FARM_ID_MAX);
        ngx_memcpy(g->id, id, len);

        g->sn.str.data = g->id;
        g->sn.str.len = len;
        g->sn.node.key = hash;

        ngx_rbtree_insert(&r->gone, &g->sn.node);
    }

    g->seq = r->seq;
    ngx_queue_insert_tail(&r->gone_order, &g->queue);
}


/* 1 if the agent was deleted after a fetch sent at seq: its reply is late */

ngx_int_t
ngx_http_farm_redis_gone(ngx_http_farm_redis_t *r, u_char *id, size_t len,
    uint64_t seq)
{
    ngx_str_t                    s;
    ngx_http_farm_redis_gone_t  *g;

    if (seq == r->seq) {
        return 0;
    }

    s.data = id;
    s.len = len;

    g = (ngx_http_farm_redis_gone_t *)
            ngx_str_rbtree_lookup(&r->gone, &s, ngx_crc32_short(id, len));

    return g != NULL && g->seq > seq;
}


/*
 * A fetch sent at seq was answered.  Replies come in the order the fetches
 * were sent, so every fetch still in flight was sent at seq or later, and
 * deletions up to seq concern none of them.
 */

void
ngx_http_farm_redis_fetched(ngx_http_farm_redis_t *r, uint64_t seq)
{
    ngx_queue_t                 *q;
    ngx_http_farm_redis_gone_t  *g;

    if (r->fetching) {
        r->fetching--;
    }

    if (r->fetching == 0) {
        ngx_http_farm_redis_forget_all(r);
        return;
    }

    while (!ngx_queue_empty(&r->gone_order)) {
        q = ngx_queue_head(&r->gone_order);
        g = ngx_queue_data(q, ngx_http_farm_redis_gone_t, queue);

        if (g->seq > seq) {
            break;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&r->gone, &g->sn.node);
        ngx_free(g);
    }
}


static void
ngx_http_farm_redis_forget_all(ngx_http_farm_redis_t *r)
{
    ngx_queue_t                 *q;
    ngx_http_farm_redis_gone_t  *g;

    while (!ngx_queue_empty(&r->gone_order)) {
        q = ngx_queue_head(&r->gone_order);
        g = ngx_queue_data(q, ngx_http_farm_redis_gone_t, queue);

        ngx_queue_remove(q);
        ngx_rbtree_delete(&r->gone, &g->sn.node);
        ngx_free(g);
    }
}


/*
 * Sends GETRANGE <key> 0 FARM_RECORD_MAX: the record, or its first 64k and
 * one byte, which is enough to know that it is too large.  A missing key
 * reads as "" and a key of another type as a WRONGTYPE error.
 */

ngx_int_t
ngx_http_farm_redis_getrange(ngx_http_farm_redis_t *r, redisCallbackFn *fn,
    ngx_http_farm_redis_req_t *req, u_char *key, size_t len)
{
    u_char  cmd[FARM_KEY_MAX + 64], num[NGX_SIZE_T_LEN], *p;
    size_t  n;

    n = ngx_sprintf(num, "%uz", (size_t) FARM_RECORD_MAX) - num;

    p = ngx_sprintf(cmd, "*4\r\n$8\r\nGETRANGE\r\n$%uz\r\n", len);
    p = ngx_cpymem(p, key, len);
    p = ngx_sprintf(p, "\r\n$1\r\n0\r\n$%uz\r\n%*s\r\n", n, n, num);

    if (redisAsyncFormattedCommand(r->cmd, fn, req, (char *) cmd, p - cmd)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
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
    req->seq = r->seq;
    req->key_len = ngx_snprintf(req->key, FARM_KEY_MAX, "%s%*s",
                                r->fcf->key_agent_prefix, len, id)
                   - req->key;

    if (ngx_http_farm_redis_getrange(r, ngx_http_farm_redis_get_cb, req,
                                     req->key, req->key_len)
        != NGX_OK)
    {
        ngx_free(req);
        return;
    }

    r->fetching++;
}


static void
ngx_http_farm_redis_get_cb(redisAsyncContext *ac, void *reply, void *data)
{
    u_char                     *id;
    size_t                      len;
    redisReply                 *rr = reply;
    ngx_http_farm_redis_t      *r;
    ngx_http_farm_redis_req_t  *req = data;

    if (rr == NULL
        || !ngx_http_farm_redis_current(ac, (void *) req->generation, &r))
    {
        ngx_free(req);
        return;
    }

    id = req->key + r->fcf->key_agent_prefix_len;
    len = req->key_len - r->fcf->key_agent_prefix_len;

    /* "": gone again already; an error: the full sync reports it */

    if (rr->type == REDIS_REPLY_STRING && rr->len > 0
        && !ngx_http_farm_redis_gone(r, id, len, req->seq))
    {
        (void) ngx_http_farm_sync_record(r->fcf, req->key, req->key_len,
                                         (u_char *) rr->str, rr->len, 0);
    }

    ngx_http_farm_redis_fetched(r, req->seq);

    ngx_free(req);
}


static void
ngx_http_farm_redis_retry_handler(ngx_event_t *ev)
{
    const char             *err;
    ngx_http_farm_redis_t  *r = ev->data;

    if (ngx_exiting || r->stopped) {
        return;
    }

    if (r->cmd == NULL) {
        (void) ngx_http_farm_redis_connect(r);
        return;
    }

    /* the subscriber connection alone, after a refused PSUBSCRIBE */

    if (r->sub == NULL && !r->no_events
        && ngx_http_farm_redis_subscribe(r, &err) != NGX_OK)
    {
        ngx_http_farm_redis_drop(r, err);
    }
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
