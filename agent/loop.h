/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The agent's event loop, with optional busy polling (--busy-poll): for a
 * while after the proxy last had something to do, the loop polls with a
 * null timeout instead of sleeping, so the agent's core is still running
 * when the app's answer or the client's next request arrives instead of
 * having to be woken (in a virtual machine an idle core is handed back to
 * the host, and waking it takes tens of microseconds).  It trades CPU time
 * for latency, as HAProxy's busy-polling does, but only for that while:
 * a request the app takes long over, or a quiet WebSocket, lets it sleep.
 */

#ifndef FARM_LOOP_H
#define FARM_LOOP_H

#include <stdint.h>

#include <event2/event.h>


/* A count that grows whenever there was work (farm_proxy_activity). */
typedef unsigned long (*farm_loop_activity_pt)(void *data);

/*
 * Runs base until it has no events left or is told to exit or break, as
 * event_base_dispatch does, and returns what it would (-1 on error).
 * With spin_us > 0 and activity set, the loop does not sleep until spin_us
 * microseconds have passed without activity(data) changing; it offers
 * the core to other runnable processes (sched_yield) between two polls.
 */
int farm_loop_run(struct event_base *base, int64_t spin_us,
    farm_loop_activity_pt activity, void *data);

#endif /* FARM_LOOP_H */
