
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * nginx utilities shared by the module's three nginx modules (layer 1):
 * response headers, JSON replies, directive parameters, status lists, and
 * notes (log lines made under a lock, logged after it).
 */


#include "ngx_http_farm_util.h"


/* Adds a response header; the key is a literal.  NULL on no memory. */

ngx_table_elt_t *
ngx_http_farm_add_header(ngx_http_request_t *r, char *key, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    return h;
}


/*
 * Sends a JSON response from an access phase handler and finalizes the
 * request; the handler returns what this returns (NGX_DONE).
 */

ngx_int_t
ngx_http_farm_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    ngx_int_t                 rc;
    ngx_str_t                 type;
    ngx_http_complex_value_t  cv;

    ngx_str_set(&type, "application/json; charset=utf-8");

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));
    cv.value = *body;

    rc = ngx_http_send_response(r, status, &type, &cv);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * A directive's "name=TIME" parameter, the time starting skip bytes into
 * value: NGX_OK with *ms set when it parses and is at least min ms.
 */

ngx_int_t
ngx_http_farm_conf_msec(ngx_str_t *value, size_t skip, ngx_msec_t min,
    ngx_msec_t *ms)
{
    ngx_str_t   s;
    ngx_msec_t  t;

    s.data = value->data + skip;
    s.len = value->len - skip;

    t = ngx_parse_time(&s, 0);
    if (t == (ngx_msec_t) NGX_ERROR || t < min) {
        return NGX_ERROR;
    }

    *ms = t;

    return NGX_OK;
}


/* A status list ("500-599", "200,301-399") as bits, for status_in(). */

char *
ngx_http_farm_parse_statuses(ngx_conf_t *cf, ngx_str_t *value, u_char *bits)
{
    u_char     *p, *last, *dash, *comma;
    ngx_int_t   lo, hi, code;

    ngx_memzero(bits, NGX_HTTP_FARM_STATUS_BITS);

    p = value->data;
    last = value->data + value->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        dash = ngx_strlchr(p, comma, '-');

        lo = ngx_atoi(p, (dash ? dash : comma) - p);
        hi = dash ? ngx_atoi(dash + 1, comma - dash - 1) : lo;

        if (lo < 100 || hi > 599 || lo > hi) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid status list \"%V\": expected codes "
                               "or ranges from 100 to 599, as in "
                               "\"500-599\" or \"200,301-399\"", value);
            return NGX_CONF_ERROR;
        }

        for (code = lo; code <= hi; code++) {
            bits[code >> 3] |= (u_char) (1 << (code & 7));
        }

        p = comma + 1;
    }

    return NGX_CONF_OK;
}


/* Notes a log line under a lock; the caller logs it after unlocking. */

void
ngx_http_farm_note(ngx_http_farm_note_t *note, ngx_uint_t level,
    const char *fmt, ...)
{
    va_list  args;

    note->level = level;

    va_start(args, fmt);
    *ngx_vslprintf(note->text, note->text + sizeof(note->text) - 1, fmt,
                   args) = '\0';
    va_end(args);
}


/*
 * Copies len bytes of registry data (a key, a message, a server's error)
 * into dst, up to last, for a log line: control bytes, DEL, bytes above
 * 0x7f and '\\' become \\xHH, so that whoever can write to the registry
 * cannot forge or garble log lines.  Stops before a byte that does not fit
 * whole.  Returns the end of the copy.
 */

u_char *
ngx_http_farm_log_escape(u_char *dst, u_char *last, u_char *src, size_t len)
{
    static u_char  hex[] = "0123456789abcdef";

    while (len--) {
        if (*src >= 0x20 && *src < 0x7f && *src != '\\') {
            if (dst == last) {
                break;
            }

            *dst++ = *src++;
            continue;
        }

        if (last - dst < 4) {
            break;
        }

        *dst++ = '\\';
        *dst++ = 'x';
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src & 0xf];
        src++;
    }

    return dst;
}


/* Adds a module's variables, a list ended by ngx_http_null_variable. */

ngx_int_t
ngx_http_farm_variables_add(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}
