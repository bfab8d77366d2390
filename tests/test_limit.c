/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Rate-limit windows and counting (ngx_http_farm_limit_window.c): window
 * boundaries on the UTC calendar, several windows enforced together,
 * rejected requests counted nowhere, and what the headers report.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ngx_http_farm_limit_window.h"


/* Unix time of a UTC date, by the C library, to check ours against */
static int64_t
utc(int y, int mon, int d, int h, int min, int s)
{
    struct tm  tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = min;
    tm.tm_sec = s;

    return (int64_t) timegm(&tm);
}


static void
names_round_trip(void **state)
{
    unsigned  w;

    (void) state;

    for (w = 0; w < FARM_WIN_N; w++) {
        assert_int_equal(farm_window_parse(farm_window_name(w),
                                           strlen(farm_window_name(w))), w);
    }

    assert_string_equal(farm_window_title(FARM_WIN_MINUTE), "Minute");
    assert_string_equal(farm_window_name(FARM_WIN_YEAR), "year");
    assert_int_equal(farm_window_parse("minutes", 7), -1);
    assert_int_equal(farm_window_parse("min", 3), -1);
    assert_int_equal(farm_window_parse("", 0), -1);
    assert_null(farm_window_name(FARM_WIN_N));
}


static void
short_windows_align_to_the_clock(void **state)
{
    int64_t  t;

    (void) state;

    t = utc(2026, 11, 25, 13, 47, 31);

    assert_int_equal(farm_window_start(FARM_WIN_SECOND, t), t);
    assert_int_equal(farm_window_next(FARM_WIN_SECOND, t), t + 1);

    assert_int_equal(farm_window_start(FARM_WIN_MINUTE, t),
                     utc(2026, 11, 25, 13, 47, 0));
    assert_int_equal(farm_window_next(FARM_WIN_MINUTE,
                                      utc(2026, 11, 25, 13, 47, 0)),
                     utc(2026, 11, 25, 13, 48, 0));

    assert_int_equal(farm_window_start(FARM_WIN_HOUR, t),
                     utc(2026, 11, 25, 13, 0, 0));
    assert_int_equal(farm_window_start(FARM_WIN_DAY, t),
                     utc(2026, 11, 25, 0, 0, 0));
    assert_int_equal(farm_window_next(FARM_WIN_DAY,
                                      utc(2026, 11, 25, 0, 0, 0)),
                     utc(2026, 11, 26, 0, 0, 0));

    /* exactly on a boundary: a new window */
    assert_int_equal(farm_window_start(FARM_WIN_MINUTE,
                                       utc(2026, 1, 1, 0, 0, 0)),
                     utc(2026, 1, 1, 0, 0, 0));
}


static void
months_and_years_follow_the_calendar(void **state)
{
    (void) state;

    assert_int_equal(farm_window_start(FARM_WIN_MONTH,
                                       utc(2026, 11, 25, 13, 47, 31)),
                     utc(2026, 11, 1, 0, 0, 0));
    assert_int_equal(farm_window_next(FARM_WIN_MONTH,
                                      utc(2026, 11, 1, 0, 0, 0)),
                     utc(2026, 12, 1, 0, 0, 0));

    /* December rolls over into the next year */
    assert_int_equal(farm_window_next(FARM_WIN_MONTH,
                                      utc(2026, 12, 1, 0, 0, 0)),
                     utc(2027, 1, 1, 0, 0, 0));

    /* February in a leap year, and in a century year that is not one */
    assert_int_equal(farm_window_next(FARM_WIN_MONTH,
                                      farm_window_start(FARM_WIN_MONTH,
                                          utc(2028, 2, 29, 23, 59, 59))),
                     utc(2028, 3, 1, 0, 0, 0));
    assert_int_equal(farm_window_start(FARM_WIN_MONTH,
                                       utc(2028, 2, 29, 23, 59, 59)),
                     utc(2028, 2, 1, 0, 0, 0));
    assert_int_equal(farm_window_next(FARM_WIN_MONTH,
                                      utc(2100, 2, 1, 0, 0, 0)),
                     utc(2100, 3, 1, 0, 0, 0));

    assert_int_equal(farm_window_start(FARM_WIN_YEAR,
                                       utc(2026, 12, 31, 23, 59, 59)),
                     utc(2026, 1, 1, 0, 0, 0));
    assert_int_equal(farm_window_next(FARM_WIN_YEAR,
                                      utc(2028, 1, 1, 0, 0, 0)),
                     utc(2029, 1, 1, 0, 0, 0));
    assert_int_equal(farm_window_start(FARM_WIN_YEAR, 0), 0);
}


static void
every_day_of_many_years_agrees_with_the_c_library(void **state)
{
    int64_t    t, start, next;
    struct tm  tm;
    time_t     tt;

    (void) state;

    for (t = utc(1999, 12, 1, 0, 0, 0); t < utc(2104, 3, 1, 0, 0, 0);
         t += 86400 - 7)
    {
        tt = (time_t) t;
        gmtime_r(&tt, &tm);

        start = farm_window_start(FARM_WIN_MONTH, t);
        next = farm_window_next(FARM_WIN_MONTH, start);

        assert_int_equal(start, utc(tm.tm_year + 1900, tm.tm_mon + 1, 1,
                                    0, 0, 0));
        assert_int_equal(next, utc(tm.tm_year + 1900, tm.tm_mon + 2, 1,
                                   0, 0, 0));

        assert_int_equal(farm_window_start(FARM_WIN_YEAR, t),
                         utc(tm.tm_year + 1900, 1, 1, 0, 0, 0));
        assert_true(next - start
                    <= farm_window_max_length(FARM_WIN_MONTH));
    }
}


static void
admitted_requests_count_in_every_window(void **state)
{
    int64_t         now;
    uint32_t        limit[FARM_WIN_N] = { 0 }, count[FARM_WIN_N];
    uint32_t        start[FARM_WIN_N];
    farm_counter_t  c[FARM_WIN_SLOTS];

    (void) state;

    memset(c, 0, sizeof(c));
    now = utc(2026, 11, 25, 13, 47, 31);

    limit[FARM_WIN_SECOND] = 5;
    limit[FARM_WIN_MINUTE] = 3;

    assert_int_equal(farm_limit_take(c, limit, now, count, start), 1);
    assert_int_equal(count[FARM_WIN_SECOND], 1);
    assert_int_equal(count[FARM_WIN_MINUTE], 1);

    assert_int_equal(farm_limit_take(c, limit, now, count, start), 1);
    assert_int_equal(farm_limit_take(c, limit, now, count, start), 1);
    assert_int_equal(count[FARM_WIN_SECOND], 3);
    assert_int_equal(count[FARM_WIN_MINUTE], 3);

    /* windows that are not configured are not touched */
    assert_int_equal(c[FARM_WIN_HOUR].count, 0);
    assert_int_equal(c[FARM_WIN_HOUR].start, 0);
}


static void
rejected_requests_count_in_no_window(void **state)
{
    int64_t         now;
    uint32_t        limit[FARM_WIN_N] = { 0 }, count[FARM_WIN_N];
    uint32_t        start[FARM_WIN_N];
    farm_counter_t  c[FARM_WIN_SLOTS];

    (void) state;

    memset(c, 0, sizeof(c));
    now = utc(2026, 11, 25, 13, 47, 31);

    limit[FARM_WIN_SECOND] = 2;
    limit[FARM_WIN_MINUTE] = 3;

    assert_int_equal(farm_limit_take(c, limit, now, count, start), 1);
    assert_int_equal(farm_limit_take(c, limit, now, count, start), 1);

    /* the second window is full: rejected, the minute keeps its 2 */
    assert_int_equal(farm_limit_take(c, limit, now, count, start), 0);
    assert_int_equal(count[FARM_WIN_SECOND], 2);
    assert_int_equal(count[FARM_WIN_MINUTE], 2);
    assert_int_equal(farm_limit_take(c, limit, now, count, start), 0);
    assert_int_equal(count[FARM_WIN_MINUTE], 2);

    /* next second: room again, the minute takes its third */
    assert_int_equal(farm_limit_take(c, limit, now + 1, count, start), 1);
    assert_int_equal(count[FARM_WIN_SECOND], 1);
    assert_int_equal(count[FARM_WIN_MINUTE], 3);

    /* now the minute is full */
    assert_int_equal(farm_limit_take(c, limit, now + 2, count, start), 0);
    assert_int_equal(count[FARM_WIN_SECOND], 0);
    assert_int_equal(count[FARM_WIN_MINUTE], 3);

    /* until the next minute */
    assert_int_equal(farm_limit_take(c, limit, utc(2026, 11, 25, 13, 48, 0),
                                     count, start), 1);
    assert_int_equal(count[FARM_WIN_MINUTE], 1);
}


static void
untake_gives_back_only_in_the_same_window(void **state)
{
    int64_t         now;
    uint32_t        limit[FARM_WIN_N] = { 0 }, count[FARM_WIN_N];
    uint32_t        start[FARM_WIN_N], first[FARM_WIN_N];
    farm_counter_t  c[FARM_WIN_SLOTS];

    (void) state;

    memset(c, 0, sizeof(c));
    now = utc(2026, 11, 25, 13, 47, 58);

    limit[FARM_WIN_MINUTE] = 10;
    limit[FARM_WIN_HOUR] = 10;

    assert_int_equal(farm_limit_take(c, limit, now, count, start), 1);
    assert_int_equal(farm_limit_take(c, limit, now, count, first), 1);

    farm_limit_untake(c, limit, first, count);
    assert_int_equal(count[FARM_WIN_MINUTE], 1);
    assert_int_equal(count[FARM_WIN_HOUR], 1);

    assert_int_equal(farm_limit_take(c, limit, now, count, first), 1);

    /* the next minute begins: the hour gives back, the minute cannot */
    assert_int_equal(farm_limit_take(c, limit, now + 2, count, start), 1);
    assert_int_equal(count[FARM_WIN_MINUTE], 1);
    assert_int_equal(count[FARM_WIN_HOUR], 3);

    farm_limit_untake(c, limit, first, count);
    assert_int_equal(c[FARM_WIN_MINUTE].count, 1);
    assert_int_equal(c[FARM_WIN_HOUR].count, 2);
}


static void
a_clock_behind_counts_in_its_own_second(void **state)
{
    int64_t         now;
    uint32_t        limit[FARM_WIN_N] = { 0 }, count[FARM_WIN_N];
    uint32_t        start[FARM_WIN_N], late[FARM_WIN_N];
    farm_counter_t  c[FARM_WIN_SLOTS];

    (void) state;

    memset(c, 0, sizeof(c));
    now = utc(2026, 11, 25, 13, 47, 31);

    limit[FARM_WIN_SECOND] = 2;

    /* second :31 fills up */
    assert_int_equal(farm_limit_take(c, limit, now, count, start), 1);
    assert_int_equal(farm_limit_take(c, limit, now, count, start), 1);

    /* one worker is at :32 already, another is still at :31 */
    assert_int_equal(farm_limit_take(c, limit, now + 1, count, start), 1);
    assert_int_equal(count[FARM_WIN_SECOND], 1);

    assert_int_equal(farm_limit_take(c, limit, now, count, late), 0);
    assert_int_equal(count[FARM_WIN_SECOND], 2);
    assert_int_equal(late[FARM_WIN_SECOND], now);

    /* :32 keeps its room */
    assert_int_equal(farm_limit_take(c, limit, now + 1, count, start), 1);
    assert_int_equal(count[FARM_WIN_SECOND], 2);
    assert_int_equal(farm_limit_take(c, limit, now + 1, count, start), 0);

    /* a request from :31 given back goes back to :31 */
    memset(c, 0, sizeof(c));
    assert_int_equal(farm_limit_take(c, limit, now, count, late), 1);
    assert_int_equal(farm_limit_take(c, limit, now + 1, count, start), 1);
    farm_limit_untake(c, limit, late, count);
    assert_int_equal(c[FARM_WIN_PREV].count, 0);
    assert_int_equal(c[FARM_WIN_SECOND].count, 1);

    /* older than the previous second: counts in the current one */
    assert_int_equal(farm_limit_take(c, limit, now - 5, count, start), 1);
    assert_int_equal(start[FARM_WIN_SECOND], now + 1);
    assert_int_equal(c[FARM_WIN_SECOND].count, 2);
}


static void
a_clock_behind_never_reopens_a_minute(void **state)
{
    int64_t         now;
    uint32_t        limit[FARM_WIN_N] = { 0 }, count[FARM_WIN_N];
    uint32_t        start[FARM_WIN_N];
    farm_counter_t  c[FARM_WIN_SLOTS];

    (void) state;

    memset(c, 0, sizeof(c));
    now = utc(2026, 11, 25, 13, 47, 59);

    limit[FARM_WIN_MINUTE] = 2;

    assert_int_equal(farm_limit_take(c, limit, now + 1, count, start), 1);

    /* a worker still in :47 counts in :48, it does not reset to :47 */
    assert_int_equal(farm_limit_take(c, limit, now, count, start), 1);
    assert_int_equal(count[FARM_WIN_MINUTE], 2);
    assert_int_equal(start[FARM_WIN_MINUTE], now + 1);
    assert_int_equal(farm_limit_take(c, limit, now + 1, count, start), 0);
}


static void
idle_counters_hold_no_running_window(void **state)
{
    int64_t         now;
    uint32_t        limit[FARM_WIN_N] = { 0 }, count[FARM_WIN_N];
    uint32_t        start[FARM_WIN_N];
    farm_counter_t  c[FARM_WIN_SLOTS];

    (void) state;

    memset(c, 0, sizeof(c));
    now = utc(2026, 11, 25, 13, 47, 30);

    assert_true(farm_counters_idle(c, now));

    limit[FARM_WIN_MINUTE] = 10;
    assert_int_equal(farm_limit_take(c, limit, now, count, start), 1);

    assert_false(farm_counters_idle(c, now));
    assert_false(farm_counters_idle(c, now + 29));
    assert_true(farm_counters_idle(c, now + 30));
}


static void
headers_count_down_and_name_the_tightest_window(void **state)
{
    int64_t            now;
    uint32_t           limit[FARM_WIN_N] = { 0 }, count[FARM_WIN_N];
    uint32_t           start[FARM_WIN_N];
    farm_counter_t     c[FARM_WIN_SLOTS];
    farm_limit_view_t  v;

    (void) state;

    memset(c, 0, sizeof(c));
    now = utc(2026, 11, 25, 13, 47, 31);

    limit[FARM_WIN_SECOND] = 10;
    limit[FARM_WIN_MINUTE] = 3;
    limit[FARM_WIN_HOUR] = 100;

    assert_int_equal(farm_limit_take(c, limit, now, count, start), 1);

    farm_limit_view_init(&v);
    farm_limit_view_add(&v, limit, count, now, 1);
    farm_limit_view_done(&v);

    assert_int_equal(v.limit[FARM_WIN_SECOND], 10);
    assert_int_equal(v.remaining[FARM_WIN_SECOND], 9);
    assert_int_equal(v.remaining[FARM_WIN_MINUTE], 2);
    assert_int_equal(v.remaining[FARM_WIN_HOUR], 99);
    assert_int_equal(v.limit[FARM_WIN_DAY], 0);

    assert_int_equal(v.window, FARM_WIN_MINUTE);
    assert_int_equal(v.reset[FARM_WIN_MINUTE], 29);
    assert_int_equal(v.reset[FARM_WIN_SECOND], 1);
    assert_int_equal(v.reset[FARM_WIN_HOUR], 12 * 60 + 29);
    assert_int_equal(v.retry_after, 0);
}


static void
equal_remaining_prefers_the_longer_window(void **state)
{
    int64_t            now;
    uint32_t           limit[FARM_WIN_N] = { 0 }, count[FARM_WIN_N] = { 0 };
    farm_limit_view_t  v;

    (void) state;

    now = utc(2026, 11, 25, 13, 47, 31);

    limit[FARM_WIN_SECOND] = 5;
    limit[FARM_WIN_DAY] = 5;
    count[FARM_WIN_SECOND] = 5;
    count[FARM_WIN_DAY] = 5;

    farm_limit_view_init(&v);
    farm_limit_view_add(&v, limit, count, now, 0);
    farm_limit_view_done(&v);

    assert_int_equal(v.window, FARM_WIN_DAY);
    assert_int_equal(v.remaining[FARM_WIN_DAY], 0);

    /* both are full: retry once both have ended, the day */
    assert_int_equal(v.retry_after, utc(2026, 11, 26, 0, 0, 0) - now);
}


static void
retry_after_comes_from_the_full_windows_only(void **state)
{
    int64_t            now;
    uint32_t           limit[FARM_WIN_N] = { 0 }, count[FARM_WIN_N] = { 0 };
    farm_limit_view_t  v;

    (void) state;

    now = utc(2026, 11, 25, 13, 47, 31);

    limit[FARM_WIN_MINUTE] = 3;
    limit[FARM_WIN_HOUR] = 100;
    count[FARM_WIN_MINUTE] = 3;
    count[FARM_WIN_HOUR] = 50;

    farm_limit_view_init(&v);
    farm_limit_view_add(&v, limit, count, now, 0);
    farm_limit_view_done(&v);

    assert_int_equal(v.retry_after, 29);
    assert_int_equal(v.window, FARM_WIN_MINUTE);

    /* an admitted request never gets Retry-After, even on the last slot */
    farm_limit_view_init(&v);
    farm_limit_view_add(&v, limit, count, now, 1);
    assert_int_equal(v.retry_after, 0);
}


static void
two_limits_merge_to_the_fewest_remaining(void **state)
{
    int64_t            now;
    uint32_t           a[FARM_WIN_N] = { 0 }, b[FARM_WIN_N] = { 0 };
    uint32_t           ca[FARM_WIN_N] = { 0 }, cb[FARM_WIN_N] = { 0 };
    farm_limit_view_t  v;

    (void) state;

    now = utc(2026, 11, 25, 13, 47, 31);

    a[FARM_WIN_MINUTE] = 100;
    ca[FARM_WIN_MINUTE] = 10;
    b[FARM_WIN_MINUTE] = 20;
    b[FARM_WIN_HOUR] = 1000;
    cb[FARM_WIN_MINUTE] = 15;
    cb[FARM_WIN_HOUR] = 15;

    farm_limit_view_init(&v);
    farm_limit_view_add(&v, a, ca, now, 1);
    farm_limit_view_add(&v, b, cb, now, 1);
    farm_limit_view_done(&v);

    assert_int_equal(v.limit[FARM_WIN_MINUTE], 20);
    assert_int_equal(v.remaining[FARM_WIN_MINUTE], 5);
    assert_int_equal(v.limit[FARM_WIN_HOUR], 1000);
    assert_int_equal(v.window, FARM_WIN_MINUTE);
}


static void
a_count_above_the_limit_reports_zero_remaining(void **state)
{
    int64_t            now;
    uint32_t           limit[FARM_WIN_N] = { 0 }, count[FARM_WIN_N] = { 0 };
    farm_limit_view_t  v;

    (void) state;

    /* a zone shared with a directive that allows more */
    now = utc(2026, 11, 25, 13, 47, 31);
    limit[FARM_WIN_MINUTE] = 3;
    count[FARM_WIN_MINUTE] = 7;

    farm_limit_view_init(&v);
    farm_limit_view_add(&v, limit, count, now, 0);
    farm_limit_view_done(&v);

    assert_int_equal(v.remaining[FARM_WIN_MINUTE], 0);
    assert_int_equal(v.retry_after, 29);
}


static void
no_limits_no_view(void **state)
{
    farm_limit_view_t  v;

    (void) state;

    farm_limit_view_init(&v);
    farm_limit_view_done(&v);

    assert_int_equal(v.window, -1);
    assert_int_equal(v.retry_after, 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_round_trip),
        cmocka_unit_test(short_windows_align_to_the_clock),
        cmocka_unit_test(months_and_years_follow_the_calendar),
        cmocka_unit_test(every_day_of_many_years_agrees_with_the_c_library),
        cmocka_unit_test(admitted_requests_count_in_every_window),
        cmocka_unit_test(rejected_requests_count_in_no_window),
        cmocka_unit_test(untake_gives_back_only_in_the_same_window),
        cmocka_unit_test(a_clock_behind_counts_in_its_own_second),
        cmocka_unit_test(a_clock_behind_never_reopens_a_minute),
        cmocka_unit_test(idle_counters_hold_no_running_window),
        cmocka_unit_test(headers_count_down_and_name_the_tightest_window),
        cmocka_unit_test(equal_remaining_prefers_the_longer_window),
        cmocka_unit_test(retry_after_comes_from_the_full_windows_only),
        cmocka_unit_test(two_limits_merge_to_the_fewest_remaining),
        cmocka_unit_test(a_count_above_the_limit_reports_zero_remaining),
        cmocka_unit_test(no_limits_no_view),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
