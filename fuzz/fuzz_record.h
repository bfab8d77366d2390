/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Record comparisons shared by the record and consul targets.
 */

#ifndef FARM_FUZZ_RECORD_H
#define FARM_FUZZ_RECORD_H

#include <jansson.h>

#include "fuzz.h"

#include "farm_consul.h"
#include "farm_record.h"


/* 1 if every field of a and b is the same (meta as text, or both none) */
static inline int
fz_record_eq(const farm_record_t *a, const farm_record_t *b, int with_meta)
{
    unsigned  i;

    if (strcmp(a->id, b->id) != 0 || strcmp(a->service, b->service) != 0
        || strcmp(a->address, b->address) != 0 || a->port != b->port
        || a->weight != b->weight || strcmp(a->region, b->region) != 0
        || a->ncaps != b->ncaps || a->max_conns != b->max_conns
        || a->backup != b->backup)
    {
        return 0;
    }

    for (i = 0; i < a->ncaps; i++) {
        if (strcmp(a->caps[i], b->caps[i]) != 0) {
            return 0;
        }
    }

    if (!with_meta) {
        return 1;
    }

    if (a->meta == NULL || b->meta == NULL) {
        return a->meta == b->meta;
    }

    return strcmp(a->meta, b->meta) == 0;
}


/* parse(to_json(r)) == r */
static inline void
fz_record_round_trip(const farm_record_t *r)
{
    char           *text, err[FARM_ERR_MAX];
    farm_record_t   o;

    text = farm_record_to_json(r);
    FZ_CHECK(text != NULL);

    if (farm_record_parse(&o, text, strlen(text), err) != 0) {
        fprintf(stderr, "to_json gave \"%s\", which does not parse: %s\n",
                text, err);
        FZ_CHECK(0);
    }

    FZ_CHECK(fz_record_eq(r, &o, 1));

    farm_record_free(&o);
    free(text);
}


/* 1 if the record's meta is absent or only has string values */
static inline int
fz_meta_all_strings(const char *meta)
{
    int          ok;
    json_t      *m, *v;
    const char  *k;

    if (meta == NULL) {
        return 1;
    }

    m = json_loads(meta, 0, NULL);
    FZ_CHECK(m != NULL && json_is_object(m));

    ok = 1;

    json_object_foreach(m, k, v) {
        if (!json_is_string(v)) {
            ok = 0;
        }
    }

    json_decref(m);

    return ok;
}


#endif /* FARM_FUZZ_RECORD_H */
