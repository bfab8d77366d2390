/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Registry URLs, shared by farm-agent (--registry) and the module
 * (farm_registry):
 *
 *   redis://[[user]:password@]host[:port][/db]     port 6379, db 0
 *   consul://host[:port]   http://host[:port]        port 8500
 *   https://host[:port]    consuls://host[:port]     port 8501, TLS
 *   http://host[:port]/path    https://host[:port]/path   port 80, 443:
 *                          a gateway's built-in registry API (farm-agent
 *                          only): the path is its farm_registry_api location
 *
 * host is a name, an IPv4 address or a bracketed IPv6 address (brackets
 * hold an IPv6 literal and nothing else).  A host never holds a control
 * character or a NUL byte.
 */

#ifndef FARM_URL_H
#define FARM_URL_H

#include <stddef.h>


#define FARM_URL_REDIS    1
#define FARM_URL_CONSUL   2
#define FARM_URL_API      3         /* a gateway's farm_registry_api */

#define FARM_HOST_MAX     255
#define FARM_SECRET_MAX   255
#define FARM_URL_PATH_MAX 255


typedef struct {
    int         type;                       /* FARM_URL_REDIS, _CONSUL, _API */
    int         tls;                        /* 1 for https:// */
    char        host[FARM_HOST_MAX + 1];    /* without IPv6 brackets */
    unsigned    port;
    char        user[FARM_SECRET_MAX + 1];
    char        password[FARM_SECRET_MAX + 1];
    unsigned    db;                         /* Redis database */
    char        path[FARM_URL_PATH_MAX + 1];  /* API: "/farm/registry" */
} farm_url_t;


/*
 * Parses s[0..len).  Returns 0 and fills u, or -1 with a one-line reason in
 * err (FARM_ERR_MAX bytes).  Every byte of s[0..len) is checked, NUL
 * included.  Percent-escapes in user and password are decoded.  The reason
 * never quotes the user or the password: for an unknown scheme it quotes
 * only the scheme.
 */
int farm_url_parse(farm_url_t *u, const char *s, size_t len, char *err);

/*
 * Writes the URL without its password ("redis://127.0.0.1:6379/0") into
 * buf, for logs and status pages.  Returns buf.
 */
char *farm_url_display(const farm_url_t *u, char *buf, size_t size);

#endif /* FARM_URL_H */
