/* test_export.c - the exported classifier graph (backbone cut at the bottleneck, DEQUANTIZE,
 * RESHAPE, FULLY_CONNECTED, SOFTMAX) and the architecture table's bottleneck tensors. */
#include "common/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/exec.h"
#include "nn/model.h"
#include "train/arch.h"
#include "train/export.h"
#include "train/head.h"
#include "train/train.h"
#include "util/hash.h"

#define TINY        "mobilenet_v1_0.25_128_quant.tflite"
#define TINY_TENSOR "MobilenetV1/Logits/AvgPool_1a/AvgPool"

/* Runs model (reference backend) up to tensor `output` on an RGB input, copying n values. */
static void run_model(const petal_model *m, int output, const uint8_t *rgb, float *out, size_t n)
{
    petal_exec_options eo = petal_exec_defaults();
    eo.backend = PETAL_BACKEND_REFERENCE;
    eo.threads = 1;
    eo.output = output;
    petal_exec *ex;
    petal_error err;
    assert_int_equal(petal_exec_create(m, &eo, &ex, &err), PETAL_OK);
    assert_int_equal(petal_exec_set_input_rgb(ex, rgb, 127.5f, 127.5f, &err), PETAL_OK);
    assert_int_equal(petal_exec_run(ex, &err), PETAL_OK);
    size_t got;
    const float *v = petal_exec_output(ex, &got);
    assert_int_equal(got, n);
    memcpy(out, v, n * sizeof(float));
    petal_exec_free(ex);
}

static void test_export_matches_head(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, TINY);
    petal_model *backbone;
    petal_error err;
    assert_int_equal(petal_model_load(path, &backbone, &err), PETAL_OK);
    int b = petal_train_find_bottleneck(backbone, TINY_TENSOR);
    assert_true(b >= 0);
    size_t N = petal_tensor_elements(&backbone->tensors[b]);
    assert_int_equal(N, 256);

    uint64_t rng = petal_train_rng_seed(5);
    petal_head head;
    assert_int_equal(petal_head_init(&head, 3, (int)N, 0.05f, &rng, &err), PETAL_OK);
    head.bias[1] = 0.25f;
    petal_model *m;
    assert_int_equal(petal_export_build(backbone, b, &head, "final_result", &m, &err), PETAL_OK);

    /* The tail of the graph and its input, unchanged from the backbone. */
    assert_int_equal(m->ops[m->n_ops - 1].code, PETAL_OP_SOFTMAX);
    assert_int_equal(m->ops[m->n_ops - 2].code, PETAL_OP_FULLY_CONNECTED);
    assert_int_equal(m->ops[m->n_ops - 3].code, PETAL_OP_RESHAPE);
    assert_int_equal(m->ops[m->n_ops - 4].code, PETAL_OP_DEQUANTIZE);
    assert_int_equal(m->n_outputs, 1);
    assert_string_equal(m->tensors[m->outputs[0]].name, "final_result");
    const petal_tensor *in = &m->tensors[m->inputs[0]];
    const petal_tensor *bin = &backbone->tensors[backbone->inputs[0]];
    assert_int_equal(in->type, bin->type);
    assert_int_equal(in->quant.n, 1);
    assert_true(in->quant.scale[0] == bin->quant.scale[0]);
    assert_int_equal(in->quant.zero_point[0], bin->quant.zero_point[0]);

    /* Serialized and parsed back, it computes softmax(head(bottleneck)). */
    uint8_t *bytes;
    size_t len;
    assert_int_equal(petal_model_serialize(m, &bytes, &len, &err), PETAL_OK);
    petal_model *back;
    assert_int_equal(petal_model_parse(bytes, len, "exported", &back, &err), PETAL_OK);
    uint8_t *rgb = malloc(128 * 128 * 3);
    for (int i = 0; i < 128 * 128 * 3; i++)
        rgb[i] = (uint8_t)((i * 7 + i / 384) & 0xFF);
    float *feat = malloc(N * sizeof(float)), want[3], got[3];
    run_model(backbone, b, rgb, feat, N);
    petal_head_predict(&head, feat, 1, want);
    run_model(back, back->outputs[0], rgb, got, 3);
    for (int c = 0; c < 3; c++)
        assert_true(fabsf(want[c] - got[c]) < 1e-4f);

    free(rgb);
    free(feat);
    free(bytes);
    petal_model_free(back);
    petal_model_free(m);
    petal_head_free(&head);
    petal_model_free(backbone);
}

static void test_architecture_bottlenecks(void **state)
{
    (void)state;
    size_t n;
    const petal_arch *a = petal_arch_list(&n);
    const size_t want[] = {1280, 1280, 1024};
    assert_int_equal(n, 3);
    assert_string_equal(petal_arch_find(PETAL_ARCH_DEFAULT)->file,
                        "mobilenet_v2_1.0_224_quant.tflite");
    assert_null(petal_arch_find("inception_v3"));
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = petal_test_model_path(a[i].file);
        if (!p)
            continue;
        found++;
        char hex[PETAL_SHA256_HEX];
        petal_error err;
        assert_int_equal(petal_sha256_file(p, hex, &err), PETAL_OK);
        assert_string_equal(hex, a[i].sha256);
        petal_model *m;
        assert_int_equal(petal_model_load(p, &m, &err), PETAL_OK);
        int t = petal_train_find_bottleneck(m, a[i].bottleneck);
        assert_true(t >= 0);
        assert_null(m->tensors[t].data);
        assert_int_equal(petal_tensor_elements(&m->tensors[t]), want[i]);
        petal_model_free(m);
    }
    if (!found) {
        PETAL_REQUIRE_MODEL(p, a[0].file);
        (void)p;
    }
}

static void test_locate_names_folders(void **state)
{
    (void)state;
    char *path = NULL;
    petal_error err;
    assert_int_equal(petal_arch_locate("no_such_model.tflite", "/nonexistent/dir", &path, &err),
                     PETAL_ERR_NOT_FOUND);
    assert_null(path);
    assert_non_null(strstr(err.msg, "no_such_model.tflite"));
    assert_non_null(strstr(err.msg, "/nonexistent/dir"));
    assert_non_null(strstr(err.msg, "../shared/models"));
    assert_non_null(strstr(err.msg, "make models"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_matches_head),
        cmocka_unit_test(test_architecture_bottlenecks),
        cmocka_unit_test(test_locate_names_folders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
