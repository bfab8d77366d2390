
/*
 * Copyright (C) 2026 the ngx_farm authors.
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FARM_CHECK_PARSE_H_INCLUDED_
#define _NGX_HTTP_FARM_CHECK_PARSE_H_INCLUDED_


/*
 * The answer to a health check, as the module reads it, independent of
 * nginx (the unit tests and the fuzzer drive it directly):
 *
 *   HTTP/1.x NNN ...\r\n<headers>\r\n\r\n<body>
 *
 * and, when the body is a JSON object, what farm-agent's /health says about
 * the agent: {"status":"up"|"draining", "draining":BOOL, "weight":N,
 * "inflight":N} ("draining" wins over "status").
 */


#include <stddef.h>
#include <stdint.h>


typedef struct {
    int             status;     /* NNN, 0-999; -1: not three digits */
    const uint8_t  *body;       /* after the first empty line, or the end */
    size_t          body_len;

    int             draining;   /* 1, 0; -1: not said */
    int             weight;     /* 1-FARM_WEIGHT_MAX; 0: not said */
    int32_t         inflight;   /* 0-INT32_MAX (larger is capped) */
} farm_check_answer_t;


/*
 * Reads in[0..len), which need not be NUL-terminated: every byte is looked
 * at, NUL included.  Returns 0 and fills a, or -1 when the text is not an
 * HTTP answer (shorter than "HTTP/1.x NNN", or another start).
 */
int farm_check_parse(farm_check_answer_t *a, const uint8_t *in, size_t len);


#endif /* _NGX_HTTP_FARM_CHECK_PARSE_H_INCLUDED_ */
