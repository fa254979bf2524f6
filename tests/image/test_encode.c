/* test_encode.c - JPEG encoding: what petal_image_encode_jpeg writes decodes back to it. */
#include "common/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "image/image.h"

static void test_encode_round_trip(void **state)
{
    (void)state;
    petal_image img = {48, 32, malloc(48 * 32 * 3)};
    for (int y = 0; y < img.height; y++)
        for (int x = 0; x < img.width; x++) {
            uint8_t *p = img.pixels + ((size_t)y * img.width + x) * 3;
            p[0] = (uint8_t)(x * 5), p[1] = (uint8_t)(y * 7), p[2] = 128;
        }
    uint8_t *jpeg;
    size_t len;
    petal_error err;
    assert_int_equal(petal_image_encode_jpeg(&img, 95, &jpeg, &len, "t", &err), PETAL_OK);
    assert_true(len > 100);
    assert_int_equal(petal_image_sniff(jpeg, len), PETAL_FORMAT_JPEG);
    petal_image back;
    assert_int_equal(petal_image_decode(jpeg, len, "t.jpg", NULL, &back, &err), PETAL_OK);
    assert_int_equal(back.width, img.width);
    assert_int_equal(back.height, img.height);
    long total = 0;
    for (size_t i = 0; i < (size_t)img.width * img.height * 3; i++)
        total += labs((long)back.pixels[i] - img.pixels[i]);
    /* A smooth gradient at quality 95 comes back within a few levels on average. */
    assert_true(total < (long)img.width * img.height * 3 * 4);
    free(jpeg);
    petal_image_free(&back);
    petal_image_free(&img);
}

static void test_encode_refuses_empty_image(void **state)
{
    (void)state;
    petal_image empty = {0, 0, NULL};
    uint8_t *jpeg = (uint8_t *)"x";
    size_t len = 7;
    petal_error err;
    assert_int_equal(petal_image_encode_jpeg(&empty, 90, &jpeg, &len, "empty", &err),
                     PETAL_ERR_ARG);
    assert_null(jpeg);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err.msg, "empty"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_encode_refuses_empty_image),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
