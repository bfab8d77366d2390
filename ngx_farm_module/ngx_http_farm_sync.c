
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Registry sync, whatever the registry: one worker per farm upstream (the
 * sync owner) turns registry records into agents in the shared zone.  A
 * backend (ngx_http_farm_redis.c, ngx_http_farm_consul.c) calls
 *
 *     begin  record  record ...  end      a full sync: agents not seen are
 *                                         removed at the end
 *     record / delete                     a change notification
 *     registry_state                      reachable or not
 *
 * "record" takes the record's JSON text (Redis) or an already parsed
 * farm_record_t ("parsed": Consul, the state file); both end in
 * ngx_http_farm_sync_apply(), the one way into the zone.  "unhealthy"
 * takes out an agent the registry lists as failing (a critical Consul
 * check).  Records are validated by registry/farm_record.c; a bad one is
 * skipped with one error line naming its key and never touches the good
 * agents.  After a full sync that changed the agents, the sync owner saves
 * them to the state= file (ngx_http_farm_state.c).
 */


#include "ngx_http_farm_sync.h"
#include "ngx_http_farm_subset.h"
#include "ngx_http_farm_queue.h"
#include "ngx_http_farm_state.h"

#include <farm_keys.h>


#define NGX_HTTP_FARM_REBUILD_DELAY   20      /* ms between hash rebuilds */
#define NGX_HTTP_FARM_DOWN_LOG_EVERY  10      /* s, "registry down" lines */
#define NGX_HTTP_FARM_SWEEP_SLOTS     1024    /* slots looked at per step */
#define NGX_HTTP_FARM_SWEEP_REMOVALS  64      /* agents removed per step */


static ngx_int_t ngx_http_farm_sync_current(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_zone_t *z);
static ngx_int_t ngx_http_farm_sync_unchanged(ngx_http_farm_zone_t *z,
    u_char *id, size_t len, uint32_t rec_hash, ngx_uint_t full);
static ngx_int_t ngx_http_farm_sync_apply(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_zone_t *z, u_char *key, size_t key_len, farm_record_t *rec,
    uint32_t rec_hash, ngx_uint_t full);
static void ngx_http_farm_sync_applied(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_zone_t *z, farm_record_t *rec, ngx_int_t rc,
    const char *how);
static void ngx_http_farm_sync_propagated(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_zone_t *z, farm_record_t *rec, ngx_int_t rc,
    ngx_uint_t full);
static uint32_t ngx_http_farm_record_hash(farm_record_t *rec);
static const char *ngx_http_farm_sync_allowed(ngx_http_farm_srv_conf_t *fcf,
    farm_record_t *rec);
static void ngx_http_farm_sync_changed(ngx_http_farm_srv_conf_t *fcf);
static void ngx_http_farm_sync_rebuild_handler(ngx_event_t *ev);
static void ngx_http_farm_sync_sweep_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_farm_sync_sweep_step(
    ngx_http_farm_srv_conf_t *fcf, ngx_http_farm_zone_t *z, uint32_t slots,
    uint32_t removals);


ngx_int_t
ngx_http_farm_sync_is_owner(ngx_http_farm_srv_conf_t *fcf)
{
    ngx_core_conf_t  *ccf;

    if (ngx_process == NGX_PROCESS_SINGLE) {
        return 1;
    }

    if (ngx_process != NGX_PROCESS_WORKER) {
        return 0;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    return fcf->index % (ngx_uint_t) ccf->worker_processes == ngx_worker;
}


/*
 * Claims the zone for this process: a newer owner (after a reload or a
 * respawn) bumps the epoch, and an older one sees that and stops writing.
 */

ngx_int_t
ngx_http_farm_sync_owner_start(ngx_http_farm_srv_conf_t *fcf)
{
    ngx_event_t           *ev;
    ngx_http_farm_zone_t   z;

    fcf->log = ngx_cycle->log;

    ngx_http_farm_zone_get(fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);
    fcf->owner_epoch = ++z.sh->owner_epoch;
    z.sh->hash_dirty = 1;
    ngx_shmtx_unlock(&z.shpool->mutex);

    /* the state file follows the zone from this owner's first full sync */
    fcf->state_dirty = 1;

    ev = &fcf->rebuild_ev;
    ev->handler = ngx_http_farm_sync_rebuild_handler;
    ev->data = fcf;
    ev->log = ngx_cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_HTTP_FARM_REBUILD_DELAY);

    ngx_log_error(NGX_LOG_INFO, fcf->log, 0,
                  "farm: worker %i syncs upstream \"%V\" from %V "
                  "service \"%V\"", ngx_worker, &fcf->uscf->host,
                  &fcf->url_display, &fcf->service);

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_sync_current(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_zone_t *z)
{
    ngx_http_farm_zone_get(fcf, z);

    if (z->sh->owner_epoch == fcf->owner_epoch) {
        return 1;
    }

    if (!fcf->superseded) {
        fcf->superseded = 1;
        ngx_log_error(NGX_LOG_INFO, fcf->log, 0,
                      "farm: upstream \"%V\" has a newer sync owner, this "
                      "process stops syncing", &fcf->uscf->host);
    }

    return 0;
}


void
ngx_http_farm_sync_begin(ngx_http_farm_srv_conf_t *fcf)
{
    ngx_http_farm_zone_t  z;

    if (!ngx_http_farm_sync_current(fcf, &z)) {
        return;
    }

    ngx_shmtx_lock(&z.shpool->mutex);
    z.sh->sync_epoch++;
    z.sh->bad_now = 0;
    z.sh->stats.sync_started = ngx_current_msec;
    z.sh->seen_now = 0;
    ngx_shmtx_unlock(&z.shpool->mutex);

    fcf->listed = 0;
}


/*
 * Takes a record as the registry holds it: its key (for log lines), the
 * agent id the key names, and the JSON text.  full is 1 during a full
 * sync.  Returns NGX_OK, or NGX_DECLINED when the record was skipped.
 */

ngx_int_t
ngx_http_farm_sync_record(ngx_http_farm_srv_conf_t *fcf, u_char *key,
    size_t key_len, u_char *json, size_t json_len, ngx_uint_t full)
{
    u_char                *id;
    size_t                 id_len;
    uint32_t               rec_hash;
    ngx_int_t              rc;
    farm_record_t          rec;
    ngx_http_farm_zone_t   z;
    char                   err[FARM_ERR_MAX];

    if (!ngx_http_farm_sync_current(fcf, &z)) {
        return NGX_OK;
    }

    id = key + fcf->key_agent_prefix_len;
    id_len = key_len - fcf->key_agent_prefix_len;

    rec_hash = farm_hash32(json, json_len) | 1;

    if (json_len > FARM_RECORD_MAX) {
        ngx_http_farm_sync_reject(fcf, key, key_len, rec_hash, full,
                                "%s", "record: larger than 64k");
        return NGX_DECLINED;
    }

    /* unchanged since the last sync: no parse */

    if (ngx_http_farm_sync_unchanged(&z, id, id_len, rec_hash, full)) {
        return NGX_OK;
    }

    if (farm_record_parse(&rec, (char *) json, json_len, err) != 0) {
        ngx_http_farm_sync_reject(fcf, key, key_len, rec_hash, full,
                                "%s", err);
        return NGX_DECLINED;
    }

    if (ngx_strlen(rec.id) != id_len
        || ngx_strncmp(rec.id, id, id_len) != 0)
    {
        ngx_http_farm_sync_reject(fcf, key, key_len, rec_hash, full,
                                "id: \"%s\" does not match its key", rec.id);
        farm_record_free(&rec);
        return NGX_DECLINED;
    }

    rc = ngx_http_farm_sync_apply(fcf, &z, key, key_len, &rec, rec_hash,
                                  full);

    farm_record_free(&rec);

    return rc;
}


/*
 * Takes a record the backend has already parsed and validated (Consul's
 * service entries through registry/farm_consul.c, the state file); label
 * names it in log lines.  The record stays the caller's.  Returns NGX_OK,
 * or NGX_DECLINED when the record was skipped.
 */

ngx_int_t
ngx_http_farm_sync_parsed(ngx_http_farm_srv_conf_t *fcf, u_char *label,
    size_t label_len, farm_record_t *rec, ngx_uint_t full)
{
    uint32_t              rec_hash;
    ngx_http_farm_zone_t  z;

    if (!ngx_http_farm_sync_current(fcf, &z)) {
        return NGX_OK;
    }

    rec_hash = ngx_http_farm_record_hash(rec);

    if (ngx_http_farm_sync_unchanged(&z, (u_char *) rec->id,
                                     ngx_strlen(rec->id), rec_hash, full))
    {
        return NGX_OK;
    }

    return ngx_http_farm_sync_apply(fcf, &z, label, label_len, rec, rec_hash,
                                    full);
}


/* 1 if the agent already holds this version of its record (marked seen). */

static ngx_int_t
ngx_http_farm_sync_unchanged(ngx_http_farm_zone_t *z, u_char *id, size_t len,
    uint32_t rec_hash, ngx_uint_t full)
{
    ngx_http_farm_agent_t  *a;

    ngx_shmtx_lock(&z->shpool->mutex);

    a = ngx_http_farm_agent_lookup_locked(z, id, len);

    if (a && a->rec_hash == rec_hash) {
        a->seen = z->sh->sync_epoch;
        z->sh->seen_now += full;
        ngx_shmtx_unlock(&z->shpool->mutex);
        return 1;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return 0;
}


/* The one way a record becomes an agent, whatever it came from. */

static ngx_int_t
ngx_http_farm_sync_apply(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_zone_t *z, u_char *key, size_t key_len, farm_record_t *rec,
    uint32_t rec_hash, ngx_uint_t full)
{
    ngx_int_t    rc;
    ngx_str_t    why;
    const char  *reason;

    if (ngx_strlen(rec->service) != fcf->service.len
        || ngx_strncmp(rec->service, fcf->service.data, fcf->service.len)
           != 0)
    {
        ngx_http_farm_sync_reject(fcf, key, key_len, rec_hash, full,
                                "service: \"%s\" is not the upstream's "
                                "service", rec->service);
        return NGX_DECLINED;
    }

    reason = ngx_http_farm_sync_allowed(fcf, rec);

    if (reason) {
        ngx_http_farm_sync_reject(fcf, key, key_len, rec_hash, full,
                                "%s", reason);
        return NGX_DECLINED;
    }

    rc = ngx_http_farm_agent_apply(z, rec, rec_hash, &why);

    if (rc == NGX_DECLINED) {
        ngx_http_farm_sync_reject(fcf, key, key_len, rec_hash, full,
                                "%s", (char *) why.data);
        return NGX_DECLINED;
    }

    z->sh->seen_now += full;

    ngx_http_farm_sync_propagated(fcf, z, rec, rc, full);
    ngx_http_farm_sync_applied(fcf, z, rec, rc, full ? " (full sync)" : "");

    return NGX_OK;
}


/* After an agent_apply() that took rec: waiters, the log, the rebuilds. */

static void
ngx_http_farm_sync_applied(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_zone_t *z, farm_record_t *rec, ngx_int_t rc,
    const char *how)
{
    if (rc != NGX_OK && rc != NGX_AGAIN) {
        return;
    }

    /* capacity may have come: waiters first */

    ngx_http_farm_queue_dispatch(z, (u_char *) rec->id, ngx_strlen(rec->id));

    ngx_log_error(NGX_LOG_INFO, fcf->log, 0,
                  "farm: agent \"%s\" at %s:%ud %s upstream \"%V\"%s",
                  rec->id, rec->address, rec->port,
                  rc == NGX_OK ? "joined" : "updated in",
                  &fcf->uscf->host, how);

    ngx_http_farm_sync_changed(fcf);
}


/*
 * farm_registry_propagation_seconds: for a record the agent wrote anew (a
 * new agent, or a new "ts": a registration or re-registration, not a
 * heartbeat), the time from its "ts" to its agent in the zone.  Not for
 * the master's startup read nor the first full sync of a new zone: those
 * find agents that registered before this nginx started.  The gateway's
 * clock against the agent's: skew shows up here, clamped at 0.
 */

static void
ngx_http_farm_sync_propagated(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_zone_t *z, farm_record_t *rec, ngx_int_t rc,
    ngx_uint_t full)
{
    int64_t                 now;
    ngx_uint_t              fresh;
    ngx_time_t             *tp;
    ngx_http_farm_agent_t  *a;

    if (rc != NGX_OK && rc != NGX_AGAIN) {
        return;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    a = ngx_http_farm_agent_lookup_locked(z, (u_char *) rec->id,
                                          ngx_strlen(rec->id));
    if (a == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return;
    }

    fresh = (rc == NGX_OK || a->ts != rec->ts);
    a->ts = rec->ts;

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (!fresh || rec->ts == 0 || fcf->warming
        || (full && z->sh->last_sync == 0))
    {
        return;
    }

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;

    ngx_http_farm_hist_observe(&z->sh->stats.propagation,
                               now > rec->ts ? (ngx_msec_t) (now - rec->ts)
                                             : 0);
}


/*
 * A record pushed to this worker, whichever it is (the built-in registry
 * takes registrations in every worker): applied at once, without the sync
 * owner's epoch, the same way as a record read from a registry.  The
 * record stays the caller's.  NGX_DECLINED with why (static text) when the
 * zone refuses it; nothing is logged then, the caller answers with why.
 */

ngx_int_t
ngx_http_farm_sync_push(ngx_http_farm_srv_conf_t *fcf, farm_record_t *rec,
    ngx_str_t *why)
{
    ngx_int_t              rc;
    const char            *reason;
    ngx_http_farm_zone_t   z;

    ngx_http_farm_zone_get(fcf, &z);

    if (ngx_strlen(rec->service) != fcf->service.len
        || ngx_strncmp(rec->service, fcf->service.data, fcf->service.len)
           != 0)
    {
        ngx_str_set(why, "service: is not the upstream's service");
        return NGX_DECLINED;
    }

    reason = ngx_http_farm_sync_allowed(fcf, rec);

    if (reason) {
        why->data = (u_char *) reason;
        why->len = ngx_strlen(reason);
        return NGX_DECLINED;
    }

    rc = ngx_http_farm_agent_apply(&z, rec, ngx_http_farm_record_hash(rec),
                                   why);

    if (rc == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    ngx_http_farm_sync_propagated(fcf, &z, rec, rc, 0);
    ngx_http_farm_sync_applied(fcf, &z, rec, rc, " (built-in registry)");

    return NGX_OK;
}


/* An agent taken out by any worker (the built-in registry), with why. */

void
ngx_http_farm_sync_drop(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len, const char *why)
{
    ngx_http_farm_zone_t  z;

    ngx_http_farm_zone_get(fcf, &z);

    if (ngx_http_farm_agent_remove(&z, id, len) == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, fcf->log, 0,
                      "farm: agent \"%*s\" left upstream \"%V\" (%s)",
                      len, id, &fcf->uscf->host, why);

        ngx_http_farm_sync_changed(fcf);
    }
}


/*
 * May a record point the gateway at its address?  With allow=, only at the
 * networks it lists; without, at anything but link-local addresses and
 * cloud metadata endpoints, where a record that anyone with write access
 * to the registry can make would send clients' requests and health checks
 * to the instance's credentials.  Returns NULL, or why not (a static
 * buffer, valid until the next call).
 */

static const char *
ngx_http_farm_sync_allowed(ngx_http_farm_srv_conf_t *fcf, farm_record_t *rec)
{
    u_char                *p, *b;
    size_t                 len;
    in_addr_t              addr;
    ngx_uint_t             i, n, family;
    ngx_cidr_t            *cidr;
    struct in6_addr        addr6;
    static u_char          text[FARM_ADDRESS_MAX + 128];
    static const u_char    ec2[16] = { 0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0,
                                       0, 0, 0, 0, 0, 0, 0x02, 0x54 };

    len = ngx_strlen(rec->address);

    addr = ngx_inet_addr((u_char *) rec->address, len);

    if (addr != INADDR_NONE) {
        family = AF_INET;

    } else if (ngx_inet6_addr((u_char *) rec->address, len, addr6.s6_addr)
               == NGX_OK)
    {
        family = AF_INET6;

        /* ::ffff:a.b.c.d is the IPv4 address a.b.c.d */

        if (IN6_IS_ADDR_V4MAPPED(&addr6)) {
            family = AF_INET;
            b = &addr6.s6_addr[12];
            addr = htonl((in_addr_t) b[0] << 24 | b[1] << 16 | b[2] << 8
                         | b[3]);
        }

    } else {
        return "address: not an IP address";
    }

    if (fcf->allow) {
        cidr = fcf->allow->elts;

        for (i = 0; i < fcf->allow->nelts; i++) {
            if (cidr[i].family != family) {
                continue;
            }

            if (family == AF_INET) {
                if ((addr & cidr[i].u.in.mask) == cidr[i].u.in.addr) {
                    return NULL;
                }

                continue;
            }

            for (n = 0; n < 16; n++) {
                if ((addr6.s6_addr[n] & cidr[i].u.in6.mask.s6_addr[n])
                    != cidr[i].u.in6.addr.s6_addr[n])
                {
                    break;
                }
            }

            if (n == 16) {
                return NULL;
            }
        }

        p = ngx_snprintf(text, sizeof(text) - 1,
                         "address: %s is not in allow= of farm_registry",
                         rec->address);
        *p = '\0';

        return (char *) text;
    }

    if (family == AF_INET) {
        addr = ntohl(addr);

        /* 169.254.0.0/16 (169.254.169.254 among them), 100.100.100.200 */

        if ((addr & 0xffff0000) != 0xa9fe0000 && addr != 0x646464c8) {
            return NULL;
        }

    } else if (!(addr6.s6_addr[0] == 0xfe
                 && (addr6.s6_addr[1] & 0xc0) == 0x80)
               && ngx_memcmp(addr6.s6_addr, ec2, 16) != 0)
    {
        /* not fe80::/10, not fd00:ec2::254 */

        return NULL;
    }

    p = ngx_snprintf(text, sizeof(text) - 1,
                     "address: %s is a link-local or cloud metadata address; "
                     "farm_registry allow= must list it to be used",
                     rec->address);
    *p = '\0';

    return (char *) text;
}


/*
 * A version of a parsed record, for "unchanged since the last sync": a
 * CRC32 of every field.
 */

static uint32_t
ngx_http_farm_record_hash(farm_record_t *rec)
{
    u_char      buf[64], *p;
    uint32_t    crc;
    ngx_uint_t  i;

    ngx_crc32_init(crc);

    ngx_crc32_update(&crc, (u_char *) rec->id, ngx_strlen(rec->id) + 1);
    ngx_crc32_update(&crc, (u_char *) rec->service,
                     ngx_strlen(rec->service) + 1);
    ngx_crc32_update(&crc, (u_char *) rec->address,
                     ngx_strlen(rec->address) + 1);
    ngx_crc32_update(&crc, (u_char *) rec->region,
                     ngx_strlen(rec->region) + 1);

    for (i = 0; i < rec->ncaps; i++) {
        ngx_crc32_update(&crc, (u_char *) rec->caps[i],
                         ngx_strlen(rec->caps[i]) + 1);
    }

    p = ngx_sprintf(buf, "%ud %ud %ud %ud %ui", rec->port, rec->weight,
                    rec->max_conns, rec->backup ? 1 : 0, rec->ncaps);

    /* a new "ts" is a new registration (and no ts, the hash of before) */

    if (rec->ts) {
        p = ngx_sprintf(p, " %L", (int64_t) rec->ts);
    }

    ngx_crc32_update(&crc, buf, p - buf);

    if (rec->meta) {
        ngx_crc32_update(&crc, (u_char *) rec->meta, ngx_strlen(rec->meta));
    }

    ngx_crc32_final(crc);

    return crc | 1;
}


/*
 * Skips a bad record with one error line naming its key and the reason
 * (fmt has one %s for reason).  One line per bad version of a record, not
 * one per resync: a small table of what was reported keeps the log
 * readable while the record stays bad.
 */

void
ngx_http_farm_sync_reject(ngx_http_farm_srv_conf_t *fcf, u_char *key,
    size_t key_len, uint32_t rec_hash, ngx_uint_t full, const char *fmt,
    const char *reason)
{
    u_char                text[FARM_ERR_MAX + 64], *p;
    u_char                safe[4 * (FARM_ERR_MAX + 64)];
    u_char                safe_key[4 * FARM_KEY_MAX], *k;
    uint64_t              mark, *slot;
    ngx_uint_t            i, n;
    ngx_http_farm_zone_t  z;

    if (!ngx_http_farm_sync_current(fcf, &z)) {
        return;
    }

    ngx_http_farm_stats_inc(z.sh->stats.records_rejected);

    if (full) {
        ngx_shmtx_lock(&z.shpool->mutex);
        z.sh->bad_now++;
        ngx_shmtx_unlock(&z.shpool->mutex);
    }

    /* open addressing, 8 probes; when they are all taken, the first goes */

    mark = ((uint64_t) farm_hash32(key, key_len) << 32) | rec_hash;
    slot = NULL;

    for (n = 0; n < 8; n++) {
        i = (mark + n) % NGX_HTTP_FARM_REPORTED;

        if (fcf->reported[i] == mark) {
            return;
        }

        if (slot == NULL && fcf->reported[i] == 0) {
            slot = &fcf->reported[i];
        }
    }

    if (slot == NULL) {
        slot = &fcf->reported[mark % NGX_HTTP_FARM_REPORTED];
    }

    *slot = mark;

    p = ngx_snprintf(text, sizeof(text), fmt, reason);

    /* registry data may hold anything, CR and LF too */

    p = ngx_http_farm_log_escape(safe, safe + sizeof(safe), text, p - text);
    k = ngx_http_farm_log_escape(safe_key, safe_key + sizeof(safe_key), key,
                                 ngx_min(key_len, FARM_KEY_MAX));

    ngx_log_error(NGX_LOG_ERR, fcf->log, 0,
                  "farm: skipping registry record \"%*s\" of upstream "
                  "\"%V\": %*s", k - safe_key, safe_key, &fcf->uscf->host,
                  p - safe, safe);
}


void
ngx_http_farm_sync_delete(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len)
{
    ngx_http_farm_zone_t  z;

    if (!ngx_http_farm_sync_current(fcf, &z)) {
        return;
    }

    if (ngx_http_farm_agent_remove(&z, id, len) == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, fcf->log, 0,
                      "farm: agent \"%*s\" left upstream \"%V\"",
                      len, id, &fcf->uscf->host);

        ngx_http_farm_sync_changed(fcf);
    }
}


/*
 * During a full sync: the registry lists this agent but says it is failing
 * (why, e.g. "its Consul check is critical").  It goes at once, hold= or
 * not, and counts as listed, so a registry whose agents are all failing is
 * not mistaken for one that lost them.
 */

void
ngx_http_farm_sync_unhealthy(ngx_http_farm_srv_conf_t *fcf, u_char *id,
    size_t len, const char *why)
{
    ngx_http_farm_zone_t  z;

    if (!ngx_http_farm_sync_current(fcf, &z)) {
        return;
    }

    fcf->listed++;

    if (ngx_http_farm_agent_remove(&z, id, len) == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, fcf->log, 0,
                      "farm: agent \"%*s\" left upstream \"%V\" (%s)",
                      len, id, &fcf->uscf->host, why);

        ngx_http_farm_sync_changed(fcf);
    }
}


/*
 * Ends a full sync: agents the registry no longer lists go, unless the
 * registry has just come back empty or restarted (see sync_hold).
 */

void
ngx_http_farm_sync_end(ngx_http_farm_srv_conf_t *fcf)
{
    ngx_uint_t             empty;
    ngx_event_t           *ev;
    ngx_http_farm_zone_t   z;

    if (!ngx_http_farm_sync_current(fcf, &z)) {
        return;
    }

    ngx_shmtx_lock(&z.shpool->mutex);

    z.sh->last_sync = ngx_time();
    z.sh->syncs++;
    ngx_http_farm_hist_observe(&z.sh->stats.sync_time,
                               ngx_current_msec - z.sh->stats.sync_started);
    z.sh->bad_records = z.sh->bad_now;
    empty = (z.sh->seen_now == 0 && z.sh->nagents > 0 && fcf->listed == 0
             && fcf->url.type == FARM_URL_REDIS);

    ngx_shmtx_unlock(&z.shpool->mutex);

    if (empty) {
        ngx_http_farm_sync_hold(fcf, "lists no agents");
    }

    if (fcf->hold_until && ngx_current_msec < fcf->hold_until) {
        fcf->sweep_next = 0;
        ngx_http_farm_state_sync_end(fcf);
        return;
    }

    fcf->hold_until = 0;

    /*
     * The sweep: agents not seen since this sync began go.  The master's
     * startup read sweeps at once; the sync owner in steps, one per event
     * loop iteration, so that a worker with many agents never stops
     * serving for the whole pass.  A full sync that ends during a sweep
     * gives it its own epoch and a whole pass from where it is (around
     * the end to there), so that syncs ending faster than a pass (Consul)
     * still let each pass end.
     */

    fcf->sweep_epoch = z.sh->sync_epoch;
    fcf->sweep_left = z.sh->nslots;

    if (fcf->sweep_next == 0) {
        fcf->sweep_next = 1;
    }

    if (fcf->warming) {
        (void) ngx_http_farm_sync_sweep_step(fcf, &z, NGX_HTTP_FARM_NONE32,
                                             NGX_HTTP_FARM_NONE32);
        return;
    }

    ev = &fcf->sweep_ev;
    ev->handler = ngx_http_farm_sync_sweep_handler;
    ev->data = fcf;
    ev->log = ngx_cycle->log;

    ngx_http_farm_sync_sweep_handler(ev);
}


/* One step of the sweep; the next one on the next loop iteration. */

static void
ngx_http_farm_sync_sweep_handler(ngx_event_t *ev)
{
    ngx_http_farm_srv_conf_t  *fcf = ev->data;

    ngx_http_farm_zone_t  z;

    if (fcf->sweep_next == 0
        || ngx_exiting || !ngx_http_farm_sync_current(fcf, &z))
    {
        return;
    }

    if (!ngx_http_farm_sync_sweep_step(fcf, &z, NGX_HTTP_FARM_SWEEP_SLOTS,
                                       NGX_HTTP_FARM_SWEEP_REMOVALS)
        && !ev->posted)
    {
        ngx_post_event(ev, &ngx_posted_next_events);
    }
}


/*
 * Looks at up to slots of the fcf->sweep_left slots from fcf->sweep_next
 * (1 + the slot, around the end of the slots), and removes up to removals
 * agents the registry did not list in the sweep's sync: seen before its
 * epoch (an agent seen by a later sync or a change since stays).  The zone
 * is locked one slot at a time.  Returns 1 when the pass is over; the hash
 * tables, the subsets and the state file follow then.
 */

static ngx_uint_t
ngx_http_farm_sync_sweep_step(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_zone_t *z, uint32_t slots, uint32_t removals)
{
    u_char                  id[FARM_ID_MAX];
    size_t                  len;
    uint32_t                i, looked, removed;
    ngx_http_farm_agent_t  *a;

    looked = 0;
    removed = 0;
    i = fcf->sweep_next - 1;

    while (fcf->sweep_left && looked < slots && removed < removals) {

        if (i >= z->sh->nslots) {
            i = 0;
        }

        a = &z->sh->agents[i++];
        fcf->sweep_left--;
        looked++;

        ngx_shmtx_lock(&z->shpool->mutex);

        if (a->state != NGX_HTTP_FARM_SLOT_UP
            || a->seen >= fcf->sweep_epoch)
        {
            ngx_shmtx_unlock(&z->shpool->mutex);
            continue;
        }

        len = a->sn.str.len;
        ngx_memcpy(id, a->id, len);

        ngx_shmtx_unlock(&z->shpool->mutex);

        if (ngx_http_farm_agent_remove(z, id, len) == NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, fcf->log, 0,
                          "farm: agent \"%*s\" left upstream \"%V\" "
                          "(no longer in the registry)",
                          len, id, &fcf->uscf->host);

            fcf->state_dirty = 1;
            removed++;
        }
    }

    if (fcf->sweep_left) {
        fcf->sweep_next = i + 1;
        return 0;
    }

    fcf->sweep_next = 0;

    (void) ngx_http_farm_zone_rebuild_hash(z);
    ngx_http_farm_subsets_rebuild(z);

    ngx_http_farm_state_sync_end(fcf);

    return 1;
}


/*
 * A registry that restarted or lost its data comes back empty while its
 * agents re-register (within one heartbeat).  For hold= after that, full
 * syncs add agents but remove none, so the gateway keeps routing to the
 * last known ones instead of refusing traffic in between.  Redis: a new
 * run_id, or a full sync that lists no agent at all.  Consul, where every
 * change is a full sync and an empty list may just mean the last agent
 * left: X-Consul-Index going back, or the first answer after an outage.
 */

void
ngx_http_farm_sync_hold(ngx_http_farm_srv_conf_t *fcf, const char *why)
{
    ngx_http_farm_zone_t  z;

    if (fcf->hold == 0 || fcf->hold_until) {
        return;
    }

    ngx_http_farm_zone_get(fcf, &z);

    fcf->hold_until = ngx_current_msec + fcf->hold;
    fcf->sweep_next = 0;                        /* a sweep running stops */

    ngx_log_error(NGX_LOG_WARN, fcf->log, 0,
                  "farm: registry %V of upstream \"%V\" %s; keeping the "
                  "%uD known agents for %M ms while they register again",
                  &fcf->url_display, &fcf->uscf->host, why, z.sh->nagents,
                  fcf->hold);
}


void
ngx_http_farm_sync_registry_state(ngx_http_farm_srv_conf_t *fcf,
    ngx_uint_t up, const char *reason)
{
    u_char                text[256], *p;
    time_t                now;
    ngx_uint_t            was;
    ngx_http_farm_zone_t  z;

    if (!ngx_http_farm_sync_current(fcf, &z)) {
        return;
    }

    ngx_shmtx_lock(&z.shpool->mutex);

    was = z.sh->registry_up;
    z.sh->registry_up = up;

    if (!up) {
        z.sh->sync_errors++;
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    if (up) {
        if (!was && fcf->down_logged) {
            ngx_log_error(NGX_LOG_NOTICE, fcf->log, 0,
                          "farm: registry %V of upstream \"%V\" is "
                          "reachable again", &fcf->url_display,
                          &fcf->uscf->host);
        }

        fcf->down_logged = 0;
        return;
    }

    now = ngx_time();

    if (fcf->down_logged
        && now - fcf->down_logged < NGX_HTTP_FARM_DOWN_LOG_EVERY)
    {
        return;
    }

    fcf->down_logged = now;

    p = ngx_http_farm_log_escape(text, text + sizeof(text), (u_char *) reason,
                                 ngx_strlen(reason));

    ngx_log_error(NGX_LOG_ERR, fcf->log, 0,
                  "farm: registry %V of upstream \"%V\" is unreachable "
                  "(%*s); routing to the %uD last known agents",
                  &fcf->url_display, &fcf->uscf->host, p - text, text,
                  z.sh->nagents);
}


/*
 * Hash tables follow membership changes at once, but at most once per
 * NGX_HTTP_FARM_REBUILD_DELAY: a lone change is rebuilt at the end of this
 * event loop iteration, a burst (thousands of agents registering at once)
 * costs one rebuild per interval, not one per agent.
 */

static void
ngx_http_farm_sync_changed(ngx_http_farm_srv_conf_t *fcf)
{
    ngx_msec_t    elapsed;
    ngx_event_t  *ev;

    fcf->state_dirty = 1;

    ev = &fcf->rebuild_ev;

    if (ev->handler == NULL || ev->timer_set || ev->posted) {
        return;
    }

    elapsed = ngx_current_msec - fcf->rebuilt;

    if (elapsed >= NGX_HTTP_FARM_REBUILD_DELAY) {
        ngx_post_event(ev, &ngx_posted_events);

    } else {
        ngx_add_timer(ev, NGX_HTTP_FARM_REBUILD_DELAY - elapsed);
    }
}


static void
ngx_http_farm_sync_rebuild_handler(ngx_event_t *ev)
{
    ngx_http_farm_srv_conf_t  *fcf = ev->data;

    ngx_http_farm_zone_t  z;

    if (ngx_exiting || !ngx_http_farm_sync_current(fcf, &z)) {
        return;
    }

    fcf->rebuilt = ngx_current_msec;

    (void) ngx_http_farm_zone_rebuild_hash(&z);
    ngx_http_farm_subsets_rebuild(&z);
}
