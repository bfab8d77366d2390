/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The validator's working state and toolkit, shared by kong_check.c (errors,
 * field readers, Kong's typedefs), the entity schemas (kong_services.c:
 * services and routes; kong_upstreams.c: upstreams, health checks and
 * targets; kong_plugins.c: plugins, consumers and credentials) and
 * kong_load.c (the file, references, the result).  Not part of the public
 * API (kong.h).
 */

#ifndef KONG_SCHEMA_H
#define KONG_SCHEMA_H

#include <stdarg.h>
#include <stddef.h>

#include "kong_int.h"


#define KONG_PATH_MAX      512
#define KONG_TIMEOUT_MAX   2147483646.0


/* a reference to resolve once every entity is known */
typedef struct {
    const char         *str;        /* the name or id */
    kong_pos_t          pos;        /* of the string */
    const char         *path;       /* "routes[0].service" */
    int                 kind;       /* KONG_REF_* */
    void               *from;       /* the referencing entity */
    size_t              entity;     /* index into ctx->ents */
} kong_ref_t;

#define KONG_REF_ROUTE_SERVICE     1
#define KONG_REF_TARGET_UPSTREAM   2
#define KONG_REF_PLUGIN_ROUTE      3
#define KONG_REF_PLUGIN_SERVICE    4
#define KONG_REF_PLUGIN_CONSUMER   5
#define KONG_REF_CRED_CONSUMER     6
#define KONG_REF_SERVICE_CA        7   /* from: the service's slot */


/* every entity in file order, with what it depends on (skip mode) */
typedef struct {
    void               *ptr;
    const char         *path;       /* "plugins[1]": plugins and targets
                                       only (kong_unique_late) */
    kong_pos_t          pos;        /* of its mapping */
    uint32_t            parent;     /* index + 1 of the enclosing entity */
    uint16_t            type;       /* KONG_ENT_* */
    uint16_t            bad;
} kong_ent_t;

#define KONG_ENT_SERVICE    1
#define KONG_ENT_ROUTE      2
#define KONG_ENT_UPSTREAM   3
#define KONG_ENT_TARGET     4
#define KONG_ENT_CONSUMER   5
#define KONG_ENT_PLUGIN     6
#define KONG_ENT_CRED       7
#define KONG_ENT_CA         8
#define KONG_ENT_N          9


typedef struct {
    kong_pool_t        *pool;         /* the configuration's */
    kong_pool_t        *work;         /* freed once loaded */
    kong_config_t      *cfg;
    kong_errors_t      *errs;
    unsigned            flags;
    int                 oom;
    int                 legacy;      /* format 1.1 or 2.1 */
    int                 fatal;       /* nothing can be loaded */
    int                 keep;        /* the entity at work keeps a node */
    int                 stream_off;  /* entities are checked after the
                                        parse (kong_load.c) */
    size_t              seq;

    char                path[KONG_PATH_MAX];
    size_t              plen;

    kong_ent_t         *ents;
    size_t              nents;
    size_t              cents;
    size_t              cur;          /* index + 1 of the entity at work */

    kong_ref_t         *refs;
    size_t              nrefs;
    size_t              crefs;

    kong_map_t          names[KONG_ENT_N];    /* by KONG_ENT_*: name */
    kong_map_t          ids[KONG_ENT_N];      /* by KONG_ENT_*: id */
    kong_map_t          custom_ids;
    kong_map_t          targets;      /* "upstream-index host:port" */
    kong_map_t          plugin_keys;  /* "name route service consumer" */

    kong_map_t          by_ptr;       /* entity pointer -> kong_ent_t */
    kong_map_t          cred_keys[4]; /* by KONG_CRED_*: unique keys */
} kong_ctx_t;


extern const char *const  kong_entity_names[];
extern const char *const  kong_protocols[];
extern const int          kong_protocol_bits[];
extern const char *const  kong_credential_entities[];


/* ---- kong_check.c: errors and the entity path --------------------------- */

/*
 * Errors go to ctx->errs with the node's position and ctx->path (kong_ferr
 * appends ".field"); an error marks the entity at work (ctx->cur) invalid.
 * kong_push / kong_push_index extend ctx->path and return the mark that
 * kong_pop restores.
 */

kong_error_t *kong_errors_slot(kong_errors_t *errs);
void kong_oom(kong_ctx_t *ctx);
void kong_errv(kong_ctx_t *ctx, const kong_node_t *at, const char *field,
    const char *fmt, va_list ap);
void kong_err(kong_ctx_t *ctx, const kong_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kong_ferr(kong_ctx_t *ctx, const kong_node_t *at, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
size_t kong_push(kong_ctx_t *ctx, const char *key);
size_t kong_push_index(kong_ctx_t *ctx, size_t i);
void kong_pop(kong_ctx_t *ctx, size_t mark);
char *kong_path_dup(kong_ctx_t *ctx);


/* ---- kong_check.c: every entity, and references to resolve later ------ */

size_t kong_ent_add(kong_ctx_t *ctx, int type, void *ptr, size_t parent,
    const kong_node_t *node);
void kong_ref_add(kong_ctx_t *ctx, const kong_node_t *node, const char *field,
    int kind, void *from);


/* ---- kong_check.c: field readers ---------------------------------------- */

/*
 * kong_get_*: 1 with *out set, 0 when the field is absent or null (*out
 * untouched, so it keeps the default the caller put there), -1 after
 * reporting a wrong type or value.
 */

int kong_in_list(const char *s, size_t len, const char *const *list);
const char *kong_join(char *buf, size_t size, const char *const *list);
void kong_check_fields(kong_ctx_t *ctx, const kong_node_t *map,
    const char *const *fields);
int kong_is_str(const kong_node_t *v);
int kong_get_str(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    int required, const char **out);
int kong_get_num(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    int integer, double min, double max, double *out);
int kong_get_uint(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    double min, double max, unsigned *out);
int kong_get_bool(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    int *out);
int kong_get_enum(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    const char *const *values, int *out);
kong_node_t *kong_get_array(kong_ctx_t *ctx, const kong_node_t *map,
    const char *key, int set);


/* ---- kong_check.c: Kong's typedefs, common fields ----------------------- */

int kong_is_uuid(const char *s);
int kong_is_hostname(const char *s, size_t len);
int kong_split_host(const char *s, const char **host, size_t *hlen,
    unsigned *port);
int kong_is_ip(const char *s, size_t len);
int kong_is_host(const char *s, size_t len);
int kong_check_host(kong_ctx_t *ctx, const kong_node_t *at, const char *field,
    const char *s);
void kong_check_name(kong_ctx_t *ctx, const kong_node_t *at, const char *s);
void kong_check_tags(kong_ctx_t *ctx, const kong_node_t *map);
/* The string tags of map (kong_check_tags reports the others), or NULL. */
const char **kong_tags(kong_ctx_t *ctx, const kong_node_t *map, size_t *n);
/* An integer field (created_at, updated_at) as written, else 0. */
int64_t kong_timestamp(const kong_node_t *map, const char *key);
void kong_check_id_name(kong_ctx_t *ctx, const kong_node_t *map, int type,
    void *ent, const char *name_field, const char **id, const char **name,
    int check_name);
void kong_foreign(kong_ctx_t *ctx, const kong_node_t *map, const char *field,
    int nested, int required, int kind, void *from);
kong_node_t *kong_records(kong_ctx_t *ctx, const kong_node_t *v);
int kong_record(kong_ctx_t *ctx, const kong_node_t *v);
void kong_plugins_add(kong_ctx_t *ctx, kong_plugins_t *list, kong_plugin_t *p);
unsigned kong_get_protocols(kong_ctx_t *ctx, const kong_node_t *map,
    unsigned dflt, int *given);


/* ---- kong_services.c, kong_upstreams.c, kong_plugins.c: the schemas ---- */

/*
 * Each validates one entity mapping at ctx->path, records it (and its
 * nested children) in ctx->ents, and its references in ctx->refs.
 */

void kong_service(kong_ctx_t *ctx, const kong_node_t *map);
void kong_route(kong_ctx_t *ctx, const kong_node_t *map,
    kong_service_t *service);
void kong_upstream(kong_ctx_t *ctx, const kong_node_t *map);
void kong_target(kong_ctx_t *ctx, const kong_node_t *map, kong_upstream_t *u);
void kong_consumer(kong_ctx_t *ctx, const kong_node_t *map);
void kong_plugin(kong_ctx_t *ctx, const kong_node_t *map, int scope,
    void *owner);
void kong_credential(kong_ctx_t *ctx, const kong_node_t *map,
    const char *entity, kong_consumer_t *c);

/* kong_ca.c: ca_certificates entities, a service's ca_certificates */
void kong_ca_certificate(kong_ctx_t *ctx, const kong_node_t *map);
void kong_service_cas(kong_ctx_t *ctx, const kong_node_t *map,
    kong_service_t *s, int https);

/* kong_plugin_conf.c: a plugin's name and config; kong_creds.c: a
 * credential's fields, and what needs resolved references; kong_scope.c:
 * which configuration applies where */
void kong_plugin_config(kong_ctx_t *ctx, kong_plugin_t *p,
    const kong_node_t *map);
void kong_credential_fields(kong_ctx_t *ctx, const kong_node_t *map,
    kong_credential_t *cr);
int kong_creds_finish(kong_ctx_t *ctx);
int kong_scope_build(kong_ctx_t *ctx);

/* shared between the schema files */
void kong_nested_plugins(kong_ctx_t *ctx, const kong_node_t *map, int scope,
    void *owner);
void kong_check_path(kong_ctx_t *ctx, const kong_node_t *at,
    const char *field, const char *p);

#endif /* KONG_SCHEMA_H */
