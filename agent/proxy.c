/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The reverse proxy in front of --app (see proxy.h).
 *
 * One farm_pconn_t per client connection.  Its request parser reads the
 * client; at the end of the request head the agent either answers itself
 * (FARM_PROXY_PREFIX, or 503 at --max-conns or while shutting down) or
 * opens (or reuses) a connection to the app and sends the head there; the
 * body follows as it arrives.  The response parser reads the app and
 * writes the answer to the client as it arrives.  Bodies are re-framed
 * where needed (chunked in, chunked out) but never held whole: reading
 * one side stops while the other side's output holds more than
 * FARM_PROXY_HIGH bytes (farm_pc_flow).  The parser is paused between a
 * complete request and its answer, so pipelined requests wait their turn.
 *
 * Parser callbacks never free anything: they record what happened in the
 * connection, and the caller of http_parser_execute acts on it.
 *
 * This file is the client side; the parser callbacks are in proxy_parse.c,
 * the app side (its connections, their pool, the tunnel) in proxy_app.c,
 * and what they share in proxy_conn.h.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <http_parser.h>

#include "log.h"
#include "proxy_conn.h"
#include "server.h"


static ssize_t farm_rd_read(evutil_socket_t fd, struct evbuffer *in);
static void farm_pc_client_read(farm_pconn_t *pc);
static void farm_pc_client_readable(evutil_socket_t fd, short what,
    void *data);
static void farm_pc_client_write(struct bufferevent *bev, void *data);
static void farm_pc_client_event(struct bufferevent *bev, short what,
    void *data);

http_parser_settings  farm_req_settings;
http_parser_settings  farm_resp_settings;


/* Answers go out as soon as they are written: no Nagle delay. */
void
farm_nodelay(evutil_socket_t fd)
{
    int  on = 1;

    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}


size_t
farm_len(struct bufferevent *bev, int output)
{
    return evbuffer_get_length(output ? bufferevent_get_output(bev)
                                      : bufferevent_get_input(bev));
}


/*
 * Sets the read timeout (rd's, or bev's own when rd is NULL: a pooled
 * connection, which its bufferevent reads) and bev's write timeout; 0 is
 * none.  A timeout set anew starts anew, as a bufferevent's does.
 */
void
farm_timeouts(struct bufferevent *bev, farm_rd_t *rd, int64_t read_ms,
    int64_t write_ms)
{
    struct timeval  r, w;

    r.tv_sec = read_ms / 1000;
    r.tv_usec = (read_ms % 1000) * 1000;
    w.tv_sec = write_ms / 1000;
    w.tv_usec = (write_ms % 1000) * 1000;

    if (rd == NULL) {
        bufferevent_set_timeouts(bev, read_ms ? &r : NULL,
                                 write_ms ? &w : NULL);
        return;
    }

    bufferevent_set_timeouts(bev, NULL, write_ms ? &w : NULL);

    rd->tv = r;
    rd->timed = read_ms != 0;

    if (rd->on) {
        if (rd->timed) {
            event_add(rd->ev, &rd->tv);

        } else {
            event_remove_timer(rd->ev);
        }
    }
}


/* Reading on or off (see farm_rd_t), touching the event only on a change. */
void
farm_rd_set(farm_rd_t *rd, int on)
{
    if (on && !rd->on) {
        rd->on = 1;
        event_add(rd->ev, rd->timed ? &rd->tv : NULL);

    } else if (!on && rd->on) {
        rd->on = 0;
        event_del(rd->ev);
    }
}


/*
 * One read of up to FARM_PROXY_READ bytes from fd into in (a bufferevent's
 * input, whose end the bufferevent keeps frozen but while it reads), without
 * asking first how much there is.  Returns what read(2) does: bytes, 0 at
 * EOF, -1 with errno (EAGAIN when there was nothing after all).
 */
static ssize_t
farm_rd_read(evutil_socket_t fd, struct evbuffer *in)
{
    int                    i, n;
    size_t                 left;
    ssize_t                r;
    struct iovec           io[2];
    struct evbuffer_iovec  v[2];

    evbuffer_unfreeze(in, 0);

    n = evbuffer_reserve_space(in, FARM_PROXY_READ, v, 2);
    if (n < 1) {
        evbuffer_freeze(in, 0);
        errno = ENOMEM;
        return -1;
    }

    for (i = 0; i < n; i++) {
        io[i].iov_base = v[i].iov_base;
        io[i].iov_len = v[i].iov_len;
    }

    r = readv(fd, io, n);
    if (r <= 0) {
        evbuffer_freeze(in, 0);
        return r;
    }

    left = (size_t) r;

    for (i = 0; i < n && left; i++) {
        if (v[i].iov_len > left) {
            v[i].iov_len = left;
        }

        left -= v[i].iov_len;
    }

    evbuffer_commit_space(in, v, i);
    evbuffer_freeze(in, 0);

    return r;
}


/*
 * What a bufferevent's own reading does when its socket (fd) is readable
 * or its read timeout passed (what): the bytes go to bev's input.
 * Returns 0 when bytes came (for the caller to take), -1 when there was
 * nothing after all, else the BEV_EVENT_ flags to report as bev's event
 * (EOF, an error in errno, or the timeout); rd is off then.
 */
short
farm_rd_ready(farm_rd_t *rd, evutil_socket_t fd, short what,
    struct bufferevent *bev)
{
    int      err;
    ssize_t  n;

    if (what & EV_TIMEOUT) {
        farm_rd_set(rd, 0);
        return BEV_EVENT_READING | BEV_EVENT_TIMEOUT;
    }

    n = farm_rd_read(fd, bufferevent_get_input(bev));

    if (n > 0) {
        return 0;
    }

    err = errno;

    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)) {
        return -1;
    }

    farm_rd_set(rd, 0);
    errno = err;

    return BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR);
}


/*
 * Sends what stage holds on bev's socket, and leaves stage empty.  When
 * nothing is queued on bev the bytes are written at once, so the common
 * small answer costs one writev and no arming and disarming of bev's
 * write event (two epoll_ctl and a turn of the loop).  What the socket
 * does not take, or all of it when bev has output queued, is queued on
 * bev behind that output; a failed write is left to bev, which finds the
 * error on its own write and reports it.  bev must be connected.  Returns
 * 1 when bytes went straight out, else 0.
 */
int
farm_send(struct bufferevent *bev, struct evbuffer *stage)
{
    int               sent;
    struct evbuffer  *out;

    if (evbuffer_get_length(stage) == 0) {
        return 0;
    }

    sent = 0;
    out = bufferevent_get_output(bev);

    if (evbuffer_get_length(out) == 0) {
        sent = evbuffer_write(stage, bufferevent_getfd(bev)) > 0;
    }

    if (evbuffer_get_length(stage)) {
        if (!(bufferevent_get_enabled(bev) & EV_WRITE)) {
            bufferevent_enable(bev, EV_WRITE);
        }

        evbuffer_add_buffer(out, stage);
    }

    return sent;
}


/* What is staged for the client goes out (see farm_send). */
void
farm_pc_send_client(farm_pconn_t *pc)
{
    (void) farm_send(pc->cl, pc->to_client);
}


/*
 * What is staged for the app goes out: queued while the connection is
 * still being made.  A body written straight out restarts the app's
 * clock, as bev's write callback does for a queued one.
 */
void
farm_pc_send_app(farm_pconn_t *pc)
{
    int64_t  t;

    if (evbuffer_get_length(pc->to_app) == 0) {
        return;
    }

    if (pc->up == NULL) {
        evbuffer_drain(pc->to_app, evbuffer_get_length(pc->to_app));
        return;
    }

    if (!pc->connected) {
        evbuffer_add_buffer(bufferevent_get_output(pc->up), pc->to_app);
        return;
    }

    if (farm_send(pc->up, pc->to_app) && pc->req_body) {
        t = pc->p->conf.timeout_ms;
        farm_timeouts(pc->up, &pc->up_rd, t, t);
    }
}


/*
 * Back-pressure: a side is read only while the other side's output is
 * under FARM_PROXY_HIGH, and the client also only while its unparsed
 * input is (a paused parser leaves pipelined bytes there).
 */
void
farm_pc_flow(farm_pconn_t *pc)
{
    int  read_cl, read_up;

    read_cl = pc->state != FARM_PC_CLOSING
              && farm_len(pc->cl, 0) <= FARM_PROXY_HIGH
              && !(pc->up && farm_len(pc->up, 1) > FARM_PROXY_HIGH)
              && !(pc->upgrade && pc->state != FARM_PC_TUNNEL);

    read_up = pc->up && farm_len(pc->cl, 1) <= FARM_PROXY_HIGH;

    farm_rd_set(&pc->cl_rd, read_cl);

    if (pc->up) {
        farm_rd_set(&pc->up_rd, read_up);
    }
}


/* Counts the request in inflight (once). */
void
farm_pc_count(farm_pconn_t *pc)
{
    farm_server_t  *s = pc->p->s;

    if (pc->counted) {
        return;
    }

    pc->counted = 1;

    if (++s->inflight > s->inflight_peak) {
        s->inflight_peak = s->inflight;
    }
}


/* Ends the counted request: served (an answer was written) or cut off. */
void
farm_pc_uncount(farm_pconn_t *pc, int served)
{
    farm_server_t  *s = pc->p->s;

    if (!pc->counted) {
        return;
    }

    pc->counted = 0;
    s->inflight--;

    if (served) {
        s->served++;

    } else {
        s->cut_off++;
    }

    if (s->idle) {
        s->idle(s->idle_data);
    }
}


/* ------------------------------------------------------------------ */
/* answers of the agent's own                                           */


/*
 * Writes a whole answer to the client: status, the agent's headers,
 * extra (complete header lines or NULL), and body (may be NULL; moved
 * out).  Sets close for answers that end the connection.
 */
static void
farm_pc_reply(farm_pconn_t *pc, int code, const char *type,
    const char *extra, struct evbuffer *body)
{
    size_t            len;
    farm_server_t    *s = pc->p->s;
    struct evbuffer  *out;

    out = pc->to_client;
    len = body ? evbuffer_get_length(body) : 0;

    if (s->draining || pc->p->stopped) {
        pc->close = 1;
    }

    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nX-Farm-Agent: %s\r\n"
                        "Content-Length: %zu\r\n%s%s%s%s%s\r\n",
                        code, http_status_str((enum http_status) code),
                        s->record->id, len,
                        type ? "Content-Type: " : "", type ? type : "",
                        type ? "\r\n" : "", extra ? extra : "",
                        pc->close ? "Connection: close\r\n" : "");

    if (body && !pc->head_req) {
        evbuffer_add_buffer(out, body);
    }

    if (code >= 100 && code < 600) {
        s->codes[code]++;
    }

    farm_pc_send_client(pc);
}


void
farm_pc_reply_error(farm_pconn_t *pc, int code, const char *message,
    const char *extra)
{
    struct evbuffer  *b;

    b = evbuffer_new();
    if (b) {
        evbuffer_add_printf(b, "{\"error\":\"%s\"}\n", message);
    }

    farm_pc_reply(pc, code, "application/json", extra, b);

    if (b) {
        evbuffer_free(b);
    }
}


void
farm_pc_reply_local(farm_pconn_t *pc)
{
    int               code;
    char             *text;
    json_t           *obj;
    struct evbuffer  *b;

    switch (pc->local) {

    case FARM_LOCAL_HEALTH:
        obj = farm_health_json(pc->p->s, &code);
        text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER
                                     | JSON_REAL_PRECISION(12))
                   : NULL;
        json_decref(obj);
        b = evbuffer_new();

        if (text == NULL || b == NULL) {
            free(text);
            if (b) {
                evbuffer_free(b);
            }
            farm_pc_reply(pc, 500, NULL, NULL, NULL);
            return;
        }

        evbuffer_add_printf(b, "%s\n", text);
        free(text);
        farm_pc_reply(pc, code, "application/json", NULL, b);
        evbuffer_free(b);
        return;

    case FARM_LOCAL_METRICS:
        b = evbuffer_new();
        if (b == NULL || farm_metrics_text(pc->p->s, b) != 0) {
            if (b) {
                evbuffer_free(b);
            }
            farm_pc_reply(pc, 500, NULL, NULL, NULL);
            return;
        }

        farm_pc_reply(pc, 200, "text/plain; version=0.0.4; charset=utf-8",
                      NULL, b);
        evbuffer_free(b);
        return;

    case FARM_LOCAL_BUSY:
        pc->p->s->rejected++;
        farm_pc_reply_error(pc, 503, "agent at capacity",
                            "Retry-After: 1\r\n");
        return;

    case FARM_LOCAL_STOPPED:
        pc->close = 1;
        farm_pc_reply_error(pc, 503, "agent shutting down",
                            "Retry-After: 1\r\n");
        return;

    default:
        farm_pc_reply_error(pc, 404, "not found", NULL);
        return;
    }
}


/* ------------------------------------------------------------------ */
/* the client connection                                                 */


/* Parses what the client sent, as far as the state allows. */
void
farm_pc_input(farm_pconn_t *pc)
{
    size_t                  parsed;
    enum http_errno         e;
    struct evbuffer        *in;
    struct evbuffer_iovec   v;

    in = bufferevent_get_input(pc->cl);

    while (pc->state == FARM_PC_HEAD || pc->state == FARM_PC_FORWARD) {

        if (HTTP_PARSER_ERRNO(&pc->req) == HPE_PAUSED || pc->upgrade) {
            break;                  /* waiting for the app's answer */
        }

        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) {
            break;
        }

        parsed = http_parser_execute(&pc->req, &farm_req_settings,
                                     v.iov_base, v.iov_len);
        evbuffer_drain(in, parsed);

        farm_pc_send_app(pc);
        farm_pc_send_client(pc);

        e = HTTP_PARSER_ERRNO(&pc->req);

        if (pc->error) {
            if (pc->error == -1) {          /* local answer, then close */
                farm_pc_reply_local(pc);

            } else if (pc->error == 502) {
                farm_pc_reply_error(pc, 502, "app unreachable", NULL);
                farm_pc_uncount(pc, 1);

            } else {
                farm_pc_reply_error(pc, pc->error,
                                    "request head too large", NULL);
            }

            pc->error = 0;
            pc->close = 1;
            farm_pc_up_release(pc, 0);
            farm_pc_close_soon(pc);
            return;
        }

        if (e != HPE_OK && e != HPE_PAUSED) {
            farm_log_debug("bad request from %s: %s", pc->peer,
                           http_errno_description(e));

            if (pc->counted) {
                farm_pc_uncount(pc, 0);
                farm_pc_up_release(pc, 0);
                farm_pc_free(pc);
                return;
            }

            pc->close = 1;
            farm_pc_reply_error(pc, 400, "bad request", NULL);
            farm_pc_close_soon(pc);
            return;
        }

        if (pc->state == FARM_PC_CLOSING) {
            farm_pc_close_soon(pc);
            return;
        }

        if (parsed < v.iov_len && e == HPE_OK && !pc->req.upgrade) {
            break;
        }
    }

    if (pc->state == FARM_PC_HEAD && evbuffer_get_length(in) == 0
        && pc->p->stopped)
    {
        farm_pc_free(pc);           /* idle, and the agent shuts down */
        return;
    }

    farm_pc_flow(pc);
}


static void
farm_pc_client_read(farm_pconn_t *pc)
{
    pc->p->activity++;

    if (pc->state == FARM_PC_TUNNEL) {
        evbuffer_add_buffer(bufferevent_get_output(pc->up),
                            bufferevent_get_input(pc->cl));
        farm_pc_flow(pc);
        return;
    }

    if (pc->state == FARM_PC_CLOSING) {
        evbuffer_drain(bufferevent_get_input(pc->cl), farm_len(pc->cl, 0));
        return;
    }


    farm_pc_input(pc);
}


/*
 * The client's socket is readable, or its read timeout passed: what a
 * bufferevent's own reading would do (see farm_rd_t), reporting EOF,
 * errors and the timeout to farm_pc_client_event as it would.
 */
static void
farm_pc_client_readable(evutil_socket_t fd, short what, void *data)
{
    short          ev;
    farm_pconn_t  *pc = data;

    ev = farm_rd_ready(&pc->cl_rd, fd, what, pc->cl);

    if (ev == 0) {
        farm_pc_client_read(pc);

    } else if (ev > 0) {
        farm_pc_client_event(pc->cl, ev, pc);
    }
}


static void
farm_pc_client_write(struct bufferevent *bev, void *data)
{
    farm_pconn_t  *pc = data;

    if (pc->state == FARM_PC_CLOSING && farm_len(bev, 1) == 0) {
        farm_pc_free(pc);
        return;
    }

    farm_pc_flow(pc);
}


static void
farm_pc_client_event(struct bufferevent *bev, short what, void *data)
{
    farm_pconn_t  *pc = data;

    (void) bev;

    if (pc->state == FARM_PC_TUNNEL && (what & BEV_EVENT_EOF) && pc->up) {
        /* the client ended the tunnel: pass on what is left, then close */
        evbuffer_add_buffer(bufferevent_get_output(pc->up),
                            bufferevent_get_input(pc->cl));
        farm_pc_free(pc);
        return;
    }

    if (pc->counted) {
        farm_log_debug("client %s left before its answer was complete",
                       pc->peer);
        farm_pc_uncount(pc, 0);
    }

    farm_pc_free(pc);
}


void
farm_pc_free(farm_pconn_t *pc)
{
    farm_proxy_t  *p = pc->p;

    if (pc->state == FARM_PC_TUNNEL) {
        farm_pc_tunnel_end(pc);
    }

    farm_pc_up_release(pc, 0);
    farm_pc_uncount(pc, 0);

    if (pc->prev) {
        pc->prev->next = pc->next;

    } else {
        p->conns = pc->next;
    }

    if (pc->next) {
        pc->next->prev = pc->prev;
    }

    p->nconns--;

    event_free(pc->cl_rd.ev);
    event_free(pc->up_rd.ev);
    bufferevent_free(pc->cl);
    farm_sb_free(&pc->hdrs);
    farm_sb_free(&pc->head);
    farm_sb_free(&pc->url);
    farm_sb_free(&pc->field);
    farm_sb_free(&pc->value);
    evbuffer_free(pc->to_client);
    evbuffer_free(pc->to_app);
    free(pc);

    if (p->s->idle) {
        p->s->idle(p->s->idle_data);
    }
}


static void
farm_proxy_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *data)
{
    farm_pconn_t  *pc;
    farm_proxy_t  *p = data;

    (void) l;
    (void) salen;

    p->activity++;
    p->s->connections++;

    if (p->conf.max_clients && p->nconns >= p->conf.max_clients) {
        farm_log_warn("--max-clients %u reached: closing a new connection",
                      p->conf.max_clients);
        evutil_closesocket(fd);
        return;
    }

    pc = calloc(1, sizeof(farm_pconn_t));
    if (pc == NULL) {
        evutil_closesocket(fd);
        return;
    }

    pc->p = p;
    pc->to_client = evbuffer_new();
    pc->to_app = evbuffer_new();
    farm_nodelay(fd);
    pc->cl = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    pc->cl_rd.ev = event_new(p->base, fd, EV_READ | EV_PERSIST,
                             farm_pc_client_readable, pc);
    pc->up_rd.ev = event_new(p->base, -1, EV_READ | EV_PERSIST,
                             farm_pc_up_readable, pc);

    if (pc->to_client == NULL || pc->to_app == NULL || pc->cl == NULL
        || pc->cl_rd.ev == NULL || pc->up_rd.ev == NULL)
    {
        farm_log_error("out of memory for a connection");

        if (pc->cl) {
            bufferevent_free(pc->cl);

        } else {
            evutil_closesocket(fd);
        }

        if (pc->cl_rd.ev) event_free(pc->cl_rd.ev);
        if (pc->up_rd.ev) event_free(pc->up_rd.ev);
        if (pc->to_client) evbuffer_free(pc->to_client);
        if (pc->to_app) evbuffer_free(pc->to_app);
        free(pc);
        return;
    }

    if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *) sa)->sin6_addr,
                  pc->peer, sizeof(pc->peer));

    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *) sa)->sin_addr,
                  pc->peer, sizeof(pc->peer));
    }

    http_parser_init(&pc->req, HTTP_REQUEST);
    pc->req.data = pc;

    pc->next = p->conns;
    if (p->conns) {
        p->conns->prev = pc;
    }
    p->conns = pc;
    p->nconns++;

    bufferevent_setcb(pc->cl, NULL, farm_pc_client_write,
                      farm_pc_client_event, pc);
    bufferevent_setwatermark(pc->cl, EV_WRITE, FARM_PROXY_LOW, 0);
    farm_timeouts(pc->cl, &pc->cl_rd, p->conf.idle_ms, p->conf.timeout_ms);

    /* reading is the proxy's own (farm_rd_t); writing is enabled when
     * output is queued (farm_send): enabling it arms the write event at
     * once */
    farm_rd_set(&pc->cl_rd, 1);
}


farm_proxy_t *
farm_proxy_create(farm_server_t *s, const char *host, unsigned port,
    const farm_proxy_conf_t *conf, unsigned *bound, char *err)
{
    int                      e;
    socklen_t                len;
    farm_proxy_t            *p;
    struct sockaddr_storage  sa;

    memset(&farm_req_settings, 0, sizeof(http_parser_settings));
    farm_req_settings.on_message_begin = farm_req_begin_cb;
    farm_req_settings.on_url = farm_req_url_cb;
    farm_req_settings.on_header_field = farm_req_field_cb;
    farm_req_settings.on_header_value = farm_on_value;
    farm_req_settings.on_headers_complete = farm_req_headers_cb;
    farm_req_settings.on_body = farm_req_body_cb;
    farm_req_settings.on_message_complete = farm_req_complete_cb;

    memset(&farm_resp_settings, 0, sizeof(http_parser_settings));
    farm_resp_settings.on_message_begin = farm_resp_begin_cb;
    farm_resp_settings.on_status = farm_resp_status_cb;
    farm_resp_settings.on_header_field = farm_resp_field_cb;
    farm_resp_settings.on_header_value = farm_on_value;
    farm_resp_settings.on_headers_complete = farm_resp_headers_cb;
    farm_resp_settings.on_body = farm_resp_body_cb;
    farm_resp_settings.on_message_complete = farm_resp_complete_cb;

    http_parser_set_max_header_size(FARM_PROXY_HEAD_MAX);

    memset(&sa, 0, sizeof(sa));
    len = sizeof(sa);

    if (evutil_parse_sockaddr_port(host, (struct sockaddr *) &sa,
                                   (int *) &len) != 0)
    {
        snprintf(err, FARM_ERR_MAX, "cannot listen on %s: not an IP "
                 "address", host);
        return NULL;
    }

    if (sa.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *) &sa)->sin6_port = htons(port);

    } else {
        ((struct sockaddr_in *) &sa)->sin_port = htons(port);
    }

    p = calloc(1, sizeof(farm_proxy_t));
    if (p == NULL) {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        return NULL;
    }

    p->s = s;
    p->base = s->base;
    p->conf = *conf;

    p->listener = evconnlistener_new_bind(p->base, farm_proxy_accept, p,
                                          LEV_OPT_CLOSE_ON_FREE
                                          | LEV_OPT_REUSEABLE, 511,
                                          (struct sockaddr *) &sa,
                                          (int) len);
    if (p->listener == NULL) {
        e = EVUTIL_SOCKET_ERROR();
        snprintf(err, FARM_ERR_MAX, "cannot listen on %s%s%s:%u: %s",
                 strchr(host, ':') ? "[" : "", host,
                 strchr(host, ':') ? "]" : "", port,
                 evutil_socket_error_to_string(e));
        free(p);
        return NULL;
    }

    len = sizeof(sa);

    if (getsockname(evconnlistener_get_fd(p->listener),
                    (struct sockaddr *) &sa, &len) == 0)
    {
        *bound = ntohs(sa.ss_family == AF_INET6
                       ? ((struct sockaddr_in6 *) &sa)->sin6_port
                       : ((struct sockaddr_in *) &sa)->sin_port);

    } else {
        *bound = port;
    }

    return p;
}


void
farm_proxy_stop_accepting(farm_proxy_t *p)
{
    farm_pconn_t  *pc, *next;

    if (p->stopped) {
        return;
    }

    p->stopped = 1;

    /* closed, not just disabled: the kernel would go on completing
     * handshakes into the backlog */
    evconnlistener_free(p->listener);
    p->listener = NULL;

    while (p->npool) {
        bufferevent_free(p->pool[--p->npool]);
    }

    for (pc = p->conns; pc; pc = next) {
        next = pc->next;

        if (pc->state == FARM_PC_HEAD && !pc->counted
            && farm_len(pc->cl, 0) == 0 && farm_len(pc->cl, 1) == 0)
        {
            farm_pc_free(pc);
        }
    }
}


unsigned
farm_proxy_clients(farm_proxy_t *p)
{
    return p->nconns;
}


unsigned
farm_proxy_tunnels(farm_proxy_t *p)
{
    return p->ntunnels;
}


unsigned long
farm_proxy_activity(farm_proxy_t *p)
{
    return p->activity;
}


void
farm_proxy_free(farm_proxy_t *p)
{
    while (p->conns) {
        farm_pc_free(p->conns);
    }

    while (p->npool) {
        bufferevent_free(p->pool[--p->npool]);
    }

    if (p->listener) {
        evconnlistener_free(p->listener);
    }

    free(p);
}
