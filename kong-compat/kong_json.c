/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * lua-cjson's string escaping (kong_json.h).
 */

#include <stdio.h>
#include <string.h>

#include "kong_json.h"


size_t
kong_json_escape(const char *s, size_t len, char *out, size_t size)
{
    size_t       i, n, w;
    int          c;
    char         esc[8];
    const char  *add;

    if (size == 0) {
        return 0;
    }

    n = 0;
    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        switch (c) {
        case '"':  add = "\\\""; break;
        case '\\': add = "\\\\"; break;
        case '/':  add = "\\/"; break;
        case '\b': add = "\\b"; break;
        case '\f': add = "\\f"; break;
        case '\n': add = "\\n"; break;
        case '\r': add = "\\r"; break;
        case '\t': add = "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                add = esc;
            } else {
                esc[0] = (char) c;
                esc[1] = '\0';
                add = esc;
            }
        }

        w = strlen(add);
        if (n + w >= size) {
            break;
        }
        memcpy(out + n, add, w);
        n += w;
    }

    out[n] = '\0';
    return n;
}
