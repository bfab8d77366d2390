
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Operator overrides kept in the registry, so that every gateway in front
 * of it agrees (farm_admin write=registry, docs/observability.md).  One
 * override is a small JSON object per agent id:
 *
 *   {"mode":"draining","weight":0,"ejected_until_ms":1796212800000}
 *
 * (weight 0: the agent's own; ejected_until_ms: Unix time, 0 when not
 * ejected).  Redis keeps them in the hash <prefix>:<service>:overrides,
 * field = agent id; the built-in registry in the file "<state>.overrides"
 * beside its state file, a JSON object of id -> override.
 *
 * A registry backend reads all of them at each full sync and calls
 * ngx_http_farm_override_sync(): each one is put in the zone's table
 * (ngx_http_farm_override.c) marked as the registry's, and the registry's
 * entries it no longer holds go back to the defaults.  Overrides set
 * without write=registry stay this gateway's own unless the registry
 * names the same agent (the registry wins).
 */


#include "ngx_http_farm_override_sync.h"
#include "ngx_http_farm_queue.h"

#include <jansson.h>


#define NGX_HTTP_FARM_OVERRIDE_FILE_MAX  (1024 * 1024)


static void ngx_http_farm_override_dispatch_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t **changed, ngx_uint_t n);
static void ngx_http_farm_override_file_name(ngx_http_farm_srv_conf_t *fcf,
    u_char *buf, const char *suffix);


/* Writes the JSON of rec (without its id) at p; returns the end. */

u_char *
ngx_http_farm_override_json(u_char *p, ngx_http_farm_override_rec_t *rec)
{
    return ngx_sprintf(p, "{\"mode\":\"%s\",\"weight\":%uD,"
                       "\"ejected_until_ms\":%uL}",
                       ngx_http_farm_mode_name(rec->mode), rec->weight,
                       rec->until);
}


/*
 * Parses the JSON of one override into rec (its id is the caller's).  An
 * absent field is the default.  NGX_ERROR with *err naming the field.
 */

ngx_int_t
ngx_http_farm_override_parse(ngx_http_farm_override_rec_t *rec, u_char *text,
    size_t len, const char **err)
{
    json_t        *o, *v;
    const char    *s;
    json_error_t   jerr;

    rec->mode = NGX_HTTP_FARM_MODE_ACTIVE;
    rec->weight = 0;
    rec->until = 0;

    o = json_loadb((const char *) text, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!json_is_object(o)) {
        json_decref(o);
        *err = "not a JSON object";
        return NGX_ERROR;
    }

    v = json_object_get(o, "mode");

    if (v) {
        s = json_string_value(v);

        if (s && ngx_strcmp(s, "active") == 0) {
            rec->mode = NGX_HTTP_FARM_MODE_ACTIVE;

        } else if (s && ngx_strcmp(s, "draining") == 0) {
            rec->mode = NGX_HTTP_FARM_MODE_DRAINING;

        } else if (s && ngx_strcmp(s, "maintenance") == 0) {
            rec->mode = NGX_HTTP_FARM_MODE_MAINTENANCE;

        } else {
            json_decref(o);
            *err = "mode: must be active, draining or maintenance";
            return NGX_ERROR;
        }
    }

    v = json_object_get(o, "weight");

    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0
            || json_integer_value(v) > FARM_WEIGHT_MAX)
        {
            json_decref(o);
            *err = "weight: must be an integer from 0 to 1000";
            return NGX_ERROR;
        }

        rec->weight = (uint32_t) json_integer_value(v);
    }

    v = json_object_get(o, "ejected_until_ms");

    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            json_decref(o);
            *err = "ejected_until_ms: must be a Unix time in ms, or 0";
            return NGX_ERROR;
        }

        rec->until = (uint64_t) json_integer_value(v);
    }

    json_decref(o);

    return NGX_OK;
}


/* An ejection's end, from ngx_current_msec's clock to Unix ms, and back. */

uint64_t
ngx_http_farm_override_unix(ngx_msec_t until)
{
    int64_t      ms;
    ngx_time_t  *tp;

    if (until == 0) {
        return 0;
    }

    tp = ngx_timeofday();

    ms = (int64_t) tp->sec * 1000 + tp->msec
         + (ngx_msec_int_t) (until - ngx_current_msec);

    return ms > 0 ? (uint64_t) ms : 1;
}


/* 0 (not ejected) for an end already past */

ngx_msec_t
ngx_http_farm_override_msec(uint64_t until)
{
    int64_t      left;
    ngx_msec_t   msec;
    ngx_time_t  *tp;

    if (until == 0) {
        return 0;
    }

    tp = ngx_timeofday();

    left = (int64_t) until - ((int64_t) tp->sec * 1000 + tp->msec);

    if (left <= 0) {
        return 0;
    }

    if (left > 86400 * 1000) {
        left = 86400 * 1000;
    }

    msec = ngx_current_msec + (ngx_msec_t) left;

    return msec ? msec : 1;
}


/*
 * Puts one override in the zone, under the zone's lock, and serves the
 * waiters an agent it freed can take.  NGX_DECLINED: the table is full.
 */

ngx_int_t
ngx_http_farm_override_apply(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_override_rec_t *rec, ngx_uint_t origin)
{
    ngx_int_t               rc;
    ngx_uint_t              changed;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a;

    ngx_http_farm_zone_get(fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);

    rc = ngx_http_farm_override_put_locked(&z, rec->id, rec->id_len,
                                           rec->mode, rec->weight,
                                           ngx_http_farm_override_msec(
                                                                rec->until),
                                           origin, 0, &changed, &a);

    if (a && (changed & NGX_HTTP_FARM_CHANGED_CAPACITY)) {
        ngx_http_farm_queue_dispatch_locked(&z, a);
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    return rc;
}


/*
 * The registry's overrides, all of them (a full read sent at read_at, not
 * 0): each is put in the zone, the registry's entries not among them go,
 * except those farm_admin changed here since read_at.  Logs what changed;
 * returns how many entries changed.
 */

ngx_uint_t
ngx_http_farm_override_sync(ngx_http_farm_srv_conf_t *fcf,
    ngx_http_farm_override_rec_t *recs, ngx_uint_t n, ngx_msec_t read_at)
{
    ngx_int_t               rc;
    ngx_str_t               id;
    ngx_uint_t              i, changed, count, full;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *a, *freed[16];

    ngx_http_farm_zone_get(fcf, &z);

    count = 0;
    full = 0;

    ngx_shmtx_lock(&z.shpool->mutex);

    ngx_http_farm_override_sweep_begin_locked(&z);

    for (i = 0; i < n; i++) {
        rc = ngx_http_farm_override_put_locked(&z, recs[i].id,
                                   recs[i].id_len, recs[i].mode,
                                   recs[i].weight,
                                   ngx_http_farm_override_msec(recs[i].until),
                                   NGX_HTTP_FARM_OV_REGISTRY, read_at,
                                   &changed, &a);

        if (rc == NGX_DECLINED) {
            full++;
            continue;
        }

        if (a && (changed & NGX_HTTP_FARM_CHANGED_CAPACITY)) {
            ngx_http_farm_queue_dispatch_locked(&z, a);
        }

        if (changed & NGX_HTTP_FARM_CHANGED_OVERRIDE) {
            count++;

            id.data = recs[i].id;
            id.len = recs[i].id_len;

            ngx_log_error(NGX_LOG_NOTICE, fcf->log, 0,
                          "farm: upstream \"%V\": override of agent \"%V\" "
                          "from registry %V: mode %s, weight %uD, %s",
                          &fcf->uscf->host, &id, &fcf->url_display,
                          ngx_http_farm_mode_name(recs[i].mode),
                          recs[i].weight,
                          ngx_http_farm_override_msec(recs[i].until)
                          ? "ejected" : "not ejected");
        }
    }

    i = ngx_http_farm_override_sweep_end_locked(&z, read_at, freed, 16);

    ngx_http_farm_override_dispatch_locked(&z, freed, 16);

    ngx_shmtx_unlock(&z.shpool->mutex);

    if (i) {
        ngx_log_error(NGX_LOG_NOTICE, fcf->log, 0,
                      "farm: upstream \"%V\": %ui override(s) removed from "
                      "registry %V ended", &fcf->uscf->host, i,
                      &fcf->url_display);
    }

    if (full) {
        ngx_log_error(NGX_LOG_ERR, fcf->log, 0,
                      "farm: upstream \"%V\": %ui override(s) of registry %V "
                      "skipped: the table of overrides is full (1024 agents)",
                      &fcf->uscf->host, full, &fcf->url_display);
    }

    return count + i;
}


static void
ngx_http_farm_override_dispatch_locked(ngx_http_farm_zone_t *z,
    ngx_http_farm_agent_t **changed, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n && changed[i]; i++) {
        ngx_http_farm_queue_dispatch_locked(z, changed[i]);
    }
}


static void
ngx_http_farm_override_file_name(ngx_http_farm_srv_conf_t *fcf, u_char *buf,
    const char *suffix)
{
    ngx_sprintf(buf, "%V.overrides%s%Z", &fcf->state, suffix);
}


/*
 * The built-in registry's overrides file: every entry of the table that is
 * the registry's, written to "<state>.overrides.<pid>.tmp" and renamed over
 * the file, so a reader never sees half of it.  At most 1024 small
 * entries (about 250 bytes each): one write() of the page cache, no
 * fsync() (a crash of the machine may lose the last change; a restart of
 * nginx does not).  NGX_ERROR (logged): the file was not replaced.
 */

ngx_int_t
ngx_http_farm_override_file_save(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log)
{
    u_char                        *buf, *p, *name, *tmp;
    size_t                         size;
    ssize_t                        n;
    uint32_t                       i;
    ngx_fd_t                       fd;
    ngx_uint_t                     first;
    ngx_http_farm_zone_t           z;
    ngx_http_farm_override_t      *ov;
    ngx_http_farm_override_rec_t   rec;

    size = 8 + NGX_HTTP_FARM_MAX_OVERRIDES
               * (FARM_ID_MAX + NGX_HTTP_FARM_OVERRIDE_JSON + 8);

    buf = ngx_alloc(size + 2 * (fcf->state.len + 48), log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    name = buf + size;
    tmp = name + fcf->state.len + 48;

    ngx_http_farm_override_file_name(fcf, name, "");
    ngx_sprintf(tmp, "%V.overrides.%P.tmp%Z", &fcf->state, ngx_pid);

    p = ngx_cpymem(buf, "{", 1);
    first = 1;

    ngx_http_farm_zone_get(fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);

    i = 0;

    while (z.sh->overrides
           && (ov = ngx_http_farm_override_next_locked(z.sh, &i)) != NULL)
    {
        if (ov->origin == NGX_HTTP_FARM_OV_LOCAL) {
            continue;
        }

        rec.mode = ov->mode;
        rec.weight = ov->weight;
        rec.until = ngx_http_farm_override_unix(ov->ejected_until);

        /* ids are validated names: nothing to escape */

        p = ngx_sprintf(p, "%s\n\"%*s\":", first ? "" : ",",
                        (size_t) ov->id_len, ov->id);
        p = ngx_http_farm_override_json(p, &rec);
        first = 0;
    }

    ngx_shmtx_unlock(&z.shpool->mutex);

    p = ngx_cpymem(p, "\n}\n", 3);

    fd = open((char *) tmp, O_WRONLY|O_CREAT|O_TRUNC|O_NOFOLLOW,
              NGX_FILE_DEFAULT_ACCESS);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "farm: cannot open \"%s\"", tmp);
        ngx_free(buf);
        return NGX_ERROR;
    }

    n = ngx_write_fd(fd, buf, p - buf);

    if (n != p - buf) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "farm: cannot write \"%s\"", tmp);
        (void) ngx_close_file(fd);
        (void) ngx_delete_file(tmp);
        ngx_free(buf);
        return NGX_ERROR;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR
        || ngx_rename_file(tmp, name) == NGX_FILE_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "farm: cannot write \"%s\"", name);
        (void) ngx_delete_file(tmp);
        ngx_free(buf);
        return NGX_ERROR;
    }

    ngx_free(buf);

    return NGX_OK;
}


/*
 * The master, at start: the overrides saved in "<state>.overrides" go into
 * the new zone, the registry's (an ejection whose end passed while nginx
 * was stopped is over).  A missing file is no error.
 */

void
ngx_http_farm_override_file_load(ngx_http_farm_srv_conf_t *fcf,
    ngx_log_t *log)
{
    u_char                        *name, *text;
    size_t                         len;
    ssize_t                        n;
    json_t                        *o, *v;
    ngx_fd_t                       fd;
    ngx_uint_t                     good, bad;
    const char                    *key, *err;
    json_error_t                   jerr;
    ngx_file_info_t                fi;
    ngx_http_farm_override_rec_t   rec;

    name = ngx_alloc(fcf->state.len + 48, log);
    if (name == NULL) {
        return;
    }

    ngx_http_farm_override_file_name(fcf, name, "");

    fd = ngx_open_file(name, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_free(name);
        return;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > NGX_HTTP_FARM_OVERRIDE_FILE_MAX)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "farm: overrides file \"%s\" is unreadable or larger "
                      "than 1M; ignored", name);
        (void) ngx_close_file(fd);
        ngx_free(name);
        return;
    }

    len = (size_t) ngx_file_size(&fi);

    text = ngx_alloc(len + 1, log);
    if (text == NULL) {
        (void) ngx_close_file(fd);
        ngx_free(name);
        return;
    }

    n = ngx_read_fd(fd, text, len);
    (void) ngx_close_file(fd);

    o = (n == (ssize_t) len) ? json_loadb((char *) text, len, 0, &jerr)
                             : NULL;
    ngx_free(text);

    if (!json_is_object(o)) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "farm: overrides file \"%s\" is not a JSON object; "
                      "ignored", name);
        json_decref(o);
        ngx_free(name);
        return;
    }

    good = 0;
    bad = 0;

    json_object_foreach(o, key, v) {
        text = (u_char *) json_dumps(v, JSON_COMPACT);

        rec.id = (u_char *) key;
        rec.id_len = ngx_strlen(key);

        if (text == NULL
            || !farm_valid_id(key, rec.id_len)
            || ngx_http_farm_override_parse(&rec, text, ngx_strlen(text),
                                            &err)
               != NGX_OK
            || ngx_http_farm_override_apply(fcf, &rec,
                                            NGX_HTTP_FARM_OV_REGISTRY)
               != NGX_OK)
        {
            bad++;

        } else {
            good++;
        }

        free(text);
    }

    json_decref(o);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "farm: upstream \"%V\" starts with %ui override(s) from "
                  "\"%s\" (%ui skipped)", &fcf->uscf->host, good, name, bad);

    ngx_free(name);
}
