/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The jwt plugin's engine: token lookup, decoding, signature and claims
 * checks with Kong 3.x's answers (kong_jwt.h).
 */

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "kong_json.h"
#include "kong_jwt.h"


#define JWT_HMAC   1
#define JWT_RSA    2
#define JWT_EC     3
#define JWT_PSS    4


typedef struct {
    const char     *name;
    int             kind;
    int             bits;       /* SHA-2 size */
    size_t          half;       /* EC: bytes of r and of s */
} jwt_alg_t;


static const jwt_alg_t *jwt_alg_find(const char *name, size_t len);
static const EVP_MD *jwt_md(int bits);
static EVP_PKEY *jwt_pkey_parse(const unsigned char *data, size_t len);
static int jwt_verify_hmac(const jwt_alg_t *alg, const unsigned char *key,
    size_t key_len, const char *data, size_t data_len,
    const unsigned char *sig, size_t sig_len);
static int jwt_verify_pkey(const jwt_alg_t *alg, EVP_PKEY *pkey,
    const char *data, size_t data_len, const unsigned char *sig,
    size_t sig_len);
static json_t *jwt_decode_json(const char *b64, size_t len);
static void jwt_fail(kong_jwt_result_t *res, const kong_jwt_conf_t *conf,
    int with_error, const char *fmt, ...);
static void jwt_fail_claims(kong_jwt_result_t *res,
    const kong_jwt_conf_t *conf, const char *const *keys,
    const char *const *msgs, size_t n);
static void jwt_internal(kong_jwt_result_t *res);
static int jwt_header_is(const kong_header_t *h, const char *name);
static int jwt_bearer(const char *s, size_t len, const char **tok,
    size_t *tok_len);


static const jwt_alg_t  jwt_algs[] = {
    { "HS256", JWT_HMAC, 256, 0 },
    { "HS384", JWT_HMAC, 384, 0 },
    { "HS512", JWT_HMAC, 512, 0 },
    { "RS256", JWT_RSA, 256, 0 },
    { "RS384", JWT_RSA, 384, 0 },
    { "RS512", JWT_RSA, 512, 0 },
    { "ES256", JWT_EC, 256, 32 },
    { "ES384", JWT_EC, 384, 48 },
    { "ES512", JWT_EC, 512, 66 },
    { "PS256", JWT_PSS, 256, 0 },
    { "PS384", JWT_PSS, 384, 0 },
    { "PS512", JWT_PSS, 512, 0 },
};

#define JWT_NALGS  (sizeof(jwt_algs) / sizeof(jwt_algs[0]))

static const char *const  jwt_default_uri[] = { "jwt" };
static const char *const  jwt_default_headers[] = { "authorization" };


void
kong_jwt_conf_default(kong_jwt_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->uri_param_names = jwt_default_uri;
    conf->n_uri_param_names = 1;
    conf->header_names = jwt_default_headers;
    conf->n_header_names = 1;
    conf->key_claim_name = "iss";
}


int
kong_jwt_conf_check(const kong_jwt_conf_t *conf, char *err, size_t err_size)
{
    size_t  i;
    int     exp;

    exp = 0;
    for (i = 0; i < conf->n_claims_to_verify; i++) {
        if (strcmp(conf->claims_to_verify[i], "exp") == 0) {
            exp = 1;

        } else if (strcmp(conf->claims_to_verify[i], "nbf") != 0) {
            snprintf(err, err_size,
                     "config.claims_to_verify: expected one of: exp, nbf");
            return -1;
        }
    }

    if (!(conf->maximum_expiration >= 0
          && conf->maximum_expiration <= 31536000))
    {
        snprintf(err, err_size, "config.maximum_expiration: value should be "
                 "between 0 and 31536000");
        return -1;
    }

    if (conf->maximum_expiration > 0 && !exp) {
        snprintf(err, err_size,
                 "config.claims_to_verify: expected to contain: exp");
        return -1;
    }

    if (conf->key_claim_name == NULL || conf->key_claim_name[0] == '\0'
        || strlen(conf->key_claim_name) > KONG_JWT_MAX_CLAIM_NAME)
    {
        snprintf(err, err_size, "config.key_claim_name: must be 1 to %d "
                 "bytes", KONG_JWT_MAX_CLAIM_NAME);
        return -1;
    }

    if (conf->realm != NULL && strlen(conf->realm) > KONG_JWT_MAX_REALM) {
        snprintf(err, err_size, "config.realm: longer than %d bytes",
                 KONG_JWT_MAX_REALM);
        return -1;
    }

    return 0;
}


int
kong_jwt_secret_prepare(kong_jwt_secret_t *s, char *err, size_t err_size)
{
    const char       *name;
    const jwt_alg_t  *alg;

    name = s->algorithm ? s->algorithm : "HS256";
    alg = jwt_alg_find(name, strlen(name));
    if (alg == NULL) {
        snprintf(err, err_size, "algorithm: expected one of: HS256, HS384, "
                 "HS512, RS256, RS384, RS512, ES256, ES384, ES512, PS256, "
                 "PS384, PS512");
        return -1;
    }

    if (alg->kind == JWT_HMAC || s->pkey != NULL) {
        return 0;
    }

    if (s->rsa_public_key == NULL) {
        snprintf(err, err_size, "rsa_public_key: required field missing");
        return -1;
    }

    s->pkey = jwt_pkey_parse((const unsigned char *) s->rsa_public_key,
                             strlen(s->rsa_public_key));
    if (s->pkey == NULL) {
        snprintf(err, err_size, "rsa_public_key: invalid key");
        return -1;
    }

    return 0;
}


void
kong_jwt_secret_release(kong_jwt_secret_t *s)
{
    EVP_PKEY_free(s->pkey);
    s->pkey = NULL;
}


/* ---- token lookup ---------------------------------------------------- */

typedef struct {
    const char     *str;        /* the first string token */
    size_t          len;
    int             n;          /* distinct tokens, up to 2 */
    int             boolean;    /* a bare "?jwt" was seen */
} jwt_tokens_t;


static void
jwt_tokens_add(jwt_tokens_t *t, const char *s, size_t len)
{
    if (s == NULL) {
        if (!t->boolean) {
            t->boolean = 1;
            t->n++;
        }
        return;
    }

    if (len == 0) {
        return;
    }

    if (t->str == NULL) {
        t->str = s;
        t->len = len;
        t->n++;

    } else if (t->len != len || memcmp(t->str, s, len) != 0) {
        t->n = 2;
    }
}


/*
 * The first value of cookie name in one Cookie line, as nginx's
 * $cookie_NAME finds it: "a=1; b=2" (";" separates), names compared
 * without case.
 */
static int
jwt_cookie(const char *s, size_t len, const char *name, const char **val,
    size_t *val_len)
{
    size_t  i, nlen, start, end;

    nlen = strlen(name);
    i = 0;

    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == ';')) {
            i++;
        }

        start = i;
        while (i < len && s[i] != ';') {
            i++;
        }
        end = i;

        if (end - start > nlen && s[start + nlen] == '='
            && strncasecmp(s + start, name, nlen) == 0)
        {
            start += nlen + 1;
            while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t')) {
                end--;
            }
            *val = s + start;
            *val_len = end - start;
            return 1;
        }
    }

    return 0;
}


int
kong_jwt_find_token(const kong_jwt_conf_t *conf, const kong_jwt_input_t *in,
    const char **token, size_t *len)
{
    size_t               i, j, vlen;
    const char          *v;
    jwt_tokens_t         t;
    const kong_header_t *h;

    memset(&t, 0, sizeof(t));

    for (i = 0; i < conf->n_uri_param_names; i++) {
        for (j = 0; j < in->nargs; j++) {
            h = &in->args[j];
            if (h->name_len == strlen(conf->uri_param_names[i])
                && memcmp(h->name, conf->uri_param_names[i], h->name_len)
                   == 0)
            {
                jwt_tokens_add(&t, h->value, h->value_len);
            }
        }
    }

    for (i = 0; i < conf->n_cookie_names; i++) {
        for (j = 0; j < in->nheaders; j++) {
            h = &in->headers[j];
            if (jwt_header_is(h, "cookie")
                && jwt_cookie(h->value, h->value_len, conf->cookie_names[i],
                              &v, &vlen))
            {
                jwt_tokens_add(&t, v, vlen);
                break;
            }
        }
    }

    for (i = 0; i < conf->n_header_names; i++) {
        for (j = 0; j < in->nheaders; j++) {
            h = &in->headers[j];
            if (jwt_header_is(h, conf->header_names[i])) {
                if (jwt_bearer(h->value, h->value_len, &v, &vlen)) {
                    jwt_tokens_add(&t, v, vlen);
                }
                break;
            }
        }
    }

    if (t.n == 0) {
        return KONG_JWT_TOKEN_NONE;
    }

    if (t.n > 1) {
        return KONG_JWT_TOKEN_MULTIPLE;
    }

    if (t.boolean) {
        return KONG_JWT_TOKEN_UNRECOGNIZED;
    }

    *token = t.str;
    *len = t.len;
    return KONG_JWT_TOKEN_ONE;
}


/* Header names compare without case; "_" in name matches "-". */
static int
jwt_header_is(const kong_header_t *h, const char *name)
{
    size_t  i;
    int     a, b;

    if (h->name_len != strlen(name)) {
        return 0;
    }

    for (i = 0; i < h->name_len; i++) {
        a = tolower((unsigned char) h->name[i]);
        b = tolower((unsigned char) name[i]);
        if (b == '_') {
            b = '-';
        }
        if (a == '_') {
            a = '-';
        }
        if (a != b) {
            return 0;
        }
    }

    return 1;
}


static int
jwt_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
           || c == '\v';
}


/*
 * The first match of the PCRE "\s*[Bb]earer\s+(.+)" (unanchored; "." is
 * any byte but "\n"): the capture, with \s+ giving back what .+ needs.
 */
static int
jwt_bearer(const char *s, size_t len, const char **tok, size_t *tok_len)
{
    size_t  i, ws, k, e;

    for (i = 0; i + 6 < len; i++) {
        if ((s[i] != 'B' && s[i] != 'b') || memcmp(s + i + 1, "earer", 5))
        {
            continue;
        }

        ws = i + 6;
        while (ws < len && jwt_space((unsigned char) s[ws])) {
            ws++;
        }

        /* \s+ takes ws - (i + 6) >= 1 bytes, .+ starts at k */
        for (k = ws; k > i + 6; k--) {
            if (k < len && s[k] != '\n') {
                e = k;
                while (e < len && s[e] != '\n') {
                    e++;
                }
                *tok = s + k;
                *tok_len = e - k;
                return 1;
            }
        }
    }

    return 0;
}


/* ---- decoding -------------------------------------------------------- */

long
kong_jwt_b64_decode(const char *in, size_t len, unsigned char *out)
{
    size_t    i, n;
    uint32_t  acc;
    int       c, v, bits;

    for (n = 0; n < len && in[n] != '='; n++) {
        /* scanned below */
    }

    if (n % 4 == 1) {
        return -1;
    }

    acc = 0;
    bits = 0;
    for (i = 0, len = 0; i < n; i++) {
        c = (unsigned char) in[i];

        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '+' || c == '-') {
            v = 62;
        } else if (c == '/' || c == '_') {
            v = 63;
        } else {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    return (long) len;
}


static json_t *
jwt_decode_json(const char *b64, size_t len)
{
    long            n;
    json_t         *j;
    unsigned char  *buf;
    json_error_t    e;

    buf = malloc(len * 3 / 4 + 3);
    if (buf == NULL) {
        return NULL;
    }

    n = kong_jwt_b64_decode(b64, len, buf);
    j = NULL;
    if (n >= 0) {
        j = json_loadb((const char *) buf, (size_t) n,
                       JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL
                       | JSON_ALLOW_NUL, &e);
    }

    free(buf);
    return j;
}


static const jwt_alg_t *
jwt_alg_find(const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < JWT_NALGS; i++) {
        if (strlen(jwt_algs[i].name) == len
            && memcmp(jwt_algs[i].name, name, len) == 0)
        {
            return &jwt_algs[i];
        }
    }

    return NULL;
}


static const EVP_MD *
jwt_md(int bits)
{
    switch (bits) {
    case 256:
        return EVP_sha256();
    case 384:
        return EVP_sha384();
    default:
        return EVP_sha512();
    }
}


static EVP_PKEY *
jwt_pkey_parse(const unsigned char *data, size_t len)
{
    EVP_PKEY          *pkey;
    OSSL_DECODER_CTX  *dctx;

    pkey = NULL;
    dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, NULL, NULL, NULL, 0, NULL,
                                         NULL);
    if (dctx == NULL) {
        return NULL;
    }

    if (OSSL_DECODER_from_data(dctx, &data, &len) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }

    OSSL_DECODER_CTX_free(dctx);
    return pkey;
}


static int
jwt_verify_hmac(const jwt_alg_t *alg, const unsigned char *key,
    size_t key_len, const char *data, size_t data_len,
    const unsigned char *sig, size_t sig_len)
{
    unsigned int   n;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (HMAC(jwt_md(alg->bits), key_len ? key : (const unsigned char *) "",
             (int) key_len, (const unsigned char *) data, data_len, mac, &n)
        == NULL)
    {
        return 0;
    }

    return sig_len == n && CRYPTO_memcmp(mac, sig, n) == 0;
}


static int
jwt_verify_pkey(const jwt_alg_t *alg, EVP_PKEY *pkey, const char *data,
    size_t data_len, const unsigned char *sig, size_t sig_len)
{
    int             ok, type, dlen;
    BIGNUM         *r, *s;
    EVP_MD_CTX     *md;
    ECDSA_SIG      *es;
    EVP_PKEY_CTX   *pctx;
    unsigned char  *der, *p;

    type = EVP_PKEY_get_base_id(pkey);
    der = NULL;

    if (alg->kind == JWT_EC) {
        if (type != EVP_PKEY_EC || sig_len != 2 * alg->half) {
            return 0;
        }

        es = ECDSA_SIG_new();
        r = BN_bin2bn(sig, (int) alg->half, NULL);
        s = BN_bin2bn(sig + alg->half, (int) alg->half, NULL);
        if (es == NULL || r == NULL || s == NULL
            || ECDSA_SIG_set0(es, r, s) != 1)
        {
            ECDSA_SIG_free(es);
            BN_free(r);
            BN_free(s);
            return 0;
        }

        dlen = i2d_ECDSA_SIG(es, NULL);
        der = dlen > 0 ? malloc((size_t) dlen) : NULL;
        if (der == NULL) {
            ECDSA_SIG_free(es);
            return 0;
        }
        p = der;
        i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
        sig = der;
        sig_len = (size_t) dlen;

    } else if (type != EVP_PKEY_RSA && type != EVP_PKEY_RSA_PSS) {
        return 0;
    }

    ok = 0;
    md = EVP_MD_CTX_new();
    if (md != NULL
        && EVP_DigestVerifyInit(md, &pctx, jwt_md(alg->bits), NULL, pkey)
           == 1
        && (alg->kind != JWT_PSS
            || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
                && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                    RSA_PSS_SALTLEN_AUTO)
                   > 0))
        && EVP_DigestVerify(md, sig, sig_len, (const unsigned char *) data,
                            data_len) == 1)
    {
        ok = 1;
    }

    EVP_MD_CTX_free(md);
    free(der);
    return ok;
}


/* ---- answers --------------------------------------------------------- */

static void
jwt_www(kong_jwt_result_t *res, const kong_jwt_conf_t *conf, int with_error)
{
    int  n;

    if (conf->realm != NULL) {
        n = snprintf(res->www_authenticate, sizeof(res->www_authenticate),
                     "Bearer realm=\"%.*s\"", KONG_JWT_MAX_REALM,
                     conf->realm);
    } else {
        n = snprintf(res->www_authenticate, sizeof(res->www_authenticate),
                     "Bearer");
    }

    if (with_error && n > 0 && (size_t) n < sizeof(res->www_authenticate)) {
        snprintf(res->www_authenticate + n,
                 sizeof(res->www_authenticate) - n,
                 " error=\"invalid_token\"");
    }
}


static void
jwt_fail(kong_jwt_result_t *res, const kong_jwt_conf_t *conf,
    int with_error, const char *fmt, ...)
{
    char     msg[KONG_JWT_MAX_CLAIM_NAME + 64];
    size_t   n;
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    res->status = 401;
    memcpy(res->body, "{\"message\":\"", 12);
    n = 12 + kong_json_escape(msg, strlen(msg), res->body + 12,
                              sizeof(res->body) - 14);
    memcpy(res->body + n, "\"}", 3);
    res->body_len = n + 2;
    jwt_www(res, conf, with_error);
}


static void
jwt_fail_claims(kong_jwt_result_t *res, const kong_jwt_conf_t *conf,
    const char *const *keys, const char *const *msgs, size_t n)
{
    size_t  i;
    int     w;

    res->status = 401;
    res->body_len = 0;
    res->body[res->body_len++] = '{';
    for (i = 0; i < n; i++) {
        w = snprintf(res->body + res->body_len,
                     sizeof(res->body) - res->body_len, "%s\"%s\":\"%s\"",
                     i ? "," : "", keys[i], msgs[i]);
        if (w > 0) {
            res->body_len += (size_t) w;
        }
    }
    res->body[res->body_len++] = '}';
    res->body[res->body_len] = '\0';
    jwt_www(res, conf, 1);
}


static void
jwt_internal(kong_jwt_result_t *res)
{
    res->status = 500;
    res->body_len = (size_t) snprintf(res->body, sizeof(res->body),
                             "{\"message\":\"An unexpected error occurred\"}");
    res->www_authenticate[0] = '\0';
}


/* ---- verification ---------------------------------------------------- */

int
kong_jwt_verify(const kong_jwt_conf_t *conf, const char *token, size_t len,
    int64_t now, kong_jwt_lookup_pt lookup, void *ctx,
    kong_jwt_result_t *res)
{
    int                       sig_ok;
    long                      sig_len, key_len;
    size_t                    i, nerr, d1, d2;
    json_t                   *header, *claims, *alg_j, *kid, *c;
    EVP_PKEY                 *pkey, *use;
    const char               *alg_name, *errk[2], *errm[2], *value, *cname;
    unsigned char            *sig, *key;
    const jwt_alg_t          *alg, *want;
    const kong_jwt_secret_t  *s;

    memset(res, 0, sizeof(*res));
    res->token = token;
    res->token_len = len;

    header = NULL;
    claims = NULL;
    sig = NULL;
    key = NULL;
    pkey = NULL;
    cname = conf->key_claim_name;

    /* header.claims.signature: the signature is all after the 2nd dot */
    for (d1 = 0; d1 < len && token[d1] != '.'; d1++) { /* void */ }
    for (d2 = d1 + 1; d2 < len && token[d2] != '.'; d2++) { /* void */ }

    if (d2 >= len
        || (header = jwt_decode_json(token, d1)) == NULL
        || (claims = jwt_decode_json(token + d1 + 1, d2 - d1 - 1)) == NULL)
    {
        jwt_fail(res, conf, 1, "Bad token; invalid JSON");
        goto done;
    }

    sig = malloc((len - d2 - 1) * 3 / 4 + 3);
    if (sig == NULL) {
        jwt_internal(res);
        goto done;
    }
    sig_len = kong_jwt_b64_decode(token + d2 + 1, len - d2 - 1, sig);

    alg_j = json_is_object(header) ? json_object_get(header, "alg") : NULL;
    alg = json_is_string(alg_j)
          ? jwt_alg_find(json_string_value(alg_j), json_string_length(alg_j))
          : NULL;
    if (alg == NULL) {
        jwt_fail(res, conf, 1, "Bad token; invalid alg");
        goto done;
    }

    if (!json_is_object(claims)) {
        jwt_fail(res, conf, 1, "Bad token; invalid claims");
        goto done;
    }

    if (sig_len < 0) {
        jwt_fail(res, conf, 1, "Bad token; invalid signature");
        goto done;
    }

    /* claims[key_claim_name] or header[key_claim_name] */
    kid = json_object_get(claims, cname);
    if (kid == NULL || json_is_false(kid)) {
        kid = json_object_get(header, cname);
    }
    if (kid == NULL || json_is_false(kid)) {
        jwt_fail(res, conf, 1, "No mandatory '%s' in claims", cname);
        goto done;
    }
    if (json_is_string(kid) && json_string_length(kid) == 0) {
        jwt_fail(res, conf, 1, "Invalid '%s' in claims", cname);
        goto done;
    }

    s = json_is_string(kid)
        ? lookup(ctx, json_string_value(kid), json_string_length(kid))
        : NULL;
    if (s == NULL) {
        jwt_fail(res, conf, 1, "No credentials found for given '%s'", cname);
        goto done;
    }

    alg_name = s->algorithm ? s->algorithm : "HS256";
    want = jwt_alg_find(alg_name, strlen(alg_name));
    if (want != alg) {
        jwt_fail(res, conf, 1, "Invalid algorithm");
        goto done;
    }

    if (alg->kind == JWT_HMAC) {
        value = s->secret;
        key_len = (long) s->secret_len;
    } else {
        value = s->rsa_public_key;
        key_len = value ? (long) strlen(value) : 0;
    }

    if (value == NULL) {
        jwt_fail(res, conf, 1, "Invalid key/secret");
        goto done;
    }

    if (conf->secret_is_base64) {
        key = malloc((size_t) key_len * 3 / 4 + 3);
        if (key == NULL) {
            jwt_internal(res);
            goto done;
        }
        key_len = kong_jwt_b64_decode(value, (size_t) key_len, key);
        if (key_len < 0) {
            jwt_fail(res, conf, 1, "Invalid key/secret");
            goto done;
        }
    }

    if (alg->kind == JWT_HMAC) {
        sig_ok = jwt_verify_hmac(alg, key ? key : (const unsigned char *) value,
                                 (size_t) key_len, token, d2, sig,
                                 (size_t) sig_len);

    } else {
        use = (key == NULL) ? s->pkey : NULL;
        if (use == NULL) {
            pkey = jwt_pkey_parse(key ? key : (const unsigned char *) value,
                                  (size_t) key_len);
            use = pkey;
        }

        if (use == NULL) {
            /* Kong: an assertion, "Consumer Public Key is Invalid" */
            jwt_internal(res);
            goto done;
        }

        sig_ok = jwt_verify_pkey(alg, use, token, d2, sig, (size_t) sig_len);
    }

    if (!sig_ok) {
        jwt_fail(res, conf, 1, "Invalid signature");
        goto done;
    }

    nerr = 0;
    for (i = 0; i < conf->n_claims_to_verify && nerr < 2; i++) {
        c = json_object_get(claims, conf->claims_to_verify[i]);
        errk[nerr] = conf->claims_to_verify[i];

        if (!json_is_number(c)) {
            errm[nerr++] = "must be a number";

        } else if (strcmp(conf->claims_to_verify[i], "exp") == 0) {
            if (json_number_value(c) <= (double) now) {
                errm[nerr++] = "token expired";
            }

        } else if (json_number_value(c) > (double) now) {
            errm[nerr++] = "token not valid yet";
        }
    }

    if (nerr) {
        jwt_fail_claims(res, conf, errk, errm, nerr);
        goto done;
    }

    if (conf->maximum_expiration > 0) {
        c = json_object_get(claims, "exp");
        if (!json_is_number(c)
            || json_number_value(c) - (double) now > conf->maximum_expiration)
        {
            errk[0] = "exp";
            errm[0] = "exceeds maximum allowed expiration";
            jwt_fail_claims(res, conf, errk, errm, 1);
            goto done;
        }
    }

    res->status = 0;
    res->secret = s;

done:

    EVP_PKEY_free(pkey);
    free(key);
    free(sig);
    json_decref(header);
    json_decref(claims);
    return res->status;
}


int
kong_jwt_authenticate(const kong_jwt_conf_t *conf, const kong_jwt_input_t *in,
    int64_t now, kong_jwt_lookup_pt lookup, void *ctx, kong_jwt_result_t *res)
{
    int          rc;
    size_t       len;
    const char  *token;

    token = NULL;
    len = 0;
    rc = kong_jwt_find_token(conf, in, &token, &len);

    switch (rc) {
    case KONG_JWT_TOKEN_ONE:
        return kong_jwt_verify(conf, token, len, now, lookup, ctx, res);

    case KONG_JWT_TOKEN_NONE:
        memset(res, 0, sizeof(*res));
        jwt_fail(res, conf, 0, "Unauthorized");
        return res->status;

    case KONG_JWT_TOKEN_MULTIPLE:
        memset(res, 0, sizeof(*res));
        jwt_fail(res, conf, 1, "Multiple tokens provided");
        return res->status;

    default:
        memset(res, 0, sizeof(*res));
        jwt_fail(res, conf, 1, "Unrecognizable token");
        return res->status;
    }
}
