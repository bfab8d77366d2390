/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Credentials (keyauth_credentials, basicauth_credentials, acls,
 * jwt_secrets): their fields and uniqueness, then, once references are
 * resolved, consumer ids, basic-auth password hashes (Kong's
 * sha1(password .. consumer_id) when _transform is true), each consumer's
 * ACL groups, and the index the plugins look consumers up in.  Error
 * messages never quote a key, a secret or a password.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kong_schema.h"
#include "kong_plugin.h"


static const char *const  kong_jwt_algorithms[] = {
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384",
    "ES512", "PS256", "PS384", "PS512", "EdDSA", NULL
};


/* the key a credential is unique by, or NULL */
static void
kong_cred_unique(kong_ctx_t *ctx, const kong_node_t *map,
    kong_credential_t *cr, const char *field, int quote)
{
    kong_map_t         *m;
    kong_credential_t  *other;

    m = &ctx->cred_keys[cr->type];

    switch (kong_map_put(m, cr->key, cr->key_len, cr)) {
    case 1:
        other = kong_map_get(m, cr->key, cr->key_len);

        if (quote) {
            kong_err(ctx, map, "uniqueness violation: '%s' entity with %s "
                     "set to '%s' already declared", cr->entity, field,
                     cr->key);

        } else {
            kong_err(ctx, map, "uniqueness violation: '%s' entity with the "
                     "same %s already declared at line %u", cr->entity,
                     field, other->pos.line);
        }

        break;

    case -1:
        kong_oom(ctx);
    }
}


/* The fields of a credential of cr->entity; ctx->path is the entity's. */
void
kong_credential_fields(kong_ctx_t *ctx, const kong_node_t *map,
    kong_credential_t *cr)
{
    static const char *const  keyauth[] = {
        "id", "consumer", "key", "tags", "ttl", "created_at", NULL
    };
    static const char *const  basicauth[] = {
        "id", "consumer", "username", "password", "tags", "created_at", NULL
    };
    static const char *const  acl[] = {
        "id", "consumer", "group", "tags", "created_at", NULL
    };
    static const char *const  jwt[] = {
        "id", "consumer", "key", "secret", "rsa_public_key", "algorithm",
        "tags", "created_at", NULL
    };

    double       ttl;
    const char  *s;
    char         buf[64];

    cr->type = -1;
    cr->ttl = -1;
    kong_get_str(ctx, map, "id", 0, &cr->id);

    if (cr->id && !kong_is_uuid(cr->id)) {
        kong_ferr(ctx, kong_node_get(map, "id"), "id",
                  "expected a valid UUID");
    }

    kong_check_tags(ctx, map);

    if (strcmp(cr->entity, "keyauth_credentials") == 0) {
        cr->type = KONG_CRED_KEYAUTH;
        kong_check_fields(ctx, map, keyauth);

        if (kong_get_num(ctx, map, "ttl", 1, 0, 100000000, &ttl) == 1) {
            cr->ttl = (int64_t) ttl;
        }

        if (kong_get_str(ctx, map, "key", 0, &cr->key) == 1) {
            cr->key_len = strlen(cr->key);
            kong_cred_unique(ctx, map, cr, "key", 0);
        }

        /* Kong generates a key nobody knows: such a credential matches
         * no request */

    } else if (strcmp(cr->entity, "basicauth_credentials") == 0) {
        cr->type = KONG_CRED_BASICAUTH;
        kong_check_fields(ctx, map, basicauth);

        if (kong_get_str(ctx, map, "username", 1, &cr->key) == 1) {
            cr->key_len = strlen(cr->key);
            kong_cred_unique(ctx, map, cr, "username", 1);
        }

        kong_get_str(ctx, map, "password", 1, &cr->password);

    } else if (strcmp(cr->entity, "acls") == 0) {
        cr->type = KONG_CRED_ACL;
        kong_check_fields(ctx, map, acl);

        if (kong_get_str(ctx, map, "group", 1, &cr->key) == 1) {
            cr->key_len = strlen(cr->key);
        }

    } else if (strcmp(cr->entity, "jwt_secrets") == 0) {
        cr->type = KONG_CRED_JWT;
        kong_check_fields(ctx, map, jwt);
        cr->algorithm = "HS256";

        if (kong_get_str(ctx, map, "key", 0, &cr->key) == 1) {
            cr->key_len = strlen(cr->key);
            kong_cred_unique(ctx, map, cr, "key", 1);
        }

        kong_get_str(ctx, map, "secret", 0, &cr->secret);
        kong_get_str(ctx, map, "rsa_public_key", 0, &cr->rsa_public_key);

        if (kong_get_str(ctx, map, "algorithm", 0, &s) == 1) {
            if (kong_in_list(s, strlen(s), kong_jwt_algorithms) < 0) {
                kong_ferr(ctx, kong_node_get(map, "algorithm"), "algorithm",
                          "expected one of: %s",
                          kong_join(buf, sizeof(buf), kong_jwt_algorithms));
            }

            cr->algorithm = s;
        }

        if (cr->algorithm[0] != 'H' && cr->rsa_public_key == NULL) {
            kong_err(ctx, map, "no mandatory 'rsa_public_key'");
        }

    } else {
        kong_err(ctx, map, "'%s' are not supported by this gateway: this "
                 "gateway has no %s plugin (not among Kong's common "
                 "plugins it serves)", cr->entity,
                 cr->entity[0] == 'h' ? "hmac-auth" : "oauth2");
    }
}


/* ---- once every reference is resolved ------------------------------------- */

/* c: one digest context for all the hashes of a load */
static int
kong_sha1(EVP_MD_CTX *c, const char *a, const char *b, unsigned char *md)
{
    int           ok;
    unsigned int  len;

    ok = EVP_DigestInit_ex(c, EVP_sha1(), NULL)
         && EVP_DigestUpdate(c, a, strlen(a))
         && EVP_DigestUpdate(c, b, strlen(b))
         && EVP_DigestFinal_ex(c, md, &len);

    return ok ? 0 : -1;
}


/*
 * A consumer without an id gets one derived from its username (or
 * custom_id): stable across loads, in UUID form, for X-Consumer-ID and the
 * password hashes.  (Kong's generated ids differ; see docs/kong.md.)
 */
static const char *
kong_consumer_gen_id(kong_ctx_t *ctx, EVP_MD_CTX *mdc, kong_consumer_t *c)
{
    char         id[37];
    const char  *key;

    key = c->username ? c->username : c->custom_id;

    if (kong_uuid_sha1(mdc, "consumers:", sizeof("consumers:") - 1, key,
                       strlen(key), id) != 0)
    {
        return NULL;
    }

    return kong_pstrndup(ctx->pool, id, 36);
}


/*
 * Fills consumer ids, hashes basic-auth passwords, lists each consumer's
 * groups and builds the consumer index.  0, or -1 when out of memory.
 */
/*
 * The consumers by id and by username: open addressing over 32-bit slots,
 * each 1 + (the consumer's index << 1 | 1 for its username), so that a
 * million consumers take 16 MB, not the 100 MB of a kong_map_t.  Each name
 * is in once: the first consumer to claim it (ids before usernames, in file
 * order) keeps it.
 */
typedef struct {
    uint32_t               *slots;
    size_t                  mask;
    kong_consumer_t       **consumers;
} kong_consumer_index_t;


static const char *
kong_cindex_name(const kong_consumer_index_t *x, uint32_t slot)
{
    const kong_consumer_t  *c;

    c = x->consumers[(slot - 1) >> 1];

    return ((slot - 1) & 1) ? c->username : c->id;
}


/* The slot of name, or the empty one where it would go. */
static uint32_t *
kong_cindex_find(const kong_consumer_index_t *x, const char *s, size_t len)
{
    size_t       i;
    const char  *name;

    i = (size_t) kong_hash(s, len) & x->mask;

    for ( ;; ) {
        if (x->slots[i] == 0) {
            return &x->slots[i];
        }

        name = kong_cindex_name(x, x->slots[i]);

        if (strncmp(name, s, len) == 0 && name[len] == '\0') {
            return &x->slots[i];
        }

        i = (i + 1) & x->mask;
    }
}


static void
kong_cindex_add(kong_consumer_index_t *x, const char *s, uint32_t slot)
{
    uint32_t  *p;

    p = kong_cindex_find(x, s, strlen(s));

    if (*p == 0) {
        *p = slot;
    }
}


static int
kong_cindex_build(kong_ctx_t *ctx)
{
    size_t                  i, size;
    kong_config_t          *cfg;
    kong_consumer_t        *c;
    kong_consumer_index_t  *x;

    cfg = ctx->cfg;

    if (cfg->nconsumers >= UINT32_MAX / 2) {
        return -1;
    }

    /* at most half full */
    for (size = 16; size < 4 * cfg->nconsumers; size *= 2) {
        /* void */
    }

    x = kong_palloc(ctx->pool, sizeof(kong_consumer_index_t));
    if (x == NULL) {
        return -1;
    }

    x->slots = kong_palloc(ctx->pool, size * sizeof(uint32_t));
    if (x->slots == NULL) {
        return -1;
    }

    x->mask = size - 1;
    x->consumers = cfg->consumers;

    for (i = 0; i < cfg->nconsumers; i++) {
        c = cfg->consumers[i];
        kong_cindex_add(x, c->id, (uint32_t) (i << 1) + 1);

        if (c->username) {
            kong_cindex_add(x, c->username, (uint32_t) (i << 1 | 1) + 1);
        }
    }

    cfg->consumer_index = x;

    return 0;
}


static int kong_creds_index(kong_ctx_t *ctx, EVP_MD_CTX *mdc);


int
kong_creds_finish(kong_ctx_t *ctx)
{
    int          rc;
    EVP_MD_CTX  *mdc;

    mdc = EVP_MD_CTX_new();
    if (mdc == NULL) {
        return -1;
    }

    rc = kong_creds_index(ctx, mdc);
    EVP_MD_CTX_free(mdc);

    return rc;
}


static int
kong_creds_index(kong_ctx_t *ctx, EVP_MD_CTX *mdc)
{
    char                hex[41];
    size_t              i, n;
    kong_map_t         *basic;
    unsigned char       md[20];
    kong_config_t      *cfg;
    kong_consumer_t    *c;
    kong_credential_t  *cr;

    cfg = ctx->cfg;

    basic = kong_palloc(ctx->pool, sizeof(kong_map_t));
    if (basic == NULL) {
        return -1;
    }

    kong_map_init(basic, ctx->pool);
    cfg->basic_index = basic;

    /* sized once: a map that grows leaves its old arrays in the pool */
    for (i = 0, n = 0; i < cfg->ncredentials; i++) {
        n += cfg->credentials[i]->type == KONG_CRED_BASICAUTH;
    }

    if (kong_map_reserve(basic, n) != 0) {
        return -1;
    }

    for (i = 0; i < cfg->nconsumers; i++) {
        c = cfg->consumers[i];

        if (c->id == NULL) {
            c->id = kong_consumer_gen_id(ctx, mdc, c);
            if (c->id == NULL) {
                return -1;
            }
        }
    }

    /* by id, then username: Kong's anonymous takes either */
    if (kong_cindex_build(ctx) != 0) {
        return -1;
    }

    for (i = 0; i < cfg->ncredentials; i++) {
        cr = cfg->credentials[i];

        if (cr->type == KONG_CRED_ACL) {
            cr->consumer->ngroups++;

        } else if (cr->type == KONG_CRED_BASICAUTH) {
            if (kong_map_put(basic, cr->key, cr->key_len, cr) < 0) {
                return -1;
            }

            if (!cfg->transform) {
                continue;
            }

            if (kong_sha1(mdc, cr->password, cr->consumer->id, md) != 0) {
                return -1;
            }

            kong_hex(md, 20, hex);

            cr->password = kong_pstrndup(ctx->pool, hex, 40);
            if (cr->password == NULL) {
                return -1;
            }
        }
    }

    for (i = 0; i < cfg->nconsumers; i++) {
        c = cfg->consumers[i];

        if (c->ngroups) {
            c->groups = kong_palloc(ctx->pool, c->ngroups * sizeof(char *));
            if (c->groups == NULL) {
                return -1;
            }

            c->ngroups = 0;
        }
    }

    for (i = 0; i < cfg->ncredentials; i++) {
        cr = cfg->credentials[i];

        if (cr->type == KONG_CRED_ACL) {
            cr->consumer->groups[cr->consumer->ngroups++] = cr->key;
        }
    }

    return 0;
}


const kong_consumer_t *
kong_consumer_find(const kong_config_t *cfg, const char *s, size_t len)
{
    uint32_t                      *p;
    const kong_consumer_index_t   *x;

    x = cfg->consumer_index;

    if (x == NULL || memchr(s, '\0', len) != NULL) {
        return NULL;
    }

    p = kong_cindex_find(x, s, len);

    return *p ? x->consumers[(*p - 1) >> 1] : NULL;
}


const kong_credential_t *
kong_basic_find(const kong_config_t *cfg, const char *user, size_t len)
{
    if (cfg->basic_index == NULL) {
        return NULL;
    }

    return kong_map_get(cfg->basic_index, user, len);
}
