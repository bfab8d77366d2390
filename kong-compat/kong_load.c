/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Loading and validating a Kong declarative configuration: the entity
 * schemas (services, routes, upstreams, targets, consumers, plugins), their
 * defaults, the nested and top-level forms, references by name or id,
 * uniqueness, the migration of format 1.1/2.1 route paths, and errors that
 * name FILE:LINE:COLUMN, the entity path and the field, in Kong's wording
 * where Kong has one (docs/kong.md lists them).
 */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "kong_int.h"


#define KONG_PATH_MAX      512
#define KONG_FILE_MAX      (256 * 1024 * 1024)

#define KONG_TIMEOUT_MAX   2147483646.0


/* a reference to resolve once every entity is known */
typedef struct {
    const kong_node_t  *node;       /* the string */
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


/* every entity in file order, with what it depends on (skip mode) */
typedef struct {
    int                 type;       /* KONG_ENT_* */
    void               *ptr;
    size_t              parent;     /* index + 1 of the enclosing entity */
    const char         *path;       /* "services[0].routes[1]" */
    const kong_node_t  *node;
    int                 bad;
} kong_ent_t;

#define KONG_ENT_SERVICE    1
#define KONG_ENT_ROUTE      2
#define KONG_ENT_UPSTREAM   3
#define KONG_ENT_TARGET     4
#define KONG_ENT_CONSUMER   5
#define KONG_ENT_PLUGIN     6
#define KONG_ENT_CRED       7


typedef struct {
    kong_pool_t        *pool;
    kong_config_t      *cfg;
    kong_errors_t      *errs;
    unsigned            flags;
    int                 oom;
    int                 legacy;      /* format 1.1 or 2.1 */
    int                 fatal;       /* nothing can be loaded */
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

    kong_map_t          names[8];     /* by KONG_ENT_*: name/username */
    kong_map_t          ids[8];       /* by KONG_ENT_*: id */
    kong_map_t          custom_ids;
    kong_map_t          targets;      /* "upstream-index host:port" */
    kong_map_t          plugin_keys;  /* "name route service consumer" */

    kong_map_t          by_ptr;       /* entity pointer -> kong_ent_t */
} kong_ctx_t;


static const char *const  kong_entity_names[] = {
    "", "services", "routes", "upstreams", "targets", "consumers",
    "plugins", "credentials"
};

static const char *const  kong_protocols[] = {
    "grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp",
    NULL
};

static const int  kong_protocol_bits[] = {
    KONG_PROTO_GRPC, KONG_PROTO_GRPCS, KONG_PROTO_HTTP, KONG_PROTO_HTTPS,
    KONG_PROTO_TCP, KONG_PROTO_TLS, KONG_PROTO_TLS_PASSTHROUGH,
    KONG_PROTO_UDP
};

static const char *const  kong_credential_entities[] = {
    "keyauth_credentials", "basicauth_credentials", "acls", "jwt_secrets",
    "hmacauth_credentials", "oauth2_credentials", NULL
};


/* ---- errors ------------------------------------------------------------ */

/* Room for one more error (the array doubles at powers of two). */
static kong_error_t *
kong_errors_slot(kong_errors_t *errs)
{
    size_t         n;
    kong_error_t  *items;

    n = errs->n;

    if ((n & (n - 1)) == 0) {
        items = realloc(errs->items, (n ? n * 2 : 1) * sizeof(kong_error_t));
        if (items == NULL) {
            return NULL;
        }

        errs->items = items;
    }

    return &errs->items[n];
}


static void
kong_oom(kong_ctx_t *ctx)
{
    ctx->oom = 1;
}


static void
kong_errv(kong_ctx_t *ctx, const kong_node_t *at, const char *field,
    const char *fmt, va_list ap)
{
    char           msg[1024], path[KONG_PATH_MAX + 128];
    kong_error_t  *e;

    if (ctx->cur) {
        ctx->ents[ctx->cur - 1].bad = 1;
    }

    if (ctx->errs->n >= KONG_ERRORS_MAX) {
        ctx->errs->dropped++;
        return;
    }

    vsnprintf(msg, sizeof(msg), fmt, ap);

    if (field) {
        snprintf(path, sizeof(path), "%.*s%s%s", (int) ctx->plen, ctx->path,
                 ctx->plen ? "." : "", field);

    } else {
        snprintf(path, sizeof(path), "%.*s", (int) ctx->plen, ctx->path);
    }

    e = kong_errors_slot(ctx->errs);
    if (e == NULL) {
        kong_oom(ctx);
        return;
    }

    e->line = at ? at->line : 1;
    e->col = at ? at->col : 1;
    e->path = strdup(path[0] ? path : "(root)");
    e->message = strdup(msg);

    if (e->path == NULL || e->message == NULL) {
        free(e->path);
        free(e->message);
        kong_oom(ctx);
        return;
    }

    ctx->errs->n++;
    ctx->seq++;
}


/* An error at node (or its parent when absent) about the current path. */
static void
kong_err(kong_ctx_t *ctx, const kong_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
kong_err(kong_ctx_t *ctx, const kong_node_t *at, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    kong_errv(ctx, at, NULL, fmt, ap);
    va_end(ap);
}


/* An error about a field of the entity at the current path. */
static void
kong_ferr(kong_ctx_t *ctx, const kong_node_t *at, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
kong_ferr(kong_ctx_t *ctx, const kong_node_t *at, const char *field,
    const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    kong_errv(ctx, at, field, fmt, ap);
    va_end(ap);
}


static size_t
kong_push(kong_ctx_t *ctx, const char *key)
{
    size_t  mark;
    int     n;

    mark = ctx->plen;

    n = snprintf(ctx->path + ctx->plen, sizeof(ctx->path) - ctx->plen,
                 "%s%s", ctx->plen ? "." : "", key);

    if (n > 0) {
        ctx->plen += (size_t) n;
        if (ctx->plen >= sizeof(ctx->path)) {
            ctx->plen = sizeof(ctx->path) - 1;
        }
    }

    return mark;
}


static size_t
kong_push_index(kong_ctx_t *ctx, size_t i)
{
    size_t  mark;
    int     n;

    mark = ctx->plen;

    n = snprintf(ctx->path + ctx->plen, sizeof(ctx->path) - ctx->plen,
                 "[%zu]", i);

    if (n > 0) {
        ctx->plen += (size_t) n;
        if (ctx->plen >= sizeof(ctx->path)) {
            ctx->plen = sizeof(ctx->path) - 1;
        }
    }

    return mark;
}


static void
kong_pop(kong_ctx_t *ctx, size_t mark)
{
    ctx->plen = mark;
    ctx->path[mark] = '\0';
}


static char *
kong_path_dup(kong_ctx_t *ctx)
{
    char  *p;

    p = kong_pstrndup(ctx->pool, ctx->path, ctx->plen);
    if (p == NULL) {
        kong_oom(ctx);
    }

    return p;
}


/* ---- entity bookkeeping -------------------------------------------------- */

static size_t
kong_ent_add(kong_ctx_t *ctx, int type, void *ptr, size_t parent,
    const kong_node_t *node)
{
    kong_ent_t  *e;
    size_t       cap;

    if (ctx->nents == ctx->cents) {
        cap = ctx->cents ? ctx->cents * 2 : 64;
        e = kong_palloc(ctx->pool, cap * sizeof(kong_ent_t));
        if (e == NULL) {
            kong_oom(ctx);
            return 0;
        }

        if (ctx->nents) {
            memcpy(e, ctx->ents, ctx->nents * sizeof(kong_ent_t));
        }

        ctx->ents = e;
        ctx->cents = cap;
    }

    e = &ctx->ents[ctx->nents++];
    e->type = type;
    e->ptr = ptr;
    e->parent = parent;
    e->path = kong_path_dup(ctx);
    e->node = node;
    e->bad = 0;

    return ctx->nents;
}


static void
kong_ref_add(kong_ctx_t *ctx, const kong_node_t *node, const char *field,
    int kind, void *from)
{
    kong_ref_t  *r;
    size_t       cap, mark;

    if (ctx->nrefs == ctx->crefs) {
        cap = ctx->crefs ? ctx->crefs * 2 : 64;
        r = kong_palloc(ctx->pool, cap * sizeof(kong_ref_t));
        if (r == NULL) {
            kong_oom(ctx);
            return;
        }

        if (ctx->nrefs) {
            memcpy(r, ctx->refs, ctx->nrefs * sizeof(kong_ref_t));
        }

        ctx->refs = r;
        ctx->crefs = cap;
    }

    r = &ctx->refs[ctx->nrefs++];
    r->node = node;
    mark = kong_push(ctx, field);
    r->path = kong_path_dup(ctx);
    kong_pop(ctx, mark);
    r->kind = kind;
    r->from = from;
    r->entity = ctx->cur;
}


/* ---- field readers ------------------------------------------------------- */

static int
kong_in_list(const char *s, size_t len, const char *const *list)
{
    size_t  i;

    for (i = 0; list[i]; i++) {
        if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0) {
            return (int) i;
        }
    }

    return -1;
}


/* "a, b, c" for "expected one of: ..." */
static const char *
kong_join(char *buf, size_t size, const char *const *list)
{
    size_t  i, o;
    int     n;

    o = 0;
    buf[0] = '\0';

    for (i = 0; list[i]; i++) {
        n = snprintf(buf + o, size - o, "%s%s", i ? ", " : "", list[i]);
        if (n < 0 || (size_t) n >= size - o) {
            break;
        }

        o += (size_t) n;
    }

    return buf;
}


/*
 * Reports every key of an entity mapping that is not in fields (nor
 * _comment / _ignore, allowed everywhere) as "unknown field".
 */
static void
kong_check_fields(kong_ctx_t *ctx, const kong_node_t *map,
    const char *const *fields)
{
    size_t        i;
    kong_node_t  *k, *v;

    for (i = 0; i < map->n; i++) {
        k = map->keys[i];
        v = map->items[i];

        if (k->len == 8 && memcmp(k->str, "_comment", 8) == 0) {
            if (!kong_node_is_null(v) && (v->type != KONG_NODE_SCALAR
                                          || v->scalar != KONG_SCALAR_STR))
            {
                kong_ferr(ctx, v, "_comment", "expected a string");
            }

            continue;
        }

        if (k->len == 7 && memcmp(k->str, "_ignore", 7) == 0) {
            if (!kong_node_is_null(v) && v->type != KONG_NODE_SEQ) {
                kong_ferr(ctx, v, "_ignore", "expected an array");
            }

            continue;
        }

        if (kong_in_list(k->str, k->len, fields) < 0) {
            char  name[128];

            snprintf(name, sizeof(name), "%.*s", (int) k->len, k->str);
            kong_ferr(ctx, k, name, "unknown field");
        }
    }
}


static int
kong_is_str(const kong_node_t *v)
{
    return v->type == KONG_NODE_SCALAR && v->scalar == KONG_SCALAR_STR;
}


/*
 * A string field.  Returns 1 with *out set, 0 when absent or null (*out
 * untouched; "required field missing" if required), -1 on a wrong type.
 */
static int
kong_get_str(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    int required, const char **out)
{
    kong_node_t  *v;

    v = kong_node_get(map, key);

    if (kong_node_is_null(v)) {
        if (required) {
            kong_ferr(ctx, v ? v : map, key, "required field missing");
            return -1;
        }

        return 0;
    }

    if (!kong_is_str(v)) {
        kong_ferr(ctx, v, key, "expected a string");
        return -1;
    }

    *out = v->str;

    return 1;
}


static int
kong_get_num(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    int integer, double min, double max, double *out)
{
    kong_node_t  *v;

    v = kong_node_get(map, key);

    if (kong_node_is_null(v)) {
        return 0;
    }

    if (v->type != KONG_NODE_SCALAR
        || (v->scalar != KONG_SCALAR_INT && v->scalar != KONG_SCALAR_FLOAT))
    {
        kong_ferr(ctx, v, key, integer ? "expected an integer"
                                       : "expected a number");
        return -1;
    }

    if (integer && (isnan(v->number) || floor(v->number) != v->number)) {
        kong_ferr(ctx, v, key, "expected an integer");
        return -1;
    }

    if (isnan(v->number) || v->number < min || v->number > max) {
        if (max >= 9e15) {
            kong_ferr(ctx, v, key, "value must be greater than %.0f",
                      min - 1);

        } else if (integer || (floor(min) == min && floor(max) == max)) {
            kong_ferr(ctx, v, key, "value should be between %.0f and %.0f",
                      min, max);

        } else {
            kong_ferr(ctx, v, key, "value should be between %g and %g",
                      min, max);
        }

        return -1;
    }

    *out = v->number;

    return 1;
}


static int
kong_get_uint(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    double min, double max, unsigned *out)
{
    double  d;
    int     rc;

    rc = kong_get_num(ctx, map, key, 1, min, max, &d);
    if (rc == 1) {
        *out = (unsigned) d;
    }

    return rc;
}


static int
kong_get_bool(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    int *out)
{
    kong_node_t  *v;

    v = kong_node_get(map, key);

    if (kong_node_is_null(v)) {
        return 0;
    }

    if (v->type != KONG_NODE_SCALAR || v->scalar != KONG_SCALAR_BOOL) {
        kong_ferr(ctx, v, key, "expected a boolean");
        return -1;
    }

    *out = v->boolean;

    return 1;
}


static int
kong_get_enum(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    const char *const *values, int *out)
{
    int          i;
    char         buf[256];
    const char  *s;

    if (kong_get_str(ctx, map, key, 0, &s) != 1) {
        return 0;
    }

    i = kong_in_list(s, strlen(s), values);

    if (i < 0) {
        kong_ferr(ctx, kong_node_get(map, key), key, "expected one of: %s",
                  kong_join(buf, sizeof(buf), values));
        return -1;
    }

    *out = i;

    return 1;
}


/* An array field; returns the node, NULL when absent/null or wrong. */
static kong_node_t *
kong_get_array(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    int set)
{
    kong_node_t  *v;

    v = kong_node_get(map, key);

    if (kong_node_is_null(v)) {
        return NULL;
    }

    if (v->type != KONG_NODE_SEQ) {
        kong_ferr(ctx, v, key, set ? "expected a set" : "expected an array");
        return NULL;
    }

    return v;
}


/* ---- value checks (typedefs) --------------------------------------------- */

static int
kong_is_uuid(const char *s)
{
    size_t  i;

    if (strlen(s) != 36) {
        return 0;
    }

    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }

        } else if (!isxdigit((unsigned char) s[i])) {
            return 0;
        }
    }

    return 1;
}


static int
kong_is_ipv4(const char *s, size_t len)
{
    size_t    i, digits, dots;
    unsigned  v;

    digits = 0;
    dots = 0;
    v = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (digits == 0 || ++dots > 3) {
                return 0;
            }

            digits = 0;
            v = 0;

        } else if (s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (unsigned) (s[i] - '0');
            if (++digits > 3 || v > 255) {
                return 0;
            }

        } else {
            return 0;
        }
    }

    return dots == 3 && digits > 0;
}


static int
kong_is_ipv6(const char *s, size_t len)
{
    size_t  i, colons;

    colons = 0;

    if (len < 2) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] == ':') {
            colons++;

        } else if (!isxdigit((unsigned char) s[i]) && s[i] != '.') {
            return 0;
        }
    }

    return colons >= 2 && colons <= 7;
}


/* A host name: dot-separated labels of letters, digits, '-' and '_'. */
static int
kong_is_hostname(const char *s, size_t len)
{
    size_t  i, label;

    if (len == 0 || len > 253) {
        return 0;
    }

    label = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (label == 0) {
                return 0;
            }

            label = 0;
            continue;
        }

        if (!isalnum((unsigned char) s[i]) && s[i] != '-' && s[i] != '_') {
            return 0;
        }

        if (++label > 63) {
            return 0;
        }
    }

    /* a trailing dot is allowed ("example.com.") */
    return 1;
}


/*
 * Splits "host", "host:port", "ip:port", "[ipv6]:port" or a bare IPv6
 * address.  Returns 0 with the host (brackets removed) and port (0 when
 * absent), -1 if malformed, -2 if the port is not a number in 0..65535.
 */
static int
kong_split_host(const char *s, const char **host, size_t *hlen,
    unsigned *port)
{
    size_t       len;
    const char  *c, *e, *p;
    unsigned     v;

    len = strlen(s);
    *port = 0;

    if (len == 0) {
        return -1;
    }

    if (s[0] == '[') {
        e = strchr(s, ']');
        if (e == NULL || !kong_is_ipv6(s + 1, (size_t) (e - s - 1))) {
            return -1;
        }

        *host = s + 1;
        *hlen = (size_t) (e - s - 1);
        p = e[1] == ':' ? e + 2 : NULL;

        if (e[1] != '\0' && e[1] != ':') {
            return -1;
        }

    } else {
        c = strchr(s, ':');

        if (c && strchr(c + 1, ':')) {
            /* a bare IPv6 address */
            if (!kong_is_ipv6(s, len)) {
                return -1;
            }

            *host = s;
            *hlen = len;
            return 0;
        }

        *host = s;
        *hlen = c ? (size_t) (c - s) : len;
        p = c ? c + 1 : NULL;
    }

    if (p) {
        if (*p == '\0') {
            return -2;
        }

        v = 0;

        for ( ; *p; p++) {
            if (*p < '0' || *p > '9') {
                return -2;
            }

            v = v * 10 + (unsigned) (*p - '0');
            if (v > 65535) {
                return -2;
            }
        }

        *port = v;
    }

    return 0;
}


static int
kong_is_ip(const char *s, size_t len)
{
    return kong_is_ipv4(s, len) || kong_is_ipv6(s, len);
}


static int
kong_is_host(const char *s, size_t len)
{
    return kong_is_ip(s, len) || kong_is_hostname(s, len);
}


/* typedefs.host: hostname or IP, no port */
static int
kong_check_host(kong_ctx_t *ctx, const kong_node_t *at, const char *field,
    const char *s)
{
    const char  *h;
    size_t       hlen;
    unsigned     port;
    int          rc;

    rc = kong_split_host(s, &h, &hlen, &port);

    if (rc == 0 && kong_is_host(h, hlen)) {
        if (hlen != strlen(s)) {
            kong_ferr(ctx, at, field, "must not have a port");
            return -1;
        }

        return 0;
    }

    kong_ferr(ctx, at, field, "invalid value: %s", s);

    return -1;
}


static void
kong_check_name(kong_ctx_t *ctx, const kong_node_t *at, const char *s)
{
    const unsigned char  *p;

    for (p = (const unsigned char *) s; *p; p++) {
        if (isalnum(*p) || *p == '.' || *p == '-' || *p == '_' || *p == '~'
            || (*p >= 128 && *p <= 244))
        {
            continue;
        }

        kong_ferr(ctx, at, "name", "invalid value '%s': the only accepted "
                  "ascii characters are alphanumerics or ., -, _, and ~", s);
        return;
    }
}


static void
kong_check_tags(kong_ctx_t *ctx, const kong_node_t *map)
{
    size_t                i, mark, m2;
    kong_node_t          *a, *v;
    const unsigned char  *p;

    a = kong_get_array(ctx, map, "tags", 1);
    if (a == NULL) {
        return;
    }

    mark = kong_push(ctx, "tags");

    for (i = 0; i < a->n; i++) {
        v = a->items[i];

        if (!kong_is_str(v)) {
            m2 = kong_push_index(ctx, i);
            kong_err(ctx, v, "expected a string");
            kong_pop(ctx, m2);
            continue;
        }

        for (p = (const unsigned char *) v->str; *p; p++) {
            if ((*p >= 0x21 && *p <= 0x7e && *p != ',' && *p != '/')
                || *p >= 0x80)
            {
                continue;
            }

            m2 = kong_push_index(ctx, i);
            kong_err(ctx, v, "invalid tag '%s': expected printable ascii "
                     "(except `,` and `/`) or valid utf-8 sequences",
                     v->str);
            kong_pop(ctx, m2);
            break;
        }
    }

    kong_pop(ctx, mark);
}


/*
 * id and name (each unique within the entity type; the maps lead from
 * them to ent, for references), and tags.
 */
static void
kong_check_id_name(kong_ctx_t *ctx, const kong_node_t *map, int type,
    void *ent, const char *name_field, const char **id, const char **name,
    int check_name)
{
    kong_node_t  *v;

    if (kong_get_str(ctx, map, "id", 0, id) == 1) {
        v = kong_node_get(map, "id");

        if (!kong_is_uuid(*id)) {
            kong_ferr(ctx, v, "id", "expected a valid UUID");

        } else {

            switch (kong_map_put(&ctx->ids[type], *id, strlen(*id), ent))
            {
            case 1:
                kong_err(ctx, map, "uniqueness violation: '%s' entity with "
                         "primary key set to '%s' already declared",
                         kong_entity_names[type], *id);
                break;
            case -1:
                kong_oom(ctx);
                break;
            }
        }
    }

    if (name_field == NULL) {
        return;
    }

    if (kong_get_str(ctx, map, name_field, 0, name) == 1) {
        v = kong_node_get(map, name_field);

        if (check_name) {
            kong_check_name(ctx, v, *name);
        }

        switch (kong_map_put(&ctx->names[type], *name, strlen(*name), ent))
        {
        case 1:
            kong_err(ctx, map, "uniqueness violation: '%s' entity with %s "
                     "set to '%s' already declared",
                     kong_entity_names[type], name_field, *name);
            break;
        case -1:
            kong_oom(ctx);
            break;
        }
    }

    kong_check_tags(ctx, map);
}


/*
 * A foreign-key field: nested entities must leave it null; top-level ones
 * name the target by name or id (a string).
 */
static void
kong_foreign(kong_ctx_t *ctx, const kong_node_t *map, const char *field,
    int nested, int required, int kind, void *from)
{
    kong_node_t  *v;

    v = kong_node_get(map, field);

    if (nested) {
        if (!kong_node_is_null(v)) {
            kong_ferr(ctx, v, field, "value must be null");
        }

        return;
    }

    if (kong_node_is_null(v)) {
        if (required) {
            kong_ferr(ctx, map, field, "required field missing");
        }

        return;
    }

    if (!kong_is_str(v)) {
        kong_ferr(ctx, v, field, "expected a string");
        return;
    }

    kong_ref_add(ctx, v, field, kind, from);
}


/* The entity records of an array field, or NULL. */
static kong_node_t *
kong_records(kong_ctx_t *ctx, const kong_node_t *v)
{
    if (kong_node_is_null(v)) {
        return NULL;
    }

    if (v->type != KONG_NODE_SEQ) {
        kong_err(ctx, v, "expected an array");
        return NULL;
    }

    return (kong_node_t *) v;
}


static int
kong_record(kong_ctx_t *ctx, const kong_node_t *v)
{
    if (v->type != KONG_NODE_MAP) {
        kong_err(ctx, v, "expected a record");
        return -1;
    }

    return 0;
}


static void
kong_plugins_add(kong_ctx_t *ctx, kong_plugins_t *list, kong_plugin_t *p)
{
    kong_plugin_t  **items;
    size_t           cap;

    cap = 4;
    while (cap < list->n + 1) {
        cap *= 2;
    }

    if (list->n == 0 || (list->n >= 4 && (list->n & (list->n - 1)) == 0)) {
        items = kong_palloc(ctx->pool, cap * 2 * sizeof(kong_plugin_t *));
        if (items == NULL) {
            kong_oom(ctx);
            return;
        }

        if (list->n) {
            memcpy(items, list->items, list->n * sizeof(kong_plugin_t *));
        }

        list->items = items;
    }

    list->items[list->n++] = p;
}


/* ---- protocols ----------------------------------------------------------- */

static unsigned
kong_get_protocols(kong_ctx_t *ctx, const kong_node_t *map, unsigned dflt,
    int *given)
{
    size_t        i, mark, m2;
    int           k;
    unsigned      set;
    char          buf[256];
    kong_node_t  *a, *v;

    *given = 0;

    a = kong_get_array(ctx, map, "protocols", 1);
    if (a == NULL) {
        return kong_node_is_null(kong_node_get(map, "protocols")) ? dflt : 0;
    }

    *given = 1;

    if (a->n == 0) {
        kong_ferr(ctx, a, "protocols", "length must be at least 1");
        return 0;
    }

    set = 0;
    mark = kong_push(ctx, "protocols");

    for (i = 0; i < a->n; i++) {
        v = a->items[i];
        m2 = kong_push_index(ctx, i);

        if (!kong_is_str(v)) {
            kong_err(ctx, v, "expected a string");

        } else {
            k = kong_in_list(v->str, v->len, kong_protocols);

            if (k < 0) {
                kong_err(ctx, v, "expected one of: %s",
                         kong_join(buf, sizeof(buf), kong_protocols));

            } else {
                set |= (unsigned) kong_protocol_bits[k];
            }
        }

        kong_pop(ctx, m2);
    }

    kong_pop(ctx, mark);

    return set;
}


/* ---- plugins ------------------------------------------------------------- */

static void
kong_plugin(kong_ctx_t *ctx, const kong_node_t *map, int scope,
    void *owner)
{
    static const char *const  fields[] = {
        "id", "name", "instance_name", "config", "enabled", "protocols",
        "tags", "route", "service", "consumer", "created_at", "updated_at",
        NULL
    };

    int             given;
    kong_node_t    *v;
    kong_plugin_t  *p;

    p = kong_palloc(ctx->pool, sizeof(kong_plugin_t));
    if (p == NULL) {
        kong_oom(ctx);
        return;
    }

    ctx->cur = kong_ent_add(ctx, KONG_ENT_PLUGIN, p, ctx->cur, map);
    if (ctx->cur == 0) {
        return;
    }

    p->pos.line = map->line;
    p->pos.col = map->col;
    p->path = kong_path_dup(ctx);
    p->enabled = 1;

    kong_check_fields(ctx, map, fields);
    kong_check_id_name(ctx, map, KONG_ENT_PLUGIN, p, NULL, &p->id, NULL,
                       0);

    kong_get_str(ctx, map, "name", 1, &p->name);

    if (kong_get_str(ctx, map, "instance_name", 0, &p->instance_name) == 1) {
        kong_check_name(ctx, kong_node_get(map, "instance_name"),
                        p->instance_name);
    }

    kong_get_bool(ctx, map, "enabled", &p->enabled);

    p->protocols = kong_get_protocols(ctx, map,
                                      KONG_PROTO_GRPC | KONG_PROTO_GRPCS
                                      | KONG_PROTO_HTTP | KONG_PROTO_HTTPS,
                                      &given);

    v = kong_node_get(map, "config");

    if (!kong_node_is_null(v)) {
        if (v->type != KONG_NODE_MAP) {
            kong_ferr(ctx, v, "config", "expected a record");

        } else {
            p->config = v;
        }
    }

    switch (scope) {
    case KONG_ENT_SERVICE:
        p->service = owner;
        break;
    case KONG_ENT_ROUTE:
        p->route = owner;
        break;
    case KONG_ENT_CONSUMER:
        p->consumer = owner;
        break;
    }

    kong_foreign(ctx, map, "route", scope != 0, 0, KONG_REF_PLUGIN_ROUTE, p);
    kong_foreign(ctx, map, "service", scope != 0, 0, KONG_REF_PLUGIN_SERVICE,
                 p);
    kong_foreign(ctx, map, "consumer", scope != 0, 0,
                 KONG_REF_PLUGIN_CONSUMER, p);

    /* uniqueness of (name, scope) is checked once references resolve */
}


static void
kong_nested_plugins(kong_ctx_t *ctx, const kong_node_t *map, int scope,
    void *owner)
{
    size_t        i, mark, mark2, parent;
    kong_node_t  *a;

    mark = kong_push(ctx, "plugins");
    a = kong_records(ctx, kong_node_get(map, "plugins"));

    parent = ctx->cur;

    for (i = 0; a && i < a->n; i++) {
        mark2 = kong_push_index(ctx, i);

        if (kong_record(ctx, a->items[i]) == 0) {
            kong_plugin(ctx, a->items[i], scope, owner);
        }

        ctx->cur = parent;
        kong_pop(ctx, mark2);
    }

    kong_pop(ctx, mark);
}


/* ---- services ------------------------------------------------------------ */

/*
 * The url shorthand, "scheme://host[:port][/path]": its parts overwrite the
 * explicit protocol, host, port and path, as in Kong.
 */
static void
kong_service_url(kong_ctx_t *ctx, const kong_node_t *v, kong_service_t *s,
    const char **proto)
{
    const char  *u, *p, *h, *hend, *path, *colon;
    size_t       hlen;
    unsigned     port;
    int          has_port;

    u = v->str;
    p = strstr(u, "://");

    *proto = NULL;

    if (p) {
        *proto = kong_pstrndup(ctx->pool, u, (size_t) (p - u));
        h = p + 3;

    } else {
        h = u;
    }

    /* drop user info */
    hend = h + strcspn(h, "/?#");
    p = memchr(h, '@', (size_t) (hend - h));
    if (p) {
        h = p + 1;
    }

    path = hend;
    has_port = 0;
    port = 0;

    if (*h == '[') {
        p = memchr(h, ']', (size_t) (hend - h));
        colon = p && p + 1 < hend && p[1] == ':' ? p + 1 : NULL;
        hlen = p ? (size_t) (p - h - 1) : 0;
        h = p ? h + 1 : h;

    } else {
        colon = memchr(h, ':', (size_t) (hend - h));
        hlen = colon ? (size_t) (colon - h) : (size_t) (hend - h);
    }

    if (colon) {
        has_port = 1;
        for (p = colon + 1; p < hend; p++) {
            if (*p < '0' || *p > '9' || port > 65535) {
                break;
            }

            port = port * 10 + (unsigned) (*p - '0');
        }

        if (p < hend || port > 65535) {
            kong_ferr(ctx, v, "port", "value should be between 0 and 65535");
            return;
        }

        if (colon + 1 == hend) {
            has_port = 0;
        }
    }

    s->host = hlen ? kong_pstrndup(ctx->pool, h, hlen) : NULL;

    if (!has_port) {
        port = (*proto && strcmp(*proto, "https") == 0) ? 443 : 80;
    }

    s->port = port;

    if (*proto == NULL) {
        *proto = port == 443 ? "https" : "http";
    }

    hlen = strcspn(path, "?#");
    s->path = hlen ? kong_pstrndup(ctx->pool, path, hlen) : NULL;
}


/* typedefs.path: the service path */
static void
kong_check_service_path(kong_ctx_t *ctx, const kong_node_t *at,
    const char *p)
{
    const char  *c;

    if (p[0] != '/') {
        kong_ferr(ctx, at, "path", "should start with: /");
        return;
    }

    if (strstr(p, "//")) {
        kong_ferr(ctx, at, "path", "must not have empty segments");
        return;
    }

    for (c = p; *c; c++) {
        if (isalnum((unsigned char) *c)
            || strchr("-._~!*'();:@&=+$,/?#[]", *c))
        {
            continue;
        }

        if (*c == '%') {
            if (!isxdigit((unsigned char) c[1])
                || !isxdigit((unsigned char) c[2]))
            {
                kong_ferr(ctx, at, "path", "invalid url-encoded value: "
                          "'%.3s'", c);
                return;
            }

            c += 2;
            continue;
        }

        kong_ferr(ctx, at, "path", "invalid path: '%s' (characters outside "
                  "of the reserved list of RFC 3986 found)", p);
        return;
    }
}


static void kong_route(kong_ctx_t *ctx, const kong_node_t *map,
    kong_service_t *service);


static void
kong_service(kong_ctx_t *ctx, const kong_node_t *map)
{
    static const char *const  fields[] = {
        "id", "name", "retries", "protocol", "host", "port", "path",
        "connect_timeout", "write_timeout", "read_timeout", "tags",
        "client_certificate", "tls_verify", "tls_verify_depth",
        "ca_certificates", "enabled", "url", "routes", "plugins",
        "created_at", "updated_at", NULL
    };

    int              k, proto;
    char             buf[256];
    size_t           i, mark, mark2, self;
    const char      *url_proto, *pname;
    kong_node_t     *v, *url, *a;
    kong_service_t  *s;

    s = kong_palloc(ctx->pool, sizeof(kong_service_t));
    if (s == NULL) {
        kong_oom(ctx);
        return;
    }

    self = kong_ent_add(ctx, KONG_ENT_SERVICE, s, 0, map);
    if (self == 0) {
        return;
    }

    ctx->cur = self;

    s->pos.line = map->line;
    s->pos.col = map->col;
    s->index = ctx->cfg->nservices;
    s->retries = 5;
    s->port = 80;
    s->connect_timeout = 60000;
    s->write_timeout = 60000;
    s->read_timeout = 60000;
    s->enabled = 1;
    s->tls_verify = -1;
    s->tls_verify_depth = -1;

    kong_check_fields(ctx, map, fields);
    kong_check_id_name(ctx, map, KONG_ENT_SERVICE, s, "name", &s->id,
                       &s->name, 1);

    kong_get_uint(ctx, map, "retries", 0, 32767, &s->retries);
    kong_get_uint(ctx, map, "connect_timeout", 1, KONG_TIMEOUT_MAX,
                  &s->connect_timeout);
    kong_get_uint(ctx, map, "write_timeout", 1, KONG_TIMEOUT_MAX,
                  &s->write_timeout);
    kong_get_uint(ctx, map, "read_timeout", 1, KONG_TIMEOUT_MAX,
                  &s->read_timeout);
    kong_get_bool(ctx, map, "enabled", &s->enabled);

    pname = "http";
    kong_get_str(ctx, map, "protocol", 0, &pname);
    kong_get_str(ctx, map, "host", 0, &s->host);
    kong_get_uint(ctx, map, "port", 0, 65535, &s->port);
    kong_get_str(ctx, map, "path", 0, &s->path);

    url = kong_node_get(map, "url");

    if (!kong_node_is_null(url)) {
        if (!kong_is_str(url)) {
            kong_ferr(ctx, url, "url", "expected a string");

        } else {
            kong_service_url(ctx, url, s, &url_proto);
            if (url_proto) {
                pname = url_proto;
            }
        }
    }

    /* the url's parts are reported at the url */
    v = kong_node_is_null(url) ? NULL : url;

    k = kong_in_list(pname, strlen(pname), kong_protocols);
    proto = 0;

    if (k < 0) {
        kong_ferr(ctx, v ? v : kong_node_get(map, "protocol"), "protocol",
                  "expected one of: %s",
                  kong_join(buf, sizeof(buf), kong_protocols));

    } else {
        proto = kong_protocol_bits[k];

        if (proto != KONG_PROTO_HTTP && proto != KONG_PROTO_HTTPS) {
            kong_ferr(ctx, v ? v : kong_node_get(map, "protocol"),
                      "protocol", "protocol '%s' is not supported by this "
                      "gateway (http and https only)", pname);
        }
    }

    s->protocol = proto;

    if (s->host == NULL) {
        kong_ferr(ctx, v ? v : map, "host", "required field missing");

    } else {
        kong_check_host(ctx, v ? v : kong_node_get(map, "host"), "host",
                        s->host);
    }

    if (s->path) {
        if (proto != KONG_PROTO_HTTP && proto != KONG_PROTO_HTTPS && proto) {
            kong_ferr(ctx, v ? v : kong_node_get(map, "path"), "path",
                      "value must be null");
            kong_err(ctx, map, "failed conditional validation given value "
                     "of field 'protocol'");

        } else {
            kong_check_service_path(ctx, v ? v : kong_node_get(map, "path"),
                                    s->path);
        }

        if (strlen(s->path) > ctx->cfg->max_service_path) {
            ctx->cfg->max_service_path = strlen(s->path);
        }
    }

    if (kong_get_bool(ctx, map, "tls_verify", &k) == 1) {
        s->tls_verify = k;
    }

    {
        unsigned  depth;

        if (kong_get_uint(ctx, map, "tls_verify_depth", 0, 64, &depth) == 1)
        {
            s->tls_verify_depth = (int) depth;
        }
    }

    if (proto != KONG_PROTO_HTTPS && proto != KONG_PROTO_TLS
        && (s->tls_verify != -1 || s->tls_verify_depth != -1))
    {
        kong_ferr(ctx, kong_node_get(map, s->tls_verify != -1
                                          ? "tls_verify"
                                          : "tls_verify_depth"),
                  s->tls_verify != -1 ? "tls_verify" : "tls_verify_depth",
                  "value must be null");
        kong_err(ctx, map, "failed conditional validation given value of "
                 "field 'protocol'");
    }

    v = kong_node_get(map, "client_certificate");
    if (!kong_node_is_null(v)) {
        kong_ferr(ctx, v, "client_certificate", "not supported by this "
                  "gateway: certificates entities are not loaded (use "
                  "nginx's proxy_ssl_certificate)");
    }

    v = kong_node_get(map, "ca_certificates");
    if (!kong_node_is_null(v)) {
        kong_ferr(ctx, v, "ca_certificates", "not supported by this "
                  "gateway: ca_certificates entities are not loaded (use "
                  "nginx's proxy_ssl_trusted_certificate)");
    }

    kong_nested_plugins(ctx, map, KONG_ENT_SERVICE, s);

    mark = kong_push(ctx, "routes");
    a = kong_records(ctx, kong_node_get(map, "routes"));

    for (i = 0; a && i < a->n; i++) {
        mark2 = kong_push_index(ctx, i);
        ctx->cur = self;

        if (kong_record(ctx, a->items[i]) == 0) {
            kong_route(ctx, a->items[i], s);
        }

        kong_pop(ctx, mark2);
    }

    kong_pop(ctx, mark);
    ctx->cur = 0;
}


/* ---- routes -------------------------------------------------------------- */

/*
 * Migrates a format 1.1/2.1 route path: a path of plain characters stays a
 * prefix (normalized), anything else becomes a "~" regex with its
 * percent-escapes decoded.
 */
static const char *
kong_migrate_path(kong_ctx_t *ctx, const char *p)
{
    size_t       len, i, o;
    const char  *c;
    char        *out;
    int          hi, lo;

    len = strlen(p);

    for (c = p; *c; c++) {
        if (!isalnum((unsigned char) *c) && !strchr(".-_~/%", *c)) {
            break;
        }
    }

    if (*c == '\0') {
        out = kong_palloc(ctx->pool, len + 1);
        if (out == NULL) {
            kong_oom(ctx);
            return p;
        }

        out[kong_path_normalize(p, len, out)] = '\0';
        return out;
    }

    out = kong_palloc(ctx->pool, len + 2);
    if (out == NULL) {
        kong_oom(ctx);
        return p;
    }

    out[0] = '~';
    o = 1;

    for (i = 0; i < len; i++) {
        if (p[i] == '%' && i + 2 < len) {
            hi = isxdigit((unsigned char) p[i + 1]);
            lo = isxdigit((unsigned char) p[i + 2]);

            if (hi && lo) {
                char  hex[3] = { p[i + 1], p[i + 2], '\0' };

                out[o++] = (char) strtol(hex, NULL, 16);
                i += 2;
                continue;
            }
        }

        out[o++] = p[i];
    }

    out[o] = '\0';

    return out;
}


static void
kong_regex_free(void *re)
{
    pcre2_code_free(re);
}


static void *
kong_compile(kong_ctx_t *ctx, const kong_node_t *at, const char *re,
    uint32_t options)
{
    int          code;
    PCRE2_SIZE   off;
    pcre2_code  *c;
    char         msg[256];

    c = pcre2_compile((PCRE2_SPTR) re, PCRE2_ZERO_TERMINATED,
                      options | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                      &code, &off, NULL);

    if (c == NULL) {
        pcre2_get_error_message(code, (PCRE2_UCHAR *) msg, sizeof(msg));
        kong_err(ctx, at, "invalid regex: '%s' (PCRE returned: %s)", re,
                 msg);
        return NULL;
    }

    if (kong_pool_cleanup(ctx->pool, kong_regex_free, c) != 0) {
        pcre2_code_free(c);
        kong_oom(ctx);
        return NULL;
    }

    (void) pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);

    return c;
}


static void
kong_route_paths(kong_ctx_t *ctx, const kong_node_t *map, kong_route_t *r)
{
    size_t        i, mark, m2, len, nlen;
    const char   *p;
    char         *norm;
    kong_node_t  *a, *v;
    kong_path_t  *kp;

    a = kong_get_array(ctx, map, "paths", 0);
    if (a == NULL || a->n == 0) {
        return;
    }

    r->paths = kong_palloc(ctx->pool, a->n * sizeof(kong_path_t));
    if (r->paths == NULL) {
        kong_oom(ctx);
        return;
    }

    mark = kong_push(ctx, "paths");

    for (i = 0; i < a->n; i++) {
        v = a->items[i];
        m2 = kong_push_index(ctx, i);

        if (!kong_is_str(v)) {
            kong_err(ctx, v, "expected a string");
            goto next;
        }

        p = v->str;

        if (ctx->legacy) {
            p = kong_migrate_path(ctx, p);
        }

        if (!(p[0] == '/' || (p[0] == '~' && p[1] == '/'))) {
            kong_err(ctx, v, "should start with: / (fixed path) or ~/ "
                     "(regex path)");
            goto next;
        }

        if (strstr(p, "//")) {
            kong_err(ctx, v, "must not have empty segments");
            goto next;
        }

        kp = &r->paths[r->npaths];

        if (p[0] == '~') {
            kp->regex = 1;
            kp->path = p + 1;
            kp->len = strlen(p + 1);
            kp->re = kong_compile(ctx, v, kp->path, PCRE2_ANCHORED);
            if (kp->re == NULL) {
                goto next;
            }

        } else {
            len = strlen(p);
            norm = kong_palloc(ctx->pool, len + 1);
            if (norm == NULL) {
                kong_oom(ctx);
                goto next;
            }

            nlen = kong_path_normalize(p, len, norm);
            norm[nlen] = '\0';

            if (nlen != len || memcmp(norm, p, len) != 0) {
                kong_err(ctx, v, "non-normalized path, consider use '%s' "
                         "instead", norm);
                goto next;
            }

            kp->path = p;
            kp->len = len;
        }

        r->npaths++;

    next:

        kong_pop(ctx, m2);
    }

    kong_pop(ctx, mark);
}


static void
kong_route_hosts(kong_ctx_t *ctx, const kong_node_t *map, kong_route_t *r)
{
    size_t        i, mark, m2, len, hlen;
    const char   *s, *star, *h;
    unsigned      port;
    int           rc, wild;
    char         *tmp;
    kong_node_t  *a, *v;
    kong_host_t  *kh;

    a = kong_get_array(ctx, map, "hosts", 0);
    if (a == NULL || a->n == 0) {
        return;
    }

    r->hosts = kong_palloc(ctx->pool, a->n * sizeof(kong_host_t));
    if (r->hosts == NULL) {
        kong_oom(ctx);
        return;
    }

    mark = kong_push(ctx, "hosts");

    for (i = 0; i < a->n; i++) {
        v = a->items[i];
        m2 = kong_push_index(ctx, i);

        if (!kong_is_str(v)) {
            kong_err(ctx, v, "expected a string");
            goto next;
        }

        s = v->str;
        wild = KONG_HOST_PLAIN;
        star = strchr(s, '*');

        if (star) {
            if (strchr(star + 1, '*')) {
                kong_err(ctx, v, "invalid wildcard: must have at most one "
                         "wildcard");
                goto next;
            }

            if (star == s && s[1] == '.') {
                wild = KONG_HOST_WILD_LEFT;

            } else if (star[1] == '\0' || star[1] == ':') {
                if (star == s || star[-1] != '.') {
                    kong_err(ctx, v, "invalid wildcard: must be placed at "
                             "leftmost or rightmost label");
                    goto next;
                }

                wild = KONG_HOST_WILD_RIGHT;

            } else {
                kong_err(ctx, v, "invalid wildcard: must be placed at "
                         "leftmost or rightmost label");
                goto next;
            }
        }

        /* validate with the wildcard label replaced by a plain one */
        len = strlen(s);
        tmp = kong_pstrndup(ctx->pool, s, len);
        if (tmp == NULL) {
            kong_oom(ctx);
            goto next;
        }

        if (star) {
            tmp[star - s] = 'x';
        }

        rc = kong_split_host(tmp, &h, &hlen, &port);

        if (rc == -2) {
            kong_err(ctx, v, "invalid port number");
            goto next;
        }

        if (rc != 0 || !kong_is_host(h, hlen)) {
            kong_err(ctx, v, "invalid hostname: %s", s);
            goto next;
        }

        kh = &r->hosts[r->nhosts];
        kh->wildcard = wild;
        kh->port = port;

        /* keep "*.example.com" as ".example.com", "example.*" as
         * "example." (what the request host must end / start with) */
        if (wild == KONG_HOST_WILD_LEFT) {
            kh->name = s + 1;
            kh->len = hlen - 1;

        } else if (wild == KONG_HOST_WILD_RIGHT) {
            kh->name = s + (h - tmp);
            kh->len = hlen - 1;

        } else {
            kh->name = s + (h - tmp);
            kh->len = hlen;
        }

        kh->name = kong_pstrndup(ctx->pool, kh->name, kh->len);
        if (kh->name == NULL) {
            kong_oom(ctx);
            goto next;
        }

        r->nhosts++;

    next:

        kong_pop(ctx, m2);
    }

    kong_pop(ctx, mark);
}


static void
kong_route_headers(kong_ctx_t *ctx, const kong_node_t *map, kong_route_t *r)
{
    size_t                i, j, mark, mark2, hmark;
    char                 *s;
    const char           *c;
    kong_node_t          *m, *k, *a, *v;
    kong_route_header_t  *h;
    kong_header_value_t  *hv;

    m = kong_node_get(map, "headers");
    if (kong_node_is_null(m)) {
        return;
    }

    if (m->type != KONG_NODE_MAP) {
        kong_ferr(ctx, m, "headers", "expected a map");
        return;
    }

    if (m->n == 0) {
        return;
    }

    r->headers = kong_palloc(ctx->pool, m->n * sizeof(kong_route_header_t));
    if (r->headers == NULL) {
        kong_oom(ctx);
        return;
    }

    hmark = kong_push(ctx, "headers");

    for (i = 0; i < m->n; i++) {
        k = m->keys[i];
        a = m->items[i];
        mark = kong_push(ctx, k->str);

        for (c = k->str; *c; c++) {
            if (!isalnum((unsigned char) *c) && *c != '-' && *c != '_') {
                break;
            }
        }

        if (*c || k->len == 0) {
            kong_err(ctx, k, "bad header name '%s', allowed characters are "
                     "A-Z, a-z, 0-9, '_', and '-'", k->str);
            goto next;
        }

        if (strcasecmp(k->str, "host") == 0) {
            kong_err(ctx, k, "cannot contain 'host' header, which must be "
                     "specified in the 'hosts' attribute");
            goto next;
        }

        if (a->type != KONG_NODE_SEQ) {
            kong_err(ctx, a, "expected an array");
            goto next;
        }

        if (a->n == 0) {
            kong_err(ctx, a, "length must be at least 1");
            goto next;
        }

        h = &r->headers[r->nheaders];
        h->len = k->len;
        s = kong_pstrndup(ctx->pool, k->str, k->len);
        h->values = kong_palloc(ctx->pool, a->n * sizeof(*h->values));

        if (s == NULL || h->values == NULL) {
            kong_oom(ctx);
            goto next;
        }

        for (j = 0; j < k->len; j++) {
            s[j] = (char) tolower((unsigned char) s[j]);
        }

        h->name = s;

        for (j = 0; j < a->n; j++) {
            v = a->items[j];
            mark2 = kong_push_index(ctx, j);

            if (!kong_is_str(v)) {
                kong_err(ctx, v, "expected a string");
                kong_pop(ctx, mark2);
                continue;
            }

            hv = &h->values[h->nvalues];

            if (v->len >= 2 && v->str[0] == '~' && v->str[1] == '*') {
                hv->value = v->str + 2;
                hv->len = v->len - 2;
                hv->re = kong_compile(ctx, v, hv->value, PCRE2_CASELESS);
                if (hv->re == NULL) {
                    kong_pop(ctx, mark2);
                    continue;
                }

            } else {
                s = kong_pstrndup(ctx->pool, v->str, v->len);
                if (s == NULL) {
                    kong_oom(ctx);
                    kong_pop(ctx, mark2);
                    continue;
                }

                for (c = s; *c; c++) {
                    *(char *) c = (char) tolower((unsigned char) *c);
                }

                hv->value = s;
                hv->len = v->len;
            }

            h->nvalues++;
            kong_pop(ctx, mark2);
        }

        r->nheaders++;

    next:

        kong_pop(ctx, mark);
    }

    kong_pop(ctx, hmark);
}


static const char **
kong_strings(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    size_t *n, int (*check)(kong_ctx_t *, const kong_node_t *))
{
    size_t         i, mark, m2;
    kong_node_t   *a, *v;
    const char   **out;

    *n = 0;

    a = kong_get_array(ctx, map, key, 1);
    if (a == NULL || a->n == 0) {
        return NULL;
    }

    out = kong_palloc(ctx->pool, a->n * sizeof(char *));
    if (out == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    mark = kong_push(ctx, key);

    for (i = 0; i < a->n; i++) {
        v = a->items[i];
        m2 = kong_push_index(ctx, i);

        if (!kong_is_str(v)) {
            kong_err(ctx, v, "expected a string");

        } else if (check == NULL || check(ctx, v) == 0) {
            out[(*n)++] = v->str;
        }

        kong_pop(ctx, m2);
    }

    kong_pop(ctx, mark);

    return out;
}


static int
kong_check_method(kong_ctx_t *ctx, const kong_node_t *v)
{
    const char  *c;

    for (c = v->str; *c; c++) {
        if (*c < 'A' || *c > 'Z') {
            break;
        }
    }

    if (*c || v->len == 0) {
        kong_err(ctx, v, "invalid value: %s", v->str);
        return -1;
    }

    return 0;
}


static int
kong_check_sni(kong_ctx_t *ctx, const kong_node_t *v)
{
    const char  *s, *star;
    char        *tmp;

    s = v->str;
    star = strchr(s, '*');

    if (star && (strchr(star + 1, '*')
                 || !((star == s && s[1] == '.')
                      || (star[1] == '\0' && star > s && star[-1] == '.'))))
    {
        kong_err(ctx, v, "invalid wildcard: must be placed at leftmost or "
                 "rightmost label");
        return -1;
    }

    if (strchr(s, ':')) {
        kong_err(ctx, v, "must not have a port");
        return -1;
    }

    tmp = kong_pstrndup(ctx->pool, s, v->len);
    if (tmp == NULL) {
        kong_oom(ctx);
        return -1;
    }

    if (star) {
        tmp[star - s] = 'x';
    }

    if (kong_is_ip(tmp, v->len)) {
        kong_err(ctx, v, "must not be an IP");
        return -1;
    }

    if (!kong_is_hostname(tmp, v->len)) {
        kong_err(ctx, v, "invalid hostname: %s", s);
        return -1;
    }

    return 0;
}


static void
kong_route(kong_ctx_t *ctx, const kong_node_t *map, kong_service_t *service)
{
    static const char *const  fields[] = {
        "id", "name", "protocols", "methods", "hosts", "paths", "headers",
        "https_redirect_status_code", "regex_priority", "strip_path",
        "path_handling", "preserve_host", "request_buffering",
        "response_buffering", "snis", "sources", "destinations", "tags",
        "service", "created_at", "updated_at", "plugins", NULL
    };
    static const char *const  handling[] = { "v0", "v1", NULL };
    static const char *const  flavors_msg =
        "'methods', 'hosts', 'headers', 'paths'";

    int            given, k, field_errors;
    double         d;
    unsigned       code;
    size_t         self, i, nerr;
    kong_node_t   *v;
    kong_route_t  *r;

    r = kong_palloc(ctx->pool, sizeof(kong_route_t));
    if (r == NULL) {
        kong_oom(ctx);
        return;
    }

    self = kong_ent_add(ctx, KONG_ENT_ROUTE, r, ctx->cur, map);
    if (self == 0) {
        return;
    }

    ctx->cur = self;

    r->pos.line = map->line;
    r->pos.col = map->col;
    r->path_in_file = kong_path_dup(ctx);
    r->strip_path = 1;
    r->request_buffering = 1;
    r->response_buffering = 1;
    r->https_redirect_status_code = 426;
    r->service = service;

    kong_check_fields(ctx, map, fields);
    kong_check_id_name(ctx, map, KONG_ENT_ROUTE, r, "name", &r->id,
                       &r->name, 1);

    r->protocols = kong_get_protocols(ctx, map,
                                      KONG_PROTO_HTTP | KONG_PROTO_HTTPS,
                                      &given);

    if (r->protocols & ~(unsigned) (KONG_PROTO_HTTP | KONG_PROTO_HTTPS)) {
        for (i = 0; i < 8; i++) {
            if (r->protocols & (1u << i)
                && (1u << i) != KONG_PROTO_HTTP
                && (1u << i) != KONG_PROTO_HTTPS)
            {
                kong_ferr(ctx, kong_node_get(map, "protocols"), "protocols",
                          "protocol '%s' is not supported by this gateway "
                          "(http and https routes only)",
                          kong_protocol_name((int) (1u << i)));
                break;
            }
        }
    }

    nerr = ctx->errs->n + ctx->errs->dropped;

    r->methods = kong_strings(ctx, map, "methods", &r->nmethods,
                              kong_check_method);
    kong_route_hosts(ctx, map, r);
    kong_route_paths(ctx, map, r);
    kong_route_headers(ctx, map, r);
    r->snis = kong_strings(ctx, map, "snis", &r->nsnis, kong_check_sni);
    field_errors = ctx->errs->n + ctx->errs->dropped != nerr;

    if (kong_get_num(ctx, map, "https_redirect_status_code", 1, 0, 999, &d)
        == 1)
    {
        code = (unsigned) d;

        if (code != 426 && code != 301 && code != 302 && code != 307
            && code != 308)
        {
            kong_ferr(ctx, kong_node_get(map, "https_redirect_status_code"),
                      "https_redirect_status_code",
                      "expected one of: 426, 301, 302, 307, 308");

        } else {
            r->https_redirect_status_code = code;
        }

    } else if (kong_node_get(map, "https_redirect_status_code")
               && kong_node_is_null(kong_node_get(map,
                                           "https_redirect_status_code")))
    {
        kong_ferr(ctx, map, "https_redirect_status_code",
                  "required field missing");
    }

    if (kong_get_num(ctx, map, "regex_priority", 1, -9.007e15, 9.007e15, &d)
        == 1)
    {
        r->regex_priority = (int64_t) d;
    }

    kong_get_bool(ctx, map, "strip_path", &r->strip_path);
    kong_get_bool(ctx, map, "preserve_host", &r->preserve_host);
    kong_get_bool(ctx, map, "request_buffering", &r->request_buffering);
    kong_get_bool(ctx, map, "response_buffering", &r->response_buffering);

    k = 0;
    if (kong_get_enum(ctx, map, "path_handling", handling, &k) == 1) {
        r->path_handling = k;
    }

    for (i = 0; i < 2; i++) {
        const char  *f = i ? "destinations" : "sources";

        v = kong_node_get(map, f);

        if (!kong_node_is_null(v)) {
            kong_ferr(ctx, v, f, "cannot set '%s' when 'protocols' is "
                      "'http' or 'https'", f);
        }
    }

    if (r->nsnis && !(r->protocols & KONG_PROTO_HTTPS)) {
        kong_ferr(ctx, kong_node_get(map, "snis"), "snis", "'snis' can only "
                  "be set when 'protocols' is 'grpcs', 'https', 'tls' or "
                  "'tls_passthrough'");
    }

    /*
     * empty lists count as unset: such a route would match everything;
     * a field already reported as wrong is not reported twice
     */
    if (r->nmethods == 0 && r->nhosts == 0 && r->nheaders == 0
        && r->npaths == 0 && r->nsnis == 0 && !field_errors)
    {
        if (r->protocols & KONG_PROTO_HTTPS) {
            kong_err(ctx, map, "must set one of %s, 'snis' when "
                     "'protocols' is 'https'", flavors_msg);

        } else {
            kong_err(ctx, map, "must set one of %s when 'protocols' is "
                     "'http'", flavors_msg);
        }
    }

    kong_foreign(ctx, map, "service", service != NULL, 0,
                 KONG_REF_ROUTE_SERVICE, r);

    kong_nested_plugins(ctx, map, KONG_ENT_ROUTE, r);

    ctx->cur = 0;
}


/* ---- upstreams and targets ----------------------------------------------- */

static void
kong_statuses(kong_ctx_t *ctx, const kong_node_t *map, kong_statuses_t *st,
    const unsigned *dflt, size_t ndflt)
{
    size_t        i, mark, m2;
    kong_node_t  *a, *v;

    a = kong_get_array(ctx, map, "http_statuses", 0);

    if (a == NULL) {
        st->items = (unsigned *) dflt;
        st->n = ndflt;
        return;
    }

    st->n = 0;
    st->items = kong_palloc(ctx->pool, (a->n + 1) * sizeof(unsigned));
    if (st->items == NULL) {
        kong_oom(ctx);
        return;
    }

    mark = kong_push(ctx, "http_statuses");

    for (i = 0; i < a->n; i++) {
        v = a->items[i];
        m2 = kong_push_index(ctx, i);

        if (v->type != KONG_NODE_SCALAR || v->scalar != KONG_SCALAR_INT) {
            kong_err(ctx, v, "expected an integer");

        } else if (v->number < 100 || v->number > 999) {
            kong_err(ctx, v, "value should be between 100 and 999");

        } else {
            st->items[st->n++] = (unsigned) v->number;
        }

        kong_pop(ctx, m2);
    }

    kong_pop(ctx, mark);
}


static const kong_node_t *
kong_subrecord(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    const char *const *fields)
{
    kong_node_t  *v;

    v = kong_node_get(map, key);

    if (kong_node_is_null(v)) {
        return NULL;
    }

    if (v->type != KONG_NODE_MAP) {
        kong_ferr(ctx, v, key, "expected a record");
        return NULL;
    }

    kong_push(ctx, key);
    kong_check_fields(ctx, v, fields);

    return v;
}


static const unsigned  kong_active_healthy[] = { 200, 302 };
static const unsigned  kong_active_unhealthy[] = {
    429, 404, 500, 501, 502, 503, 504, 505
};
static const unsigned  kong_passive_healthy[] = {
    200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303,
    304, 305, 306, 307, 308
};
static const unsigned  kong_passive_unhealthy[] = { 429, 500, 503 };

#define KONG_N(a)  (sizeof(a) / sizeof((a)[0]))


static void
kong_check_counters(kong_ctx_t *ctx, const kong_node_t *m, int healthy,
    int active, double *interval, unsigned *successes, unsigned *tcp,
    unsigned *timeouts, unsigned *http)
{
    if (active) {
        kong_get_num(ctx, m, "interval", 0, 0, 65535, interval);
    }

    if (healthy) {
        kong_get_uint(ctx, m, "successes", 0, 255, successes);
        return;
    }

    kong_get_uint(ctx, m, "tcp_failures", 0, 255, tcp);
    kong_get_uint(ctx, m, "timeouts", 0, 255, timeouts);
    kong_get_uint(ctx, m, "http_failures", 0, 255, http);
}


static void
kong_healthchecks(kong_ctx_t *ctx, const kong_node_t *map,
    kong_healthchecks_t *hc)
{
    static const char *const  hc_fields[] = {
        "active", "passive", "threshold", NULL
    };
    static const char *const  active_fields[] = {
        "type", "timeout", "concurrency", "http_path", "https_sni",
        "https_verify_certificate", "headers", "healthy", "unhealthy", NULL
    };
    static const char *const  passive_fields[] = {
        "type", "healthy", "unhealthy", NULL
    };
    static const char *const  a_healthy[] = {
        "interval", "http_statuses", "successes", NULL
    };
    static const char *const  a_unhealthy[] = {
        "interval", "http_statuses", "tcp_failures", "timeouts",
        "http_failures", NULL
    };
    static const char *const  p_healthy[] = {
        "http_statuses", "successes", NULL
    };
    static const char *const  p_unhealthy[] = {
        "http_statuses", "tcp_failures", "timeouts", "http_failures", NULL
    };
    static const char *const  types[] = {
        "tcp", "http", "https", "grpc", "grpcs", NULL
    };
    static const int  type_bits[] = {
        KONG_PROTO_TCP, KONG_PROTO_HTTP, KONG_PROTO_HTTPS, KONG_PROTO_GRPC,
        KONG_PROTO_GRPCS
    };

    int                    t;
    size_t                 m0, m1, m2;
    const kong_node_t     *h, *a, *p, *x, *v;
    kong_active_check_t   *ac;
    kong_passive_check_t  *pc;

    ac = &hc->active;
    pc = &hc->passive;

    /* the defaults, also when healthchecks is absent */
    ac->type = KONG_PROTO_HTTP;
    ac->timeout = 1;
    ac->concurrency = 10;
    ac->http_path = "/";
    ac->https_verify_certificate = 1;
    ac->healthy_http_statuses.items = (unsigned *) kong_active_healthy;
    ac->healthy_http_statuses.n = KONG_N(kong_active_healthy);
    ac->unhealthy_http_statuses.items = (unsigned *) kong_active_unhealthy;
    ac->unhealthy_http_statuses.n = KONG_N(kong_active_unhealthy);
    pc->type = KONG_PROTO_HTTP;
    pc->healthy_http_statuses.items = (unsigned *) kong_passive_healthy;
    pc->healthy_http_statuses.n = KONG_N(kong_passive_healthy);
    pc->unhealthy_http_statuses.items = (unsigned *) kong_passive_unhealthy;
    pc->unhealthy_http_statuses.n = KONG_N(kong_passive_unhealthy);

    m0 = ctx->plen;
    h = kong_subrecord(ctx, map, "healthchecks", hc_fields);
    if (h == NULL) {
        return;
    }

    kong_get_num(ctx, h, "threshold", 0, 0, 100, &hc->threshold);

    m1 = ctx->plen;
    a = kong_subrecord(ctx, h, "active", active_fields);

    if (a) {
        if (kong_get_enum(ctx, a, "type", types, &t) == 1) {
            ac->type = type_bits[t];
        }

        kong_get_num(ctx, a, "timeout", 0, 0, 65535, &ac->timeout);
        kong_get_uint(ctx, a, "concurrency", 1, 2147483648.0,
                      &ac->concurrency);

        if (kong_get_str(ctx, a, "http_path", 0, &ac->http_path) == 1) {
            v = kong_node_get(a, "http_path");
            kong_check_service_path(ctx, v, ac->http_path);
        }

        if (kong_get_str(ctx, a, "https_sni", 0, &ac->https_sni) == 1) {
            v = kong_node_get(a, "https_sni");
            if (!kong_is_hostname(ac->https_sni, v->len)) {
                kong_ferr(ctx, v, "https_sni", "invalid value: %s",
                          ac->https_sni);
            }
        }

        kong_get_bool(ctx, a, "https_verify_certificate",
                      &ac->https_verify_certificate);

        v = kong_node_get(a, "headers");
        if (!kong_node_is_null(v)) {
            if (v->type != KONG_NODE_MAP) {
                kong_ferr(ctx, v, "headers", "expected a map");

            } else {
                ac->headers = v;
            }
        }

        m2 = ctx->plen;
        x = kong_subrecord(ctx, a, "healthy", a_healthy);
        if (x) {
            kong_check_counters(ctx, x, 1, 1, &ac->healthy_interval,
                                &ac->healthy_successes, NULL, NULL, NULL);
            kong_statuses(ctx, x, &ac->healthy_http_statuses,
                          kong_active_healthy, KONG_N(kong_active_healthy));
        }

        kong_pop(ctx, m2);
        x = kong_subrecord(ctx, a, "unhealthy", a_unhealthy);
        if (x) {
            kong_check_counters(ctx, x, 0, 1, &ac->unhealthy_interval, NULL,
                                &ac->unhealthy_tcp_failures,
                                &ac->unhealthy_timeouts,
                                &ac->unhealthy_http_failures);
            kong_statuses(ctx, x, &ac->unhealthy_http_statuses,
                          kong_active_unhealthy,
                          KONG_N(kong_active_unhealthy));
        }

        kong_pop(ctx, m2);
    }

    kong_pop(ctx, m1);
    p = kong_subrecord(ctx, h, "passive", passive_fields);

    if (p) {
        if (kong_get_enum(ctx, p, "type", types, &t) == 1) {
            pc->type = type_bits[t];
        }

        m2 = ctx->plen;
        x = kong_subrecord(ctx, p, "healthy", p_healthy);
        if (x) {
            kong_check_counters(ctx, x, 1, 0, NULL, &pc->healthy_successes,
                                NULL, NULL, NULL);
            kong_statuses(ctx, x, &pc->healthy_http_statuses,
                          kong_passive_healthy, KONG_N(kong_passive_healthy));
        }

        kong_pop(ctx, m2);
        x = kong_subrecord(ctx, p, "unhealthy", p_unhealthy);
        if (x) {
            kong_check_counters(ctx, x, 0, 0, NULL, NULL,
                                &pc->unhealthy_tcp_failures,
                                &pc->unhealthy_timeouts,
                                &pc->unhealthy_http_failures);
            kong_statuses(ctx, x, &pc->unhealthy_http_statuses,
                          kong_passive_unhealthy,
                          KONG_N(kong_passive_unhealthy));
        }

        kong_pop(ctx, m2);
    }

    kong_pop(ctx, m0);
}


static void
kong_target(kong_ctx_t *ctx, const kong_node_t *map, kong_upstream_t *u)
{
    static const char *const  fields[] = {
        "id", "target", "weight", "tags", "upstream", "created_at",
        "updated_at", NULL
    };

    int             rc;
    size_t          hlen;
    const char     *h, *id;
    unsigned        port;
    kong_node_t    *v;
    kong_target_t  *t;

    t = kong_palloc(ctx->pool, sizeof(kong_target_t));
    if (t == NULL) {
        kong_oom(ctx);
        return;
    }

    ctx->cur = kong_ent_add(ctx, KONG_ENT_TARGET, t, ctx->cur, map);
    if (ctx->cur == 0) {
        return;
    }

    t->pos.line = map->line;
    t->pos.col = map->col;
    t->weight = 100;
    t->upstream = u;

    kong_check_fields(ctx, map, fields);
    kong_check_id_name(ctx, map, KONG_ENT_TARGET, t, NULL, &id, NULL, 0);
    kong_get_uint(ctx, map, "weight", 0, 65535, &t->weight);

    if (kong_get_str(ctx, map, "target", 1, &t->target) == 1) {
        v = kong_node_get(map, "target");
        rc = kong_split_host(t->target, &h, &hlen, &port);

        if (rc != 0 || !kong_is_host(h, hlen)) {
            kong_ferr(ctx, v, "target", "Invalid target ('%s'); not a valid "
                      "hostname or ip address", t->target);

        } else {
            t->host = kong_pstrndup(ctx->pool, h, hlen);
            t->port = port ? port : 8000;
            if (t->host == NULL) {
                kong_oom(ctx);
            }
        }
    }

    kong_foreign(ctx, map, "upstream", u != NULL, 1,
                 KONG_REF_TARGET_UPSTREAM, t);
}


static void
kong_upstream(kong_ctx_t *ctx, const kong_node_t *map)
{
    static const char *const  fields[] = {
        "id", "name", "algorithm", "hash_on", "hash_fallback",
        "hash_on_header", "hash_fallback_header", "hash_on_cookie",
        "hash_on_cookie_path", "hash_on_query_arg", "hash_fallback_query_arg",
        "hash_on_uri_capture", "hash_fallback_uri_capture", "slots",
        "healthchecks", "tags", "host_header", "client_certificate",
        "use_srv_name", "created_at", "updated_at", "targets", NULL
    };
    static const char *const  algorithms[] = {
        "round-robin", "consistent-hashing", "least-connections", "latency",
        NULL
    };
    static const char *const  hashes[] = {
        "none", "consumer", "ip", "header", "cookie", "path", "query_arg",
        "uri_capture", NULL
    };

    int               alg, on, fb, has_alg, has_on;
    size_t            i, mark, mark2, self, hlen;
    unsigned          port;
    const char       *h;
    kong_node_t      *v, *a;
    kong_upstream_t  *u;

    u = kong_palloc(ctx->pool, sizeof(kong_upstream_t));
    if (u == NULL) {
        kong_oom(ctx);
        return;
    }

    self = kong_ent_add(ctx, KONG_ENT_UPSTREAM, u, 0, map);
    if (self == 0) {
        return;
    }

    ctx->cur = self;

    u->pos.line = map->line;
    u->pos.col = map->col;
    u->index = ctx->cfg->nupstreams;
    u->slots = 10000;
    u->hash_on_cookie_path = "/";

    kong_check_fields(ctx, map, fields);
    kong_check_id_name(ctx, map, KONG_ENT_UPSTREAM, u, NULL, &u->id, NULL,
                       0);

    if (kong_get_str(ctx, map, "name", 1, &u->name) == 1) {
        v = kong_node_get(map, "name");

        if (kong_split_host(u->name, &h, &hlen, &port) != 0
            || !kong_is_host(h, hlen))
        {
            kong_ferr(ctx, v, "name", "Invalid name ('%s'); must be a valid "
                      "hostname", u->name);

        } else if (kong_is_ip(h, hlen)) {
            kong_ferr(ctx, v, "name", "Invalid name ('%s'); no ip addresses "
                      "allowed", u->name);

        } else if (hlen != v->len) {
            kong_ferr(ctx, v, "name", "Invalid name ('%s'); no port allowed",
                      u->name);

        } else {
            switch (kong_map_put(&ctx->names[KONG_ENT_UPSTREAM], u->name,
                                 v->len, u))
            {
            case 1:
                kong_err(ctx, map, "uniqueness violation: 'upstreams' entity "
                         "with name set to '%s' already declared", u->name);
                break;
            case -1:
                kong_oom(ctx);
            }
        }
    }

    alg = on = fb = 0;
    has_alg = kong_get_enum(ctx, map, "algorithm", algorithms, &alg) == 1;
    has_on = kong_get_enum(ctx, map, "hash_on", hashes, &on) == 1;
    kong_get_enum(ctx, map, "hash_fallback", hashes, &fb);

    /* the shorthands, in Kong's order: algorithm, then hash_on */
    if (has_alg && (alg == KONG_ALG_LEAST_CONNECTIONS
                    || alg == KONG_ALG_LATENCY))
    {
        on = KONG_HASH_NONE;
        has_on = 0;
    }

    if (has_on) {
        alg = on == KONG_HASH_NONE ? KONG_ALG_ROUND_ROBIN
                                   : KONG_ALG_CONSISTENT_HASHING;
    }

    u->algorithm = alg;
    u->hash_on = on;
    u->hash_fallback = fb;

    kong_get_str(ctx, map, "hash_on_header", 0, &u->hash_on_header);
    kong_get_str(ctx, map, "hash_fallback_header", 0,
                 &u->hash_fallback_header);
    kong_get_str(ctx, map, "hash_on_cookie", 0, &u->hash_on_cookie);
    kong_get_str(ctx, map, "hash_on_cookie_path", 0, &u->hash_on_cookie_path);
    kong_get_str(ctx, map, "hash_on_query_arg", 0, &u->hash_on_query_arg);
    kong_get_str(ctx, map, "hash_fallback_query_arg", 0,
                 &u->hash_fallback_query_arg);
    kong_get_str(ctx, map, "hash_on_uri_capture", 0, &u->hash_on_uri_capture);
    kong_get_str(ctx, map, "hash_fallback_uri_capture", 0,
                 &u->hash_fallback_uri_capture);

    {
        static const struct {
            int          hash;
            const char  *on_field;
            const char  *fb_field;
        } need[] = {
            { KONG_HASH_HEADER, "hash_on_header", "hash_fallback_header" },
            { KONG_HASH_COOKIE, "hash_on_cookie", "hash_on_cookie" },
            { KONG_HASH_QUERY_ARG, "hash_on_query_arg",
              "hash_fallback_query_arg" },
            { KONG_HASH_URI_CAPTURE, "hash_on_uri_capture",
              "hash_fallback_uri_capture" },
        };

        const char  *s;
        size_t       j;

        for (j = 0; j < KONG_N(need); j++) {
            if (u->hash_on == need[j].hash
                && kong_get_str(ctx, map, need[j].on_field, 0, &s) != 1)
            {
                kong_ferr(ctx, map, need[j].on_field,
                          "required field missing");
                kong_err(ctx, map, "failed conditional validation given "
                         "value of field 'hash_on'");
            }

            if (u->hash_fallback == need[j].hash
                && kong_get_str(ctx, map, need[j].fb_field, 0, &s) != 1)
            {
                kong_ferr(ctx, map, need[j].fb_field,
                          "required field missing");
                kong_err(ctx, map, "failed conditional validation given "
                         "value of field 'hash_fallback'");
            }
        }
    }

    if ((u->hash_on == KONG_HASH_NONE || u->hash_on == KONG_HASH_COOKIE)
        && u->hash_fallback != KONG_HASH_NONE)
    {
        kong_ferr(ctx, kong_node_get(map, "hash_fallback"), "hash_fallback",
                  "expected one of: none");
        kong_err(ctx, map, "failed conditional validation given value of "
                 "field 'hash_on'");

    } else if (u->hash_on != KONG_HASH_NONE && u->hash_on == u->hash_fallback
               && u->hash_on != KONG_HASH_HEADER
               && u->hash_on != KONG_HASH_QUERY_ARG
               && u->hash_on != KONG_HASH_URI_CAPTURE)
    {
        kong_err(ctx, map, "values of these fields must be distinct: "
                 "'hash_on', 'hash_fallback'");
    }

    {
        static const char *const  pairs[][2] = {
            { "hash_on_header", "hash_fallback_header" },
            { "hash_on_query_arg", "hash_fallback_query_arg" },
            { "hash_on_uri_capture", "hash_fallback_uri_capture" },
        };

        const char  *x, *y;
        size_t       j;

        for (j = 0; j < KONG_N(pairs); j++) {
            x = y = NULL;
            kong_get_str(ctx, map, pairs[j][0], 0, &x);
            kong_get_str(ctx, map, pairs[j][1], 0, &y);

            if (x && y && strcasecmp(x, y) == 0) {
                kong_err(ctx, map, "values of these fields must be "
                         "distinct: '%s', '%s'", pairs[j][0], pairs[j][1]);
            }
        }
    }

    kong_get_uint(ctx, map, "slots", 10, 65536, &u->slots);

    if (kong_get_str(ctx, map, "host_header", 0, &u->host_header) == 1) {
        v = kong_node_get(map, "host_header");

        if (kong_split_host(u->host_header, &h, &hlen, &port) != 0
            || !kong_is_host(h, hlen))
        {
            kong_ferr(ctx, v, "host_header", "invalid value: %s",
                      u->host_header);
        }
    }

    kong_get_bool(ctx, map, "use_srv_name", &u->use_srv_name);

    v = kong_node_get(map, "client_certificate");
    if (!kong_node_is_null(v)) {
        kong_ferr(ctx, v, "client_certificate", "not supported by this "
                  "gateway: certificates entities are not loaded (use "
                  "nginx's proxy_ssl_certificate)");
    }

    kong_healthchecks(ctx, map, &u->healthchecks);

    mark = kong_push(ctx, "targets");
    a = kong_records(ctx, kong_node_get(map, "targets"));

    for (i = 0; a && i < a->n; i++) {
        mark2 = kong_push_index(ctx, i);
        ctx->cur = self;

        if (kong_record(ctx, a->items[i]) == 0) {
            kong_target(ctx, a->items[i], u);
        }

        kong_pop(ctx, mark2);
    }

    kong_pop(ctx, mark);
    ctx->cur = 0;
}


/* ---- consumers and credentials ------------------------------------------- */

static void
kong_credential(kong_ctx_t *ctx, const kong_node_t *map, const char *entity,
    kong_consumer_t *c)
{
    kong_credential_t  *cr;

    cr = kong_palloc(ctx->pool, sizeof(kong_credential_t));
    if (cr == NULL) {
        kong_oom(ctx);
        return;
    }

    ctx->cur = kong_ent_add(ctx, KONG_ENT_CRED, cr, ctx->cur, map);
    if (ctx->cur == 0) {
        return;
    }

    cr->entity = entity;
    cr->node = map;
    cr->consumer = c;
    cr->pos.line = map->line;
    cr->pos.col = map->col;

    kong_foreign(ctx, map, "consumer", c != NULL, 1, KONG_REF_CRED_CONSUMER,
                 cr);
}


static void
kong_credentials(kong_ctx_t *ctx, const kong_node_t *v, const char *entity,
    kong_consumer_t *c)
{
    size_t        i, mark, parent;
    kong_node_t  *a;

    a = kong_records(ctx, v);
    parent = ctx->cur;

    for (i = 0; a && i < a->n; i++) {
        mark = kong_push_index(ctx, i);
        ctx->cur = parent;

        if (kong_record(ctx, a->items[i]) == 0) {
            kong_credential(ctx, a->items[i], entity, c);
        }

        kong_pop(ctx, mark);
    }

    ctx->cur = parent;
}


static void
kong_consumer(kong_ctx_t *ctx, const kong_node_t *map)
{
    static const char *const  fields[] = {
        "id", "username", "custom_id", "tags", "created_at", "updated_at",
        "plugins", "keyauth_credentials", "basicauth_credentials", "acls",
        "jwt_secrets", "hmacauth_credentials", "oauth2_credentials", NULL
    };

    size_t            i, mark, self;
    kong_node_t      *v;
    kong_consumer_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_consumer_t));
    if (c == NULL) {
        kong_oom(ctx);
        return;
    }

    self = kong_ent_add(ctx, KONG_ENT_CONSUMER, c, 0, map);
    if (self == 0) {
        return;
    }

    ctx->cur = self;
    c->pos.line = map->line;
    c->pos.col = map->col;
    c->index = ctx->cfg->nconsumers;

    kong_check_fields(ctx, map, fields);
    kong_check_id_name(ctx, map, KONG_ENT_CONSUMER, c, "username", &c->id,
                       &c->username, 0);

    if (kong_get_str(ctx, map, "custom_id", 0, &c->custom_id) == 1) {
        switch (kong_map_put(&ctx->custom_ids, c->custom_id,
                             strlen(c->custom_id), c))
        {
        case 1:
            kong_err(ctx, map, "uniqueness violation: 'consumers' entity "
                     "with custom_id set to '%s' already declared",
                     c->custom_id);
            break;
        case -1:
            kong_oom(ctx);
        }
    }

    if (c->username == NULL && c->custom_id == NULL) {
        kong_err(ctx, map, "at least one of these fields must be non-empty: "
                 "'custom_id', 'username'");
    }

    kong_nested_plugins(ctx, map, KONG_ENT_CONSUMER, c);

    for (i = 0; kong_credential_entities[i]; i++) {
        v = kong_node_get(map, kong_credential_entities[i]);
        if (v == NULL) {
            continue;
        }

        mark = kong_push(ctx, kong_credential_entities[i]);
        ctx->cur = self;
        kong_credentials(ctx, v, kong_credential_entities[i], c);
        kong_pop(ctx, mark);
    }

    ctx->cur = 0;
}


/* ---- references, uniqueness of plugins ----------------------------------- */

static void *
kong_lookup(kong_ctx_t *ctx, int type, const char *key)
{
    void    *v;
    size_t   len;

    len = strlen(key);

    v = kong_map_get(&ctx->names[type], key, len);
    if (v == NULL) {
        v = kong_map_get(&ctx->ids[type], key, len);
    }

    return v;
}


static void
kong_resolve(kong_ctx_t *ctx)
{
    static const char *const  what[] = {
        "", "service", "upstream", "route", "service", "consumer", "consumer"
    };
    static const int  target_type[] = {
        0, KONG_ENT_SERVICE, KONG_ENT_UPSTREAM, KONG_ENT_ROUTE,
        KONG_ENT_SERVICE, KONG_ENT_CONSUMER, KONG_ENT_CONSUMER
    };

    size_t           i, plen;
    void            *ent;
    kong_ref_t      *r;
    const char      *key;

    for (i = 0; i < ctx->nrefs; i++) {
        r = &ctx->refs[i];
        key = r->node->str;
        ent = kong_lookup(ctx, target_type[r->kind], key);

        if (ent == NULL) {
            plen = ctx->plen;
            ctx->cur = r->entity;
            snprintf(ctx->path, sizeof(ctx->path), "%s", r->path);
            ctx->plen = strlen(ctx->path);
            kong_err(ctx, r->node, "invalid reference '%s: %s' (no such "
                     "entry in '%s')", what[r->kind], key,
                     kong_entity_names[target_type[r->kind]]);
            kong_pop(ctx, plen);
            ctx->cur = 0;
            continue;
        }

        switch (r->kind) {
        case KONG_REF_ROUTE_SERVICE:
            ((kong_route_t *) r->from)->service = ent;
            break;
        case KONG_REF_TARGET_UPSTREAM:
            ((kong_target_t *) r->from)->upstream = ent;
            break;
        case KONG_REF_PLUGIN_ROUTE:
            ((kong_plugin_t *) r->from)->route = ent;
            break;
        case KONG_REF_PLUGIN_SERVICE:
            ((kong_plugin_t *) r->from)->service = ent;
            break;
        case KONG_REF_PLUGIN_CONSUMER:
            ((kong_plugin_t *) r->from)->consumer = ent;
            break;
        case KONG_REF_CRED_CONSUMER:
            ((kong_credential_t *) r->from)->consumer = ent;
            break;
        }
    }
}


/* ---- the file ------------------------------------------------------------ */

static const char *const  kong_rejected[][2] = {
    { "certificates", "TLS certificates and keys are configured in nginx "
                      "(ssl_certificate)" },
    { "snis", "TLS certificates and keys are configured in nginx "
              "(ssl_certificate)" },
    { "ca_certificates", "trusted CAs are configured in nginx "
                         "(proxy_ssl_trusted_certificate)" },
    { "vaults", "secret references are not supported" },
    { "key_sets", "keys are not supported" },
    { "keys", "keys are not supported" },
    { "filter_chains", "WebAssembly filters are not supported" },
    { "workspaces", "workspaces are not supported" },
    { "parameters", "parameters are not supported" },
    { "clustering_data_planes", "hybrid mode is not supported" },
    { NULL, NULL }
};


static void
kong_entities(kong_ctx_t *ctx, const kong_node_t *v, const char *key)
{
    size_t        i, mark;
    kong_node_t  *a;

    a = kong_records(ctx, v);

    for (i = 0; a && i < a->n && !ctx->oom; i++) {
        mark = kong_push_index(ctx, i);
        ctx->cur = 0;

        if (kong_record(ctx, a->items[i]) == 0) {
            if (strcmp(key, "services") == 0) {
                kong_service(ctx, a->items[i]);

            } else if (strcmp(key, "routes") == 0) {
                kong_route(ctx, a->items[i], NULL);

            } else if (strcmp(key, "upstreams") == 0) {
                kong_upstream(ctx, a->items[i]);

            } else if (strcmp(key, "targets") == 0) {
                kong_target(ctx, a->items[i], NULL);

            } else if (strcmp(key, "consumers") == 0) {
                kong_consumer(ctx, a->items[i]);

            } else if (strcmp(key, "plugins") == 0) {
                kong_plugin(ctx, a->items[i], 0, NULL);

            } else {
                kong_credential(ctx, a->items[i],
                                kong_credential_entities[
                                    kong_in_list(key, strlen(key),
                                                 kong_credential_entities)],
                                NULL);
            }
        }

        ctx->cur = 0;
        kong_pop(ctx, mark);
    }
}


static void
kong_top(kong_ctx_t *ctx, const kong_node_t *root)
{
    static const char *const  versions[] = { "1.1", "2.1", "3.0", NULL };
    static const char *const  entities[] = {
        "services", "routes", "upstreams", "targets", "consumers", "plugins",
        NULL
    };

    int           k;
    size_t        i, j, mark;
    char          buf[64];
    kong_node_t  *key, *v;

    if (root == NULL || root->type != KONG_NODE_MAP) {
        kong_err(ctx, root, "failed parsing declarative configuration: "
                 "expected an object");
        ctx->fatal = 1;
        return;
    }

    v = kong_node_get(root, "_format_version");

    if (kong_node_is_null(v)) {
        kong_ferr(ctx, root, "_format_version", "required field missing");
        ctx->fatal = 1;
        return;
    }

    if (!kong_is_str(v)) {
        kong_ferr(ctx, v, "_format_version", "expected a string");
        ctx->fatal = 1;
        return;
    }

    k = kong_in_list(v->str, v->len, versions);

    if (k < 0) {
        kong_ferr(ctx, v, "_format_version", "expected one of: %s",
                  kong_join(buf, sizeof(buf), versions));
        ctx->fatal = 1;
        return;
    }

    ctx->legacy = k < 2;

    ctx->cfg->transform = 1;
    kong_get_bool(ctx, root, "_transform", &ctx->cfg->transform);

    for (i = 0; i < root->n && !ctx->oom; i++) {
        key = root->keys[i];
        v = root->items[i];

        if (strcmp(key->str, "_format_version") == 0
            || strcmp(key->str, "_transform") == 0)
        {
            continue;
        }

        if (strcmp(key->str, "_comment") == 0) {
            if (!kong_node_is_null(v) && !kong_is_str(v)) {
                kong_ferr(ctx, v, "_comment", "expected a string");
            }

            continue;
        }

        if (strcmp(key->str, "_ignore") == 0) {
            if (!kong_node_is_null(v) && v->type != KONG_NODE_SEQ) {
                kong_ferr(ctx, v, "_ignore", "expected an array");
            }

            continue;
        }

        mark = kong_push(ctx, key->str);

        if (kong_in_list(key->str, key->len, entities) >= 0
            || kong_in_list(key->str, key->len, kong_credential_entities)
               >= 0)
        {
            kong_entities(ctx, v, key->str);
            kong_pop(ctx, mark);
            continue;
        }

        for (j = 0; kong_rejected[j][0]; j++) {
            if (strcmp(kong_rejected[j][0], key->str) == 0) {
                break;
            }
        }

        if (kong_rejected[j][0] == NULL) {
            kong_err(ctx, key, "unknown field");

        } else if (!kong_node_is_null(v)
                   && !(v->type == KONG_NODE_SEQ && v->n == 0))
        {
            kong_err(ctx, key, "'%s' entities are not supported by this "
                     "gateway: %s", key->str, kong_rejected[j][1]);
        }

        kong_pop(ctx, mark);
    }
}


static int
kong_ent_bad(kong_ctx_t *ctx, void *ptr)
{
    kong_ent_t  *e;

    e = kong_map_get(&ctx->by_ptr, (const char *) &ptr, sizeof(void *));

    return e != NULL && e->bad;
}


/* Whether an entity depends on an invalid one (skip mode). */
static int
kong_cascade(kong_ctx_t *ctx, size_t i)
{
    kong_ent_t         *e;
    kong_route_t       *r;
    kong_target_t      *t;
    kong_plugin_t      *p;
    kong_credential_t  *c;

#define BAD(ptr)  ((ptr) != NULL && kong_ent_bad(ctx, ptr))

    e = &ctx->ents[i];

    if (e->parent && ctx->ents[e->parent - 1].bad) {
        return 1;
    }

    switch (e->type) {
    case KONG_ENT_ROUTE:
        r = e->ptr;
        return BAD(r->service);
    case KONG_ENT_TARGET:
        t = e->ptr;
        return BAD(t->upstream);
    case KONG_ENT_PLUGIN:
        p = e->ptr;
        return BAD(p->route) || BAD(p->service) || BAD(p->consumer);
    case KONG_ENT_CRED:
        c = e->ptr;
        return BAD(c->consumer);
    }

#undef BAD

    return 0;
}


static void
kong_ent_error(kong_ctx_t *ctx, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
kong_ent_error(kong_ctx_t *ctx, size_t i, const char *fmt, ...)
{
    va_list      ap;
    kong_ent_t  *e;

    e = &ctx->ents[i];
    ctx->cur = i + 1;
    snprintf(ctx->path, sizeof(ctx->path), "%s", e->path);
    ctx->plen = strlen(ctx->path);

    va_start(ap, fmt);
    kong_errv(ctx, e->node, NULL, fmt, ap);
    va_end(ap);

    kong_pop(ctx, 0);
    ctx->cur = 0;
}


/* Uniqueness that depends on resolved references: plugins per scope,
 * targets per upstream. */
static void
kong_unique_late(kong_ctx_t *ctx)
{
    char             key[600];
    size_t           i;
    kong_ent_t      *e;
    kong_plugin_t   *p;
    kong_target_t   *t;
    char            *k;
    int              n;

    for (i = 0; i < ctx->nents && !ctx->oom; i++) {
        e = &ctx->ents[i];

        if (e->type == KONG_ENT_PLUGIN) {
            p = e->ptr;
            if (p->name == NULL) {
                continue;
            }

            n = snprintf(key, sizeof(key), "%p %p %p %s", (void *) p->route,
                         (void *) p->service, (void *) p->consumer, p->name);

            k = kong_pstrndup(ctx->pool, key, (size_t) n);
            if (k == NULL) {
                kong_oom(ctx);
                return;
            }

            if (kong_map_put(&ctx->plugin_keys, k, (size_t) n, p) == 1) {
                kong_ent_error(ctx, i, "uniqueness violation: 'plugins' "
                               "entity with name set to '%s' already "
                               "declared for the same route, service and "
                               "consumer", p->name);
            }

        } else if (e->type == KONG_ENT_TARGET) {
            t = e->ptr;
            if (t->host == NULL || t->upstream == NULL) {
                continue;
            }

            n = snprintf(key, sizeof(key), "%p %s %u", (void *) t->upstream,
                         t->host, t->port);

            k = kong_pstrndup(ctx->pool, key, (size_t) n);
            if (k == NULL) {
                kong_oom(ctx);
                return;
            }

            if (kong_map_put(&ctx->targets, k, (size_t) n, t) == 1) {
                kong_ent_error(ctx, i, "uniqueness violation: 'targets' "
                               "entity with target set to '%s' already "
                               "declared in upstream '%s'", t->target,
                               t->upstream->name ? t->upstream->name : "");
            }
        }
    }
}


#define KONG_PUSH(arr, n, item)                                              \
    do {                                                                     \
        (arr)[(n)++] = (item);                                               \
    } while (0)


/* Fills the configuration's lists from the valid entities, in order. */
static int
kong_collect(kong_ctx_t *ctx)
{
    size_t            i, count[8];
    kong_ent_t       *e;
    kong_config_t    *cfg;
    kong_plugin_t    *p;
    kong_service_t   *s;
    kong_upstream_t  *u;
    kong_target_t    *t, **tl;

    cfg = ctx->cfg;
    memset(count, 0, sizeof(count));

    for (i = 0; i < ctx->nents; i++) {
        if (!ctx->ents[i].bad) {
            count[ctx->ents[i].type]++;
        }
    }

    cfg->services = kong_palloc(ctx->pool, (count[KONG_ENT_SERVICE] + 1)
                                           * sizeof(void *));
    cfg->routes = kong_palloc(ctx->pool, (count[KONG_ENT_ROUTE] + 1)
                                         * sizeof(void *));
    cfg->upstreams = kong_palloc(ctx->pool, (count[KONG_ENT_UPSTREAM] + 1)
                                            * sizeof(void *));
    cfg->targets = kong_palloc(ctx->pool, (count[KONG_ENT_TARGET] + 1)
                                          * sizeof(void *));
    cfg->consumers = kong_palloc(ctx->pool, (count[KONG_ENT_CONSUMER] + 1)
                                            * sizeof(void *));
    cfg->credentials = kong_palloc(ctx->pool, (count[KONG_ENT_CRED] + 1)
                                              * sizeof(void *));

    if (cfg->services == NULL || cfg->routes == NULL
        || cfg->upstreams == NULL || cfg->targets == NULL
        || cfg->consumers == NULL || cfg->credentials == NULL)
    {
        return -1;
    }

    for (i = 0; i < ctx->nents; i++) {
        e = &ctx->ents[i];
        if (e->bad) {
            continue;
        }

        switch (e->type) {

        case KONG_ENT_SERVICE:
            s = e->ptr;
            s->index = cfg->nservices;
            KONG_PUSH(cfg->services, cfg->nservices, s);
            break;

        case KONG_ENT_ROUTE:
            ((kong_route_t *) e->ptr)->index = cfg->nroutes;
            KONG_PUSH(cfg->routes, cfg->nroutes, e->ptr);
            break;

        case KONG_ENT_UPSTREAM:
            u = e->ptr;
            u->index = cfg->nupstreams;
            KONG_PUSH(cfg->upstreams, cfg->nupstreams, u);
            break;

        case KONG_ENT_TARGET:
            KONG_PUSH(cfg->targets, cfg->ntargets, e->ptr);
            break;

        case KONG_ENT_CONSUMER:
            ((kong_consumer_t *) e->ptr)->index = cfg->nconsumers;
            KONG_PUSH(cfg->consumers, cfg->nconsumers, e->ptr);
            break;

        case KONG_ENT_CRED:
            KONG_PUSH(cfg->credentials, cfg->ncredentials, e->ptr);
            break;

        case KONG_ENT_PLUGIN:
            p = e->ptr;
            kong_plugins_add(ctx, &cfg->plugins, p);

            if (p->route) {
                kong_plugins_add(ctx, &p->route->plugins, p);

            } else if (p->service) {
                kong_plugins_add(ctx, &p->service->plugins, p);

            } else if (p->consumer) {
                kong_plugins_add(ctx, &p->consumer->plugins, p);

            } else {
                kong_plugins_add(ctx, &cfg->global_plugins, p);
            }

            break;
        }
    }

    /* targets per upstream, in file order */
    for (i = 0; i < cfg->nupstreams; i++) {
        cfg->upstreams[i]->ntargets = 0;
    }

    for (i = 0; i < cfg->ntargets; i++) {
        cfg->targets[i]->upstream->ntargets++;
    }

    for (i = 0; i < cfg->nupstreams; i++) {
        u = cfg->upstreams[i];
        u->targets = kong_palloc(ctx->pool, (u->ntargets + 1)
                                            * sizeof(void *));
        if (u->targets == NULL) {
            return -1;
        }

        u->ntargets = 0;
    }

    for (i = 0; i < cfg->ntargets; i++) {
        t = cfg->targets[i];
        tl = t->upstream->targets;
        tl[t->upstream->ntargets++] = t;
    }

    /* a service whose host names an upstream goes through it */
    for (i = 0; i < cfg->nservices; i++) {
        s = cfg->services[i];
        u = kong_map_get(&ctx->names[KONG_ENT_UPSTREAM], s->host,
                         strlen(s->host));

        if (u && !kong_ent_bad(ctx, u)) {
            s->upstream = u;
        }
    }

    return ctx->oom ? -1 : 0;
}


static void
kong_errors_sort(kong_errors_t *errs)
{
    size_t        i, j;
    kong_error_t  e;

    /* insertion sort: stable, and there are at most KONG_ERRORS_MAX */
    for (i = 1; i < errs->n; i++) {
        e = errs->items[i];
        j = i;

        while (j > 0
               && (errs->items[j - 1].line > e.line
                   || (errs->items[j - 1].line == e.line
                       && errs->items[j - 1].col > e.col)))
        {
            errs->items[j] = errs->items[j - 1];
            j--;
        }

        errs->items[j] = e;
    }
}


static void
kong_errors_init(kong_errors_t *errs, const char *name)
{
    memset(errs, 0, sizeof(kong_errors_t));
    errs->file = strdup(name ? name : "kong.yml");
}


static void
kong_errors_add_plain(kong_errors_t *errs, unsigned line, unsigned col,
    const char *msg)
{
    kong_error_t  *e;

    e = kong_errors_slot(errs);
    if (e == NULL) {
        return;
    }

    e->line = line;
    e->col = col;
    e->path = strdup("");
    e->message = strdup(msg);

    if (e->path == NULL || e->message == NULL) {
        free(e->path);
        free(e->message);
        return;
    }

    errs->n++;
}


kong_config_t *
kong_load_string(const char *name, const char *text, size_t len,
    unsigned flags, kong_errors_t *errs)
{
    int             changed;
    char            msg[512];
    size_t          i;
    unsigned        line, col;
    kong_ctx_t     *ctx;
    kong_pool_t    *pool;
    kong_node_t    *root;
    kong_config_t  *cfg;

    kong_errors_init(errs, name);

    pool = kong_pool_create();
    ctx = calloc(1, sizeof(kong_ctx_t));

    if (pool == NULL || ctx == NULL) {
        kong_pool_destroy(pool);
        free(ctx);
        kong_errors_add_plain(errs, 0, 0, "out of memory");
        return NULL;
    }

    cfg = kong_palloc(pool, sizeof(kong_config_t));
    if (cfg == NULL) {
        goto oom;
    }

    cfg->pool = pool;
    cfg->file = kong_pstrndup(pool, errs->file ? errs->file : "kong.yml",
                              strlen(errs->file ? errs->file : "kong.yml"));

    if (kong_yaml_parse(pool, text, len, &root, msg, sizeof(msg), &line,
                        &col) != 0)
    {
        kong_errors_add_plain(errs, line, col, msg);
        goto failed;
    }

    ctx->pool = pool;
    ctx->cfg = cfg;
    ctx->errs = errs;
    ctx->flags = flags;

    for (i = 0; i < 8; i++) {
        kong_map_init(&ctx->names[i], pool);
        kong_map_init(&ctx->ids[i], pool);
    }

    kong_map_init(&ctx->custom_ids, pool);
    kong_map_init(&ctx->targets, pool);
    kong_map_init(&ctx->plugin_keys, pool);
    kong_map_init(&ctx->by_ptr, pool);

    kong_top(ctx, root);

    if (ctx->oom) {
        goto oom;
    }

    if (ctx->fatal) {
        goto failed;
    }

    for (i = 0; i < ctx->nents; i++) {
        if (kong_map_put(&ctx->by_ptr, (const char *) &ctx->ents[i].ptr,
                         sizeof(void *), &ctx->ents[i]) < 0)
        {
            goto oom;
        }

    }

    kong_resolve(ctx);
    kong_unique_late(ctx);

    if (ctx->oom) {
        goto oom;
    }

    if (errs->n || errs->dropped) {
        if (!(flags & KONG_LOAD_SKIP_INVALID)) {
            goto failed;
        }

        do {
            changed = 0;

            for (i = 0; i < ctx->nents; i++) {
                if (!ctx->ents[i].bad && kong_cascade(ctx, i)) {
                    ctx->ents[i].bad = 1;
                    changed = 1;
                }
            }

        } while (changed);
    }

    if (kong_collect(ctx) != 0) {
        goto oom;
    }

    if (kong_router_build(cfg, pool) != 0) {
        goto oom;
    }

    kong_errors_sort(errs);
    free(ctx);

    return cfg;

oom:

    kong_errors_add_plain(errs, 0, 0, "out of memory");

failed:

    kong_errors_sort(errs);
    free(ctx);

    if (cfg) {
        kong_config_free(cfg);

    } else {
        kong_pool_destroy(pool);
    }

    return NULL;
}


kong_config_t *
kong_load_file(const char *file, unsigned flags, kong_errors_t *errs)
{
    FILE           *f;
    char           *text, msg[512];
    long            size;
    size_t          n;
    kong_config_t  *cfg;

    f = fopen(file, "rb");
    if (f == NULL) {
        kong_errors_init(errs, file);
        snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
        kong_errors_add_plain(errs, 0, 0, msg);
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        kong_errors_init(errs, file);
        snprintf(msg, sizeof(msg), "cannot read: %s", strerror(errno));
        kong_errors_add_plain(errs, 0, 0, msg);
        fclose(f);
        return NULL;
    }

    if (size > KONG_FILE_MAX) {
        kong_errors_init(errs, file);
        kong_errors_add_plain(errs, 0, 0, "file too large");
        fclose(f);
        return NULL;
    }

    text = malloc((size_t) size + 1);
    if (text == NULL) {
        kong_errors_init(errs, file);
        kong_errors_add_plain(errs, 0, 0, "out of memory");
        fclose(f);
        return NULL;
    }

    n = fread(text, 1, (size_t) size, f);
    fclose(f);

    cfg = kong_load_string(file, text, n, flags, errs);
    free(text);

    return cfg;
}


void
kong_config_free(kong_config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }

    if (cfg->router) {
        kong_router_free(cfg->router);
    }

    /* the compiled regexes go with the pool's cleanups */
    kong_pool_destroy(cfg->pool);
}


size_t
kong_error_format(const kong_errors_t *errs, size_t i, char *buf,
    size_t size)
{
    int                  n;
    const kong_error_t  *e;

    e = &errs->items[i];

    if (e->line == 0) {
        n = snprintf(buf, size, "%s: %s%s%s", errs->file, e->path,
                     e->path[0] ? ": " : "", e->message);

    } else {
        n = snprintf(buf, size, "%s:%u:%u: %s%s%s", errs->file, e->line,
                     e->col, e->path, e->path[0] ? ": " : "", e->message);
    }

    return n < 0 ? 0 : (size_t) n;
}


void
kong_errors_print(const kong_errors_t *errs, FILE *out)
{
    size_t  i;
    char    buf[2048];

    for (i = 0; i < errs->n; i++) {
        kong_error_format(errs, i, buf, sizeof(buf));
        fprintf(out, "%s\n", buf);
    }

    if (errs->dropped) {
        fprintf(out, "%s: %zu more errors not shown\n", errs->file,
                errs->dropped);
    }
}


void
kong_errors_free(kong_errors_t *errs)
{
    size_t  i;

    for (i = 0; i < errs->n; i++) {
        free(errs->items[i].path);
        free(errs->items[i].message);
    }

    free(errs->items);
    free(errs->file);
    memset(errs, 0, sizeof(kong_errors_t));
}
