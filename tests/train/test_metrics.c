/* test_metrics.c - accuracy, precision, recall, confusion and the JSON form. */
#include "common/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "train/metrics.h"

static void test_scores_and_json(void **state)
{
    (void)state;
    char *labels[] = {"daisy", "roses", "tulips"};
    petal_metrics m;
    petal_error err;
    assert_int_equal(petal_metrics_init(&m, 3, labels, &err), PETAL_OK);
    /* truth, predicted */
    int pairs[][2] = {{0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 1}, {1, 2}, {2, 2}, {2, 0}};
    for (size_t i = 0; i < 8; i++)
        petal_metrics_add(&m, pairs[i][0], pairs[i][1]);
    petal_metrics_add(&m, 5, 0); /* out of range: ignored */
    assert_int_equal(m.n, 8);
    assert_true(fabs(petal_metrics_accuracy(&m) - 5.0 / 8) < 1e-12);
    assert_true(fabs(petal_metrics_precision(&m, 0) - 2.0 / 3) < 1e-12);
    assert_true(fabs(petal_metrics_recall(&m, 0) - 2.0 / 3) < 1e-12);
    assert_true(fabs(petal_metrics_precision(&m, 2) - 1.0 / 2) < 1e-12);
    assert_true(fabs(petal_metrics_recall(&m, 1) - 2.0 / 3) < 1e-12);

    char *json = petal_metrics_json(&m);
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    assert_true(fabs(cJSON_GetObjectItem(root, "accuracy")->valuedouble - 0.625) < 1e-12);
    assert_int_equal(cJSON_GetObjectItem(root, "n")->valueint, 8);
    cJSON *roses = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "per_class"), "roses");
    assert_non_null(roses);
    assert_int_equal(cJSON_GetObjectItem(roses, "support")->valueint, 3);
    cJSON *conf = cJSON_GetObjectItem(root, "confusion");
    assert_int_equal(cJSON_GetArraySize(conf), 3);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(conf, 2), 0)->valueint, 1);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(conf, 0), 0)->valueint, 2);
    cJSON_Delete(root);
    free(json);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    petal_metrics_print(&m, f);
    fclose(f);
    assert_non_null(strstr(text, "accuracy = 62.5% (N=8)"));
    assert_non_null(strstr(text, "tulips"));
    free(text);
    petal_metrics_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_scores_and_json)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
