/* extract.c - the bottleneck worker pool: cache lookups, decoding, backbone runs. */
#include "train/extract.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/cache.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/timer.h"

#define MAX_PHOTO_BYTES (256u * 1024 * 1024)

/* libgomp (oneDNN's thread pool). Each worker runs its executor on one thread; its OpenMP
 * team size is set to 1 before the executor is planned, so no idle team threads are left
 * spinning beside the worker (measured: with one worker they took 80% of the CPU). */
extern void omp_set_num_threads(int n);

typedef struct pool {
    const petal_extract_options *opts;
    petal_extract_job *jobs;
    size_t n_jobs, n_features;
    atomic_size_t next, done, failed, cached;
    petal_progress *progress;
    pthread_mutex_t lock;
    petal_status status; /* first fatal error */
    petal_error err;
} pool;

size_t petal_extract_n_features(const petal_model *model, int bottleneck)
{
    if (bottleneck < 0 || bottleneck >= model->n_tensors)
        return 0;
    return petal_tensor_elements(&model->tensors[bottleneck]);
}

/* Decodes, resizes or distorts, and runs the backbone on one photo's bytes. */
static petal_status compute(pool *pl, petal_exec *exec, petal_extract_job *job, const uint8_t *data,
                            size_t len, petal_error *err)
{
    int h, w, c;
    petal_exec_input_size(exec, &h, &w, &c);
    petal_decode_options dopt = {pl->opts->max_pixels, w, h};
    petal_image img = {0}, sized = {0};
    petal_status st = petal_image_decode(data, len, job->path, &dopt, &img, err);
    if (st != PETAL_OK)
        return st;
    if (job->distort) {
        uint64_t rng = job->seed ? job->seed : 0x9E3779B97F4A7C15ull;
        st = petal_image_distort(&img, job->distort, w, h, &rng, &sized, err);
    } else {
        st = petal_image_resize(&img, w, h, &sized, err);
    }
    petal_image_free(&img);
    if (st == PETAL_OK)
        st = petal_exec_set_input_rgb(exec, sized.pixels, pl->opts->input_mean, pl->opts->input_std,
                                      err);
    petal_image_free(&sized);
    if (st == PETAL_OK)
        st = petal_exec_run(exec, err);
    if (st != PETAL_OK)
        return st;
    size_t n = 0;
    const float *out = petal_exec_output(exec, &n);
    if (n != pl->n_features)
        return petal_error_set(err, PETAL_ERR_INTERNAL, "%s: bottleneck has %zu values, not %zu",
                               job->path, n, pl->n_features);
    memcpy(job->out, out, n * sizeof(float));
    return PETAL_OK;
}

/* One photo through the cache. */
static void process(pool *pl, petal_exec *exec, petal_extract_job *job)
{
    const petal_extract_options *o = pl->opts;
    petal_error err;
    uint8_t *data = NULL;
    size_t len = 0;
    petal_status st = petal_read_file(job->path, MAX_PHOTO_BYTES, &data, &len, &err);
    char *entry = NULL;
    if (st == PETAL_OK && o->cache_dir && o->model_key) {
        char key[PETAL_SHA256_HEX];
        petal_sha256_hex(data, len, key);
        entry = petal_bottleneck_path(o->cache_dir, o->model_key, key,
                                      job->variant ? job->variant : "");
        petal_error cerr;
        petal_status cst =
            entry ? petal_bottleneck_read(entry, pl->n_features, job->out, &cerr) : PETAL_ERR_NOMEM;
        if (cst == PETAL_OK) {
            job->cached = 1;
            free(entry);
            free(data);
            return;
        }
        if (cst == PETAL_ERR_FORMAT)
            petal_warn("%s; recomputing it", cerr.msg);
    }
    if (st == PETAL_OK)
        st = compute(pl, exec, job, data, len, &err);
    if (st == PETAL_OK && entry) {
        petal_error werr;
        if (petal_bottleneck_write(entry, job->out, pl->n_features, &werr) != PETAL_OK)
            petal_warn("%s", werr.msg);
    }
    if (st != PETAL_OK) {
        job->failed = 1;
        snprintf(job->error, sizeof job->error, "%s", err.msg);
        petal_warn("skipping %s", err.msg);
    }
    free(entry);
    free(data);
}

static void *worker(void *arg)
{
    pool *pl = arg;
    petal_exec_options eo = petal_exec_defaults();
    eo.backend = pl->opts->backend;
    eo.threads = 1;
    eo.output = pl->opts->bottleneck;
    petal_exec *exec = NULL;
    petal_error err;
    omp_set_num_threads(1);
    if (petal_exec_create(pl->opts->model, &eo, &exec, &err) != PETAL_OK) {
        pthread_mutex_lock(&pl->lock);
        if (pl->status == PETAL_OK) {
            pl->status = err.code;
            pl->err = err;
        }
        pthread_mutex_unlock(&pl->lock);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&pl->next, 1);
        if (i >= pl->n_jobs)
            break;
        petal_extract_job *job = &pl->jobs[i];
        process(pl, exec, job);
        if (job->failed)
            atomic_fetch_add(&pl->failed, 1);
        if (job->cached)
            atomic_fetch_add(&pl->cached, 1);
        size_t done = atomic_fetch_add(&pl->done, 1) + 1;
        size_t nf = atomic_load(&pl->failed);
        char extra[48] = "";
        if (nf)
            snprintf(extra, sizeof extra, "%zu failed", nf);
        petal_progress_update(pl->progress, (int64_t)done, nf ? extra : NULL);
    }
    petal_exec_free(exec);
    return NULL;
}

petal_status petal_extract_run(const petal_extract_options *opts, petal_extract_job *jobs,
                               size_t n_jobs, petal_extract_stats *stats, petal_error *err)
{
    memset(stats, 0, sizeof *stats);
    double t0 = petal_now_ms();
    pool pl;
    memset(&pl, 0, sizeof pl);
    pl.opts = opts;
    pl.jobs = jobs;
    pl.n_jobs = n_jobs;
    pl.n_features = petal_extract_n_features(opts->model, opts->bottleneck);
    if (pl.n_features == 0)
        return petal_error_set(err, PETAL_ERR_ARG, "%s: bad bottleneck tensor %d",
                               opts->model->path, opts->bottleneck);
    if (n_jobs == 0)
        return PETAL_OK;
    for (size_t i = 0; i < n_jobs; i++) {
        jobs[i].failed = jobs[i].cached = 0;
        jobs[i].error[0] = '\0';
    }
    pthread_mutex_init(&pl.lock, NULL);
    int n_threads = opts->threads > 0 ? opts->threads : petal_cpu_count();
    if ((size_t)n_threads > n_jobs)
        n_threads = (int)n_jobs;
    pl.progress =
        petal_progress_start(opts->label ? opts->label : "Bottlenecks", (int64_t)n_jobs, "images");
    pthread_t *threads = calloc((size_t)n_threads, sizeof *threads);
    if (!threads) {
        petal_progress_finish(pl.progress);
        pthread_mutex_destroy(&pl.lock);
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory starting workers");
    }
    int started = 0;
    for (int t = 0; t < n_threads; t++)
        if (pthread_create(&threads[t], NULL, worker, &pl) == 0)
            started++;
        else
            break;
    if (started == 0)
        worker(&pl);
    for (int t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    free(threads);
    petal_progress_finish(pl.progress);
    pthread_mutex_destroy(&pl.lock);

    stats->failed = atomic_load(&pl.failed);
    stats->cached = atomic_load(&pl.cached);
    stats->computed = atomic_load(&pl.done) - stats->failed - stats->cached;
    stats->ms = petal_now_ms() - t0;
    if (pl.status != PETAL_OK) {
        if (err)
            *err = pl.err;
        return pl.status;
    }
    return PETAL_OK;
}
