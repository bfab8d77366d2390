
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_admin, the admin API (its own nginx module in the same object):
 *
 *   GET    <prefix>/pools
 *   GET    <prefix>/pools/<pool>/agents[?state=&limit=&offset=]
 *   PATCH  <prefix>/pools/<pool>/agents/<id>        {"mode":..,"weight":..}
 *   POST   <prefix>/pools/<pool>/agents/<id>/eject  {"seconds":N}
 *   DELETE <prefix>/pools/<pool>/agents/<id>/eject
 *
 * Every call carries "Authorization: Bearer <token>", the content of the
 * token_file= (read when nginx reads its configuration), compared in
 * constant time.  What it changes are the operator overrides of the zone
 * (ngx_http_farm_override.c); every change is logged at "notice" with the
 * client's address.  The module also keeps the ejection timer of each farm
 * in every worker, and the access log variables of ngx_http_farm_logvar.c.
 */


#include "ngx_http_farm_status.h"
#include "ngx_http_farm_queue.h"
#include "ngx_http_farm_sync.h"
#include "ngx_http_farm_override_sync.h"
#include "ngx_http_farm_admin.h"

#include <jansson.h>


#define NGX_HTTP_FARM_ADMIN_BODY       16384
#define NGX_HTTP_FARM_ADMIN_TOKEN      4096
#define NGX_HTTP_FARM_ADMIN_TICK       500      /* ms, ejection ends */
#define NGX_HTTP_FARM_ADMIN_MAX_EJECT  86400    /* seconds */


typedef struct {
    ngx_flag_t                     enabled;
    ngx_flag_t                     write_registry;
    ngx_str_t                      token;
} ngx_http_farm_admin_loc_conf_t;


static void *ngx_http_farm_admin_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_farm_admin_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_farm_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_farm_admin_init_process(ngx_cycle_t *cycle);
static void ngx_http_farm_admin_tick(ngx_event_t *ev);
static ngx_int_t ngx_http_farm_admin_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_admin_authorized(ngx_http_request_t *r,
    ngx_http_farm_admin_loc_conf_t *alcf);
static ngx_int_t ngx_http_farm_admin_parse(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path);
static void ngx_http_farm_admin_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_admin_mutate(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, json_t *body);
static ngx_int_t ngx_http_farm_admin_pools(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_admin_agents(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path);
static ngx_int_t ngx_http_farm_admin_not_allowed(ngx_http_request_t *r,
    char *allow);


static ngx_command_t  ngx_http_farm_admin_commands[] = {

    { ngx_string("farm_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_farm_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_farm_admin_module_ctx = {
    ngx_http_farm_logvar_add,              /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_farm_admin_create_loc_conf,   /* create location configuration */
    ngx_http_farm_admin_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_farm_admin_module = {
    NGX_MODULE_V1,
    &ngx_http_farm_admin_module_ctx,       /* module context */
    ngx_http_farm_admin_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_farm_admin_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_farm_admin_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_farm_admin_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_farm_admin_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    alcf->enabled = NGX_CONF_UNSET;

    return alcf;
}


static char *
ngx_http_farm_admin_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_farm_admin_loc_conf_t  *prev = parent;
    ngx_http_farm_admin_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);

    return NGX_CONF_OK;
}


/*
 * farm_admin token_file=PATH: the token is the file's content, trailing
 * white space stripped; a missing, unreadable or empty file fails the
 * configuration.  There is no default token.
 */

static char *
ngx_http_farm_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_farm_admin_loc_conf_t  *alcf = conf;

    u_char                    *buf;
    ssize_t                    n;
    ngx_fd_t                   fd;
    ngx_str_t                 *value, path;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    if (alcf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path.len = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "token_file=", 11) == 0) {
            path.data = value[i].data + 11;
            path.len = value[i].len - 11;
            continue;
        }

        if (ngx_strcmp(value[i].data, "write=registry") == 0) {
            alcf->write_registry = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of \"farm_admin\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (path.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"farm_admin\" needs token_file=: the admin API "
                           "has no default token");
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "farm_admin: cannot open token_file \"%V\"",
                           &path);
        return NGX_CONF_ERROR;
    }

    buf = ngx_pnalloc(cf->pool, NGX_HTTP_FARM_ADMIN_TOKEN + 1);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, NGX_HTTP_FARM_ADMIN_TOKEN + 1);
    ngx_close_file(fd);

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "farm_admin: cannot read token_file \"%V\"",
                           &path);
        return NGX_CONF_ERROR;
    }

    if (n > NGX_HTTP_FARM_ADMIN_TOKEN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "farm_admin: token_file \"%V\" is over %d bytes",
                           &path, NGX_HTTP_FARM_ADMIN_TOKEN);
        return NGX_CONF_ERROR;
    }

    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                 || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    {
        n--;
    }

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "farm_admin: token_file \"%V\" is empty", &path);
        return NGX_CONF_ERROR;
    }

    alcf->token.data = buf;
    alcf->token.len = n;
    alcf->enabled = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_farm_admin_handler;

    return NGX_CONF_OK;
}


/*
 * Every worker ends the ejections that are due, every
 * NGX_HTTP_FARM_ADMIN_TICK ms: an O(1) look at the zone's next_expire
 * unless one is due.  The sync owner also rebuilds the hash tables a
 * weight override left stale.
 */

static ngx_int_t
ngx_http_farm_admin_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_event_t                *ev;
    ngx_http_farm_srv_conf_t  **farm;
    ngx_http_farm_main_conf_t  *fmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    fmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_farm_module);
    if (fmcf == NULL) {
        return NGX_OK;
    }

    farm = fmcf->farms.elts;

    for (i = 0; i < fmcf->farms.nelts; i++) {
        ev = ngx_pcalloc(cycle->pool, sizeof(ngx_event_t));
        if (ev == NULL) {
            return NGX_OK;
        }

        ev->handler = ngx_http_farm_admin_tick;
        ev->data = farm[i];
        ev->log = cycle->log;
        ev->cancelable = 1;

        ngx_add_timer(ev, NGX_HTTP_FARM_ADMIN_TICK);
    }

    return NGX_OK;
}


static void
ngx_http_farm_admin_tick(ngx_event_t *ev)
{
    ngx_http_farm_srv_conf_t *fcf = ev->data;

    ngx_uint_t              i, n;
    ngx_http_farm_zone_t    z;
    ngx_http_farm_agent_t  *changed[16];

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_farm_zone_get(fcf, &z);

    /* an unlocked look: nothing is due in nearly every tick */

    if (z.sh->next_expire
        && (ngx_msec_int_t) (z.sh->next_expire - ngx_current_msec) <= 0)
    {
        ngx_shmtx_lock(&z.shpool->mutex);

        n = ngx_http_farm_override_expire_locked(&z, changed, 16);

        for (i = 0; i < 16 && changed[i]; i++) {
            ngx_http_farm_queue_dispatch_locked(&z, changed[i]);
        }

        ngx_shmtx_unlock(&z.shpool->mutex);

        if (n) {
            ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                          "farm admin: %ui ejection(s) in pool \"%V\" ended",
                          n, &fcf->uscf->host);
        }
    }

    if (z.sh->hash_dirty && ngx_http_farm_sync_is_owner(fcf)) {
        (void) ngx_http_farm_zone_rebuild_hash(&z);
    }

    ngx_add_timer(ev, NGX_HTTP_FARM_ADMIN_TICK);
}


/*
 * The bearer token, compared in constant time: the time taken depends on
 * the configured token's length only, never on where the given one
 * differs.
 */

static ngx_int_t
ngx_http_farm_admin_authorized(ngx_http_request_t *r,
    ngx_http_farm_admin_loc_conf_t *alcf)
{
    u_char      *given;
    size_t       len, i;
    ngx_uint_t   diff;

    if (r->headers_in.authorization == NULL) {
        return 0;
    }

    given = r->headers_in.authorization->value.data;
    len = r->headers_in.authorization->value.len;

    if (len < 7 || ngx_strncasecmp(given, (u_char *) "Bearer ", 7) != 0) {
        return 0;
    }

    given += 7;
    len -= 7;

    diff = (len != alcf->token.len);

    for (i = 0; i < alcf->token.len; i++) {
        diff |= alcf->token.data[i] ^ (i < len ? given[i] : 0);
    }

    return diff == 0;
}


/* Splits the path after the location's prefix; NGX_DECLINED: 404. */

static ngx_int_t
ngx_http_farm_admin_parse(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path)
{
    u_char                     *p, *last, *seg[5];
    size_t                      len[5];
    ngx_uint_t                  i, n;
    ngx_http_farm_srv_conf_t  **farm;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_farm_main_conf_t  *fmcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data;
    last = r->uri.data + r->uri.len;

    if (r->uri.len < clcf->name.len) {
        return NGX_DECLINED;
    }

    p += clcf->name.len;

    n = 0;

    while (p < last) {
        while (p < last && *p == '/') {
            p++;
        }

        if (p == last) {
            break;
        }

        if (n == 5) {
            return NGX_DECLINED;
        }

        seg[n] = p;

        while (p < last && *p != '/') {
            p++;
        }

        len[n] = p - seg[n];
        n++;
    }

    if (n == 0 || len[0] != 5 || ngx_strncmp(seg[0], "pools", 5) != 0) {
        return NGX_DECLINED;
    }

    if (n == 1) {
        path->what = NGX_HTTP_FARM_ADMIN_POOLS;
        return NGX_OK;
    }

    if (n < 3 || len[2] != 6 || ngx_strncmp(seg[2], "agents", 6) != 0) {
        return NGX_DECLINED;
    }

    path->pool.data = seg[1];
    path->pool.len = len[1];

    if (n == 3) {
        path->what = NGX_HTTP_FARM_ADMIN_AGENTS;

    } else {
        path->id.data = seg[3];
        path->id.len = len[3];

        if (n == 4) {
            path->what = NGX_HTTP_FARM_ADMIN_AGENT;

        } else if (len[4] == 5 && ngx_strncmp(seg[4], "eject", 5) == 0) {
            path->what = NGX_HTTP_FARM_ADMIN_EJECT;

        } else {
            return NGX_DECLINED;
        }
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_module);
    farm = fmcf->farms.elts;

    for (i = 0; i < fmcf->farms.nelts; i++) {
        if (farm[i]->uscf->host.len == path->pool.len
            && ngx_strncmp(farm[i]->uscf->host.data, path->pool.data,
                           path->pool.len) == 0)
        {
            path->fcf = farm[i];
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_farm_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                        value;
    ngx_http_farm_admin_path_t      *path;
    ngx_http_farm_admin_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_admin_module);

    if (!ngx_http_farm_admin_authorized(r, alcf)) {
        ngx_str_set(&value, "Bearer realm=\"farm\"");

        if (ngx_http_farm_add_header(r, "WWW-Authenticate", &value) == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_farm_admin_error(r, NGX_HTTP_UNAUTHORIZED,
                                         "a valid bearer token is needed");
    }

    path = ngx_pcalloc(r->pool, sizeof(ngx_http_farm_admin_path_t));
    if (path == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_farm_admin_parse(r, path) != NGX_OK) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_farm_admin_error(r, NGX_HTTP_NOT_FOUND,
                                         "no such pool or path");
    }

    ngx_http_set_ctx(r, path, ngx_http_farm_admin_module);

    switch (path->what) {

    case NGX_HTTP_FARM_ADMIN_POOLS:
    case NGX_HTTP_FARM_ADMIN_AGENTS:

        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_farm_admin_not_allowed(r, "GET, HEAD");
        }

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return (path->what == NGX_HTTP_FARM_ADMIN_POOLS)
               ? ngx_http_farm_admin_pools(r)
               : ngx_http_farm_admin_agents(r, path);

    case NGX_HTTP_FARM_ADMIN_AGENT:

        if (r->method != NGX_HTTP_PATCH) {
            return ngx_http_farm_admin_not_allowed(r, "PATCH");
        }

        break;

    default: /* NGX_HTTP_FARM_ADMIN_EJECT */

        if (r->method == NGX_HTTP_DELETE) {
            rc = ngx_http_discard_request_body(r);
            if (rc != NGX_OK) {
                return rc;
            }

            return ngx_http_farm_admin_mutate(r, path, NULL);
        }

        if (r->method != NGX_HTTP_POST) {
            return ngx_http_farm_admin_not_allowed(r, "POST, DELETE");
        }

        break;
    }

    /* PATCH and POST: a JSON body */

    if (r->headers_in.content_type == NULL
        || r->headers_in.content_type->value.len < 16
        || ngx_strncasecmp(r->headers_in.content_type->value.data,
                           (u_char *) "application/json", 16) != 0)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_farm_admin_error(r,
                                     NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "Content-Type: must be application/json");
    }

    if (r->headers_in.content_length_n > NGX_HTTP_FARM_ADMIN_BODY) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_farm_admin_error(r,
                                         NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "body: over 16384 bytes");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_farm_admin_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_farm_admin_body(ngx_http_request_t *r)
{
    u_char                      *data, *p;
    size_t                       len;
    json_t                      *body;
    ngx_int_t                    rc;
    ngx_chain_t                 *cl;
    json_error_t                 err;
    ngx_http_farm_admin_path_t  *path;

    path = ngx_http_get_module_ctx(r, ngx_http_farm_admin_module);

    if (r->request_body == NULL || r->request_body->temp_file) {
        ngx_http_finalize_request(r, ngx_http_farm_admin_error(r,
                                  NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "body: over 16384 bytes"));
        return;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > NGX_HTTP_FARM_ADMIN_BODY) {
        ngx_http_finalize_request(r, ngx_http_farm_admin_error(r,
                                  NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "body: over 16384 bytes"));
        return;
    }

    data = ngx_pnalloc(r->pool, len + 1);
    if (data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    body = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES, &err);

    if (body == NULL || !json_is_object(body)) {
        if (body) {
            json_decref(body);
        }

        ngx_http_finalize_request(r, ngx_http_farm_admin_error(r,
                                  NGX_HTTP_BAD_REQUEST,
                                  "body: must be a JSON object"));
        return;
    }

    rc = ngx_http_farm_admin_mutate(r, path, body);

    json_decref(body);

    ngx_http_finalize_request(r, rc);
}


/*
 * Applies one change to an agent's override and answers with the agent.
 * body is NULL for DELETE .../eject.  Checks everything before it changes
 * anything: a 400 changes nothing.
 */

static ngx_int_t
ngx_http_farm_admin_mutate(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path, json_t *body)
{
    json_t                          *v;
    ngx_int_t                        mode, weight, seconds, rc;
    ngx_uint_t                       full;
    const char                      *key;
    ngx_http_farm_zone_t             z;
    ngx_http_farm_agent_t           *a;
    ngx_http_farm_override_t        *ov;
    ngx_http_farm_admin_loc_conf_t  *alcf;

    mode = -1;
    weight = -1;
    seconds = -1;

    if (path->what == NGX_HTTP_FARM_ADMIN_AGENT) {

        if (json_object_size(body) == 0) {
            return ngx_http_farm_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                             "body: give mode and/or "
                                             "weight");
        }

        json_object_foreach(body, key, v) {

            if (ngx_strcmp(key, "mode") == 0) {
                if (!json_is_string(v)) {
                    goto bad_mode;
                }

                if (ngx_strcmp(json_string_value(v), "active") == 0) {
                    mode = NGX_HTTP_FARM_MODE_ACTIVE;

                } else if (ngx_strcmp(json_string_value(v), "draining") == 0) {
                    mode = NGX_HTTP_FARM_MODE_DRAINING;

                } else if (ngx_strcmp(json_string_value(v), "maintenance")
                           == 0)
                {
                    mode = NGX_HTTP_FARM_MODE_MAINTENANCE;

                } else {
                    goto bad_mode;
                }

            } else if (ngx_strcmp(key, "weight") == 0) {
                if (json_is_null(v)) {
                    weight = 0;

                } else if (json_is_integer(v)
                           && json_integer_value(v) >= 0
                           && json_integer_value(v) <= FARM_WEIGHT_MAX)
                {
                    weight = (ngx_int_t) json_integer_value(v);

                } else {
                    return ngx_http_farm_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                 "weight: must be an integer from 1 to 1000, "
                                 "or 0 or null for the agent's own");
                }

            } else {
                return ngx_http_farm_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                 "body: unknown field; give "
                                                 "mode and/or weight");
            }
        }

    } else if (body) {
        v = json_object_get(body, "seconds");

        if (json_object_size(body) != 1 || !json_is_integer(v)
            || json_integer_value(v) < 1
            || json_integer_value(v) > NGX_HTTP_FARM_ADMIN_MAX_EJECT)
        {
            return ngx_http_farm_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                             "seconds: must be an integer "
                                             "from 1 to 86400");
        }

        seconds = (ngx_int_t) json_integer_value(v);

    } else {
        seconds = 0;
    }

    ngx_http_farm_zone_get(path->fcf, &z);

    ngx_shmtx_lock(&z.shpool->mutex);

    a = ngx_http_farm_agent_lookup_locked(&z, path->id.data, path->id.len);

    if (a == NULL) {
        ngx_shmtx_unlock(&z.shpool->mutex);
        return ngx_http_farm_admin_error(r, NGX_HTTP_NOT_FOUND,
                                         "agent: not registered in this pool");
    }

    ov = (a->override != NGX_HTTP_FARM_NONE32)
         ? &z.sh->overrides[a->override] : NULL;

    full = (ov == NULL && z.sh->noverrides >= NGX_HTTP_FARM_MAX_OVERRIDES);

    path->old_mode = ov ? ov->mode : NGX_HTTP_FARM_MODE_ACTIVE;
    path->old_weight = ov ? ov->weight : 0;
    path->old_until = ov ? ov->ejected_until : 0;

    ngx_shmtx_unlock(&z.shpool->mutex);

    path->mode = (mode == -1) ? path->old_mode : (ngx_uint_t) mode;
    path->weight = (weight == -1) ? path->old_weight : (uint32_t) weight;
    path->seconds = seconds;

    if (seconds > 0) {
        path->until = ngx_current_msec + (ngx_msec_t) seconds * 1000;

        if (path->until == 0) {
            path->until = 1;
        }

    } else {
        path->until = (seconds == 0) ? 0 : path->old_until;
    }

    if (full && (path->mode != NGX_HTTP_FARM_MODE_ACTIVE || path->weight
                 || path->until))
    {
        return ngx_http_farm_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "the pool's table of overrides "
                                         "is full (1024 agents)");
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_farm_admin_module);
    path->registry = alcf->write_registry;

    if (!alcf->write_registry) {
        return ngx_http_farm_admin_commit(r, path, NGX_HTTP_FARM_OV_LOCAL);
    }

    if (path->fcf->url.type == FARM_URL_REDIS
        || path->fcf->url.type == FARM_URL_CONSUL)
    {
        rc = (path->fcf->url.type == FARM_URL_REDIS)
             ? ngx_http_farm_admin_write_redis(r, path)
             : ngx_http_farm_admin_write_consul(r, path);

        if (rc == NGX_DONE) {
            r->main->count++;
            return NGX_DONE;
        }

        return ngx_http_farm_admin_failed(r, path, "cannot connect");
    }

    if (path->fcf->builtin == NULL) {
        return ngx_http_farm_admin_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                                         "registry: write=registry needs a "
                                         "pool with a registry");
    }

    /* the built-in registry: this gateway, and its overrides file */

    rc = ngx_http_farm_admin_apply(r, path, NGX_HTTP_FARM_OV_REGISTRY);

    if (rc != NGX_OK || path->fcf->state.len == 0) {
        return ngx_http_farm_admin_answer(r, path, rc);
    }

    if (ngx_http_farm_override_file_save(path->fcf, r->connection->log)
        != NGX_OK)
    {
        /* undone: the file and the zone keep agreeing */

        path->mode = path->old_mode;
        path->weight = path->old_weight;
        path->until = path->old_until;

        (void) ngx_http_farm_admin_apply(r, path, NGX_HTTP_FARM_OV_REGISTRY);

        return ngx_http_farm_admin_failed(r, path,
                                          "cannot write the overrides file");
    }

    return ngx_http_farm_admin_answer(r, path, rc);

bad_mode:

    return ngx_http_farm_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                     "mode: must be active, draining or "
                                     "maintenance");
}


/* GET <prefix>/pools: each pool's counts, O(1) each. */

static ngx_int_t
ngx_http_farm_admin_pools(ngx_http_request_t *r)
{
    u_char                      *p;
    ngx_uint_t                   i;
    ngx_http_farm_zone_t         z;
    ngx_http_farm_srv_conf_t   **farm;
    ngx_http_farm_main_conf_t   *fmcf;
    ngx_http_farm_status_out_t   out;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_farm_module);
    farm = fmcf->farms.elts;

    out.request = r;
    out.first = NULL;
    out.last = NULL;
    out.total = 0;

    p = ngx_http_farm_status_reserve(&out, 16);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(p, "{\"pools\":[", 10);
    ngx_http_farm_status_commit(&out, p);

    for (i = 0; i < fmcf->farms.nelts; i++) {
        p = ngx_http_farm_status_reserve(&out, 512 + farm[i]->uscf->host.len
                                               + farm[i]->service.len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_farm_zone_get(farm[i], &z);

        ngx_shmtx_lock(&z.shpool->mutex);

        p = ngx_sprintf(p, "%s{\"name\":\"%V\",\"service\":\"%V\","
                        "\"agents\":%uD,\"up\":%ui,\"unchecked\":%ui,"
                        "\"breakers_open\":%ui,\"overrides\":%uD,"
                        "\"waiting\":%uD,\"registry_up\":%s}",
                        i ? "," : "", &farm[i]->uscf->host,
                        &farm[i]->service, z.sh->nagents, z.sh->eligible,
                        z.sh->unchecked, z.sh->ejected, z.sh->noverrides,
                        z.sh->qlen, z.sh->registry_up ? "true" : "false");

        ngx_shmtx_unlock(&z.shpool->mutex);

        ngx_http_farm_status_commit(&out, p);
    }

    p = ngx_http_farm_status_reserve(&out, 4);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(p, "]}\n", 3);
    ngx_http_farm_status_commit(&out, p);

    return ngx_http_farm_status_send(r, &out, NGX_HTTP_OK);
}


/* GET <prefix>/pools/<pool>/agents: as farm_status lists them. */

static ngx_int_t
ngx_http_farm_admin_agents(ngx_http_request_t *r,
    ngx_http_farm_admin_path_t *path)
{
    u_char                       *p;
    ngx_http_farm_status_out_t    out;
    ngx_http_farm_status_list_t   list;

    if (ngx_http_farm_status_list_args(r, &list) != NGX_OK) {
        return ngx_http_farm_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                         "limit, offset: must be integers");
    }

    out.request = r;
    out.first = NULL;
    out.last = NULL;
    out.total = 0;

    p = ngx_http_farm_status_reserve(&out, 64 + path->pool.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(p, "{\"pool\":\"%V\",\"agents\":[", &path->pool);
    ngx_http_farm_status_commit(&out, p);

    if (ngx_http_farm_status_agents(&out, path->fcf, &list) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_farm_status_reserve(&out, 64);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(p, "],\"total\":%ui,\"offset\":%ui,\"limit\":%ui}\n",
                    list.seen, list.offset, list.limit);
    ngx_http_farm_status_commit(&out, p);

    return ngx_http_farm_status_send(r, &out, NGX_HTTP_OK);
}


/* {"error":"<text>"}: our own fixed texts, without quotes or backslashes */

ngx_int_t
ngx_http_farm_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *text)
{
    u_char                      *p;
    ngx_http_farm_status_out_t   out;

    out.request = r;
    out.first = NULL;
    out.last = NULL;
    out.total = 0;

    p = ngx_http_farm_status_reserve(&out, ngx_strlen(text) + 16);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(p, "{\"error\":\"%s\"}\n", text);
    ngx_http_farm_status_commit(&out, p);

    return ngx_http_farm_status_send(r, &out, status);
}


static ngx_int_t
ngx_http_farm_admin_not_allowed(ngx_http_request_t *r, char *allow)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    value.data = (u_char *) allow;
    value.len = ngx_strlen(allow);

    if (ngx_http_farm_add_header(r, "Allow", &value) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_farm_admin_error(r, NGX_HTTP_NOT_ALLOWED,
                                     "method not allowed on this path");
}
