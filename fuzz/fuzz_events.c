/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_event_parse (registry/farm_keys.c): the Redis pub/sub messages
 * "register <id>" and "deregister <id>".
 *
 * Invariants: a parsed message has a known type and a valid id, and
 * farm_event_format() writes back exactly the input.
 */

#include "fuzz.h"

#include "farm_keys.h"
#include "farm_record.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int    type, n;
    char  *s, id[FARM_ID_MAX + 1], buf[FARM_ID_MAX + 32];

    s = fz_copy(data, size);

    if (farm_event_parse(s, size, &type, id) == 0) {
        FZ_CHECK(type == FARM_EVENT_REGISTER
                 || type == FARM_EVENT_DEREGISTER);
        FZ_CHECK(memchr(id, '\0', sizeof(id)) != NULL);
        FZ_CHECK(farm_valid_id(id, strlen(id)));

        n = farm_event_format(buf, sizeof(buf), type, id);
        FZ_CHECK(n >= 0);
        FZ_CHECK((size_t) n == size);
        FZ_CHECK(memcmp(buf, s, size) == 0);
    }

    free(s);

    return 0;
}
