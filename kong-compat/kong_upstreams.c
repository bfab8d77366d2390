/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The upstream and target schemas of a Kong declarative configuration:
 * upstreams with their health checks, and targets; Kong's fields,
 * defaults, entity checks and messages.  docs/kong.md has the matrix.
 */

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kong_schema.h"


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
            kong_check_path(ctx, v, "http_path", ac->http_path);
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
                ctx->keep = 1;  /* the node outlives the load */
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


void
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


void
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


int
kong_check_header(const kong_node_t *headers, size_t i, size_t j,
    const char **name, const char **value)
{
    const kong_node_t  *v;

    if (headers == NULL || headers->type != KONG_NODE_MAP || i >= headers->n)
    {
        return -1;
    }

    *name = headers->keys[i]->str;
    v = headers->items[i];

    if (v->type == KONG_NODE_SEQ) {
        if (j >= v->n) {
            return 0;
        }

        v = v->items[j];

    } else if (j > 0) {
        return 0;
    }

    if (v->type != KONG_NODE_SCALAR || kong_node_is_null(v)) {
        return 0;
    }

    *value = v->str;

    return 1;
}
