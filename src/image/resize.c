/* resize.c - geometry and colour operations on decoded images: the bilinear resize that
 * brings a photo to the model's input size (the same arithmetic as Pillow's BILINEAR, so
 * models see the pixels they were calibrated on), crops, flips and brightness. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

/* Pillow's fixed-point format for 8-bit resampling: coefficients carry 22 fractional bits,
 * leaving room for 8-bit pixels and the sign. */
#define PRECISION_BITS (32 - 8 - 2)

/* Per output pixel along one axis: the first source index, how many follow, and their
 * weights (ksize slots each, fixed point). */
typedef struct resample_axis {
    int ksize;
    int *bounds; /* out_size pairs (first, count) */
    int32_t *weights;
} resample_axis;

static double triangle(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Triangle-filter weights with pixel-centre alignment: output pixel i is centred on source
 * coordinate (i + 0.5) * scale; when shrinking the triangle is stretched by the scale so all
 * source pixels under it contribute. Weights are normalised then rounded to fixed point. */
static int axis_init(resample_axis *ax, int in_size, int out_size)
{
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    ax->ksize = (int)ceil(support) * 2 + 1;
    ax->bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    ax->weights = malloc(sizeof(int32_t) * (size_t)ax->ksize * out_size);
    double *k = malloc(sizeof(double) * (size_t)ax->ksize);
    if (ax->bounds == NULL || ax->weights == NULL || k == NULL) {
        free(k);
        return -1;
    }
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        double total = 0.0;
        for (int x = 0; x < xmax; x++) {
            k[x] = triangle((x + xmin - center + 0.5) * ss);
            total += k[x];
        }
        int32_t *w = ax->weights + (size_t)i * ax->ksize;
        for (int x = 0; x < ax->ksize; x++) {
            double v = x < xmax && total != 0.0 ? k[x] / total : 0.0;
            w[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS)
                                   : 0.5 + v * (1 << PRECISION_BITS));
        }
        ax->bounds[2 * i] = xmin;
        ax->bounds[2 * i + 1] = xmax;
    }
    free(k);
    return 0;
}

static void axis_free(resample_axis *ax)
{
    free(ax->bounds);
    free(ax->weights);
}

static uint8_t clip8(int32_t v)
{
    if (v >= (1 << PRECISION_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* Horizontal pass over rows [y0, y0 + rows) of src into dst (out_w wide). */
static void pass_horizontal(const petal_image *src, int y0, int rows, const resample_axis *ax,
                            uint8_t *restrict dst, int out_w)
{
    const int *restrict bounds = ax->bounds;
    const int32_t *restrict weights = ax->weights;
    int ksize = ax->ksize;
    for (int y = 0; y < rows; y++) {
        const uint8_t *restrict in = src->pixels + (size_t)(y0 + y) * src->width * 3;
        uint8_t *restrict o = dst + (size_t)y * out_w * 3;
        for (int x = 0; x < out_w; x++) {
            int first = bounds[2 * x], n = bounds[2 * x + 1];
            const int32_t *restrict k = weights + (size_t)x * ksize;
            int32_t r = 1 << (PRECISION_BITS - 1), g = r, b = r;
            const uint8_t *p = in + (size_t)first * 3;
            for (int i = 0; i < n; i++, p += 3) {
                r += p[0] * k[i];
                g += p[1] * k[i];
                b += p[2] * k[i];
            }
            o[3 * x] = clip8(r);
            o[3 * x + 1] = clip8(g);
            o[3 * x + 2] = clip8(b);
        }
    }
}

/* Vertical pass: src rows are already out_w wide; bounds are relative to src's first row.
 * Whole rows are accumulated at once (acc holds one row of sums) so memory is read in order. */
static void pass_vertical(const uint8_t *restrict src, int w, const resample_axis *ax,
                          int row_offset, uint8_t *restrict dst, int out_h, int32_t *restrict acc)
{
    size_t stride = (size_t)w * 3;
    for (int y = 0; y < out_h; y++) {
        int first = ax->bounds[2 * y] - row_offset, n = ax->bounds[2 * y + 1];
        const int32_t *k = ax->weights + (size_t)y * ax->ksize;
        for (size_t c = 0; c < stride; c++)
            acc[c] = 1 << (PRECISION_BITS - 1);
        for (int i = 0; i < n; i++) {
            const uint8_t *restrict row = src + (size_t)(first + i) * stride;
            int32_t weight = k[i];
            size_t c = 0;
            /* Fixed-size blocks let the compiler vectorize at -O2. */
            for (; c + 16 <= stride; c += 16)
                for (int j = 0; j < 16; j++)
                    acc[c + j] += row[c + j] * weight;
            for (; c < stride; c++)
                acc[c] += row[c] * weight;
        }
        uint8_t *restrict o = dst + (size_t)y * stride;
        for (size_t c = 0; c < stride; c++)
            o[c] = clip8(acc[c]);
    }
}

static petal_status new_image(petal_image *img, int w, int h, petal_error *err)
{
    img->pixels = malloc((size_t)w * h * 3);
    if (img->pixels == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory for a %dx%d image", w, h);
    img->width = w;
    img->height = h;
    return PETAL_OK;
}

petal_status petal_image_resize(const petal_image *src, int width, int height, petal_image *dst,
                                petal_error *err)
{
    memset(dst, 0, sizeof *dst);
    if (src == NULL || src->pixels == NULL || src->width <= 0 || src->height <= 0 || width <= 0 ||
        height <= 0 || (long long)width * height > (1LL << 30))
        return petal_error_set(err, PETAL_ERR_ARG, "cannot resize a %dx%d image to %dx%d",
                               src ? src->width : 0, src ? src->height : 0, width, height);
    petal_status st = new_image(dst, width, height, err);
    if (st != PETAL_OK)
        return st;
    if (width == src->width && height == src->height) {
        memcpy(dst->pixels, src->pixels, (size_t)width * height * 3);
        return PETAL_OK;
    }

    resample_axis hx = {0}, vy = {0};
    uint8_t *tmp = NULL;
    int32_t *acc = malloc(sizeof(int32_t) * 3 * (size_t)width);
    if (acc == NULL || axis_init(&hx, src->width, width) != 0 ||
        axis_init(&vy, src->height, height) != 0)
        goto nomem;
    /* Horizontal first, only over the source rows the vertical pass will read; each pass
     * rounds to 8 bits, as Pillow does. */
    if (height == src->height) {
        pass_horizontal(src, 0, height, &hx, dst->pixels, width);
    } else {
        int first_row = vy.bounds[0];
        int last_row = vy.bounds[2 * height - 2] + vy.bounds[2 * height - 1];
        if (width == src->width) {
            pass_vertical(src->pixels, width, &vy, 0, dst->pixels, height, acc);
        } else {
            tmp = malloc((size_t)width * (last_row - first_row) * 3);
            if (tmp == NULL)
                goto nomem;
            pass_horizontal(src, first_row, last_row - first_row, &hx, tmp, width);
            pass_vertical(tmp, width, &vy, first_row, dst->pixels, height, acc);
        }
    }
    free(tmp);
    free(acc);
    axis_free(&hx);
    axis_free(&vy);
    return PETAL_OK;

nomem:
    free(tmp);
    free(acc);
    axis_free(&hx);
    axis_free(&vy);
    petal_image_free(dst);
    return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory resizing to %dx%d", width, height);
}

petal_status petal_image_crop(const petal_image *src, int x, int y, int w, int h, petal_image *dst,
                              petal_error *err)
{
    memset(dst, 0, sizeof *dst);
    if (src == NULL || src->pixels == NULL || x < 0 || y < 0 || w <= 0 || h <= 0 ||
        x > src->width - w || y > src->height - h)
        return petal_error_set(err, PETAL_ERR_ARG, "crop %dx%d at (%d,%d) is outside a %dx%d image",
                               w, h, x, y, src ? src->width : 0, src ? src->height : 0);
    petal_status st = new_image(dst, w, h, err);
    if (st != PETAL_OK)
        return st;
    for (int r = 0; r < h; r++)
        memcpy(dst->pixels + (size_t)r * w * 3,
               src->pixels + ((size_t)(y + r) * src->width + x) * 3, (size_t)w * 3);
    return PETAL_OK;
}

petal_status petal_image_resize_center_crop(const petal_image *src, int width, int height,
                                            petal_image *dst, petal_error *err)
{
    memset(dst, 0, sizeof *dst);
    if (src == NULL || src->pixels == NULL || width <= 0 || height <= 0)
        return petal_error_set(err, PETAL_ERR_ARG, "invalid centre crop to %dx%d", width, height);
    /* The largest centred window with the target's aspect ratio. */
    int cw = src->width, ch = src->height;
    if ((long long)src->width * height > (long long)src->height * width)
        cw = (int)(((long long)src->height * width + height / 2) / height);
    else
        ch = (int)(((long long)src->width * height + width / 2) / width);
    if (cw < 1)
        cw = 1;
    if (ch < 1)
        ch = 1;
    petal_image crop;
    petal_status st =
        petal_image_crop(src, (src->width - cw) / 2, (src->height - ch) / 2, cw, ch, &crop, err);
    if (st != PETAL_OK)
        return st;
    st = petal_image_resize(&crop, width, height, dst, err);
    petal_image_free(&crop);
    return st;
}

void petal_image_flip_horizontal(petal_image *img)
{
    if (img == NULL || img->pixels == NULL)
        return;
    for (int y = 0; y < img->height; y++) {
        uint8_t *row = img->pixels + (size_t)y * img->width * 3;
        for (int a = 0, b = img->width - 1; a < b; a++, b--) {
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[3 * a + c];
                row[3 * a + c] = row[3 * b + c];
                row[3 * b + c] = t;
            }
        }
    }
}

void petal_image_scale_brightness(petal_image *img, float factor)
{
    if (img == NULL || img->pixels == NULL)
        return;
    if (!(factor >= 0.0f))
        factor = 0.0f;
    uint8_t lut[256];
    for (int v = 0; v < 256; v++) {
        float s = v * factor + 0.5f;
        lut[v] = s >= 255.0f ? 255 : (uint8_t)s;
    }
    size_t n = (size_t)img->width * img->height * 3;
    for (size_t i = 0; i < n; i++)
        img->pixels[i] = lut[img->pixels[i]];
}
