/* gif.c - GIF decoding with giflib for petal_image_decode: the first frame, de-interlaced and
 * composited onto the logical screen (background colour where the frame is transparent or
 * does not reach). Reads from memory through giflib's input callback. */
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

#include "image/image_internal.h"

typedef struct gif_source {
    const uint8_t *data;
    size_t len;
    size_t pos;
} gif_source;

static int on_read(GifFileType *gif, GifByteType *dst, int n)
{
    gif_source *src = gif->UserData;
    size_t avail = src->len - src->pos;
    size_t take = n < 0 ? 0 : (size_t)n;
    if (take > avail)
        take = avail;
    memcpy(dst, src->data + src->pos, take);
    src->pos += take;
    return (int)take;
}

static petal_status gif_failure(int code, const char *name, petal_error *err)
{
    if (code == D_GIF_ERR_READ_FAILED || code == D_GIF_ERR_EOF_TOO_SOON)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: truncated GIF data", name);
    if (code == D_GIF_ERR_NOT_ENOUGH_MEM)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory decoding GIF", name);
    const char *why = GifErrorString(code);
    return petal_error_set(err, PETAL_ERR_FORMAT, "%s: corrupt GIF data (%s)", name,
                           why ? why : "unknown error");
}

static void fill_color(const ColorMapObject *map, int index, uint8_t *dst)
{
    if (map != NULL && index >= 0 && index < map->ColorCount) {
        dst[0] = map->Colors[index].Red;
        dst[1] = map->Colors[index].Green;
        dst[2] = map->Colors[index].Blue;
    } else if (map == NULL && index >= 0) {
        dst[0] = dst[1] = dst[2] = (uint8_t)index; /* no colour table: gray ramp */
    } else {
        dst[0] = dst[1] = dst[2] = 0;
    }
}

/* Reads the first image's rows (in file order, de-interlacing) onto the canvas. */
static petal_status draw_frame(GifFileType *gif, int transparent, const petal_decode_ctx *ctx,
                               petal_image *out, petal_error *err)
{
    const GifImageDesc *desc = &gif->Image;
    petal_status st = petal_image_check_size(ctx, desc->Width, desc->Height, "GIF frame", err);
    if (st != PETAL_OK)
        return st;
    const ColorMapObject *map = desc->ColorMap ? desc->ColorMap : gif->SColorMap;
    GifPixelType *line = malloc((size_t)desc->Width);
    if (line == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", ctx->name);
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    int passes = desc->Interlace ? 4 : 1;
    for (int pass = 0; pass < passes; pass++) {
        int first = desc->Interlace ? start[pass] : 0, inc = desc->Interlace ? step[pass] : 1;
        for (int r = first; r < desc->Height; r += inc) {
            if (DGifGetLine(gif, line, desc->Width) == GIF_ERROR) {
                free(line);
                return gif_failure(gif->Error, ctx->name, err);
            }
            long long y = (long long)desc->Top + r;
            if (y >= out->height)
                continue;
            for (int x = 0; x < desc->Width; x++) {
                long long cx = (long long)desc->Left + x;
                if (cx >= out->width || line[x] == transparent)
                    continue;
                fill_color(map, line[x], out->pixels + 3 * ((size_t)y * out->width + cx));
            }
        }
    }
    free(line);
    return PETAL_OK;
}

static petal_status read_first_frame(GifFileType *gif, const petal_decode_ctx *ctx,
                                     petal_image *out, petal_error *err)
{
    petal_status st = petal_image_check_size(ctx, gif->SWidth, gif->SHeight, "GIF", err);
    if (st != PETAL_OK)
        return st;
    st = petal_image_alloc(out, gif->SWidth, gif->SHeight, ctx->name, err);
    if (st != PETAL_OK)
        return st;
    if (gif->SColorMap != NULL && gif->SBackGroundColor < gif->SColorMap->ColorCount) {
        uint8_t bg[3];
        fill_color(gif->SColorMap, gif->SBackGroundColor, bg);
        for (size_t i = 0; i < (size_t)out->width * out->height; i++)
            memcpy(out->pixels + 3 * i, bg, 3);
    }

    int transparent = -1;
    for (;;) {
        GifRecordType type;
        if (DGifGetRecordType(gif, &type) == GIF_ERROR)
            return gif_failure(gif->Error, ctx->name, err);
        if (type == IMAGE_DESC_RECORD_TYPE) {
            if (DGifGetImageDesc(gif) == GIF_ERROR)
                return gif_failure(gif->Error, ctx->name, err);
            return draw_frame(gif, transparent, ctx, out, err);
        }
        if (type == TERMINATE_RECORD_TYPE)
            return petal_error_set(err, PETAL_ERR_FORMAT, "%s: GIF contains no image", ctx->name);
        if (type != EXTENSION_RECORD_TYPE)
            return petal_error_set(err, PETAL_ERR_FORMAT, "%s: corrupt GIF record", ctx->name);
        int code;
        GifByteType *ext;
        if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR)
            return gif_failure(gif->Error, ctx->name, err);
        if (code == GRAPHICS_EXT_FUNC_CODE && ext != NULL && ext[0] >= 4)
            transparent = (ext[1] & 1) ? ext[4] : -1;
        while (ext != NULL)
            if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR)
                return gif_failure(gif->Error, ctx->name, err);
    }
}

petal_status petal_image_decode_gif(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                    petal_image *out, petal_error *err)
{
    gif_source src = {data, len, 0};
    int code = 0;
    GifFileType *gif = DGifOpen(&src, on_read, &code);
    if (gif == NULL)
        return gif_failure(code, ctx->name, err);
    petal_status st = read_first_frame(gif, ctx, out, err);
    DGifCloseFile(gif, &code);
    return st;
}
