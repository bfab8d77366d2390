/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Consul form of the agent record: what farm-agent registers, what the
 * module reads back from /v1/health/service, that the two meet in the same
 * record, and the reason logged for an entry that is skipped.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "farm_consul.h"


#define MAX_SEEN  16


typedef struct {
    char           label[256];
    char           err[FARM_ERR_MAX];
    uint64_t       version;
    int            health;
    int            good;
    farm_record_t  rec;                 /* meta copied */
} seen_t;

typedef struct {
    seen_t         e[MAX_SEEN];
    int            n;
} seen_list_t;


static void
collect(void *data, const char *label, uint64_t version, farm_record_t *r,
    int health, const char *err)
{
    seen_list_t  *l = data;
    seen_t       *s;

    assert_true(l->n < MAX_SEEN);

    s = &l->e[l->n++];
    memset(s, 0, sizeof(seen_t));

    snprintf(s->label, sizeof(s->label), "%s", label);
    s->version = version;
    s->health = health;

    if (r) {
        s->good = 1;
        s->rec = *r;
        s->rec.meta = r->meta ? strdup(r->meta) : NULL;

    } else {
        assert_non_null(err);
        snprintf(s->err, sizeof(s->err), "%s", err);
    }
}


static void
seen_free(seen_list_t *l)
{
    int  i;

    for (i = 0; i < l->n; i++) {
        free(l->e[i].rec.meta);
    }
}


static int
parse(const char *body, seen_list_t *l)
{
    char  err[FARM_ERR_MAX];

    memset(l, 0, sizeof(seen_list_t));

    return farm_consul_health_parse(body, strlen(body), "agents", collect, l,
                                    err);
}


static void
full_record(farm_record_t *r)
{
    char  err[FARM_ERR_MAX];

    farm_record_init(r);
    strcpy(r->id, "gpu-eu-1");
    strcpy(r->service, "agents");
    strcpy(r->address, "10.0.3.7");
    r->port = 9001;
    r->weight = 4;
    strcpy(r->region, "eu-central");
    assert_int_equal(farm_record_add_caps(r, "gpu,browser", err), 0);
    r->max_conns = 64;
    r->backup = 1;
    assert_int_equal(farm_record_set_meta(r, "{\"rack\":\"r7\",\"n\":3}", err),
                     0);
}


static const farm_consul_reg_t  reg = { 10000, 60000, "0.1.0" };


static void
registration_has_every_field(void **state)
{
    char          *text, err[FARM_ERR_MAX];
    json_t        *j, *meta, *check;
    farm_record_t  r;

    (void) state;

    full_record(&r);

    text = farm_consul_registration(&r, &reg, err);
    assert_non_null(text);

    j = json_loads(text, 0, NULL);
    assert_non_null(j);

    assert_string_equal(json_string_value(json_object_get(j, "ID")),
                        "gpu-eu-1");
    assert_string_equal(json_string_value(json_object_get(j, "Name")),
                        "agents");
    assert_string_equal(json_string_value(json_object_get(j, "Address")),
                        "10.0.3.7");
    assert_int_equal(json_integer_value(json_object_get(j, "Port")), 9001);
    assert_int_equal(json_array_size(json_object_get(j, "Tags")), 2);
    assert_string_equal(json_string_value(
                        json_array_get(json_object_get(j, "Tags"), 1)),
                        "browser");

    meta = json_object_get(j, "Meta");
    assert_string_equal(json_string_value(json_object_get(meta, "region")),
                        "eu-central");
    assert_string_equal(json_string_value(json_object_get(meta, "max_conns")),
                        "64");
    assert_string_equal(json_string_value(json_object_get(meta, "backup")),
                        "true");
    assert_string_equal(json_string_value(json_object_get(meta, "version")),
                        "0.1.0");
    assert_string_equal(json_string_value(json_object_get(meta, "rack")),
                        "r7");
    assert_string_equal(json_string_value(json_object_get(meta, "n")), "3");

    assert_int_equal(json_integer_value(json_object_get(
                     json_object_get(j, "Weights"), "Passing")), 4);
    assert_int_equal(json_integer_value(json_object_get(
                     json_object_get(j, "Weights"), "Warning")), 1);

    check = json_object_get(j, "Check");
    assert_string_equal(json_string_value(json_object_get(check, "CheckID")),
                        "service:gpu-eu-1");
    assert_string_equal(json_string_value(json_object_get(check, "TTL")),
                        "10000ms");
    assert_string_equal(json_string_value(json_object_get(check, "Status")),
                        "passing");
    assert_string_equal(json_string_value(json_object_get(check,
                        "DeregisterCriticalServiceAfter")), "60000ms");

    json_decref(j);
    free(text);
    farm_record_free(&r);
}


static void
defaults_stay_out_of_meta(void **state)
{
    char                *text, err[FARM_ERR_MAX];
    json_t              *j, *meta;
    farm_record_t        r;
    farm_consul_reg_t    noversion = { 3000, 60000, NULL };

    (void) state;

    farm_record_init(&r);
    strcpy(r.id, "a1");
    strcpy(r.service, "agents");
    strcpy(r.address, "::1");
    r.port = 80;

    text = farm_consul_registration(&r, &noversion, err);
    assert_non_null(text);

    j = json_loads(text, 0, NULL);
    meta = json_object_get(j, "Meta");
    assert_int_equal(json_object_size(meta), 0);
    assert_int_equal(json_array_size(json_object_get(j, "Tags")), 0);
    assert_string_equal(json_string_value(json_object_get(j, "Address")),
                        "::1");

    json_decref(j);
    free(text);
}


static void
invalid_record_is_not_registered(void **state)
{
    char           err[FARM_ERR_MAX];
    farm_record_t  r;

    (void) state;

    full_record(&r);
    r.port = 0;

    assert_null(farm_consul_registration(&r, &reg, err));
    assert_string_equal(err, "port: must be an integer from 1 to 65535");

    farm_record_free(&r);
}


/*
 * What the agent registers comes back as the same record (meta values as
 * strings, plus the agent's version).
 */
static void
round_trip_gives_the_same_record(void **state)
{
    char          *text, *body, err[FARM_ERR_MAX];
    json_t        *svc, *entry, *list;
    seen_list_t    l;
    farm_record_t  r;

    (void) state;

    full_record(&r);

    text = farm_consul_registration(&r, &reg, err);
    svc = json_loads(text, 0, NULL);
    free(text);

    /* the health endpoint's shape: Name is called Service there */
    json_object_set(svc, "Service", json_object_get(svc, "Name"));
    json_object_del(svc, "Name");
    json_object_del(svc, "Check");
    json_object_set_new(svc, "ModifyIndex", json_integer(42));

    entry = json_pack("{s:{s:s,s:s},s:o,s:[{s:s},{s:s}]}",
                      "Node", "Node", "n1", "Address", "10.9.9.9",
                      "Service", svc,
                      "Checks", "Status", "passing", "Status", "passing");
    list = json_pack("[o]", entry);
    body = json_dumps(list, 0);
    json_decref(list);

    assert_int_equal(parse(body, &l), 1);
    free(body);

    assert_true(l.e[0].good);
    assert_string_equal(l.e[0].label, "agents/gpu-eu-1");
    assert_int_equal(l.e[0].version, 42);
    assert_int_equal(l.e[0].health, FARM_CONSUL_PASSING);
    assert_string_equal(l.e[0].rec.id, r.id);
    assert_string_equal(l.e[0].rec.service, r.service);
    assert_string_equal(l.e[0].rec.address, r.address);
    assert_int_equal(l.e[0].rec.port, r.port);
    assert_int_equal(l.e[0].rec.weight, r.weight);
    assert_string_equal(l.e[0].rec.region, r.region);
    assert_int_equal(l.e[0].rec.ncaps, 2);
    assert_string_equal(l.e[0].rec.caps[0], "gpu");
    assert_string_equal(l.e[0].rec.caps[1], "browser");
    assert_int_equal(l.e[0].rec.max_conns, 64);
    assert_int_equal(l.e[0].rec.backup, 1);
    assert_string_equal(l.e[0].rec.meta,
                        "{\"n\":\"3\",\"rack\":\"r7\",\"version\":\"0.1.0\"}");

    seen_free(&l);
    farm_record_free(&r);
}


/*
 * F2: a record whose meta is an empty object reads the same from Redis
 * (its JSON form) and from Consul (what its registration gives back).
 */
static void
empty_meta_is_the_same_in_both_forms(void **state)
{
    char                      *text, *body, err[FARM_ERR_MAX];
    json_t                    *svc, *list;
    seen_list_t                l;
    farm_record_t              r;
    static const char          json[] = "{\"id\":\"a\",\"service\":\"agents\","
                                        "\"address\":\"1.1.1.1\",\"port\":1,"
                                        "\"meta\":{}}";
    static farm_consul_reg_t   noversion = { 10000, 60000, NULL };

    (void) state;

    assert_int_equal(farm_record_parse(&r, json, sizeof(json) - 1, err), 0);

    text = farm_consul_registration(&r, &noversion, err);
    assert_non_null(text);
    svc = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(svc);

    json_object_set(svc, "Service", json_object_get(svc, "Name"));
    json_object_del(svc, "Name");
    json_object_del(svc, "Check");

    list = json_pack("[{s:{s:s},s:o,s:[{s:s}]}]", "Node", "Address",
                     "10.9.9.9", "Service", svc, "Checks", "Status",
                     "passing");
    body = json_dumps(list, 0);
    json_decref(list);

    assert_int_equal(parse(body, &l), 1);
    free(body);
    assert_true(l.e[0].good);

    if (r.meta == NULL || l.e[0].rec.meta == NULL) {
        assert_null(r.meta);
        assert_null(l.e[0].rec.meta);

    } else {
        assert_string_equal(r.meta, l.e[0].rec.meta);
    }

    seen_free(&l);
    farm_record_free(&r);
}


#define ENTRY(id, addr, extra, checks)                                        \
    "{\"Node\":{\"Node\":\"n1\",\"Address\":\"10.9.9.9\"},"                   \
    "\"Service\":{\"ID\":\"" id "\",\"Service\":\"agents\","                  \
    "\"Address\":\"" addr "\",\"Port\":9001" extra "},"                      \
    "\"Checks\":[" checks "]}"

#define PASS  "{\"Status\":\"passing\"}"
#define WARN  "{\"Status\":\"warning\"}"
#define CRIT  "{\"Status\":\"critical\"}"


static void
health_decides_routing_and_weight(void **state)
{
    seen_list_t  l;
    const char  *body =
        "[" ENTRY("p", "10.0.0.1", ",\"Weights\":{\"Passing\":5,\"Warning\":2}",
                  PASS "," PASS) ","
            ENTRY("w", "10.0.0.2", ",\"Weights\":{\"Passing\":5,\"Warning\":2}",
                  PASS "," WARN) ","
            ENTRY("c", "10.0.0.3", "", WARN "," CRIT) ","
            ENTRY("m", "10.0.0.4", "", "{\"Status\":\"maintenance\"}") ","
            ENTRY("w0", "10.0.0.5", ",\"Weights\":{\"Passing\":5,\"Warning\":0}",
                  WARN) ","
            ENTRY("node", "", "", "") "]";

    (void) state;

    assert_int_equal(parse(body, &l), 6);

    assert_true(l.e[0].good);
    assert_int_equal(l.e[0].health, FARM_CONSUL_PASSING);
    assert_int_equal(l.e[0].rec.weight, 5);

    assert_true(l.e[1].good);
    assert_int_equal(l.e[1].health, FARM_CONSUL_WARNING);
    assert_int_equal(l.e[1].rec.weight, 2);

    assert_int_equal(l.e[2].health, FARM_CONSUL_CRITICAL);
    assert_int_equal(l.e[3].health, FARM_CONSUL_CRITICAL);
    assert_int_equal(l.e[4].health, FARM_CONSUL_CRITICAL);

    /* no service address: the node's */
    assert_true(l.e[5].good);
    assert_string_equal(l.e[5].rec.address, "10.9.9.9");
    assert_int_equal(l.e[5].rec.weight, 1);

    seen_free(&l);
}


static void
malformed_entries_are_named(void **state)
{
    int          i;
    seen_list_t  l;
    const char  *body =
        "[" ENTRY("ok", "10.0.0.1", "", PASS) ","
            ENTRY("bad id!", "10.0.0.1", "", PASS) ","
            "{\"Node\":{},\"Service\":{\"ID\":\"other\",\"Service\":\"billing\","
            "\"Address\":\"10.0.0.1\",\"Port\":1}},"
            ENTRY("host", "consul.example", "", PASS) ","
            "{\"Service\":{\"ID\":\"port0\",\"Service\":\"agents\","
            "\"Address\":\"10.0.0.1\",\"Port\":0}},"
            ENTRY("tag", "10.0.0.1", ",\"Tags\":[\"traefik.enable=true\"]", "")
            ","
            ENTRY("mc", "10.0.0.1", ",\"Meta\":{\"max_conns\":\"lots\"}", "") ","
            ENTRY("bk", "10.0.0.1", ",\"Meta\":{\"backup\":\"yes\"}", "") ","
            ENTRY("wt", "10.0.0.1", ",\"Weights\":{\"Passing\":5000}", "") ","
            ENTRY("ok", "10.0.0.2", "", PASS) ","
            "7,"
            ENTRY("rg", "10.0.0.1", ",\"Meta\":{\"region\":\"eu west\"}", "")
        "]";
    const char  *want[][2] = {
        { "agents/ok", "" },
        { "agents[1]", "ID: must be 1-128 of A-Z a-z 0-9 . _ - : @, "
                       "starting with a letter or digit" },
        { "agents/other", "Service: \"billing\" is not the upstream's "
                          "service" },
        { "agents/host", "Address: \"consul.example\" is not an IPv4 or "
                         "IPv6 address" },
        { "agents/port0", "Port: must be an integer from 1 to 65535" },
        { "agents/tag", "Tags[0]: must be a capability name (1-64 of A-Z a-z "
                        "0-9 . _ -)" },
        { "agents/mc", "Meta.max_conns: must be an integer from 0 to "
                       "1000000" },
        { "agents/bk", "Meta.backup: must be \"true\" or \"false\"" },
        { "agents/wt", "Weights.Passing: must be an integer from 1 to 1000" },
        { "agents/ok", "ID: \"ok\" is listed twice (also on node \"n1\"); "
                       "the first one counts" },
        { "agents[10]", "entry: must be a JSON object" },
        { "agents/rg", "Meta.region: must be 1-64 of A-Z a-z 0-9 . _ -, "
                       "starting with a letter or digit" },
    };

    (void) state;

    assert_int_equal(parse(body, &l), 12);

    for (i = 0; i < 12; i++) {
        assert_string_equal(l.e[i].label, want[i][0]);
        assert_string_equal(l.e[i].err, want[i][1]);
        assert_int_equal(l.e[i].good, i == 0);
    }

    seen_free(&l);
}


static void
a_body_that_is_not_a_list_fails_whole(void **state)
{
    char         err[FARM_ERR_MAX];
    seen_list_t  l;

    (void) state;

    memset(&l, 0, sizeof(l));

    assert_int_equal(farm_consul_health_parse("{\"a\":1}", 7, "agents",
                                              collect, &l, err), -1);
    assert_string_equal(err, "not a JSON array");

    assert_int_equal(farm_consul_health_parse("[{", 2, "agents", collect, &l,
                                              err), -1);
    assert_true(strncmp(err, "invalid JSON", 12) == 0);

    assert_int_equal(farm_consul_health_parse("[]", 2, "agents", collect, &l,
                                              err), 0);
    assert_int_equal(l.n, 0);
}


static void
meta_must_fit_consul(void **state)
{
    int     i;
    char    err[FARM_ERR_MAX], big[700], *p;

    (void) state;

    assert_int_equal(farm_consul_check_meta(NULL, err), 0);
    assert_int_equal(farm_consul_check_meta("{\"rack\":\"r1\",\"x-y_z\":[1]}",
                                            err), 0);

    assert_int_equal(farm_consul_check_meta("{\"a.b\":\"1\"}", err), -1);
    assert_string_equal(err, "meta: key \"a.b\" cannot be a Consul Meta key "
                        "(1-128 of A-Z a-z 0-9 _ -, not starting with "
                        "\"consul-\")");

    assert_int_equal(farm_consul_check_meta("{\"consul-x\":\"1\"}", err), -1);

    assert_int_equal(farm_consul_check_meta("{\"region\":\"eu\"}", err), -1);
    assert_string_equal(err, "meta: key \"region\" is reserved for the "
                        "record's own field in Consul Meta");

    snprintf(big, sizeof(big), "{\"k\":\"%0600d\"}", 0);
    assert_int_equal(farm_consul_check_meta(big, err), -1);
    assert_string_equal(err, "meta: the value of \"k\" is longer than the 512 "
                        "bytes Consul allows");

    p = big;
    p += sprintf(p, "{");
    for (i = 0; i < 61; i++) {
        p += sprintf(p, "%s\"k%d\":\"\"", i ? "," : "", i);
    }
    sprintf(p, "}");

    assert_int_equal(farm_consul_check_meta(big, err), -1);
    assert_true(strncmp(err, "meta: more than 60 keys", 23) == 0);
}


static void
check_id_names_the_service(void **state)
{
    char  buf[FARM_CONSUL_CHECK_MAX];

    (void) state;

    assert_int_equal(farm_consul_check_id(buf, sizeof(buf), "a:b@c"), 13);
    assert_string_equal(buf, "service:a:b@c");
    assert_int_equal(farm_consul_check_id(buf, 5, "a1"), -1);
}


/*
 * The answer is read one entry at a time: it must agree with jansson's
 * parse of the whole body on every body, valid or not.  Every body one
 * edit away from a good answer (each byte removed, or replaced by each
 * of a few characters that matter to JSON's syntax): the parse fails
 * exactly when jansson's fails or gives no array, succeeds with as many
 * entries as the array has, and places an error where jansson does.
 */

static int
count_entries(void *data, const char *label, uint64_t version,
    farm_record_t *r, int health, const char *err)
{
    (void) label;
    (void) version;
    (void) r;
    (void) health;
    (void) err;

    (*(int *) data)++;

    return 0;
}


static void
count_cb(void *data, const char *label, uint64_t version, farm_record_t *r,
    int health, const char *err)
{
    (void) count_entries(data, label, version, r, health, err);
}


static void
agree_with_jansson(const char *body, size_t len)
{
    int           n, calls, line, column;
    char          err[FARM_ERR_MAX];
    json_t       *root;
    json_error_t  jerr;

    calls = 0;
    n = farm_consul_health_parse(body, len, "agents", count_cb, &calls, err);

    /* stricter than jansson, which lets a raw NUL pass outside strings */

    if (memchr(body, '\0', len)) {
        assert_int_equal(n, -1);
        assert_non_null(strstr(err, ": a NUL byte"));
        return;
    }

    root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);

    if (root == NULL) {

        /* an entry may nest one level deeper than jansson allows a body */

        if (n >= 0 && strstr(jerr.text, "maximum parsing depth")) {
            return;
        }

        if (n != -1) {
            fail_msg("body \"%.*s\": jansson fails (%s), the parse gives %d",
                     (int) len, body, jerr.text, n);
        }

        if (sscanf(err, "invalid JSON at line %d column %d:", &line, &column)
            != 2)
        {
            fail_msg("body \"%.*s\": no place in \"%s\"", (int) len, body,
                     err);
        }

        /* jansson's place, or (for the array's own syntax) no later */

        if (line != jerr.line || column > jerr.column) {
            fail_msg("body \"%.*s\": \"%s\", jansson: line %d column %d: %s",
                     (int) len, body, err, jerr.line, jerr.column,
                     jerr.text);
        }

        return;
    }

    if (!json_is_array(root)) {
        assert_int_equal(n, -1);
        assert_string_equal(err, "not a JSON array");

    } else {
        if (n != (int) json_array_size(root) || calls != n) {
            fail_msg("body \"%.*s\": %zu elements, the parse gives %d (%d "
                     "calls)", (int) len, body, json_array_size(root), n,
                     calls);
        }
    }

    json_decref(root);
}


static void
entries_one_at_a_time_agree_with_a_whole_parse(void **state)
{
    char         *b;
    size_t        i, len, k;
    const char   *bodies[] = {
        " [ {\"Service\":{\"ID\":\"a\",\"Service\":\"agents\","
        "\"Address\":\"10.0.0.1\",\"Port\":80,\"Tags\":[\"x\"]},"
        "\"Checks\":[]} ,\n 7,\"s,]\\\"\" ,[1,{}], null,\n"
        "{\"Service\":{\"ID\":\"b\"}} ]\n",
        "[]",
        "[\n]",
        "[1]",
        "[{\"a\":[[],{}]}]",
    };
    const char    edits[] = { ',', ']', '[', '{', '}', '"', ' ', '\n', '1',
                              '\\', 'x', '\0', (char) 0xff, (char) 0xc3 };

    (void) state;

    for (k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++) {
        len = strlen(bodies[k]);
        b = malloc(len + 2);
        assert_non_null(b);

        agree_with_jansson(bodies[k], len);

        for (i = 0; i <= len; i++) {

            /* byte i removed */

            if (i < len) {
                memcpy(b, bodies[k], i);
                memcpy(b + i, bodies[k] + i + 1, len - i - 1);
                agree_with_jansson(b, len - 1);
            }

            /* byte i replaced, or a byte inserted before it */

            for (size_t e = 0; e < sizeof(edits); e++) {
                if (i < len) {
                    memcpy(b, bodies[k], len);
                    b[i] = edits[e];
                    agree_with_jansson(b, len);
                }

                memcpy(b, bodies[k], i);
                b[i] = edits[e];
                memcpy(b + i + 1, bodies[k] + i, len - i);
                agree_with_jansson(b, len + 1);
            }
        }

        free(b);
    }
}


/*
 * Memory: one entry's tree at a time, not the whole answer's (jansson's
 * tree of a 100,000-entry answer took about 800 MB).  jansson's blocks are
 * counted through its allocation hooks while 2,000 entries are parsed.
 */

static size_t  json_in_use, json_peak;


static void *
counting_malloc(size_t size)
{
    size_t  *p;

    p = malloc(size + sizeof(size_t) * 2);
    if (p == NULL) {
        return NULL;
    }

    p[0] = size;
    json_in_use += size;

    if (json_in_use > json_peak) {
        json_peak = json_in_use;
    }

    return p + 2;
}


static void
counting_free(void *ptr)
{
    size_t  *p;

    if (ptr == NULL) {
        return;
    }

    p = (size_t *) ptr - 2;
    json_in_use -= p[0];
    free(p);
}


static void
memory_is_one_entry_not_the_answer(void **state)
{
    int           i, calls;
    char         *body, *p, err[FARM_ERR_MAX];
    size_t        size;

    (void) state;

    size = 2000 * 400 + 16;
    body = malloc(size);
    assert_non_null(body);

    p = body;
    *p++ = '[';

    for (i = 0; i < 2000; i++) {
        p += sprintf(p, "%s{\"Node\":{\"Node\":\"n\",\"Address\":\"10.0.0.1\"},"
                     "\"Service\":{\"ID\":\"a-%d\",\"Service\":\"agents\","
                     "\"Port\":%d,\"Tags\":[\"gpu\",\"x\"],\"Meta\":"
                     "{\"region\":\"eu\"}},\"Checks\":[{\"Status\":"
                     "\"passing\"}]}", i ? "," : "", i, 1000 + i);
    }

    *p++ = ']';

    json_set_alloc_funcs(counting_malloc, counting_free);
    json_in_use = 0;
    json_peak = 0;

    calls = 0;
    assert_int_equal(farm_consul_health_parse(body, p - body, "agents",
                                              count_cb, &calls, err), 2000);
    assert_int_equal(calls, 2000);

    json_set_alloc_funcs(malloc, free);

    assert_int_equal(json_in_use, 0);

    /* the whole tree would be well over 1 MB; one entry is a few KB */

    if (json_peak > 64 * 1024) {
        fail_msg("jansson held %zu bytes at once for 2,000 entries",
                 json_peak);
    }

    free(body);
}


/* A syntax error after good entries: -1, and where it is. */

static void
a_late_syntax_error_is_placed(void **state)
{
    int          calls;
    char         err[FARM_ERR_MAX];
    const char  *body = "[{\"a\":1},\n {\"b\":2}\n x]";

    (void) state;

    calls = 0;
    assert_int_equal(farm_consul_health_parse(body, strlen(body), "agents",
                                              count_cb, &calls, err), -1);
    assert_string_equal(err, "invalid JSON at line 3 column 2: ',' or ']' "
                        "expected");

    body = "[{\"a\":1},\n {\"b\":}]";
    assert_int_equal(farm_consul_health_parse(body, strlen(body), "agents",
                                              count_cb, &calls, err), -1);
    assert_true(strncmp(err, "invalid JSON at line 2 column 7: ", 33) == 0);

    body = "[1] [";
    assert_int_equal(farm_consul_health_parse(body, strlen(body), "agents",
                                              count_cb, &calls, err), -1);
    assert_string_equal(err, "invalid JSON at line 1 column 5: end of file "
                        "expected");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(registration_has_every_field),
        cmocka_unit_test(defaults_stay_out_of_meta),
        cmocka_unit_test(invalid_record_is_not_registered),
        cmocka_unit_test(round_trip_gives_the_same_record),
        cmocka_unit_test(empty_meta_is_the_same_in_both_forms),
        cmocka_unit_test(health_decides_routing_and_weight),
        cmocka_unit_test(malformed_entries_are_named),
        cmocka_unit_test(a_body_that_is_not_a_list_fails_whole),
        cmocka_unit_test(entries_one_at_a_time_agree_with_a_whole_parse),
        cmocka_unit_test(memory_is_one_entry_not_the_answer),
        cmocka_unit_test(a_late_syntax_error_is_placed),
        cmocka_unit_test(meta_must_fit_consul),
        cmocka_unit_test(check_id_names_the_service),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
