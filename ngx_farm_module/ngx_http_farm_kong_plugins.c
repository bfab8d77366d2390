
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's plugins: once a route matched, each plugin type in Kong's
 * priority order (KONG_PLUGIN_* numbering), with the configuration Kong's
 * precedence picks for the route, its service and the consumer known so
 * far (kong_plugin_for).  Here: ip-restriction, request-size-limiting,
 * acl, rate-limiting (policy local, counted in farm_limit's shared zone
 * and windows) and request-termination; key-auth and basic-auth are in
 * ngx_http_farm_kong_auth.c, jwt in _jwt.c, correlation-id in _corrid.c,
 * cors and request-transformer in _cors.c and _xform.c.
 * The plugins whose engines live elsewhere (response-transformer,
 * prometheus) are refused at load until they are wired in here (see
 * ngx_http_farm_kong_done).
 */


#include "ngx_http_farm_kong.h"
#include "ngx_http_farm_kong_engine.h"
#include "kong_echo.h"

#include <math.h>


/* the plugin types this glue runs */
static const ngx_uint_t  ngx_http_farm_kong_done =
      (1u << KONG_PLUGIN_CORRELATION_ID)
    | (1u << KONG_PLUGIN_JWT)
    | (1u << KONG_PLUGIN_CORS)
    | (1u << KONG_PLUGIN_KEY_AUTH)
    | (1u << KONG_PLUGIN_BASIC_AUTH)
    | (1u << KONG_PLUGIN_IP_RESTRICTION)
    | (1u << KONG_PLUGIN_REQUEST_SIZE_LIMITING)
    | (1u << KONG_PLUGIN_ACL)
    | (1u << KONG_PLUGIN_RATE_LIMITING)
    | (1u << KONG_PLUGIN_REQUEST_TRANSFORMER)
    | (1u << KONG_PLUGIN_RESPONSE_TRANSFORMER)
    | (1u << KONG_PLUGIN_PROMETHEUS)
    | (1u << KONG_PLUGIN_REQUEST_TERMINATION);

/* the shared zone of rate-limiting's local counters */
#define NGX_HTTP_FARM_KONG_RL_ZONE  "farm_kong_rate_limiting"
#define NGX_HTTP_FARM_KONG_RL_SIZE  (16 * 1024 * 1024)


static ngx_int_t ngx_http_farm_kong_ip_restriction(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_ip_restriction_conf_t *conf);
static ngx_int_t ngx_http_farm_kong_request_size(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_request_size_conf_t *conf);
static ngx_int_t ngx_http_farm_kong_acl(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_acl_conf_t *conf);
static ngx_int_t ngx_http_farm_kong_rate_limiting(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p);
static ngx_int_t ngx_http_farm_kong_rl_key(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p, ngx_str_t *key);
static ngx_int_t ngx_http_farm_kong_query_has(ngx_http_request_t *r,
    ngx_str_t *name);
static ngx_int_t ngx_http_farm_kong_request_termination(
    ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx,
    const kong_request_termination_conf_t *conf);
static ngx_int_t ngx_http_farm_kong_add_num(ngx_http_request_t *r,
    const char *prefix, const char *suffix, int64_t n);


ngx_int_t
ngx_http_farm_kong_plugins(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    int                         t, t0;
    ngx_int_t                   rc;
    kong_config_t              *kong;
    const kong_plugin_t        *p;
    ngx_http_farm_limit_ctx_t  *lctx;

    kong = ctx->conf->kong;

    if (kong->used == 0) {
        return NGX_DECLINED;
    }

    t0 = 0;

    if (ctx->rl_ctx) {
        /* Redis has answered (or failed) for rate-limiting: decide, then
         * go on with the next plugin */

        lctx = ctx->rl_ctx;
        ctx->rl_ctx = NULL;

        if (((const kong_rate_limiting_conf_t *) ctx->rl_plugin->conf)
                ->sync_rate >= 0)
        {
            ngx_http_farm_kong_rl_sync_learn(r, ctx, ctx->rl_plugin, lctx);
        }

        rc = ngx_http_farm_kong_rl_decide(r, ctx, ctx->rl_plugin,
                                          lctx->lcf->limits->elts,
                                          lctx->counts, lctx->redis_rc,
                                          lctx->redis_err);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        t0 = ctx->plugin_next + 1;

    } else if (ctx->resume_plugins) {
        /* the body is read: the plugin that asked for it runs again */
        ctx->resume_plugins = 0;
        t0 = ctx->plugin_next;
    }

    for (t = t0; t < KONG_PLUGIN_N; t++) {

        if (!(kong->used & (1u << t))) {
            continue;
        }

        p = kong_plugin_for(kong, t, ctx->match.route, ctx->consumer);

        if (p == NULL) {
            continue;
        }

        /* a configuration for other protocols does not run */

        if (!(p->protocols & (r->connection->ssl ? KONG_PROTO_HTTPS
                                                 : KONG_PROTO_HTTP)))
        {
            continue;
        }

        switch (t) {

        case KONG_PLUGIN_CORRELATION_ID:
            rc = ngx_http_farm_kong_corrid(r, ctx, p->conf);
            break;

        case KONG_PLUGIN_JWT:
            rc = ngx_http_farm_kong_jwt(r, ctx, p->conf);
            break;

        case KONG_PLUGIN_CORS:
            rc = ngx_http_farm_kong_cors(r, ctx, p);
            break;

        case KONG_PLUGIN_KEY_AUTH:
            rc = ngx_http_farm_kong_key_auth(r, ctx, p->conf);
            break;

        case KONG_PLUGIN_BASIC_AUTH:
            rc = ngx_http_farm_kong_basic_auth(r, ctx, p->conf);
            break;

        case KONG_PLUGIN_IP_RESTRICTION:
            rc = ngx_http_farm_kong_ip_restriction(r, ctx, p->conf);
            break;

        case KONG_PLUGIN_REQUEST_SIZE_LIMITING:
            rc = ngx_http_farm_kong_request_size(r, ctx, p->conf);
            break;

        case KONG_PLUGIN_ACL:
            rc = ngx_http_farm_kong_acl(r, ctx, p->conf);
            break;

        case KONG_PLUGIN_RATE_LIMITING:
            rc = ngx_http_farm_kong_rate_limiting(r, ctx, p);
            break;

        case KONG_PLUGIN_REQUEST_TRANSFORMER:
            rc = ngx_http_farm_kong_request_transformer(r, ctx, p);
            break;

        case KONG_PLUGIN_RESPONSE_TRANSFORMER:
            rc = ngx_http_farm_kong_response_transformer(r, ctx, p);
            break;

        case KONG_PLUGIN_REQUEST_TERMINATION:
            rc = ngx_http_farm_kong_request_termination(r, ctx, p->conf);
            break;

        /* prometheus counts in the log phase (ngx_http_farm_kong_prom.c),
         * with the configuration for the consumer known by then */

        /*
         * Integration points for the engines of kong_cors.c, kong_jwt.c,
         * kong_xform.c and kong_corrid.c (and prometheus): add the case,
         * then the type to ngx_http_farm_kong_done.
         */

        default:
            rc = NGX_DECLINED;
        }

        if (rc == NGX_AGAIN) {
            /* waiting for Redis: the rewrite phase resumes here */
            ctx->plugin_next = t;
            return NGX_DONE;
        }

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return NGX_DECLINED;
}


/*
 * At load: every enabled plugin must be one this glue runs (else an error
 * naming it, or with skip_invalid a warning and the plugin is disabled),
 * and the shared zone rate-limiting counts in.
 */

ngx_int_t
ngx_http_farm_kong_plugins_conf(ngx_conf_t *cf, ngx_http_farm_kong_conf_t *kc,
    ngx_uint_t skip)
{
    size_t                       i;
    ngx_str_t                    name;
    ngx_uint_t                   bad;
    kong_plugin_t               *p;
    kong_config_t               *kong;
    ngx_http_farm_limit_zone_t  *zone;

    kong = kc->kong;
    bad = 0;

    for (i = 0; i < kong->plugins.n; i++) {
        p = kong->plugins.items[i];

        if (!p->enabled || p->type < 0
            || (ngx_http_farm_kong_done & (1u << p->type)))
        {
            continue;
        }

        ngx_conf_log_error(skip ? NGX_LOG_WARN : NGX_LOG_EMERG, cf, 0,
                           "farm_kong: %s:%ud:%ud: %s: plugin '%s' is not "
                           "implemented by this gateway yet%s", kong->file,
                           p->pos.line, p->pos.col, p->path, p->name,
                           skip ? "; skipped" : "");

        bad = 1;
    }

    if (bad) {
        if (!skip) {
            return NGX_ERROR;
        }

        /* skip_invalid: such plugins do not run, not even by precedence */

        for (i = 0; i < kong->plugins.n; i++) {
            p = kong->plugins.items[i];

            if (p->type >= 0
                && !(ngx_http_farm_kong_done & (1u << p->type)))
            {
                kong->used &= ~(1u << p->type);
            }
        }
    }

    kc->loaded = ngx_time();

    if (ngx_http_farm_kong_keys(cf, kc) != NGX_OK
        || ngx_http_farm_kong_jwt_conf(cf, kc, skip) != NGX_OK
        || ngx_http_farm_kong_engines_conf(cf, kc, skip) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_farm_kong_resp_conf(cf, kc) != NGX_OK
        || ngx_http_farm_kong_prom_conf(cf, kc) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!(kong->used & (1u << KONG_PLUGIN_RATE_LIMITING))) {
        return NGX_OK;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_limit_zone_t));
    if (zone == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&name, NGX_HTTP_FARM_KONG_RL_ZONE);

    zone->name = name;
    zone->size = NGX_HTTP_FARM_KONG_RL_SIZE;
    zone->policy = NGX_HTTP_FARM_LIMIT_LOCAL;
    zone->file = cf->conf_file->file.name.data;
    zone->line = cf->conf_file->line;

    zone->shm_zone = ngx_shared_memory_add(cf, &name,
                                           NGX_HTTP_FARM_KONG_RL_SIZE,
                                           &ngx_http_farm_kong_module);
    if (zone->shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (zone->shm_zone->data == NULL) {
        zone->shm_zone->init = ngx_http_farm_limit_init_zone;
        zone->shm_zone->data = zone;

    } else {
        /* a second farm_kong file shares the zone */
        zone = zone->shm_zone->data;
    }

    kc->rl_zone = zone;

    for (i = 0; i < kong->plugins.n; i++) {
        p = kong->plugins.items[i];

        if (p->enabled && p->type == KONG_PLUGIN_RATE_LIMITING
            && ((kong_rate_limiting_conf_t *) p->conf)->policy
               == KONG_POLICY_REDIS
            && ngx_http_farm_kong_rl_redis_conf(cf, kc, p) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* ---- ip-restriction ------------------------------------------------------ */

static ngx_int_t
ngx_http_farm_kong_ip_restriction(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_ip_restriction_conf_t *conf)
{
    int                   v6, hit;
    u_char               *msg, *p;
    size_t                i;
    uint8_t              *addr;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    switch (r->connection->sockaddr->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) r->connection->sockaddr;
        addr = (uint8_t *) &sin->sin_addr;
        v6 = 0;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) r->connection->sockaddr;
        addr = (uint8_t *) &sin6->sin6_addr;
        v6 = 1;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            addr += 12;
            v6 = 0;
        }

        break;
#endif

    default:
        return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_FORBIDDEN,
                                        "Cannot identify the client IP "
                                        "address, unix domain sockets are "
                                        "not supported.");
    }

    hit = 0;

    for (i = 0; i < conf->ndeny; i++) {
        if (kong_cidr_match(&conf->deny[i], addr, v6)) {
            hit = 1;
            break;
        }
    }

    if (!hit && conf->nallow) {
        hit = 1;

        for (i = 0; i < conf->nallow; i++) {
            if (kong_cidr_match(&conf->allow[i], addr, v6)) {
                hit = 0;
                break;
            }
        }
    }

    if (!hit) {
        return NGX_DECLINED;
    }

    if (conf->message) {
        msg = (u_char *) conf->message;

    } else {
        msg = ngx_pnalloc(r->pool, sizeof("IP address not allowed: ")
                                   + r->connection->addr_text.len);
        if (msg == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf(msg, "IP address not allowed: %V",
                        &r->connection->addr_text);
        *p = '\0';
    }

    return ngx_http_farm_kong_error(r, ctx,
                                    conf->status ? conf->status
                                                 : NGX_HTTP_FORBIDDEN,
                                    (const char *) msg);
}


/* ---- request-size-limiting ----------------------------------------------- */

static ngx_int_t
ngx_http_farm_kong_request_size(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_request_size_conf_t *conf)
{
    off_t         size;
    ngx_uint_t    status;
    ngx_chain_t  *cl;

    if (r->headers_in.content_length_n >= 0) {
        size = r->headers_in.content_length_n;

    } else if (conf->require_content_length && !r->headers_in.chunked) {
        return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_LENGTH_REQUIRED,
                                        "A valid Content-Length header is "
                                        "required");

    } else if (!r->headers_in.chunked) {
        return NGX_DECLINED;

    } else if (!ctx->body_read) {
        /* a chunked body: read it (to memory or a temporary file, as
         * client_body_buffer_size says), then measure it */
        return ngx_http_farm_kong_read_body(r, ctx,
                                            KONG_PLUGIN_REQUEST_SIZE_LIMITING);

    } else {
        size = 0;

        for (cl = r->request_body ? r->request_body->bufs : NULL;
             cl;
             cl = cl->next)
        {
            size += ngx_buf_size(cl->buf);
        }
    }

    if ((uint64_t) size <= conf->limit) {
        return NGX_DECLINED;
    }

    status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;

    if (r->headers_in.expect
        && r->headers_in.expect->value.len == sizeof("100-continue") - 1
        && ngx_strncasecmp(r->headers_in.expect->value.data,
                           (u_char *) "100-continue",
                           sizeof("100-continue") - 1)
           == 0)
    {
        status = 417;
    }

    return ngx_http_farm_kong_error(r, ctx, status,
                                    "Request size limit exceeded");
}


/* ---- acl ----------------------------------------------------------------- */

static ngx_int_t
ngx_http_farm_kong_acl(ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx,
    const kong_acl_conf_t *conf)
{
    u_char                 *p;
    size_t                  i, j, len;
    ngx_str_t               name, value;
    ngx_uint_t              in;
    const kong_strs_t      *list;
    const kong_consumer_t  *c;

    c = ctx->consumer;

    if (c == NULL) {
        return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                        "Unauthorized");
    }

    list = conf->allow.n ? &conf->allow : &conf->deny;
    in = 0;

    for (i = 0; i < c->ngroups && !in; i++) {
        for (j = 0; j < list->n; j++) {
            if (ngx_strcmp(c->groups[i], list->items[j]) == 0) {
                in = 1;
                break;
            }
        }
    }

    if (conf->allow.n ? !in : in) {
        return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_FORBIDDEN,
                                        "You cannot consume this service");
    }

    if (conf->hide_groups_header || c->ngroups == 0) {
        return NGX_DECLINED;
    }

    len = 0;

    for (i = 0; i < c->ngroups; i++) {
        len += ngx_strlen(c->groups[i]) + 2;
    }

    value.data = ngx_pnalloc(r->pool, len);
    if (value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = value.data;

    for (i = 0; i < c->ngroups; i++) {
        if (i) {
            *p++ = ',';
            *p++ = ' ';
        }

        p = ngx_cpymem(p, c->groups[i], ngx_strlen(c->groups[i]));
    }

    value.len = p - value.data;
    ngx_str_set(&name, "X-Consumer-Groups");

    if (ngx_http_farm_kong_set_upstream(r, &name, &value, 1) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/* ---- rate-limiting ------------------------------------------------------- */

static ngx_int_t
ngx_http_farm_kong_rate_limiting(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p)
{
    time_t                            now;
    uint32_t                          count[FARM_WIN_N], start[FARM_WIN_N];
    ngx_int_t                         rc;
    ngx_str_t                         key;
    ngx_uint_t                        w;
    ngx_http_farm_limit_t            *limit;
    const kong_rate_limiting_conf_t  *conf;

    conf = p->conf;

    if (ngx_http_farm_kong_rl_key(r, ctx, p, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    limit = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_limit_t));
    if (limit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (w = 0; w < FARM_WIN_N; w++) {
        if (conf->limits[w] > 0) {
            limit->limit[w] = conf->limits[w] >= FARM_LIMIT_MAX
                              ? FARM_LIMIT_MAX
                              : (uint32_t) ceil(conf->limits[w]);
            limit->nwindows++;
        }
    }

    if (conf->policy == KONG_POLICY_REDIS && ctx->conf->rl_redis.nelts) {

        if (conf->sync_rate >= 0) {
            /* the counts kept here, unless a window is not known yet */
            rc = ngx_http_farm_kong_rl_sync(r, ctx, p, limit, &key);
            if (rc != NGX_BUSY) {
                return rc;
            }
        }

        return ngx_http_farm_kong_rl_redis(r, ctx, p, limit, &key);
    }

    limit->zone = ctx->conf->rl_zone;

    now = ngx_time();

    ngx_memzero(count, sizeof(count));

    rc = ngx_http_farm_limit_take(r, limit, &key, now, count, start);

    return ngx_http_farm_kong_rl_decide(r, ctx, p, limit, count,
                                        rc == NGX_OK
                                        ? NGX_HTTP_FARM_LIMIT_ADMITTED
                                        : rc == NGX_BUSY
                                        ? NGX_HTTP_FARM_LIMIT_REJECTED
                                        : NGX_HTTP_FARM_LIMIT_FAILED,
                                        "the counters' zone is full");
}


/*
 * The outcome of a count (NGX_HTTP_FARM_LIMIT_*; count[] the windows'
 * counts after it): the headers, and Kong's answer past the limit, or
 * fault_tolerant's choice when the store failed.
 */

ngx_int_t
ngx_http_farm_kong_rl_decide(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p,
    ngx_http_farm_limit_t *limit, uint32_t *count, ngx_uint_t outcome,
    const char *err)
{
    time_t                            now;
    const kong_rate_limiting_conf_t  *conf;

    conf = p->conf;

    if (outcome == NGX_HTTP_FARM_LIMIT_FAILED || count == NULL) {

        if (conf->fault_tolerant) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "farm_kong: rate-limiting: failed to get usage: "
                          "%s", err ? err : "unknown error");
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "farm_kong: rate-limiting: failed to get usage: %s "
                      "(fault_tolerant is off)", err ? err : "unknown error");

        return ngx_http_farm_kong_error(r, ctx,
                                        NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        "An unexpected error occurred");
    }

    now = ngx_time();

    ctx->rl_view = ngx_palloc(r->pool, sizeof(farm_limit_view_t));
    if (ctx->rl_view == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    farm_limit_view_init(ctx->rl_view);
    farm_limit_view_add(ctx->rl_view, limit->limit, count, now,
                        outcome == NGX_HTTP_FARM_LIMIT_ADMITTED);
    farm_limit_view_done(ctx->rl_view);

    if (outcome == NGX_HTTP_FARM_LIMIT_ADMITTED) {
        if (conf->hide_client_headers) {
            ctx->rl_view = NULL;
        }

        return NGX_DECLINED;
    }

    /* over the limit: the headers now, the Kong-generated answer skips the
     * header filter's part */

    if (ngx_http_farm_kong_add_num(r, "Retry-After", "",
                                   ctx->rl_view->retry_after)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (conf->hide_client_headers) {
        ctx->rl_view = NULL;

    } else if (ngx_http_farm_kong_plugins_headers(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_farm_kong_error(r, ctx, conf->error_code,
                                    conf->error_message);
}


/*
 * Kong's identifier by limit_by (the client address as the fallback),
 * prefixed with the plugin's scope like Kong's counter key: route and
 * service of the plugin, by id or name.
 */

static ngx_int_t
ngx_http_farm_kong_rl_key(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_plugin_t *p, ngx_str_t *key)
{
    u_char                           *k;
    size_t                            len;
    ngx_str_t                         id, hn;
    ngx_uint_t                        count;
    ngx_table_elt_t                  *h;
    const char                       *route, *service;
    const kong_rate_limiting_conf_t  *conf;

    conf = p->conf;
    ngx_str_null(&id);

    switch (conf->limit_by) {

    case KONG_LIMIT_BY_CONSUMER:
        if (ctx->consumer) {
            id.data = (u_char *) ctx->consumer->id;
            id.len = ngx_strlen(ctx->consumer->id);
            break;
        }

        /* fall through */

    case KONG_LIMIT_BY_CREDENTIAL:
        if (ctx->credential) {
            if (ctx->credential->id) {
                id.data = (u_char *) ctx->credential->id;
                id.len = ngx_strlen(ctx->credential->id);

            } else {
                /* no id in the file: the credential's address in memory,
                 * stable for this configuration */
                id.data = ngx_pnalloc(r->pool, NGX_PTR_SIZE * 2 + 2);
                if (id.data == NULL) {
                    return NGX_ERROR;
                }

                id.len = ngx_sprintf(id.data, "c%p", ctx->credential)
                         - id.data;
            }
        }

        break;

    case KONG_LIMIT_BY_SERVICE:
        if (ctx->match.service) {
            id.data = (u_char *) (ctx->match.service->id
                                  ? ctx->match.service->id
                                  : ctx->match.service->name);
            id.len = id.data ? ngx_strlen(id.data) : 0;
        }

        break;

    case KONG_LIMIT_BY_HEADER:
        hn.data = (u_char *) conf->header_name;
        hn.len = ngx_strlen(conf->header_name);

        h = ngx_http_farm_kong_in_header(r, &hn, &count);
        if (h) {
            id = h->value;
        }

        break;

    case KONG_LIMIT_BY_PATH:
        if (ctx->match.path_len == ngx_strlen(conf->path)
            && ngx_strncmp(ctx->match.path, conf->path, ctx->match.path_len)
               == 0)
        {
            id.data = (u_char *) conf->path;
            id.len = ngx_strlen(conf->path);
        }

        break;
    }

    if (id.len == 0) {
        id = r->connection->addr_text;
    }

    route = p->route ? (p->route->id ? p->route->id : p->route->name) : "";
    service = p->service ? (p->service->id ? p->service->id
                                           : p->service->name)
                         : "";
    route = route ? route : "";
    service = service ? service : "";

    len = sizeof("ratelimit:::") + ngx_strlen(route) + ngx_strlen(service)
          + id.len;

    k = ngx_pnalloc(r->pool, len);
    if (k == NULL) {
        return NGX_ERROR;
    }

    key->data = k;
    key->len = ngx_sprintf(k, "ratelimit:%s:%s:%V", route, service, &id) - k;

    if (key->len > NGX_HTTP_FARM_LIMIT_KEY_MAX) {
        /* farm_limit's rule for long keys: their SHA-1 */
        ngx_sha1_t  sha1;
        u_char      md[20];

        k = ngx_pnalloc(r->pool, sizeof("sha1:") - 1 + 40);
        if (k == NULL) {
            return NGX_ERROR;
        }

        ngx_sha1_init(&sha1);
        ngx_sha1_update(&sha1, key->data, key->len);
        ngx_sha1_final(md, &sha1);

        ngx_memcpy(k, "sha1:", 5);
        ngx_hex_dump(k + 5, md, 20);

        key->data = k;
        key->len = 45;
    }

    return NGX_OK;
}


/* X-RateLimit-*, RateLimit-*: on the answer (429) or the proxied response */

ngx_int_t
ngx_http_farm_kong_plugins_headers(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx)
{
    unsigned            w;
    farm_limit_view_t  *v;

    v = ctx->rl_view;

    if (v == NULL || ctx->rl_reported || v->window < 0) {
        return NGX_OK;
    }

    ctx->rl_reported = 1;

    for (w = 0; w < FARM_WIN_N; w++) {
        if (v->limit[w] == 0) {
            continue;
        }

        if (ngx_http_farm_kong_add_num(r, "X-RateLimit-Limit-",
                                       farm_window_title(w), v->limit[w])
            != NGX_OK
            || ngx_http_farm_kong_add_num(r, "X-RateLimit-Remaining-",
                                          farm_window_title(w),
                                          v->remaining[w])
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    w = v->window;

    if (ngx_http_farm_kong_add_num(r, "RateLimit-Limit", "", v->limit[w])
        != NGX_OK
        || ngx_http_farm_kong_add_num(r, "RateLimit-Remaining", "",
                                      v->remaining[w])
           != NGX_OK
        || ngx_http_farm_kong_add_num(r, "RateLimit-Reset", "", v->reset[w])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_add_num(ngx_http_request_t *r, const char *prefix,
    const char *suffix, int64_t n)
{
    u_char     *key;
    size_t      len;
    ngx_str_t   value;

    len = ngx_strlen(prefix) + ngx_strlen(suffix);

    key = ngx_pnalloc(r->pool, len + 1 + NGX_INT64_LEN);
    if (key == NULL) {
        return NGX_ERROR;
    }

    value.data = ngx_sprintf(key, "%s%s%Z", prefix, suffix);
    value.len = ngx_sprintf(value.data, "%L", n) - value.data;

    return ngx_http_farm_add_header(r, (char *) key, &value) ? NGX_OK
                                                             : NGX_ERROR;
}


/* ---- request-termination -------------------------------------------------- */

/*
 * Whether the query string has an argument of this name, as Kong's
 * kong.request.get_query() sees it: names percent-decoded ("+" a space)
 * and compared exactly (case matters), with or without a value, among
 * the first 100 arguments.
 */

static ngx_int_t
ngx_http_farm_kong_query_has(ngx_http_request_t *r, ngx_str_t *name)
{
    u_char      *p, *last, *end, *eq;
    size_t       len;
    ngx_uint_t   n;
    u_char       key[256];

    if (r->args.len == 0) {
        return NGX_DECLINED;        /* args.data may be NULL */
    }

    p = r->args.data;
    last = p + r->args.len;

    for (n = 0; p < last && n < 100; n++, p = end + 1) {

        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        eq = ngx_strlchr(p, end, '=');
        if (eq == NULL) {
            eq = end;
        }

        if (eq == p) {
            if (end == p) {
                n--;                /* "&&": no argument */
            }

            continue;
        }

        /* a name decodes to at most its own length */

        if ((size_t) (eq - p) > sizeof(key) || (size_t) (eq - p) < name->len)
        {
            continue;
        }

        len = kong_xform_unescape((char *) p, eq - p, (char *) key, 1);

        if (len == name->len && ngx_memcmp(key, name->data, len) == 0) {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_farm_kong_request_termination(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_request_termination_conf_t *conf)
{
    u_char            *p;
    ngx_str_t          body, type, trigger;
    ngx_uint_t         count;
    const char        *msg;

    static ngx_str_t  json = ngx_string("application/json; charset=utf-8");

    if (conf->trigger) {
        trigger.data = (u_char *) conf->trigger;
        trigger.len = ngx_strlen(conf->trigger);

        if (ngx_http_farm_kong_in_header(r, &trigger, &count) == NULL
            && ngx_http_farm_kong_query_has(r, &trigger) != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    if (conf->echo) {
        return ngx_http_farm_kong_echo(r, ctx, conf);
    }

    if (conf->body) {
        body.data = (u_char *) conf->body;
        body.len = ngx_strlen(conf->body);

        if (conf->content_type) {
            type.data = (u_char *) conf->content_type;
            type.len = ngx_strlen(conf->content_type);

        } else {
            type = json;
        }

        return ngx_http_farm_kong_exit(r, ctx, conf->status_code, &type,
                                       &body);
    }

    msg = conf->message ? conf->message
                        : kong_echo_default_message(conf->status_code);

    if (msg == NULL) {
        ngx_str_set(&body, "{}");

    } else {
        /* cjson's encoding of {"message": msg} */
        body.data = ngx_pnalloc(r->pool, sizeof("{\"message\":\"\"}")
                                         + ngx_strlen(msg) * 6);
        if (body.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(body.data, "{\"message\":\"",
                       sizeof("{\"message\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, (u_char *) msg, ngx_strlen(msg));
        p = ngx_cpymem(p, "\"}", 2);
        body.len = p - body.data;
    }

    return ngx_http_farm_kong_exit(r, ctx, conf->status_code, &json, &body);
}


/* ---- helpers ------------------------------------------------------------- */

static void ngx_http_farm_kong_body_read(ngx_http_request_t *r);


/*
 * A plugin (t) needs the request body: read it, then the rewrite phase
 * runs again and the plugins go on from t.  The body stays for the
 * proxying.
 */

ngx_int_t
ngx_http_farm_kong_read_body(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_uint_t t)
{
    ngx_int_t  rc;

    ctx->plugin_next = t;
    ctx->body_waiting = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_farm_kong_body_read);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ctx->body_waiting = 0;
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_farm_kong_body_read(ngx_http_request_t *r)
{
    ngx_http_farm_kong_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_kong_module);

    ctx->body_waiting = 0;
    ctx->body_read = 1;
    ctx->resume_plugins = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/* kong.response.exit: status, a body as given, no request_id in it */

ngx_int_t
ngx_http_farm_kong_exit(ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *type, ngx_str_t *body)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    ctx->answered = 1;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_farm_kong_header(r, "X-Kong-Request-Id", &ctx->request_id)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = body->len;

    if (body->len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Sets request headers for the upstream, as kong.service.request.set_header
 * does: every header of those names the client sent is removed, then each
 * name with a non-empty value is added.
 */

ngx_int_t
ngx_http_farm_kong_set_upstream(ngx_http_request_t *r, ngx_str_t *names,
    ngx_str_t *values, ngx_uint_t n)
{
    u_char           *low;
    ngx_uint_t        j;
    ngx_table_elt_t  *h;

    if (ngx_http_farm_headers_in_remove(r, names, n, n) != NGX_OK) {
        return NGX_ERROR;
    }

    for (j = 0; j < n; j++) {
        if (values[j].len == 0) {
            continue;
        }

        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        low = ngx_pnalloc(r->pool, names[j].len);
        if (low == NULL) {
            return NGX_ERROR;
        }

        ngx_strlow(low, names[j].data, names[j].len);

        h->key = names[j];
        h->value = values[j];
        h->lowcase_key = low;
        h->hash = ngx_hash_key(low, names[j].len);
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
    }

    return NGX_OK;
}
