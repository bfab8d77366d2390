/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The rate-limiting plugin's schema (Kong 3.x kong/plugins/rate-limiting/
 * schema.lua): the six windows, limit_by, the local and redis policies
 * (with the deprecated flat redis_* shorthands), and Kong's checks.
 */

#include <stdio.h>
#include <string.h>

#include "kong_schema.h"
#include "kong_plugin.h"


int kong_conf_positive(kong_ctx_t *ctx, const kong_node_t *map,
    const char *key, double *out);
void *kong_conf_rate_limiting(kong_ctx_t *ctx, const kong_node_t *m);


static const char *const  kong_periods[] = {
    "second", "minute", "hour", "day", "month", "year", NULL
};


static void
kong_conf_redis(kong_ctx_t *ctx, const kong_node_t *m, kong_redis_conf_t *r)
{
    static const char *const  fields[] = {
        "host", "port", "timeout", "username", "password", "database",
        "ssl", "ssl_verify", "server_name", "connect_timeout",
        "send_timeout", "read_timeout", "keepalive_pool_size",
        "keepalive_backlog", "sentinel_master", "sentinel_role",
        "sentinel_nodes", "sentinel_username", "sentinel_password",
        "cluster_nodes", "cluster_max_redirections",
        "connection_is_proxied", NULL
    };
    static const char *const  unsupported[] = {
        "sentinel_master", "sentinel_role", "sentinel_nodes",
        "sentinel_username", "sentinel_password", "cluster_nodes",
        "cluster_max_redirections", NULL
    };

    size_t        i, mark;
    kong_node_t  *v;

    mark = kong_push(ctx, "redis");

    kong_check_fields(ctx, m, fields);
    kong_get_str(ctx, m, "host", 0, &r->host);
    kong_get_uint(ctx, m, "port", 0, 65535, &r->port);
    kong_get_uint(ctx, m, "timeout", 0, 2147483646, &r->timeout);
    kong_get_str(ctx, m, "username", 0, &r->username);
    kong_get_str(ctx, m, "password", 0, &r->password);
    kong_get_uint(ctx, m, "database", 0, 2147483647, &r->database);
    kong_get_bool(ctx, m, "ssl", &r->ssl);
    kong_get_bool(ctx, m, "ssl_verify", &r->ssl_verify);
    kong_get_str(ctx, m, "server_name", 0, &r->server_name);

    for (i = 0; unsupported[i]; i++) {
        v = kong_node_get(m, unsupported[i]);

        if (!kong_node_is_null(v)) {
            kong_ferr(ctx, v, unsupported[i], "not supported by this "
                      "gateway: Redis Sentinel and Cluster are not "
                      "implemented");
        }
    }

    kong_pop(ctx, mark);
}


/* the 3.x shorthands redis_host, ... map to redis.host, ... */
static void
kong_conf_redis_flat(kong_ctx_t *ctx, const kong_node_t *m,
    kong_redis_conf_t *r)
{
    kong_get_str(ctx, m, "redis_host", 0, &r->host);
    kong_get_uint(ctx, m, "redis_port", 0, 65535, &r->port);
    kong_get_uint(ctx, m, "redis_timeout", 0, 2147483646, &r->timeout);
    kong_get_str(ctx, m, "redis_username", 0, &r->username);
    kong_get_str(ctx, m, "redis_password", 0, &r->password);
    kong_get_uint(ctx, m, "redis_database", 0, 2147483647, &r->database);
    kong_get_bool(ctx, m, "redis_ssl", &r->ssl);
    kong_get_bool(ctx, m, "redis_ssl_verify", &r->ssl_verify);
    kong_get_str(ctx, m, "redis_server_name", 0, &r->server_name);
}


void *
kong_conf_rate_limiting(kong_ctx_t *ctx, const kong_node_t *m)
{
    static const char *const  fields[] = {
        "second", "minute", "hour", "day", "month", "year", "limit_by",
        "header_name", "path", "policy", "fault_tolerant", "redis",
        "hide_client_headers", "error_code", "error_message", "sync_rate",
        "redis_host", "redis_port", "redis_timeout", "redis_username",
        "redis_password", "redis_database", "redis_ssl", "redis_ssl_verify",
        "redis_server_name", NULL
    };
    static const char *const  limit_by[] = {
        "consumer", "credential", "ip", "service", "header", "path", NULL
    };
    static const char *const  policies[] = { "local", "redis", NULL };

    int                         set, policy;
    size_t                      i, j;
    double                      code;
    kong_node_t                *v;
    kong_rate_limiting_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_rate_limiting_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    c->fault_tolerant = 1;
    c->error_code = 429;
    c->error_message = "API rate limit exceeded";
    c->sync_rate = -1;
    c->redis.port = 6379;
    c->redis.timeout = 2000;

    kong_check_fields(ctx, m, fields);

    set = 0;

    for (i = 0; kong_periods[i]; i++) {
        if (kong_conf_positive(ctx, m, kong_periods[i], &c->limits[i]) == 1)
        {
            set = 1;
        }
    }

    if (!set) {
        kong_err(ctx, m, "at least one of these fields must be non-empty: "
                 "'config.second', 'config.minute', 'config.hour', "
                 "'config.day', 'config.month', 'config.year'");
    }

    /* a longer window may not have a lower limit */
    for (i = 0; kong_periods[i]; i++) {
        if (c->limits[i] == 0) {
            continue;
        }

        for (j = i + 1; kong_periods[j]; j++) {
            if (c->limits[j] != 0 && c->limits[j] < c->limits[i]) {
                kong_err(ctx, m, "The limit for %s(%.1f) cannot be lower "
                         "than the limit for %s(%.1f)", kong_periods[j],
                         c->limits[j], kong_periods[i], c->limits[i]);
            }
        }
    }

    kong_get_enum(ctx, m, "limit_by", limit_by, &c->limit_by);

    if (kong_get_str(ctx, m, "header_name", 0, &c->header_name) == 1) {
        if (c->header_name[0] == '\0') {
            kong_ferr(ctx, kong_node_get(m, "header_name"), "header_name",
                      "length must be at least 1");
        }
    }

    if (kong_get_str(ctx, m, "path", 0, &c->path) == 1) {
        kong_check_path(ctx, kong_node_get(m, "path"), "path", c->path);
    }

    if (c->limit_by == KONG_LIMIT_BY_HEADER && c->header_name == NULL) {
        kong_ferr(ctx, m, "header_name", "required field missing");
    }

    if (c->limit_by == KONG_LIMIT_BY_PATH && c->path == NULL) {
        kong_ferr(ctx, m, "path", "required field missing");
    }

    policy = 0;
    v = kong_node_get(m, "policy");

    if (v != NULL && kong_is_str(v) && strcmp(v->str, "cluster") == 0) {
        kong_ferr(ctx, v, "policy", "expected one of: local, redis");

    } else {
        kong_get_enum(ctx, m, "policy", policies, &policy);
    }

    c->policy = policy;

    kong_get_bool(ctx, m, "fault_tolerant", &c->fault_tolerant);
    kong_get_bool(ctx, m, "hide_client_headers", &c->hide_client_headers);

    if (kong_conf_positive(ctx, m, "error_code", &code) == 1) {
        if (code < 100 || code > 599 || code != (double) (unsigned) code) {
            kong_ferr(ctx, kong_node_get(m, "error_code"), "error_code",
                      "not supported by this gateway: an HTTP status "
                      "between 100 and 599 is required");

        } else {
            c->error_code = (unsigned) code;
        }
    }

    kong_get_str(ctx, m, "error_message", 0, &c->error_message);

    kong_conf_redis_flat(ctx, m, &c->redis);

    v = kong_node_get(m, "redis");

    if (!kong_node_is_null(v)) {
        if (v->type != KONG_NODE_MAP) {
            kong_ferr(ctx, v, "redis", "expected a record");

        } else {
            kong_conf_redis(ctx, v, &c->redis);
        }
    }

    /* Kong 3.4+: -1 (synchronous) or at least 0.02 s, policy redis only */
    if (kong_get_num(ctx, m, "sync_rate", 0, -1e15, 1e15, &c->sync_rate) == 1
        && c->sync_rate != -1)
    {
        if (c->policy != KONG_POLICY_REDIS) {
            kong_ferr(ctx, kong_node_get(m, "sync_rate"), "sync_rate",
                      "sync_rate can only be used with the redis policy");

        } else if (c->sync_rate < 0.02) {
            kong_ferr(ctx, kong_node_get(m, "sync_rate"), "sync_rate",
                      "sync_rate must be greater than 0.02, or -1 to "
                      "disable");
        }
    }

    if (c->policy == KONG_POLICY_REDIS && c->redis.host == NULL) {
        kong_ferr(ctx, v ? v : m, "redis.host", "required field missing");
    }

    return c;
}
