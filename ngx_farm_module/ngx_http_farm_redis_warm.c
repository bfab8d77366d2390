
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The master's startup read of a Redis registry: one synchronous full sync
 * when a zone is created, before any worker exists, so a fresh nginx routes
 * from its first request.  The only blocking registry call in the module,
 * bounded as a whole (connect, every reply) by timeout= and at most
 * NGX_HTTP_FARM_REDIS_WARM_MAX, and never made by a worker, "nginx -t" or
 * "nginx -s".
 */


#include "ngx_http_farm_redis_conn.h"

#include <farm_keys.h>

#include <hiredis/hiredis.h>


#define NGX_HTTP_FARM_REDIS_WARM_MAX     2000    /* ms */


/*
 * The master's synchronous full sync before the workers start, bounded by
 * one deadline for the whole read (not per reply): when it passes, the
 * agents read so far are kept and the sync owner reads the rest.  Values
 * are read with GETRANGE, at most 64k and one byte each, as the workers
 * do.  Returns NGX_OK, or NGX_DECLINED when the registry cannot be read
 * now (the workers will keep trying).
 */

ngx_int_t
ngx_http_farm_redis_warm(ngx_http_farm_srv_conf_t *fcf, ngx_log_t *log)
{
    u_char                  key[FARM_KEY_MAX];
    size_t                  i, j, k, n, len;
    const char             *reason;
    redisReply             *members, *values, *e;
    ngx_uint_t              got, partial;
    ngx_msec_t              ms, deadline;
    redisContext           *c;
    ngx_http_farm_zone_t    z;

    members = NULL;
    reason = "out of memory";
    got = 0;
    partial = 0;

    ms = ngx_min(fcf->timeout, NGX_HTTP_FARM_REDIS_WARM_MAX);
    deadline = ngx_http_farm_redis_clock() + ms;

    c = ngx_http_farm_redis_connect_sync(&fcf->url, fcf->addr_text.data, ms,
                                         &reason);
    if (c == NULL) {
        goto failed;
    }

    if (ngx_http_farm_redis_sync_timeout(c, deadline) != NGX_OK) {
        reason = "no reply within timeout=";
        goto failed;
    }

    members = redisCommand(c, "SMEMBERS %s", fcf->key_index);

    if (members == NULL || members->type != REDIS_REPLY_ARRAY) {
        reason = members == NULL ? c->errstr
                 : members->type == REDIS_REPLY_ERROR ? members->str
                 : "the agent index is not a set";
        goto failed;
    }

    n = members->elements;

    ngx_http_farm_sync_begin(fcf);

    for (i = 0; i < n && !partial; i += NGX_HTTP_FARM_REDIS_CHUNK) {
        k = ngx_min(n - i, NGX_HTTP_FARM_REDIS_CHUNK);

        for (j = i; j < i + k; j++) {
            e = members->element[j];

            if (e->type != REDIS_REPLY_STRING
                || !farm_valid_id(e->str, e->len))
            {
                continue;
            }

            if (redisAppendCommand(c, "GETRANGE %s%b 0 %d",
                                   fcf->key_agent_prefix, e->str,
                                   (size_t) e->len, FARM_RECORD_MAX)
                != REDIS_OK)
            {
                goto failed;
            }
        }

        for (j = i; j < i + k; j++) {
            e = members->element[j];

            if (e->type != REDIS_REPLY_STRING
                || !farm_valid_id(e->str, e->len))
            {
                continue;
            }

            if (ngx_http_farm_redis_sync_timeout(c, deadline) != NGX_OK) {
                partial = 1;
                break;
            }

            if (redisGetReply(c, (void **) &values) != REDIS_OK) {
                if (ngx_http_farm_redis_clock() >= deadline) {
                    partial = 1;
                    break;
                }

                reason = c->errstr;
                goto failed;
            }

            if (values->type == REDIS_REPLY_STRING && values->len > 0) {
                len = ngx_snprintf(key, FARM_KEY_MAX, "%s%*s",
                                   fcf->key_agent_prefix, e->len, e->str)
                      - key;

                (void) ngx_http_farm_sync_record(fcf, key, len,
                                                 (u_char *) values->str,
                                                 values->len, 1);
                got++;
            }

            /* "": gone; an error: another type, the workers report it */

            freeReplyObject(values);
        }
    }

    ngx_http_farm_zone_get(fcf, &z);

    if (partial) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "farm: the startup read of %V for upstream \"%V\" "
                      "stopped after %M ms with %ui of %uz records read; "
                      "the workers read the rest", &fcf->url_display,
                      &fcf->uscf->host, ms, got, n);

        if (z.sh->nagents == 0) {
            reason = "no reply within timeout=";
            goto failed;
        }
    }

    ngx_http_farm_sync_end(fcf);
    ngx_http_farm_sync_registry_state(fcf, 1, NULL);

    /*
     * the operators' overrides (farm_admin write=registry), so that a
     * restarted gateway routes by them from its first request; within
     * what is left of the deadline, else the first full sync has them
     */

    if (ngx_http_farm_redis_sync_timeout(c, deadline) == NGX_OK) {
        values = redisCommand(c, "HGETALL %b:%b:overrides",
                              fcf->prefix.data, fcf->prefix.len,
                              fcf->service.data, fcf->service.len);

        if (values && values->type == REDIS_REPLY_ARRAY) {
            ngx_http_farm_redis_overrides(fcf, values,
                                          ngx_current_msec | 1);
        }

        if (values) {
            freeReplyObject(values);
        }
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "farm: upstream \"%V\" starts with %uD agents from %V",
                  &fcf->uscf->host, z.sh->nagents, &fcf->url_display);

    freeReplyObject(members);
    redisFree(c);

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "farm: registry %V of upstream \"%V\" unreachable at "
                  "start (%s); no agents until it answers",
                  &fcf->url_display, &fcf->uscf->host, reason);

    if (members) {
        freeReplyObject(members);
    }

    if (c) {
        redisFree(c);
    }

    return NGX_DECLINED;
}
