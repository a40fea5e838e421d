
/*
 * Copyright (C) The tier router authors
 *
 * Helpers of the glue that any of its files may call: the tier by name,
 * a response header added, a request header found, a whole small file
 * read without blocking on a FIFO, the passthrough upstream, a JSON
 * document as a buffer.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_UTIL_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_UTIL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


ngx_int_t ngx_http_tier_router_add_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value);
ngx_table_elt_t *ngx_http_tier_router_next_header(ngx_list_part_t **part,
    ngx_uint_t *i, ngx_str_t *name);
ngx_str_t *ngx_http_tier_router_passthrough(ngx_http_request_t *r);
ngx_int_t ngx_http_tier_router_read_whole(ngx_str_t *path, size_t max,
    ngx_uint_t nofollow, ngx_log_t *log, u_char **buf, size_t *len,
    ngx_err_t *e, const char **why);
ngx_int_t ngx_http_tier_router_get_only(ngx_http_request_t *r);
ngx_int_t ngx_http_tier_router_conf_file(ngx_conf_t *cf, ngx_str_t *name,
    size_t max, const char *what, u_char **buf, size_t *len);
ngx_buf_t *ngx_http_tier_router_json_buf(ngx_http_request_t *r,
    void *json);
ngx_int_t ngx_http_tier_router_upstream_known(ngx_conf_t *cf,
    ngx_str_t *name);

ngx_int_t ngx_http_tier_router_send(ngx_http_request_t *r, ngx_buf_t *b);

/* a score in [0, 1] as "%.3f" prints it, in sizeof("0.000") - 1 bytes */
u_char *ngx_http_tier_router_score_text(u_char *p, double score);

ngx_int_t ngx_http_tier_router_append_reason(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, const char *reason);

void ngx_http_tier_router_random(u_char *buf, size_t len);
void ngx_http_tier_router_release(ngx_connection_t *c);

char *ngx_http_tier_router_compile(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_complex_value_t **cvp);


#endif /* _NGX_HTTP_TIER_ROUTER_UTIL_H_INCLUDED_ */
