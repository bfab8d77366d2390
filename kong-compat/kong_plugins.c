/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The plugin and consumer schemas of a Kong declarative configuration:
 * plugins (any scope, nested or top level), consumers and their
 * credentials, kept parsed for the plugin layer.  docs/kong.md has the
 * matrix.
 */

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kong_schema.h"


/* ---- plugins ------------------------------------------------------------- */

void
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
            ctx->keep = 1;      /* the node outlives the load */
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

    kong_plugin_config(ctx, p, map);

    /* uniqueness of (name, scope) is checked once references resolve */
}


void
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


/* ---- consumers and credentials ------------------------------------------- */

void
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
    cr->consumer = c;
    cr->pos.line = map->line;
    cr->pos.col = map->col;

    kong_foreign(ctx, map, "consumer", c != NULL, 1, KONG_REF_CRED_CONSUMER,
                 cr);

    kong_credential_fields(ctx, map, cr);
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


void
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
