/* dataset.h - a folder of labelled photos (one sub-folder per class) split into training,
 * validation and testing sets exactly as TensorFlow's retrain.py splits it.
 *
 * The split of a photo depends only on its path as retrain.py forms it (image_dir joined
 * with the class folder and the file name, os.path.join style) with any "_nohash_..." suffix
 * removed: SHA-1 of that string, the number modulo 2^27, scaled to a percentage. So a user's
 * existing retrain.py split is reproduced, and adding photos never moves the old ones.
 */
#ifndef PETAL_TRAIN_DATASET_H
#define PETAL_TRAIN_DATASET_H

#include <stddef.h>

#include "util/status.h"

typedef enum petal_split { PETAL_SPLIT_TRAIN = 0, PETAL_SPLIT_VALID, PETAL_SPLIT_TEST } petal_split;

/* One photo: its path (image_dir/class/file as retrain.py joins them), class index, split. */
typedef struct petal_sample {
    char *path;
    int label;
    petal_split split;
} petal_sample;

typedef struct petal_class {
    char *folder;    /* folder name as on disk */
    char *label;     /* normalized label (petal_label_normalize of folder) */
    size_t count[3]; /* photos per split (indexed by petal_split) */
} petal_class;

typedef struct petal_dataset {
    int n_classes;
    petal_class *classes; /* sorted by folder name */
    size_t n_samples;
    petal_sample *samples; /* class by class, files sorted by name within a class */
} petal_dataset;

/* Normalizes a folder name or label line into a label: lowercase ASCII, every run of
 * characters outside [a-z0-9] becomes one space (as retrain.py's re.sub). Returns a new
 * malloc'd string (NULL when out of memory). */
char *petal_label_normalize(const char *name);

/* retrain.py's percentage for a photo path: sha1(path without "_nohash_.*"), as a number
 * modulo 2^27, times 100 / (2^27 - 1). In [0, 100]. */
double petal_split_percentage(const char *path);

/* The split of a photo given the percentages (each 0..100). */
petal_split petal_split_for(const char *path, double validation_percentage,
                            double testing_percentage);

/* 1 if the file name has an image extension petal reads (jpg, jpeg, png, bmp, gif, webp,
 * any case). Content is checked later, when the photo is decoded. */
int petal_is_image_name(const char *name);

/* Lists image_dir: sorted class folders (hidden ones and folders with no photos are skipped
 * with a warning), their photos and each photo's split. Warns for a class under 20 photos
 * when training (min_classes >= 2). Fails with PETAL_ERR_NOT_FOUND if image_dir is missing,
 * PETAL_ERR_ARG for no class, or for one class when min_classes is 2 (training needs two).
 * On success *out owns everything; free with petal_dataset_free. */
petal_status petal_dataset_scan(const char *image_dir, double validation_percentage,
                                double testing_percentage, int min_classes, petal_dataset *out,
                                petal_error *err);

/* Number of photos in a split over all classes. */
size_t petal_dataset_count(const petal_dataset *ds, petal_split split);

/* Frees and zeroes a dataset; safe on a zeroed one. */
void petal_dataset_free(petal_dataset *ds);

#endif
