/* arch.h - the pretrained backbones `petal train` knows by name, and finding their files.
 *
 * Each architecture names a TFLite file, its SHA-256, where to download it and the tensor
 * whose values are the bottleneck features the new last layer is trained on. Files are looked
 * up in --model_dir, $PETAL_MODEL_DIR, ./models and ../shared/models, in that order;
 * `make models` (tools/fetch-models.sh) downloads missing ones and checks their hashes.
 */
#ifndef PETAL_TRAIN_ARCH_H
#define PETAL_TRAIN_ARCH_H

#include <stddef.h>

#include "util/status.h"

typedef struct petal_arch {
    const char *name;       /* --architecture value, e.g. "mobilenet_v2" */
    const char *file;       /* file name, e.g. "mobilenet_v2_1.0_224_quant.tflite" */
    const char *sha256;     /* lowercase hex of the file's SHA-256 */
    const char *url;        /* upstream download URL */
    const char *bottleneck; /* bottleneck tensor name; NULL = the model's output */
    int input_size;         /* input height = width in pixels */
    const char *about;      /* one line for --help */
} petal_arch;

/* The default architecture ("mobilenet_v2"). */
#define PETAL_ARCH_DEFAULT "mobilenet_v2"

/* The architecture called name, or NULL. */
const petal_arch *petal_arch_find(const char *name);

/* All known architectures; *count gets their number. */
const petal_arch *petal_arch_list(size_t *count);

/* Finds file in the model folders: model_dir (may be NULL), $PETAL_MODEL_DIR, ./models,
 * ../shared/models. On success *path is a new malloc'd path the caller frees. If the file is
 * in none of them, returns PETAL_ERR_NOT_FOUND with a message listing the folders searched
 * and saying that `make models` downloads it. */
petal_status petal_arch_locate(const char *file, const char *model_dir, char **path,
                               petal_error *err);

#endif
