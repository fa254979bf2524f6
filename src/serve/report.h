/* report.h - the training report: one self-contained HTML page that shows how a retrained
 * classifier learned and where it goes wrong.
 *
 * `petal train --report FILE` and `petal evaluate --report FILE` fill a petal_report and call
 * petal_report_write. The page has no external assets (inline CSS, inline SVG, thumbnails as
 * data: URIs) so it can be mailed or attached to a CI run as one file:
 *   - accuracy and cross-entropy per evaluation step, train and validation, as SVG line charts
 *     (left out when there are no steps, as for `petal evaluate`);
 *   - the confusion matrix as a heat map (rows: true class, columns: predicted class; each
 *     cell shaded by its share of the row);
 *   - per-class precision and recall (and photo counts);
 *   - thumbnails of misclassified photos with their true and predicted labels and the score.
 *
 * Sketch (the caller owns every array; the report only reads them):
 *     petal_report r = {0};
 *     r.title = "flowers5 on mobilenet_v2";
 *     r.n_classes = 5; r.class_names = names;
 *     r.steps = steps; r.n_steps = n;           (accuracy as fractions 0..1, NAN = not measured)
 *     r.confusion = counts;                      (n_classes^2 size_t counts, row = true class)
 *     r.misses = misses; r.n_misses = m;
 *     petal_report_write(&r, "report.html", &err);
 */
#ifndef PETAL_SERVE_REPORT_H
#define PETAL_SERVE_REPORT_H

#include <stddef.h>

#include "util/status.h"

/* Metrics logged at one evaluation step. Accuracies are fractions (0.934, not 93.4). Any value
 * may be NAN when it was not measured at that step (e.g. no validation set); such points are
 * left out of the curve. */
typedef struct petal_report_step {
    int step;
    float train_accuracy;
    float train_cross_entropy;
    float validation_accuracy;
    float validation_cross_entropy;
} petal_report_step;

/* A test photo the classifier got wrong. */
typedef struct petal_report_miss {
    const char *path;    /* photo file; read and shrunk to a thumbnail */
    int true_label;      /* index into class_names */
    int predicted_label; /* index into class_names */
    float score;         /* the model's score for predicted_label, 0..1 */
} petal_report_miss;

/* One "key: value" line in the page's summary, e.g. {"architecture", "mobilenet_v2"}. */
typedef struct petal_report_info {
    const char *key;
    const char *value;
} petal_report_info;

typedef struct petal_report {
    const char *title; /* page heading; NULL = "petal training report" */
    const petal_report_info *info;
    int n_info;

    int n_classes;            /* at least 1 */
    char *const *class_names; /* e.g. petal_metrics.labels */

    const petal_report_step *steps; /* in step order; may be NULL with n_steps 0 */
    int n_steps;

    /* Test results: counts[true * n_classes + predicted] (as petal_metrics.confusion).
     * NULL = no test section. Overall
     * accuracy, per-class precision (tp / predicted as the class) and recall (tp / photos of
     * the class) are computed from it. */
    const size_t *confusion;

    const petal_report_miss *misses;
    int n_misses;
    int max_thumbnails; /* thumbnails shown at most; 0 = 120 (the rest are listed by name) */
    int thumbnail_px;   /* longest thumbnail side in pixels; 0 = 128 */
} petal_report;

/* Renders the page into a new NUL-terminated malloc'd string (*len bytes, caller frees).
 * A photo that cannot be read gets a placeholder instead of a thumbnail and a warning in the
 * log; it does not fail the report. Fails with PETAL_ERR_ARG for an inconsistent struct
 * (no classes, a NULL class name, a miss with a label index out of range) and
 * PETAL_ERR_NOMEM. */
petal_status petal_report_render(const petal_report *report, char **html, size_t *len,
                                 petal_error *err);

/* Renders the page and writes it to path atomically (temp file + rename). */
petal_status petal_report_write(const petal_report *report, const char *path, petal_error *err);

/* Makes a JPEG thumbnail of an image file, its longest side max_px (never enlarged), as a
 * data URI "data:image/jpeg;base64,..." in a new malloc'd string. Errors name the file. */
petal_status petal_report_thumbnail(const char *path, int max_px, char **data_uri,
                                    petal_error *err);

#endif
