/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * One table describes every option: its flag, its environment variable,
 * its default and its help line.  The parser and --help both read it, so
 * they cannot disagree.
 *
 * This file holds the table, --help, the walk through the environment and
 * argv, and the checks that need several options at once; the setters
 * the table names, which parse and check one value each, are in
 * options_values.c.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "farm_consul.h"
#include "log.h"
#include "options.h"
#include "options_values.h"
#include "token.h"


/* A setter takes the value and returns 0, or -1 with the reason in err. */
typedef int (*farm_opt_set_pt)(farm_opt_ctx_t *ctx, const char *val,
    char *err);

typedef struct {
    const char       *name;
    const char       *env;          /* NULL: flag only */
    const char       *arg;          /* NULL: a switch, no value */
    const char       *dflt;
    const char       *help;
    farm_opt_set_pt   set;
} farm_opt_t;


static const farm_opt_t  farm_opts[] = {

    { "listen", "FARM_LISTEN", "HOST:PORT", "127.0.0.1:9001",
      "address to serve HTTP on; [::1]:9001 for IPv6; port 0 lets the "
      "kernel pick one", farm_opt_listen },

    { "advertise", "FARM_ADVERTISE", "IP[:PORT]", "the listen address",
      "address and port put in the registry record; required with "
      "--registry when listening on 0.0.0.0, :: or a host name",
      farm_opt_advertise },

    { "service", "FARM_SERVICE", "NAME", "agents",
      "service (farm) to join", farm_opt_service },

    { "registry", "FARM_REGISTRY", "URL", "none: serve unregistered",
      "where to register: http(s)://gateway[:port]/path (a gateway's "
      "built-in registry, its farm_registry_api location; needs "
      "--token-file), redis://[[user]:password@]host[:port][/db], "
      "consul://host[:port] or https://host[:port] (Consul over TLS); "
      "repeatable, each registry is kept up independently (FARM_REGISTRY: "
      "URLs apart by spaces or commas)",
      farm_opt_registry },

    { "token-file", "FARM_TOKEN_FILE", "FILE", "none",
      "file holding the token of the service's upstream, sent to http(s):// "
      "gateway registries as \"Authorization: Bearer\"; never logged",
      farm_opt_token_file },

    { "registry-ca", "FARM_REGISTRY_CA", "FILE",
      "the system's CA certificates",
      "CA certificates that verify https:// registries (gateways, and Consul "
      "unless --consul-ca is given)", farm_opt_registry_ca },

    { "id", "FARM_ID", "ID", "<hostname>-<port>",
      "agent id, 1-128 of A-Z a-z 0-9 . _ - : @", farm_opt_id },

    { "region", "FARM_REGION", "NAME", "none",
      "region, for routing clients to near agents", farm_opt_region },

    { "cap", "FARM_CAPS", "a,b", "none",
      "capabilities; repeatable, the lists add up", farm_opt_cap },

    { "weight", "FARM_WEIGHT", "N", "1",
      "share of traffic relative to other agents, 1-1000", farm_opt_weight },

    { "max-conns", "FARM_MAX_CONNS", "N", "0 (unlimited)",
      "requests served at once; more get 503 + Retry-After",
      farm_opt_max_conns },

    { "backup", "FARM_BACKUP", NULL, "off (FARM_BACKUP=1 for on)",
      "only used when no primary agent is available", farm_opt_backup },

    { "meta", "FARM_META", "KEY=VALUE", "none (FARM_META is a JSON object)",
      "free-form metadata in the record; repeatable", farm_opt_meta },

    { "prefix", "FARM_PREFIX", "P", FARM_PREFIX_DEFAULT,
      "Redis key prefix: P:<service>:agent:<id>", farm_opt_prefix },

    { "consul-token", "CONSUL_HTTP_TOKEN", "TOKEN", "none",
      "Consul ACL token, sent as X-Consul-Token; never logged",
      farm_opt_consul_token },

    { "consul-ca", "FARM_CONSUL_CA", "FILE", "the system's CA certificates",
      "CA certificates that verify an https:// Consul", farm_opt_consul_ca },

    { "ttl", "FARM_TTL", "DURATION", "10s",
      "lifetime of the record without heartbeats", farm_opt_ttl },

    { "heartbeat", "FARM_HEARTBEAT", "DURATION", "ttl/3",
      "how often the record's lifetime is renewed; less than --ttl",
      farm_opt_heartbeat },

    { "grace", "FARM_GRACE", "DURATION", "30s",
      "on SIGTERM, longest wait for in-flight requests", farm_opt_grace },

    { "log-level", "FARM_LOG_LEVEL", "LEVEL", "info",
      "debug, info, warn or error", farm_opt_log_level },

    { "pid-file", "FARM_PID_FILE", "PATH", "none",
      "write the process id here; removed on exit", farm_opt_pid_file },

    { "app", "FARM_APP", "URL", "none: serve the built-in endpoints",
      "http://HOST:PORT of your own HTTP server: every request is "
      "forwarded to it, except /_farm/health and /_farm/metrics",
      farm_opt_app },

    { "app-timeout", "FARM_APP_TIMEOUT", "DURATION", "60s",
      "longest silence of the app while it owes bytes (then 504)",
      farm_opt_app_timeout },

    { "app-connect-timeout", "FARM_APP_CONNECT_TIMEOUT", "DURATION", "5s",
      "longest wait for a connection to the app",
      farm_opt_app_connect_timeout },

    { "app-health", "FARM_APP_HEALTH", "PATH", "/",
      "path of the app the agent checks", farm_opt_app_health },

    { "app-health-status", "FARM_APP_HEALTH_STATUS", "CODE[-CODE]",
      "200-399", "answers that pass the check", farm_opt_app_status },

    { "app-health-interval", "FARM_APP_HEALTH_INTERVAL", "DURATION", "1s",
      "time between two checks of the app", farm_opt_app_interval },

    { "app-health-timeout", "FARM_APP_HEALTH_TIMEOUT", "DURATION", "1s",
      "a check with no answer by then fails", farm_opt_app_check_timeout },

    { "app-health-rise", "FARM_APP_HEALTH_RISE", "N", "2",
      "passed checks in a row that bring the app back", farm_opt_app_rise },

    { "app-health-fall", "FARM_APP_HEALTH_FALL", "N", "2",
      "failed checks in a row that take the app down (a refused forward "
      "takes it down at once)", farm_opt_app_fall },

    { "app-down-grace", "FARM_APP_DOWN_GRACE", "DURATION", "30s",
      "how long an app may stay down before the agent deregisters",
      farm_opt_app_down_grace },

    { "register-only", "FARM_REGISTER_ONLY", NULL,
      "off (FARM_REGISTER_ONLY=1 for on)",
      "advertise the app's own address; the agent only checks the app and "
      "keeps the record while it passes", farm_opt_register_only },

    { "max-clients", "FARM_MAX_CLIENTS", "N", "1024 (0: unlimited)",
      "open client connections at once with --app; more are closed",
      farm_opt_max_clients },

    { "client-timeout", "FARM_CLIENT_TIMEOUT", "DURATION", "60s",
      "with --app, a client connection silent this long between requests "
      "(or within a request head) is closed", farm_opt_client_timeout },

    { "auto-weight", "FARM_AUTO_WEIGHT", NULL,
      "off (FARM_AUTO_WEIGHT=1 for on)",
      "the weight /health reports follows the spare CPU and --max-conns "
      "room, smoothed, between --weight/10 and --weight",
      farm_opt_auto_weight },

    { "load-meta", "FARM_LOAD_META", "DURATION", "0 (off)",
      "every DURATION, put load1, cpus and mem_available_mb in the "
      "record's meta and write the record again", farm_opt_load_meta },

    { "busy-poll", "FARM_BUSY_POLL", "USEC", "0 (off)",
      "with --app, poll without sleeping until USEC microseconds pass "
      "with nothing read: less latency, more CPU time",
      farm_opt_busy_poll },
};

#define FARM_NOPTS  (sizeof(farm_opts) / sizeof(farm_opts[0]))

#define FARM_OPT_HELP     'h'
#define FARM_OPT_VERSION  'V'
#define FARM_OPT_BASE     256


/* Prints text indented by 6, wrapped before column 79. */
static void
farm_options_wrap(const char *text)
{
    size_t       col, n;
    const char  *p, *word;

    col = 0;

    for (p = text; *p; p = word + n) {
        word = p + strspn(p, " ");
        n = strcspn(word, " ");

        if (n == 0) {
            break;
        }

        if (col == 0 || col + 1 + n > 78) {
            printf("%s      ", col ? "\n" : "");
            col = 6;

        } else {
            putchar(' ');
            col++;
        }

        printf("%.*s", (int) n, word);
        col += n;
    }

    putchar('\n');
}


static void
farm_options_help(void)
{
    size_t             i;
    char               flag[64];
    const farm_opt_t  *opt;

    printf("Usage: farm-agent [OPTION]... [-- COMMAND [ARG]...]\n"
           "Serve HTTP work (built in, or your own --app), report health "
           "and load, and\nregister in a farm registry.\n\n");

    for (i = 0; i < FARM_NOPTS; i++) {
        opt = &farm_opts[i];

        snprintf(flag, sizeof(flag), "--%s%s%s", opt->name,
                 opt->arg ? " " : "", opt->arg ? opt->arg : "");

        printf("  %-22s env %s, default %s\n", flag, opt->env, opt->dflt);
        farm_options_wrap(opt->help);
    }

    printf("  %-22s print the version and exit\n", "--version");
    printf("  %-22s print this help and exit\n", "--help");

    printf("\n"
        "Flags override environment variables; a --cap or --meta flag "
        "replaces\n"
        "FARM_CAPS or FARM_META.  DURATION is a number with ms, s or m "
        "(bare: seconds).\n\n"
        "Endpoints: GET /health, /work?ms=N[&status=CODE], /echo, "
        "/metrics; with --app\nonly /_farm/health and /_farm/metrics, "
        "everything else goes to the app.\n"
        "Signals: SIGTERM/SIGINT drain and exit (twice: exit now), "
        "SIGUSR1 drain,\n"
        "SIGUSR2 stop draining.\n"
        "With -- COMMAND (and --app) the agent starts the worker, restarts "
        "it when it\ndies, passes SIGHUP on to it and stops it after "
        "draining.\n"
        "Exit status: 0 after a clean shutdown, 1 on a runtime error "
        "(cannot listen),\n"
        "2 on a bad flag or environment variable.\n");
}


static int
farm_options_report(const farm_opt_t *opt, int from_env, const char *err)
{
    if (from_env) {
        fprintf(stderr, "farm-agent: %s: %s\n", opt->env, err);

    } else {
        fprintf(stderr, "farm-agent: --%s: %s\n", opt->name, err);
    }

    return -1;
}


/* Applies every FARM_* variable that is set; returns 0 or -1. */
static int
farm_options_env(farm_opt_ctx_t *ctx)
{
    size_t             i;
    char               err[FARM_ERR_MAX];
    const char        *val;
    const farm_opt_t  *opt;

    ctx->from_env = 1;

    for (i = 0; i < FARM_NOPTS; i++) {
        opt = &farm_opts[i];
        val = getenv(opt->env);

        if (val == NULL) {
            continue;
        }

        if (opt->set(ctx, val, err) != 0) {
            return farm_options_report(opt, 1, err);
        }
    }

    ctx->from_env = 0;

    return 0;
}


/* Applies the flags; returns 0, 1 (help or version printed) or -1. */
static int
farm_options_argv(farm_opt_ctx_t *ctx, int argc, char **argv)
{
    int            c;
    size_t         i;
    char           err[FARM_ERR_MAX];
    struct option  longopts[FARM_NOPTS + 3];

    for (i = 0; i < FARM_NOPTS; i++) {
        longopts[i].name = farm_opts[i].name;
        longopts[i].has_arg = farm_opts[i].arg ? required_argument
                                               : no_argument;
        longopts[i].flag = NULL;
        longopts[i].val = FARM_OPT_BASE + (int) i;
    }

    longopts[i++] = (struct option) { "help", no_argument, NULL,
                                      FARM_OPT_HELP };
    longopts[i++] = (struct option) { "version", no_argument, NULL,
                                      FARM_OPT_VERSION };
    longopts[i] = (struct option) { NULL, 0, NULL, 0 };

    opterr = 0;
    optind = 1;

    for ( ;; ) {
        c = getopt_long(argc, argv, "+:hV", longopts, NULL);

        if (c == -1) {
            break;
        }

        if (c == FARM_OPT_HELP) {
            farm_options_help();
            return 1;
        }

        if (c == FARM_OPT_VERSION) {
            printf("farm-agent %s\n", FARM_AGENT_VERSION);
            return 1;
        }

        if (c == ':') {
            fprintf(stderr, "farm-agent: %s: missing value (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }

        if (c < FARM_OPT_BASE || c >= FARM_OPT_BASE + (int) FARM_NOPTS) {
            fprintf(stderr, "farm-agent: unknown option \"%s\" "
                    "(see --help)\n", argv[optind - 1]);
            return -1;
        }

        if (farm_opts[c - FARM_OPT_BASE].set(ctx, optarg, err) != 0) {
            return farm_options_report(&farm_opts[c - FARM_OPT_BASE], 0,
                                       err);
        }
    }

    if (optind < argc && optind > 1 && strcmp(argv[optind - 1], "--") == 0)
    {
        ctx->o->command = &argv[optind];    /* argv[argc] is NULL */
        return 0;
    }

    if (optind < argc) {
        fprintf(stderr, "farm-agent: unexpected argument \"%s\" "
                "(see --help)\n", argv[optind]);
        return -1;
    }

    return 0;
}


static int
farm_is_wildcard(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0
           || strcmp(host, "0:0:0:0:0:0:0:0") == 0;
}


/* Checks that need several options at once; returns 0 or -1. */
static int
farm_options_check(farm_opt_ctx_t *ctx)
{
    int               api, tls, consul, consul_tls;
    char             *text;
    char              err[FARM_ERR_MAX];
    unsigned          i;
    farm_url_t       *u;
    farm_options_t   *o;

    o = ctx->o;
    api = tls = consul = consul_tls = 0;

    if (o->heartbeat_ms == 0) {
        o->heartbeat_ms = o->ttl_ms / 3;

    } else if (o->heartbeat_ms >= o->ttl_ms) {
        fprintf(stderr, "farm-agent: --heartbeat: %lldms is not less than "
                "--ttl %lldms; the record would expire between "
                "heartbeats\n", (long long) o->heartbeat_ms,
                (long long) o->ttl_ms);
        return -1;
    }

    if (o->registry_set && o->advertise_host[0] == '\0') {
        if (farm_is_wildcard(o->listen_host)) {
            fprintf(stderr, "farm-agent: --advertise: required when "
                    "listening on %s with --registry: the record needs the "
                    "address other hosts reach this agent at\n",
                    o->listen_host);
            return -1;
        }

        if (!farm_valid_address(o->listen_host)) {
            fprintf(stderr, "farm-agent: --advertise: required when "
                    "--listen names a host (\"%s\") with --registry: the "
                    "record needs an IP address\n", o->listen_host);
            return -1;
        }
    }

    for (i = 0; i < o->nregistries; i++) {
        u = &o->registries[i];
        api |= (u->type == FARM_URL_API);
        tls |= u->tls;
        consul |= (u->type == FARM_URL_CONSUL);
        consul_tls |= (u->type == FARM_URL_CONSUL && u->tls);
    }

    if (o->consul_ca && !consul_tls) {
        fprintf(stderr, "farm-agent: --consul-ca: needs an https:// Consul "
                "--registry\n");
        return -1;
    }

    if (o->registry_ca && !tls) {
        fprintf(stderr, "farm-agent: --registry-ca: needs an https:// "
                "--registry\n");
        return -1;
    }

    if (api && o->token_file == NULL) {
        fprintf(stderr, "farm-agent: --token-file: required with an "
                "http(s):// gateway --registry: the gateway refuses "
                "registrations without its token\n");
        return -1;
    }

    if (o->token_file && !api) {
        fprintf(stderr, "farm-agent: --token-file: needs an http(s):// "
                "gateway --registry (a URL with a path)\n");
        return -1;
    }

    if (o->token_file
        && farm_token_read(o->token_file, o->token, sizeof(o->token), err)
           != 0)
    {
        fprintf(stderr, "farm-agent: --token-file: %s\n", err);
        return -1;
    }

    if (o->command && (!o->app_set || o->register_only)) {
        fprintf(stderr, "farm-agent: -- %s: a worker to supervise needs "
                "--app (and not --register-only)\n", o->command[0]);
        return -1;
    }

    if (!o->app_set && (o->app_flag_seen || o->register_only)) {
        fprintf(stderr, "farm-agent: --app: required by --register-only and "
                "the --app-* options\n");
        return -1;
    }

    if (json_object_size(ctx->meta) > 0) {
        text = json_dumps(ctx->meta, JSON_COMPACT);
        if (text == NULL) {
            fprintf(stderr, "farm-agent: --meta: out of memory\n");
            return -1;
        }

        if (farm_record_set_meta(&o->record, text, err) != 0) {
            free(text);
            fprintf(stderr, "farm-agent: --meta: %s\n",
                    strncmp(err, "meta: ", 6) == 0 ? err + 6 : err);
            return -1;
        }

        free(text);
    }

    /* Consul Meta has rules of its own: refuse now, not at registration */

    if (consul && farm_consul_check_meta(o->record.meta, err) != 0)
    {
        fprintf(stderr, "farm-agent: --meta: %s\n",
                strncmp(err, "meta: ", 6) == 0 ? err + 6 : err);
        return -1;
    }

    return 0;
}


int
farm_options_parse(farm_options_t *o, int argc, char **argv)
{
    int             rc;
    farm_opt_ctx_t  ctx;

    memset(o, 0, sizeof(farm_options_t));
    farm_record_init(&o->record);

    strcpy(o->listen_host, "127.0.0.1");
    o->listen_port = 9001;
    strcpy(o->record.service, "agents");
    strcpy(o->prefix, FARM_PREFIX_DEFAULT);
    o->ttl_ms = FARM_TTL_DEFAULT;
    o->grace_ms = FARM_GRACE_DEFAULT;
    o->log_level = FARM_LOG_INFO;
    o->app_timeout_ms = 60000;
    o->app_connect_timeout_ms = 5000;
    strcpy(o->app_health, "/");
    o->app_status_min = 200;
    o->app_status_max = 399;
    o->app_interval_ms = 1000;
    o->app_check_timeout_ms = 1000;
    o->app_rise = 2;
    o->app_fall = 2;
    o->app_down_grace_ms = 30000;
    o->max_clients = 1024;
    o->client_timeout_ms = 60000;

    memset(&ctx, 0, sizeof(farm_opt_ctx_t));
    ctx.o = o;
    ctx.meta = json_object();

    if (ctx.meta == NULL) {
        fprintf(stderr, "farm-agent: out of memory\n");
        return -1;
    }

    rc = farm_options_env(&ctx);

    if (rc == 0) {
        rc = farm_options_argv(&ctx, argc, argv);
    }

    if (rc == 0) {
        rc = farm_options_check(&ctx);
    }

    json_decref(ctx.meta);

    return rc;
}


void
farm_options_free(farm_options_t *o)
{
    memset(o->token, 0, sizeof(o->token));
    farm_record_free(&o->record);
}
