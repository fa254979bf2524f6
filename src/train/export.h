/* export.h - the retrained classifier as a standard TFLite file.
 *
 * The graph is the backbone cut at its bottleneck, then DEQUANTIZE when the bottleneck is
 * quantized, RESHAPE to [1, N] when it has another shape, FULLY_CONNECTED with the float
 * weights [classes, N] and bias learned by `petal train`, and SOFTMAX whose output tensor is
 * named by --final_tensor_name. The input tensor and its quantization are the backbone's, so
 * apps feed it exactly what they fed the backbone.
 */
#ifndef PETAL_TRAIN_EXPORT_H
#define PETAL_TRAIN_EXPORT_H

#include "nn/model.h"
#include "train/head.h"
#include "util/status.h"

/* Builds the classifier graph in a new model (*out, freed by the caller). */
petal_status petal_export_build(const petal_model *backbone, int bottleneck, const petal_head *head,
                                const char *final_tensor_name, petal_model **out, petal_error *err);

/* Builds and writes it atomically to path. */
petal_status petal_export_save(const petal_model *backbone, int bottleneck, const petal_head *head,
                               const char *final_tensor_name, const char *path, petal_error *err);

#endif
