/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Log lines on stderr:
 *
 *   2026-01-02T03:04:05.678Z farm-agent[1234] info: message
 *
 * and the monotonic clock the agent measures time with.
 */

#ifndef FARM_LOG_H
#define FARM_LOG_H

#include <stdint.h>


#define FARM_LOG_DEBUG  0
#define FARM_LOG_INFO   1
#define FARM_LOG_WARN   2
#define FARM_LOG_ERROR  3


/* Messages below level are dropped; the default is FARM_LOG_INFO. */
void farm_log_set_level(int level);

/* Returns the level named "debug", "info", "warn" or "error", or -1. */
int farm_log_level_parse(const char *name);

void farm_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define farm_log_debug(...)  farm_log(FARM_LOG_DEBUG, __VA_ARGS__)
#define farm_log_info(...)   farm_log(FARM_LOG_INFO, __VA_ARGS__)
#define farm_log_warn(...)   farm_log(FARM_LOG_WARN, __VA_ARGS__)
#define farm_log_error(...)  farm_log(FARM_LOG_ERROR, __VA_ARGS__)

/* Milliseconds on the monotonic clock (not wall time). */
int64_t farm_clock_ms(void);

#endif /* FARM_LOG_H */
