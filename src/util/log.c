/* log.c - levelled "petal: " logging to stderr, safe across threads. */
#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static petal_log_level current_level = PETAL_LOG_WARN;
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static void (*clear_hook)(void);

void petal_log_set_level(petal_log_level level)
{
    current_level = level;
}

petal_log_level petal_log_get_level(void)
{
    return current_level;
}

int petal_log_parse_level(const char *name, petal_log_level *out)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (petal_log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = PETAL_LOG_WARN;
        return 0;
    }
    return -1;
}

void petal_log_lock(void)
{
    pthread_mutex_lock(&log_mutex);
}

void petal_log_unlock(void)
{
    pthread_mutex_unlock(&log_mutex);
}

void petal_log_set_clear_hook(void (*hook)(void))
{
    clear_hook = hook;
}

void petal_log(petal_log_level level, const char *fmt, ...)
{
    if (level > current_level)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const char *tag = level == PETAL_LOG_ERROR  ? "error: "
                      : level == PETAL_LOG_WARN ? "warning: "
                                                : "";
    pthread_mutex_lock(&log_mutex);
    if (clear_hook)
        clear_hook();
    fprintf(stderr, "petal: %s%s\n", tag, line);
    fflush(stderr);
    pthread_mutex_unlock(&log_mutex);
}
