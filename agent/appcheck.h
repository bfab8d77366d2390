/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The agent's health check of the user's app (--app): every interval an
 * HTTP/1.0 GET of a path on the app, passed when the answer's status is in
 * the expected range within the timeout.  rise passes in a row bring a
 * down app up, fall failures in a row take an up app down; the first check
 * decides at once.  A forward that cannot connect takes the app down at
 * once too (farm_app_failed).  Everything runs on the agent's loop.
 */

#ifndef FARM_APPCHECK_H
#define FARM_APPCHECK_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>


#define FARM_APP_PATH_MAX  1024

typedef enum {
    FARM_APP_UNKNOWN = 0,       /* not checked yet */
    FARM_APP_UP,
    FARM_APP_DOWN
} farm_app_state_e;

/* Called when the state changes; reason says why (a failure or "passed"). */
typedef void (*farm_app_change_pt)(void *data, farm_app_state_e state,
    const char *reason);

typedef struct {
    struct event_base        *base;
    struct sockaddr_storage   addr;
    socklen_t                 addrlen;
    char                      host[300];        /* the Host: header */
    char                      path[FARM_APP_PATH_MAX + 1];
    unsigned                  status_min;
    unsigned                  status_max;
    int64_t                   interval_ms;
    int64_t                   timeout_ms;
    unsigned                  rise;
    unsigned                  fall;
    farm_app_change_pt        change;
    void                     *data;
} farm_app_conf_t;

typedef struct farm_app_s {
    farm_app_conf_t           conf;
    struct event             *timer;        /* next check, or its timeout */
    struct bufferevent       *bev;          /* the check in progress */
    farm_app_state_e          state;
    unsigned                  passes;       /* in a row */
    unsigned                  fails;        /* in a row */
    unsigned long             checks;
    unsigned long             failed;
    char                      last_error[160];
} farm_app_t;


/* Returns the checker (nothing runs before farm_app_start), or NULL. */
farm_app_t *farm_app_create(const farm_app_conf_t *conf);

/* Runs the first check now, then one every interval. */
void farm_app_start(farm_app_t *a);

/* A forward could not reach the app: down at once. */
void farm_app_failed(farm_app_t *a, const char *reason);

const char *farm_app_state_name(farm_app_state_e state);

void farm_app_free(farm_app_t *a);

#endif /* FARM_APPCHECK_H */
