/* train.h - `petal train` end to end: retrain.py's pipeline on a TFLite backbone.
 *
 *   photos (folder per class) -> split (retrain.py's hash) -> bottlenecks (cached, all cores)
 *   -> softmax layer trained on them (SGD or Adam, class-balanced batches) -> validation logs
 *   -> final test accuracy -> .tflite graph + labels file (+ TensorBoard events).
 *
 * The log lines are retrain.py's ("Step N: Train accuracy = X%", ..., "Final test accuracy =
 * X% (N=M)") after petal's "petal: " prefix.
 */
#ifndef PETAL_TRAIN_TRAIN_H
#define PETAL_TRAIN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "image/image.h"
#include "nn/exec.h"
#include "nn/model.h"
#include "train/head.h"
#include "util/status.h"

typedef struct petal_train_options {
    const char *image_dir;
    const char *output_graph;   /* NULL = do not write */
    const char *output_labels;  /* NULL = do not write */
    const char *bottleneck_dir; /* NULL = no cache */
    const char *summaries_dir;  /* NULL = no TensorBoard events */
    const char *intermediate_output_graphs_dir;
    int intermediate_store_frequency; /* 0 = never */
    const char *architecture;         /* known backbone name, unless model_file is set */
    const char *model_file;           /* any TFLite file (with bottleneck_tensor) */
    const char *bottleneck_tensor;    /* tensor name; NULL = the architecture's */
    const char *model_dir;            /* extra folder to look for backbone files */
    const char *final_tensor_name;
    int how_many_training_steps;
    double learning_rate;
    double validation_percentage, testing_percentage;
    int eval_step_interval;
    int train_batch_size;
    int validation_batch_size; /* -1 = the whole validation set */
    int test_batch_size;       /* -1 = the whole test set */
    int print_misclassified_test_images;
    petal_optimizer_kind optimizer;
    double l2;
    uint64_t seed;
    int keep_best;
    petal_distortions distort;
    int distorted_copies; /* 0 with distortions on: recompute every step, as retrain.py */
    int threads;          /* extraction workers; 0 = all cores */
    petal_backend backend;
    float input_mean, input_std;
    long long max_pixels;
    int cache_only;               /* fill the cache (shard) and stop */
    int shard_index, shard_count; /* this process's share K/N of the photos (N = 1: all) */
} petal_train_options;

typedef struct petal_train_result {
    double test_accuracy; /* fraction; -1 when there is no test set */
    size_t n_test;
    double validation_accuracy; /* of the final (or kept best) weights, -1 if none */
    size_t n_failed;            /* photos skipped */
    double extract_ms, train_ms, total_ms;
    size_t n_images;
} petal_train_result;

/* retrain.py's defaults (4000 steps, learning rate 0.01, 10%/10% split, batches 100/100/all,
 * mobilenet_v2, final_result, SGD, seed 0, /tmp paths as retrain.py). */
void petal_train_defaults(petal_train_options *o);

/* Finds the bottleneck tensor: exact name, or a tensor whose ';'-separated name list holds
 * it (TF2 converters join names that way); NULL name = the model's first output. Returns
 * the index or -1. */
int petal_train_find_bottleneck(const petal_model *model, const char *name);

/* Runs the whole job. Errors are for what stops it (no photos, no model, no disk); photos
 * that fail are skipped, listed and counted in res->n_failed. */
petal_status petal_train_run(const petal_train_options *o, petal_train_result *res,
                             petal_error *err);

#endif
