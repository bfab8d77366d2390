/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * JSON string escaping as lua-cjson writes it (Kong's bodies): '"', '\\'
 * and '/' escaped, \b \f \n \r \t, other control bytes and DEL as \u00XX,
 * every other byte as is.  Shared by the plugin engines.
 */

#ifndef KONG_JSON_H
#define KONG_JSON_H

#include <stddef.h>


/*
 * Escapes s[0..len) into out (size bytes, NUL-terminated), without quotes;
 * stops before a character that would not fit.  Returns the length
 * written.  size >= len * 6 + 1 always holds the whole of it.
 */
size_t kong_json_escape(const char *s, size_t len, char *out, size_t size);

#endif /* KONG_JSON_H */
