
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Refusals the API consumer can read.  When the balancer finds no agent,
 * nginx answers 502 "no live upstreams" with an HTML page; these filters
 * turn that response into 503 with a JSON body naming the reason and a
 * Retry-After header.  An error_page for 502 still wins: it redirects
 * before the filters see the response.
 */


#include "ngx_http_farm_reject.h"


#define NGX_HTTP_FARM_RETRY_MAX  300     /* s */


static ngx_int_t ngx_http_farm_reject_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_farm_reject_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_farm_reject_body(ngx_http_request_t *r,
    ngx_http_farm_ctx_t *ctx, ngx_str_t *body);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_farm_reject_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_farm_reject_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_farm_reject_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_reject_body(ngx_http_request_t *r, ngx_http_farm_ctx_t *ctx,
    ngx_str_t *body)
{
    size_t                  len;
    u_char                 *p, *q, *last, *comma;
    ngx_msec_t              reopen;
    ngx_uint_t              nagents, wait, first;
    ngx_http_farm_zone_t    z;

    ngx_http_farm_zone_get(ctx->fcf, &z);
    nagents = z.sh->nagents;

    /* when breakers keep agents out, retry when the first one half-opens */

    wait = 1;
    reopen = z.sh->next_reopen;

    if (z.sh->ejected && reopen
        && (ngx_msec_int_t) (reopen - ngx_current_msec) > 0)
    {
        wait = (reopen - ngx_current_msec + 999) / 1000;
        wait = ngx_min(wait, NGX_HTTP_FARM_RETRY_MAX);
    }

    ctx->retry_after.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (ctx->retry_after.data == NULL) {
        return NGX_ERROR;
    }

    ctx->retry_after.len = ngx_sprintf(ctx->retry_after.data, "%ui", wait)
                           - ctx->retry_after.data;

    len = sizeof("{\"error\":\"\",\"required\":[],\"missing\":[],"
                 "\"upstream\":\"\",\"service\":\"\",\"agents\":}\n")
          + 128 + ctx->fcf->uscf->host.len + ctx->fcf->service.len
          + NGX_INT_T_LEN + 3 * ctx->required.len + ctx->missing.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    /* names here are plain [A-Za-z0-9._-], checked before they got here */

    switch (ctx->reject) {

    case NGX_HTTP_FARM_REJECT_BAD_CAPS:
        p = ngx_sprintf(p, "{\"error\":\"invalid capability in the request: "
                        "names are 1-64 of A-Z a-z 0-9 . _ -, at most %d\",",
                        FARM_CAPS_MAX);
        break;

    case NGX_HTTP_FARM_REJECT_NO_CAPS:
        p = ngx_sprintf(p, "{\"error\":\"no agent has the required "
                        "capabilities\",\"required\":[");

        q = ctx->required.data;
        last = q + ctx->required.len;
        first = 1;

        while (q < last) {
            comma = ngx_strlchr(q, last, ',');
            if (comma == NULL) {
                comma = last;
            }

            while (q < comma && *q == ' ') {
                q++;
            }

            len = comma - q;

            while (len && q[len - 1] == ' ') {
                len--;
            }

            if (len) {
                p = ngx_sprintf(p, "%s\"%*s\"", first ? "" : ",", len, q);
                first = 0;
            }

            q = comma + 1;
        }

        p = ngx_sprintf(p, "],\"missing\":[%V],", &ctx->missing);
        break;

    case NGX_HTTP_FARM_REJECT_QUEUE_FULL:
        p = ngx_sprintf(p, "{\"error\":\"every agent is busy and the queue "
                        "is full\",\"queue\":{\"max\":%ui},",
                        ctx->fcf->queue.max);
        break;

    case NGX_HTTP_FARM_REJECT_QUEUE_TIMEOUT:
        p = ngx_sprintf(p, "{\"error\":\"every agent stayed busy: no agent "
                        "within the queue timeout\",\"queue\":"
                        "{\"timeout_ms\":%M},", ctx->fcf->queue.timeout);
        break;

    case NGX_HTTP_FARM_REJECT_CLIENT_LIMIT:
        p = ngx_sprintf(p, "{\"error\":\"too many requests at once from "
                        "this client\",\"limit\":%ui,",
                        ctx->fcf->client.max);
        break;

    case NGX_HTTP_FARM_REJECT_ALL_FAILED:
        p = ngx_sprintf(p, "{\"error\":\"no agent could take the request: "
                        "every agent tried failed\",\"tries\":%ui,",
                        ctx->tries);
        break;

    default:
        p = ngx_sprintf(p, "{\"error\":\"%s\",",
                        nagents ? "no healthy agent available"
                                : "no agents registered");
    }

    p = ngx_sprintf(p, "\"upstream\":\"%V\",\"service\":\"%V\","
                    "\"agents\":%ui}\n",
                    &ctx->fcf->uscf->host, &ctx->fcf->service, nagents);

    body->len = p - body->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_farm_reject_header_filter(ngx_http_request_t *r)
{
    ngx_str_t             body;
    ngx_http_farm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_module);

    if (ctx == NULL
        || ctx->reject == NGX_HTTP_FARM_REJECT_NONE
        || r->headers_out.status != NGX_HTTP_BAD_GATEWAY)
    {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_farm_reject_body(r, ctx, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->body = body;

    r->headers_out.status = (ctx->reject == NGX_HTTP_FARM_REJECT_BAD_CAPS)
                            ? NGX_HTTP_BAD_REQUEST
                            : NGX_HTTP_SERVICE_UNAVAILABLE;
    r->headers_out.status_line.len = 0;

    /* $status in the access log: what the client got, not nginx's 502 */
    if (r->err_status) {
        r->err_status = r->headers_out.status;
    }

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    ngx_http_clear_content_length(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    r->headers_out.content_length_n = body.len;

    if (ngx_http_farm_add_header(r, "Retry-After", &ctx->retry_after)
        == NULL)
    {
        return NGX_ERROR;
    }

    ctx->replacing = 1;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_farm_reject_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t            *b;
    ngx_chain_t          *cl, out;
    ngx_http_farm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_farm_module);

    if (ctx == NULL || !ctx->replacing) {
        return ngx_http_next_body_filter(r, in);
    }

    /* swallow nginx's HTML page */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->body_sent) {
        return NGX_OK;
    }

    ctx->body_sent = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->body.data;
    b->last = ctx->body.data + ctx->body.len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/*
 * Answers a request refused before it reached the upstream (a full or
 * timed out queue, a client over its limit) with the same JSON and
 * Retry-After as the balancer's refusals.  Returns what the caller passes
 * to ngx_http_finalize_request().
 */

ngx_int_t
ngx_http_farm_refuse(ngx_http_request_t *r, ngx_http_farm_ctx_t *ctx,
    ngx_uint_t reason)
{
    ngx_str_t                 type;
    ngx_uint_t                status;
    ngx_http_complex_value_t  cv;

    ctx->reject = reason;

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));

    if (ngx_http_farm_reject_body(r, ctx, &cv.value) != NGX_OK
        || ngx_http_farm_add_header(r, "Retry-After", &ctx->retry_after)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* not one of the balancer's 502s: the filters leave it alone */

    ctx->reject = NGX_HTTP_FARM_REJECT_NONE;

    status = (reason == NGX_HTTP_FARM_REJECT_CLIENT_LIMIT)
             ? NGX_HTTP_TOO_MANY_REQUESTS : NGX_HTTP_SERVICE_UNAVAILABLE;

    ngx_str_set(&type, "application/json");

    return ngx_http_send_response(r, status, &type, &cv);
}


