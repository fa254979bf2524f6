/* exec_ref.c - the reference executor: every operator as plain float loops over NHWC tensors,
 * written to be obviously right rather than fast. The optimized backends are tested against it.
 *
 * Every tensor the plan touches gets one float buffer holding its real (dequantized) values.
 * Constant tensors (weights, biases) are dequantized once at create; the graph input is
 * dequantized from its own bytes at each run. After each operator whose output tensor is
 * uint8/int8 with per-tensor quantization, the values are rounded and clamped to that tensor's
 * quantized grid ("fake quantization"), so the float results track what an integer runtime
 * computes. Measured on the six shared photos against the official interpreter's top-1 scores,
 * the per-channel int8 MobileNetV2 is off by 0.013 on average (at most 0.050) with the rounding
 * and by 0.026 (at most 0.066) without it; the uint8 MobileNetV2 by 0.007 (at most 0.019) either
 * way. Weights are float; sums of products are accumulated in double (see dot()).
 *
 * The model file is untrusted: create checks every shape an operator relies on before any run,
 * so a run never reads or writes outside a buffer.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/exec_internal.h"

/* Largest tensor the reference loops accept: 2^28 floats (1 GiB). */
#define REF_MAX_ELEMENTS ((size_t)1 << 28)

typedef struct ref_state {
    petal_plan plan;
    float **buf;   /* per tensor: real values, or NULL when the plan does not use it */
    size_t *count; /* elements of each buffer */
} ref_state;

/* ---- Helpers ------------------------------------------------------------------------ */

static const petal_tensor *tensor(const ref_state *s, int t)
{
    return &s->plan.model->tensors[t];
}

static petal_status op_error(const ref_state *s, int index, petal_status code, const char *what,
                             petal_error *err)
{
    const petal_op *op = &s->plan.model->ops[index];
    return petal_error_set(err, code, "%s: operator %d (%s): %s", s->plan.model->path, index,
                           petal_op_name(op->code), what);
}

static float activate(petal_activation act, float x)
{
    switch (act) {
    case PETAL_ACT_RELU:
        return x < 0 ? 0 : x;
    case PETAL_ACT_RELU_N1_TO_1:
        return x < -1 ? -1 : x > 1 ? 1 : x;
    case PETAL_ACT_RELU6:
        return x < 0 ? 0 : x > 6 ? 6 : x;
    case PETAL_ACT_TANH:
        return tanhf(x);
    case PETAL_ACT_NONE:
        break;
    }
    return x;
}

static int activation_known(petal_activation act)
{
    return act == PETAL_ACT_NONE || act == PETAL_ACT_RELU || act == PETAL_ACT_RELU_N1_TO_1 ||
           act == PETAL_ACT_RELU6 || act == PETAL_ACT_TANH;
}

/* Output size of a window sliding over `in` values, as TFLite computes it, and the padding
 * before the first value (SAME pads the total evenly, the odd one after). */
static int window_out(petal_padding padding, int in, int filter, int stride, int dilation,
                      int *pad_before)
{
    int eff = (filter - 1) * dilation + 1;
    int out = padding == PETAL_PAD_SAME ? (in + stride - 1) / stride
                                        : (in < eff ? 0 : (in - eff + stride) / stride);
    long total = (long)(out - 1) * stride + eff - in;
    *pad_before = total > 0 ? (int)(total / 2) : 0;
    return out;
}

/* Reads element i of a constant integer tensor (int32 or int64), for axes and paddings. */
static int const_int(const petal_tensor *t, size_t i, long long *v)
{
    size_t esize = petal_dtype_size(t->type);
    if (t->data == NULL || (t->type != PETAL_INT32 && t->type != PETAL_INT64) ||
        t->data_size < (i + 1) * esize)
        return -1;
    if (t->type == PETAL_INT32) {
        int32_t x;
        memcpy(&x, t->data + 4 * i, 4);
        *v = x;
    } else {
        int64_t x;
        memcpy(&x, t->data + 8 * i, 8);
        *v = x;
    }
    return 0;
}

/* Rounds values to the quantized grid of tensor t (uint8/int8, per-tensor), in place. */
static void snap_to_grid(const petal_tensor *t, float *v, size_t n)
{
    if ((t->type != PETAL_UINT8 && t->type != PETAL_INT8) || t->quant.n != 1 ||
        !(t->quant.scale[0] > 0))
        return;
    double scale = t->quant.scale[0];
    double zero = (double)t->quant.zero_point[0];
    double lo = t->type == PETAL_UINT8 ? 0.0 : -128.0;
    double hi = t->type == PETAL_UINT8 ? 255.0 : 127.0;
    for (size_t i = 0; i < n; i++) {
        double q = nearbyint(v[i] / scale) + zero;
        q = q < lo ? lo : q > hi ? hi : q;
        v[i] = (float)(scale * (q - zero));
    }
}

/* Sum of a[i] * b[i] in double: products of quantized values then add up almost exactly, as
 * an integer runtime's int32 sums do, so the rounding to the next layer's grid lands on the same
 * step regardless of summation order. Four running sums keep several multiplies in flight. */
static double dot(const float *a, const float *b, int n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)a[i] * b[i];
        s1 += (double)a[i + 1] * b[i + 1];
        s2 += (double)a[i + 2] * b[i + 2];
        s3 += (double)a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += (double)a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* Splits a linear index into coordinates of a shape (row-major). */
static void unravel(size_t i, int rank, const int *shape, int *idx)
{
    for (int d = rank - 1; d >= 0; d--) {
        idx[d] = (int)(i % (size_t)shape[d]);
        i /= (size_t)shape[d];
    }
}

/* ---- Checks done once at create ----------------------------------------------------- */

static int n_data_inputs(const petal_op *op)
{
    switch (op->code) {
    case PETAL_OP_CONV_2D:
    case PETAL_OP_DEPTHWISE_CONV_2D:
    case PETAL_OP_FULLY_CONNECTED:
        return op->n_inputs < 3 ? op->n_inputs : 3;
    case PETAL_OP_ADD:
        return 2;
    case PETAL_OP_CONCATENATION:
        return op->n_inputs;
    default:
        return 1; /* MEAN axes, PAD paddings and RESHAPE shapes are read from constants */
    }
}

static int min_inputs(int code)
{
    switch (code) {
    case PETAL_OP_CONV_2D:
    case PETAL_OP_DEPTHWISE_CONV_2D:
    case PETAL_OP_FULLY_CONNECTED:
    case PETAL_OP_ADD:
    case PETAL_OP_MEAN:
    case PETAL_OP_PAD:
        return 2;
    default:
        return 1;
    }
}

static int op_supported(int code)
{
    switch (code) {
    case PETAL_OP_ADD:
    case PETAL_OP_AVERAGE_POOL_2D:
    case PETAL_OP_CONCATENATION:
    case PETAL_OP_CONV_2D:
    case PETAL_OP_DEPTHWISE_CONV_2D:
    case PETAL_OP_DEQUANTIZE:
    case PETAL_OP_FULLY_CONNECTED:
    case PETAL_OP_LOGISTIC:
    case PETAL_OP_MAX_POOL_2D:
    case PETAL_OP_RESHAPE:
    case PETAL_OP_SOFTMAX:
    case PETAL_OP_PAD:
    case PETAL_OP_MEAN:
    case PETAL_OP_SQUEEZE:
    case PETAL_OP_QUANTIZE:
    case PETAL_OP_HARD_SWISH:
        return 1;
    }
    return 0;
}

static int same_count(const ref_state *s, int a, int b)
{
    return petal_tensor_elements(tensor(s, a)) == petal_tensor_elements(tensor(s, b));
}

/* Convolution-like ops: input [N,H,W,C] and output [N,OH,OW,OC] with OH, OW as the window
 * options compute them. */
static const char *check_window(const ref_state *s, const petal_op *op, int kh, int kw, int oc)
{
    const petal_tensor *in = tensor(s, op->inputs[0]), *out = tensor(s, op->outputs[0]);
    const petal_op_options *o = &op->opt;
    if (in->rank != 4 || out->rank != 4)
        return "input and output must be 4-D (NHWC)";
    if (o->stride_h < 1 || o->stride_w < 1 || o->dilation_h < 1 || o->dilation_w < 1 ||
        o->stride_h > 1024 || o->stride_w > 1024 || o->dilation_h > 1024 || o->dilation_w > 1024)
        return "strides and dilations must be between 1 and 1024";
    if (kh < 1 || kw < 1)
        return "the window is empty";
    /* Bounded so that every coordinate the loops compute fits an int. */
    if ((long long)(kh - 1) * o->dilation_h >= 65536 ||
        (long long)(kw - 1) * o->dilation_w >= 65536)
        return "the window is larger than 65536";
    if (o->padding != PETAL_PAD_SAME && o->padding != PETAL_PAD_VALID)
        return "unknown padding";
    int pad;
    int oh = window_out(o->padding, in->shape[1], kh, o->stride_h, o->dilation_h, &pad);
    int ow = window_out(o->padding, in->shape[2], kw, o->stride_w, o->dilation_w, &pad);
    if (out->shape[0] != in->shape[0] || out->shape[1] != oh || out->shape[2] != ow ||
        out->shape[3] != oc)
        return "the output shape does not match the input, window, strides and padding";
    if (!activation_known(o->activation))
        return "unknown fused activation";
    return NULL;
}

static const char *check_bias(const ref_state *s, const petal_op *op, int oc)
{
    if (op->n_inputs < 3 || op->inputs[2] < 0)
        return NULL;
    if (petal_tensor_elements(tensor(s, op->inputs[2])) != (size_t)oc)
        return "the bias size does not match the output channels";
    return NULL;
}

static const char *check_broadcast(const ref_state *s, const petal_op *op)
{
    const petal_tensor *out = tensor(s, op->outputs[0]);
    for (int k = 0; k < 2; k++) {
        const petal_tensor *in = tensor(s, op->inputs[k]);
        if (in->rank > out->rank)
            return "an input has more dimensions than the output";
        for (int d = 0; d < in->rank; d++) {
            int od = out->shape[out->rank - in->rank + d];
            if (in->shape[d] != od && in->shape[d] != 1)
                return "the input shapes do not broadcast to the output shape";
        }
    }
    for (int d = 0; d < out->rank; d++) {
        int need = 1;
        for (int k = 0; k < 2; k++) {
            const petal_tensor *in = tensor(s, op->inputs[k]);
            int di = d - (out->rank - in->rank);
            if (di >= 0 && in->shape[di] > need)
                need = in->shape[di];
        }
        if (out->shape[d] != need)
            return "the output shape is not the broadcast of the input shapes";
    }
    return activation_known(op->opt.activation) ? NULL : "unknown fused activation";
}

/* Reads and normalizes the reduced axes of MEAN into mask[]. */
static const char *mean_axes(const ref_state *s, const petal_op *op, int *mask)
{
    const petal_tensor *in = tensor(s, op->inputs[0]), *ax = tensor(s, op->inputs[1]);
    size_t n = petal_tensor_elements(ax);
    memset(mask, 0, PETAL_MAX_RANK * sizeof(int));
    if (ax->data == NULL || n > PETAL_MAX_RANK)
        return "the axes must be a constant int32 tensor of at most 6 values";
    for (size_t i = 0; i < n; i++) {
        long long a;
        if (const_int(ax, i, &a) != 0)
            return "the axes must be a constant int32 tensor of at most 6 values";
        if (a < 0)
            a += in->rank;
        if (a < 0 || a >= in->rank)
            return "an axis is out of range";
        mask[a] = 1;
    }
    return NULL;
}

static const char *check_mean(const ref_state *s, const petal_op *op)
{
    int mask[PETAL_MAX_RANK];
    const char *why = mean_axes(s, op, mask);
    if (why)
        return why;
    const petal_tensor *in = tensor(s, op->inputs[0]);
    size_t kept = 1;
    for (int d = 0; d < in->rank; d++)
        if (!mask[d])
            kept *= (size_t)in->shape[d];
    if (petal_tensor_elements(tensor(s, op->outputs[0])) != kept)
        return "the output size does not match the reduced input";
    return NULL;
}

static const char *pad_amounts(const ref_state *s, const petal_op *op, int *before, int *after)
{
    const petal_tensor *in = tensor(s, op->inputs[0]), *p = tensor(s, op->inputs[1]);
    if (p->data == NULL || petal_tensor_elements(p) != (size_t)in->rank * 2)
        return "the paddings must be a constant [rank, 2] integer tensor";
    for (int d = 0; d < in->rank; d++) {
        long long b, a;
        if (const_int(p, 2 * (size_t)d, &b) || const_int(p, 2 * (size_t)d + 1, &a))
            return "the paddings must be a constant [rank, 2] integer tensor";
        if (b < 0 || a < 0 || b > 65536 || a > 65536)
            return "a padding is negative or too large";
        before[d] = (int)b;
        after[d] = (int)a;
    }
    return NULL;
}

static const char *check_pad(const ref_state *s, const petal_op *op)
{
    int before[PETAL_MAX_RANK], after[PETAL_MAX_RANK];
    const char *why = pad_amounts(s, op, before, after);
    if (why)
        return why;
    const petal_tensor *in = tensor(s, op->inputs[0]), *out = tensor(s, op->outputs[0]);
    if (out->rank != in->rank)
        return "the output rank differs from the input rank";
    for (int d = 0; d < in->rank; d++)
        if (out->shape[d] != in->shape[d] + before[d] + after[d])
            return "the output shape does not match the input plus the paddings";
    return NULL;
}

static const char *check_concat(const ref_state *s, const petal_op *op)
{
    const petal_tensor *out = tensor(s, op->outputs[0]);
    int axis = op->opt.axis < 0 ? op->opt.axis + out->rank : op->opt.axis;
    if (axis < 0 || axis >= out->rank)
        return "the axis is out of range";
    long sum = 0;
    for (int k = 0; k < op->n_inputs; k++) {
        const petal_tensor *in = tensor(s, op->inputs[k]);
        if (in->rank != out->rank)
            return "the inputs must have the output's rank";
        for (int d = 0; d < out->rank; d++)
            if (d != axis && in->shape[d] != out->shape[d])
                return "the inputs differ from the output outside the axis";
        sum += in->shape[axis];
    }
    if (sum != out->shape[axis])
        return "the output size along the axis is not the sum of the inputs";
    return activation_known(op->opt.activation) ? NULL : "unknown fused activation";
}

/* Checks an op's shapes and options against what its loops will index; NULL if fine. */
static const char *check_op(const ref_state *s, const petal_op *op)
{
    const petal_tensor *in = tensor(s, op->inputs[0]), *out = tensor(s, op->outputs[0]);
    switch (op->code) {
    case PETAL_OP_CONV_2D: {
        const petal_tensor *w = tensor(s, op->inputs[1]);
        if (w->rank != 4 || in->rank != 4 || w->shape[3] != in->shape[3])
            return "the weights must be [out, h, w, in] with the input's channel count";
        const char *why = check_window(s, op, w->shape[1], w->shape[2], w->shape[0]);
        return why ? why : check_bias(s, op, w->shape[0]);
    }
    case PETAL_OP_DEPTHWISE_CONV_2D: {
        const petal_tensor *w = tensor(s, op->inputs[1]);
        if (w->rank != 4 || w->shape[0] != 1 || in->rank != 4 || in->shape[3] < 1 ||
            w->shape[3] % in->shape[3] != 0)
            return "the weights must be [1, h, w, channels * multiplier]";
        if (op->opt.depth_multiplier > 0 && w->shape[3] != in->shape[3] * op->opt.depth_multiplier)
            return "the weights do not have input channels * depth_multiplier outputs";
        const char *why = check_window(s, op, w->shape[1], w->shape[2], w->shape[3]);
        return why ? why : check_bias(s, op, w->shape[3]);
    }
    case PETAL_OP_AVERAGE_POOL_2D:
    case PETAL_OP_MAX_POOL_2D:
        if (in->rank != 4)
            return "the input must be 4-D (NHWC)";
        if (op->opt.dilation_h != 1 || op->opt.dilation_w != 1)
            return "pooling takes no dilation";
        return check_window(s, op, op->opt.filter_h, op->opt.filter_w, in->shape[3]);
    case PETAL_OP_FULLY_CONNECTED: {
        const petal_tensor *w = tensor(s, op->inputs[1]);
        if (w->rank != 2 || w->shape[1] < 1 || petal_tensor_elements(in) % w->shape[1] != 0)
            return "the weights must be [out, in] with the input a multiple of in";
        size_t batch = petal_tensor_elements(in) / (size_t)w->shape[1];
        if (petal_tensor_elements(out) != batch * (size_t)w->shape[0])
            return "the output size is not batch * weight rows";
        if (!activation_known(op->opt.activation))
            return "unknown fused activation";
        return check_bias(s, op, w->shape[0]);
    }
    case PETAL_OP_ADD:
        return check_broadcast(s, op);
    case PETAL_OP_MEAN:
        return check_mean(s, op);
    case PETAL_OP_PAD:
        return check_pad(s, op);
    case PETAL_OP_CONCATENATION:
        return check_concat(s, op);
    case PETAL_OP_SOFTMAX:
        if (in->rank < 1 || in->shape[in->rank - 1] < 1)
            return "the input has no last dimension";
        return same_count(s, op->inputs[0], op->outputs[0]) ? NULL
                                                            : "input and output sizes differ";
    default: /* element-wise and copying ops */
        return same_count(s, op->inputs[0], op->outputs[0]) ? NULL
                                                            : "input and output sizes differ";
    }
}

/* ---- Operators ---------------------------------------------------------------------- */

/* CONV_2D (depthwise == 0) and DEPTHWISE_CONV_2D (depthwise == 1) over NHWC. */
static void run_conv(const ref_state *s, const petal_op *op, int depthwise)
{
    const petal_tensor *ti = tensor(s, op->inputs[0]), *tw = tensor(s, op->inputs[1]);
    const petal_tensor *to = tensor(s, op->outputs[0]);
    const float *in = s->buf[op->inputs[0]], *w = s->buf[op->inputs[1]];
    const float *bias = op->n_inputs > 2 && op->inputs[2] >= 0 ? s->buf[op->inputs[2]] : NULL;
    float *out = s->buf[op->outputs[0]];
    const petal_op_options *o = &op->opt;
    int n = ti->shape[0], h = ti->shape[1], wd = ti->shape[2], c = ti->shape[3];
    int kh = tw->shape[1], kw = tw->shape[2];
    int oh = to->shape[1], ow = to->shape[2], oc = to->shape[3];
    int mult = depthwise ? oc / c : 1;
    int pad_h, pad_w;
    window_out(o->padding, h, kh, o->stride_h, o->dilation_h, &pad_h);
    window_out(o->padding, wd, kw, o->stride_w, o->dilation_w, &pad_w);

    for (int b = 0; b < n; b++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                for (int k = 0; k < oc; k++) {
                    double acc = bias ? bias[k] : 0.0;
                    for (int fy = 0; fy < kh; fy++) {
                        int iy = y * o->stride_h - pad_h + fy * o->dilation_h;
                        if (iy < 0 || iy >= h)
                            continue;
                        for (int fx = 0; fx < kw; fx++) {
                            int ix = x * o->stride_w - pad_w + fx * o->dilation_w;
                            if (ix < 0 || ix >= wd)
                                continue;
                            const float *px = in + (((size_t)b * h + iy) * wd + ix) * c;
                            if (depthwise) {
                                acc += (double)px[k / mult] * w[((size_t)fy * kw + fx) * oc + k];
                            } else {
                                acc += dot(px, w + (((size_t)k * kh + fy) * kw + fx) * c, c);
                            }
                        }
                    }
                    out[(((size_t)b * oh + y) * ow + x) * oc + k] =
                        activate(o->activation, (float)acc);
                }
}

/* AVERAGE_POOL_2D averages the window's values inside the input (padding is not counted);
 * MAX_POOL_2D takes their maximum. */
static void run_pool(const ref_state *s, const petal_op *op, int is_max)
{
    const petal_tensor *ti = tensor(s, op->inputs[0]), *to = tensor(s, op->outputs[0]);
    const float *in = s->buf[op->inputs[0]];
    float *out = s->buf[op->outputs[0]];
    const petal_op_options *o = &op->opt;
    int n = ti->shape[0], h = ti->shape[1], wd = ti->shape[2], c = ti->shape[3];
    int oh = to->shape[1], ow = to->shape[2];
    int pad_h, pad_w;
    window_out(o->padding, h, o->filter_h, o->stride_h, 1, &pad_h);
    window_out(o->padding, wd, o->filter_w, o->stride_w, 1, &pad_w);

    for (int b = 0; b < n; b++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                for (int k = 0; k < c; k++) {
                    float acc = is_max ? -INFINITY : 0.0f;
                    int count = 0;
                    for (int fy = 0; fy < o->filter_h; fy++) {
                        int iy = y * o->stride_h - pad_h + fy;
                        if (iy < 0 || iy >= h)
                            continue;
                        for (int fx = 0; fx < o->filter_w; fx++) {
                            int ix = x * o->stride_w - pad_w + fx;
                            if (ix < 0 || ix >= wd)
                                continue;
                            float v = in[(((size_t)b * h + iy) * wd + ix) * c + k];
                            acc = is_max ? (v > acc ? v : acc) : acc + v;
                            count++;
                        }
                    }
                    if (!is_max)
                        acc = count > 0 ? acc / (float)count : 0.0f;
                    else if (count == 0)
                        acc = 0.0f;
                    out[(((size_t)b * oh + y) * ow + x) * c + k] = activate(o->activation, acc);
                }
}

static void run_fully_connected(const ref_state *s, const petal_op *op)
{
    const petal_tensor *tw = tensor(s, op->inputs[1]);
    const float *in = s->buf[op->inputs[0]], *w = s->buf[op->inputs[1]];
    const float *bias = op->n_inputs > 2 && op->inputs[2] >= 0 ? s->buf[op->inputs[2]] : NULL;
    float *out = s->buf[op->outputs[0]];
    int rows = tw->shape[0], cols = tw->shape[1];
    size_t batch = s->count[op->inputs[0]] / (size_t)cols;

    for (size_t b = 0; b < batch; b++)
        for (int r = 0; r < rows; r++) {
            double acc = (bias ? bias[r] : 0.0) + dot(in + b * cols, w + (size_t)r * cols, cols);
            out[b * rows + r] = activate(op->opt.activation, (float)acc);
        }
}

/* Offset into a (right-aligned, broadcast) input of the output coordinate idx. */
static size_t broadcast_offset(const petal_tensor *in, int out_rank, const int *idx)
{
    size_t off = 0;
    for (int d = 0; d < in->rank; d++) {
        int od = d + out_rank - in->rank;
        off = off * (size_t)in->shape[d] + (in->shape[d] == 1 ? 0 : (size_t)idx[od]);
    }
    return off;
}

static void run_add(const ref_state *s, const petal_op *op)
{
    const petal_tensor *ta = tensor(s, op->inputs[0]), *tb = tensor(s, op->inputs[1]);
    const petal_tensor *to = tensor(s, op->outputs[0]);
    const float *a = s->buf[op->inputs[0]], *b = s->buf[op->inputs[1]];
    float *out = s->buf[op->outputs[0]];
    size_t n = s->count[op->outputs[0]];
    if (s->count[op->inputs[0]] == n && s->count[op->inputs[1]] == n) {
        for (size_t i = 0; i < n; i++)
            out[i] = activate(op->opt.activation, a[i] + b[i]);
        return;
    }
    int idx[PETAL_MAX_RANK];
    for (size_t i = 0; i < n; i++) {
        unravel(i, to->rank, to->shape, idx);
        float v = a[broadcast_offset(ta, to->rank, idx)] + b[broadcast_offset(tb, to->rank, idx)];
        out[i] = activate(op->opt.activation, v);
    }
}

static void run_mean(const ref_state *s, const petal_op *op)
{
    const petal_tensor *ti = tensor(s, op->inputs[0]);
    const float *in = s->buf[op->inputs[0]];
    float *out = s->buf[op->outputs[0]];
    size_t n_in = s->count[op->inputs[0]], n_out = s->count[op->outputs[0]];
    int mask[PETAL_MAX_RANK], idx[PETAL_MAX_RANK];
    mean_axes(s, op, mask);

    for (size_t i = 0; i < n_out; i++)
        out[i] = 0.0f;
    for (size_t i = 0; i < n_in; i++) {
        unravel(i, ti->rank, ti->shape, idx);
        size_t o = 0;
        for (int d = 0; d < ti->rank; d++)
            if (!mask[d])
                o = o * (size_t)ti->shape[d] + (size_t)idx[d];
        out[o] += in[i];
    }
    size_t per = n_out > 0 ? n_in / n_out : 1;
    for (size_t i = 0; i < n_out; i++)
        out[i] /= (float)(per > 0 ? per : 1);
}

static void run_softmax(const ref_state *s, const petal_op *op)
{
    const petal_tensor *ti = tensor(s, op->inputs[0]);
    const float *in = s->buf[op->inputs[0]];
    float *out = s->buf[op->outputs[0]];
    size_t depth = (size_t)ti->shape[ti->rank - 1];
    size_t rows = s->count[op->inputs[0]] / depth;
    float beta = op->opt.beta != 0.0f ? op->opt.beta : 1.0f;

    for (size_t r = 0; r < rows; r++) {
        const float *x = in + r * depth;
        float *y = out + r * depth;
        float max = x[0];
        for (size_t k = 1; k < depth; k++)
            max = x[k] > max ? x[k] : max;
        double sum = 0;
        for (size_t k = 0; k < depth; k++) {
            y[k] = expf(beta * (x[k] - max));
            sum += y[k];
        }
        for (size_t k = 0; k < depth; k++)
            y[k] = (float)(y[k] / sum);
    }
}

static void run_concat(const ref_state *s, const petal_op *op)
{
    const petal_tensor *to = tensor(s, op->outputs[0]);
    float *out = s->buf[op->outputs[0]];
    int axis = op->opt.axis < 0 ? op->opt.axis + to->rank : op->opt.axis;
    size_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= (size_t)to->shape[d];
    for (int d = axis + 1; d < to->rank; d++)
        inner *= (size_t)to->shape[d];

    size_t o = 0;
    for (size_t b = 0; b < outer; b++)
        for (int k = 0; k < op->n_inputs; k++) {
            size_t len = (size_t)tensor(s, op->inputs[k])->shape[axis] * inner;
            const float *src = s->buf[op->inputs[k]] + b * len;
            for (size_t i = 0; i < len; i++)
                out[o++] = activate(op->opt.activation, src[i]);
        }
}

static void run_pad(const ref_state *s, const petal_op *op)
{
    const petal_tensor *ti = tensor(s, op->inputs[0]), *to = tensor(s, op->outputs[0]);
    const float *in = s->buf[op->inputs[0]];
    float *out = s->buf[op->outputs[0]];
    int before[PETAL_MAX_RANK], after[PETAL_MAX_RANK], idx[PETAL_MAX_RANK];
    pad_amounts(s, op, before, after);

    /* Padding is real zero, which is the zero point of a quantized tensor. */
    for (size_t i = 0; i < s->count[op->outputs[0]]; i++)
        out[i] = 0.0f;
    for (size_t i = 0; i < s->count[op->inputs[0]]; i++) {
        unravel(i, ti->rank, ti->shape, idx);
        size_t o = 0;
        for (int d = 0; d < ti->rank; d++)
            o = o * (size_t)to->shape[d] + (size_t)(idx[d] + before[d]);
        out[o] = in[i];
    }
}

static void run_elementwise(const ref_state *s, const petal_op *op)
{
    const float *in = s->buf[op->inputs[0]];
    float *out = s->buf[op->outputs[0]];
    size_t n = s->count[op->outputs[0]];
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        if (op->code == PETAL_OP_LOGISTIC)
            out[i] = 1.0f / (1.0f + expf(-x));
        else if (op->code == PETAL_OP_HARD_SWISH)
            out[i] = x * (x <= -3 ? 0.0f : x >= 3 ? 1.0f : (x + 3) / 6.0f);
        else /* RESHAPE, SQUEEZE, QUANTIZE, DEQUANTIZE: the real values are unchanged */
            out[i] = x;
    }
}

static void run_op(const ref_state *s, const petal_op *op)
{
    switch (op->code) {
    case PETAL_OP_CONV_2D:
        run_conv(s, op, 0);
        break;
    case PETAL_OP_DEPTHWISE_CONV_2D:
        run_conv(s, op, 1);
        break;
    case PETAL_OP_AVERAGE_POOL_2D:
        run_pool(s, op, 0);
        break;
    case PETAL_OP_MAX_POOL_2D:
        run_pool(s, op, 1);
        break;
    case PETAL_OP_FULLY_CONNECTED:
        run_fully_connected(s, op);
        break;
    case PETAL_OP_ADD:
        run_add(s, op);
        break;
    case PETAL_OP_MEAN:
        run_mean(s, op);
        break;
    case PETAL_OP_SOFTMAX:
        run_softmax(s, op);
        break;
    case PETAL_OP_CONCATENATION:
        run_concat(s, op);
        break;
    case PETAL_OP_PAD:
        run_pad(s, op);
        break;
    default:
        run_elementwise(s, op);
        break;
    }
    const petal_tensor *to = tensor(s, op->outputs[0]);
    snap_to_grid(to, s->buf[op->outputs[0]], s->count[op->outputs[0]]);
}

/* ---- Backend entry points ----------------------------------------------------------- */

static void ref_destroy(void *state)
{
    ref_state *s = state;
    if (s == NULL)
        return;
    if (s->buf)
        for (int t = 0; t < s->plan.model->n_tensors; t++)
            free(s->buf[t]);
    free(s->buf);
    free(s->count);
    free(s);
}

static int is_activation_type(petal_dtype type)
{
    return type == PETAL_FLOAT32 || type == PETAL_UINT8 || type == PETAL_INT8;
}

/* Gives tensor t a zeroed float buffer of its element count. */
static petal_status alloc_buffer(ref_state *s, int t, petal_error *err)
{
    const petal_model *m = s->plan.model;
    const petal_tensor *pt = tensor(s, t);
    size_t n = 1;
    for (int d = 0; d < pt->rank; d++) {
        if (pt->shape[d] < 0 || (pt->shape[d] > 0 && n > REF_MAX_ELEMENTS / (size_t)pt->shape[d]))
            return petal_error_set(err, PETAL_ERR_FORMAT,
                                   "%s: tensor %d (%s) has a negative or too large shape", m->path,
                                   t, pt->name);
        n *= (size_t)pt->shape[d];
    }
    s->buf[t] = calloc(n ? n : 1, sizeof(float));
    s->count[t] = n;
    if (s->buf[t] == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory for tensor %s", m->path,
                               pt->name);
    return PETAL_OK;
}

/* Makes sure a data input of op `index` has values: the graph input, an earlier op's output or
 * a constant (dequantized now). */
static petal_status bind_input(ref_state *s, int index, int t, petal_error *err)
{
    const petal_model *m = s->plan.model;
    if (t < 0 || t >= m->n_tensors)
        return op_error(s, index, PETAL_ERR_FORMAT, "an input tensor index is out of range", err);
    if (s->buf[t] != NULL)
        return PETAL_OK;
    const petal_tensor *pt = tensor(s, t);
    if (pt->data == NULL) {
        char what[256];
        snprintf(what, sizeof what, "reads tensor %d (%s) before any operator computes it", t,
                 pt->name);
        return op_error(s, index, PETAL_ERR_FORMAT, what, err);
    }
    petal_status st = alloc_buffer(s, t, err); /* checks the shape */
    if (st != PETAL_OK)
        return st;
    float *v = petal_tensor_dequantize(m, pt, err);
    if (v == NULL)
        return err ? err->code : PETAL_ERR_FORMAT;
    free(s->buf[t]);
    s->buf[t] = v;
    return PETAL_OK;
}

static petal_status check_types(ref_state *s, int index, const petal_op *op, petal_error *err)
{
    for (int k = 0; k < n_data_inputs(op) + op->n_outputs; k++) {
        int t = k < n_data_inputs(op) ? op->inputs[k] : op->outputs[k - n_data_inputs(op)];
        if (t < 0)
            continue;
        const petal_tensor *pt = tensor(s, t);
        int constant = pt->data != NULL && k < n_data_inputs(op);
        if (constant ? pt->type == PETAL_INT32 || is_activation_type(pt->type)
                     : is_activation_type(pt->type))
            continue;
        char what[256];
        snprintf(what, sizeof what, "tensor %d (%s) has type %s, which is not supported", t,
                 pt->name, petal_dtype_name(pt->type));
        return op_error(s, index, PETAL_ERR_UNSUPPORTED, what, err);
    }
    return PETAL_OK;
}

static petal_status plan_op(ref_state *s, int index, petal_error *err)
{
    const petal_model *m = s->plan.model;
    const petal_op *op = &m->ops[index];
    if (!op_supported(op->code))
        return petal_error_set(
            err, PETAL_ERR_UNSUPPORTED,
            "%s: operator %d (%s%s%s) is not supported by the reference executor", m->path, index,
            petal_op_name(op->code), op->code < 0 && op->custom_code ? " " : "",
            op->code < 0 && op->custom_code ? op->custom_code : "");
    if (op->n_outputs != 1 || op->n_inputs < min_inputs(op->code))
        return op_error(s, index, PETAL_ERR_FORMAT, "wrong number of inputs or outputs", err);
    for (int k = 0; k < min_inputs(op->code); k++)
        if (op->inputs[k] < 0)
            return op_error(s, index, PETAL_ERR_FORMAT, "a required input is missing", err);
    if (op->code == PETAL_OP_CONCATENATION)
        for (int k = 0; k < op->n_inputs; k++)
            if (op->inputs[k] < 0)
                return op_error(s, index, PETAL_ERR_FORMAT, "a required input is missing", err);
    for (int k = 0; k < op->n_inputs; k++)
        if (op->inputs[k] >= m->n_tensors)
            return op_error(s, index, PETAL_ERR_FORMAT, "an input tensor index is out of range",
                            err);
    if (op->outputs[0] < 0 || op->outputs[0] >= m->n_tensors)
        return op_error(s, index, PETAL_ERR_FORMAT, "the output tensor index is out of range", err);
    petal_status st = check_types(s, index, op, err);
    if (st != PETAL_OK)
        return st;
    for (int k = 0; k < n_data_inputs(op); k++)
        if (op->inputs[k] >= 0 && (st = bind_input(s, index, op->inputs[k], err)) != PETAL_OK)
            return st;
    int out = op->outputs[0];
    if (s->buf[out] != NULL || tensor(s, out)->data != NULL)
        return op_error(s, index, PETAL_ERR_FORMAT, "its output is a constant or is computed twice",
                        err);
    if ((st = alloc_buffer(s, out, err)) != PETAL_OK)
        return st;
    const char *why = check_op(s, op);
    return why ? op_error(s, index, PETAL_ERR_FORMAT, why, err) : PETAL_OK;
}

static petal_status ref_create(const petal_plan *plan, void **state, petal_error *err)
{
    *state = NULL;
    const petal_model *m = plan->model;
    ref_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", m->path);
    s->plan = *plan;
    s->buf = calloc((size_t)m->n_tensors, sizeof *s->buf);
    s->count = calloc((size_t)m->n_tensors, sizeof *s->count);
    petal_status st = PETAL_OK;
    if (s->buf == NULL || s->count == NULL)
        st = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", m->path);
    if (st == PETAL_OK)
        st = alloc_buffer(s, plan->input, err);
    for (int i = 0; i < plan->n_ops && st == PETAL_OK; i++)
        st = plan_op(s, plan->ops[i], err);
    if (st == PETAL_OK && s->buf[plan->output] == NULL)
        st = petal_error_set(err, PETAL_ERR_ARG, "%s: tensor %d (%s) is not computed", m->path,
                             plan->output, tensor(s, plan->output)->name);
    if (st != PETAL_OK) {
        ref_destroy(s);
        return st;
    }
    *state = s;
    return PETAL_OK;
}

/* Dequantizes the graph input from the bytes of its own type. */
static void load_input(ref_state *s, const void *input)
{
    const petal_tensor *t = tensor(s, s->plan.input);
    float *dst = s->buf[s->plan.input];
    size_t n = s->count[s->plan.input];
    if (t->type == PETAL_FLOAT32) {
        memcpy(dst, input, n * sizeof(float));
        return;
    }
    float scale = t->quant.n > 0 ? t->quant.scale[0] : 1.0f;
    float zero = t->quant.n > 0 ? (float)t->quant.zero_point[0] : 0.0f;
    const uint8_t *u = input;
    const int8_t *i8 = input;
    for (size_t i = 0; i < n; i++)
        dst[i] = scale * ((t->type == PETAL_UINT8 ? (float)u[i] : (float)i8[i]) - zero);
}

static petal_status ref_run(void *state, const void *input, float *output, petal_error *err)
{
    ref_state *s = state;
    (void)err;
    load_input(s, input);
    for (int i = 0; i < s->plan.n_ops; i++)
        run_op(s, &s->plan.model->ops[s->plan.ops[i]]);
    memcpy(output, s->buf[s->plan.output], s->count[s->plan.output] * sizeof(float));
    return PETAL_OK;
}

const petal_backend_impl petal_backend_reference_impl = {"reference", ref_create, ref_run,
                                                         ref_destroy};
