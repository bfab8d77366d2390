/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * libcurl's multi interface driven by the agent's libevent loop, for the
 * registrars that speak HTTP (Consul, a gateway's registry API): libcurl's
 * sockets get libevent events, its timer a libevent timer, and every
 * finished transfer is handed to one callback.  Nothing blocks: name
 * resolution runs in libcurl's resolver thread, connections and TLS
 * handshakes on the loop.
 */

#ifndef FARM_CURL_LOOP_H
#define FARM_CURL_LOOP_H

#include <curl/curl.h>
#include <event2/event.h>


typedef struct farm_curl_loop_s  farm_curl_loop_t;

/*
 * A transfer of this loop finished (result: libcurl's verdict).  The
 * handle is out of the loop already; the callback may add it again, or
 * another one.
 */
typedef void (*farm_curl_done_pt)(void *data, CURL *easy, CURLcode result);


/* Returns the loop, or NULL when out of memory or libcurl cannot start. */
farm_curl_loop_t *farm_curl_loop_create(struct event_base *base,
    farm_curl_done_pt done, void *data);

/* Starts easy's transfer; 0, or -1 when libcurl refuses it. */
int farm_curl_loop_add(farm_curl_loop_t *cl, CURL *easy);

/* Abandons easy's transfer, if it is in the loop. */
void farm_curl_loop_remove(farm_curl_loop_t *cl, CURL *easy);

/* Frees the loop; the caller removed its transfers (or frees them after). */
void farm_curl_loop_free(farm_curl_loop_t *cl);

#endif /* FARM_CURL_LOOP_H */
