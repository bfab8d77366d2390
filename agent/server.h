/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The agent's HTTP server.  Without --app: libevent's evhttp (HTTP/1.1,
 * keep-alive) serves the built-in endpoints; endpoints.c answers /health,
 * /work, /echo and /metrics.  With --app, proxy.c owns the listener and
 * forwards everything but /_farm/health and /_farm/metrics to the app.
 * server.c owns the bookkeeping of requests in progress and the counters
 * in both modes.
 */

#ifndef FARM_SERVER_H
#define FARM_SERVER_H

#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "farm_record.h"
#include "appcheck.h"
#include "proxy.h"
#include "registrar.h"


#define FARM_WORK_MS_MAX  600000
#define FARM_HEAD_MAX     (16 * 1024)   /* built-in endpoints: request head */
#define FARM_BODY_MAX     (64 * 1024)   /* built-in endpoints: body */


typedef struct farm_req_s     farm_req_t;

/* Called after a request that counted in inflight has ended. */
typedef void (*farm_server_idle_pt)(void *data);

struct farm_server_s {
    struct event_base         *base;
    struct evhttp             *http;            /* built-in endpoints */
    farm_proxy_t              *proxy;           /* --app: forwarding */
    farm_app_t                *app;             /* --app: its health */
    const char                *app_url;
    unsigned                   port;            /* bound port */

    const farm_record_t       *record;          /* owned by main */
    const farm_registrar_t    *registrar;       /* NULL: standalone */
    farm_server_idle_pt        idle;
    void                      *idle_data;
    int                        draining;

    farm_req_t                *reqs;            /* in progress, linked */
    unsigned                   inflight;
    unsigned                   inflight_peak;
    unsigned long              served;          /* answered, counted ones */
    unsigned long              rejected;        /* 503 at capacity */
    unsigned long              cut_off;         /* client left or shutdown */
    unsigned long              connections;     /* accepted, ever */
    unsigned long              codes[600];      /* responses by status */

    int                        auto_weight;     /* --auto-weight */
    unsigned                   weight_now;      /* reported, 0: --weight */
    double                     spare;           /* smoothed, 0..1 */
    int                        spare_set;
    int64_t                    started_ms;
};

/*
 * A request that counts in inflight: from farm_req_begin until its reply
 * is written (or its connection dies), when farm_req_end frees it.
 */
struct farm_req_s {
    farm_req_t                *prev;
    farm_req_t                *next;
    farm_server_t             *server;
    struct evhttp_request     *req;
    struct evhttp_connection  *evcon;
    struct event              *timer;           /* /work: the answer */
    struct event              *watch;           /* /work: client leaving */
    unsigned                   ms;
    unsigned                   status;
};


/*
 * Binds host:port (port 0: any) and serves on base.  record must point to
 * the agent's record, complete before the loop runs.  Returns the server,
 * or NULL with a reason in err (FARM_ERR_MAX bytes).
 */
farm_server_t *farm_server_create(struct event_base *base, const char *host,
    unsigned port, const farm_record_t *record,
    const farm_proxy_conf_t *proxy, char *err);

/* After the drain's linger: no new connections or requests (--app). */
void farm_server_stop_accepting(farm_server_t *s);

/* Closes every connection, cutting off requests in progress, and frees s. */
void farm_server_free(farm_server_t *s);

/* Starts tracking req; NULL when out of memory (req is then answered). */
farm_req_t *farm_req_begin(farm_server_t *s, struct evhttp_request *req);

/*
 * Sends a response with the agent's headers and counts it.  body may be
 * NULL; its content is moved out, the caller still frees the buffer.
 */
void farm_server_reply(farm_server_t *s, struct evhttp_request *req,
    int code, const char *type, struct evbuffer *body);

/* Sends obj as compact JSON and releases obj (may be NULL: then 500). */
void farm_server_reply_json(farm_server_t *s, struct evhttp_request *req,
    int code, json_t *obj);

/* Sends {"error": message}. */
void farm_server_error(farm_server_t *s, struct evhttp_request *req,
    int code, const char *message);

/* endpoints.c */

/* The /health answer and its status code (200, or 503 while draining or
 * while the app is down); NULL when out of memory. */
json_t *farm_health_json(farm_server_t *s, int *code);

/*
 * --auto-weight, once a second: smooths the spare room (CPU, and
 * --max-conns slots) and moves the reported weight when it changed by a
 * tenth of --weight or more, never under --weight/10 (at least 1).
 */
void farm_load_tick(farm_server_t *s);

/* Sets "load1", "cpus" and "mem_available_mb" (strings) in meta. */
void farm_load_to_meta(json_t *meta);

/* The weight /health reports. */
unsigned farm_weight_now(farm_server_t *s);

/* Appends the /metrics text to b; returns 0 or -1. */
int farm_metrics_text(farm_server_t *s, struct evbuffer *b);

void farm_endpoint_health(farm_server_t *s, struct evhttp_request *req);
void farm_endpoint_metrics(farm_server_t *s, struct evhttp_request *req);
void farm_endpoint_work(farm_server_t *s, farm_req_t *fr);
void farm_endpoint_echo(farm_server_t *s, farm_req_t *fr);

#endif /* FARM_SERVER_H */
