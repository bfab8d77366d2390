
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FARM_HIDE_ARGS_H_INCLUDED_
#define _NGX_HTTP_FARM_HIDE_ARGS_H_INCLUDED_


/*
 * farm_key_auth hide=on, independent of nginx (the unit tests and the
 * fuzzer drive it directly): the query arguments that carry an API key are
 * removed from the arguments and from the request line sent upstream.
 */


#include <stddef.h>
#include <stdint.h>


typedef struct {
    const uint8_t  *data;
    size_t          len;
} farm_span_t;


/*
 * Writes into out (at least args->len bytes) the arguments of args, split
 * on "&", whose name (the part before the first "=", or all of it) is none
 * of names[0..nnames), compared without regard to ASCII case.  The kept
 * arguments are joined by "&" in their order; empty ones are dropped.
 * Returns the length written; *removed is the number of arguments removed.
 * When it is 0, out is not meant to be used: the arguments stay as they
 * came (empty ones included).
 */
size_t farm_hide_args(uint8_t *out, const farm_span_t *args,
    const farm_span_t *names, size_t nnames, size_t *removed);


/* The size of the line farm_request_line() writes. */
#define farm_request_line_size(method, uri, args, proto)                      \
    ((method)->len + 1 + (uri)->len + 1 + (args)->len + 1 + (proto)->len)

/*
 * Writes "METHOD SP PATH[?ARGS][ SP PROTO]" into line, where PATH is uri up
 * to its first "?", "?ARGS" is left out when args is empty and " PROTO"
 * when proto is (an HTTP/0.9 request line).  Returns the line's length;
 * *uri_start and *uri_len tell where the new URI ("PATH[?ARGS]") is in it.
 */
size_t farm_request_line(uint8_t *line, const farm_span_t *method,
    const farm_span_t *uri, const farm_span_t *args,
    const farm_span_t *proto, size_t *uri_start, size_t *uri_len);


#endif /* _NGX_HTTP_FARM_HIDE_ARGS_H_INCLUDED_ */
