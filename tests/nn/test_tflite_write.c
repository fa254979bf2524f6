/* test_tflite_write.c - the TFLite writer and petal_model_extract: models built in memory
 * and the shared MobileNets go through serialize -> parse and must come back identical;
 * written files pass flatc (an independent FlatBuffers parser) with the same contents;
 * extraction at the bottleneck keeps exactly the ops that compute it; files whose indices
 * were patched to hostile values are rejected with the file name in the message. */
#include "common/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "nn/model.h"
#include "util/fs.h"

#define SCHEMA   "../shared/tflite/schema.fbs"
#define V2_QUANT "mobilenet_v2_1.0_224_quant.tflite"
#define V2_INT8  "tf2_mobilenet_v2_1.0_224_ptq.tflite"
#define V1_TINY  "mobilenet_v1_0.25_128_quant.tflite"

/* ---- Comparing models ---------------------------------------------------------------- */

static void assert_quant_equal(const petal_quant *a, const petal_quant *b)
{
    assert_int_equal(a->n, b->n);
    if (a->n == 0)
        return;
    assert_int_equal(a->axis, b->axis);
    assert_memory_equal(a->scale, b->scale, (size_t)a->n * sizeof(float));
    assert_memory_equal(a->zero_point, b->zero_point, (size_t)a->n * sizeof(int64_t));
}

static void assert_tensor_equal(const petal_tensor *a, const petal_tensor *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->rank, b->rank);
    assert_memory_equal(a->shape, b->shape, (size_t)a->rank * sizeof(int));
    assert_quant_equal(&a->quant, &b->quant);
    assert_int_equal(a->data != NULL, b->data != NULL);
    assert_int_equal(a->data_size, b->data_size);
    if (a->data)
        assert_memory_equal(a->data, b->data, a->data_size);
}

static void assert_op_equal(const petal_op *a, const petal_op *b, const int *map)
{
    assert_int_equal(a->code, b->code);
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->custom_code != NULL, b->custom_code != NULL);
    if (a->custom_code)
        assert_string_equal(a->custom_code, b->custom_code);
    assert_int_equal(a->n_inputs, b->n_inputs);
    assert_int_equal(a->n_outputs, b->n_outputs);
    for (int k = 0; k < a->n_inputs; k++)
        assert_int_equal(a->inputs[k] < 0 ? -1 : map[a->inputs[k]], b->inputs[k]);
    for (int k = 0; k < a->n_outputs; k++)
        assert_int_equal(map[a->outputs[k]], b->outputs[k]);
    assert_memory_equal(&a->opt, &b->opt, sizeof a->opt);
}

static void assert_model_equal(const petal_model *a, const petal_model *b)
{
    assert_int_equal(a->n_tensors, b->n_tensors);
    assert_int_equal(a->n_ops, b->n_ops);
    int *map = malloc(((size_t)a->n_tensors + 1) * sizeof *map);
    for (int i = 0; i < a->n_tensors; i++) {
        assert_tensor_equal(&a->tensors[i], &b->tensors[i]);
        map[i] = i;
    }
    for (int i = 0; i < a->n_ops; i++)
        assert_op_equal(&a->ops[i], &b->ops[i], map);
    assert_int_equal(a->n_inputs, b->n_inputs);
    assert_int_equal(a->n_outputs, b->n_outputs);
    assert_memory_equal(a->inputs, b->inputs, (size_t)a->n_inputs * sizeof(int));
    assert_memory_equal(a->outputs, b->outputs, (size_t)a->n_outputs * sizeof(int));
    free(map);
}

static petal_model *reparse(const petal_model *m, uint8_t **bytes, size_t *len)
{
    petal_error err;
    petal_model *back;
    if (petal_model_serialize(m, bytes, len, &err) != PETAL_OK)
        fail_msg("%s", err.msg);
    if (petal_model_parse(*bytes, *len, "written.tflite", &back, &err) != PETAL_OK)
        fail_msg("%s", err.msg);
    return back;
}

/* ---- A model built in memory that uses every option the writer knows -------------------- */

static int add(petal_model *m, const char *name, petal_dtype type, int rank, const int *shape,
               const void *data, const petal_quant *q)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)shape[i];
    int t = petal_model_add_tensor(m, name, type, rank, shape, data,
                                   data ? n * petal_dtype_size(type) : 0, q);
    assert_true(t >= 0);
    return t;
}

static petal_model *build_model(void)
{
    petal_model *m = petal_model_new();
    assert_non_null(m);
    float s1 = 0.5f;
    int64_t z1 = 128;
    petal_quant q_in = {1, &s1, &z1, 0};
    float sc[4] = {0.01f, 0.02f, 0.03f, 0.04f};
    int64_t zc[4] = {0, 0, 0, 0};
    petal_quant q_ch = {4, sc, zc, 0};
    int8_t w[4 * 3 * 3 * 2];
    for (size_t i = 0; i < sizeof w; i++)
        w[i] = (int8_t)(i * 7 - 50);
    int32_t bias[4] = {1, -2, 3, -4};
    float dw[1 * 3 * 3 * 4];
    for (size_t i = 0; i < sizeof dw / sizeof dw[0]; i++)
        dw[i] = (float)i / 10.0f;
    int32_t reshape_to[2] = {1, 4};
    float fc[3 * 4] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

    int in = add(m, "input", PETAL_UINT8, 4, (int[]){1, 8, 8, 2}, NULL, &q_in);
    int wt = add(m, "conv/weights", PETAL_INT8, 4, (int[]){4, 3, 3, 2}, w, &q_ch);
    int bt = add(m, "conv/bias", PETAL_INT32, 1, (int[]){4}, bias, NULL);
    int c1 = add(m, "conv", PETAL_FLOAT32, 4, (int[]){1, 4, 4, 4}, NULL, NULL);
    int dwt = add(m, "dw/weights", PETAL_FLOAT32, 4, (int[]){1, 3, 3, 4}, dw, NULL);
    int c2 = add(m, "dw", PETAL_FLOAT32, 4, (int[]){1, 4, 4, 4}, NULL, NULL);
    int sum = add(m, "add", PETAL_FLOAT32, 4, (int[]){1, 4, 4, 4}, NULL, NULL);
    int pool = add(m, "pool", PETAL_FLOAT32, 4, (int[]){1, 2, 2, 4}, NULL, NULL);
    int mp = add(m, "maxpool", PETAL_FLOAT32, 4, (int[]){1, 1, 1, 4}, NULL, NULL);
    int shp = add(m, "shape", PETAL_INT32, 1, (int[]){2}, reshape_to, NULL);
    int flat = add(m, "flat", PETAL_FLOAT32, 2, (int[]){1, 4}, NULL, NULL);
    int fw = add(m, "fc/weights", PETAL_FLOAT32, 2, (int[]){3, 4}, fc, NULL);
    int logits = add(m, "logits", PETAL_FLOAT32, 2, (int[]){1, 3}, NULL, NULL);
    int prob = add(m, "final_result", PETAL_FLOAT32, 2, (int[]){1, 3}, NULL, NULL);
    int cat = add(m, "concat", PETAL_FLOAT32, 2, (int[]){1, 6}, NULL, NULL);
    int mean = add(m, "mean", PETAL_FLOAT32, 2, (int[]){1, 4}, NULL, NULL);
    int sq = add(m, "squeezed", PETAL_FLOAT32, 1, (int[]){4}, NULL, NULL);
    int axes[1] = {1};
    int ax = add(m, "axes", PETAL_INT32, 1, (int[]){1}, axes, NULL);
    int scalar = add(m, "scalar", PETAL_FLOAT32, 0, NULL, (float[]){2.5f}, NULL);
    int custom_out = add(m, "custom_out", PETAL_FLOAT32, 1, (int[]){4}, NULL, NULL);
    int big_out = add(m, "big_out", PETAL_FLOAT32, 1, (int[]){4}, NULL, NULL);

    petal_op_options o = {0};
    o.padding = PETAL_PAD_SAME;
    o.stride_w = 2;
    o.stride_h = 2;
    o.dilation_w = 1;
    o.dilation_h = 1;
    o.activation = PETAL_ACT_RELU6;
    assert_true(petal_model_add_op(m, PETAL_OP_CONV_2D, 3, (int[]){in, wt, bt}, 3, &c1, 1, &o) >=
                0);
    memset(&o, 0, sizeof o);
    o.padding = PETAL_PAD_VALID;
    o.stride_w = 1;
    o.stride_h = 1;
    o.dilation_w = 2;
    o.dilation_h = 3;
    o.depth_multiplier = 1;
    o.activation = PETAL_ACT_RELU;
    assert_true(petal_model_add_op(m, PETAL_OP_DEPTHWISE_CONV_2D, 2, (int[]){c1, dwt, -1}, 3, &c2,
                                   1, &o) >= 0);
    memset(&o, 0, sizeof o);
    o.activation = PETAL_ACT_TANH;
    assert_true(petal_model_add_op(m, PETAL_OP_ADD, 1, (int[]){c1, c2}, 2, &sum, 1, &o) >= 0);
    memset(&o, 0, sizeof o);
    o.padding = PETAL_PAD_VALID;
    o.stride_w = 2;
    o.stride_h = 2;
    o.filter_w = 2;
    o.filter_h = 2;
    assert_true(petal_model_add_op(m, PETAL_OP_AVERAGE_POOL_2D, 1, &sum, 1, &pool, 1, &o) >= 0);
    o.filter_w = 2;
    o.filter_h = 1;
    o.activation = PETAL_ACT_RELU_N1_TO_1;
    assert_true(petal_model_add_op(m, PETAL_OP_MAX_POOL_2D, 1, &pool, 1, &mp, 1, &o) >= 0);
    memset(&o, 0, sizeof o);
    o.n_new_shape = 2;
    o.new_shape[0] = 1;
    o.new_shape[1] = -1;
    assert_true(petal_model_add_op(m, PETAL_OP_RESHAPE, 1, (int[]){mp, shp}, 2, &flat, 1, &o) >= 0);
    memset(&o, 0, sizeof o);
    o.keep_num_dims = 1;
    assert_true(petal_model_add_op(m, PETAL_OP_FULLY_CONNECTED, 1, (int[]){flat, fw, -1}, 3,
                                   &logits, 1, &o) >= 0);
    memset(&o, 0, sizeof o);
    o.beta = 0.75f;
    assert_true(petal_model_add_op(m, PETAL_OP_SOFTMAX, 1, &logits, 1, &prob, 1, &o) >= 0);
    memset(&o, 0, sizeof o);
    o.axis = -1;
    assert_true(petal_model_add_op(m, PETAL_OP_CONCATENATION, 1, (int[]){prob, logits}, 2, &cat, 1,
                                   &o) >= 0);
    memset(&o, 0, sizeof o);
    o.keep_dims = 1;
    assert_true(petal_model_add_op(m, PETAL_OP_MEAN, 2, (int[]){sum, ax}, 2, &mean, 1, &o) >= 0);
    memset(&o, 0, sizeof o);
    o.n_squeeze_dims = 1;
    o.squeeze_dims[0] = 0;
    assert_true(petal_model_add_op(m, PETAL_OP_SQUEEZE, 1, &mean, 1, &sq, 1, &o) >= 0);
    int k = petal_model_add_op(m, -1, 1, (int[]){sq, scalar}, 2, &custom_out, 1, NULL);
    assert_true(k >= 0);
    m->ops[k].custom_code = "PetalCustom";
    /* A builtin code past 127 goes through builtin_code; 150 is an op petal has no name for. */
    assert_true(petal_model_add_op(m, 150, 4, &custom_out, 1, &big_out, 1, NULL) >= 0);

    petal_error err;
    assert_int_equal(petal_model_set_io(m, &in, 1, (int[]){prob, cat, big_out}, 3, &err), PETAL_OK);
    return m;
}

static void test_round_trip_built(void **state)
{
    (void)state;
    petal_model *m = build_model();
    uint8_t *bytes;
    size_t len;
    petal_model *back = reparse(m, &bytes, &len);
    assert_model_equal(m, back);
    assert_int_equal(back->version, 3);
    assert_string_equal(back->description, "petal");
    assert_string_equal(petal_op_name(back->ops[12].code), "BUILTIN_150");
    assert_string_equal(back->ops[11].custom_code, "PetalCustom");

    /* Header, identifier, 4-byte root offset; constant data 16-byte aligned in the file. */
    assert_memory_equal(bytes + 4, "TFL3", 4);
    assert_int_equal(len % 16, 0);
    for (int i = 0; i < m->n_tensors; i++) {
        const petal_tensor *t = &m->tensors[i];
        if (t->data == NULL || t->data_size < 16)
            continue;
        const uint8_t *at = memmem(bytes, len, t->data, t->data_size);
        assert_non_null(at);
        assert_int_equal((size_t)(at - bytes) % 16, 0);
    }

    /* Deterministic: the same model gives the same bytes. */
    uint8_t *again;
    size_t len2;
    petal_model *back2 = reparse(back, &again, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(bytes, again, len);
    petal_model_free(back2);
    free(again);
    free(bytes);
    petal_model_free(back);
    petal_model_free(m);
}

static void test_writer_rejects_bad_models(void **state)
{
    (void)state;
    petal_model *m = build_model();
    petal_error err;
    uint8_t *bytes = (uint8_t *)1;
    size_t len = 1;
    int saved = m->ops[2].inputs[1];
    m->ops[2].inputs[1] = m->n_tensors;
    assert_int_equal(petal_model_serialize(m, &bytes, &len, &err), PETAL_ERR_ARG);
    assert_null(bytes);
    assert_non_null(strstr(err.msg, "<memory>"));
    m->ops[2].inputs[1] = saved;
    m->tensors[1].data_size--;
    assert_int_equal(petal_model_serialize(m, &bytes, &len, &err), PETAL_ERR_ARG);
    m->tensors[1].data_size++;
    m->outputs[0] = -3;
    assert_int_equal(petal_model_serialize(m, &bytes, &len, &err), PETAL_ERR_ARG);
    petal_model_free(m);
}

/* ---- flatc as an independent check --------------------------------------------------- */

static int have_flatc(void)
{
    int ok = system("flatc --version >/dev/null 2>&1") == 0 && access(SCHEMA, R_OK) == 0;
    if (!ok && petal_test_in_ci())
        fail_msg("flatc or %s is missing (CI=true: run make deps)", SCHEMA);
    return ok;
}

/* Runs flatc on a written file and returns its JSON rendering (NULL if flatc rejects it). */
static cJSON *flatc_json(const char *dir, const char *file)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "flatc --json --strict-json --raw-binary -o '%s' " SCHEMA " -- '%s/%s' 2>&1", dir, dir,
             file);
    if (system(cmd) != 0)
        return NULL;
    char json[1024];
    snprintf(json, sizeof json, "%s/%.*s.json", dir, (int)(strlen(file) - 7), file);
    uint8_t *text;
    size_t len;
    petal_error err;
    if (petal_read_file(json, 0, &text, &len, &err) != PETAL_OK)
        fail_msg("%s", err.msg);
    cJSON *root = cJSON_Parse((const char *)text);
    free(text);
    return root;
}

/* FlatBuffers' own verifier (tflite::VerifyModelBuffer from the C++ code flatc generates for
 * the schema), built once under build/test-tmp: checks offsets, vtables, alignment and
 * strings the way the TFLite runtime does. flatc --json itself does not verify. Returns the
 * verifier's path, or NULL (skipping) when g++ or libflatbuffers-dev is missing. */
static const char *flatbuffers_verifier(void)
{
    static const char *const dir = "build/test-tmp/flatbuffers-verifier";
    static const char *const bin = "build/test-tmp/flatbuffers-verifier/verify";
    if (access("/usr/include/flatbuffers/flatbuffers.h", R_OK) != 0 ||
        system("g++ --version >/dev/null 2>&1") != 0) {
        if (petal_test_in_ci())
            fail_msg("g++ or libflatbuffers-dev is missing (CI=true: run make deps)");
        return NULL;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "test %s -nt " SCHEMA " && exit 0; mkdir -p %s && "
             "flatc --cpp -o %s " SCHEMA " && cat > %s/verify.cpp <<'EOF'\n"
             "#include \"schema_generated.h\"\n"
             "#include <cstdio>\n#include <vector>\n"
             "int main(int argc, char **argv) {\n"
             "  FILE *f = fopen(argv[1], \"rb\");\n"
             "  if (!f) return 2;\n"
             "  std::vector<uint8_t> b;\n"
             "  int c;\n"
             "  while ((c = fgetc(f)) != EOF) b.push_back((uint8_t)c);\n"
             "  fclose(f);\n"
             "  flatbuffers::Verifier v(b.data(), b.size());\n"
             "  return tflite::VerifyModelBuffer(v) ? 0 : 1;\n"
             "}\n"
             "EOF\n"
             "g++ -O1 -o %s.tmp %s/verify.cpp && mv %s.tmp %s",
             bin, dir, dir, dir, bin, dir, bin, bin);
    if (system(cmd) != 0)
        fail_msg("could not build the FlatBuffers verifier in %s", dir);
    return bin;
}

/* 1 when the verifier accepts the file. */
static int verifies(const char *verifier, const char *file)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s '%s'", verifier, file);
    return system(cmd) == 0;
}

/* flatc's view of the file must match the model it was written from. */
static void assert_flatc_agrees(const petal_model *m, cJSON *root)
{
    assert_non_null(root);
    assert_int_equal(cJSON_GetObjectItem(root, "version")->valueint, 3);
    assert_string_equal(cJSON_GetObjectItem(root, "description")->valuestring, "petal");
    cJSON *sg = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "subgraphs"), 0);
    cJSON *tensors = cJSON_GetObjectItem(sg, "tensors");
    cJSON *ops = cJSON_GetObjectItem(sg, "operators");
    cJSON *buffers = cJSON_GetObjectItem(root, "buffers");
    assert_int_equal(cJSON_GetArraySize(tensors), m->n_tensors);
    assert_int_equal(cJSON_GetArraySize(ops), m->n_ops);
    for (int i = 0; i < m->n_tensors; i++) {
        const petal_tensor *t = &m->tensors[i];
        cJSON *jt = cJSON_GetArrayItem(tensors, i);
        assert_string_equal(cJSON_GetObjectItem(jt, "name")->valuestring, t->name);
        cJSON *shape = cJSON_GetObjectItem(jt, "shape");
        assert_int_equal(cJSON_GetArraySize(shape), t->rank);
        for (int d = 0; d < t->rank; d++)
            assert_int_equal(cJSON_GetArrayItem(shape, d)->valueint, t->shape[d]);
        assert_string_equal(cJSON_GetObjectItem(jt, "type")->valuestring,
                            petal_dtype_name(t->type));
        cJSON *b = cJSON_GetObjectItem(jt, "buffer");
        int buffer = b ? b->valueint : 0;
        cJSON *data = cJSON_GetObjectItem(cJSON_GetArrayItem(buffers, buffer), "data");
        assert_int_equal(data ? (size_t)cJSON_GetArraySize(data) : 0, t->data ? t->data_size : 0);
        if (t->data && t->data_size > 0)
            assert_int_equal(cJSON_GetArrayItem(data, 0)->valueint, t->data[0]);
        if (t->quant.n > 0) {
            cJSON *q = cJSON_GetObjectItem(jt, "quantization");
            cJSON *scale = cJSON_GetObjectItem(q, "scale");
            assert_int_equal(cJSON_GetArraySize(scale), t->quant.n);
            assert_true(fabs(cJSON_GetArrayItem(scale, 0)->valuedouble - t->quant.scale[0]) <=
                        1e-6 + 1e-4 * fabs(t->quant.scale[0]));
        }
    }
    cJSON *codes = cJSON_GetObjectItem(root, "operator_codes");
    for (int i = 0; i < m->n_ops; i++) {
        cJSON *jo = cJSON_GetArrayItem(ops, i);
        cJSON *idx = cJSON_GetObjectItem(jo, "opcode_index");
        cJSON *code = cJSON_GetArrayItem(codes, idx ? idx->valueint : 0);
        cJSON *dep = cJSON_GetObjectItem(code, "deprecated_builtin_code");
        int want = m->ops[i].code < 0 ? 32 : m->ops[i].code;
        assert_int_equal(dep ? dep->valueint : 0, want < 127 ? want : 127);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(jo, "inputs")), m->ops[i].n_inputs);
    }
}

static void test_flatc_accepts_written_files(void **state)
{
    (void)state;
    if (!have_flatc()) {
        print_message("skip: flatc or " SCHEMA " not found\n");
        skip();
    }
    char *dir = petal_test_tmpdir("tflite_flatc");
    char *path = petal_path_join(dir, "built.tflite");
    petal_model *m = build_model();
    petal_error err;
    assert_int_equal(petal_model_save(m, path, &err), PETAL_OK);
    cJSON *json = flatc_json(dir, "built.tflite");
    assert_flatc_agrees(m, json);
    cJSON_Delete(json);

    /* The verifier accepts the file and rejects it cut short or with a bad vtable. */
    const char *verifier = flatbuffers_verifier();
    if (verifier) {
        assert_true(verifies(verifier, path));
        uint8_t *bytes;
        size_t len;
        assert_int_equal(petal_model_serialize(m, &bytes, &len, &err), PETAL_OK);
        char *bad = petal_path_join(dir, "bad.tflite");
        petal_test_write(bad, bytes, len / 2);
        assert_false(verifies(verifier, bad));
        uint32_t root = bytes[0] | (uint32_t)bytes[1] << 8;
        bytes[root] ^= 0x40; /* the root table's vtable moves away */
        petal_test_write(bad, bytes, len);
        assert_false(verifies(verifier, bad));
        free(bad);
        free(bytes);
    } else {
        print_message("skip: FlatBuffers verifier (g++, libflatbuffers-dev) not available\n");
    }
    petal_model_free(m);
    free(path);
    petal_test_rmtree(dir);
    free(dir);
}

/* ---- Shared models: full round trip and extraction at the bottleneck ------------------ */

static void test_round_trip_shared(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, V2_INT8);
    petal_model *m;
    petal_error err;
    assert_int_equal(petal_model_load(path, &m, &err), PETAL_OK);
    uint8_t *bytes;
    size_t len;
    petal_model *back = reparse(m, &bytes, &len);
    assert_model_equal(m, back);
    free(bytes);
    petal_model_free(back);
    petal_model_free(m);
}

static void test_extract_bottleneck(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, V2_QUANT);
    petal_model *m, *cut, *back;
    petal_error err;
    assert_int_equal(petal_model_load(path, &m, &err), PETAL_OK);
    int bottleneck = petal_model_find_tensor(m, "MobilenetV2/Logits/AvgPool");
    assert_true(bottleneck >= 0);
    assert_int_equal(petal_model_extract(m, bottleneck, &cut, &err), PETAL_OK);

    /* Everything but the classifier conv, reshape and softmax. */
    assert_int_equal(cut->n_ops, m->n_ops - 3);
    assert_int_equal(cut->n_outputs, 1);
    assert_string_equal(cut->tensors[cut->outputs[0]].name, "MobilenetV2/Logits/AvgPool");
    assert_int_equal(cut->n_inputs, 1);
    assert_string_equal(cut->tensors[cut->inputs[0]].name, "input");
    assert_int_equal(cut->ops[cut->n_ops - 1].code, PETAL_OP_AVERAGE_POOL_2D);

    char *dir = petal_test_tmpdir("tflite_extract");
    char *file = petal_path_join(dir, "backbone.tflite");
    assert_int_equal(petal_model_save(cut, file, &err), PETAL_OK);
    assert_int_equal(petal_model_load(file, &back, &err), PETAL_OK);
    assert_model_equal(cut, back);

    /* Each kept tensor and op matches the source model's, found by name. */
    int *map = malloc((size_t)m->n_tensors * sizeof *map);
    for (int i = 0; i < m->n_tensors; i++)
        map[i] = petal_model_find_tensor(back, m->tensors[i].name);
    for (int i = 0; i < back->n_tensors; i++) {
        int s = petal_model_find_tensor(m, back->tensors[i].name);
        assert_true(s >= 0);
        assert_tensor_equal(&m->tensors[s], &back->tensors[i]);
    }
    for (int i = 0; i < back->n_ops; i++)
        assert_op_equal(&m->ops[i], &back->ops[i], map);
    free(map);

    const char *verifier = flatbuffers_verifier();
    if (verifier)
        assert_true(verifies(verifier, file));
    if (have_flatc()) {
        cJSON *json = flatc_json(dir, "backbone.tflite");
        assert_flatc_agrees(back, json);
        cJSON_Delete(json);
    }
    petal_model_free(back);
    free(file);
    petal_test_rmtree(dir);
    free(dir);
    petal_model_free(cut);
    petal_model_free(m);
}

static void test_extract_edges(void **state)
{
    (void)state;
    petal_model *m = build_model(), *cut;
    petal_error err;
    assert_int_equal(petal_model_extract(m, m->n_tensors, &cut, &err), PETAL_ERR_ARG);
    assert_null(cut);
    assert_int_equal(petal_model_extract(m, -1, &cut, &err), PETAL_ERR_ARG);

    /* The graph input itself: no ops, input = output. */
    assert_int_equal(petal_model_extract(m, 0, &cut, &err), PETAL_OK);
    assert_int_equal(cut->n_ops, 0);
    assert_int_equal(cut->n_tensors, 1);
    assert_int_equal(cut->inputs[0], cut->outputs[0]);
    petal_model_free(cut);

    /* Softmax output: conv, dw, add, pools, reshape, fc, softmax; not concat/mean/custom. */
    int prob = petal_model_find_tensor(m, "final_result");
    assert_int_equal(petal_model_extract(m, prob, &cut, &err), PETAL_OK);
    assert_int_equal(cut->n_ops, 8);
    assert_int_equal(petal_model_find_tensor(cut, "concat"), -1);
    assert_int_equal(petal_model_find_tensor(cut, "axes"), -1);
    assert_true(petal_model_find_tensor(cut, "conv/weights") >= 0);
    assert_int_equal(cut->ops[1].inputs[2], -1);
    uint8_t *bytes;
    size_t len;
    petal_model *back = reparse(cut, &bytes, &len);
    assert_model_equal(cut, back);
    petal_model_free(back);
    free(bytes);
    petal_model_free(cut);

    /* A tensor nothing computes (not an input, not constant) cannot be extracted. */
    int dead = add(m, "dead", PETAL_FLOAT32, 1, (int[]){4}, NULL, NULL);
    int out = add(m, "from_dead", PETAL_FLOAT32, 1, (int[]){4}, NULL, NULL);
    assert_true(petal_model_add_op(m, PETAL_OP_LOGISTIC, 1, &dead, 1, &out, 1, NULL) >= 0);
    assert_int_equal(petal_model_extract(m, out, &cut, &err), PETAL_ERR_ARG);
    assert_non_null(strstr(err.msg, "dead"));
    petal_model_free(m);
}

/* ---- Hostile indices patched into a written file ------------------------------------- */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void set32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Position of field id of the table at pos (0 if absent). */
static size_t field_at(const uint8_t *b, size_t pos, int id)
{
    size_t vt = pos - (size_t)(int32_t)get32(b + pos);
    unsigned vt_size = b[vt] | b[vt + 1] << 8;
    unsigned slot = 4 + 2 * (unsigned)id;
    if (slot >= vt_size)
        return 0;
    unsigned off = b[vt + slot] | b[vt + slot + 1] << 8;
    return off ? pos + off : 0;
}

static size_t deref(const uint8_t *b, size_t at)
{
    return at + get32(b + at);
}

/* Table i of the vector referenced by field id of the table at pos. */
static size_t child(const uint8_t *b, size_t pos, int id, uint32_t i)
{
    size_t vec = deref(b, field_at(b, pos, id));
    return deref(b, vec + 4 + 4 * i);
}

static void expect_rejected(uint8_t *bytes, size_t len, const char *name, const char *expect)
{
    petal_model *m = (petal_model *)1;
    petal_error err;
    assert_int_not_equal(petal_model_parse(bytes, len, name, &m, &err), PETAL_OK);
    assert_null(m);
    assert_true(strncmp(err.msg, name, strlen(name)) == 0);
    if (strstr(err.msg, expect) == NULL)
        fail_msg("'%s' does not say '%s'", err.msg, expect);
}

static void test_hostile_indices(void **state)
{
    (void)state;
    petal_model *m = build_model();
    uint8_t *orig, *b;
    size_t len;
    petal_error err;
    assert_int_equal(petal_model_serialize(m, &orig, &len, &err), PETAL_OK);
    b = malloc(len);
    size_t model = get32(orig);
    size_t sg = child(orig, model, 2, 0);
    size_t op0 = child(orig, sg, 3, 0);
    size_t op1 = child(orig, sg, 3, 1);
    size_t t1 = child(orig, sg, 0, 1);
    size_t in0 = deref(orig, field_at(orig, op0, 1)) + 4;
    size_t out0 = deref(orig, field_at(orig, op0, 2)) + 4;
    size_t graph_in = deref(orig, field_at(orig, sg, 1)) + 4;
    size_t t1_buffer = field_at(orig, t1, 2);
    size_t t1_shape = deref(orig, field_at(orig, t1, 0)) + 4;
    size_t t2_shape = deref(orig, field_at(orig, child(orig, sg, 0, 2), 0)) + 4;
    size_t t1_quant = deref(orig, field_at(orig, t1, 4));
    size_t qdim = field_at(orig, t1_quant, 6);
    size_t opcode = field_at(orig, op1, 0);
    assert_true(t1_buffer && qdim && opcode);

    struct {
        size_t at;
        uint32_t value;
        const char *name, *expect;
    } cases[] = {
        {in0, 1000, "input_huge.tflite", "op 0 input 0 is tensor 1000, out of range"},
        {in0, (uint32_t)-5, "input_negative.tflite", "tensor -5, out of range"},
        {in0, 0x7fffffff, "input_max.tflite", "out of range"},
        {out0, (uint32_t)-1, "output_minus_one.tflite", "op 0 output 0 is tensor -1"},
        {graph_in, 21, "graph_input.tflite", "graph input 0 is tensor 21"},
        {t1_buffer, 900, "buffer.tflite", "tensor 1 buffer index 900 is out of range"},
        {t1_buffer, 0xffffffff, "buffer_max.tflite", "out of range"},
        {t2_shape, 5, "data_size.tflite", "has 16 bytes of data, expected 20"},
        {t2_shape, (uint32_t)-4, "negative_dim.tflite", "dimension 0 is negative"},
        {t2_shape, 0x7fffffff, "huge_dim.tflite", "bytes of data"},
        {qdim, 7, "qdim.tflite", "quantized dimension 7"},
        {qdim, 1, "qdim_size.tflite", "4 quantization scales for a dimension of size 3"},
        {opcode, 99, "opcode.tflite", "opcode index 99 is out of range"},
        {field_at(orig, model, 0), 2, "version2.tflite", "schema version 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(b, orig, len);
        set32(b + cases[i].at, cases[i].value);
        expect_rejected(b, len, cases[i].name, cases[i].expect);
    }

    /* Two large dimensions whose product overflows 32 bits. */
    memcpy(b, orig, len);
    set32(b + t1_shape, 0x10000);
    set32(b + t1_shape + 4, 0x10000);
    expect_rejected(b, len, "overflow.tflite", "more than");

    /* A tensors vector claiming more tensors than the file can hold. */
    memcpy(b, orig, len);
    set32(b + deref(orig, field_at(orig, sg, 0)), 0x40000000);
    expect_rejected(b, len, "tensor_count.tflite", "runs past the end");

    /* Every tensor entry pointing at the same tensor table: parses (shared tables are legal)
     * as long as it stays within the memory bound. */
    memcpy(b, orig, len);
    size_t tv = deref(orig, field_at(orig, sg, 0));
    for (uint32_t i = 1; i < get32(orig + tv); i++)
        set32(b + tv + 4 + 4 * i, (uint32_t)(deref(orig, tv + 4) - (tv + 4 + 4 * i)));
    petal_model *shared;
    if (petal_model_parse(b, len, "shared.tflite", &shared, &err) == PETAL_OK)
        petal_model_free(shared);
    else
        assert_non_null(strstr(err.msg, "shared.tflite"));

    free(b);
    free(orig);
    petal_model_free(m);
}

/* Files over 2 GB keep buffer data after the FlatBuffer, found through Buffer.offset and
 * Buffer.size (relative to the start of the file). A written model gets one buffer table
 * replaced by such a table pointing at bytes appended to the file. */
static void test_buffer_offset_past_flatbuffer(void **state)
{
    (void)state;
    petal_model *m = build_model();
    uint8_t *orig;
    size_t len;
    petal_error err;
    assert_int_equal(petal_model_serialize(m, &orig, &len, &err), PETAL_OK);
    int t = petal_model_find_tensor(m, "conv/bias");
    const petal_tensor *bias = &m->tensors[t];

    /* New Buffer table (vtable: data absent, offset at +8, size at +16), then the data. */
    size_t vt = len, table = len + 12, data = len + 48, total = data + bias->data_size;
    uint8_t *b = calloc(total, 1);
    memcpy(b, orig, len);
    uint16_t vtable[5] = {10, 24, 0, 8, 16};
    for (int i = 0; i < 5; i++) {
        b[vt + 2 * (size_t)i] = (uint8_t)vtable[i];
        b[vt + 2 * (size_t)i + 1] = (uint8_t)(vtable[i] >> 8);
    }
    set32(b + table, (uint32_t)(table - vt));
    set32(b + table + 8, (uint32_t)data);
    set32(b + table + 16, (uint32_t)bias->data_size);
    memcpy(b + data, bias->data, bias->data_size);

    size_t model = get32(orig);
    size_t sg = child(orig, model, 2, 0);
    uint32_t k = get32(orig + field_at(orig, child(orig, sg, 0, (uint32_t)t), 2));
    size_t entry = deref(orig, field_at(orig, model, 4)) + 4 + 4 * (size_t)k;
    set32(b + entry, (uint32_t)(table - entry));

    petal_model *back;
    if (petal_model_parse(b, total, "external.tflite", &back, &err) != PETAL_OK)
        fail_msg("%s", err.msg);
    assert_tensor_equal(bias, &back->tensors[t]);
    petal_model_free(back);

    /* The same table pointing past the end of the file. */
    set32(b + table + 8, (uint32_t)total - 8);
    expect_rejected(b, total, "external_cut.tflite", "lies outside the file");
    set32(b + table + 8, (uint32_t)data);
    set32(b + table + 20, 1); /* size >= 2^32 */
    expect_rejected(b, total, "external_huge.tflite", "lies outside the file");

    free(b);
    free(orig);
    petal_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_built),
        cmocka_unit_test(test_writer_rejects_bad_models),
        cmocka_unit_test(test_flatc_accepts_written_files),
        cmocka_unit_test(test_round_trip_shared),
        cmocka_unit_test(test_extract_bottleneck),
        cmocka_unit_test(test_extract_edges),
        cmocka_unit_test(test_hostile_indices),
        cmocka_unit_test(test_buffer_offset_past_flatbuffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
