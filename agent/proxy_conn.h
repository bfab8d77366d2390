/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The reverse proxy's insides, shared by its three files and by nothing
 * else (the rest of the agent uses proxy.h): a client connection
 * (farm_pconn_t) and the proxy's state.
 *
 *   proxy.c        the client connection: accepting, reading and parsing
 *                  what the client sends, back-pressure, the agent's own
 *                  answers, closing; the proxy's public functions
 *   proxy_parse.c  http_parser's callbacks for requests and responses,
 *                  and the header rewriting they share
 *   proxy_app.c    the app side: connecting or reusing a pooled
 *                  connection, sending the head, reading the answer, and
 *                  the tunnel after a 101
 */

#ifndef FARM_PROXY_CONN_H
#define FARM_PROXY_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <http_parser.h>

#include "proxy.h"


#define FARM_PROXY_HIGH      (256 * 1024)   /* output held before pausing */
#define FARM_PROXY_LOW       (64 * 1024)    /* output that resumes */
#define FARM_PROXY_HEAD_MAX  (64 * 1024)    /* request or response head */
#define FARM_PROXY_POOL      64             /* idle app connections kept */
#define FARM_PROXY_POOL_IDLE 30             /* s an idle one is kept */
#define FARM_PROXY_READ      (16 * 1024)    /* bytes asked of one read */


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

/* A growing byte string, for heads: cheaper than an evbuffer per header. */
typedef struct {
    char                 *data;
    size_t                len;
    size_t                cap;
} farm_sb_t;

int farm_sb_grow(farm_sb_t *sb, size_t n);

/*
 * Appends n bytes to sb; it grows by doubling (farm_sb_grow).  Inline: a
 * head is put together from many small pieces, and a call per piece cost
 * more than the copies.  Returns 0 or -1.
 */
static inline int
farm_sb_add(farm_sb_t *sb, const void *p, size_t n)
{
    if (n > sb->cap - sb->len && farm_sb_grow(sb, n) != 0) {
        return -1;
    }

    if (n) {
        memcpy(sb->data + sb->len, p, n);
        sb->len += n;
    }

    return 0;
}

/*
 * Reading one side's socket.  The bufferevents write, time writes and
 * connect; reading is the proxy's own (farm_rd_read): libevent's
 * evbuffer_read asks the kernel how much is there (ioctl FIONREAD) before
 * every read, one system call in four per forwarded request.  The bytes go
 * to the bufferevent's input all the same.  The read timeout (idle between
 * bytes read, as a bufferevent's) is the event's.
 */
typedef struct {
    struct event         *ev;           /* EV_READ | EV_PERSIST */
    struct timeval        tv;
    unsigned              timed:1;      /* tv applies */
    unsigned              on:1;         /* ev is added */
} farm_rd_t;

typedef struct farm_pconn_s  farm_pconn_t;

struct farm_pconn_s {
    farm_pconn_t         *prev;
    farm_pconn_t         *next;
    farm_proxy_t         *p;
    struct bufferevent   *cl;           /* the client */
    struct bufferevent   *up;           /* the app, while forwarding */
    farm_rd_t             cl_rd;        /* reads cl */
    farm_rd_t             up_rd;        /* reads up, while there is one */
    http_parser           req;
    http_parser           resp;
    farm_sb_t             hdrs;         /* headers being rewritten */
    farm_sb_t             head;         /* request head kept for a retry */
    farm_sb_t             url;          /* request URL, response reason */
    farm_sb_t             field;
    farm_sb_t             value;
    struct evbuffer      *to_client;    /* staged for the client */
    struct evbuffer      *to_app;       /* staged for the app */
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
    unsigned long            activity;      /* reads and accepts */
};


/* proxy.c */
extern http_parser_settings  farm_req_settings;
extern http_parser_settings  farm_resp_settings;

void farm_nodelay(evutil_socket_t fd);
size_t farm_len(struct bufferevent *bev, int output);
void farm_timeouts(struct bufferevent *bev, farm_rd_t *rd, int64_t read_ms,
    int64_t write_ms);
void farm_rd_set(farm_rd_t *rd, int on);
short farm_rd_ready(farm_rd_t *rd, evutil_socket_t fd, short what,
    struct bufferevent *bev);
void farm_pc_flow(farm_pconn_t *pc);
void farm_pc_count(farm_pconn_t *pc);
void farm_pc_uncount(farm_pconn_t *pc, int served);
void farm_pc_reply_error(farm_pconn_t *pc, int code, const char *message,
    const char *extra);
void farm_pc_reply_local(farm_pconn_t *pc);
void farm_pc_input(farm_pconn_t *pc);
int farm_send(struct bufferevent *bev, struct evbuffer *stage);
void farm_pc_send_client(farm_pconn_t *pc);
void farm_pc_send_app(farm_pconn_t *pc);
void farm_pc_free(farm_pconn_t *pc);

/* proxy_parse.c (and farm_sb_grow above) */
void farm_sb_free(farm_sb_t *sb);
int farm_on_value(http_parser *hp, const char *at, size_t n);
int farm_req_begin_cb(http_parser *hp);
int farm_req_url_cb(http_parser *hp, const char *at, size_t n);
int farm_req_field_cb(http_parser *hp, const char *at, size_t n);
int farm_req_headers_cb(http_parser *hp);
int farm_req_body_cb(http_parser *hp, const char *at, size_t n);
int farm_req_complete_cb(http_parser *hp);
int farm_resp_begin_cb(http_parser *hp);
int farm_resp_status_cb(http_parser *hp, const char *at, size_t n);
int farm_resp_field_cb(http_parser *hp, const char *at, size_t n);
int farm_resp_headers_cb(http_parser *hp);
int farm_resp_body_cb(http_parser *hp, const char *at, size_t n);
int farm_resp_complete_cb(http_parser *hp);

/* proxy_app.c */
int farm_pc_send_head(farm_pconn_t *pc);
void farm_pc_up_release(farm_pconn_t *pc, int keep);
void farm_pc_tunnel_end(farm_pconn_t *pc);
void farm_pc_close_soon(farm_pconn_t *pc);
void farm_pc_up_readable(evutil_socket_t fd, short what, void *data);
void farm_pc_up_write(struct bufferevent *bev, void *data);
void farm_pc_up_event(struct bufferevent *bev, short what, void *data);

#endif /* FARM_PROXY_CONN_H */
