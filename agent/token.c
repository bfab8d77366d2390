/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "farm_record.h"
#include "token.h"


int
farm_token_read(const char *path, char *buf, size_t size, char *err)
{
    int     c;
    FILE   *f;
    size_t  n, i;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, FARM_ERR_MAX, "cannot read %s: %s", path,
                 strerror(errno));
        return -1;
    }

    n = fread(buf, 1, size, f);
    c = ferror(f);
    fclose(f);

    if (c) {
        snprintf(err, FARM_ERR_MAX, "cannot read %s", path);
        goto failed;
    }

    if (n == size) {
        snprintf(err, FARM_ERR_MAX, "%s: the token is longer than %zu bytes",
                 path, size - 1);
        goto failed;
    }

    while (n && strchr(" \t\r\n", buf[n - 1]) && buf[n - 1] != '\0') {
        n--;
    }

    buf[n] = '\0';

    if (n == 0) {
        snprintf(err, FARM_ERR_MAX, "%s is empty", path);
        goto failed;
    }

    for (i = 0; i < n; i++) {
        c = (unsigned char) buf[i];

        if (c <= 0x20 || c == 0x7f) {
            snprintf(err, FARM_ERR_MAX, "%s: the token holds a space or a "
                     "control character (byte %zu)", path, i + 1);
            goto failed;
        }
    }

    return 0;

failed:

    memset(buf, 0, size);

    return -1;
}
