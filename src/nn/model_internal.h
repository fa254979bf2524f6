/* model_internal.h - memory ownership inside a petal_model. Private to src/nn/.
 *
 * Everything a model points to (tensor and op arrays, names, quantization arrays, copied
 * constant data, the file bytes of a loaded model) is owned by the model and released by
 * petal_model_free: small allocations are tracked in a list kept in model->storage.
 */
#ifndef PETAL_NN_MODEL_INTERNAL_H
#define PETAL_NN_MODEL_INTERNAL_H

#include "nn/model.h"

/* Allocates n zeroed bytes owned by the model; NULL when out of memory. */
void *petal_model_alloc(petal_model *model, size_t n);

/* Copies a string (or the first len bytes of s when len != (size_t)-1) into model memory. */
char *petal_model_strndup(petal_model *model, const char *s, size_t len);

/* Hands a malloc'd block (e.g. the file bytes) to the model, which frees it. 0 or -1. */
int petal_model_adopt(petal_model *model, void *block);

/* Makes room for at least n tensors / ops (arrays grow geometrically). 0 or -1. */
int petal_model_reserve_tensors(petal_model *model, int n);
int petal_model_reserve_ops(petal_model *model, int n);

#endif
