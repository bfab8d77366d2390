/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * YAML text to a node tree on libyaml's event parser, keeping the line and
 * column of every node.  Plain scalars are resolved by the YAML 1.2 core
 * schema (null, true/false, integers, floats); quoted scalars and "!!str"
 * stay strings.  Aliases share their anchored node; merge keys ("<<") are
 * expanded.  A document whose expansion (aliases counted every time they
 * are used) exceeds KONG_YAML_MAX_NODES is rejected, so a few lines of
 * nested aliases cannot make the validator walk billions of nodes.
 */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "kong_int.h"


#define KONG_YAML_MAX_NODES  (16 * 1024 * 1024)
#define KONG_YAML_MAX_DEPTH  256


typedef struct {
    kong_pool_t    *pool;       /* nodes: the tree's, or an item's */
    kong_pool_t    *tree;       /* the tree's nodes */
    kong_pool_t    *text;       /* every scalar's text */
    kong_pool_t    *item;       /* a streamed item's nodes, or NULL */
    const kong_yaml_stream_t  *stream;
    yaml_parser_t   parser;
    kong_map_t      anchors;
    size_t          nanchors;   /* anchors defined so far */
    kong_map_t      keys;       /* mapping keys' text, shared */
    char           *err;
    size_t          err_size;
    unsigned        line;
    unsigned        col;
    unsigned        depth;
} kong_yaml_ctx_t;


/* expanded size of each node, for the alias-bomb limit */
typedef struct {
    kong_node_t    *node;
    uint64_t        weight;
} kong_yaml_built_t;


static int kong_yaml_node(kong_yaml_ctx_t *ctx, yaml_event_t *ev,
    kong_yaml_built_t *out, int key);
static int kong_yaml_stream(kong_yaml_ctx_t *ctx, yaml_event_t *start,
    const kong_node_t *key, kong_yaml_built_t *out);


static void
kong_yaml_error(kong_yaml_ctx_t *ctx, unsigned line, unsigned col,
    const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(ctx->err, ctx->err_size, fmt, ap);
    va_end(ap);

    ctx->line = line;
    ctx->col = col;
}


static int
kong_yaml_next(kong_yaml_ctx_t *ctx, yaml_event_t *ev)
{
    yaml_parser_t  *p;

    p = &ctx->parser;

    if (yaml_parser_parse(p, ev)) {
        return 0;
    }

    if (p->context) {
        kong_yaml_error(ctx, (unsigned) p->problem_mark.line + 1,
                        (unsigned) p->problem_mark.column + 1,
                        "invalid YAML: %s %s", p->problem, p->context);

    } else {
        kong_yaml_error(ctx, (unsigned) p->problem_mark.line + 1,
                        (unsigned) p->problem_mark.column + 1,
                        "invalid YAML: %s",
                        p->problem ? p->problem : "parse error");
    }

    return -1;
}


static int
kong_yaml_match(const char *s, size_t len, const char *const *words)
{
    size_t  i;

    for (i = 0; words[i]; i++) {
        if (strlen(words[i]) == len && memcmp(words[i], s, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
kong_yaml_digits(const char *s, size_t len, const char *set)
{
    size_t  i;

    if (len == 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (strchr(set, s[i]) == NULL || s[i] == '\0') {
            return 0;
        }
    }

    return 1;
}


static int
kong_yaml_is_float(const char *s, size_t len)
{
    size_t  i, d;

    i = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) {
        i++;
    }

    d = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        d++;
    }

    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            d++;
        }
    }

    if (d == 0) {
        return 0;
    }

    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) {
            i++;
        }

        d = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            d++;
        }

        if (d == 0) {
            return 0;
        }
    }

    return i == len;
}


/* Resolves a plain scalar's type by the YAML 1.2 core schema. */
static void
kong_yaml_resolve(kong_node_t *n)
{
    static const char *const  nulls[] = { "~", "null", "Null", "NULL", NULL };
    static const char *const  trues[] = { "true", "True", "TRUE", NULL };
    static const char *const  falses[] = { "false", "False", "FALSE", NULL };
    static const char *const  infs[] = { ".inf", ".Inf", ".INF", "+.inf",
                                         "+.Inf", "+.INF", NULL };
    static const char *const  ninfs[] = { "-.inf", "-.Inf", "-.INF", NULL };
    static const char *const  nans[] = { ".nan", ".NaN", ".NAN", NULL };

    const char  *s;
    size_t       len, i;

    s = n->str;
    len = n->len;

    if (len == 0 || kong_yaml_match(s, len, nulls)) {
        n->scalar = KONG_SCALAR_NULL;
        return;
    }

    if (kong_yaml_match(s, len, trues)) {
        n->scalar = KONG_SCALAR_BOOL;
        n->boolean = 1;
        return;
    }

    if (kong_yaml_match(s, len, falses)) {
        n->scalar = KONG_SCALAR_BOOL;
        n->boolean = 0;
        return;
    }

    if (len > 2 && s[0] == '0' && s[1] == 'x'
        && kong_yaml_digits(s + 2, len - 2, "0123456789abcdefABCDEF"))
    {
        n->scalar = KONG_SCALAR_INT;
        n->number = (double) strtoull(s + 2, NULL, 16);
        return;
    }

    if (len > 2 && s[0] == '0' && s[1] == 'o'
        && kong_yaml_digits(s + 2, len - 2, "01234567"))
    {
        n->scalar = KONG_SCALAR_INT;
        n->number = (double) strtoull(s + 2, NULL, 8);
        return;
    }

    i = (s[0] == '-' || s[0] == '+') ? 1 : 0;

    if (kong_yaml_digits(s + i, len - i, "0123456789")) {
        n->scalar = KONG_SCALAR_INT;
        n->number = strtod(s, NULL);
        return;
    }

    if (kong_yaml_is_float(s, len)) {
        n->scalar = KONG_SCALAR_FLOAT;
        n->number = strtod(s, NULL);
        return;
    }

    if (kong_yaml_match(s, len, infs)) {
        n->scalar = KONG_SCALAR_FLOAT;
        n->number = HUGE_VAL;
        return;
    }

    if (kong_yaml_match(s, len, ninfs)) {
        n->scalar = KONG_SCALAR_FLOAT;
        n->number = -HUGE_VAL;
        return;
    }

    if (kong_yaml_match(s, len, nans)) {
        n->scalar = KONG_SCALAR_FLOAT;
        n->number = NAN;
        return;
    }

    n->scalar = KONG_SCALAR_STR;
}


/* A scalar's text; mapping keys are shared (a file repeats them). */
static const char *
kong_yaml_text(kong_yaml_ctx_t *ctx, const char *s, size_t len, int key)
{
    char  *p;

    key = key && len <= 32;

    if (key) {
        p = kong_map_get(&ctx->keys, s, len);
        if (p) {
            return p;
        }
    }

    p = kong_pstrndup(ctx->text, s, len);

    if (p && key && ctx->keys.n < 4096
        && kong_map_put(&ctx->keys, p, len, p) < 0)
    {
        return NULL;
    }

    return p;
}


static kong_node_t *
kong_yaml_new(kong_yaml_ctx_t *ctx, int type, yaml_mark_t *mark)
{
    kong_node_t  *n;

    n = kong_palloc(ctx->pool, sizeof(kong_node_t));
    if (n == NULL) {
        kong_yaml_error(ctx, 0, 0, "out of memory");
        return NULL;
    }

    n->type = type;
    n->line = (unsigned) mark->line + 1;
    n->col = (unsigned) mark->column + 1;

    return n;
}


static int
kong_yaml_anchor(kong_yaml_ctx_t *ctx, yaml_char_t *anchor,
    kong_yaml_built_t *b)
{
    kong_yaml_built_t  *saved;
    size_t              len;
    char               *name;

    if (anchor == NULL) {
        return 0;
    }

    saved = kong_palloc(ctx->pool, sizeof(kong_yaml_built_t));
    len = strlen((char *) anchor);
    name = kong_pstrndup(ctx->pool, (char *) anchor, len);

    if (saved == NULL || name == NULL) {
        kong_yaml_error(ctx, 0, 0, "out of memory");
        return -1;
    }

    *saved = *b;
    ctx->nanchors++;

    /* a redefined anchor replaces the earlier one, as YAML says */
    if (kong_map_put(&ctx->anchors, name, len, saved) == 1) {
        kong_map_slot_t  *s;
        size_t            i;

        for (i = 0; i < ctx->anchors.cap; i++) {
            s = &ctx->anchors.slots[i];
            if (s->key && s->len == len && memcmp(s->key, name, len) == 0) {
                s->value = saved;
            }
        }
    }

    return 0;
}


static int
kong_yaml_grow(kong_yaml_ctx_t *ctx, kong_node_t *n, size_t *cap, int map)
{
    size_t         ncap;
    kong_node_t  **items, **keys;

    if (n->n < *cap) {
        return 0;
    }

    ncap = *cap ? *cap * 2 : 8;

    items = kong_palloc(ctx->pool, ncap * sizeof(kong_node_t *));
    keys = map ? kong_palloc(ctx->pool, ncap * sizeof(kong_node_t *)) : NULL;

    if (items == NULL || (map && keys == NULL)) {
        kong_yaml_error(ctx, 0, 0, "out of memory");
        return -1;
    }

    if (n->n) {
        memcpy(items, n->items, n->n * sizeof(kong_node_t *));
        if (map) {
            memcpy(keys, n->keys, n->n * sizeof(kong_node_t *));
        }
    }

    n->items = items;
    n->keys = keys;
    *cap = ncap;

    return 0;
}


static uint64_t
kong_yaml_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}


static int
kong_yaml_is_merge_key(const kong_node_t *k)
{
    return k->type == KONG_NODE_SCALAR && k->scalar == KONG_SCALAR_STR
           && k->len == 2 && memcmp(k->str, "<<", 2) == 0;
}


static int
kong_yaml_has_key(const kong_node_t *map, const kong_node_t *key,
    size_t upto)
{
    size_t  i;

    for (i = 0; i < upto; i++) {
        if (map->keys[i]->type == KONG_NODE_SCALAR
            && map->keys[i]->len == key->len
            && memcmp(map->keys[i]->str, key->str, key->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Expands the merge keys of a finished mapping: the pairs of the merged
 * mapping(s) that the mapping does not set itself are appended.
 */
static int
kong_yaml_merge(kong_yaml_ctx_t *ctx, kong_node_t *map, size_t *cap)
{
    size_t        i, j, k, n, nsrc;
    kong_node_t  *v, *src, **srcs, *one[1];

    n = map->n;

    for (i = 0; i < n; i++) {
        if (!kong_yaml_is_merge_key(map->keys[i])) {
            continue;
        }

        v = map->items[i];

        if (v->type == KONG_NODE_MAP) {
            one[0] = v;
            srcs = one;
            nsrc = 1;

        } else if (v->type == KONG_NODE_SEQ) {
            srcs = v->items;
            nsrc = v->n;

        } else {
            kong_yaml_error(ctx, v->line, v->col,
                            "invalid YAML: a merge key (<<) needs a "
                            "mapping or a list of mappings");
            return -1;
        }

        for (j = 0; j < nsrc; j++) {
            src = srcs[j];

            if (src->type != KONG_NODE_MAP) {
                kong_yaml_error(ctx, src->line, src->col,
                                "invalid YAML: a merge key (<<) needs a "
                                "mapping or a list of mappings");
                return -1;
            }

            for (k = 0; k < src->n; k++) {
                if (src->keys[k]->type != KONG_NODE_SCALAR
                    || kong_yaml_has_key(map, src->keys[k], map->n))
                {
                    continue;
                }

                if (kong_yaml_grow(ctx, map, cap, 1) != 0) {
                    return -1;
                }

                map->keys[map->n] = src->keys[k];
                map->items[map->n] = src->items[k];
                map->n++;
            }
        }
    }

    /* drop the "<<" pairs themselves */
    for (i = 0, j = 0; i < map->n; i++) {
        if (kong_yaml_is_merge_key(map->keys[i])) {
            continue;
        }

        map->keys[j] = map->keys[i];
        map->items[j] = map->items[i];
        j++;
    }

    map->n = j;

    return 0;
}


static int
kong_yaml_collection(kong_yaml_ctx_t *ctx, yaml_event_t *start,
    kong_yaml_built_t *out)
{
    int                 map, merge, rc;
    size_t              cap, i;
    uint64_t            weight;
    kong_map_t          seen;
    kong_node_t        *n, *key;
    yaml_event_t        ev;
    yaml_event_type_t   end;
    kong_yaml_built_t   child;

    map = start->type == YAML_MAPPING_START_EVENT;
    end = map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;

    n = kong_yaml_new(ctx, map ? KONG_NODE_MAP : KONG_NODE_SEQ,
                      &start->start_mark);
    if (n == NULL) {
        return -1;
    }

    if (++ctx->depth > KONG_YAML_MAX_DEPTH) {
        kong_yaml_error(ctx, n->line, n->col,
                        "invalid YAML: nested deeper than %d levels",
                        KONG_YAML_MAX_DEPTH);
        return -1;
    }

    cap = 0;
    weight = 1;
    merge = 0;
    kong_map_init(&seen, ctx->pool);

    for ( ;; ) {
        if (kong_yaml_next(ctx, &ev) != 0) {
            return -1;
        }

        if (ev.type == end) {
            yaml_event_delete(&ev);
            break;
        }

        key = NULL;

        if (map) {
            if (kong_yaml_node(ctx, &ev, &child, 1) != 0) {
                return -1;
            }

            key = child.node;

            if (key->type != KONG_NODE_SCALAR) {
                kong_yaml_error(ctx, key->line, key->col,
                                "invalid YAML: keys must be scalars");
                return -1;
            }

            if (kong_yaml_is_merge_key(key)) {
                merge = 1;

            } else if (n->n < 32 ? kong_yaml_has_key(n, key, n->n)
                                 : kong_map_get(&seen, key->str, key->len)
                                   != NULL)
            {
                kong_yaml_error(ctx, key->line, key->col,
                                "duplicate key '%.*s'", (int) key->len,
                                key->str);
                return -1;
            }

            /* long mappings switch from a scan to a hash of their keys */
            if (n->n == 32) {
                for (i = 0; i < n->n; i++) {
                    if (kong_map_put(&seen, n->keys[i]->str,
                                     n->keys[i]->len, n->keys[i]) < 0)
                    {
                        kong_yaml_error(ctx, 0, 0, "out of memory");
                        return -1;
                    }
                }
            }

            if (n->n >= 32
                && kong_map_put(&seen, key->str, key->len, key) < 0)
            {
                kong_yaml_error(ctx, 0, 0, "out of memory");
                return -1;
            }

            if (kong_yaml_next(ctx, &ev) != 0) {
                return -1;
            }
        }

        if (map && ctx->depth == 1 && ctx->stream
            && ev.type == YAML_SEQUENCE_START_EVENT)
        {
            rc = ctx->stream->want(ctx->stream->data, n, key,
                                   ev.data.sequence_start.anchor == NULL);

        } else {
            rc = 0;
        }

        if (rc == 1) {
            rc = kong_yaml_stream(ctx, &ev, key, &child);
            yaml_event_delete(&ev);

        } else {
            rc = kong_yaml_node(ctx, &ev, &child, 0);
        }

        if (rc != 0) {
            return -1;
        }

        if (kong_yaml_grow(ctx, n, &cap, map) != 0) {
            return -1;
        }

        if (map) {
            n->keys[n->n] = key;
        }

        n->items[n->n++] = child.node;
        weight = kong_yaml_add(weight, child.weight);

        if (weight > KONG_YAML_MAX_NODES) {
            kong_yaml_error(ctx, child.node->line, child.node->col,
                            "invalid YAML: the document expands to more "
                            "than %d nodes (aliases)", KONG_YAML_MAX_NODES);
            return -1;
        }
    }

    if (merge && kong_yaml_merge(ctx, n, &cap) != 0) {
        return -1;
    }

    ctx->depth--;

    out->node = n;
    out->weight = weight;

    return kong_yaml_anchor(ctx, start->type == YAML_MAPPING_START_EVENT
                                 ? start->data.mapping_start.anchor
                                 : start->data.sequence_start.anchor, out);
}


static void
kong_yaml_pool_free(void *data)
{
    kong_pool_destroy(data);
}


/*
 * A sequence under a key of the root mapping whose items go to the stream
 * one by one, each as soon as it is complete, and are then freed unless
 * the stream keeps them (or they define anchors, which later aliases may
 * use).  The tree holds the sequence without its items.
 */
static int
kong_yaml_stream(kong_yaml_ctx_t *ctx, yaml_event_t *start,
    const kong_node_t *key, kong_yaml_built_t *out)
{
    int                 rc;
    size_t              index, nanchors;
    uint64_t            weight;
    kong_node_t        *n;
    yaml_event_t        ev;
    kong_yaml_built_t   child;

    n = kong_yaml_new(ctx, KONG_NODE_SEQ, &start->start_mark);
    if (n == NULL) {
        return -1;
    }

    n->streamed = 1;
    ctx->depth++;
    weight = 1;

    for (index = 0; /* void */; index++) {
        if (kong_yaml_next(ctx, &ev) != 0) {
            return -1;
        }

        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }

        if (ctx->item == NULL) {
            ctx->item = kong_pool_create();
            if (ctx->item == NULL) {
                yaml_event_delete(&ev);
                kong_yaml_error(ctx, 0, 0, "out of memory");
                return -1;
            }
        }

        nanchors = ctx->nanchors;

        ctx->pool = ctx->item;
        rc = kong_yaml_node(ctx, &ev, &child, 0);
        ctx->pool = ctx->tree;

        if (rc != 0) {
            return -1;
        }

        weight = kong_yaml_add(weight, child.weight);

        if (weight > KONG_YAML_MAX_NODES) {
            kong_yaml_error(ctx, child.node->line, child.node->col,
                            "invalid YAML: the document expands to more "
                            "than %d nodes (aliases)", KONG_YAML_MAX_NODES);
            return -1;
        }

        rc = ctx->stream->item(ctx->stream->data, key, index, child.node);

        if (rc < 0) {
            kong_yaml_error(ctx, 0, 0, "out of memory");
            return -1;
        }

        if (rc == 1 || ctx->nanchors != nanchors) {
            /* the item's nodes stay as long as the tree's */
            if (kong_pool_cleanup(ctx->tree, kong_yaml_pool_free, ctx->item)
                != 0)
            {
                kong_yaml_error(ctx, 0, 0, "out of memory");
                return -1;
            }

            ctx->item = NULL;

        } else {
            kong_pool_reset(ctx->item);
        }
    }

    ctx->depth--;

    out->node = n;
    out->weight = weight;

    return 0;
}


/*
 * Builds the node that starts with event ev (which it consumes) and
 * everything under it.
 */
static int
kong_yaml_node(kong_yaml_ctx_t *ctx, yaml_event_t *ev, kong_yaml_built_t *out,
    int key)
{
    int                 rc;
    size_t              len;
    const char         *tag;
    kong_node_t        *n;
    kong_yaml_built_t  *b;

    switch (ev->type) {

    case YAML_SCALAR_EVENT:
        n = kong_yaml_new(ctx, KONG_NODE_SCALAR, &ev->start_mark);
        if (n == NULL) {
            yaml_event_delete(ev);
            return -1;
        }

        len = ev->data.scalar.length;

        /* C strings end at NUL: a "\0" escape would cut a value short */
        if (memchr(ev->data.scalar.value, '\0', len) != NULL) {
            kong_yaml_error(ctx, n->line, n->col,
                            "invalid YAML: a NUL character in a scalar");
            yaml_event_delete(ev);
            return -1;
        }

        n->str = kong_yaml_text(ctx, (char *) ev->data.scalar.value, len,
                                key);
        n->len = len;

        if (n->str == NULL) {
            yaml_event_delete(ev);
            kong_yaml_error(ctx, 0, 0, "out of memory");
            return -1;
        }

        tag = (const char *) ev->data.scalar.tag;

        if (tag && strcmp(tag, "tag:yaml.org,2002:str") == 0) {
            n->scalar = KONG_SCALAR_STR;

        } else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                   || (tag && strncmp(tag, "tag:yaml.org,2002:", 18) == 0))
        {
            kong_yaml_resolve(n);

        } else {
            n->scalar = KONG_SCALAR_STR;
        }

        out->node = n;
        out->weight = 1;

        rc = kong_yaml_anchor(ctx, ev->data.scalar.anchor, out);
        yaml_event_delete(ev);
        return rc;

    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        rc = kong_yaml_collection(ctx, ev, out);
        yaml_event_delete(ev);
        return rc;

    case YAML_ALIAS_EVENT:
        len = strlen((char *) ev->data.alias.anchor);
        b = kong_map_get(&ctx->anchors, (char *) ev->data.alias.anchor, len);

        if (b == NULL) {
            kong_yaml_error(ctx, (unsigned) ev->start_mark.line + 1,
                            (unsigned) ev->start_mark.column + 1,
                            "invalid YAML: unknown anchor '%s'",
                            (char *) ev->data.alias.anchor);
            yaml_event_delete(ev);
            return -1;
        }

        *out = *b;
        yaml_event_delete(ev);
        return 0;

    default:
        kong_yaml_error(ctx, (unsigned) ev->start_mark.line + 1,
                        (unsigned) ev->start_mark.column + 1,
                        "invalid YAML: unexpected event");
        yaml_event_delete(ev);
        return -1;
    }
}


int
kong_yaml_parse(kong_pool_t *pool, kong_pool_t *strs,
    const kong_yaml_stream_t *stream, const char *text, size_t len, FILE *f,
    kong_node_t **root, char *err, size_t err_size, unsigned *line,
    unsigned *col)
{
    int                 rc;
    yaml_event_t        ev;
    kong_yaml_ctx_t     ctx;
    kong_yaml_built_t   b;

    memset(&ctx, 0, sizeof(ctx));
    ctx.pool = pool;
    ctx.tree = pool;
    ctx.text = strs ? strs : pool;
    ctx.stream = stream;
    ctx.err = err;
    ctx.err_size = err_size;
    kong_map_init(&ctx.anchors, pool);
    kong_map_init(&ctx.keys, pool);

    *root = NULL;
    err[0] = '\0';

    if (!yaml_parser_initialize(&ctx.parser)) {
        snprintf(err, err_size, "out of memory");
        *line = 0;
        *col = 0;
        return -1;
    }

    if (text) {
        yaml_parser_set_input_string(&ctx.parser,
                                     (const unsigned char *) text, len);

    } else {
        yaml_parser_set_input_file(&ctx.parser, f);
    }

    rc = -1;

    /* stream start, then a document start or the stream end */
    if (kong_yaml_next(&ctx, &ev) != 0) {
        goto done;
    }

    yaml_event_delete(&ev);

    if (kong_yaml_next(&ctx, &ev) != 0) {
        goto done;
    }

    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        rc = 0;
        goto done;
    }

    yaml_event_delete(&ev);

    if (kong_yaml_next(&ctx, &ev) != 0) {
        goto done;
    }

    if (kong_yaml_node(&ctx, &ev, &b, 0) != 0) {
        goto done;
    }

    /* document end, then the stream end: a second document is an error */
    if (kong_yaml_next(&ctx, &ev) != 0) {
        goto done;
    }

    yaml_event_delete(&ev);

    if (kong_yaml_next(&ctx, &ev) != 0) {
        goto done;
    }

    if (ev.type != YAML_STREAM_END_EVENT) {
        kong_yaml_error(&ctx, (unsigned) ev.start_mark.line + 1,
                        (unsigned) ev.start_mark.column + 1,
                        "invalid YAML: more than one document in the file");
        yaml_event_delete(&ev);
        goto done;
    }

    yaml_event_delete(&ev);

    *root = b.node;
    rc = 0;

done:

    yaml_parser_delete(&ctx.parser);
    kong_pool_destroy(ctx.item);

    *line = ctx.line;
    *col = ctx.col;

    return rc;
}


kong_node_t *
kong_node_get(const kong_node_t *map, const char *key)
{
    size_t  i, len;

    if (map == NULL || map->type != KONG_NODE_MAP) {
        return NULL;
    }

    len = strlen(key);

    for (i = 0; i < map->n; i++) {
        if (map->keys[i]->len == len
            && memcmp(map->keys[i]->str, key, len) == 0)
        {
            return map->items[i];
        }
    }

    return NULL;
}


int
kong_node_is_null(const kong_node_t *n)
{
    return n == NULL
           || (n->type == KONG_NODE_SCALAR && n->scalar == KONG_SCALAR_NULL);
}


const char *
kong_node_kind(const kong_node_t *n)
{
    if (n == NULL) {
        return "nothing";
    }

    switch (n->type) {
    case KONG_NODE_MAP:
        return "a map";
    case KONG_NODE_SEQ:
        return "an array";
    }

    switch (n->scalar) {
    case KONG_SCALAR_NULL:
        return "null";
    case KONG_SCALAR_BOOL:
        return "a boolean";
    case KONG_SCALAR_INT:
    case KONG_SCALAR_FLOAT:
        return "a number";
    }

    return "a string";
}
