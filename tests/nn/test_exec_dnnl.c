/* test_exec_dnnl.c - the oneDNN executor (fp32 and int8) against plain float loops on small
 * random models built in memory, and against the reference executor on the shared
 * MobileNets. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"

#include "image/image.h"
#include "nn/exec.h"
#include "nn/exec_internal.h"
#include "nn/model.h"
#include "util/log.h"

/* ---- Random numbers and model building ----------------------------------------------- */

static uint32_t rng_state = 12345;

static float frand(float lo, float hi)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(rng_state >> 8) / (float)(1u << 24);
}

typedef struct builder {
    petal_model *m;
    int quantized; /* uint8 weights and activations, int32 biases */
} builder;

/* Activations of quantized models: real = 0.05 * (q - 128), about [-6.4, 6.35]. */
#define ACT_SCALE 0.05f
#define ACT_ZERO  128

static int act_tensor(builder *b, const char *name, int rank, const int *shape)
{
    float scale = ACT_SCALE;
    int64_t zero = ACT_ZERO;
    petal_quant q = {1, &scale, &zero, 0};
    return petal_model_add_tensor(b->m, name, b->quantized ? PETAL_UINT8 : PETAL_FLOAT32, rank,
                                  shape, NULL, 0, b->quantized ? &q : NULL);
}

/* A constant weight tensor of random values in [-r, r] (uint8 with one scale and a zero
 * point when quantized). */
static int weight_tensor(builder *b, const char *name, int rank, const int *shape, float r)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)shape[i];
    if (!b->quantized) {
        float *w = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            w[i] = frand(-r, r);
        int t = petal_model_add_tensor(b->m, name, PETAL_FLOAT32, rank, shape, w, n * 4, NULL);
        free(w);
        return t;
    }
    float scale = 2 * r / 255.0f;
    int64_t zero = 120; /* asymmetric, as TF1 quantization-aware models are */
    petal_quant q = {1, &scale, &zero, 0};
    uint8_t *w = malloc(n);
    for (size_t i = 0; i < n; i++)
        w[i] = (uint8_t)frand(0, 255.99f);
    int t = petal_model_add_tensor(b->m, name, PETAL_UINT8, rank, shape, w, n, &q);
    free(w);
    return t;
}

static int bias_tensor(builder *b, const char *name, int n, float r, float in_scale, int w_t)
{
    int shape[1] = {n};
    if (!b->quantized) {
        float *v = malloc((size_t)n * sizeof(float));
        for (int i = 0; i < n; i++)
            v[i] = frand(-r, r);
        int t = petal_model_add_tensor(b->m, name, PETAL_FLOAT32, 1, shape, v, (size_t)n * 4, NULL);
        free(v);
        return t;
    }
    float scale = in_scale * b->m->tensors[w_t].quant.scale[0];
    int64_t zero = 0;
    petal_quant q = {1, &scale, &zero, 0};
    int32_t *v = malloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++)
        v[i] = (int32_t)lrintf(frand(-r, r) / scale);
    int t = petal_model_add_tensor(b->m, name, PETAL_INT32, 1, shape, v, (size_t)n * 4, &q);
    free(v);
    return t;
}

static int add_conv(builder *b, int x, int cout, int k, int stride, petal_padding pad, int dw,
                    petal_activation act)
{
    const petal_tensor *xt = &b->m->tensors[x];
    int n = xt->shape[0], h = xt->shape[1], w = xt->shape[2], c = xt->shape[3];
    int oh = pad == PETAL_PAD_SAME ? (h + stride - 1) / stride : (h - k) / stride + 1;
    int ow = pad == PETAL_PAD_SAME ? (w + stride - 1) / stride : (w - k) / stride + 1;
    int wshape[4] = {dw ? 1 : cout, k, k, dw ? cout : c};
    float r = 1.5f / sqrtf((float)(k * k * (dw ? 1 : c)));
    int wt = weight_tensor(b, "w", 4, wshape, r);
    int bt = bias_tensor(b, "b", cout, 0.3f, ACT_SCALE, wt);
    int yshape[4] = {n, oh, ow, cout};
    int y = act_tensor(b, "conv", 4, yshape);
    petal_op_options o = {0};
    o.padding = pad;
    o.stride_h = o.stride_w = stride;
    o.depth_multiplier = dw ? cout / c : 0;
    o.activation = act;
    int in[3] = {x, wt, bt};
    petal_model_add_op(b->m, dw ? PETAL_OP_DEPTHWISE_CONV_2D : PETAL_OP_CONV_2D, 1, in, 3, &y, 1,
                       &o);
    return y;
}

static int add_binary_add(builder *b, int x1, int x2, petal_activation act)
{
    int shape[4]; /* copied: adding a tensor may move the tensor array */
    memcpy(shape, b->m->tensors[x1].shape, sizeof shape);
    int y = act_tensor(b, "add", 4, shape);
    petal_op_options o = {0};
    o.activation = act;
    int in[2] = {x1, x2};
    petal_model_add_op(b->m, PETAL_OP_ADD, 1, in, 2, &y, 1, &o);
    return y;
}

/* The small test network: conv SAME, depthwise stride 2, an inverted residual block with an
 * ADD, a VALID stride-2 conv, average pooling, MEAN, FULLY_CONNECTED and SOFTMAX. Returns the
 * model; *pooled gets the MEAN output (a "bottleneck"). */
static petal_model *build_net(int quantized, int add_act, int *pooled)
{
    builder b = {petal_model_new(), quantized};
    int ishape[4] = {1, 13, 13, 3};
    int x = act_tensor(&b, "input", 4, ishape);
    int c1 = add_conv(&b, x, 16, 3, 1, PETAL_PAD_SAME, 0, PETAL_ACT_RELU6);
    int d1 = add_conv(&b, c1, 16, 3, 2, PETAL_PAD_SAME, 1, PETAL_ACT_RELU6); /* 7x7x16 */
    int e1 = add_conv(&b, d1, 32, 1, 1, PETAL_PAD_SAME, 0, PETAL_ACT_RELU6); /* expand */
    int d2 = add_conv(&b, e1, 32, 3, 1, PETAL_PAD_SAME, 1, PETAL_ACT_RELU6); /* depthwise */
    int p1 = add_conv(&b, d2, 16, 1, 1, PETAL_PAD_SAME, 0, PETAL_ACT_NONE);  /* project */
    int a1 = add_binary_add(&b, d1, p1, add_act);                            /* residual */
    int c2 = add_conv(&b, a1, 24, 3, 2, PETAL_PAD_VALID, 0, PETAL_ACT_RELU); /* 3x3x24 */
    int d3 = add_conv(&b, c2, 48, 3, 1, PETAL_PAD_SAME, 1, PETAL_ACT_RELU6); /* multiplier 2 */
    int pshape[4] = {1, 2, 2, 48};
    int pool = act_tensor(&b, "avgpool", 4, pshape);
    petal_op_options po = {0};
    po.padding = PETAL_PAD_VALID;
    po.stride_h = po.stride_w = 1;
    po.filter_h = po.filter_w = 2;
    petal_model_add_op(b.m, PETAL_OP_AVERAGE_POOL_2D, 1, &d3, 1, &pool, 1, &po);
    int axes_shape[1] = {2};
    int32_t axes[2] = {1, 2};
    int axes_t = petal_model_add_tensor(b.m, "axes", PETAL_INT32, 1, axes_shape, axes, 8, NULL);
    int mshape[2] = {1, 48};
    int mean = act_tensor(&b, "mean", 2, mshape);
    petal_op_options mo = {0};
    int min[2] = {pool, axes_t};
    petal_model_add_op(b.m, PETAL_OP_MEAN, 1, min, 2, &mean, 1, &mo);
    int fshape[2] = {10, 48};
    int fw = weight_tensor(&b, "fc_w", 2, fshape, 0.4f);
    int fb = bias_tensor(&b, "fc_b", 10, 0.3f, ACT_SCALE, fw);
    int lshape[2] = {1, 10};
    int logits = act_tensor(&b, "logits", 2, lshape);
    int fin[3] = {mean, fw, fb};
    petal_op_options fo = {0};
    petal_model_add_op(b.m, PETAL_OP_FULLY_CONNECTED, 1, fin, 3, &logits, 1, &fo);
    int prob;
    if (quantized) {
        float sc = 1.0f / 256;
        int64_t z = 0;
        petal_quant q = {1, &sc, &z, 0};
        prob = petal_model_add_tensor(b.m, "prob", PETAL_UINT8, 2, lshape, NULL, 0, &q);
    } else {
        prob = petal_model_add_tensor(b.m, "prob", PETAL_FLOAT32, 2, lshape, NULL, 0, NULL);
    }
    petal_op_options so = {0};
    so.beta = 1.0f;
    petal_model_add_op(b.m, PETAL_OP_SOFTMAX, 1, &logits, 1, &prob, 1, &so);
    petal_error err = {0};
    assert_int_equal(petal_model_set_io(b.m, &x, 1, &prob, 1, &err), PETAL_OK);
    *pooled = mean;
    return b.m;
}

/* ---- Plain float loops: the expected values ------------------------------------------- */

static float act_apply(float v, petal_activation a)
{
    if (a == PETAL_ACT_RELU)
        return v > 0 ? v : 0;
    if (a == PETAL_ACT_RELU6)
        return v < 0 ? 0 : v > 6 ? 6 : v;
    return v;
}

static float *deq(const petal_model *m, int t)
{
    petal_error err = {0};
    float *v = petal_tensor_dequantize(m, &m->tensors[t], &err);
    assert_non_null(v);
    return v;
}

static void loop_conv(const petal_model *m, const petal_op *op, float **val)
{
    const petal_tensor *x = &m->tensors[op->inputs[0]], *y = &m->tensors[op->outputs[0]];
    const petal_tensor *wt = &m->tensors[op->inputs[1]];
    int dw = op->code == PETAL_OP_DEPTHWISE_CONV_2D;
    int h = x->shape[1], w = x->shape[2], c = x->shape[3];
    int oh = y->shape[1], ow = y->shape[2], o = y->shape[3], kh = wt->shape[1], kw = wt->shape[2];
    int s = op->opt.stride_h;
    int pt = 0, pleft = 0;
    if (op->opt.padding == PETAL_PAD_SAME) {
        int th = (oh - 1) * s + kh - h, tw = (ow - 1) * s + kw - w;
        pt = th > 0 ? th / 2 : 0;
        pleft = tw > 0 ? tw / 2 : 0;
    }
    float *wv = deq(m, op->inputs[1]), *bv = deq(m, op->inputs[2]);
    float *in = val[op->inputs[0]], *out = malloc((size_t)oh * ow * o * sizeof(float));
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
            for (int oc = 0; oc < o; oc++) {
                double acc = bv[oc];
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++) {
                        int iy = oy * s + ky - pt, ix = ox * s + kx - pleft;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                            continue;
                        const float *px = in + ((size_t)iy * w + ix) * c;
                        if (dw)
                            acc += px[oc / (o / c)] * wv[((size_t)ky * kw + kx) * o + oc];
                        else
                            for (int ic = 0; ic < c; ic++)
                                acc += px[ic] * wv[(((size_t)oc * kh + ky) * kw + kx) * c + ic];
                    }
                out[((size_t)oy * ow + ox) * o + oc] = act_apply((float)acc, op->opt.activation);
            }
    free(wv);
    free(bv);
    val[op->outputs[0]] = out;
}

/* Runs the network op by op in double-checked float loops; val[t] gets each tensor. */
static float **loop_run(const petal_model *m, const float *input)
{
    float **val = calloc((size_t)m->n_tensors, sizeof(float *));
    size_t nin = petal_tensor_elements(&m->tensors[m->inputs[0]]);
    val[m->inputs[0]] = malloc(nin * sizeof(float));
    memcpy(val[m->inputs[0]], input, nin * sizeof(float));
    for (int i = 0; i < m->n_ops; i++) {
        const petal_op *op = &m->ops[i];
        const petal_tensor *x = &m->tensors[op->inputs[0]], *y = &m->tensors[op->outputs[0]];
        size_t ny = petal_tensor_elements(y);
        float *in = val[op->inputs[0]], *out;
        switch (op->code) {
        case PETAL_OP_CONV_2D:
        case PETAL_OP_DEPTHWISE_CONV_2D:
            loop_conv(m, op, val);
            continue;
        case PETAL_OP_ADD:
            out = malloc(ny * sizeof(float));
            for (size_t k = 0; k < ny; k++)
                out[k] = act_apply(in[k] + val[op->inputs[1]][k], op->opt.activation);
            break;
        case PETAL_OP_AVERAGE_POOL_2D: { /* VALID, stride 1 in these tests */
            int w = x->shape[2], c = x->shape[3], oh = y->shape[1], ow = y->shape[2];
            int fh = op->opt.filter_h, fw = op->opt.filter_w;
            out = calloc(ny, sizeof(float));
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int ch = 0; ch < c; ch++) {
                        float sum = 0;
                        for (int ky = 0; ky < fh; ky++)
                            for (int kx = 0; kx < fw; kx++)
                                sum += in[((size_t)(oy + ky) * w + ox + kx) * c + ch];
                        out[((size_t)oy * ow + ox) * c + ch] = sum / (float)(fh * fw);
                    }
            break;
        }
        case PETAL_OP_MEAN: {
            int hw = x->shape[1] * x->shape[2], c = x->shape[3];
            out = calloc(ny, sizeof(float));
            for (int p = 0; p < hw; p++)
                for (int ch = 0; ch < c; ch++)
                    out[ch] += in[(size_t)p * c + ch] / (float)hw;
            break;
        }
        case PETAL_OP_FULLY_CONNECTED: {
            const petal_tensor *wt = &m->tensors[op->inputs[1]];
            int o = wt->shape[0], ic = wt->shape[1];
            float *wv = deq(m, op->inputs[1]), *bv = deq(m, op->inputs[2]);
            out = malloc(ny * sizeof(float));
            for (int oc = 0; oc < o; oc++) {
                double acc = bv[oc];
                for (int k = 0; k < ic; k++)
                    acc += in[k] * wv[(size_t)oc * ic + k];
                out[oc] = (float)acc;
            }
            free(wv);
            free(bv);
            break;
        }
        case PETAL_OP_SOFTMAX: {
            out = malloc(ny * sizeof(float));
            float mx = in[0], sum = 0;
            for (size_t k = 1; k < ny; k++)
                mx = in[k] > mx ? in[k] : mx;
            for (size_t k = 0; k < ny; k++)
                sum += out[k] = expf(in[k] - mx);
            for (size_t k = 0; k < ny; k++)
                out[k] /= sum;
            break;
        }
        default:
            fail_msg("op %s not in the test loops", petal_op_name(op->code));
            return NULL;
        }
        val[op->outputs[0]] = out;
    }
    return val;
}

static void free_vals(const petal_model *m, float **val)
{
    for (int t = 0; t < m->n_tensors; t++)
        free(val[t]);
    free(val);
}

/* ---- Comparing a backend with the loops ------------------------------------------------ */

static float max_abs_diff(const float *a, const float *b, size_t n)
{
    float d = 0;
    for (size_t i = 0; i < n; i++)
        d = fabsf(a[i] - b[i]) > d ? fabsf(a[i] - b[i]) : d;
    return d;
}

/* Runs backend on model for output tensor `output` (-1: the model's) from the real input
 * values and returns the max abs difference to the loops' value of that tensor. */
static float compare(petal_model *m, petal_backend backend, int output, int threads,
                     const float *input, float **expect)
{
    petal_exec_options o = petal_exec_defaults();
    o.backend = backend;
    o.output = output;
    o.threads = threads;
    petal_exec *e = NULL;
    petal_error err = {0};
    petal_status s = petal_exec_create(m, &o, &e, &err);
    if (s != PETAL_OK)
        fail_msg("create %s: %s", petal_backend_name(backend), err.msg);
    assert_int_equal(petal_exec_backend(e), backend);
    size_t nin = petal_tensor_elements(&m->tensors[m->inputs[0]]);
    assert_int_equal(petal_exec_set_input_float(e, input, nin, &err), PETAL_OK);
    float worst = 0;
    for (int run = 0; run < 2; run++) { /* a second run reuses every buffer */
        assert_int_equal(petal_exec_run(e, &err), PETAL_OK);
        size_t n;
        const float *got = petal_exec_output(e, &n);
        int t = output >= 0 ? output : m->outputs[0];
        assert_int_equal(n, petal_tensor_elements(&m->tensors[t]));
        float d = max_abs_diff(got, expect[t], n);
        worst = d > worst ? d : worst;
    }
    petal_exec_free(e);
    return worst;
}

static void random_input(float *in, size_t n, int quantized)
{
    for (size_t i = 0; i < n; i++) {
        in[i] = frand(-3, 3);
        if (quantized) /* on the input's grid, so that every backend sees the same values */
            in[i] = ACT_SCALE * (float)lrintf(in[i] / ACT_SCALE);
    }
}

/* fp32 on a float model: within 1e-4 of the loops, for the softmax and the pooled
 * features, at 1 and 2 threads, with the residual ADD fused plain and with ReLU6. */
static void test_f32_float_model(void **state)
{
    (void)state;
    for (int add_act = 0; add_act < 2; add_act++) {
        int pooled;
        petal_model *m = build_net(0, add_act ? PETAL_ACT_RELU6 : PETAL_ACT_NONE, &pooled);
        float in[13 * 13 * 3];
        random_input(in, 13 * 13 * 3, 0);
        float **expect = loop_run(m, in);
        for (int threads = 1; threads <= 2; threads++) {
            float d = compare(m, PETAL_BACKEND_DNNL_F32, -1, threads, in, expect);
            float dp = compare(m, PETAL_BACKEND_DNNL_F32, pooled, threads, in, expect);
            print_message("f32 float model: softmax diff %g, pooled diff %g\n", d, dp);
            assert_true(d < 1e-4f);
            assert_true(dp < 1e-4f);
        }
        free_vals(m, expect);
        petal_model_free(m);
    }
}

/* fp32 on a uint8 model (weights dequantized): within 1e-4 of the loops on the dequantized
 * weights. */
static void test_f32_quant_model(void **state)
{
    (void)state;
    int pooled;
    petal_model *m = build_net(1, PETAL_ACT_NONE, &pooled);
    float in[13 * 13 * 3];
    random_input(in, 13 * 13 * 3, 1);
    float **expect = loop_run(m, in);
    float d = compare(m, PETAL_BACKEND_DNNL_F32, -1, 1, in, expect);
    float dp = compare(m, PETAL_BACKEND_DNNL_F32, pooled, 2, in, expect);
    print_message("f32 uint8 model: softmax diff %g, pooled diff %g\n", d, dp);
    assert_true(d < 1e-4f);
    assert_true(dp < 1e-4f);
    free_vals(m, expect);
    petal_model_free(m);
}

/* int8 on a uint8 model: every activation is rounded to a 0.05 grid and the weights are
 * requantized to 7 bits per channel, so each intermediate tensor stays within 3 grid steps
 * of the float loops, the pooled features within 0.1 and the probabilities within 0.02. */
static void test_int8_quant_model(void **state)
{
    (void)state;
    for (int add_act = 0; add_act < 2; add_act++) {
        int pooled;
        petal_model *m = build_net(1, add_act ? PETAL_ACT_RELU6 : PETAL_ACT_NONE, &pooled);
        float in[13 * 13 * 3];
        random_input(in, 13 * 13 * 3, 1);
        float **expect = loop_run(m, in);
        for (int t = 1; t < m->n_tensors; t++) {
            if (petal_model_producer(m, t) < 0 || t == m->outputs[0])
                continue;
            float dt = compare(m, PETAL_BACKEND_DNNL_INT8, t, 1, in, expect);
            if (dt > 3 * ACT_SCALE)
                fail_msg("tensor %d (%s) differs by %g", t, m->tensors[t].name, dt);
        }
        float d = compare(m, PETAL_BACKEND_DNNL_INT8, -1, 1, in, expect);
        float dp = compare(m, PETAL_BACKEND_DNNL_INT8, pooled, 2, in, expect);
        print_message("int8 uint8 model: softmax diff %g, pooled diff %g\n", d, dp);
        assert_true(d < 0.02f);
        assert_true(dp < 0.1f);
        free_vals(m, expect);
        petal_model_free(m);
    }
}

/* The int8 backend declines float models and AUTO then takes fp32; unknown ops are named. */
static void test_declines(void **state)
{
    (void)state;
    int pooled;
    petal_model *m = build_net(0, PETAL_ACT_NONE, &pooled);
    petal_exec_options o = petal_exec_defaults();
    o.backend = PETAL_BACKEND_DNNL_INT8;
    petal_exec *e = NULL;
    petal_error err = {0};
    assert_int_equal(petal_exec_create(m, &o, &e, &err), PETAL_ERR_UNSUPPORTED);
    assert_null(e);
    o.backend = PETAL_BACKEND_AUTO;
    assert_int_equal(petal_exec_create(m, &o, &e, &err), PETAL_OK);
    assert_int_equal(petal_exec_backend(e), PETAL_BACKEND_DNNL_F32);
    petal_exec_free(e);

    /* a LOGISTIC op at the end */
    int shape[2] = {1, 10};
    int y = petal_model_add_tensor(m, "sig", PETAL_FLOAT32, 2, shape, NULL, 0, NULL);
    int x = m->outputs[0];
    petal_model_add_op(m, PETAL_OP_LOGISTIC, 1, &x, 1, &y, 1, NULL);
    int in = m->inputs[0];
    assert_int_equal(petal_model_set_io(m, &in, 1, &y, 1, &err), PETAL_OK);
    o.backend = PETAL_BACKEND_DNNL_F32;
    assert_int_equal(petal_exec_create(m, &o, &e, &err), PETAL_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "LOGISTIC"));
    petal_model_free(m);
}

/* A head of the layer types the small net lacks: conv 1x1, MEAN keeping dims (1x1x1xC),
 * SQUEEZE, then QUANTIZE (float model) or DEQUANTIZE (uint8 model) to a float output, and on
 * the float model a DEQUANTIZE back. Returns the model. */
static petal_model *build_tail_net(int quantized)
{
    builder b = {petal_model_new(), quantized};
    int ishape[4] = {1, 5, 5, 3};
    int x = act_tensor(&b, "input", 4, ishape);
    int c1 = add_conv(&b, x, 16, 1, 1, PETAL_PAD_SAME, 0, PETAL_ACT_RELU6);
    int axes_shape[1] = {2};
    int32_t axes[2] = {1, 2};
    int axes_t = petal_model_add_tensor(b.m, "axes", PETAL_INT32, 1, axes_shape, axes, 8, NULL);
    int mshape[4] = {1, 1, 1, 16};
    int mean = act_tensor(&b, "mean", 4, mshape);
    petal_op_options mo = {0};
    mo.keep_dims = 1;
    int min[2] = {c1, axes_t};
    petal_model_add_op(b.m, PETAL_OP_MEAN, 1, min, 2, &mean, 1, &mo);
    int sshape[2] = {1, 16};
    int sq = act_tensor(&b, "squeeze", 2, sshape);
    petal_op_options so = {0};
    so.n_squeeze_dims = 2;
    so.squeeze_dims[0] = 1;
    so.squeeze_dims[1] = 2;
    petal_model_add_op(b.m, PETAL_OP_SQUEEZE, 1, &mean, 1, &sq, 1, &so);
    int last = sq;
    if (!quantized) {
        float scale = ACT_SCALE;
        int64_t zero = ACT_ZERO;
        petal_quant q = {1, &scale, &zero, 0};
        last = petal_model_add_tensor(b.m, "quantized", PETAL_UINT8, 2, sshape, NULL, 0, &q);
        petal_model_add_op(b.m, PETAL_OP_QUANTIZE, 1, &sq, 1, &last, 1, NULL);
    }
    int y = petal_model_add_tensor(b.m, "features", PETAL_FLOAT32, 2, sshape, NULL, 0, NULL);
    petal_model_add_op(b.m, PETAL_OP_DEQUANTIZE, 1, &last, 1, &y, 1, NULL);
    petal_error err = {0};
    assert_int_equal(petal_model_set_io(b.m, &x, 1, &y, 1, &err), PETAL_OK);
    return b.m;
}

/* Output of `backend` on m from a float input, malloc'd (n values). */
static float *run_float(const petal_model *m, petal_backend backend, const float *in, size_t nin,
                        size_t *n)
{
    petal_exec_options o = petal_exec_defaults();
    o.backend = backend;
    petal_exec *e = NULL;
    petal_error err = {0};
    if (petal_exec_create(m, &o, &e, &err) != PETAL_OK)
        fail_msg("create %s: %s", petal_backend_name(backend), err.msg);
    assert_int_equal(petal_exec_backend(e), backend);
    assert_int_equal(petal_exec_set_input_float(e, in, nin, &err), PETAL_OK);
    assert_int_equal(petal_exec_run(e, &err), PETAL_OK);
    const float *got = petal_exec_output(e, n);
    float *copy = malloc(*n * sizeof(float));
    memcpy(copy, got, *n * sizeof(float));
    petal_exec_free(e);
    return copy;
}

/* MEAN keeping dims, SQUEEZE, QUANTIZE and DEQUANTIZE on both oneDNN backends against the
 * reference executor: the float model's output is on the 0.05 grid, so fp32 matches within
 * one grid step (a rounding tie) and is mostly exact. On the uint8 model the reference rounds
 * the conv and the mean to their grids and fp32 does not: within 2 grid steps, and int8
 * (requantized weights) within 3. */
static void test_squeeze_quantize_dequantize(void **state)
{
    (void)state;
    for (int quantized = 0; quantized < 2; quantized++) {
        petal_model *m = build_tail_net(quantized);
        float in[5 * 5 * 3];
        random_input(in, 5 * 5 * 3, quantized);
        size_t n_ref, n;
        float *ref = run_float(m, PETAL_BACKEND_REFERENCE, in, 75, &n_ref);
        assert_int_equal(n_ref, 16);
        float *f32 = run_float(m, PETAL_BACKEND_DNNL_F32, in, 75, &n);
        assert_int_equal(n, 16);
        float d = max_abs_diff(f32, ref, n);
        int exact = 0;
        for (size_t k = 0; k < n; k++)
            exact += f32[k] == ref[k];
        print_message("%s tail: fp32 diff %g (%d of 16 equal)\n", quantized ? "uint8" : "float", d,
                      exact);
        if (quantized) {
            assert_true(d <= 2 * ACT_SCALE);
            float *i8 = run_float(m, PETAL_BACKEND_DNNL_INT8, in, 75, &n);
            assert_int_equal(n, 16);
            float di = max_abs_diff(i8, ref, n);
            print_message("uint8 tail: int8 diff %g\n", di);
            assert_true(di <= 3 * ACT_SCALE);
            free(i8);
        } else {
            assert_true(d <= ACT_SCALE * 1.001f);
            assert_true(exact >= 14);
            for (size_t k = 0; k < n; k++) /* values on the quantized grid */
                assert_true(fabsf(f32[k] / ACT_SCALE - lrintf(f32[k] / ACT_SCALE)) < 1e-3f);
        }
        free(ref);
        free(f32);
        petal_model_free(m);
    }
}

/* ---- The shared MobileNets ------------------------------------------------------------- */

/* Output of `backend` on the model for tensor `output` (-1: the model's) from a fixed random
 * image; malloc'd, *n gets the count. */
static float *run_model(const petal_model *m, petal_backend backend, int output, size_t *n)
{
    petal_exec_options o = petal_exec_defaults();
    o.backend = backend;
    o.output = output;
    petal_exec *e = NULL;
    petal_error err = {0};
    if (petal_exec_create(m, &o, &e, &err) != PETAL_OK)
        fail_msg("%s on %s: %s", petal_backend_name(backend), m->path, err.msg);
    int h, w, c;
    petal_exec_input_size(e, &h, &w, &c);
    uint8_t *rgb = malloc((size_t)h * w * c);
    rng_state = 99;
    for (int i = 0; i < h * w * c; i++)
        rgb[i] = (uint8_t)frand(0, 255.99f);
    assert_int_equal(petal_exec_set_input_rgb(e, rgb, 127.5f, 127.5f, &err), PETAL_OK);
    assert_int_equal(petal_exec_run(e, &err), PETAL_OK);
    const float *got = petal_exec_output(e, n);
    float *copy = malloc(*n * sizeof(float));
    memcpy(copy, got, *n * sizeof(float));
    free(rgb);
    petal_exec_free(e);
    return copy;
}

typedef struct model_case {
    const char *file;
    const char *bottleneck;    /* or NULL */
    float tol_f32, tol_int8;   /* max abs difference of the (softmax) output */
    float feat_f32, feat_int8; /* of the bottleneck */
} model_case;

/* Both oneDNN backends against the reference executor on one random-noise image: the output
 * (probabilities, or the embedding) and the bottleneck, max abs difference. The reference
 * rounds every activation to its tensor's grid; the fp32 backend does not, and the int8
 * backend rounds too but with requantized weights (per channel, about 7.5 bits, see
 * weights_s8) and without rounding the projection before a residual ADD, so both drift by a
 * few grid steps over 50 layers. Noise images make the largest drift; the tolerances are
 * about twice what was measured (v2 uint8: softmax 0.008 / 0.066, bottleneck 0.29 / 1.2 on
 * values up to 6; v2 int8: 0.066 / 0.16; v1 embedding: 0.18 / 1.08; v1 0.25: 0.007 / 0.022).
 * The photo test below checks what matters to users: top-1 labels and scores. */
static void check_against_reference(const model_case *mc)
{
    const char *path = petal_test_model_path(mc->file);
    if (path == NULL) {
        if (petal_test_in_ci())
            fail_msg("model %s not found (CI=true: a missing model is a failure)", mc->file);
        print_message("skip: model %s not found (set PETAL_MODEL_DIR)\n", mc->file);
        return;
    }
    petal_model *m = NULL;
    petal_error err = {0};
    if (petal_model_load(path, &m, &err) != PETAL_OK)
        fail_msg("%s", err.msg);
    for (int pass = 0; pass < (mc->bottleneck ? 2 : 1); pass++) {
        int t = -1;
        if (pass == 1) {
            t = petal_model_find_tensor(m, mc->bottleneck);
            if (t < 0)
                fail_msg("%s: no tensor %s", mc->file, mc->bottleneck);
        }
        size_t nr, nf, nq;
        float *ref = run_model(m, PETAL_BACKEND_REFERENCE, t, &nr);
        float *f32 = run_model(m, PETAL_BACKEND_DNNL_F32, t, &nf);
        float *i8 = run_model(m, PETAL_BACKEND_DNNL_INT8, t, &nq);
        assert_int_equal(nr, nf);
        assert_int_equal(nr, nq);
        float df = max_abs_diff(ref, f32, nr), dq = max_abs_diff(ref, i8, nr);
        float tf = pass ? mc->feat_f32 : mc->tol_f32, tq = pass ? mc->feat_int8 : mc->tol_int8;
        double mf = 0, mq = 0;
        for (size_t k = 0; k < nr; k++) {
            mf += fabsf(ref[k] - f32[k]) / (double)nr;
            mq += fabsf(ref[k] - i8[k]) / (double)nr;
        }
        print_message("%s %s (%zu values): max abs diff f32 %.4f (tolerance %.3f), int8 %.4f "
                      "(tolerance %.3f); mean abs diff f32 %.5f, int8 %.5f\n",
                      mc->file, pass ? mc->bottleneck : "output", nr, df, tf, dq, tq, mf, mq);
        assert_true(df <= tf);
        assert_true(dq <= tq);
        free(ref);
        free(f32);
        free(i8);
    }
    petal_model_free(m);
}

static void test_shared_models_vs_reference(void **state)
{
    (void)state;
    static const model_case cases[] = {
        {"mobilenet_v2_1.0_224_quant.tflite", "MobilenetV2/Logits/AvgPool", 0.03f, 0.15f, 0.6f,
         2.0f},
        {"tf2_mobilenet_v2_1.0_224_ptq.tflite", NULL, 0.15f, 0.3f, 0, 0},
        {"mobilenet_v1_1.0_224_quant_embedding_extractor.tflite", NULL, 0.5f, 2.0f, 0, 0},
        {"mobilenet_v1_0.25_128_quant.tflite", NULL, 0.03f, 0.06f, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_against_reference(&cases[i]);
}

/* Line `index` of the labels file (0 is "background"), into buf. */
static const char *label_of(const char *labels_path, int index, char *buf, size_t len)
{
    FILE *f = fopen(labels_path, "r");
    assert_non_null(f);
    buf[0] = '\0';
    for (int i = 0; i <= index && fgets(buf, (int)len, f); i++)
        ;
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf;
}

typedef struct photo_case {
    const char *photo, *label;
    float score_quant, score_ptq; /* the official interpreter's top-1 scores */
} photo_case;

/* Top-1 of both oneDNN backends on the six shared photos, whole photo resized to 224x224:
 * the expected label, with a score within 0.08 of the official TFLite interpreter's. */
static void test_shared_photos_top1(void **state)
{
    (void)state;
    static const photo_case photos[] = {
        {"grace_hopper.bmp", "military uniform", 0.925f, 0.784f},
        {"cat.bmp", "Egyptian cat", 0.792f, 0.616f},
        {"parrot.jpg", "macaw", 1.000f, 0.925f},
        {"bird.bmp", "chickadee", 0.992f, 0.800f},
        {"sunflower.bmp", "daisy", 0.992f, 0.949f},
        {"owl.jpg", "ruffed grouse, partridge, Bonasa umbellus", 0.667f, 0.267f},
    };
    static const char *const models[] = {"mobilenet_v2_1.0_224_quant.tflite",
                                         "tf2_mobilenet_v2_1.0_224_ptq.tflite"};
    static const petal_backend backends[] = {PETAL_BACKEND_DNNL_F32, PETAL_BACKEND_DNNL_INT8};
    PETAL_REQUIRE_MODEL(labels_path, "imagenet_labels.txt");
    char labels[4096];
    snprintf(labels, sizeof labels, "%s", labels_path);
    for (size_t mi = 0; mi < 2; mi++) {
        PETAL_REQUIRE_MODEL(path, models[mi]);
        petal_model *m = NULL;
        petal_error err = {0};
        if (petal_model_load(path, &m, &err) != PETAL_OK)
            fail_msg("%s", err.msg);
        for (size_t bi = 0; bi < 2; bi++) {
            petal_exec_options o = petal_exec_defaults();
            o.backend = backends[bi];
            petal_exec *e = NULL;
            if (petal_exec_create(m, &o, &e, &err) != PETAL_OK)
                fail_msg("%s", err.msg);
            double total = 0;
            for (size_t pi = 0; pi < sizeof photos / sizeof photos[0]; pi++) {
                PETAL_REQUIRE_MODEL(photo_path, photos[pi].photo);
                petal_image img = {0}, small = {0};
                if (petal_image_load(photo_path, NULL, &img, &err) != PETAL_OK ||
                    petal_image_resize(&img, 224, 224, &small, &err) != PETAL_OK)
                    fail_msg("%s", err.msg);
                assert_int_equal(petal_exec_set_input_rgb(e, small.pixels, 127.5f, 127.5f, &err),
                                 PETAL_OK);
                assert_int_equal(petal_exec_run(e, &err), PETAL_OK);
                size_t n;
                const float *prob = petal_exec_output(e, &n);
                int best = 0;
                for (size_t k = 1; k < n; k++)
                    best = prob[k] > prob[best] ? (int)k : best;
                char buf[256];
                const char *label = label_of(labels, best, buf, sizeof buf);
                float expect = mi == 0 ? photos[pi].score_quant : photos[pi].score_ptq;
                print_message("%s %s %s: %s %.3f (expected %s %.3f)\n", models[mi],
                              petal_backend_name(backends[bi]), photos[pi].photo, label, prob[best],
                              photos[pi].label, expect);
                assert_string_equal(label, photos[pi].label);
                assert_true(fabsf(prob[best] - expect) <= 0.08f);
                total += fabsf(prob[best] - expect);
                petal_image_free(&img);
                petal_image_free(&small);
            }
            print_message("%s %s: mean |score - expected| %.3f\n", models[mi],
                          petal_backend_name(backends[bi]), total / 6);
            petal_exec_free(e);
        }
        petal_model_free(m);
    }
}

/* Models with one corrupted shape or option (the kind a hostile file that still parses
 * could carry): every backend either declines at create with an error or runs without
 * reading or writing out of bounds (checked under ASan). */
static void test_corrupted_models(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, "mobilenet_v1_0.25_128_quant.tflite");
    static const int values[] = {0, 1, 2, 3, 5, 7, 64, 100000, -1};
    int created = 0, declined = 0;
    rng_state = 4242;
    for (int iter = 0; iter < 24; iter++) {
        petal_model *m = NULL;
        petal_error err = {0};
        if (petal_model_load(path, &m, &err) != PETAL_OK)
            fail_msg("%s", err.msg);
        int v = values[(int)frand(0, 8.99f)];
        if (iter % 2 == 0) { /* a tensor dimension */
            petal_tensor *t = &m->tensors[(int)frand(0, (float)m->n_tensors - 0.01f)];
            if (t->rank > 0)
                t->shape[(int)frand(0, (float)t->rank - 0.01f)] = v;
        } else { /* an operator option */
            petal_op *op = &m->ops[(int)frand(0, (float)m->n_ops - 0.01f)];
            switch (iter % 6) {
            case 1:
                op->opt.stride_h = v;
                break;
            case 3:
                op->opt.filter_w = v;
                break;
            default:
                op->opt.padding = (petal_padding)(v & 1);
                op->opt.dilation_h = v;
                break;
            }
        }
        for (int b = 0; b < 2; b++) {
            petal_exec_options o = petal_exec_defaults();
            o.backend = b ? PETAL_BACKEND_DNNL_INT8 : PETAL_BACKEND_DNNL_F32;
            o.threads = 1;
            petal_exec *e = NULL;
            if (petal_exec_create(m, &o, &e, &err) != PETAL_OK) {
                assert_null(e);
                assert_true(err.msg[0] != '\0');
                declined++;
                continue;
            }
            created++;
            size_t n = petal_tensor_elements(petal_exec_input_tensor(e));
            float *in = calloc(n ? n : 1, sizeof(float));
            assert_int_equal(petal_exec_set_input_float(e, in, n, &err), PETAL_OK);
            assert_int_equal(petal_exec_run(e, &err), PETAL_OK);
            free(in);
            petal_exec_free(e);
        }
        petal_model_free(m);
    }
    print_message("corrupted models: %d plans created and run, %d declined\n", created, declined);
    assert_true(declined > 0);
}

int main(void)
{
    if (getenv("PETAL_TEST_DEBUG"))
        petal_log_set_level(PETAL_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_float_model),
        cmocka_unit_test(test_f32_quant_model),
        cmocka_unit_test(test_int8_quant_model),
        cmocka_unit_test(test_declines),
        cmocka_unit_test(test_squeeze_quantize_dequantize),
        cmocka_unit_test(test_shared_models_vs_reference),
        cmocka_unit_test(test_shared_photos_top1),
        cmocka_unit_test(test_corrupted_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
