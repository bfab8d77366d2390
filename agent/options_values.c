/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Each option's value (see options_values.h): numbers, durations,
 * host:port, ids, regions, capabilities, meta, the registry URL, the app's
 * URL and health check, and the switches, parsed and checked one at a
 * time, with an error that names what is wrong.  The table that names
 * these setters, and the checks across options, are in options.c.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "options.h"
#include "options_values.h"


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


int
farm_opt_listen(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    return farm_opt_hostport(val, ctx->o->listen_host, &ctx->o->listen_port,
                             0, 0, err);
}


int
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


int
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


/* Adds one registry URL, s[0..len), to the list; 0 or -1. */
static int
farm_opt_registry_add(farm_options_t *o, const char *s, size_t len,
    char *err)
{
    unsigned     i;
    char         a[FARM_HOST_MAX + FARM_URL_PATH_MAX + 32];
    char         b[FARM_HOST_MAX + FARM_URL_PATH_MAX + 32];
    farm_url_t  *u;

    if (o->nregistries == FARM_REGISTRIES_MAX) {
        farm_opt_err(err, "at most %d registries", FARM_REGISTRIES_MAX);
        return -1;
    }

    u = &o->registries[o->nregistries];

    if (farm_url_parse(u, s, len, err) != 0) {
        return -1;
    }

    farm_url_display(u, a, sizeof(a));

    for (i = 0; i < o->nregistries; i++) {
        if (strcmp(a, farm_url_display(&o->registries[i], b, sizeof(b)))
            == 0)
        {
            farm_opt_err(err, "%s given twice", a);
            return -1;
        }
    }

    o->nregistries++;
    o->registry_set = 1;

    return 0;
}


/*
 * --registry URL, repeatable; FARM_REGISTRY holds one or more URLs apart
 * by spaces or commas.  Flags replace FARM_REGISTRY; "" empties the list.
 */
int
farm_opt_registry(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    size_t       n;
    const char  *p;

    if (ctx->from_env || !ctx->registry_flag || val[0] == '\0') {
        ctx->o->nregistries = 0;
        ctx->o->registry_set = 0;
    }

    if (!ctx->from_env) {
        ctx->registry_flag = 1;
        return val[0] ? farm_opt_registry_add(ctx->o, val, strlen(val), err)
                      : 0;
    }

    for (p = val; *p; p += n) {
        p += strspn(p, " ,\t");
        n = strcspn(p, " ,\t");

        if (n && farm_opt_registry_add(ctx->o, p, n, err) != 0) {
            return -1;
        }
    }

    return 0;
}


int
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


int
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


int
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


int
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


int
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


int
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


int
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


int
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


int
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


int
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


int
farm_opt_grace(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (farm_opt_duration(val, &ctx->o->grace_ms) != 0) {
        farm_opt_err(err, "must be a duration up to 1440m, as in 30s, "
                     "500ms or 2m");
        return -1;
    }

    return 0;
}


int
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


int
farm_opt_pid_file(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (val[0] == '\0') {
        farm_opt_err(err, "must not be empty");
        return -1;
    }

    ctx->o->pid_file = val;

    return 0;
}


int
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


int
farm_opt_consul_ca(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (val[0] == '\0') {
        farm_opt_err(err, "must not be empty");
        return -1;
    }

    ctx->o->consul_ca = val;

    return 0;
}


int
farm_opt_registry_ca(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    if (val[0] == '\0') {
        farm_opt_err(err, "must not be empty");
        return -1;
    }

    ctx->o->registry_ca = val;

    return 0;
}


/* Only the path here: the file is read once every option is known. */
int
farm_opt_token_file(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->token_file = val[0] ? val : NULL;   /* "" unsets it */

    (void) err;

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


int
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


int
farm_opt_app_timeout(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_positive_duration(val, 1, &ctx->o->app_timeout_ms, err);
}


int
farm_opt_app_connect_timeout(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_positive_duration(val, 1,
                                      &ctx->o->app_connect_timeout_ms, err);
}


int
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


int
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


int
farm_opt_app_interval(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_positive_duration(val, 10, &ctx->o->app_interval_ms, err);
}


int
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


int
farm_opt_app_rise(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_count(val, &ctx->o->app_rise, err);
}


int
farm_opt_app_fall(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_count(val, &ctx->o->app_fall, err);
}


int
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


int
farm_opt_register_only(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    return farm_opt_switch(ctx, val, &ctx->o->register_only, err);
}


int
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


int
farm_opt_client_timeout(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    ctx->o->app_flag_seen = 1;
    return farm_opt_positive_duration(val, 10, &ctx->o->client_timeout_ms,
                                      err);
}


int
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


int
farm_opt_auto_weight(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    return farm_opt_switch(ctx, val, &ctx->o->auto_weight, err);
}


int
farm_opt_busy_poll(farm_opt_ctx_t *ctx, const char *val, char *err)
{
    unsigned long  n;

    if (farm_opt_number(val, 1000000, &n) != 0) {
        farm_opt_err(err, "must be a number of microseconds from 0 to "
                     "1000000, not \"%.32s\"", val);
        return -1;
    }

    ctx->o->busy_poll_us = (int64_t) n;

    return 0;
}
