/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * libFuzzer harness for the kong.yml loader, validator and router: any
 * input must load or fail with errors, never crash, leak or hang; a loaded
 * configuration must answer a few requests (`make fuzz-kong`).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kong.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
fuzz_request(kong_config_t *cfg, const char *method, const char *host,
    const char *uri, int https)
{
    char            *buf;
    size_t           n;
    kong_match_t     m;
    kong_header_t    h[2];
    kong_request_t   r;

    memset(&r, 0, sizeof(r));
    r.method = method;
    r.method_len = strlen(method);
    r.host = host;
    r.host_len = strlen(host);
    r.uri = uri;
    r.uri_len = strlen(uri);
    r.port = https ? 443 : 80;
    r.https = https;
    r.sni = https ? host : NULL;
    r.sni_len = https ? strlen(host) : 0;

    h[0].name = "X-Version";
    h[0].name_len = 9;
    h[0].value = "v2";
    h[0].value_len = 2;
    h[1].name = "accept";
    h[1].name_len = 6;
    h[1].value = "*/*";
    h[1].value_len = 3;
    r.headers = h;
    r.nheaders = 2;

    n = KONG_MATCH_BUF(cfg, r.uri_len);
    buf = malloc(n);
    if (buf == NULL) {
        return;
    }

    if (kong_match(cfg, &r, &m, buf, n) == 0 && m.upstream_uri) {
        /* touch every byte the caller would read */
        if (memchr(m.upstream_uri, '\0', m.upstream_uri_len) != NULL) {
            abort();
        }
    }

    free(buf);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kong_config_t  *cfg;
    kong_errors_t   errs;
    char            line[2048];
    size_t          i;

    cfg = kong_load_string("fuzz.yml", (const char *) data, size,
                           size & 1 ? KONG_LOAD_SKIP_INVALID : 0, &errs);

    for (i = 0; i < errs.n; i++) {
        kong_error_format(&errs, i, line, sizeof(line));
    }

    kong_errors_free(&errs);

    if (cfg == NULL) {
        return 0;
    }

    fuzz_request(cfg, "GET", "example.com", "/", 0);
    fuzz_request(cfg, "POST", "a.example.com:8080", "/api/v1/../users?x=1",
                 0);
    fuzz_request(cfg, "GET", "example.org", "/%2e%2E/a//b/./c%41", 1);
    fuzz_request(cfg, "DELETE", "[::1]:443", "/route/", 1);

    kong_config_free(cfg);

    return 0;
}
