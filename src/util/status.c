/* status.c - petal_error helpers: formatted one-line error messages. */
#include "util/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

petal_status petal_error_set(petal_error *err, petal_status code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* Keep it to one line: a message with embedded newlines would break log parsing. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return code;
}

void petal_error_prefix(petal_error *err, const char *prefix)
{
    if (err == NULL || prefix == NULL)
        return;
    char tmp[PETAL_ERROR_MAX];
    size_t n = strlen(prefix);
    if (n + 2 >= sizeof tmp)
        n = sizeof tmp - 3;
    memcpy(tmp, prefix, n);
    tmp[n] = ':';
    tmp[n + 1] = ' ';
    size_t rest = sizeof tmp - n - 3;
    size_t m = strnlen(err->msg, rest);
    memcpy(tmp + n + 2, err->msg, m);
    tmp[n + 2 + m] = '\0';
    memcpy(err->msg, tmp, sizeof tmp);
}

void petal_error_clear(petal_error *err)
{
    if (err == NULL)
        return;
    err->code = PETAL_OK;
    err->msg[0] = '\0';
}

const char *petal_status_name(petal_status code)
{
    switch (code) {
    case PETAL_OK:
        return "ok";
    case PETAL_ERR_IO:
        return "i/o error";
    case PETAL_ERR_FORMAT:
        return "format error";
    case PETAL_ERR_UNSUPPORTED:
        return "unsupported";
    case PETAL_ERR_LIMIT:
        return "limit exceeded";
    case PETAL_ERR_NOMEM:
        return "out of memory";
    case PETAL_ERR_ARG:
        return "invalid argument";
    case PETAL_ERR_NET:
        return "network error";
    case PETAL_ERR_NOT_FOUND:
        return "not found";
    case PETAL_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown error";
}
