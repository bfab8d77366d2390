
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 7, the module glue: the parameters of farm_registry (redis:// and
 * consul://) and its allow= list, for ngx_http_farm_module.c.
 */


#include "ngx_http_farm_module.h"
#include "ngx_http_farm_zone.h"
#include "ngx_http_farm_state.h"

#include <farm_keys.h>

#if (NGX_THREADS)
#include <ngx_thread_pool.h>
#endif


static char *ngx_http_farm_registry_allow(ngx_conf_t *cf,
    ngx_http_farm_srv_conf_t *fcf, ngx_str_t *value);


char *
ngx_http_farm_registry_param(ngx_conf_t *cf, ngx_http_farm_srv_conf_t *fcf,
    ngx_str_t *value, ssize_t *size)
{
    ngx_int_t    n;
    ngx_str_t    s;
    const char  *why;

    why = "1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit";

    if (ngx_strncmp(value->data, "service=", 8) == 0) {
        s.data = value->data + 8;
        s.len = value->len - 8;

        if (!farm_valid_name((char *) s.data, s.len, FARM_SERVICE_MAX)) {
            goto invalid;
        }

        fcf->service = s;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "prefix=", 7) == 0) {
        s.data = value->data + 7;
        s.len = value->len - 7;

        if (s.len > FARM_PREFIX_MAX
            || !farm_valid_name((char *) s.data, s.len, FARM_PREFIX_MAX))
        {
            goto invalid;
        }

        fcf->prefix = s;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "dc=", 3) == 0
        || ngx_strncmp(value->data, "tag=", 4) == 0)
    {
        n = (value->data[0] == 'd') ? 3 : 4;
        s.data = value->data + n;
        s.len = value->len - n;

        if (!farm_valid_name((char *) s.data, s.len, FARM_CAP_MAX)) {
            goto invalid;
        }

        if (n == 3) {
            fcf->dc = s;

        } else {
            fcf->tag = s;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "token=", 6) == 0) {
        s.data = value->data + 6;
        s.len = value->len - 6;

        for (n = 0; n < (ngx_int_t) s.len; n++) {
            if (s.data[n] <= 0x20 || s.data[n] >= 0x7f) {
                break;
            }
        }

        if (s.len == 0 || s.len > FARM_SECRET_MAX || n < (ngx_int_t) s.len) {

            /* the token itself never goes to the log */

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"farm_registry\" parameter "
                               "\"token=...\": expected 1-%d printable "
                               "characters without spaces", FARM_SECRET_MAX);
            return NGX_CONF_ERROR;
        }

        fcf->token = s;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "ca=", 3) == 0
        || ngx_strncmp(value->data, "state=", 6) == 0)
    {
        why = "a file name";
        n = (value->data[0] == 'c') ? 3 : 6;
        s.data = value->data + n;
        s.len = value->len - n;

        if (s.len == 0) {
            goto invalid;
        }

        if (ngx_conf_full_name(cf->cycle, &s, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (n == 3) {
            fcf->ca = s;
            return NGX_CONF_OK;
        }

        fcf->state = s;

        /* the state file is flushed to disk on a thread */

        if (ngx_http_farm_state_conf(cf) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "allow=", 6) == 0) {
        return ngx_http_farm_registry_allow(cf, fcf, value);
    }

    if (ngx_strncmp(value->data, "resync=", 7) == 0) {
        why = "a time of at least 100ms";
        if (ngx_http_farm_conf_msec(value, 7, 100, &fcf->resync) != NGX_OK) {
            goto invalid;
        }
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "timeout=", 8) == 0) {
        why = "a time of at least 10ms";
        if (ngx_http_farm_conf_msec(value, 8, 10, &fcf->timeout) != NGX_OK) {
            goto invalid;
        }
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "hold=", 5) == 0) {
        why = "a time";
        if (ngx_http_farm_conf_msec(value, 5, 0, &fcf->hold) != NGX_OK) {
            goto invalid;
        }
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "max_agents=", 11) == 0) {
        why = "a number from 1 to 1000000";
        n = ngx_atoi(value->data + 11, value->len - 11);
        if (n == NGX_ERROR || n < 1 || n > 1000000) {
            goto invalid;
        }

        fcf->max_agents = n;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "max_answer=", 11) == 0) {
        why = "a size from 64k to 1g";
        s.data = value->data + 11;
        s.len = value->len - 11;

        n = ngx_parse_size(&s);
        if (n == NGX_ERROR || n < 65536 || n > 1024 * 1024 * 1024) {
            goto invalid;
        }

        fcf->max_answer = (size_t) n;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "thread_pool=", 12) == 0) {
        why = "the name of a thread pool";
        s.data = value->data + 12;
        s.len = value->len - 12;

        if (s.len == 0) {
            goto invalid;
        }

        fcf->thread_pool = s;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value->data, "zone=", 5) == 0) {
        why = "a size of at least 8 memory pages";
        s.data = value->data + 5;
        s.len = value->len - 5;

        *size = ngx_parse_size(&s);
        if (*size == NGX_ERROR || *size < (ssize_t) (8 * ngx_pagesize)) {
            goto invalid;
        }

        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown \"farm_registry\" parameter \"%V\"", value);

    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"farm_registry\" parameter \"%V\": "
                       "expected %s", value, why);

    return NGX_CONF_ERROR;
}


/*
 * After the parameters of a consul:// or redis:// registry: max_answer=
 * and thread_pool= are Consul's.  A Consul answer is parsed on a thread of
 * the pool thread_pool= names ("default" without it: nginx creates it
 * with 32 threads unless a "thread_pool default" directive sizes it) when
 * nginx has threads, on the event loop otherwise.
 */

char *
ngx_http_farm_registry_consul_conf(ngx_conf_t *cf,
    ngx_http_farm_srv_conf_t *fcf)
{
    if (fcf->url.type != FARM_URL_CONSUL) {
        if (fcf->max_answer || fcf->thread_pool.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"farm_registry\" parameters max_answer= "
                               "and thread_pool= are for Consul registries, "
                               "not %V", &fcf->url_display);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

#if (NGX_THREADS)

    fcf->parse_pool = ngx_thread_pool_add(cf, fcf->thread_pool.len
                                              ? &fcf->thread_pool : NULL);
    if (fcf->parse_pool == NULL) {
        return NGX_CONF_ERROR;
    }

#else

    if (fcf->thread_pool.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_registry\" parameter thread_pool= needs "
                           "nginx built with threads (--with-threads)");
        return NGX_CONF_ERROR;
    }

#endif

    return NGX_CONF_OK;
}


/*
 * allow=CIDR[,CIDR...] (may be repeated): the only networks registry records
 * may point the gateway at.  Without it, everything but link-local and
 * cloud metadata addresses (ngx_http_farm_sync_allowed()).
 */

static char *
ngx_http_farm_registry_allow(ngx_conf_t *cf, ngx_http_farm_srv_conf_t *fcf,
    ngx_str_t *value)
{
    u_char      *p, *last, *comma;
    ngx_int_t    rc;
    ngx_str_t    s;
    ngx_cidr_t  *cidr;

    if (fcf->allow == NULL) {
        fcf->allow = ngx_array_create(cf->pool, 4, sizeof(ngx_cidr_t));
        if (fcf->allow == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    p = value->data + 6;
    last = value->data + value->len;

    do {
        comma = ngx_strlchr(p, last, ',');

        s.data = p;
        s.len = (comma ? comma : last) - p;

        cidr = ngx_array_push(fcf->allow);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = (s.len == 0) ? NGX_ERROR : ngx_ptocidr(&s, cidr);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"farm_registry\" parameter "
                               "\"%V\": \"%V\" is not an address or a "
                               "network (CIDR)", value, &s);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless", &s);
        }

        if (comma) {
            p = comma + 1;
        }

    } while (comma);

    return NGX_CONF_OK;
}
