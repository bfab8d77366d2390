
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Passive circuit breakers: every proxied request's outcome counts for its
 * agent.  closed -> open after failures= failures in a row (no traffic);
 * after the cooldown, half-open (at most half_open= trial requests at
 * once); a trial that succeeds closes it, one that fails opens it again
 * with the cooldown doubled, up to max_cooldown=.  Never more than
 * max_eject= percent of the agents are open at once.
 */


#include "ngx_http_farm_breaker.h"
#include "ngx_http_farm_queue.h"


#define NGX_HTTP_FARM_BREAKER_TICK  100     /* ms */
#define NGX_HTTP_FARM_NOTES         16


static void ngx_http_farm_breaker_open_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a, ngx_http_farm_note_t *note, ngx_uint_t trial);
static void ngx_http_farm_breaker_tick(ngx_event_t *ev);
static ngx_uint_t ngx_http_farm_response_cut(ngx_http_request_t *r);


char *
ngx_http_farm_breaker(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    ngx_int_t                      n;
    ngx_str_t                     *value, s, status;
    ngx_uint_t                     i;
    const char                    *why;
    ngx_http_farm_breaker_conf_t  *bcf;

    bcf = &fcf->breaker;

    if (bcf->enabled) {
        return "is duplicate";
    }

    bcf->enabled = 1;
    bcf->failures = 5;
    bcf->cooldown = 10000;
    bcf->max_cooldown = 300000;
    bcf->half_open = 3;
    bcf->max_eject = 50;

    ngx_str_set(&status, "500-599");

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "failures=", 9) == 0) {
            why = "a number from 1 to 1000";
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);
            if (n < 1 || n > 1000) {
                goto invalid;
            }

            bcf->failures = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "half_open=", 10) == 0) {
            why = "a number from 1 to 1000";
            n = ngx_atoi(value[i].data + 10, value[i].len - 10);
            if (n < 1 || n > 1000) {
                goto invalid;
            }

            bcf->half_open = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_eject=", 10) == 0) {
            why = "a percentage from 0% to 100%";
            s.data = value[i].data + 10;
            s.len = value[i].len - 10;

            if (s.len && s.data[s.len - 1] == '%') {
                s.len--;
            }

            n = ngx_atoi(s.data, s.len);
            if (n < 0 || n > 100) {
                goto invalid;
            }

            bcf->max_eject = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "cooldown=", 9) == 0) {
            why = "a time of at least 100ms";
            if (ngx_http_farm_conf_msec(&value[i], 9, 100, &bcf->cooldown)
                != NGX_OK)
            {
                goto invalid;
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_cooldown=", 13) == 0) {
            why = "a time of at least 100ms";
            if (ngx_http_farm_conf_msec(&value[i], 13, 100, &bcf->max_cooldown)
                != NGX_OK)
            {
                goto invalid;
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "status=", 7) == 0) {
            status.data = value[i].data + 7;
            status.len = value[i].len - 7;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown \"farm_breaker\" parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (bcf->max_cooldown < bcf->cooldown) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_breaker\" max_cooldown=%M ms is shorter "
                           "than cooldown=%M ms", bcf->max_cooldown,
                           bcf->cooldown);
        return NGX_CONF_ERROR;
    }

    return ngx_http_farm_parse_statuses(cf, &status, bcf->status);

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"farm_breaker\" parameter \"%V\": "
                       "expected %s", &value[i], why);

    return NGX_CONF_ERROR;
}


/*
 * What a finished try means for its agent's breaker: 1 a failure, 0 a
 * success, -1 neither (the client left before the agent answered).  Called
 * without the lock.  Without farm_breaker, a failure is what nginx calls
 * one (connect error, timeout, a status of proxy_next_upstream).  Either
 * way, a response the agent cut short after its header is a failure:
 * nginx logs its status and counts the try as good, but the client got a
 * truncated body.
 */

ngx_int_t
ngx_http_farm_breaker_failed(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_request_t *r, ngx_uint_t state)
{
    ngx_uint_t  status;

    if (!(state & NGX_PEER_FAILED) && ngx_http_farm_response_cut(r)) {
        return 1;
    }

    if (!fcf->breaker.enabled) {
        return (state & NGX_PEER_FAILED) ? 1 : 0;
    }

    status = r->upstream ? r->upstream->headers_in.status_n : 0;

    if (status) {
        return ngx_http_farm_status_in(fcf->breaker.status, status) ? 1 : 0;
    }

    /* no status: connect error, timeout, an invalid header */

    if (state & NGX_PEER_FAILED) {
        return 1;
    }

    return -1;
}


/*
 * Whether the agent's response ended before its body did, once its header
 * had gone to the client: the agent closed the connection or timed out in
 * the middle of the body.  Not when the client went away, nor for
 * responses without a body or a connection handed over (an upgrade).
 */

static ngx_uint_t
ngx_http_farm_response_cut(ngx_http_request_t *r)
{
    ngx_event_pipe_t     *p;
    ngx_connection_t     *c;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    if (u == NULL || !u->header_sent || u->upgrade || r->header_only
        || r->connection->error)
    {
        return 0;
    }

    if (u->buffering) {
        p = u->pipe;

        if (p == NULL || p->downstream_error) {
            return 0;
        }

        return !(p->upstream_done || (p->upstream_eof && p->length == -1));
    }

    if (u->length == 0) {
        return 0;
    }

    c = u->peer.connection;

    return !(u->length == -1 && c && c->read->eof);
}


/*
 * Counts an outcome for an agent's breaker.  Returns what changed in the
 * zone (NGX_HTTP_FARM_CHANGED_*, for the caller to dispatch the queue).
 */

ngx_uint_t
ngx_http_farm_breaker_outcome_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a, ngx_int_t ok, ngx_http_farm_note_t *note)
{
    ngx_uint_t                     allowed, changed;
    ngx_http_farm_breaker_conf_t  *bcf;

    bcf = &z->fcf->breaker;

    if (ok) {
        a->bfails = 0;

        if (a->breaker == NGX_HTTP_FARM_BREAKER_HALF) {
            a->breaker = NGX_HTTP_FARM_BREAKER_CLOSED;
            a->closed_at = ngx_current_msec;
            ngx_http_farm_stats_inc(
                z->sh->stats.transitions[NGX_HTTP_FARM_TO_CLOSED]);
            changed = ngx_http_farm_agent_refresh_locked(z, a);

            ngx_http_farm_note(note, NGX_LOG_NOTICE,
                               "farm: breaker of agent \"%V\" (%*s) of "
                               "upstream \"%V\" closed: a trial request "
                               "succeeded", &a->sn.str, a->name_len, a->name,
                               &z->fcf->uscf->host);
            return changed;
        }

        return 0;
    }

    a->bfails++;

    if (a->breaker == NGX_HTTP_FARM_BREAKER_HALF) {
        ngx_http_farm_breaker_open_locked(z, a, note, 1);
        return 0;
    }

    if (a->breaker != NGX_HTTP_FARM_BREAKER_CLOSED
        || a->bfails < bcf->failures)
    {
        return 0;
    }

    allowed = z->sh->nagents * bcf->max_eject / 100;

    if (bcf->max_eject && allowed == 0) {
        allowed = 1;
    }

    if (z->sh->ejected >= allowed) {
        if (a->bfails == bcf->failures) {
            ngx_http_farm_note(note, NGX_LOG_WARN,
                               "farm: agent \"%V\" (%*s) of upstream \"%V\" "
                               "failed %uD times in a row but stays in: "
                               "%ui of %uD agents are ejected already "
                               "(max_eject=%ui%%)", &a->sn.str, a->name_len,
                               a->name, &z->fcf->uscf->host, a->bfails,
                               z->sh->ejected, z->sh->nagents,
                               bcf->max_eject);
        }

        return 0;
    }

    ngx_http_farm_breaker_open_locked(z, a, note, 0);

    return 0;
}


/* Opens an agent's breaker; an open breaker adds no capacity. */

static void
ngx_http_farm_breaker_open_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a, ngx_http_farm_note_t *note, ngx_uint_t trial)
{
    ngx_msec_t                     cooldown, now;
    ngx_uint_t                     shift;
    ngx_http_farm_breaker_conf_t  *bcf;

    bcf = &z->fcf->breaker;
    now = ngx_current_msec;

    /* an agent that stayed healthy for max_cooldown starts afresh */

    if (a->breaker == NGX_HTTP_FARM_BREAKER_CLOSED
        && now - a->closed_at > bcf->max_cooldown)
    {
        a->ejections = 0;
    }

    shift = ngx_min(a->ejections, 20);
    cooldown = ngx_min(bcf->cooldown << shift, bcf->max_cooldown);

    ngx_http_farm_stats_inc(z->sh->stats.ejections);
    ngx_http_farm_stats_inc(z->sh->stats.transitions[
        a->breaker == NGX_HTTP_FARM_BREAKER_HALF ? NGX_HTTP_FARM_TO_REOPEN
                                                 : NGX_HTTP_FARM_TO_OPEN]);

    a->ejections++;
    a->breaker = NGX_HTTP_FARM_BREAKER_OPEN;
    a->reopen_at = now + cooldown;
    a->reopen_time = ngx_time() + (time_t) ((cooldown + 999) / 1000);

    z->sh->ejected++;

    ngx_http_farm_reopen_add_locked(z, a);

    (void) ngx_http_farm_agent_refresh_locked(z, a);

    if (trial) {
        ngx_http_farm_note(note, NGX_LOG_WARN,
                           "farm: breaker of agent \"%V\" (%*s) of upstream "
                           "\"%V\" opened for %M ms after 1 failure: a "
                           "trial request failed", &a->sn.str, a->name_len,
                           a->name, &z->fcf->uscf->host, cooldown);
        return;
    }

    ngx_http_farm_note(note, NGX_LOG_WARN,
                       "farm: breaker of agent \"%V\" (%*s) of upstream "
                       "\"%V\" opened for %M ms after %uD %s in a row",
                       &a->sn.str, a->name_len, a->name, &z->fcf->uscf->host,
                       cooldown, a->bfails,
                       a->bfails == 1 ? "failure" : "failures");
}


/* The sync owner moves open breakers to half-open when they are due. */

ngx_int_t
ngx_http_farm_breaker_start(ngx_http_farm_srv_conf_t *fcf, ngx_cycle_t *cycle)
{
    ngx_event_t  *ev;

    if (!fcf->breaker.enabled) {
        return NGX_OK;
    }

    ev = &fcf->breaker_ev;
    ev->handler = ngx_http_farm_breaker_tick;
    ev->data = fcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_HTTP_FARM_BREAKER_TICK);

    return NGX_OK;
}


static void
ngx_http_farm_breaker_tick(ngx_event_t *ev)
{
    ngx_http_farm_srv_conf_t  *fcf = ev->data;

    ngx_msec_t              now;
    ngx_uint_t              n, k, changed;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_note_t    notes[NGX_HTTP_FARM_NOTES];
    ngx_http_farm_agent_t  *a;

    if (ngx_exiting) {
        return;
    }

    ngx_http_farm_zone_get(fcf, &z);
    now = ngx_current_msec;

    if (z.sh->next_reopen && (ngx_msec_int_t) (now - z.sh->next_reopen) >= 0)
    {
        n = 0;

        ngx_shmtx_lock(&z.shpool->mutex);

        /* the due ones, first due first: O(log n) each */

        while (n < NGX_HTTP_FARM_NOTES) {
            a = ngx_http_farm_reopen_first_locked(&z);

            if (a == NULL || (ngx_msec_int_t) (now - a->reopen_at) < 0) {
                break;
            }

            ngx_http_farm_reopen_del_locked(&z, a);

            if (a->state != NGX_HTTP_FARM_SLOT_UP
                || a->breaker != NGX_HTTP_FARM_BREAKER_OPEN)
            {
                continue;
            }

            a->breaker = NGX_HTTP_FARM_BREAKER_HALF;
            a->bfails = 0;
            ngx_http_farm_stats_inc(
                z.sh->stats.transitions[NGX_HTTP_FARM_TO_HALF]);
            z.sh->ejected--;
            changed = ngx_http_farm_agent_refresh_locked(&z, a);

            if (changed & NGX_HTTP_FARM_CHANGED_CAPACITY) {
                ngx_http_farm_queue_dispatch_locked(&z, a);
            }

            ngx_http_farm_note(&notes[n++], NGX_LOG_NOTICE,
                               "farm: breaker of agent \"%V\" (%*s) of "
                               "upstream \"%V\" is half-open: up to %ui "
                               "trial requests", &a->sn.str, a->name_len,
                               a->name, &fcf->uscf->host,
                               fcf->breaker.half_open);
        }

        ngx_shmtx_unlock(&z.shpool->mutex);

        for (k = 0; k < n; k++) {
            ngx_log_error(notes[k].level, ev->log, 0, "%s", notes[k].text);
        }
    }

    ngx_add_timer(ev, NGX_HTTP_FARM_BREAKER_TICK);
}
