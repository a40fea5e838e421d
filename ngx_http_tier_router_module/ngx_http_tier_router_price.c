
/*
 * Copyright (C) The tier router authors
 *
 * Prices and costs in integers: a price is micro-dollars per million
 * tokens, a cost micro-dollars.  Floating point is used only to read the
 * LiteLLM catalog's dollars per token, at configuration time.
 */


#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ngx_http_tier_router_price.h"


#define NGX_HTTP_TIER_ROUTER_PRICE_DECIMALS  6
#define NGX_HTTP_TIER_ROUTER_PRICE_MILLION   1000000


typedef unsigned __int128  ngx_http_tier_router_u128_t;


typedef struct {
    CURL                        *curl;
    int                          fd;
    int                          error;      /* errno of a failed write */
    long                         status;     /* 0 until the body starts */
    size_t                       size;
    size_t                       max;
    unsigned                     too_big:1;
} ngx_http_tier_router_fetch_t;


static ngx_http_tier_router_u128_t ngx_http_tier_router_price_add(
    ngx_http_tier_router_u128_t sum, int64_t tokens, int64_t price);
static int ngx_http_tier_router_price_entry(json_t *entry,
    ngx_http_tier_router_price_t *p);
static int ngx_http_tier_router_price_field(json_t *entry, const char *name,
    int64_t *price);
static size_t ngx_http_tier_router_price_write(char *ptr, size_t size,
    size_t nmemb, void *userdata);
static int ngx_http_tier_router_price_download(const char *url, int fd,
    long timeout_ms, size_t max, size_t *size, char *err, size_t errlen);
static int ngx_http_tier_router_price_check(const char *tmp, size_t size,
    char *err, size_t errlen);
static int ngx_http_tier_router_price_count(void *data, const char *model,
    size_t len, const ngx_http_tier_router_price_t *p);
static void ngx_http_tier_router_price_sync_dir(const char *path);
static void ngx_http_tier_router_price_error(char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));


static int  ngx_http_tier_router_price_curl_ready;


int64_t
ngx_http_tier_router_price_parse(const unsigned char *s, size_t len)
{
    size_t   i, digits, decimals;
    int64_t  v;
    int      dot;

    if (s == NULL || len == 0) {
        return -1;
    }

    v = 0;
    dot = 0;
    digits = 0;
    decimals = 0;

    for (i = 0; i < len; i++) {

        if (s[i] == '.') {

            /* one dot, after a digit: not ".5", "1..2" or "1.2.3" */

            if (dot || digits == 0) {
                return -1;
            }

            dot = 1;
            continue;
        }

        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        if (dot && ++decimals > NGX_HTTP_TIER_ROUTER_PRICE_DECIMALS) {
            return -1;
        }

        /* v <= PRICE_MAX before, so this cannot overflow */

        v = v * 10 + (s[i] - '0');
        digits++;

        if (v > NGX_HTTP_TIER_ROUTER_PRICE_MAX) {
            return -1;
        }
    }

    /* "5." */

    if (dot && decimals == 0) {
        return -1;
    }

    for ( /* void */ ; decimals < NGX_HTTP_TIER_ROUTER_PRICE_DECIMALS;
         decimals++)
    {
        v *= 10;

        if (v > NGX_HTTP_TIER_ROUTER_PRICE_MAX) {
            return -1;
        }
    }

    return v;
}


int64_t
ngx_http_tier_router_price_cost(const ngx_http_tier_router_price_t *p,
    const ngx_http_tier_router_usage_t *u)
{
    int64_t                      input, output, cached, cache_write;
    int64_t                      reasoning, rest, in_price, out_price;
    ngx_http_tier_router_u128_t  sum, q;

    input = u->input > 0 ? u->input : 0;
    output = u->output > 0 ? u->output : 0;
    cached = u->cached > 0 ? u->cached : 0;
    cache_write = u->cache_write > 0 ? u->cache_write : 0;
    reasoning = u->reasoning > 0 ? u->reasoning : 0;

    in_price = p->input >= 0 ? p->input : 0;
    out_price = p->output >= 0 ? p->output : 0;

    sum = 0;

    sum = ngx_http_tier_router_price_add(sum, cached,
                                   p->cached >= 0 ? p->cached : in_price);
    sum = ngx_http_tier_router_price_add(sum, cache_write,
                         p->cache_write >= 0 ? p->cache_write : in_price);

    /* input - cached - cache_write, floored at 0 without overflowing */

    rest = (input > cached) ? input - cached : 0;
    rest = (rest > cache_write) ? rest - cache_write : 0;

    sum = ngx_http_tier_router_price_add(sum, rest, in_price);

    sum = ngx_http_tier_router_price_add(sum, reasoning,
                             p->reasoning >= 0 ? p->reasoning : out_price);

    rest = (output > reasoning) ? output - reasoning : 0;

    sum = ngx_http_tier_router_price_add(sum, rest, out_price);

    /* the one rounding, up */

    q = sum / NGX_HTTP_TIER_ROUTER_PRICE_MILLION
        + (sum % NGX_HTTP_TIER_ROUTER_PRICE_MILLION != 0);

    return (q > (ngx_http_tier_router_u128_t) INT64_MAX) ? INT64_MAX
                                                         : (int64_t) q;
}


int64_t
ngx_http_tier_router_amount_add(int64_t a, int64_t b)
{
    if (b <= 0) {
        return a;
    }

    if (a >= NGX_HTTP_TIER_ROUTER_AMOUNT_MAX
        || b >= NGX_HTTP_TIER_ROUTER_AMOUNT_MAX - a)
    {
        return NGX_HTTP_TIER_ROUTER_AMOUNT_MAX;
    }

    return a + b;
}


static ngx_http_tier_router_u128_t
ngx_http_tier_router_price_add(ngx_http_tier_router_u128_t sum,
    int64_t tokens, int64_t price)
{
    ngx_http_tier_router_u128_t  term, max;

    /* both below 2^63: the product is below 2^126 */

    term = (ngx_http_tier_router_u128_t) tokens
           * (ngx_http_tier_router_u128_t) price;

    max = ~(ngx_http_tier_router_u128_t) 0;

    return (sum > max - term) ? max : sum + term;
}


size_t
ngx_http_tier_router_price_print(int64_t micros, char *out)
{
    int       n;
    uint64_t  m;

    m = (micros < 0) ? (uint64_t) 0 - (uint64_t) micros : (uint64_t) micros;

    n = snprintf(out, 32, "%s%llu.%06llu", (micros < 0) ? "-" : "",
                 (unsigned long long) (m / NGX_HTTP_TIER_ROUTER_PRICE_MILLION),
                 (unsigned long long) (m % NGX_HTTP_TIER_ROUTER_PRICE_MILLION));

    return (n > 0) ? (size_t) n : 0;
}


int
ngx_http_tier_router_price_catalog(const char *buf, size_t len,
    ngx_http_tier_router_price_pt cb, void *data, char *err, size_t errlen)
{
    int                           n, skipped;
    json_t                       *root, *entry;
    const char                   *name;
    json_error_t                  error;
    ngx_http_tier_router_price_t  p;

    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &error);

    if (root == NULL) {
        ngx_http_tier_router_price_error(err, errlen,
                                         "invalid JSON at line %d, column "
                                         "%d: %s", error.line, error.column,
                                         error.text);
        return -1;
    }

    if (!json_is_object(root)) {
        ngx_http_tier_router_price_error(err, errlen,
                                         "the top level is %s, not an "
                                         "object of models",
                                         json_is_array(root) ? "an array"
                                                             : "a scalar");
        json_decref(root);
        return -1;
    }

    n = 0;
    skipped = 0;

    json_object_foreach(root, name, entry) {

        /* LiteLLM's documentation of the format, not a model */

        if (strcmp(name, "sample_spec") == 0) {
            continue;
        }

        /* a model has a name (the fuzzer found "" taken as one) */

        if (name[0] == '\0'
            || ngx_http_tier_router_price_entry(entry, &p) != 0)
        {
            skipped++;
            continue;
        }

        /* jansson refuses NUL in keys: strlen() is the key's length */

        if (cb(data, name, strlen(name), &p) != 0) {
            ngx_http_tier_router_price_error(err, errlen,
                                             "stopped at model \"%s\"",
                                             name);
            json_decref(root);
            return -1;
        }

        n++;
    }

    json_decref(root);

    ngx_http_tier_router_price_error(err, errlen, "%d models, %d skipped",
                                     n, skipped);

    return n;
}


/*
 * 0 for an object with valid input and output prices per token (and valid
 * optional ones), -1 for an entry to skip
 */

static int
ngx_http_tier_router_price_entry(json_t *entry,
    ngx_http_tier_router_price_t *p)
{
    if (!json_is_object(entry)) {
        return -1;
    }

    /* both required */

    if (ngx_http_tier_router_price_field(entry, "input_cost_per_token",
                                         &p->input) != 1)
    {
        return -1;
    }

    if (ngx_http_tier_router_price_field(entry, "output_cost_per_token",
                                         &p->output) != 1)
    {
        return -1;
    }

    /* optional, but not invalid */

    if (ngx_http_tier_router_price_field(entry,
                                         "cache_read_input_token_cost",
                                         &p->cached) < 0)
    {
        return -1;
    }

    if (ngx_http_tier_router_price_field(entry,
                                         "cache_creation_input_token_cost",
                                         &p->cache_write) < 0)
    {
        return -1;
    }

    if (ngx_http_tier_router_price_field(entry,
                                         "output_cost_per_reasoning_token",
                                         &p->reasoning) < 0)
    {
        return -1;
    }

    return 0;
}


/*
 * Dollars per token to micro-dollars per million tokens (v * 1e12),
 * rounded to the nearest.  1: read; 0: absent or not a number, *price is
 * -1; -1: negative, not finite or above the largest price.
 */

static int
ngx_http_tier_router_price_field(json_t *entry, const char *name,
    int64_t *price)
{
    double   v;
    json_t  *value;

    *price = -1;

    value = json_object_get(entry, name);

    if (value == NULL || !json_is_number(value)) {
        return 0;
    }

    v = json_number_value(value);

    if (!isfinite(v) || v < 0) {
        return -1;
    }

    v *= 1e12;

    if (v > (double) NGX_HTTP_TIER_ROUTER_PRICE_MAX) {
        return -1;
    }

    *price = (int64_t) llround(v);

    return 1;
}


int
ngx_http_tier_router_price_fetch(const char *url, const char *path,
    long timeout_ms, size_t max, char *err, size_t errlen)
{
    int      fd, rc;
    char    *tmp, msg[512];
    size_t   size, n;

    if (strncasecmp(url, "http://", 7) != 0
        && strncasecmp(url, "https://", 8) != 0)
    {
        ngx_http_tier_router_price_error(err, errlen,
                                         "fetching \"%s\": only http:// and "
                                         "https:// URLs are fetched", url);
        return -1;
    }

    if (!ngx_http_tier_router_price_curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            ngx_http_tier_router_price_error(err, errlen,
                                             "fetching \"%s\": "
                                             "curl_global_init() failed",
                                             url);
            return -1;
        }

        ngx_http_tier_router_price_curl_ready = 1;
    }

    n = strlen(path) + sizeof(".tmp.") + 3 * sizeof(long);

    tmp = malloc(n);
    if (tmp == NULL) {
        ngx_http_tier_router_price_error(err, errlen,
                                         "fetching \"%s\": out of memory",
                                         url);
        return -1;
    }

    snprintf(tmp, n, "%s.tmp.%ld", path, (long) getpid());

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd == -1) {
        ngx_http_tier_router_price_error(err, errlen,
                                         "fetching \"%s\": open(\"%s\") "
                                         "failed: %s", url, tmp,
                                         strerror(errno));
        free(tmp);
        return -1;
    }

    rc = ngx_http_tier_router_price_download(url, fd, timeout_ms, max, &size,
                                             msg, sizeof(msg));

    if (rc == 0 && fsync(fd) == -1) {
        snprintf(msg, sizeof(msg), "fsync(\"%s\") failed: %s", tmp,
                 strerror(errno));
        rc = -1;
    }

    if (close(fd) == -1 && rc == 0) {
        snprintf(msg, sizeof(msg), "close(\"%s\") failed: %s", tmp,
                 strerror(errno));
        rc = -1;
    }

    /* the last good copy is replaced by a catalog only */

    if (rc == 0) {
        rc = ngx_http_tier_router_price_check(tmp, size, msg, sizeof(msg));
    }

    if (rc == 0 && rename(tmp, path) == -1) {
        snprintf(msg, sizeof(msg), "rename(\"%s\", \"%s\") failed: %s", tmp,
                 path, strerror(errno));
        rc = -1;
    }

    if (rc != 0) {
        (void) unlink(tmp);
        free(tmp);

        ngx_http_tier_router_price_error(err, errlen, "fetching \"%s\": %s",
                                         url, msg);
        return -1;
    }

    free(tmp);

    ngx_http_tier_router_price_sync_dir(path);

    return 0;
}


static int
ngx_http_tier_router_price_download(const char *url, int fd,
    long timeout_ms, size_t max, size_t *size, char *err, size_t errlen)
{
    int                           rc;
    long                          status;
    CURL                         *curl;
    CURLcode                      code;
    char                          cerr[CURL_ERROR_SIZE];
    ngx_http_tier_router_fetch_t  f;

    *size = 0;

    curl = curl_easy_init();
    if (curl == NULL) {
        snprintf(err, errlen, "curl_easy_init() failed");
        return -1;
    }

    memset(&f, 0, sizeof(ngx_http_tier_router_fetch_t));
    f.curl = curl;
    f.fd = fd;
    f.max = max;

    cerr[0] = '\0';

#if (LIBCURL_VERSION_NUM >= 0x075500)
    code = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR,
                                "http,https");
    }
#else
    code = curl_easy_setopt(curl, CURLOPT_PROTOCOLS,
                            (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS,
                                (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
    }
#endif

    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_URL, url);
    }

    if (code != CURLE_OK) {
        snprintf(err, errlen, "%s", curl_easy_strerror(code));
        curl_easy_cleanup(curl);
        return -1;
    }

    (void) curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
    (void) curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    (void) curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    (void) curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    (void) curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 3L);
    (void) curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                            (curl_off_t) max);
    (void) curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    (void) curl_easy_setopt(curl, CURLOPT_USERAGENT, "tier-router");
    (void) curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION,
                            ngx_http_tier_router_price_write);
    (void) curl_easy_setopt(curl, CURLOPT_WRITEDATA, &f);

    code = curl_easy_perform(curl);

    status = 0;
    (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);

    rc = -1;

    if (f.too_big || code == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, errlen, "the body is larger than %zu bytes", max);

    } else if (f.error) {
        snprintf(err, errlen, "write() failed: %s", strerror(f.error));

    } else if (code != CURLE_OK && (f.status == 0 || f.status == 200)) {
        snprintf(err, errlen, "%s",
                 cerr[0] ? cerr : curl_easy_strerror(code));

    } else if (status != 200) {
        snprintf(err, errlen, "HTTP status %ld", status);

    } else {
        *size = f.size;
        rc = 0;
    }

    curl_easy_cleanup(curl);

    return rc;
}


static size_t
ngx_http_tier_router_price_write(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    ngx_http_tier_router_fetch_t *f = userdata;

    size_t   len, done;
    ssize_t  n;

    len = size * nmemb;

    /* the body of a status other than 200 is not written */

    if (f->status == 0) {
        (void) curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &f->status);
    }

    if (f->status != 200) {
        return len ? 0 : 1;
    }

    if (len > f->max - f->size) {
        f->too_big = 1;
        return len ? 0 : 1;
    }

    for (done = 0; done < len; done += (size_t) n) {
        n = write(f->fd, ptr + done, len - done);

        if (n == -1) {
            if (errno == EINTR) {
                n = 0;
                continue;
            }

            f->error = errno;
            return len ? 0 : 1;
        }
    }

    f->size += len;

    return len;
}


/* the file must read as a catalog with a model at least */

static int
ngx_http_tier_router_price_check(const char *tmp, size_t size, char *err,
    size_t errlen)
{
    int      fd, n;
    char    *buf, why[200];
    size_t   got;
    ssize_t  r;

    if (size == 0) {
        snprintf(err, errlen, "the body is empty");
        return -1;
    }

    buf = malloc(size);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    fd = open(tmp, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        snprintf(err, errlen, "open(\"%s\") failed: %s", tmp,
                 strerror(errno));
        free(buf);
        return -1;
    }

    for (got = 0; got < size; got += (size_t) r) {
        r = read(fd, buf + got, size - got);

        if (r == -1 && errno == EINTR) {
            r = 0;
            continue;
        }

        if (r <= 0) {
            snprintf(err, errlen, "read(\"%s\") failed: %s", tmp,
                     r ? strerror(errno) : "short read");
            close(fd);
            free(buf);
            return -1;
        }
    }

    close(fd);

    n = ngx_http_tier_router_price_catalog(buf, size,
                                           ngx_http_tier_router_price_count,
                                           NULL, why, sizeof(why));
    free(buf);

    if (n <= 0) {
        snprintf(err, errlen, "not a price catalog: %s",
                 n ? why : "no model prices in it");
        return -1;
    }

    return 0;
}


static int
ngx_http_tier_router_price_count(void *data, const char *model, size_t len,
    const ngx_http_tier_router_price_t *p)
{
    return 0;
}


/* makes the rename durable; best effort */

static void
ngx_http_tier_router_price_sync_dir(const char *path)
{
    int          fd;
    char        *dir;
    const char  *slash;

    slash = strrchr(path, '/');

    if (slash == NULL) {
        dir = strdup(".");

    } else if (slash == path) {
        dir = strdup("/");

    } else {
        dir = strndup(path, (size_t) (slash - path));
    }

    if (dir == NULL) {
        return;
    }

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd != -1) {
        (void) fsync(fd);
        (void) close(fd);
    }

    free(dir);
}


static void
ngx_http_tier_router_price_error(char *err, size_t errlen, const char *fmt,
    ...)
{
    va_list  args;

    if (err == NULL || errlen == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(err, errlen, fmt, args);
    va_end(args);
}
