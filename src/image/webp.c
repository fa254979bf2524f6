/* webp.c - WebP decoding with libwebp for petal_image_decode; an animated WebP gives its first
 * frame as composited on the canvas (libwebpdemux's animation decoder). Alpha is dropped. */
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "image/image_internal.h"

static petal_status status_error(VP8StatusCode s, const char *name, petal_error *err)
{
    if (s == VP8_STATUS_NOT_ENOUGH_DATA)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: truncated WebP data", name);
    if (s == VP8_STATUS_UNSUPPORTED_FEATURE)
        return petal_error_set(err, PETAL_ERR_UNSUPPORTED, "%s: unsupported WebP feature", name);
    if (s == VP8_STATUS_OUT_OF_MEMORY)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory decoding WebP", name);
    return petal_error_set(err, PETAL_ERR_FORMAT, "%s: corrupt WebP data (status %d)", name,
                           (int)s);
}

static petal_status decode_still(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                 petal_image *out, petal_error *err)
{
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config))
        return petal_error_set(err, PETAL_ERR_INTERNAL, "%s: libwebp version mismatch", ctx->name);
    VP8StatusCode s = WebPGetFeatures(data, len, &config.input);
    if (s != VP8_STATUS_OK)
        return status_error(s, ctx->name, err);
    petal_status st =
        petal_image_alloc(out, config.input.width, config.input.height, ctx->name, err);
    if (st != PETAL_OK)
        return st;
    config.output.colorspace = MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = out->pixels;
    config.output.u.RGBA.stride = out->width * 3;
    config.output.u.RGBA.size = (size_t)out->width * out->height * 3;
    s = WebPDecode(data, len, &config);
    WebPFreeDecBuffer(&config.output);
    if (s != VP8_STATUS_OK)
        return status_error(s, ctx->name, err);
    return PETAL_OK;
}

static petal_status decode_first_frame(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                       petal_image *out, petal_error *err)
{
    WebPData wd = {data, len};
    WebPDemuxState state = WEBP_DEMUX_PARSE_ERROR;
    WebPDemuxer *dmx = WebPDemuxPartial(&wd, &state);
    if (dmx == NULL || state != WEBP_DEMUX_DONE) {
        WebPDemuxDelete(dmx);
        if (state == WEBP_DEMUX_PARSED_HEADER || state == WEBP_DEMUX_PARSING_HEADER)
            return petal_error_set(err, PETAL_ERR_FORMAT, "%s: truncated WebP data", ctx->name);
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: corrupt animated WebP", ctx->name);
    }
    long long cw = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_WIDTH);
    long long ch = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_HEIGHT);
    WebPDemuxDelete(dmx);
    petal_status st = petal_image_check_size(ctx, cw, ch, "WebP", err);
    if (st != PETAL_OK)
        return st;

    WebPAnimDecoderOptions opts;
    if (!WebPAnimDecoderOptionsInit(&opts))
        return petal_error_set(err, PETAL_ERR_INTERNAL, "%s: libwebp version mismatch", ctx->name);
    opts.color_mode = MODE_RGBA;
    opts.use_threads = 0;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &opts);
    if (dec == NULL)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: corrupt animated WebP", ctx->name);
    uint8_t *canvas = NULL;
    int timestamp = 0;
    if (!WebPAnimDecoderGetNext(dec, &canvas, &timestamp) || canvas == NULL) {
        WebPAnimDecoderDelete(dec);
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: corrupt first frame in animated WebP",
                               ctx->name);
    }
    st = petal_image_alloc(out, (int)cw, (int)ch, ctx->name, err);
    if (st == PETAL_OK) {
        size_t n = (size_t)cw * (size_t)ch;
        for (size_t i = 0; i < n; i++)
            memcpy(out->pixels + 3 * i, canvas + 4 * i, 3);
    }
    WebPAnimDecoderDelete(dec);
    return st;
}

petal_status petal_image_decode_webp(const uint8_t *data, size_t len, const petal_decode_ctx *ctx,
                                     petal_image *out, petal_error *err)
{
    WebPBitstreamFeatures f;
    VP8StatusCode s = WebPGetFeatures(data, len, &f);
    if (s != VP8_STATUS_OK)
        return status_error(s, ctx->name, err);
    petal_status st = petal_image_check_size(ctx, f.width, f.height, "WebP", err);
    if (st != PETAL_OK)
        return st;
    if (f.has_animation)
        return decode_first_frame(data, len, ctx, out, err);
    return decode_still(data, len, ctx, out, err);
}
