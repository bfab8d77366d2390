
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 *
 * Layer 1, nginx utilities: a Redis connection made of nginx's own parts,
 * plain or over TLS (ngx_http_farm_rconn.c).  The socket is an nginx peer
 * connection (ngx_event_connect_peer), TLS is nginx's (ngx_ssl), commands
 * are encoded by hiredis' redisFormatCommandArgv and replies parsed by its
 * redisReader, so hiredis never touches the socket.  Replies come back in
 * the order the commands were sent, to a FIFO of callbacks.
 */


#ifndef _NGX_HTTP_FARM_RCONN_H_INCLUDED_
#define _NGX_HTTP_FARM_RCONN_H_INCLUDED_


#include "ngx_http_farm_util.h"


typedef struct ngx_http_farm_rconn_s      ngx_http_farm_rconn_t;
typedef struct ngx_http_farm_rconn_cmd_s  ngx_http_farm_rconn_cmd_t;


/*
 * A command's end: reply is the parsed reply (a hiredis redisReply *,
 * read-only, valid only during the call) or NULL when the command failed
 * (the connection failed, was closed or a reply timed out).
 */
typedef void (*ngx_http_farm_rconn_reply_pt)(void *data, void *reply);

/*
 * The connection failed by itself (connect, TLS, verification, a read or a
 * write, a reply too large or overdue), after every pending command got
 * its NULL reply.  Not called for ngx_http_farm_rconn_close().
 */
typedef void (*ngx_http_farm_rconn_closed_pt)(ngx_http_farm_rconn_t *rc,
    const char *reason);


struct ngx_http_farm_rconn_s {
    /* set by the owner before the first ngx_http_farm_rconn_open() */
    struct sockaddr                *sockaddr;
    socklen_t                       socklen;
    ngx_str_t                       name;           /* "host:port" */
    void                           *ssl;            /* ngx_ssl_t; NULL: TCP */
    u_char                         *server_name;    /* SNI, verified */
    ngx_flag_t                      verify;
    ngx_msec_t                      connect_timeout;    /* and TLS */
    ngx_msec_t                      reply_timeout;      /* 0: none */
    ngx_log_t                      *log;
    ngx_http_farm_rconn_closed_pt   closed;
    void                           *data;

    /* the connection's state */
    ngx_connection_t               *connection;     /* NULL: closed */
    void                           *reader;         /* redisReader */
    ngx_http_farm_hiredis_count_t   count;          /* the reply's elements */
    ngx_uint_t                      ready;          /* may send */
    ngx_uint_t                      gen;            /* closes so far */
    ngx_event_t                     timer;
    ngx_log_t                       quiet;          /* nginx's own lines */

    u_char                         *out;            /* encoded commands */
    size_t                          out_len;
    size_t                          out_sent;
    size_t                          out_size;

    ngx_http_farm_rconn_cmd_t      *head;           /* oldest first */
    ngx_http_farm_rconn_cmd_t      *tail;
    ngx_http_farm_rconn_cmd_t      *free;

    char                            err[192];       /* the last failure */
    char                            why[96];        /* OpenSSL's reason */
};


void *ngx_http_farm_rconn_ssl(ngx_conf_t *cf, ngx_str_t *trusted,
    ngx_flag_t verify);
ngx_int_t ngx_http_farm_rconn_open(ngx_http_farm_rconn_t *rc);
ngx_int_t ngx_http_farm_rconn_command(ngx_http_farm_rconn_t *rc, int argc,
    const char **argv, const size_t *argvlen,
    ngx_http_farm_rconn_reply_pt cb, void *data);
void ngx_http_farm_rconn_close(ngx_http_farm_rconn_t *rc,
    const char *reason);
void ngx_http_farm_rconn_free(ngx_http_farm_rconn_t *rc);


#endif /* _NGX_HTTP_FARM_RCONN_H_INCLUDED_ */
