/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The validator's toolkit: errors that name the position and the entity
 * path, readers for typed fields with Kong's messages, and Kong's typedefs
 * (names, hosts, tags, ids, foreign keys, protocols).
 */

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "kong_schema.h"


const char *const  kong_entity_names[] = {
    "", "services", "routes", "upstreams", "targets", "consumers",
    "plugins", "credentials", "ca_certificates"
};

const char *const  kong_protocols[] = {
    "grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp",
    NULL
};

const int  kong_protocol_bits[] = {
    KONG_PROTO_GRPC, KONG_PROTO_GRPCS, KONG_PROTO_HTTP, KONG_PROTO_HTTPS,
    KONG_PROTO_TCP, KONG_PROTO_TLS, KONG_PROTO_TLS_PASSTHROUGH,
    KONG_PROTO_UDP
};

const char *const  kong_credential_entities[] = {
    "keyauth_credentials", "basicauth_credentials", "acls", "jwt_secrets",
    "hmacauth_credentials", "oauth2_credentials", NULL
};


/* ---- errors ------------------------------------------------------------ */

/* Room for one more error (the array doubles at powers of two). */
kong_error_t *
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


void
kong_oom(kong_ctx_t *ctx)
{
    ctx->oom = 1;
}


void
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

void
kong_err(kong_ctx_t *ctx, const kong_node_t *at, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    kong_errv(ctx, at, NULL, fmt, ap);
    va_end(ap);
}


/* An error about a field of the entity at the current path. */

void
kong_ferr(kong_ctx_t *ctx, const kong_node_t *at, const char *field,
    const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    kong_errv(ctx, at, field, fmt, ap);
    va_end(ap);
}


/* Appends s[0..len) to the path, cut at its end (no printf: this runs
 * for every entity of a million-consumer file). */
static void
kong_path_append(kong_ctx_t *ctx, const char *s, size_t len)
{
    size_t  room;

    room = sizeof(ctx->path) - 1 - ctx->plen;

    if (len > room) {
        len = room;
    }

    memcpy(ctx->path + ctx->plen, s, len);
    ctx->plen += len;
    ctx->path[ctx->plen] = '\0';
}


size_t
kong_push(kong_ctx_t *ctx, const char *key)
{
    size_t  mark;

    mark = ctx->plen;

    if (ctx->plen) {
        kong_path_append(ctx, ".", 1);
    }

    kong_path_append(ctx, key, strlen(key));

    return mark;
}


size_t
kong_push_index(kong_ctx_t *ctx, size_t i)
{
    char    buf[32], *p;
    size_t  mark;

    mark = ctx->plen;

    p = buf + sizeof(buf);
    *--p = ']';

    do {
        *--p = (char) ('0' + i % 10);
        i /= 10;
    } while (i);

    *--p = '[';

    kong_path_append(ctx, p, (size_t) (buf + sizeof(buf) - p));

    return mark;
}


void
kong_pop(kong_ctx_t *ctx, size_t mark)
{
    ctx->plen = mark;
    ctx->path[mark] = '\0';
}


char *
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

/*
 * The entities and references are the load's working state (ctx->work),
 * freed with it; they keep positions, not nodes, since a streamed item's
 * nodes are gone once it is checked.
 */
size_t
kong_ent_add(kong_ctx_t *ctx, int type, void *ptr, size_t parent,
    const kong_node_t *node)
{
    kong_ent_t  *e;
    size_t       cap;

    if (ctx->nents == ctx->cents) {
        cap = ctx->cents ? ctx->cents * 2 : 64;
        e = realloc(ctx->ents, cap * sizeof(kong_ent_t));
        if (e == NULL) {
            kong_oom(ctx);
            return 0;
        }

        ctx->ents = e;
        ctx->cents = cap;
    }

    if (ctx->nents >= UINT32_MAX - 1) {
        kong_oom(ctx);
        return 0;
    }

    e = &ctx->ents[ctx->nents++];
    e->type = (uint16_t) type;
    e->ptr = ptr;
    e->parent = (uint32_t) parent;
    e->pos.line = node->line;
    e->pos.col = node->col;
    e->bad = 0;
    e->path = NULL;

    /* only these have errors once the entity is checked */
    if (type == KONG_ENT_PLUGIN || type == KONG_ENT_TARGET) {
        e->path = kong_pstrndup(ctx->work, ctx->path, ctx->plen);
        if (e->path == NULL) {
            kong_oom(ctx);
        }
    }

    return ctx->nents;
}


void
kong_ref_add(kong_ctx_t *ctx, const kong_node_t *node, const char *field,
    int kind, void *from)
{
    kong_ref_t  *r;
    size_t       cap, mark;

    if (ctx->nrefs == ctx->crefs) {
        cap = ctx->crefs ? ctx->crefs * 2 : 64;
        r = realloc(ctx->refs, cap * sizeof(kong_ref_t));
        if (r == NULL) {
            kong_oom(ctx);
            return;
        }

        ctx->refs = r;
        ctx->crefs = cap;
    }

    r = &ctx->refs[ctx->nrefs++];
    r->str = node->str;
    r->pos.line = node->line;
    r->pos.col = node->col;
    mark = kong_push(ctx, field);
    r->path = kong_pstrndup(ctx->work, ctx->path, ctx->plen);
    kong_pop(ctx, mark);
    r->kind = kind;
    r->from = from;
    r->entity = ctx->cur;

    if (r->path == NULL) {
        kong_oom(ctx);
    }
}


/* ---- field readers ------------------------------------------------------- */

int
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
const char *
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
void
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


int
kong_is_str(const kong_node_t *v)
{
    return v->type == KONG_NODE_SCALAR && v->scalar == KONG_SCALAR_STR;
}


/*
 * A string field.  Returns 1 with *out set, 0 when absent or null (*out
 * untouched; "required field missing" if required), -1 on a wrong type.
 */
int
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


int
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


int
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


int
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


int
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
kong_node_t *
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

int
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
int
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
int
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


int
kong_is_ip(const char *s, size_t len)
{
    return kong_is_ipv4(s, len) || kong_is_ipv6(s, len);
}


int
kong_is_host(const char *s, size_t len)
{
    return kong_is_ip(s, len) || kong_is_hostname(s, len);
}


/* typedefs.host: hostname or IP, no port */
int
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


void
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


void
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


const char **
kong_tags(kong_ctx_t *ctx, const kong_node_t *map, size_t *n)
{
    size_t        i;
    const char  **out;
    kong_node_t  *a;

    *n = 0;

    a = kong_node_get(map, "tags");
    if (a == NULL || a->type != KONG_NODE_SEQ || a->n == 0) {
        return NULL;
    }

    out = kong_palloc(ctx->pool, a->n * sizeof(char *));
    if (out == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    for (i = 0; i < a->n; i++) {
        if (kong_is_str(a->items[i])) {
            out[(*n)++] = a->items[i]->str;
        }
    }

    return out;
}


int64_t
kong_timestamp(const kong_node_t *map, const char *key)
{
    kong_node_t  *v;

    v = kong_node_get(map, key);

    if (v == NULL || v->type != KONG_NODE_SCALAR
        || v->scalar != KONG_SCALAR_INT || v->number < 0
        || v->number > 9.0e15)
    {
        return 0;
    }

    return (int64_t) v->number;
}


/*
 * id and name (each unique within the entity type; the maps lead from
 * them to ent, for references), and tags.
 */
void
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
void
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
kong_node_t *
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


int
kong_record(kong_ctx_t *ctx, const kong_node_t *v)
{
    if (v->type != KONG_NODE_MAP) {
        kong_err(ctx, v, "expected a record");
        return -1;
    }

    return 0;
}


void
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

unsigned
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
