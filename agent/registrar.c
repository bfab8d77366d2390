/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Picks the registrar implementation for a registry URL.
 */

#include <stdio.h>

#include "registrar.h"


farm_registrar_t *
farm_registrar_create(const farm_registrar_conf_t *conf, char *err)
{
    switch (conf->url->type) {

    case FARM_URL_REDIS:
        return farm_registrar_redis_create(conf, err);

    case FARM_URL_CONSUL:
        return farm_registrar_consul_create(conf, err);

    default:
        snprintf(err, FARM_ERR_MAX, "unknown registry kind");
        return NULL;
    }
}


farm_reg_state_e
farm_registrar_state(const farm_registrar_t *reg)
{
    return reg ? reg->state : FARM_REG_IDLE;
}


const char *
farm_registrar_state_name(farm_reg_state_e state)
{
    static const char  *names[] = {
        "idle", "connecting", "registering", "registered", "deregistering"
    };

    return (unsigned) state < sizeof(names) / sizeof(names[0])
           ? names[state] : "unknown";
}
