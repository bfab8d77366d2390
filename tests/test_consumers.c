/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The consumers file of farm_consumers (ngx_http_farm_consumers.c): what
 * is accepted, and that every mistake is named by its place in the file
 * without quoting a key.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ngx_http_farm_consumers.h"


static int
parse(farm_consumers_t *cs, const char *text, char *err)
{
    return farm_consumers_parse(cs, text, strlen(text), err);
}


/* parsing must fail with an error containing want */
static void
fails_with(const char *text, const char *want)
{
    char              err[FARM_CONSUMERS_ERR_MAX];
    farm_consumers_t  cs;

    err[0] = '\0';

    if (parse(&cs, text, err) != -1) {
        print_error("accepted: %s\n", text);
        farm_consumers_free(&cs);
        fail();
    }

    if (strstr(err, want) == NULL) {
        print_error("error \"%s\" does not contain \"%s\"\n", err, want);
        fail();
    }

    /* keys never appear in errors */
    assert_null(strstr(err, "s3cret"));
}


static void
consumers_with_keys_and_tiers(void **state)
{
    char              err[FARM_CONSUMERS_ERR_MAX];
    farm_consumers_t  cs;

    (void) state;

    assert_int_equal(parse(&cs,
        "{\"consumers\": ["
        " {\"name\": \"alice\", \"tier\": \"gold\","
        "  \"keys\": [\"a-1\", \"a-2\"]},"
        " {\"name\": \"bob\", \"keys\": [\"b-1\"]},"
        " {\"name\": \"carol c.\", \"keys\": []}"
        "]}", err), 0);

    assert_int_equal(cs.nconsumers, 3);
    assert_int_equal(cs.nkeys, 3);

    assert_string_equal(cs.consumers[0].name, "alice");
    assert_int_equal(cs.consumers[0].name_len, 5);
    assert_string_equal(cs.consumers[0].tier, "gold");
    assert_int_equal(cs.consumers[0].tier_len, 4);

    assert_string_equal(cs.consumers[1].tier, "");
    assert_int_equal(cs.consumers[1].tier_len, 0);
    assert_string_equal(cs.consumers[2].name, "carol c.");

    assert_string_equal(cs.keys[0].key, "a-1");
    assert_int_equal(cs.keys[0].consumer, 0);
    assert_string_equal(cs.keys[1].key, "a-2");
    assert_int_equal(cs.keys[1].consumer, 0);
    assert_string_equal(cs.keys[2].key, "b-1");
    assert_int_equal(cs.keys[2].len, 3);
    assert_int_equal(cs.keys[2].consumer, 1);

    farm_consumers_free(&cs);
}


static void
an_empty_list_is_valid(void **state)
{
    char              err[FARM_CONSUMERS_ERR_MAX];
    farm_consumers_t  cs;

    (void) state;

    assert_int_equal(parse(&cs, "{\"consumers\": []}", err), 0);
    assert_int_equal(cs.nconsumers, 0);
    assert_int_equal(cs.nkeys, 0);
    farm_consumers_free(&cs);
}


static void
json_syntax_errors_name_line_and_column(void **state)
{
    (void) state;

    fails_with("{\"consumers\": [\n  {\"name\": \"a\",\n   \"keys\": [\"x\"]\n",
               "line 4, column");
    fails_with("", "line 1");
    fails_with("{\"consumers\": [], \"consumers\": []}", "duplicate");
}


static void
shapes_that_are_wrong(void **state)
{
    (void) state;

    fails_with("[]", "a JSON object with a \"consumers\" array");
    fails_with("{}", "\"consumers\" must be an array");
    fails_with("{\"consumers\": {}}", "\"consumers\" must be an array");
    fails_with("{\"consumers\": [], \"plugins\": []}",
               "unknown field \"plugins\"");
    fails_with("{\"consumers\": [\"alice\"]}",
               "consumers[0]: must be an object");
}


static void
fields_that_are_wrong_are_named(void **state)
{
    (void) state;

    fails_with("{\"consumers\": [{\"keys\": [\"s3cret\"]}]}",
               "consumers[0].name: is missing");
    fails_with("{\"consumers\": [{\"name\": 7, \"keys\": []}]}",
               "consumers[0].name: must be a string");
    fails_with("{\"consumers\": [{\"name\": \"\", \"keys\": []}]}",
               "consumers[0].name: must be 1-128 bytes");
    fails_with("{\"consumers\": [{\"name\": \"a\\nb\", \"keys\": []}]}",
               "consumers[0].name: must be 1-128 bytes without control");
    fails_with("{\"consumers\": [{\"name\": \"a\", \"keys\": []},"
               " {\"name\": \"b\"}]}",
               "consumers[1].keys: is missing");
    fails_with("{\"consumers\": [{\"name\": \"a\", \"keys\": \"s3cret\"}]}",
               "consumers[0].keys: must be an array of strings");
    fails_with("{\"consumers\": [{\"name\": \"a\","
               " \"keys\": [\"s3cret\", 5]}]}",
               "consumers[0].keys[1]: must be a string of 1-1024 bytes");
    fails_with("{\"consumers\": [{\"name\": \"a\", \"keys\": [\"\"]}]}",
               "consumers[0].keys[0]: must be a string");
    fails_with("{\"consumers\": [{\"name\": \"a\", \"tier\": \"gold plus\","
               " \"keys\": []}]}",
               "consumers[0].tier: must be a string of 1-64 of");
    fails_with("{\"consumers\": [{\"name\": \"a\", \"tier\": 1,"
               " \"keys\": []}]}",
               "consumers[0].tier");
    fails_with("{\"consumers\": [{\"name\": \"a\", \"tiers\": \"gold\","
               " \"keys\": []}]}",
               "consumers[0]: unknown field \"tiers\"");
}


static void
duplicates_are_refused_without_quoting_the_key(void **state)
{
    (void) state;

    fails_with("{\"consumers\": ["
               " {\"name\": \"alice\", \"keys\": [\"s3cret\"]},"
               " {\"name\": \"bob\", \"keys\": [\"x\", \"s3cret\"]}]}",
               "the consumers \"");
    fails_with("{\"consumers\": ["
               " {\"name\": \"alice\", \"keys\": [\"s3cret\", \"s3cret\"]}]}",
               "\"alice\" and \"alice\" have the same key");
    fails_with("{\"consumers\": ["
               " {\"name\": \"alice\", \"keys\": [\"a\"]},"
               " {\"name\": \"bob\", \"keys\": [\"b\"]},"
               " {\"name\": \"alice\", \"keys\": [\"c\"]}]}",
               "consumers[2].name: \"alice\" is used twice");
}


static void
keys_differing_only_in_length_are_distinct(void **state)
{
    char              err[FARM_CONSUMERS_ERR_MAX];
    farm_consumers_t  cs;

    (void) state;

    assert_int_equal(parse(&cs,
        "{\"consumers\": ["
        " {\"name\": \"a\", \"keys\": [\"key\"]},"
        " {\"name\": \"b\", \"keys\": [\"key1\"]}]}", err), 0);
    assert_int_equal(cs.nkeys, 2);
    farm_consumers_free(&cs);
}


/*
 * Found by fuzz_consumers: an unknown field's name, decoded from a JSON
 * escape, put a line break into the one-line error (and nginx's log).
 */
static void
unknown_field_names_with_control_characters_are_not_quoted(void **state)
{
    char              err[FARM_CONSUMERS_ERR_MAX];
    farm_consumers_t  cs;

    (void) state;

    assert_int_equal(parse(&cs, "{\"cons\\ners\": []}", err), -1);
    assert_null(strchr(err, '\n'));
    assert_string_equal(err, "unknown field (not printable; only "
                        "\"consumers\" is allowed at the top)");

    assert_int_equal(parse(&cs, "{\"consumers\": [{\"name\": \"a\", "
                           "\"ke\\u0001ys\": []}]}", err), -1);
    assert_null(strchr(err, '\x01'));
    assert_string_equal(err, "consumers[0]: unknown field (not printable; "
                        "use name, tier, keys)");

    fails_with("{\"plugins\": []}", "unknown field \"plugins\"");
}


/*
 * Found by fuzz_consumers: jansson's syntax errors quote the text "near"
 * the error raw, control characters and all, and that text may be a key.
 */
static void
syntax_errors_quote_nothing_from_the_file(void **state)
{
    char              err[FARM_CONSUMERS_ERR_MAX];
    farm_consumers_t  cs;

    (void) state;

    assert_int_equal(parse(&cs, "{\"c\\\n\":]}", err), -1);
    assert_null(strchr(err, '\n'));
    assert_string_equal(err, "line 2, column 0: invalid escape");

    fails_with("{\"consumers\": [{\"name\": \"a\", \"keys\": "
               "[\"s3cret\x01\"]}]}", "control character 0x1");
    fails_with("{\"consumers\": [{\"name\": \"a\", \"keys\": "
               "[\"s3cret\" \"x\"]}]}", "line 1, column");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(consumers_with_keys_and_tiers),
        cmocka_unit_test(an_empty_list_is_valid),
        cmocka_unit_test(json_syntax_errors_name_line_and_column),
        cmocka_unit_test(shapes_that_are_wrong),
        cmocka_unit_test(fields_that_are_wrong_are_named),
        cmocka_unit_test(duplicates_are_refused_without_quoting_the_key),
        cmocka_unit_test(keys_differing_only_in_length_are_distinct),
        cmocka_unit_test(
            unknown_field_names_with_control_characters_are_not_quoted),
        cmocka_unit_test(syntax_errors_quote_nothing_from_the_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
