
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong's jwt plugin: the nginx side of kong-compat/kong_jwt.c.  At
 * load, every jwt_secrets entry becomes a kong_jwt_secret_t (its public key
 * parsed once, "invalid key" failing nginx -t as Kong's entity check does)
 * in an array sorted by key; each jwt plugin's configuration is checked by
 * the engine.  Per request: the query arguments and headers go to
 * kong_jwt_authenticate, which finds the token, the credential by the key
 * claim, and checks the signature and claims; the glue then sets the
 * consumer (X-Consumer-*, X-Credential-Identifier: the credential's key,
 * as Kong's jwt does), or maps a refusal to the anonymous consumer, or
 * answers with the engine's status, body and WWW-Authenticate.  A token is
 * never logged.
 */


#include "ngx_http_farm_kong.h"

#include <kong_jwt.h>

#include <openssl/rand.h>


/* OpenResty's default limit on the query arguments it decodes */
#define NGX_HTTP_FARM_KONG_JWT_MAX_ARGS  100


static void ngx_http_farm_kong_jwt_engine(const kong_jwt_plugin_conf_t *pc,
    kong_jwt_conf_t *ec);
static ngx_int_t ngx_http_farm_kong_jwt_args(ngx_http_request_t *r,
    kong_jwt_input_t *in);
static ngx_int_t ngx_http_farm_kong_jwt_headers(ngx_http_request_t *r,
    kong_jwt_input_t *in);
static const kong_jwt_secret_t *ngx_http_farm_kong_jwt_lookup(void *data,
    const char *key, size_t len);
static int ngx_libc_cdecl ngx_http_farm_kong_jwt_cmp(const void *one,
    const void *two);
static ngx_int_t ngx_http_farm_kong_jwt_secret(ngx_conf_t *cf,
    ngx_http_farm_kong_conf_t *kc, const kong_credential_t *cr,
    kong_jwt_secret_t *s, ngx_uint_t skip);
static void ngx_http_farm_kong_jwt_cleanup(void *data);


ngx_int_t
ngx_http_farm_kong_jwt(ngx_http_request_t *r, ngx_http_farm_kong_ctx_t *ctx,
    const kong_jwt_plugin_conf_t *conf)
{
    u_char                   *p;
    ngx_str_t                 body, value;
    kong_jwt_conf_t           ec;
    kong_jwt_input_t          in;
    kong_jwt_result_t        *res;
    const kong_credential_t  *cr;

    static ngx_str_t  json = ngx_string("application/json; charset=utf-8");

    if (r->method == NGX_HTTP_OPTIONS && !conf->run_on_preflight) {
        return NGX_DECLINED;
    }

    /* with anonymous, another auth plugin that succeeded is enough */

    if (conf->anonymous && ctx->credential) {
        return NGX_DECLINED;
    }

    ngx_http_farm_kong_jwt_engine(conf, &ec);

    if (ngx_http_farm_kong_jwt_args(r, &in) != NGX_OK
        || ngx_http_farm_kong_jwt_headers(r, &in) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res = ngx_palloc(r->pool, sizeof(kong_jwt_result_t));
    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kong_jwt_authenticate(&ec, &in, (int64_t) ngx_time(),
                          ngx_http_farm_kong_jwt_lookup,
                          &ctx->conf->jwt_secrets, res);

    if (res->status == 0) {
        cr = res->secret->data;

        ctx->consumer = cr->consumer;
        ctx->credential = cr;
        ctx->anonymous = 0;

        if (ngx_http_farm_kong_consumer_headers(r, ctx, NULL) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_DECLINED;
    }

    /* the body names what failed (a claim, "Invalid signature"), never
     * the token */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "farm_kong: jwt: %d %s", res->status, res->body);

    if (res->status != NGX_HTTP_INTERNAL_SERVER_ERROR && conf->anonymous) {
        return ngx_http_farm_kong_anonymous(r, ctx, conf->anonymous);
    }

    if (res->www_authenticate[0]) {
        value.len = ngx_strlen(res->www_authenticate);
        value.data = (u_char *) res->www_authenticate;

        if (ngx_http_farm_kong_header(r, "WWW-Authenticate", &value)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    p = ngx_pnalloc(r->pool, res->body_len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = p;
    body.len = ngx_cpymem(p, res->body, res->body_len) - p;

    return ngx_http_farm_kong_exit(r, ctx, res->status, &json, &body);
}


/* the engine's configuration from the loader's (arrays shared, not copied) */

static void
ngx_http_farm_kong_jwt_engine(const kong_jwt_plugin_conf_t *pc,
    kong_jwt_conf_t *ec)
{
    static const char *const  claims[] = { "exp", "nbf" };

    kong_jwt_conf_default(ec);

    ec->uri_param_names = pc->uri_param_names.items;
    ec->n_uri_param_names = pc->uri_param_names.n;
    ec->cookie_names = pc->cookie_names.items;
    ec->n_cookie_names = pc->cookie_names.n;
    ec->header_names = pc->header_names.items;
    ec->n_header_names = pc->header_names.n;
    ec->key_claim_name = pc->key_claim_name;
    ec->secret_is_base64 = pc->secret_is_base64;
    ec->maximum_expiration = pc->maximum_expiration;
    ec->realm = pc->realm;

    /* the loader keeps which claims, not their order: exp first */

    ec->claims_to_verify = pc->verify_exp ? claims : claims + 1;
    ec->n_claims_to_verify = (pc->verify_exp != 0) + (pc->verify_nbf != 0);
}


/*
 * The query arguments as OpenResty's get_uri_args decodes them: "+" is a
 * space, %XX decoded, a bare "name" has no value (NULL), "name=" an empty
 * one; at most NGX_HTTP_FARM_KONG_JWT_MAX_ARGS.
 */

static ngx_int_t
ngx_http_farm_kong_jwt_args(ngx_http_request_t *r, kong_jwt_input_t *in)
{
    u_char         *p, *end, *amp, *eq, *raw, *buf, *dst, *src;
    ngx_uint_t      n;
    kong_header_t  *args, *a;

    in->args = NULL;
    in->nargs = 0;

    if (r->args.len == 0) {
        return NGX_OK;
    }

    n = 1;

    for (p = r->args.data; p < r->args.data + r->args.len; p++) {
        if (*p == '&') {
            n++;
        }
    }

    if (n > NGX_HTTP_FARM_KONG_JWT_MAX_ARGS) {
        n = NGX_HTTP_FARM_KONG_JWT_MAX_ARGS;
    }

    args = ngx_palloc(r->pool, n * sizeof(kong_header_t));

    /* a copy with "+" made " ", then names and values decoded from it,
     * each NUL-terminated: at most 2 bytes more per argument */

    raw = ngx_pnalloc(r->pool, r->args.len);
    buf = ngx_pnalloc(r->pool, r->args.len + 2 * n);

    if (args == NULL || raw == NULL || buf == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(raw, r->args.data, r->args.len);

    for (p = raw; p < raw + r->args.len; p++) {
        if (*p == '+') {
            *p = ' ';
        }
    }

    a = args;
    dst = buf;
    p = raw;
    end = p + r->args.len;

    while (p < end && (ngx_uint_t) (a - args) < n) {
        amp = ngx_strlchr(p, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        if (amp == p) {
            p = amp + 1;
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');

        a->name = (const char *) dst;
        src = p;
        ngx_unescape_uri(&dst, &src, (eq ? eq : amp) - p, 0);
        a->name_len = dst - (u_char *) a->name;
        *dst++ = '\0';

        if (eq == NULL) {
            a->value = NULL;
            a->value_len = 0;

        } else {
            a->value = (const char *) dst;
            src = eq + 1;
            ngx_unescape_uri(&dst, &src, amp - (eq + 1), 0);
            a->value_len = dst - (u_char *) a->value;
            *dst++ = '\0';
        }

        a++;
        p = amp + 1;
    }

    in->args = args;
    in->nargs = a - args;

    return NGX_OK;
}


/* the request headers, Cookie lines among them, in order */

static ngx_int_t
ngx_http_farm_kong_jwt_headers(ngx_http_request_t *r, kong_jwt_input_t *in)
{
    ngx_uint_t        i, n;
    kong_header_t    *hs;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    in->headers = NULL;
    in->nheaders = 0;

    if (n == 0) {
        return NGX_OK;
    }

    hs = ngx_palloc(r->pool, n * sizeof(kong_header_t));
    if (hs == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == 0) {
                continue;       /* removed */
            }

            hs[n].name = (const char *) h[i].key.data;
            hs[n].name_len = h[i].key.len;
            hs[n].value = (const char *) h[i].value.data;
            hs[n].value_len = h[i].value.len;
            n++;
        }
    }

    in->headers = hs;
    in->nheaders = n;

    return NGX_OK;
}


/* jwt_secrets by key: a binary search of the sorted array */

static const kong_jwt_secret_t *
ngx_http_farm_kong_jwt_lookup(void *data, const char *key, size_t len)
{
    ngx_int_t           rc;
    ngx_uint_t          lo, hi, mid;
    ngx_array_t        *a;
    kong_jwt_secret_t  *s;

    a = data;
    s = a->elts;
    lo = 0;
    hi = a->nelts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        rc = ngx_memn2cmp((u_char *) key, (u_char *) s[mid].key, len,
                          s[mid].key_len);

        if (rc == 0) {
            return &s[mid];
        }

        if (rc < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


static int ngx_libc_cdecl
ngx_http_farm_kong_jwt_cmp(const void *one, const void *two)
{
    const kong_jwt_secret_t  *a, *b;

    a = one;
    b = two;

    return (int) ngx_memn2cmp((u_char *) a->key, (u_char *) b->key,
                              a->key_len, b->key_len);
}


/*
 * At load: each jwt plugin's configuration within the engine's bounds, and
 * conf->jwt_secrets from the file's jwt_secrets (a credential with no key
 * matches no token: Kong would generate one nobody knows).  With skip, a
 * credential whose key cannot be parsed is dropped with a warning.
 */

ngx_int_t
ngx_http_farm_kong_jwt_conf(ngx_conf_t *cf, ngx_http_farm_kong_conf_t *kc,
    ngx_uint_t skip)
{
    char                  err[256];
    size_t                i, n;
    kong_config_t        *kong;
    kong_plugin_t        *p;
    kong_jwt_conf_t       ec;
    kong_jwt_secret_t    *s;
    kong_credential_t    *cr;
    ngx_pool_cleanup_t   *cln;

    kong = kc->kong;

    for (i = 0; i < kong->plugins.n; i++) {
        p = kong->plugins.items[i];

        if (p->type != KONG_PLUGIN_JWT || !p->enabled) {
            continue;
        }

        ngx_http_farm_kong_jwt_engine(p->conf, &ec);

        if (kong_jwt_conf_check(&ec, err, sizeof(err)) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "farm_kong: %s:%ud:%ud: %s.config: %s",
                               kong->file, p->pos.line, p->pos.col, p->path,
                               err);
            return NGX_ERROR;
        }
    }

    n = 0;

    for (i = 0; i < kong->ncredentials; i++) {
        if (kong->credentials[i]->type == KONG_CRED_JWT
            && kong->credentials[i]->key != NULL)
        {
            n++;
        }
    }

    if (ngx_array_init(&kc->jwt_secrets, cf->pool, n ? n : 1,
                       sizeof(kong_jwt_secret_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (n == 0) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_farm_kong_jwt_cleanup;
    cln->data = &kc->jwt_secrets;

    for (i = 0; i < kong->ncredentials; i++) {
        cr = kong->credentials[i];

        if (cr->type != KONG_CRED_JWT || cr->key == NULL) {
            continue;
        }

        s = ngx_array_push(&kc->jwt_secrets);
        if (s == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_farm_kong_jwt_secret(cf, kc, cr, s, skip) == NGX_OK) {
            continue;
        }

        kc->jwt_secrets.nelts--;

        if (!skip) {
            return NGX_ERROR;
        }
    }

    ngx_qsort(kc->jwt_secrets.elts, kc->jwt_secrets.nelts,
              sizeof(kong_jwt_secret_t), ngx_http_farm_kong_jwt_cmp);

    return NGX_OK;
}


/*
 * One credential: HS* keep the secret (Kong generates a random one when
 * the file gives none), the others parse rsa_public_key now.
 */

static ngx_int_t
ngx_http_farm_kong_jwt_secret(ngx_conf_t *cf, ngx_http_farm_kong_conf_t *kc,
    const kong_credential_t *cr, kong_jwt_secret_t *s, ngx_uint_t skip)
{
    char     err[256];
    u_char   rnd[16], *hex;

    ngx_memzero(s, sizeof(kong_jwt_secret_t));

    s->key = cr->key;
    s->key_len = cr->key_len;
    s->algorithm = cr->algorithm;
    s->rsa_public_key = cr->rsa_public_key;
    s->data = (void *) cr;

    if (cr->secret) {
        s->secret = cr->secret;
        s->secret_len = ngx_strlen(cr->secret);

    } else {
        hex = ngx_pnalloc(cf->pool, 2 * sizeof(rnd));
        if (hex == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1) {
            return NGX_ERROR;
        }

        ngx_hex_dump(hex, rnd, sizeof(rnd));

        s->secret = (const char *) hex;
        s->secret_len = 2 * sizeof(rnd);
    }

    if (kong_jwt_secret_prepare(s, err, sizeof(err)) != 0) {
        /* the message names the field, never the key's text */
        ngx_conf_log_error(skip ? NGX_LOG_WARN : NGX_LOG_EMERG, cf, 0,
                           "farm_kong: %s:%ud:%ud: jwt_secrets: %s%s",
                           kc->kong->file, cr->pos.line, cr->pos.col, err,
                           skip ? "; skipped" : "");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_farm_kong_jwt_cleanup(void *data)
{
    ngx_uint_t          i;
    ngx_array_t        *a;
    kong_jwt_secret_t  *s;

    a = data;
    s = a->elts;

    for (i = 0; i < a->nelts; i++) {
        kong_jwt_secret_release(&s[i]);
    }
}
