/* test_tflite_read.c - the TFLite reader on the shared MobileNets (known facts about each
 * file) and on corrupt input: truncated and bit-flipped copies, empty, text and random files
 * and hand-crafted hostile FlatBuffers. Every bad input must give one error line naming the
 * file, never a crash (this program also runs under ASan+UBSan). */
#include "common/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "util/fs.h"

#define V2_QUANT "mobilenet_v2_1.0_224_quant.tflite"
#define V2_INT8  "tf2_mobilenet_v2_1.0_224_ptq.tflite"
#define V1_EMBED "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
#define V1_TINY  "mobilenet_v1_0.25_128_quant.tflite"

static petal_model *load_ok(const char *path)
{
    petal_model *m = NULL;
    petal_error err;
    petal_status st = petal_model_load(path, &m, &err);
    if (st != PETAL_OK)
        fail_msg("%s", err.msg);
    assert_non_null(m);
    return m;
}

static int count_ops(const petal_model *m, int code)
{
    int n = 0;
    for (int i = 0; i < m->n_ops; i++)
        n += m->ops[i].code == code;
    return n;
}

/* Structural invariants every loaded model must satisfy. */
static void check_consistent(const petal_model *m)
{
    assert_int_equal(m->version, 3);
    for (int i = 0; i < m->n_inputs; i++)
        assert_true(m->inputs[i] >= 0 && m->inputs[i] < m->n_tensors);
    for (int i = 0; i < m->n_outputs; i++)
        assert_true(m->outputs[i] >= 0 && m->outputs[i] < m->n_tensors);
    for (int i = 0; i < m->n_tensors; i++) {
        const petal_tensor *t = &m->tensors[i];
        assert_non_null(t->name);
        assert_true(t->rank >= 0 && t->rank <= PETAL_MAX_RANK);
        if (t->data && petal_dtype_size(t->type))
            assert_int_equal(t->data_size, petal_tensor_elements(t) * petal_dtype_size(t->type));
    }
    for (int i = 0; i < m->n_ops; i++)
        for (int k = 0; k < m->ops[i].n_inputs; k++)
            assert_true(m->ops[i].inputs[k] >= -1 && m->ops[i].inputs[k] < m->n_tensors);
}

static void check_input_u8_224(const petal_model *m)
{
    assert_int_equal(m->n_inputs, 1);
    const petal_tensor *in = &m->tensors[m->inputs[0]];
    assert_int_equal(in->type, PETAL_UINT8);
    assert_int_equal(in->rank, 4);
    int want[4] = {1, 224, 224, 3};
    assert_memory_equal(in->shape, want, sizeof want);
}

static void test_mobilenet_v2_quant(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, V2_QUANT);
    petal_model *m = load_ok(path);
    check_consistent(m);
    check_input_u8_224(m);
    const petal_tensor *in = &m->tensors[m->inputs[0]];
    assert_int_equal(in->quant.n, 1);
    assert_true(fabsf(in->quant.scale[0] - 1.0f / 128) < 1e-9f);
    assert_int_equal(in->quant.zero_point[0], 128);
    assert_string_equal(m->description, "MLIR Converted.");

    int t = petal_model_find_tensor(m, "MobilenetV2/Logits/AvgPool");
    assert_true(t >= 0);
    int want[4] = {1, 1, 1, 1280};
    assert_int_equal(m->tensors[t].rank, 4);
    assert_memory_equal(m->tensors[t].shape, want, sizeof want);
    assert_null(m->tensors[t].data);
    assert_int_equal(m->ops[petal_model_producer(m, t)].code, PETAL_OP_AVERAGE_POOL_2D);

    assert_int_equal(m->n_ops, 66);
    assert_int_equal(count_ops(m, PETAL_OP_CONV_2D), 36);
    assert_int_equal(count_ops(m, PETAL_OP_DEPTHWISE_CONV_2D), 17);
    assert_int_equal(count_ops(m, PETAL_OP_ADD), 10);
    assert_int_equal(count_ops(m, PETAL_OP_SOFTMAX), 1);
    const petal_op *last = &m->ops[m->n_ops - 1];
    assert_int_equal(last->code, PETAL_OP_SOFTMAX);
    assert_true(last->opt.beta == 1.0f);
    assert_int_equal(last->outputs[0], m->outputs[0]);
    const petal_tensor *out = &m->tensors[m->outputs[0]];
    assert_int_equal(out->rank, 2);
    assert_int_equal(out->shape[1], 1001);

    /* First op: 3x3 stride-2 conv with RELU6 on uint8 weights. */
    const petal_op *c = &m->ops[0];
    assert_int_equal(c->code, PETAL_OP_CONV_2D);
    assert_int_equal(c->opt.stride_w, 2);
    assert_int_equal(c->opt.stride_h, 2);
    assert_int_equal(c->opt.dilation_w, 1);
    assert_int_equal(c->opt.activation, PETAL_ACT_RELU6);
    assert_int_equal(c->opt.padding, PETAL_PAD_SAME);
    const petal_tensor *w = &m->tensors[c->inputs[1]];
    assert_int_equal(w->type, PETAL_UINT8);
    assert_non_null(w->data);
    assert_int_equal(w->data_size, 32 * 3 * 3 * 3);
    petal_model_free(m);
}

static void test_mobilenet_v2_int8(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, V2_INT8);
    petal_model *m = load_ok(path);
    check_consistent(m);
    check_input_u8_224(m);
    assert_int_equal(count_ops(m, PETAL_OP_QUANTIZE), 2);
    assert_int_equal(count_ops(m, PETAL_OP_MEAN), 1);
    assert_int_equal(count_ops(m, PETAL_OP_CONV_2D), 36);
    assert_int_equal(m->ops[0].code, PETAL_OP_QUANTIZE);

    int per_channel = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const petal_op *op = &m->ops[i];
        if (op->code != PETAL_OP_CONV_2D)
            continue;
        const petal_tensor *w = &m->tensors[op->inputs[1]];
        assert_int_equal(w->type, PETAL_INT8);
        assert_int_equal(w->quant.axis, 0);
        assert_int_equal(w->quant.n, w->shape[0]);
        per_channel += w->quant.n > 1;
    }
    assert_int_equal(per_channel, 36);
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].code == PETAL_OP_MEAN)
            assert_true(m->ops[i].opt.keep_dims == 0 || m->ops[i].opt.keep_dims == 1);
    petal_model_free(m);
}

static void test_mobilenet_v1_embedding(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, V1_EMBED);
    petal_model *m = load_ok(path);
    check_consistent(m);
    check_input_u8_224(m);
    assert_int_equal(m->n_outputs, 1);
    const petal_tensor *out = &m->tensors[m->outputs[0]];
    int want[4] = {1, 1, 1, 1024};
    assert_int_equal(out->rank, 4);
    assert_memory_equal(out->shape, want, sizeof want);
    assert_int_equal(count_ops(m, PETAL_OP_SOFTMAX), 0);
    assert_int_equal(count_ops(m, PETAL_OP_CONV_2D) + count_ops(m, PETAL_OP_DEPTHWISE_CONV_2D), 27);
    petal_model_free(m);
}

static void test_mobilenet_v1_tiny(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, V1_TINY);
    petal_model *m = load_ok(path);
    check_consistent(m);
    assert_int_equal(m->n_tensors, 89);
    const petal_tensor *in = &m->tensors[m->inputs[0]];
    int want[4] = {1, 128, 128, 3};
    assert_memory_equal(in->shape, want, sizeof want);
    assert_int_equal(m->tensors[m->outputs[0]].shape[1], 1001);
    /* DEPTHWISE options carry the depth multiplier. */
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].code == PETAL_OP_DEPTHWISE_CONV_2D)
            assert_int_equal(m->ops[i].opt.depth_multiplier, 1);
    petal_model_free(m);
}

/* ---- Corrupt inputs ------------------------------------------------------------------ */

/* Parses bytes expected to be bad (or, if allowed, good): never crashes, and a failure
 * names the input. Returns 1 when parsing failed. */
static int parse_bad(const uint8_t *data, size_t len, const char *name, int may_succeed)
{
    petal_model *m = (petal_model *)1;
    petal_error err;
    petal_status st = petal_model_parse(data, len, name, &m, &err);
    if (st == PETAL_OK) {
        if (!may_succeed)
            fail_msg("%s (%zu bytes) parsed but should not", name, len);
        check_consistent(m);
        petal_model_free(m);
        return 0;
    }
    assert_null(m);
    assert_true(strncmp(err.msg, name, strlen(name)) == 0);
    assert_null(strchr(err.msg, '\n'));
    return 1;
}

static void load_bad(const char *dir, const char *file, const void *data, size_t len,
                     const char *expect)
{
    char *path = petal_path_join(dir, file);
    petal_test_write(path, data, len);
    petal_model *m = (petal_model *)1;
    petal_error err;
    assert_int_not_equal(petal_model_load(path, &m, &err), PETAL_OK);
    assert_null(m);
    assert_non_null(strstr(err.msg, path));
    if (expect && strstr(err.msg, expect) == NULL)
        fail_msg("'%s' does not say '%s'", err.msg, expect);
    free(path);
}

static uint8_t *read_model(const char *path, size_t *len)
{
    uint8_t *data;
    petal_error err;
    if (petal_read_file(path, 0, &data, len, &err) != PETAL_OK)
        fail_msg("%s", err.msg);
    return data;
}

static void test_truncated(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, V1_TINY);
    size_t len;
    uint8_t *data = read_model(path, &len);
    char *dir = petal_test_tmpdir("tflite_read");
    load_bad(dir, "half.tflite", data, len / 2, NULL);
    load_bad(dir, "seven.tflite", data, 7, "not a TFLite model");
    /* TFLite metadata may append a zip (the labels) after the FlatBuffer: cuts inside it
     * leave a complete model. */
    const uint8_t *zip = memmem(data, len, "PK\3\4", 4);
    size_t end = zip ? (size_t)(zip - data) : len;
    int failed = 0, tried = 0;
    for (size_t n = 0; n < end; n += n < 64 ? 1 : 997) {
        failed += parse_bad(data, n, "truncated.tflite", 0);
        tried++;
    }
    for (size_t n = end - 64; n < end; n++) {
        failed += parse_bad(data, n, "truncated.tflite", 0);
        tried++;
    }
    for (size_t n = end; n < len; n += 997)
        assert_int_equal(parse_bad(data, n, "truncated.tflite", 1), 0);
    assert_int_equal(failed, tried);
    petal_test_rmtree(dir);
    free(dir);
    free(data);
}

/* Marks bytes that hold constant tensor data, so flips can aim at the structure. */
static uint8_t *weight_map(const uint8_t *file, size_t len)
{
    petal_model *m;
    petal_error err;
    assert_int_equal(petal_model_parse(file, len, "map", &m, &err), PETAL_OK);
    uint8_t *map = calloc(len, 1);
    const uint8_t *base = NULL;
    /* Tensor data points into the model's copy; find its offset through the first tensor
     * with data, whose bytes occur at the same place in the file. */
    for (int i = 0; i < m->n_tensors && base == NULL; i++) {
        const petal_tensor *t = &m->tensors[i];
        if (t->data == NULL || t->data_size < 64)
            continue;
        const uint8_t *hit = memmem(file, len, t->data, t->data_size);
        if (hit)
            base = t->data - (hit - file);
    }
    assert_non_null(base);
    for (int i = 0; i < m->n_tensors; i++) {
        const petal_tensor *t = &m->tensors[i];
        if (t->data)
            memset(map + (t->data - base), 1, t->data_size);
    }
    petal_model_free(m);
    return map;
}

static void test_bit_flips(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, V1_TINY);
    size_t len;
    uint8_t *data = read_model(path, &len);
    uint8_t *map = weight_map(data, len);
    size_t *structure = malloc(len * sizeof *structure), n_structure = 0;
    for (size_t i = 0; i < len; i++)
        if (!map[i])
            structure[n_structure++] = i;
    assert_true(n_structure > 1000);

    srand(20261203);
    int failed = 0;
    for (int k = 0; k < 3000; k++) {
        /* Two thirds aim at the FlatBuffer structure, one third anywhere. */
        size_t at = k % 3 ? structure[(size_t)rand() % n_structure] : (size_t)rand() % len;
        uint8_t bit = (uint8_t)(1u << (rand() % 8));
        data[at] ^= bit;
        failed += parse_bad(data, len, "flipped.tflite", 1);
        data[at] ^= bit;
    }
    print_message("bit flips: %d of 3000 rejected\n", failed);
    assert_true(failed > 100);
    free(structure);
    free(map);
    free(data);
}

static void test_junk_files(void **state)
{
    (void)state;
    char *dir = petal_test_tmpdir("tflite_junk");
    load_bad(dir, "empty.tflite", "", 0, "empty");
    const char *text = "This is a text file, not a model.\nSecond line.\n";
    load_bad(dir, "text.tflite", text, strlen(text), "not a TFLite model");
    uint8_t random[4096];
    srand(7);
    for (size_t i = 0; i < sizeof random; i++)
        random[i] = (uint8_t)rand();
    load_bad(dir, "random.tflite", random, sizeof random, "not a TFLite model");
    memcpy(random + 4, "TFL3", 4);
    for (int k = 0; k < 200; k++) {
        for (size_t i = 8; i < sizeof random; i++)
            random[i] = (uint8_t)rand();
        uint32_t root = (uint32_t)rand() % 64;
        memcpy(random, &root, 4);
        parse_bad(random, sizeof random, "random.tflite", 0);
    }
    petal_model *m = (petal_model *)1;
    petal_error err;
    assert_int_equal(petal_model_load("build/test-tmp/no-such-model.tflite", &m, &err),
                     PETAL_ERR_NOT_FOUND);
    assert_null(m);
    assert_non_null(strstr(err.msg, "no-such-model.tflite"));
    petal_test_rmtree(dir);
    free(dir);
}

/* ---- Hand-crafted hostile buffers ---------------------------------------------------- */

typedef struct craft {
    uint8_t b[256];
    size_t len;
} craft;

static void put32(craft *c, size_t at, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        c->b[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static void put16(craft *c, size_t at, uint16_t v)
{
    c->b[at] = (uint8_t)v;
    c->b[at + 1] = (uint8_t)(v >> 8);
}

/* A header with root table at 24 whose vtable at 12 has n field slots (all absent), table
 * size 16 and version 3 at field 0. Callers then point fields at their hostile data. */
static void craft_base(craft *c)
{
    memset(c, 0, sizeof *c);
    c->len = 128;
    put32(c, 0, 24);
    memcpy(c->b + 4, "TFL3", 4);
    put16(c, 12, 4 + 2 * 4); /* vtable size: 4 fields */
    put16(c, 14, 24);        /* table size */
    put16(c, 16, 4);         /* version at table+4 */
    put32(c, 24, 24 - 12);   /* soffset: table - vtable */
    put32(c, 28, 3);
}

static void expect_bad(craft *c, const char *name, const char *expect)
{
    petal_model *m = (petal_model *)1;
    petal_error err;
    assert_int_not_equal(petal_model_parse(c->b, c->len, name, &m, &err), PETAL_OK);
    assert_null(m);
    assert_true(strncmp(err.msg, name, strlen(name)) == 0);
    if (expect && strstr(err.msg, expect) == NULL)
        fail_msg("'%s' does not say '%s'", err.msg, expect);
}

static void test_hostile_structure(void **state)
{
    (void)state;
    craft c;

    /* The base itself is well formed but has no subgraph. */
    craft_base(&c);
    expect_bad(&c, "nosubgraph.tflite", "no subgraph");

    craft_base(&c);
    put32(&c, 0, 1000);
    expect_bad(&c, "root.tflite", "outside the file");

    craft_base(&c);
    put32(&c, 24, (uint32_t)-5000); /* vtable far past the end */
    expect_bad(&c, "vtable.tflite", "vtable");

    craft_base(&c);
    put32(&c, 24, 30); /* vtable before the start of the file */
    expect_bad(&c, "vtable_neg.tflite", "vtable");

    craft_base(&c);
    put16(&c, 12, 3); /* odd, too small */
    expect_bad(&c, "vtsize.tflite", "vtable size");

    craft_base(&c);
    put16(&c, 12, 60000);
    expect_bad(&c, "vtsize_big.tflite", "vtable size");

    craft_base(&c);
    put16(&c, 14, 200); /* table longer than the file */
    expect_bad(&c, "tsize.tflite", "table size");

    craft_base(&c);
    put32(&c, 24, 0); /* table is its own vtable: size fields read from the soffset */
    expect_bad(&c, "self.tflite", "vtable size");

    craft_base(&c);
    put16(&c, 16, 40); /* version field beyond the table */
    expect_bad(&c, "field.tflite", "outside its table");

    craft_base(&c);
    put32(&c, 28, 4);
    expect_bad(&c, "version.tflite", "schema version 4");

    /* subgraphs (field 2) pointing at a vector with a huge length. */
    craft_base(&c);
    put16(&c, 20, 8);
    put32(&c, 32, 40); /* 32 + 40 = 72 */
    put32(&c, 72, 0x7fffffff);
    expect_bad(&c, "hugevec.tflite", "runs past the end");

    /* uoffset that wraps around 32 bits back into the file. */
    craft_base(&c);
    put16(&c, 20, 8);
    put32(&c, 32, 0xfffffff0u);
    expect_bad(&c, "wrap.tflite", "outside the file");

    /* A subgraph vector whose entry points back at the model table itself (a cycle). */
    craft_base(&c);
    put16(&c, 20, 8);
    put32(&c, 32, 40);
    put32(&c, 72, 1);
    put32(&c, 76, (uint32_t)(24 - 76)); /* wraps: lands far outside */
    expect_bad(&c, "cycle.tflite", NULL);

    /* An entry pointing at itself: reads the offset as a table whose vtable is bogus. */
    craft_base(&c);
    put16(&c, 20, 8);
    put32(&c, 32, 40);
    put32(&c, 72, 1);
    put32(&c, 76, 0);
    expect_bad(&c, "selfref.tflite", NULL);

    /* Description string without its NUL inside the file. */
    craft_base(&c);
    put16(&c, 22, 12);
    put32(&c, 36, (uint32_t)(c.len - 36 - 8));
    put32(&c, c.len - 8, 4);
    memset(c.b + c.len - 4, 'x', 4);
    expect_bad(&c, "string.tflite", "NUL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mobilenet_v2_quant),
        cmocka_unit_test(test_mobilenet_v2_int8),
        cmocka_unit_test(test_mobilenet_v1_embedding),
        cmocka_unit_test(test_mobilenet_v1_tiny),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_junk_files),
        cmocka_unit_test(test_hostile_structure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
