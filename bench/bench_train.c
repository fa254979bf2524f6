/* bench_train.c - speed of `petal train`: the last layer alone (4000 steps on random
 * bottlenecks, 5 and 102 classes), then the whole run on flowers5 with an empty bottleneck
 * cache (decoding, MobileNetV2 on all cores, 4000 steps, export), and again with the cache
 * filled. Prints figures only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/head.h"
#include "train/train.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/timer.h"

static void bench_head(int classes, int features)
{
    enum { B = 100, STEPS = 4000, POOL = 2000 };
    float *x = malloc(sizeof(float) * (size_t)POOL * (size_t)features);
    int *y = malloc(sizeof(int) * POOL);
    uint64_t rng = petal_train_rng_seed(1);
    for (size_t i = 0; i < (size_t)POOL * (size_t)features; i++)
        x[i] = (float)petal_train_rng_uniform(&rng);
    for (int i = 0; i < POOL; i++)
        y[i] = i % classes;
    petal_head h;
    petal_error err;
    petal_head_trainer *t;
    petal_head_train_options opt = {PETAL_OPT_SGD, 0.01f, 0.0f};
    if (petal_head_init(&h, classes, features, 0.001f, &rng, &err) != PETAL_OK ||
        petal_head_trainer_new(&h, &opt, B, &t, &err) != PETAL_OK) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        exit(1);
    }
    double t0 = petal_now_ms();
    for (int s = 0; s < STEPS; s++) {
        size_t off = (size_t)(s % (POOL / B)) * B;
        petal_head_train_step(t, &h, x + off * (size_t)features, y + off, B);
    }
    double ms = petal_now_ms() - t0;
    /* forward + weight gradient: 2 GEMMs of B x features x classes, 2 FLOP per MAC */
    double gflop = 2.0 * 2.0 * B * (double)features * classes * STEPS / 1e9;
    printf("last layer, %d classes x %d features, %d steps of %d: %.2f s (%.1f GFLOP/s)\n", classes,
           features, STEPS, B, ms / 1000, gflop / (ms / 1000));
    petal_head_trainer_free(t);
    petal_head_free(&h);
    free(x);
    free(y);
}

static void bench_whole(const char *data, const char *cache, const char *what)
{
    petal_train_options o;
    petal_train_defaults(&o);
    o.image_dir = data;
    o.bottleneck_dir = cache;
    o.summaries_dir = NULL;
    o.output_graph = "build/bench-train.tflite";
    o.output_labels = "build/bench-train.txt";
    o.eval_step_interval = 1000;
    petal_train_result r;
    petal_error err;
    if (petal_train_run(&o, &r, &err) != PETAL_OK) {
        printf("whole train (%s): error: %s\n", what, err.msg);
        return;
    }
    printf("whole train on flowers5, %s: %.1f s wall (bottlenecks %.1f s = %.1f images/s for "
           "%zu photos; 4000 steps %.2f s); final test accuracy %.1f%% (N=%zu)\n",
           what, r.total_ms / 1000, r.extract_ms / 1000, r.n_images / (r.extract_ms / 1000),
           r.n_images, r.train_ms / 1000, r.test_accuracy * 100, r.n_test);
}

int main(void)
{
    petal_log_set_level(PETAL_LOG_ERROR);
    printf("bench_train: %d cores\n", petal_cpu_count());
    bench_head(5, 1280);
    bench_head(102, 1280);

    const char *env = getenv("PETAL_DATA_DIR");
    char data[512];
    snprintf(data, sizeof data, "%s/flowers5", env && *env ? env : "../shared/data");
    if (!petal_is_dir(data)) {
        printf("whole train: skipped (%s not found)\n", data);
        return 0;
    }
    char cache[64];
    snprintf(cache, sizeof cache, "build/bench-train-cache-%d", (int)getpid());
    bench_whole(data, cache, "empty cache");
    bench_whole(data, cache, "cache filled");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_train: could not remove %s\n", cache);
    return 0;
}
