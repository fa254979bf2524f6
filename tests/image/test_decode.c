/* test_decode.c - unit tests for petal_image_decode: every format built here from synthetic
 * pixels (libjpeg, libpng, libwebp, giflib, hand-written BMP) and decoded by content, EXIF
 * orientation, DCT scaling, decompression bombs, truncated, empty, text and bit-flipped files. */
#include "common/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>

#include "image/image.h"
#include "util/fs.h"
#include "util/timer.h"

/* ---------------------------------------------------------------- byte buffers */

typedef struct buf {
    uint8_t *data;
    size_t len, cap;
} buf;

static void buf_put(buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_u8(buf *b, unsigned v)
{
    uint8_t c = (uint8_t)v;
    buf_put(b, &c, 1);
}

static void buf_le16(buf *b, unsigned v)
{
    buf_u8(b, v & 0xff);
    buf_u8(b, (v >> 8) & 0xff);
}

static void buf_le24(buf *b, unsigned v)
{
    buf_le16(b, v & 0xffff);
    buf_u8(b, (v >> 16) & 0xff);
}

static void buf_le32(buf *b, uint32_t v)
{
    buf_le16(b, v & 0xffff);
    buf_le16(b, v >> 16);
}

static void buf_be32(buf *b, uint32_t v)
{
    buf_u8(b, v >> 24);
    buf_u8(b, (v >> 16) & 0xff);
    buf_u8(b, (v >> 8) & 0xff);
    buf_u8(b, v & 0xff);
}

/* ---------------------------------------------------------------- synthetic pixels */

/* A deterministic RGB pattern with distinct values per pixel and channel. */
static uint8_t *pattern(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(x * 7 + y * 3);
            q[1] = (uint8_t)(x * 2 + y * 11 + 40);
            q[2] = (uint8_t)(255 - x * 5 - y);
        }
    return p;
}

/* A smooth gradient that survives JPEG compression within a few levels. */
static uint8_t *gradient(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(40 + 150 * x / (w > 1 ? w - 1 : 1));
            q[1] = (uint8_t)(60 + 120 * y / (h > 1 ? h - 1 : 1));
            q[2] = 128;
        }
    return p;
}

static const uint8_t RED[3] = {255, 0, 0}, GREEN[3] = {0, 255, 0}, BLUE[3] = {0, 0, 255},
                     WHITE[3] = {255, 255, 255};

/* Four flat quadrants: top-left red, top-right green, bottom-left blue, bottom-right white. */
static uint8_t *quadrants(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *c = y < h / 2 ? (x < w / 2 ? RED : GREEN) : (x < w / 2 ? BLUE : WHITE);
            memcpy(p + ((size_t)y * w + x) * 3, c, 3);
        }
    return p;
}

/* ---------------------------------------------------------------- encoders */

/* JPEG at the given quality, optionally with an EXIF APP1 orientation tag (0 = none). */
static int jpeg_progressive; /* set by a test to write progressive JPEGs */
static int exif_big_endian;  /* set by a test to write the EXIF block in Motorola order */

static buf encode_jpeg(const uint8_t *rgb, int w, int h, int quality, int orientation, int gray)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    if (gray)
        jpeg_set_colorspace(&c, JCS_GRAYSCALE);
    jpeg_set_quality(&c, quality, TRUE);
    for (int i = 0; i < c.num_components; i++)
        c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    if (jpeg_progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    if (orientation) {
        /* "Exif\0\0", little-endian TIFF header, IFD0 with one SHORT entry 0x0112. */
        buf e = {0};
        if (exif_big_endian) {
            buf_put(&e, "Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01", 24);
            buf_u8(&e, 0);
            buf_u8(&e, (unsigned)orientation);
            buf_put(&e, "\0\0\0\0\0\0", 6);
        } else {
            buf_put(&e, "Exif\0\0II*\0", 10);
            buf_le32(&e, 8);
            buf_le16(&e, 1);
            buf_le16(&e, 0x0112);
            buf_le16(&e, 3);
            buf_le32(&e, 1);
            buf_le16(&e, (unsigned)orientation);
            buf_le16(&e, 0);
            buf_le32(&e, 0);
        }
        jpeg_write_marker(&c, JPEG_APP0 + 1, e.data, (unsigned)e.len);
        free(e.data);
    }
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * w * 3);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    buf b = {0};
    buf_put(&b, mem, size);
    free(mem);
    return b;
}

static void png_write_cb(png_structp png, png_bytep data, size_t n)
{
    buf_put(png_get_io_ptr(png), data, n);
}

static void png_flush_cb(png_structp png)
{
    (void)png;
}

/* PNG from 8-bit samples with `channels` per pixel of the given colour type and depth; for
 * 16-bit depth each sample is written as v * 257 (big-endian), for palettes `plte` has 3*n. */
static buf encode_png(const uint8_t *samples, int w, int h, int color_type, int depth,
                      int interlace, const uint8_t *plte, int n_plte)
{
    buf b = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng write failed");
    png_set_write_fn(png, &b, png_write_cb, png_flush_cb);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (plte != NULL) {
        png_color colors[256];
        for (int i = 0; i < n_plte; i++) {
            colors[i].red = plte[3 * i];
            colors[i].green = plte[3 * i + 1];
            colors[i].blue = plte[3 * i + 2];
        }
        png_set_PLTE(png, info, colors, n_plte);
    }
    png_write_info(png, info);
    int channels = color_type == PNG_COLOR_TYPE_RGB          ? 3
                   : color_type == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                   : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                             : 1;
    size_t row_bytes = (size_t)w * channels * (depth == 16 ? 2 : 1);
    uint8_t *rows = malloc(row_bytes * h);
    png_bytep *ptrs = malloc(sizeof *ptrs * h);
    for (int y = 0; y < h; y++) {
        ptrs[y] = rows + row_bytes * y;
        for (int i = 0; i < w * channels; i++) {
            uint8_t v = samples[(size_t)y * w * channels + i];
            if (depth == 16) {
                ptrs[y][2 * i] = v;
                ptrs[y][2 * i + 1] = v;
            } else {
                ptrs[y][i] = v;
            }
        }
    }
    png_write_image(png, ptrs);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    free(ptrs);
    return b;
}

static buf encode_webp(const uint8_t *rgb, int w, int h)
{
    uint8_t *out = NULL;
    size_t n = WebPEncodeLosslessRGB(rgb, w, h, w * 3, &out);
    assert_true(n > 0);
    buf b = {0};
    buf_put(&b, out, n);
    WebPFree(out);
    return b;
}

/* An animated WebP (VP8X + ANIM + ANMF chunks) whose first frame is `rgb` placed at (2, 2)
 * on a canvas of cw x ch, followed by a second, different frame. */
static buf encode_animated_webp(const uint8_t *rgb, int w, int h, int cw, int ch)
{
    buf frame = encode_webp(rgb, w, h);
    uint8_t *other = malloc((size_t)w * h * 3);
    memset(other, 200, (size_t)w * h * 3);
    buf frame2 = encode_webp(other, w, h);
    free(other);
    buf body = {0};
    buf_put(&body, "WEBP", 4);
    buf_put(&body, "VP8X", 4);
    buf_le32(&body, 10);
    buf_u8(&body, 0x02); /* animation */
    buf_le24(&body, 0);
    buf_le24(&body, (unsigned)cw - 1);
    buf_le24(&body, (unsigned)ch - 1);
    buf_put(&body, "ANIM", 4);
    buf_le32(&body, 6);
    buf_le32(&body, 0xff000000u); /* opaque black background */
    buf_le16(&body, 0);
    buf *frames[2] = {&frame, &frame2};
    for (int f = 0; f < 2; f++) {
        /* The lossless encoder's output is RIFF/WEBP + one VP8L chunk: reuse that chunk. */
        const uint8_t *chunk = frames[f]->data + 12;
        size_t chunk_len = frames[f]->len - 12;
        buf_put(&body, "ANMF", 4);
        buf_le32(&body, (uint32_t)(16 + chunk_len));
        buf_le24(&body, 1); /* x / 2 */
        buf_le24(&body, 1); /* y / 2 */
        buf_le24(&body, (unsigned)w - 1);
        buf_le24(&body, (unsigned)h - 1);
        buf_le24(&body, 100);
        buf_u8(&body, 0x02); /* no blending */
        buf_put(&body, chunk, chunk_len);
        if (chunk_len & 1)
            buf_u8(&body, 0);
    }
    buf b = {0};
    buf_put(&b, "RIFF", 4);
    buf_le32(&b, (uint32_t)body.len);
    buf_put(&b, body.data, body.len);
    free(body.data);
    free(frame.data);
    free(frame2.data);
    return b;
}

static int gif_write_cb(GifFileType *gif, const GifByteType *data, int n)
{
    buf_put(gif->UserData, data, (size_t)n);
    return n;
}

/* A GIF: logical screen sw x sh with background index bg; one frame of w x h indices at
 * (left, top), optionally interlaced and with a transparent index (-1 = none). */
static buf encode_gif(const uint8_t *indices, int w, int h, int sw, int sh, int left, int top,
                      const uint8_t *plte, int n_plte, int bg, int interlace, int transparent)
{
    buf b = {0};
    int error = 0;
    GifFileType *gif = EGifOpen(&b, gif_write_cb, &error);
    assert_non_null(gif);
    ColorMapObject *map = GifMakeMapObject(n_plte, NULL);
    for (int i = 0; i < n_plte; i++) {
        map->Colors[i].Red = plte[3 * i];
        map->Colors[i].Green = plte[3 * i + 1];
        map->Colors[i].Blue = plte[3 * i + 2];
    }
    EGifSetGifVersion(gif, true);
    assert_int_equal(EGifPutScreenDesc(gif, sw, sh, 8, bg, map), GIF_OK);
    if (transparent >= 0) {
        GifByteType gce[4] = {1, 0, 0, (GifByteType)transparent};
        assert_int_equal(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, gce), GIF_OK);
    }
    assert_int_equal(EGifPutImageDesc(gif, left, top, w, h, interlace, NULL), GIF_OK);
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    for (int pass = 0; pass < (interlace ? 4 : 1); pass++)
        for (int y = interlace ? start[pass] : 0; y < h; y += interlace ? step[pass] : 1)
            assert_int_equal(EGifPutLine(gif, (GifPixelType *)indices + (size_t)y * w, w), GIF_OK);
    assert_int_equal(EGifCloseFile(gif, &error), GIF_OK);
    GifFreeMapObject(map);
    return b;
}

/* A BMP with a 40-byte (or larger, dib_size) header. Pixel rows are given top-down as raw
 * row bytes (already packed for bpp, unpadded, row_len each); masks used for BI_BITFIELDS. */
static buf encode_bmp(int w, int h, int bpp, int top_down, uint32_t compression, int dib_size,
                      const uint8_t *plte, int n_plte, const uint32_t *masks, const uint8_t *rows,
                      size_t row_len)
{
    size_t stride = ((size_t)w * bpp + 31) / 32 * 4;
    int extra_masks = compression == 3 && dib_size == 40 ? 12 : 0;
    size_t header = 14 + (size_t)dib_size + (size_t)extra_masks + 4 * (size_t)n_plte;
    size_t pixels = compression == 1 ? row_len : stride * h;
    buf b = {0};
    buf_put(&b, "BM", 2);
    buf_le32(&b, (uint32_t)(header + pixels));
    buf_le32(&b, 0);
    buf_le32(&b, (uint32_t)header);
    buf_le32(&b, (uint32_t)dib_size);
    buf_le32(&b, (uint32_t)w);
    buf_le32(&b, (uint32_t)(top_down ? -h : h));
    buf_le16(&b, 1);
    buf_le16(&b, (unsigned)bpp);
    buf_le32(&b, compression);
    buf_le32(&b, (uint32_t)pixels);
    buf_le32(&b, 2835);
    buf_le32(&b, 2835);
    buf_le32(&b, (uint32_t)n_plte);
    buf_le32(&b, 0);
    for (int i = 40; i < dib_size; i += 4)
        buf_le32(&b, i < 52 && masks ? masks[(i - 40) / 4] : 0);
    if (extra_masks)
        for (int i = 0; i < 3; i++)
            buf_le32(&b, masks[i]);
    for (int i = 0; i < n_plte; i++) {
        buf_u8(&b, plte[3 * i + 2]);
        buf_u8(&b, plte[3 * i + 1]);
        buf_u8(&b, plte[3 * i]);
        buf_u8(&b, 0);
    }
    if (compression == 1) {
        buf_put(&b, rows, row_len);
        return b;
    }
    uint8_t pad[4] = {0};
    for (int r = 0; r < h; r++) {
        int src = top_down ? r : h - 1 - r;
        buf_put(&b, rows + (size_t)src * row_len, row_len);
        buf_put(&b, pad, stride - row_len);
    }
    return b;
}

/* 24-bit BMP rows: BGR order. */
static buf encode_bmp24(const uint8_t *rgb, int w, int h, int top_down)
{
    uint8_t *rows = malloc((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        rows[3 * i] = rgb[3 * i + 2];
        rows[3 * i + 1] = rgb[3 * i + 1];
        rows[3 * i + 2] = rgb[3 * i];
    }
    buf b = encode_bmp(w, h, 24, top_down, 0, 40, NULL, 0, NULL, rows, (size_t)w * 3);
    free(rows);
    return b;
}

/* ---------------------------------------------------------------- checks */

static void decode_ok(const buf *b, const char *name, const petal_decode_options *opts,
                      petal_image *img)
{
    petal_error err = {0};
    petal_status st = petal_image_decode(b->data, b->len, name, opts, img, &err);
    if (st != PETAL_OK)
        fail_msg("%s: decode failed: %s", name, err.msg);
}

static void assert_pixels(const petal_image *img, const uint8_t *expect, int w, int h, int tol)
{
    assert_int_equal(img->width, w);
    assert_int_equal(img->height, h);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        int d = abs((int)img->pixels[i] - (int)expect[i]);
        if (d > tol)
            fail_msg("pixel %zu channel %zu: got %d, expected %d (tolerance %d)", i / 3, i % 3,
                     img->pixels[i], expect[i], tol);
    }
}

static void assert_color(const petal_image *img, int x, int y, const uint8_t *c, int tol)
{
    const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * 3;
    for (int k = 0; k < 3; k++)
        if (abs((int)p[k] - (int)c[k]) > tol)
            fail_msg("pixel (%d,%d): got %d,%d,%d expected %d,%d,%d", x, y, p[0], p[1], p[2], c[0],
                     c[1], c[2]);
}

/* Decoding must fail with `code` and a one-line message naming the file and containing
 * `needle`. */
static void decode_fails(const buf *b, const char *name, const petal_decode_options *opts,
                         petal_status code, const char *needle)
{
    petal_image img;
    petal_error err = {0};
    petal_status st = petal_image_decode(b->data, b->len, name, opts, &img, &err);
    if (st != code)
        fail_msg("%s: expected status %s, got %s (%s)", name, petal_status_name(code),
                 petal_status_name(st), err.msg);
    assert_null(img.pixels);
    assert_int_equal(img.width, 0);
    assert_non_null(strstr(err.msg, name));
    assert_null(strchr(err.msg, '\n'));
    if (needle && strstr(err.msg, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
}

/* ---------------------------------------------------------------- tests: formats */

static void test_sniff_and_names(void **state)
{
    (void)state;
    assert_int_equal(petal_image_sniff((const uint8_t *)"\xff\xd8\xff\xe0", 4), PETAL_FORMAT_JPEG);
    assert_int_equal(petal_image_sniff((const uint8_t *)"\x89PNG\r\n\x1a\n", 8), PETAL_FORMAT_PNG);
    assert_int_equal(petal_image_sniff((const uint8_t *)"GIF89a", 6), PETAL_FORMAT_GIF);
    assert_int_equal(petal_image_sniff((const uint8_t *)"RIFF\0\0\0\0WEBP", 12), PETAL_FORMAT_WEBP);
    assert_int_equal(petal_image_sniff((const uint8_t *)"RIFF\0\0\0\0WAVE", 12),
                     PETAL_FORMAT_UNKNOWN);
    assert_int_equal(petal_image_sniff((const uint8_t *)"BM", 2), PETAL_FORMAT_BMP);
    assert_int_equal(petal_image_sniff((const uint8_t *)"BMW cars are fast, says...", 26),
                     PETAL_FORMAT_UNKNOWN);
    assert_int_equal(petal_image_sniff((const uint8_t *)"\xff\xd8", 2), PETAL_FORMAT_UNKNOWN);
    assert_int_equal(petal_image_sniff(NULL, 0), PETAL_FORMAT_UNKNOWN);
    assert_string_equal(petal_image_format_name(PETAL_FORMAT_WEBP), "webp");
    assert_string_equal(petal_image_format_extension(PETAL_FORMAT_JPEG), "jpg");
    assert_string_equal(petal_image_format_extension(PETAL_FORMAT_GIF), "gif");
}

/* Each format is written to a file whose extension lies, loaded, and checked pixel by pixel. */
static void test_formats_by_content(void **state)
{
    (void)state;
    const int w = 23, h = 17;
    uint8_t *pix = pattern(w, h);
    uint8_t *grad = gradient(w, h);
    struct {
        const char *file;
        buf data;
        const uint8_t *expect;
        int tol;
    } cases[] = {
        {"photo_really_png.jpg", encode_png(pix, w, h, PNG_COLOR_TYPE_RGB, 8, 0, NULL, 0), pix, 0},
        {"photo_really_bmp.jpg", encode_bmp24(pix, w, h, 0), pix, 0},
        {"photo_really_webp.png", encode_webp(pix, w, h), pix, 0},
        {"photo_really_jpeg.gif", encode_jpeg(grad, w, h, 98, 0, 0), grad, 6},
        {"photo_without_extension", encode_bmp24(pix, w, h, 1), pix, 0},
    };
    char *dir = petal_test_tmpdir("image-formats");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = petal_path_join(dir, cases[i].file);
        petal_test_write(path, cases[i].data.data, cases[i].data.len);
        petal_image img;
        petal_error err = {0};
        if (petal_image_load(path, NULL, &img, &err) != PETAL_OK)
            fail_msg("%s: %s", path, err.msg);
        assert_pixels(&img, cases[i].expect, w, h, cases[i].tol);
        petal_image_free(&img);
        petal_image_free(&img); /* safe on a zeroed struct */
        free(path);
        free(cases[i].data.data);
    }

    /* A GIF named .png: 16-colour palette indices. */
    uint8_t plte[16 * 3], idx[23 * 17], expect[23 * 17 * 3];
    for (int i = 0; i < 16; i++) {
        plte[3 * i] = (uint8_t)(i * 16);
        plte[3 * i + 1] = (uint8_t)(255 - i * 15);
        plte[3 * i + 2] = (uint8_t)(i * 7);
    }
    for (int i = 0; i < w * h; i++) {
        idx[i] = (uint8_t)((i * 7) % 16);
        memcpy(expect + 3 * i, plte + 3 * idx[i], 3);
    }
    buf g = encode_gif(idx, w, h, w, h, 0, 0, plte, 16, 0, 0, -1);
    char *path = petal_path_join(dir, "anim.png");
    petal_test_write(path, g.data, g.len);
    petal_image img;
    petal_error err = {0};
    assert_int_equal(petal_image_load(path, NULL, &img, &err), PETAL_OK);
    assert_pixels(&img, expect, w, h, 0);
    petal_image_free(&img);
    free(path);
    free(g.data);

    path = petal_path_join(dir, "missing.jpg");
    assert_int_equal(petal_image_load(path, NULL, &img, &err), PETAL_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "missing.jpg"));
    free(path);
    petal_test_rmtree(dir);
    free(dir);
    free(pix);
    free(grad);
}

static void test_png_variants(void **state)
{
    (void)state;
    const int w = 13, h = 11;
    uint8_t *rgb = pattern(w, h);
    uint8_t *rgba = malloc((size_t)w * h * 4), *gray = malloc((size_t)w * h);
    uint8_t *gray_rgb = malloc((size_t)w * h * 3), *pal_rgb = malloc((size_t)w * h * 3);
    uint8_t plte[4 * 3] = {10, 20, 30, 200, 100, 0, 0, 255, 128, 77, 77, 77};
    uint8_t *idx = malloc((size_t)w * h);
    for (int i = 0; i < w * h; i++) {
        memcpy(rgba + 4 * i, rgb + 3 * i, 3);
        rgba[4 * i + 3] = (uint8_t)(i * 3); /* alpha varies; must simply be dropped */
        gray[i] = (uint8_t)(i * 5);
        memset(gray_rgb + 3 * i, gray[i], 3);
        idx[i] = (uint8_t)(i % 4);
        memcpy(pal_rgb + 3 * i, plte + 3 * idx[i], 3);
    }
    struct {
        const char *name;
        buf data;
        const uint8_t *expect;
    } cases[] = {
        {"rgba.png", encode_png(rgba, w, h, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, NULL, 0), rgb},
        {"rgb16.png", encode_png(rgb, w, h, PNG_COLOR_TYPE_RGB, 16, 0, NULL, 0), rgb},
        {"gray.png", encode_png(gray, w, h, PNG_COLOR_TYPE_GRAY, 8, 0, NULL, 0), gray_rgb},
        {"gray16.png", encode_png(gray, w, h, PNG_COLOR_TYPE_GRAY, 16, 0, NULL, 0), gray_rgb},
        {"palette.png", encode_png(idx, w, h, PNG_COLOR_TYPE_PALETTE, 8, 0, plte, 4), pal_rgb},
        {"interlaced.png", encode_png(rgb, w, h, PNG_COLOR_TYPE_RGB, 8, 1, NULL, 0), rgb},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        petal_image img;
        decode_ok(&cases[i].data, cases[i].name, NULL, &img);
        assert_pixels(&img, cases[i].expect, w, h, 0);
        petal_image_free(&img);
        free(cases[i].data.data);
    }
    free(rgb);
    free(rgba);
    free(gray);
    free(gray_rgb);
    free(pal_rgb);
    free(idx);
}

static void test_bmp_variants(void **state)
{
    (void)state;
    const int w = 11, h = 5;
    uint8_t plte[16 * 3];
    for (int i = 0; i < 16; i++) {
        plte[3 * i] = (uint8_t)(i * 17);
        plte[3 * i + 1] = (uint8_t)(255 - i * 17);
        plte[3 * i + 2] = (uint8_t)(i * 5 + 3);
    }
    uint8_t idx[11 * 5], expect16[11 * 5 * 3], expect2[11 * 5 * 3];
    uint8_t rows8[11 * 5], rows4[6 * 5], rows1[2 * 5];
    memset(rows4, 0, sizeof rows4);
    memset(rows1, 0, sizeof rows1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int i = y * w + x;
            idx[i] = (uint8_t)((x + 3 * y) % 16);
            memcpy(expect16 + 3 * i, plte + 3 * idx[i], 3);
            rows8[i] = idx[i];
            rows4[y * 6 + x / 2] |= (uint8_t)(idx[i] << ((x & 1) ? 0 : 4));
            int bit = (x + y) & 1;
            rows1[y * 2 + x / 8] |= (uint8_t)(bit << (7 - (x & 7)));
            memcpy(expect2 + 3 * i, plte + 3 * bit, 3);
        }
    petal_image img;
    buf b = encode_bmp(w, h, 8, 0, 0, 40, plte, 16, NULL, rows8, (size_t)w);
    decode_ok(&b, "p8.bmp", NULL, &img);
    assert_pixels(&img, expect16, w, h, 0);
    petal_image_free(&img);
    free(b.data);
    b = encode_bmp(w, h, 4, 1, 0, 124, plte, 16, NULL, rows4, 6);
    decode_ok(&b, "p4_topdown_v5.bmp", NULL, &img);
    assert_pixels(&img, expect16, w, h, 0);
    petal_image_free(&img);
    free(b.data);
    b = encode_bmp(w, h, 1, 0, 0, 40, plte, 2, NULL, rows1, 2);
    decode_ok(&b, "p1.bmp", NULL, &img);
    assert_pixels(&img, expect2, w, h, 0);
    petal_image_free(&img);
    free(b.data);

    /* 16-bit 5-6-5 bit fields and 32-bit BGRX, both from the same colours. */
    uint8_t rows16[11 * 5 * 2], rows32[11 * 5 * 4], expect565[11 * 5 * 3], expect32[11 * 5 * 3];
    for (int i = 0; i < w * h; i++) {
        unsigned r = (unsigned)(i * 3) % 32, g = (unsigned)(i * 5) % 64,
                 bl = (unsigned)(i * 7) % 32;
        unsigned v = r << 11 | g << 5 | bl;
        rows16[2 * i] = v & 0xff;
        rows16[2 * i + 1] = (uint8_t)(v >> 8);
        expect565[3 * i] = (uint8_t)((r * 255 + 15) / 31);
        expect565[3 * i + 1] = (uint8_t)((g * 255 + 31) / 63);
        expect565[3 * i + 2] = (uint8_t)((bl * 255 + 15) / 31);
        rows32[4 * i] = (uint8_t)(i * 9);
        rows32[4 * i + 1] = (uint8_t)(i * 4);
        rows32[4 * i + 2] = (uint8_t)(i * 2);
        rows32[4 * i + 3] = 0x55;
        expect32[3 * i] = (uint8_t)(i * 2);
        expect32[3 * i + 1] = (uint8_t)(i * 4);
        expect32[3 * i + 2] = (uint8_t)(i * 9);
    }
    uint32_t m565[3] = {0xf800, 0x07e0, 0x001f}, m32[3] = {0xff0000, 0xff00, 0xff};
    b = encode_bmp(w, h, 16, 0, 3, 40, NULL, 0, m565, rows16, (size_t)w * 2);
    decode_ok(&b, "bf565.bmp", NULL, &img);
    assert_pixels(&img, expect565, w, h, 0);
    petal_image_free(&img);
    free(b.data);
    b = encode_bmp(w, h, 32, 1, 3, 108, NULL, 0, m32, rows32, (size_t)w * 4);
    decode_ok(&b, "bf32_v4.bmp", NULL, &img);
    assert_pixels(&img, expect32, w, h, 0);
    petal_image_free(&img);
    free(b.data);
    b = encode_bmp(w, h, 32, 0, 0, 40, NULL, 0, NULL, rows32, (size_t)w * 4);
    decode_ok(&b, "bgrx.bmp", NULL, &img);
    assert_pixels(&img, expect32, w, h, 0);
    petal_image_free(&img);
    free(b.data);

    /* RLE8, bottom-up: row 0 (bottom) = run of 4 x index 2 then literal 3,4,5; end of line;
     * row 1 = delta right 2, run of 2 x index 1; end of bitmap. */
    const uint8_t rle[] = {4, 2, 0, 3, 3, 4, 5, 0, 0, 0, 0, 2, 2, 0, 2, 1, 0, 1};
    b = encode_bmp(8, 2, 8, 0, 1, 40, plte, 16, NULL, rle, sizeof rle);
    decode_ok(&b, "rle8.bmp", NULL, &img);
    assert_int_equal(img.width, 8);
    const int bottom[8] = {2, 2, 2, 2, 3, 4, 5, 0}, top[8] = {0, 0, 1, 1, 0, 0, 0, 0};
    for (int x = 0; x < 8; x++) {
        assert_color(&img, x, 1, plte + 3 * bottom[x], 0);
        assert_color(&img, x, 0, plte + 3 * top[x], 0);
    }
    petal_image_free(&img);
    b.len -= 2; /* drop the end-of-bitmap: the data runs out */
    decode_fails(&b, "rle8_cut.bmp", NULL, PETAL_ERR_FORMAT, "truncated");
    free(b.data);
}

static void test_gif_interlace_transparency_and_screen(void **state)
{
    (void)state;
    /* A 10x9 interlaced frame at (3, 2) on a 16x12 screen, background index 1 (green); index 3
     * is transparent and shows the background. */
    const int w = 10, h = 9, sw = 16, sh = 12;
    uint8_t plte[4 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9};
    uint8_t idx[10 * 9];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            idx[y * w + x] = (uint8_t)(x == 5 ? 3 : (y % 3 == 0 ? 0 : 2));
    buf b = encode_gif(idx, w, h, sw, sh, 3, 2, plte, 4, 1, 1, 3);
    petal_image img;
    decode_ok(&b, "frame.gif", NULL, &img);
    assert_int_equal(img.width, sw);
    assert_int_equal(img.height, sh);
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < sw; x++) {
            int fx = x - 3, fy = y - 2;
            int inside = fx >= 0 && fx < w && fy >= 0 && fy < h;
            int i = inside ? idx[fy * w + fx] : 1;
            if (i == 3)
                i = 1;
            assert_color(&img, x, y, plte + 3 * i, 0);
        }
    petal_image_free(&img);
    free(b.data);
}

static void test_webp_animated_first_frame(void **state)
{
    (void)state;
    const int w = 6, h = 4;
    uint8_t *pix = pattern(w, h);
    buf b = encode_animated_webp(pix, w, h, 12, 10);
    petal_image img;
    decode_ok(&b, "anim.webp", NULL, &img);
    assert_int_equal(img.width, 12);
    assert_int_equal(img.height, 10);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 12; x++) {
            int fx = x - 2, fy = y - 2;
            if (fx >= 0 && fx < w && fy >= 0 && fy < h)
                assert_color(&img, x, y, pix + 3 * (fy * w + fx), 0);
            else
                assert_int_equal(img.pixels[3 * (y * 12 + x) + 1], 0); /* empty canvas */
        }
    petal_image_free(&img);
    free(b.data);
    free(pix);
}

static void test_jpeg_gray_and_quality(void **state)
{
    (void)state;
    const int w = 40, h = 24;
    uint8_t *grad = gradient(w, h);
    buf b = encode_jpeg(grad, w, h, 95, 0, 1);
    petal_image img;
    decode_ok(&b, "gray.jpg", NULL, &img);
    assert_int_equal(img.width, w);
    for (int i = 0; i < w * h; i++) {
        const uint8_t *p = img.pixels + 3 * i;
        assert_int_equal(p[0], p[1]);
        assert_int_equal(p[1], p[2]);
        int lum = (299 * grad[3 * i] + 587 * grad[3 * i + 1] + 114 * grad[3 * i + 2]) / 1000;
        assert_true(abs(p[0] - lum) <= 6);
    }
    petal_image_free(&img);
    free(b.data);
    free(grad);
}

/* Progressive JPEGs (many scans) decode the same picture, and cut short say "truncated". */
static void test_jpeg_progressive(void **state)
{
    (void)state;
    const int w = 64, h = 48;
    uint8_t *grad = gradient(w, h);
    jpeg_progressive = 1;
    buf b = encode_jpeg(grad, w, h, 95, 3, 0);
    jpeg_progressive = 0;
    petal_image img;
    decode_ok(&b, "progressive.jpg", NULL, &img);
    assert_int_equal(img.width, w);
    /* Orientation 3 turns it by 180 degrees. */
    for (int y = 0; y < h; y += 7)
        for (int x = 0; x < w; x += 9)
            assert_color(&img, x, y, grad + ((size_t)(h - 1 - y) * w + (w - 1 - x)) * 3, 8);
    petal_image_free(&img);

    /* The last scan repeated 600 times: a small file that would take very long to decode. */
    size_t sos = 0;
    for (size_t i = 0; i + 1 < b.len; i++)
        if (b.data[i] == 0xff && b.data[i + 1] == 0xda)
            sos = i;
    assert_true(sos > 0 && b.data[b.len - 2] == 0xff && b.data[b.len - 1] == 0xd9);
    buf many = {0};
    buf_put(&many, b.data, b.len - 2);
    for (int k = 0; k < 600; k++)
        buf_put(&many, b.data + sos, b.len - 2 - sos);
    buf_put(&many, "\xff\xd9", 2);
    decode_fails(&many, "scans.jpg", NULL, PETAL_ERR_FORMAT, "progressive scans");
    free(many.data);

    b.len = b.len * 2 / 3;
    decode_fails(&b, "progressive.jpg", NULL, PETAL_ERR_FORMAT, "truncated JPEG");
    free(b.data);
    free(grad);
}

/* A BMP with the 12-byte core (OS/2 v1) header: 16-bit sizes, 3-byte palette entries. */
static void test_bmp_core_header(void **state)
{
    (void)state;
    buf b = {0};
    buf_put(&b, "BM", 2);
    buf_le32(&b, 26 + 3 * 2 + 4 * 2);
    buf_le32(&b, 0);
    buf_le32(&b, 26 + 6);
    buf_le32(&b, 12);
    buf_le16(&b, 3);
    buf_le16(&b, 2);
    buf_le16(&b, 1);
    buf_le16(&b, 8);
    buf_put(&b, "\x10\x20\x30\xff\xee\xdd", 6); /* palette: BGR entries 0 and 1 */
    buf_put(&b, "\x00\x01\x00\x00", 4);         /* bottom row: 0 1 0, padded */
    buf_put(&b, "\x01\x01\x00\x00", 4);         /* top row: 1 1 0, padded */
    petal_image img;
    decode_ok(&b, "core.bmp", NULL, &img);
    const uint8_t c0[3] = {0x30, 0x20, 0x10}, c1[3] = {0xdd, 0xee, 0xff};
    assert_color(&img, 0, 0, c1, 0);
    assert_color(&img, 1, 0, c1, 0);
    assert_color(&img, 2, 0, c0, 0);
    assert_color(&img, 0, 1, c0, 0);
    assert_color(&img, 1, 1, c1, 0);
    petal_image_free(&img);
    free(b.data);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = v & 0xff, p[1] = (v >> 8) & 0xff, p[2] = (v >> 16) & 0xff, p[3] = v >> 24;
}

/* Hostile BMP header fields each give a clear error (or a safe decode), never a bad read. */
static void test_bmp_hostile_headers(void **state)
{
    (void)state;
    uint8_t plte[6] = {1, 2, 3, 4, 5, 6}, rows[4 * 3] = {0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 0, 1};
    buf good = encode_bmp(4, 3, 8, 0, 0, 40, plte, 2, NULL, rows, 4);
    struct {
        size_t offset;
        uint32_t value;
        petal_status code;
        const char *needle;
    } cases[] = {
        {10, 0xfffffff0u, PETAL_ERR_FORMAT, "pixel data offset"},
        {10, 20, PETAL_ERR_FORMAT, "pixel data offset"},
        {18, 0x80000000u, PETAL_ERR_FORMAT, "invalid size"},
        {18, 0, PETAL_ERR_FORMAT, "invalid size"},
        {22, 0x80000000u, PETAL_ERR_LIMIT, "over the limit"},
        {28, 7, PETAL_ERR_FORMAT, "bit depth"},
        {30, 4, PETAL_ERR_UNSUPPORTED, "embedded JPEG"},
        {30, 2, PETAL_ERR_FORMAT, "RLE4"},
        {30, 9, PETAL_ERR_UNSUPPORTED, "compression 9"},
        {14, 0x7fffffff, PETAL_ERR_FORMAT, "not an image"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf b = {0};
        buf_put(&b, good.data, good.len);
        put_le32(b.data + cases[i].offset, cases[i].value);
        decode_fails(&b, "hostile.bmp", NULL, cases[i].code, cases[i].needle);
        free(b.data);
    }
    /* A colour count far past 256 is clamped to what is stored: still a valid image. */
    buf b = {0};
    buf_put(&b, good.data, good.len);
    put_le32(b.data + 46, 0xffffffffu);
    petal_image img;
    decode_ok(&b, "many_colours.bmp", NULL, &img);
    assert_color(&img, 1, 0, plte + 3, 0);
    assert_color(&img, 1, 2, plte, 0);
    petal_image_free(&img);
    free(b.data);
    free(good.data);
}

/* CMYK JPEGs (libjpeg writes an Adobe marker, so values are stored inverted, as Photoshop
 * does): stored (255, 0, 255, 255) is no cyan, full magenta, no yellow, no black. */
static void test_jpeg_cmyk(void **state)
{
    (void)state;
    const int w = 16, h = 16;
    uint8_t cmyk[16 * 16 * 4];
    for (int i = 0; i < w * h; i++) {
        uint8_t *p = cmyk + 4 * i;
        p[0] = 255, p[1] = i < w * h / 2 ? 0 : 255, p[2] = 255, p[3] = 255;
    }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *mem = NULL;
    unsigned long size = 0;
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = cmyk + (size_t)c.next_scanline * w * 4;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    buf b = {0};
    buf_put(&b, mem, size);
    free(mem);
    petal_image img;
    decode_ok(&b, "cmyk.jpg", NULL, &img);
    const uint8_t magenta[3] = {255, 0, 255};
    assert_color(&img, 3, 2, magenta, 3);
    assert_color(&img, 3, 13, WHITE, 3);
    petal_image_free(&img);
    free(b.data);
}

/* ---------------------------------------------------------------- tests: JPEG specifics */

/* The stored image has red, green, blue, white quadrants (TL, TR, BL, BR); for each EXIF
 * orientation the displayed corners follow the EXIF definition. */
static void test_exif_orientation(void **state)
{
    (void)state;
    const int w = 32, h = 16;
    uint8_t *q = quadrants(w, h);
    const uint8_t *R = RED, *G = GREEN, *B = BLUE, *W = WHITE;
    const uint8_t *expect[9][4] = {
        {0},          {R, G, B, W}, {G, R, W, B}, {W, B, G, R}, {B, W, R, G},
        {R, B, G, W}, {B, R, W, G}, {W, G, B, R}, {G, W, R, B},
    };
    for (int o = 1; o <= 8; o++) {
        buf b = encode_jpeg(q, w, h, 100, o, 0);
        petal_image img;
        decode_ok(&b, "oriented.jpg", NULL, &img);
        int ow = o >= 5 ? h : w, oh = o >= 5 ? w : h;
        assert_int_equal(img.width, ow);
        assert_int_equal(img.height, oh);
        assert_color(&img, 1, 1, expect[o][0], 12);
        assert_color(&img, ow - 2, 1, expect[o][1], 12);
        assert_color(&img, 1, oh - 2, expect[o][2], 12);
        assert_color(&img, ow - 2, oh - 2, expect[o][3], 12);
        petal_image_free(&img);
        free(b.data);
    }

    /* The same tag in a big-endian ("MM") EXIF block. */
    exif_big_endian = 1;
    buf b = encode_jpeg(q, w, h, 100, 8, 0);
    exif_big_endian = 0;
    petal_image img;
    decode_ok(&b, "motorola.jpg", NULL, &img);
    assert_int_equal(img.width, h);
    assert_color(&img, 1, 1, expect[8][0], 12);
    assert_color(&img, h - 2, w - 2, expect[8][3], 12);
    petal_image_free(&img);
    free(b.data);
    free(q);
}

static void test_jpeg_dct_scaling(void **state)
{
    (void)state;
    uint8_t *grad = gradient(1000, 600);
    buf b = encode_jpeg(grad, 1000, 600, 80, 0, 0);
    petal_image img;
    decode_ok(&b, "big.jpg", NULL, &img);
    assert_int_equal(img.width, 1000);
    assert_int_equal(img.height, 600);
    petal_image_free(&img);

    /* 3/8 is the smallest scale keeping both sides >= 224: 375x225 (2/8 would be 250x150). */
    petal_decode_options opts = {0, 224, 224};
    decode_ok(&b, "big.jpg", &opts, &img);
    assert_int_equal(img.width, 375);
    assert_int_equal(img.height, 225);
    /* The scaled decode is still the same picture: compare with the gradient at centres. */
    for (int y = 10; y < 225; y += 50)
        for (int x = 10; x < 375; x += 60) {
            const uint8_t *p = img.pixels + ((size_t)y * 375 + x) * 3;
            const uint8_t *s = grad + ((size_t)(y * 600 / 225) * 1000 + x * 1000 / 375) * 3;
            assert_true(abs(p[0] - s[0]) <= 6 && abs(p[1] - s[1]) <= 6);
        }
    petal_image_free(&img);

    /* Less than twice the target in one dimension: no scaling. */
    petal_decode_options near = {0, 320, 320};
    decode_ok(&b, "big.jpg", &near, &img);
    assert_int_equal(img.width, 1000);
    petal_image_free(&img);
    free(b.data);

    /* Rotated by EXIF: the target applies to the displayed image (600 wide, 1000 high). */
    b = encode_jpeg(grad, 1000, 600, 80, 6, 0);
    petal_decode_options tall = {0, 224, 448};
    decode_ok(&b, "rotated.jpg", &tall, &img);
    assert_int_equal(img.width, 300);
    assert_int_equal(img.height, 500);
    petal_image_free(&img);
    free(b.data);
    free(grad);
}

/* ---------------------------------------------------------------- tests: hostile input */

/* A PNG whose IHDR claims 100000x100000 pixels, then nothing else. */
static buf png_bomb(uint32_t w, uint32_t h)
{
    buf b = {0};
    buf_put(&b, "\x89PNG\r\n\x1a\n", 8);
    buf_be32(&b, 13);
    buf_put(&b, "IHDR", 4);
    buf_be32(&b, w);
    buf_be32(&b, h);
    buf_put(&b, "\x08\x02\x00\x00\x00", 5);
    buf_be32(&b, 0); /* CRC: never checked, the size is rejected first */
    return b;
}

static void test_decompression_bombs(void **state)
{
    (void)state;
    double t0 = petal_now_ms();
    buf b = png_bomb(100000, 100000);
    decode_fails(&b, "bomb.png", NULL, PETAL_ERR_LIMIT, "100000x100000");
    petal_image img;
    petal_error err;
    petal_image_decode(b.data, b.len, "bomb.png", NULL, &img, &err);
    assert_non_null(strstr(err.msg, "64000000"));
    free(b.data);

    /* JPEG: SOI, SOF0 claiming 60000x60000, and no data. */
    buf j = {0};
    buf_put(&j,
            "\xff\xd8\xff\xc0\x00\x11\x08\xea\x60\xea\x60\x03"
            "\x01\x11\x00\x02\x11\x00\x03\x11\x00",
            21);
    decode_fails(&j, "bomb.jpg", NULL, PETAL_ERR_LIMIT, "60000x60000");
    free(j.data);

    /* BMP header claiming 30000x30000 at 24 bits, with no pixel data. */
    uint8_t px[3] = {0};
    buf m = encode_bmp(1, 1, 24, 0, 0, 40, NULL, 0, NULL, px, 3);
    m.data[18] = 0x30, m.data[19] = 0x75, m.data[22] = 0x30, m.data[23] = 0x75;
    decode_fails(&m, "bomb.bmp", NULL, PETAL_ERR_LIMIT, "30000x30000");
    free(m.data);

    /* GIF logical screen of 65535x65535. */
    uint8_t idx[1] = {0}, plte[6] = {0, 0, 0, 255, 255, 255};
    buf g = encode_gif(idx, 1, 1, 65535, 65535, 0, 0, plte, 2, 0, 0, -1);
    decode_fails(&g, "bomb.gif", NULL, PETAL_ERR_LIMIT, "65535x65535");
    free(g.data);

    /* Animated WebP with a 16384x16384 canvas. */
    uint8_t *pix = pattern(2, 2);
    buf wp = encode_animated_webp(pix, 2, 2, 16384, 16384);
    decode_fails(&wp, "bomb.webp", NULL, PETAL_ERR_LIMIT, "16384x16384");
    free(wp.data);
    free(pix);

    /* A caller's smaller limit applies to ordinary images too. */
    uint8_t *p = pattern(100, 100);
    buf ok = encode_png(p, 100, 100, PNG_COLOR_TYPE_RGB, 8, 0, NULL, 0);
    petal_decode_options small = {5000, 0, 0};
    decode_fails(&ok, "ordinary.png", &small, PETAL_ERR_LIMIT, "limit of 5000");
    small.max_pixels = 10000;
    decode_ok(&ok, "ordinary.png", &small, &img);
    petal_image_free(&img);
    free(ok.data);
    free(p);
    assert_true(petal_now_ms() - t0 < 2000.0);
}

static void test_empty_text_and_other_files(void **state)
{
    (void)state;
    buf b = {0};
    buf_put(&b, "", 0);
    decode_fails(&b, "empty.jpg", NULL, PETAL_ERR_FORMAT, "empty file");
    b.len = 0;
    buf_put(&b, "hello, this is a text file\nnot a photo\n", 39);
    decode_fails(&b, "notes.jpg", NULL, PETAL_ERR_FORMAT, "not an image");
    b.len = 0;
    buf_put(&b, "  <!DOCTYPE html><html><body>404</body></html>", 46);
    decode_fails(&b, "page.jpg", NULL, PETAL_ERR_FORMAT, "HTML");
    b.len = 0;
    buf_put(&b, "II*\0\x08\0\0\0\0\0", 10);
    decode_fails(&b, "scan.jpg", NULL, PETAL_ERR_UNSUPPORTED, "TIFF");
    b.len = 0;
    buf_put(&b,
            "\0\0\0\x1c"
            "ftypavif\0\0\0\0",
            16);
    decode_fails(&b, "new.jpg", NULL, PETAL_ERR_UNSUPPORTED, "AVIF");
    b.len = 0;
    buf_put(&b, "\x01\x02\x03\xfe\xff", 5);
    decode_fails(&b, "noise.bin", NULL, PETAL_ERR_FORMAT, "not an image");
    free(b.data);

    char *dir = petal_test_tmpdir("image-empty");
    char *path = petal_path_join(dir, "zero.png");
    petal_test_write(path, "", 0);
    petal_image img;
    petal_error err;
    assert_int_equal(petal_image_load(path, NULL, &img, &err), PETAL_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "zero.png: empty file"));
    petal_test_rmtree(dir);
    free(path);
    free(dir);
}

/* Every format cut at several lengths: a "truncated" error (or, for a cut inside the header,
 * a corrupt-header one), never a crash. */
static void test_truncated_files(void **state)
{
    (void)state;
    const int w = 40, h = 30;
    uint8_t *pix = pattern(w, h), *grad = gradient(w, h);
    uint8_t idx[40 * 30], plte[6] = {0, 0, 0, 255, 255, 255};
    for (int i = 0; i < w * h; i++)
        idx[i] = (uint8_t)(i % 2);
    struct {
        const char *name;
        buf data;
    } cases[] = {
        {"cut.jpg", encode_jpeg(grad, w, h, 90, 0, 0)},
        {"cut.png", encode_png(pix, w, h, PNG_COLOR_TYPE_RGB, 8, 0, NULL, 0)},
        {"cut.bmp", encode_bmp24(pix, w, h, 0)},
        {"cut.webp", encode_webp(pix, w, h)},
        {"cut.gif", encode_gif(idx, w, h, w, h, 0, 0, plte, 2, 0, 0, -1)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf *b = &cases[i].data;
        size_t full = b->len;
        /* Half the file: well past every header. */
        b->len = full / 2;
        decode_fails(b, cases[i].name, NULL, PETAL_ERR_FORMAT, "truncated");
        for (size_t cut = 1; cut < full; cut += 1 + cut / 3) {
            b->len = cut;
            petal_image img;
            petal_error err = {0};
            petal_status st = petal_image_decode(b->data, cut, cases[i].name, NULL, &img, &err);
            assert_int_not_equal(st, PETAL_OK);
            assert_null(img.pixels);
            assert_non_null(strstr(err.msg, cases[i].name));
        }
        free(b->data);
    }
    free(pix);
    free(grad);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random bit flips in every format: decoding either succeeds with a sane image or fails with
 * a one-line message naming the file; the sanitizers watch for anything worse. */
static void test_bit_flipped_files(void **state)
{
    (void)state;
    const int w = 24, h = 20;
    uint8_t *pix = pattern(w, h), *grad = gradient(w, h);
    uint8_t idx[24 * 20], plte[12] = {0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0, 255};
    for (int i = 0; i < w * h; i++)
        idx[i] = (uint8_t)(i % 4);
    uint8_t *rgb4 = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h; i++) {
        memcpy(rgb4 + 4 * i, pix + 3 * i, 3);
        rgb4[4 * i + 3] = 255;
    }
    buf cases[] = {
        encode_jpeg(grad, w, h, 90, 6, 0),
        encode_png(pix, w, h, PNG_COLOR_TYPE_RGB, 8, 1, NULL, 0),
        encode_bmp24(pix, w, h, 0),
        encode_webp(pix, w, h),
        encode_gif(idx, w, h, w, h, 0, 0, plte, 4, 0, 1, 2),
        encode_animated_webp(pix, 6, 4, 10, 8),
    };
    uint64_t rng = 0x1234567887654321ull;
    petal_decode_options opts = {1 << 20, 0, 0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t *copy = malloc(cases[c].len);
        for (int round = 0; round < 150; round++) {
            memcpy(copy, cases[c].data, cases[c].len);
            int flips = 1 + (int)(xorshift(&rng) % 4);
            for (int f = 0; f < flips; f++) {
                size_t pos = (size_t)(xorshift(&rng) % cases[c].len);
                copy[pos] ^= (uint8_t)(1u << (xorshift(&rng) % 8));
            }
            petal_image img;
            petal_error err = {0};
            if (petal_image_decode(copy, cases[c].len, "flipped.img", &opts, &img, &err) ==
                PETAL_OK) {
                assert_true(img.width > 0 && img.height > 0);
                assert_true((long long)img.width * img.height <= opts.max_pixels);
                petal_image_free(&img);
            } else {
                assert_null(img.pixels);
                assert_non_null(strstr(err.msg, "flipped.img"));
            }
        }
        free(copy);
        free(cases[c].data);
    }
    free(rgb4);
    free(pix);
    free(grad);
}

/* With PETAL_WRITE_FUZZ_CORPUS=dir, writes the small seed files for fuzz_image there (how
 * tests/fuzz/corpus/image was made); otherwise checks those seeds decode. */
static void test_fuzz_seeds(void **state)
{
    (void)state;
    const int w = 8, h = 6;
    uint8_t *pix = pattern(w, h), *grad = gradient(16, 16);
    uint8_t idx[8 * 6], plte[12] = {0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0, 255};
    for (int i = 0; i < w * h; i++)
        idx[i] = (uint8_t)(i % 4);
    uint8_t rows8[8 * 6];
    memcpy(rows8, idx, sizeof rows8);
    uint8_t *rgba = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h; i++) {
        memcpy(rgba + 4 * i, pix + 3 * i, 3);
        rgba[4 * i + 3] = (uint8_t)(i * 5);
    }
    const uint8_t rle[] = {4, 2, 0, 3, 3, 1, 0, 0, 0, 0, 0, 2, 2, 0, 2, 1, 0, 1};
    uint32_t m565[3] = {0xf800, 0x07e0, 0x001f};
    uint8_t rows16[8 * 6 * 2];
    for (int i = 0; i < w * h * 2; i++)
        rows16[i] = (uint8_t)(i * 37);
    struct {
        const char *name;
        buf data;
    } seeds[] = {
        {"rgb.jpg", encode_jpeg(grad, 16, 16, 75, 0, 0)},
        {"exif6.jpg", encode_jpeg(grad, 16, 16, 75, 6, 0)},
        {"gray.jpg", encode_jpeg(grad, 16, 16, 75, 0, 1)},
        {"rgb.png", encode_png(pix, w, h, PNG_COLOR_TYPE_RGB, 8, 0, NULL, 0)},
        {"rgba16_interlaced.png", encode_png(rgba, w, h, PNG_COLOR_TYPE_RGB_ALPHA, 16, 1, NULL, 0)},
        {"palette.png", encode_png(idx, w, h, PNG_COLOR_TYPE_PALETTE, 8, 0, plte, 4)},
        {"rgb24.bmp", encode_bmp24(pix, w, h, 0)},
        {"pal8_topdown.bmp", encode_bmp(w, h, 8, 1, 0, 124, plte, 4, NULL, rows8, 8)},
        {"bf565.bmp", encode_bmp(w, h, 16, 0, 3, 40, NULL, 0, m565, rows16, 16)},
        {"rle8.bmp", encode_bmp(8, 2, 8, 0, 1, 40, plte, 4, NULL, rle, sizeof rle)},
        {"lossless.webp", encode_webp(pix, w, h)},
        {"animated.webp", encode_animated_webp(pix, 4, 3, 8, 6)},
        {"interlaced_transparent.gif", encode_gif(idx, w, h, 10, 9, 1, 2, plte, 4, 1, 1, 2)},
    };
    const char *out = getenv("PETAL_WRITE_FUZZ_CORPUS");
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        assert_true(seeds[i].data.len < 4096);
        petal_image img;
        decode_ok(&seeds[i].data, seeds[i].name, NULL, &img);
        petal_image_free(&img);
        if (out != NULL && *out) {
            char *path = petal_path_join(out, seeds[i].name);
            petal_test_write(path, seeds[i].data.data, seeds[i].data.len);
            free(path);
        }
        free(seeds[i].data.data);
    }
    free(rgba);
    free(pix);
    free(grad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_and_names),
        cmocka_unit_test(test_formats_by_content),
        cmocka_unit_test(test_png_variants),
        cmocka_unit_test(test_bmp_variants),
        cmocka_unit_test(test_jpeg_progressive),
        cmocka_unit_test(test_bmp_core_header),
        cmocka_unit_test(test_bmp_hostile_headers),
        cmocka_unit_test(test_jpeg_cmyk),
        cmocka_unit_test(test_gif_interlace_transparency_and_screen),
        cmocka_unit_test(test_webp_animated_first_frame),
        cmocka_unit_test(test_jpeg_gray_and_quality),
        cmocka_unit_test(test_exif_orientation),
        cmocka_unit_test(test_jpeg_dct_scaling),
        cmocka_unit_test(test_decompression_bombs),
        cmocka_unit_test(test_empty_text_and_other_files),
        cmocka_unit_test(test_truncated_files),
        cmocka_unit_test(test_bit_flipped_files),
        cmocka_unit_test(test_fuzz_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
