/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * request-transformer and response-transformer: the configuration, checked
 * as Kong's schemas do, and the templates, compiled and rendered
 * (kong_xform.h).
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kong_xform_int.h"


static const char *const  xf_op_names[] = {
    "remove", "rename", "replace", "add", "append"
};
static const char *const  xf_req_targets[] = {
    "headers", "querystring", "body"
};
static const char *const  xf_resp_targets[] = {
    "headers", "json", "json"
};


/* ---- configuration and templates ------------------------------------- */

static int
xf_ident(int c, int first)
{
    return isalpha(c) || c == '_' || (!first && isdigit(c));
}


/* A Lua string literal at s ('...' or "..."), its escapes \\ \" \' \n \t
 * decoded; returns the length consumed or 0. */
static size_t
xf_lua_string(const char *s, size_t len, char *out, size_t *out_len)
{
    size_t  i, n;
    char    q;

    if (len < 2 || (s[0] != '"' && s[0] != '\'')) {
        return 0;
    }

    q = s[0];
    n = 0;
    for (i = 1; i < len; i++) {
        if (s[i] == q) {
            *out_len = n;
            return i + 1;
        }
        if (s[i] == '\n') {
            return 0;
        }
        if (s[i] == '\\') {
            if (++i == len) {
                return 0;
            }
            switch (s[i]) {
            case 'n':  out[n++] = '\n'; break;
            case 't':  out[n++] = '\t'; break;
            case '\\': case '"': case '\'':
                out[n++] = s[i]; break;
            default:
                return 0;
            }
            continue;
        }
        out[n++] = s[i];
    }

    return 0;
}


static size_t
xf_skip_space(const char *s, size_t i, size_t len)
{
    while (i < len && isspace((unsigned char) s[i])) {
        i++;
    }
    return i;
}


/* One alternative of an expression: a table lookup or a string literal. */
static size_t
xf_term(const char *s, size_t len, xf_term_t *t)
{
    size_t       i, k, n, nl = 0;
    const char  *tables[] = { "headers", "query_params", "uri_captures" };
    int          kinds[] = { XF_T_HEADER, XF_T_QUERY, XF_T_CAP_NAME };
    char        *end;

    t->s = malloc(len + 1);
    if (t->s == NULL) {
        return 0;
    }

    n = xf_lua_string(s, len, t->s, &t->len);
    if (n) {
        t->kind = XF_T_LIT;
        return n;
    }

    for (k = 0; k < 3; k++) {
        nl = strlen(tables[k]);
        if (len > nl && memcmp(s, tables[k], nl) == 0
            && !xf_ident((unsigned char) s[nl], 0))
        {
            break;
        }
    }
    if (k == 3) {
        return 0;
    }

    t->kind = kinds[k];
    i = xf_skip_space(s, nl, len);

    if (i < len && s[i] == '.') {
        i = xf_skip_space(s, i + 1, len);
        for (n = i; n < len && xf_ident((unsigned char) s[n], n == i); n++) {
            /* void */
        }
        if (n == i) {
            return 0;
        }
        memcpy(t->s, s + i, n - i);
        t->len = n - i;
        return n;
    }

    if (i < len && s[i] == '[') {
        i = xf_skip_space(s, i + 1, len);
        n = xf_lua_string(s + i, len - i, t->s, &t->len);
        if (n == 0) {
            if (k != 2 || i >= len || !isdigit((unsigned char) s[i])) {
                return 0;
            }
            t->index = strtol(s + i, &end, 10);
            n = (size_t) (end - (s + i));
            t->kind = XF_T_CAP_INDEX;
        }
        i = xf_skip_space(s, i + n, len);
        if (i >= len || s[i] != ']') {
            return 0;
        }
        return i + 1;
    }

    return 0;
}


/* Parses EXPR of "$(EXPR)": terms joined by "or". */
static int
xf_expr(const char *s, size_t len, xf_seg_t *seg)
{
    size_t  i, n;

    seg->terms = calloc(len / 2 + 1, sizeof(xf_term_t));
    if (seg->terms == NULL) {
        return -1;
    }

    i = xf_skip_space(s, 0, len);
    for ( ;; ) {
        n = xf_term(s + i, len - i, &seg->terms[seg->nterms]);
        seg->nterms++;
        if (n == 0) {
            return -1;
        }
        i = xf_skip_space(s, i + n, len);
        if (i == len) {
            return 0;
        }
        if (len - i < 3 || memcmp(s + i, "or", 2) != 0
            || !isspace((unsigned char) s[i + 2]))
        {
            return -1;
        }
        i = xf_skip_space(s, i + 2, len);
        if (seg->nterms == len / 2 + 1) {
            return -1;
        }
    }
}


static void
xf_item_free(xf_item_t *it)
{
    size_t  i, k;

    free(it->name);
    for (i = 0; i < it->nsegs; i++) {
        free(it->segs[i].text);
        for (k = 0; k < it->segs[i].nterms; k++) {
            free(it->segs[i].terms[k].s);
        }
        free(it->segs[i].terms);
    }
    free(it->segs);
}


/*
 * Compiles a template: literal text and $(EXPR) parts, the parentheses
 * balanced as Penlight's %b() finds them.  Returns 0, or -1 with err.
 */
static int
xf_template(xf_item_t *it, const char *v, size_t len, char *err,
    size_t err_size)
{
    int      depth;
    size_t   i, j, start;
    xf_seg_t *seg;

    it->segs = calloc(len + 1, sizeof(xf_seg_t));
    if (it->segs == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }

    start = 0;
    for (i = 0; i < len; i++) {
        if (v[i] != '$' || i + 1 >= len || v[i + 1] != '(') {
            continue;
        }

        depth = 0;
        for (j = i + 1; j < len; j++) {
            if (v[j] == '(') {
                depth++;
            } else if (v[j] == ')' && --depth == 0) {
                break;
            }
        }
        if (j == len) {
            continue;                   /* unbalanced: literal text */
        }

        if (i > start) {
            seg = &it->segs[it->nsegs++];
            seg->text = strndup(v + start, i - start);
            seg->len = i - start;
            if (seg->text == NULL) {
                snprintf(err, err_size, "out of memory");
                return -1;
            }
        }

        seg = &it->segs[it->nsegs++];
        if (xf_expr(v + i + 2, j - i - 2, seg) != 0) {
            snprintf(err, err_size, "value '%.*s' is not in supported "
                     "format, error: this gateway renders only headers.N, "
                     "headers[\"N\"], query_params.N, query_params[\"N\"], "
                     "uri_captures[I], uri_captures.N, uri_captures[\"N\"] "
                     "and string literals, joined by 'or'", (int) len, v);
            return -1;
        }

        start = j + 1;
        i = j;
    }

    if (start < len) {
        seg = &it->segs[it->nsegs++];
        seg->text = strndup(v + start, len - start);
        seg->len = len - start;
        if (seg->text == NULL) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
    }

    return 0;
}


static int
xf_header_name(const char *s, size_t len)
{
    size_t  i;

    if (len == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!isalnum((unsigned char) s[i]) && s[i] != '-' && s[i] != '_') {
            return 0;
        }
    }
    return 1;
}


/*
 * One "name:value" item, split as Kong's ^([^:]+):*(.-)$ does, checked as
 * the op and target's schema wants.
 */
static int
xf_item(xf_item_t *it, const char *s, int which, int op, int target,
    char *err, size_t err_size)
{
    size_t       n, len, vlen;
    const char  *v, *where;

    len = strlen(s);
    where = which == KONG_XFORM_REQUEST ? xf_req_targets[target]
                                        : xf_resp_targets[target];

    for (n = 0; n < len && s[n] != ':'; n++) { /* void */ }
    if (n == 0) {
        snprintf(err, err_size, "config.%s.%s: invalid value: %s",
                 xf_op_names[op], where, s);
        return -1;
    }

    v = s + n;
    while (*v == ':') {
        v++;
    }
    vlen = len - (size_t) (v - s);

    it->name = strndup(s, n);
    it->name_len = n;
    if (it->name == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }

    if (target == KONG_XFORM_HEADERS) {
        if (op != KONG_XFORM_REMOVE && n == len) {
            snprintf(err, err_size, "config.%s.%s: invalid value: %s",
                     xf_op_names[op], where, s);
            return -1;
        }
        if (!xf_header_name(s, n)) {
            snprintf(err, err_size, "config.%s.%s: '%.*s' is not a valid "
                     "header", xf_op_names[op], where, (int) n, s);
            return -1;
        }
        if (op == KONG_XFORM_RENAME && !xf_header_name(v, vlen)) {
            snprintf(err, err_size, "config.%s.%s: '%.*s' is not a valid "
                     "header", xf_op_names[op], where, (int) vlen, v);
            return -1;
        }

    } else if (op != KONG_XFORM_REMOVE && vlen == 0) {
        snprintf(err, err_size, "config.%s.%s: key '%.*s' has no value",
                 xf_op_names[op], where, (int) n, s);
        return -1;
    }

    if (vlen == 0) {
        return 0;
    }

    it->has_value = 1;

    /* the response-transformer has no templates */
    if (which == KONG_XFORM_RESPONSE) {
        it->segs = calloc(1, sizeof(xf_seg_t));
        if (it->segs == NULL || (it->segs[0].text = strndup(v, vlen)) == NULL)
        {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
        it->segs[0].len = vlen;
        it->nsegs = 1;
        return 0;
    }

    if (xf_template(it, v, vlen, err, err_size) != 0) {
        return -1;
    }

    return 0;
}


void
kong_xform_free(kong_xform_t *x)
{
    size_t  op, t, i;

    if (x == NULL) {
        return;
    }

    for (op = 0; op < KONG_XFORM_NOPS; op++) {
        for (t = 0; t < KONG_XFORM_NTARGETS; t++) {
            for (i = 0; i < x->ops[op][t].n; i++) {
                xf_item_free(&x->ops[op][t].items[i]);
            }
            free(x->ops[op][t].items);
        }
    }

    if (x->uri != NULL) {
        xf_item_free(x->uri);
        free(x->uri);
    }
    free(x->http_method);
    free(x);
}


kong_xform_t *
kong_xform_create(const kong_xform_conf_t *conf, int which, char *err,
    size_t err_size)
{
    size_t                    op, t, i;
    const char               *ty, *s;
    kong_xform_t             *x;
    const kong_xform_list_t  *l;

    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    x->which = which;
    x->max_mem = conf->max_mem;

    for (op = 0; op < KONG_XFORM_NOPS; op++) {
        for (t = 0; t < KONG_XFORM_NTARGETS; t++) {
            l = &conf->items[op][t];
            if (l->n == 0) {
                continue;
            }
            if (t == KONG_XFORM_QUERY && which == KONG_XFORM_RESPONSE) {
                snprintf(err, err_size, "config.%s: unknown field",
                         xf_op_names[op]);
                goto fail;
            }

            x->ops[op][t].items = calloc(l->n, sizeof(xf_item_t));
            if (x->ops[op][t].items == NULL) {
                snprintf(err, err_size, "out of memory");
                goto fail;
            }

            for (i = 0; i < l->n; i++) {
                x->ops[op][t].n++;
                if (xf_item(&x->ops[op][t].items[i], l->items[i], which,
                            (int) op, (int) t, err, err_size) != 0)
                {
                    goto fail;
                }
            }
        }

        /* json_types[i] types the i-th json item of the op */
        l = &conf->json_types[op];
        for (i = 0; which == KONG_XFORM_RESPONSE && i < l->n; i++) {
            ty = l->items[i];
            if (strcmp(ty, "string") != 0 && strcmp(ty, "number") != 0
                && strcmp(ty, "boolean") != 0)
            {
                snprintf(err, err_size, "config.%s.json_types: expected one "
                         "of: boolean, number, string", xf_op_names[op]);
                goto fail;
            }
            if (i < x->ops[op][KONG_XFORM_BODY].n) {
                x->ops[op][KONG_XFORM_BODY].items[i].json_type =
                    ty[0] == 'n' ? XF_TYPE_NUMBER
                    : ty[0] == 'b' ? XF_TYPE_BOOLEAN : XF_TYPE_STRING;
            }
        }
    }

    if (conf->http_method != NULL && which == KONG_XFORM_REQUEST) {
        for (s = conf->http_method; *s; s++) {
            if (!isupper((unsigned char) *s)) {
                break;
            }
        }
        if (*s || s == conf->http_method) {
            snprintf(err, err_size, "config.http_method: invalid value: %s",
                     conf->http_method);
            goto fail;
        }
        x->http_method = strdup(conf->http_method);
        if (x->http_method == NULL) {
            snprintf(err, err_size, "out of memory");
            goto fail;
        }
    }

    if (conf->replace_uri != NULL && conf->replace_uri[0] != '\0'
        && which == KONG_XFORM_REQUEST)
    {
        x->uri = calloc(1, sizeof(xf_item_t));
        if (x->uri == NULL) {
            snprintf(err, err_size, "out of memory");
            goto fail;
        }
        x->uri->has_value = 1;
        if (xf_template(x->uri, conf->replace_uri, strlen(conf->replace_uri),
                        err, err_size) != 0)
        {
            goto fail;
        }
    }

    return x;

fail:

    kong_xform_free(x);
    return NULL;
}


/* ---- rendering ------------------------------------------------------- */

/* The first value of a term, as Lua would find it; 0 for nil. */
static int
xf_term_value(const xf_env_t *env, const xf_term_t *t, const char **s,
    size_t *len)
{
    size_t       i;
    xf_entry_t  *e;

    switch (t->kind) {

    case XF_T_LIT:
        *s = t->s;
        *len = t->len;
        return 1;

    case XF_T_HEADER:
    case XF_T_QUERY:
        e = xf_find(t->kind == XF_T_HEADER ? env->headers : env->query,
                    t->s, t->len);
        if (e == NULL || e->n == 0) {
            return 0;
        }
        if (e->vals[0].kind == XF_BARE) {
            *s = "true";                /* tostring(true) */
            *len = 4;
        } else {
            *s = e->vals[0].s;
            *len = e->vals[0].len;
        }
        return 1;

    default:
        for (i = 0; i < env->ncaptures; i++) {
            if (t->kind == XF_T_CAP_INDEX
                ? env->captures[i].name == NULL
                  && env->captures[i].index == t->index
                : env->captures[i].name != NULL
                  && strlen(env->captures[i].name) == t->len
                  && memcmp(env->captures[i].name, t->s, t->len) == 0)
            {
                *s = env->captures[i].value;
                *len = env->captures[i].value_len;
                return 1;
            }
        }
        return 0;
    }
}


int
xf_render(kong_xform_arena_t *a, const xf_env_t *env, const xf_item_t *item,
    const char **s, size_t *len)
{
    size_t       i, k, n, total;
    char        *out;
    const char  *v[64];
    size_t       vl[64];

    if (!item->has_value) {
        return 0;
    }

    if (item->nsegs == 1 && item->segs[0].text != NULL) {
        *s = item->segs[0].text;
        *len = item->segs[0].len;
        return 1;
    }

    /* each $(...) renders its first non-nil alternative, or "" */
    total = 0;
    for (i = 0; i < item->nsegs; i++) {
        if (i < 64) {
            v[i] = "";
            vl[i] = 0;
        }
        if (item->segs[i].text != NULL) {
            total += item->segs[i].len;
            continue;
        }
        for (k = 0; k < item->segs[i].nterms; k++) {
            if (i < 64 && xf_term_value(env, &item->segs[i].terms[k], &v[i],
                                        &vl[i]))
            {
                break;
            }
        }
        total += i < 64 ? vl[i] : 0;
    }

    out = xf_alloc(a, total + 1);
    if (out == NULL) {
        return -1;
    }

    n = 0;
    for (i = 0; i < item->nsegs && i < 64; i++) {
        if (item->segs[i].text != NULL) {
            memcpy(out + n, item->segs[i].text, item->segs[i].len);
            n += item->segs[i].len;
        } else {
            memcpy(out + n, v[i], vl[i]);
            n += vl[i];
        }
    }
    out[n] = '\0';

    *s = out;
    *len = n;
    return 1;
}


