/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The jwt plugin's engine (Kong 3.x semantics), plain C with no nginx:
 * where the token is looked for, how it is decoded, which credential signs
 * it, how the signature and the registered claims are checked, and the
 * status, body and WWW-Authenticate header of every refusal.  The glue
 * owns the consumer side (anonymous, X-Consumer-* headers, run_on_preflight)
 * and sends the answer.
 *
 *   kong_jwt_conf_t    conf;
 *   kong_jwt_result_t  res;
 *
 *   kong_jwt_conf_default(&conf);          then set what kong.yml sets
 *   if (kong_jwt_conf_check(&conf, err, sizeof(err)) != 0) { reject }
 *   ...
 *   kong_jwt_authenticate(&conf, &input, time(NULL), lookup, ctx, &res);
 *   res.status == 0: res.secret is the credential; else answer res.status
 *   with res.body (JSON) and, when res.www_authenticate[0], that header.
 *
 * The loader fills kong_jwt_conf_t from a jwt plugin's config (arrays as in
 * the YAML, in order; absent fields keep kong_jwt_conf_default's values),
 * and one kong_jwt_secret_t per jwt_secrets entry, on which it calls
 * kong_jwt_secret_prepare (so a bad rsa_public_key fails at load, with the
 * message "invalid key", as Kong's entity check does) and, when the
 * configuration goes, kong_jwt_secret_release.  Nothing here keeps a
 * pointer to the input after returning; every string of the result points
 * into the result, the input or the secret.
 */

#ifndef KONG_JWT_H
#define KONG_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "kong.h"


/* kong_jwt_find_token */
#define KONG_JWT_TOKEN_NONE          0   /* 401 Unauthorized */
#define KONG_JWT_TOKEN_ONE           1
#define KONG_JWT_TOKEN_MULTIPLE      2   /* 401 Multiple tokens provided */
#define KONG_JWT_TOKEN_UNRECOGNIZED  3   /* 401 Unrecognizable token
                                            ("?jwt" with no value) */

#define KONG_JWT_MAX_REALM           256
#define KONG_JWT_MAX_CLAIM_NAME      128


typedef struct {
    const char *const      *uri_param_names;   /* default {"jwt"} */
    size_t                  n_uri_param_names;
    const char *const      *cookie_names;      /* default {} */
    size_t                  n_cookie_names;
    const char *const      *header_names;      /* default {"authorization"} */
    size_t                  n_header_names;
    const char             *key_claim_name;    /* default "iss" */
    int                     secret_is_base64;  /* default 0 */
    const char *const      *claims_to_verify;  /* "exp", "nbf"; default {} */
    size_t                  n_claims_to_verify;
    double                  maximum_expiration;  /* s, 0..31536000; 0 */
    const char             *realm;             /* NULL = none (default) */
} kong_jwt_conf_t;


/*
 * One jwt_secrets entry.  algorithm NULL means "HS256".  HS* use secret
 * (secret_len bytes); the others use rsa_public_key (a NUL-terminated PEM
 * or DER-in-PEM public key, as Kong's rsa_public_key), parsed once by
 * kong_jwt_secret_prepare into pkey.  data is the caller's (its consumer).
 */
typedef struct {
    const char             *key;
    size_t                  key_len;
    const char             *algorithm;
    const char             *secret;
    size_t                  secret_len;
    const char             *rsa_public_key;
    void                   *pkey;      /* EVP_PKEY *, owned; NULL = none */
    void                   *data;
} kong_jwt_secret_t;


/* Finds the credential whose key is key[0..len); NULL if none. */
typedef const kong_jwt_secret_t *(*kong_jwt_lookup_pt)(void *ctx,
    const char *key, size_t len);


/*
 * What the token is looked for in: the decoded query arguments (value NULL
 * for a bare "?name", "" for "?name="), in order, repeated names repeated;
 * and the request headers, Cookie lines among them.
 */
typedef struct {
    const kong_header_t    *args;
    size_t                  nargs;
    const kong_header_t    *headers;
    size_t                  nheaders;
} kong_jwt_input_t;


typedef struct {
    int                     status;     /* 0: authenticated; 401; 500 */
    const kong_jwt_secret_t *secret;    /* the credential, when 0 */
    const char             *token;      /* the token found, or NULL */
    size_t                  token_len;
    char                    body[512];  /* JSON body, NUL-terminated */
    size_t                  body_len;
    char                    www_authenticate[KONG_JWT_MAX_REALM + 48];
                                        /* "" = no header (500) */
} kong_jwt_result_t;


/* Kong's defaults.  The arrays are static. */
void kong_jwt_conf_default(kong_jwt_conf_t *conf);

/*
 * Kong's schema checks on a filled configuration: claims_to_verify
 * elements ("expected one of: exp, nbf"), maximum_expiration between 0 and
 * 31536000, maximum_expiration > 0 requires "exp" among claims_to_verify
 * ("expected to contain: exp");
 * and this engine's bounds on key_claim_name and realm lengths.  Returns 0,
 * or -1 with the message in err.
 */
int kong_jwt_conf_check(const kong_jwt_conf_t *conf, char *err,
    size_t err_size);

/*
 * Parses s->rsa_public_key for the RS, ES and PS algorithms (PEM or DER,
 * public or private key); checks the algorithm name.  Returns 0, or -1
 * with "invalid key" or "expected one of: ..." in err.  Idempotent.
 */
int kong_jwt_secret_prepare(kong_jwt_secret_t *s, char *err,
    size_t err_size);
void kong_jwt_secret_release(kong_jwt_secret_t *s);

/*
 * Kong's retrieve_tokens: every non-empty value of each uri_param_names
 * argument, each non-empty cookie_names cookie, and for each header_names
 * header (case-insensitive, "_" matching "-"; its first line) what follows
 * "[Bb]earer<whitespace>" in it.  Distinct tokens count once.  Returns a
 * KONG_JWT_TOKEN_*; with KONG_JWT_TOKEN_ONE, *token / *len point into the
 * input.
 */
int kong_jwt_find_token(const kong_jwt_conf_t *conf,
    const kong_jwt_input_t *in, const char **token, size_t *len);

/*
 * Verifies token[0..len) at time now (Unix seconds): decoding ("Bad token;
 * invalid JSON" / "invalid alg" / "invalid claims" / "invalid signature"),
 * the key claim, the credential (lookup), its algorithm, the signature
 * (HMAC compared in constant time; ES* signatures are JWS raw r||s),
 * claims_to_verify and maximum_expiration.  Fills res; returns res->status.
 * Allocates with malloc and frees before returning.
 */
int kong_jwt_verify(const kong_jwt_conf_t *conf, const char *token,
    size_t len, int64_t now, kong_jwt_lookup_pt lookup, void *ctx,
    kong_jwt_result_t *res);

/* kong_jwt_find_token then kong_jwt_verify, with Kong's answers. */
int kong_jwt_authenticate(const kong_jwt_conf_t *conf,
    const kong_jwt_input_t *in, int64_t now, kong_jwt_lookup_pt lookup,
    void *ctx, kong_jwt_result_t *res);

/*
 * Kong's lenient base64url decoding (also accepts "+" and "/"; stops at the
 * first "="; fails on other bytes or a length of 4n+1).  out must hold
 * len * 3 / 4 + 3 bytes.  Returns the decoded length, or -1.
 */
long kong_jwt_b64_decode(const char *in, size_t len, unsigned char *out);

#endif /* KONG_JWT_H */
