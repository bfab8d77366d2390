/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * What the tests of kong-compat's loader share (test_kong_load.c,
 * test_kong_load_errors.c, test_kong_load_refs.c, test_kong_load_ca.c):
 * loading a kong.yml that must load or must fail with a given error, and
 * finding an entity by name.
 * Each of those files uses every helper here.
 */

#ifndef TEST_KONG_LOAD_H
#define TEST_KONG_LOAD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kong.h"
#include "kong_int.h"


static kong_config_t *
load_ok(const char *yaml)
{
    kong_config_t  *cfg;
    kong_errors_t   errs;

    cfg = kong_load_string("kong.yml", yaml, strlen(yaml), 0, &errs);

    if (cfg == NULL || errs.n) {
        kong_errors_print(&errs, stderr);
        print_error("rejected:\n%s\n", yaml);
        kong_errors_free(&errs);
        fail();
    }

    kong_errors_free(&errs);

    return cfg;
}


/*
 * Loads yaml, which must fail, and checks that one of the errors reads
 * exactly `want` ("kong.yml:LINE:COL: path: message").
 */
static void
load_err_flags(const char *yaml, unsigned flags, const char *want)
{
    size_t          i;
    char            line[2048];
    kong_config_t  *cfg;
    kong_errors_t   errs;

    cfg = kong_load_string("kong.yml", yaml, strlen(yaml), flags, &errs);

    for (i = 0; i < errs.n; i++) {
        kong_error_format(&errs, i, line, sizeof(line));
        if (strcmp(line, want) == 0) {
            break;
        }
    }

    if (i == errs.n) {
        print_error("wanted: %s\ngot:\n", want);
        kong_errors_print(&errs, stderr);
        kong_errors_free(&errs);
        kong_config_free(cfg);
        fail();
    }

    kong_errors_free(&errs);

    if (!(flags & KONG_LOAD_SKIP_INVALID)) {
        assert_null(cfg);
    }

    kong_config_free(cfg);
}


static void
load_err(const char *yaml, const char *want)
{
    load_err_flags(yaml, 0, want);
}


static kong_service_t *
service_named(kong_config_t *cfg, const char *name)
{
    size_t  i;

    for (i = 0; i < cfg->nservices; i++) {
        if (cfg->services[i]->name
            && strcmp(cfg->services[i]->name, name) == 0)
        {
            return cfg->services[i];
        }
    }

    fail_msg("no service %s", name);
    return NULL;
}


static kong_route_t *
route_named(kong_config_t *cfg, const char *name)
{
    size_t  i;

    for (i = 0; i < cfg->nroutes; i++) {
        if (cfg->routes[i]->name && strcmp(cfg->routes[i]->name, name) == 0)
        {
            return cfg->routes[i];
        }
    }

    fail_msg("no route %s", name);
    return NULL;
}


#endif /* TEST_KONG_LOAD_H */
