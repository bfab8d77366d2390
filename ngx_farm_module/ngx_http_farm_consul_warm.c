
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The master's startup read of a Consul registry: one plain (not blocking)
 * GET /v1/health/service/<service> with libcurl's easy interface when a
 * zone is created, before any worker exists, so a fresh nginx routes from
 * its first request.  Bounded by timeout= and NGX_HTTP_FARM_CONSUL_WARM_MAX,
 * and never made by a worker, "nginx -t" or "nginx -s".  Then, bounded the
 * same way, the operators' overrides in the KV store
 * (ngx_http_farm_consul_kv.c).
 */


#include "ngx_http_farm_consul.h"

#include <curl/curl.h>


#define NGX_HTTP_FARM_CONSUL_WARM_MAX     2000    /* ms */


/*
 * Returns NGX_OK, or NGX_DECLINED when the registry cannot be read now
 * (the workers will keep trying; the caller may fall back on state=).
 */

ngx_int_t
ngx_http_farm_consul_warm(ngx_http_farm_srv_conf_t *fcf, ngx_log_t *log)
{
    long                          status;
    CURL                         *easy;
    char                          err[FARM_ERR_MAX], error[CURL_ERROR_SIZE];
    u_char                        url[FARM_HOST_MAX + 512], text[160];
    u_char                        reason[FARM_ERR_MAX + 64];
    CURLcode                      rc;
    ngx_msec_t                    ms;
    struct curl_slist            *headers, *resolve;
    ngx_http_farm_zone_t          z;
    ngx_http_farm_consul_body_t   body;

    ngx_http_farm_consul_global_init(log);

    ms = ngx_min(fcf->timeout, NGX_HTTP_FARM_CONSUL_WARM_MAX);

    ngx_memzero(&body, sizeof(ngx_http_farm_consul_body_t));
    body.max = ngx_http_farm_consul_body_max(fcf);

    headers = NULL;
    resolve = NULL;
    error[0] = '\0';

    ngx_cpystrn(reason, (u_char *) "out of memory", sizeof(reason));

    easy = curl_easy_init();

    if (easy == NULL
        || ngx_http_farm_consul_easy(fcf, easy, &body, ms, ms,
                                     (void **) &headers, (void **) &resolve,
                                     error)
           != NGX_OK)
    {
        goto failed;
    }

    ngx_http_farm_consul_url(fcf, url, sizeof(url), 0, 0);
    curl_easy_setopt(easy, CURLOPT_URL, (char *) url);

    rc = curl_easy_perform(easy);

    if (rc != CURLE_OK) {
        if (body.too_big) {
            ngx_snprintf(reason, sizeof(reason), "the answer is larger than "
                         "%uzk, 8k per max_agents=%Z", body.max / 1024);

        } else {
            ngx_snprintf(reason, sizeof(reason), "%s%Z",
                         error[0] ? error : curl_easy_strerror(rc));
        }

        goto failed;
    }

    status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);

    if (status != 200) {
        ngx_http_farm_consul_body_text(&body, text, sizeof(text));
        ngx_snprintf(reason, sizeof(reason), "HTTP %l%s%s%Z", status,
                     text[0] ? " " : "", text);
        goto failed;
    }

    if (body.len == 0
        || ngx_http_farm_consul_answer_apply(fcf, body.data, body.len,
                                             err)
           != NGX_OK)
    {
        ngx_snprintf(reason, sizeof(reason), "malformed answer: %s%Z",
                     body.len ? err : "empty");
        goto failed;
    }

    ngx_http_farm_sync_registry_state(fcf, 1, NULL);

    /* the operators' overrides (farm_admin write=registry), in the KV store */

    ngx_http_farm_consul_kv_warm(fcf, log, ms);

    ngx_http_farm_zone_get(fcf, &z);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "farm: upstream \"%V\" starts with %uD agents from %V",
                  &fcf->uscf->host, z.sh->nagents, &fcf->url_display);

    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    curl_slist_free_all(resolve);
    free(body.data);

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "farm: registry %V of upstream \"%V\" unreachable at "
                  "start (%s); %s",
                  &fcf->url_display, &fcf->uscf->host, reason,
                  fcf->state.len ? "trying the state file"
                                 : "no agents until it answers");

    if (easy) {
        curl_easy_cleanup(easy);
    }

    curl_slist_free_all(headers);
    curl_slist_free_all(resolve);
    free(body.data);

    return NGX_DECLINED;
}
