/* bench_infer.c - inference speed of the shared MobileNets on every executor backend:
 * ms/image at 1 thread and at all cores, the GFLOP/s that implies and the speed-up of the
 * oneDNN paths over the plain-C reference executor, all measured in the same run.
 *
 * Convention: GFLOP/s = 2 * MACs / time, 1 multiply-accumulate = 2 floating-point (or
 * integer) operations, MACs of the convolutions, depthwise convolutions and fully connected
 * layers as counted by petal_exec_macs. Times are the median (and the fastest) of
 * PETAL_BENCH_RUNS runs (default 30; the reference gets a tenth of them, at least 3) after
 * warm-up runs, on random input images. PETAL_BENCH_MODEL=text keeps the models whose file
 * name contains text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/exec.h"
#include "nn/model.h"
#include "util/fs.h"
#include "util/timer.h"

static const char *const model_files[] = {
    "mobilenet_v2_1.0_224_quant.tflite",
    "tf2_mobilenet_v2_1.0_224_ptq.tflite",
    "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
    "mobilenet_v1_0.25_128_quant.tflite",
};

/* The first folder of $PETAL_MODEL_DIR, ./models, ../shared/models holding file. */
static const char *find_model(const char *file, char *buf, size_t len)
{
    const char *env = getenv("PETAL_MODEL_DIR");
    const char *dirs[] = {env, "models", "../shared/models"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (dirs[i] == NULL || dirs[i][0] == '\0')
            continue;
        snprintf(buf, len, "%s/%s", dirs[i], file);
        if (access(buf, R_OK) == 0)
            return buf;
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct timing {
    double median, fastest, macs;
    petal_backend backend;
} timing;

/* Times one backend at one thread count; returns 0, or -1 when it cannot run the model. */
static int time_backend(const petal_model *m, petal_backend backend, int threads, int runs,
                        timing *out)
{
    petal_exec_options o = petal_exec_defaults();
    o.backend = backend;
    o.threads = threads;
    petal_exec *e = NULL;
    petal_error err = {0};
    if (petal_exec_create(m, &o, &e, &err) != PETAL_OK) {
        printf("  %-12s threads=%d: not available (%s)\n", petal_backend_name(backend), threads,
               err.msg);
        return -1;
    }
    int h, w, c;
    petal_exec_input_size(e, &h, &w, &c);
    size_t n = (size_t)h * w * c;
    uint8_t *rgb = malloc(n);
    double *t = malloc((size_t)runs * sizeof(double));
    if (rgb == NULL || t == NULL) {
        free(rgb);
        free(t);
        petal_exec_free(e);
        return -1;
    }
    srand(7);
    for (size_t i = 0; i < n; i++)
        rgb[i] = (uint8_t)(rand() & 255);
    int ok = petal_exec_set_input_rgb(e, rgb, 127.5f, 127.5f, &err) == PETAL_OK;
    int warm = backend == PETAL_BACKEND_REFERENCE ? 1 : 3;
    for (int i = 0; i < warm && ok; i++)
        ok = petal_exec_run(e, &err) == PETAL_OK;
    for (int i = 0; i < runs && ok; i++) {
        double t0 = petal_now_ms();
        ok = petal_exec_run(e, &err) == PETAL_OK;
        t[i] = petal_now_ms() - t0;
    }
    if (ok) {
        qsort(t, (size_t)runs, sizeof *t, cmp_double);
        out->median = t[runs / 2];
        out->fastest = t[0];
        out->macs = petal_exec_macs(e);
        out->backend = petal_exec_backend(e);
    } else {
        printf("  %-12s threads=%d: run failed (%s)\n", petal_backend_name(backend), threads,
               err.msg);
    }
    free(rgb);
    free(t);
    petal_exec_free(e);
    return ok ? 0 : -1;
}

static void report(const char *name, int threads, const timing *t, const timing *ref)
{
    printf("  %-12s threads=%d: %8.2f ms/image (fastest %7.2f), %6.1f GFLOP/s", name, threads,
           t->median, t->fastest, 2 * t->macs / (t->median * 1e6));
    if (ref && ref->median > 0 && t != ref)
        printf(", %5.1fx the reference", ref->median / t->median);
    printf("\n");
}

int main(void)
{
    const char *env_runs = getenv("PETAL_BENCH_RUNS");
    int runs = env_runs ? atoi(env_runs) : 30;
    if (runs < 1)
        runs = 1;
    int ref_runs = runs / 10 < 3 ? 3 : runs / 10;
    int cores = petal_cpu_count();
    int found = 0;
    printf("bench_infer: inference on random images, median of %d runs; GFLOP/s = 2 * MACs / "
           "time (1 MAC = 2 FLOP); %d cores\n",
           runs, cores);
    for (size_t i = 0; i < sizeof model_files / sizeof model_files[0]; i++) {
        char buf[4096];
        const char *only = getenv("PETAL_BENCH_MODEL");
        if (only && *only && strstr(model_files[i], only) == NULL)
            continue;
        const char *path = find_model(model_files[i], buf, sizeof buf);
        if (path == NULL)
            continue;
        found++;
        petal_model *m = NULL;
        petal_error err = {0};
        if (petal_model_load(path, &m, &err) != PETAL_OK) {
            printf("%s: %s\n", model_files[i], err.msg);
            continue;
        }
        timing ref = {0}, t;
        int have_ref = time_backend(m, PETAL_BACKEND_REFERENCE, 1, ref_runs, &ref) == 0;
        printf("%s (%.0f M MACs)\n", model_files[i], have_ref ? ref.macs / 1e6 : 0.0);
        if (have_ref)
            report("reference", 1, &ref, NULL);
        petal_backend backends[] = {PETAL_BACKEND_DNNL_F32, PETAL_BACKEND_DNNL_INT8,
                                    PETAL_BACKEND_AUTO};
        for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
            int thread_counts[2] = {1, cores};
            for (int k = 0; k < (cores > 1 ? 2 : 1); k++) {
                if (time_backend(m, backends[b], thread_counts[k], runs, &t) != 0)
                    continue;
                char name[64];
                snprintf(name, sizeof name, "%s%s%s", petal_backend_name(backends[b]),
                         backends[b] == PETAL_BACKEND_AUTO ? "=" : "",
                         backends[b] == PETAL_BACKEND_AUTO ? petal_backend_name(t.backend) : "");
                report(name, thread_counts[k], &t, have_ref ? &ref : NULL);
            }
        }
        petal_model_free(m);
    }
    if (found == 0)
        printf("bench_infer: skip: no shared models found (set PETAL_MODEL_DIR)\n");
    return 0;
}
