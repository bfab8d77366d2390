
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The O(consumers) part of a Redis consumers refresh, run by
 * ngx_http_farm_consumers_redis.c on a thread of nginx's pool (or inline,
 * for the master's read at start and without threads).  Only malloc/free,
 * OpenSSL's digest and writes into the job and its reserved block: safe on
 * any thread while the loop leaves the job alone.
 */


#include "ngx_http_farm_consumers_job.h"

#include <openssl/evp.h>

#include <hiredis/hiredis.h>


static farm_reply_elt_t *ngx_http_farm_consumers_job_elts(void **replies,
    size_t n);
static ngx_int_t ngx_http_farm_consumers_job_sha256(
    ngx_http_farm_consumers_job_t *job, ngx_uint_t raw, u_char *out);
static void ngx_http_farm_consumers_job_entries_add(EVP_MD_CTX *md,
    farm_reply_keys_t *out);
static void ngx_http_farm_consumers_job_raw_add(EVP_MD_CTX *md,
    void **replies, size_t n);


/*
 * The replies to valid entries (job->out, each consumer with its tier),
 * their SHA-256 (job->digest, by which an unchanged read is recognized)
 * and the bytes their names and tiers take in a table (job->strings).
 * Unchanged: everything is freed, job->unchanged is set.  The replies
 * byte for byte the same as the last read's (Redis sends an unchanged
 * hash in the same order) while its table is still in use: unchanged at
 * the cost of one SHA-256, job->same_raw is set too.
 */

void
ngx_http_farm_consumers_job_read(ngx_http_farm_consumers_job_t *job)
{
    size_t             i;
    farm_reply_elt_t  *elts;

    if (ngx_http_farm_consumers_job_sha256(job, 1, job->raw) != NGX_OK) {
        goto failed;
    }

    if (job->have_last && job->found
        && ngx_memcmp(job->raw, job->last_raw, sizeof(job->raw)) == 0
        && ngx_memcmp(job->current, job->last_digest, sizeof(job->current))
           == 0)
    {
        ngx_memcpy(job->digest, job->current, sizeof(job->digest));
        job->unchanged = 1;
        job->same_raw = 1;
        return;
    }

    elts = ngx_http_farm_consumers_job_elts(job->tiers, job->ntiers);
    if (elts == NULL) {
        goto failed;
    }

    if (farm_reply_tiers(elts, job->ntiers, &job->tier_list,
                         &job->ntier_list, &job->skipped)
        != 0)
    {
        free(elts);
        goto failed;
    }

    free(elts);

    elts = ngx_http_farm_consumers_job_elts(job->keys, job->nkeys);
    if (elts == NULL) {
        goto failed;
    }

    if (farm_reply_keys(elts, job->nkeys, job->tier_list, job->ntier_list,
                        &job->out, &job->skipped)
        != 0)
    {
        free(elts);
        goto failed;
    }

    free(elts);

    if (ngx_http_farm_consumers_job_sha256(job, 0, job->digest) != NGX_OK) {
        goto failed;
    }

    job->strings = 0;

    for (i = 0; i < job->out.nconsumers; i++) {
        job->strings += job->out.consumers[i].name_len
                        + job->out.consumers[i].tier_len + 1;
    }

    if (job->found
        && ngx_memcmp(job->digest, job->current, sizeof(job->digest)) == 0)
    {
        job->unchanged = 1;
        ngx_http_farm_consumers_job_free_work(job);
    }

    return;

failed:

    job->failed = 1;
    ngx_http_farm_consumers_job_free_work(job);
}


/* The table read written into the block reserved. */

void
ngx_http_farm_consumers_job_fill(ngx_http_farm_consumers_job_t *job)
{
    size_t                            i;
    farm_consumer_t                  *fc;
    farm_reply_key_t                 *k;
    ngx_http_farm_consumers_build_t  *b;

    b = &job->b;

    ngx_http_farm_consumers_shm_layout(b);

    for (i = 0; i < job->out.nconsumers; i++) {
        fc = &job->out.consumers[i];
        ngx_http_farm_consumers_shm_consumer(b, i, (u_char *) fc->name,
                                             fc->name_len,
                                             (u_char *) fc->tier,
                                             fc->tier_len);
    }

    for (i = 0; i < job->out.nkeys; i++) {
        k = &job->out.keys[i];
        ngx_http_farm_key_table_add(b->table, k->digest,
                                    &b->consumers[k->consumer]);
    }

    ngx_http_farm_consumers_job_free_work(job);
}


/*
 * The master's table of what was read, in pool; *consumers receives the
 * array its keys point into.
 */

ngx_http_farm_key_table_t *
ngx_http_farm_consumers_job_table(ngx_pool_t *pool, farm_reply_keys_t *out,
    ngx_http_farm_consumer_t **consumers)
{
    size_t                      i;
    farm_consumer_t            *fc;
    ngx_http_farm_consumer_t   *cs, *c;
    ngx_http_farm_key_table_t  *table;

    table = ngx_pcalloc(pool, sizeof(ngx_http_farm_key_table_t));
    cs = ngx_pcalloc(pool, (out->nconsumers + 1)
                           * sizeof(ngx_http_farm_consumer_t));

    if (table == NULL || cs == NULL
        || ngx_http_farm_key_table_init(table, pool, out->nkeys) != NGX_OK)
    {
        return NULL;
    }

    for (i = 0; i < out->nconsumers; i++) {
        fc = &out->consumers[i];
        c = &cs[i];

        c->name.len = fc->name_len;
        c->name.data = ngx_pnalloc(pool, fc->name_len);

        c->tier.len = fc->tier_len;
        c->tier.data = ngx_pnalloc(pool, fc->tier_len + 1);

        if (c->name.data == NULL || c->tier.data == NULL) {
            return NULL;
        }

        ngx_memcpy(c->name.data, fc->name, fc->name_len);
        ngx_memcpy(c->tier.data, fc->tier, fc->tier_len);
        c->tier.data[fc->tier_len] = '\0';
    }

    for (i = 0; i < out->nkeys; i++) {
        ngx_http_farm_key_table_add(table, out->keys[i].digest,
                                    &cs[out->keys[i].consumer]);
    }

    *consumers = cs;

    return table;
}


/* What the steps allocated (in the thread's heap); again is harmless. */

void
ngx_http_farm_consumers_job_free_work(ngx_http_farm_consumers_job_t *job)
{
    free(job->tier_list);
    job->tier_list = NULL;
    job->ntier_list = 0;

    farm_reply_keys_free(&job->out);
}


ngx_uint_t
ngx_http_farm_consumers_job_free_replies(ngx_http_farm_consumers_job_t *job,
    size_t n)
{
    size_t       i, end;
    redisReply  *e;

    end = job->ntiers + job->nkeys;

    if (n < end - job->freed) {
        end = job->freed + n;
    }

    for (i = job->freed; i < end; i++) {
        e = (i < job->ntiers) ? job->tiers[i] : job->keys[i - job->ntiers];

        if (e) {
            freeReplyObject(e);
        }
    }

    job->freed = end;

    if (end < job->ntiers + job->nkeys) {
        return 0;
    }

    free(job->tiers);
    free(job->keys);

    job->tiers = NULL;
    job->ntiers = 0;
    job->keys = NULL;
    job->nkeys = 0;
    job->freed = 0;

    return 1;
}


void
ngx_http_farm_consumers_job_free(ngx_http_farm_consumers_job_t *job)
{
    (void) ngx_http_farm_consumers_job_free_replies(job, (size_t) -1);
    ngx_http_farm_consumers_job_free_work(job);
}


/* A reply's elements as the reply parser takes them: strings or not. */

static farm_reply_elt_t *
ngx_http_farm_consumers_job_elts(void **replies, size_t n)
{
    size_t             i;
    redisReply        *e;
    farm_reply_elt_t  *elts;

    elts = malloc((n + 1) * sizeof(farm_reply_elt_t));
    if (elts == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        e = replies[i];

        if (e != NULL && e->type == REDIS_REPLY_STRING) {
            elts[i].data = e->str;
            elts[i].len = e->len;

        } else {
            elts[i].data = NULL;
            elts[i].len = 0;
        }
    }

    return elts;
}


/*
 * The SHA-256 of the replies as read (raw), or of the entries they hold
 * once checked and sorted (job->out), into out (32 bytes).
 */

static ngx_int_t
ngx_http_farm_consumers_job_sha256(ngx_http_farm_consumers_job_t *job,
    ngx_uint_t raw, u_char *out)
{
    ngx_int_t    rc;
    EVP_MD_CTX  *md;

    md = EVP_MD_CTX_new();

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        rc = NGX_ERROR;
        goto done;
    }

    if (raw) {
        ngx_http_farm_consumers_job_raw_add(md, job->tiers, job->ntiers);
        ngx_http_farm_consumers_job_raw_add(md, job->keys, job->nkeys);

    } else {
        ngx_http_farm_consumers_job_entries_add(md, &job->out);
    }

    rc = (EVP_DigestFinal_ex(md, out, NULL) == 1) ? NGX_OK : NGX_ERROR;

done:

    if (md) {
        EVP_MD_CTX_free(md);
    }

    return rc;
}


static void
ngx_http_farm_consumers_job_entries_add(EVP_MD_CTX *md,
    farm_reply_keys_t *out)
{
    size_t            i;
    uint32_t          n;
    farm_consumer_t  *fc;

    for (i = 0; i < out->nconsumers; i++) {
        fc = &out->consumers[i];

        n = (uint32_t) fc->name_len;
        EVP_DigestUpdate(md, &n, sizeof(uint32_t));
        EVP_DigestUpdate(md, fc->name, fc->name_len);

        n = (uint32_t) fc->tier_len;
        EVP_DigestUpdate(md, &n, sizeof(uint32_t));
        EVP_DigestUpdate(md, fc->tier, fc->tier_len);
    }

    for (i = 0; i < out->nkeys; i++) {
        EVP_DigestUpdate(md, out->keys[i].digest, FARM_DIGEST_LEN);
        EVP_DigestUpdate(md, &out->keys[i].consumer, sizeof(uint32_t));
    }
}


static void
ngx_http_farm_consumers_job_raw_add(EVP_MD_CTX *md, void **replies,
    size_t n)
{
    size_t       i;
    uint64_t     len;
    redisReply  *e;

    len = n;
    EVP_DigestUpdate(md, &len, sizeof(uint64_t));

    for (i = 0; i < n; i++) {
        e = replies[i];

        if (e == NULL || e->type != REDIS_REPLY_STRING) {
            len = (uint64_t) -1;    /* not a string: no length is that */
            EVP_DigestUpdate(md, &len, sizeof(uint64_t));
            continue;
        }

        len = e->len;
        EVP_DigestUpdate(md, &len, sizeof(uint64_t));
        EVP_DigestUpdate(md, e->str, e->len);
    }
}
