/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */

#include <stdlib.h>

#include "curl_loop.h"


typedef struct farm_curl_sock_s  farm_curl_sock_t;

/* One socket libcurl asked to watch, and its event. */
struct farm_curl_sock_s {
    farm_curl_sock_t   *next;
    farm_curl_loop_t   *loop;
    curl_socket_t       fd;
    struct event       *ev;
};

struct farm_curl_loop_s {
    struct event_base  *base;
    CURLM              *multi;
    struct event       *timer_ev;       /* libcurl's timeout */
    farm_curl_sock_t   *socks;
    farm_curl_done_pt   done;
    void               *data;
    unsigned            global:1;       /* curl_global_init done */
};


static void farm_curl_loop_finished(farm_curl_loop_t *cl);
static void farm_curl_loop_io(evutil_socket_t fd, short what, void *arg);
static void farm_curl_loop_tick(evutil_socket_t fd, short what, void *arg);
static int farm_curl_loop_sock(CURL *easy, curl_socket_t fd, int what,
    void *userp, void *socketp);
static int farm_curl_loop_timer(CURLM *multi, long ms, void *userp);
static void farm_curl_loop_unwatch(farm_curl_loop_t *cl,
    farm_curl_sock_t *sock);


/* Hands every finished transfer to the owner, one at a time. */
static void
farm_curl_loop_finished(farm_curl_loop_t *cl)
{
    int        pending;
    CURL      *easy;
    CURLMsg   *m;
    CURLcode   result;

    for ( ;; ) {
        m = curl_multi_info_read(cl->multi, &pending);

        if (m == NULL) {
            return;
        }

        if (m->msg != CURLMSG_DONE) {
            continue;
        }

        easy = m->easy_handle;
        result = m->data.result;

        /* m is invalid once the handle leaves the multi handle */
        curl_multi_remove_handle(cl->multi, easy);

        cl->done(cl->data, easy, result);
    }
}


static void
farm_curl_loop_io(evutil_socket_t fd, short what, void *arg)
{
    int                 running, mask;
    farm_curl_sock_t   *sock = arg;
    farm_curl_loop_t   *cl;

    cl = sock->loop;
    mask = 0;

    if (what & EV_READ) {
        mask |= CURL_CSELECT_IN;
    }

    if (what & EV_WRITE) {
        mask |= CURL_CSELECT_OUT;
    }

    /* sock may be gone after this call */
    curl_multi_socket_action(cl->multi, fd, mask, &running);

    farm_curl_loop_finished(cl);
}


static void
farm_curl_loop_tick(evutil_socket_t fd, short what, void *arg)
{
    int                running;
    farm_curl_loop_t  *cl = arg;

    (void) fd;
    (void) what;

    curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);

    farm_curl_loop_finished(cl);
}


static void
farm_curl_loop_unwatch(farm_curl_loop_t *cl, farm_curl_sock_t *sock)
{
    farm_curl_sock_t  **link;

    link = &cl->socks;

    while (*link != sock) {
        if (*link == NULL) {
            return;
        }

        link = &(*link)->next;
    }

    *link = sock->next;

    event_free(sock->ev);
    free(sock);
}


/* CURLMOPT_SOCKETFUNCTION: watch fd for what libcurl wants, or stop. */
static int
farm_curl_loop_sock(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
    short               events;
    farm_curl_sock_t   *sock = socketp;
    farm_curl_loop_t   *cl = userp;

    (void) easy;

    if (what == CURL_POLL_REMOVE) {
        if (sock != NULL) {
            curl_multi_assign(cl->multi, fd, NULL);
            farm_curl_loop_unwatch(cl, sock);
        }

        return 0;
    }

    events = EV_PERSIST;

    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
        events |= EV_READ;
    }

    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
        events |= EV_WRITE;
    }

    if (sock == NULL) {
        sock = calloc(1, sizeof(farm_curl_sock_t));

        if (sock == NULL) {
            return -1;
        }

        sock->loop = cl;
        sock->fd = fd;
        sock->ev = event_new(cl->base, fd, events, farm_curl_loop_io, sock);

        if (sock->ev == NULL) {
            free(sock);
            return -1;
        }

        sock->next = cl->socks;
        cl->socks = sock;
        curl_multi_assign(cl->multi, fd, sock);

    } else {
        event_del(sock->ev);

        if (event_assign(sock->ev, cl->base, fd, events, farm_curl_loop_io,
                         sock)
            != 0)
        {
            return -1;
        }
    }

    return event_add(sock->ev, NULL) == 0 ? 0 : -1;
}


/* CURLMOPT_TIMERFUNCTION: when libcurl wants to run next. */
static int
farm_curl_loop_timer(CURLM *multi, long ms, void *userp)
{
    struct timeval      tv;
    farm_curl_loop_t   *cl = userp;

    (void) multi;

    if (ms < 0) {
        evtimer_del(cl->timer_ev);
        return 0;
    }

    /* 0 too goes through the loop: never call libcurl from libcurl */

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    return evtimer_add(cl->timer_ev, &tv) == 0 ? 0 : -1;
}


farm_curl_loop_t *
farm_curl_loop_create(struct event_base *base, farm_curl_done_pt done,
    void *data)
{
    farm_curl_loop_t  *cl;

    cl = calloc(1, sizeof(farm_curl_loop_t));
    if (cl == NULL) {
        return NULL;
    }

    cl->base = base;
    cl->done = done;
    cl->data = data;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(cl);
        return NULL;
    }

    cl->global = 1;
    cl->multi = curl_multi_init();
    cl->timer_ev = evtimer_new(base, farm_curl_loop_tick, cl);

    if (cl->multi == NULL || cl->timer_ev == NULL) {
        farm_curl_loop_free(cl);
        return NULL;
    }

    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION,
                      farm_curl_loop_sock);
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION,
                      farm_curl_loop_timer);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);

    return cl;
}


int
farm_curl_loop_add(farm_curl_loop_t *cl, CURL *easy)
{
    return curl_multi_add_handle(cl->multi, easy) == CURLM_OK ? 0 : -1;
}


void
farm_curl_loop_remove(farm_curl_loop_t *cl, CURL *easy)
{
    curl_multi_remove_handle(cl->multi, easy);
}


void
farm_curl_loop_free(farm_curl_loop_t *cl)
{
    if (cl->multi) {
        curl_multi_cleanup(cl->multi);     /* may unwatch sockets */
    }

    while (cl->socks) {
        farm_curl_loop_unwatch(cl, cl->socks);
    }

    if (cl->timer_ev) {
        event_free(cl->timer_ev);
    }

    if (cl->global) {
        curl_global_cleanup();
    }

    free(cl);
}
