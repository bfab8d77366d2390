/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_url_parse and farm_url_display (registry/farm_url.c).
 *
 * Invariants: a parsed URL is Redis or Consul, has a port from 1 to 65535,
 * a host without NUL or control bytes (F1), a database only for Redis, and
 * its display form parses back to the same URL (F3); an error is one
 * NUL-terminated line, and for an unknown scheme it quotes nothing but the
 * scheme (A19: never the password).
 */

#include "fuzz.h"

#include "farm_record.h"
#include "farm_url.h"


static void
check_ok(const farm_url_t *u)
{
    size_t      i, n;
    char        buf[FARM_HOST_MAX + FARM_URL_PATH_MAX + 64], small[8];
    char        err[FARM_ERR_MAX];
    farm_url_t  v;

    FZ_CHECK(u->type == FARM_URL_REDIS || u->type == FARM_URL_CONSUL
             || u->type == FARM_URL_API);
    FZ_CHECK(u->port >= 1 && u->port <= 65535);
    FZ_CHECK(u->tls == 0 || u->type != FARM_URL_REDIS);
    FZ_CHECK((u->path[0] == '/') == (u->type == FARM_URL_API));
    FZ_CHECK(u->db == 0 || u->type == FARM_URL_REDIS);
    FZ_CHECK(u->db <= 65535);

    FZ_CHECK(memchr(u->host, '\0', sizeof(u->host)) != NULL);
    FZ_CHECK(memchr(u->user, '\0', sizeof(u->user)) != NULL);
    FZ_CHECK(memchr(u->password, '\0', sizeof(u->password)) != NULL);

    n = strlen(u->host);
    FZ_CHECK(n > 0);

    for (i = 0; i < n; i++) {
        FZ_CHECK((unsigned char) u->host[i] >= 0x20 && u->host[i] != 0x7f);
    }

    /* display: never the password, truncated rather than overrun */

    farm_url_display(u, buf, sizeof(buf));
    FZ_CHECK(u->password[0] == '\0' || strstr(buf, "@") == NULL);

    memset(small, 'z', sizeof(small));
    farm_url_display(u, small, sizeof(small) - 1);
    FZ_CHECK(small[sizeof(small) - 1] == 'z');
    FZ_CHECK(memchr(small, '\0', sizeof(small) - 1) != NULL);

    /* the display form is a URL that means the same, minus credentials */

    if (farm_url_parse(&v, buf, strlen(buf), err) != 0) {
        fprintf(stderr, "display \"%s\" does not parse back: %s\n", buf, err);
        FZ_CHECK(0);
    }

    FZ_CHECK(v.type == u->type);
    FZ_CHECK(v.tls == u->tls);
    FZ_CHECK(strcmp(v.host, u->host) == 0);
    FZ_CHECK(v.port == u->port);
    FZ_CHECK(v.db == u->db);
    FZ_CHECK(strcmp(v.path, u->path) == 0);
    FZ_CHECK(v.user[0] == '\0' && v.password[0] == '\0');
}


static void
check_error(const char *s, size_t len, const char *err)
{
    size_t       n;
    const char  *q, *e;

    FZ_CHECK(fz_terminated(err, FARM_ERR_MAX));
    FZ_CHECK(err[0] != '\0');
    FZ_CHECK(strchr(err, '\n') == NULL);

    if (strncmp(err, "registry URL: unknown scheme \"", 30) != 0) {
        FZ_CHECK(strncmp(err, "registry URL", 12) == 0);
        return;
    }

    /* the only quote is a prefix of the input ending in "://" */

    q = err + 30;
    e = strchr(q, '"');
    FZ_CHECK(e != NULL);

    n = e - q;
    FZ_CHECK(n >= 4 && n <= 19 && n <= len);
    FZ_CHECK(memcmp(q, s, n) == 0);
    FZ_CHECK(memcmp(q + n - 3, "://", 3) == 0);
    FZ_CHECK(strchr(e + 1, '"') == NULL);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        *s, err[FARM_ERR_MAX];
    farm_url_t   u;

    s = fz_copy(data, size);
    memset(err, 'x', sizeof(err));

    if (farm_url_parse(&u, s, size, err) == 0) {
        check_ok(&u);

    } else {
        check_error(s, size, err);
    }

    /* a NULL err is allowed */

    (void) farm_url_parse(&u, s, size, NULL);

    free(s);

    return 0;
}
