
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
 *
 * This file schedules the checks; ngx_http_farm_health_conf.c reads the
 * farm_health_check directive and ngx_http_farm_check.c runs one check.
 */


#include "ngx_http_farm_health_int.h"


#define NGX_HTTP_FARM_CHECK_TICK   100     /* ms between looks for new agents */
#define NGX_HTTP_FARM_CHECK_FAST   10      /* ms, while new agents wait */
#define NGX_HTTP_FARM_CHECK_LATE_LOG  60000  /* ms between "late" lines */

/* is the check due at heap[k] earlier than the one at heap[j] */
#define ngx_http_farm_heap_before(hc, k, j)                                   \
    ((ngx_msec_int_t) ((hc)->slots[(hc)->heap[k]].due                         \
                       - (hc)->slots[(hc)->heap[j]].due) < 0)


static void ngx_http_farm_health_tick(ngx_event_t *ev);
static void ngx_http_farm_health_late(ngx_http_farm_health_t *hc,
    ngx_msec_t now);
static void ngx_http_farm_health_joined(ngx_http_farm_health_t *hc,
    ngx_http_farm_zone_t *z);
static void ngx_http_farm_health_scan(ngx_http_farm_health_t *hc,
    ngx_http_farm_shctx_t *sh);
static void ngx_http_farm_heap_swap(ngx_http_farm_health_t *hc, uint32_t k,
    uint32_t j);
static void ngx_http_farm_heap_down(ngx_http_farm_health_t *hc, uint32_t k);


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

void
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


void
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


void
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
