/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The listener, request bookkeeping and routing.
 *
 * Request lifetime.  evhttp frees a request itself once its reply is
 * written (after the on_complete callback) or when its connection dies
 * (after the connection's close callback).  Every counted request has a
 * farm_req_t that ends in exactly one of those two callbacks: on_complete
 * for a written reply, the close callback for everything else.  A request
 * that evhttp detached from its dying connection (evhttp_request_get_
 * connection() no longer returns it) is freed here instead.
 */

#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "server.h"


static void
farm_req_end(farm_req_t *fr, int served)
{
    farm_server_t  *s = fr->server;

    if (fr->prev) {
        fr->prev->next = fr->next;

    } else {
        s->reqs = fr->next;
    }

    if (fr->next) {
        fr->next->prev = fr->prev;
    }

    if (fr->timer) {
        event_free(fr->timer);
    }

    if (fr->watch) {
        event_free(fr->watch);
    }

    s->inflight--;

    if (served) {
        s->served++;

    } else {
        s->cut_off++;
    }

    free(fr);

    if (s->idle) {
        s->idle(s->idle_data);
    }
}


/* evhttp wrote the reply: the request is done. */
static void
farm_req_complete(struct evhttp_request *req, void *data)
{
    farm_req_t  *fr = data;

    (void) req;

    farm_req_end(fr, 1);
}


/* The connection is going away; end the requests still on it. */
static void
farm_server_conn_closed(struct evhttp_connection *evcon, void *data)
{
    farm_req_t     *fr, *next;
    const char     *uri;
    farm_server_t  *s = data;

    for (fr = s->reqs; fr; fr = next) {
        next = fr->next;

        if (fr->evcon != evcon) {
            continue;
        }

        uri = evhttp_request_get_uri(fr->req);
        farm_log_debug("connection closed before \"%.200s\" was answered",
                       uri ? uri : "?");

        if (evhttp_request_get_connection(fr->req) != evcon) {
            evhttp_request_free(fr->req);   /* detached: ours to free */
        }

        farm_req_end(fr, 0);
    }
}


farm_req_t *
farm_req_begin(farm_server_t *s, struct evhttp_request *req)
{
    farm_req_t  *fr;

    fr = calloc(1, sizeof(farm_req_t));
    if (fr == NULL) {
        farm_log_error("out of memory for a request");
        farm_server_reply_json(s, req, 500, NULL);
        return NULL;
    }

    fr->server = s;
    fr->req = req;
    fr->evcon = evhttp_request_get_connection(req);

    fr->next = s->reqs;
    if (s->reqs) {
        s->reqs->prev = fr;
    }
    s->reqs = fr;

    if (++s->inflight > s->inflight_peak) {
        s->inflight_peak = s->inflight;
    }

    evhttp_request_set_on_complete_cb(req, farm_req_complete, fr);
    evhttp_connection_set_closecb(fr->evcon, farm_server_conn_closed, s);

    return fr;
}


void
farm_server_reply(farm_server_t *s, struct evhttp_request *req, int code,
    const char *type, struct evbuffer *body)
{
    struct evkeyvalq  *out;

    out = evhttp_request_get_output_headers(req);

    evhttp_add_header(out, "X-Farm-Agent", s->record->id);

    if (type) {
        evhttp_add_header(out, "Content-Type", type);
    }

    if (code >= 100 && code < 600) {
        s->codes[code]++;
    }

    evhttp_send_reply(req, code, NULL, body);
}


void
farm_server_reply_json(farm_server_t *s, struct evhttp_request *req,
    int code, json_t *obj)
{
    char             *text;
    struct evbuffer  *body;

    text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER
                                 | JSON_REAL_PRECISION(12))
               : NULL;
    json_decref(obj);

    body = text ? evbuffer_new() : NULL;

    if (body == NULL || evbuffer_add(body, text, strlen(text)) != 0
        || evbuffer_add(body, "\n", 1) != 0)
    {
        farm_log_error("out of memory for a response");
        free(text);

        if (body) {
            evbuffer_free(body);
        }

        farm_server_reply(s, req, 500, NULL, NULL);
        return;
    }

    free(text);

    farm_server_reply(s, req, code, "application/json", body);
    evbuffer_free(body);
}


void
farm_server_error(farm_server_t *s, struct evhttp_request *req, int code,
    const char *message)
{
    farm_server_reply_json(s, req, code,
                           json_pack("{s:s}", "error", message));
}


static void
farm_server_handler(struct evhttp_request *req, void *data)
{
    farm_req_t                *fr;
    const char                *path;
    farm_server_t             *s = data;
    const struct evhttp_uri   *uri;

    uri = evhttp_request_get_evhttp_uri(req);
    path = uri ? evhttp_uri_get_path(uri) : NULL;

    if (path == NULL || path[0] == '\0') {
        path = "/";
    }

    /* /health and /metrics stay cheap and never count as load */

    if (strcmp(path, "/health") == 0) {
        farm_endpoint_health(s, req);
        return;
    }

    if (strcmp(path, "/metrics") == 0) {
        farm_endpoint_metrics(s, req);
        return;
    }

    if (s->record->max_conns && s->inflight >= s->record->max_conns) {
        s->rejected++;
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Retry-After", "1");
        farm_server_error(s, req, 503, "agent at capacity");
        return;
    }

    fr = farm_req_begin(s, req);
    if (fr == NULL) {
        return;
    }

    if (strcmp(path, "/work") == 0) {
        farm_endpoint_work(s, fr);

    } else if (strcmp(path, "/echo") == 0) {
        farm_endpoint_echo(s, fr);

    } else {
        farm_server_error(s, req, 404, "not found");
    }
}



/*
 * libevent asks for the bufferevent of every accepted connection: the one
 * place that sees each connection once, so it counts them (a gateway's
 * keepalive shows as few connections for many requests).
 */
static struct bufferevent *
farm_server_new_connection(struct event_base *base, void *arg)
{
    farm_server_t  *s = arg;

    s->connections++;

    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

farm_server_t *
farm_server_create(struct event_base *base, const char *host, unsigned port,
    const farm_record_t *record, const farm_proxy_conf_t *proxy, char *err)
{
    int                           e;
    farm_server_t                *s;
    socklen_t                     len;
    evutil_socket_t               fd;
    struct sockaddr_storage       sa;
    struct evhttp_bound_socket   *bound;

    s = calloc(1, sizeof(farm_server_t));
    if (s == NULL) {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        return NULL;
    }

    s->base = base;
    s->record = record;
    s->started_ms = farm_clock_ms();

    if (proxy) {
        s->proxy = farm_proxy_create(s, host, port, proxy, &s->port, err);

        if (s->proxy == NULL) {
            free(s);
            return NULL;
        }

        return s;
    }

    s->http = evhttp_new(base);
    if (s->http == NULL) {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        free(s);
        return NULL;
    }

    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST
                               | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT
                               | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS
                               | EVHTTP_REQ_PATCH);
    /*
     * evhttp reads a whole body into memory before the handler runs, and
     * the built-in endpoints read none: bodies over 64 KB get 413 before
     * they are read, and heads over 16 KB are refused, so one client
     * cannot make the agent hold megabytes per request.
     */
    evhttp_set_max_headers_size(s->http, FARM_HEAD_MAX);
    evhttp_set_max_body_size(s->http, FARM_BODY_MAX);
    evhttp_set_gencb(s->http, farm_server_handler, s);
    evhttp_set_bevcb(s->http, farm_server_new_connection, s);

    bound = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t) port);
    if (bound == NULL) {
        e = EVUTIL_SOCKET_ERROR();
        snprintf(err, FARM_ERR_MAX, "cannot listen on %s%s%s:%u: %s",
                 strchr(host, ':') ? "[" : "", host,
                 strchr(host, ':') ? "]" : "", port,
                 e ? evutil_socket_error_to_string(e) : "bind failed");
        evhttp_free(s->http);
        free(s);
        return NULL;
    }

    fd = evhttp_bound_socket_get_fd(bound);
    len = sizeof(sa);

    if (getsockname(fd, (struct sockaddr *) &sa, &len) == 0) {
        s->port = ntohs(sa.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *) &sa)->sin6_port
                        : ((struct sockaddr_in *) &sa)->sin_port);

    } else {
        s->port = port;
    }

    return s;
}


void
farm_server_stop_accepting(farm_server_t *s)
{
    if (s->proxy) {
        farm_proxy_stop_accepting(s->proxy);
    }
}


void
farm_server_free(farm_server_t *s)
{
    /* closing the connections ends every request through conn_closed */
    s->idle = NULL;

    if (s->proxy) {
        farm_proxy_free(s->proxy);

    } else {
        evhttp_free(s->http);
    }

    free(s);
}
