/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Redis registrar (keys in registry/farm_keys.h):
 *
 *   register    SET <key> <json> PX <ttl>, SADD <index> <id>,
 *               PUBLISH <events> "register <id>"
 *   heartbeat   PEXPIRE <key> <ttl>, SADD <index> <id>; PEXPIRE answering 0
 *               means the record is gone (expired, FLUSHALL, restart), so
 *               register again
 *   deregister  DEL <key>, SREM <index> <id>,
 *               PUBLISH <events> "deregister <id>"
 *
 * One hiredis async connection on the agent's libevent loop.  Failures
 * never stop the agent: it reconnects with a jittered backoff (100 ms
 * doubling to 5 s) and registers again.  hiredis 0.14 has no timeouts, so
 * a 2 s watchdog timer covers both connecting and waiting for replies.
 *
 * hiredis lifetime rules followed here: a context is freed only from our
 * own libevent callbacks (never from a hiredis callback; those schedule
 * drop_ev instead), and after a failed connect or a disconnect callback
 * hiredis frees the context itself, so we only forget it.  Callbacks for a
 * context we have forgotten (rr->ac != ac) are ignored.
 *
 * A registry host given by name is resolved with libevent's evdns before
 * each connect, never by hiredis: hiredis 0.14 calls getaddrinfo(), which
 * blocks, and a slow DNS would stall the whole agent (/health, the work)
 * at every reconnect.  hiredis only ever sees an IP address.
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "farm_keys.h"
#include "log.h"
#include "registrar.h"


#define FARM_REDIS_WATCH_MS     2000    /* connect or reply deadline */
#define FARM_REDIS_DEREG_MS     1000    /* longest wait to deregister */
#define FARM_REDIS_BACKOFF_MIN  100
#define FARM_REDIS_BACKOFF_MAX  5000
#define FARM_REDIS_QUIET_MS     30000   /* repeat a failure at most this */

/* Which command a reply answers; the tag also carries the sequence. */
enum {
    FARM_CMD_AUTH = 1,
    FARM_CMD_SELECT,
    FARM_CMD_SET,
    FARM_CMD_SADD,
    FARM_CMD_PUB_REG,
    FARM_CMD_PEXPIRE,
    FARM_CMD_BEAT_SADD,
    FARM_CMD_DEL,
    FARM_CMD_SREM,
    FARM_CMD_PUB_DEREG
};

#define FARM_SEQ_MASK       0x0fffffffu
#define FARM_TAG(cmd, seq)                                                    \
    ((void *) (uintptr_t) ((((seq) & FARM_SEQ_MASK) << 4) | (cmd)))
#define FARM_TAG_CMD(tag)   ((unsigned) ((uintptr_t) (tag) & 0xf))
#define FARM_TAG_SEQ(tag)   ((unsigned) ((uintptr_t) (tag) >> 4))


typedef struct {
    farm_registrar_t         reg;           /* first: the generic part */

    struct event_base       *base;
    farm_url_t               url;
    const farm_record_t     *record;
    char                     key[FARM_KEY_MAX];
    char                     index[FARM_KEY_MAX];
    char                     events[FARM_KEY_MAX];
    char                     addr[FARM_ADDRESS_MAX + 16];   /* for logs */
    char                     prefix[FARM_PREFIX_MAX + 1];
    char                     ttl[24];       /* ms, as text */
    int64_t                  heartbeat_ms;
    char                    *json;          /* record JSON, owned */

    struct evdns_base       *dns;           /* NULL: host is an address */
    struct evdns_getaddrinfo_request  *resolving;
    unsigned                 in_resolve:1;  /* a lookup is under way */

    redisAsyncContext       *ac;            /* NULL: no connection */
    unsigned                 conn;          /* bumps with each connection */
    unsigned                 handshake;     /* AUTH/SELECT replies due */
    unsigned                 pending;       /* replies outstanding */
    unsigned                 seq;           /* bumps on start/deregister */
    unsigned                 connected:1;   /* connect succeeded */
    unsigned                 ready:1;       /* AUTH and SELECT done */
    unsigned                 worked:1;      /* a batch succeeded on it */
    unsigned                 want:1;        /* 1: be registered */
    unsigned                 down:1;        /* failing since down_since */

    farm_registrar_done_pt   done;          /* deregister in progress */
    void                    *done_data;

    struct event            *retry_ev;      /* reconnect after backoff */
    struct event            *beat_ev;       /* heartbeat, persistent */
    struct event            *watch_ev;      /* connect/reply deadline */
    struct event            *drop_ev;       /* drop from the loop */
    struct event            *dereg_ev;      /* deregister deadline */

    unsigned                 drop_conn;     /* which connection to drop */
    char                     drop_reason[160];

    int64_t                  backoff_ms;
    int64_t                  down_since;
    int64_t                  down_logged;
    unsigned long            failures;
    char                     last_err[160];
} farm_redis_t;


static void farm_redis_start(farm_registrar_t *reg);
static void farm_redis_deregister(farm_registrar_t *reg,
    farm_registrar_done_pt done, void *data);
static void farm_redis_stop(farm_registrar_t *reg);
static void farm_redis_refresh(farm_registrar_t *reg);


static const farm_registrar_ops_t  farm_redis_ops = {
    farm_redis_start,
    farm_redis_deregister,
    farm_redis_stop,
    farm_redis_refresh
};


/*
 * Logs a failure to reach or use Redis without flooding the log: the first
 * failure, a change of reason, then at most every FARM_REDIS_QUIET_MS.
 */
static void
farm_redis_failed(farm_redis_t *rr, const char *reason, int was_up)
{
    int64_t  now;

    now = farm_clock_ms();
    rr->failures++;

    if (!rr->down) {
        rr->down = 1;
        rr->down_since = now;
        rr->failures = 1;
        rr->down_logged = now;

        if (was_up) {
            farm_log_warn("lost connection to %s: %s; retrying",
                          rr->reg.display, reason);

        } else {
            farm_log_warn("cannot reach %s: %s; serving unregistered, "
                          "retrying", rr->reg.display, reason);
        }

    } else if (strcmp(reason, rr->last_err) != 0
               || now - rr->down_logged >= FARM_REDIS_QUIET_MS)
    {
        rr->down_logged = now;
        farm_log_warn("still cannot reach %s after %lu attempts in %.1f s: "
                      "%s; serving unregistered, retrying", rr->reg.display,
                      rr->failures, (now - rr->down_since) / 1000.0, reason);
    }

    snprintf(rr->last_err, sizeof(rr->last_err), "%s", reason);
}


/* A batch of commands succeeded: Redis works again. */
static void
farm_redis_recovered(farm_redis_t *rr)
{
    rr->worked = 1;

    if (rr->down) {
        farm_log_info("reached %s again after %.1f s", rr->reg.display,
                      (farm_clock_ms() - rr->down_since) / 1000.0);
    }

    rr->down = 0;
    rr->last_err[0] = '\0';
    rr->backoff_ms = FARM_REDIS_BACKOFF_MIN;
}


static void
farm_redis_timer(struct event *ev, int64_t ms)
{
    struct timeval  tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;

    evtimer_add(ev, &tv);
}


/* Calls and forgets the pending deregister callback, if any. */
static void
farm_redis_finish(farm_redis_t *rr, int ok)
{
    void                    *data;
    farm_registrar_done_pt   done;

    done = rr->done;
    data = rr->done_data;

    rr->done = NULL;
    rr->done_data = NULL;
    evtimer_del(rr->dereg_ev);

    if (done) {
        done(ok, data);
    }
}


/* Forgets the connection (already freed or being freed by the caller). */
static void
farm_redis_forget(farm_redis_t *rr)
{
    rr->ac = NULL;
    rr->connected = 0;
    rr->ready = 0;
    rr->handshake = 0;
    rr->worked = 0;
    rr->pending = 0;
    evtimer_del(rr->watch_ev);

    if (rr->reg.state != FARM_REG_IDLE) {
        rr->reg.state = rr->want ? FARM_REG_CONNECTING
                                 : FARM_REG_DEREGISTERING;
    }
}


/* The connection failed or was dropped: log, and retry if there is a need. */
static void
farm_redis_lost(farm_redis_t *rr, const char *reason, int was_up)
{
    int64_t  delay;

    if (!rr->want && rr->done == NULL) {
        /* not registered and nothing to remove: reconnect when needed */
        farm_log_debug("connection to %s closed: %s", rr->reg.display,
                       reason);
        rr->reg.state = FARM_REG_IDLE;
        return;
    }

    farm_redis_failed(rr, reason, was_up);

    delay = rr->backoff_ms / 2 + random() % (rr->backoff_ms / 2 + 1);

    rr->backoff_ms *= 2;
    if (rr->backoff_ms > FARM_REDIS_BACKOFF_MAX) {
        rr->backoff_ms = FARM_REDIS_BACKOFF_MAX;
    }

    farm_log_debug("reconnecting to %s in %lld ms", rr->reg.display,
                   (long long) delay);

    farm_redis_timer(rr->retry_ev, delay);
}


/*
 * Frees the current connection and schedules a reconnect.  Only from our
 * own libevent callbacks: hiredis must not be on the stack.
 */
static void
farm_redis_drop(farm_redis_t *rr, const char *reason)
{
    int                 was_up;
    redisAsyncContext  *ac;

    ac = rr->ac;
    was_up = rr->worked;

    farm_redis_forget(rr);

    if (ac) {
        redisAsyncFree(ac);     /* its callbacks see a forgotten context */
    }

    farm_redis_lost(rr, reason, was_up);
}


/* From inside hiredis callbacks: drop the connection once they return. */
static void
farm_redis_drop_soon(farm_redis_t *rr, const char *reason)
{
    if (rr->drop_conn == rr->conn) {
        return;     /* already scheduled: the first reason is the cause */
    }

    snprintf(rr->drop_reason, sizeof(rr->drop_reason), "%s", reason);
    rr->drop_conn = rr->conn;
    event_active(rr->drop_ev, EV_TIMEOUT, 0);
}


static void
farm_redis_drop_handler(evutil_socket_t fd, short what, void *data)
{
    farm_redis_t  *rr = data;

    (void) fd;
    (void) what;

    if (rr->ac && rr->conn == rr->drop_conn) {
        farm_redis_drop(rr, rr->drop_reason);
    }
}


static void
farm_redis_watch_handler(evutil_socket_t fd, short what, void *data)
{
    farm_redis_t  *rr = data;

    (void) fd;
    (void) what;

    if (rr->ac == NULL) {
        return;
    }

    farm_redis_drop(rr, rr->connected ? "no reply within 2 s"
                                      : "connect timed out after 2 s");
}


static void farm_redis_reply(redisAsyncContext *ac, void *r, void *tag);
static void farm_redis_sync(farm_redis_t *rr);


/*
 * Sends one command on the current connection; its reply goes to
 * farm_redis_reply with cmd and the current sequence.  Returns 0, or -1
 * after scheduling a drop.
 */
static int
farm_redis_cmd(farm_redis_t *rr, unsigned cmd, const char *fmt, ...)
{
    int      rc;
    va_list  ap;

    va_start(ap, fmt);
    rc = redisvAsyncCommand(rr->ac, farm_redis_reply, FARM_TAG(cmd, rr->seq),
                            fmt, ap);
    va_end(ap);

    if (rc != REDIS_OK) {
        farm_redis_drop_soon(rr, "cannot queue a command");
        return -1;
    }

    if (rr->pending++ == 0) {
        farm_redis_timer(rr->watch_ev, FARM_REDIS_WATCH_MS);
    }

    return 0;
}


static void
farm_redis_register(farm_redis_t *rr)
{
    char  msg[FARM_ID_MAX + 16];

    /* each write carries its own "ts": the gateway measures propagation */

    free(rr->json);
    rr->json = farm_record_to_json_now(rr->record);

    if (rr->json == NULL) {
        farm_redis_drop_soon(rr, "out of memory");
        return;
    }

    farm_event_format(msg, sizeof(msg), FARM_EVENT_REGISTER, rr->record->id);

    rr->reg.state = FARM_REG_REGISTERING;

    if (farm_redis_cmd(rr, FARM_CMD_SET, "SET %s %s PX %s", rr->key,
                       rr->json, rr->ttl) == 0
        && farm_redis_cmd(rr, FARM_CMD_SADD, "SADD %s %s", rr->index,
                          rr->record->id) == 0)
    {
        farm_redis_cmd(rr, FARM_CMD_PUB_REG, "PUBLISH %s %s", rr->events,
                       msg);
    }
}


static void
farm_redis_unregister(farm_redis_t *rr)
{
    char  msg[FARM_ID_MAX + 16];

    farm_event_format(msg, sizeof(msg), FARM_EVENT_DEREGISTER,
                      rr->record->id);

    rr->reg.state = FARM_REG_DEREGISTERING;

    if (farm_redis_cmd(rr, FARM_CMD_DEL, "DEL %s", rr->key) == 0
        && farm_redis_cmd(rr, FARM_CMD_SREM, "SREM %s %s", rr->index,
                          rr->record->id) == 0)
    {
        farm_redis_cmd(rr, FARM_CMD_PUB_DEREG, "PUBLISH %s %s", rr->events,
                       msg);
    }
}


static const char *
farm_redis_cmd_name(unsigned cmd)
{
    static const char  *names[] = {
        "", "AUTH", "SELECT", "SET", "SADD", "PUBLISH", "PEXPIRE", "SADD",
        "DEL", "SREM", "PUBLISH"
    };

    return cmd < sizeof(names) / sizeof(names[0]) ? names[cmd] : "?";
}


static void
farm_redis_reply(redisAsyncContext *ac, void *r, void *tag)
{
    char           reason[160];
    unsigned       cmd, current;
    redisReply    *reply = r;
    farm_redis_t  *rr = ac->data;

    if (ac != rr->ac || reply == NULL) {
        return;     /* a dropped connection; its disconnect handler acts */
    }

    if (rr->drop_conn == rr->conn) {
        return;     /* failed already; nothing after that counts */
    }

    if (--rr->pending == 0) {
        evtimer_del(rr->watch_ev);

    } else {
        farm_redis_timer(rr->watch_ev, FARM_REDIS_WATCH_MS);
    }

    cmd = FARM_TAG_CMD(tag);
    current = (FARM_TAG_SEQ(tag) == (rr->seq & FARM_SEQ_MASK));

    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(reason, sizeof(reason), "%s failed: %.120s",
                 farm_redis_cmd_name(cmd), reply->str);
        farm_redis_drop_soon(rr, reason);
        return;
    }

    switch (cmd) {

    case FARM_CMD_AUTH:
    case FARM_CMD_SELECT:
        if (--rr->handshake == 0) {
            rr->ready = 1;
            farm_redis_sync(rr);
        }

        break;

    case FARM_CMD_PUB_REG:
        farm_redis_recovered(rr);

        if (current && rr->want) {
            rr->reg.state = FARM_REG_REGISTERED;
            rr->reg.registrations++;
            farm_log_info("registered %s as %s in %s", rr->record->id,
                          rr->addr, rr->reg.display);
        }

        break;

    case FARM_CMD_PEXPIRE:
        if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 0) {
            farm_log_debug("heartbeat: %s lives %s ms more", rr->key,
                           rr->ttl);

        } else if (current && rr->want) {
            farm_log_warn("record %s is gone from %s (expired, flushed or "
                          "Redis restarted); registering again", rr->key,
                          rr->reg.display);
            farm_redis_register(rr);
        }

        break;

    case FARM_CMD_BEAT_SADD:
        farm_redis_recovered(rr);
        break;

    case FARM_CMD_PUB_DEREG:
        farm_redis_recovered(rr);

        if (current && !rr->want) {
            rr->reg.state = FARM_REG_IDLE;
            farm_log_info("deregistered %s from %s", rr->record->id,
                          rr->reg.display);
            farm_redis_finish(rr, 1);
        }

        break;

    default:
        break;
    }
}


/* Sends what the wanted state needs on a fresh connection. */
static void
farm_redis_sync(farm_redis_t *rr)
{
    if (rr->want) {
        farm_redis_register(rr);

    } else if (rr->done) {
        farm_redis_unregister(rr);
    }
}


static void
farm_redis_on_connect(const redisAsyncContext *c, int status)
{
    farm_redis_t  *rr = c->data;

    if (c != rr->ac) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context when we return */
        farm_redis_forget(rr);
        farm_redis_lost(rr, c->errstr[0] ? c->errstr : "connect failed", 0);
        return;
    }

    rr->connected = 1;
    evtimer_del(rr->watch_ev);

    farm_log_debug("connected to %s", rr->reg.display);

    /*
     * Nothing else is sent until AUTH and SELECT have answered: pipelined
     * behind a failed AUTH, a SET could still succeed as Redis's default
     * user, or land in the wrong database after a failed SELECT.
     */

    if (rr->url.password[0]) {
        rr->handshake++;

        if (rr->url.user[0]) {
            if (farm_redis_cmd(rr, FARM_CMD_AUTH, "AUTH %s %s", rr->url.user,
                               rr->url.password) != 0)
            {
                return;
            }

        } else if (farm_redis_cmd(rr, FARM_CMD_AUTH, "AUTH %s",
                                  rr->url.password) != 0)
        {
            return;
        }
    }

    if (rr->url.db) {
        rr->handshake++;

        if (farm_redis_cmd(rr, FARM_CMD_SELECT, "SELECT %u", rr->url.db)
            != 0)
        {
            return;
        }
    }

    if (rr->handshake == 0) {
        rr->ready = 1;
        farm_redis_sync(rr);
    }
}


static void
farm_redis_on_disconnect(const redisAsyncContext *c, int status)
{
    int            was_up;
    farm_redis_t  *rr = c->data;

    if (c != rr->ac) {
        return;     /* we freed it ourselves */
    }

    /* hiredis frees the context when we return */
    was_up = rr->worked;
    farm_redis_forget(rr);
    farm_redis_lost(rr, (status != REDIS_OK && c->errstr[0])
                        ? c->errstr : "Redis closed the connection", was_up);
}


/*
 * Opens a connection to ip (an address, never a name); its outcome
 * arrives in farm_redis_on_connect.
 */
static void
farm_redis_connect_to(farm_redis_t *rr, const char *ip)
{
    char                reason[160];
    redisAsyncContext  *ac;

    ac = redisAsyncConnect(ip, (int) rr->url.port);

    if (ac == NULL) {
        farm_redis_lost(rr, "out of memory", 0);
        return;
    }

    if (ac->err) {
        snprintf(reason, sizeof(reason), "%s", ac->errstr);
        redisAsyncFree(ac);
        farm_redis_lost(rr, reason, 0);
        return;
    }

    ac->data = rr;

    if (redisLibeventAttach(ac, rr->base) != REDIS_OK) {
        redisAsyncFree(ac);
        farm_redis_lost(rr, "cannot attach to the event loop", 0);
        return;
    }

    redisAsyncSetConnectCallback(ac, farm_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, farm_redis_on_disconnect);

    rr->ac = ac;
    rr->conn++;
    rr->connected = 0;
    rr->pending = 0;

    farm_redis_timer(rr->watch_ev, FARM_REDIS_WATCH_MS);
}


static void
farm_redis_resolved(int result, struct evutil_addrinfo *res, void *data)
{
    char                     ip[64], reason[160];
    const void              *in;
    farm_redis_t            *rr = data;
    struct evutil_addrinfo  *ai;

    rr->resolving = NULL;
    rr->in_resolve = 0;

    if (result == EVUTIL_EAI_CANCEL) {
        return;                         /* farm_redis_stop */
    }

    if (result != 0 || res == NULL) {
        snprintf(reason, sizeof(reason), "cannot resolve %.80s: %.60s",
                 rr->url.host, evutil_gai_strerror(result));

        if (res) {
            evutil_freeaddrinfo(res);
        }

        farm_redis_lost(rr, reason, 0);
        return;
    }

    /* IPv4 first, as "localhost" served on 127.0.0.1 would want */

    for (ai = res; ai && ai->ai_family != AF_INET; ai = ai->ai_next) {
        /* void */
    }

    if (ai == NULL) {
        ai = res;
    }

    in = ai->ai_family == AF_INET6
         ? (const void *) &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr
         : (const void *) &((struct sockaddr_in *) ai->ai_addr)->sin_addr;

    if (evutil_inet_ntop(ai->ai_family, in, ip, sizeof(ip)) == NULL) {
        evutil_freeaddrinfo(res);
        farm_redis_lost(rr, "cannot use the resolved address", 0);
        return;
    }

    evutil_freeaddrinfo(res);

    if (rr->ac == NULL && (rr->want || rr->done)) {
        farm_redis_connect_to(rr, ip);
    }
}


/*
 * Connects, after resolving the host without blocking when it is a name;
 * the outcome arrives in farm_redis_on_connect.
 */
static void
farm_redis_connect(farm_redis_t *rr)
{
    struct evutil_addrinfo             hints;
    struct evdns_getaddrinfo_request  *req;

    evtimer_del(rr->retry_ev);

    if (rr->dns == NULL) {
        farm_redis_connect_to(rr, rr->url.host);
        return;
    }

    if (rr->in_resolve) {
        return;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rr->in_resolve = 1;

    /* the callback may run before this returns (a name from /etc/hosts) */
    req = evdns_getaddrinfo(rr->dns, rr->url.host, NULL, &hints,
                            farm_redis_resolved, rr);

    if (rr->in_resolve) {
        rr->resolving = req;
    }
}


static void
farm_redis_retry_handler(evutil_socket_t fd, short what, void *data)
{
    farm_redis_t  *rr = data;

    (void) fd;
    (void) what;

    if (rr->ac == NULL && (rr->want || rr->done)) {
        farm_redis_connect(rr);
    }
}


static void
farm_redis_beat_handler(evutil_socket_t fd, short what, void *data)
{
    farm_redis_t  *rr = data;

    (void) fd;
    (void) what;

    /* with replies outstanding the watchdog decides; without a connection
     * the reconnect registers anew */

    if (!rr->want || !rr->ready || rr->pending) {
        return;
    }

    if (farm_redis_cmd(rr, FARM_CMD_PEXPIRE, "PEXPIRE %s %s", rr->key,
                       rr->ttl) == 0)
    {
        farm_redis_cmd(rr, FARM_CMD_BEAT_SADD, "SADD %s %s", rr->index,
                       rr->record->id);
    }
}


static void
farm_redis_dereg_handler(evutil_socket_t fd, short what, void *data)
{
    farm_redis_t  *rr = data;

    (void) fd;
    (void) what;

    if (rr->done == NULL) {
        return;
    }

    farm_log_warn("could not deregister %s from %s within %d ms; the record "
                  "expires by its TTL", rr->record->id, rr->reg.display,
                  FARM_REDIS_DEREG_MS);

    if (rr->reg.state == FARM_REG_DEREGISTERING) {
        rr->reg.state = FARM_REG_IDLE;
    }

    farm_redis_finish(rr, 0);
}


static void
farm_redis_start(farm_registrar_t *reg)
{
    struct timeval  tv;
    farm_redis_t   *rr = (farm_redis_t *) reg;

    if (rr->key[0] == '\0') {
        /* the record is complete by the first start() */
        farm_key_agent(rr->key, sizeof(rr->key), rr->prefix,
                       rr->record->service, rr->record->id);
        snprintf(rr->addr, sizeof(rr->addr),
                 strchr(rr->record->address, ':') ? "[%s]:%u" : "%s:%u",
                 rr->record->address, rr->record->port);
    }

    rr->want = 1;
    rr->seq++;

    farm_redis_finish(rr, 0);   /* a pending deregister is superseded */

    tv.tv_sec = rr->heartbeat_ms / 1000;
    tv.tv_usec = (rr->heartbeat_ms % 1000) * 1000;
    evtimer_add(rr->beat_ev, &tv);

    if (rr->ready) {
        farm_redis_register(rr);
        return;
    }

    rr->reg.state = FARM_REG_CONNECTING;

    if (rr->ac == NULL) {
        farm_redis_connect(rr);
    }
}


static void
farm_redis_deregister(farm_registrar_t *reg, farm_registrar_done_pt done,
    void *data)
{
    farm_redis_t  *rr = (farm_redis_t *) reg;

    farm_redis_finish(rr, 0);   /* an earlier deregister is superseded */

    rr->want = 0;
    rr->seq++;
    rr->done = done;
    rr->done_data = data;

    evtimer_del(rr->beat_ev);
    farm_redis_timer(rr->dereg_ev, FARM_REDIS_DEREG_MS);

    rr->reg.state = FARM_REG_DEREGISTERING;

    if (rr->ready) {
        farm_redis_unregister(rr);

    } else if (rr->ac == NULL) {
        farm_redis_connect(rr);     /* try now rather than after backoff */
    }
}


static void
farm_redis_refresh(farm_registrar_t *reg)
{
    farm_redis_t  *rr = (farm_redis_t *) reg;

    free(rr->json);
    rr->json = NULL;

    if (rr->want && rr->ready && rr->pending == 0) {
        farm_redis_register(rr);
    }
}


static void
farm_redis_stop(farm_registrar_t *reg)
{
    redisAsyncContext  *ac;
    farm_redis_t       *rr = (farm_redis_t *) reg;

    ac = rr->ac;
    rr->ac = NULL;

    if (ac) {
        redisAsyncFree(ac);     /* callbacks see a forgotten context */
    }

    if (rr->resolving) {
        evdns_getaddrinfo_cancel(rr->resolving);
    }

    if (rr->dns) {
        evdns_base_free(rr->dns, 0);
    }

    if (rr->retry_ev) {
        event_free(rr->retry_ev);
    }

    if (rr->beat_ev) {
        event_free(rr->beat_ev);
    }

    if (rr->watch_ev) {
        event_free(rr->watch_ev);
    }

    if (rr->drop_ev) {
        event_free(rr->drop_ev);
    }

    if (rr->dereg_ev) {
        event_free(rr->dereg_ev);
    }

    free(rr->json);
    free(rr);
}


farm_registrar_t *
farm_registrar_redis_create(const farm_registrar_conf_t *conf, char *err)
{
    farm_redis_t  *rr;

    rr = calloc(1, sizeof(farm_redis_t));
    if (rr == NULL) {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        return NULL;
    }

    rr->reg.ops = &farm_redis_ops;
    rr->reg.state = FARM_REG_IDLE;
    farm_url_display(conf->url, rr->reg.display, sizeof(rr->reg.display));

    rr->base = conf->base;
    rr->url = *conf->url;
    rr->record = conf->record;
    rr->heartbeat_ms = conf->heartbeat_ms;
    rr->backoff_ms = FARM_REDIS_BACKOFF_MIN;
    snprintf(rr->ttl, sizeof(rr->ttl), "%lld", (long long) conf->ttl_ms);

    if (strlen(conf->prefix) > FARM_PREFIX_MAX
        || strlen(conf->record->service) > FARM_SERVICE_MAX)
    {
        snprintf(err, FARM_ERR_MAX, "prefix or service too long");
        farm_redis_stop(&rr->reg);
        return NULL;
    }

    strcpy(rr->prefix, conf->prefix);

    if (farm_key_index(rr->index, sizeof(rr->index), conf->prefix,
                       conf->record->service) < 0
        || farm_key_events(rr->events, sizeof(rr->events), conf->prefix,
                           conf->record->service) < 0)
    {
        snprintf(err, FARM_ERR_MAX, "registry key too long");
        farm_redis_stop(&rr->reg);
        return NULL;
    }

    if (!farm_valid_address(rr->url.host)) {
        rr->dns = evdns_base_new(conf->base,
                                 EVDNS_BASE_INITIALIZE_NAMESERVERS);

        if (rr->dns == NULL) {
            /* no usable resolv.conf: evdns has no nameserver to ask */
            rr->dns = evdns_base_new(conf->base, 0);
        }

        if (rr->dns == NULL) {
            snprintf(err, FARM_ERR_MAX, "out of memory");
            farm_redis_stop(&rr->reg);
            return NULL;
        }

        /* like the 2 s watchdog on connecting: a lookup fails in 2 s */
        evdns_base_set_option(rr->dns, "timeout:", "2");
        evdns_base_set_option(rr->dns, "attempts:", "1");
    }

    rr->retry_ev = evtimer_new(conf->base, farm_redis_retry_handler, rr);
    rr->beat_ev = event_new(conf->base, -1, EV_PERSIST,
                            farm_redis_beat_handler, rr);
    rr->watch_ev = evtimer_new(conf->base, farm_redis_watch_handler, rr);
    rr->drop_ev = evtimer_new(conf->base, farm_redis_drop_handler, rr);
    rr->dereg_ev = evtimer_new(conf->base, farm_redis_dereg_handler, rr);

    if (rr->retry_ev == NULL || rr->beat_ev == NULL || rr->watch_ev == NULL
        || rr->drop_ev == NULL || rr->dereg_ev == NULL)
    {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        farm_redis_stop(&rr->reg);
        return NULL;
    }

    return &rr->reg;
}
