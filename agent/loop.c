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
farm_loop_run(struct event_base *base, const unsigned *busy, int64_t spin_us)
{
    int      rc, spin;
    int64_t  now, last;

    if (spin_us <= 0) {
        return event_base_dispatch(base);
    }

    last = farm_loop_now_us();

    for ( ;; ) {
        now = farm_loop_now_us();

        if (*busy) {
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
