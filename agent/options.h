/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm-agent's configuration: command-line flags, each also settable from
 * an environment variable (flags win), and --help.
 */

#ifndef FARM_OPTIONS_H
#define FARM_OPTIONS_H

#include <stdint.h>

#include "farm_keys.h"
#include "farm_record.h"
#include "farm_url.h"


#define FARM_AGENT_VERSION   "0.1.0"

#define FARM_TTL_DEFAULT     10000       /* ms */
#define FARM_GRACE_DEFAULT   30000       /* ms */
#define FARM_DURATION_MAX    86400000    /* ms, one day */
#define FARM_APP_PATH_LEN    1024
#define FARM_REGISTRIES_MAX  8           /* --registry, given several times */
#define FARM_TOKEN_MAX       1024        /* --token-file's content */


typedef struct {
    char           listen_host[FARM_HOST_MAX + 1];
    unsigned       listen_port;             /* 0: the kernel picks one */
    char           advertise_host[FARM_ADDRESS_MAX + 1];   /* "" = unset */
    unsigned       advertise_port;          /* 0 = the listen port */
    int            registry_set;            /* nregistries > 0 */
    unsigned       nregistries;
    farm_url_t     registries[FARM_REGISTRIES_MAX];
    char           prefix[FARM_PREFIX_MAX + 1];
    int            id_set;
    char           consul_token[FARM_SECRET_MAX + 1];   /* "" = none */
    const char    *consul_ca;               /* NULL: the system's CAs */
    const char    *registry_ca;             /* NULL: the system's CAs */

    /* --token-file: a gateway's registry API token (never logged) */
    const char    *token_file;              /* NULL: none */
    char           token[FARM_TOKEN_MAX + 1];

    /*
     * The record being built: id (when --id is given), service, region,
     * caps, weight, max_conns, backup and meta.  main() fills in the rest
     * (address, port, default id) once the listener is bound.
     */
    farm_record_t  record;

    int64_t        ttl_ms;
    int64_t        heartbeat_ms;
    int64_t        grace_ms;
    int            log_level;
    const char    *pid_file;                /* points into argv or environ */

    /* --app: the user's own HTTP server in front of which the agent runs */
    int            app_set;
    char           app_url[FARM_HOST_MAX + 32];     /* as given, for logs */
    char           app_host[FARM_HOST_MAX + 1];
    unsigned       app_port;
    int64_t        app_timeout_ms;
    int64_t        app_connect_timeout_ms;
    char           app_health[FARM_APP_PATH_LEN + 1];
    unsigned       app_status_min;
    unsigned       app_status_max;
    int64_t        app_interval_ms;
    int64_t        app_check_timeout_ms;
    unsigned       app_rise;
    unsigned       app_fall;
    int64_t        app_down_grace_ms;
    int            register_only;
    unsigned       max_clients;             /* 0: unlimited */
    int64_t        client_timeout_ms;
    char         **command;                 /* after "--": the worker */
    int            auto_weight;             /* weight follows spare room */
    int64_t        load_meta_ms;            /* 0: no load in the meta */
    int64_t        busy_poll_us;            /* 0: the loop sleeps */
    int            app_flag_seen;           /* some --app-* without --app */
} farm_options_t;


/*
 * Fills o from the environment, then from argv.  Returns 0 when the agent
 * should run, 1 when --help or --version was printed (exit 0), and -1 after
 * printing a one-line error naming the flag or variable (exit 2).  o owns
 * o->record.meta afterwards: release with farm_options_free, also after -1.
 */
int farm_options_parse(farm_options_t *o, int argc, char **argv);

void farm_options_free(farm_options_t *o);

#endif /* FARM_OPTIONS_H */
