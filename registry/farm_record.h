/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_record: the one definition of "an agent", shared by farm-agent and
 * ngx_http_farm_module.  A record is what an agent publishes about itself in
 * the registry (Redis value, Consul service); docs/registry.md is the schema.
 */

#ifndef FARM_RECORD_H
#define FARM_RECORD_H

#include <stddef.h>
#include <stdint.h>


#define FARM_ID_MAX          128     /* agent id, bytes */
#define FARM_SERVICE_MAX     64      /* service name */
#define FARM_ADDRESS_MAX     63      /* IPv4 or IPv6 literal */
#define FARM_REGION_MAX      64      /* region name */
#define FARM_CAP_MAX         64      /* one capability name */
#define FARM_CAPS_MAX        32      /* capabilities of one agent */
#define FARM_META_MAX        4096    /* meta object, serialized */
#define FARM_RECORD_MAX      65536   /* whole record, serialized */
#define FARM_WEIGHT_MAX      1000
#define FARM_MAX_CONNS_MAX   1000000
#define FARM_TS_MAX          9007199254740991LL    /* 2^53 - 1, ms */

#define FARM_ERR_MAX         256     /* size of an error message buffer */


typedef struct {
    char        id[FARM_ID_MAX + 1];
    char        service[FARM_SERVICE_MAX + 1];
    char        address[FARM_ADDRESS_MAX + 1];
    unsigned    port;                       /* 1..65535 */
    unsigned    weight;                     /* 1..1000, default 1 */
    char        region[FARM_REGION_MAX + 1];   /* "" = none */
    char        caps[FARM_CAPS_MAX][FARM_CAP_MAX + 1];
    unsigned    ncaps;
    unsigned    max_conns;                  /* 0 = unlimited */
    int         backup;                     /* 0 or 1 */
    char       *meta;    /* compact JSON object text, malloc'd, or NULL */
    int64_t     ts;      /* Unix ms the agent wrote it at; 0 = not given */
} farm_record_t;


/*
 * Writes a printf-style reason into err (FARM_ERR_MAX bytes), if err is not
 * NULL: how every registry function reports what was wrong.
 */
void farm_err(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets every field to its default (weight 1, everything else empty). */
void farm_record_init(farm_record_t *r);

/* Frees what the record owns (meta) and resets it. */
void farm_record_free(farm_record_t *r);

/*
 * Frees what jansson allocated and handed over (json_dumps()' text) with
 * jansson's own free function: the module may give jansson an allocator
 * of its own (an arena for a big parse), so free() is not always right.
 */
void farm_json_free(void *p);

/*
 * Parses a record from its JSON form.  Takes the text and its length (it
 * need not be NUL-terminated).  On success returns 0 and fills r (the caller
 * owns r->meta and releases it with farm_record_free).  On failure returns
 * -1, leaves r freed, and writes a one-line reason naming the field into err
 * (FARM_ERR_MAX bytes), e.g. "port: must be an integer from 1 to 65535".
 * Unknown fields are ignored so newer agents can add fields.
 */
int farm_record_parse(farm_record_t *r, const char *json, size_t len,
    char *err);

/*
 * Checks every field of a record built in code (the agent builds its own
 * from flags).  Returns 0, or -1 with the reason in err.
 */
int farm_record_validate(const farm_record_t *r, char *err);

/*
 * Serializes a record to compact JSON with keys in a fixed order.  Returns
 * a malloc'd NUL-terminated string the caller frees, or NULL on allocation
 * failure.
 */
char *farm_record_to_json(const farm_record_t *r);

/*
 * Like farm_record_to_json, with "ts" set to the current Unix time in
 * milliseconds: what an agent writes each time it registers.
 */
char *farm_record_to_json_now(const farm_record_t *r);

/*
 * Adds capabilities from a comma-separated list ("gpu,browser") to r.
 * Returns 0, or -1 with the reason in err.
 */
int farm_record_add_caps(farm_record_t *r, const char *list, char *err);

/*
 * Sets r->meta from a JSON object text (validated, re-serialized compact).
 * Returns 0, or -1 with the reason in err.
 */
int farm_record_set_meta(farm_record_t *r, const char *json, char *err);

/* 1 if r has capability cap, else 0. */
int farm_record_has_cap(const farm_record_t *r, const char *cap);

/*
 * Name rules.  An id is 1..FARM_ID_MAX bytes of [A-Za-z0-9._:@-]; a service,
 * region or capability is 1..max bytes of [A-Za-z0-9._-].  Both start with
 * a letter or digit.  Returns 1 if s[0..len) is a valid name.
 */
int farm_valid_id(const char *s, size_t len);
int farm_valid_name(const char *s, size_t len, size_t max);

/* 1 if s is an IPv4 or IPv6 literal. */
int farm_valid_address(const char *s);

#endif /* FARM_RECORD_H */
