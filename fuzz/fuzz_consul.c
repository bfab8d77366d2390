/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_consul_health_parse (registry/farm_consul.c): the body of
 * GET /v1/health/service/<service>.  Byte 0 chooses the service filter
 * ("agents" when even, none when odd); the rest is the body.
 *
 * Invariants: the return value is the number of callbacks; labels are
 * shorter than 256 bytes; a malformed entry comes with a reason; a good
 * entry validates, belongs to the service asked for, has a known health,
 * no id twice, and round-trips through to_json/parse.  The parse, one
 * entry at a time, agrees with jansson's parse of the whole body: it
 * fails when that fails (or gives no array, or the body has a raw NUL,
 * which jansson lets pass), else gives as many entries as the array has.
 */

#include "fuzz_record.h"


#define FZ_IDS  64


typedef struct {
    const char  *service;
    int          calls;
    int          nids;
    char         ids[FZ_IDS][FARM_ID_MAX + 1];
} fz_state_t;


static void
fz_entry(void *data, const char *label, uint64_t version, farm_record_t *r,
    int health, const char *err)
{
    int          i;
    char         verr[FARM_ERR_MAX];
    fz_state_t  *st = data;

    (void) version;

    st->calls++;

    FZ_CHECK(label != NULL && strlen(label) < 256);

    if (r == NULL) {
        FZ_CHECK(err != NULL && err[0] != '\0');
        return;
    }

    FZ_CHECK(health == FARM_CONSUL_PASSING || health == FARM_CONSUL_WARNING
             || health == FARM_CONSUL_CRITICAL);

    if (farm_record_validate(r, verr) != 0) {
        fprintf(stderr, "entry %s does not validate: %s\n", label, verr);
        FZ_CHECK(0);
    }

    if (st->service) {
        FZ_CHECK(strcmp(r->service, st->service) == 0);
    }

    for (i = 0; i < st->nids; i++) {
        FZ_CHECK(strcmp(st->ids[i], r->id) != 0);
    }

    if (st->nids < FZ_IDS) {
        strcpy(st->ids[st->nids++], r->id);
    }

    fz_record_round_trip(r);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int           n;
    char         *s, err[FARM_ERR_MAX];
    json_t       *root;
    fz_state_t    st;
    json_error_t  jerr;

    if (size == 0) {
        return 0;
    }

    memset(&st, 0, sizeof(st));
    st.service = (data[0] & 1) ? NULL : "agents";

    s = fz_copy(data + 1, size - 1);
    memset(err, 'x', sizeof(err));

    n = farm_consul_health_parse(s, size - 1, st.service, fz_entry, &st, err);

    if (n < 0) {
        FZ_CHECK(n == -1);
        FZ_CHECK(fz_terminated(err, sizeof(err)) && err[0] != '\0');

    } else {
        FZ_CHECK(n == st.calls);
    }

    root = json_loadb(s, size - 1, JSON_DECODE_ANY, &jerr);

    if (memchr(s, '\0', size - 1)) {
        FZ_CHECK(n == -1);

    } else if (root == NULL) {

        /* an entry may nest one level deeper than jansson allows a body */

        FZ_CHECK(n == -1 || strstr(jerr.text, "maximum parsing depth"));

    } else {
        FZ_CHECK(json_is_array(root) ? n == (int) json_array_size(root)
                                     : n == -1);
    }

    json_decref(root);

    free(s);

    return 0;
}
