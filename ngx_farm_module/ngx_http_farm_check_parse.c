
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The health check's answer, read without nginx; ngx_http_farm_health.c
 * decides with it whether the check passed.
 */


#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "farm_record.h"
#include "ngx_http_farm_check_parse.h"


static const uint8_t *farm_check_body(const uint8_t *in, size_t len);
static void farm_check_report(farm_check_answer_t *a, const uint8_t *body,
    size_t len);


int
farm_check_parse(farm_check_answer_t *a, const uint8_t *in, size_t len)
{
    int     i;
    size_t  hlen;

    a->status = -1;
    a->body = in + len;
    a->body_len = 0;
    a->draining = -1;
    a->weight = 0;
    a->inflight = 0;

    hlen = sizeof("HTTP/1.x 200") - 1;

    if (len < hlen || memcmp(in, "HTTP/1.", 7) != 0 || in[8] != ' ') {
        return -1;
    }

    a->status = 0;

    for (i = 9; i < 12; i++) {
        if (in[i] < '0' || in[i] > '9') {
            a->status = -1;
            break;
        }

        a->status = a->status * 10 + (in[i] - '0');
    }

    a->body = farm_check_body(in, len);
    a->body_len = in + len - a->body;

    farm_check_report(a, a->body, a->body_len);

    return 0;
}


/* After the first "\r\n\r\n", or the end of the answer without one. */

static const uint8_t *
farm_check_body(const uint8_t *in, size_t len)
{
    const uint8_t  *p, *last;

    last = in + len;

    for (p = in; last - p >= 4; p++) {
        p = memchr(p, '\r', last - p - 3);

        if (p == NULL) {
            break;
        }

        if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n') {
            return p + 4;
        }
    }

    return last;
}


/* farm-agent's /health: {"status":"up"|"draining","weight":..,"inflight":..} */

static void
farm_check_report(farm_check_answer_t *a, const uint8_t *body, size_t len)
{
    json_t      *root, *v;
    json_int_t   n;

    while (len && (*body == ' ' || *body == '\r' || *body == '\n')) {
        body++;
        len--;
    }

    if (len == 0 || *body != '{') {
        return;
    }

    root = json_loadb((const char *) body, len, 0, NULL);

    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return;
    }

    v = json_object_get(root, "draining");

    if (json_is_boolean(v)) {
        a->draining = json_is_true(v);

    } else {
        v = json_object_get(root, "status");

        if (json_is_string(v)) {
            a->draining = (strcmp(json_string_value(v), "draining") == 0);
        }
    }

    v = json_object_get(root, "weight");

    if (json_is_integer(v)) {
        n = json_integer_value(v);

        if (n >= 1 && n <= FARM_WEIGHT_MAX) {
            a->weight = (int) n;
        }
    }

    v = json_object_get(root, "inflight");

    if (json_is_integer(v)) {
        n = json_integer_value(v);

        if (n >= 0) {
            a->inflight = n > INT32_MAX ? INT32_MAX : (int32_t) n;
        }
    }

    json_decref(root);
}
