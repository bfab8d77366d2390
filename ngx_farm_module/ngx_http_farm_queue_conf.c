
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_queue's configuration: the directive, and a request's priority=
 * (evaluated before the admission handler takes the zone's lock).  The
 * wait lists are ngx_http_farm_queue.c; each worker's waiting requests,
 * ngx_http_farm_queue_wait.c.
 */


#include "ngx_http_farm_queue.h"


char *
ngx_http_farm_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    ngx_int_t                          n;
    ngx_str_t                         *value, s;
    ngx_uint_t                         i;
    const char                        *why;
    ngx_http_farm_main_conf_t         *fmcf;
    ngx_http_farm_queue_conf_t        *qcf;
    ngx_http_compile_complex_value_t   ccv;

    qcf = &fcf->queue;

    if (qcf->enabled) {
        return "is duplicate";
    }

    qcf->enabled = 1;
    qcf->max = 1000;
    qcf->timeout = 30000;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_farm_module);
    fmcf->admit = 1;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            why = "a number from 1 to 100000";
            n = ngx_atoi(value[i].data + 4, value[i].len - 4);
            if (n < 1 || n > 100000) {
                goto invalid;
            }

            qcf->max = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            why = "a time of at least 1ms";
            if (ngx_http_farm_conf_msec(&value[i], 8, 1, &qcf->timeout)
                != NGX_OK)
            {
                goto invalid;
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "priority=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            qcf->priority = ngx_palloc(cf->pool,
                                       sizeof(ngx_http_complex_value_t));
            if (qcf->priority == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = qcf->priority;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown \"farm_queue\" parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"farm_queue\" parameter \"%V\": expected %s",
                       &value[i], why);

    return NGX_CONF_ERROR;
}


/* The priority= of a request, evaluated before any lock. */

ngx_int_t
ngx_http_farm_queue_priority(ngx_http_request_t *r,
    ngx_http_farm_srv_conf_t *fcf, ngx_int_t *priority)
{
    ngx_int_t  n, sign;
    ngx_str_t  v;

    *priority = 0;

    if (fcf->queue.priority == NULL) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, fcf->queue.priority, &v) != NGX_OK) {
        return NGX_ERROR;
    }

    sign = 1;

    if (v.len > 1 && v.data[0] == '-') {
        sign = -1;
        v.data++;
        v.len--;
    }

    n = ngx_atoi(v.data, v.len);
    *priority = (n == NGX_ERROR) ? 0 : sign * n;

    return NGX_OK;
}
