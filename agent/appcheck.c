/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The health check of the user's app (see appcheck.h).  One check at a
 * time: connect, send the request, read until the status line is there.
 * The timer does double duty: it waits for the next check, and while a
 * check runs it is that check's timeout.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "appcheck.h"
#include "log.h"


static void farm_app_timer_handler(evutil_socket_t fd, short what,
    void *data);


static void
farm_app_timer(farm_app_t *a, int64_t ms)
{
    struct timeval  tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    evtimer_add(a->timer, &tv);
}


static void
farm_app_set(farm_app_t *a, farm_app_state_e state, const char *reason)
{
    if (a->state == state) {
        return;
    }

    a->state = state;

    if (a->conf.change) {
        a->conf.change(a->conf.data, state, reason);
    }
}


/* Ends the check in progress with a result; schedules the next one. */
static void
farm_app_done(farm_app_t *a, int ok, const char *reason)
{
    if (a->bev) {
        bufferevent_free(a->bev);
        a->bev = NULL;
    }

    a->checks++;

    if (ok) {
        a->fails = 0;
        a->passes++;

        if (a->state == FARM_APP_UNKNOWN || a->passes >= a->conf.rise) {
            farm_app_set(a, FARM_APP_UP, "passed");
        }

    } else {
        a->failed++;
        a->passes = 0;
        a->fails++;
        snprintf(a->last_error, sizeof(a->last_error), "%s", reason);

        if (a->state == FARM_APP_UNKNOWN || a->fails >= a->conf.fall) {
            farm_app_set(a, FARM_APP_DOWN, reason);
        }
    }

    evtimer_del(a->timer);
    farm_app_timer(a, a->conf.interval_ms);
}


static void
farm_app_read(struct bufferevent *bev, void *data)
{
    char              reason[64];
    char             *line;
    size_t            n;
    unsigned          code;
    farm_app_t       *a = data;
    struct evbuffer  *in;

    in = bufferevent_get_input(bev);
    line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);

    if (line == NULL) {
        if (evbuffer_get_length(in) > 4096) {
            farm_app_done(a, 0, "no status line in the answer");
        }
        return;
    }

    if (sscanf(line, "HTTP/1.%*1[01] %3u", &code) != 1) {
        free(line);
        farm_app_done(a, 0, "not an HTTP answer");
        return;
    }

    free(line);

    if (code < a->conf.status_min || code > a->conf.status_max) {
        snprintf(reason, sizeof(reason), "answered %u", code);
        farm_app_done(a, 0, reason);
        return;
    }

    farm_app_done(a, 1, NULL);
}


static void
farm_app_event(struct bufferevent *bev, short what, void *data)
{
    char         reason[128];
    farm_app_t  *a = data;

    (void) bev;

    if (what & BEV_EVENT_CONNECTED) {
        return;
    }

    if (what & BEV_EVENT_EOF) {
        farm_app_done(a, 0, "closed the connection without an answer");
        return;
    }

    snprintf(reason, sizeof(reason), "cannot connect: %s",
             evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    farm_app_done(a, 0, reason);
}


static void
farm_app_check(farm_app_t *a)
{
    a->bev = bufferevent_socket_new(a->conf.base, -1, BEV_OPT_CLOSE_ON_FREE);

    if (a->bev == NULL) {
        farm_app_done(a, 0, "out of memory");
        return;
    }

    bufferevent_setcb(a->bev, farm_app_read, NULL, farm_app_event, a);
    bufferevent_enable(a->bev, EV_READ | EV_WRITE);

    evbuffer_add_printf(bufferevent_get_output(a->bev),
                        "GET %s HTTP/1.0\r\nHost: %s\r\n"
                        "User-Agent: farm-agent\r\n\r\n",
                        a->conf.path, a->conf.host);

    farm_app_timer(a, a->conf.timeout_ms);

    if (bufferevent_socket_connect(a->bev,
                                   (struct sockaddr *) &a->conf.addr,
                                   (int) a->conf.addrlen) != 0)
    {
        farm_app_done(a, 0, "cannot connect");
    }
}


static void
farm_app_timer_handler(evutil_socket_t fd, short what, void *data)
{
    char         reason[64];
    farm_app_t  *a = data;

    (void) fd;
    (void) what;

    if (a->bev) {
        snprintf(reason, sizeof(reason), "no answer within %lld ms",
                 (long long) a->conf.timeout_ms);
        farm_app_done(a, 0, reason);
        return;
    }

    farm_app_check(a);
}


farm_app_t *
farm_app_create(const farm_app_conf_t *conf)
{
    farm_app_t  *a;

    a = calloc(1, sizeof(farm_app_t));
    if (a == NULL) {
        return NULL;
    }

    a->conf = *conf;
    a->timer = evtimer_new(conf->base, farm_app_timer_handler, a);

    if (a->timer == NULL) {
        free(a);
        return NULL;
    }

    return a;
}


void
farm_app_start(farm_app_t *a)
{
    farm_app_timer(a, 0);
}


void
farm_app_failed(farm_app_t *a, const char *reason)
{
    a->passes = 0;
    a->fails = a->conf.fall;
    snprintf(a->last_error, sizeof(a->last_error), "%s", reason);

    farm_app_set(a, FARM_APP_DOWN, reason);
}


const char *
farm_app_state_name(farm_app_state_e state)
{
    switch (state) {
    case FARM_APP_UP:    return "up";
    case FARM_APP_DOWN:  return "down";
    default:             return "unknown";
    }
}


void
farm_app_free(farm_app_t *a)
{
    if (a->bev) {
        bufferevent_free(a->bev);
    }

    event_free(a->timer);
    free(a);
}
