
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Consumers' keys: the table of SHA-256 digests that farm_key_auth looks
 * keys up in, and the farm_consumers file that fills it when the
 * configuration is loaded (the Redis source fills its own tables,
 * ngx_http_farm_consumers_redis.c).
 */


#include "ngx_http_farm_limit.h"
#include "ngx_http_farm_consumers.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>


static char *ngx_http_farm_consumers_load(ngx_conf_t *cf,
    ngx_http_farm_key_table_t *keys, farm_consumers_t *cs);


/*
 * The table: nkeys digests in 2^n buckets (at least 16, at least nkeys),
 * allocated from pool.
 */

ngx_int_t
ngx_http_farm_key_table_init(ngx_http_farm_key_table_t *t, ngx_pool_t *pool,
    ngx_uint_t nkeys)
{
    ngx_uint_t  nbuckets;

    for (nbuckets = 16; nbuckets < nkeys; nbuckets *= 2) {
        /* void */
    }

    t->nkeys = 0;
    t->mask = nbuckets - 1;
    t->buckets = ngx_pcalloc(pool, nbuckets * sizeof(ngx_uint_t));
    t->keys = ngx_pcalloc(pool, (nkeys + 1) * sizeof(ngx_http_farm_key_t));

    if (t->buckets == NULL || t->keys == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Adds a digest, for which ngx_http_farm_key_table_init() made room. */

void
ngx_http_farm_key_table_add(ngx_http_farm_key_table_t *t, u_char *digest,
    ngx_http_farm_consumer_t *consumer)
{
    uint32_t              h;
    ngx_http_farm_key_t  *k;

    k = &t->keys[t->nkeys++];

    ngx_memcpy(k->digest, digest, SHA256_DIGEST_LENGTH);
    k->consumer = consumer;

    ngx_memcpy(&h, digest, sizeof(uint32_t));

    k->next = t->buckets[h & t->mask];
    t->buckets[h & t->mask] = t->nkeys;
}


ngx_http_farm_consumer_t *
ngx_http_farm_key_table_lookup(ngx_http_farm_key_table_t *t, u_char *digest)
{
    uint32_t                   h;
    ngx_uint_t                 i;
    ngx_http_farm_key_t       *k;
    ngx_http_farm_consumer_t  *found;

    if (t->buckets == NULL) {
        return NULL;
    }

    ngx_memcpy(&h, digest, sizeof(uint32_t));

    found = NULL;

    /* the whole bucket, whatever matches: no early exit */

    for (i = t->buckets[h & t->mask]; i; i = k->next) {
        k = &t->keys[i - 1];

        if (CRYPTO_memcmp(k->digest, digest, SHA256_DIGEST_LENGTH) == 0) {
            found = k->consumer;
        }
    }

    return found;
}


/*
 * The farm_consumers file: read, parsed (ngx_http_farm_consumers.c) and
 * loaded into keys.  Anything wrong fails the configuration, named.
 */

char *
ngx_http_farm_consumers_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_farm_key_table_t *keys)
{
    char              *rv;
    char               err[FARM_CONSUMERS_ERR_MAX];
    ssize_t            n;
    u_char            *text;
    ngx_file_t         file;
    ngx_file_info_t    fi;
    farm_consumers_t   cs;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = *name;
    file.log = cf->log;

    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "farm_consumers \"%V\": cannot open", name);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;
    text = NULL;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "farm_consumers \"%V\": cannot stat", name);
        goto done;
    }

    if (ngx_file_size(&fi) > 64 * 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "farm_consumers \"%V\": larger than 64m", name);
        goto done;
    }

    text = ngx_alloc(ngx_file_size(&fi) + 1, cf->log);
    if (text == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, text, ngx_file_size(&fi), 0);

    if (n != ngx_file_size(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "farm_consumers \"%V\": cannot read", name);
        goto done;
    }

    if (farm_consumers_parse(&cs, (char *) text, (size_t) n, err) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "farm_consumers \"%V\": %s", name, err);
        goto done;
    }

    rv = ngx_http_farm_consumers_load(cf, keys, &cs);

    farm_consumers_free(&cs);

done:

    if (text) {
        ngx_free(text);
    }

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", name);
    }

    return rv;
}


/* Copies the parsed file into the configuration: names, tiers, digests. */

static char *
ngx_http_farm_consumers_load(ngx_conf_t *cf,
    ngx_http_farm_key_table_t *keys, farm_consumers_t *cs)
{
    u_char                     digest[SHA256_DIGEST_LENGTH];
    ngx_uint_t                 i;
    ngx_http_farm_consumer_t  *consumers, *c;

    consumers = ngx_pcalloc(cf->pool, (cs->nconsumers + 1)
                                      * sizeof(ngx_http_farm_consumer_t));
    if (consumers == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < cs->nconsumers; i++) {
        c = &consumers[i];

        c->name.len = cs->consumers[i].name_len;
        c->name.data = ngx_pnalloc(cf->pool, c->name.len);
        c->tier.len = cs->consumers[i].tier_len;
        c->tier.data = ngx_pnalloc(cf->pool, c->tier.len + 1);

        if (c->name.data == NULL || c->tier.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(c->name.data, cs->consumers[i].name, c->name.len);
        ngx_memcpy(c->tier.data, cs->consumers[i].tier, c->tier.len);
    }

    if (ngx_http_farm_key_table_init(keys, cf->pool, cs->nkeys)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < cs->nkeys; i++) {
        SHA256((u_char *) cs->keys[i].key, cs->keys[i].len, digest);

        ngx_http_farm_key_table_add(keys, digest,
                                    &consumers[cs->keys[i].consumer]);
    }

    return NGX_CONF_OK;
}
