/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Picks the registrar implementation for a registry URL; keeps several
 * registrars behind one (--registry given several times); and the failure
 * bookkeeping the implementations share.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "registrar.h"


#define FARM_RETRY_MIN       100         /* ms, first backoff */
#define FARM_RETRY_QUIET_MS  30000       /* repeat a failure at most this */


/* Several registrars behind one. */
typedef struct {
    farm_registrar_t         reg;       /* first: the generic part */
    farm_registrar_done_pt   done;      /* deregister in progress */
    void                    *done_data;
    unsigned                 waiting;   /* registrars yet to answer it */
    int                      all_ok;
} farm_multi_t;


static void farm_multi_start(farm_registrar_t *reg);
static void farm_multi_deregister(farm_registrar_t *reg,
    farm_registrar_done_pt done, void *data);
static void farm_multi_stop(farm_registrar_t *reg);
static void farm_multi_refresh(farm_registrar_t *reg);
static void farm_multi_one_done(int ok, void *data);
static void farm_multi_finish(farm_multi_t *m, int ok);
static farm_reg_state_e farm_multi_best(const farm_registrar_t *reg);

static const farm_registrar_ops_t  farm_multi_ops = {
    farm_multi_start,
    farm_multi_deregister,
    farm_multi_stop,
    farm_multi_refresh
};


farm_registrar_t *
farm_registrar_create(const farm_registrar_conf_t *conf, char *err)
{
    switch (conf->url->type) {

    case FARM_URL_REDIS:
        return farm_registrar_redis_create(conf, err);

    case FARM_URL_CONSUL:
        return farm_registrar_consul_create(conf, err);

    case FARM_URL_API:
        return farm_registrar_gateway_create(conf, err);

    default:
        snprintf(err, FARM_ERR_MAX, "unknown registry kind");
        return NULL;
    }
}


farm_reg_state_e
farm_registrar_state(const farm_registrar_t *reg)
{
    if (reg && reg->each) {
        return farm_multi_best(reg);
    }

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


/* Calls and forgets the pending deregister callback, if any. */
static void
farm_multi_finish(farm_multi_t *m, int ok)
{
    void                    *data;
    farm_registrar_done_pt   done;

    done = m->done;
    data = m->done_data;

    m->done = NULL;
    m->done_data = NULL;
    if (done) {
        done(ok, data);
    }
}


/* The state of several registrars: the best of theirs. */
static farm_reg_state_e
farm_multi_best(const farm_registrar_t *reg)
{
    unsigned          i;
    farm_reg_state_e  st, best;

    best = FARM_REG_IDLE;

    for (i = 0; i < reg->neach; i++) {
        st = reg->each[i]->state;

        if (st == FARM_REG_REGISTERED
            || (best != FARM_REG_REGISTERED && st > best))
        {
            best = st;
        }
    }

    return best;
}


static void
farm_multi_start(farm_registrar_t *reg)
{
    unsigned       i;
    farm_multi_t  *m = (farm_multi_t *) reg;

    farm_multi_finish(m, 0);    /* a pending deregister is superseded */

    for (i = 0; i < reg->neach; i++) {
        farm_registrar_start(reg->each[i]);
    }

    m->reg.state = farm_multi_best(&m->reg);
}


/* One registrar answered the deregister in progress. */
static void
farm_multi_one_done(int ok, void *data)
{
    farm_multi_t  *m = data;

    if (m->done == NULL) {
        return;     /* a superseded request, answered from start() */
    }

    m->all_ok &= ok;

    if (--m->waiting == 0) {
        m->reg.state = farm_multi_best(&m->reg);
        farm_multi_finish(m, m->all_ok);
    }
}


/*
 * Asks every registrar at once, so the slowest bounds the wait, not the
 * sum.  A registrar answers a superseded request before its call returns,
 * so the new request is armed only after every registrar has been asked.
 */
static void
farm_multi_deregister(farm_registrar_t *reg, farm_registrar_done_pt done,
    void *data)
{
    unsigned       i;
    farm_multi_t  *m = (farm_multi_t *) reg;

    farm_multi_finish(m, 0);    /* an earlier deregister is superseded */

    for (i = 0; i < reg->neach; i++) {
        farm_registrar_deregister(reg->each[i], farm_multi_one_done, m);
    }

    m->done = done;
    m->done_data = data;
    m->waiting = reg->neach;
    m->all_ok = 1;
}


static void
farm_multi_stop(farm_registrar_t *reg)
{
    unsigned  i;

    for (i = 0; i < reg->neach; i++) {
        if (reg->each[i]) {
            farm_registrar_stop(reg->each[i]);
        }
    }

    free(reg);
}


static void
farm_multi_refresh(farm_registrar_t *reg)
{
    unsigned  i;

    for (i = 0; i < reg->neach; i++) {
        farm_registrar_refresh(reg->each[i]);
    }
}


farm_registrar_t *
farm_registrar_create_all(const farm_registrar_conf_t *conf,
    const farm_url_t *urls, unsigned n, char *err)
{
    size_t                  size, len;
    unsigned                i;
    farm_multi_t           *m;
    farm_registrar_conf_t   one;

    one = *conf;

    if (n == 1) {
        one.url = &urls[0];
        return farm_registrar_create(&one, err);
    }

    size = sizeof(farm_multi_t) + n * sizeof(farm_registrar_t *);

    m = calloc(1, size);
    if (m == NULL) {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        return NULL;
    }

    m->reg.ops = &farm_multi_ops;
    m->reg.state = FARM_REG_IDLE;
    m->reg.each = (farm_registrar_t **) (m + 1);

    for (i = 0; i < n; i++) {
        one.url = &urls[i];

        m->reg.each[i] = farm_registrar_create(&one, err);
        if (m->reg.each[i] == NULL) {
            farm_multi_stop(&m->reg);
            return NULL;
        }

        m->reg.neach++;

        len = strlen(m->reg.display);
        snprintf(m->reg.display + len, sizeof(m->reg.display) - len, "%s%s",
                 i ? ", " : "", m->reg.each[i]->display);
    }

    return &m->reg;
}


unsigned
farm_registrar_registered(const farm_registrar_t *reg)
{
    unsigned  i, n;

    if (reg == NULL) {
        return 0;
    }

    if (reg->each == NULL) {
        return reg->state == FARM_REG_REGISTERED;
    }

    for (i = 0, n = 0; i < reg->neach; i++) {
        n += (reg->each[i]->state == FARM_REG_REGISTERED);
    }

    return n;
}


unsigned long
farm_registrar_registrations(const farm_registrar_t *reg)
{
    unsigned       i;
    unsigned long  n;

    if (reg == NULL) {
        return 0;
    }

    if (reg->each == NULL) {
        return reg->registrations;
    }

    for (i = 0, n = 0; i < reg->neach; i++) {
        n += reg->each[i]->registrations;
    }

    return n;
}


void
farm_reg_retry_init(farm_reg_retry_t *rt)
{
    memset(rt, 0, sizeof(farm_reg_retry_t));
    rt->backoff_ms = FARM_RETRY_MIN;
}


void
farm_registrar_failed(farm_registrar_t *reg, farm_reg_retry_t *rt,
    const char *reason)
{
    int64_t  now;

    now = farm_clock_ms();
    rt->failures++;

    if (!rt->down) {
        rt->down = 1;
        rt->since = now;
        rt->logged = now;
        rt->failures = 1;

        farm_log_warn("cannot register in %s: %s; %s, retrying",
                      reg->display, reason,
                      reg->state == FARM_REG_REGISTERED
                      ? "still serving" : "serving unregistered");

    } else if (strcmp(reason, rt->last) != 0
               || now - rt->logged >= FARM_RETRY_QUIET_MS)
    {
        rt->logged = now;
        farm_log_warn("still cannot register in %s after %lu attempts in "
                      "%.1f s: %s; retrying", reg->display, rt->failures,
                      (now - rt->since) / 1000.0, reason);
    }

    snprintf(rt->last, sizeof(rt->last), "%s", reason);
}


void
farm_registrar_recovered(farm_registrar_t *reg, farm_reg_retry_t *rt)
{
    if (rt->down) {
        farm_log_info("reached %s again after %.1f s", reg->display,
                      (farm_clock_ms() - rt->since) / 1000.0);
    }

    rt->down = 0;
    rt->last[0] = '\0';
    rt->backoff_ms = FARM_RETRY_MIN;
}


int64_t
farm_registrar_backoff(farm_reg_retry_t *rt, int64_t max)
{
    int64_t  delay;

    delay = rt->backoff_ms / 2 + random() % (rt->backoff_ms / 2 + 1);

    rt->backoff_ms *= 2;

    if (rt->backoff_ms > max) {
        rt->backoff_ms = max;
    }

    return delay < max ? delay : max;
}
