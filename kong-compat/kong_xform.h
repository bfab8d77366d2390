/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The request-transformer and response-transformer plugins' engine (Kong
 * 3.x semantics), plain C with no nginx: remove, rename, replace, add and
 * append on headers, the query string and JSON or x-www-form-urlencoded
 * bodies, in Kong's order, with templates in values.
 *
 *   kong_xform_conf_t   conf;            filled from the plugin's config
 *   kong_xform_t       *x;
 *   kong_xform_out_t    out;
 *
 *   x = kong_xform_create(&conf, KONG_XFORM_REQUEST, err, sizeof(err));
 *   (load time: NULL and Kong's message for a bad item or template)
 *
 *   request-transformer, access phase:
 *   if (kong_xform_request(x, &req, &out) != 0) answer 500 (out.error);
 *   apply out: method, path, headers (the complete new list), args, body;
 *   kong_xform_out_free(&out);
 *
 *   response-transformer: kong_xform_response_headers in the header
 *   filter, kong_xform_response_body on the buffered JSON body.
 *
 * The configuration: conf.items[op][target] is the array of "name:value"
 * strings of config.<op>.<target> as in kong.yml, in order (e.g. the
 * loader puts config.rename.headers in items[KONG_XFORM_RENAME]
 * [KONG_XFORM_HEADERS]); json_types[op] the response's config.<op>.
 * json_types.  Absent arrays are empty.  kong_xform_create copies what it
 * keeps: conf may go after the call.
 *
 * Every string of a kong_xform_out_t lives in its arena, freed by
 * kong_xform_out_free; the engine allocates at most max_mem bytes per call
 * (KONG_XFORM_MAX_MEM when 0) and fails with "too large" beyond.
 */

#ifndef KONG_XFORM_H
#define KONG_XFORM_H

#include <stddef.h>

#include "kong.h"


/* ops, in Kong's order */
#define KONG_XFORM_REMOVE    0
#define KONG_XFORM_RENAME    1
#define KONG_XFORM_REPLACE   2
#define KONG_XFORM_ADD       3
#define KONG_XFORM_APPEND    4
#define KONG_XFORM_NOPS      5

/* targets: request-transformer headers, querystring, body; the response-
 * transformer's are headers and json (KONG_XFORM_BODY) */
#define KONG_XFORM_HEADERS   0
#define KONG_XFORM_QUERY     1
#define KONG_XFORM_BODY      2
#define KONG_XFORM_NTARGETS  3

/* kong_xform_create */
#define KONG_XFORM_REQUEST   0
#define KONG_XFORM_RESPONSE  1

#define KONG_XFORM_MAX_MEM   (64 * 1024 * 1024)


typedef struct {
    const char *const      *items;
    size_t                  n;
} kong_xform_list_t;


typedef struct {
    kong_xform_list_t       items[KONG_XFORM_NOPS][KONG_XFORM_NTARGETS];
    kong_xform_list_t       json_types[KONG_XFORM_NOPS];  /* response */
    const char             *http_method;   /* request; NULL = keep */
    const char             *replace_uri;   /* request; NULL = keep */
    size_t                  max_mem;       /* 0 = KONG_XFORM_MAX_MEM */
} kong_xform_conf_t;


typedef struct kong_xform_s  kong_xform_t;


/* A capture of the route's regex path: index (-1 for a named one), name
 * (NULL for a numbered one) and value. */
typedef struct {
    int                     index;
    const char             *name;
    const char             *value;
    size_t                  value_len;
} kong_xform_capture_t;


typedef struct {
    const char             *method;
    size_t                  method_len;
    const kong_header_t    *headers;     /* Host among them */
    size_t                  nheaders;
    const char             *args;        /* the raw query string, no "?" */
    size_t                  args_len;
    const char             *body;        /* the whole body, or NULL */
    size_t                  body_len;
    const kong_xform_capture_t *captures;
    size_t                  ncaptures;
} kong_xform_request_t;


typedef struct kong_xform_arena_s  kong_xform_arena_t;


/*
 * What to change.  NULL / 0 fields mean "unchanged".  headers, when
 * headers_changed, is the complete new header list (Host included when
 * the request had one or it was replaced), in order, one line per value.
 */
typedef struct {
    const char             *method;        /* upper case */
    const char             *path;          /* replace.uri rendered */
    size_t                  path_len;
    int                     headers_changed;
    kong_header_t          *headers;
    size_t                  nheaders;
    const char             *args;          /* new query string ("" = none) */
    size_t                  args_len;
    const char             *body;          /* new body; set Content-Length */
    size_t                  body_len;
    int                     clear_content_length;   /* response */
    const char             *error;         /* when a call returns -1 */
    kong_xform_arena_t     *arena;
} kong_xform_out_t;


/*
 * Checks conf as Kong's schema does and compiles the templates.  Messages:
 * "config.<op>.<target>: key '<name>' has no value", "'<x>' is not a valid
 * header", "value '<v>' is not in supported format, error: ...",
 * "config.http_method: invalid value".  Templates are $(EXPR), EXPR one or
 * more of headers.N, headers["N"], query_params.N, query_params["N"],
 * uri_captures[I], uri_captures.N, uri_captures["N"] and string literals,
 * joined by "or"; other Lua is refused with a message saying so.
 */
kong_xform_t *kong_xform_create(const kong_xform_conf_t *conf, int which,
    char *err, size_t err_size);
void kong_xform_free(kong_xform_t *x);

/* request-transformer: replace.uri, http_method, headers, body, query
 * string, in Kong's order.  0, or -1 with out->error. */
int kong_xform_request(const kong_xform_t *x, const kong_xform_request_t *req,
    kong_xform_out_t *out);

/* response-transformer's header filter: headers are the response's; sets
 * out->headers (complete list) and out->clear_content_length when the JSON
 * body will be rewritten (content_type is the response's, may be NULL). */
int kong_xform_response_headers(const kong_xform_t *x,
    const kong_header_t *headers, size_t nheaders, kong_xform_out_t *out);

/* 1 if the response body must be buffered and given to
 * kong_xform_response_body (json ops set and a JSON content type). */
int kong_xform_response_wants_body(const kong_xform_t *x,
    const char *content_type, size_t len);

/* response-transformer's body filter on the whole JSON body: out->body is
 * the new body, or NULL when it is left as it is (not a JSON object). */
int kong_xform_response_body(const kong_xform_t *x, const char *body,
    size_t len, kong_xform_out_t *out);

void kong_xform_out_free(kong_xform_out_t *out);

/* Query-string codec as OpenResty's (ngx.decode_args / encode_args). */
size_t kong_xform_unescape(const char *s, size_t len, char *out, int plus);
size_t kong_xform_escape(const char *s, size_t len, char *out);

/* 1 if s[0..len) is one valid JSON text (RFC 8259; depth <= 1000). */
int kong_xform_json_valid(const char *s, size_t len);

#endif /* KONG_XFORM_H */
