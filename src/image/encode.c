/* encode.c - JPEG encoding of petal images (report thumbnails, test and benchmark fixtures). */
#include "image/image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

typedef struct encode_failure {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} encode_failure;

static void encode_error_exit(j_common_ptr cinfo)
{
    encode_failure *f = (encode_failure *)cinfo->err;
    f->mgr.format_message(cinfo, f->msg);
    longjmp(f->jump, 1);
}

petal_status petal_image_encode_jpeg(const petal_image *img, int quality, uint8_t **out,
                                     size_t *len, const char *name, petal_error *err)
{
    struct jpeg_compress_struct c;
    encode_failure fail;
    /* volatile: read after longjmp, and libjpeg may have reallocated it meanwhile. */
    unsigned char *volatile mem = NULL;
    unsigned long size = 0;
    *out = NULL;
    *len = 0;
    if (img->width <= 0 || img->height <= 0 || img->pixels == NULL)
        return petal_error_set(err, PETAL_ERR_ARG, "%s: no pixels to encode", name);
    c.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = encode_error_exit;
    if (setjmp(fail.jump)) {
        jpeg_destroy_compress(&c);
        free(mem);
        return petal_error_set(err, PETAL_ERR_INTERNAL, "%s: JPEG encoding failed: %s", name,
                               fail.msg);
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, (unsigned char **)&mem, &size);
    c.image_width = (JDIMENSION)img->width;
    c.image_height = (JDIMENSION)img->height;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = img->pixels + (size_t)c.next_scanline * (size_t)img->width * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *out = mem;
    *len = size;
    return PETAL_OK;
}
