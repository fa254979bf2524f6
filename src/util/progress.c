/* progress.c - terminal progress bar, or periodic plain lines when not on a terminal. */
#include "util/progress.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/timer.h"

struct petal_progress {
    char label[64];
    char unit[24];
    char extra[96];
    int64_t total, done;
    double start_ms, last_draw_ms;
    int tty;
};

static int forced_tty = -1;
static petal_progress *active; /* the bar currently on screen, guarded by the log lock */

void petal_progress_force_tty(int tty)
{
    forced_tty = tty;
}

/* Erases the bar line so a log line can take its place; called with the log lock held. */
static void clear_bar(void)
{
    if (active && active->tty)
        fputs("\r\033[K", stderr);
}

static void format_eta(double seconds, char *buf, size_t n)
{
    if (seconds < 0 || seconds > 360000) {
        snprintf(buf, n, "--:--");
        return;
    }
    int s = (int)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, n, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, n, "%02d:%02d", s / 60, s % 60);
}

static void draw(petal_progress *p, int final)
{
    double elapsed = (petal_now_ms() - p->start_ms) / 1000.0;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    char eta[32];
    format_eta(rate > 0 && p->total > 0 ? (double)(p->total - p->done) / rate : -1, eta,
               sizeof eta);
    const char *sep = p->extra[0] ? ", " : "";
    if (p->tty) {
        char bar[31];
        int width = 30, filled = p->total > 0 ? (int)(width * p->done / p->total) : 0;
        for (int i = 0; i < width; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %s, %.1f/s, ETA %s%s%s", p->label, bar,
                (long long)p->done, (long long)p->total, p->unit, rate, eta, sep, p->extra);
        if (final)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "petal: %s: %lld/%lld %s, %.1f/s, ETA %s%s%s\n", p->label,
                (long long)p->done, (long long)p->total, p->unit, rate, eta, sep, p->extra);
    }
    fflush(stderr);
}

petal_progress *petal_progress_start(const char *label, int64_t total, const char *unit)
{
    if (petal_log_get_level() < PETAL_LOG_INFO)
        return NULL;
    petal_progress *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    p->total = total;
    p->start_ms = p->last_draw_ms = petal_now_ms();
    p->tty = forced_tty >= 0 ? forced_tty : isatty(STDERR_FILENO);
    petal_log_lock();
    active = p;
    petal_log_set_clear_hook(clear_bar);
    petal_log_unlock();
    return p;
}

void petal_progress_update(petal_progress *p, int64_t done, const char *extra)
{
    if (p == NULL)
        return;
    petal_log_lock();
    p->done = done;
    if (extra)
        snprintf(p->extra, sizeof p->extra, "%s", extra);
    double now = petal_now_ms();
    double interval = p->tty ? 100.0 : 5000.0;
    if (now - p->last_draw_ms >= interval) {
        p->last_draw_ms = now;
        draw(p, 0);
    }
    petal_log_unlock();
}

void petal_progress_finish(petal_progress *p)
{
    if (p == NULL)
        return;
    petal_log_lock();
    if (p->tty) {
        draw(p, 1);
    } else {
        double elapsed = (petal_now_ms() - p->start_ms) / 1000.0;
        fprintf(stderr, "petal: %s: %lld/%lld %s in %.1f s (%.1f/s)%s%s\n", p->label,
                (long long)p->done, (long long)p->total, p->unit, elapsed,
                elapsed > 0 ? (double)p->done / elapsed : 0.0, p->extra[0] ? ", " : "", p->extra);
    }
    if (active == p) {
        active = NULL;
        petal_log_set_clear_hook(NULL);
    }
    petal_log_unlock();
    free(p);
}
