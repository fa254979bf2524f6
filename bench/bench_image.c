/* bench_image.c - speed of the first pipeline step: decode + resize to the shared MobileNets'
 * inputs (224x224 for both V2 files and the V1 embedding extractor, 128x128 for V1 0.25) per
 * photo, on the flowers5 photos (../shared/data or $PETAL_DATA_DIR), split into decode and
 * resize time; then the same at 224x224 on large JPEGs (flowers enlarged to 1024 px and re-encoded
 * in memory) with and without libjpeg-turbo's DCT scaling.
 *
 *   bench_image          first 300 photos (spread over the classes)
 *   bench_image all      every photo
 *   bench_image N        N photos
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "image/image.h"
#include "util/fs.h"
#include "util/timer.h"

#define TARGET       224
#define SMALL_TARGET 128

typedef struct photo {
    char *path;
    uint8_t *data;
    size_t len;
} photo;

typedef struct timing {
    double decode_ms, resize_ms; /* wall clock */
    double cpu_ms;               /* this thread's CPU time: steadier on a busy machine */
    int ok, failed;
} timing;

static double cpu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static const char *find_data_dir(void)
{
    static char buf[1024];
    const char *env = getenv("PETAL_DATA_DIR");
    const char *dirs[] = {env && *env ? env : NULL, "../shared/data", "data"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (dirs[i] == NULL)
            continue;
        snprintf(buf, sizeof buf, "%s/flowers5", dirs[i]);
        if (petal_is_dir(buf))
            return buf;
    }
    return NULL;
}

/* All photo paths, class folders and files in sorted order. */
static char **list_photos(const char *root, size_t *count)
{
    char **classes, **out = NULL;
    size_t n_classes, n = 0, cap = 0;
    petal_error err;
    *count = 0;
    if (petal_list_dir(root, &classes, &n_classes, &err) != PETAL_OK)
        return NULL;
    for (size_t c = 0; c < n_classes; c++) {
        char *dir = petal_path_join(root, classes[c]);
        char **files;
        size_t n_files;
        if (petal_is_dir(dir) && petal_list_dir(dir, &files, &n_files, &err) == PETAL_OK) {
            for (size_t f = 0; f < n_files; f++) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 1024;
                    out = realloc(out, cap * sizeof *out);
                }
                out[n++] = petal_path_join(dir, files[f]);
            }
            petal_free_list(files, n_files);
        }
        free(dir);
    }
    petal_free_list(classes, n_classes);
    *count = n;
    return out;
}

static void run(const photo *photos, size_t n, const petal_decode_options *opts, int target,
                timing *t)
{
    memset(t, 0, sizeof *t);
    double cpu0 = cpu_now_ms();
    for (size_t i = 0; i < n; i++) {
        petal_image img, small;
        petal_error err;
        double t0 = petal_now_ms();
        if (petal_image_decode(photos[i].data, photos[i].len, photos[i].path, opts, &img, &err) !=
            PETAL_OK) {
            t->failed++;
            continue;
        }
        double t1 = petal_now_ms();
        if (petal_image_resize(&img, target, target, &small, &err) == PETAL_OK) {
            petal_image_free(&small);
            t->ok++;
        } else {
            t->failed++;
        }
        double t2 = petal_now_ms();
        t->decode_ms += t1 - t0;
        t->resize_ms += t2 - t1;
        petal_image_free(&img);
    }
    t->cpu_ms = cpu_now_ms() - cpu0;
}

static void report(const char *what, const timing *t)
{
    double total = t->decode_ms + t->resize_ms;
    int n = t->ok > 0 ? t->ok : 1;
    printf("  %-28s %7.3f ms/image (cpu %6.3f)  %7.1f images/s   decode %6.3f ms (%4.1f%%)  "
           "resize %6.3f ms (%4.1f%%)%s\n",
           what, total / n, t->cpu_ms / n, total > 0 ? 1000.0 * n / total : 0.0, t->decode_ms / n,
           total > 0 ? 100.0 * t->decode_ms / total : 0.0, t->resize_ms / n,
           total > 0 ? 100.0 * t->resize_ms / total : 0.0, t->failed ? "  (some failed)" : "");
}

int main(int argc, char **argv)
{
    size_t limit = 300;
    if (argc > 1)
        limit = strcmp(argv[1], "all") == 0 ? 0 : (size_t)strtoul(argv[1], NULL, 10);
    const char *root = find_data_dir();
    if (root == NULL) {
        printf("bench_image: skipped: photo set flowers5 not found (looked in $PETAL_DATA_DIR, "
               "../shared/data, ./data)\n");
        return 0;
    }
    size_t total;
    char **paths = list_photos(root, &total);
    if (total == 0) {
        printf("bench_image: skipped: no photos in %s\n", root);
        return 0;
    }
    size_t n = limit == 0 || limit > total ? total : limit;
    photo *photos = calloc(n, sizeof *photos);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        /* Spread a partial sample evenly over the sorted list, so every class is in it. */
        size_t k = (size_t)((double)i * total / n);
        petal_error err;
        photos[i].path = paths[k];
        if (petal_read_file(paths[k], 0, &photos[i].data, &photos[i].len, &err) != PETAL_OK) {
            fprintf(stderr, "bench_image: %s\n", err.msg);
            return 1;
        }
        bytes += photos[i].len;
    }

    printf("bench_image: decode + bilinear resize to the model input, 1 thread, files read "
           "beforehand; wall-clock ms (cpu = this thread's CPU time)\n");
    printf("%zu photos from %s (%.1f KB average)\n", n, root, bytes / 1024.0 / n);
    timing t;
    petal_decode_options scaled = {0, TARGET, TARGET};
    petal_decode_options scaled_small = {0, SMALL_TARGET, SMALL_TARGET};
    run(photos, n < 20 ? n : 20, NULL, TARGET, &t); /* warm-up */
    run(photos, n, NULL, TARGET, &t);
    report("flowers5 -> 224, full decode", &t);
    run(photos, n, &scaled, TARGET, &t);
    report("flowers5 -> 224, DCT scaling", &t);
    printf("  (224x224: mobilenet_v2_1.0_224_quant, tf2_mobilenet_v2_1.0_224_ptq, "
           "mobilenet_v1_1.0_224_quant_embedding_extractor; flowers5 photos are at most 256 px, "
           "under twice 224: DCT scaling never applies)\n");
    run(photos, n, &scaled_small, SMALL_TARGET, &t);
    report("flowers5 -> 128, DCT scaling", &t);
    printf("  (128x128: mobilenet_v1_0.25_128_quant)\n");

    /* Large photos: up to 100 flowers enlarged to 1024x768 and re-encoded. */
    size_t n_big = n < 100 ? n : 100;
    photo *big = calloc(n_big, sizeof *big);
    for (size_t i = 0; i < n_big; i++) {
        petal_image img, up;
        petal_error err;
        big[i].path = photos[i].path;
        if (petal_image_decode(photos[i].data, photos[i].len, photos[i].path, NULL, &img, &err) !=
                PETAL_OK ||
            petal_image_resize(&img, 1024, 768, &up, &err) != PETAL_OK) {
            fprintf(stderr, "bench_image: %s\n", err.msg);
            return 1;
        }
        petal_image_encode_jpeg(&up, 90, &big[i].data, &big[i].len, "bench", NULL);
        petal_image_free(&img);
        petal_image_free(&up);
    }
    printf("%zu large JPEGs (1024x768, quality 90, made in memory from the photos above)\n", n_big);
    timing full, dct;
    run(big, n_big, NULL, TARGET, &full);
    report("1024x768 -> 224, full decode", &full);
    run(big, n_big, &scaled, TARGET, &dct);
    report("1024x768 -> 224, DCT (3/8)", &dct);
    double a = full.decode_ms + full.resize_ms, b = dct.decode_ms + dct.resize_ms;
    if (b > 0)
        printf("  DCT scaling speed-up on large photos: %.2fx\n", a / b);

    for (size_t i = 0; i < n_big; i++)
        free(big[i].data);
    free(big);
    for (size_t i = 0; i < n; i++)
        free(photos[i].data);
    free(photos);
    for (size_t i = 0; i < total; i++)
        free(paths[i]);
    free(paths);
    return 0;
}
