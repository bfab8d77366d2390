/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * multipart/form-data bodies as Kong reads and writes them
 * (kong_multipart.h).
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kong_multipart.h"


#define MP_CD       "content-disposition"
#define MP_SIMPLE   "Content-Disposition: form-data; name=\""


typedef struct {
    const char             *s;
    size_t                  len;
} mp_span_t;

typedef struct {
    mp_span_t               name;
    mp_span_t               value;
    size_t                  hfirst;    /* header lines hdrs[hfirst..+hn) */
    size_t                  hn;
    int                     simple;    /* headers: MP_SIMPLE name '"' */
    int                     dead;
} mp_part_t;

struct kong_mp_s {
    mp_span_t               boundary;
    mp_part_t              *parts;
    size_t                  n;
    size_t                  cap;
    mp_span_t              *hdrs;
    size_t                  nh;
    size_t                  caph;
    char                   *vbuf;      /* the values read, back to back */
};


static int mp_space(int c);
static int mp_is_header(const char *s, size_t len);
static int mp_name(const char *s, size_t len, mp_span_t *name);
static int mp_grow(void **p, size_t *cap, size_t n, size_t size);
static int mp_add_part(kong_mp_t *mp, const mp_part_t *part);
static int mp_store(kong_mp_t *mp, const mp_span_t *name, size_t vstart,
    size_t vend, size_t hfirst);
static const char *mp_boundary(const kong_mp_t *mp, size_t *len);


/* Lua's %s */
static int
mp_space(int c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}


/* Lua's match(s, "%S:%s*%S") */
static int
mp_is_header(const char *s, size_t len)
{
    size_t  i, j;

    for (i = 1; i < len; i++) {
        if (s[i] != ':' || mp_space((unsigned char) s[i - 1])) {
            continue;
        }
        for (j = i + 1; j < len && mp_space((unsigned char) s[j]); j++) {
            /* void */
        }
        if (j < len) {
            return 1;
        }
    }

    return 0;
}


/*
 * The name of a Content-Disposition line: of its ";"-separated pieces that
 * are not shaped like a header, the last that starts with "name=" (any
 * case, after white space); its text up to "=" less trailing white space,
 * less its first and last character (the quotes).  1 if found.
 */
static int
mp_name(const char *s, size_t len, mp_span_t *name)
{
    int          found;
    const char  *p, *e, *end, *v, *ve;

    found = 0;
    end = s + len;

    for (p = s; p < end; p = e + 1) {
        e = memchr(p, ';', (size_t) (end - p));
        if (e == NULL) {
            e = end;
        }
        if (e == p || mp_is_header(p, (size_t) (e - p))) {
            continue;
        }

        for (v = p; v < e && mp_space((unsigned char) *v); v++) {
            /* void */
        }
        if (e - v < 5 || strncasecmp(v, "name=", 5) != 0) {
            continue;
        }

        for (v += 5; v < e && mp_space((unsigned char) *v); v++) {
            /* void */
        }
        for (ve = v; ve < e && *ve != '='; ve++) {
            /* void */
        }
        while (ve > v && mp_space((unsigned char) ve[-1])) {
            ve--;
        }

        if (ve - v >= 2) {
            name->s = v + 1;
            name->len = (size_t) (ve - v) - 2;
        } else {
            name->s = v;
            name->len = 0;
        }
        found = 1;
    }

    return found;
}


static int
mp_grow(void **p, size_t *cap, size_t n, size_t size)
{
    void    *np;
    size_t   ncap;

    if (n < *cap) {
        return 0;
    }

    ncap = *cap ? *cap * 2 : 8;
    np = realloc(*p, ncap * size);
    if (np == NULL) {
        return -1;
    }

    *p = np;
    *cap = ncap;
    return 0;
}


static int
mp_add_part(kong_mp_t *mp, const mp_part_t *part)
{
    if (mp_grow((void **) &mp->parts, &mp->cap, mp->n, sizeof(mp_part_t))
        != 0)
    {
        return -1;
    }

    mp->parts[mp->n++] = *part;
    return 0;
}


/* A part read: its name, its value vbuf[vstart..vend), the header lines
 * from hfirst to the last one read. */
static int
mp_store(kong_mp_t *mp, const mp_span_t *name, size_t vstart, size_t vend,
    size_t hfirst)
{
    mp_part_t  part;

    memset(&part, 0, sizeof(part));
    part.name = *name;
    part.value.s = mp->vbuf + vstart;
    part.value.len = vend - vstart;
    part.hfirst = hfirst;
    part.hn = mp->nh - hfirst;

    return mp_add_part(mp, &part);
}


int
kong_mp_boundary(const char *ct, size_t len, const char **b, size_t *blen)
{
    const char  *p, *e, *v, *ve;

    e = ct + len;

    for (p = ct; p < e; p++) {
        if (*p != ';') {
            continue;
        }

        for (v = p + 1; v < e && mp_space((unsigned char) *v); v++) {
            /* void */
        }
        if (e - v < 9 || memcmp(v, "boundary=", 9) != 0) {
            continue;
        }

        v += 9;
        for (ve = v; ve < e && !mp_space((unsigned char) *ve); ve++) {
            /* void */
        }
        if (ve == v) {
            continue;               /* %S+ needs one character */
        }

        if (ve - v >= 2 && ((v[0] == '"' && ve[-1] == '"')
                            || (v[0] == '\'' && ve[-1] == '\'')))
        {
            v++;
            ve--;
        }
        if (ve == v) {
            return 0;
        }

        *b = v;
        *blen = (size_t) (ve - v);
        return 1;
    }

    return 0;
}


kong_mp_t *
kong_mp_parse(const char *body, size_t len, const char *b, size_t blen)
{
    int          processing, named, done;
    size_t       pos, s, llen, vstart, vend, v, hstart;
    kong_mp_t   *mp;
    mp_span_t    name;
    const char  *line;

    mp = calloc(1, sizeof(kong_mp_t));
    if (mp == NULL) {
        return NULL;
    }

    mp->boundary.s = b;
    mp->boundary.len = blen;

    if (b == NULL || blen == 0) {
        mp->boundary.s = NULL;
        return mp;
    }

    mp->vbuf = malloc(len ? len : 1);
    if (mp->vbuf == NULL) {
        free(mp);
        return NULL;
    }

    processing = 0;
    named = 0;
    name.s = NULL;
    name.len = 0;
    vstart = vend = 0;
    hstart = 0;
    pos = 0;
    done = 0;

    while (!done) {

        /* the next line, ended by a CR or a LF on its own */
        for (s = pos; s < len && body[s] != '\r' && body[s] != '\n'; s++) {
            /* void */
        }
        line = body + pos;
        llen = s - pos;
        if (s == len) {
            done = 1;
        } else {
            pos = s + 1;
        }

        if (llen == 0) {
            if (!done && processing) {
                mp->vbuf[vend++] = body[s];
            }
            continue;
        }

        /* a boundary: the part read so far ends, if it has a name */
        if (llen >= blen + 2 && line[0] == '-' && line[1] == '-'
            && memcmp(line + 2, b, blen) == 0)
        {
            processing = 0;

            if (!named) {
                continue;           /* what was read goes to the next */
            }

            v = vend;
            if (v > vstart && mp->vbuf[v - 1] == '\n') {
                v--;
                if (v > vstart && mp->vbuf[v - 1] == '\r') {
                    v--;
                }
            }

            if (mp_store(mp, &name, vstart, v, hstart) != 0) {
                goto nomem;
            }

            hstart = mp->nh;
            vstart = vend;
            named = 0;
            continue;
        }

        if (!processing
            && ((llen >= sizeof(MP_CD) - 1
                 && strncasecmp(line, MP_CD, sizeof(MP_CD) - 1) == 0)
                || mp_is_header(line, llen)))
        {
            if (llen >= sizeof(MP_CD) - 1
                && strncasecmp(line, MP_CD, sizeof(MP_CD) - 1) == 0
                && mp_name(line, llen, &name))
            {
                named = 1;
            }

            if (mp_grow((void **) &mp->hdrs, &mp->caph, mp->nh,
                        sizeof(mp_span_t))
                != 0)
            {
                goto nomem;
            }
            mp->hdrs[mp->nh].s = line;
            mp->hdrs[mp->nh].len = llen;
            mp->nh++;

            /* the headers end at CRLF CRLF */
            if (!done && len - s >= 4 && memcmp(body + s, "\r\n\r\n", 4) == 0)
            {
                processing = 1;
                pos = s + 4;
            }
            continue;
        }

        /* a line of the value, with the CR or LF that ends it */
        processing = 1;
        memcpy(mp->vbuf + vend, line, llen);
        vend += llen;
        if (!done) {
            mp->vbuf[vend++] = body[s];
        }
    }

    /* a last part with no boundary after it: as read */
    if (named && mp_store(mp, &name, vstart, vend, hstart) != 0) {
        goto nomem;
    }

    return mp;

nomem:

    kong_mp_free(mp);
    return NULL;
}


void
kong_mp_free(kong_mp_t *mp)
{
    if (mp == NULL) {
        return;
    }

    free(mp->parts);
    free(mp->hdrs);
    free(mp->vbuf);
    free(mp);
}


size_t
kong_mp_nparts(const kong_mp_t *mp)
{
    return mp->n;
}


int
kong_mp_part(const kong_mp_t *mp, size_t i, const char **name,
    size_t *name_len, const char **value, size_t *value_len)
{
    const mp_part_t  *p;

    if (i >= mp->n || mp->parts[i].dead) {
        return 0;
    }

    p = &mp->parts[i];
    *name = p->name.s;
    *name_len = p->name.len;
    *value = p->value.s;
    *value_len = p->value.len;
    return 1;
}


long
kong_mp_find(const kong_mp_t *mp, const char *name, size_t len)
{
    size_t            i;
    const mp_part_t  *p;

    for (i = 0; i < mp->n; i++) {
        p = &mp->parts[i];
        if (!p->dead && p->name.len == len
            && (len == 0 || memcmp(p->name.s, name, len) == 0))
        {
            return (long) i;
        }
    }

    return -1;
}


size_t
kong_mp_count(const kong_mp_t *mp, const char *name, size_t len)
{
    size_t            i, n;
    const mp_part_t  *p;

    n = 0;
    for (i = 0; i < mp->n; i++) {
        p = &mp->parts[i];
        if (!p->dead && p->name.len == len
            && (len == 0 || memcmp(p->name.s, name, len) == 0))
        {
            n++;
        }
    }

    return n;
}


void
kong_mp_delete(kong_mp_t *mp, const char *name, size_t len)
{
    size_t      i;
    mp_part_t  *p;

    for (i = 0; i < mp->n; i++) {
        p = &mp->parts[i];
        if (p->name.len == len
            && (len == 0 || memcmp(p->name.s, name, len) == 0))
        {
            p->dead = 1;
        }
    }
}


int
kong_mp_set(kong_mp_t *mp, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
    long        i;
    mp_part_t   part;

    memset(&part, 0, sizeof(part));
    part.name.s = name;
    part.name.len = name_len;
    part.value.s = value;
    part.value.len = value_len;
    part.simple = 1;

    i = kong_mp_find(mp, name, name_len);
    if (i >= 0) {
        mp->parts[i] = part;
        return 0;
    }

    return mp_add_part(mp, &part);
}


static const char *
mp_boundary(const kong_mp_t *mp, size_t *len)
{
    if (mp->boundary.s == NULL) {
        *len = sizeof(KONG_MP_DEFAULT_BOUNDARY) - 1;
        return KONG_MP_DEFAULT_BOUNDARY;
    }

    *len = mp->boundary.len;
    return mp->boundary.s;
}


size_t
kong_mp_encoded_size(const kong_mp_t *mp)
{
    size_t            i, k, size, blen, live;
    const mp_part_t  *p;

    (void) mp_boundary(mp, &blen);

    size = 0;
    live = 0;

    for (i = 0; i < mp->n; i++) {
        p = &mp->parts[i];
        if (p->dead) {
            continue;
        }
        live++;

        size += 2 + blen + 2;
        if (p->simple) {
            size += sizeof(MP_SIMPLE) - 1 + p->name.len + 1 + 2;
        } else {
            for (k = 0; k < p->hn; k++) {
                size += mp->hdrs[p->hfirst + k].len + 2;
            }
        }
        size += 2 + p->value.len + 2;
    }

    return live ? size + 2 + blen + 4 : 0;
}


void
kong_mp_encode(const kong_mp_t *mp, char *out)
{
    char             *o;
    size_t            i, k, blen;
    const char       *b;
    const mp_part_t  *p;
    const mp_span_t  *h;

    b = mp_boundary(mp, &blen);
    o = out;

    for (i = 0; i < mp->n; i++) {
        p = &mp->parts[i];
        if (p->dead) {
            continue;
        }

        *o++ = '-';
        *o++ = '-';
        memcpy(o, b, blen);
        o += blen;
        *o++ = '\r';
        *o++ = '\n';

        if (p->simple) {
            memcpy(o, MP_SIMPLE, sizeof(MP_SIMPLE) - 1);
            o += sizeof(MP_SIMPLE) - 1;
            if (p->name.len) {
                memcpy(o, p->name.s, p->name.len);
                o += p->name.len;
            }
            *o++ = '"';
            *o++ = '\r';
            *o++ = '\n';

        } else {
            for (k = 0; k < p->hn; k++) {
                h = &mp->hdrs[p->hfirst + k];
                memcpy(o, h->s, h->len);
                o += h->len;
                *o++ = '\r';
                *o++ = '\n';
            }
        }

        *o++ = '\r';
        *o++ = '\n';
        if (p->value.len) {
            memcpy(o, p->value.s, p->value.len);
            o += p->value.len;
        }
        *o++ = '\r';
        *o++ = '\n';
    }

    if (o == out) {
        return;
    }

    *o++ = '-';
    *o++ = '-';
    memcpy(o, b, blen);
    o += blen;
    memcpy(o, "--\r\n", 4);
}
