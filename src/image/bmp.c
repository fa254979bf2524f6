/* bmp.c - hand-written Windows BMP decoder for petal_image_decode: every header field, palette
 * entry, row and run is checked against the buffer before it is read. Supports the core (OS/2
 * v1) header and BITMAPINFOHEADER up to V5; 1/4/8-bit palette, 16/24/32-bit, BI_RGB,
 * BI_BITFIELDS, RLE4 and RLE8; bottom-up and top-down rows. */
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

enum {
    BI_RGB = 0,
    BI_RLE8 = 1,
    BI_RLE4 = 2,
    BI_BITFIELDS = 3,
    BI_JPEG = 4,
    BI_PNG = 5,
    BI_ALPHABITFIELDS = 6
};

typedef struct bmp_header {
    long long width, height; /* height > 0 after top_down is extracted */
    int top_down;
    int bpp;
    uint32_t compression;
    uint32_t masks[3];
    size_t palette_off;
    int palette_entry; /* 3 (core header) or 4 bytes */
    uint32_t colors;
    size_t pixel_off;
} bmp_header;

typedef struct bmp_palette {
    uint8_t rgb[256][3];
    uint32_t count;
} bmp_palette;

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static petal_status truncated(const char *name, const char *what, petal_error *err)
{
    return petal_error_set(err, PETAL_ERR_FORMAT, "%s: truncated BMP %s", name, what);
}

static petal_status parse_header(const uint8_t *d, size_t len, const petal_decode_ctx *ctx,
                                 bmp_header *h, petal_error *err)
{
    const char *name = ctx->name;
    if (len < 18)
        return truncated(name, "header", err);
    uint32_t dib = le32(d + 14);
    memset(h, 0, sizeof *h);
    if (len < 14 + (size_t)dib || dib < 12)
        return dib < 12 ? petal_error_set(err, PETAL_ERR_FORMAT, "%s: corrupt BMP header size %u",
                                          name, dib)
                        : truncated(name, "header", err);
    if (dib == 12) {
        h->width = le16(d + 18);
        h->height = (int16_t)le16(d + 20);
        h->bpp = (int)le16(d + 24);
        h->palette_entry = 3;
    } else if (dib >= 40 || dib == 16) {
        h->width = (int32_t)le32(d + 18);
        h->height = (int32_t)le32(d + 22);
        h->bpp = (int)le16(d + 28);
        h->compression = dib >= 20 ? le32(d + 30) : BI_RGB;
        h->colors = dib >= 40 ? le32(d + 46) : 0;
        h->palette_entry = 4;
        if (dib == 64 && h->compression >= BI_BITFIELDS)
            return petal_error_set(err, PETAL_ERR_UNSUPPORTED,
                                   "%s: unsupported OS/2 BMP compression %u", name, h->compression);
    } else {
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: unsupported BMP header size %u",
                               name, dib);
    }
    h->palette_off = 14 + (size_t)dib;

    if (h->compression == BI_BITFIELDS || h->compression == BI_ALPHABITFIELDS) {
        /* Masks sit inside V2+ headers, or right after a 40-byte header. */
        if (dib == 40) {
            size_t n = h->compression == BI_ALPHABITFIELDS ? 16 : 12;
            if (len < h->palette_off + n)
                return truncated(name, "colour masks", err);
            h->palette_off += n;
        } else if (dib < 52) {
            return petal_error_set(err, PETAL_ERR_FORMAT, "%s: BMP bit fields without masks", name);
        }
        for (int i = 0; i < 3; i++)
            h->masks[i] = le32(d + 54 + 4 * i);
        if (h->bpp != 16 && h->bpp != 32)
            return petal_error_set(err, PETAL_ERR_FORMAT,
                                   "%s: BMP bit fields need 16 or 32 bits per pixel, not %d", name,
                                   h->bpp);
    } else if (h->compression == BI_RLE8 || h->compression == BI_RLE4) {
        if (h->bpp != (h->compression == BI_RLE8 ? 8 : 4))
            return petal_error_set(err, PETAL_ERR_FORMAT, "%s: BMP RLE%d with %d bits per pixel",
                                   name, h->compression == BI_RLE8 ? 8 : 4, h->bpp);
    } else if (h->compression == BI_JPEG || h->compression == BI_PNG) {
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED,
                               "%s: unsupported BMP with embedded %s data", name,
                               h->compression == BI_JPEG ? "JPEG" : "PNG");
    } else if (h->compression != BI_RGB) {
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: unsupported BMP compression %u",
                               name, h->compression);
    } else if (h->bpp == 16) {
        h->masks[0] = 0x7c00, h->masks[1] = 0x03e0, h->masks[2] = 0x001f;
    } else if (h->bpp == 32) {
        h->masks[0] = 0xff0000, h->masks[1] = 0xff00, h->masks[2] = 0xff;
    }
    if (h->bpp != 1 && h->bpp != 4 && h->bpp != 8 && h->bpp != 16 && h->bpp != 24 && h->bpp != 32)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: invalid BMP bit depth %d", name, h->bpp);

    if (h->height < 0) {
        h->top_down = 1;
        h->height = -h->height;
    }
    if (h->top_down && (h->compression == BI_RLE8 || h->compression == BI_RLE4))
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: top-down BMP cannot be RLE", name);
    petal_status st = petal_image_check_size(ctx, h->width, h->height, "BMP", err);
    if (st != PETAL_OK)
        return st;

    h->pixel_off = le32(d + 10);
    if (h->pixel_off < h->palette_off || h->pixel_off > len)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: corrupt BMP pixel data offset %zu", name,
                               h->pixel_off);
    return PETAL_OK;
}

static petal_status read_palette(const uint8_t *d, const bmp_header *h, const char *name,
                                 bmp_palette *pal, petal_error *err)
{
    memset(pal, 0, sizeof *pal);
    if (h->bpp > 8)
        return PETAL_OK;
    uint32_t max = 1u << h->bpp;
    uint32_t n = h->colors == 0 || h->colors > max ? max : h->colors;
    /* The palette ends where the pixels start; writers often store fewer entries than the
     * bit depth allows (notably with the core header, which has no count field). */
    size_t avail = (h->pixel_off - h->palette_off) / (size_t)h->palette_entry;
    if (n > avail)
        n = (uint32_t)avail;
    if (n == 0)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: BMP palette is missing", name);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = d + h->palette_off + (size_t)i * h->palette_entry;
        pal->rgb[i][0] = e[2];
        pal->rgb[i][1] = e[1];
        pal->rgb[i][2] = e[0];
    }
    pal->count = n;
    return PETAL_OK;
}

/* One colour channel from a packed 16/32-bit pixel, scaled to 0..255. */
static uint8_t mask_channel(uint32_t v, uint32_t mask)
{
    if (mask == 0)
        return 0;
    int shift = __builtin_ctz(mask);
    uint64_t m = mask >> shift;
    uint64_t max = (1ull << (64 - __builtin_clzll(m))) - 1;
    uint64_t x = (v & mask) >> shift;
    return (uint8_t)((x * 255 + max / 2) / max);
}

static void put_index(const bmp_palette *pal, uint32_t index, uint8_t *dst)
{
    /* An index past the palette reads as black rather than out of bounds. */
    if (index < pal->count)
        memcpy(dst, pal->rgb[index], 3);
    else
        memset(dst, 0, 3);
}

static void decode_row(const uint8_t *src, const bmp_header *h, const bmp_palette *pal,
                       uint8_t *dst)
{
    int w = (int)h->width;
    for (int x = 0; x < w; x++, dst += 3) {
        switch (h->bpp) {
        case 1:
            put_index(pal, (src[x >> 3] >> (7 - (x & 7))) & 1, dst);
            break;
        case 4:
            put_index(pal, (src[x >> 1] >> ((x & 1) ? 0 : 4)) & 15, dst);
            break;
        case 8:
            put_index(pal, src[x], dst);
            break;
        case 24:
            dst[0] = src[3 * x + 2];
            dst[1] = src[3 * x + 1];
            dst[2] = src[3 * x];
            break;
        default: {
            uint32_t v = h->bpp == 16 ? le16(src + 2 * x) : le32(src + 4 * x);
            for (int c = 0; c < 3; c++)
                dst[c] = mask_channel(v, h->masks[c]);
        }
        }
    }
}

/* RLE4/RLE8: runs and literal groups, with end-of-line, end-of-bitmap and delta escapes.
 * Rows run bottom-up; pixels never written stay palette entry 0. */
static petal_status decode_rle(const uint8_t *d, size_t len, const bmp_header *h,
                               const bmp_palette *pal, uint8_t *out)
{
    long long w = h->width, hh = h->height;
    long long x = 0, y = 0; /* y counts from the bottom row */
    size_t p = h->pixel_off;
    int four = h->compression == BI_RLE4;
    for (long long i = 0; i < w * hh; i++)
        put_index(pal, 0, out + 3 * i);
    while (p + 2 <= len) {
        uint8_t count = d[p], code = d[p + 1];
        p += 2;
        if (count > 0) {
            for (int i = 0; i < count && x < w; i++, x++) {
                uint8_t idx = four ? ((i & 1) ? code & 15 : code >> 4) : code;
                if (y < hh)
                    put_index(pal, idx, out + 3 * ((hh - 1 - y) * w + x));
            }
        } else if (code == 0) {
            x = 0;
            y++;
        } else if (code == 1) {
            return PETAL_OK;
        } else if (code == 2) {
            if (p + 2 > len)
                break;
            x += d[p];
            y += d[p + 1];
            p += 2;
        } else {
            size_t bytes = four ? (code + 1u) / 2 : code;
            size_t padded = (bytes + 1) & ~(size_t)1;
            if (padded > len - p)
                break;
            for (int i = 0; i < code; i++, x++) {
                uint8_t b = d[p + (four ? i / 2 : i)];
                uint8_t idx = four ? ((i & 1) ? b & 15 : b >> 4) : b;
                if (x < w && y < hh)
                    put_index(pal, idx, out + 3 * ((hh - 1 - y) * w + x));
            }
            p += padded;
        }
        if (y >= hh)
            return PETAL_OK;
    }
    return PETAL_ERR_FORMAT;
}

petal_status petal_image_decode_bmp(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                    petal_image *out, petal_error *err)
{
    bmp_header h;
    petal_status st = parse_header(data, len, ctx, &h, err);
    if (st != PETAL_OK)
        return st;
    bmp_palette pal;
    st = read_palette(data, &h, ctx->name, &pal, err);
    if (st != PETAL_OK)
        return st;

    size_t stride = (size_t)(((unsigned long long)h.width * h.bpp + 31) / 32 * 4);
    if (h.compression == BI_RGB || h.compression == BI_BITFIELDS ||
        h.compression == BI_ALPHABITFIELDS) {
        if ((unsigned long long)stride * h.height > len - h.pixel_off)
            return truncated(ctx->name, "pixel data", err);
    }
    st = petal_image_alloc(out, (int)h.width, (int)h.height, ctx->name, err);
    if (st != PETAL_OK)
        return st;

    if (h.compression == BI_RLE8 || h.compression == BI_RLE4) {
        if (decode_rle(data, len, &h, &pal, out->pixels) != PETAL_OK)
            return truncated(ctx->name, "RLE data", err);
        return PETAL_OK;
    }
    for (long long y = 0; y < h.height; y++) {
        long long row = h.top_down ? y : h.height - 1 - y;
        decode_row(data + h.pixel_off + (size_t)y * stride, &h, &pal,
                   out->pixels + (size_t)row * h.width * 3);
    }
    return PETAL_OK;
}
