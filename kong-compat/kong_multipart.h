/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * multipart/form-data bodies as Kong 3.x reads and writes them (its
 * lua-multipart library): plain C, no nginx, for request-transformer's
 * body operations and key-auth's key_in_body / hide_credentials.
 *
 *   const char  *b;
 *   size_t       blen;
 *   kong_mp_t   *mp;
 *
 *   kong_mp_boundary(content_type, ct_len, &b, &blen);   (0: none)
 *   mp = kong_mp_parse(body, len, b, blen);   (NULL: out of memory)
 *   i = kong_mp_find(mp, "name", 4);  kong_mp_value(mp, i, &v, &vlen);
 *   kong_mp_delete(mp, "name", 4);  kong_mp_set(mp, "n", 1, "v", 1);
 *   size = kong_mp_encoded_size(mp);  kong_mp_encode(mp, buf);
 *   kong_mp_free(mp);
 *
 * Reading is Kong's, line by line, and as lenient: a body never fails to
 * parse; a part is a run of header lines (a Content-Disposition line, or
 * any line shaped "x: y") up to CRLF CRLF, then its value up to the next
 * line that starts with "--" and the boundary; a part's name is the
 * Content-Disposition's name="..." parameter; text before the first part,
 * and a part with no name, are carried into the next named part as Kong
 * does; text after the closing boundary is dropped.  A value does not
 * include the CRLF (or LF) before the boundary.
 *
 * Writing is Kong's too: every part as "--B" CRLF, its header lines each
 * with CRLF, CRLF, its value, CRLF; then "--B--" CRLF; no part at all is
 * an empty body.  So a part no operation touches (a file with its
 * filename and Content-Type) goes out byte for byte as it came.
 *
 * The parsed parts point into body, which must outlive mp; values set by
 * kong_mp_set are not copied either.
 */

#ifndef KONG_MULTIPART_H
#define KONG_MULTIPART_H

#include <stddef.h>


/* the boundary written when the Content-Type names none (Kong: random) */
#define KONG_MP_DEFAULT_BOUNDARY  "farm-kong-multipart-boundary"


typedef struct kong_mp_s  kong_mp_t;


/*
 * The boundary of a Content-Type value as lua-multipart finds it: after
 * ";", optional white space and "boundary=", the run up to white space,
 * without surrounding quotes.  1 with *b / *blen (pointing into ct), or 0.
 */
int kong_mp_boundary(const char *ct, size_t len, const char **b,
    size_t *blen);

/* Parses body with the boundary b (NULL: no part is found).  NULL only when
 * memory runs out.  Freed by kong_mp_free. */
kong_mp_t *kong_mp_parse(const char *body, size_t len, const char *b,
    size_t blen);
void kong_mp_free(kong_mp_t *mp);

/* The number of parts (deleted ones included; see kong_mp_part). */
size_t kong_mp_nparts(const kong_mp_t *mp);

/* Part i: 1 with its name and value, 0 if it was deleted. */
int kong_mp_part(const kong_mp_t *mp, size_t i, const char **name,
    size_t *name_len, const char **value, size_t *value_len);

/* The index of the first part named name, or -1. */
long kong_mp_find(const kong_mp_t *mp, const char *name, size_t len);

/* How many parts are named name. */
size_t kong_mp_count(const kong_mp_t *mp, const char *name, size_t len);

/* Every part named name goes. */
void kong_mp_delete(kong_mp_t *mp, const char *name, size_t len);

/*
 * lua-multipart's set_simple: the first part named name becomes a plain
 * field (header 'Content-Disposition: form-data; name="<name>"') with this
 * value; with no such part, one is added at the end.  0, or -1 when memory
 * runs out.  name and value are not copied.
 */
int kong_mp_set(kong_mp_t *mp, const char *name, size_t name_len,
    const char *value, size_t value_len);

/* The size of the encoded body, and the encoding into out (that many
 * bytes, no NUL). */
size_t kong_mp_encoded_size(const kong_mp_t *mp);
void kong_mp_encode(const kong_mp_t *mp, char *out);

#endif /* KONG_MULTIPART_H */
