/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The correlation-id plugin's engine (Kong 3.x semantics), plain C with no
 * nginx: the three generators and the access / header-filter decisions.
 *
 *   kong_corrid_worker_t  w;              one per nginx worker, shared by
 *   kong_corrid_worker_init(&w, 0);       every correlation-id plugin
 *                                         (init_process)
 *   access phase:
 *   kong_corrid_access(&conf, &w, value, value_len, &tracker, &res);
 *   if (res.set_upstream) set conf.header_name: res.value on the request;
 *   if (res.echo) keep res.value (copy it: it may point into res or the
 *   request) and, in the header filter, set conf.header_name on the
 *   response.
 *
 * The loader fills kong_corrid_conf_t from the plugin's config: header_name
 * (default "Kong-Request-ID"), generator (kong_corrid_generator parses it;
 * default "uuid#counter"), echo_downstream (default false).
 */

#ifndef KONG_CORRID_H
#define KONG_CORRID_H

#include <stddef.h>
#include <stdint.h>


#define KONG_CORRID_UUID          0
#define KONG_CORRID_UUID_COUNTER  1
#define KONG_CORRID_TRACKER       2

#define KONG_CORRID_MAX           192  /* longest generated id + NUL */


typedef struct {
    const char             *header_name;
    int                     generator;      /* KONG_CORRID_* */
    int                     echo_downstream;
} kong_corrid_conf_t;


/* Per-worker state: the random generator, the worker's uuid, the counter */
typedef struct {
    uint64_t                s[2];
    char                    uuid[37];
    uint64_t                counter;
} kong_corrid_worker_t;


/* What the tracker generator reads from the connection (nginx variables
 * server_addr, server_port, connection, connection_requests; the worker's
 * pid; the cached time in seconds). */
typedef struct {
    const char             *server_addr;
    size_t                  server_addr_len;
    unsigned                server_port;
    long                    pid;
    uint64_t                connection;
    uint64_t                connection_requests;
    double                  now;
} kong_corrid_tracker_t;


typedef struct {
    const char             *value;     /* the id: the request's or res.buf */
    size_t                  len;
    int                     set_upstream;  /* generated: set it upstream */
    int                     echo;          /* echo it on the response */
    char                    buf[KONG_CORRID_MAX];
} kong_corrid_result_t;


void kong_corrid_conf_default(kong_corrid_conf_t *conf);

/* "uuid", "uuid#counter", "tracker" -> KONG_CORRID_*; -1 (Kong's message:
 * "expected one of: uuid, uuid#counter, tracker") otherwise. */
int kong_corrid_generator(const char *name);

/* Seeds the random generator (seed 0: from getrandom) and draws the
 * worker's uuid; the counter starts at 0. */
void kong_corrid_worker_init(kong_corrid_worker_t *w, uint64_t seed);

/* A random version-4 uuid, lower-case, as Kong's uuid(): 36 bytes + NUL. */
void kong_corrid_uuid(kong_corrid_worker_t *w, char out[37]);

/*
 * A new id from generator into out (KONG_CORRID_MAX bytes): "uuid";
 * "uuid#counter" = "<worker uuid>#<n>", n counting from 1 per worker;
 * "tracker" = "server_addr-server_port-pid-connection-connection_requests-
 * now" with now to 3 decimals (t may be NULL for the other two).  Returns
 * the length.
 */
size_t kong_corrid_generate(kong_corrid_worker_t *w, int generator,
    const kong_corrid_tracker_t *t, char *out);

/*
 * Kong's access phase: the request's header value (NULL when absent; an
 * empty value counts as present, as in Kong) is kept; else one is
 * generated and set upstream.  echo is conf->echo_downstream.
 */
void kong_corrid_access(const kong_corrid_conf_t *conf,
    kong_corrid_worker_t *w, const char *value, size_t len,
    const kong_corrid_tracker_t *t, kong_corrid_result_t *res);

#endif /* KONG_CORRID_H */
