/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The router's regex helpers: the literal prefix of a regex path, by
 * which the router indexes regex routes (kong_router.c), and the captures
 * of a matched regex path (hash_on: uri_capture).
 */

#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "kong_int.h"


/*
 * The length of the literal bytes every match of the anchored regex re
 * starts with: its leading run of plain ASCII characters, less the last
 * one when a quantifier follows it ("/ab?c" -> "/a").  0 when the pattern
 * has an alternation anywhere (a top-level "|" would make any prefix
 * optional; telling the levels apart is not worth a parser here).  Used
 * only to skip regexes that cannot match; the regex itself decides.
 */
size_t
kong_regex_literal(const char *re, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (memchr(re, '|', len) != NULL) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) re[i];

        if (c >= 0x80 || strchr("\\^$.?*+()[]{}#", c) != NULL) {
            break;
        }
    }

    if (i < len && i > 0 && strchr("?*+{", re[i]) != NULL) {
        i--;
    }

    return i;
}



int
kong_match_capture(const kong_match_t *m, const char *name,
    const char **value, size_t *len)
{
    int                  rc, n;
    const char          *p;
    PCRE2_SIZE          *ov;
    pcre2_match_data    *md;

    if (m->regex == NULL || m->path == NULL || *name == '\0') {
        return 0;
    }

    for (p = name; *p >= '0' && *p <= '9'; p++) { /* void */ }

    if (*p == '\0') {
        n = atoi(name);

    } else {
        n = pcre2_substring_number_from_name(m->regex, (PCRE2_SPTR) name);

        if (n < 0) {
            return 0;
        }
    }

    md = pcre2_match_data_create_from_pattern(m->regex, NULL);
    if (md == NULL) {
        return -1;
    }

    rc = pcre2_match(m->regex, (PCRE2_SPTR) m->path, m->path_len, 0,
                     PCRE2_ANCHORED, md, NULL);

    if (rc < 0 || (uint32_t) n >= pcre2_get_ovector_count(md)) {
        pcre2_match_data_free(md);
        return 0;
    }

    ov = pcre2_get_ovector_pointer(md);

    if (ov[2 * n] == PCRE2_UNSET) {
        pcre2_match_data_free(md);
        return 0;
    }

    *value = m->path + ov[2 * n];
    *len = ov[2 * n + 1] - ov[2 * n];

    pcre2_match_data_free(md);

    return 1;
}
