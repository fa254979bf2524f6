/* test_photos.c - decodes the real photos shared with the models (../shared/models) and a
 * sample of the flowers5 set, checking sizes and that resizing to a model input works. Skips
 * when the shared folders are absent (fails under CI=true). */
#include "common/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/fs.h"

static void test_model_photos(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        int w, h;
    } photos[] = {
        {"grace_hopper.bmp", 512, 600}, {"cat.bmp", 512, 341},    {"bird.bmp", 512, 343},
        {"sunflower.bmp", 512, 340},    {"parrot.jpg", 512, 929}, {"owl.jpg", 512, 384},
    };
    for (size_t i = 0; i < sizeof photos / sizeof photos[0]; i++) {
        PETAL_REQUIRE_MODEL(path, photos[i].file);
        petal_image img, small;
        petal_error err = {0};
        if (petal_image_load(path, NULL, &img, &err) != PETAL_OK)
            fail_msg("%s", err.msg);
        assert_int_equal(img.width, photos[i].w);
        assert_int_equal(img.height, photos[i].h);
        /* A photo is not flat: its channels spread over a wide range. */
        int lo = 255, hi = 0;
        for (size_t k = 0; k < (size_t)img.width * img.height * 3; k++) {
            lo = img.pixels[k] < lo ? img.pixels[k] : lo;
            hi = img.pixels[k] > hi ? img.pixels[k] : hi;
        }
        assert_true(hi - lo > 150);
        assert_int_equal(petal_image_resize(&img, 224, 224, &small, &err), PETAL_OK);
        petal_image_free(&small);
        petal_image_free(&img);

        /* DCT scaling never goes below the target. */
        petal_decode_options opts = {0, 224, 224};
        assert_int_equal(petal_image_load(path, &opts, &img, &err), PETAL_OK);
        assert_true(img.width >= 224 && img.height >= 224);
        petal_image_free(&img);
    }
}

/* The first few photos of every flowers5 class decode (they are JPEGs of up to 256 px). */
static void test_flowers_sample(void **state)
{
    (void)state;
    PETAL_REQUIRE_DATA(set, "flowers5");
    char *root = strdup(set);
    char **classes;
    size_t n_classes;
    petal_error err = {0};
    assert_int_equal(petal_list_dir(root, &classes, &n_classes, &err), PETAL_OK);
    int decoded = 0;
    for (size_t c = 0; c < n_classes; c++) {
        char *dir = petal_path_join(root, classes[c]);
        char **files;
        size_t n_files;
        if (!petal_is_dir(dir) || petal_list_dir(dir, &files, &n_files, &err) != PETAL_OK) {
            free(dir);
            continue;
        }
        for (size_t f = 0; f < n_files && f < 12; f++) {
            char *path = petal_path_join(dir, files[f]);
            petal_image img;
            if (petal_image_load(path, NULL, &img, &err) != PETAL_OK)
                fail_msg("%s", err.msg);
            assert_true(img.width > 16 && img.height > 16);
            assert_true(img.width <= 256 && img.height <= 256);
            petal_image_free(&img);
            decoded++;
            free(path);
        }
        petal_free_list(files, n_files);
        free(dir);
    }
    petal_free_list(classes, n_classes);
    free(root);
    assert_true(decoded >= 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_photos),
        cmocka_unit_test(test_flowers_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
