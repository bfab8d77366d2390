/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The reverse proxy's app side (see proxy_conn.h): the pool of idle app
 * connections, connecting (or reusing one) and sending the request head,
 * reading the app's answer into the response parser, a retry on a reused
 * connection the app had closed, 502/504 when the app fails, and the
 * raw byte tunnel after a 101.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <http_parser.h>

#include "log.h"
#include "proxy_conn.h"


/* ------------------------------------------------------------------ */
/* the pool of idle app connections                                     */


static void
farm_pool_remove(farm_proxy_t *p, struct bufferevent *bev)
{
    unsigned  i;

    for (i = 0; i < p->npool; i++) {
        if (p->pool[i] == bev) {
            p->pool[i] = p->pool[--p->npool];
            break;
        }
    }

    bufferevent_free(bev);
}


/* An idle app connection that speaks or closes is of no more use. */
static void
farm_pool_read(struct bufferevent *bev, void *data)
{
    farm_pool_remove(data, bev);
}


static void
farm_pool_event(struct bufferevent *bev, short what, void *data)
{
    (void) what;

    farm_pool_remove(data, bev);
}


/*
 * An idle app connection goes to the pool (which has room), read by its
 * bufferevent there: what it says or a close ends it (farm_pool_read).
 */
static void
farm_pool_put(farm_proxy_t *p, struct bufferevent *bev)
{
    bufferevent_setcb(bev, farm_pool_read, NULL, farm_pool_event, p);
    farm_timeouts(bev, NULL, FARM_PROXY_POOL_IDLE * 1000, 0);
    bufferevent_enable(bev, EV_READ);

    p->pool[p->npool++] = bev;
}


/* ------------------------------------------------------------------ */
/* the connection to the app                                             */


static void
farm_pc_up_attach(farm_pconn_t *pc, struct bufferevent *up)
{
    farm_proxy_t  *p = pc->p;

    pc->up = up;
    bufferevent_setcb(up, NULL, farm_pc_up_write, farm_pc_up_event, pc);
    bufferevent_setwatermark(up, EV_WRITE, FARM_PROXY_LOW, 0);

    /* read by the proxy (farm_rd_t), not by the bufferevent: added before
     * a pooled one's bufferevent stops reading, so that the socket stays
     * in epoll's set all along (no epoll_ctl) */
    event_assign(pc->up_rd.ev, p->base, bufferevent_getfd(up),
                 EV_READ | EV_PERSIST, farm_pc_up_readable, pc);
    farm_timeouts(up, &pc->up_rd, p->conf.timeout_ms,
                  pc->connected ? p->conf.timeout_ms
                                : p->conf.connect_timeout_ms);
    farm_rd_set(&pc->up_rd, 1);

    /* a pooled connection is writable: its write event is armed only
     * when output is queued (farm_send) */
    if (pc->connected) {
        bufferevent_disable(up, EV_READ);

    } else {
        bufferevent_enable(up, EV_WRITE);
    }

    http_parser_init(&pc->resp, HTTP_RESPONSE);
    pc->resp.data = pc;
}


/*
 * Gets a connection to the app (an idle one from the pool, or a new one
 * when there is none or fresh is set) and writes the request head to it,
 * keeping a copy for a retry.  Returns 0, or -1 when no connection could
 * be started.
 */
static int
farm_pc_send_head_on(farm_pconn_t *pc, int fresh)
{
    farm_proxy_t        *p = pc->p;
    struct bufferevent  *up;

    up = NULL;
    pc->reused = 0;
    pc->connected = 0;

    if (!fresh && p->npool) {
        up = p->pool[--p->npool];
        pc->reused = 1;
        pc->connected = 1;
    }

    if (up == NULL) {
        up = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (up == NULL) {
            return -1;
        }

        if (bufferevent_socket_connect(up,
                                       (struct sockaddr *) &p->conf.addr,
                                       (int) p->conf.addrlen) != 0)
        {
            bufferevent_free(up);
            return -1;
        }

        farm_nodelay(bufferevent_getfd(up));
    }

    farm_pc_up_attach(pc, up);

    /* staged: sent with any body bytes that follow (farm_pc_send_app) */
    evbuffer_add(pc->to_app, pc->head.data, pc->head.len);

    return 0;
}


int
farm_pc_send_head(farm_pconn_t *pc)
{
    return farm_pc_send_head_on(pc, 0);
}


/* Lets go of the app connection: back to the pool, or closed. */
void
farm_pc_up_release(farm_pconn_t *pc, int keep)
{
    farm_proxy_t        *p = pc->p;
    struct bufferevent  *up = pc->up;

    if (up == NULL) {
        return;
    }

    pc->up = NULL;
    evbuffer_drain(pc->to_app, evbuffer_get_length(pc->to_app));

    if (keep && farm_len(up, 0) == 0 && farm_len(up, 1) == 0
        && p->npool < FARM_PROXY_POOL && !p->stopped)
    {
        /* the pool's reading starts before the proxy's stops (no
         * epoll_ctl: see farm_pc_up_attach) */
        farm_pool_put(p, up);
        farm_rd_set(&pc->up_rd, 0);

    } else {
        farm_rd_set(&pc->up_rd, 0);
        bufferevent_free(up);
    }
}


/* A tunnel ends: it counted as a request in flight, now served. */
void
farm_pc_tunnel_end(farm_pconn_t *pc)
{
    pc->p->ntunnels--;
    pc->state = FARM_PC_CLOSING;
    farm_pc_uncount(pc, 1);

    farm_log_debug("tunnel closed for %s", pc->peer);
}


/* Closes when the output is written (state CLOSING), or at once. */
void
farm_pc_close_soon(farm_pconn_t *pc)
{
    if (pc->state == FARM_PC_TUNNEL) {
        farm_pc_tunnel_end(pc);
    }

    pc->state = FARM_PC_CLOSING;
    farm_rd_set(&pc->cl_rd, 0);
    farm_pc_send_client(pc);

    if (farm_len(pc->cl, 1) == 0) {
        farm_pc_free(pc);
        return;
    }

    bufferevent_setwatermark(pc->cl, EV_WRITE, 0, 0);
    farm_timeouts(pc->cl, &pc->cl_rd, 0, pc->p->conf.timeout_ms);
}


/* The app failed before answering: 502 or 504, then close. */
static void
farm_pc_app_error(farm_pconn_t *pc, int code, const char *reason)
{
    farm_log_warn("app %s: answering %d", reason, code);

    farm_pc_up_release(pc, 0);
    pc->close = 1;
    farm_pc_reply_error(pc, code, code == 504 ? "app timed out"
                                              : "app unreachable", NULL);
    farm_pc_uncount(pc, 1);
    farm_pc_close_soon(pc);
}


static void
farm_pc_tunnel(farm_pconn_t *pc)
{
    farm_proxy_t  *p = pc->p;

    pc->state = FARM_PC_TUNNEL;
    p->ntunnels++;

    /* what is staged goes first (the 101's head) */
    farm_pc_send_client(pc);
    farm_pc_send_app(pc);

    bufferevent_enable(pc->cl, EV_WRITE);
    bufferevent_enable(pc->up, EV_WRITE);

    /* bytes that came behind the heads belong to the new protocol */
    evbuffer_add_buffer(bufferevent_get_output(pc->up),
                        bufferevent_get_input(pc->cl));
    evbuffer_add_buffer(bufferevent_get_output(pc->cl),
                        bufferevent_get_input(pc->up));

    farm_timeouts(pc->up, &pc->up_rd, 0, 0);
    farm_timeouts(pc->cl, &pc->cl_rd, 0, 0);

    farm_log_debug("tunnel open for %s", pc->peer);
}


/* The app's answer is complete: reuse what can be reused, go on. */
static void
farm_pc_answered(farm_pconn_t *pc)
{
    int  keep;

    if (pc->status == 101 && pc->upgrade) {
        farm_pc_tunnel(pc);
        farm_pc_flow(pc);
        return;
    }

    keep = !pc->resp_eof && pc->req_done && http_should_keep_alive(&pc->resp)
           && farm_len(pc->up, 0) == 0;

    farm_pc_up_release(pc, keep);
    farm_pc_uncount(pc, 1);

    if (pc->close || pc->p->stopped) {
        farm_pc_close_soon(pc);
        return;
    }

    pc->state = FARM_PC_HEAD;
    farm_timeouts(pc->cl, &pc->cl_rd, pc->p->conf.idle_ms,
                  pc->p->conf.timeout_ms);
    http_parser_pause(&pc->req, 0);

    farm_pc_input(pc);              /* a pipelined request may be waiting */
}


/* Feeds the app's bytes to the response parser. */
static void
farm_pc_up_parse(farm_pconn_t *pc, int eof)
{
    size_t                  parsed;
    struct evbuffer        *in;
    struct evbuffer_iovec   v;

    in = bufferevent_get_input(pc->up);

    while (!pc->resp_done) {
        if (eof && evbuffer_get_length(in) == 0) {
            http_parser_execute(&pc->resp, &farm_resp_settings, NULL, 0);
            farm_pc_send_client(pc);

            if (!pc->resp_done) {
                farm_log_warn("app closed the connection before the end "
                              "of its answer");
                farm_pc_uncount(pc, 0);
                farm_pc_up_release(pc, 0);
                pc->close = 1;
                farm_pc_close_soon(pc);
                return;
            }

            break;
        }

        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) {
            break;
        }

        parsed = http_parser_execute(&pc->resp, &farm_resp_settings,
                                     v.iov_base, v.iov_len);
        evbuffer_drain(in, parsed);
        farm_pc_send_client(pc);

        if (HTTP_PARSER_ERRNO(&pc->resp) != HPE_OK
            && HTTP_PARSER_ERRNO(&pc->resp) != HPE_PAUSED)
        {
            farm_log_warn("invalid answer from the app: %s",
                          http_errno_description(
                              HTTP_PARSER_ERRNO(&pc->resp)));

            if (!pc->resp_begun) {
                farm_pc_app_error(pc, 502, "sent an invalid answer");
                return;
            }

            farm_pc_uncount(pc, 0);
            farm_pc_up_release(pc, 0);
            pc->close = 1;
            farm_pc_close_soon(pc);
            return;
        }

        if (parsed < v.iov_len && !pc->resp_done) {
            break;
        }
    }

    if (pc->resp_done) {
        farm_pc_answered(pc);
        return;
    }

    farm_pc_flow(pc);
}


static void
farm_pc_up_read(farm_pconn_t *pc)
{
    pc->p->activity++;

    if (pc->state == FARM_PC_TUNNEL) {
        evbuffer_add_buffer(bufferevent_get_output(pc->cl),
                            bufferevent_get_input(pc->up));
        farm_pc_flow(pc);
        return;
    }

    farm_pc_up_parse(pc, 0);
}


/*
 * The app's socket is readable, or its read timeout passed: as
 * farm_pc_client_readable for the client.  Until the connection is made,
 * its failure is the bufferevent's to report (BEV_EVENT_CONNECTED or an
 * error, farm_pc_up_event); only the timeout is reported from here.
 */
void
farm_pc_up_readable(evutil_socket_t fd, short what, void *data)
{
    short          ev;
    farm_pconn_t  *pc = data;

    if (!pc->connected && !(what & EV_TIMEOUT)) {
        return;
    }

    ev = farm_rd_ready(&pc->up_rd, fd, what, pc->up);

    if (ev == 0) {
        farm_pc_up_read(pc);

    } else if (ev > 0) {
        farm_pc_up_event(pc->up, ev, pc);
    }
}


void
farm_pc_up_write(struct bufferevent *bev, void *data)
{
    farm_pconn_t  *pc = data;

    if (pc->state != FARM_PC_TUNNEL) {
        /* the app takes the body: it is alive, restart its clock */
        farm_timeouts(bev, &pc->up_rd, pc->p->conf.timeout_ms,
                      pc->p->conf.timeout_ms);
    }

    farm_pc_flow(pc);
}


void
farm_pc_up_event(struct bufferevent *bev, short what, void *data)
{
    int            fresh_ok;
    char           reason[128];
    farm_proxy_t  *p;
    farm_pconn_t  *pc = data;

    (void) bev;
    p = pc->p;

    if (what & BEV_EVENT_CONNECTED) {
        pc->connected = 1;
        farm_timeouts(pc->up, &pc->up_rd, p->conf.timeout_ms,
                      p->conf.timeout_ms);
        return;
    }

    if (pc->state == FARM_PC_TUNNEL) {
        /* the app ended the tunnel: the client gets what is left */
        farm_pc_up_release(pc, 0);
        farm_pc_close_soon(pc);
        return;
    }

    if ((what & BEV_EVENT_EOF) && pc->resp_begun) {
        farm_pc_up_parse(pc, 1);
        return;
    }

    /* a kept-alive connection the app had closed: once more, fresh */

    fresh_ok = pc->reused && !pc->resp_begun && !pc->req_body
               && !pc->retried && !(what & BEV_EVENT_TIMEOUT);

    if (fresh_ok) {
        pc->retried = 1;
        farm_pc_up_release(pc, 0);

        if (farm_pc_send_head_on(pc, 1) == 0) {
            farm_pc_send_app(pc);
            return;
        }
    }

    if (pc->resp_begun) {
        farm_log_warn("app connection lost in the middle of an answer");
        farm_pc_uncount(pc, 0);
        farm_pc_up_release(pc, 0);
        pc->close = 1;
        farm_pc_close_soon(pc);
        return;
    }

    if (what & BEV_EVENT_TIMEOUT) {
        snprintf(reason, sizeof(reason), "did not answer within %lld ms",
                 (long long) (pc->connected ? p->conf.timeout_ms
                                            : p->conf.connect_timeout_ms));
        if (!pc->connected && p->conf.app_failed) {
            p->conf.app_failed(p->conf.app_failed_data, reason);
        }

        farm_pc_app_error(pc, 504, reason);
        return;
    }

    snprintf(reason, sizeof(reason), "%s: %s",
             pc->connected ? "connection lost" : "cannot connect",
             evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));

    if (!pc->connected && p->conf.app_failed) {
        p->conf.app_failed(p->conf.app_failed_data, reason);
    }

    farm_pc_app_error(pc, 502, reason);
}
