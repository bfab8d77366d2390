
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Consul registry backend, run by the sync owner on nginx's event loop.
 * It watches GET /v1/health/service/<service> with blocking queries
 * (index=, wait=): each answer is the full list of the service's entries,
 * applied as a full sync (begin, one record per entry, end).  Entries
 * are read by registry/farm_consul.c; one whose checks are critical is
 * taken out of the farm.
 *
 * libcurl's multi socket interface does the HTTP: its sockets become nginx
 * connections whose read and write events call curl_multi_socket_action(),
 * and its timer is an nginx timer.  Nothing here blocks: the Consul host is
 * resolved when the configuration is loaded and handed to libcurl with
 * CURLOPT_RESOLVE.
 *
 * X-Consul-Index rules: the next query asks for a newer index than the
 * last answer's; an index that goes backwards (Consul restarted or lost
 * its data) resets to 0, and holds the known agents (hold=) while they
 * register again, as does the first answer after an outage; an index
 * below 1 becomes 1; a query that comes back
 * without a newer index is not repeated sooner than once a second, so a
 * misbehaving server cannot make us spin; errors back off from 100 ms to
 * 5 s with jitter, while the zone keeps the last known agents.
 *
 * The same multi handle drives the watch of the operators' overrides in
 * Consul's KV store (ngx_http_farm_consul_kv.c), and a one-shot multi
 * handle of the same kind carries a farm_admin write=registry change from
 * whichever worker took it: a transfer other than the query carries an
 * ngx_http_farm_consul_xfer_t (CURLOPT_PRIVATE) whose handler its end
 * calls.
 *
 * The master's startup read is in ngx_http_farm_consul_warm.c.
 */


#include "ngx_http_farm_consul.h"

#include <farm_consul.h>

#include <curl/curl.h>


#define NGX_HTTP_FARM_CONSUL_BACKOFF_MIN  100     /* ms */
#define NGX_HTTP_FARM_CONSUL_BACKOFF_MAX  5000    /* ms */
#define NGX_HTTP_FARM_CONSUL_NEWS_GAP     20      /* ms between queries */
#define NGX_HTTP_FARM_CONSUL_IDLE_GAP     1000    /* ms, no newer index */
#define NGX_HTTP_FARM_CONSUL_CONNS        8       /* sockets at once */
#define NGX_HTTP_FARM_CONSUL_TURN         262144  /* answer bytes a turn */
#define NGX_HTTP_FARM_CONSUL_ERR_LOG      10      /* s between error lines */

/*
 * The largest answer read: 8k per max_agents= (an entry with two checks
 * whose output Consul cuts at 4k fits), at least 256k, at most 128M.
 */
#define NGX_HTTP_FARM_CONSUL_PER_AGENT    8192
#define NGX_HTTP_FARM_CONSUL_BODY_MIN     (256 * 1024)
#define NGX_HTTP_FARM_CONSUL_BODY_MAX     (128 * 1024 * 1024)


struct ngx_http_farm_consul_s {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_log_t                     *log;

    CURLM                         *multi;
    CURL                          *easy;        /* the query in flight */
    struct curl_slist             *headers;
    struct curl_slist             *resolve;
    ngx_http_farm_consul_body_t    body;
    char                           error[CURL_ERROR_SIZE];

    ngx_connection_t              *conns[NGX_HTTP_FARM_CONSUL_CONNS];

    ngx_event_t                    timer;       /* libcurl's timeout */
    ngx_event_t                    next;        /* the next query */
    ngx_event_t                    resume;      /* the body, paused */
    ngx_uint_t                     turns;       /* the body was read in */

    uint64_t                       index;       /* X-Consul-Index */
    ngx_msec_t                     started;     /* this query's start */
    ngx_msec_t                     backoff;

    ngx_uint_t                     status;      /* last HTTP error logged */
    time_t                         status_logged;

    ngx_http_farm_consul_kv_t     *kv;          /* the overrides' watch */
    ngx_http_farm_consul_answer_t *answer;      /* parsed and applied */
    uint64_t                       answer_index;
    uint64_t                       answer_old;

    unsigned                       stopped:1;
    unsigned                       acl_warned:1;
    unsigned                       failing:1;   /* since the last answer */
    unsigned                       oneshot:1;   /* a write's: no query */
};


static void ngx_http_farm_consul_query(ngx_http_farm_consul_t *cs);
static int ngx_http_farm_consul_socket_cb(CURL *easy, curl_socket_t fd,
    int what, void *userp, void *socketp);
static int ngx_http_farm_consul_timer_cb(CURLM *multi, long timeout_ms,
    void *userp);
static void ngx_http_farm_consul_free_conn(ngx_http_farm_consul_t *cs,
    ngx_connection_t *c, ngx_uint_t closed);
static void ngx_http_farm_consul_read(ngx_event_t *ev);
static void ngx_http_farm_consul_write(ngx_event_t *ev);
static void ngx_http_farm_consul_timer_handler(ngx_event_t *ev);
static void ngx_http_farm_consul_next_handler(ngx_event_t *ev);
static void ngx_http_farm_consul_resume_handler(ngx_event_t *ev);
static void ngx_http_farm_consul_action(ngx_http_farm_consul_t *cs,
    curl_socket_t fd, int flags);
static void ngx_http_farm_consul_done(ngx_http_farm_consul_t *cs,
    CURLcode result);
static void ngx_http_farm_consul_applied(void *data, ngx_int_t rc,
    const char *err);
static void ngx_http_farm_consul_acl_check(ngx_http_farm_consul_t *cs);
static void ngx_http_farm_consul_failed(ngx_http_farm_consul_t *cs,
    const char *reason);
static void ngx_http_farm_consul_schedule(ngx_http_farm_consul_t *cs,
    ngx_msec_t delay);
static size_t ngx_http_farm_consul_write_cb(char *ptr, size_t size,
    size_t nmemb, void *userdata);


static ngx_uint_t  ngx_http_farm_curl_ready;


/* libcurl's global state, once per process (the master, each worker). */

void
ngx_http_farm_consul_global_init(ngx_log_t *log)
{
    if (ngx_http_farm_curl_ready) {
        return;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "farm: curl_global_init() failed");
        return;
    }

    ngx_http_farm_curl_ready = 1;
}


/*
 * The query URL: /v1/health/service/<service>?[dc=&][tag=&]index=&wait=
 * (no index or wait when wait is 0: the master's plain read).
 */

u_char *
ngx_http_farm_consul_url(ngx_http_farm_srv_conf_t *fcf, u_char *buf,
    size_t size, uint64_t index, ngx_msec_t wait)
{
    u_char      *p, *last;
    ngx_uint_t   v6;

    last = buf + size - 1;
    v6 = (ngx_strchr(fcf->url.host, ':') != NULL);

    p = ngx_slprintf(buf, last, "%s://%s%s%s:%ud/v1/health/service/%V?",
                     fcf->url.tls ? "https" : "http", v6 ? "[" : "",
                     fcf->url.host, v6 ? "]" : "", fcf->url.port,
                     &fcf->service);

    if (fcf->dc.len) {
        p = ngx_slprintf(p, last, "dc=%V&", &fcf->dc);
    }

    if (fcf->tag.len) {
        p = ngx_slprintf(p, last, "tag=%V&", &fcf->tag);
    }

    if (wait) {
        p = ngx_slprintf(p, last, "index=%uL&wait=%Mms", index, wait);

    } else {
        p--;    /* the last '?' or '&' */
    }

    *p = '\0';

    return buf;
}


/*
 * Sets the options every query shares on easy: the token header, the
 * pre-resolved address, TLS, timeouts, and the body sink.  *headers and
 * *resolve are created here and freed by the caller with
 * curl_slist_free_all() after the handle is done.
 */

ngx_int_t
ngx_http_farm_consul_easy(ngx_http_farm_srv_conf_t *fcf, void *handle,
    ngx_http_farm_consul_body_t *body, ngx_msec_t timeout,
    ngx_msec_t connect_timeout, void **headers, void **resolve, char *error)
{
    u_char              line[NGX_SOCKADDR_STRLEN + FARM_HOST_MAX + 64], *p;
    CURL               *easy = handle;
    CURLcode            rc;
    struct curl_slist  *h, *r;

    h = *headers;
    r = *resolve;

    if (h == NULL && fcf->token.len) {
        p = ngx_snprintf(line, sizeof(line) - 1, "X-Consul-Token: %V",
                         &fcf->token);
        *p = '\0';

        h = curl_slist_append(NULL, (char *) line);
        ngx_explicit_memzero(line, sizeof(line));

        if (h == NULL) {
            return NGX_ERROR;
        }

        *headers = h;
    }

    if (r == NULL && !farm_valid_address(fcf->url.host)) {
        p = ngx_snprintf(line, sizeof(line) - 1, "%s:%ud:%s%V%s",
                         fcf->url.host, fcf->url.port,
                         ngx_strchr(fcf->addr_text.data, ':') ? "[" : "",
                         &fcf->addr_text,
                         ngx_strchr(fcf->addr_text.data, ':') ? "]" : "");
        *p = '\0';

        r = curl_slist_append(NULL, (char *) line);
        if (r == NULL) {
            return NGX_ERROR;
        }

        *resolve = r;
    }

    rc = CURLE_OK;

    rc |= curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) timeout);
    rc |= curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                           (long) connect_timeout);
    rc |= curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    rc |= curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION,
                           ngx_http_farm_consul_write_cb);
    rc |= curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);
    rc |= curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
    rc |= curl_easy_setopt(easy, CURLOPT_USERAGENT,
                           "ngx_http_farm_module/" NGX_HTTP_FARM_VERSION);

    if (h) {
        rc |= curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    }

    if (r) {
        rc |= curl_easy_setopt(easy, CURLOPT_RESOLVE, r);
    }

    if (fcf->url.tls) {
        rc |= curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
        rc |= curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);

        if (fcf->ca.len) {
            rc |= curl_easy_setopt(easy, CURLOPT_CAINFO, fcf->ca.data);
        }
    }

    return rc == CURLE_OK ? NGX_OK : NGX_ERROR;
}


static size_t
ngx_http_farm_consul_write_cb(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    ngx_http_farm_consul_body_t  *b = userdata;

    u_char  *p;
    size_t   n, want;

    n = size * nmemb;

    if (b->len + n > b->max) {
        b->too_big = 1;
        return 0;               /* CURLE_WRITE_ERROR */
    }

    /*
     * budget bytes a loop turn (libcurl reads while the socket has data:
     * tens of ms a run for 100 MB); libcurl keeps what it paused on
     */

    if (b->budget) {
        if (b->turn >= b->budget) {
            b->paused = 1;
            return CURL_WRITEFUNC_PAUSE;
        }

        b->turn += n;
    }

    if (b->len + n + 1 > b->size) {
        want = ngx_max(b->size * 2, b->len + n + 1);
        want = ngx_max(want, 16384);

        p = realloc(b->data, want);
        if (p == NULL) {
            return 0;
        }

        b->data = p;
        b->size = want;
    }

    ngx_memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';

    return n;
}


/* The largest answer the backend reads (and the master at start). */

size_t
ngx_http_farm_consul_body_max(ngx_http_farm_srv_conf_t *fcf)
{
    size_t  max;

    if (fcf->max_answer) {
        return fcf->max_answer;
    }

    max = fcf->max_agents * NGX_HTTP_FARM_CONSUL_PER_AGENT;
    max = ngx_max(max, NGX_HTTP_FARM_CONSUL_BODY_MIN);

    return ngx_min(max, NGX_HTTP_FARM_CONSUL_BODY_MAX);
}


/* Something short and printable from an error body, for log lines. */

void
ngx_http_farm_consul_body_text(ngx_http_farm_consul_body_t *b, u_char *buf,
    size_t size)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < b->len && n + 1 < size; i++) {
        if (b->data[i] == '\n' || b->data[i] == '\r') {
            break;
        }

        buf[n++] = (b->data[i] >= 0x20 && b->data[i] < 0x7f) ? b->data[i]
                                                              : '?';
    }

    buf[n] = '\0';
}


ngx_int_t
ngx_http_farm_consul_start(ngx_http_farm_srv_conf_t *fcf, ngx_cycle_t *cycle)
{
    ngx_http_farm_consul_t  *cs;

    cs = ngx_http_farm_consul_create(fcf, cycle->pool, cycle->log);
    if (cs == NULL) {
        return NGX_ERROR;
    }

    cs->oneshot = 0;

    cs->answer = ngx_http_farm_consul_answer_create(fcf, cycle->pool,
                                    cycle->log, ngx_http_farm_consul_applied,
                                    cs);
    if (cs->answer == NULL) {
        return NGX_ERROR;
    }

    fcf->consul = cs;

    ngx_http_farm_consul_query(cs);

    if (!cs->stopped) {
        cs->kv = ngx_http_farm_consul_kv_start(fcf, cs, cycle->pool,
                                               cycle->log);
    }

    return NGX_OK;
}


/*
 * A multi handle on nginx's event loop, in pool, with no transfer yet: the
 * sync owner's (ngx_http_farm_consul_start()), or a one-shot one that
 * ngx_http_farm_consul_close() ends (a write).  NULL on failure.
 */

ngx_http_farm_consul_t *
ngx_http_farm_consul_create(ngx_http_farm_srv_conf_t *fcf, ngx_pool_t *pool,
    ngx_log_t *log)
{
    ngx_http_farm_consul_t  *cs;

    ngx_http_farm_consul_global_init(log);

    if (!ngx_http_farm_curl_ready) {
        return NULL;
    }

    cs = ngx_pcalloc(pool, sizeof(ngx_http_farm_consul_t));
    if (cs == NULL) {
        return NULL;
    }

    cs->fcf = fcf;
    cs->log = log;
    cs->oneshot = 1;
    cs->backoff = NGX_HTTP_FARM_CONSUL_BACKOFF_MIN;

    cs->body.max = ngx_http_farm_consul_body_max(fcf);
    cs->body.budget = NGX_HTTP_FARM_CONSUL_TURN;

    cs->resume.handler = ngx_http_farm_consul_resume_handler;
    cs->resume.data = cs;
    cs->resume.log = log;

    cs->timer.handler = ngx_http_farm_consul_timer_handler;
    cs->timer.data = cs;
    cs->timer.log = log;
    cs->timer.cancelable = 1;

    cs->next.handler = ngx_http_farm_consul_next_handler;
    cs->next.data = cs;
    cs->next.log = log;
    cs->next.cancelable = 1;

    cs->multi = curl_multi_init();
    if (cs->multi == NULL) {
        return NULL;
    }

    curl_multi_setopt(cs->multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_http_farm_consul_socket_cb);
    curl_multi_setopt(cs->multi, CURLMOPT_SOCKETDATA, cs);
    curl_multi_setopt(cs->multi, CURLMOPT_TIMERFUNCTION,
                      ngx_http_farm_consul_timer_cb);
    curl_multi_setopt(cs->multi, CURLMOPT_TIMERDATA, cs);

    return cs;
}


/*
 * Adds a transfer set up by the caller to cs's multi handle; its end calls
 * x->handler (from the event loop, after libcurl let go of it: the
 * handler owns easy again).
 */

ngx_int_t
ngx_http_farm_consul_add(ngx_http_farm_consul_t *cs, void *easy,
    ngx_http_farm_consul_xfer_t *x)
{
    if (cs->stopped
        || curl_easy_setopt((CURL *) easy, CURLOPT_PRIVATE, (void *) x)
           != CURLE_OK
        || curl_multi_add_handle(cs->multi, (CURL *) easy) != CURLM_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Takes a transfer still running off cs's multi handle. */

void
ngx_http_farm_consul_remove(ngx_http_farm_consul_t *cs, void *easy)
{
    if (!cs->stopped) {
        (void) curl_multi_remove_handle(cs->multi, (CURL *) easy);
    }
}


void
ngx_http_farm_consul_stop(ngx_http_farm_srv_conf_t *fcf)
{
    if (fcf->consul) {
        ngx_http_farm_consul_close(fcf->consul);
    }
}


/* Ends cs: its transfers, sockets and timers (not its memory, a pool's). */

void
ngx_http_farm_consul_close(ngx_http_farm_consul_t *cs)
{
    ngx_uint_t  i;

    if (cs->stopped) {
        return;
    }

    if (cs->kv) {
        ngx_http_farm_consul_kv_stop(cs->kv);
        cs->kv = NULL;
    }

    cs->stopped = 1;

    if (cs->answer) {
        ngx_http_farm_consul_answer_cancel(cs->answer);
    }

    if (cs->easy) {
        curl_multi_remove_handle(cs->multi, cs->easy);
        curl_easy_cleanup(cs->easy);
        cs->easy = NULL;
    }

    /* closes the cached connections; libcurl may or may not say so */

    curl_multi_cleanup(cs->multi);
    cs->multi = NULL;

    for (i = 0; i < NGX_HTTP_FARM_CONSUL_CONNS; i++) {
        if (cs->conns[i]) {
            ngx_http_farm_consul_free_conn(cs, cs->conns[i], 1);
        }
    }

    curl_slist_free_all(cs->headers);
    curl_slist_free_all(cs->resolve);
    cs->headers = NULL;
    cs->resolve = NULL;

    free(cs->body.data);
    cs->body.data = NULL;

    if (cs->resume.posted) {
        ngx_delete_posted_event(&cs->resume);
    }

    if (cs->timer.timer_set) {
        ngx_del_timer(&cs->timer);
    }

    if (cs->next.timer_set) {
        ngx_del_timer(&cs->next);
    }
}


/* Starts the next blocking query. */

static void
ngx_http_farm_consul_query(ngx_http_farm_consul_t *cs)
{
    u_char                     url[FARM_HOST_MAX + 512];
    ngx_msec_t                 wait;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = cs->fcf;

    if (cs->easy == NULL) {
        cs->easy = curl_easy_init();

        if (cs->easy == NULL
            || ngx_http_farm_consul_easy(fcf, cs->easy, &cs->body, 0,
                                         fcf->timeout,
                                         (void **) &cs->headers,
                                         (void **) &cs->resolve, cs->error)
               != NGX_OK)
        {
            ngx_http_farm_consul_failed(cs, "cannot set up libcurl");
            return;
        }
    }

    /*
     * Consul adds up to wait/16 of jitter to a blocking query; the answer
     * is overdue after that and timeout= more.
     */

    wait = fcf->resync;

    ngx_http_farm_consul_url(fcf, url, sizeof(url), cs->index, wait);

    curl_easy_setopt(cs->easy, CURLOPT_URL, (char *) url);
    curl_easy_setopt(cs->easy, CURLOPT_TIMEOUT_MS,
                     (long) (wait + wait / 16 + fcf->timeout));

    /* the last answer's buffer again, its pages already mapped */

    if (cs->body.data == NULL && cs->answer) {
        cs->body.data = ngx_http_farm_consul_answer_spare(cs->answer,
                                                          &cs->body.size);
    }

    cs->body.len = 0;
    cs->body.too_big = 0;
    cs->body.paused = 0;
    cs->turns = 1;

    if (cs->resume.posted) {
        ngx_delete_posted_event(&cs->resume);
    }

    cs->error[0] = '\0';
    cs->started = ngx_current_msec;

    if (curl_multi_add_handle(cs->multi, cs->easy) != CURLM_OK) {
        ngx_http_farm_consul_failed(cs, "cannot start a libcurl transfer");
    }
}


/*
 * libcurl tells which events it wants on one of its sockets.  The socket
 * becomes an nginx connection the first time; CURL_POLL_REMOVE comes just
 * before libcurl closes it.
 */

static int
ngx_http_farm_consul_socket_cb(CURL *easy, curl_socket_t fd, int what,
    void *userp, void *socketp)
{
    ngx_http_farm_consul_t  *cs = userp;
    ngx_connection_t        *c = socketp;

    ngx_uint_t  i;

    if (what == CURL_POLL_REMOVE) {
        if (c) {
            curl_multi_assign(cs->multi, fd, NULL);
            ngx_http_farm_consul_free_conn(cs, c, 0);
        }

        return 0;
    }

    if (c == NULL) {
        for (i = 0; i < NGX_HTTP_FARM_CONSUL_CONNS; i++) {
            if (cs->conns[i] == NULL) {
                break;
            }
        }

        if (i == NGX_HTTP_FARM_CONSUL_CONNS) {
            return -1;
        }

        c = ngx_get_connection(fd, cs->log);
        if (c == NULL) {
            return -1;
        }

        c->data = cs;
        c->log = cs->log;
        c->read->handler = ngx_http_farm_consul_read;
        c->read->log = cs->log;
        c->write->handler = ngx_http_farm_consul_write;
        c->write->log = cs->log;

        cs->conns[i] = c;
        curl_multi_assign(cs->multi, fd, c);
    }

    /* level-triggered, like the hiredis adapter: libcurl reads on its own */

    if ((what & CURL_POLL_IN) && !c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            return -1;
        }

    } else if (!(what & CURL_POLL_IN) && c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if ((what & CURL_POLL_OUT) && !c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            return -1;
        }

    } else if (!(what & CURL_POLL_OUT) && c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    return 0;
}


/* Forgets the nginx connection of a libcurl socket; closed: fd is gone. */

static void
ngx_http_farm_consul_free_conn(ngx_http_farm_consul_t *cs,
    ngx_connection_t *c, ngx_uint_t closed)
{
    ngx_uint_t  i, flags;

    flags = closed ? NGX_CLOSE_EVENT : 0;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, flags);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    for (i = 0; i < NGX_HTTP_FARM_CONSUL_CONNS; i++) {
        if (cs->conns[i] == c) {
            cs->conns[i] = NULL;
        }
    }

    /* libcurl owns and closes the socket */

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


static int
ngx_http_farm_consul_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_http_farm_consul_t  *cs = userp;

    if (timeout_ms < 0) {
        if (cs->timer.timer_set) {
            ngx_del_timer(&cs->timer);
        }

        return 0;
    }

    /* 0: as soon as the event loop comes round, never from in here */

    ngx_add_timer(&cs->timer, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
ngx_http_farm_consul_read(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    ngx_http_farm_consul_t  *cs = c->data;

    /* libcurl may close the socket: nothing touches c after this */

    cs->body.turn = 0;
    ngx_http_farm_consul_action(cs, c->fd, CURL_CSELECT_IN);
}


static void
ngx_http_farm_consul_write(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    ngx_http_farm_consul_t  *cs = c->data;

    cs->body.turn = 0;
    ngx_http_farm_consul_action(cs, c->fd, CURL_CSELECT_OUT);
}


static void
ngx_http_farm_consul_timer_handler(ngx_event_t *ev)
{
    ngx_http_farm_consul_t  *cs = ev->data;

    cs->body.turn = 0;
    ngx_http_farm_consul_action(cs, CURL_SOCKET_TIMEOUT, 0);
}


static void
ngx_http_farm_consul_action(ngx_http_farm_consul_t *cs, curl_socket_t fd,
    int flags)
{
    int                           running, left;
    CURL                         *easy;
    CURLMsg                      *msg;
    CURLcode                      result;
    ngx_http_farm_consul_xfer_t  *x;

    if (cs->stopped) {
        return;
    }

    /* a write runs to its end (timeout= bounds it) */

    if ((ngx_exiting || ngx_terminate || ngx_quit) && !cs->oneshot) {
        ngx_http_farm_consul_close(cs);
        return;
    }

    (void) curl_multi_socket_action(cs->multi, fd, flags, &running);

    while ((msg = curl_multi_info_read(cs->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        result = msg->data.result;

        curl_multi_remove_handle(cs->multi, easy);

        if (easy == cs->easy) {
            ngx_http_farm_consul_done(cs, result);

        } else {
            x = NULL;
            (void) curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &x);

            if (x) {
                x->handler(x, (ngx_int_t) result);
            }
        }

        if (cs->stopped) {
            return;
        }
    }

    if (cs->body.paused && !cs->resume.posted) {
        ngx_post_event(&cs->resume, &ngx_posted_next_events);
    }
}


/* The next turn's share of a paused answer. */

static void
ngx_http_farm_consul_resume_handler(ngx_event_t *ev)
{
    ngx_http_farm_consul_t  *cs = ev->data;

    CURLcode  rc;

    if (cs->stopped || cs->easy == NULL || !cs->body.paused) {
        return;
    }

    cs->body.paused = 0;
    cs->body.turn = 0;
    cs->turns++;

    /* a chunk refused here is dropped by libcurl, the transfer not ended */

    rc = curl_easy_pause(cs->easy, CURLPAUSE_CONT);

    if (rc != CURLE_OK) {
        (void) curl_multi_remove_handle(cs->multi, cs->easy);
        cs->body.paused = 1;            /* done() drops the handle */
        ngx_http_farm_consul_done(cs, rc);
        return;
    }

    /* what is left of the turn's share */

    ngx_http_farm_consul_action(cs, CURL_SOCKET_TIMEOUT, 0);
}


/* One answer: apply it, or count the failure; then schedule the next. */

static void
ngx_http_farm_consul_done(ngx_http_farm_consul_t *cs, CURLcode result)
{
    long                       status;
    u_char                     text[160], reason_buf[FARM_ERR_MAX + 64];
    u_char                    *body;
    size_t                     len, size;
    uint64_t                   index, old;
    struct curl_header        *h;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = cs->fcf;

    if (result != CURLE_OK) {

        /*
         * a transfer that ended while paused (it timed out) leaves what
         * it paused on in its handle: a new handle for the next query
         */

        if (cs->body.paused) {
            cs->body.paused = 0;

            if (cs->resume.posted) {
                ngx_delete_posted_event(&cs->resume);
            }

            curl_easy_cleanup(cs->easy);
            cs->easy = NULL;
        }

        if (cs->body.too_big) {
            if (fcf->max_answer) {
                ngx_snprintf(reason_buf, sizeof(reason_buf),
                             "the answer is larger than max_answer=%uzk%Z",
                             cs->body.max / 1024);

            } else {
                ngx_snprintf(reason_buf, sizeof(reason_buf),
                             "the answer is larger than %uzk, the limit "
                             "without max_answer= (8k per max_agents=, 128m "
                             "at most); raise it with max_answer=%Z",
                             cs->body.max / 1024);
            }

        } else {
            ngx_snprintf(reason_buf, sizeof(reason_buf), "%s%Z",
                         cs->error[0] ? cs->error
                                      : curl_easy_strerror(result));
        }

        ngx_http_farm_consul_failed(cs, (char *) reason_buf);
        return;
    }

    status = 0;
    curl_easy_getinfo(cs->easy, CURLINFO_RESPONSE_CODE, &status);

    if (status != 200) {
        ngx_http_farm_consul_body_text(&cs->body, text, sizeof(text));

        ngx_snprintf(reason_buf, sizeof(reason_buf), "HTTP %l%s%s%Z",
                     status, text[0] ? " " : "", text);

        if ((ngx_uint_t) status != cs->status
            || ngx_time() - cs->status_logged >= NGX_HTTP_FARM_CONSUL_ERR_LOG)
        {
            cs->status = status;
            cs->status_logged = ngx_time();

            ngx_log_error(NGX_LOG_ERR, cs->log, 0,
                          "farm: registry %V refused the query of upstream "
                          "\"%V\" for service \"%V\": %s%s",
                          &fcf->url_display, &fcf->uscf->host, &fcf->service,
                          reason_buf,
                          status == 403 ? "; token= must name an ACL token "
                                          "with service:read and node:read"
                                        : "");
        }

        ngx_http_farm_consul_failed(cs, (char *) reason_buf);
        return;
    }

    cs->status = 0;

    index = 0;

    if (curl_easy_header(cs->easy, "X-Consul-Index", 0, CURLH_HEADER, -1, &h)
        == CURLHE_OK)
    {
        index = ngx_atoof((u_char *) h->value, ngx_strlen(h->value));
    }

    if (index == (uint64_t) NGX_ERROR || index == 0) {
        if (index == (uint64_t) NGX_ERROR) {
            ngx_http_farm_consul_failed(cs, "the answer has no valid "
                                            "X-Consul-Index header");
            return;
        }

        index = 1;      /* Consul's rule: never block on 0 */
    }

    if (cs->body.len == 0) {
        ngx_http_farm_consul_failed(cs, "empty answer");
        return;
    }

    old = cs->index;

    /*
     * Consul restarted or lost its data, or may have while it could not be
     * reached: its list may lack agents that are about to register again,
     * so hold them before applying it
     */

    if (index < old) {
        ngx_log_error(NGX_LOG_NOTICE, cs->log, 0,
                      "farm: registry %V of upstream \"%V\": X-Consul-Index "
                      "went back from %uL to %uL (Consul restarted or lost "
                      "its data)", &fcf->url_display, &fcf->uscf->host, old,
                      index);

        ngx_http_farm_sync_hold(fcf, "restarted");

    } else if (cs->failing) {
        ngx_http_farm_sync_hold(fcf, "is back after an outage");
    }

    cs->failing = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cs->log, 0,
                   "farm: consul answer of %uz bytes read in %ui turns",
                   cs->body.len, cs->turns);

    /* the body is the answer's now; the next query makes a new one */

    cs->answer_index = index;
    cs->answer_old = old;

    body = cs->body.data;
    len = cs->body.len;
    size = cs->body.size;

    cs->body.data = NULL;
    cs->body.len = 0;
    cs->body.size = 0;

    if (ngx_http_farm_consul_answer_start(cs->answer, body, len, size)
        != NGX_OK)
    {
        free(body);
        ngx_http_farm_consul_failed(cs, "an answer is still being applied");
    }
}


/* The end of an answer's parse and apply (ngx_http_farm_consul_answer.c). */

static void
ngx_http_farm_consul_applied(void *data, ngx_int_t rc, const char *err)
{
    ngx_http_farm_consul_t  *cs = data;

    u_char                     reason_buf[FARM_ERR_MAX + 64];
    uint64_t                   index, old;
    ngx_msec_t                 elapsed, gap;
    ngx_http_farm_srv_conf_t  *fcf;

    if (cs->stopped) {
        return;
    }

    fcf = cs->fcf;
    index = cs->answer_index;
    old = cs->answer_old;

    if (rc != NGX_OK) {
        ngx_snprintf(reason_buf, sizeof(reason_buf), "malformed answer: %s%Z",
                     err);
        ngx_http_farm_consul_failed(cs, (char *) reason_buf);
        return;
    }

    ngx_http_farm_sync_registry_state(fcf, 1, NULL);
    cs->backoff = NGX_HTTP_FARM_CONSUL_BACKOFF_MIN;

    ngx_http_farm_consul_acl_check(cs);

    if (index < old) {
        cs->index = 0;      /* the rule: start again from 0 */
        ngx_http_farm_consul_schedule(cs, NGX_HTTP_FARM_CONSUL_NEWS_GAP);
        return;
    }

    cs->index = index;

    /*
     * Not sooner than NEWS_GAP after the last start when there is news (a
     * burst of registrations costs one list per gap), not sooner than
     * IDLE_GAP when the query came back without a newer index.
     */

    gap = (index > old) ? NGX_HTTP_FARM_CONSUL_NEWS_GAP
                        : NGX_HTTP_FARM_CONSUL_IDLE_GAP;
    elapsed = ngx_current_msec - cs->started;

    ngx_http_farm_consul_schedule(cs, elapsed < gap ? gap - elapsed : 0);
}


/*
 * An empty list from a Consul whose ACLs deny by default, without token=:
 * the anonymous token may read nothing, and Consul answers 200 with an
 * empty list rather than 403.  Say so once.
 */

static void
ngx_http_farm_consul_acl_check(ngx_http_farm_consul_t *cs)
{
    struct curl_header        *h;
    ngx_http_farm_zone_t       z;
    ngx_http_farm_srv_conf_t  *fcf;

    fcf = cs->fcf;

    ngx_http_farm_zone_get(fcf, &z);

    if (fcf->token.len == 0 && z.sh->nagents == 0
        && curl_easy_header(cs->easy, "X-Consul-Default-Acl-Policy", 0,
                            CURLH_HEADER, -1, &h) == CURLHE_OK
        && ngx_strcmp(h->value, "deny") == 0)
    {
        if (!cs->acl_warned) {
            cs->acl_warned = 1;
            ngx_log_error(NGX_LOG_ERR, cs->log, 0,
                          "farm: registry %V of upstream \"%V\" has ACLs "
                          "with default policy \"deny\" and no token= is "
                          "set: Consul hides service \"%V\" from anonymous "
                          "queries, so no agent can be found; set token= to "
                          "an ACL token with service:read and node:read",
                          &fcf->url_display, &fcf->uscf->host,
                          &fcf->service);
        }

        return;
    }

    cs->acl_warned = 0;
}


static void
ngx_http_farm_consul_failed(ngx_http_farm_consul_t *cs, const char *reason)
{
    ngx_msec_t  delay;

    if (cs->stopped) {
        return;
    }

    cs->failing = 1;

    ngx_http_farm_sync_registry_state(cs->fcf, 0, reason);

    delay = cs->backoff + ngx_random() % (cs->backoff / 4 + 1);
    cs->backoff = ngx_min(cs->backoff * 2, NGX_HTTP_FARM_CONSUL_BACKOFF_MAX);

    ngx_http_farm_consul_schedule(cs, delay);
}


static void
ngx_http_farm_consul_schedule(ngx_http_farm_consul_t *cs, ngx_msec_t delay)
{
    if (cs->stopped) {
        return;
    }

    if (delay == 0) {
        ngx_http_farm_consul_query(cs);
        return;
    }

    ngx_add_timer(&cs->next, delay);
}


static void
ngx_http_farm_consul_next_handler(ngx_event_t *ev)
{
    ngx_http_farm_consul_t  *cs = ev->data;

    if (cs->stopped) {
        return;
    }

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_http_farm_consul_stop(cs->fcf);
        return;
    }

    ngx_http_farm_consul_query(cs);
}
