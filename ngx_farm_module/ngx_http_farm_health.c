
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
 * /health JSON does); the gateway follows.
 *
 * The results, and each agent's next check time, live in the zone.  What
 * is in flight lives only in the checking worker's memory: a worker that
 * exits or crashes takes its checks with it, and the worker that owns the
 * slots next checks them when they are due.  Each worker keeps its slots
 * in a heap ordered by next check, learns of new agents from the zone's
 * joined ring, and runs at most concurrency= checks at once; a tick costs
 * the checks it starts, not the number of slots.
 */


#include "ngx_http_farm_health.h"
#include "ngx_http_farm_queue.h"
#include "ngx_http_farm_check_parse.h"

#include <jansson.h>


#define NGX_HTTP_FARM_CHECK_BUF    16384   /* response bytes looked at */
#define NGX_HTTP_FARM_CHECK_TICK   100     /* ms between looks for new agents */
#define NGX_HTTP_FARM_CHECK_FAST   10      /* ms, while new agents wait */
#define NGX_HTTP_FARM_CHECK_CONCURRENCY  64  /* default, per worker */
#define NGX_HTTP_FARM_CHECK_LATE_LOG  60000  /* ms between "late" lines */

/* is the check due at heap[k] earlier than the one at heap[j] */
#define ngx_http_farm_heap_before(hc, k, j)                                   \
    ((ngx_msec_int_t) ((hc)->slots[(hc)->heap[k]].due                         \
                       - (hc)->slots[(hc)->heap[j]].due) < 0)


typedef struct ngx_http_farm_check_s  ngx_http_farm_check_t;


/* one slot this worker checks, in its own memory */
typedef struct {
    ngx_msec_t                     due;
    uint32_t                       heap;        /* 1 + index in heap; 0: out */
    ngx_http_farm_check_t         *ck;          /* in flight, or NULL */
} ngx_http_farm_hslot_t;


struct ngx_http_farm_health_s {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_event_t                    tick;
    ngx_uint_t                     worker;
    ngx_uint_t                     workers;

    /* slot worker + i * workers is slots[i] */
    ngx_http_farm_hslot_t         *slots;
    uint32_t                       nslots;
    uint32_t                      *heap;        /* i, earliest due first */
    uint32_t                       nheap;
    ngx_uint_t                     joined;      /* of sh->joined_seq, seen */

    ngx_queue_t                    busy;        /* checks in flight */
    ngx_queue_t                    idle;        /* their memory, for reuse */
    ngx_uint_t                     nbusy;
    size_t                         out_size;    /* a request's room */

    ngx_msec_t                     late_logged; /* "checks run late", when */
    ngx_uint_t                     late_said;
};


struct ngx_http_farm_check_s {
    ngx_http_farm_health_t        *hc;
    ngx_queue_t                    queue;       /* in busy or idle */
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
};


/* what the agent's answer said about itself */
typedef struct {
    ngx_int_t                      draining;    /* -1: not said */
    ngx_int_t                      weight;      /* 0: not said */
    ngx_int_t                      inflight;
} ngx_http_farm_report_t;


static void ngx_http_farm_health_tick(ngx_event_t *ev);
static void ngx_http_farm_health_late(ngx_http_farm_health_t *hc,
    ngx_msec_t now);
static void ngx_http_farm_health_joined(ngx_http_farm_health_t *hc,
    ngx_http_farm_zone_t *z);
static void ngx_http_farm_health_scan(ngx_http_farm_health_t *hc,
    ngx_http_farm_shctx_t *sh);
static void ngx_http_farm_health_schedule(ngx_http_farm_health_t *hc,
    ngx_http_farm_shctx_t *sh, uint32_t i);
static void ngx_http_farm_heap_swap(ngx_http_farm_health_t *hc, uint32_t k,
    uint32_t j);
static void ngx_http_farm_heap_up(ngx_http_farm_health_t *hc, uint32_t k);
static void ngx_http_farm_heap_down(ngx_http_farm_health_t *hc, uint32_t k);
static void ngx_http_farm_heap_remove(ngx_http_farm_health_t *hc,
    uint32_t i);
static ngx_int_t ngx_http_farm_check_begin(ngx_http_farm_health_t *hc,
    ngx_http_farm_zone_t *z, uint32_t i);
static void ngx_http_farm_check_start(ngx_http_farm_check_t *ck);
static void ngx_http_farm_check_write(ngx_event_t *wev);
static void ngx_http_farm_check_read(ngx_event_t *rev);
static void ngx_http_farm_check_timeout(ngx_event_t *ev);
static void ngx_http_farm_check_evaluate(ngx_http_farm_check_t *ck);
static void ngx_http_farm_check_done(ngx_http_farm_check_t *ck,
    ngx_uint_t pass, ngx_http_farm_report_t *rep, const char *error);
static void ngx_http_farm_check_release(ngx_http_farm_check_t *ck);


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
    hcf->concurrency = NGX_HTTP_FARM_CHECK_CONCURRENCY;
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

        if (ngx_strncmp(value[i].data, "concurrency=", 12) == 0) {
            why = "a number from 1 to 10000";
            n = ngx_atoi(value[i].data + 12, value[i].len - 12);
            if (n < 1 || n > 10000) {
                goto invalid;
            }

            hcf->concurrency = n;
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
    ngx_http_farm_zone_t     z;
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

    ngx_http_farm_zone_get(fcf, &z);

    hc->nslots = (z.sh->capacity + hc->workers - 1) / hc->workers;

    hc->slots = ngx_pcalloc(cycle->pool,
                            hc->nslots * sizeof(ngx_http_farm_hslot_t));
    hc->heap = ngx_palloc(cycle->pool, hc->nslots * sizeof(uint32_t));

    if (hc->slots == NULL || hc->heap == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_init(&hc->busy);
    ngx_queue_init(&hc->idle);

    hc->out_size = sizeof("GET  HTTP/1.0\r\nHost: \r\nUser-Agent: ngx_farm/"
                          NGX_HTTP_FARM_VERSION "\r\nAccept: */*\r\n\r\n")
                   + fcf->health.uri.len + NGX_SOCKADDR_STRLEN;

    /*
     * Every agent of ours, due when the zone says; an agent a dead or
     * exiting worker was checking is due again one interval after that
     * check started.  Unlocked looks: agents that join meanwhile are in
     * the joined ring after this point.
     */

    hc->joined = z.sh->joined_seq;
    ngx_http_farm_health_scan(hc, z.sh);

    hc->tick.handler = ngx_http_farm_health_tick;
    hc->tick.data = hc;
    hc->tick.log = cycle->log;
    hc->tick.cancelable = 1;

    fcf->checker = hc;

    ngx_add_timer(&hc->tick, 1);

    return NGX_OK;
}


/*
 * exit_process: checks in flight end here, uncounted, so that no socket
 * outlives the worker.  The zone holds nothing of them: the next owner of
 * the slots checks them when they are due.
 */

void
ngx_http_farm_health_stop(ngx_http_farm_srv_conf_t *fcf)
{
    ngx_queue_t             *q;
    ngx_http_farm_check_t   *ck;
    ngx_http_farm_health_t  *hc;

    hc = fcf->checker;

    if (hc == NULL) {
        return;
    }

    if (hc->tick.timer_set) {
        ngx_del_timer(&hc->tick);
    }

    if (hc->tick.posted) {
        ngx_delete_posted_event(&hc->tick);
    }

    while (!ngx_queue_empty(&hc->busy)) {
        q = ngx_queue_head(&hc->busy);
        ngx_queue_remove(q);
        ck = ngx_queue_data(q, ngx_http_farm_check_t, queue);

        if (ck->timeout.timer_set) {
            ngx_del_timer(&ck->timeout);
        }

        if (ck->c) {
            ngx_close_connection(ck->c);
        }

        ngx_free(ck);
    }

    while (!ngx_queue_empty(&hc->idle)) {
        q = ngx_queue_head(&hc->idle);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_http_farm_check_t, queue));
    }

    hc->nbusy = 0;
    fcf->checker = NULL;
}


/*
 * Starts the checks that are due, at most concurrency= in flight; the
 * others stay due and start as checks end.  The work is the new agents
 * and the checks started, each O(log n).
 */

static void
ngx_http_farm_health_tick(ngx_event_t *ev)
{
    ngx_http_farm_health_t  *hc = ev->data;

    uint32_t                      i;
    ngx_msec_t                    now, delay;
    ngx_uint_t                    nomem;
    ngx_msec_int_t                wait;
    ngx_http_farm_zone_t          z;
    ngx_http_farm_health_conf_t  *hcf;

    if (ngx_exiting) {
        return;
    }

    hcf = &hc->fcf->health;

    ngx_http_farm_zone_get(hc->fcf, &z);

    /* an unlocked look first: agents seldom join */

    if (z.sh->joined_seq != hc->joined) {
        ngx_http_farm_health_joined(hc, &z);
    }

    now = ngx_current_msec;
    nomem = 0;

    while (hc->nheap && hc->nbusy < hcf->concurrency) {
        i = hc->heap[0];

        if ((ngx_msec_int_t) (hc->slots[i].due - now) > 0) {
            break;
        }

        if (ngx_http_farm_check_begin(hc, &z, i) != NGX_OK) {
            nomem = 1;
            break;
        }
    }

    ngx_http_farm_health_late(hc, now);

    /* new agents are found by looking, so look often while they wait */

    delay = z.sh->unchecked ? NGX_HTTP_FARM_CHECK_FAST
                            : ngx_min(NGX_HTTP_FARM_CHECK_TICK, hcf->interval);

    if (hc->nheap && hc->nbusy < hcf->concurrency && !nomem) {
        wait = (ngx_msec_int_t) (hc->slots[hc->heap[0]].due - now);

        if (wait < (ngx_msec_int_t) delay) {
            delay = (wait > 0) ? (ngx_msec_t) wait : 1;
        }
    }

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    ngx_add_timer(ev, delay);
}


/*
 * Checks that wait for a place more than an interval past their time: the
 * operator hears of it, at most once a minute per worker.  A new agent's
 * first check (due at 0) does not count: it has no time to be late for.
 */

static void
ngx_http_farm_health_late(ngx_http_farm_health_t *hc, ngx_msec_t now)
{
    ngx_msec_t                    due;
    ngx_msec_int_t                late;
    ngx_http_farm_health_conf_t  *hcf;

    hcf = &hc->fcf->health;

    if (hc->nheap == 0 || hc->nbusy < hcf->concurrency) {
        return;
    }

    due = hc->slots[hc->heap[0]].due;
    late = (ngx_msec_int_t) (now - due);

    if (due == 0 || late <= (ngx_msec_int_t) hcf->interval) {
        return;
    }

    if (hc->late_said
        && now - hc->late_logged < NGX_HTTP_FARM_CHECK_LATE_LOG)
    {
        return;
    }

    hc->late_said = 1;
    hc->late_logged = now;

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "farm: health checks of upstream \"%V\" run %M ms late: "
                  "this worker has concurrency=%ui of them in flight "
                  "(raise concurrency=, or lower timeout=)",
                  &hc->fcf->uscf->host, (ngx_msec_t) late,
                  hcf->concurrency);
}


/*
 * The agents that joined since the last look: ours are copied under the
 * lock and go on the heap after it.
 */

static void
ngx_http_farm_health_joined(ngx_http_farm_health_t *hc,
    ngx_http_farm_zone_t *z)
{
    uint32_t    slot, ours[NGX_HTTP_FARM_JOINED];
    ngx_uint_t  seq, n, k;

    n = 0;

    ngx_shmtx_lock(&z->shpool->mutex);

    seq = z->sh->joined_seq;

    if (seq - hc->joined > NGX_HTTP_FARM_JOINED) {
        ngx_shmtx_unlock(&z->shpool->mutex);

        /* more joined than the ring keeps: look at every slot, once */

        hc->joined = seq;
        ngx_http_farm_health_scan(hc, z->sh);
        return;
    }

    for ( /* void */ ; hc->joined != seq; hc->joined++) {
        slot = z->sh->joined[hc->joined % NGX_HTTP_FARM_JOINED];

        if (slot % hc->workers == hc->worker) {
            ours[n++] = slot;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    for (k = 0; k < n; k++) {
        ngx_http_farm_health_schedule(hc, z->sh, ours[k] / hc->workers);
    }
}


static void
ngx_http_farm_health_scan(ngx_http_farm_health_t *hc,
    ngx_http_farm_shctx_t *sh)
{
    uint32_t  i, slot;

    for (i = 0, slot = hc->worker;
         i < hc->nslots && slot < sh->nslots;
         i++, slot += hc->workers)
    {
        ngx_http_farm_health_schedule(hc, sh, i);
    }
}


/*
 * Puts our slot i on the heap, due when the zone says, or takes it off when
 * it holds no agent.  A slot with a check in flight is left alone: the
 * check's end does this.
 */

static void
ngx_http_farm_health_schedule(ngx_http_farm_health_t *hc,
    ngx_http_farm_shctx_t *sh, uint32_t i)
{
    ngx_http_farm_agent_t  *a;
    ngx_http_farm_hslot_t  *s;

    s = &hc->slots[i];

    if (s->ck) {
        return;
    }

    a = &sh->agents[hc->worker + i * hc->workers];

    if (a->state != NGX_HTTP_FARM_SLOT_UP) {
        if (s->heap) {
            ngx_http_farm_heap_remove(hc, i);
        }

        return;
    }

    s->due = a->next_check;

    if (s->heap == 0) {
        hc->heap[hc->nheap] = i;
        s->heap = ++hc->nheap;
    }

    ngx_http_farm_heap_up(hc, s->heap - 1);
    ngx_http_farm_heap_down(hc, s->heap - 1);
}


/* the heap: hc->heap[k] is a slot index, slots[i].heap is 1 + its k */

static void
ngx_http_farm_heap_swap(ngx_http_farm_health_t *hc, uint32_t k, uint32_t j)
{
    uint32_t  t;

    t = hc->heap[k];
    hc->heap[k] = hc->heap[j];
    hc->heap[j] = t;

    hc->slots[hc->heap[k]].heap = k + 1;
    hc->slots[hc->heap[j]].heap = j + 1;
}


static void
ngx_http_farm_heap_up(ngx_http_farm_health_t *hc, uint32_t k)
{
    uint32_t  p;

    while (k > 0) {
        p = (k - 1) / 2;

        if (!ngx_http_farm_heap_before(hc, k, p)) {
            break;
        }

        ngx_http_farm_heap_swap(hc, k, p);
        k = p;
    }
}


static void
ngx_http_farm_heap_down(ngx_http_farm_health_t *hc, uint32_t k)
{
    uint32_t  c;

    for ( ;; ) {
        c = 2 * k + 1;

        if (c >= hc->nheap) {
            break;
        }

        if (c + 1 < hc->nheap && ngx_http_farm_heap_before(hc, c + 1, c)) {
            c++;
        }

        if (!ngx_http_farm_heap_before(hc, c, k)) {
            break;
        }

        ngx_http_farm_heap_swap(hc, k, c);
        k = c;
    }
}


static void
ngx_http_farm_heap_remove(ngx_http_farm_health_t *hc, uint32_t i)
{
    uint32_t  k, last;

    k = hc->slots[i].heap - 1;
    hc->slots[i].heap = 0;

    last = hc->heap[--hc->nheap];

    if (k == hc->nheap) {
        return;
    }

    hc->heap[k] = last;
    hc->slots[last].heap = k + 1;

    ngx_http_farm_heap_up(hc, k);
    ngx_http_farm_heap_down(hc, hc->slots[last].heap - 1);
}


/*
 * Takes our due slot i off the heap and starts its check: the memory is
 * found outside the lock (a finished check's, or new), the agent claimed
 * and copied under it.  NGX_ERROR without memory (i is due again in an
 * interval).
 */

static ngx_int_t
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
