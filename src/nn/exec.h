/* exec.h - running a petal_model: the optimized oneDNN executor and the plain-C reference.
 *
 * An executor is planned once for a model, an output tensor and a thread count, then run
 * many times: set the input, run, read the output as floats. The model must outlive it and
 * is only read, so one model can feed several executors (one per worker thread).
 *
 * Backends:
 *   PETAL_BACKEND_DNNL_F32  - oneDNN primitives in fp32 with dequantized weights, blocked
 *                             layout kept from layer to layer, bias/ReLU6/residual fused.
 *   PETAL_BACKEND_DNNL_INT8 - oneDNN int8 primitives (u8 activations, s8 weights) for
 *                             quantized models.
 *   PETAL_BACKEND_REFERENCE - simple float loops, for testing the others.
 *   PETAL_BACKEND_AUTO      - the fastest available for the model.
 */
#ifndef PETAL_NN_EXEC_H
#define PETAL_NN_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"
#include "util/status.h"

typedef enum petal_backend {
    PETAL_BACKEND_AUTO = 0,
    PETAL_BACKEND_REFERENCE,
    PETAL_BACKEND_DNNL_F32,
    PETAL_BACKEND_DNNL_INT8
} petal_backend;

typedef struct petal_exec_options {
    petal_backend backend;
    int threads; /* 0 = all cores */
    int output;  /* tensor index to compute; -1 = the model's first output */
} petal_exec_options;

typedef struct petal_exec petal_exec;

/* Default options: AUTO backend, all cores, the model's output. */
petal_exec_options petal_exec_defaults(void);

/* Plans execution of the ops needed for the output tensor. Fails with a message naming the
 * model file and, for PETAL_ERR_UNSUPPORTED, the operator or type, e.g.
 * "m.tflite: operator 7 (LSTM) is not supported". */
petal_status petal_exec_create(const petal_model *model, const petal_exec_options *opts,
                               petal_exec **out, petal_error *err);
void petal_exec_free(petal_exec *exec);

/* The backend actually chosen (never AUTO) and its name ("onednn-f32", ...). */
petal_backend petal_exec_backend(const petal_exec *exec);
const char *petal_backend_name(petal_backend backend);

/* Parses "auto", "reference", "onednn-f32" / "f32", "onednn-int8" / "int8". */
int petal_backend_parse(const char *name, petal_backend *out);

/* The graph input tensor (shape NHWC, type and quantization as in the file). */
const petal_tensor *petal_exec_input_tensor(const petal_exec *exec);

/* Input height, width, channels of an NHWC image input. */
void petal_exec_input_size(const petal_exec *exec, int *height, int *width, int *channels);

/* Sets the input from an RGB image already resized to the input size: uint8 inputs take the
 * bytes as they are, int8 inputs the bytes minus 128, float inputs (x - mean) / std. */
petal_status petal_exec_set_input_rgb(petal_exec *exec, const uint8_t *rgb, float mean, float std,
                                      petal_error *err);

/* Sets the input from real (dequantized) values, quantizing if the input tensor is. */
petal_status petal_exec_set_input_float(petal_exec *exec, const float *values, size_t n,
                                        petal_error *err);

/* Runs the planned ops. */
petal_status petal_exec_run(petal_exec *exec, petal_error *err);

/* The output tensor's values as floats (dequantized), valid until the next run; *n gets the
 * element count. */
const float *petal_exec_output(const petal_exec *exec, size_t *n);

/* Multiply-accumulates of one run (convolutions, depthwise, fully connected), for GFLOP/s
 * figures (1 MAC = 2 FLOP). */
double petal_exec_macs(const petal_exec *exec);

#endif
