
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FARM_LIMIT_WINDOW_H_INCLUDED_
#define _NGX_HTTP_FARM_LIMIT_WINDOW_H_INCLUDED_


/*
 * Fixed rate-limit windows and what a client is told about them,
 * independent of nginx so that the unit tests can drive them directly.
 *
 * Windows are aligned to UTC calendar boundaries, as Kong's are: a minute
 * window starts at hh:mm:00, a month window at 00:00:00 on the first day of
 * the month, a year window on January 1st.
 *
 * Counting: a request is admitted only if every configured window has room
 * (count < limit); an admitted request counts in every configured window, a
 * rejected one counts in none.
 */


#include <stddef.h>
#include <stdint.h>


#define FARM_WIN_SECOND      0
#define FARM_WIN_MINUTE      1
#define FARM_WIN_HOUR        2
#define FARM_WIN_DAY         3
#define FARM_WIN_MONTH       4
#define FARM_WIN_YEAR        5
#define FARM_WIN_N           6

/* counters per key: one per window, and the previous second's */
#define FARM_WIN_PREV        FARM_WIN_N
#define FARM_WIN_SLOTS       (FARM_WIN_N + 1)

#define FARM_LIMIT_MAX       4294967295u     /* a limit fits in 32 bits */


/* One window's counter for one key. */
typedef struct {
    uint32_t        start;      /* Unix time the window began; 0: unused */
    uint32_t        count;      /* requests admitted in it */
} farm_counter_t;


/*
 * What the response headers say, merged over every limit that applied to
 * a request.  limit[w] == 0: window w is not reported.
 */
typedef struct {
    uint32_t        limit[FARM_WIN_N];
    uint32_t        remaining[FARM_WIN_N];
    int64_t         reset[FARM_WIN_N];      /* seconds until it ends, >= 1 */

    int             window;                 /* RateLimit-*, -1 if none */
    int64_t         retry_after;            /* 0 unless a window is full */
} farm_limit_view_t;


/* "second", ... "year"; NULL for an unknown window. */
const char *farm_window_name(unsigned w);

/* "Second", ... "Year", as in X-RateLimit-Limit-Second. */
const char *farm_window_title(unsigned w);

/* FARM_WIN_* for a name of len bytes, or -1. */
int farm_window_parse(const char *name, size_t len);

/* Start of the window w that contains Unix time now (UTC). */
int64_t farm_window_start(unsigned w, int64_t now);

/* Start of the window after the one that starts at start. */
int64_t farm_window_next(unsigned w, int64_t start);

/* Longest a window w can last, in seconds (a leap year, 31 days). */
int64_t farm_window_max_length(unsigned w);

/*
 * Counts one request at time now against the windows with limit[w] > 0,
 * in c[FARM_WIN_SLOTS], under the caller's lock.  Returns 1 and counts the
 * request in every configured window if each has room, else returns 0 and
 * counts nothing.  count[w] receives the count of the window the request
 * belongs to, start[w] that window's start (for farm_limit_untake()).
 *
 * Workers' clocks differ by a little (nginx caches the time per event loop
 * iteration), so requests do not reach the counters in time order.  A
 * counter only moves forward: a request for a window that has already
 * ended counts in the current one; except for seconds, where the previous
 * second keeps its own counter, so that a worker whose clock is a moment
 * behind still counts in the second it sees, and no second admits more
 * than its limit.
 */
int farm_limit_take(farm_counter_t *c, const uint32_t *limit, int64_t now,
    uint32_t *count, uint32_t *start);

/*
 * Undoes a farm_limit_take() that returned 1 (another limit rejected the
 * request), given the start[] it returned.  Windows that have moved on
 * since are left alone.  count[w] is updated as by farm_limit_take().
 */
void farm_limit_untake(farm_counter_t *c, const uint32_t *limit,
    const uint32_t *start, uint32_t *count);

/* No counter in c holds a request of a window that is still running. */
int farm_counters_idle(const farm_counter_t *c, int64_t now);

void farm_limit_view_init(farm_limit_view_t *v);

/*
 * Adds one limit's outcome to the view: count[w] is what that window holds
 * now (after the request, if it was counted).  Per window the view keeps
 * the limit with the fewest requests remaining.  When the request was not
 * admitted, the full windows set retry_after: the time until all of them
 * have ended.
 */
void farm_limit_view_add(farm_limit_view_t *v, const uint32_t *limit,
    const uint32_t *count, int64_t now, int admitted);

/*
 * Chooses the window RateLimit-* describe: the fewest remaining, and
 * among equals the longest window.
 */
void farm_limit_view_done(farm_limit_view_t *v);


#endif /* _NGX_HTTP_FARM_LIMIT_WINDOW_H_INCLUDED_ */
