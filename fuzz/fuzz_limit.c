/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Rate-limit windows and counters
 * (ngx_farm_module/ngx_http_farm_limit_window.c).
 *
 * Input: 6 bytes of limits (0: window not configured), 5 bytes of start
 * time, then operations: take, untake the last admitted take, clock steps
 * forward (by seconds to months) or 0-2 s back (workers' clocks differ),
 * idle check, view.
 *
 * Invariants: start(w,t) <= t < next(w,start(w,t)), a window lasts at
 * most max_length and start() is a fixed point; an admitted take gives
 * 1 <= count <= limit in every configured window; the counters of the
 * running windows, and the previous second's, never exceed their limits;
 * a view has remaining <= limit, 1 <= reset <= max_length and a window
 * from -1 to 5.
 */

#include "fuzz.h"

#include "ngx_http_farm_limit_window.h"


static void
fz_windows(int64_t now)
{
    unsigned  w;
    int64_t   start, next;

    for (w = 0; w < FARM_WIN_N; w++) {
        start = farm_window_start(w, now);
        next = farm_window_next(w, start);

        FZ_CHECK(start <= now && now < next);
        FZ_CHECK(next - start <= farm_window_max_length(w));
        FZ_CHECK(farm_window_start(w, start) == start);
        FZ_CHECK(farm_window_start(w, next) == next);
    }
}


static void
fz_bounded(const farm_counter_t *c, const uint32_t *limit, int64_t now)
{
    unsigned  w;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (limit[w] && c[w].start == (uint32_t) farm_window_start(w, now)) {
            FZ_CHECK(c[w].count <= limit[w]);
        }
    }

    if (limit[FARM_WIN_SECOND]) {
        FZ_CHECK(c[FARM_WIN_PREV].count <= limit[FARM_WIN_SECOND]);
    }
}


static void
fz_view(const uint32_t *limit, const uint32_t *count, int64_t now,
    int admitted)
{
    unsigned           w;
    farm_limit_view_t  v;

    farm_limit_view_init(&v);
    farm_limit_view_add(&v, limit, count, now, admitted);
    farm_limit_view_done(&v);

    FZ_CHECK(v.window >= -1 && v.window < FARM_WIN_N);
    FZ_CHECK(v.retry_after >= 0);

    for (w = 0; w < FARM_WIN_N; w++) {
        if (v.limit[w] == 0) {
            continue;
        }

        FZ_CHECK(v.limit[w] == limit[w]);
        FZ_CHECK(v.remaining[w] <= v.limit[w]);
        FZ_CHECK(v.reset[w] >= 1 && v.reset[w] <= farm_window_max_length(w));
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             admitted, have_take;
    size_t          i;
    int64_t         now, step;
    unsigned        w;
    uint32_t        limit[FARM_WIN_N], count[FARM_WIN_N], start[FARM_WIN_N];
    uint32_t        vcount[FARM_WIN_N];
    farm_counter_t  c[FARM_WIN_SLOTS];
    static const int64_t  unit[] = { 1, 60, 3600, 86400, 2678400 };

    if (size < 11) {
        return 0;
    }

    for (w = 0; w < FARM_WIN_N; w++) {
        /* small limits are reached; 255 stands for a big one */
        limit[w] = data[w] == 255 ? FARM_LIMIT_MAX : data[w] % 8;
    }

    now = 0;

    for (i = 6; i < 11; i++) {
        now = now * 256 + data[i];
    }

    /* counters hold 32-bit starts: stay before 2106 */

    now %= (int64_t) 4000000000;

    memset(c, 0, sizeof(c));
    memset(count, 0, sizeof(count));
    admitted = 0;
    have_take = 0;

    for (i = 11; i < size; i++) {
        fz_windows(now);

        switch (data[i] % 6) {

        case 0:
            admitted = farm_limit_take(c, limit, now, count, start);
            have_take = admitted;

            if (admitted) {
                for (w = 0; w < FARM_WIN_N; w++) {
                    if (limit[w]) {
                        FZ_CHECK(count[w] >= 1 && count[w] <= limit[w]);
                    }
                }
            }

            break;

        case 1:
            if (have_take) {
                farm_limit_untake(c, limit, start, count);
                have_take = 0;
            }

            break;

        case 2:
            if (i + 1 < size) {
                i++;
                step = (data[i] & 0x3f) * unit[(data[i] >> 6) % 5];

                if (now + step < (int64_t) 4000000000) {
                    now += step;
                    have_take = 0;
                }
            }

            break;

        case 3:
            now -= (data[i] / 6) % 3;
            if (now < 0) {
                now = 0;
            }

            break;

        case 4:
            (void) farm_counters_idle(c, now);
            break;

        default:
            for (w = 0; w < FARM_WIN_N; w++) {
                vcount[w] = count[w] > limit[w] ? limit[w] : count[w];
            }

            fz_view(limit, vcount, now, admitted);
            break;
        }

        fz_bounded(c, limit, now);
    }

    return 0;
}
