
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Redis backend's full sync, on the command connection of
 * ngx_http_farm_redis.c: once subscribed, and every resync= interval.
 *
 * SSCAN <index> in pages, each page followed by GETRANGE <key> 0 65536 of
 * its agent keys, in chunks of NGX_HTTP_FARM_REDIS_CHUNK (one reply per
 * key); TYPE for a key read as "" or WRONGTYPE, SREM for one that expired.
 *
 * Paging the index bounds what one event loop iteration handles, and what
 * the sync owner holds, whatever the number of agents: a page of
 * NGX_HTTP_FARM_REDIS_SCAN members and its records are in flight at a
 * time, the next page is asked for behind them.  SSCAN returns every
 * member present for the whole scan (perhaps twice, which costs nothing);
 * one added meanwhile has its own "register" message.
 *
 * Each page, chunk and TYPE has its own deadline (timeout=); the sync ends
 * when the last of them is answered.
 */


#include "ngx_http_farm_redis_conn.h"
#include "ngx_http_farm_override_sync.h"


#define NGX_HTTP_FARM_REDIS_SCAN         1000    /* SSCAN COUNT */
#define NGX_HTTP_FARM_REDIS_LOG_EVERY    60      /* s, index error lines */


static ngx_int_t ngx_http_farm_redis_scan(ngx_http_farm_redis_t *r,
    char *cursor, size_t len);
static void ngx_http_farm_redis_scan_cb(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_farm_redis_bad_member(ngx_http_farm_redis_t *r,
    redisReply *e);
static ngx_int_t ngx_http_farm_redis_chunk(ngx_http_farm_redis_t *r,
    redisReply **e, ngx_uint_t n);
static void ngx_http_farm_redis_chunk_cb(redisAsyncContext *ac, void *reply,
    void *data);
static ngx_int_t ngx_http_farm_redis_value(ngx_http_farm_redis_t *r,
    ngx_http_farm_redis_req_t *req, u_char *id, redisReply *e);
static ngx_int_t ngx_http_farm_redis_type(ngx_http_farm_redis_t *r,
    u_char *key, size_t len);
static void ngx_http_farm_redis_type_cb(redisAsyncContext *ac, void *reply,
    void *data);
static void ngx_http_farm_redis_sync_failed(ngx_http_farm_redis_t *r,
    const char *what, const char *why);
static void ngx_http_farm_redis_sync_step(ngx_http_farm_redis_t *r);
static void ngx_http_farm_redis_sync_done(ngx_http_farm_redis_t *r);
static void ngx_http_farm_redis_overrides_cb(redisAsyncContext *ac,
    void *reply, void *data);


void
ngx_http_farm_redis_full_sync(ngx_http_farm_redis_t *r)
{
    if (r->syncing || r->cmd == NULL || !r->subscribed) {
        return;
    }

    r->syncing = 1;
    r->begun = 0;
    r->scanned = 0;
    r->pending = 0;

    /*
     * the operators' overrides (farm_admin write=registry) first: one
     * HGETALL, answered before the first page, so under the same watchdog
     */

    if (redisAsyncCommand(r->cmd, ngx_http_farm_redis_overrides_cb,
                          (void *) r->generation, "HGETALL %b:%b:overrides",
                          r->fcf->prefix.data, r->fcf->prefix.len,
                          r->fcf->service.data, r->fcf->service.len)
        != REDIS_OK)
    {
        ngx_http_farm_redis_drop(r, "cannot send HGETALL");
        return;
    }

    r->overrides_read_at = ngx_current_msec ? ngx_current_msec : 1;

    if (ngx_http_farm_redis_scan(r, "0", 1) != NGX_OK) {
        ngx_http_farm_redis_drop(r, "cannot send SSCAN");
        return;
    }

    if (r->watchdog.timer_set) {
        ngx_del_timer(&r->watchdog);
    }

    ngx_add_timer(&r->watchdog, r->fcf->timeout);
}


static ngx_int_t
ngx_http_farm_redis_scan(ngx_http_farm_redis_t *r, char *cursor, size_t len)
{
    if (redisAsyncCommand(r->cmd, ngx_http_farm_redis_scan_cb,
                          (void *) r->generation, "SSCAN %s %b COUNT %d",
                          r->fcf->key_index, cursor, len,
                          NGX_HTTP_FARM_REDIS_SCAN)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    r->pending++;

    return NGX_OK;
}


/*
 * A page of the index: its valid ids are fetched in chunks, and the next
 * page is asked for behind them, until the cursor comes back to 0.
 */

static void
ngx_http_farm_redis_scan_cb(redisAsyncContext *ac, void *reply, void *data)
{
    size_t                  i, n;
    redisReply             *rr = reply, *page, *e;
    redisReply             *ids[NGX_HTTP_FARM_REDIS_CHUNK];
    ngx_http_farm_redis_t  *r;

    if (rr == NULL || !ngx_http_farm_redis_current(ac, data, &r)) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {

        /* WRONGTYPE, NOPERM: the server answers, the index is unusable */

        ngx_http_farm_redis_sync_failed(r, "SSCAN", rr->str);
        return;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != 2
        || rr->element[0]->type != REDIS_REPLY_STRING
        || rr->element[1]->type != REDIS_REPLY_ARRAY)
    {
        ngx_http_farm_redis_drop(r, "unexpected SSCAN reply");
        return;
    }

    if (!r->begun) {
        r->begun = 1;
        ngx_http_farm_sync_begin(r->fcf);
    }

    page = rr->element[1];
    n = 0;

    for (i = 0; i < page->elements; i++) {
        e = page->element[i];

        if (e->type != REDIS_REPLY_STRING
            || !farm_valid_id(e->str, e->len))
        {
            ngx_http_farm_redis_bad_member(r, e);
            continue;
        }

        ids[n++] = e;

        if (n == NGX_HTTP_FARM_REDIS_CHUNK) {
            if (ngx_http_farm_redis_chunk(r, ids, n) != NGX_OK) {
                ngx_http_farm_redis_drop(r, "cannot send GETRANGE");
                return;
            }

            n = 0;
        }
    }

    if (n && ngx_http_farm_redis_chunk(r, ids, n) != NGX_OK) {
        ngx_http_farm_redis_drop(r, "cannot send GETRANGE");
        return;
    }

    e = rr->element[0];

    if (e->len == 1 && e->str[0] == '0') {
        r->scanned = 1;

    } else if (ngx_http_farm_redis_scan(r, e->str, e->len) != NGX_OK) {
        ngx_http_farm_redis_drop(r, "cannot send SSCAN");
        return;
    }

    ngx_http_farm_redis_sync_step(r);
}


/*
 * One error line per bad member of the index, not one per full sync: the
 * members reported are remembered (a small table, like bad records).
 */

static void
ngx_http_farm_redis_bad_member(ngx_http_farm_redis_t *r, redisReply *e)
{
    u_char      text[4 * 128], *p;
    size_t      len;
    uint64_t    mark;
    ngx_uint_t  i;

    len = (e->type == REDIS_REPLY_STRING) ? e->len : 0;

    mark = ((uint64_t) farm_hash32(e->str ? e->str : "", len) << 8)
           | (e->type & 0xff) | 1;

    i = mark % NGX_HTTP_FARM_REDIS_MEMBERS;

    if (r->members[i] == mark) {
        return;
    }

    r->members[i] = mark;

    p = ngx_http_farm_log_escape(text, text + sizeof(text),
                                 (u_char *) (e->str ? e->str : ""),
                                 ngx_min(len, 128));

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "farm: skipping member \"%*s\" of %s: not a valid agent id",
                  p - text, text, r->fcf->key_index);
}


/* Sends a chunk of the full sync: one GETRANGE per id. */

static ngx_int_t
ngx_http_farm_redis_chunk(ngx_http_farm_redis_t *r, redisReply **e,
    ngx_uint_t n)
{
    u_char                     *p, key[FARM_KEY_MAX];
    size_t                      len, size;
    ngx_uint_t                  i;
    ngx_http_farm_redis_req_t  *req;

    size = sizeof(ngx_http_farm_redis_req_t);

    for (i = 0; i < n; i++) {
        size += e[i]->len + 1;
    }

    req = ngx_alloc(size, ngx_cycle->log);
    if (req == NULL) {
        return NGX_ERROR;
    }

    req->generation = r->generation;
    req->seq = r->seq;
    req->count = 0;
    req->done = 0;
    req->id = (u_char *) (req + 1);

    p = req->id;

    for (i = 0; i < n; i++) {
        len = ngx_snprintf(key, FARM_KEY_MAX, "%s%*s",
                           r->fcf->key_agent_prefix, e[i]->len, e[i]->str)
              - key;

        if (ngx_http_farm_redis_getrange(r, ngx_http_farm_redis_chunk_cb,
                                         req, key, len)
            != NGX_OK)
        {
            break;
        }

        p = ngx_cpymem(p, e[i]->str, e[i]->len);
        *p++ = '\0';

        req->count++;
    }

    if (req->count == 0) {
        ngx_free(req);
        return NGX_ERROR;
    }

    r->pending++;
    r->fetching++;

    return NGX_OK;
}


static void
ngx_http_farm_redis_chunk_cb(redisAsyncContext *ac, void *reply, void *data)
{
    u_char                     *id;
    redisReply                 *rr = reply;
    ngx_uint_t                  last;
    ngx_http_farm_redis_t      *r;
    ngx_http_farm_redis_req_t  *req = data;

    /*
     * every reply of the chunk comes here, in order, and NULL for each one
     * still awaited when the connection goes: req goes with the last
     */

    last = (++req->done == req->count);

    id = req->id;
    req->id += ngx_strlen(id) + 1;

    if (rr == NULL
        || !ngx_http_farm_redis_current(ac, (void *) req->generation, &r))
    {
        if (last) {
            ngx_free(req);
        }

        return;
    }

    if (ngx_http_farm_redis_value(r, req, id, rr) != NGX_OK) {
        if (last) {
            ngx_free(req);
        }

        ngx_http_farm_redis_drop(r, "cannot send TYPE");
        return;
    }

    if (!last) {
        return;
    }

    ngx_http_farm_redis_fetched(r, req->seq);
    ngx_free(req);

    ngx_http_farm_redis_sync_step(r);
}


/* One value of the full sync. */

static ngx_int_t
ngx_http_farm_redis_value(ngx_http_farm_redis_t *r,
    ngx_http_farm_redis_req_t *req, u_char *id, redisReply *e)
{
    u_char                     key[FARM_KEY_MAX];
    size_t                     len, id_len;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = r->fcf;

    id_len = ngx_strlen(id);
    len = ngx_snprintf(key, FARM_KEY_MAX, "%s%s", fcf->key_agent_prefix, id)
          - key;

    if (e->type == REDIS_REPLY_STRING && e->len > 0) {

        /* deleted since this chunk was sent: not a ghost */

        if (ngx_http_farm_redis_gone(r, id, id_len, req->seq)) {
            return NGX_OK;
        }

        (void) ngx_http_farm_sync_record(fcf, key, len, (u_char *) e->str,
                                         e->len, 1);
        return NGX_OK;
    }

    if (e->type == REDIS_REPLY_STRING
        || (e->type == REDIS_REPLY_ERROR
            && ngx_strncmp(e->str, "WRONGTYPE", 9) == 0))
    {
        /* "" is a missing key or an empty one, an error another type */

        return ngx_http_farm_redis_type(r, key, len);
    }

    if (e->type == REDIS_REPLY_ERROR) {
        ngx_http_farm_sync_reject(fcf, key, len, farm_hash32(e->str, e->len)
                                                 | 1,
                                  1, "record: Redis answered %s", e->str);
    }

    return NGX_OK;
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

    } else if (rr->type == REDIS_REPLY_STATUS
               && ngx_strcmp(rr->str, "string") == 0)
    {
        ngx_http_farm_sync_reject(r->fcf, req->key, req->key_len, 1, 1,
                                  "%s", "record: empty");

    } else {
        ngx_http_farm_sync_reject(r->fcf, req->key, req->key_len,
                                  farm_hash32(rr->str, rr->len), 1,
                                  "record: a Redis %s, not a string",
                                  rr->type == REDIS_REPLY_STATUS
                                  ? rr->str : "value");
    }

    ngx_free(req);

    ngx_http_farm_redis_sync_step(r);
}


/*
 * The server answers but the full sync cannot be done (the index key holds
 * another type, the user may not read it): say what is wrong, keep the
 * known agents and the connections, and try again at the next resync.
 */

static void
ngx_http_farm_redis_sync_failed(ngx_http_farm_redis_t *r, const char *what,
    const char *why)
{
    u_char                     text[256], *p;
    time_t                     now;
    ngx_http_farm_zone_t       z;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = r->fcf;

    if (r->pending > 1) {

        /* records of earlier pages are in flight: start afresh */

        ngx_http_farm_redis_drop(r, why);
        return;
    }

    r->syncing = 0;
    r->pending = 0;

    if (r->watchdog.timer_set) {
        ngx_del_timer(&r->watchdog);
    }

    ngx_add_timer(&r->resync, fcf->resync);

    now = ngx_time();

    if (r->index_logged
        && now - r->index_logged < NGX_HTTP_FARM_REDIS_LOG_EVERY)
    {
        return;
    }

    r->index_logged = now;

    p = ngx_http_farm_log_escape(text, text + sizeof(text) - 1,
                                 (u_char *) why, ngx_strlen(why));
    *p = '\0';

    ngx_http_farm_zone_get(fcf, &z);

    ngx_log_error(NGX_LOG_ERR, fcf->log, 0,
                  "farm: registry %V of upstream \"%V\" answered %s %s with "
                  "an error (%s)%s; keeping the %uD known agents and trying "
                  "again every %M ms (resync=)",
                  &fcf->url_display, &fcf->uscf->host, what, fcf->key_index,
                  text,
                  ngx_strncmp(why, "WRONGTYPE", 9) == 0
                  ? ": the agent index must be a Redis set"
                  : ngx_strncmp(why, "NOPERM", 6) == 0
                  ? ": its user may not read the agent index" : "",
                  z.sh->nagents, fcf->resync);
}


/*
 * A page, a chunk or a TYPE of the full sync was answered: the next one
 * has its own deadline, and the sync ends with the last.
 */

static void
ngx_http_farm_redis_sync_step(ngx_http_farm_redis_t *r)
{
    ngx_add_timer(&r->watchdog, r->fcf->timeout);

    if (--r->pending == 0 && r->scanned) {
        ngx_http_farm_redis_sync_done(r);
    }
}


static void
ngx_http_farm_redis_sync_done(ngx_http_farm_redis_t *r)
{
    ngx_http_farm_sync_end(r->fcf);
    ngx_http_farm_sync_registry_state(r->fcf, 1, NULL);

    r->syncing = 0;
    r->backoff = NGX_HTTP_FARM_REDIS_BACKOFF_MIN;
    r->index_logged = 0;

    if (r->watchdog.timer_set) {
        ngx_del_timer(&r->watchdog);
    }

    ngx_add_timer(&r->resync, r->fcf->resync);
}


/*
 * HGETALL <prefix>:<service>:overrides: agent id -> its override's JSON
 * (ngx_http_farm_override_sync.c).  A field that is not a valid id or a
 * valid override is skipped with a line; an error reply (WRONGTYPE,
 * NOPERM) changes nothing, logged at most once a minute.
 */

static void
ngx_http_farm_redis_overrides_cb(redisAsyncContext *ac, void *reply,
    void *data)
{
    time_t                  now;
    redisReply             *rr = reply;
    ngx_http_farm_redis_t  *r;

    if (rr == NULL || !ngx_http_farm_redis_current(ac, data, &r)) {
        return;
    }

    if (rr->type != REDIS_REPLY_ARRAY) {
        now = ngx_time();

        if (now - r->overrides_logged >= NGX_HTTP_FARM_REDIS_LOG_EVERY) {
            r->overrides_logged = now;
            ngx_log_error(NGX_LOG_ERR, r->fcf->log, 0,
                          "farm: registry %V: cannot read the overrides "
                          "(HGETALL %V:%V:overrides): %s",
                          &r->fcf->url_display, &r->fcf->prefix,
                          &r->fcf->service,
                          rr->type == REDIS_REPLY_ERROR ? rr->str
                                                        : "not a hash");
        }

        return;
    }

    r->overrides_logged = 0;

    ngx_http_farm_redis_overrides(r->fcf, rr, r->overrides_read_at);
}


/*
 * The array of an HGETALL of the overrides, read at read_at (the async
 * full sync, or the master's startup read): each field that is an agent id
 * with a valid override goes to ngx_http_farm_override_sync(), the others
 * are skipped with a line.
 */

void
ngx_http_farm_redis_overrides(ngx_http_farm_srv_conf_t *fcf, redisReply *rr,
    ngx_msec_t read_at)
{
    size_t                         i;
    ngx_uint_t                     n;
    redisReply                    *k, *v;
    const char                    *err;
    ngx_http_farm_override_rec_t  *recs;

    recs = NULL;
    n = 0;

    if (rr->elements) {
        recs = ngx_alloc(rr->elements / 2
                         * sizeof(ngx_http_farm_override_rec_t),
                         fcf->log);
        if (recs == NULL) {
            return;
        }
    }

    for (i = 0; i + 1 < rr->elements; i += 2) {
        k = rr->element[i];
        v = rr->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
            || !farm_valid_id(k->str, k->len))
        {
            ngx_log_error(NGX_LOG_ERR, fcf->log, 0,
                          "farm: registry %V: skipping a field of "
                          "%V:%V:overrides: not an agent id and a string",
                          &fcf->url_display, &fcf->prefix,
                          &fcf->service);
            continue;
        }

        recs[n].id = (u_char *) k->str;
        recs[n].id_len = k->len;

        if (ngx_http_farm_override_parse(&recs[n], (u_char *) v->str,
                                         v->len, &err)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, fcf->log, 0,
                          "farm: registry %V: skipping the override of "
                          "agent \"%*s\": %s", &fcf->url_display,
                          k->len, k->str, err);
            continue;
        }

        n++;
    }

    (void) ngx_http_farm_override_sync(fcf, recs, n, read_at);

    if (recs) {
        ngx_free(recs);
    }
}