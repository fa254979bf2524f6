/* bench_infer.c - inference speed of the shared MobileNets on every executor backend:
 * ms/image at 1 thread and at all cores, the GFLOP/s that implies and the speed-up of the
 * oneDNN paths over the plain-C reference executor, all measured in the same run.
 *
 * Convention: GFLOP/s = 2 * MACs / time, 1 multiply-accumulate = 2 floating-point (or
 * integer) operations, MACs of the convolutions, depthwise convolutions and fully connected
 * layers as counted by petal_exec_macs. Times are the median (and the fastest) of
 * PETAL_BENCH_RUNS runs (default 30; the reference gets a tenth of them, at least 3) after
 * warm-up runs, on random input images, interleaved across backends. PETAL_BENCH_MODEL=text keeps
 * the models whose file name contains text. */
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

/* One backend at one thread count, with its run times. */
typedef struct config {
    petal_backend backend;
    int threads;
    petal_exec *exec;
    double *times;
    int n_times;
    char name[64];
} config;

static double median_of(config *c)
{
    qsort(c->times, (size_t)c->n_times, sizeof *c->times, cmp_double);
    return c->times[c->n_times / 2];
}

/* Plans a configuration and sets a random image as its input; 0, or -1 (with a line saying
 * why) when the backend cannot run the model. */
static int config_open(const petal_model *m, config *c, int runs)
{
    petal_exec_options o = petal_exec_defaults();
    o.backend = c->backend;
    o.threads = c->threads;
    petal_error err = {0};
    if (petal_exec_create(m, &o, &c->exec, &err) != PETAL_OK) {
        printf("  %-22s threads=%d: not available (%s)\n", petal_backend_name(c->backend),
               c->threads, err.msg);
        return -1;
    }
    snprintf(c->name, sizeof c->name, "%s%s%s", petal_backend_name(c->backend),
             c->backend == PETAL_BACKEND_AUTO ? "=" : "",
             c->backend == PETAL_BACKEND_AUTO ? petal_backend_name(petal_exec_backend(c->exec))
                                              : "");
    int h, w, ch;
    petal_exec_input_size(c->exec, &h, &w, &ch);
    size_t n = (size_t)h * w * ch;
    uint8_t *rgb = malloc(n ? n : 1);
    c->times = malloc((size_t)runs * sizeof(double));
    if (rgb == NULL || c->times == NULL) {
        free(rgb);
        return -1;
    }
    srand(7);
    for (size_t i = 0; i < n; i++)
        rgb[i] = (uint8_t)(rand() & 255);
    int ok = petal_exec_set_input_rgb(c->exec, rgb, 127.5f, 127.5f, &err) == PETAL_OK;
    free(rgb);
    if (!ok)
        printf("  %-22s: %s\n", c->name, err.msg);
    return ok ? 0 : -1;
}

static int config_run(config *c)
{
    petal_error err = {0};
    double t0 = petal_now_ms();
    if (petal_exec_run(c->exec, &err) != PETAL_OK) {
        printf("  %-22s threads=%d: run failed (%s)\n", c->name, c->threads, err.msg);
        return -1;
    }
    c->times[c->n_times++] = petal_now_ms() - t0;
    return 0;
}

/* Times every configuration on one model. Runs are interleaved (one run of each
 * configuration per round) so that load from other processes falls on all of them alike. */
static void bench_model(const petal_model *m, const char *file, int runs, int ref_runs, int cores)
{
    config cfg[7];
    int n = 0;
    cfg[n++] = (config){PETAL_BACKEND_REFERENCE, 1, NULL, NULL, 0, "reference"};
    petal_backend backends[] = {PETAL_BACKEND_DNNL_F32, PETAL_BACKEND_DNNL_INT8,
                                PETAL_BACKEND_AUTO};
    for (int b = 0; b < 3; b++) {
        cfg[n++] = (config){backends[b], 1, NULL, NULL, 0, ""};
        if (cores > 1)
            cfg[n++] = (config){backends[b], cores, NULL, NULL, 0, ""};
    }
    int ok[7];
    for (int i = 0; i < n; i++)
        ok[i] = config_open(m, &cfg[i], runs) == 0;
    for (int i = 0; i < n; i++) /* warm-up */
        for (int k = 0; k < (i == 0 ? 1 : 3) && ok[i]; k++)
            ok[i] = config_run(&cfg[i]) == 0;
    for (int i = 0; i < n; i++)
        cfg[i].n_times = 0;
    for (int r = 0; r < runs; r++)
        for (int i = 0; i < n; i++)
            if (ok[i] && (i > 0 || r < ref_runs))
                ok[i] = config_run(&cfg[i]) == 0;

    double macs = cfg[0].exec ? petal_exec_macs(cfg[0].exec) : 0;
    for (int i = 1; i < n && macs == 0; i++)
        macs = cfg[i].exec ? petal_exec_macs(cfg[i].exec) : 0;
    printf("%s (%.0f M MACs)\n", file, macs / 1e6);
    double ref = ok[0] && cfg[0].n_times > 0 ? median_of(&cfg[0]) : 0;
    for (int i = 0; i < n; i++) {
        if (!ok[i] || cfg[i].n_times == 0)
            continue;
        double med = median_of(&cfg[i]);
        printf("  %-22s threads=%d: %8.2f ms/image (fastest %7.2f), %6.1f GFLOP/s", cfg[i].name,
               cfg[i].threads, med, cfg[i].times[0], 2 * macs / (med * 1e6));
        if (i > 0 && ref > 0)
            printf(", %5.1fx the reference", ref / med);
        printf("\n");
    }
    for (int i = 0; i < n; i++) {
        petal_exec_free(cfg[i].exec);
        free(cfg[i].times);
    }
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
        bench_model(m, model_files[i], runs, ref_runs, cores);
        petal_model_free(m);
    }
    if (found == 0)
        printf("bench_infer: skip: no shared models found (set PETAL_MODEL_DIR)\n");
    return 0;
}
