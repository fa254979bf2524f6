/* hash.h - SHA-1 and SHA-256 digests (OpenSSL libcrypto) as lowercase hex. */
#ifndef PETAL_UTIL_HASH_H
#define PETAL_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

#define PETAL_SHA1_HEX   41 /* 40 hex digits + NUL */
#define PETAL_SHA256_HEX 65 /* 64 hex digits + NUL */

void petal_sha1_hex(const void *data, size_t len, char out[PETAL_SHA1_HEX]);
void petal_sha256_hex(const void *data, size_t len, char out[PETAL_SHA256_HEX]);
void petal_sha256(const void *data, size_t len, uint8_t out[32]);

/* SHA-256 of a file's contents, streamed in blocks. */
petal_status petal_sha256_file(const char *path, char out[PETAL_SHA256_HEX], petal_error *err);

#endif
