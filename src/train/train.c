/* train.c - `petal train`: the retrain.py pipeline from photo folder to .tflite. */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "train/arch.h"
#include "train/cache.h"
#include "train/dataset.h"
#include "train/events.h"
#include "train/export.h"
#include "train/extract.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/timer.h"

void petal_train_defaults(petal_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->output_graph = "/tmp/output_graph.tflite";
    o->output_labels = "/tmp/output_labels.txt";
    o->bottleneck_dir = "/tmp/bottleneck";
    o->summaries_dir = "/tmp/retrain_logs";
    o->intermediate_output_graphs_dir = "/tmp/intermediate_graph/";
    o->architecture = PETAL_ARCH_DEFAULT;
    o->final_tensor_name = "final_result";
    o->how_many_training_steps = 4000;
    o->learning_rate = 0.01;
    o->validation_percentage = 10;
    o->testing_percentage = 10;
    o->eval_step_interval = 10;
    o->train_batch_size = 100;
    o->validation_batch_size = 100;
    o->test_batch_size = -1;
    o->optimizer = PETAL_OPT_SGD;
    o->backend = PETAL_BACKEND_AUTO;
    o->input_mean = 127.5f;
    o->input_std = 127.5f;
    o->shard_count = 1;
}

int petal_train_find_bottleneck(const petal_model *model, const char *name)
{
    if (!name || !*name)
        return model->n_outputs > 0 ? model->outputs[0] : -1;
    int t = petal_model_find_tensor(model, name);
    if (t >= 0)
        return t;
    size_t len = strlen(name);
    for (int i = 0; i < model->n_tensors; i++) {
        const char *s = model->tensors[i].data ? NULL : model->tensors[i].name; /* no constants */
        while (s && *s) {
            const char *end = strchr(s, ';');
            size_t n = end ? (size_t)(end - s) : strlen(s);
            if (n == len && !strncmp(s, name, len))
                return i;
            s = end ? end + 1 : NULL;
        }
    }
    return -1;
}

/* ---- The state of one run ------------------------------------------------------------- */

typedef struct run {
    const petal_train_options *o;
    petal_model *model;
    char *model_path;
    char model_key[PETAL_SHA256_HEX];
    int bottleneck;
    size_t N; /* features */
    int C;    /* classes */
    petal_dataset ds;
    float *features;     /* [n_samples][N] */
    unsigned char *good; /* per sample: features are valid */
    size_t **train_by_class;
    size_t *n_train_by_class;
    int *train_classes; /* classes that have training photos */
    int n_train_classes;
    size_t *valid, *test; /* sample indices */
    size_t n_valid, n_test;
    int K;             /* distorted copies */
    float *distorted;  /* [sample][K][N] for training samples, else unused */
    size_t *dist_slot; /* sample -> slot in distorted */
    uint64_t rng;
    petal_events *train_ev, *valid_ev;
} run;

static int distortions_on(const petal_distortions *d)
{
    return d->flip_left_right || d->random_crop > 0 || d->random_scale > 0 ||
           d->random_brightness > 0;
}

/* retrain.py prints datetime.now(): "2026-12-03 18:10:40.123456". */
static void now_string(char *buf, size_t n)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, n, "%s.%06ld", base, (long)tv.tv_usec);
}

/* ---- Setup: backbone and photos ------------------------------------------------------- */

static petal_status load_backbone(run *r, petal_error *err)
{
    const petal_train_options *o = r->o;
    const char *tensor = o->bottleneck_tensor;
    petal_status st;
    if (o->model_file) {
        r->model_path = strdup(o->model_file);
        if (!r->model_path)
            return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    } else {
        const petal_arch *a = petal_arch_find(o->architecture);
        if (!a) {
            size_t n;
            const petal_arch *all = petal_arch_list(&n);
            char names[256] = "";
            for (size_t i = 0; i < n; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                         all[i].name);
            return petal_error_set(err, PETAL_ERR_ARG,
                                   "unknown --architecture '%s' (known: %s; or --model FILE "
                                   "--bottleneck_tensor NAME)",
                                   o->architecture, names);
        }
        st = petal_arch_locate(a->file, o->model_dir, &r->model_path, err);
        if (st != PETAL_OK)
            return st;
        if (!tensor)
            tensor = a->bottleneck;
    }
    st = petal_sha256_file(r->model_path, r->model_key, err);
    if (st == PETAL_OK)
        st = petal_model_load(r->model_path, &r->model, err);
    if (st != PETAL_OK)
        return st;
    r->bottleneck = petal_train_find_bottleneck(r->model, tensor);
    if (r->bottleneck < 0)
        return petal_error_set(err, PETAL_ERR_NOT_FOUND,
                               "%s: no tensor named '%s' (see `petal info %s` for the names)",
                               r->model_path, tensor ? tensor : "(output)", r->model_path);
    r->N = petal_extract_n_features(r->model, r->bottleneck);
    petal_info("Backbone %s, bottleneck '%s' (%zu values)", r->model_path,
               r->model->tensors[r->bottleneck].name, r->N);
    return PETAL_OK;
}

static petal_status alloc_or_fail(void *p, petal_error *err)
{
    return p ? PETAL_OK : petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
}

/* Extracts the bottlenecks of every photo (or of this shard's share). */
static petal_status extract_all(run *r, petal_train_result *res, petal_error *err)
{
    const petal_train_options *o = r->o;
    size_t n = r->ds.n_samples;
    petal_status st = alloc_or_fail(r->features = malloc(n * r->N * sizeof(float)), err);
    if (st == PETAL_OK)
        st = alloc_or_fail(r->good = calloc(n ? n : 1, 1), err);
    petal_extract_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    size_t *which = malloc((n ? n : 1) * sizeof *which);
    if (st == PETAL_OK && (!jobs || !which))
        st = petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    size_t nj = 0;
    for (size_t i = 0; st == PETAL_OK && i < n; i++) {
        if (o->shard_count > 1 && (int)(i % (size_t)o->shard_count) != o->shard_index)
            continue;
        jobs[nj].path = r->ds.samples[i].path;
        jobs[nj].out = r->features + i * r->N;
        which[nj++] = i;
    }
    petal_extract_options eo = {
        r->model,     r->bottleneck, o->backend,   o->threads,    o->bottleneck_dir,
        r->model_key, o->input_mean, o->input_std, o->max_pixels, "Creating bottlenecks"};
    petal_extract_stats stats;
    if (st == PETAL_OK)
        st = petal_extract_run(&eo, jobs, nj, &stats, err);
    if (st == PETAL_OK) {
        res->extract_ms = stats.ms;
        res->n_failed = stats.failed;
        petal_info("%zu bottleneck files created, %zu from the cache, %zu failed (%.1f s, "
                   "%.1f images/s)",
                   stats.computed, stats.cached, stats.failed, stats.ms / 1000,
                   stats.ms > 0 ? (double)nj / (stats.ms / 1000) : 0.0);
        for (size_t j = 0; j < nj; j++)
            r->good[which[j]] = !jobs[j].failed;
        if (stats.failed) {
            petal_warn("%zu photos could not be used and were skipped:", stats.failed);
            for (size_t j = 0; j < nj; j++)
                if (jobs[j].failed)
                    petal_warn("  %s", jobs[j].error);
        }
    }
    free(jobs);
    free(which);
    return st;
}

/* Groups usable photos: training photos by class, validation and test lists. */
static petal_status index_splits(run *r, petal_error *err)
{
    size_t n = r->ds.n_samples;
    r->train_by_class = calloc((size_t)r->C, sizeof *r->train_by_class);
    r->n_train_by_class = calloc((size_t)r->C, sizeof *r->n_train_by_class);
    r->train_classes = calloc((size_t)r->C, sizeof *r->train_classes);
    r->valid = malloc((n ? n : 1) * sizeof *r->valid);
    r->test = malloc((n ? n : 1) * sizeof *r->test);
    if (!r->train_by_class || !r->n_train_by_class || !r->train_classes || !r->valid || !r->test)
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    for (int c = 0; c < r->C; c++) {
        r->train_by_class[c] =
            malloc((r->ds.classes[c].count[PETAL_SPLIT_TRAIN] + 1) * sizeof **r->train_by_class);
        if (!r->train_by_class[c])
            return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (!r->good[i])
            continue;
        petal_sample *s = &r->ds.samples[i];
        if (s->split == PETAL_SPLIT_TRAIN)
            r->train_by_class[s->label][r->n_train_by_class[s->label]++] = i;
        else if (s->split == PETAL_SPLIT_VALID)
            r->valid[r->n_valid++] = i;
        else
            r->test[r->n_test++] = i;
    }
    for (int c = 0; c < r->C; c++) {
        if (r->n_train_by_class[c])
            r->train_classes[r->n_train_classes++] = c;
        else
            petal_warn("class '%s' has no training photos; it will never be predicted",
                       r->ds.classes[c].label);
    }
    if (r->n_train_classes == 0)
        return petal_error_set(err, PETAL_ERR_ARG, "%s: no usable training photos",
                               r->o->image_dir);
    return PETAL_OK;
}

/* Hash of the distortion settings, naming their cache entries. */
static void distortion_variant(const petal_distortions *d, int k, char *buf, size_t n)
{
    char text[128], hex[PETAL_SHA256_HEX];
    snprintf(text, sizeof text, "flip=%d crop=%g scale=%g bright=%g", d->flip_left_right,
             (double)d->random_crop, (double)d->random_scale, (double)d->random_brightness);
    petal_sha256_hex(text, strlen(text), hex);
    snprintf(buf, n, "-d%.8s-%d", hex, k);
}

/* K distorted copies of every training photo, computed once (and cached). */
static petal_status extract_distorted(run *r, petal_error *err)
{
    const petal_train_options *o = r->o;
    size_t n_train = 0;
    for (int c = 0; c < r->C; c++)
        n_train += r->n_train_by_class[c];
    size_t nj = n_train * (size_t)r->K;
    r->distorted = malloc((nj ? nj : 1) * r->N * sizeof(float));
    r->dist_slot = malloc((r->ds.n_samples ? r->ds.n_samples : 1) * sizeof *r->dist_slot);
    petal_extract_job *jobs = calloc(nj ? nj : 1, sizeof *jobs);
    char(*variants)[32] = calloc(nj ? nj : 1, sizeof *variants);
    if (!r->distorted || !r->dist_slot || !jobs || !variants) {
        free(jobs);
        free(variants);
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory for distorted copies");
    }
    size_t slot = 0, j = 0;
    for (int c = 0; c < r->C; c++)
        for (size_t t = 0; t < r->n_train_by_class[c]; t++, slot++) {
            size_t i = r->train_by_class[c][t];
            r->dist_slot[i] = slot;
            for (int k = 0; k < r->K; k++, j++) {
                distortion_variant(&o->distort, k, variants[j], sizeof variants[j]);
                char hex[PETAL_SHA1_HEX];
                petal_sha1_hex(r->ds.samples[i].path, strlen(r->ds.samples[i].path), hex);
                jobs[j].path = r->ds.samples[i].path;
                jobs[j].distort = &o->distort;
                jobs[j].variant = variants[j];
                jobs[j].seed = petal_train_rng_seed(strtoull(hex + 24, NULL, 16) ^ (uint64_t)k);
                jobs[j].out = r->distorted + j * r->N;
            }
        }
    petal_extract_options eo = {r->model,          r->bottleneck,     o->backend,    o->threads,
                                o->bottleneck_dir, r->model_key,      o->input_mean, o->input_std,
                                o->max_pixels,     "Distorted copies"};
    petal_extract_stats stats;
    petal_status st = petal_extract_run(&eo, jobs, nj, &stats, err);
    /* A copy that failed falls back to the undistorted photo. */
    for (size_t q = 0; st == PETAL_OK && q < nj; q++)
        if (jobs[q].failed) {
            size_t i = 0;
            for (size_t s = 0; s < r->ds.n_samples; s++)
                if (r->ds.samples[s].path == jobs[q].path)
                    i = s;
            memcpy(jobs[q].out, r->features + i * r->N, r->N * sizeof(float));
        }
    if (st == PETAL_OK)
        petal_info("%d distorted copies of %zu training photos ready (%zu computed, %zu cached)",
                   r->K, n_train, stats.computed, stats.cached);
    free(jobs);
    free(variants);
    return st;
}

/* ---- Batches ------------------------------------------------------------------------- */

/* Fills x/y with n class-balanced training rows (retrain.py: a class uniformly, then one of
 * its photos uniformly; with distorted copies, one copy uniformly). */
static void training_batch(run *r, size_t n, float *x, int *y)
{
    for (size_t b = 0; b < n; b++) {
        int c = r->train_classes[petal_train_rng_below(&r->rng, (uint32_t)r->n_train_classes)];
        size_t i =
            r->train_by_class[c][petal_train_rng_below(&r->rng, (uint32_t)r->n_train_by_class[c])];
        const float *src = r->features + i * r->N;
        if (r->K > 0) {
            size_t k = petal_train_rng_below(&r->rng, (uint32_t)r->K);
            src = r->distorted + (r->dist_slot[i] * (size_t)r->K + k) * r->N;
        }
        memcpy(x + b * r->N, src, r->N * sizeof(float));
        y[b] = c;
    }
}

/* retrain.py's per-step distortion: the batch's photos decoded, distorted and run now. */
static void distort_batch_live(run *r, size_t n, float *x, int *y)
{
    const petal_train_options *o = r->o;
    petal_extract_job *jobs = calloc(n, sizeof *jobs);
    if (!jobs) {
        training_batch(r, n, x, y);
        return;
    }
    size_t *src = malloc(n * sizeof *src);
    for (size_t b = 0; src && b < n; b++) {
        int c = r->train_classes[petal_train_rng_below(&r->rng, (uint32_t)r->n_train_classes)];
        size_t i =
            r->train_by_class[c][petal_train_rng_below(&r->rng, (uint32_t)r->n_train_by_class[c])];
        src[b] = i;
        y[b] = c;
        jobs[b].path = r->ds.samples[i].path;
        jobs[b].distort = &o->distort;
        jobs[b].seed = petal_train_rng_next(&r->rng) | 1;
        jobs[b].out = x + b * r->N;
    }
    petal_extract_options eo = {r->model, r->bottleneck, o->backend,   o->threads,    NULL,
                                NULL,     o->input_mean, o->input_std, o->max_pixels, NULL};
    petal_extract_stats stats;
    petal_error err;
    petal_log_level level = petal_log_get_level();
    if (level > PETAL_LOG_WARN)
        petal_log_set_level(PETAL_LOG_WARN); /* no progress bar per step */
    petal_status st = src ? petal_extract_run(&eo, jobs, n, &stats, &err) : PETAL_ERR_NOMEM;
    petal_log_set_level(level);
    for (size_t b = 0; src && b < n; b++)
        if (st != PETAL_OK || jobs[b].failed)
            memcpy(x + b * r->N, r->features + src[b] * r->N, r->N * sizeof(float));
    if (!src)
        training_batch(r, n, x, y);
    free(src);
    free(jobs);
}

/* Gathers rows: all of list (want < 0), or want class-balanced random picks with replacement
 * as retrain.py draws them (a class uniformly among those present, then one of its photos).
 * list holds sample indices in sample order, so each class's entries are contiguous. */
static size_t gather(run *r, const size_t *list, size_t n_list, int want, float *x, int *y,
                     size_t *picked)
{
    size_t n = want < 0 ? n_list : (size_t)want;
    if (n_list == 0)
        return 0;
    size_t *start = NULL, *count = NULL;
    int present = 0;
    if (want >= 0) {
        start = calloc((size_t)r->C, sizeof *start);
        count = calloc((size_t)r->C, sizeof *count);
        if (!start || !count) {
            free(start);
            free(count);
            return 0;
        }
        for (size_t k = 0; k < n_list; k++) {
            int c = r->ds.samples[list[k]].label;
            if (k == 0 || r->ds.samples[list[k - 1]].label != c) {
                start[present] = k;
                count[present++] = 0;
            }
            count[present - 1]++;
        }
    }
    for (size_t b = 0; b < n; b++) {
        size_t i;
        if (want < 0) {
            i = list[b];
        } else {
            uint32_t c = petal_train_rng_below(&r->rng, (uint32_t)present);
            i = list[start[c] + petal_train_rng_below(&r->rng, (uint32_t)count[c])];
        }
        memcpy(x + b * r->N, r->features + i * r->N, r->N * sizeof(float));
        y[b] = r->ds.samples[i].label;
        if (picked)
            picked[b] = i;
    }
    free(start);
    free(count);
    return n;
}

/* ---- Outputs --------------------------------------------------------------------------- */

static petal_status write_labels(run *r, const char *path, petal_error *err)
{
    size_t len = 0;
    for (int c = 0; c < r->C; c++)
        len += strlen(r->ds.classes[c].label) + 1;
    char *text = malloc(len + 1), *p = text;
    if (!text)
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    for (int c = 0; c < r->C; c++)
        p += sprintf(p, "%s\n", r->ds.classes[c].label);
    petal_status st = petal_write_file_atomic(path, text, len, err);
    free(text);
    return st;
}

static petal_status save_graph(run *r, const petal_head *head, const char *path, petal_error *err)
{
    size_t n = strlen(path);
    if (n >= 3 && !strcmp(path + n - 3, ".pb"))
        petal_warn("note: %s is written as a TensorFlow Lite model (.tflite FlatBuffer), not a "
                   "TensorFlow GraphDef, despite its .pb name",
                   path);
    return petal_export_save(r->model, r->bottleneck, head, r->o->final_tensor_name, path, err);
}

static void summary_scalars(petal_events *ev, int step, double acc, double ce)
{
    petal_error err;
    if (ev && (petal_events_scalar(ev, "accuracy", step, (float)acc, &err) != PETAL_OK ||
               petal_events_scalar(ev, "cross_entropy", step, (float)ce, &err) != PETAL_OK))
        petal_warn("%s", err.msg);
}

/* ---- Training loop ------------------------------------------------------------------- */

static petal_status train_head(run *r, petal_head *head, petal_train_result *res, petal_error *err)
{
    const petal_train_options *o = r->o;
    size_t B = (size_t)(o->train_batch_size > 0 ? o->train_batch_size : 100);
    size_t VB = o->validation_batch_size < 0 ? r->n_valid : (size_t)o->validation_batch_size;
    float *x = malloc(B * r->N * sizeof(float));
    int *y = malloc(B * sizeof(int));
    float *vx = malloc((VB ? VB : 1) * r->N * sizeof(float));
    int *vy = malloc((VB ? VB : 1) * sizeof(int));
    float *allv = NULL;
    int *allvy = NULL;
    petal_head best = {0};
    int best_step = -1;
    double best_acc = -1;
    petal_head_trainer *trainer = NULL;
    petal_status st =
        (x && y && vx && vy) ? PETAL_OK : petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    petal_head_train_options ho = {o->optimizer, (float)o->learning_rate, (float)o->l2};
    if (st == PETAL_OK)
        st = petal_head_trainer_new(head, &ho, B, &trainer, err);
    if (st == PETAL_OK && o->keep_best && r->n_valid) {
        allv = malloc(r->n_valid * r->N * sizeof(float));
        allvy = malloc(r->n_valid * sizeof(int));
        if (!allv || !allvy)
            st = petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
        else
            gather(r, r->valid, r->n_valid, -1, allv, allvy, NULL);
    }
    int live = distortions_on(&o->distort) && r->K == 0;
    double t0 = petal_now_ms();
    int steps = o->how_many_training_steps;
    int interval = o->eval_step_interval > 0 ? o->eval_step_interval : 10;
    for (int i = 0; st == PETAL_OK && i < steps; i++) {
        if (live)
            distort_batch_live(r, B, x, y);
        else
            training_batch(r, B, x, y);
        petal_head_train_step(trainer, head, x, y, B);

        int last = i + 1 == steps;
        if (i % interval == 0 || last) {
            double acc, ce;
            char when[48];
            st = petal_head_evaluate(head, x, y, B, &acc, &ce, NULL, err);
            if (st != PETAL_OK)
                break;
            now_string(when, sizeof when);
            petal_info("%s: Step %d: Train accuracy = %.1f%%", when, i, acc * 100);
            petal_info("%s: Step %d: Cross entropy = %f", when, i, ce);
            summary_scalars(r->train_ev, i, acc, ce);
            if (r->n_valid) {
                size_t nv = gather(r, r->valid, r->n_valid, o->validation_batch_size, vx, vy, NULL);
                st = petal_head_evaluate(head, vx, vy, nv, &acc, &ce, NULL, err);
                if (st != PETAL_OK)
                    break;
                now_string(when, sizeof when);
                petal_info("%s: Step %d: Validation accuracy = %.1f%% (N=%zu)", when, i, acc * 100,
                           nv);
                summary_scalars(r->valid_ev, i, acc, ce);
            }
            if (allv) {
                st = petal_head_evaluate(head, allv, allvy, r->n_valid, &acc, &ce, NULL, err);
                if (st == PETAL_OK && acc > best_acc) {
                    best_acc = acc;
                    best_step = i;
                    st = petal_head_copy(&best, head, err);
                }
            }
        }
        int freq = o->intermediate_store_frequency;
        if (st == PETAL_OK && freq > 0 && i % freq == 0 && i > 0) {
            const char *dir = o->intermediate_output_graphs_dir;
            char name[64];
            snprintf(name, sizeof name, "intermediate_%d.tflite", i);
            size_t dl = strlen(dir);
            char *path = malloc(dl + sizeof name + 2);
            if (path) {
                sprintf(path, "%s%s%s", dir, dl && dir[dl - 1] != '/' ? "/" : "", name);
                petal_info("Save intermediate result to : %s", path);
                if (petal_mkdirs(dir, err) == PETAL_OK)
                    st = save_graph(r, head, path, err);
                else
                    petal_warn("%s", err->msg);
                free(path);
            }
        }
    }
    res->train_ms = petal_now_ms() - t0;
    if (st == PETAL_OK && best_step >= 0) {
        petal_info("Keeping the weights of step %d (validation accuracy %.1f%% on all %zu "
                   "validation photos)",
                   best_step, best_acc * 100, r->n_valid);
        st = petal_head_copy(head, &best, err);
    }
    petal_head_free(&best);
    petal_head_trainer_free(trainer);
    free(allv);
    free(allvy);
    free(x);
    free(y);
    free(vx);
    free(vy);
    return st;
}

/* Final test evaluation and the misclassified list. */
static petal_status final_test(run *r, const petal_head *head, petal_train_result *res,
                               petal_error *err)
{
    const petal_train_options *o = r->o;
    res->test_accuracy = -1;
    if (r->n_test == 0) {
        petal_info("No test photos (testing_percentage %g): skipping the final test",
                   o->testing_percentage);
        return PETAL_OK;
    }
    size_t n = o->test_batch_size < 0 ? r->n_test : (size_t)o->test_batch_size;
    float *x = malloc((n ? n : 1) * r->N * sizeof(float));
    int *y = malloc((n ? n : 1) * sizeof(int)), *pred = malloc((n ? n : 1) * sizeof(int));
    size_t *picked = malloc((n ? n : 1) * sizeof(size_t));
    petal_status st = (x && y && pred && picked)
                          ? PETAL_OK
                          : petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    double acc = 0, ce = 0;
    if (st == PETAL_OK) {
        n = gather(r, r->test, r->n_test, o->test_batch_size, x, y, picked);
        st = petal_head_evaluate(head, x, y, n, &acc, &ce, pred, err);
    }
    if (st == PETAL_OK) {
        petal_info("Final test accuracy = %.1f%% (N=%zu)", acc * 100, n);
        res->test_accuracy = acc;
        res->n_test = n;
        if (o->print_misclassified_test_images) {
            petal_info("=== MISCLASSIFIED TEST IMAGES ===");
            for (size_t b = 0; b < n; b++)
                if (pred[b] != y[b])
                    petal_info("%70s  %s", r->ds.samples[picked[b]].path,
                               r->ds.classes[pred[b]].label);
        }
    }
    free(x);
    free(y);
    free(pred);
    free(picked);
    return st;
}

static petal_status open_summaries(run *r, petal_error *err)
{
    const char *dir = r->o->summaries_dir;
    if (!dir)
        return PETAL_OK;
    char *t = petal_path_join(dir, "train"), *v = petal_path_join(dir, "validation");
    petal_status st = (t && v) ? petal_events_open(t, &r->train_ev, err)
                               : petal_error_set(err, PETAL_ERR_NOMEM, "out of memory");
    if (st == PETAL_OK)
        st = petal_events_open(v, &r->valid_ev, err);
    free(t);
    free(v);
    return st;
}

static void run_free(run *r)
{
    petal_events_close(r->train_ev);
    petal_events_close(r->valid_ev);
    for (int c = 0; r->train_by_class && c < r->C; c++)
        free(r->train_by_class[c]);
    free(r->train_by_class);
    free(r->n_train_by_class);
    free(r->train_classes);
    free(r->valid);
    free(r->test);
    free(r->features);
    free(r->good);
    free(r->distorted);
    free(r->dist_slot);
    petal_dataset_free(&r->ds);
    petal_model_free(r->model);
    free(r->model_path);
}

static petal_status check_options(const petal_train_options *o, petal_error *err)
{
    if (!o->image_dir || !*o->image_dir)
        return petal_error_set(err, PETAL_ERR_ARG, "--image_dir is required");
    if (o->validation_percentage < 0 || o->testing_percentage < 0 ||
        o->validation_percentage + o->testing_percentage >= 100)
        return petal_error_set(err, PETAL_ERR_ARG,
                               "--validation_percentage and --testing_percentage must be >= 0 "
                               "and leave photos for training");
    if (o->shard_count < 1 || o->shard_index < 0 || o->shard_index >= o->shard_count)
        return petal_error_set(err, PETAL_ERR_ARG, "--shard %d/%d: need 0 <= K < N", o->shard_index,
                               o->shard_count);
    if (o->cache_only && !o->bottleneck_dir)
        return petal_error_set(err, PETAL_ERR_ARG, "--cache_only needs --bottleneck_dir");
    if (o->train_batch_size < 1 || o->how_many_training_steps < 0)
        return petal_error_set(err, PETAL_ERR_ARG,
                               "--train_batch_size must be >= 1, --how_many_training_steps >= 0");
    return PETAL_OK;
}

petal_status petal_train_run(const petal_train_options *o, petal_train_result *res,
                             petal_error *err)
{
    run r;
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof *res);
    res->test_accuracy = res->validation_accuracy = -1;
    r.o = o;
    double t0 = petal_now_ms();
    petal_status st = check_options(o, err);
    if (st == PETAL_OK)
        st = load_backbone(&r, err);
    if (st == PETAL_OK)
        st = petal_dataset_scan(o->image_dir, o->validation_percentage, o->testing_percentage, 2,
                                &r.ds, err);
    if (st == PETAL_OK) {
        r.C = r.ds.n_classes;
        res->n_images = r.ds.n_samples;
        petal_info("%zu photos in %d classes: %zu training, %zu validation, %zu testing",
                   r.ds.n_samples, r.C, petal_dataset_count(&r.ds, PETAL_SPLIT_TRAIN),
                   petal_dataset_count(&r.ds, PETAL_SPLIT_VALID),
                   petal_dataset_count(&r.ds, PETAL_SPLIT_TEST));
        if (o->validation_percentage == 0)
            petal_info("validation_percentage is 0: no validation set, validation accuracy is "
                       "not measured");
        if (o->testing_percentage == 0)
            petal_info("testing_percentage is 0: no test set, no final test accuracy");
        if (o->shard_count > 1)
            petal_info("shard %d/%d: caching every %d-th photo from photo %d", o->shard_index,
                       o->shard_count, o->shard_count, o->shard_index);
        st = extract_all(&r, res, err);
    }
    if (st == PETAL_OK && o->cache_only) {
        res->total_ms = petal_now_ms() - t0;
        run_free(&r);
        return PETAL_OK;
    }
    if (st == PETAL_OK)
        st = index_splits(&r, err);
    r.K = distortions_on(&o->distort) ? o->distorted_copies : 0;
    if (st == PETAL_OK && r.K > 0)
        st = extract_distorted(&r, err);
    if (st == PETAL_OK && distortions_on(&o->distort) && r.K == 0)
        petal_warn("distortions recompute %d bottlenecks per step (retrain.py's way); "
                   "--distorted_copies K is much faster",
                   o->train_batch_size);
    if (st == PETAL_OK)
        st = open_summaries(&r, err);

    petal_head head = {0};
    r.rng = petal_train_rng_seed(o->seed);
    if (st == PETAL_OK)
        st = petal_head_init(&head, r.C, (int)r.N, 0.001f, &r.rng, err);
    if (st == PETAL_OK)
        st = train_head(&r, &head, res, err);
    if (st == PETAL_OK)
        st = final_test(&r, &head, res, err);
    if (st == PETAL_OK && r.train_ev) {
        petal_error e2;
        if (petal_events_histogram(r.train_ev, "final_retrain_ops/weights",
                                   o->how_many_training_steps, head.weights, (size_t)r.C * r.N,
                                   &e2) != PETAL_OK)
            petal_warn("%s", e2.msg);
    }
    if (st == PETAL_OK && o->output_graph) {
        st = save_graph(&r, &head, o->output_graph, err);
        if (st == PETAL_OK)
            petal_info("Wrote the retrained graph to %s", o->output_graph);
    }
    if (st == PETAL_OK && o->output_labels)
        st = write_labels(&r, o->output_labels, err);
    if (st == PETAL_OK && res->n_failed)
        petal_warn("%zu photos were skipped (listed above)", res->n_failed);
    res->total_ms = petal_now_ms() - t0;
    petal_head_free(&head);
    run_free(&r);
    return st;
}
