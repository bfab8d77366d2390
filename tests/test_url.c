/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Registry URLs as written in farm_registry and farm-agent --registry.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "farm_record.h"
#include "farm_url.h"


static void
parse_ok(farm_url_t *u, const char *s)
{
    char  err[FARM_ERR_MAX];

    err[0] = '\0';

    if (farm_url_parse(u, s, strlen(s), err) != 0) {
        print_error("rejected: %s\nreason: %s\n", s, err);
        fail();
    }
}


static void
parse_error(const char *s, const char *msg)
{
    farm_url_t  u;
    char        err[FARM_ERR_MAX];

    err[0] = '\0';

    if (farm_url_parse(&u, s, strlen(s), err) != -1) {
        print_error("accepted: %s\n", s);
        fail();
    }

    assert_string_equal(err, msg);
}


static void
redis_defaults_to_port_6379_db_0(void **state)
{
    farm_url_t  u;

    (void) state;

    parse_ok(&u, "redis://127.0.0.1");

    assert_int_equal(u.type, FARM_URL_REDIS);
    assert_int_equal(u.tls, 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "");

    parse_ok(&u, "redis://redis.internal/");
    assert_string_equal(u.host, "redis.internal");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
}


static void
consul_and_http_default_to_port_8500(void **state)
{
    farm_url_t  u;

    (void) state;

    parse_ok(&u, "consul://consul.service");
    assert_int_equal(u.type, FARM_URL_CONSUL);
    assert_int_equal(u.tls, 0);
    assert_string_equal(u.host, "consul.service");
    assert_int_equal(u.port, 8500);

    parse_ok(&u, "http://10.1.2.3");
    assert_int_equal(u.type, FARM_URL_CONSUL);
    assert_int_equal(u.tls, 0);
    assert_string_equal(u.host, "10.1.2.3");
    assert_int_equal(u.port, 8500);
}


static void
https_and_consuls_default_to_port_8501_with_tls(void **state)
{
    farm_url_t  u;

    (void) state;

    parse_ok(&u, "https://consul.example.org");
    assert_int_equal(u.type, FARM_URL_CONSUL);
    assert_int_equal(u.tls, 1);
    assert_string_equal(u.host, "consul.example.org");
    assert_int_equal(u.port, 8501);

    parse_ok(&u, "consuls://consul.example.org");
    assert_int_equal(u.type, FARM_URL_CONSUL);
    assert_int_equal(u.tls, 1);
    assert_int_equal(u.port, 8501);
}


static void
explicit_ports_are_used(void **state)
{
    farm_url_t  u;

    (void) state;

    parse_ok(&u, "redis://127.0.0.1:6380");
    assert_int_equal(u.port, 6380);

    parse_ok(&u, "consul://c:18500");
    assert_int_equal(u.port, 18500);

    parse_ok(&u, "http://c:80");
    assert_int_equal(u.port, 80);

    parse_ok(&u, "https://c:443");
    assert_int_equal(u.port, 443);
    assert_int_equal(u.tls, 1);

    parse_ok(&u, "consuls://c:1");
    assert_int_equal(u.port, 1);

    parse_ok(&u, "redis://c:65535");
    assert_int_equal(u.port, 65535);
}


static void
redis_path_selects_the_database(void **state)
{
    farm_url_t  u;

    (void) state;

    parse_ok(&u, "redis://127.0.0.1:6379/5");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 5);

    parse_ok(&u, "redis://r/15");
    assert_string_equal(u.host, "r");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 15);
}


static void
password_only_credentials(void **state)
{
    farm_url_t  u;

    (void) state;

    parse_ok(&u, "redis://:s3cret@127.0.0.1:6380/2");
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "s3cret");
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
}


static void
user_and_password_are_percent_decoded(void **state)
{
    farm_url_t  u;

    (void) state;

    parse_ok(&u, "redis://farm%2Dgw:p%40ss%3aw%2Frd%25@r.local/1");
    assert_string_equal(u.user, "farm-gw");
    assert_string_equal(u.password, "p@ss:w/rd%");
    assert_string_equal(u.host, "r.local");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 1);

    /* the password may hold ':' and '@' as they are: the last '@' counts */

    parse_ok(&u, "redis://admin:a:b@c@r");
    assert_string_equal(u.user, "admin");
    assert_string_equal(u.password, "a:b@c");
    assert_string_equal(u.host, "r");

    /* an empty password is still a password field */

    parse_ok(&u, "redis://admin:@r");
    assert_string_equal(u.user, "admin");
    assert_string_equal(u.password, "");
}


static void
malformed_credentials_are_rejected(void **state)
{
    char  s[600];

    (void) state;

    parse_error("redis://secret@r",
                "registry URL: credentials must be \":password@\" or "
                "\"user:password@\"");
    parse_error("redis://:bad%zz@r",
                "registry URL: malformed or too long user or password");
    parse_error("redis://:bad%4@r",
                "registry URL: malformed or too long user or password");
    parse_error("redis://:nul%00@r",
                "registry URL: malformed or too long user or password");

    /* 255 bytes of password fit, 256 do not */

    memcpy(s, "redis://:", 9);
    memset(s + 9, 'p', 255);
    strcpy(s + 9 + 255, "@r");
    {
        farm_url_t  u;

        parse_ok(&u, s);
        assert_int_equal(strlen(u.password), 255);
    }

    memset(s + 9, 'p', 256);
    strcpy(s + 9 + 256, "@r");
    parse_error(s, "registry URL: malformed or too long user or password");
}


static void
ipv6_hosts_are_bracketed(void **state)
{
    farm_url_t  u;

    (void) state;

    parse_ok(&u, "redis://[::1]:6380");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6380);

    parse_ok(&u, "redis://[2001:db8::1]");
    assert_string_equal(u.host, "2001:db8::1");
    assert_int_equal(u.port, 6379);

    parse_ok(&u, "redis://:pw@[::1]/3");
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.password, "pw");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 3);

    parse_ok(&u, "consul://[fe80::2]:8600");
    assert_string_equal(u.host, "fe80::2");
    assert_int_equal(u.port, 8600);
}


static void
unknown_scheme_is_rejected(void **state)
{
    (void) state;

    parse_error("memcached://127.0.0.1",
                "registry URL: unknown scheme \"memcached://\": scheme must "
                "be redis://, consul://, http:// or https://");
    parse_error("127.0.0.1:6379",
                "registry URL: no \"scheme://\" at the start: scheme must "
                "be redis://, consul://, http:// or https://");
    parse_error("REDIS://r",
                "registry URL: unknown scheme \"REDIS://\": scheme must "
                "be redis://, consul://, http:// or https://");
    parse_error("",
                "registry URL: no \"scheme://\" at the start: scheme must "
                "be redis://, consul://, http:// or https://");
}


/* A19: the error for a scheme it does not know never quotes the rest */

static void
unknown_scheme_error_hides_the_password(void **state)
{
    size_t        i;
    farm_url_t    u;
    char          err[FARM_ERR_MAX];
    static const char  *bad[] = {
        "rediss://:secret@h", "rediss://user:secret@h:6380/1",
        "redis:/:secret@h", ":secret@h", "user:secret@h:6379",
        "r\"secret://x", "redis+sentinel://:secret@h"
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(farm_url_parse(&u, bad[i], strlen(bad[i]), err), -1);

        if (strstr(err, "secret") != NULL) {
            print_error("%s: %s\n", bad[i], err);
            fail();
        }

        assert_non_null(strstr(err, "scheme must be redis://"));
    }

    parse_error("rediss://:secret@h",
                "registry URL: rediss:// (Redis over TLS) is not supported "
                "for a registry or consumers (only by farm_limit's redis= "
                "and Kong rate-limiting): scheme must be redis://, "
                "consul://, http:// or https://");
}


static void
missing_host_is_rejected(void **state)
{
    (void) state;

    parse_error("redis://", "registry URL: missing host");
    parse_error("consul://", "registry URL: missing host");
    parse_error("redis://:6379", "registry URL: missing host");
    parse_error("redis:///0", "registry URL: missing host");
    parse_error("redis://:pw@:6379", "registry URL: missing host");
    parse_error("redis://[]:6379", "registry URL: missing host");
    parse_error("redis://::1", "registry URL: missing host");
}


static void
bad_port_is_rejected(void **state)
{
    static const char  *bad[] = {
        "redis://r:0", "redis://r:65536", "redis://r:http", "redis://r:",
        "redis://r:-1", "redis://r:6379x", "redis://r:99999999999",
        "consul://c:0", "https://c:65536", "redis://[::1]:", "redis://[::1]:x"
    };
    size_t              i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse_error(bad[i], "registry URL: port must be a number from 1 to "
                    "65535");
    }
}


static void
bad_database_is_rejected(void **state)
{
    (void) state;

    parse_error("redis://r/zero", "registry URL: database must be a number, "
                "as in redis://host:6379/0");
    parse_error("redis://r:6379/-1", "registry URL: database must be a "
                "number, as in redis://host:6379/0");
    parse_error("redis://r/0/extra", "registry URL: database must be a "
                "number, as in redis://host:6379/0");
    parse_error("redis://r/65536", "registry URL: database must be a "
                "number, as in redis://host:6379/0");
}


static void
bad_ipv6_brackets_are_rejected(void **state)
{
    (void) state;

    parse_error("redis://[::1", "registry URL: missing \"]\" after IPv6 "
                "address");
    parse_error("redis://[::1:6379/0", "registry URL: missing \"]\" after "
                "IPv6 address");
    parse_error("redis://[::1]6379", "registry URL: unexpected text after "
                "\"]\"");
}


static void
bad_host_characters_are_rejected(void **state)
{
    (void) state;

    parse_error("redis://re dis", "registry URL: invalid character in host "
                "\"re dis\"");
    parse_error("redis://r%41", "registry URL: invalid character in host "
                "\"r%41\"");
    parse_error("redis://r?db=1", "registry URL: invalid character in host "
                "\"r?db=1\"");
}


/* F1: the host is checked over every byte copied, NUL included */

static void
host_is_checked_over_its_whole_length(void **state)
{
    size_t        i;
    farm_url_t    u;
    char          err[FARM_ERR_MAX];
    static const struct {
        const char  *s;
        size_t       len;
    } bad[] = {
        { "redis://\0", 9 },
        { "redis://evil\0.example:6379/0", 28 },
        { "consul://10.0.0.1\0garbage:8500", 30 },
        { "consuls://\0\0\0\0001", 15 },
        { "redis://a\tb", 12 },
        { "redis://a\nb", 12 },
        { "redis://a\x7f" "b", 12 },
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';

        if (farm_url_parse(&u, bad[i].s, bad[i].len, err) != -1) {
            print_error("accepted #%zu, host \"%s\"\n", i, u.host);
            fail();
        }

        assert_string_equal(err, "registry URL: control character or NUL "
                            "in host");
    }
}


/* F3: brackets hold an IPv6 address, nothing else */

static void
brackets_hold_an_ipv6_address(void **state)
{
    farm_url_t  u;

    (void) state;

    parse_error("http://[[]", "registry URL: \"[...]\" must hold an IPv6 "
                "address");
    parse_error("redis://[r]:6379", "registry URL: \"[...]\" must hold an "
                "IPv6 address");
    parse_error("redis://[127.0.0.1]", "registry URL: \"[...]\" must hold "
                "an IPv6 address");
    parse_error("consul://[::1::2]", "registry URL: \"[...]\" must hold an "
                "IPv6 address");
    parse_error("redis://a]b", "registry URL: invalid character in host "
                "\"a]b\"");
    parse_error("redis://a[b", "registry URL: invalid character in host "
                "\"a[b\"");

    parse_ok(&u, "redis://[::ffff:10.0.0.1]:6380");
    assert_string_equal(u.host, "::ffff:10.0.0.1");
    assert_int_equal(u.port, 6380);
}


static void
consul_takes_no_credentials_or_path(void **state)
{
    farm_url_t  u;

    (void) state;

    parse_error("consul://user:pw@c", "registry URL: credentials in a Consul "
                "URL are not supported, use token=");
    parse_error("https://:pw@c:8501", "registry URL: credentials in a Consul "
                "URL are not supported, use token=");
    parse_error("consul://c:8500/v1/agent", "registry URL: a Consul URL "
                "takes no path");
    parse_error("consuls://c/0", "registry URL: a Consul URL takes no "
                "path");

    /* http(s):// and "/" alone: still Consul */

    parse_ok(&u, "http://c:8500/");
    assert_int_equal(u.type, FARM_URL_CONSUL);
}


static void
http_with_a_path_is_a_gateway_api(void **state)
{
    farm_url_t  u;
    char        buf[FARM_HOST_MAX + FARM_URL_PATH_MAX + 32];

    (void) state;

    parse_ok(&u, "http://gw.example.org/farm/registry");
    assert_int_equal(u.type, FARM_URL_API);
    assert_int_equal(u.tls, 0);
    assert_string_equal(u.host, "gw.example.org");
    assert_int_equal(u.port, 80);
    assert_string_equal(u.path, "/farm/registry");
    assert_string_equal(farm_url_display(&u, buf, sizeof(buf)),
                        "http://gw.example.org:80/farm/registry");

    parse_ok(&u, "https://[::1]/r/");
    assert_int_equal(u.type, FARM_URL_API);
    assert_int_equal(u.tls, 1);
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/r");
    assert_string_equal(farm_url_display(&u, buf, sizeof(buf)),
                        "https://[::1]:443/r");

    parse_ok(&u, "http://127.0.0.1:8080/a-b_c.d~e/%41:@");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "/a-b_c.d~e/%41:@");

    parse_error("http://u:p@gw/r", "registry URL: credentials in a gateway "
                "URL are not supported, use --token-file");
    parse_error("http://gw/r?token=x", "registry URL: a gateway URL takes "
                "no query or fragment");
    parse_error("http://gw/r#x", "registry URL: a gateway URL takes no "
                "query or fragment");
    parse_error("http://gw/a b", "registry URL: invalid character in the "
                "path");
    parse_error("http://gw/a%4", "registry URL: invalid character in the "
                "path");
    parse_error("http://gw/a/../b", "registry URL: no \".\" or \"..\" "
                "segment in the path");
    parse_error("http://gw//", "registry URL: a gateway URL's path names "
                "its farm_registry_api location, not \"/\"");
    parse_error("http://gw/./b", "registry URL: no \".\" or \"..\" "
                "segment in the path");
    parse_error("redis://h/x", "registry URL: database must be a number, "
                "as in redis://host:6379/0");
}


static void
gateway_path_is_checked_over_its_whole_length(void **state)
{
    farm_url_t  u;
    char        err[FARM_ERR_MAX];

    (void) state;

    assert_int_equal(farm_url_parse(&u, "http://gw/a\0b", 13, err), -1);
    assert_string_equal(err, "registry URL: invalid character in the path");
}


static void
parse_reads_only_len_bytes(void **state)
{
    const char  *s = "redis://r:6380/4 service=agents";
    farm_url_t   u;
    char         err[FARM_ERR_MAX];

    (void) state;

    assert_int_equal(farm_url_parse(&u, s, strchr(s, ' ') - s, err), 0);
    assert_string_equal(u.host, "r");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 4);

    /* a NULL err is allowed */

    assert_int_equal(farm_url_parse(&u, "ftp://x", 7, NULL), -1);
}


static void
display_never_shows_the_password(void **state)
{
    farm_url_t  u;
    char        buf[512];

    (void) state;

    parse_ok(&u, "redis://gw:s3cret@127.0.0.1:6380/2");
    farm_url_display(&u, buf, sizeof(buf));
    assert_string_equal(buf, "redis://127.0.0.1:6380/2");
    assert_null(strstr(buf, "s3cret"));

    parse_ok(&u, "redis://:s3cret@[::1]");
    assert_string_equal(farm_url_display(&u, buf, sizeof(buf)),
                        "redis://[::1]:6379/0");
    assert_null(strstr(buf, "s3cret"));

    parse_ok(&u, "consul://c");
    assert_string_equal(farm_url_display(&u, buf, sizeof(buf)),
                        "consul://c:8500");

    parse_ok(&u, "https://c:9501");
    assert_string_equal(farm_url_display(&u, buf, sizeof(buf)),
                        "https://c:9501");

    /* a short buffer is truncated, never overrun */

    parse_ok(&u, "redis://:s3cret@127.0.0.1:6380/2");
    memset(buf, 'z', sizeof(buf));
    farm_url_display(&u, buf, 10);
    assert_string_equal(buf, "redis://1");
    assert_int_equal(buf[10], 'z');
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redis_defaults_to_port_6379_db_0),
        cmocka_unit_test(consul_and_http_default_to_port_8500),
        cmocka_unit_test(https_and_consuls_default_to_port_8501_with_tls),
        cmocka_unit_test(explicit_ports_are_used),
        cmocka_unit_test(redis_path_selects_the_database),
        cmocka_unit_test(password_only_credentials),
        cmocka_unit_test(user_and_password_are_percent_decoded),
        cmocka_unit_test(malformed_credentials_are_rejected),
        cmocka_unit_test(ipv6_hosts_are_bracketed),
        cmocka_unit_test(unknown_scheme_is_rejected),
        cmocka_unit_test(unknown_scheme_error_hides_the_password),
        cmocka_unit_test(missing_host_is_rejected),
        cmocka_unit_test(bad_port_is_rejected),
        cmocka_unit_test(bad_database_is_rejected),
        cmocka_unit_test(bad_ipv6_brackets_are_rejected),
        cmocka_unit_test(bad_host_characters_are_rejected),
        cmocka_unit_test(host_is_checked_over_its_whole_length),
        cmocka_unit_test(brackets_hold_an_ipv6_address),
        cmocka_unit_test(consul_takes_no_credentials_or_path),
        cmocka_unit_test(http_with_a_path_is_a_gateway_api),
        cmocka_unit_test(gateway_path_is_checked_over_its_whole_length),
        cmocka_unit_test(parse_reads_only_len_bytes),
        cmocka_unit_test(display_never_shows_the_password),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
