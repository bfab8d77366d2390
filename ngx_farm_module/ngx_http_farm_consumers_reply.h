
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FARM_CONSUMERS_REPLY_H_INCLUDED_
#define _NGX_HTTP_FARM_CONSUMERS_REPLY_H_INCLUDED_


/*
 * The Redis consumer source's two replies (farm_consumers redis://...),
 * read independently of nginx and hiredis (the unit tests and the fuzzer
 * drive them directly).  Each reply is HGETALL's flat list: field, value,
 * field, value...
 *
 *   <prefix>:consumer-tiers   field: a consumer's name (1-128 bytes, no
 *                             control characters); value: its tier (1-64
 *                             of A-Z a-z 0-9 . _ -)
 *   <prefix>:consumer-keys    field: the SHA-256 of an API key, 64
 *                             lower-case hex digits (as sha256sum writes
 *                             it); value: the consumer's name
 *
 * An entry that breaks a rule is skipped and counted, never fatal: the
 * rest of the consumers stay usable.  Upper-case hex is skipped too, so
 * one key cannot be listed twice, under two consumers.
 */


#include <stddef.h>
#include <stdint.h>

#include "ngx_http_farm_consumers.h"


#define FARM_DIGEST_LEN  32


/* One element of a reply. */
typedef struct {
    const char     *data;           /* NULL: not a string (nil, a number) */
    size_t          len;
} farm_reply_elt_t;


/* One key: its digest and whose it is. */
typedef struct {
    uint8_t         digest[FARM_DIGEST_LEN];
    uint32_t        consumer;       /* index in consumers */
} farm_reply_key_t;


typedef struct {
    farm_consumer_t   *consumers;   /* by name; tier "" when none given */
    size_t             nconsumers;
    farm_reply_key_t  *keys;        /* grouped by consumer */
    size_t             nkeys;
} farm_reply_keys_t;


/*
 * The valid entries of the consumer-tiers reply elts[0..n), sorted by
 * name; the strings point into elts.  Returns 0 and sets *tiers (malloc'd,
 * the caller frees it) and *ntiers, or -1 when out of memory.  *skipped
 * grows by the number of entries skipped (an odd last element is not one).
 */
int farm_reply_tiers(const farm_reply_elt_t *elts, size_t n,
    farm_consumer_t **tiers, size_t *ntiers, size_t *skipped);

/*
 * The valid entries of the consumer-keys reply elts[0..n), with each
 * consumer's tier looked up in tiers[0..ntiers) (sorted by name, as
 * farm_reply_tiers() gives them).  Names point into elts, tiers into
 * tiers.  Returns 0 and fills out (release with farm_reply_keys_free()),
 * or -1 when out of memory, with nothing to free.  *skipped grows by the
 * number of entries skipped.
 */
int farm_reply_keys(const farm_reply_elt_t *elts, size_t n,
    const farm_consumer_t *tiers, size_t ntiers, farm_reply_keys_t *out,
    size_t *skipped);

void farm_reply_keys_free(farm_reply_keys_t *out);


#endif /* _NGX_HTTP_FARM_CONSUMERS_REPLY_H_INCLUDED_ */
