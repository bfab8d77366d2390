/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm-kong: check a Kong declarative configuration, or ask its router.
 *
 *   farm-kong check FILE                exit 0 and "parse successful", or
 *                                       the errors (FILE:LINE:COL: path:
 *                                       message) on stderr and exit 1
 *   farm-kong match FILE METHOD HOST URI [NAME:VALUE ...] [--https]
 *                                       which route a request takes and the
 *                                       upstream URI
 *   farm-kong stats FILE                entity counts and the memory the
 *                                       loaded configuration holds
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kong.h"
#include "kong_int.h"


static int
usage(void)
{
    fprintf(stderr, "usage: farm-kong check FILE\n"
                    "       farm-kong match FILE METHOD HOST URI "
                    "[NAME:VALUE ...] [--https]\n"
                    "       farm-kong stats FILE\n");
    return 2;
}


static kong_config_t *
load(const char *file)
{
    kong_config_t  *cfg;
    kong_errors_t   errs;

    cfg = kong_load_file(file, 0, &errs);

    if (cfg == NULL) {
        fprintf(stderr, "Error: Failed parsing:\n");
        kong_errors_print(&errs, stderr);
    }

    kong_errors_free(&errs);

    return cfg;
}


static int
match(kong_config_t *cfg, int argc, char **argv)
{
    int              i, nh;
    char            *buf, *c;
    size_t           size;
    kong_match_t     m;
    kong_header_t    hs[32];
    kong_request_t   r;

    memset(&r, 0, sizeof(r));
    r.method = argv[0];
    r.method_len = strlen(argv[0]);
    r.host = argv[1];
    r.host_len = strlen(argv[1]);
    r.uri = argv[2];
    r.uri_len = strlen(argv[2]);
    r.port = 80;

    nh = 0;

    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--https") == 0) {
            r.https = 1;
            r.port = 443;
            continue;
        }

        c = strchr(argv[i], ':');
        if (c == NULL || nh == 32) {
            return usage();
        }

        hs[nh].name = argv[i];
        hs[nh].name_len = (size_t) (c - argv[i]);
        hs[nh].value = c + 1;
        hs[nh].value_len = strlen(c + 1);
        nh++;
    }

    r.headers = hs;
    r.nheaders = (size_t) nh;

    size = KONG_MATCH_BUF(cfg, r.uri_len);
    buf = malloc(size);
    if (buf == NULL) {
        return 1;
    }

    if (kong_match(cfg, &r, &m, buf, size) != 0) {
        free(buf);
        return 1;
    }

    if (m.route == NULL) {
        printf("status %u (no route)\n", m.status);

    } else {
        printf("route %s (%s)\n", m.route->name ? m.route->name : "-",
               m.route->path_in_file);
        printf("status %u\n", m.status);

        if (m.service) {
            printf("service %s %s://%s:%u\n",
                   m.service->name ? m.service->name : "-",
                   m.service->protocol == KONG_PROTO_HTTPS ? "https"
                                                           : "http",
                   m.service->host, m.service->port);
        }

        if (m.upstream_uri) {
            printf("upstream_uri %.*s\n", (int) m.upstream_uri_len,
                   m.upstream_uri);
        }

        if (m.prefix) {
            printf("x-forwarded-prefix %.*s\n", (int) m.prefix_len,
                   m.prefix);
        }
    }

    free(buf);

    return 0;
}


static void
stats(const kong_config_t *cfg)
{
    size_t  bytes;

    bytes = kong_pool_size(cfg->pool);

    printf("services %zu\nroutes %zu\nupstreams %zu\ntargets %zu\n"
           "consumers %zu\ncredentials %zu\nplugins %zu\n"
           "memory %zu bytes", cfg->nservices, cfg->nroutes,
           cfg->nupstreams, cfg->ntargets, cfg->nconsumers,
           cfg->ncredentials, cfg->plugins.n, bytes);

    if (cfg->nroutes) {
        printf(" (%zu per route)", bytes / cfg->nroutes);
    }

    printf("\n");
}


int
main(int argc, char **argv)
{
    int             rc;
    kong_config_t  *cfg;

    if (argc < 3) {
        return usage();
    }

    if (strcmp(argv[1], "check") == 0 && argc == 3) {
        cfg = load(argv[2]);
        if (cfg == NULL) {
            return 1;
        }

        printf("parse successful\n");
        kong_config_free(cfg);
        return 0;
    }

    if (strcmp(argv[1], "stats") == 0 && argc == 3) {
        cfg = load(argv[2]);
        if (cfg == NULL) {
            return 1;
        }

        stats(cfg);
        kong_config_free(cfg);
        return 0;
    }

    if (strcmp(argv[1], "match") == 0 && argc >= 6) {
        cfg = load(argv[2]);
        if (cfg == NULL) {
            return 1;
        }

        rc = match(cfg, argc - 3, argv + 3);
        kong_config_free(cfg);
        return rc;
    }

    return usage();
}
