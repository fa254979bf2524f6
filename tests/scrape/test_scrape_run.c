/* test_scrape_run.c - end-to-end tests of `petal scrape` against a fixture HTTP server on
 * 127.0.0.1 (libmicrohttpd, in this process): result pages of every source, generated JPEG and
 * PNG images, and fault endpoints (404, 500 then success, 429 with Retry-After, reset, stall,
 * slow drip, truncated body, HTML instead of an image, 50 MB bodies, redirect loop, malformed
 * JSON, PNG bomb).
 *
 * Run with --serve, the program only serves the fixtures (printing the port on stdout) until it
 * is killed or 120 s pass; tests/scrape/scrape_kill.sh uses that. */
#include "common/testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <png.h>

#include "scrape/scrape.h"
#include "util/fs.h"
#include "util/timer.h"

/* ---- fixture images -------------------------------------------------------------------- */

typedef struct blob {
    uint8_t *data;
    size_t len;
} blob;

/* A picture that blends smoothly between a 4x4 grid of seeded colours (photo-like: no flat
 * areas), so different seeds have very different dHashes and re-encodings keep theirs. */
static void pattern(int seed, int w, int h, int shift, unsigned char *px)
{
    unsigned s = (unsigned)seed * 2654435761u + 12345u;
    double cell[4][4][3];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            for (int c = 0; c < 3; c++) {
                s = s * 1103515245u + 12345u;
                cell[i][j][c] = (double)((s >> 16) & 255);
            }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double fy = (double)y * 3 / (h - 1), fx = (double)x * 3 / (w - 1);
            int y0 = fy >= 3 ? 2 : (int)fy, x0 = fx >= 3 ? 2 : (int)fx;
            double ty = fy - y0, tx = fx - x0;
            for (int c = 0; c < 3; c++) {
                double v = (1 - ty) * ((1 - tx) * cell[y0][x0][c] + tx * cell[y0][x0 + 1][c]) +
                           ty * ((1 - tx) * cell[y0 + 1][x0][c] + tx * cell[y0 + 1][x0 + 1][c]) +
                           shift;
                px[((size_t)y * w + x) * 3 + c] = (unsigned char)(v < 0     ? 0
                                                                  : v > 255 ? 255
                                                                            : (int)(v + 0.5));
            }
        }
}

static blob make_jpeg(int seed, int w, int h, int quality, int shift)
{
    petal_image img = {w, h, malloc((size_t)w * h * 3)};
    pattern(seed, w, h, shift, img.pixels);
    blob b = {NULL, 0};
    petal_error err;
    if (petal_image_encode_jpeg(&img, quality, &b.data, &b.len, "fixture", &err) != PETAL_OK)
        fail_msg("%s", err.msg);
    petal_image_free(&img);
    return b;
}

static blob make_png(int seed, int w, int h)
{
    unsigned char *px = malloc((size_t)w * h * 3);
    pattern(seed, w, h, 0, px);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = PNG_FORMAT_RGB;
    png_alloc_size_t len = 0;
    png_image_write_to_memory(&img, NULL, &len, 0, px, 0, NULL);
    blob b = {malloc(len), len};
    png_image_write_to_memory(&img, b.data, &len, 0, px, 0, NULL);
    b.len = len;
    free(px);
    return b;
}

static unsigned long crc32_of(const unsigned char *p, size_t n)
{
    unsigned long c = 0xFFFFFFFFul;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320ul & (0ul - (c & 1)));
    }
    return c ^ 0xFFFFFFFFul;
}

static void put32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* A PNG whose header claims 100000 x 100000 pixels (a decompression bomb), valid CRCs. */
static blob make_png_bomb(void)
{
    blob b = {calloc(1, 96), 0};
    unsigned char *p = b.data;
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    put32(p + 8, 13);
    memcpy(p + 12, "IHDR", 4);
    put32(p + 16, 100000);
    put32(p + 20, 100000);
    p[24] = 8; /* bit depth */
    p[25] = 2; /* RGB */
    put32(p + 29, crc32_of(p + 12, 17));
    static const unsigned char idat[] = {0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01};
    put32(p + 33, sizeof idat);
    memcpy(p + 37, "IDAT", 4);
    memcpy(p + 41, idat, sizeof idat);
    put32(p + 41 + sizeof idat, crc32_of(p + 37, 4 + sizeof idat));
    unsigned char *q = p + 45 + sizeof idat;
    put32(q, 0);
    memcpy(q + 4, "IEND", 4);
    put32(q + 8, crc32_of(q + 4, 4));
    b.len = (size_t)(q + 12 - p);
    return b;
}

/* ---- the server ------------------------------------------------------------------------ */

typedef struct fixture {
    char path[64];
    blob body;
} fixture;

static fixture fixtures[64];
static int nfixtures;
static int port;
static struct MHD_Daemon *daemon_;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int hits_500, hits_429, hits_429date, image_hits;
static double t429[2];
static int slow_active, slow_max_active;
static char last_user_agent[256];

static void add_fixture(const char *path, blob b)
{
    snprintf(fixtures[nfixtures].path, sizeof fixtures[nfixtures].path, "%s", path);
    fixtures[nfixtures++].body = b;
}

static const blob *find_fixture(const char *path)
{
    for (int i = 0; i < nfixtures; i++)
        if (!strcmp(fixtures[i].path, path))
            return &fixtures[i].body;
    return NULL;
}

static void build_fixtures(void)
{
    char p[64];
    for (int i = 1; i <= 40; i++) { /* general-purpose distinct JPEGs */
        snprintf(p, sizeof p, "/img/%d.jpg", i);
        add_fixture(p, make_jpeg(i, 96 + i, 80, 90, 0));
    }
    add_fixture("/img/png1", make_png(101, 120, 90)); /* no extension in the URL */
    blob same = make_jpeg(1, 97, 80, 90, 0);          /* same bytes as /img/1.jpg */
    add_fixture("/img/copy-of-1.jpg", same);
    add_fixture("/img/near-2.jpg", make_jpeg(2, 98, 80, 70, 3)); /* re-encoded, brighter */
    add_fixture("/img/small.jpg", make_jpeg(200, 32, 32, 90, 0));
    add_fixture("/fault/bomb", make_png_bomb());
}

static enum MHD_Result send_body(struct MHD_Connection *c, int status, const void *data, size_t len,
                                 const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *c, int status, const char *text,
                                 const char *type)
{
    return send_body(c, status, text, strlen(text), type);
}

/* Body generators for the streaming faults. */
static ssize_t gen_zeros(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    memset(buf, 'z', max);
    return (ssize_t)max;
}

static ssize_t gen_drip(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)max;
    if (pos >= 40)
        return MHD_CONTENT_READER_END_OF_STREAM;
    usleep(100 * 1000);
    buf[0] = pos == 0 ? (char)0xFF : 'd';
    return 1;
}

static ssize_t gen_truncated(void *cls, uint64_t pos, char *buf, size_t max)
{
    const blob *b = cls;
    if (pos >= b->len / 2)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = b->len / 2 - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, b->data + pos, n);
    return (ssize_t)n;
}

static enum MHD_Result send_stream(struct MHD_Connection *c, uint64_t size,
                                   MHD_ContentReaderCallback cb, void *cls)
{
    struct MHD_Response *r = MHD_create_response_from_callback(size, 4096, cb, cls, NULL);
    MHD_add_response_header(r, "Content-Type", "image/jpeg");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static void appendf(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t n, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
}

/* One MediaWiki search hit pointing at path on this server. */
static void wm_page(char *buf, size_t n, int index, const char *path, const char *licence)
{
    appendf(buf, n,
            "%s{\"pageid\":%d,\"ns\":6,\"title\":\"File:Fixture %d.jpg\",\"index\":%d,"
            "\"imageinfo\":[{\"url\":\"http://127.0.0.1:%d%s\",\"descriptionurl\":"
            "\"http://127.0.0.1:%d/wiki/File:%d\",\"mime\":\"image/jpeg\",\"extmetadata\":{"
            "\"LicenseShortName\":{\"value\":\"%s\"},\"Artist\":{\"value\":"
            "\"<a href=\\\"/u/%d\\\">Photographer &amp; Co %d</a>\"}}}]}",
            index > 1 ? "," : "", 1000 + index, index, index, port, path, port, index, licence,
            index, index);
}

static const char *fault_paths[] = {
    "/fault/404",  "/fault/500once",   "/fault/429",    "/fault/reset", "/fault/stall",
    "/fault/drip", "/fault/truncated", "/fault/html",   "/fault/big",   "/fault/bigchunked",
    "/fault/loop", "/fault/bomb",      "/img/small.jpg"};

static void wikimedia_answer(char *buf, size_t n, const char *search, const char *offset)
{
    snprintf(buf, n, "{\"batchcomplete\":true,");
    int second = offset && !strcmp(offset, "3");
    if (!!strcasestr(search, "rose") && !second)
        appendf(buf, n, "\"continue\":{\"gsroffset\":3,\"continue\":\"gsroffset||\"},");
    appendf(buf, n, "\"query\":{\"pages\":[");
    char p[64];
    if (!!strcasestr(search, "rose")) {
        if (!second) {
            wm_page(buf, n, 1, "/img/1.jpg", "CC BY-SA 4.0");
            wm_page(buf, n, 2, "/img/2.jpg", "CC BY 4.0");
            wm_page(buf, n, 3, "/img/png1", "CC0");
        } else {
            wm_page(buf, n, 1, "/img/copy-of-1.jpg", "CC BY 4.0");
            wm_page(buf, n, 2, "/img/near-2.jpg", "CC BY 4.0");
            wm_page(buf, n, 3, "/img/3.jpg", "CC BY 4.0");
            wm_page(buf, n, 4, "/img/4.jpg", "CC BY 4.0");
            wm_page(buf, n, 5, "/img/5.jpg", "Public domain");
        }
    } else if (!strncmp(search, "faulty", 6)) {
        int i = 1;
        for (; i <= (int)(sizeof fault_paths / sizeof fault_paths[0]); i++)
            wm_page(buf, n, i, fault_paths[i - 1], "CC BY 4.0");
        wm_page(buf, n, i++, "/img/6.jpg", "CC BY 4.0");
        wm_page(buf, n, i++, "/img/7.jpg", "CC BY 4.0");
    } else if (!strncasecmp(search, "lily", 4) || !strncasecmp(search, "iris", 4)) {
        int base = (search[0] | 0x20) == 'l' ? 10 : 13;
        for (int i = 0; i < 2; i++) {
            snprintf(p, sizeof p, "/img/%d.jpg", base + i);
            wm_page(buf, n, i + 1, p, "CC BY 4.0");
        }
        wm_page(buf, n, 3, "/img/16.jpg", "CC BY 4.0"); /* found for both labels */
    } else if (!strncmp(search, "alpha", 5) || !strncmp(search, "beta", 4)) {
        /* Two trainable classes of 20 photos; /img/21.jpg is found for both. */
        int first = search[0] == 'a' ? 1 : 21, k = 1;
        if (first == 1)
            wm_page(buf, n, k++, "/img/21.jpg", "CC BY 4.0");
        for (int i = 0; i < 20; i++) {
            snprintf(p, sizeof p, "/img/%d.jpg", first + i);
            wm_page(buf, n, k++, p, "CC BY 4.0");
        }
    } else if (!strncmp(search, "slow", 4)) {
        for (int i = 1; i <= 24; i++) {
            snprintf(p, sizeof p, "/slow/%d.jpg", i);
            wm_page(buf, n, i, p, "CC BY 4.0");
        }
    } else {
        snprintf(buf, n, "{\"query\":{\"pages\":[{\"title\":\"unterminated"); /* malformed */
        return;
    }
    appendf(buf, n, "]}}");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)method;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    char buf[64]; /* one per request: connections run on their own threads */
    char local[65536];

    if (!strcmp(url, "/w/api.php")) {
        const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "gsrsearch");
        const char *off = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "gsroffset");
        wikimedia_answer(local, sizeof local, q ? q : "", off);
        return send_text(c, 200, local, "application/json");
    }
    if (!strcmp(url, "/v1/observations")) {
        const char *page = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "page");
        if (page && strcmp(page, "1") != 0)
            return send_text(c, 200,
                             "{\"total_results\":3,\"page\":2,\"per_page\":50,"
                             "\"results\":[]}",
                             "application/json");
        snprintf(local, sizeof local,
                 "{\"total_results\":3,\"page\":1,\"per_page\":50,\"results\":["
                 "{\"id\":1,\"uri\":\"http://127.0.0.1:%d/observations/1\",\"taxon\":{\"name\":"
                 "\"Tulipa\",\"preferred_common_name\":\"Tulip\"},\"photos\":["
                 "{\"id\":20,\"license_code\":\"cc-by\",\"attribution\":\"(c) Ana, some rights "
                 "reserved (CC BY)\",\"url\":\"http://127.0.0.1:%d/img/inat/20/square.jpg\"},"
                 "{\"id\":21,\"license_code\":null,\"url\":\"http://127.0.0.1:%d/img/inat/21/"
                 "square.jpg\"}]},"
                 "{\"id\":2,\"uri\":\"http://127.0.0.1:%d/observations/2\",\"photos\":["
                 "{\"id\":22,\"license_code\":\"cc0\",\"attribution\":\"no rights reserved\","
                 "\"url\":\"http://127.0.0.1:%d/img/inat/22/square.jpg\"}]}]}",
                 port, port, port, port, port);
        return send_text(c, 200, local, "application/json");
    }
    if (!strcmp(url, "/images/search")) {
        const char *first = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "first");
        snprintf(local, sizeof local, "<html><body><div class=\"imgpt\">");
        if (!first || !strcmp(first, "0"))
            for (int i = 23; i <= 25; i++)
                appendf(local, sizeof local,
                        "<a class=\"iusc\" href=\"/images/x\" m=\"{&quot;murl&quot;:&quot;"
                        "http://127.0.0.1:%d/img/%d.jpg&quot;,&quot;purl&quot;:&quot;"
                        "http://127.0.0.1:%d/page/%d&quot;,&quot;t&quot;:&quot;Tulip %d&quot;}"
                        "\"><img src=\"/th?id=%d\"></a>",
                        port, i, port, i, i, i);
        appendf(local, sizeof local, "</div></body></html>");
        return send_text(c, 200, local, "text/html");
    }
    if (!strcmp(url, "/search")) {
        const char *start = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "start");
        snprintf(local, sizeof local, "<html><body>");
        if (!start || !strcmp(start, "0"))
            appendf(local, sizeof local,
                    "<img src=\"https://www.gstatic.com/images/branding/logo.png\">"
                    "<img alt=\"tulip\" src=\"http://127.0.0.1:%d/img/26.jpg\">"
                    "<script>AF_initDataCallback({data:[[\"http://127.0.0.1:%d/img/27.jpg\","
                    "600,800],[\"http:\\/\\/127.0.0.1:%d\\/img\\/28.jpg\",600,800]]});</script>",
                    port, port, port);
        appendf(local, sizeof local, "</body></html>");
        return send_text(c, 200, local, "text/html");
    }
    if (!strncmp(url, "/img/inat/", 10)) {
        int id = atoi(url + 10);
        if (!strstr(url, "/medium.jpg"))
            return send_text(c, 404, "only medium", "text/plain");
        snprintf(buf, sizeof buf, "/img/%d.jpg", id == 20 ? 29 : id == 21 ? 30 : 31);
        const blob *b = find_fixture(buf);
        if (!b)
            return send_text(c, 404, "no such photo", "text/plain");
        return send_body(c, 200, b->data, b->len, "image/jpeg");
    }
    if (!strncmp(url, "/slow/", 6)) {
        pthread_mutex_lock(&lock);
        if (++slow_active > slow_max_active)
            slow_max_active = slow_active;
        const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
        snprintf(last_user_agent, sizeof last_user_agent, "%s", ua ? ua : "");
        pthread_mutex_unlock(&lock);
        usleep(150 * 1000);
        pthread_mutex_lock(&lock);
        slow_active--;
        pthread_mutex_unlock(&lock);
        snprintf(buf, sizeof buf, "/img/%d.jpg", atoi(url + 6));
        const blob *b = find_fixture(buf);
        if (b)
            return send_body(c, 200, b->data, b->len, "image/jpeg");
    }
    const blob *b = find_fixture(url);
    if (b && strncmp(url, "/fault/", 7) != 0) {
        pthread_mutex_lock(&lock);
        image_hits++;
        pthread_mutex_unlock(&lock);
        return send_body(c, 200, b->data, b->len, "image/jpeg");
    }
    const blob *good = find_fixture("/img/8.jpg");
    if (!strcmp(url, "/fault/404"))
        return send_text(c, 404, "not here", "text/plain");
    if (!strcmp(url, "/fault/500once")) {
        pthread_mutex_lock(&lock);
        int first = hits_500++ == 0;
        pthread_mutex_unlock(&lock);
        if (first)
            return send_text(c, 500, "oops", "text/plain");
        return send_body(c, 200, good->data, good->len, "image/jpeg");
    }
    if (!strcmp(url, "/fault/429")) {
        pthread_mutex_lock(&lock);
        int n = hits_429++;
        if (n < 2)
            t429[n] = petal_now_ms();
        pthread_mutex_unlock(&lock);
        if (n == 0) {
            struct MHD_Response *r =
                MHD_create_response_from_buffer(4, (void *)"slow", MHD_RESPMEM_PERSISTENT);
            MHD_add_response_header(r, "Retry-After", "1");
            enum MHD_Result ret = MHD_queue_response(c, 429, r);
            MHD_destroy_response(r);
            return ret;
        }
        const blob *g = find_fixture("/img/9.jpg");
        return send_body(c, 200, g->data, g->len, "image/jpeg");
    }
    if (!strcmp(url, "/fault/429date")) { /* Retry-After as an HTTP date, 2 s ahead */
        pthread_mutex_lock(&lock);
        int n = hits_429date++;
        pthread_mutex_unlock(&lock);
        if (n == 0) {
            char when[64];
            time_t t = time(NULL) + 2;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%a, %d %b %Y %H:%M:%S GMT", &tm);
            struct MHD_Response *r =
                MHD_create_response_from_buffer(4, (void *)"busy", MHD_RESPMEM_PERSISTENT);
            MHD_add_response_header(r, "Retry-After", when);
            enum MHD_Result ret = MHD_queue_response(c, 429, r);
            MHD_destroy_response(r);
            return ret;
        }
        return send_body(c, 200, good->data, good->len, "image/jpeg");
    }
    if (!strcmp(url, "/fault/reset"))
        return MHD_NO; /* closes the connection without an answer */
    if (!strcmp(url, "/fault/stall")) {
        usleep(1500 * 1000);
        return send_body(c, 200, good->data, good->len, "image/jpeg");
    }
    if (!strcmp(url, "/fault/drip"))
        return send_stream(c, 40, gen_drip, NULL);
    if (!strcmp(url, "/fault/truncated"))
        return send_stream(c, good->len, gen_truncated, (void *)good);
    if (!strcmp(url, "/fault/html"))
        return send_text(c, 200, "<!DOCTYPE html><html><body>Login required</body></html>",
                         "image/jpeg");
    if (!strcmp(url, "/fault/big"))
        return send_stream(c, 50u * 1024 * 1024, gen_zeros, NULL);
    if (!strcmp(url, "/fault/bigchunked"))
        return send_stream(c, MHD_SIZE_UNKNOWN, gen_zeros, NULL);
    if (!strcmp(url, "/fault/loop")) {
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Location", "/fault/loop");
        enum MHD_Result ret = MHD_queue_response(c, 302, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (!strcmp(url, "/fault/bomb")) {
        const blob *bomb = find_fixture("/fault/bomb");
        return send_body(c, 200, bomb->data, bomb->len, "image/png");
    }
    return send_text(c, 404, "no such fixture", "text/plain");
}

static int start_server(void)
{
    if (nfixtures == 0)
        build_fixtures();
    hits_500 = hits_429 = hits_429date = image_hits = 0;
    daemon_ = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                               NULL, NULL, handler, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                               (unsigned)10, MHD_OPTION_END);
    if (!daemon_)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port = info ? info->port : 0;
    return port > 0 ? 0 : -1;
}

static void stop_server(void)
{
    MHD_stop_daemon(daemon_);
    daemon_ = NULL;
}

/* ---- helpers --------------------------------------------------------------------------- */

static void options(petal_scrape_options *o, petal_scrape_labels *l, const char *dir,
                    const char *source, const char *path, char *base, size_t n)
{
    memset(o, 0, sizeof *o);
    snprintf(base, n, "http://127.0.0.1:%d%s", port, path);
    o->labels = l;
    o->image_dir = dir;
    o->sources = source;
    o->base_url = base;
    o->per_class = 10;
    o->dhash_distance = 4;
    o->max_pages = 5;
    o->http.concurrency = 8;
    o->http.per_host = 8;
    o->http.timeout_s = 1;
    o->http.retries = 1;
    o->http.backoff_ms = 50;
    o->http.max_bytes = 2 * 1024 * 1024;
}

static void add_label(petal_scrape_labels *l, const char *line)
{
    petal_error err;
    assert_int_equal(petal_scrape_labels_add_line(l, line, "test", &err), PETAL_OK);
}

/* Checks that every manifest line has its file and every file in folder has its line, and that
 * no temporary file is left; returns the number of images in folder. */
static int check_consistent(const char *dir, const char *folder)
{
    char *mpath = petal_path_join(dir, "manifest.csv");
    petal_manifest m = {0};
    petal_error err;
    assert_int_equal(petal_manifest_load(mpath, &m, &err), PETAL_OK);
    for (size_t i = 0; i < m.count; i++) {
        char *p = petal_path_join(dir, m.items[i].file);
        if (!petal_is_file(p))
            fail_msg("manifest line without file: %s", m.items[i].file);
        free(p);
    }
    char *fdir = petal_path_join(dir, folder);
    DIR *d = opendir(fdir);
    int files = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                fail_msg("temporary file left: %s/%s", folder, e->d_name);
            continue;
        }
        char rel[512];
        snprintf(rel, sizeof rel, "%s/%s", folder, e->d_name);
        int found = 0;
        for (size_t i = 0; i < m.count; i++)
            found |= !strcmp(m.items[i].file, rel);
        if (!found)
            fail_msg("file without manifest line: %s", rel);
        files++;
    }
    if (d)
        closedir(d);
    free(fdir);
    free(mpath);
    petal_manifest_free(&m);
    return files;
}

static const petal_scrape_label_summary *sum_of(const petal_scrape_summary *s, const char *name)
{
    for (size_t i = 0; i < s->count; i++)
        if (!strcmp(s->labels[i].name, name))
            return &s->labels[i];
    fail_msg("no summary for %s", name);
    return NULL;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_wikimedia_pages_dedupe_and_rerun(void **state)
{
    (void)state;
    assert_int_equal(start_server(), 0);
    char *dir = petal_test_tmpdir("scrape-wm");
    petal_scrape_labels l = {0};
    add_label(&l, "Rose | rose flower");
    petal_scrape_options o;
    char base[128];
    options(&o, &l, dir, "wikimedia", "/w/api.php", base, sizeof base);
    petal_scrape_summary s;
    petal_error err;
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    const petal_scrape_label_summary *r = sum_of(&s, "rose");
    assert_int_equal(r->got, 6); /* 1, 2, png1 + 3, 4, 5; the copy and the near copy dropped */
    assert_int_equal(r->duplicates, 2);
    assert_int_equal(r->failed, 0);
    assert_int_equal(check_consistent(dir, "rose"), 6);
    petal_scrape_summary_free(&s);

    char *mpath = petal_path_join(dir, "manifest.csv");
    petal_manifest m = {0};
    assert_int_equal(petal_manifest_load(mpath, &m, &err), PETAL_OK);
    assert_int_equal(m.count, 6);
    int pngs = 0, ccbysa = 0;
    for (size_t i = 0; i < m.count; i++) {
        assert_string_equal(m.items[i].label, "rose");
        assert_string_equal(m.items[i].source, "wikimedia");
        assert_non_null(strstr(m.items[i].author, "Photographer & Co"));
        assert_int_equal(strncmp(m.items[i].file, "rose/", 5), 0);
        pngs += strstr(m.items[i].file, ".png") != NULL;
        ccbysa += !strcmp(m.items[i].licence, "CC BY-SA 4.0");
        assert_true(m.items[i].width >= 96 && m.items[i].height >= 80);
    }
    assert_int_equal(pngs, 1);
    assert_int_equal(ccbysa, 1);
    petal_manifest_free(&m);

    /* A rerun with the label full downloads no image. */
    o.per_class = 6;
    int before = image_hits;
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    assert_int_equal(sum_of(&s, "rose")->had, 6);
    assert_int_equal(image_hits, before);
    petal_scrape_summary_free(&s);

    /* A rerun after a file went missing tops the label up again. */
    assert_int_equal(petal_manifest_load(mpath, &m, &err), PETAL_OK);
    char *victim = petal_path_join(dir, m.items[0].file);
    unlink(victim);
    free(victim);
    petal_manifest_free(&m);
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    assert_int_equal(s.reconciled_dropped_lines, 1);
    assert_int_equal(sum_of(&s, "rose")->had, 5);
    assert_int_equal(sum_of(&s, "rose")->got, 6);
    assert_int_equal(check_consistent(dir, "rose"), 6);
    petal_scrape_summary_free(&s);

    /* --dhash_distance -1: only exact copies are duplicates; the re-encoded one is kept. */
    char *dir2 = petal_test_tmpdir("scrape-wm-nodhash");
    options(&o, &l, dir2, "wikimedia", "/w/api.php", base, sizeof base);
    o.dhash_distance = -1;
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    assert_int_equal(sum_of(&s, "rose")->got, 7);
    assert_int_equal(sum_of(&s, "rose")->duplicates, 1);
    petal_scrape_summary_free(&s);
    petal_test_rmtree(dir2);
    free(dir2);

    free(mpath);
    petal_scrape_labels_free(&l);
    petal_test_rmtree(dir);
    free(dir);
    stop_server();
}

static void test_other_sources_in_order(void **state)
{
    (void)state;
    assert_int_equal(start_server(), 0);
    char *dir = petal_test_tmpdir("scrape-src");
    petal_scrape_labels l = {0};
    add_label(&l, "tulip");
    petal_scrape_options o;
    char base[128];
    options(&o, &l, dir, "inaturalist,bing,google", "", base, sizeof base);
    petal_scrape_summary s;
    petal_error err;
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    /* iNaturalist: 2 openly licensed photos (one unlicensed skipped); Bing 3; Google 3. */
    assert_int_equal(sum_of(&s, "tulip")->got, 8);
    assert_int_equal(sum_of(&s, "tulip")->failed, 0);
    petal_scrape_summary_free(&s);
    assert_int_equal(check_consistent(dir, "tulip"), 8);
    char *mpath = petal_path_join(dir, "manifest.csv");
    petal_manifest m = {0};
    assert_int_equal(petal_manifest_load(mpath, &m, &err), PETAL_OK);
    int inat = 0, bing = 0, google = 0;
    for (size_t i = 0; i < m.count; i++) {
        const petal_manifest_entry *e = &m.items[i];
        if (!strcmp(e->source, "inaturalist")) {
            inat++;
            assert_true(!strcmp(e->licence, "cc-by") || !strcmp(e->licence, "cc0"));
            assert_non_null(strstr(e->image_url, "/medium.jpg"));
            assert_non_null(strstr(e->page_url, "/observations/"));
        } else {
            bing += !strcmp(e->source, "bing");
            google += !strcmp(e->source, "google");
            assert_string_equal(e->licence, "unknown");
        }
    }
    assert_int_equal(inat, 2);
    assert_int_equal(bing, 3);
    assert_int_equal(google, 3);
    /* Sources are filled in order: iNaturalist's lines come first. */
    assert_string_equal(m.items[0].source, "inaturalist");
    assert_string_equal(m.items[m.count - 1].source, "google");
    petal_manifest_free(&m);
    free(mpath);
    petal_scrape_labels_free(&l);
    petal_test_rmtree(dir);
    free(dir);
    stop_server();
}

static void test_fault_endpoints(void **state)
{
    (void)state;
    assert_int_equal(start_server(), 0);
    char *dir = petal_test_tmpdir("scrape-faults");
    petal_scrape_labels l = {0};
    add_label(&l, "faulty");
    petal_scrape_options o;
    char base[128];
    options(&o, &l, dir, "wikimedia", "/w/api.php", base, sizeof base);
    o.per_class = 30;
    petal_scrape_summary s;
    petal_error err;
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    const petal_scrape_label_summary *f = sum_of(&s, "faulty");
    print_message("rejected: %s\nfailed: %s\n", f->rejected_reasons, f->failed_reasons);
    /* 6.jpg, 7.jpg, 500-then-ok and 429-then-ok. */
    assert_int_equal(f->got, 4);
    assert_int_equal(f->rejected, 3);
    assert_non_null(strstr(f->rejected_reasons, "1 HTML, not an image"));
    assert_non_null(strstr(f->rejected_reasons, "1 over the pixel limit"));
    assert_non_null(strstr(f->rejected_reasons, "1 smaller than 64x64"));
    assert_int_equal(f->failed, 8);
    assert_non_null(strstr(f->failed_reasons, "1 HTTP 404"));
    assert_non_null(strstr(f->failed_reasons, "1 connection reset"));
    assert_non_null(strstr(f->failed_reasons, "2 timed out after 1 s")); /* stall, drip */
    assert_non_null(strstr(f->failed_reasons, "1 truncated body"));
    assert_non_null(strstr(f->failed_reasons, "2 over 2097152 bytes")); /* sized and chunked */
    assert_non_null(strstr(f->failed_reasons, "1 more than 5 redirects"));
    /* Retry-After: 1 was honoured. */
    assert_int_equal(hits_429, 2);
    assert_true(t429[1] - t429[0] >= 900);
    assert_int_equal(check_consistent(dir, "faulty"), 4);
    petal_scrape_summary_free(&s);
    petal_scrape_labels_free(&l);
    petal_test_rmtree(dir);
    free(dir);
    stop_server();
}

static void test_cross_label_duplicates_kept_for_neither(void **state)
{
    (void)state;
    assert_int_equal(start_server(), 0);
    char *dir = petal_test_tmpdir("scrape-cross");
    petal_scrape_labels l = {0};
    add_label(&l, "lily");
    add_label(&l, "iris | iris flower");
    petal_scrape_options o;
    char base[128];
    options(&o, &l, dir, "wikimedia", "/w/api.php", base, sizeof base);
    /* The iris page serves /img/16.jpg too (different bytes names would not matter). */
    petal_scrape_summary s;
    petal_error err;
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    assert_int_equal(sum_of(&s, "lily")->got, 2);
    assert_int_equal(sum_of(&s, "iris")->got, 2);
    assert_int_equal(sum_of(&s, "lily")->cross_label, 1);
    assert_int_equal(sum_of(&s, "iris")->cross_label, 1);
    petal_scrape_summary_free(&s);
    assert_int_equal(check_consistent(dir, "lily"), 2);
    assert_int_equal(check_consistent(dir, "iris"), 2);
    char *cpath = petal_path_join(dir, "cross_label_duplicates.csv");
    assert_true(petal_is_file(cpath));
    free(cpath);
    /* A rerun does not take the shared photo back for either label. */
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    assert_int_equal(sum_of(&s, "lily")->got, 2);
    assert_int_equal(sum_of(&s, "iris")->got, 2);
    petal_scrape_summary_free(&s);
    petal_scrape_labels_free(&l);
    petal_test_rmtree(dir);
    free(dir);
    stop_server();
}

/* alpha's first result is also beta's: alpha fills up (its 21st candidate cancelled), loses
 * the shared photo to beta, and a second round fetches the candidate it had left. */
static void test_cross_label_loss_refilled(void **state)
{
    (void)state;
    assert_int_equal(start_server(), 0);
    char *dir = petal_test_tmpdir("scrape-refill");
    petal_scrape_labels l = {0};
    add_label(&l, "alpha");
    add_label(&l, "beta");
    petal_scrape_options o;
    char base[128];
    options(&o, &l, dir, "wikimedia", "/w/api.php", base, sizeof base);
    o.per_class = 20;
    o.http.concurrency = 4;
    o.http.per_host = 4;
    petal_scrape_summary s;
    petal_error err;
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    assert_int_equal(sum_of(&s, "alpha")->got, 20);
    assert_int_equal(sum_of(&s, "alpha")->cross_label, 1);
    assert_int_equal(sum_of(&s, "beta")->got, 19); /* 20 results, one shared */
    assert_int_equal(sum_of(&s, "beta")->cross_label, 1);
    petal_scrape_summary_free(&s);
    assert_int_equal(check_consistent(dir, "alpha"), 20);
    assert_int_equal(check_consistent(dir, "beta"), 19);
    petal_scrape_labels_free(&l);
    petal_test_rmtree(dir);
    free(dir);
    stop_server();
}

static void test_reconcile_strays_and_orphans(void **state)
{
    (void)state;
    assert_int_equal(start_server(), 0);
    char *dir = petal_test_tmpdir("scrape-reconcile");
    petal_scrape_labels l = {0};
    add_label(&l, "lily");
    petal_scrape_options o;
    char base[128];
    options(&o, &l, dir, "wikimedia", "/w/api.php", base, sizeof base);
    o.per_class = 3;
    petal_scrape_summary s;
    petal_error err;
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    petal_scrape_summary_free(&s);
    assert_int_equal(check_consistent(dir, "lily"), 3);

    /* What a kill leaves behind, plus files someone dropped in. A kill between the manifest
     * append and the rename leaves a line and its complete temporary file: the rerun finishes
     * the rename. */
    char p[1024];
    char *mpath = petal_path_join(dir, "manifest.csv");
    petal_manifest m = {0};
    assert_int_equal(petal_manifest_load(mpath, &m, &err), PETAL_OK);
    char *done_path = petal_path_join(dir, m.items[1].file);
    snprintf(p, sizeof p, "%s/lily/.%s.part", dir, petal_path_basename(m.items[1].file));
    assert_int_equal(rename(done_path, p), 0);
    petal_manifest_free(&m);
    free(mpath);
    snprintf(p, sizeof p, "%s/lily/.0123456789abcdef.jpg.part", dir);
    petal_test_write(p, "partial", 7);
    snprintf(p, sizeof p, "%s/lily/garbage.jpg", dir);
    petal_test_write(p, "<html>nope</html>", 17);
    snprintf(p, sizeof p, "%s/lily/mine.png", dir);
    const blob *own = find_fixture("/img/png1");
    petal_test_write(p, own->data, own->len);
    snprintf(p, sizeof p, "%s/manifest.csv", dir);
    const char *gone = "lily,lily/gone.jpg,00,100,100,wikimedia,http://x/,,CC0,,now\n";
    const char *torn = "\"torn line,with,no end";
    /* Lines pointing outside image_dir are dropped and their targets never touched. */
    char sentinel[1024];
    snprintf(sentinel, sizeof sentinel, "%s-sentinel.jpg", dir);
    petal_test_write(sentinel, "keep me", 7);
    char hostile[1200];
    snprintf(hostile, sizeof hostile,
             "lily,../%s,00,100,100,wikimedia,http://x/,,CC0,,now\n"
             "lily,lily/../../%s,00,100,100,wikimedia,http://y/,,CC0,,now\n",
             petal_path_basename(sentinel), petal_path_basename(sentinel));
    petal_append_file(p, gone, strlen(gone), &err);
    petal_append_file(p, hostile, strlen(hostile), &err);
    petal_append_file(p, torn, strlen(torn), &err);

    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    assert_int_equal(s.reconciled_dropped_lines, 3);
    assert_true(petal_is_file(sentinel));
    unlink(sentinel);
    assert_int_equal(s.reconciled_removed_files, 2); /* the .part and garbage.jpg */
    assert_int_equal(s.reconciled_added_files, 1);   /* mine.png, as source local */
    assert_int_equal(sum_of(&s, "lily")->got, 4);
    assert_true(petal_is_file(done_path)); /* renamed back, not fetched again */
    free(done_path);
    petal_scrape_summary_free(&s);
    assert_int_equal(check_consistent(dir, "lily"), 4);
    petal_scrape_labels_free(&l);
    petal_test_rmtree(dir);
    free(dir);
    stop_server();
}

static void test_malformed_json_and_dry_run(void **state)
{
    (void)state;
    assert_int_equal(start_server(), 0);
    char *dir = petal_test_tmpdir("scrape-misc");
    char *out = petal_path_join(dir, "out");
    petal_scrape_labels l = {0};
    add_label(&l, "broken");
    add_label(&l, "../../Rose");
    assert_string_equal(l.items[1].folder, "rose");
    petal_scrape_options o;
    char base[128];
    options(&o, &l, out, "wikimedia", "/w/api.php", base, sizeof base);
    o.dry_run = 1;
    o.per_class = 4;
    petal_scrape_summary s;
    petal_error err;
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    assert_int_equal(sum_of(&s, "broken")->got, 0);
    assert_int_equal(sum_of(&s, "broken")->failed, 1);
    assert_non_null(strstr(sum_of(&s, "broken")->failed_reasons, "not a result page"));
    assert_int_equal(sum_of(&s, "rose")->got, 4); /* would fetch 4 */
    assert_int_equal(image_hits, 0);
    assert_false(petal_is_dir(out)); /* a dry run writes nothing */
    petal_scrape_summary_free(&s);

    /* A second scrape on the same folder is refused while one holds the lock. */
    o.dry_run = 0;
    assert_int_equal(petal_mkdirs(out, &err), PETAL_OK);
    char *lock_path = petal_path_join(out, ".scrape.lock");
    int fd = open(lock_path, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_ERR_IO);
    assert_non_null(strstr(err.msg, "another petal scrape"));
    petal_scrape_summary_free(&s);
    close(fd);
    free(lock_path);

    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_OK);
    assert_int_equal(sum_of(&s, "broken")->got, 0);
    assert_int_equal(sum_of(&s, "rose")->got, 4);
    assert_int_equal(check_consistent(out, "rose"), 4);
    petal_scrape_summary_free(&s);
    petal_scrape_labels_free(&l);
    petal_test_rmtree(dir);
    free(out);
    free(dir);
    stop_server();
}

/* A manifest that cannot be written stops the run with its error; no photo stays unrecorded. */
static void test_unwritable_manifest_stops(void **state)
{
    (void)state;
    assert_int_equal(start_server(), 0);
    char *dir = petal_test_tmpdir("scrape-nomanifest");
    char *mpath = petal_path_join(dir, "manifest.csv");
    petal_error err;
    assert_int_equal(petal_mkdirs(mpath, &err), PETAL_OK); /* a folder where the file goes */
    petal_scrape_labels l = {0};
    add_label(&l, "rose");
    petal_scrape_options o;
    char base[128];
    options(&o, &l, dir, "wikimedia", "/w/api.php", base, sizeof base);
    petal_scrape_summary s;
    int before = image_hits;
    assert_int_equal(petal_scrape_run(&o, &s, &err), PETAL_ERR_IO);
    assert_non_null(strstr(err.msg, "manifest.csv"));
    assert_true(image_hits - before <= o.http.concurrency); /* stopped, not fetched all */
    petal_scrape_summary_free(&s);
    char *folder = petal_path_join(dir, "rose");
    DIR *d = opendir(folder);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            fail_msg("left in %s: %s", folder, e->d_name); /* neither photos nor temp files */
    closedir(d);
    free(folder);
    free(mpath);
    petal_scrape_labels_free(&l);
    petal_test_rmtree(dir);
    free(dir);
    stop_server();
}

static int count_done(void *ctx, size_t index, petal_http_response *resp)
{
    (void)index;
    int *ok = ctx;
    *ok += resp->code == PETAL_OK && resp->len > 100;
    return 0;
}

static void test_http_per_host_limit_and_user_agent(void **state)
{
    (void)state;
    assert_int_equal(start_server(), 0);
    char urls[6][128];
    const char *list[6];
    for (int i = 0; i < 6; i++) {
        snprintf(urls[i], sizeof urls[i], "http://127.0.0.1:%d/slow/%d.jpg", port, i + 1);
        list[i] = urls[i];
    }
    petal_http_options o = {0};
    o.concurrency = 8;
    o.per_host = 2;
    o.timeout_s = 5;
    o.user_agent = "petal-test/1 (contact: test@example.org)";
    int ok = 0;
    petal_error err;
    double t0 = petal_now_ms();
    slow_max_active = 0;
    assert_int_equal(petal_http_fetch_all(&o, list, 6, count_done, &ok, &err), PETAL_OK);
    double ms = petal_now_ms() - t0;
    assert_int_equal(ok, 6);
    assert_true(slow_max_active >= 1 && slow_max_active <= 2); /* never over --per_host */
    assert_true(ms >= 3 * 150 - 20); /* 6 requests, 2 at a time, 150 ms each */
    assert_string_equal(last_user_agent, o.user_agent);

    /* --delay_ms spaces the starts of requests to one host. */
    o.per_host = 8;
    o.delay_ms = 100;
    o.user_agent = NULL;
    ok = 0;
    t0 = petal_now_ms();
    assert_int_equal(petal_http_fetch_all(&o, list, 4, count_done, &ok, &err), PETAL_OK);
    ms = petal_now_ms() - t0;
    assert_int_equal(ok, 4);
    assert_true(ms >= 3 * 100 + 150 - 20);
    assert_non_null(strstr(last_user_agent, "contact")); /* the default names a contact */

    /* Redirects: 5 by default, none with -1 (what --max_redirects 0 sets). */
    char loop[128];
    snprintf(loop, sizeof loop, "http://127.0.0.1:%d/fault/loop", port);
    petal_http_response resp;
    petal_http_options r = {0};
    assert_int_equal(petal_http_get(&r, loop, &resp, &err), PETAL_ERR_NET);
    assert_string_equal(resp.reason, "more than 5 redirects");
    petal_http_response_free(&resp);
    r.max_redirects = -1;
    assert_int_equal(petal_http_get(&r, loop, &resp, &err), PETAL_ERR_NET);
    assert_string_equal(resp.reason, "more than 0 redirects");
    petal_http_response_free(&resp);

    /* Retry-After as an HTTP date (1 to 2 s ahead, whole seconds) is waited for, not the
     * 50 ms backoff. */
    char busy[128];
    snprintf(busy, sizeof busy, "http://127.0.0.1:%d/fault/429date", port);
    r.retries = 1;
    r.backoff_ms = 50;
    t0 = petal_now_ms();
    assert_int_equal(petal_http_get(&r, busy, &resp, &err), PETAL_OK);
    ms = petal_now_ms() - t0;
    assert_int_equal(resp.attempts, 2);
    assert_int_equal(hits_429date, 2);
    assert_true(ms >= 900);
    petal_http_response_free(&resp);
    stop_server();
}

static int serve_forever(void)
{
    if (start_server() != 0)
        return 1;
    printf("%d\n", port);
    fflush(stdout);
    for (int i = 0; i < 1200; i++) /* at most two minutes, in case nobody stops us */
        usleep(100 * 1000);
    stop_server();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--serve"))
        return serve_forever();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wikimedia_pages_dedupe_and_rerun),
        cmocka_unit_test(test_other_sources_in_order),
        cmocka_unit_test(test_fault_endpoints),
        cmocka_unit_test(test_cross_label_duplicates_kept_for_neither),
        cmocka_unit_test(test_cross_label_loss_refilled),
        cmocka_unit_test(test_reconcile_strays_and_orphans),
        cmocka_unit_test(test_malformed_json_and_dry_run),
        cmocka_unit_test(test_unwritable_manifest_stops),
        cmocka_unit_test(test_http_per_host_limit_and_user_agent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
