
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * A Redis connection on nginx's machinery, plain or over TLS: an nginx
 * peer connection, nginx's TLS (ngx_ssl: SNI, the certificate verified
 * against a CA file or the system's CAs, and its name checked), commands
 * encoded by hiredis (redisFormatCommandArgv) into one output buffer that
 * nginx's send writes, replies parsed by a hiredis redisReader fed from
 * nginx's recv, and a FIFO of callbacks: Redis answers in order.
 *
 * Every reply is bounded as ngx_http_farm_hiredis.c bounds hiredis' own
 * contexts: pending bytes (NGX_HTTP_FARM_REDIS_MAX_PENDING) and the
 * elements of all its arrays together, nested ones too
 * (NGX_HTTP_FARM_RCONN_MAX_ELEMENTS, counted in the reader's createArray:
 * a rate limiter's replies are a few integers); past either, the
 * connection fails.
 *
 * One timer per connection: while connecting (and shaking hands) the
 * connect timeout, then the oldest command's deadline; the commands'
 * deadlines come in the order they were sent, so the oldest is the first
 * one due.  nginx's own lines about the connection (connect() failed,
 * SSL_do_handshake() failed) are muted: the owner reports failures with
 * the reason this file gives, as often as it wishes.  nginx empties
 * OpenSSL's error queue into those lines, so OpenSSL's reason is taken from
 * them (the quiet log's writer) for the failure's text.
 */


#include "ngx_http_farm_rconn.h"
#include "ngx_http_farm_ssl_session.h"

#include <hiredis/hiredis.h>


#define NGX_HTTP_FARM_RCONN_READ          16384
#define NGX_HTTP_FARM_RCONN_MAX_ELEMENTS  (1024 * 1024)


struct ngx_http_farm_rconn_cmd_s {
    ngx_http_farm_rconn_reply_pt    cb;
    void                           *data;
    ngx_msec_t                      deadline;
    ngx_http_farm_rconn_cmd_t      *next;
};


static void ngx_http_farm_rconn_connect_handler(ngx_event_t *ev);
static void ngx_http_farm_rconn_connected(ngx_http_farm_rconn_t *rc);
#if (NGX_SSL)
static void ngx_http_farm_rconn_handshaked(ngx_connection_t *c);
static ngx_int_t ngx_http_farm_rconn_verify(ngx_http_farm_rconn_t *rc,
    ngx_connection_t *c);
static ngx_uint_t ngx_http_farm_rconn_is_ip(u_char *name);
#endif
static void ngx_http_farm_rconn_ready(ngx_http_farm_rconn_t *rc);
static void ngx_http_farm_rconn_read(ngx_event_t *ev);
static void ngx_http_farm_rconn_write(ngx_event_t *ev);
static ngx_int_t ngx_http_farm_rconn_flush(ngx_http_farm_rconn_t *rc);
static void ngx_http_farm_rconn_timeout(ngx_event_t *ev);
static void ngx_http_farm_rconn_arm(ngx_http_farm_rconn_t *rc);
static void ngx_http_farm_rconn_fail(ngx_http_farm_rconn_t *rc,
    const char *fmt, ...);
static void ngx_http_farm_rconn_shut(ngx_http_farm_rconn_t *rc);
static void ngx_http_farm_rconn_heard(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);


/*
 * At configuration: the TLS context of a Redis server, its trust store the
 * CA file trusted (when given) or the system's default CAs.  Returns an
 * ngx_ssl_t, freed with the configuration's pool, or NULL (logged).
 */

void *
ngx_http_farm_rconn_ssl(ngx_conf_t *cf, ngx_str_t *trusted,
    ngx_flag_t verify)
{
#if (NGX_SSL)
    ngx_str_t   file;
    ngx_ssl_t  *ssl;

    ssl = ngx_http_farm_ssl_client(cf);
    if (ssl == NULL) {
        return NULL;
    }

    if (!verify) {
        return ssl;
    }

    if (trusted != NULL && trusted->len) {
        file = *trusted;

        if (ngx_ssl_trusted_certificate(cf, ssl, &file, 4) != NGX_OK) {
            return NULL;
        }

        return ssl;
    }

    /* a chain as deep as with a CA file: leaf, intermediates, root */

    SSL_CTX_set_verify_depth(ssl->ctx, 4);

    if (SSL_CTX_set_default_verify_paths(ssl->ctx) != 1) {
        ngx_ssl_error(NGX_LOG_WARN, cf->log, 0,
                      "farm: no default CA paths to verify Redis over TLS");
    }

    return ssl;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "Redis over TLS needs nginx built with SSL");
    return NULL;

#endif
}


/*
 * Starts connecting.  NGX_OK: connecting (commands may be queued at once;
 * they are sent when the connection is ready, in order), or already open.
 * NGX_ERROR: no connection, rc->err says why; the closed callback is not
 * called.
 */

ngx_int_t
ngx_http_farm_rconn_open(ngx_http_farm_rconn_t *rc)
{
    ngx_int_t               n;
    ngx_connection_t       *c;
    ngx_peer_connection_t   peer;

    if (rc->connection) {
        return NGX_OK;
    }

    rc->reader = redisReaderCreate();
    if (rc->reader == NULL) {
        (void) ngx_cpystrn((u_char *) rc->err, (u_char *) "out of memory",
                           sizeof(rc->err));
        return NGX_ERROR;
    }

    ngx_http_farm_hiredis_reader_bound(rc->reader, &rc->count);

    rc->count.max = NGX_HTTP_FARM_RCONN_MAX_ELEMENTS;
    rc->count.log = NULL;

    rc->quiet = *rc->log;
    rc->quiet.log_level = NGX_LOG_INFO;
    rc->quiet.writer = ngx_http_farm_rconn_heard;
    rc->quiet.wdata = rc;
    rc->quiet.next = NULL;

    rc->why[0] = '\0';

    ngx_memzero(&peer, sizeof(ngx_peer_connection_t));

    peer.sockaddr = rc->sockaddr;
    peer.socklen = rc->socklen;
    peer.name = &rc->name;
    peer.get = ngx_event_get_peer;
    peer.log = &rc->quiet;
    peer.log_error = NGX_ERROR_ERR;

    n = ngx_event_connect_peer(&peer);

    if (n == NGX_ERROR || n == NGX_BUSY || n == NGX_DECLINED) {
        redisReaderFree(rc->reader);
        rc->reader = NULL;

        (void) ngx_cpystrn((u_char *) rc->err,
                           (u_char *) (n == NGX_DECLINED
                                       ? "connection refused"
                                       : "cannot connect"),
                           sizeof(rc->err));
        return NGX_ERROR;
    }

    c = peer.connection;

    c->pool = ngx_create_pool(1024, &rc->quiet);
    if (c->pool == NULL) {
        ngx_close_connection(c);
        redisReaderFree(rc->reader);
        rc->reader = NULL;

        (void) ngx_cpystrn((u_char *) rc->err, (u_char *) "out of memory",
                           sizeof(rc->err));
        return NGX_ERROR;
    }

    c->data = rc;
    c->read->handler = ngx_http_farm_rconn_connect_handler;
    c->write->handler = ngx_http_farm_rconn_connect_handler;

    rc->connection = c;
    rc->ready = 0;
    rc->out_len = 0;
    rc->out_sent = 0;

    rc->timer.handler = ngx_http_farm_rconn_timeout;
    rc->timer.data = rc;
    rc->timer.log = rc->log;
    rc->timer.cancelable = 1;

    ngx_add_timer(&rc->timer, rc->connect_timeout);

    if (n == NGX_OK) {
        /* connected at once: go on from the event loop, not from here */
        ngx_post_event(c->write, &ngx_posted_events);
    }

    return NGX_OK;
}


/*
 * Queues a command (argv is copied).  NGX_OK: cb will be called exactly
 * once, never before this returns; NGX_DECLINED: no connection, cb will
 * not be called; NGX_ERROR: out of memory, likewise.
 */

ngx_int_t
ngx_http_farm_rconn_command(ngx_http_farm_rconn_t *rc, int argc,
    const char **argv, const size_t *argvlen,
    ngx_http_farm_rconn_reply_pt cb, void *data)
{
    int                         len;
    char                       *cmd;
    u_char                     *out;
    size_t                      need, size;
    ngx_connection_t           *c;
    ngx_http_farm_rconn_cmd_t  *q;

    c = rc->connection;

    if (c == NULL) {
        return NGX_DECLINED;
    }

    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0) {
        return NGX_ERROR;
    }

    q = rc->free;

    if (q) {
        rc->free = q->next;

    } else {
        q = ngx_alloc(sizeof(ngx_http_farm_rconn_cmd_t), rc->log);
        if (q == NULL) {
            redisFreeCommand(cmd);
            return NGX_ERROR;
        }
    }

    need = rc->out_len - rc->out_sent + len;

    if (need <= rc->out_size && need > rc->out_size - rc->out_len) {

        /* the unsent bytes go to the front: the buffer holds what waits */

        ngx_memmove(rc->out, rc->out + rc->out_sent,
                    rc->out_len - rc->out_sent);

        rc->out_len -= rc->out_sent;
        rc->out_sent = 0;

    } else if (need > rc->out_size) {
        size = ngx_max(need, 2 * rc->out_size);
        size = ngx_max(size, 4096);

        out = ngx_alloc(size, rc->log);
        if (out == NULL) {
            redisFreeCommand(cmd);
            q->next = rc->free;
            rc->free = q;
            return NGX_ERROR;
        }

        if (rc->out) {
            ngx_memcpy(out, rc->out + rc->out_sent,
                       rc->out_len - rc->out_sent);
            ngx_free(rc->out);
        }

        rc->out = out;
        rc->out_len -= rc->out_sent;
        rc->out_sent = 0;
        rc->out_size = size;
    }

    ngx_memcpy(rc->out + rc->out_len, cmd, len);
    rc->out_len += len;

    redisFreeCommand(cmd);

    q->cb = cb;
    q->data = data;
    q->deadline = ngx_current_msec + rc->reply_timeout;
    q->next = NULL;

    if (rc->tail) {
        rc->tail->next = q;

    } else {
        rc->head = q;
        ngx_http_farm_rconn_arm(rc);
    }

    rc->tail = q;

    /* written from the event loop: the commands of one turn go together */

    if (rc->ready && !c->write->posted) {
        ngx_post_event(c->write, &ngx_posted_events);
    }

    return NGX_OK;
}


/*
 * Closes the connection, if any: every pending command's callback runs
 * with a NULL reply, oldest first, and rc->err is reason.  The closed
 * callback is not called.
 */

void
ngx_http_farm_rconn_close(ngx_http_farm_rconn_t *rc, const char *reason)
{
    if (rc->connection == NULL) {
        return;
    }

    if (reason != rc->err) {
        (void) ngx_cpystrn((u_char *) rc->err,
                           (u_char *) (reason ? reason : "closed"),
                           sizeof(rc->err));
    }

    ngx_http_farm_rconn_shut(rc);
}


/* At exit: closes, and frees what the connection kept for reuse. */

void
ngx_http_farm_rconn_free(ngx_http_farm_rconn_t *rc)
{
    ngx_http_farm_rconn_cmd_t  *q;

    ngx_http_farm_rconn_close(rc, "stopped");

    while (rc->free) {
        q = rc->free;
        rc->free = q->next;
        ngx_free(q);
    }

    if (rc->out) {
        ngx_free(rc->out);
        rc->out = NULL;
        rc->out_size = 0;
    }
}


static void
ngx_http_farm_rconn_connect_handler(ngx_event_t *ev)
{
    int                     err;
    u_char                  text[NGX_MAX_ERROR_STR], *p;
    socklen_t               len;
    ngx_connection_t       *c;
    ngx_http_farm_rconn_t  *rc;

    c = ev->data;
    rc = c->data;

    if (c->close) {
        ngx_http_farm_rconn_fail(rc, "shutting down");
        return;
    }

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        p = ngx_strerror(err, text, sizeof(text) - 1);
        *p = '\0';

        ngx_http_farm_rconn_fail(rc, "%s", text);
        return;
    }

    ngx_http_farm_rconn_connected(rc);
}


/* TCP is up: TLS shakes hands, plain TCP is ready */

static void
ngx_http_farm_rconn_connected(ngx_http_farm_rconn_t *rc)
{
#if (NGX_SSL)
    ngx_int_t          n;
    ngx_connection_t  *c;

    c = rc->connection;

    if (rc->ssl) {
        if (ngx_ssl_create_connection(rc->ssl, c, NGX_SSL_CLIENT) != NGX_OK) {
            ngx_http_farm_rconn_fail(rc, "cannot start TLS");
            return;
        }

        /*
         * A write that would block is retried from the output buffer,
         * which may have moved since (compacted or grown): the retry
         * sends the same bytes from their new address.
         */

        SSL_set_mode(c->ssl->connection, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

        /* no SNI for an address: RFC 6066 names hosts only */

        if (rc->server_name
            && !ngx_http_farm_rconn_is_ip(rc->server_name)
            && SSL_set_tlsext_host_name(c->ssl->connection,
                                        (char *) rc->server_name)
               != 1)
        {
            ngx_http_farm_rconn_fail(rc, "cannot set the TLS server name");
            return;
        }

        n = ngx_ssl_handshake(c);

        if (n == NGX_AGAIN) {
            c->ssl->handler = ngx_http_farm_rconn_handshaked;
            return;
        }

        ngx_http_farm_rconn_handshaked(c);
        return;
    }
#endif

    ngx_http_farm_rconn_ready(rc);
}


#if (NGX_SSL)

static void
ngx_http_farm_rconn_handshaked(ngx_connection_t *c)
{
    ngx_http_farm_rconn_t  *rc;

    rc = c->data;

    if (!c->ssl->handshaked) {
        ngx_http_farm_rconn_fail(rc, "TLS handshake failed%s%s",
                                 rc->why[0] ? ": " : "", rc->why);
        return;
    }

    if (rc->verify && ngx_http_farm_rconn_verify(rc, c) != NGX_OK) {
        return;
    }

    ngx_http_farm_rconn_ready(rc);
}


/*
 * The server's certificate: its chain against the trust store, then its
 * name (a DNS name, or an IP address in its subjectAltName) against
 * server_name.  NGX_ERROR: the connection failed, naming the error.
 */

static ngx_int_t
ngx_http_farm_rconn_verify(ngx_http_farm_rconn_t *rc, ngx_connection_t *c)
{
    long        v;
    X509       *cert;
    ngx_int_t   ok;
    ngx_str_t   name;

    cert = SSL_get_peer_certificate(c->ssl->connection);

    if (cert == NULL) {
        ngx_http_farm_rconn_fail(rc, "TLS certificate verify failed: the "
                                     "server sent no certificate");
        return NGX_ERROR;
    }

    v = SSL_get_verify_result(c->ssl->connection);

    if (v != X509_V_OK) {
        X509_free(cert);
        ngx_http_farm_rconn_fail(rc, "TLS certificate verify failed: %s",
                                 X509_verify_cert_error_string(v));
        return NGX_ERROR;
    }

    if (rc->server_name == NULL) {
        X509_free(cert);
        ngx_http_farm_rconn_fail(rc, "TLS certificate verify failed: no "
                                     "name to verify");
        return NGX_ERROR;
    }

    if (ngx_http_farm_rconn_is_ip(rc->server_name)) {
        ok = X509_check_ip_asc(cert, (char *) rc->server_name, 0) == 1;

    } else {
        name.data = rc->server_name;
        name.len = ngx_strlen(rc->server_name);

        ok = ngx_ssl_check_host(c, &name) == NGX_OK;
    }

    X509_free(cert);

    if (!ok) {
        ngx_http_farm_rconn_fail(rc, "TLS certificate verify failed: the "
                                     "certificate does not match \"%s\"",
                                 rc->server_name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_farm_rconn_is_ip(u_char *name)
{
    size_t  len;

    len = ngx_strlen(name);

    if (ngx_strlchr(name, name + len, ':') != NULL) {
        return 1;
    }

    return ngx_inet_addr(name, len) != INADDR_NONE;
}

#endif


/* connected (and verified): the queued commands go out */

static void
ngx_http_farm_rconn_ready(ngx_http_farm_rconn_t *rc)
{
    ngx_connection_t           *c;
    ngx_http_farm_rconn_cmd_t  *q;

    c = rc->connection;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

    rc->ready = 1;

    if (ngx_tcp_nodelay(c) != NGX_OK) {
        ngx_http_farm_rconn_fail(rc, "cannot set TCP_NODELAY");
        return;
    }

    c->read->handler = ngx_http_farm_rconn_read;
    c->write->handler = ngx_http_farm_rconn_write;

    /* the commands queued while connecting wait from now on */

    for (q = rc->head; q; q = q->next) {
        q->deadline = ngx_current_msec + rc->reply_timeout;
    }

    ngx_http_farm_rconn_arm(rc);

    if (ngx_http_farm_rconn_flush(rc) != NGX_OK) {
        return;
    }

    if (c->read->ready) {
        ngx_http_farm_rconn_read(c->read);
    }
}


static void
ngx_http_farm_rconn_read(ngx_event_t *ev)
{
    void                          *reply, *data;
    u_char                         buf[NGX_HTTP_FARM_RCONN_READ];
    ssize_t                        n;
    ngx_uint_t                     gen;
    redisReader                   *r;
    ngx_connection_t              *c;
    ngx_http_farm_rconn_t         *rc;
    ngx_http_farm_rconn_cmd_t     *q;
    ngx_http_farm_rconn_reply_pt   cb;

    c = ev->data;
    rc = c->data;
    gen = rc->gen;

    if (c->close) {
        ngx_http_farm_rconn_fail(rc, "shutting down");
        return;
    }

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0) {
            ngx_http_farm_rconn_fail(rc, "the server closed the connection");
            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_farm_rconn_fail(rc, "cannot read");
            return;
        }

        r = rc->reader;

        if (redisReaderFeed(r, (char *) buf, n) != REDIS_OK) {
            ngx_http_farm_rconn_fail(rc, "out of memory");
            return;
        }

        for ( ;; ) {
            reply = NULL;

            if (redisReaderGetReply(r, &reply) != REDIS_OK) {
                if (rc->count.elements > rc->count.max) {
                    ngx_http_farm_rconn_fail(rc, "reply too large: more "
                                             "than %ui elements",
                                             rc->count.max);
                    return;
                }

                ngx_http_farm_rconn_fail(rc, "a bad reply: %s", r->errstr);
                return;
            }

            if (reply == NULL) {
                break;
            }

            q = rc->head;

            if (q == NULL) {
                freeReplyObject(reply);
                ngx_http_farm_rconn_fail(rc, "a reply to no command");
                return;
            }

            rc->head = q->next;

            if (rc->head == NULL) {
                rc->tail = NULL;
            }

            cb = q->cb;
            data = q->data;

            q->next = rc->free;
            rc->free = q;

            ngx_http_farm_rconn_arm(rc);

            cb(data, reply);

            freeReplyObject(reply);

            /* the callback closed the connection */

            if (rc->gen != gen) {
                return;
            }
        }

        if (r->len - r->pos > NGX_HTTP_FARM_REDIS_MAX_PENDING) {
            ngx_http_farm_rconn_fail(rc, "reply too large: more than %d "
                                     "bytes", NGX_HTTP_FARM_REDIS_MAX_PENDING);
            return;
        }
    }

    if (ngx_handle_read_event(ev, 0) != NGX_OK) {
        ngx_http_farm_rconn_fail(rc, "cannot watch the socket");
    }
}


static void
ngx_http_farm_rconn_write(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_http_farm_rconn_t  *rc;

    c = ev->data;
    rc = c->data;

    if (!rc->ready) {
        return;
    }

    (void) ngx_http_farm_rconn_flush(rc);
}


/* NGX_OK: all written, or the rest waits for the socket; NGX_ERROR: failed */

static ngx_int_t
ngx_http_farm_rconn_flush(ngx_http_farm_rconn_t *rc)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = rc->connection;

    while (rc->out_sent < rc->out_len) {
        n = c->send(c, rc->out + rc->out_sent, rc->out_len - rc->out_sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_http_farm_rconn_fail(rc, "cannot watch the socket");
                return NGX_ERROR;
            }

            return NGX_OK;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_farm_rconn_fail(rc, "cannot write%s%s",
                                     rc->why[0] ? ": " : "", rc->why);
            return NGX_ERROR;
        }

        rc->out_sent += n;
    }

    rc->out_len = 0;
    rc->out_sent = 0;

    return NGX_OK;
}


static void
ngx_http_farm_rconn_timeout(ngx_event_t *ev)
{
    ngx_http_farm_rconn_t  *rc;

    rc = ev->data;

    if (!rc->ready) {
        ngx_http_farm_rconn_fail(rc, rc->connection->ssl
                                     ? "the TLS handshake timed out"
                                     : "connecting timed out");
        return;
    }

    if (rc->head
        && (ngx_msec_int_t) (rc->head->deadline - ngx_current_msec) <= 0)
    {
        ngx_http_farm_rconn_fail(rc, "a reply timed out");
        return;
    }

    ngx_http_farm_rconn_arm(rc);
}


/* the timer follows the oldest command, once the connection is ready */

static void
ngx_http_farm_rconn_arm(ngx_http_farm_rconn_t *rc)
{
    ngx_msec_int_t  left;

    if (!rc->ready || rc->reply_timeout == 0) {
        return;
    }

    if (rc->head == NULL) {
        if (rc->timer.timer_set) {
            ngx_del_timer(&rc->timer);
        }

        return;
    }

    left = (ngx_msec_int_t) (rc->head->deadline - ngx_current_msec);

    ngx_add_timer(&rc->timer, left > 0 ? (ngx_msec_t) left : 1);
}


/*
 * The connection failed by itself: rc->err says why, every pending
 * command ends with a NULL reply, then the owner hears of it.
 */

static void
ngx_http_farm_rconn_fail(ngx_http_farm_rconn_t *rc, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    if (rc->connection == NULL) {
        return;
    }

    va_start(args, fmt);
    p = ngx_vslprintf((u_char *) rc->err,
                      (u_char *) rc->err + sizeof(rc->err) - 1, fmt, args);
    va_end(args);

    *p = '\0';

    ngx_http_farm_rconn_shut(rc);

    if (rc->closed) {
        rc->closed(rc, rc->err);
    }
}


static void
ngx_http_farm_rconn_shut(ngx_http_farm_rconn_t *rc)
{
    void                          *data;
    ngx_pool_t                    *pool;
    ngx_connection_t              *c;
    ngx_http_farm_rconn_cmd_t     *q, *head;
    ngx_http_farm_rconn_reply_pt   cb;

    c = rc->connection;

    rc->connection = NULL;
    rc->ready = 0;
    rc->gen++;

    if (rc->timer.timer_set) {
        ngx_del_timer(&rc->timer);
    }

#if (NGX_SSL)
    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;
        (void) ngx_ssl_shutdown(c);
    }
#endif

    pool = c->pool;
    ngx_close_connection(c);

    if (pool) {
        ngx_destroy_pool(pool);
    }

    redisReaderFree(rc->reader);
    rc->reader = NULL;

    rc->out_len = 0;
    rc->out_sent = 0;

    /* every command's end, oldest first; none can queue another now */

    head = rc->head;
    rc->head = NULL;
    rc->tail = NULL;

    while (head) {
        q = head;
        head = q->next;

        cb = q->cb;
        data = q->data;

        q->next = rc->free;
        rc->free = q;

        cb(data, NULL);
    }
}


/*
 * The quiet log's writer: nginx's lines about the connection are dropped,
 * but for its alerts (written as before), and OpenSSL's reason in them,
 * " (SSL: error:CODE:LIBRARY:FUNCTION:REASON)", is kept for the failure.
 */

static void
ngx_http_farm_rconn_heard(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    u_char                 *p, *last, *e, *r;
    ngx_uint_t              n;
    ngx_http_farm_rconn_t  *rc;

    rc = log->wdata;

    if (level <= NGX_LOG_ALERT && rc->log->file) {
        (void) ngx_write_fd(rc->log->file->fd, buf, len);
    }

    last = buf + len;

    p = ngx_strlcasestrn(buf, last, (u_char *) "(SSL: ", 6 - 1);
    if (p == NULL) {
        return;
    }

    /* the last error of the queue; its reason is after its fourth ':' */

    e = NULL;

    while (p < last) {
        p = ngx_strlcasestrn(p, last, (u_char *) "error:", 6 - 1);
        if (p == NULL) {
            break;
        }

        e = p;
        p += 6;
    }

    if (e == NULL) {
        return;
    }

    r = NULL;
    n = 0;

    for (p = e; p < last && *p != ')' && *p != CR && *p != LF; p++) {
        if (*p == ':' && ++n == 4) {
            r = p + 1;
        }
    }

    if (r == NULL) {
        return;
    }

    for (n = 0; r + n < p && n < sizeof(rc->why) - 1; n++) {
        rc->why[n] = r[n];
    }

    rc->why[n] = '\0';
}
