/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Internals shared by kong_xform.c and kong_xform_body.c: the per-call
 * arena, the ordered multi-value table that stands for Kong's Lua tables
 * (headers, query arguments, form and JSON bodies), compiled items.
 */

#ifndef KONG_XFORM_INT_H
#define KONG_XFORM_INT_H

#include "kong_xform.h"


/* ---- arena: every allocation of one call, freed at once, bounded ---- */

kong_xform_arena_t *xf_arena_new(size_t limit);

/* Clears out and gives it a new arena; NULL with out->error on failure. */
kong_xform_arena_t *xf_out_init(const kong_xform_t *x, kong_xform_out_t *out);
void *xf_alloc(kong_xform_arena_t *a, size_t size);
char *xf_dup(kong_xform_arena_t *a, const char *s, size_t len);


/* ---- values and tables ----------------------------------------------- */

#define XF_STR    0     /* a decoded string */
#define XF_BARE   1     /* a bare query argument: Lua's true */
#define XF_RAW    2     /* JSON text, kept byte for byte */

typedef struct {
    const char             *s;
    size_t                  len;
    int                     kind;
} xf_val_t;

typedef struct {
    const char             *key;     /* as written (headers: original case) */
    size_t                  key_len;
    const char             *raw_key; /* JSON: the key's text with quotes */
    size_t                  raw_key_len;
    xf_val_t               *vals;
    size_t                  n;
    size_t                  cap;
    int                     array;   /* append made it a list */
    int                     dead;
} xf_entry_t;

typedef struct {
    xf_entry_t             *e;
    size_t                  n;
    size_t                  cap;
    int                     headers;  /* names without case, "_" as "-" */
    kong_xform_arena_t     *a;
} xf_table_t;

xf_entry_t *xf_find(xf_table_t *t, const char *key, size_t len);
xf_entry_t *xf_add(xf_table_t *t, const char *key, size_t len);
int xf_push(xf_table_t *t, xf_entry_t *e, const char *s, size_t len,
    int kind);
int xf_set(xf_table_t *t, xf_entry_t *e, const char *s, size_t len,
    int kind);


/* ---- compiled configuration ------------------------------------------ */

#define XF_T_LIT        0
#define XF_T_HEADER     1
#define XF_T_QUERY      2
#define XF_T_CAP_INDEX  3
#define XF_T_CAP_NAME   4

typedef struct {
    int                     kind;
    char                   *s;
    size_t                  len;
    long                    index;
} xf_term_t;

typedef struct {
    char                   *text;     /* literal text, or NULL */
    size_t                  len;
    xf_term_t              *terms;    /* alternatives ("or") */
    size_t                  nterms;
} xf_seg_t;

#define XF_TYPE_STRING   0
#define XF_TYPE_NUMBER   1
#define XF_TYPE_BOOLEAN  2

typedef struct {
    char                   *name;
    size_t                  name_len;
    int                     has_value;
    xf_seg_t               *segs;
    size_t                  nsegs;
    int                     json_type;
} xf_item_t;

typedef struct {
    xf_item_t              *items;
    size_t                  n;
} xf_items_t;

struct kong_xform_s {
    int                     which;
    xf_items_t              ops[KONG_XFORM_NOPS][KONG_XFORM_NTARGETS];
    char                   *http_method;
    xf_item_t              *uri;
    size_t                  max_mem;
};


/* The template environment: the request as it arrived. */
typedef struct {
    xf_table_t             *headers;
    xf_table_t             *query;
    const kong_xform_capture_t *captures;
    size_t                  ncaptures;
} xf_env_t;

/* Renders item's value: 1 with *s / *len (in the arena), 0 when the item
 * has no value (Kong's nil), -1 on allocation failure. */
int xf_render(kong_xform_arena_t *a, const xf_env_t *env,
    const xf_item_t *item, const char **s, size_t *len);

/* Renders it into v / vl, setting rc; returns -1 from the caller on an
 * allocation failure (the caller declares a, env, rc, v and vl). */
#define XF_RENDER(it)                                                       \
    do {                                                                    \
        rc = xf_render(a, env, (it), &v, &vl);                              \
        if (rc < 0) {                                                       \
            return -1;                                                      \
        }                                                                   \
    } while (0)

/* Parses an x-www-form-urlencoded string into t (decoded, in order). */
int xf_args_parse(xf_table_t *t, const char *s, size_t len);

/* Encodes t as ngx.encode_args does, in order; NULL on failure. */
char *xf_args_encode(xf_table_t *t, size_t *len);

/* Kong's append_value(old, v) on an entry of a non-JSON table. */
int xf_append(xf_table_t *t, xf_entry_t *e, const char *s, size_t len);

/* The request body (kong_xform_body.c): 1 changed (*body), 0 unchanged,
 * -1 on failure. */
int xf_request_body(const kong_xform_t *x, const xf_env_t *env,
    kong_xform_arena_t *a, const char *ctype, size_t ctype_len,
    const char *body, size_t len, const char **out, size_t *out_len);

/* lua-cjson's string escaping, into the arena (without quotes). */
char *xf_json_escape(kong_xform_arena_t *a, const char *s, size_t len,
    size_t *out_len);

#endif /* KONG_XFORM_INT_H */
