
/*
 * Copyright (C) The tier router authors
 *
 * A Redis connection per worker, on hiredis's asynchronous API driven by
 * nginx's event loop: never a blocking call.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_REDIS_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_tier_router_types.h"


#define NGX_HTTP_TIER_ROUTER_REDIS_DOWN        0
#define NGX_HTTP_TIER_ROUTER_REDIS_CONNECTING  1
#define NGX_HTTP_TIER_ROUTER_REDIS_UP          2



/* the reply, or NULL: no connection, a timeout, the connection lost */
typedef void (*ngx_http_tier_router_redis_pt)(void *data, redisReply *reply);


typedef struct {
    ngx_http_tier_router_redis_server_t
                                 servers[NGX_HTTP_TIER_ROUTER_LEDGER_SERVERS];
    ngx_uint_t                   nservers;
    ngx_uint_t                   server;         /* the one in use */
    ngx_msec_t                   timeout;
    ngx_msec_t                   backoff;        /* before the next try */
    ngx_uint_t                   state;
    ngx_uint_t                   failures;       /* since the last up */
    redisAsyncContext           *ac;
    ngx_connection_t            *c;
    ngx_event_t                  retry;
    ngx_event_t                  connect;        /* its timeout */
    ngx_log_t                   *log;
    ngx_str_t                    name;           /* the zone's, for logs */
    void                        *data;           /* the owner's */
    void                       (*up)(void *data);
} ngx_http_tier_router_redis_t;


/* "host:port": an IP address, the port 6379 if none */
ngx_int_t ngx_http_tier_router_redis_server(ngx_str_t *s,
    ngx_http_tier_router_redis_server_t *srv);

/* starts connecting, and keeps reconnecting with backoff */
void ngx_http_tier_router_redis_start(ngx_http_tier_router_redis_t *rd);

/* NGX_OK: cb will be called, once; else it will not be */
ngx_int_t ngx_http_tier_router_redis_command(ngx_http_tier_router_redis_t *rd,
    ngx_http_tier_router_redis_pt cb, void *data, int argc,
    const char **argv, const size_t *argvlen);

/* closes it: pending commands get NULL; no reconnect */
void ngx_http_tier_router_redis_stop(ngx_http_tier_router_redis_t *rd);


#endif /* _NGX_HTTP_TIER_ROUTER_REDIS_H_INCLUDED_ */
