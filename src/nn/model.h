/* model.h - TFLite models in memory: reading, building and writing .tflite files.
 *
 * A petal_model is the graph petal executes: tensors (shape, type, quantization and, for
 * weights, their constant bytes) and operators in execution order, plus the graph's input
 * and output tensor indices. petal_model_load parses a .tflite FlatBuffer with every offset,
 * length and index checked against the file; a truncated, bit-flipped or hostile file gives
 * one line naming the file and the problem. The same struct can be built in memory
 * (petal_model_new + add_tensor/add_op) and written back as a standard .tflite file that the
 * official TFLite runtime loads: that is how `petal train` exports its retrained model.
 *
 * Numbering follows the TFLite schema: petal_dtype is TensorType, op codes are
 * BuiltinOperator, activations are ActivationFunctionType, so values map one to one.
 */
#ifndef PETAL_NN_MODEL_H
#define PETAL_NN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

#define PETAL_MAX_RANK 6

typedef enum petal_dtype {
    PETAL_FLOAT32 = 0,
    PETAL_FLOAT16 = 1,
    PETAL_INT32 = 2,
    PETAL_UINT8 = 3,
    PETAL_INT64 = 4,
    PETAL_STRING = 5,
    PETAL_BOOL = 6,
    PETAL_INT16 = 7,
    PETAL_INT8 = 9
} petal_dtype;

/* Builtin operator codes petal knows by name (TFLite BuiltinOperator values). */
enum {
    PETAL_OP_ADD = 0,
    PETAL_OP_AVERAGE_POOL_2D = 1,
    PETAL_OP_CONCATENATION = 2,
    PETAL_OP_CONV_2D = 3,
    PETAL_OP_DEPTHWISE_CONV_2D = 4,
    PETAL_OP_DEQUANTIZE = 6,
    PETAL_OP_FULLY_CONNECTED = 9,
    PETAL_OP_LOGISTIC = 14,
    PETAL_OP_MAX_POOL_2D = 17,
    PETAL_OP_RESHAPE = 22,
    PETAL_OP_SOFTMAX = 25,
    PETAL_OP_PAD = 34,
    PETAL_OP_MEAN = 40,
    PETAL_OP_SQUEEZE = 43,
    PETAL_OP_QUANTIZE = 114,
    PETAL_OP_HARD_SWISH = 117
};

typedef enum petal_activation {
    PETAL_ACT_NONE = 0,
    PETAL_ACT_RELU = 1,
    PETAL_ACT_RELU_N1_TO_1 = 2,
    PETAL_ACT_RELU6 = 3,
    PETAL_ACT_TANH = 4
} petal_activation;

typedef enum petal_padding { PETAL_PAD_SAME = 0, PETAL_PAD_VALID = 1 } petal_padding;

/* Affine quantization: real = scale * (q - zero_point). n == 0: not quantized; n == 1:
 * per-tensor; n > 1: per-channel along dimension axis. */
typedef struct petal_quant {
    int n;
    float *scale;
    int64_t *zero_point;
    int axis;
} petal_quant;

typedef struct petal_tensor {
    char *name;
    petal_dtype type;
    int rank;
    int shape[PETAL_MAX_RANK];
    petal_quant quant;
    const uint8_t *data; /* constant contents (weights, biases, shapes) or NULL */
    size_t data_size;    /* bytes at data; equals element count * element size when set */
} petal_tensor;

/* Options of the operators petal executes; fields not used by an op are zero. */
typedef struct petal_op_options {
    petal_padding padding;
    int stride_w, stride_h;
    int dilation_w, dilation_h; /* 1 when absent */
    int filter_w, filter_h;     /* pooling window */
    int depth_multiplier;
    petal_activation activation;
    float beta;         /* SOFTMAX */
    int keep_num_dims;  /* FULLY_CONNECTED */
    int keep_dims;      /* MEAN */
    int axis;           /* CONCATENATION */
    int n_squeeze_dims; /* SQUEEZE */
    int squeeze_dims[PETAL_MAX_RANK];
    int n_new_shape; /* RESHAPE (from options; the shape input wins if present) */
    int new_shape[PETAL_MAX_RANK];
} petal_op_options;

typedef struct petal_op {
    int code;    /* builtin operator code; for a custom op, -1 with custom_code set */
    int version; /* operator version from the OperatorCode table */
    char *custom_code;
    int n_inputs, n_outputs;
    int *inputs; /* tensor indices; -1 marks an omitted optional input */
    int *outputs;
    petal_op_options opt;
} petal_op;

typedef struct petal_model {
    char *path;       /* where it was loaded from, for messages ("<memory>" if built) */
    uint32_t version; /* schema version, 3 */
    char *description;
    int n_tensors, n_ops, n_inputs, n_outputs;
    petal_tensor *tensors;
    petal_op *ops; /* in execution order */
    int *inputs;   /* graph input tensor indices */
    int *outputs;  /* graph output tensor indices */
    void *storage; /* private: file bytes and allocations owned by the model */
} petal_model;

/* Reads and parses a .tflite file (first subgraph only). On failure *out is NULL and err
 * names the file, e.g. "m.tflite: tensor 12 buffer index 900 is out of range (88 buffers)". */
petal_status petal_model_load(const char *path, petal_model **out, petal_error *err);

/* Parses a .tflite image in memory; the model keeps its own copy of the bytes.
 * name is used in messages. */
petal_status petal_model_parse(const uint8_t *data, size_t len, const char *name, petal_model **out,
                               petal_error *err);

/* Frees a model and everything it owns; NULL is fine. */
void petal_model_free(petal_model *model);

/* Index of the tensor with this name, or -1. */
int petal_model_find_tensor(const petal_model *model, const char *name);

/* Index of the op that produces tensor t, or -1 for graph inputs and constants. */
int petal_model_producer(const petal_model *model, int t);

/* Number of elements of a tensor (product of its shape; 1 for rank 0). */
size_t petal_tensor_elements(const petal_tensor *t);

/* Size in bytes of one element of type, or 0 for types petal does not store. */
size_t petal_dtype_size(petal_dtype type);

/* "FLOAT32", "UINT8", ... and "CONV_2D", "MEAN", ... (or "BUILTIN_<n>" when unknown). */
const char *petal_dtype_name(petal_dtype type);
const char *petal_op_name(int code);

/* ---- Building models in memory ---------------------------------------------------- */

/* An empty model to fill with the calls below; path is "<memory>". */
petal_model *petal_model_new(void);

/* Appends a tensor and returns its index, or -1 when out of memory. name, shape, data and
 * quant (which may be NULL) are copied into the model. */
int petal_model_add_tensor(petal_model *model, const char *name, petal_dtype type, int rank,
                           const int *shape, const void *data, size_t data_size,
                           const petal_quant *quant);

/* Appends an operator (inputs/outputs are copied) and returns its index, or -1. */
int petal_model_add_op(petal_model *model, int code, int version, const int *inputs, int n_inputs,
                       const int *outputs, int n_outputs, const petal_op_options *opt);

/* Sets the graph's input and output tensor lists (copied). */
petal_status petal_model_set_io(petal_model *model, const int *inputs, int n_inputs,
                                const int *outputs, int n_outputs, petal_error *err);

/* Copies into a new model the ops of src needed to compute tensor `output` from the graph
 * inputs (in src's order) and the tensors they use, renumbered; the new model's output is
 * that tensor. Used to cut a backbone at its bottleneck. */
petal_status petal_model_extract(const petal_model *src, int output, petal_model **out,
                                 petal_error *err);

/* ---- Writing ------------------------------------------------------------------------ */

/* Serialises a model as a .tflite FlatBuffer (schema version 3, one subgraph, one buffer
 * per constant tensor, buffer 0 empty) into a new malloc'd buffer. */
petal_status petal_model_serialize(const petal_model *model, uint8_t **data, size_t *len,
                                   petal_error *err);

/* Serialises and writes atomically to path. */
petal_status petal_model_save(const petal_model *model, const char *path, petal_error *err);

#endif
