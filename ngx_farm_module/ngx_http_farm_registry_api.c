
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_registry_api: the HTTP API of the built-in registry
 * (docs/registry.md, "Built-in registry"), a content handler of its own
 * small module (it has a location configuration).  Below the location's
 * prefix:
 *
 *     PUT    <service>/agents/<id>[?ttl=]            register (the record)
 *     POST   <service>/agents/<id>/heartbeat[?ttl=]  renew
 *     DELETE <service>/agents/<id>                   deregister
 *     GET    <service>/agents                        list
 *
 * The checks, in order: the path (404), the service, an upstream with
 * "farm_registry builtin service=<service>" (404), the client address's
 * rate (429), the service's token (401), the method (405), the body's
 * type and size (415, 413), the ttl and the record (400, naming the
 * field).  What it then does is ngx_http_farm_builtin.c's.
 */


#include "ngx_http_farm_module.h"
#include "ngx_http_farm_builtin.h"


#define NGX_HTTP_FARM_API_MAX_BODY   (64 * 1024)
#define NGX_HTTP_FARM_API_RATE       100       /* requests/s per address */

#define NGX_HTTP_FARM_API_LIST       1
#define NGX_HTTP_FARM_API_AGENT      2
#define NGX_HTTP_FARM_API_HEARTBEAT  3


typedef struct {
    ngx_flag_t                     enabled;
    size_t                         max_body;
    ngx_uint_t                     rate;
} ngx_http_farm_api_loc_conf_t;


typedef struct {
    ngx_http_farm_srv_conf_t      *fcf;
    ngx_str_t                      id;
    ngx_uint_t                     kind;        /* NGX_HTTP_FARM_API_* */
    ngx_msec_t                     ttl;
    u_char                         err[256];    /* what was wrong */
} ngx_http_farm_api_ctx_t;


static void *ngx_http_farm_api_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_farm_api_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_farm_registry_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_farm_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_api_route(ngx_http_request_t *r,
    ngx_http_farm_api_ctx_t *ctx, ngx_str_t *service);
static ngx_int_t ngx_http_farm_api_ttl(ngx_http_request_t *r,
    ngx_http_farm_api_ctx_t *ctx);
static void ngx_http_farm_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_api_put(ngx_http_request_t *r,
    ngx_http_farm_api_ctx_t *ctx);
static ngx_int_t ngx_http_farm_api_reply(ngx_http_request_t *r,
    ngx_uint_t status, const char *fmt, ...);
static ngx_int_t ngx_http_farm_api_error(ngx_http_request_t *r,
    ngx_uint_t status, u_char *text, size_t len);


static ngx_command_t  ngx_http_farm_api_commands[] = {

    { ngx_string("farm_registry_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_farm_registry_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_farm_api_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_farm_api_create_loc_conf,     /* create location configuration */
    ngx_http_farm_api_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_farm_registry_api_module = {
    NGX_MODULE_V1,
    &ngx_http_farm_api_module_ctx,         /* module context */
    ngx_http_farm_api_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_farm_api_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_farm_api_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_api_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    alcf->enabled = NGX_CONF_UNSET;
    alcf->max_body = NGX_CONF_UNSET_SIZE;
    alcf->rate = NGX_CONF_UNSET_UINT;

    return alcf;
}


static char *
ngx_http_farm_api_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_farm_api_loc_conf_t  *prev = parent;
    ngx_http_farm_api_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body,
                              NGX_HTTP_FARM_API_MAX_BODY);
    ngx_conf_merge_uint_value(conf->rate, prev->rate,
                              NGX_HTTP_FARM_API_RATE);

    return NGX_CONF_OK;
}


/* farm_registry_api [max_body=SIZE] [rate=Nr/s] */

static char *
ngx_http_farm_registry_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_api_loc_conf_t  *alcf = conf;

    ssize_t                    size;
    ngx_int_t                  n;
    ngx_str_t                 *value, s;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    if (alcf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    alcf->enabled = 1;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_body=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR || size < 1024
                || size > 4 * FARM_RECORD_MAX)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"farm_registry_api\" parameter "
                                   "\"%V\": expected a size from 1k to 256k",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            alcf->max_body = size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            n = NGX_ERROR;

            if (value[i].len > 8
                && ngx_strncmp(value[i].data + value[i].len - 3, "r/s", 3)
                   == 0)
            {
                n = ngx_atoi(value[i].data + 5, value[i].len - 8);
            }

            if (n == NGX_ERROR || n < 1) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"farm_registry_api\" parameter "
                                   "\"%V\": expected rate=Nr/s, N at least "
                                   "1", &value[i]);
                return NGX_CONF_ERROR;
            }

            alcf->rate = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown \"farm_registry_api\" parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_farm_api_handler;

    /* a record up to max_body stays in memory */

    if (clcf->client_body_buffer_size == NGX_CONF_UNSET_SIZE) {
        clcf->client_body_buffer_size = (alcf->max_body
                                         == NGX_CONF_UNSET_SIZE)
                                        ? NGX_HTTP_FARM_API_MAX_BODY
                                        : alcf->max_body;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_farm_api_handler(ngx_http_request_t *r)
{
    u_char                        *p;
    ngx_int_t                      rc;
    ngx_str_t                      service, given, type, allow, *h;
    ngx_table_elt_t               *auth;
    ngx_http_farm_api_ctx_t       *ctx;
    ngx_http_farm_api_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_registry_api_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_api_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_farm_registry_api_module);

    rc = ngx_http_farm_api_route(r, ctx, &service);
    if (rc != NGX_OK) {
        return ngx_http_farm_api_error(r, rc, ctx->err,
                                       ngx_strlen(ctx->err));
    }

    /* the client address's rate, before its token is even looked at */

    if (ngx_http_farm_builtin_rate(ctx->fcf, &r->connection->addr_text,
                                   alcf->rate)
        != NGX_OK)
    {
        h = ngx_pcalloc(r->pool, sizeof(ngx_str_t));
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(h, "1");

        if (ngx_http_farm_add_header(r, "Retry-After", h) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_farm_api_reply(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                       "{\"error\":\"too many requests from "
                                       "this address: at most %ui a "
                                       "second\"}", alcf->rate);
    }

    /* Authorization: Bearer <token> */

    auth = r->headers_in.authorization;
    ngx_str_null(&given);

    if (auth && auth->value.len > 7
        && ngx_strncasecmp(auth->value.data, (u_char *) "Bearer ", 7) == 0)
    {
        given.data = auth->value.data + 7;
        given.len = auth->value.len - 7;

        while (given.len && given.data[0] == ' ') {
            given.data++;
            given.len--;
        }
    }

    if (given.len == 0
        || ngx_http_farm_builtin_auth(ctx->fcf, &given) != NGX_OK)
    {
        h = ngx_pcalloc(r->pool, sizeof(ngx_str_t));
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(h, "Bearer realm=\"farm\"");

        if (ngx_http_farm_add_header(r, "WWW-Authenticate", h) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "farm: registry API: %s token for service \"%V\"",
                      given.len ? "wrong" : "no", &service);

        return ngx_http_farm_api_reply(r, NGX_HTTP_UNAUTHORIZED,
                                       "{\"error\":\"%s\"}",
                                       given.len ? "wrong token"
                                                 : "no bearer token");
    }

    /* the method */

    switch (ctx->kind) {

    case NGX_HTTP_FARM_API_LIST:
        rc = (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD));
        ngx_str_set(&allow, "GET, HEAD");
        break;

    case NGX_HTTP_FARM_API_AGENT:
        rc = (r->method & (NGX_HTTP_PUT|NGX_HTTP_DELETE));
        ngx_str_set(&allow, "PUT, DELETE");
        break;

    default: /* NGX_HTTP_FARM_API_HEARTBEAT */
        rc = (r->method & NGX_HTTP_POST);
        ngx_str_set(&allow, "POST");
        break;
    }

    if (!rc) {
        h = ngx_palloc(r->pool, sizeof(ngx_str_t));
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *h = allow;

        if (ngx_http_farm_add_header(r, "Allow", h) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_farm_api_reply(r, NGX_HTTP_NOT_ALLOWED,
                                       "{\"error\":\"method %V is not "
                                       "allowed here; use %V\"}",
                                       &r->method_name, &allow);
    }

    if (r->method & NGX_HTTP_PUT) {

        if (r->headers_in.content_type) {
            type = r->headers_in.content_type->value;

            p = ngx_strlchr(type.data, type.data + type.len, ';');
            if (p) {
                type.len = p - type.data;
            }

            while (type.len && type.data[type.len - 1] == ' ') {
                type.len--;
            }

            if (type.len != sizeof("application/json") - 1
                || ngx_strncasecmp(type.data, (u_char *) "application/json",
                                   type.len)
                   != 0)
            {
                return ngx_http_farm_api_reply(r,
                                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                   "{\"error\":\"Content-Type: the record "
                                   "must be application/json\"}");
            }
        }

        if (r->headers_in.content_length_n > (off_t) alcf->max_body) {
            return ngx_http_farm_api_reply(r,
                               NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                               "{\"error\":\"record: larger than "
                               "max_body=%uz bytes\"}", alcf->max_body);
        }

        if (ngx_http_farm_api_ttl(r, ctx) != NGX_OK) {
            return ngx_http_farm_api_error(r, NGX_HTTP_BAD_REQUEST, ctx->err,
                                           ngx_strlen(ctx->err));
        }

        rc = ngx_http_read_client_request_body(r, ngx_http_farm_api_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->kind == NGX_HTTP_FARM_API_LIST) {
        if (ngx_http_farm_builtin_list(ctx->fcf, r->pool, &given) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_farm_api_reply(r, NGX_HTTP_OK, "%V", &given);
    }

    if (ctx->kind == NGX_HTTP_FARM_API_HEARTBEAT) {
        if (ngx_http_farm_api_ttl(r, ctx) != NGX_OK) {
            return ngx_http_farm_api_error(r, NGX_HTTP_BAD_REQUEST, ctx->err,
                                           ngx_strlen(ctx->err));
        }

        if (ngx_http_farm_builtin_heartbeat(ctx->fcf, ctx->id.data,
                                            ctx->id.len, ctx->ttl)
            != NGX_OK)
        {
            return ngx_http_farm_api_reply(r, NGX_HTTP_NOT_FOUND,
                                           "{\"error\":\"agent \\\"%V\\\" is "
                                           "not registered; register it "
                                           "again with PUT\"}", &ctx->id);
        }

        return ngx_http_farm_api_reply(r, NGX_HTTP_OK,
                                       "{\"id\":\"%V\",\"ttl_ms\":%M}",
                                       &ctx->id, ctx->ttl);
    }

    /* DELETE */

    if (ngx_http_farm_builtin_delete(ctx->fcf, ctx->id.data, ctx->id.len)
        != NGX_OK)
    {
        return ngx_http_farm_api_reply(r, NGX_HTTP_NOT_FOUND,
                                       "{\"error\":\"agent \\\"%V\\\" is not "
                                       "registered\"}", &ctx->id);
    }

    return ngx_http_farm_api_reply(r, NGX_HTTP_OK,
                                   "{\"id\":\"%V\",\"deregistered\":true}",
                                   &ctx->id);
}


/*
 * The path below the location: which upstream, which agent, which call.
 * NGX_OK, or the status to answer with, what was wrong in ctx->err.
 */

static ngx_int_t
ngx_http_farm_api_route(ngx_http_request_t *r, ngx_http_farm_api_ctx_t *ctx,
    ngx_str_t *service)
{
    u_char                      *p, *last, *slash;
    ngx_str_t                    part[5];
    ngx_uint_t                   i, n;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_farm_srv_conf_t   **farm;
    ngx_http_farm_main_conf_t   *fmcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data;
    last = p + r->uri.len;

    if (clcf->name.len <= r->uri.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;
    }

    while (p < last && *p == '/') {
        p++;
    }

    for (n = 0; p < last && n < 5; n++) {
        slash = ngx_strlchr(p, last, '/');

        part[n].data = p;
        part[n].len = (slash ? slash : last) - p;

        p = slash ? slash + 1 : last;
    }

    if (p < last || n < 2 || n > 4
        || part[1].len != 6 || ngx_strncmp(part[1].data, "agents", 6) != 0
        || (n == 4 && (part[3].len != 9
                       || ngx_strncmp(part[3].data, "heartbeat", 9) != 0)))
    {
        ngx_sprintf(ctx->err, "no such registry call: use "
                    "<service>/agents[/<id>[/heartbeat]]%Z");
        return NGX_HTTP_NOT_FOUND;
    }

    *service = part[0];
    ctx->kind = n - 1;      /* NGX_HTTP_FARM_API_LIST, _AGENT, _HEARTBEAT */

    if (n >= 3) {
        if (!farm_valid_id((char *) part[2].data, part[2].len)) {
            ngx_sprintf(ctx->err, "id: must be 1-%d of A-Z a-z 0-9 . _ : "
                        "@ -, starting with a letter or digit%Z",
                        FARM_ID_MAX);
            return NGX_HTTP_BAD_REQUEST;
        }

        ctx->id = part[2];
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_module);

    farm = fmcf->farms.elts;

    for (i = 0; i < fmcf->farms.nelts; i++) {
        if (farm[i]->builtin && farm[i]->builtin->api
            && farm[i]->service.len == service->len
            && ngx_strncmp(farm[i]->service.data, service->data,
                           service->len) == 0)
        {
            ctx->fcf = farm[i];
            return NGX_OK;
        }
    }

    if (!farm_valid_name((char *) service->data, service->len,
                         FARM_SERVICE_MAX))
    {
        ngx_str_set(service, "?");
    }

    ngx_sprintf(ctx->err, "service: no upstream here takes registrations "
                "for \"%V\"%Z", service);

    return NGX_HTTP_NOT_FOUND;
}


/*
 * ?ttl=: absent, the upstream's ttl=; else 1s..max_ttl=.  NGX_ERROR, what
 * was wrong in ctx->err, otherwise.
 */

static ngx_int_t
ngx_http_farm_api_ttl(ngx_http_request_t *r, ngx_http_farm_api_ctx_t *ctx)
{
    ngx_str_t                 arg;
    ngx_msec_t                ttl;
    ngx_http_farm_builtin_t  *bt;

    bt = ctx->fcf->builtin;

    if (ngx_http_arg(r, (u_char *) "ttl", 3, &arg) != NGX_OK) {
        ctx->ttl = bt->ttl;
        return NGX_OK;
    }

    ttl = ngx_parse_time(&arg, 0);

    if (ttl == (ngx_msec_t) NGX_ERROR || ttl < 1000 || ttl > bt->max_ttl) {
        ngx_sprintf(ctx->err, "ttl: must be a time from 1s to %Mms, as in "
                    "10s or 1500ms%Z", bt->max_ttl);
        return NGX_ERROR;
    }

    ctx->ttl = ttl;

    return NGX_OK;
}


/* The PUT's body has been read. */

static void
ngx_http_farm_api_body(ngx_http_request_t *r)
{
    ngx_http_farm_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_registry_api_module);

    ngx_http_finalize_request(r, ngx_http_farm_api_put(r, ctx));
}


static ngx_int_t
ngx_http_farm_api_put(ngx_http_request_t *r, ngx_http_farm_api_ctx_t *ctx)
{
    u_char                        *body, *p;
    size_t                         len, size;
    ssize_t                        n;
    ngx_int_t                      rc;
    ngx_str_t                      why;
    ngx_buf_t                     *b;
    ngx_uint_t                     fresh;
    ngx_chain_t                   *cl;
    farm_record_t                  rec;
    ngx_http_farm_api_loc_conf_t  *alcf;
    char                           err[FARM_ERR_MAX];

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_registry_api_module);

    if (r->request_body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    if (len > alcf->max_body) {
        return ngx_http_farm_api_reply(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "{\"error\":\"record: larger than "
                                       "max_body=%uz bytes\"}",
                                       alcf->max_body);
    }

    if (len == 0) {
        return ngx_http_farm_api_reply(r, NGX_HTTP_BAD_REQUEST,
                                       "{\"error\":\"record: the body is "
                                       "empty\"}");
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        size = (size_t) (b->file_last - b->file_pos);

        n = ngx_read_file(b->file, p, size, b->file_pos);
        if (n != (ssize_t) size) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += size;
    }

    if (farm_record_parse(&rec, (char *) body, len, err) != 0) {
        return ngx_http_farm_api_error(r, NGX_HTTP_BAD_REQUEST,
                                       (u_char *) err, ngx_strlen(err));
    }

    if (ngx_strlen(rec.id) != ctx->id.len
        || ngx_strncmp(rec.id, ctx->id.data, ctx->id.len) != 0)
    {
        farm_record_free(&rec);
        return ngx_http_farm_api_reply(r, NGX_HTTP_BAD_REQUEST,
                                       "{\"error\":\"id: must be the id of "
                                       "the path, \\\"%V\\\"\"}", &ctx->id);
    }

    if (ngx_strlen(rec.service) != ctx->fcf->service.len
        || ngx_strncmp(rec.service, ctx->fcf->service.data,
                       ctx->fcf->service.len) != 0)
    {
        farm_record_free(&rec);
        return ngx_http_farm_api_reply(r, NGX_HTTP_BAD_REQUEST,
                                       "{\"error\":\"service: must be the "
                                       "service of the path, \\\"%V\\\"\"}",
                                       &ctx->fcf->service);
    }

    rc = ngx_http_farm_builtin_put(ctx->fcf, &rec, ctx->ttl, &why, &fresh);

    farm_record_free(&rec);

    if (rc == NGX_DECLINED) {
        return ngx_http_farm_api_error(r, NGX_HTTP_BAD_REQUEST, why.data,
                                       why.len);
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "farm: registry API: agent \"%V\" of service \"%V\" "
                      "not registered: %V", &ctx->id, &ctx->fcf->service,
                      &why);

        return ngx_http_farm_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       why.data, why.len);
    }

    return ngx_http_farm_api_reply(r, fresh ? NGX_HTTP_CREATED : NGX_HTTP_OK,
                                   "{\"id\":\"%V\",\"service\":\"%V\","
                                   "\"ttl_ms\":%M}", &ctx->id,
                                   &ctx->fcf->service, ctx->ttl);
}


/* {"error":"<text>"}, text JSON-escaped */

static ngx_int_t
ngx_http_farm_api_error(ngx_http_request_t *r, ngx_uint_t status,
    u_char *text, size_t len)
{
    u_char     *p;
    ngx_str_t   s;

    p = ngx_pnalloc(r->pool, len + ngx_escape_json(NULL, text, len));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s.data = p;
    s.len = (u_char *) ngx_escape_json(p, text, len) - p;

    return ngx_http_farm_api_reply(r, status, "{\"error\":\"%V\"}", &s);
}


/*
 * Sends a JSON answer (fmt and its arguments, as ngx_sprintf() takes
 * them; at most 64k) and returns what the content handler returns.
 */

static ngx_int_t
ngx_http_farm_api_reply(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char                    *p, *buf;
    size_t                     size;
    va_list                    args;
    ngx_str_t                  type, *out;
    ngx_http_complex_value_t   cv;

    /* the listing is passed whole as "%V" */

    size = 1024;

    if (fmt[0] == '%' && fmt[1] == 'V' && fmt[2] == '\0') {
        va_start(args, fmt);
        out = va_arg(args, ngx_str_t *);
        va_end(args);

        size += out->len;
    }

    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + size, fmt, args);
    va_end(args);

    ngx_str_set(&type, "application/json");

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));
    cv.value.data = buf;
    cv.value.len = p - buf;

    if (r->method & NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    return ngx_http_send_response(r, status, &type, &cv);
}
