/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong: a service's tls_verify, tls_verify_depth and ca_certificates,
 * as Kong applies them to the connection to an https service (Kong's
 * runloop/upstream_ssl.lua set_service_ssl): tls_verify true turns the
 * verification on (false and null leave the location's proxy_ssl_verify:
 * Kong also applies only a true value); a service that sets any of the
 * three is verified against its own trust store, its ca_certificates' CAs,
 * else the system's default CAs (Kong's default lua_ssl_trusted_certificate
 * "system"), to tls_verify_depth (default 1, nginx's and Kong's).  One
 * SSL context per distinct (CAs, depth), made when the file is loaded;
 * per request, the balancer's copy of the upstream settings points at it.
 * A service that sets none keeps the location's proxy_ssl_* settings.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_farm_kong.h"
#include "ngx_http_farm_ssl_session.h"


#if (NGX_HTTP_SSL)

static ngx_ssl_t *ngx_http_farm_kong_tls_ctx(ngx_conf_t *cf,
    ngx_http_farm_kong_conf_t *kc, const kong_service_t *s);
static ngx_int_t ngx_http_farm_kong_tls_same(const kong_service_t *a,
    const kong_service_t *b);
static ngx_int_t ngx_http_farm_kong_tls_ca(ngx_conf_t *cf, ngx_ssl_t *ssl,
    const kong_ca_certificate_t *ca);

#endif


ngx_int_t
ngx_http_farm_kong_tls_conf(ngx_conf_t *cf, ngx_http_farm_kong_conf_t *kc)
{
    size_t                 i, j;
    kong_config_t         *kong;
    const kong_service_t  *s;

    kong = kc->kong;

#if (NGX_HTTP_SSL)

    kc->tls = ngx_pcalloc(cf->pool, (kong->nservices + 1)
                                    * sizeof(ngx_ssl_t *));
    if (kc->tls == NULL) {
        return NGX_ERROR;
    }

#endif

    for (i = 0; i < kong->nservices; i++) {
        s = kong->services[i];

        if (s->protocol != KONG_PROTO_HTTPS
            || (s->tls_verify != 1 && s->tls_verify_depth == -1
                && s->nca_certificates == 0))
        {
            continue;
        }

#if (NGX_HTTP_SSL)

        /* a context made for an earlier service with the same store */

        for (j = 0; j < i; j++) {
            if (kc->tls[j] != NULL
                && ngx_http_farm_kong_tls_same(kong->services[j], s) == NGX_OK)
            {
                kc->tls[i] = kc->tls[j];
                break;
            }
        }

        if (kc->tls[i] == NULL) {
            kc->tls[i] = ngx_http_farm_kong_tls_ctx(cf, kc, s);

            if (kc->tls[i] == NULL) {
                return NGX_ERROR;
            }
        }

#else
        (void) j;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "farm_kong: %V: service \"%s\": tls_verify, "
                           "tls_verify_depth and ca_certificates need nginx "
                           "built with SSL", &kc->file,
                           s->name ? s->name : s->host);
        return NGX_ERROR;
#endif
    }

    return NGX_OK;
}


#if (NGX_HTTP_SSL)

/* per request, on the balancer's copy of the location's settings */

void
ngx_http_farm_kong_tls_apply(ngx_http_farm_kong_conf_t *kc,
    const kong_service_t *s, ngx_http_upstream_conf_t *conf)
{
    if (s->protocol != KONG_PROTO_HTTPS || kc->tls == NULL) {
        return;
    }

    if (kc->tls[s->index] != NULL) {
        conf->ssl = kc->tls[s->index];
    }

    if (s->tls_verify == 1) {
        conf->ssl_verify = 1;
    }
}


static ngx_ssl_t *
ngx_http_farm_kong_tls_ctx(ngx_conf_t *cf, ngx_http_farm_kong_conf_t *kc,
    const kong_service_t *s)
{
    size_t      i;
    ngx_ssl_t  *ssl;

    ssl = ngx_http_farm_ssl_client(cf);
    if (ssl == NULL) {
        return NULL;
    }

    SSL_CTX_set_verify_depth(ssl->ctx, s->tls_verify_depth >= 0
                                       ? s->tls_verify_depth : 1);

    if (s->nca_certificates == 0) {
        if (SSL_CTX_set_default_verify_paths(ssl->ctx) != 1) {
            ngx_ssl_error(NGX_LOG_WARN, cf->log, 0,
                          "farm_kong: %V: no default CA paths for service "
                          "\"%s\"", &kc->file, s->name ? s->name : s->host);
        }

        return ssl;
    }

    for (i = 0; i < s->nca_certificates; i++) {
        if (ngx_http_farm_kong_tls_ca(cf, ssl, s->ca_certificates[i])
            != NGX_OK)
        {
            return NULL;
        }
    }

    return ssl;
}


/* the same depth and the same CAs in the same order */

static ngx_int_t
ngx_http_farm_kong_tls_same(const kong_service_t *a, const kong_service_t *b)
{
    size_t  i;

    if (a->tls_verify_depth != b->tls_verify_depth
        || a->nca_certificates != b->nca_certificates)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < a->nca_certificates; i++) {
        if (a->ca_certificates[i] != b->ca_certificates[i]) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_kong_tls_ca(ngx_conf_t *cf, ngx_ssl_t *ssl,
    const kong_ca_certificate_t *ca)
{
    BIO         *bio;
    X509        *x;
    X509_STORE  *store;

    bio = BIO_new_mem_buf(ca->cert, (int) ngx_strlen(ca->cert));
    if (bio == NULL) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0, "BIO_new_mem_buf() failed");
        return NGX_ERROR;
    }

    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (x == NULL) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "farm_kong: ca_certificates \"%s\": "
                      "PEM_read_bio_X509() failed", ca->id ? ca->id : "");
        return NGX_ERROR;
    }

    store = SSL_CTX_get_cert_store(ssl->ctx);

    if (X509_STORE_add_cert(store, x) != 1) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "farm_kong: ca_certificates \"%s\": "
                      "X509_STORE_add_cert() failed", ca->id ? ca->id : "");
        X509_free(x);
        return NGX_ERROR;
    }

    X509_free(x);

    return NGX_OK;
}

#endif
