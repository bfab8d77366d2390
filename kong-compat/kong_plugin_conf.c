/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Plugin configurations: the name of a plugin selects its schema; every
 * field of Kong 3.x's schema is checked with Kong's messages and the
 * defaults filled in (kong_plugin.h).  An unknown plugin, an unknown
 * field, or a value this gateway cannot honour is an error naming it.
 * rate-limiting is in kong_plugin_rl.c, the transformers in
 * kong_plugin_xform.c.
 */

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "kong_schema.h"
#include "kong_plugin.h"


const char *const  kong_plugin_names[] = {
    "correlation-id", "cors", "jwt", "key-auth", "basic-auth",
    "ip-restriction", "request-size-limiting", "acl", "rate-limiting",
    "request-transformer", "response-transformer", "prometheus",
    "request-termination", NULL
};


/* Kong's bundled plugins this gateway does not run */
static const char *const  kong_plugins_other[] = {
    "hmac-auth", "oauth2", "ldap-auth", "session", "bot-detection",
    "response-ratelimiting", "proxy-cache", "http-log", "file-log",
    "tcp-log", "udp-log", "syslog", "loggly", "statsd", "datadog",
    "zipkin", "opentelemetry", "aws-lambda", "azure-functions",
    "pre-function", "post-function", "grpc-gateway", "grpc-web",
    "acme", "redirect", "ai-proxy", "ai-prompt-decorator",
    "ai-prompt-guard", "ai-prompt-template", "ai-request-transformer",
    "ai-response-transformer", "standard-webhooks", NULL
};


int
kong_plugin_type(const char *name)
{
    return kong_in_list(name, strlen(name), kong_plugin_names);
}


/* ---- field readers for configs ------------------------------------------ */

static const kong_node_t  kong_empty_map = { KONG_NODE_MAP, 0, 0, NULL, 0,
                                             0, 0, 0, NULL, NULL, 0, 0 };


/*
 * An array of strings; each is checked by check (NULL: any string) which
 * returns an error message or NULL.  dflt (NULL-terminated) when absent.
 * Returns 0, or -1 after an error.
 */
int
kong_conf_strs(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    const char *const *dflt, kong_strs_t *out,
    const char *(*check)(kong_ctx_t *ctx, const kong_node_t *v))
{
    char          field[160];
    size_t        i, n;
    const char   *msg;
    kong_node_t  *a, *v;

    out->items = NULL;
    out->n = 0;

    a = kong_node_get(map, key);

    if (kong_node_is_null(a)) {
        for (n = 0; dflt && dflt[n]; n++) { /* void */ }

        out->items = (const char **) dflt;
        out->n = n;
        return 0;
    }

    if (a->type != KONG_NODE_SEQ) {
        kong_ferr(ctx, a, key, "expected an array");
        return -1;
    }

    out->items = kong_palloc(ctx->pool, (a->n + 1) * sizeof(char *));
    if (out->items == NULL) {
        kong_oom(ctx);
        return -1;
    }

    for (i = 0; i < a->n; i++) {
        v = a->items[i];
        snprintf(field, sizeof(field), "%s[%zu]", key, i);

        if (!kong_is_str(v)) {
            kong_ferr(ctx, v, field, "expected a string");
            return -1;
        }

        if (check) {
            msg = check(ctx, v);
            if (msg) {
                kong_ferr(ctx, v, field, "%s", msg);
                return -1;
            }
        }

        out->items[out->n++] = v->str;
    }

    return 0;
}


/* Kong's header_name typedef */
const char *
kong_check_header_name(kong_ctx_t *ctx, const kong_node_t *v)
{
    static char  msg[200];
    size_t       i;
    char         c;

    (void) ctx;

    for (i = 0; i < v->len; i++) {
        c = v->str[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            snprintf(msg, sizeof(msg), "bad header name '%.100s', allowed "
                     "characters are A-Z, a-z, 0-9, '_', and '-'", v->str);
            return msg;
        }
    }

    return v->len ? NULL : "length must be at least 1";
}


/* A number > 0 (Kong's gt = 0); 1 set, 0 absent, -1 error. */
int
kong_conf_positive(kong_ctx_t *ctx, const kong_node_t *map, const char *key,
    double *out)
{
    double  d;
    int     rc;

    rc = kong_get_num(ctx, map, key, 0, -1e300, 1e300, &d);

    if (rc != 1) {
        return rc;
    }

    if (!(d > 0)) {
        kong_ferr(ctx, kong_node_get(map, key), key,
                  "value must be greater than 0");
        return -1;
    }

    *out = d;

    return 1;
}


/* ---- key-auth, basic-auth ------------------------------------------------ */

static void *
kong_conf_key_auth(kong_ctx_t *ctx, const kong_node_t *m)
{
    static const char *const  fields[] = {
        "key_names", "hide_credentials", "anonymous", "key_in_header",
        "key_in_query", "key_in_body", "run_on_preflight", "realm", NULL
    };
    static const char *const  dflt[] = { "apikey", NULL };

    kong_key_auth_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_key_auth_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    c->key_in_header = 1;
    c->key_in_query = 1;
    c->run_on_preflight = 1;

    kong_check_fields(ctx, m, fields);

    kong_conf_strs(ctx, m, "key_names", dflt, &c->key_names,
                   kong_check_header_name);

    if (c->key_names.n == 0) {
        kong_ferr(ctx, m, "key_names", "length must be at least 1");
    }

    kong_get_bool(ctx, m, "hide_credentials", &c->hide_credentials);
    kong_get_str(ctx, m, "anonymous", 0, &c->anonymous);
    kong_get_bool(ctx, m, "key_in_header", &c->key_in_header);
    kong_get_bool(ctx, m, "key_in_query", &c->key_in_query);
    kong_get_bool(ctx, m, "key_in_body", &c->key_in_body);
    kong_get_bool(ctx, m, "run_on_preflight", &c->run_on_preflight);
    kong_get_str(ctx, m, "realm", 0, &c->realm);

    return c;
}


static void *
kong_conf_basic_auth(kong_ctx_t *ctx, const kong_node_t *m)
{
    static const char *const  fields[] = {
        "anonymous", "hide_credentials", "realm", NULL
    };

    kong_basic_auth_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_basic_auth_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    c->realm = "service";

    kong_check_fields(ctx, m, fields);
    kong_get_str(ctx, m, "anonymous", 0, &c->anonymous);
    kong_get_bool(ctx, m, "hide_credentials", &c->hide_credentials);
    kong_get_str(ctx, m, "realm", 0, &c->realm);

    return c;
}


/* ---- acl, ip-restriction ------------------------------------------------- */

static void *
kong_conf_acl(kong_ctx_t *ctx, const kong_node_t *m)
{
    static const char *const  fields[] = {
        "allow", "deny", "hide_groups_header",
        "always_use_authenticated_groups", NULL
    };

    kong_acl_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_acl_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    kong_check_fields(ctx, m, fields);
    kong_conf_strs(ctx, m, "allow", NULL, &c->allow, NULL);
    kong_conf_strs(ctx, m, "deny", NULL, &c->deny, NULL);
    kong_get_bool(ctx, m, "hide_groups_header", &c->hide_groups_header);
    kong_get_bool(ctx, m, "always_use_authenticated_groups",
                  &c->always_use_authenticated_groups);

    if (c->allow.n && c->deny.n) {
        kong_err(ctx, m, "only one of these fields must be non-empty: "
                 "'config.allow', 'config.deny'");

    } else if (c->allow.n == 0 && c->deny.n == 0) {
        kong_err(ctx, m, "at least one of these fields must be non-empty: "
                 "'config.allow', 'config.deny'");
    }

    return c;
}


/* "10.0.0.0/8", "::1", "2001:db8::/32" into c; -1 if not one */
static int
kong_cidr_parse(const char *s, kong_cidr_t *c)
{
    char           buf[64], *slash, *end;
    long           bits;
    size_t         i, max;

    if (strlen(s) >= sizeof(buf)) {
        return -1;
    }

    strcpy(buf, s);
    memset(c, 0, sizeof(kong_cidr_t));

    slash = strchr(buf, '/');
    if (slash) {
        *slash++ = '\0';
    }

    if (inet_pton(AF_INET, buf, c->addr) == 1) {
        max = 32;

    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        c->v6 = 1;
        max = 128;

    } else {
        return -1;
    }

    bits = (long) max;

    if (slash) {
        if (*slash < '0' || *slash > '9') {
            return -1;
        }

        bits = strtol(slash, &end, 10);
        if (*end != '\0' || bits < 0 || bits > (long) max) {
            return -1;
        }
    }

    for (i = 0; i < max / 8; i++) {
        if (bits >= 8) {
            c->mask[i] = 0xff;
            bits -= 8;

        } else {
            c->mask[i] = (uint8_t) (0xff00 >> bits);
            bits = 0;
        }

        c->addr[i] &= c->mask[i];
    }

    return 0;
}


int
kong_cidr_match(const kong_cidr_t *c, const uint8_t *addr, int v6)
{
    size_t  i, n;

    if (c->v6 != v6) {
        return 0;
    }

    n = v6 ? 16 : 4;

    for (i = 0; i < n; i++) {
        if ((addr[i] & c->mask[i]) != c->addr[i]) {
            return 0;
        }
    }

    return 1;
}


static int
kong_conf_cidrs(kong_ctx_t *ctx, const kong_node_t *m, const char *key,
    kong_cidr_t **out, size_t *n)
{
    char         field[160];
    size_t       i;
    kong_strs_t  s;

    *out = NULL;
    *n = 0;

    if (kong_conf_strs(ctx, m, key, NULL, &s, NULL) != 0 || s.n == 0) {
        return 0;
    }

    *out = kong_palloc(ctx->pool, s.n * sizeof(kong_cidr_t));
    if (*out == NULL) {
        kong_oom(ctx);
        return -1;
    }

    for (i = 0; i < s.n; i++) {
        if (kong_cidr_parse(s.items[i], &(*out)[i]) != 0) {
            snprintf(field, sizeof(field), "%s[%zu]", key, i);
            kong_ferr(ctx, kong_node_get(m, key)->items[i], field,
                      "invalid ip or cidr range: '%s'", s.items[i]);
            return -1;
        }
    }

    *n = s.n;

    return 0;
}


static void *
kong_conf_ip_restriction(kong_ctx_t *ctx, const kong_node_t *m)
{
    static const char *const  fields[] = {
        "allow", "deny", "status", "message", NULL
    };

    kong_ip_restriction_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_ip_restriction_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    kong_check_fields(ctx, m, fields);
    kong_conf_cidrs(ctx, m, "allow", &c->allow, &c->nallow);
    kong_conf_cidrs(ctx, m, "deny", &c->deny, &c->ndeny);
    kong_get_uint(ctx, m, "status", 100, 599, &c->status);
    kong_get_str(ctx, m, "message", 0, &c->message);

    if (c->nallow == 0 && c->ndeny == 0
        && kong_node_is_null(kong_node_get(m, "allow"))
        && kong_node_is_null(kong_node_get(m, "deny")))
    {
        kong_err(ctx, m, "at least one of these fields must be non-empty: "
                 "'config.allow', 'config.deny'");
    }

    return c;
}


/* ---- request-termination, request-size-limiting ------------------------- */

static void *
kong_conf_request_termination(kong_ctx_t *ctx, const kong_node_t *m)
{
    static const char *const  fields[] = {
        "status_code", "message", "body", "content_type", "echo", "trigger",
        NULL
    };

    kong_request_termination_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_request_termination_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    c->status_code = 503;

    kong_check_fields(ctx, m, fields);
    kong_get_uint(ctx, m, "status_code", 100, 599, &c->status_code);
    kong_get_str(ctx, m, "message", 0, &c->message);
    kong_get_str(ctx, m, "body", 0, &c->body);
    kong_get_str(ctx, m, "content_type", 0, &c->content_type);
    kong_get_bool(ctx, m, "echo", &c->echo);
    kong_get_str(ctx, m, "trigger", 0, &c->trigger);

    if (c->message && (c->content_type || c->body)) {
        kong_err(ctx, m, "message cannot be used with content_type or body");

    } else if (c->content_type && c->body == NULL) {
        kong_err(ctx, m, "content_type requires a body");

    } else if (c->echo && (c->content_type || c->body)) {
        /* a message goes into the echoed body (kong_echo.h) */
        kong_err(ctx, m, "echo cannot be used with content_type and body");
    }

    return c;
}


static void *
kong_conf_request_size(kong_ctx_t *ctx, const kong_node_t *m)
{
    static const char *const  fields[] = {
        "allowed_payload_size", "size_unit", "require_content_length", NULL
    };
    static const char *const  units[] = {
        "megabytes", "kilobytes", "bytes", NULL
    };
    static const uint64_t  factor[] = { 1048576, 1024, 1 };

    double                     d;
    kong_request_size_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_request_size_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    c->allowed_payload_size = 128;

    kong_check_fields(ctx, m, fields);

    if (kong_get_num(ctx, m, "allowed_payload_size", 1, 0, 1e15, &d) == 1) {
        c->allowed_payload_size = (uint64_t) d;
    }

    kong_get_enum(ctx, m, "size_unit", units, &c->size_unit);
    kong_get_bool(ctx, m, "require_content_length",
                  &c->require_content_length);

    c->limit = c->allowed_payload_size * factor[c->size_unit];

    return c;
}


/* ---- cors, jwt, correlation-id, prometheus (engines: kong_cors.c, ...) --- */

static const char *
kong_check_origin(kong_ctx_t *ctx, const kong_node_t *v)
{
    static char  msg[200];
    int          err;
    PCRE2_SIZE   off;
    pcre2_code  *re;

    (void) ctx;

    if (strcmp(v->str, "*") == 0) {
        return NULL;
    }

    re = pcre2_compile((PCRE2_SPTR) v->str, v->len, 0, &err, &off, NULL);

    if (re == NULL) {
        snprintf(msg, sizeof(msg), "'%.100s' is not a valid regex", v->str);
        return msg;
    }

    pcre2_code_free(re);

    return NULL;
}


static const char *
kong_check_cors_method(kong_ctx_t *ctx, const kong_node_t *v)
{
    static const char *const  methods[] = {
        "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE",
        "CONNECT", NULL
    };

    (void) ctx;

    return kong_in_list(v->str, v->len, methods) < 0
           ? "expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, "
             "OPTIONS, TRACE, CONNECT"
           : NULL;
}


static void *
kong_conf_cors(kong_ctx_t *ctx, const kong_node_t *m)
{
    static const char *const  fields[] = {
        "origins", "headers", "exposed_headers", "methods", "max_age",
        "credentials", "private_network", "preflight_continue",
        "allow_origin_absent", NULL
    };
    static const char *const  methods[] = {
        "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE",
        "CONNECT", NULL
    };

    kong_cors_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_cors_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    c->max_age = -1;
    c->allow_origin_absent = 1;

    kong_check_fields(ctx, m, fields);
    kong_conf_strs(ctx, m, "origins", NULL, &c->origins, kong_check_origin);
    kong_conf_strs(ctx, m, "headers", NULL, &c->headers, NULL);
    kong_conf_strs(ctx, m, "exposed_headers", NULL, &c->exposed_headers,
                   NULL);
    kong_conf_strs(ctx, m, "methods", methods, &c->methods,
                   kong_check_cors_method);
    kong_get_num(ctx, m, "max_age", 0, -1e300, 1e300, &c->max_age);
    kong_get_bool(ctx, m, "credentials", &c->credentials);
    kong_get_bool(ctx, m, "private_network", &c->private_network);
    kong_get_bool(ctx, m, "preflight_continue", &c->preflight_continue);
    kong_get_bool(ctx, m, "allow_origin_absent", &c->allow_origin_absent);

    return c;
}


static const char *
kong_check_claim(kong_ctx_t *ctx, const kong_node_t *v)
{
    (void) ctx;

    return (strcmp(v->str, "exp") == 0 || strcmp(v->str, "nbf") == 0)
           ? NULL : "expected one of: exp, nbf";
}


static void *
kong_conf_jwt(kong_ctx_t *ctx, const kong_node_t *m)
{
    static const char *const  fields[] = {
        "uri_param_names", "cookie_names", "header_names", "key_claim_name",
        "secret_is_base64", "claims_to_verify", "maximum_expiration",
        "anonymous", "run_on_preflight", "realm", NULL
    };
    static const char *const  uri_dflt[] = { "jwt", NULL };
    static const char *const  header_dflt[] = { "authorization", NULL };

    size_t                   i;
    kong_strs_t              claims;
    kong_jwt_plugin_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_jwt_plugin_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    c->key_claim_name = "iss";
    c->run_on_preflight = 1;

    kong_check_fields(ctx, m, fields);
    kong_conf_strs(ctx, m, "uri_param_names", uri_dflt, &c->uri_param_names,
                   NULL);
    kong_conf_strs(ctx, m, "cookie_names", NULL, &c->cookie_names, NULL);
    kong_conf_strs(ctx, m, "header_names", header_dflt, &c->header_names,
                   NULL);
    kong_get_str(ctx, m, "key_claim_name", 0, &c->key_claim_name);
    kong_get_bool(ctx, m, "secret_is_base64", &c->secret_is_base64);

    if (kong_conf_strs(ctx, m, "claims_to_verify", NULL, &claims,
                       kong_check_claim)
        == 0)
    {
        for (i = 0; i < claims.n; i++) {
            if (strcmp(claims.items[i], "exp") == 0) {
                c->verify_exp = 1;

            } else {
                c->verify_nbf = 1;
            }
        }
    }

    kong_get_num(ctx, m, "maximum_expiration", 0, 0, 31536000,
                 &c->maximum_expiration);
    kong_get_str(ctx, m, "anonymous", 0, &c->anonymous);
    kong_get_bool(ctx, m, "run_on_preflight", &c->run_on_preflight);
    kong_get_str(ctx, m, "realm", 0, &c->realm);

    if (c->maximum_expiration > 0 && !c->verify_exp) {
        kong_ferr(ctx, m, "claims_to_verify",
                  "expected to contain: exp");
    }

    return c;
}


static void *
kong_conf_correlation_id(kong_ctx_t *ctx, const kong_node_t *m)
{
    static const char *const  fields[] = {
        "header_name", "generator", "echo_downstream", NULL
    };
    static const char *const  generators[] = {
        "uuid", "uuid#counter", "tracker", NULL
    };

    kong_correlation_id_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_correlation_id_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    c->header_name = "Kong-Request-ID";
    c->generator = KONG_CORRID_UUID_COUNTER;

    kong_check_fields(ctx, m, fields);
    kong_get_str(ctx, m, "header_name", 0, &c->header_name);
    kong_get_enum(ctx, m, "generator", generators, &c->generator);
    kong_get_bool(ctx, m, "echo_downstream", &c->echo_downstream);

    return c;
}


static void *
kong_conf_prometheus(kong_ctx_t *ctx, const kong_node_t *m)
{
    static const char *const  fields[] = {
        "per_consumer", "status_code_metrics", "latency_metrics",
        "bandwidth_metrics", "upstream_health_metrics", "ai_metrics",
        "wasm_metrics", NULL
    };

    kong_prometheus_conf_t  *c;

    c = kong_palloc(ctx->pool, sizeof(kong_prometheus_conf_t));
    if (c == NULL) {
        kong_oom(ctx);
        return NULL;
    }

    kong_check_fields(ctx, m, fields);
    kong_get_bool(ctx, m, "per_consumer", &c->per_consumer);
    kong_get_bool(ctx, m, "status_code_metrics", &c->status_code_metrics);
    kong_get_bool(ctx, m, "latency_metrics", &c->latency_metrics);
    kong_get_bool(ctx, m, "bandwidth_metrics", &c->bandwidth_metrics);
    kong_get_bool(ctx, m, "upstream_health_metrics",
                  &c->upstream_health_metrics);
    kong_get_bool(ctx, m, "ai_metrics", &c->ai_metrics);
    kong_get_bool(ctx, m, "wasm_metrics", &c->wasm_metrics);

    return c;
}


/* ---- the plugin's name and config ---------------------------------------- */

typedef void *(*kong_conf_pt)(kong_ctx_t *ctx, const kong_node_t *m);

void *kong_conf_rate_limiting(kong_ctx_t *ctx, const kong_node_t *m);
void *kong_conf_request_transformer(kong_ctx_t *ctx, const kong_node_t *m);
void *kong_conf_response_transformer(kong_ctx_t *ctx, const kong_node_t *m);


/*
 * Checks p->config against the schema of p->name and sets p->type and
 * p->conf; ctx->path is the plugin's.  Also Kong's no_consumer rule.
 */
void
kong_plugin_config(kong_ctx_t *ctx, kong_plugin_t *p, const kong_node_t *map)
{
    static const kong_conf_pt  schemas[KONG_PLUGIN_N] = {
        kong_conf_correlation_id, kong_conf_cors, kong_conf_jwt,
        kong_conf_key_auth, kong_conf_basic_auth, kong_conf_ip_restriction,
        kong_conf_request_size, kong_conf_acl, kong_conf_rate_limiting,
        kong_conf_request_transformer, kong_conf_response_transformer,
        kong_conf_prometheus, kong_conf_request_termination
    };
    /* plugins whose schema has consumer = typedefs.no_consumer */
    static const unsigned  no_consumer = (1u << KONG_PLUGIN_CORS)
                                         | (1u << KONG_PLUGIN_JWT)
                                         | (1u << KONG_PLUGIN_KEY_AUTH)
                                         | (1u << KONG_PLUGIN_BASIC_AUTH)
                                         | (1u << KONG_PLUGIN_ACL);

    int           type;
    size_t        mark;
    kong_node_t  *v, empty;

    p->type = -1;

    if (p->name == NULL) {
        return;
    }

    type = kong_plugin_type(p->name);
    v = kong_node_get(map, "name");

    if (type < 0) {
        if (kong_in_list(p->name, strlen(p->name), kong_plugins_other) >= 0)
        {
            kong_ferr(ctx, v, "name", "plugin '%s' is not supported by this "
                      "gateway", p->name);

        } else {
            kong_ferr(ctx, v, "name", "plugin '%s' not enabled; add it to "
                      "the 'plugins' configuration property", p->name);
        }

        return;
    }

    p->type = type;

    if (p->consumer || !kong_node_is_null(kong_node_get(map, "consumer"))) {
        if (no_consumer & (1u << type)) {
            kong_ferr(ctx, kong_node_get(map, "consumer")
                           ? kong_node_get(map, "consumer") : map,
                      "consumer", "value must be null");
        }
    }

    /* an absent config: every default, errors placed at the plugin */
    empty = kong_empty_map;
    empty.line = map->line;
    empty.col = map->col;

    mark = kong_push(ctx, "config");
    p->conf = schemas[type](ctx, p->config ? p->config : &empty);
    kong_pop(ctx, mark);
}
