/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * request-termination's echo body (kong-compat/kong_echo.c) on untrusted
 * input: the client's headers, query string and body.
 *
 * Input: line 1 is the Content-Type, line 2 the query string, line 3 a
 * header "name: value" (sent twice, to make an array), the rest the body.
 *
 * Invariants: a body comes back, an object from "{" to "}"; when the input
 * is valid UTF-8 without "%" (a %XX escape decodes to any byte) or NUL
 * (jansson reads no NUL in a key) it parses as JSON, its request.raw_body is the body byte
 * for byte, request.query an object and request.body, when there, an
 * object or an array.
 */

#include "fuzz.h"

#include <jansson.h>

#include "kong_echo.h"


/* the next line of in[*pos..size), without its "\n" */
static const char *
fz_line(const char *in, size_t size, size_t *pos, size_t *len)
{
    const char  *s, *nl;

    s = in + *pos;
    nl = memchr(s, '\n', size - *pos);
    *len = nl ? (size_t) (nl - s) : size - *pos;
    *pos += *len + (nl ? 1 : 0);

    return s;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 *in, *out;
    size_t                pos, ctlen, qlen, hlen, len, colon;
    json_t               *v, *u, *req, *raw;
    const char           *ct, *q, *h;
    kong_header_t         hd[3];
    kong_echo_request_t   r;

    in = fz_copy(data, size);
    pos = 0;
    ct = fz_line(in, size, &pos, &ctlen);
    q = fz_line(in, size, &pos, &qlen);
    h = fz_line(in, size, &pos, &hlen);

    for (colon = 0; colon < hlen && h[colon] != ':'; colon++) {
        /* void */
    }

    hd[0].name = "Content-Type";
    hd[0].name_len = 12;
    hd[0].value = ct;
    hd[0].value_len = ctlen;
    hd[1].name = h;
    hd[1].name_len = colon;
    hd[1].value = colon < hlen ? h + colon + 1 : "";
    hd[1].value_len = colon < hlen ? hlen - colon - 1 : 0;
    hd[2] = hd[1];

    memset(&r, 0, sizeof(r));
    r.message = "Service unavailable";
    r.node_id = "00000000-0000-5000-8000-000000000000";
    r.worker_pid = 1;
    r.hostname = "fuzz";
    r.scheme = "http";
    r.host = "localhost";
    r.host_len = 9;
    r.port = 80;
    r.headers = hd;
    r.nheaders = 3;
    r.args = q;
    r.args_len = qlen;
    r.method = "POST";
    r.method_len = 4;
    r.path = "/";
    r.path_len = 1;
    r.body = in + pos;
    r.body_len = size - pos;

    out = kong_echo_body(&r, &len);
    FZ_CHECK(out != NULL);
    FZ_CHECK(len >= 2 && out[0] == '{' && out[len - 1] == '}');

    /* jansson takes valid UTF-8 only: then the whole must parse */

    u = (memchr(in, '%', size) || memchr(in, '\0', size))
        ? NULL : json_stringn(in, size);

    if (u != NULL) {
        v = json_loadb(out, len, JSON_ALLOW_NUL, NULL);
        FZ_CHECK(v != NULL);

        req = json_object_get(v, "request");
        FZ_CHECK(json_is_object(req));
        FZ_CHECK(json_is_object(json_object_get(req, "query")));

        raw = json_object_get(req, "raw_body");
        FZ_CHECK(json_is_string(raw));
        FZ_CHECK(json_string_length(raw) == r.body_len);
        FZ_CHECK(r.body_len == 0
                 || memcmp(json_string_value(raw), r.body, r.body_len) == 0);

        if (json_object_get(req, "body") != NULL) {
            FZ_CHECK(json_is_object(json_object_get(req, "body"))
                     || json_is_array(json_object_get(req, "body")));
        }

        json_decref(v);
        json_decref(u);
    }

    free(out);
    free(in);
    return 0;
}
