/* export.c - appends the learned softmax layer to the cut backbone and writes .tflite. */
#include "train/export.h"

#include <stdlib.h>
#include <string.h>

static petal_status oom(petal_model *m, petal_error *err)
{
    petal_model_free(m);
    return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory building the output graph");
}

petal_status petal_export_build(const petal_model *backbone, int bottleneck, const petal_head *head,
                                const char *final_tensor_name, petal_model **out, petal_error *err)
{
    petal_model *m = NULL;
    *out = NULL;
    petal_status st = petal_model_extract(backbone, bottleneck, &m, err);
    if (st != PETAL_OK)
        return st;
    int x = m->outputs[0];
    int N = head->n_features, C = head->n_classes;
    petal_dtype type = m->tensors[x].type;
    int rank = m->tensors[x].rank, shape[PETAL_MAX_RANK];
    memcpy(shape, m->tensors[x].shape, sizeof shape);
    if (petal_tensor_elements(&m->tensors[x]) != (size_t)N) {
        petal_model_free(m);
        return petal_error_set(err, PETAL_ERR_ARG, "%s: bottleneck has %zu values, head %d",
                               backbone->path,
                               petal_tensor_elements(&backbone->tensors[bottleneck]), N);
    }

    /* DEQUANTIZE: the new layer works in float. */
    if (type == PETAL_UINT8 || type == PETAL_INT8) {
        int deq = petal_model_add_tensor(m, "final_retrain_ops/dequantize", PETAL_FLOAT32, rank,
                                         shape, NULL, 0, NULL);
        if (deq < 0 || petal_model_add_op(m, PETAL_OP_DEQUANTIZE, type == PETAL_INT8 ? 2 : 1, &x, 1,
                                          &deq, 1, NULL) < 0)
            return oom(m, err);
        x = deq;
    } else if (type != PETAL_FLOAT32) {
        petal_model_free(m);
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: bottleneck of type %s",
                               backbone->path, petal_dtype_name(type));
    }

    /* RESHAPE to [1, N] (MobileNet's pooling output is [1, 1, 1, N]). */
    if (!(rank == 2 && shape[0] == 1 && shape[1] == N)) {
        int new_shape[2] = {1, N}, two = 2;
        petal_op_options ro;
        memset(&ro, 0, sizeof ro);
        ro.n_new_shape = 2;
        ro.new_shape[0] = 1;
        ro.new_shape[1] = N;
        int s = petal_model_add_tensor(m, "final_retrain_ops/reshape/shape", PETAL_INT32, 1, &two,
                                       new_shape, sizeof new_shape, NULL);
        int r = petal_model_add_tensor(m, "final_retrain_ops/reshape", PETAL_FLOAT32, 2, new_shape,
                                       NULL, 0, NULL);
        int ins[2] = {x, s};
        if (s < 0 || r < 0 || petal_model_add_op(m, PETAL_OP_RESHAPE, 1, ins, 2, &r, 1, &ro) < 0)
            return oom(m, err);
        x = r;
    }

    /* FULLY_CONNECTED with float weights [C, N] and bias [C], then SOFTMAX. */
    int wshape[2] = {C, N}, oshape[2] = {1, C};
    int w = petal_model_add_tensor(m, "final_retrain_ops/weights", PETAL_FLOAT32, 2, wshape,
                                   head->weights, (size_t)C * (size_t)N * sizeof(float), NULL);
    int b = petal_model_add_tensor(m, "final_retrain_ops/biases", PETAL_FLOAT32, 1, &C, head->bias,
                                   (size_t)C * sizeof(float), NULL);
    int logits = petal_model_add_tensor(m, "final_retrain_ops/Wx_plus_b/add", PETAL_FLOAT32, 2,
                                        oshape, NULL, 0, NULL);
    int prob =
        petal_model_add_tensor(m, final_tensor_name, PETAL_FLOAT32, 2, oshape, NULL, 0, NULL);
    if (w < 0 || b < 0 || logits < 0 || prob < 0)
        return oom(m, err);
    petal_op_options fo, so;
    memset(&fo, 0, sizeof fo);
    memset(&so, 0, sizeof so);
    fo.activation = PETAL_ACT_NONE;
    so.beta = 1.0f;
    int fc_in[3] = {x, w, b};
    if (petal_model_add_op(m, PETAL_OP_FULLY_CONNECTED, 1, fc_in, 3, &logits, 1, &fo) < 0 ||
        petal_model_add_op(m, PETAL_OP_SOFTMAX, 1, &logits, 1, &prob, 1, &so) < 0)
        return oom(m, err);

    int *inputs = malloc((size_t)m->n_inputs * sizeof(int));
    if (!inputs)
        return oom(m, err);
    memcpy(inputs, m->inputs, (size_t)m->n_inputs * sizeof(int));
    st = petal_model_set_io(m, inputs, m->n_inputs, &prob, 1, err);
    free(inputs);
    if (st != PETAL_OK) {
        petal_model_free(m);
        return st;
    }
    *out = m;
    return PETAL_OK;
}

petal_status petal_export_save(const petal_model *backbone, int bottleneck, const petal_head *head,
                               const char *final_tensor_name, const char *path, petal_error *err)
{
    petal_model *m = NULL;
    petal_status st = petal_export_build(backbone, bottleneck, head, final_tensor_name, &m, err);
    if (st == PETAL_OK)
        st = petal_model_save(m, path, err);
    petal_model_free(m);
    return st;
}
