
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_metrics: the farm upstreams in Prometheus' text format 0.0.4, and
 * the log-phase handler that counts each farm request's response class and
 * durations (the request's own counters, sh->stats).
 *
 * The output is a sequence of items (a family's HELP and TYPE lines, one
 * pool's samples of a family, one agent's sample of a family) written into
 * buffers of NGX_HTTP_FARM_METRICS_BUF bytes, each sent as soon as it is
 * full; when the client does not keep up, writing waits for the socket and
 * buffers already sent are reused, so the memory of a scrape does not grow
 * with the number of agents.  Per-agent families copy a page of agents
 * under the zone's lock and format them outside it.  A family's lines stay
 * together, as the format requires, so each per-agent family walks the
 * agents once; the counts by state walk them once more at the start.
 */


#include "ngx_http_farm_metrics.h"


static void *ngx_http_farm_metrics_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_farm_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_farm_metrics_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_farm_metrics_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_metrics_args(ngx_http_request_t *r,
    ngx_http_farm_metrics_ctx_t *mc, ngx_http_farm_metrics_loc_conf_t *mlcf);
static void ngx_http_farm_metrics_count(ngx_http_farm_metrics_ctx_t *mc,
    ngx_http_farm_metrics_pool_t *pool);
static ngx_uint_t ngx_http_farm_metrics_match(ngx_http_farm_metrics_ctx_t *mc,
    const char *state);
static void ngx_http_farm_metrics_write(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_metrics_send(ngx_http_farm_metrics_ctx_t *mc);
static ngx_chain_t *ngx_http_farm_metrics_fill(
    ngx_http_farm_metrics_ctx_t *mc);
static u_char *ngx_http_farm_metrics_item(ngx_http_farm_metrics_ctx_t *mc,
    u_char *p);
static void ngx_http_farm_metrics_page(ngx_http_farm_metrics_ctx_t *mc,
    ngx_http_farm_metrics_pool_t *pool);


static ngx_command_t  ngx_http_farm_metrics_commands[] = {

    { ngx_string("farm_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE12,
      ngx_http_farm_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_farm_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_farm_metrics_init,            /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_farm_metrics_create_loc_conf, /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_farm_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_farm_metrics_module_ctx,     /* module context */
    ngx_http_farm_metrics_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};



static void *
ngx_http_farm_metrics_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_farm_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_metrics_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    mlcf->agents = NGX_HTTP_FARM_AGENTS_STATE;
    mlcf->max_series = NGX_HTTP_FARM_METRICS_SERIES;

    /*
     * set by ngx_pcalloc():
     *
     *     mlcf->counters = NULL;
     */

    return mlcf;
}


/* farm_metrics [agents=none|state|all] [max_agent_series=N] */

static char *
ngx_http_farm_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_metrics_loc_conf_t *mlcf = conf;

    ngx_int_t                  n;
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "agents=none") == 0) {
            mlcf->agents = NGX_HTTP_FARM_AGENTS_NONE;
            continue;
        }

        if (ngx_strcmp(value[i].data, "agents=state") == 0) {
            mlcf->agents = NGX_HTTP_FARM_AGENTS_STATE;
            continue;
        }

        if (ngx_strcmp(value[i].data, "agents=all") == 0) {
            mlcf->agents = NGX_HTTP_FARM_AGENTS_ALL;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_agent_series=", 17) == 0) {
            n = ngx_atoi(value[i].data + 17, value[i].len - 17);
            if (n == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"max_agent_series\" value "
                                   "\"%V\": a number of series, 0 or more",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            mlcf->max_series = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of \"farm_metrics\": "
                           "expected agents=none|state|all or "
                           "max_agent_series=N", &value[i]);
        return NGX_CONF_ERROR;
    }

    mlcf->counters = ngx_http_farm_counters_zone(cf);
    if (mlcf->counters == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_farm_metrics_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_farm_metrics_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_farm_metrics_log;

    return NGX_OK;
}


/*
 * The log phase of every request: one that went through a farm upstream
 * (it has the farm's request context) counts its response class and its
 * durations, a few atomic adds.
 */

static ngx_int_t
ngx_http_farm_metrics_log(ngx_http_request_t *r)
{
    ngx_uint_t                  status, class;
    ngx_msec_int_t              ms;
    ngx_time_t                 *tp;
    ngx_http_farm_ctx_t        *ctx;
    ngx_http_farm_zone_t        z;
    ngx_http_farm_stats_t      *st;
    ngx_http_upstream_state_t  *us;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_module);

    if (ctx == NULL || ctx->fcf == NULL || ctx->fcf->shm_zone == NULL) {
        return NGX_OK;
    }

    ngx_http_farm_zone_get(ctx->fcf, &z);
    st = &z.sh->stats;

    status = r->err_status ? r->err_status : r->headers_out.status;
    class = (status >= 100 && status < 600) ? status / 100 - 1
                                             : NGX_HTTP_FARM_CLASSES - 1;

    ngx_http_farm_stats_inc(st->responses[class]);

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    ngx_http_farm_hist_observe(&st->request_time, ngx_max(ms, 0));

    if (r->upstream_states && r->upstream_states->nelts) {
        us = r->upstream_states->elts;
        us = &us[r->upstream_states->nelts - 1];

        if (us->header_time != (ngx_msec_t) -1) {
            ngx_http_farm_hist_observe(&st->header_time, us->header_time);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_str_t                          value;
    ngx_uint_t                         i;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_farm_metrics_ctx_t       *mc;
    ngx_http_farm_metrics_loc_conf_t  *mlcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_metrics_module);

    mc = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_metrics_ctx_t));
    if (mc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mc->request = r;
    mc->counters = ngx_http_farm_counters(mlcf->counters);

    rc = ngx_http_farm_metrics_args(r, mc, mlcf);
    if (rc != NGX_OK) {
        return rc;
    }

    mc->page = ngx_palloc(r->pool, NGX_HTTP_FARM_METRICS_PAGE
                                   * sizeof(ngx_http_farm_metrics_agent_t));
    if (mc->page == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, mc, ngx_http_farm_metrics_module);

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    ngx_str_set(&value, "no-store");

    if (ngx_http_farm_add_header(r, "Cache-Control", &value) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    /* the counts by state, before the first family needs them */

    for (i = 0; i < mc->npools; i++) {
        ngx_http_farm_metrics_count(mc, &mc->pools[i]);
    }

    rc = ngx_http_farm_metrics_send(mc);

    if (rc != NGX_AGAIN) {
        return rc;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    r->main->count++;
    r->write_event_handler = ngx_http_farm_metrics_write;

    if (!r->connection->write->ready) {
        ngx_add_timer(r->connection->write, clcf->send_timeout);
    }

    if (ngx_handle_write_event(r->connection->write, clcf->send_lowat)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_ERROR);
    }

    return NGX_DONE;
}


/* ?pool=NAME, ?state=[!]STATE, ?agents=none|state|all */

static ngx_int_t
ngx_http_farm_metrics_args(ngx_http_request_t *r,
    ngx_http_farm_metrics_ctx_t *mc, ngx_http_farm_metrics_loc_conf_t *mlcf)
{
    u_char                        *p;
    size_t                         len;
    ngx_str_t                      want, arg;
    ngx_uint_t                     i, n, per;
    ngx_http_farm_srv_conf_t     **farm;
    ngx_http_farm_main_conf_t     *fmcf;
    ngx_http_farm_metrics_pool_t  *pool;

    mc->level = mlcf->agents;

    if (ngx_http_arg(r, (u_char *) "agents", 6, &arg) == NGX_OK) {
        if (arg.len == 4 && ngx_strncmp(arg.data, "none", 4) == 0) {
            mc->level = NGX_HTTP_FARM_AGENTS_NONE;

        } else if (arg.len == 5 && ngx_strncmp(arg.data, "state", 5) == 0) {
            mc->level = NGX_HTTP_FARM_AGENTS_STATE;

        } else if (arg.len == 3 && ngx_strncmp(arg.data, "all", 3) == 0) {
            mc->level = NGX_HTTP_FARM_AGENTS_ALL;

        } else {
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    if (ngx_http_arg(r, (u_char *) "state", 5, &mc->state) == NGX_OK) {
        if (mc->state.len && mc->state.data[0] == '!') {
            mc->state_not = 1;
            mc->state.data++;
            mc->state.len--;

        } else if (mc->state.len >= 3
                   && ngx_strncasecmp(mc->state.data, (u_char *) "%21", 3)
                      == 0)
        {
            mc->state_not = 1;
            mc->state.data += 3;
            mc->state.len -= 3;
        }
    }

    if (ngx_http_arg(r, (u_char *) "pool", 4, &want) != NGX_OK) {
        want.len = 0;
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_module);
    farm = fmcf->farms.elts;

    mc->pools = ngx_pcalloc(r->pool, (fmcf->farms.nelts + 1)
                                     * sizeof(ngx_http_farm_metrics_pool_t));
    if (mc->pools == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (i = 0; i < fmcf->farms.nelts; i++) {
        if (farm[i]->shm_zone == NULL
            || (want.len
                && (want.len != farm[i]->uscf->host.len
                    || ngx_strncmp(want.data, farm[i]->uscf->host.data,
                                   want.len)
                       != 0)))
        {
            continue;
        }

        pool = &mc->pools[mc->npools++];
        pool->fcf = farm[i];
        len = ngx_max(len, farm[i]->uscf->host.len);

        pool->label.data = ngx_pnalloc(r->pool,
                                       2 * farm[i]->uscf->host.len + 8);
        if (pool->label.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(pool->label.data, "pool=\"", 6);
        p = ngx_http_farm_metrics_escape(p, farm[i]->uscf->host.data,
                                         farm[i]->uscf->host.len);
        *p++ = '"';
        pool->label.len = p - pool->label.data;
    }

    /* an item: a histogram of 15 lines with two escaped labels at most */

    mc->room = 2048 + 16 * 2 * (len + 64)
               + 2 * (FARM_ID_MAX + NGX_SOCKADDR_STRLEN + FARM_REGION_MAX);

    /* the budget, given to the pools in their order */

    per = 0;

    for (i = 0; i < ngx_http_farm_metrics_nfamilies; i++) {
        n = ngx_http_farm_metrics_families[i].level;
        if (ngx_http_farm_metrics_families[i].agent && n <= mc->level) {
            per++;
        }
    }

    mc->budget = per ? mlcf->max_series / per : 0;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_farm_metrics_match(ngx_http_farm_metrics_ctx_t *mc,
    const char *state)
{
    ngx_uint_t  eq;

    if (mc->state.len == 0) {
        return 1;
    }

    eq = (ngx_strlen(state) == mc->state.len
          && ngx_strncmp(state, mc->state.data, mc->state.len) == 0);

    return mc->state_not ? !eq : eq;
}


/*
 * The first walk over a pool's agents: counts by state and breaker, the
 * requests in flight, the agents ?state= selects and, of them, those the
 * series budget (what is left of it) gives per-agent series.
 */

static void
ngx_http_farm_metrics_count(ngx_http_farm_metrics_ctx_t *mc,
    ngx_http_farm_metrics_pool_t *pool)
{
    uint32_t                i, end;
    ngx_uint_t              s;
    const char             *state;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_zone_get(pool->fcf, &z);

    for (i = 0; i < z.sh->nslots; i = end) {
        end = ngx_min(i + NGX_HTTP_FARM_METRICS_PAGE * 4, z.sh->nslots);

        ngx_shmtx_lock(&z.shpool->mutex);

        for ( /* void */ ; i < end; i++) {
            a = &z.sh->agents[i];

            if (a->state != NGX_HTTP_FARM_SLOT_UP) {
                continue;
            }

            state = ngx_http_farm_agent_state_locked(a);

            /* the candidate by its first letters, then checked */

            switch (state[0]) {
            case 'u':
                s = 0;
                break;
            case 'h':
                s = 1;
                break;
            case 'f':
                s = 2;
                break;
            case 'o':
                s = 3;
                break;
            case 'd':
                s = (state[1] == 'r') ? 4 : 5;
                break;
            case 'c':
                s = 6;
                break;
            default:
                s = NGX_HTTP_FARM_STATES - 1;
            }

            if (ngx_strcmp(state, ngx_http_farm_metrics_states[s]) != 0) {
                s = NGX_HTTP_FARM_STATES - 1;
            }

            pool->states[s]++;
            pool->breakers[ngx_min(a->breaker, 2)]++;
            pool->active += a->pick->active;

            if (ngx_http_farm_metrics_match(mc, state)) {
                pool->matched++;
            }
        }

        ngx_shmtx_unlock(&z.shpool->mutex);
    }

    pool->shown = ngx_min(pool->matched, mc->budget);
    mc->budget -= pool->shown;
}


static void
ngx_http_farm_metrics_write(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_event_t                  *wev;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_farm_metrics_ctx_t  *mc;

    wev = r->connection->write;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (wev->timedout) {
        r->connection->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    mc = ngx_http_get_module_ctx(r, ngx_http_farm_metrics_module);

    rc = ngx_http_farm_metrics_send(mc);

    if (rc == NGX_AGAIN) {
        if (!wev->ready && !wev->timer_set) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * Writes and sends buffers until the output is complete (NGX_OK: the rest
 * of it, if the socket has not taken it all yet, is for
 * ngx_http_finalize_request() to send), or the connection holds unsent
 * data (NGX_AGAIN: call again when the socket can take more), or
 * NGX_ERROR.
 */

static ngx_int_t
ngx_http_farm_metrics_send(ngx_http_farm_metrics_ctx_t *mc)
{
    ngx_int_t            rc;
    ngx_uint_t           sent, flush;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = mc->request;

    /* what the filters hold goes first */

    flush = (mc->busy != NULL || mc->done);

    for (sent = 0; /* void */ ; sent++) {
        cl = NULL;

        if (!flush) {
            cl = ngx_http_farm_metrics_fill(mc);
            if (cl == NULL) {
                return NGX_ERROR;
            }
        }

        flush = 0;

        rc = ngx_http_output_filter(r, cl);

        ngx_chain_update_chains(r->pool, &mc->free, &mc->busy, &cl,
                                (ngx_buf_tag_t) &ngx_http_farm_metrics_module);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        /* finished: what is left to send is ngx_http_finalize_request()'s */

        if (mc->done) {
            return NGX_OK;
        }

        if (rc == NGX_AGAIN || r->connection->buffered) {
            return NGX_AGAIN;
        }

        /*
         * the other connections of this worker get their turn: posted to
         * the events of the next cycle, so the worker first asks epoll for
         * what is ready (a write event posted to ngx_posted_events would
         * run again in this cycle's walk of the posted events, and the
         * whole scrape would hold the worker at once)
         */

        if (sent == NGX_HTTP_FARM_METRICS_BURST) {
#if (nginx_version >= 1017005)
            ngx_post_event(r->connection->write, &ngx_posted_next_events);
#else
            ngx_post_event(r->connection->write, &ngx_posted_events);
#endif
            return NGX_AGAIN;
        }
    }
}


/* A buffer (one sent before, or a new one) filled with items; NULL on error */

static ngx_chain_t *
ngx_http_farm_metrics_fill(ngx_http_farm_metrics_ctx_t *mc)
{
    u_char              *p;
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = mc->request;

    if (mc->free) {
        cl = mc->free;
        mc->free = cl->next;
        cl->next = NULL;
        b = cl->buf;
        b->pos = b->start;
        b->last = b->start;

    } else {
        b = ngx_create_temp_buf(r->pool, ngx_max(mc->room * 2,
                                                 NGX_HTTP_FARM_METRICS_BUF));
        if (b == NULL) {
            return NULL;
        }

        b->tag = (ngx_buf_tag_t) &ngx_http_farm_metrics_module;

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NULL;
        }

        cl->buf = b;
        cl->next = NULL;
    }

    p = b->last;

    while (!mc->done && (size_t) (b->end - p) >= mc->room) {
        p = ngx_http_farm_metrics_item(mc, p);
    }

    b->last = p;

    if (mc->done) {
        b->last_buf = (r == r->main) ? 1 : 0;
        b->last_in_chain = 1;

        /*
         * The output ended just where the buffer before stopped: an empty
         * buffer in memory is an error to the writer ("zero size buf");
         * not in memory, it only marks the end, like ngx_http_send_special()
         */

        if (p == b->pos) {
            b->temporary = 0;
            b->sync = 1;
        }
    }

    return cl;
}


/* Writes the next item at p (room for mc->room bytes); sets mc->done. */

static u_char *
ngx_http_farm_metrics_item(ngx_http_farm_metrics_ctx_t *mc, u_char *p)
{
    ngx_http_farm_metrics_pool_t    *pool;
    ngx_http_farm_metrics_family_t  *f;

    for ( ;; ) {
        if (mc->family == ngx_http_farm_metrics_nfamilies) {
            mc->done = 1;
            return p;
        }

        f = &ngx_http_farm_metrics_families[mc->family];

        if (!mc->started) {
            if (f->agent && f->level > mc->level) {
                mc->family++;
                continue;
            }

            mc->started = 1;
            mc->pool = 0;
            mc->slot = 0;
            mc->shown = 0;
            mc->npage = 0;
            mc->ipage = 0;

            return ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                               f->name, f->help, f->name, f->type);
        }

        if (f->global) {
            mc->family++;
            mc->started = 0;

            if (mc->counters == NULL) {
                continue;
            }

            return f->global(mc, p);
        }

        if (mc->pool == mc->npools) {
            mc->family++;
            mc->started = 0;
            continue;
        }

        pool = &mc->pools[mc->pool];

        if (f->pool) {
            mc->pool++;
            return f->pool(mc, p, pool);
        }

        if (mc->ipage == mc->npage) {
            if (mc->slot >= ngx_http_farm_metrics_sh(pool)->nslots
                || mc->shown >= pool->shown)
            {
                mc->pool++;
                mc->slot = 0;
                mc->shown = 0;
                continue;
            }

            /* a page may be empty: the loop goes on from mc->slot */

            ngx_http_farm_metrics_page(mc, pool);
            continue;
        }

        return f->agent(mc, p, pool, &mc->page[mc->ipage++]);
    }
}


/*
 * Copies the next page of the pool's agents that ?state= selects, from
 * mc->slot on, as long as the pool's budget lasts: under the lock for one
 * page at most.  For a family of level "state" only the id, state, health,
 * breaker, active and weight are copied (the fields these families and
 * the state itself read); address, region and counters only for a family
 * of level "all": each field is another cache line of every agent's slot
 * to read, and the copy is most of a scrape's cost.
 */

static void
ngx_http_farm_metrics_page(ngx_http_farm_metrics_ctx_t *mc,
    ngx_http_farm_metrics_pool_t *pool)
{
    uint32_t                        end;
    ngx_uint_t                      all;
    const char                     *state;
    ngx_http_farm_zone_t            z;
    ngx_http_farm_agent_t          *a;
    ngx_http_farm_metrics_agent_t  *m;

    mc->npage = 0;
    mc->ipage = 0;

    all = (ngx_http_farm_metrics_families[mc->family].level
           >= NGX_HTTP_FARM_AGENTS_ALL);

    ngx_http_farm_zone_get(pool->fcf, &z);

    end = ngx_min(mc->slot + NGX_HTTP_FARM_METRICS_PAGE * 4, z.sh->nslots);

    ngx_shmtx_lock(&z.shpool->mutex);

    while (mc->slot < end
           && mc->npage < NGX_HTTP_FARM_METRICS_PAGE
           && mc->shown < pool->shown)
    {
        a = &z.sh->agents[mc->slot++];

        if (a->state != NGX_HTTP_FARM_SLOT_UP) {
            continue;
        }

        state = ngx_http_farm_agent_state_locked(a);

        if (!ngx_http_farm_metrics_match(mc, state)) {
            continue;
        }

        m = &mc->page[mc->npage++];
        mc->shown++;

        m->id_len = ngx_http_farm_metrics_escape(m->id, a->sn.str.data,
                                                 a->sn.str.len)
                    - m->id;
        m->state = state;
        m->active = a->pick->active;
        m->weight = a->pick->weight;
        m->health = a->health;
        m->breaker = a->breaker;

        if (!all) {
            continue;
        }

        m->name_len = a->name_len;
        ngx_memcpy(m->name, a->name, a->name_len);

        if (a->region) {
            ngx_cpystrn(m->region, z.sh->regions[a->region - 1],
                        FARM_REGION_MAX + 1);

        } else {
            m->region[0] = '\0';
        }

        m->requests = a->requests;
        m->failures = a->failures;
        m->checks = a->checks;
        m->checks_failed = a->checks_failed;
    }

    ngx_shmtx_unlock(&z.shpool->mutex);
}

