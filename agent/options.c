/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * One table describes every option: its flag, its environment variable,
 * its default and its help line.  The parser and --help both read it, so
 * they cannot disagree.
 */

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "farm_consul.h"
#include "log.h"
#include "options.h"


typedef struct {
    farm_options_t  *o;
    json_t          *meta;          /* --meta / FARM_META being built */
    int              from_env;
    int              caps_flag;     /* a --cap flag was seen */
    int              meta_flag;     /* a --meta flag was seen */
} farm_opt_ctx_t;

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


static int farm_opt_listen(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_advertise(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_service(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_registry(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_id(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_region(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_cap(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_weight(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_max_conns(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_backup(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_meta(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_prefix(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_ttl(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_heartbeat(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_grace(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_log_level(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_pid_file(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_consul_token(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_consul_ca(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_app(farm_opt_ctx_t *ctx, const char *val, char *err);
static int farm_opt_app_timeout(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_app_connect_timeout(farm_opt_ctx_t *ctx,
    const char *val, char *err);
static int farm_opt_app_health(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_app_status(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_app_interval(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_app_check_timeout(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_app_rise(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_app_fall(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_app_down_grace(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_register_only(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_max_clients(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_auto_weight(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_client_timeout(farm_opt_ctx_t *ctx, const char *val,
    char *err);
static int farm_opt_load_meta(farm_opt_ctx_t *ctx, const char *val,
    char *err);


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
      "redis://[[user]:password@]host[:port][/db], consul://host[:port] or "
      "https://host[:port] (Consul over TLS) to register in",
      farm_opt_registry },

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
};

#define FARM_NOPTS  (sizeof(farm_opts) / sizeof(farm_opts[0]))

#define FARM_OPT_HELP     'h'
#define FARM_OPT_VERSION  'V'
#define FARM_OPT_BASE     256


static void farm_opt_err(char *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
farm_opt_err(char *err, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(err, FARM_ERR_MAX, fmt, ap);
    va_end(ap);
}


/* Parses a decimal number of at most max; returns 0 or -1. */
static int
farm_opt_number(const char *s, unsigned long max, unsigned long *out)
{
    unsigned long  n;

    if (*s == '\0') {
        return -1;
    }

    for (n = 0; *s; s++) {
        if (*s < '0' || *s > '9') {
            return -1;
        }

        n = n * 10 + (unsigned long) (*s - '0');

        if (n > max) {
            return -1;
        }
    }

    *out = n;

    return 0;
}


/*
 * Parses "250ms", "10s", "2m" or "10" (seconds) into milliseconds, at most
 * FARM_DURATION_MAX.  Returns 0 or -1.
 */
static int
farm_opt_duration(const char *s, int64_t *ms)
{
    char           num[16];
    size_t         n;
    unsigned long  v, unit;

    n = strspn(s, "0123456789");

    if (n == 0 || n >= sizeof(num)) {
        return -1;
    }

    if (s[n] == '\0' || strcmp(s + n, "s") == 0) {
        unit = 1000;

    } else if (strcmp(s + n, "ms") == 0) {
        unit = 1;

    } else if (strcmp(s + n, "m") == 0) {
        unit = 60000;

    } else {
        return -1;
    }

    memcpy(num, s, n);
    num[n] = '\0';

    if (farm_opt_number(num, FARM_DURATION_MAX / unit, &v) != 0) {
        return -1;
    }

    *ms = (int64_t) (v * unit);

    return 0;
}


/*
 * Splits "host:port", "[v6]:port" (and, if port_optional, "host", "[v6]"
 * or a bare IPv6 literal) into host (FARM_HOST_MAX + 1 bytes) and *port,
 * which is left alone when absent.  Ports go from min_port to 65535.
 */
static int
farm_opt_hostport(const char *s, char *host, unsigned *port,
    unsigned min_port, int port_optional, char *err)
{
    size_t         n;
    const char    *end, *colon;
    unsigned long  p;

    if (s[0] == '[') {
        end = strchr(s, ']');
        if (end == NULL) {
            farm_opt_err(err, "missing \"]\" in \"%.64s\"", s);
            return -1;
        }

        s++;
        n = end - s;
        colon = end[1] == ':' ? end + 1 : NULL;

        if (colon == NULL && end[1] != '\0') {
            farm_opt_err(err, "unexpected text after \"]\" in \"%.64s\"",
                         s - 1);
            return -1;
        }

    } else {
        colon = strrchr(s, ':');

        if (colon && strchr(s, ':') != colon) {
            if (!port_optional || !farm_valid_address(s)) {
                farm_opt_err(err, "put an IPv6 address in brackets, as in "
                             "[::1]:9001");
                return -1;
            }

            colon = NULL;
        }

        n = colon ? (size_t) (colon - s) : strlen(s);
    }

    if (n == 0 || n > FARM_HOST_MAX) {
        farm_opt_err(err, "missing or too long host in \"%.64s\"", s);
        return -1;
    }

    if (colon == NULL && !port_optional) {
        farm_opt_err(err, "\"%.64s\" has no port; use HOST:PORT", s);
        return -1;
    }

    if (colon) {
        if (farm_opt_number(colon + 1, 65535, &p) != 0 || p < min_port) {
            farm_opt_err(err, "port must be a number from %u to 65535",
                         min_port);
            return -1;
        }

        *port = (unsigned) p;
    }

    memcpy(host, s, n);
    host[n] = '\0';

    return 0;
}


/*
 * Checks one record field with farm_record_validate: copies what the
 * caller set in probe's field into an otherwise valid record and strips
 * the field name from the reason, since the caller names the flag.
 */
static int
farm_opt_check_record(farm_record_t *probe, char *err)
{
    char  reason[FARM_ERR_MAX];
    char *p;

    if (probe->id[0] == '\0') {
        strcpy(probe->id, "probe");
    }

    if (probe->service[0] == '\0') {
        strcpy(probe->service, "probe");
    }

    strcpy(probe->address, "127.0.0.1");
    probe->port = 1;

    if (farm_record_validate(probe, reason) == 0) {
        return 0;
    }

    p = strstr(reason, ": ");
    farm_opt_err(err, "%s", p ? p + 2 : reason);

    return -1;
}


static int
farm_opt_listen(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    return farm_opt_hostport(val, ctx->o->listen_host, &ctx->o->listen_port,
                             0, 0, err);
}


static int
farm_opt_advertise(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    char      host[FARM_HOST_MAX + 1];
    unsigned  port;

    port = 0;

    if (farm_opt_hostport(val, host, &port, 1, 1, err) != 0) {
        return -1;
    }

    if (!farm_valid_address(host)) {
        farm_opt_err(err, "\"%.64s\" is not an IPv4 or IPv6 address", host);
        return -1;
    }

    strcpy(ctx->o->advertise_host, host);
    ctx->o->advertise_port = port;

    return 0;
}


static int
farm_opt_service(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    farm_record_t  probe;

    farm_record_init(&probe);

    if (strlen(val) > FARM_SERVICE_MAX) {
        farm_opt_err(err, "longer than %d bytes", FARM_SERVICE_MAX);
        return -1;
    }

    if (val[0] == '\0') {
        farm_opt_err(err, "must not be empty");
        return -1;
    }

    strcpy(probe.service, val);

    if (farm_opt_check_record(&probe, err) != 0) {
        return -1;
    }

    strcpy(ctx->o->record.service, val);

    return 0;
}


static int
farm_opt_registry(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (val[0] == '\0') {
        ctx->o->registry_set = 0;
        return 0;
    }

    if (farm_url_parse(&ctx->o->registry, val, strlen(val), err) != 0) {
        return -1;
    }

    ctx->o->registry_set = 1;

    return 0;
}


static int
farm_opt_id(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    farm_record_t  probe;

    farm_record_init(&probe);

    if (val[0] == '\0' || strlen(val) > FARM_ID_MAX) {
        farm_opt_err(err, "must be 1-%d bytes", FARM_ID_MAX);
        return -1;
    }

    strcpy(probe.id, val);

    if (farm_opt_check_record(&probe, err) != 0) {
        return -1;
    }

    strcpy(ctx->o->record.id, val);
    ctx->o->id_set = 1;

    return 0;
}


static int
farm_opt_region(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    farm_record_t  probe;

    farm_record_init(&probe);

    if (strlen(val) > FARM_REGION_MAX) {
        farm_opt_err(err, "longer than %d bytes", FARM_REGION_MAX);
        return -1;
    }

    strcpy(probe.region, val);

    if (farm_opt_check_record(&probe, err) != 0) {
        return -1;
    }

    strcpy(ctx->o->record.region, val);

    return 0;
}


static int
farm_opt_cap(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    char  reason[FARM_ERR_MAX];
    char *p;

    if (!ctx->from_env && !ctx->caps_flag) {
        ctx->caps_flag = 1;
        ctx->o->record.ncaps = 0;       /* flags replace FARM_CAPS */
    }

    if (farm_record_add_caps(&ctx->o->record, val, reason) != 0) {
        p = strstr(reason, ": ");
        farm_opt_err(err, "%s", p ? p + 2 : reason);
        return -1;
    }

    return 0;
}


static int
farm_opt_weight(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    unsigned long  n;
    farm_record_t  probe;

    if (farm_opt_number(val, FARM_WEIGHT_MAX, &n) != 0) {
        farm_opt_err(err, "must be an integer from 1 to %d, not \"%.32s\"",
                     FARM_WEIGHT_MAX, val);
        return -1;
    }

    farm_record_init(&probe);
    probe.weight = (unsigned) n;

    if (farm_opt_check_record(&probe, err) != 0) {
        return -1;
    }

    ctx->o->record.weight = (unsigned) n;

    return 0;
}


static int
farm_opt_max_conns(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    unsigned long  n;
    farm_record_t  probe;

    if (farm_opt_number(val, FARM_MAX_CONNS_MAX, &n) != 0) {
        farm_opt_err(err, "must be an integer from 0 to %d, not \"%.32s\"",
                     FARM_MAX_CONNS_MAX, val);
        return -1;
    }

    farm_record_init(&probe);
    probe.max_conns = (unsigned) n;

    if (farm_opt_check_record(&probe, err) != 0) {
        return -1;
    }

    ctx->o->record.max_conns = (unsigned) n;

    return 0;
}


static int
farm_opt_backup(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    static const char  *on[] = { "1", "true", "yes", "on" };
    static const char  *off[] = { "0", "false", "no", "off", "" };
    size_t              i;

    if (!ctx->from_env) {
        ctx->o->record.backup = 1;
        return 0;
    }

    for (i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
        if (strcmp(val, on[i]) == 0) {
            ctx->o->record.backup = 1;
            return 0;
        }
    }

    for (i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        if (strcmp(val, off[i]) == 0) {
            ctx->o->record.backup = 0;
            return 0;
        }
    }

    farm_opt_err(err, "must be 1 or 0, not \"%.32s\"", val);

    return -1;
}


static int
farm_opt_meta(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    json_t        *obj;
    const char    *eq;
    json_error_t   jerr;

    if (ctx->from_env) {
        obj = json_loads(val, JSON_REJECT_DUPLICATES, &jerr);
        if (obj == NULL) {
            farm_opt_err(err, "invalid JSON: %s", jerr.text);
            return -1;
        }

        if (!json_is_object(obj)) {
            json_decref(obj);
            farm_opt_err(err, "must be a JSON object");
            return -1;
        }

        json_decref(ctx->meta);
        ctx->meta = obj;

        return 0;
    }

    if (!ctx->meta_flag) {
        ctx->meta_flag = 1;             /* flags replace FARM_META */
        json_object_clear(ctx->meta);
    }

    eq = strchr(val, '=');
    if (eq == NULL || eq == val) {
        farm_opt_err(err, "\"%.64s\" is not KEY=VALUE", val);
        return -1;
    }

    if (json_object_setn_new(ctx->meta, val, eq - val, json_string(eq + 1))
        != 0)
    {
        farm_opt_err(err, "\"%.64s\": key or value is not valid UTF-8", val);
        return -1;
    }

    return 0;
}


static int
farm_opt_prefix(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (!farm_valid_name(val, strlen(val), FARM_PREFIX_MAX)) {
        farm_opt_err(err, "must be 1-%d of A-Z a-z 0-9 . _ -, starting "
                     "with a letter or digit", FARM_PREFIX_MAX);
        return -1;
    }

    strcpy(ctx->o->prefix, val);

    return 0;
}


static int
farm_opt_ttl(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (farm_opt_duration(val, &ctx->o->ttl_ms) != 0
        || ctx->o->ttl_ms < 100)
    {
        farm_opt_err(err, "must be a duration from 100ms to 1440m, as in "
                     "10s, 500ms or 2m");
        return -1;
    }

    return 0;
}


static int
farm_opt_heartbeat(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (farm_opt_duration(val, &ctx->o->heartbeat_ms) != 0
        || ctx->o->heartbeat_ms < 10)
    {
        farm_opt_err(err, "must be a duration from 10ms to 1440m, as in "
                     "3s or 500ms");
        return -1;
    }

    return 0;
}


static int
farm_opt_grace(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (farm_opt_duration(val, &ctx->o->grace_ms) != 0) {
        farm_opt_err(err, "must be a duration up to 1440m, as in 30s, "
                     "500ms or 2m");
        return -1;
    }

    return 0;
}


static int
farm_opt_log_level(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->log_level = farm_log_level_parse(val);

    if (ctx->o->log_level < 0) {
        farm_opt_err(err, "must be debug, info, warn or error, not "
                     "\"%.32s\"", val);
        return -1;
    }

    return 0;
}


static int
farm_opt_pid_file(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (val[0] == '\0') {
        farm_opt_err(err, "must not be empty");
        return -1;
    }

    ctx->o->pid_file = val;

    return 0;
}


static int
farm_opt_consul_token(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    const char  *p;

    if (strlen(val) > FARM_SECRET_MAX) {
        farm_opt_err(err, "longer than %d bytes", FARM_SECRET_MAX);
        return -1;
    }

    for (p = val; *p; p++) {
        if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f) {
            farm_opt_err(err, "must be printable characters without "
                         "spaces");
            return -1;
        }
    }

    strcpy(ctx->o->consul_token, val);      /* "" unsets it */

    return 0;
}


static int
farm_opt_consul_ca(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (val[0] == '\0') {
        farm_opt_err(err, "must not be empty");
        return -1;
    }

    ctx->o->consul_ca = val;

    return 0;
}


/* Switches read "1"/"0" (and the like) from the environment. */
static int
farm_opt_switch(farm_opt_ctx_t *ctx, const char *val, int *out, char *err)
{
    static const char  *on[] = { "1", "true", "yes", "on" };
    static const char  *off[] = { "0", "false", "no", "off", "" };
    size_t              i;

    if (!ctx->from_env) {
        *out = 1;
        return 0;
    }

    for (i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
        if (strcmp(val, on[i]) == 0) {
            *out = 1;
            return 0;
        }
    }

    for (i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        if (strcmp(val, off[i]) == 0) {
            *out = 0;
            return 0;
        }
    }

    farm_opt_err(err, "must be 1 or 0, not \"%.32s\"", val);

    return -1;
}


static int
farm_opt_app(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    size_t  n;
    char    hostport[FARM_HOST_MAX + 16];

    if (val[0] == '\0') {
        ctx->o->app_set = 0;
        return 0;
    }

    if (strncmp(val, "http://", 7) != 0) {
        farm_opt_err(err, "must be http://HOST:PORT, not \"%.64s\"", val);
        return -1;
    }

    n = strcspn(val + 7, "/");

    if (n >= sizeof(hostport) || (val[7 + n] && strcmp(val + 7 + n, "/"))) {
        farm_opt_err(err, "must be http://HOST:PORT with no path, not "
                     "\"%.64s\"", val);
        return -1;
    }

    memcpy(hostport, val + 7, n);
    hostport[n] = '\0';

    if (farm_opt_hostport(hostport, ctx->o->app_host, &ctx->o->app_port, 1,
                          0, err) != 0)
    {
        return -1;
    }

    snprintf(ctx->o->app_url, sizeof(ctx->o->app_url), "http://%s", hostport);
    ctx->o->app_set = 1;

    return 0;
}


static int
farm_opt_positive_duration(const char *val, int64_t min, int64_t *out,
    char *err)
{
    if (farm_opt_duration(val, out) != 0 || *out < min) {
        farm_opt_err(err, "must be a duration from %lldms to 1440m, as in "
                     "5s or 500ms", (long long) min);
        return -1;
    }

    return 0;
}


static int
farm_opt_app_timeout(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_positive_duration(val, 1, &ctx->o->app_timeout_ms, err);
}


static int
farm_opt_app_connect_timeout(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_positive_duration(val, 1,
                                      &ctx->o->app_connect_timeout_ms, err);
}


static int
farm_opt_app_health(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    const char  *p;

    ctx->o->app_flag_seen = 1;

    if (val[0] != '/' || strlen(val) > FARM_APP_PATH_LEN) {
        farm_opt_err(err, "must be a path starting with /, at most %d bytes",
                     FARM_APP_PATH_LEN);
        return -1;
    }

    for (p = val; *p; p++) {
        if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f) {
            farm_opt_err(err, "must not hold spaces or control characters");
            return -1;
        }
    }

    strcpy(ctx->o->app_health, val);

    return 0;
}


static int
farm_opt_app_status(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    char           lo[8];
    size_t         n;
    const char    *dash;
    unsigned long  a, b;

    ctx->o->app_flag_seen = 1;

    dash = strchr(val, '-');
    n = dash ? (size_t) (dash - val) : strlen(val);

    if (n == 0 || n >= sizeof(lo)) {
        goto bad;
    }

    memcpy(lo, val, n);
    lo[n] = '\0';

    if (farm_opt_number(lo, 599, &a) != 0 || a < 100) {
        goto bad;
    }

    b = a;

    if (dash && (farm_opt_number(dash + 1, 599, &b) != 0 || b < a)) {
        goto bad;
    }

    ctx->o->app_status_min = (unsigned) a;
    ctx->o->app_status_max = (unsigned) b;

    return 0;

bad:

    farm_opt_err(err, "must be a status code or a range of them, as in 200 "
                 "or 200-399, not \"%.32s\"", val);
    return -1;
}


static int
farm_opt_app_interval(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_positive_duration(val, 10, &ctx->o->app_interval_ms, err);
}


static int
farm_opt_app_check_timeout(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_positive_duration(val, 10, &ctx->o->app_check_timeout_ms,
                                      err);
}


static int
farm_opt_count(const char *val, unsigned *out, char *err)
{
    unsigned long  n;

    if (farm_opt_number(val, 100, &n) != 0 || n < 1) {
        farm_opt_err(err, "must be an integer from 1 to 100, not "
                     "\"%.32s\"", val);
        return -1;
    }

    *out = (unsigned) n;

    return 0;
}


static int
farm_opt_app_rise(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_count(val, &ctx->o->app_rise, err);
}


static int
farm_opt_app_fall(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_count(val, &ctx->o->app_fall, err);
}


static int
farm_opt_app_down_grace(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;

    if (farm_opt_duration(val, &ctx->o->app_down_grace_ms) != 0) {
        farm_opt_err(err, "must be a duration up to 1440m, as in 30s, "
                     "500ms or 0");
        return -1;
    }

    return 0;
}


static int
farm_opt_register_only(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    return farm_opt_switch(ctx, val, &ctx->o->register_only, err);
}


static int
farm_opt_max_clients(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    unsigned long  n;

    if (farm_opt_number(val, 1000000, &n) != 0) {
        farm_opt_err(err, "must be an integer from 0 to 1000000, not "
                     "\"%.32s\"", val);
        return -1;
    }

    ctx->o->max_clients = (unsigned) n;

    return 0;
}


static int
farm_opt_client_timeout(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_positive_duration(val, 10, &ctx->o->client_timeout_ms,
                                      err);
}


static int
farm_opt_load_meta(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (farm_opt_duration(val, &ctx->o->load_meta_ms) != 0
        || (ctx->o->load_meta_ms && ctx->o->load_meta_ms < 100))
    {
        farm_opt_err(err, "must be 0 or a duration from 100ms to 1440m, "
                     "as in 30s");
        return -1;
    }

    return 0;
}


static int
farm_opt_auto_weight(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    return farm_opt_switch(ctx, val, &ctx->o->auto_weight, err);
}


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
    char             *text;
    char              err[FARM_ERR_MAX];
    farm_options_t   *o;

    o = ctx->o;

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

    if (o->consul_ca
        && !(o->registry_set && o->registry.type == FARM_URL_CONSUL
             && o->registry.tls))
    {
        fprintf(stderr, "farm-agent: --consul-ca: needs an https:// Consul "
                "--registry\n");
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

    if (o->registry_set && o->registry.type == FARM_URL_CONSUL
        && farm_consul_check_meta(o->record.meta, err) != 0)
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
    farm_record_free(&o->record);
}
