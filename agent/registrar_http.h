/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * What the registrars that speak HTTP share (registrar_http.c): a gateway's
 * registry API (registrar_gateway.c) and Consul's agent API
 * (registrar_consul.c) both register with one request, renew with a
 * heartbeat whose 404 means "registered no more", and deregister with a
 * third.  This part runs that cycle on libcurl's multi interface on the
 * agent's loop (curl_loop.c): one request at a time, each with a deadline,
 * a jittered backoff after a failure followed by a full registration, the
 * heartbeat timer, the 1 s bound on deregistering, and the log lines.  A
 * dialect says what each request is, and how to read a refusal.
 */

#ifndef FARM_REGISTRAR_HTTP_H
#define FARM_REGISTRAR_HTTP_H

#include <curl/curl.h>

#include "curl_loop.h"
#include "registrar.h"


enum {
    FARM_HTTP_NONE = 0,
    FARM_HTTP_REGISTER,
    FARM_HTTP_BEAT,
    FARM_HTTP_DEREGISTER
};

typedef struct farm_http_reg_s  farm_http_reg_t;

typedef struct {
    /*
     * The URL (size bytes), method and body of a request of this kind;
     * the body may point into hr->body, which the dialect builds when it
     * is NULL (refresh() drops it).  Returns 0, or -1 with a reason in err
     * (CURL_ERROR_SIZE bytes): the attempt then counts as a failure.
     */
    int          (*request)(farm_http_reg_t *hr, int kind, char *url,
                            size_t size, const char **method,
                            const char **body, char *err);

    /* Words for the log after "HTTP <status> <answer>", or "". */
    const char  *(*hint)(farm_http_reg_t *hr, long status);

    /* A request was refused with this status; NULL: nothing to do. */
    void         (*refused)(farm_http_reg_t *hr, long status);

    /* Frees what the dialect owns (not hr itself); NULL: nothing. */
    void         (*free)(farm_http_reg_t *hr);

    const char    *gone;        /* why a heartbeat's 404, for the log */
    const char    *late;        /* what happens when deregistering is late */
} farm_http_dialect_t;

/* The first member of each dialect's registrar. */
struct farm_http_reg_s {
    farm_registrar_t            reg;        /* first: the generic part */
    const farm_http_dialect_t  *dialect;

    const farm_record_t        *record;
    char                        addr[FARM_ADDRESS_MAX + 16];   /* logs */
    int64_t                     heartbeat_ms;
    char                       *body;       /* the registration, owned */

    farm_curl_loop_t           *loop;
    CURL                       *easy;
    int                         kind;       /* request in flight */
    char                        resp[256];  /* its answer's start */
    size_t                      resp_len;
    char                        error[CURL_ERROR_SIZE];

    unsigned                    want:1;     /* 1: be registered */

    farm_registrar_done_pt      done;       /* deregister in progress */
    void                       *done_data;

    struct event               *retry_ev;   /* try again after backoff */
    struct event               *beat_ev;    /* heartbeat, persistent */
    struct event               *dereg_ev;   /* deregister deadline */

    farm_reg_retry_t            retry;
};


/*
 * Sets up hr (allocated, zeroed, size bytes, by the dialect): the easy
 * handle (verifying TLS peers against ca, or the system's CAs, when tls),
 * the loop and the timers.  Returns 0, or -1 with the reason in err; hr is
 * then freed by farm_registrar_stop(&hr->reg).
 */
int farm_http_reg_init(farm_http_reg_t *hr, const farm_http_dialect_t *d,
    const farm_registrar_conf_t *conf, int tls, const char *ca, char *err);

/* The answer's first line with unprintable bytes as '?', for the log. */
const char *farm_http_reg_answer(farm_http_reg_t *hr);

#endif /* FARM_REGISTRAR_HTTP_H */
