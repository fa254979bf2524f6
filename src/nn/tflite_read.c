/* tflite_read.c - the .tflite reader: a hand-written FlatBuffers parser for the TFLite
 * schema (Model, SubGraph, Tensor, Operator, Buffer) that fills a petal_model.
 *
 * Nothing in the file is trusted: every root offset, vtable, field, vector, string and
 * index is checked against the file size before it is read, scalars are read byte by byte
 * (no alignment assumed, little-endian as the format says), and the memory the parser may
 * allocate is bounded by the file size so that tables shared many times cannot blow up.
 * Names and constant tensor data point into the model's own copy of the file bytes.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "nn/model_internal.h"
#include "nn/tflite_internal.h"
#include "util/fs.h"

/* Field ids (declaration order in schema.fbs; a union takes two ids: type, then value). */
enum { MODEL_VERSION = 0, MODEL_OPCODES, MODEL_SUBGRAPHS, MODEL_DESCRIPTION, MODEL_BUFFERS };
enum { MODEL_METADATA_BUFFER = 5, MODEL_METADATA = 6 };
enum { OPCODE_DEPRECATED = 0, OPCODE_CUSTOM, OPCODE_VERSION, OPCODE_BUILTIN };
enum { SUBGRAPH_TENSORS = 0, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS };
enum { TENSOR_SHAPE = 0, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANT };
enum { TENSOR_SPARSITY = 6 };
enum { QUANT_SCALE = 2, QUANT_ZERO_POINT = 3, QUANT_DETAILS_TYPE = 4, QUANT_DIMENSION = 6 };
enum { OP_OPCODE = 0, OP_INPUTS, OP_OUTPUTS, OP_OPTIONS_TYPE, OP_OPTIONS };
enum { BUFFER_DATA = 0, BUFFER_OFFSET, BUFFER_SIZE };
enum { METADATA_NAME = 0, METADATA_BUFFER };

#define TFLITE_LAST_TYPE       22 /* highest TensorType in the schema */
#define TFLITE_LAST_ACTIVATION 5
#define MAX_TENSOR_ELEMENTS    ((size_t)INT32_MAX)

typedef struct reader {
    const uint8_t *p;
    size_t len;
    const char *name;
    petal_error *err;
    petal_model *m;
    size_t budget; /* bytes the parser may still allocate */
} reader;

typedef struct table {
    size_t pos; /* where the table starts (its soffset to the vtable) */
    size_t vt;  /* where its vtable starts */
    unsigned vt_size, size;
} table;

typedef struct vec {
    size_t start; /* first element */
    uint32_t n;
} vec;

/* ---- Bounds-checked primitives ------------------------------------------------------ */

static uint64_t rd_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)rd_le(p, 4);
}

static float f32_of(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static petal_status fail(reader *r, petal_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static petal_status fail(reader *r, petal_status code, const char *fmt, ...)
{
    char msg[PETAL_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return petal_error_set(r->err, code, "%s: %s", r->name, msg);
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        petal_status st_ = (expr);                                                                 \
        if (st_ != PETAL_OK)                                                                       \
            return st_;                                                                            \
    } while (0)

/* Memory owned by the model, counted against the budget. */
static petal_status alloc_or_fail(reader *r, size_t n, void **out, const char *what)
{
    if (n > r->budget)
        return fail(r, PETAL_ERR_FORMAT,
                    "%s: the file's tables expand to more memory than a model of %zu bytes can "
                    "need (tables shared too often)",
                    what, r->len);
    r->budget -= n;
    *out = petal_model_alloc(r->m, n);
    if (*out == NULL)
        return fail(r, PETAL_ERR_NOMEM, "%s: out of memory", what);
    return PETAL_OK;
}

/* Opens the table that starts at pos: its vtable must lie inside the file, be at least 4
 * bytes and even, and the table's own size must fit in the file. */
static petal_status table_open(reader *r, size_t pos, const char *what, table *t)
{
    if (pos > r->len || r->len - pos < 4)
        return fail(r, PETAL_ERR_FORMAT,
                    "%s: table at offset %zu lies outside the file (%zu bytes)", what, pos, r->len);
    int32_t so = (int32_t)rd32(r->p + pos);
    int64_t vt = (int64_t)pos - (int64_t)so;
    if (vt < 0 || (uint64_t)vt > r->len - 4)
        return fail(r, PETAL_ERR_FORMAT, "%s: vtable at offset %lld lies outside the file", what,
                    (long long)vt);
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vt_size = (unsigned)rd_le(r->p + t->vt, 2);
    t->size = (unsigned)rd_le(r->p + t->vt + 2, 2);
    if (t->vt_size < 4 || (t->vt_size & 1) || t->vt_size > r->len - t->vt)
        return fail(r, PETAL_ERR_FORMAT, "%s: vtable size %u is invalid", what, t->vt_size);
    if (t->size < 4 || t->size > r->len - pos)
        return fail(r, PETAL_ERR_FORMAT, "%s: table size %u runs past the end of the file", what,
                    t->size);
    return PETAL_OK;
}

/* Offset of field id inside the table, 0 when absent. */
static unsigned field_off(const reader *r, const table *t, int id)
{
    unsigned slot = 4 + 2 * (unsigned)id;
    if (slot + 2 > t->vt_size)
        return 0;
    return (unsigned)rd_le(r->p + t->vt + slot, 2);
}

/* Reads a little-endian scalar field of sz bytes, or def when absent. */
static petal_status field_scalar(reader *r, const table *t, int id, size_t sz, uint64_t def,
                                 const char *what, uint64_t *out)
{
    unsigned off = field_off(r, t, id);
    if (off == 0) {
        *out = def;
        return PETAL_OK;
    }
    if (off < 4 || off + sz > t->size)
        return fail(r, PETAL_ERR_FORMAT, "%s: field %d lies outside its table", what, id);
    *out = rd_le(r->p + t->pos + off, sz);
    return PETAL_OK;
}

static petal_status field_i32(reader *r, const table *t, int id, int32_t def, const char *what,
                              int32_t *out)
{
    uint64_t v = 0;
    TRY(field_scalar(r, t, id, 4, (uint32_t)def, what, &v));
    *out = (int32_t)(uint32_t)v;
    return PETAL_OK;
}

static petal_status field_u32(reader *r, const table *t, int id, const char *what, uint32_t *out)
{
    uint64_t v = 0;
    TRY(field_scalar(r, t, id, 4, 0, what, &v));
    *out = (uint32_t)v;
    return PETAL_OK;
}

static petal_status field_u8(reader *r, const table *t, int id, uint8_t def, const char *what,
                             uint8_t *out)
{
    uint64_t v = 0;
    TRY(field_scalar(r, t, id, 1, def, what, &v));
    *out = (uint8_t)v;
    return PETAL_OK;
}

/* Follows an offset field; *present is 0 when the field is absent. */
static petal_status field_ref(reader *r, const table *t, int id, const char *what, size_t *target,
                              int *present)
{
    unsigned off = field_off(r, t, id);
    *present = 0;
    if (off == 0)
        return PETAL_OK;
    if (off < 4 || off + 4 > t->size)
        return fail(r, PETAL_ERR_FORMAT, "%s: field %d lies outside its table", what, id);
    size_t loc = t->pos + off;
    uint64_t dest = (uint64_t)loc + rd32(r->p + loc);
    if (dest >= r->len)
        return fail(r, PETAL_ERR_FORMAT,
                    "%s: field %d points outside the file (%zu bytes; truncated or corrupt)", what,
                    id, r->len);
    *target = (size_t)dest;
    *present = 1;
    return PETAL_OK;
}

/* A vector of elements of elem bytes at pos (its 32-bit length first). */
static petal_status vec_at(reader *r, size_t pos, size_t elem, const char *what, vec *v)
{
    if (pos > r->len || r->len - pos < 4)
        return fail(r, PETAL_ERR_FORMAT, "%s: vector length lies outside the file", what);
    v->n = rd32(r->p + pos);
    v->start = pos + 4;
    if (v->n > (r->len - v->start) / elem)
        return fail(r, PETAL_ERR_FORMAT, "%s: vector of %u entries runs past the end of the file",
                    what, v->n);
    return PETAL_OK;
}

/* A vector field; absent gives an empty vector. */
static petal_status field_vec(reader *r, const table *t, int id, size_t elem, const char *what,
                              vec *v, int *present)
{
    size_t pos;
    int have;
    v->n = 0;
    v->start = 0;
    TRY(field_ref(r, t, id, what, &pos, &have));
    if (present)
        *present = have;
    return have ? vec_at(r, pos, elem, what, v) : PETAL_OK;
}

/* A string field: points into the file bytes, NUL-terminated inside the file. Absent gives
 * NULL. */
static petal_status field_str(reader *r, const table *t, int id, const char *what, const char **out)
{
    vec v = {0, 0};
    int have;
    *out = NULL;
    TRY(field_vec(r, t, id, 1, what, &v, &have));
    if (!have)
        return PETAL_OK;
    if (v.start + v.n >= r->len || r->p[v.start + v.n] != 0)
        return fail(r, PETAL_ERR_FORMAT, "%s: string is not NUL-terminated inside the file", what);
    *out = (const char *)r->p + v.start;
    return PETAL_OK;
}

/* Element i of a vector of tables. */
static petal_status vec_table(reader *r, const vec *v, uint32_t i, const char *what, table *t)
{
    size_t loc = v->start + 4 * (size_t)i;
    uint64_t dest = (uint64_t)loc + rd32(r->p + loc);
    if (dest >= r->len)
        return fail(r, PETAL_ERR_FORMAT,
                    "%s: offset points outside the file (%zu bytes; truncated or corrupt)", what,
                    r->len);
    return table_open(r, (size_t)dest, what, t);
}

static int32_t vec_i32(const reader *r, const vec *v, uint32_t i)
{
    return (int32_t)rd32(r->p + v->start + 4 * (size_t)i);
}

/* ---- Model pieces ------------------------------------------------------------------- */

typedef struct opcode {
    int code;
    int version;
    const char *custom;
} opcode;

static petal_status read_opcodes(reader *r, const table *model, opcode **codes, uint32_t *n)
{
    vec v = {0, 0};
    TRY(field_vec(r, model, MODEL_OPCODES, 4, "operator codes", &v, NULL));
    *n = v.n;
    TRY(alloc_or_fail(r, (size_t)v.n * sizeof **codes, (void **)codes, "operator codes"));
    for (uint32_t i = 0; i < v.n; i++) {
        char what[64];
        snprintf(what, sizeof what, "operator code %u", i);
        table t;
        uint8_t dep;
        int32_t builtin, version;
        TRY(vec_table(r, &v, i, what, &t));
        TRY(field_u8(r, &t, OPCODE_DEPRECATED, 0, what, &dep));
        TRY(field_i32(r, &t, OPCODE_BUILTIN, 0, what, &builtin));
        TRY(field_i32(r, &t, OPCODE_VERSION, 1, what, &version));
        TRY(field_str(r, &t, OPCODE_CUSTOM, what, &(*codes)[i].custom));
        int code = (int8_t)dep > builtin ? (int8_t)dep : builtin;
        if (code < 0)
            return fail(r, PETAL_ERR_FORMAT, "%s: builtin code %d is negative", what, code);
        (*codes)[i].code = code == PETAL_TFLITE_CUSTOM_CODE ? -1 : code;
        (*codes)[i].version = version > 0 ? version : 1;
        if (code == PETAL_TFLITE_CUSTOM_CODE && (*codes)[i].custom == NULL)
            (*codes)[i].custom = "";
        if (code != PETAL_TFLITE_CUSTOM_CODE)
            (*codes)[i].custom = NULL;
    }
    return PETAL_OK;
}

/* Shape, checked: rank <= PETAL_MAX_RANK, dims >= 0, element count bounded. */
static petal_status read_shape(reader *r, const table *t, const char *what, petal_tensor *x,
                               size_t *elements)
{
    vec v = {0, 0};
    TRY(field_vec(r, t, TENSOR_SHAPE, 4, what, &v, NULL));
    if (v.n > PETAL_MAX_RANK)
        return fail(r, PETAL_ERR_UNSUPPORTED, "%s: rank %u is over petal's limit of %d", what, v.n,
                    PETAL_MAX_RANK);
    x->rank = (int)v.n;
    size_t count = 1;
    for (uint32_t d = 0; d < v.n; d++) {
        int32_t dim = vec_i32(r, &v, d);
        if (dim < 0)
            return fail(r, PETAL_ERR_FORMAT, "%s: dimension %u is negative (%d)", what, d, dim);
        x->shape[d] = dim;
        if (dim != 0 && count > MAX_TENSOR_ELEMENTS / (size_t)dim)
            return fail(r, PETAL_ERR_FORMAT, "%s: shape has more than %zu elements", what,
                        MAX_TENSOR_ELEMENTS);
        count *= (size_t)dim;
    }
    *elements = count;
    return PETAL_OK;
}

static petal_status read_quant(reader *r, const table *t, const char *what, petal_tensor *x)
{
    size_t pos;
    int have;
    TRY(field_ref(r, t, TENSOR_QUANT, what, &pos, &have));
    if (!have)
        return PETAL_OK;
    table q;
    vec scale = {0, 0}, zp = {0, 0};
    uint8_t details;
    int32_t dim;
    TRY(table_open(r, pos, what, &q));
    TRY(field_vec(r, &q, QUANT_SCALE, 4, what, &scale, NULL));
    TRY(field_vec(r, &q, QUANT_ZERO_POINT, 8, what, &zp, NULL));
    TRY(field_u8(r, &q, QUANT_DETAILS_TYPE, 0, what, &details));
    TRY(field_i32(r, &q, QUANT_DIMENSION, 0, what, &dim));
    if (details != 0)
        return fail(r, PETAL_ERR_UNSUPPORTED, "%s: custom quantization (details type %u)", what,
                    details);
    if (scale.n == 0)
        return PETAL_OK;
    if (zp.n != 0 && zp.n != scale.n)
        return fail(r, PETAL_ERR_FORMAT, "%s: %u quantization scales but %u zero points", what,
                    scale.n, zp.n);
    if (dim < 0 || (x->rank > 0 && dim >= x->rank) || (x->rank == 0 && dim != 0))
        return fail(r, PETAL_ERR_FORMAT, "%s: quantized dimension %d is outside its rank %d", what,
                    dim, x->rank);
    if (scale.n > 1 && (x->rank == 0 || (uint32_t)x->shape[dim] != scale.n))
        return fail(r, PETAL_ERR_FORMAT, "%s: %u quantization scales for a dimension of size %d",
                    what, scale.n, x->rank ? x->shape[dim] : 0);
    TRY(alloc_or_fail(r, (size_t)scale.n * sizeof(float), (void **)&x->quant.scale, what));
    TRY(alloc_or_fail(r, (size_t)scale.n * sizeof(int64_t), (void **)&x->quant.zero_point, what));
    for (uint32_t i = 0; i < scale.n; i++) {
        x->quant.scale[i] = f32_of(rd32(r->p + scale.start + 4 * (size_t)i));
        if (zp.n)
            x->quant.zero_point[i] = (int64_t)rd_le(r->p + zp.start + 8 * (size_t)i, 8);
    }
    x->quant.n = (int)scale.n;
    x->quant.axis = dim;
    return PETAL_OK;
}

/* The constant bytes of buffer b: its data vector, or offset/size past the FlatBuffer in
 * files over 2 GB (valid when offset > 1, relative to the start of the file). */
static petal_status read_buffer(reader *r, const vec *buffers, uint32_t b, const char *what,
                                const uint8_t **data, size_t *size)
{
    char bwhat[96];
    snprintf(bwhat, sizeof bwhat, "%s: buffer %u", what, b);
    table t;
    vec v = {0, 0};
    uint64_t off = 0, sz = 0;
    TRY(vec_table(r, buffers, b, bwhat, &t));
    TRY(field_scalar(r, &t, BUFFER_OFFSET, 8, 0, bwhat, &off));
    TRY(field_scalar(r, &t, BUFFER_SIZE, 8, 0, bwhat, &sz));
    if (off > 1) {
        if (off > r->len || sz > r->len - off)
            return fail(r, PETAL_ERR_FORMAT,
                        "%s: data at offset %llu, size %llu lies outside the file (%zu bytes)",
                        bwhat, (unsigned long long)off, (unsigned long long)sz, r->len);
        *data = sz ? r->p + off : NULL;
        *size = (size_t)sz;
        return PETAL_OK;
    }
    TRY(field_vec(r, &t, BUFFER_DATA, 1, bwhat, &v, NULL));
    *data = v.n ? r->p + v.start : NULL;
    *size = v.n;
    return PETAL_OK;
}

static petal_status read_tensor(reader *r, const table *t, int index, const vec *buffers,
                                petal_tensor *x)
{
    char what[64];
    snprintf(what, sizeof what, "tensor %d", index);
    size_t elements = 0;
    uint8_t type;
    uint32_t buffer;
    const char *name;
    size_t sparsity_pos;
    int sparse;
    TRY(read_shape(r, t, what, x, &elements));
    TRY(field_u8(r, t, TENSOR_TYPE, 0, what, &type));
    TRY(field_u32(r, t, TENSOR_BUFFER, what, &buffer));
    TRY(field_str(r, t, TENSOR_NAME, what, &name));
    TRY(field_ref(r, t, TENSOR_SPARSITY, what, &sparsity_pos, &sparse));
    if ((int8_t)type < 0 || type > TFLITE_LAST_TYPE)
        return fail(r, PETAL_ERR_FORMAT, "%s: unknown type %d", what, (int8_t)type);
    if (sparse)
        return fail(r, PETAL_ERR_UNSUPPORTED, "%s: sparse tensors are not supported", what);
    x->type = (petal_dtype)type;
    x->name = (char *)name;
    if (name == NULL) {
        x->name = petal_model_strndup(r->m, "", 0);
        if (x->name == NULL)
            return fail(r, PETAL_ERR_NOMEM, "%s: out of memory", what);
    }
    TRY(read_quant(r, t, what, x));
    if (buffer >= buffers->n)
        return fail(r, PETAL_ERR_FORMAT, "%s buffer index %u is out of range (%u buffers)", what,
                    buffer, buffers->n);
    const uint8_t *data;
    size_t size;
    TRY(read_buffer(r, buffers, buffer, what, &data, &size));
    if (size == 0)
        return PETAL_OK;
    size_t esize = petal_dtype_size(x->type);
    if (esize != 0 && size != elements * esize)
        return fail(r, PETAL_ERR_FORMAT,
                    "%s has %zu bytes of data, expected %zu (%zu elements of %s)", what, size,
                    elements * esize, elements, petal_dtype_name(x->type));
    x->data = data;
    x->data_size = size;
    return PETAL_OK;
}

/* Reads a vector of tensor indices into model memory; -1 is allowed when optional. */
static petal_status read_indices(reader *r, const table *t, int id, const char *what,
                                 const char *role, int optional, int **out, int *n)
{
    vec v = {0, 0};
    TRY(field_vec(r, t, id, 4, what, &v, NULL));
    TRY(alloc_or_fail(r, (size_t)v.n * sizeof(int), (void **)out, what));
    for (uint32_t i = 0; i < v.n; i++) {
        int32_t k = vec_i32(r, &v, i);
        if ((k < 0 && !(optional && k == -1)) || k >= r->m->n_tensors)
            return fail(r, PETAL_ERR_FORMAT, "%s %s %u is tensor %d, out of range (%d tensors)",
                        what, role, i, k, r->m->n_tensors);
        (*out)[i] = k;
    }
    *n = (int)v.n;
    return PETAL_OK;
}

static petal_status check_activation(reader *r, const char *what, uint8_t act)
{
    if ((int8_t)act < 0 || act > TFLITE_LAST_ACTIVATION)
        return fail(r, PETAL_ERR_FORMAT, "%s: unknown fused activation %d", what, (int8_t)act);
    return PETAL_OK;
}

static petal_status read_padding(reader *r, const table *t, const char *what, petal_op_options *o)
{
    uint8_t pad;
    TRY(field_u8(r, t, 0, 0, what, &pad));
    if (pad > PETAL_PAD_VALID)
        return fail(r, PETAL_ERR_FORMAT, "%s: unknown padding %d", what, (int8_t)pad);
    o->padding = (petal_padding)pad;
    TRY(field_i32(r, t, 1, 0, what, &o->stride_w));
    TRY(field_i32(r, t, 2, 0, what, &o->stride_h));
    return PETAL_OK;
}

static petal_status read_act(reader *r, const table *t, int id, const char *what,
                             petal_op_options *o)
{
    uint8_t act;
    TRY(field_u8(r, t, id, 0, what, &act));
    TRY(check_activation(r, what, act));
    o->activation = (petal_activation)act;
    return PETAL_OK;
}

/* A small int vector (squeeze dims, reshape's new shape) of at most PETAL_MAX_RANK. */
static petal_status read_dims(reader *r, const table *t, const char *what, int *dims, int *n)
{
    vec v = {0, 0};
    TRY(field_vec(r, t, 0, 4, what, &v, NULL));
    if (v.n > PETAL_MAX_RANK)
        return fail(r, PETAL_ERR_UNSUPPORTED, "%s: %u dimensions in options (at most %d)", what,
                    v.n, PETAL_MAX_RANK);
    for (uint32_t i = 0; i < v.n; i++)
        dims[i] = vec_i32(r, &v, i);
    *n = (int)v.n;
    return PETAL_OK;
}

/* Builtin options of the ops petal knows. As in the TFLite runtime, an op reads only the
 * options table its code expects; any other table is left unread. */
static petal_status read_options(reader *r, const table *op, int code, const char *what,
                                 petal_op_options *o)
{
    uint8_t type;
    size_t pos;
    int have;
    table t;
    TRY(field_u8(r, op, OP_OPTIONS_TYPE, 0, what, &type));
    TRY(field_ref(r, op, OP_OPTIONS, what, &pos, &have));
    if (!have || type == 0 || type != petal_tflite_options_type(code))
        return PETAL_OK;
    TRY(table_open(r, pos, what, &t));
    uint8_t flag;
    uint32_t beta;
    switch (type) {
    case PETAL_TFLITE_OPT_CONV_2D:
        TRY(read_padding(r, &t, what, o));
        TRY(read_act(r, &t, 3, what, o));
        TRY(field_i32(r, &t, 4, 1, what, &o->dilation_w));
        TRY(field_i32(r, &t, 5, 1, what, &o->dilation_h));
        break;
    case PETAL_TFLITE_OPT_DEPTHWISE_CONV_2D:
        TRY(read_padding(r, &t, what, o));
        TRY(field_i32(r, &t, 3, 0, what, &o->depth_multiplier));
        TRY(read_act(r, &t, 4, what, o));
        TRY(field_i32(r, &t, 5, 1, what, &o->dilation_w));
        TRY(field_i32(r, &t, 6, 1, what, &o->dilation_h));
        break;
    case PETAL_TFLITE_OPT_POOL_2D:
        TRY(read_padding(r, &t, what, o));
        TRY(field_i32(r, &t, 3, 0, what, &o->filter_w));
        TRY(field_i32(r, &t, 4, 0, what, &o->filter_h));
        TRY(read_act(r, &t, 5, what, o));
        break;
    case PETAL_TFLITE_OPT_FULLY_CONNECTED:
        TRY(read_act(r, &t, 0, what, o));
        TRY(field_u8(r, &t, 1, 0, what, &flag));
        if (flag != 0)
            return fail(r, PETAL_ERR_UNSUPPORTED, "%s: shuffled weights format %u", what, flag);
        TRY(field_u8(r, &t, 2, 0, what, &flag));
        o->keep_num_dims = flag != 0;
        break;
    case PETAL_TFLITE_OPT_SOFTMAX:
        TRY(field_u32(r, &t, 0, what, &beta));
        o->beta = f32_of(beta);
        break;
    case PETAL_TFLITE_OPT_CONCATENATION:
        TRY(field_i32(r, &t, 0, 0, what, &o->axis));
        TRY(read_act(r, &t, 1, what, o));
        break;
    case PETAL_TFLITE_OPT_ADD:
        TRY(read_act(r, &t, 0, what, o));
        break;
    case PETAL_TFLITE_OPT_RESHAPE:
        TRY(read_dims(r, &t, what, o->new_shape, &o->n_new_shape));
        break;
    case PETAL_TFLITE_OPT_REDUCER:
        TRY(field_u8(r, &t, 0, 0, what, &flag));
        o->keep_dims = flag != 0;
        break;
    case PETAL_TFLITE_OPT_SQUEEZE:
        TRY(read_dims(r, &t, what, o->squeeze_dims, &o->n_squeeze_dims));
        break;
    default:
        break;
    }
    return PETAL_OK;
}

static petal_status read_op(reader *r, const table *t, int index, const opcode *codes,
                            uint32_t n_codes, petal_op *op)
{
    char what[64];
    snprintf(what, sizeof what, "op %d", index);
    uint32_t code_index;
    TRY(field_u32(r, t, OP_OPCODE, what, &code_index));
    if (code_index >= n_codes)
        return fail(r, PETAL_ERR_FORMAT, "%s: opcode index %u is out of range (%u operator codes)",
                    what, code_index, n_codes);
    op->code = codes[code_index].code;
    op->version = codes[code_index].version;
    op->custom_code = (char *)codes[code_index].custom;
    TRY(read_indices(r, t, OP_INPUTS, what, "input", 1, &op->inputs, &op->n_inputs));
    TRY(read_indices(r, t, OP_OUTPUTS, what, "output", 0, &op->outputs, &op->n_outputs));
    op->opt.dilation_w = 1;
    op->opt.dilation_h = 1;
    return read_options(r, t, op->code, what, &op->opt);
}

/* Every buffer's data must lie inside the file, used by a tensor or not. */
static petal_status check_buffers(reader *r, const vec *buffers)
{
    for (uint32_t i = 0; i < buffers->n; i++) {
        const uint8_t *data;
        size_t size;
        TRY(read_buffer(r, buffers, i, "model", &data, &size));
    }
    return PETAL_OK;
}

/* Metadata entries are checked (name, buffer index) but not kept. */
static petal_status check_metadata(reader *r, const table *model, uint32_t n_buffers)
{
    vec v = {0, 0};
    TRY(field_vec(r, model, MODEL_METADATA_BUFFER, 4, "metadata buffers", &v, NULL));
    for (uint32_t i = 0; i < v.n; i++) {
        int32_t b = vec_i32(r, &v, i);
        if (b < 0 || (uint32_t)b >= n_buffers)
            return fail(r, PETAL_ERR_FORMAT, "metadata buffer %d is out of range (%u buffers)", b,
                        n_buffers);
    }
    TRY(field_vec(r, model, MODEL_METADATA, 4, "metadata", &v, NULL));
    for (uint32_t i = 0; i < v.n; i++) {
        char what[64];
        snprintf(what, sizeof what, "metadata %u", i);
        table t;
        const char *name;
        uint32_t b;
        TRY(vec_table(r, &v, i, what, &t));
        TRY(field_str(r, &t, METADATA_NAME, what, &name));
        TRY(field_u32(r, &t, METADATA_BUFFER, what, &b));
        if (b >= n_buffers)
            return fail(r, PETAL_ERR_FORMAT, "%s buffer index %u is out of range (%u buffers)",
                        what, b, n_buffers);
    }
    return PETAL_OK;
}

static petal_status read_subgraph(reader *r, const table *sg, const vec *buffers,
                                  const opcode *codes, uint32_t n_codes)
{
    petal_model *m = r->m;
    vec tensors = {0, 0}, ops = {0, 0};
    TRY(field_vec(r, sg, SUBGRAPH_TENSORS, 4, "tensors", &tensors, NULL));
    TRY(field_vec(r, sg, SUBGRAPH_OPERATORS, 4, "operators", &ops, NULL));
    size_t need = (size_t)tensors.n * sizeof(petal_tensor) + (size_t)ops.n * sizeof(petal_op);
    if (tensors.n > INT_MAX / 2 || ops.n > INT_MAX / 2 || need > r->budget)
        return fail(r, PETAL_ERR_FORMAT, "%u tensors and %u operators cannot fit in %zu bytes",
                    tensors.n, ops.n, r->len);
    r->budget -= need;
    if (petal_model_reserve_tensors(m, (int)tensors.n) || petal_model_reserve_ops(m, (int)ops.n))
        return fail(r, PETAL_ERR_NOMEM, "out of memory for %u tensors", tensors.n);

    for (uint32_t i = 0; i < tensors.n; i++) {
        char what[64];
        snprintf(what, sizeof what, "tensor %u", i);
        table t;
        TRY(vec_table(r, &tensors, i, what, &t));
        memset(&m->tensors[i], 0, sizeof m->tensors[i]);
        TRY(read_tensor(r, &t, (int)i, buffers, &m->tensors[i]));
        m->n_tensors = (int)i + 1;
    }
    TRY(read_indices(r, sg, SUBGRAPH_INPUTS, "graph", "input", 0, &m->inputs, &m->n_inputs));
    TRY(read_indices(r, sg, SUBGRAPH_OUTPUTS, "graph", "output", 0, &m->outputs, &m->n_outputs));
    for (uint32_t i = 0; i < ops.n; i++) {
        char what[64];
        snprintf(what, sizeof what, "op %u", i);
        table t;
        TRY(vec_table(r, &ops, i, what, &t));
        memset(&m->ops[i], 0, sizeof m->ops[i]);
        TRY(read_op(r, &t, (int)i, codes, n_codes, &m->ops[i]));
        m->n_ops = (int)i + 1;
    }
    return PETAL_OK;
}

static petal_status read_model(reader *r)
{
    if (r->len == 0)
        return fail(r, PETAL_ERR_FORMAT, "empty file, not a TFLite model");
    if (r->len < 8 || memcmp(r->p + 4, "TFL3", 4) != 0)
        return fail(r, PETAL_ERR_FORMAT, "not a TFLite model (no TFL3 file identifier)");
    table model, sg;
    uint32_t version, n_codes;
    opcode *codes;
    vec buffers = {0, 0}, subgraphs = {0, 0};
    const char *description;
    TRY(table_open(r, rd32(r->p), "model", &model));
    TRY(field_u32(r, &model, MODEL_VERSION, "model", &version));
    if (version != 3)
        return fail(r, PETAL_ERR_UNSUPPORTED, "schema version %u (petal reads version 3)", version);
    r->m->version = version;
    TRY(field_str(r, &model, MODEL_DESCRIPTION, "description", &description));
    r->m->description = (char *)description;
    TRY(read_opcodes(r, &model, &codes, &n_codes));
    TRY(field_vec(r, &model, MODEL_BUFFERS, 4, "buffers", &buffers, NULL));
    TRY(check_buffers(r, &buffers));
    TRY(check_metadata(r, &model, buffers.n));
    TRY(field_vec(r, &model, MODEL_SUBGRAPHS, 4, "subgraphs", &subgraphs, NULL));
    if (subgraphs.n == 0)
        return fail(r, PETAL_ERR_FORMAT, "the model has no subgraph");
    TRY(vec_table(r, &subgraphs, 0, "subgraph 0", &sg));
    return read_subgraph(r, &sg, &buffers, codes, n_codes);
}

/* Parses bytes that the new model takes over (freed with it, or here on failure). */
static petal_status parse_owned(uint8_t *bytes, size_t len, const char *name, petal_model **out,
                                petal_error *err)
{
    *out = NULL;
    petal_model *m = petal_model_new();
    if (m == NULL || petal_model_adopt(m, bytes) != 0) {
        petal_model_free(m);
        free(bytes);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", name);
    }
    m->path = petal_model_strndup(m, name, (size_t)-1);
    if (m->path == NULL) {
        petal_model_free(m);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", name);
    }
    reader r = {.p = bytes, .len = len, .name = name, .err = err, .m = m};
    r.budget = len > (SIZE_MAX - (1u << 20)) / 64 ? SIZE_MAX : 64 * len + (1u << 20);
    petal_status st = read_model(&r);
    if (st != PETAL_OK) {
        petal_model_free(m);
        return st;
    }
    *out = m;
    return PETAL_OK;
}

petal_status petal_model_parse(const uint8_t *data, size_t len, const char *name, petal_model **out,
                               petal_error *err)
{
    *out = NULL;
    if (name == NULL)
        name = "<memory>";
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory for %zu bytes", name, len);
    if (len)
        memcpy(copy, data, len);
    return parse_owned(copy, len, name, out, err);
}

petal_status petal_model_load(const char *path, petal_model **out, petal_error *err)
{
    uint8_t *bytes;
    size_t len;
    *out = NULL;
    petal_status st = petal_read_file(path, 0, &bytes, &len, err);
    if (st != PETAL_OK)
        return st;
    return parse_owned(bytes, len, path, out, err);
}
