
/*
 * ngx_http_farm_asan_control_module: the positive control of make test-asan.
 *
 * A location with "farm_asan_control;" commits a memory error on purpose,
 * chosen by the "bug" argument:
 *
 *     ?bug=heap    writes one byte past an 8-byte heap block (AddressSanitizer)
 *     ?bug=shift   shifts an int by 32 bits (UndefinedBehaviorSanitizer)
 *     otherwise    no error
 *
 * and then answers 200 "survived".  Built with the sanitizers and loaded
 * through scripts/nginx-asan, the worker must write a report and die before
 * it answers; tests/asan/control.t checks that it does.  This proves that
 * the build flags, the preloaded runtime and the report directory of
 * make test-asan together catch an error in a dynamic module.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


static char *ngx_http_farm_asan_control(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_farm_asan_control_handler(ngx_http_request_t *r);


static ngx_command_t  ngx_http_farm_asan_control_commands[] = {

    { ngx_string("farm_asan_control"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_farm_asan_control,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_farm_asan_control_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_farm_asan_control_module = {
    NGX_MODULE_V1,
    &ngx_http_farm_asan_control_module_ctx, /* module context */
    ngx_http_farm_asan_control_commands,   /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static char *
ngx_http_farm_asan_control(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_farm_asan_control_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_farm_asan_control_handler(ngx_http_request_t *r)
{
    u_char            *p;
    ngx_int_t          rc;
    ngx_buf_t         *b;
    ngx_str_t          bug;
    ngx_chain_t        out;
    volatile int       one, bits;
    volatile size_t    end;

    static u_char      survived[] = "survived\n";

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_arg(r, (u_char *) "bug", 3, &bug) != NGX_OK) {
        ngx_str_null(&bug);
    }

    /* volatile: the compiler must neither see the error nor drop it */

    if (bug.len == 4 && ngx_strncmp(bug.data, "heap", 4) == 0) {
        p = ngx_alloc(8, r->connection->log);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        end = 8;
        ((volatile u_char *) p)[end] = 1;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "farm asan control: wrote past a heap block");
        ngx_free(p);

    } else if (bug.len == 5 && ngx_strncmp(bug.data, "shift", 5) == 0) {
        one = 1;
        bits = 32;
        one = one << bits;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "farm asan control: shifted by %d, %d", bits, one);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = survived;
    b->last = survived + sizeof(survived) - 1;
    b->memory = 1;
    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}
