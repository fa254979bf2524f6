/* events.h - TensorBoard event files for `petal train --summaries_dir`.
 *
 * An event file is a sequence of TFRecords (length, masked CRC-32C of the length, data,
 * masked CRC-32C of the data) each holding one tensorflow.Event protobuf. petal writes them
 * by hand: a file_version event first, then Summary events with scalar values
 * (accuracy, cross_entropy) and, at the end, a histogram of the final weights.
 */
#ifndef PETAL_TRAIN_EVENTS_H
#define PETAL_TRAIN_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "util/status.h"

/* CRC-32C (Castagnoli) of data, and TFRecord's masked form of a CRC. */
uint32_t petal_crc32c(const void *data, size_t len);
uint32_t petal_crc32c_mask(uint32_t crc);

typedef struct petal_events petal_events;

/* Creates dir (and parents) and a new file dir/events.out.tfevents.<seconds>.<host> holding
 * the file_version event. Never touches files already in dir. */
petal_status petal_events_open(const char *dir, petal_events **out, petal_error *err);

/* Appends a scalar summary (tag, value) at step. */
petal_status petal_events_scalar(petal_events *ev, const char *tag, int64_t step, float value,
                                 petal_error *err);

/* Appends a histogram summary of n values at step (TensorFlow's default exponential
 * bucket limits). */
petal_status petal_events_histogram(petal_events *ev, const char *tag, int64_t step,
                                    const float *values, size_t n, petal_error *err);

/* Path of the event file. */
const char *petal_events_path(const petal_events *ev);

/* Flushes and closes; NULL is fine. */
void petal_events_close(petal_events *ev);

#endif
