/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The agent record: what the module accepts from the registry, what it
 * skips, and the reason it logs for a skipped record.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "farm_record.h"


#define MINIMAL  "\"id\":\"a1\",\"service\":\"agents\"," \
                 "\"address\":\"10.0.0.1\",\"port\":9001"


/* Parses json, expects failure and exactly the reason msg. */
static void
expect_error(const char *json, const char *msg)
{
    farm_record_t  r;
    char           err[FARM_ERR_MAX];

    memset(err, 0, sizeof(err));

    if (farm_record_parse(&r, json, strlen(json), err) != -1) {
        print_error("accepted: %s\n", json);
        fail();
    }

    assert_string_equal(err, msg);
    assert_null(r.meta);
    assert_int_equal(r.ncaps, 0);
}


/* Parses json, expects failure with a reason starting with prefix. */
static void
expect_error_prefix(const char *json, size_t len, const char *prefix)
{
    farm_record_t  r;
    char           err[FARM_ERR_MAX];

    memset(err, 0, sizeof(err));

    assert_int_equal(farm_record_parse(&r, json, len, err), -1);

    if (strncmp(err, prefix, strlen(prefix)) != 0) {
        print_error("error \"%s\" does not start with \"%s\"\n", err, prefix);
        fail();
    }

    assert_null(r.meta);
}


/* Parses json and expects success. */
static void
expect_ok(farm_record_t *r, const char *json)
{
    char  err[FARM_ERR_MAX];

    err[0] = '\0';

    if (farm_record_parse(r, json, strlen(json), err) != 0) {
        print_error("rejected: %s\nreason: %s\n", json, err);
        fail();
    }
}


static void
assert_same_record(const farm_record_t *a, const farm_record_t *b)
{
    unsigned  i;

    assert_string_equal(a->id, b->id);
    assert_string_equal(a->service, b->service);
    assert_string_equal(a->address, b->address);
    assert_int_equal(a->port, b->port);
    assert_int_equal(a->weight, b->weight);
    assert_string_equal(a->region, b->region);
    assert_int_equal(a->max_conns, b->max_conns);
    assert_int_equal(a->backup, b->backup);
    assert_int_equal(a->ncaps, b->ncaps);

    for (i = 0; i < a->ncaps; i++) {
        assert_string_equal(a->caps[i], b->caps[i]);
    }

    if (a->meta == NULL || b->meta == NULL) {
        assert_null(a->meta);
        assert_null(b->meta);

    } else {
        assert_string_equal(a->meta, b->meta);
    }
}


static void
full_record_round_trips(void **state)
{
    char           *json;
    farm_record_t   a, b;

    (void) state;

    expect_ok(&a, "{\"id\":\"pi-07@rack2:9001\",\"service\":\"agents\","
                  "\"address\":\"2001:db8::7\",\"port\":9001,\"weight\":5,"
                  "\"region\":\"eu-west\",\"caps\":[\"gpu\",\"browser\"],"
                  "\"max_conns\":10,\"backup\":true,"
                  "\"meta\":{\"z\":1,\"a\":{\"b\":[true,null]}}}");

    assert_string_equal(a.id, "pi-07@rack2:9001");
    assert_string_equal(a.service, "agents");
    assert_string_equal(a.address, "2001:db8::7");
    assert_int_equal(a.port, 9001);
    assert_int_equal(a.weight, 5);
    assert_string_equal(a.region, "eu-west");
    assert_int_equal(a.ncaps, 2);
    assert_string_equal(a.caps[0], "gpu");
    assert_string_equal(a.caps[1], "browser");
    assert_int_equal(a.max_conns, 10);
    assert_int_equal(a.backup, 1);
    assert_string_equal(a.meta, "{\"a\":{\"b\":[true,null]},\"z\":1}");

    json = farm_record_to_json(&a);
    assert_non_null(json);

    expect_ok(&b, json);
    assert_same_record(&a, &b);

    free(json);
    farm_record_free(&a);
    farm_record_free(&b);
}


static void
to_json_writes_keys_in_fixed_order(void **state)
{
    char           *json;
    farm_record_t   r;

    (void) state;

    expect_ok(&r, "{\"port\":9001,\"address\":\"10.0.0.1\","
                  "\"service\":\"agents\",\"id\":\"a1\"}");

    json = farm_record_to_json(&r);
    assert_non_null(json);
    assert_string_equal(json,
        "{\"id\":\"a1\",\"service\":\"agents\",\"address\":\"10.0.0.1\","
        "\"port\":9001,\"weight\":1,\"region\":\"\",\"caps\":[],"
        "\"max_conns\":0,\"backup\":false}");

    free(json);
    farm_record_free(&r);
}


static void
minimal_record_gets_defaults(void **state)
{
    farm_record_t  r;

    (void) state;

    expect_ok(&r, "{" MINIMAL "}");

    assert_string_equal(r.id, "a1");
    assert_string_equal(r.service, "agents");
    assert_string_equal(r.address, "10.0.0.1");
    assert_int_equal(r.port, 9001);
    assert_int_equal(r.weight, 1);
    assert_int_equal(r.backup, 0);
    assert_int_equal(r.max_conns, 0);
    assert_string_equal(r.region, "");
    assert_int_equal(r.ncaps, 0);
    assert_null(r.meta);
    assert_false(farm_record_has_cap(&r, "gpu"));

    farm_record_free(&r);
}


static void
null_values_are_treated_as_absent(void **state)
{
    farm_record_t  r;

    (void) state;

    expect_ok(&r, "{" MINIMAL ",\"weight\":null,\"region\":null,"
                  "\"caps\":null,\"max_conns\":null,\"backup\":null,"
                  "\"meta\":null}");

    assert_int_equal(r.weight, 1);
    assert_string_equal(r.region, "");
    assert_int_equal(r.ncaps, 0);
    assert_int_equal(r.max_conns, 0);
    assert_int_equal(r.backup, 0);
    assert_null(r.meta);

    farm_record_free(&r);

    expect_error("{\"id\":null,\"service\":\"agents\","
                 "\"address\":\"10.0.0.1\",\"port\":9001}", "id: missing");
    expect_error("{\"id\":\"a1\",\"service\":\"agents\","
                 "\"address\":\"10.0.0.1\",\"port\":null}", "port: missing");
}


static void
unknown_fields_are_ignored(void **state)
{
    farm_record_t  r;

    (void) state;

    expect_ok(&r, "{" MINIMAL ",\"version\":3,\"future\":{\"x\":[1,2]},"
                  "\"zone\":\"b\"}");

    assert_string_equal(r.id, "a1");
    assert_int_equal(r.port, 9001);

    farm_record_free(&r);
}


static void
parse_reads_only_len_bytes(void **state)
{
    const char     *text = "{" MINIMAL "}garbage after the record";
    farm_record_t   r;
    char            err[FARM_ERR_MAX];

    (void) state;

    assert_int_equal(farm_record_parse(&r, text,
                                       strchr(text, '}') - text + 1, err),
                     0);
    assert_string_equal(r.id, "a1");

    farm_record_free(&r);
}


static void
bad_json_is_rejected(void **state)
{
    (void) state;

    expect_error_prefix("{\"id\":", 6, "record: invalid JSON at line 1");
    expect_error_prefix("", 0, "record: invalid JSON at line 1");
    expect_error_prefix("{\"id\":\"a1\",}", 12,
                        "record: invalid JSON at line 1");
}


static void
non_object_is_rejected(void **state)
{
    (void) state;

    expect_error("[1,2]", "record: must be a JSON object");
    expect_error("[{" MINIMAL "}]", "record: must be a JSON object");

    /* a bare scalar is not even a JSON text jansson accepts */

    expect_error_prefix("\"agent\"", 7, "record: invalid JSON at line 1");
    expect_error_prefix("42", 2, "record: invalid JSON at line 1");
}


static void
missing_required_field_is_named(void **state)
{
    (void) state;

    expect_error("{\"service\":\"agents\",\"address\":\"10.0.0.1\","
                 "\"port\":9001}", "id: missing");
    expect_error("{\"id\":\"a1\",\"address\":\"10.0.0.1\",\"port\":9001}",
                 "service: missing");
    expect_error("{\"id\":\"a1\",\"service\":\"agents\",\"port\":9001}",
                 "address: missing");
    expect_error("{\"id\":\"a1\",\"service\":\"agents\","
                 "\"address\":\"10.0.0.1\"}", "port: missing");
    expect_error("{}", "id: missing");
}


static void
port_out_of_range_or_not_integer_is_rejected(void **state)
{
    static const char  *bad[] = { "0", "65536", "\"9001\"", "1.5", "-1",
                                  "true", "[9001]", "9001.0",
                                  "4294967297" };
    char                json[256];
    size_t              i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(json, sizeof(json), "{\"id\":\"a1\",\"service\":\"agents\","
                 "\"address\":\"10.0.0.1\",\"port\":%s}", bad[i]);
        expect_error(json, "port: must be an integer from 1 to 65535");
    }
}


static void
port_limits_are_accepted(void **state)
{
    farm_record_t  r;

    (void) state;

    expect_ok(&r, "{\"id\":\"a1\",\"service\":\"s\",\"address\":\"10.0.0.1\","
                  "\"port\":1}");
    assert_int_equal(r.port, 1);
    farm_record_free(&r);

    expect_ok(&r, "{\"id\":\"a1\",\"service\":\"s\",\"address\":\"10.0.0.1\","
                  "\"port\":65535}");
    assert_int_equal(r.port, 65535);
    farm_record_free(&r);
}


static void
ts_is_read_and_written_back(void **state)
{
    char           *json;
    farm_record_t   r;

    (void) state;

    expect_ok(&r, "{" MINIMAL ",\"ts\":1764657000123}");
    assert_true(r.ts == 1764657000123LL);

    json = farm_record_to_json(&r);
    assert_non_null(json);
    assert_non_null(strstr(json, ",\"ts\":1764657000123"));
    free(json);
    farm_record_free(&r);

    /* the largest integer a double holds exactly */
    expect_ok(&r, "{" MINIMAL ",\"ts\":9007199254740991}");
    assert_true(r.ts == 9007199254740991LL);
    farm_record_free(&r);

    /* absent or null: 0, and not written */
    expect_ok(&r, "{" MINIMAL ",\"ts\":null}");
    assert_true(r.ts == 0);

    json = farm_record_to_json(&r);
    assert_non_null(json);
    assert_null(strstr(json, "\"ts\""));
    free(json);
    farm_record_free(&r);
}


static void
bad_ts_is_rejected(void **state)
{
    static const char  *bad[] = { "0", "-1", "9007199254740992", "1.5",
                                  "1764657000123.0", "\"1764657000123\"",
                                  "true", "[1]", "{}" };
    char                json[256];
    size_t              i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(json, sizeof(json), "{" MINIMAL ",\"ts\":%s}", bad[i]);
        expect_error(json, "ts: must be an integer from 1 to "
                     "9007199254740991 (Unix time in milliseconds)");
    }
}


static void
to_json_now_stamps_the_current_time(void **state)
{
    char           *json;
    farm_record_t   r, back;

    (void) state;

    expect_ok(&r, "{" MINIMAL "}");
    json = farm_record_to_json_now(&r);
    assert_non_null(json);

    expect_ok(&back, json);

    /* after 2026-01-01, and the original record left alone */
    assert_true(back.ts > 1767225600000LL);
    assert_true(r.ts == 0);

    free(json);
    farm_record_free(&back);
    farm_record_free(&r);
}


static void
weight_out_of_range_is_rejected(void **state)
{
    farm_record_t  r;

    (void) state;

    expect_error("{" MINIMAL ",\"weight\":0}",
                 "weight: must be an integer from 1 to 1000");
    expect_error("{" MINIMAL ",\"weight\":1001}",
                 "weight: must be an integer from 1 to 1000");
    expect_error("{" MINIMAL ",\"weight\":\"5\"}",
                 "weight: must be an integer from 1 to 1000");

    expect_ok(&r, "{" MINIMAL ",\"weight\":1000}");
    assert_int_equal(r.weight, 1000);
    farm_record_free(&r);
}


static void
max_conns_and_backup_types_are_checked(void **state)
{
    (void) state;

    expect_error("{" MINIMAL ",\"max_conns\":-1}",
                 "max_conns: must be an integer from 0 to 1000000");
    expect_error("{" MINIMAL ",\"max_conns\":1000001}",
                 "max_conns: must be an integer from 0 to 1000000");
    expect_error("{" MINIMAL ",\"backup\":1}",
                 "backup: must be true or false");
    expect_error("{" MINIMAL ",\"backup\":\"true\"}",
                 "backup: must be true or false");
}


static void
address_must_be_an_ip_literal(void **state)
{
    farm_record_t  r;

    (void) state;

    expect_error("{\"id\":\"a1\",\"service\":\"agents\","
                 "\"address\":\"localhost\",\"port\":9001}",
                 "address: \"localhost\" is not an IPv4 or IPv6 address");
    expect_error("{\"id\":\"a1\",\"service\":\"agents\","
                 "\"address\":\"10.0.0\",\"port\":9001}",
                 "address: \"10.0.0\" is not an IPv4 or IPv6 address");
    expect_error("{\"id\":\"a1\",\"service\":\"agents\","
                 "\"address\":\"\",\"port\":9001}",
                 "address: \"\" is not an IPv4 or IPv6 address");
    expect_error("{\"id\":\"a1\",\"service\":\"agents\","
                 "\"address\":\"[::1]\",\"port\":9001}",
                 "address: \"[::1]\" is not an IPv4 or IPv6 address");
    expect_error("{\"id\":\"a1\",\"service\":\"agents\","
                 "\"address\":10,\"port\":9001}",
                 "address: must be a string");

    expect_ok(&r, "{\"id\":\"a1\",\"service\":\"agents\","
                  "\"address\":\"::1\",\"port\":9001}");
    assert_string_equal(r.address, "::1");
    farm_record_free(&r);

    expect_ok(&r, "{\"id\":\"a1\",\"service\":\"agents\","
                  "\"address\":\"fe80::1:2:3:4\",\"port\":9001}");
    assert_string_equal(r.address, "fe80::1:2:3:4");
    farm_record_free(&r);
}


static void
id_with_bad_characters_or_length_is_rejected(void **state)
{
    static const char  *bad[] = { "a b", "-a1", ".a1", "@a1", "a/1",
                                  "a\\\"1", "\\u00e9t\\u00e9", "" };
    static const char   msg[] = "id: must be 1-128 of A-Z a-z 0-9 . _ - : @, "
                                "starting with a letter or digit";
    char                json[512], id[200];
    size_t              i;
    farm_record_t       r;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(json, sizeof(json), "{\"id\":\"%s\",\"service\":\"agents\","
                 "\"address\":\"10.0.0.1\",\"port\":9001}", bad[i]);
        expect_error(json, msg);
    }

    expect_error("{\"id\":7,\"service\":\"agents\","
                 "\"address\":\"10.0.0.1\",\"port\":9001}",
                 "id: must be a string");

    /* 128 bytes is the limit, 129 is one too many */

    memset(id, 'a', 129);
    id[128] = '\0';
    snprintf(json, sizeof(json), "{\"id\":\"%s\",\"service\":\"agents\","
             "\"address\":\"10.0.0.1\",\"port\":9001}", id);
    expect_ok(&r, json);
    assert_int_equal(strlen(r.id), 128);
    farm_record_free(&r);

    id[128] = 'a';
    id[129] = '\0';
    snprintf(json, sizeof(json), "{\"id\":\"%s\",\"service\":\"agents\","
             "\"address\":\"10.0.0.1\",\"port\":9001}", id);
    expect_error(json, msg);
}


static void
service_and_region_names_are_checked(void **state)
{
    farm_record_t  r;

    (void) state;

    expect_error("{\"id\":\"a1\",\"service\":\"my agents\","
                 "\"address\":\"10.0.0.1\",\"port\":9001}",
                 "service: must be 1-64 of A-Z a-z 0-9 . _ -, "
                 "starting with a letter or digit");
    expect_error("{\"id\":\"a1\",\"service\":\"\","
                 "\"address\":\"10.0.0.1\",\"port\":9001}",
                 "service: must be 1-64 of A-Z a-z 0-9 . _ -, "
                 "starting with a letter or digit");
    expect_error("{" MINIMAL ",\"region\":\"eu west\"}",
                 "region: must be 1-64 of A-Z a-z 0-9 . _ -, "
                 "starting with a letter or digit");

    /* an empty region means "none" */

    expect_ok(&r, "{" MINIMAL ",\"region\":\"\"}");
    assert_string_equal(r.region, "");
    farm_record_free(&r);
}


static void
caps_must_be_an_array_of_valid_names(void **state)
{
    (void) state;

    expect_error("{" MINIMAL ",\"caps\":\"gpu\"}",
                 "caps: must be an array of strings");
    expect_error("{" MINIMAL ",\"caps\":{\"gpu\":true}}",
                 "caps: must be an array of strings");
    expect_error("{" MINIMAL ",\"caps\":[\"gpu\",3]}",
                 "caps[1]: must be a string");
    expect_error("{" MINIMAL ",\"caps\":[\"gpu\",\"web browser\"]}",
                 "caps: \"web browser\" is not a valid capability name "
                 "(1-64 of A-Z a-z 0-9 . _ -)");
    expect_error("{" MINIMAL ",\"caps\":[\"\"]}",
                 "caps: \"\" is not a valid capability name "
                 "(1-64 of A-Z a-z 0-9 . _ -)");
}


/* Appends a caps array of n names "c0".."c<n-1>" (plus a repeat). */
static void
caps_record(char *json, size_t size, unsigned n, int repeat)
{
    size_t    len;
    unsigned  i;

    len = snprintf(json, size, "{" MINIMAL ",\"caps\":[");

    for (i = 0; i < n; i++) {
        len += snprintf(json + len, size - len, "%s\"c%u\"", i ? "," : "", i);
    }

    if (repeat) {
        len += snprintf(json + len, size - len, ",\"c0\",\"c1\"");
    }

    snprintf(json + len, size - len, "]}");
}


static void
more_than_32_caps_are_rejected(void **state)
{
    char           json[1024];
    farm_record_t  r;

    (void) state;

    caps_record(json, sizeof(json), 32, 0);
    expect_ok(&r, json);
    assert_int_equal(r.ncaps, 32);
    assert_true(farm_record_has_cap(&r, "c31"));
    farm_record_free(&r);

    caps_record(json, sizeof(json), 33, 0);
    expect_error(json, "caps: more than 32 capabilities");
}


static void
duplicate_caps_collapse(void **state)
{
    char           json[1024];
    farm_record_t  r;

    (void) state;

    expect_ok(&r, "{" MINIMAL ",\"caps\":[\"gpu\",\"gpu\",\"x86\",\"gpu\"]}");
    assert_int_equal(r.ncaps, 2);
    assert_string_equal(r.caps[0], "gpu");
    assert_string_equal(r.caps[1], "x86");
    farm_record_free(&r);

    /* repeats do not count toward the limit */

    caps_record(json, sizeof(json), 32, 1);
    expect_ok(&r, json);
    assert_int_equal(r.ncaps, 32);
    farm_record_free(&r);
}


/* F2: an empty meta object is no meta, as Consul's form has it */

static void
empty_meta_is_no_meta(void **state)
{
    char           *text, err[FARM_ERR_MAX];
    farm_record_t   r;
    const char     *json = "{" MINIMAL ",\"meta\":{}}";

    (void) state;

    assert_int_equal(farm_record_parse(&r, json, strlen(json), err), 0);
    assert_null(r.meta);

    text = farm_record_to_json(&r);
    assert_non_null(text);
    assert_null(strstr(text, "meta"));
    free(text);

    assert_int_equal(farm_record_set_meta(&r, "{\"a\":1}", err), 0);
    assert_int_equal(farm_record_set_meta(&r, " { } ", err), 0);
    assert_null(r.meta);

    farm_record_free(&r);
}


static void
meta_must_be_a_small_object(void **state)
{
    char           *p;
    size_t          n;
    farm_record_t   r;
    static char     json[8192];

    (void) state;

    expect_error("{" MINIMAL ",\"meta\":[1]}", "meta: must be an object");
    expect_error("{" MINIMAL ",\"meta\":\"x\"}", "meta: must be an object");

    /* {"k":"xxx..."} is 8 + n bytes: 4096 is accepted, 4097 is not */

    for (n = 4088; n <= 4089; n++) {
        p = json + sprintf(json, "{" MINIMAL ",\"meta\":{\"k\":\"");
        memset(p, 'x', n);
        strcpy(p + n, "\"}}");

        if (n == 4088) {
            expect_ok(&r, json);
            assert_int_equal(strlen(r.meta), 4096);
            farm_record_free(&r);

        } else {
            expect_error(json, "meta: longer than 4096 bytes");
        }
    }
}


static void
huge_record_is_rejected_before_parsing(void **state)
{
    char          *p;
    size_t         n;
    farm_record_t  r;
    char           expected[FARM_ERR_MAX];
    static char    json[1024 * 1024 + 256];

    (void) state;

    n = 1024 * 1024;

    p = json + sprintf(json, "{" MINIMAL ",\"region\":\"");
    memset(p, 'r', n);
    strcpy(p + n, "\"}");

    snprintf(expected, sizeof(expected),
             "record: %zu bytes, more than the 65536 allowed", strlen(json));
    expect_error(json, expected);

    /* just over the limit, even though it would be valid JSON */

    p = json + sprintf(json, "{" MINIMAL ",\"future\":\"");
    n = FARM_RECORD_MAX + 1 - (p - json) - 2;
    memset(p, 'f', n);
    strcpy(p + n, "\"}");
    assert_int_equal(strlen(json), FARM_RECORD_MAX + 1);
    expect_error(json, "record: 65537 bytes, more than the 65536 allowed");

    /* exactly at the limit it is read */

    p[n - 1] = '\0';
    strcat(p, "\"}");
    assert_int_equal(strlen(json), FARM_RECORD_MAX);
    expect_ok(&r, json);
    assert_string_equal(r.id, "a1");
    farm_record_free(&r);
}


static void
duplicate_keys_are_rejected(void **state)
{
    farm_record_t  r;
    char           err[FARM_ERR_MAX];
    const char    *json = "{" MINIMAL ",\"port\":9002}";

    (void) state;

    assert_int_equal(farm_record_parse(&r, json, strlen(json), err), -1);
    assert_true(strncmp(err, "record: invalid JSON at line 1 column ", 38)
                == 0);
    assert_non_null(strstr(err, "duplicate object key near '\"port\"'"));

    json = "{" MINIMAL ",\"meta\":{\"a\":1,\"a\":2}}";
    assert_int_equal(farm_record_parse(&r, json, strlen(json), err), -1);
    assert_non_null(strstr(err, "duplicate"));
}


static void
failed_parse_leaves_record_empty(void **state)
{
    farm_record_t  r;
    char           err[FARM_ERR_MAX];
    const char    *json;

    (void) state;

    /* id, region and caps were read before meta failed */

    json = "{" MINIMAL ",\"region\":\"lab\",\"caps\":[\"gpu\"],"
           "\"meta\":[1]}";
    assert_int_equal(farm_record_parse(&r, json, strlen(json), err), -1);
    assert_string_equal(err, "meta: must be an object");
    assert_null(r.meta);
    assert_int_equal(r.ncaps, 0);
    assert_string_equal(r.id, "");
    assert_string_equal(r.region, "");
    assert_int_equal(r.port, 0);
    assert_int_equal(r.weight, 1);

    /* a NULL err is allowed */

    assert_int_equal(farm_record_parse(&r, "{}", 2, NULL), -1);
    assert_int_equal(farm_record_parse(&r, "[", 1, NULL), -1);
}


static void
add_caps_splits_a_comma_list(void **state)
{
    farm_record_t  r;
    char           err[FARM_ERR_MAX];

    (void) state;

    farm_record_init(&r);

    assert_int_equal(farm_record_add_caps(&r, "a,b,,c", err), 0);
    assert_int_equal(r.ncaps, 3);
    assert_string_equal(r.caps[0], "a");
    assert_string_equal(r.caps[1], "b");
    assert_string_equal(r.caps[2], "c");

    assert_int_equal(farm_record_add_caps(&r, ",b,d,", err), 0);
    assert_int_equal(r.ncaps, 4);
    assert_string_equal(r.caps[3], "d");
    assert_true(farm_record_has_cap(&r, "d"));
    assert_false(farm_record_has_cap(&r, "e"));

    assert_int_equal(farm_record_add_caps(&r, "", err), 0);
    assert_int_equal(r.ncaps, 4);

    assert_int_equal(farm_record_add_caps(&r, "e,no good", err), -1);
    assert_string_equal(err, "caps: \"no good\" is not a valid capability "
                        "name (1-64 of A-Z a-z 0-9 . _ -)");

    farm_record_free(&r);
}


static void
add_caps_stops_at_32(void **state)
{
    char           list[512];
    size_t         len;
    unsigned       i;
    farm_record_t  r;
    char           err[FARM_ERR_MAX];

    (void) state;

    len = 0;

    for (i = 0; i < 33; i++) {
        len += snprintf(list + len, sizeof(list) - len, "%sc%u",
                        i ? "," : "", i);
    }

    farm_record_init(&r);
    assert_int_equal(farm_record_add_caps(&r, list, err), -1);
    assert_string_equal(err, "caps: more than 32 capabilities");
    assert_int_equal(r.ncaps, 32);
    farm_record_free(&r);
}


static void
set_meta_stores_compact_sorted_json(void **state)
{
    farm_record_t  r;
    char           err[FARM_ERR_MAX];

    (void) state;

    farm_record_init(&r);

    assert_int_equal(farm_record_set_meta(&r, "{ \"b\" : 1, \"a\" : "
                                          "[ 1, 2 ] }", err), 0);
    assert_string_equal(r.meta, "{\"a\":[1,2],\"b\":1}");

    /* a second call replaces the first */

    assert_int_equal(farm_record_set_meta(&r, "{\"gpu\":\"a100\"}", err), 0);
    assert_string_equal(r.meta, "{\"gpu\":\"a100\"}");

    /* errors leave the old value */

    assert_int_equal(farm_record_set_meta(&r, "[1]", err), -1);
    assert_string_equal(err, "meta: must be an object");
    assert_int_equal(farm_record_set_meta(&r, "{\"a\":", err), -1);
    assert_true(strncmp(err, "meta: invalid JSON: ", 20) == 0);
    assert_int_equal(farm_record_set_meta(&r, "{\"a\":1,\"a\":2}", err), -1);
    assert_true(strncmp(err, "meta: invalid JSON: ", 20) == 0);
    assert_string_equal(r.meta, "{\"gpu\":\"a100\"}");

    farm_record_free(&r);
    assert_null(r.meta);
}


static void
built_record(farm_record_t *r)
{
    farm_record_init(r);

    strcpy(r->id, "pi-3");
    strcpy(r->service, "agents");
    strcpy(r->address, "192.168.1.23");
    r->port = 8080;
}


static void
validate_checks_a_record_built_in_code(void **state)
{
    char           *json;
    farm_record_t   r, back;
    char            err[FARM_ERR_MAX];

    (void) state;

    built_record(&r);
    assert_int_equal(farm_record_validate(&r, err), 0);

    assert_int_equal(farm_record_add_caps(&r, "gpu,arm64", err), 0);
    assert_int_equal(farm_record_set_meta(&r, "{\"os\":\"linux\"}", err), 0);
    strcpy(r.region, "lab");
    r.weight = 3;
    r.backup = 1;
    r.max_conns = 4;
    assert_int_equal(farm_record_validate(&r, err), 0);

    /* what the agent publishes is what the module reads */

    json = farm_record_to_json(&r);
    assert_non_null(json);
    expect_ok(&back, json);
    assert_same_record(&r, &back);
    free(json);
    farm_record_free(&back);
    farm_record_free(&r);

    built_record(&r);
    r.id[0] = '\0';
    assert_int_equal(farm_record_validate(&r, err), -1);
    assert_string_equal(err, "id: \"\" must be 1-128 of A-Z a-z 0-9 . _ - : @,"
                        " starting with a letter or digit");

    built_record(&r);
    strcpy(r.service, "_agents");
    assert_int_equal(farm_record_validate(&r, err), -1);
    assert_string_equal(err, "service: \"_agents\" must be 1-64 of "
                        "A-Z a-z 0-9 . _ -");

    built_record(&r);
    strcpy(r.address, "pi-3.local");
    assert_int_equal(farm_record_validate(&r, err), -1);
    assert_string_equal(err, "address: \"pi-3.local\" is not an IPv4 or IPv6 "
                        "address");

    built_record(&r);
    r.port = 0;
    assert_int_equal(farm_record_validate(&r, err), -1);
    assert_string_equal(err, "port: must be an integer from 1 to 65535");

    built_record(&r);
    r.port = 70000;
    assert_int_equal(farm_record_validate(&r, err), -1);
    assert_string_equal(err, "port: must be an integer from 1 to 65535");

    built_record(&r);
    r.weight = 0;
    assert_int_equal(farm_record_validate(&r, err), -1);
    assert_string_equal(err, "weight: must be an integer from 1 to 1000");

    built_record(&r);
    strcpy(r.region, "eu west");
    assert_int_equal(farm_record_validate(&r, err), -1);
    assert_string_equal(err, "region: \"eu west\" must be 1-64 of "
                        "A-Z a-z 0-9 . _ -");

    built_record(&r);
    r.max_conns = 1000001;
    assert_int_equal(farm_record_validate(&r, err), -1);
    assert_string_equal(err, "max_conns: must be an integer from 0 to "
                        "1000000");

    built_record(&r);
    strcpy(r.caps[0], "gpu");
    strcpy(r.caps[1], "bad cap");
    r.ncaps = 2;
    assert_int_equal(farm_record_validate(&r, err), -1);
    assert_string_equal(err, "caps[1]: \"bad cap\" is not a valid capability "
                        "name");
}


static void
name_rules(void **state)
{
    (void) state;

    assert_true(farm_valid_name("a", 1, 64));
    assert_true(farm_valid_name("9lives_v1.2-x", 13, 64));
    assert_false(farm_valid_name("", 0, 64));
    assert_false(farm_valid_name("abc", 3, 2));
    assert_false(farm_valid_name("a:b", 3, 64));
    assert_false(farm_valid_name("a@b", 3, 64));

    assert_true(farm_valid_id("a:b@c", 5));
    assert_false(farm_valid_id(":ab", 3));

    /* len is honoured: a valid prefix of an invalid string */

    assert_true(farm_valid_id("ab cd", 2));
    assert_false(farm_valid_id("ab cd", 3));

    assert_true(farm_valid_address("127.0.0.1"));
    assert_true(farm_valid_address("::ffff:10.0.0.1"));
    assert_false(farm_valid_address("256.0.0.1"));
    assert_false(farm_valid_address("example.com"));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_record_round_trips),
        cmocka_unit_test(to_json_writes_keys_in_fixed_order),
        cmocka_unit_test(minimal_record_gets_defaults),
        cmocka_unit_test(null_values_are_treated_as_absent),
        cmocka_unit_test(unknown_fields_are_ignored),
        cmocka_unit_test(parse_reads_only_len_bytes),
        cmocka_unit_test(bad_json_is_rejected),
        cmocka_unit_test(non_object_is_rejected),
        cmocka_unit_test(missing_required_field_is_named),
        cmocka_unit_test(port_out_of_range_or_not_integer_is_rejected),
        cmocka_unit_test(port_limits_are_accepted),
        cmocka_unit_test(ts_is_read_and_written_back),
        cmocka_unit_test(bad_ts_is_rejected),
        cmocka_unit_test(to_json_now_stamps_the_current_time),
        cmocka_unit_test(weight_out_of_range_is_rejected),
        cmocka_unit_test(max_conns_and_backup_types_are_checked),
        cmocka_unit_test(address_must_be_an_ip_literal),
        cmocka_unit_test(id_with_bad_characters_or_length_is_rejected),
        cmocka_unit_test(service_and_region_names_are_checked),
        cmocka_unit_test(caps_must_be_an_array_of_valid_names),
        cmocka_unit_test(more_than_32_caps_are_rejected),
        cmocka_unit_test(duplicate_caps_collapse),
        cmocka_unit_test(meta_must_be_a_small_object),
        cmocka_unit_test(empty_meta_is_no_meta),
        cmocka_unit_test(huge_record_is_rejected_before_parsing),
        cmocka_unit_test(duplicate_keys_are_rejected),
        cmocka_unit_test(failed_parse_leaves_record_empty),
        cmocka_unit_test(add_caps_splits_a_comma_list),
        cmocka_unit_test(add_caps_stops_at_32),
        cmocka_unit_test(set_meta_stores_compact_sorted_json),
        cmocka_unit_test(validate_checks_a_record_built_in_code),
        cmocka_unit_test(name_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
