
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's authentication plugins: key-auth and basic-auth, as Kong 3.7+
 * answers them, and the consumer they set (X-Consumer-* upstream, the
 * anonymous consumer).  Keys are looked up in farm_key_auth's table of
 * SHA-256 digests (ngx_http_farm_key_table.c), compared with
 * CRYPTO_memcmp(); basic-auth passwords are compared as Kong stores them,
 * sha1(password .. consumer id), also in constant time.  Neither a key nor
 * a password is ever logged.
 */


#include "ngx_http_farm_kong.h"
#include "ngx_http_farm_hide_args.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>


static ngx_int_t ngx_http_farm_kong_find_key(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_key_auth_conf_t *conf,
    ngx_str_t *key, ngx_str_t *name, ngx_uint_t *in_query);
static ngx_int_t ngx_http_farm_kong_hide_query(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *name);
static ngx_int_t ngx_http_farm_kong_authenticated(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_credential_t *cr,
    const char *anonymous, ngx_str_t *challenge, ngx_str_t *hide,
    const char *refused);
static ngx_int_t ngx_http_farm_kong_deny(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *challenge, const char *msg);


/* Builds conf->keys from the file's keyauth_credentials. */

ngx_int_t
ngx_http_farm_kong_keys(ngx_conf_t *cf, ngx_http_farm_kong_conf_t *kc)
{
    u_char                     digest[SHA256_DIGEST_LENGTH];
    size_t                     i, n;
    kong_config_t             *kong;
    const kong_consumer_t     *c;
    const kong_credential_t   *cr;
    ngx_http_farm_kong_key_t  *k;

    kong = kc->kong;
    n = 0;

    for (i = 0; i < kong->ncredentials; i++) {
        if (kong->credentials[i]->type == KONG_CRED_KEYAUTH
            && kong->credentials[i]->key != NULL)
        {
            n++;
        }
    }

    if (ngx_http_farm_key_table_init(&kc->keys, cf->pool, n) != NGX_OK) {
        return NGX_ERROR;
    }

    if (n == 0) {
        return NGX_OK;
    }

    k = ngx_pcalloc(cf->pool, n * sizeof(ngx_http_farm_kong_key_t));
    if (k == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < kong->ncredentials; i++) {
        cr = kong->credentials[i];

        if (cr->type != KONG_CRED_KEYAUTH || cr->key == NULL) {
            continue;
        }

        c = cr->consumer;

        if (c->username) {
            k->consumer.name.data = (u_char *) c->username;
            k->consumer.name.len = ngx_strlen(c->username);
        }

        k->cred = cr;

        SHA256((u_char *) cr->key, cr->key_len, digest);
        ngx_http_farm_key_table_add(&kc->keys, digest, &k->consumer);

        k++;
    }

    return NGX_OK;
}


/* ---- key-auth ------------------------------------------------------------ */

ngx_int_t
ngx_http_farm_kong_key_auth(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_key_auth_conf_t *conf)
{
    u_char                     digest[SHA256_DIGEST_LENGTH];
    ngx_int_t                  rc;
    ngx_str_t                  key, name, challenge;
    ngx_uint_t                 in_query;
    const kong_credential_t   *cr;
    ngx_http_farm_consumer_t  *found;
    ngx_http_farm_kong_key_t  *k;

    if (r->method == NGX_HTTP_OPTIONS && !conf->run_on_preflight) {
        return NGX_DECLINED;
    }

    /* with anonymous, another auth plugin that succeeded is enough */

    if (conf->anonymous && ctx->credential) {
        return NGX_DECLINED;
    }

    if (conf->realm) {
        challenge.len = sizeof("Key realm=\"\"") - 1
                        + ngx_strlen(conf->realm);
        challenge.data = ngx_pnalloc(r->pool, challenge.len);
        if (challenge.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(challenge.data, "Key realm=\"%s\"", conf->realm);

    } else {
        ngx_str_set(&challenge, "Key");
    }

    rc = ngx_http_farm_kong_find_key(r, ctx, conf, &key, &name, &in_query);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_AGAIN) {
        /* key_in_body: read the body, then this plugin runs again */
        return ngx_http_farm_kong_read_body(r, ctx, KONG_PLUGIN_KEY_AUTH);
    }

    if (rc == NGX_BUSY) {
        return ngx_http_farm_kong_deny(r, ctx, &challenge,
                                       "Duplicate API key found");
    }

    if (key.len == 0) {
        if (conf->anonymous) {
            return ngx_http_farm_kong_anonymous(r, ctx, conf->anonymous);
        }

        return ngx_http_farm_kong_deny(r, ctx, &challenge,
                                       "No API key found in request");
    }

    SHA256(key.data, key.len, digest);

    found = ngx_http_farm_key_table_lookup(&ctx->conf->keys, digest);

    cr = NULL;

    if (found) {
        k = (ngx_http_farm_kong_key_t *) found;
        cr = k->cred;

        if (cr->ttl >= 0 && ngx_time() >= ctx->conf->loaded + cr->ttl) {
            cr = NULL;
        }
    }

    if (cr && conf->hide_credentials && in_query == 1) {
        if (ngx_http_farm_kong_hide_query(r, ctx, &name) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_farm_kong_authenticated(r, ctx, cr, conf->anonymous,
                                            &challenge,
                                            conf->hide_credentials
                                            && in_query == 0
                                            ? &name : NULL,
                                            "key-auth: unknown API key");
}


/*
 * For each key name, in order: the header, the query argument, the body
 * parameter.  The first found wins; one given twice is NGX_BUSY (Kong's
 * "Duplicate API key found").  An empty key->len: none.  *in_query: 0 the
 * header, 1 the query, 2 the body.  NGX_AGAIN: the body must be read
 * first.
 */

static ngx_int_t
ngx_http_farm_kong_find_key(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_key_auth_conf_t *conf,
    ngx_str_t *key, ngx_str_t *name, ngx_uint_t *in_query)
{
    u_char           *dst, *src, *p, *end, *eq;
    size_t            i;
    ngx_str_t         n, value;
    ngx_uint_t        count;
    ngx_table_elt_t  *h;

    ngx_str_null(key);
    *in_query = 0;

    for (i = 0; i < conf->key_names.n; i++) {
        n.data = (u_char *) conf->key_names.items[i];
        n.len = ngx_strlen(conf->key_names.items[i]);
        *name = n;

        if (conf->key_in_header) {
            h = ngx_http_farm_kong_in_header(r, &n, &count);

            if (count > 1) {
                return NGX_BUSY;
            }

            if (h && h->value.len) {
                *key = h->value;
                return NGX_OK;
            }
        }

        if (!conf->key_in_query || r->args.len == 0) {
            goto body;
        }

        /* count the arguments of that name: a repeated one is a table */

        count = 0;
        p = r->args.data;
        end = p + r->args.len;

        while (p < end) {
            src = ngx_strlchr(p, end, '&');
            if (src == NULL) {
                src = end;
            }

            eq = ngx_strlchr(p, src, '=');

            if ((size_t) ((eq ? eq : src) - p) == n.len
                && ngx_strncasecmp(p, n.data, n.len) == 0)
            {
                count++;
                value.data = eq ? eq + 1 : src;
                value.len = src - value.data;
            }

            p = src + 1;
        }

        if (count > 1) {
            return NGX_BUSY;
        }

        if (count == 0 || value.len == 0) {
            goto body;
        }

        dst = ngx_pnalloc(r->pool, value.len);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        key->data = dst;
        src = value.data;
        ngx_unescape_uri(&dst, &src, value.len, NGX_UNESCAPE_URI);
        key->len = dst - key->data;
        *in_query = 1;

        if (key->len) {
            return NGX_OK;
        }

    body:

        if (!conf->key_in_body
            || (r->headers_in.content_length_n <= 0
                && !r->headers_in.chunked))
        {
            continue;
        }

        if (!ctx->body_read) {
            return NGX_AGAIN;
        }

        switch (ngx_http_farm_kong_body_param(r, &n, &value,
                                              conf->hide_credentials))
        {
        case NGX_ERROR:
            return NGX_ERROR;

        case NGX_BUSY:
            return NGX_BUSY;

        case NGX_OK:
            if (value.len) {
                *key = value;
                *in_query = 2;
                return NGX_OK;
            }
        }
    }

    return NGX_OK;
}


/* hide_credentials: the argument leaves the URI sent upstream */

static ngx_int_t
ngx_http_farm_kong_hide_query(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *name)
{
    u_char       *q, *out, *p;
    size_t        len, removed;
    farm_span_t   args, names;
    kong_match_t *m;

    m = &ctx->match;

    q = ngx_strlchr((u_char *) m->upstream_uri,
                    (u_char *) m->upstream_uri + m->upstream_uri_len, '?');
    if (q == NULL) {
        return NGX_OK;
    }

    args.data = q + 1;
    args.len = (u_char *) m->upstream_uri + m->upstream_uri_len - (q + 1);
    names.data = name->data;
    names.len = name->len;

    out = ngx_pnalloc(r->pool, (q - (u_char *) m->upstream_uri) + 1
                               + args.len);
    if (out == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out, m->upstream_uri, q - (u_char *) m->upstream_uri);

    len = farm_hide_args(p + 1, &args, &names, 1, &removed);

    if (removed == 0) {
        return NGX_OK;
    }

    if (len) {
        *p = '?';
        p += 1 + len;
    }

    m->upstream_uri = (const char *) out;
    m->upstream_uri_len = p - out;

    return NGX_OK;
}


/* ---- basic-auth ---------------------------------------------------------- */

ngx_int_t
ngx_http_farm_kong_basic_auth(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_basic_auth_conf_t *conf)
{
    u_char                    *colon, md[20], hex[41];
    unsigned int               mdlen;
    ngx_str_t                  challenge, encoded, decoded, hide;
    ngx_uint_t                 count, ok;
    EVP_MD_CTX                *sha;
    ngx_table_elt_t           *h;
    const kong_credential_t   *cr;

    static ngx_str_t  authorization = ngx_string("Authorization");
    static ngx_str_t  proxy_authorization = ngx_string("Proxy-Authorization");

    if (conf->anonymous && ctx->credential) {
        return NGX_DECLINED;
    }

    challenge.len = sizeof("Basic realm=\"\"") - 1 + ngx_strlen(conf->realm);
    challenge.data = ngx_pnalloc(r->pool, challenge.len);
    if (challenge.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(challenge.data, "Basic realm=\"%s\"", conf->realm);

    hide = authorization;
    h = ngx_http_farm_kong_in_header(r, &authorization, &count);

    if (h == NULL) {
        hide = proxy_authorization;
        h = ngx_http_farm_kong_in_header(r, &proxy_authorization, &count);
    }

    if (h == NULL) {
        if (conf->anonymous) {
            return ngx_http_farm_kong_anonymous(r, ctx, conf->anonymous);
        }

        return ngx_http_farm_kong_deny(r, ctx, &challenge, "Unauthorized");
    }

    cr = NULL;
    ok = 0;

    encoded = h->value;

    if (encoded.len > 6 && ngx_strncasecmp(encoded.data, (u_char *) "Basic ",
                                           6)
                           == 0)
    {
        encoded.data += 6;
        encoded.len -= 6;

        while (encoded.len && encoded.data[0] == ' ') {
            encoded.data++;
            encoded.len--;
        }

        decoded.data = ngx_pnalloc(r->pool,
                                   ngx_base64_decoded_length(encoded.len));
        if (decoded.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_decode_base64(&decoded, &encoded) == NGX_OK) {
            colon = ngx_strlchr(decoded.data, decoded.data + decoded.len,
                                ':');

            if (colon) {
                cr = kong_basic_find(ctx->conf->kong,
                                     (const char *) decoded.data,
                                     colon - decoded.data);
            }

            if (cr) {
                sha = EVP_MD_CTX_new();

                if (sha == NULL
                    || !EVP_DigestInit_ex(sha, EVP_sha1(), NULL)
                    || !EVP_DigestUpdate(sha, colon + 1,
                                         decoded.data + decoded.len
                                         - (colon + 1))
                    || !EVP_DigestUpdate(sha, cr->consumer->id,
                                         ngx_strlen(cr->consumer->id))
                    || !EVP_DigestFinal_ex(sha, md, &mdlen))
                {
                    EVP_MD_CTX_free(sha);
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                EVP_MD_CTX_free(sha);

                ngx_hex_dump(hex, md, 20);

                ok = ngx_strlen(cr->password) == 40
                     && CRYPTO_memcmp(hex, cr->password, 40) == 0;
            }
        }
    }

    return ngx_http_farm_kong_authenticated(r, ctx, ok ? cr : NULL,
                                            conf->anonymous, &challenge,
                                            conf->hide_credentials
                                            ? &hide : NULL,
                                            "basic-auth: invalid "
                                            "credentials");
}


/* ---- the consumer -------------------------------------------------------- */

/*
 * An auth plugin's verdict: cr, or NULL (refused: the anonymous consumer
 * if configured, else 401 with the challenge).  hide: a credential header
 * to remove from the request sent upstream.
 */

static ngx_int_t
ngx_http_farm_kong_authenticated(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const kong_credential_t *cr,
    const char *anonymous, ngx_str_t *challenge, ngx_str_t *hide,
    const char *refused)
{
    if (cr == NULL) {
        /* never the key or the password itself */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "farm_kong: %s",
                      refused);

        if (anonymous) {
            return ngx_http_farm_kong_anonymous(r, ctx, anonymous);
        }

        return ngx_http_farm_kong_deny(r, ctx, challenge, "Unauthorized");
    }

    ctx->consumer = cr->consumer;
    ctx->credential = cr;
    ctx->anonymous = 0;

    if (ngx_http_farm_kong_consumer_headers(r, ctx, hide) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_farm_kong_deny(ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx,
    ngx_str_t *challenge, const char *msg)
{
    if (ngx_http_farm_kong_header(r, "WWW-Authenticate", challenge)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_farm_kong_error(r, ctx, NGX_HTTP_UNAUTHORIZED, msg);
}


ngx_int_t
ngx_http_farm_kong_anonymous(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, const char *anonymous)
{
    u_char                 *p;
    const kong_consumer_t  *c;

    c = kong_consumer_find(ctx->conf->kong, anonymous,
                           ngx_strlen(anonymous));

    if (c == NULL) {
        p = ngx_pnalloc(r->pool, ngx_strlen(anonymous) + 64);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(p, "anonymous consumer %s is configured but doesn't "
                    "exist%Z", anonymous);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "farm_kong: %s",
                      p);

        return ngx_http_farm_kong_error(r, ctx,
                                        NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        (const char *) p);
    }

    ctx->consumer = c;
    ctx->credential = NULL;
    ctx->anonymous = 1;

    if (ngx_http_farm_kong_consumer_headers(r, ctx, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * X-Consumer-ID, X-Consumer-Custom-ID, X-Consumer-Username,
 * X-Credential-Identifier (the credential's id; a jwt_secrets' key, a
 * basicauth_credentials' username) and
 * X-Anonymous-Consumer as Kong sets them
 * (a header the client sent under one of these names never reaches the
 * upstream once a consumer is set); hide: a credential header to remove.
 */

ngx_int_t
ngx_http_farm_kong_consumer_headers(ngx_http_request_t *r,
    ngx_http_farm_kong_ctx_t *ctx, ngx_str_t *hide)
{
    ngx_str_t               names[6], values[6];
    ngx_uint_t              n;
    const kong_consumer_t  *c;

    c = ctx->consumer;

    ngx_str_set(&names[0], "X-Consumer-ID");
    ngx_str_set(&names[1], "X-Consumer-Custom-ID");
    ngx_str_set(&names[2], "X-Consumer-Username");
    ngx_str_set(&names[3], "X-Credential-Identifier");
    ngx_str_set(&names[4], "X-Anonymous-Consumer");

    ngx_str_null(&values[0]);
    ngx_str_null(&values[1]);
    ngx_str_null(&values[2]);
    ngx_str_null(&values[3]);
    ngx_str_null(&values[4]);

    values[0].data = (u_char *) c->id;
    values[0].len = ngx_strlen(c->id);

    if (c->custom_id) {
        values[1].data = (u_char *) c->custom_id;
        values[1].len = ngx_strlen(c->custom_id);
    }

    if (c->username) {
        values[2].data = (u_char *) c->username;
        values[2].len = ngx_strlen(c->username);
    }

    if (ctx->credential
        && (ctx->credential->type == KONG_CRED_JWT
            || ctx->credential->type == KONG_CRED_BASICAUTH))
    {
        /* Kong's jwt names the credential by its key, basic-auth by its
         * username; key-auth by its id */
        values[3].data = (u_char *) ctx->credential->key;
        values[3].len = ctx->credential->key_len;

    } else if (ctx->credential && ctx->credential->id) {
        values[3].data = (u_char *) ctx->credential->id;
        values[3].len = ngx_strlen(ctx->credential->id);
    }

    if (ctx->anonymous) {
        ngx_str_set(&values[4], "true");
    }

    n = 5;

    if (hide) {
        names[5] = *hide;
        ngx_str_null(&values[5]);
        n = 6;
    }

    return ngx_http_farm_kong_set_upstream(r, names, values, n);
}


/* the request header name (case-insensitive), its count */

ngx_table_elt_t *
ngx_http_farm_kong_in_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t *count)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    found = NULL;
    *count = 0;

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

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            if (found == NULL) {
                found = &h[i];
            }

            (*count)++;
        }
    }

    return found;
}
