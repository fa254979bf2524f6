/* log.h - levelled logging to stderr, every line prefixed "petal: ".
 *
 * Quiet by default (warnings and errors); commands raise the level with --log_level or,
 * like `petal train`, choose INFO because their log lines are the product.
 */
#ifndef PETAL_UTIL_LOG_H
#define PETAL_UTIL_LOG_H

typedef enum petal_log_level {
    PETAL_LOG_ERROR = 0,
    PETAL_LOG_WARN = 1,
    PETAL_LOG_INFO = 2,
    PETAL_LOG_DEBUG = 3
} petal_log_level;

/* Sets the most verbose level that is printed. Thread-safe to call before threads start. */
void petal_log_set_level(petal_log_level level);
petal_log_level petal_log_get_level(void);

/* Parses "error", "warn", "info" or "debug"; returns 0 on success, -1 otherwise. */
int petal_log_parse_level(const char *name, petal_log_level *out);

/* Prints one line "petal: <message>" to stderr if level is enabled. Lines from several
 * threads never interleave; an active progress bar is cleared first. */
void petal_log(petal_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define petal_error_log(...) petal_log(PETAL_LOG_ERROR, __VA_ARGS__)
#define petal_warn(...)      petal_log(PETAL_LOG_WARN, __VA_ARGS__)
#define petal_info(...)      petal_log(PETAL_LOG_INFO, __VA_ARGS__)
#define petal_debug(...)     petal_log(PETAL_LOG_DEBUG, __VA_ARGS__)

/* Serialises writes to stderr with log lines (used by the progress bar). */
void petal_log_lock(void);
void petal_log_unlock(void);

/* Set by the progress bar: a callback that erases the bar before a log line is printed. */
void petal_log_set_clear_hook(void (*hook)(void));

#endif
