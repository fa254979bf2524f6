/* bench_serve.c - `petal serve` throughput and latency: requests per second and p50/p99
 * latency at 1, 4 and 16 concurrent keep-alive clients posting the shared photos to
 * /v1/classify, for two ways of splitting the cores (one worker per core with one kernel
 * thread each, and one worker using every core). Server and clients share the machine, as
 * they would on a single host.
 *
 *   build/bench/bench_serve [MODEL] [SECONDS_PER_POINT]
 * MODEL defaults to mobilenet_v2_1.0_224_quant.tflite from $PETAL_MODEL_DIR, ./models or
 * ../shared/models (imagenet_labels.txt and the photos are looked up in the same folder). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"
#include "util/fs.h"
#include "util/timer.h"

#include "../tests/serve/http_client.h"

#define MAX_CLIENTS 16
#define MAX_SAMPLES 200000

static const char *const photo_names[] = {"grace_hopper.bmp", "cat.bmp",       "parrot.jpg",
                                          "bird.bmp",         "sunflower.bmp", "owl.jpg"};
#define N_PHOTOS 6

typedef struct bench {
    int port;
    uint8_t *photos[N_PHOTOS];
    size_t lens[N_PHOTOS];
    double until_ms;
    pthread_mutex_t lock;
    double *latencies;
    int n_latencies;
    int errors;
    double decode_ms, infer_ms; /* sums of the answers' "decode_ms" and "ms" */
} bench;

/* The number after "key": in a JSON answer, or 0. */
static double json_number(const char *json, const char *key)
{
    const char *p = json ? strstr(json, key) : NULL;
    return p ? strtod(p + strlen(key), NULL) : 0;
}

typedef struct client {
    bench *b;
    int id;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    bench *b = c->b;
    http_conn conn = {.port = b->port, .fd = -1};
    for (int i = c->id; petal_now_ms() < b->until_ms; i++) {
        int p = i % N_PHOTOS;
        http_reply r;
        double t0 = petal_now_ms();
        int rc = http_request(&conn, "POST", "/v1/classify", NULL, b->photos[p], b->lens[p], 0, &r);
        double ms = petal_now_ms() - t0;
        pthread_mutex_lock(&b->lock);
        if (rc != 0 || r.status != 200)
            b->errors++;
        else if (b->n_latencies < MAX_SAMPLES) {
            b->latencies[b->n_latencies++] = ms;
            b->decode_ms += json_number(r.body, "\"decode_ms\":");
            b->infer_ms += json_number(r.body, "\"ms\":");
        }
        pthread_mutex_unlock(&b->lock);
        http_reply_free(&r);
    }
    http_close(&conn);
    return NULL;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void run_point(bench *b, int clients, double seconds, int print)
{
    pthread_t threads[MAX_CLIENTS];
    client args[MAX_CLIENTS];
    b->n_latencies = 0;
    b->errors = 0;
    b->decode_ms = b->infer_ms = 0;
    double t0 = petal_now_ms();
    b->until_ms = t0 + seconds * 1000;
    for (int i = 0; i < clients; i++) {
        args[i] = (client){b, i};
        pthread_create(&threads[i], NULL, client_main, &args[i]);
    }
    for (int i = 0; i < clients; i++)
        pthread_join(threads[i], NULL);
    double elapsed = petal_now_ms() - t0;
    qsort(b->latencies, (size_t)b->n_latencies, sizeof *b->latencies, compare_double);
    int n = b->n_latencies;
    double p50 = n ? b->latencies[n / 2] : 0, p99 = n ? b->latencies[(n * 99) / 100] : 0;
    if (!print)
        return;
    printf("  %2d client%s  %7.1f requests/s  p50 %7.1f ms  p99 %7.1f ms  (%d requests%s; "
           "in the server: decode+resize %.1f ms, inference %.1f ms)\n",
           clients, clients == 1 ? " " : "s", n * 1000.0 / elapsed, p50, p99, n,
           b->errors ? ", ERRORS" : "", n ? b->decode_ms / n : 0, n ? b->infer_ms / n : 0);
}

static char *find_asset(const char *name)
{
    const char *env = getenv("PETAL_MODEL_DIR");
    const char *dirs[] = {env ? env : "", "models", "../shared/models"};
    for (int i = 0; i < 3; i++) {
        if (dirs[i][0] == '\0')
            continue;
        char *path = petal_path_join(dirs[i], name);
        if (petal_is_file(path))
            return path;
        free(path);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *model_name = argc > 1 ? argv[1] : "mobilenet_v2_1.0_224_quant.tflite";
    double seconds = argc > 2 ? atof(argv[2]) : 5;
    char *model = petal_is_file(model_name) ? strdup(model_name) : find_asset(model_name);
    char *labels = find_asset("imagenet_labels.txt");
    if (model == NULL || labels == NULL) {
        printf("bench_serve: skipped, %s or imagenet_labels.txt not found "
               "(set PETAL_MODEL_DIR)\n",
               model_name);
        free(model);
        free(labels);
        return 0;
    }
    bench b = {0};
    pthread_mutex_init(&b.lock, NULL);
    b.latencies = malloc(MAX_SAMPLES * sizeof *b.latencies);
    petal_error err;
    for (int i = 0; i < N_PHOTOS; i++) {
        char *path = find_asset(photo_names[i]);
        if (path == NULL || petal_read_file(path, 0, &b.photos[i], &b.lens[i], &err) != PETAL_OK) {
            printf("bench_serve: skipped, photo %s not found\n", photo_names[i]);
            return 0;
        }
        free(path);
    }

    int cores = petal_cpu_count();
    int layouts[2][2] = {{cores, 1}, {1, cores}}; /* workers, threads per worker */
    printf("bench_serve: %s, %d cores, POST /v1/classify with the 6 shared photos "
           "(decode + resize + inference + HTTP), %.0f s per point\n",
           petal_path_basename(model), cores, seconds);
    for (int l = 0; l < (cores > 1 ? 2 : 1); l++) {
        petal_serve_options o = petal_serve_defaults();
        o.graph = model;
        o.labels = labels;
        o.port = 0;
        o.threads = cores;
        o.workers = layouts[l][0];
        petal_server *s;
        if (petal_server_start(&o, &s, &err) != PETAL_OK) {
            fprintf(stderr, "petal: error: %s\n", err.msg);
            return 1;
        }
        b.port = petal_server_port(s);
        printf("%d worker%s x %d thread%s:\n", layouts[l][0], layouts[l][0] == 1 ? "" : "s",
               layouts[l][1], layouts[l][1] == 1 ? "" : "s");
        run_point(&b, 1, seconds / 5, 0); /* warm-up */
        static const int concurrency[] = {1, 4, 16};
        for (int c = 0; c < 3; c++)
            run_point(&b, concurrency[c], seconds, 1);
        petal_server_stop(s);
    }
    for (int i = 0; i < N_PHOTOS; i++)
        free(b.photos[i]);
    free(b.latencies);
    free(model);
    free(labels);
    return 0;
}
