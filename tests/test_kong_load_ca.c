/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat: ca_certificates entities and a service's ca_certificates
 * (Kong 3.x): a CA loads and a service's ids resolve to it; Kong's checks
 * of the PEM (one certificate, a CA, not expired); an id that names no
 * entity; only with https; skip mode drops a service whose CA is invalid.
 * The certificates are made here with OpenSSL (EC P-256, self-signed).
 */

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "test_kong_load.h"


#define CA_ID     "0c0c0c0c-0000-4000-8000-000000000001"
#define LEAF_ID   "0c0c0c0c-0000-4000-8000-000000000002"


/*
 * A self-signed certificate in PEM, valid from `from` to `to` seconds from
 * now, a CA when ca is set; each line indented by 4 spaces for a YAML
 * block scalar.  The caller frees it.
 */
static char *
make_cert(int ca, long from, long to)
{
    long             len;
    char            *pem, *out, *p, *q;
    BIO             *bio;
    X509            *x;
    EVP_PKEY        *key;
    X509_NAME       *name;
    X509_EXTENSION  *ext;

    key = EVP_EC_gen("P-256");
    x = X509_new();
    assert_non_null(key);
    assert_non_null(x);

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, key);

    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *) "ngx_farm test", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);

    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
                              ca ? "critical,CA:TRUE" : "CA:FALSE");
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);

    assert_true(X509_sign(x, key, EVP_sha256()) > 0);

    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, x), 1);
    len = BIO_get_mem_data(bio, &pem);

    out = malloc(2 * (size_t) len + 8);
    assert_non_null(out);

    /* "|\n" then each line indented */
    q = out;
    *q++ = '|';
    *q++ = '\n';

    for (p = pem; p < pem + len; p++) {
        if (p == pem || p[-1] == '\n') {
            memcpy(q, "    ", 4);
            q += 4;
        }

        *q++ = *p;
    }

    *q = '\0';

    BIO_free(bio);
    X509_free(x);
    EVP_PKEY_free(key);

    return out;
}


/* the lines a make_cert() block takes after its "|" line */
static unsigned
lines(const char *block)
{
    unsigned  n;

    for (n = 0; *block; block++) {
        n += (*block == '\n');
    }

    return n - 1;
}


/*
 * A kong.yml: two ca_certificates, and an https service with `fields`.
 * Line 4 is the first cert's "|", line 6 + lines(ca) the second's, line
 * 10 + lines(ca) + lines(leaf) the first line of `fields`.
 */
static char *
yaml(const char *ca, const char *leaf, const char *fields)
{
    char    *s;
    size_t   len;

    len = strlen(ca) + strlen(leaf) + strlen(fields) + 512;
    s = malloc(len);
    assert_non_null(s);

    snprintf(s, len,
             "_format_version: \"3.0\"\n"
             "ca_certificates:\n"
             "- id: " CA_ID "\n"
             "  cert: %s"
             "- id: " LEAF_ID "\n"
             "  cert: %s"
             "services:\n"
             "- name: s\n"
             "  url: https://127.0.0.1:8443\n"
             "%s",
             ca, leaf, fields);

    return s;
}


static void
a_service_names_its_cas_by_id(void **state)
{
    char           *ca, *other, *y;
    kong_config_t  *cfg;
    kong_service_t *s;

    (void) state;

    ca = make_cert(1, 0, 86400);
    other = make_cert(1, 0, 86400);
    y = yaml(ca, other, "  tls_verify: true\n"
                        "  tls_verify_depth: 2\n"
                        "  ca_certificates: [" LEAF_ID ", " CA_ID "]\n");

    cfg = load_ok(y);
    s = service_named(cfg, "s");

    assert_int_equal(cfg->nca_certificates, 2);
    assert_int_equal(s->tls_verify, 1);
    assert_int_equal(s->tls_verify_depth, 2);
    assert_int_equal(s->nca_certificates, 2);
    assert_ptr_equal(s->ca_certificates[0], cfg->ca_certificates[1]);
    assert_ptr_equal(s->ca_certificates[1], cfg->ca_certificates[0]);
    assert_string_equal(s->ca_certificates[1]->id, CA_ID);
    assert_non_null(strstr(s->ca_certificates[1]->cert,
                           "-----BEGIN CERTIFICATE-----"));

    kong_config_free(cfg);
    free(y);
    free(ca);
    free(other);
}


static void
kongs_checks_of_the_pem(void **state)
{
    char  *ca, *leaf, *expired, *two, *y, want[256];

    (void) state;

    ca = make_cert(1, 0, 86400);
    leaf = make_cert(0, 0, 86400);
    expired = make_cert(1, -7200, -3600);

    y = yaml(ca, leaf, "");
    snprintf(want, sizeof(want), "kong.yml:%u:9: ca_certificates[1].cert: "
             "certificate does not appear to be a CA because it is missing "
             "the \"CA\" basic constraint", 6 + lines(ca));
    load_err(y, want);
    free(y);

    y = yaml(ca, expired, "");
    snprintf(want, sizeof(want), "kong.yml:%u:9: ca_certificates[1].cert: "
             "certificate expired, \"Not After\" time is in the past",
             6 + lines(ca));
    load_err(y, want);
    free(y);

    /* two certificates in one block: the second one's lines follow */
    two = malloc(strlen(ca) + strlen(expired));
    assert_non_null(two);
    strcpy(two, ca);
    strcat(two, expired + 2);
    y = yaml(two, ca, "");
    load_err(y, "kong.yml:4:9: ca_certificates[0].cert: please submit only "
                "one certificate at a time");
    free(y);
    free(two);

    y = yaml("not a pem\n", ca, "");
    load_err(y, "kong.yml:4:9: ca_certificates[0].cert: invalid "
                "certificate: not a PEM encoded X.509 certificate");
    free(y);

    load_err("_format_version: \"3.0\"\n"
             "ca_certificates:\n"
             "- id: " CA_ID "\n",
             "kong.yml:3:3: ca_certificates[0].cert: required field "
             "missing");

    free(ca);
    free(leaf);
    free(expired);
}


static void
references_and_protocol(void **state)
{
    char  *ca, *y, want[256];

    (void) state;

    ca = make_cert(1, 0, 86400);

    y = yaml(ca, ca, "  ca_certificates: "
                     "[0c0c0c0c-0000-4000-8000-00000000ffff]\n");
    snprintf(want, sizeof(want), "kong.yml:%u:21: "
             "services[0].ca_certificates: invalid reference "
             "'ca_certificates: 0c0c0c0c-0000-4000-8000-00000000ffff' "
             "(no such entry in 'ca_certificates')", 10 + 2 * lines(ca));
    load_err(y, want);
    free(y);

    y = yaml(ca, ca, "  ca_certificates: [nope]\n");
    snprintf(want, sizeof(want), "kong.yml:%u:21: "
             "services[0].ca_certificates: expected a valid UUID",
             10 + 2 * lines(ca));
    load_err(y, want);
    free(y);

    load_err("_format_version: \"3.0\"\n"
             "services:\n"
             "- url: http://a.test\n"
             "  ca_certificates: [" CA_ID "]\n",
             "kong.yml:4:20: services[0].ca_certificates: value must be "
             "null");

    free(ca);
}


static void
skip_invalid_drops_a_service_whose_ca_is_invalid(void **state)
{
    char           *ca, *leaf, *y;
    kong_config_t  *cfg;
    kong_errors_t   errs;

    (void) state;

    ca = make_cert(1, 0, 86400);
    leaf = make_cert(0, 0, 86400);
    y = yaml(ca, leaf, "  ca_certificates: [" LEAF_ID "]\n"
                       "- name: t\n"
                       "  url: https://127.0.0.1:8443\n"
                       "  ca_certificates: [" CA_ID "]\n");

    cfg = kong_load_string("kong.yml", y, strlen(y), KONG_LOAD_SKIP_INVALID,
                           &errs);
    assert_non_null(cfg);
    assert_int_equal(errs.n, 1);
    assert_int_equal(cfg->nca_certificates, 1);
    assert_int_equal(cfg->nservices, 1);
    assert_string_equal(cfg->services[0]->name, "t");

    kong_errors_free(&errs);
    kong_config_free(cfg);
    free(y);
    free(ca);
    free(leaf);
}


/* the header's helpers each file uses */
static void
shared_helpers(void **state)
{
    kong_config_t  *cfg;

    (void) state;

    cfg = load_ok("_format_version: \"3.0\"\n"
                  "services:\n"
                  "- name: s\n"
                  "  host: a.test\n"
                  "  routes:\n"
                  "  - name: r\n"
                  "    paths: [/]\n");
    assert_ptr_equal(route_named(cfg, "r")->service, service_named(cfg, "s"));
    kong_config_free(cfg);

    load_err_flags("_format_version: \"3.0\"\nservices: 1\n",
                   KONG_LOAD_SKIP_INVALID,
                   "kong.yml:2:11: services: expected an array");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(a_service_names_its_cas_by_id),
        cmocka_unit_test(kongs_checks_of_the_pem),
        cmocka_unit_test(references_and_protocol),
        cmocka_unit_test(skip_invalid_drops_a_service_whose_ca_is_invalid),
        cmocka_unit_test(shared_helpers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
