/* evaluate.h - scoring a classifier graph on a folder of labelled photos (`petal evaluate`).
 *
 * The folder has the training layout (one sub-folder per class); each folder name is matched
 * to a line of the labels file by the same normalization training uses, so "Red_Roses/"
 * counts as the label "red roses". Every photo runs through the whole graph on all cores.
 */
#ifndef PETAL_TRAIN_EVALUATE_H
#define PETAL_TRAIN_EVALUATE_H

#include <stddef.h>

#include "nn/exec.h"
#include "train/metrics.h"
#include "util/status.h"

typedef struct petal_evaluate_options {
    const char *graph;     /* .tflite classifier */
    const char *labels;    /* labels file, one per line, in output order */
    const char *image_dir; /* folder per class */
    int threads;           /* 0 = all cores */
    petal_backend backend;
    float input_mean, input_std;
    long long max_pixels;
} petal_evaluate_options;

typedef struct petal_evaluate_result {
    size_t n_failed;    /* photos that could not be decoded */
    size_t n_unmatched; /* photos in folders whose name is not a label */
} petal_evaluate_result;

/* Reads a labels file into a new array of normalized labels (*n of them). Free with
 * petal_free_list. Fails on an empty file. */
petal_status petal_labels_load(const char *path, char ***labels, size_t *n, petal_error *err);

/* Runs the graph on every photo and fills *m (initialised here with the model's labels).
 * A folder matches a label when their normalized forms are equal apart from leading and
 * trailing spaces. Folders that match no label are skipped with a warning; so are photos
 * that fail. */
petal_status petal_evaluate_folder(const petal_evaluate_options *o, petal_metrics *m,
                                   petal_evaluate_result *res, petal_error *err);

#endif
