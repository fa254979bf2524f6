/* timer.h - monotonic wall-clock time for measurements and logs. */
#ifndef PETAL_UTIL_TIMER_H
#define PETAL_UTIL_TIMER_H

/* Milliseconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double petal_now_ms(void);

#endif
