/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_check_parse (ngx_farm_module/ngx_http_farm_check_parse.c): the
 * answer to an active health check, as ngx_http_farm_health.c reads it.
 *
 * Byte 0 even: the rest is the answer, as an agent sends it.  Invariants:
 * it is an HTTP answer exactly when it starts "HTTP/1.x NNN"; the status is
 * -1 or 0-999; the body lies inside the answer and starts after the first
 * empty line (or is empty without one); draining is -1..1, weight 0 or
 * 1..FARM_WEIGHT_MAX, inflight 0..INT32_MAX.
 *
 * Byte 0 odd: the next bytes choose a status, draining, weight, inflight
 * and header noise; the target writes farm-agent's answer with them and
 * checks that the parse gives each of them back.
 */

#include "fuzz.h"

#include "farm_record.h"
#include "ngx_http_farm_check_parse.h"


static const uint8_t *
fz_empty_line(const uint8_t *in, size_t len)
{
    size_t  i;

    for (i = 0; i + 4 <= len; i++) {
        if (memcmp(in + i, "\r\n\r\n", 4) == 0) {
            return in + i + 4;
        }
    }

    return in + len;
}


static void
fz_raw(const uint8_t *data, size_t size)
{
    int                   rc, http;
    uint8_t              *in;
    farm_check_answer_t   a;

    in = (uint8_t *) fz_copy(data, size);

    rc = farm_check_parse(&a, in, size);

    http = size >= 12 && memcmp(in, "HTTP/1.", 7) == 0 && in[8] == ' ';
    FZ_CHECK(rc == (http ? 0 : -1));

    if (rc == 0) {
        FZ_CHECK(a.status >= -1 && a.status <= 999);
        FZ_CHECK(a.body >= in && a.body + a.body_len == in + size);
        FZ_CHECK(a.body == fz_empty_line(in, size));
        FZ_CHECK(a.draining >= -1 && a.draining <= 1);
        FZ_CHECK(a.weight == 0
                 || (a.weight >= 1 && a.weight <= FARM_WEIGHT_MAX));
        FZ_CHECK(a.inflight >= 0);

        if (a.status >= 0) {
            FZ_CHECK(in[9] == '0' + a.status / 100
                     && in[10] == '0' + a.status / 10 % 10
                     && in[11] == '0' + a.status % 10);
        }
    }

    free(in);
}


static void
fz_built(const uint8_t *data, size_t size)
{
    int                   n, status, draining, weight, pad;
    char                  text[512];
    uint8_t              *in;
    int64_t               inflight;
    farm_check_answer_t   a;
    static const char    *drain[] = {
        "", "\"status\":\"up\",", "\"status\":\"draining\",",
        "\"draining\":true,", "\"draining\":false,"
    };

    if (size < 8) {
        return;
    }

    status = (data[0] << 8 | data[1]) % 1000;
    draining = data[2] % 5;
    weight = (data[3] << 8 | data[4]) % (FARM_WEIGHT_MAX + 1);
    inflight = ((int64_t) data[5] << 28) | ((int64_t) data[6] << 4);
    pad = data[7] % 64;

    n = snprintf(text, sizeof(text),
                 "HTTP/1.%c %03d X\r\nX-Pad: %.*s\r\n\r\n \n{%s"
                 "\"weight\":%d,\"inflight\":%lld}",
                 data[7] & 0x40 ? '1' : '0', status, pad,
                 "\r\r\n\n::: \t\x01\x7f                                   "
                 "                                ", drain[draining], weight,
                 (long long) inflight);

    FZ_CHECK(n > 0 && (size_t) n < sizeof(text));

    in = (uint8_t *) fz_copy((const uint8_t *) text, n);

    FZ_CHECK(farm_check_parse(&a, in, n) == 0);
    FZ_CHECK(a.status == status);
    FZ_CHECK(a.draining == (draining == 0 ? -1
                            : draining == 2 || draining == 3 ? 1 : 0));
    FZ_CHECK(a.weight == weight);
    FZ_CHECK(a.inflight == (inflight > INT32_MAX ? INT32_MAX : inflight));

    free(in);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }

    if (data[0] & 1) {
        fz_built(data + 1, size - 1);

    } else {
        fz_raw(data + 1, size - 1);
    }

    return 0;
}
