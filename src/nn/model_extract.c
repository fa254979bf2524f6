/* model_extract.c - cuts a model at one tensor: the ops needed to compute it from the graph
 * inputs, with their tensors renumbered. `petal train` uses it to keep a backbone up to its
 * bottleneck before appending the retrained head. */
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "nn/model_internal.h"

/* Marks the ops (need_op) and tensors (need_tensor) that computing `output` requires,
 * walking the ops backwards from the last one. */
static void mark_needed(const petal_model *src, int output, char *need_op, char *need_tensor)
{
    need_tensor[output] = 1;
    for (int i = src->n_ops - 1; i >= 0; i--) {
        const petal_op *op = &src->ops[i];
        int used = 0;
        for (int k = 0; k < op->n_outputs; k++)
            used |= need_tensor[op->outputs[k]];
        if (!used)
            continue;
        need_op[i] = 1;
        for (int k = 0; k < op->n_outputs; k++)
            need_tensor[op->outputs[k]] = 1;
        for (int k = 0; k < op->n_inputs; k++)
            if (op->inputs[k] >= 0)
                need_tensor[op->inputs[k]] = 1;
    }
}

/* Every needed tensor must be a constant, a graph input or the output of a kept op. */
static petal_status check_computable(const petal_model *src, const char *need_op,
                                     const char *need_tensor, petal_error *err)
{
    for (int t = 0; t < src->n_tensors; t++) {
        if (!need_tensor[t] || src->tensors[t].data)
            continue;
        int ok = 0;
        for (int i = 0; i < src->n_inputs && !ok; i++)
            ok = src->inputs[i] == t;
        int p = petal_model_producer(src, t);
        ok |= p >= 0 && need_op[p];
        if (!ok)
            return petal_error_set(err, PETAL_ERR_ARG,
                                   "%s: tensor %d \"%s\" is neither a graph input, a constant nor "
                                   "computed by an op",
                                   src->path, t, src->tensors[t].name);
    }
    return PETAL_OK;
}

static petal_status copy_needed(const petal_model *src, int output, const char *need_op,
                                const char *need_tensor, int *map, petal_model *dst,
                                petal_error *err)
{
    for (int t = 0; t < src->n_tensors; t++) {
        map[t] = -1;
        if (!need_tensor[t])
            continue;
        const petal_tensor *x = &src->tensors[t];
        map[t] = petal_model_add_tensor(dst, x->name, x->type, x->rank, x->shape, x->data,
                                        x->data_size, &x->quant);
        if (map[t] < 0)
            return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", src->path);
    }
    for (int i = 0; i < src->n_ops; i++) {
        if (!need_op[i])
            continue;
        const petal_op *op = &src->ops[i];
        int *in = malloc(((size_t)op->n_inputs + 1) * sizeof *in);
        int *out = malloc(((size_t)op->n_outputs + 1) * sizeof *out);
        int k = -1;
        if (in && out) {
            for (int j = 0; j < op->n_inputs; j++)
                in[j] = op->inputs[j] >= 0 ? map[op->inputs[j]] : -1;
            for (int j = 0; j < op->n_outputs; j++)
                out[j] = map[op->outputs[j]];
            k = petal_model_add_op(dst, op->code, op->version, in, op->n_inputs, out, op->n_outputs,
                                   &op->opt);
        }
        free(in);
        free(out);
        if (k < 0)
            return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", src->path);
        if (op->custom_code) {
            dst->ops[k].custom_code = petal_model_strndup(dst, op->custom_code, (size_t)-1);
            if (dst->ops[k].custom_code == NULL)
                return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", src->path);
        }
    }

    int *inputs = malloc(((size_t)src->n_inputs + 1) * sizeof *inputs);
    if (inputs == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", src->path);
    int n_inputs = 0;
    for (int i = 0; i < src->n_inputs; i++)
        if (need_tensor[src->inputs[i]])
            inputs[n_inputs++] = map[src->inputs[i]];
    int out_index = map[output];
    petal_status st = petal_model_set_io(dst, inputs, n_inputs, &out_index, 1, err);
    free(inputs);
    return st;
}

petal_status petal_model_extract(const petal_model *src, int output, petal_model **out,
                                 petal_error *err)
{
    *out = NULL;
    if (output < 0 || output >= src->n_tensors)
        return petal_error_set(err, PETAL_ERR_ARG, "%s: tensor %d does not exist (%d tensors)",
                               src->path, output, src->n_tensors);
    size_t n = (size_t)src->n_tensors + (size_t)src->n_ops + 1;
    char *need = calloc(n, 1);
    int *map = malloc(((size_t)src->n_tensors + 1) * sizeof *map);
    petal_model *dst = petal_model_new();
    petal_status st = PETAL_OK;
    if (need == NULL || map == NULL || dst == NULL) {
        st = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", src->path);
        goto done;
    }
    char *need_tensor = need, *need_op = need + src->n_tensors;
    mark_needed(src, output, need_op, need_tensor);
    st = check_computable(src, need_op, need_tensor, err);
    if (st == PETAL_OK)
        st = copy_needed(src, output, need_op, need_tensor, map, dst, err);
    if (st == PETAL_OK && src->description) {
        dst->description = petal_model_strndup(dst, src->description, (size_t)-1);
        if (dst->description == NULL)
            st = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", src->path);
    }

done:
    free(need);
    free(map);
    if (st != PETAL_OK) {
        petal_model_free(dst);
        return st;
    }
    dst->version = src->version ? src->version : 3;
    *out = dst;
    return PETAL_OK;
}
