
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Active health checks.  Every agent is checked once per interval per
 * gateway: worker w checks the slots s with s % workers == w.  A check is
 * an HTTP/1.0 GET on nginx's event loop with its own timeout; it passes
 * when the status is in status= and the body matches body= (PCRE2 through
 * nginx's regex).  fall= failed checks in a row take an agent out, rise=
 * passed ones bring it back.  The agent's answer may also say it is
 * draining, and report its weight and its requests in flight (farm-agent's
 * /health JSON does); the gateway follows.  Results live in the zone.
 */


#include "ngx_http_farm_module.h"
#include "ngx_http_farm_check_parse.h"


#define NGX_HTTP_FARM_CHECK_BUF    16384   /* response bytes looked at */
#define NGX_HTTP_FARM_CHECK_TICK   100     /* ms between scans */
#define NGX_HTTP_FARM_CHECK_FAST   10      /* ms, while new agents wait */


struct ngx_http_farm_health_s {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_event_t                    tick;
    ngx_uint_t                     worker;
    ngx_uint_t                     workers;
};


typedef struct {
    ngx_http_farm_health_t        *hc;
    uint32_t                       slot;
    uint32_t                       gen;
    ngx_connection_t              *c;
    ngx_event_t                    timeout;

    ngx_sockaddr_t                 sockaddr;
    socklen_t                      socklen;
    u_char                         name[NGX_SOCKADDR_STRLEN];
    size_t                         name_len;

    u_char                        *out;
    size_t                         out_len;
    size_t                         sent;

    u_char                        *in;
    size_t                         in_len;
} ngx_http_farm_check_t;


/* what the agent's answer said about itself */
typedef struct {
    ngx_int_t                      draining;    /* -1: not said */
    ngx_int_t                      weight;      /* 0: not said */
    ngx_int_t                      inflight;
} ngx_http_farm_report_t;


static void ngx_http_farm_health_tick(ngx_event_t *ev);
static ngx_http_farm_check_t *ngx_http_farm_check_alloc(
    ngx_http_farm_health_t *hc, ngx_http_farm_agent_t *a);
static void ngx_http_farm_check_start(ngx_http_farm_check_t *ck);
static void ngx_http_farm_check_write(ngx_event_t *wev);
static void ngx_http_farm_check_read(ngx_event_t *rev);
static void ngx_http_farm_check_timeout(ngx_event_t *ev);
static void ngx_http_farm_check_evaluate(ngx_http_farm_check_t *ck);
static void ngx_http_farm_check_done(ngx_http_farm_check_t *ck,
    ngx_uint_t pass, ngx_http_farm_report_t *rep, const char *error);
static void ngx_http_farm_check_free(ngx_http_farm_check_t *ck);


char *
ngx_http_farm_health_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    u_char                        errstr[NGX_MAX_CONF_ERRSTR];
    ngx_int_t                     n;
    ngx_str_t                    *value, s, status;
    ngx_uint_t                    i, jitter_set;
    ngx_msec_t                    ms;
    const char                   *why;
    ngx_regex_compile_t           rc;
    ngx_http_farm_health_conf_t  *hcf;

    hcf = &fcf->health;

    if (hcf->enabled) {
        return "is duplicate";
    }

    hcf->enabled = 1;
    ngx_str_set(&hcf->uri, "/health");
    hcf->interval = 1000;
    hcf->timeout = 500;
    hcf->rise = 2;
    hcf->fall = 3;
    hcf->mandatory = 1;
    jitter_set = 0;

    ngx_str_set(&status, "200-399");

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "uri=", 4) == 0) {
            why = "a path starting with \"/\", without spaces";
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            if (s.len == 0 || s.data[0] != '/'
                || ngx_strlchr(s.data, s.data + s.len, ' ')
                || ngx_strlchr(s.data, s.data + s.len, '\r')
                || ngx_strlchr(s.data, s.data + s.len, '\n'))
            {
                goto invalid;
            }

            hcf->uri = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0
            || ngx_strncmp(value[i].data, "timeout=", 8) == 0
            || ngx_strncmp(value[i].data, "jitter=", 7) == 0)
        {
            why = "a time of at least 10ms";
            s.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.len = value[i].data + value[i].len - s.data;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            if (value[i].data[0] == 'j') {
                why = "a time";
                hcf->jitter = ms;
                jitter_set = 1;
                continue;
            }

            if (ms < 10) {
                goto invalid;
            }

            if (value[i].data[0] == 'i') {
                hcf->interval = ms;

            } else {
                hcf->timeout = ms;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rise=", 5) == 0
            || ngx_strncmp(value[i].data, "fall=", 5) == 0)
        {
            why = "a number from 1 to 100";
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);
            if (n < 1 || n > 100) {
                goto invalid;
            }

            if (value[i].data[0] == 'r') {
                hcf->rise = n;

            } else {
                hcf->fall = n;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "status=", 7) == 0) {
            status.data = value[i].data + 7;
            status.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "mandatory=", 10) == 0) {
            why = "on or off";
            s.data = value[i].data + 10;
            s.len = value[i].len - 10;

            if (s.len == 2 && ngx_strncmp(s.data, "on", 2) == 0) {
                hcf->mandatory = 1;

            } else if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                hcf->mandatory = 0;

            } else {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "body=", 5) == 0) {
            why = "a regular expression";
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len && s.data[0] == '~') {
                s.data++;
                s.len--;
            }

            if (s.len == 0) {
                goto invalid;
            }

            ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

            rc.pattern = s;
            rc.pool = cf->pool;
            rc.err.len = NGX_MAX_CONF_ERRSTR;
            rc.err.data = errstr;

            if (ngx_regex_compile(&rc) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"farm_health_check\" body=: %V",
                                   &rc.err);
                return NGX_CONF_ERROR;
            }

            hcf->body = rc.regex;
            hcf->body_source = s;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown \"farm_health_check\" parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (!jitter_set) {
        hcf->jitter = hcf->interval / 10;
    }

    return ngx_http_farm_parse_statuses(cf, &status, hcf->status);

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"farm_health_check\" parameter \"%V\": "
                       "expected %s", &value[i], why);

    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_http_farm_health_start(ngx_http_farm_srv_conf_t *fcf, ngx_cycle_t *cycle)
{
    ngx_core_conf_t         *ccf;
    ngx_http_farm_health_t  *hc;

    if (!fcf->health.enabled) {
        return NGX_OK;
    }

    hc = ngx_pcalloc(cycle->pool, sizeof(ngx_http_farm_health_t));
    if (hc == NULL) {
        return NGX_ERROR;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    hc->fcf = fcf;

    if (ngx_process == NGX_PROCESS_SINGLE) {
        hc->workers = 1;
        hc->worker = 0;

    } else {
        hc->workers = ccf->worker_processes;
        hc->worker = ngx_worker;
    }

    hc->tick.handler = ngx_http_farm_health_tick;
    hc->tick.data = hc;
    hc->tick.log = cycle->log;
    hc->tick.cancelable = 1;

    fcf->checker = hc;

    ngx_add_timer(&hc->tick, 1);

    return NGX_OK;
}


void
ngx_http_farm_health_stop(ngx_http_farm_srv_conf_t *fcf)
{
    if (fcf->checker && fcf->checker->tick.timer_set) {
        ngx_del_timer(&fcf->checker->tick);
    }
}


static void
ngx_http_farm_health_tick(ngx_event_t *ev)
{
    ngx_http_farm_health_t  *hc = ev->data;

    uint32_t                      slot;
    ngx_msec_t                    now;
    ngx_http_farm_zone_t          z;
    ngx_http_farm_agent_t        *a;
    ngx_http_farm_check_t        *ck;
    ngx_http_farm_health_conf_t  *hcf;

    if (ngx_exiting) {
        return;
    }

    hcf = &hc->fcf->health;

    ngx_http_farm_zone_get(hc->fcf, &z);

    now = ngx_current_msec;

    for (slot = hc->worker; slot < z.sh->nslots; slot += hc->workers) {
        a = &z.sh->agents[slot];

        /* an unlocked look first: most agents are not due */

        if (a->state != NGX_HTTP_FARM_SLOT_UP || a->checking
            || (ngx_msec_int_t) (a->next_check - now) > 0)
        {
            continue;
        }

        ngx_shmtx_lock(&z.shpool->mutex);

        if (a->state != NGX_HTTP_FARM_SLOT_UP || a->checking
            || (ngx_msec_int_t) (a->next_check - now) > 0)
        {
            ngx_shmtx_unlock(&z.shpool->mutex);
            continue;
        }

        a->checking = 1;
        a->next_check = now + hcf->interval
                        + (hcf->jitter ? (ngx_msec_t) ngx_random()
                                         % (hcf->jitter + 1)
                                       : 0);

        ck = ngx_http_farm_check_alloc(hc, a);

        ngx_shmtx_unlock(&z.shpool->mutex);

        if (ck) {
            ngx_http_farm_check_start(ck);
        }
    }

    ngx_add_timer(ev, z.sh->unchecked ? NGX_HTTP_FARM_CHECK_FAST
                                      : ngx_min(NGX_HTTP_FARM_CHECK_TICK,
                                                hcf->interval));
}


/*
 * Called under the lock with a->checking set: a check with a copy of what
 * it needs of the agent.  NULL (and the agent unmarked) without memory.
 */

static ngx_http_farm_check_t *
ngx_http_farm_check_alloc(ngx_http_farm_health_t *hc,
    ngx_http_farm_agent_t *a)
{
    size_t                  len;
    ngx_http_farm_check_t  *ck;

    len = sizeof("GET  HTTP/1.0\r\nHost: \r\nUser-Agent: ngx_farm/"
                 NGX_HTTP_FARM_VERSION "\r\nAccept: */*\r\n\r\n")
          + hc->fcf->health.uri.len + NGX_SOCKADDR_STRLEN;

    ck = ngx_calloc(sizeof(ngx_http_farm_check_t) + len
                    + NGX_HTTP_FARM_CHECK_BUF + 1, ngx_cycle->log);
    if (ck == NULL) {
        a->checking = 0;
        return NULL;
    }

    ck->hc = hc;
    ck->slot = a->slot;
    ck->gen = a->gen;

    ngx_memcpy(&ck->sockaddr, &a->sockaddr, a->socklen);
    ck->socklen = a->socklen;
    ngx_memcpy(ck->name, a->name, a->name_len);
    ck->name_len = a->name_len;

    ck->out = (u_char *) ck + sizeof(ngx_http_farm_check_t);
    ck->out_len = ngx_sprintf(ck->out, "GET %V HTTP/1.0\r\nHost: %*s\r\n"
                              "User-Agent: ngx_farm/" NGX_HTTP_FARM_VERSION
                              "\r\nAccept: */*\r\n\r\n",
                              &hc->fcf->health.uri, ck->name_len, ck->name)
                  - ck->out;
    ck->in = ck->out + len;

    ck->timeout.handler = ngx_http_farm_check_timeout;
    ck->timeout.data = ck;
    ck->timeout.log = ngx_cycle->log;
    ck->timeout.cancelable = 1;

    return ck;
}


/* Connects, without the lock; a check that cannot start fails at once. */

static void
ngx_http_farm_check_start(ngx_http_farm_check_t *ck)
{
    int                rc;
    ngx_err_t          err;
    ngx_socket_t       s;
    ngx_event_t       *rev, *wev;
    ngx_connection_t  *c;

    s = ngx_socket(ck->sockaddr.sockaddr.sa_family, SOCK_STREAM, 0);

    if (s == (ngx_socket_t) -1) {
        ngx_http_farm_check_done(ck, 0, NULL, "socket() failed");
        return;
    }

    c = ngx_get_connection(s, ngx_cycle->log);

    if (c == NULL) {
        ngx_close_socket(s);
        ngx_http_farm_check_done(ck, 0, NULL, "no free connection");
        return;
    }

    ck->c = c;

    if (ngx_nonblocking(s) == -1) {
        ngx_http_farm_check_done(ck, 0, NULL, "cannot make the socket "
                                 "non-blocking");
        return;
    }

    c->data = ck;
    c->recv = ngx_recv;
    c->send = ngx_send;
    c->log = ngx_cycle->log;
    c->log_error = NGX_ERROR_IGNORE_ECONNRESET;

    rev = c->read;
    wev = c->write;

    rev->log = c->log;
    wev->log = c->log;
    rev->handler = ngx_http_farm_check_read;
    wev->handler = ngx_http_farm_check_write;

    if (ngx_add_conn) {
        if (ngx_add_conn(c) == NGX_ERROR) {
            ngx_http_farm_check_done(ck, 0, NULL, "cannot add the socket");
            return;
        }
    }

    rc = connect(s, &ck->sockaddr.sockaddr, ck->socklen);

    if (rc == -1) {
        err = ngx_socket_errno;

        if (err != NGX_EINPROGRESS) {

            /* a refused connection is the usual failure: no log line */

            ngx_http_farm_check_done(ck, 0, NULL,
                                     err == NGX_ECONNREFUSED
                                     ? "connection refused"
                                     : "connect() failed");
            return;
        }
    }

    if (!ngx_add_conn) {
        if (ngx_add_event(rev, NGX_READ_EVENT,
                          (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                          ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
            != NGX_OK
            || ngx_add_event(wev, NGX_WRITE_EVENT,
                             (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                             ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
               != NGX_OK)
        {
            ngx_http_farm_check_done(ck, 0, NULL, "cannot add the socket");
            return;
        }
    }

    if (rc == 0) {
        wev->ready = 1;
        ngx_post_event(wev, &ngx_posted_events);
    }

    ngx_add_timer(&ck->timeout, ck->hc->fcf->health.timeout);
}


static void
ngx_http_farm_check_write(ngx_event_t *wev)
{
    int                     err;
    ssize_t                 n;
    socklen_t               len;
    ngx_connection_t       *c;
    ngx_http_farm_check_t  *ck;

    c = wev->data;
    ck = c->data;

    if (ck->sent == 0) {

        /* the connect() result */

        err = 0;
        len = sizeof(int);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len)
            == -1)
        {
            err = ngx_socket_errno;
        }

        if (err) {
            ngx_http_farm_check_done(ck, 0, NULL,
                                     err == NGX_ECONNREFUSED
                                     ? "connection refused"
                                     : "connect() failed");
            return;
        }
    }

    while (ck->sent < ck->out_len) {
        n = c->send(c, ck->out + ck->sent, ck->out_len - ck->sent);

        if (n == NGX_AGAIN) {
            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_farm_check_done(ck, 0, NULL, "send() failed");
            return;
        }

        ck->sent += n;
    }

    /* all sent: wait for the answer */

    if (c->read->ready) {
        ngx_http_farm_check_read(c->read);
    }
}


static void
ngx_http_farm_check_read(ngx_event_t *rev)
{
    ssize_t                 n;
    ngx_connection_t       *c;
    ngx_http_farm_check_t  *ck;

    c = rev->data;
    ck = c->data;

    if (ck->sent < ck->out_len) {
        return;
    }

    for ( ;; ) {
        n = c->recv(c, ck->in + ck->in_len,
                    NGX_HTTP_FARM_CHECK_BUF - ck->in_len);

        if (n == NGX_AGAIN) {
            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_farm_check_done(ck, 0, NULL,
                                     ck->in_len ? "connection reset"
                                                : "recv() failed");
            return;
        }

        if (n == 0 || (size_t) n == NGX_HTTP_FARM_CHECK_BUF - ck->in_len) {
            ck->in_len += n;
            ngx_http_farm_check_evaluate(ck);
            return;
        }

        ck->in_len += n;
    }
}


static void
ngx_http_farm_check_timeout(ngx_event_t *ev)
{
    ngx_http_farm_check_done(ev->data, 0, NULL, "timed out");
}


static void
ngx_http_farm_check_evaluate(ngx_http_farm_check_t *ck)
{
    ngx_str_t                      subject;
    ngx_uint_t                     pass;
    const char                    *error;
    farm_check_answer_t            ans;
    ngx_http_farm_report_t         rep;
    ngx_http_farm_health_conf_t   *hcf;

    hcf = &ck->hc->fcf->health;

    if (farm_check_parse(&ans, ck->in, ck->in_len) != 0) {
        ngx_http_farm_check_done(ck, 0, NULL, "not an HTTP answer");
        return;
    }

    rep.draining = ans.draining;
    rep.weight = ans.weight;
    rep.inflight = ans.inflight;

    pass = 1;
    error = NULL;

    if (ans.status == -1
        || !ngx_http_farm_status_in(hcf->status, ans.status))
    {
        pass = 0;
        error = "status not in status=";
    }

    if (pass && hcf->body) {
        subject.data = (u_char *) ans.body;
        subject.len = ans.body_len;

        if (ngx_regex_exec(hcf->body, &subject, NULL, 0) < 0) {
            pass = 0;
            error = "body does not match body=";
        }
    }

    /* an agent saying it drains is alive: not a failed check */

    if (rep.draining == 1) {
        pass = 1;
    }

    ngx_http_farm_check_done(ck, pass, &rep, error);
}


static void
ngx_http_farm_check_done(ngx_http_farm_check_t *ck, ngx_uint_t pass,
    ngx_http_farm_report_t *rep, const char *error)
{
    ngx_http_farm_zone_t          z;
    ngx_http_farm_note_t          note;
    ngx_http_farm_agent_t        *a;
    ngx_http_farm_srv_conf_t     *fcf;
    ngx_http_farm_health_conf_t  *hcf;

    fcf = ck->hc->fcf;
    hcf = &fcf->health;
    note.level = 0;

    ngx_http_farm_zone_get(fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);

    a = &z.sh->agents[ck->slot];

    if (a->gen != ck->gen || a->state != NGX_HTTP_FARM_SLOT_UP) {
        ngx_shmtx_unlock(&z.shpool->mutex);
        ngx_http_farm_check_free(ck);
        return;
    }

    a->checking = 0;
    a->checks++;
    a->last_check = ngx_time();

    if (rep) {
        if (rep->draining != -1 && (ngx_uint_t) rep->draining != a->draining)
        {
            a->draining = (uint8_t) rep->draining;

            ngx_http_farm_note(&note, NGX_LOG_NOTICE,
                               "farm: agent \"%V\" (%*s) of upstream \"%V\" "
                               "%s", &a->sn.str, a->name_len, a->name,
                               &fcf->uscf->host,
                               a->draining ? "is draining: no new requests"
                                           : "stopped draining");
        }

        a->rep_weight = (uint32_t) rep->weight;
        a->rep_inflight = (uint32_t) rep->inflight;
    }

    if (pass) {
        a->passes++;
        a->fails = 0;

        if (a->health == NGX_HTTP_FARM_HEALTH_CHECKING) {
            a->health = NGX_HTTP_FARM_HEALTH_UP;
            z.sh->unchecked--;

        } else if (a->health == NGX_HTTP_FARM_HEALTH_DOWN
                   && a->passes >= hcf->rise)
        {
            a->health = NGX_HTTP_FARM_HEALTH_UP;

            ngx_http_farm_note(&note, NGX_LOG_NOTICE,
                               "farm: agent \"%V\" (%*s) of upstream \"%V\" "
                               "is up: %ui checks passed", &a->sn.str,
                               a->name_len, a->name, &fcf->uscf->host,
                               hcf->rise);
        }

    } else {
        a->fails++;
        a->passes = 0;
        a->checks_failed++;

        ngx_cpystrn(a->check_error, (u_char *) error,
                    NGX_HTTP_FARM_ERROR_LEN);

        if (a->health == NGX_HTTP_FARM_HEALTH_CHECKING) {
            a->health = NGX_HTTP_FARM_HEALTH_DOWN;
            z.sh->unchecked--;

            ngx_http_farm_note(&note, NGX_LOG_WARN,
                               "farm: new agent \"%V\" (%*s) of upstream "
                               "\"%V\" failed its first check (%s): it waits "
                               "for %ui passed checks", &a->sn.str,
                               a->name_len, a->name, &fcf->uscf->host, error,
                               hcf->rise);

        } else if (a->health == NGX_HTTP_FARM_HEALTH_UP
                   && a->fails >= hcf->fall)
        {
            a->health = NGX_HTTP_FARM_HEALTH_DOWN;

            ngx_http_farm_note(&note, NGX_LOG_WARN,
                               "farm: agent \"%V\" (%*s) of upstream \"%V\" "
                               "is down: %ui checks failed, the last: %s",
                               &a->sn.str, a->name_len, a->name,
                               &fcf->uscf->host, hcf->fall, error);
        }
    }

    ngx_http_farm_agent_refresh(&z, a);

    ngx_shmtx_unlock(&z.shpool->mutex);

    if (note.level) {
        ngx_log_error(note.level, ngx_cycle->log, 0, "%s", note.text);
    }

    ngx_http_farm_check_free(ck);
}


static void
ngx_http_farm_check_free(ngx_http_farm_check_t *ck)
{
    if (ck->timeout.timer_set) {
        ngx_del_timer(&ck->timeout);
    }

    if (ck->c) {
        ngx_close_connection(ck->c);
    }

    ngx_free(ck);
}
