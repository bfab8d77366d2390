
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The operators' overrides of a Consul pool (farm_admin write=registry) in
 * Consul's KV store, one key per agent:
 *
 *   <prefix>/<service>/overrides/<id>  ->  {"mode":..,"weight":..,
 *                                           "ejected_until_ms":..}
 *
 * (ngx_http_farm_override_sync.c has the form; prefix= defaults to
 * "farm").  One key per agent, each written whole by one PUT: two
 * gateways changing two agents never touch the same key, and two changing
 * the same agent replace each other's value atomically, the last one
 * winning, as with the Redis hash; no read-modify-write, so no ?cas=
 * loop that concurrent writers would have to retry.
 *
 * The sync owner watches the folder with its own blocking query
 * (GET /v1/kv/<prefix>/<service>/overrides/?recurse&index=&wait=) on the
 * multi handle of the catalog's query (ngx_http_farm_consul.c): a change
 * made through another gateway arrives within one round trip, not at the
 * next change of the catalog or the next resync=.  Each answer is all of
 * the overrides (404: none) and goes to ngx_http_farm_override_sync(); a
 * failure keeps the overrides known and backs off like the catalog's.
 *
 * The master reads the folder at start after the agents (a restarted
 * gateway routes by the overrides from its first request), and a worker
 * that took a farm_admin change writes it (PUT, or DELETE when the change
 * brings the agent back to the defaults) on a one-shot multi handle of
 * its own on nginx's event loop, bounded by timeout=.
 */


#include "ngx_http_farm_consul.h"

#include <curl/curl.h>
#include <jansson.h>


#define NGX_HTTP_FARM_CONSUL_KV_BACKOFF_MIN  100     /* ms */
#define NGX_HTTP_FARM_CONSUL_KV_BACKOFF_MAX  5000    /* ms */
#define NGX_HTTP_FARM_CONSUL_KV_NEWS_GAP     20      /* ms */
#define NGX_HTTP_FARM_CONSUL_KV_IDLE_GAP     1000    /* ms */
#define NGX_HTTP_FARM_CONSUL_KV_LOG_EVERY    10      /* s */

/* 1024 overrides of about 500 bytes each in Consul's answer, and room */
#define NGX_HTTP_FARM_CONSUL_KV_BODY_MAX     (2 * 1024 * 1024)

#define NGX_HTTP_FARM_CONSUL_KV_URL          (FARM_HOST_MAX + FARM_ID_MAX   \
                                              + 512)


/* one transfer: its handle, header lists, answer and error text */
typedef struct {
    CURL                          *easy;
    struct curl_slist             *headers;
    struct curl_slist             *resolve;
    ngx_http_farm_consul_body_t    body;
    char                           error[CURL_ERROR_SIZE];
} ngx_http_farm_consul_kv_req_t;


/* the sync owner's watch of the folder */
struct ngx_http_farm_consul_kv_s {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_http_farm_consul_t        *cs;
    ngx_log_t                     *log;

    ngx_http_farm_consul_kv_req_t  req;
    ngx_http_farm_consul_xfer_t    xfer;

    ngx_event_t                    next;        /* the next query */

    uint64_t                       index;       /* X-Consul-Index */
    ngx_msec_t                     started;     /* this query's start */
    ngx_msec_t                     backoff;
    time_t                         logged;      /* the last error line */

    unsigned                       running:1;   /* on the multi handle */
    unsigned                       stopped:1;
};


/* a farm_admin write in flight; in the request's pool, which outlives it */
typedef struct {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_http_farm_consul_t        *cs;          /* one-shot */
    ngx_log_t                     *log;

    ngx_http_farm_consul_kv_req_t  req;
    ngx_http_farm_consul_xfer_t    xfer;

    ngx_event_t                    end;         /* posted: the answer */
    const char                    *failed;      /* NULL: written */
    u_char                         detail[160];

    u_char                         json[NGX_HTTP_FARM_OVERRIDE_JSON];
    size_t                         json_len;

    ngx_http_farm_consul_kv_done_pt  done;
    void                          *data;
} ngx_http_farm_consul_kv_write_t;


static ngx_int_t ngx_http_farm_consul_kv_open(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_consul_kv_req_t *req, size_t max, ngx_msec_t timeout,
    ngx_msec_t connect_timeout);
static void ngx_http_farm_consul_kv_close(ngx_http_farm_consul_kv_req_t *req);
static u_char *ngx_http_farm_consul_kv_url(ngx_http_farm_srv_conf_t *fcf,
    u_char *buf, size_t size, ngx_str_t *id, uint64_t index, ngx_msec_t wait);
static ngx_int_t ngx_http_farm_consul_kv_apply(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log, u_char *body, size_t len, ngx_msec_t read_at,
    ngx_uint_t quiet, const char **err);
static void ngx_http_farm_consul_kv_query(ngx_http_farm_consul_kv_t *kv);
static void ngx_http_farm_consul_kv_answer(ngx_http_farm_consul_xfer_t *x,
    ngx_int_t result);
static void ngx_http_farm_consul_kv_failed(ngx_http_farm_consul_kv_t *kv,
    const char *reason, long status);
static void ngx_http_farm_consul_kv_schedule(ngx_http_farm_consul_kv_t *kv,
    ngx_msec_t delay);
static void ngx_http_farm_consul_kv_next(ngx_event_t *ev);
static void ngx_http_farm_consul_kv_written(ngx_http_farm_consul_xfer_t *x,
    ngx_int_t result);
static void ngx_http_farm_consul_kv_write_end(ngx_event_t *ev);


/* Sets up req's handle for fcf's Consul, answers up to max bytes. */

static ngx_int_t
ngx_http_farm_consul_kv_open(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_consul_kv_req_t *req, size_t max, ngx_msec_t timeout,
    ngx_msec_t connect_timeout)
{
    req->body.max = max;

    req->easy = curl_easy_init();
    if (req->easy == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_farm_consul_easy(fcf, req->easy, &req->body, timeout,
                                     connect_timeout, (void **) &req->headers,
                                     (void **) &req->resolve, req->error);
}


/* Frees what req holds (its handle off any multi handle first). */

static void
ngx_http_farm_consul_kv_close(ngx_http_farm_consul_kv_req_t *req)
{
    if (req->easy) {
        curl_easy_cleanup(req->easy);
    }

    curl_slist_free_all(req->headers);
    curl_slist_free_all(req->resolve);
    free(req->body.data);

    ngx_memzero(req, sizeof(ngx_http_farm_consul_kv_req_t));
}


/*
 * <scheme>://<host>:<port>/v1/kv/<prefix>/<service>/overrides/<id>?dc=
 * for one agent's key; with id NULL, the folder with ?recurse, and
 * index= and wait= when wait is not 0 (a blocking query).
 */

static u_char *
ngx_http_farm_consul_kv_url(ngx_http_farm_srv_conf_t *fcf, u_char *buf,
    size_t size, ngx_str_t *id, uint64_t index, ngx_msec_t wait)
{
    u_char      *p, *last;
    ngx_uint_t   v6;

    last = buf + size - 1;
    v6 = (ngx_strchr(fcf->url.host, ':') != NULL);

    p = ngx_slprintf(buf, last, "%s://%s%s%s:%ud/v1/kv/%V/%V/overrides/",
                     fcf->url.tls ? "https" : "http", v6 ? "[" : "",
                     fcf->url.host, v6 ? "]" : "", fcf->url.port,
                     &fcf->prefix, &fcf->service);

    /* ids, prefixes and services are names: nothing to escape */

    if (id) {
        p = ngx_slprintf(p, last, "%V", id);
    }

    p = ngx_slprintf(p, last, "?");

    if (fcf->dc.len) {
        p = ngx_slprintf(p, last, "dc=%V&", &fcf->dc);
    }

    if (id == NULL) {
        p = ngx_slprintf(p, last, "recurse&");

        if (wait) {
            p = ngx_slprintf(p, last, "index=%uL&wait=%Mms&", index, wait);
        }
    }

    p--;    /* the last '?' or '&' */
    *p = '\0';

    return buf;
}


/*
 * One answer of the folder (a JSON list of {"Key":..,"Value":<base64>};
 * NULL for a 404, no key at all), read at read_at: the keys that are an
 * agent id with a valid override go to ngx_http_farm_override_sync(), the
 * others are skipped, with a line unless quiet (an answer that is the last
 * one again).  NGX_ERROR with *err when the answer is not a list: nothing
 * changes.
 */

static ngx_int_t
ngx_http_farm_consul_kv_apply(ngx_http_farm_srv_conf_t *fcf, ngx_log_t *log,
    u_char *body, size_t len, ngx_msec_t read_at, ngx_uint_t quiet,
    const char **err)
{
    u_char                        *decoded;
    size_t                         i, n, skip;
    json_t                        *list, *e, *k, *v;
    ngx_str_t                      src, dst;
    const char                    *key, *why;
    json_error_t                   jerr;
    ngx_http_farm_override_rec_t  *recs;

    list = NULL;
    recs = NULL;
    decoded = NULL;
    n = 0;

    if (body) {
        list = json_loadb((const char *) body, len, 0, &jerr);

        if (!json_is_array(list)) {
            json_decref(list);
            *err = "not a JSON list of keys";
            return NGX_ERROR;
        }
    }

    if (list && json_array_size(list)) {
        recs = ngx_alloc(json_array_size(list)
                         * sizeof(ngx_http_farm_override_rec_t), log);
        decoded = ngx_alloc(ngx_base64_decoded_length(len) + 1, log);

        if (recs == NULL || decoded == NULL) {
            ngx_free(recs);
            ngx_free(decoded);
            json_decref(list);
            *err = "out of memory";
            return NGX_ERROR;
        }
    }

    /* "<prefix>/<service>/overrides/" */

    skip = fcf->prefix.len + fcf->service.len + 12;

    json_array_foreach(list, i, e) {
        k = json_object_get(e, "Key");
        v = json_object_get(e, "Value");
        key = json_string_value(k);

        /* the folder's own key, as Consul's UI makes one: no override */

        if (key && json_string_length(k) == skip && key[skip - 1] == '/') {
            continue;
        }

        if (key == NULL || json_string_length(k) <= skip
            || !farm_valid_id(key + skip, json_string_length(k) - skip))
        {
            if (quiet) {
                continue;
            }

            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "farm: registry %V: skipping a key under "
                          "%V/%V/overrides/: not an agent id",
                          &fcf->url_display, &fcf->prefix, &fcf->service);
            continue;
        }

        recs[n].id = (u_char *) key + skip;
        recs[n].id_len = json_string_length(k) - skip;

        src.data = (u_char *) json_string_value(v);
        src.len = json_string_length(v);
        dst.data = decoded;

        why = NULL;

        if (src.data == NULL) {
            why = "the key has no value";

        } else if (ngx_decode_base64(&dst, &src) != NGX_OK) {
            why = "the value is not base64";

        } else if (ngx_http_farm_override_parse(&recs[n], dst.data, dst.len,
                                                &why)
                   != NGX_OK)
        {
            /* why is set */
        }

        if (why) {
            if (quiet) {
                continue;
            }

            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "farm: registry %V: skipping the override of "
                          "agent \"%*s\": %s", &fcf->url_display,
                          recs[n].id_len, recs[n].id, why);
            continue;
        }

        n++;
    }

    (void) ngx_http_farm_override_sync(fcf, recs, n, read_at);

    ngx_free(recs);
    ngx_free(decoded);
    json_decref(list);

    return NGX_OK;
}


/* The sync owner's watch, on cs's multi handle; NULL (logged) on failure. */

ngx_http_farm_consul_kv_t *
ngx_http_farm_consul_kv_start(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_consul_t *cs, ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_http_farm_consul_kv_t  *kv;

    kv = ngx_pcalloc(pool, sizeof(ngx_http_farm_consul_kv_t));
    if (kv == NULL) {
        return NULL;
    }

    kv->fcf = fcf;
    kv->cs = cs;
    kv->log = log;
    kv->backoff = NGX_HTTP_FARM_CONSUL_KV_BACKOFF_MIN;

    kv->xfer.handler = ngx_http_farm_consul_kv_answer;
    kv->xfer.data = kv;

    kv->next.handler = ngx_http_farm_consul_kv_next;
    kv->next.data = kv;
    kv->next.log = log;
    kv->next.cancelable = 1;

    if (ngx_http_farm_consul_kv_open(fcf, &kv->req,
                                     NGX_HTTP_FARM_CONSUL_KV_BODY_MAX, 0,
                                     fcf->timeout)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "farm: registry %V of upstream \"%V\": cannot set up "
                      "libcurl to read the overrides", &fcf->url_display,
                      &fcf->uscf->host);
        ngx_http_farm_consul_kv_stop(kv);
        return NULL;
    }

    ngx_http_farm_consul_kv_query(kv);

    return kv;
}


void
ngx_http_farm_consul_kv_stop(ngx_http_farm_consul_kv_t *kv)
{
    if (kv->stopped) {
        return;
    }

    kv->stopped = 1;

    if (kv->running) {
        ngx_http_farm_consul_remove(kv->cs, kv->req.easy);
        kv->running = 0;
    }

    ngx_http_farm_consul_kv_close(&kv->req);

    if (kv->next.timer_set) {
        ngx_del_timer(&kv->next);
    }
}


static void
ngx_http_farm_consul_kv_query(ngx_http_farm_consul_kv_t *kv)
{
    u_char                     url[NGX_HTTP_FARM_CONSUL_KV_URL];
    ngx_msec_t                 wait;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = kv->fcf;

    /* Consul adds up to wait/16 of jitter, as for the catalog's query */

    wait = fcf->resync;

    ngx_http_farm_consul_kv_url(fcf, url, sizeof(url), NULL, kv->index, wait);

    curl_easy_setopt(kv->req.easy, CURLOPT_URL, (char *) url);
    curl_easy_setopt(kv->req.easy, CURLOPT_TIMEOUT_MS,
                     (long) (wait + wait / 16 + fcf->timeout));

    kv->req.body.len = 0;
    kv->req.body.too_big = 0;
    kv->req.error[0] = '\0';
    kv->started = ngx_current_msec ? ngx_current_msec : 1;

    if (ngx_http_farm_consul_add(kv->cs, kv->req.easy, &kv->xfer) != NGX_OK) {
        ngx_http_farm_consul_kv_failed(kv, "cannot start a libcurl transfer",
                                       0);
        return;
    }

    kv->running = 1;
}


/* An answer of the watch: all the overrides, or a failure; then the next. */

static void
ngx_http_farm_consul_kv_answer(ngx_http_farm_consul_xfer_t *x,
    ngx_int_t result)
{
    ngx_http_farm_consul_kv_t  *kv = x->data;

    long                 status;
    u_char               reason[FARM_ERR_MAX + 64], text[160];
    uint64_t             index, old;
    ngx_msec_t           elapsed, gap;
    const char          *err;
    struct curl_header  *h;

    kv->running = 0;

    if (kv->stopped) {
        return;
    }

    if (result != CURLE_OK) {
        if (kv->req.body.too_big) {
            ngx_snprintf(reason, sizeof(reason), "the answer is larger "
                         "than %uzk%Z", kv->req.body.max / 1024);

        } else {
            ngx_snprintf(reason, sizeof(reason), "%s%Z",
                         kv->req.error[0] ? kv->req.error
                                      : curl_easy_strerror((CURLcode) result));
        }

        ngx_http_farm_consul_kv_failed(kv, (char *) reason, 0);
        return;
    }

    status = 0;
    curl_easy_getinfo(kv->req.easy, CURLINFO_RESPONSE_CODE, &status);

    if (status != 200 && status != 404) {
        ngx_http_farm_consul_body_text(&kv->req.body, text, sizeof(text));
        ngx_snprintf(reason, sizeof(reason), "HTTP %l%s%s%Z", status,
                     text[0] ? " " : "", text);
        ngx_http_farm_consul_kv_failed(kv, (char *) reason, status);
        return;
    }

    index = 0;

    if (curl_easy_header(kv->req.easy, "X-Consul-Index", 0, CURLH_HEADER, -1,
                         &h)
        == CURLHE_OK)
    {
        index = ngx_atoof((u_char *) h->value, ngx_strlen(h->value));
    }

    if (index == (uint64_t) NGX_ERROR) {
        ngx_http_farm_consul_kv_failed(kv, "the answer has no valid "
                                           "X-Consul-Index header", 0);
        return;
    }

    old = kv->index;

    if (ngx_http_farm_consul_kv_apply(kv->fcf, kv->log,
                                      status == 200 ? kv->req.body.data : NULL,
                                      kv->req.body.len, kv->started,
                                      index != 0 && index == old, &err)
        != NGX_OK)
    {
        ngx_snprintf(reason, sizeof(reason), "malformed answer: %s%Z", err);
        ngx_http_farm_consul_kv_failed(kv, (char *) reason, 0);
        return;
    }

    if (kv->logged) {
        kv->logged = 0;
        ngx_log_error(NGX_LOG_NOTICE, kv->log, 0,
                      "farm: registry %V of upstream \"%V\": the overrides "
                      "are read again", &kv->fcf->url_display,
                      &kv->fcf->uscf->host);
    }

    kv->backoff = NGX_HTTP_FARM_CONSUL_KV_BACKOFF_MIN;

    /* Consul's rules: never block on 0; an index going back starts over */

    kv->index = (index < old) ? 0 : ngx_max(index, 1);

    gap = (index > old) ? NGX_HTTP_FARM_CONSUL_KV_NEWS_GAP
                        : NGX_HTTP_FARM_CONSUL_KV_IDLE_GAP;
    elapsed = ngx_current_msec - kv->started;

    ngx_http_farm_consul_kv_schedule(kv, elapsed < gap ? gap - elapsed : 0);
}


/* The overrides known stay; the next try backs off. */

static void
ngx_http_farm_consul_kv_failed(ngx_http_farm_consul_kv_t *kv,
    const char *reason, long status)
{
    ngx_msec_t  delay;

    if (kv->stopped) {
        return;
    }

    if (ngx_time() - kv->logged >= NGX_HTTP_FARM_CONSUL_KV_LOG_EVERY) {
        kv->logged = ngx_time();

        ngx_log_error(NGX_LOG_ERR, kv->log, 0,
                      "farm: registry %V of upstream \"%V\": cannot read "
                      "the overrides (%V/%V/overrides/ in the KV store): "
                      "%s%s", &kv->fcf->url_display, &kv->fcf->uscf->host,
                      &kv->fcf->prefix, &kv->fcf->service, reason,
                      status == 403 ? "; token= must name an ACL token with "
                                      "key:read on that folder" : "");
    }

    delay = kv->backoff + ngx_random() % (kv->backoff / 4 + 1);
    kv->backoff = ngx_min(kv->backoff * 2,
                          NGX_HTTP_FARM_CONSUL_KV_BACKOFF_MAX);

    ngx_http_farm_consul_kv_schedule(kv, delay);
}


static void
ngx_http_farm_consul_kv_schedule(ngx_http_farm_consul_kv_t *kv,
    ngx_msec_t delay)
{
    if (kv->stopped) {
        return;
    }

    if (delay == 0) {
        ngx_http_farm_consul_kv_query(kv);
        return;
    }

    ngx_add_timer(&kv->next, delay);
}


static void
ngx_http_farm_consul_kv_next(ngx_event_t *ev)
{
    ngx_http_farm_consul_kv_t  *kv = ev->data;

    if (kv->stopped || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_farm_consul_kv_query(kv);
}


/*
 * The master, at start, after the agents: one plain read of the folder
 * within ms, so that a restarted gateway routes by the overrides from its
 * first request.  A failure is a line; the sync owner's watch reads them.
 */

void
ngx_http_farm_consul_kv_warm(ngx_http_farm_srv_conf_t *fcf, ngx_log_t *log,
    ngx_msec_t ms)
{
    long                            status;
    u_char                          url[NGX_HTTP_FARM_CONSUL_KV_URL];
    CURLcode                        rc;
    const char                     *err;
    ngx_http_farm_consul_kv_req_t   req;

    ngx_memzero(&req, sizeof(ngx_http_farm_consul_kv_req_t));

    err = "out of memory";

    if (ngx_http_farm_consul_kv_open(fcf, &req,
                                     NGX_HTTP_FARM_CONSUL_KV_BODY_MAX, ms, ms)
        != NGX_OK)
    {
        goto failed;
    }

    ngx_http_farm_consul_kv_url(fcf, url, sizeof(url), NULL, 0, 0);
    curl_easy_setopt(req.easy, CURLOPT_URL, (char *) url);

    rc = curl_easy_perform(req.easy);

    if (rc != CURLE_OK) {
        err = req.error[0] ? req.error : curl_easy_strerror(rc);
        goto failed;
    }

    status = 0;
    curl_easy_getinfo(req.easy, CURLINFO_RESPONSE_CODE, &status);

    if (status != 200 && status != 404) {
        err = "refused";
        goto failed;
    }

    if (ngx_http_farm_consul_kv_apply(fcf, log,
                                      status == 200 ? req.body.data : NULL,
                                      req.body.len, ngx_current_msec | 1, 0,
                                      &err)
        != NGX_OK)
    {
        goto failed;
    }

    ngx_http_farm_consul_kv_close(&req);

    return;

failed:

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "farm: registry %V of upstream \"%V\": cannot read the "
                  "overrides at start (%s); the workers will",
                  &fcf->url_display, &fcf->uscf->host, err);

    ngx_http_farm_consul_kv_close(&req);
}


/*
 * Starts the write of one agent's override (rec; NULL: back to the
 * defaults, the key goes) on a one-shot multi handle in pool: NGX_OK
 * (done(data, ...) is called later from the event loop, always), or
 * NGX_ERROR (logged): nothing was sent.
 */

ngx_int_t
ngx_http_farm_consul_kv_write(ngx_http_farm_srv_conf_t *fcf, ngx_pool_t *pool,
    ngx_log_t *log, ngx_str_t *id, ngx_http_farm_override_rec_t *rec,
    ngx_http_farm_consul_kv_done_pt done, void *data)
{
    u_char                           *p;
    u_char                            url[NGX_HTTP_FARM_CONSUL_KV_URL];
    CURLcode                          rc;
    ngx_http_farm_consul_kv_write_t  *w;

    w = ngx_pcalloc(pool, sizeof(ngx_http_farm_consul_kv_write_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->fcf = fcf;
    w->log = log;
    w->done = done;
    w->data = data;

    w->xfer.handler = ngx_http_farm_consul_kv_written;
    w->xfer.data = w;

    w->end.handler = ngx_http_farm_consul_kv_write_end;
    w->end.data = w;
    w->end.log = log;

    w->cs = ngx_http_farm_consul_create(fcf, pool, log);
    if (w->cs == NULL) {
        goto failed;
    }

    if (ngx_http_farm_consul_kv_open(fcf, &w->req, 4096, fcf->timeout,
                                     fcf->timeout)
        != NGX_OK)
    {
        goto failed;
    }

    ngx_http_farm_consul_kv_url(fcf, url, sizeof(url), id, 0, 0);

    rc = curl_easy_setopt(w->req.easy, CURLOPT_URL, (char *) url);

    if (rec) {
        p = ngx_http_farm_override_json(w->json, rec);
        w->json_len = p - w->json;

        rc |= curl_easy_setopt(w->req.easy, CURLOPT_CUSTOMREQUEST, "PUT");
        rc |= curl_easy_setopt(w->req.easy, CURLOPT_POSTFIELDSIZE,
                               (long) w->json_len);
        rc |= curl_easy_setopt(w->req.easy, CURLOPT_POSTFIELDS,
                               (char *) w->json);

    } else {
        rc |= curl_easy_setopt(w->req.easy, CURLOPT_CUSTOMREQUEST, "DELETE");
    }

    if (rc != CURLE_OK
        || ngx_http_farm_consul_add(w->cs, w->req.easy, &w->xfer) != NGX_OK)
    {
        goto failed;
    }

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "farm admin: cannot start a write to registry %V: "
                  "libcurl failed to set it up", &fcf->url_display);

    if (w->cs) {
        ngx_http_farm_consul_close(w->cs);
    }

    ngx_http_farm_consul_kv_close(&w->req);

    return NGX_ERROR;
}


/*
 * The write's transfer ended (inside the multi handle's loop): note how,
 * and end the rest from a posted event, out of libcurl's way.
 */

static void
ngx_http_farm_consul_kv_written(ngx_http_farm_consul_xfer_t *x,
    ngx_int_t result)
{
    ngx_http_farm_consul_kv_write_t  *w = x->data;

    long    status;
    u_char  *p;

    if (result == CURLE_OK) {
        status = 0;
        curl_easy_getinfo(w->req.easy, CURLINFO_RESPONSE_CODE, &status);

        /* PUT and DELETE answer "true"; "false" would be a lost ?cas= */

        if (status == 200 && w->req.body.len >= 4
            && ngx_strncmp(w->req.body.data, "true", 4) == 0)
        {
            w->failed = NULL;

        } else {
            w->failed = "the registry refused the write";

            p = ngx_snprintf(w->detail, sizeof(w->detail) - 1, "HTTP %l ",
                             status);
            ngx_http_farm_consul_body_text(&w->req.body, p,
                                           w->detail + sizeof(w->detail)
                                           - p);
        }

    } else {
        switch (result) {

        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
            w->failed = "cannot connect";
            break;

        case CURLE_OPERATION_TIMEDOUT:
            w->failed = "timed out";
            break;

        default:
            w->failed = "the connection was lost";
            break;
        }

        p = ngx_snprintf(w->detail, sizeof(w->detail) - 1, "%s",
                         w->req.error[0] ? w->req.error
                                     : curl_easy_strerror((CURLcode) result));
        *p = '\0';
    }

    ngx_post_event(&w->end, &ngx_posted_events);
}


static void
ngx_http_farm_consul_kv_write_end(ngx_event_t *ev)
{
    ngx_http_farm_consul_kv_write_t  *w = ev->data;

    ngx_http_farm_consul_close(w->cs);
    ngx_http_farm_consul_kv_close(&w->req);

    w->done(w->data, w->failed, (const char *) w->detail);
}
