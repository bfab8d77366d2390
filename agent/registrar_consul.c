/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The Consul registrar: Consul's HTTP agent API, through the Consul agent
 * named by --registry (the record's Consul form is registry/farm_consul.c):
 *
 *   register    PUT /v1/agent/service/register   the service, with a TTL
 *               check "service:<id>" that starts passing
 *   heartbeat   PUT /v1/agent/check/pass/service:<id>, every --heartbeat;
 *               404 means Consul no longer knows the service (it restarted,
 *               a dev agent forgets everything), so register again at once
 *   deregister  PUT /v1/agent/service/deregister/<id>
 *
 * A TTL check rather than an HTTP check on /health: Consul need not reach
 * the agent (agents anywhere, behind NAT), a dead or hung agent stops
 * passing its check exactly as it stops renewing its Redis TTL, and the
 * heartbeat is what notices a Consul that lost the registration.
 *
 * The cycle (one request at a time, deadlines, the jittered backoff and a
 * full registration after a failure) is registrar_http.c's.  The ACL token
 * goes only into the X-Consul-Token header, never into a log line.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "farm_consul.h"
#include "registrar_http.h"


#define FARM_CONSUL_REAP_MIN     60000   /* Consul's own minimum */


typedef struct {
    farm_http_reg_t          http;          /* first: the HTTP cycle */

    farm_consul_reg_t        form;          /* TTL, reaping, version */
    char                     base_url[FARM_HOST_MAX + 32];
    char                     check_id[FARM_CONSUL_CHECK_MAX];
    struct curl_slist       *headers;       /* token, content type */
} farm_consul_t;


static int farm_consul_request(farm_http_reg_t *hr, int kind, char *url,
    size_t size, const char **method, const char **body, char *err);
static const char *farm_consul_hint(farm_http_reg_t *hr, long status);
static void farm_consul_free(farm_http_reg_t *hr);

static const farm_http_dialect_t  farm_consul_dialect = {
    farm_consul_request,
    farm_consul_hint,
    NULL,
    farm_consul_free,
    "Consul restarted or lost it",
    "Consul sees its check fail after the TTL"
};


static int
farm_consul_request(farm_http_reg_t *hr, int kind, char *url, size_t size,
    const char **method, const char **body, char *err)
{
    farm_consul_t  *cr = (farm_consul_t *) hr;

    /* the record is complete by the first request */

    if (cr->check_id[0] == '\0') {
        farm_consul_check_id(cr->check_id, sizeof(cr->check_id),
                             hr->record->id);
    }

    *method = "PUT";

    switch (kind) {

    case FARM_HTTP_REGISTER:
        if (hr->body == NULL) {
            hr->body = farm_consul_registration(hr->record, &cr->form, err);

            if (hr->body == NULL) {
                return -1;
            }
        }

        *body = hr->body;
        snprintf(url, size, "%s/v1/agent/service/register"
                 "?replace-existing-checks=true", cr->base_url);
        break;

    case FARM_HTTP_BEAT:
        snprintf(url, size, "%s/v1/agent/check/pass/%s", cr->base_url,
                 cr->check_id);
        break;

    default:
        snprintf(url, size, "%s/v1/agent/service/deregister/%s",
                 cr->base_url, hr->record->id);
        break;
    }

    return 0;
}


static const char *
farm_consul_hint(farm_http_reg_t *hr, long status)
{
    (void) hr;

    return status == 403 ? " (--consul-token or CONSUL_HTTP_TOKEN must "
                           "allow service:write)" : "";
}


static void
farm_consul_free(farm_http_reg_t *hr)
{
    farm_consul_t  *cr = (farm_consul_t *) hr;

    curl_slist_free_all(cr->headers);
}


/* Content type and ACL token; 0 or -1.  The token's line is wiped. */
static int
farm_consul_headers(farm_consul_t *cr, const char *token)
{
    char                line[FARM_SECRET_MAX + 32];
    struct curl_slist  *h;

    cr->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (cr->headers == NULL) {
        return -1;
    }

    if (token && token[0]) {
        snprintf(line, sizeof(line), "X-Consul-Token: %s", token);

        h = curl_slist_append(cr->headers, line);
        memset(line, 0, sizeof(line));

        if (h == NULL) {
            return -1;
        }

        cr->headers = h;
    }

    return curl_easy_setopt(cr->http.easy, CURLOPT_HTTPHEADER, cr->headers)
           == CURLE_OK ? 0 : -1;
}


farm_registrar_t *
farm_registrar_consul_create(const farm_registrar_conf_t *conf, char *err)
{
    farm_consul_t     *cr;
    const farm_url_t  *u;

    cr = calloc(1, sizeof(farm_consul_t));
    if (cr == NULL) {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        return NULL;
    }

    u = conf->url;

    if (farm_http_reg_init(&cr->http, &farm_consul_dialect, conf, u->tls,
                           conf->consul_ca, err)
        != 0)
    {
        farm_registrar_stop(&cr->http.reg);
        return NULL;
    }

    cr->form.ttl_ms = conf->ttl_ms;
    cr->form.deregister_after_ms = 3 * conf->ttl_ms > FARM_CONSUL_REAP_MIN
                                   ? 3 * conf->ttl_ms : FARM_CONSUL_REAP_MIN;
    cr->form.version = conf->version;

    snprintf(cr->base_url, sizeof(cr->base_url),
             strchr(u->host, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
             u->tls ? "https" : "http", u->host, u->port);

    if (farm_consul_headers(cr, conf->consul_token) != 0) {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        farm_registrar_stop(&cr->http.reg);
        return NULL;
    }

    return &cr->http.reg;
}
