/*
 * Copyright (C) The tier router authors
 *
 * Fetching a price catalog over HTTP(S) with libcurl, into a file that
 * keeps the last good copy.  Blocking: for configuration time only, never
 * on a request's path.  The only file of the core that links libcurl.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tr_price.h"
#include "tr_fetch.h"


typedef struct {
    CURL                        *curl;
    int                          fd;
    int                          error;      /* errno of a failed write */
    long                         status;     /* 0 until the body starts */
    size_t                       size;
    size_t                       max;
    unsigned                     too_big:1;
} tr_fetch_t;


static int tr_fetch_download(const char *url, int fd, long timeout_ms,
    size_t max, size_t *size, char *err, size_t errlen);
static size_t tr_fetch_write(char *ptr, size_t size, size_t nmemb,
    void *userdata);
static int tr_fetch_check(const char *tmp, size_t size, char *err,
    size_t errlen);
static int tr_fetch_count(void *data, const char *model, size_t len,
    const tr_price_t *p);
static void tr_fetch_sync_dir(const char *path);


static int  tr_fetch_curl_ready;


int
tr_fetch_catalog(const char *url, const char *path,
    long timeout_ms, size_t max, char *err, size_t errlen)
{
    int      fd, rc;
    char    *tmp, msg[512];
    size_t   size, n;

    if (strncasecmp(url, "http://", 7) != 0
        && strncasecmp(url, "https://", 8) != 0)
    {
        tr_price_error(err, errlen,
                       "fetching \"%s\": only http:// and "
                       "https:// URLs are fetched", url);
        return -1;
    }

    if (!tr_fetch_curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            tr_price_error(err, errlen,
                           "fetching \"%s\": "
                           "curl_global_init() failed",
                           url);
            return -1;
        }

        tr_fetch_curl_ready = 1;
    }

    n = strlen(path) + sizeof(".tmp.") + 3 * sizeof(long);

    tmp = malloc(n);
    if (tmp == NULL) {
        tr_price_error(err, errlen,
                       "fetching \"%s\": out of memory",
                       url);
        return -1;
    }

    snprintf(tmp, n, "%s.tmp.%ld", path, (long) getpid());

    /* our own file: a stale one of this pid goes, a link is not followed */

    (void) unlink(tmp);

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);

    if (fd == -1) {
        tr_price_error(err, errlen,
                       "fetching \"%s\": open(\"%s\") "
                       "failed: %s", url, tmp,
                       strerror(errno));
        free(tmp);
        return -1;
    }

    rc = tr_fetch_download(url, fd, timeout_ms, max, &size,
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
        rc = tr_fetch_check(tmp, size, msg, sizeof(msg));
    }

    if (rc == 0 && rename(tmp, path) == -1) {
        snprintf(msg, sizeof(msg), "rename(\"%s\", \"%s\") failed: %s", tmp,
                 path, strerror(errno));
        rc = -1;
    }

    if (rc != 0) {
        (void) unlink(tmp);
        free(tmp);

        tr_price_error(err, errlen, "fetching \"%s\": %s",
                       url, msg);
        return -1;
    }

    free(tmp);

    tr_fetch_sync_dir(path);

    return 0;
}


static int
tr_fetch_download(const char *url, int fd,
    long timeout_ms, size_t max, size_t *size, char *err, size_t errlen)
{
    int         rc;
    long        status;
    CURL       *curl;
    CURLcode    code;
    char        cerr[CURL_ERROR_SIZE];
    tr_fetch_t  f;

    *size = 0;

    curl = curl_easy_init();
    if (curl == NULL) {
        snprintf(err, errlen, "curl_easy_init() failed");
        return -1;
    }

    memset(&f, 0, sizeof(tr_fetch_t));
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
                            tr_fetch_write);
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
tr_fetch_write(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    tr_fetch_t *f = userdata;

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
tr_fetch_check(const char *tmp, size_t size, char *err,
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

    n = tr_price_catalog(buf, size,
                         tr_fetch_count,
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
tr_fetch_count(void *data, const char *model, size_t len,
    const tr_price_t *p)
{
    return 0;
}


/* makes the rename durable; best effort */

static void
tr_fetch_sync_dir(const char *path)
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
