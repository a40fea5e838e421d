#include <string.h>
#include "ngx_http_tier_router_classify.h"
void ngx_http_tier_router_classify(const ngx_http_tier_router_features_t *f,
    ngx_http_tier_router_verdict_t *v)
{
    v->score = f->text_len > 200 ? 0.9 : 0.1;
    v->no_signal = 0;
    strcpy(v->reasons, f->text_len > 200 ? "long_input" : "short_simple");
}
