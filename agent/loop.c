/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The agent's event loop with optional busy polling (see loop.h).
 */

#include <sched.h>
#include <time.h>

#include "loop.h"


static int64_t farm_loop_now_us(void);


static int64_t
farm_loop_now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


int
farm_loop_run(struct event_base *base, int64_t spin_us,
    farm_loop_activity_pt activity, void *data)
{
    int            rc, spin;
    int64_t        now, last;
    unsigned long  n, seen;

    if (spin_us <= 0 || activity == NULL) {
        return event_base_dispatch(base);
    }

    last = farm_loop_now_us();
    seen = activity(data);

    for ( ;; ) {
        now = farm_loop_now_us();
        n = activity(data);

        if (n != seen) {
            seen = n;
            last = now;
        }

        spin = now - last < spin_us;

        rc = event_base_loop(base, spin ? EVLOOP_NONBLOCK : EVLOOP_ONCE);

        if (rc != 0 || event_base_got_exit(base)
            || event_base_got_break(base))
        {
            return rc;
        }

        if (spin) {
            /* a process this core should run instead goes first */
            sched_yield();
        }
    }
}
