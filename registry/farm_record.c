/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The agent record and its JSON form.  jansson does the JSON; this file
 * only knows which fields exist, their types and their limits.
 */

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "farm_record.h"


void
farm_err(char *err, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(err, FARM_ERR_MAX, fmt, ap);
    va_end(ap);
}


void
farm_record_init(farm_record_t *r)
{
    memset(r, 0, sizeof(farm_record_t));
    r->weight = 1;
}


void
farm_record_free(farm_record_t *r)
{
    free(r->meta);
    farm_record_init(r);
}


void
farm_json_free(void *p)
{
    json_malloc_t  m;
    json_free_t    f;

    json_get_alloc_funcs(&m, &f);
    f(p);
}


static int
farm_name_char(int c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return !first && (c == '.' || c == '_' || c == '-');
}


int
farm_valid_name(const char *s, size_t len, size_t max)
{
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!farm_name_char((unsigned char) s[i], i == 0)) {
            return 0;
        }
    }

    return 1;
}


int
farm_valid_id(const char *s, size_t len)
{
    size_t  i;
    int     c;

    if (len == 0 || len > FARM_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (farm_name_char(c, i == 0)) {
            continue;
        }

        if (i > 0 && (c == ':' || c == '@')) {
            continue;
        }

        return 0;
    }

    return 1;
}


int
farm_valid_address(const char *s)
{
    unsigned char  buf[sizeof(struct in6_addr)];

    if (strlen(s) > FARM_ADDRESS_MAX) {
        return 0;
    }

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}


int
farm_record_has_cap(const farm_record_t *r, const char *cap)
{
    unsigned  i;

    for (i = 0; i < r->ncaps; i++) {
        if (strcmp(r->caps[i], cap) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
farm_record_add_cap(farm_record_t *r, const char *cap, size_t len, char *err)
{
    char  name[FARM_CAP_MAX + 1];

    if (!farm_valid_name(cap, len, FARM_CAP_MAX)) {
        farm_err(err, "caps: \"%.*s\" is not a valid capability name "
                 "(1-%d of A-Z a-z 0-9 . _ -)", (int) (len > 80 ? 80 : len),
                 cap, FARM_CAP_MAX);
        return -1;
    }

    memcpy(name, cap, len);
    name[len] = '\0';

    if (farm_record_has_cap(r, name)) {
        return 0;
    }

    if (r->ncaps == FARM_CAPS_MAX) {
        farm_err(err, "caps: more than %d capabilities", FARM_CAPS_MAX);
        return -1;
    }

    memcpy(r->caps[r->ncaps++], name, len + 1);

    return 0;
}


int
farm_record_add_caps(farm_record_t *r, const char *list, char *err)
{
    const char  *p, *end;

    p = list;

    while (*p) {
        end = strchr(p, ',');
        if (end == NULL) {
            end = p + strlen(p);
        }

        if (end > p && farm_record_add_cap(r, p, end - p, err) != 0) {
            return -1;
        }

        p = *end ? end + 1 : end;
    }

    return 0;
}


static int
farm_meta_from_json(farm_record_t *r, json_t *meta, char *err)
{
    char  *text, *copy;

    if (!json_is_object(meta)) {
        farm_err(err, "meta: must be an object");
        return -1;
    }

    /* an empty object is no meta: Consul's form cannot tell them apart */

    if (json_object_size(meta) == 0) {
        free(r->meta);
        r->meta = NULL;
        return 0;
    }

    text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        farm_err(err, "meta: out of memory");
        return -1;
    }

    if (strlen(text) > FARM_META_MAX) {
        farm_err(err, "meta: longer than %d bytes", FARM_META_MAX);
        farm_json_free(text);
        return -1;
    }

    /* r->meta is malloc'd: text is jansson's, maybe from an arena */

    copy = strdup(text);
    farm_json_free(text);

    if (copy == NULL) {
        farm_err(err, "meta: out of memory");
        return -1;
    }

    free(r->meta);
    r->meta = copy;

    return 0;
}


int
farm_record_set_meta(farm_record_t *r, const char *json, char *err)
{
    int           rc;
    json_t       *meta;
    json_error_t  jerr;

    meta = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (meta == NULL) {
        farm_err(err, "meta: invalid JSON: %s", jerr.text);
        return -1;
    }

    rc = farm_meta_from_json(r, meta, err);
    json_decref(meta);

    return rc;
}


/*
 * Copies a string field into dst (dst_size bytes).  Returns 1 if the field
 * was present and valid, 0 if absent (dst left alone), -1 on error.
 */
static int
farm_get_string(json_t *obj, const char *key, char *dst, size_t max, int kind,
    char *err)
{
    json_t      *v;
    size_t       len;
    const char  *s;

    v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (!json_is_string(v)) {
        farm_err(err, "%s: must be a string", key);
        return -1;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (kind == 'a') {
        if (len > max || strlen(s) != len || !farm_valid_address(s)) {
            farm_err(err, "%s: \"%.*s\" is not an IPv4 or IPv6 address",
                     key, (int) (len > 64 ? 64 : len), s);
            return -1;
        }

    } else if (kind == 'i') {
        if (!farm_valid_id(s, len)) {
            farm_err(err, "%s: must be 1-%d of A-Z a-z 0-9 . _ - : @, "
                     "starting with a letter or digit", key, FARM_ID_MAX);
            return -1;
        }

    } else if (len > 0 || kind != 'r') {
        if (!farm_valid_name(s, len, max)) {
            farm_err(err, "%s: must be 1-%d of A-Z a-z 0-9 . _ -, "
                     "starting with a letter or digit", key, (int) max);
            return -1;
        }
    }

    memcpy(dst, s, len);
    dst[len] = '\0';

    return 1;
}


/* Like farm_get_string for integers in [min, max]. */
static int
farm_get_uint(json_t *obj, const char *key, unsigned *dst, json_int_t min,
    json_int_t max, char *err)
{
    json_t      *v;
    json_int_t   n;

    v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    n = json_is_integer(v) ? json_integer_value(v) : min - 1;

    if (n < min || n > max) {
        farm_err(err, "%s: must be an integer from %lld to %lld",
                 key, (long long) min, (long long) max);
        return -1;
    }

    *dst = (unsigned) n;

    return 1;
}


static int
farm_record_from_json(farm_record_t *r, json_t *root, char *err)
{
    json_t   *v, *cap;
    size_t    i;

    if (!json_is_object(root)) {
        farm_err(err, "record: must be a JSON object");
        return -1;
    }

    switch (farm_get_string(root, "id", r->id, FARM_ID_MAX, 'i', err)) {
    case -1:
        return -1;
    case 0:
        farm_err(err, "id: missing");
        return -1;
    }

    switch (farm_get_string(root, "service", r->service, FARM_SERVICE_MAX,
                            'n', err))
    {
    case -1:
        return -1;
    case 0:
        farm_err(err, "service: missing");
        return -1;
    }

    switch (farm_get_string(root, "address", r->address, FARM_ADDRESS_MAX,
                            'a', err))
    {
    case -1:
        return -1;
    case 0:
        farm_err(err, "address: missing");
        return -1;
    }

    switch (farm_get_uint(root, "port", &r->port, 1, 65535, err)) {
    case -1:
        return -1;
    case 0:
        farm_err(err, "port: missing");
        return -1;
    }

    if (farm_get_uint(root, "weight", &r->weight, 1, FARM_WEIGHT_MAX, err)
        < 0)
    {
        return -1;
    }

    if (farm_get_string(root, "region", r->region, FARM_REGION_MAX, 'r', err)
        < 0)
    {
        return -1;
    }

    if (farm_get_uint(root, "max_conns", &r->max_conns, 0,
                      FARM_MAX_CONNS_MAX, err) < 0)
    {
        return -1;
    }

    v = json_object_get(root, "backup");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            farm_err(err, "backup: must be true or false");
            return -1;
        }
        r->backup = json_is_true(v);
    }

    v = json_object_get(root, "caps");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_array(v)) {
            farm_err(err, "caps: must be an array of strings");
            return -1;
        }

        json_array_foreach(v, i, cap) {
            if (!json_is_string(cap)) {
                farm_err(err, "caps[%zu]: must be a string", i);
                return -1;
            }

            if (farm_record_add_cap(r, json_string_value(cap),
                                    json_string_length(cap), err) != 0)
            {
                return -1;
            }
        }
    }

    v = json_object_get(root, "ts");
    if (v != NULL && !json_is_null(v)) {
        r->ts = json_is_integer(v) ? json_integer_value(v) : 0;

        if (r->ts < 1 || r->ts > FARM_TS_MAX) {
            farm_err(err, "ts: must be an integer from 1 to %lld "
                     "(Unix time in milliseconds)", (long long) FARM_TS_MAX);
            return -1;
        }
    }

    v = json_object_get(root, "meta");
    if (v != NULL && !json_is_null(v)) {
        if (farm_meta_from_json(r, v, err) != 0) {
            return -1;
        }
    }

    return 0;
}


int
farm_record_parse(farm_record_t *r, const char *json, size_t len, char *err)
{
    int           rc;
    json_t       *root;
    json_error_t  jerr;

    farm_record_init(r);

    if (err) {
        err[0] = '\0';
    }

    if (len > FARM_RECORD_MAX) {
        farm_err(err, "record: %zu bytes, more than the %d allowed",
                 len, FARM_RECORD_MAX);
        return -1;
    }

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        farm_err(err, "record: invalid JSON at line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return -1;
    }

    rc = farm_record_from_json(r, root, err);
    json_decref(root);

    if (rc != 0) {
        farm_record_free(r);
    }

    return rc;
}


int
farm_record_validate(const farm_record_t *r, char *err)
{
    unsigned  i;

    if (!farm_valid_id(r->id, strlen(r->id))) {
        farm_err(err, "id: \"%s\" must be 1-%d of A-Z a-z 0-9 . _ - : @, "
                 "starting with a letter or digit", r->id, FARM_ID_MAX);
        return -1;
    }

    if (!farm_valid_name(r->service, strlen(r->service), FARM_SERVICE_MAX)) {
        farm_err(err, "service: \"%s\" must be 1-%d of A-Z a-z 0-9 . _ -",
                 r->service, FARM_SERVICE_MAX);
        return -1;
    }

    if (!farm_valid_address(r->address)) {
        farm_err(err, "address: \"%s\" is not an IPv4 or IPv6 address",
                 r->address);
        return -1;
    }

    if (r->port < 1 || r->port > 65535) {
        farm_err(err, "port: must be an integer from 1 to 65535");
        return -1;
    }

    if (r->weight < 1 || r->weight > FARM_WEIGHT_MAX) {
        farm_err(err, "weight: must be an integer from 1 to %d",
                 FARM_WEIGHT_MAX);
        return -1;
    }

    if (r->region[0]
        && !farm_valid_name(r->region, strlen(r->region), FARM_REGION_MAX))
    {
        farm_err(err, "region: \"%s\" must be 1-%d of A-Z a-z 0-9 . _ -",
                 r->region, FARM_REGION_MAX);
        return -1;
    }

    if (r->max_conns > FARM_MAX_CONNS_MAX) {
        farm_err(err, "max_conns: must be an integer from 0 to %d",
                 FARM_MAX_CONNS_MAX);
        return -1;
    }

    if (r->ts < 0 || r->ts > FARM_TS_MAX) {
        farm_err(err, "ts: must be an integer from 1 to %lld "
                 "(Unix time in milliseconds)", (long long) FARM_TS_MAX);
        return -1;
    }

    if (r->ncaps > FARM_CAPS_MAX) {
        farm_err(err, "caps: more than %d capabilities", FARM_CAPS_MAX);
        return -1;
    }

    for (i = 0; i < r->ncaps; i++) {
        if (!farm_valid_name(r->caps[i], strlen(r->caps[i]), FARM_CAP_MAX)) {
            farm_err(err, "caps[%u]: \"%s\" is not a valid capability name",
                     i, r->caps[i]);
            return -1;
        }
    }

    return 0;
}


char *
farm_record_to_json(const farm_record_t *r)
{
    int        rc;
    char      *text;
    json_t    *root, *caps, *meta;
    unsigned   i;

    root = json_object();
    caps = json_array();

    if (root == NULL || caps == NULL) {
        json_decref(root);
        json_decref(caps);
        return NULL;
    }

    rc = 0;

    for (i = 0; i < r->ncaps; i++) {
        rc |= json_array_append_new(caps, json_string(r->caps[i]));
    }

    /* json_object_set_new() takes the value even when it fails */

    rc |= json_object_set_new(root, "id", json_string(r->id));
    rc |= json_object_set_new(root, "service", json_string(r->service));
    rc |= json_object_set_new(root, "address", json_string(r->address));
    rc |= json_object_set_new(root, "port", json_integer(r->port));
    rc |= json_object_set_new(root, "weight", json_integer(r->weight));
    rc |= json_object_set_new(root, "region", json_string(r->region));
    rc |= json_object_set_new(root, "caps", caps);
    rc |= json_object_set_new(root, "max_conns", json_integer(r->max_conns));
    rc |= json_object_set_new(root, "backup", json_boolean(r->backup));

    if (r->ts > 0) {
        rc |= json_object_set_new(root, "ts", json_integer(r->ts));
    }

    if (r->meta) {
        meta = json_loads(r->meta, 0, NULL);
        rc |= (meta == NULL) | json_object_set_new(root, "meta", meta);
    }

    text = rc ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);

    return text;
}


char *
farm_record_to_json_now(const farm_record_t *r)
{
    farm_record_t    stamped;
    struct timespec  now;

    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
        return farm_record_to_json(r);
    }

    /* a shallow copy: farm_record_to_json only reads meta */

    stamped = *r;
    stamped.ts = (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;

    return farm_record_to_json(&stamped);
}
