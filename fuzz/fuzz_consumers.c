/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_consumers_parse (ngx_farm_module/ngx_http_farm_consumers.c): the
 * farm_consumers file.
 *
 * Invariants: an error is one NUL-terminated line with nothing to free;
 * on success every key's consumer exists, names are 1-128 bytes and tiers
 * 0-64 bytes of the allowed characters, keys 1-1024 bytes, none has a
 * control byte, and names and keys are unique.
 */

#include "fuzz.h"

#include "ngx_http_farm_consumers.h"


static int
fz_no_control(const char *s, size_t len)
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
fz_tier_chars(const char *s, size_t len)
{
    size_t  i;
    char    c;

    for (i = 0; i < len; i++) {
        c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char              *s, err[FARM_CONSUMERS_ERR_MAX];
    size_t             i, j;
    farm_consumers_t   cs;

    s = fz_copy(data, size);
    memset(err, 'x', sizeof(err));

    if (farm_consumers_parse(&cs, s, size, err) != 0) {
        FZ_CHECK(fz_terminated(err, sizeof(err)) && err[0] != '\0');
        FZ_CHECK(strchr(err, '\n') == NULL);
        free(s);
        return 0;
    }

    for (i = 0; i < cs.nconsumers; i++) {
        FZ_CHECK(cs.consumers[i].name_len >= 1
                 && cs.consumers[i].name_len <= FARM_CONSUMER_NAME_MAX);
        FZ_CHECK(fz_no_control(cs.consumers[i].name,
                               cs.consumers[i].name_len));
        FZ_CHECK(cs.consumers[i].tier != NULL);
        FZ_CHECK(cs.consumers[i].tier_len <= FARM_CONSUMER_TIER_MAX);
        FZ_CHECK(fz_tier_chars(cs.consumers[i].tier,
                               cs.consumers[i].tier_len));

        for (j = 0; j < i; j++) {
            FZ_CHECK(cs.consumers[i].name_len != cs.consumers[j].name_len
                     || memcmp(cs.consumers[i].name, cs.consumers[j].name,
                               cs.consumers[i].name_len) != 0);
        }
    }

    for (i = 0; i < cs.nkeys; i++) {
        FZ_CHECK(cs.keys[i].consumer < cs.nconsumers);
        FZ_CHECK(cs.keys[i].len >= 1
                 && cs.keys[i].len <= FARM_CONSUMER_KEY_MAX);
        FZ_CHECK(fz_no_control(cs.keys[i].key, cs.keys[i].len));

        for (j = 0; j < i; j++) {
            FZ_CHECK(cs.keys[i].len != cs.keys[j].len
                     || memcmp(cs.keys[i].key, cs.keys[j].key,
                               cs.keys[i].len) != 0);
        }
    }

    farm_consumers_free(&cs);
    free(s);

    return 0;
}
