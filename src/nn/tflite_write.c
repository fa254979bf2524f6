/* tflite_write.c - the .tflite writer: serialises a petal_model as a TFLite FlatBuffer
 * (schema version 3, one subgraph, "TFL3" identifier), as `petal train` does to export its
 * retrained graph.
 *
 * The builder writes front to back: a table is written with placeholders for its offset
 * fields, then its children after it, and the placeholders are patched, so every uoffset
 * points forward as the format requires. Each vtable sits just before its table. Scalars
 * are aligned to their size, vectors to 4 (8 for 64-bit elements, 16 for buffer data) and
 * strings are NUL-terminated, so flatc's verifier and the TFLite runtime accept the file.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "nn/tflite_internal.h"
#include "util/fs.h"

#define MAX_FIELDS     16
#define MAX_FLATBUFFER ((size_t)0x7fffffff)

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} wbuf;

/* A table being built: its fields in id order, written by tb_end. */
typedef struct tbuild {
    int n;
    struct {
        int id, size;
        uint32_t value;
    } f[MAX_FIELDS];
    size_t at[MAX_FIELDS]; /* where field id landed, after tb_end */
} tbuild;

/* ---- Byte buffer --------------------------------------------------------------------- */

static int wb_reserve(wbuf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (n <= b->cap - b->len)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static size_t wb_put(wbuf *b, const void *data, size_t n)
{
    size_t at = b->len;
    if (wb_reserve(b, n) != 0)
        return at;
    if (data)
        memcpy(b->p + at, data, n);
    else
        memset(b->p + at, 0, n);
    b->len += n;
    return at;
}

/* Pads with zeros until (len + extra) is a multiple of align. */
static void wb_align(wbuf *b, size_t align, size_t extra)
{
    while ((b->len + extra) % align != 0)
        wb_put(b, NULL, 1);
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static size_t wb_u32(wbuf *b, uint32_t v)
{
    uint8_t bytes[4];
    put_le(bytes, v, 4);
    return wb_put(b, bytes, 4);
}

/* Points the uoffset stored at `at` to target (which lies after it). */
static void wb_patch(wbuf *b, size_t at, size_t target)
{
    if (!b->oom)
        put_le(b->p + at, (uint32_t)(target - at), 4);
}

/* ---- Tables, vectors, strings -------------------------------------------------------- */

static void tb_field(tbuild *t, int id, int size, uint32_t value)
{
    t->f[t->n].id = id;
    t->f[t->n].size = size;
    t->f[t->n].value = value;
    t->n++;
}

/* An offset field: a 4-byte placeholder that wb_patch fills once the child is written. */
static void tb_ref(tbuild *t, int id)
{
    tb_field(t, id, 4, 0);
}

/* Writes the vtable, then the table (4-byte fields first, then 1-byte ones). */
static size_t tb_end(wbuf *b, tbuild *t)
{
    int max_id = -1;
    for (int i = 0; i < t->n; i++)
        max_id = t->f[i].id > max_id ? t->f[i].id : max_id;
    uint16_t field_off[MAX_FIELDS] = {0};
    unsigned size = 4;
    for (int pass = 4; pass >= 1; pass -= 3)
        for (int i = 0; i < t->n; i++)
            if (t->f[i].size == pass) {
                field_off[t->f[i].id] = (uint16_t)size;
                size += (unsigned)pass;
            }
    unsigned vt_size = 4 + 2 * (unsigned)(max_id + 1);

    wb_align(b, 2, 0);
    size_t vt = b->len;
    uint8_t head[4];
    put_le(head, vt_size, 2);
    put_le(head + 2, size, 2);
    wb_put(b, head, 4);
    for (int id = 0; id <= max_id; id++) {
        uint8_t off[2];
        put_le(off, field_off[id], 2);
        wb_put(b, off, 2);
    }
    wb_align(b, 4, 0);
    size_t pos = b->len;
    wb_u32(b, (uint32_t)(pos - vt));
    wb_put(b, NULL, size - 4);
    for (int i = 0; i < t->n; i++) {
        size_t at = pos + field_off[t->f[i].id];
        t->at[t->f[i].id] = at;
        if (!b->oom)
            put_le(b->p + at, t->f[i].value, (size_t)t->f[i].size);
    }
    return pos;
}

/* A vector of n elements of elem bytes (little-endian values from vals, or zeros), its
 * elements aligned to align. Returns the position of its length. */
static size_t wv_put(wbuf *b, const void *vals, size_t n, size_t elem, size_t align)
{
    wb_align(b, align > 4 ? align : 4, 4);
    size_t at = wb_u32(b, (uint32_t)n);
    wb_put(b, vals, n * elem);
    return at;
}

static size_t wv_ints(wbuf *b, const int *v, int n)
{
    size_t at = wv_put(b, NULL, (size_t)n, 4, 4);
    if (!b->oom)
        for (int i = 0; i < n; i++)
            put_le(b->p + at + 4 + 4 * (size_t)i, (uint32_t)v[i], 4);
    return at;
}

static size_t wv_string(wbuf *b, const char *s)
{
    size_t n = strlen(s);
    size_t at = wv_put(b, s, n, 1, 4);
    wb_put(b, NULL, 1);
    return at;
}

/* Writes a string child for field id of a finished table. */
static void child_string(wbuf *b, tbuild *t, int id, const char *s)
{
    wb_patch(b, t->at[id], wv_string(b, s));
}

static void child_ints(wbuf *b, tbuild *t, int id, const int *v, int n)
{
    wb_patch(b, t->at[id], wv_ints(b, v, n));
}

/* ---- Model pieces -------------------------------------------------------------------- */

typedef struct wcode {
    int code, version;
    const char *custom;
} wcode;

static int same_code(const wcode *c, const petal_op *op)
{
    if (c->code != op->code || c->version != op->version)
        return 0;
    if (op->code != -1)
        return 1;
    const char *a = c->custom ? c->custom : "", *z = op->custom_code ? op->custom_code : "";
    return strcmp(a, z) == 0;
}

static void write_opcode(wbuf *b, const wcode *c, size_t slot)
{
    int code = c->code < 0 ? PETAL_TFLITE_CUSTOM_CODE : c->code;
    tbuild t = {0};
    tb_field(
        &t, 0, 1,
        (uint32_t)(code < PETAL_TFLITE_PLACEHOLDER_CODE ? code : PETAL_TFLITE_PLACEHOLDER_CODE));
    if (c->code < 0)
        tb_ref(&t, 1);
    tb_field(&t, 2, 4, (uint32_t)c->version);
    tb_field(&t, 3, 4, (uint32_t)code);
    wb_patch(b, slot, tb_end(b, &t));
    if (c->code < 0)
        child_string(b, &t, 1, c->custom ? c->custom : "");
}

static void write_quant(wbuf *b, const petal_quant *q, size_t slot)
{
    tbuild t = {0};
    tb_ref(&t, 2);
    tb_ref(&t, 3);
    tb_field(&t, 6, 4, (uint32_t)q->axis);
    wb_patch(b, slot, tb_end(b, &t));
    size_t at = wv_put(b, NULL, (size_t)q->n, 4, 4);
    for (int i = 0; i < q->n && !b->oom; i++) {
        uint32_t bits;
        memcpy(&bits, &q->scale[i], 4);
        put_le(b->p + at + 4 + 4 * (size_t)i, bits, 4);
    }
    wb_patch(b, t.at[2], at);
    at = wv_put(b, NULL, (size_t)q->n, 8, 8);
    for (int i = 0; i < q->n && !b->oom; i++)
        put_le(b->p + at + 4 + 8 * (size_t)i, (uint64_t)q->zero_point[i], 8);
    wb_patch(b, t.at[3], at);
}

static void write_tensor(wbuf *b, const petal_tensor *x, uint32_t buffer, size_t slot)
{
    tbuild t = {0};
    tb_ref(&t, 0);
    tb_field(&t, 1, 1, (uint32_t)x->type);
    tb_field(&t, 2, 4, buffer);
    tb_ref(&t, 3);
    if (x->quant.n > 0)
        tb_ref(&t, 4);
    tb_field(&t, 8, 1, 1); /* has_rank: the shape is known, scalars included */
    wb_patch(b, slot, tb_end(b, &t));
    child_ints(b, &t, 0, x->shape, x->rank);
    child_string(b, &t, 3, x->name ? x->name : "");
    if (x->quant.n > 0)
        write_quant(b, &x->quant, t.at[4]);
}

static void padding_fields(tbuild *t, const petal_op_options *o)
{
    tb_field(t, 0, 1, (uint32_t)o->padding);
    tb_field(t, 1, 4, (uint32_t)o->stride_w);
    tb_field(t, 2, 4, (uint32_t)o->stride_h);
}

/* The builtin options table of an op that has one (see petal_tflite_options_type). */
static void write_options(wbuf *b, const petal_op *op, size_t slot)
{
    const petal_op_options *o = &op->opt;
    tbuild t = {0};
    const int *dims = NULL;
    int n_dims = 0;
    switch (op->code) {
    case PETAL_OP_CONV_2D:
        padding_fields(&t, o);
        tb_field(&t, 3, 1, (uint32_t)o->activation);
        tb_field(&t, 4, 4, (uint32_t)o->dilation_w);
        tb_field(&t, 5, 4, (uint32_t)o->dilation_h);
        break;
    case PETAL_OP_DEPTHWISE_CONV_2D:
        padding_fields(&t, o);
        tb_field(&t, 3, 4, (uint32_t)o->depth_multiplier);
        tb_field(&t, 4, 1, (uint32_t)o->activation);
        tb_field(&t, 5, 4, (uint32_t)o->dilation_w);
        tb_field(&t, 6, 4, (uint32_t)o->dilation_h);
        break;
    case PETAL_OP_AVERAGE_POOL_2D:
    case PETAL_OP_MAX_POOL_2D:
        padding_fields(&t, o);
        tb_field(&t, 3, 4, (uint32_t)o->filter_w);
        tb_field(&t, 4, 4, (uint32_t)o->filter_h);
        tb_field(&t, 5, 1, (uint32_t)o->activation);
        break;
    case PETAL_OP_FULLY_CONNECTED:
        tb_field(&t, 0, 1, (uint32_t)o->activation);
        tb_field(&t, 2, 1, o->keep_num_dims != 0);
        break;
    case PETAL_OP_SOFTMAX: {
        uint32_t bits;
        memcpy(&bits, &o->beta, 4);
        tb_field(&t, 0, 4, bits);
        break;
    }
    case PETAL_OP_CONCATENATION:
        tb_field(&t, 0, 4, (uint32_t)o->axis);
        tb_field(&t, 1, 1, (uint32_t)o->activation);
        break;
    case PETAL_OP_ADD:
        tb_field(&t, 0, 1, (uint32_t)o->activation);
        break;
    case PETAL_OP_RESHAPE:
        dims = o->new_shape;
        n_dims = o->n_new_shape;
        break;
    case PETAL_OP_MEAN:
        tb_field(&t, 0, 1, o->keep_dims != 0);
        break;
    case PETAL_OP_SQUEEZE:
        dims = o->squeeze_dims;
        n_dims = o->n_squeeze_dims;
        break;
    default:
        return;
    }
    if (n_dims > 0)
        tb_ref(&t, 0);
    wb_patch(b, slot, tb_end(b, &t));
    if (n_dims > 0)
        child_ints(b, &t, 0, dims, n_dims);
}

static void write_op(wbuf *b, const petal_op *op, uint32_t code_index, size_t slot)
{
    int type = petal_tflite_options_type(op->code);
    tbuild t = {0};
    tb_field(&t, 0, 4, code_index);
    tb_ref(&t, 1);
    tb_ref(&t, 2);
    if (type) {
        tb_field(&t, 3, 1, (uint32_t)type);
        tb_ref(&t, 4);
    }
    wb_patch(b, slot, tb_end(b, &t));
    child_ints(b, &t, 1, op->inputs, op->n_inputs);
    child_ints(b, &t, 2, op->outputs, op->n_outputs);
    if (type)
        write_options(b, op, t.at[4]);
}

/* ---- Checks before writing ----------------------------------------------------------- */

static petal_status check_model(const petal_model *m, petal_error *err)
{
    const char *name = m->path ? m->path : "<memory>";
    for (int i = 0; i < m->n_tensors; i++) {
        const petal_tensor *t = &m->tensors[i];
        if (t->rank < 0 || t->rank > PETAL_MAX_RANK)
            return petal_error_set(err, PETAL_ERR_ARG, "%s: tensor %d has rank %d", name, i,
                                   t->rank);
        for (int d = 0; d < t->rank; d++)
            if (t->shape[d] < 0)
                return petal_error_set(err, PETAL_ERR_ARG, "%s: tensor %d has a negative dimension",
                                       name, i);
        size_t esize = petal_dtype_size(t->type);
        if (t->data && esize && t->data_size != petal_tensor_elements(t) * esize)
            return petal_error_set(err, PETAL_ERR_ARG,
                                   "%s: tensor %d has %zu bytes of data for %zu elements", name, i,
                                   t->data_size, petal_tensor_elements(t));
        if (t->quant.n < 0 || (t->quant.n > 0 && (!t->quant.scale || !t->quant.zero_point)))
            return petal_error_set(err, PETAL_ERR_ARG, "%s: tensor %d has bad quantization", name,
                                   i);
    }
    for (int i = 0; i < m->n_ops; i++) {
        const petal_op *op = &m->ops[i];
        if (op->code < -1)
            return petal_error_set(err, PETAL_ERR_ARG, "%s: op %d has code %d", name, i, op->code);
        for (int k = 0; k < op->n_inputs; k++)
            if (op->inputs[k] < -1 || op->inputs[k] >= m->n_tensors)
                return petal_error_set(err, PETAL_ERR_ARG, "%s: op %d input %d is out of range",
                                       name, i, op->inputs[k]);
        for (int k = 0; k < op->n_outputs; k++)
            if (op->outputs[k] < 0 || op->outputs[k] >= m->n_tensors)
                return petal_error_set(err, PETAL_ERR_ARG, "%s: op %d output %d is out of range",
                                       name, i, op->outputs[k]);
        if (op->opt.n_new_shape < 0 || op->opt.n_new_shape > PETAL_MAX_RANK ||
            op->opt.n_squeeze_dims < 0 || op->opt.n_squeeze_dims > PETAL_MAX_RANK)
            return petal_error_set(err, PETAL_ERR_ARG, "%s: op %d has bad options", name, i);
    }
    for (int i = 0; i < m->n_inputs; i++)
        if (m->inputs[i] < 0 || m->inputs[i] >= m->n_tensors)
            return petal_error_set(err, PETAL_ERR_ARG, "%s: graph input %d is out of range", name,
                                   m->inputs[i]);
    for (int i = 0; i < m->n_outputs; i++)
        if (m->outputs[i] < 0 || m->outputs[i] >= m->n_tensors)
            return petal_error_set(err, PETAL_ERR_ARG, "%s: graph output %d is out of range", name,
                                   m->outputs[i]);
    return PETAL_OK;
}

/* ---- Whole model --------------------------------------------------------------------- */

static void write_model(wbuf *b, const petal_model *m, const wcode *codes, int n_codes,
                        const uint32_t *code_of_op, const uint32_t *buffer_of_tensor,
                        uint32_t n_buffers)
{
    size_t root = wb_u32(b, 0);
    wb_put(b, "TFL3", 4);

    tbuild model = {0};
    tb_field(&model, 0, 4, 3);
    tb_ref(&model, 1);
    tb_ref(&model, 2);
    tb_ref(&model, 3);
    tb_ref(&model, 4);
    wb_patch(b, root, tb_end(b, &model));

    size_t v = wv_put(b, NULL, (size_t)n_codes, 4, 4);
    wb_patch(b, model.at[1], v);
    for (int i = 0; i < n_codes; i++)
        write_opcode(b, &codes[i], v + 4 + 4 * (size_t)i);

    v = wv_put(b, NULL, 1, 4, 4);
    wb_patch(b, model.at[2], v);
    tbuild sg = {0};
    for (int id = 0; id <= 4; id++)
        tb_ref(&sg, id);
    wb_patch(b, v + 4, tb_end(b, &sg));
    v = wv_put(b, NULL, (size_t)m->n_tensors, 4, 4);
    wb_patch(b, sg.at[0], v);
    for (int i = 0; i < m->n_tensors; i++)
        write_tensor(b, &m->tensors[i], buffer_of_tensor[i], v + 4 + 4 * (size_t)i);
    child_ints(b, &sg, 1, m->inputs, m->n_inputs);
    child_ints(b, &sg, 2, m->outputs, m->n_outputs);
    v = wv_put(b, NULL, (size_t)m->n_ops, 4, 4);
    wb_patch(b, sg.at[3], v);
    for (int i = 0; i < m->n_ops; i++)
        write_op(b, &m->ops[i], code_of_op[i], v + 4 + 4 * (size_t)i);
    child_string(b, &sg, 4, "main");

    child_string(b, &model, 3, "petal");

    /* Buffer tables first, then their data, each vector 16-byte aligned in the file. */
    v = wv_put(b, NULL, n_buffers, 4, 4);
    wb_patch(b, model.at[4], v);
    size_t *data_slot = calloc(n_buffers ? n_buffers : 1, sizeof *data_slot);
    if (data_slot == NULL) {
        b->oom = 1;
        return;
    }
    tbuild empty = {0};
    wb_patch(b, v + 4, tb_end(b, &empty));
    for (uint32_t k = 1; k < n_buffers; k++) {
        tbuild buf = {0};
        tb_ref(&buf, 0);
        wb_patch(b, v + 4 + 4 * (size_t)k, tb_end(b, &buf));
        data_slot[k] = buf.at[0];
    }
    for (int i = 0; i < m->n_tensors; i++) {
        uint32_t k = buffer_of_tensor[i];
        if (k == 0)
            continue;
        const petal_tensor *t = &m->tensors[i];
        wb_patch(b, data_slot[k], wv_put(b, t->data, t->data_size, 1, 16));
    }
    wb_align(b, 16, 0);
    free(data_slot);
}

petal_status petal_model_serialize(const petal_model *model, uint8_t **data, size_t *len,
                                   petal_error *err)
{
    *data = NULL;
    *len = 0;
    const char *name = model->path ? model->path : "<memory>";
    petal_status st = check_model(model, err);
    if (st != PETAL_OK)
        return st;

    wcode *codes = calloc((size_t)model->n_ops + 1, sizeof *codes);
    uint32_t *code_of_op = calloc((size_t)model->n_ops + 1, sizeof *code_of_op);
    uint32_t *buffer_of_tensor = calloc((size_t)model->n_tensors + 1, sizeof *buffer_of_tensor);
    wbuf b = {0};
    if (codes == NULL || code_of_op == NULL || buffer_of_tensor == NULL) {
        b.oom = 1;
        goto done;
    }
    int n_codes = 0;
    for (int i = 0; i < model->n_ops; i++) {
        const petal_op *op = &model->ops[i];
        int k = 0;
        while (k < n_codes && !same_code(&codes[k], op))
            k++;
        if (k == n_codes) {
            codes[k].code = op->code;
            codes[k].version = op->version > 0 ? op->version : 1;
            codes[k].custom = op->custom_code;
            n_codes++;
        }
        code_of_op[i] = (uint32_t)k;
    }
    uint32_t n_buffers = 1;
    for (int i = 0; i < model->n_tensors; i++)
        if (model->tensors[i].data && model->tensors[i].data_size > 0)
            buffer_of_tensor[i] = n_buffers++;
    write_model(&b, model, codes, n_codes, code_of_op, buffer_of_tensor, n_buffers);

done:
    free(codes);
    free(code_of_op);
    free(buffer_of_tensor);
    if (b.oom) {
        free(b.p);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory while serialising", name);
    }
    if (b.len > MAX_FLATBUFFER) {
        free(b.p);
        return petal_error_set(err, PETAL_ERR_LIMIT,
                               "%s: serialised model is %zu bytes, over the 2 GB FlatBuffer limit",
                               name, b.len);
    }
    *data = b.p;
    *len = b.len;
    return PETAL_OK;
}

petal_status petal_model_save(const petal_model *model, const char *path, petal_error *err)
{
    uint8_t *data;
    size_t len;
    petal_status st = petal_model_serialize(model, &data, &len, err);
    if (st != PETAL_OK)
        return st;
    st = petal_write_file_atomic(path, data, len, err);
    free(data);
    return st;
}
