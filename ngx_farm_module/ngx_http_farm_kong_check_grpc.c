
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * farm_kong, the active health checks of type grpc and grpcs: the gRPC
 * health checking protocol, a unary call of grpc.health.v1.Health/Check
 * over HTTP/2 (cleartext with prior knowledge for grpc; TLS with ALPN h2
 * for grpcs, set up by ngx_http_farm_kong_check.c).  libnghttp2 keeps the
 * HTTP/2 state in memory only: the check's connection, on nginx's event
 * loop, hands it the bytes read and sends the bytes it makes.  The
 * request asks for the service named by http_path without its leading
 * slash ("/" = the server as a whole).  An answer with HTTP status 200,
 * grpc-status 0 and the status SERVING is a success; any other answer
 * (NOT_SERVING, SERVICE_UNKNOWN, a gRPC error such as UNIMPLEMENTED, a
 * reset stream, a protocol error) is an HTTP failure.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <nghttp2/nghttp2.h>

#include "ngx_http_farm_kong.h"


#define NGX_HTTP_FARM_KONG_GRPC_PATH   "/grpc.health.v1.Health/Check"
#define NGX_HTTP_FARM_KONG_GRPC_MSG    64     /* answer bytes kept */
#define NGX_HTTP_FARM_KONG_GRPC_NV     64     /* request headers, at most */
#define NGX_HTTP_FARM_KONG_GRPC_SERVING  1


struct ngx_http_farm_kong_grpc_s {
    nghttp2_session              *session;
    ngx_log_t                    *log;
    int32_t                       stream;
    ngx_uint_t                    status;     /* :status */
    ngx_int_t                     grpc_status;    /* -1: none */
    u_char                        msg[NGX_HTTP_FARM_KONG_GRPC_MSG];
    size_t                        msg_len;
    u_char                        body[5 + 2 + 255];
    size_t                        body_len;
    size_t                        body_sent;
    u_char                       *out;        /* bytes to send */
    size_t                        out_len;
    size_t                        out_size;
    ngx_uint_t                    outcome;
    unsigned                      closed:1;
};


static ssize_t ngx_http_farm_kong_grpc_body(nghttp2_session *session,
    int32_t stream_id, uint8_t *buf, size_t length, uint32_t *data_flags,
    nghttp2_data_source *source, void *user_data);
static int ngx_http_farm_kong_grpc_header(nghttp2_session *session,
    const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
    const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data);
static int ngx_http_farm_kong_grpc_data(nghttp2_session *session,
    uint8_t flags, int32_t stream_id, const uint8_t *data, size_t len,
    void *user_data);
static int ngx_http_farm_kong_grpc_close(nghttp2_session *session,
    int32_t stream_id, uint32_t error_code, void *user_data);
static ngx_uint_t ngx_http_farm_kong_grpc_judge(ngx_http_farm_kong_grpc_t *g);
static u_char *ngx_http_farm_kong_grpc_varint(u_char *p, u_char *end,
    uint64_t *v);
static void ngx_http_farm_kong_grpc_nv(nghttp2_nv *nv, const char *name,
    size_t namelen, const u_char *value, size_t valuelen);


/*
 * A new HTTP/2 session for one check of target of u, its request queued:
 * authority is the target's host (and port), tls says grpcs.  The
 * caller's pool holds the copies of the check's headers.  NULL on error.
 */

ngx_http_farm_kong_grpc_t *
ngx_http_farm_kong_grpc_start(ngx_pool_t *pool, const kong_upstream_t *u,
    ngx_str_t *authority, ngx_uint_t tls, ngx_log_t *log)
{
    u_char                           *p;
    size_t                            len;
    ngx_uint_t                        i, j, n;
    nghttp2_nv                        nv[NGX_HTTP_FARM_KONG_GRPC_NV];
    const char                       *name, *value, *service;
    nghttp2_data_provider             body;
    nghttp2_settings_entry            settings;
    nghttp2_session_callbacks        *cbs;
    ngx_http_farm_kong_grpc_t        *g;
    const kong_active_check_t        *ac;

    ac = &u->healthchecks.active;

    g = ngx_alloc(sizeof(ngx_http_farm_kong_grpc_t), log);
    if (g == NULL) {
        return NULL;
    }

    ngx_memzero(g, sizeof(ngx_http_farm_kong_grpc_t));
    g->log = log;
    g->grpc_status = -1;

    /* the message: HealthCheckRequest { string service = 1; } */

    service = ac->http_path ? ac->http_path : "/";
    service += (*service == '/');
    len = ngx_min(ngx_strlen(service), 127);

    p = g->body + 5;

    if (len) {
        *p++ = 0x0a;
        *p++ = (u_char) len;
        p = ngx_cpymem(p, service, len);
    }

    g->body_len = p - g->body;
    g->body[0] = 0;                           /* not compressed */
    g->body[1] = 0;
    g->body[2] = 0;
    g->body[3] = 0;
    g->body[4] = (u_char) (g->body_len - 5);

    /* the request's headers */

    n = 0;
    ngx_http_farm_kong_grpc_nv(&nv[n++], ":method", 7,
                               (u_char *) "POST", 4);
    ngx_http_farm_kong_grpc_nv(&nv[n++], ":scheme", 7,
                               (u_char *) (tls ? "https" : "http"),
                               tls ? 5 : 4);
    ngx_http_farm_kong_grpc_nv(&nv[n++], ":path", 5,
                               (u_char *) NGX_HTTP_FARM_KONG_GRPC_PATH,
                               sizeof(NGX_HTTP_FARM_KONG_GRPC_PATH) - 1);
    ngx_http_farm_kong_grpc_nv(&nv[n++], ":authority", 10, authority->data,
                               authority->len);
    ngx_http_farm_kong_grpc_nv(&nv[n++], "content-type", 12,
                               (u_char *) "application/grpc", 16);
    ngx_http_farm_kong_grpc_nv(&nv[n++], "te", 2, (u_char *) "trailers", 8);
    ngx_http_farm_kong_grpc_nv(&nv[n++], "user-agent", 10,
                               (u_char *) "ngx_farm healthcheck", 20);

    for (i = 0; kong_check_header(ac->headers, i, 0, &name, &value) >= 0;
         i++)
    {
        for (j = 0; kong_check_header(ac->headers, i, j, &name, &value) == 1
                    && n < NGX_HTTP_FARM_KONG_GRPC_NV;
             j++)
        {
            len = ngx_strlen(name);

            p = ngx_pnalloc(pool, len);
            if (p == NULL) {
                ngx_free(g);
                return NULL;
            }

            ngx_strlow(p, (u_char *) name, len);

            ngx_http_farm_kong_grpc_nv(&nv[n++], (char *) p, len,
                                       (u_char *) value, ngx_strlen(value));
        }
    }

    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        ngx_free(g);
        return NULL;
    }

    nghttp2_session_callbacks_set_on_header_callback(cbs,
                                            ngx_http_farm_kong_grpc_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
                                            ngx_http_farm_kong_grpc_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
                                            ngx_http_farm_kong_grpc_close);

    if (nghttp2_session_client_new(&g->session, cbs, g) != 0) {
        nghttp2_session_callbacks_del(cbs);
        ngx_free(g);
        return NULL;
    }

    nghttp2_session_callbacks_del(cbs);

    settings.settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
    settings.value = 0;

    body.source.ptr = g;
    body.read_callback = ngx_http_farm_kong_grpc_body;

    if (nghttp2_submit_settings(g->session, NGHTTP2_FLAG_NONE, &settings, 1)
        != 0)
    {
        ngx_http_farm_kong_grpc_free(g);
        return NULL;
    }

    g->stream = nghttp2_submit_request(g->session, NULL, nv, n, &body, g);

    if (g->stream < 0) {
        ngx_http_farm_kong_grpc_free(g);
        return NULL;
    }

    return g;
}


void
ngx_http_farm_kong_grpc_free(ngx_http_farm_kong_grpc_t *g)
{
    if (g->session != NULL) {
        nghttp2_session_del(g->session);
    }

    if (g->out != NULL) {
        ngx_free(g->out);
    }

    ngx_free(g);
}


/*
 * What the session has to send now (the connection preface, settings,
 * the request, acknowledgements), in out; out->len 0: nothing.  The bytes
 * stay valid until the next call.  NGX_ERROR: no memory or a session
 * error.
 */

ngx_int_t
ngx_http_farm_kong_grpc_output(ngx_http_farm_kong_grpc_t *g, ngx_str_t *out)
{
    u_char         *p;
    size_t          size;
    ssize_t         n;
    const uint8_t  *data;

    g->out_len = 0;

    for ( ;; ) {
        n = nghttp2_session_mem_send(g->session, &data);

        if (n < 0) {
            return NGX_ERROR;
        }

        if (n == 0) {
            break;
        }

        if (g->out_len + n > g->out_size) {
            size = ngx_max(2 * g->out_size, g->out_len + n);
            size = ngx_max(size, 1024);

            p = ngx_alloc(size, g->log);
            if (p == NULL) {
                return NGX_ERROR;
            }

            if (g->out != NULL) {
                ngx_memcpy(p, g->out, g->out_len);
                ngx_free(g->out);
            }

            g->out = p;
            g->out_size = size;
        }

        ngx_memcpy(g->out + g->out_len, data, n);
        g->out_len += n;
    }

    out->data = g->out;
    out->len = g->out_len;

    return NGX_OK;
}


/*
 * Bytes read from the connection: NGX_AGAIN while the answer is not
 * complete, else the outcome (NGX_HTTP_FARM_KONG_HC_SUCCESS or _HTTP).
 */

ngx_int_t
ngx_http_farm_kong_grpc_input(ngx_http_farm_kong_grpc_t *g, u_char *data,
    size_t len)
{
    ssize_t  n;

    n = nghttp2_session_mem_recv(g->session, data, len);

    if (n < 0) {
        ngx_log_error(NGX_LOG_INFO, g->log, 0,
                      "farm_kong: grpc health check: %s",
                      nghttp2_strerror((int) n));
        return NGX_HTTP_FARM_KONG_HC_HTTP;
    }

    if (g->closed) {
        return g->outcome;
    }

    return NGX_AGAIN;
}


/* the request's message, as its DATA frame */

static ssize_t
ngx_http_farm_kong_grpc_body(nghttp2_session *session, int32_t stream_id,
    uint8_t *buf, size_t length, uint32_t *data_flags,
    nghttp2_data_source *source, void *user_data)
{
    ngx_http_farm_kong_grpc_t  *g = source->ptr;

    size_t  n;

    n = ngx_min(length, g->body_len - g->body_sent);

    ngx_memcpy(buf, g->body + g->body_sent, n);
    g->body_sent += n;

    if (g->body_sent == g->body_len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    }

    return n;
}


/* :status, then grpc-status (in the headers, or in the trailers) */

static int
ngx_http_farm_kong_grpc_header(nghttp2_session *session,
    const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
    const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
    ngx_http_farm_kong_grpc_t  *g = user_data;

    ngx_int_t  n;

    if (frame->hd.stream_id != g->stream) {
        return 0;
    }

    if (namelen == 7 && ngx_strncmp(name, ":status", 7) == 0) {
        n = ngx_atoi((u_char *) value, valuelen);
        g->status = (n == NGX_ERROR) ? 0 : (ngx_uint_t) n;

    } else if (namelen == 11 && ngx_strncmp(name, "grpc-status", 11) == 0) {
        g->grpc_status = ngx_atoi((u_char *) value, valuelen);
    }

    return 0;
}


/* the answer's message: its first bytes are enough */

static int
ngx_http_farm_kong_grpc_data(nghttp2_session *session, uint8_t flags,
    int32_t stream_id, const uint8_t *data, size_t len, void *user_data)
{
    ngx_http_farm_kong_grpc_t  *g = user_data;

    size_t  n;

    if (stream_id != g->stream) {
        return 0;
    }

    n = ngx_min(len, NGX_HTTP_FARM_KONG_GRPC_MSG - g->msg_len);
    ngx_memcpy(g->msg + g->msg_len, data, n);
    g->msg_len += n;

    return 0;
}


static int
ngx_http_farm_kong_grpc_close(nghttp2_session *session, int32_t stream_id,
    uint32_t error_code, void *user_data)
{
    ngx_http_farm_kong_grpc_t  *g = user_data;

    if (stream_id != g->stream) {
        return 0;
    }

    g->closed = 1;
    g->outcome = (error_code == NGHTTP2_NO_ERROR)
                 ? ngx_http_farm_kong_grpc_judge(g)
                 : NGX_HTTP_FARM_KONG_HC_HTTP;

    return 0;
}


/*
 * HealthCheckResponse { ServingStatus status = 1; }: field 1, a varint,
 * after the 5-byte message prefix; SERVING (1) is the only success.
 */

static ngx_uint_t
ngx_http_farm_kong_grpc_judge(ngx_http_farm_kong_grpc_t *g)
{
    u_char      *p, *end;
    size_t       len;
    uint64_t     v, key;
    ngx_uint_t   status;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, g->log, 0,
                   "farm_kong: grpc health check: status %ui, grpc-status "
                   "%i, %uz message bytes", g->status, g->grpc_status,
                   g->msg_len);

    if (g->status != 200 || g->grpc_status != 0 || g->msg_len < 5
        || g->msg[0] != 0)
    {
        return NGX_HTTP_FARM_KONG_HC_HTTP;
    }

    len = ((size_t) g->msg[1] << 24) | ((size_t) g->msg[2] << 16)
          | ((size_t) g->msg[3] << 8) | (size_t) g->msg[4];

    p = g->msg + 5;
    end = p + ngx_min(len, g->msg_len - 5);
    status = 0;                               /* UNKNOWN, when absent */

    while (p < end) {
        p = ngx_http_farm_kong_grpc_varint(p, end, &key);
        if (p == NULL) {
            break;
        }

        switch (key & 7) {

        case 0:                               /* varint */
            p = ngx_http_farm_kong_grpc_varint(p, end, &v);
            if (p != NULL && (key >> 3) == 1) {
                status = (ngx_uint_t) v;
            }

            break;

        case 2:                               /* length-delimited */
            p = ngx_http_farm_kong_grpc_varint(p, end, &v);
            p = (p != NULL && v <= (uint64_t) (end - p)) ? p + v : NULL;
            break;

        case 1:                               /* 64-bit */
            p = (end - p >= 8) ? p + 8 : NULL;
            break;

        case 5:                               /* 32-bit */
            p = (end - p >= 4) ? p + 4 : NULL;
            break;

        default:
            p = NULL;
        }

        if (p == NULL) {
            break;
        }
    }

    return (status == NGX_HTTP_FARM_KONG_GRPC_SERVING)
           ? NGX_HTTP_FARM_KONG_HC_SUCCESS : NGX_HTTP_FARM_KONG_HC_HTTP;
}


/* a protobuf varint at p into *v: the byte after it, NULL if cut short */

static u_char *
ngx_http_farm_kong_grpc_varint(u_char *p, u_char *end, uint64_t *v)
{
    ngx_uint_t  shift;

    *v = 0;

    for (shift = 0; p < end && shift < 64; shift += 7) {
        *v |= (uint64_t) (*p & 0x7f) << shift;

        if (!(*p++ & 0x80)) {
            return p;
        }
    }

    return NULL;
}


static void
ngx_http_farm_kong_grpc_nv(nghttp2_nv *nv, const char *name, size_t namelen,
    const u_char *value, size_t valuelen)
{
    nv->name = (uint8_t *) name;
    nv->namelen = namelen;
    nv->value = (uint8_t *) value;
    nv->valuelen = valuelen;
    nv->flags = NGHTTP2_NV_FLAG_NONE;
}
