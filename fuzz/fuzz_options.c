/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_options_parse (agent/options.c): farm-agent's flags and FARM_*
 * environment.  The input is split on NUL bytes into tokens: "\x01KEY"
 * followed by a token VALUE sets environment variable KEY (FARM_<KEY>, or
 * CONSUL_HTTP_TOKEN for "T"), anything else is an argument.
 *
 * Invariants: the result is -1, 0 or 1; when 0, the record main() would
 * complete (address, port, id filled in the way main() does) validates,
 * 100 ms <= ttl <= one day, 0 < heartbeat < ttl, the prefix is a valid
 * name, an advertised host is an IP address, and the meta fits Consul when
 * the registry is Consul.
 */

#include <getopt.h>

#include "fuzz.h"

#include "farm_consul.h"
#include "options.h"


#define FZ_ARGS  64
#define FZ_ENVS  8


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int              rc, argc, nenv, i;
    char            *s, *p, *end, *tok, *argv[FZ_ARGS + 2];
    char             env[FZ_ENVS][64], err[FARM_ERR_MAX];
    char            *dummy[] = { (char *) "fz", NULL };
    farm_options_t   o;

    s = fz_copy(data, size);
    end = s + size;

    argc = 0;
    nenv = 0;
    argv[argc++] = (char *) "farm-agent";

    /* tokens are NUL-terminated in place; the last one may run to end */

    p = s;

    while (p < end && argc < FZ_ARGS) {
        tok = p;
        p = memchr(p, '\0', end - p);

        if (p == NULL) {
            break;      /* an unterminated last token is dropped */
        }

        p++;

        if (tok[0] == '\x01' && nenv < FZ_ENVS && p < end) {
            if (tok[1] == 'T' && tok[2] == '\0') {
                snprintf(env[nenv], sizeof(env[0]), "CONSUL_HTTP_TOKEN");

            } else {
                snprintf(env[nenv], sizeof(env[0]), "FARM_%.50s", tok + 1);
            }

            tok = p;
            p = memchr(p, '\0', end - p);

            if (p == NULL) {
                break;
            }

            p++;

            setenv(env[nenv++], tok, 1);
            continue;
        }

        argv[argc++] = tok;
    }

    argv[argc] = NULL;

    /* forget any state an earlier run left in getopt */

    optind = 0;
    (void) getopt(1, dummy, "");

    rc = farm_options_parse(&o, argc, argv);

    FZ_CHECK(rc >= -1 && rc <= 1);

    if (rc == 0) {
        FZ_CHECK(o.ttl_ms >= 100 && o.ttl_ms <= FARM_DURATION_MAX);
        FZ_CHECK(o.heartbeat_ms > 0 && o.heartbeat_ms < o.ttl_ms);
        FZ_CHECK(o.grace_ms >= 0 && o.grace_ms <= FARM_DURATION_MAX);
        FZ_CHECK(farm_valid_name(o.prefix, strlen(o.prefix),
                                 FARM_PREFIX_MAX));
        FZ_CHECK(o.advertise_host[0] == '\0'
                 || farm_valid_address(o.advertise_host));
        FZ_CHECK(o.listen_port <= 65535 && o.advertise_port <= 65535);

        /* what main() adds once the listener is bound */

        if (o.advertise_host[0]) {
            strcpy(o.record.address, o.advertise_host);

        } else if (farm_valid_address(o.listen_host)) {
            strcpy(o.record.address, o.listen_host);

        } else {
            FZ_CHECK(!o.registry_set);
            strcpy(o.record.address, "127.0.0.1");
        }

        o.record.port = o.advertise_port ? o.advertise_port
                      : o.listen_port ? o.listen_port : 9001;

        if (!o.id_set) {
            strcpy(o.record.id, "fz-9001");
        }

        if (farm_record_validate(&o.record, err) != 0) {
            fprintf(stderr, "options give an invalid record: %s\n", err);
            FZ_CHECK(0);
        }

        for (i = 0; i < (int) o.nregistries; i++) {
            if (o.registries[i].type == FARM_URL_CONSUL) {
                FZ_CHECK(farm_consul_check_meta(o.record.meta, err) == 0);
            }
        }
    }

    farm_options_free(&o);

    for (i = 0; i < nenv; i++) {
        unsetenv(env[i]);
    }

    free(s);

    return 0;
}
