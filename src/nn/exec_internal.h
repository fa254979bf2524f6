/* exec_internal.h - the contract between the executor front end (exec.c) and its backends.
 * Private to src/nn/.
 *
 * The front end validates the model, picks the ops needed for the requested output (in model
 * order), converts user input to the input tensor's own type, and dequantizes nothing: each
 * backend receives the input tensor's bytes as stored (uint8, int8 or float32) and writes the
 * output tensor as floats (dequantized real values).
 */
#ifndef PETAL_NN_EXEC_INTERNAL_H
#define PETAL_NN_EXEC_INTERNAL_H

#include "nn/exec.h"

typedef struct petal_plan {
    const petal_model *model;
    const int *ops; /* op indices to run, in order */
    int n_ops;
    int input;   /* graph input tensor index */
    int output;  /* tensor to produce */
    int threads; /* >= 1 */
} petal_plan;

typedef struct petal_backend_impl {
    const char *name;
    /* Plans the ops; returns PETAL_ERR_UNSUPPORTED naming the op or type it cannot run. */
    petal_status (*create)(const petal_plan *plan, void **state, petal_error *err);
    /* input: the input tensor's bytes in its own type; output: elements of the output
     * tensor as floats. */
    petal_status (*run)(void *state, const void *input, float *output, petal_error *err);
    void (*destroy)(void *state);
} petal_backend_impl;

extern const petal_backend_impl petal_backend_reference_impl; /* exec_ref.c */
extern const petal_backend_impl petal_backend_dnnl_f32_impl;  /* exec_dnnl.c */
extern const petal_backend_impl petal_backend_dnnl_int8_impl; /* exec_dnnl.c */

/* Dequantizes a constant tensor (float32, uint8, int8 or int32 with per-tensor or
 * per-channel quantization) into a new malloc'd float array; NULL with err on failure. */
float *petal_tensor_dequantize(const petal_model *model, const petal_tensor *t, petal_error *err);

#endif
