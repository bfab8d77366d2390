/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */

#include <stdio.h>
#include <string.h>

#include "farm_record.h"
#include "farm_keys.h"


static int
farm_fit(int n, size_t size)
{
    return (n < 0 || (size_t) n >= size) ? -1 : n;
}


int
farm_key_agent(char *buf, size_t size, const char *prefix,
    const char *service, const char *id)
{
    return farm_fit(snprintf(buf, size, "%s:%s:agent:%s", prefix, service,
                             id), size);
}


int
farm_key_index(char *buf, size_t size, const char *prefix,
    const char *service)
{
    return farm_fit(snprintf(buf, size, "%s:%s:agents", prefix, service),
                    size);
}


int
farm_key_events(char *buf, size_t size, const char *prefix,
    const char *service)
{
    return farm_fit(snprintf(buf, size, "%s:%s:events", prefix, service),
                    size);
}


size_t
farm_key_agent_prefix_len(const char *prefix, const char *service)
{
    return strlen(prefix) + strlen(service) + sizeof("::agent:") - 1;
}


int
farm_event_format(char *buf, size_t size, int type, const char *id)
{
    return farm_fit(snprintf(buf, size, "%s %s",
                             type == FARM_EVENT_REGISTER ? "register"
                                                         : "deregister",
                             id), size);
}


int
farm_event_parse(const char *msg, size_t len, int *type, char *id)
{
    size_t  n;

    if (len > sizeof("register ") - 1
        && memcmp(msg, "register ", sizeof("register ") - 1) == 0)
    {
        *type = FARM_EVENT_REGISTER;
        n = sizeof("register ") - 1;

    } else if (len > sizeof("deregister ") - 1
               && memcmp(msg, "deregister ", sizeof("deregister ") - 1) == 0)
    {
        *type = FARM_EVENT_DEREGISTER;
        n = sizeof("deregister ") - 1;

    } else {
        return -1;
    }

    if (!farm_valid_id(msg + n, len - n)) {
        return -1;
    }

    memcpy(id, msg + n, len - n);
    id[len - n] = '\0';

    return 0;
}
