/* image_internal.h - what the per-format decoders (jpeg.c, png.c, bmp.c, webp.c, gif.c) share
 * with the dispatcher in decode.c. Not a public header: only src/image includes it. */
#ifndef PETAL_IMAGE_IMAGE_INTERNAL_H
#define PETAL_IMAGE_IMAGE_INTERNAL_H

#include "image/image.h"

/* Options after defaults are filled in: max_pixels > 0, targets >= 0. */
typedef struct petal_decode_ctx {
    const char *name;
    long long max_pixels;
    int target_width;
    int target_height;
} petal_decode_ctx;

/* Fails with PETAL_ERR_LIMIT (message naming the file, the size and the limit) when
 * width*height exceeds the limit, and with PETAL_ERR_FORMAT when a dimension is not positive.
 * Called by every decoder as soon as the header gives the size, before pixels are allocated. */
petal_status petal_image_check_size(const petal_decode_ctx *ctx, long long width, long long height,
                                    const char *format, petal_error *err);

/* Allocates img->pixels for width x height RGB (zero-filled), or fails with PETAL_ERR_NOMEM. */
petal_status petal_image_alloc(petal_image *img, int width, int height, const char *name,
                               petal_error *err);

/* Each decoder: data[0..len) is known to start with its format's signature; on failure out
 * is left zeroed and err names ctx->name and the problem. */
petal_status petal_image_decode_jpeg(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                     petal_image *out, petal_error *err);
petal_status petal_image_decode_png(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                    petal_image *out, petal_error *err);
petal_status petal_image_decode_bmp(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                    petal_image *out, petal_error *err);
petal_status petal_image_decode_webp(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                     petal_image *out, petal_error *err);
petal_status petal_image_decode_gif(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                    petal_image *out, petal_error *err);

#endif
