/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * request-termination's echo (Kong 3.x): the JSON body that answers a
 * request with what the gateway saw of it, built with jansson and written
 * as lua-cjson writes Kong's kong.response.exit(status, table) bodies.
 * Plain C, no nginx.
 *
 *   kong_echo_request_t  req;     filled by the glue from the request
 *   char                *body;
 *   size_t               len;
 *
 *   body = kong_echo_body(&req, &len);     (NULL: out of memory)
 *   send status, Content-Type KONG_ECHO_CONTENT_TYPE, body[0..len)
 *   free(body);
 *
 * The body is one object (its members in this order):
 *
 *   message        the configured message, else Kong's default one for
 *                  the status (absent for a status without one)
 *   kong           {node_id, worker_pid, hostname}
 *   request        {scheme, host, port, headers, query, body, raw_body,
 *                  method, path, uri_captures {named, unnamed}}
 *   matched_route, matched_service   the entities as Kong keeps them
 *                  (absent without a route / service)
 *
 * as kong.request.get_headers() (names lower-cased, a repeated header an
 * array, the first KONG_ECHO_MAX_HEADERS lines), get_query() and a form
 * body's get_body() (decoded, a repeated name an array, a name without
 * "=" true, the first KONG_ECHO_MAX_ARGS arguments; kong_xform's parser),
 * get_body() of a JSON body (an object or array, else absent) and of a
 * multipart/form-data one (each part's name and value; kong_multipart.c),
 * get_raw_body() (absent, with body, when the glue says the body was not
 * kept in memory).  Strings are written byte for byte, as lua-cjson does,
 * '/' escaped; numbers from a JSON body with 16 significant digits
 * (Kong's cjson precision).
 */

#ifndef KONG_ECHO_H
#define KONG_ECHO_H

#include <stddef.h>
#include <stdint.h>

#include "kong.h"
#include "kong_xform.h"


#define KONG_ECHO_CONTENT_TYPE  "application/json; charset=utf-8"
#define KONG_ECHO_MAX_HEADERS   100     /* lua_max_req_headers */
#define KONG_ECHO_MAX_ARGS      100     /* lua_max_uri_args, _post_args */
#define KONG_ECHO_MAX_DEPTH     1000    /* lua-cjson's decode_max_depth */


typedef struct {
    const char             *message;      /* NULL: none */
    const char             *node_id;      /* kong_echo_node_id() */
    long                    worker_pid;
    const char             *hostname;
    const char             *scheme;       /* "http", "https" */
    const char             *host;         /* lower case, no port */
    size_t                  host_len;
    unsigned                port;         /* the listener's */
    const kong_header_t    *headers;      /* as sent, in order */
    size_t                  nheaders;
    const char             *args;         /* the query string, no "?" */
    size_t                  args_len;
    const char             *method;
    size_t                  method_len;
    const char             *path;         /* normalized, no query */
    size_t                  path_len;
    const char             *body;         /* the whole body; NULL = none */
    size_t                  body_len;
    int                     body_unread;  /* a body not kept in memory:
                                             body and raw_body absent */
    const kong_xform_capture_t *captures;  /* the route's regex groups */
    size_t                  ncaptures;
    const kong_route_t     *route;        /* NULL: none */
    const kong_service_t   *service;      /* NULL: none */
    int64_t                 loaded;       /* created_at / updated_at when
                                             the file gives none */
} kong_echo_request_t;


/*
 * The body for req, malloc()ed (free() it), *len its length; NULL when
 * memory runs out.
 */
char *kong_echo_body(const kong_echo_request_t *req, size_t *len);

/*
 * The node id this gateway reports for hostname: the name-based (version
 * 5, SHA-1) uuid of hostname in RFC 4122's DNS namespace, as Python's
 * uuid.uuid5(uuid.NAMESPACE_DNS, hostname).  0, or -1 on failure.
 */
int kong_echo_node_id(const char *hostname, char out[37]);

/* Kong's default message for a request-termination status, or NULL. */
const char *kong_echo_default_message(unsigned status);

#endif /* KONG_ECHO_H */
