
/*
 * Copyright (C) The tier router authors
 *
 * Helpers of the glue that any of its files may call: an upstream known,
 * a response header added, a request header found, a whole small file
 * read without blocking on a FIFO, the passthrough upstream, a JSON
 * document as a buffer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_tier_router_util.h"
#include "ngx_http_tier_router_module.h"


/* an upstream{} block by that name, or an address with a port */

ngx_int_t
ngx_http_tier_router_upstream_known(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                      i;
    ngx_http_upstream_srv_conf_t  **uscfp;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->host.len == name->len
            && ngx_strncasecmp(uscfp[i]->host.data, name->data, name->len)
               == 0)
        {
            return NGX_OK;
        }
    }

    return ngx_strlchr(name->data, name->data + name->len, ':')
           ? NGX_OK : NGX_DECLINED;
}


/*
 * ngx_sprintf("%.3f") walks its format for every request's header and
 * variable: the same digits, rounded as it rounds (the fraction times
 * 1000 plus a half, truncated; 1000 carries into the units)
 */

u_char *
ngx_http_tier_router_score_text(u_char *p, double score)
{
    ngx_uint_t  units, frac;

    if (!(score >= 0.0 && score <= 1.0)) {
        score = (score > 1.0) ? 1.0 : 0.0;
    }

    units = (ngx_uint_t) score;
    frac = (ngx_uint_t) ((score - (double) units) * 1000 + 0.5);

    if (frac == 1000) {
        units++;
        frac = 0;
    }

    *p++ = (u_char) ('0' + units);
    *p++ = '.';
    *p++ = (u_char) ('0' + frac / 100);
    *p++ = (u_char) ('0' + frac / 10 % 10);
    *p++ = (u_char) ('0' + frac % 10);

    return p;
}


ngx_int_t
ngx_http_tier_router_add_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


/*
 * A whole regular file in memory from ngx_alloc() (the caller frees it),
 * at configuration time, through no symbolic link if nofollow: NGX_OK;
 * NGX_DECLINED if it cannot be opened (*e: the errno); NGX_ERROR (the
 * file is bad) or NGX_ABORT (no memory) with the reason in *why.
 */

/* a GET or a HEAD, its body discarded: NGX_OK, else what to answer */

ngx_int_t
ngx_http_tier_router_get_only(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    return ngx_http_discard_request_body(r);
}


/*
 * A file a directive names, read whole at configuration time (its name
 * relative to the prefix); what says what it is in the message that
 * stops nginx when it cannot be read.  The caller frees *buf.
 */

ngx_int_t
ngx_http_tier_router_conf_file(ngx_conf_t *cf, ngx_str_t *name, size_t max,
    const char *what, u_char **buf, size_t *len)
{
    ngx_err_t    e;
    ngx_int_t    rc;
    const char  *why;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_tier_router_read_whole(name, max, 0, cf->log, buf, len,
                                         &e, &why);

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, e,
                           "%s: " ngx_open_file_n " \"%V\" failed", what,
                           name);
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s \"%V\": %s", what, name,
                           why);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_tier_router_read_whole(ngx_str_t *path, size_t max,
    ngx_uint_t nofollow, ngx_log_t *log, u_char **buf, size_t *len,
    ngx_err_t *e, const char **why)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    /* non-blocking: a FIFO must not hang the start */

    fd = ngx_open_file(path->data,
                       NGX_FILE_RDONLY|NGX_FILE_NONBLOCK
                       |(nofollow ? O_NOFOLLOW : 0),
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        *e = ngx_errno;
        return NGX_DECLINED;
    }

    *buf = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        *why = "unreadable";
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        *why = "not a regular file";
        goto failed;
    }

    if (ngx_file_size(&fi) > (off_t) max) {
        *why = "too large";
        goto failed;
    }

    *len = (size_t) ngx_file_size(&fi);

    *buf = ngx_alloc(*len + 1, log);
    if (*buf == NULL) {
        *why = "no memory to read it";
        ngx_close_file(fd);
        return NGX_ABORT;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *path;
    file.log = log;

    n = ngx_read_file(&file, *buf, *len, 0);

    if (n != (ssize_t) *len) {
        *why = "short read";
        ngx_free(*buf);
        *buf = NULL;
        goto failed;
    }

    ngx_close_file(fd);

    return NGX_OK;

failed:

    ngx_close_file(fd);

    return NGX_ERROR;
}


/* where a request the module does not route goes: the operator's, or
 * the first tier's upstream */

ngx_str_t *
ngx_http_tier_router_passthrough(ngx_http_request_t *r)
{
    ngx_http_tier_router_tier_t       *tier;
    ngx_http_tier_router_loc_conf_t   *trlcf;
    ngx_http_tier_router_main_conf_t  *trmcf;

    trlcf = ngx_http_get_module_loc_conf(r, ngx_http_tier_router_module);

    if (trlcf->passthrough.len) {
        return &trlcf->passthrough;
    }

    trmcf = ngx_http_get_module_main_conf(r, ngx_http_tier_router_module);

    if (trlcf->ladder == NULL || trlcf->ladder->n == 0) {
        return NULL;
    }

    tier = trmcf->tiers.elts;

    return &tier[trlcf->ladder->first].upstream;
}


/* a JSON value as the body of a response, indented, with a newline */

ngx_buf_t *
ngx_http_tier_router_json_buf(ngx_http_request_t *r, void *json)
{
    char       *text;
    size_t      len;
    ngx_buf_t  *b;

    text = json_dumps(json, JSON_INDENT(1));
    if (text == NULL) {
        return NULL;
    }

    len = ngx_strlen(text);

    b = ngx_create_temp_buf(r->pool, len + 1);

    if (b) {
        b->last = ngx_cpymem(b->last, text, len);
        *b->last++ = '\n';
    }

    free(text);

    return b;
}


/*
 * The next request header named name (in any case) from (*part, *i) on,
 * which are left just past it, or NULL: call again for every header of
 * that name.  Start with the headers' first part and 0.
 */

ngx_table_elt_t *
ngx_http_tier_router_next_header(ngx_list_part_t **part, ngx_uint_t *i,
    ngx_str_t *name)
{
    ngx_table_elt_t  *h;

    for ( ;; ) {

        if (*i >= (*part)->nelts) {
            if ((*part)->next == NULL) {
                return NULL;
            }

            *part = (*part)->next;
            *i = 0;
            continue;
        }

        h = (ngx_table_elt_t *) (*part)->elts + (*i)++;

        if (h->key.len == name->len
            && ngx_strncasecmp(h->key.data, name->data, name->len) == 0)
        {
            return h;
        }
    }
}


ngx_int_t
ngx_http_tier_router_send(ngx_http_request_t *r, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_tier_router_append_reason(ngx_http_request_t *r,
    ngx_http_tier_router_ctx_t *ctx, const char *reason)
{
    u_char  *p;
    size_t   len;

    len = ngx_strlen(reason);

    p = ngx_pnalloc(r->pool, ctx->rq->reason.len + 1 + len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, ctx->rq->reason.data, ctx->rq->reason.len);
    p[ctx->rq->reason.len] = ',';
    ngx_memcpy(p + ctx->rq->reason.len + 1, reason, len);

    ctx->rq->reason.data = p;
    ctx->rq->reason.len += 1 + len;

    return NGX_OK;
}


/* len random bytes, from /dev/urandom (at configuration time only) */

void
ngx_http_tier_router_random(u_char *buf, size_t len)
{
    size_t     i;
    ssize_t    n;
    ngx_fd_t   fd;

    n = 0;
    fd = ngx_open_file("/dev/urandom", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        n = read(fd, buf, len);
        ngx_close_file(fd);
    }

    if (n != (ssize_t) len) {
        for (i = 0; i < len; i++) {
            buf[i] = (u_char) ngx_random();
        }
    }
}


/* a directive's value as a complex value (variables allowed) */

char *
ngx_http_tier_router_compile(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_complex_value_t **cvp)
{
    ngx_http_compile_complex_value_t  ccv;

    *cvp = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (*cvp == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = *cvp;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A connection made around a descriptor that a library owns (libcurl's,
 * hiredis's): its events deleted and the connection freed, the
 * descriptor left open for the library to close; an event of it still
 * in this round of the loop is then stale.
 */

void
ngx_http_tier_router_release(ngx_connection_t *c)
{
    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;
}
