/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The jwt plugin's engine (kong-compat/kong_jwt.c) on untrusted input.
 *
 * Input: lines.  Line 1 is the token, verified directly; every further
 * line is a header "Name: value" (or, starting with "?", a query argument
 * "name=value", bare "name" for no value), and the whole is then run
 * through kong_jwt_authenticate.  The lookup knows an HS256, an HS512 and
 * an ES256 credential, so the fuzzer can reach the signature checks.
 *
 * Invariants: status 0, 401 or 500; a refusal's body is JSON of its
 * stated length; a 401 carries WWW-Authenticate, a 500 does not; a token
 * found lies inside the input; the base64 decoder never writes more than
 * len * 3 / 4 bytes.
 */

#include "fuzz.h"

#include <jansson.h>

#include "kong_jwt.h"


#define FZ_LINES  32


static const char  fz_ec_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEhdXjUR+OA8raJKpG8ExHeyKNtQe7\n"
    "1/hBvyx7gOyQyyb5F1c9iT48WZTawAE/ssrV5SiKUUzr8V4FiRHpsC97jg==\n"
    "-----END PUBLIC KEY-----\n";

static kong_jwt_secret_t  fz_secrets[3];
static int                fz_ready;


static const kong_jwt_secret_t *
fz_lookup(void *ctx, const char *key, size_t len)
{
    size_t  i;

    (void) ctx;
    for (i = 0; i < 3; i++) {
        if (fz_secrets[i].key_len == len
            && memcmp(fz_secrets[i].key, key, len) == 0)
        {
            return &fz_secrets[i];
        }
    }
    return NULL;
}


static void
fz_init(void)
{
    char  err[128];

    fz_secrets[0].key = "a";
    fz_secrets[0].key_len = 1;
    fz_secrets[0].secret = "s3cr3t";
    fz_secrets[0].secret_len = 6;
    fz_secrets[1].key = "b";
    fz_secrets[1].key_len = 1;
    fz_secrets[1].algorithm = "HS512";
    fz_secrets[1].secret = "";
    fz_secrets[2].key = "c";
    fz_secrets[2].key_len = 1;
    fz_secrets[2].algorithm = "ES256";
    fz_secrets[2].rsa_public_key = fz_ec_pem;
    FZ_CHECK(kong_jwt_secret_prepare(&fz_secrets[2], err, sizeof(err)) == 0);
    fz_ready = 1;
}


static void
fz_check(const kong_jwt_result_t *res, const char *in, size_t size)
{
    json_t        *j;
    json_error_t   e;

    FZ_CHECK(res->status == 0 || res->status == 401 || res->status == 500);

    if (res->status == 0) {
        FZ_CHECK(res->secret != NULL);
        FZ_CHECK(res->token >= in && res->token + res->token_len <= in + size);
        return;
    }

    FZ_CHECK(res->body_len == strlen(res->body));
    j = json_loads(res->body, 0, &e);
    FZ_CHECK(json_is_object(j));
    json_decref(j);
    FZ_CHECK((res->status == 401) == (res->www_authenticate[0] != '\0'));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char               *in, *p, *end, *nl, *c;
    size_t              nh, na;
    long                n;
    unsigned char      *out;
    kong_header_t       hs[FZ_LINES], as[FZ_LINES];
    kong_jwt_conf_t     conf;
    kong_jwt_input_t    input;
    kong_jwt_result_t   res;
    static const char *const  claims[] = { "exp", "nbf" };
    static const char *const  cookies[] = { "jwt", "token" };
    static const char *const  headers[] = { "authorization", "x_jwt" };

    if (!fz_ready) {
        fz_init();
    }

    in = fz_copy(data, size);
    end = in + size;

    kong_jwt_conf_default(&conf);
    conf.claims_to_verify = claims;
    conf.n_claims_to_verify = 2;
    conf.maximum_expiration = 3600;
    conf.cookie_names = cookies;
    conf.n_cookie_names = 2;
    conf.header_names = headers;
    conf.n_header_names = 2;
    conf.secret_is_base64 = size > 0 && (data[size - 1] & 1);
    conf.realm = (size > 0 && (data[0] & 1)) ? "r\"ealm" : NULL;

    nl = memchr(in, '\n', size);
    kong_jwt_verify(&conf, in, nl ? (size_t) (nl - in) : size, 1700000000,
                    fz_lookup, NULL, &res);
    fz_check(&res, in, size);

    out = malloc(size * 3 / 4 + 3);
    FZ_CHECK(out != NULL);
    n = kong_jwt_b64_decode(in, nl ? (size_t) (nl - in) : size, out);
    FZ_CHECK(n <= (long) (size * 3 / 4));
    free(out);

    nh = 0;
    na = 0;
    for (p = nl ? nl + 1 : end; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            nl = end;
        }

        if (*p == '?' && na < FZ_LINES) {
            c = memchr(p, '=', (size_t) (nl - p));
            as[na].name = p + 1;
            as[na].name_len = (size_t) ((c ? c : nl) - p - 1);
            as[na].value = c ? c + 1 : NULL;
            as[na].value_len = c ? (size_t) (nl - c - 1) : 0;
            na++;

        } else if (nh < FZ_LINES) {
            c = memchr(p, ':', (size_t) (nl - p));
            hs[nh].name = p;
            hs[nh].name_len = (size_t) ((c ? c : nl) - p);
            hs[nh].value = c ? c + 1 : nl;
            hs[nh].value_len = c ? (size_t) (nl - c - 1) : 0;
            nh++;
        }
    }

    input.args = as;
    input.nargs = na;
    input.headers = hs;
    input.nheaders = nh;
    kong_jwt_authenticate(&conf, &input, 1700000000, fz_lookup, NULL, &res);
    fz_check(&res, in, size);

    free(in);
    return 0;
}
