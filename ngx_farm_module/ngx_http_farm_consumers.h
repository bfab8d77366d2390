
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FARM_CONSUMERS_H_INCLUDED_
#define _NGX_HTTP_FARM_CONSUMERS_H_INCLUDED_


/*
 * The consumers file of farm_consumers, parsed and checked independently of
 * nginx (the unit tests drive it directly):
 *
 *   {"consumers": [
 *       {"name": "alice", "tier": "gold", "keys": ["k-1", "k-2"]},
 *       {"name": "bob", "keys": ["k-3"]}
 *   ]}
 *
 *   name   1-128 bytes, no control characters; unique
 *   tier   optional, 1-64 of A-Z a-z 0-9 . _ -
 *   keys   API keys, 1-1024 bytes each, no control characters; unique
 *          across all consumers
 *
 * Any other field is an error, so that a typo does not silently drop a
 * setting.  Errors name the place in the file ("consumers[2].keys[0]")
 * and never quote a key.
 */


#include <stddef.h>
#include <stdint.h>


#define FARM_CONSUMER_NAME_MAX  128
#define FARM_CONSUMER_TIER_MAX  64
#define FARM_CONSUMER_KEY_MAX   1024
#define FARM_CONSUMERS_ERR_MAX  512


typedef struct {
    const char     *name;
    size_t          name_len;
    const char     *tier;               /* "" when the file gives none */
    size_t          tier_len;
} farm_consumer_t;


typedef struct {
    const char     *key;
    size_t          len;
    uint32_t        consumer;           /* index in consumers */
} farm_consumer_key_t;


typedef struct {
    farm_consumer_t        *consumers;
    size_t                  nconsumers;
    farm_consumer_key_t    *keys;
    size_t                  nkeys;
    void                   *json;       /* owns every string above */
} farm_consumers_t;


/*
 * Parses text[0..len).  Returns 0 and fills cs (free it with
 * farm_consumers_free()), or -1 with a one-line reason in err
 * (FARM_CONSUMERS_ERR_MAX bytes) and nothing to free.
 */
int farm_consumers_parse(farm_consumers_t *cs, const char *text, size_t len,
    char *err);

void farm_consumers_free(farm_consumers_t *cs);


#endif /* _NGX_HTTP_FARM_CONSUMERS_H_INCLUDED_ */
