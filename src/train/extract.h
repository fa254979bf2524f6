/* extract.h - computing bottlenecks for many photos on all cores, through the cache.
 *
 * Each worker thread owns one executor (one thread each: photos are independent, so running
 * them side by side scales better than splitting one network run) and takes the next photo:
 * read the bytes, hash them, return the cached entry if there is a sound one, otherwise
 * decode, resize (or distort) to the input size, run the backbone up to the bottleneck and
 * store the values. A photo that cannot be read or decoded fails alone: its job records the
 * one-line error and the others go on.
 */
#ifndef PETAL_TRAIN_EXTRACT_H
#define PETAL_TRAIN_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "image/image.h"
#include "nn/exec.h"
#include "nn/model.h"
#include "util/status.h"

typedef struct petal_extract_options {
    const petal_model *model;
    int bottleneck;        /* tensor index of the bottleneck */
    petal_backend backend; /* AUTO = the fastest */
    int threads;           /* worker threads; 0 = all cores */
    const char *cache_dir; /* NULL = no cache */
    const char *model_key; /* the backbone's SHA-256 hex (cache key) */
    float input_mean;      /* for float-input models */
    float input_std;
    long long max_pixels; /* decode limit; 0 = default */
    const char *label;    /* progress label, e.g. "Creating bottlenecks" */
} petal_extract_options;

typedef struct petal_extract_job {
    const char *path;                 /* photo file */
    const petal_distortions *distort; /* NULL = the photo as it is */
    const char *variant;              /* cache name suffix for distorted copies, or NULL */
    uint64_t seed;                    /* randomness of the distortion */
    float *out;                       /* n_features values, filled on success */
    int failed;                       /* 1 when the photo could not be used */
    int cached;                       /* 1 when the values came from the cache */
    char error[PETAL_ERROR_MAX];      /* the reason, when failed */
} petal_extract_job;

typedef struct petal_extract_stats {
    size_t cached, computed, failed;
    double ms; /* wall time */
} petal_extract_stats;

/* Number of bottleneck values the model gives at tensor `bottleneck`. */
size_t petal_extract_n_features(const petal_model *model, int bottleneck);

/* Runs every job; returns an error only when the backbone cannot be planned (or memory runs
 * out). Per-photo failures are in the jobs and counted in stats. Shows a progress bar. */
petal_status petal_extract_run(const petal_extract_options *opts, petal_extract_job *jobs,
                               size_t n_jobs, petal_extract_stats *stats, petal_error *err);

#endif
