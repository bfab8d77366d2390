
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The configuration of the built-in registry and of static agents:
 * "farm_registry builtin|static" and its parameters (token_file=, ttl=,
 * max_ttl=; the common ones are the module glue's), the service's token,
 * read once at configuration time and never logged, and "farm_agent".
 */


#include "ngx_http_farm_builtin.h"


#define NGX_HTTP_FARM_TOKEN_MAX       4096   /* bytes read of a token file */


static ngx_int_t ngx_http_farm_builtin_param(ngx_conf_t *cf,
    ngx_http_farm_srv_conf_t *fcf, ngx_str_t *value);
static ngx_int_t ngx_http_farm_builtin_token(ngx_conf_t *cf,
    ngx_http_farm_builtin_t *bt, ngx_str_t *file);
static ngx_int_t ngx_http_farm_builtin_conf(ngx_conf_t *cf,
    ngx_http_farm_srv_conf_t *fcf);
static char *ngx_http_farm_agent_farm(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_farm_srv_conf_t *fcf);
static ngx_int_t ngx_http_farm_agent_address(farm_record_t *rec,
    ngx_str_t *value);


/*
 * "farm_registry builtin ..." (agents register through farm_registry_api)
 * and "farm_registry static ..." (only farm_agent lines): no registry
 * server to parse or resolve.
 */

char *
ngx_http_farm_builtin_registry(ngx_conf_t *cf, ngx_http_farm_srv_conf_t *fcf,
    ssize_t *size, ngx_http_farm_param_pt param)
{
    char        *rv;
    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;

    value = cf->args->elts;

    fcf->builtin = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_builtin_t));
    if (fcf->builtin == NULL) {
        return NGX_CONF_ERROR;
    }

    fcf->builtin->api = (value[1].data[0] == 'b');
    fcf->registry = &ngx_http_farm_builtin_backend;
    fcf->url_display = value[1];

    for (i = 2; i < cf->args->nelts; i++) {
        rc = ngx_http_farm_builtin_param(cf, fcf, &value[i]);

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DECLINED) {
            rv = param(cf, fcf, &value[i], size);
            if (rv != NGX_CONF_OK) {
                return rv;
            }
        }
    }

    if (fcf->service.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_registry\" needs \"service=NAME\"");
        return NGX_CONF_ERROR;
    }

    if (fcf->dc.len || fcf->tag.len || fcf->token.len || fcf->ca.len
        || fcf->prefix.len)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_registry\" parameters dc=, tag=, token=, "
                           "ca= and prefix= are for Consul and Redis "
                           "registries, not %V", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_farm_builtin_conf(cf, fcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A parameter of "farm_registry builtin": NGX_OK when it was one of its
 * own (token_file=, ttl=, max_ttl=), NGX_DECLINED when it is not (the
 * module glue then tries the common ones), NGX_ERROR when it is invalid.
 */

static ngx_int_t
ngx_http_farm_builtin_param(ngx_conf_t *cf, ngx_http_farm_srv_conf_t *fcf,
    ngx_str_t *value)
{
    ngx_str_t                 s;
    ngx_msec_t               *ms;
    ngx_http_farm_builtin_t  *bt;

    bt = fcf->builtin;

    if (ngx_strncmp(value->data, "token_file=", 11) == 0) {
        s.data = value->data + 11;
        s.len = value->len - 11;

        if (!bt->api) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"farm_registry static\" takes no "
                               "\"token_file=\": static agents do not "
                               "register");
            return NGX_ERROR;
        }

        return ngx_http_farm_builtin_token(cf, bt, &s);
    }

    if (ngx_strncmp(value->data, "ttl=", 4) == 0
        || ngx_strncmp(value->data, "max_ttl=", 8) == 0)
    {
        ms = (value->data[0] == 't') ? &bt->ttl : &bt->max_ttl;

        if (ngx_http_farm_conf_msec(value, value->data[0] == 't' ? 4 : 8,
                                    1000, ms)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"farm_registry\" parameter \"%V\": "
                               "expected a time of at least 1s", value);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * Reads the service's token at configuration time: the file's text, its
 * trailing newline and spaces stripped.  It is never logged.
 */

static ngx_int_t
ngx_http_farm_builtin_token(ngx_conf_t *cf, ngx_http_farm_builtin_t *bt,
    ngx_str_t *file)
{
    u_char     *buf;
    ssize_t     n;
    ngx_fd_t    fd;
    ngx_str_t   name;
    ngx_uint_t  i;

    name = *file;

    if (name.len == 0 || ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"farm_registry\" parameter "
                           "\"token_file=\": expected a file name");
        return NGX_ERROR;
    }

    buf = ngx_pnalloc(cf->pool, NGX_HTTP_FARM_TOKEN_MAX + 1);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"farm_registry builtin\" cannot open "
                           "token_file \"%V\"", &name);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, buf, NGX_HTTP_FARM_TOKEN_MAX + 1);

    (void) ngx_close_file(fd);

    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"farm_registry builtin\" cannot read "
                           "token_file \"%V\"", &name);
        return NGX_ERROR;
    }

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                     || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    {
        n--;
    }

    for (i = 0; i < (ngx_uint_t) n; i++) {
        if (buf[i] <= 0x20 || buf[i] >= 0x7f) {
            break;
        }
    }

    if (n == 0 || n > FARM_SECRET_MAX || i < (ngx_uint_t) n) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "token_file \"%V\" of \"farm_registry builtin\" "
                           "must hold one token of 1-%d printable "
                           "characters without spaces", &name,
                           FARM_SECRET_MAX);
        return NGX_ERROR;
    }

    bt->token.data = buf;
    bt->token.len = n;

    return NGX_OK;
}


/* After the parameters: what "farm_registry builtin" cannot do without. */

static ngx_int_t
ngx_http_farm_builtin_conf(ngx_conf_t *cf, ngx_http_farm_srv_conf_t *fcf)
{
    ngx_http_farm_builtin_t  *bt;

    bt = fcf->builtin;

    if (bt->api && bt->token.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_registry builtin\" needs "
                           "\"token_file=FILE\": there is no default token, "
                           "and registrations are never taken without one");
        return NGX_ERROR;
    }

    if (bt->ttl == 0) {
        bt->ttl = NGX_HTTP_FARM_BUILTIN_TTL;
    }

    if (bt->max_ttl == 0) {
        bt->max_ttl = ngx_max(NGX_HTTP_FARM_BUILTIN_MAX_TTL, bt->ttl);
    }

    if (bt->ttl > bt->max_ttl) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_registry builtin\": ttl= is longer than "
                           "max_ttl=");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * farm_agent ADDRESS:PORT [id=] [region=] [weight=] [caps=] [max_conns=]
 * [backup]: a static agent of the upstream, validated as a registry record
 * is.  The service is the upstream's, filled in when it is applied.
 */

char *
ngx_http_farm_agent(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_srv_conf_t  *fcf = conf;

    char            err[FARM_ERR_MAX], *rv;
    u_char         *p;
    ngx_int_t       n;
    ngx_str_t      *value, s;
    ngx_uint_t      i;
    farm_record_t  *rec;

    rv = ngx_http_farm_agent_farm(cf, cmd, fcf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (fcf->statics == NULL) {
        fcf->statics = ngx_array_create(cf->pool, 4, sizeof(farm_record_t));
        if (fcf->statics == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    rec = ngx_array_push(fcf->statics);
    if (rec == NULL) {
        return NGX_CONF_ERROR;
    }

    farm_record_init(rec);

    value = cf->args->elts;

    if (ngx_http_farm_agent_address(rec, &value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"farm_agent\" address \"%V\": expected "
                           "an IP address and a port, as in 127.0.0.1:9001 "
                           "or [::1]:9001", &value[1]);
        return NGX_CONF_ERROR;
    }

    p = ngx_snprintf((u_char *) rec->id, FARM_ID_MAX, "%V", &value[1]);
    *p = '\0';

    for (i = 2; i < cf->args->nelts; i++) {
        s = value[i];

        if (ngx_strcmp(s.data, "backup") == 0) {
            rec->backup = 1;
            continue;
        }

        if (ngx_strncmp(s.data, "id=", 3) == 0 && s.len - 3 <= FARM_ID_MAX) {
            p = ngx_cpymem(rec->id, s.data + 3, s.len - 3);
            *p = '\0';
            continue;
        }

        if (ngx_strncmp(s.data, "region=", 7) == 0
            && s.len - 7 <= FARM_REGION_MAX)
        {
            p = ngx_cpymem(rec->region, s.data + 7, s.len - 7);
            *p = '\0';
            continue;
        }

        if (ngx_strncmp(s.data, "caps=", 5) == 0) {
            if (farm_record_add_caps(rec, (char *) s.data + 5, err) != 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(s.data, "weight=", 7) == 0) {
            n = ngx_atoi(s.data + 7, s.len - 7);
            rec->weight = (n == NGX_ERROR) ? 0 : (unsigned) n;
            continue;
        }

        if (ngx_strncmp(s.data, "max_conns=", 10) == 0) {
            n = ngx_atoi(s.data + 10, s.len - 10);
            if (n == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"farm_agent\" parameter \"%V\"",
                                   &s);
                return NGX_CONF_ERROR;
            }

            rec->max_conns = (unsigned) n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown \"farm_agent\" parameter \"%V\"", &s);
        return NGX_CONF_ERROR;
    }

    /* the service is the upstream's; any valid name checks the rest */

    ngx_cpystrn((u_char *) rec->service, (u_char *) "static",
                sizeof("static"));

    if (farm_record_validate(rec, err) != 0) {
        goto invalid;
    }

    for (i = 0; i + 1 < fcf->statics->nelts; i++) {
        if (ngx_strcmp(((farm_record_t *) fcf->statics->elts)[i].id, rec->id)
            == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"farm_agent\" id \"%s\" is used twice",
                               rec->id);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid \"farm_agent\": %s",
                       err);

    return NGX_CONF_ERROR;
}


/* "127.0.0.1:9001" or "[::1]:9001" into the record's address and port. */

static ngx_int_t
ngx_http_farm_agent_address(farm_record_t *rec, ngx_str_t *value)
{
    u_char     *p, *last, *colon, *start, *end;
    ngx_int_t   port;

    p = value->data;
    last = p + value->len;

    if (value->len && *p == '[') {
        end = ngx_strlchr(p, last, ']');
        if (end == NULL || end + 1 >= last || end[1] != ':') {
            return NGX_ERROR;
        }

        start = p + 1;
        colon = end + 1;

    } else {
        colon = NULL;

        for (end = p; end < last; end++) {
            if (*end == ':') {
                colon = end;
            }
        }

        if (colon == NULL) {
            return NGX_ERROR;
        }

        start = p;
        end = colon;
    }

    if (end - start == 0 || end - start > FARM_ADDRESS_MAX) {
        return NGX_ERROR;
    }

    port = ngx_atoi(colon + 1, last - colon - 1);
    if (port < 1 || port > 65535) {
        return NGX_ERROR;
    }

    *ngx_cpymem(rec->address, start, end - start) = '\0';
    rec->port = (unsigned) port;

    return farm_valid_address(rec->address) ? NGX_OK : NGX_ERROR;
}


/*
 * The first farm_agent of an upstream without farm_registry makes it a
 * farm of static agents, as "farm_registry static service=<upstream>"
 * would: the directive's post is farm_registry's handler (the module
 * glue's), called with those arguments.
 */

static char *
ngx_http_farm_agent_farm(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_farm_srv_conf_t *fcf)
{
    char                          *rv;
    char                        *(*set)(ngx_conf_t *cf, ngx_command_t *cmd,
                                        void *conf);
    ngx_str_t                     *args;
    ngx_array_t                   *saved, fake;
    ngx_http_upstream_srv_conf_t  *uscf;

    if (fcf->uscf == NULL) {
        uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

        if (!farm_valid_name((char *) uscf->host.data, uscf->host.len,
                             FARM_SERVICE_MAX))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"farm_agent\" without \"farm_registry\" "
                               "needs an upstream name that is a valid "
                               "service name; add \"farm_registry static "
                               "service=NAME\" before it");
            return NGX_CONF_ERROR;
        }

        if (ngx_array_init(&fake, cf->pool, 3, sizeof(ngx_str_t)) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        args = ngx_array_push_n(&fake, 3);
        if (args == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&args[0], "farm_registry");
        ngx_str_set(&args[1], "static");

        args[2].len = sizeof("service=") - 1 + uscf->host.len;
        args[2].data = ngx_pnalloc(cf->pool, args[2].len + 1);
        if (args[2].data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(args[2].data, "service=%V%Z", &uscf->host);

        saved = cf->args;
        cf->args = &fake;

        set = (char *(*)(ngx_conf_t *, ngx_command_t *, void *)) cmd->post;

        rv = set(cf, cmd, fcf);

        cf->args = saved;

        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    if (fcf->builtin == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_agent\" goes with \"farm_registry "
                           "builtin\" or \"static\", or alone, not with "
                           "%V", &fcf->url_display);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
