/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The cors plugin's engine (kong-compat/kong_cors.c) on untrusted input.
 *
 * Input: lines.  Line 1 is the request's Origin, line 2 its
 * Access-Control-Request-Headers, line 3 the upstream's Vary; the further
 * lines (up to 8) are the configured origins, literal or regex.  Bit 0 of
 * the first byte turns credentials on, bit 1 private_network.
 *
 * Invariants: a configuration either loads or fails with a message; a
 * preflight is answered with Access-Control-Allow-Methods; every header
 * value set lies in the configuration, the request or the result; the
 * normalized origin is no longer than the origin and its host lies inside
 * it; the Vary value keeps the old one as its prefix.
 */

#include "fuzz.h"

#include "kong_cors.h"


#define FZ_ORIGINS  8


static void
fz_check(const kong_cors_result_t *res)
{
    size_t  i;

    FZ_CHECK(res->n <= sizeof(res->headers) / sizeof(res->headers[0]));
    for (i = 0; i < res->n; i++) {
        FZ_CHECK(res->headers[i].name != NULL);
        if (res->headers[i].op == KONG_CORS_SET) {
            FZ_CHECK(res->headers[i].value != NULL);
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  rc;
    char                *in, *p, *end, *nl, *lines[3 + FZ_ORIGINS];
    char                *origins[FZ_ORIGINS], *norm, err[256], vary[512];
    size_t               n, i, lens[3 + FZ_ORIGINS], hl, vl;
    const char          *host;
    kong_cors_t         *c;
    kong_header_t        h[3];
    kong_cors_conf_t     conf;
    kong_cors_result_t   res;
    kong_cors_request_t  req;

    in = fz_copy(data, size);
    end = in + size;

    n = 0;
    for (p = in; p < end && n < 3 + FZ_ORIGINS; p = nl + 1) {
        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            nl = end;
        }
        lines[n] = p;
        lens[n] = (size_t) (nl - p);
        n++;
    }

    if (n < 3) {
        free(in);
        return 0;
    }

    norm = malloc(lens[0] + 1);
    FZ_CHECK(norm != NULL);
    hl = kong_cors_normalize(lines[0], lens[0], norm, &host, &vl);
    FZ_CHECK(hl <= lens[0]);
    FZ_CHECK(host >= norm && host + vl <= norm + hl);
    free(norm);

    vl = kong_cors_vary(lines[2], lens[2], vary, sizeof(vary));
    if (vl != 0 && lens[2] > 0) {
        FZ_CHECK(vl >= lens[2] && memcmp(vary, lines[2], lens[2]) == 0);
    }

    for (i = 3; i < n; i++) {
        origins[i - 3] = strndup(lines[i], lens[i]);
        FZ_CHECK(origins[i - 3] != NULL);
    }

    kong_cors_conf_default(&conf);
    conf.origins = (const char *const *) origins;
    conf.n_origins = n - 3;
    conf.credentials = size > 0 && (data[0] & 1);
    conf.private_network = size > 0 && (data[0] & 2);

    c = kong_cors_create(&conf, err, sizeof(err));
    if (c == NULL) {
        FZ_CHECK(fz_terminated(err, sizeof(err)) && err[0] != '\0');

    } else {
        h[0].name = "Origin";
        h[0].name_len = 6;
        h[0].value = lines[0];
        h[0].value_len = lens[0];
        h[1].name = "Access-Control-Request-Headers";
        h[1].name_len = 30;
        h[1].value = lines[1];
        h[1].value_len = lens[1];
        h[2].name = "Access-Control-Request-Method";
        h[2].name_len = 29;
        h[2].value = "GET";
        h[2].value_len = 3;

        req.method = "OPTIONS";
        req.method_len = 7;
        req.headers = h;
        req.nheaders = 3;
        rc = kong_cors_access(c, &req, &res);
        FZ_CHECK(rc == KONG_CORS_ANSWER);
        fz_check(&res);
        for (i = 0; i < res.n; i++) {
            if (strcmp(res.headers[i].name, "Access-Control-Allow-Methods")
                == 0)
            {
                break;
            }
        }
        FZ_CHECK(i < res.n);

        req.method = "GET";
        req.method_len = 3;
        kong_cors_header_filter(c, &req, &res);
        fz_check(&res);
        kong_cors_free(c);
    }

    for (i = 3; i < n; i++) {
        free(origins[i - 3]);
    }
    free(in);
    return 0;
}
