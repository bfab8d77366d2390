
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The state= file of farm_registry: the last known agents of an upstream,
 * whatever the registry, as a JSON array of records (registry/
 * farm_record.c's form).  The sync owner writes it after a full sync that
 * changed the agents, at most once per NGX_HTTP_FARM_STATE_EVERY (a burst
 * of changes, which with Consul is a burst of full syncs, costs one write):
 * serialized straight from the zone into one buffer, written to a new
 * temporary file (O_EXCL, O_NOFOLLOW: never through a planted link),
 * flushed to disk and renamed over the old one, so a reader never sees
 * half a file.  The master reads it at start when the registry cannot be
 * read, so a gateway restarted during a registry outage still routes.
 */


#include "ngx_http_farm_module.h"

#include <jansson.h>


#define NGX_HTTP_FARM_STATE_MAX    (256 * 1024 * 1024)
#define NGX_HTTP_FARM_STATE_EVERY  1000      /* ms between writes */

/* the most one record takes in the file: fields, 32 caps, meta */
#define NGX_HTTP_FARM_STATE_RECORD                                           \
    (256 + FARM_ID_MAX + FARM_SERVICE_MAX + NGX_SOCKADDR_STRLEN              \
     + FARM_REGION_MAX + FARM_CAPS_MAX * (FARM_CAP_MAX + 3) + FARM_META_MAX)


static void ngx_http_farm_state_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_farm_state_save(ngx_http_farm_srv_conf_t *fcf);
static u_char *ngx_http_farm_state_record(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t *a, u_char *p);
static ngx_int_t ngx_http_farm_state_write(ngx_http_farm_srv_conf_t *fcf,
    u_char *data, size_t len);


/*
 * End of a full sync: save the agents if they changed since the last save,
 * now or, within NGX_HTTP_FARM_STATE_EVERY of the last write, when that
 * has passed.
 */

void
ngx_http_farm_state_sync_end(ngx_http_farm_srv_conf_t *fcf)
{
    ngx_msec_t    elapsed;
    ngx_event_t  *ev;

    if (fcf->state.len == 0 || !fcf->state_dirty) {
        return;
    }

    /* only the sync owner writes; the master's startup read leaves it */

    if (fcf->warming) {
        return;
    }

    ev = &fcf->state_ev;

    if (ev->handler == NULL) {
        ev->handler = ngx_http_farm_state_handler;
        ev->data = fcf;
        ev->log = fcf->log;
        ev->cancelable = 1;
    }

    if (ev->timer_set) {
        return;
    }

    elapsed = ngx_current_msec - fcf->state_saved;

    if (fcf->state_saved && elapsed < NGX_HTTP_FARM_STATE_EVERY) {
        ngx_add_timer(ev, NGX_HTTP_FARM_STATE_EVERY - elapsed);
        return;
    }

    ngx_http_farm_state_handler(ev);
}


static void
ngx_http_farm_state_handler(ngx_event_t *ev)
{
    ngx_http_farm_srv_conf_t  *fcf = ev->data;

    if (!fcf->state_dirty || fcf->superseded) {
        return;
    }

    fcf->state_saved = ngx_current_msec;

    /* a failed write is tried again after the next full sync */

    if (ngx_http_farm_state_save(fcf) == NGX_OK) {
        fcf->state_dirty = 0;
    }
}


/*
 * Writes the record of an agent slot, as farm_record_to_json() would, at
 * p: every string in it is a validated name or an address literal, and
 * meta is already JSON, so nothing needs escaping.  Called with the zone
 * locked; p has NGX_HTTP_FARM_STATE_RECORD bytes.  Returns the end.
 */

static u_char *
ngx_http_farm_state_record(ngx_http_farm_zone_t *z, ngx_http_farm_agent_t *a,
    u_char *p)
{
    u_char                 *start;
    ngx_uint_t              i, n;
    ngx_http_farm_shctx_t  *sh;

    sh = z->sh;

    p = ngx_sprintf(p, "{\"id\":\"%*s\",\"service\":\"%V\",\"address\":\"",
                    (size_t) a->sn.str.len, a->id, &z->fcf->service);

    start = p;
    p += ngx_sock_ntop(&a->sockaddr.sockaddr, a->socklen, p,
                       NGX_SOCKADDR_STRLEN, 0);

    if (p == start) {
        return NULL;
    }

    p = ngx_sprintf(p, "\",\"port\":%ui,\"weight\":%uD,\"region\":\"%s\","
                    "\"caps\":[",
                    (ngx_uint_t) ngx_inet_get_port(&a->sockaddr.sockaddr),
                    a->rec_weight,
                    a->region ? sh->regions[a->region - 1] : (u_char *) "");

    n = 0;

    for (i = 0; i < sh->ncaps && n < FARM_CAPS_MAX; i++) {
        if (a->caps & ((uint64_t) 1 << i)) {
            p = ngx_sprintf(p, "%s\"%s\"", n++ ? "," : "", sh->caps[i]);
        }
    }

    p = ngx_sprintf(p, "],\"max_conns\":%uD,\"backup\":%s",
                    a->rec_max_conns, a->rec_backup ? "true" : "false");

    if (a->meta_len) {
        p = ngx_sprintf(p, ",\"meta\":%*s",
                        ngx_min(a->meta_len, (size_t) FARM_META_MAX),
                        a->meta);
    }

    *p++ = '}';

    return p;
}


static ngx_int_t
ngx_http_farm_state_save(ngx_http_farm_srv_conf_t *fcf)
{
    u_char                 *buf, *p, *last, *nbuf;
    size_t                  size;
    uint32_t                i;
    ngx_uint_t              n;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_zone_get(fcf, &z);

    size = (z.sh->nagents + 1) * 512 + NGX_HTTP_FARM_STATE_RECORD;

    buf = ngx_alloc(size, fcf->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, "[", 1);
    last = buf + size;
    n = 0;

    for (i = 0; i < z.sh->nslots; i++) {
        a = &z.sh->agents[i];

        if (a->state != NGX_HTTP_FARM_SLOT_UP) {
            continue;
        }

        /* room for one more record and the end, outside the lock */

        if ((size_t) (last - p) < NGX_HTTP_FARM_STATE_RECORD + 8) {
            size *= 2;

            nbuf = ngx_alloc(size, fcf->log);
            if (nbuf == NULL) {
                ngx_free(buf);
                return NGX_ERROR;
            }

            p = ngx_cpymem(nbuf, buf, p - buf);
            last = nbuf + size;
            ngx_free(buf);
            buf = nbuf;
        }

        ngx_shmtx_lock(&z.shpool->mutex);

        if (a->state != NGX_HTTP_FARM_SLOT_UP) {
            ngx_shmtx_unlock(&z.shpool->mutex);
            continue;
        }

        nbuf = ngx_http_farm_state_record(&z, a, p + (n ? 2 : 1));

        ngx_shmtx_unlock(&z.shpool->mutex);

        if (nbuf == NULL) {
            continue;
        }

        if (n) {
            *p++ = ',';
        }

        *p = '\n';
        p = nbuf;
        n++;
    }

    p = ngx_cpymem(p, "\n]\n", 3);

    if (ngx_http_farm_state_write(fcf, buf, p - buf) != NGX_OK) {
        ngx_free(buf);
        return NGX_ERROR;
    }

    ngx_free(buf);

    ngx_log_error(NGX_LOG_INFO, fcf->log, 0,
                  "farm: saved %ui agents of upstream \"%V\" to \"%V\"",
                  n, &fcf->uscf->host, &fcf->state);

    return NGX_OK;
}


/*
 * Replaces the state file with data: a new "<state>.<pid>.tmp" (O_EXCL and
 * O_NOFOLLOW, so a file or link planted there is removed, never followed
 * or truncated), written, flushed with fsync() and renamed over the file.
 */

static ngx_int_t
ngx_http_farm_state_write(ngx_http_farm_srv_conf_t *fcf, u_char *data,
    size_t len)
{
    u_char      *tmp;
    ssize_t      n;
    ngx_fd_t     fd;
    ngx_err_t    err;
    ngx_uint_t   tries;

    tmp = ngx_alloc(fcf->state.len + 32, fcf->log);
    if (tmp == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(tmp, "%V.%P.tmp%Z", &fcf->state, ngx_pid);

    for (tries = 0; /* void */; tries++) {
        fd = open((char *) tmp, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW,
                  NGX_FILE_DEFAULT_ACCESS);

        if (fd != NGX_INVALID_FILE) {
            break;
        }

        err = ngx_errno;

        /*
         * left by a process with our pid, or planted: removed (unlink()
         * follows no link), and tried once more
         */

        if (err != NGX_EEXIST || tries > 0
            || ngx_delete_file(tmp) == NGX_FILE_ERROR)
        {
            goto failed;
        }
    }

    while (len) {
        n = ngx_write_fd(fd, data, len);

        if (n <= 0) {
            err = (n == 0) ? NGX_ENOSPC : ngx_errno;
            (void) ngx_close_file(fd);
            (void) ngx_delete_file(tmp);
            goto failed;
        }

        data += n;
        len -= n;
    }

    if (fsync(fd) == -1) {
        err = ngx_errno;
        (void) ngx_close_file(fd);
        (void) ngx_delete_file(tmp);
        goto failed;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR
        || ngx_rename_file(tmp, fcf->state.data) == NGX_FILE_ERROR)
    {
        err = ngx_errno;
        (void) ngx_delete_file(tmp);
        goto failed;
    }

    ngx_free(tmp);

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ERR, fcf->log, err,
                  "farm: cannot save the agents of upstream \"%V\" to \"%V\"",
                  &fcf->uscf->host, &fcf->state);

    ngx_free(tmp);

    return NGX_ERROR;
}


/*
 * The master, at start, when the registry cannot be read: the agents of
 * the state file, as a full sync.  A bad record in the file is skipped
 * like a bad registry record.  Returns NGX_OK, or NGX_DECLINED when there
 * is no usable file.
 */

ngx_int_t
ngx_http_farm_state_load(ngx_http_farm_srv_conf_t *fcf, ngx_log_t *log)
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

    ngx_http_farm_sync_begin(fcf);

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

        if (ngx_http_farm_sync_parsed(fcf, label, len, &rec, 1) == NGX_OK) {
            good++;

        } else {
            bad++;
        }

        farm_record_free(&rec);
    }

    json_decref(list);

    ngx_http_farm_sync_end(fcf);

    ngx_http_farm_zone_get(fcf, &z);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "farm: upstream \"%V\" starts with %uD agents from the "
                  "state file \"%V\" (%ui skipped) until registry %V answers",
                  &fcf->uscf->host, z.sh->nagents, &fcf->state, bad,
                  &fcf->url_display);

    return good ? NGX_OK : NGX_DECLINED;
}
