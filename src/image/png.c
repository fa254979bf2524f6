/* png.c - PNG decoding with libpng for petal_image_decode: 16-bit is reduced to 8, palette and
 * gray are expanded, alpha is dropped; libpng errors longjmp back and become one error line. */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "image/image_internal.h"

/* State reached from libpng callbacks; on the heap so it survives longjmp intact. */
typedef struct png_job {
    const uint8_t *data;
    size_t len;
    size_t pos;
    int truncated;
    char message[256];
    png_structp png;
    png_infop info;
    png_bytep *rows;
} png_job;

static void on_read(png_structp png, png_bytep dst, size_t n)
{
    png_job *job = png_get_io_ptr(png);
    if (n > job->len - job->pos) {
        job->truncated = 1;
        png_error(png, "truncated");
    }
    memcpy(dst, job->data + job->pos, n);
    job->pos += n;
}

static void on_error(png_structp png, png_const_charp msg)
{
    png_job *job = png_get_error_ptr(png);
    if (!job->truncated) {
        strncpy(job->message, msg ? msg : "unknown error", sizeof job->message - 1);
        job->message[sizeof job->message - 1] = '\0';
    }
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static petal_status decode_job(png_job *job, const petal_decode_ctx *ctx, petal_image *out,
                               petal_error *err)
{
    /* IHDR must come first: check the size before libpng allocates anything for it. */
    if (job->len >= 24 && memcmp(job->data + 12, "IHDR", 4) == 0) {
        petal_status st =
            petal_image_check_size(ctx, be32(job->data + 16), be32(job->data + 20), "PNG", err);
        if (st != PETAL_OK)
            return st;
    }
    job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, on_error, on_warning);
    if (job->png == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", ctx->name);
    job->info = png_create_info_struct(job->png);
    if (job->info == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", ctx->name);
    if (setjmp(png_jmpbuf(job->png))) {
        if (job->truncated)
            return petal_error_set(err, PETAL_ERR_FORMAT, "%s: truncated PNG data", ctx->name);
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: corrupt PNG data (%s)", ctx->name,
                               job->message);
    }

    png_set_read_fn(job->png, job, on_read);
    /* Ancillary chunks are not used: ignore their CRCs and skip unknown ones. Critical chunks
     * keep their CRC check (a bit-flipped IDAT is an error), except under the fuzzer, which
     * could otherwise never get past it. */
#ifdef PETAL_FUZZING
    png_set_crc_action(job->png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
#else
    png_set_crc_action(job->png, PNG_CRC_DEFAULT, PNG_CRC_QUIET_USE);
#endif
    png_set_keep_unknown_chunks(job->png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_read_info(job->png, job->info);
    png_uint_32 w = png_get_image_width(job->png, job->info);
    png_uint_32 h = png_get_image_height(job->png, job->info);
    petal_status st = petal_image_check_size(ctx, w, h, "PNG", err);
    if (st != PETAL_OK)
        return st;

    int color = png_get_color_type(job->png, job->info);
    if (png_get_bit_depth(job->png, job->info) == 16)
        png_set_strip_16(job->png);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(job->png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
        png_set_expand_gray_1_2_4_to_8(job->png);
        png_set_gray_to_rgb(job->png);
    }
    if (color & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(job->png);
    png_set_interlace_handling(job->png);
    png_read_update_info(job->png, job->info);
    if (png_get_rowbytes(job->png, job->info) != (size_t)w * 3)
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: unsupported PNG pixel layout",
                               ctx->name);

    st = petal_image_alloc(out, (int)w, (int)h, ctx->name, err);
    if (st != PETAL_OK)
        return st;
    job->rows = malloc(sizeof *job->rows * h);
    if (job->rows == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", ctx->name);
    for (png_uint_32 y = 0; y < h; y++)
        job->rows[y] = out->pixels + (size_t)y * w * 3;
    png_read_image(job->png, job->rows);
    return PETAL_OK;
}

petal_status petal_image_decode_png(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                    petal_image *out, petal_error *err)
{
    png_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", ctx->name);
    job->data = data;
    job->len = len;
    petal_status st = decode_job(job, ctx, out, err);
    if (job->png != NULL)
        png_destroy_read_struct(&job->png, job->info ? &job->info : NULL, NULL);
    free(job->rows);
    free(job);
    return st;
}
