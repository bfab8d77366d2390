
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * ngx_http_farm_key_auth_module: API keys tied to consumers, as Kong's
 * key-auth plugin does it.
 *
 *   farm_consumers FILE;      the consumers, their tiers and keys (JSON,
 *                             ngx_http_farm_consumers.c), read when the
 *                             configuration is loaded
 *   farm_key_auth ...;        where a request must show a key
 *
 * A request without a key, or with an unknown one, gets 401 with
 * "WWW-Authenticate: Key" and Kong's JSON message.  A known key sets
 * $farm_consumer and $farm_tier, and the upstream sees X-Consumer-Username
 * (a client's own X-Consumer-Username never reaches it); hide=on also
 * removes the key from the request sent upstream.
 *
 * Keys are kept as SHA-256 digests in a hash table: the presented key is
 * hashed, its bucket found, and every digest in the bucket compared with
 * CRYPTO_memcmp(), so the time taken does not depend on how much of a key
 * matched.
 */


#include "ngx_http_farm_limit.h"
#include "ngx_http_farm_consumers.h"
#include "ngx_http_farm_hide_args.h"

#include <openssl/sha.h>


typedef struct {
    ngx_str_t                       file;
    ngx_http_farm_key_table_t       keys;       /* from the file */
    ngx_http_farm_consumers_redis_t *redis;     /* consumers in Redis */

    u_char                         *used_file;  /* first farm_key_auth */
    ngx_uint_t                      used_line;
} ngx_http_farm_key_auth_main_conf_t;


typedef struct {
    ngx_flag_t                      enable;
    ngx_array_t                    *headers;    /* of ngx_str_t */
    ngx_array_t                    *query;      /* of ngx_str_t */
    ngx_flag_t                      hide;
} ngx_http_farm_key_auth_loc_conf_t;


/*
 * Per request; survives internal redirects (found through its cleanup).
 * A copy: the table of consumers from Redis may be replaced meanwhile.
 */
typedef struct {
    ngx_http_farm_consumer_t        consumer;
} ngx_http_farm_key_auth_ctx_t;


static ngx_int_t ngx_http_farm_key_auth_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_key_auth_find(ngx_http_request_t *r,
    ngx_http_farm_key_auth_loc_conf_t *lcf, ngx_str_t *key);
static ngx_http_farm_consumer_t *ngx_http_farm_key_auth_lookup(
    ngx_http_request_t *r, ngx_http_farm_key_auth_main_conf_t *mcf,
    ngx_str_t *key);
static ngx_int_t ngx_http_farm_key_auth_init_process(ngx_cycle_t *cycle);
static void ngx_http_farm_key_auth_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_farm_key_auth_upstream_headers(
    ngx_http_request_t *r, ngx_http_farm_key_auth_loc_conf_t *lcf,
    ngx_http_farm_consumer_t *consumer);
static ngx_int_t ngx_http_farm_key_auth_hide_args(ngx_http_request_t *r,
    ngx_http_farm_key_auth_loc_conf_t *lcf);
static ngx_int_t ngx_http_farm_key_auth_deny(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_http_farm_key_auth_ctx_t *ngx_http_farm_key_auth_get_ctx(
    ngx_http_request_t *r);
static void ngx_http_farm_key_auth_cleanup(void *data);
static ngx_int_t ngx_http_farm_key_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_int_t ngx_http_farm_key_auth_add_variables(ngx_conf_t *cf);
static void *ngx_http_farm_key_auth_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_farm_key_auth_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_farm_key_auth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_farm_key_auth_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_farm_consumers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_farm_key_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_farm_key_auth_postconfiguration(ngx_conf_t *cf);


static ngx_command_t  ngx_http_farm_key_auth_commands[] = {

    { ngx_string("farm_consumers"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_farm_consumers,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("farm_key_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_farm_key_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_farm_key_auth_module_ctx = {
    ngx_http_farm_key_auth_add_variables,  /* preconfiguration */
    ngx_http_farm_key_auth_postconfiguration, /* postconfiguration */

    ngx_http_farm_key_auth_create_main_conf, /* create main configuration */
    ngx_http_farm_key_auth_init_main_conf, /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_farm_key_auth_create_loc_conf, /* create location configuration */
    ngx_http_farm_key_auth_merge_loc_conf  /* merge location configuration */
};


ngx_module_t  ngx_http_farm_key_auth_module = {
    NGX_MODULE_V1,
    &ngx_http_farm_key_auth_module_ctx,    /* module context */
    ngx_http_farm_key_auth_commands,       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_farm_key_auth_init_process,   /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_farm_key_auth_exit_process,   /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_farm_key_auth_vars[] = {

    { ngx_string("farm_consumer"), NULL, ngx_http_farm_key_auth_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("farm_tier"), NULL, ngx_http_farm_key_auth_variable,
      1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_farm_key_auth_missing =
    ngx_string("{\"message\":\"No API key found in request\"}");

static ngx_str_t  ngx_http_farm_key_auth_unknown =
    ngx_string("{\"message\":\"Unauthorized\"}");

static ngx_str_t  ngx_http_farm_key_auth_duplicate =
    ngx_string("{\"message\":\"Duplicate API key found\"}");

static ngx_str_t  ngx_http_farm_key_auth_default = ngx_string("apikey");

static ngx_str_t  ngx_http_farm_consumer_header =
    ngx_string("X-Consumer-Username");


static ngx_int_t
ngx_http_farm_key_auth_handler(ngx_http_request_t *r)
{
    ngx_int_t                            rc;
    ngx_str_t                            key;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_farm_consumer_t            *consumer;
    ngx_http_farm_key_auth_ctx_t        *ctx;
    ngx_http_farm_key_auth_loc_conf_t   *lcf;
    ngx_http_farm_key_auth_main_conf_t  *mcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_key_auth_module);

    if (lcf->enable != 1) {
        return NGX_DECLINED;
    }

    if (ngx_http_farm_key_auth_get_ctx(r)) {
        /* authenticated before an internal redirect */
        return NGX_DECLINED;
    }

    rc = ngx_http_farm_key_auth_find(r, lcf, &key);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_BUSY) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "farm_key_auth: more than one API key header");
        return ngx_http_farm_key_auth_deny(r,
                                           &ngx_http_farm_key_auth_duplicate);
    }

    if (key.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "farm_key_auth: no API key in the request");
        return ngx_http_farm_key_auth_deny(r, &ngx_http_farm_key_auth_missing);
    }

    /* before the verdict: a refused key stays out of the logs too */

    if (lcf->hide && lcf->query->nelts && r->args.len) {
        if (ngx_http_farm_key_auth_hide_args(r, lcf) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_farm_key_auth_module);

    consumer = ngx_http_farm_key_auth_lookup(r, mcf, &key);

    if (consumer == NULL) {
        /* never log the key itself */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "farm_key_auth: unknown API key");
        return ngx_http_farm_key_auth_deny(r, &ngx_http_farm_key_auth_unknown);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_key_auth_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (ctx == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->consumer.name.data = ngx_pstrdup(r->pool, &consumer->name);
    ctx->consumer.name.len = consumer->name.len;
    ctx->consumer.tier.data = ngx_pnalloc(r->pool, consumer->tier.len + 1);

    if (ctx->consumer.name.data == NULL || ctx->consumer.tier.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ctx->consumer.tier.data, consumer->tier.data,
               consumer->tier.len);
    ctx->consumer.tier.len = consumer->tier.len;

    cln->handler = ngx_http_farm_key_auth_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_farm_key_auth_module);

    if (ngx_http_farm_key_auth_upstream_headers(r, lcf, &ctx->consumer)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* NGX_DECLINED, not NGX_OK: "satisfy any" must not skip farm_limit */

    return NGX_DECLINED;
}


/*
 * The key: the first of the configured headers present (NGX_BUSY if a
 * header name appears twice), else the first configured query argument,
 * percent-decoded.  An empty key->len means none was found.
 */

static ngx_int_t
ngx_http_farm_key_auth_find(ngx_http_request_t *r,
    ngx_http_farm_key_auth_loc_conf_t *lcf, ngx_str_t *key)
{
    u_char           *dst, *src;
    ngx_str_t        *names, value;
    ngx_uint_t        i, k, found;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_str_null(key);

    names = lcf->headers->elts;

    for (k = 0; k < lcf->headers->nelts; k++) {
        found = 0;

        part = &r->headers_in.headers.part;
        h = part->elts;

        for (i = 0; /* void */; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                h = part->elts;
                i = 0;
            }

            if (h[i].key.len == names[k].len
                && ngx_strncasecmp(h[i].key.data, names[k].data,
                                   names[k].len)
                   == 0)
            {
                found++;
                *key = h[i].value;
            }
        }

        if (found > 1) {
            return NGX_BUSY;
        }

        if (found) {
            return NGX_OK;
        }
    }

    names = lcf->query->elts;

    for (k = 0; k < lcf->query->nelts; k++) {
        if (ngx_http_arg(r, names[k].data, names[k].len, &value) != NGX_OK) {
            continue;
        }

        dst = ngx_pnalloc(r->pool, value.len + 1);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        key->data = dst;
        src = value.data;

        ngx_unescape_uri(&dst, &src, value.len, 0);

        key->len = dst - key->data;

        return NGX_OK;
    }

    return NGX_OK;
}


/*
 * The file's table first, then the one from Redis (shared memory; the
 * consumer found there is copied into the request's pool).
 */

static ngx_http_farm_consumer_t *
ngx_http_farm_key_auth_lookup(ngx_http_request_t *r,
    ngx_http_farm_key_auth_main_conf_t *mcf, ngx_str_t *key)
{
    u_char                     digest[SHA256_DIGEST_LENGTH];
    ngx_http_farm_consumer_t  *c;

    SHA256(key->data, key->len, digest);

    c = ngx_http_farm_key_table_lookup(&mcf->keys, digest);

    if (c || mcf->redis == NULL) {
        return c;
    }

    c = ngx_palloc(r->pool, sizeof(ngx_http_farm_consumer_t));
    if (c == NULL) {
        return NULL;
    }

    if (ngx_http_farm_consumers_redis_lookup(mcf->redis, digest, r->pool, c)
        != NGX_OK)
    {
        return NULL;
    }

    return c;
}


/*
 * What the upstream sees: X-Consumer-Username set by us alone, and with
 * hide=on no key headers.  Headers are removed by building a new list,
 * so that pointers other modules keep to the old elements stay valid.
 */

static ngx_int_t
ngx_http_farm_key_auth_upstream_headers(ngx_http_request_t *r,
    ngx_http_farm_key_auth_loc_conf_t *lcf, ngx_http_farm_consumer_t *consumer)
{
    ngx_str_t        *names;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    n = 1 + (lcf->hide ? lcf->headers->nelts : 0);

    names = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
    if (names == NULL) {
        return NGX_ERROR;
    }

    names[0] = ngx_http_farm_consumer_header;

    if (lcf->hide) {
        ngx_memcpy(&names[1], lcf->headers->elts,
                   lcf->headers->nelts * sizeof(ngx_str_t));
    }

    if (ngx_http_farm_headers_in_remove(r, names, n, 2) != NGX_OK) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = ngx_http_farm_consumer_header;
    h->value = consumer->name;
    h->lowcase_key = (u_char *) "x-consumer-username";
    h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * hide=on: the query arguments carrying a key are removed from $args and
 * from the request line sent upstream (and so from $request_uri).
 */

static ngx_int_t
ngx_http_farm_key_auth_hide_args(ngx_http_request_t *r,
    ngx_http_farm_key_auth_loc_conf_t *lcf)
{
    u_char       *args, *line;
    size_t        len, removed, uri_start, uri_len;
    ngx_str_t    *query;
    ngx_uint_t    k;
    farm_span_t  *names, in, method, uri, out, proto;

    names = ngx_palloc(r->pool, lcf->query->nelts * sizeof(farm_span_t));
    args = ngx_pnalloc(r->pool, r->args.len);

    if (names == NULL || args == NULL) {
        return NGX_ERROR;
    }

    query = lcf->query->elts;

    for (k = 0; k < lcf->query->nelts; k++) {
        names[k].data = query[k].data;
        names[k].len = query[k].len;
    }

    in.data = r->args.data;
    in.len = r->args.len;

    len = farm_hide_args(args, &in, names, lcf->query->nelts, &removed);

    if (removed == 0) {
        return NGX_OK;
    }

    r->args.data = args;
    r->args.len = len;

    /*
     * proxy_pass without a URI sends the request's URI as it came: rewrite
     * it too, and the request line that logs show ($request, and the
     * "request:" of error log lines)
     */

    method.data = r->method_name.data;
    method.len = r->method_name.len;
    uri.data = r->unparsed_uri.data;
    uri.len = r->unparsed_uri.len;
    out.data = args;
    out.len = len;
    proto.data = r->http_protocol.data;
    proto.len = r->http_protocol.len;

    line = ngx_pnalloc(r->pool,
                       farm_request_line_size(&method, &uri, &out, &proto));
    if (line == NULL) {
        return NGX_ERROR;
    }

    len = farm_request_line(line, &method, &uri, &out, &proto, &uri_start,
                            &uri_len);

    r->unparsed_uri.data = line + uri_start;
    r->unparsed_uri.len = uri_len;

    r->request_line.data = line;
    r->request_line.len = len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_key_auth_deny(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_str_t         value;
    ngx_table_elt_t  *h;

    ngx_str_set(&value, "Key");

    h = ngx_http_farm_add_header(r, "WWW-Authenticate", &value);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.www_authenticate = h;

    return ngx_http_farm_send_json(r, NGX_HTTP_UNAUTHORIZED, body);
}


static ngx_http_farm_key_auth_ctx_t *
ngx_http_farm_key_auth_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_farm_key_auth_ctx_t  *ctx;

    r = r->main;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_key_auth_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {

        /* an internal redirect cleared the context; its cleanup has it */

        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_farm_key_auth_cleanup) {
                ctx = cln->data;
                ngx_http_set_ctx(r, ctx, ngx_http_farm_key_auth_module);
                break;
            }
        }
    }

    return ctx;
}


static void
ngx_http_farm_key_auth_cleanup(void *data)
{
    /* nothing to free: the cleanup marks where the context is */
}


static ngx_int_t
ngx_http_farm_key_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                     *s;
    ngx_http_farm_key_auth_ctx_t  *ctx;

    ctx = ngx_http_farm_key_auth_get_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = data ? &ctx->consumer.tier : &ctx->consumer.name;

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_key_auth_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_farm_key_auth_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_farm_key_auth_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_farm_key_auth_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_key_auth_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->file = { 0, NULL };
     *     mcf->keys = { NULL, ... };
     *     mcf->redis = NULL;
     *     mcf->used_file = NULL;
     */

    return mcf;
}


static char *
ngx_http_farm_key_auth_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_farm_key_auth_main_conf_t  *mcf = conf;

    if (mcf->used_file && mcf->file.len == 0 && mcf->redis == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"farm_key_auth\" in %s:%ui needs consumers: add "
                      "\"farm_consumers /path/to/consumers.json;\" to the "
                      "http block", mcf->used_file, mcf->used_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_farm_key_auth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_farm_key_auth_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_key_auth_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->headers = NULL;
     *     lcf->query = NULL;
     */

    lcf->enable = NGX_CONF_UNSET;
    lcf->hide = NGX_CONF_UNSET;

    return lcf;
}


static char *
ngx_http_farm_key_auth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_farm_key_auth_loc_conf_t  *prev = parent;
    ngx_http_farm_key_auth_loc_conf_t  *conf = child;

    /* one farm_key_auth line is one setting: inherited as a whole */

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable = prev->enable;
        conf->headers = prev->headers;
        conf->query = prev->query;
        conf->hide = prev->hide;
    }

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->hide, prev->hide, 0);

    return NGX_CONF_OK;
}


static char *
ngx_http_farm_consumers(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_key_auth_main_conf_t  *mcf = conf;

    ngx_str_t  *value;

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "redis://", 8) == 0) {
        if (mcf->redis) {
            return "is duplicate: one Redis source at most";
        }

        return ngx_http_farm_consumers_redis(cf, value + 1,
                                             cf->args->nelts - 1,
                                             &mcf->redis);
    }

    if (mcf->file.len) {
        return "is duplicate: one file at most";
    }

    if (cf->args->nelts > 2) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"farm_consumers\" parameter \"%V\": "
                           "a file takes no parameters", &value[2]);
        return NGX_CONF_ERROR;
    }

    mcf->file = value[1];

    return ngx_http_farm_consumers_file(cf, &mcf->file, &mcf->keys);
}


static char *
ngx_http_farm_key_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_key_auth_loc_conf_t  *lcf = conf;

    ngx_str_t                           *value, *name, arg;
    ngx_uint_t                           i;
    ngx_array_t                         *list;
    ngx_http_farm_key_auth_main_conf_t  *mcf;

    if (lcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        lcf->enable = 0;
        return NGX_CONF_OK;
    }

    lcf->headers = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
    lcf->query = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));

    if (lcf->headers == NULL || lcf->query == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "header=", 7) == 0) {
            list = lcf->headers;
            arg.data = value[i].data + 7;
            arg.len = value[i].len - 7;

        } else if (ngx_strncmp(value[i].data, "query=", 6) == 0) {
            list = lcf->query;
            arg.data = value[i].data + 6;
            arg.len = value[i].len - 6;

        } else if (ngx_strcmp(value[i].data, "hide=on") == 0) {
            lcf->hide = 1;
            continue;

        } else if (ngx_strcmp(value[i].data, "hide=off") == 0) {
            lcf->hide = 0;
            continue;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown \"farm_key_auth\" parameter \"%V\": "
                               "use header=NAME, query=NAME, hide=on|off, "
                               "or \"off\" alone", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (!farm_valid_name((char *) arg.data, arg.len, 64)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"farm_key_auth\" parameter \"%V\": "
                               "expected a name of 1-64 of A-Z a-z 0-9 . _ -",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        name = ngx_array_push(list);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = arg;
    }

    /* Kong's default: key_names = apikey, in a header or the query */

    if (lcf->headers->nelts == 0 && lcf->query->nelts == 0) {
        name = ngx_array_push(lcf->headers);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = ngx_http_farm_key_auth_default;

        name = ngx_array_push(lcf->query);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = ngx_http_farm_key_auth_default;
    }

    lcf->enable = 1;

    mcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_farm_key_auth_module);

    if (mcf->used_file == NULL) {
        mcf->used_file = cf->conf_file->file.name.data;
        mcf->used_line = cf->conf_file->line;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_farm_key_auth_init_process(ngx_cycle_t *cycle)
{
    ngx_http_farm_key_auth_main_conf_t  *mcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_farm_key_auth_module);

    if (mcf->redis == NULL) {
        return NGX_OK;
    }

    return ngx_http_farm_consumers_redis_start(cycle, mcf->redis);
}


static void
ngx_http_farm_key_auth_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_farm_key_auth_main_conf_t  *mcf;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_farm_key_auth_module);

    if (mcf->redis) {
        ngx_http_farm_consumers_redis_stop(mcf->redis);
    }
}


static ngx_int_t
ngx_http_farm_key_auth_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt                 *h;
    ngx_http_core_main_conf_t           *cmcf;
    ngx_http_farm_key_auth_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_farm_key_auth_module);

    if (mcf->used_file == NULL) {
        return NGX_OK;
    }

    /*
     * Registered after farm_limit's handler (this module follows
     * ngx_http_farm_limit_module in config), so it runs before it.
     */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_farm_key_auth_handler;

    return NGX_OK;
}
