/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The reverse proxy in front of the user's own app (--app).  It owns the
 * listener in that mode: every request goes to the app, except the
 * agent's own endpoints under FARM_PROXY_PREFIX.  Requests are parsed
 * with http_parser (libhttp-parser) and moved with libevent bufferevents:
 * bodies stream both ways with back-pressure, the app's connections are
 * kept alive and reused, and an Upgrade answered with 101 turns the
 * connection into a raw byte tunnel.
 */

#ifndef FARM_PROXY_H
#define FARM_PROXY_H

#include <sys/socket.h>

#include <event2/event.h>


#define FARM_PROXY_PREFIX      "/_farm/"

typedef struct farm_proxy_s   farm_proxy_t;
typedef struct farm_server_s  farm_server_t;

/* Called when a forward to the app could not connect (refused, timeout). */
typedef void (*farm_proxy_app_failed_pt)(void *data, const char *reason);

typedef struct {
    struct sockaddr_storage   addr;             /* the app */
    socklen_t                 addrlen;
    int64_t                   connect_timeout_ms;
    int64_t                   timeout_ms;       /* app silent this long */
    int64_t                   idle_ms;          /* client keep-alive */
    unsigned                  max_clients;      /* connections, 0: none */
    farm_proxy_app_failed_pt  app_failed;
    void                     *app_failed_data;
} farm_proxy_conf_t;


/*
 * Listens on host:port for s (which keeps the counters, the record and the
 * draining flag).  Returns the proxy, or NULL with a reason in err
 * (FARM_ERR_MAX bytes); *bound gets the bound port.
 */
farm_proxy_t *farm_proxy_create(farm_server_t *s, const char *host,
    unsigned port, const farm_proxy_conf_t *conf, unsigned *bound,
    char *err);

/*
 * Stops accepting connections, closes idle client connections and makes
 * every later request on a kept-alive connection get 503 and a close.
 * Requests and tunnels in progress go on.
 */
void farm_proxy_stop_accepting(farm_proxy_t *p);

/* Open client connections, tunnels among them. */
unsigned farm_proxy_clients(farm_proxy_t *p);
unsigned farm_proxy_tunnels(farm_proxy_t *p);

/* Grows by one for every read or accept the proxy handles (--busy-poll). */
unsigned long farm_proxy_activity(farm_proxy_t *p);

/* Closes everything, cutting off what is in progress, and frees p. */
void farm_proxy_free(farm_proxy_t *p);

#endif /* FARM_PROXY_H */
