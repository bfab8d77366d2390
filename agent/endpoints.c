/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The endpoints: /health, /metrics (never counted as load), /work and /echo.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "options.h"
#include "server.h"


static double
farm_uptime(farm_server_t *s)
{
    return (farm_clock_ms() - s->started_ms) / 1000.0;
}


static int
farm_registered(farm_server_t *s)
{
    return farm_registrar_state(s->registrar) == FARM_REG_REGISTERED;
}


/* What the machine and the agent use, for /health and /metrics. */
typedef struct {
    double     load1;           /* 1-minute load average */
    long       cpus;            /* online */
    double     busy;            /* load1 / cpus, 0 when unknown */
    long long  mem_total_kb;
    long long  mem_available_kb;
    long long  rss_kb;          /* this agent */
} farm_load_t;


/* Reads /proc; fields it cannot read stay 0. */
static void
farm_load_read(farm_load_t *l)
{
    char       line[256];
    long       pages, rss;
    FILE      *f;
    long long  v;

    memset(l, 0, sizeof(farm_load_t));

    l->cpus = sysconf(_SC_NPROCESSORS_ONLN);

    f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l->load1) != 1) {
            l->load1 = 0;
        }
        fclose(f);
    }

    if (l->cpus > 0) {
        l->busy = l->load1 / (double) l->cpus;
    }

    f = fopen("/proc/meminfo", "r");
    if (f) {
        while (fgets(line, sizeof(line), f)) {
            if (sscanf(line, "MemTotal: %lld kB", &v) == 1) {
                l->mem_total_kb = v;

            } else if (sscanf(line, "MemAvailable: %lld kB", &v) == 1) {
                l->mem_available_kb = v;
            }
        }
        fclose(f);
    }

    f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) == 2) {
            l->rss_kb = (long long) rss * (sysconf(_SC_PAGESIZE) / 1024);
        }
        fclose(f);
    }
}


#define FARM_SPARE_ALPHA  0.5         /* weight of the newest sample */


void
farm_load_tick(farm_server_t *s)
{
    double                spare, conn;
    unsigned              base, floor_w, step, target, now;
    farm_load_t           l;
    const farm_record_t  *r = s->record;

    farm_load_read(&l);

    spare = l.cpus > 0 ? 1.0 - l.busy : 1.0;

    if (r->max_conns) {
        conn = 1.0 - (double) s->inflight / (double) r->max_conns;
        spare = conn < spare ? conn : spare;
    }

    spare = spare < 0 ? 0 : spare > 1 ? 1 : spare;

    if (!s->spare_set) {
        s->spare = spare;
        s->spare_set = 1;

    } else {
        s->spare += FARM_SPARE_ALPHA * (spare - s->spare);
    }

    base = r->weight;
    floor_w = (base + 9) / 10;
    step = floor_w;

    target = (unsigned) (base * s->spare + 0.5);
    target = target < floor_w ? floor_w : target > base ? base : target;

    now = s->weight_now ? s->weight_now : base;

    /* hysteresis: small moves are not worth a change at the gateway */
    if (target + step <= now || now + step <= target
        || target == floor_w || target == base)
    {
        s->weight_now = target;
    }
}


void
farm_load_to_meta(json_t *meta)
{
    char         v[32];
    farm_load_t  l;

    farm_load_read(&l);

    snprintf(v, sizeof(v), "%.2f", l.load1);
    json_object_set_new(meta, "load1", json_string(v));
    snprintf(v, sizeof(v), "%ld", l.cpus);
    json_object_set_new(meta, "cpus", json_string(v));
    snprintf(v, sizeof(v), "%lld", l.mem_available_kb / 1024);
    json_object_set_new(meta, "mem_available_mb", json_string(v));
}


unsigned
farm_weight_now(farm_server_t *s)
{
    return s->auto_weight && s->weight_now ? s->weight_now
                                           : s->record->weight;
}


/* What /health says the agent is: "up", "draining" or "app-down". */
static const char *
farm_status_name(farm_server_t *s)
{
    if (s->draining) {
        return "draining";
    }

    if (s->app && s->app->state != FARM_APP_UP) {
        return "app-down";
    }

    return "up";
}


json_t *
farm_health_json(farm_server_t *s, int *code)
{
    int                   down;
    json_t               *caps, *obj, *app;
    unsigned              i;
    farm_load_t           l;
    const farm_record_t  *r = s->record;

    caps = json_array();

    for (i = 0; caps && i < r->ncaps; i++) {
        json_array_append_new(caps, json_string(r->caps[i]));
    }

    farm_load_read(&l);

    /*
     * An app that is down is reported as draining too: the gateway then
     * stops sending requests at its next check, whatever its fall= says.
     */
    down = s->app && s->app->state != FARM_APP_UP;
    *code = s->draining || down ? 503 : 200;

    obj = json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:f, s:s, s:o, s:I,"
                    " s:I, s:b, s:s, s:{s:f, s:I, s:f, s:I, s:I, s:I}}",
                    "id", r->id,
                    "service", r->service,
                    "status", farm_status_name(s),
                    "draining", s->draining || down,
                    "inflight", (json_int_t) s->inflight,
                    "inflight_peak", (json_int_t) s->inflight_peak,
                    "served", (json_int_t) s->served,
                    "uptime", farm_uptime(s),
                    "region", r->region,
                    "caps", caps,
                    "weight", (json_int_t) farm_weight_now(s),
                    "max_conns", (json_int_t) r->max_conns,
                    "registered", farm_registered(s),
                    "version", FARM_AGENT_VERSION,
                    "load",
                      "load1", l.load1,
                      "cpus", (json_int_t) l.cpus,
                      "busy", l.busy,
                      "mem_total_kb", (json_int_t) l.mem_total_kb,
                      "mem_available_kb", (json_int_t) l.mem_available_kb,
                      "rss_kb", (json_int_t) l.rss_kb);

    if (obj && s->app) {
        app = json_pack("{s:s, s:s, s:I, s:I, s:s}",
                        "url", s->app_url ? s->app_url : "",
                        "status", farm_app_state_name(s->app->state),
                        "checks", (json_int_t) s->app->checks,
                        "failed", (json_int_t) s->app->failed,
                        "last_error", s->app->last_error);
        json_object_set_new(obj, "app", app);
    }

    return obj;
}


void
farm_endpoint_health(farm_server_t *s, struct evhttp_request *req)
{
    int      code;
    json_t  *obj;

    obj = farm_health_json(s, &code);

    farm_server_reply_json(s, req, code, obj);
}


/* Appends one metric with its HELP and TYPE lines; returns 0 or -1. */
static int
farm_metric(struct evbuffer *b, const char *name, const char *type,
    const char *help, double value)
{
    return evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n",
                               name, help, name, type, name, value) < 0
           ? -1 : 0;
}


int
farm_metrics_text(farm_server_t *s, struct evbuffer *b)
{
    int                   rc, code;
    farm_load_t           l;
    const farm_record_t  *r = s->record;

    farm_load_read(&l);

    rc = evbuffer_add_printf(b,
             "# HELP farm_agent_requests_total Responses sent, by status "
             "code.\n# TYPE farm_agent_requests_total counter\n") < 0;

    for (code = 100; code < 600; code++) {
        if (s->codes[code]) {
            rc |= evbuffer_add_printf(b, "farm_agent_requests_total"
                                      "{code=\"%d\"} %lu\n", code,
                                      s->codes[code]) < 0;
        }
    }

    /* ids, services and regions cannot hold characters that need
     * escaping in a label value */

    rc |= farm_metric(b, "farm_agent_inflight", "gauge",
                      "Requests in progress, /health and /metrics aside.",
                      s->inflight);
    rc |= farm_metric(b, "farm_agent_inflight_peak", "gauge",
                      "Most requests in progress at once.",
                      s->inflight_peak);
    rc |= farm_metric(b, "farm_agent_served_total", "counter",
                      "Requests answered, /health and /metrics aside.",
                      s->served);
    rc |= farm_metric(b, "farm_agent_rejected_total", "counter",
                      "Requests refused with 503 at --max-conns.",
                      s->rejected);
    rc |= farm_metric(b, "farm_agent_cut_off_total", "counter",
                      "Requests that ended without a written reply "
                      "(client left, connection error, shutdown).",
                      s->cut_off);
    rc |= farm_metric(b, "farm_agent_connections_total", "counter",
                      "Connections accepted.", s->connections);
    rc |= farm_metric(b, "farm_agent_uptime_seconds", "gauge",
                      "Seconds since the agent started.", farm_uptime(s));
    rc |= farm_metric(b, "farm_agent_registered", "gauge",
                      "1 while the registry holds this agent's record.",
                      farm_registered(s));
    rc |= farm_metric(b, "farm_agent_registrations_total", "counter",
                      "Registrations confirmed by the registry.",
                      farm_registrar_registrations(s->registrar));
    rc |= farm_metric(b, "farm_agent_draining", "gauge",
                      "1 while the agent drains (SIGTERM or SIGUSR1).",
                      s->draining);
    rc |= farm_metric(b, "farm_agent_weight", "gauge",
                      "The weight /health reports (--auto-weight moves it).",
                      farm_weight_now(s));
    rc |= farm_metric(b, "farm_agent_load1", "gauge",
                      "The machine's 1-minute load average.", l.load1);
    rc |= farm_metric(b, "farm_agent_cpus", "gauge",
                      "Online CPUs.", (double) l.cpus);
    rc |= farm_metric(b, "farm_agent_memory_available_bytes", "gauge",
                      "The machine's available memory (MemAvailable).",
                      (double) l.mem_available_kb * 1024);
    rc |= farm_metric(b, "farm_agent_memory_total_bytes", "gauge",
                      "The machine's memory (MemTotal).",
                      (double) l.mem_total_kb * 1024);
    rc |= farm_metric(b, "farm_agent_resident_bytes", "gauge",
                      "The agent's own resident memory.",
                      (double) l.rss_kb * 1024);

    if (s->app) {
        rc |= farm_metric(b, "farm_agent_app_up", "gauge",
                          "1 while the app passes its health check.",
                          s->app->state == FARM_APP_UP);
        rc |= farm_metric(b, "farm_agent_app_checks_total", "counter",
                          "Health checks of the app.", s->app->checks);
        rc |= farm_metric(b, "farm_agent_app_check_failures_total",
                          "counter", "Failed health checks of the app.",
                          s->app->failed);
    }

    if (s->proxy) {
        rc |= farm_metric(b, "farm_agent_clients", "gauge",
                          "Open client connections.",
                          farm_proxy_clients(s->proxy));
        rc |= farm_metric(b, "farm_agent_tunnels", "gauge",
                          "Open upgraded connections (WebSocket).",
                          farm_proxy_tunnels(s->proxy));
    }

    rc |= evbuffer_add_printf(b,
              "# HELP farm_agent_info Agent identity.\n"
              "# TYPE farm_agent_info gauge\n"
              "farm_agent_info{id=\"%s\",service=\"%s\",region=\"%s\","
              "version=\"%s\"} 1\n", r->id, r->service, r->region,
              FARM_AGENT_VERSION) < 0;

    return rc ? -1 : 0;
}


void
farm_endpoint_metrics(farm_server_t *s, struct evhttp_request *req)
{
    struct evbuffer  *b;

    b = evbuffer_new();
    if (b == NULL || farm_metrics_text(s, b) != 0) {
        if (b) {
            evbuffer_free(b);
        }
        farm_server_reply(s, req, 500, NULL, NULL);
        return;
    }

    farm_server_reply(s, req, 200, "text/plain; version=0.0.4; charset=utf-8",
                      b);
    evbuffer_free(b);
}


/* Parses a decimal in [min, max]; returns 0 or -1. */
static int
farm_query_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char           *end;
    unsigned long   n;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }

    errno = 0;
    n = strtoul(s, &end, 10);

    if (errno || *end || n < min || n > max) {
        return -1;
    }

    *out = (unsigned) n;

    return 0;
}


static void
farm_work_answer(evutil_socket_t fd, short what, void *data)
{
    farm_req_t     *fr = data;
    farm_server_t  *s = fr->server;

    (void) fd;
    (void) what;

    /* the connection may be reused or closed once answered */
    event_free(fr->watch);
    fr->watch = NULL;

    farm_server_reply_json(s, fr->req, (int) fr->status,
                           json_pack("{s:s, s:I, s:I}",
                                     "id", s->record->id,
                                     "ms", (json_int_t) fr->ms,
                                     "status", (json_int_t) fr->status));
}


/*
 * evhttp stops reading a connection while its request is handled, so it
 * would notice a client that gave up only when the answer is written.  This
 * watches the socket meanwhile: end of file or an error means the client is
 * gone, and freeing the connection ends the request (conn_closed) at once,
 * freeing its inflight slot.  Pipelined bytes mean the client is still
 * there; then we stop watching and leave the rest to evhttp.
 */
static void
farm_work_watch(evutil_socket_t fd, short what, void *data)
{
    char         c;
    ssize_t      n;
    farm_req_t  *fr = data;

    (void) what;

    n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

    if (n > 0) {
        event_del(fr->watch);
        return;
    }

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    {
        return;
    }

    farm_log_debug("client left /work?ms=%u after a part of its wait",
                   fr->ms);

    evhttp_connection_free(fr->evcon);      /* frees fr too */
}


void
farm_endpoint_work(farm_server_t *s, farm_req_t *fr)
{
    int                       rc;
    const char               *query, *v;
    struct timeval            tv;
    struct evkeyvalq          params;
    evutil_socket_t           fd;
    const struct evhttp_uri  *uri;

    fr->ms = 0;
    fr->status = 200;

    uri = evhttp_request_get_evhttp_uri(fr->req);
    query = uri ? evhttp_uri_get_query(uri) : NULL;

    TAILQ_INIT(&params);

    if (query && evhttp_parse_query_str(query, &params) != 0) {
        evhttp_clear_headers(&params);
        farm_server_error(s, fr->req, 400, "malformed query string");
        return;
    }

    rc = 0;

    v = evhttp_find_header(&params, "ms");
    if (v && farm_query_uint(v, 0, FARM_WORK_MS_MAX, &fr->ms) != 0) {
        rc = -1;
        farm_server_error(s, fr->req, 400,
                          "ms: must be an integer from 0 to 600000");
    }

    v = evhttp_find_header(&params, "status");
    if (rc == 0 && v && farm_query_uint(v, 200, 599, &fr->status) != 0) {
        rc = -1;
        farm_server_error(s, fr->req, 400,
                          "status: must be an integer from 200 to 599");
    }

    evhttp_clear_headers(&params);

    if (rc != 0) {
        return;
    }

    fd = bufferevent_getfd(evhttp_connection_get_bufferevent(fr->evcon));

    fr->timer = evtimer_new(s->base, farm_work_answer, fr);
    fr->watch = event_new(s->base, fd, EV_READ | EV_PERSIST, farm_work_watch,
                          fr);

    if (fr->timer == NULL || fr->watch == NULL) {
        farm_log_error("out of memory for /work");
        farm_server_reply_json(s, fr->req, 500, NULL);
        return;
    }

    tv.tv_sec = fr->ms / 1000;
    tv.tv_usec = (fr->ms % 1000) * 1000;

    evtimer_add(fr->timer, &tv);
    event_add(fr->watch, NULL);
}


static const char *
farm_method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:      return "GET";
    case EVHTTP_REQ_POST:     return "POST";
    case EVHTTP_REQ_HEAD:     return "HEAD";
    case EVHTTP_REQ_PUT:      return "PUT";
    case EVHTTP_REQ_DELETE:   return "DELETE";
    case EVHTTP_REQ_OPTIONS:  return "OPTIONS";
    case EVHTTP_REQ_TRACE:    return "TRACE";
    case EVHTTP_REQ_CONNECT:  return "CONNECT";
    case EVHTTP_REQ_PATCH:    return "PATCH";
    default:                  return "?";
    }
}


static int
farm_secret_header(const char *name)
{
    return strcasecmp(name, "Authorization") == 0
           || strcasecmp(name, "Proxy-Authorization") == 0
           || strcasecmp(name, "Cookie") == 0;
}


void
farm_endpoint_echo(farm_server_t *s, farm_req_t *fr)
{
    int                 rc;
    const char         *uri;
    struct evbuffer    *b;
    struct evkeyval    *h;
    struct evkeyvalq   *headers;

    b = evbuffer_new();
    if (b == NULL) {
        farm_server_reply(s, fr->req, 500, NULL, NULL);
        return;
    }

    uri = evhttp_request_get_uri(fr->req);

    rc = evbuffer_add_printf(b, "%s %s HTTP/%d.%d\n",
                             farm_method_name(
                                 evhttp_request_get_command(fr->req)),
                             uri ? uri : "/", fr->req->major,
                             fr->req->minor) < 0;

    headers = evhttp_request_get_input_headers(fr->req);

    /* credentials are named, never shown: an echo would hand them to
     * whoever reads the answer (a log, a shared screen, a cache) */

    for (h = headers->tqh_first; h; h = h->next.tqe_next) {
        rc |= evbuffer_add_printf(b, "%s: %s\n", h->key,
                                  farm_secret_header(h->key) ? "[hidden]"
                                                             : h->value) < 0;
    }

    if (rc) {
        evbuffer_free(b);
        farm_server_reply(s, fr->req, 500, NULL, NULL);
        return;
    }

    farm_server_reply(s, fr->req, 200, "text/plain; charset=utf-8", b);
    evbuffer_free(b);
}
