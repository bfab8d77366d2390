/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The agent record in Consul's service form, both ways (farm_consul.h).
 * jansson does the JSON; the record rules are farm_record.c's.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "farm_consul.h"


int
farm_consul_check_id(char *buf, size_t size, const char *id)
{
    int  n;

    n = snprintf(buf, size, "service:%s", id);

    return (n < 0 || (size_t) n >= size) ? -1 : n;
}


/* 1 for the Meta keys that carry record fields. */
static int
farm_consul_reserved(const char *key)
{
    return strcmp(key, "region") == 0 || strcmp(key, "max_conns") == 0
           || strcmp(key, "backup") == 0;
}


static int
farm_consul_valid_key(const char *key)
{
    size_t  i, len;
    int     c;

    len = strlen(key);

    if (len == 0 || len > FARM_CONSUL_META_KEY
        || strncmp(key, "consul-", 7) == 0)
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) key[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * A meta value as Consul Meta text: strings as they are, anything else as
 * its compact JSON.  Returns a malloc'd string, or NULL.
 */
static char *
farm_consul_meta_text(json_t *v)
{
    if (json_is_string(v)) {
        return strdup(json_string_value(v));
    }

    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}


/*
 * Copies the record's meta into obj as Consul Meta, checking Consul's
 * rules.  obj may be NULL (only check).  Returns 0 or -1 with err.
 */
static int
farm_consul_meta_put(const char *meta, json_t *obj, char *err)
{
    int           rc;
    char         *text;
    json_t       *root, *v;
    const char   *key;
    json_error_t  jerr;

    if (meta == NULL) {
        return 0;
    }

    root = json_loads(meta, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        farm_err(err, "meta: not a JSON object");
        return -1;
    }

    rc = 0;

    if (json_object_size(root) > FARM_CONSUL_META_KEYS - 4) {
        farm_err(err, "meta: more than %d keys (Consul allows %d "
                        "Meta keys, 4 of them for region, max_conns, backup "
                        "and version)", FARM_CONSUL_META_KEYS - 4,
                        FARM_CONSUL_META_KEYS);
        json_decref(root);
        return -1;
    }

    json_object_foreach(root, key, v) {

        if (!farm_consul_valid_key(key)) {
            farm_err(err, "meta: key \"%.64s\" cannot be a Consul Meta "
                            "key (1-%d of A-Z a-z 0-9 _ -, not starting with "
                            "\"consul-\")", key, FARM_CONSUL_META_KEY);
            rc = -1;
            break;
        }

        if (farm_consul_reserved(key)) {
            farm_err(err, "meta: key \"%s\" is reserved for the "
                            "record's own field in Consul Meta", key);
            rc = -1;
            break;
        }

        text = farm_consul_meta_text(v);
        if (text == NULL) {
            farm_err(err, "meta: out of memory");
            rc = -1;
            break;
        }

        if (strlen(text) > FARM_CONSUL_META_VALUE) {
            farm_err(err, "meta: the value of \"%.64s\" is longer than "
                            "the %d bytes Consul allows", key,
                            FARM_CONSUL_META_VALUE);
            free(text);
            rc = -1;
            break;
        }

        if (obj && json_object_set_new(obj, key, json_string(text)) != 0) {
            farm_err(err, "meta: out of memory");
            free(text);
            rc = -1;
            break;
        }

        free(text);
    }

    json_decref(root);

    return rc;
}


int
farm_consul_check_meta(const char *meta, char *err)
{
    return farm_consul_meta_put(meta, NULL, err);
}


/* "1500ms": Go's time.ParseDuration reads it. */
static json_t *
farm_consul_duration(int64_t ms)
{
    char  buf[32];

    snprintf(buf, sizeof(buf), "%lldms", (long long) ms);

    return json_string(buf);
}


char *
farm_consul_registration(const farm_record_t *r, const farm_consul_reg_t *reg,
    char *err)
{
    int        rc;
    char      *text;
    char       buf[32], check_id[FARM_CONSUL_CHECK_MAX];
    json_t    *root, *tags, *meta, *weights, *check;
    unsigned   i;

    if (farm_record_validate(r, err) != 0) {
        return NULL;
    }

    if (farm_consul_check_id(check_id, sizeof(check_id), r->id) < 0) {
        farm_err(err, "id: too long for a check id");
        return NULL;
    }

    root = json_object();
    tags = json_array();
    meta = json_object();
    weights = json_object();
    check = json_object();

    if (root == NULL || tags == NULL || meta == NULL || weights == NULL
        || check == NULL)
    {
        goto nomem;
    }

    if (farm_consul_meta_put(r->meta, meta, err) != 0) {
        goto failed;
    }

    rc = 0;

    for (i = 0; i < r->ncaps; i++) {
        rc |= json_array_append_new(tags, json_string(r->caps[i]));
    }

    if (r->region[0]) {
        rc |= json_object_set_new(meta, "region", json_string(r->region));
    }

    if (r->max_conns) {
        snprintf(buf, sizeof(buf), "%u", r->max_conns);
        rc |= json_object_set_new(meta, "max_conns", json_string(buf));
    }

    if (r->backup) {
        rc |= json_object_set_new(meta, "backup", json_string("true"));
    }

    if (reg->version && json_object_get(meta, "version") == NULL) {
        rc |= json_object_set_new(meta, "version", json_string(reg->version));
    }

    rc |= json_object_set_new(weights, "Passing", json_integer(r->weight));
    rc |= json_object_set_new(weights, "Warning", json_integer(1));

    rc |= json_object_set_new(check, "CheckID", json_string(check_id));
    rc |= json_object_set_new(check, "Name",
                              json_string("farm-agent heartbeat"));
    rc |= json_object_set_new(check, "TTL",
                              farm_consul_duration(reg->ttl_ms));
    rc |= json_object_set_new(check, "Status", json_string("passing"));
    rc |= json_object_set_new(check, "DeregisterCriticalServiceAfter",
                              farm_consul_duration(reg->deregister_after_ms));

    /* json_object_set_new() takes the value even when it fails */

    rc |= json_object_set_new(root, "ID", json_string(r->id));
    rc |= json_object_set_new(root, "Name", json_string(r->service));
    rc |= json_object_set_new(root, "Address", json_string(r->address));
    rc |= json_object_set_new(root, "Port", json_integer(r->port));
    rc |= json_object_set_new(root, "Tags", tags);
    rc |= json_object_set_new(root, "Meta", meta);
    rc |= json_object_set_new(root, "Weights", weights);
    rc |= json_object_set_new(root, "Check", check);

    tags = meta = weights = check = NULL;

    if (rc != 0) {
        goto nomem;
    }

    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);

    if (text == NULL) {
        farm_err(err, "out of memory");
    }

    return text;

nomem:

    farm_err(err, "out of memory");

failed:

    json_decref(root);
    json_decref(tags);
    json_decref(meta);
    json_decref(weights);
    json_decref(check);

    return NULL;
}


/* The worst status among an entry's checks (node and service). */
static int
farm_consul_health(json_t *checks)
{
    int          health;
    size_t       i;
    json_t      *c, *st;
    const char  *s;

    health = FARM_CONSUL_PASSING;

    if (!json_is_array(checks)) {
        return health;
    }

    json_array_foreach(checks, i, c) {
        st = json_object_get(c, "Status");
        s = json_is_string(st) ? json_string_value(st) : "";

        if (strcmp(s, "passing") == 0) {
            continue;
        }

        if (strcmp(s, "warning") == 0) {
            if (health == FARM_CONSUL_PASSING) {
                health = FARM_CONSUL_WARNING;
            }

            continue;
        }

        /* critical, maintenance, or anything Consul may add */
        return FARM_CONSUL_CRITICAL;
    }

    return health;
}


/* Reads an optional integer member into *out within [min, max]. */
static int
farm_consul_int(json_t *obj, const char *key, json_int_t min, json_int_t max,
    json_int_t *out)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (!json_is_integer(v) || json_integer_value(v) < min
        || json_integer_value(v) > max)
    {
        return -1;
    }

    *out = json_integer_value(v);

    return 1;
}


/* Meta.* into the record's fields and meta; 0 or -1 with err. */
static int
farm_consul_meta_get(farm_record_t *r, json_t *meta, char *err)
{
    int          rc;
    char        *text, *end;
    json_t      *rest, *v;
    size_t       len;
    const char   *key, *s;
    unsigned long  n;

    if (meta == NULL || json_is_null(meta)) {
        return 0;
    }

    if (!json_is_object(meta)) {
        farm_err(err, "Meta: must be an object");
        return -1;
    }

    rest = json_object();
    if (rest == NULL) {
        farm_err(err, "out of memory");
        return -1;
    }

    rc = 0;

    json_object_foreach(meta, key, v) {

        if (!json_is_string(v)) {
            farm_err(err, "Meta.%.64s: must be a string", key);
            rc = -1;
            break;
        }

        s = json_string_value(v);
        len = json_string_length(v);

        if (strcmp(key, "region") == 0) {
            if (len && !farm_valid_name(s, len, FARM_REGION_MAX)) {
                farm_err(err, "Meta.region: must be 1-%d of A-Z a-z "
                                "0-9 . _ -, starting with a letter or digit",
                                FARM_REGION_MAX);
                rc = -1;
                break;
            }

            memcpy(r->region, s, len + 1);
            continue;
        }

        if (strcmp(key, "max_conns") == 0) {
            n = FARM_MAX_CONNS_MAX + 1ul;
            end = NULL;

            if (len && len <= 7 && s[0] >= '0' && s[0] <= '9') {
                n = strtoul(s, &end, 10);
            }

            if (n > FARM_MAX_CONNS_MAX || end == NULL || *end != '\0') {
                farm_err(err, "Meta.max_conns: must be an integer "
                                "from 0 to %d", FARM_MAX_CONNS_MAX);
                rc = -1;
                break;
            }

            r->max_conns = (unsigned) n;
            continue;
        }

        if (strcmp(key, "backup") == 0) {
            if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0) {
                farm_err(err, "Meta.backup: must be \"true\" or "
                                "\"false\"");
                rc = -1;
                break;
            }

            r->backup = (s[0] == 't');
            continue;
        }

        if (json_object_set(rest, key, v) != 0) {
            farm_err(err, "out of memory");
            rc = -1;
            break;
        }
    }

    if (rc == 0 && json_object_size(rest) > 0) {
        text = json_dumps(rest, JSON_COMPACT | JSON_SORT_KEYS);

        if (text == NULL) {
            farm_err(err, "out of memory");
            rc = -1;

        } else {
            rc = farm_record_set_meta(r, text, err);
            farm_json_free(text);
        }
    }

    json_decref(rest);

    return rc;
}


/*
 * One health entry into a record; 0, or -1 with err.  *health is set for
 * good entries.
 */
static int
farm_consul_entry(farm_record_t *r, json_t *entry, const char *service,
    int *health, char *err)
{
    size_t       i, len;
    json_t      *node, *svc, *v, *tag, *weights;
    json_int_t   n, passing, warning;
    const char  *s;

    if (!json_is_object(entry)) {
        farm_err(err, "entry: must be a JSON object");
        return -1;
    }

    node = json_object_get(entry, "Node");
    svc = json_object_get(entry, "Service");

    if (!json_is_object(svc)) {
        farm_err(err, "Service: missing");
        return -1;
    }

    v = json_object_get(svc, "ID");
    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL || !farm_valid_id(s, len)) {
        farm_err(err, "ID: must be 1-%d of A-Z a-z 0-9 . _ - : @, "
                        "starting with a letter or digit", FARM_ID_MAX);
        return -1;
    }

    memcpy(r->id, s, len + 1);

    v = json_object_get(svc, "Service");
    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL || !farm_valid_name(s, len, FARM_SERVICE_MAX)) {
        farm_err(err, "Service: must be 1-%d of A-Z a-z 0-9 . _ -, "
                        "starting with a letter or digit", FARM_SERVICE_MAX);
        return -1;
    }

    if (service && strcmp(s, service) != 0) {
        farm_err(err, "Service: \"%s\" is not the upstream's service",
                        s);
        return -1;
    }

    memcpy(r->service, s, len + 1);

    /* an empty service address means the node's, as everywhere in Consul */

    v = json_object_get(svc, "Address");
    s = json_string_value(v);

    if (s == NULL || s[0] == '\0') {
        v = json_object_get(node, "Address");
        s = json_string_value(v);
    }

    if (s == NULL || s[0] == '\0') {
        farm_err(err, "Address: missing, in the service and its node");
        return -1;
    }

    len = json_string_length(v);

    if (len > FARM_ADDRESS_MAX || strlen(s) != len || !farm_valid_address(s)) {
        farm_err(err, "Address: \"%.64s\" is not an IPv4 or IPv6 "
                        "address", s);
        return -1;
    }

    memcpy(r->address, s, len + 1);

    n = 0;

    if (farm_consul_int(svc, "Port", 1, 65535, &n) != 1) {
        farm_err(err, "Port: must be an integer from 1 to 65535");
        return -1;
    }

    r->port = (unsigned) n;

    passing = 1;
    warning = 1;
    weights = json_object_get(svc, "Weights");

    if (weights && !json_is_null(weights)) {
        if (!json_is_object(weights)
            || farm_consul_int(weights, "Passing", 1, FARM_WEIGHT_MAX,
                               &passing) < 0)
        {
            farm_err(err, "Weights.Passing: must be an integer from 1 "
                            "to %d", FARM_WEIGHT_MAX);
            return -1;
        }

        if (farm_consul_int(weights, "Warning", 0, FARM_WEIGHT_MAX, &warning)
            < 0)
        {
            farm_err(err, "Weights.Warning: must be an integer from 0 "
                            "to %d", FARM_WEIGHT_MAX);
            return -1;
        }
    }

    v = json_object_get(svc, "Tags");

    if (v && !json_is_null(v)) {
        if (!json_is_array(v)) {
            farm_err(err, "Tags: must be an array of strings");
            return -1;
        }

        json_array_foreach(v, i, tag) {
            s = json_string_value(tag);
            len = json_string_length(tag);

            if (s == NULL || !farm_valid_name(s, len, FARM_CAP_MAX)) {
                farm_err(err, "Tags[%zu]: must be a capability name "
                                "(1-%d of A-Z a-z 0-9 . _ -)", i,
                                FARM_CAP_MAX);
                return -1;
            }

            if (farm_record_add_caps(r, s, NULL) != 0) {
                farm_err(err, "Tags: more than %d capabilities",
                                FARM_CAPS_MAX);
                return -1;
            }
        }
    }

    if (farm_consul_meta_get(r, json_object_get(svc, "Meta"), err) != 0) {
        return -1;
    }

    *health = farm_consul_health(json_object_get(entry, "Checks"));

    if (*health == FARM_CONSUL_WARNING) {
        if (warning == 0) {
            *health = FARM_CONSUL_CRITICAL;     /* Warning: 0 takes it out */

        } else {
            passing = warning;
        }
    }

    r->weight = (unsigned) passing;

    return farm_record_validate(r, err);
}


/*
 * The ids already listed in one answer, with the node of each (for the
 * message about a repeated one): open addressing over offsets into one
 * buffer of "id\0node\0" pairs.  malloc()'d, not jansson's: it outlives
 * every entry's tree.
 */
typedef struct {
    uint32_t  *slot;        /* 0: empty, else 1 + the pair's offset */
    size_t     mask;        /* slots - 1 */
    size_t     used;
    char      *str;
    size_t     len;
    size_t     size;
} farm_consul_seen_t;


static uint32_t
farm_consul_seen_hash(const char *s)
{
    uint32_t  h;

    h = 2166136261u;                        /* FNV-1a */

    while (*s) {
        h = (h ^ (unsigned char) *s++) * 16777619u;
    }

    return h;
}


/* The node an id was listed on, or NULL if it was not. */
static const char *
farm_consul_seen_get(farm_consul_seen_t *seen, const char *id)
{
    size_t       i;
    const char  *s;

    if (seen->slot == NULL) {
        return NULL;
    }

    for (i = farm_consul_seen_hash(id) & seen->mask;
         seen->slot[i];
         i = (i + 1) & seen->mask)
    {
        s = seen->str + seen->slot[i] - 1;

        if (strcmp(s, id) == 0) {
            return s + strlen(s) + 1;
        }
    }

    return NULL;
}


/* Adds id (not listed yet) on node; 0, or -1 when out of memory. */
static int
farm_consul_seen_add(farm_consul_seen_t *seen, const char *id,
    const char *node)
{
    char      *str;
    size_t     i, j, n, need, size;
    uint32_t  *slot;

    if (seen->used * 2 >= seen->mask) {
        n = seen->slot ? (seen->mask + 1) * 2 : 1024;

        slot = calloc(n, sizeof(uint32_t));
        if (slot == NULL) {
            return -1;
        }

        for (i = 0; seen->slot && i <= seen->mask; i++) {
            if (seen->slot[i] == 0) {
                continue;
            }

            for (j = farm_consul_seen_hash(seen->str + seen->slot[i] - 1)
                     & (n - 1);
                 slot[j];
                 j = (j + 1) & (n - 1))
            { /* void */ }

            slot[j] = seen->slot[i];
        }

        free(seen->slot);
        seen->slot = slot;
        seen->mask = n - 1;
    }

    need = strlen(id) + strlen(node) + 2;

    if (seen->len + need >= UINT32_MAX) {
        return -1;
    }

    if (seen->len + need > seen->size) {
        size = seen->size ? seen->size * 2 : 64 * 1024;

        while (size < seen->len + need) {
            size *= 2;
        }

        str = realloc(seen->str, size);
        if (str == NULL) {
            return -1;
        }

        seen->str = str;
        seen->size = size;
    }

    for (i = farm_consul_seen_hash(id) & seen->mask;
         seen->slot[i];
         i = (i + 1) & seen->mask)
    { /* void */ }

    seen->slot[i] = (uint32_t) seen->len + 1;
    seen->used++;

    str = seen->str + seen->len;
    n = strlen(id) + 1;
    memcpy(str, id, n);
    memcpy(str + n, node, strlen(node) + 1);
    seen->len += need;

    return 0;
}


static const char *
farm_consul_skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }

    return p;
}


/*
 * The end of a scalar element at p (a string, a number or a literal,
 * whatever jansson then makes of it): after a string's closing quote, or
 * at the first space, comma or bracket.
 */
static const char *
farm_consul_scalar_end(const char *p, const char *end)
{
    if (p < end && *p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\') {
                p++;

            } else if (*p == '"') {
                return p + 1;
            }
        }

        return end;
    }

    while (p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r'
           && *p != ',' && *p != ']')
    {
        p++;
    }

    return p;
}


/*
 * "invalid JSON at line L column C: text" for an error at line, column of
 * an element that starts at offset at of body (jansson's numbering: lines
 * from 1, columns in characters from 1 of the error's line).
 */
static void
farm_consul_json_err(char *err, const char *body, size_t at, int line,
    int column, const char *text)
{
    int     l, c;
    size_t  i;

    l = 1;
    c = 0;

    for (i = 0; i < at; i++) {
        if (body[i] == '\n') {
            l++;
            c = 0;

        } else if (((unsigned char) body[i] & 0xc0) != 0x80) {
            c++;
        }
    }

    farm_err(err, "invalid JSON at line %d column %d: %s",
             l + line - 1, line == 1 ? c + column : column, text);
}


/*
 * Whether the bytes at s start a character jansson decodes (UTF-8, no
 * overlong form, no surrogate, at most U+10FFFF).
 */
static int
farm_consul_utf8(const unsigned char *s, const unsigned char *end)
{
    size_t    n, i;
    uint32_t  c;

    c = s[0];

    if (c < 0x80) {
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        c &= 0x1f;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        c &= 0x0f;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        c &= 0x07;

    } else {
        return 0;
    }

    if ((size_t) (end - s) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = (c << 6) | (s[i] & 0x3f);
    }

    return !((n == 3 && c < 0x800) || (n == 4 && c < 0x10000)
             || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff));
}


/*
 * A syntax error of the array itself at p: text, or eof_text at the end,
 * or jansson's words for a byte it cannot decode (not counted as a
 * column, as jansson does not).
 */
static void
farm_consul_syntax_err(char *err, const char *body, const char *p,
    const char *end, const char *text, const char *eof_text)
{
    char  why[48];

    if (p == end) {
        farm_consul_json_err(err, body, p - body, 1, 0, eof_text);
        return;
    }

    if (!farm_consul_utf8((const unsigned char *) p,
                          (const unsigned char *) end))
    {
        snprintf(why, sizeof(why), "unable to decode byte 0x%02x",
                 (unsigned char) *p);
        farm_consul_json_err(err, body, p - body, 1, 0, why);
        return;
    }

    farm_consul_json_err(err, body, p - body, 1, 1, text);
}


/*
 * The answer is read one element of its array at a time, each parsed by
 * jansson on its own and freed before the next: memory is one entry's
 * tree, not the whole answer's (hundreds of MB at 100,000 entries), and it
 * stays in the CPU's caches.  The array's brackets, commas and spaces
 * around the elements are read here, by JSON's rules; an element's own
 * text is all jansson's.  A syntax error anywhere makes the whole answer
 * invalid, after the entries before it were given to cb: the caller keeps
 * or drops them.
 */
int
farm_consul_health_parse(const char *body, size_t len, const char *service,
    farm_consul_entry_pt cb, void *data, char *err)
{
    int                  health, rc, n;
    char                 label[FARM_SERVICE_MAX + FARM_ID_MAX + 32];
    char                 why[FARM_ERR_MAX];
    size_t               i, size;
    json_t              *entry, *svc, *v, *node;
    uint64_t             version;
    const char          *id, *name, *p, *end, *at, *was;
    json_error_t         jerr;
    farm_record_t        r;
    farm_consul_seen_t   seen;

    end = body + len;

    /*
     * JSON has no raw NUL byte (a string escapes it); jansson skips one
     * without counting it in a value's length, which would misplace the
     * next entry
     */

    p = memchr(body, '\0', len);

    if (p) {
        farm_consul_json_err(err, body, p - body, 1, 1, "a NUL byte");
        return -1;
    }

    p = farm_consul_skip_space(body, end);

    if (p == end || *p != '[') {

        /* not an array: jansson says what it is, or where it breaks */

        entry = json_loadb(body, len, JSON_DECODE_ANY, &jerr);

        if (entry == NULL) {
            farm_err(err, "invalid JSON at line %d column %d: %s",
                     jerr.line, jerr.column, jerr.text);
            return -1;
        }

        json_decref(entry);
        farm_err(err, "not a JSON array");
        return -1;
    }

    memset(&seen, 0, sizeof(seen));
    name = service ? service : "service";
    n = 0;

    p = farm_consul_skip_space(p + 1, end);

    if (p < end && *p == ']') {
        p++;
        goto last;
    }

    for (i = 0; /* void */; i++) {
        at = p;

        if (p < end && (*p == '{' || *p == '[')) {
            entry = json_loadb(p, end - p, JSON_DISABLE_EOF_CHECK, &jerr);
            size = entry ? (size_t) jerr.position : 0;

            if (entry && (jerr.position <= 0 || size > (size_t) (end - p))) {
                json_decref(entry);
                farm_consul_json_err(err, body, at - body, 1, 1,
                                     "an entry larger than 2 GB");
                goto failed;
            }

        } else {
            size = farm_consul_scalar_end(p, end) - p;
            entry = json_loadb(p, size, JSON_DECODE_ANY, &jerr);
        }

        if (entry == NULL) {
            farm_consul_json_err(err, body, at - body, jerr.line, jerr.column,
                                 jerr.text);
            goto failed;
        }

        svc = json_object_get(entry, "Service");
        v = json_object_get(svc, "ID");
        id = json_string_value(v);

        if (id && farm_valid_id(id, json_string_length(v))) {
            snprintf(label, sizeof(label), "%s/%s", name, id);

        } else {
            snprintf(label, sizeof(label), "%s[%zu]", name, i);
            id = NULL;
        }

        v = json_object_get(svc, "ModifyIndex");
        version = json_is_integer(v) ? (uint64_t) json_integer_value(v) : 0;

        farm_record_init(&r);
        why[0] = '\0';
        health = FARM_CONSUL_CRITICAL;

        rc = farm_consul_entry(&r, entry, service, &health, why);

        if (rc == 0 && id) {
            node = json_object_get(json_object_get(entry, "Node"), "Node");
            was = farm_consul_seen_get(&seen, id);

            if (was) {
                snprintf(why, sizeof(why), "ID: \"%s\" is listed twice (also "
                         "on node \"%.64s\"); the first one counts", id, was);
                rc = -1;

            } else if (farm_consul_seen_add(&seen, id,
                                            json_is_string(node)
                                            ? json_string_value(node) : "")
                       != 0)
            {
                json_decref(entry);
                farm_record_free(&r);
                farm_err(err, "out of memory");
                goto failed;
            }
        }

        if (rc == 0) {
            cb(data, label, version, &r, health, NULL);

        } else {
            cb(data, label, version, NULL, FARM_CONSUL_CRITICAL,
               why[0] ? why : "malformed entry");
        }

        farm_record_free(&r);
        json_decref(entry);
        n++;

        p = farm_consul_skip_space(p + size, end);

        if (p < end && *p == ']') {
            p++;
            break;
        }

        if (p == end || *p != ',') {
            farm_consul_syntax_err(err, body, p, end, "',' or ']' expected",
                                   "']' expected near end of file");
            goto failed;
        }

        p = farm_consul_skip_space(p + 1, end);
    }

last:

    p = farm_consul_skip_space(p, end);

    if (p != end) {
        farm_consul_syntax_err(err, body, p, end, "end of file expected",
                               NULL);
        goto failed;
    }

    free(seen.slot);
    free(seen.str);

    return n;

failed:

    free(seen.slot);
    free(seen.str);

    return -1;
}
