/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * The reverse proxy's HTTP parsing (see proxy_conn.h): http_parser's
 * callbacks for the client's requests and the app's responses, and the
 * header rewriting both share.  They record what happened in the
 * connection and never free anything; the callers of http_parser_execute
 * (proxy.c, proxy_app.c) act on it.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <http_parser.h>

#include "proxy_conn.h"
#include "server.h"


/* ------------------------------------------------------------------ */
/* byte strings                                                          */


/* Makes room for n more bytes in sb, doubling it.  Returns 0 or -1. */
int
farm_sb_grow(farm_sb_t *sb, size_t n)
{
    char    *d;
    size_t   cap;

    cap = sb->cap ? sb->cap : 256;

    while (cap < sb->len + n) {
        cap *= 2;
    }

    d = realloc(sb->data, cap);
    if (d == NULL) {
        return -1;
    }

    sb->data = d;
    sb->cap = cap;

    return 0;
}


static int
farm_sb_str(farm_sb_t *sb, const char *s)
{
    return farm_sb_add(sb, s, strlen(s));
}


void
farm_sb_free(farm_sb_t *sb)
{
    free(sb->data);
    sb->data = NULL;
    sb->len = 0;
    sb->cap = 0;
}


/* ------------------------------------------------------------------ */
/* header rewriting, shared by both parsers                             */


/* name (n bytes) is the header want, a string literal, in any case */
#define farm_hdr_is(name, n, want)                                           \
    ((n) == sizeof(want) - 1 && strncasecmp(name, want, n) == 0)


/* The header collected in field/value goes into hdrs, rewritten. */
static int
farm_pc_flush_header(farm_pconn_t *pc, int request)
{
    int          rc;
    size_t       fn, vn;
    farm_sb_t   *h;
    const char  *f, *v;

    f = pc->field.data;
    fn = pc->field.len;
    v = pc->value.data;
    vn = pc->value.len;
    h = &pc->hdrs;

    pc->in_value = 0;

    if (fn == 0) {
        pc->value.len = 0;
        return 0;
    }

    rc = 0;

    if (farm_hdr_is(f, fn, "connection") || farm_hdr_is(f, fn, "keep-alive")
        || farm_hdr_is(f, fn, "proxy-connection")
        || farm_hdr_is(f, fn, "transfer-encoding")
        || farm_hdr_is(f, fn, "te") || farm_hdr_is(f, fn, "trailer"))
    {
        /* hop-by-hop: the agent frames each side itself */

    } else if (request && farm_hdr_is(f, fn, "x-forwarded-for")) {
        pc->had_xff = 1;
        rc = farm_sb_str(h, "X-Forwarded-For: ") | farm_sb_add(h, v, vn)
             | farm_sb_add(h, ", ", 2) | farm_sb_str(h, pc->peer)
             | farm_sb_add(h, "\r\n", 2);

    } else {
        if (request && farm_hdr_is(f, fn, "x-forwarded-proto")) {
            pc->had_xfp = 1;
        }

        rc = farm_sb_add(h, f, fn) | farm_sb_add(h, ": ", 2)
             | farm_sb_add(h, v, vn) | farm_sb_add(h, "\r\n", 2);
    }

    pc->field.len = 0;
    pc->value.len = 0;

    return rc;
}


static int
farm_pc_grow(farm_pconn_t *pc, size_t n)
{
    pc->head_bytes += n;

    if (pc->head_bytes > FARM_PROXY_HEAD_MAX) {
        pc->error = 431;
        return -1;
    }

    return 0;
}


static int
farm_on_field(http_parser *hp, const char *at, size_t n, int request)
{
    farm_pconn_t  *pc = hp->data;

    if (farm_pc_grow(pc, n) != 0) {
        return -1;
    }

    if (pc->in_value && farm_pc_flush_header(pc, request) != 0) {
        return -1;
    }

    return farm_sb_add(&pc->field, at, n);
}


int
farm_on_value(http_parser *hp, const char *at, size_t n)
{
    farm_pconn_t  *pc = hp->data;

    if (farm_pc_grow(pc, n) != 0) {
        return -1;
    }

    pc->in_value = 1;

    return farm_sb_add(&pc->value, at, n);
}


static void
farm_pc_reset_head(farm_pconn_t *pc)
{
    pc->hdrs.len = 0;
    pc->url.len = 0;
    pc->field.len = 0;
    pc->value.len = 0;
    pc->head_bytes = 0;
    pc->in_value = 0;
}


/* ------------------------------------------------------------------ */
/* the request side                                                      */


int
farm_req_begin_cb(http_parser *hp)
{
    farm_pconn_t  *pc = hp->data;

    farm_pc_reset_head(pc);
    pc->head.len = 0;

    pc->local = FARM_LOCAL_NONE;
    pc->req_body = 0;
    pc->req_chunked = 0;
    pc->req_done = 0;
    pc->resp_begun = 0;
    pc->resp_chunked = 0;
    pc->resp_eof = 0;
    pc->resp_done = 0;
    pc->upgrade = 0;
    pc->retried = 0;
    pc->head_req = 0;
    pc->had_xff = 0;
    pc->had_xfp = 0;
    pc->status = 0;

    return 0;
}


int
farm_req_url_cb(http_parser *hp, const char *at, size_t n)
{
    farm_pconn_t  *pc = hp->data;

    if (farm_pc_grow(pc, n) != 0) {
        return -1;
    }

    return farm_sb_add(&pc->url, at, n);
}


int
farm_req_field_cb(http_parser *hp, const char *at, size_t n)
{
    return farm_on_field(hp, at, n, 1);
}


int
farm_req_headers_cb(http_parser *hp)
{
    int             rc;
    size_t          n, plen;
    farm_sb_t      *h;
    const char     *url;
    farm_server_t  *s;
    farm_pconn_t   *pc = hp->data;

    s = pc->p->s;

    if (pc->in_value && farm_pc_flush_header(pc, 1) != 0) {
        return -1;
    }

    n = pc->url.len;
    url = n ? pc->url.data : NULL;
    plen = sizeof(FARM_PROXY_PREFIX) - 1;

    pc->head_req = hp->method == HTTP_HEAD;
    pc->close = !http_should_keep_alive(hp);
    pc->req_chunked = (hp->flags & F_CHUNKED) != 0;
    pc->req_body = pc->req_chunked
                   || ((hp->flags & F_CONTENTLENGTH) && hp->content_length);

    if (url && n >= plen && memcmp(url, FARM_PROXY_PREFIX, plen) == 0) {

        if (farm_hdr_is(url + plen, n - plen, "health")) {
            pc->local = FARM_LOCAL_HEALTH;

        } else if (farm_hdr_is(url + plen, n - plen, "metrics")) {
            pc->local = FARM_LOCAL_METRICS;

        } else {
            pc->local = FARM_LOCAL_NOT_FOUND;
        }

    } else if (pc->p->stopped) {
        pc->local = FARM_LOCAL_STOPPED;

    } else if (s->record->max_conns && s->inflight >= s->record->max_conns) {
        pc->local = FARM_LOCAL_BUSY;
    }

    if (pc->local != FARM_LOCAL_NONE) {
        if (pc->req_body || hp->upgrade) {
            pc->close = 1;          /* answer now, do not read the body */
            pc->error = -1;
            return -1;
        }

        return 0;
    }

    pc->upgrade = hp->upgrade;

    h = &pc->head;

    rc = farm_sb_str(h, http_method_str((enum http_method) hp->method))
         | farm_sb_add(h, " ", 1)
         | (url ? farm_sb_add(h, url, n) : farm_sb_add(h, "/", 1))
         | farm_sb_str(h, " HTTP/1.1\r\n")
         | farm_sb_add(h, pc->hdrs.data, pc->hdrs.len);

    if (!pc->had_xff) {
        rc |= farm_sb_str(h, "X-Forwarded-For: ") | farm_sb_str(h, pc->peer)
              | farm_sb_add(h, "\r\n", 2);
    }

    if (!pc->had_xfp) {
        rc |= farm_sb_str(h, "X-Forwarded-Proto: http\r\n");
    }

    if (pc->upgrade) {
        rc |= farm_sb_str(h, "Connection: upgrade\r\n");
    }

    if (pc->req_chunked) {
        rc |= farm_sb_str(h, "Transfer-Encoding: chunked\r\n");
    }

    rc |= farm_sb_add(h, "\r\n", 2);
    pc->url.len = 0;
    pc->hdrs.len = 0;

    if (rc != 0) {
        return -1;
    }

    farm_pc_count(pc);
    pc->state = FARM_PC_FORWARD;

    /* from here the app's silence is what is timed, not the client's: a
     * client waiting for a long answer sends nothing */
    farm_timeouts(pc->cl, &pc->cl_rd, 0, pc->p->conf.timeout_ms);

    if (farm_pc_send_head(pc) != 0) {
        pc->error = 502;
        return -1;
    }

    return 0;
}


int
farm_req_body_cb(http_parser *hp, const char *at, size_t n)
{
    farm_pconn_t     *pc = hp->data;
    struct evbuffer  *out;

    if (pc->local != FARM_LOCAL_NONE || pc->up == NULL) {
        return 0;
    }

    out = pc->to_app;

    if (pc->req_chunked) {
        evbuffer_add_printf(out, "%zx\r\n", n);
        evbuffer_add(out, at, n);
        return evbuffer_add(out, "\r\n", 2);
    }

    return evbuffer_add(out, at, n);
}


int
farm_req_complete_cb(http_parser *hp)
{
    farm_pconn_t  *pc = hp->data;

    pc->req_done = 1;

    if (pc->local != FARM_LOCAL_NONE) {
        farm_pc_reply_local(pc);

        if (pc->close) {
            pc->state = FARM_PC_CLOSING;
            http_parser_pause(hp, 1);
        }

        return 0;
    }

    if (pc->req_chunked && pc->up) {
        evbuffer_add(pc->to_app, "0\r\n\r\n", 5);
    }

    /* the next request waits until this one is answered */
    http_parser_pause(hp, 1);

    return 0;
}


/* ------------------------------------------------------------------ */
/* the response side                                                     */


int
farm_resp_begin_cb(http_parser *hp)
{
    farm_pconn_t  *pc = hp->data;

    farm_pc_reset_head(pc);

    return 0;
}


int
farm_resp_status_cb(http_parser *hp, const char *at, size_t n)
{
    farm_pconn_t  *pc = hp->data;

    if (farm_pc_grow(pc, n) != 0) {
        return -1;
    }

    return farm_sb_add(&pc->url, at, n);
}


int
farm_resp_field_cb(http_parser *hp, const char *at, size_t n)
{
    return farm_on_field(hp, at, n, 0);
}


int
farm_resp_headers_cb(http_parser *hp)
{
    int               rc, end;
    char              line[16];
    unsigned          code;
    farm_sb_t        *h;
    farm_server_t    *s;
    farm_pconn_t     *pc = hp->data;
    struct evbuffer  *out;

    s = pc->p->s;
    code = hp->status_code;
    out = pc->to_client;
    h = &pc->hdrs;

    if (pc->in_value && farm_pc_flush_header(pc, 0) != 0) {
        return -1;
    }

    /* the status line, then the rewritten headers with the agent's own
     * appended to them: a few copies, no formatting */

    memcpy(line, "HTTP/1.1 ", 9);
    line[9] = (char) ('0' + code / 100 % 10);
    line[10] = (char) ('0' + code / 10 % 10);
    line[11] = (char) ('0' + code % 10);
    line[12] = ' ';

    evbuffer_add(out, line, 13);
    evbuffer_add(out, pc->url.data ? pc->url.data : "", pc->url.len);
    evbuffer_add(out, "\r\n", 2);

    rc = farm_sb_str(h, "X-Farm-Agent: ") | farm_sb_str(h, s->record->id)
         | farm_sb_add(h, "\r\n", 2);

    pc->status = code;
    pc->resp_begun = 1;
    end = 0;

    if (code == 101 && pc->upgrade) {
        rc |= farm_sb_str(h, "Connection: upgrade\r\n\r\n");
        s->codes[code]++;
        end = 2;                    /* no body, no further answers */

    } else if (code / 100 == 1) {
        rc |= farm_sb_add(h, "\r\n", 2);     /* 100 Continue and the like */

    } else {
        if (code >= 100 && code < 600) {
            s->codes[code]++;
        }

        if (pc->upgrade || !pc->req_done) {
            pc->close = 1;  /* refused upgrade, or answered before the body */
        }

        if (pc->head_req || code == 204 || code == 304) {
            end = pc->head_req ? 1 : 0;

        } else if (hp->flags & F_CHUNKED) {
            pc->resp_chunked = 1;
            rc |= farm_sb_str(h, "Transfer-Encoding: chunked\r\n");

        } else if (!(hp->flags & F_CONTENTLENGTH)) {
            pc->resp_eof = 1;

            if (pc->req.http_major == 1 && pc->req.http_minor >= 1) {
                pc->resp_chunked = 1;
                rc |= farm_sb_str(h, "Transfer-Encoding: chunked\r\n");

            } else {
                pc->close = 1;
            }
        }

        if (s->draining || pc->p->stopped) {
            pc->close = 1;
        }

        if (pc->close) {
            rc |= farm_sb_str(h, "Connection: close\r\n");

        } else if (pc->req.http_major == 1 && pc->req.http_minor == 0) {
            rc |= farm_sb_str(h, "Connection: keep-alive\r\n");
        }

        rc |= farm_sb_add(h, "\r\n", 2);
    }

    evbuffer_add(out, h->data, h->len);
    h->len = 0;

    return rc != 0 ? -1 : end;
}


int
farm_resp_body_cb(http_parser *hp, const char *at, size_t n)
{
    farm_pconn_t     *pc = hp->data;
    struct evbuffer  *out;

    out = pc->to_client;

    if (pc->resp_chunked) {
        evbuffer_add_printf(out, "%zx\r\n", n);
        evbuffer_add(out, at, n);
        return evbuffer_add(out, "\r\n", 2);
    }

    return evbuffer_add(out, at, n);
}


int
farm_resp_complete_cb(http_parser *hp)
{
    farm_pconn_t  *pc = hp->data;

    if (hp->status_code / 100 == 1 && hp->status_code != 101) {
        return 0;                   /* the real answer follows */
    }

    if (pc->resp_chunked) {
        evbuffer_add(pc->to_client, "0\r\n\r\n", 5);
    }

    pc->resp_done = 1;
    http_parser_pause(hp, 1);

    return 0;
}
