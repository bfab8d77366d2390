/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The setters of options.c's table (options_values.c): each parses and
 * checks one option's value, from a flag or an environment variable, into
 * the options being built.  Internal to options.c and options_values.c;
 * the rest of the agent uses options.h.
 */

#ifndef FARM_OPTIONS_VALUES_H
#define FARM_OPTIONS_VALUES_H

#include <jansson.h>

#include "options.h"


typedef struct {
    farm_options_t  *o;
    json_t          *meta;          /* --meta / FARM_META being built */
    int              from_env;
    int              caps_flag;     /* a --cap flag was seen */
    int              meta_flag;     /* a --meta flag was seen */
    int              registry_flag; /* a --registry flag was seen */
} farm_opt_ctx_t;


/* Each takes the value and returns 0, or -1 with the reason in err. */
int farm_opt_listen(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_advertise(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_service(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_registry(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_id(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_region(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_cap(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_weight(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_max_conns(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_backup(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_meta(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_prefix(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_ttl(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_heartbeat(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_grace(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_log_level(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_pid_file(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_consul_token(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_consul_ca(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_registry_ca(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_token_file(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_app(farm_opt_ctx_t *ctx, const char *val, char *err);
int farm_opt_app_timeout(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_app_connect_timeout(farm_opt_ctx_t *ctx,
    const char *val, char *err);
int farm_opt_app_health(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_app_status(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_app_interval(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_app_check_timeout(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_app_rise(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_app_fall(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_app_down_grace(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_register_only(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_max_clients(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_auto_weight(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_client_timeout(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_load_meta(farm_opt_ctx_t *ctx, const char *val,
    char *err);
int farm_opt_busy_poll(farm_opt_ctx_t *ctx, const char *val,
    char *err);

#endif /* FARM_OPTIONS_VALUES_H */
