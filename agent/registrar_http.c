/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The register / heartbeat / deregister cycle of the HTTP registrars (see
 * registrar_http.h).  Failures never stop the agent: after a jittered
 * backoff (100 ms doubling to 5 s, never longer than a heartbeat) it
 * registers again in full, so a registry that lost the record while it was
 * away has it again within a heartbeat of answering.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "options.h"
#include "registrar_http.h"


#define FARM_HTTP_REQ_MS       2000    /* one request's deadline */
#define FARM_HTTP_CONNECT_MS   1000
#define FARM_HTTP_DEREG_MS     1000    /* longest wait to deregister */
#define FARM_HTTP_BACKOFF_MAX  5000
#define FARM_HTTP_URL_MAX      (FARM_DISPLAY_MAX + FARM_SERVICE_MAX      \
                                + 2 * FARM_ID_MAX + 128)


static void farm_http_start(farm_registrar_t *reg);
static void farm_http_deregister(farm_registrar_t *reg,
    farm_registrar_done_pt done, void *data);
static void farm_http_stop(farm_registrar_t *reg);
static void farm_http_refresh(farm_registrar_t *reg);
static void farm_http_send(farm_http_reg_t *hr, int kind);

static const farm_registrar_ops_t  farm_http_ops = {
    farm_http_start,
    farm_http_deregister,
    farm_http_stop,
    farm_http_refresh
};


static void
farm_http_after(struct event *ev, int64_t ms)
{
    struct timeval  tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    evtimer_add(ev, &tv);
}


/* Calls and forgets the pending deregister callback, if any. */
static void
farm_http_finish(farm_http_reg_t *hr, int ok)
{
    void                    *data;
    farm_registrar_done_pt   done;

    done = hr->done;
    data = hr->done_data;

    hr->done = NULL;
    hr->done_data = NULL;
    evtimer_del(hr->dereg_ev);

    if (done) {
        done(ok, data);
    }
}


/* Takes the request in flight out of libcurl, if any. */
static void
farm_http_cancel(farm_http_reg_t *hr)
{
    if (hr->kind != FARM_HTTP_NONE) {
        farm_curl_loop_remove(hr->loop, hr->easy);
        hr->kind = FARM_HTTP_NONE;
    }
}


/* Logs a failure and tries again after the backoff. */
static void
farm_http_failed(farm_http_reg_t *hr, const char *reason)
{
    int64_t  max, delay;

    farm_registrar_failed(&hr->reg, &hr->retry, reason);

    if (!hr->want && hr->done == NULL) {
        return;
    }

    /* a registry back from a restart has us again within a heartbeat */

    max = FARM_HTTP_BACKOFF_MAX;
    if (hr->want && hr->heartbeat_ms < max) {
        max = hr->heartbeat_ms;
    }

    delay = farm_registrar_backoff(&hr->retry, max);

    farm_log_debug("trying %s again in %lld ms", hr->reg.display,
                   (long long) delay);

    farm_http_after(hr->retry_ev, delay);
}


/* What the wanted state needs next, after a failure. */
static void
farm_http_retry_handler(evutil_socket_t fd, short what, void *data)
{
    farm_http_reg_t  *hr = data;

    (void) fd;
    (void) what;

    if (hr->kind != FARM_HTTP_NONE) {
        return;
    }

    if (hr->want) {
        farm_http_send(hr, FARM_HTTP_REGISTER);

    } else if (hr->done) {
        farm_http_send(hr, FARM_HTTP_DEREGISTER);
    }
}


static size_t
farm_http_write(char *ptr, size_t size, size_t nmemb, void *data)
{
    size_t            n, keep;
    farm_http_reg_t  *hr = data;

    n = size * nmemb;
    keep = sizeof(hr->resp) - 1 - hr->resp_len;

    if (keep > n) {
        keep = n;
    }

    /* the start is enough for a log line */

    memcpy(hr->resp + hr->resp_len, ptr, keep);
    hr->resp_len += keep;
    hr->resp[hr->resp_len] = '\0';

    return n;
}


const char *
farm_http_reg_answer(farm_http_reg_t *hr)
{
    char  *p;

    for (p = hr->resp; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            *p = '\0';
            break;
        }

        if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e) {
            *p = '?';
        }
    }

    return hr->resp;
}


/*
 * Starts one request, superseding the one in flight; the answer goes to
 * farm_http_done.
 */
static void
farm_http_send(farm_http_reg_t *hr, int kind)
{
    char         url[FARM_HTTP_URL_MAX];
    CURLcode     rc;
    const char  *method, *body;

    farm_http_cancel(hr);
    evtimer_del(hr->retry_ev);

    hr->resp_len = 0;
    hr->resp[0] = '\0';
    hr->error[0] = '\0';
    body = "";

    if (hr->dialect->request(hr, kind, url, sizeof(url), &method, &body,
                             hr->error)
        != 0)
    {
        farm_http_failed(hr, hr->error);
        return;
    }

    if (kind == FARM_HTTP_REGISTER) {
        hr->reg.state = FARM_REG_REGISTERING;

    } else if (kind == FARM_HTTP_DEREGISTER) {
        hr->reg.state = FARM_REG_DEREGISTERING;
    }

    rc = curl_easy_setopt(hr->easy, CURLOPT_URL, url);
    rc |= curl_easy_setopt(hr->easy, CURLOPT_CUSTOMREQUEST, method);
    rc |= curl_easy_setopt(hr->easy, CURLOPT_POSTFIELDS, body);

    if (rc != CURLE_OK || farm_curl_loop_add(hr->loop, hr->easy) != 0) {
        farm_http_failed(hr, "cannot start a libcurl request");
        return;
    }

    hr->kind = kind;
}


/* The answer to the request of this kind (result: libcurl's verdict). */
static void
farm_http_done(farm_http_reg_t *hr, int kind, CURLcode result)
{
    long  status;
    char  reason[sizeof(hr->retry.last)];

    status = 0;

    if (result == CURLE_OK) {
        curl_easy_getinfo(hr->easy, CURLINFO_RESPONSE_CODE, &status);
    }

    if (kind == FARM_HTTP_BEAT && status == 404) {
        farm_registrar_recovered(&hr->reg, &hr->retry);

        if (hr->want) {
            farm_log_warn("%s is gone from %s (%s); registering again",
                          hr->record->id, hr->reg.display,
                          hr->dialect->gone);
            hr->reg.state = FARM_REG_CONNECTING;
            farm_http_send(hr, FARM_HTTP_REGISTER);
        }

        return;
    }

    if (kind == FARM_HTTP_DEREGISTER && status == 404) {
        status = 200;       /* already gone: as good as removed */
    }

    if (status != 200 && !(kind == FARM_HTTP_REGISTER && status == 201)) {
        if (result != CURLE_OK) {
            snprintf(reason, sizeof(reason), "%s",
                     hr->error[0] ? hr->error : curl_easy_strerror(result));

        } else {
            if (hr->dialect->refused) {
                hr->dialect->refused(hr, status);
            }

            snprintf(reason, sizeof(reason), "HTTP %ld %.120s%s", status,
                     farm_http_reg_answer(hr),
                     hr->dialect->hint(hr, status));
        }

        /* logged while the state still says whether we were registered */

        farm_http_failed(hr, reason);

        if (kind != FARM_HTTP_DEREGISTER) {
            hr->reg.state = FARM_REG_CONNECTING;
        }

        return;
    }

    farm_registrar_recovered(&hr->reg, &hr->retry);

    switch (kind) {

    case FARM_HTTP_REGISTER:
        if (hr->want) {
            hr->reg.state = FARM_REG_REGISTERED;
            hr->reg.registrations++;
            farm_log_info("registered %s as %s in %s", hr->record->id,
                          hr->addr, hr->reg.display);
        }

        break;

    case FARM_HTTP_BEAT:
        farm_log_debug("heartbeat: %s renewed in %s", hr->record->id,
                       hr->reg.display);
        break;

    default:
        if (!hr->want) {
            hr->reg.state = FARM_REG_IDLE;
            farm_log_info("deregistered %s from %s", hr->record->id,
                          hr->reg.display);
            farm_http_finish(hr, 1);
        }

        break;
    }
}


/* farm_curl_loop_t: our one transfer finished. */
static void
farm_http_transfer_done(void *data, CURL *easy, CURLcode result)
{
    int               kind;
    farm_http_reg_t  *hr = data;

    if (easy != hr->easy || hr->kind == FARM_HTTP_NONE) {
        return;
    }

    kind = hr->kind;
    hr->kind = FARM_HTTP_NONE;

    farm_http_done(hr, kind, result);
}


static void
farm_http_beat_handler(evutil_socket_t fd, short what, void *data)
{
    farm_http_reg_t  *hr = data;

    (void) fd;
    (void) what;

    /* a request in flight (or a retry pending) decides for itself */

    if (!hr->want || hr->kind != FARM_HTTP_NONE
        || hr->reg.state != FARM_REG_REGISTERED)
    {
        return;
    }

    farm_http_send(hr, FARM_HTTP_BEAT);
}


static void
farm_http_dereg_handler(evutil_socket_t fd, short what, void *data)
{
    farm_http_reg_t  *hr = data;

    (void) fd;
    (void) what;

    if (hr->done == NULL) {
        return;
    }

    farm_log_warn("could not deregister %s from %s within %d ms; %s",
                  hr->record->id, hr->reg.display, FARM_HTTP_DEREG_MS,
                  hr->dialect->late);

    farm_http_cancel(hr);
    evtimer_del(hr->retry_ev);

    if (hr->reg.state == FARM_REG_DEREGISTERING) {
        hr->reg.state = FARM_REG_IDLE;
    }

    farm_http_finish(hr, 0);
}


static void
farm_http_start(farm_registrar_t *reg)
{
    farm_http_reg_t  *hr = (farm_http_reg_t *) reg;

    /* the record is complete by the first start() */

    snprintf(hr->addr, sizeof(hr->addr),
             strchr(hr->record->address, ':') ? "[%s]:%u" : "%s:%u",
             hr->record->address, hr->record->port);

    hr->want = 1;

    farm_http_finish(hr, 0);    /* a pending deregister is superseded */

    farm_http_after(hr->beat_ev, hr->heartbeat_ms);

    hr->reg.state = FARM_REG_CONNECTING;
    farm_http_send(hr, FARM_HTTP_REGISTER);
}


static void
farm_http_refresh(farm_registrar_t *reg)
{
    farm_http_reg_t  *hr = (farm_http_reg_t *) reg;

    free(hr->body);
    hr->body = NULL;

    if (hr->want && hr->reg.state == FARM_REG_REGISTERED
        && hr->kind == FARM_HTTP_NONE)
    {
        farm_http_send(hr, FARM_HTTP_REGISTER);
    }
}


static void
farm_http_deregister(farm_registrar_t *reg, farm_registrar_done_pt done,
    void *data)
{
    farm_http_reg_t  *hr = (farm_http_reg_t *) reg;

    farm_http_finish(hr, 0);    /* an earlier deregister is superseded */

    hr->want = 0;
    hr->done = done;
    hr->done_data = data;
    farm_reg_retry_init(&hr->retry);

    evtimer_del(hr->beat_ev);
    farm_http_after(hr->dereg_ev, FARM_HTTP_DEREG_MS);

    farm_http_send(hr, FARM_HTTP_DEREGISTER);
}


static void
farm_http_stop(farm_registrar_t *reg)
{
    farm_http_reg_t  *hr = (farm_http_reg_t *) reg;

    farm_http_cancel(hr);

    if (hr->easy) {
        curl_easy_cleanup(hr->easy);
    }

    if (hr->loop) {
        farm_curl_loop_free(hr->loop);
    }

    if (hr->retry_ev) {
        event_free(hr->retry_ev);
    }

    if (hr->beat_ev) {
        event_free(hr->beat_ev);
    }

    if (hr->dereg_ev) {
        event_free(hr->dereg_ev);
    }

    if (hr->dialect && hr->dialect->free) {
        hr->dialect->free(hr);
    }

    free(hr->body);
    free(hr);
}


int
farm_http_reg_init(farm_http_reg_t *hr, const farm_http_dialect_t *d,
    const farm_registrar_conf_t *conf, int tls, const char *ca, char *err)
{
    CURLcode  rc;

    hr->reg.ops = &farm_http_ops;
    hr->reg.state = FARM_REG_IDLE;
    farm_url_display(conf->url, hr->reg.display, sizeof(hr->reg.display));

    hr->dialect = d;
    hr->record = conf->record;
    hr->heartbeat_ms = conf->heartbeat_ms;
    farm_reg_retry_init(&hr->retry);

    hr->loop = farm_curl_loop_create(conf->base, farm_http_transfer_done,
                                     hr);
    hr->retry_ev = evtimer_new(conf->base, farm_http_retry_handler, hr);
    hr->beat_ev = event_new(conf->base, -1, EV_PERSIST,
                            farm_http_beat_handler, hr);
    hr->dereg_ev = evtimer_new(conf->base, farm_http_dereg_handler, hr);
    hr->easy = curl_easy_init();

    if (hr->loop == NULL || hr->retry_ev == NULL || hr->beat_ev == NULL
        || hr->dereg_ev == NULL || hr->easy == NULL)
    {
        snprintf(err, FARM_ERR_MAX, "out of memory, or libcurl cannot "
                 "start");
        return -1;
    }

    rc = curl_easy_setopt(hr->easy, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(hr->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(hr->easy, CURLOPT_TIMEOUT_MS,
                           (long) FARM_HTTP_REQ_MS);
    rc |= curl_easy_setopt(hr->easy, CURLOPT_CONNECTTIMEOUT_MS,
                           (long) FARM_HTTP_CONNECT_MS);
    rc |= curl_easy_setopt(hr->easy, CURLOPT_WRITEFUNCTION, farm_http_write);
    rc |= curl_easy_setopt(hr->easy, CURLOPT_WRITEDATA, hr);
    rc |= curl_easy_setopt(hr->easy, CURLOPT_ERRORBUFFER, hr->error);
    rc |= curl_easy_setopt(hr->easy, CURLOPT_USERAGENT,
                           "farm-agent/" FARM_AGENT_VERSION);

    if (tls) {
        rc |= curl_easy_setopt(hr->easy, CURLOPT_SSL_VERIFYPEER, 1L);
        rc |= curl_easy_setopt(hr->easy, CURLOPT_SSL_VERIFYHOST, 2L);

        if (ca) {
            rc |= curl_easy_setopt(hr->easy, CURLOPT_CAINFO, ca);
        }
    }

    if (rc != CURLE_OK) {
        snprintf(err, FARM_ERR_MAX, "libcurl refuses an option");
        return -1;
    }

    return 0;
}
