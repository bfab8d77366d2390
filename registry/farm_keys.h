/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Redis form of the registry (docs/registry.md):
 *
 *   <prefix>:<service>:agent:<id>   string, the record's JSON, PX = TTL
 *   <prefix>:<service>:agents       set of the ids of live agents
 *   <prefix>:<service>:events       pub/sub channel: "register <id>",
 *                                   "deregister <id>"
 *
 * The prefix is "farm" unless configured.
 */

#ifndef FARM_KEYS_H
#define FARM_KEYS_H

#include <stddef.h>


#define FARM_PREFIX_DEFAULT   "farm"
#define FARM_PREFIX_MAX       64
#define FARM_KEY_MAX          (FARM_PREFIX_MAX + 64 + 128 + 16)

#define FARM_EVENT_REGISTER   1
#define FARM_EVENT_DEREGISTER 2


/*
 * Each writes a NUL-terminated key into buf (size bytes) and returns its
 * length, or -1 if it does not fit.
 */
int farm_key_agent(char *buf, size_t size, const char *prefix,
    const char *service, const char *id);
int farm_key_index(char *buf, size_t size, const char *prefix,
    const char *service);
int farm_key_events(char *buf, size_t size, const char *prefix,
    const char *service);

/* Length of "<prefix>:<service>:agent:", the part before an agent id. */
size_t farm_key_agent_prefix_len(const char *prefix, const char *service);

/* Writes "register <id>" or "deregister <id>"; returns length or -1. */
int farm_event_format(char *buf, size_t size, int type, const char *id);

/*
 * Parses a message from the events channel.  Returns 0 and sets *type and
 * id (FARM_ID_MAX + 1 bytes), or -1 if the message is not one of ours.
 */
int farm_event_parse(const char *msg, size_t len, int *type, char *id);

#endif /* FARM_KEYS_H */
