/* progress.h - progress reporting for long jobs (bottleneck caching, scraping).
 *
 * On a terminal: one bar redrawn in place on stderr with count, rate and ETA, at most
 * ten times a second. Otherwise: a plain "petal: <label>: N/M ..." line every few seconds,
 * so logs captured to a file stay readable. Log lines printed meanwhile erase the bar first.
 */
#ifndef PETAL_UTIL_PROGRESS_H
#define PETAL_UTIL_PROGRESS_H

#include <stdint.h>

typedef struct petal_progress petal_progress;

/* Starts a progress report for total units (0 = unknown). unit names what is counted,
 * e.g. "images". Returns NULL when quiet (log level below INFO) - every call accepts NULL. */
petal_progress *petal_progress_start(const char *label, int64_t total, const char *unit);

/* Sets the number of finished units and an optional short extra text (may be NULL), e.g.
 * "3 failed". Thread-safe. */
void petal_progress_update(petal_progress *p, int64_t done, const char *extra);

/* Prints the final state on its own line and frees p. */
void petal_progress_finish(petal_progress *p);

/* Forces plain-line mode or terminal mode, for tests (-1 = decide by isatty). */
void petal_progress_force_tty(int tty);

#endif
