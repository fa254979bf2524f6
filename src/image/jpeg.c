/* jpeg.c - JPEG decoding with libjpeg-turbo for petal_image_decode: corrupt data becomes an
 * error (setjmp/longjmp error manager), big photos use DCT scaling towards the model size, and
 * the EXIF orientation (read with libexif from the APP1 marker) is applied. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <libexif/exif-data.h>

#include "image/image_internal.h"

/* Real encoders write at most a few dozen scans; thousands of tiny scans are a way to make
 * a small file take very long to decode. */
#define MAX_JPEG_SCANS 500

typedef struct jpeg_error_ctx {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int truncated;
    int too_many_scans;
    char message[JMSG_LENGTH_MAX];
} jpeg_error_ctx;

/* Everything the decoder touches after setjmp lives on the heap, so its values survive a
 * longjmp without volatile. */
typedef struct jpeg_job {
    struct jpeg_decompress_struct cinfo;
    jpeg_error_ctx err;
    struct jpeg_progress_mgr progress;
    uint8_t *raw;  /* decoded pixels before orientation, RGB */
    uint8_t *cmyk; /* one CMYK scanline when the file is CMYK/YCCK */
} jpeg_job;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_error_ctx *e = (jpeg_error_ctx *)cinfo->err;
    e->pub.format_message(cinfo, e->message);
    longjmp(e->jump, 1);
}

/* Warnings: running out of data means a truncated file, which is an error (as in Pillow);
 * the other warnings (extraneous bytes, bad Huffman codes) leave a usable image. */
static void on_emit_message(j_common_ptr cinfo, int level)
{
    jpeg_error_ctx *e = (jpeg_error_ctx *)cinfo->err;
    if (level >= 0)
        return;
    if (e->pub.msg_code == JWRN_JPEG_EOF) {
        e->truncated = 1;
        longjmp(e->jump, 1);
    }
    e->pub.num_warnings++;
}

static void on_output_message(j_common_ptr cinfo)
{
    (void)cinfo;
}

static void on_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > MAX_JPEG_SCANS) {
        jpeg_error_ctx *e = (jpeg_error_ctx *)cinfo->err;
        e->too_many_scans = 1;
        longjmp(e->jump, 1);
    }
}

/* EXIF orientation 1..8 from the first APP1 "Exif" marker; 1 when absent or unreadable. */
static int read_orientation(j_decompress_ptr cinfo)
{
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m != NULL; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length < 14 ||
            memcmp(m->data, "Exif\0\0", 6) != 0)
            continue;
        ExifData *ed = exif_data_new();
        if (ed == NULL)
            return 1;
        exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
        exif_data_load_data(ed, m->data, m->data_length);
        int orientation = 1;
        ExifEntry *entry = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
        if (entry != NULL && entry->format == EXIF_FORMAT_SHORT && entry->components >= 1 &&
            entry->data != NULL && entry->size >= 2) {
            int v = exif_get_short(entry->data, exif_data_get_byte_order(ed));
            if (v >= 1 && v <= 8)
                orientation = v;
        }
        exif_data_unref(ed);
        return orientation;
    }
    return 1;
}

/* Smallest DCT scale n/8 whose output is still >= the target in both dimensions, used only
 * when the photo is at least twice the target; 8 (no scaling) otherwise. tw, th are already
 * swapped for orientations that rotate by 90 degrees. */
static int choose_scale(long long w, long long h, int tw, int th)
{
    if (tw <= 0 || th <= 0 || w < 2LL * tw || h < 2LL * th)
        return 8;
    for (int num = 1; num < 8; num++) {
        long long sw = (w * num + 7) / 8, sh = (h * num + 7) / 8;
        if (sw >= tw && sh >= th)
            return num;
    }
    return 8;
}

/* Writes src (w x h) into dst according to EXIF orientation o; dst is h x w for 5..8. */
static void apply_orientation(const uint8_t *src, int w, int h, int o, uint8_t *dst)
{
    int ow = o >= 5 ? h : w, oh = o >= 5 ? w : h;
    for (int oy = 0; oy < oh; oy++) {
        for (int ox = 0; ox < ow; ox++) {
            int ix, iy;
            switch (o) {
            case 2:
                ix = w - 1 - ox;
                iy = oy;
                break;
            case 3:
                ix = w - 1 - ox;
                iy = h - 1 - oy;
                break;
            case 4:
                ix = ox;
                iy = h - 1 - oy;
                break;
            case 5:
                ix = oy;
                iy = ox;
                break;
            case 6:
                ix = oy;
                iy = h - 1 - ox;
                break;
            case 7:
                ix = w - 1 - oy;
                iy = h - 1 - ox;
                break;
            case 8:
                ix = w - 1 - oy;
                iy = ox;
                break;
            default:
                ix = ox;
                iy = oy;
                break;
            }
            const uint8_t *s = src + ((size_t)iy * w + ix) * 3;
            uint8_t *d = dst + ((size_t)oy * ow + ox) * 3;
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        }
    }
}

/* CMYK to RGB; Adobe files store the channels inverted (0 = full ink). */
static void cmyk_row_to_rgb(const uint8_t *cmyk, int w, int inverted, uint8_t *rgb)
{
    for (int x = 0; x < w; x++) {
        int c = cmyk[4 * x], m = cmyk[4 * x + 1], y = cmyk[4 * x + 2], k = cmyk[4 * x + 3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        rgb[3 * x] = (uint8_t)((c * k + 127) / 255);
        rgb[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
        rgb[3 * x + 2] = (uint8_t)((y * k + 127) / 255);
    }
}

static petal_status failure(jpeg_job *job, const petal_decode_ctx *ctx, petal_error *err)
{
    long long w = job->cinfo.image_width, h = job->cinfo.image_height;
    if (w > 0 && h > 0 && petal_image_check_size(ctx, w, h, "JPEG", err) == PETAL_ERR_LIMIT)
        return PETAL_ERR_LIMIT;
    if (job->err.truncated)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: truncated JPEG data", ctx->name);
    if (job->err.too_many_scans)
        return petal_error_set(err, PETAL_ERR_FORMAT,
                               "%s: corrupt JPEG data (more than %d progressive scans)", ctx->name,
                               MAX_JPEG_SCANS);
    return petal_error_set(err, PETAL_ERR_FORMAT, "%s: corrupt JPEG data (%s)", ctx->name,
                           job->err.message);
}

/* The decoding steps; any libjpeg error longjmps back here and becomes one error line. */
static petal_status decode_job(jpeg_job *job, const uint8_t *data, size_t len,
                               const petal_decode_ctx *ctx, petal_image *out, petal_error *err)
{
    struct jpeg_decompress_struct *cinfo = &job->cinfo;
    cinfo->err = jpeg_std_error(&job->err.pub);
    job->err.pub.error_exit = on_error_exit;
    job->err.pub.emit_message = on_emit_message;
    job->err.pub.output_message = on_output_message;
    if (setjmp(job->err.jump))
        return failure(job, ctx, err);

    jpeg_create_decompress(cinfo);
    job->progress.progress_monitor = on_progress;
    cinfo->progress = &job->progress;
    jpeg_mem_src(cinfo, data, (unsigned long)len);
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(cinfo, TRUE);
    petal_status st =
        petal_image_check_size(ctx, cinfo->image_width, cinfo->image_height, "JPEG", err);
    if (st != PETAL_OK)
        return st;

    int orientation = read_orientation(cinfo);
    int rotated = orientation >= 5;
    int cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    cinfo->scale_num = (unsigned)choose_scale(cinfo->image_width, cinfo->image_height,
                                              rotated ? ctx->target_height : ctx->target_width,
                                              rotated ? ctx->target_width : ctx->target_height);
    cinfo->scale_denom = 8;
    jpeg_start_decompress(cinfo);
    int w = (int)cinfo->output_width, h = (int)cinfo->output_height;
    if (cinfo->output_components != (cmyk ? 4 : 3))
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: unsupported JPEG colour layout",
                               ctx->name);
    job->raw = malloc((size_t)w * h * 3);
    if (cmyk)
        job->cmyk = malloc((size_t)w * 4);
    if (job->raw == NULL || (cmyk && job->cmyk == NULL))
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory for %dx%d pixels",
                               ctx->name, w, h);

    while (cinfo->output_scanline < cinfo->output_height) {
        uint8_t *row = job->raw + (size_t)cinfo->output_scanline * w * 3;
        JSAMPROW target = cmyk ? job->cmyk : row;
        if (jpeg_read_scanlines(cinfo, &target, 1) != 1)
            return petal_error_set(err, PETAL_ERR_FORMAT, "%s: truncated JPEG data", ctx->name);
        if (cmyk)
            cmyk_row_to_rgb(job->cmyk, w, cinfo->saw_Adobe_marker, row);
    }

    if (orientation == 1) {
        out->pixels = job->raw;
        out->width = w;
        out->height = h;
        job->raw = NULL;
        return PETAL_OK;
    }
    st = petal_image_alloc(out, rotated ? h : w, rotated ? w : h, ctx->name, err);
    if (st != PETAL_OK)
        return st;
    apply_orientation(job->raw, w, h, orientation, out->pixels);
    return PETAL_OK;
}

petal_status petal_image_decode_jpeg(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                     petal_image *out, petal_error *err)
{
    jpeg_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", ctx->name);
    petal_status st = decode_job(job, data, len, ctx, out, err);
    jpeg_destroy_decompress(&job->cinfo);
    free(job->raw);
    free(job->cmyk);
    free(job);
    return st;
}
