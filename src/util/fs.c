/* fs.c - bounded file reads, atomic writes and folder listing. */
#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

petal_status petal_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                             petal_error *err)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return petal_error_set(err, errno == ENOENT ? PETAL_ERR_NOT_FOUND : PETAL_ERR_IO,
                               "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return petal_error_set(err, PETAL_ERR_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (max_bytes && size > max_bytes) {
        close(fd);
        return petal_error_set(err, PETAL_ERR_LIMIT, "%s: file is %zu bytes, over the limit of %zu",
                               path, size, max_bytes);
    }
    uint8_t *buf = malloc(size + 1);
    if (buf == NULL) {
        close(fd);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory for %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != size) {
        free(buf);
        return petal_error_set(err, PETAL_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got,
                               size);
    }
    buf[size] = 0;
    *data = buf;
    *len = size;
    return PETAL_OK;
}

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static petal_status write_and_rename(const char *path, const void *data, size_t len, int sync,
                                     petal_error *err)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (tmp == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        petal_status s = petal_error_set(err, PETAL_ERR_IO, "%s: cannot create temporary file: %s",
                                         path, strerror(errno));
        free(tmp);
        return s;
    }
    fchmod(fd, 0644);
    int bad = write_all(fd, data, len) != 0 || (sync && fsync(fd) != 0);
    int saved = errno;
    if (close(fd) != 0)
        bad = 1;
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        saved = errno;
    }
    if (bad) {
        unlink(tmp);
        free(tmp);
        return petal_error_set(err, PETAL_ERR_IO, "%s: cannot write: %s", path, strerror(saved));
    }
    free(tmp);
    return PETAL_OK;
}

petal_status petal_write_file_atomic(const char *path, const void *data, size_t len,
                                     petal_error *err)
{
    return write_and_rename(path, data, len, 1, err);
}

petal_status petal_write_file_replace(const char *path, const void *data, size_t len,
                                      petal_error *err)
{
    return write_and_rename(path, data, len, 0, err);
}

petal_status petal_append_file(const char *path, const void *data, size_t len, petal_error *err)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return petal_error_set(err, PETAL_ERR_IO, "%s: cannot open for append: %s", path,
                               strerror(errno));
    int bad = write_all(fd, data, len) != 0 || fsync(fd) != 0;
    int saved = errno;
    close(fd);
    if (bad)
        return petal_error_set(err, PETAL_ERR_IO, "%s: cannot append: %s", path, strerror(saved));
    return PETAL_OK;
}

petal_status petal_mkdirs(const char *path, petal_error *err)
{
    size_t n = strlen(path);
    if (n == 0)
        return petal_error_set(err, PETAL_ERR_ARG, "empty folder name");
    char *p = strdup(path);
    if (p == NULL)
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            petal_status s = petal_error_set(err, PETAL_ERR_IO, "%s: cannot create folder: %s", p,
                                             strerror(errno));
            free(p);
            return s;
        }
        p[i] = saved;
    }
    free(p);
    if (!petal_is_dir(path))
        return petal_error_set(err, PETAL_ERR_IO, "%s: exists and is not a folder", path);
    return PETAL_OK;
}

int petal_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int petal_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

petal_status petal_list_dir(const char *path, char ***names, size_t *count, petal_error *err)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(path);
    if (d == NULL)
        return petal_error_set(err, errno == ENOENT ? PETAL_ERR_NOT_FOUND : PETAL_ERR_IO,
                               "%s: cannot list folder: %s", path, strerror(errno));
    size_t cap = 0, n = 0;
    char **list = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(list, cap * sizeof *list);
            if (grown == NULL)
                goto nomem;
            list = grown;
        }
        if ((list[n] = strdup(e->d_name)) == NULL)
            goto nomem;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(list, n, sizeof *list, compare_names);
    *names = list;
    *count = n;
    return PETAL_OK;
nomem:
    closedir(d);
    petal_free_list(list, n);
    return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory listing folder", path);
}

void petal_free_list(char **names, size_t count)
{
    if (names == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

char *petal_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    while (a > 1 && dir[a - 1] == '/')
        a--;
    char *out = malloc(a + b + 2);
    if (out == NULL)
        return NULL;
    memcpy(out, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/')
        out[k++] = '/';
    memcpy(out + k, name, b + 1);
    return out;
}

const char *petal_path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int petal_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
