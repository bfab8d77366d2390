
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
 * or "nginx -s"), so the first request after a start finds the consumers;
 * a reload that keeps the zone keeps its table and reads nothing.  The
 * table is in shared memory (ngx_http_farm_consumers_shm.c), one for
 * every worker.  One worker, the consumers' sync owner (worker 0, which
 * also syncs the first farm upstream), reads Redis again every refresh= on
 * nginx's event loop (hiredis async, one connection per refresh) and, when
 * what it read differs from the table in use, builds the next table and
 * switches the workers to it: one read per refresh= for the gateway,
 * whatever the number of workers.  What is O(consumers) in that (checking
 * the replies, their digest, writing the next table, freeing the replies)
 * runs on a thread of nginx's "default" pool
 * (ngx_http_farm_consumers_job.c): the loop only takes the replies'
 * elements from hiredis, reserves the table's block and publishes it, each
 * O(1); the next refresh waits until that is over.  A respawned worker 0
 * (after a crash) or a reload's new one takes over.  While Redis cannot
 * be read the last table stays in use.
 */


#include "ngx_http_farm_limit.h"
#include "ngx_http_farm_consumers_reply.h"
#include "ngx_http_farm_consumers_shm.h"
#include "ngx_http_farm_consumers_job.h"

#include <farm_keys.h>

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_FARM_CONSUMERS_REFRESH    10000   /* ms */
#define NGX_HTTP_FARM_CONSUMERS_TIMEOUT    3000    /* ms */
#define NGX_HTTP_FARM_CONSUMERS_WARM_MAX   2000    /* ms */
#define NGX_HTTP_FARM_CONSUMERS_REPORT     60      /* s between errors */
#define NGX_HTTP_FARM_CONSUMERS_BATCH      1000    /* elements freed a turn */


struct ngx_http_farm_consumers_redis_s {
    ngx_str_t                       display;    /* without the password */
    farm_url_t                      url;
    u_char                          addr[NGX_SOCKADDR_STRLEN + 1];
    u_char                         *key_keys;   /* NUL-terminated */
    u_char                         *key_tiers;
    ngx_msec_t                      refresh;
    ngx_msec_t                      timeout;

    ngx_http_farm_consumers_shm_t   shm;        /* the table in use */
#if (NGX_THREADS)
    ngx_thread_pool_t              *thread_pool;
    ngx_thread_task_t              *task;
#endif

    /* the sync owner's */
    ngx_uint_t                      epoch;      /* its claim on the zone */
    void                           *ac;         /* redisAsyncContext */
    uintptr_t                       generation;
    ngx_event_t                     refresh_ev;
    ngx_event_t                     timeout_ev;
    ngx_http_farm_consumers_job_t   job;        /* of the read running */
    ngx_event_t                     job_ev;     /* a step's end */
    ngx_event_t                     free_ev;    /* a batch freed a turn */
    ngx_uint_t                      free_turns;
    ngx_uint_t                      busy;       /* the job is not over */
    ngx_uint_t                      have_last;  /* a read applied: */
    u_char                          last_raw[32];
    u_char                          last_digest[32];
    ngx_uint_t                      skipped_reported;
    time_t                          reported;
    ngx_uint_t                      failing;
    ngx_uint_t                      stopped;
    ngx_log_t                      *log;
};


static ngx_int_t ngx_http_farm_consumers_redis_warm(ngx_conf_t *cf,
    ngx_http_farm_consumers_redis_t *cr);
static void ngx_http_farm_consumers_redis_take(redisReply *rr,
    void ***elements, size_t *n);
static void ngx_http_farm_consumers_redis_post(
    ngx_http_farm_consumers_redis_t *cr, ngx_uint_t step);
static void ngx_http_farm_consumers_redis_work(void *data, ngx_log_t *log);
static void ngx_http_farm_consumers_redis_worked(ngx_event_t *ev);
static void ngx_http_farm_consumers_redis_read_done(
    ngx_http_farm_consumers_redis_t *cr);
static void ngx_http_farm_consumers_redis_fill_done(
    ngx_http_farm_consumers_redis_t *cr);
static void ngx_http_farm_consumers_redis_release(
    ngx_http_farm_consumers_redis_t *cr);
static void ngx_http_farm_consumers_redis_free(ngx_event_t *ev);
static ngx_uint_t ngx_http_farm_consumers_redis_is_owner(void);
static ngx_uint_t ngx_http_farm_consumers_redis_nkeys(
    ngx_http_farm_consumers_redis_t *cr);
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
static void ngx_http_farm_consumers_redis_succeeded(
    ngx_http_farm_consumers_redis_t *cr);
static void ngx_http_farm_consumers_redis_report_skipped(
    ngx_http_farm_consumers_redis_t *cr, ngx_uint_t skipped, ngx_log_t *log);


/*
 * farm_consumers redis://... [prefix=P] [refresh=TIME] [timeout=TIME]
 * [size=SIZE]: value[0] is the URL, n the number of arguments.
 */

char *
ngx_http_farm_consumers_redis(ngx_conf_t *cf, ngx_str_t *value, ngx_uint_t n,
    ngx_http_farm_consumers_redis_t **crp)
{
    u_char                           *p, err[FARM_ERR_MAX];
    size_t                            len, size;
    ssize_t                           n_size;
    ngx_str_t                         prefix, s;
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
    size = NGX_HTTP_FARM_CONSUMERS_SHM_SIZE;

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

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            why = "a size of at least 64k";
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            n_size = ngx_parse_size(&s);
            if (n_size == NGX_ERROR || n_size < 64 * 1024) {
                goto invalid;
            }

            size = (size_t) n_size;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown \"farm_consumers\" parameter \"%V\": "
                           "use prefix=, refresh=, timeout= or size=",
                           &value[i]);
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

    s.len = sizeof("farm_consumers  ") - 1 + cr->display.len
            + ngx_strlen(cr->key_keys);
    s.data = ngx_pnalloc(cf->pool, s.len);
    if (s.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(s.data, "farm_consumers %V %s", &cr->display, cr->key_keys);

    if (ngx_http_farm_consumers_shm_add(cf, &cr->shm, &s, size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

#if (NGX_THREADS)

    /* the refreshes' O(consumers) work runs on nginx's "default" pool */

    cr->thread_pool = ngx_thread_pool_add(cf, NULL);
    if (cr->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

#endif

    *crp = cr;

    /* a reload that keeps the zone keeps its table: no read here */

    if (!ngx_test_config && ngx_process != NGX_PROCESS_SIGNALLER
        && !ngx_http_farm_consumers_shm_kept(&s, size))
    {
        (void) ngx_http_farm_consumers_redis_warm(cf, cr);
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"farm_consumers\" parameter \"%V\": "
                       "expected %s", &value[i], why);

    return NGX_CONF_ERROR;
}


/*
 * A key's digest looked up in the table in use; the consumer found is
 * copied into pool.  NGX_OK, NGX_DECLINED (unknown) or NGX_ERROR.
 */

ngx_int_t
ngx_http_farm_consumers_redis_lookup(ngx_http_farm_consumers_redis_t *cr,
    u_char *digest, ngx_pool_t *pool, ngx_http_farm_consumer_t *out)
{
    return ngx_http_farm_consumers_shm_lookup(&cr->shm, digest, pool, out);
}


/*
 * The master's read when the configuration is loaded: synchronous, before
 * any worker of this configuration exists.  The table goes in the
 * configuration's pool; the zone's init publishes it.
 */

static ngx_int_t
ngx_http_farm_consumers_redis_warm(ngx_conf_t *cf,
    ngx_http_farm_consumers_redis_t *cr)
{
    const char                     *reason;
    ngx_msec_t                      ms, deadline;
    redisReply                     *tiers, *keys;
    redisContext                   *c;
    ngx_http_farm_consumer_t       *consumers;
    ngx_http_farm_key_table_t      *table;
    ngx_http_farm_consumers_job_t   job;

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

    /* the same read as the sync owner's, here on the master's thread */

    ngx_memzero(&job, sizeof(ngx_http_farm_consumers_job_t));

    ngx_http_farm_consumers_redis_take(tiers, &job.tiers, &job.ntiers);
    ngx_http_farm_consumers_redis_take(keys, &job.keys, &job.nkeys);

    ngx_http_farm_consumers_job_read(&job);

    if (job.failed) {
        goto failed;
    }

    table = ngx_http_farm_consumers_job_table(cf->pool, &job.out,
                                              &consumers);

    if (table == NULL) {
        ngx_http_farm_consumers_job_free(&job);
        goto failed;
    }

    cr->shm.warm = table;
    cr->shm.warm_consumers = consumers;
    cr->shm.warm_nconsumers = job.out.nconsumers;
    ngx_memcpy(cr->shm.warm_digest, job.digest, sizeof(job.digest));

    ngx_http_farm_consumers_job_free(&job);

    ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                  "farm_consumers: %ui keys of %ui consumers from %V",
                  table->nkeys, cr->shm.warm_nconsumers, &cr->display);

    ngx_http_farm_consumers_redis_report_skipped(cr, job.skipped, cf->log);

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
 * A reply's elements taken from it (O(1)): hiredis frees the reply, not
 * them; ngx_http_farm_consumers_job_free() frees them.
 */

static void
ngx_http_farm_consumers_redis_take(redisReply *rr, void ***elements,
    size_t *n)
{
    *elements = (void **) rr->element;
    *n = rr->elements;

    rr->element = NULL;
    rr->elements = 0;
}


/*
 * The consumers' sync owner: worker 0 (the process that also syncs the
 * first farm upstream), or nginx's only process without a master.  A
 * worker killed is respawned as worker 0 again.
 */

static ngx_uint_t
ngx_http_farm_consumers_redis_is_owner(void)
{
    if (ngx_process == NGX_PROCESS_SINGLE) {
        return 1;
    }

    return ngx_process == NGX_PROCESS_WORKER && ngx_worker == 0;
}


static ngx_uint_t
ngx_http_farm_consumers_redis_nkeys(ngx_http_farm_consumers_redis_t *cr)
{
    u_char      digest[32];
    ngx_uint_t  nkeys, nconsumers;

    (void) ngx_http_farm_consumers_shm_current(&cr->shm, &nkeys, &nconsumers,
                                               digest);

    return nkeys;
}


ngx_int_t
ngx_http_farm_consumers_redis_start(ngx_cycle_t *cycle,
    ngx_http_farm_consumers_redis_t *cr)
{
    cr->log = cycle->log;
    cr->generation = 1;

    if (!ngx_http_farm_consumers_redis_is_owner()) {
        cr->stopped = 1;        /* the other workers only read the zone */
        return NGX_OK;
    }

    cr->epoch = ngx_http_farm_consumers_shm_claim(&cr->shm);

    if (cr->epoch == 0) {
        cr->stopped = 1;        /* this configuration is already replaced */
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "farm_consumers: this worker reads %V every %M ms for "
                  "all workers", &cr->display, cr->refresh);

    cr->refresh_ev.handler = ngx_http_farm_consumers_redis_refresh;
    cr->refresh_ev.data = cr;
    cr->refresh_ev.log = cycle->log;
    cr->refresh_ev.cancelable = 1;

    cr->timeout_ev.handler = ngx_http_farm_consumers_redis_timeout;
    cr->timeout_ev.data = cr;
    cr->timeout_ev.log = cycle->log;
    cr->timeout_ev.cancelable = 1;

    cr->job_ev.handler = ngx_http_farm_consumers_redis_worked;
    cr->job_ev.data = cr;
    cr->job_ev.log = cycle->log;

    cr->free_ev.handler = ngx_http_farm_consumers_redis_free;
    cr->free_ev.data = cr;
    cr->free_ev.log = cycle->log;

#if (NGX_THREADS)

    cr->task = ngx_thread_task_alloc(cycle->pool, 0);
    if (cr->task == NULL) {
        return NGX_ERROR;
    }

    cr->task->ctx = cr;
    cr->task->handler = ngx_http_farm_consumers_redis_work;
    cr->task->event.handler = ngx_http_farm_consumers_redis_worked;
    cr->task->event.data = cr;
    cr->task->event.log = cycle->log;

#endif

    /*
     * The master has just read them, unless Redis was down or the zone
     * came through a reload (or this worker replaces one that died):
     * then at once.
     */

    ngx_add_timer(&cr->refresh_ev, cr->shm.warm ? cr->refresh : 100);

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

    /*
     * At exit_process, after nginx's thread pools (a core module's
     * exit_process) have run their last task: no thread has the job any
     * more.  A block reserved and not published goes back to the zone.
     */

    if (cr->job.b.block) {
        ngx_http_farm_consumers_shm_abandon(&cr->shm, &cr->job.b);
        cr->job.b.block = NULL;
    }

    if (cr->free_ev.posted) {
        ngx_delete_posted_event(&cr->free_ev);
    }

    ngx_http_farm_consumers_job_free(&cr->job);
    cr->busy = 0;

    /* the table in use stays in the zone, for the others and the next */
}


static void
ngx_http_farm_consumers_redis_refresh(ngx_event_t *ev)
{
    ngx_http_farm_consumers_redis_t  *cr = ev->data;

    redisAsyncContext  *ac;

    if (cr->stopped || cr->ac) {
        return;
    }

    if (cr->busy) {
        /* the last read is still being worked on: the next one after it */
        ngx_add_timer(&cr->refresh_ev, cr->refresh);
        return;
    }

    if (ngx_exiting || ngx_quit || ngx_terminate
        || ngx_http_farm_consumers_shm_superseded(&cr->shm, cr->epoch))
    {
        cr->stopped = 1;        /* a newer process reads them now */
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

    /* kept for the job, O(1): hiredis frees only the top of the reply */

    ngx_http_farm_consumers_job_free(&cr->job);
    ngx_memzero(&cr->job, sizeof(ngx_http_farm_consumers_job_t));

    ngx_http_farm_consumers_redis_take(rr, &cr->job.tiers, &cr->job.ntiers);

    if (cr->job.tiers == NULL) {
        cr->job.tiers = ngx_alloc(sizeof(void *), cr->log);  /* empty hash */
        if (cr->job.tiers == NULL) {
            ngx_http_farm_consumers_redis_failed(cr, "out of memory");
        }
    }
}


static void
ngx_http_farm_consumers_redis_keys_cb(redisAsyncContext *ac, void *reply,
    void *data)
{
    redisReply                       *rr = reply;
    ngx_http_farm_consumers_job_t    *job;
    ngx_http_farm_consumers_redis_t  *cr;

    cr = ac->data;

    if (cr == NULL || (uintptr_t) data != cr->generation
        || cr->job.tiers == NULL)
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

    job = &cr->job;

    ngx_http_farm_consumers_redis_take(rr, &job->keys, &job->nkeys);

    job->found = ngx_http_farm_consumers_shm_current(&cr->shm,
                                                     &job->current_nkeys,
                                                     &job->current_nconsumers,
                                                     job->current);

    job->have_last = cr->have_last;
    ngx_memcpy(job->last_raw, cr->last_raw, sizeof(cr->last_raw));
    ngx_memcpy(job->last_digest, cr->last_digest, sizeof(cr->last_digest));

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cr->log, 0,
                   "farm_consumers: %uz + %uz reply elements handed over",
                   job->ntiers, job->nkeys);

    /* the connection goes; the refresh timer waits for the job */

    cr->busy = 1;
    ngx_http_farm_consumers_redis_done(cr);

    ngx_http_farm_consumers_redis_post(cr, NGX_HTTP_FARM_CONSUMERS_READ);
}


/*
 * A step of the job to a thread of the pool; without threads (or when the
 * pool refuses it) it runs here, on the loop, as it did before threads.
 */

static void
ngx_http_farm_consumers_redis_post(ngx_http_farm_consumers_redis_t *cr,
    ngx_uint_t step)
{
    cr->busy = 1;
    cr->job.step = step;

#if (NGX_THREADS)

    if (cr->task && ngx_thread_task_post(cr->thread_pool, cr->task) == NGX_OK)
    {
        return;
    }

#endif

    ngx_http_farm_consumers_redis_work(cr, cr->log);
    ngx_http_farm_consumers_redis_worked(&cr->job_ev);
}


/* On a thread: only the job is touched (the loop leaves it while busy). */

static void
ngx_http_farm_consumers_redis_work(void *data, ngx_log_t *log)
{
    ngx_http_farm_consumers_redis_t  *cr = data;

    switch (cr->job.step) {

    case NGX_HTTP_FARM_CONSUMERS_READ:
        ngx_http_farm_consumers_job_read(&cr->job);
        break;

    default: /* NGX_HTTP_FARM_CONSUMERS_FILL */
        ngx_http_farm_consumers_job_fill(&cr->job);
    }
}


/* Back on the loop after a step: O(1) each. */

static void
ngx_http_farm_consumers_redis_worked(ngx_event_t *ev)
{
    ngx_http_farm_consumers_redis_t  *cr = ev->data;

    cr->busy = 0;

    if (cr->stopped) {
        ngx_http_farm_consumers_redis_release(cr);
        return;
    }

    switch (cr->job.step) {

    case NGX_HTTP_FARM_CONSUMERS_READ:
        ngx_http_farm_consumers_redis_read_done(cr);
        return;

    default: /* NGX_HTTP_FARM_CONSUMERS_FILL */
        ngx_http_farm_consumers_redis_fill_done(cr);
    }
}


static void
ngx_http_farm_consumers_redis_read_done(ngx_http_farm_consumers_redis_t *cr)
{
    ngx_int_t                       rc;
    ngx_http_farm_consumers_job_t  *job;

    job = &cr->job;

    if (job->failed) {
        ngx_http_farm_consumers_redis_failed(cr, "out of memory");
        return;
    }

    /* unchanged: the table in use stays, nothing is built (all freed) */

    if (job->unchanged) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, cr->log, 0,
                       "farm_consumers: unchanged (%s), read off the loop",
                       job->same_raw ? "the same replies" : "the same "
                                                            "entries");

        ngx_http_farm_consumers_redis_succeeded(cr);
        return;
    }

    if (!job->found || job->current_nkeys != job->out.nkeys
        || job->current_nconsumers != job->out.nconsumers)
    {
        ngx_log_error(NGX_LOG_INFO, cr->log, 0,
                      "farm_consumers: %uz keys of %uz consumers from %V",
                      job->out.nkeys, job->out.nconsumers, &cr->display);
    }

    rc = ngx_http_farm_consumers_shm_reserve(&cr->shm, &job->b,
                                             job->out.nkeys,
                                             job->out.nconsumers,
                                             job->strings, cr->epoch);

    if (rc == NGX_DECLINED) {
        cr->stopped = 1;        /* a newer process reads them now */
        ngx_http_farm_consumers_redis_release(cr);
        return;
    }

    if (rc == NGX_ERROR) {
        job->b.block = NULL;
        ngx_http_farm_consumers_redis_failed(cr, "the keys do not fit in "
                                                 "the zone, raise size=");
        return;
    }

    ngx_http_farm_consumers_redis_post(cr, NGX_HTTP_FARM_CONSUMERS_FILL);
}


static void
ngx_http_farm_consumers_redis_fill_done(ngx_http_farm_consumers_redis_t *cr)
{
    ngx_int_t                       rc;
    ngx_http_farm_consumers_job_t  *job;

    job = &cr->job;

    rc = ngx_http_farm_consumers_shm_publish(&cr->shm, &job->b, cr->epoch,
                                             job->digest);
    job->b.block = NULL;

    if (rc == NGX_DECLINED) {
        cr->stopped = 1;        /* a newer process reads them now */
        ngx_http_farm_consumers_redis_release(cr);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cr->log, 0,
                   "farm_consumers: switched to a table of %ui keys of %ui "
                   "consumers, read and built off the loop",
                   job->b.table->nkeys, job->b.nconsumers);

    ngx_http_farm_consumers_redis_succeeded(cr);
}


/* A read that ended well, whether it changed the table or not. */

static void
ngx_http_farm_consumers_redis_succeeded(ngx_http_farm_consumers_redis_t *cr)
{
    /* the next read the same byte for byte is unchanged without a check */

    cr->have_last = 1;
    ngx_memcpy(cr->last_raw, cr->job.raw, sizeof(cr->last_raw));
    ngx_memcpy(cr->last_digest, cr->job.digest, sizeof(cr->last_digest));

    if (!cr->job.same_raw) {
        ngx_http_farm_consumers_redis_report_skipped(cr, cr->job.skipped,
                                                     cr->log);
    }

    if (cr->failing) {
        cr->failing = 0;
        cr->reported = 0;

        ngx_log_error(NGX_LOG_NOTICE, cr->log, 0,
                      "farm_consumers: %V is reachable again",
                      &cr->display);
    }

    ngx_http_farm_consumers_redis_release(cr);
}


/*
 * The job's end, whatever it was: its block (if not published) back to
 * the zone, then the replies' elements freed a batch per turn of the loop
 * (ngx_http_farm_consumers_job.h says why on the loop); the next refresh
 * waits for that.
 */

static void
ngx_http_farm_consumers_redis_release(ngx_http_farm_consumers_redis_t *cr)
{
    if (cr->job.b.block) {
        ngx_http_farm_consumers_shm_abandon(&cr->shm, &cr->job.b);
        cr->job.b.block = NULL;
    }

    ngx_http_farm_consumers_job_free_work(&cr->job);

    cr->busy = 1;
    cr->free_turns = 0;

    ngx_http_farm_consumers_redis_free(&cr->free_ev);
}


static void
ngx_http_farm_consumers_redis_free(ngx_event_t *ev)
{
    ngx_http_farm_consumers_redis_t  *cr = ev->data;

    size_t  n;

    n = cr->job.ntiers + cr->job.nkeys;

    cr->free_turns++;

    if (!ngx_http_farm_consumers_job_free_replies(
             &cr->job, NGX_HTTP_FARM_CONSUMERS_BATCH))
    {
        ngx_post_event(ev, &ngx_posted_next_events);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cr->log, 0,
                   "farm_consumers: %uz reply elements freed in %ui turns "
                   "of the loop", n, cr->free_turns);

    cr->busy = 0;
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
                      ngx_http_farm_consumers_redis_nkeys(cr));
        cr->reported = now;
    }

    cr->failing = 1;

    ngx_http_farm_consumers_redis_done(cr);     /* the connection goes */
    ngx_http_farm_consumers_redis_release(cr);
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

    if (!cr->stopped && !cr->busy && !cr->refresh_ev.timer_set) {
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
