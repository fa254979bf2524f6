/* metrics.h - how well a classifier does on labelled photos: accuracy, per-class precision
 * and recall, and the confusion matrix, as text or JSON (`petal evaluate`, `petal train`).
 */
#ifndef PETAL_TRAIN_METRICS_H
#define PETAL_TRAIN_METRICS_H

#include <stddef.h>
#include <stdio.h>

#include "util/status.h"

typedef struct petal_metrics {
    int n_classes;
    char **labels;     /* n_classes label strings (copied) */
    size_t *confusion; /* [truth][predicted] counts, n_classes^2 */
    size_t n;          /* rows counted */
} petal_metrics;

/* Zeroed counts for n_classes labels (copied). */
petal_status petal_metrics_init(petal_metrics *m, int n_classes, char *const *labels,
                                petal_error *err);
void petal_metrics_free(petal_metrics *m);

/* Counts one photo whose true class is truth and predicted class is predicted. */
void petal_metrics_add(petal_metrics *m, int truth, int predicted);

/* Fraction of photos predicted right (0 when none). */
double petal_metrics_accuracy(const petal_metrics *m);

/* Precision and recall of class c (0 when undefined). */
double petal_metrics_precision(const petal_metrics *m, int c);
double petal_metrics_recall(const petal_metrics *m, int c);

/* Writes the text report: accuracy, a per-class table and the confusion matrix. */
void petal_metrics_print(const petal_metrics *m, FILE *out);

/* One JSON object {"accuracy": f, "n": N, "per_class": {label: {"precision", "recall",
 * "support"}}, "labels": [...], "confusion": [[...]]} as a new malloc'd string, or NULL. */
char *petal_metrics_json(const petal_metrics *m);

#endif
