/* model.c - petal_model memory, the in-memory builder and lookups shared by the TFLite
 * reader (tflite_read.c), writer (tflite_write.c) and the executors. */
#include "nn/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model_internal.h"

typedef struct model_storage {
    void **blocks;
    size_t n_blocks, cap_blocks;
    int cap_tensors, cap_ops;
} model_storage;

static int track(model_storage *s, void *block)
{
    if (s->n_blocks == s->cap_blocks) {
        size_t cap = s->cap_blocks ? s->cap_blocks * 2 : 64;
        void **grown = realloc(s->blocks, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        s->blocks = grown;
        s->cap_blocks = cap;
    }
    s->blocks[s->n_blocks++] = block;
    return 0;
}

void *petal_model_alloc(petal_model *model, size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p == NULL)
        return NULL;
    if (track(model->storage, p) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

char *petal_model_strndup(petal_model *model, const char *s, size_t len)
{
    if (len == (size_t)-1)
        len = strlen(s);
    char *p = petal_model_alloc(model, len + 1);
    if (p)
        memcpy(p, s, len);
    return p;
}

int petal_model_adopt(petal_model *model, void *block)
{
    return track(model->storage, block);
}

/* Tensor and op arrays are realloc'd as they grow, so they are not in the block list. */
int petal_model_reserve_tensors(petal_model *model, int n)
{
    model_storage *s = model->storage;
    if (n <= s->cap_tensors)
        return 0;
    int cap = s->cap_tensors ? s->cap_tensors : 16;
    while (cap < n)
        cap *= 2;
    petal_tensor *grown = realloc(model->tensors, (size_t)cap * sizeof *grown);
    if (grown == NULL)
        return -1;
    memset(grown + s->cap_tensors, 0, (size_t)(cap - s->cap_tensors) * sizeof *grown);
    model->tensors = grown;
    s->cap_tensors = cap;
    return 0;
}

int petal_model_reserve_ops(petal_model *model, int n)
{
    model_storage *s = model->storage;
    if (n <= s->cap_ops)
        return 0;
    int cap = s->cap_ops ? s->cap_ops : 16;
    while (cap < n)
        cap *= 2;
    petal_op *grown = realloc(model->ops, (size_t)cap * sizeof *grown);
    if (grown == NULL)
        return -1;
    memset(grown + s->cap_ops, 0, (size_t)(cap - s->cap_ops) * sizeof *grown);
    model->ops = grown;
    s->cap_ops = cap;
    return 0;
}

petal_model *petal_model_new(void)
{
    petal_model *m = calloc(1, sizeof *m);
    model_storage *s = calloc(1, sizeof *s);
    if (m == NULL || s == NULL) {
        free(m);
        free(s);
        return NULL;
    }
    m->storage = s;
    m->version = 3;
    m->path = petal_model_strndup(m, "<memory>", (size_t)-1);
    if (m->path == NULL) {
        petal_model_free(m);
        return NULL;
    }
    return m;
}

void petal_model_free(petal_model *model)
{
    if (model == NULL)
        return;
    model_storage *s = model->storage;
    if (s) {
        for (size_t i = 0; i < s->n_blocks; i++)
            free(s->blocks[i]);
        free(s->blocks);
        free(s);
    }
    free(model->tensors);
    free(model->ops);
    free(model);
}

int petal_model_add_tensor(petal_model *model, const char *name, petal_dtype type, int rank,
                           const int *shape, const void *data, size_t data_size,
                           const petal_quant *quant)
{
    if (rank < 0 || rank > PETAL_MAX_RANK ||
        petal_model_reserve_tensors(model, model->n_tensors + 1))
        return -1;
    petal_tensor *t = &model->tensors[model->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = petal_model_strndup(model, name ? name : "", (size_t)-1);
    t->type = type;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->shape[i] = shape[i];
    if (t->name == NULL)
        return -1;
    if (data != NULL) {
        uint8_t *copy = petal_model_alloc(model, data_size);
        if (copy == NULL)
            return -1;
        memcpy(copy, data, data_size);
        t->data = copy;
        t->data_size = data_size;
    }
    if (quant != NULL && quant->n > 0) {
        t->quant.n = quant->n;
        t->quant.axis = quant->axis;
        t->quant.scale = petal_model_alloc(model, (size_t)quant->n * sizeof(float));
        t->quant.zero_point = petal_model_alloc(model, (size_t)quant->n * sizeof(int64_t));
        if (t->quant.scale == NULL || t->quant.zero_point == NULL)
            return -1;
        memcpy(t->quant.scale, quant->scale, (size_t)quant->n * sizeof(float));
        if (quant->zero_point)
            memcpy(t->quant.zero_point, quant->zero_point, (size_t)quant->n * sizeof(int64_t));
    }
    return model->n_tensors++;
}

int petal_model_add_op(petal_model *model, int code, int version, const int *inputs, int n_inputs,
                       const int *outputs, int n_outputs, const petal_op_options *opt)
{
    if (n_inputs < 0 || n_outputs < 0 || petal_model_reserve_ops(model, model->n_ops + 1))
        return -1;
    petal_op *op = &model->ops[model->n_ops];
    memset(op, 0, sizeof *op);
    op->code = code;
    op->version = version > 0 ? version : 1;
    op->n_inputs = n_inputs;
    op->n_outputs = n_outputs;
    op->inputs = petal_model_alloc(model, (size_t)n_inputs * sizeof(int));
    op->outputs = petal_model_alloc(model, (size_t)n_outputs * sizeof(int));
    if (op->inputs == NULL || op->outputs == NULL)
        return -1;
    memcpy(op->inputs, inputs, (size_t)n_inputs * sizeof(int));
    memcpy(op->outputs, outputs, (size_t)n_outputs * sizeof(int));
    if (opt)
        op->opt = *opt;
    if (op->opt.dilation_w == 0)
        op->opt.dilation_w = 1;
    if (op->opt.dilation_h == 0)
        op->opt.dilation_h = 1;
    return model->n_ops++;
}

petal_status petal_model_set_io(petal_model *model, const int *inputs, int n_inputs,
                                const int *outputs, int n_outputs, petal_error *err)
{
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] < 0 || inputs[i] >= model->n_tensors)
            return petal_error_set(err, PETAL_ERR_ARG, "%s: input tensor %d does not exist",
                                   model->path, inputs[i]);
    for (int i = 0; i < n_outputs; i++)
        if (outputs[i] < 0 || outputs[i] >= model->n_tensors)
            return petal_error_set(err, PETAL_ERR_ARG, "%s: output tensor %d does not exist",
                                   model->path, outputs[i]);
    int *in = petal_model_alloc(model, (size_t)n_inputs * sizeof(int));
    int *out = petal_model_alloc(model, (size_t)n_outputs * sizeof(int));
    if (in == NULL || out == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", model->path);
    memcpy(in, inputs, (size_t)n_inputs * sizeof(int));
    memcpy(out, outputs, (size_t)n_outputs * sizeof(int));
    model->inputs = in;
    model->n_inputs = n_inputs;
    model->outputs = out;
    model->n_outputs = n_outputs;
    return PETAL_OK;
}

int petal_model_find_tensor(const petal_model *model, const char *name)
{
    for (int i = 0; i < model->n_tensors; i++)
        if (model->tensors[i].name && strcmp(model->tensors[i].name, name) == 0)
            return i;
    return -1;
}

int petal_model_producer(const petal_model *model, int t)
{
    for (int i = 0; i < model->n_ops; i++)
        for (int k = 0; k < model->ops[i].n_outputs; k++)
            if (model->ops[i].outputs[k] == t)
                return i;
    return -1;
}

size_t petal_tensor_elements(const petal_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->shape[i] > 0 ? (size_t)t->shape[i] : 0;
    return n;
}

size_t petal_dtype_size(petal_dtype type)
{
    switch (type) {
    case PETAL_FLOAT32:
    case PETAL_INT32:
        return 4;
    case PETAL_FLOAT16:
    case PETAL_INT16:
        return 2;
    case PETAL_UINT8:
    case PETAL_INT8:
    case PETAL_BOOL:
        return 1;
    case PETAL_INT64:
        return 8;
    case PETAL_STRING:
        return 0;
    }
    return 0;
}

const char *petal_dtype_name(petal_dtype type)
{
    switch (type) {
    case PETAL_FLOAT32:
        return "FLOAT32";
    case PETAL_FLOAT16:
        return "FLOAT16";
    case PETAL_INT32:
        return "INT32";
    case PETAL_UINT8:
        return "UINT8";
    case PETAL_INT64:
        return "INT64";
    case PETAL_STRING:
        return "STRING";
    case PETAL_BOOL:
        return "BOOL";
    case PETAL_INT16:
        return "INT16";
    case PETAL_INT8:
        return "INT8";
    }
    return "UNKNOWN_TYPE";
}

const char *petal_op_name(int code)
{
    static __thread char buf[32];
    switch (code) {
    case PETAL_OP_ADD:
        return "ADD";
    case PETAL_OP_AVERAGE_POOL_2D:
        return "AVERAGE_POOL_2D";
    case PETAL_OP_CONCATENATION:
        return "CONCATENATION";
    case PETAL_OP_CONV_2D:
        return "CONV_2D";
    case PETAL_OP_DEPTHWISE_CONV_2D:
        return "DEPTHWISE_CONV_2D";
    case PETAL_OP_DEQUANTIZE:
        return "DEQUANTIZE";
    case PETAL_OP_FULLY_CONNECTED:
        return "FULLY_CONNECTED";
    case PETAL_OP_LOGISTIC:
        return "LOGISTIC";
    case PETAL_OP_MAX_POOL_2D:
        return "MAX_POOL_2D";
    case PETAL_OP_RESHAPE:
        return "RESHAPE";
    case PETAL_OP_SOFTMAX:
        return "SOFTMAX";
    case PETAL_OP_PAD:
        return "PAD";
    case PETAL_OP_MEAN:
        return "MEAN";
    case PETAL_OP_SQUEEZE:
        return "SQUEEZE";
    case PETAL_OP_QUANTIZE:
        return "QUANTIZE";
    case PETAL_OP_HARD_SWISH:
        return "HARD_SWISH";
    case -1:
        return "CUSTOM";
    }
    snprintf(buf, sizeof buf, "BUILTIN_%d", code);
    return buf;
}
