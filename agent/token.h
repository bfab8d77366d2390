/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The token a gateway's registry API wants (--token-file): read from a
 * file, shared by the option checks and the gateway registrar, which reads
 * it again when the gateway refuses it (the token was rotated).
 */

#ifndef FARM_TOKEN_H
#define FARM_TOKEN_H

#include <stddef.h>


/*
 * Reads the token from path into buf (size bytes, NUL included): the
 * file's content without trailing spaces, tabs, CR or LF.  Returns 0, or
 * -1 with a one-line reason in err (FARM_ERR_MAX bytes) when the file
 * cannot be read, is empty, too long, or holds a control character or a
 * space.  The reason never quotes the token.
 */
int farm_token_read(const char *path, char *buf, size_t size, char *err);

#endif /* FARM_TOKEN_H */
