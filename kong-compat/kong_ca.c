/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * ca_certificates entities (Kong 3.x ca_certificates.lua) and a service's
 * ca_certificates field (an array of their ids): the trusted CAs the
 * gateway verifies that service's certificate against.  The PEM is checked
 * as Kong checks it: one certificate, a CA, not expired.
 */

#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kong_schema.h"


static void kong_ca_check_pem(kong_ctx_t *ctx, const kong_node_t *at,
    const char *pem);


void
kong_ca_certificate(kong_ctx_t *ctx, const kong_node_t *map)
{
    static const char *const  fields[] = {
        "id", "cert", "cert_digest", "tags", "created_at", "updated_at",
        NULL
    };

    size_t                  self;
    const char             *digest;
    kong_ca_certificate_t  *ca;

    ca = kong_palloc(ctx->pool, sizeof(kong_ca_certificate_t));
    if (ca == NULL) {
        kong_oom(ctx);
        return;
    }

    self = kong_ent_add(ctx, KONG_ENT_CA, ca, 0, map);
    if (self == 0) {
        return;
    }

    ctx->cur = self;
    ca->pos.line = map->line;
    ca->pos.col = map->col;

    kong_check_fields(ctx, map, fields);
    kong_check_id_name(ctx, map, KONG_ENT_CA, ca, NULL, &ca->id, NULL, 0);
    kong_get_str(ctx, map, "cert_digest", 0, &digest);

    if (kong_get_str(ctx, map, "cert", 1, &ca->cert) == 1) {
        ca->cert = kong_pstrndup(ctx->pool, ca->cert, strlen(ca->cert));
        if (ca->cert == NULL) {
            kong_oom(ctx);
            return;
        }

        kong_ca_check_pem(ctx, kong_node_get(map, "cert"), ca->cert);
    }
}


/* Kong's three checks, with its messages; a PEM that does not parse too */
static void
kong_ca_check_pem(kong_ctx_t *ctx, const kong_node_t *at, const char *pem)
{
    BIO   *bio;
    X509  *x, *more;

    bio = BIO_new_mem_buf(pem, (int) strlen(pem));
    if (bio == NULL) {
        kong_oom(ctx);
        return;
    }

    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

    if (x == NULL) {
        kong_ferr(ctx, at, "cert", "invalid certificate: not a PEM "
                  "encoded X.509 certificate");
        BIO_free(bio);
        return;
    }

    more = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (more != NULL) {
        kong_ferr(ctx, at, "cert", "please submit only one certificate at "
                  "a time");
        X509_free(more);

    } else if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
        kong_ferr(ctx, at, "cert", "certificate expired, \"Not After\" "
                  "time is in the past");

    } else if (X509_check_ca(x) == 0) {
        kong_ferr(ctx, at, "cert", "certificate does not appear to be a CA "
                  "because it is missing the \"CA\" basic constraint");
    }

    X509_free(x);
}


/*
 * A service's ca_certificates: ids of ca_certificates entities, resolved
 * once every entity is known (KONG_REF_SERVICE_CA fills the slots).  Only
 * with https (Kong: "value must be null").
 */
void
kong_service_cas(kong_ctx_t *ctx, const kong_node_t *map, kong_service_t *s,
    int https)
{
    size_t        i;
    kong_node_t  *a, *v;

    a = kong_get_array(ctx, map, "ca_certificates", 1);
    if (a == NULL) {
        return;
    }

    if (!https) {
        kong_ferr(ctx, a, "ca_certificates", "value must be null");
        kong_err(ctx, map, "failed conditional validation given value of "
                 "field 'protocol'");
        return;
    }

    if (a->n == 0) {
        return;
    }

    s->ca_certificates = kong_palloc(ctx->pool,
                                     a->n * sizeof(kong_ca_certificate_t *));
    if (s->ca_certificates == NULL) {
        kong_oom(ctx);
        return;
    }

    for (i = 0; i < a->n; i++) {
        v = a->items[i];
        s->ca_certificates[i] = NULL;

        if (!kong_is_str(v) || !kong_is_uuid(v->str)) {
            kong_ferr(ctx, v, "ca_certificates", "expected a valid UUID");
            continue;
        }

        kong_ref_add(ctx, v, "ca_certificates", KONG_REF_SERVICE_CA,
                     &s->ca_certificates[i]);
    }

    s->nca_certificates = a->n;
}
