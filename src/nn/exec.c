/* exec.c - the executor front end: picks the ops an output needs, chooses a backend,
 * converts inputs to the model's input type and hands runs to the backend. */
#include "nn/exec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/exec_internal.h"
#include "util/fs.h"
#include "util/log.h"

struct petal_exec {
    const petal_model *model;
    const petal_backend_impl *impl;
    petal_backend backend;
    void *state;
    int *ops;
    petal_plan plan;
    uint8_t *input; /* the input tensor's bytes in its own type */
    size_t input_bytes;
    float *output;
    size_t output_n;
    double macs;
};

petal_exec_options petal_exec_defaults(void)
{
    petal_exec_options o = {PETAL_BACKEND_AUTO, 0, -1};
    return o;
}

const char *petal_backend_name(petal_backend backend)
{
    switch (backend) {
    case PETAL_BACKEND_AUTO:
        return "auto";
    case PETAL_BACKEND_REFERENCE:
        return "reference";
    case PETAL_BACKEND_DNNL_F32:
        return "onednn-f32";
    case PETAL_BACKEND_DNNL_INT8:
        return "onednn-int8";
    }
    return "unknown";
}

int petal_backend_parse(const char *name, petal_backend *out)
{
    static const struct {
        const char *name;
        petal_backend backend;
    } names[] = {{"auto", PETAL_BACKEND_AUTO},     {"reference", PETAL_BACKEND_REFERENCE},
                 {"ref", PETAL_BACKEND_REFERENCE}, {"onednn-f32", PETAL_BACKEND_DNNL_F32},
                 {"f32", PETAL_BACKEND_DNNL_F32},  {"onednn-int8", PETAL_BACKEND_DNNL_INT8},
                 {"int8", PETAL_BACKEND_DNNL_INT8}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].backend;
            return 0;
        }
    }
    return -1;
}

static const petal_backend_impl *backend_impl(petal_backend backend)
{
    switch (backend) {
    case PETAL_BACKEND_REFERENCE:
        return &petal_backend_reference_impl;
    case PETAL_BACKEND_DNNL_F32:
        return &petal_backend_dnnl_f32_impl;
    case PETAL_BACKEND_DNNL_INT8:
        return &petal_backend_dnnl_int8_impl;
    case PETAL_BACKEND_AUTO:
        break;
    }
    return NULL;
}

/* Marks the ops needed to compute tensor `output` and lists them in model order. Returns the
 * count, or -1 if the output is neither a graph input nor produced by an op. */
static int needed_ops(const petal_model *m, int output, int *list)
{
    char *need_tensor = calloc((size_t)m->n_tensors, 1);
    char *need_op = calloc((size_t)m->n_ops + 1, 1);
    int count = 0;
    if (need_tensor == NULL || need_op == NULL)
        goto done;
    need_tensor[output] = 1;
    /* Ops are in execution order, so one backward sweep finds every producer needed. */
    for (int i = m->n_ops - 1; i >= 0; i--) {
        const petal_op *op = &m->ops[i];
        int used = 0;
        for (int k = 0; k < op->n_outputs; k++)
            if (op->outputs[k] >= 0 && op->outputs[k] < m->n_tensors && need_tensor[op->outputs[k]])
                used = 1;
        if (!used)
            continue;
        need_op[i] = 1;
        for (int k = 0; k < op->n_inputs; k++)
            if (op->inputs[k] >= 0 && op->inputs[k] < m->n_tensors)
                need_tensor[op->inputs[k]] = 1;
    }
    for (int i = 0; i < m->n_ops; i++)
        if (need_op[i])
            list[count++] = i;
done:
    free(need_tensor);
    free(need_op);
    return count;
}

static double op_macs(const petal_model *m, const petal_op *op)
{
    if (op->n_inputs < 2 || op->n_outputs < 1 || op->inputs[1] < 0)
        return 0;
    const petal_tensor *w = &m->tensors[op->inputs[1]];
    const petal_tensor *out = &m->tensors[op->outputs[0]];
    double n_out = (double)petal_tensor_elements(out);
    switch (op->code) {
    case PETAL_OP_CONV_2D: /* weights [cout, kh, kw, cin] */
        return w->rank == 4 ? n_out * w->shape[1] * w->shape[2] * w->shape[3] : 0;
    case PETAL_OP_DEPTHWISE_CONV_2D: /* weights [1, kh, kw, cout] */
        return w->rank == 4 ? n_out * w->shape[1] * w->shape[2] : 0;
    case PETAL_OP_FULLY_CONNECTED: /* weights [cout, cin] */
        return w->rank == 2 ? n_out * w->shape[1] : 0;
    }
    return 0;
}

static petal_status create_backend(petal_exec *e, petal_backend backend, petal_error *err)
{
    const petal_backend_impl *impl = backend_impl(backend);
    if (impl == NULL)
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED, "backend %s is not available",
                               petal_backend_name(backend));
    petal_status s = impl->create(&e->plan, &e->state, err);
    if (s == PETAL_OK) {
        e->impl = impl;
        e->backend = backend;
    }
    return s;
}

static int model_is_quantized(const petal_model *m)
{
    for (int i = 0; i < m->n_ops; i++) {
        const petal_op *op = &m->ops[i];
        if ((op->code == PETAL_OP_CONV_2D || op->code == PETAL_OP_DEPTHWISE_CONV_2D) &&
            op->n_inputs > 1 && op->inputs[1] >= 0) {
            petal_dtype t = m->tensors[op->inputs[1]].type;
            return t == PETAL_UINT8 || t == PETAL_INT8;
        }
    }
    return 0;
}

petal_status petal_exec_create(const petal_model *model, const petal_exec_options *opts,
                               petal_exec **out, petal_error *err)
{
    *out = NULL;
    petal_exec_options o = opts ? *opts : petal_exec_defaults();
    if (model->n_inputs != 1)
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED,
                               "%s: the graph has %d inputs; petal runs single-input models",
                               model->path, model->n_inputs);
    int output = o.output >= 0 ? o.output : (model->n_outputs > 0 ? model->outputs[0] : -1);
    if (output < 0 || output >= model->n_tensors)
        return petal_error_set(err, PETAL_ERR_ARG, "%s: output tensor %d does not exist",
                               model->path, output);
    int input = model->inputs[0];
    const petal_tensor *in = &model->tensors[input];
    if (in->type != PETAL_UINT8 && in->type != PETAL_INT8 && in->type != PETAL_FLOAT32)
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: input type %s is not supported",
                               model->path, petal_dtype_name(in->type));

    petal_exec *e = calloc(1, sizeof *e);
    if (e == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", model->path);
    e->model = model;
    e->ops = malloc(((size_t)model->n_ops + 1) * sizeof(int));
    e->input_bytes = petal_tensor_elements(in) * petal_dtype_size(in->type);
    e->output_n = petal_tensor_elements(&model->tensors[output]);
    e->input = calloc(e->input_bytes ? e->input_bytes : 1, 1);
    e->output = calloc(e->output_n ? e->output_n : 1, sizeof(float));
    if (e->ops == NULL || e->input == NULL || e->output == NULL) {
        petal_exec_free(e);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", model->path);
    }
    int n_ops = needed_ops(model, output, e->ops);
    if (n_ops == 0 && output != input) {
        petal_exec_free(e);
        return petal_error_set(err, PETAL_ERR_ARG,
                               "%s: tensor %d (%s) is not computed by the graph", model->path,
                               output, model->tensors[output].name);
    }
    for (int i = 0; i < n_ops; i++)
        e->macs += op_macs(model, &model->ops[e->ops[i]]);
    e->plan = (petal_plan){model, e->ops, n_ops,
                           input, output, o.threads > 0 ? o.threads : petal_cpu_count()};

    petal_status s;
    if (o.backend != PETAL_BACKEND_AUTO) {
        s = create_backend(e, o.backend, err);
    } else {
        /* The int8 path is faster on quantized models; fall back step by step when a backend
         * cannot run a model (an operator it lacks), ending at the reference loops. */
        petal_backend order[3] = {PETAL_BACKEND_DNNL_INT8, PETAL_BACKEND_DNNL_F32,
                                  PETAL_BACKEND_REFERENCE};
        int first = model_is_quantized(model) ? 0 : 1;
        s = PETAL_ERR_UNSUPPORTED;
        for (int i = first; i < 3 && s != PETAL_OK; i++) {
            s = create_backend(e, order[i], err);
            if (s != PETAL_OK && i < 2)
                petal_debug("%s backend declined: %s", petal_backend_name(order[i]), err->msg);
        }
    }
    if (s != PETAL_OK) {
        petal_exec_free(e);
        return s;
    }
    *out = e;
    return PETAL_OK;
}

void petal_exec_free(petal_exec *exec)
{
    if (exec == NULL)
        return;
    if (exec->impl && exec->state)
        exec->impl->destroy(exec->state);
    free(exec->ops);
    free(exec->input);
    free(exec->output);
    free(exec);
}

petal_backend petal_exec_backend(const petal_exec *exec)
{
    return exec->backend;
}

const petal_tensor *petal_exec_input_tensor(const petal_exec *exec)
{
    return &exec->model->tensors[exec->plan.input];
}

void petal_exec_input_size(const petal_exec *exec, int *height, int *width, int *channels)
{
    const petal_tensor *t = petal_exec_input_tensor(exec);
    int r = t->rank;
    *height = r >= 3 ? t->shape[r - 3] : 1;
    *width = r >= 2 ? t->shape[r - 2] : 1;
    *channels = r >= 1 ? t->shape[r - 1] : 1;
}

petal_status petal_exec_set_input_rgb(petal_exec *exec, const uint8_t *rgb, float mean, float std,
                                      petal_error *err)
{
    const petal_tensor *t = petal_exec_input_tensor(exec);
    size_t n = petal_tensor_elements(t);
    int h, w, c;
    petal_exec_input_size(exec, &h, &w, &c);
    if (c != 3 || (size_t)h * w * 3 != n)
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED,
                               "%s: input tensor %s is not a single RGB image", exec->model->path,
                               t->name);
    if (t->type == PETAL_UINT8) {
        memcpy(exec->input, rgb, n);
    } else if (t->type == PETAL_INT8) {
        int8_t *dst = (int8_t *)exec->input;
        for (size_t i = 0; i < n; i++)
            dst[i] = (int8_t)((int)rgb[i] - 128);
    } else {
        float *dst = (float *)exec->input;
        float inv = std != 0 ? 1.0f / std : 1.0f;
        for (size_t i = 0; i < n; i++)
            dst[i] = ((float)rgb[i] - mean) * inv;
    }
    return PETAL_OK;
}

petal_status petal_exec_set_input_float(petal_exec *exec, const float *values, size_t n,
                                        petal_error *err)
{
    const petal_tensor *t = petal_exec_input_tensor(exec);
    if (n != petal_tensor_elements(t))
        return petal_error_set(err, PETAL_ERR_ARG, "%s: input needs %zu values, got %zu",
                               exec->model->path, petal_tensor_elements(t), n);
    if (t->type == PETAL_FLOAT32) {
        memcpy(exec->input, values, n * sizeof(float));
        return PETAL_OK;
    }
    float scale = t->quant.n > 0 ? t->quant.scale[0] : 1.0f;
    int64_t zero = t->quant.n > 0 ? t->quant.zero_point[0] : 0;
    int lo = t->type == PETAL_UINT8 ? 0 : -128, hi = t->type == PETAL_UINT8 ? 255 : 127;
    for (size_t i = 0; i < n; i++) {
        long q = lrintf(values[i] / scale) + (long)zero;
        q = q < lo ? lo : q > hi ? hi : q;
        if (t->type == PETAL_UINT8)
            exec->input[i] = (uint8_t)q;
        else
            ((int8_t *)exec->input)[i] = (int8_t)q;
    }
    return PETAL_OK;
}

petal_status petal_exec_run(petal_exec *exec, petal_error *err)
{
    return exec->impl->run(exec->state, exec->input, exec->output, err);
}

const float *petal_exec_output(const petal_exec *exec, size_t *n)
{
    *n = exec->output_n;
    return exec->output;
}

double petal_exec_macs(const petal_exec *exec)
{
    return exec->macs;
}

float *petal_tensor_dequantize(const petal_model *model, const petal_tensor *t, petal_error *err)
{
    size_t n = petal_tensor_elements(t);
    size_t esize = petal_dtype_size(t->type);
    if (t->data == NULL || esize == 0 || t->data_size < n * esize) {
        petal_error_set(err, PETAL_ERR_FORMAT, "%s: tensor %s has no constant data of %zu bytes",
                        model->path, t->name, n * esize);
        return NULL;
    }
    float *out = malloc((n ? n : 1) * sizeof(float));
    if (out == NULL) {
        petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory for tensor %s", model->path,
                        t->name);
        return NULL;
    }
    /* Per-channel quantization: the channel of element i along `axis` is
     * (i / inner) % dim, with inner the product of the dimensions after axis. */
    size_t inner = 1, dim = 1;
    if (t->quant.n > 1 && t->quant.axis >= 0 && t->quant.axis < t->rank) {
        for (int d = t->quant.axis + 1; d < t->rank; d++)
            inner *= (size_t)t->shape[d];
        dim = (size_t)t->shape[t->quant.axis];
        if (dim != (size_t)t->quant.n) {
            free(out);
            petal_error_set(err, PETAL_ERR_FORMAT, "%s: tensor %s has %d scales for %zu channels",
                            model->path, t->name, t->quant.n, dim);
            return NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t ch = t->quant.n > 1 ? (i / inner) % dim : 0;
        float scale = t->quant.n > 0 ? t->quant.scale[ch] : 1.0f;
        float zero = t->quant.n > 0 ? (float)t->quant.zero_point[ch] : 0.0f;
        float v;
        switch (t->type) {
        case PETAL_FLOAT32:
            memcpy(&v, t->data + 4 * i, 4);
            out[i] = v;
            continue;
        case PETAL_UINT8:
            v = (float)t->data[i];
            break;
        case PETAL_INT8:
            v = (float)(int8_t)t->data[i];
            break;
        case PETAL_INT32: {
            int32_t q;
            memcpy(&q, t->data + 4 * i, 4);
            v = (float)q;
            break;
        }
        default:
            free(out);
            petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: tensor %s has unsupported type %s",
                            model->path, t->name, petal_dtype_name(t->type));
            return NULL;
        }
        out[i] = t->quant.n > 0 ? scale * (v - zero) : v;
    }
    return out;
}
