/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * kong-compat's plugin layer: each plugin's schema with Kong 3.x's
 * defaults and messages, credentials (password hashing, unique keys that
 * are never quoted), and the scope precedence and priority order that
 * kong_plugin_for() applies.
 */

#include "test_kong_load.h"
#include "kong_plugin.h"


#define HEAD  "_format_version: \"3.0\"\n"


static const kong_plugin_t *
global(kong_config_t *cfg, int type)
{
    return kong_plugin_for(cfg, type, NULL, NULL);
}


static void
defaults_are_kongs(void **state)
{
    kong_config_t                    *cfg;
    const kong_key_auth_conf_t       *ka;
    const kong_basic_auth_conf_t     *ba;
    const kong_rate_limiting_conf_t  *rl;
    const kong_request_size_conf_t   *rs;
    const kong_request_termination_conf_t  *rt;
    const kong_cors_conf_t           *co;
    const kong_jwt_plugin_conf_t     *jw;
    const kong_correlation_id_conf_t *ci;

    (void) state;

    cfg = load_ok(HEAD "plugins:\n"
                  "- name: key-auth\n"
                  "- name: basic-auth\n"
                  "- name: rate-limiting\n"
                  "  config: {minute: 5}\n"
                  "- name: request-size-limiting\n"
                  "- name: request-termination\n"
                  "- name: cors\n"
                  "- name: jwt\n"
                  "- name: correlation-id\n");

    ka = global(cfg, KONG_PLUGIN_KEY_AUTH)->conf;
    assert_int_equal(ka->key_names.n, 1);
    assert_string_equal(ka->key_names.items[0], "apikey");
    assert_true(ka->key_in_header && ka->key_in_query);
    assert_false(ka->key_in_body || ka->hide_credentials);
    assert_true(ka->run_on_preflight);
    assert_null(ka->realm);
    assert_null(ka->anonymous);

    ba = global(cfg, KONG_PLUGIN_BASIC_AUTH)->conf;
    assert_string_equal(ba->realm, "service");

    rl = global(cfg, KONG_PLUGIN_RATE_LIMITING)->conf;
    assert_true(rl->limits[1] == 5);
    assert_int_equal(rl->limit_by, KONG_LIMIT_BY_CONSUMER);
    assert_int_equal(rl->policy, KONG_POLICY_LOCAL);
    assert_true(rl->fault_tolerant);
    assert_int_equal(rl->error_code, 429);
    assert_string_equal(rl->error_message, "API rate limit exceeded");
    assert_int_equal(rl->redis.port, 6379);
    assert_int_equal(rl->redis.timeout, 2000);

    rs = global(cfg, KONG_PLUGIN_REQUEST_SIZE_LIMITING)->conf;
    assert_int_equal(rs->limit, 128 * 1048576);

    rt = global(cfg, KONG_PLUGIN_REQUEST_TERMINATION)->conf;
    assert_int_equal(rt->status_code, 503);

    co = global(cfg, KONG_PLUGIN_CORS)->conf;
    assert_int_equal(co->methods.n, 9);
    assert_true(co->allow_origin_absent);

    jw = global(cfg, KONG_PLUGIN_JWT)->conf;
    assert_string_equal(jw->key_claim_name, "iss");
    assert_string_equal(jw->uri_param_names.items[0], "jwt");
    assert_string_equal(jw->header_names.items[0], "authorization");

    ci = global(cfg, KONG_PLUGIN_CORRELATION_ID)->conf;
    assert_string_equal(ci->header_name, "Kong-Request-ID");
    assert_int_equal(ci->generator, KONG_CORRID_UUID_COUNTER);

    kong_config_free(cfg);

    /* sync_rate with policy redis: Kong's periodic sync */
    cfg = load_ok(HEAD "plugins:\n- name: rate-limiting\n"
                  "  config: {minute: 5, policy: redis, redis: {host: r}, "
                  "sync_rate: 10}\n");
    rl = global(cfg, KONG_PLUGIN_RATE_LIMITING)->conf;
    assert_true(rl->sync_rate == 10);
    kong_config_free(cfg);
}


static void
schema_errors(void **state)
{
    (void) state;

    load_err(HEAD "plugins:\n- name: nope\n",
             "kong.yml:3:9: plugins[0].name: plugin 'nope' not enabled; add "
             "it to the 'plugins' configuration property");
    load_err(HEAD "plugins:\n- name: oauth2\n",
             "kong.yml:3:9: plugins[0].name: plugin 'oauth2' is not "
             "supported by this gateway");
    load_err(HEAD "plugins:\n- name: rate-limiting\n",
             "kong.yml:3:3: plugins[0].config: at least one of these fields "
             "must be non-empty: 'config.second', 'config.minute', "
             "'config.hour', 'config.day', 'config.month', 'config.year'");
    load_err(HEAD "plugins:\n- name: rate-limiting\n"
             "  config: {second: 0}\n",
             "kong.yml:4:20: plugins[0].config.second: value must be greater "
             "than 0");
    load_err(HEAD "plugins:\n- name: rate-limiting\n"
             "  config: {minute: 1, limit_by: header}\n",
             "kong.yml:4:11: plugins[0].config.header_name: required field "
             "missing");
    load_err(HEAD "plugins:\n- name: rate-limiting\n"
             "  config: {minute: 1, sync_rate: 5}\n",
             "kong.yml:4:34: plugins[0].config.sync_rate: sync_rate can only "
             "be used with the redis policy");
    load_err(HEAD "plugins:\n- name: rate-limiting\n"
             "  config: {minute: 1, policy: redis, redis: {host: r}, "
             "sync_rate: 0}\n",
             "kong.yml:4:67: plugins[0].config.sync_rate: sync_rate must be "
             "greater than 0.02, or -1 to disable");
    load_err(HEAD "plugins:\n- name: rate-limiting\n"
             "  config: {minute: 1, policy: redis, redis: {host: r}, "
             "sync_rate: -2}\n",
             "kong.yml:4:67: plugins[0].config.sync_rate: sync_rate must be "
             "greater than 0.02, or -1 to disable");
    load_err(HEAD "plugins:\n- name: acl\n",
             "kong.yml:3:3: plugins[0].config: at least one of these fields "
             "must be non-empty: 'config.allow', 'config.deny'");
    load_err(HEAD "plugins:\n- name: ip-restriction\n"
             "  config: {deny: [1.2.3.4/40]}\n",
             "kong.yml:4:19: plugins[0].config.deny[0]: invalid ip or cidr "
             "range: '1.2.3.4/40'");
    load_err(HEAD "plugins:\n- name: request-termination\n"
             "  config: {content_type: text/plain}\n",
             "kong.yml:4:11: plugins[0].config: content_type requires a "
             "body");
    load_err(HEAD "plugins:\n- name: request-size-limiting\n"
             "  config: {size_unit: gigabytes}\n",
             "kong.yml:4:23: plugins[0].config.size_unit: expected one of: "
             "megabytes, kilobytes, bytes");
    load_err(HEAD "plugins:\n- name: jwt\n"
             "  config: {maximum_expiration: 60}\n",
             "kong.yml:4:11: plugins[0].config.claims_to_verify: expected to "
             "contain: exp");
    load_err(HEAD "plugins:\n- name: request-transformer\n"
             "  config: {add: {headers: ['x-a']}}\n",
             "kong.yml:4:28: plugins[0].config.add.headers[0]: key 'x-a' has "
             "no value");
    load_err(HEAD "plugins:\n- name: response-transformer\n"
             "  config: {remove: {headers: ['a b']}}\n",
             "kong.yml:4:31: plugins[0].config.remove.headers[0]: 'a b' is "
             "not a valid header");
    load_err(HEAD "consumers:\n- username: a\n  plugins:\n"
             "  - name: key-auth\n",
             "kong.yml:5:5: consumers[0].plugins[0].consumer: value must be "
             "null");
}


static void
credentials(void **state)
{
    kong_config_t            *cfg;
    const kong_consumer_t    *c;
    const kong_credential_t  *cr;

    (void) state;

    /* sha1("s3cret" .. "6f3e1d4c-6b1a-4b43-9a53-2f7c9e3b2a11"), by sha1sum */
    cfg = load_ok(HEAD "consumers:\n"
                  "- username: alice\n"
                  "  id: 6f3e1d4c-6b1a-4b43-9a53-2f7c9e3b2a11\n"
                  "  basicauth_credentials: [{username: al, password: s3cret}]\n"
                  "  acls: [{group: g1}, {group: g2}]\n"
                  "- custom_id: c2\n");

    cr = kong_basic_find(cfg, "al", 2);
    assert_non_null(cr);
    assert_int_equal(strlen(cr->password), 40);
    assert_string_equal(cr->password,
                        "2e1e0cf9f3c56157e8b919797815eac6ce3547a3");

    c = kong_consumer_find(cfg, "alice", 5);
    assert_non_null(c);
    assert_int_equal(c->ngroups, 2);
    assert_string_equal(c->groups[1], "g2");
    assert_ptr_equal(kong_consumer_find(cfg, c->id, strlen(c->id)), c);

    /* a consumer without an id gets a stable one in UUID form */
    assert_int_equal(strlen(cfg->consumers[1]->id), 36);

    kong_config_free(cfg);

    load_err(HEAD "consumers:\n- username: a\n"
             "  keyauth_credentials: [{key: k}, {key: k}]\n",
             "kong.yml:4:35: consumers[0].keyauth_credentials[1]: uniqueness "
             "violation: 'keyauth_credentials' entity with the same key "
             "already declared at line 4");
    load_err(HEAD "consumers:\n- username: a\n"
             "  hmacauth_credentials: [{username: k}]\n",
             "kong.yml:4:26: consumers[0].hmacauth_credentials[0]: "
             "'hmacauth_credentials' are not supported by this gateway: this "
             "gateway has no hmac-auth plugin (not among Kong's common "
             "plugins it serves)");
}


static void
precedence(void **state)
{
    kong_config_t          *cfg;
    kong_route_t           *r, *r2;
    const kong_plugin_t    *p;
    const kong_consumer_t  *alice, *bob;

    (void) state;

    cfg = load_ok(HEAD "services:\n"
                  "- name: s\n  host: a.test\n"
                  "  routes:\n"
                  "  - name: r\n    paths: [/r]\n"
                  "  - name: r2\n    paths: [/r2]\n"
                  "  plugins:\n"
                  "  - name: rate-limiting\n    config: {minute: 2}\n"
                  "consumers:\n- username: alice\n- username: bob\n"
                  "plugins:\n"
                  "- name: rate-limiting\n  config: {minute: 1}\n"
                  "- name: rate-limiting\n  route: r\n  config: {minute: 3}\n"
                  "- name: rate-limiting\n  consumer: alice\n"
                  "  config: {minute: 4}\n"
                  "- name: rate-limiting\n  route: r\n  consumer: alice\n"
                  "  config: {minute: 5}\n"
                  "- name: rate-limiting\n  route: r\n  service: s\n"
                  "  config: {minute: 6}\n"
                  "- name: rate-limiting\n  service: s\n  consumer: bob\n"
                  "  config: {minute: 7}\n"
                  "- name: key-auth\n  route: r2\n  enabled: false\n");

    r = route_named(cfg, "r");
    r2 = route_named(cfg, "r2");
    alice = kong_consumer_find(cfg, "alice", 5);
    bob = kong_consumer_find(cfg, "bob", 3);

#define LIMIT(p)  (((const kong_rate_limiting_conf_t *) (p)->conf)->limits[1])

    p = kong_plugin_for(cfg, KONG_PLUGIN_RATE_LIMITING, NULL, NULL);
    assert_true(LIMIT(p) == 1);                     /* global */

    p = kong_plugin_for(cfg, KONG_PLUGIN_RATE_LIMITING, r2, NULL);
    assert_true(LIMIT(p) == 2);                     /* service */

    p = kong_plugin_for(cfg, KONG_PLUGIN_RATE_LIMITING, r, NULL);
    assert_true(LIMIT(p) == 6);                     /* route+service */

    p = kong_plugin_for(cfg, KONG_PLUGIN_RATE_LIMITING, r, alice);
    assert_true(LIMIT(p) == 5);                     /* route+consumer */

    p = kong_plugin_for(cfg, KONG_PLUGIN_RATE_LIMITING, r2, alice);
    assert_true(LIMIT(p) == 4);                     /* consumer > service */

    p = kong_plugin_for(cfg, KONG_PLUGIN_RATE_LIMITING, r, bob);
    assert_true(LIMIT(p) == 7);                     /* service+consumer >
                                                       route+service */

    p = kong_plugin_for(cfg, KONG_PLUGIN_RATE_LIMITING, NULL, alice);
    assert_true(LIMIT(p) == 4);                     /* consumer > global */

    /* disabled: not a candidate, and not counted as used */
    assert_null(kong_plugin_for(cfg, KONG_PLUGIN_KEY_AUTH, r2, NULL));
    assert_false(cfg->used & (1u << KONG_PLUGIN_KEY_AUTH));

#undef LIMIT

    /* service_named is part of the shared helpers */
    assert_non_null(service_named(cfg, "s"));

    kong_config_free(cfg);
}


static void
priority_order(void **state)
{
    (void) state;

    /* numbering is Kong's PRIORITY order, highest first */
    assert_int_equal(kong_plugin_type("correlation-id"), 0);
    assert_true(kong_plugin_type("cors") < kong_plugin_type("jwt"));
    assert_true(kong_plugin_type("jwt") < kong_plugin_type("key-auth"));
    assert_true(kong_plugin_type("key-auth") < kong_plugin_type("basic-auth"));
    assert_true(kong_plugin_type("basic-auth")
                < kong_plugin_type("ip-restriction"));
    assert_true(kong_plugin_type("ip-restriction")
                < kong_plugin_type("request-size-limiting"));
    assert_true(kong_plugin_type("request-size-limiting")
                < kong_plugin_type("acl"));
    assert_true(kong_plugin_type("acl") < kong_plugin_type("rate-limiting"));
    assert_true(kong_plugin_type("rate-limiting")
                < kong_plugin_type("request-transformer"));
    assert_true(kong_plugin_type("response-transformer")
                < kong_plugin_type("prometheus"));
    assert_int_equal(kong_plugin_type("request-termination"),
                     KONG_PLUGIN_N - 1);
    assert_int_equal(kong_plugin_type("nope"), -1);
}


static void
skip_mode_drops_bad_plugins(void **state)
{
    (void) state;

    load_err_flags(HEAD "plugins:\n- name: key-auth\n"
                   "- name: rate-limiting\n  config: {minute: -1}\n",
                   KONG_LOAD_SKIP_INVALID,
                   "kong.yml:5:20: plugins[1].config.minute: value must be "
                   "greater than 0");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(defaults_are_kongs),
        cmocka_unit_test(schema_errors),
        cmocka_unit_test(credentials),
        cmocka_unit_test(precedence),
        cmocka_unit_test(priority_order),
        cmocka_unit_test(skip_mode_drops_bad_plugins),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
