/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Kong 3.x DB-less declarative configuration (kong.yml): the loader, the
 * validator and the router, in plain C with no nginx dependency.  The nginx
 * glue (farm_kong) binds this API to nginx's phases; see docs/kong.md.
 *
 *   kong_config_t  *cfg;
 *   kong_errors_t   errs;
 *
 *   cfg = kong_load_file("kong.yml", 0, &errs);
 *   if (cfg == NULL) { kong_errors_print(&errs, stderr); ... }
 *   kong_errors_free(&errs);
 *   ...
 *   kong_match(cfg, &request, &match, buf, sizeof(buf));
 *   ...
 *   kong_config_free(cfg);
 *
 * A configuration is immutable once loaded; everything it points to lives
 * until kong_config_free.  kong_match keeps per-configuration scratch (the
 * PCRE2 match data), so one configuration must not be matched from two
 * threads at once (an nginx worker is one thread).
 */

#ifndef KONG_H
#define KONG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>


/* protocols, as a bit set (routes) or a single value (services) */
#define KONG_PROTO_HTTP             0x01
#define KONG_PROTO_HTTPS            0x02
#define KONG_PROTO_GRPC             0x04
#define KONG_PROTO_GRPCS            0x08
#define KONG_PROTO_TCP              0x10
#define KONG_PROTO_TLS              0x20
#define KONG_PROTO_TLS_PASSTHROUGH  0x40
#define KONG_PROTO_UDP              0x80

/* upstreams.algorithm */
#define KONG_ALG_ROUND_ROBIN        0
#define KONG_ALG_CONSISTENT_HASHING 1
#define KONG_ALG_LEAST_CONNECTIONS  2
#define KONG_ALG_LATENCY            3

/* upstreams.hash_on, hash_fallback */
#define KONG_HASH_NONE              0
#define KONG_HASH_CONSUMER          1
#define KONG_HASH_IP                2
#define KONG_HASH_HEADER            3
#define KONG_HASH_COOKIE            4
#define KONG_HASH_PATH              5
#define KONG_HASH_QUERY_ARG         6
#define KONG_HASH_URI_CAPTURE       7

/* route hosts */
#define KONG_HOST_PLAIN             0
#define KONG_HOST_WILD_LEFT         1   /* "*.example.com" */
#define KONG_HOST_WILD_RIGHT        2   /* "example.*" */

/*
 * The plugins this gateway knows, numbered in Kong's execution order
 * (handler PRIORITY, highest first): running them by increasing number is
 * running them as Kong does.  kong_plugin.h has their configurations.
 */
#define KONG_PLUGIN_CORRELATION_ID         0    /* 100001 */
#define KONG_PLUGIN_CORS                   1    /* 2000 */
#define KONG_PLUGIN_JWT                    2    /* 1450 */
#define KONG_PLUGIN_KEY_AUTH               3    /* 1250 */
#define KONG_PLUGIN_BASIC_AUTH             4    /* 1100 */
#define KONG_PLUGIN_IP_RESTRICTION         5    /* 990 */
#define KONG_PLUGIN_REQUEST_SIZE_LIMITING  6    /* 951 */
#define KONG_PLUGIN_ACL                    7    /* 950 */
#define KONG_PLUGIN_RATE_LIMITING          8    /* 910 */
#define KONG_PLUGIN_REQUEST_TRANSFORMER    9    /* 801 */
#define KONG_PLUGIN_RESPONSE_TRANSFORMER   10   /* 800 */
#define KONG_PLUGIN_PROMETHEUS             11   /* 13 */
#define KONG_PLUGIN_REQUEST_TERMINATION    12   /* 2 */
#define KONG_PLUGIN_N                      13

/* kong_load flags */
#define KONG_LOAD_SKIP_INVALID      0x01   /* drop invalid entities, keep
                                              the rest; errors still listed */


typedef struct kong_node_s      kong_node_t;    /* a YAML node (kong_yaml.h) */
typedef struct kong_service_s   kong_service_t;
typedef struct kong_route_s     kong_route_t;
typedef struct kong_upstream_s  kong_upstream_t;
typedef struct kong_consumer_s  kong_consumer_t;
typedef struct kong_router_s    kong_router_t;


/* Where an entity or field came from in the file (1-based). */
typedef struct {
    unsigned        line;
    unsigned        col;
} kong_pos_t;


/*
 * A plugin, kept parsed for the plugin layer: name and scope are checked,
 * config is the YAML mapping as written (NULL when absent or null).
 */
typedef struct kong_plugin_s {
    const char             *id;              /* NULL when not given */
    const char             *name;
    int                     type;            /* KONG_PLUGIN_* */
    const void             *conf;            /* kong_<name>_conf_t, with
                                                Kong's defaults */
    const char             *instance_name;   /* NULL when not given */
    int                     enabled;
    unsigned                protocols;        /* KONG_PROTO_* set */
    const kong_node_t      *config;
    kong_route_t           *route;            /* scope: NULL = any */
    kong_service_t         *service;
    kong_consumer_t        *consumer;
    kong_pos_t              pos;
    const char             *path;             /* "services[0].plugins[1]" */
} kong_plugin_t;


/*
 * Plugin lists, in file order: a route's holds the plugins naming it; a
 * service's those naming it and no route; a consumer's those naming only
 * it; the configuration's global_plugins those naming nothing, and its
 * plugins all of them.  A plugin keeps its other scope fields (a service
 * plugin may also name a consumer).
 */
typedef struct {
    kong_plugin_t         **items;
    size_t                  n;
} kong_plugins_t;


/* a ca_certificates entity: a trusted CA for services' certificates */
typedef struct {
    const char             *id;
    const char             *cert;             /* PEM, one CA certificate */
    kong_pos_t              pos;
    size_t                  index;            /* in cfg->ca_certificates */
} kong_ca_certificate_t;


struct kong_service_s {
    const char             *id;
    const char             *name;
    int                     protocol;         /* one KONG_PROTO_* */
    const char             *host;
    unsigned                port;
    const char             *path;             /* NULL = none ("/") */
    unsigned                retries;
    unsigned                connect_timeout;  /* ms */
    unsigned                write_timeout;
    unsigned                read_timeout;
    int                     enabled;
    int                     tls_verify;        /* -1 = unset */
    int                     tls_verify_depth;  /* -1 = unset */
    kong_ca_certificate_t **ca_certificates;   /* NULL = unset */
    size_t                  nca_certificates;
    kong_upstream_t        *upstream;  /* an upstream named by host, or NULL */
    kong_plugins_t          plugins;
    kong_pos_t              pos;
    size_t                  index;             /* declaration order */
    const char            **tags;              /* as written, for echo */
    size_t                  ntags;
    int64_t                 created_at;        /* 0 = not given */
    int64_t                 updated_at;
};


typedef struct {
    const char             *name;     /* without the wildcard and the port */
    size_t                  len;
    int                     wildcard; /* KONG_HOST_* */
    unsigned                port;     /* 0 = any */
    const char             *written;  /* as in the file */
} kong_host_t;


typedef struct {
    const char             *path;     /* prefix, or the regex without "~" */
    size_t                  len;
    int                     regex;
    void                   *re;       /* pcre2_code * */
} kong_path_t;


typedef struct {
    const char             *value;    /* lower-cased; regex without "~*" */
    size_t                  len;
    void                   *re;       /* pcre2_code * for "~*" values */
} kong_header_value_t;


typedef struct {
    const char             *name;     /* lower-cased */
    size_t                  len;
    kong_header_value_t    *values;
    size_t                  nvalues;
} kong_route_header_t;


struct kong_route_s {
    const char             *id;
    const char             *name;
    unsigned                protocols;        /* KONG_PROTO_* set */
    const char            **methods;
    size_t                  nmethods;
    kong_host_t            *hosts;
    size_t                  nhosts;
    kong_path_t            *paths;
    size_t                  npaths;
    kong_route_header_t    *headers;
    size_t                  nheaders;
    const char            **snis;
    size_t                  nsnis;
    int                     strip_path;
    int                     preserve_host;
    int                     request_buffering;
    int                     response_buffering;
    int64_t                 regex_priority;
    int                     path_handling;    /* 0 = v0, 1 = v1 */
    unsigned                https_redirect_status_code;
    kong_service_t         *service;          /* NULL: service-less */
    kong_plugins_t          plugins;
    /* per KONG_PLUGIN_*: the configuration that applies to a request of
     * no consumer (Kong's precedence), or NULL; kong_plugin_for() */
    const struct kong_plugin_s  *run[KONG_PLUGIN_N];
    kong_pos_t              pos;
    const char             *path_in_file;     /* "services[0].routes[1]" */
    size_t                  index;
    const char            **tags;             /* as written, for echo */
    size_t                  ntags;
    int64_t                 created_at;       /* 0 = not given */
    int64_t                 updated_at;
};


typedef struct {
    unsigned               *items;
    size_t                  n;
} kong_statuses_t;


typedef struct {
    int                     type;      /* KONG_PROTO_HTTP, _HTTPS, _TCP,
                                          _GRPC, _GRPCS */
    double                  timeout;   /* seconds */
    unsigned                concurrency;
    const char             *http_path;
    const char             *https_sni;          /* NULL = none */
    int                     https_verify_certificate;
    const kong_node_t      *headers;            /* map, or NULL */
    double                  healthy_interval;   /* 0 = off */
    kong_statuses_t         healthy_http_statuses;
    unsigned                healthy_successes;
    double                  unhealthy_interval;
    kong_statuses_t         unhealthy_http_statuses;
    unsigned                unhealthy_tcp_failures;
    unsigned                unhealthy_timeouts;
    unsigned                unhealthy_http_failures;
} kong_active_check_t;


typedef struct {
    int                     type;
    kong_statuses_t         healthy_http_statuses;
    unsigned                healthy_successes;
    kong_statuses_t         unhealthy_http_statuses;
    unsigned                unhealthy_tcp_failures;
    unsigned                unhealthy_timeouts;
    unsigned                unhealthy_http_failures;
} kong_passive_check_t;


typedef struct {
    double                  threshold;         /* 0..100 % */
    kong_active_check_t     active;
    kong_passive_check_t    passive;
} kong_healthchecks_t;


typedef struct {
    const char             *target;   /* as written */
    const char             *host;     /* without brackets */
    unsigned                port;     /* default 8000 */
    unsigned                weight;   /* 0..65535, 0 = disabled */
    kong_upstream_t        *upstream;
    kong_pos_t              pos;
} kong_target_t;


struct kong_upstream_s {
    const char             *id;
    const char             *name;
    int                     algorithm;         /* KONG_ALG_* */
    int                     hash_on;           /* KONG_HASH_* */
    int                     hash_fallback;
    const char             *hash_on_header;
    const char             *hash_fallback_header;
    const char             *hash_on_cookie;
    const char             *hash_on_cookie_path;   /* default "/" */
    const char             *hash_on_query_arg;
    const char             *hash_fallback_query_arg;
    const char             *hash_on_uri_capture;
    const char             *hash_fallback_uri_capture;
    unsigned                slots;             /* default 10000 */
    uint32_t               *ring;     /* consistent-hashing: per point, a
                                         target's index + 1, or 0 */
    size_t                  ring_size;         /* points (kong_ring.c) */
    const char             *host_header;
    int                     use_srv_name;
    kong_healthchecks_t     healthchecks;
    kong_target_t         **targets;
    size_t                  ntargets;
    kong_pos_t              pos;
    size_t                  index;
};


/*
 * Kept for the plugin layer: consumers with their nested plugins, and every
 * credential entity (keyauth_credentials, acls, ...) as written.
 */
#define KONG_CRED_KEYAUTH    0
#define KONG_CRED_BASICAUTH  1
#define KONG_CRED_ACL        2
#define KONG_CRED_JWT        3

typedef struct {
    const char             *entity;   /* "keyauth_credentials", ... */
    int                     type;     /* KONG_CRED_* */
    kong_consumer_t        *consumer;
    kong_pos_t              pos;
    const char             *id;       /* NULL when not given */
    /* keyauth_credentials, jwt_secrets: key; basicauth_credentials:
     * username; acls: group */
    const char             *key;
    size_t                  key_len;
    /* basicauth_credentials: sha1(password .. consumer id), 40 hex digits
     * (hashed at load when _transform is true, else as written) */
    const char             *password;
    int64_t                 ttl;      /* keyauth: seconds from load, -1 */
    /* jwt_secrets */
    const char             *secret;
    const char             *rsa_public_key;
    const char             *algorithm;    /* default "HS256" */
} kong_credential_t;


struct kong_consumer_s {
    const char             *id;       /* as given, else generated */
    const char             *username;
    const char             *custom_id;
    kong_plugins_t          plugins;
    kong_plugins_t          scoped;   /* every plugin naming it */
    const char            **groups;   /* its acls, in file order */
    size_t                  ngroups;
    kong_pos_t              pos;
    size_t                  index;
};


typedef struct {
    const char             *file;
    int                     transform;        /* _transform */

    kong_service_t        **services;
    size_t                  nservices;
    kong_route_t          **routes;           /* nested ones included */
    size_t                  nroutes;
    kong_upstream_t       **upstreams;
    size_t                  nupstreams;
    kong_target_t         **targets;          /* nested ones included */
    size_t                  ntargets;
    kong_consumer_t       **consumers;
    size_t                  nconsumers;
    kong_credential_t     **credentials;
    size_t                  ncredentials;
    kong_ca_certificate_t **ca_certificates;
    size_t                  nca_certificates;

    kong_plugins_t          plugins;          /* every plugin, any scope */
    kong_plugins_t          global_plugins;   /* no route/service/consumer */
    /* per KONG_PLUGIN_*: the global configuration, or NULL */
    const struct kong_plugin_s  *global_run[KONG_PLUGIN_N];
    void                   *consumer_index;   /* by id and username */
    void                   *basic_index;      /* basicauth by username */
    unsigned                used;             /* 1 << KONG_PLUGIN_*: some
                                                 enabled configuration */
    int                     consumer_plugins; /* some plugin names a
                                                 consumer */

    kong_router_t          *router;
    size_t                  max_service_path; /* for KONG_MATCH_BUF */
    void                   *pool;             /* owns everything */
} kong_config_t;


/* One validation error; errors come sorted by position in the file. */
typedef struct {
    unsigned                line;
    unsigned                col;
    char                   *path;     /* "services[0].routes[1].paths[0]" */
    char                   *message;  /* Kong's wording where Kong has one */
} kong_error_t;


typedef struct {
    char                   *file;
    kong_error_t           *items;
    size_t                  n;
    size_t                  dropped;  /* errors beyond KONG_ERRORS_MAX */
} kong_errors_t;

#define KONG_ERRORS_MAX  200


typedef struct {
    const char             *name;
    size_t                  name_len;
    const char             *value;
    size_t                  value_len;
} kong_header_t;


typedef struct {
    const char             *method;
    size_t                  method_len;
    const char             *host;     /* the Host header, may carry :port */
    size_t                  host_len;
    const char             *uri;      /* request target: path[?args] */
    size_t                  uri_len;
    unsigned                port;     /* the listener's port */
    int                     https;    /* the request came over TLS */
    int                     forwarded_https;  /* or a trusted proxy's
                                                 X-Forwarded-Proto says
                                                 https: no 426 */
    const char             *sni;      /* NULL = none */
    size_t                  sni_len;
    const kong_header_t    *headers;
    size_t                  nheaders;
} kong_request_t;


typedef struct {
    const kong_route_t     *route;
    const kong_service_t   *service;
    /*
     * 0: proxy to service with upstream_uri; 404: no route matched;
     * 503: the route has no service; 426, 301, 302, 307, 308: the route
     * wants https and the request came over http (the route's
     * https_redirect_status_code).
     */
    unsigned                status;
    const char             *upstream_uri;  /* escaped path + "?args" */
    size_t                  upstream_uri_len;
    const char             *prefix;        /* X-Forwarded-Prefix, or NULL */
    size_t                  prefix_len;
    const char             *path;          /* normalized request path */
    size_t                  path_len;
    /*
     * The regex path that matched (a pcre2_code *), or NULL for a prefix
     * or path-less match: run it again on path to read its captures
     * (uri_captures, hash_on: uri_capture).
     */
    const void             *regex;
} kong_match_t;

/* Scratch kong_match needs for a request target of uri_len bytes. */
#define KONG_MATCH_BUF(cfg, uri_len)                                         \
    (5 * (uri_len) + 4 * (cfg)->max_service_path + 16)


/*
 * Loads and validates a declarative configuration from a file or from
 * memory (name is only used in error messages).  Returns the configuration,
 * or NULL with errs filled (every error found, sorted by position; errs
 * may also hold errors when KONG_LOAD_SKIP_INVALID dropped entities and a
 * configuration is returned).  errs is always initialised; release it with
 * kong_errors_free.
 */
kong_config_t *kong_load_file(const char *file, unsigned flags,
    kong_errors_t *errs);
kong_config_t *kong_load_string(const char *name, const char *text,
    size_t len, unsigned flags, kong_errors_t *errs);

void kong_config_free(kong_config_t *cfg);

/* Writes "file:line:col: path: message\n" per error (and a dropped count). */
void kong_errors_print(const kong_errors_t *errs, FILE *out);

/* Writes error i as "file:line:col: path: message" (no newline) into buf. */
size_t kong_error_format(const kong_errors_t *errs, size_t i, char *buf,
    size_t size);

void kong_errors_free(kong_errors_t *errs);

/*
 * Finds the route for a request, by Kong's traditional_compatible rules,
 * and computes the upstream path by Kong's v0 path-joining rules.
 * buf/size is scratch for the normalized path and the upstream URI
 * (KONG_MATCH_BUF bytes are always enough).  Returns 0 with m filled
 * (m->status says what to do), or -1 if buf is too small.
 */
int kong_match(const kong_config_t *cfg, const kong_request_t *r,
    kong_match_t *m, char *buf, size_t size);

/*
 * Path helpers used by kong_match, exported for the glue and tests.
 * kong_path_normalize: Kong's request path normalization (percent-decoding
 * of non-reserved characters, upper-case reserved escapes, dot segments
 * removed, slashes merged); out must hold len bytes; returns the length.
 * kong_path_escape: the escaping Kong applies to the upstream path; out
 * must hold 3 * len bytes; returns the length.
 */
size_t kong_path_normalize(const char *in, size_t len, char *out);
size_t kong_path_escape(const char *in, size_t len, char *out);

/*
 * Kong's v0 upstream path for the service path base (NULL = "/") and the
 * request path req[0..len) (normalized, no args), of which the route
 * matched the first prefix_len bytes (1, for "/", when the route has no
 * paths; ignored unless strip_path).  out must hold strlen(base) + len + 2
 * bytes; returns the length (not NUL-terminated).
 */
size_t kong_path_join(const char *base, const char *req, size_t len,
    size_t prefix_len, int strip_path, char *out);

/* Kong's name for a protocol bit, "http", ... */
const char *kong_protocol_name(int proto);

/*
 * The configuration of plugin type (KONG_PLUGIN_*) that applies to a
 * request routed to route (NULL: none matched; global plugins only) once
 * consumer (or NULL) is known, by Kong's precedence: route+service+consumer,
 * route+consumer, service+consumer, route+service, consumer, route,
 * service, global.  Disabled plugins are not candidates.  NULL if none.
 */
const struct kong_plugin_s *kong_plugin_for(const kong_config_t *cfg,
    int type, const kong_route_t *route, const kong_consumer_t *consumer);

/* A consumer by id or username (Kong's "anonymous"), or NULL. */
const kong_consumer_t *kong_consumer_find(const kong_config_t *cfg,
    const char *s, size_t len);

/* A basicauth_credentials entity by username, or NULL. */
const kong_credential_t *kong_basic_find(const kong_config_t *cfg,
    const char *user, size_t len);

/* The plugin type of a name, or -1. */
int kong_plugin_type(const char *name);

/*
 * Capture name (a group name, or a group number written in digits) of the
 * regex path a request matched, run again on m->path.  Returns 1 with
 * *value (in m->path, not NUL-terminated) and *len, 0 when the match was
 * not by a regex, the group does not exist or did not take part, -1
 * without memory.
 */
int kong_match_capture(const kong_match_t *m, const char *name,
    const char **value, size_t *len);

/*
 * Value j of header i of an active health check's headers map (header ->
 * list of values; a value written as a single scalar is value 0).
 * Returns 1 with *name and *value (NUL-terminated) set, 0 when header i
 * has no value j (or it is not a scalar), -1 when there is no header i.
 */
int kong_check_header(const kong_node_t *headers, size_t i, size_t j,
    const char **name, const char **value);

/*
 * consistent-hashing (kong_ring.c): the ring of a consistent-hashing
 * upstream as Kong lays it out.  kong_ring_point() is the point a key
 * hashes to; kong_ring_pick() walks from it to the first target (index in
 * u->targets) that can(data, index) accepts, -1 when none does.
 */
uint32_t kong_xxhash32(const void *data, size_t len, uint32_t seed);
size_t kong_ring_point(const kong_upstream_t *u, const char *key,
    size_t len);
long kong_ring_pick(const kong_upstream_t *u, size_t point,
    int (*can)(void *data, size_t target), void *data);

#endif /* KONG_H */
