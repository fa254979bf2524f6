/* evaluate.c - a labelled photo folder through a classifier graph, into metrics. */
#include "train/evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "train/dataset.h"
#include "train/extract.h"
#include "util/fs.h"
#include "util/log.h"

petal_status petal_labels_load(const char *path, char ***labels, size_t *n, petal_error *err)
{
    uint8_t *data;
    size_t len;
    *labels = NULL;
    *n = 0;
    petal_status st = petal_read_file(path, 16u << 20, &data, &len, err);
    if (st != PETAL_OK)
        return st;
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += data[i] == '\n';
    char **out = calloc(cap, sizeof *out);
    if (!out) {
        free(data);
        return petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t count = 0;
    char *line = (char *)data, *end = (char *)data + len;
    while (line < end && st == PETAL_OK) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *stop = nl ? nl : end;
        if (stop > line && stop[-1] == '\r')
            stop[-1] = '\0';
        *stop = '\0';
        if (*line) {
            out[count] = petal_label_normalize(line);
            if (!out[count])
                st = petal_error_set(err, PETAL_ERR_NOMEM, "%s: out of memory", path);
            else
                count++;
        }
        line = stop + 1;
    }
    free(data);
    if (st == PETAL_OK && count == 0)
        st = petal_error_set(err, PETAL_ERR_FORMAT, "%s: no labels in the file", path);
    if (st != PETAL_OK) {
        petal_free_list(out, count);
        return st;
    }
    *labels = out;
    *n = count;
    return PETAL_OK;
}

/* Labels match when equal apart from leading and trailing spaces ("Roses!/" -> "roses "). */
static int same_label(const char *a, const char *b)
{
    while (*a == ' ')
        a++;
    while (*b == ' ')
        b++;
    size_t la = strlen(a), lb = strlen(b);
    while (la > 0 && a[la - 1] == ' ')
        la--;
    while (lb > 0 && b[lb - 1] == ' ')
        lb--;
    return la == lb && !strncmp(a, b, la);
}

static int argmax(const float *p, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (p[i] > p[best])
            best = i;
    return (int)best;
}

petal_status petal_evaluate_folder(const petal_evaluate_options *o, petal_metrics *m,
                                   petal_evaluate_result *res, petal_error *err)
{
    memset(res, 0, sizeof *res);
    memset(m, 0, sizeof *m);
    char **labels = NULL;
    size_t n_labels = 0;
    petal_model *model = NULL;
    petal_dataset ds = {0};
    petal_extract_job *jobs = NULL;
    float *probs = NULL;
    int *truth_of_class = NULL;
    petal_status st = petal_labels_load(o->labels, &labels, &n_labels, err);
    if (st == PETAL_OK)
        st = petal_model_load(o->graph, &model, err);
    if (st == PETAL_OK && model->n_outputs < 1)
        st = petal_error_set(err, PETAL_ERR_FORMAT, "%s: the graph has no output", o->graph);
    size_t n_out = 0;
    if (st == PETAL_OK) {
        n_out = petal_tensor_elements(&model->tensors[model->outputs[0]]);
        if (n_out != n_labels)
            st = petal_error_set(err, PETAL_ERR_ARG, "%s: %zu labels for %zu outputs of %s",
                                 o->labels, n_labels, n_out, o->graph);
    }
    if (st == PETAL_OK)
        st = petal_dataset_scan(o->image_dir, 0, 0, 1, &ds, err);
    if (st == PETAL_OK)
        st = petal_metrics_init(m, (int)n_labels, labels, err);
    if (st == PETAL_OK) {
        truth_of_class = malloc((size_t)ds.n_classes * sizeof *truth_of_class);
        jobs = calloc(ds.n_samples ? ds.n_samples : 1, sizeof *jobs);
        probs = malloc((ds.n_samples ? ds.n_samples : 1) * n_out * sizeof *probs);
        if (!truth_of_class || !jobs || !probs)
            st = petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    }
    for (int c = 0; st == PETAL_OK && c < ds.n_classes; c++) {
        truth_of_class[c] = -1;
        for (size_t l = 0; l < n_labels; l++)
            if (same_label(ds.classes[c].label, labels[l]))
                truth_of_class[c] = (int)l;
        if (truth_of_class[c] < 0)
            petal_warn("folder '%s' matches no label in %s; skipping its photos",
                       ds.classes[c].folder, o->labels);
    }
    size_t nj = 0;
    size_t *which = NULL;
    if (st == PETAL_OK && !(which = malloc((ds.n_samples ? ds.n_samples : 1) * sizeof *which)))
        st = petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; st == PETAL_OK && i < ds.n_samples; i++) {
        if (truth_of_class[ds.samples[i].label] < 0) {
            res->n_unmatched++;
            continue;
        }
        jobs[nj].path = ds.samples[i].path;
        jobs[nj].out = probs + nj * n_out;
        which[nj++] = i;
    }
    if (st == PETAL_OK) {
        petal_extract_options eo = {
            model, model->outputs[0], o->backend,   o->threads,    NULL,
            NULL,  o->input_mean,     o->input_std, o->max_pixels, "Evaluating"};
        petal_extract_stats stats;
        st = petal_extract_run(&eo, jobs, nj, &stats, err);
        res->n_failed = stats.failed;
    }
    for (size_t j = 0; st == PETAL_OK && j < nj; j++) {
        if (jobs[j].failed)
            continue;
        int truth = truth_of_class[ds.samples[which[j]].label];
        petal_metrics_add(m, truth, argmax(jobs[j].out, n_out));
    }
    if (st != PETAL_OK)
        petal_metrics_free(m);
    free(which);
    free(truth_of_class);
    free(jobs);
    free(probs);
    petal_dataset_free(&ds);
    petal_model_free(model);
    petal_free_list(labels, n_labels);
    return st;
}
