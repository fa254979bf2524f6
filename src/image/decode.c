/* decode.c - format sniffing and the entry points that turn file bytes into an RGB image; the
 * first step of every photo's way to the model (the per-format work is in jpeg.c, png.c, ...). */
#include "image/image.h"

#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"
#include "util/fs.h"

#define MAX_FILE_BYTES (256u * 1024 * 1024)

static int starts_with(const uint8_t *data, size_t len, const char *magic, size_t n)
{
    return len >= n && memcmp(data, magic, n) == 0;
}

/* A BMP starts with "BM" only, which plain text can too: also require a known header size
 * once the file is long enough to hold one. */
static int looks_like_bmp(const uint8_t *data, size_t len)
{
    if (!starts_with(data, len, "BM", 2))
        return 0;
    if (len < 18)
        return 1;
    uint32_t dib = (uint32_t)data[14] | (uint32_t)data[15] << 8 | (uint32_t)data[16] << 16 |
                   (uint32_t)data[17] << 24;
    return dib == 12 || dib == 16 || dib == 40 || dib == 52 || dib == 56 || dib == 64 ||
           dib == 108 || dib == 124;
}

petal_image_format petal_image_sniff(const uint8_t *data, size_t len)
{
    if (data == NULL)
        return PETAL_FORMAT_UNKNOWN;
    if (starts_with(data, len, "\xff\xd8\xff", 3))
        return PETAL_FORMAT_JPEG;
    if (starts_with(data, len, "\x89PNG\r\n\x1a\n", 8))
        return PETAL_FORMAT_PNG;
    if (starts_with(data, len, "GIF87a", 6) || starts_with(data, len, "GIF89a", 6))
        return PETAL_FORMAT_GIF;
    if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        return PETAL_FORMAT_WEBP;
    if (looks_like_bmp(data, len))
        return PETAL_FORMAT_BMP;
    return PETAL_FORMAT_UNKNOWN;
}

const char *petal_image_format_name(petal_image_format format)
{
    switch (format) {
    case PETAL_FORMAT_JPEG:
        return "jpeg";
    case PETAL_FORMAT_PNG:
        return "png";
    case PETAL_FORMAT_BMP:
        return "bmp";
    case PETAL_FORMAT_WEBP:
        return "webp";
    case PETAL_FORMAT_GIF:
        return "gif";
    default:
        return "unknown";
    }
}

const char *petal_image_format_extension(petal_image_format format)
{
    return format == PETAL_FORMAT_JPEG ? "jpg" : petal_image_format_name(format);
}

/* Names formats petal recognises but does not decode, so the error says what the file is. */
static const char *unsupported_kind(const uint8_t *data, size_t len)
{
    if (starts_with(data, len, "II*\0", 4) || starts_with(data, len, "MM\0*", 4))
        return "TIFF image";
    if (len >= 12 && memcmp(data + 4, "ftyp", 4) == 0) {
        if (memcmp(data + 8, "avif", 4) == 0 || memcmp(data + 8, "avis", 4) == 0)
            return "AVIF image";
        if (memcmp(data + 8, "hei", 3) == 0 || memcmp(data + 8, "mif1", 4) == 0 ||
            memcmp(data + 8, "msf1", 4) == 0)
            return "HEIF image";
        return "ISO media file (video or HEIF)";
    }
    if (starts_with(data, len, "\0\0\1\0", 4))
        return "ICO icon";
    if (starts_with(data, len, "\xff\x0a", 2) || starts_with(data, len, "\0\0\0\x0cJXL ", 8))
        return "JPEG XL image";
    if (starts_with(data, len, "8BPS", 4))
        return "Photoshop document";
    if (starts_with(data, len, "%PDF", 4))
        return "PDF document";
    return NULL;
}

/* Skips leading whitespace and a UTF-8 byte-order mark, then checks for markup. */
static const char *text_kind(const uint8_t *data, size_t len)
{
    size_t i = 0;
    if (starts_with(data, len, "\xef\xbb\xbf", 3))
        i = 3;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
        i++;
    const char *p = (const char *)data + i;
    size_t n = len - i;
    if (n >= 4 && strncasecmp(p, "<svg", 4) == 0)
        return "looks like an SVG drawing; vector images are not supported";
    if ((n >= 5 && strncasecmp(p, "<html", 5) == 0) ||
        (n >= 9 && strncasecmp(p, "<!doctype", 9) == 0))
        return "looks like an HTML page";
    if (n >= 5 && strncasecmp(p, "<?xml", 5) == 0)
        return "looks like an XML document";
    if (n >= 1 && (p[0] == '{' || p[0] == '['))
        return "looks like JSON text";
    size_t printable = 0, probe = len < 512 ? len : 512;
    for (size_t k = 0; k < probe; k++)
        if ((data[k] >= 0x20 && data[k] < 0x7f) || data[k] == '\n' || data[k] == '\r' ||
            data[k] == '\t')
            printable++;
    if (probe > 0 && printable == probe)
        return "looks like text";
    return NULL;
}

petal_status petal_image_check_size(const petal_decode_ctx *ctx, long long width, long long height,
                                    const char *format, petal_error *err)
{
    if (width <= 0 || height <= 0)
        return petal_error_set(err, PETAL_ERR_FORMAT,
                               "%s: %s header gives an invalid size %lldx%lld", ctx->name, format,
                               width, height);
    /* A side over 2^24 would overflow int row sizes whatever the pixel limit. */
    if (width > ctx->max_pixels || height > ctx->max_pixels || width > (1LL << 24) ||
        height > (1LL << 24) || width * height > ctx->max_pixels)
        return petal_error_set(err, PETAL_ERR_LIMIT,
                               "%s: %lldx%lld pixels is over the limit of %lld (--max_pixels)",
                               ctx->name, width, height, ctx->max_pixels);
    return PETAL_OK;
}

petal_status petal_image_alloc(petal_image *img, int width, int height, const char *name,
                               petal_error *err)
{
    size_t bytes = (size_t)width * (size_t)height * 3;
    img->pixels = calloc(bytes ? bytes : 1, 1);
    if (img->pixels == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory for %dx%d pixels", name,
                               width, height);
    img->width = width;
    img->height = height;
    return PETAL_OK;
}

petal_status petal_image_decode(const uint8_t *data, size_t len, const char *name,
                                const petal_decode_options *opts, petal_image *out,
                                petal_error *err)
{
    memset(out, 0, sizeof *out);
    petal_decode_ctx ctx = {name ? name : "(image)", PETAL_DEFAULT_MAX_PIXELS, 0, 0};
    if (opts != NULL) {
        if (opts->max_pixels > 0)
            ctx.max_pixels = opts->max_pixels;
        if (opts->target_width > 0 && opts->target_height > 0) {
            ctx.target_width = opts->target_width;
            ctx.target_height = opts->target_height;
        }
    }
    if (data == NULL || len == 0)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: empty file (0 bytes)", ctx.name);

    petal_status st;
    switch (petal_image_sniff(data, len)) {
    case PETAL_FORMAT_JPEG:
        st = petal_image_decode_jpeg(data, len, &ctx, out, err);
        break;
    case PETAL_FORMAT_PNG:
        st = petal_image_decode_png(data, len, &ctx, out, err);
        break;
    case PETAL_FORMAT_BMP:
        st = petal_image_decode_bmp(data, len, &ctx, out, err);
        break;
    case PETAL_FORMAT_WEBP:
        st = petal_image_decode_webp(data, len, &ctx, out, err);
        break;
    case PETAL_FORMAT_GIF:
        st = petal_image_decode_gif(data, len, &ctx, out, err);
        break;
    default: {
        const char *kind = unsupported_kind(data, len);
        if (kind != NULL)
            return petal_error_set(err, PETAL_ERR_UNSUPPORTED,
                                   "%s: unsupported format (%s); petal reads JPEG, PNG, BMP, "
                                   "WebP and GIF",
                                   ctx.name, kind);
        kind = text_kind(data, len);
        return petal_error_set(err, PETAL_ERR_FORMAT,
                               "%s: not an image (%s); expected JPEG, PNG, BMP, WebP or GIF",
                               ctx.name, kind ? kind : "unrecognised content");
    }
    }
    if (st != PETAL_OK)
        petal_image_free(out);
    return st;
}

petal_status petal_image_load(const char *path, const petal_decode_options *opts, petal_image *out,
                              petal_error *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *data;
    size_t len;
    petal_status st = petal_read_file(path, MAX_FILE_BYTES, &data, &len, err);
    if (st != PETAL_OK)
        return st;
    st = petal_image_decode(data, len, path, opts, out, err);
    free(data);
    return st;
}

void petal_image_free(petal_image *img)
{
    if (img == NULL)
        return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}
