/* cmd_info.c - `petal info`: describes a .tflite model (version, inputs and outputs, every
 * tensor and operator with its key options) as text or, with --json, as one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "nn/model.h"

static const char *activation_name(petal_activation a)
{
    static const char *const names[] = {"NONE",  "RELU", "RELU_N1_TO_1",
                                        "RELU6", "TANH", "SIGN_BIT"};
    return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "UNKNOWN";
}

static void shape_text(const petal_tensor *t, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    if (t->rank == 0)
        snprintf(buf, n, "scalar");
    for (int d = 0; d < t->rank && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, d ? "x%d" : "%d", t->shape[d]);
}

static void quant_text(const petal_quant *q, char *buf, size_t n)
{
    if (q->n == 0) {
        snprintf(buf, n, "-");
    } else if (q->n == 1) {
        snprintf(buf, n, "scale %g zero_point %lld", q->scale[0], (long long)q->zero_point[0]);
    } else {
        float lo = q->scale[0], hi = q->scale[0];
        for (int i = 1; i < q->n; i++) {
            lo = q->scale[i] < lo ? q->scale[i] : lo;
            hi = q->scale[i] > hi ? q->scale[i] : hi;
        }
        snprintf(buf, n, "per-channel axis %d, %d scales %g..%g", q->axis, q->n, lo, hi);
    }
}

static void ints_text(const int *v, int n, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %d" : "%d", v[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* The options that matter for op's code as text ("padding SAME stride 2x2 ..."). */
static void options_text(const petal_op *op, char *buf, size_t n)
{
    const petal_op_options *o = &op->opt;
    const char *pad = o->padding == PETAL_PAD_SAME ? "SAME" : "VALID";
    char dims[64];
    buf[0] = '\0';
    switch (op->code) {
    case PETAL_OP_CONV_2D:
        snprintf(buf, n, "padding %s stride %dx%d dilation %dx%d activation %s", pad, o->stride_h,
                 o->stride_w, o->dilation_h, o->dilation_w, activation_name(o->activation));
        break;
    case PETAL_OP_DEPTHWISE_CONV_2D:
        snprintf(buf, n, "padding %s stride %dx%d dilation %dx%d depth_multiplier %d activation %s",
                 pad, o->stride_h, o->stride_w, o->dilation_h, o->dilation_w, o->depth_multiplier,
                 activation_name(o->activation));
        break;
    case PETAL_OP_AVERAGE_POOL_2D:
    case PETAL_OP_MAX_POOL_2D:
        snprintf(buf, n, "padding %s stride %dx%d filter %dx%d activation %s", pad, o->stride_h,
                 o->stride_w, o->filter_h, o->filter_w, activation_name(o->activation));
        break;
    case PETAL_OP_FULLY_CONNECTED:
        snprintf(buf, n, "activation %s keep_num_dims %d", activation_name(o->activation),
                 o->keep_num_dims);
        break;
    case PETAL_OP_SOFTMAX:
        snprintf(buf, n, "beta %g", o->beta);
        break;
    case PETAL_OP_CONCATENATION:
        snprintf(buf, n, "axis %d activation %s", o->axis, activation_name(o->activation));
        break;
    case PETAL_OP_ADD:
        snprintf(buf, n, "activation %s", activation_name(o->activation));
        break;
    case PETAL_OP_RESHAPE:
        ints_text(o->new_shape, o->n_new_shape, dims, sizeof dims);
        snprintf(buf, n, "new_shape %s", dims);
        break;
    case PETAL_OP_MEAN:
        snprintf(buf, n, "keep_dims %d", o->keep_dims);
        break;
    case PETAL_OP_SQUEEZE:
        ints_text(o->squeeze_dims, o->n_squeeze_dims, dims, sizeof dims);
        snprintf(buf, n, "squeeze_dims %s", dims);
        break;
    default:
        break;
    }
}

static void print_text(const petal_model *m)
{
    char buf[512], shape[96], quant[160];
    printf("model: %s\n", m->path);
    printf("version: %u\n", m->version);
    printf("description: %s\n", m->description ? m->description : "");
    for (int i = 0; i < m->n_inputs; i++) {
        const petal_tensor *t = &m->tensors[m->inputs[i]];
        shape_text(t, shape, sizeof shape);
        printf("input %d: tensor %d \"%s\" %s %s\n", i, m->inputs[i], t->name,
               petal_dtype_name(t->type), shape);
    }
    for (int i = 0; i < m->n_outputs; i++) {
        const petal_tensor *t = &m->tensors[m->outputs[i]];
        shape_text(t, shape, sizeof shape);
        printf("output %d: tensor %d \"%s\" %s %s\n", i, m->outputs[i], t->name,
               petal_dtype_name(t->type), shape);
    }
    printf("tensors: %d\n", m->n_tensors);
    for (int i = 0; i < m->n_tensors; i++) {
        const petal_tensor *t = &m->tensors[i];
        shape_text(t, shape, sizeof shape);
        quant_text(&t->quant, quant, sizeof quant);
        char constant[64] = "";
        if (t->data)
            snprintf(constant, sizeof constant, " constant %zu bytes", t->data_size);
        printf("  %4d \"%s\" %s %s quant %s%s\n", i, t->name, petal_dtype_name(t->type), shape,
               quant, constant);
    }
    printf("ops: %d\n", m->n_ops);
    for (int i = 0; i < m->n_ops; i++) {
        const petal_op *op = &m->ops[i];
        char in[256], out[128];
        ints_text(op->inputs, op->n_inputs, in, sizeof in);
        ints_text(op->outputs, op->n_outputs, out, sizeof out);
        options_text(op, buf, sizeof buf);
        printf("  %4d %s%s%s v%d inputs %s outputs %s%s%s\n", i, petal_op_name(op->code),
               op->custom_code ? " " : "", op->custom_code ? op->custom_code : "", op->version, in,
               out, buf[0] ? " " : "", buf);
    }
}

static cJSON *int_array(const int *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *tensor_json(const petal_tensor *t, int index)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", index);
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "type", petal_dtype_name(t->type));
    cJSON_AddItemToObject(o, "shape", int_array(t->shape, t->rank));
    if (t->quant.n > 0) {
        cJSON *q = cJSON_AddObjectToObject(o, "quantization");
        cJSON *scale = cJSON_AddArrayToObject(q, "scale");
        cJSON *zp = cJSON_AddArrayToObject(q, "zero_point");
        for (int i = 0; i < t->quant.n; i++) {
            cJSON_AddItemToArray(scale, cJSON_CreateNumber(t->quant.scale[i]));
            cJSON_AddItemToArray(zp, cJSON_CreateNumber((double)t->quant.zero_point[i]));
        }
        cJSON_AddNumberToObject(q, "quantized_dimension", t->quant.axis);
    }
    cJSON_AddBoolToObject(o, "constant", t->data != NULL);
    if (t->data)
        cJSON_AddNumberToObject(o, "data_bytes", (double)t->data_size);
    return o;
}

static cJSON *op_json(const petal_op *op, int index)
{
    cJSON *o = cJSON_CreateObject();
    char opts[512];
    cJSON_AddNumberToObject(o, "index", index);
    cJSON_AddStringToObject(o, "name", petal_op_name(op->code));
    cJSON_AddNumberToObject(o, "code", op->code);
    if (op->custom_code)
        cJSON_AddStringToObject(o, "custom_code", op->custom_code);
    cJSON_AddNumberToObject(o, "version", op->version);
    cJSON_AddItemToObject(o, "inputs", int_array(op->inputs, op->n_inputs));
    cJSON_AddItemToObject(o, "outputs", int_array(op->outputs, op->n_outputs));
    options_text(op, opts, sizeof opts);
    cJSON_AddStringToObject(o, "options", opts);
    return o;
}

static int print_json(const petal_model *m)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", m->path);
    cJSON_AddNumberToObject(root, "version", m->version);
    cJSON_AddStringToObject(root, "description", m->description ? m->description : "");
    cJSON_AddItemToObject(root, "inputs", int_array(m->inputs, m->n_inputs));
    cJSON_AddItemToObject(root, "outputs", int_array(m->outputs, m->n_outputs));
    cJSON *tensors = cJSON_AddArrayToObject(root, "tensors");
    for (int i = 0; i < m->n_tensors; i++)
        cJSON_AddItemToArray(tensors, tensor_json(&m->tensors[i], i));
    cJSON *ops = cJSON_AddArrayToObject(root, "ops");
    for (int i = 0; i < m->n_ops; i++)
        cJSON_AddItemToArray(ops, op_json(&m->ops[i], i));
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL) {
        fprintf(stderr, "petal: error: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: petal info --graph FILE [--json]\n"
               "  --graph FILE   .tflite model to describe (alias --model)\n"
               "  --json         one JSON object instead of text\n");
}

int petal_cmd_info(int argc, char **argv)
{
    const char *graph = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if ((r = petal_flag_value(argc, argv, &i, "graph", &graph)) != 0 ||
            (r = petal_flag_value(argc, argv, &i, "model", &graph)) != 0 ||
            (r = petal_flag_bool(argc, argv, &i, "json", &json)) != 0) {
            if (r < 0)
                return 2;
            continue;
        }
        if (argv[i][0] != '-' && graph == NULL) {
            graph = argv[i];
            continue;
        }
        petal_flag_unknown("info", argv[i]);
        return 2;
    }
    if (graph == NULL) {
        fprintf(stderr, "petal: error: --graph FILE is required\n");
        usage(stderr);
        return 2;
    }
    petal_model *m;
    petal_error err;
    if (petal_model_load(graph, &m, &err) != PETAL_OK) {
        fprintf(stderr, "petal: error: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (json)
        rc = print_json(m);
    else
        print_text(m);
    petal_model_free(m);
    return rc;
}
