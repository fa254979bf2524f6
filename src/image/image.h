/* image.h - decoding photos to RGB, resizing them to a model's input, and the random
 * distortions used in training.
 *
 * Life of a photo: bytes (from a file, an HTTP body) -> petal_image_decode sniffs the format
 * from the content (never the file name), decodes JPEG/PNG/BMP/WebP/GIF to 8-bit RGB, applies
 * the EXIF orientation and rejects decompression bombs -> petal_image_resize brings it to the
 * model input size (bilinear, antialiased when shrinking) -> the executor takes the bytes.
 */
#ifndef PETAL_IMAGE_IMAGE_H
#define PETAL_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

/* An 8-bit RGB image, rows top to bottom, pixels interleaved R,G,B, no row padding. */
typedef struct petal_image {
    int width;
    int height;
    uint8_t *pixels; /* width * height * 3 bytes, malloc'd, owned */
} petal_image;

typedef enum petal_image_format {
    PETAL_FORMAT_UNKNOWN = 0,
    PETAL_FORMAT_JPEG,
    PETAL_FORMAT_PNG,
    PETAL_FORMAT_BMP,
    PETAL_FORMAT_WEBP,
    PETAL_FORMAT_GIF
} petal_image_format;

#define PETAL_DEFAULT_MAX_PIXELS (64LL * 1000 * 1000)

typedef struct petal_decode_options {
    /* Largest width*height accepted, checked from the header before any pixel is decoded
     * (0 = PETAL_DEFAULT_MAX_PIXELS). */
    long long max_pixels;
    /* If both are > 0, a JPEG at least twice this size in both dimensions is decoded with
     * libjpeg-turbo's DCT scaling to the smallest scale still >= this size. */
    int target_width;
    int target_height;
} petal_decode_options;

/* Identifies the format from the first bytes; PETAL_FORMAT_UNKNOWN if none matches. */
petal_image_format petal_image_sniff(const uint8_t *data, size_t len);

/* Lower-case name of a format ("jpeg", "png", ...) and its usual file extension ("jpg"). */
const char *petal_image_format_name(petal_image_format format);
const char *petal_image_format_extension(petal_image_format format);

/* Decodes an in-memory image. name is used in error messages only (a path, a URL).
 * opts may be NULL for defaults. On success out owns new pixels; on failure out is zeroed
 * and err says e.g. "photo.jpg: truncated JPEG data" or "x.png: 100000x100000 pixels is over
 * the limit of 64000000 (--max_pixels)". Never reads outside data[0..len). */
petal_status petal_image_decode(const uint8_t *data, size_t len, const char *name,
                                const petal_decode_options *opts, petal_image *out,
                                petal_error *err);

/* Reads and decodes a file (limit on file size: 256 MB). */
petal_status petal_image_load(const char *path, const petal_decode_options *opts, petal_image *out,
                              petal_error *err);

/* Encodes img as a baseline JPEG (4:2:0) of the given quality (1..100) into a new malloc'd
 * buffer *out of *len bytes, which the caller frees. name is used in error messages. */
petal_status petal_image_encode_jpeg(const petal_image *img, int quality, uint8_t **out,
                                     size_t *len, const char *name, petal_error *err);

/* Frees the pixels and zeroes the struct; safe on a zeroed struct. */
void petal_image_free(petal_image *img);

/* Resizes src to width x height into a new image: bilinear with pixel-centre alignment
 * (as Pillow's BILINEAR); when shrinking, the filter support widens with the scale factor
 * so that every source pixel contributes (antialiasing). */
petal_status petal_image_resize(const petal_image *src, int width, int height, petal_image *dst,
                                petal_error *err);

/* Copies the rectangle (x, y, w, h), which must lie inside src, into a new image. */
petal_status petal_image_crop(const petal_image *src, int x, int y, int w, int h, petal_image *dst,
                              petal_error *err);

/* Crops the largest centred square (or, generally, the centred region with the aspect ratio
 * width:height) and resizes it to width x height. */
petal_status petal_image_resize_center_crop(const petal_image *src, int width, int height,
                                            petal_image *dst, petal_error *err);

/* Mirrors the image left to right in place. */
void petal_image_flip_horizontal(petal_image *img);

/* Multiplies every channel value by factor, rounding and clamping to 0..255, in place. */
void petal_image_scale_brightness(petal_image *img, float factor);

/* Random distortions with retrain.py's meaning (all percentages 0..100, 0 = off). */
typedef struct petal_distortions {
    int flip_left_right;     /* mirror with probability 1/2 */
    float random_crop;       /* percent margin: crop a random window, then resize */
    float random_scale;      /* percent: enlarge by a random factor up to 1 + p/100 */
    float random_brightness; /* percent: multiply by a random factor in 1 +- p/100 */
} petal_distortions;

/* Applies distortions to src and resizes to width x height into dst, drawing randomness
 * from *rng_state (a caller-owned xorshift state, never 0) so runs are reproducible. */
petal_status petal_image_distort(const petal_image *src, const petal_distortions *d, int width,
                                 int height, uint64_t *rng_state, petal_image *dst,
                                 petal_error *err);

#endif
