/* fuzz_image.c - libFuzzer target for petal_image_decode: arbitrary bytes through sniffing and
 * every decoder (JPEG, PNG, BMP, WebP, GIF) with a 4-megapixel limit; a successful decode is
 * also resized, as the pipeline does next. Seeds: tests/fuzz/corpus/image (made by
 * tests/image/test_decode.c with PETAL_WRITE_FUZZ_CORPUS). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    petal_decode_options opts = {4LL * 1000 * 1000, 0, 0};
    /* One byte picks a DCT-scaling target so the scaled JPEG paths are reached too. */
    if (size > 0 && (data[size - 1] & 1)) {
        opts.target_width = 1 + data[size - 1] / 8;
        opts.target_height = opts.target_width;
    }
    petal_image img;
    petal_error err;
    if (petal_image_decode(data, size, "fuzz", &opts, &img, &err) != PETAL_OK) {
        if (img.pixels != NULL || strchr(err.msg, '\n') != NULL)
            __builtin_trap();
        return 0;
    }
    if (img.width <= 0 || img.height <= 0 || (long long)img.width * img.height > opts.max_pixels)
        __builtin_trap();
    petal_image small;
    if (petal_image_resize(&img, 7, 5, &small, &err) == PETAL_OK)
        petal_image_free(&small);
    petal_image_free(&img);
    return 0;
}
