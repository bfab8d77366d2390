/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The request-transformer and response-transformer schemas (Kong 3.x
 * kong/plugins/{request,response}-transformer/schema.lua): the operation
 * records, the "name:value" items and their header-name checks.  The
 * templates inside values are checked by the engine (kong_xform.c).
 */

#include <stdio.h>
#include <string.h>

#include "kong_schema.h"
#include "kong_plugin.h"


int kong_conf_strs(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    const char *const *dflt, kong_strs_t *out,
    const char *(*check)(kong_ctx_t *ctx, const kong_node_t *v));
void *kong_conf_request_transformer(kong_ctx_t *ctx, const kong_node_t *m);
void *kong_conf_response_transformer(kong_ctx_t *ctx, const kong_node_t *m);


static int
kong_xform_is_header(const char *s, size_t len)
{
    size_t  i;
    char    c;

    if (len == 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


static char  kong_xform_msg[256];


/* "name:value": Kong splits at the first run of colons */
static const char *
kong_xform_colon(kong_ctx_t *ctx, const kong_node_t *v)
{
    const char  *colon;

    (void) ctx;

    colon = memchr(v->str, ':', v->len);

    if (colon == NULL || colon == v->str) {
        snprintf(kong_xform_msg, sizeof(kong_xform_msg),
                 "key '%.100s' has no value", v->str);
        return kong_xform_msg;
    }

    return NULL;
}


static const char *
kong_xform_header(kong_ctx_t *ctx, const kong_node_t *v)
{
    if (!kong_xform_is_header(v->str, v->len)) {
        (void) ctx;
        snprintf(kong_xform_msg, sizeof(kong_xform_msg),
                 "'%.100s' is not a valid header", v->str);
        return kong_xform_msg;
    }

    return NULL;
}


static const char *
kong_xform_colon_header(kong_ctx_t *ctx, const kong_node_t *v)
{
    const char  *msg, *colon;

    msg = kong_xform_colon(ctx, v);
    if (msg) {
        return msg;
    }

    colon = memchr(v->str, ':', v->len);

    if (!kong_xform_is_header(v->str, (size_t) (colon - v->str))) {
        snprintf(kong_xform_msg, sizeof(kong_xform_msg),
                 "'%.*s' is not a valid header",
                 (int) (colon - v->str > 100 ? 100 : colon - v->str),
                 v->str);
        return kong_xform_msg;
    }

    return NULL;
}


/* rename: both sides are header names */
static const char *
kong_xform_rename_header(kong_ctx_t *ctx, const kong_node_t *v)
{
    const char  *msg, *colon, *val;

    msg = kong_xform_colon_header(ctx, v);
    if (msg) {
        return msg;
    }

    colon = memchr(v->str, ':', v->len);

    for (val = colon; *val == ':'; val++) { /* void */ }

    if (!kong_xform_is_header(val, strlen(val))) {
        snprintf(kong_xform_msg, sizeof(kong_xform_msg),
                 "'%.100s' is not a valid header", val);
        return kong_xform_msg;
    }

    return NULL;
}


static const char *
kong_xform_json_type(kong_ctx_t *ctx, const kong_node_t *v)
{
    (void) ctx;

    if (strcmp(v->str, "boolean") == 0 || strcmp(v->str, "number") == 0
        || strcmp(v->str, "string") == 0)
    {
        return NULL;
    }

    return "expected one of: boolean, number, string";
}


#define KONG_OP_REMOVE   0
#define KONG_OP_RENAME   1
#define KONG_OP_REPLACE  2
#define KONG_OP_ADD      3
#define KONG_OP_APPEND   4


static void
kong_xform_op(kong_ctx_t *ctx, const kong_node_t *m, const char *key, int op,
    int response, kong_xform_ops_t *ops)
{
    static const char *const  req_fields[] = {
        "headers", "querystring", "body", "uri", NULL
    };
    static const char *const  resp_fields[] = {
        "headers", "json", "json_types", NULL
    };

    size_t        mark;
    kong_node_t  *v;
    const char   *(*hdr)(kong_ctx_t *ctx, const kong_node_t *v);
    const char   *(*item)(kong_ctx_t *ctx, const kong_node_t *v);

    v = kong_node_get(m, key);

    if (kong_node_is_null(v)) {
        return;
    }

    if (v->type != KONG_NODE_MAP) {
        kong_ferr(ctx, v, key, "expected a record");
        return;
    }

    mark = kong_push(ctx, key);

    if (response) {
        kong_check_fields(ctx, v, resp_fields);

        if (op <= KONG_OP_RENAME
            && !kong_node_is_null(kong_node_get(v, "json_types")))
        {
            kong_ferr(ctx, kong_node_get(v, "json_types"), "json_types",
                      "unknown field");
        }

    } else {
        kong_check_fields(ctx, v, req_fields);

        if (op != KONG_OP_REPLACE
            && !kong_node_is_null(kong_node_get(v, "uri")))
        {
            kong_ferr(ctx, kong_node_get(v, "uri"), "uri", "unknown field");
        }
    }

    hdr = op == KONG_OP_REMOVE ? kong_xform_header
          : op == KONG_OP_RENAME ? kong_xform_rename_header
          : kong_xform_colon_header;
    item = op == KONG_OP_REMOVE ? NULL : kong_xform_colon;

    kong_conf_strs(ctx, v, "headers", NULL, &ops->headers, hdr);

    if (response) {
        kong_conf_strs(ctx, v, "json", NULL, &ops->json, item);
        kong_conf_strs(ctx, v, "json_types", NULL, &ops->json_types,
                       kong_xform_json_type);

    } else {
        kong_conf_strs(ctx, v, "querystring", NULL, &ops->querystring,
                       item);
        kong_conf_strs(ctx, v, "body", NULL, &ops->body, item);

        if (op == KONG_OP_REPLACE) {
            kong_get_str(ctx, v, "uri", 0, &ops->uri);
        }
    }

    kong_pop(ctx, mark);
}


static void *
kong_conf_transformer(kong_ctx_t *ctx, const kong_node_t *m, int response)
{
    static const char *const  req_fields[] = {
        "http_method", "remove", "rename", "replace", "add", "append", NULL
    };
    static const char *const  resp_fields[] = {
        "remove", "rename", "replace", "add", "append", NULL
    };

    const char         *s;
    kong_xform_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_xform_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    kong_check_fields(ctx, m, response ? resp_fields : req_fields);

    if (!response && kong_get_str(ctx, m, "http_method", 0, &c->http_method)
                     == 1)
    {
        for (s = c->http_method; *s >= 'A' && *s <= 'Z'; s++) { /* void */ }

        if (*s != '\0' || s == c->http_method) {
            kong_ferr(ctx, kong_node_get(m, "http_method"), "http_method",
                      "invalid value: %s", c->http_method);
        }
    }

    kong_xform_op(ctx, m, "remove", KONG_OP_REMOVE, response, &c->remove);
    kong_xform_op(ctx, m, "rename", KONG_OP_RENAME, response, &c->rename);
    kong_xform_op(ctx, m, "replace", KONG_OP_REPLACE, response, &c->replace);
    kong_xform_op(ctx, m, "add", KONG_OP_ADD, response, &c->add);
    kong_xform_op(ctx, m, "append", KONG_OP_APPEND, response, &c->append);

    return c;
}


void *
kong_conf_request_transformer(kong_ctx_t *ctx, const kong_node_t *m)
{
    return kong_conf_transformer(ctx, m, 0);
}


void *
kong_conf_response_transformer(kong_ctx_t *ctx, const kong_node_t *m)
{
    return kong_conf_transformer(ctx, m, 1);
}
