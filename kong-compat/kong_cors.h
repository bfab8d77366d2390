/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The cors plugin's engine (Kong 3.x semantics), plain C with no nginx:
 * which CORS headers a preflight answer and an ordinary response get, and
 * whether the gateway answers a preflight itself.
 *
 *   kong_cors_conf_t     conf;
 *   kong_cors_t         *cors;
 *   kong_cors_result_t   res;
 *
 *   kong_cors_conf_default(&conf);        then set what kong.yml sets
 *   cors = kong_cors_create(&conf, err, sizeof(err));   at load; NULL: err
 *
 *   access phase:
 *   switch (kong_cors_access(cors, &req, &res)) {
 *   case KONG_CORS_ANSWER:   answer 200, empty body, with res.headers
 *   case KONG_CORS_CONTINUE: proxy; skip the header filter below
 *   case KONG_CORS_PASS:     not a preflight; proxy
 *   }
 *   response header filter (only after KONG_CORS_PASS, also when another
 *   plugin answered):
 *   kong_cors_header_filter(cors, &req, &res);   apply res.headers
 *
 * res.headers is a list of actions in order: KONG_CORS_SET (set, replacing
 * any value), KONG_CORS_CLEAR (remove the header) and KONG_CORS_VARY (make
 * the response's Vary include Origin: kong_cors_vary computes the value
 * from the one the response already has).  Values point into the
 * kong_cors_t, the request or the result; they live as long as the
 * shortest of the three.
 *
 * A kong_cors_t is immutable after kong_cors_create except for the PCRE2
 * match data it reuses, so one must not be used by two threads at once
 * (an nginx worker is one thread).
 */

#ifndef KONG_CORS_H
#define KONG_CORS_H

#include <stddef.h>

#include "kong.h"


/* kong_cors_access */
#define KONG_CORS_PASS      0   /* not a preflight */
#define KONG_CORS_ANSWER    1   /* answer 200 with the headers */
#define KONG_CORS_CONTINUE  2   /* preflight_continue: proxy untouched */

/* header actions */
#define KONG_CORS_SET       0
#define KONG_CORS_CLEAR     1
#define KONG_CORS_VARY      2

#define KONG_CORS_MAX_ORIGIN  1024  /* longer request origins match nothing */


typedef struct {
    const char *const      *origins;          /* default {} (all) */
    size_t                  n_origins;
    const char *const      *headers;          /* default {} (echo) */
    size_t                  n_headers;
    const char *const      *exposed_headers;  /* default {} */
    size_t                  n_exposed_headers;
    const char *const      *methods;          /* default: all nine */
    size_t                  n_methods;
    double                  max_age;          /* when has_max_age */
    int                     has_max_age;      /* default 0 (null) */
    int                     credentials;      /* default 0 */
    int                     private_network;  /* default 0 */
    int                     preflight_continue;   /* default 0 */
    int                     allow_origin_absent;  /* default 1 */
} kong_cors_conf_t;


typedef struct kong_cors_s  kong_cors_t;


/* The request: its method and headers (first value of each name counts). */
typedef struct {
    const char             *method;
    size_t                  method_len;
    const kong_header_t    *headers;
    size_t                  nheaders;
} kong_cors_request_t;


typedef struct {
    const char             *name;
    const char             *value;     /* NULL for KONG_CORS_CLEAR/_VARY */
    size_t                  value_len;
    int                     op;        /* KONG_CORS_SET, _CLEAR, _VARY */
} kong_cors_header_t;


typedef struct {
    kong_cors_header_t      headers[12];
    size_t                  n;
    char                    buf[KONG_CORS_MAX_ORIGIN + 64];
} kong_cors_result_t;


void kong_cors_conf_default(kong_cors_conf_t *conf);

/*
 * Checks conf as Kong's schema does ("config.origins: '<v>' is not a valid
 * regex", "config.methods: expected one of: GET, HEAD, ..."), compiles the
 * regex origins and normalizes the literal ones.  Copies what it keeps:
 * conf may go after the call.  Returns NULL with the message in err.
 */
kong_cors_t *kong_cors_create(const kong_cors_conf_t *conf, char *err,
    size_t err_size);
void kong_cors_free(kong_cors_t *cors);

/* The access phase: an OPTIONS with Origin and Access-Control-Request-
 * Method is a preflight.  Fills res for KONG_CORS_ANSWER. */
int kong_cors_access(kong_cors_t *cors, const kong_cors_request_t *req,
    kong_cors_result_t *res);

/* The response header filter of a request kong_cors_access passed. */
void kong_cors_header_filter(kong_cors_t *cors,
    const kong_cors_request_t *req, kong_cors_result_t *res);

/*
 * The Vary value after KONG_CORS_VARY, given the response's (NULL when it
 * has none): "Origin"; the old value when it is "*" or already lists
 * Origin (any case); else "<old>, Origin".  Writes into out (size bytes)
 * and returns the length, or 0 when out is too small (keep the old value).
 */
size_t kong_cors_vary(const char *old, size_t old_len, char *out,
    size_t size);

/*
 * Kong's normalize_origin (LuaSocket url.parse): "scheme://host[:port]"
 * with the default port of http and https dropped, userinfo, path, query
 * and fragment dropped; a value without "//" is kept whole.  host gets the
 * host part (the whole value when there is no authority).  out holds at
 * least len + 1 bytes.  Returns the normalized length.
 */
size_t kong_cors_normalize(const char *origin, size_t len, char *out,
    const char **host, size_t *host_len);

#endif /* KONG_CORS_H */
