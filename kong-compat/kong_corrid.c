/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The correlation-id plugin's engine (kong_corrid.h).
 */

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "kong_corrid.h"


static uint64_t corrid_next(kong_corrid_worker_t *w);


void
kong_corrid_conf_default(kong_corrid_conf_t *conf)
{
    conf->header_name = "Kong-Request-ID";
    conf->generator = KONG_CORRID_UUID_COUNTER;
    conf->echo_downstream = 0;
}


int
kong_corrid_generator(const char *name)
{
    if (strcmp(name, "uuid") == 0) {
        return KONG_CORRID_UUID;
    }
    if (strcmp(name, "uuid#counter") == 0) {
        return KONG_CORRID_UUID_COUNTER;
    }
    if (strcmp(name, "tracker") == 0) {
        return KONG_CORRID_TRACKER;
    }
    return -1;
}


/* splitmix64 to spread the seed, xorshift128+ to draw */
static uint64_t
corrid_mix(uint64_t *x)
{
    uint64_t  z;

    z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}


static uint64_t
corrid_next(kong_corrid_worker_t *w)
{
    uint64_t  a, b;

    a = w->s[0];
    b = w->s[1];
    w->s[0] = b;
    a ^= a << 23;
    w->s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
    return w->s[1] + b;
}


void
kong_corrid_worker_init(kong_corrid_worker_t *w, uint64_t seed)
{
    struct timespec  ts;

    if (seed == 0
        && getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
    {
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 20)
               ^ ((uint64_t) getpid() << 40);
    }

    w->s[0] = corrid_mix(&seed);
    w->s[1] = corrid_mix(&seed);
    if (w->s[0] == 0 && w->s[1] == 0) {
        w->s[1] = 1;
    }

    kong_corrid_uuid(w, w->uuid);
    w->counter = 0;
}


void
kong_corrid_uuid(kong_corrid_worker_t *w, char out[37])
{
    static const char  hex[] = "0123456789abcdef";
    size_t             i, n;
    uint64_t           r[2];
    unsigned char      b[16];

    r[0] = corrid_next(w);
    r[1] = corrid_next(w);
    for (i = 0; i < 16; i++) {
        b[i] = (unsigned char) (r[i / 8] >> (8 * (i % 8)));
    }
    b[6] = (b[6] & 0x0f) | 0x40;          /* version 4 */
    b[8] = (b[8] & 0x3f) | 0x80;          /* variant 10 */

    n = 0;
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[n++] = '-';
        }
        out[n++] = hex[b[i] >> 4];
        out[n++] = hex[b[i] & 15];
    }
    out[n] = '\0';
}


size_t
kong_corrid_generate(kong_corrid_worker_t *w, int generator,
    const kong_corrid_tracker_t *t, char *out)
{
    int  n;

    switch (generator) {

    case KONG_CORRID_UUID:
        kong_corrid_uuid(w, out);
        return 36;

    case KONG_CORRID_UUID_COUNTER:
        w->counter++;
        n = snprintf(out, KONG_CORRID_MAX, "%s#%llu", w->uuid,
                     (unsigned long long) w->counter);
        break;

    default:
        n = snprintf(out, KONG_CORRID_MAX, "%.*s-%u-%ld-%llu-%llu-%0.3f",
                     (int) (t->server_addr_len > 64 ? 64
                                                   : t->server_addr_len),
                     t->server_addr, t->server_port, t->pid,
                     (unsigned long long) t->connection,
                     (unsigned long long) t->connection_requests, t->now);
        break;
    }

    if (n < 0) {
        out[0] = '\0';
        return 0;
    }

    return (size_t) n < KONG_CORRID_MAX ? (size_t) n : KONG_CORRID_MAX - 1;
}


void
kong_corrid_access(const kong_corrid_conf_t *conf, kong_corrid_worker_t *w,
    const char *value, size_t len, const kong_corrid_tracker_t *t,
    kong_corrid_result_t *res)
{
    res->echo = conf->echo_downstream;

    if (value != NULL) {
        res->value = value;
        res->len = len;
        res->set_upstream = 0;
        return;
    }

    res->len = kong_corrid_generate(w, conf->generator, t, res->buf);
    res->value = res->buf;
    res->set_upstream = 1;
}
