/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"


static int  farm_log_level = FARM_LOG_INFO;

static const char  *farm_log_names[] = { "debug", "info", "warn", "error" };


void
farm_log_set_level(int level)
{
    farm_log_level = level;
}


int
farm_log_level_parse(const char *name)
{
    int  i;

    for (i = 0; i < 4; i++) {
        if (strcmp(name, farm_log_names[i]) == 0) {
            return i;
        }
    }

    return -1;
}


/*
 * Formats the whole line first and writes it with one call, so lines from
 * several agents sharing a terminal or file do not interleave.
 */
void
farm_log(int level, const char *fmt, ...)
{
    int              n, m;
    char             line[2048];
    va_list          ap;
    struct tm        tm;
    struct timespec  ts;

    if (level < farm_log_level) {
        return;
    }

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    n = snprintf(line, sizeof(line),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ farm-agent[%d] %s: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int) (ts.tv_nsec / 1000000),
                 (int) getpid(), farm_log_names[level]);

    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);

    if (m < 0) {
        m = 0;
    }

    n += m;

    if ((size_t) n > sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }

    line[n++] = '\n';

    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}


int64_t
farm_clock_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
