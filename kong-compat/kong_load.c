/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Loading a Kong declarative configuration: the file and its top-level
 * keys, the references between entities, the uniqueness rules that need
 * them, the skip-invalid mode, the configuration handed to the router, and
 * the error list (FILE:LINE:COLUMN: path: message, sorted by position).
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kong_schema.h"


#define KONG_FILE_MAX      (256 * 1024 * 1024)


/* ---- references, uniqueness of plugins ----------------------------------- */

/* A node that only says where, for an error about what was kept. */
static const kong_node_t *
kong_at(kong_node_t *n, kong_pos_t pos)
{
    memset(n, 0, sizeof(kong_node_t));
    n->line = pos.line;
    n->col = pos.col;

    return n;
}


static void *
kong_lookup(kong_ctx_t *ctx, int type, const char *key)
{
    void    *v;
    size_t   len;

    len = strlen(key);

    v = kong_map_get(&ctx->names[type], key, len);
    if (v == NULL) {
        v = kong_map_get(&ctx->ids[type], key, len);
    }

    return v;
}


static void
kong_resolve(kong_ctx_t *ctx)
{
    static const char *const  what[] = {
        "", "service", "upstream", "route", "service", "consumer", "consumer",
        "ca_certificates"
    };
    static const int  target_type[] = {
        0, KONG_ENT_SERVICE, KONG_ENT_UPSTREAM, KONG_ENT_ROUTE,
        KONG_ENT_SERVICE, KONG_ENT_CONSUMER, KONG_ENT_CONSUMER, KONG_ENT_CA
    };

    size_t           i, plen;
    void            *ent;
    kong_ref_t      *r;
    kong_node_t      at;
    const char      *key;

    for (i = 0; i < ctx->nrefs; i++) {
        r = &ctx->refs[i];
        key = r->str;
        ent = kong_lookup(ctx, target_type[r->kind], key);

        if (ent == NULL) {
            plen = ctx->plen;
            ctx->cur = r->entity;
            snprintf(ctx->path, sizeof(ctx->path), "%s", r->path);
            ctx->plen = strlen(ctx->path);
            kong_err(ctx, kong_at(&at, r->pos), "invalid reference '%s: %s' (no such "
                     "entry in '%s')", what[r->kind], key,
                     kong_entity_names[target_type[r->kind]]);
            kong_pop(ctx, plen);
            ctx->cur = 0;
            continue;
        }

        switch (r->kind) {
        case KONG_REF_ROUTE_SERVICE:
            ((kong_route_t *) r->from)->service = ent;
            break;
        case KONG_REF_TARGET_UPSTREAM:
            ((kong_target_t *) r->from)->upstream = ent;
            break;
        case KONG_REF_PLUGIN_ROUTE:
            ((kong_plugin_t *) r->from)->route = ent;
            break;
        case KONG_REF_PLUGIN_SERVICE:
            ((kong_plugin_t *) r->from)->service = ent;
            break;
        case KONG_REF_PLUGIN_CONSUMER:
            ((kong_plugin_t *) r->from)->consumer = ent;
            break;
        case KONG_REF_CRED_CONSUMER:
            ((kong_credential_t *) r->from)->consumer = ent;
            break;
        case KONG_REF_SERVICE_CA:
            *(kong_ca_certificate_t **) r->from = ent;
            break;
        }
    }
}


/* ---- the file ------------------------------------------------------------ */

static const char *const  kong_rejected[][2] = {
    { "certificates", "TLS certificates and keys are configured in nginx "
                      "(ssl_certificate)" },
    { "snis", "TLS certificates and keys are configured in nginx "
              "(ssl_certificate)" },
    { "vaults", "secret references are not supported" },
    { "key_sets", "keys are not supported" },
    { "keys", "keys are not supported" },
    { "filter_chains", "WebAssembly filters are not supported" },
    { "workspaces", "workspaces are not supported" },
    { "parameters", "parameters are not supported" },
    { "clustering_data_planes", "hybrid mode is not supported" },
    { NULL, NULL }
};


/* The i-th entity of the top-level key, at ctx->path "key[i]". */
static void
kong_entity(kong_ctx_t *ctx, const char *key, const kong_node_t *item)
{
    ctx->cur = 0;

    if (kong_record(ctx, item) == 0) {
        if (strcmp(key, "services") == 0) {
            kong_service(ctx, item);

        } else if (strcmp(key, "routes") == 0) {
            kong_route(ctx, item, NULL);

        } else if (strcmp(key, "upstreams") == 0) {
            kong_upstream(ctx, item);

        } else if (strcmp(key, "targets") == 0) {
            kong_target(ctx, item, NULL);

        } else if (strcmp(key, "consumers") == 0) {
            kong_consumer(ctx, item);

        } else if (strcmp(key, "plugins") == 0) {
            kong_plugin(ctx, item, 0, NULL);

        } else if (strcmp(key, "ca_certificates") == 0) {
            kong_ca_certificate(ctx, item);

        } else {
            kong_credential(ctx, item,
                            kong_credential_entities[
                                kong_in_list(key, strlen(key),
                                             kong_credential_entities)],
                            NULL);
        }
    }

    ctx->cur = 0;
}


static void
kong_entities(kong_ctx_t *ctx, const kong_node_t *v, const char *key)
{
    size_t        i, mark;
    kong_node_t  *a;

    a = kong_records(ctx, v);

    for (i = 0; a && i < a->n && !ctx->oom; i++) {
        mark = kong_push_index(ctx, i);
        kong_entity(ctx, key, a->items[i]);
        kong_pop(ctx, mark);
    }
}


static int
kong_is_entities(const kong_node_t *key)
{
    static const char *const  entities[] = {
        "services", "routes", "upstreams", "targets", "consumers", "plugins",
        "ca_certificates", NULL
    };

    return kong_in_list(key->str, key->len, entities) >= 0
           || kong_in_list(key->str, key->len, kong_credential_entities) >= 0;
}


/*
 * The parser asks, when a top-level list starts, whether to hand its items
 * over one by one: yes for a list of entities once "_format_version" is
 * known and valid (the schemas depend on it), for as long as every list
 * of entities so far could be, so that entities are recorded in file order.
 */
static int
kong_stream_want(void *data, const kong_node_t *root, const kong_node_t *key,
    int streamable)
{
    static const char *const  versions[] = { "1.1", "2.1", "3.0", NULL };

    int                 k;
    kong_ctx_t         *ctx;
    const kong_node_t  *v;

    ctx = data;

    if (!kong_is_entities(key) || ctx->stream_off) {
        return 0;
    }

    v = kong_node_get(root, "_format_version");

    if (!streamable || v == NULL || !kong_is_str(v)
        || (k = kong_in_list(v->str, v->len, versions)) < 0)
    {
        ctx->stream_off = 1;
        return 0;
    }

    ctx->legacy = k < 2;

    return 1;
}


static int
kong_stream_item(void *data, const kong_node_t *key, size_t index,
    const kong_node_t *item)
{
    int          keep;
    size_t       mark;
    kong_ctx_t  *ctx;

    ctx = data;

    mark = kong_push(ctx, key->str);
    kong_push_index(ctx, index);
    kong_entity(ctx, key->str, item);
    kong_pop(ctx, mark);

    keep = ctx->keep;
    ctx->keep = 0;

    return ctx->oom ? -1 : keep;
}


static void
kong_top(kong_ctx_t *ctx, const kong_node_t *root)
{
    static const char *const  versions[] = { "1.1", "2.1", "3.0", NULL };

    int           k;
    size_t        i, j, mark;
    char          buf[64];
    kong_node_t  *key, *v;

    if (root == NULL || root->type != KONG_NODE_MAP) {
        kong_err(ctx, root, "failed parsing declarative configuration: "
                 "expected an object");
        ctx->fatal = 1;
        return;
    }

    v = kong_node_get(root, "_format_version");

    if (kong_node_is_null(v)) {
        kong_ferr(ctx, root, "_format_version", "required field missing");
        ctx->fatal = 1;
        return;
    }

    if (!kong_is_str(v)) {
        kong_ferr(ctx, v, "_format_version", "expected a string");
        ctx->fatal = 1;
        return;
    }

    k = kong_in_list(v->str, v->len, versions);

    if (k < 0) {
        kong_ferr(ctx, v, "_format_version", "expected one of: %s",
                  kong_join(buf, sizeof(buf), versions));
        ctx->fatal = 1;
        return;
    }

    ctx->legacy = k < 2;

    ctx->cfg->transform = 1;
    kong_get_bool(ctx, root, "_transform", &ctx->cfg->transform);

    for (i = 0; i < root->n && !ctx->oom; i++) {
        key = root->keys[i];
        v = root->items[i];

        if (strcmp(key->str, "_format_version") == 0
            || strcmp(key->str, "_transform") == 0)
        {
            continue;
        }

        if (strcmp(key->str, "_comment") == 0) {
            if (!kong_node_is_null(v) && !kong_is_str(v)) {
                kong_ferr(ctx, v, "_comment", "expected a string");
            }

            continue;
        }

        if (strcmp(key->str, "_ignore") == 0) {
            if (!kong_node_is_null(v) && v->type != KONG_NODE_SEQ) {
                kong_ferr(ctx, v, "_ignore", "expected an array");
            }

            continue;
        }

        if (v->streamed) {
            continue;       /* checked while parsing */
        }

        mark = kong_push(ctx, key->str);

        if (kong_is_entities(key)) {
            kong_entities(ctx, v, key->str);
            kong_pop(ctx, mark);
            continue;
        }

        for (j = 0; kong_rejected[j][0]; j++) {
            if (strcmp(kong_rejected[j][0], key->str) == 0) {
                break;
            }
        }

        if (kong_rejected[j][0] == NULL) {
            kong_err(ctx, key, "unknown field");

        } else if (!kong_node_is_null(v)
                   && !(v->type == KONG_NODE_SEQ && v->n == 0))
        {
            kong_err(ctx, key, "'%s' entities are not supported by this "
                     "gateway: %s", key->str, kong_rejected[j][1]);
        }

        kong_pop(ctx, mark);
    }
}


static int
kong_ent_bad(kong_ctx_t *ctx, void *ptr)
{
    kong_ent_t  *e;

    e = kong_map_get(&ctx->by_ptr, (const char *) &ptr, sizeof(void *));

    return e != NULL && e->bad;
}


/* Whether an entity depends on an invalid one (skip mode). */
static int
kong_cascade(kong_ctx_t *ctx, size_t i)
{
    kong_ent_t         *e;
    kong_route_t       *r;
    kong_target_t      *t;
    kong_plugin_t      *p;
    kong_credential_t  *c;
    kong_service_t     *s;
    size_t              k;

#define BAD(ptr)  ((ptr) != NULL && kong_ent_bad(ctx, ptr))

    e = &ctx->ents[i];

    if (e->parent && ctx->ents[e->parent - 1].bad) {
        return 1;
    }

    switch (e->type) {
    case KONG_ENT_SERVICE:
        s = e->ptr;
        for (k = 0; k < s->nca_certificates; k++) {
            if (BAD(s->ca_certificates[k])) {
                return 1;
            }
        }
        return 0;
    case KONG_ENT_ROUTE:
        r = e->ptr;
        return BAD(r->service);
    case KONG_ENT_TARGET:
        t = e->ptr;
        return BAD(t->upstream);
    case KONG_ENT_PLUGIN:
        p = e->ptr;
        return BAD(p->route) || BAD(p->service) || BAD(p->consumer);
    case KONG_ENT_CRED:
        c = e->ptr;
        return BAD(c->consumer);
    }

#undef BAD

    return 0;
}


static void
kong_ent_error(kong_ctx_t *ctx, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
kong_ent_error(kong_ctx_t *ctx, size_t i, const char *fmt, ...)
{
    va_list       ap;
    kong_ent_t   *e;
    kong_node_t   at;

    e = &ctx->ents[i];
    ctx->cur = i + 1;
    snprintf(ctx->path, sizeof(ctx->path), "%s", e->path);
    ctx->plen = strlen(ctx->path);

    va_start(ap, fmt);
    kong_errv(ctx, kong_at(&at, e->pos), NULL, fmt, ap);
    va_end(ap);

    kong_pop(ctx, 0);
    ctx->cur = 0;
}


/* Uniqueness that depends on resolved references: plugins per scope,
 * targets per upstream. */
static void
kong_unique_late(kong_ctx_t *ctx)
{
    char             key[600];
    size_t           i;
    kong_ent_t      *e;
    kong_plugin_t   *p;
    kong_target_t   *t;
    char            *k;
    int              n;

    for (i = 0; i < ctx->nents && !ctx->oom; i++) {
        e = &ctx->ents[i];

        if (e->type == KONG_ENT_PLUGIN) {
            p = e->ptr;
            if (p->name == NULL) {
                continue;
            }

            n = snprintf(key, sizeof(key), "%p %p %p %s", (void *) p->route,
                         (void *) p->service, (void *) p->consumer, p->name);

            k = kong_pstrndup(ctx->work, key, (size_t) n);
            if (k == NULL) {
                kong_oom(ctx);
                return;
            }

            if (kong_map_put(&ctx->plugin_keys, k, (size_t) n, p) == 1) {
                kong_ent_error(ctx, i, "uniqueness violation: 'plugins' "
                               "entity with name set to '%s' already "
                               "declared for the same route, service and "
                               "consumer", p->name);
            }

        } else if (e->type == KONG_ENT_TARGET) {
            t = e->ptr;
            if (t->host == NULL || t->upstream == NULL) {
                continue;
            }

            n = snprintf(key, sizeof(key), "%p %s %u", (void *) t->upstream,
                         t->host, t->port);

            k = kong_pstrndup(ctx->work, key, (size_t) n);
            if (k == NULL) {
                kong_oom(ctx);
                return;
            }

            if (kong_map_put(&ctx->targets, k, (size_t) n, t) == 1) {
                kong_ent_error(ctx, i, "uniqueness violation: 'targets' "
                               "entity with target set to '%s' already "
                               "declared in upstream '%s'", t->target,
                               t->upstream->name ? t->upstream->name : "");
            }
        }
    }
}


#define KONG_PUSH(arr, n, item)                                              \
    do {                                                                     \
        (arr)[(n)++] = (item);                                               \
    } while (0)


/* Fills the configuration's lists from the valid entities, in order. */
static int
kong_collect(kong_ctx_t *ctx)
{
    size_t            i, count[KONG_ENT_N];
    kong_ent_t       *e;
    kong_config_t    *cfg;
    kong_plugin_t    *p;
    kong_service_t   *s;
    kong_upstream_t  *u;
    kong_target_t    *t, **tl;

    cfg = ctx->cfg;
    memset(count, 0, sizeof(count));

    for (i = 0; i < ctx->nents; i++) {
        if (!ctx->ents[i].bad) {
            count[ctx->ents[i].type]++;
        }
    }

    cfg->services = kong_palloc(ctx->pool, (count[KONG_ENT_SERVICE] + 1)
                                           * sizeof(void *));
    cfg->routes = kong_palloc(ctx->pool, (count[KONG_ENT_ROUTE] + 1)
                                         * sizeof(void *));
    cfg->upstreams = kong_palloc(ctx->pool, (count[KONG_ENT_UPSTREAM] + 1)
                                            * sizeof(void *));
    cfg->targets = kong_palloc(ctx->pool, (count[KONG_ENT_TARGET] + 1)
                                          * sizeof(void *));
    cfg->consumers = kong_palloc(ctx->pool, (count[KONG_ENT_CONSUMER] + 1)
                                            * sizeof(void *));
    cfg->credentials = kong_palloc(ctx->pool, (count[KONG_ENT_CRED] + 1)
                                              * sizeof(void *));
    cfg->ca_certificates = kong_palloc(ctx->pool, (count[KONG_ENT_CA] + 1)
                                                  * sizeof(void *));

    if (cfg->services == NULL || cfg->routes == NULL
        || cfg->upstreams == NULL || cfg->targets == NULL
        || cfg->consumers == NULL || cfg->credentials == NULL
        || cfg->ca_certificates == NULL)
    {
        return -1;
    }

    for (i = 0; i < ctx->nents; i++) {
        e = &ctx->ents[i];
        if (e->bad) {
            continue;
        }

        switch (e->type) {

        case KONG_ENT_SERVICE:
            s = e->ptr;
            s->index = cfg->nservices;
            KONG_PUSH(cfg->services, cfg->nservices, s);
            break;

        case KONG_ENT_ROUTE:
            ((kong_route_t *) e->ptr)->index = cfg->nroutes;
            KONG_PUSH(cfg->routes, cfg->nroutes, e->ptr);
            break;

        case KONG_ENT_UPSTREAM:
            u = e->ptr;
            u->index = cfg->nupstreams;
            KONG_PUSH(cfg->upstreams, cfg->nupstreams, u);
            break;

        case KONG_ENT_TARGET:
            KONG_PUSH(cfg->targets, cfg->ntargets, e->ptr);
            break;

        case KONG_ENT_CONSUMER:
            ((kong_consumer_t *) e->ptr)->index = cfg->nconsumers;
            KONG_PUSH(cfg->consumers, cfg->nconsumers, e->ptr);
            break;

        case KONG_ENT_CRED:
            KONG_PUSH(cfg->credentials, cfg->ncredentials, e->ptr);
            break;

        case KONG_ENT_CA:
            ((kong_ca_certificate_t *) e->ptr)->index = cfg->nca_certificates;
            KONG_PUSH(cfg->ca_certificates, cfg->nca_certificates, e->ptr);
            break;

        case KONG_ENT_PLUGIN:
            p = e->ptr;
            kong_plugins_add(ctx, &cfg->plugins, p);

            if (p->route) {
                kong_plugins_add(ctx, &p->route->plugins, p);

            } else if (p->service) {
                kong_plugins_add(ctx, &p->service->plugins, p);

            } else if (p->consumer) {
                kong_plugins_add(ctx, &p->consumer->plugins, p);

            } else {
                kong_plugins_add(ctx, &cfg->global_plugins, p);
            }

            break;
        }
    }

    /* targets per upstream, in file order */
    for (i = 0; i < cfg->nupstreams; i++) {
        cfg->upstreams[i]->ntargets = 0;
    }

    for (i = 0; i < cfg->ntargets; i++) {
        cfg->targets[i]->upstream->ntargets++;
    }

    for (i = 0; i < cfg->nupstreams; i++) {
        u = cfg->upstreams[i];
        u->targets = kong_palloc(ctx->pool, (u->ntargets + 1)
                                            * sizeof(void *));
        if (u->targets == NULL) {
            return -1;
        }

        u->ntargets = 0;
    }

    for (i = 0; i < cfg->ntargets; i++) {
        t = cfg->targets[i];
        tl = t->upstream->targets;
        tl[t->upstream->ntargets++] = t;
    }

    for (i = 0; i < cfg->nupstreams; i++) {
        u = cfg->upstreams[i];

        if (u->algorithm == KONG_ALG_CONSISTENT_HASHING
            && kong_ring_build(ctx->pool, u) != 0)
        {
            return -1;
        }
    }

    /* a service whose host names an upstream goes through it */
    for (i = 0; i < cfg->nservices; i++) {
        s = cfg->services[i];
        u = kong_map_get(&ctx->names[KONG_ENT_UPSTREAM], s->host,
                         strlen(s->host));

        if (u && !kong_ent_bad(ctx, u)) {
            s->upstream = u;
        }
    }

    return ctx->oom ? -1 : 0;
}


static void
kong_errors_sort(kong_errors_t *errs)
{
    size_t        i, j;
    kong_error_t  e;

    /* insertion sort: stable, and there are at most KONG_ERRORS_MAX */
    for (i = 1; i < errs->n; i++) {
        e = errs->items[i];
        j = i;

        while (j > 0
               && (errs->items[j - 1].line > e.line
                   || (errs->items[j - 1].line == e.line
                       && errs->items[j - 1].col > e.col)))
        {
            errs->items[j] = errs->items[j - 1];
            j--;
        }

        errs->items[j] = e;
    }
}


static void
kong_errors_init(kong_errors_t *errs, const char *name)
{
    memset(errs, 0, sizeof(kong_errors_t));
    errs->file = strdup(name ? name : "kong.yml");
}


static void
kong_errors_add_plain(kong_errors_t *errs, unsigned line, unsigned col,
    const char *msg)
{
    kong_error_t  *e;

    e = kong_errors_slot(errs);
    if (e == NULL) {
        return;
    }

    e->line = line;
    e->col = col;
    e->path = strdup("");
    e->message = strdup(msg);

    if (e->path == NULL || e->message == NULL) {
        free(e->path);
        free(e->message);
        return;
    }

    errs->n++;
}


/* The maps that checked uniqueness and resolved references; kong_collect()
 * still needs the upstreams by name and, in skip mode, by_ptr. */
static void
kong_ctx_maps_free(kong_ctx_t *ctx)
{
    size_t  i;

    for (i = 0; i < KONG_ENT_N; i++) {
        if (i != KONG_ENT_UPSTREAM) {
            kong_map_free(&ctx->names[i]);
        }

        kong_map_free(&ctx->ids[i]);
    }

    for (i = 0; i < 4; i++) {
        kong_map_free(&ctx->cred_keys[i]);
    }

    kong_map_free(&ctx->custom_ids);
    kong_map_free(&ctx->targets);
    kong_map_free(&ctx->plugin_keys);
}


static void
kong_ctx_free(kong_ctx_t *ctx)
{
    kong_ctx_maps_free(ctx);
    kong_map_free(&ctx->names[KONG_ENT_UPSTREAM]);
    kong_map_free(&ctx->by_ptr);

    free(ctx->ents);
    free(ctx->refs);
    kong_pool_destroy(ctx->work);
    free(ctx);
}


/* text[0..len), or when text is NULL the file f, read as it is parsed */
static kong_config_t *
kong_load(const char *name, const char *text, size_t len, FILE *f,
    unsigned flags, kong_errors_t *errs)
{
    int             changed;
    char            msg[512];
    size_t          i;
    unsigned             line, col;
    kong_ctx_t          *ctx;
    kong_pool_t         *pool, *work;
    kong_node_t         *root;
    kong_config_t       *cfg;
    kong_yaml_stream_t   stream;

    kong_errors_init(errs, name);

    pool = kong_pool_create();
    work = kong_pool_create();
    ctx = calloc(1, sizeof(kong_ctx_t));

    if (pool == NULL || work == NULL || ctx == NULL) {
        kong_pool_destroy(pool);
        kong_pool_destroy(work);
        free(ctx);
        kong_errors_add_plain(errs, 0, 0, "out of memory");
        return NULL;
    }

    ctx->work = work;

    cfg = kong_palloc(pool, sizeof(kong_config_t));
    if (cfg == NULL) {
        goto oom;
    }

    cfg->pool = pool;
    cfg->file = kong_pstrndup(pool, errs->file ? errs->file : "kong.yml",
                              strlen(errs->file ? errs->file : "kong.yml"));

    ctx->pool = pool;
    ctx->cfg = cfg;
    ctx->errs = errs;
    ctx->flags = flags;

    /* what only the load needs is freed with ctx (kong_ctx_free) */
    for (i = 0; i < 8; i++) {
        kong_map_init(&ctx->names[i], NULL);
        kong_map_init(&ctx->ids[i], NULL);
    }

    kong_map_init(&ctx->custom_ids, NULL);
    kong_map_init(&ctx->targets, NULL);
    kong_map_init(&ctx->plugin_keys, NULL);
    kong_map_init(&ctx->by_ptr, NULL);

    for (i = 0; i < 4; i++) {
        kong_map_init(&ctx->cred_keys[i], NULL);
    }

    /* entities are checked as the parser finishes each (kong_stream_*) */
    stream.want = kong_stream_want;
    stream.item = kong_stream_item;
    stream.data = ctx;

    if (kong_yaml_parse(pool, pool, &stream, text, len, f, &root, msg,
                        sizeof(msg), &line, &col) != 0)
    {
        /* a file that is not YAML gets that error alone, as before
         * streaming: drop what the entities parsed so far said */
        kong_errors_free(errs);
        kong_errors_init(errs, name);
        kong_errors_add_plain(errs, line, col, msg);
        goto failed;
    }

    if (ctx->oom) {
        goto oom;
    }

    kong_top(ctx, root);

    if (ctx->oom) {
        goto oom;
    }

    if (ctx->fatal) {
        goto failed;
    }

    kong_resolve(ctx);
    kong_unique_late(ctx);

    if (ctx->oom) {
        goto oom;
    }

    if (errs->n || errs->dropped) {
        if (!(flags & KONG_LOAD_SKIP_INVALID)) {
            goto failed;
        }

        /* which entity a pointer is, for the cascade (without errors,
         * none is bad, and kong_ent_bad() needs no map) */
        for (i = 0; i < ctx->nents; i++) {
            if (kong_map_put(&ctx->by_ptr, (const char *) &ctx->ents[i].ptr,
                             sizeof(void *), &ctx->ents[i]) < 0)
            {
                goto oom;
            }
        }

        do {
            changed = 0;

            for (i = 0; i < ctx->nents; i++) {
                if (!ctx->ents[i].bad && kong_cascade(ctx, i)) {
                    ctx->ents[i].bad = 1;
                    changed = 1;
                }
            }

        } while (changed);
    }

    /* their room goes to the consumer index */
    kong_ctx_maps_free(ctx);

    if (kong_collect(ctx) != 0 || kong_creds_finish(ctx) != 0
        || kong_scope_build(ctx) != 0)
    {
        goto oom;
    }

    if (kong_router_build(cfg, pool) != 0) {
        goto oom;
    }

    kong_errors_sort(errs);
    kong_ctx_free(ctx);

    return cfg;

oom:

    kong_errors_add_plain(errs, 0, 0, "out of memory");

failed:

    kong_errors_sort(errs);
    kong_ctx_free(ctx);

    if (cfg) {
        kong_config_free(cfg);

    } else {
        kong_pool_destroy(pool);
    }

    return NULL;
}


kong_config_t *
kong_load_string(const char *name, const char *text, size_t len,
    unsigned flags, kong_errors_t *errs)
{
    return kong_load(name, text ? text : "", len, NULL, flags, errs);
}


kong_config_t *
kong_load_file(const char *file, unsigned flags, kong_errors_t *errs)
{
    FILE           *f;
    char            msg[512];
    long            size;
    kong_config_t  *cfg;

    f = fopen(file, "rb");
    if (f == NULL) {
        kong_errors_init(errs, file);
        snprintf(msg, sizeof(msg), "cannot open: %s", strerror(errno));
        kong_errors_add_plain(errs, 0, 0, msg);
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        kong_errors_init(errs, file);
        snprintf(msg, sizeof(msg), "cannot read: %s", strerror(errno));
        kong_errors_add_plain(errs, 0, 0, msg);
        fclose(f);
        return NULL;
    }

    if (size > KONG_FILE_MAX) {
        kong_errors_init(errs, file);
        kong_errors_add_plain(errs, 0, 0, "file too large");
        fclose(f);
        return NULL;
    }

    /* parsed as it is read: a big file is never in memory whole */
    cfg = kong_load(file, NULL, 0, f, flags, errs);
    fclose(f);

    return cfg;
}


void
kong_config_free(kong_config_t *cfg)
{
    if (cfg == NULL) {
        return;
    }

    if (cfg->router) {
        kong_router_free(cfg->router);
    }

    /* the compiled regexes go with the pool's cleanups */
    kong_pool_destroy(cfg->pool);
}


size_t
kong_error_format(const kong_errors_t *errs, size_t i, char *buf,
    size_t size)
{
    int                  n;
    const kong_error_t  *e;

    e = &errs->items[i];

    if (e->line == 0) {
        n = snprintf(buf, size, "%s: %s%s%s", errs->file, e->path,
                     e->path[0] ? ": " : "", e->message);

    } else {
        n = snprintf(buf, size, "%s:%u:%u: %s%s%s", errs->file, e->line,
                     e->col, e->path, e->path[0] ? ": " : "", e->message);
    }

    return n < 0 ? 0 : (size_t) n;
}


void
kong_errors_print(const kong_errors_t *errs, FILE *out)
{
    size_t  i;
    char    buf[2048];

    for (i = 0; i < errs->n; i++) {
        kong_error_format(errs, i, buf, sizeof(buf));
        fprintf(out, "%s\n", buf);
    }

    if (errs->dropped) {
        fprintf(out, "%s: %zu more errors not shown\n", errs->file,
                errs->dropped);
    }
}


void
kong_errors_free(kong_errors_t *errs)
{
    size_t  i;

    for (i = 0; i < errs->n; i++) {
        free(errs->items[i].path);
        free(errs->items[i].message);
    }

    free(errs->items);
    free(errs->file);
    memset(errs, 0, sizeof(kong_errors_t));
}
