/* fs.h - file helpers: bounded reads, atomic writes (temp file + rename), folders. */
#ifndef PETAL_UTIL_FS_H
#define PETAL_UTIL_FS_H

#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

/* Reads a whole file into a new malloc'd buffer (NUL-terminated one byte past *len, so text
 * can be used as a C string). Fails with PETAL_ERR_LIMIT if the file is larger than max_bytes
 * (0 = no limit) and PETAL_ERR_IO if it cannot be read. The caller frees *data. */
petal_status petal_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                             petal_error *err);

/* Writes data to path atomically: a temporary file in the same folder is written, flushed
 * with fsync and renamed over path, so readers see the old file or the new one, never a
 * torn one. The temporary file is removed on failure. */
petal_status petal_write_file_atomic(const char *path, const void *data, size_t len,
                                     petal_error *err);

/* As petal_write_file_atomic, but without fsync: after a crash the file may be missing or
 * hold garbage, never a mix of old and new bytes at the same moment for readers. For
 * entries that carry their own checksum and can be recomputed (caches), where an fsync per
 * small file would dominate the run. */
petal_status petal_write_file_replace(const char *path, const void *data, size_t len,
                                      petal_error *err);

/* Appends one record (typically a text line) to path with a single write() on an O_APPEND
 * descriptor followed by fsync, so concurrent or interrupted appends never interleave. */
petal_status petal_append_file(const char *path, const void *data, size_t len, petal_error *err);

/* Creates path and its missing parents (mode 0755). Existing folders are fine. */
petal_status petal_mkdirs(const char *path, petal_error *err);

/* 1 if path is an existing folder / regular file, else 0. */
int petal_is_dir(const char *path);
int petal_is_file(const char *path);

/* Lists the entries of a folder (no "." or ".."), sorted bytewise, into a new array of
 * malloc'd names. Hidden entries (leading '.') are skipped. Free with petal_free_list. */
petal_status petal_list_dir(const char *path, char ***names, size_t *count, petal_error *err);
void petal_free_list(char **names, size_t count);

/* Joins a folder and a name with exactly one '/' into a new malloc'd string. */
char *petal_path_join(const char *dir, const char *name);

/* The final component of a path (a pointer into path). */
const char *petal_path_basename(const char *path);

/* Number of online CPU cores, at least 1. */
int petal_cpu_count(void);

#endif
