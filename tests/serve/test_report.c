/* test_report.c - the HTML training report built from a synthetic petal_report: curves,
 * confusion heat map, per-class precision/recall, thumbnails, escaping and bad input.
 *
 * `test_report --write-sample DIR` writes DIR/report.html (and the photos it shows) without
 * running the tests; the browser test renders that page in headless Chromium. */
#include "common/testutil.h"
#include "image/image.h"
#include "serve/report.h"
#include "util/fs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes a width x height 24-bit BMP with a colour gradient. */
static void write_bmp(const char *path, int width, int height)
{
    size_t row = ((size_t)width * 3 + 3) & ~(size_t)3;
    size_t size = 54 + row * (size_t)height;
    uint8_t *f = calloc(1, size);
    f[0] = 'B';
    f[1] = 'M';
    uint32_t v32[] = {(uint32_t)size, 0, 54, 40, (uint32_t)width, (uint32_t)height};
    memcpy(f + 2, &v32[0], 4);
    memcpy(f + 10, &v32[2], 4);
    memcpy(f + 14, &v32[3], 4);
    memcpy(f + 18, &v32[4], 4);
    memcpy(f + 22, &v32[5], 4);
    f[26] = 1;
    f[28] = 24;
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            uint8_t *p = f + 54 + (size_t)y * row + (size_t)x * 3;
            p[0] = (uint8_t)(255 * x / width);  /* blue */
            p[1] = (uint8_t)(255 * y / height); /* green */
            p[2] = 200;                         /* red */
        }
    petal_test_write(path, f, size);
    free(f);
}

static char *const class_names[] = {"daisy", "roses", "<b>&tulips"};
static const size_t confusion[9] = {
    40, 2,  1,  /* daisy */
    0,  30, 5,  /* roses */
    3,  0,  19, /* tulips */
};

typedef struct sample {
    char *dir;
    char *photo, *missing;
    petal_report_step steps[20];
    petal_report_miss misses[3];
    petal_report_info info[2];
    petal_report report;
} sample;

/* A report as `petal train` would fill it: 20 eval steps (validation measured every other
 * step), 3 classes, 3 misclassified photos of which one cannot be read. */
static void sample_init(sample *s, const char *dir)
{
    memset(s, 0, sizeof *s);
    s->dir = strdup(dir);
    s->photo = petal_path_join(dir, "tulip 1.bmp");
    s->missing = petal_path_join(dir, "gone.jpg");
    write_bmp(s->photo, 300, 200);
    for (int i = 0; i < 20; i++) {
        petal_report_step *st = &s->steps[i];
        st->step = i * 10;
        st->train_accuracy = 0.5f + 0.02f * (float)i;
        st->train_cross_entropy = 1.5f / (float)(i + 1);
        st->validation_accuracy = i % 2 ? 0.45f + 0.02f * (float)i : NAN;
        st->validation_cross_entropy = i % 2 ? 1.6f / (float)(i + 1) : NAN;
    }
    s->misses[0] = (petal_report_miss){s->photo, 2, 0, 0.61f};
    s->misses[1] = (petal_report_miss){s->missing, 1, 2, 0.55f};
    s->misses[2] = (petal_report_miss){s->photo, 0, 1, 0.5f};
    s->info[0] = (petal_report_info){"architecture", "mobilenet_v2"};
    s->info[1] = (petal_report_info){"image_dir", "photos/<flowers>"};
    petal_report *r = &s->report;
    r->title = "flowers & friends";
    r->info = s->info;
    r->n_info = 2;
    r->n_classes = 3;
    r->class_names = class_names;
    r->steps = s->steps;
    r->n_steps = 20;
    r->confusion = confusion;
    r->misses = s->misses;
    r->n_misses = 3;
    r->max_thumbnails = 2;
}

static void sample_free(sample *s)
{
    free(s->photo);
    free(s->missing);
    free(s->dir);
}

static int count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Decodes the base64 payload that starts at uri (after "base64,") up to the closing quote. */
static uint8_t *base64_decode(const char *text, size_t *len)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strcspn(text, "\"");
    uint8_t *out = malloc(n / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && text[i] != '='; i++) {
        const char *d = strchr(digits, text[i]);
        assert_non_null(d);
        acc = acc << 6 | (uint32_t)(d - digits);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *len = o;
    return out;
}

static void test_training_page(void **state)
{
    (void)state;
    char *dir = petal_test_tmpdir("report");
    sample s;
    sample_init(&s, dir);
    char *html;
    size_t len;
    petal_error err;
    assert_int_equal(petal_report_render(&s.report, &html, &len, &err), PETAL_OK);
    assert_int_equal(strlen(html), len);

    /* Self-contained: no external fetches. */
    assert_null(strstr(html, "src=\"http"));
    assert_null(strstr(html, "href="));
    assert_non_null(strstr(html, "<title>flowers &amp; friends</title>"));
    /* Escaping of class names and info values. */
    assert_null(strstr(html, "<b>&tulips"));
    assert_true(count(html, "&lt;b&gt;&amp;tulips") >= 3);
    assert_non_null(strstr(html, "photos/&lt;flowers&gt;"));

    /* Two charts; train curves have 20 points, validation 10 (NAN steps left out). */
    assert_int_equal(count(html, "<svg"), 2);
    assert_int_equal(count(html, "<polyline"), 4);
    const char *poly = strstr(html, "<polyline");
    const char *points = strstr(poly, "points=\"") + 8;
    int n_points = 0;
    for (const char *p = points; *p != '"'; p++)
        n_points += *p == ',';
    assert_int_equal(n_points, 20);
    poly = strstr(poly + 1, "<polyline");
    points = strstr(poly, "points=\"") + 8;
    n_points = 0;
    for (const char *p = points; *p != '"'; p++)
        n_points += *p == ',';
    assert_int_equal(n_points, 10);
    assert_non_null(strstr(html, "After step 190: train accuracy 88.0%, validation accuracy "
                                 "83.0%"));

    /* Accuracy from the confusion matrix: 89 of 100. */
    assert_non_null(strstr(html, "Test accuracy = 89.0% (N=100)"));
    /* The heat map: the 30 correct roses are 30/35 of their row, shaded dark, white text. */
    assert_non_null(strstr(html, "predicted roses: 30 (85.7%)\">30</td>"));
    assert_non_null(strstr(html, "predicted daisy: 0 (0.0%)\">0</td>"));
    /* Per class: daisy precision 40/43, recall 40/43; roses 30/32 and 30/35; tulips 19/25,
     * 19/22. */
    assert_non_null(strstr(html, "daisy</th><td>43</td><td>93.0%</td><td>93.0%</td>"));
    assert_non_null(strstr(html, "roses</th><td>35</td><td>93.8%</td><td>85.7%</td>"));
    assert_non_null(strstr(html, "tulips</th><td>22</td><td>76.0%</td><td>86.4%</td>"));

    /* Thumbnails: two shown (one unreadable), the third listed by name. */
    assert_int_equal(count(html, "data:image/jpeg;base64,"), 1);
    assert_int_equal(count(html, "photo could not be read"), 1);
    assert_non_null(strstr(html, "Misclassified photos (3)"));
    assert_non_null(strstr(html, "1 more misclassified photos"));
    assert_non_null(strstr(html, "true: &lt;b&gt;&amp;tulips"));
    assert_non_null(strstr(html, "predicted: daisy (61.0%)"));

    /* The thumbnail is a real JPEG, 128 px on its long side, aspect kept. */
    size_t jpeg_len;
    uint8_t *jpeg = base64_decode(strstr(html, "base64,") + 7, &jpeg_len);
    assert_int_equal(petal_image_sniff(jpeg, jpeg_len), PETAL_FORMAT_JPEG);
    petal_image img;
    assert_int_equal(petal_image_decode(jpeg, jpeg_len, "thumb", NULL, &img, &err), PETAL_OK);
    assert_int_equal(img.width, 128);
    assert_int_equal(img.height, 85);
    /* Top-left pixel of the gradient: red 200, blue ~0; JPEG is lossy, so loosely. */
    assert_true(abs(img.pixels[0] - 200) < 24 && img.pixels[2] < 40);
    petal_image_free(&img);
    free(jpeg);

    /* Writing gives the same bytes. */
    char *path = petal_path_join(dir, "report.html");
    assert_int_equal(petal_report_write(&s.report, path, &err), PETAL_OK);
    uint8_t *written;
    size_t written_len;
    assert_int_equal(petal_read_file(path, 0, &written, &written_len, &err), PETAL_OK);
    assert_int_equal(written_len, len);
    assert_memory_equal(written, html, len);
    free(written);
    free(path);
    free(html);
    sample_free(&s);
    petal_test_rmtree(dir);
    free(dir);
}

/* `petal evaluate --report`: no steps and no misses. */
static void test_evaluate_page(void **state)
{
    (void)state;
    petal_report r = {0};
    r.n_classes = 3;
    r.class_names = class_names;
    r.confusion = confusion;
    char *html;
    size_t len;
    petal_error err;
    assert_int_equal(petal_report_render(&r, &html, &len, &err), PETAL_OK);
    assert_non_null(strstr(html, "<h1>petal training report</h1>"));
    assert_null(strstr(html, "<svg"));
    assert_non_null(strstr(html, "Misclassified photos (0)"));
    assert_non_null(strstr(html, "Test accuracy = 89.0% (N=100)"));
    free(html);

    /* A class with no photos and never predicted: precision and recall are undefined. */
    static const size_t empty[4] = {5, 0, 0, 0};
    static char *const two[] = {"a", "b"};
    r.n_classes = 2;
    r.class_names = two;
    r.confusion = empty;
    assert_int_equal(petal_report_render(&r, &html, &len, &err), PETAL_OK);
    assert_non_null(strstr(html, "b</th><td>0</td><td>&ndash;</td><td>&ndash;</td>"));
    free(html);
}

static void test_bad_reports(void **state)
{
    (void)state;
    char *html = (char *)1;
    size_t len;
    petal_error err;
    petal_report r = {0};
    assert_int_equal(petal_report_render(&r, &html, &len, &err), PETAL_ERR_ARG);
    assert_null(html);
    r.n_classes = 3;
    r.class_names = class_names;
    petal_report_miss miss = {"x.jpg", 0, 3, 0.5f};
    r.misses = &miss;
    r.n_misses = 1;
    assert_int_equal(petal_report_render(&r, &html, &len, &err), PETAL_ERR_ARG);
    assert_non_null(strstr(err.msg, "outside 0..2"));
    r.n_misses = 0;
    char *const with_null[] = {"a", NULL, "c"};
    r.class_names = with_null;
    assert_int_equal(petal_report_render(&r, &html, &len, &err), PETAL_ERR_ARG);
    assert_non_null(strstr(err.msg, "class 1 has no name"));
    r.class_names = class_names;
    r.n_steps = 4;
    assert_int_equal(petal_report_render(&r, &html, &len, &err), PETAL_ERR_ARG);

    char *uri;
    assert_int_not_equal(petal_report_thumbnail("/nonexistent/photo.jpg", 64, &uri, &err),
                         PETAL_OK);
    assert_null(uri);
    assert_non_null(strstr(err.msg, "/nonexistent/photo.jpg"));
}

/* A real photo: the thumbnail of grace_hopper.bmp keeps its aspect ratio. */
static void test_thumbnail_real_photo(void **state)
{
    (void)state;
    PETAL_REQUIRE_MODEL(photo, "grace_hopper.bmp");
    petal_image full, thumb;
    petal_error err;
    assert_int_equal(petal_image_load(photo, NULL, &full, &err), PETAL_OK);
    char *uri;
    assert_int_equal(petal_report_thumbnail(photo, 96, &uri, &err), PETAL_OK);
    assert_int_equal(strncmp(uri, "data:image/jpeg;base64,", 23), 0);
    size_t n;
    uint8_t *jpeg = base64_decode(uri + 23, &n);
    assert_int_equal(petal_image_decode(jpeg, n, "thumb", NULL, &thumb, &err), PETAL_OK);
    int long_side = full.width > full.height ? full.width : full.height;
    assert_int_equal(thumb.width > thumb.height ? thumb.width : thumb.height, 96);
    assert_true(fabs((double)thumb.width / thumb.height - (double)full.width / full.height) < 0.03);
    assert_true(long_side > 96);
    petal_image_free(&full);
    petal_image_free(&thumb);
    free(jpeg);
    free(uri);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write-sample")) {
        sample s;
        petal_error err;
        if (petal_mkdirs(argv[2], &err) != PETAL_OK) {
            fprintf(stderr, "petal: error: %s\n", err.msg);
            return 1;
        }
        sample_init(&s, argv[2]);
        char *path = petal_path_join(argv[2], "report.html");
        petal_status st = petal_report_write(&s.report, path, &err);
        if (st != PETAL_OK)
            fprintf(stderr, "petal: error: %s\n", err.msg);
        else
            printf("%s\n", path);
        free(path);
        sample_free(&s);
        return st == PETAL_OK ? 0 : 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_training_page),
        cmocka_unit_test(test_evaluate_page),
        cmocka_unit_test(test_bad_reports),
        cmocka_unit_test(test_thumbnail_real_photo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
