/* status.h - result codes and error messages shared by every petal area.
 *
 * Every fallible petal function returns a petal_status and, on failure, fills a
 * caller-provided petal_error with one line that names the file (or URL, or
 * request) and the problem, ready to print after "petal: ".  Bad input never
 * aborts: contract violations by the caller are the only asserts.
 */
#ifndef PETAL_UTIL_STATUS_H
#define PETAL_UTIL_STATUS_H

#include <stddef.h>

typedef enum petal_status {
    PETAL_OK = 0,
    PETAL_ERR_IO,          /* a file or socket could not be read or written */
    PETAL_ERR_FORMAT,      /* bytes that do not parse: corrupt, truncated, wrong kind */
    PETAL_ERR_UNSUPPORTED, /* well formed but outside what petal implements */
    PETAL_ERR_LIMIT,       /* a configured limit was hit (pixels, bytes, time) */
    PETAL_ERR_NOMEM,       /* an allocation failed */
    PETAL_ERR_ARG,         /* the caller asked for something invalid */
    PETAL_ERR_NET,         /* a network transfer failed */
    PETAL_ERR_NOT_FOUND,   /* a named thing (file, tensor, label) does not exist */
    PETAL_ERR_INTERNAL     /* a library below petal failed unexpectedly */
} petal_status;

#define PETAL_ERROR_MAX 512

typedef struct petal_error {
    petal_status code;
    char msg[PETAL_ERROR_MAX];
} petal_error;

/* Records code and a printf-style message in err (which may be NULL) and returns code,
 * so that failures read `return petal_error_set(err, PETAL_ERR_FORMAT, "%s: ...", path);`. */
petal_status petal_error_set(petal_error *err, petal_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with "prefix: " (used to add a file name). */
void petal_error_prefix(petal_error *err, const char *prefix);

/* Clears err to PETAL_OK with an empty message. */
void petal_error_clear(petal_error *err);

/* A short constant name for a status code, e.g. "format error". */
const char *petal_status_name(petal_status code);

#endif
