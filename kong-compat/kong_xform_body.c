/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * request-transformer and response-transformer: JSON and form bodies
 * (kong_xform.h).  A JSON object is edited member by member: what no op
 * touches is kept byte for byte; duplicate keys keep the last, as
 * lua-cjson does.  multipart/form-data goes through kong_multipart.c.
 */

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kong_json.h"
#include "kong_multipart.h"
#include "kong_xform_int.h"


#define XF_JSON_DEPTH  1000


static const char *xf_json_value(const char *p, const char *e, int depth);


/* ---- a validating JSON scanner --------------------------------------- */

static const char *
xf_json_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }
    return p;
}


static const char *
xf_json_string(const char *p, const char *e)
{
    int  i;

    for (p++; p < e; p++) {
        if (*p == '"') {
            return p + 1;
        }
        if ((unsigned char) *p < 0x20) {
            return NULL;
        }
        if (*p == '\\') {
            if (++p == e) {
                return NULL;
            }
            if (*p == 'u') {
                for (i = 1; i <= 4; i++) {
                    if (p + i >= e || !isxdigit((unsigned char) p[i])) {
                        return NULL;
                    }
                }
                p += 4;
            } else if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0') {
                return NULL;
            }
        }
    }

    return NULL;
}


static const char *
xf_json_number(const char *p, const char *e)
{
    const char  *s;

    if (p < e && *p == '-') {
        p++;
    }
    if (p < e && *p == '0') {
        p++;
    } else {
        for (s = p; p < e && isdigit((unsigned char) *p); p++) { }
        if (p == s) {
            return NULL;
        }
    }
    if (p < e && *p == '.') {
        for (s = ++p; p < e && isdigit((unsigned char) *p); p++) { }
        if (p == s) {
            return NULL;
        }
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) {
            p++;
        }
        for (s = p; p < e && isdigit((unsigned char) *p); p++) { }
        if (p == s) {
            return NULL;
        }
    }
    return p;
}


static const char *
xf_json_container(const char *p, const char *e, int depth)
{
    char  close;

    if (depth > XF_JSON_DEPTH) {
        return NULL;
    }

    close = *p == '{' ? '}' : ']';
    p = xf_json_ws(p + 1, e);
    if (p < e && *p == close) {
        return p + 1;
    }

    for ( ;; ) {
        if (close == '}') {
            if (p >= e || *p != '"' || (p = xf_json_string(p, e)) == NULL) {
                return NULL;
            }
            p = xf_json_ws(p, e);
            if (p >= e || *p != ':') {
                return NULL;
            }
            p = xf_json_ws(p + 1, e);
        }

        p = xf_json_value(p, e, depth + 1);
        if (p == NULL) {
            return NULL;
        }
        p = xf_json_ws(p, e);
        if (p < e && *p == ',') {
            p = xf_json_ws(p + 1, e);
            continue;
        }
        if (p < e && *p == close) {
            return p + 1;
        }
        return NULL;
    }
}


static const char *
xf_json_value(const char *p, const char *e, int depth)
{
    if (p >= e) {
        return NULL;
    }

    switch (*p) {
    case '{':
    case '[':
        return xf_json_container(p, e, depth);
    case '"':
        return xf_json_string(p, e);
    case 't':
        return e - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return e - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return e - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return xf_json_number(p, e);
    }
}


int
kong_xform_json_valid(const char *s, size_t len)
{
    const char  *p, *e;

    e = s + len;
    p = xf_json_value(xf_json_ws(s, e), e, 1);
    return p != NULL && xf_json_ws(p, e) == e;
}


/* The decoded text of a valid JSON string token [p, e) (with quotes). */
static char *
xf_json_unquote(kong_xform_arena_t *a, const char *p, const char *e,
    size_t *len)
{
    char      *out;
    size_t     n;
    unsigned   c, lo;

    out = xf_alloc(a, (size_t) (e - p) * 2);
    if (out == NULL) {
        return NULL;
    }

    n = 0;
    for (p++, e--; p < e; p++) {
        if (*p != '\\') {
            out[n++] = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u':
            c = (unsigned) strtoul((char []) { p[1], p[2], p[3], p[4], 0 },
                                   NULL, 16);
            p += 4;
            if (c >= 0xd800 && c < 0xdc00 && e - p >= 7 && p[1] == '\\'
                && p[2] == 'u')
            {
                lo = (unsigned) strtoul((char []) { p[3], p[4], p[5], p[6],
                                                    0 }, NULL, 16);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            if (c < 0x80) {
                out[n++] = (char) c;
            } else if (c < 0x800) {
                out[n++] = (char) (0xc0 | (c >> 6));
                out[n++] = (char) (0x80 | (c & 0x3f));
            } else if (c < 0x10000) {
                out[n++] = (char) (0xe0 | (c >> 12));
                out[n++] = (char) (0x80 | ((c >> 6) & 0x3f));
                out[n++] = (char) (0x80 | (c & 0x3f));
            } else {
                out[n++] = (char) (0xf0 | (c >> 18));
                out[n++] = (char) (0x80 | ((c >> 12) & 0x3f));
                out[n++] = (char) (0x80 | ((c >> 6) & 0x3f));
                out[n++] = (char) (0x80 | (c & 0x3f));
            }
            break;
        default:
            out[n++] = *p;
        }
    }

    *len = n;
    return out;
}


char *
xf_json_escape(kong_xform_arena_t *a, const char *s, size_t len,
    size_t *out_len)
{
    char  *out;

    out = xf_alloc(a, len * 6 + 1);
    if (out != NULL) {
        *out_len = kong_json_escape(s, len, out, len * 6 + 1);
    }
    return out;
}


/* The members of a JSON object text into t (keys decoded, values raw).
 * -1: not an object (or invalid); -2: allocation failure. */
static int
xf_json_members(xf_table_t *t, const char *s, size_t len)
{
    size_t       klen;
    char        *key;
    const char  *p, *e, *k, *ke, *v;
    xf_entry_t  *en;

    if (!kong_xform_json_valid(s, len)) {
        return -1;
    }

    e = s + len;
    p = xf_json_ws(s, e);
    if (*p != '{') {
        return -1;
    }

    p = xf_json_ws(p + 1, e);
    while (*p == '"') {
        k = p;
        p = ke = xf_json_string(p, e);
        key = xf_json_unquote(t->a, k, p, &klen);
        if (key == NULL) {
            return -2;
        }
        p = xf_json_ws(xf_json_ws(p, e) + 1, e);
        v = p;
        p = xf_json_value(p, e, 2);

        /* a key seen before: the last one wins, where it stands */
        en = xf_find(t, key, klen);
        if (en != NULL) {
            en->dead = 1;
        }
        en = xf_add(t, key, klen);
        if (en == NULL || xf_push(t, en, v, (size_t) (p - v), XF_RAW) != 0) {
            return -2;
        }
        en->raw_key = k;
        en->raw_key_len = (size_t) (ke - k);

        p = xf_json_ws(p, e);
        if (*p == ',') {
            p = xf_json_ws(p + 1, e);
        }
    }

    return 0;
}


static int
xf_truthy(const xf_entry_t *e)
{
    if (e == NULL || e->n == 0) {
        return 0;
    }
    return !(e->n == 1 && e->vals[0].kind == XF_RAW
             && e->vals[0].len == 5 && memcmp(e->vals[0].s, "false", 5) == 0);
}


/* append_value on a JSON member */
static int
xf_json_append(xf_table_t *t, xf_entry_t *e, const char *s, size_t len,
    int kind)
{
    const xf_val_t  *v0;

    if (!e->array && e->n == 1) {
        v0 = &e->vals[0];
        if (v0->kind == XF_RAW && v0->s[0] != '"' && v0->s[0] != '['
            && v0->s[0] != '{')
        {
            e->n = 0;               /* a number, boolean or null: {v} */
        }
    }

    e->array = 1;
    return xf_push(t, e, s, len, kind);
}


static size_t
xf_json_val_size(const xf_val_t *v)
{
    return v->kind == XF_RAW ? v->len : v->len * 6 + 2;
}


static size_t
xf_json_put_val(kong_xform_arena_t *a, char *out, const xf_val_t *v)
{
    size_t  n;
    char   *esc;

    if (v->kind == XF_RAW) {
        memcpy(out, v->s, v->len);
        return v->len;
    }

    esc = xf_json_escape(a, v->s, v->len, &n);
    if (esc == NULL) {
        return (size_t) -1;
    }
    out[0] = '"';
    memcpy(out + 1, esc, n);
    out[n + 1] = '"';
    return n + 2;
}


/* Encodes the members as one object. */
static char *
xf_json_encode(xf_table_t *t, size_t *len)
{
    size_t       i, k, size, n, w, inner;
    char        *out, *esc;
    const char  *raw;
    xf_entry_t  *e;

    size = 3;
    for (i = 0; i < t->n; i++) {
        e = &t->e[i];
        if (e->dead) {
            continue;
        }
        size += e->key_len * 6 + 8 + 16 * e->n;
        for (k = 0; k < e->n; k++) {
            size += xf_json_val_size(&e->vals[k]) + 1;
        }
    }

    out = xf_alloc(t->a, size);
    if (out == NULL) {
        return NULL;
    }

    n = 0;
    out[n++] = '{';
    for (i = 0; i < t->n; i++) {
        e = &t->e[i];
        if (e->dead || e->n == 0) {
            continue;
        }
        if (n > 1) {
            out[n++] = ',';
        }

        if (e->raw_key != NULL) {
            memcpy(out + n, e->raw_key, e->raw_key_len);
            n += e->raw_key_len;
        } else {
            esc = xf_json_escape(t->a, e->key, e->key_len, &w);
            if (esc == NULL) {
                return NULL;
            }
            out[n++] = '"';
            memcpy(out + n, esc, w);
            n += w;
            out[n++] = '"';
        }
        out[n++] = ':';

        if (!e->array) {
            w = xf_json_put_val(t->a, out + n, &e->vals[0]);
            if (w == (size_t) -1) {
                return NULL;
            }
            n += w;
            continue;
        }

        raw = e->vals[0].kind == XF_RAW ? e->vals[0].s : NULL;

        if (raw != NULL && (raw[0] == '[' || raw[0] == '{')) {
            /* table.insert into a decoded array, or an object's [1], [2] */
            w = e->vals[0].len - 1;
            while (w > 0 && isspace((unsigned char) raw[w - 1])) {
                w--;
            }
            memcpy(out + n, raw, w);
            n += w;
            inner = xf_json_ws(raw + 1, raw + w) != raw + w;
            for (k = 1; k < e->n; k++) {
                if (inner || k > 1) {
                    out[n++] = ',';
                }
                if (raw[0] == '{') {
                    n += (size_t) snprintf(out + n, 16, "\"%zu\":", k);
                }
                w = xf_json_put_val(t->a, out + n, &e->vals[k]);
                if (w == (size_t) -1) {
                    return NULL;
                }
                n += w;
            }
            out[n++] = raw[0] == '[' ? ']' : '}';
            continue;
        }

        out[n++] = '[';
        for (k = 0; k < e->n; k++) {
            if (k) {
                out[n++] = ',';
            }
            w = xf_json_put_val(t->a, out + n, &e->vals[k]);
            if (w == (size_t) -1) {
                return NULL;
            }
            n += w;
        }
        out[n++] = ']';
    }
    out[n++] = '}';
    out[n] = '\0';

    *len = n;
    return out;
}


/* ---- request bodies -------------------------------------------------- */

#define XF_ITEMS(op)  x->ops[op][KONG_XFORM_BODY]


/*
 * transform_json_body and transform_url_encoded_body: remove, rename and
 * replace only when the body is not empty; add and append also on an
 * empty one.
 */
static int
xf_body_ops(const kong_xform_t *x, const xf_env_t *env,
    kong_xform_arena_t *a, xf_table_t *t, int json, size_t len)
{
    int               rc, changed;
    size_t            i, vl;
    const char       *v;
    xf_entry_t       *e, *ne;
    const xf_item_t  *it;

    changed = 0;

    for (i = 0; len > 0 && i < XF_ITEMS(KONG_XFORM_REMOVE).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_REMOVE).items[i];
        XF_RENDER(it);
        e = xf_find(t, it->name, it->name_len);
        if (e != NULL) {
            e->dead = 1;
        }
        changed = 1;
    }

    for (i = 0; len > 0 && i < XF_ITEMS(KONG_XFORM_RENAME).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_RENAME).items[i];
        XF_RENDER(it);
        if (rc == 0 || (vl == it->name_len && memcmp(v, it->name, vl) == 0))
        {
            continue;
        }
        e = xf_find(t, it->name, it->name_len);
        if (!xf_truthy(e)) {
            continue;
        }
        ne = xf_find(t, v, vl);
        if (ne != NULL) {
            ne->dead = 1;
        }
        e->key = v;
        e->key_len = vl;
        e->raw_key = NULL;
        changed = 1;
    }

    for (i = 0; len > 0 && i < XF_ITEMS(KONG_XFORM_REPLACE).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_REPLACE).items[i];
        XF_RENDER(it);
        e = xf_find(t, it->name, it->name_len);
        if (rc == 0 || !xf_truthy(e)) {
            continue;
        }
        if (xf_set(t, e, v, vl, XF_STR) != 0) {
            return -1;
        }
        changed = 1;
    }

    for (i = 0; i < XF_ITEMS(KONG_XFORM_ADD).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_ADD).items[i];
        XF_RENDER(it);
        e = xf_find(t, it->name, it->name_len);
        /* JSON: "if not parameters[name]"; form: "== nil" */
        if (rc == 0 || (json ? xf_truthy(e) : e != NULL)) {
            continue;
        }
        if (e == NULL && (e = xf_add(t, it->name, it->name_len)) == NULL) {
            return -1;
        }
        e->raw_key = NULL;
        if (xf_set(t, e, v, vl, XF_STR) != 0) {
            return -1;
        }
        changed = 1;
    }

    for (i = 0; i < XF_ITEMS(KONG_XFORM_APPEND).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_APPEND).items[i];
        XF_RENDER(it);
        if (rc == 0) {
            continue;
        }
        e = xf_find(t, it->name, it->name_len);
        if (e == NULL && (e = xf_add(t, it->name, it->name_len)) == NULL) {
            return -1;
        }
        if ((json ? xf_json_append(t, e, v, vl, XF_STR)
                  : xf_append(t, e, v, vl)) != 0)
        {
            return -1;
        }
        changed = 1;
    }

    return changed;
}


/*
 * transform_multipart_body: rename, remove and replace (when the body is not
 * empty), then add; append does not apply.  A renamed, replaced or added
 * field is a plain part (lua-multipart's set_simple); a replaced one moves
 * to the end.  The body is rewritten whenever a remove item is configured,
 * as Kong does, even if no part had that name.
 */
static int
xf_multipart_body(const kong_xform_t *x, const xf_env_t *env,
    kong_xform_arena_t *a, const char *ctype, size_t ctype_len,
    const char *body, size_t len, const char **out, size_t *out_len)
{
    int               rc, changed;
    char             *enc;
    long              k;
    size_t            i, vl, blen, size, olen;
    kong_mp_t        *mp;
    const char       *v, *b, *n, *ov;
    const xf_item_t  *it;

    if (!kong_mp_boundary(ctype, ctype_len, &b, &blen)) {
        b = NULL;
        blen = 0;
    }

    mp = kong_mp_parse(body != NULL ? body : "", len, b, blen);
    if (mp == NULL) {
        return -1;
    }

    changed = 0;
    rc = 0;

    for (i = 0; len > 0 && i < XF_ITEMS(KONG_XFORM_RENAME).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_RENAME).items[i];
        rc = xf_render(a, env, it, &v, &vl);
        if (rc < 0) {
            goto failed;
        }
        k = kong_mp_find(mp, it->name, it->name_len);
        if (rc == 0 || k < 0) {
            continue;
        }
        (void) kong_mp_part(mp, (size_t) k, &n, &size, &ov, &olen);
        if (kong_mp_set(mp, v, vl, ov, olen) != 0) {
            goto failed;
        }
        kong_mp_delete(mp, it->name, it->name_len);
        changed = 1;
    }

    for (i = 0; len > 0 && i < XF_ITEMS(KONG_XFORM_REMOVE).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_REMOVE).items[i];
        kong_mp_delete(mp, it->name, it->name_len);
        changed = 1;
    }

    for (i = 0; len > 0 && i < XF_ITEMS(KONG_XFORM_REPLACE).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_REPLACE).items[i];
        rc = xf_render(a, env, it, &v, &vl);
        if (rc < 0) {
            goto failed;
        }
        if (rc == 0 || kong_mp_find(mp, it->name, it->name_len) < 0) {
            continue;
        }
        kong_mp_delete(mp, it->name, it->name_len);
        if (kong_mp_set(mp, it->name, it->name_len, v, vl) != 0) {
            goto failed;
        }
        changed = 1;
    }

    for (i = 0; i < XF_ITEMS(KONG_XFORM_ADD).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_ADD).items[i];
        rc = xf_render(a, env, it, &v, &vl);
        if (rc < 0) {
            goto failed;
        }
        if (rc == 0 || kong_mp_find(mp, it->name, it->name_len) >= 0) {
            continue;
        }
        if (kong_mp_set(mp, it->name, it->name_len, v, vl) != 0) {
            goto failed;
        }
        changed = 1;
    }

    if (!changed) {
        kong_mp_free(mp);
        return 0;
    }

    size = kong_mp_encoded_size(mp);
    enc = xf_alloc(a, size + 1);
    if (enc == NULL) {
        goto failed;
    }
    kong_mp_encode(mp, enc);
    enc[size] = '\0';
    kong_mp_free(mp);

    *out = enc;
    *out_len = size;
    return 1;

failed:

    kong_mp_free(mp);
    return -1;
}


int
xf_request_body(const kong_xform_t *x, const xf_env_t *env,
    kong_xform_arena_t *a, const char *ctype, size_t ctype_len,
    const char *body, size_t len, const char **out, size_t *out_len)
{
    int          rc, json;
    char        *ct, *enc;
    size_t       i;
    xf_table_t   t;

    ct = xf_dup(a, ctype, ctype_len);
    if (ct == NULL) {
        return -1;
    }
    for (i = 0; i < ctype_len; i++) {
        ct[i] = (char) tolower((unsigned char) ct[i]);
    }

    if (strstr(ct, "application/json") != NULL) {
        json = 1;
    } else if (strstr(ct, "multipart/form-data") != NULL) {
        return xf_multipart_body(x, env, a, ctype, ctype_len, body, len, out,
                                 out_len);
    } else if (strstr(ct, "application/x-www-form-urlencoded") != NULL) {
        json = 0;
    } else {
        return 0;
    }

    memset(&t, 0, sizeof(t));
    t.a = a;

    if (json && len > 0) {
        rc = xf_json_members(&t, body, len);
        if (rc == -2) {
            return -1;
        }
        if (rc == -1) {
            return 0;                   /* not a JSON object: untouched */
        }

    } else if (!json && xf_args_parse(&t, body, len) != 0) {
        return -1;
    }

    rc = xf_body_ops(x, env, a, &t, json, len);
    if (rc <= 0) {
        return rc;
    }

    enc = json ? xf_json_encode(&t, out_len) : xf_args_encode(&t, out_len);
    if (enc == NULL) {
        return -1;
    }
    *out = enc;
    return 1;
}


/* ---- response bodies ------------------------------------------------- */

/*
 * A configured value as body_transformer.lua makes it: cjson.encode(v)
 * with the quotes and the escaping of '"' and '/' taken off again (so
 * other escapes stay doubled), then cast by json_types.  0: nil.
 */
static int
xf_resp_value(kong_xform_arena_t *a, const xf_item_t *it, xf_val_t *v)
{
    char        *esc, *out, *end;
    size_t       n, i, k;
    double       d;
    const char  *s;

    if (!it->has_value) {
        return 0;
    }

    esc = xf_json_escape(a, it->segs[0].text, it->segs[0].len, &n);
    if (esc == NULL || (out = xf_alloc(a, n + 1)) == NULL) {
        return -1;
    }
    for (i = 0, k = 0; i < n; i++) {
        if (esc[i] == '\\' && i + 1 < n && (esc[i + 1] == '"'
                                            || esc[i + 1] == '/'))
        {
            continue;
        }
        out[k++] = esc[i];
    }
    out[k] = '\0';

    switch (it->json_type) {

    case XF_TYPE_NUMBER:
        s = out;
        d = strtod(s, &end);
        while (isspace((unsigned char) *end)) {
            end++;
        }
        if (end == s || *end != '\0' || !isfinite(d)) {
            return 0;                   /* tonumber() gave nil */
        }
        v->s = out = xf_alloc(a, 32);
        if (out == NULL) {
            return -1;
        }
        v->len = (size_t) snprintf(out, 32, "%.14g", d);
        v->kind = XF_RAW;
        return 1;

    case XF_TYPE_BOOLEAN:
        v->s = strcmp(out, "true") == 0 ? "true" : "false";
        v->len = strlen(v->s);
        v->kind = XF_RAW;
        return 1;

    default:
        v->s = out;
        v->len = k;
        v->kind = XF_STR;
        return 1;
    }
}


int
kong_xform_response_body(const kong_xform_t *x, const char *body,
    size_t len, kong_xform_out_t *out)
{
    int                  rc;
    size_t               i;
    xf_val_t             v;
    xf_table_t           t;
    xf_entry_t          *e, *ne;
    const xf_item_t     *it;
    kong_xform_arena_t  *a;

    a = xf_out_init(x, out);
    if (a == NULL) {
        return -1;
    }

    memset(&t, 0, sizeof(t));
    t.a = a;
    rc = xf_json_members(&t, body, len);
    if (rc == -1) {
        return 0;                       /* left as it is */
    }
    if (rc == -2) {
        goto nomem;
    }

    for (i = 0; i < XF_ITEMS(KONG_XFORM_REMOVE).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_REMOVE).items[i];
        e = xf_find(&t, it->name, it->name_len);
        if (e != NULL) {
            e->dead = 1;
        }
    }

    for (i = 0; i < XF_ITEMS(KONG_XFORM_RENAME).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_RENAME).items[i];
        e = xf_find(&t, it->name, it->name_len);
        if (e == NULL || !it->has_value) {
            continue;
        }
        ne = xf_find(&t, it->segs[0].text, it->segs[0].len);
        if (ne == e) {
            continue;
        }
        if (ne != NULL) {
            ne->dead = 1;
        }
        e->key = it->segs[0].text;
        e->key_len = it->segs[0].len;
        e->raw_key = NULL;
    }

    for (i = 0; i < XF_ITEMS(KONG_XFORM_REPLACE).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_REPLACE).items[i];
        rc = xf_resp_value(a, it, &v);
        if (rc < 0) {
            goto nomem;
        }
        e = xf_find(&t, it->name, it->name_len);
        if (rc == 0 || !xf_truthy(e)) {
            continue;
        }
        if (xf_set(&t, e, v.s, v.len, v.kind) != 0) {
            goto nomem;
        }
    }

    for (i = 0; i < XF_ITEMS(KONG_XFORM_ADD).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_ADD).items[i];
        rc = xf_resp_value(a, it, &v);
        if (rc < 0) {
            goto nomem;
        }
        e = xf_find(&t, it->name, it->name_len);
        if (rc == 0 || xf_truthy(e)) {
            continue;
        }
        if (e == NULL && (e = xf_add(&t, it->name, it->name_len)) == NULL) {
            goto nomem;
        }
        e->raw_key = NULL;
        if (xf_set(&t, e, v.s, v.len, v.kind) != 0) {
            goto nomem;
        }
    }

    for (i = 0; i < XF_ITEMS(KONG_XFORM_APPEND).n; i++) {
        it = &XF_ITEMS(KONG_XFORM_APPEND).items[i];
        rc = xf_resp_value(a, it, &v);
        if (rc < 0) {
            goto nomem;
        }
        if (rc == 0) {
            continue;
        }
        e = xf_find(&t, it->name, it->name_len);
        if (e == NULL && (e = xf_add(&t, it->name, it->name_len)) == NULL) {
            goto nomem;
        }
        if (xf_json_append(&t, e, v.s, v.len, v.kind) != 0) {
            goto nomem;
        }
    }

    out->body = xf_json_encode(&t, &out->body_len);
    if (out->body == NULL) {
        goto nomem;
    }
    return 0;

nomem:

    out->error = "too large";
    return -1;
}
