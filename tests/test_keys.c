/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Redis key schema and the events channel messages: both sides must
 * write and read exactly these strings.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "farm_record.h"
#include "farm_keys.h"


static void
agent_key_names_prefix_service_and_id(void **state)
{
    char  buf[FARM_KEY_MAX];

    (void) state;

    assert_int_equal(farm_key_agent(buf, sizeof(buf), FARM_PREFIX_DEFAULT,
                                    "agents", "pi-07"), 23);
    assert_string_equal(buf, "farm:agents:agent:pi-07");

    assert_int_equal(farm_key_agent(buf, sizeof(buf), "lab", "gpu",
                                    "a1@host:9001"), 26);
    assert_string_equal(buf, "lab:gpu:agent:a1@host:9001");
}


static void
index_and_events_keys(void **state)
{
    char  buf[FARM_KEY_MAX];

    (void) state;

    assert_int_equal(farm_key_index(buf, sizeof(buf), "farm", "agents"), 18);
    assert_string_equal(buf, "farm:agents:agents");

    assert_int_equal(farm_key_events(buf, sizeof(buf), "farm", "agents"), 18);
    assert_string_equal(buf, "farm:agents:events");
}


static void
agent_prefix_len_is_where_the_id_starts(void **state)
{
    int     n;
    size_t  plen;
    char    buf[FARM_KEY_MAX];

    (void) state;

    plen = farm_key_agent_prefix_len("farm", "agents");
    assert_int_equal(plen, strlen("farm:agents:agent:"));

    n = farm_key_agent(buf, sizeof(buf), "farm", "agents", "pi-07");
    assert_int_equal(n, plen + strlen("pi-07"));
    assert_string_equal(buf + plen, "pi-07");
}


static void
longest_names_fit_in_key_max(void **state)
{
    char  prefix[FARM_PREFIX_MAX + 1], service[FARM_SERVICE_MAX + 1];
    char  id[FARM_ID_MAX + 1], buf[FARM_KEY_MAX];

    (void) state;

    memset(prefix, 'p', FARM_PREFIX_MAX);
    prefix[FARM_PREFIX_MAX] = '\0';
    memset(service, 's', FARM_SERVICE_MAX);
    service[FARM_SERVICE_MAX] = '\0';
    memset(id, 'i', FARM_ID_MAX);
    id[FARM_ID_MAX] = '\0';

    assert_int_equal(farm_key_agent(buf, sizeof(buf), prefix, service, id),
                     FARM_PREFIX_MAX + FARM_SERVICE_MAX + FARM_ID_MAX
                     + (int) strlen("::agent:"));
    assert_true(farm_key_index(buf, sizeof(buf), prefix, service) > 0);
    assert_true(farm_key_events(buf, sizeof(buf), prefix, service) > 0);
}


static void
keys_that_do_not_fit_return_minus_one(void **state)
{
    char  buf[64];

    (void) state;

    /* "farm:agents:agent:pi-07" is 23 bytes: 24 fit, 23 do not */

    assert_int_equal(farm_key_agent(buf, 24, "farm", "agents", "pi-07"), 23);
    assert_int_equal(farm_key_agent(buf, 23, "farm", "agents", "pi-07"), -1);
    assert_int_equal(farm_key_agent(buf, 0, "farm", "agents", "pi-07"), -1);

    assert_int_equal(farm_key_index(buf, 19, "farm", "agents"), 18);
    assert_int_equal(farm_key_index(buf, 18, "farm", "agents"), -1);

    assert_int_equal(farm_key_events(buf, 19, "farm", "agents"), 18);
    assert_int_equal(farm_key_events(buf, 18, "farm", "agents"), -1);
}


static void
event_messages_round_trip(void **state)
{
    int   type;
    char  buf[FARM_KEY_MAX], id[FARM_ID_MAX + 1];

    (void) state;

    assert_int_equal(farm_event_format(buf, sizeof(buf), FARM_EVENT_REGISTER,
                                       "pi-07"), 14);
    assert_string_equal(buf, "register pi-07");

    type = 0;
    assert_int_equal(farm_event_parse(buf, strlen(buf), &type, id), 0);
    assert_int_equal(type, FARM_EVENT_REGISTER);
    assert_string_equal(id, "pi-07");

    assert_int_equal(farm_event_format(buf, sizeof(buf),
                                       FARM_EVENT_DEREGISTER, "a1@h:9001"),
                     20);
    assert_string_equal(buf, "deregister a1@h:9001");

    type = 0;
    assert_int_equal(farm_event_parse(buf, strlen(buf), &type, id), 0);
    assert_int_equal(type, FARM_EVENT_DEREGISTER);
    assert_string_equal(id, "a1@h:9001");
}


static void
event_format_that_does_not_fit_returns_minus_one(void **state)
{
    char  buf[32];

    (void) state;

    assert_int_equal(farm_event_format(buf, 15, FARM_EVENT_REGISTER,
                                       "pi-07"), 14);
    assert_int_equal(farm_event_format(buf, 14, FARM_EVENT_REGISTER,
                                       "pi-07"), -1);
}


static void
event_parse_reads_only_len_bytes(void **state)
{
    int          type;
    char         id[FARM_ID_MAX + 1];
    const char  *msg = "register pi-07 and more";

    (void) state;

    assert_int_equal(farm_event_parse(msg, 14, &type, id), 0);
    assert_int_equal(type, FARM_EVENT_REGISTER);
    assert_string_equal(id, "pi-07");

    assert_int_equal(farm_event_parse(msg, strlen(msg), &type, id), -1);
}


static void
event_parse_takes_the_longest_id(void **state)
{
    int   type;
    char  msg[256], id[FARM_ID_MAX + 1];

    (void) state;

    strcpy(msg, "deregister ");
    memset(msg + 11, 'x', FARM_ID_MAX);
    msg[11 + FARM_ID_MAX] = '\0';

    assert_int_equal(farm_event_parse(msg, strlen(msg), &type, id), 0);
    assert_int_equal(strlen(id), FARM_ID_MAX);

    strcat(msg, "x");
    assert_int_equal(farm_event_parse(msg, strlen(msg), &type, id), -1);
}


static void
event_parse_rejects_messages_that_are_not_ours(void **state)
{
    static const char  *bad[] = {
        "", "register", "register ", "deregister", "deregister ",
        "registerpi-07", "REGISTER pi-07", "update pi-07", "hello",
        " register pi-07", "register  pi-07", "register pi 07",
        "register -pi", "register pi/07", "register pi-07\n",
        "unregister pi-07"
    };
    int                 type;
    char                id[FARM_ID_MAX + 1];
    size_t              i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (farm_event_parse(bad[i], strlen(bad[i]), &type, id) != -1) {
            print_error("accepted: \"%s\"\n", bad[i]);
            fail();
        }
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agent_key_names_prefix_service_and_id),
        cmocka_unit_test(index_and_events_keys),
        cmocka_unit_test(agent_prefix_len_is_where_the_id_starts),
        cmocka_unit_test(longest_names_fit_in_key_max),
        cmocka_unit_test(keys_that_do_not_fit_return_minus_one),
        cmocka_unit_test(event_messages_round_trip),
        cmocka_unit_test(event_format_that_does_not_fit_returns_minus_one),
        cmocka_unit_test(event_parse_reads_only_len_bytes),
        cmocka_unit_test(event_parse_takes_the_longest_id),
        cmocka_unit_test(event_parse_rejects_messages_that_are_not_ours),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
