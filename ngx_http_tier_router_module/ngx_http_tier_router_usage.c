
/*
 * Copyright (C) The tier router authors
 */


#include "ngx_http_tier_router_usage.h"
