/* server.c - `petal serve`: HTTP routes on libmicrohttpd, a queue of classify jobs and the
 * inference workers that own one executor each (see serve.h for the API and the routes). */
#include "serve/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "image/image.h"
#include "nn/model.h"
#include "serve/multipart.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/timer.h"

#define MAX_LABEL_FILE (16u << 20)
#define MAX_LOGGED_URL 200
#define MAX_TOP_K      1000

/* ---- Types ---------------------------------------------------------------------------- */

typedef enum route {
    ROUTE_NONE = 0, /* answered at once (404, 405, 413...) */
    ROUTE_PAGE,
    ROUTE_LABELS,
    ROUTE_HEALTH,
    ROUTE_CLASSIFY
} route;

/* One HTTP request from its first header to the end of its response. */
typedef struct request {
    petal_server *server;
    struct MHD_Connection *conn;
    double t_start;
    char method[16];
    char url[MAX_LOGGED_URL + 1];
    route route;
    char *content_type; /* copy of the header (classify only) */
    int top_k;          /* from ?top_k=, 0 = not given */
    uint8_t *body;
    size_t len, cap;
    size_t announced; /* Content-Length, 0 if none */
    int too_large;    /* body went over max_body: the rest is discarded, then 413 */
    /* Filled by the worker, read by the daemon thread after MHD_resume_connection. */
    int done;
    unsigned status;
    char *answer; /* JSON */
    /* What the log line reports. */
    unsigned logged_status;
    char error[160];
    struct request *next; /* job queue link */
} request;

struct petal_server {
    petal_serve_options opts;
    char *host;
    int port;
    petal_model *model;
    char *model_name;
    char **labels;
    int n_labels;
    int in_width, in_height;
    char *labels_json;
    char *health_json;
    /* Workers and their job queue. */
    int n_workers;
    int threads_per_worker;
    petal_exec **execs;
    pthread_t *threads;
    int n_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    request *head, *tail;
    int stopping;
    struct MHD_Daemon *daemon;
    int listen_fd;
};

/* ---- Options and labels ----------------------------------------------------------------- */

petal_serve_options petal_serve_defaults(void)
{
    petal_serve_options o;
    memset(&o, 0, sizeof o);
    o.host = "127.0.0.1";
    o.port = 8080;
    o.backend = PETAL_BACKEND_AUTO;
    o.input_mean = 127.5f;
    o.input_std = 127.5f;
    o.top_k = 5;
    o.max_body = 10u << 20;
    o.timeout_s = 30;
    o.max_connections = 64;
    return o;
}

/* Reads one label per line (trailing spaces and CR removed; a last empty line is not a label). */
static petal_status load_labels(petal_server *s, const char *path, petal_error *err)
{
    uint8_t *data;
    size_t len;
    petal_status st = petal_read_file(path, MAX_LABEL_FILE, &data, &len, err);
    if (st != PETAL_OK)
        return st;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    s->labels = calloc(lines, sizeof *s->labels);
    if (s->labels == NULL) {
        free(data);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
    }
    char *text = (char *)data, *line = text;
    while (line < text + len) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        char *end = nl ? nl : text + len;
        char *stop = end;
        while (stop > line && (stop[-1] == '\r' || stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        s->labels[s->n_labels] = strndup(line, (size_t)(stop - line));
        if (s->labels[s->n_labels] == NULL) {
            free(data);
            return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
        }
        s->n_labels++;
        line = end + 1;
    }
    free(data);
    if (s->n_labels == 0)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: no labels in the file", path);
    return PETAL_OK;
}

/* ---- JSON answers ------------------------------------------------------------------------ */

/* Prints a cJSON tree to a new string and frees the tree (NULL when out of memory). */
static char *json_finish(cJSON *root)
{
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static char *json_error(const char *message)
{
    cJSON *root = cJSON_CreateObject();
    if (root)
        cJSON_AddStringToObject(root, "error", message);
    return json_finish(root);
}

static double round_to(double x, double unit)
{
    return round(x / unit) * unit;
}

/* Sorts the indices of the k best scores (ties: lower index first) into best[0..k). */
static void top_k_indices(const float *scores, size_t n, int k, int *best)
{
    int have = 0;
    for (size_t i = 0; i < n; i++) {
        if (have == k && !(scores[i] > scores[best[k - 1]]))
            continue;
        int j = have < k ? have++ : k - 1;
        while (j > 0 && scores[i] > scores[best[j - 1]]) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = (int)i;
    }
}

static char *json_predictions(const petal_server *s, const float *scores, size_t n, int k,
                              double decode_ms, double infer_ms)
{
    int best[MAX_TOP_K];
    if ((size_t)k > n)
        k = (int)n;
    if (k < 1)
        return NULL;
    top_k_indices(scores, n, k, best);
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "predictions");
    if (list == NULL) {
        cJSON_Delete(root);
        return NULL;
    }
    for (int i = 0; i < k; i++) {
        cJSON *p = cJSON_CreateObject();
        if (p == NULL)
            break;
        cJSON_AddStringToObject(p, "label", s->labels[best[i]]);
        cJSON_AddNumberToObject(p, "score", round_to(scores[best[i]], 1e-6));
        cJSON_AddItemToArray(list, p);
    }
    cJSON_AddNumberToObject(root, "decode_ms", round_to(decode_ms, 1e-3));
    cJSON_AddNumberToObject(root, "ms", round_to(infer_ms, 1e-3));
    return json_finish(root);
}

static petal_status make_static_answers(petal_server *s, petal_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "labels");
    for (int i = 0; list && i < s->n_labels; i++)
        cJSON_AddItemToArray(list, cJSON_CreateString(s->labels[i]));
    s->labels_json = json_finish(root);

    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "status", "ok");
    cJSON_AddStringToObject(root, "model", s->model_name);
    cJSON_AddNumberToObject(root, "labels", s->n_labels);
    cJSON_AddNumberToObject(root, "workers", s->n_workers);
    cJSON_AddNumberToObject(root, "threads_per_worker", s->threads_per_worker);
    cJSON_AddStringToObject(root, "backend", petal_backend_name(petal_exec_backend(s->execs[0])));
    cJSON *input = cJSON_AddArrayToObject(root, "input");
    if (input) {
        cJSON_AddItemToArray(input, cJSON_CreateNumber(s->in_height));
        cJSON_AddItemToArray(input, cJSON_CreateNumber(s->in_width));
    }
    s->health_json = json_finish(root);
    if (s->labels_json == NULL || s->health_json == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    return PETAL_OK;
}

/* ---- Classifying one request (worker threads) -------------------------------------------- */

/* Parses a top_k value: a whole number 1..MAX_TOP_K. Returns it, or 0 if invalid. */
static int parse_top_k(const char *text, size_t n)
{
    if (n == 0 || n > 4)
        return 0;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return 0;
        v = v * 10 + (text[i] - '0');
    }
    return v >= 1 && v <= MAX_TOP_K ? v : 0;
}

/* Records an error answer for the request; returns -1 so callers can `return job_fail(...)`. */
static int job_fail(request *r, unsigned status, const char *message)
{
    r->status = status;
    r->answer = json_error(message);
    snprintf(r->error, sizeof r->error, "%s", message);
    return -1;
}

/* Maps a decoding failure to an HTTP status: over a limit is 413, anything else 400. */
static unsigned decode_status(petal_status st)
{
    if (st == PETAL_ERR_LIMIT)
        return MHD_HTTP_CONTENT_TOO_LARGE;
    if (st == PETAL_ERR_NOMEM || st == PETAL_ERR_INTERNAL)
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    return MHD_HTTP_BAD_REQUEST;
}

/* Finds the image bytes (raw body or multipart field "image"), decodes, resizes and runs the
 * worker's executor; fills r->status and r->answer. Returns 0 on success, -1 on an error answer. */
static int job_classify(petal_server *s, petal_exec *exec, request *r)
{
    const uint8_t *image = r->body;
    size_t image_len = r->len;
    int top_k = r->top_k;
    petal_error err;
    petal_error_clear(&err);

    if (petal_multipart_is_form_data(r->content_type)) {
        char boundary[PETAL_MULTIPART_MAX_BOUNDARY + 1];
        if (petal_multipart_boundary(r->content_type, boundary, &err) != PETAL_OK)
            return job_fail(r, MHD_HTTP_BAD_REQUEST, err.msg);
        petal_status st = petal_multipart_find(r->body, r->len, boundary, "image", "upload", &image,
                                               &image_len, &err);
        if (st != PETAL_OK)
            return job_fail(r, MHD_HTTP_BAD_REQUEST, err.msg);
        const uint8_t *k;
        size_t k_len;
        if (top_k == 0 && petal_multipart_find(r->body, r->len, boundary, "top_k", "upload", &k,
                                               &k_len, &err) == PETAL_OK) {
            top_k = parse_top_k((const char *)k, k_len);
            if (top_k == 0)
                return job_fail(r, MHD_HTTP_BAD_REQUEST, "top_k must be a number from 1 to 1000");
        }
    }
    if (top_k == 0)
        top_k = s->opts.top_k;
    if (image_len == 0)
        return job_fail(r, MHD_HTTP_BAD_REQUEST,
                        "upload: empty image (send the image bytes as the body, or a "
                        "multipart/form-data field named 'image')");
    if (petal_image_sniff(image, image_len) == PETAL_FORMAT_UNKNOWN)
        return job_fail(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                        "upload: not a JPEG, PNG, BMP, WebP or GIF image");

    double t0 = petal_now_ms();
    petal_decode_options dopts = {.max_pixels = s->opts.max_pixels,
                                  .target_width = s->in_width,
                                  .target_height = s->in_height};
    petal_image decoded = {0}, resized = {0};
    petal_status st = petal_image_decode(image, image_len, "upload", &dopts, &decoded, &err);
    if (st != PETAL_OK)
        return job_fail(r, decode_status(st), err.msg);
    if (s->opts.center_crop)
        st = petal_image_resize_center_crop(&decoded, s->in_width, s->in_height, &resized, &err);
    else
        st = petal_image_resize(&decoded, s->in_width, s->in_height, &resized, &err);
    petal_image_free(&decoded);
    if (st != PETAL_OK)
        return job_fail(r, decode_status(st), err.msg);
    double t1 = petal_now_ms();

    st =
        petal_exec_set_input_rgb(exec, resized.pixels, s->opts.input_mean, s->opts.input_std, &err);
    petal_image_free(&resized);
    if (st == PETAL_OK)
        st = petal_exec_run(exec, &err);
    if (st != PETAL_OK) {
        petal_error_log("%s", err.msg);
        return job_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, err.msg);
    }
    size_t n;
    const float *scores = petal_exec_output(exec, &n);
    double t2 = petal_now_ms();
    if ((size_t)s->n_labels < n)
        n = (size_t)s->n_labels;
    r->answer = json_predictions(s, scores, n, top_k, t1 - t0, t2 - t1);
    if (r->answer == NULL)
        return job_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    r->status = MHD_HTTP_OK;
    return 0;
}

typedef struct worker_arg {
    petal_server *server;
    petal_exec *exec;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *arg = p;
    petal_server *s = arg->server;
    petal_exec *exec = arg->exec;
    free(arg);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (s->head == NULL && !s->stopping)
            pthread_cond_wait(&s->wake, &s->lock);
        request *r = s->head;
        if (r == NULL) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        s->head = r->next;
        if (s->head == NULL)
            s->tail = NULL;
        pthread_mutex_unlock(&s->lock);

        job_classify(s, exec, r);
        r->done = 1;
        MHD_resume_connection(r->conn);
    }
    return NULL;
}

/* Queues a classify job; returns 0, or -1 when the server is shutting down. The connection
 * is suspended first so that the worker's resume can never come before it. */
static int enqueue(petal_server *s, request *r)
{
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    MHD_suspend_connection(r->conn);
    r->next = NULL;
    if (s->tail)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* ---- HTTP (daemon thread) ----------------------------------------------------------------- */

/* Queues a response; text is copied unless it is static (the page). */
static enum MHD_Result respond(request *r, unsigned status, const char *content_type,
                               const char *text, int is_static)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(text), (void *)text, is_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
                                r->route == ROUTE_CLASSIFY ? "POST" : "GET, HEAD");
    if (r->route == ROUTE_PAGE)
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; img-src blob: data:; "
                                "style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                                "connect-src 'self'; form-action 'none'; base-uri 'none'");
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->logged_status = status;
    return ret;
}

static enum MHD_Result respond_json(request *r, unsigned status, const char *json)
{
    return respond(r, status, "application/json", json, 0);
}

static enum MHD_Result respond_error(request *r, unsigned status, const char *message)
{
    char *json = json_error(message);
    snprintf(r->error, sizeof r->error, "%s", message);
    enum MHD_Result ret = respond_json(r, status, json ? json : "{\"error\":\"out of memory\"}");
    free(json);
    return ret;
}

static int is_get(const char *method)
{
    return !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
}

/* First call for a request: picks the route and answers what needs no body. */
static enum MHD_Result begin_request(petal_server *s, request *r, const char *url,
                                     const char *method)
{
    if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
        r->route = ROUTE_PAGE;
    else if (!strcmp(url, "/v1/labels"))
        r->route = ROUTE_LABELS;
    else if (!strcmp(url, "/healthz"))
        r->route = ROUTE_HEALTH;
    else if (!strcmp(url, "/v1/classify"))
        r->route = ROUTE_CLASSIFY;
    else
        return respond_error(r, MHD_HTTP_NOT_FOUND, "no such path (try POST /v1/classify)");

    if (r->route != ROUTE_CLASSIFY) {
        if (!is_get(method))
            return respond_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET");
        if (r->route == ROUTE_PAGE)
            return respond(r, MHD_HTTP_OK, "text/html; charset=utf-8", petal_serve_page_html, 1);
        if (r->route == ROUTE_LABELS)
            return respond(r, MHD_HTTP_OK, "application/json", s->labels_json, 1);
        return respond(r, MHD_HTTP_OK, "application/json", s->health_json, 1);
    }

    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return respond_error(r, MHD_HTTP_METHOD_NOT_ALLOWED,
                             "method not allowed: POST the image to /v1/classify");
    const char *k = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "top_k");
    if (k != NULL && (r->top_k = parse_top_k(k, strlen(k))) == 0)
        return respond_error(r, MHD_HTTP_BAD_REQUEST, "top_k must be a number from 1 to 1000");
    const char *length =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long announced = length ? strtoull(length, NULL, 10) : 0;
    if (announced > s->opts.max_body) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body of %s bytes is over the limit of %zu (--max_body)",
                 length, s->opts.max_body);
        return respond_error(r, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    r->announced = (size_t)announced;
    const char *type =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (type != NULL && (r->content_type = strdup(type)) == NULL)
        return MHD_NO;
    r->route = ROUTE_CLASSIFY;
    return MHD_YES;
}

/* Appends a chunk of the body, or drops the whole body once it is over the limit. */
static int append_body(petal_server *s, request *r, const char *data, size_t n)
{
    if (r->too_large)
        return 0;
    if (n > s->opts.max_body - r->len) {
        r->too_large = 1;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return 0;
    }
    if (r->len + n > r->cap) {
        /* One allocation when the length was announced; doubling otherwise. */
        size_t cap = r->cap ? r->cap : r->announced > 0 ? r->announced : 64 * 1024;
        while (cap < r->len + n)
            cap *= 2;
        if (cap > s->opts.max_body)
            cap = s->opts.max_body;
        uint8_t *grown = realloc(r->body, cap);
        if (grown == NULL)
            return -1;
        r->body = grown;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **state)
{
    petal_server *s = cls;
    request *r = *state;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return MHD_NO;
        r->server = s;
        r->conn = conn;
        r->t_start = petal_now_ms();
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->url, sizeof r->url, "%s", url);
        *state = r;
        return begin_request(s, r, url, method);
    }
    if (r->route != ROUTE_CLASSIFY || r->logged_status != 0) {
        *upload_size = 0; /* answered already; the rest of the body is ignored */
        return MHD_YES;
    }
    if (*upload_size > 0) {
        int rc = append_body(s, r, upload_data, *upload_size);
        *upload_size = 0;
        return rc == 0 ? MHD_YES : MHD_NO;
    }
    if (r->done)
        return respond_json(r, r->status, r->answer);
    if (r->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body is over the limit of %zu bytes (--max_body)",
                 s->opts.max_body);
        return respond_error(r, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    if (enqueue(s, r) != 0)
        return respond_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "server is shutting down");
    return MHD_YES;
}

/* Logs the request's one line and frees it. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode why)
{
    request *r = *state;
    if (r == NULL)
        return;
    double ms = petal_now_ms() - r->t_start;
    if (r->logged_status == 0)
        petal_info("%s %s aborted (%s) %.1f ms", r->method, r->url,
                   why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout" : "connection closed",
                   ms);
    else if (r->error[0] != '\0')
        petal_info("%s %s %u %.1f ms: %s", r->method, r->url, r->logged_status, ms, r->error);
    else
        petal_info("%s %s %u %.1f ms", r->method, r->url, r->logged_status, ms);
    free(r->content_type);
    free(r->body);
    free(r->answer);
    free(r);
    *state = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    petal_debug("libmicrohttpd: %s", line);
}

/* ---- Start and stop ------------------------------------------------------------------------ */

/* Opens a listening TCP socket on host:port (port 0 = any free port). */
static petal_status open_listener(petal_server *s, petal_error *err)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->opts.port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(s->host, port, &hints, &res);
    if (rc != 0)
        return petal_error_set(err, PETAL_ERR_NET, "%s:%s: %s", s->host, port, gai_strerror(rc));
    int fd = -1, saved = 0;
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 128) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return petal_error_set(err, PETAL_ERR_NET, "%s:%s: %s", s->host, port, strerror(saved));
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) == 0)
        s->port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                   : ((struct sockaddr_in *)&addr)->sin_port);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->listen_fd = fd;
    return PETAL_OK;
}

static petal_status load_model(petal_server *s, petal_error *err)
{
    petal_status st = petal_model_load(s->opts.graph, &s->model, err);
    if (st != PETAL_OK)
        return st;
    s->model_name = strdup(petal_path_basename(s->opts.graph));
    if (s->model_name == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");

    int cores = s->opts.threads > 0 ? s->opts.threads : petal_cpu_count();
    s->n_workers = s->opts.workers > 0 ? s->opts.workers : cores;
    s->threads_per_worker = cores / s->n_workers > 0 ? cores / s->n_workers : 1;
    petal_exec_options eo = petal_exec_defaults();
    eo.backend = s->opts.backend;
    eo.threads = s->threads_per_worker;
    if (s->opts.output_layer != NULL) {
        eo.output = petal_model_find_tensor(s->model, s->opts.output_layer);
        if (eo.output < 0)
            return petal_error_set(err, PETAL_ERR_NOT_FOUND, "%s: no tensor named '%s'",
                                   s->opts.graph, s->opts.output_layer);
    }
    s->execs = calloc((size_t)s->n_workers, sizeof *s->execs);
    s->threads = calloc((size_t)s->n_workers, sizeof *s->threads);
    if (s->execs == NULL || s->threads == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->n_workers; i++) {
        st = petal_exec_create(s->model, &eo, &s->execs[i], err);
        if (st != PETAL_OK)
            return st;
    }
    int channels;
    petal_exec_input_size(s->execs[0], &s->in_height, &s->in_width, &channels);
    if (channels != 3 || s->in_width <= 0 || s->in_height <= 0)
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED,
                               "%s: input is %dx%dx%d, not an RGB image", s->opts.graph,
                               s->in_height, s->in_width, channels);

    int out_index = eo.output >= 0 ? eo.output : s->model->outputs[0];
    size_t n_out = petal_tensor_elements(&s->model->tensors[out_index]);
    if (n_out != (size_t)s->n_labels)
        return petal_error_set(err, PETAL_ERR_ARG,
                               "%s has %d labels but %s gives %zu scores per image", s->opts.labels,
                               s->n_labels, s->opts.graph, n_out);
    return PETAL_OK;
}

static petal_status start_workers(petal_server *s, petal_error *err)
{
    for (int i = 0; i < s->n_workers; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (arg == NULL)
            return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
        arg->server = s;
        arg->exec = s->execs[i];
        if (pthread_create(&s->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
            return petal_error_set(err, PETAL_ERR_INTERNAL, "cannot start worker thread %d", i);
        }
        s->n_started++;
    }
    return PETAL_OK;
}

static petal_status start_daemon(petal_server *s, petal_error *err)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET,
                                 s->listen_fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->opts.timeout_s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->opts.max_connections,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_END);
    if (s->daemon == NULL)
        return petal_error_set(err, PETAL_ERR_INTERNAL, "%s:%d: cannot start the HTTP daemon",
                               s->host, s->port);
    return PETAL_OK;
}

petal_status petal_server_start(const petal_serve_options *opts, petal_server **out,
                                petal_error *err)
{
    *out = NULL;
    if (opts->graph == NULL || opts->labels == NULL)
        return petal_error_set(err, PETAL_ERR_ARG, "serve needs a model (--graph) and labels");
    if (opts->max_body == 0 || opts->top_k < 1 || opts->top_k > MAX_TOP_K || opts->timeout_s < 0 ||
        opts->max_connections < 1 || opts->port < 0 || opts->port > 65535)
        return petal_error_set(err, PETAL_ERR_ARG, "serve: invalid options");
    petal_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    s->opts = *opts;
    s->listen_fd = -1;
    s->host = strdup(opts->host ? opts->host : "127.0.0.1");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    s->opts.host = s->host;

    petal_status st = s->host ? PETAL_OK : petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    if (st == PETAL_OK)
        st = load_labels(s, opts->labels, err);
    if (st == PETAL_OK)
        st = load_model(s, err);
    if (st == PETAL_OK)
        st = make_static_answers(s, err);
    if (st == PETAL_OK)
        st = open_listener(s, err);
    if (st == PETAL_OK)
        st = start_workers(s, err);
    if (st == PETAL_OK)
        st = start_daemon(s, err);
    if (st != PETAL_OK) {
        petal_server_stop(s);
        return st;
    }
    petal_info("model %s: %d labels, backend %s, listening on %s:%d, %d worker%s x %d thread%s",
               s->model_name, s->n_labels, petal_backend_name(petal_exec_backend(s->execs[0])),
               s->host, s->port, s->n_workers, s->n_workers == 1 ? "" : "s", s->threads_per_worker,
               s->threads_per_worker == 1 ? "" : "s");
    *out = s;
    return PETAL_OK;
}

int petal_server_port(const petal_server *server)
{
    return server->port;
}

void petal_server_stop(petal_server *s)
{
    if (s == NULL)
        return;
    /* No new connections; queued jobs still get their answers. */
    if (s->daemon != NULL) {
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
        s->listen_fd = -1;
    }
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->n_started; i++)
        pthread_join(s->threads[i], NULL);
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    if (s->listen_fd >= 0)
        close(s->listen_fd);

    for (int i = 0; s->execs && i < s->n_workers; i++)
        petal_exec_free(s->execs[i]);
    free(s->execs);
    free(s->threads);
    petal_model_free(s->model);
    for (int i = 0; i < s->n_labels; i++)
        free(s->labels[i]);
    free(s->labels);
    free(s->labels_json);
    free(s->health_json);
    free(s->model_name);
    free(s->host);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s);
}
