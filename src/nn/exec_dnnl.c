/* exec_dnnl.c - the optimized executor: plans a TFLite graph once as a chain of oneDNN
 * primitives (fp32 with dequantized weights, or int8 with u8 activations and s8 weights),
 * keeping activations in oneDNN's blocked layout from layer to layer, then runs it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "nn/exec_internal.h"
#include "util/log.h"

/* From libgomp, which oneDNN uses for its threads (omp.h is not available to every
 * compiler here). */
void omp_set_num_threads(int n);

/* ---- Plan structures ------------------------------------------------------------------ */

/* A tensor's runtime home. Plain values hold the tensor's elements in row-major (NHWC) order
 * as floats (or, for the graph input of an int8 plan, as u8); dnnl values use the memory
 * descriptor chosen by the primitive that produced them. u8 values carry the affine
 * quantization real = scale * (q - zp). */
typedef struct value {
    int defined;
    int slot;
    int plain;
    dnnl_memory_desc_t md; /* layout of the bytes in the slot */
    dnnl_data_type_t dt;
    float scale;
    int zp;
    int last_use; /* position in the op list of the last reader; n_ops for the output */
} value;

/* One argument of a step: a slot-backed memory (activations) or an owned constant. */
typedef struct step_arg {
    int arg;
    int slot; /* -1: mem is a constant owned by the step */
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;
} step_arg;

enum step_kind {
    STEP_PRIMITIVE,
    STEP_INPUT,    /* front-end bytes -> input slot */
    STEP_SOFTMAX,  /* plain float softmax over the last dimension */
    STEP_FAKEQUANT /* plain float rounding to a quantization grid (QUANTIZE) */
};

#define MAX_ARGS 8

typedef struct step {
    enum step_kind kind;
    dnnl_primitive_t prim;
    int n_args;
    step_arg args[MAX_ARGS];
    /* plain C steps */
    int src_slot, dst_slot;
    size_t n;     /* elements */
    size_t inner; /* softmax: length of the last dimension */
    float beta, scale;
    int zp, qmin, qmax;
    petal_dtype in_type;
    const petal_quant *in_quant;
} step;

typedef struct slot {
    size_t cap;
    int refs;
    void *buf;
} slot;

typedef struct dnnl_state {
    const petal_plan *plan;
    const petal_model *m;
    int int8;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    value *values; /* one per model tensor */
    step *steps;
    int n_steps, cap_steps;
    slot *slots;
    int n_slots, cap_slots;
    int pos; /* op position being planned */
    /* where the output ends up */
    int out_slot;
    size_t out_n;
} dnnl_state;

/* ---- Small helpers ------------------------------------------------------------------- */

static petal_status dnnl_fail(dnnl_state *s, petal_error *err, const char *what, int op_index,
                              dnnl_status_t st)
{
    return petal_error_set(err, PETAL_ERR_UNSUPPORTED,
                           "%s: operator %d (%s): oneDNN %s failed (%d)", s->m->path, op_index,
                           petal_op_name(s->m->ops[op_index].code), what, (int)st);
}

static petal_status unsupported(dnnl_state *s, petal_error *err, int op_index, const char *why)
{
    return petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: operator %d (%s) is not supported: %s",
                           s->m->path, op_index, petal_op_name(s->m->ops[op_index].code), why);
}

static step *add_step(dnnl_state *s)
{
    if (s->n_steps == s->cap_steps) {
        int cap = s->cap_steps ? s->cap_steps * 2 : 64;
        step *grown = realloc(s->steps, (size_t)cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        s->steps = grown;
        s->cap_steps = cap;
    }
    step *st = &s->steps[s->n_steps++];
    memset(st, 0, sizeof *st);
    st->src_slot = st->dst_slot = -1;
    return st;
}

/* Takes a free slot of at least `bytes` (best fit, else grows the largest free one, else a
 * new one); sizes are only recorded here, buffers are allocated once planning is done. */
static int slot_take(dnnl_state *s, size_t bytes)
{
    int best = -1, largest = -1;
    for (int i = 0; i < s->n_slots; i++) {
        if (s->slots[i].refs)
            continue;
        if (s->slots[i].cap >= bytes && (best < 0 || s->slots[i].cap < s->slots[best].cap))
            best = i;
        if (largest < 0 || s->slots[i].cap > s->slots[largest].cap)
            largest = i;
    }
    if (best < 0 && largest >= 0) {
        best = largest;
        s->slots[best].cap = bytes;
    }
    if (best < 0) {
        if (s->n_slots == s->cap_slots) {
            int cap = s->cap_slots ? s->cap_slots * 2 : 16;
            slot *grown = realloc(s->slots, (size_t)cap * sizeof *grown);
            if (grown == NULL)
                return -1;
            s->slots = grown;
            s->cap_slots = cap;
        }
        best = s->n_slots++;
        s->slots[best] = (slot){bytes, 0, NULL};
    }
    s->slots[best].refs = 1;
    return best;
}

static void slot_release(dnnl_state *s, int i)
{
    if (i >= 0 && s->slots[i].refs > 0)
        s->slots[i].refs--;
}

static int tensor_dims_nchw(const petal_tensor *t, dnnl_dims_t d)
{
    if (t->rank != 4)
        return -1;
    d[0] = t->shape[0];
    d[1] = t->shape[3];
    d[2] = t->shape[1];
    d[3] = t->shape[2];
    return 0;
}

/* The quantization a u8 value of tensor t uses (int8 tensors shift by 128). */
static int tensor_u8_quant(const petal_tensor *t, float *scale, int *zp)
{
    if (t->quant.n != 1 || (t->type != PETAL_UINT8 && t->type != PETAL_INT8) ||
        !(t->quant.scale[0] > 0))
        return -1;
    *scale = t->quant.scale[0];
    *zp = (int)t->quant.zero_point[0] + (t->type == PETAL_INT8 ? 128 : 0);
    return 0;
}

static int is_const(const petal_tensor *t)
{
    return t->data != NULL;
}

/* A primitive descriptor for an op descriptor on the CPU engine. */
static dnnl_status_t make_primitive(dnnl_state *s, const void *desc,
                                    const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    return dnnl_primitive_desc_create(pd, desc, attr, s->engine, NULL);
}

/* ---- Values and conversions ---------------------------------------------------------- */

/* Adds a reorder step from value v into a fresh slot laid out as md (data type dt, and for u8
 * the quantization scale/zp); fills out with the new value. The slot is released by the
 * caller after the op that needs it. */
static petal_status reorder_value(dnnl_state *s, const value *v, const dnnl_memory_desc_t *md,
                                  float scale, int zp, value *out, int op_index, petal_error *err)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_primitive_attr_create(&attr);
    dnnl_data_type_t dst_dt = md->data_type;
    /* real = v.scale * (q - v.zp); target q' = real / scale + zp */
    float sv = v->dt == dnnl_u8 ? v->scale : 1.0f;
    float sd = dst_dt == dnnl_u8 ? scale : 1.0f;
    float ratio = sv / sd;
    if (st == dnnl_success && ratio != 1.0f)
        st = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &ratio);
    if (st == dnnl_success && v->dt == dnnl_u8 && v->zp != 0) {
        int32_t z = v->zp;
        st = dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &z);
    }
    if (st == dnnl_success && dst_dt == dnnl_u8 && zp != 0) {
        int32_t z = zp;
        st = dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_DST, 1, 0, &z);
    }
    if (st == dnnl_success)
        st = dnnl_reorder_primitive_desc_create(&pd, &v->md, s->engine, md, s->engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return dnnl_fail(s, err, "reorder", op_index, st);
    step *stp = add_step(s);
    int dst_slot = stp ? slot_take(s, dnnl_memory_desc_get_size(md)) : -1;
    if (stp == NULL || dst_slot < 0) {
        dnnl_primitive_desc_destroy(pd);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", s->m->path);
    }
    stp->kind = STEP_PRIMITIVE;
    st = dnnl_primitive_create(&stp->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success)
        return dnnl_fail(s, err, "reorder", op_index, st);
    stp->n_args = 2;
    stp->args[0] = (step_arg){DNNL_ARG_SRC, v->slot, v->md, NULL};
    stp->args[1] = (step_arg){DNNL_ARG_DST, dst_slot, *md, NULL};
    *out = *v;
    out->slot = dst_slot;
    out->md = *md;
    out->dt = dst_dt;
    out->scale = dst_dt == dnnl_u8 ? scale : 1.0f;
    out->zp = dst_dt == dnnl_u8 ? zp : 0;
    out->plain = 0;
    return PETAL_OK;
}

/* The md a plain value of tensor t has when seen as 4D NCHW dims in NHWC order. */
static int plain_md_4d(const petal_tensor *t, dnnl_data_type_t dt, dnnl_memory_desc_t *md)
{
    dnnl_dims_t d;
    if (tensor_dims_nchw(t, d) != 0)
        return -1;
    return dnnl_memory_desc_init_by_tag(md, 4, d, dt, dnnl_nhwc) == dnnl_success ? 0 : -1;
}

/* Makes tensor `tensor`'s value available as plain floats; tmp_slot gets a slot to release
 * after the op (or -1). */
static petal_status as_plain_float(dnnl_state *s, int tensor, value *out, int *tmp_slot,
                                   int op_index, petal_error *err)
{
    value *v = &s->values[tensor];
    *tmp_slot = -1;
    if (v->plain && v->dt == dnnl_f32) {
        *out = *v;
        return PETAL_OK;
    }
    dnnl_memory_desc_t md;
    if (v->plain) {
        size_t n = petal_tensor_elements(&s->m->tensors[tensor]);
        dnnl_dims_t d = {(dnnl_dim_t)n};
        dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_f32, dnnl_a);
        value flat = *v;
        dnnl_memory_desc_init_by_tag(&flat.md, 1, d, v->dt, dnnl_a);
        petal_status r = reorder_value(s, &flat, &md, 1.0f, 0, out, op_index, err);
        if (r != PETAL_OK)
            return r;
    } else {
        dnnl_memory_desc_init_by_tag(&md, v->md.ndims, v->md.dims, dnnl_f32,
                                     v->md.ndims == 4 ? dnnl_nhwc : dnnl_ab);
        petal_status r = reorder_value(s, v, &md, 1.0f, 0, out, op_index, err);
        if (r != PETAL_OK)
            return r;
    }
    out->plain = 1;
    *tmp_slot = out->slot;
    return PETAL_OK;
}

/* Makes the value of a 4D tensor available with layout md (data type, quantization), adding a
 * reorder when it differs; tmp_slot as above. */
static petal_status as_layout(dnnl_state *s, int tensor, const dnnl_memory_desc_t *md, float scale,
                              int zp, value *out, int *tmp_slot, int op_index, petal_error *err)
{
    value v = s->values[tensor];
    *tmp_slot = -1;
    if (v.plain && plain_md_4d(&s->m->tensors[tensor], v.dt, &v.md) != 0)
        return unsupported(s, err, op_index, "input is not a 4D tensor");
    int same_q = md->data_type != dnnl_u8 || (v.scale == scale && v.zp == zp);
    if (dnnl_memory_desc_equal(&v.md, md) && same_q) {
        *out = v;
        return PETAL_OK;
    }
    petal_status r = reorder_value(s, &v, md, scale, zp, out, op_index, err);
    if (r == PETAL_OK)
        *tmp_slot = out->slot;
    return r;
}

/* Defines the value of a produced tensor in a new slot. */
static int define_output(dnnl_state *s, int tensor, const dnnl_memory_desc_t *md, int plain,
                         float scale, int zp)
{
    value *v = &s->values[tensor];
    v->slot = slot_take(s, dnnl_memory_desc_get_size(md));
    if (v->slot < 0)
        return -1;
    v->defined = 1;
    v->plain = plain;
    v->md = *md;
    v->dt = md->data_type;
    v->scale = v->dt == dnnl_u8 ? scale : 1.0f;
    v->zp = v->dt == dnnl_u8 ? zp : 0;
    return 0;
}

static int define_plain_f32(dnnl_state *s, int tensor)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {(dnnl_dim_t)petal_tensor_elements(&s->m->tensors[tensor])};
    if (d[0] == 0)
        d[0] = 1;
    dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_f32, dnnl_a);
    return define_output(s, tensor, &md, 1, 1.0f, 0);
}

/* Adds a step running primitive `pd` with the listed args; frees pd. */
static petal_status add_primitive(dnnl_state *s, dnnl_primitive_desc_t pd, const step_arg *args,
                                  int n_args, int op_index, petal_error *err)
{
    step *stp = add_step(s);
    if (stp == NULL) {
        dnnl_primitive_desc_destroy(pd);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", s->m->path);
    }
    stp->kind = STEP_PRIMITIVE;
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    petal_debug("op %d (%s): %s", op_index, petal_op_name(s->m->ops[op_index].code),
                impl ? impl : "?");
    dnnl_status_t st = dnnl_primitive_create(&stp->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        s->n_steps--;
        return dnnl_fail(s, err, "primitive creation", op_index, st);
    }
    stp->n_args = n_args;
    for (int i = 0; i < n_args; i++)
        stp->args[i] = args[i];
    return PETAL_OK;
}

/* Reorders constant data (plain layout `user`) into a new memory with layout `want`. */
static petal_status const_memory(dnnl_state *s, const dnnl_memory_desc_t *user, void *data,
                                 const dnnl_memory_desc_t *want, dnnl_memory_t *out, int op_index,
                                 petal_error *err)
{
    dnnl_memory_t src = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_status_t st = dnnl_memory_create(&src, user, s->engine, data);
    if (st == dnnl_success)
        st = dnnl_memory_create(out, want, s->engine, DNNL_MEMORY_ALLOCATE);
    if (st == dnnl_success)
        st = dnnl_reorder_primitive_desc_create(&pd, user, s->engine, want, s->engine, NULL);
    if (st == dnnl_success)
        st = dnnl_primitive_create(&prim, pd);
    if (st == dnnl_success) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, *out}};
        st = dnnl_primitive_execute(prim, s->stream, 2, a);
        if (st == dnnl_success)
            st = dnnl_stream_wait(s->stream);
    }
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (src)
        dnnl_memory_destroy(src);
    if (st != dnnl_success)
        return dnnl_fail(s, err, "weight reorder", op_index, st);
    return PETAL_OK;
}

/* Appends the eltwise post-op for a fused activation; `unit` is the size of one unit of the
 * post-op's input (1 in fp32; the output scale in int8, where post-ops see q - zp). */
static int append_activation(dnnl_post_ops_t po, petal_activation act, float unit)
{
    switch (act) {
    case PETAL_ACT_NONE:
        return 0;
    case PETAL_ACT_RELU:
        return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f) == dnnl_success
                   ? 0
                   : -1;
    case PETAL_ACT_RELU6:
        return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f / unit) ==
                       dnnl_success
                   ? 0
                   : -1;
    case PETAL_ACT_RELU_N1_TO_1:
        return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, -1.0f / unit,
                                            1.0f / unit) == dnnl_success
                   ? 0
                   : -1;
    case PETAL_ACT_TANH:
        if (unit != 1.0f)
            return -1;
        return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_tanh, 1.0f, 1.0f) == dnnl_success
                   ? 0
                   : -1;
    }
    return -1;
}

/* Creates the primitive for desc with act fused as an fp32 eltwise post-op (none for
 * PETAL_ACT_NONE). */
static dnnl_status_t make_activated_primitive(dnnl_state *s, const void *desc, petal_activation act,
                                              dnnl_primitive_desc_t *pd)
{
    if (act == PETAL_ACT_NONE)
        return make_primitive(s, desc, NULL, pd);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_status_t st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success)
        st = dnnl_post_ops_create(&po);
    if (st == dnnl_success && append_activation(po, act, 1.0f) != 0)
        st = dnnl_unimplemented;
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_post_ops(attr, po);
    if (st == dnnl_success)
        st = make_primitive(s, desc, attr, pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Releases the slots of tensors whose last reader is the op at position pos. */
static void release_dead(dnnl_state *s, const petal_op *op, int pos)
{
    for (int k = 0; k < op->n_inputs; k++) {
        int t = op->inputs[k];
        if (t < 0 || !s->values[t].defined || s->values[t].last_use != pos)
            continue;
        /* an op may read the same tensor twice: release once */
        int seen = 0;
        for (int j = 0; j < k; j++)
            seen |= op->inputs[j] == t;
        if (!seen)
            slot_release(s, s->values[t].slot);
    }
    for (int k = 0; k < op->n_outputs; k++) {
        int t = op->outputs[k];
        if (t >= 0 && s->values[t].defined && s->values[t].last_use <= pos)
            slot_release(s, s->values[t].slot);
    }
}

/* ---- Convolutions ----------------------------------------------------------------------- */

/* Padding and output size check of one spatial dimension; -1 when TFLite's output size does
 * not follow from the options. */
static int conv_padding(petal_padding pad, int in, int k, int stride, int dil, int out,
                        dnnl_dim_t *pl, dnnl_dim_t *pr)
{
    int eff = (k - 1) * dil + 1;
    if (pad == PETAL_PAD_SAME) {
        int total = (out - 1) * stride + eff - in;
        if (total < 0)
            total = 0;
        *pl = total / 2;
        *pr = total - total / 2;
        if (out != (in + stride - 1) / stride)
            return -1;
    } else {
        *pl = 0;
        *pr = 0;
        if (in < eff || out != (in - eff) / stride + 1)
            return -1;
        /* oneDNN wants out = (in - eff + pl + pr) / stride + 1 exactly: trim the right side */
        *pr = (out - 1) * stride + eff - in;
    }
    return 0;
}

/* Weights in oneDNN's plain order: OIHW for a convolution, GOIHW (G = input channels,
 * O = depth multiplier, I = 1) for a depthwise one, from TFLite's OHWI / 1HWO. */
static float *weights_oihw(const float *src, int dw, int o, int kh, int kw, int c)
{
    float *dst = malloc((size_t)o * kh * kw * (dw ? 1 : c) * sizeof(float));
    if (dst == NULL)
        return NULL;
    if (dw) {
        for (int oc = 0; oc < o; oc++)
            for (int h = 0; h < kh; h++)
                for (int x = 0; x < kw; x++)
                    dst[((size_t)oc * kh + h) * kw + x] = src[((size_t)h * kw + x) * o + oc];
    } else {
        for (int oc = 0; oc < o; oc++)
            for (int ic = 0; ic < c; ic++)
                for (int h = 0; h < kh; h++)
                    for (int x = 0; x < kw; x++)
                        dst[(((size_t)oc * c + ic) * kh + h) * kw + x] =
                            src[(((size_t)oc * kh + h) * kw + x) * c + ic];
    }
    return dst;
}

/* Symmetric per-output-channel s8 weights from real values in OIHW/GOIHW order (output
 * channel outermost, then `ic` input channels of `spatial` taps); scales get one value per
 * output channel.
 *
 * Without VNNI, oneDNN's AVX2 kernels for regular convolutions multiply u8 activations by s8
 * weights with vpmaddubsw, which adds the products of two neighbouring input channels in 16
 * bits and saturates: 255 * (|q_a| + |q_b|) must stay within 32767. So with `paired`, the
 * scale is set so that the largest |w_a| + |w_b| of such a pair maps to 127 (rounding adds at
 * most 1, and 255 * 128 fits); a lone large weight still gets the full 8 bits. Depthwise
 * kernels widen to 32 bits first and use maxabs / 127. */
static int8_t *weights_s8(const float *w, int o, int ic, int spatial, int paired, float *scales)
{
    size_t per_channel = (size_t)ic * spatial;
    int8_t *q = malloc((size_t)o * per_channel);
    if (q == NULL)
        return NULL;
    for (int oc = 0; oc < o; oc++) {
        const float *src = w + (size_t)oc * per_channel;
        float range = 0;
        for (size_t i = 0; i < per_channel; i++)
            range = fabsf(src[i]) > range ? fabsf(src[i]) : range;
        for (int c = 0; paired && c < ic; c += 2)
            for (int k = 0; k < spatial; k++) {
                float pair = fabsf(src[(size_t)c * spatial + k]);
                if (c + 1 < ic)
                    pair += fabsf(src[(size_t)(c + 1) * spatial + k]);
                range = pair > range ? pair : range;
            }
        scales[oc] = range > 0 ? range / 127.0f : 1.0f;
        for (size_t i = 0; i < per_channel; i++) {
            long v = lrintf(src[i] / scales[oc]);
            v = v < -127 ? -127 : v > 127 ? 127 : v;
            q[(size_t)oc * per_channel + i] = (int8_t)v;
        }
    }
    return q;
}

/* Whether the ADD right after a convolution can be folded into it as a sum post-op: the
 * convolution's result feeds only that ADD, and the ADD's other operand (the skip tensor)
 * dies there, has the same shape and is not the convolution's input; its buffer then
 * receives the sum in place. Returns the skip tensor or -1. */
static int fusable_add(dnnl_state *s, int pos, int conv_out, int conv_in)
{
    const petal_model *m = s->m;
    if (pos + 1 >= s->plan->n_ops)
        return -1;
    const petal_op *nx = &m->ops[s->plan->ops[pos + 1]];
    if (nx->code != PETAL_OP_ADD || nx->n_inputs != 2 || nx->n_outputs != 1)
        return -1;
    int a = nx->inputs[0], b = nx->inputs[1];
    int other = a == conv_out ? b : b == conv_out ? a : -1;
    if (other < 0 || other == conv_out || other == conv_in || other == s->plan->input)
        return -1;
    const value *ov = &s->values[other];
    if (!ov->defined || ov->plain || ov->last_use != pos + 1 ||
        s->values[conv_out].last_use != pos + 1)
        return -1;
    const petal_tensor *to = &m->tensors[other], *tc = &m->tensors[conv_out],
                       *tz = &m->tensors[nx->outputs[0]];
    if (to->rank != 4 || tc->rank != 4 || tz->rank != 4)
        return -1;
    for (int d = 0; d < 4; d++)
        if (to->shape[d] != tc->shape[d] || tz->shape[d] != tc->shape[d])
            return -1;
    return other;
}

static petal_status plan_conv(dnnl_state *s, int oi, int pos, int *skip_next, petal_error *err)
{
    const petal_model *m = s->m;
    const petal_op *op = &m->ops[oi];
    int dw = op->code == PETAL_OP_DEPTHWISE_CONV_2D;
    if (op->n_inputs < 2 || op->n_outputs < 1 || op->inputs[0] < 0 || op->inputs[1] < 0)
        return unsupported(s, err, oi, "missing inputs");
    int xt = op->inputs[0], yt = op->outputs[0];
    const petal_tensor *x = &m->tensors[xt], *w = &m->tensors[op->inputs[1]], *y = &m->tensors[yt];
    const petal_tensor *b =
        op->n_inputs > 2 && op->inputs[2] >= 0 ? &m->tensors[op->inputs[2]] : NULL;
    if (x->rank != 4 || w->rank != 4 || y->rank != 4)
        return unsupported(s, err, oi, "tensors are not 4D");
    if (!is_const(w) || (b && !is_const(b)))
        return unsupported(s, err, oi, "weights are not constant");
    int n = x->shape[0], h = x->shape[1], wd = x->shape[2], c = x->shape[3];
    int kh = w->shape[1], kw = w->shape[2], o = y->shape[3], oh = y->shape[1], ow = y->shape[2];
    if (dw ? (w->shape[0] != 1 || w->shape[3] != o || c <= 0 || o % c != 0)
           : (w->shape[0] != o || w->shape[3] != c))
        return unsupported(s, err, oi, "weight shape does not match the tensors");
    if (y->shape[0] != n || (b && petal_tensor_elements(b) != (size_t)o))
        return unsupported(s, err, oi, "tensor shapes do not match");
    int sh = op->opt.stride_h > 0 ? op->opt.stride_h : 1,
        sw = op->opt.stride_w > 0 ? op->opt.stride_w : 1;
    int dh = op->opt.dilation_h > 0 ? op->opt.dilation_h : 1;
    int dwl = op->opt.dilation_w > 0 ? op->opt.dilation_w : 1;
    dnnl_dims_t strides = {sh, sw}, dil = {dh - 1, dwl - 1}, pl, pr;
    if (conv_padding(op->opt.padding, h, kh, sh, dh, oh, &pl[0], &pr[0]) != 0 ||
        conv_padding(op->opt.padding, wd, kw, sw, dwl, ow, &pl[1], &pr[1]) != 0)
        return unsupported(s, err, oi, "output size does not follow from padding and strides");

    /* int8 when the plan is int8 and input, output and weights are quantized */
    float sx = 1, sy = 1;
    int zx = 0, zy = 0;
    int q = s->int8 && (w->type == PETAL_UINT8 || w->type == PETAL_INT8) &&
            tensor_u8_quant(x, &sx, &zx) == 0 && tensor_u8_quant(y, &sy, &zy) == 0;
    dnnl_data_type_t adt = q ? dnnl_u8 : dnnl_f32;

    int skip = op->opt.activation == PETAL_ACT_NONE ? fusable_add(s, pos, yt, xt) : -1;
    if (skip >= 0 && s->values[skip].dt != adt)
        skip = -1;
    const petal_op *add = skip >= 0 ? &m->ops[s->plan->ops[pos + 1]] : NULL;
    float sz = sy;
    int zz = zy;
    if (add && q && tensor_u8_quant(&m->tensors[add->outputs[0]], &sz, &zz) != 0)
        skip = -1, add = NULL;
    if (add) {
        sy = sz; /* the convolution writes the ADD's result directly */
        zy = zz;
    }

    /* weights and bias as real values in oneDNN's plain order */
    petal_status r = PETAL_OK;
    float *wreal = petal_tensor_dequantize(m, w, err);
    float *breal = b ? petal_tensor_dequantize(m, b, err) : calloc((size_t)o, sizeof(float));
    float *woihw = wreal ? weights_oihw(wreal, dw, o, kh, kw, c) : NULL;
    float *wscale = malloc((size_t)o * sizeof(float));
    int8_t *wq = NULL;
    if (wreal == NULL || breal == NULL) {
        r = PETAL_ERR_FORMAT;
        if (breal == NULL && b == NULL)
            r = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", m->path);
        goto done;
    }
    if (woihw == NULL || wscale == NULL) {
        r = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", m->path);
        goto done;
    }
    if (q) {
        wq = weights_s8(woihw, o, dw ? 1 : c, kh * kw, !dw, wscale);
        if (wq == NULL) {
            r = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", m->path);
            goto done;
        }
        for (int i = 0; i < o; i++) {
            breal[i] /= sx * wscale[i];      /* bias in accumulator units */
            wscale[i] = sx * wscale[i] / sy; /* accumulator -> output units */
        }
    }

    dnnl_memory_desc_t src_md, w_md, b_md, dst_md, w_user;
    dnnl_dims_t sd = {n, c, h, wd}, dd = {n, o, oh, ow}, bd = {o};
    dnnl_dims_t wdims5 = {c, o / c, 1, kh, kw}, wdims4 = {o, c, kh, kw};
    dnnl_data_type_t wdt = q ? dnnl_s8 : dnnl_f32;
    dnnl_memory_desc_init_by_tag(&src_md, 4, sd, adt, dnnl_format_tag_any);
    if (dw) {
        dnnl_memory_desc_init_by_tag(&w_md, 5, wdims5, wdt, dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(&w_user, 5, wdims5, wdt, dnnl_goihw);
    } else {
        dnnl_memory_desc_init_by_tag(&w_md, 4, wdims4, wdt, dnnl_format_tag_any);
        dnnl_memory_desc_init_by_tag(&w_user, 4, wdims4, wdt, dnnl_oihw);
    }
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);
    if (add)
        dst_md = s->values[skip].md;
    else
        dnnl_memory_desc_init_by_tag(&dst_md, 4, dd, adt, dnnl_format_tag_any);

    dnnl_convolution_desc_t cd;
    dnnl_status_t st = dnnl_dilated_convolution_forward_desc_init(
        &cd, dnnl_forward_inference, dnnl_convolution_direct, &src_md, &w_md, &b_md, &dst_md,
        strides, dil, pl, pr);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (st == dnnl_success)
        st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success)
        st = dnnl_post_ops_create(&po);
    if (st == dnnl_success && q) {
        st = dnnl_primitive_attr_set_output_scales(attr, o, 1 << 1, wscale);
        int32_t z = zx;
        if (st == dnnl_success && zx != 0)
            st = dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &z);
        z = zy;
        if (st == dnnl_success && zy != 0)
            st = dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_DST, 1, 0, &z);
    }
    if (st == dnnl_success && add) {
        const value *sv = &s->values[skip];
        st = q ? dnnl_post_ops_append_sum_v3(po, sv->scale / sy, sv->zp, dnnl_u8)
               : dnnl_post_ops_append_sum(po, 1.0f);
    }
    if (st == dnnl_success) {
        petal_activation act = add ? add->opt.activation : op->opt.activation;
        /* In int8, a ReLU or ReLU6 that the u8 range already imposes (zero point 0 and, for
         * ReLU6, 6 at or above the top of the range) is left to the saturation. */
        if (q && zy == 0 &&
            (act == PETAL_ACT_RELU || (act == PETAL_ACT_RELU6 && 6.0f / sy >= 255.0f)))
            act = PETAL_ACT_NONE;
        if (append_activation(po, act, q ? sy : 1.0f) != 0) {
            dnnl_post_ops_destroy(po);
            dnnl_primitive_attr_destroy(attr);
            r = unsupported(s, err, oi, "fused activation");
            goto done;
        }
        st = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success)
        st = make_primitive(s, &cd, attr, &pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) {
        r = dnnl_fail(s, err, "convolution", oi, st);
        goto done;
    }

    /* constants in the primitive's layout */
    step_arg args[4];
    const dnnl_memory_desc_t *want_w = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    args[1] = (step_arg){DNNL_ARG_WEIGHTS, -1, *want_w, NULL};
    args[2] = (step_arg){DNNL_ARG_BIAS, -1, b_md, NULL};
    r = const_memory(s, &w_user, q ? (void *)wq : (void *)woihw, want_w, &args[1].mem, oi, err);
    if (r == PETAL_OK)
        r = const_memory(s, &b_md, breal, &b_md, &args[2].mem, oi, err);
    if (r != PETAL_OK) {
        if (args[1].mem)
            dnnl_memory_destroy(args[1].mem);
        dnnl_primitive_desc_destroy(pd);
        goto done;
    }

    /* the input in the layout the primitive picked */
    value in;
    int tmp = -1;
    const dnnl_memory_desc_t *want_src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    r = as_layout(s, xt, want_src, sx, zx, &in, &tmp, oi, err);
    if (r != PETAL_OK) {
        dnnl_memory_destroy(args[1].mem);
        dnnl_memory_destroy(args[2].mem);
        dnnl_primitive_desc_destroy(pd);
        goto done;
    }
    args[0] = (step_arg){DNNL_ARG_SRC, in.slot, in.md, NULL};

    /* the output: in place into the skip tensor, or a new slot */
    const dnnl_memory_desc_t *got_dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    int out_t = add ? add->outputs[0] : yt;
    if (add) {
        value *z = &s->values[out_t];
        int last_use = z->last_use; /* the ADD output keeps its own lifetime */
        *z = s->values[skip];
        z->last_use = last_use;
        z->scale = q ? sy : 1.0f;
        z->zp = q ? zy : 0;
        s->slots[z->slot].refs++;
        *skip_next = 1;
    } else if (define_output(s, out_t, got_dst, 0, sy, zy) != 0) {
        dnnl_memory_destroy(args[1].mem);
        dnnl_memory_destroy(args[2].mem);
        dnnl_primitive_desc_destroy(pd);
        r = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", m->path);
        goto done;
    }
    args[3] = (step_arg){DNNL_ARG_DST, s->values[out_t].slot, *got_dst, NULL};
    r = add_primitive(s, pd, args, 4, oi, err);
    if (r != PETAL_OK) {
        dnnl_memory_destroy(args[1].mem);
        dnnl_memory_destroy(args[2].mem);
    }
    slot_release(s, tmp);
done:
    free(wreal);
    free(breal);
    free(woihw);
    free(wscale);
    free(wq);
    return r;
}

/* ---- Pooling, ADD, FULLY_CONNECTED ----------------------------------------------------- */

/* A copy of a value's layout with another data type (same element strides). */
static dnnl_memory_desc_t md_with_type(const dnnl_memory_desc_t *md, dnnl_data_type_t dt)
{
    dnnl_memory_desc_t r = *md;
    r.data_type = dt;
    return r;
}

/* AVERAGE_POOL_2D, and MEAN over height and width, as an average pooling primitive (padding
 * excluded from the count, as TFLite does). */
static petal_status plan_pool(dnnl_state *s, int oi, petal_error *err)
{
    const petal_model *m = s->m;
    const petal_op *op = &m->ops[oi];
    if (op->n_inputs < 1 || op->n_outputs < 1 || op->inputs[0] < 0)
        return unsupported(s, err, oi, "missing inputs");
    int xt = op->inputs[0], yt = op->outputs[0];
    const petal_tensor *x = &m->tensors[xt], *y = &m->tensors[yt];
    if (x->rank != 4)
        return unsupported(s, err, oi, "input is not 4D");
    int n = x->shape[0], h = x->shape[1], w = x->shape[2], c = x->shape[3];
    dnnl_dims_t strides, kernel, pl = {0, 0}, pr = {0, 0};
    int oh = 1, ow = 1;
    petal_activation act = PETAL_ACT_NONE;
    if (op->code == PETAL_OP_MEAN) {
        const petal_tensor *axes =
            op->n_inputs > 1 && op->inputs[1] >= 0 ? &m->tensors[op->inputs[1]] : NULL;
        int32_t a[2];
        if (axes == NULL || axes->type != PETAL_INT32 || petal_tensor_elements(axes) != 2 ||
            axes->data_size < 8)
            return unsupported(s, err, oi, "only a mean over height and width is supported");
        memcpy(a, axes->data, 8);
        if (!((a[0] == 1 && a[1] == 2) || (a[0] == 2 && a[1] == 1)))
            return unsupported(s, err, oi, "only a mean over height and width is supported");
        if (petal_tensor_elements(y) != (size_t)n * c)
            return unsupported(s, err, oi, "output shape does not match");
        kernel[0] = h, kernel[1] = w, strides[0] = 1, strides[1] = 1;
    } else {
        if (y->rank != 4 || y->shape[0] != n || y->shape[3] != c)
            return unsupported(s, err, oi, "output shape does not match");
        oh = y->shape[1], ow = y->shape[2];
        int sh = op->opt.stride_h > 0 ? op->opt.stride_h : 1;
        int sw = op->opt.stride_w > 0 ? op->opt.stride_w : 1;
        kernel[0] = op->opt.filter_h, kernel[1] = op->opt.filter_w;
        strides[0] = sh, strides[1] = sw;
        if (kernel[0] < 1 || kernel[1] < 1 ||
            conv_padding(op->opt.padding, h, op->opt.filter_h, sh, 1, oh, &pl[0], &pr[0]) != 0 ||
            conv_padding(op->opt.padding, w, op->opt.filter_w, sw, 1, ow, &pl[1], &pr[1]) != 0)
            return unsupported(s, err, oi, "output size does not follow from the options");
        act = op->opt.activation;
    }

    /* u8 in and out when both share one quantization, floats otherwise */
    value *v = &s->values[xt];
    float sy;
    int zy;
    int q = v->dt == dnnl_u8 && tensor_u8_quant(y, &sy, &zy) == 0 && sy == v->scale &&
            zy == v->zp && act == PETAL_ACT_NONE;
    dnnl_memory_desc_t src_md, dst_md;
    if (v->plain) {
        if (plain_md_4d(x, q ? dnnl_u8 : dnnl_f32, &src_md) != 0)
            return unsupported(s, err, oi, "input layout");
    } else {
        src_md = md_with_type(&v->md, q ? dnnl_u8 : dnnl_f32);
    }
    dnnl_dims_t dd = {n, c, oh, ow};
    dnnl_memory_desc_init_by_tag(&dst_md, 4, dd, q ? dnnl_u8 : dnnl_f32, dnnl_format_tag_any);
    dnnl_pooling_desc_t pdesc;
    dnnl_status_t st = dnnl_pooling_forward_desc_init(&pdesc, dnnl_forward_inference,
                                                      dnnl_pooling_avg_exclude_padding, &src_md,
                                                      &dst_md, strides, kernel, pl, pr);
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success)
        st = make_activated_primitive(s, &pdesc, act, &pd);
    if (st != dnnl_success)
        return dnnl_fail(s, err, "pooling", oi, st);

    value in;
    int tmp = -1;
    petal_status r = as_layout(s, xt, &src_md, v->scale, v->zp, &in, &tmp, oi, err);
    if (r != PETAL_OK) {
        dnnl_primitive_desc_destroy(pd);
        return r;
    }
    const dnnl_memory_desc_t *got = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    if (define_output(s, yt, got, 0, v->scale, v->zp) != 0) {
        dnnl_primitive_desc_destroy(pd);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", m->path);
    }
    step_arg args[2] = {{DNNL_ARG_SRC, in.slot, in.md, NULL},
                        {DNNL_ARG_DST, s->values[yt].slot, *got, NULL}};
    r = add_primitive(s, pd, args, 2, oi, err);
    slot_release(s, tmp);
    return r;
}

/* An ADD that could not be fused into the convolution before it: a binary primitive in
 * floats on two tensors of the same shape. */
static petal_status plan_add(dnnl_state *s, int oi, petal_error *err)
{
    const petal_model *m = s->m;
    const petal_op *op = &m->ops[oi];
    if (op->n_inputs != 2 || op->n_outputs < 1 || op->inputs[0] < 0 || op->inputs[1] < 0)
        return unsupported(s, err, oi, "missing inputs");
    int at = op->inputs[0], bt = op->inputs[1], yt = op->outputs[0];
    const petal_tensor *a = &m->tensors[at], *b = &m->tensors[bt], *y = &m->tensors[yt];
    if (is_const(a) || is_const(b) || !s->values[at].defined || !s->values[bt].defined)
        return unsupported(s, err, oi, "constant operands");
    if (a->rank != 4 || b->rank != 4 || y->rank != 4)
        return unsupported(s, err, oi, "only 4D tensors of one shape are supported");
    for (int d = 0; d < 4; d++)
        if (a->shape[d] != b->shape[d] || a->shape[d] != y->shape[d])
            return unsupported(s, err, oi, "broadcasting is not supported");
    value *va = &s->values[at];
    dnnl_memory_desc_t md;
    if (va->plain)
        plain_md_4d(a, dnnl_f32, &md);
    else
        md = md_with_type(&va->md, dnnl_f32);
    value ia, ib;
    int ta = -1, tb = -1;
    petal_status r = as_layout(s, at, &md, 1.0f, 0, &ia, &ta, oi, err);
    if (r == PETAL_OK)
        r = as_layout(s, bt, &md, 1.0f, 0, &ib, &tb, oi, err);
    if (r != PETAL_OK)
        return r;
    dnnl_binary_desc_t bd;
    dnnl_status_t st = dnnl_binary_desc_init(&bd, dnnl_binary_add, &md, &md, &md);
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success)
        st = make_activated_primitive(s, &bd, op->opt.activation, &pd);
    if (st != dnnl_success)
        return dnnl_fail(s, err, "binary add", oi, st);
    if (define_output(s, yt, &md, 0, 1.0f, 0) != 0) {
        dnnl_primitive_desc_destroy(pd);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", m->path);
    }
    step_arg args[3] = {{DNNL_ARG_SRC_0, ia.slot, md, NULL},
                        {DNNL_ARG_SRC_1, ib.slot, md, NULL},
                        {DNNL_ARG_DST, s->values[yt].slot, md, NULL}};
    r = add_primitive(s, pd, args, 3, oi, err);
    slot_release(s, ta);
    slot_release(s, tb);
    return r;
}

/* FULLY_CONNECTED as an fp32 inner product on plain rows. */
static petal_status plan_fc(dnnl_state *s, int oi, petal_error *err)
{
    const petal_model *m = s->m;
    const petal_op *op = &m->ops[oi];
    if (op->n_inputs < 2 || op->n_outputs < 1 || op->inputs[0] < 0 || op->inputs[1] < 0)
        return unsupported(s, err, oi, "missing inputs");
    int xt = op->inputs[0], yt = op->outputs[0];
    const petal_tensor *x = &m->tensors[xt], *w = &m->tensors[op->inputs[1]], *y = &m->tensors[yt];
    const petal_tensor *b =
        op->n_inputs > 2 && op->inputs[2] >= 0 ? &m->tensors[op->inputs[2]] : NULL;
    if (w->rank != 2 || !is_const(w) || (b && !is_const(b)))
        return unsupported(s, err, oi, "weights are not a constant matrix");
    int o = w->shape[0], ic = w->shape[1];
    size_t nx = petal_tensor_elements(x);
    if (ic <= 0 || o <= 0 || nx % (size_t)ic != 0 || (b && petal_tensor_elements(b) != (size_t)o))
        return unsupported(s, err, oi, "shapes do not match");
    dnnl_dim_t batch = (dnnl_dim_t)(nx / (size_t)ic);
    if (petal_tensor_elements(y) != (size_t)batch * o)
        return unsupported(s, err, oi, "output shape does not match");

    float *wreal = petal_tensor_dequantize(m, w, err);
    float *breal = b ? petal_tensor_dequantize(m, b, err) : calloc((size_t)o, sizeof(float));
    if (wreal == NULL || breal == NULL) {
        free(wreal);
        free(breal);
        return b ? PETAL_ERR_FORMAT : petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    }
    dnnl_memory_desc_t src_md, w_md, w_user, b_md, dst_md;
    dnnl_dims_t sd = {batch, ic}, wd = {o, ic}, bd = {o}, dd = {batch, o};
    dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&w_md, 2, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&w_user, 2, wd, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);
    dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab);
    dnnl_inner_product_desc_t ipd;
    dnnl_status_t st = dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src_md,
                                                            &w_md, &b_md, &dst_md);
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success)
        st = make_activated_primitive(s, &ipd, op->opt.activation, &pd);
    petal_status r = PETAL_OK;
    step_arg args[4] = {{0}};
    if (st != dnnl_success) {
        r = dnnl_fail(s, err, "inner product", oi, st);
        goto done;
    }
    const dnnl_memory_desc_t *want_w = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    args[1] = (step_arg){DNNL_ARG_WEIGHTS, -1, *want_w, NULL};
    args[2] = (step_arg){DNNL_ARG_BIAS, -1, b_md, NULL};
    r = const_memory(s, &w_user, wreal, want_w, &args[1].mem, oi, err);
    if (r == PETAL_OK)
        r = const_memory(s, &b_md, breal, &b_md, &args[2].mem, oi, err);
    value in;
    int tmp = -1;
    if (r == PETAL_OK)
        r = as_plain_float(s, xt, &in, &tmp, oi, err);
    if (r == PETAL_OK && define_output(s, yt, &dst_md, 1, 1.0f, 0) != 0)
        r = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", m->path);
    if (r != PETAL_OK) {
        dnnl_primitive_desc_destroy(pd);
        goto done;
    }
    args[0] = (step_arg){DNNL_ARG_SRC, in.slot, src_md, NULL};
    args[3] = (step_arg){DNNL_ARG_DST, s->values[yt].slot, dst_md, NULL};
    r = add_primitive(s, pd, args, 4, oi, err);
    if (r == PETAL_OK)
        args[1].mem = args[2].mem = NULL; /* owned by the step now */
    slot_release(s, tmp);
done:
    if (args[1].mem)
        dnnl_memory_destroy(args[1].mem);
    if (args[2].mem)
        dnnl_memory_destroy(args[2].mem);
    free(wreal);
    free(breal);
    return r;
}

/* ---- The float tail: views, softmax, quantization -------------------------------------- */

/* RESHAPE, SQUEEZE and DEQUANTIZE: the output shares the input's plain float buffer. */
static petal_status plan_view(dnnl_state *s, int oi, petal_error *err)
{
    const petal_op *op = &s->m->ops[oi];
    if (op->n_inputs < 1 || op->n_outputs < 1 || op->inputs[0] < 0)
        return unsupported(s, err, oi, "missing inputs");
    int xt = op->inputs[0], yt = op->outputs[0];
    if (petal_tensor_elements(&s->m->tensors[xt]) != petal_tensor_elements(&s->m->tensors[yt]))
        return unsupported(s, err, oi, "element counts differ");
    value in;
    int tmp = -1;
    petal_status r = as_plain_float(s, xt, &in, &tmp, oi, err);
    if (r != PETAL_OK)
        return r;
    int last_use = s->values[yt].last_use;
    s->values[yt] = in;
    s->values[yt].defined = 1;
    s->values[yt].last_use = last_use;
    if (tmp < 0) /* shares the input's slot; a converted copy is handed over as it is */
        s->slots[in.slot].refs++;
    return PETAL_OK;
}

/* SOFTMAX over the last dimension, and QUANTIZE (rounding real values to the output grid),
 * as plain C loops on floats. */
static petal_status plan_tail(dnnl_state *s, int oi, petal_error *err)
{
    const petal_model *m = s->m;
    const petal_op *op = &m->ops[oi];
    if (op->n_inputs < 1 || op->n_outputs < 1 || op->inputs[0] < 0)
        return unsupported(s, err, oi, "missing inputs");
    int xt = op->inputs[0], yt = op->outputs[0];
    const petal_tensor *x = &m->tensors[xt], *y = &m->tensors[yt];
    size_t n = petal_tensor_elements(x);
    if (n != petal_tensor_elements(y) || x->rank < 1)
        return unsupported(s, err, oi, "element counts differ");
    value in;
    int tmp = -1;
    petal_status r = as_plain_float(s, xt, &in, &tmp, oi, err);
    if (r != PETAL_OK)
        return r;
    step *st = add_step(s);
    if (st == NULL || define_plain_f32(s, yt) != 0)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", m->path);
    st->src_slot = in.slot;
    st->dst_slot = s->values[yt].slot;
    st->n = n;
    if (op->code == PETAL_OP_SOFTMAX) {
        st->kind = STEP_SOFTMAX;
        st->inner = (size_t)x->shape[x->rank - 1];
        st->beta = op->opt.beta != 0 ? op->opt.beta : 1.0f;
        if (st->inner == 0)
            return unsupported(s, err, oi, "empty last dimension");
    } else {
        st->kind = STEP_FAKEQUANT;
        st->scale = 0; /* 0: no grid (a float output) */
        if (y->quant.n == 1 && (y->type == PETAL_UINT8 || y->type == PETAL_INT8)) {
            st->scale = y->quant.scale[0];
            st->zp = (int)y->quant.zero_point[0];
            st->qmin = y->type == PETAL_UINT8 ? 0 : -128;
            st->qmax = y->type == PETAL_UINT8 ? 255 : 127;
        } else if (y->type != PETAL_FLOAT32) {
            return unsupported(s, err, oi, "output type");
        }
    }
    slot_release(s, tmp);
    return PETAL_OK;
}

/* ---- Planning the whole graph ---------------------------------------------------------- */

static void dnnl_destroy(void *state)
{
    dnnl_state *s = state;
    if (s == NULL)
        return;
    for (int i = 0; i < s->n_steps; i++) {
        step *st = &s->steps[i];
        if (st->prim)
            dnnl_primitive_destroy(st->prim);
        for (int k = 0; k < st->n_args; k++)
            if (st->args[k].mem)
                dnnl_memory_destroy(st->args[k].mem);
    }
    for (int i = 0; i < s->n_slots; i++)
        free(s->slots[i].buf);
    free(s->steps);
    free(s->slots);
    free(s->values);
    if (s->stream)
        dnnl_stream_destroy(s->stream);
    if (s->engine)
        dnnl_engine_destroy(s->engine);
    free(s);
}

/* Largest tensor planned: 2^28 elements (1 GiB of floats). */
#define MAX_ELEMENTS ((size_t)1 << 28)

/* Whether every dimension of t is positive and the element count stays within MAX_ELEMENTS. */
static int tensor_size_ok(const petal_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->rank; d++) {
        if (t->shape[d] < 1 || (size_t)t->shape[d] > MAX_ELEMENTS)
            return 0;
        n *= (size_t)t->shape[d];
        if (n > MAX_ELEMENTS)
            return 0;
    }
    return 1;
}

/* Rejects, before any planning, operators and tensor types the backend cannot run, and
 * tensors with empty, negative or oversized shapes. */
static petal_status check_support(dnnl_state *s, petal_error *err)
{
    const petal_model *m = s->m;
    if (!tensor_size_ok(&m->tensors[s->plan->input]))
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: input tensor %s has a bad shape",
                               m->path, m->tensors[s->plan->input].name);
    for (int pos = 0; pos < s->plan->n_ops; pos++) {
        int oi = s->plan->ops[pos];
        const petal_op *op = &m->ops[oi];
        switch (op->code) {
        case PETAL_OP_CONV_2D:
        case PETAL_OP_DEPTHWISE_CONV_2D:
        case PETAL_OP_ADD:
        case PETAL_OP_AVERAGE_POOL_2D:
        case PETAL_OP_MEAN:
        case PETAL_OP_FULLY_CONNECTED:
        case PETAL_OP_RESHAPE:
        case PETAL_OP_SQUEEZE:
        case PETAL_OP_SOFTMAX:
        case PETAL_OP_QUANTIZE:
        case PETAL_OP_DEQUANTIZE:
            break;
        default:
            return petal_error_set(
                err, PETAL_ERR_UNSUPPORTED, "%s: operator %d (%s) is not supported", m->path, oi,
                op->code < 0 && op->custom_code ? op->custom_code : petal_op_name(op->code));
        }
        for (int k = 0; k < op->n_outputs; k++) {
            int t = op->outputs[k];
            if (t < 0 || t >= m->n_tensors)
                return petal_error_set(err, PETAL_ERR_FORMAT, "%s: operator %d has a bad output",
                                       m->path, oi);
            petal_dtype ty = m->tensors[t].type;
            if (ty != PETAL_FLOAT32 && ty != PETAL_UINT8 && ty != PETAL_INT8)
                return petal_error_set(err, PETAL_ERR_UNSUPPORTED,
                                       "%s: operator %d (%s): tensor type %s is not supported",
                                       m->path, oi, petal_op_name(op->code), petal_dtype_name(ty));
        }
        for (int k = 0; k < op->n_inputs; k++)
            if (op->inputs[k] >= m->n_tensors)
                return petal_error_set(err, PETAL_ERR_FORMAT, "%s: operator %d has a bad input",
                                       m->path, oi);
        for (int k = 0; k < op->n_inputs + op->n_outputs; k++) {
            int t = k < op->n_inputs ? op->inputs[k] : op->outputs[k - op->n_inputs];
            if (t >= 0 && !tensor_size_ok(&m->tensors[t]))
                return petal_error_set(err, PETAL_ERR_UNSUPPORTED,
                                       "%s: operator %d (%s): tensor %s has a bad shape", m->path,
                                       oi, petal_op_name(op->code), m->tensors[t].name);
        }
    }
    return PETAL_OK;
}

static petal_status plan_op(dnnl_state *s, int pos, int *skip_next, petal_error *err)
{
    int oi = s->plan->ops[pos];
    const petal_op *op = &s->m->ops[oi];
    for (int k = 0; k < op->n_inputs; k++) {
        int t = op->inputs[k];
        if (t >= 0 && !is_const(&s->m->tensors[t]) && !s->values[t].defined)
            return unsupported(s, err, oi, "an input is neither constant nor computed");
    }
    switch (op->code) {
    case PETAL_OP_CONV_2D:
    case PETAL_OP_DEPTHWISE_CONV_2D:
        return plan_conv(s, oi, pos, skip_next, err);
    case PETAL_OP_ADD:
        return plan_add(s, oi, err);
    case PETAL_OP_AVERAGE_POOL_2D:
    case PETAL_OP_MEAN:
        return plan_pool(s, oi, err);
    case PETAL_OP_FULLY_CONNECTED:
        return plan_fc(s, oi, err);
    case PETAL_OP_RESHAPE:
    case PETAL_OP_SQUEEZE:
    case PETAL_OP_DEQUANTIZE:
        return plan_view(s, oi, err);
    case PETAL_OP_SOFTMAX:
    case PETAL_OP_QUANTIZE:
        return plan_tail(s, oi, err);
    }
    return unsupported(s, err, oi, "operator");
}

/* Allocates the slots and binds every step argument to its buffer. */
static petal_status finalize(dnnl_state *s, petal_error *err)
{
    size_t total = 0;
    for (int i = 0; i < s->n_slots; i++)
        total += s->slots[i].cap;
    petal_debug("%s: %d steps, %d activation buffers, %.1f MB", s->m->path, s->n_steps, s->n_slots,
                (double)total / 1e6);
    for (int i = 0; i < s->n_slots; i++) {
        size_t cap = (s->slots[i].cap + 63) / 64 * 64;
        s->slots[i].buf = aligned_alloc(64, cap ? cap : 64);
        if (s->slots[i].buf == NULL)
            return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory for activations",
                                   s->m->path);
        memset(s->slots[i].buf, 0, cap ? cap : 64);
    }
    for (int i = 0; i < s->n_steps; i++) {
        step *st = &s->steps[i];
        for (int k = 0; k < st->n_args; k++) {
            step_arg *a = &st->args[k];
            if (a->slot < 0)
                continue;
            if (dnnl_memory_create(&a->mem, &a->md, s->engine, s->slots[a->slot].buf) !=
                dnnl_success)
                return petal_error_set(err, PETAL_ERR_NOMEM, "%s: cannot bind activations",
                                       s->m->path);
        }
    }
    return PETAL_OK;
}

static petal_status plan_input(dnnl_state *s, petal_error *err)
{
    int t = s->plan->input;
    const petal_tensor *in = &s->m->tensors[t];
    step *st = add_step(s);
    if (st == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", s->m->path);
    st->kind = STEP_INPUT;
    st->in_type = in->type;
    st->in_quant = &in->quant;
    st->n = petal_tensor_elements(in);
    float scale;
    int zp, rc;
    if (s->int8 && tensor_u8_quant(in, &scale, &zp) == 0) {
        dnnl_memory_desc_t md;
        dnnl_dims_t d = {(dnnl_dim_t)(st->n ? st->n : 1)};
        dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_u8, dnnl_a);
        rc = define_output(s, t, &md, 1, scale, zp);
    } else {
        rc = define_plain_f32(s, t);
    }
    if (rc != 0)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", s->m->path);
    st->dst_slot = s->values[t].slot;
    return PETAL_OK;
}

static petal_status dnnl_create_common(const petal_plan *plan, int int8, void **state,
                                       petal_error *err)
{
    *state = NULL;
    dnnl_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", plan->model->path);
    s->plan = plan;
    s->m = plan->model;
    s->int8 = int8;
    const petal_model *m = s->m;
    petal_status r = check_support(s, err);
    if (r != PETAL_OK) {
        dnnl_destroy(s);
        return r;
    }
    s->values = calloc((size_t)m->n_tensors, sizeof *s->values);
    if (s->values == NULL || dnnl_engine_create(&s->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&s->stream, s->engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_destroy(s);
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: cannot start oneDNN", m->path);
    }
    for (int t = 0; t < m->n_tensors; t++)
        s->values[t].last_use = -1;
    for (int pos = 0; pos < plan->n_ops; pos++) {
        const petal_op *op = &m->ops[plan->ops[pos]];
        for (int k = 0; k < op->n_inputs; k++)
            if (op->inputs[k] >= 0)
                s->values[op->inputs[k]].last_use = pos;
    }
    s->values[plan->output].last_use = plan->n_ops;

    r = plan_input(s, err);
    int skip = 0;
    for (int pos = 0; pos < plan->n_ops && r == PETAL_OK; pos++) {
        const petal_op *op = &m->ops[plan->ops[pos]];
        if (skip)
            skip = 0; /* an ADD folded into the convolution before it */
        else
            r = plan_op(s, pos, &skip, err);
        if (r == PETAL_OK)
            release_dead(s, op, pos);
    }
    if (r == PETAL_OK) {
        value out;
        int tmp = -1;
        int last = plan->n_ops > 0 ? plan->ops[plan->n_ops - 1] : 0;
        if (!s->values[plan->output].defined)
            r = petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: output tensor %s is not computed",
                                m->path, m->tensors[plan->output].name);
        else if (plan->n_ops == 0 &&
                 !(s->values[plan->output].plain && s->values[plan->output].dt == dnnl_f32))
            r = petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: nothing to run", m->path);
        else
            r = as_plain_float(s, plan->output, &out, &tmp, last, err);
        s->out_slot = out.slot;
        s->out_n = petal_tensor_elements(&m->tensors[plan->output]);
    }
    if (r == PETAL_OK)
        r = finalize(s, err);
    if (r != PETAL_OK) {
        dnnl_destroy(s);
        return r;
    }
    *state = s;
    return PETAL_OK;
}

/* ---- Running ------------------------------------------------------------------------- */

static void run_input(const dnnl_state *s, const step *st, const void *input)
{
    void *dst = s->slots[st->dst_slot].buf;
    const value *v = &s->values[s->plan->input];
    if (v->dt == dnnl_u8) {
        if (st->in_type == PETAL_UINT8) {
            memcpy(dst, input, st->n);
        } else {
            const int8_t *src = input;
            uint8_t *d = dst;
            for (size_t i = 0; i < st->n; i++)
                d[i] = (uint8_t)(src[i] + 128);
        }
        return;
    }
    float *d = dst;
    if (st->in_type == PETAL_FLOAT32) {
        memcpy(d, input, st->n * sizeof(float));
        return;
    }
    float scale = st->in_quant->n > 0 ? st->in_quant->scale[0] : 1.0f;
    float zp = st->in_quant->n > 0 ? (float)st->in_quant->zero_point[0] : 0.0f;
    for (size_t i = 0; i < st->n; i++) {
        float q = st->in_type == PETAL_UINT8 ? (float)((const uint8_t *)input)[i]
                                             : (float)((const int8_t *)input)[i];
        d[i] = scale * (q - zp);
    }
}

static void run_softmax(const dnnl_state *s, const step *st)
{
    const float *x = s->slots[st->src_slot].buf;
    float *y = s->slots[st->dst_slot].buf;
    for (size_t row = 0; row + st->inner <= st->n; row += st->inner) {
        float mx = x[row];
        for (size_t i = 1; i < st->inner; i++)
            mx = x[row + i] > mx ? x[row + i] : mx;
        float sum = 0;
        for (size_t i = 0; i < st->inner; i++) {
            y[row + i] = expf(st->beta * (x[row + i] - mx));
            sum += y[row + i];
        }
        for (size_t i = 0; i < st->inner; i++)
            y[row + i] /= sum;
    }
}

static void run_fakequant(const dnnl_state *s, const step *st)
{
    const float *x = s->slots[st->src_slot].buf;
    float *y = s->slots[st->dst_slot].buf;
    for (size_t i = 0; i < st->n; i++) {
        if (st->scale == 0) {
            y[i] = x[i];
            continue;
        }
        long q = lrintf(x[i] / st->scale) + st->zp;
        q = q < st->qmin ? st->qmin : q > st->qmax ? st->qmax : q;
        y[i] = st->scale * (float)(q - st->zp);
    }
}

static petal_status dnnl_run(void *state, const void *input, float *output, petal_error *err)
{
    dnnl_state *s = state;
    omp_set_num_threads(s->plan->threads);
    for (int i = 0; i < s->n_steps; i++) {
        const step *st = &s->steps[i];
        switch (st->kind) {
        case STEP_INPUT:
            run_input(s, st, input);
            break;
        case STEP_PRIMITIVE: {
            dnnl_exec_arg_t a[MAX_ARGS];
            for (int k = 0; k < st->n_args; k++)
                a[k] = (dnnl_exec_arg_t){st->args[k].arg, st->args[k].mem};
            dnnl_status_t rc = dnnl_primitive_execute(st->prim, s->stream, st->n_args, a);
            if (rc != dnnl_success)
                return petal_error_set(err, PETAL_ERR_INTERNAL, "%s: oneDNN step %d failed (%d)",
                                       s->m->path, i, (int)rc);
            break;
        }
        case STEP_SOFTMAX:
            dnnl_stream_wait(s->stream);
            run_softmax(s, st);
            break;
        case STEP_FAKEQUANT:
            dnnl_stream_wait(s->stream);
            run_fakequant(s, st);
            break;
        }
    }
    dnnl_stream_wait(s->stream);
    memcpy(output, s->slots[s->out_slot].buf, s->out_n * sizeof(float));
    return PETAL_OK;
}

static petal_status dnnl_create_f32(const petal_plan *plan, void **state, petal_error *err)
{
    return dnnl_create_common(plan, 0, state, err);
}

static int plan_is_quantized(const petal_plan *plan)
{
    const petal_model *m = plan->model;
    for (int pos = 0; pos < plan->n_ops; pos++) {
        const petal_op *op = &m->ops[plan->ops[pos]];
        if ((op->code == PETAL_OP_CONV_2D || op->code == PETAL_OP_DEPTHWISE_CONV_2D) &&
            op->n_inputs > 1 && op->inputs[1] >= 0) {
            petal_dtype t = m->tensors[op->inputs[1]].type;
            if (t == PETAL_UINT8 || t == PETAL_INT8)
                return 1;
        }
    }
    return 0;
}

static petal_status dnnl_create_int8(const petal_plan *plan, void **state, petal_error *err)
{
    if (!plan_is_quantized(plan))
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED,
                               "%s: the int8 backend needs quantized convolution weights",
                               plan->model->path);
    return dnnl_create_common(plan, 1, state, err);
}

const petal_backend_impl petal_backend_dnnl_f32_impl = {"onednn-f32", dnnl_create_f32, dnnl_run,
                                                        dnnl_destroy};
const petal_backend_impl petal_backend_dnnl_int8_impl = {"onednn-int8", dnnl_create_int8, dnnl_run,
                                                         dnnl_destroy};
