/* hash.c - message digests through OpenSSL's EVP interface. */
#include "util/hash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static void to_hex(const uint8_t *md, unsigned n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * n] = '\0';
}

void petal_sha1_hex(const void *data, size_t len, char out[PETAL_SHA1_HEX])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha1(), NULL);
    to_hex(md, n, out);
}

void petal_sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned n = 0;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void petal_sha256_hex(const void *data, size_t len, char out[PETAL_SHA256_HEX])
{
    uint8_t md[32];
    petal_sha256(data, len, md);
    to_hex(md, 32, out);
}

petal_status petal_sha256_file(const char *path, char out[PETAL_SHA256_HEX], petal_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return petal_error_set(err, PETAL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        fclose(f);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory for hashing", path);
    }
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    int bad = ferror(f);
    fclose(f);
    uint8_t md[32];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    if (bad)
        return petal_error_set(err, PETAL_ERR_IO, "%s: read error while hashing", path);
    to_hex(md, mdlen, out);
    return PETAL_OK;
}
