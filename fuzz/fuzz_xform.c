/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * request-transformer and response-transformer (kong-compat/kong_xform*.c)
 * on untrusted input.
 *
 * Input: lines.  Line 1 is one more "name:value" item (a template) for
 * add.headers, compiled or refused; line 2 the query string; line 3 the
 * Content-Type; line 4 the body (the rest of the input, newlines
 * included); and lines 5.. are not used.  Headers come from fixed names
 * with values cut from the body.  A fixed configuration has every op on
 * every target, with templates.
 *
 * Invariants: a refused item names why; a JSON body that is rewritten is
 * valid JSON; a rewritten query string or form body parses back; a
 * response body rewritten is valid JSON; every header output has a name.
 */

#define _GNU_SOURCE
#include "fuzz.h"

#include "kong_xform.h"


#define L(...)   { (const char *const []) { __VA_ARGS__ },                  \
                   sizeof((const char *const []) { __VA_ARGS__ })           \
                   / sizeof(const char *) }

#define SET(op, t, ...)                                                      \
    c.items[KONG_XFORM_ ## op][KONG_XFORM_ ## t] =                           \
        (kong_xform_list_t) L(__VA_ARGS__)


static kong_xform_t  *fz_req, *fz_resp;


static void
fz_init(void)
{
    char               err[512];
    kong_xform_conf_t  c;

    memset(&c, 0, sizeof(c));
    SET(REMOVE, HEADERS, "x-a");
    SET(RENAME, HEADERS, "x-b:x_c");
    SET(REPLACE, HEADERS, "host:$(headers.x_d)");
    SET(ADD, HEADERS, "x-e:$(query_params.a or 'z')");
    SET(APPEND, HEADERS, "x-a:$(uri_captures[1])");
    SET(REMOVE, QUERY, "a");
    SET(RENAME, QUERY, "b:c");
    SET(REPLACE, QUERY, "d:$(headers[\"x-a\"])");
    SET(ADD, QUERY, "e:1");
    SET(APPEND, QUERY, "c:2");
    SET(REMOVE, BODY, "a");
    SET(RENAME, BODY, "b:c");
    SET(REPLACE, BODY, "d:x");
    SET(ADD, BODY, "e:$(query_params.e)");
    SET(APPEND, BODY, "c:2", "f:3");
    c.http_method = "GET";
    c.replace_uri = "/p/$(uri_captures.n)";
    fz_req = kong_xform_create(&c, KONG_XFORM_REQUEST, err, sizeof(err));
    FZ_CHECK(fz_req != NULL);

    c.items[KONG_XFORM_REMOVE][KONG_XFORM_QUERY].n = 0;
    c.items[KONG_XFORM_RENAME][KONG_XFORM_QUERY].n = 0;
    c.items[KONG_XFORM_REPLACE][KONG_XFORM_QUERY].n = 0;
    c.items[KONG_XFORM_ADD][KONG_XFORM_QUERY].n = 0;
    c.items[KONG_XFORM_APPEND][KONG_XFORM_QUERY].n = 0;
    SET(ADD, BODY, "e:1.5", "g:true");
    c.json_types[KONG_XFORM_ADD] = (kong_xform_list_t) L("number", "boolean");
    c.http_method = NULL;
    c.replace_uri = NULL;
    fz_resp = kong_xform_create(&c, KONG_XFORM_RESPONSE, err, sizeof(err));
    FZ_CHECK(fz_resp != NULL);
}


static void
fz_out(const kong_xform_out_t *out)
{
    size_t  i;

    for (i = 0; out->headers_changed && i < out->nheaders; i++) {
        FZ_CHECK(out->headers[i].name_len > 0);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 *in, *p, *end, *nl, *part[4], *item, *ct;
    char                  err[512];
    size_t                n, len[4], i, b;
    kong_header_t         h[6];
    kong_xform_t         *x;
    kong_xform_out_t      out;
    kong_xform_conf_t     c;
    kong_xform_request_t  r;
    kong_xform_capture_t  cap[2];
    const char           *names[6] = { "Host", "X-A", "X-B", "x_d",
                                       "Content-Type", "X-A" };

    if (fz_req == NULL) {
        fz_init();
    }

    in = fz_copy(data, size);
    end = in + size;
    n = 0;
    for (p = in; n < 4; n++) {
        nl = n < 3 ? memchr(p, '\n', (size_t) (end - p)) : NULL;
        part[n] = p;
        len[n] = (size_t) ((nl ? nl : end) - p);
        p = nl ? nl + 1 : end;
    }

    /* line 1: an item compiled on its own */
    item = strndup(part[0], len[0]);
    FZ_CHECK(item != NULL);
    memset(&c, 0, sizeof(c));
    c.items[KONG_XFORM_ADD][KONG_XFORM_HEADERS].items =
        (const char *const *) &item;
    c.items[KONG_XFORM_ADD][KONG_XFORM_HEADERS].n = 1;
    x = kong_xform_create(&c, KONG_XFORM_REQUEST, err, sizeof(err));
    if (x == NULL) {
        FZ_CHECK(fz_terminated(err, sizeof(err)) && err[0] != '\0');
    }

    for (i = 0; i < 6; i++) {
        b = len[3] ? (i * 7) % len[3] : 0;
        h[i].name = names[i];
        h[i].name_len = strlen(names[i]);
        h[i].value = i == 4 ? part[2] : part[3] + b;
        h[i].value_len = i == 4 ? len[2]
                                : (len[3] - b > 16 ? 16 : len[3] - b);
    }
    cap[0].index = 1;
    cap[0].name = NULL;
    cap[0].value = part[1];
    cap[0].value_len = len[1];
    cap[1].index = -1;
    cap[1].name = "n";
    cap[1].value = part[3];
    cap[1].value_len = len[3] > 8 ? 8 : len[3];

    memset(&r, 0, sizeof(r));
    r.method = "POST";
    r.method_len = 4;
    r.headers = h;
    r.nheaders = 6;
    r.args = part[1];
    r.args_len = len[1];
    r.body = part[3];
    r.body_len = len[3];
    r.captures = cap;
    r.ncaptures = 2;

    if (x != NULL) {
        if (kong_xform_request(x, &r, &out) == 0) {
            fz_out(&out);
        }
        kong_xform_out_free(&out);
        kong_xform_free(x);
    }

    if (kong_xform_request(fz_req, &r, &out) == 0) {
        fz_out(&out);
        ct = strndup(part[2], len[2]);
        FZ_CHECK(ct != NULL);
        if (out.body != NULL && strcasestr(ct, "application/json") != NULL) {
            FZ_CHECK(kong_xform_json_valid(out.body, out.body_len));
        }
        free(ct);
    }
    kong_xform_out_free(&out);

    if (kong_xform_response_headers(fz_resp, h, 6, &out) == 0) {
        fz_out(&out);
    }
    kong_xform_out_free(&out);

    if (kong_xform_response_body(fz_resp, part[3], len[3], &out) == 0
        && out.body != NULL)
    {
        FZ_CHECK(kong_xform_json_valid(out.body, out.body_len));
    }
    kong_xform_out_free(&out);

    free(item);
    free(in);
    return 0;
}
