/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The worker supervisor (see supervise.h).  Restart delays start at
 * FARM_SV_BACKOFF_MIN and double up to FARM_SV_BACKOFF_MAX; a worker that
 * ran FARM_SV_STABLE_MS or longer before dying starts the series anew.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "supervise.h"


#define FARM_SV_BACKOFF_MIN  500       /* ms */
#define FARM_SV_BACKOFF_MAX  30000
#define FARM_SV_STABLE_MS    30000


struct farm_supervise_s {
    struct event_base        *base;
    char                    **argv;
    farm_supervise_exit_pt    on_exit;
    void                     *data;

    pid_t                     pid;          /* 0: not running */
    int64_t                   started_ms;
    int64_t                   backoff_ms;
    unsigned long             restarts;
    int                       stopping;

    farm_supervise_done_pt    done;
    void                     *done_data;

    struct event             *chld_ev;      /* SIGCHLD */
    struct event             *hup_ev;       /* SIGHUP, forwarded */
    struct event             *restart_ev;
    struct event             *kill_ev;      /* SIGKILL after kill_ms */
};


static void
farm_sv_timer(struct event *ev, int64_t ms)
{
    struct timeval  tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    evtimer_add(ev, &tv);
}


/*
 * In the child: the agent's sockets (its listener above all) must not
 * live on in the worker, or the port would stay taken after the agent.
 */
static void
farm_sv_close_fds(void)
{
    int            fd;
    struct rlimit  rl;

#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3, ~0U, 0) == 0) {
        return;
    }
#endif

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > 65536) {
        rl.rlim_cur = 65536;
    }

    for (fd = 3; fd < (int) rl.rlim_cur; fd++) {
        close(fd);
    }
}


int
farm_supervise_start(farm_supervise_t *sv)
{
    pid_t  pid;

    pid = fork();

    if (pid < 0) {
        farm_log_error("cannot start the worker %s: fork: %s", sv->argv[0],
                       strerror(errno));
        return -1;
    }

    if (pid == 0) {
        /* its own process group: signals reach the worker's children too */
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        farm_sv_close_fds();
        execvp(sv->argv[0], sv->argv);
        fprintf(stderr, "farm-agent: cannot run %s: %s\n", sv->argv[0],
                strerror(errno));
        _exit(127);
    }

    setpgid(pid, pid);      /* also here: no race with the first signal */

    sv->pid = pid;
    sv->started_ms = farm_clock_ms();

    farm_log_info("worker started: %s (pid %d)", sv->argv[0], (int) pid);

    return 0;
}


static void
farm_sv_restart_handler(evutil_socket_t fd, short what, void *data)
{
    farm_supervise_t  *sv = data;

    (void) fd;
    (void) what;

    if (sv->stopping || sv->pid) {
        return;
    }

    sv->restarts++;

    if (farm_supervise_start(sv) != 0) {
        farm_sv_timer(sv->restart_ev, sv->backoff_ms);
    }
}


static void
farm_sv_chld_handler(evutil_socket_t fd, short what, void *data)
{
    int                status;
    char               reason[96];
    pid_t              pid;
    int64_t            ran;
    farm_supervise_t  *sv = data;

    (void) fd;
    (void) what;

    for ( ;; ) {
        pid = waitpid(-1, &status, WNOHANG);

        if (pid <= 0) {
            return;
        }

        if (pid != sv->pid) {
            continue;
        }

        sv->pid = 0;
        ran = farm_clock_ms() - sv->started_ms;

        if (WIFSIGNALED(status)) {
            snprintf(reason, sizeof(reason), "killed by signal %d",
                     WTERMSIG(status));

        } else {
            snprintf(reason, sizeof(reason), "exited with status %d",
                     WEXITSTATUS(status));
        }

        if (sv->stopping) {
            farm_log_info("worker %s (pid %d) %s", sv->argv[0], (int) pid,
                          reason);
            evtimer_del(sv->kill_ev);

            if (sv->done) {
                sv->done(sv->done_data);
                sv->done = NULL;
            }

            return;
        }

        if (ran >= FARM_SV_STABLE_MS) {
            sv->backoff_ms = FARM_SV_BACKOFF_MIN;
        }

        farm_log_warn("worker %s (pid %d) %s after %.1f s; restarting in "
                      "%lld ms", sv->argv[0], (int) pid, reason,
                      ran / 1000.0, (long long) sv->backoff_ms);

        farm_sv_timer(sv->restart_ev, sv->backoff_ms);

        sv->backoff_ms *= 2;
        if (sv->backoff_ms > FARM_SV_BACKOFF_MAX) {
            sv->backoff_ms = FARM_SV_BACKOFF_MAX;
        }

        if (sv->on_exit) {
            sv->on_exit(sv->data, reason);
        }
    }
}


static void
farm_sv_hup_handler(evutil_socket_t fd, short what, void *data)
{
    farm_supervise_t  *sv = data;

    (void) fd;
    (void) what;

    if (sv->pid) {
        farm_log_info("SIGHUP: passed on to the worker (pid %d)",
                      (int) sv->pid);
        kill(-sv->pid, SIGHUP);
    }
}


static void
farm_sv_kill_handler(evutil_socket_t fd, short what, void *data)
{
    farm_supervise_t  *sv = data;

    (void) fd;
    (void) what;

    if (sv->pid) {
        farm_log_warn("worker (pid %d) still running after SIGTERM: "
                      "SIGKILL", (int) sv->pid);
        kill(-sv->pid, SIGKILL);
    }
}


farm_supervise_t *
farm_supervise_create(struct event_base *base, char **argv,
    farm_supervise_exit_pt on_exit, void *data)
{
    farm_supervise_t  *sv;

    sv = calloc(1, sizeof(farm_supervise_t));
    if (sv == NULL) {
        return NULL;
    }

    sv->base = base;
    sv->argv = argv;
    sv->on_exit = on_exit;
    sv->data = data;
    sv->backoff_ms = FARM_SV_BACKOFF_MIN;

    sv->chld_ev = evsignal_new(base, SIGCHLD, farm_sv_chld_handler, sv);
    sv->hup_ev = evsignal_new(base, SIGHUP, farm_sv_hup_handler, sv);
    sv->restart_ev = evtimer_new(base, farm_sv_restart_handler, sv);
    sv->kill_ev = evtimer_new(base, farm_sv_kill_handler, sv);

    if (sv->chld_ev == NULL || sv->hup_ev == NULL || sv->restart_ev == NULL
        || sv->kill_ev == NULL || evsignal_add(sv->chld_ev, NULL) != 0
        || evsignal_add(sv->hup_ev, NULL) != 0)
    {
        farm_supervise_free(sv);
        return NULL;
    }

    return sv;
}


pid_t
farm_supervise_pid(farm_supervise_t *sv)
{
    return sv->pid;
}


unsigned long
farm_supervise_restarts(farm_supervise_t *sv)
{
    return sv->restarts;
}


void
farm_supervise_stop(farm_supervise_t *sv, int64_t kill_ms,
    farm_supervise_done_pt done, void *data)
{
    sv->stopping = 1;
    evtimer_del(sv->restart_ev);

    if (sv->pid == 0) {
        done(data);
        return;
    }

    sv->done = done;
    sv->done_data = data;

    farm_log_info("stopping the worker (pid %d): SIGTERM", (int) sv->pid);
    kill(-sv->pid, SIGTERM);
    farm_sv_timer(sv->kill_ev, kill_ms);
}


void
farm_supervise_free(farm_supervise_t *sv)
{
    if (sv->pid) {
        kill(-sv->pid, SIGKILL);
        waitpid(sv->pid, NULL, 0);
        farm_log_warn("worker (pid %d) killed", (int) sv->pid);
    }

    if (sv->chld_ev) {
        event_free(sv->chld_ev);
    }

    if (sv->hup_ev) {
        event_free(sv->hup_ev);
    }

    if (sv->restart_ev) {
        event_free(sv->restart_ev);
    }

    if (sv->kill_ev) {
        event_free(sv->kill_ev);
    }

    free(sv);
}
