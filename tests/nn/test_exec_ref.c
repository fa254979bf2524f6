/* test_exec_ref.c - the reference executor op by op on tiny in-memory models, checked against
 * values worked out by hand, and the executor front end (output choice, input conversion). */
#include "common/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/exec.h"
#include "nn/model.h"

/* ---- Building tiny models ----------------------------------------------------------- */

static int shape4(int *s, int n, int h, int w, int c)
{
    s[0] = n;
    s[1] = h;
    s[2] = w;
    s[3] = c;
    return 4;
}

static int act(petal_model *m, const char *name, int rank, const int *shape)
{
    int t = petal_model_add_tensor(m, name, PETAL_FLOAT32, rank, shape, NULL, 0, NULL);
    assert_true(t >= 0);
    return t;
}

static int cst(petal_model *m, const char *name, int rank, const int *shape, const float *v)
{
    size_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= (size_t)shape[d];
    int t = petal_model_add_tensor(m, name, PETAL_FLOAT32, rank, shape, v, n * sizeof(float), NULL);
    assert_true(t >= 0);
    return t;
}

static int cst_i32(petal_model *m, const char *name, int rank, const int *shape, const int32_t *v,
                   size_t n)
{
    int t = petal_model_add_tensor(m, name, PETAL_INT32, rank, shape, v, n * sizeof(int32_t), NULL);
    assert_true(t >= 0);
    return t;
}

static void op(petal_model *m, int code, const int *in, int n_in, int out,
               const petal_op_options *o)
{
    assert_true(petal_model_add_op(m, code, 1, in, n_in, &out, 1, o) >= 0);
}

static void set_io(petal_model *m, int in, int out)
{
    petal_error err;
    assert_int_equal(petal_model_set_io(m, &in, 1, &out, 1, &err), PETAL_OK);
}

static petal_exec *make_exec(const petal_model *m, int output)
{
    petal_exec_options o = petal_exec_defaults();
    o.backend = PETAL_BACKEND_REFERENCE;
    o.threads = 1;
    o.output = output;
    petal_exec *e = NULL;
    petal_error err;
    petal_status s = petal_exec_create(m, &o, &e, &err);
    if (s != PETAL_OK)
        fail_msg("create failed: %s", err.msg);
    assert_int_equal(petal_exec_backend(e), PETAL_BACKEND_REFERENCE);
    return e;
}

static void expect_values(const float *got, size_t n_got, const float *want, size_t n, float tol)
{
    assert_int_equal(n_got, n);
    for (size_t i = 0; i < n; i++)
        if (fabsf(got[i] - want[i]) > tol)
            fail_msg("value %zu: got %.6f, want %.6f", i, got[i], want[i]);
}

/* Runs the model on float input values and compares its output with want. */
static void run_and_check(const petal_model *m, const float *in, size_t n_in, const float *want,
                          size_t n_want)
{
    petal_exec *e = make_exec(m, -1);
    petal_error err;
    assert_int_equal(petal_exec_set_input_float(e, in, n_in, &err), PETAL_OK);
    if (petal_exec_run(e, &err) != PETAL_OK)
        fail_msg("run failed: %s", err.msg);
    size_t n;
    const float *out = petal_exec_output(e, &n);
    expect_values(out, n, want, n_want, 1e-4f);
    petal_exec_free(e);
}

/* Expects petal_exec_create to fail with code and a message containing each of the words. */
static void expect_create_error(const petal_model *m, petal_status code, const char *word1,
                                const char *word2)
{
    petal_exec_options o = petal_exec_defaults();
    o.backend = PETAL_BACKEND_REFERENCE;
    petal_exec *e = NULL;
    petal_error err;
    assert_int_equal(petal_exec_create(m, &o, &e, &err), code);
    assert_null(e);
    if (strstr(err.msg, word1) == NULL || (word2 && strstr(err.msg, word2) == NULL))
        fail_msg("message '%s' lacks '%s'/'%s'", err.msg, word1, word2 ? word2 : "");
    assert_null(strchr(err.msg, '\n'));
}

/* A 5x5 single-channel ramp 0..24 convolved with a 3x3 box filter of ones, bias 1. */
static petal_model *box_conv_model(petal_padding padding, int stride, int out_size)
{
    petal_model *m = petal_model_new();
    int s[4];
    float ones[9], bias = 1;
    for (int i = 0; i < 9; i++)
        ones[i] = 1;
    int in = act(m, "in", shape4(s, 1, 5, 5, 1), s);
    int w = cst(m, "w", shape4(s, 1, 3, 3, 1), s, ones);
    int b = cst(m, "b", 1, (int[]){1}, &bias);
    int out = act(m, "out", shape4(s, 1, out_size, out_size, 1), s);
    petal_op_options o = {0};
    o.padding = padding;
    o.stride_h = o.stride_w = stride;
    op(m, PETAL_OP_CONV_2D, (int[]){in, w, b}, 3, out, &o);
    set_io(m, in, out);
    return m;
}

static void ramp(float *v, int n)
{
    for (int i = 0; i < n; i++)
        v[i] = (float)i;
}

/* ---- Operators ---------------------------------------------------------------------- */

static void test_conv_valid_stride2(void **state)
{
    (void)state;
    petal_model *m = box_conv_model(PETAL_PAD_VALID, 2, 2);
    float in[25];
    ramp(in, 25);
    /* A 3x3 window at (r, c) of the ramp sums to 9 * (5r + c) + 54. */
    const float want[] = {55, 73, 145, 163};
    run_and_check(m, in, 25, want, 4);
    petal_model_free(m);
}

static void test_conv_same_stride2(void **state)
{
    (void)state;
    /* SAME with stride 2 on 5: 3 outputs, total padding 2, one row/column before. */
    petal_model *m = box_conv_model(PETAL_PAD_SAME, 2, 3);
    float in[25];
    ramp(in, 25);
    /* Windows cover rows (and columns) {0,1}, {1,2,3}, {3,4}; plus the bias. */
    const float want[] = {13, 28, 25, 64, 109, 82, 73, 118, 85};
    run_and_check(m, in, 25, want, 9);
    petal_model_free(m);
}

static void test_conv_channels_bias_relu6(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    int s[4];
    /* OHWI weights: output k reads input channels with weights w[k][0], w[k][1]. */
    const float w[] = {1, 0, 0, 1, 1, 1};
    const float bias[] = {0, 0, 5};
    int in = act(m, "in", shape4(s, 1, 1, 1, 2), s);
    int tw = cst(m, "w", shape4(s, 3, 1, 1, 2), s, w);
    int tb = cst(m, "b", 1, (int[]){3}, bias);
    int out = act(m, "out", shape4(s, 1, 1, 1, 3), s);
    petal_op_options o = {0};
    o.padding = PETAL_PAD_VALID;
    o.stride_h = o.stride_w = 1;
    o.activation = PETAL_ACT_RELU6;
    op(m, PETAL_OP_CONV_2D, (int[]){in, tw, tb}, 3, out, &o);
    set_io(m, in, out);
    const float x[] = {1, 2}, want[] = {1, 2, 6};
    run_and_check(m, x, 2, want, 3);
    petal_model_free(m);
}

static void test_conv_dilation(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    int s[4];
    const float w[] = {1, 10, 100, 1000};
    int in = act(m, "in", shape4(s, 1, 3, 3, 1), s);
    int tw = cst(m, "w", shape4(s, 1, 2, 2, 1), s, w);
    int out = act(m, "out", shape4(s, 1, 1, 1, 1), s);
    petal_op_options o = {0};
    o.padding = PETAL_PAD_VALID;
    o.stride_h = o.stride_w = 1;
    o.dilation_h = o.dilation_w = 2;
    op(m, PETAL_OP_CONV_2D, (int[]){in, tw, -1}, 3, out, &o);
    set_io(m, in, out);
    float x[9];
    ramp(x, 9);
    /* Dilation 2 picks the corners 0, 2, 6, 8. */
    const float want[] = {0 * 1 + 2 * 10 + 6 * 100 + 8 * 1000};
    run_and_check(m, x, 9, want, 1);
    petal_model_free(m);
}

static void test_depthwise_multiplier(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    int s[4];
    /* Weights [1, 2, 2, 4]: output channel k = input channel k / 2. */
    const float w[] = {1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2};
    const float bias[] = {0, 0, 0, -10};
    int in = act(m, "in", shape4(s, 1, 2, 2, 2), s);
    int tw = cst(m, "w", shape4(s, 1, 2, 2, 4), s, w);
    int tb = cst(m, "b", 1, (int[]){4}, bias);
    int out = act(m, "out", shape4(s, 1, 1, 1, 4), s);
    petal_op_options o = {0};
    o.padding = PETAL_PAD_VALID;
    o.stride_h = o.stride_w = 1;
    o.depth_multiplier = 2;
    op(m, PETAL_OP_DEPTHWISE_CONV_2D, (int[]){in, tw, tb}, 3, out, &o);
    set_io(m, in, out);
    const float x[] = {1, 2, 3, 4, 5, 6, 7, 8};
    /* ch0 summed, ch0 at (0,0), ch1 summed, 2 * ch1 at (1,1) - 10. */
    const float want[] = {16, 1, 20, 6};
    run_and_check(m, x, 8, want, 4);
    petal_model_free(m);
}

static void test_depthwise_same_stride2(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    int s[4];
    float w[9];
    for (int i = 0; i < 9; i++)
        w[i] = 1;
    int in = act(m, "in", shape4(s, 1, 4, 4, 1), s);
    int tw = cst(m, "w", shape4(s, 1, 3, 3, 1), s, w);
    int out = act(m, "out", shape4(s, 1, 2, 2, 1), s);
    petal_op_options o = {0};
    o.padding = PETAL_PAD_SAME;
    o.stride_h = o.stride_w = 2;
    o.depth_multiplier = 1;
    op(m, PETAL_OP_DEPTHWISE_CONV_2D, (int[]){in, tw, -1}, 3, out, &o);
    set_io(m, in, out);
    float x[16];
    ramp(x, 16);
    /* SAME, stride 2 on 4: total padding 1, none before: windows start at 0 and 2. */
    const float want[] = {0 + 1 + 2 + 4 + 5 + 6 + 8 + 9 + 10, 2 + 3 + 6 + 7 + 10 + 11,
                          8 + 9 + 10 + 12 + 13 + 14, 10 + 11 + 14 + 15};
    run_and_check(m, x, 16, want, 4);
    petal_model_free(m);
}

static void test_pools(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    int s[4];
    int in = act(m, "in", shape4(s, 1, 3, 3, 1), s);
    int avg = act(m, "avg", shape4(s, 1, 3, 3, 1), s);
    int max = act(m, "max", shape4(s, 1, 2, 2, 1), s);
    petal_op_options o = {0};
    o.padding = PETAL_PAD_SAME;
    o.stride_h = o.stride_w = 1;
    o.filter_h = o.filter_w = 3;
    op(m, PETAL_OP_AVERAGE_POOL_2D, &in, 1, avg, &o);
    o.padding = PETAL_PAD_VALID;
    o.filter_h = o.filter_w = 2;
    op(m, PETAL_OP_MAX_POOL_2D, &avg, 1, max, &o);
    set_io(m, in, max);
    const float x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

    /* The average counts only the window's cells inside the image. */
    petal_exec *e = make_exec(m, avg);
    petal_error err;
    assert_int_equal(petal_exec_set_input_float(e, x, 9, &err), PETAL_OK);
    assert_int_equal(petal_exec_run(e, &err), PETAL_OK);
    size_t n;
    const float *out = petal_exec_output(e, &n);
    const float want_avg[] = {3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7};
    expect_values(out, n, want_avg, 9, 1e-5f);
    petal_exec_free(e);

    const float want_max[] = {5, 5.5, 6.5, 7};
    run_and_check(m, x, 9, want_max, 4);
    petal_model_free(m);
}

static void test_mean(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    int s[4];
    const int32_t axes[] = {1, -2}; /* -2 is axis 2 of a rank-4 input */
    int in = act(m, "in", shape4(s, 1, 2, 2, 2), s);
    int ax = cst_i32(m, "axes", 1, (int[]){2}, axes, 2);
    int out = act(m, "out", shape4(s, 1, 1, 1, 2), s);
    petal_op_options o = {0};
    o.keep_dims = 1;
    op(m, PETAL_OP_MEAN, (int[]){in, ax}, 2, out, &o);
    set_io(m, in, out);
    const float x[] = {1, 2, 3, 4, 5, 6, 7, 8}, want[] = {4, 5};
    run_and_check(m, x, 8, want, 2);
    petal_model_free(m);
}

static void test_softmax_beta(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    int in = act(m, "in", 2, (int[]){2, 2});
    int out = act(m, "out", 2, (int[]){2, 2});
    petal_op_options o = {0};
    o.beta = 0.5f;
    op(m, PETAL_OP_SOFTMAX, &in, 1, out, &o);
    set_io(m, in, out);
    /* Row by row: exp(0.5 * 2 ln 3) = 3 against exp(0) = 1. */
    const float x[] = {0, 2 * logf(3), 7, 7}, want[] = {0.25f, 0.75f, 0.5f, 0.5f};
    run_and_check(m, x, 4, want, 4);
    petal_model_free(m);
}

static void test_fully_connected(void **state)
{
    (void)state;
    for (int relu = 0; relu <= 1; relu++) {
        petal_model *m = petal_model_new();
        const float w[] = {1, 0, -1, 2, 2, 2}, bias[] = {0.5f, 1};
        int in = act(m, "in", 2, (int[]){1, 3});
        int tw = cst(m, "w", 2, (int[]){2, 3}, w);
        int tb = cst(m, "b", 1, (int[]){2}, bias);
        int out = act(m, "out", 2, (int[]){1, 2});
        petal_op_options o = {0};
        o.activation = relu ? PETAL_ACT_RELU : PETAL_ACT_NONE;
        op(m, PETAL_OP_FULLY_CONNECTED, (int[]){in, tw, tb}, 3, out, &o);
        set_io(m, in, out);
        const float x[] = {1, 2, 3};
        const float want[2] = {relu ? 0 : -1.5f, 13};
        run_and_check(m, x, 3, want, 2);
        petal_model_free(m);
    }
}

static void test_add_broadcast(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    int s[4];
    const float b[] = {0.5f, 10};
    int in = act(m, "in", shape4(s, 1, 2, 2, 2), s);
    int tb = cst(m, "b", shape4(s, 1, 1, 1, 2), s, b);
    int out = act(m, "out", shape4(s, 1, 2, 2, 2), s);
    op(m, PETAL_OP_ADD, (int[]){in, tb}, 2, out, NULL);
    set_io(m, in, out);
    const float x[] = {1, -2, 3, -4, 5, -6, 7, -8};
    const float want[] = {1.5f, 8, 3.5f, 6, 5.5f, 4, 7.5f, 2};
    run_and_check(m, x, 8, want, 8);
    petal_model_free(m);
}

static void test_activations(void **state)
{
    (void)state;
    const float x[] = {-3, -0.5f, 0.5f, 3, 7};
    const struct {
        int code;
        petal_activation fused;
        float want[5];
    } cases[] = {
        {PETAL_OP_ADD, PETAL_ACT_NONE, {-3, -0.5f, 0.5f, 3, 7}},
        {PETAL_OP_ADD, PETAL_ACT_RELU, {0, 0, 0.5f, 3, 7}},
        {PETAL_OP_ADD, PETAL_ACT_RELU_N1_TO_1, {-1, -0.5f, 0.5f, 1, 1}},
        {PETAL_OP_ADD, PETAL_ACT_RELU6, {0, 0, 0.5f, 3, 6}},
        {PETAL_OP_HARD_SWISH, PETAL_ACT_NONE, {0, -0.5f * 2.5f / 6, 0.5f * 3.5f / 6, 3, 7}},
        {PETAL_OP_LOGISTIC,
         PETAL_ACT_NONE,
         {0.0474259f, 0.3775407f, 0.6224593f, 0.9525741f, 0.9990889f}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        petal_model *m = petal_model_new();
        const float zero = 0;
        int in = act(m, "in", 1, (int[]){5});
        int out = act(m, "out", 1, (int[]){5});
        petal_op_options o = {0};
        o.activation = cases[c].fused;
        if (cases[c].code == PETAL_OP_ADD) {
            int z = cst(m, "zero", 1, (int[]){1}, &zero);
            op(m, PETAL_OP_ADD, (int[]){in, z}, 2, out, &o);
        } else {
            op(m, cases[c].code, &in, 1, out, &o);
        }
        set_io(m, in, out);
        run_and_check(m, x, 5, cases[c].want, 5);
        petal_model_free(m);
    }
}

static void test_concat_pad_reshape_squeeze(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    int s[4];
    const float extra[] = {9, 8};
    const int32_t pads[] = {0, 0, 1, 0, 0, 1, 0, 0};
    int in = act(m, "in", shape4(s, 1, 2, 1, 1), s);
    int ex = cst(m, "extra", shape4(s, 1, 2, 1, 1), s, extra);
    int cat = act(m, "cat", shape4(s, 1, 2, 1, 2), s);
    int tp = cst_i32(m, "pads", 2, (int[]){4, 2}, pads, 8);
    int pad = act(m, "pad", shape4(s, 1, 3, 2, 2), s);
    int flat = act(m, "flat", 2, (int[]){1, 12});
    int sq = act(m, "sq", 1, (int[]){12});
    petal_op_options o = {0};
    o.axis = -1;
    op(m, PETAL_OP_CONCATENATION, (int[]){in, ex}, 2, cat, &o);
    op(m, PETAL_OP_PAD, (int[]){cat, tp}, 2, pad, NULL);
    op(m, PETAL_OP_RESHAPE, &pad, 1, flat, NULL);
    o.n_squeeze_dims = 1;
    op(m, PETAL_OP_SQUEEZE, &flat, 1, sq, &o);
    set_io(m, in, sq);
    const float x[] = {1, 2};
    /* concat: rows (1,9), (2,8); padded with one row before and one column after. */
    const float want[] = {0, 0, 0, 0, 1, 9, 0, 0, 2, 8, 0, 0};
    run_and_check(m, x, 2, want, 12);
    petal_model_free(m);
}

static void test_quantize_rounds_to_grid(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    float scale = 0.5f;
    int64_t zero = 0;
    petal_quant q = {1, &scale, &zero, 0};
    int in = act(m, "in", 1, (int[]){4});
    int qt = petal_model_add_tensor(m, "q", PETAL_UINT8, 1, (int[]){4}, NULL, 0, &q);
    int out = act(m, "out", 1, (int[]){4});
    op(m, PETAL_OP_QUANTIZE, &in, 1, qt, NULL);
    op(m, PETAL_OP_DEQUANTIZE, &qt, 1, out, NULL);
    set_io(m, in, out);
    /* uint8 with scale 0.5 holds 0 .. 127.5 in steps of 0.5. */
    const float x[] = {1.3f, 200, -1, 2.75f}, want[] = {1.5f, 127.5f, 0, 3};
    run_and_check(m, x, 4, want, 4);
    petal_model_free(m);
}

static void test_quantized_weights(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    int s[4];
    /* Per-tensor uint8 weights: scale 0.5, zero point 128: 130 -> 1, 124 -> -2. */
    float wscale = 0.5f, bscale = 0.25f;
    int64_t wzero = 128, bzero = 0;
    petal_quant wq = {1, &wscale, &wzero, 0}, bq = {1, &bscale, &bzero, 0};
    const uint8_t w8[] = {130, 124};
    const int32_t b32[] = {4}; /* 4 * 0.25 = 1 */
    /* Per-channel int8 weights along axis 0: scales 0.5 and 0.25. */
    float cscale[] = {0.5f, 0.25f};
    int64_t czero[] = {0, 0};
    petal_quant cq = {2, cscale, czero, 0};
    const int8_t c8[] = {2, 4, -3, 6};

    int in = act(m, "in", shape4(s, 1, 1, 1, 2), s);
    int tw = petal_model_add_tensor(m, "w8", PETAL_UINT8, 4, (int[]){1, 1, 1, 2}, w8, 2, &wq);
    int tb = petal_model_add_tensor(m, "b32", PETAL_INT32, 1, (int[]){1}, b32, 4, &bq);
    int mid = act(m, "mid", shape4(s, 1, 1, 1, 1), s);
    int tc = petal_model_add_tensor(m, "c8", PETAL_INT8, 4, (int[]){2, 1, 1, 2}, c8, 4, &cq);
    int out = act(m, "out", shape4(s, 1, 1, 1, 2), s);
    int all = act(m, "all", shape4(s, 1, 1, 1, 2), s);
    petal_op_options o = {0};
    o.padding = PETAL_PAD_VALID;
    o.stride_h = o.stride_w = 1;
    op(m, PETAL_OP_CONV_2D, (int[]){in, tw, tb}, 3, mid, &o);
    op(m, PETAL_OP_CONV_2D, (int[]){in, tc, -1}, 3, out, &o);
    op(m, PETAL_OP_ADD, (int[]){out, mid}, 2, all, NULL);
    set_io(m, in, all);
    const float x[] = {3, 4};
    /* mid = 3 - 8 + 1 = -4; out = (3 + 8, -2.25 + 6); all = out + mid. */
    const float want[] = {11 - 4, 3.75f - 4};
    run_and_check(m, x, 2, want, 2);
    petal_model_free(m);
}

/* ---- Bad models --------------------------------------------------------------------- */

static void test_unsupported_op_and_type(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    int in = act(m, "in", 1, (int[]){4});
    int mid = act(m, "mid", 1, (int[]){4});
    int out = act(m, "out", 1, (int[]){4});
    op(m, PETAL_OP_LOGISTIC, &in, 1, mid, NULL);
    op(m, 16 /* LSTM */, &mid, 1, out, NULL);
    set_io(m, in, out);
    expect_create_error(m, PETAL_ERR_UNSUPPORTED, "operator 1", "BUILTIN_16");
    petal_model_free(m);

    m = petal_model_new();
    in = act(m, "in", 1, (int[]){4});
    out = petal_model_add_tensor(m, "half", PETAL_INT16, 1, (int[]){4}, NULL, 0, NULL);
    op(m, PETAL_OP_QUANTIZE, &in, 1, out, NULL);
    set_io(m, in, out);
    expect_create_error(m, PETAL_ERR_UNSUPPORTED, "INT16", "QUANTIZE");
    petal_model_free(m);
}

static void test_bad_shapes(void **state)
{
    (void)state;
    int s[4];
    float w[18] = {0};
    /* Conv weights with 2 input channels on a 1-channel input. */
    petal_model *m = petal_model_new();
    int in = act(m, "in", shape4(s, 1, 3, 3, 1), s);
    int tw = cst(m, "w", shape4(s, 1, 3, 3, 2), s, w);
    int out = act(m, "out", shape4(s, 1, 1, 1, 1), s);
    petal_op_options o = {0};
    o.padding = PETAL_PAD_VALID;
    o.stride_h = o.stride_w = 1;
    op(m, PETAL_OP_CONV_2D, (int[]){in, tw, -1}, 3, out, &o);
    set_io(m, in, out);
    expect_create_error(m, PETAL_ERR_FORMAT, "CONV_2D", "channel");
    petal_model_free(m);

    /* An output shape the window does not produce (SAME stride 1 keeps 3x3). */
    m = petal_model_new();
    in = act(m, "in", shape4(s, 1, 3, 3, 1), s);
    tw = cst(m, "w", shape4(s, 1, 3, 3, 1), s, w);
    out = act(m, "out", shape4(s, 1, 1, 1, 1), s);
    o.padding = PETAL_PAD_SAME;
    op(m, PETAL_OP_CONV_2D, (int[]){in, tw, -1}, 3, out, &o);
    set_io(m, in, out);
    expect_create_error(m, PETAL_ERR_FORMAT, "operator 0", "output shape");
    petal_model_free(m);

    /* A tensor read before anything computes it. */
    m = petal_model_new();
    in = act(m, "in", shape4(s, 1, 3, 3, 1), s);
    int ghost = act(m, "ghost", shape4(s, 1, 3, 3, 1), s);
    out = act(m, "out", shape4(s, 1, 3, 3, 1), s);
    op(m, PETAL_OP_ADD, (int[]){in, ghost}, 2, out, NULL);
    set_io(m, in, out);
    expect_create_error(m, PETAL_ERR_FORMAT, "ghost", "ADD");
    petal_model_free(m);

    /* A zero stride. */
    m = petal_model_new();
    in = act(m, "in", shape4(s, 1, 3, 3, 1), s);
    out = act(m, "out", shape4(s, 1, 3, 3, 1), s);
    o.stride_h = 0;
    o.filter_h = o.filter_w = 2;
    op(m, PETAL_OP_MAX_POOL_2D, &in, 1, out, &o);
    set_io(m, in, out);
    expect_create_error(m, PETAL_ERR_FORMAT, "MAX_POOL_2D", "stride");
    petal_model_free(m);

    /* Reshape that changes the element count. */
    m = petal_model_new();
    in = act(m, "in", 1, (int[]){6});
    out = act(m, "out", 1, (int[]){7});
    op(m, PETAL_OP_RESHAPE, &in, 1, out, NULL);
    set_io(m, in, out);
    expect_create_error(m, PETAL_ERR_FORMAT, "RESHAPE", "sizes");
    petal_model_free(m);
}

/* ---- Front end ---------------------------------------------------------------------- */

static void test_intermediate_output(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    const float two = 2;
    int in = act(m, "in", 1, (int[]){3});
    int c = cst(m, "two", 1, (int[]){1}, &two);
    int mid = act(m, "mid", 1, (int[]){3});
    int out = act(m, "out", 1, (int[]){3});
    op(m, PETAL_OP_ADD, (int[]){in, c}, 2, mid, NULL);
    op(m, PETAL_OP_SOFTMAX, &mid, 1, out, &(petal_op_options){.beta = 1});
    set_io(m, in, out);
    petal_exec *e = make_exec(m, petal_model_find_tensor(m, "mid"));
    const float x[] = {-5, 0, 5};
    petal_error err;
    assert_int_equal(petal_exec_set_input_float(e, x, 3, &err), PETAL_OK);
    assert_int_equal(petal_exec_run(e, &err), PETAL_OK);
    size_t n;
    const float *v = petal_exec_output(e, &n);
    const float want[] = {-3, 2, 7};
    expect_values(v, n, want, 3, 1e-6f);
    petal_exec_free(e);

    /* The graph input itself is a valid output: no op runs. */
    e = make_exec(m, in);
    assert_int_equal(petal_exec_set_input_float(e, x, 3, &err), PETAL_OK);
    assert_int_equal(petal_exec_run(e, &err), PETAL_OK);
    v = petal_exec_output(e, &n);
    expect_values(v, n, x, 3, 0);
    petal_exec_free(e);
    petal_model_free(m);
}

/* An RGB 1x1x1x3 input of the given type feeding DEQUANTIZE (or a float copy) to the output. */
static petal_model *rgb_model(petal_dtype type, float scale, int64_t zero)
{
    petal_model *m = petal_model_new();
    int s[4];
    petal_quant q = {1, &scale, &zero, 0};
    int in = petal_model_add_tensor(m, "rgb", type, shape4(s, 1, 1, 1, 3), s, NULL, 0,
                                    type == PETAL_FLOAT32 ? NULL : &q);
    int out = act(m, "out", shape4(s, 1, 1, 1, 3), s);
    op(m, type == PETAL_FLOAT32 ? PETAL_OP_RESHAPE : PETAL_OP_DEQUANTIZE, &in, 1, out, NULL);
    set_io(m, in, out);
    return m;
}

static void check_rgb(petal_dtype type, float scale, int64_t zero, const float *want)
{
    petal_model *m = rgb_model(type, scale, zero);
    petal_exec *e = make_exec(m, -1);
    const uint8_t rgb[] = {0, 128, 255};
    petal_error err;
    assert_int_equal(petal_exec_set_input_rgb(e, rgb, 127.5f, 127.5f, &err), PETAL_OK);
    assert_int_equal(petal_exec_run(e, &err), PETAL_OK);
    size_t n;
    const float *v = petal_exec_output(e, &n);
    expect_values(v, n, want, 3, 1e-6f);
    int h, w, c;
    petal_exec_input_size(e, &h, &w, &c);
    assert_int_equal(h * 100 + w * 10 + c, 113);
    petal_exec_free(e);
    petal_model_free(m);
}

static void test_set_input_rgb(void **state)
{
    (void)state;
    /* uint8: bytes as they are, (q - 128) / 128. */
    const float want_u8[] = {-1, 0, 127.0f / 128};
    check_rgb(PETAL_UINT8, 1.0f / 128, 128, want_u8);
    /* int8: bytes - 128, zero point 0. */
    check_rgb(PETAL_INT8, 1.0f / 128, 0, want_u8);
    /* float: (x - 127.5) / 127.5. */
    const float want_f[] = {-1, 0.5f / 127.5f, 1};
    check_rgb(PETAL_FLOAT32, 1, 0, want_f);
}

static void test_set_input_float_quantizes(void **state)
{
    (void)state;
    petal_model *m = petal_model_new();
    float scale = 0.5f;
    int64_t zero = 10;
    petal_quant q = {1, &scale, &zero, 0};
    int in = petal_model_add_tensor(m, "in", PETAL_UINT8, 1, (int[]){4}, NULL, 0, &q);
    int out = act(m, "out", 1, (int[]){4});
    op(m, PETAL_OP_DEQUANTIZE, &in, 1, out, NULL);
    set_io(m, in, out);
    petal_exec *e = make_exec(m, -1);
    petal_error err;
    const float x[] = {0, 1.2f, 1000, -50};
    /* q = round(x / 0.5) + 10 clamped to 0..255, then back to real. */
    const float want[] = {0, 1.0f, 122.5f, -5};
    assert_int_equal(petal_exec_set_input_float(e, x, 4, &err), PETAL_OK);
    assert_int_equal(petal_exec_run(e, &err), PETAL_OK);
    size_t n;
    expect_values(petal_exec_output(e, &n), 4, want, 4, 1e-6f);
    assert_int_equal(n, 4);
    assert_int_equal(petal_exec_set_input_float(e, x, 3, &err), PETAL_ERR_ARG);
    petal_exec_free(e);
    petal_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_valid_stride2),
        cmocka_unit_test(test_conv_same_stride2),
        cmocka_unit_test(test_conv_channels_bias_relu6),
        cmocka_unit_test(test_conv_dilation),
        cmocka_unit_test(test_depthwise_multiplier),
        cmocka_unit_test(test_depthwise_same_stride2),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_mean),
        cmocka_unit_test(test_softmax_beta),
        cmocka_unit_test(test_fully_connected),
        cmocka_unit_test(test_add_broadcast),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_concat_pad_reshape_squeeze),
        cmocka_unit_test(test_quantize_rounds_to_grid),
        cmocka_unit_test(test_quantized_weights),
        cmocka_unit_test(test_unsupported_op_and_type),
        cmocka_unit_test(test_bad_shapes),
        cmocka_unit_test(test_intermediate_output),
        cmocka_unit_test(test_set_input_rgb),
        cmocka_unit_test(test_set_input_float_quantizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
