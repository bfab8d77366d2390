
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The master's startup read of a Redis registry: one synchronous full sync
 * when a zone is created, before any worker exists, so a fresh nginx routes
 * from its first request.  The only blocking registry call in the module,
 * bounded by timeout= and NGX_HTTP_FARM_REDIS_WARM_MAX, and never made by
 * a worker, "nginx -t" or "nginx -s".
 */


#include "ngx_http_farm_redis.h"

#include <farm_keys.h>

#include <hiredis/hiredis.h>


#define NGX_HTTP_FARM_REDIS_WARM_MAX     2000    /* ms */


/*
 * The master's synchronous full sync before the workers start.  Returns
 * NGX_OK, or NGX_DECLINED when the registry cannot be read now (the workers
 * will keep trying).
 */

ngx_int_t
ngx_http_farm_redis_warm(ngx_http_farm_srv_conf_t *fcf, ngx_log_t *log)
{
    u_char                   key[FARM_KEY_MAX];
    size_t                   i, j, k, n, len;
    char                   **argv;
    const char              *reason;
    size_t                  *argvlen;
    redisReply              *members, *values, *e;
    ngx_msec_t               ms;
    redisContext            *c;
    ngx_http_farm_zone_t     z;

    members = NULL;
    argv = NULL;
    argvlen = NULL;
    reason = "out of memory";

    ms = ngx_min(fcf->timeout, NGX_HTTP_FARM_REDIS_WARM_MAX);

    c = ngx_http_farm_redis_connect_sync(&fcf->url, fcf->addr_text.data, ms,
                                         &reason);
    if (c == NULL) {
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

    argv = ngx_alloc((NGX_HTTP_FARM_REDIS_CHUNK + 1) * sizeof(char *), log);
    argvlen = ngx_alloc((NGX_HTTP_FARM_REDIS_CHUNK + 1) * sizeof(size_t),
                        log);
    if (argv == NULL || argvlen == NULL) {
        goto failed;
    }

    ngx_http_farm_sync_begin(fcf);

    for (i = 0; i < n; i += NGX_HTTP_FARM_REDIS_CHUNK) {
        argv[0] = "MGET";
        argvlen[0] = 4;
        k = 0;

        for (j = i; j < n && j < i + NGX_HTTP_FARM_REDIS_CHUNK; j++) {
            e = members->element[j];

            if (e->type != REDIS_REPLY_STRING
                || !farm_valid_id(e->str, e->len))
            {
                continue;
            }

            len = fcf->key_agent_prefix_len + e->len;

            argv[k + 1] = ngx_alloc(len + 1, log);
            if (argv[k + 1] == NULL) {
                goto failed_args;
            }

            ngx_sprintf((u_char *) argv[k + 1], "%s%s%Z",
                        fcf->key_agent_prefix, e->str);
            argvlen[k + 1] = len;
            k++;
        }

        if (k == 0) {
            continue;
        }

        values = redisCommandArgv(c, (int) k + 1, (const char **) argv,
                                  argvlen);

        if (values == NULL || values->type != REDIS_REPLY_ARRAY
            || values->elements != k)
        {
            reason = values ? "unexpected MGET reply" : c->errstr;

            if (values) {
                freeReplyObject(values);
            }

            goto failed_args;
        }

        for (j = 0; j < k; j++) {
            e = values->element[j];

            if (e->type == REDIS_REPLY_STRING) {
                len = ngx_min(argvlen[j + 1], FARM_KEY_MAX);
                ngx_memcpy(key, argv[j + 1], len);

                (void) ngx_http_farm_sync_record(fcf, key, len,
                                                 (u_char *) e->str, e->len,
                                                 1);
            }

            ngx_free(argv[j + 1]);
        }

        freeReplyObject(values);
    }

    ngx_http_farm_sync_end(fcf);
    ngx_http_farm_sync_registry_state(fcf, 1, NULL);

    ngx_http_farm_zone_get(fcf, &z);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "farm: upstream \"%V\" starts with %uD agents from %V",
                  &fcf->uscf->host, z.sh->nagents, &fcf->url_display);

    ngx_free(argv);
    ngx_free(argvlen);
    freeReplyObject(members);
    redisFree(c);

    return NGX_OK;

failed_args:

    for (j = 0; j < k; j++) {
        ngx_free(argv[j + 1]);
    }

failed:

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "farm: registry %V of upstream \"%V\" unreachable at "
                  "start (%s); no agents until it answers",
                  &fcf->url_display, &fcf->uscf->host, reason);

    ngx_free(argv);
    ngx_free(argvlen);

    if (members) {
        freeReplyObject(members);
    }

    if (c) {
        redisFree(c);
    }

    return NGX_DECLINED;
}
