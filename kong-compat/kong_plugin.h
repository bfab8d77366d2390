/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The configurations of the plugins this gateway runs, as validated by the
 * loader with Kong 3.x's defaults filled in (kong_plugin_conf.c,
 * kong_plugin_rl.c).  A kong_plugin_t's conf points to the structure of
 * its type: KONG_PLUGIN_KEY_AUTH -> kong_key_auth_conf_t, and so on.
 *
 * cors, jwt, request-transformer, response-transformer and correlation-id
 * are validated here (every field, its type and Kong's checks); their
 * engines (kong_cors.c, kong_jwt.c, kong_xform.c, kong_corrid.c) read the
 * typed fields below.
 */

#ifndef KONG_PLUGIN_H
#define KONG_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "kong.h"


typedef struct {
    const char            **items;
    size_t                  n;
} kong_strs_t;


typedef struct {
    kong_strs_t             key_names;          /* ["apikey"] */
    int                     hide_credentials;   /* false */
    const char             *anonymous;          /* NULL */
    int                     key_in_header;      /* true */
    int                     key_in_query;       /* true */
    int                     key_in_body;        /* false */
    int                     run_on_preflight;   /* true */
    const char             *realm;              /* NULL: "Key" alone */
} kong_key_auth_conf_t;


typedef struct {
    const char             *anonymous;          /* NULL */
    int                     hide_credentials;   /* false */
    const char             *realm;              /* "service" */
} kong_basic_auth_conf_t;


typedef struct {
    kong_strs_t             allow;
    kong_strs_t             deny;
    int                     hide_groups_header; /* false */
    int                     always_use_authenticated_groups;   /* false */
} kong_acl_conf_t;


typedef struct {
    uint8_t                 addr[16];           /* network byte order */
    uint8_t                 mask[16];
    int                     v6;
} kong_cidr_t;


typedef struct {
    kong_cidr_t            *allow;
    size_t                  nallow;
    kong_cidr_t            *deny;
    size_t                  ndeny;
    unsigned                status;             /* 0: 403 */
    const char             *message;            /* NULL: Kong's */
} kong_ip_restriction_conf_t;


typedef struct {
    unsigned                status_code;        /* 503 */
    const char             *message;            /* NULL: by status */
    const char             *body;
    const char             *content_type;
    int                     echo;               /* false */
    const char             *trigger;
} kong_request_termination_conf_t;


#define KONG_SIZE_MEGABYTES  0
#define KONG_SIZE_KILOBYTES  1
#define KONG_SIZE_BYTES      2

typedef struct {
    uint64_t                allowed_payload_size;   /* 128 */
    int                     size_unit;              /* megabytes */
    uint64_t                limit;                  /* in bytes */
    int                     require_content_length; /* false */
} kong_request_size_conf_t;


/* rate-limiting limit_by, policy */
#define KONG_LIMIT_BY_CONSUMER    0
#define KONG_LIMIT_BY_CREDENTIAL  1
#define KONG_LIMIT_BY_IP          2
#define KONG_LIMIT_BY_SERVICE     3
#define KONG_LIMIT_BY_HEADER      4
#define KONG_LIMIT_BY_PATH        5

#define KONG_POLICY_LOCAL         0
#define KONG_POLICY_REDIS         1

typedef struct {
    const char             *host;
    unsigned                port;               /* 6379 */
    unsigned                timeout;            /* 2000 ms */
    const char             *username;
    const char             *password;
    unsigned                database;           /* 0 */
    int                     ssl;                /* false */
    int                     ssl_verify;         /* false */
    const char             *server_name;
} kong_redis_conf_t;

typedef struct {
    /* second, minute, hour, day, month, year (0: not set) */
    double                  limits[6];
    int                     limit_by;           /* consumer */
    const char             *header_name;
    const char             *path;
    int                     policy;             /* local */
    int                     fault_tolerant;     /* true */
    kong_redis_conf_t       redis;
    int                     hide_client_headers;    /* false */
    unsigned                error_code;         /* 429 */
    const char             *error_message;      /* "API rate limit
                                                   exceeded" */
    double                  sync_rate;          /* -1 */
} kong_rate_limiting_conf_t;


typedef struct {
    kong_strs_t             origins;
    kong_strs_t             headers;
    kong_strs_t             exposed_headers;
    kong_strs_t             methods;            /* the nine of Kong */
    double                  max_age;            /* -1: not set */
    int                     credentials;        /* false */
    int                     private_network;    /* false */
    int                     preflight_continue; /* false */
    int                     allow_origin_absent;    /* true */
} kong_cors_conf_t;


typedef struct {
    kong_strs_t             uri_param_names;    /* ["jwt"] */
    kong_strs_t             cookie_names;       /* [] */
    kong_strs_t             header_names;       /* ["authorization"] */
    const char             *key_claim_name;     /* "iss" */
    int                     secret_is_base64;   /* false */
    int                     verify_exp;         /* claims_to_verify */
    int                     verify_nbf;
    double                  maximum_expiration; /* 0 */
    const char             *anonymous;
    int                     run_on_preflight;   /* true */
    const char             *realm;
} kong_jwt_plugin_conf_t;    /* the engine's is kong_jwt.h's */


/* request-transformer, response-transformer: "name:value" lists */
typedef struct {
    kong_strs_t             headers;
    kong_strs_t             querystring;        /* request only */
    kong_strs_t             body;               /* request only */
    kong_strs_t             json;               /* response only */
    kong_strs_t             json_types;         /* response only */
    const char             *uri;                /* request replace only */
} kong_xform_ops_t;

typedef struct {
    const char             *http_method;        /* request only */
    kong_xform_ops_t        remove;
    kong_xform_ops_t        rename;
    kong_xform_ops_t        replace;
    kong_xform_ops_t        add;
    kong_xform_ops_t        append;
} kong_xform_conf_t;


#define KONG_CORRID_UUID          0
#define KONG_CORRID_UUID_COUNTER  1
#define KONG_CORRID_TRACKER       2

typedef struct {
    const char             *header_name;        /* "Kong-Request-ID" */
    int                     generator;          /* uuid#counter */
    int                     echo_downstream;    /* false */
} kong_correlation_id_conf_t;


typedef struct {
    int                     per_consumer;
    int                     status_code_metrics;
    int                     latency_metrics;
    int                     bandwidth_metrics;
    int                     upstream_health_metrics;
    int                     ai_metrics;
    int                     wasm_metrics;
} kong_prometheus_conf_t;


/* Kong's names, by KONG_PLUGIN_* */
extern const char *const  kong_plugin_names[];

/* Whether the address addr (4 or 16 bytes) is in the range. */
int kong_cidr_match(const kong_cidr_t *c, const uint8_t *addr, int v6);

#endif /* KONG_PLUGIN_H */
