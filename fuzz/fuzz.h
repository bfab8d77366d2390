/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * What every libFuzzer target here shares: an invariant check that stops
 * the run with its place and text, and exact-size copies of the input (so
 * that AddressSanitizer catches a read one byte past it).
 */

#ifndef FARM_FUZZ_H
#define FARM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define FZ_CHECK(cond)                                                        \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "INVARIANT FAILED %s:%d: %s\n", __FILE__,         \
                    __LINE__, #cond);                                         \
            abort();                                                          \
        }                                                                     \
    } while (0)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* A malloc'd copy of data[0..size) of exactly size bytes (never NULL). */
static inline char *
fz_copy(const uint8_t *data, size_t size)
{
    char  *p;

    p = malloc(size ? size : 1);
    if (p == NULL) {
        abort();
    }

    if (size) {
        memcpy(p, data, size);
    }

    return p;
}


/* 1 if s[0..len) holds no NUL and err is a NUL-terminated string. */
static inline int
fz_terminated(const char *err, size_t max)
{
    return memchr(err, '\0', max) != NULL;
}


#endif /* FARM_FUZZ_H */
