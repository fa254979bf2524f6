/* test_serve.c - `petal serve` end to end in one process: the server on a free loopback port,
 * the shared photos classified through the API and compared with the executor run directly,
 * every kind of bad request, a bounded load of 16 concurrent clients with memory watched,
 * and shutdown with requests in flight. */
#include "common/testutil.h"
#include "image/image.h"
#include "nn/exec.h"
#include "nn/model.h"
#include "serve/serve.h"
#include "util/fs.h"
#include "util/timer.h"

#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include <cjson/cJSON.h>

#include "http_client.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define BIG_MODEL  "mobilenet_v2_1.0_224_quant.tflite"
#define TINY_MODEL "mobilenet_v1_0.25_128_quant.tflite"
#define LABELS     "imagenet_labels.txt"

static const char *const photo_names[] = {"grace_hopper.bmp", "cat.bmp",       "parrot.jpg",
                                          "bird.bmp",         "sunflower.bmp", "owl.jpg"};
#define N_PHOTOS 6

typedef struct photo {
    uint8_t *bytes;
    size_t len;
    float *scores; /* direct executor output */
    size_t n_scores;
    int top1;
} photo;

typedef struct fixture {
    petal_model *model;
    char **labels;
    int n_labels;
    photo photos[N_PHOTOS];
    petal_server *server;
    int port;
    char *model_path, *labels_path;
} fixture;

/* ---- Reference results: the executor run directly on the same photo ----------------------- */

static void direct_classify(const petal_model *model, photo *p, const char *name)
{
    petal_exec_options eo = petal_exec_defaults();
    eo.threads = 1;
    petal_exec *exec;
    petal_error err;
    assert_int_equal(petal_exec_create(model, &eo, &exec, &err), PETAL_OK);
    int h, w, c;
    petal_exec_input_size(exec, &h, &w, &c);
    petal_decode_options dopts = {.target_width = w, .target_height = h};
    petal_image img, small;
    assert_int_equal(petal_image_decode(p->bytes, p->len, name, &dopts, &img, &err), PETAL_OK);
    assert_int_equal(petal_image_resize(&img, w, h, &small, &err), PETAL_OK);
    assert_int_equal(petal_exec_set_input_rgb(exec, small.pixels, 127.5f, 127.5f, &err), PETAL_OK);
    assert_int_equal(petal_exec_run(exec, &err), PETAL_OK);
    const float *out = petal_exec_output(exec, &p->n_scores);
    p->scores = malloc(p->n_scores * sizeof *p->scores);
    memcpy(p->scores, out, p->n_scores * sizeof *out);
    p->top1 = 0;
    for (size_t i = 1; i < p->n_scores; i++)
        if (out[i] > out[p->top1])
            p->top1 = (int)i;
    petal_image_free(&img);
    petal_image_free(&small);
    petal_exec_free(exec);
}

static void load_labels(fixture *f, const char *path)
{
    uint8_t *text;
    size_t len;
    petal_error err;
    assert_int_equal(petal_read_file(path, 0, &text, &len, &err), PETAL_OK);
    f->labels = calloc(len + 1, sizeof *f->labels);
    char *save = NULL;
    for (char *line = strtok_r((char *)text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        f->labels[f->n_labels++] = strdup(line);
    free(text);
}

/* Loads the model, labels and photos, computes the direct results and starts a server. */
static void fixture_start(fixture *f, const char *model_path, const char *labels_path,
                          petal_serve_options *o)
{
    petal_error err;
    memset(f, 0, sizeof *f);
    /* petal_test_model_path reuses its buffers: keep copies. */
    f->model_path = strdup(model_path);
    f->labels_path = strdup(labels_path);
    assert_int_equal(petal_model_load(f->model_path, &f->model, &err), PETAL_OK);
    load_labels(f, f->labels_path);
    for (int i = 0; i < N_PHOTOS; i++) {
        const char *path = petal_test_model_path(photo_names[i]);
        assert_non_null(path);
        assert_int_equal(petal_read_file(path, 0, &f->photos[i].bytes, &f->photos[i].len, &err),
                         PETAL_OK);
        direct_classify(f->model, &f->photos[i], photo_names[i]);
    }
    o->graph = f->model_path;
    o->labels = f->labels_path;
    o->port = 0;
    if (petal_server_start(o, &f->server, &err) != PETAL_OK)
        fail_msg("server did not start: %s", err.msg);
    f->port = petal_server_port(f->server);
    assert_true(f->port > 0);
}

static void fixture_stop(fixture *f)
{
    petal_server_stop(f->server);
    for (int i = 0; i < N_PHOTOS; i++) {
        free(f->photos[i].bytes);
        free(f->photos[i].scores);
    }
    for (int i = 0; i < f->n_labels; i++)
        free(f->labels[i]);
    free(f->labels);
    petal_model_free(f->model);
    free(f->model_path);
    free(f->labels_path);
}

/* ---- Checking answers ------------------------------------------------------------------------ */

/* 0 if the answer lists the photo's top-k in order with scores within 1e-4 of the direct run
 * and the top-1 label is the same; otherwise -1 with why filled in. */
static int check_answer(const fixture *f, const photo *p, const char *json, int k, char *why,
                        size_t why_len)
{
    cJSON *root = cJSON_Parse(json);
    cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "predictions");
    int rc = -1;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != k ||
        !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "ms"))) {
        snprintf(why, why_len, "malformed answer: %.200s", json);
        goto done;
    }
    float prev = INFINITY;
    for (int j = 0; j < k; j++) {
        cJSON *item = cJSON_GetArrayItem(list, j);
        cJSON *label = cJSON_GetObjectItemCaseSensitive(item, "label");
        cJSON *score = cJSON_GetObjectItemCaseSensitive(item, "score");
        if (!cJSON_IsString(label) || !cJSON_IsNumber(score)) {
            snprintf(why, why_len, "prediction %d malformed", j);
            goto done;
        }
        float s = (float)score->valuedouble;
        if (s > prev + 1e-6f) {
            snprintf(why, why_len, "predictions not sorted at %d", j);
            goto done;
        }
        prev = s;
        if (j == 0 && strcmp(label->valuestring, f->labels[p->top1]) != 0) {
            snprintf(why, why_len, "top-1 %s, direct run says %s", label->valuestring,
                     f->labels[p->top1]);
            goto done;
        }
        int match = 0;
        for (size_t i = 0; i < p->n_scores && !match; i++)
            match = !strcmp(f->labels[i], label->valuestring) && fabsf(p->scores[i] - s) <= 1e-4f;
        if (!match) {
            snprintf(why, why_len, "%s scored %g, not as in the direct run", label->valuestring, s);
            goto done;
        }
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

/* Asserts a 4xx/5xx answer with status `want` and a JSON {"error": "..."} containing text. */
static void expect_error(const http_reply *r, int want, const char *text)
{
    if (r->status != want)
        fail_msg("status %d, wanted %d: %s", r->status, want, r->body ? r->body : "");
    cJSON *root = cJSON_Parse(r->body);
    cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    assert_true(cJSON_IsString(e));
    if (text && !strstr(e->valuestring, text))
        fail_msg("error '%s' does not mention '%s'", e->valuestring, text);
    assert_non_null(strstr(r->headers, "application/json"));
    cJSON_Delete(root);
}

static char *multipart(const char *boundary, const char *field, const uint8_t *data, size_t len,
                       size_t *out_len)
{
    char head[512], tail[128];
    int h = snprintf(head, sizeof head,
                     "--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                     "--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                     "filename=\"photo\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                     boundary, boundary, field);
    int t = snprintf(tail, sizeof tail, "\r\n--%s--\r\n", boundary);
    char *body = malloc((size_t)h + len + (size_t)t);
    memcpy(body, head, (size_t)h);
    memcpy(body + h, data, len);
    memcpy(body + (size_t)h + len, tail, (size_t)t);
    *out_len = (size_t)h + len + (size_t)t;
    return body;
}

/* ---- The shared photos through the API ----------------------------------------------------------
 */

static void test_classify_matches_executor(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(model, BIG_MODEL);
    PETAL_REQUIRE_MODEL(labels, LABELS);
    PETAL_REQUIRE_MODEL(first_photo, "grace_hopper.bmp");
    fixture f;
    petal_serve_options o = petal_serve_defaults();
    fixture_start(&f, model, labels, &o);
    http_conn c = {.port = f.port, .fd = -1};
    http_reply r;
    char why[512];

    for (int i = 0; i < N_PHOTOS; i++) {
        photo *p = &f.photos[i];
        /* The raw body, as `curl --data-binary @photo`. */
        assert_int_equal(http_request(&c, "POST", "/v1/classify",
                                      "Content-Type: application/x-www-form-urlencoded\r\n",
                                      p->bytes, p->len, 0, &r),
                         0);
        assert_int_equal(r.status, 200);
        if (check_answer(&f, p, r.body, 5, why, sizeof why) != 0)
            fail_msg("%s (raw body): %s", photo_names[i], why);
        print_message("%s: %s\n", photo_names[i], r.body);
        http_reply_free(&r);

        /* multipart/form-data, as a browser form, with ?top_k=3. */
        size_t len;
        char *body = multipart("b0undary", "image", p->bytes, p->len, &len);
        assert_int_equal(http_request(&c, "POST", "/v1/classify?top_k=3",
                                      "Content-Type: multipart/form-data; boundary=b0undary\r\n",
                                      body, len, 0, &r),
                         0);
        assert_int_equal(r.status, 200);
        if (check_answer(&f, p, r.body, 3, why, sizeof why) != 0)
            fail_msg("%s (multipart): %s", photo_names[i], why);
        http_reply_free(&r);
        free(body);
    }

    /* Chunked upload, no Content-Length. */
    assert_int_equal(http_request(&c, "POST", "/v1/classify?top_k=1", NULL, f.photos[2].bytes,
                                  f.photos[2].len, 1, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_int_equal(check_answer(&f, &f.photos[2], r.body, 1, why, sizeof why), 0);
    http_reply_free(&r);

    /* The other routes. */
    assert_int_equal(http_request(&c, "GET", "/v1/labels", NULL, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 200);
    cJSON *root = cJSON_Parse(r.body);
    cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "labels");
    assert_int_equal(cJSON_GetArraySize(list), 1001);
    assert_string_equal(cJSON_GetArrayItem(list, 653)->valuestring, f.labels[653]);
    cJSON_Delete(root);
    http_reply_free(&r);

    assert_int_equal(http_request(&c, "GET", "/healthz", NULL, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 200);
    root = cJSON_Parse(r.body);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "status")->valuestring, "ok");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "model")->valuestring, BIG_MODEL);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(root, "labels")->valueint, 1001);
    cJSON_Delete(root);
    http_reply_free(&r);

    assert_int_equal(http_request(&c, "GET", "/", NULL, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "text/html"));
    assert_non_null(strstr(r.body, "<input type=\"file\""));
    assert_non_null(strstr(r.body, "capture"));
    assert_non_null(strstr(r.body, "aria-live"));
    assert_null(strstr(r.body, "http://"));
    assert_null(strstr(r.body, "https://"));
    http_reply_free(&r);

    http_close(&c);
    fixture_stop(&f);
}

/* ---- Bad input: the right 4xx, a JSON error, and the server keeps serving -------------------- */

static void test_bad_requests(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(model, TINY_MODEL);
    PETAL_REQUIRE_MODEL(labels, LABELS);
    PETAL_REQUIRE_MODEL(first_photo, "grace_hopper.bmp");
    fixture f;
    petal_serve_options o = petal_serve_defaults();
    o.max_body = 600 * 1000; /* grace_hopper.bmp is 920 KB */
    o.max_pixels = 200000;   /* owl.jpg (512x384) passes, parrot.jpg (512x929) does not */
    fixture_start(&f, model, labels, &o);
    http_conn c = {.port = f.port, .fd = -1};
    http_reply r;
    const photo *jpeg = &f.photos[5]; /* owl.jpg */
    const photo *big = &f.photos[0];  /* grace_hopper.bmp */

    /* Not an image. */
    assert_int_equal(http_request(&c, "POST", "/v1/classify", NULL, "hello world", 11, 0, &r), 0);
    expect_error(&r, 415, "not a JPEG");
    http_reply_free(&r);
    /* Empty body. */
    assert_int_equal(http_request(&c, "POST", "/v1/classify", NULL, "", 0, 0, &r), 0);
    expect_error(&r, 400, "empty");
    http_reply_free(&r);
    /* Truncated JPEG and corrupt JPEG (valid header, garbage after). */
    assert_int_equal(http_request(&c, "POST", "/v1/classify", NULL, jpeg->bytes, 600, 0, &r), 0);
    expect_error(&r, 400, "upload");
    http_reply_free(&r);
    uint8_t *corrupt = malloc(jpeg->len);
    memcpy(corrupt, jpeg->bytes, jpeg->len);
    for (size_t i = 200; i < jpeg->len; i++)
        corrupt[i] = (uint8_t)(i * 7919);
    assert_int_equal(http_request(&c, "POST", "/v1/classify", NULL, corrupt, jpeg->len, 0, &r), 0);
    assert_true(r.status == 400 || r.status == 200); /* libjpeg may recover from garbage */
    http_reply_free(&r);
    free(corrupt);

    /* Too large: announced (rejected before upload), and chunked (counted while read). */
    assert_int_equal(http_request_expect(&c, "/v1/classify", NULL, big->bytes, big->len, &r), 0);
    expect_error(&r, 413, "--max_body");
    http_reply_free(&r);
    http_close(&c);
    assert_int_equal(http_request(&c, "POST", "/v1/classify", NULL, big->bytes, big->len, 1, &r),
                     0);
    expect_error(&r, 413, "--max_body");
    http_reply_free(&r);
    /* Too many pixels: a small file that decodes to more than --max_pixels. */
    assert_int_equal(
        http_request(&c, "POST", "/v1/classify", NULL, f.photos[2].bytes, f.photos[2].len, 0, &r),
        0);
    expect_error(&r, 413, "pixels");
    http_reply_free(&r);

    /* Wrong method, unknown path. */
    assert_int_equal(http_request(&c, "GET", "/v1/classify", NULL, NULL, 0, 0, &r), 0);
    expect_error(&r, 405, "POST");
    assert_non_null(strstr(r.headers, "Allow: POST"));
    http_reply_free(&r);
    assert_int_equal(http_request(&c, "DELETE", "/healthz", NULL, NULL, 0, 0, &r), 0);
    expect_error(&r, 405, NULL);
    http_reply_free(&r);
    assert_int_equal(http_request(&c, "POST", "/", NULL, "x", 1, 0, &r), 0);
    expect_error(&r, 405, NULL);
    http_reply_free(&r);
    assert_int_equal(http_request(&c, "GET", "/v2/nothing", NULL, NULL, 0, 0, &r), 0);
    expect_error(&r, 404, NULL);
    http_reply_free(&r);

    /* Bad top_k. */
    static const char *const bad_k[] = {"/v1/classify?top_k=0", "/v1/classify?top_k=abc",
                                        "/v1/classify?top_k=5000", "/v1/classify?top_k="};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(http_request(&c, "POST", bad_k[i], NULL, jpeg->bytes, jpeg->len, 0, &r),
                         0);
        expect_error(&r, 400, "top_k");
        http_reply_free(&r);
        http_close(&c);
    }

    /* Bad multipart: no boundary, field missing, part never closed, no opening boundary. */
    size_t len;
    char *body = multipart("XX", "image", jpeg->bytes, jpeg->len, &len);
    assert_int_equal(http_request(&c, "POST", "/v1/classify",
                                  "Content-Type: multipart/form-data\r\n", body, len, 0, &r),
                     0);
    expect_error(&r, 400, "boundary");
    http_reply_free(&r);
    free(body);
    body = multipart("XX", "picture", jpeg->bytes, jpeg->len, &len);
    assert_int_equal(http_request(&c, "POST", "/v1/classify",
                                  "Content-Type: multipart/form-data; boundary=XX\r\n", body, len,
                                  0, &r),
                     0);
    expect_error(&r, 400, "no field 'image'");
    http_reply_free(&r);
    assert_int_equal(http_request(&c, "POST", "/v1/classify",
                                  "Content-Type: multipart/form-data; boundary=XX\r\n", body,
                                  len - 8, 0, &r),
                     0);
    expect_error(&r, 400, "multipart");
    http_reply_free(&r);
    assert_int_equal(http_request(&c, "POST", "/v1/classify",
                                  "Content-Type: multipart/form-data; boundary=YY\r\n", body, len,
                                  0, &r),
                     0);
    expect_error(&r, 400, "no opening boundary");
    http_reply_free(&r);
    free(body);
    /* A multipart field that is not an image. */
    body = multipart("XX", "image", (const uint8_t *)"GIF89a", 6, &len);
    assert_int_equal(http_request(&c, "POST", "/v1/classify",
                                  "Content-Type: multipart/form-data; boundary=XX\r\n", body, len,
                                  0, &r),
                     0);
    assert_int_equal(r.status, 400);
    http_reply_free(&r);
    free(body);

    /* A top_k form field works like ?top_k=; a bad one is refused. */
    for (int bad = 0; bad < 2; bad++) {
        char head[256];
        int h = snprintf(head, sizeof head,
                         "--XX\r\nContent-Disposition: form-data; name=\"top_k\"\r\n\r\n%s\r\n"
                         "--XX\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n",
                         bad ? "two" : "2");
        size_t form_len = (size_t)h + jpeg->len + 10;
        char *form = malloc(form_len);
        memcpy(form, head, (size_t)h);
        memcpy(form + h, jpeg->bytes, jpeg->len);
        memcpy(form + (size_t)h + jpeg->len, "\r\n--XX--\r\n", 10);
        assert_int_equal(http_request(&c, "POST", "/v1/classify",
                                      "Content-Type: multipart/form-data; boundary=XX\r\n", form,
                                      form_len, 0, &r),
                         0);
        if (bad) {
            expect_error(&r, 400, "top_k");
        } else {
            char why[512];
            assert_int_equal(r.status, 200);
            if (check_answer(&f, jpeg, r.body, 2, why, sizeof why) != 0)
                fail_msg("top_k field: %s", why);
        }
        http_reply_free(&r);
        free(form);
    }

    /* Still serving. */
    assert_int_equal(http_request(&c, "POST", "/v1/classify", NULL, jpeg->bytes, jpeg->len, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    char why[512];
    if (check_answer(&f, jpeg, r.body, 5, why, sizeof why) != 0)
        fail_msg("after bad input: %s", why);
    http_reply_free(&r);
    http_close(&c);
    fixture_stop(&f);
}

/* ---- Bounded load: 16 clients, every answer checked, memory flat ----------------------------- */

typedef struct load {
    const fixture *f;
    int per_client;
    atomic_int ok, wrong, failed;
    char first_problem[512];
    pthread_mutex_t lock;
} load;

typedef struct client_arg {
    load *load;
    int id;
    int requests;
} client_arg;

static void *client_main(void *p)
{
    client_arg *a = p;
    load *l = a->load;
    http_conn c = {.port = l->f->port, .fd = -1};
    for (int i = 0; i < a->requests; i++) {
        /* parrot.jpg (index 2) takes ten times longer to decode than the others: left out
         * to keep the test short. */
        int k = (a->id + i) % (N_PHOTOS - 1);
        const photo *ph = &l->f->photos[k < 2 ? k : k + 1];
        http_reply r;
        char why[512] = "";
        if (http_request(&c, "POST", "/v1/classify", NULL, ph->bytes, ph->len, 0, &r) != 0) {
            atomic_fetch_add(&l->failed, 1);
            snprintf(why, sizeof why, "client %d request %d: no answer", a->id, i);
        } else if (r.status != 200 || check_answer(l->f, ph, r.body, 5, why, sizeof why) != 0) {
            atomic_fetch_add(&l->wrong, 1);
            if (why[0] == '\0')
                snprintf(why, sizeof why, "status %d: %.200s", r.status, r.body);
        } else {
            atomic_fetch_add(&l->ok, 1);
        }
        if (why[0] != '\0') {
            pthread_mutex_lock(&l->lock);
            if (l->first_problem[0] == '\0')
                snprintf(l->first_problem, sizeof l->first_problem, "%s", why);
            pthread_mutex_unlock(&l->lock);
        }
        http_reply_free(&r);
    }
    http_close(&c);
    return NULL;
}

/* Runs n requests from `clients` concurrent keep-alive clients. */
static void run_load(load *l, int clients, int n)
{
    pthread_t threads[16];
    client_arg args[16];
    for (int i = 0; i < clients; i++) {
        args[i] = (client_arg){l, i, n / clients + (i < n % clients)};
        assert_int_equal(pthread_create(&threads[i], NULL, client_main, &args[i]), 0);
    }
    for (int i = 0; i < clients; i++)
        pthread_join(threads[i], NULL);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

/* Bytes malloc has handed out and not had back, over all arenas (exact, unlike RSS, which
 * also counts memory malloc keeps cached after a free). */
static long heap_in_use_kb(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (long)((mi.uordblks + mi.hblkhd) / 1024);
}

/* Lets the server finish closing the clients' connections before memory is measured. */
static void settle(void)
{
    usleep(300 * 1000);
}

static void test_load(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(model, TINY_MODEL);
    PETAL_REQUIRE_MODEL(labels, LABELS);
    PETAL_REQUIRE_MODEL(first_photo, "grace_hopper.bmp");
    fixture f;
    petal_serve_options o = petal_serve_defaults();
    fixture_start(&f, model, labels, &o);
    load l = {.f = &f};
    pthread_mutex_init(&l.lock, NULL);
    int warmup = UNDER_ASAN ? 32 : 320, half = UNDER_ASAN ? 80 : 1000;

    /* Warm up (arenas, executor buffers), then two equal rounds: memory must stay put. */
    run_load(&l, 16, warmup);
    settle();
    long before = rss_kb(), heap_before = heap_in_use_kb();
    double t0 = petal_now_ms();
    run_load(&l, 16, half);
    settle();
    long middle = rss_kb(), heap_middle = heap_in_use_kb();
    run_load(&l, 16, half);
    double ms = petal_now_ms() - t0;
    settle();
    long after = rss_kb(), heap_after = heap_in_use_kb();
    print_message("load: %d requests from 16 clients in %.0f ms (%.0f/s); RSS %ld -> %ld -> %ld "
                  "KB; heap in use %ld -> %ld -> %ld KB\n",
                  2 * half, ms, 2 * half * 1000.0 / ms, before, middle, after, heap_before,
                  heap_middle, heap_after);
    if (l.first_problem[0] != '\0')
        print_message("first problem: %s\n", l.first_problem);
    assert_int_equal(atomic_load(&l.failed), 0);
    assert_int_equal(atomic_load(&l.wrong), 0);
    assert_int_equal(atomic_load(&l.ok), warmup + 2 * half);
    /* Flat memory. RSS: a leaked body (0.15-0.9 MB each) would add hundreds of MB per round;
     * the margin covers malloc keeping freed memory cached in its per-thread arenas. The heap
     * in use is exact: one leaked answer per request (~0.4 KB) would add 400 KB a round.
     * (Under ASan, freed memory sits in quarantine and malloc is ASan's; leaks are
     * LeakSanitizer's job there.) */
    if (!UNDER_ASAN && after - before > 32 * 1024)
        fail_msg("RSS grew from %ld KB to %ld KB to %ld KB", before, middle, after);
    if (!UNDER_ASAN && (heap_after - heap_middle > 128 || heap_middle - heap_before > 128))
        fail_msg("heap in use grew from %ld KB to %ld KB to %ld KB", heap_before, heap_middle,
                 heap_after);
    pthread_mutex_destroy(&l.lock);
    fixture_stop(&f);
}

/* ---- Idle and stalled connections are closed after --timeout --------------------------------- */

/* Seconds until the server closes a connection that sent `partial` and then went quiet. */
static double seconds_until_closed(int port, const char *partial)
{
    http_conn c = {.port = port, .fd = -1};
    assert_int_equal(http_connect(&c), 0);
    assert_int_equal(http_send_all(c.fd, partial, strlen(partial)), 0);
    double t0 = petal_now_ms();
    char byte;
    ssize_t n;
    do
        n = recv(c.fd, &byte, 1, 0);
    while (n > 0);
    http_close(&c);
    return (petal_now_ms() - t0) / 1000;
}

static void test_timeouts(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(model, TINY_MODEL);
    PETAL_REQUIRE_MODEL(labels, LABELS);
    PETAL_REQUIRE_MODEL(first_photo, "grace_hopper.bmp");
    fixture f;
    petal_serve_options o = petal_serve_defaults();
    o.timeout_s = 1;
    fixture_start(&f, model, labels, &o);
    double idle = seconds_until_closed(f.port, "");
    double headers = seconds_until_closed(f.port, "POST /v1/classify HTTP/1.1\r\nHost: x\r\n");
    double body = seconds_until_closed(f.port, "POST /v1/classify HTTP/1.1\r\nHost: x\r\n"
                                               "Content-Length: 1000\r\n\r\n\xff\xd8");
    print_message("closed after %.1f s idle, %.1f s in headers, %.1f s in the body\n", idle,
                  headers, body);
    assert_true(idle > 0.5 && idle < 10);
    assert_true(headers > 0.5 && headers < 10);
    assert_true(body > 0.5 && body < 10);

    http_conn c = {.port = f.port, .fd = -1};
    http_reply r;
    assert_int_equal(
        http_request(&c, "POST", "/v1/classify", NULL, f.photos[5].bytes, f.photos[5].len, 0, &r),
        0);
    assert_int_equal(r.status, 200);
    http_reply_free(&r);
    http_close(&c);
    fixture_stop(&f);
}

/* ---- Shutdown with requests in flight, start errors -------------------------------------------
 */

typedef struct hammer {
    int port;
    const photo *p;
    atomic_int stop, answered;
} hammer;

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    http_conn c = {.port = h->port, .fd = -1};
    while (!atomic_load(&h->stop)) {
        http_reply r;
        if (http_request(&c, "POST", "/v1/classify", NULL, h->p->bytes, h->p->len, 0, &r) != 0) {
            http_reply_free(&r);
            if (http_connect(&c) != 0)
                break; /* the server is gone */
            continue;
        }
        if (r.status == 200 || r.status == 503)
            atomic_fetch_add(&h->answered, 1);
        http_reply_free(&r);
    }
    http_close(&c);
    return NULL;
}

static void test_stop_under_load(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(model, TINY_MODEL);
    PETAL_REQUIRE_MODEL(labels, LABELS);
    PETAL_REQUIRE_MODEL(first_photo, "grace_hopper.bmp");
    char *model_copy = strdup(model), *labels_copy = strdup(labels);
    fixture f;
    petal_serve_options o = petal_serve_defaults();
    fixture_start(&f, model, labels, &o);
    hammer h = {.port = f.port, .p = &f.photos[1]};
    pthread_t threads[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, hammer_main, &h), 0);
    for (int waited = 0; atomic_load(&h.answered) < 20; waited++) {
        if (waited > 60000)
            fail_msg("no answers under load within 60 s");
        usleep(1000);
    }
    petal_server_stop(f.server); /* must not hang or crash with requests queued */
    f.server = NULL;
    atomic_store(&h.stop, 1);
    for (int i = 0; i < 8; i++)
        pthread_join(threads[i], NULL);
    fixture_stop(&f);

    /* Start errors name what failed. */
    petal_serve_options bad = petal_serve_defaults();
    petal_server *s;
    petal_error err;
    bad.graph = "/nonexistent/model.tflite";
    bad.labels = labels_copy;
    assert_int_not_equal(petal_server_start(&bad, &s, &err), PETAL_OK);
    assert_null(s);
    assert_non_null(strstr(err.msg, "/nonexistent/model.tflite"));
    bad.graph = model_copy;
    bad.labels = "/nonexistent/labels.txt";
    assert_int_not_equal(petal_server_start(&bad, &s, &err), PETAL_OK);
    assert_non_null(strstr(err.msg, "/nonexistent/labels.txt"));
    bad.labels = labels_copy;
    bad.host = "256.1.1.1";
    assert_int_not_equal(petal_server_start(&bad, &s, &err), PETAL_OK);
    assert_non_null(strstr(err.msg, "256.1.1.1"));
    /* A label file that does not match the model's outputs. */
    char *dir = petal_test_tmpdir("serve-labels");
    char *short_labels = petal_path_join(dir, "labels.txt");
    petal_test_write(short_labels, "a\nb\n", 4);
    bad.host = "127.0.0.1";
    bad.labels = short_labels;
    assert_int_equal(petal_server_start(&bad, &s, &err), PETAL_ERR_ARG);
    assert_non_null(strstr(err.msg, "2 labels"));
    petal_test_rmtree(dir);
    free(short_labels);
    free(dir);
    free(model_copy);
    free(labels_copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_matches_executor),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_stop_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
