/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The gateway registrar: a gateway's built-in registry, through the
 * location that runs farm_registry_api (--registry http(s)://host/path;
 * docs/agent.md "Registration with a gateway"):
 *
 *   register    PUT    <path>/<service>/agents/<id>?ttl=<ttl>ms, the record
 *   heartbeat   POST   <path>/<service>/agents/<id>/heartbeat?ttl=<ttl>ms,
 *               every --heartbeat; 404 means the gateway no longer knows
 *               the agent (the TTL ran out while it was unreachable, it
 *               restarted without a state file): register again at once
 *   deregister  DELETE <path>/<service>/agents/<id>; 404 is as good
 *
 * Every request carries "Authorization: Bearer <token>" from --token-file,
 * read again after a 401 in case it was rotated.  The token goes only
 * into that header, never into a log line.  The cycle itself, retries and
 * deadlines are registrar_http.c's.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "options.h"
#include "registrar_http.h"
#include "token.h"


typedef struct {
    farm_http_reg_t          http;          /* first: the HTTP cycle */

    char                     agent_url[FARM_DISPLAY_MAX + FARM_SERVICE_MAX
                                       + FARM_ID_MAX + 16];   /* .../<id> */
    char                     ttl[32];       /* "?ttl=10000ms" */
    char                    *token_file;    /* owned */
    struct curl_slist       *headers;       /* token, content type */
} farm_gw_t;


static int farm_gw_request(farm_http_reg_t *hr, int kind, char *url,
    size_t size, const char **method, const char **body, char *err);
static const char *farm_gw_hint(farm_http_reg_t *hr, long status);
static void farm_gw_refused(farm_http_reg_t *hr, long status);
static void farm_gw_free(farm_http_reg_t *hr);
static int farm_gw_headers(farm_gw_t *gw, const char *token);

static const farm_http_dialect_t  farm_gw_dialect = {
    farm_gw_request,
    farm_gw_hint,
    farm_gw_refused,
    farm_gw_free,
    "its TTL ran out, or the gateway restarted without it",
    "the gateway drops it when its TTL runs out"
};


static int
farm_gw_request(farm_http_reg_t *hr, int kind, char *url, size_t size,
    const char **method, const char **body, char *err)
{
    farm_gw_t  *gw = (farm_gw_t *) hr;

    switch (kind) {

    case FARM_HTTP_REGISTER:
        /* each write carries its own "ts": the gateway measures propagation */

        free(hr->body);
        hr->body = farm_record_to_json_now(hr->record);

        if (hr->body == NULL) {
            snprintf(err, CURL_ERROR_SIZE, "out of memory");
            return -1;
        }

        *method = "PUT";
        *body = hr->body;
        snprintf(url, size, "%s/%s/agents/%s%s", gw->agent_url,
                 hr->record->service, hr->record->id, gw->ttl);
        break;

    case FARM_HTTP_BEAT:
        *method = "POST";
        snprintf(url, size, "%s/%s/agents/%s/heartbeat%s", gw->agent_url,
                 hr->record->service, hr->record->id, gw->ttl);
        break;

    default:
        *method = "DELETE";
        snprintf(url, size, "%s/%s/agents/%s", gw->agent_url,
                 hr->record->service, hr->record->id);
        break;
    }

    return 0;
}


static const char *
farm_gw_hint(farm_http_reg_t *hr, long status)
{
    (void) hr;

    switch (status) {

    case 401:
        return " (the token in --token-file is not the one in the "
               "upstream's token_file=)";

    case 404:
        return " (is there an upstream with \"farm_registry builtin "
               "service=...\" for this service, and a farm_registry_api "
               "location at this path?)";

    default:
        return "";
    }
}


/* After a 401: the token may have been rotated; read the file again. */
static void
farm_gw_refused(farm_http_reg_t *hr, long status)
{
    char        token[FARM_TOKEN_MAX + 1], err[FARM_ERR_MAX];
    farm_gw_t  *gw = (farm_gw_t *) hr;

    if (status != 401 || gw->token_file == NULL) {
        return;
    }

    if (farm_token_read(gw->token_file, token, sizeof(token), err) != 0) {
        farm_log_warn("--token-file: %s; keeping the token read before",
                      err);
        return;
    }

    if (farm_gw_headers(gw, token) != 0) {
        farm_log_warn("out of memory: keeping the token read before");
    }

    memset(token, 0, sizeof(token));
}


static void
farm_gw_free(farm_http_reg_t *hr)
{
    farm_gw_t  *gw = (farm_gw_t *) hr;

    curl_slist_free_all(gw->headers);
    free(gw->token_file);
}


/*
 * (Re)builds the request headers with this token; 0, or -1 with the old
 * ones kept.  The line that held the token is wiped.
 */
static int
farm_gw_headers(farm_gw_t *gw, const char *token)
{
    char                line[FARM_TOKEN_MAX + 32];
    struct curl_slist  *h, *next;

    snprintf(line, sizeof(line), "Authorization: Bearer %s", token);

    h = curl_slist_append(NULL, line);
    memset(line, 0, sizeof(line));

    if (h == NULL) {
        return -1;
    }

    next = curl_slist_append(h, "Content-Type: application/json");
    next = next ? curl_slist_append(next, "Expect:") : NULL;

    if (next == NULL
        || curl_easy_setopt(gw->http.easy, CURLOPT_HTTPHEADER, next)
           != CURLE_OK)
    {
        curl_slist_free_all(h);
        return -1;
    }

    curl_slist_free_all(gw->headers);
    gw->headers = next;

    return 0;
}


farm_registrar_t *
farm_registrar_gateway_create(const farm_registrar_conf_t *conf, char *err)
{
    farm_gw_t  *gw;

    if (conf->token == NULL || conf->token[0] == '\0') {
        snprintf(err, FARM_ERR_MAX, "a gateway registry needs "
                 "--token-file");
        return NULL;
    }

    gw = calloc(1, sizeof(farm_gw_t));
    if (gw == NULL) {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        return NULL;
    }

    if (farm_http_reg_init(&gw->http, &farm_gw_dialect, conf, conf->url->tls,
                           conf->ca, err)
        != 0)
    {
        farm_registrar_stop(&gw->http.reg);
        return NULL;
    }

    /* the display is the URL: scheme, host, port and path; no secret */

    snprintf(gw->agent_url, sizeof(gw->agent_url), "%s",
             gw->http.reg.display);
    snprintf(gw->ttl, sizeof(gw->ttl), "?ttl=%lldms",
             (long long) conf->ttl_ms);

    if (conf->token_file) {
        gw->token_file = strdup(conf->token_file);
    }

    if ((conf->token_file && gw->token_file == NULL)
        || farm_gw_headers(gw, conf->token) != 0)
    {
        snprintf(err, FARM_ERR_MAX, "out of memory");
        farm_registrar_stop(&gw->http.reg);
        return NULL;
    }

    return &gw->http.reg;
}
