/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Supervise mode (farm-agent [flags] -- command args): the agent starts
 * the worker itself, in its own process group, restarts it with an
 * exponential backoff when it dies, forwards SIGHUP to it, and stops it
 * (SIGTERM, then SIGKILL) when the agent is done draining.  Runs on the
 * agent's loop: SIGCHLD is a libevent signal event.
 */

#ifndef FARM_SUPERVISE_H
#define FARM_SUPERVISE_H

#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>


typedef struct farm_supervise_s  farm_supervise_t;

/* The worker exited (reason says how); it restarts unless stopping. */
typedef void (*farm_supervise_exit_pt)(void *data, const char *reason);

/* farm_supervise_stop is complete: the worker is gone. */
typedef void (*farm_supervise_done_pt)(void *data);


/*
 * argv: the command, NULL-terminated, kept alive by the caller.  Returns
 * the supervisor (nothing runs before farm_supervise_start), or NULL.
 */
farm_supervise_t *farm_supervise_create(struct event_base *base,
    char **argv, farm_supervise_exit_pt on_exit, void *data);

/* Starts the worker; returns 0, or -1 when fork() failed. */
int farm_supervise_start(farm_supervise_t *sv);

/* The worker's pid, 0 while it is not running. */
pid_t farm_supervise_pid(farm_supervise_t *sv);

unsigned long farm_supervise_restarts(farm_supervise_t *sv);

/*
 * Stops the worker for good: SIGTERM to its process group, SIGKILL after
 * kill_ms; done runs once it is gone (at once when it is not running).
 */
void farm_supervise_stop(farm_supervise_t *sv, int64_t kill_ms,
    farm_supervise_done_pt done, void *data);

/* Kills (SIGKILL) and reaps a worker still running, and frees sv. */
void farm_supervise_free(farm_supervise_t *sv);

#endif /* FARM_SUPERVISE_H */
