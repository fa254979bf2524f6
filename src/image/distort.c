/* distort.c - retrain.py's training-time distortions (random scale and crop, left-right flip,
 * brightness) applied to a decoded photo before it becomes a bottleneck; randomness comes from
 * the caller's xorshift64 state so a seeded run is reproducible. */
#include <string.h>

#include "image/image.h"

/* Marsaglia's xorshift64 (13, 7, 17). */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* Uniform in [lo, hi) with 53 random bits. */
static double uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0));
}

/* Uniform integer in [0, n]. */
static int uniform_int(uint64_t *s, int n)
{
    return n <= 0 ? 0 : (int)(next_u64(s) % (uint64_t)(n + 1));
}

static float clamp_percent(float p)
{
    return p > 0.0f ? (p < 100.0f ? p : 100.0f) : 0.0f;
}

/* As retrain.py's add_input_distortions: the whole photo is resized to the model size times
 * (1 + crop%) * U(1, 1 + scale%), a model-size window is cut at a random place, mirrored with
 * probability 1/2, and multiplied by U(1 - brightness%, 1 + brightness%). */
petal_status petal_image_distort(const petal_image *src, const petal_distortions *d, int width,
                                 int height, uint64_t *rng_state, petal_image *dst,
                                 petal_error *err)
{
    memset(dst, 0, sizeof *dst);
    if (src == NULL || d == NULL || rng_state == NULL || width <= 0 || height <= 0)
        return petal_error_set(err, PETAL_ERR_ARG, "invalid distortion request");
    double margin = 1.0 + clamp_percent(d->random_crop) / 100.0;
    double scale = margin;
    if (d->random_scale > 0.0f)
        scale *= uniform(rng_state, 1.0, 1.0 + clamp_percent(d->random_scale) / 100.0);
    int pre_w = (int)(scale * width), pre_h = (int)(scale * height);
    if (pre_w < width)
        pre_w = width;
    if (pre_h < height)
        pre_h = height;

    petal_image pre;
    petal_status st = petal_image_resize(src, pre_w, pre_h, &pre, err);
    if (st != PETAL_OK)
        return st;
    int x = uniform_int(rng_state, pre_w - width), y = uniform_int(rng_state, pre_h - height);
    if (pre_w == width && pre_h == height) {
        *dst = pre;
    } else {
        st = petal_image_crop(&pre, x, y, width, height, dst, err);
        petal_image_free(&pre);
        if (st != PETAL_OK)
            return st;
    }

    if (d->flip_left_right && (next_u64(rng_state) >> 63))
        petal_image_flip_horizontal(dst);
    if (d->random_brightness > 0.0f) {
        double b = clamp_percent(d->random_brightness) / 100.0;
        petal_image_scale_brightness(dst, (float)uniform(rng_state, 1.0 - b, 1.0 + b));
    }
    return PETAL_OK;
}
