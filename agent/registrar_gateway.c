/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The gateway registrar: a gateway's built-in registry, through the
 * location that runs farm_registry_api (--registry http(s)://host/path;
 * docs/registry.md "The gateway's registration API"):
 *
 *   register    PUT    <path>/<service>/agents/<id>?ttl=<ttl>ms, the record
 *   heartbeat   POST   <path>/<service>/agents/<id>/heartbeat?ttl=<ttl>ms,
 *               every --heartbeat; 404 means the gateway no longer knows
 *               the agent (the TTL ran out while it was unreachable, it
 *               restarted without a state file): register again at once
 *   deregister  DELETE <path>/<service>/agents/<id>; 404 is as good
 *
 * Every request carries "Authorization: Bearer <token>" from --token-file
 * (read again after a 401, in case it was rotated) and ends within
 * FARM_GW_REQ_MS.  A failed request of any kind is followed, after a
 * jittered backoff, by a full registration: after an outage the gateway
 * gets the record again, whatever it lost.  One request at a time; a
 * deregister or a new start supersedes the one in flight.  The token goes
 * only into the header, never into a log line.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "curl_loop.h"
#include "log.h"
#include "options.h"
#include "registrar.h"
#include "token.h"


#define FARM_GW_REQ_MS        2000    /* one request's deadline */
#define FARM_GW_CONNECT_MS    1000
#define FARM_GW_DEREG_MS      1000    /* longest wait to deregister */
#define FARM_GW_BACKOFF_MAX   5000
#define FARM_GW_URL_MAX       (FARM_DISPLAY_MAX + FARM_SERVICE_MAX      \
                               + FARM_ID_MAX + 64)

enum {
    FARM_GW_NONE = 0,
    FARM_GW_PUT,
    FARM_GW_BEAT,
    FARM_GW_DELETE
};


typedef struct {
    farm_registrar_t         reg;           /* first: the generic part */

    const farm_record_t     *record;
    char                     agent_url[FARM_GW_URL_MAX];   /* .../<id> */
    char                     ttl[32];       /* "?ttl=10000ms" */
    char                     addr[FARM_ADDRESS_MAX + 16];  /* for logs */
    char                    *token_file;    /* owned */
    char                    *ca;            /* owned */
    int                      tls;
    int64_t                  heartbeat_ms;
    char                    *json;          /* the record, owned */

    farm_curl_loop_t        *loop;
    CURL                    *easy;
    struct curl_slist       *headers;       /* token, content type */
    int                      kind;          /* request in flight */
    char                     resp[256];     /* its answer's start */
    size_t                   resp_len;
    char                     error[CURL_ERROR_SIZE];

    unsigned                 want:1;        /* 1: be registered */

    farm_registrar_done_pt   done;          /* deregister in progress */
    void                    *done_data;

    struct event            *retry_ev;      /* try again after backoff */
    struct event            *beat_ev;       /* heartbeat, persistent */
    struct event            *dereg_ev;      /* deregister deadline */

    farm_reg_retry_t         retry;
} farm_gw_t;


static void farm_gw_start(farm_registrar_t *reg);
static void farm_gw_deregister(farm_registrar_t *reg,
    farm_registrar_done_pt done, void *data);
static void farm_gw_stop(farm_registrar_t *reg);
static void farm_gw_refresh(farm_registrar_t *reg);
static void farm_gw_send(farm_gw_t *gw, int kind);
static int farm_gw_headers(farm_gw_t *gw, const char *token);

static const farm_registrar_ops_t  farm_gw_ops = {
    farm_gw_start,
    farm_gw_deregister,
    farm_gw_stop,
    farm_gw_refresh
};


static void
farm_gw_after(struct event *ev, int64_t ms)
{
    struct timeval  tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    evtimer_add(ev, &tv);
}


/* Calls and forgets the pending deregister callback, if any. */
static void
farm_gw_finish(farm_gw_t *gw, int ok)
{
    void                    *data;
    farm_registrar_done_pt   done;

    done = gw->done;
    data = gw->done_data;

    gw->done = NULL;
    gw->done_data = NULL;
    evtimer_del(gw->dereg_ev);

    if (done) {
        done(ok, data);
    }
}


/* Takes the request in flight out of libcurl, if any. */
static void
farm_gw_cancel(farm_gw_t *gw)
{
    if (gw->kind != FARM_GW_NONE) {
        farm_curl_loop_remove(gw->loop, gw->easy);
        gw->kind = FARM_GW_NONE;
    }
}


/* Logs a failure and tries again after the backoff. */
static void
farm_gw_failed(farm_gw_t *gw, const char *reason)
{
    int64_t  max, delay;

    farm_registrar_failed(&gw->reg, &gw->retry, reason);

    if (!gw->want && gw->done == NULL) {
        return;
    }

    /* a gateway back from a restart has us again within a heartbeat */

    max = FARM_GW_BACKOFF_MAX;
    if (gw->want && gw->heartbeat_ms < max) {
        max = gw->heartbeat_ms;
    }

    delay = farm_registrar_backoff(&gw->retry, max);

    farm_log_debug("trying %s again in %lld ms", gw->reg.display,
                   (long long) delay);

    farm_gw_after(gw->retry_ev, delay);
}


/* What the wanted state needs next, after a failure. */
static void
farm_gw_retry_handler(evutil_socket_t fd, short what, void *data)
{
    farm_gw_t  *gw = data;

    (void) fd;
    (void) what;

    if (gw->kind != FARM_GW_NONE) {
        return;
    }

    if (gw->want) {
        farm_gw_send(gw, FARM_GW_PUT);

    } else if (gw->done) {
        farm_gw_send(gw, FARM_GW_DELETE);
    }
}


static size_t
farm_gw_body(char *ptr, size_t size, size_t nmemb, void *data)
{
    size_t      n, keep;
    farm_gw_t  *gw = data;

    n = size * nmemb;
    keep = sizeof(gw->resp) - 1 - gw->resp_len;

    if (keep > n) {
        keep = n;
    }

    /* the start is enough for a log line */

    memcpy(gw->resp + gw->resp_len, ptr, keep);
    gw->resp_len += keep;
    gw->resp[gw->resp_len] = '\0';

    return n;
}


/* The answer's first line with unprintable bytes as '?', for logs. */
static const char *
farm_gw_answer(farm_gw_t *gw)
{
    char  *p;

    for (p = gw->resp; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            *p = '\0';
            break;
        }

        if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e) {
            *p = '?';
        }
    }

    return gw->resp;
}


/*
 * Starts one request, superseding the one in flight; the answer goes to
 * farm_gw_done.
 */
static void
farm_gw_send(farm_gw_t *gw, int kind)
{
    char         url[FARM_GW_URL_MAX + 64];
    CURLcode     rc;
    const char  *method, *body;

    farm_gw_cancel(gw);
    evtimer_del(gw->retry_ev);

    if (kind == FARM_GW_PUT && gw->json == NULL) {
        gw->json = farm_record_to_json(gw->record);

        if (gw->json == NULL) {
            farm_gw_failed(gw, "out of memory");
            return;
        }
    }

    body = "";

    switch (kind) {

    case FARM_GW_PUT:
        method = "PUT";
        body = gw->json;
        snprintf(url, sizeof(url), "%s%s", gw->agent_url, gw->ttl);
        gw->reg.state = FARM_REG_REGISTERING;
        break;

    case FARM_GW_BEAT:
        method = "POST";
        snprintf(url, sizeof(url), "%s/heartbeat%s", gw->agent_url,
                 gw->ttl);
        break;

    default:
        method = "DELETE";
        snprintf(url, sizeof(url), "%s", gw->agent_url);
        gw->reg.state = FARM_REG_DEREGISTERING;
        break;
    }

    gw->resp_len = 0;
    gw->resp[0] = '\0';
    gw->error[0] = '\0';

    rc = curl_easy_setopt(gw->easy, CURLOPT_URL, url);
    rc |= curl_easy_setopt(gw->easy, CURLOPT_CUSTOMREQUEST, method);
    rc |= curl_easy_setopt(gw->easy, CURLOPT_POSTFIELDS, body);

    if (rc != CURLE_OK || farm_curl_loop_add(gw->loop, gw->easy) != 0) {
        farm_gw_failed(gw, "cannot start a libcurl request");
        return;
    }

    gw->kind = kind;
}


/* After a 401: the token may have been rotated; read the file again. */
static void
farm_gw_reread_token(farm_gw_t *gw)
{
    char  token[FARM_TOKEN_MAX + 1], err[FARM_ERR_MAX];

    if (gw->token_file == NULL) {
        return;
    }

    if (farm_token_read(gw->token_file, token, sizeof(token), err) != 0) {
        farm_log_warn("--token-file: %s; keeping the token read before",
                      err);
        return;
    }

    if (farm_gw_headers(gw, token) != 0) {
        farm_log_warn("out of memory: keeping the token read before");
    }

    memset(token, 0, sizeof(token));
}


/* Why a request failed, for the log. */
static void
farm_gw_reason(farm_gw_t *gw, CURLcode result, long status, char *buf,
    size_t size)
{
    const char  *hint;

    if (result != CURLE_OK) {
        snprintf(buf, size, "%s",
                 gw->error[0] ? gw->error : curl_easy_strerror(result));
        return;
    }

    switch (status) {

    case 401:
        hint = " (the token in --token-file is not the one in the "
               "upstream's token_file=)";
        break;

    case 404:
        hint = " (is there an upstream with \"farm_registry builtin "
               "service=...\" for this service, and a farm_registry_api "
               "location at this path?)";
        break;

    default:
        hint = "";
    }

    snprintf(buf, size, "HTTP %ld %.120s%s", status, farm_gw_answer(gw),
             hint);
}


/* The answer to the request of this kind (result: libcurl's verdict). */
static void
farm_gw_done(farm_gw_t *gw, int kind, CURLcode result)
{
    long  status;
    char  reason[sizeof(gw->retry.last)];

    status = 0;

    if (result == CURLE_OK) {
        curl_easy_getinfo(gw->easy, CURLINFO_RESPONSE_CODE, &status);
    }

    if (kind == FARM_GW_BEAT && status == 404) {
        farm_registrar_recovered(&gw->reg, &gw->retry);

        if (gw->want) {
            farm_log_warn("%s is gone from %s (its TTL ran out, or the "
                          "gateway restarted without it); registering "
                          "again", gw->record->id, gw->reg.display);
            gw->reg.state = FARM_REG_CONNECTING;
            farm_gw_send(gw, FARM_GW_PUT);
        }

        return;
    }

    if (kind == FARM_GW_DELETE && status == 404) {
        status = 200;       /* already gone: as good as removed */
    }

    if (status != 200 && !(kind == FARM_GW_PUT && status == 201)) {
        if (status == 401) {
            farm_gw_reread_token(gw);
        }

        farm_gw_reason(gw, result, status, reason, sizeof(reason));

        /* logged while the state still says whether we were registered */

        farm_gw_failed(gw, reason);

        if (kind != FARM_GW_DELETE) {
            gw->reg.state = FARM_REG_CONNECTING;
        }

        return;
    }

    farm_registrar_recovered(&gw->reg, &gw->retry);

    switch (kind) {

    case FARM_GW_PUT:
        if (gw->want) {
            gw->reg.state = FARM_REG_REGISTERED;
            gw->reg.registrations++;
            farm_log_info("registered %s as %s in %s", gw->record->id,
                          gw->addr, gw->reg.display);
        }

        break;

    case FARM_GW_BEAT:
        farm_log_debug("heartbeat: %s renewed in %s", gw->record->id,
                       gw->reg.display);
        break;

    default:
        if (!gw->want) {
            gw->reg.state = FARM_REG_IDLE;
            farm_log_info("deregistered %s from %s", gw->record->id,
                          gw->reg.display);
            farm_gw_finish(gw, 1);
        }

        break;
    }
}


/* farm_curl_loop_t: our one transfer finished. */
static void
farm_gw_transfer_done(void *data, CURL *easy, CURLcode result)
{
    int         kind;
    farm_gw_t  *gw = data;

    if (easy != gw->easy || gw->kind == FARM_GW_NONE) {
        return;
    }

    kind = gw->kind;
    gw->kind = FARM_GW_NONE;

    farm_gw_done(gw, kind, result);
}


static void
farm_gw_beat_handler(evutil_socket_t fd, short what, void *data)
{
    farm_gw_t  *gw = data;

    (void) fd;
    (void) what;

    /* a request in flight (or a retry pending) decides for itself */

    if (!gw->want || gw->kind != FARM_GW_NONE
        || gw->reg.state != FARM_REG_REGISTERED)
    {
        return;
    }

    farm_gw_send(gw, FARM_GW_BEAT);
}


static void
farm_gw_dereg_handler(evutil_socket_t fd, short what, void *data)
{
    farm_gw_t  *gw = data;

    (void) fd;
    (void) what;

    if (gw->done == NULL) {
        return;
    }

    farm_log_warn("could not deregister %s from %s within %d ms; the "
                  "gateway drops it when its TTL runs out", gw->record->id,
                  gw->reg.display, FARM_GW_DEREG_MS);

    farm_gw_cancel(gw);
    evtimer_del(gw->retry_ev);

    if (gw->reg.state == FARM_REG_DEREGISTERING) {
        gw->reg.state = FARM_REG_IDLE;
    }

    farm_gw_finish(gw, 0);
}


static void
farm_gw_start(farm_registrar_t *reg)
{
    farm_gw_t  *gw = (farm_gw_t *) reg;

    if (gw->addr[0] == '\0') {
        /* the record is complete by the first start() */
        snprintf(gw->agent_url + strlen(gw->agent_url),
                 sizeof(gw->agent_url) - strlen(gw->agent_url),
                 "/%s/agents/%s", gw->record->service, gw->record->id);
        snprintf(gw->addr, sizeof(gw->addr),
                 strchr(gw->record->address, ':') ? "[%s]:%u" : "%s:%u",
                 gw->record->address, gw->record->port);
    }

    gw->want = 1;

    farm_gw_finish(gw, 0);      /* a pending deregister is superseded */

    farm_gw_after(gw->beat_ev, gw->heartbeat_ms);

    gw->reg.state = FARM_REG_CONNECTING;
    farm_gw_send(gw, FARM_GW_PUT);
}


static void
farm_gw_refresh(farm_registrar_t *reg)
{
    farm_gw_t  *gw = (farm_gw_t *) reg;

    free(gw->json);
    gw->json = NULL;

    if (gw->want && gw->reg.state == FARM_REG_REGISTERED
        && gw->kind == FARM_GW_NONE)
    {
        farm_gw_send(gw, FARM_GW_PUT);
    }
}


static void
farm_gw_deregister(farm_registrar_t *reg, farm_registrar_done_pt done,
    void *data)
{
    farm_gw_t  *gw = (farm_gw_t *) reg;

    farm_gw_finish(gw, 0);      /* an earlier deregister is superseded */

    gw->want = 0;
    gw->done = done;
    gw->done_data = data;
    farm_reg_retry_init(&gw->retry);

    evtimer_del(gw->beat_ev);
    farm_gw_after(gw->dereg_ev, FARM_GW_DEREG_MS);

    farm_gw_send(gw, FARM_GW_DELETE);
}


static void
farm_gw_stop(farm_registrar_t *reg)
{
    farm_gw_t  *gw = (farm_gw_t *) reg;

    farm_gw_cancel(gw);

    if (gw->easy) {
        curl_easy_cleanup(gw->easy);
    }

    if (gw->loop) {
        farm_curl_loop_free(gw->loop);
    }

    if (gw->retry_ev) {
        event_free(gw->retry_ev);
    }

    if (gw->beat_ev) {
        event_free(gw->beat_ev);
    }

    if (gw->dereg_ev) {
        event_free(gw->dereg_ev);
    }

    curl_slist_free_all(gw->headers);

    free(gw->json);
    free(gw->token_file);
    free(gw->ca);
    free(gw);
}


/*
 * (Re)builds the request headers with this token; 0, or -1 with the old
 * ones kept.  The line that held the token is wiped.
 */
static int
farm_gw_headers(farm_gw_t *gw, const char *token)
{
    char                line[FARM_TOKEN_MAX + 32];
    struct curl_slist  *h, *next;

    snprintf(line, sizeof(line), "Authorization: Bearer %s", token);

    h = curl_slist_append(NULL, line);
    memset(line, 0, sizeof(line));

    if (h == NULL) {
        return -1;
    }

    next = curl_slist_append(h, "Content-Type: application/json");
    next = next ? curl_slist_append(next, "Expect:") : NULL;

    if (next == NULL) {
        curl_slist_free_all(h);
        return -1;
    }

    if (gw->easy
        && curl_easy_setopt(gw->easy, CURLOPT_HTTPHEADER, next) != CURLE_OK)
    {
        curl_slist_free_all(next);
        return -1;
    }

    curl_slist_free_all(gw->headers);
    gw->headers = next;

    return 0;
}


/* The handle every request reuses; 0 or -1. */
static int
farm_gw_easy(farm_gw_t *gw)
{
    CURLcode  rc;

    gw->easy = curl_easy_init();
    if (gw->easy == NULL) {
        return -1;
    }

    rc = curl_easy_setopt(gw->easy, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(gw->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(gw->easy, CURLOPT_HTTPHEADER, gw->headers);
    rc |= curl_easy_setopt(gw->easy, CURLOPT_TIMEOUT_MS,
                           (long) FARM_GW_REQ_MS);
    rc |= curl_easy_setopt(gw->easy, CURLOPT_CONNECTTIMEOUT_MS,
                           (long) FARM_GW_CONNECT_MS);
    rc |= curl_easy_setopt(gw->easy, CURLOPT_WRITEFUNCTION, farm_gw_body);
    rc |= curl_easy_setopt(gw->easy, CURLOPT_WRITEDATA, gw);
    rc |= curl_easy_setopt(gw->easy, CURLOPT_ERRORBUFFER, gw->error);
    rc |= curl_easy_setopt(gw->easy, CURLOPT_USERAGENT,
                           "farm-agent/" FARM_AGENT_VERSION);

    if (gw->tls) {
        rc |= curl_easy_setopt(gw->easy, CURLOPT_SSL_VERIFYPEER, 1L);
        rc |= curl_easy_setopt(gw->easy, CURLOPT_SSL_VERIFYHOST, 2L);

        if (gw->ca) {
            rc |= curl_easy_setopt(gw->easy, CURLOPT_CAINFO, gw->ca);
        }
    }

    return rc == CURLE_OK ? 0 : -1;
}


farm_registrar_t *
farm_registrar_gateway_create(const farm_registrar_conf_t *conf, char *err)
{
    farm_gw_t         *gw;
    const farm_url_t  *u;

    if (conf->token == NULL || conf->token[0] == '\0') {
        snprintf(err, FARM_ERR_MAX, "a gateway registry needs "
                 "--token-file");
        return NULL;
    }

    gw = calloc(1, sizeof(farm_gw_t));
    if (gw == NULL) {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        return NULL;
    }

    u = conf->url;

    gw->reg.ops = &farm_gw_ops;
    gw->reg.state = FARM_REG_IDLE;
    farm_url_display(u, gw->reg.display, sizeof(gw->reg.display));

    gw->record = conf->record;
    gw->tls = u->tls;
    gw->heartbeat_ms = conf->heartbeat_ms;
    farm_reg_retry_init(&gw->retry);

    /* the display is the URL: scheme, host, port, path; no secret */

    snprintf(gw->agent_url, sizeof(gw->agent_url), "%s", gw->reg.display);
    snprintf(gw->ttl, sizeof(gw->ttl), "?ttl=%lldms",
             (long long) conf->ttl_ms);

    if (conf->token_file) {
        gw->token_file = strdup(conf->token_file);
    }

    if (conf->ca) {
        gw->ca = strdup(conf->ca);
    }

    gw->loop = farm_curl_loop_create(conf->base, farm_gw_transfer_done, gw);
    gw->retry_ev = evtimer_new(conf->base, farm_gw_retry_handler, gw);
    gw->beat_ev = event_new(conf->base, -1, EV_PERSIST,
                            farm_gw_beat_handler, gw);
    gw->dereg_ev = evtimer_new(conf->base, farm_gw_dereg_handler, gw);

    if ((conf->token_file && gw->token_file == NULL)
        || (conf->ca && gw->ca == NULL)
        || gw->loop == NULL || gw->retry_ev == NULL || gw->beat_ev == NULL
        || gw->dereg_ev == NULL || farm_gw_headers(gw, conf->token) != 0
        || farm_gw_easy(gw) != 0)
    {
        snprintf(err, FARM_ERR_MAX, "out of memory, or libcurl cannot "
                 "start");
        farm_gw_stop(&gw->reg);
        return NULL;
    }

    return &gw->reg;
}
