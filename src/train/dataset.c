/* dataset.c - listing a folder-per-class photo set and retrain.py's hash-based split. */
#include "train/dataset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"

/* retrain.py's MAX_NUM_IMAGES_PER_CLASS: 2^27 - 1. */
#define MAX_IMAGES_PER_CLASS 134217727ULL

char *petal_label_normalize(const char *name)
{
    size_t n = strlen(name);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    int in_run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            out[o++] = (char)c;
            in_run = 0;
        } else if (!in_run) {
            out[o++] = ' ';
            in_run = 1;
        }
    }
    out[o] = '\0';
    return out;
}

double petal_split_percentage(const char *path)
{
    /* re.sub(r'_nohash_.*$', '', path): the first "_nohash_" and all after it go. */
    const char *cut = strstr(path, "_nohash_");
    size_t len = cut ? (size_t)(cut - path) : strlen(path);
    char hex[PETAL_SHA1_HEX];
    petal_sha1_hex(path, len, hex);

    /* int(hex, 16) % 2^27 only depends on the last 27 bits: the last 7 hex digits. */
    uint64_t low = strtoull(hex + 33, NULL, 16);
    uint64_t mod = low % (MAX_IMAGES_PER_CLASS + 1);
    return (double)mod * (100.0 / (double)MAX_IMAGES_PER_CLASS);
}

petal_split petal_split_for(const char *path, double validation_percentage,
                            double testing_percentage)
{
    double p = petal_split_percentage(path);
    if (p < validation_percentage)
        return PETAL_SPLIT_VALID;
    if (p < validation_percentage + testing_percentage)
        return PETAL_SPLIT_TEST;
    return PETAL_SPLIT_TRAIN;
}

int petal_is_image_name(const char *name)
{
    static const char *const exts[] = {"jpg", "jpeg", "png", "bmp", "gif", "webp"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(dot + 1, exts[i]))
            return 1;
    return 0;
}

/* os.path.join(a, b): a '/' is added only when a does not already end with one. */
static char *py_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int slash = la > 0 && a[la - 1] != '/';
    char *out = malloc(la + (size_t)slash + lb + 1);
    if (!out)
        return NULL;
    memcpy(out, a, la);
    if (slash)
        out[la] = '/';
    memcpy(out + la + (size_t)slash, b, lb + 1);
    return out;
}

static petal_status add_sample(petal_dataset *ds, size_t *cap, char *path, int label,
                               petal_split split, petal_error *err)
{
    if (ds->n_samples == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        petal_sample *s = realloc(ds->samples, ncap * sizeof *s);
        if (!s) {
            free(path);
            return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory listing photos");
        }
        ds->samples = s;
        *cap = ncap;
    }
    ds->samples[ds->n_samples++] = (petal_sample){path, label, split};
    return PETAL_OK;
}

/* Adds the photos of one class folder; *added gets how many. */
static petal_status scan_class(petal_dataset *ds, size_t *cap, const char *image_dir,
                               const char *folder, int label, double vp, double tp, size_t *added,
                               petal_error *err)
{
    char *class_path = py_join(image_dir, folder);
    char **names = NULL;
    size_t count = 0;
    *added = 0;
    if (!class_path)
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory listing photos");
    petal_status st = petal_list_dir(class_path, &names, &count, err);
    for (size_t i = 0; st == PETAL_OK && i < count; i++) {
        if (!petal_is_image_name(names[i]))
            continue;
        char *path = py_join(class_path, names[i]);
        if (!path) {
            st = petal_error_set(err, PETAL_ERR_NOMEM, "out of memory listing photos");
            break;
        }
        if (!petal_is_file(path)) {
            free(path);
            continue;
        }
        petal_split split = petal_split_for(path, vp, tp);
        st = add_sample(ds, cap, path, label, split, err);
        if (st == PETAL_OK) {
            ds->classes[label].count[split]++;
            (*added)++;
        }
    }
    petal_free_list(names, count);
    free(class_path);
    return st;
}

petal_status petal_dataset_scan(const char *image_dir, double validation_percentage,
                                double testing_percentage, int min_classes, petal_dataset *out,
                                petal_error *err)
{
    memset(out, 0, sizeof *out);
    if (!petal_is_dir(image_dir))
        return petal_error_set(err, PETAL_ERR_NOT_FOUND, "Image directory '%s' not found.",
                               image_dir);
    char **names = NULL;
    size_t count = 0, cap = 0;
    petal_status st = petal_list_dir(image_dir, &names, &count, err);
    if (st != PETAL_OK)
        return st;
    out->classes = calloc(count ? count : 1, sizeof *out->classes);
    if (!out->classes) {
        petal_free_list(names, count);
        return petal_error_set(err, PETAL_ERR_NOMEM, "out of memory listing %s", image_dir);
    }

    for (size_t i = 0; i < count && st == PETAL_OK; i++) {
        char *sub = py_join(image_dir, names[i]);
        int is_dir = sub && petal_is_dir(sub);
        free(sub);
        if (!is_dir)
            continue;
        petal_info("Looking for images in '%s'", names[i]);
        int label = out->n_classes;
        petal_class *c = &out->classes[label];
        memset(c, 0, sizeof *c);
        c->folder = strdup(names[i]);
        c->label = petal_label_normalize(names[i]);
        if (!c->folder || !c->label) {
            free(c->folder);
            free(c->label);
            st = petal_error_set(err, PETAL_ERR_NOMEM, "out of memory listing %s", image_dir);
            break;
        }
        out->n_classes++;
        size_t added = 0;
        st = scan_class(out, &cap, image_dir, names[i], label, validation_percentage,
                        testing_percentage, &added, err);
        if (st != PETAL_OK)
            break;
        if (added == 0) {
            petal_warn("No files found in '%s'; skipping it", names[i]);
            free(c->folder);
            free(c->label);
            out->n_classes--;
            continue;
        }
        if (added < 20 && min_classes >= 2)
            petal_warn("Folder %s has less than 20 images, which may cause issues.", names[i]);
    }
    petal_free_list(names, count);
    if (st == PETAL_OK && out->n_classes == 0)
        st = petal_error_set(err, PETAL_ERR_ARG, "No valid folders of images found at %s",
                             image_dir);
    else if (st == PETAL_OK && out->n_classes == 1 && min_classes >= 2)
        st = petal_error_set(err, PETAL_ERR_ARG,
                             "Only one valid folder of images found at %s - multiple classes "
                             "are needed for classification.",
                             image_dir);
    if (st != PETAL_OK)
        petal_dataset_free(out);
    return st;
}

size_t petal_dataset_count(const petal_dataset *ds, petal_split split)
{
    size_t n = 0;
    for (int c = 0; c < ds->n_classes; c++)
        n += ds->classes[c].count[split];
    return n;
}

void petal_dataset_free(petal_dataset *ds)
{
    for (int c = 0; c < ds->n_classes; c++) {
        free(ds->classes[c].folder);
        free(ds->classes[c].label);
    }
    free(ds->classes);
    for (size_t i = 0; i < ds->n_samples; i++)
        free(ds->samples[i].path);
    free(ds->samples);
    memset(ds, 0, sizeof *ds);
}
