/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * A registrar keeps this agent's record in a registry: it registers, keeps
 * the registration alive, re-registers when the registry loses it, and
 * deregisters on request.  Everything is asynchronous on the agent's
 * libevent loop; the agent serves whether or not the registry is reachable.
 *
 * One implementation per registry kind, behind farm_registrar_ops_t:
 * registrar_redis.c (hiredis async) and registrar_consul.c (libcurl multi
 * driven by the same loop).
 */

#ifndef FARM_REGISTRAR_H
#define FARM_REGISTRAR_H

#include <event2/event.h>

#include "farm_record.h"
#include "farm_url.h"


#define FARM_DISPLAY_MAX  (FARM_HOST_MAX + FARM_URL_PATH_MAX + 32)


typedef enum {
    FARM_REG_IDLE = 0,          /* not registered, not asked to be */
    FARM_REG_CONNECTING,        /* asked to register, registry not reached */
    FARM_REG_REGISTERING,       /* registration sent, not yet confirmed */
    FARM_REG_REGISTERED,        /* the registry holds our record */
    FARM_REG_DEREGISTERING      /* removal sent, not yet confirmed */
} farm_reg_state_e;

typedef struct farm_registrar_s  farm_registrar_t;

/*
 * Called once per farm_registrar_deregister, never from inside that call.
 * ok is 1 when the registry confirmed the removal, 0 when it could not be
 * reached within about 1 s.  A later start() or deregister() supersedes a
 * pending request: its done is then called with ok 0 before that later
 * call returns.  May run inside the registrar's I/O callbacks, so it must
 * not call stop().
 */
typedef void (*farm_registrar_done_pt)(int ok, void *data);

typedef struct {
    /* Registers, and keeps registering after failures; may be called again
     * after deregister to register anew. */
    void  (*start)(farm_registrar_t *reg);

    /* Removes the record, waiting for the registry at most about 1 s. */
    void  (*deregister)(farm_registrar_t *reg, farm_registrar_done_pt done,
                        void *data);

    /* Drops connections and frees reg without calling anything back.  Must
     * not be called from inside a registrar callback. */
    void  (*stop)(farm_registrar_t *reg);

    /* The record's meta changed: writes the record again now when it is
     * registered and nothing is in flight, else at the next registration. */
    void  (*refresh)(farm_registrar_t *reg);
} farm_registrar_ops_t;

/* What every implementation has first; callers read it, never write it. */
struct farm_registrar_s {
    const farm_registrar_ops_t  *ops;
    farm_reg_state_e             state;
    unsigned long                registrations;   /* confirmed, in total */
    char                         display[FARM_DISPLAY_MAX];   /* URL */

    /* several registries (farm_registrar_create_all): each, else NULL */
    farm_registrar_t           **each;
    unsigned                     neach;
};

/*
 * Failures in a row of one registrar, for its log lines and its backoff:
 * farm_registrar_failed logs the first failure, a change of reason, then
 * at most every 30 s; farm_registrar_recovered logs the end of an outage;
 * farm_registrar_backoff gives the next jittered delay, from 100 ms
 * doubling to max.
 */
typedef struct {
    int64_t                      backoff_ms;
    int64_t                      since;         /* first failure */
    int64_t                      logged;
    unsigned long                failures;
    int                          down;
    char                         last[320];
} farm_reg_retry_t;

typedef struct {
    struct event_base    *base;
    const farm_url_t     *url;

    /* Read at every registration; the caller keeps it alive and unchanged
     * while reg exists (but for its meta, followed by refresh()), and fills
     * it in before the first start(). */
    const farm_record_t  *record;

    const char           *prefix;           /* Redis */
    int64_t               ttl_ms;
    int64_t               heartbeat_ms;

    const char           *consul_token;     /* Consul: "" or NULL = none */
    const char           *consul_ca;        /* NULL: the system's CAs */
    const char           *version;          /* Meta.version */

    /* a gateway's registry API (http(s):// with a path) */
    const char           *token;            /* Authorization: Bearer */
    const char           *token_file;       /* read again after a 401 */
    const char           *ca;               /* NULL: the system's CAs */
} farm_registrar_conf_t;


/*
 * Creates the registrar for conf->url's kind; nothing is sent until start().
 * Returns it (freed with farm_registrar_stop), or NULL with a one-line
 * reason in err (FARM_ERR_MAX bytes), e.g. for a kind not supported yet.
 */
farm_registrar_t *farm_registrar_create(const farm_registrar_conf_t *conf,
    char *err);

farm_registrar_t *farm_registrar_redis_create(
    const farm_registrar_conf_t *conf, char *err);
farm_registrar_t *farm_registrar_consul_create(
    const farm_registrar_conf_t *conf, char *err);
farm_registrar_t *farm_registrar_gateway_create(
    const farm_registrar_conf_t *conf, char *err);

/*
 * One registrar per entry of confs[0..n) (each a copy of the first but for
 * url), behind one: start, deregister, stop and refresh reach each, and
 * each is kept up on its own, so a registry that is down delays no other.
 * The deregister callback runs once every one has answered or given up;
 * ok is 1 when all confirmed.  n == 1 gives that one registrar itself.
 */
farm_registrar_t *farm_registrar_create_all(
    const farm_registrar_conf_t *conf, const farm_url_t *urls, unsigned n,
    char *err);

/* For the /metrics endpoint: registries that hold the record now, and
 * registrations confirmed in total, over every registry of reg. */
unsigned farm_registrar_registered(const farm_registrar_t *reg);
unsigned long farm_registrar_registrations(const farm_registrar_t *reg);

void farm_reg_retry_init(farm_reg_retry_t *rt);
void farm_registrar_failed(farm_registrar_t *reg, farm_reg_retry_t *rt,
    const char *reason);
void farm_registrar_recovered(farm_registrar_t *reg, farm_reg_retry_t *rt);
int64_t farm_registrar_backoff(farm_reg_retry_t *rt, int64_t max);

#define farm_registrar_start(reg)  (reg)->ops->start(reg)
#define farm_registrar_deregister(reg, done, data)                            \
    (reg)->ops->deregister(reg, done, data)
#define farm_registrar_stop(reg)   (reg)->ops->stop(reg)
#define farm_registrar_refresh(reg)  (reg)->ops->refresh(reg)

/* reg may be NULL (standalone): then IDLE. */
farm_reg_state_e farm_registrar_state(const farm_registrar_t *reg);

const char *farm_registrar_state_name(farm_reg_state_e state);

#endif /* FARM_REGISTRAR_H */
