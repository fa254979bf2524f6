/* http.c - the downloader of `petal scrape`: libcurl's multi interface with a global and a
 * per-host concurrency limit, a per-host delay, retries with exponential backoff (honouring
 * Retry-After) and a body size limit enforced while the bytes stream in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "scrape/scrape.h"
#include "util/log.h"
#include "util/timer.h"

#define RETRY_AFTER_CAP_S 60

void petal_http_options_default(petal_http_options *o)
{
    if (o->concurrency <= 0)
        o->concurrency = 8;
    if (o->per_host <= 0)
        o->per_host = 2;
    if (o->delay_ms < 0)
        o->delay_ms = 0;
    if (o->timeout_s <= 0)
        o->timeout_s = 15;
    if (o->retries < 0)
        o->retries = 0;
    if (o->backoff_ms <= 0)
        o->backoff_ms = 500;
    if (o->max_redirects == 0)
        o->max_redirects = 5;
    else if (o->max_redirects < 0)
        o->max_redirects = -1;
    if (o->max_bytes <= 0)
        o->max_bytes = 20LL * 1024 * 1024;
    if (!o->user_agent || !*o->user_agent)
        o->user_agent = PETAL_HTTP_DEFAULT_USER_AGENT;
}

void petal_http_response_free(petal_http_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
}

typedef struct host_state {
    char name[256];
    int active;
    double last_start_ms;
} host_state;

typedef struct xfer {
    size_t index;
    const char *url;
    int host;
    CURL *easy;
    uint8_t *buf;
    size_t len, cap;
    int too_big;
    int attempts;
    int active, done;
    double not_before_ms;
    long retry_after_s;
    long long max_bytes;
} xfer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    if ((long long)(x->len + n) > x->max_bytes) {
        x->too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 16384;
        while (cap < x->len + n + 1)
            cap *= 2;
        uint8_t *p = realloc(x->buf, cap);
        if (!p)
            return 0;
        x->buf = p;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = 0;
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    static const char key[] = "retry-after:";
    if (n > sizeof key - 1 && n < 200 && !strncasecmp(data, key, sizeof key - 1)) {
        char v[200];
        memcpy(v, data + sizeof key - 1, n - (sizeof key - 1));
        v[n - (sizeof key - 1)] = '\0';
        char *p = v;
        while (*p == ' ' || *p == '\t')
            p++;
        p[strcspn(p, "\r\n")] = '\0';
        char *end;
        long s = strtol(p, &end, 10);
        if (end != p && *end == '\0') {
            x->retry_after_s = s;
        } else {
            time_t when = curl_getdate(p, NULL);
            if (when > 0)
                x->retry_after_s = (long)(when - time(NULL));
        }
        if (x->retry_after_s < 0)
            x->retry_after_s = 0;
        if (x->retry_after_s > RETRY_AFTER_CAP_S)
            x->retry_after_s = RETRY_AFTER_CAP_S;
    }
    return n;
}

/* The host part of a URL ("example.org:8080"), for per-host limits. */
static void url_host(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t len = strcspn(p, "/?#");
    if (len >= n)
        len = n - 1;
    memcpy(out, p, len);
    out[len] = '\0';
}

static int host_index(host_state **hosts, size_t *nhosts, const char *url)
{
    char name[256];
    url_host(url, name, sizeof name);
    for (size_t i = 0; i < *nhosts; i++)
        if (!strcmp((*hosts)[i].name, name))
            return (int)i;
    host_state *h = realloc(*hosts, (*nhosts + 1) * sizeof *h);
    if (!h)
        return -1;
    *hosts = h;
    memset(&h[*nhosts], 0, sizeof *h);
    snprintf(h[*nhosts].name, sizeof h[*nhosts].name, "%s", name);
    h[*nhosts].last_start_ms = -1e18;
    return (int)(*nhosts)++;
}

static CURL *make_easy(const petal_http_options *o, xfer *x)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, o->max_redirects < 0 ? 0L : (long)o->max_redirects);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_s * 1000L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)o->timeout_s * 1000L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    return e;
}

/* Classifies a finished attempt: fills resp; returns 1 if it is worth retrying. */
static int judge(const petal_http_options *o, xfer *x, CURLcode rc, petal_http_response *resp)
{
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    resp->code = PETAL_ERR_NET;
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        resp->code = PETAL_OK;
        resp->reason[0] = '\0';
        return 0;
    }
    if (rc == CURLE_OK) {
        snprintf(resp->reason, sizeof resp->reason, "HTTP %ld", status);
        return status == 429 || status >= 500;
    }
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(resp->reason, sizeof resp->reason, "timed out after %d s", o->timeout_s);
        return 1;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
            resp->code = PETAL_ERR_LIMIT;
            snprintf(resp->reason, sizeof resp->reason, "over %lld bytes (--max_bytes)",
                     o->max_bytes);
        } else {
            resp->code = PETAL_ERR_NOMEM;
            snprintf(resp->reason, sizeof resp->reason, "out of memory");
        }
        return 0;
    case CURLE_TOO_MANY_REDIRECTS:
        snprintf(resp->reason, sizeof resp->reason, "more than %d redirects",
                 o->max_redirects < 0 ? 0 : o->max_redirects);
        return 0;
    case CURLE_PARTIAL_FILE:
        snprintf(resp->reason, sizeof resp->reason, "truncated body");
        return 1;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        snprintf(resp->reason, sizeof resp->reason, "connection reset");
        return 1;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(resp->reason, sizeof resp->reason, "could not connect");
        return rc == CURLE_COULDNT_CONNECT;
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(resp->reason, sizeof resp->reason, "not an http(s) URL");
        return 0;
    default:
        snprintf(resp->reason, sizeof resp->reason, "%s", curl_easy_strerror(rc));
        return 0;
    }
}

static void reset_body(xfer *x)
{
    free(x->buf);
    x->buf = NULL;
    x->len = x->cap = 0;
    x->too_big = 0;
    x->retry_after_s = -1;
}

petal_status petal_http_fetch_all(const petal_http_options *opts, const char *const *urls, size_t n,
                                  petal_http_done_fn done, void *ctx, petal_error *err)
{
    petal_http_options o = *opts;
    petal_http_options_default(&o);
    if (n == 0)
        return PETAL_OK;
    static int global_init;
    if (!global_init) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global_init = 1;
    }
    CURLM *multi = curl_multi_init();
    xfer *xs = calloc(n, sizeof *xs);
    host_state *hosts = NULL;
    size_t nhosts = 0;
    if (!multi || !xs) {
        curl_multi_cleanup(multi);
        free(xs);
        return petal_error_set(err, PETAL_ERR_INTERNAL, "libcurl: cannot start transfers");
    }
    for (size_t i = 0; i < n; i++) {
        xs[i].index = i;
        xs[i].url = urls[i];
        xs[i].max_bytes = o.max_bytes;
        xs[i].retry_after_s = -1;
        xs[i].host = host_index(&hosts, &nhosts, urls[i]);
    }

    size_t remaining = n;
    int active = 0, cancelled = 0;
    petal_status st = PETAL_OK;
    while (remaining > 0 && !cancelled) {
        /* Start what the limits allow. */
        double now = petal_now_ms();
        double next_wake = now + 200;
        for (size_t i = 0; i < n && active < o.concurrency; i++) {
            xfer *x = &xs[i];
            if (x->active || x->done)
                continue;
            host_state *h = x->host >= 0 ? &hosts[x->host] : NULL;
            double ready = x->not_before_ms;
            if (h && h->last_start_ms + o.delay_ms > ready)
                ready = h->last_start_ms + o.delay_ms;
            if (ready > now) {
                if (ready < next_wake)
                    next_wake = ready;
                continue;
            }
            if (h && h->active >= o.per_host)
                continue;
            reset_body(x);
            x->easy = make_easy(&o, x);
            if (!x->easy || curl_multi_add_handle(multi, x->easy) != CURLM_OK) {
                st = petal_error_set(err, PETAL_ERR_INTERNAL, "libcurl: cannot start %s", x->url);
                cancelled = 1;
                break;
            }
            x->active = 1;
            x->attempts++;
            active++;
            if (h) {
                h->active++;
                h->last_start_ms = now;
            }
        }
        if (cancelled)
            break;

        int running = 0;
        curl_multi_perform(multi, &running);
        int wait_ms = (int)(next_wake - petal_now_ms());
        if (wait_ms < 1)
            wait_ms = 1;
        if (wait_ms > 200)
            wait_ms = 200;
        curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
        curl_multi_perform(multi, &running);

        CURLMsg *msg;
        int left;
        while (!cancelled && (msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            xfer *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode rc = msg->data.result;
            petal_http_response resp = {0};
            int retry = judge(&o, x, rc, &resp);
            curl_multi_remove_handle(multi, x->easy);
            curl_easy_cleanup(x->easy);
            x->easy = NULL;
            x->active = 0;
            active--;
            if (x->host >= 0)
                hosts[x->host].active--;
            if (retry && x->attempts <= o.retries) {
                double wait = (double)o.backoff_ms * (double)(1 << (x->attempts - 1));
                if (wait > RETRY_AFTER_CAP_S * 1000.0)
                    wait = RETRY_AFTER_CAP_S * 1000.0;
                if (x->retry_after_s >= 0)
                    wait = (double)x->retry_after_s * 1000.0;
                x->not_before_ms = petal_now_ms() + wait;
                petal_debug("%s: %s, retrying in %.0f ms", x->url, resp.reason, wait);
                continue;
            }
            x->done = 1;
            remaining--;
            resp.attempts = x->attempts;
            if (resp.code == PETAL_OK) {
                resp.body = x->buf;
                resp.len = x->len;
                if (!resp.body) {
                    resp.body = calloc(1, 1);
                    resp.len = 0;
                }
                x->buf = NULL;
                x->len = x->cap = 0;
            } else {
                reset_body(x);
            }
            if (done && done(ctx, x->index, &resp))
                cancelled = 1;
            petal_http_response_free(&resp);
        }
    }

    for (size_t i = 0; i < n; i++) {
        if (xs[i].easy) {
            curl_multi_remove_handle(multi, xs[i].easy);
            curl_easy_cleanup(xs[i].easy);
        }
        free(xs[i].buf);
    }
    curl_multi_cleanup(multi);
    free(xs);
    free(hosts);
    return st;
}

typedef struct get_ctx {
    petal_http_response *out;
} get_ctx;

static int get_done(void *ctx, size_t index, petal_http_response *resp)
{
    (void)index;
    get_ctx *g = ctx;
    *g->out = *resp;
    resp->body = NULL;
    return 0;
}

petal_status petal_http_get(const petal_http_options *opts, const char *url,
                            petal_http_response *out, petal_error *err)
{
    memset(out, 0, sizeof *out);
    out->code = PETAL_ERR_NET;
    snprintf(out->reason, sizeof out->reason, "not fetched");
    get_ctx g = {out};
    const char *urls[1] = {url};
    petal_status st = petal_http_fetch_all(opts, urls, 1, get_done, &g, err);
    if (st != PETAL_OK)
        return st;
    if (out->code != PETAL_OK)
        return petal_error_set(err, out->code, "%s: %s", url, out->reason);
    return PETAL_OK;
}
