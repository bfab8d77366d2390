
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The farm_limit directive: its parameters, the shared memory zone of a
 * policy=local limit and the Redis backend of a policy=redis one.  A
 * mistake in a farm_limit line fails the configuration test with the
 * parameter named.
 */


#include "ngx_http_farm_limit.h"


#define NGX_HTTP_FARM_LIMIT_TIMEOUT   500     /* ms, policy=redis */


static char *ngx_http_farm_limit_param(ngx_conf_t *cf,
    ngx_http_farm_limit_t *limit, ngx_str_t *value, ngx_str_t *zone,
    ngx_str_t *size, ngx_str_t *policy, ngx_str_t *redis);
static char *ngx_http_farm_limit_zone(ngx_conf_t *cf,
    ngx_http_farm_limit_t *limit, ngx_str_t *name, ngx_str_t *size,
    ngx_uint_t policy, ngx_str_t *redis);
static ngx_int_t ngx_http_farm_limit_tls_options(ngx_conf_t *cf,
    ngx_http_farm_limit_backend_t *b, ngx_str_t *opts);


char *
ngx_http_farm_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_limit_loc_conf_t  *lcf = conf;

    char                             *rv;
    ngx_str_t                        *value, zone, size, policy, redis;
    ngx_uint_t                        i, w, p;
    ngx_http_farm_limit_t            *limit, *limits, one;
    ngx_http_farm_limit_main_conf_t  *mcf;

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        if (lcf->limits) {
            return "off cannot be combined with other \"farm_limit\" "
                   "lines in one block";
        }

        lcf->limits = ngx_array_create(cf->pool, 1,
                                       sizeof(ngx_http_farm_limit_t));
        if (lcf->limits == NULL) {
            return NGX_CONF_ERROR;
        }

        lcf->off = 1;
        return NGX_CONF_OK;
    }

    if (lcf->off) {
        return "cannot be combined with \"farm_limit off\" in one block";
    }

    ngx_memzero(&one, sizeof(ngx_http_farm_limit_t));

    one.status = NGX_HTTP_TOO_MANY_REQUESTS;
    one.timeout = NGX_CONF_UNSET_MSEC;
    one.fault_tolerant = NGX_CONF_UNSET;
    one.headers = NGX_CONF_UNSET;

    ngx_str_null(&zone);
    ngx_str_null(&size);
    ngx_str_null(&policy);
    ngx_str_null(&redis);

    for (i = 1; i < cf->args->nelts; i++) {
        rv = ngx_http_farm_limit_param(cf, &one, &value[i], &zone, &size,
                                       &policy, &redis);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    if (zone.len == 0) {
        return "needs \"zone=NAME[:SIZE]\"";
    }

    if (one.key.value.len == 0) {
        return "needs \"key=...\", as in \"key=$remote_addr\"";
    }

    for (w = 0; w < FARM_WIN_N; w++) {
        if (one.limit[w]) {
            one.nwindows++;
        }
    }

    if (one.nwindows == 0) {
        return "needs at least one window: second=, minute=, hour=, "
               "day=, month= or year=";
    }

    if (policy.len == 0 || ngx_strcmp(policy.data, "local") == 0) {
        p = NGX_HTTP_FARM_LIMIT_LOCAL;

    } else if (ngx_strcmp(policy.data, "redis") == 0) {
        p = NGX_HTTP_FARM_LIMIT_REDIS;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"farm_limit\" parameter "
                           "\"policy=%V\": use local or redis", &policy);
        return NGX_CONF_ERROR;
    }

    if (p == NGX_HTTP_FARM_LIMIT_REDIS && redis.len == 0) {
        return "with policy=redis needs \"redis=redis://host[:port][/db]\"";
    }

    if (p == NGX_HTTP_FARM_LIMIT_LOCAL && redis.len) {
        return "has \"redis=\" but not \"policy=redis\"";
    }

    if (p == NGX_HTTP_FARM_LIMIT_LOCAL
        && (one.timeout != NGX_CONF_UNSET_MSEC
            || one.fault_tolerant != NGX_CONF_UNSET))
    {
        return "has \"timeout=\" or \"fault_tolerant=\", which only apply "
               "to policy=redis";
    }

    ngx_conf_init_msec_value(one.timeout, NGX_HTTP_FARM_LIMIT_TIMEOUT);
    ngx_conf_init_value(one.fault_tolerant, 1);
    ngx_conf_init_value(one.headers, 1);

    rv = ngx_http_farm_limit_zone(cf, &one, &zone, &size, p, &redis);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (lcf->limits == NULL) {
        lcf->limits = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_http_farm_limit_t));
        if (lcf->limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limits = lcf->limits->elts;

    for (i = 0; i < lcf->limits->nelts; i++) {
        if (limits[i].zone == one.zone) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "farm_limit zone \"%V\" is used twice in "
                               "this block", &zone);
            return NGX_CONF_ERROR;
        }
    }

    if (p == NGX_HTTP_FARM_LIMIT_REDIS) {
        if (lcf->redis) {
            return "with policy=redis can be used once per block";
        }

        lcf->redis = lcf->limits->nelts + 1;

        if (one.zone->backend->timeout < one.timeout) {
            one.zone->backend->timeout = one.timeout;
        }
    }

    limit = ngx_array_push(lcf->limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    *limit = one;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_limit_module);
    mcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_farm_limit_param(ngx_conf_t *cf, ngx_http_farm_limit_t *limit,
    ngx_str_t *value, ngx_str_t *zone, ngx_str_t *size, ngx_str_t *policy,
    ngx_str_t *redis)
{
    u_char                            *eq;
    ngx_int_t                          n, v;
    ngx_str_t                          name, arg;
    ngx_msec_t                         ms;
    const char                        *why;
    ngx_http_compile_complex_value_t   ccv;

    eq = ngx_strlchr(value->data, value->data + value->len, '=');

    if (eq == NULL) {
        goto unknown;
    }

    name.data = value->data;
    name.len = eq - value->data;
    arg.data = eq + 1;
    arg.len = value->data + value->len - arg.data;

    n = farm_window_parse((char *) name.data, name.len);

    if (n >= 0) {
        why = "a number from 1 to 4294967295";

        if (limit->limit[n]) {
            goto twice;
        }

        v = ngx_atoi(arg.data, arg.len);

        if (v < 1 || v > (ngx_int_t) FARM_LIMIT_MAX) {
            goto invalid;
        }

        limit->limit[n] = (uint32_t) v;

        return NGX_CONF_OK;
    }

    if (name.len == 4 && ngx_strncmp(name.data, "zone", 4) == 0) {
        why = "a name of 1-64 of A-Z a-z 0-9 . _ -, and :SIZE where the "
              "zone is first sized";

        if (zone->len) {
            goto twice;
        }

        eq = ngx_strlchr(arg.data, arg.data + arg.len, ':');

        zone->data = arg.data;
        zone->len = eq ? (size_t) (eq - arg.data) : arg.len;

        if (!farm_valid_name((char *) zone->data, zone->len, 64)) {
            goto invalid;
        }

        if (eq) {
            size->data = eq + 1;
            size->len = arg.data + arg.len - size->data;

            if (ngx_parse_size(size) == NGX_ERROR) {
                goto invalid;
            }

            if (ngx_parse_size(size) < (ssize_t) (8 * ngx_pagesize)) {
                why = "a size of at least 8 memory pages (32k)";
                goto invalid;
            }
        }

        return NGX_CONF_OK;
    }

    if (name.len == 3 && ngx_strncmp(name.data, "key", 3) == 0) {
        why = "a value, usually a variable, as in key=$remote_addr";

        if (limit->key.value.len) {
            goto twice;
        }

        if (arg.len == 0) {
            goto invalid;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &arg;
        ccv.complex_value = &limit->key;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (name.len == 6 && ngx_strncmp(name.data, "policy", 6) == 0) {
        *policy = arg;
        return NGX_CONF_OK;
    }

    if (name.len == 5 && ngx_strncmp(name.data, "redis", 5) == 0) {
        why = "a URL, redis://[[user]:password@]host[:port][/db] or "
              "rediss://...";

        if (arg.len == 0) {
            goto invalid;
        }

        *redis = arg;
        return NGX_CONF_OK;
    }

    if (name.len == 6 && ngx_strncmp(name.data, "status", 6) == 0) {
        why = "an HTTP status from 400 to 599";

        n = ngx_atoi(arg.data, arg.len);
        if (n < 400 || n > 599) {
            goto invalid;
        }

        limit->status = n;
        return NGX_CONF_OK;
    }

    if (name.len == 7 && ngx_strncmp(name.data, "timeout", 7) == 0) {
        why = "a time from 1ms to 60s";

        ms = ngx_parse_time(&arg, 0);
        if (ms == (ngx_msec_t) NGX_ERROR || ms < 1 || ms > 60000) {
            goto invalid;
        }

        limit->timeout = ms;
        return NGX_CONF_OK;
    }

    if ((name.len == 14
         && ngx_strncmp(name.data, "fault_tolerant", 14) == 0)
        || (name.len == 7 && ngx_strncmp(name.data, "headers", 7) == 0))
    {
        why = "on or off";

        if (arg.len == 2 && ngx_strncmp(arg.data, "on", 2) == 0) {
            n = 1;

        } else if (arg.len == 3 && ngx_strncmp(arg.data, "off", 3) == 0) {
            n = 0;

        } else {
            goto invalid;
        }

        if (name.len == 7) {
            limit->headers = n;

        } else {
            limit->fault_tolerant = n;
        }

        return NGX_CONF_OK;
    }

unknown:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown \"farm_limit\" parameter \"%V\"", value);

    return NGX_CONF_ERROR;

twice:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"farm_limit\" parameter \"%V=\" is given twice",
                       &name);

    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"farm_limit\" parameter \"%V\": "
                       "expected %s", value, why);

    return NGX_CONF_ERROR;
}


/*
 * Finds or creates the zone a farm_limit line names.  The first line to
 * name it sets its policy (and Redis server); the first to give a size
 * sizes it; every other line must agree.
 */

static char *
ngx_http_farm_limit_zone(ngx_conf_t *cf, ngx_http_farm_limit_t *limit,
    ngx_str_t *name, ngx_str_t *size, ngx_uint_t policy, ngx_str_t *redis)
{
    ssize_t                           bytes;
    ngx_str_t                         shm_name;
    ngx_uint_t                        i;
    ngx_http_farm_limit_zone_t       *zone, **zones, **zp;
    ngx_http_farm_limit_backend_t    *backend;
    ngx_http_farm_limit_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_limit_module);

    bytes = size->len ? ngx_parse_size(size) : 0;
    backend = NULL;

    if (policy == NGX_HTTP_FARM_LIMIT_REDIS) {
        backend = ngx_http_farm_limit_backend(cf, redis);
        if (backend == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    zone = NULL;
    zones = mcf->zones.elts;

    for (i = 0; i < mcf->zones.nelts; i++) {
        if (zones[i]->name.len == name->len
            && ngx_strncmp(zones[i]->name.data, name->data, name->len) == 0)
        {
            zone = zones[i];
            break;
        }
    }

    if (zone) {
        if (zone->policy != policy) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "farm_limit zone \"%V\" has policy=%s in "
                               "%s:%ui and cannot have policy=%s here",
                               name,
                               zone->policy == NGX_HTTP_FARM_LIMIT_LOCAL
                               ? "local" : "redis",
                               zone->file, zone->line,
                               policy == NGX_HTTP_FARM_LIMIT_LOCAL
                               ? "local" : "redis");
            return NGX_CONF_ERROR;
        }

        if (zone->backend != backend) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "farm_limit zone \"%V\" uses redis=%V in "
                               "%s:%ui and cannot use redis=%V here",
                               name, &zone->backend->display, zone->file,
                               zone->line, &backend->display);
            return NGX_CONF_ERROR;
        }

        if (bytes && zone->size && bytes != zone->size) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "farm_limit zone \"%V\" has size %uzk in "
                               "%s:%ui and cannot have size %uzk here",
                               name, (size_t) zone->size / 1024,
                               zone->size_file, zone->size_line,
                               (size_t) bytes / 1024);
            return NGX_CONF_ERROR;
        }

    } else {
        zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_limit_zone_t));
        zp = ngx_array_push(&mcf->zones);

        if (zone == NULL || zp == NULL) {
            return NGX_CONF_ERROR;
        }

        *zp = zone;

        zone->name = *name;
        zone->policy = policy;
        zone->backend = backend;
        zone->file = cf->conf_file->file.name.data;
        zone->line = cf->conf_file->line;

        if (policy == NGX_HTTP_FARM_LIMIT_LOCAL) {

            /* our own namespace: no clash with limit_req zone names */

            shm_name.len = sizeof("farm_limit:") - 1 + name->len;
            shm_name.data = ngx_pnalloc(cf->pool, shm_name.len);
            if (shm_name.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_sprintf(shm_name.data, "farm_limit:%V", name);

            zone->shm_zone = ngx_shared_memory_add(cf, &shm_name, 0,
                                                   &ngx_http_farm_limit_module);
            if (zone->shm_zone == NULL) {
                return NGX_CONF_ERROR;
            }

            zone->shm_zone->init = ngx_http_farm_limit_init_zone;
            zone->shm_zone->data = zone;
        }
    }

    if (bytes && zone->size == 0) {
        zone->size = bytes;
        zone->size_file = cf->conf_file->file.name.data;
        zone->size_line = cf->conf_file->line;

        if (zone->shm_zone) {
            zone->shm_zone->shm.size = bytes;
        }
    }

    limit->zone = zone;

    return NGX_CONF_OK;
}


/*
 * The backend of a redis:// or rediss:// URL, shared by every user of the
 * same text (farm_limit, and farm_kong's rate-limiting with policy redis).
 * A rediss:// URL may end in options: ?ssl_verify=on|off (default on),
 * server_name=NAME (default the host), ssl_trusted_certificate=FILE
 * (default farm_limit_redis_trusted_certificate, else the system's CAs).
 */

ngx_http_farm_limit_backend_t *
ngx_http_farm_limit_backend(ngx_conf_t *cf, ngx_str_t *text)
{
    u_char                            err[FARM_ERR_MAX], *q, *at, *scheme;
    u_char                            disp[FARM_HOST_MAX + 64];
    size_t                            len;
    ngx_url_t                         u;
    ngx_str_t                         url, opts;
    ngx_uint_t                        i;
    ngx_http_farm_limit_backend_t    *b, **bp;
    ngx_http_farm_limit_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_limit_module);

    bp = mcf->backends.elts;

    for (i = 0; i < mcf->backends.nelts; i++) {
        if (bp[i]->text.len == text->len
            && ngx_strncmp(bp[i]->text.data, text->data, text->len) == 0)
        {
            return bp[i];
        }
    }

    b = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_limit_backend_t));
    if (b == NULL) {
        return NULL;
    }

    /* rediss:// is parsed as redis://, its options after the host */

    url = *text;
    ngx_str_null(&opts);

    if (url.len > sizeof("rediss://") - 1
        && ngx_strncasecmp(url.data, (u_char *) "rediss://",
                           sizeof("rediss://") - 1)
           == 0)
    {
        b->tls = 1;
        b->ssl_verify = 1;

        url.data = ngx_pnalloc(cf->pool, text->len);
        if (url.data == NULL) {
            return NULL;
        }

        url.len = text->len - 1;
        scheme = ngx_cpymem(url.data, "redis://", sizeof("redis://") - 1);
        ngx_memcpy(scheme, text->data + sizeof("rediss://") - 1,
                   text->len - (sizeof("rediss://") - 1));

        /* the options start at the first "?" after the credentials */

        at = NULL;

        for (q = url.data; q < url.data + url.len; q++) {
            if (*q == '@') {
                at = q;
            }
        }

        q = ngx_strlchr(at ? at : url.data, url.data + url.len, '?');

        if (q) {
            opts.data = q + 1;
            opts.len = url.data + url.len - opts.data;
            url.len = q - url.data;
        }
    }

    /* the URL may hold a password: error lines never quote it whole */

    if (farm_url_parse(&b->url, (char *) url.data, url.len, (char *) err)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"farm_limit\" parameter \"redis=\": %s",
                           err);
        return NULL;
    }

    if (b->url.type != FARM_URL_REDIS) {
        farm_url_display(&b->url, (char *) err, sizeof(err));

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"farm_limit\" parameter \"redis=%s\": "
                           "expected a redis:// or rediss:// URL", err);
        return NULL;
    }

    if (b->tls && ngx_http_farm_limit_tls_options(cf, b, &opts) != NGX_OK) {
        return NULL;
    }

    b->text = *text;

    b->display.data = ngx_pnalloc(cf->pool, FARM_HOST_MAX + 64);
    if (b->display.data == NULL) {
        return NULL;
    }

    farm_url_display(&b->url, (char *) disp, sizeof(disp));

    /* "redis://..." becomes "rediss://..." */

    q = b->tls ? ngx_cpymem(b->display.data, "rediss://", 9)
               : ngx_cpymem(b->display.data, "redis://", 8);
    (void) ngx_cpystrn(q, disp + 8, FARM_HOST_MAX + 64 - 9);

    b->display.len = ngx_strlen(b->display.data);

    /* resolved now, as upstream servers are: a worker never waits on DNS */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = (u_char *) b->url.host;
    u.url.len = ngx_strlen(b->url.host);
    u.default_port = (in_port_t) b->url.port;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "farm_limit: redis host \"%s\" cannot be "
                           "resolved%s%s", b->url.host, u.err ? ": " : "",
                           u.err ? u.err : "");
        return NULL;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, b->addr,
                        NGX_SOCKADDR_STRLEN, 0);
    b->addr[len] = '\0';

    b->sockaddr = u.addrs[0].sockaddr;
    b->socklen = u.addrs[0].socklen;
    b->name = u.addrs[0].name;

    if (b->tls && b->server_name == NULL) {
        b->server_name = (u_char *) b->url.host;
    }

    ngx_http_farm_limit_redis_sha(b->sha);

    bp = ngx_array_push(&mcf->backends);
    if (bp == NULL) {
        return NULL;
    }

    *bp = b;

    return b;
}


/* the options of a rediss:// URL: name=value pairs joined by "&" */

static ngx_int_t
ngx_http_farm_limit_tls_options(ngx_conf_t *cf,
    ngx_http_farm_limit_backend_t *b, ngx_str_t *opts)
{
    u_char     *p, *last, *amp, *eq;
    ngx_str_t   name, value;

    if (opts->len == 0) {
        return NGX_OK;
    }

    p = opts->data;
    last = p + opts->len;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');

        name.data = p;
        name.len = (eq ? eq : amp) - p;
        value.data = eq ? eq + 1 : amp;
        value.len = amp - value.data;

        p = amp + 1;

        if (name.len == 10 && ngx_strncmp(name.data, "ssl_verify", 10) == 0) {

            if (value.len == 2 && ngx_strncmp(value.data, "on", 2) == 0) {
                b->ssl_verify = 1;
                continue;
            }

            if (value.len == 3 && ngx_strncmp(value.data, "off", 3) == 0) {
                b->ssl_verify = 0;
                continue;
            }

            goto invalid;
        }

        if (name.len == 11 && ngx_strncmp(name.data, "server_name", 11) == 0
            && value.len && value.len <= FARM_HOST_MAX)
        {
            b->server_name = ngx_pnalloc(cf->pool, value.len + 1);
            if (b->server_name == NULL) {
                return NGX_ERROR;
            }

            (void) ngx_cpystrn(b->server_name, value.data, value.len + 1);

            if (ngx_strlen(b->server_name) != value.len) {
                goto invalid;
            }

            continue;
        }

        if (name.len == 23
            && ngx_strncmp(name.data, "ssl_trusted_certificate", 23) == 0
            && value.len)
        {
            b->trusted = value;
            continue;
        }

        goto invalid;
    }

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"farm_limit\" parameter \"redis=\": the "
                       "rediss:// option \"%V\" is not one of "
                       "ssl_verify=on|off, server_name=NAME, "
                       "ssl_trusted_certificate=FILE", &name);
    return NGX_ERROR;
}


/*
 * After the http block (farm_limit_redis_trusted_certificate may come
 * after the lines that use it): the TLS context of each rediss:// backend.
 */

ngx_int_t
ngx_http_farm_limit_redis_tls(ngx_conf_t *cf,
    ngx_http_farm_limit_main_conf_t *mcf)
{
    ngx_uint_t                       i;
    ngx_http_farm_limit_backend_t  **b;

    b = mcf->backends.elts;

    for (i = 0; i < mcf->backends.nelts; i++) {
        if (!b[i]->tls || b[i]->ssl) {
            continue;
        }

        b[i]->ssl = ngx_http_farm_rconn_ssl(cf, b[i]->trusted.len
                                                ? &b[i]->trusted
                                                : &mcf->redis_trusted,
                                            b[i]->ssl_verify);
        if (b[i]->ssl == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "farm_limit: cannot set up TLS for redis %V",
                          &b[i]->display);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
