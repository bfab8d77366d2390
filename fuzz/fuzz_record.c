/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_record_parse, _validate and _to_json (registry/farm_record.c), and
 * the Consul mapping both ways (registry/farm_consul.c).
 *
 * Invariants: an error is one NUL-terminated line and leaves nothing to
 * free; a parsed record validates; parse(to_json(r)) == r field by field;
 * when r can be registered in Consul, the registration body, seen as an
 * entry of /v1/health/service, maps back to r (meta too when all of its
 * values are strings, the only kind Consul Meta keeps as they are: F2).
 */

#include "fuzz_record.h"


typedef struct {
    int             calls;
    int             good;
    farm_record_t   rec;
} fz_seen_t;


static void
fz_collect(void *data, const char *label, uint64_t version, farm_record_t *r,
    int health, const char *err)
{
    fz_seen_t  *s = data;

    (void) label;
    (void) version;
    (void) health;

    s->calls++;

    if (r == NULL) {
        fprintf(stderr, "registration read back as malformed: %s\n", err);
        return;
    }

    s->good = 1;
    s->rec = *r;
    s->rec.meta = r->meta ? strdup(r->meta) : NULL;
}


static void
fz_consul_round_trip(const farm_record_t *r)
{
    char                     *text, *body, err[FARM_ERR_MAX];
    json_t                   *svc, *list;
    fz_seen_t                 seen;
    static farm_consul_reg_t  reg = { 10000, 60000, NULL };

    text = farm_consul_registration(r, &reg, err);

    if (text == NULL) {
        /* only a meta Consul cannot hold is refused */
        FZ_CHECK(farm_consul_check_meta(r->meta, err) != 0);
        return;
    }

    FZ_CHECK(farm_consul_check_meta(r->meta, err) == 0);

    svc = json_loads(text, 0, NULL);
    FZ_CHECK(svc != NULL);
    free(text);

    /* /v1/health/service calls Name "Service", and has no Check */

    json_object_set(svc, "Service", json_object_get(svc, "Name"));
    json_object_del(svc, "Name");
    json_object_del(svc, "Check");

    list = json_pack("[{s:{s:s},s:o,s:[{s:s}]}]", "Node", "Address",
                     "192.0.2.1", "Service", svc, "Checks", "Status",
                     "passing");
    FZ_CHECK(list != NULL);
    body = json_dumps(list, 0);
    json_decref(list);
    FZ_CHECK(body != NULL);

    memset(&seen, 0, sizeof(seen));

    FZ_CHECK(farm_consul_health_parse(body, strlen(body), r->service,
                                      fz_collect, &seen, err) == 1);
    FZ_CHECK(seen.calls == 1 && seen.good);
    FZ_CHECK(fz_record_eq(r, &seen.rec, fz_meta_all_strings(r->meta)));

    free(seen.rec.meta);
    free(body);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           *s, err[FARM_ERR_MAX];
    farm_record_t   r;

    s = fz_copy(data, size);
    memset(err, 'x', sizeof(err));

    if (farm_record_parse(&r, s, size, err) != 0) {
        FZ_CHECK(fz_terminated(err, sizeof(err)) && err[0] != '\0');
        FZ_CHECK(r.meta == NULL);
        free(s);
        return 0;
    }

    if (farm_record_validate(&r, err) != 0) {
        fprintf(stderr, "parsed record does not validate: %s\n", err);
        FZ_CHECK(0);
    }

    FZ_CHECK(r.meta == NULL || strcmp(r.meta, "{}") != 0);

    fz_record_round_trip(&r);
    fz_consul_round_trip(&r);

    farm_record_free(&r);
    free(s);

    return 0;
}
