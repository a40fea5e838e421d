
/*
 * Copyright (C) The tier router authors
 *
 * hiredis's asynchronous API on nginx's event loop.  hiredis asks, through
 * its event hooks, for its socket to be watched for reading or writing:
 * the socket is wrapped in an nginx connection (hiredis owns and closes
 * the descriptor) whose events are level-triggered, as hiredis reads one
 * buffer at a time.  hiredis has no timeouts of its own in this API: a
 * connect and each command have an nginx timer, and one that fires drops
 * the connection (every command pending is told, with no reply) and the
 * next server is tried.  A lost connection is made again after a backoff
 * that doubles from 100ms to 5s, going round the servers.  One connection
 * per worker and zone; the addresses are IPs, so nothing resolves a name.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_tier_router_redis.h"
#include "ngx_http_tier_router_util.h"


#define NGX_HTTP_TIER_ROUTER_REDIS_BACKOFF      100
#define NGX_HTTP_TIER_ROUTER_REDIS_BACKOFF_MAX  5000


typedef struct {
    ngx_event_t                     timer;
    ngx_http_tier_router_redis_t   *rd;
    ngx_http_tier_router_redis_pt   cb;
    void                           *data;
    unsigned                        done:1;
} ngx_http_tier_router_redis_cmd_t;


static void ngx_http_tier_router_redis_connect(
    ngx_http_tier_router_redis_t *rd);
static void ngx_http_tier_router_redis_again(
    ngx_http_tier_router_redis_t *rd);
static void ngx_http_tier_router_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_tier_router_redis_on_disconnect(
    const redisAsyncContext *ac, int status);
static void ngx_http_tier_router_redis_add_read(void *privdata);
static void ngx_http_tier_router_redis_del_read(void *privdata);
static void ngx_http_tier_router_redis_add_write(void *privdata);
static void ngx_http_tier_router_redis_del_write(void *privdata);
static void ngx_http_tier_router_redis_cleanup(void *privdata);
static void ngx_http_tier_router_redis_read(ngx_event_t *ev);
static void ngx_http_tier_router_redis_write(ngx_event_t *ev);
static void ngx_http_tier_router_redis_retry(ngx_event_t *ev);
static void ngx_http_tier_router_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_tier_router_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_tier_router_redis_timeout(ngx_event_t *ev);


ngx_int_t
ngx_http_tier_router_redis_server(ngx_str_t *s,
    ngx_http_tier_router_redis_server_t *srv)
{
    u_char     *p, *last, *colon;
    size_t      len;
    ngx_int_t   port;

    p = s->data;
    last = s->data + s->len;
    port = 6379;

    if (p < last && *p == '[') {

        /* [IPv6]:port */

        colon = ngx_strlchr(p, last, ']');
        if (colon == NULL) {
            return NGX_ERROR;
        }

        len = colon - p - 1;
        p++;

        if (colon + 1 < last) {
            if (colon[1] != ':') {
                return NGX_ERROR;
            }

            port = ngx_atoi(colon + 2, last - colon - 2);
        }

#if (NGX_HAVE_INET6)
        {
        u_char  addr[16];

        if (ngx_inet6_addr(p, len, addr) != NGX_OK) {
            return NGX_ERROR;
        }
        }
#else
        return NGX_ERROR;
#endif

    } else {
        colon = ngx_strlchr(p, last, ':');
        len = (colon ? colon : last) - p;

        if (colon) {
            port = ngx_atoi(colon + 1, last - colon - 1);
        }

        if (ngx_inet_addr(p, len) == INADDR_NONE) {
            return NGX_ERROR;
        }
    }

    if (port < 1 || port > 65535 || len >= NGX_SOCKADDR_STRLEN) {
        return NGX_ERROR;
    }

    ngx_memcpy(srv->host, p, len);
    srv->host[len] = '\0';
    srv->port = (int) port;

    return NGX_OK;
}


void
ngx_http_tier_router_redis_start(ngx_http_tier_router_redis_t *rd)
{
    rd->backoff = NGX_HTTP_TIER_ROUTER_REDIS_BACKOFF;

    rd->retry.handler = ngx_http_tier_router_redis_retry;
    rd->retry.data = rd;
    rd->retry.log = rd->log;
    rd->retry.cancelable = 1;

    rd->connect.handler = ngx_http_tier_router_redis_connect_timeout;
    rd->connect.data = rd;
    rd->connect.log = rd->log;
    rd->connect.cancelable = 1;

    ngx_http_tier_router_redis_connect(rd);
}


static void
ngx_http_tier_router_redis_connect(ngx_http_tier_router_redis_t *rd)
{
    ngx_connection_t                     *c;
    redisAsyncContext                    *ac;
    ngx_http_tier_router_redis_server_t  *srv;

    srv = &rd->servers[rd->server];

    ac = redisAsyncConnect((char *) srv->host, srv->port);

    if (ac == NULL || ac->err) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "tier router: zone \"%V\": redis %s:%d: %s",
                      &rd->name, srv->host, srv->port,
                      ac ? ac->errstr : "no memory");
        goto failed;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        goto failed;
    }

    c->data = rd;
    c->read->handler = ngx_http_tier_router_redis_read;
    c->write->handler = ngx_http_tier_router_redis_write;
    c->read->log = rd->log;
    c->write->log = rd->log;

    rd->ac = ac;
    rd->c = c;
    rd->state = NGX_HTTP_TIER_ROUTER_REDIS_CONNECTING;

    ac->data = rd;
    ac->ev.data = rd;
    ac->ev.addRead = ngx_http_tier_router_redis_add_read;
    ac->ev.delRead = ngx_http_tier_router_redis_del_read;
    ac->ev.addWrite = ngx_http_tier_router_redis_add_write;
    ac->ev.delWrite = ngx_http_tier_router_redis_del_write;
    ac->ev.cleanup = ngx_http_tier_router_redis_cleanup;

    (void) redisAsyncSetDisconnectCallback(ac,
                                     ngx_http_tier_router_redis_on_disconnect);

    /* the first write event tells the connection is made */

    (void) redisAsyncSetConnectCallback(ac,
                                        ngx_http_tier_router_redis_on_connect);

    ngx_add_timer(&rd->connect, rd->timeout);

    return;

failed:

    if (ac) {
        redisAsyncFree(ac);
    }

    ngx_http_tier_router_redis_again(rd);
}


/* a failure: the next server, after the backoff, which doubles */

static void
ngx_http_tier_router_redis_again(ngx_http_tier_router_redis_t *rd)
{
    rd->failures++;
    rd->server = (rd->server + 1) % rd->nservers;

    if (!rd->retry.timer_set) {
        ngx_add_timer(&rd->retry, rd->backoff);
        rd->backoff = ngx_min(rd->backoff * 2,
                              NGX_HTTP_TIER_ROUTER_REDIS_BACKOFF_MAX);
    }
}


static void
ngx_http_tier_router_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_tier_router_redis_t  *rd = ac->data;

    if (rd->connect.timer_set) {
        ngx_del_timer(&rd->connect);
    }

    if (status != REDIS_OK) {

        /* hiredis frees the context now: see cleanup */

        if (rd->failures == 0) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "tier router: zone \"%V\": redis %s:%d: %s",
                          &rd->name, rd->servers[rd->server].host,
                          rd->servers[rd->server].port, ac->errstr);
        }

        return;
    }

    if (rd->failures) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "tier router: zone \"%V\": redis %s:%d is back",
                      &rd->name, rd->servers[rd->server].host,
                      rd->servers[rd->server].port);
    }

    rd->state = NGX_HTTP_TIER_ROUTER_REDIS_UP;
    rd->failures = 0;
    rd->backoff = NGX_HTTP_TIER_ROUTER_REDIS_BACKOFF;

    if (rd->up) {
        rd->up(rd->data);
    }
}


static void
ngx_http_tier_router_redis_on_disconnect(const redisAsyncContext *ac,
    int status)
{
    ngx_http_tier_router_redis_t  *rd = ac->data;

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "tier router: zone \"%V\": redis %s:%d lost: %s",
                      &rd->name, rd->servers[rd->server].host,
                      rd->servers[rd->server].port, ac->errstr);
    }
}


static void
ngx_http_tier_router_redis_add_read(void *privdata)
{
    ngx_http_tier_router_redis_t  *rd = privdata;

    if (rd->c && !rd->c->read->active) {
        (void) ngx_add_event(rd->c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_tier_router_redis_del_read(void *privdata)
{
    ngx_http_tier_router_redis_t  *rd = privdata;

    if (rd->c && rd->c->read->active) {
        (void) ngx_del_event(rd->c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_tier_router_redis_add_write(void *privdata)
{
    ngx_http_tier_router_redis_t  *rd = privdata;

    if (rd->c && !rd->c->write->active) {
        (void) ngx_add_event(rd->c->write, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_http_tier_router_redis_del_write(void *privdata)
{
    ngx_http_tier_router_redis_t  *rd = privdata;

    if (rd->c && rd->c->write->active) {
        (void) ngx_del_event(rd->c->write, NGX_WRITE_EVENT, 0);
    }
}


/* the context goes (hiredis closes the descriptor after): try again */

static void
ngx_http_tier_router_redis_cleanup(void *privdata)
{
    ngx_http_tier_router_redis_t  *rd = privdata;

    ngx_connection_t  *c;

    c = rd->c;

    if (c) {
        ngx_http_tier_router_release(c);
    }

    rd->c = NULL;
    rd->ac = NULL;
    rd->state = NGX_HTTP_TIER_ROUTER_REDIS_DOWN;

    if (rd->connect.timer_set) {
        ngx_del_timer(&rd->connect);
    }

    if (rd->retry.handler == NULL || ngx_exiting || ngx_terminate
        || ngx_quit)
    {
        return;
    }

    ngx_http_tier_router_redis_again(rd);
}


static void
ngx_http_tier_router_redis_read(ngx_event_t *ev)
{
    ngx_connection_t              *c = ev->data;
    ngx_http_tier_router_redis_t  *rd = c->data;

    if (rd->ac) {
        redisAsyncHandleRead(rd->ac);
    }
}


static void
ngx_http_tier_router_redis_write(ngx_event_t *ev)
{
    ngx_connection_t              *c = ev->data;
    ngx_http_tier_router_redis_t  *rd = c->data;

    if (rd->ac) {
        redisAsyncHandleWrite(rd->ac);
    }
}


static void
ngx_http_tier_router_redis_retry(ngx_event_t *ev)
{
    ngx_http_tier_router_redis_t  *rd = ev->data;

    if (rd->ac == NULL && !ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_http_tier_router_redis_connect(rd);
    }
}


static void
ngx_http_tier_router_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_tier_router_redis_t  *rd = ev->data;

    if (rd->ac && rd->state == NGX_HTTP_TIER_ROUTER_REDIS_CONNECTING) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "tier router: zone \"%V\": redis %s:%d: connect "
                      "timed out", &rd->name,
                      rd->servers[rd->server].host,
                      rd->servers[rd->server].port);
        redisAsyncFree(rd->ac);
    }
}


ngx_int_t
ngx_http_tier_router_redis_command(ngx_http_tier_router_redis_t *rd,
    ngx_http_tier_router_redis_pt cb, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_http_tier_router_redis_cmd_t  *cmd;

    if (rd->ac == NULL) {
        return NGX_DECLINED;
    }

    cmd = ngx_calloc(sizeof(ngx_http_tier_router_redis_cmd_t), rd->log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    cmd->rd = rd;
    cmd->cb = cb;
    cmd->data = data;

    if (redisAsyncCommandArgv(rd->ac, ngx_http_tier_router_redis_reply, cmd,
                              argc, argv, argvlen)
        != REDIS_OK)
    {
        ngx_free(cmd);
        return NGX_ERROR;
    }

    /* not cancelable: a worker leaving waits for it, at most this long */

    cmd->timer.handler = ngx_http_tier_router_redis_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = rd->log;

    ngx_add_timer(&cmd->timer, rd->timeout);

    return NGX_OK;
}


static void
ngx_http_tier_router_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_tier_router_redis_cmd_t  *cmd = privdata;

    if (cmd->done) {
        ngx_free(cmd);
        return;
    }

    cmd->done = 1;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    cmd->cb(cmd->data, r);

    ngx_free(cmd);
}


/* no answer in time: the command fails, and the connection is dropped */

static void
ngx_http_tier_router_redis_timeout(ngx_event_t *ev)
{
    ngx_http_tier_router_redis_cmd_t  *cmd = ev->data;

    ngx_http_tier_router_redis_t  *rd;

    rd = cmd->rd;
    cmd->done = 1;

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "tier router: zone \"%V\": redis %s:%d did not answer "
                  "in %Mms", &rd->name, rd->servers[rd->server].host,
                  rd->servers[rd->server].port, rd->timeout);

    cmd->cb(cmd->data, NULL);

    /* every command pending is told, this one freed, the next server */

    if (rd->ac) {
        redisAsyncFree(rd->ac);

    } else {
        ngx_free(cmd);
    }
}


void
ngx_http_tier_router_redis_stop(ngx_http_tier_router_redis_t *rd)
{
    rd->retry.handler = NULL;

    if (rd->retry.timer_set) {
        ngx_del_timer(&rd->retry);
    }

    if (rd->ac) {
        redisAsyncFree(rd->ac);
    }
}
