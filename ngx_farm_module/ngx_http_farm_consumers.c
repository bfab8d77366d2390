
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ngx_http_farm_consumers.h"


static int farm_consumer_parse(farm_consumers_t *cs, json_t *c, size_t i,
    size_t *nkeys, char *err);
static int farm_printable(const char *s, size_t len);
static int farm_tier_valid(const char *s, size_t len);
static int farm_key_cmp(const void *one, const void *two);
static int farm_name_cmp(const void *one, const void *two);


int
farm_consumers_parse(farm_consumers_t *cs, const char *text, size_t len,
    char *err)
{
    char                 *p;
    size_t                i, nkeys;
    json_t               *root, *list, *value;
    const char           *field;
    json_error_t          jerr;
    farm_consumer_t     **names;
    farm_consumer_key_t  *sorted;

    memset(cs, 0, sizeof(farm_consumers_t));

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        /*
         * jansson adds the text "near" the error, raw: it may be a key,
         * or hold a line break; line and column say where it is
         */

        p = strstr(jerr.text, " near ");
        if (p) {
            *p = '\0';
        }

        snprintf(err, FARM_CONSUMERS_ERR_MAX, "line %d, column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return -1;
    }

    cs->json = root;

    if (!json_is_object(root)) {
        snprintf(err, FARM_CONSUMERS_ERR_MAX,
                 "the file must hold a JSON object with a \"consumers\" "
                 "array");
        goto failed;
    }

    json_object_foreach(root, field, value) {
        if (strcmp(field, "consumers") != 0) {
            if (!farm_printable(field, strlen(field))) {
                snprintf(err, FARM_CONSUMERS_ERR_MAX,
                         "unknown field (not printable; only \"consumers\" "
                         "is allowed at the top)");
                goto failed;
            }

            snprintf(err, FARM_CONSUMERS_ERR_MAX,
                     "unknown field \"%.64s\" (only \"consumers\" is "
                     "allowed at the top)", field);
            goto failed;
        }
    }

    list = json_object_get(root, "consumers");

    if (!json_is_array(list)) {
        snprintf(err, FARM_CONSUMERS_ERR_MAX,
                 "\"consumers\" must be an array");
        goto failed;
    }

    cs->nconsumers = json_array_size(list);

    /* a first pass for the number of keys, checked on the second */

    nkeys = 0;

    for (i = 0; i < cs->nconsumers; i++) {
        value = json_object_get(json_array_get(list, i), "keys");

        if (json_is_array(value)) {
            nkeys += json_array_size(value);
        }
    }

    cs->consumers = calloc(cs->nconsumers + 1, sizeof(farm_consumer_t));
    cs->keys = calloc(nkeys + 1, sizeof(farm_consumer_key_t));

    if (cs->consumers == NULL || cs->keys == NULL) {
        snprintf(err, FARM_CONSUMERS_ERR_MAX, "out of memory");
        goto failed;
    }

    for (i = 0; i < cs->nconsumers; i++) {
        if (farm_consumer_parse(cs, json_array_get(list, i), i, &cs->nkeys,
                                err)
            != 0)
        {
            goto failed;
        }
    }

    /* duplicates: sort copies, compare neighbours */

    sorted = malloc((cs->nkeys + 1) * sizeof(farm_consumer_key_t));
    names = malloc((cs->nconsumers + 1) * sizeof(farm_consumer_t *));

    if (sorted == NULL || names == NULL) {
        free(sorted);
        free(names);
        snprintf(err, FARM_CONSUMERS_ERR_MAX, "out of memory");
        goto failed;
    }

    memcpy(sorted, cs->keys, cs->nkeys * sizeof(farm_consumer_key_t));
    qsort(sorted, cs->nkeys, sizeof(farm_consumer_key_t), farm_key_cmp);

    for (i = 1; i < cs->nkeys; i++) {
        if (farm_key_cmp(&sorted[i - 1], &sorted[i]) == 0) {
            snprintf(err, FARM_CONSUMERS_ERR_MAX,
                     "the consumers \"%.128s\" and \"%.128s\" have the same "
                     "key", cs->consumers[sorted[i - 1].consumer].name,
                     cs->consumers[sorted[i].consumer].name);
            free(sorted);
            free(names);
            goto failed;
        }
    }

    for (i = 0; i < cs->nconsumers; i++) {
        names[i] = &cs->consumers[i];
    }

    qsort(names, cs->nconsumers, sizeof(farm_consumer_t *), farm_name_cmp);

    for (i = 1; i < cs->nconsumers; i++) {
        if (farm_name_cmp(&names[i - 1], &names[i]) == 0) {
            snprintf(err, FARM_CONSUMERS_ERR_MAX,
                     "consumers[%zu].name: \"%.128s\" is used twice",
                     (size_t) (names[i] > names[i - 1]
                               ? names[i] - cs->consumers
                               : names[i - 1] - cs->consumers),
                     names[i]->name);
            free(sorted);
            free(names);
            goto failed;
        }
    }

    free(sorted);
    free(names);

    return 0;

failed:

    farm_consumers_free(cs);

    return -1;
}


static int
farm_consumer_parse(farm_consumers_t *cs, json_t *c, size_t i,
    size_t *nkeys, char *err)
{
    size_t            k, len;
    json_t           *value, *keys;
    const char       *field, *s;
    farm_consumer_t  *consumer;

    consumer = &cs->consumers[i];

    if (!json_is_object(c)) {
        snprintf(err, FARM_CONSUMERS_ERR_MAX,
                 "consumers[%zu]: must be an object with \"name\" and "
                 "\"keys\"", i);
        return -1;
    }

    json_object_foreach(c, field, value) {
        if (strcmp(field, "name") != 0 && strcmp(field, "tier") != 0
            && strcmp(field, "keys") != 0)
        {
            if (!farm_printable(field, strlen(field))) {
                snprintf(err, FARM_CONSUMERS_ERR_MAX,
                         "consumers[%zu]: unknown field (not printable; use "
                         "name, tier, keys)", i);
                return -1;
            }

            snprintf(err, FARM_CONSUMERS_ERR_MAX,
                     "consumers[%zu]: unknown field \"%.64s\" (use name, "
                     "tier, keys)", i, field);
            return -1;
        }
    }

    value = json_object_get(c, "name");

    if (!json_is_string(value)) {
        snprintf(err, FARM_CONSUMERS_ERR_MAX,
                 "consumers[%zu].name: %s", i,
                 value ? "must be a string" : "is missing");
        return -1;
    }

    s = json_string_value(value);
    len = json_string_length(value);

    if (len == 0 || len > FARM_CONSUMER_NAME_MAX || !farm_printable(s, len)) {
        snprintf(err, FARM_CONSUMERS_ERR_MAX,
                 "consumers[%zu].name: must be 1-%d bytes without control "
                 "characters", i, FARM_CONSUMER_NAME_MAX);
        return -1;
    }

    consumer->name = s;
    consumer->name_len = len;
    consumer->tier = "";
    consumer->tier_len = 0;

    value = json_object_get(c, "tier");

    if (value != NULL) {
        s = json_is_string(value) ? json_string_value(value) : NULL;
        len = s ? json_string_length(value) : 0;

        if (s == NULL || !farm_tier_valid(s, len)) {
            snprintf(err, FARM_CONSUMERS_ERR_MAX,
                     "consumers[%zu].tier: must be a string of 1-%d of "
                     "A-Z a-z 0-9 . _ -", i, FARM_CONSUMER_TIER_MAX);
            return -1;
        }

        consumer->tier = s;
        consumer->tier_len = len;
    }

    keys = json_object_get(c, "keys");

    if (!json_is_array(keys)) {
        snprintf(err, FARM_CONSUMERS_ERR_MAX,
                 "consumers[%zu].keys: %s", i,
                 keys ? "must be an array of strings" : "is missing");
        return -1;
    }

    for (k = 0; k < json_array_size(keys); k++) {
        value = json_array_get(keys, k);

        s = json_is_string(value) ? json_string_value(value) : NULL;
        len = s ? json_string_length(value) : 0;

        if (s == NULL || len == 0 || len > FARM_CONSUMER_KEY_MAX
            || !farm_printable(s, len))
        {
            snprintf(err, FARM_CONSUMERS_ERR_MAX,
                     "consumers[%zu].keys[%zu]: must be a string of 1-%d "
                     "bytes without control characters", i, k,
                     FARM_CONSUMER_KEY_MAX);
            return -1;
        }

        cs->keys[*nkeys].key = s;
        cs->keys[*nkeys].len = len;
        cs->keys[*nkeys].consumer = (uint32_t) i;
        (*nkeys)++;
    }

    return 0;
}


void
farm_consumers_free(farm_consumers_t *cs)
{
    free(cs->consumers);
    free(cs->keys);

    if (cs->json) {
        json_decref(cs->json);
    }

    memset(cs, 0, sizeof(farm_consumers_t));
}


static int
farm_printable(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


static int
farm_tier_valid(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > FARM_CONSUMER_TIER_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '.' || s[i] == '_' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
farm_key_cmp(const void *one, const void *two)
{
    int                         rc;
    const farm_consumer_key_t  *a = one, *b = two;

    rc = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);

    if (rc != 0) {
        return rc;
    }

    return (a->len > b->len) - (a->len < b->len);
}


static int
farm_name_cmp(const void *one, const void *two)
{
    int                     rc;
    const farm_consumer_t  *a = *(farm_consumer_t * const *) one;
    const farm_consumer_t  *b = *(farm_consumer_t * const *) two;

    rc = memcmp(a->name, b->name,
                a->name_len < b->name_len ? a->name_len : b->name_len);

    if (rc != 0) {
        return rc;
    }

    return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}
