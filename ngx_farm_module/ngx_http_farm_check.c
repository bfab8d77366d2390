
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * One active health check: the agent claimed in the zone, the HTTP/1.0
 * GET on nginx's event loop with its own timeout, the answer read and
 * judged (status=, body=, and what farm-agent's /health JSON says of the
 * agent), the verdict written to the zone, and the check's memory kept
 * for the next one.  When checks run is ngx_http_farm_health.c's.
 */


#include "ngx_http_farm_health_int.h"
#include "ngx_http_farm_queue.h"
#include "ngx_http_farm_check_parse.h"

#include <jansson.h>


#define NGX_HTTP_FARM_CHECK_BUF    16384   /* response bytes looked at */


/* what the agent's answer said about itself */
typedef struct {
    ngx_int_t                      draining;    /* -1: not said */
    ngx_int_t                      weight;      /* 0: not said */
    ngx_int_t                      inflight;
} ngx_http_farm_report_t;


static void ngx_http_farm_check_start(ngx_http_farm_check_t *ck);
static void ngx_http_farm_check_write(ngx_event_t *wev);
static void ngx_http_farm_check_read(ngx_event_t *rev);
static void ngx_http_farm_check_timeout(ngx_event_t *ev);
static void ngx_http_farm_check_evaluate(ngx_http_farm_check_t *ck);
static void ngx_http_farm_check_done(ngx_http_farm_check_t *ck,
    ngx_uint_t pass, ngx_http_farm_report_t *rep, const char *error);
static void ngx_http_farm_check_release(ngx_http_farm_check_t *ck);


/*
 * Takes our due slot i off the heap and starts its check: the memory is
 * found outside the lock (a finished check's, or new), the agent claimed
 * and copied under it.  NGX_ERROR without memory (i is due again in an
 * interval).
 */

ngx_int_t
ngx_http_farm_check_begin(ngx_http_farm_health_t *hc, ngx_http_farm_zone_t *z,
    uint32_t i)
{
    uint32_t                      slot;
    ngx_msec_t                    now;
    ngx_queue_t                  *q;
    ngx_http_farm_agent_t        *a;
    ngx_http_farm_check_t        *ck;
    ngx_http_farm_hslot_t        *s;
    ngx_http_farm_health_conf_t  *hcf;

    hcf = &hc->fcf->health;
    s = &hc->slots[i];
    slot = hc->worker + i * hc->workers;
    a = &z->sh->agents[slot];
    now = ngx_current_msec;

    ngx_http_farm_heap_remove(hc, i);

    /* an unlocked look first: gone, or checked since by an older worker */

    if (a->state != NGX_HTTP_FARM_SLOT_UP
        || (ngx_msec_int_t) (a->next_check - now) > 0)
    {
        ngx_http_farm_health_schedule(hc, z->sh, i);
        return NGX_OK;
    }

    if (!ngx_queue_empty(&hc->idle)) {
        q = ngx_queue_head(&hc->idle);
        ngx_queue_remove(q);
        ck = ngx_queue_data(q, ngx_http_farm_check_t, queue);

    } else {
        ck = ngx_alloc(sizeof(ngx_http_farm_check_t) + hc->out_size
                       + NGX_HTTP_FARM_CHECK_BUF + 1, ngx_cycle->log);

        if (ck == NULL) {
            s->due = now + hcf->interval;
            hc->heap[hc->nheap] = i;
            s->heap = ++hc->nheap;
            ngx_http_farm_heap_up(hc, s->heap - 1);
            return NGX_ERROR;
        }
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    if (a->state != NGX_HTTP_FARM_SLOT_UP
        || (ngx_msec_int_t) (a->next_check - now) > 0)
    {
        ngx_shmtx_unlock(&z->shpool->mutex);
        ngx_queue_insert_head(&hc->idle, &ck->queue);
        ngx_http_farm_health_schedule(hc, z->sh, i);
        return NGX_OK;
    }

    a->next_check = now + hcf->interval
                    + (hcf->jitter ? (ngx_msec_t) ngx_random()
                                     % (hcf->jitter + 1)
                                   : 0);

    /* in maintenance (farm_admin): not checked until it leaves it */

    if (a->mode == NGX_HTTP_FARM_MODE_MAINTENANCE) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        ngx_queue_insert_head(&hc->idle, &ck->queue);
        ngx_http_farm_health_schedule(hc, z->sh, i);
        return NGX_OK;
    }

    ck->slot = slot;
    ck->gen = a->gen;
    ngx_memcpy(&ck->sockaddr, &a->sockaddr, a->socklen);
    ck->socklen = a->socklen;
    ngx_memcpy(ck->name, a->name, a->name_len);
    ck->name_len = a->name_len;

    ngx_shmtx_unlock(&z->shpool->mutex);

    ck->hc = hc;
    ck->c = NULL;

    ck->out = (u_char *) ck + sizeof(ngx_http_farm_check_t);
    ck->out_len = ngx_sprintf(ck->out, "GET %V HTTP/1.0\r\nHost: %*s\r\n"
                              "User-Agent: ngx_farm/" NGX_HTTP_FARM_VERSION
                              "\r\nAccept: */*\r\n\r\n",
                              &hcf->uri, ck->name_len, ck->name)
                  - ck->out;
    ck->sent = 0;
    ck->in = ck->out + hc->out_size;
    ck->in_len = 0;

    ngx_memzero(&ck->timeout, sizeof(ngx_event_t));
    ck->timeout.handler = ngx_http_farm_check_timeout;
    ck->timeout.data = ck;
    ck->timeout.log = ngx_cycle->log;
    ck->timeout.cancelable = 1;

    s->ck = ck;
    ngx_queue_insert_tail(&hc->busy, &ck->queue);
    hc->nbusy++;

    ngx_http_farm_check_start(ck);

    return NGX_OK;
}


/*
 * Connects, without the lock.  A check that cannot start for want of
 * sockets or connections here is not the agent's failure: it is not
 * counted, and the agent is due again in an interval.  One that cannot
 * connect fails at once.
 */

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
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_socket_errno,
                      "farm: health check: " ngx_socket_n " failed");
        ngx_http_farm_check_release(ck);
        return;
    }

    c = ngx_get_connection(s, ngx_cycle->log);

    if (c == NULL) {
        ngx_close_socket(s);
        ngx_http_farm_check_release(ck);
        return;
    }

    ck->c = c;

    if (ngx_nonblocking(s) == -1) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_socket_errno,
                      "farm: health check: " ngx_nonblocking_n " failed");
        ngx_http_farm_check_release(ck);
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
            ngx_http_farm_check_release(ck);
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
            ngx_http_farm_check_release(ck);
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
    ngx_uint_t                    changed;
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
        ngx_http_farm_check_release(ck);
        return;
    }

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

    changed = ngx_http_farm_agent_refresh_locked(&z, a);

    if (changed & NGX_HTTP_FARM_CHANGED_CAPACITY) {
        ngx_http_farm_queue_dispatch_locked(&z, a);
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    if (note.level) {
        ngx_log_error(note.level, ngx_cycle->log, 0, "%s", note.text);
    }

    ngx_http_farm_check_release(ck);
}


/*
 * Ends a check, counted or not: its memory is kept for the next one, and
 * its slot goes back on the heap.
 */

static void
ngx_http_farm_check_release(ngx_http_farm_check_t *ck)
{
    uint32_t                 i;
    ngx_http_farm_zone_t     z;
    ngx_http_farm_health_t  *hc;

    hc = ck->hc;

    if (ck->timeout.timer_set) {
        ngx_del_timer(&ck->timeout);
    }

    if (ck->c) {
        ngx_close_connection(ck->c);
        ck->c = NULL;
    }

    ngx_queue_remove(&ck->queue);
    ngx_queue_insert_head(&hc->idle, &ck->queue);
    hc->nbusy--;

    i = ck->slot / hc->workers;
    hc->slots[i].ck = NULL;

    ngx_http_farm_zone_get(hc->fcf, &z);
    ngx_http_farm_health_schedule(hc, z.sh, i);

    /* a due check may have been waiting for this one's place */

    if (hc->nheap && !ngx_exiting && !hc->tick.posted
        && (ngx_msec_int_t) (hc->slots[hc->heap[0]].due - ngx_current_msec)
           <= 0)
    {
        ngx_post_event(&hc->tick, &ngx_posted_events);
    }
}
