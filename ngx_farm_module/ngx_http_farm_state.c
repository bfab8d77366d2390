
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The state= file of farm_registry: the last known agents of an upstream,
 * whatever the registry, as a JSON array of records (registry/
 * farm_record.c's form).  The sync owner writes it after a full sync that
 * changed the agents (a temporary file, then rename(), so a reader never
 * sees half a file); the master reads it at start when the registry cannot
 * be read, so a gateway restarted during a registry outage still routes.
 */


#include "ngx_http_farm_state.h"

#include <jansson.h>


#define NGX_HTTP_FARM_STATE_MAX  (256 * 1024 * 1024)


static ngx_int_t ngx_http_farm_state_save(ngx_http_farm_srv_conf_t *fcf);
static ngx_int_t ngx_http_farm_state_record_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a, farm_record_t *rec);


/* End of a full sync: save the agents if they changed since the last save */

void
ngx_http_farm_state_sync_end(ngx_http_farm_srv_conf_t *fcf)
{
    if (fcf->state.len == 0 || !fcf->state_dirty) {
        return;
    }

    /* only the sync owner writes; the master's startup read leaves it */

    if (fcf->warming) {
        return;
    }

    if (ngx_http_farm_state_save(fcf) == NGX_OK) {
        fcf->state_dirty = 0;
    }
}


/*
 * Rebuilds the record of an agent slot from the zone.  Called with the
 * zone locked; rec->meta is malloc'd (or NULL) for the caller to free.
 */

static ngx_int_t
ngx_http_farm_state_record_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a, farm_record_t *rec)
{
    size_t                  len;
    ngx_uint_t              i;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;

    farm_record_init(rec);

    ngx_memcpy(rec->id, a->id, a->sn.str.len);
    rec->id[a->sn.str.len] = '\0';

    len = ngx_min(z->fcf->service.len, FARM_SERVICE_MAX);
    ngx_memcpy(rec->service, z->fcf->service.data, len);
    rec->service[len] = '\0';

    len = ngx_sock_ntop(&a->sockaddr.sockaddr, a->socklen,
                        (u_char *) rec->address, FARM_ADDRESS_MAX, 0);
    rec->address[len] = '\0';

    rec->port = ngx_inet_get_port(&a->sockaddr.sockaddr);
    rec->weight = a->rec_weight;
    rec->max_conns = a->rec_max_conns;
    rec->backup = a->rec_backup ? 1 : 0;

    if (a->region) {
        ngx_cpystrn((u_char *) rec->region, sh->regions[a->region - 1],
                    FARM_REGION_MAX + 1);
    }

    for (i = 0; i < sh->ncaps && rec->ncaps < FARM_CAPS_MAX; i++) {
        if (a->caps & ((uint64_t) 1 << i)) {
            ngx_cpystrn((u_char *) rec->caps[rec->ncaps++], sh->caps[i],
                        FARM_CAP_MAX + 1);
        }
    }

    if (a->meta_len) {
        rec->meta = malloc(a->meta_len + 1);
        if (rec->meta == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(rec->meta, a->meta, a->meta_len);
        rec->meta[a->meta_len] = '\0';
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_state_save(ngx_http_farm_srv_conf_t *fcf)
{
    char                   *json;
    u_char                 *tmp;
    size_t                  len;
    json_t                 *list, *item;
    uint32_t                i;
    ngx_err_t               err;
    ngx_int_t               rc;
    ngx_uint_t              n;
    ngx_fd_t                fd;
    farm_record_t           rec;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_zone_get(fcf, &z);

    list = json_array();
    if (list == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (i = 0; i < z.sh->nslots; i++) {
        a = &z.sh->agents[i];

        ngx_shmtx_lock(&z.shpool->mutex);

        if (a->state != NGX_HTTP_FARM_SLOT_UP) {
            ngx_shmtx_unlock(&z.shpool->mutex);
            continue;
        }

        rc = ngx_http_farm_state_record_locked(&z, a, &rec);

        ngx_shmtx_unlock(&z.shpool->mutex);

        json = (rc == NGX_OK) ? farm_record_to_json(&rec) : NULL;
        farm_record_free(&rec);

        item = json ? json_loads(json, 0, NULL) : NULL;
        free(json);

        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            ngx_log_error(NGX_LOG_ERR, fcf->log, 0,
                          "farm: cannot save the agents of upstream \"%V\" "
                          "to \"%V\": out of memory", &fcf->uscf->host,
                          &fcf->state);
            return NGX_ERROR;
        }

        n++;
    }

    json = json_dumps(list, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(list);

    if (json == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(json);

    tmp = ngx_alloc(fcf->state.len + 32, fcf->log);
    if (tmp == NULL) {
        free(json);
        return NGX_ERROR;
    }

    ngx_sprintf(tmp, "%V.%P.tmp%Z", &fcf->state, ngx_pid);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;
        goto failed;
    }

    if (ngx_write_fd(fd, json, len) != (ssize_t) len) {
        err = ngx_errno;
        (void) ngx_close_file(fd);
        (void) ngx_delete_file(tmp);
        goto failed;
    }

    (void) ngx_write_fd(fd, "\n", 1);

    if (ngx_close_file(fd) == NGX_FILE_ERROR
        || ngx_rename_file(tmp, fcf->state.data) == NGX_FILE_ERROR)
    {
        err = ngx_errno;
        (void) ngx_delete_file(tmp);
        goto failed;
    }

    free(json);
    ngx_free(tmp);

    ngx_log_error(NGX_LOG_INFO, fcf->log, 0,
                  "farm: saved %ui agents of upstream \"%V\" to \"%V\"",
                  n, &fcf->uscf->host, &fcf->state);

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ERR, fcf->log, err,
                  "farm: cannot save the agents of upstream \"%V\" to \"%V\"",
                  &fcf->uscf->host, &fcf->state);

    free(json);
    ngx_free(tmp);

    return NGX_ERROR;
}


/*
 * The master, at start, when the registry cannot be read: the agents of
 * the state file, as a full sync into sink (the module glue passes the
 * sync layer's).  A bad record in the file is skipped like a bad registry
 * record.  Returns NGX_OK, or NGX_DECLINED when there is no usable file.
 */

ngx_int_t
ngx_http_farm_state_load(ngx_http_farm_srv_conf_t *fcf, ngx_log_t *log,
    const ngx_http_farm_state_sink_t *sink)
{
    char                  *text, err[FARM_ERR_MAX];
    u_char                 label[FARM_ID_MAX + 16];
    size_t                 i, len;
    json_t                *list, *item;
    ssize_t                n;
    ngx_fd_t               fd;
    ngx_uint_t             good, bad;
    ngx_file_info_t        fi;
    json_error_t           jerr;
    farm_record_t          rec;
    ngx_http_farm_zone_t   z;

    fd = ngx_open_file(fcf->state.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "farm: no state file \"%V\" for upstream \"%V\"",
                      &fcf->state, &fcf->uscf->host);
        return NGX_DECLINED;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_FARM_STATE_MAX)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "farm: state file \"%V\" is unreadable or larger than "
                      "256M; ignored", &fcf->state);
        (void) ngx_close_file(fd);
        return NGX_DECLINED;
    }

    len = (size_t) ngx_file_size(&fi);

    text = ngx_alloc(len + 1, log);
    if (text == NULL) {
        (void) ngx_close_file(fd);
        return NGX_DECLINED;
    }

    n = ngx_read_fd(fd, text, len);
    (void) ngx_close_file(fd);

    if (n != (ssize_t) len) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "farm: cannot read state file \"%V\"", &fcf->state);
        ngx_free(text);
        return NGX_DECLINED;
    }

    list = json_loadb(text, len, 0, &jerr);
    ngx_free(text);

    if (!json_is_array(list)) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "farm: state file \"%V\" is not a JSON array of "
                      "records%s%s; ignored", &fcf->state,
                      list ? "" : ": ", list ? "" : jerr.text);
        json_decref(list);
        return NGX_DECLINED;
    }

    good = 0;
    bad = 0;

    sink->begin(fcf);

    json_array_foreach(list, i, item) {
        text = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);

        if (text == NULL
            || farm_record_parse(&rec, text, ngx_strlen(text), err) != 0)
        {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "farm: skipping record %uz of state file \"%V\": "
                          "%s", i, &fcf->state,
                          text ? err : "out of memory");
            free(text);
            bad++;
            continue;
        }

        free(text);

        len = ngx_sprintf(label, "state:%s", rec.id) - label;

        if (sink->parsed(fcf, label, len, &rec, 1) == NGX_OK) {
            good++;

        } else {
            bad++;
        }

        farm_record_free(&rec);
    }

    json_decref(list);

    sink->end(fcf);

    ngx_http_farm_zone_get(fcf, &z);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "farm: upstream \"%V\" starts with %uD agents from the "
                  "state file \"%V\" (%ui skipped) until registry %V answers",
                  &fcf->uscf->host, z.sh->nagents, &fcf->state, bad,
                  &fcf->url_display);

    return good ? NGX_OK : NGX_DECLINED;
}
