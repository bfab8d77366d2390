
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#include <string.h>

#include "ngx_http_farm_limit_window.h"


#define FARM_DAY  86400


static int farm_leap(int64_t y);
static int64_t farm_leaps_before(int64_t y);
static int64_t farm_days_to_year(int64_t y);
static int64_t farm_days_to_month(int64_t y, unsigned m);
static void farm_civil(int64_t days, int64_t *y, unsigned *m);
static farm_counter_t *farm_counter_for(farm_counter_t *c, unsigned w,
    int64_t now);


static const char  *farm_window_names[FARM_WIN_N] = {
    "second", "minute", "hour", "day", "month", "year"
};

static const char  *farm_window_titles[FARM_WIN_N] = {
    "Second", "Minute", "Hour", "Day", "Month", "Year"
};

/* days before month m (0-11) in a common year */
static const unsigned  farm_month_days[12] = {
    0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334
};


const char *
farm_window_name(unsigned w)
{
    return w < FARM_WIN_N ? farm_window_names[w] : NULL;
}


const char *
farm_window_title(unsigned w)
{
    return w < FARM_WIN_N ? farm_window_titles[w] : NULL;
}


int
farm_window_parse(const char *name, size_t len)
{
    unsigned  w;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (strlen(farm_window_names[w]) == len
            && memcmp(farm_window_names[w], name, len) == 0)
        {
            return (int) w;
        }
    }

    return -1;
}


static int
farm_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}


/* leap years in [1, y) */

static int64_t
farm_leaps_before(int64_t y)
{
    y--;

    return y / 4 - y / 100 + y / 400;
}


/* days from 1970-01-01 to January 1st of year y (y >= 1970) */

static int64_t
farm_days_to_year(int64_t y)
{
    return 365 * (y - 1970) + farm_leaps_before(y) - farm_leaps_before(1970);
}


static int64_t
farm_days_to_month(int64_t y, unsigned m)
{
    return farm_days_to_year(y) + farm_month_days[m]
           + (m >= 2 && farm_leap(y));
}


/* the year and the month (0-11) of a day counted from 1970-01-01 */

static void
farm_civil(int64_t days, int64_t *y, unsigned *m)
{
    int64_t   year;
    unsigned  month;

    year = 1970 + days / 366;

    while (farm_days_to_year(year + 1) <= days) {
        year++;
    }

    for (month = 11; farm_days_to_month(year, month) > days; month--) {
        /* void */
    }

    *y = year;
    *m = month;
}


int64_t
farm_window_start(unsigned w, int64_t now)
{
    int64_t   y;
    unsigned  m;

    if (now < 0) {
        now = 0;
    }

    switch (w) {

    case FARM_WIN_SECOND:
        return now;

    case FARM_WIN_MINUTE:
        return now - now % 60;

    case FARM_WIN_HOUR:
        return now - now % 3600;

    case FARM_WIN_DAY:
        return now - now % FARM_DAY;

    case FARM_WIN_MONTH:
        farm_civil(now / FARM_DAY, &y, &m);
        return farm_days_to_month(y, m) * FARM_DAY;

    default: /* FARM_WIN_YEAR */
        farm_civil(now / FARM_DAY, &y, &m);
        return farm_days_to_year(y) * FARM_DAY;
    }
}


int64_t
farm_window_next(unsigned w, int64_t start)
{
    int64_t   y;
    unsigned  m;

    switch (w) {

    case FARM_WIN_SECOND:
        return start + 1;

    case FARM_WIN_MINUTE:
        return start + 60;

    case FARM_WIN_HOUR:
        return start + 3600;

    case FARM_WIN_DAY:
        return start + FARM_DAY;

    case FARM_WIN_MONTH:
        farm_civil(start / FARM_DAY, &y, &m);

        if (m == 11) {
            return farm_days_to_year(y + 1) * FARM_DAY;
        }

        return farm_days_to_month(y, m + 1) * FARM_DAY;

    default: /* FARM_WIN_YEAR */
        farm_civil(start / FARM_DAY, &y, &m);
        return farm_days_to_year(y + 1) * FARM_DAY;
    }
}


int64_t
farm_window_max_length(unsigned w)
{
    static const int64_t  len[FARM_WIN_N] = {
        1, 60, 3600, FARM_DAY, 31 * FARM_DAY, 366 * FARM_DAY
    };

    return w < FARM_WIN_N ? len[w] : 0;
}


/* the counter a request of window w at time now counts in */

static farm_counter_t *
farm_counter_for(farm_counter_t *c, unsigned w, int64_t now)
{
    uint32_t  start;

    start = (uint32_t) farm_window_start(w, now);

    if (start > c[w].start) {
        if (w == FARM_WIN_SECOND) {
            c[FARM_WIN_PREV] = c[w];
        }

        c[w].start = start;
        c[w].count = 0;

        return &c[w];
    }

    if (w == FARM_WIN_SECOND && start != c[w].start
        && start == c[FARM_WIN_PREV].start)
    {
        return &c[FARM_WIN_PREV];
    }

    /* this window, or one already over: the current one */

    return &c[w];
}


int
farm_limit_take(farm_counter_t *c, const uint32_t *limit, int64_t now,
    uint32_t *count, uint32_t *start)
{
    int              admit;
    unsigned         w;
    farm_counter_t  *slot[FARM_WIN_N];

    admit = 1;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (limit[w] == 0) {
            continue;
        }

        slot[w] = farm_counter_for(c, w, now);

        if (slot[w]->count >= limit[w]) {
            admit = 0;
        }
    }

    for (w = 0; w < FARM_WIN_N; w++) {
        if (limit[w] == 0) {
            continue;
        }

        if (admit) {
            slot[w]->count++;
        }

        count[w] = slot[w]->count;
        start[w] = slot[w]->start;
    }

    return admit;
}


void
farm_limit_untake(farm_counter_t *c, const uint32_t *limit,
    const uint32_t *start, uint32_t *count)
{
    unsigned         w;
    farm_counter_t  *slot;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (limit[w] == 0) {
            continue;
        }

        if (c[w].start == start[w]) {
            slot = &c[w];

        } else if (w == FARM_WIN_SECOND
                   && c[FARM_WIN_PREV].start == start[w])
        {
            slot = &c[FARM_WIN_PREV];

        } else {
            continue;
        }

        if (slot->count > 0) {
            slot->count--;
        }

        count[w] = slot->count;
    }
}


int
farm_counters_idle(const farm_counter_t *c, int64_t now)
{
    unsigned  w;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (c[w].count == 0) {
            continue;
        }

        if (farm_window_next(w, c[w].start) > now) {
            return 0;
        }
    }

    /* the previous second has ended by definition */

    return 1;
}


void
farm_limit_view_init(farm_limit_view_t *v)
{
    memset(v, 0, sizeof(farm_limit_view_t));
    v->window = -1;
}


void
farm_limit_view_add(farm_limit_view_t *v, const uint32_t *limit,
    const uint32_t *count, int64_t now, int admitted)
{
    int64_t   reset;
    uint32_t  remaining;
    unsigned  w;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (limit[w] == 0) {
            continue;
        }

        remaining = count[w] < limit[w] ? limit[w] - count[w] : 0;
        reset = farm_window_next(w, farm_window_start(w, now)) - now;

        if (reset < 1) {
            reset = 1;
        }

        if (!admitted && remaining == 0 && reset > v->retry_after) {
            v->retry_after = reset;
        }

        if (v->limit[w] == 0 || remaining < v->remaining[w]) {
            v->limit[w] = limit[w];
            v->remaining[w] = remaining;
            v->reset[w] = reset;
        }
    }
}


void
farm_limit_view_done(farm_limit_view_t *v)
{
    int       best;
    unsigned  w;

    best = -1;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (v->limit[w] == 0) {
            continue;
        }

        /* windows go from short to long: "<=" prefers the longer one */

        if (best == -1 || v->remaining[w] <= v->remaining[best]) {
            best = (int) w;
        }
    }

    v->window = best;
}
