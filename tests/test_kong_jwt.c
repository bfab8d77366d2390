/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: the jwt plugin's engine against Kong 3.x's behaviour
 * (kong/plugins/jwt/handler.lua, jwt_parser.lua and their access spec):
 * where tokens are found, each refusal's status, body and WWW-Authenticate,
 * every algorithm with keys made here, exp / nbf / maximum_expiration.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "kong_jwt.h"


#define NOW  1700000000


static kong_jwt_secret_t  secrets[16];
static size_t             nsecrets;


static const kong_jwt_secret_t *
lookup(void *ctx, const char *key, size_t len)
{
    size_t  i;

    (void) ctx;
    for (i = 0; i < nsecrets; i++) {
        if (secrets[i].key_len == len && memcmp(secrets[i].key, key, len) == 0)
        {
            return &secrets[i];
        }
    }
    return NULL;
}


static void
b64url(const unsigned char *in, size_t len, char *out)
{
    static const char  a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t    i, n;
    uint32_t  v;

    n = 0;
    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[n++] = a[v >> 18];
        out[n++] = a[(v >> 12) & 63];
        out[n++] = a[(v >> 6) & 63];
        out[n++] = a[v & 63];
    }
    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[n++] = a[v >> 18];
        out[n++] = a[(v >> 12) & 63];
    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[n++] = a[v >> 18];
        out[n++] = a[(v >> 12) & 63];
        out[n++] = a[(v >> 6) & 63];
    }
    out[n] = '\0';
}


static const EVP_MD *
md_of(const char *alg)
{
    return strstr(alg, "256") ? EVP_sha256()
           : strstr(alg, "384") ? EVP_sha384() : EVP_sha512();
}


/* A token over header and claims (JSON text), signed with alg. */
static char *
sign(const char *header, const char *claims, const char *alg,
    const unsigned char *key, size_t key_len, EVP_PKEY *pkey)
{
    char           *tok;
    size_t          n, siglen, half;
    unsigned int    hlen;
    EVP_MD_CTX     *md;
    ECDSA_SIG      *es;
    EVP_PKEY_CTX   *pctx;
    const BIGNUM   *r, *s;
    unsigned char   sig[1024], raw[256];
    const unsigned char  *p;

    tok = malloc(8192);
    b64url((const unsigned char *) header, strlen(header), tok);
    n = strlen(tok);
    tok[n++] = '.';
    b64url((const unsigned char *) claims, strlen(claims), tok + n);
    n = strlen(tok);

    if (alg[0] == 'H') {
        HMAC(md_of(alg), key, (int) key_len, (unsigned char *) tok, n, sig,
             &hlen);
        siglen = hlen;

    } else {
        md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(md, &pctx, md_of(alg), NULL,
                                            pkey), 1);
        if (alg[0] == 'P') {
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
        }
        siglen = sizeof(sig);
        assert_int_equal(EVP_DigestSign(md, sig, &siglen,
                                        (unsigned char *) tok, n), 1);
        EVP_MD_CTX_free(md);

        if (alg[0] == 'E') {
            half = strstr(alg, "256") ? 32 : strstr(alg, "384") ? 48 : 66;
            p = sig;
            es = d2i_ECDSA_SIG(NULL, &p, (long) siglen);
            ECDSA_SIG_get0(es, &r, &s);
            BN_bn2binpad(r, raw, (int) half);
            BN_bn2binpad(s, raw + half, (int) half);
            ECDSA_SIG_free(es);
            memcpy(sig, raw, 2 * half);
            siglen = 2 * half;
        }
    }

    tok[n++] = '.';
    b64url(sig, siglen, tok + n);
    return tok;
}


static char *
pem_of(EVP_PKEY *pkey)
{
    BIO    *b;
    char   *p, *out;
    long    n;

    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, pkey);
    n = BIO_get_mem_data(b, &p);
    out = malloc((size_t) n + 1);
    memcpy(out, p, (size_t) n);
    out[n] = '\0';
    BIO_free(b);
    return out;
}


static EVP_PKEY  *rsa_key, *ec256_key, *ec384_key, *rsa_other;
static char      *rsa_pem, *ec256_pem, *ec384_pem;


static void
add_secret(const char *key, const char *alg, const char *secret,
    const char *pem)
{
    char                err[128];
    kong_jwt_secret_t  *s;

    s = &secrets[nsecrets++];
    memset(s, 0, sizeof(*s));
    s->key = key;
    s->key_len = strlen(key);
    s->algorithm = alg;
    s->secret = secret;
    s->secret_len = secret ? strlen(secret) : 0;
    s->rsa_public_key = pem;
    assert_int_equal(kong_jwt_secret_prepare(s, err, sizeof(err)), 0);
}


static int
setup(void **state)
{
    (void) state;

    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    rsa_other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    ec256_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec384_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    rsa_pem = pem_of(rsa_key);
    ec256_pem = pem_of(ec256_key);
    ec384_pem = pem_of(ec384_key);

    nsecrets = 0;
    add_secret("hs256", NULL, "s3cr3t", NULL);
    add_secret("hs384", "HS384", "s3cr3t", NULL);
    add_secret("hs512", "HS512", "s3cr3t", NULL);
    add_secret("rs256", "RS256", NULL, rsa_pem);
    add_secret("rs384", "RS384", NULL, rsa_pem);
    add_secret("rs512", "RS512", NULL, rsa_pem);
    add_secret("es256", "ES256", NULL, ec256_pem);
    add_secret("es384", "ES384", NULL, ec384_pem);
    add_secret("ps256", "PS256", NULL, rsa_pem);
    add_secret("b64", "HS256", "c2VjcmV0LWJ5dGVz", NULL);  /* secret-bytes */
    return 0;
}


static int
teardown(void **state)
{
    size_t  i;

    (void) state;
    for (i = 0; i < nsecrets; i++) {
        kong_jwt_secret_release(&secrets[i]);
    }
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(rsa_other);
    EVP_PKEY_free(ec256_key);
    EVP_PKEY_free(ec384_key);
    free(rsa_pem);
    free(ec256_pem);
    free(ec384_pem);
    return 0;
}


static char *
hs(const char *alg, const char *claims, const char *secret)
{
    char  header[64];

    snprintf(header, sizeof(header), "{\"typ\":\"JWT\",\"alg\":\"%s\"}", alg);
    return sign(header, claims, alg, (const unsigned char *) secret,
                strlen(secret), NULL);
}


/* Verifies token with conf (NULL: defaults); checks status and body. */
static void
verified(const kong_jwt_conf_t *conf, const char *token, int status,
    const char *body)
{
    kong_jwt_conf_t    def;
    kong_jwt_result_t  res;

    if (conf == NULL) {
        kong_jwt_conf_default(&def);
        conf = &def;
    }

    assert_int_equal(kong_jwt_verify(conf, token, strlen(token), NOW, lookup,
                                     NULL, &res), status);
    if (body != NULL) {
        assert_string_equal(res.body, body);
        assert_int_equal(res.body_len, strlen(body));
    }
    if (status == 401) {
        assert_string_equal(res.www_authenticate,
                            "Bearer error=\"invalid_token\"");
    }
}


static void
every_algorithm(void **state)
{
    char  *t;

    (void) state;

    t = hs("HS256", "{\"iss\":\"hs256\"}", "s3cr3t");
    verified(NULL, t, 0, NULL);
    free(t);
    t = hs("HS384", "{\"iss\":\"hs384\"}", "s3cr3t");
    verified(NULL, t, 0, NULL);
    free(t);
    t = hs("HS512", "{\"iss\":\"hs512\"}", "s3cr3t");
    verified(NULL, t, 0, NULL);
    free(t);

    t = sign("{\"alg\":\"RS256\"}", "{\"iss\":\"rs256\"}", "RS256", NULL, 0,
             rsa_key);
    verified(NULL, t, 0, NULL);
    free(t);
    t = sign("{\"alg\":\"RS384\"}", "{\"iss\":\"rs384\"}", "RS384", NULL, 0,
             rsa_key);
    verified(NULL, t, 0, NULL);
    free(t);
    t = sign("{\"alg\":\"RS512\"}", "{\"iss\":\"rs512\"}", "RS512", NULL, 0,
             rsa_key);
    verified(NULL, t, 0, NULL);
    free(t);
    t = sign("{\"alg\":\"ES256\"}", "{\"iss\":\"es256\"}", "ES256", NULL, 0,
             ec256_key);
    verified(NULL, t, 0, NULL);
    free(t);
    t = sign("{\"alg\":\"ES384\"}", "{\"iss\":\"es384\"}", "ES384", NULL, 0,
             ec384_key);
    verified(NULL, t, 0, NULL);
    free(t);
    t = sign("{\"alg\":\"PS256\"}", "{\"iss\":\"ps256\"}", "PS256", NULL, 0,
             rsa_key);
    verified(NULL, t, 0, NULL);
    free(t);

    /* signed by another key */
    t = sign("{\"alg\":\"RS256\"}", "{\"iss\":\"rs256\"}", "RS256", NULL, 0,
             rsa_other);
    verified(NULL, t, 401, "{\"message\":\"Invalid signature\"}");
    free(t);

    /* an RS256 token for an ES256 credential */
    t = sign("{\"alg\":\"RS256\"}", "{\"iss\":\"es256\"}", "RS256", NULL, 0,
             rsa_key);
    verified(NULL, t, 401, "{\"message\":\"Invalid algorithm\"}");
    free(t);

    /* an ES256 signature that is not 64 bytes (Kong: an assertion) */
    verified(NULL, "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJlczI1NiJ9.AAAA", 401,
             "{\"message\":\"Invalid signature\"}");
}


static void
refusals(void **state)
{
    char             *t;
    kong_jwt_conf_t   conf;

    (void) state;

    /* decoding (jwt_parser.decode_token) */
    verified(NULL, "abc", 401, "{\"message\":\"Bad token; invalid JSON\"}");
    verified(NULL, "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJoczI1NiJ9", 401,
             "{\"message\":\"Bad token; invalid JSON\"}");
    verified(NULL, "e30.%%%.abc", 401,
             "{\"message\":\"Bad token; invalid JSON\"}");
    /* {} has no alg; {"alg":"none"} and {"alg":5} are not supported */
    verified(NULL, "e30.e30.abc", 401,
             "{\"message\":\"Bad token; invalid alg\"}");
    verified(NULL, "eyJhbGciOiJub25lIn0.e30.", 401,
             "{\"message\":\"Bad token; invalid alg\"}");
    verified(NULL, "eyJhbGciOjV9.e30.", 401,
             "{\"message\":\"Bad token; invalid alg\"}");
    /* claims "false" */
    verified(NULL, "eyJhbGciOiJIUzI1NiJ9.ZmFsc2U.abc", 401,
             "{\"message\":\"Bad token; invalid claims\"}");
    /* a dot in the signature part */
    verified(NULL, "eyJhbGciOiJIUzI1NiJ9.e30.ab.c", 401,
             "{\"message\":\"Bad token; invalid signature\"}");

    /* the key claim */
    t = hs("HS256", "{\"sub\":\"x\"}", "s3cr3t");
    verified(NULL, t, 401, "{\"message\":\"No mandatory 'iss' in claims\"}");
    free(t);
    t = hs("HS256", "{\"iss\":\"\"}", "s3cr3t");
    verified(NULL, t, 401, "{\"message\":\"Invalid 'iss' in claims\"}");
    free(t);
    t = hs("HS256", "{\"iss\":\"nobody\"}", "s3cr3t");
    verified(NULL, t, 401,
             "{\"message\":\"No credentials found for given 'iss'\"}");
    free(t);
    t = hs("HS256", "{\"iss\":\"hs256\"}", "wrong");
    verified(NULL, t, 401, "{\"message\":\"Invalid signature\"}");
    free(t);
    /* the credential is HS384 */
    t = hs("HS256", "{\"iss\":\"hs384\"}", "s3cr3t");
    verified(NULL, t, 401, "{\"message\":\"Invalid algorithm\"}");
    free(t);

    /* key_claim_name found in the header (kid) */
    kong_jwt_conf_default(&conf);
    conf.key_claim_name = "kid";
    t = sign("{\"alg\":\"HS256\",\"kid\":\"hs256\"}", "{}", "HS256",
             (const unsigned char *) "s3cr3t", 6, NULL);
    verified(&conf, t, 0, NULL);
    free(t);
    t = hs("HS256", "{\"iss\":\"hs256\"}", "s3cr3t");
    verified(&conf, t, 401, "{\"message\":\"No mandatory 'kid' in claims\"}");
    free(t);

    /* secret_is_base64 */
    conf.key_claim_name = "iss";
    conf.secret_is_base64 = 1;
    t = hs("HS256", "{\"iss\":\"b64\"}", "secret-bytes");
    verified(&conf, t, 0, NULL);
    free(t);
    t = hs("HS256", "{\"iss\":\"b64\"}", "c2VjcmV0LWJ5dGVz");
    verified(&conf, t, 401, "{\"message\":\"Invalid signature\"}");
    free(t);
    /* "s3cr3t" is 6 characters: 4n+2, decodes; "hs" with a bad byte no */
    conf.secret_is_base64 = 0;
    t = hs("HS256", "{\"iss\":\"b64\"}", "secret-bytes");
    verified(&conf, t, 401, "{\"message\":\"Invalid signature\"}");
    free(t);
}


static void
claims(void **state)
{
    char                     *t, body[128];
    kong_jwt_conf_t           conf;
    static const char *const  exp[] = { "exp" };
    static const char *const  both[] = { "exp", "nbf" };

    (void) state;

    kong_jwt_conf_default(&conf);
    conf.claims_to_verify = exp;
    conf.n_claims_to_verify = 1;

    /* exp <= now is expired */
    snprintf(body, sizeof(body), "{\"iss\":\"hs256\",\"exp\":%d}", NOW);
    t = hs("HS256", body, "s3cr3t");
    verified(&conf, t, 401, "{\"exp\":\"token expired\"}");
    free(t);
    snprintf(body, sizeof(body), "{\"iss\":\"hs256\",\"exp\":%d}", NOW + 1);
    t = hs("HS256", body, "s3cr3t");
    verified(&conf, t, 0, NULL);
    free(t);
    t = hs("HS256", "{\"iss\":\"hs256\"}", "s3cr3t");
    verified(&conf, t, 401, "{\"exp\":\"must be a number\"}");
    free(t);
    t = hs("HS256", "{\"iss\":\"hs256\",\"exp\":\"1\"}", "s3cr3t");
    verified(&conf, t, 401, "{\"exp\":\"must be a number\"}");
    free(t);

    /* nbf > now is not valid yet; both errors reported */
    conf.claims_to_verify = both;
    conf.n_claims_to_verify = 2;
    snprintf(body, sizeof(body), "{\"iss\":\"hs256\",\"exp\":%d,\"nbf\":%d}",
             NOW - 1, NOW + 1);
    t = hs("HS256", body, "s3cr3t");
    verified(&conf, t, 401,
             "{\"exp\":\"token expired\",\"nbf\":\"token not valid yet\"}");
    free(t);
    snprintf(body, sizeof(body), "{\"iss\":\"hs256\",\"exp\":%d,\"nbf\":%d}",
             NOW + 10, NOW);
    t = hs("HS256", body, "s3cr3t");
    verified(&conf, t, 0, NULL);
    free(t);

    /* claims are not checked without claims_to_verify */
    kong_jwt_conf_default(&conf);
    snprintf(body, sizeof(body), "{\"iss\":\"hs256\",\"exp\":%d}", NOW - 5);
    t = hs("HS256", body, "s3cr3t");
    verified(&conf, t, 0, NULL);
    free(t);

    /* maximum_expiration */
    conf.claims_to_verify = exp;
    conf.n_claims_to_verify = 1;
    conf.maximum_expiration = 100;
    snprintf(body, sizeof(body), "{\"iss\":\"hs256\",\"exp\":%d}", NOW + 100);
    t = hs("HS256", body, "s3cr3t");
    verified(&conf, t, 0, NULL);
    free(t);
    snprintf(body, sizeof(body), "{\"iss\":\"hs256\",\"exp\":%d}", NOW + 101);
    t = hs("HS256", body, "s3cr3t");
    verified(&conf, t, 401,
             "{\"exp\":\"exceeds maximum allowed expiration\"}");
    free(t);
}


static int
found(const kong_jwt_conf_t *conf, const kong_header_t *args, size_t nargs,
    const kong_header_t *headers, size_t nheaders, const char *want)
{
    int               rc;
    size_t            len;
    const char       *tok;
    kong_jwt_input_t  in;

    in.args = args;
    in.nargs = nargs;
    in.headers = headers;
    in.nheaders = nheaders;
    tok = NULL;
    len = 0;
    rc = kong_jwt_find_token(conf, &in, &tok, &len);
    if (want != NULL) {
        assert_int_equal(rc, KONG_JWT_TOKEN_ONE);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(tok, want, len);
    }
    return rc;
}


#define H(n, v)  { n, sizeof(n) - 1, v, sizeof(v) - 1 }


static void
token_lookup(void **state)
{
    kong_jwt_conf_t           conf;
    static const char *const  cookies[] = { "crumble", "session" };
    static const char *const  hnames[] = { "x_token", "authorization" };
    kong_header_t             a1[] = { H("jwt", "tok1") };
    kong_header_t             a2[] = { H("jwt", "tok1"), H("jwt", "tok2") };
    kong_header_t             a3[] = { { "jwt", 3, NULL, 0 } };
    kong_header_t             a4[] = { H("jwt", "") };
    kong_header_t             a5[] = { H("JWT", "tok1") };
    kong_header_t             h1[] = { H("Authorization", "Bearer tok1") };
    kong_header_t             h2[] = { H("authorization", "bearer   tok1 x") };
    kong_header_t             h3[] = { H("Authorization", "Basic abc") };
    kong_header_t             h4[] = { H("Authorization", "xBearer tok1") };
    kong_header_t             h5[] = { H("Authorization", "Bearer  ") };
    kong_header_t             h6[] = { H("Authorization", "Bearer tok2") };
    kong_header_t             h7[] = { H("Cookie", "a=1; Session=tok1 ;x=2") };
    kong_header_t             h8[] = { H("Authorization", "Bearer tok1"),
                                       H("X-Token", "Bearer tok2") };
    kong_header_t             h9[] = { H("Authorization", "Bearer"),
                                       H("Authorization", "Bearer tok1") };
    kong_header_t             h10[] = { H("Cookie", "a=1, session=tok3") };

    (void) state;
    kong_jwt_conf_default(&conf);

    found(&conf, a1, 1, NULL, 0, "tok1");
    found(&conf, a1, 1, h1, 1, "tok1");       /* the same token twice */
    found(&conf, NULL, 0, h1, 1, "tok1");
    found(&conf, NULL, 0, h2, 1, "tok1 x");
    found(&conf, NULL, 0, h4, 1, "tok1");     /* PCRE unanchored */
    found(&conf, NULL, 0, h5, 1, " ");        /* \s+ gives one back */
    assert_int_equal(found(&conf, a2, 2, NULL, 0, NULL),
                     KONG_JWT_TOKEN_MULTIPLE);
    assert_int_equal(found(&conf, a1, 1, h6, 1, NULL),
                     KONG_JWT_TOKEN_MULTIPLE);
    assert_int_equal(found(&conf, a3, 1, NULL, 0, NULL),
                     KONG_JWT_TOKEN_UNRECOGNIZED);
    assert_int_equal(found(&conf, a4, 1, NULL, 0, NULL), KONG_JWT_TOKEN_NONE);
    /* argument names are case-sensitive */
    assert_int_equal(found(&conf, a5, 1, NULL, 0, NULL), KONG_JWT_TOKEN_NONE);
    assert_int_equal(found(&conf, NULL, 0, h3, 1, NULL), KONG_JWT_TOKEN_NONE);
    /* only the first Authorization line counts */
    assert_int_equal(found(&conf, NULL, 0, h9, 2, NULL), KONG_JWT_TOKEN_NONE);

    /* cookies, names without case */
    conf.cookie_names = cookies;
    conf.n_cookie_names = 2;
    found(&conf, NULL, 0, h7, 1, "tok1");
    /* "," does not separate cookies */
    assert_int_equal(found(&conf, NULL, 0, h10, 1, NULL),
                     KONG_JWT_TOKEN_NONE);

    /* header_names: "x_token" is X-Token */
    conf.header_names = hnames;
    conf.n_header_names = 2;
    assert_int_equal(found(&conf, NULL, 0, h8, 2, NULL),
                     KONG_JWT_TOKEN_MULTIPLE);
    conf.n_header_names = 1;
    found(&conf, NULL, 0, h8, 2, "tok2");
}


static void
answers(void **state)
{
    char               *t, *url;
    kong_jwt_conf_t     conf;
    kong_jwt_input_t    in;
    kong_jwt_result_t   res;
    kong_header_t       a[1];
    kong_header_t       h[] = { H("Authorization", "Bearer x") };

    (void) state;
    kong_jwt_conf_default(&conf);
    memset(&in, 0, sizeof(in));

    assert_int_equal(kong_jwt_authenticate(&conf, &in, NOW, lookup, NULL,
                                           &res), 401);
    assert_string_equal(res.body, "{\"message\":\"Unauthorized\"}");
    assert_string_equal(res.www_authenticate, "Bearer");

    conf.realm = "kong";
    assert_int_equal(kong_jwt_authenticate(&conf, &in, NOW, lookup, NULL,
                                           &res), 401);
    assert_string_equal(res.www_authenticate, "Bearer realm=\"kong\"");

    in.headers = h;
    in.nheaders = 1;
    assert_int_equal(kong_jwt_authenticate(&conf, &in, NOW, lookup, NULL,
                                           &res), 401);
    assert_string_equal(res.body, "{\"message\":\"Bad token; invalid JSON\"}");
    assert_string_equal(res.www_authenticate,
                        "Bearer realm=\"kong\" error=\"invalid_token\"");

    a[0].name = "jwt";
    a[0].name_len = 3;
    a[0].value = NULL;
    a[0].value_len = 0;
    in.args = a;
    in.nargs = 1;
    assert_int_equal(kong_jwt_authenticate(&conf, &in, NOW, lookup, NULL,
                                           &res), 401);
    assert_string_equal(res.body, "{\"message\":\"Multiple tokens provided\"}");
    in.nheaders = 0;
    assert_int_equal(kong_jwt_authenticate(&conf, &in, NOW, lookup, NULL,
                                           &res), 401);
    assert_string_equal(res.body, "{\"message\":\"Unrecognizable token\"}");

    url = hs("HS256", "{\"iss\":\"hs256\"}", "s3cr3t");
    a[0].value = url;
    a[0].value_len = strlen(url);
    assert_int_equal(kong_jwt_authenticate(&conf, &in, NOW, lookup, NULL,
                                           &res), 0);
    assert_ptr_equal(res.secret, &secrets[0]);
    free(url);

    /* "Invalid key/secret": cjson writes "\/" */
    conf.secret_is_base64 = 1;
    t = hs("HS256", "{\"iss\":\"hs256\"}", "s3cr3t");
    secrets[0].secret = "#";
    secrets[0].secret_len = 1;
    conf.realm = NULL;
    verified(&conf, t, 401, "{\"message\":\"Invalid key\\/secret\"}");
    secrets[0].secret = "s3cr3t";
    secrets[0].secret_len = 6;
    free(t);
}


static void
config_checks(void **state)
{
    char                      err[256];
    kong_jwt_conf_t           conf;
    kong_jwt_secret_t         s;
    static const char *const  bad[] = { "iat" };
    static const char *const  nbf[] = { "nbf" };

    (void) state;

    kong_jwt_conf_default(&conf);
    assert_int_equal(kong_jwt_conf_check(&conf, err, sizeof(err)), 0);

    conf.claims_to_verify = bad;
    conf.n_claims_to_verify = 1;
    assert_int_equal(kong_jwt_conf_check(&conf, err, sizeof(err)), -1);
    assert_string_equal(err,
                        "config.claims_to_verify: expected one of: exp, nbf");

    conf.claims_to_verify = nbf;
    conf.maximum_expiration = 10;
    assert_int_equal(kong_jwt_conf_check(&conf, err, sizeof(err)), -1);
    assert_string_equal(err,
                        "config.claims_to_verify: expected to contain: exp");

    conf.n_claims_to_verify = 0;
    conf.maximum_expiration = 31536001;
    assert_int_equal(kong_jwt_conf_check(&conf, err, sizeof(err)), -1);

    memset(&s, 0, sizeof(s));
    s.algorithm = "RS256";
    s.rsa_public_key = "-----BEGIN PUBLIC KEY-----\nnope\n"
                       "-----END PUBLIC KEY-----\n";
    assert_int_equal(kong_jwt_secret_prepare(&s, err, sizeof(err)), -1);
    assert_string_equal(err, "rsa_public_key: invalid key");
    s.algorithm = "HS999";
    assert_int_equal(kong_jwt_secret_prepare(&s, err, sizeof(err)), -1);
    s.algorithm = "ES256";
    s.rsa_public_key = ec256_pem;
    assert_int_equal(kong_jwt_secret_prepare(&s, err, sizeof(err)), 0);
    kong_jwt_secret_release(&s);
}


static void
base64(void **state)
{
    unsigned char  out[32];

    (void) state;

    assert_int_equal(kong_jwt_b64_decode("aGk", 3, out), 2);
    assert_memory_equal(out, "hi", 2);
    assert_int_equal(kong_jwt_b64_decode("aGk=", 4, out), 2);
    /* stops at the first "=", as nginx's decoder */
    assert_int_equal(kong_jwt_b64_decode("aGk=junk", 8, out), 2);
    assert_int_equal(kong_jwt_b64_decode("-_-_", 4, out), 3);
    assert_int_equal(kong_jwt_b64_decode("+/+/", 4, out), 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    assert_int_equal(kong_jwt_b64_decode("abcde", 5, out), -1);
    assert_int_equal(kong_jwt_b64_decode("ab.c", 4, out), -1);
    assert_int_equal(kong_jwt_b64_decode("", 0, out), 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(every_algorithm),
        cmocka_unit_test(refusals),
        cmocka_unit_test(claims),
        cmocka_unit_test(token_lookup),
        cmocka_unit_test(answers),
        cmocka_unit_test(config_checks),
        cmocka_unit_test(base64),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
