/* test_resize.c - unit tests for petal_image_resize (Pillow BILINEAR semantics, checked
 * against values from Pillow's own accuracy tests and a floating-point reference), crops,
 * flip, brightness and the training distortions. */
#include "common/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

static petal_image make_image(int w, int h)
{
    petal_image img = {w, h, malloc((size_t)w * h * 3)};
    assert_non_null(img.pixels);
    return img;
}

static uint8_t *px(const petal_image *img, int x, int y)
{
    return img->pixels + ((size_t)y * img->width + x) * 3;
}

static void resize_ok(const petal_image *src, int w, int h, petal_image *dst)
{
    petal_error err = {0};
    if (petal_image_resize(src, w, h, dst, &err) != PETAL_OK)
        fail_msg("resize %dx%d -> %dx%d: %s", src->width, src->height, w, h, err.msg);
    assert_int_equal(dst->width, w);
    assert_int_equal(dst->height, h);
}

/* Pillow's accuracy case: a size x size image, bright (0xe1) top-left and bottom-right
 * quadrants on dark (0x1e). */
static petal_image pillow_case(int size)
{
    petal_image img = make_image(size, size);
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            int bright = (x < size / 2) == (y < size / 2);
            memset(px(&img, x, y), bright ? 0xe1 : 0x1e, 3);
        }
    return img;
}

/* Expands the top-left quarter of Pillow's expected result to the whole image by its
 * symmetries and compares every channel exactly. */
static void check_pillow_sample(const petal_image *img, const uint8_t *quarter)
{
    int n = img->width, q = n / 2;
    for (int y = 0; y < q; y++)
        for (int x = 0; x < q; x++) {
            uint8_t v = quarter[y * q + x];
            const int pos[4][3] = {{x, y, v},
                                   {n - 1 - x, n - 1 - y, v},
                                   {x, n - 1 - y, 255 - v},
                                   {n - 1 - x, y, 255 - v}};
            for (int k = 0; k < 4; k++)
                for (int c = 0; c < 3; c++)
                    assert_int_equal(px(img, pos[k][0], pos[k][1])[c], pos[k][2]);
        }
}

static void test_resize_matches_pillow_cases(void **state)
{
    (void)state;
    /* Values from Pillow's test_image_resample.py (test_reduce_bilinear and
     * test_enlarge_bilinear). */
    petal_image src = pillow_case(8), out;
    resize_ok(&src, 4, 4, &out);
    const uint8_t reduce[4] = {0xe1, 0xc9, 0xc9, 0xb7};
    check_pillow_sample(&out, reduce);
    petal_image_free(&out);
    petal_image_free(&src);

    src = pillow_case(2);
    resize_ok(&src, 4, 4, &out);
    const uint8_t enlarge[4] = {0xe1, 0xb0, 0xb0, 0x98};
    check_pillow_sample(&out, enlarge);
    petal_image_free(&out);
    petal_image_free(&src);

    /* A two-pixel ramp doubled: pixel centres at 1/4 and 3/4 of the source pixels. */
    src = make_image(2, 1);
    memset(px(&src, 0, 0), 0, 3);
    memset(px(&src, 1, 0), 255, 3);
    resize_ok(&src, 4, 1, &out);
    const uint8_t ramp[4] = {0, 64, 191, 255};
    for (int x = 0; x < 4; x++)
        assert_int_equal(px(&out, x, 0)[0], ramp[x]);
    petal_image_free(&out);
    petal_image_free(&src);
}

/* An independent floating-point statement of the same filter: for output pixel i the source
 * centre is (i + 0.5) * scale; weights are the triangle of half-width max(scale, 1) over
 * source pixel centres, normalised; horizontal pass then vertical, each rounded to 8 bits. */
static void reference_resize(const petal_image *src, int w, int h, petal_image *dst)
{
    *dst = make_image(w, h);
    uint8_t *tmp = malloc((size_t)w * src->height * 3);
    for (int pass = 0; pass < 2; pass++) {
        int in = pass == 0 ? src->width : src->height, out = pass == 0 ? w : h;
        double scale = (double)in / out, support = scale > 1 ? scale : 1;
        for (int i = 0; i < out; i++) {
            double center = (i + 0.5) * scale, total = 0, wts[4096];
            int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
            if (lo < 0)
                lo = 0;
            if (hi > in)
                hi = in;
            for (int j = lo; j < hi; j++) {
                double d = fabs((j + 0.5 - center) / support);
                wts[j - lo] = d < 1 ? 1 - d : 0;
                total += wts[j - lo];
            }
            int lines = pass == 0 ? src->height : w;
            for (int l = 0; l < lines; l++)
                for (int c = 0; c < 3; c++) {
                    double acc = 0;
                    for (int j = lo; j < hi; j++) {
                        uint8_t v = pass == 0 ? px(src, j, l)[c] : tmp[((size_t)j * w + l) * 3 + c];
                        acc += v * wts[j - lo] / total;
                    }
                    long r = lround(acc);
                    uint8_t v = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
                    if (pass == 0)
                        tmp[((size_t)l * w + i) * 3 + c] = v;
                    else
                        px(dst, l, i)[c] = v;
                }
        }
    }
    free(tmp);
}

static void test_resize_matches_reference(void **state)
{
    (void)state;
    const int sizes[][4] = {{64, 48, 224, 224}, {512, 343, 224, 224}, {300, 17, 41, 90},
                            {7, 5, 3, 2},       {10, 10, 10, 4},      {10, 10, 3, 10},
                            {1, 1, 5, 5},       {600, 512, 224, 224}};
    uint64_t s = 88172645463325252ull;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        petal_image src = make_image(sizes[k][0], sizes[k][1]);
        for (size_t i = 0; i < (size_t)src.width * src.height * 3; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            src.pixels[i] = (uint8_t)(i % 3 == 0 ? s : (i / 3) % 251); /* noise and ramps */
        }
        petal_image out, ref;
        resize_ok(&src, sizes[k][2], sizes[k][3], &out);
        reference_resize(&src, sizes[k][2], sizes[k][3], &ref);
        int worst = 0;
        for (size_t i = 0; i < (size_t)out.width * out.height * 3; i++) {
            int d = abs((int)out.pixels[i] - (int)ref.pixels[i]);
            worst = d > worst ? d : worst;
        }
        /* Fixed-point weights (22 bits) can move a value across a rounding boundary in the
         * first pass, which the second pass can carry on: at most 1 level apart. */
        if (worst > 1)
            fail_msg("%dx%d -> %dx%d differs from the reference by %d", sizes[k][0], sizes[k][1],
                     sizes[k][2], sizes[k][3], worst);
        petal_image_free(&out);
        petal_image_free(&ref);
        petal_image_free(&src);
    }
}

static void test_resize_constant_and_antialias(void **state)
{
    (void)state;
    petal_image src = make_image(97, 61), out;
    for (int i = 0; i < 97 * 61; i++) {
        src.pixels[3 * i] = 13;
        src.pixels[3 * i + 1] = 200;
        src.pixels[3 * i + 2] = 255;
    }
    const int targets[][2] = {{224, 224}, {13, 7}, {1, 1}, {97, 200}, {500, 61}};
    for (size_t t = 0; t < 5; t++) {
        resize_ok(&src, targets[t][0], targets[t][1], &out);
        for (int i = 0; i < out.width * out.height; i++) {
            assert_int_equal(out.pixels[3 * i], 13);
            assert_int_equal(out.pixels[3 * i + 1], 200);
            assert_int_equal(out.pixels[3 * i + 2], 255);
        }
        petal_image_free(&out);
    }
    petal_image_free(&src);

    /* A one-pixel checkerboard shrunk 4x: every output pixel averages black and white. A
     * filter without antialiasing would sample two pixels and could give 0 or 255. */
    src = make_image(64, 64);
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++)
            memset(px(&src, x, y), ((x + y) & 1) ? 255 : 0, 3);
    resize_ok(&src, 16, 16, &out);
    for (int i = 0; i < 16 * 16 * 3; i++)
        assert_true(abs(out.pixels[i] - 128) <= 4);
    petal_image_free(&out);

    /* Same size is an exact copy. */
    resize_ok(&src, 64, 64, &out);
    assert_memory_equal(out.pixels, src.pixels, 64 * 64 * 3);
    petal_image_free(&out);

    petal_error err;
    assert_int_equal(petal_image_resize(&src, 0, 10, &out, &err), PETAL_ERR_ARG);
    assert_null(out.pixels);
    petal_image_free(&src);
}

static void test_crop_flip_brightness(void **state)
{
    (void)state;
    petal_image src = make_image(40, 20), out;
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 40; x++) {
            uint8_t *p = px(&src, x, y);
            p[0] = (uint8_t)x;
            p[1] = (uint8_t)y;
            p[2] = (uint8_t)(x < 10 ? 0 : x < 30 ? 100 : 200);
        }
    petal_error err;
    assert_int_equal(petal_image_crop(&src, 5, 3, 10, 4, &out, &err), PETAL_OK);
    assert_int_equal(out.width, 10);
    assert_int_equal(px(&out, 0, 0)[0], 5);
    assert_int_equal(px(&out, 9, 3)[0], 14);
    assert_int_equal(px(&out, 9, 3)[1], 6);
    petal_image_free(&out);
    assert_int_equal(petal_image_crop(&src, 35, 0, 10, 4, &out, &err), PETAL_ERR_ARG);
    assert_int_equal(petal_image_crop(&src, -1, 0, 10, 4, &out, &err), PETAL_ERR_ARG);

    /* Centre crop of a 2:1 image to a square keeps the middle 20 columns only. */
    assert_int_equal(petal_image_resize_center_crop(&src, 8, 8, &out, &err), PETAL_OK);
    for (int i = 0; i < 64; i++)
        assert_int_equal(out.pixels[3 * i + 2], 100);
    petal_image_free(&out);
    assert_int_equal(petal_image_resize_center_crop(&src, 40, 10, &out, &err), PETAL_OK);
    assert_int_equal(px(&out, 0, 0)[0], 0); /* 4:1 target: full width, middle rows */
    petal_image_free(&out);

    petal_image_flip_horizontal(&src);
    assert_int_equal(px(&src, 0, 5)[0], 39);
    assert_int_equal(px(&src, 39, 5)[0], 0);
    assert_int_equal(px(&src, 0, 5)[1], 5);

    petal_image_scale_brightness(&src, 1.5f);
    assert_int_equal(px(&src, 30, 0)[0], 14);  /* 9 * 1.5 = 13.5 rounds up */
    assert_int_equal(px(&src, 0, 0)[2], 255);  /* 200 * 1.5 clamps */
    assert_int_equal(px(&src, 20, 0)[2], 150); /* 100 * 1.5 */
    petal_image_scale_brightness(&src, 0.5f);
    assert_int_equal(px(&src, 20, 0)[2], 75);
    petal_image_free(&src);
}

static void test_distortions(void **state)
{
    (void)state;
    petal_image src = make_image(120, 90);
    for (int y = 0; y < 90; y++)
        for (int x = 0; x < 120; x++) {
            uint8_t *p = px(&src, x, y);
            p[0] = (uint8_t)(x * 2);
            p[1] = (uint8_t)(y * 2);
            p[2] = 100;
        }
    petal_error err;
    petal_image plain, a, b;
    resize_ok(&src, 32, 32, &plain);

    /* No distortion: the plain resize, and no randomness used. */
    petal_distortions none = {0, 0, 0, 0};
    uint64_t rng = 42;
    assert_int_equal(petal_image_distort(&src, &none, 32, 32, &rng, &a, &err), PETAL_OK);
    assert_memory_equal(a.pixels, plain.pixels, 32 * 32 * 3);
    assert_true(rng == 42);
    petal_image_free(&a);

    /* Same seed, same result; the model size always comes out. */
    petal_distortions all = {1, 20, 30, 25};
    uint64_t r1 = 7, r2 = 7;
    assert_int_equal(petal_image_distort(&src, &all, 32, 32, &r1, &a, &err), PETAL_OK);
    assert_int_equal(petal_image_distort(&src, &all, 32, 32, &r2, &b, &err), PETAL_OK);
    assert_int_equal(a.width, 32);
    assert_int_equal(a.height, 32);
    assert_memory_equal(a.pixels, b.pixels, 32 * 32 * 3);
    assert_true(r1 == r2 && r1 != 7);
    petal_image_free(&b);
    int differs = 0;
    for (int k = 0; k < 10 && !differs; k++) {
        assert_int_equal(petal_image_distort(&src, &all, 32, 32, &r1, &b, &err), PETAL_OK);
        differs = memcmp(a.pixels, b.pixels, 32 * 32 * 3) != 0;
        petal_image_free(&b);
    }
    assert_true(differs);
    petal_image_free(&a);

    /* Flip only: each result is the plain resize or its mirror, and both occur. */
    petal_distortions flip = {1, 0, 0, 0};
    petal_image mirrored;
    resize_ok(&src, 32, 32, &mirrored);
    petal_image_flip_horizontal(&mirrored);
    int seen_plain = 0, seen_mirror = 0;
    for (int k = 0; k < 40; k++) {
        assert_int_equal(petal_image_distort(&src, &flip, 32, 32, &rng, &a, &err), PETAL_OK);
        if (memcmp(a.pixels, plain.pixels, 32 * 32 * 3) == 0)
            seen_plain++;
        else if (memcmp(a.pixels, mirrored.pixels, 32 * 32 * 3) == 0)
            seen_mirror++;
        else
            fail_msg("flip-only distortion changed more than the orientation");
        petal_image_free(&a);
    }
    assert_true(seen_plain > 5 && seen_mirror > 5);
    petal_image_free(&mirrored);

    /* Brightness only on a constant image: every value within 100 * (1 +- 0.2). */
    memset(src.pixels, 100, 120 * 90 * 3);
    petal_distortions bright = {0, 0, 0, 20};
    int lo = 255, hi = 0;
    for (int k = 0; k < 50; k++) {
        assert_int_equal(petal_image_distort(&src, &bright, 16, 16, &rng, &a, &err), PETAL_OK);
        for (int i = 0; i < 16 * 16 * 3; i++)
            assert_int_equal(a.pixels[i], a.pixels[0]);
        lo = a.pixels[0] < lo ? a.pixels[0] : lo;
        hi = a.pixels[0] > hi ? a.pixels[0] : hi;
        petal_image_free(&a);
    }
    assert_true(lo >= 80 && hi <= 120 && hi - lo >= 20);

    /* Crop only: a window of the image enlarged by 1.5, so a 3:2 gradient's values lie inside
     * the range the plain resize covers. */
    for (int y = 0; y < 90; y++)
        for (int x = 0; x < 120; x++)
            px(&src, x, y)[0] = (uint8_t)(x * 2);
    petal_distortions crop = {0, 50, 0, 0};
    assert_int_equal(petal_image_distort(&src, &crop, 32, 32, &rng, &a, &err), PETAL_OK);
    int span = px(&a, 31, 0)[0] - px(&a, 0, 0)[0];
    int full = px(&plain, 31, 0)[0] - px(&plain, 0, 0)[0];
    assert_true(span > 0 && span < full * 3 / 4);
    petal_image_free(&a);
    petal_image_free(&plain);
    petal_image_free(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_matches_pillow_cases),
        cmocka_unit_test(test_resize_matches_reference),
        cmocka_unit_test(test_resize_constant_and_antialias),
        cmocka_unit_test(test_crop_flip_brightness),
        cmocka_unit_test(test_distortions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
