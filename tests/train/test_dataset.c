/* test_dataset.c - retrain.py-compatible labels, split percentages and folder scanning. */
#include "common/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/dataset.h"
#include "util/fs.h"

static void test_label_normalize(void **state)
{
    (void)state;
    const char *cases[][2] = {{"Roses", "roses"},
                              {"Sun--Flowers  2", "sun flowers 2"},
                              {"_x_", " x "},
                              {"ÉtéFleur", " t fleur"},
                              {"daisy", "daisy"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *l = petal_label_normalize(cases[i][0]);
        assert_string_equal(l, cases[i][1]);
        free(l);
    }
}

/* Expected values printed by Python 3 with retrain.py's formula:
 * (int(sha1(re.sub(r'_nohash_.*$', '', p)), 16) % 2**27) * (100.0 / (2**27 - 1)). */
static void test_split_percentage_matches_retrain_py(void **state)
{
    (void)state;
    const struct {
        const char *path;
        const char *expect;
    } cases[] = {
        {"flowers5/daisy/100080576_f52e8ee070_n.jpg", "84.3313074434646"},
        {"../shared/data/flowers5/roses/a.jpg", "87.66263565169749"},
        {"x/y/z_nohash_1.jpg", "85.48842434203941"},
        {"x/y/z_nohash_2.jpg", "85.48842434203941"},
        {"x/y/z.jpg", "55.306484962303074"},
        {"a/b_nohash_c/d.jpg", "1.3945542379807996"},
        {"a/b", "1.3945542379807996"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = petal_split_percentage(cases[i].path);
        double want = strtod(cases[i].expect, NULL);
        if (got != want)
            fail_msg("%s: %.17g != %s", cases[i].path, got, cases[i].expect);
    }
    assert_int_equal(petal_split_for("a/b", 10, 10), PETAL_SPLIT_VALID);
    assert_int_equal(petal_split_for("x/y/z.jpg", 50, 10), PETAL_SPLIT_TEST);
    assert_int_equal(petal_split_for("x/y/z.jpg", 10, 10), PETAL_SPLIT_TRAIN);
    assert_int_equal(petal_split_for("a/b", 0, 0), PETAL_SPLIT_TRAIN);
}

static void test_image_names(void **state)
{
    (void)state;
    assert_true(petal_is_image_name("a.JPG"));
    assert_true(petal_is_image_name("a.b.webp"));
    assert_true(petal_is_image_name("x.Jpeg"));
    assert_false(petal_is_image_name("notes.txt"));
    assert_false(petal_is_image_name(".jpg"));
    assert_false(petal_is_image_name("jpg"));
}

static void touch(const char *dir, const char *name)
{
    char *p = petal_path_join(dir, name);
    petal_test_write(p, "x", 1);
    free(p);
}

static void test_scan_folder(void **state)
{
    (void)state;
    char *dir = petal_test_tmpdir("dataset");
    petal_error err;
    char *a = petal_path_join(dir, "Red Roses"), *b = petal_path_join(dir, "daisy");
    char *empty = petal_path_join(dir, "empty");
    assert_int_equal(petal_mkdirs(a, &err), PETAL_OK);
    assert_int_equal(petal_mkdirs(b, &err), PETAL_OK);
    assert_int_equal(petal_mkdirs(empty, &err), PETAL_OK);
    char name[64];
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof name, "img%02d.jpg", i);
        touch(a, name);
        snprintf(name, sizeof name, "p%02d.PNG", i);
        touch(b, name);
    }
    touch(a, "readme.txt");
    touch(dir, "loose.jpg");

    petal_dataset ds;
    assert_int_equal(petal_dataset_scan(dir, 10, 10, 2, &ds, &err), PETAL_OK);
    assert_int_equal(ds.n_classes, 2);
    assert_string_equal(ds.classes[0].folder, "Red Roses");
    assert_string_equal(ds.classes[0].label, "red roses");
    assert_string_equal(ds.classes[1].label, "daisy");
    assert_int_equal(ds.n_samples, 60);
    size_t total = 0;
    for (size_t i = 0; i < ds.n_samples; i++) {
        petal_sample *s = &ds.samples[i];
        assert_int_equal(s->split, petal_split_for(s->path, 10, 10));
        assert_non_null(strstr(s->path, s->label == 0 ? "/Red Roses/img" : "/daisy/p"));
        total++;
    }
    assert_int_equal(petal_dataset_count(&ds, PETAL_SPLIT_TRAIN) +
                         petal_dataset_count(&ds, PETAL_SPLIT_VALID) +
                         petal_dataset_count(&ds, PETAL_SPLIT_TEST),
                     total);
    /* The first photo's path is formed as os.path.join(image_dir, folder, file). */
    char *want = malloc(strlen(dir) + 64);
    sprintf(want, "%s/Red Roses/img00.jpg", dir);
    assert_string_equal(ds.samples[0].path, want);
    free(want);
    petal_dataset_free(&ds);

    /* One class only is an error naming the folder. */
    petal_test_rmtree(b);
    assert_int_equal(petal_dataset_scan(dir, 10, 10, 2, &ds, &err), PETAL_ERR_ARG);
    assert_non_null(strstr(err.msg, "Only one valid folder"));
    assert_int_equal(petal_dataset_scan(dir, 0, 0, 1, &ds, &err), PETAL_OK);
    assert_int_equal(ds.n_classes, 1);
    assert_int_equal(petal_dataset_count(&ds, PETAL_SPLIT_TRAIN), 30);
    petal_dataset_free(&ds);
    assert_int_equal(petal_dataset_scan("/nonexistent/petal", 10, 10, 2, &ds, &err),
                     PETAL_ERR_NOT_FOUND);
    petal_test_rmtree(dir);
    free(a);
    free(b);
    free(empty);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_normalize),
        cmocka_unit_test(test_split_percentage_matches_retrain_py),
        cmocka_unit_test(test_image_names),
        cmocka_unit_test(test_scan_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
