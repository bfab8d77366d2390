
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_status: a JSON snapshot of every farm upstream, its registry and its
 * agents.  "?upstream=NAME" limits it to one upstream.
 */


#include "ngx_http_farm_status.h"


#define NGX_HTTP_FARM_STATUS_BUF   (64 * 1024)


/* the capability counts of the summary, merged across farms by name */
typedef struct {
    u_char                        *name;
    uint64_t                       agents;
} ngx_http_farm_status_type_t;


static ngx_int_t ngx_http_farm_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_status_farm(ngx_http_farm_status_out_t *out,
    ngx_http_farm_srv_conf_t *fcf, ngx_uint_t first,
    ngx_http_farm_status_list_t *list, ngx_array_t *types);
static ngx_int_t ngx_http_farm_status_summary(ngx_http_farm_status_out_t *out,
    ngx_array_t *farms, ngx_http_farm_status_list_t *list,
    ngx_array_t *types);
static ngx_int_t ngx_http_farm_status_types_locked(ngx_array_t *types,
    ngx_http_farm_shctx_t *sh);
static const char *ngx_http_farm_balance_name(ngx_uint_t method);


char *
ngx_http_farm_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_farm_status_handler;

    return NGX_CONF_OK;
}


static const char *
ngx_http_farm_balance_name(ngx_uint_t method)
{
    switch (method) {
    case NGX_HTTP_FARM_LEAST_CONN:
        return "least_conn";
    case NGX_HTTP_FARM_HASH:
        return "hash";
    case NGX_HTTP_FARM_CHASH:
        return "hash consistent";
    default:
        return "round_robin";
    }
}


/* Space for len more bytes at the end of the output; NULL on no memory. */

u_char *
ngx_http_farm_status_reserve(ngx_http_farm_status_out_t *out, size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (out->last && (size_t) (out->last->buf->end - out->last->buf->last)
                     >= len)
    {
        return out->last->buf->last;
    }

    b = ngx_create_temp_buf(out->request->pool,
                            ngx_max(len, NGX_HTTP_FARM_STATUS_BUF));
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(out->request->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    if (out->last) {
        out->last->next = cl;

    } else {
        out->first = cl;
    }

    out->last = cl;

    return b->last;
}


/*
 * ?state=, ?limit=, ?offset=: a bad number is NGX_DECLINED (the caller
 * answers 400).
 */

ngx_int_t
ngx_http_farm_status_list_args(ngx_http_request_t *r,
    ngx_http_farm_status_list_t *list)
{
    ngx_int_t  n;
    ngx_str_t  value;

    ngx_memzero(list, sizeof(ngx_http_farm_status_list_t));

    if (ngx_http_arg(r, (u_char *) "state", 5, &list->state) != NGX_OK) {
        list->state.len = 0;
    }

    if (ngx_http_arg(r, (u_char *) "limit", 5, &value) == NGX_OK) {
        n = ngx_atoi(value.data, value.len);
        if (n == NGX_ERROR) {
            return NGX_DECLINED;
        }

        list->limit = n;
    }

    if (ngx_http_arg(r, (u_char *) "offset", 6, &value) == NGX_OK) {
        n = ngx_atoi(value.data, value.len);
        if (n == NGX_ERROR) {
            return NGX_DECLINED;
        }

        list->offset = n;
    }

    return NGX_OK;
}


/* Sends the JSON in out, not cached. */

ngx_int_t
ngx_http_farm_status_send(ngx_http_request_t *r,
    ngx_http_farm_status_out_t *out, ngx_uint_t status)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    out->last->buf->last_buf = (r == r->main) ? 1 : 0;
    out->last->buf->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = out->total;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    ngx_str_set(&value, "no-store");

    if (ngx_http_farm_add_header(r, "Cache-Control", &value) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out->first);
}


static ngx_int_t
ngx_http_farm_status_handler(ngx_http_request_t *r)
{
    u_char                       *p;
    ngx_int_t                     rc;
    ngx_str_t                     want;
    ngx_uint_t                    i, n;
    ngx_array_t                   types, farms;
    ngx_http_farm_srv_conf_t    **farm, **f;
    ngx_http_farm_main_conf_t    *fmcf;
    ngx_http_farm_status_out_t    out;
    ngx_http_farm_status_list_t   list;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* ?pool= is the dashboard's name for ?upstream= */

    if (ngx_http_arg(r, (u_char *) "upstream", 8, &want) != NGX_OK
        && ngx_http_arg(r, (u_char *) "pool", 4, &want) != NGX_OK)
    {
        want.len = 0;
    }

    if (ngx_http_farm_status_list_args(r, &list) != NGX_OK) {
        return NGX_HTTP_BAD_REQUEST;
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_module);

    if (ngx_array_init(&types, r->pool, 8,
                       sizeof(ngx_http_farm_status_type_t))
        != NGX_OK
        || ngx_array_init(&farms, r->pool, 4,
                          sizeof(ngx_http_farm_srv_conf_t *))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out.request = r;
    out.first = NULL;
    out.last = NULL;
    out.total = 0;

    p = ngx_http_farm_status_reserve(&out, 128);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(p, "{\"version\":\"%s\",\"time\":%T,\"farms\":[",
                    NGX_HTTP_FARM_VERSION, ngx_time());
    ngx_http_farm_status_commit(&out, p);

    farm = fmcf->farms.elts;

    for (i = 0, n = 0; i < fmcf->farms.nelts; i++) {
        if (want.len
            && (want.len != farm[i]->uscf->host.len
                || ngx_strncmp(want.data, farm[i]->uscf->host.data, want.len)
                   != 0))
        {
            continue;
        }

        f = ngx_array_push(&farms);
        if (f == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *f = farm[i];

        if (ngx_http_farm_status_farm(&out, farm[i], n++ == 0, &list, &types)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_farm_status_summary(&out, &farms, &list, &types) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_farm_status_send(r, &out, NGX_HTTP_OK);
}


/*
 * The top level's end: "total" (agents matching the filters, in all the
 * farms shown) and the "summary", in the shape of the orchestrator's
 * stats: workers total, online (can take requests), busy (requests in
 * flight), by_type (agents per capability); tasks pending (queued),
 * assigned (in flight), completed and failed (tries that ended; failed:
 * 5xx answers and failed connections), success_rate (percent of those
 * that completed, null before any ended).
 */

static ngx_int_t
ngx_http_farm_status_summary(ngx_http_farm_status_out_t *out,
    ngx_array_t *farms, ngx_http_farm_status_list_t *list,
    ngx_array_t *types)
{
    u_char                       *p;
    uint64_t                      total, online, pending, completed, failed;
    ngx_uint_t                    i;
    ngx_http_farm_zone_t          z;
    ngx_http_farm_srv_conf_t    **farm;
    ngx_http_farm_status_type_t  *type;

    total = 0;
    online = 0;
    pending = 0;
    completed = 0;
    failed = 0;

    farm = farms->elts;

    for (i = 0; i < farms->nelts; i++) {
        ngx_http_farm_zone_get(farm[i], &z);

        ngx_shmtx_lock(&z.shpool->mutex);

        total += z.sh->nagents;
        online += z.sh->eligible;
        pending += z.sh->qlen;
        completed += z.sh->completed;
        failed += z.sh->failed;

        ngx_shmtx_unlock(&z.shpool->mutex);
    }

    p = ngx_http_farm_status_reserve(out, 512 + types->nelts
                                              * (FARM_CAP_MAX + 32));
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(p, "],\"total\":%ui,\"summary\":{\"workers\":{"
                    "\"total\":%uL,\"online\":%uL,\"busy\":%ui,"
                    "\"by_type\":{",
                    list->seen, total, online, list->busy);

    type = types->elts;

    for (i = 0; i < types->nelts; i++) {
        p = ngx_sprintf(p, "%s\"%s\":%uL", i ? "," : "", type[i].name,
                        type[i].agents);
    }

    p = ngx_sprintf(p, "}},\"tasks\":{\"pending\":%uL,\"assigned\":%uL,"
                    "\"completed\":%uL,\"failed\":%uL,\"success_rate\":",
                    pending, list->active, completed, failed);

    if (completed + failed) {
        p = ngx_sprintf(p, "%.2f}}}\n",
                        (double) completed * 100 / (completed + failed));

    } else {
        p = ngx_sprintf(p, "null}}}\n");
    }

    ngx_http_farm_status_commit(out, p);

    return NGX_OK;
}


/* Adds a farm's agents per capability name to the summary's counts. */

static ngx_int_t
ngx_http_farm_status_types_locked(ngx_array_t *types,
    ngx_http_farm_shctx_t *sh)
{
    size_t                        len;
    ngx_uint_t                    i, j;
    ngx_http_farm_status_type_t  *type;

    for (j = 0; j < sh->ncaps; j++) {
        if (sh->cap_refs[j] == 0) {
            continue;
        }

        type = types->elts;

        for (i = 0; i < types->nelts; i++) {
            if (ngx_strcmp(type[i].name, sh->caps[j]) == 0) {
                break;
            }
        }

        if (i == types->nelts) {
            type = ngx_array_push(types);
            if (type == NULL) {
                return NGX_ERROR;
            }

            len = ngx_strlen(sh->caps[j]) + 1;

            type->name = ngx_pnalloc(types->pool, len);
            if (type->name == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(type->name, sh->caps[j], len);
            type->agents = 0;

            /* the push may have moved the elements */
            type = types->elts;
        }

        type[i].agents += sh->cap_refs[j];
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_status_farm(ngx_http_farm_status_out_t *out,
    ngx_http_farm_srv_conf_t *fcf, ngx_uint_t first,
    ngx_http_farm_status_list_t *list, ngx_array_t *types)
{
    char                         url[FARM_HOST_MAX + 64];
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_http_farm_zone_t         z;
    ngx_http_farm_shctx_t       *sh;
    ngx_http_farm_status_list_t  mine;

    ngx_http_farm_zone_get(fcf, &z);
    sh = z.sh;

    farm_url_display(&fcf->url, url, sizeof(url));

    p = ngx_http_farm_status_reserve(out, 1024 + fcf->uscf->host.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(p, "%s{\"upstream\":\"%V\",\"service\":\"%V\","
                    "\"registry\":\"%s\",\"balance\":\"%s\",\"agents\":[",
                    first ? "" : ",", &fcf->uscf->host, &fcf->service, url,
                    ngx_http_farm_balance_name(fcf->method));
    ngx_http_farm_status_commit(out, p);

    /* this farm's counts apart, the page's place across farms kept */

    mine = *list;
    mine.busy = 0;
    mine.active = 0;
    mine.available = 0;
    mine.seen = 0;
    mine.offset = (list->offset > list->seen) ? list->offset - list->seen : 0;
    mine.limit = list->limit ? list->limit - list->shown : 0;
    mine.shown = 0;

    if (list->limit && list->shown >= list->limit) {
        mine.offset = (ngx_uint_t) -1;      /* the page is full: count only */
        mine.limit = 0;
    }

    if (ngx_http_farm_status_agents(out, fcf, &mine) != NGX_OK) {
        return NGX_ERROR;
    }

    list->seen += mine.seen;
    list->shown += mine.shown;
    list->busy += mine.busy;
    list->active += mine.active;
    list->available += mine.available;

    p = ngx_http_farm_status_reserve(out, 2048);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&z.shpool->mutex);

    rc = ngx_http_farm_status_types_locked(types, sh);

    p = ngx_sprintf(p, "],\"total\":%ui,\"overrides\":%uD,"
                    "\"tasks\":{\"completed\":%uL,\"failed\":%uL},"
                    "\"totals\":{\"agents\":%uD,\"available\":%uL,"
                    "\"active\":%uL,\"requests\":%uL,\"no_agent\":%uL,"
                    "\"reclaimed\":%uL},"
                    "\"zone\":{\"pages\":%ui,\"free_pages\":%ui},"
                    "\"sync\":{\"registry_up\":%s,\"last_full_sync\":%T,"
                    "\"full_syncs\":%uL,\"errors\":%uL,"
                    "\"bad_records\":%ui}}",
                    mine.seen, sh->noverrides, sh->completed, sh->failed,
                    sh->nagents, mine.available, mine.active,
                    sh->requests, sh->no_agent, sh->reclaimed,
                    (ngx_uint_t) (z.shpool->end - z.shpool->start)
                    / ngx_pagesize, z.shpool->pfree,
                    sh->registry_up ? "true" : "false", sh->last_sync,
                    sh->syncs, sh->sync_errors, sh->bad_records);

    if (fcf->queue.enabled) {
        p--;
        p = ngx_sprintf(p, ",\"queue\":{\"waiting\":%uD,\"max\":%uD,"
                        "\"timeout_ms\":%M,\"queued\":%uL,"
                        "\"dispatched\":%uL,\"timed_out\":%uL,"
                        "\"full\":%uL,\"avg_wait_ms\":%uL,"
                        "\"max_wait_ms\":%M}}",
                        sh->qlen, sh->qmax, fcf->queue.timeout, sh->queued,
                        sh->dispatched, sh->timed_out, sh->queue_full,
                        sh->dispatched ? sh->wait_total / sh->dispatched : 0,
                        sh->wait_max);
    }

    if (fcf->client.enabled) {
        p--;
        p = ngx_sprintf(p, ",\"client_limit\":{\"max\":%ui,"
                        "\"limited\":%uL}}", fcf->client.max,
                        sh->client_limited);
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    ngx_http_farm_status_commit(out, p);

    return rc;
}


/*
 * Writes the agents of one farm that match list->state, skipping the first
 * list->offset of them and writing at most list->limit, and counts in list
 * all that match (seen), the ones written (shown), and, over every agent,
 * busy, active and available.
 *
 * The cost: one walk of the farm's slots per call, never holding the zone
 * lock across agents: the lock is taken per agent written, and per agent
 * with a state filter (its state is read locked); without one, agents off
 * the page are counted from words read unlocked, as statistics.
 */

ngx_int_t
ngx_http_farm_status_agents(ngx_http_farm_status_out_t *out,
    ngx_http_farm_srv_conf_t *fcf, ngx_http_farm_status_list_t *list)
{
    u_char                 *p;
    uint32_t                i, active;
    ngx_uint_t              match, page, want;
    const char             *state;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a;
    ngx_http_farm_shctx_t  *sh;

    ngx_http_farm_zone_get(fcf, &z);
    sh = z.sh;

    for (i = 0; i < sh->nslots; i++) {
        a = &sh->agents[i];

        /* an unlocked peek to skip free slots; checked again locked */

        if (a->state != NGX_HTTP_FARM_SLOT_UP) {
            continue;
        }

        want = list->seen >= list->offset
               && (list->limit == 0 || list->shown < list->limit);

        if (!want && list->state.len == 0) {
            active = a->pick->active;
            list->seen++;
            list->busy += (active != 0);
            list->active += active;
            list->available += farm_peer_available(a->pick);
            continue;
        }

        p = NULL;

        if (want) {
            p = ngx_http_farm_status_reserve(out, NGX_HTTP_FARM_AGENT_JSON
                                                  + FARM_META_MAX);
            if (p == NULL) {
                return NGX_ERROR;
            }
        }

        ngx_shmtx_lock(&z.shpool->mutex);

        if (a->state != NGX_HTTP_FARM_SLOT_UP) {
            ngx_shmtx_unlock(&z.shpool->mutex);
            continue;
        }

        active = a->pick->active;
        list->busy += (active != 0);
        list->active += active;
        list->available += farm_peer_available(a->pick);

        match = 1;

        if (list->state.len) {
            state = ngx_http_farm_agent_state_locked(a);
            match = (ngx_strlen(state) == list->state.len
                     && ngx_strncmp(state, list->state.data,
                                    list->state.len) == 0);
        }

        page = 0;

        if (match) {
            page = list->seen >= list->offset
                   && (list->limit == 0 || list->shown < list->limit);
            list->seen++;
        }

        if (page && p) {
            if (list->shown++) {
                *p++ = ',';
            }

            p = ngx_http_farm_status_agent_locked(p, fcf, sh, a);
        }

        ngx_shmtx_unlock(&z.shpool->mutex);

        if (p) {
            ngx_http_farm_status_commit(out, p);
        }
    }

    return NGX_OK;
}


u_char *
ngx_http_farm_status_agent_locked(u_char *p, ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_shctx_t *sh, ngx_http_farm_agent_t *a)
{
    u_char                    *e;
    int64_t                    until, last;
    ngx_msec_t                 now;
    ngx_http_farm_override_t  *ov;

    now = ngx_current_msec;

    ov = (a->override != NGX_HTTP_FARM_NONE32) ? &sh->overrides[a->override]
                                               : NULL;

    /* wall clock milliseconds of the monotonic ejection end */

    until = 0;

    if (ov && ov->ejected_until) {
        until = (int64_t) ngx_time() * 1000
                + (ngx_msec_int_t) (ov->ejected_until - now);
    }

    last = a->last_check ? ((int64_t) ngx_time() - a->last_check) * 1000 : -1;

    p = ngx_sprintf(p, "{\"id\":\"%V\",\"address\":\"%*s\",\"region\":\"%s\","
                    "\"caps\":[",
                    &a->sn.str, a->name_len, a->name,
                    a->region ? sh->regions[a->region - 1] : (u_char *) "");

    p += ngx_http_farm_caps_text_locked(sh, a->caps, p,
                                 NGX_HTTP_FARM_MAX_CAPS * (FARM_CAP_MAX + 3),
                                 1);

    p = ngx_sprintf(p, "],\"weight\":%uD,\"registered_weight\":%uD,"
                    "\"max_conns\":%uD,\"backup\":%s,\"state\":\"%s\","
                    "\"mode\":\"%s\",\"ejected_until_ms\":%L,"
                    "\"weight_override\":%uD,"
                    "\"active\":%uD,\"requests\":%uL,\"failures\":%uL,"
                    "\"errors\":%uL,\"latency_ms\":%uD,"
                    "\"heartbeat_age_ms\":%M,\"last_check_ms\":%L,"
                    "\"since\":%T",
                    a->pick->weight, a->rec_weight, a->rec_max_conns,
                    a->rec_backup ? "true" : "false",
                    ngx_http_farm_agent_state_locked(a),
                    ngx_http_farm_mode_name(a->mode), until,
                    ov ? ov->weight : 0,
                    a->pick->active, a->requests, a->failures, a->errors,
                    (a->latency + 8) / 16,
                    a->heard ? now - a->heard : 0, last, a->since);

    if (fcf->health.enabled) {
        p = ngx_sprintf(p, ",\"health\":{\"checks\":%uL,\"failed\":%uL,"
                        "\"passes\":%uD,\"fails\":%uD,\"last_check\":%T,"
                        "\"last_error\":\"",
                        a->checks, a->checks_failed, (uint32_t) a->passes,
                        (uint32_t) a->fails, a->last_check);

        /* our own fixed messages: nothing to escape */

        e = a->check_error;
        while (*e && e < a->check_error + NGX_HTTP_FARM_ERROR_LEN) {
            *p++ = (*e == '"' || *e == '\\') ? '\'' : *e;
            e++;
        }

        p = ngx_sprintf(p, "\",\"reported\":{\"draining\":%s,"
                        "\"weight\":%uD,\"inflight\":%uD}}",
                        a->draining ? "true" : "false", a->rep_weight,
                        a->rep_inflight);
    }

    if (fcf->breaker.enabled) {
        p = ngx_sprintf(p, ",\"breaker\":{\"state\":\"%s\","
                        "\"failures_in_a_row\":%uD,\"ejections\":%uD",
                        a->breaker == NGX_HTTP_FARM_BREAKER_OPEN ? "open"
                        : a->breaker == NGX_HTTP_FARM_BREAKER_HALF
                          ? "half_open" : "closed",
                        a->bfails, a->ejections);

        if (a->breaker == NGX_HTTP_FARM_BREAKER_OPEN) {
            p = ngx_sprintf(p, ",\"half_open_at\":%T", a->reopen_time);
        }

        *p++ = '}';
    }

    if (a->meta_len) {
        p = ngx_sprintf(p, ",\"meta\":%*s", a->meta_len, a->meta);
    }

    *p++ = '}';

    return p;
}
