/* cache.c - bottleneck cache entries: naming, encoding with checksums, atomic writes. */
#include "train/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/events.h"
#include "util/fs.h"

#define HEADER_SIZE 24
static const char magic[8] = {'P', 'T', 'L', 'B', 'N', 'E', 'C', 'K'};

char *petal_bottleneck_path(const char *cache_dir, const char *model_key, const char *image_key,
                            const char *variant)
{
    size_t n = strlen(cache_dir) + strlen(image_key) + strlen(variant) + 32;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%.16s/%.2s/%s%s.bn", cache_dir, model_key, image_key, image_key,
                 variant);
    return p;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

unsigned char *petal_bottleneck_encode(const float *values, size_t n, size_t *len)
{
    *len = HEADER_SIZE + 4 * n;
    unsigned char *buf = malloc(*len);
    if (!buf)
        return NULL;
    unsigned char *body = buf + HEADER_SIZE;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &values[i], 4);
        put_u32(body + 4 * i, u);
    }
    memcpy(buf, magic, 8);
    put_u32(buf + 8, PETAL_BOTTLENECK_VERSION);
    put_u32(buf + 12, (uint32_t)n);
    put_u32(buf + 16, petal_crc32c(body, 4 * n));
    put_u32(buf + 20, petal_crc32c(buf, 20));
    return buf;
}

petal_status petal_bottleneck_decode(const unsigned char *data, size_t len, size_t n, float *out,
                                     const char *name, petal_error *err)
{
    if (len < HEADER_SIZE || memcmp(data, magic, 8) != 0)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: not a bottleneck cache entry", name);
    if (get_u32(data + 20) != petal_crc32c(data, 20))
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: header checksum mismatch", name);
    if (get_u32(data + 8) != PETAL_BOTTLENECK_VERSION)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: cache format version %u, expected %d",
                               name, get_u32(data + 8), PETAL_BOTTLENECK_VERSION);
    if (get_u32(data + 12) != n || len != HEADER_SIZE + 4 * n)
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: %zu bytes for %u values, expected %zu",
                               name, len, get_u32(data + 12), n);
    const unsigned char *body = data + HEADER_SIZE;
    if (get_u32(data + 16) != petal_crc32c(body, 4 * n))
        return petal_error_set(err, PETAL_ERR_FORMAT, "%s: values checksum mismatch (torn entry)",
                               name);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = get_u32(body + 4 * i);
        memcpy(&out[i], &u, 4);
    }
    return PETAL_OK;
}

petal_status petal_bottleneck_read(const char *path, size_t n, float *out, petal_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return petal_error_set(err, errno == ENOENT ? PETAL_ERR_NOT_FOUND : PETAL_ERR_IO, "%s: %s",
                               path, strerror(errno));
    size_t want = HEADER_SIZE + 4 * n;
    unsigned char stack[HEADER_SIZE + 4 * 2048 + 1];
    unsigned char *buf = want + 1 <= sizeof stack ? stack : malloc(want + 1);
    if (!buf) {
        close(fd);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
    }
    /* Read one byte more than expected so an overlong file is caught too. */
    size_t got = 0;
    while (got < want + 1) {
        ssize_t r = read(fd, buf + got, want + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    petal_status st = petal_bottleneck_decode(buf, got, n, out, path, err);
    if (buf != stack)
        free(buf);
    return st;
}

petal_status petal_bottleneck_write(const char *path, const float *values, size_t n,
                                    petal_error *err)
{
    size_t len;
    unsigned char *data = petal_bottleneck_encode(values, n, &len);
    if (!data)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
    char *dir = strdup(path);
    char *tmp = malloc(strlen(path) + 16);
    petal_status st = PETAL_OK;
    if (!dir || !tmp) {
        st = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        st = petal_mkdirs(dir, err);
        if (st != PETAL_OK)
            goto done;
    }
    sprintf(tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = petal_error_set(err, PETAL_ERR_IO, "%s: cannot create temporary file: %s", path,
                             strerror(errno));
        goto done;
    }
    fchmod(fd, 0644);
    size_t off = 0;
    int bad = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            bad = 1;
            break;
        }
        off += (size_t)w;
    }
    int saved = errno;
    if (close(fd) != 0)
        bad = 1;
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        unlink(tmp);
        st = petal_error_set(err, PETAL_ERR_IO, "%s: cannot write: %s", path, strerror(saved));
    }
done:
    free(tmp);
    free(dir);
    free(data);
    return st;
}
