/* cache.h - the bottleneck cache: one small binary file of floats per (backbone, photo).
 *
 * Layout: <bottleneck_dir>/<first 16 hex digits of the backbone's SHA-256>/<2 hex>/<photo's
 * SHA-256><variant>.bn, where variant is empty for the photo as it is, or "-d<hash>-<k>" for
 * the k-th distorted copy made with a given distortion setting. Keying by content means a
 * renamed photo reuses its entry and an edited one does not. An entry is a 24-byte header
 * (magic "PTLBNECK", format version, value count, CRC-32C of the values, CRC-32C of the header)
 * and the values as little-endian floats. Entries are written to a temporary file and renamed,
 * so a run killed at any moment leaves complete entries or none; a torn or corrupt entry
 * (disk trouble, a copy cut short) fails its checks and is recomputed.
 */
#ifndef PETAL_TRAIN_CACHE_H
#define PETAL_TRAIN_CACHE_H

#include <stddef.h>

#include "util/status.h"

#define PETAL_BOTTLENECK_VERSION 1

/* The path of an entry as a new malloc'd string (NULL when out of memory). model_key is the
 * backbone's SHA-256 hex (its first 16 digits name the folder), image_key the photo's
 * SHA-256 hex, variant "" or a distortion suffix. */
char *petal_bottleneck_path(const char *cache_dir, const char *model_key, const char *image_key,
                            const char *variant);

/* Encodes n values as an entry into a new malloc'd buffer of *len bytes. */
unsigned char *petal_bottleneck_encode(const float *values, size_t n, size_t *len);

/* Decodes an entry: PETAL_OK with exactly n values in out; PETAL_ERR_FORMAT if the magic,
 * version, count or either checksum is wrong (message names `name`). */
petal_status petal_bottleneck_decode(const unsigned char *data, size_t len, size_t n, float *out,
                                     const char *name, petal_error *err);

/* Reads the entry at path into out (n values). PETAL_ERR_NOT_FOUND when absent,
 * PETAL_ERR_FORMAT when torn or corrupt. */
petal_status petal_bottleneck_read(const char *path, size_t n, float *out, petal_error *err);

/* Writes an entry atomically (temporary file in the same folder, then rename), creating
 * the folders. No fsync: a crash of the machine may lose recent entries, and the
 * checksums catch any that come back torn. */
petal_status petal_bottleneck_write(const char *path, const float *values, size_t n,
                                    petal_error *err);

#endif
