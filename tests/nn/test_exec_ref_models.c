/* test_exec_ref_models.c - the reference executor on the shared MobileNets: top-1 label and
 * score for the six shared photos against the official TFLite interpreter's results (table in
 * ../shared/models/README.md), the bottleneck tensor as an output, and the embedding extractor. */
#include "common/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "nn/exec.h"
#include "nn/model.h"
#include "util/fs.h"

/* Allowed distance from the interpreter's top-1 score (the acceptance bound). */
#define SCORE_TOLERANCE 0.08f

static const struct {
    const char *photo;
    const char *label;
    float uint8_score; /* mobilenet_v2_1.0_224_quant */
    float int8_score;  /* tf2_mobilenet_v2_1.0_224_ptq */
} expected[] = {
    {"grace_hopper.bmp", "military uniform", 0.925f, 0.784f},
    {"cat.bmp", "Egyptian cat", 0.792f, 0.616f},
    {"parrot.jpg", "macaw", 1.000f, 0.925f},
    {"bird.bmp", "chickadee", 0.992f, 0.800f},
    {"sunflower.bmp", "daisy", 0.992f, 0.949f},
    {"owl.jpg", "ruffed grouse, partridge, Bonasa umbellus", 0.667f, 0.267f},
};

static petal_model *load_model(const char *path)
{
    petal_model *m = NULL;
    petal_error err;
    if (petal_model_load(path, &m, &err) != PETAL_OK)
        fail_msg("%s", err.msg);
    return m;
}

static petal_exec *reference_exec(const petal_model *m, int output)
{
    petal_exec_options o = petal_exec_defaults();
    o.backend = PETAL_BACKEND_REFERENCE;
    o.threads = 1;
    o.output = output;
    petal_exec *e = NULL;
    petal_error err;
    if (petal_exec_create(m, &o, &e, &err) != PETAL_OK)
        fail_msg("%s", err.msg);
    return e;
}

/* Decodes a shared photo, resizes the whole of it to the input size and runs the model. */
static const float *classify_photo(petal_exec *e, const char *photo, size_t *n)
{
    char *path = strdup(petal_test_model_path(photo));
    int h, w, c;
    petal_exec_input_size(e, &h, &w, &c);
    petal_decode_options opts = {0, w, h};
    petal_image img = {0}, small = {0};
    petal_error err;
    if (petal_image_load(path, &opts, &img, &err) != PETAL_OK ||
        petal_image_resize(&img, w, h, &small, &err) != PETAL_OK ||
        petal_exec_set_input_rgb(e, small.pixels, 127.5f, 127.5f, &err) != PETAL_OK ||
        petal_exec_run(e, &err) != PETAL_OK)
        fail_msg("%s: %s", photo, err.msg);
    petal_image_free(&img);
    petal_image_free(&small);
    free(path);
    return petal_exec_output(e, n);
}

/* The labels file split into lines (the buffer is kept in *text). */
static char **load_labels(const char *path, char **text, size_t *count)
{
    uint8_t *data;
    size_t len;
    petal_error err;
    if (petal_read_file(path, 0, &data, &len, &err) != PETAL_OK)
        fail_msg("%s", err.msg);
    char **lines = calloc(len + 1, sizeof *lines);
    assert_non_null(lines);
    size_t n = 0;
    for (char *p = (char *)data; p < (char *)data + len;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        lines[n++] = p;
        p = nl ? nl + 1 : (char *)data + len;
    }
    *text = (char *)data;
    *count = n;
    return lines;
}

static void check_model(const char *file, int int8_column)
{
    PETAL_REQUIRE_MODEL(model_path, file);
    char *path = strdup(model_path);
    PETAL_REQUIRE_MODEL(labels_path, "imagenet_labels.txt");
    char *text;
    size_t n_labels;
    char **labels = load_labels(labels_path, &text, &n_labels);
    petal_model *m = load_model(path);
    petal_exec *e = reference_exec(m, -1);

    char failures[2048] = "";
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        PETAL_REQUIRE_MODEL(photo, expected[i].photo);
        (void)photo;
        size_t n;
        const float *scores = classify_photo(e, expected[i].photo, &n);
        assert_int_equal(n, n_labels);
        size_t best = 0;
        for (size_t k = 1; k < n; k++)
            if (scores[k] > scores[best])
                best = k;
        float want = int8_column ? expected[i].int8_score : expected[i].uint8_score;
        print_message("%-30s %-18s %-42s %.4f (expected %.3f, %+.4f)\n", file, expected[i].photo,
                      labels[best], scores[best], want, scores[best] - want);
        if (strcmp(labels[best], expected[i].label) != 0 ||
            fabsf(scores[best] - want) > SCORE_TOLERANCE) {
            size_t used = strlen(failures);
            snprintf(failures + used, sizeof failures - used, " %s: %s %.4f;", expected[i].photo,
                     labels[best], scores[best]);
        }
    }
    petal_exec_free(e);
    petal_model_free(m);
    free(labels);
    free(text);
    free(path);
    if (failures[0])
        fail_msg("%s: top-1 differs from the interpreter's:%s", file, failures);
}

static void test_v2_uint8_top1(void **state)
{
    (void)state;
    check_model("mobilenet_v2_1.0_224_quant.tflite", 0);
}

static void test_v2_int8_top1(void **state)
{
    (void)state;
    check_model("tf2_mobilenet_v2_1.0_224_ptq.tflite", 1);
}

static void test_v2_bottleneck_output(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, "mobilenet_v2_1.0_224_quant.tflite");
    PETAL_REQUIRE_MODEL(photo, "cat.bmp");
    (void)photo;
    petal_model *m = load_model(path);
    int t = petal_model_find_tensor(m, "MobilenetV2/Logits/AvgPool");
    assert_true(t >= 0);
    petal_exec *e = reference_exec(m, t);
    size_t n;
    const float *v = classify_photo(e, "cat.bmp", &n);
    assert_int_equal(n, 1280);
    /* An average of ReLU6 outputs lies in [0, 6], and a photo lights up many features. */
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(v[i] >= 0.0f && v[i] <= 6.0f);
        nonzero += v[i] > 0;
    }
    assert_true(nonzero > n / 4);
    petal_exec_free(e);
    petal_model_free(m);
}

static void test_v1_embedding_extractor(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(path, "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite");
    PETAL_REQUIRE_MODEL(photo, "parrot.jpg");
    (void)photo;
    petal_model *m = load_model(path);
    petal_exec *e = reference_exec(m, -1);
    size_t n;
    const float *v = classify_photo(e, "parrot.jpg", &n);
    assert_int_equal(n, 1024);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(isfinite(v[i]) && v[i] >= 0.0f);
        sum += v[i];
    }
    assert_true(sum > 0);
    petal_exec_free(e);
    petal_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_uint8_top1),
        cmocka_unit_test(test_v2_int8_top1),
        cmocka_unit_test(test_v2_bottleneck_output),
        cmocka_unit_test(test_v1_embedding_extractor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
