/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Consul registrar: Consul's HTTP agent API, through the Consul agent
 * named by --registry (the record's Consul form is registry/farm_consul.c):
 *
 *   register    PUT /v1/agent/service/register   the service, with a TTL
 *               check "service:<id>" that starts passing
 *   heartbeat   PUT /v1/agent/check/pass/service:<id>, every --heartbeat;
 *               404 means Consul no longer knows the service (it restarted,
 *               a dev agent forgets everything), so register again at once
 *   deregister  PUT /v1/agent/service/deregister/<id>
 *
 * A TTL check rather than an HTTP check on /health: Consul need not reach
 * the agent (agents anywhere, behind NAT), a dead or hung agent stops
 * passing its check exactly as it stops renewing its Redis TTL, and the
 * heartbeat is what notices a Consul that lost the registration.
 *
 * libcurl's multi interface on the agent's libevent loop (curl_loop.c).
 * One request at a time; a deregister or a new start supersedes the
 * request in flight.  Failures never stop the agent: it retries with a
 * jittered backoff (100 ms doubling to 5 s, and never longer than a
 * heartbeat) and registers again.  The ACL token goes only into the
 * X-Consul-Token header, never into a log line.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "curl_loop.h"
#include "farm_consul.h"
#include "log.h"
#include "registrar.h"


#define FARM_CONSUL_REQ_MS       2000    /* one request's deadline */
#define FARM_CONSUL_DEREG_MS     1000    /* longest wait to deregister */
#define FARM_CONSUL_BACKOFF_MAX  5000
#define FARM_CONSUL_REAP_MIN     60000   /* Consul's own minimum */
#define FARM_CONSUL_URL_MAX      (FARM_HOST_MAX + FARM_ID_MAX + 128)

enum {
    FARM_CONSUL_NONE = 0,
    FARM_CONSUL_REGISTER,
    FARM_CONSUL_BEAT,
    FARM_CONSUL_DEREGISTER
};


typedef struct farm_consul_s       farm_consul_t;

struct farm_consul_s {
    farm_registrar_t         reg;           /* first: the generic part */

    struct event_base       *base;
    farm_url_t               url;
    const farm_record_t     *record;
    farm_consul_reg_t        form;          /* TTL, reaping, version */
    char                     base_url[FARM_HOST_MAX + 32];
    char                     check_id[FARM_CONSUL_CHECK_MAX];
    char                     addr[FARM_ADDRESS_MAX + 16];   /* for logs */
    char                    *ca;            /* --consul-ca, owned */
    int64_t                  heartbeat_ms;
    char                    *json;          /* registration body, owned */

    farm_curl_loop_t        *loop;
    CURL                    *easy;
    struct curl_slist       *headers;       /* token, content type */
    int                      kind;          /* request in flight */
    char                     resp[256];     /* its body's start */
    size_t                   resp_len;
    char                     error[CURL_ERROR_SIZE];

    unsigned                 want:1;        /* 1: be registered */

    farm_registrar_done_pt   done;          /* deregister in progress */
    void                    *done_data;

    struct event            *retry_ev;      /* try again after backoff */
    struct event            *beat_ev;       /* heartbeat, persistent */
    struct event            *dereg_ev;      /* deregister deadline */

    farm_reg_retry_t         retry;
};


static void farm_consul_start(farm_registrar_t *reg);
static void farm_consul_deregister(farm_registrar_t *reg,
    farm_registrar_done_pt done, void *data);
static void farm_consul_stop(farm_registrar_t *reg);
static void farm_consul_send(farm_consul_t *cr, int kind);


static void farm_consul_refresh(farm_registrar_t *reg);

static const farm_registrar_ops_t  farm_consul_ops = {
    farm_consul_start,
    farm_consul_deregister,
    farm_consul_stop,
    farm_consul_refresh
};


static void
farm_consul_timer(struct event *ev, int64_t ms)
{
    struct timeval  tv;

    if (ms < 0) {
        ms = 0;
    }

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    evtimer_add(ev, &tv);
}


/* Calls and forgets the pending deregister callback, if any. */
static void
farm_consul_finish(farm_consul_t *cr, int ok)
{
    void                    *data;
    farm_registrar_done_pt   done;

    done = cr->done;
    data = cr->done_data;

    cr->done = NULL;
    cr->done_data = NULL;
    evtimer_del(cr->dereg_ev);

    if (done) {
        done(ok, data);
    }
}


/* Logs a failure and schedules the next attempt. */
static void
farm_consul_retry(farm_consul_t *cr, const char *reason)
{
    int64_t  delay, max;

    farm_registrar_failed(&cr->reg, &cr->retry, reason);

    if (!cr->want && cr->done == NULL) {
        return;
    }

    /* a restarted Consul has us back within a heartbeat */

    max = FARM_CONSUL_BACKOFF_MAX;
    if (cr->want && cr->heartbeat_ms < max) {
        max = cr->heartbeat_ms;
    }

    delay = farm_registrar_backoff(&cr->retry, max);

    farm_log_debug("trying %s again in %lld ms", cr->reg.display,
                   (long long) delay);

    farm_consul_timer(cr->retry_ev, delay);
}


/* Sends what the wanted state needs. */
static void
farm_consul_sync(farm_consul_t *cr)
{
    if (cr->want) {
        farm_consul_send(cr, FARM_CONSUL_REGISTER);

    } else if (cr->done) {
        farm_consul_send(cr, FARM_CONSUL_DEREGISTER);
    }
}


static size_t
farm_consul_write_cb(char *ptr, size_t size, size_t nmemb, void *data)
{
    size_t          n, room;
    farm_consul_t  *cr = data;

    n = size * nmemb;
    room = sizeof(cr->resp) - 1 - cr->resp_len;

    /* only the start is kept, for log lines */

    if (room) {
        memcpy(cr->resp + cr->resp_len, ptr, n < room ? n : room);
        cr->resp_len += n < room ? n : room;
        cr->resp[cr->resp_len] = '\0';
    }

    return n;
}


/* The first line of the answer, printable, for log lines. */
static const char *
farm_consul_resp_text(farm_consul_t *cr)
{
    size_t  i;

    for (i = 0; i < cr->resp_len; i++) {
        if (cr->resp[i] == '\n' || cr->resp[i] == '\r') {
            cr->resp[i] = '\0';
            break;
        }

        if ((unsigned char) cr->resp[i] < 0x20
            || (unsigned char) cr->resp[i] >= 0x7f)
        {
            cr->resp[i] = '?';
        }
    }

    return cr->resp;
}


/* Takes the request in flight out of libcurl, if any. */
static void
farm_consul_cancel(farm_consul_t *cr)
{
    if (cr->kind != FARM_CONSUL_NONE) {
        farm_curl_loop_remove(cr->loop, cr->easy);
        cr->kind = FARM_CONSUL_NONE;
    }
}


/*
 * Starts one request, superseding the one in flight.  Its answer goes to
 * farm_consul_done.
 */
static void
farm_consul_send(farm_consul_t *cr, int kind)
{
    char      url[FARM_CONSUL_URL_MAX];
    CURLcode  rc;

    farm_consul_cancel(cr);
    evtimer_del(cr->retry_ev);

    if (kind == FARM_CONSUL_REGISTER && cr->json == NULL) {
        cr->json = farm_consul_registration(cr->record, &cr->form,
                                            cr->error);
        if (cr->json == NULL) {
            farm_consul_retry(cr, cr->error);
            return;
        }
    }

    switch (kind) {

    case FARM_CONSUL_REGISTER:
        snprintf(url, sizeof(url), "%s/v1/agent/service/register"
                 "?replace-existing-checks=true", cr->base_url);
        cr->reg.state = FARM_REG_REGISTERING;
        break;

    case FARM_CONSUL_BEAT:
        snprintf(url, sizeof(url), "%s/v1/agent/check/pass/%s",
                 cr->base_url, cr->check_id);
        break;

    default:
        snprintf(url, sizeof(url), "%s/v1/agent/service/deregister/%s",
                 cr->base_url, cr->record->id);
        cr->reg.state = FARM_REG_DEREGISTERING;
        break;
    }

    cr->resp_len = 0;
    cr->resp[0] = '\0';
    cr->error[0] = '\0';

    rc = curl_easy_setopt(cr->easy, CURLOPT_URL, url);
    rc |= curl_easy_setopt(cr->easy, CURLOPT_POSTFIELDS,
                           kind == FARM_CONSUL_REGISTER ? cr->json : "");

    if (rc != CURLE_OK || farm_curl_loop_add(cr->loop, cr->easy) != 0) {
        farm_consul_retry(cr, "cannot start a libcurl request");
        return;
    }

    cr->kind = kind;
}


/* The answer to the request of this kind (result: libcurl's verdict). */
static void
farm_consul_done(farm_consul_t *cr, int kind, CURLcode result)
{
    long  status;
    char  reason[sizeof(cr->retry.last)];

    status = 0;

    if (result == CURLE_OK) {
        curl_easy_getinfo(cr->easy, CURLINFO_RESPONSE_CODE, &status);
    }

    if (kind == FARM_CONSUL_BEAT && status == 404) {
        if (cr->want) {
            farm_log_warn("%s is gone from %s (Consul restarted or lost it); "
                          "registering again", cr->record->id,
                          cr->reg.display);
            cr->reg.state = FARM_REG_CONNECTING;
            farm_consul_send(cr, FARM_CONSUL_REGISTER);
        }

        return;
    }

    if (kind == FARM_CONSUL_DEREGISTER && status == 404) {
        status = 200;       /* already gone: as good as removed */
    }

    if (status != 200) {
        if (result != CURLE_OK) {
            snprintf(reason, sizeof(reason), "%s",
                     cr->error[0] ? cr->error : curl_easy_strerror(result));

        } else {
            snprintf(reason, sizeof(reason), "HTTP %ld %.120s%s", status,
                     farm_consul_resp_text(cr),
                     status == 403 ? " (--consul-token or CONSUL_HTTP_TOKEN "
                                     "must allow service:write)" : "");
        }

        /* logged while the state still says whether we were registered */

        farm_consul_retry(cr, reason);

        if (kind == FARM_CONSUL_REGISTER || kind == FARM_CONSUL_BEAT) {
            cr->reg.state = FARM_REG_CONNECTING;
        }

        return;
    }

    farm_registrar_recovered(&cr->reg, &cr->retry);

    switch (kind) {

    case FARM_CONSUL_REGISTER:
        if (cr->want) {
            cr->reg.state = FARM_REG_REGISTERED;
            cr->reg.registrations++;
            farm_log_info("registered %s as %s in %s", cr->record->id,
                          cr->addr, cr->reg.display);
        }

        break;

    case FARM_CONSUL_BEAT:
        farm_log_debug("heartbeat: check %s passes", cr->check_id);
        break;

    default:
        if (!cr->want) {
            cr->reg.state = FARM_REG_IDLE;
            farm_log_info("deregistered %s from %s", cr->record->id,
                          cr->reg.display);
            farm_consul_finish(cr, 1);
        }

        break;
    }
}


/* farm_curl_loop_t: our one transfer finished. */
static void
farm_consul_transfer_done(void *data, CURL *easy, CURLcode result)
{
    int             kind;
    farm_consul_t  *cr = data;

    if (easy != cr->easy || cr->kind == FARM_CONSUL_NONE) {
        return;
    }

    kind = cr->kind;
    cr->kind = FARM_CONSUL_NONE;

    farm_consul_done(cr, kind, result);
}


static void
farm_consul_retry_handler(evutil_socket_t fd, short what, void *data)
{
    farm_consul_t  *cr = data;

    (void) fd;
    (void) what;

    if (cr->kind == FARM_CONSUL_NONE) {
        farm_consul_sync(cr);
    }
}


static void
farm_consul_beat_handler(evutil_socket_t fd, short what, void *data)
{
    farm_consul_t  *cr = data;

    (void) fd;
    (void) what;

    /* a request in flight (or a retry pending) decides for itself */

    if (!cr->want || cr->kind != FARM_CONSUL_NONE
        || cr->reg.state != FARM_REG_REGISTERED)
    {
        return;
    }

    farm_consul_send(cr, FARM_CONSUL_BEAT);
}


static void
farm_consul_dereg_handler(evutil_socket_t fd, short what, void *data)
{
    farm_consul_t  *cr = data;

    (void) fd;
    (void) what;

    if (cr->done == NULL) {
        return;
    }

    farm_log_warn("could not deregister %s from %s within %d ms; Consul "
                  "sees its check fail after the TTL", cr->record->id,
                  cr->reg.display, FARM_CONSUL_DEREG_MS);

    farm_consul_cancel(cr);
    evtimer_del(cr->retry_ev);

    if (cr->reg.state == FARM_REG_DEREGISTERING) {
        cr->reg.state = FARM_REG_IDLE;
    }

    farm_consul_finish(cr, 0);
}


static void
farm_consul_start(farm_registrar_t *reg)
{
    struct timeval   tv;
    farm_consul_t   *cr = (farm_consul_t *) reg;

    if (cr->check_id[0] == '\0') {
        /* the record is complete by the first start() */
        farm_consul_check_id(cr->check_id, sizeof(cr->check_id),
                             cr->record->id);
        snprintf(cr->addr, sizeof(cr->addr),
                 strchr(cr->record->address, ':') ? "[%s]:%u" : "%s:%u",
                 cr->record->address, cr->record->port);
    }

    cr->want = 1;

    farm_consul_finish(cr, 0);  /* a pending deregister is superseded */

    tv.tv_sec = cr->heartbeat_ms / 1000;
    tv.tv_usec = (cr->heartbeat_ms % 1000) * 1000;
    evtimer_add(cr->beat_ev, &tv);

    cr->reg.state = FARM_REG_CONNECTING;
    farm_consul_send(cr, FARM_CONSUL_REGISTER);
}


static void
farm_consul_refresh(farm_registrar_t *reg)
{
    farm_consul_t  *cr = (farm_consul_t *) reg;

    free(cr->json);
    cr->json = NULL;

    if (cr->want && cr->reg.state == FARM_REG_REGISTERED
        && cr->kind == FARM_CONSUL_NONE)
    {
        farm_consul_send(cr, FARM_CONSUL_REGISTER);
    }
}


static void
farm_consul_deregister(farm_registrar_t *reg, farm_registrar_done_pt done,
    void *data)
{
    farm_consul_t  *cr = (farm_consul_t *) reg;

    farm_consul_finish(cr, 0);  /* an earlier deregister is superseded */

    cr->want = 0;
    cr->done = done;
    cr->done_data = data;
    farm_reg_retry_init(&cr->retry);

    evtimer_del(cr->beat_ev);
    farm_consul_timer(cr->dereg_ev, FARM_CONSUL_DEREG_MS);

    farm_consul_send(cr, FARM_CONSUL_DEREGISTER);
}


static void
farm_consul_stop(farm_registrar_t *reg)
{
    farm_consul_t  *cr = (farm_consul_t *) reg;

    farm_consul_cancel(cr);

    if (cr->easy) {
        curl_easy_cleanup(cr->easy);
    }

    if (cr->loop) {
        farm_curl_loop_free(cr->loop);
    }

    if (cr->retry_ev) {
        event_free(cr->retry_ev);
    }

    if (cr->beat_ev) {
        event_free(cr->beat_ev);
    }

    if (cr->dereg_ev) {
        event_free(cr->dereg_ev);
    }

    curl_slist_free_all(cr->headers);

    free(cr->json);
    free(cr->ca);
    free(cr);
}


/* The easy handle every request reuses; 0 or -1. */
static int
farm_consul_easy(farm_consul_t *cr, const farm_registrar_conf_t *conf)
{
    char                line[FARM_SECRET_MAX + 32];
    CURLcode            rc;
    struct curl_slist  *h;

    cr->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (cr->headers == NULL) {
        return -1;
    }

    if (conf->consul_token && conf->consul_token[0]) {
        snprintf(line, sizeof(line), "X-Consul-Token: %s",
                 conf->consul_token);

        h = curl_slist_append(cr->headers, line);
        memset(line, 0, sizeof(line));

        if (h == NULL) {
            return -1;
        }

        cr->headers = h;
    }

    cr->easy = curl_easy_init();
    if (cr->easy == NULL) {
        return -1;
    }

    rc = curl_easy_setopt(cr->easy, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(cr->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(cr->easy, CURLOPT_CUSTOMREQUEST, "PUT");
    rc |= curl_easy_setopt(cr->easy, CURLOPT_HTTPHEADER, cr->headers);
    rc |= curl_easy_setopt(cr->easy, CURLOPT_TIMEOUT_MS,
                           (long) FARM_CONSUL_REQ_MS);
    rc |= curl_easy_setopt(cr->easy, CURLOPT_WRITEFUNCTION,
                           farm_consul_write_cb);
    rc |= curl_easy_setopt(cr->easy, CURLOPT_WRITEDATA, cr);
    rc |= curl_easy_setopt(cr->easy, CURLOPT_ERRORBUFFER, cr->error);
    rc |= curl_easy_setopt(cr->easy, CURLOPT_USERAGENT,
                           "farm-agent");

    if (cr->url.tls) {
        rc |= curl_easy_setopt(cr->easy, CURLOPT_SSL_VERIFYPEER, 1L);
        rc |= curl_easy_setopt(cr->easy, CURLOPT_SSL_VERIFYHOST, 2L);

        if (cr->ca) {
            rc |= curl_easy_setopt(cr->easy, CURLOPT_CAINFO, cr->ca);
        }
    }

    return rc == CURLE_OK ? 0 : -1;
}


farm_registrar_t *
farm_registrar_consul_create(const farm_registrar_conf_t *conf, char *err)
{
    farm_consul_t  *cr;

    cr = calloc(1, sizeof(farm_consul_t));
    if (cr == NULL) {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        return NULL;
    }

    cr->reg.ops = &farm_consul_ops;
    cr->reg.state = FARM_REG_IDLE;
    farm_url_display(conf->url, cr->reg.display, sizeof(cr->reg.display));

    cr->base = conf->base;
    cr->url = *conf->url;
    cr->record = conf->record;
    cr->heartbeat_ms = conf->heartbeat_ms;
    farm_reg_retry_init(&cr->retry);

    cr->form.ttl_ms = conf->ttl_ms;
    cr->form.deregister_after_ms = 3 * conf->ttl_ms > FARM_CONSUL_REAP_MIN
                                   ? 3 * conf->ttl_ms : FARM_CONSUL_REAP_MIN;
    cr->form.version = conf->version;

    snprintf(cr->base_url, sizeof(cr->base_url),
             strchr(cr->url.host, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
             cr->url.tls ? "https" : "http", cr->url.host, cr->url.port);

    if (conf->consul_ca) {
        cr->ca = strdup(conf->consul_ca);

        if (cr->ca == NULL) {
            snprintf(err, FARM_ERR_MAX, "out of memory");
            farm_consul_stop(&cr->reg);
            return NULL;
        }
    }

    cr->loop = farm_curl_loop_create(conf->base, farm_consul_transfer_done,
                                     cr);
    cr->retry_ev = evtimer_new(conf->base, farm_consul_retry_handler, cr);
    cr->beat_ev = event_new(conf->base, -1, EV_PERSIST,
                            farm_consul_beat_handler, cr);
    cr->dereg_ev = evtimer_new(conf->base, farm_consul_dereg_handler, cr);

    if (cr->loop == NULL || cr->retry_ev == NULL || cr->beat_ev == NULL
        || cr->dereg_ev == NULL || farm_consul_easy(cr, conf) != 0)
    {
        snprintf(err, FARM_ERR_MAX, "out of memory, or libcurl cannot "
                 "start");
        farm_consul_stop(&cr->reg);
        return NULL;
    }

    return &cr->reg;
}
