/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm-agent: startup, signals and the drain that ends in a clean exit.
 *
 * SIGTERM or SIGINT: /health turns 503, the record is removed from the
 * registry first, requests keep being served (the gateway needs a moment
 * to notice), and the agent exits 0 once nothing is in progress and at
 * least FARM_LINGER_MS have passed since the deregistration, or when
 * --grace runs out.  A second signal exits at once, with status 1.
 * SIGUSR1 drains without exiting, SIGUSR2 undoes it.
 */

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "loop.h"
#include "options.h"
#include "registrar.h"
#include "server.h"
#include "supervise.h"


#define FARM_LINGER_MS  300     /* serve on after deregistering */
#define FARM_WORKER_KILL_MS  10000  /* a worker's SIGTERM, then SIGKILL */


typedef struct {
    struct event_base   *base;
    farm_options_t       opts;
    farm_server_t       *server;
    farm_registrar_t    *registrar;     /* NULL: standalone */
    struct event        *signals[4];
    struct event        *grace_ev;
    struct event        *linger_ev;
    struct event        *app_grace_ev;  /* app down: deregister then */
    struct event        *load_ev;       /* --auto-weight, every second */
    struct event        *meta_ev;       /* --load-meta */
    char                *base_meta;     /* --meta, before the load */
    farm_app_t          *app;           /* --app: its health check */
    farm_supervise_t    *sv;            /* -- command: the worker */
    int                  finishing;     /* stopping the worker to exit */
    int                  reg_wanted;    /* registrar started, not undone */
    int                  terminating;
    int                  draining;
    int                  dereg_pending;
    int64_t              dereg_at;      /* when deregistration ended */
    int                  lingered;
    int                  pid_written;
    int                  exit_code;
} farm_agent_t;


static void
farm_timer_ms(struct event *ev, int64_t ms)
{
    struct timeval  tv;

    if (ms < 0) {
        ms = 0;
    }

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    evtimer_add(ev, &tv);
}


static void
farm_agent_worker_stopped(void *data)
{
    farm_agent_t  *a = data;

    event_base_loopexit(a->base, NULL);
}


/* Exits the loop, after stopping a supervised worker. */
static void
farm_agent_finish(farm_agent_t *a)
{
    if (a->finishing) {
        return;
    }

    a->finishing = 1;
    a->exit_code = 0;

    if (a->sv) {
        farm_supervise_stop(a->sv, FARM_WORKER_KILL_MS,
                            farm_agent_worker_stopped, a);
        return;
    }

    event_base_loopexit(a->base, NULL);
}


/* Exits the loop when a termination has nothing left to wait for. */
static void
farm_agent_check_exit(void *data)
{
    farm_agent_t  *a = data;

    if (!a->terminating || !a->lingered || a->server->inflight > 0
        || a->finishing)
    {
        return;
    }

    farm_log_info("drained: no request in progress, exiting");

    farm_agent_finish(a);
}


static void
farm_agent_linger_handler(evutil_socket_t fd, short what, void *data)
{
    farm_agent_t  *a = data;

    (void) fd;
    (void) what;

    a->lingered = 1;

    /* the gateway had its moment: no new connections or requests now */
    farm_server_stop_accepting(a->server);

    farm_agent_check_exit(a);
}


static void
farm_agent_grace_handler(evutil_socket_t fd, short what, void *data)
{
    farm_agent_t  *a = data;

    (void) fd;
    (void) what;

    farm_log_warn("grace period of %lld ms is over: cutting off %u "
                  "request(s) in progress", (long long) a->opts.grace_ms,
                  a->server->inflight);

    if (a->sv && !a->finishing) {
        farm_agent_finish(a);       /* the worker gets its SIGTERM */
        return;
    }

    a->exit_code = 0;
    event_base_loopbreak(a->base);
}


/* Starts the linger once both the signal and the deregistration happened. */
static void
farm_agent_linger(farm_agent_t *a)
{
    if (!a->terminating || a->dereg_pending || a->dereg_at < 0) {
        return;
    }

    farm_timer_ms(a->linger_ev,
                  FARM_LINGER_MS - (farm_clock_ms() - a->dereg_at));
}


static void
farm_agent_deregistered(int ok, void *data)
{
    farm_agent_t  *a = data;

    (void) ok;

    a->dereg_pending = 0;

    if (!a->draining) {
        return;     /* SIGUSR2 came first */
    }

    a->dereg_at = farm_clock_ms();
    farm_agent_linger(a);
}


static void
farm_agent_drain(farm_agent_t *a)
{
    a->draining = 1;
    a->server->draining = 1;
    a->dereg_at = -1;

    if (a->registrar == NULL) {
        a->dereg_at = farm_clock_ms() - FARM_LINGER_MS;  /* nothing to wait */
        return;
    }

    a->dereg_pending = 1;
    a->reg_wanted = 0;
    farm_registrar_deregister(a->registrar, farm_agent_deregistered, a);
}


/* Registers unless it is wanted already, or the app is not up. */
static void
farm_agent_register(farm_agent_t *a)
{
    if (a->registrar == NULL || a->reg_wanted || a->draining) {
        return;
    }

    if (a->app && a->app->state != FARM_APP_UP) {
        return;
    }

    a->reg_wanted = 1;
    farm_registrar_start(a->registrar);
}


static void
farm_agent_app_deregistered(int ok, void *data)
{
    farm_agent_t  *a = data;

    if (ok && !a->reg_wanted) {
        farm_log_info("deregistered while the app is down");
    }
}


static void
farm_agent_app_deregister(farm_agent_t *a)
{
    if (a->registrar == NULL || !a->reg_wanted || a->draining) {
        return;
    }

    a->reg_wanted = 0;
    farm_registrar_deregister(a->registrar, farm_agent_app_deregistered, a);
}


static void
farm_agent_app_grace_handler(evutil_socket_t fd, short what, void *data)
{
    farm_agent_t  *a = data;

    (void) fd;
    (void) what;

    if (a->app->state == FARM_APP_UP) {
        return;
    }

    farm_log_warn("the app has been down for %lld ms (--app-down-grace): "
                  "deregistering until it recovers",
                  (long long) a->opts.app_down_grace_ms);

    farm_agent_app_deregister(a);
}


static void
farm_agent_app_change(void *data, farm_app_state_e state, const char *reason)
{
    farm_agent_t  *a = data;

    if (state == FARM_APP_UP) {
        farm_log_info("app %s is up: its check %s", a->opts.app_url,
                      reason);
        evtimer_del(a->app_grace_ev);
        farm_agent_register(a);
        return;
    }

    if (a->opts.register_only) {
        farm_log_warn("app %s is down (%s): deregistering", a->opts.app_url,
                      reason);
        farm_agent_app_deregister(a);
        return;
    }

    if (!a->reg_wanted) {
        farm_log_warn("app %s is down (%s): /_farm/health answers 503%s",
                      a->opts.app_url, reason,
                      a->registrar ? "; registering once it passes" : "");
        return;
    }

    farm_log_warn("app %s is down (%s): /_farm/health answers 503; "
                  "deregistering in %lld ms unless it recovers",
                  a->opts.app_url, reason,
                  (long long) a->opts.app_down_grace_ms);

    farm_timer_ms(a->app_grace_ev, a->opts.app_down_grace_ms);
}


static void
farm_agent_load_handler(evutil_socket_t fd, short what, void *data)
{
    farm_agent_t  *a = data;

    (void) fd;
    (void) what;

    farm_load_tick(a->server);
}


/*
 * --load-meta: the record's meta becomes the --meta keys plus the load,
 * and the registrar writes it again.  Returns 0, or -1 (logged).
 */
static int
farm_agent_load_meta(farm_agent_t *a)
{
    int      rc;
    char    *text, err[FARM_ERR_MAX];
    json_t  *meta;

    meta = a->base_meta ? json_loads(a->base_meta, 0, NULL) : json_object();
    if (meta == NULL) {
        return -1;
    }

    farm_load_to_meta(meta);

    text = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);

    if (text == NULL) {
        return -1;
    }

    rc = farm_record_set_meta(&a->opts.record, text, err);
    free(text);

    if (rc != 0) {
        farm_log_warn("--load-meta: %s", err);
        return -1;
    }

    return 0;
}


static void
farm_agent_meta_handler(evutil_socket_t fd, short what, void *data)
{
    farm_agent_t  *a = data;

    (void) fd;
    (void) what;

    if (farm_agent_load_meta(a) == 0 && a->registrar && a->reg_wanted) {
        farm_registrar_refresh(a->registrar);
    }
}


/* The supervised worker died: the app is down until it passes again. */
static void
farm_agent_worker_exit(void *data, const char *reason)
{
    farm_agent_t  *a = data;
    char           why[128];

    snprintf(why, sizeof(why), "worker %s", reason);
    farm_app_failed(a->app, why);
}


/* A forward found the app unreachable. */
static void
farm_agent_app_failed(void *data, const char *reason)
{
    farm_agent_t  *a = data;

    farm_app_failed(a->app, reason);
}


static void
farm_agent_terminate(farm_agent_t *a, const char *name)
{
    if (a->terminating) {
        farm_log_warn("%s again: exiting now, cutting off %u request(s) in "
                      "progress", name, a->server->inflight);
        a->exit_code = 1;
        event_base_loopbreak(a->base);
        return;
    }

    a->terminating = 1;

    farm_log_info("%s: draining: %sfinishing %u request(s) in progress "
                  "(grace %lld ms)", name,
                  a->registrar ? "deregistering, then " : "",
                  a->server->inflight, (long long) a->opts.grace_ms);

    farm_timer_ms(a->grace_ev, a->opts.grace_ms);

    if (!a->draining) {
        farm_agent_drain(a);
    }

    farm_agent_linger(a);
}


static void
farm_agent_signal_handler(evutil_socket_t sig, short what, void *data)
{
    farm_agent_t  *a = data;

    (void) what;

    switch (sig) {

    case SIGTERM:
        farm_agent_terminate(a, "SIGTERM");
        break;

    case SIGINT:
        farm_agent_terminate(a, "SIGINT");
        break;

    case SIGUSR1:
        if (a->draining) {
            farm_log_info("SIGUSR1: already draining");
            break;
        }

        farm_log_info("SIGUSR1: draining: %sanswering /health with 503; "
                      "SIGUSR2 resumes",
                      a->registrar ? "deregistering and " : "");
        farm_agent_drain(a);
        break;

    case SIGUSR2:
        if (a->terminating) {
            farm_log_info("SIGUSR2: ignored while shutting down");
            break;
        }

        if (!a->draining) {
            farm_log_info("SIGUSR2: not draining");
            break;
        }

        farm_log_info("SIGUSR2: draining stopped: /health answers 200%s",
                      a->registrar ? ", registering again" : "");

        a->draining = 0;
        a->server->draining = 0;

        farm_agent_register(a);

        break;
    }
}


/*
 * Makes the default id "<hostname>-<port>" with every character outside
 * the id alphabet turned into '-', and leading ones dropped.
 */
static void
farm_agent_default_id(farm_record_t *r, unsigned port)
{
    char    host[256], *p;
    size_t  n, max;

    if (gethostname(host, sizeof(host)) != 0) {
        host[0] = '\0';
    }

    host[sizeof(host) - 1] = '\0';

    for (p = host; *p; p++) {
        if (!farm_valid_id(p, 1) && !(p > host && strchr(":@.-_", *p))) {
            *p = '-';
        }
    }

    p = host;
    while (*p && !farm_valid_id(p, 1)) {
        p++;
    }

    if (*p == '\0') {
        p = "agent";
    }

    max = FARM_ID_MAX - sizeof("-65535") + 1;
    n = strlen(p);

    snprintf(r->id, sizeof(r->id), "%.*s-%u", (int) (n > max ? max : n), p,
             port);
}


/* Completes the record once the port is known; returns 0 or -1. */
static int
farm_agent_record(farm_agent_t *a)
{
    char             err[FARM_ERR_MAX];
    farm_record_t   *r;
    farm_options_t  *o;

    o = &a->opts;
    r = &o->record;

    if (o->advertise_host[0]) {
        strcpy(r->address, o->advertise_host);

    } else if (o->register_only && farm_valid_address(o->app_host)) {
        strcpy(r->address, o->app_host);

    } else if (farm_valid_address(o->listen_host)) {
        strcpy(r->address, o->listen_host);

    } else {
        strcpy(r->address, "127.0.0.1");    /* standalone, never published */
    }

    r->port = o->advertise_port ? o->advertise_port
            : o->register_only ? o->app_port : a->server->port;

    if (o->register_only && !o->advertise_host[0] && o->registry_set
        && !farm_valid_address(o->app_host))
    {
        fprintf(stderr, "farm-agent: --advertise: required with "
                "--register-only when --app names a host (\"%s\"): the "
                "record needs an IP address\n", o->app_host);
        return -1;
    }

    if (!o->id_set) {
        farm_agent_default_id(r, a->server->port);
    }

    if (farm_record_validate(r, err) != 0) {
        fprintf(stderr, "farm-agent: record: %s\n", err);
        return -1;
    }

    return 0;
}


static int
farm_agent_pid_file(farm_agent_t *a)
{
    FILE  *f;

    if (a->opts.pid_file == NULL) {
        return 0;
    }

    f = fopen(a->opts.pid_file, "w");

    if (f == NULL || fprintf(f, "%d\n", (int) getpid()) < 0
        || fclose(f) != 0)
    {
        farm_log_error("cannot write --pid-file %s: %s", a->opts.pid_file,
                       strerror(errno));
        return -1;
    }

    a->pid_written = 1;

    return 0;
}


static int
farm_agent_events(farm_agent_t *a)
{
    size_t     i;
    const int  sigs[4] = { SIGTERM, SIGINT, SIGUSR1, SIGUSR2 };

    for (i = 0; i < 4; i++) {
        a->signals[i] = evsignal_new(a->base, sigs[i],
                                     farm_agent_signal_handler, a);

        if (a->signals[i] == NULL || evsignal_add(a->signals[i], NULL) != 0) {
            return -1;
        }
    }

    a->grace_ev = evtimer_new(a->base, farm_agent_grace_handler, a);
    a->linger_ev = evtimer_new(a->base, farm_agent_linger_handler, a);
    a->app_grace_ev = evtimer_new(a->base, farm_agent_app_grace_handler, a);

    if (a->grace_ev == NULL || a->linger_ev == NULL
        || a->app_grace_ev == NULL)
    {
        return -1;
    }

    if (a->opts.auto_weight) {
        struct timeval  second = { 1, 0 };

        a->load_ev = event_new(a->base, -1, EV_PERSIST,
                               farm_agent_load_handler, a);
        if (a->load_ev == NULL || event_add(a->load_ev, &second) != 0) {
            return -1;
        }

        a->server->auto_weight = 1;
        farm_load_tick(a->server);
    }

    if (a->opts.load_meta_ms) {
        struct timeval  tv;

        tv.tv_sec = a->opts.load_meta_ms / 1000;
        tv.tv_usec = (a->opts.load_meta_ms % 1000) * 1000;

        if (a->opts.record.meta) {
            a->base_meta = strdup(a->opts.record.meta);
            if (a->base_meta == NULL) {
                return -1;
            }
        }

        a->meta_ev = event_new(a->base, -1, EV_PERSIST,
                               farm_agent_meta_handler, a);
        if (a->meta_ev == NULL || event_add(a->meta_ev, &tv) != 0
            || farm_agent_load_meta(a) != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* Frees everything main() made; each piece is freed here and only here. */
static void
farm_agent_cleanup(farm_agent_t *a)
{
    size_t  i;

    if (a->server && a->server->inflight) {
        farm_log_warn("%u request(s) in progress cut off",
                      a->server->inflight);
    }

    if (a->registrar) {
        farm_registrar_stop(a->registrar);
    }

    if (a->server) {
        farm_server_free(a->server);
    }

    for (i = 0; i < 4; i++) {
        if (a->signals[i]) {
            event_free(a->signals[i]);
        }
    }

    if (a->grace_ev) {
        event_free(a->grace_ev);
    }

    if (a->linger_ev) {
        event_free(a->linger_ev);
    }

    if (a->app_grace_ev) {
        event_free(a->app_grace_ev);
    }

    if (a->load_ev) {
        event_free(a->load_ev);
    }

    if (a->meta_ev) {
        event_free(a->meta_ev);
    }

    free(a->base_meta);

    if (a->app) {
        farm_app_free(a->app);
    }

    if (a->sv) {
        farm_supervise_free(a->sv);
    }

    if (a->base) {
        event_base_free(a->base);
    }

    if (a->pid_written) {
        unlink(a->opts.pid_file);
    }

    farm_options_free(&a->opts);
    libevent_global_shutdown();
}


/*
 * Resolves --app once, at startup (before the loop runs, so a slow DNS
 * blocks nothing), and makes the health check and the proxy settings.
 * Returns 0, or -1 after logging why.
 */
static int
farm_agent_app(farm_agent_t *a, farm_proxy_conf_t *pc)
{
    int               rc;
    char              port[8];
    farm_options_t   *o;
    farm_app_conf_t   ac;
    struct addrinfo   hints, *res;

    o = &a->opts;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%u", o->app_port);

    rc = getaddrinfo(o->app_host, port, &hints, &res);
    if (rc != 0) {
        farm_log_error("--app %s: cannot resolve %s: %s", o->app_url,
                       o->app_host, gai_strerror(rc));
        return -1;
    }

    memset(&ac, 0, sizeof(ac));
    memcpy(&ac.addr, res->ai_addr, res->ai_addrlen);
    ac.addrlen = res->ai_addrlen;
    freeaddrinfo(res);

    ac.base = a->base;
    snprintf(ac.host, sizeof(ac.host), "%s%s%s:%u",
             strchr(o->app_host, ':') ? "[" : "", o->app_host,
             strchr(o->app_host, ':') ? "]" : "", o->app_port);
    strcpy(ac.path, o->app_health);
    ac.status_min = o->app_status_min;
    ac.status_max = o->app_status_max;
    ac.interval_ms = o->app_interval_ms;
    ac.timeout_ms = o->app_check_timeout_ms;
    ac.rise = o->app_rise;
    ac.fall = o->app_fall;
    ac.change = farm_agent_app_change;
    ac.data = a;

    a->app = farm_app_create(&ac);
    if (a->app == NULL) {
        farm_log_error("out of memory");
        return -1;
    }

    memset(pc, 0, sizeof(farm_proxy_conf_t));
    memcpy(&pc->addr, &ac.addr, ac.addrlen);
    pc->addrlen = ac.addrlen;
    pc->connect_timeout_ms = o->app_connect_timeout_ms;
    pc->timeout_ms = o->app_timeout_ms;
    pc->idle_ms = o->client_timeout_ms;
    pc->max_clients = o->max_clients;
    pc->app_failed = farm_agent_app_failed;
    pc->app_failed_data = a;

    return 0;
}


/* What --busy-poll watches: the proxy's reads and accepts (--app). */
static unsigned long
farm_agent_activity(void *data)
{
    farm_agent_t  *a = data;

    return a->server->proxy ? farm_proxy_activity(a->server->proxy) : 0;
}


int
main(int argc, char **argv)
{
    int                     rc;
    char                    err[FARM_ERR_MAX];
    farm_agent_t            a;
    farm_proxy_conf_t       pconf;
    farm_registrar_conf_t   rconf;

    memset(&a, 0, sizeof(farm_agent_t));
    a.dereg_at = -1;

    rc = farm_options_parse(&a.opts, argc, argv);
    if (rc != 0) {
        farm_options_free(&a.opts);
        return rc > 0 ? 0 : 2;
    }

    farm_log_set_level(a.opts.log_level);
    srandom((unsigned) time(NULL) ^ (unsigned) getpid());
    signal(SIGPIPE, SIG_IGN);

    a.base = event_base_new();
    if (a.base == NULL) {
        farm_log_error("cannot create the event loop");
        farm_agent_cleanup(&a);
        return 1;
    }

    if (a.opts.registry_set) {
        memset(&rconf, 0, sizeof(farm_registrar_conf_t));
        rconf.base = a.base;
        rconf.record = &a.opts.record;
        rconf.prefix = a.opts.prefix;
        rconf.ttl_ms = a.opts.ttl_ms;
        rconf.heartbeat_ms = a.opts.heartbeat_ms;
        rconf.consul_token = a.opts.consul_token;
        rconf.consul_ca = a.opts.consul_ca ? a.opts.consul_ca
                                           : a.opts.registry_ca;
        rconf.version = FARM_AGENT_VERSION;
        rconf.token = a.opts.token;
        rconf.token_file = a.opts.token_file;
        rconf.ca = a.opts.registry_ca;

        a.registrar = farm_registrar_create_all(&rconf, a.opts.registries,
                                                a.opts.nregistries, err);

        if (a.registrar == NULL) {
            fprintf(stderr, "farm-agent: --registry: %s\n", err);
            farm_agent_cleanup(&a);
            return 2;
        }
    }

    if (a.opts.app_set && farm_agent_app(&a, &pconf) != 0) {
        farm_agent_cleanup(&a);
        return 1;
    }

    a.server = farm_server_create(a.base, a.opts.listen_host,
                                  a.opts.listen_port, &a.opts.record,
                                  a.opts.app_set && !a.opts.register_only
                                  ? &pconf : NULL, err);
    if (a.server == NULL) {
        farm_log_error("%s", err);
        farm_agent_cleanup(&a);
        return 1;
    }

    a.server->app = a.app;
    a.server->app_url = a.opts.app_set ? a.opts.app_url : NULL;

    a.server->registrar = a.registrar;
    a.server->idle = farm_agent_check_exit;
    a.server->idle_data = &a;

    if (farm_agent_record(&a) != 0) {
        farm_agent_cleanup(&a);
        return 2;
    }

    if (farm_agent_events(&a) != 0) {
        farm_log_error("cannot set up signals and timers");
        farm_agent_cleanup(&a);
        return 1;
    }

    if (farm_agent_pid_file(&a) != 0) {
        farm_agent_cleanup(&a);
        return 1;
    }

    farm_log_info("farm-agent %s serving on %s%s%s:%u as %s, service %s, %s%s",
                  FARM_AGENT_VERSION,
                  strchr(a.opts.listen_host, ':') ? "[" : "",
                  a.opts.listen_host,
                  strchr(a.opts.listen_host, ':') ? "]" : "",
                  a.server->port, a.opts.record.id, a.opts.record.service,
                  a.registrar ? "registry " : "standalone (no --registry)",
                  a.registrar ? a.registrar->display : "");

    if (a.opts.command) {
        a.sv = farm_supervise_create(a.base, a.opts.command,
                                     farm_agent_worker_exit, &a);

        if (a.sv == NULL || farm_supervise_start(a.sv) != 0) {
            farm_log_error("cannot supervise %s", a.opts.command[0]);
            farm_agent_cleanup(&a);
            return 1;
        }
    }

    if (a.app) {
        farm_log_info("%s app %s, checking GET %s every %lld ms",
                      a.opts.register_only ? "registering" : "forwarding to",
                      a.opts.app_url, a.opts.app_health,
                      (long long) a.opts.app_interval_ms);
        farm_app_start(a.app);
    }

    farm_agent_register(&a);

    if (farm_loop_run(a.base, a.opts.busy_poll_us, farm_agent_activity, &a)
        < 0)
    {
        farm_log_error("event loop failed");
        a.exit_code = 1;
    }

    rc = a.exit_code;

    farm_agent_cleanup(&a);

    farm_log_info("exited with status %d", rc);

    return rc;
}
