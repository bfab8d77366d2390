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
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <http_parser.h>

#include "log.h"
#include "proxy.h"
#include "server.h"


#define FARM_PROXY_HIGH      (256 * 1024)   /* output held before pausing */
#define FARM_PROXY_LOW       (64 * 1024)    /* output that resumes */
#define FARM_PROXY_HEAD_MAX  (64 * 1024)    /* request or response head */
#define FARM_PROXY_POOL      64             /* idle app connections kept */
#define FARM_PROXY_POOL_IDLE 30             /* s an idle one is kept */


typedef enum {
    FARM_PC_HEAD = 0,       /* reading a request head (or idle) */
    FARM_PC_FORWARD,        /* the request is with the app */
    FARM_PC_TUNNEL,         /* after a 101: raw bytes both ways */
    FARM_PC_CLOSING         /* writing the last answer, then close */
} farm_pc_state_e;

typedef enum {
    FARM_LOCAL_NONE = 0,
    FARM_LOCAL_HEALTH,
    FARM_LOCAL_METRICS,
    FARM_LOCAL_NOT_FOUND,
    FARM_LOCAL_BUSY,        /* --max-conns */
    FARM_LOCAL_STOPPED      /* shutting down */
} farm_local_e;

typedef struct farm_pconn_s  farm_pconn_t;

struct farm_pconn_s {
    farm_pconn_t         *prev;
    farm_pconn_t         *next;
    farm_proxy_t         *p;
    struct bufferevent   *cl;           /* the client */
    struct bufferevent   *up;           /* the app, while forwarding */
    http_parser           req;
    http_parser           resp;
    struct evbuffer      *hdrs;         /* headers being rewritten */
    struct evbuffer      *head;         /* request head kept for a retry */
    struct evbuffer      *url;          /* request URL, response reason */
    struct evbuffer      *field;
    struct evbuffer      *value;
    size_t                head_bytes;
    farm_pc_state_e       state;
    farm_local_e          local;
    int                   error;        /* answer with this and close */
    unsigned              status;       /* of the app's answer */
    unsigned              in_value:1;
    unsigned              counted:1;    /* in s->inflight */
    unsigned              req_body:1;   /* the request has a body */
    unsigned              req_chunked:1;
    unsigned              req_done:1;
    unsigned              resp_begun:1; /* answer bytes reached the client */
    unsigned              resp_chunked:1;
    unsigned              resp_eof:1;   /* the answer ends at the app's EOF */
    unsigned              resp_done:1;
    unsigned              close:1;      /* close after this answer */
    unsigned              upgrade:1;
    unsigned              reused:1;     /* up came from the pool */
    unsigned              connected:1;  /* up is connected */
    unsigned              retried:1;
    unsigned              head_req:1;
    unsigned              had_xff:1;
    unsigned              had_xfp:1;
    char                  peer[INET6_ADDRSTRLEN];
};

struct farm_proxy_s {
    farm_server_t           *s;
    struct event_base       *base;
    struct evconnlistener   *listener;
    farm_proxy_conf_t        conf;
    farm_pconn_t            *conns;
    unsigned                 nconns;
    unsigned                 ntunnels;
    struct bufferevent      *pool[FARM_PROXY_POOL];
    unsigned                 npool;
    int                      stopped;
};


static void farm_pc_client_read(struct bufferevent *bev, void *data);
static void farm_pc_client_write(struct bufferevent *bev, void *data);
static void farm_pc_client_event(struct bufferevent *bev, short what,
    void *data);
static void farm_pc_up_read(struct bufferevent *bev, void *data);
static void farm_pc_up_write(struct bufferevent *bev, void *data);
static void farm_pc_up_event(struct bufferevent *bev, short what,
    void *data);
static void farm_pc_free(farm_pconn_t *pc);
static void farm_pc_input(farm_pconn_t *pc);

static http_parser_settings  farm_req_settings;
static http_parser_settings  farm_resp_settings;


/* Answers go out as soon as they are written: no Nagle delay. */
static void
farm_nodelay(evutil_socket_t fd)
{
    int  on = 1;

    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}


static size_t
farm_len(struct bufferevent *bev, int output)
{
    return evbuffer_get_length(output ? bufferevent_get_output(bev)
                                      : bufferevent_get_input(bev));
}


static void
farm_timeouts(struct bufferevent *bev, int64_t read_ms, int64_t write_ms)
{
    struct timeval  r, w;

    r.tv_sec = read_ms / 1000;
    r.tv_usec = (read_ms % 1000) * 1000;
    w.tv_sec = write_ms / 1000;
    w.tv_usec = (write_ms % 1000) * 1000;

    bufferevent_set_timeouts(bev, read_ms ? &r : NULL, write_ms ? &w : NULL);
}


/*
 * Back-pressure: a side is read only while the other side's output is
 * under FARM_PROXY_HIGH, and the client also only while its unparsed
 * input is (a paused parser leaves pipelined bytes there).
 */
static void
farm_pc_flow(farm_pconn_t *pc)
{
    int  read_cl, read_up;

    read_cl = pc->state != FARM_PC_CLOSING
              && farm_len(pc->cl, 0) <= FARM_PROXY_HIGH
              && !(pc->up && farm_len(pc->up, 1) > FARM_PROXY_HIGH)
              && !(pc->upgrade && pc->state != FARM_PC_TUNNEL);

    read_up = pc->up && farm_len(pc->cl, 1) <= FARM_PROXY_HIGH;

    if (read_cl) {
        bufferevent_enable(pc->cl, EV_READ);

    } else {
        bufferevent_disable(pc->cl, EV_READ);
    }

    if (pc->up) {
        if (read_up) {
            bufferevent_enable(pc->up, EV_READ);

        } else {
            bufferevent_disable(pc->up, EV_READ);
        }
    }
}


/* Counts the request in inflight (once). */
static void
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
static void
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


static void
farm_pool_put(farm_proxy_t *p, struct bufferevent *bev)
{
    if (p->npool == FARM_PROXY_POOL || p->stopped) {
        bufferevent_free(bev);
        return;
    }

    bufferevent_setcb(bev, farm_pool_read, NULL, farm_pool_event, p);
    farm_timeouts(bev, FARM_PROXY_POOL_IDLE * 1000, 0);
    bufferevent_enable(bev, EV_READ);

    p->pool[p->npool++] = bev;
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

    out = bufferevent_get_output(pc->cl);
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
}


static void
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


static void
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
/* header rewriting, shared by both parsers                             */


static int
farm_hdr_is(const char *name, size_t n, const char *want)
{
    return n == strlen(want) && strncasecmp(name, want, n) == 0;
}


/* The header collected in field/value goes into hdrs, rewritten. */
static int
farm_pc_flush_header(farm_pconn_t *pc, int request)
{
    size_t       fn, vn;
    const char  *f, *v;

    fn = evbuffer_get_length(pc->field);
    vn = evbuffer_get_length(pc->value);
    f = (const char *) evbuffer_pullup(pc->field, -1);
    v = (const char *) evbuffer_pullup(pc->value, -1);

    pc->in_value = 0;

    if (f == NULL) {
        return 0;
    }

    if (farm_hdr_is(f, fn, "connection") || farm_hdr_is(f, fn, "keep-alive")
        || farm_hdr_is(f, fn, "proxy-connection")
        || farm_hdr_is(f, fn, "transfer-encoding")
        || farm_hdr_is(f, fn, "te") || farm_hdr_is(f, fn, "trailer"))
    {
        /* hop-by-hop: the agent frames each side itself */

    } else if (request && farm_hdr_is(f, fn, "x-forwarded-for")) {
        pc->had_xff = 1;
        evbuffer_add_printf(pc->hdrs, "X-Forwarded-For: %.*s, %s\r\n",
                            (int) vn, v ? v : "", pc->peer);

    } else {
        if (request && farm_hdr_is(f, fn, "x-forwarded-proto")) {
            pc->had_xfp = 1;
        }

        evbuffer_add(pc->hdrs, f, fn);
        evbuffer_add(pc->hdrs, ": ", 2);
        if (vn) {
            evbuffer_add(pc->hdrs, v, vn);
        }
        evbuffer_add(pc->hdrs, "\r\n", 2);
    }

    evbuffer_drain(pc->field, fn);
    evbuffer_drain(pc->value, vn);

    return 0;
}


static int
farm_pc_grow(farm_pconn_t *pc, size_t n)
{
    pc->head_bytes += n;

    if (pc->head_bytes > FARM_PROXY_HEAD_MAX) {
        pc->error = 431;
        return -1;
    }

    return 0;
}


static int
farm_on_field(http_parser *hp, const char *at, size_t n, int request)
{
    farm_pconn_t  *pc = hp->data;

    if (farm_pc_grow(pc, n) != 0) {
        return -1;
    }

    if (pc->in_value) {
        farm_pc_flush_header(pc, request);
    }

    return evbuffer_add(pc->field, at, n);
}


static int
farm_on_value(http_parser *hp, const char *at, size_t n)
{
    farm_pconn_t  *pc = hp->data;

    if (farm_pc_grow(pc, n) != 0) {
        return -1;
    }

    pc->in_value = 1;

    return evbuffer_add(pc->value, at, n);
}


static void
farm_pc_reset_head(farm_pconn_t *pc)
{
    evbuffer_drain(pc->hdrs, evbuffer_get_length(pc->hdrs));
    evbuffer_drain(pc->url, evbuffer_get_length(pc->url));
    evbuffer_drain(pc->field, evbuffer_get_length(pc->field));
    evbuffer_drain(pc->value, evbuffer_get_length(pc->value));
    pc->head_bytes = 0;
    pc->in_value = 0;
}


/* ------------------------------------------------------------------ */
/* the request side                                                      */


static int
farm_req_begin_cb(http_parser *hp)
{
    farm_pconn_t  *pc = hp->data;

    farm_pc_reset_head(pc);
    evbuffer_drain(pc->head, evbuffer_get_length(pc->head));

    pc->local = FARM_LOCAL_NONE;
    pc->req_body = 0;
    pc->req_chunked = 0;
    pc->req_done = 0;
    pc->resp_begun = 0;
    pc->resp_chunked = 0;
    pc->resp_eof = 0;
    pc->resp_done = 0;
    pc->upgrade = 0;
    pc->retried = 0;
    pc->head_req = 0;
    pc->had_xff = 0;
    pc->had_xfp = 0;
    pc->status = 0;

    return 0;
}


static int
farm_req_url_cb(http_parser *hp, const char *at, size_t n)
{
    farm_pconn_t  *pc = hp->data;

    if (farm_pc_grow(pc, n) != 0) {
        return -1;
    }

    return evbuffer_add(pc->url, at, n);
}


static int
farm_req_field_cb(http_parser *hp, const char *at, size_t n)
{
    return farm_on_field(hp, at, n, 1);
}


static int
farm_pc_send_head(farm_pconn_t *pc);


static int
farm_req_headers_cb(http_parser *hp)
{
    size_t          n, plen;
    const char     *url;
    farm_server_t  *s;
    farm_pconn_t   *pc = hp->data;

    s = pc->p->s;

    if (pc->in_value) {
        farm_pc_flush_header(pc, 1);
    }

    n = evbuffer_get_length(pc->url);
    url = (const char *) evbuffer_pullup(pc->url, -1);
    plen = sizeof(FARM_PROXY_PREFIX) - 1;

    pc->head_req = hp->method == HTTP_HEAD;
    pc->close = !http_should_keep_alive(hp);
    pc->req_chunked = (hp->flags & F_CHUNKED) != 0;
    pc->req_body = pc->req_chunked
                   || ((hp->flags & F_CONTENTLENGTH) && hp->content_length);

    if (url && n >= plen && memcmp(url, FARM_PROXY_PREFIX, plen) == 0) {

        if (farm_hdr_is(url + plen, n - plen, "health")) {
            pc->local = FARM_LOCAL_HEALTH;

        } else if (farm_hdr_is(url + plen, n - plen, "metrics")) {
            pc->local = FARM_LOCAL_METRICS;

        } else {
            pc->local = FARM_LOCAL_NOT_FOUND;
        }

    } else if (pc->p->stopped) {
        pc->local = FARM_LOCAL_STOPPED;

    } else if (s->record->max_conns && s->inflight >= s->record->max_conns) {
        pc->local = FARM_LOCAL_BUSY;
    }

    if (pc->local != FARM_LOCAL_NONE) {
        if (pc->req_body || hp->upgrade) {
            pc->close = 1;          /* answer now, do not read the body */
            pc->error = -1;
            return -1;
        }

        return 0;
    }

    pc->upgrade = hp->upgrade;

    evbuffer_add_printf(pc->head, "%s %.*s HTTP/1.1\r\n",
                        http_method_str((enum http_method) hp->method),
                        (int) n, url ? url : "/");
    evbuffer_add_buffer(pc->head, pc->hdrs);

    if (!pc->had_xff) {
        evbuffer_add_printf(pc->head, "X-Forwarded-For: %s\r\n", pc->peer);
    }

    if (!pc->had_xfp) {
        evbuffer_add_printf(pc->head, "X-Forwarded-Proto: http\r\n");
    }

    if (pc->upgrade) {
        evbuffer_add_printf(pc->head, "Connection: upgrade\r\n");
    }

    if (pc->req_chunked) {
        evbuffer_add_printf(pc->head, "Transfer-Encoding: chunked\r\n");
    }

    evbuffer_add(pc->head, "\r\n", 2);
    evbuffer_drain(pc->url, n);

    farm_pc_count(pc);
    pc->state = FARM_PC_FORWARD;

    /* from here the app's silence is what is timed, not the client's: a
     * client waiting for a long answer sends nothing */
    farm_timeouts(pc->cl, 0, pc->p->conf.timeout_ms);

    if (farm_pc_send_head(pc) != 0) {
        pc->error = 502;
        return -1;
    }

    return 0;
}


static int
farm_req_body_cb(http_parser *hp, const char *at, size_t n)
{
    farm_pconn_t     *pc = hp->data;
    struct evbuffer  *out;

    if (pc->local != FARM_LOCAL_NONE || pc->up == NULL) {
        return 0;
    }

    out = bufferevent_get_output(pc->up);

    if (pc->req_chunked) {
        evbuffer_add_printf(out, "%zx\r\n", n);
        evbuffer_add(out, at, n);
        return evbuffer_add(out, "\r\n", 2);
    }

    return evbuffer_add(out, at, n);
}


static int
farm_req_complete_cb(http_parser *hp)
{
    farm_pconn_t  *pc = hp->data;

    pc->req_done = 1;

    if (pc->local != FARM_LOCAL_NONE) {
        farm_pc_reply_local(pc);

        if (pc->close) {
            pc->state = FARM_PC_CLOSING;
            http_parser_pause(hp, 1);
        }

        return 0;
    }

    if (pc->req_chunked && pc->up) {
        evbuffer_add(bufferevent_get_output(pc->up), "0\r\n\r\n", 5);
    }

    /* the next request waits until this one is answered */
    http_parser_pause(hp, 1);

    return 0;
}


/* ------------------------------------------------------------------ */
/* the response side                                                     */


static int
farm_resp_begin_cb(http_parser *hp)
{
    farm_pconn_t  *pc = hp->data;

    farm_pc_reset_head(pc);

    return 0;
}


static int
farm_resp_status_cb(http_parser *hp, const char *at, size_t n)
{
    farm_pconn_t  *pc = hp->data;

    if (farm_pc_grow(pc, n) != 0) {
        return -1;
    }

    return evbuffer_add(pc->url, at, n);
}


static int
farm_resp_field_cb(http_parser *hp, const char *at, size_t n)
{
    return farm_on_field(hp, at, n, 0);
}


static int
farm_resp_headers_cb(http_parser *hp)
{
    int               rc;
    size_t            n;
    unsigned          code;
    const char       *reason;
    farm_server_t    *s;
    farm_pconn_t     *pc = hp->data;
    struct evbuffer  *out;

    s = pc->p->s;
    code = hp->status_code;
    out = bufferevent_get_output(pc->cl);

    if (pc->in_value) {
        farm_pc_flush_header(pc, 0);
    }

    n = evbuffer_get_length(pc->url);
    reason = (const char *) evbuffer_pullup(pc->url, -1);

    evbuffer_add_printf(out, "HTTP/1.1 %u %.*s\r\n", code, (int) n,
                        reason ? reason : "");
    evbuffer_add_buffer(out, pc->hdrs);
    evbuffer_add_printf(out, "X-Farm-Agent: %s\r\n", s->record->id);

    pc->status = code;
    pc->resp_begun = 1;
    rc = 0;

    if (code == 101 && pc->upgrade) {
        evbuffer_add_printf(out, "Connection: upgrade\r\n\r\n");
        s->codes[code]++;
        return 2;                   /* no body, no further answers */
    }

    if (code / 100 == 1) {
        evbuffer_add(out, "\r\n", 2);   /* 100 Continue and the like */
        return 0;
    }

    if (code >= 100 && code < 600) {
        s->codes[code]++;
    }

    if (pc->upgrade || !pc->req_done) {
        pc->close = 1;      /* refused upgrade, or answered before the body */
    }

    if (pc->head_req || code == 204 || code == 304) {
        rc = pc->head_req ? 1 : 0;

    } else if (hp->flags & F_CHUNKED) {
        pc->resp_chunked = 1;
        evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");

    } else if (!(hp->flags & F_CONTENTLENGTH)) {
        pc->resp_eof = 1;

        if (pc->req.http_major == 1 && pc->req.http_minor >= 1) {
            pc->resp_chunked = 1;
            evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");

        } else {
            pc->close = 1;
        }
    }

    if (s->draining || pc->p->stopped) {
        pc->close = 1;
    }

    if (pc->close) {
        evbuffer_add_printf(out, "Connection: close\r\n");

    } else if (pc->req.http_major == 1 && pc->req.http_minor == 0) {
        evbuffer_add_printf(out, "Connection: keep-alive\r\n");
    }

    evbuffer_add(out, "\r\n", 2);

    return rc;
}


static int
farm_resp_body_cb(http_parser *hp, const char *at, size_t n)
{
    farm_pconn_t     *pc = hp->data;
    struct evbuffer  *out;

    out = bufferevent_get_output(pc->cl);

    if (pc->resp_chunked) {
        evbuffer_add_printf(out, "%zx\r\n", n);
        evbuffer_add(out, at, n);
        return evbuffer_add(out, "\r\n", 2);
    }

    return evbuffer_add(out, at, n);
}


static int
farm_resp_complete_cb(http_parser *hp)
{
    farm_pconn_t  *pc = hp->data;

    if (hp->status_code / 100 == 1 && hp->status_code != 101) {
        return 0;                   /* the real answer follows */
    }

    if (pc->resp_chunked) {
        evbuffer_add(bufferevent_get_output(pc->cl), "0\r\n\r\n", 5);
    }

    pc->resp_done = 1;
    http_parser_pause(hp, 1);

    return 0;
}


/* ------------------------------------------------------------------ */
/* the connection to the app                                             */


static void
farm_pc_up_attach(farm_pconn_t *pc, struct bufferevent *up)
{
    farm_proxy_t  *p = pc->p;

    pc->up = up;
    bufferevent_setcb(up, farm_pc_up_read, farm_pc_up_write,
                      farm_pc_up_event, pc);
    bufferevent_setwatermark(up, EV_WRITE, FARM_PROXY_LOW, 0);
    farm_timeouts(up, p->conf.timeout_ms,
                  pc->connected ? p->conf.timeout_ms
                                : p->conf.connect_timeout_ms);
    bufferevent_enable(up, EV_READ | EV_WRITE);

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

    evbuffer_add(bufferevent_get_output(up),
                 evbuffer_pullup(pc->head, -1),
                 evbuffer_get_length(pc->head));

    return 0;
}


static int
farm_pc_send_head(farm_pconn_t *pc)
{
    return farm_pc_send_head_on(pc, 0);
}


/* Lets go of the app connection: back to the pool, or closed. */
static void
farm_pc_up_release(farm_pconn_t *pc, int keep)
{
    struct bufferevent  *up = pc->up;

    if (up == NULL) {
        return;
    }

    pc->up = NULL;

    if (keep && farm_len(up, 0) == 0 && farm_len(up, 1) == 0) {
        farm_pool_put(pc->p, up);

    } else {
        bufferevent_free(up);
    }
}


/* A tunnel ends: it counted as a request in flight, now served. */
static void
farm_pc_tunnel_end(farm_pconn_t *pc)
{
    pc->p->ntunnels--;
    pc->state = FARM_PC_CLOSING;
    farm_pc_uncount(pc, 1);

    farm_log_debug("tunnel closed for %s", pc->peer);
}


/* Closes when the output is written (state CLOSING), or at once. */
static void
farm_pc_close_soon(farm_pconn_t *pc)
{
    if (pc->state == FARM_PC_TUNNEL) {
        farm_pc_tunnel_end(pc);
    }

    pc->state = FARM_PC_CLOSING;
    bufferevent_disable(pc->cl, EV_READ);

    if (farm_len(pc->cl, 1) == 0) {
        farm_pc_free(pc);
        return;
    }

    bufferevent_setwatermark(pc->cl, EV_WRITE, 0, 0);
    farm_timeouts(pc->cl, 0, pc->p->conf.timeout_ms);
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

    /* bytes that came behind the heads belong to the new protocol */
    evbuffer_add_buffer(bufferevent_get_output(pc->up),
                        bufferevent_get_input(pc->cl));
    evbuffer_add_buffer(bufferevent_get_output(pc->cl),
                        bufferevent_get_input(pc->up));

    farm_timeouts(pc->up, 0, 0);
    farm_timeouts(pc->cl, 0, 0);

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
    farm_timeouts(pc->cl, pc->p->conf.idle_ms, pc->p->conf.timeout_ms);
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
farm_pc_up_read(struct bufferevent *bev, void *data)
{
    farm_pconn_t  *pc = data;

    (void) bev;

    if (pc->state == FARM_PC_TUNNEL) {
        evbuffer_add_buffer(bufferevent_get_output(pc->cl),
                            bufferevent_get_input(pc->up));
        farm_pc_flow(pc);
        return;
    }

    farm_pc_up_parse(pc, 0);
}


static void
farm_pc_up_write(struct bufferevent *bev, void *data)
{
    farm_pconn_t  *pc = data;

    if (pc->state != FARM_PC_TUNNEL) {
        /* the app takes the body: it is alive, restart its clock */
        farm_timeouts(bev, pc->p->conf.timeout_ms, pc->p->conf.timeout_ms);
    }

    farm_pc_flow(pc);
}


static void
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
        farm_timeouts(pc->up, p->conf.timeout_ms, p->conf.timeout_ms);
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


/* ------------------------------------------------------------------ */
/* the client connection                                                 */


/* Parses what the client sent, as far as the state allows. */
static void
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
farm_pc_client_read(struct bufferevent *bev, void *data)
{
    farm_pconn_t  *pc = data;

    if (pc->state == FARM_PC_TUNNEL) {
        evbuffer_add_buffer(bufferevent_get_output(pc->up),
                            bufferevent_get_input(bev));
        farm_pc_flow(pc);
        return;
    }

    if (pc->state == FARM_PC_CLOSING) {
        evbuffer_drain(bufferevent_get_input(bev), farm_len(bev, 0));
        return;
    }


    farm_pc_input(pc);
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


static void
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

    bufferevent_free(pc->cl);
    evbuffer_free(pc->hdrs);
    evbuffer_free(pc->head);
    evbuffer_free(pc->url);
    evbuffer_free(pc->field);
    evbuffer_free(pc->value);
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
    pc->hdrs = evbuffer_new();
    pc->head = evbuffer_new();
    pc->url = evbuffer_new();
    pc->field = evbuffer_new();
    pc->value = evbuffer_new();
    farm_nodelay(fd);
    pc->cl = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);

    if (pc->hdrs == NULL || pc->head == NULL || pc->url == NULL
        || pc->field == NULL || pc->value == NULL || pc->cl == NULL)
    {
        farm_log_error("out of memory for a connection");

        if (pc->cl) {
            bufferevent_free(pc->cl);

        } else {
            evutil_closesocket(fd);
        }

        if (pc->hdrs) evbuffer_free(pc->hdrs);
        if (pc->head) evbuffer_free(pc->head);
        if (pc->url) evbuffer_free(pc->url);
        if (pc->field) evbuffer_free(pc->field);
        if (pc->value) evbuffer_free(pc->value);
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

    bufferevent_setcb(pc->cl, farm_pc_client_read, farm_pc_client_write,
                      farm_pc_client_event, pc);
    bufferevent_setwatermark(pc->cl, EV_WRITE, FARM_PROXY_LOW, 0);
    farm_timeouts(pc->cl, p->conf.idle_ms, p->conf.timeout_ms);
    bufferevent_enable(pc->cl, EV_READ | EV_WRITE);
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
