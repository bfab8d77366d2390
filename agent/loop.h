/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The agent's event loop, with optional busy polling (--busy-poll): while
 * requests are in flight, and for a while after the last one ended, the
 * loop polls with a null timeout instead of sleeping, so the agent's core
 * is still running when the app's answer or the client's next request
 * arrives instead of having to be woken (in a virtual machine an idle
 * core is handed back to the host, and waking it takes tens of
 * microseconds).  It trades CPU time for latency, as HAProxy's
 * busy-polling does.
 */

#ifndef FARM_LOOP_H
#define FARM_LOOP_H

#include <stdint.h>

#include <event2/event.h>


/*
 * Runs base until it has no events left or is told to exit or break, as
 * event_base_dispatch does, and returns what it would (-1 on error).
 * With spin_us > 0 the loop does not sleep while *busy is non-zero, nor
 * for spin_us microseconds after it was last seen non-zero; it offers the
 * core to other runnable processes (sched_yield) between two polls.
 */
int farm_loop_run(struct event_base *base, const unsigned *busy,
    int64_t spin_us);

#endif /* FARM_LOOP_H */
