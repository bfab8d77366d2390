/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Consul form of the agent record (docs/registry.md, "Consul"): one
 * mapping, used by farm-agent to register and by the module to read what
 * Consul's /v1/health/service/<service> lists.
 *
 *   record          Consul service
 *   id              ID
 *   service         Name (Service in health entries)
 *   address, port   Address (the node's address when empty), Port
 *   weight          Weights.Passing (Weights.Warning while a check warns)
 *   caps            Tags
 *   region          Meta.region         (absent when empty)
 *   max_conns       Meta.max_conns      decimal text (absent when 0)
 *   backup          Meta.backup         "true" (absent when false)
 *   meta            every other Meta key; Consul Meta values are strings,
 *                   so a non-string meta value is stored as its JSON text
 *
 * and a TTL check "service:<id>" that the agent passes at every heartbeat.
 */

#ifndef FARM_CONSUL_H
#define FARM_CONSUL_H

#include <stddef.h>
#include <stdint.h>

#include "farm_record.h"


#define FARM_CONSUL_PASSING      0
#define FARM_CONSUL_WARNING      1
#define FARM_CONSUL_CRITICAL     2

#define FARM_CONSUL_META_KEYS    64      /* Consul's limits */
#define FARM_CONSUL_META_KEY     128
#define FARM_CONSUL_META_VALUE   512

#define FARM_CONSUL_CHECK_MAX    (FARM_ID_MAX + 16)


typedef struct {
    int64_t      ttl_ms;                /* the TTL check's TTL */
    int64_t      deregister_after_ms;   /* DeregisterCriticalServiceAfter */
    const char  *version;               /* Meta.version unless the record's
                                           meta has one; may be NULL */
} farm_consul_reg_t;


/*
 * Writes the TTL check's id, "service:<id>", into buf (size bytes).
 * Returns its length, or -1 if it does not fit.
 */
int farm_consul_check_id(char *buf, size_t size, const char *id);

/*
 * Checks that a record's meta (compact JSON object text, or NULL) can be
 * Consul Meta: at most 60 keys of 1-128 of A-Z a-z 0-9 _ -, none named
 * region, max_conns or backup or starting with "consul-", each value at
 * most 512 bytes.  Returns 0, or -1 with the reason in err.
 */
int farm_consul_check_meta(const char *meta, char *err);

/*
 * The body of PUT /v1/agent/service/register for record r (complete and
 * valid).  Returns a malloc'd NUL-terminated JSON text the caller frees,
 * or NULL with the reason in err.
 */
char *farm_consul_registration(const farm_record_t *r,
    const farm_consul_reg_t *reg, char *err);

/*
 * Called once per entry of a health response.  label names the entry for
 * log lines ("<service>/<id>", or "<service>[<n>]" without a usable id);
 * version is its Service.ModifyIndex (0 if absent).  For a good entry r is
 * the record (owned by the parser, valid during the call) and health one
 * of FARM_CONSUL_*; for a malformed one r is NULL and err the reason.
 */
typedef void (*farm_consul_entry_pt)(void *data, const char *label,
    uint64_t version, farm_record_t *r, int health, const char *err);

/*
 * Parses the body of GET /v1/health/service/<service> and calls cb for
 * each entry, in order.  An entry is malformed when it breaks a record
 * rule, lists another service, or repeats an id already listed (the first
 * one counts).  Returns the number of entries, or -1 with the reason in
 * err when the body is not a JSON array.  The body is read one entry at a
 * time (memory: one entry's tree), so a syntax error is found only when
 * reached: cb may have been called for the entries before it, and the
 * caller drops them on -1.
 */
int farm_consul_health_parse(const char *body, size_t len,
    const char *service, farm_consul_entry_pt cb, void *data, char *err);

#endif /* FARM_CONSUL_H */
