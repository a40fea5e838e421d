
/*
 * Copyright (C) The tier router authors
 *
 * The status page of a budget zone: JSON (jansson) or Prometheus text,
 * with tenants sorted by spend and paged.  Tenants appear by the hash of
 * their key, or by the label the operator gave them; never by their key.
 */


#ifndef _NGX_HTTP_TIER_ROUTER_STATUS_H_INCLUDED_
#define _NGX_HTTP_TIER_ROUTER_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tier_router_types.h"


char *ngx_http_tier_router_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_tier_router_status_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TIER_ROUTER_STATUS_H_INCLUDED_ */
