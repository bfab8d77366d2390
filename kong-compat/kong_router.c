/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The router: Kong's traditional_compatible matching and priority rules
 * over an index that keeps the per-request cost independent of the number
 * of prefix and host routes.
 *
 * Each route becomes one matcher per path group, as in Kong: all its regex
 * paths together, and its prefix paths grouped by length; a route without
 * paths is one matcher.  Matchers are ranked once, at build time, by Kong's
 * priority, highest first:
 *
 *   1. match weight: how many of methods, hosts, headers, snis, paths are set
 *   2. plain hosts only (hosts set, none with a wildcard)
 *   3. number of header names (capped at 255)
 *   4. regex paths before prefix paths
 *   5. regex_priority (regex groups only)
 *   6. prefix length (prefix groups only)
 *   7. ties: the route declared first in the file wins (Kong breaks them by
 *      the larger route id, random for unnamed routes; see docs/kong.md)
 *
 * The index: one bucket of matchers per exact host (a hash), per wildcard
 * suffix ("*.example.com" keyed ".example.com") and prefix ("example.*"
 * keyed "example."), and one for routes without hosts.  A request visits
 * the bucket of its exact host, the wildcard buckets of each of its label
 * boundaries (one hash lookup per dot), and the host-less bucket.  In a
 * bucket, prefix matchers sit in a radix tree walked once along the request
 * path; regex matchers sit in a second radix tree keyed by the literal
 * bytes their regexes start with ("~/users/\d+" under "/users/"), walked
 * the same way, so a regex runs only for a path that has its literal
 * prefix; path-less matchers are a list in rank order, tried only while
 * their rank could still beat the best match so far.
 *
 * Cost per request: O(L + D) hash lookups and tree steps (L = path length,
 * D = dots in the host), plus a full check of each prefix matcher whose
 * path is a prefix of the request path in a visited bucket, plus a run of
 * each regex whose literal prefix the path has (every regex that starts
 * with a group, a class or an escape, or has an alternation, is in this
 * set for every path), plus the path-less matchers ranked above the best
 * match.  It does not grow with the number of prefix or host routes, nor
 * with regex routes whose literal prefixes differ.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "kong_int.h"


typedef struct kong_trie_s  kong_trie_t;

typedef struct {
    const kong_route_t     *route;
    const kong_path_t     **paths;     /* the group's paths */
    size_t                  npaths;
    int                     regex;
    size_t                  prefix_len;
    /* priority, compared field by field */
    unsigned                weight;
    unsigned                plain_hosts;
    unsigned                nheaders;
    int64_t                 regex_priority;
    size_t                  rank;      /* 0 is tried first */
    /* regex groups: bytes every match of every path of the group starts
     * with (kong_regex_literal), their key in the bucket's retrie */
    const char             *lit;
    size_t                  lit_len;
} kong_matcher_t;


struct kong_trie_s {
    const char             *label;     /* bytes from the parent's end */
    size_t                  llen;
    kong_matcher_t        **here;      /* prefix ends exactly here */
    size_t                  nhere;
    kong_trie_t           **kids;      /* sorted by their label's 1st byte */
    unsigned char          *kbytes;
    size_t                  nkids;
};


/* while building: a prefix and its matcher */
typedef struct {
    const char             *path;
    size_t                  len;
    kong_matcher_t         *m;
} kong_entry_t;


typedef struct {
    kong_trie_t            *trie;
    kong_trie_t            *retrie;    /* regex groups by literal prefix */
    kong_matcher_t        **regex;     /* rank order */
    size_t                  nregex;
    kong_matcher_t        **other;     /* no paths, rank order */
    size_t                  nother;
    /* while building */
    kong_entry_t           *entries;
    size_t                  nentries;
    size_t                  centries;
    size_t                  cregex;
    size_t                  cother;
} kong_bucket_t;


struct kong_router_s {
    kong_matcher_t         *matchers;
    size_t                  nmatchers;
    kong_bucket_t           any;
    kong_map_t              exact;     /* host -> bucket */
    kong_map_t              suffix;    /* ".example.com" -> bucket */
    kong_map_t              prefix;    /* "example." -> bucket */
    size_t                  nsuffix;
    size_t                  nprefix;
    pcre2_match_data       *md;
    kong_pool_t            *pool;
};


/* ---- build --------------------------------------------------------------- */

static int
kong_matcher_cmp(const void *a, const void *b)
{
    const kong_matcher_t  *x = a, *y = b;

#define CMP_DESC(f)                                                          \
    if (x->f != y->f) {                                                      \
        return x->f > y->f ? -1 : 1;                                         \
    }

    CMP_DESC(weight);
    CMP_DESC(plain_hosts);
    CMP_DESC(nheaders);
    CMP_DESC(regex);

    if (x->regex) {
        CMP_DESC(regex_priority);

    } else {
        CMP_DESC(prefix_len);
    }

#undef CMP_DESC

    if (x->route->index != y->route->index) {
        return x->route->index < y->route->index ? -1 : 1;
    }

    return 0;
}


static int
kong_grow(kong_pool_t *pool, void **arr, size_t n, size_t *cap, size_t size)
{
    void    *p;
    size_t   ncap;

    if (n < *cap) {
        return 0;
    }

    ncap = *cap ? *cap * 2 : 4;
    p = kong_palloc(pool, ncap * size);
    if (p == NULL) {
        return -1;
    }

    if (n) {
        memcpy(p, *arr, n * size);
    }

    *arr = p;
    *cap = ncap;

    return 0;
}


static int
kong_bucket_add(kong_router_t *rt, kong_bucket_t *b, kong_matcher_t *m)
{
    size_t  i;

    if (m->npaths == 0) {
        if (kong_grow(rt->pool, (void **) &b->other, b->nother, &b->cother,
                      sizeof(void *)) != 0)
        {
            return -1;
        }

        b->other[b->nother++] = m;
        return 0;
    }

    if (m->regex) {
        if (kong_grow(rt->pool, (void **) &b->regex, b->nregex, &b->cregex,
                      sizeof(void *)) != 0)
        {
            return -1;
        }

        b->regex[b->nregex++] = m;
        return 0;
    }

    for (i = 0; i < m->npaths; i++) {
        if (kong_grow(rt->pool, (void **) &b->entries, b->nentries,
                      &b->centries, sizeof(kong_entry_t)) != 0)
        {
            return -1;
        }

        b->entries[b->nentries].path = m->paths[i]->path;
        b->entries[b->nentries].len = m->paths[i]->len;
        b->entries[b->nentries].m = m;
        b->nentries++;
    }

    return 0;
}


static kong_bucket_t *
kong_bucket_get(kong_router_t *rt, kong_map_t *map, const char *key,
    size_t len, size_t *count)
{
    kong_bucket_t  *b;

    b = kong_map_get(map, key, len);
    if (b) {
        return b;
    }

    b = kong_palloc(rt->pool, sizeof(kong_bucket_t));
    if (b == NULL || kong_map_put(map, key, len, b) < 0) {
        return NULL;
    }

    if (count) {
        (*count)++;
    }

    return b;
}


static int
kong_entry_cmp(const void *a, const void *b)
{
    const kong_entry_t  *x = a, *y = b;
    size_t               n;
    int                  c;

    n = x->len < y->len ? x->len : y->len;
    c = memcmp(x->path, y->path, n);

    if (c) {
        return c;
    }

    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }

    return x->m->rank < y->m->rank ? -1 : x->m->rank > y->m->rank;
}


/*
 * Builds the radix tree of entries[lo..hi), sorted, which all share their
 * first depth bytes.
 */
static kong_trie_t *
kong_trie_build(kong_router_t *rt, kong_entry_t *e, size_t lo, size_t hi,
    size_t depth)
{
    size_t        lcp, i, j, nk, max;
    kong_trie_t  *t;

    t = kong_palloc(rt->pool, sizeof(kong_trie_t));
    if (t == NULL) {
        return NULL;
    }

    /* sorted: the common prefix of the range is that of its ends */
    max = e[lo].len < e[hi - 1].len ? e[lo].len : e[hi - 1].len;
    lcp = depth;

    while (lcp < max && e[lo].path[lcp] == e[hi - 1].path[lcp]) {
        lcp++;
    }

    t->label = e[lo].path + depth;
    t->llen = lcp - depth;

    for (i = lo; i < hi && e[i].len == lcp; i++) {
        /* the first entries, the shortest, end here */
    }

    t->nhere = i - lo;

    if (t->nhere) {
        t->here = kong_palloc(rt->pool, t->nhere * sizeof(void *));
        if (t->here == NULL) {
            return NULL;
        }

        for (j = 0; j < t->nhere; j++) {
            t->here[j] = e[lo + j].m;
        }
    }

    nk = 0;
    for (j = i; j < hi; j++) {
        if (j == i || e[j].path[lcp] != e[j - 1].path[lcp]) {
            nk++;
        }
    }

    if (nk == 0) {
        return t;
    }

    t->kids = kong_palloc(rt->pool, nk * sizeof(void *));
    t->kbytes = kong_palloc(rt->pool, nk);
    if (t->kids == NULL || t->kbytes == NULL) {
        return NULL;
    }

    while (i < hi) {
        for (j = i + 1; j < hi && e[j].path[lcp] == e[i].path[lcp]; j++) {
            /* one group per next byte */
        }

        t->kbytes[t->nkids] = (unsigned char) e[i].path[lcp];
        t->kids[t->nkids] = kong_trie_build(rt, e, i, j, lcp);
        if (t->kids[t->nkids] == NULL) {
            return NULL;
        }

        t->nkids++;
        i = j;
    }

    return t;
}


static int
kong_rank_cmp(const void *a, const void *b)
{
    const kong_matcher_t  *x = *(kong_matcher_t *const *) a;
    const kong_matcher_t  *y = *(kong_matcher_t *const *) b;

    return x->rank < y->rank ? -1 : x->rank > y->rank;
}


static int
kong_bucket_finish(kong_router_t *rt, kong_bucket_t *b)
{
    size_t         i;
    kong_entry_t  *e;

    if (b->nentries) {
        qsort(b->entries, b->nentries, sizeof(kong_entry_t), kong_entry_cmp);

        b->trie = kong_trie_build(rt, b->entries, 0, b->nentries, 0);
        if (b->trie == NULL) {
            return -1;
        }
    }

    if (b->nregex) {
        qsort(b->regex, b->nregex, sizeof(void *), kong_rank_cmp);

        /* the regex groups in a tree of their literal prefixes: a request
         * tries only those whose prefix its path starts with */
        e = kong_palloc(rt->pool, b->nregex * sizeof(kong_entry_t));
        if (e == NULL) {
            return -1;
        }

        for (i = 0; i < b->nregex; i++) {
            e[i].path = b->regex[i]->lit;
            e[i].len = b->regex[i]->lit_len;
            e[i].m = b->regex[i];
        }

        qsort(e, b->nregex, sizeof(kong_entry_t), kong_entry_cmp);

        b->retrie = kong_trie_build(rt, e, 0, b->nregex, 0);
        if (b->retrie == NULL) {
            return -1;
        }
    }

    if (b->nother) {
        qsort(b->other, b->nother, sizeof(void *), kong_rank_cmp);
    }

    return 0;
}


static int
kong_map_finish(kong_router_t *rt, kong_map_t *map)
{
    size_t  i;

    for (i = 0; i < map->cap; i++) {
        if (map->slots[i].key
            && kong_bucket_finish(rt, map->slots[i].value) != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* Splits a route into Kong's path groups and appends their matchers. */
static int
kong_route_matchers(kong_router_t *rt, const kong_route_t *r,
    size_t *n)
{
    size_t             i, j, k, len;
    unsigned           weight, plain;
    kong_matcher_t    *m;
    const kong_path_t **ps;

    weight = (r->nmethods > 0) + (r->nhosts > 0) + (r->nheaders > 0)
             + (r->nsnis > 0) + (r->npaths > 0);

    plain = r->nhosts > 0;
    for (i = 0; i < r->nhosts; i++) {
        if (r->hosts[i].wildcard != KONG_HOST_PLAIN) {
            plain = 0;
        }
    }

#define NEW_MATCHER()                                                        \
    m = &rt->matchers[(*n)++];                                               \
    m->route = r;                                                            \
    m->weight = weight;                                                      \
    m->plain_hosts = plain;                                                  \
    m->nheaders = r->nheaders > 255 ? 255 : (unsigned) r->nheaders;          \
    m->regex_priority = r->regex_priority

    if (r->npaths == 0) {
        NEW_MATCHER();
        return 0;
    }

    ps = kong_palloc(rt->pool, r->npaths * sizeof(void *));
    if (ps == NULL) {
        return -1;
    }

    /* the regex group */
    k = 0;
    for (i = 0; i < r->npaths; i++) {
        if (r->paths[i].regex) {
            ps[k++] = &r->paths[i];
        }
    }

    if (k) {
        NEW_MATCHER();
        m->regex = 1;
        m->paths = ps;
        m->npaths = k;
        m->lit = ps[0]->path;
        m->lit_len = kong_regex_literal(ps[0]->path, ps[0]->len);

        for (i = 1; i < k; i++) {
            len = kong_regex_literal(ps[i]->path, ps[i]->len);

            for (j = 0; j < len && j < m->lit_len
                        && ps[i]->path[j] == m->lit[j]; j++)
            {
                /* void */
            }

            m->lit_len = j;
        }

        ps += k;
    }

    /* one prefix group per length, in order of first appearance */
    for (i = 0; i < r->npaths; i++) {
        if (r->paths[i].regex) {
            continue;
        }

        for (j = 0; j < i; j++) {
            if (!r->paths[j].regex && r->paths[j].len == r->paths[i].len) {
                break;
            }
        }

        if (j < i) {
            continue;
        }

        NEW_MATCHER();
        m->prefix_len = r->paths[i].len;
        m->paths = ps;

        for (j = i; j < r->npaths; j++) {
            if (!r->paths[j].regex && r->paths[j].len == r->paths[i].len) {
                ps[m->npaths++] = &r->paths[j];
            }
        }

        ps += m->npaths;
    }

#undef NEW_MATCHER

    return 0;
}


int
kong_router_build(kong_config_t *cfg, kong_pool_t *pool)
{
    size_t           i, j, n, total;
    kong_bucket_t   *b;
    kong_router_t   *rt;
    kong_matcher_t  *m;
    const kong_route_t *r;
    const kong_host_t  *h;

    rt = kong_palloc(pool, sizeof(kong_router_t));
    if (rt == NULL) {
        return -1;
    }

    rt->pool = pool;
    kong_map_init(&rt->exact, pool);
    kong_map_init(&rt->suffix, pool);
    kong_map_init(&rt->prefix, pool);

    rt->md = pcre2_match_data_create(32, NULL);
    if (rt->md == NULL) {
        return -1;
    }

    cfg->router = rt;

    total = 0;
    for (i = 0; i < cfg->nroutes; i++) {
        total += cfg->routes[i]->npaths + 1;
    }

    rt->matchers = kong_palloc(pool, (total + 1) * sizeof(kong_matcher_t));
    if (rt->matchers == NULL) {
        return -1;
    }

    /* as Kong, the routes of a service with enabled: false are left out */

    n = 0;
    for (i = 0; i < cfg->nroutes; i++) {
        if (cfg->routes[i]->service != NULL
            && !cfg->routes[i]->service->enabled)
        {
            continue;
        }

        if (kong_route_matchers(rt, cfg->routes[i], &n) != 0) {
            return -1;
        }
    }

    rt->nmatchers = n;
    qsort(rt->matchers, n, sizeof(kong_matcher_t), kong_matcher_cmp);

    for (i = 0; i < n; i++) {
        rt->matchers[i].rank = i;
    }

    for (i = 0; i < n; i++) {
        m = &rt->matchers[i];
        r = m->route;

        if (r->nhosts == 0) {
            if (kong_bucket_add(rt, &rt->any, m) != 0) {
                return -1;
            }

            continue;
        }

        for (j = 0; j < r->nhosts; j++) {
            h = &r->hosts[j];

            switch (h->wildcard) {
            case KONG_HOST_WILD_LEFT:
                b = kong_bucket_get(rt, &rt->suffix, h->name, h->len,
                                    &rt->nsuffix);
                break;
            case KONG_HOST_WILD_RIGHT:
                b = kong_bucket_get(rt, &rt->prefix, h->name, h->len,
                                    &rt->nprefix);
                break;
            default:
                b = kong_bucket_get(rt, &rt->exact, h->name, h->len, NULL);
            }

            if (b == NULL || kong_bucket_add(rt, b, m) != 0) {
                return -1;
            }
        }
    }

    if (kong_bucket_finish(rt, &rt->any) != 0
        || kong_map_finish(rt, &rt->exact) != 0
        || kong_map_finish(rt, &rt->suffix) != 0
        || kong_map_finish(rt, &rt->prefix) != 0)
    {
        return -1;
    }

    return 0;
}


void
kong_router_free(kong_router_t *rt)
{
    if (rt && rt->md) {
        pcre2_match_data_free(rt->md);
        rt->md = NULL;
    }
}


/* ---- match --------------------------------------------------------------- */

typedef struct {
    const kong_request_t   *r;
    const char             *host;       /* without the port */
    size_t                  host_len;
    unsigned                port;
    const char             *path;       /* normalized */
    size_t                  path_len;
    kong_router_t          *rt;
    /* the best so far */
    const kong_matcher_t   *best;
    size_t                  best_rank;
    size_t                  best_prefix;
    const void             *best_re;
} kong_req_t;


static int
kong_match_host(const kong_req_t *q, const kong_route_t *rt)
{
    size_t              i;
    const kong_host_t  *h;

    if (rt->nhosts == 0) {
        return 1;
    }

    for (i = 0; i < rt->nhosts; i++) {
        h = &rt->hosts[i];

        if (h->port && h->port != q->port) {
            continue;
        }

        switch (h->wildcard) {

        case KONG_HOST_PLAIN:
            if (q->host_len == h->len
                && memcmp(q->host, h->name, h->len) == 0)
            {
                return 1;
            }
            break;

        case KONG_HOST_WILD_LEFT:
            if (q->host_len >= h->len
                && memcmp(q->host + q->host_len - h->len, h->name, h->len)
                   == 0)
            {
                return 1;
            }
            break;

        case KONG_HOST_WILD_RIGHT:
            if (q->host_len >= h->len
                && memcmp(q->host, h->name, h->len) == 0)
            {
                return 1;
            }
            break;
        }
    }

    return 0;
}


static int
kong_header_name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t  i;
    int     x, y;

    if (alen != blen) {
        return 0;
    }

    for (i = 0; i < alen; i++) {
        x = (unsigned char) a[i];
        y = (unsigned char) b[i];

        x = (x >= 'A' && x <= 'Z') ? x + 32 : (x == '_' ? '-' : x);
        y = (y >= 'A' && y <= 'Z') ? y + 32 : (y == '_' ? '-' : y);

        if (x != y) {
            return 0;
        }
    }

    return 1;
}


static int
kong_match_headers(kong_req_t *q, const kong_route_t *rt)
{
    size_t                      i, j, k;
    const kong_header_t        *rh;
    const kong_route_header_t  *h;
    const kong_header_value_t  *v;
    int                         ok;

    for (i = 0; i < rt->nheaders; i++) {
        h = &rt->headers[i];
        ok = 0;

        for (j = 0; j < q->r->nheaders && !ok; j++) {
            rh = &q->r->headers[j];

            if (!kong_header_name_eq(rh->name, rh->name_len, h->name,
                                     h->len))
            {
                continue;
            }

            for (k = 0; k < h->nvalues && !ok; k++) {
                v = &h->values[k];

                if (v->re) {
                    ok = pcre2_match(v->re, (PCRE2_SPTR) rh->value,
                                     rh->value_len, 0, 0, q->rt->md, NULL)
                         >= 0;

                } else {
                    ok = rh->value_len == v->len
                         && strncasecmp(rh->value, v->value, v->len) == 0;
                }
            }
        }

        if (!ok) {
            return 0;
        }
    }

    return 1;
}


static int
kong_match_snis(const kong_req_t *q, const kong_route_t *rt)
{
    size_t       i, len, slen;
    const char  *s, *sni;

    if (rt->nsnis == 0 || !q->r->https) {
        return 1;
    }

    sni = q->r->sni;
    slen = sni ? q->r->sni_len : 0;

    for (i = 0; i < rt->nsnis; i++) {
        s = rt->snis[i];
        len = strlen(s);

        if (len > 1 && s[len - 1] == '.') {
            len--;
        }

        if (s[0] == '*') {
            if (slen >= len - 1
                && memcmp(sni + slen - (len - 1), s + 1, len - 1) == 0)
            {
                return 1;
            }

        } else if (s[len - 1] == '*') {
            if (slen >= len - 1 && memcmp(sni, s, len - 1) == 0) {
                return 1;
            }

        } else if (slen == len && memcmp(sni, s, len) == 0) {
            return 1;
        }
    }

    return 0;
}


/* Everything but the path. */
static int
kong_match_rest(kong_req_t *q, const kong_route_t *rt)
{
    size_t  i;

    if (rt->nmethods) {
        for (i = 0; i < rt->nmethods; i++) {
            if (strlen(rt->methods[i]) == q->r->method_len
                && memcmp(rt->methods[i], q->r->method, q->r->method_len)
                   == 0)
            {
                break;
            }
        }

        if (i == rt->nmethods) {
            return 0;
        }
    }

    return kong_match_host(q, rt) && kong_match_snis(q, rt)
           && kong_match_headers(q, rt);
}


static void
kong_consider(kong_req_t *q, const kong_matcher_t *m, size_t prefix)
{
    if (m->rank >= q->best_rank || !kong_match_rest(q, m->route)) {
        return;
    }

    q->best = m;
    q->best_rank = m->rank;
    q->best_prefix = prefix;
    q->best_re = NULL;
}


static void
kong_consider_regex(kong_req_t *q, const kong_matcher_t *m)
{
    size_t        i;
    int           rc;
    PCRE2_SIZE   *ov;

    if (m->rank >= q->best_rank || !kong_match_rest(q, m->route)) {
        return;
    }

    for (i = 0; i < m->npaths; i++) {
        rc = pcre2_match(m->paths[i]->re, (PCRE2_SPTR) q->path, q->path_len,
                         0, PCRE2_ANCHORED, q->rt->md, NULL);

        if (rc >= 0) {
            ov = pcre2_get_ovector_pointer(q->rt->md);
            q->best = m;
            q->best_rank = m->rank;
            q->best_prefix = ov[1];
            q->best_re = m->paths[i]->re;
            return;
        }
    }
}


/*
 * Walks the request path down a tree: every group whose prefix (regex: 0,
 * its literal prefix) the path starts with is considered.
 */
static void
kong_walk(kong_req_t *q, const kong_trie_t *t, int regex)
{
    size_t         i, pos, lo, hi, mid;
    unsigned char  c;

    pos = 0;

    while (t) {
        if (t->llen) {
            if (q->path_len - pos < t->llen
                || memcmp(q->path + pos, t->label, t->llen) != 0)
            {
                break;
            }

            pos += t->llen;
        }

        for (i = 0; i < t->nhere; i++) {
            if (regex) {
                kong_consider_regex(q, t->here[i]);

            } else {
                kong_consider(q, t->here[i], pos);
            }
        }

        if (pos == q->path_len || t->nkids == 0) {
            break;
        }

        c = (unsigned char) q->path[pos];
        lo = 0;
        hi = t->nkids;

        while (lo < hi) {
            mid = (lo + hi) / 2;
            if (t->kbytes[mid] < c) {
                lo = mid + 1;

            } else {
                hi = mid;
            }
        }

        t = (lo < t->nkids && t->kbytes[lo] == c) ? t->kids[lo] : NULL;
    }
}


static void
kong_search_bucket(kong_req_t *q, const kong_bucket_t *b)
{
    size_t  i;

    /* prefix matchers along the request path */
    kong_walk(q, b->trie, 0);

    /* regex matchers whose literal prefix the path has; whatever the
     * order, the best ranked match wins (kong_consider_regex) */
    kong_walk(q, b->retrie, 1);

    for (i = 0; i < b->nother && b->other[i]->rank < q->best_rank; i++) {
        kong_consider(q, b->other[i], 0);
    }
}


/* "123" -> 123; -1 unless all digits and at most 65535 */
static long
kong_port(const char *p, const char *end)
{
    long  port;

    if (p == end) {
        return -1;
    }

    for (port = 0; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        port = port * 10 + (*p - '0');
        if (port > 65535) {
            return -1;
        }
    }

    return port;
}


/*
 * Splits the Host header into the name routes compare ("[::1]" loses its
 * brackets, as route hosts are kept) and the port (the listener's when the
 * header has none).
 */
static void
kong_split_request_host(kong_req_t *q)
{
    long         port;
    size_t       len;
    const char  *h, *end, *c, *e;

    h = q->r->host ? q->r->host : "";
    len = q->r->host ? q->r->host_len : 0;
    end = h + len;
    q->port = q->r->port;

    if (len && h[0] == '[' && (e = memchr(h, ']', len)) != NULL) {
        q->host = h + 1;
        q->host_len = (size_t) (e - h - 1);
        c = (e + 1 < end && e[1] == ':') ? e + 1 : NULL;

    } else {
        c = len ? memchr(h, ':', len) : NULL;
        q->host = h;
        q->host_len = c ? (size_t) (c - h) : len;
    }

    if (c && (port = kong_port(c + 1, end)) >= 0) {
        q->port = (unsigned) port;
    }
}


int
kong_match(const kong_config_t *cfg, const kong_request_t *r,
    kong_match_t *m, char *buf, size_t size)
{
    size_t                 i, plen, qlen, base_len, need, n;
    const char            *q, *base;
    char                  *norm, *joined, *out;
    kong_req_t             req;
    kong_router_t         *rt;
    kong_bucket_t         *b;
    const kong_route_t    *route;

    memset(m, 0, sizeof(kong_match_t));
    rt = cfg->router;

    /* path and args */
    q = r->uri_len ? memchr(r->uri, '?', r->uri_len) : NULL;
    plen = q ? (size_t) (q - r->uri) : r->uri_len;
    qlen = q ? r->uri_len - plen : 0;

    base_len = cfg->max_service_path;
    need = plen + (base_len + plen + 2) + 3 * (base_len + plen + 2) + qlen
           + 1;

    if (size < need) {
        return -1;
    }

    norm = buf;
    n = kong_path_normalize(r->uri, plen, norm);

    if (n == 0) {
        norm[0] = '/';
        n = 1;
    }

    memset(&req, 0, sizeof(req));
    req.r = r;
    req.rt = rt;
    req.path = norm;
    req.path_len = n;
    req.best_rank = (size_t) -1;
    kong_split_request_host(&req);

    m->path = norm;
    m->path_len = n;

    /* the exact host, the wildcards at each label boundary, no host */
    b = kong_map_get(&rt->exact, req.host, req.host_len);
    if (b) {
        kong_search_bucket(&req, b);
    }

    if (rt->nsuffix || rt->nprefix) {
        for (i = 0; i < req.host_len; i++) {
            if (req.host[i] != '.') {
                continue;
            }

            if (rt->nsuffix) {
                b = kong_map_get(&rt->suffix, req.host + i,
                                 req.host_len - i);
                if (b) {
                    kong_search_bucket(&req, b);
                }
            }

            if (rt->nprefix) {
                b = kong_map_get(&rt->prefix, req.host, i + 1);
                if (b) {
                    kong_search_bucket(&req, b);
                }
            }
        }
    }

    kong_search_bucket(&req, &rt->any);

    if (req.best == NULL) {
        m->status = 404;
        return 0;
    }

    route = req.best->route;
    m->route = route;
    m->service = route->service;
    m->regex = req.best_re;

    if (!(route->protocols & KONG_PROTO_HTTP) && !r->https
        && !r->forwarded_https)
    {
        m->status = route->https_redirect_status_code;
        return 0;
    }

    if (route->service == NULL) {
        m->status = 503;
        return 0;
    }

    /* the upstream path, Kong's v0 joining */
    if (route->strip_path && route->npaths && req.best_prefix) {
        m->prefix = norm;
        m->prefix_len = req.best_prefix;
    }

    base = route->service->path;
    joined = norm + n;

    i = kong_path_join(base, norm, n,
                       route->strip_path ? (route->npaths ? req.best_prefix
                                                          : 1)
                                         : 1,
                       route->strip_path, joined);

    out = joined + i;
    i = kong_path_escape(joined, i, out);

    if (q) {
        memcpy(out + i, q, qlen);
        i += qlen;
    }

    out[i] = '\0';

    m->upstream_uri = out;
    m->upstream_uri_len = i;

    /* X-Forwarded-Prefix only for a real prefix */
    if (m->prefix && m->prefix_len == 1 && m->prefix[0] == '/') {
        m->prefix = NULL;
        m->prefix_len = 0;
    }

    return 0;
}
