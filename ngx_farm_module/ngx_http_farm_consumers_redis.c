
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Consumers kept in Redis (farm_consumers redis://...), next to or instead
 * of the consumers file.  Two hashes, read whole:
 *
 *   <prefix>:consumer-keys    field: the SHA-256 of an API key, 64
 *                             lower-case hex digits; value: the
 *                             consumer's name
 *   <prefix>:consumer-tiers   field: a consumer's name; value: its tier
 *
 * Redis never holds a key itself, only its digest, which is what the
 * gateway compares anyway.
 *
 * The master reads both when the configuration is loaded (bounded by
 * timeout=, at most NGX_HTTP_FARM_CONSUMERS_WARM_MAX; never for "nginx -t"
 * or "nginx -s"), so the first request after a start or a reload finds the
 * consumers.  Then every worker reads them again every refresh= on nginx's
 * event loop (hiredis async, one connection per refresh), builds a new
 * table in a pool of its own and swaps it in; the previous one is freed
 * (requests copy the consumer they matched).  While Redis cannot be read
 * the last table stays in use.
 */


#include "ngx_http_farm_limit.h"
#include "ngx_http_farm_consumers_reply.h"

#include <farm_keys.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_FARM_CONSUMERS_REFRESH    10000   /* ms */
#define NGX_HTTP_FARM_CONSUMERS_TIMEOUT    3000    /* ms */
#define NGX_HTTP_FARM_CONSUMERS_WARM_MAX   2000    /* ms */
#define NGX_HTTP_FARM_CONSUMERS_REPORT     60      /* s between errors */


struct ngx_http_farm_consumers_redis_s {
    ngx_str_t                       display;    /* without the password */
    farm_url_t                      url;
    u_char                          addr[NGX_SOCKADDR_STRLEN + 1];
    u_char                         *key_keys;   /* NUL-terminated */
    u_char                         *key_tiers;
    ngx_msec_t                      refresh;
    ngx_msec_t                      timeout;

    ngx_http_farm_key_table_t      *table;      /* NULL: none read yet */
    ngx_pool_t                     *pool;       /* of table, if ours */
    ngx_uint_t                      nconsumers; /* in table */

    /* per worker */
    void                           *ac;         /* redisAsyncContext */
    uintptr_t                       generation;
    ngx_event_t                     refresh_ev;
    ngx_event_t                     timeout_ev;
    ngx_pool_t                     *building;   /* the next table's */
    ngx_array_t                    *tiers;      /* of the read running */
    ngx_uint_t                      skipped;    /* bad entries in it */
    ngx_uint_t                      skipped_reported;
    time_t                          reported;
    ngx_uint_t                      failing;
    ngx_uint_t                      stopped;
    ngx_log_t                      *log;
};


static ngx_int_t ngx_http_farm_consumers_redis_warm(ngx_conf_t *cf,
    ngx_http_farm_consumers_redis_t *cr);
static ngx_array_t *ngx_http_farm_consumers_redis_tiers(ngx_pool_t *pool,
    redisReply *rr, ngx_uint_t *skipped);
static ngx_http_farm_key_table_t *ngx_http_farm_consumers_redis_build(
    ngx_pool_t *pool, redisReply *rr, ngx_array_t *tiers,
    ngx_uint_t *nconsumers, ngx_uint_t *skipped);
static farm_reply_elt_t *ngx_http_farm_consumers_redis_elts(
    redisReply *rr);
static void ngx_http_farm_consumers_redis_refresh(ngx_event_t *ev);
static void ngx_http_farm_consumers_redis_timeout(ngx_event_t *ev);
static void ngx_http_farm_consumers_redis_on_connect(
    const redisAsyncContext *ac, int status);
static void ngx_http_farm_consumers_redis_on_disconnect(
    const redisAsyncContext *ac, int status);
static void ngx_http_farm_consumers_redis_setup_cb(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_farm_consumers_redis_tiers_cb(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_farm_consumers_redis_keys_cb(redisAsyncContext *ac,
    void *reply, void *data);
static void ngx_http_farm_consumers_redis_failed(
    ngx_http_farm_consumers_redis_t *cr, const char *reason);
static void ngx_http_farm_consumers_redis_done(
    ngx_http_farm_consumers_redis_t *cr);
static void ngx_http_farm_consumers_redis_report_skipped(
    ngx_http_farm_consumers_redis_t *cr, ngx_uint_t skipped, ngx_log_t *log);


/*
 * farm_consumers redis://... [prefix=P] [refresh=TIME] [timeout=TIME]:
 * value[0] is the URL, n the number of arguments.
 */

char *
ngx_http_farm_consumers_redis(ngx_conf_t *cf, ngx_str_t *value, ngx_uint_t n,
    ngx_http_farm_consumers_redis_t **crp)
{
    u_char                           *p, err[FARM_ERR_MAX];
    size_t                            len;
    ngx_str_t                         prefix;
    ngx_url_t                         u;
    ngx_uint_t                        i;
    const char                       *why;
    ngx_http_farm_consumers_redis_t  *cr;

    cr = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_consumers_redis_t));
    if (cr == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the URL may hold a password: error lines never quote it whole */

    if (farm_url_parse(&cr->url, (char *) value[0].data, value[0].len,
                       (char *) err)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"farm_consumers\" URL: %s", err);
        return NGX_CONF_ERROR;
    }

    if (cr->url.type != FARM_URL_REDIS) {
        farm_url_display(&cr->url, (char *) err, sizeof(err));

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"farm_consumers\" URL \"%s\": expected "
                           "a redis:// URL", err);
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&prefix, FARM_PREFIX_DEFAULT);
    cr->refresh = NGX_HTTP_FARM_CONSUMERS_REFRESH;
    cr->timeout = NGX_HTTP_FARM_CONSUMERS_TIMEOUT;

    for (i = 1; i < n; i++) {

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            why = "1-64 of A-Z a-z 0-9 . _ -";
            prefix.data = value[i].data + 7;
            prefix.len = value[i].len - 7;

            if (!farm_valid_name((char *) prefix.data, prefix.len,
                                 FARM_PREFIX_MAX))
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "refresh=", 8) == 0) {
            why = "a time of at least 100ms";
            if (ngx_http_farm_conf_msec(&value[i], 8, 100, &cr->refresh)
                != NGX_OK)
            {
                goto invalid;
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            why = "a time of at least 10ms";
            if (ngx_http_farm_conf_msec(&value[i], 8, 10, &cr->timeout)
                != NGX_OK)
            {
                goto invalid;
            }
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown \"farm_consumers\" parameter \"%V\": "
                           "use prefix=, refresh= or timeout=", &value[i]);
        return NGX_CONF_ERROR;
    }

    cr->display.data = ngx_pnalloc(cf->pool, FARM_HOST_MAX + 64);
    if (cr->display.data == NULL) {
        return NGX_CONF_ERROR;
    }

    farm_url_display(&cr->url, (char *) cr->display.data, FARM_HOST_MAX + 64);
    cr->display.len = ngx_strlen(cr->display.data);

    len = prefix.len + sizeof(":consumer-tiers");

    p = ngx_pnalloc(cf->pool, 2 * len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    cr->key_keys = p;
    cr->key_tiers = p + len;

    ngx_sprintf(cr->key_keys, "%V:consumer-keys%Z", &prefix);
    ngx_sprintf(cr->key_tiers, "%V:consumer-tiers%Z", &prefix);

    /* resolved now: hiredis never waits on DNS in a worker */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = (u_char *) cr->url.host;
    u.url.len = ngx_strlen(cr->url.host);
    u.default_port = (in_port_t) cr->url.port;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "farm_consumers: redis host \"%s\" cannot be "
                           "resolved%s%s", cr->url.host, u.err ? ": " : "",
                           u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, cr->addr,
                        NGX_SOCKADDR_STRLEN, 0);
    cr->addr[len] = '\0';

    *crp = cr;

    if (!ngx_test_config && ngx_process != NGX_PROCESS_SIGNALLER) {
        (void) ngx_http_farm_consumers_redis_warm(cf, cr);
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"farm_consumers\" parameter \"%V\": "
                       "expected %s", &value[i], why);

    return NGX_CONF_ERROR;
}


ngx_http_farm_key_table_t *
ngx_http_farm_consumers_redis_table(ngx_http_farm_consumers_redis_t *cr)
{
    return cr->table;
}


/*
 * The master's read when the configuration is loaded: synchronous, before
 * any worker of this configuration exists.  The table goes in the
 * configuration's pool and the workers inherit it.
 */

static ngx_int_t
ngx_http_farm_consumers_redis_warm(ngx_conf_t *cf,
    ngx_http_farm_consumers_redis_t *cr)
{
    ngx_uint_t                  skipped;
    const char                 *reason;
    ngx_msec_t                  ms, deadline;
    redisReply                 *tiers, *keys;
    ngx_array_t                *t;
    redisContext               *c;
    ngx_http_farm_key_table_t  *table;

    tiers = NULL;
    keys = NULL;
    reason = "out of memory";

    ms = ngx_min(cr->timeout, NGX_HTTP_FARM_CONSUMERS_WARM_MAX);
    deadline = ngx_http_farm_redis_clock() + ms;

    c = ngx_http_farm_redis_connect_sync(&cr->url, cr->addr, ms, &reason);
    if (c == NULL) {
        goto failed;
    }

    /* one deadline for the whole read, not one per reply */

    if (ngx_http_farm_redis_sync_timeout(c, deadline) == NGX_OK) {
        tiers = redisCommand(c, "HGETALL %s", cr->key_tiers);
    }

    if (tiers && ngx_http_farm_redis_sync_timeout(c, deadline) == NGX_OK) {
        keys = redisCommand(c, "HGETALL %s", cr->key_keys);
    }

    if (tiers == NULL || keys == NULL) {
        reason = c->err ? c->errstr : "no reply within timeout=";
        goto failed;
    }

    if (tiers->type != REDIS_REPLY_ARRAY || keys->type != REDIS_REPLY_ARRAY) {
        reason = "consumer-keys and consumer-tiers must be hashes";
        goto failed;
    }

    skipped = 0;

    t = ngx_http_farm_consumers_redis_tiers(cf->pool, tiers, &skipped);
    if (t == NULL) {
        goto failed;
    }

    table = ngx_http_farm_consumers_redis_build(cf->pool, keys, t,
                                                &cr->nconsumers, &skipped);
    if (table == NULL) {
        goto failed;
    }

    cr->table = table;

    ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                  "farm_consumers: %ui keys of %ui consumers from %V",
                  table->nkeys, cr->nconsumers, &cr->display);

    ngx_http_farm_consumers_redis_report_skipped(cr, skipped, cf->log);

    freeReplyObject(tiers);
    freeReplyObject(keys);
    redisFree(c);

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                  "farm_consumers: %V unreachable at start (%s); no "
                  "consumers from Redis until it answers", &cr->display,
                  reason);

    if (tiers) {
        freeReplyObject(tiers);
    }

    if (keys) {
        freeReplyObject(keys);
    }

    if (c) {
        redisFree(c);
    }

    return NGX_DECLINED;
}


/*
 * The tiers, valid ones only, sorted by name (ngx_http_farm_consumers_reply.c),
 * copied into pool: an array of farm_consumer_t.
 */

static ngx_array_t *
ngx_http_farm_consumers_redis_tiers(ngx_pool_t *pool, redisReply *rr,
    ngx_uint_t *skipped)
{
    char              *name, *tier;
    size_t             i, n, bad;
    ngx_array_t       *a;
    farm_consumer_t   *t, *c;
    farm_reply_elt_t  *elts;

    elts = ngx_http_farm_consumers_redis_elts(rr);
    if (elts == NULL) {
        return NULL;
    }

    bad = 0;

    if (farm_reply_tiers(elts, rr->elements, &t, &n, &bad) != 0) {
        ngx_free(elts);
        return NULL;
    }

    ngx_free(elts);
    *skipped += bad;

    a = ngx_array_create(pool, n + 1, sizeof(farm_consumer_t));
    if (a == NULL) {
        goto failed;
    }

    for (i = 0; i < n; i++) {
        c = ngx_array_push(a);
        name = ngx_pnalloc(pool, t[i].name_len);
        tier = ngx_pnalloc(pool, t[i].tier_len + 1);

        if (c == NULL || name == NULL || tier == NULL) {
            goto failed;
        }

        ngx_memcpy(name, t[i].name, t[i].name_len);
        ngx_memcpy(tier, t[i].tier, t[i].tier_len);

        c->name = name;
        c->name_len = t[i].name_len;
        c->tier = tier;
        c->tier_len = t[i].tier_len;
    }

    free(t);

    return a;

failed:

    free(t);

    return NULL;
}


/* The table of the keys hash, with each consumer's tier, in pool. */

static ngx_http_farm_key_table_t *
ngx_http_farm_consumers_redis_build(ngx_pool_t *pool, redisReply *rr,
    ngx_array_t *tiers, ngx_uint_t *nconsumers, ngx_uint_t *skipped)
{
    size_t                      i, bad;
    farm_consumer_t            *fc;
    farm_reply_elt_t           *elts;
    farm_reply_keys_t           out;
    ngx_http_farm_consumer_t   *consumers, *c;
    ngx_http_farm_key_table_t  *table;

    elts = ngx_http_farm_consumers_redis_elts(rr);
    if (elts == NULL) {
        return NULL;
    }

    bad = 0;

    if (farm_reply_keys(elts, rr->elements, tiers->elts, tiers->nelts, &out,
                        &bad)
        != 0)
    {
        ngx_free(elts);
        return NULL;
    }

    ngx_free(elts);
    *skipped += bad;

    table = ngx_pcalloc(pool, sizeof(ngx_http_farm_key_table_t));
    consumers = ngx_pcalloc(pool, (out.nconsumers + 1)
                                  * sizeof(ngx_http_farm_consumer_t));

    if (table == NULL || consumers == NULL
        || ngx_http_farm_key_table_init(table, pool, out.nkeys) != NGX_OK)
    {
        goto failed;
    }

    for (i = 0; i < out.nconsumers; i++) {
        fc = &out.consumers[i];
        c = &consumers[i];

        c->name.len = fc->name_len;
        c->name.data = ngx_pnalloc(pool, fc->name_len);
        if (c->name.data == NULL) {
            goto failed;
        }

        ngx_memcpy(c->name.data, fc->name, fc->name_len);

        /* in pool already (the tiers array), or "" */

        c->tier.len = fc->tier_len;
        c->tier.data = (u_char *) fc->tier;
    }

    for (i = 0; i < out.nkeys; i++) {
        ngx_http_farm_key_table_add(table, out.keys[i].digest,
                                    &consumers[out.keys[i].consumer]);
    }

    *nconsumers = out.nconsumers;

    farm_reply_keys_free(&out);

    return table;

failed:

    farm_reply_keys_free(&out);

    return NULL;
}


/* A reply's elements as the reply parser takes them: strings or not. */

static farm_reply_elt_t *
ngx_http_farm_consumers_redis_elts(redisReply *rr)
{
    size_t             i;
    redisReply        *e;
    farm_reply_elt_t  *elts;

    elts = ngx_alloc((rr->elements + 1) * sizeof(farm_reply_elt_t),
                     ngx_cycle->log);
    if (elts == NULL) {
        return NULL;
    }

    for (i = 0; i < rr->elements; i++) {
        e = rr->element[i];

        if (e->type == REDIS_REPLY_STRING) {
            elts[i].data = e->str;
            elts[i].len = e->len;

        } else {
            elts[i].data = NULL;
            elts[i].len = 0;
        }
    }

    return elts;
}


ngx_int_t
ngx_http_farm_consumers_redis_start(ngx_cycle_t *cycle,
    ngx_http_farm_consumers_redis_t *cr)
{
    cr->log = cycle->log;
    cr->generation = 1;

    cr->refresh_ev.handler = ngx_http_farm_consumers_redis_refresh;
    cr->refresh_ev.data = cr;
    cr->refresh_ev.log = cycle->log;
    cr->refresh_ev.cancelable = 1;

    cr->timeout_ev.handler = ngx_http_farm_consumers_redis_timeout;
    cr->timeout_ev.data = cr;
    cr->timeout_ev.log = cycle->log;
    cr->timeout_ev.cancelable = 1;

    /* the master has just read them, unless Redis was down */

    ngx_add_timer(&cr->refresh_ev, cr->table ? cr->refresh : 100);

    return NGX_OK;
}


void
ngx_http_farm_consumers_redis_stop(ngx_http_farm_consumers_redis_t *cr)
{
    redisAsyncContext  *ac;

    cr->stopped = 1;
    cr->generation++;

    if (cr->refresh_ev.timer_set) {
        ngx_del_timer(&cr->refresh_ev);
    }

    if (cr->timeout_ev.timer_set) {
        ngx_del_timer(&cr->timeout_ev);
    }

    ac = cr->ac;

    if (ac) {
        cr->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }

    if (cr->building) {
        ngx_destroy_pool(cr->building);
        cr->building = NULL;
    }

    /* the table in use: no request can look a key up any more */

    if (cr->pool) {
        ngx_destroy_pool(cr->pool);
        cr->pool = NULL;
        cr->table = NULL;
        cr->nconsumers = 0;
    }
}


static void
ngx_http_farm_consumers_redis_refresh(ngx_event_t *ev)
{
    ngx_http_farm_consumers_redis_t  *cr = ev->data;

    redisAsyncContext  *ac;

    if (cr->stopped || cr->ac) {
        return;
    }

    cr->building = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, cr->log);
    if (cr->building == NULL) {
        ngx_http_farm_consumers_redis_failed(cr, "out of memory");
        return;
    }

    ac = redisAsyncConnect((char *) cr->addr, (int) cr->url.port);

    if (ac == NULL || ac->err) {
        ngx_http_farm_consumers_redis_failed(cr, ac ? ac->errstr
                                                    : "out of memory");
        if (ac) {
            redisAsyncFree(ac);
        }

        return;
    }

    if (ngx_http_farm_hiredis_attach(ac, cr->log) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_farm_consumers_redis_failed(cr, "no free connection");
        return;
    }

    ac->data = cr;
    cr->ac = ac;

    redisAsyncSetConnectCallback(ac,
                                 ngx_http_farm_consumers_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac,
                                 ngx_http_farm_consumers_redis_on_disconnect);

    if (cr->url.password[0] && cr->url.user[0]) {
        redisAsyncCommand(ac, ngx_http_farm_consumers_redis_setup_cb,
                          (void *) cr->generation, "AUTH %s %s",
                          cr->url.user, cr->url.password);

    } else if (cr->url.password[0]) {
        redisAsyncCommand(ac, ngx_http_farm_consumers_redis_setup_cb,
                          (void *) cr->generation, "AUTH %s",
                          cr->url.password);
    }

    if (cr->url.db) {
        redisAsyncCommand(ac, ngx_http_farm_consumers_redis_setup_cb,
                          (void *) cr->generation, "SELECT %u", cr->url.db);
    }

    redisAsyncCommand(ac, ngx_http_farm_consumers_redis_tiers_cb,
                      (void *) cr->generation, "HGETALL %s", cr->key_tiers);
    redisAsyncCommand(ac, ngx_http_farm_consumers_redis_keys_cb,
                      (void *) cr->generation, "HGETALL %s", cr->key_keys);

    ngx_add_timer(&cr->timeout_ev, cr->timeout);
}


static void
ngx_http_farm_consumers_redis_timeout(ngx_event_t *ev)
{
    ngx_http_farm_consumers_redis_t  *cr = ev->data;

    ngx_http_farm_consumers_redis_failed(cr, "timed out");
}


static void
ngx_http_farm_consumers_redis_on_connect(const redisAsyncContext *cac,
    int status)
{
    redisAsyncContext                *ac = (redisAsyncContext *) cac;
    ngx_http_farm_consumers_redis_t  *cr;

    cr = ac->data;

    if (cr == NULL || status == REDIS_OK) {
        return;
    }

    /* hiredis frees a context that failed to connect by itself */

    cr->ac = NULL;
    ac->data = NULL;

    ngx_http_farm_consumers_redis_failed(cr, ac->errstr[0]
                                             ? ac->errstr
                                             : "connection refused");
}


static void
ngx_http_farm_consumers_redis_on_disconnect(const redisAsyncContext *cac,
    int status)
{
    redisAsyncContext                *ac = (redisAsyncContext *) cac;
    ngx_http_farm_consumers_redis_t  *cr;

    cr = ac->data;

    /* NULL: we closed it, the read done or given up */

    if (cr == NULL) {
        return;
    }

    cr->ac = NULL;
    ac->data = NULL;

    ngx_http_farm_consumers_redis_failed(cr, ac->errstr[0]
                                             ? ac->errstr
                                             : "connection closed");
}


static void
ngx_http_farm_consumers_redis_setup_cb(redisAsyncContext *ac, void *reply,
    void *data)
{
    redisReply                       *rr = reply;
    ngx_http_farm_consumers_redis_t  *cr;

    cr = ac->data;

    if (cr == NULL || (uintptr_t) data != cr->generation || rr == NULL) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_http_farm_consumers_redis_failed(cr, "AUTH or SELECT refused");
    }
}


static void
ngx_http_farm_consumers_redis_tiers_cb(redisAsyncContext *ac, void *reply,
    void *data)
{
    redisReply                       *rr = reply;
    ngx_http_farm_consumers_redis_t  *cr;

    cr = ac->data;

    if (cr == NULL || (uintptr_t) data != cr->generation) {
        return;
    }

    if (rr == NULL || rr->type != REDIS_REPLY_ARRAY) {
        ngx_http_farm_consumers_redis_failed(cr, rr == NULL
                                                 ? (ac->errstr[0]
                                                    ? ac->errstr
                                                    : "connection lost")
                                                 : rr->type
                                                   == REDIS_REPLY_ERROR
                                                 ? rr->str
                                                 : "consumer-tiers is not "
                                                   "a hash");
        return;
    }

    cr->skipped = 0;
    cr->tiers = ngx_http_farm_consumers_redis_tiers(cr->building, rr,
                                                    &cr->skipped);
    if (cr->tiers == NULL) {
        ngx_http_farm_consumers_redis_failed(cr, "out of memory");
    }
}


static void
ngx_http_farm_consumers_redis_keys_cb(redisAsyncContext *ac, void *reply,
    void *data)
{
    redisReply                       *rr = reply;
    ngx_uint_t                        skipped, nconsumers;
    ngx_http_farm_key_table_t        *table;
    ngx_http_farm_consumers_redis_t  *cr;

    cr = ac->data;

    if (cr == NULL || (uintptr_t) data != cr->generation
        || cr->tiers == NULL)
    {
        return;
    }

    if (rr == NULL || rr->type != REDIS_REPLY_ARRAY) {
        ngx_http_farm_consumers_redis_failed(cr, rr == NULL
                                                 ? (ac->errstr[0]
                                                    ? ac->errstr
                                                    : "connection lost")
                                                 : rr->type
                                                   == REDIS_REPLY_ERROR
                                                 ? rr->str
                                                 : "consumer-keys is not "
                                                   "a hash");
        return;
    }

    skipped = cr->skipped;

    table = ngx_http_farm_consumers_redis_build(cr->building, rr, cr->tiers,
                                                &nconsumers, &skipped);
    if (table == NULL) {
        ngx_http_farm_consumers_redis_failed(cr, "out of memory");
        return;
    }

    if (cr->table == NULL || cr->table->nkeys != table->nkeys
        || cr->nconsumers != nconsumers)
    {
        ngx_log_error(NGX_LOG_INFO, cr->log, 0,
                      "farm_consumers: %ui keys of %ui consumers from %V",
                      table->nkeys, nconsumers, &cr->display);
    }

    /* swap; nothing points into the old table between requests */

    if (cr->pool) {
        ngx_destroy_pool(cr->pool);
    }

    cr->pool = cr->building;
    cr->building = NULL;
    cr->table = table;
    cr->nconsumers = nconsumers;
    cr->tiers = NULL;

    ngx_http_farm_consumers_redis_report_skipped(cr, skipped, cr->log);

    if (cr->failing) {
        cr->failing = 0;
        cr->reported = 0;

        ngx_log_error(NGX_LOG_NOTICE, cr->log, 0,
                      "farm_consumers: %V is reachable again",
                      &cr->display);
    }

    ngx_http_farm_consumers_redis_done(cr);
}


/* The read failed: keep the table in use, try again after refresh=. */

static void
ngx_http_farm_consumers_redis_failed(ngx_http_farm_consumers_redis_t *cr,
    const char *reason)
{
    time_t  now;

    now = ngx_time();

    if (!cr->failing || now - cr->reported >= NGX_HTTP_FARM_CONSUMERS_REPORT)
    {
        ngx_log_error(NGX_LOG_ERR, cr->log, 0,
                      "farm_consumers: %V is unavailable (%s); keeping the "
                      "%ui keys last read", &cr->display, reason,
                      cr->table ? cr->table->nkeys : 0);
        cr->reported = now;
    }

    cr->failing = 1;

    if (cr->building) {
        ngx_destroy_pool(cr->building);
        cr->building = NULL;
    }

    cr->tiers = NULL;

    ngx_http_farm_consumers_redis_done(cr);
}


/* The connection goes (hiredis defers it when called from a callback). */

static void
ngx_http_farm_consumers_redis_done(ngx_http_farm_consumers_redis_t *cr)
{
    redisAsyncContext  *ac;

    cr->generation++;

    if (cr->timeout_ev.timer_set) {
        ngx_del_timer(&cr->timeout_ev);
    }

    ac = cr->ac;

    if (ac) {
        cr->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }

    if (!cr->stopped && !cr->refresh_ev.timer_set) {
        ngx_add_timer(&cr->refresh_ev, cr->refresh);
    }
}


static void
ngx_http_farm_consumers_redis_report_skipped(
    ngx_http_farm_consumers_redis_t *cr, ngx_uint_t skipped, ngx_log_t *log)
{
    if (skipped == 0 || skipped == cr->skipped_reported) {
        cr->skipped_reported = skipped;
        return;
    }

    cr->skipped_reported = skipped;

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "farm_consumers: %V: %ui entries skipped: in %s a field "
                  "must be the SHA-256 of a key (64 lower-case hex digits) "
                  "and its value a consumer name (1-128 bytes, no control "
                  "characters); in %s a field must be a name and its value "
                  "a tier (1-64 of A-Z a-z 0-9 . _ -)", &cr->display,
                  skipped, cr->key_keys, cr->key_tiers);
}
