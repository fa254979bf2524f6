/* dhash.c - perceptual difference hash for near-duplicate detection in `petal scrape`. */
#include "scrape/scrape.h"

petal_status petal_scrape_dhash(const petal_image *img, uint64_t *out, petal_error *err)
{
    if (!img || !img->pixels || img->width < 1 || img->height < 1)
        return petal_error_set(err, PETAL_ERR_ARG, "dhash: empty image");

    /* Box-average the image into 9x8 cells of grey (Rec. 601 luma), so every pixel counts. */
    double grey[8][9];
    for (int cy = 0; cy < 8; cy++) {
        int y0 = (int)((long long)cy * img->height / 8);
        int y1 = (int)((long long)(cy + 1) * img->height / 8);
        if (y1 <= y0)
            y1 = y0 + 1;
        for (int cx = 0; cx < 9; cx++) {
            int x0 = (int)((long long)cx * img->width / 9);
            int x1 = (int)((long long)(cx + 1) * img->width / 9);
            if (x1 <= x0)
                x1 = x0 + 1;
            double sum = 0;
            for (int y = y0; y < y1 && y < img->height; y++) {
                const uint8_t *row = img->pixels + (size_t)y * (size_t)img->width * 3;
                for (int x = x0; x < x1 && x < img->width; x++) {
                    const uint8_t *p = row + (size_t)x * 3;
                    sum += 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
                }
            }
            grey[cy][cx] = sum / ((double)(y1 - y0) * (x1 - x0));
        }
    }

    uint64_t h = 0;
    for (int cy = 0; cy < 8; cy++)
        for (int cx = 0; cx < 8; cx++)
            h = (h << 1) | (grey[cy][cx] > grey[cy][cx + 1] ? 1u : 0u);
    *out = h;
    return PETAL_OK;
}

int petal_scrape_hamming(uint64_t a, uint64_t b)
{
    return __builtin_popcountll(a ^ b);
}
