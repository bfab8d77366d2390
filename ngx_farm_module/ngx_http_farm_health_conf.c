
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The farm_health_check directive: its parameters, their defaults and
 * the status= and body= matches a check's answer is held to.  The checks
 * themselves are ngx_http_farm_health.c's and ngx_http_farm_check.c's.
 */


#include "ngx_http_farm_health.h"


#define NGX_HTTP_FARM_CHECK_CONCURRENCY  64  /* default, per worker */


char *
ngx_http_farm_health_check(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    u_char                        errstr[NGX_MAX_CONF_ERRSTR];
    ngx_int_t                     n;
    ngx_str_t                    *value, s, status;
    ngx_uint_t                    i, jitter_set;
    ngx_msec_t                    ms;
    const char                   *why;
    ngx_regex_compile_t           rc;
    ngx_http_farm_health_conf_t  *hcf;

    hcf = &fcf->health;

    if (hcf->enabled) {
        return "is duplicate";
    }

    hcf->enabled = 1;
    ngx_str_set(&hcf->uri, "/health");
    hcf->interval = 1000;
    hcf->timeout = 500;
    hcf->rise = 2;
    hcf->fall = 3;
    hcf->concurrency = NGX_HTTP_FARM_CHECK_CONCURRENCY;
    hcf->mandatory = 1;
    jitter_set = 0;

    ngx_str_set(&status, "200-399");

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "uri=", 4) == 0) {
            why = "a path starting with \"/\", without spaces";
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            if (s.len == 0 || s.data[0] != '/'
                || ngx_strlchr(s.data, s.data + s.len, ' ')
                || ngx_strlchr(s.data, s.data + s.len, '\r')
                || ngx_strlchr(s.data, s.data + s.len, '\n'))
            {
                goto invalid;
            }

            hcf->uri = s;
            continue;
        }

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0
            || ngx_strncmp(value[i].data, "timeout=", 8) == 0
            || ngx_strncmp(value[i].data, "jitter=", 7) == 0)
        {
            why = "a time of at least 10ms";
            s.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.len = value[i].data + value[i].len - s.data;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            if (value[i].data[0] == 'j') {
                why = "a time";
                hcf->jitter = ms;
                jitter_set = 1;
                continue;
            }

            if (ms < 10) {
                goto invalid;
            }

            if (value[i].data[0] == 'i') {
                hcf->interval = ms;

            } else {
                hcf->timeout = ms;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rise=", 5) == 0
            || ngx_strncmp(value[i].data, "fall=", 5) == 0)
        {
            why = "a number from 1 to 100";
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);
            if (n < 1 || n > 100) {
                goto invalid;
            }

            if (value[i].data[0] == 'r') {
                hcf->rise = n;

            } else {
                hcf->fall = n;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "concurrency=", 12) == 0) {
            why = "a number from 1 to 10000";
            n = ngx_atoi(value[i].data + 12, value[i].len - 12);
            if (n < 1 || n > 10000) {
                goto invalid;
            }

            hcf->concurrency = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "status=", 7) == 0) {
            status.data = value[i].data + 7;
            status.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "mandatory=", 10) == 0) {
            why = "on or off";
            s.data = value[i].data + 10;
            s.len = value[i].len - 10;

            if (s.len == 2 && ngx_strncmp(s.data, "on", 2) == 0) {
                hcf->mandatory = 1;

            } else if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                hcf->mandatory = 0;

            } else {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "body=", 5) == 0) {
            why = "a regular expression";
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len && s.data[0] == '~') {
                s.data++;
                s.len--;
            }

            if (s.len == 0) {
                goto invalid;
            }

            ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

            rc.pattern = s;
            rc.pool = cf->pool;
            rc.err.len = NGX_MAX_CONF_ERRSTR;
            rc.err.data = errstr;

            if (ngx_regex_compile(&rc) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"farm_health_check\" body=: %V",
                                   &rc.err);
                return NGX_CONF_ERROR;
            }

            hcf->body = rc.regex;
            hcf->body_source = s;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown \"farm_health_check\" parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (!jitter_set) {
        hcf->jitter = hcf->interval / 10;
    }

    return ngx_http_farm_parse_statuses(cf, &status, hcf->status);

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"farm_health_check\" parameter \"%V\": "
                       "expected %s", &value[i], why);

    return NGX_CONF_ERROR;
}
