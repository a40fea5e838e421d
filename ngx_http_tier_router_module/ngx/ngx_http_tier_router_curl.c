
/*
 * Copyright (C) The tier router authors
 *
 * libcurl's multi interface in the worker's event loop.  libcurl tells,
 * through its socket callback, which of its sockets it wants read or
 * written: each is wrapped in an nginx connection (not closed by nginx:
 * libcurl owns the descriptor) whose events are added level-triggered;
 * through its timer callback, when it wants to be called anyway: one
 * nginx timer.  Either event calls curl_multi_socket_action(), and ended
 * transfers are handed to their owners.  One multi handle per worker,
 * made when the first transfer starts.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_tier_router_curl.h"
#include "ngx_http_tier_router_util.h"


typedef struct {
    ngx_queue_t                        queue;
    CURL                              *easy;
    ngx_http_tier_router_curl_done_pt  done;
    void                              *data;
} ngx_http_tier_router_xfer_t;


static int ngx_http_tier_router_curl_socket(CURL *easy, curl_socket_t s,
    int what, void *userp, void *socketp);
static int ngx_http_tier_router_curl_timer(CURLM *multi, long timeout_ms,
    void *userp);
static void ngx_http_tier_router_curl_read(ngx_event_t *ev);
static void ngx_http_tier_router_curl_write(ngx_event_t *ev);
static void ngx_http_tier_router_curl_timeout(ngx_event_t *ev);
static void ngx_http_tier_router_curl_action(curl_socket_t s, int mask);
static void ngx_http_tier_router_curl_finish(ngx_http_tier_router_xfer_t *x,
    CURLcode result, long status);


static CURLM        *ngx_http_tier_router_multi;
static ngx_event_t   ngx_http_tier_router_multi_timer;
static ngx_queue_t   ngx_http_tier_router_xfers;
static ngx_uint_t    ngx_http_tier_router_nxfers;
static ngx_uint_t    ngx_http_tier_router_curl_inited;


ngx_int_t
ngx_http_tier_router_curl_global(ngx_log_t *log)
{
    if (ngx_http_tier_router_curl_inited) {
        return NGX_OK;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, log, 0,
                      "tier router: curl_global_init() failed");
        return NGX_ERROR;
    }

    ngx_http_tier_router_curl_inited = 1;

    return NGX_OK;
}


ngx_int_t
ngx_http_tier_router_curl_start(CURL *easy,
    ngx_http_tier_router_curl_done_pt done, void *data, ngx_log_t *log)
{
    CURLM                        *multi;
    CURLMcode                     rc;
    ngx_http_tier_router_xfer_t  *x;

    if (ngx_http_tier_router_multi == NULL) {
        multi = curl_multi_init();
        if (multi == NULL) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "tier router: curl_multi_init() failed");
            return NGX_ERROR;
        }

        (void) curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION,
                                 ngx_http_tier_router_curl_socket);
        (void) curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION,
                                 ngx_http_tier_router_curl_timer);

        ngx_memzero(&ngx_http_tier_router_multi_timer, sizeof(ngx_event_t));
        ngx_http_tier_router_multi_timer.handler =
                                          ngx_http_tier_router_curl_timeout;
        ngx_http_tier_router_multi_timer.log = ngx_cycle->log;

        /* a worker leaving does not wait: what was in flight is told */

        ngx_http_tier_router_multi_timer.cancelable = 1;

        ngx_queue_init(&ngx_http_tier_router_xfers);
        ngx_http_tier_router_multi = multi;
    }

    x = ngx_alloc(sizeof(ngx_http_tier_router_xfer_t), log);
    if (x == NULL) {
        return NGX_ERROR;
    }

    x->easy = easy;
    x->done = done;
    x->data = data;

    (void) curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    (void) curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);

    rc = curl_multi_add_handle(ngx_http_tier_router_multi, easy);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "tier router: curl_multi_add_handle() failed: %s",
                      curl_multi_strerror(rc));
        ngx_free(x);
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&ngx_http_tier_router_xfers, &x->queue);
    ngx_http_tier_router_nxfers++;

    return NGX_OK;
}


ngx_uint_t
ngx_http_tier_router_curl_running(void)
{
    return ngx_http_tier_router_nxfers;
}


void
ngx_http_tier_router_curl_exit(void)
{
    ngx_queue_t                  *q;
    ngx_http_tier_router_xfer_t  *x;

    if (ngx_http_tier_router_multi == NULL) {
        return;
    }

    while (!ngx_queue_empty(&ngx_http_tier_router_xfers)) {
        q = ngx_queue_head(&ngx_http_tier_router_xfers);
        x = ngx_queue_data(q, ngx_http_tier_router_xfer_t, queue);

        ngx_http_tier_router_curl_finish(x, CURLE_ABORTED_BY_CALLBACK, 0);
    }

    (void) curl_multi_cleanup(ngx_http_tier_router_multi);
    ngx_http_tier_router_multi = NULL;

    if (ngx_http_tier_router_multi_timer.timer_set) {
        ngx_del_timer(&ngx_http_tier_router_multi_timer);
    }
}


/* which of a socket's events libcurl wants now */

static int
ngx_http_tier_router_curl_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp)
{
    ngx_connection_t  *c;

    c = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (c) {
            ngx_http_tier_router_release(c);
            (void) curl_multi_assign(ngx_http_tier_router_multi, s, NULL);
        }

        return 0;
    }

    if (c == NULL) {
        c = ngx_get_connection(s, ngx_cycle->log);
        if (c == NULL) {
            return -1;
        }

        c->read->handler = ngx_http_tier_router_curl_read;
        c->write->handler = ngx_http_tier_router_curl_write;
        c->read->log = c->log;
        c->write->log = c->log;

        if (curl_multi_assign(ngx_http_tier_router_multi, s, c) != CURLM_OK) {
            ngx_http_tier_router_release(c);
            return -1;
        }
    }

    /* level-triggered: libcurl may leave data to read for later */

    if ((what & CURL_POLL_IN) && !c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            return -1;
        }

    } else if (!(what & CURL_POLL_IN) && c->read->active) {
        if (ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    if ((what & CURL_POLL_OUT) && !c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return -1;
        }

    } else if (!(what & CURL_POLL_OUT) && c->write->active) {
        if (ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    return 0;
}


static int
ngx_http_tier_router_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    if (timeout_ms < 0) {
        if (ngx_http_tier_router_multi_timer.timer_set) {
            ngx_del_timer(&ngx_http_tier_router_multi_timer);
        }

        return 0;
    }

    ngx_add_timer(&ngx_http_tier_router_multi_timer, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
ngx_http_tier_router_curl_read(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    ngx_http_tier_router_curl_action(c->fd, CURL_CSELECT_IN);
}


static void
ngx_http_tier_router_curl_write(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    ngx_http_tier_router_curl_action(c->fd, CURL_CSELECT_OUT);
}


static void
ngx_http_tier_router_curl_timeout(ngx_event_t *ev)
{
    ngx_http_tier_router_curl_action(CURL_SOCKET_TIMEOUT, 0);
}


/* libcurl's turn; the connection may be gone after it */

static void
ngx_http_tier_router_curl_action(curl_socket_t s, int mask)
{
    int                           running, left;
    long                          status;
    CURL                         *easy;
    CURLMsg                      *msg;
    CURLcode                      result;
    CURLMcode                     rc;
    ngx_http_tier_router_xfer_t  *x;

    if (ngx_http_tier_router_multi == NULL) {
        return;
    }

    rc = curl_multi_socket_action(ngx_http_tier_router_multi, s, mask,
                                  &running);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "tier router: curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(rc));
    }

    for ( ;; ) {
        msg = curl_multi_info_read(ngx_http_tier_router_multi, &left);

        if (msg == NULL) {
            break;
        }

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        result = msg->data.result;
        x = NULL;
        status = 0;

        (void) curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &x);
        (void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);

        if (x) {
            ngx_http_tier_router_curl_finish(x, result, status);
        }
    }
}


static void
ngx_http_tier_router_curl_finish(ngx_http_tier_router_xfer_t *x,
    CURLcode result, long status)
{
    (void) curl_multi_remove_handle(ngx_http_tier_router_multi, x->easy);

    ngx_queue_remove(&x->queue);
    ngx_http_tier_router_nxfers--;

    x->done(x->data, result, status);

    curl_easy_cleanup(x->easy);
    ngx_free(x);
}
