/* metrics.c - confusion counts and the scores derived from them, printed or as JSON. */
#include "train/metrics.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

petal_status petal_metrics_init(petal_metrics *m, int n_classes, char *const *labels,
                                petal_error *err)
{
    memset(m, 0, sizeof *m);
    size_t nc = (size_t)(n_classes > 0 ? n_classes : 1);
    m->labels = calloc(nc, sizeof *m->labels);
    m->confusion = calloc(nc * nc, sizeof *m->confusion);
    m->n_classes = n_classes;
    int ok = m->labels && m->confusion;
    for (int c = 0; ok && c < n_classes; c++)
        ok = (m->labels[c] = strdup(labels[c])) != NULL;
    if (!ok) {
        petal_metrics_free(m);
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory for metrics");
    }
    return PETAL_OK;
}

void petal_metrics_free(petal_metrics *m)
{
    for (int c = 0; m->labels && c < m->n_classes; c++)
        free(m->labels[c]);
    free(m->labels);
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

void petal_metrics_add(petal_metrics *m, int truth, int predicted)
{
    if (truth < 0 || truth >= m->n_classes || predicted < 0 || predicted >= m->n_classes)
        return;
    m->confusion[(size_t)truth * (size_t)m->n_classes + (size_t)predicted]++;
    m->n++;
}

static size_t cell(const petal_metrics *m, int t, int p)
{
    return m->confusion[(size_t)t * (size_t)m->n_classes + (size_t)p];
}

double petal_metrics_accuracy(const petal_metrics *m)
{
    size_t right = 0;
    for (int c = 0; c < m->n_classes; c++)
        right += cell(m, c, c);
    return m->n ? (double)right / (double)m->n : 0.0;
}

double petal_metrics_precision(const petal_metrics *m, int c)
{
    size_t predicted = 0;
    for (int t = 0; t < m->n_classes; t++)
        predicted += cell(m, t, c);
    return predicted ? (double)cell(m, c, c) / (double)predicted : 0.0;
}

static size_t support(const petal_metrics *m, int c)
{
    size_t n = 0;
    for (int p = 0; p < m->n_classes; p++)
        n += cell(m, c, p);
    return n;
}

double petal_metrics_recall(const petal_metrics *m, int c)
{
    size_t n = support(m, c);
    return n ? (double)cell(m, c, c) / (double)n : 0.0;
}

void petal_metrics_print(const petal_metrics *m, FILE *out)
{
    int width = 5;
    for (int c = 0; c < m->n_classes; c++) {
        int l = (int)strlen(m->labels[c]);
        width = l > width ? l : width;
    }
    if (width > 40)
        width = 40;
    fprintf(out, "accuracy = %.1f%% (N=%zu)\n\n", 100.0 * petal_metrics_accuracy(m), m->n);
    fprintf(out, "%-*s  precision  recall  support\n", width, "class");
    for (int c = 0; c < m->n_classes; c++)
        fprintf(out, "%-*.*s  %9.3f  %6.3f  %7zu\n", width, width, m->labels[c],
                petal_metrics_precision(m, c), petal_metrics_recall(m, c), support(m, c));
    fprintf(out, "\nconfusion matrix (rows: true class, columns: predicted, in class order)\n");
    for (int t = 0; t < m->n_classes; t++) {
        fprintf(out, "%-*.*s ", width, width, m->labels[t]);
        for (int p = 0; p < m->n_classes; p++)
            fprintf(out, " %4zu", cell(m, t, p));
        fputc('\n', out);
    }
}

char *petal_metrics_json(const petal_metrics *m)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddNumberToObject(root, "accuracy", petal_metrics_accuracy(m));
    cJSON_AddNumberToObject(root, "n", (double)m->n);
    cJSON *per = cJSON_AddObjectToObject(root, "per_class");
    cJSON *labels = cJSON_AddArrayToObject(root, "labels");
    cJSON *conf = cJSON_AddArrayToObject(root, "confusion");
    for (int c = 0; per && labels && conf && c < m->n_classes; c++) {
        cJSON *o = cJSON_AddObjectToObject(per, m->labels[c]);
        if (o) {
            cJSON_AddNumberToObject(o, "precision", petal_metrics_precision(m, c));
            cJSON_AddNumberToObject(o, "recall", petal_metrics_recall(m, c));
            cJSON_AddNumberToObject(o, "support", (double)support(m, c));
        }
        cJSON_AddItemToArray(labels, cJSON_CreateString(m->labels[c]));
        cJSON *row = cJSON_CreateArray();
        for (int p = 0; row && p < m->n_classes; p++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)cell(m, c, p)));
        cJSON_AddItemToArray(conf, row);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
